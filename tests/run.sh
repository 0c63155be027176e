#!/usr/bin/env bash
# Runs every suite and ends with one line: "N passed, N failed[, N skipped]".
#   tests/run.sh UNIT_BINARY...     (make check passes the unit test binaries)
# Unit tests are cmocka programs; their "[  PASSED  ] n" / "[  FAILED  ] n" lines are
# summed. Integration tests are tests/integration/*.sh printing TAP-style
# "ok - what" / "not ok - what" lines; exit 77 means skipped (a failure under CI=true).
# Environment: ISMFS (binary under test), TESTS (a pattern: run only matching suites).
set -u
cd "$(dirname "$0")/.."
export ISMFS="${ISMFS:-build/asan/ismfs}"
export ISMFS_ABS; ISMFS_ABS="$(realpath "$ISMFS")"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# the official DASH schema lives in the team's shared folder beside the repository
if [ -z "${MPD_SCHEMA_DIR:-}" ] && [ -d ../shared/schema ]; then
    export MPD_SCHEMA_DIR; MPD_SCHEMA_DIR="$(realpath ../shared/schema)"
fi
logdir=build/test-logs
mkdir -p "$logdir"
passed=0 failed=0 skipped=0
failures=()

for bin in "$@"; do
    name=$(basename "$bin")
    [[ -n "${TESTS:-}" && "$name" != *${TESTS}* ]] && continue
    log="$logdir/$name.log"
    "$bin" >"$log" 2>&1
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    p=${p:-0} f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer abort
    passed=$((passed + p)) failed=$((failed + f))
    printf '%-36s %3d passed, %d failed\n' "$name" "$p" "$f"
    [ "$f" -eq 0 ] || failures+=("$name (see $log)")
done

for t in tests/integration/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    [[ -n "${TESTS:-}" && "$name" != *${TESTS}* ]] && continue
    log="$logdir/$name.log"
    timeout 900 bash "$t" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -eq 77 ]; then
        if [ "${CI:-}" = true ]; then f=$((f + 1)); failures+=("$name: skipped under CI"); else skipped=$((skipped + 1)); fi
        printf '%-36s skipped (%s)\n' "$name" "$(tail -1 "$log")"
        continue
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)) failed=$((failed + f))
    printf '%-36s %3d passed, %d failed\n' "$name" "$p" "$f"
    if [ "$f" -ne 0 ]; then
        failures+=("$name (see $log)")
        grep '^not ok ' "$log" | head -20 | sed 's/^/    /'
    fi
done

for x in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $x"; done
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
