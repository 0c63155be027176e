# shellcheck shell=bash disable=SC2154  # $tmp: each part sets it before timed()
# bench/lib.sh: helpers shared by the parts of bench/run.sh (sourced, never run).
# A part prints its table, then its targets with verdict(), then calls bench_end: exit 0,
# or 1 when a target was missed and BENCH_STRICT=1. Errors of the benchmark itself (a tool
# failed, a check of the output failed) exit 2 whatever BENCH_STRICT says.

BENCH_MISSED=0
BENCH_VERDICTS=()

# bench_fail MESSAGE: the benchmark itself could not run.
bench_fail() {
    echo "bench: $*" >&2
    exit 2
}

# verdict MET|MISSED TEXT...: records one target's outcome (printed by bench_end).
verdict() {
    [ "$1" = MET ] || BENCH_MISSED=1
    BENCH_VERDICTS+=("$(printf '%-7s %s' "$1" "${*:2}")")
}

# note TEXT: an informative line printed with the verdicts.
note() { BENCH_VERDICTS+=("        $*"); }

bench_end() {
    [ ${#BENCH_VERDICTS[@]} -eq 0 ] || printf '%s\n' "${BENCH_VERDICTS[@]}"
    echo
    if [ "$BENCH_MISSED" -ne 0 ] && [ "${BENCH_STRICT:-}" = 1 ]; then
        exit 1
    fi
    exit 0
}

# timed OUT CMD...: runs CMD (stdout discarded, stderr kept in $tmp/err) and appends
# "wall_ms cpu_ms" (cpu = user + sys, of the process and its children) to OUT.
timed() {
    local out=$1 t
    shift
    local TIMEFORMAT='%3R %3U %3S'
    t=$( { time "$@" >/dev/null 2>"$tmp/err"; } 2>&1 ) ||
        bench_fail "failed: $* ($(head -c 300 "$tmp/err"))"
    echo "$t" | awk '{ printf "%.3f %.3f\n", $1 * 1000, ($2 + $3) * 1000 }' >>"$out"
}

# median FILE COLUMN
median() { awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 }
    END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
          else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# field NAME LINE: the value of NAME=VALUE in a line of key=value words.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

# calc EXPR [VAR=VALUE...]: awk arithmetic, e.g. calc 'a / b' a=1 b=2. (OFMT: mawk would
# print numbers past 2^31 as 5.37607e+09.)
calc() {
    local expr=$1
    shift
    local args=()
    for kv in "$@"; do args+=(-v "$kv"); done
    awk -v OFMT='%.15g' "${args[@]}" "BEGIN { print $expr }"
}

# is_true EXPR [VAR=VALUE...]: exit status of an awk comparison.
is_true() {
    local expr=$1
    shift
    local args=()
    for kv in "$@"; do args+=(-v "$kv"); done
    awk "${args[@]}" "BEGIN { exit !($expr) }"
}
