#!/usr/bin/env bash
# Packaging benchmark (part of bench/run.sh): every segment of the 2-hour asset in each
# format, MB/s of output on one core (bench/pack_bench, in one process), next to ffmpeg
# -c copy packaging the same file as DASH and as HLS/TS; then the generation time of every
# manifest and playlist of the asset. What and why: bench/README.md.
#   bench/pack.sh   environment: PACK_BENCH (default build/rel/bench/pack_bench, built when
#                   missing), PACK_RUNS (default 3), BENCH_STRICT=1 (exit 1 on a missed target)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
PACK_BENCH=${PACK_BENCH:-build/rel/bench/pack_bench}
PACK_RUNS=${PACK_RUNS:-3}
DIR=tests/fixtures/long
ASSET=long.ism
CMAF_TARGET=10          # CMAF MB/s at least this many times ffmpeg -f dash -c copy
TS_TARGET=4             # TS MB/s at least this many times ffmpeg -f hls -c copy
MANIFEST_TARGET_MS=5    # every manifest and playlist of the 2-hour asset below this

[ -f "$DIR/.stamp" ] || bench_fail "no $DIR (tests/make-fixtures.sh --long)"
command -v ffmpeg >/dev/null || bench_fail "ffmpeg not found"
if [ ! -x "$PACK_BENCH" ]; then
    [ "$PACK_BENCH" = build/rel/bench/pack_bench ] || bench_fail "no $PACK_BENCH"
    make --no-print-directory NODEPS=1 "$PACK_BENCH" >&2 || bench_fail "cannot build $PACK_BENCH"
fi

tmp=$(mktemp -d /tmp/ismfs-bench-pack.XXXXXX)
# ffmpeg writes its segments to memory when it can, so neither side waits for a disk
out=$(mktemp -d /dev/shm/ismfs-bench-pack.XXXXXX 2>/dev/null) || out=$(mktemp -d "$tmp/out.XXXXXX")
trap 'rm -rf "$tmp" "$out"' EXIT

cat "$DIR/long.mp4" >/dev/null         # page cache, for both sides

# ---- ismfs: one pass over every segment of each kind, PACK_RUNS passes -------------------
# A fresh cache: the first request parses the asset (reported), the passes then run with
# the asset built, as in a mount that has served it once.
"$PACK_BENCH" --cache="$tmp/cache" --runs="$PACK_RUNS" "$DIR" "$ASSET" >"$tmp/pack" \
    2>"$tmp/pack.err" || bench_fail "pack_bench failed: $(head -c 500 "$tmp/pack.err")"

# ---- ffmpeg: the same file, stream copy, 2 s segments ------------------------------------
# ffmeasure NAME CMD...: PACK_RUNS runs into a clean $out; "files bytes wall_ms cpu_ms"
ffmeasure() {
    local name=$1
    shift
    : >"$tmp/$name.t"
    for _ in $(seq "$PACK_RUNS"); do
        rm -rf "${out:?}"/* && mkdir -p "$out/o"
        timed "$tmp/$name.t" "$@"
    done
    local files bytes
    files=$(find "$out/o" -type f | wc -l)
    bytes=$(find "$out/o" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
    [ "$files" -gt 0 ] || bench_fail "ffmpeg $name wrote nothing"
    echo "$files $bytes $(median "$tmp/$name.t" 1) $(median "$tmp/$name.t" 2)"
}
ff_dash=$(ffmeasure dash ffmpeg -nostdin -v error -y -i "$DIR/long.mp4" -map 0 -c copy \
    -f dash -seg_duration 2 "$out/o/out.mpd")
ff_hls=$(ffmeasure hls ffmpeg -nostdin -v error -y -i "$DIR/long.mp4" -map 0 -c copy \
    -f hls -hls_time 2 -hls_segment_type mpegts -hls_list_size 0 \
    -hls_segment_filename "$out/o/s%05d.ts" "$out/o/out.m3u8")

# ---- table -------------------------------------------------------------------------------
row_fmt='%-36s %6s %9s %9s %9s %9s %10s\n'
echo "== packaging: $DIR/$ASSET (2 h; one core; MB = 10^6 bytes; median of $PACK_RUNS passes) =="
printf "$row_fmt" what files MB 'cpu ms' 'wall ms' 'MB/s cpu' 'vs ffmpeg'

# ours KIND: "files bytes cpu_ms wall_ms" of pack_bench's line for KIND (empty if none)
ours() {
    local l
    l=$(grep "^seg $1 " "$tmp/pack" || true)
    [ -n "$l" ] || return 0
    echo "$(field files "$l") $(field bytes "$l") $(field wall_ms "$l") $(field cpu_ms "$l")"
}
mbps() { calc '(c > 0 ? b / 1e6 / (c / 1000) : 0)' b="$1" c="$2"; }
# row LABEL "files bytes wall cpu" [FFMPEG_MBPS]: prints a row; echoes nothing
row() {
    local label=$1 files bytes wall cpu rate ratio=''
    read -r files bytes wall cpu <<<"$2"
    rate=$(mbps "$bytes" "$cpu")
    [ -z "${3:-}" ] || ratio=$(calc 'sprintf("%.1fx", r / f)' r="$rate" f="$3")
    printf "$row_fmt" "$label" "$files" "$(calc 'sprintf("%.2f", b / 1e6)' b="$bytes")" \
        "$(calc 'sprintf("%.1f", x)' x="$cpu")" "$(calc 'sprintf("%.1f", x)' x="$wall")" \
        "$(calc 'sprintf("%.1f", x)' x="$rate")" "$ratio"
}
read -r _ dash_bytes _ dash_cpu <<<"$ff_dash"
read -r _ hls_bytes _ hls_cpu <<<"$ff_hls"
dash_rate=$(mbps "$dash_bytes" "$dash_cpu")
hls_rate=$(mbps "$hls_bytes" "$hls_cpu")

for kind in cmaf ts ts-v3 smooth; do
    [ -n "$(ours "$kind")" ] || bench_fail "pack_bench measured no $kind segments"
done
row 'ismfs CMAF (every track, + init)' "$(ours cmaf)" "$dash_rate"
row 'ffmpeg -c copy -f dash' "$ff_dash"
row 'ismfs TS m3u8-aapl (every track)' "$(ours ts)" "$hls_rate"
row 'ismfs TS m3u8-aapl-v3 (audio muxed)' "$(ours ts-v3)" "$hls_rate"
row 'ffmpeg -c copy -f hls (audio muxed)' "$ff_hls"
row 'ismfs Smooth fragments' "$(ours smooth)"

check_ratio() {   # check_ratio LABEL KIND FFMPEG_RATE TARGET FFNAME
    local l rate ratio
    l=$(ours "$2")
    rate=$(mbps "$(echo "$l" | cut -d' ' -f2)" "$(echo "$l" | cut -d' ' -f4)")
    ratio=$(calc 'sprintf("%.1f", r / f)' r="$rate" f="$3")
    if is_true 'r >= t * f' r="$rate" t="$4" f="$3"; then
        verdict MET "$1 $(calc 'sprintf("%.1f", x)' x="$rate") MB/s = ${ratio}x $5 (target >= ${4}x)"
    else
        verdict MISSED "$1 $(calc 'sprintf("%.1f", x)' x="$rate") MB/s = ${ratio}x $5 (target >= ${4}x)"
    fi
}
check_ratio "CMAF:" cmaf "$dash_rate" "$CMAF_TARGET" "ffmpeg dash"
check_ratio "TS:" ts "$hls_rate" "$TS_TARGET" "ffmpeg hls"

open=$(grep '^asset ' "$tmp/pack")
note "first request on a fresh cache (parses the asset): $(field open_ms "$open") ms"

# ---- encryption: clear and encrypted segments of the same asset, in one run ----------------
# keys= with a CPIX of one content key (random, made here) for every track: the asset is
# protected; --keys also sets allow_clear, so the clear names stay and both are measured by
# the same process, one after the other.
keys=$tmp/keys
mkdir -p "$keys"
kid=$(python3 -c 'import uuid; print(uuid.uuid4())')
cat >"$keys/${ASSET%.ism}.cpix.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"
           contentId="bench" version="2.3">
  <cpix:ContentKeyList><cpix:ContentKey kid="$kid"><cpix:Data><pskc:Secret>
    <pskc:PlainValue>$(openssl rand -base64 16)</pskc:PlainValue>
  </pskc:Secret></cpix:Data></cpix:ContentKey></cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="$kid" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"/>
    <cpix:DRMSystem kid="$kid" systemId="9a04f079-9840-4286-ab92-e65be0885f95"/>
  </cpix:DRMSystemList>
</cpix:CPIX>
EOF
# (the load average before and after: clear and encrypted kinds run one after the other,
# so load that comes or goes during the run moves their ratio)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
"$PACK_BENCH" --cache="$tmp/cache" --keys="$(realpath "$keys")" --runs="$PACK_RUNS" \
    --no-manifests "$DIR" "$ASSET" >"$tmp/enc" 2>"$tmp/enc.err" ||
    bench_fail "pack_bench --keys failed: $(head -c 500 "$tmp/enc.err")"
echo
echo "== encryption: $DIR/$ASSET, clear and encrypted segments in one run (one core;" \
     "load average $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after) =="
printf "$row_fmt" what files MB 'cpu ms' 'wall ms' 'MB/s cpu' 'vs clear'
# enc_line KIND: "files bytes wall_ms cpu_ms" of KIND in the --keys run
enc_line() {
    local l
    l=$(grep "^seg $1 " "$tmp/enc")
    echo "$(field files "$l") $(field bytes "$l") $(field wall_ms "$l") $(field cpu_ms "$l")"
}
# enc_rate KIND: its MB/s (cpu), empty when it was not measured
enc_rate() {
    grep -q "^seg $1 " "$tmp/enc" || return 0
    local files bytes wall cpu
    read -r files bytes wall cpu <<<"$(enc_line "$1")"
    mbps "$bytes" "$cpu"
}
ENC_TARGET=0.7          # cenc (CMAF) and AES-128 (TS) at least this share of clear MB/s
for base in cmaf ts ts-v3 smooth; do
    clear=$(enc_rate "$base")
    [ -n "$clear" ] || continue
    row "$base (clear)" "$(enc_line "$base")"
    for kind in $(grep -o "^seg $base+[^ ]*" "$tmp/enc" | cut -d' ' -f2); do
        rate=$(enc_rate "$kind")
        ratio=$(calc 'sprintf("%.2f", r / c)' r="$rate" c="$clear")
        printf "$row_fmt" "$kind" "$(field files "$(grep "^seg $kind " "$tmp/enc")")" "" "" "" \
            "$(calc 'sprintf("%.1f", x)' x="$rate")" "${ratio}x"
        case $kind in
        cmaf+cenc|ts+cbc)
            if is_true 'r >= t * c' r="$rate" t="$ENC_TARGET" c="$clear"; then
                verdict MET "$kind: ${ratio}x clear $base MB/s (target >= ${ENC_TARGET}x)"
            else
                verdict MISSED "$kind: ${ratio}x clear $base MB/s (target >= ${ENC_TARGET}x)"
            fi ;;
        esac
    done
done
grep -q '^seg cmaf+cenc ' "$tmp/enc" || verdict MISSED "no cmaf+cenc segments were measured"
grep -q '^seg ts+cbc ' "$tmp/enc" || verdict MISSED "no ts+cbc (AES-128) segments were measured"

# ---- manifests -----------------------------------------------------------------------------
echo
mfmt='%-72s %8s %9s %9s  %s\n'
printf "$mfmt" "manifest / playlist of $ASSET (asset built; median of N requests)" bytes \
    'first ms' 'median ms' "< $MANIFEST_TARGET_MS ms"
nman=0 nmet=0
while read -r _ name rest; do
    bytes=$(field bytes "$rest") first=$(field first_ms "$rest") med=$(field median_ms "$rest")
    nman=$((nman + 1))
    if is_true 'm < t' m="$med" t="$MANIFEST_TARGET_MS"; then
        nmet=$((nmet + 1)) v=MET
    else
        v=MISSED
        verdict MISSED "$name: $med ms, target < $MANIFEST_TARGET_MS ms"
    fi
    printf "$mfmt" "$name" "$bytes" "$first" "$med" "$v"
done < <(grep '^manifest ' "$tmp/pack")
[ "$nmet" -ne "$nman" ] || verdict MET "all $nman manifests and playlists < $MANIFEST_TARGET_MS ms"
grep -q '^manifest ' "$tmp/pack" || bench_fail "pack_bench measured no manifest"
echo
bench_end
