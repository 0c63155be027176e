#!/usr/bin/env bash
# Serving benchmark (part of bench/run.sh): nginx serving the mount of an asset next to the
# same nginx serving a static copy of it (the ceiling). wrk (4 keep-alive connections) for
# manifests and warm segments; bench/http_pass for the cold pass (every CMAF fragment read
# once right after a fresh mount with an empty cache dir); curl for the first manifest of a
# fresh mount. The targets are judged on the ladder fixture (tests/fixtures/ladder); the
# 2-hour asset (tests/fixtures/long, when generated) adds the same segment rows at scale
# (7200 fragments), without targets. What and why: bench/README.md.
#   bench/serve.sh   environment: ISMFS (default ./ismfs), HTTP_PASS (default
#                    build/rel/bench/http_pass, built when missing), SERVE_SECONDS (wrk
#                    seconds per server and measurement, default 10), ROUNDS (wrk runs per
#                    measurement alternate between the servers, default 2), COLD_MOUNTS
#                    (fresh mounts for the cold rows, default 7), NGINX_WORKERS (default 2),
#                    NGINX_OPEN_FILE_CACHE (default 1: the open_file_cache lines of
#                    examples/nginx.conf, on both servers; 0: an open() per request),
#                    SERVE_LONG=0 (skip the 2-hour asset), BENCH_STRICT=1
# Needs FUSE (/dev/fuse, fusermount3), nginx, wrk, rsync and curl: the missing tools are
# installed with apt-get when running as root; without FUSE or nginx the part is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ISMFS=${ISMFS:-./ismfs}
HTTP_PASS=${HTTP_PASS:-build/rel/bench/http_pass}
SERVE_SECONDS=${SERVE_SECONDS:-10}
ROUNDS=${ROUNDS:-2}
COLD_MOUNTS=${COLD_MOUNTS:-7}
NGINX_WORKERS=${NGINX_WORKERS:-2}
NGINX_OPEN_FILE_CACHE=${NGINX_OPEN_FILE_CACHE:-1}
SERVE_LONG=${SERVE_LONG:-1}
CONNS=4
WARM_TARGET=0.9                 # warm segment MB/s at least this share of static
COLD_TARGET=0.5                 # cold pass MB/s at least this share of a static pass
FIRST_MANIFEST_TARGET_MS=20     # first manifest request of a fresh mount, fresh cache

skip() {
    echo "== serving: skipped: $* =="
    echo
    exit 0
}

[ -x "$ISMFS" ] || bench_fail "no ismfs binary at $ISMFS (make ismfs)"
[ -f tests/fixtures/ladder/ladder.ism ] || bench_fail "no tests/fixtures/ladder (make fixtures)"
[ -r /dev/fuse ] && [ -w /dev/fuse ] || skip "no usable /dev/fuse"
command -v fusermount3 >/dev/null || skip "no fusermount3"
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in nginx wrk rsync curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || skip "missing ${missing[*]} (apt-get install ${missing[*]})"
    echo "bench: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null || skip "could not install ${missing[*]}"
fi
if [ ! -x "$HTTP_PASS" ]; then
    [ "$HTTP_PASS" = build/rel/bench/http_pass ] || bench_fail "no $HTTP_PASS"
    make --no-print-directory NODEPS=1 "$HTTP_PASS" >&2 || bench_fail "cannot build $HTTP_PASS"
fi
per_round=$(calc 'sprintf("%d", s / r + 0.5)' s="$SERVE_SECONDS" r="$ROUNDS")
[ "$per_round" -ge 1 ] || bench_fail "SERVE_SECONDS / ROUNDS must be at least 1 s"

tmp=$(mktemp -d /tmp/ismfs-bench-serve.XXXXXX)
mnt=$tmp/mnt            # the mount: nginx's first server
static=$tmp/static      # the static copy: nginx's second server
mkdir -p "$mnt" "$static" "$tmp/nginx"
ismfs_pid=
nginx_pid=

mounted() { awk -v m="$mnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

unmount() {
    if mounted; then
        fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    fi
    if [ -n "$ismfs_pid" ]; then
        for _ in $(seq 100); do kill -0 "$ismfs_pid" 2>/dev/null || break; sleep 0.05; done
        kill "$ismfs_pid" 2>/dev/null || true
        wait "$ismfs_pid" 2>/dev/null || true
        ismfs_pid=
    fi
}

stop_nginx() {
    if [ -n "$nginx_pid" ]; then
        kill -QUIT "$nginx_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
        nginx_pid=
    fi
}

cleanup() {
    stop_nginx
    unmount
    if mounted; then
        echo "bench: $mnt is still mounted: $tmp left in place" >&2
    else
        chmod -R u+w "$tmp" 2>/dev/null || true     # the copy keeps the mount's 0444/0555
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# mount_fresh SRC CACHE_DIR: mounts SRC on $mnt in the foreground (under a time limit) and
# returns once the root answers.
mount_fresh() {
    timeout -k 5 900 "$ISMFS" "$1" "$mnt" -f -o "cache=$2" 2>>"$tmp/ismfs.log" &
    ismfs_pid=$!
    for _ in $(seq 200); do
        if mounted && stat "$mnt/." >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$ismfs_pid" 2>/dev/null ||
            bench_fail "ismfs did not mount: $(tail -3 "$tmp/ismfs.log")"
        sleep 0.05
    done
    bench_fail "ismfs did not mount within 10 s"
}

# ---- nginx: one server on the mount, one on the static copy --------------------------------
free_ports() {
    python3 - <<'EOF'
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))
EOF
}

start_nginx() {
    read -r port_m port_s < <(free_ports)
    local user="" ofc=""
    [ "$(id -u)" -ne 0 ] || user="user root;"   # workers read the mount (no allow_other)
    [ "$NGINX_OPEN_FILE_CACHE" != 1 ] ||
        ofc=$(grep -E '^ *open_file_cache(_valid)? ' examples/nginx.conf | grep -v ' off;' | tr -s ' \n' ' ')
    [ "$NGINX_OPEN_FILE_CACHE" != 1 ] || [ -n "$ofc" ] ||
        bench_fail "no open_file_cache lines in examples/nginx.conf"
    cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
$user
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    $ofc
    server { listen 127.0.0.1:$port_m; root $mnt; }
    server { listen 127.0.0.1:$port_s; root $static; }
}
EOF
    nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" \
        -g 'daemon off;' 2>>"$tmp/nginx/stderr" &
    nginx_pid=$!
    for _ in $(seq 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$port_s/"; then
            return 0
        fi
        kill -0 "$nginx_pid" 2>/dev/null || { nginx_pid=; return 1; }
        sleep 0.05
    done
    stop_nginx
    return 1
}

# nginx_up: starts nginx when it is not running, then a few requests to the static copy
# (a worker's first request costs some ms of its own).
nginx_up() {
    local i
    if [ -z "$nginx_pid" ]; then
        for i in 1 2 3; do   # a port taken between the probe and nginx's bind: try others
            start_nginx && break
        done
        [ -n "$nginx_pid" ] ||
            bench_fail "nginx did not start: $(tail -3 "$tmp/nginx/error.log" 2>/dev/null)"
        for i in 1 2 3 4 5 6; do curl -s -o /dev/null "http://127.0.0.1:$port_s/"; done
    fi
}

# nginx_down: before an unmount, with open_file_cache only: its workers would keep files of
# the mount open (making the unmount lazy, and serving the next "fresh" mount from them).
nginx_down() {
    [ "$NGINX_OPEN_FILE_CACHE" != 1 ] || stop_nginx
}

# ---- clients ------------------------------------------------------------------------------
# wrk_run PORT LIST SECONDS: "requests bytes seconds p50_us p99_us"
wrk_run() {
    local out l
    out=$(timeout $(($3 + 60)) wrk -t1 -c"$CONNS" -d"$3s" --timeout 10s \
          -s bench/rotate.lua "http://127.0.0.1:$1" -- "$2" 2>&1) ||
        bench_fail "wrk failed: $(echo "$out" | tail -3)"
    l=$(echo "$out" | grep '^wrk: ') || bench_fail "wrk printed no summary: $(echo "$out" | tail -3)"
    [ "$(field errors "$l")" = 0 ] && [ "$(field status_errors "$l")" = 0 ] ||
        bench_fail "wrk on port $1 ($2): errors: $l"
    echo "$(field requests "$l") $(field bytes "$l") $(calc 'd / 1e6' d="$(field duration_us "$l")")" \
         "$(field p50_us "$l") $(field p99_us "$l")"
}

# wrk_pair LIST OUT_M OUT_S: ROUNDS alternating runs on the mount and on the static copy (so
# other load on the machine hits both alike); each OUT gets the summed
# "requests bytes seconds p50_us p99_us" (p50: mean of the runs, p99: the worst).
wrk_pair() {
    : >"$tmp/pair_m"
    : >"$tmp/pair_s"
    for _ in $(seq "$ROUNDS"); do
        wrk_run "$port_m" "$1" "$per_round" >>"$tmp/pair_m"
        wrk_run "$port_s" "$1" "$per_round" >>"$tmp/pair_s"
    done
    local sum='{ r += $1; b += $2; s += $3; p += $4; if ($5 > q) q = $5 }
               END { printf "%.0f %.0f %.6f %.0f %.0f\n", r, b, s, p / NR, q }'
    awk "$sum" "$tmp/pair_m" >"$2"
    awk "$sum" "$tmp/pair_s" >"$3"
}

# pass PORT LIST: "requests bytes seconds body_bytes" of one http_pass over LIST
pass() {
    local l
    l=$(timeout 300 "$HTTP_PASS" 127.0.0.1 "$1" "$2" "$CONNS" 2>"$tmp/pass.err") ||
        bench_fail "http_pass failed: $(head -c 300 "$tmp/pass.err")"
    [ "$(field status_errors "$l")" = 0 ] || bench_fail "http_pass on port $1 ($2): $l"
    echo "$(field requests "$l") $(field bytes "$l") $(calc 'w / 1000' w="$(field wall_ms "$l")")" \
         "$(field body_bytes "$l")"
}

# seg_list SRC ASSET OUT: every CMAF media fragment of ASSET (URL paths), listed without a
# mount; prints their total bytes.
seg_list() {
    local total=0 q size name
    : >"$3"
    for q in $("$ISMFS" --cache="$tmp/ls-cache" ls "$1" "$2" | grep '^QualityLevels('); do
        q=${q%/}
        while read -r _ size name; do
            echo "/$2/$q/$name" >>"$3"
            total=$((total + size))
        done < <("$ISMFS" --cache="$tmp/ls-cache" ls -l "$1" "$2/$q" |
                 grep 'Fragments(.*=[0-9]*,format=cmaf)$')
    done
    [ -s "$3" ] || bench_fail "no CMAF fragments listed in $1/$2"
    echo "$total"
}

# ---- one asset: warm (wrk, both servers), a pass of the static copy, cold passes -----------
# bench_asset KEY SRC ASSET FULL_COPY: results in $tmp/KEY.*; FULL_COPY=1: the static copy is
# `rsync -a` of the whole mount, else of the listed fragments only.
bench_asset() {
    local key=$1 src=$2 asset=$3 full=$4 bytes r i
    bytes=$(seg_list "$src" "$asset" "$tmp/$key.segs")
    echo "$bytes" >"$tmp/$key.bytes"
    mount_fresh "$src" "$tmp/cache.$key"
    nginx_up
    chmod -R u+w "$static" && find "$static" -mindepth 1 -delete
    if [ "$full" = 1 ]; then
        rsync -a "$mnt/" "$static/" || bench_fail "rsync of the mount failed"
    else
        sed 's,^/,,' "$tmp/$key.segs" >"$tmp/$key.files"
        rsync -a --files-from="$tmp/$key.files" "$mnt/" "$static/" ||
            bench_fail "rsync of the mount failed"
    fi
    # warm-up: every file once through each server
    for port in "$port_m" "$port_s"; do
        pass "$port" "$tmp/$key.segs" >/dev/null
        [ ! -s "$tmp/$key.manifests" ] || pass "$port" "$tmp/$key.manifests" >/dev/null
    done
    [ ! -s "$tmp/$key.manifests" ] ||
        wrk_pair "$tmp/$key.manifests" "$tmp/$key.man_m" "$tmp/$key.man_s"
    wrk_pair "$tmp/$key.segs" "$tmp/$key.seg_m" "$tmp/$key.seg_s"
    : >"$tmp/$key.static_pass"
    for _ in $(seq "$COLD_MOUNTS"); do
        pass "$port_s" "$tmp/$key.segs" >>"$tmp/$key.static_pass"
    done
    nginx_down
    unmount
    : >"$tmp/$key.cold_pass"
    : >"$tmp/$key.restart_pass"
    : >"$tmp/$key.static_fresh_pass"
    for i in $(seq "$COLD_MOUNTS"); do
        mount_fresh "$src" "$tmp/cache.$key.cold$i"
        nginx_up
        r=$(pass "$port_m" "$tmp/$key.segs")
        nginx_down
        unmount
        [ "$(echo "$r" | cut -d' ' -f4)" = "$bytes" ] ||
            bench_fail "cold pass read $(echo "$r" | cut -d' ' -f4) body bytes, ls -l says $bytes"
        echo "$r" >>"$tmp/$key.cold_pass"
        # a restart: a fresh mount over the cache the cold pass filled (the index is kept)
        mount_fresh "$src" "$tmp/cache.$key.cold$i"
        nginx_up
        pass "$port_m" "$tmp/$key.segs" >>"$tmp/$key.restart_pass"
        nginx_down
        unmount
        # the like-for-like ceiling of a first pass: a freshly started nginx (no descriptor
        # cached) reading the static copy, whose files are in the page cache as the sources are
        stop_nginx
        nginx_up
        pass "$port_s" "$tmp/$key.segs" >>"$tmp/$key.static_fresh_pass"
        stop_nginx
    done
}

load_before=$(cut -d' ' -f1 /proc/loadavg)

printf '%s\n' "/ladder.ism/manifest(format=mpd-time-csf)" "/ladder.ism/manifest(format=m3u8-aapl)" \
    >"$tmp/ladder.manifests"
bench_asset ladder tests/fixtures/ladder ladder.ism 1

# the first manifest of a fresh mount with an empty cache
: >"$tmp/first"
for i in $(seq "$COLD_MOUNTS"); do
    mount_fresh tests/fixtures/ladder "$tmp/cache.first$i"
    nginx_up
    r=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' \
        "http://127.0.0.1:$port_m/ladder.ism/manifest(format=mpd-time-csf)") || r="000 0"
    nginx_down
    unmount
    [ "${r%% *}" = 200 ] || bench_fail "first manifest: HTTP ${r%% *}"
    calc 't * 1000' t="${r#* }" >>"$tmp/first"
done

long=0
if [ "$SERVE_LONG" = 1 ] && [ -f tests/fixtures/long/.stamp ]; then
    long=1
    bench_asset long tests/fixtures/long long.ism 0
fi
load_after=$(cut -d' ' -f1 /proc/loadavg)

# ---- table ---------------------------------------------------------------------------------
fmt='%-44s %-7s %9s %9s %8s %8s\n'
echo "== serving: nginx $(nginx -v 2>&1 | sed 's,.*/,,') ($NGINX_WORKERS workers, sendfile$(
     [ "$NGINX_OPEN_FILE_CACHE" != 1 ] || echo ', open_file_cache')) over the mount vs a" \
     "static copy =="
echo "   ($CONNS keep-alive connections; MB = 10^6 bytes incl. headers; wrk: ${ROUNDS} x" \
     "${per_round} s per server, alternating, after a warm-up pass;"
echo "    cold and one-pass rows: medians of $COLD_MOUNTS passes, cold = a fresh mount and cache" \
     "each; load average $load_before before, $load_after after)"
printf "$fmt" what server 'req/s' 'MB/s' 'p50 ms' 'p99 ms'

wrow() {   # wrow LABEL SERVER FILE_OF_"requests bytes seconds p50_us p99_us"
    local r b s p50 p99
    read -r r b s p50 p99 <"$3"
    printf "$fmt" "$1" "$2" "$(calc 'sprintf("%.0f", r / s)' r="$r" s="$s")" \
        "$(calc 'sprintf("%.2f", b / 1e6 / s)' b="$b" s="$s")" \
        "$(calc 'sprintf("%.2f", x / 1000)' x="$p50")" "$(calc 'sprintf("%.2f", x / 1000)' x="$p99")"
}
rates() {   # rates FILE_OF_"requests bytes seconds ..." -> per line "req/s MB/s ms"
    awk '{ printf "%.3f %.3f %.3f\n", $1 / $3, $2 / 1e6 / $3, $3 * 1000 }' "$1"
}
prow() {   # prow LABEL SERVER PASS_FILE
    rates "$3" >"$3.rates"
    printf "$fmt" "$1" "$2" "$(calc 'sprintf("%.0f", x)' x="$(median "$3.rates" 1)")" \
        "$(calc 'sprintf("%.2f", x)' x="$(median "$3.rates" 2)")" \
        "$(calc 'sprintf("pass %.1f ms", x)' x="$(median "$3.rates" 3)")" ""
}
asset_rows() {   # asset_rows KEY TITLE
    local n
    n=$(wc -l <"$tmp/$1.segs")
    echo "$2: $n CMAF fragments, $(calc 'sprintf("%.2f", b / 1e6)' b="$(cat "$tmp/$1.bytes")") MB"
    if [ -s "$tmp/$1.manifests" ]; then
        wrow "  manifests: mpd-time-csf + m3u8-aapl" ismfs "$tmp/$1.man_m"
        wrow "" static "$tmp/$1.man_s"
    fi
    wrow "  segments warm (wrk over every fragment)" ismfs "$tmp/$1.seg_m"
    wrow "" static "$tmp/$1.seg_s"
    prow "  segments cold: first pass, fresh mount" ismfs "$tmp/$1.cold_pass"
    prow "  segments: restart (fresh mount, kept cache)" ismfs "$tmp/$1.restart_pass"
    prow "  segments: first pass, fresh nginx" static "$tmp/$1.static_fresh_pass"
    prow "  segments: a pass of a warm nginx" static "$tmp/$1.static_pass"
}
asset_rows ladder "tests/fixtures/ladder/ladder.ism (targets)"
printf "$fmt" "  first manifest(format=mpd-time-csf), fresh" ismfs '' '' \
    "$(calc 'sprintf("%.1f ms", x)' x="$(median "$tmp/first" 1)")" ''
[ "$long" = 0 ] || asset_rows long "tests/fixtures/long/long.ism (no targets)"
echo

# ---- targets (ladder) ----------------------------------------------------------------------
mbps() { awk '{ printf "%.6f\n", $2 / 1e6 / $3 }' "$1"; }
warm=$(mbps "$tmp/ladder.seg_m") stat=$(mbps "$tmp/ladder.seg_s")
ratio=$(calc 'sprintf("%.2f", a / b)' a="$warm" b="$stat")
if is_true 'a >= t * b' a="$warm" b="$stat" t="$WARM_TARGET"; then
    verdict MET "warm segments: ${ratio}x static MB/s (target >= ${WARM_TARGET}x)"
else
    verdict MISSED "warm segments: ${ratio}x static MB/s (target >= ${WARM_TARGET}x)"
fi
# cold is judged like for like: the first pass of a fresh mount against the first pass of a
# freshly started nginx over the static copy (both with their files in the page cache)
cold=$(median "$tmp/ladder.cold_pass.rates" 2) spass=$(median "$tmp/ladder.static_fresh_pass.rates" 2)
ratio=$(calc 'sprintf("%.2f", a / b)' a="$cold" b="$spass")
ratio_warm=$(calc 'sprintf("%.2f", a / b)' a="$cold" b="$(median "$tmp/ladder.static_pass.rates" 2)")
ratio_restart=$(calc 'sprintf("%.2f", a / b)' a="$(median "$tmp/ladder.restart_pass.rates" 2)" b="$spass")
if is_true 'a >= t * b' a="$cold" b="$spass" t="$COLD_TARGET"; then
    verdict MET "cold segments: ${ratio}x the first pass of a fresh static nginx (target >=" \
        "${COLD_TARGET}x; restart with kept cache ${ratio_restart}x; ${ratio_warm}x a warm static pass)"
else
    verdict MISSED "cold segments: ${ratio}x the first pass of a fresh static nginx (target >=" \
        "${COLD_TARGET}x; restart with kept cache ${ratio_restart}x; ${ratio_warm}x a warm static pass)"
fi
first=$(median "$tmp/first" 1)
if is_true 'f < t' f="$first" t="$FIRST_MANIFEST_TARGET_MS"; then
    verdict MET "first manifest of a fresh mount: $first ms < $FIRST_MANIFEST_TARGET_MS ms"
else
    verdict MISSED "first manifest of a fresh mount: $first ms, target < $FIRST_MANIFEST_TARGET_MS ms"
fi
note "ladder cold passes, ms: $(awk '{ printf "%s%.1f", (NR > 1 ? " " : ""), $3 * 1000 }' \
     "$tmp/ladder.cold_pass"); fresh static nginx passes, ms: $(awk \
     '{ printf "%s%.1f", (NR > 1 ? " " : ""), $3 * 1000 }' "$tmp/ladder.static_fresh_pass")"
note "manifests: $(calc 'sprintf("%.2f", a / b)' a="$(awk '{ print $1 / $3 }' "$tmp/ladder.man_m")" \
     b="$(awk '{ print $1 / $3 }' "$tmp/ladder.man_s")")x static req/s (no target)"
if [ "$long" = 1 ]; then
    note "long.ism: warm $(calc 'sprintf("%.2f", a / b)' a="$(mbps "$tmp/long.seg_m")" \
         b="$(mbps "$tmp/long.seg_s")")x static, cold pass" \
         "$(calc 'sprintf("%.2f", a / b)' a="$(median "$tmp/long.cold_pass.rates" 2)" \
         b="$(median "$tmp/long.static_pass.rates" 2)")x a static pass (no targets)"
fi
bench_end
