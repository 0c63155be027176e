#!/usr/bin/env bash
# Reading through the mount (DESIGN §2 "Every file has its exact size in getattr"):
#   1. every file of the mount (walked with find; tests/fixtures/long/ of `make bench` left
#      out): `stat -c %s` == the bytes a read gives; for a deterministic sample (every
#      manifest, playlist, init segment and passthrough file, and of each track's fragments per
#      format the first, the last and every 5th by time) the bytes are those of `ismfs cat`;
#   2. reads at odd offsets and lengths (dd, page-cached and O_DIRECT, the latter reaching the
#      daemon with exactly that offset and length), across a fragment's header/sample boundary,
#      across the end of file and past it, equal the same range of `ismfs cat`;
#   3. 8 parallel readers on a fresh mount with an empty cache (xargs -P8 cat over every
#      fragment of the ladder, then O_DIRECT readers two per file) get the serial read's bytes.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
need find dd xargs tail head sort
SRC=$TMP/src MNT=$TMP/mnt
farm "$SRC"
mount_fg "$SRC" "$MNT" "cache=$TMP/cache1" || exit 1

# ---- 1. every file: size == bytes read; the sample == ismfs cat ---------------------------
# sizes as stat gives them before any read (a short read would make the kernel shrink them)
(cd "$MNT" && find . -type f -printf '%s %P\n') | sort -k2 >"$TMP/sizes.txt"
sed 's/^[0-9]* //' "$TMP/sizes.txt" >"$TMP/all.txt"
[ "$(wc -l <"$TMP/all.txt")" -gt 100 ] ||
    bail "find in the mount lists only $(wc -l <"$TMP/all.txt") files"
python3 - "$TMP/all.txt" >"$TMP/sample.txt" <<'EOF'
import collections, re, sys
frag = re.compile(r"^(.*/)Fragments\(([^=]*)=([0-9]+)(.*)\)$")
groups = collections.defaultdict(list)
for path in open(sys.argv[1]).read().splitlines():
    m = frag.match(path)
    if not m:
        print(path)         # manifests, playlists, init segments, passthrough files
    else:                   # one group per directory, track and format
        groups[(m.group(1), m.group(2), m.group(4))].append((int(m.group(3)), path))
for g in groups.values():
    g.sort()
    for k, (_, path) in enumerate(g):
        if k == 0 or k == len(g) - 1 or k % 5 == 0:
            print(path)
EOF
: >"$TMP/bad.txt"
mkdir -p "$TMP/ref"
while read -r s0 r; do
    mkdir -p "$TMP/ref/$(dirname "$r")"
    if ! timeout 60 cat "$MNT/$r" >"$TMP/ref/$r" 2>"$TMP/err"; then
        printf '%s\tread failed: %s\n' "$r" "$(head -c 200 "$TMP/err")" >>"$TMP/bad.txt"
        continue
    fi
    s=$(stat -c %s "$MNT/$r") b=$(stat -c %s "$TMP/ref/$r")
    [ "$s0" = "$b" ] && [ "$s" = "$b" ] ||
        printf '%s\tstat says %s bytes (%s after the read), reading gives %s\n' "$r" "$s0" "$s" "$b" >>"$TMP/bad.txt"
done <"$TMP/sizes.txt"
export ISMFS TMP SRC
tr '\n' '\0' <"$TMP/sample.txt" | xargs -0 -n 30 -P 2 bash -c '
    for r; do
        c=$TMP/cat.$$
        if ! "$ISMFS" --cache="$TMP/cat-cache" cat "$SRC" "$r" >"$c" 2>"$c.err"; then
            printf "%s\tismfs cat failed: %s\n" "$r" "$(head -c 200 "$c.err")"
        elif ! cmp -s "$c" "$TMP/ref/$r"; then
            printf "%s\tthe mount differs from ismfs cat: %s\n" "$r" "$(cmp "$TMP/ref/$r" "$c" 2>&1 | head -1)"
        fi
    done; rm -f "$TMP/cat.$$" "$TMP/cat.$$.err"' _ >>"$TMP/bad.txt" 2>&1
python3 - "$TMP/all.txt" "$TMP/sample.txt" "$TMP/bad.txt" <<'EOF'
import collections, os, sys
def by_dir(lines):
    d = collections.defaultdict(list)
    for l in lines:
        d[os.path.dirname(l) or "."].append(l)
    return d
listed = by_dir(open(sys.argv[1]).read().splitlines())
sampled = by_dir(open(sys.argv[2]).read().splitlines())
bad = by_dir(l for l in open(sys.argv[3]).read().splitlines())
for d in sorted(listed):
    if bad.get(d):
        print("not ok - %s: %d problems: %s" % (d, len(bad[d]),
              "; ".join(x[len(d) + 1 if d != "." else 0:].replace("\t", ": ") for x in bad[d][:3])))
    else:
        print("ok - %s: all %d files read exactly their stat size; %d of them equal ismfs cat"
              % (d, len(listed[d]), len(sampled.get(d, []))))
EOF
grep -q . "$TMP/bad.txt" && fail=1

# ---- 2. odd offsets and lengths ------------------------------------------------------------
QL=$LADDER/QualityLevels
vbr=$(ls "$MNT/$LADDER" | sed -n 's/^QualityLevels(\([0-9]*\))$/\1/p' | sort -n | tail -1)
abr=$(ls "$MNT/$LADDER" | sed -n 's/^QualityLevels(\([0-9]*\))$/\1/p' | sort -n | head -1)
# second fragment of a track in a format: the listing of QualityLevels(BR), by time
second() {
    ls "$MNT/$QL($1)" | sed -n "s/^Fragments(\([^=]*\)=\([0-9][0-9]*\)$2)\$/\2 &/p" | sort -n |
        sed -n '2s/^[0-9]* //p'
}
picks=(
    "$QL($vbr)/$(second "$vbr" ',format=cmaf')"
    "$QL($abr)/$(second "$abr" ',format=cmaf')"
    "$QL($vbr)/$(second "$vbr" '')"
    "$QL($vbr)/$(second "$vbr" ',format=m3u8-aapl')"
    "$LADDER/manifest(format=mpd-time-csf)"
    "$LADDER/manifest"
    "ladder/ladder_640x360.mp4"
)
# header size of an ISO-BMFF fragment: the offset of its first sample (mdat payload)
mdat_payload() {
    python3 - "$ROOT/tests/lib" "$1" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from mp4box import boxes
d = open(sys.argv[2], "rb").read()
print(next((body for typ, body, _ in boxes(d) if typ == b"mdat"), ""))
EOF
}
for r in "${picks[@]}"; do
    [ "${r%/}" = "$r" ] && [ -n "${r##*/}" ] || { not_ok "no file to pick in ${r%/*}"; continue; }
    if ! ism cat "$SRC" "$r" >"$TMP/want" 2>"$TMP/err"; then
        not_ok "ismfs cat '$r': $(head -c 200 "$TMP/err")"
        continue
    fi
    size=$(stat -c %s "$TMP/want")
    # ranges: "BLOCK OFFSET LENGTH": odd blocks, odd offsets, through EOF, past EOF
    ranges=("1 0 1" "7 21 35" "13 13013 91" "4097 12291 20485" "65536 65536 196608"
            "1000 $((size - 1500)) 3000" "4096 $((size - 4096)) 4096" "3 $((size - 1)) 9"
            "512 $((size + 100)) 512" "1 $((size / 2)) 1")
    h=
    [[ "$r" == */Fragments* ]] && h=$(mdat_payload "$TMP/want")
    if [ -n "$h" ]; then
        ranges+=("1 $((h - 3)) 6" "7 $((h - 7)) 14" "$((h - 1)) 1 $((h - 1))"
                 "4096 $((h - 5)) 8192" "$h 0 $((h + 1))")
    fi
    bad=()
    for rg in "${ranges[@]}"; do
        read -r bs off len <<<"$rg"
        [ "$off" -ge 0 ] || continue
        tail -c +$((off + 1)) "$TMP/want" | head -c "$len" >"$TMP/exp"
        for mode in cached direct; do
            fl=skip_bytes,count_bytes
            [ $mode = direct ] && fl=$fl,direct
            if ! timeout 60 dd if="$MNT/$r" of="$TMP/got" bs="$bs" skip="$off" count="$len" \
                    iflag=$fl status=none 2>"$TMP/err"; then
                bad+=("$mode bs=$bs off=$off len=$len: dd: $(head -c 100 "$TMP/err")")
            elif ! cmp -s "$TMP/exp" "$TMP/got"; then
                bad+=("$mode bs=$bs off=$off len=$len: got $(stat -c %s "$TMP/got") bytes, want $(stat -c %s "$TMP/exp"), $(cmp "$TMP/exp" "$TMP/got" 2>&1 | head -1)")
            fi
        done
    done
    if [ ${#bad[@]} -eq 0 ]; then
        ok "odd reads of $r (${#ranges[@]} ranges${h:+, around the first sample at $h}, cached and O_DIRECT) equal ismfs cat"
    else
        not_ok "odd reads of $r: ${#bad[@]} wrong: ${bad[*]:0:3}"
    fi
done

sanitizer_check
unmount "$MNT" || not_ok "fusermount3 -u failed"
grep -v '^$' "$MNT.log" | head -5 | sed 's/^/# mount log: /'

# ---- 3. concurrency: 8 readers on a fresh mount with an empty cache -------------------------
MNT2=$TMP/mnt2
mount_fg "$SRC" "$MNT2" "cache=$TMP/cache2" || exit 1
(cd "$MNT2" && find "$LADDER" -type f -name 'Fragments(*' | sort) >"$TMP/frags.txt"
n=$(wc -l <"$TMP/frags.txt")
[ "$n" -gt 20 ] || not_ok "only $n fragments in $LADDER"
export MNT2
tr '\n' '\0' <"$TMP/frags.txt" | timeout 300 xargs -0 -P 8 -n 3 bash -c '
    for r; do
        o=$TMP/par/$r; mkdir -p "${o%/*}"
        cat "$MNT2/$r" >"$o" || echo "cat failed: $r"
    done' _ >"$TMP/par.err" 2>&1
nbad=0 first=
while IFS= read -r r; do
    cmp -s "$TMP/ref/$r" "$TMP/par/$r" || { nbad=$((nbad + 1)); first=${first:-$r}; }
done <"$TMP/frags.txt"
if [ "$nbad" = 0 ] && [ ! -s "$TMP/par.err" ]; then
    ok "8 parallel readers (xargs -P8 cat), fresh mount and cache: all $n ladder fragments equal the serial read"
else
    not_ok "8 parallel readers: $nbad of $n fragments differ from the serial read (first: $first) $(head -c 200 "$TMP/par.err")"
fi
# every fragment twice, O_DIRECT in odd blocks: each read reaches the daemon, which serves the
# same file to two readers at once
sort -R --random-source=<(yes) "$TMP/frags.txt" "$TMP/frags.txt" | tr '\n' '\0' |
    timeout 300 xargs -0 -P 8 -n 4 bash -c '
    for r; do
        dd if="$MNT2/$r" bs=65539 iflag=direct status=none 2>/dev/null | cmp -s - "$TMP/ref/$r" ||
            echo "differs: $r"
    done' _ >"$TMP/dir.err" 2>&1
if [ ! -s "$TMP/dir.err" ]; then
    ok "8 parallel O_DIRECT readers (bs=65539, each fragment read twice at once): same bytes as the serial read"
else
    not_ok "8 parallel O_DIRECT readers: $(wc -l <"$TMP/dir.err") reads differ: $(head -3 "$TMP/dir.err" | tr '\n' ' ')"
fi
check "the daemon is still up after the parallel reads" kill -0 "$(daemon_pid "$MNT2")"
unmount "$MNT2" || not_ok "fusermount3 -u failed"
exit "$fail"
