#!/usr/bin/env bash
# Runs libFuzzer targets one after the other (`make fuzz`; tests/fuzz/README.md).
#   FUZZ_DIR=build/fuzz FUZZ_SECONDS=60 tests/fuzz/run.sh TARGET...
# Each target TARGET ($FUZZ_DIR/fuzz_TARGET) runs for FUZZ_SECONDS under `nice -n 19` on one
# core, over a working corpus in $FUZZ_DIR/corpus/TARGET (kept between runs: it grows)
# seeded from tests/fuzz/corpus/TARGET and tests/fuzz/regress/TARGET (and, for mp4, the
# first 64 KiB of each fixture: the moov of a faststart file). A crash, leak, timeout or
# out-of-memory input lands in $FUZZ_DIR/artifacts/TARGET/; then this script says which and
# exits 1 after the remaining targets ran. One summary line per target goes to stdout and
# to $FUZZ_DIR/summary.txt: target, seconds, executions, corpus size, result.
set -u
cd "$(dirname "$0")/../.."
FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
fail=0
for t in "$@"; do
    bin=$FUZZ_DIR/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz: $bin is missing (make fuzz-build)" >&2; fail=1; continue; }
    work=$FUZZ_DIR/corpus/$t art=$FUZZ_DIR/artifacts/$t/
    mkdir -p "$work" "$art"
    for d in tests/fuzz/corpus/$t tests/fuzz/regress/$t; do
        [ -d "$d" ] && cp -n "$d"/* "$work"/ 2>/dev/null
    done
    if [ "$t" = mp4 ] && [ -d tests/fixtures ]; then
        for f in tests/fixtures/*.mp4 tests/fixtures/ladder/*.mp4; do
            [ -f "$f" ] && head -c 65536 "$f" >"$work/fixture_$(basename "$f")"
        done
    fi
    dict=(); [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    log=$FUZZ_DIR/fuzz_$t.log
    echo "fuzz: $t for ${FUZZ_SECONDS}s (log: $log)" >&2
    # -rss_limit_mb: the writers may allocate a segment of a few MB; anything near 2 GB is a bug
    nice -n 19 "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=25 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$art" "${dict[@]}" \
        "$work" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    files=$(find "$work" -type f | wc -l)
    result=clean
    if [ "$rc" -ne 0 ]; then
        result="FAILED (rc $rc: $(ls "$art" | head -3 | tr '\n' ' '))"
        fail=1
    fi
    line="$t: ${FUZZ_SECONDS}s, runs/secs: ${runs:-?}, corpus $files files, $result"
    echo "$line" | tee -a "$FUZZ_DIR/summary.txt"
done
exit $fail
