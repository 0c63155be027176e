#!/usr/bin/env bash
# Path security (issue 8; DESIGN §2 "Security"), through a real mount and through `ismfs cat`/`ls`
# (which hand a path to the same code with no kernel in front, so `..` and long strings reach
# it unchanged):
#   - symlinks in SRC that leave it (to a file or a directory, absolute or relative, chained,
#     and an .ism whose <video src> is such a link or a "../" path) are ENOENT and missing from
#     listings; the secret outside SRC (a random token) is in no byte the mount serves. Links
#     that stay inside SRC (relative, also through "..") are followed and shown as what they
#     name (a regular 0444 file / 0555 directory, same bytes): the mount has no symlinks.
#     An absolute link is refused even when it points into SRC (SRC's absolute place is
#     not part of the tree: the same tree mounted elsewhere or synced must mean the same);
#   - "..", percent-encoded tricks (%2e%2e, %2f, %00, %252e) and names with NUL: ENOENT, or
#     refused before any system call (python's os API: ValueError);
#   - overlong names: a component > 255 bytes and a path > 4096 bytes are ENAMETOOLONG from the
#     kernel; through `ismfs cat` (no kernel) ENOENT; a 10 000-deep path string is
#     ENAMETOOLONG through the mount, ENOENT through `ismfs cat`; a real 10 000-deep directory
#     tree in SRC is walked one component at a time: each level opens or fails with
#     ENOENT/ENAMETOOLONG, the daemon stays up;
#   - keys=DIR: inside SRC (also through a symlink to a folder inside SRC) refused at mount;
#     outside SRC never reachable (links, "..", `ismfs cat`), its key in no byte served;
#   - every mode in the mount is read-only (no w bit), writes are EROFS, also for a user other
#     than the owner under allow_other (default_permissions is always on).
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/cpix_lib.sh
source "$ROOT/tests/lib/cpix_lib.sh"
need openssl setpriv

SRC=$TMP/src OUT=$TMP/outside KEYS=$TMP/keys MNT=$TMP/mnt
TOKEN=SECRET-$(openssl rand -hex 12)
mkdir -p "$SRC/ladder" "$SRC/prot" "$SRC/evil" "$SRC/in" "$OUT/dir" "$KEYS/prot" || bail mkdir
for f in "$FIX"/ladder/*; do
    for d in ladder prot; do ln "$f" "$SRC/$d/" 2>/dev/null || cp -p "$f" "$SRC/$d/"; done
done
rm -f "$SRC/ladder/ladder_old.ism" "$SRC/prot/ladder_old.ism"
mv "$SRC/prot/ladder.ism" "$SRC/prot/prot.ism"
# the outside world: a text file and an MP4 whose bytes carry the token
echo "$TOKEN" >"$OUT/secret.txt"
echo "$TOKEN" >"$OUT/dir/secret.txt"
{ cat "$FIX/ladder/ladder_320x180.mp4"; echo "$TOKEN"; } >"$OUT/secret.mp4"

# links that leave SRC
ln -s "$OUT/secret.txt" "$SRC/abs_file.txt"
ln -s ../outside/secret.txt "$SRC/rel_file.txt"
ln -s "$OUT/dir" "$SRC/abs_dir"
ln -s ../outside/dir "$SRC/rel_dir"
ln -s ../../outside/secret.txt "$SRC/in/deep_rel.txt"
ln -s rel_file.txt "$SRC/chain.txt"                 # inside, to a link that leaves
ln -s ../keys "$SRC/keys_link"
ln -s "$KEYS" "$SRC/keys_abs"
ln -s "$OUT/secret.mp4" "$SRC/evil/link.mp4"
# links that stay inside
ln -s ladder/ladder_320x180.mp4 "$SRC/in_rel.mp4"
ln -s ../ladder/ladder_320x180.mp4 "$SRC/in/up_rel.mp4"
ln -s ../ladder "$SRC/in/ladder_dir"
ln -s "$SRC/ladder/ladder_320x180.mp4" "$SRC/in_abs.mp4"
ln -s prot/ladder_320x180.mp4 "$SRC/in_prot.mp4"         # the MP4 of a protected asset
# assets whose media lie outside SRC: through a link, through "../", absolute
ism_of() {
    printf '<?xml version="1.0" encoding="utf-8"?>\n<smil xmlns="http://www.w3.org/2001/SMIL20/Language">'
    printf '<body><switch><video src="%s" systemBitrate="216131"/></switch></body></smil>\n' "$1"
}
ism_of link.mp4 >"$SRC/evil/link.ism"
ism_of ../../outside/secret.mp4 >"$SRC/evil/dotdot.ism"
ism_of "$OUT/secret.mp4" >"$SRC/evil/abs.ism"
# the control: the same layout naming a file inside works
ln "$FIX/ladder/ladder_320x180.mp4" "$SRC/evil/good.mp4" 2>/dev/null ||
    cp "$FIX/ladder/ladder_320x180.mp4" "$SRC/evil/good.mp4"
ism_of good.mp4 >"$SRC/evil/good.ism"
# a file literally named like the encoded tricks: shows the name is taken as is
echo plain >"$SRC/..%2f"

KID=$(uuid) KEY=$(openssl rand -hex 16)
cpix "<cpix:ContentKeyList>$(key_hex "$KID" "$KEY")</cpix:ContentKeyList>" \
    >"$KEYS/prot/prot.cpix.xml"
KEY_B64=$(b64 "$KEY")

# want WHAT ERRNO... PATH: errno PATH (tests/lib/cpix_lib.sh) is one of the ERRNOs
want() {
    local what=$1 path=${*: -1} got e
    got=$(errno "$path")
    for e in "${@:2:$#-2}"; do
        [ "$got" = "$e" ] && { ok "$what: $got"; return; }
    done
    not_ok "$what: $got, expected ${*:2:$#-2}"
}

# ---- keys= inside SRC, also through a link: refused before mounting ----
mkdir -p "$SRC/k" "$TMP/kin"
ln -s "$SRC/k" "$TMP/klink"
for k in "$SRC/k" "$TMP/klink" "$SRC/keys_abs/../src/k"; do
    if timeout 30 "$ISMFS" "$SRC" "$TMP/kin" -f -o "cache=$TMP/cache,keys=$k" 2>"$TMP/kin.log"; then
        not_ok "keys=$k (inside SRC): mounted"
        unmount "$TMP/kin"
    elif is_mounted "$TMP/kin"; then
        not_ok "keys=$k (inside SRC): left a mount"; unmount "$TMP/kin"
    else
        ok "keys=$k (inside SRC) refused: $(head -c 120 "$TMP/kin.log")"
    fi
done
rm -rf "$SRC/k"

mount_fg "$SRC" "$MNT" "cache=$TMP/cache,keys=$KEYS,allow_other" || exit 1
DPID=$(daemon_pid "$MNT")
alive() { [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null && is_mounted "$MNT"; }

# ---- symlinks that leave SRC ----
for n in abs_file.txt rel_file.txt abs_dir rel_dir abs_dir/secret.txt rel_dir/secret.txt \
         in/deep_rel.txt chain.txt keys_link keys_abs keys_link/prot/prot.cpix.xml \
         keys_abs/prot/prot.cpix.xml evil/link.mp4; do
    want "symlink out of SRC: $n" ENOENT "$MNT/$n"
done
listing=$(ls -A "$MNT" "$MNT/in" "$MNT/evil" 2>&1)
bad=$(grep -E '^(abs_file.txt|rel_file.txt|abs_dir|rel_dir|deep_rel.txt|chain.txt|keys_link|keys_abs|link.mp4)$' <<<"$listing" | tr '\n' ' ')
if [ -z "$bad" ]; then ok "links out of SRC are not listed"; else not_ok "listed: $bad"; fi
for a in link dotdot abs; do
    want "asset whose MP4 is outside SRC ($a): manifest" ENOENT EIO "$MNT/evil/$a.ism/manifest"
    want "asset whose MP4 is outside SRC ($a): its QualityLevels" ENOENT EIO "$MNT/evil/$a.ism/QualityLevels(216131)"
done
for n in evil/link.mp4 evil/dotdot.ism evil/abs.ism; do
    c=$(grep -c "$n" "$MNT.log")
    if [ "$c" -eq 1 ]; then ok "one log line for $n: $(grep -m1 "$n" "$MNT.log" | head -c 120)"
    else not_ok "$c log lines for $n"; fi
done
check "control: the same asset naming an MP4 inside SRC works" \
    cmp <(cat "$MNT/evil/good.ism/manifest") <(ism cat "$SRC" evil/good.ism/manifest)

# ---- symlinks that stay inside SRC: followed, shown as what they name ----
for n in in_rel.mp4 in/up_rel.mp4 in/ladder_dir/ladder_320x180.mp4; do
    check "symlink inside SRC, followed: $n (same bytes)" cmp "$MNT/$n" "$FIX/ladder/ladder_320x180.mp4"
done
t=$(stat -c '%F %a' "$MNT/in_rel.mp4" "$MNT/in/ladder_dir" | tr '\n' ',')
if [ "$t" = "regular file 444,directory 555," ]; then ok "followed links show as a file and a dir: $t"
else not_ok "followed links show as: $t"; fi
check "no symlink anywhere in the mount" test -z "$(find "$MNT" -maxdepth 3 -type l -print -quit 2>/dev/null)"
want "absolute symlink into SRC: refused" ENOENT "$MNT/in_abs.mp4"
want "symlink to the MP4 of a protected asset: still EACCES" EACCES "$MNT/in_prot.mp4"
check "asset through a followed dir link: manifest" \
    cmp <(cat "$MNT/in/ladder_dir/ladder.ism/manifest(format=mpd-time-csf)") \
        <(cat "$MNT/ladder/ladder.ism/manifest(format=mpd-time-csf)")

# ---- the token and the key are in no byte served (every file of the tree but the media
# segments of the ladder, which come from fixtures made before this test) ----
leak=$(python3 - "$MNT" "$TOKEN" "$KEY" "$KEY_B64" <<'EOF'
import os, sys
mnt, *needles = sys.argv[1:]
needles = [n.encode() for n in needles] + [bytes.fromhex(sys.argv[3])]
hits = []
for d, dirs, files in os.walk(mnt, followlinks=False):
    if "/QualityLevels(" in d:
        dirs[:] = []
    for f in files:
        p = os.path.join(d, f)
        try:
            with open(p, "rb") as fh:
                b = fh.read(4 << 20)
        except OSError:
            continue
        hits += [p for n in needles if n in b]
print(" ".join(hits))
EOF
)
if [ -z "$leak" ]; then ok "no file of the mount holds the outside token or the key"
else not_ok "leaked in: $leak"; fi

# ---- "..", percent and NUL tricks ----
for n in '%2e%2e/outside/secret.txt' '..%2foutside%2fsecret.txt' '%2e%2e%2foutside%2fsecret.txt' \
         'ladder/%2e%2e/%2e%2e/outside/secret.txt' 'ladder%2f..%2f..%2foutside' '%252e%252e' \
         'ladder/ladder.ism%00.txt' 'ladder/ladder_320x180.mp4%00' \
         'ladder/ladder.ism/..%2f..%2f..%2foutside%2fsecret.txt' \
         'ladder/ladder.ism/QualityLevels(..)' 'ladder/ladder.ism/QualityLevels(216131)/..%2f..' \
         'ladder/ladder.ism/QualityLevels(216131)/Fragments(video=..%2f..)' \
         'ladder/ladder.ism/manifest(format=../../outside)' \
         'ladder/ladder.ism/manifest(filter=..%2f..%2fsecret)'; do
    want "mount: $n" ENOENT "$MNT/$n"
    if out=$(ism cat "$SRC" "$n" 2>&1); then not_ok "ismfs cat '$n' printed: $(head -c 80 <<<"$out")"
    elif grep -q "$TOKEN" <<<"$out"; then not_ok "ismfs cat '$n' leaked the token"
    else ok "ismfs cat '$n' fails"; fi
done
check "a file named ..%2f is a name like any other" grep -qx plain "$MNT/..%2f"
# "..": the kernel resolves it before FUSE sees a path; through `ismfs cat` it reaches the code
for n in ../outside/secret.txt ladder/../../outside/secret.txt ./../outside/secret.txt \
         ladder/ladder.ism/../../../outside/secret.txt in/../../outside/secret.txt \
         ../keys/prot/prot.cpix.xml keys_link/prot/prot.cpix.xml /etc/passwd \
         "$OUT/secret.txt" '..' 'ladder/..' 'ladder/../..'; do
    if out=$(ism cat "$SRC" "$n" 2>&1) && [ -n "$out" ]; then
        not_ok "ismfs cat '$n' printed: $(head -c 80 <<<"$out")"
    elif grep -q -e "$TOKEN" -e "$KEY_B64" <<<"$out"; then not_ok "ismfs cat '$n' leaked"
    else ok "ismfs cat '$n' fails: $(head -c 80 <<<"$out" | tr '\n' ' ')"; fi
done
for n in .. ../outside ladder/../.. ../keys; do
    if out=$(ism ls "$SRC" "$n" 2>&1); then not_ok "ismfs ls '$n' listed: $(head -c 80 <<<"$out" | tr '\n' ' ')"
    else ok "ismfs ls '$n' fails"; fi
done
# the reason given is the mount's (no such file), not the kernel's word for an escape
out=$(ism cat "$SRC" ../outside/secret.txt 2>&1)
[[ "$out" == *"No such file or directory (the path leaves SRC)"* ]] &&
    ok "ismfs cat of a path leaving SRC: says it leaves SRC" ||
    not_ok "ismfs cat of a path leaving SRC: '$out'"
r=$(python3 - "$MNT" <<'EOF'
import os, sys
m = sys.argv[1]
out = []
for p in ["ladder/ladder.ism\0/../../outside/secret.txt", "ladder\0", m + "/\0"]:
    try:
        os.stat(os.path.join(m, p))
        out.append("stat ok")
    except ValueError:
        out.append("ValueError")
    except OSError as e:
        out.append(os.strerror(e.errno))
print(",".join(out))
EOF
)
if [ "$r" = "ValueError,ValueError,ValueError" ]; then ok "names with NUL never reach the kernel (python: $r)"
else not_ok "names with NUL: $r"; fi

# ---- overlong names ----
long255=$(printf 'a%.0s' $(seq 255)) long256=$(printf 'a%.0s' $(seq 256))
want "component of 255 bytes (no such name)" ENOENT "$MNT/$long255"
want "component of 256 bytes" ENAMETOOLONG "$MNT/$long256"
want "filter name of 255 bytes" ENOENT "$MNT/ladder/ladder.ism/manifest(format=mpd-time-csf,filter=$(printf 'f%.0s' $(seq 200)))"
want "track name of 256 bytes in a fragment name" ENOENT ENAMETOOLONG "$MNT/ladder/ladder.ism/QualityLevels(216131)/Fragments($(printf 'v%.0s' $(seq 240))=0)"
p5000=$(printf 'ladder/%.0s' $(seq 700))x
want "path of $((${#p5000})) bytes" ENAMETOOLONG "$MNT/$p5000"
deep=$(printf 'd/%.0s' $(seq 10000))x
want "10 000-deep path string" ENAMETOOLONG "$MNT/$deep"
for n in "$p5000" "$deep" "ladder/ladder.ism/$(printf 'QualityLevels(1)/%.0s' $(seq 6000))" \
         "$(printf 'x%.0s' $(seq 70000))"; do
    if out=$(timeout 60 "$ISMFS" --cache="$TMP/cat-cache" cat "$SRC" "$n" 2>&1); then
        not_ok "ismfs cat of a ${#n}-byte path printed something"
    else
        rc=$?
        [ "$rc" -lt 124 ] && ok "ismfs cat of a ${#n}-byte path fails cleanly (exit $rc)" ||
            not_ok "ismfs cat of a ${#n}-byte path: exit $rc"
    fi
done
# a real directory tree 10 000 levels deep in SRC, walked through the mount one openat at a time
r=$(python3 - "$SRC" "$MNT" <<'EOF'
import errno, os, sys
src, mnt = sys.argv[1:]
fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
for i in range(10000):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd); fd = nfd
with open(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
    f.write("leaf\n")
os.close(fd)
fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
depth, err = 0, "none"
for i in range(10000):
    try:
        nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
        break
    os.close(fd); fd = nfd; depth += 1
if depth == 10000:
    try:
        with open(os.open("leaf.txt", os.O_RDONLY, dir_fd=fd)) as f:
            err = "leaf:" + f.read().strip()
    except OSError as e:
        err = "leaf:" + errno.errorcode.get(e.errno, str(e.errno))
os.close(fd)
print(depth, err)
EOF
)
read -r depth err <<<"$r"
case $err in
    none|leaf:leaf|ENOENT|ENAMETOOLONG) ok "10 000-deep tree: walked $depth levels, then $err" ;;
    *) not_ok "10 000-deep tree: walked ${depth:-?} levels, then ${err:-$r}" ;;
esac
check "daemon alive after the deep walk" alive
# its listing of the root still answers quickly
check "root listing after the deep walk" timeout 20 ls "$MNT/ladder"

# ---- modes and writes ----
wbits=$(find "$MNT" -maxdepth 4 -path "$MNT/d/d" -prune -o -perm /222 -print 2>/dev/null | head -5 | tr '\n' ' ')
nmodes=$(find "$MNT" -maxdepth 4 -path "$MNT/d/d" -prune -o -print 2>/dev/null | wc -l)
if [ -z "$wbits" ] && [ "$nmodes" -gt 50 ]; then ok "no w bit on any of $nmodes entries"
else not_ok "w bits on: ${wbits:-?} ($nmodes entries)"; fi
modes=$(find "$MNT/ladder" -maxdepth 3 -printf '%y%m\n' | sort -u | tr '\n' ' ')
if [ "$modes" = "d555 f444 " ]; then ok "modes are 0444/0555 only: $modes"
else not_ok "modes: $modes"; fi
w=$(python3 - "$MNT" <<'EOF'
import errno, os, sys
m = sys.argv[1]
os.chdir(m)
res = []
for what, f in [
    ("open O_WRONLY", lambda: os.open("in_rel.mp4", os.O_WRONLY)),
    ("open O_CREAT", lambda: os.open("in/new", os.O_WRONLY | os.O_CREAT, 0o644)),
    ("mkdir", lambda: os.mkdir("in/nd")),
    ("symlink", lambda: os.symlink("/etc/passwd", "in/pw")),
    ("rename", lambda: os.rename("in_rel.mp4", "x.mp4")),
    ("chmod", lambda: os.chmod("ladder/ladder.ism", 0o777)),
    ("utime", lambda: os.utime("..%2f", (0, 0))),
    ("setxattr", lambda: os.setxattr("..%2f", "user.x", b"1")),
    ("truncate", lambda: os.truncate("..%2f", 0)),
]:
    try:
        f()
        res.append(what + ":succeeded")
    except OSError as e:
        if e.errno != errno.EROFS:
            res.append(what + ":" + errno.errorcode.get(e.errno, str(e.errno)))
print(" ".join(res))
EOF
)
if [ -z "$w" ]; then ok "writes of nine kinds: EROFS"; else not_ok "writes not EROFS: $w"; fi
# allow_other: another user reads (default_permissions: the kernel checks the 0444/0555 modes)
# and cannot write
if id nobody >/dev/null 2>&1; then
    chmod 755 "$TMP"
    r=$(setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c \
        "cmp '$MNT/in_rel.mp4' '$FIX/ladder/ladder_320x180.mp4' && echo read; \
         (echo x >> '$MNT/in_rel.mp4') 2>&1; cat '$MNT/abs_file.txt' 2>&1" | tr '\n' ' ')
    chmod 700 "$TMP"
    case $r in
        read*Read-only*No\ such\ file*) ok "allow_other: nobody reads, writes EROFS, links out ENOENT" ;;
        *) not_ok "allow_other as nobody: $r" ;;
    esac
fi
check "daemon alive at the end" alive
grep -q "$KEY_B64\|$KEY" "$MNT.log" && not_ok "the key is in the daemon's log"
unmount "$MNT" || not_ok "unmount"
