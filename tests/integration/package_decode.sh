#!/usr/bin/env bash
# The ladder fixture in every DASH and HLS format, judged by ffmpeg/ffprobe (5.1) as a player:
# the whole presentation is written out with `ismfs cat` into a folder, the manifest and every
# file it references at the same relative paths, found by parsing the manifest the way a
# player does (tests/lib/fetch_presentation.py: MPD SegmentTemplate/SegmentTimeline, HLS
# master -> media playlists -> segments and EXT-X-MAP). Then for each format:
#   - ffmpeg demuxes and decodes every stream (-map 0) with no message at -v error, exit 0
#     (the decode writes -f framemd5 instead of -f null: the same demux and decode, plus the
#     hashes the checks below use);
#   - ffprobe's duration is the source's within 0.1 s;
#   - ffprobe's streams (type, codec, resolution; sample rate and channels for audio) are the
#     source files' streams, as many as the format presents (see expected_streams);
#   - every stream decodes to as many frames as its source track has samples (a cut segment
#     can decode without an error line, DESIGN §4);
#   - DASH: each video rendition decodes to frames bit-identical to the source MP4's (hash
#     column of -f framemd5 only: the output timeline differs from the source's by design,
#     pack/view.h).
# Demuxer options (ffmpeg 5.1, DESIGN §4): HLS refuses our extension-less segment names unless
# given both -allowed_extensions ALL (local files) and -extension_picky 0; DASH needs
# -allowed_extensions ALL for local files and has no -extension_picky. ffmpeg's DASH demuxer
# resolves segment URLs against a relative manifest path twice (it asks for
# dir/dir/QualityLevels...), so manifests are opened by absolute path.
# Smooth is not here: ffmpeg has no Smooth demuxer (DESIGN §4); see package_smooth.sh.
# shellcheck source=tests/lib/package_lib.sh
source "$(dirname "$0")/../lib/package_lib.sh"
need ffmpeg ffprobe python3

tracks "$LADDER" >"$TMP/tracks.tsv"
[ -s "$TMP/tracks.tsv" ] || bail "$LADDER: no tracks"

# describe FILE [DEMUXER OPTIONS...]: "type codec WxH|rate/ch" per stream, ffprobe's order.
describe() {
    local f=$1; shift
    ffprobe -v error "$@" -show_entries stream=codec_type,codec_name,width,height,sample_rate,channels \
            -of json "$f" | python3 -c '
import json, sys
for s in json.load(sys.stdin).get("streams", []):
    if s["codec_type"] == "video":
        print("video %s %sx%s" % (s["codec_name"], s.get("width"), s.get("height")))
    else:
        print("%s %s %s/%s" % (s["codec_type"], s["codec_name"], s.get("sample_rate"),
                               s.get("channels")))'
}

# The source: one description and one sample count per track.
: >"$TMP/src.desc"
src_duration=0
default_audio=
while IFS=$'\t' read -r type _ _ count src _; do
    d=$(describe "$FIX/$src" | grep "^$type " | head -1)
    [ -n "$d" ] || bail "ffprobe finds no $type stream in $src"
    printf '%s\t%s\t%s\n' "$d" "$count" "$src" >>"$TMP/src.desc"
    [ "$type" = audio ] && [ -z "$default_audio" ] && default_audio=$d
    sd=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$FIX/$src")
    src_duration=$(python3 -c "print(max($src_duration, $sd))")
done <"$TMP/tracks.tsv"
videos=$(awk -F'\t' '$1 ~ /^video/ { print $1 }' "$TMP/src.desc")
audios=$(awk -F'\t' '$1 ~ /^audio/ { print $1 }' "$TMP/src.desc")

# expected_streams FORMAT: the streams ffprobe should see, sorted. DASH: every track. HLS v4
# and CMAF: every track, plus the audio-only variant AMS adds (a variant of the default audio,
# ams-facts §2; ffmpeg opens it as a stream of its own). HLS v3: each video variant with the
# default (first) audio muxed in, no separate audio.
expected_streams() {
    case $1 in
    mpd-*) printf '%s\n' "$videos" "$audios" ;;
    m3u8-aapl-v3) printf '%s\n' "$videos" | while read -r v; do
                      printf '%s\n%s\n' "$v" "$default_audio"; done ;;
    m3u8-*) printf '%s\n' "$videos" "$audios" "$default_audio" ;;
    esac | grep . | sort
}

# framemd5 hashes of the first video stream of a source MP4
src_hashes() {
    ffmpeg -nostdin -v error -i "$FIX/$1" -map 0:v:0 -f framemd5 - |
        awk -F, '!/^#/ { gsub(/ /, "", $6); print $6 }'
}

for fmt in mpd-time-csf mpd-time-cmaf m3u8-aapl m3u8-aapl-v3 m3u8-cmaf; do
    out=$TMP/$fmt
    manifest="manifest(format=$fmt)"
    if ! python3 tests/lib/fetch_presentation.py "$ISMFS" "$CACHE" "$FIX" "$LADDER" \
            "$manifest" "$out" >"$TMP/fetched" 2>"$TMP/fetch.err"; then
        not_ok "$fmt: writing out the presentation: $(head -c 400 "$TMP/fetch.err")"
        continue
    fi
    ok "$fmt: the manifest and the $(($(wc -l <"$TMP/fetched") - 1)) files it references" \
       "written out with ismfs cat"
    case $fmt in
    mpd-*) dmx=(-allowed_extensions ALL) ;;
    *) dmx=(-allowed_extensions ALL -extension_picky 0) ;;
    esac
    m=$out/$manifest

    # 1. the whole presentation decodes without a word
    ffmpeg -nostdin -v error "${dmx[@]}" -i "$m" -map 0 -f framemd5 - >"$TMP/frames" \
           2>"$TMP/err"
    rc=$?
    if [ "$rc" -eq 0 ] && [ ! -s "$TMP/err" ]; then
        ok "$fmt: ffmpeg -map 0 decodes every stream with no error (exit 0, nothing printed)"
    else
        not_ok "$fmt: ffmpeg -map 0 exit $rc: $(head -5 "$TMP/err" | tr '\n' ' ' | head -c 500)"
    fi

    # 2. duration
    d=$(ffprobe -v error "${dmx[@]}" -show_entries format=duration -of csv=p=0 "$m")
    if python3 -c "import sys; sys.exit(0 if abs(float('$d') - $src_duration) <= 0.1 else 1)" \
            2>/dev/null; then
        ok "$fmt: ffprobe duration ${d}s, the source's ${src_duration}s within 0.1 s"
    else
        not_ok "$fmt: ffprobe duration '$d', the source's is ${src_duration}s"
    fi

    # 3. streams: how many, codecs, resolutions
    describe "$m" "${dmx[@]}" >"$TMP/got.desc"
    sort "$TMP/got.desc" >"$TMP/got.sorted"
    expected_streams "$fmt" >"$TMP/want.sorted"
    if [ -s "$TMP/got.sorted" ] && cmp -s "$TMP/want.sorted" "$TMP/got.sorted"; then
        ok "$fmt: $(wc -l <"$TMP/got.sorted") streams with the sources' codecs and resolutions"
    else
        not_ok "$fmt: streams differ from the sources': got [$(paste -sd';' "$TMP/got.sorted")]" \
               "want [$(paste -sd';' "$TMP/want.sorted")]"
    fi

    # 4. frames per stream == samples of the source track of that description. DASH: each
    # stream decoded on its own, as a player plays one representation at a time: with -map 0,
    # ffmpeg 5.1's DASH demuxer ends all streams at the first representation's end and the
    # others lose their last frames (its own -f dash output does the same).
    case $fmt in
    mpd-*)
        : >"$TMP/frames"
        for ((i = 0; i < $(wc -l <"$TMP/got.desc"); i++)); do
            ffmpeg -nostdin -v error "${dmx[@]}" -i "$m" -map "0:$i" -f framemd5 - 2>"$TMP/err" |
                awk -F, -v i="$i" '!/^#/ { $1 = i; print }' OFS=, >>"$TMP/frames"
            [ -s "$TMP/err" ] && not_ok "$fmt: ffmpeg -map 0:$i: $(head -3 "$TMP/err" | tr '\n' ' ')"
        done ;;
    esac
    python3 - "$TMP/frames" "$TMP/got.desc" "$TMP/src.desc" >"$TMP/count.err" <<'EOF'
import collections, sys
counts = collections.Counter(l.split(",")[0].strip() for l in open(sys.argv[1])
                             if not l.startswith("#"))
desc = [l.rstrip("\n") for l in open(sys.argv[2])]
want = collections.defaultdict(set)
for l in open(sys.argv[3]):
    d, n, _ = l.rstrip("\n").split("\t")
    want[d].add(int(n))
bad = ["stream %d (%s): %d frames, want %s" % (i, d, counts.get(str(i), 0), sorted(want[d]))
       for i, d in enumerate(desc) if counts.get(str(i), 0) not in want[d]]
print("; ".join(bad))
sys.exit(1 if bad or not desc else 0)
EOF
    if [ $? -eq 0 ]; then
        ok "$fmt: every stream decodes to as many frames as its source track has samples"
    else
        not_ok "$fmt: $(head -c 500 "$TMP/count.err")"
    fi

    # 5. DASH: each video rendition's pictures are the source's, bit for bit (the per-stream
    # decodes of step 4)
    case $fmt in mpd-*) ;; *) continue ;; esac
    while IFS=$'\t' read -r d count src; do
        [[ $d == video* ]] || continue
        idx=$(grep -nxF "$d" "$TMP/got.desc" | head -1 | cut -d: -f1)
        if [ -z "$idx" ]; then
            not_ok "$fmt: no stream '$d' to compare with $src"
            continue
        fi
        idx=$((idx - 1))
        awk -F, -v i="$idx" '!/^#/ && $1 + 0 == i { gsub(/ /, "", $6); print $6 }' \
            "$TMP/frames" >"$TMP/got.md5"
        src_hashes "$src" >"$TMP/want.md5"
        if [ -s "$TMP/want.md5" ] && cmp -s "$TMP/want.md5" "$TMP/got.md5"; then
            ok "$fmt: ${d#video } rendition: $(wc -l <"$TMP/got.md5") decoded frames" \
               "bit-identical to $src"
        else
            not_ok "$fmt: ${d#video } rendition: decoded frames differ from $src" \
                   "($(wc -l <"$TMP/got.md5") vs $(wc -l <"$TMP/want.md5") frames," \
                   "first difference at frame $(cmp "$TMP/want.md5" "$TMP/got.md5" 2>&1 |
                   sed -n 's/.*line \([0-9]*\).*/\1/p'))"
        fi
    done <"$TMP/src.desc"
done
exit "$fail"
