#!/usr/bin/env bash
# ismfs benchmarks: each part prints one table and its targets (MET / MISSED).
# What each part measures and why: bench/README.md.
#   make bench                     builds ./ismfs and the bench programs, generates
#                                  tests/fixtures/long/ once, then runs this
#   bench/run.sh [PART...]         PART: index (media index), pack (packaging), serve (nginx
#                                  over the mount), scale (10 000-asset catalog, 2-hour
#                                  listing, RSS); default: all four, in that order
# Environment: BENCH_STRICT=1 exits 1 when a target is missed (otherwise the verdicts are
# only printed); the knobs of each part are listed at the top of bench/PART.sh.
# Exit: 0, 1 (BENCH_STRICT=1 and a target missed), 2 (a part could not run).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(index pack serve scale)
for p in "${parts[@]}"; do
    case $p in
    index | pack | serve | scale) ;;
    *) echo "bench: unknown part '$p' (index, pack, serve, scale)" >&2; exit 2 ;;
    esac
done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "ismfs benchmarks $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores (${cpu:-unknown CPU})," \
     "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
     "$(uname -sr); $(${CC:-cc} --version 2>/dev/null | head -1); load average" \
     "$(cut -d' ' -f1-3 /proc/loadavg)"
echo

status=0
for p in "${parts[@]}"; do
    bash "bench/$p.sh"
    rc=$?
    if [ "$rc" -eq 1 ]; then
        [ "$status" -eq 2 ] || status=1
    elif [ "$rc" -ne 0 ]; then
        echo "bench: part '$p' could not run (exit $rc)" >&2
        status=2
    fi
done
exit "$status"
