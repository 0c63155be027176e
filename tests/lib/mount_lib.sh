# shellcheck shell=bash
# Shared part of tests/integration/mount_*.sh (sourced, not run): real `ismfs SRC MNT` mounts
# of tests/fixtures (or of a private copy), each in a private temporary folder, under a timeout,
# unmounted on exit whatever happens.
#
# After sourcing: ROOT (the repository), ISMFS (absolute path of the binary under test: $ISMFS
# of tests/run.sh), FIX (tests/fixtures), TMP (removed on exit); ok/not_ok print TAP lines
# (not_ok sets fail=1); bail prints one "not ok" and exits 1; a missing /dev/fuse exits 77
# (skip; tests/run.sh makes that a failure under CI=true).
#
# Mounts: mount_fg SRC MNT [OPTS] runs `ismfs SRC MNT -f -o OPTS` in the background (stderr in
# $MNT.log, pid of its `timeout` wrapper in MPID[$MNT]); mount_daemon SRC MNT [OPTS] is the
# plain daemonizing form. OPTS defaults to cache=$TMP/cache. unmount MNT unmounts and waits for
# the daemon to end. On exit every mount still up is unmounted (fusermount3 -u, then umount -l),
# every daemon still alive is killed by its pid, and a sanitizer report written by any ismfs
# process (ASAN_OPTIONS/UBSAN_OPTIONS log_path, set here) is a failure: a daemon's stderr is gone
# once it daemonizes, and a mount's errors are seen by no one else.
#
# Run one test on its own: ISMFS=/tmp/b/asan/ismfs bash tests/integration/mount_read.sh
# (KEEP_TMP=1 keeps the temporary folder for a look).
set -u
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD
FIX=$ROOT/tests/fixtures
LADDER=ladder/ladder.ism

fail=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fail=1; }
bail()   { echo "not ok - $*"; exit 1; }
# check WHAT CMD...: ok when CMD succeeds, else not ok with the first line of its output.
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what: $(printf %s "$out" | head -c 300 | tr '\n' ' ')"; fi
}

if [ ! -c /dev/fuse ]; then
    echo "# /dev/fuse is missing: the mount tests need FUSE (a container without --device /dev/fuse?)"
    echo "/dev/fuse is missing"
    exit 77
fi
ISMFS=${ISMFS_ABS:-${ISMFS:-build/asan/ismfs}}
[ -x "$ISMFS" ] || bail "ismfs binary '$ISMFS' is missing (make asan, or set ISMFS)"
ISMFS=$(realpath "$ISMFS")
[ -f "$FIX/.stamp" ] && [ -f "$FIX/$LADDER" ] ||
    bail "no fixtures in $FIX (run tests/make-fixtures.sh)"

# need TOOL...: each must be on PATH.
need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || bail "$t is not installed (scripts/deps.sh installs it)"
    done
}
need fusermount3 timeout python3 cmp

TMP=$(mktemp -d /tmp/ismfs-mount.XXXXXX) || exit 1
# Sanitizer reports of every ismfs process (the mounts' included) go to files, checked on exit.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}:log_path=$TMP/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$TMP/sanitizer"
# Longest a mount may live (a hung test still ends) and a single command may take.
MOUNT_TIMEOUT=${MOUNT_TIMEOUT:-600}
declare -A MPID=()          # mountpoint -> pid of the `timeout` running `ismfs -f`
declare -a EXTRA_PIDS=()    # other processes to end on exit (daemons found by mountpoint)

# ism ARGS...: ismfs (no mount) with a cache of its own, separate from every mount's.
ism() { "$ISMFS" --cache="$TMP/cat-cache" "$@"; }

# is_mounted MNT: MNT is an ismfs mount (in /proc/mounts).
is_mounted() { awk -v m="$1" '$2 == m && $3 == "fuse.ismfs" { f = 1 } END { exit !f }' /proc/mounts; }

# daemon_pid MNT: pid of the ismfs process serving MNT (found by its command line).
daemon_pid() {
    local p
    for p in /proc/[0-9]*; do
        tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF "$1" || continue
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$ISMFS" ] || continue
        echo "${p#/proc/}"
        return 0
    done
    return 1
}

# wait_mounted MNT SECONDS: until MNT is mounted and answers stat.
wait_mounted() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        is_mounted "$1" && stat "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# mount_fg SRC MNT [OPTS]: `ismfs SRC MNT -f -o OPTS` in the background, stderr in MNT.log.
mount_fg() {
    local src=$1 mnt=$2 opts=${3:-cache=$TMP/cache}
    mkdir -p "$mnt"
    timeout -k 5 "$MOUNT_TIMEOUT" "$ISMFS" "$src" "$mnt" -f -o "$opts" 2>"$mnt.log" &
    MPID[$mnt]=$!
    if ! wait_mounted "$mnt" 20; then
        not_ok "ismfs $src $mnt -f -o $opts: not mounted after 20 s: $(head -c 300 "$mnt.log")"
        return 1
    fi
}

# mount_daemon SRC MNT [OPTS]: the daemonizing form; returns once mounted.
mount_daemon() {
    local src=$1 mnt=$2 opts=${3:-cache=$TMP/cache} p
    mkdir -p "$mnt"
    if ! timeout 30 "$ISMFS" "$src" "$mnt" -o "$opts" >"$mnt.log" 2>&1; then
        not_ok "ismfs $src $mnt -o $opts failed: $(head -c 300 "$mnt.log")"
        return 1
    fi
    p=$(daemon_pid "$mnt") && EXTRA_PIDS+=("$p")
    wait_mounted "$mnt" 20 || { not_ok "ismfs $src $mnt: not mounted after 20 s"; return 1; }
}

# unmount MNT: fusermount3 -u (retried while busy), then waits up to 20 s for the daemon to end
# (its leak check runs at exit). Returns 1 when MNT could not be unmounted cleanly.
unmount() {
    local mnt=$1 i p rc=0
    p=$(daemon_pid "$mnt") || p=
    for ((i = 0; i < 20; i++)); do
        is_mounted "$mnt" || break
        fusermount3 -u "$mnt" 2>/dev/null && break
        sleep 0.25
    done
    if is_mounted "$mnt"; then
        rc=1
        fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
    fi
    for ((i = 0; i < 200; i++)); do
        [ -n "$p" ] && kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    if [ -n "${MPID[$mnt]:-}" ]; then
        wait "${MPID[$mnt]}" 2>/dev/null
        unset "MPID[$mnt]"
    fi
    return $rc
}

# sanitizer_check: reports written so far are failures (once per report file).
sanitizer_check() {
    local f
    for f in "$TMP"/sanitizer.*; do
        [ -e "$f" ] || continue
        not_ok "sanitizer report from an ismfs process ($f): $(grep -m3 -E 'ERROR|SUMMARY|runtime error' "$f" | tr '\n' ' ' | head -c 400)"
        mv "$f" "$f.seen"
    done
}

cleanup() {
    local m p rc=$?
    trap - EXIT INT TERM
    while read -r _ m t _; do
        [ "$t" = fuse.ismfs ] && [[ "$m" == "$TMP"/* ]] || continue
        fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done </proc/mounts
    for p in "${MPID[@]}" "${EXTRA_PIDS[@]+"${EXTRA_PIDS[@]}"}"; do
        kill -0 "$p" 2>/dev/null && sleep 1 && kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
    done
    wait 2>/dev/null
    sanitizer_check
    if grep -q " $TMP/[^ ]* fuse" /proc/mounts; then
        echo "not ok - a mount under $TMP is left behind"
        rc=1
    else
        if [ -n "${KEEP_TMP:-}" ]; then
            echo "# KEEP_TMP: $TMP kept"
        else
            chmod -R u+w "$TMP" 2>/dev/null
            rm -rf "$TMP"
        fi
    fi
    [ "$fail" -eq 0 ] || rc=1
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# farm DEST: a tree like tests/fixtures (long/, made by `make bench`, left out unless
# MOUNT_FULL=1: its 2-hour asset makes a walk of the mount slow) of hard links
# to its files (same bytes, sizes and mtimes; copies where links are impossible). Replace a
# file by a new one (cp to a temp name + mv) rather than writing into it: a write would change
# tests/fixtures too.
farm() {
    local e
    mkdir -p "$1"
    for e in "$FIX"/* "$FIX"/.[!.]*; do
        [ -e "$e" ] || continue
        [ "$(basename "$e")" = long ] && [ "${MOUNT_FULL:-0}" != 1 ] && continue
        cp -al "$e" "$1/" 2>/dev/null || cp -a "$e" "$1/" || bail "cannot copy $e to $1"
    done
}

# replace FILE FROM: FILE gets the bytes of FROM as a new inode (temp + rename), like a
# storage sync would do.
replace() { cp "$2" "$1.tmp$$" && mv -f "$1.tmp$$" "$1"; }
