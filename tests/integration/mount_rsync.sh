#!/usr/bin/env bash
# rsync from the mount (DESIGN §2: exact sizes and stable mtimes, what rsync and CDN origin
# syncs rely on): `rsync -a MNT/ copy1/`; a second `rsync -ai` into copy1 transfers nothing;
# after a remount with an empty cache (a restart of the origin), `rsync -a MNT/ copy2/` from
# scratch gives a tree identical to copy1 (`diff -r`), and `rsync -ai` into copy1 still
# transfers nothing. SRC is a hard-link copy of tests/fixtures without long/.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
need rsync diff
SRC=$TMP/src MNT=$TMP/mnt
farm "$SRC"
mount_fg "$SRC" "$MNT" "cache=$TMP/cache1" || exit 1

# itemized RSYNC-OUTPUT: what `rsync -ai` printed (it prints a line per changed item only)
itemized() { grep . "$1"; }

if timeout 300 rsync -a "$MNT/" "$TMP/copy1/" 2>"$TMP/rsync.err"; then
    ok "rsync -a MNT/ copy1/: exit 0 ($(find "$TMP/copy1" -type f | wc -l) files)"
else
    not_ok "rsync -a MNT/ copy1/: $(head -c 300 "$TMP/rsync.err")"
fi
nf=$(find "$TMP/copy1" -path '*.ism/QualityLevels(*)/Fragments(*' -type f | wc -l)
[ "$nf" -gt 100 ] && ok "copy1 holds $nf fragments" || not_ok "copy1 holds only $nf fragments"
timeout 300 rsync -ai "$MNT/" "$TMP/copy1/" >"$TMP/again.out" 2>&1
if [ $? = 0 ] && ! itemized "$TMP/again.out" >/dev/null; then
    ok "rsync -ai MNT/ copy1/ a second time: nothing to transfer"
else
    not_ok "rsync -ai MNT/ copy1/ a second time transfers: $(itemized "$TMP/again.out" | head -5 | tr '\n' ' ')"
fi
check "diff -r MNT copy1: the copy holds the mount's bytes" timeout 300 diff -r "$MNT" "$TMP/copy1"

sanitizer_check
unmount "$MNT" || not_ok "fusermount3 -u failed"
mount_fg "$SRC" "$MNT" "cache=$TMP/cache2" || exit 1
if timeout 300 rsync -a "$MNT/" "$TMP/copy2/" 2>"$TMP/rsync.err"; then
    ok "rsync -a MNT/ copy2/ after a remount with an empty cache: exit 0"
else
    not_ok "rsync -a MNT/ copy2/: $(head -c 300 "$TMP/rsync.err")"
fi
check "diff -r copy1 copy2: the two copies are identical" diff -r "$TMP/copy1" "$TMP/copy2"
timeout 300 rsync -ai "$MNT/" "$TMP/copy1/" >"$TMP/again.out" 2>&1
if [ $? = 0 ] && ! itemized "$TMP/again.out" >/dev/null; then
    ok "rsync -ai MNT/ copy1/ after the remount: nothing to transfer (same sizes and mtimes)"
else
    not_ok "rsync -ai MNT/ copy1/ after the remount transfers: $(itemized "$TMP/again.out" | head -5 | tr '\n' ' ')"
fi
unmount "$MNT" || not_ok "fusermount3 -u failed"
exit "$fail"
