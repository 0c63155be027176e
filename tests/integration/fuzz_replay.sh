#!/usr/bin/env bash
# Replays every committed fuzz input (tests/fuzz/corpus/TARGET/* and the crashers that were
# fixed, tests/fuzz/regress/TARGET/*) through the fuzz targets built without libFuzzer: gcc,
# ASan+UBSan, tests/fuzz/replay_main.c ($(BUILD)/asan/fuzz/fuzz_TARGET, made by `make check`
# or `make fuzz-replay`). One TAP line per input directory; a sanitizer report, a broken
# promise (FUZZ_CHECK) or a crash is "not ok" with the input's name. No mount, no FUSE.
# Run alone: ISMFS=/tmp/b/asan/ismfs bash tests/integration/fuzz_replay.sh
# (FUZZ_BIN_DIR overrides where the targets are: the directory `fuzz` beside $ISMFS).
set -u
cd "$(dirname "$0")/../.." || exit 1
ISMFS=${ISMFS_ABS:-${ISMFS:-build/asan/ismfs}}
BIN=${FUZZ_BIN_DIR:-$(dirname "$ISMFS")/fuzz}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1"
fail=0
ran=0
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    t=${t#fuzz_}
    if [ ! -x "$BIN/fuzz_$t" ]; then
        echo "not ok - fuzz_$t: $BIN/fuzz_$t is missing (make fuzz-replay)"
        fail=1
        continue
    fi
    for kind in corpus regress; do
        dir=tests/fuzz/$kind/$t
        [ -d "$dir" ] || continue
        n=$(find "$dir" -maxdepth 1 -type f | wc -l)
        [ "$n" -gt 0 ] || continue
        log=$(mktemp)
        if "$BIN/fuzz_$t" "$dir" >"$log" 2>&1 && grep -q "^replayed $n inputs" "$log"; then
            echo "ok - fuzz_$t replays $dir ($n inputs)"
        else
            last=$(grep '^replay: ' "$log" | tail -1 | sed 's/^replay: //')
            why=$(grep -m1 -E 'ERROR: AddressSanitizer|runtime error|broken promise|SUMMARY' "$log")
            echo "not ok - fuzz_$t on $dir: ${last:-?}: ${why:-exit status not 0}"
            sed 's/^/# /' "$log" | tail -30
            fail=1
        fi
        rm -f "$log"
        ran=$((ran + 1))
    done
done
[ "$ran" -gt 0 ] || { echo "not ok - no fuzz input was replayed"; fail=1; }
exit $fail
