#!/usr/bin/env bash
# Media index benchmark (part of bench/run.sh): opening the 2-hour asset cold (parse, fresh
# LMDB cache) and warm (from the index), next to ffprobe listing the same packets.
# What and why: bench/README.md.
#   bench/index.sh   environment: ISMFS (default ./ismfs), RUNS (default 5), BENCH_STRICT=1
#                    (exit 1 when a target is missed)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ISMFS=${ISMFS:-./ismfs}
RUNS=${RUNS:-5}
WARM_RUNS=$((RUNS * 4))
DIR=tests/fixtures/long
COLD_TARGET=20          # cold parse at least this many times faster than ffprobe -show_packets
WARM_TARGET_MS=1        # warm load per track below this

[ -x "$ISMFS" ] || bench_fail "no ismfs binary at $ISMFS (make ismfs)"
[ -f "$DIR/.stamp" ] || bench_fail "no $DIR (tests/make-fixtures.sh --long)"
for tool in ffprobe python3; do
    command -v "$tool" >/dev/null || bench_fail "$tool not found"
done

tmp=$(mktemp -d /tmp/ismfs-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# load_ms: the load_ms=X field of the last run's stats line, empty when ismfs has none.
load_ms() { sed -n 's/^index: .*load_ms=\([0-9.]*\).*/\1/p' "$tmp/err" | tail -1; }

# stat_field NAME: parsed / index_hits of the last run.
stat_field() { sed -n "s/^index: .*$1=\\([0-9]*\\).*/\\1/p" "$tmp/err" | tail -1; }

# Process startup + LMDB-free exit, to subtract from wall clocks when there is no load_ms.
: >"$tmp/startup"
for _ in $(seq "$WARM_RUNS"); do timed "$tmp/startup" "$ISMFS" --version; done
startup=$(median "$tmp/startup" 1)

echo "== media index: $DIR (cold parse vs ffprobe -show_packets; warm load from LMDB) =="
printf '%-10s %6s %8s | %11s %11s | %9s %9s %7s | %9s %11s\n' file tracks samples \
    'ffprobe cpu' 'ffprobe wall' 'cold cpu' 'cold load' ratio 'warm load' 'warm/track'
printf '%-10s %6s %8s | %11s %11s | %9s %9s %7s | %9s %11s\n' '' '' '' ms ms ms ms '' ms ms

for f in "$DIR"/*.mp4 "$DIR"/*.ism; do
    [ -e "$f" ] || continue
    name=$(basename "$f")
    # What the file holds, from ismfs itself (also a smoke test of the release build).
    "$ISMFS" inspect --json --cache="$tmp/probe" "$f" >"$tmp/json"
    read -r ntracks nsamples < <(python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))["tracks"]
print(len(t), sum(x["sample_count"] for x in t))' "$tmp/json")

    # ffprobe, the packet listing of the same file (one warm-up run fills the page cache).
    ff_cpu=- ff_wall=-
    if [[ "$f" == *.mp4 ]]; then
        ffprobe -v error -show_packets -of compact "$f" >/dev/null
        : >"$tmp/ff"
        for _ in $(seq "$RUNS"); do
            timed "$tmp/ff" ffprobe -v error -show_packets -of compact "$f"
        done
        ff_wall=$(median "$tmp/ff" 1) ff_cpu=$(median "$tmp/ff" 2)
    fi

    # Cold: a fresh cache directory every run, so every run parses.
    : >"$tmp/cold"
    : >"$tmp/cold_load"
    for i in $(seq "$RUNS"); do
        timed "$tmp/cold" "$ISMFS" inspect --stats --cache="$tmp/$name.cold$i" "$f"
        [ "$(stat_field parsed)" != 0 ] || bench_fail "cold run did not parse"
        l=$(load_ms)
        [ -z "$l" ] || echo "$l" >>"$tmp/cold_load"
    done
    index_kb=$(du -sk "$tmp/$name.cold1" | cut -f1)
    cold_cpu=$(median "$tmp/cold" 2)
    if [ -s "$tmp/cold_load" ]; then
        cold_load=$(median "$tmp/cold_load" 1)
    else
        cold_load=$(awk -v w="$(median "$tmp/cold" 1)" -v s="$startup" \
                    'BEGIN { printf "~%.3f", w - s }')
    fi

    # Warm: the cache of the first cold run; every run must load from the index.
    : >"$tmp/warm"
    : >"$tmp/warm_load"
    for _ in $(seq "$WARM_RUNS"); do
        timed "$tmp/warm" "$ISMFS" inspect --stats --cache="$tmp/$name.cold1" "$f"
        [ "$(stat_field parsed)" = 0 ] || bench_fail "warm run parsed"
        l=$(load_ms)
        [ -z "$l" ] || echo "$l" >>"$tmp/warm_load"
    done
    if [ -s "$tmp/warm_load" ]; then
        warm=$(median "$tmp/warm_load" 1)
        src="load_ms"
    else
        warm=$(awk -v w="$(median "$tmp/warm" 1)" -v s="$startup" \
               'BEGIN { v = w - s; printf "%.3f", (v < 0 ? 0 : v) }')
        src="wall - startup"
    fi
    per_track=$(awk -v w="$warm" -v n="$ntracks" 'BEGIN { printf "%.3f", w / n }')

    ratio=-
    if [ "$ff_cpu" != - ]; then
        ratio=$(awk -v a="$ff_cpu" -v b="$cold_cpu" \
                'BEGIN { printf "%.1fx", (b > 0 ? a / b : 0) }')
        if awk -v a="$ff_cpu" -v b="$cold_cpu" -v t="$COLD_TARGET" 'BEGIN { exit !(a < t * b) }'
        then
            verdict MISSED "$name: cold parse $cold_cpu ms cpu is not ${COLD_TARGET}x faster\
 than ffprobe's $ff_cpu ms ($ratio)"
        else
            verdict MET "$name: cold parse >= ${COLD_TARGET}x faster than ffprobe ($ratio)"
        fi
    fi
    if awk -v p="$per_track" -v t="$WARM_TARGET_MS" 'BEGIN { exit !(p >= t) }'; then
        verdict MISSED "$name: warm load $per_track ms per track ($src), target < $WARM_TARGET_MS"
    else
        verdict MET "$name: warm load $per_track ms per track < $WARM_TARGET_MS ms ($src)"
    fi
    printf '%-10s %6s %8s | %11s %11s | %9s %9s %7s | %9s %11s\n' "$name" "$ntracks" \
        "$nsamples" "$ff_cpu" "$ff_wall" "$cold_cpu" "$cold_load" "$ratio" "$warm" "$per_track"
    note "$name: index entry $index_kb KiB on disk (fresh cache after one parse)"
done

echo
echo "process startup (ismfs --version, wall): $startup ms; medians of $RUNS runs" \
     "($WARM_RUNS for warm)"
bench_end
