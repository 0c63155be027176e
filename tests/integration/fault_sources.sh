#!/usr/bin/env bash
# Faults under the daemon (issue 8): nothing wrong is ever served, the affected file gets a
# clear error, everything else keeps working and the daemon stays up.
#   - a source MP4 truncated (in place) while a file made of it is being read 4 KiB at a time
#     (readahead off: every read reaches the daemon): a passthrough MP4, a CMAF fragment, a
#     Smooth fragment and a TS fragment. Every byte returned equals the untouched version;
#     the read either completes or fails with EIO, never ends early without an error; a new
#     open afterwards sees the new state (the shorter MP4; EIO for the broken asset);
#   - a source MP4 replaced (rename over) while read: the reader gets the old version whole,
#     a new open the new one;
#   - a source MP4 rewritten in place between two sample reads of one TS segment
#     (tests/lib/rewrite_shim.c, an LD_PRELOAD shim: deterministic): EIO, and nothing of it
#     kept in the object cache (the file's old bytes and mtime restored, the segment read
#     again equals the untouched version);
#   - a source whose reads fail with EIO (tests/lib/eio_shim.c, an LD_PRELOAD shim in the
#     daemon, switched on and off by a flag file): EIO for its files only, while another
#     asset is served; the same names serve correct bytes once the fault is gone;
#   - the cache directory on a full tiny tmpfs, on a read-only tmpfs (empty, and a read-only
#     bind of a filled cache), and its files deleted while mounted: every file's bytes equal
#     those of a mount over an untouched copy (the cache is an optimisation), the log says
#     what happened in a bounded number of lines.
# The reference is a second mount over an untouched copy of the sources (its own cache).
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
need gcc sha256sum mount umount

SRC=$TMP/src REF=$TMP/ref MNT=$TMP/mnt RMNT=$TMP/rmnt
V=QualityLevels\(852353\)        # the 640x360 rendition: ladder_640x360.mp4
mkdir -p "$SRC" "$REF/ref" || bail mkdir
# copies, not links: the test truncates and replaces them
for f in "$FIX"/ladder/*; do cp -p "$f" "$REF/ref/"; done
rm -f "$REF/ref/ladder_old.ism"
for d in t1 t2 t3 t4 r1 r2 eio good; do cp -a "$REF/ref" "$SRC/$d"; done
# the reference of a replaced asset: its 640x360 file becomes the 480x270 one
cp -a "$REF/ref" "$REF/new" && cp "$REF/ref/ladder_480x270.mp4" "$REF/new/ladder_640x360.mp4"

gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$TMP/eio_shim.so" "$ROOT/tests/lib/eio_shim.c" -ldl ||
    bail "cannot build tests/lib/eio_shim.c"
FLAG=$TMP/eio.on

mount_fg "$REF" "$RMNT" "cache=$TMP/rcache" || exit 1
# the daemon under test carries the shim, inert until $FLAG exists, and only for */eio/*
ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" LD_PRELOAD=$TMP/eio_shim.so \
    EIO_SHIM_MATCH=/src/eio/ EIO_SHIM_FLAG=$FLAG mount_fg "$SRC" "$MNT" "cache=$TMP/cache" || exit 1
DPID=$(daemon_pid "$MNT")
alive() { [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null && is_mounted "$MNT"; }

# during FILE REF_FILE ACTION ARGS...: reads FILE 4 KiB at a time (POSIX_FADV_RANDOM: no
# readahead, each read goes to the daemon), does ACTION after the first read, and prints
# "full" (every byte equals REF_FILE), "eio N" (EIO after N correct bytes), or what went wrong.
during() {
    python3 - "$@" <<'EOF'
import errno, os, shutil, sys
path, ref, action, *args = sys.argv[1:]
want = open(ref, "rb").read()
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
size = os.fstat(fd).st_size
if size != len(want):
    print("size %d, reference %d" % (size, len(want))); sys.exit()
got, res = b"", None
while True:
    try:
        b = os.pread(fd, 4096, len(got))
    except OSError as e:
        res = "eio %d" % len(got) if e.errno == errno.EIO else "error %s after %d" % (
            errno.errorcode.get(e.errno, e.errno), len(got))
        break
    if not b:
        break
    if want[len(got):len(got) + len(b)] != b:
        res = "WRONG bytes at %d" % len(got); break
    got += b
    if len(got) == len(b):
        if action == "truncate":
            os.truncate(args[0], int(args[1]))
        elif action == "replace":
            shutil.copyfile(args[1], args[0] + ".new")
            os.rename(args[0] + ".new", args[0])
if res is None:
    res = "full" if got == want else "SHORT: %d of %d bytes, no error" % (len(got), len(want))
os.close(fd)
print(res)
EOF
}
# same A B: the two files have equal bytes
same() { cmp -s "$1" "$2"; }

# ---- truncated while read ----
# t1: passthrough; t2: CMAF fragment; t3: Smooth fragment; t4: TS fragment (made whole at open)
declare -A TFILE=(
    [t1]=ladder_640x360.mp4
    [t2]="ladder.ism/$V/Fragments(video=24576,format=cmaf)"
    [t3]="ladder.ism/$V/Fragments(video=49152)"
    [t4]="ladder.ism/$V/Fragments(video=24576,format=m3u8-aapl)"
)
for d in t1 t2 t3 t4; do
    f=${TFILE[$d]}
    r=$(during "$MNT/$d/$f" "$RMNT/ref/$f" truncate "$SRC/$d/ladder_640x360.mp4" 400000)
    case $r in
        full|eio\ *) ok "truncated while read ($d: $f): $r" ;;
        *) not_ok "truncated while read ($d: $f): $r" ;;
    esac
done
sleep 1.2                                       # the kernel's attribute cache (1 s)
check "after truncation: the passthrough MP4 is the shorter file" \
    same "$MNT/t1/ladder_640x360.mp4" "$SRC/t1/ladder_640x360.mp4"
for d in t2 t3; do
    e=$(python3 -c 'import errno, os, sys
try: open(sys.argv[1], "rb").read(); print("OK")
except OSError as e: print(errno.errorcode[e.errno])' "$MNT/$d/${TFILE[$d]}")
    if [ "$e" = EIO ]; then ok "after truncation: $d's fragment is EIO"
    else not_ok "after truncation: $d's fragment: $e"; fi
done
grep -q 't2/ladder_640x360.mp4' "$MNT.log" && ok "a log line names the truncated MP4" ||
    not_ok "no log line names t2/ladder_640x360.mp4: $(tail -3 "$MNT.log" | tr '\n' ' ')"
check "another asset is served meanwhile" \
    same "$MNT/good/ladder.ism/$V/Fragments(video=0,format=cmaf)" "$RMNT/ref/ladder.ism/$V/Fragments(video=0,format=cmaf)"

# ---- replaced (rename over) while read ----
for d in r1 r2; do
    case $d in r1) f=ladder_640x360.mp4 ;; r2) f="ladder.ism/$V/Fragments(video=24576,format=cmaf)" ;; esac
    r=$(during "$MNT/$d/$f" "$RMNT/ref/$f" replace "$SRC/$d/ladder_640x360.mp4" "$SRC/$d/ladder_480x270.mp4")
    if [ "$r" = full ]; then ok "replaced while read ($d): the old version, whole"
    else not_ok "replaced while read ($d: $f): $r"; fi
done
sleep 1.2
check "after replace: the passthrough MP4 is the new file" \
    same "$MNT/r1/ladder_640x360.mp4" "$REF/new/ladder_640x360.mp4"
check "after replace: the fragment is made of the new file" \
    same "$MNT/r2/ladder.ism/$V/Fragments(video=24576,format=cmaf)" "$RMNT/new/ladder.ism/$V/Fragments(video=24576,format=cmaf)"
check "daemon alive after truncations and replacements" alive

# ---- reads that fail with EIO ----
E=(ladder_640x360.mp4 "ladder.ism/$V/Fragments(video=0,format=cmaf)"
   "ladder.ism/$V/Fragments(video=0,format=m3u8-aapl)" "ladder.ism/manifest(format=mpd-time-csf)")
touch "$FLAG"
for f in "${E[@]}"; do
    e=$(python3 -c 'import errno, os, sys
try: open(sys.argv[1], "rb").read(); print("OK")
except OSError as e: print(errno.errorcode[e.errno])' "$MNT/eio/$f")
    if [ "$e" = EIO ]; then ok "source reads fail: $f is EIO"; else not_ok "source reads fail: $f gives $e"; fi
done
[ -s "$FLAG.hits" ] && ok "the shim failed $(wc -c <"$FLAG.hits") reads of eio/" ||
    not_ok "the shim was never reached (LD_PRELOAD not in effect?)"
check "with a failing source, another asset is served" \
    same "$MNT/good/ladder.ism/$V/Fragments(video=0,format=m3u8-aapl)" "$RMNT/ref/ladder.ism/$V/Fragments(video=0,format=m3u8-aapl)"
rm -f "$FLAG"
sleep 1.2
for f in "${E[@]}"; do
    check "fault gone: $f has the right bytes again" same "$MNT/eio/$f" "$RMNT/ref/$f"
done
check "daemon alive after EIO" alive
n=$(grep -c 'eio/' "$MNT.log")
if [ "$n" -ge 1 ] && [ "$n" -le 8 ]; then ok "EIO logged in $n lines: $(grep -m1 'eio/' "$MNT.log" | head -c 150)"
else not_ok "EIO logged in $n lines"; fi
unmount "$MNT" || not_ok "unmount"

# ---- rewritten in place while a segment is made ----
# Generation checks each source once, after its last read (fs/source.h: deferred checks), not
# after every read. tests/lib/rewrite_shim.c rewrites the English audio MP4 in place (its
# mdat payload XORed) just before the 10th read of an audio TS segment (~90 sample reads):
# the segment is made of bytes of two versions, and must be EIO. Then the file gets its old
# bytes and its old mtime back: the same identity, so the same object cache key; the segment
# read again must be the reference's bytes, which it is not if the mixed one was kept.
gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$TMP/rewrite_shim.so" \
    "$ROOT/tests/lib/rewrite_shim.c" -ldl -lpthread || bail "cannot build tests/lib/rewrite_shim.c"
WSRC=$TMP/wsrc WMNT=$TMP/wmnt WFLAG=$TMP/rewrite.on
mkdir -p "$WSRC" && cp -a "$REF/ref" "$WSRC/w1"
WFILE=$WSRC/w1/ladder_aac_eng.mp4
WSEG="ladder.ism/QualityLevels(130544)/Fragments(aac_eng_2_130544_1_1=96256,format=m3u8-aapl)"
# where the mdat payload is: "offset length", from the top-level boxes
mdat=$(python3 - "$ROOT/tests/lib" "$WFILE" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from mp4box import boxes
d = open(sys.argv[2], "rb").read()
for typ, body, end in boxes(d):
    if typ == b"mdat":
        print(body, end - body)
        break
EOF
)
[ -n "$mdat" ] || bail "no mdat in $WFILE"
old_mtime=$(python3 -c 'import os, sys; print(os.stat(sys.argv[1]).st_mtime_ns)' "$WFILE")
ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" LD_PRELOAD=$TMP/rewrite_shim.so \
    REWRITE_SHIM_MATCH=/wsrc/w1/ladder_aac_eng.mp4 REWRITE_SHIM_FLAG=$WFLAG \
    mount_fg "$WSRC" "$WMNT" "cache=$TMP/wcache" || exit 1
# the asset is built (its moov read) before the shim is armed
cat "$WMNT/w1/ladder.ism/manifest" >/dev/null || not_ok "rewrite case: the manifest"
echo "10 $mdat" >"$WFLAG"
e=$(python3 -c 'import errno, sys
try: open(sys.argv[1], "rb").read(); print("OK")
except OSError as e: print(errno.errorcode[e.errno])' "$WMNT/w1/$WSEG")
if [ -s "$WFLAG.done" ] && [ ! -e "$WFLAG" ]; then
    ok "rewrite case: the file was rewritten before read $(cat "$WFLAG.done") of the segment"
else
    not_ok "rewrite case: the shim never rewrote the file (LD_PRELOAD not in effect?)"
fi
if [ "$e" = EIO ]; then ok "rewritten in place while a TS segment was made: EIO"
else not_ok "rewritten in place while a TS segment was made: $e (bytes of two versions)"; fi
# the old bytes and mtime back (the same XOR): the file's identity is the one opened
# shellcheck disable=SC2086  # $mdat: two numbers
python3 - "$WFILE" $mdat "$old_mtime" <<'EOF'
import os, sys
path, off, n, mtime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(path, "r+b") as f:
    f.seek(off)
    b = bytes(x ^ 0x5a for x in f.read(n))
    f.seek(off)
    f.write(b)
os.utime(path, ns=(mtime, mtime))
EOF
check "rewrite case: the source has its old bytes and mtime again" \
    python3 -c 'import os, sys; a, b = os.stat(sys.argv[1]), os.stat(sys.argv[2])
sys.exit(open(sys.argv[1], "rb").read() != open(sys.argv[2], "rb").read() or a.st_mtime_ns != int(sys.argv[3]))' \
    "$WFILE" "$REF/ref/ladder_aac_eng.mp4" "$old_mtime"
sleep 1.2
check "rewrite case: the segment read again is the old version whole (nothing mixed was kept)" \
    same "$WMNT/w1/$WSEG" "$RMNT/ref/$WSEG"
if grep -q 'w1/ladder_aac_eng.mp4.*changed while open' "$WMNT.log"; then
    ok "rewrite case: a log line names the rewritten MP4"
else
    not_ok "rewrite case: no log line: $(tail -3 "$WMNT.log" | tr '\n' ' ')"
fi
unmount "$WMNT" || not_ok "unmount the rewrite case's mount"

# ---- the cache ----
# tree_sums MNT: sha256 of every file of ref/ (passthrough and generated), by relative name
tree_sums() {
    python3 - "$1/ref" <<'EOF'
import hashlib, os, sys
top = sys.argv[1]
for d, dirs, files in sorted(os.walk(top)):
    dirs.sort()
    for f in sorted(files):
        p = os.path.join(d, f)
        print(hashlib.sha256(open(p, "rb").read()).hexdigest(), os.path.relpath(p, top))
EOF
}
tree_sums "$RMNT" >"$TMP/ref.sums"
nref=$(wc -l <"$TMP/ref.sums")
[ "$nref" -gt 100 ] || bail "the reference has $nref files"
CSRC=$TMP/csrc
mkdir -p "$CSRC" && cp -a "$REF/ref" "$CSRC/ref"
# cache_case WHAT CACHE_DIR: mount CSRC with that cache, all bytes as the reference, log lines
cache_case() {
    local what=$1 cdir=$2 m=$TMP/cm.$RANDOM
    mount_fg "$CSRC" "$m" "cache=$cdir" || return
    tree_sums "$m" >"$m.sums" 2>"$m.err"
    if cmp -s "$m.sums" "$TMP/ref.sums"; then ok "$what: all $nref files have the right bytes"
    else not_ok "$what: $(diff "$m.sums" "$TMP/ref.sums" | head -3 | tr '\n' ' ') $(head -c 200 "$m.err")"; fi
    CM=$m
}
log_lines() {
    local m=$1 max=$2 what=$3 n
    n=$(grep -vc '^$' "$m.log")
    if [ "$n" -ge 1 ] && [ "$n" -le "$max" ]; then ok "$what: $n log line(s): $(head -c 160 "$m.log" | tr '\n' '|')"
    else not_ok "$what: $n log lines (want 1..$max): $(head -c 300 "$m.log" | tr '\n' '|')"; fi
}
MOUNTS=()
tmpfs() {                       # tmpfs DIR OPTS: a private tmpfs, unmounted on exit
    mkdir -p "$1" && mount -t tmpfs -o "$2" tmpfs "$1" && MOUNTS+=("$1")
}
trap 'for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done; cleanup' EXIT
if [ "$(id -u)" -ne 0 ]; then
    echo "# not root: no tmpfs for the cache cases"
else
    # full: 128 KiB hold LMDB's first pages and little else
    tmpfs "$TMP/full" size=128k || bail "mount tmpfs"
    cache_case "cache on a full 128 KiB tmpfs" "$TMP/full/c"
    check "cache full: daemon alive" kill -0 "$(daemon_pid "$CM")"
    unmount "$CM"
    log_lines "$CM" 3 "cache full"
    # read-only, empty
    tmpfs "$TMP/ro" ro,size=1m || bail "mount tmpfs ro"
    cache_case "cache on an empty read-only tmpfs" "$TMP/ro"
    unmount "$CM"
    log_lines "$CM" 2 "cache read-only and empty"
    # deleted while mounted: filled, its files removed, read again, then a second pass
    cache_case "cache filled" "$TMP/del"
    rm -f "$TMP/del/data.mdb" "$TMP/del/lock.mdb"
    tree_sums "$CM" >"$CM.sums2" 2>&1
    if cmp -s "$CM.sums2" "$TMP/ref.sums"; then ok "cache files deleted while mounted: right bytes"
    else not_ok "cache deleted: $(diff "$CM.sums2" "$TMP/ref.sums" | head -3 | tr '\n' ' ')"; fi
    check "cache deleted: daemon alive" kill -0 "$(daemon_pid "$CM")"
    unmount "$CM" || not_ok "unmount after the cache was deleted"
    cache_case "cache filled again (remount)" "$TMP/del"
    unmount "$CM"
    # read-only bind of that filled cache
    mkdir -p "$TMP/robind" && mount --bind -o ro "$TMP/del" "$TMP/robind" && MOUNTS+=("$TMP/robind") &&
        mount -o remount,bind,ro "$TMP/robind" || bail "ro bind"
    cache_case "cache on a read-only bind of a filled cache" "$TMP/robind"
    unmount "$CM"
    log_lines "$CM" 2 "cache read-only bind"
fi
unmount "$RMNT" || not_ok "unmount the reference"
