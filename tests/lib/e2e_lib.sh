# shellcheck shell=bash
# Shared part of the end-to-end tests with real players (tests/integration/e2e_*.sh; sourced,
# not run): nginx on 127.0.0.1 in front of a folder (an ismfs mount, or a copy of one), the test
# page and the players' scripts beside it, and tests/e2e/play.mjs driving headless Chromium.
#
# Needs, before sourcing: ROOT (the repository), TMP (a private temp folder, removed on exit),
# ISMFS (absolute path of the binary under test), bail (prints one "not ok" and exits 1).
#   e2e_need                     chromium, nginx, node, python3 and the npm packages, or bail
#   e2e_ladder_info ISM CACHE    what an asset is: HEIGHTS (top first), FRAMES and DURATION of the
#                                top video rendition, VIDEO_NAME, VIDEO_TIMESCALE, VIDEO_SRC
#   e2e_nginx_start DOCROOT PROBE  nginx serving DOCROOT on a free port: sets PORT and nginx_pid;
#                                bails unless DOCROOT/PROBE is served
#   e2e_nginx_stop               stops it (the trap must call this: see e2e_trap_mount_lib)
#   e2e_play ARGS...             node tests/e2e/play.mjs --base http://127.0.0.1:$PORT ARGS...
#                                (under a timeout); its status
# nginx's config is examples/nginx.conf (or the template $E2E_NGINX_CONF) with its @ROOT@,
# @PORT@, @PREFIX@ and @USER@ placeholders filled in, the test page and tests/node_modules added
# as /e2e/ and /node_modules/; or, with E2E_OWN_NGINX_CONF=1 or without that file, the minimal
# one below.
CHROMIUM=/usr/bin/chromium
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
nginx_pid=''
PORT=''

e2e_need() {
    local m
    [ -x "$CHROMIUM" ] || bail "$CHROMIUM is not installed (scripts/deps.sh installs Debian's chromium)"
    [ -x "$NGINX" ] || bail "nginx is not installed (scripts/deps.sh installs it)"
    command -v node >/dev/null || bail "node is not installed (scripts/deps.sh installs it)"
    command -v python3 >/dev/null || bail "python3 is not installed (scripts/deps.sh installs it)"
    for m in playwright-core shaka-player dashjs; do
        [ -f "$ROOT/tests/node_modules/$m/package.json" ] ||
            bail "npm package $m is missing from tests/node_modules (scripts/deps.sh runs npm ci --prefix tests)"
    done
}

# e2e_ladder_info ISM CACHE: from `ismfs inspect --json ISM`.
e2e_ladder_info() {
    # shellcheck disable=SC2034  # used by the tests
    read -r HEIGHTS FRAMES DURATION VIDEO_NAME VIDEO_TIMESCALE VIDEO_SRC < <(
        "$ISMFS" --cache="$2" inspect --json "$1" | python3 -c '
import json, sys
t = json.load(sys.stdin)["tracks"]
v = sorted((x for x in t if x["type"] == "video"), key=lambda x: -x["height"])
print(",".join(str(x["height"]) for x in v), v[0]["sample_count"],
      round(v[0]["duration"] / v[0]["timescale"], 3), v[0]["name"], v[0]["timescale"], v[0]["src"])') ||
        bail "ismfs inspect --json $1 failed"
    [ -n "${DURATION:-}" ] || bail "ismfs inspect --json $1: no video tracks"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# e2e_write_conf DOCROOT PORT: $TMP/nginx/nginx.conf (E2E_KEYS_DIR=DIR: DIR's files served
# at /e2e-keys/, e.g. the AES-128 key files a mount's key_uri=/e2e-keys/{kid} names)
e2e_write_conf() {
    local docroot=$1 port=$2 user_line='' template=${E2E_NGINX_CONF:-$ROOT/examples/nginx.conf}
    local keys=${E2E_KEYS_DIR:-$TMP/no-keys}
    mkdir -p "$TMP/nginx"
    if [ -f "$template" ] && [ -z "${E2E_OWN_NGINX_CONF:-}" ]; then
        # The shipped example, with the test page and the players' scripts added in (prefix
        # locations with ^~ win over the example's regex locations).
        mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
        sed -e "/^ *root @ROOT@;/a\\
        location ^~ /e2e/ { alias $ROOT/tests/e2e/; }\\
        location ^~ /e2e-keys/ { alias $keys/; }\\
        location ^~ /node_modules/ { alias $ROOT/tests/node_modules/; }" \
            -e "s|@ROOT@|$docroot|g; s|@PORT@|$port|g; s|@PREFIX@|$TMP/nginx|g; s|@USER@|$(id -un)|g" \
            "$template" >"$TMP/nginx/nginx.conf"
        grep -q "location ^~ /e2e/" "$TMP/nginx/nginx.conf" ||
            bail "$template has no 'root @ROOT@;' line to add the test page after"
        return
    fi
    # The workers must read the mount, which only the user who mounted it may read.
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
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
        listen 127.0.0.1:$port;
        root $docroot;
        add_header Access-Control-Allow-Origin * always;
        location ^~ /e2e/ { alias $ROOT/tests/e2e/; }
        location ^~ /e2e-keys/ { alias $keys/; }
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

# e2e_nginx_start DOCROOT PROBE: nginx on a free loopback port (three tries), until it serves
# DOCROOT/PROBE.
e2e_nginx_start() {
    local p
    PORT=
    for _ in 1 2 3; do
        p=$(free_port) || bail "no free port"
        e2e_write_conf "$1" "$p"
        "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" -g 'daemon off;' \
            >"$TMP/nginx/stdout.log" 2>&1 &
        nginx_pid=$!
        for _ in $(seq 50); do
            python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).read()' \
                "http://127.0.0.1:$p/$2" 2>/dev/null && { PORT=$p; break; }
            kill -0 "$nginx_pid" 2>/dev/null || break
            sleep 0.1
        done
        [ -n "$PORT" ] && break
        kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; nginx_pid=
    done
    [ -n "$PORT" ] || bail "nginx did not serve $2: $(cat "$TMP/nginx/stdout.log" "$TMP/nginx/error.log" 2>/dev/null | tail -5 | tr '\n' ' ')"
}

e2e_nginx_stop() {
    if [ -n "$nginx_pid" ]; then
        kill "$nginx_pid" 2>/dev/null
        wait "$nginx_pid" 2>/dev/null
        nginx_pid=
    fi
    return 0
}

# e2e_nginx_errors: the last lines of nginx's error log, as diagnostics.
e2e_nginx_errors() {
    echo "# nginx errors:"
    cat "$TMP/nginx/error.log" "$TMP/nginx/logs/error.log" 2>/dev/null | tail -5 | sed 's/^/#   /'
}

# e2e_play ARGS...: play.mjs against the nginx started above; prints how long the players took.
e2e_play() {
    local t0 rc
    t0=$(date +%s.%N)
    timeout -k 10 "${E2E_TIMEOUT:-600}" node "$ROOT/tests/e2e/play.mjs" --base "http://127.0.0.1:$PORT" "$@"
    rc=$?
    echo "# players: $(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 1))") s"
    [ "$rc" -eq 0 ] || e2e_nginx_errors
    return "$rc"
}

# e2e_trap_mount_lib: for a test built on tests/lib/mount_lib.sh, whose exit trap `wait`s for
# every child: stop nginx first, keeping the exit status for mount_lib's cleanup.
e2e_trap_mount_lib() {
    # shellcheck disable=SC2154  # e2e_rc_ is set in the trap itself
    trap 'e2e_rc_=$?; e2e_nginx_stop; (exit "$e2e_rc_"); cleanup' EXIT
}
