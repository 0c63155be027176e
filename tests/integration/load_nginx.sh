#!/usr/bin/env bash
# Load through nginx (issue 8): examples/nginx.conf (as the e2e tests fill it in) over a
# mount of three assets, wrk with 200 connections for LOAD_SECONDS (60) over a mix of
# manifests, playlists and segments (CMAF, Smooth, TS) of every asset
# (tests/lib/load_mix.lua):
#   - every response is 200 and no socket error (wrk's own summary would count 3xx as fine:
#     the Lua script counts statuses itself);
#   - while it runs, a sampler fetches 30 of the URLs again and again with curl: each body's
#     sha256 and length equal those of `ismfs cat` of the same name (no mount involved);
#   - the daemon's RSS and open descriptors (/proc/PID/status, /proc/PID/fd), sampled every
#     5 s, are flat after a warm-up of WARMUP (20 s): RSS grows by at most RSS_SLACK_MB (48)
#     and descriptors by at most FD_SLACK (64) over the warm-up's values. Why those bounds:
#     ASan's quarantine (capped here at 32 MB) and LMDB's page cache grow up to a ceiling,
#     and nginx's open_file_cache (max 10000, inactive 60 s) holds each URL's file open
#     (one ismfs handle, whose sources hold fds): all URLs are opened within the warm-up, so
#     later growth would be a leak (a leak of one fd or a few KiB per request passes the
#     bounds within seconds at this request rate);
#   - first, the HTTP status nginx gives bad names (a link out of SRC, an unknown format,
#     encoded "..", "../" above the root, %00, long names and request lines, PUT/DELETE);
#   - SIGTERM to the daemon while wrk runs again: it exits 0 within 10 s, the mount is gone
#     from /proc/mounts, nothing left behind.
# About 90 s in all.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/e2e_lib.sh
source "$ROOT/tests/lib/e2e_lib.sh"
need curl wrk sha256sum
[ -x "$NGINX" ] || bail "nginx is not installed (scripts/deps.sh installs it)"
e2e_trap_mount_lib

LOAD_SECONDS=${LOAD_SECONDS:-60} WARMUP=${WARMUP:-20}
RSS_SLACK_MB=${RSS_SLACK_MB:-48} FD_SLACK=${FD_SLACK:-64}
SRC=$TMP/src MNT=$TMP/mnt
mkdir -p "$SRC/a" "$SRC/b"
for f in "$FIX"/ladder/*; do
    for d in a b; do ln "$f" "$SRC/$d/" 2>/dev/null || cp -p "$f" "$SRC/$d/"; done
done
ln "$FIX/muxed.ism" "$FIX/muxed.mp4" "$SRC/" 2>/dev/null || cp -p "$FIX/muxed.ism" "$FIX/muxed.mp4" "$SRC/"
ASSETS=(a/ladder.ism b/ladder.ism muxed.ism)
ln -s /etc/passwd "$SRC/passwd"                 # a link out of SRC

# ASan's quarantine would otherwise grow to 256 MB and hide (or fake) a trend in RSS
ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=32" mount_fg "$SRC" "$MNT" || exit 1
DPID=$(daemon_pid "$MNT") || bail "no daemon for $MNT"
e2e_nginx_start "$MNT" "a/ladder.ism/manifest"

# what nginx answers for bad names (the README's reliability table): status per request
status() { curl -s -o /dev/null -w '%{http_code}' --path-as-is "$@"; }
B=http://127.0.0.1:$PORT
long=$(printf 'x%.0s' $(seq 300)) huge=$(printf 'x%.0s' $(seq 9000))
while read -r want what url; do
    got=$(status ${what/GET/} "$B$url")
    u="${url:0:60}$([ ${#url} -gt 60 ] && echo "... (${#url} bytes)")"
    [ "$got" = "$want" ] && ok "nginx: $what $u: $got" || not_ok "nginx: $what $u: $got, expected $want"
done <<EOF
404 GET /passwd
404 GET /a/ladder.ism/manifest(format=bogus)
404 GET /a/%2e%2e%2fmuxed.mp4x
400 GET /../../etc/passwd
400 GET /a/ladder_320x180.mp4%00
404 GET /a/$long
414 GET /a/$huge
405 -XPUT /a/ladder_320x180.mp4
405 -XDELETE /a/ladder_320x180.mp4
EOF

# the URL mix: every manifest, and per QualityLevels directory its playlists and up to 4
# fragments of each kind (CMAF init and media, Smooth, TS)
python3 - "$MNT" "${ASSETS[@]}" >"$TMP/paths" <<'EOF' || bail "cannot list the assets"
import os, re, sys
mnt, *assets = sys.argv[1:]
for a in assets:
    top = os.path.join(mnt, a)
    for n in sorted(os.listdir(top)):
        if n.startswith("manifest"):
            print(a + "/" + n)
        elif n.startswith("QualityLevels("):
            kinds = {}
            for f in sorted(os.listdir(os.path.join(top, n))):
                k = "playlist" if f.startswith("Manifest(") else re.sub(r"=\d+", "=T", f)
                kinds.setdefault(k, []).append(f)
            for k, fs in kinds.items():
                for f in fs[:4]:
                    print(a + "/" + n + "/" + f)
EOF
python3 -c 'import sys, urllib.parse
for l in open(sys.argv[1]): print("/" + urllib.parse.quote(l.rstrip("\n")))' "$TMP/paths" >"$TMP/urls"
nurls=$(wc -l <"$TMP/urls")
[ "$nurls" -ge 100 ] && ok "$nurls URLs over ${#ASSETS[@]} assets" || bail "only $nurls URLs"

# 30 samples spread over the list, their sums from `ismfs cat` (the same code, no mount)
awk -v n="$nurls" 'NR % int(n / 30) == 1' "$TMP/paths" | head -30 >"$TMP/sample.paths"
while IFS= read -r p; do
    ism cat "$SRC" "$p" | sha256sum | cut -d' ' -f1
done <"$TMP/sample.paths" >"$TMP/sample.sums"
python3 -c 'import sys, urllib.parse
for l in open(sys.argv[1]): print("/" + urllib.parse.quote(l.rstrip("\n")))' "$TMP/sample.paths" \
    >"$TMP/sample.urls"
paste -d' ' "$TMP/sample.sums" "$TMP/sample.urls" >"$TMP/sample"
[ "$(grep -c '^e3b0c442' "$TMP/sample")" -eq 0 ] || bail "ismfs cat printed nothing for a sample"

# sampler: fetch the samples through nginx until told to stop; one line per mismatch
sampler() {
    local n=0 bad=0 sum p got
    while [ ! -e "$TMP/stop" ]; do
        while read -r sum p; do
            got=$(curl -s --max-time 30 "http://127.0.0.1:$PORT$p" | sha256sum | cut -d' ' -f1)
            n=$((n + 1))
            [ "$got" = "$sum" ] || { bad=$((bad + 1)); echo "mismatch $p"; }
            [ -e "$TMP/stop" ] && break
        done <"$TMP/sample"
    done
    echo "checked $n bad $bad"
}
# probe: RSS (kB) and fd count of the daemon every 5 s
probe() {
    local t=0
    while [ ! -e "$TMP/stop" ] && kill -0 "$DPID" 2>/dev/null; do
        echo "$t $(awk '/^VmRSS/ { print $2 }' "/proc/$DPID/status") $(ls "/proc/$DPID/fd" | wc -l)"
        sleep 5
        t=$((t + 5))
    done
}

probe >"$TMP/probe" &
PROBE=$!
sampler >"$TMP/sampler" &
SAMPLER=$!
timeout $((LOAD_SECONDS + 60)) wrk -t2 -c200 -d"${LOAD_SECONDS}s" --timeout 20s \
    -s "$ROOT/tests/lib/load_mix.lua" "http://127.0.0.1:$PORT" -- "$TMP/urls" >"$TMP/wrk" 2>&1
wrc=$?
touch "$TMP/stop"
wait "$SAMPLER" "$PROBE"
echo "# wrk: $(grep -E 'Requests/sec|Latency' "$TMP/wrk" | tr -s ' ' | tr '\n' ' ')"
reqs=$(awk '/^requests/ { print $2 }' "$TMP/wrk")
bad=$(awk '/^bad/ { print $2 }' "$TMP/wrk")
sock=$(awk '/^socket_errors/ { print $2 }' "$TMP/wrk")
if [ "$wrc" -eq 0 ] && [ "${reqs:-0}" -gt 1000 ] && [ "$bad" = 0 ] && [ "$sock" = 0 ]; then
    ok "wrk 200 connections ${LOAD_SECONDS} s: $reqs requests, all 200, no socket error"
else
    not_ok "wrk (exit $wrc): requests=${reqs:-?} non-200=${bad:-?} socket errors=${sock:-?}: $(grep -E '^status|rror' "$TMP/wrk" | head -5 | tr '\n' ' ')"
    e2e_nginx_errors
fi
read -r _ checked _ sbad < <(tail -1 "$TMP/sampler")
if [ "${checked:-0}" -ge 30 ] && [ "$sbad" = 0 ]; then ok "sampled bodies during the load: $checked, all equal to ismfs cat"
else not_ok "sampled bodies: $(tr '\n' ' ' <"$TMP/sampler" | head -c 300)"; fi
echo "# probe (s rss_kB fds): $(tr '\n' ',' <"$TMP/probe")"
r=$(awk -v w="$WARMUP" -v rs="$RSS_SLACK_MB" -v fs="$FD_SLACK" '
    $1 <= w { r0 = $2; f0 = $3 }
    $1 > w  { n++; if ($2 > rmax) rmax = $2; if ($3 > fmax) fmax = $3 }
    END {
        if (!n || !r0) { print "too few samples"; exit }
        printf "RSS %d -> max %d kB (+%d), fds %d -> max %d (+%d)", r0, rmax, rmax - r0, f0, fmax, fmax - f0
        if (rmax - r0 > rs * 1024 || fmax - f0 > fs) printf " OVER"
    }' "$TMP/probe")
case $r in
    *OVER*|too*) not_ok "flat after ${WARMUP} s warm-up: $r" ;;
    *) ok "flat after ${WARMUP} s warm-up (bounds +$RSS_SLACK_MB MB, +$FD_SLACK fds): $r" ;;
esac
check "daemon alive after the load" kill -0 "$DPID"

# SIGTERM during load
timeout 40 wrk -t2 -c200 -d15s --timeout 5s -s "$ROOT/tests/lib/load_mix.lua" \
    "http://127.0.0.1:$PORT" -- "$TMP/urls" >"$TMP/wrk2" 2>&1 &
WRK2=$!
sleep 4
kill -TERM "$DPID"
t0=$SECONDS
wait "${MPID[$MNT]}"
drc=$?
unset "MPID[$MNT]"
dt=$((SECONDS - t0))
if [ "$drc" -eq 0 ] && [ "$dt" -le 10 ]; then ok "SIGTERM during load: the daemon exited 0 in ${dt} s"
else not_ok "SIGTERM during load: exit $drc after ${dt} s: $(tail -3 "$MNT.log" | tr '\n' ' ')"; fi
if is_mounted "$MNT"; then not_ok "SIGTERM during load: $MNT is still mounted"
else ok "SIGTERM during load: the mount is gone"; fi
wait "$WRK2" 2>/dev/null
e2e_nginx_stop
grep -qi 'error\|sanitizer' "$MNT.log" && echo "# daemon log: $(grep -i 'error' "$MNT.log" | head -3 | tr '\n' ' ')"
true
