#!/usr/bin/env bash
# Trimmed presentations (issue 5) judged by ffprobe/ffmpeg 5.1 as a player: each is written
# out with `ismfs cat` (tests/lib/fetch_presentation.py follows the manifest like a player:
# MPD SegmentTemplate/SegmentTimeline, HLS master -> media playlists -> segments), then
#   - ffprobe's duration is the filter's span of whole fragments (tighter than the one GOP
#     AMS allows: the ladder's 2 s GOPs make the span exact), the unfiltered one is 10 s;
#   - the first video rendition decodes (ffmpeg -f framemd5, no error line) to exactly the
#     frames of that span at 24 fps.
# "clip" asks for 4.5 s to 7.5 s and gets the fragments 4 s to 8 s (a fragment that straddles
# a bound is kept whole); "noslate" drops the first 2 s. Filters from the asset filters file
# (tests/lib/filters_lib.sh). Demuxer options as in package_decode.sh (DESIGN §4).
# shellcheck source=tests/lib/package_lib.sh
source "$(dirname "$0")/../lib/package_lib.sh"
# shellcheck source=tests/lib/filters_lib.sh
source "$ROOT/tests/lib/filters_lib.sh"
need ffmpeg ffprobe python3

SRC=$TMP/src
mkdir -p "$SRC"
cp -al "$FIX/ladder" "$SRC/" 2>/dev/null || cp -a "$FIX/ladder" "$SRC/" || bail "cannot copy the ladder"
write_asset_filters "$SRC/ladder/ladder.filters.json"

# present FILTER FORMAT SECONDS: writes the presentation out and judges it
present() {
    local filter=$1 fmt=$2 want=$3 m out dmx d n
    m="manifest(format=$fmt${filter:+,filter=$filter})"
    out=$TMP/$fmt-${filter:-all}
    if ! python3 tests/lib/fetch_presentation.py "$ISMFS" "$CACHE" "$SRC" "$LADDER" "$m" "$out" \
            >"$TMP/fetched" 2>"$TMP/fetch.err"; then
        not_ok "$fmt ${filter:-unfiltered}: writing out the presentation: $(head -c 400 "$TMP/fetch.err")"
        return
    fi
    case $fmt in
    mpd-*) dmx=(-allowed_extensions ALL) ;;
    *) dmx=(-allowed_extensions ALL -extension_picky 0) ;;
    esac
    d=$(ffprobe -v error "${dmx[@]}" -show_entries format=duration -of csv=p=0 "$out/$m" 2>&1)
    if python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) <= 0.1 else 1)' \
            "$d" "$want" 2>/dev/null; then
        ok "$fmt ${filter:-unfiltered}: ffprobe duration ${d}s (want ${want}s)"
    else
        not_ok "$fmt ${filter:-unfiltered}: ffprobe duration '$d', want ${want}s"
    fi
    n=$(ffmpeg -nostdin -v error "${dmx[@]}" -i "$out/$m" -map 0:v:0 -f framemd5 - 2>"$TMP/err" |
        grep -vc '^#')
    if [ "$n" = $((want * 24)) ] && [ ! -s "$TMP/err" ]; then
        ok "$fmt ${filter:-unfiltered}: the first video rendition decodes to $n frames"
    else
        not_ok "$fmt ${filter:-unfiltered}: $n frames decoded, want $((want * 24)): $(head -3 "$TMP/err" | tr '\n' ' ')"
    fi
}

present "" mpd-time-csf 10
for fmt in mpd-time-csf m3u8-aapl m3u8-cmaf; do
    present clip "$fmt" 4
done
for fmt in mpd-time-cmaf m3u8-aapl; do
    present noslate "$fmt" 8
done
exit $fail
