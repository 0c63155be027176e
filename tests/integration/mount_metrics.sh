#!/usr/bin/env bash
# MNT/.ismfs/metrics and MNT/.ismfs/health (issue 7):
#   - .ismfs is not listed in the root (rsync of the catalog skips it) but can be entered;
#   - health says ok; metrics is valid Prometheus text (tests/lib/prom_check.py, written from
#     the format's description, and promtool from Debian's prometheus package when it can be
#     had: PATH, or the .deb fetched with apt-get download into build/tools, never installed as a service);
#   - the counters move as a scripted series of reads says: opens by kind and format, bytes,
#     errors by errno, generated objects, the latency histogram;
#   - a remount over the same cache serves the manifest and a TS segment without parsing a
#     moov or generating anything (objects "hit", media "index"), with the same bytes;
#   - nginx with examples/nginx.conf serves both files with a Content-Length that matches.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/e2e_lib.sh
source "$ROOT/tests/lib/e2e_lib.sh"
need python3 curl
e2e_trap_mount_lib
SRC=$FIX MNT=$TMP/mnt CACHE=$TMP/cache
A=ladder/ladder.ism
DASH="$A/manifest(format=mpd-time-csf)"

# promtool: PATH, or extracted once from Debian's package into build/tools (git-ignored)
PROMTOOL=$(command -v promtool || true)
if [ -z "$PROMTOOL" ]; then
    pt=$ROOT/build/tools/promtool
    if [ ! -x "$pt" ] && command -v apt-get >/dev/null; then
        mkdir -p "$TMP/deb" "$ROOT/build/tools"
        (cd "$TMP/deb" && timeout 120 apt-get download prometheus >/dev/null 2>&1) &&
            dpkg-deb --fsys-tarfile "$TMP"/deb/prometheus_*.deb 2>/dev/null |
            tar -xO ./usr/bin/promtool >"$pt.tmp" 2>/dev/null && chmod +x "$pt.tmp" &&
            mv "$pt.tmp" "$pt"
        rm -f "$pt.tmp"
    fi
    [ -x "$pt" ] && PROMTOOL=$pt
fi

# snap NAME: the metrics file now, checked, as "series value" lines in $TMP/NAME
snap() {
    cp "$MNT/.ismfs/metrics" "$TMP/$1.txt" || { not_ok "cannot read .ismfs/metrics"; return; }
    if ! python3 "$ROOT/tests/lib/prom_check.py" "$TMP/$1.txt" >"$TMP/$1" 2>&1; then
        not_ok "$1: .ismfs/metrics is not valid Prometheus text: $(tail -1 "$TMP/$1")"
    fi
}
# val NAME SERIES: the value of SERIES (as prom_check prints it) in snapshot NAME, else 0
val() { awk -v s="$2" '{ v = $NF; $NF = ""; sub(/ $/, "") } $0 == s { print v; f = 1 } END { if (!f) print 0 }' "$TMP/$1"; }
# delta SERIES: its value in "after" minus "before"
delta() { echo $(( $(val after "$1") - $(val before "$1") )); }
expect() {   # expect LABEL ACTUAL OP WANT
    if [ "$2" -"$3" "$4" ]; then ok "$1: $2"; else not_ok "$1: $2, want -$3 $4"; fi
}
# the kernel caches a file's size for 1 s and a rendering serves opens for 2 s
settle() { sleep 2.1; }

mount_fg "$SRC" "$MNT" "cache=$CACHE" || exit 1

# ---- the directory ---------------------------------------------------------------------------
if ls -a "$MNT" | grep -qx '.ismfs'; then not_ok "ls -a of the root lists .ismfs"
else ok "ls -a of the root does not list .ismfs"; fi
got=$(ls "$MNT/.ismfs" | tr '\n' ' ')
[ "$got" = "health metrics " ] && ok ".ismfs lists health and metrics" ||
    not_ok ".ismfs lists: $got"
[ "$(head -1 "$MNT/.ismfs/health")" = ok ] && ok "health: ok" ||
    not_ok "health: $(head -3 "$MNT/.ismfs/health" | tr '\n' ' ')"
check "a write into .ismfs is refused" sh -c "! echo x >'$MNT/.ismfs/metrics' 2>/dev/null"
check "an unknown name in .ismfs is ENOENT" sh -c "! stat '$MNT/.ismfs/nope' 2>/dev/null"

# ---- a scripted series of reads ------------------------------------------------------------------
snap before
ism cat "$SRC" "$DASH" >"$TMP/dash.want" || bail "ismfs cat $DASH failed"
TS=$(cd "$MNT" && ls "$A"/QualityLevels\(*\)/Fragments\(*format=m3u8-aapl\) | head -1)
[ -n "$TS" ] || bail "no TS fragment listed in $A"
settle
snap before
for _ in 1 2 3; do cat "$MNT/$DASH" >"$TMP/dash.got"; done
cat "$MNT/$TS" >"$TMP/ts.1"
cat "$MNT/muxed.mp4" >/dev/null
for n in 1 2; do cat "$MNT/$A/manifest(format=nope$n)" 2>/dev/null; done   # two names: the kernel caches a negative entry
settle
snap after
cmp -s "$TMP/dash.want" "$TMP/dash.got" || not_ok "the DASH manifest read differs from ismfs cat"
expect "opens of the DASH manifest counted" \
    "$(delta 'ismfs_opens_total{format="mpd-time-csf",kind="manifest"}')" eq 3
expect "opens of a TS segment counted" \
    "$(delta 'ismfs_opens_total{format="m3u8-aapl",kind="segment"}')" eq 1
expect "opens of a passthrough file counted" "$(delta 'ismfs_opens_total{format="none",kind="file"}')" eq 1
expect "ENOENT errors counted" "$(delta 'ismfs_errors_total{errno="ENOENT"}')" ge 2
expect "no EIO" "$(delta 'ismfs_errors_total{errno="EIO"}')" eq 0
least=$(( $(stat -c %s "$TMP/dash.want") + $(stat -c %s "$TMP/ts.1") + $(stat -c %s "$SRC/muxed.mp4") ))
expect "bytes served counted (at least one read of each)" "$(delta ismfs_read_bytes_total)" ge "$least"
expect "the TS segment was generated (object made)" "$(delta 'ismfs_objects_total{result="generated"}')" ge 1
expect "latency histogram of segments counted" "$(delta 'ismfs_open_seconds_count{kind="segment"}')" eq 1
expect "no file left open" "$(val after ismfs_open_files)" eq 0
expect "cache is up" "$(val after ismfs_cache_up)" eq 1
if [ -n "$PROMTOOL" ]; then
    out=$("$PROMTOOL" check metrics <"$TMP/after.txt" 2>&1) && ok "promtool check metrics: clean" ||
        not_ok "promtool check metrics: $out"
else
    echo "# promtool not available: checked with tests/lib/prom_check.py only"
fi

# ---- ls -l of a directory: the attributes come with the listing (READDIRPLUS with timeouts),
# not from one lookup per name after it (libfuse 3.14 without offsets did that)
Q=$(cd "$MNT" && ls -d "$A"/QualityLevels\(*\) | head -1)
n=$(ls "$MNT/$Q" | wc -l)
snap before
ls -l "$MNT/$Q" >/dev/null
settle
snap after
expect "ls -l of $Q ($n entries): getattr calls (the listing brings the sizes)" \
    "$(delta ismfs_lookups_total)" lt $(( n / 4 + 3 ))

# every size the listing gave is the number of bytes a read gives
bad=0
while read -r size name; do
    [ "$(wc -c <"$MNT/$Q/$name")" = "$size" ] || { bad=1; not_ok "$Q/$name: listed $size bytes, read $(wc -c <"$MNT/$Q/$name")"; }
done < <(find "$MNT/$Q" -maxdepth 1 -type f -printf '%s %f\n' | sort -k2)
[ "$bad" = 0 ] && ok "every size in the listing of $Q is the size read"
find "$MNT/$Q" -maxdepth 1 -printf '%s %TY-%Tm-%Td %TT %y %f\n' | sort -k5 >"$TMP/list.1"

# ---- restart over the same cache -----------------------------------------------------------------
unmount "$MNT"
mount_fg "$SRC" "$MNT" "cache=$CACHE" || exit 1
cat "$MNT/$DASH" >"$TMP/dash.2"
cat "$MNT/$TS" >"$TMP/ts.2"
snap restart
find "$MNT/$Q" -maxdepth 1 -printf '%s %TY-%Tm-%Td %TT %y %f\n' | sort -k5 >"$TMP/list.2"
settle
snap relisted
cmp -s "$TMP/list.1" "$TMP/list.2" && ok "after a remount $Q lists the same names, sizes and mtimes" ||
    not_ok "after a remount the listing of $Q changed: $(diff "$TMP/list.1" "$TMP/list.2" | head -5)"
expect "after a remount the listing of $Q came from the object cache (hit)" \
    "$(( $(val relisted 'ismfs_objects_total{result="hit"}') - $(val restart 'ismfs_objects_total{result="hit"}') ))" eq 1
expect "after a remount the listing generated nothing" "$(val relisted 'ismfs_objects_total{result="generated"}')" eq 0
cmp -s "$TMP/dash.want" "$TMP/dash.2" && cmp -s "$TMP/ts.1" "$TMP/ts.2" &&
    ok "after a remount the manifest and the TS segment have the same bytes" ||
    not_ok "after a remount the manifest or the TS segment changed"
expect "after a remount: served from the object cache" "$(val restart 'ismfs_objects_total{result="hit"}')" ge 2
expect "after a remount: nothing generated" "$(val restart 'ismfs_objects_total{result="generated"}')" eq 0
expect "after a remount: no media parsed" "$(val restart 'ismfs_media_total{result="parsed"}')" eq 0
expect "lifetime cache hits persist" "$(val restart 'ismfs_cache_lookups_total{result="hit"}')" ge 2

# ---- -d with log=FILE: one line per request, with its latency ----------------------------------
unmount "$MNT"
mkdir -p "$MNT"
timeout -k 5 60 "$ISMFS" "$SRC" "$MNT" -d -o "cache=$CACHE,log=$TMP/requests.log" 2>/dev/null &
MPID[$MNT]=$!
wait_mounted "$MNT" 20 || bail "ismfs -d -o log=FILE did not mount"
cat "$MNT/$DASH" >/dev/null
cat "$MNT/$A/nope" 2>/dev/null
size=$(stat -c %s "$TMP/dash.want")
grep -qE "open /$(sed 's/[()]/\\&/g' <<<"$DASH"): $size bytes \([0-9]+ us\)" "$TMP/requests.log" &&
    ok "log=FILE under -d: the open of the manifest, its size and latency" ||
    not_ok "log=FILE under -d: no open line for $DASH: $(head -c 300 "$TMP/requests.log")"
grep -qE "lookup /$A/nope: No such file or directory \([0-9]+ us\)" "$TMP/requests.log" &&
    ok "log=FILE under -d: a failed lookup with its errno" ||
    not_ok "log=FILE under -d: no line for the failed lookup"
mkdir -p "$TMP/mnt2"
out=$("$ISMFS" "$SRC" "$TMP/mnt2" -o "log=$TMP/no/such/dir/x.log" 2>&1); rc=$?
[ "$rc" = 2 ] && [[ "$out" == *"log="*"No such file or directory"* ]] &&
    ok "log= in a missing directory: exit 2 and a clear message" ||
    not_ok "log= in a missing directory: exit $rc: $out"
is_mounted "$TMP/mnt2" && fusermount3 -u "$TMP/mnt2"

# ---- health when SRC goes away ---------------------------------------------------------------
# Storage that is itself a FUSE mount (blobfuse2, s3fs, rclone) whose daemon dies answers
# ENOTCONN: here the storage is a second ismfs (passthrough of a plain folder), killed.
PLAIN=$TMP/plain INNER=$TMP/inner OUTER=$TMP/outer
mkdir -p "$PLAIN" && cp -p "$FIX/muxed.mp4" "$PLAIN/"
mount_fg "$PLAIN" "$INNER" "cache=$TMP/cache-inner" && mount_fg "$INNER" "$OUTER" "cache=$TMP/cache-outer" ||
    bail "cannot mount ismfs over ismfs"
[ "$(head -1 "$OUTER/.ismfs/health")" = ok ] && ok "health over a FUSE storage mount: ok" ||
    not_ok "health over a FUSE storage mount: $(head -c 200 "$OUTER/.ismfs/health")"
p=$(daemon_pid "$INNER") && kill -9 "$p" || not_ok "no ismfs process serves $INNER"
wait "${MPID[$INNER]}" 2>/dev/null; unset "MPID[$INNER]"
sleep 2.5       # the health rendering is shared for up to 2 s
out=$(cat "$OUTER/.ismfs/health" 2>&1) && not_ok "health after the storage mount died: '$out'" ||
    { [[ "$out" == *"Input/output error"* ]] && ok "health after the storage mount died: EIO" ||
      not_ok "health after the storage mount died: $out"; }
grep -q '^ismfs_uptime_seconds ' "$OUTER/.ismfs/metrics" && ok "the daemon still answers (metrics) with its storage gone" ||
    not_ok "no metrics after the storage mount died"
unmount "$OUTER" || not_ok "unmount over a dead storage mount"
fusermount3 -u "$INNER" 2>/dev/null || fusermount3 -uz "$INNER" 2>/dev/null
# SRC removed while mounted
mkdir -p "$TMP/gone" && cp -p "$FIX/muxed.mp4" "$TMP/gone/"
mount_fg "$TMP/gone" "$OUTER" "cache=$TMP/cache-outer" || exit 1
[ "$(head -1 "$OUTER/.ismfs/health")" = ok ] || not_ok "health before SRC was removed"
rm -rf "$TMP/gone"
sleep 2.5
out=$(cat "$OUTER/.ismfs/health" 2>&1) && not_ok "health says ok with SRC removed: '$out'" ||
    { [[ "$out" == *"Input/output error"* ]] && ok "health with SRC removed: EIO" ||
      not_ok "health with SRC removed: $out"; }
unmount "$OUTER"

# ---- through nginx (examples/nginx.conf) ---------------------------------------------------------
if [ -x "$NGINX" ]; then
    e2e_nginx_start "$MNT" "$A/manifest"
    for f in metrics health; do
        code=$(curl -s -D "$TMP/h.$f" -o "$TMP/b.$f" -w '%{http_code}' "http://127.0.0.1:$PORT/.ismfs/$f")
        len=$(tr -d '\r' <"$TMP/h.$f" | awk 'tolower($1) == "content-length:" { print $2 }')
        type=$(tr -d '\r' <"$TMP/h.$f" | awk 'tolower($1) == "content-type:" { print $2 }')
        if [ "$code" = 200 ] && [ "$len" = "$(stat -c %s "$TMP/b.$f")" ] && [ "$type" = "text/plain;" ]; then
            ok "nginx serves .ismfs/$f: 200, text/plain, Content-Length $len = body"
        else
            not_ok "nginx .ismfs/$f: status $code, Content-Length $len, body $(stat -c %s "$TMP/b.$f"), type $type"
        fi
    done
    python3 "$ROOT/tests/lib/prom_check.py" "$TMP/b.metrics" >/dev/null &&
        ok "the metrics nginx served parse" || not_ok "the metrics nginx served do not parse"
else
    not_ok "nginx is not installed (scripts/deps.sh installs it)"
fi
sanitizer_check
exit $fail
