#!/usr/bin/env bash
# ismfs over object storage mounted with rclone (what users do with blobfuse2/s3fs/rclone):
# `rclone serve webdav` of a copy of the ladder fixture on 127.0.0.1, `rclone mount` of it
# with the VFS cache off as SRC, ismfs over that.
#   (a) every manifest and every segment of ladder.ism (find -type f over the asset's
#       directory) is byte-identical (cmp) to ismfs over the local fixture;
#   (b) remount ismfs over the same cache directory: everything is fetched again and is
#       still identical, and rclone served no moov. Two proofs:
#       - between the passes every MP4's moov payload in the served copy is overwritten
#         with zeros (same size, mtime put back, the kernel's cached pages of the rclone
#         mount dropped): a remount that parsed a moov again would fail or differ, one
#         serving from its LMDB index reads only sample ranges, which are untouched;
#       - the bytes rclone served (its -vv log: "ChunkedReader.Read at OFF length N")
#         in the second pass are more than zero (reads did reach it) and are printed
#         against the first pass and the moov sizes (moov boxes sit next to the samples
#         in these files: page-sized reads cannot tell them apart by range).
# Skips (77) only when rclone is not installed and cannot be (scripts/deps.sh installs it).
source "$(dirname "$0")/../lib/mount_lib.sh"
if ! command -v rclone >/dev/null; then
    echo "# rclone is not installed (scripts/deps.sh installs Debian's rclone)"
    exit 77
fi
need curl

STORE=$TMP/store
RC=$TMP/rc
export RCLONE_CONFIG=$TMP/rclone.conf
: >"$RCLONE_CONFIG"
mkdir -p "$STORE" "$RC"
cp -a "$FIX/ladder" "$STORE/" || bail "cannot copy the ladder fixture"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

SERVE_PID= RMOUNT_PID=
rclone_down() {
    local m
    for m in "$TMP/local" "$TMP/over" "$TMP/over2"; do is_mounted "$m" && unmount "$m"; done
    if grep -q " $RC fuse" /proc/mounts; then
        fusermount3 -u "$RC" 2>/dev/null || fusermount -u "$RC" 2>/dev/null || umount -l "$RC"
    fi
    [ -n "$RMOUNT_PID" ] && kill "$RMOUNT_PID" 2>/dev/null
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
    wait 2>/dev/null
}
trap 'st=$?; rclone_down; (exit $st); cleanup' EXIT

rclone serve webdav "$STORE" --addr "127.0.0.1:$PORT" --read-only -vv \
       --log-file "$TMP/serve.log" 2>>"$TMP/rclone.err" &
SERVE_PID=$!
for _ in $(seq 50); do
    curl -sf -o /dev/null -X PROPFIND -H 'Depth: 0' "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done
# VFS cache off: every read is a ranged GET; small chunks, so the server reads about what
# is asked (its default chunk is 128 MB read ahead)
rclone mount ":webdav,url='http://127.0.0.1:$PORT':" "$RC" --read-only --vfs-cache-mode off \
       --vfs-read-chunk-size 64k --vfs-read-chunk-size-limit 64k --dir-cache-time 1h \
       -vv --log-file "$TMP/rmount.log" 2>>"$TMP/rclone.err" &
RMOUNT_PID=$!
for _ in $(seq 100); do grep -q " $RC fuse" /proc/mounts && [ -f "$RC/ladder/ladder.ism" ] && break; sleep 0.1; done
grep -q " $RC fuse" /proc/mounts || bail "rclone mount did not come up: $(tail -3 "$TMP/rmount.log")"
ok "rclone serve webdav on 127.0.0.1:$PORT and rclone mount of it (VFS cache off)"

mount_fg "$FIX" "$TMP/local" "cache=$TMP/cache-local" || exit 1
mount_fg "$RC" "$TMP/over" "cache=$TMP/cache" || exit 1

A=ladder/ladder.ism
(cd "$TMP/local/$A" && find . -type f | sort) >"$TMP/files"
nfiles=$(wc -l <"$TMP/files")
[ "$nfiles" -gt 50 ] || bail "only $nfiles files under the local $A"

# compare MNT: cmp of every file against the local mount; prints the differing count.
compare() {
    local f bad=0
    while read -r f; do
        cmp -s "$TMP/local/$A/$f" "$1/$A/$f" || { bad=$((bad + 1)); echo "$f" >>"$TMP/bad"; }
    done <"$TMP/files"
    echo "$bad"
}
# served_bytes FROM_LINE: bytes rclone serve read from the store since that log line.
served_bytes() {
    tail -n +"$1" "$TMP/serve.log" |
        sed -n 's/.*ChunkedReader\.Read at [0-9]* length \([0-9]*\) .*/\1/p' |
        awk '{ s += $1 } END { print s + 0 }'
}

l0=$(($(wc -l <"$TMP/serve.log") + 1))
: >"$TMP/bad"
bad=$(compare "$TMP/over")
[ "$bad" -eq 0 ] && ok "(a) all $nfiles manifests and segments over rclone are identical to the local mount" ||
    not_ok "(a) $bad of $nfiles files differ over rclone: $(head -3 "$TMP/bad" | tr '\n' ' ')"
unmount "$TMP/over" || not_ok "ismfs over rclone did not unmount cleanly"
pass1=$(served_bytes "$l0")

# moov boxes of the served copy (a top-level box walk: python, not ismfs)
python3 - "$STORE/ladder" >"$TMP/moovs" <<'EOF'
import os, struct, sys
for name in sorted(os.listdir(sys.argv[1])):
    if not name.endswith('.mp4'):
        continue
    p = os.path.join(sys.argv[1], name)
    with open(p, 'rb') as f:
        data = f.read()
    off = 0
    while off + 8 <= len(data):
        size, kind = struct.unpack('>I4s', data[off:off + 8])
        if size == 1:
            size = struct.unpack('>Q', data[off + 8:off + 16])[0]
        if size < 8:
            break
        if kind == b'moov':
            print(name, off, size)
        off += size
EOF
nmoov=$(wc -l <"$TMP/moovs")
moov_bytes=$(awk '{ s += $3 } END { print s + 0 }' "$TMP/moovs")
[ "$nmoov" -eq 5 ] || bail "found $nmoov moov boxes in the 5 MP4s of the copy"

# the moov payloads zeroed in place: same size, same mtime; the rclone mount's pages dropped
python3 - "$STORE/ladder" "$RC/ladder" "$TMP/moovs" <<'EOF' || bail "cannot zero the moov boxes"
import os, sys
store, rc, moovs = sys.argv[1:4]
for line in open(moovs):
    name, off, size = line.split()
    off, size = int(off), int(size)
    p = os.path.join(store, name)
    st = os.stat(p)
    with open(p, 'r+b') as f:
        f.seek(off + 8)
        f.write(b'\0' * (size - 8))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    fd = os.open(os.path.join(rc, name), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
EOF
if "$ISMFS" --cache="$TMP/probe" inspect "$STORE/ladder/ladder_640x360.mp4" >/dev/null 2>&1; then
    not_ok "control: ismfs still parses an MP4 whose moov is zeroed (the proof below proves nothing)"
else
    ok "control: an MP4 with its moov zeroed does not parse (ismfs inspect fails on it)"
fi

l1=$(($(wc -l <"$TMP/serve.log") + 1))
mount_fg "$RC" "$TMP/over2" "cache=$TMP/cache" || exit 1
: >"$TMP/bad"
bad=$(compare "$TMP/over2")
[ "$bad" -eq 0 ] &&
    ok "(b) after a remount over the same cache, all $nfiles files are identical again, the moov boxes zeroed in the storage: no moov was read" ||
    not_ok "(b) after the remount $bad of $nfiles files differ (a moov was read?): $(head -3 "$TMP/bad" | tr '\n' ' ')"
unmount "$TMP/over2" || not_ok "the second ismfs over rclone did not unmount cleanly"
pass2=$(served_bytes "$l1")
echo "# rclone served $pass1 bytes in the first pass, $pass2 after the remount; the 5 moov boxes hold $moov_bytes"
[ "$pass2" -gt 0 ] && ok "(b) the remount's reads reached rclone ($pass2 bytes served: sample ranges)" ||
    not_ok "(b) rclone served nothing after the remount: the proof above saw cached pages only"
[ "$pass2" -le "$pass1" ] && ok "(b) the remount read no more than the first pass ($pass2 <= $pass1 bytes)" ||
    not_ok "(b) the remount read more than the first pass ($pass2 > $pass1 bytes)"
exit $fail
