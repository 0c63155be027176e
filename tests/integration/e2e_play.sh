#!/usr/bin/env bash
# End to end with real clients (issue 4): tests/fixtures mounted with $ISMFS, served by nginx on
# 127.0.0.1, played in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
# by shaka-player 4 (mpd-time-csf, mpd-time-cmaf, m3u8-cmaf, m3u8-aapl) and dash.js 4 MSS
# (Smooth). The checks and their TAP lines are in tests/e2e/play.mjs; this script sets up and
# tears down: the mount, nginx with a config of its own (or examples/nginx.conf when it exists,
# with its @ROOT@/@PORT@/@PREFIX@/@USER@ placeholders filled in, and the test page and
# tests/node_modules added as /e2e/ and /node_modules/; tests/lib/e2e_lib.sh, shared with
# e2e_origin.sh and e2e_filters.sh), the temp dir.
# Skips (77) only without /dev/fuse; a missing chromium, nginx or npm package is a failure
# (scripts/deps.sh installs them). Then it checks the daemon logged no sanitizer report.
#   ISMFS=/tmp/b/asan/ismfs bash tests/integration/e2e_play.sh [FORMAT,...]
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD
FIX=$ROOT/tests/fixtures
ASSET=ladder/ladder.ism
ISMFS=${ISMFS_ABS:-${ISMFS:-build/asan/ismfs}}

bail() { echo "not ok - $*"; exit 1; }
[ -e /dev/fuse ] || { echo "no /dev/fuse: cannot mount"; exit 77; }
[ -x "$ISMFS" ] || bail "ismfs binary '$ISMFS' is missing (make asan, or set ISMFS)"
ISMFS=$(realpath "$ISMFS")
if [ ! -f "$FIX/.stamp" ] || [ ! -f "$FIX/$ASSET" ]; then
    bail "no fixtures in $FIX (run tests/make-fixtures.sh)"
fi
# shellcheck source=tests/lib/e2e_lib.sh
source "$ROOT/tests/lib/e2e_lib.sh"
e2e_need

TMP=$(mktemp -d /tmp/ismfs-e2e.XXXXXX) || exit 1
MNT=$TMP/mnt
mkdir -p "$MNT" "$TMP/cache" "$TMP/nginx"
ismfs_pid=''
# shellcheck disable=SC2317  # run by the trap
cleanup() {
    e2e_nginx_stop
    if grep -q " $MNT fuse" /proc/mounts; then
        fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
    fi
    if [ -n "$ismfs_pid" ]; then
        for _ in $(seq 50); do kill -0 "$ismfs_pid" 2>/dev/null || break; sleep 0.1; done
        kill "$ismfs_pid" 2>/dev/null
        wait "$ismfs_pid" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# What the fixture is: video heights (top first), its frame count and duration.
e2e_ladder_info "$FIX/$ASSET" "$TMP/cache"

# The mount (foreground, in the background, bounded in time).
timeout 600 "$ISMFS" "$FIX" "$MNT" -f -o "cache=$TMP/cache" >"$TMP/ismfs.log" 2>&1 &
ismfs_pid=$!
for _ in $(seq 100); do
    grep -q " $MNT fuse" /proc/mounts && break
    kill -0 "$ismfs_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q " $MNT fuse" /proc/mounts || bail "mount failed: $(head -c 500 "$TMP/ismfs.log" | tr '\n' ' ')"

# nginx on a free loopback port (tests/lib/e2e_lib.sh).
e2e_nginx_start "$MNT" "$ASSET/manifest"

fail=0
e2e_play --asset "$ASSET" --heights "$HEIGHTS" --frames "$FRAMES" --duration "$DURATION" \
    --rate 4 --timeout 60 ${1:+--only "$1"} || fail=1

# The daemon under test (an ASan build in make check) must have reported nothing.
e2e_nginx_stop
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
for _ in $(seq 100); do kill -0 "$ismfs_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$ismfs_pid" 2>/dev/null; then
    echo "not ok - ismfs exits after the unmount"; fail=1
else
    wait "$ismfs_pid"; rc=$?; ismfs_pid=
    if [ "$rc" -eq 0 ] && ! grep -q 'Sanitizer\|runtime error:' "$TMP/ismfs.log"; then
        echo "ok - ismfs served the players with no sanitizer report and exited 0"
    else
        echo "not ok - ismfs exited $rc or reported: $(grep -m3 'Sanitizer\|runtime error:\|ERROR' "$TMP/ismfs.log" | tr '\n' ' ')"
        fail=1
    fi
fi
exit "$fail"
