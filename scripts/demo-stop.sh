#!/usr/bin/env bash
# Stops what scripts/demo.sh started: the demo's nginx (by its pid file) and the ismfs mount at
# build/demo/mnt. Quiet, and successful, when nothing runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
D=$root/build/demo

# nginx: the pid in its pid file, if that process is still the demo's nginx master.
pidfile=$D/nginx/nginx.pid
if [ -s "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "nginx.*$D/nginx"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        if [ -d "/proc/$pid" ]; then
            echo "demo-stop: nginx $pid did not stop on TERM; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
fi

# The mount (also a dead one: "Transport endpoint is not connected").
mnt=$D/mnt
mounted() { awk -v m="${mnt// /\\040}" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }
if mounted; then
    for _ in $(seq 20); do
        fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || true
        mounted || break
        sleep 0.25
    done
    if mounted; then
        echo "demo-stop: $mnt is busy; detaching it lazily" >&2
        fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt"
    fi
fi
# The ismfs daemon ends once unmounted: wait for it (a few seconds at most).
for _ in $(seq 50); do
    pgrep -f "^$D/ismfs $D/src " >/dev/null || break
    sleep 0.1
done
exit 0
