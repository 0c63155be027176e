#!/usr/bin/env bash
# Mount options and the ways a mount ends (DESIGN §1 "Mount options (also usable from
# /etc/fstab)"):
#   - `-o cache=DIR,cache_size=64M,fragment=4`: fewer, longer fragments than the default 2 s
#     (counted in a QualityLevels dir), bytes equal to `ismfs --fragment=4 cat`, DIR holds the
#     LMDB cache; bad option values are refused and nothing is mounted;
#   - clean unmount by `fusermount3 -u` (daemon form: the daemon ends; -f form: exit 0);
#   - clean unmount by SIGTERM to `ismfs -f` (exit status 0, gone from /proc/mounts);
#   - the fstab form: an fstab line `SRC MNT fuse.ismfs cache=DIR 0 0` mounted with
#     `mount -T FSTAB MNT` and `mount -t fuse.ismfs SRC MNT -o cache=DIR` (root only). mount(8)
#     runs its helpers without PATH, so mount.fuse3 finds `ismfs` only in the default PATH: this
#     runs in a private mount namespace (unshare -m) where a folder holding a symlink to the
#     binary under test is bind-mounted over /usr/local/sbin; nothing is visible outside.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
SRC=$TMP/src MNT=$TMP/mnt
farm "$SRC"

# cmaf_times MNT BR: the TIMEs of the media fragments (format=cmaf) of QualityLevels(BR)
cmaf_times() { ls "$1/$LADDER/QualityLevels($2)" | sed -n 's/^Fragments([^=]*=\([0-9][0-9]*\),format=cmaf)$/\1/p' | sort -n; }

# ---- defaults, -f form, fusermount3 -u ------------------------------------------------------
mount_fg "$SRC" "$MNT" "cache=$TMP/cache2" || exit 1
vbr=$(ls "$MNT/$LADDER" | sed -n 's/^QualityLevels(\([0-9]*\))$/\1/p' | sort -n | tail -1)
n2=$(cmaf_times "$MNT" "$vbr" | wc -l)
p=$(daemon_pid "$MNT")
fusermount3 -u "$MNT"; urc=$?
wait "${MPID[$MNT]}"; rc=$?
unset "MPID[$MNT]"
if [ $urc = 0 ] && ! is_mounted "$MNT" && [ $rc = 0 ]; then
    ok "fusermount3 -u: unmounted, ismfs -f exited 0"
else
    not_ok "fusermount3 -u: status $urc, $(is_mounted "$MNT" && echo still mounted || echo unmounted), ismfs -f exited $rc"
fi
kill -0 "$p" 2>/dev/null && not_ok "ismfs (pid $p) still runs after fusermount3 -u"

# ---- cache=, cache_size=, fragment= (daemon form) --------------------------------------------
OPTS="cache=$TMP/cache4,cache_size=64M,fragment=4"
if mount_daemon "$SRC" "$MNT" "$OPTS"; then
    ok "ismfs SRC MNT -o $OPTS: mounted"
    n4=$(cmaf_times "$MNT" "$vbr" | wc -l)
    if [ "$n4" -gt 0 ] && [ "$n4" -lt "$n2" ]; then
        ok "fragment=4: QualityLevels($vbr) holds $n4 CMAF fragments, $n2 with the default 2 s"
    else
        not_ok "fragment=4: QualityLevels($vbr) holds $n4 CMAF fragments, $n2 with the default 2 s"
    fi
    t=$(cmaf_times "$MNT" "$vbr" | sed -n 2p)
    bad=
    for r in "$LADDER/manifest(format=mpd-time-csf)" "$LADDER/manifest" \
             "$LADDER/QualityLevels($vbr)/Fragments(video=$t,format=cmaf)"; do
        ism --fragment=4 cat "$SRC" "$r" 2>&1 | cmp -s - "$MNT/$r" || bad="$bad $r"
    done
    [ -z "$bad" ] && ok "fragment=4: manifests and a fragment equal ismfs --fragment=4 cat" ||
        not_ok "fragment=4: differ from ismfs --fragment=4 cat:$bad"
    p=$(daemon_pid "$MNT")
    unmount "$MNT" || not_ok "fusermount3 -u of the daemon form failed"
    if ! is_mounted "$MNT" && ! kill -0 "$p" 2>/dev/null; then
        ok "fusermount3 -u (daemon form): unmounted, the daemon ended"
    else
        not_ok "fusermount3 -u (daemon form): $(is_mounted "$MNT" && echo still mounted), daemon pid $p $(kill -0 "$p" 2>/dev/null && echo still runs)"
    fi
    st=$(ism --cache="$TMP/cache4" cache stats 2>&1)
    if [ -f "$TMP/cache4/data.mdb" ] && grep -Eq 'media entries: *[1-9]' <<<"$st"; then
        ok "cache=DIR: the mount kept its media index in DIR ($(grep 'media entries' <<<"$st" | tr -s ' '))"
    else
        not_ok "cache=DIR: $TMP/cache4 holds no media index: $(tr '\n' ' ' <<<"$st")"
    fi
fi
for o in fragment=abc fragment=0 cache_size=lots; do
    mkdir -p "$TMP/m_$o"
    if timeout 30 "$ISMFS" "$SRC" "$TMP/m_$o" -o "cache=$TMP/cachex,$o" >"$TMP/bad.out" 2>&1; then
        not_ok "-o $o: accepted"
        unmount "$TMP/m_$o"
    elif is_mounted "$TMP/m_$o"; then
        not_ok "-o $o: refused but mounted"
    else
        ok "-o $o: refused ($(head -1 "$TMP/bad.out")), nothing mounted"
    fi
done

# ---- SIGTERM to ismfs -f ----------------------------------------------------------------------
mount_fg "$SRC" "$MNT" "cache=$TMP/cache2" || exit 1
cat "$MNT/$LADDER/manifest" >/dev/null
p=$(daemon_pid "$MNT")
kill -TERM "$p"
wait "${MPID[$MNT]}"; rc=$?        # timeout(1) passes the status of ismfs on
unset "MPID[$MNT]"
for ((i = 0; i < 50; i++)); do is_mounted "$MNT" || break; sleep 0.1; done
if ! is_mounted "$MNT" && [ $rc = 0 ]; then
    ok "SIGTERM to ismfs -f: unmounted, exit status 0"
else
    not_ok "SIGTERM to ismfs -f: $(is_mounted "$MNT" && echo still mounted || echo unmounted), exit status $rc (want 0)"
fi

# ---- the fstab form -------------------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
    echo "# not root: the fstab form (mount -t fuse.ismfs) is not checked"
elif ! command -v mount.fuse3 >/dev/null && [ ! -x /sbin/mount.fuse3 ]; then
    not_ok "mount.fuse3 is missing (Debian package fuse3): the fstab form cannot work"
elif ! unshare -m --propagation private true 2>/dev/null; then
    echo "# unshare -m is not permitted here: the fstab form is not checked"
else
    mkdir -p "$TMP/bin" "$TMP/mnt_fstab"
    ln -s "$ISMFS" "$TMP/bin/ismfs"
    echo "$SRC $TMP/mnt_fstab fuse.ismfs cache=$TMP/cachef,fragment=4 0 0" >"$TMP/fstab"
    # runs in the private mount namespace; prints TAP lines
    cat >"$TMP/fstab.sh" <<'EOF'
set -u
TMP=$1 SRC=$2 MNT=$3 LADDER=$4
bin=
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin; do
    [ -d "$d" ] && mount --bind "$TMP/bin" "$d" && { bin=$d; break; }
done
[ -n "$bin" ] || { echo "not ok - fstab form: cannot bind a folder over the default PATH"; exit 1; }
trap 'grep -q " $MNT fuse.ismfs " /proc/mounts && { fusermount3 -u "$MNT" || umount -l "$MNT"; }' EXIT
trap 'exit 1' INT TERM
# try FORM_NAME CMD...: mount, read, check ro, unmount, daemon ends
try() {
    local what=$1 p i
    shift
    n=$((${n:-0} + 1))
    if ! "$@" >"$TMP/fstab.err" 2>&1; then
        echo "not ok - $what: $(head -c 300 "$TMP/fstab.err" | tr '\n' ' ')"
        return
    fi
    for p in /proc/[0-9]*; do
        tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF "$MNT" && [ "$(readlink "$p/exe")" = "$(readlink -f "$TMP/bin/ismfs")" ] &&
            { echo "${p#/proc/}" >>"$TMP/fstab.pids"; break; }
    done
    p=$(tail -1 "$TMP/fstab.pids" 2>/dev/null)
    opts=$(awk -v m="$MNT" '$2 == m && $3 == "fuse.ismfs" { print $4 }' /proc/mounts)
    if [ -z "$opts" ]; then
        echo "not ok - $what: exit 0 but no fuse.ismfs mount at MNT"
        return
    fi
    [[ ",$opts," == *,ro,* ]] && echo "ok - $what: mounted read-only ($opts)" ||
        echo "not ok - $what: mounted without ro: $opts"
    cat "$MNT/$LADDER/manifest(format=mpd-time-csf)" >"$TMP/fstab.$n.mpd" 2>&1
    ls "$MNT/$LADDER/QualityLevels($(ls "$MNT/$LADDER" | sed -n 's/^QualityLevels(\([0-9]*\))$/\1/p' | sort -n | tail -1))" \
        >"$TMP/fstab.$n.ls" 2>&1
    fusermount3 -u "$MNT" && echo "ok - $what: fusermount3 -u" || echo "not ok - $what: fusermount3 -u failed"
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && echo "not ok - $what: the daemon (pid $p) still runs after fusermount3 -u"
}
try "mount -T FSTAB MNT (line: SRC MNT fuse.ismfs cache=DIR,fragment=4 0 0)" mount -T "$TMP/fstab" "$MNT"
try "mount -t fuse.ismfs SRC MNT -o cache=DIR,fragment=4" mount -t fuse.ismfs "$SRC" "$MNT" -o "cache=$TMP/cachef,fragment=4"
EOF
    timeout 120 unshare -m --propagation private bash "$TMP/fstab.sh" "$TMP" "$SRC" "$TMP/mnt_fstab" "$LADDER" \
        >"$TMP/fstab.out" 2>&1
    grep -E '^(not )?ok ' "$TMP/fstab.out"
    grep -q '^not ok ' "$TMP/fstab.out" && fail=1
    grep -vE '^(not )?ok ' "$TMP/fstab.out" | head -5 | sed 's/^/# /'
    while read -r p; do EXTRA_PIDS+=("$p"); done <"$TMP/fstab.pids" 2>/dev/null
    # what was read through the fstab mounts: the bytes of ismfs --fragment=4
    ism --fragment=4 cat "$SRC" "$LADDER/manifest(format=mpd-time-csf)" >"$TMP/want.mpd"
    ism --fragment=4 ls "$SRC" "$LADDER/QualityLevels($vbr)" | sort >"$TMP/want.ls"
    for f in "$TMP"/fstab.[0-9]*.mpd; do
        [ -e "$f" ] || continue
        cmp -s "$TMP/want.mpd" "$f" && sort "${f%.mpd}.ls" | cmp -s "$TMP/want.ls" - &&
            ok "fstab form ${f##*fstab.}: the options reached ismfs (listing and DASH manifest of fragment=4)" ||
            not_ok "fstab form ${f##*fstab.}: listing or DASH manifest differ from ismfs --fragment=4: $(head -c 200 "$f")"
    done
fi
exit "$fail"
