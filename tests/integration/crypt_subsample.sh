#!/usr/bin/env bash
# Slice header lengths of crypt/subsample.c against an independent parser: ffmpeg's
# trace_headers bitstream filter (CBS) prints every slice header field with its bit
# position; the end of the last field (cabac_alignment_one_bit excluded, HEVC
# byte_alignment() included) must be where the parser of crypt/subsample.c ends.
#   - every slice of every sample of the first video track of each fixture MP4 and of
#     seven short encodes made here with other x264/x265 settings, through
#     `test_crypt_subsample --trace FILE` (which also checks that the cenc and cbcs
#     layouts of every sample cover it exactly, cenc ranges in 16-byte multiples);
#   - the hand-made AVC and HEVC streams of the unit test (the syntax branches x264 and
#     x265 do not take), written as Annex B by `test_crypt_subsample --crafted`.
# No mount. The driver is the unit test binary beside $ISMFS (build/asan/tests/).
set -euo pipefail
cd "$(dirname "$0")/../.."
ISMFS=${ISMFS:-build/asan/ismfs}
DRIVER=${SUBSAMPLE_DRIVER:-$(dirname "$ISMFS")/tests/test_crypt_subsample}
FIX=tests/fixtures

if [ ! -x "$DRIVER" ]; then
    echo "not ok - driver '$DRIVER' is missing (build it: make unit)"
    exit 1
fi
if [ ! -f "$FIX/.stamp" ]; then
    echo "not ok - no fixtures in $FIX (run tests/make-fixtures.sh)"
    exit 1
fi
for tool in ffmpeg ffprobe; do
    command -v "$tool" >/dev/null || { echo "not ok - $tool is not installed"; exit 1; }
done

tmp=$(mktemp -d /tmp/ismfs-subsample.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

# trace_headers output -> "PACKET SLICE END" per slice header, packets counted from 0.
ends() {
    sed 's/^\[trace_headers @ [^]]*\] //' | awk '
        function flush() { if (inslice) print pkt, slice++, end; inslice = 0 }
        /^Packet:/ { flush(); pkt++; slice = 0; next }
        /^(Slice Header|Slice Segment Header)$/ { flush(); inslice = 1; end = 0; next }
        $1 ~ /^[0-9]+$/ && NF >= 5 && $(NF - 1) == "=" {
            if (inslice && $2 != "cabac_alignment_one_bit") end = $1 + length($(NF - 2))
            next
        }
        { flush() }
        END { flush() }' pkt=-1
}

# compare LABEL OURS THEIRS
compare() {
    local n
    n=$(wc -l <"$2")
    if [ "$n" -eq 0 ]; then
        echo "not ok - $1: no slice headers found"
        fail=1
    elif cmp -s "$2" "$3"; then
        echo "ok - $1: $n slice headers end where trace_headers says"
    else
        echo "not ok - $1: slice header ends differ from trace_headers (sample slice end):"
        diff "$2" "$3" | head -6 | sed 's/^/#   /'
        fail=1
    fi
}

# Encoder settings the fixtures do not use: several slices per picture, weighted and
# pyramid B, interlaced (MBAFF), scaling matrices, 4:4:4 and 4:2:2 10-bit, Baseline;
# HEVC with slices, wavefront entry points, scaling lists, RExt 4:4:4, 10-bit, temporal
# layers. 2 s of 176x144 each, in $tmp.
mkdir -p "$tmp/gen"
# gen NAME ENCODER-ARGS...
gen() {
    local name=$1
    shift
    if ! ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
            -i testsrc2=size=176x144:rate=25 -t 2 "$@" -threads 1 \
            "$tmp/gen/$name.mp4" 2>"$tmp/err"; then
        echo "not ok - generating $name: $(head -c 300 "$tmp/err" | tr '\n' ' ')"
        fail=1
    fi
}
gen x264-slices-interlaced -c:v libx264 -pix_fmt yuv420p -flags +ildct+ilme \
    -x264-params slices=4:weightb=1:b-pyramid=normal:ref=4:bframes=3
gen x264-444-cqm -c:v libx264 -pix_fmt yuv444p -x264-params cqm=jvt:slices=2
gen x264-422-10bit-tff -c:v libx264 -pix_fmt yuv422p10le \
    -x264-params cqm=jvt:tff=1:interlaced=1
gen x264-baseline -c:v libx264 -profile:v baseline -x264-params slices=3:ref=3
gen x265-slices-wpp -c:v libx265 -pix_fmt yuv420p -x265-params \
    slices=3:bframes=4:weightb=1:b-pyramid=1:ref=4:wpp=1:scaling-list=default:log-level=error
gen x265-444 -c:v libx265 -pix_fmt yuv444p -x265-params \
    bframes=2:rect=1:amp=1:limit-refs=0:constrained-intra=1:log-level=error
gen x265-10bit-layers -c:v libx265 -pix_fmt yuv420p10le -x265-params \
    bframes=3:slices=2:opt-ref-list-length-pps=1:temporal-layers=1:log-level=error

mapfile -t files < <(find "$FIX" -path "$FIX/long" -prune -o -type f -name '*.mp4' -print | sort;
                     ls "$tmp"/gen/*.mp4 2>/dev/null)
[ ${#files[@]} -gt 0 ] || { echo "not ok - no .mp4 under $FIX"; exit 1; }
for f in "${files[@]}"; do
    label=${f#"$FIX"/}
    label=${label#"$tmp"/}
    codec=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name -of csv=p=0 "$f")
    case "$codec" in
        h264|hevc) ;;
        *) continue ;;
    esac
    if ! "$DRIVER" --trace "$f" >"$tmp/ours" 2>"$tmp/err"; then
        echo "not ok - $label: the driver failed: $(head -c 300 "$tmp/err" | tr '\n' ' ')"
        fail=1
        continue
    fi
    ffmpeg -nostdin -hide_banner -nostats -ignore_editlist 1 -i "$f" -map 0:v:0 -c copy \
        -copyinkf -bsf:v trace_headers -f null - 2>&1 | ends >"$tmp/theirs"
    compare "$label" "$tmp/ours" "$tmp/theirs"
done

for codec in avc hevc; do
    fmt=$([ "$codec" = avc ] && echo h264 || echo hevc)
    if ! "$DRIVER" --crafted "$codec" "$tmp/crafted.$codec" >"$tmp/ours" 2>"$tmp/err"; then
        echo "not ok - crafted $codec: the driver failed: $(head -c 300 "$tmp/err" | tr '\n' ' ')"
        fail=1
        continue
    fi
    # one raw stream: compare the sequence of ends, whatever the packetisation
    ffmpeg -nostdin -hide_banner -nostats -f "$fmt" -i "$tmp/crafted.$codec" -c copy \
        -copyinkf -bsf:v trace_headers -f null - 2>&1 | ends | awk '{ print $3 }' >"$tmp/theirs"
    awk '{ print $3 }' "$tmp/ours" >"$tmp/ours.ends"
    compare "crafted $codec stream" "$tmp/ours.ends" "$tmp/theirs"
done
exit "$fail"
