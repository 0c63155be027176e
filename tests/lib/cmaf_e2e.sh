#!/usr/bin/env bash
# End-to-end check of the fMP4 writers (pack/cmaf.c) through `ismfs cat`: for one
# track of an asset, init + every CMAF fragment concatenated must decode in ffmpeg to
# exactly the frames of the source MP4 (framemd5); the Smooth fragments, rewritten as
# dash.js 4's MssFragmentMoofProcessor does (tests/lib/mss_convert.js, needs node and
# codem-isoboxer), behind the same init, must too. TAP lines; exit 77 without tools.
#
#   ISMFS=build/rel/ismfs tests/lib/cmaf_e2e.sh SRC ASSET.ism BITRATE TRACK SOURCE.mp4
#   ISMFS=build/rel/ismfs tests/lib/cmaf_e2e.sh          (the ladder fixture's tracks)
#
# Audio is compared with the source decoded without its edit list (-ignore_editlist 1):
# the output has no edit list, its timeline already applies it (pack/view.h), so the
# AAC priming frame the source's edit list hides is decoded here as a frame of its own.
set -u
ISMFS="${ISMFS:-build/rel/ismfs}"
here="$(cd "$(dirname "$0")" && pwd)"
command -v ffmpeg >/dev/null || { echo "no ffmpeg"; exit 77; }
[ -x "$ISMFS" ] || { echo "no $ISMFS"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# The decoded frames' hashes, one a line (timestamps left out: only content counts).
frames() { ffmpeg -v error "$@" -f framemd5 - | grep -v '^#' | awk -F, '{print $6}'; }

check() {
    local src=$1 ism=$2 br=$3 track=$4 mp4=$5 ql="$2/QualityLevels($3)" kind srcopt=()
    kind=$(ffprobe -v error -show_entries stream=codec_type -of csv=p=0 "$mp4" | head -1)
    [ "$kind" = audio ] && srcopt=(-ignore_editlist 1)
    if ! "$ISMFS" cat "$src" "$ql/Fragments($track=i,format=cmaf)" >"$tmp/init.mp4"; then
        echo "not ok - $track $br: cat init"; fail=1; return
    fi
    cp "$tmp/init.mp4" "$tmp/cmaf.mp4"
    : >"$tmp/smooth.list"
    local times
    times=$("$ISMFS" ls "$src" "$ql" | sed -n "s/^Fragments($track=\([0-9]*\),format=cmaf)\$/\1/p" |
            sort -n)
    [ -n "$times" ] || { echo "not ok - $track $br: no fragments listed"; fail=1; return; }
    for t in $times; do
        "$ISMFS" cat "$src" "$ql/Fragments($track=$t,format=cmaf)" >>"$tmp/cmaf.mp4" &&
        "$ISMFS" cat "$src" "$ql/Fragments($track=$t)" >"$tmp/s.$t" &&
        echo "$tmp/s.$t:$t" >>"$tmp/smooth.list" ||
        { echo "not ok - $track $br: cat fragment $t"; fail=1; return; }
    done
    frames "${srcopt[@]}" -i "$mp4" -map 0:"${kind:0:1}":0 >"$tmp/want"
    frames -i "$tmp/cmaf.mp4" >"$tmp/got"
    if [ -s "$tmp/want" ] && cmp -s "$tmp/want" "$tmp/got"; then
        echo "ok - $track $br: CMAF init + $(echo "$times" | wc -l) fragments decode to the" \
             "source's $(wc -l <"$tmp/want") frames"
    else
        echo "not ok - $track $br: CMAF frames differ from $mp4"; fail=1
    fi
    if ! command -v node >/dev/null || ! node -e "require('codem-isoboxer')" 2>/dev/null; then
        echo "ok - $track $br: Smooth # SKIP node with codem-isoboxer (NODE_PATH) not found"
        return
    fi
    local ts
    ts=$(ffprobe -v error -show_entries stream=time_base -of csv=p=0 "$tmp/init.mp4" | cut -d/ -f2)
    # shellcheck disable=SC2046
    if node "$here/mss_convert.js" "$ts" "$tmp/conv.m4s" $(cat "$tmp/smooth.list") &&
       cat "$tmp/init.mp4" "$tmp/conv.m4s" >"$tmp/smooth.mp4" &&
       frames -i "$tmp/smooth.mp4" >"$tmp/got" && cmp -s "$tmp/want" "$tmp/got"; then
        echo "ok - $track $br: Smooth fragments as dash.js converts them decode to the same frames"
    else
        echo "not ok - $track $br: Smooth frames differ from $mp4"; fail=1
    fi
}

if [ $# -eq 5 ]; then
    check "$@"
else
    fx="$here/../fixtures"
    [ -f "$fx/ladder/ladder.ism" ] || { echo "no fixtures (tests/make-fixtures.sh)"; exit 77; }
    check "$fx" ladder/ladder.ism 852353 video "$fx/ladder/ladder_640x360.mp4"
    check "$fx" ladder/ladder.ism 216131 video "$fx/ladder/ladder_320x180.mp4"
    check "$fx" ladder/ladder.ism 130544 aac_eng_2_130544_1_1 "$fx/ladder/ladder_aac_eng.mp4"
fi
exit $fail
