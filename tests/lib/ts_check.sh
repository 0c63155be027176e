#!/usr/bin/env bash
# MPEG-2 TS segments (pack/ts.c) judged by ffmpeg/ffprobe against their source MP4.
#
#   tests/lib/ts_check.sh --files SRC.mp4 v|a SEG.ts...
#       Concatenates the segments (in the order given) and checks stream SEL (v: first
#       video, a: first audio) against SRC.mp4. Prints TAP-style "ok - ..." lines;
#       exit 1 on any failure.
#   tests/lib/ts_check.sh [ISMFS]
#       The same checks on tests/fixtures/ladder through `ISMFS ls`/`ISMFS cat`
#       (default $ISMFS, else build/asan/ismfs): every v4 segment of the top video
#       rendition and of the English audio, and the v3 segments with that audio
#       muxed in. Exit 77 (skip) without the fixtures or a binary with cat/ls.
#
# Checks (DESIGN §4: a cut TS can decode silently, so frames are counted and hashed):
#   - the file is whole 188-byte packets, each starting 0x47;
#   - ffmpeg decodes it with no error line, and reports no continuity-counter error
#     (its mpegts demuxer logs "Continuity check failed" at debug level) across the
#     segment boundaries;
#   - ffprobe sees as many packets of the stream as the source has, with PTS and
#     DTS strictly increasing (DTS) and DTS <= PTS;
#   - decoded frames (-f framemd5) equal the source's. Audio: the MP4's edit list skips
#     priming (ffmpeg trims it from MP4 but not from TS), so audio compares the
#     frames after the source's first one.
set -u
cd "$(dirname "$0")/../.." || exit 1

fails=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fails=$((fails + 1)); }

tmp=$(mktemp -d /tmp/ts_check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# frame hashes of stream SEL of FILE, one per line
hashes() { ffmpeg -nostdin -v error -i "$1" -map "0:$2:0" -f framemd5 - | grep -v '^#' |
           awk -F, '{gsub(/ /, "", $NF); print $NF}'; }

# check_ts NAME SRC SEL TSFILE
check_ts() {
    local name=$1 src=$2 sel=$3 ts=$4 size err cc n_src n_ts
    size=$(stat -c %s "$ts")
    if [ "$size" -eq 0 ] || [ $((size % 188)) -ne 0 ]; then
        notok "$name: $size bytes is not whole TS packets"; return
    fi
    if python3 - "$ts" <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
sys.exit(0 if all(d[i] == 0x47 for i in range(0, len(d), 188)) else 1)
EOF
    then ok "$name: $((size / 188)) packets, all with sync bytes"
    else notok "$name: a packet without its 0x47 sync byte"; fi

    err=$(ffmpeg -nostdin -v error -i "$ts" -f null - 2>&1)
    [ -z "$err" ] && ok "$name: ffmpeg decodes without errors" ||
        notok "$name: ffmpeg: $(echo "$err" | head -3)"
    cc=$(ffmpeg -nostdin -v debug -i "$ts" -f null - 2>&1 | grep -c 'Continuity check failed')
    [ "$cc" -eq 0 ] && ok "$name: continuity counters continue across segments" ||
        notok "$name: $cc continuity counter errors"

    n_src=$(ffprobe -v error -select_streams "$sel:0" -count_packets \
            -show_entries stream=nb_read_packets -of csv=p=0 "$src" | grep -m1 . | cut -d, -f1)
    n_ts=$(ffprobe -v error -select_streams "$sel:0" -count_packets \
           -show_entries stream=nb_read_packets -of csv=p=0 "$ts" | grep -m1 . | cut -d, -f1)
    [ "$n_src" = "$n_ts" ] && ok "$name: $n_ts packets, as the source" ||
        notok "$name: $n_ts packets, the source has $n_src"

    local bad
    bad=$(ffprobe -v error -select_streams "$sel:0" -show_entries packet=pts,dts \
          -of csv=p=0 "$ts" | awk -F, 'NF >= 2 && $1 != "" {
              if ($2 == "N/A" || $1 == "N/A") { print "missing timestamp at packet " NR; exit }
              if ($2 + 0 > $1 + 0) { print "DTS " $2 " > PTS " $1; exit }
              if (seen && $2 + 0 <= last) { print "DTS " $2 " after " last; exit }
              last = $2 + 0; seen = 1 }')
    [ -z "$bad" ] && ok "$name: DTS increasing, DTS <= PTS" || notok "$name: $bad"

    hashes "$src" "$sel" >"$tmp/src.md5"
    hashes "$ts" "$sel" >"$tmp/ts.md5"
    if [ "$sel" = a ]; then
        # the MP4 decode trims the priming its edit list skips (all or part of the first
        # frame); TS has no edit list: compare what follows the first source frame
        local n
        n=$(($(wc -l <"$tmp/src.md5") - 1))
        tail -n "$n" "$tmp/src.md5" >"$tmp/a" && mv "$tmp/a" "$tmp/src.md5"
        tail -n "$n" "$tmp/ts.md5" >"$tmp/a" && mv "$tmp/a" "$tmp/ts.md5"
    fi
    if [ -s "$tmp/src.md5" ] && cmp -s "$tmp/src.md5" "$tmp/ts.md5"; then
        ok "$name: $(wc -l <"$tmp/ts.md5") decoded frames equal the source's"
    else
        notok "$name: decoded frames differ from the source's" \
              "($(wc -l <"$tmp/ts.md5") vs $(wc -l <"$tmp/src.md5"))"
    fi
}

if [ "${1:-}" = --files ]; then
    [ $# -ge 4 ] || { echo "usage: $0 --files SRC.mp4 v|a SEG.ts..." >&2; exit 2; }
    src=$2 sel=$3
    shift 3
    cat "$@" >"$tmp/all.ts"
    check_ts "$(basename "$src") $sel ($# segments)" "$src" "$sel" "$tmp/all.ts"
    [ "$fails" -eq 0 ]
    exit
fi

ismfs=${1:-${ISMFS:-build/asan/ismfs}}
fx=tests/fixtures
asset=ladder/ladder.ism
if [ ! -f "$fx/$asset" ]; then echo "no fixtures (run tests/make-fixtures.sh)"; exit 77; fi
if [ ! -x "$ismfs" ] || ! "$ismfs" ls "$fx" "$asset" >/dev/null 2>&1; then
    echo "$ismfs cannot list $asset"; exit 77
fi

# segments NAME BITRATE FORMAT: every Fragments(NAME=...,format=FORMAT...) of that
# quality level concatenated in time order into $tmp/NAME.FORMAT.ts (its path on
# stdout); each file's size in `ls -l` (count mode) must be the bytes `cat` gives.
segments() {
    local dir="$asset/QualityLevels($2)" out="$tmp/$1.$3.ts" f size got bad=0
    : >"$out"
    "$ismfs" ls -l "$fx" "$dir" | awk '{ print $2, $3 }' | grep -F " Fragments($1=" |
        grep -E "format=$3[,)]" | grep -v "=i," |
        sed 's/^\([0-9]*\) \(Fragments([^=]*=\([0-9]*\),.*\)/\3 \1 \2/' | sort -n |
        cut -d' ' -f2- >"$tmp/list"
    [ -s "$tmp/list" ] || { notok "$dir: no $3 segments listed" >&2; return 1; }
    while read -r size f; do
        "$ismfs" cat "$fx" "$dir/$f" >"$tmp/seg" || { notok "cat $dir/$f failed" >&2; return 1; }
        got=$(stat -c %s "$tmp/seg")
        [ "$got" = "$size" ] || { bad=1; notok "$dir/$f: $got bytes, ls -l says $size" >&2; }
        cat "$tmp/seg" >>"$out"
    done <"$tmp/list"
    [ "$bad" -eq 0 ] || return 1
    ok "$1 $3: listed sizes are the bytes served" >&2
    echo "$out"
}

# (segments runs in a subshell: its failures are counted here)

if ts=$(segments video 852353 m3u8-aapl); then
    check_ts "v4 video" "$fx/ladder/ladder_640x360.mp4" v "$ts"
else fails=$((fails + 1)); fi
if ts=$(segments aac_eng_2_130544_1_1 130544 m3u8-aapl); then
    check_ts "v4 audio" "$fx/ladder/ladder_aac_eng.mp4" a "$ts"
else fails=$((fails + 1)); fi
if ts=$(segments video 852353 m3u8-aapl-v3); then
    check_ts "v3 video" "$fx/ladder/ladder_640x360.mp4" v "$ts"
    check_ts "v3 audio" "$fx/ladder/ladder_aac_eng.mp4" a "$ts"
else fails=$((fails + 1)); fi
[ "$fails" -eq 0 ]
