#!/usr/bin/env bash
# `make demo`: mounts the demo asset with ismfs and serves the mount with nginx on 127.0.0.1.
#   build/demo/src/demo/   the asset (scripts/make-demo-asset.sh: 3 H.264 renditions, AAC eng+fra)
#   build/demo/mnt/        the ismfs mount of build/demo/src (cache in build/demo/cache)
#   build/demo/ismfs       the copy of ./ismfs that runs the mount
#   build/demo/nginx/      nginx.conf (examples/nginx.conf with its placeholders filled in), pid
#                          file, logs/, html/ (the player page and shaka-player)
# Prints the URL of every format and of the player page. DEMO_PORT (default 8080) picks the
# port. Running it again restarts both; `make demo-stop` (scripts/demo-stop.sh) stops both.
# Expects ./ismfs built (`make ismfs`) and the packages of scripts/deps.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
D=$root/build/demo
PORT=${DEMO_PORT:-8080}
ISMFS=$root/ismfs

die() { echo "demo: $*" >&2; exit 1; }
[ -x "$ISMFS" ] || die "$ISMFS is missing: run 'make demo' (or 'make ismfs' first)"
for tool in nginx fusermount3 python3 ffmpeg; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/deps.sh"
done
case $PORT in ''|*[!0-9]*) die "DEMO_PORT must be a port number, not '$PORT'" ;; esac

# Idempotent: whatever a previous run left is stopped first.
"$root/scripts/demo-stop.sh"

# The port must be free (SO_REUSEADDR as nginx does, so our own last connections don't count).
if ! python3 - "$PORT" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(('127.0.0.1', int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
then
    die "port $PORT on 127.0.0.1 is in use by another program; pick another: DEMO_PORT=8081 make demo"
fi

"$root/scripts/make-demo-asset.sh"

# The mount, by a copy of ./ismfs: rebuilding ./ismfs while the demo runs stays possible.
mkdir -p "$D/mnt" "$D/cache"
cp "$ISMFS" "$D/ismfs.new" && mv -f "$D/ismfs.new" "$D/ismfs"   # a rename: the old one may still run
"$D/ismfs" "$D/src" "$D/mnt" -o "cache=$D/cache" || die "ismfs could not mount $D/mnt"
for _ in $(seq 50); do
    [ -d "$D/mnt/demo/demo.ism" ] && break
    sleep 0.1
done
[ -d "$D/mnt/demo/demo.ism" ] || { "$root/scripts/demo-stop.sh"; die "the mount shows no demo/demo.ism"; }

# nginx, on the templated config. Root: its workers run as root too (they must read the mount,
# which is the mounting user's only); anyone else: nginx runs as that user and the line goes.
N=$D/nginx
mkdir -p "$N/logs" "$N/tmp" "$N/html"
user_sed="s|@USER@|root|g"
[ "$(id -u)" -eq 0 ] || user_sed='/^user @USER@;/d'
sed -e "s|@PORT@|$PORT|g; s|@ROOT@|$D/mnt|g; s|@PREFIX@|$N|g" -e "$user_sed" \
    "$root/examples/nginx.conf" >"$N/nginx.conf"
cp "$root/examples/player.html" "$N/html/"
for js in shaka-player/dist/shaka-player.compiled.js dashjs/dist/dash.all.min.js dashjs/dist/dash.mss.min.js; do
    if [ -f "$root/tests/node_modules/$js" ]; then
        cp "$root/tests/node_modules/$js" "$N/html/"
    else
        echo "demo: tests/node_modules/$js is missing (scripts/deps.sh installs it): the player page will not play" >&2
    fi
done
if ! out=$(nginx -p "$N" -c "$N/nginx.conf" 2>&1); then
    "$root/scripts/demo-stop.sh"
    die "nginx did not start: $out"
fi
for _ in $(seq 50); do [ -s "$N/nginx.pid" ] && break; sleep 0.1; done
[ -s "$N/nginx.pid" ] || { "$root/scripts/demo-stop.sh"; die "nginx did not start (see $N/logs/error.log)"; }

base=http://127.0.0.1:$PORT/demo/demo.ism
cat <<MSG

ismfs demo: build/demo/src mounted at build/demo/mnt, served by nginx on 127.0.0.1:$PORT

  Smooth           $base/manifest
  DASH (csf)       $base/manifest(format=mpd-time-csf)
  DASH (cmaf)      $base/manifest(format=mpd-time-cmaf)
  HLS v4 (TS)      $base/manifest(format=m3u8-aapl)
  HLS v3 (TS)      $base/manifest(format=m3u8-aapl-v3)
  HLS (CMAF)       $base/manifest(format=m3u8-cmaf)

  Player page      http://127.0.0.1:$PORT/player.html?src=$base/manifest(format=mpd-time-csf)
                   (shaka-player for DASH and HLS, dash.js for Smooth; links to every format)
  Browse           ls 'build/demo/mnt/demo/demo.ism/'

Stop it with: make demo-stop
MSG
