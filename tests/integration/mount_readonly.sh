#!/usr/bin/env bash
# Writes of every kind fail with EROFS (DESIGN §2), on a passthrough file, a generated file,
# a plain directory, an asset directory and a QualityLevels directory, through the shell tools
# (touch, >, >>, mkdir, rmdir, rm, mv, chmod, chown, truncate, ln, ln -s, cp, dd) and through
# the system calls themselves (python3 os: errno must be EROFS). Afterwards the source tree is
# untouched and the mount serves the same bytes.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
need touch truncate ln chmod chown mv rm dd sha256sum
SRC=$TMP/src MNT=$TMP/mnt
farm "$SRC"
snapshot() { (cd "$SRC" && find . -printf '%p %s %T@ %m\n' | sort && find . -type f -exec sha256sum {} + | sort); }
snapshot >"$TMP/before"
mount_fg "$SRC" "$MNT" || exit 1
ql=$(cd "$MNT/$LADDER" && ls -d 'QualityLevels('* | head -1)
frag=$(cd "$MNT/$LADDER/$ql" && ls | grep 'format=cmaf)$' | head -1)
PASS=ladder/ladder_320x180.mp4
MAN=$LADDER/manifest
FRAG=$LADDER/$ql/$frag
cat "$MNT/$MAN" "$MNT/$FRAG" "$MNT/$PASS" | sha256sum >"$TMP/bytes.before"

# rofs WHAT CMD...: CMD must fail and say "Read-only file system"
rofs() {
    local what=$1 out
    shift
    if out=$(cd "$MNT" && timeout 30 "$@" 2>&1 </dev/null); then
        not_ok "$what: succeeded"
    elif grep -q 'Read-only file system' <<<"$out"; then
        ok "$what: Read-only file system"
    else
        not_ok "$what: failed with another error: $(head -c 200 <<<"$out" | tr '\n' ' ')"
    fi
}
rofs "touch a passthrough file"            touch "$PASS"
rofs "touch a generated file"              touch "$MAN"
rofs "touch a new file"                    touch new.txt
rofs "touch a new file in an asset dir"    touch "$LADDER/new"
rofs "echo > a passthrough file"           sh -c "echo x > '$PASS'"
rofs "echo >> a generated fragment"        sh -c "echo x >> '$FRAG'"
rofs "echo > a new file"                   sh -c 'echo x > ladder/new.txt'
rofs "mkdir in the root"                   mkdir newdir
rofs "mkdir in an asset dir"               mkdir "$LADDER/QualityLevels(1)"
rofs "rmdir a QualityLevels dir"           rmdir "$LADDER/$ql"
rofs "rm -f a passthrough file"            rm -f "$PASS"
rofs "rm -f a fragment"                    rm -f "$FRAG"
rofs "rm -rf an asset dir"                 rm -rf "$LADDER"
rofs "mv a passthrough file"               mv "$PASS" ladder/moved.mp4
rofs "mv a generated file"                 mv "$MAN" "$LADDER/manifest2"
rofs "mv an asset dir"                     mv "$LADDER" ladder/renamed.ism
rofs "chmod a passthrough file"            chmod 0644 "$PASS"
rofs "chmod an asset dir"                  chmod 0755 "$LADDER"
rofs "chown a generated file"              chown "$(id -u):$(id -g)" "$MAN"
rofs "truncate a passthrough file"         truncate -s 0 "$PASS"
rofs "truncate a fragment"                 truncate -s 10 "$FRAG"
rofs "ln a hard link"                      ln "$PASS" ladder/hard.mp4
rofs "ln -s a symlink"                     ln -s "$PASS" sym.mp4
rofs "cp a file in"                        cp "$SRC/.stamp" ladder/copied
rofs "dd conv=notrunc into a fragment"     dd if=/dev/zero of="$FRAG" bs=1 count=1 conv=notrunc status=none

# the system calls: errno must be EROFS
python3 - "$MNT" "$PASS" "$MAN" "$FRAG" "$LADDER" "$ql" <<'EOF'
import errno, os, sys
mnt, pas, man, frag, asset, ql = sys.argv[1:]
os.chdir(mnt)
def o(path, flags):
    fd = os.open(path, flags, 0o644)
    os.close(fd)
calls = [
    ("open(O_WRONLY) a passthrough file", lambda: o(pas, os.O_WRONLY)),
    ("open(O_RDWR) a fragment", lambda: o(frag, os.O_RDWR)),
    ("open(O_RDONLY|O_TRUNC) a manifest", lambda: o(man, os.O_RDONLY | os.O_TRUNC)),
    ("open(O_CREAT|O_EXCL) a new file", lambda: o("ladder/x", os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
    ("open(O_CREAT) a new file in a QualityLevels dir",
     lambda: o(asset + "/" + ql + "/Fragments(video=1)", os.O_WRONLY | os.O_CREAT)),
    ("mkdir", lambda: os.mkdir("ladder/d")),
    ("rmdir an asset dir", lambda: os.rmdir(asset)),
    ("unlink a manifest", lambda: os.unlink(man)),
    ("rename a fragment", lambda: os.rename(frag, frag + "x")),
    ("rename a file out of an asset", lambda: os.rename(man, "ladder/m")),
    ("link", lambda: os.link(pas, "ladder/l")),
    ("symlink", lambda: os.symlink(pas, "ladder/s")),
    ("mknod a fifo", lambda: os.mkfifo("ladder/f")),
    ("chmod a generated file", lambda: os.chmod(man, 0o644)),
    ("chown a passthrough file", lambda: os.chown(pas, os.getuid(), os.getgid())),
    ("truncate a fragment", lambda: os.truncate(frag, 0)),
    ("utime a passthrough file", lambda: os.utime(pas, (0, 0))),
    ("setxattr a fragment", lambda: os.setxattr(frag, "user.x", b"1")),
    ("removexattr a manifest", lambda: os.removexattr(man, "user.x")),
]
bad = 0
for what, call in calls:
    try:
        call()
        print("not ok - %s: succeeded" % what)
        bad = 1
    except OSError as e:
        if e.errno == errno.EROFS:
            print("ok - %s: errno EROFS" % what)
        else:
            print("not ok - %s: errno %s (%s), not EROFS" % (what, errno.errorcode.get(e.errno), e.strerror))
            bad = 1
# access(W_OK) says no; reading still works
if os.access(man, os.W_OK):
    print("not ok - access(manifest, W_OK) says writable"); bad = 1
else:
    print("ok - access(manifest, W_OK) refuses")
sys.exit(bad)
EOF
[ $? = 0 ] || fail=1

if python3 -c 'import os,sys; sys.exit(not os.statvfs(sys.argv[1]).f_flag & os.ST_RDONLY)' "$MNT"; then
    ok "statvfs(MNT) has ST_RDONLY"
else
    not_ok "statvfs(MNT) lacks ST_RDONLY"
fi
snapshot >"$TMP/after"
check "the source tree is unchanged (names, sizes, mtimes, modes, bytes)" diff "$TMP/before" "$TMP/after"
cat "$MNT/$MAN" "$MNT/$FRAG" "$MNT/$PASS" | sha256sum >"$TMP/bytes.after"
check "the mount serves the same bytes as before the attempts" cmp "$TMP/bytes.before" "$TMP/bytes.after"
for e in new.txt newdir sym.mp4 ladder/new.txt ladder/moved.mp4 ladder/hard.mp4 ladder/copied; do
    [ -e "$MNT/$e" ] || [ -L "$MNT/$e" ] && not_ok "$e exists in the mount after the attempts"
done
unmount "$MNT" || not_ok "fusermount3 -u failed"
exit "$fail"
