#!/usr/bin/env bash
# Generates the demo asset for `make demo` with ffmpeg into build/demo/src/demo/:
#   demo_1280x720.mp4 demo_640x360.mp4 demo_320x180.mp4   H.264 High, 24 fps, 30 s, closed GOPs
#                                                         of 48 frames aligned across renditions
#   demo_aac_eng.mp4 demo_aac_fra.mp4                     AAC-LC 48 kHz stereo, a 440 Hz tone
#                                                         (eng) and a 660 Hz tone (fra)
#   demo.ism                                              the AMS v3 encoder's SMIL server manifest
# Deterministic (lavfi sources, libx264 on one thread, bitexact flags) and cached: a stamp holds
# the hash of this script and of the ffmpeg version; when it matches, nothing is done.
# Usage: scripts/make-demo-asset.sh [DIR]   (default build/demo/src/demo)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/demo/src/demo}
DUR=30

for tool in ffmpeg ffprobe sha256sum; do
    command -v "$tool" >/dev/null || { echo "make-demo-asset: $tool not found (run scripts/deps.sh)" >&2; exit 1; }
done

stamp=$( { cat "$0"; ffmpeg -version | head -1; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] && [ -s "$out/demo.ism" ]; then
    exit 0
fi
echo "make-demo-asset: encoding the demo asset (${DUR} s, 3 renditions + 2 languages) into $out" >&2
rm -rf "$out"
mkdir -p "$out"

BITEXACT=(-fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1)
ff() {
    local msg rc=0
    msg=$(ffmpeg -nostdin -hide_banner -loglevel error -y "$@" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] || [ -n "$msg" ]; then
        printf 'make-demo-asset: ffmpeg %s\n%s\n' "$*" "$msg" >&2
        return 1
    fi
}
video() {    # W H KBPS
    ff -f lavfi -i "testsrc2=size=$1x$2:rate=24" -t "$DUR" -an \
       -c:v libx264 -threads 1 -preset veryfast -profile:v high -pix_fmt yuv420p \
       -g 48 -keyint_min 48 -sc_threshold 0 -x264-params open_gop=0 \
       -b:v "$3k" -maxrate "$3k" -bufsize "$(($3 * 2))k" "${BITEXACT[@]}" \
       "$out/demo_$1x$2.mp4"
}
audio() {    # LANG FREQ KBPS
    ff -f lavfi -i "sine=frequency=$2:sample_rate=48000" -t "$DUR" -ac 2 -c:a aac -b:a "$3k" \
       "${BITEXACT[@]}" -metadata:s:a:0 "language=$1" "$out/demo_aac_$1.mp4"
}

# Two cores: the 720p encode runs beside everything else.
pids=()
video 1280 720 1200 & pids+=($!)
{ video 640 360 500 && video 320 180 200 && audio eng 440 128 && audio fra 660 96; } & pids+=($!)
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ "$rc" -eq 0 ] || { echo "make-demo-asset: ffmpeg failed" >&2; exit 1; }

# systemBitrate as an encoder reports it: the file's size over its duration (distinct per file).
rate() {
    ffprobe -v error -show_entries format=bit_rate -of default=nw=1:nk=1 "$out/$1"
}
param() { printf '        <param name="%s" value="%s" valuetype="data" />\n' "$1" "$2"; }
{
    echo '<?xml version="1.0" encoding="utf-8"?>'
    echo '<smil xmlns="http://www.w3.org/2001/SMIL20/Language">'
    echo '  <head>'
    echo '    <meta name="formats" content="mp4-v3" />'
    echo '  </head>'
    echo '  <body>'
    echo '    <switch>'
    for f in demo_1280x720 demo_640x360 demo_320x180; do
        r=$(rate "$f.mp4")
        printf '      <video src="%s.mp4" systemBitrate="%s">\n' "$f" "$r"
        param systemBitrate "$r"
        param trackID 1
        param trackName video
        echo '      </video>'
    done
    for lang in eng fra; do
        r=$(rate "demo_aac_$lang.mp4")
        printf '      <audio src="demo_aac_%s.mp4" systemBitrate="%s" systemLanguage="%s">\n' \
               "$lang" "$r" "$lang"
        param systemBitrate "$r"
        param trackID 1
        param trackName "aac_${lang}_2_${r}_1_1"
        param systemLanguage "$lang"
        echo '      </audio>'
    done
    echo '    </switch>'
    echo '  </body>'
    echo '</smil>'
} >"$out/demo.ism"
echo "$stamp" >"$out/.stamp"
