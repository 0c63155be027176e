#!/usr/bin/env bash
# End to end with real clients (issue 4): tests/fixtures mounted with $ISMFS, served by nginx on
# 127.0.0.1, played in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
# by shaka-player 4 (mpd-time-csf, mpd-time-cmaf, m3u8-cmaf, m3u8-aapl) and dash.js 4 MSS
# (Smooth). The checks and their TAP lines are in tests/e2e/play.mjs; this script sets up and
# tears down: the mount, nginx with a config of its own (or examples/nginx.conf when it exists,
# with its @ROOT@/@PORT@/@PREFIX@/@USER@ placeholders filled in, and the test page and
# tests/node_modules added as /e2e/ and /node_modules/), the temp dir.
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
CHROMIUM=/usr/bin/chromium
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$CHROMIUM" ] || bail "$CHROMIUM is not installed (scripts/deps.sh installs Debian's chromium)"
[ -x "$NGINX" ] || bail "nginx is not installed (scripts/deps.sh installs it)"
command -v node >/dev/null || bail "node is not installed (scripts/deps.sh installs it)"
command -v python3 >/dev/null || bail "python3 is not installed (scripts/deps.sh installs it)"
for m in playwright-core shaka-player dashjs; do
    [ -f "$ROOT/tests/node_modules/$m/package.json" ] ||
        bail "npm package $m is missing from tests/node_modules (scripts/deps.sh runs npm ci --prefix tests)"
done

TMP=$(mktemp -d /tmp/ismfs-e2e.XXXXXX) || exit 1
MNT=$TMP/mnt
mkdir -p "$MNT" "$TMP/cache" "$TMP/nginx"
ismfs_pid='' nginx_pid=''
# shellcheck disable=SC2317  # run by the trap
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
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
read -r HEIGHTS FRAMES DURATION < <("$ISMFS" --cache="$TMP/cache" inspect --json "$FIX/$ASSET" |
    python3 -c '
import json, sys
t = json.load(sys.stdin)["tracks"]
v = sorted((x for x in t if x["type"] == "video"), key=lambda x: -x["height"])
print(",".join(str(x["height"]) for x in v), v[0]["sample_count"],
      round(v[0]["duration"] / v[0]["timescale"], 3))') ||
    bail "ismfs inspect --json $ASSET failed"
[ -n "$DURATION" ] || bail "ismfs inspect --json $ASSET: no video tracks"

# The mount (foreground, in the background, bounded in time).
timeout 600 "$ISMFS" "$FIX" "$MNT" -f -o "cache=$TMP/cache" >"$TMP/ismfs.log" 2>&1 &
ismfs_pid=$!
for _ in $(seq 100); do
    grep -q " $MNT fuse" /proc/mounts && break
    kill -0 "$ismfs_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q " $MNT fuse" /proc/mounts || bail "mount failed: $(head -c 500 "$TMP/ismfs.log" | tr '\n' ' ')"

# nginx on a free loopback port: examples/nginx.conf when there is one, else the config below.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
user_line=
# The workers must read the mount, which only the user who mounted it may read.
[ "$(id -u)" -eq 0 ] && user_line="user root;"
write_conf() {  # PORT
    if [ -f "$ROOT/examples/nginx.conf" ] && [ -z "${E2E_OWN_NGINX_CONF:-}" ]; then
        # The shipped example, with the test page and the players' scripts added in (prefix
        # locations with ^~ win over the example's regex locations).
        mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
        sed -e "/^ *root @ROOT@;/a\\
        location ^~ /e2e/ { alias $ROOT/tests/e2e/; }\\
        location ^~ /node_modules/ { alias $ROOT/tests/node_modules/; }" \
            -e "s|@ROOT@|$MNT|g; s|@PORT@|$1|g; s|@PREFIX@|$TMP/nginx|g; s|@USER@|$(id -un)|g" \
            "$ROOT/examples/nginx.conf" >"$TMP/nginx/nginx.conf"
        grep -q "location ^~ /e2e/" "$TMP/nginx/nginx.conf" ||
            bail "examples/nginx.conf has no 'root @ROOT@;' line to add the test page after"
        return
    fi
    cat >"$TMP/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 64; }
http {
    access_log $TMP/nginx/access.log;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    sendfile on;
    types {
        text/html html;
        application/javascript js mjs;
        application/json json map;
        video/mp4 mp4;
    }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$1;
        root $MNT;
        add_header Access-Control-Allow-Origin * always;
        location ^~ /e2e/ { alias $ROOT/tests/e2e/; }
        location ^~ /node_modules/ { alias $ROOT/tests/node_modules/; }
        # The virtual names of NAME.ism/ (no extensions): first match wins.
        location ~* "/manifest\\(.*format=mpd-time-(csf|cmaf)[^/]*$" {
            types { } default_type application/dash+xml;
        }
        location ~* "/Fragments\\([^/]*format=m3u8-aapl[^/]*$" {
            types { } default_type video/mp2t;
        }
        location ~* "/(manifest|Manifest)\\([^/]*format=m3u8-[^/]*$" {
            types { } default_type application/vnd.apple.mpegurl;
        }
        location ~* "/Fragments\\([^/]*$" {
            types { } default_type video/mp4;
        }
        location ~* "\\.ism/manifest$" {
            types { } default_type application/vnd.ms-sstr+xml;
        }
    }
}
EOF
}
PORT=
for _ in 1 2 3; do
    p=$(free_port) || bail "no free port"
    write_conf "$p"
    "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" -g 'daemon off;' \
        >"$TMP/nginx/stdout.log" 2>&1 &
    nginx_pid=$!
    for _ in $(seq 50); do
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).read()' \
            "http://127.0.0.1:$p/$ASSET/manifest" 2>/dev/null && { PORT=$p; break; }
        kill -0 "$nginx_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$PORT" ] && break
    kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; nginx_pid=
done
[ -n "$PORT" ] || bail "nginx did not serve $ASSET/manifest: $(cat "$TMP/nginx/stdout.log" "$TMP/nginx/error.log" 2>/dev/null | tail -5 | tr '\n' ' ')"

fail=0
t0=$(date +%s.%N)
node "$ROOT/tests/e2e/play.mjs" --base "http://127.0.0.1:$PORT" --asset "$ASSET" \
    --heights "$HEIGHTS" --frames "$FRAMES" --duration "$DURATION" --rate 4 --timeout 60 \
    ${1:+--only "$1"} || fail=1
echo "# players: $(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 1))") s"
if [ "$fail" -ne 0 ]; then
    echo "# nginx errors:"
    cat "$TMP/nginx/error.log" "$TMP/nginx/logs/error.log" 2>/dev/null | tail -5 | sed 's/^/#   /'
fi

# The daemon under test (an ASan build in make check) must have reported nothing.
kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; nginx_pid=
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
