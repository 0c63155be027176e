#!/usr/bin/env bash
# Directory listings and the kernel's readdir cache (fs/mount.c ll_opendir): a directory read
# to its end is kept by the kernel, and listed again from there, without a request, for half a
# second after the names and attributes of a whole listing were given; after that, a listing
# reaches the daemon and is never older than the timeouts (1 s). Checked on a folder of 3000
# plain files (the passthrough: their names and sizes in the source are the oracle, and they
# fill many READDIRPLUS replies) and on a QualityLevels folder (`ismfs ls -l`, no mount):
#   (a) a cold listing (names and sizes, find -printf) equals the source;
#   (b) one right after it equals it too, and was served by the kernel: the daemon counted one
#       listing for the two and no lookup per name (ismfs_listings_total, ismfs_lookups_total);
#       one 1.1 s later (the names expired) is made anew by the daemon, again without a lookup
#       per name (the kernel's cache alone would need one for each);
#   (c) a file added and a file replaced by a bigger one: a listing 1.1 s later shows both
#       (no stale name or size once the timeouts have passed), and reached the daemon;
#   (d) a listing stopped after 10 names (the kernel keeps no partial listing) and then a
#       whole one: the whole one equals the source;
#   (e) four listings at once, right after a fresh one: each equals the source;
#   (f) a QualityLevels folder listed twice (the second from the kernel): names and sizes of
#       `ismfs ls -l`, the CLI's view of the same source without FUSE;
#   (g) after the kernel drops its dentries and inodes (drop_caches; skipped where /proc/sys
#       is read-only), the daemon's node table (ismfs_kernel_nodes) has shrunk to a tenth and
#       the folder still lists and reads.
source "$(dirname "$0")/../lib/mount_lib.sh"

SRC=$TMP/src MNT=$TMP/mnt
mkdir -p "$SRC/many"
cp -al "$FIX/ladder" "$SRC/" 2>/dev/null || cp -a "$FIX/ladder" "$SRC/" || bail "cannot copy the ladder"
python3 - "$SRC/many" <<'EOF' || bail "cannot make $SRC/many"
import os, sys
for i in range(3000):      # names long enough that the listing needs many replies
    with open(os.path.join(sys.argv[1], "segment-%05d-of-a-long-catalog-name.bin" % i), "wb") as f:
        f.write(b"x" * (i % 997))
EOF
mount_fg "$SRC" "$MNT" || exit 1

# sizes DIR: "size name" of every entry of DIR, sorted
sizes() { find "$1" -mindepth 1 -maxdepth 1 -printf '%s %f\n' | sort; }
# metric NAME: the value of the metric ismfs_NAME; the rendering is made anew at most every
# 2 s, so wait that long first
metric() { awk -v n="ismfs_$1" '$1 == n { print $2 }' "$MNT/.ismfs/metrics"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

sizes "$SRC/many" >"$TMP/want"
[ "$(wc -l <"$TMP/want")" -eq 3000 ] || bail "the source folder has $(wc -l <"$TMP/want") files"
sleep 2.1
l0=$(metric listings_total) k0=$(metric lookups_total)

# (a), (b)
t0=$(now_ms)
sizes "$MNT/many" >"$TMP/cold"
t1=$(now_ms)
sizes "$MNT/many" >"$TMP/warm"
cmp -s "$TMP/want" "$TMP/cold" && ok "(a) a cold listing of 3000 files: the source's names and sizes" ||
    not_ok "(a) cold listing differs from the source: $(diff "$TMP/want" "$TMP/cold" | head -3 | tr '\n' ' ')"
cmp -s "$TMP/want" "$TMP/warm" && ok "(b) the listing right after it: the same names and sizes" ||
    not_ok "(b) the second listing differs: $(diff "$TMP/want" "$TMP/warm" | head -3 | tr '\n' ' ')"
sleep 2.1
l1=$(metric listings_total) k1=$(metric lookups_total)
if [ $((t1 - t0)) -ge 400 ]; then
    # the cold listing took most of the window: the second may rightly have been made anew
    ok "(b) # skip the cold listing took $((t1 - t0)) ms: too slow a machine to see the cache"
elif [ $((l1 - l0)) -eq 1 ] && [ $((k1 - k0)) -lt 100 ]; then
    ok "(b) the second listing came from the kernel: 1 listing made for 2, $((k1 - k0)) lookups"
else
    not_ok "(b) two listings $((t1 - t0)) ms apart: $((l1 - l0)) made by the daemon (want 1), $((k1 - k0)) lookups (want < 100)"
fi

# (b) once the names the kernel got have expired, nothing changed: listed anew by the daemon,
# names and attributes together, rather than from the kernel's cache and a lookup per name
sizes "$MNT/many" >/dev/null
sleep 1.1
sizes "$MNT/many" >"$TMP/later"
sleep 2.1
l2=$(metric listings_total) k2=$(metric lookups_total)
if cmp -s "$TMP/want" "$TMP/later" && [ $((l2 - l1)) -eq 2 ] && [ $((k2 - k1)) -lt 100 ]; then
    ok "(b) 1.1 s later: listed anew by the daemon with the attributes ($((k2 - k1)) lookups)"
else
    not_ok "(b) a listing 1.1 s after another: $((l2 - l1)) of 2 made by the daemon, $((k2 - k1)) lookups (want < 100)$(cmp -s "$TMP/want" "$TMP/later" || echo ', names or sizes differ')"
fi

# (c) changes show once the timeouts have passed
sizes "$MNT/many" >/dev/null
head -c 5000 /dev/zero >"$SRC/many/added.bin"
f=$(awk 'NR == 7 { print $2 }' "$TMP/want")
head -c 4321 /dev/zero >"$TMP/bigger" && mv "$TMP/bigger" "$SRC/many/$f"
sizes "$SRC/many" >"$TMP/want"
sleep 1.1
sizes "$MNT/many" >"$TMP/after"
if cmp -s "$TMP/want" "$TMP/after"; then
    ok "(c) 1.1 s after a file was added and one replaced: both in the listing, with their sizes"
else
    not_ok "(c) stale listing 1.1 s after the changes: $(diff "$TMP/want" "$TMP/after" | head -4 | tr '\n' ' ')"
fi
sleep 2.1
# since l2 (a rendering made after (b)'s listings): the listing before the changes, 2.1 s
# after (b)'s, and the one after them, both made by the daemon
l3=$(metric listings_total)
[ $((l3 - l2)) -eq 2 ] && ok "(c) that listing was made by the daemon" ||
    not_ok "(c) $((l3 - l2)) listings made by the daemon since (b), want 2 (the one before the changes, the one after)"

# (d) a partial listing, then a whole one
sleep 1.1
python3 - "$MNT/many" <<'EOF' || not_ok "(d) partial listing failed"
import os, sys
with os.scandir(sys.argv[1]) as it:
    for _, e in zip(range(10), it):
        pass
EOF
sizes "$MNT/many" >"$TMP/whole"
cmp -s "$TMP/want" "$TMP/whole" && ok "(d) a whole listing after one stopped at 10 names: every name" ||
    not_ok "(d) after a partial listing: $(diff "$TMP/want" "$TMP/whole" | head -3 | tr '\n' ' ')"

# (e) four at once
sleep 1.1
sizes "$MNT/many" >/dev/null
pids=()
for i in 1 2 3 4; do sizes "$MNT/many" >"$TMP/par$i" & pids+=($!); done
wait "${pids[@]}"               # not a bare wait: the mount is a background job too
bad=0
for i in 1 2 3 4; do cmp -s "$TMP/want" "$TMP/par$i" || bad=$((bad + 1)); done
[ "$bad" -eq 0 ] && ok "(e) four listings at once: each the source's names and sizes" ||
    not_ok "(e) $bad of four concurrent listings differ from the source"

# (f) a folder of the view
ql=$(cd "$MNT/$LADDER" && ls -d QualityLevels* | head -1)
"$ISMFS" ls -l --cache="$TMP/cli-cache" "$SRC" "$LADDER/$ql" 2>"$TMP/cli.err" |
    awk '{ s = $2; $1 = ""; $2 = ""; sub(/^  /, ""); print s, $0 }' | sort >"$TMP/view"
[ -s "$TMP/view" ] || bail "ismfs ls -l $LADDER/$ql: $(head -c 300 "$TMP/cli.err")"
sizes "$MNT/$LADDER/$ql" >"$TMP/v1"
sizes "$MNT/$LADDER/$ql" >"$TMP/v2"
if cmp -s "$TMP/view" "$TMP/v1" && cmp -s "$TMP/view" "$TMP/v2"; then
    ok "(f) $ql listed twice: the $(wc -l <"$TMP/view") names and sizes of ismfs ls -l"
else
    not_ok "(f) $ql: $(diff "$TMP/view" "$TMP/v1" | head -2 | tr '\n' ' ') / $(diff "$TMP/view" "$TMP/v2" | head -2 | tr '\n' ' ')"
fi

# (g) the kernel lets go of the inodes (FORGET) when it drops its dentries and inodes: the
# daemon's node table shrinks with it, and everything still lists and reads
sleep 2.1
n0=$(metric kernel_nodes)
if [ "${n0:-0}" -lt 3000 ]; then
    not_ok "(g) ismfs_kernel_nodes is ${n0:-missing} after 3000 files were listed"
elif ! { sync && echo 2 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
    ok "(g) # skip /proc/sys/vm/drop_caches cannot be written here ($n0 nodes held)"
else
    sleep 2.1
    n1=$(metric kernel_nodes)
    sizes "$MNT/many" >"$TMP/again"
    f=$(awk 'NR == 11 { print $2 }' "$TMP/want")
    if [ "${n1:-$n0}" -lt $((n0 / 10)) ] && cmp -s "$TMP/want" "$TMP/again" &&
        cmp -s "$SRC/many/$f" "$MNT/many/$f"; then
        ok "(g) dropped caches: the daemon's nodes $n0 -> $n1, then the folder lists and reads"
    else
        not_ok "(g) after drop_caches: nodes $n0 -> ${n1:-?}; listing $(cmp -s "$TMP/want" "$TMP/again" && echo same || echo differs); $f $(cmp -s "$SRC/many/$f" "$MNT/many/$f" && echo same || echo differs)"
    fi
fi

unmount "$MNT" || not_ok "$MNT did not unmount cleanly"
