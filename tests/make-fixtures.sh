#!/usr/bin/env bash
# Generates the test media into tests/fixtures/ (git-ignored) with ffmpeg.
#   tests/make-fixtures.sh          the default set (make check): a few seconds of work
#   tests/make-fixtures.sh --long   also tests/fixtures/long/: a 2-hour asset (make bench)
#
# Deterministic: lavfi sources only (testsrc2, sine at fixed frequencies), libx264/libx265 on
# one thread, every bitexact flag, no metadata copied; the same ffmpeg build gives the same
# bytes. Cached: a stamp holds a hash of this script (and of the ffmpeg version), so an
# unchanged script regenerates nothing; the long asset has its own stamp over its own recipe.
# Quiet on success. Writes nothing outside tests/fixtures/.
#
# Fixtures (all H.264 is High profile unless noted, AAC is LC):
#   ladder/ladder_{640x360,480x270,320x180}.mp4   video only, 24 fps, 10 s, closed GOPs of 48
#                                                 aligned across renditions, B-frames (edit list)
#   ladder/ladder_aac_{eng,fra}.mp4               AAC only, 48 kHz stereo, language eng / fra
#   ladder/ladder.ism                             AMS v3 encoder form (systemBitrate + params)
#   ladder/ladder_old.ism                         old Azure Media Encoder form (src/title only)
#   moov_end.mp4     progressive, moov after mdat; 25 fps, Main, GOP 60 (last GOP partial)
#   faststart.mp4    moov first; 30 fps Baseline: no B-frames, no ctts
#   bframes.mp4      24 fps, -bf 2: ctts + an edit list (checked), 240 samples
#   muxed.mp4        video + AAC (44.1 kHz mono; the sample entry says 2) in one file
#   muxed.ism        AMS v3 form over muxed.mp4: <video> trackID 1 and <audio> trackID 2
#   frag_ismv.mp4    fragmented, -f ismv (Smooth-style, timescale 10 MHz, tfxd)
#   frag_cmaf.mp4    fragmented, frag_keyframe+empty_moov+default_base_moof
#   hevc.mp4         libx265, hvc1 sample entry
#   ac3.mp4          AC-3 stereo;  eac3.mp4: E-AC-3 5.1 (sample entry says 2 channels, dec3 6)
#   long/long.mp4 + long/long.ism (--long only): 2 h, 160x90 15 fps H.264 + mono AAC
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/fixtures

long=0
case "${1:-}" in
    --long) long=1 ;;
    "") ;;
    *) echo "usage: $0 [--long]" >&2; exit 2 ;;
esac

for tool in ffmpeg ffprobe python3 sha256sum; do
    command -v "$tool" >/dev/null || { echo "make-fixtures: $tool not found" >&2; exit 1; }
done

ffv=$(ffmpeg -version | head -1)
BITEXACT=(-fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1)
X264=(-c:v libx264 -threads 1 -pix_fmt yuv420p -sc_threshold 0)

# ff ARGS...: one quiet ffmpeg run; any message (even with status 0) is shown and fails it.
ff() {
    local msg rc=0
    msg=$(ffmpeg -nostdin -hide_banner -loglevel error -y "$@" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] || [ -n "$msg" ]; then
        printf 'make-fixtures: ffmpeg %s\n%s\n' "$*" "$msg" >&2
        exit 1
    fi
}

# Background jobs (2 cores): run_bg FUNCTION ARGS...; wait_all fails if any job failed.
pids=()
run_bg() { "$@" & pids+=($!); }
wait_all() {
    local p rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    pids=()
    [ "$rc" -eq 0 ] || { echo "make-fixtures: a generator failed" >&2; exit 1; }
}

# ---- the ladder ------------------------------------------------------------

ladder_video() {    # W H KBPS
    ff -f lavfi -i "testsrc2=size=$1x$2:rate=24" -t 10 -an "${X264[@]}" -preset veryfast \
       -profile:v high -g 48 -keyint_min 48 -x264-params open_gop=0 \
       -b:v "$3k" -maxrate "$3k" -bufsize "$(($3 * 2))k" "${BITEXACT[@]}" \
       "$out/ladder/ladder_$1x$2.mp4"
}

ladder_audio() {    # LANG FREQ KBPS
    ff -f lavfi -i "sine=frequency=$2:sample_rate=48000" -t 10 -ac 2 -c:a aac -b:a "$3k" \
       "${BITEXACT[@]}" -metadata:s:a:0 "language=$1" "$out/ladder/ladder_aac_$1.mp4"
}

# The .ism's systemBitrate is what an encoder reports: here the whole file's size over its
# duration, so it differs from the sample-table average ismfs measures (a test can tell
# "bitrate = systemBitrate" from "bitrate = measured") and is distinct per file.
file_bitrate() {
    python3 - "$1" <<'EOF'
import json, os, subprocess, sys
f = sys.argv[1]
d = json.loads(subprocess.check_output(
    ['ffprobe', '-v', 'error', '-show_entries', 'format=duration', '-of', 'json', f]))
print(int(os.path.getsize(f) * 8 / float(d['format']['duration'])))
EOF
}

param() { printf '        <param name="%s" value="%s" valuetype="data" />\n' "$1" "$2"; }

write_ism() {
    local d=$out/ladder v a rates=() f
    for f in ladder_640x360 ladder_480x270 ladder_320x180 ladder_aac_eng ladder_aac_fra; do
        rates+=("$(file_bitrate "$d/$f.mp4")")
    done
    if [ "$(printf '%s\n' "${rates[@]}" | sort -u | wc -l)" -ne ${#rates[@]} ]; then
        echo "make-fixtures: ladder bitrates are not distinct: ${rates[*]}" >&2
        exit 1
    fi
    {
        echo '<?xml version="1.0" encoding="utf-8"?>'
        echo '<smil xmlns="http://www.w3.org/2001/SMIL20/Language">'
        echo '  <head>'
        echo '    <meta name="clientManifestRelativePath" content="ladder.ismc" />'
        echo '    <meta name="formats" content="mp4-v3" />'
        echo '  </head>'
        echo '  <body>'
        echo '    <switch>'
        local i=3 lang
        for lang in eng fra; do
            a=${rates[$i]}
            printf '      <audio src="%s" systemBitrate="%s" systemLanguage="%s">\n' \
                   "ladder_aac_$lang.mp4" "$a" "$lang"
            param systemBitrate "$a"
            param trackID 1
            param trackName "aac_${lang}_2_${a}_1_1"
            param systemLanguage "$lang"
            param trackIndex "ladder_aac_${lang}_1.mpi"
            echo '      </audio>'
            i=$((i + 1))
        done
        i=0
        for f in ladder_640x360 ladder_480x270 ladder_320x180; do
            v=${rates[$i]}
            printf '      <video src="%s" systemBitrate="%s">\n' "$f.mp4" "$v"
            param systemBitrate "$v"
            param trackID 1
            param trackName video
            param trackIndex "${f}_1.mpi"
            echo '      </video>'
            i=$((i + 1))
        done
        echo '    </switch>'
        echo '  </body>'
        echo '</smil>'
    } >"$d/ladder.ism"
    # AMS v3 as it mostly was: video and audio in one MP4, the audio element picks trackID 2.
    local m
    m=$(file_bitrate "$out/muxed.mp4")
    {
        echo '<?xml version="1.0" encoding="utf-8"?>'
        echo '<smil xmlns="http://www.w3.org/2001/SMIL20/Language">'
        echo '  <head><meta name="formats" content="mp4-v3" /></head>'
        echo '  <body><switch>'
        printf '    <video src="muxed.mp4" systemBitrate="%s">\n' "$m"
        param trackID 1
        param trackName video
        echo '    </video>'
        echo '    <audio src="muxed.mp4" systemBitrate="64000" systemLanguage="und">'
        param trackID 2
        param trackName aac_und_1_64000_2_1
        echo '    </audio>'
        echo '  </switch></body>'
        echo '</smil>'
    } >"$out/muxed.ism"
    cat >"$d/ladder_old.ism" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="formats" content="mp4" />
  </head>
  <body>
    <switch>
      <video src="ladder_640x360.mp4" />
      <video src="ladder_480x270.mp4" />
      <video src="ladder_320x180.mp4" />
      <audio src="ladder_aac_eng.mp4" title="AAC_eng_ch2_128kbps" />
      <audio src="ladder_aac_fra.mp4" title="AAC_fra_ch2_96kbps" />
    </switch>
  </body>
</smil>
EOF
}

# ---- single files ------------------------------------------------------------

gen_moov_end() {    # ffmpeg's default: mdat first, moov at the end
    ff -f lavfi -i testsrc2=size=320x180:rate=25 -t 8 "${X264[@]}" -preset veryfast \
       -profile:v main -g 60 -keyint_min 60 -b:v 300k "${BITEXACT[@]}" "$out/moov_end.mp4"
}

gen_faststart() {
    ff -f lavfi -i testsrc2=size=320x180:rate=30 -t 6 "${X264[@]}" -preset veryfast \
       -profile:v baseline -g 30 -keyint_min 30 -b:v 300k -movflags +faststart \
       "${BITEXACT[@]}" "$out/faststart.mp4"
}

gen_bframes() {
    ff -f lavfi -i testsrc2=size=320x180:rate=24 -t 10 "${X264[@]}" -preset veryfast \
       -profile:v high -bf 2 -g 48 -keyint_min 48 -b:v 300k "${BITEXACT[@]}" "$out/bframes.mp4"
}

gen_muxed() {
    ff -f lavfi -i testsrc2=size=320x180:rate=24 -f lavfi -i sine=frequency=1000:sample_rate=44100 \
       -t 8 "${X264[@]}" -preset veryfast -g 48 -keyint_min 48 -b:v 300k \
       -c:a aac -ac 1 -b:a 64k "${BITEXACT[@]}" "$out/muxed.mp4"
}

gen_frag_ismv() {
    ff -f lavfi -i testsrc2=size=320x180:rate=24 -f lavfi -i sine=frequency=700:sample_rate=48000 \
       -t 8 "${X264[@]}" -preset veryfast -g 48 -keyint_min 48 -b:v 300k \
       -c:a aac -ac 2 -b:a 96k "${BITEXACT[@]}" -f ismv "$out/frag_ismv.mp4"
}

gen_frag_cmaf() {
    ff -f lavfi -i testsrc2=size=320x180:rate=24 -f lavfi -i sine=frequency=800:sample_rate=48000 \
       -t 8 "${X264[@]}" -preset veryfast -g 48 -keyint_min 48 -b:v 300k \
       -c:a aac -ac 2 -b:a 96k "${BITEXACT[@]}" \
       -movflags frag_keyframe+empty_moov+default_base_moof "$out/frag_cmaf.mp4"
}

gen_hevc() {
    ff -f lavfi -i testsrc2=size=320x180:rate=24 -t 6 -c:v libx265 -tag:v hvc1 -preset fast \
       -pix_fmt yuv420p -b:v 200k \
       -x265-params pools=none:frame-threads=1:log-level=error:keyint=48:min-keyint=48:scenecut=0 \
       "${BITEXACT[@]}" "$out/hevc.mp4"
}

gen_ac3() {
    ff -f lavfi -i sine=frequency=500:sample_rate=48000 -t 6 -ac 2 -c:a ac3 -b:a 192k \
       "${BITEXACT[@]}" "$out/ac3.mp4"
    # 5.1: ffmpeg writes channelcount 2 into the sample entry; only dec3 says 6 channels
    ff -f lavfi -i sine=frequency=600:sample_rate=48000 -t 6 \
       -af 'pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0' -c:a eac3 -b:a 256k \
       "${BITEXACT[@]}" "$out/eac3.mp4"
}

# ---- the 2-hour asset (--long) -------------------------------------------------

gen_long() {
    # Two hours take minutes even so: AAC is the slow part (-aac_coder fast, mono), so audio
    # and video are encoded side by side, then muxed without re-encoding.
    local d=$out/long
    rm -rf "$d"
    mkdir -p "$d"
    run_bg ff -f lavfi -i testsrc2=size=160x90:rate=15 -t 7200 -an "${X264[@]}" \
       -preset ultrafast -tune zerolatency -g 30 -keyint_min 30 -b:v 100k "${BITEXACT[@]}" \
       "$d/video.tmp.mp4"
    run_bg ff -f lavfi -i sine=frequency=440:sample_rate=48000 -t 7200 -ac 1 -c:a aac \
       -aac_coder fast -b:a 48k "${BITEXACT[@]}" "$d/audio.tmp.mp4"
    wait_all
    ff -i "$d/video.tmp.mp4" -i "$d/audio.tmp.mp4" -map 0:v -map 1:a -c copy "${BITEXACT[@]}" \
       "$d/long.mp4"
    rm -f "$d/video.tmp.mp4" "$d/audio.tmp.mp4"
    cat >"$d/long.ism" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="formats" content="mp4-v3" />
  </head>
  <body>
    <switch>
      <video src="long.mp4" systemBitrate="100000">
        <param name="trackID" value="1" valuetype="data" />
        <param name="trackName" value="video" valuetype="data" />
      </video>
      <audio src="long.mp4" systemBitrate="48000" systemLanguage="und">
        <param name="trackID" value="2" valuetype="data" />
        <param name="trackName" value="aac_und_1_48000_2_1" valuetype="data" />
      </audio>
    </switch>
  </body>
</smil>
EOF
}

# ---- main ------------------------------------------------------------------------

FILES=(ladder/ladder_640x360.mp4 ladder/ladder_480x270.mp4 ladder/ladder_320x180.mp4
       ladder/ladder_aac_eng.mp4 ladder/ladder_aac_fra.mp4 ladder/ladder.ism ladder/ladder_old.ism
       moov_end.mp4 faststart.mp4 bframes.mp4 muxed.mp4 muxed.ism frag_ismv.mp4 frag_cmaf.mp4
       hevc.mp4 ac3.mp4 eac3.mp4)
stamp=$(sed '/^gen_long() {/,/^}/d' "$0" | { cat; echo "$ffv"; } | sha256sum | cut -d' ' -f1)
fresh=1
[ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] || fresh=0
for f in "${FILES[@]}"; do [ -s "$out/$f" ] || fresh=0; done
if [ "$fresh" -eq 0 ]; then
    rm -f "$out/.stamp"
    mkdir -p "$out"
    find "$out" -mindepth 1 -maxdepth 1 ! -name long -exec rm -rf {} +
    mkdir -p "$out/ladder"
    run_bg ladder_video 640 360 800
    run_bg ladder_video 480 270 400
    wait_all
    run_bg ladder_video 320 180 200
    run_bg ladder_audio eng 440 128
    run_bg ladder_audio fra 660 96
    run_bg gen_moov_end
    wait_all
    run_bg gen_faststart
    run_bg gen_bframes
    run_bg gen_muxed
    run_bg gen_frag_ismv
    wait_all
    run_bg gen_frag_cmaf
    run_bg gen_hevc
    run_bg gen_ac3
    wait_all
    write_ism
    # What each fixture is for: check that ffmpeg did write it that way.
    PYTHONDONTWRITEBYTECODE=1 python3 - "$out" <<'EOF'
import sys
sys.path.insert(0, 'tests/lib')
import mp4box
out = sys.argv[1]
def order(name):
    return [t for t, _, _, _ in mp4box.top_level(out + '/' + name)]
def need(cond, what):
    if not cond:
        sys.exit('make-fixtures: ' + what)
t = order('moov_end.mp4')
need(t.index(b'mdat') < t.index(b'moov'), 'moov_end.mp4: moov is not after mdat')
t = order('faststart.mp4')
need(t.index(b'moov') < t.index(b'mdat'), 'faststart.mp4: moov is not before mdat')
for name, path in [('bframes.mp4', 'moov/trak/edts/elst'),
                   ('bframes.mp4', 'moov/trak/mdia/minf/stbl/ctts'),
                   ('faststart.mp4', 'moov/trak/mdia/minf/stbl/stss'),
                   ('frag_cmaf.mp4', 'moof/traf/tfdt'), ('frag_ismv.mp4', 'moof/traf/uuid')]:
    need(mp4box.has(out + '/' + name, path), '%s has no %s' % (name, path))
need(not mp4box.has(out + '/faststart.mp4', 'moov/trak/mdia/minf/stbl/ctts'),
     'faststart.mp4 has a ctts (B-frames?)')
sync = set()
for r in ('640x360', '480x270', '320x180'):
    tr = mp4box.read_tracks('%s/ladder/ladder_%s.mp4' % (out, r))[0][0]
    sync.add(tuple(s[0] for s in tr['samples'] if s[4]))
need(len(sync) == 1 and len(next(iter(sync))) == 5, 'ladder: key frames not aligned: %s' % sync)
EOF
    echo "$stamp" >"$out/.stamp"
fi

if [ "$long" -eq 1 ]; then
    lstamp=$( { declare -f gen_long; echo "$ffv"; } | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$out/long/.stamp" 2>/dev/null)" != "$lstamp" ]; then
        echo "make-fixtures: generating the 2-hour asset (once)" >&2
        gen_long
        echo "$lstamp" >"$out/long/.stamp"
    fi
fi
