#!/usr/bin/env bash
# End-to-end check of the HLS output (pack/hls.c, pack/ts.c, pack/cmaf.c) through `ismfs cat`:
# for each HLS format, writes the master, every playlist it names and every segment those
# name into a folder laid out like the mount (the URIs are relative), then has ffmpeg, an
# independent reader, demux and decode it all:
#   - no error line from `ffmpeg -v error -extension_picky 0 -i master.m3u8 -map 0` (DESIGN §4:
#     ffmpeg 5.1 refuses our extension-less segment names without -extension_picky 0, and
#     from local files also without -allowed_extensions ALL);
#   - every stream decodes as many frames as a track of its type has samples (a segment cut
#     short can decode without an error line, DESIGN §4);
#   - every I-frame playlist decodes one key frame per entry, without an error line.
#
# Usage: tests/lib/hls_check.sh [SRC [ASSET]]     (defaults: tests/fixtures ladder/ladder.ism)
# Env:   ISMFS   the binary (default ./ismfs);  ISMFS_OPTS  extra options (e.g. --cache=DIR)
#        KEEP=1  keep the folder it writes (its path is printed)
# Exit:  0 all good, 1 a check failed, 77 skipped (no ffmpeg, or no fixtures).
set -euo pipefail

ISMFS=${ISMFS:-./ismfs}
SRC=${1:-tests/fixtures}
ASSET=${2:-ladder/ladder.ism}
read -r -a OPTS <<< "${ISMFS_OPTS:-}"

if ! command -v ffmpeg >/dev/null || ! command -v python3 >/dev/null; then
    echo "skip: no ffmpeg or python3"
    exit 77
fi
[ -e "$SRC/$ASSET" ] || { echo "skip: no $SRC/$ASSET (run tests/make-fixtures.sh)"; exit 77; }

TMP=$(mktemp -d)
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$TMP"' EXIT; else echo "output in $TMP"; fi
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# A URI of ours as a file name: RFC 3986 percent-decoding (what a web server does).
unpct() {
    case $1 in
    *%*) python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$1" ;;
    *) printf '%s\n' "$1" ;;
    esac
}
HLS_IN=(-allowed_extensions ALL -extension_picky 0)     # options of ffmpeg's HLS demuxer

# fetch VPATH-below-the-asset FILE
fetch() {
    mkdir -p "$(dirname "$2")"
    "$ISMFS" "${OPTS[@]}" cat "$SRC" "$ASSET/$1" > "$2" || { bad "ismfs cat $ASSET/$1"; return 1; }
}

# The URIs a playlist names: URI lines and URI="..." attributes.
uris() {
    sed -n -e '/^#/!p' -e 's/.*URI="\([^"]*\)".*/\1/p' "$1"
}

# Expected sample counts per track type, from `ismfs inspect --json`.
"$ISMFS" "${OPTS[@]}" inspect --json "$SRC/$ASSET" > "$TMP/inspect.json"
counts() {
    python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))["tracks"]
print(" ".join(str(x["sample_count"]) for x in t if x["type"] == sys.argv[2]))' \
        "$TMP/inspect.json" "$1"
}
VIDEO_COUNTS=" $(counts video) "
AUDIO_COUNTS=" $(counts audio) "

# frames_per_stream INPUT [ffmpeg options...]: "index count" lines, errors to $TMP/err.
frames_per_stream() {
    local in=$1 io=("${HLS_IN[@]}"); shift
    case $in in *.mp4) io=() ;; esac
    { ffmpeg -nostdin -v error "${io[@]}" -i "$in" "$@" -f framemd5 - 2> "$TMP/err" || true; } |
        python3 -c 'import sys, collections
c = collections.Counter(l.split(",")[0].strip() for l in sys.stdin if not l.startswith("#"))
for k in sorted(c, key=int): print(k, c[k])'
}

# first_frame MP4: the MD5 of its first decoded video frame, errors to $TMP/err.
first_frame() {
    { ffmpeg -nostdin -v error -i "$1" -map 0:v -frames:v 1 -f framemd5 - 2> "$TMP/err" || true; } |
        awk -F, '!/^#/ { print $6 }'
}

for fmt in m3u8-aapl m3u8-aapl-v3 m3u8-cmaf; do
    out="$TMP/$fmt"
    fetch "manifest(format=$fmt)" "$out/master.m3u8" || continue
    for p in $(uris "$out/master.m3u8"); do
        f=$(unpct "$p")
        fetch "$f" "$out/$f" || continue
        dir=$(dirname "$f")
        for s in $(uris "$out/$f" | sort -u); do
            sf=$(unpct "$s")
            [ -e "$out/$dir/$sf" ] || fetch "$dir/$sf" "$out/$dir/$sf" || true
        done
    done

    # the whole presentation: every variant and rendition ffmpeg opens
    types=$(ffprobe -v error "${HLS_IN[@]}" -show_entries stream=index,codec_type -of csv=p=0 \
            "$out/master.m3u8" 2>&1) || bad "$fmt: ffprobe: $(head -3 <<< "$types")"
    frames_per_stream "$out/master.m3u8" -map 0 > "$out/frames.txt"
    if [ -s "$TMP/err" ]; then bad "$fmt: ffmpeg: $(head -3 "$TMP/err")"; fi
    while read -r idx count; do
        type=$(sed -n "s/^$idx,//p" <<< "$types" | head -1)
        want=$([ "$type" = video ] && echo "$VIDEO_COUNTS" || echo "$AUDIO_COUNTS")
        [[ "$want" == *" $count "* ]] ||
            bad "$fmt: stream $idx ($type) decoded $count frames, want one of:$want"
    done < "$out/frames.txt"
    [ -s "$out/frames.txt" ] || bad "$fmt: nothing decoded"
    echo "$fmt: $(wc -l < "$out/frames.txt") streams decoded: $(tr '\n' ' ' < "$out/frames.txt")"

    # I-frame playlists. TS: the playlist itself decodes to one key frame per entry. CMAF:
    # ffmpeg's HLS demuxer feeds all ranges to one mp4 demuxer, which then reads the rest of
    # each fragment's trun past the range (the mdat is cut after the key frame, as in Apple's
    # and shaka-packager's fMP4 I-frame playlists); so each range is checked on its own: init
    # + range decodes its first frame with no error, to the same picture as the whole segment.
    checked=0
    for p in $(sed -n 's/.*URI="\([^"]*type=keyframes[^"]*\)".*/\1/p' "$out/master.m3u8"); do
        f=$(unpct "$p")
        dir=$(dirname "$f")
        entries=$(grep -c '^#EXTINF' "$out/$f")
        if [ "$fmt" != m3u8-cmaf ]; then
            got=$(frames_per_stream "$out/$f" -map 0:v | awk '{ n += $2 } END { print n + 0 }')
            if [ -s "$TMP/err" ]; then bad "$fmt: $f: ffmpeg: $(head -3 "$TMP/err")"; fi
            [ "$got" = "$entries" ] || bad "$fmt: $f: $got frames decoded for $entries I-frames"
        else
            init="$out/$dir/$(unpct "$(sed -n 's/^#EXT-X-MAP:URI="\([^"]*\)".*/\1/p' "$out/$f")")"
            got=0
            while read -r len seg; do
                seg="$out/$dir/$(unpct "$seg")"
                { cat "$init"; head -c "$len" "$seg"; } > "$TMP/range.mp4"
                cat "$init" "$seg" > "$TMP/whole.mp4"
                h1=$(first_frame "$TMP/range.mp4")
                # the demuxer reads ahead into the samples cut off: "partial file" is expected
                if grep -qv 'partial file' "$TMP/err"; then
                    bad "$fmt: $f: range of $seg: $(grep -v 'partial file' "$TMP/err" | head -3)"
                fi
                h2=$(first_frame "$TMP/whole.mp4")
                [ -n "$h1" ] && [ "$h1" = "$h2" ] ||
                    bad "$fmt: $f: the range of $seg does not decode to its key frame"
                got=$((got + 1))
            done < <(awk -F'[:@]' '/^#EXT-X-BYTERANGE:/ { len = $2; next }
                                   /^[^#]/ && len { print len, $0; len = 0 }' "$out/$f")
            [ "$got" = "$entries" ] || bad "$fmt: $f: $got byte ranges for $entries I-frames"
        fi
        checked=$((checked + 1))
    done
    echo "$fmt: $checked I-frame playlists decoded"
done

if [ "$fail" = 0 ]; then echo "hls_check: all good"; fi
exit "$fail"
