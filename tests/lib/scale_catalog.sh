# shellcheck shell=bash
# Shared by tests/integration/mount_scale.sh and bench/scale.sh (sourced, not run): a catalog
# of N small assets for scale tests, made once and kept outside the repository.
#
# scale_catalog N prints the directory of a tree
#     c/DD/aNNNNN/aNNNNN.ism   (N real .ism files, DD = NNNNN / 100)
#     c/DD/aNNNNN/v.mp4, a.mp4 (hard links of one generated 4 s asset: H.264 128x72 with a
#                               key frame every second, AAC stereo)
# under $ISMFS_SCALE_DIR (default ${TMPDIR:-/tmp}/ismfs-scale), made once per N and per version
# of this file (a stamp holds its hash); made again when the stamp does not match. Needs
# ffmpeg and python3. Returns 1 (with a message on stderr) when it cannot be made.
# The one asset's files are in $dir/src (v.mp4, a.mp4, one.ism): a source for oracles.

scale_catalog() {
    local n=$1 base=${ISMFS_SCALE_DIR:-${TMPDIR:-/tmp}/ismfs-scale} me stamp dir
    me=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
    dir=$base/n$n
    stamp="$me $n"
    if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
        echo "$dir"
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir/src" || return 1
    local bx=(-fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1)
    ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=128x72:rate=25 \
        -t 4 -an -c:v libx264 -threads 1 -pix_fmt yuv420p -sc_threshold 0 -preset veryfast \
        -g 25 -keyint_min 25 -x264-params open_gop=0 -b:v 150k "${bx[@]}" "$dir/src/v.mp4" &&
    ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
        -i sine=frequency=440:sample_rate=48000 -t 4 -ac 2 -c:a aac -b:a 64k "${bx[@]}" \
        -metadata:s:a:0 language=eng "$dir/src/a.mp4" || { echo "scale_catalog: ffmpeg failed" >&2; return 1; }
    cat >"$dir/src/one.ism" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="formats" content="mp4-v3" />
  </head>
  <body>
    <switch>
      <audio src="a.mp4" systemBitrate="64000" systemLanguage="eng">
        <param name="systemBitrate" value="64000" valuetype="data" />
        <param name="trackID" value="1" valuetype="data" />
        <param name="trackName" value="aac_eng_2_64000" valuetype="data" />
        <param name="systemLanguage" value="eng" valuetype="data" />
      </audio>
      <video src="v.mp4" systemBitrate="150000">
        <param name="systemBitrate" value="150000" valuetype="data" />
        <param name="trackID" value="1" valuetype="data" />
        <param name="trackName" value="video" valuetype="data" />
      </video>
    </switch>
  </body>
</smil>
EOF
    # python: 10 000 hard links and files in a second, where a shell loop takes a minute
    python3 - "$dir" "$n" <<'EOF' || { echo "scale_catalog: cannot make the tree" >&2; return 1; }
import os, shutil, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    a = os.path.join(d, 'c', '%02d' % (i // 100), 'a%05d' % i)
    os.makedirs(a)
    for f in ('v.mp4', 'a.mp4'):
        try:
            os.link(os.path.join(d, 'src', f), os.path.join(a, f))
        except OSError:
            shutil.copy2(os.path.join(d, 'src', f), os.path.join(a, f))
    shutil.copyfile(os.path.join(d, 'src', 'one.ism'), os.path.join(a, 'a%05d.ism' % i))
EOF
    echo "$stamp" >"$dir/.stamp"
    echo "$dir"
}
