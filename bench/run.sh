#!/usr/bin/env bash
# Media index benchmark: opening the 2-hour asset cold (parse, fresh LMDB cache) and warm
# (from the index), next to ffprobe listing the same packets. What and why: bench/README.md.
#   make bench     (generates tests/fixtures/long/ once and builds ./ismfs first)
#   bench/run.sh   environment: ISMFS (default ./ismfs), RUNS (default 5), BENCH_STRICT=1
#                  (exit 1 when a target is missed)
set -euo pipefail
cd "$(dirname "$0")/.."
ISMFS=${ISMFS:-./ismfs}
RUNS=${RUNS:-5}
WARM_RUNS=$((RUNS * 4))
DIR=tests/fixtures/long
COLD_TARGET=20          # cold parse at least this many times faster than ffprobe -show_packets
WARM_TARGET_MS=1        # warm load per track below this

[ -x "$ISMFS" ] || { echo "bench: no ismfs binary at $ISMFS (make ismfs)" >&2; exit 1; }
[ -f "$DIR/.stamp" ] || { echo "bench: no $DIR (tests/make-fixtures.sh --long)" >&2; exit 1; }
for tool in ffprobe python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/ismfs-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# timed OUT CMD...: runs CMD (stdout discarded, stderr kept in $tmp/err) and appends
# "wall_ms cpu_ms" (cpu = user + sys, of the process and its children) to OUT.
timed() {
    local out=$1 t
    shift
    local TIMEFORMAT='%3R %3U %3S'
    t=$( { time "$@" >/dev/null 2>"$tmp/err"; } 2>&1 ) || {
        echo "bench: failed: $* ($(head -c 300 "$tmp/err"))" >&2
        exit 1
    }
    echo "$t" | awk '{ printf "%.3f %.3f\n", $1 * 1000, ($2 + $3) * 1000 }' >>"$out"
}

# median FILE COLUMN
median() { awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 }
    END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
          else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# load_ms: the load_ms=X field of the last run's stats line, empty when ismfs has none.
load_ms() { sed -n 's/^index: .*load_ms=\([0-9.]*\).*/\1/p' "$tmp/err" | tail -1; }

# stat_field NAME: parsed / index_hits of the last run.
stat_field() { sed -n "s/^index: .*$1=\\([0-9]*\\).*/\\1/p" "$tmp/err" | tail -1; }

# Process startup + LMDB-free exit, to subtract from wall clocks when there is no load_ms.
: >"$tmp/startup"
for _ in $(seq "$WARM_RUNS"); do timed "$tmp/startup" "$ISMFS" --version; done
startup=$(median "$tmp/startup" 1)

printf '%-10s %6s %8s | %11s %11s | %9s %9s %7s | %9s %11s\n' file tracks samples \
    'ffprobe cpu' 'ffprobe wall' 'cold cpu' 'cold load' ratio 'warm load' 'warm/track'
printf '%-10s %6s %8s | %11s %11s | %9s %9s %7s | %9s %11s\n' '' '' '' ms ms ms ms '' ms ms

missed=0
rows=()
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
        [ "$(stat_field parsed)" != 0 ] || { echo "bench: cold run did not parse" >&2; exit 1; }
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
        [ "$(stat_field parsed)" = 0 ] || { echo "bench: warm run parsed" >&2; exit 1; }
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
            rows+=("MISSED  $name: cold parse $cold_cpu ms cpu is not ${COLD_TARGET}x faster\
 than ffprobe's $ff_cpu ms ($ratio)")
            missed=1
        else
            rows+=("met     $name: cold parse >= ${COLD_TARGET}x faster than ffprobe ($ratio)")
        fi
    fi
    if awk -v p="$per_track" -v t="$WARM_TARGET_MS" 'BEGIN { exit !(p >= t) }'; then
        rows+=("MISSED  $name: warm load $per_track ms per track ($src), target < $WARM_TARGET_MS")
        missed=1
    else
        rows+=("met     $name: warm load $per_track ms per track < $WARM_TARGET_MS ms ($src)")
    fi
    printf '%-10s %6s %8s | %11s %11s | %9s %9s %7s | %9s %11s\n' "$name" "$ntracks" \
        "$nsamples" "$ff_cpu" "$ff_wall" "$cold_cpu" "$cold_load" "$ratio" "$warm" "$per_track"
    rows+=("        $name: index entry $index_kb KiB on disk (fresh cache after one parse)")
done

echo
echo "process startup (ismfs --version, wall): $startup ms; medians of $RUNS runs" \
     "($WARM_RUNS for warm)"
printf '%s\n' "${rows[@]}"
if [ "$missed" -ne 0 ] && [ "${BENCH_STRICT:-}" = 1 ]; then
    exit 1
fi
