#!/usr/bin/env bash
# The object cache (DESIGN §2 "transformed bytes produced once and kept in the object cache"):
# TS segments and encrypted segments are generated on their first read, kept in LMDB, and
# served from there afterwards, across a remount too; identical bytes either way.
#   - a mount (with keys=, key_uri=) reads a clear TS segment, an AES-128 TS segment, a cenc
#     CMAF fragment and a Smooth PIFF fragment: `ismfs cache stats` then shows >= 4 objects;
#   - after a remount on the same cache, the same reads are object cache hits (debug log:
#     "object cache hit") and give the same bytes as `ismfs cat` (which has its own cache);
#   - a changed CPIX (new key) gives new keys: the encrypted segments are made again (no
#     hit) and differ from the old ones;
#   - cache_size of a few MB and far more than that read: the cache file stays bounded and
#     every byte read is right (the least recently used objects were evicted);
#   - the cache file overwritten with garbage while unmounted: the next mount moves it aside
#     (one log line), makes a new one and serves the right bytes.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
need openssl

SRC=$TMP/src KEYS=$TMP/keys MNT=$TMP/mnt
mkdir -p "$SRC/ladder" "$KEYS/ladder"
for f in "$FIX"/ladder/*; do ln "$f" "$SRC/ladder/" 2>/dev/null || cp -p "$f" "$SRC/ladder/"; done
A=ladder/ladder.ism
cpix() {   # cpix KID KEY_HEX > FILE
    local b64
    b64=$(python3 -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$2")
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"
           contentId="objects" version="2.3">
  <cpix:ContentKeyList><cpix:ContentKey kid="$1"><cpix:Data><pskc:Secret>
    <pskc:PlainValue>$b64</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>
  </cpix:ContentKeyList>
</cpix:CPIX>
EOF
}
KID=$(python3 -c 'import uuid; print(uuid.uuid4())')
cpix "$KID" "$(openssl rand -hex 16)" >"$KEYS/ladder/ladder.cpix.xml"
OPTS="cache=$TMP/cache,keys=$KEYS,key_uri=https://keys.example/{kid},allow_clear,debug"

# the names: the top video rendition's first fragment in four transformed forms
vq=$(ism ls "$SRC" "$A" | grep -F "QualityLevels(" | while read -r q; do
        ism ls "$SRC" "$A/${q%/}" | grep -q '^Fragments(video=0,format=cmaf)$' && echo "${q%/}"
     done | head -1)
[ -n "$vq" ] || bail "no QualityLevels with video"
NAMES=("$A/$vq/Fragments(video=0,format=m3u8-aapl)"
       "$A/$vq/Fragments(video=0,format=m3u8-aapl,encryption=cbc)"
       "$A/$vq/Fragments(video=0,format=cmaf,encryption=cenc)"
       "$A/$vq/Fragments(video=0,encryption=piff)")
catx() { "$ISMFS" --cache="$TMP/cat-cache" --keys="$KEYS" --key-uri='https://keys.example/{kid}' \
             --allow-clear cat "$@"; }

mount_fg "$SRC" "$MNT" "$OPTS" || exit 1
for n in "${NAMES[@]}"; do
    check "first read of $n: the bytes of ismfs cat" cmp -s <(catx "$SRC" "$n") "$MNT/$n"
done
unmount "$MNT"          # the writer commits what is queued before the daemon ends
objs=$("$ISMFS" cache stats --cache="$TMP/cache" | awk '/^object entries:/ { print $3 }')
check "cache stats: the 4 segments are kept as objects (found ${objs:-none})" \
    test "${objs:-0}" -ge 4

mount_fg "$SRC" "$MNT" "$OPTS" || exit 1
for n in "${NAMES[@]}"; do
    check "after a remount, $n: the same bytes" cmp -s <(catx "$SRC" "$n") "$MNT/$n"
done
hits=$(grep -c 'object cache hit' "$MNT.log")
check "after a remount, all 4 reads were object cache hits (log: $hits)" test "$hits" -ge 4
old_cenc=$TMP/old.cenc
cp "$MNT/${NAMES[2]}" "$old_cenc"
unmount "$MNT"

# a new key in the CPIX: the encrypted names are made again, with new bytes
cpix "$KID" "$(openssl rand -hex 16)" >"$KEYS/ladder/ladder.cpix.xml.new"
mv "$KEYS/ladder/ladder.cpix.xml.new" "$KEYS/ladder/ladder.cpix.xml"
mount_fg "$SRC" "$MNT" "$OPTS" || exit 1
cp "$MNT/${NAMES[2]}" "$TMP/new.cenc"
check "a new key: the cenc fragment was made again (no object cache hit)" \
    test "$(grep -c 'object cache hit' "$MNT.log")" = 0
check "a new key: the cenc fragment has new bytes" bash -c "! cmp -s '$old_cenc' '$TMP/new.cenc'"
check "a new key: the cenc fragment is ismfs cat's" cmp -s <(catx "$SRC" "${NAMES[2]}") "$TMP/new.cenc"
unmount "$MNT"

# a small cache and many more segment bytes than it holds
mount_fg "$SRC" "$MNT" "cache=$TMP/small,cache_size=2M,keys=$KEYS,key_uri=https://k/{kid},allow_clear" ||
    exit 1
mapfile -t segs < <(cd "$MNT" && find "$A" -name 'Fragments(*' \( -name '*m3u8-aapl*' -o \
                        -name '*encryption=c*' \) | sort)
total=0 bad=0
for round in 1 2; do
    for n in "${segs[@]}"; do
        size=$(stat -c %s "$MNT/$n")
        total=$((total + size))
        [ "$(wc -c <"$MNT/$n")" = "$size" ] || bad=$((bad + 1))
    done
done
check "small cache: ${#segs[@]} segments read twice ($total bytes), each whole" test "$bad" = 0 -a "$total" -gt $((8 << 20))
for n in "${segs[@]:0:12}"; do
    cmp -s <(catx "$SRC" "$n") "$MNT/$n" || { bad=$((bad + 1)); echo "# differs: $n"; }
done
check "small cache: a sample of 12 segments has ismfs cat's bytes" test "$bad" = 0
unmount "$MNT"
fsize=$(stat -c %s "$TMP/small/data.mdb")
check "small cache: data.mdb stays within cache_size ($fsize bytes)" test "$fsize" -le $((2 << 20))

# garbage in place of the cache file while unmounted
head -c 300000 /dev/urandom >"$TMP/cache/data.mdb"
mount_fg "$SRC" "$MNT" "$OPTS" || exit 1
for n in "${NAMES[@]:0:2}"; do
    check "garbage cache: $n has ismfs cat's bytes" cmp -s <(catx "$SRC" "$n") "$MNT/$n"
done
unmount "$MNT"
check "garbage cache: moved aside, logged once" \
    test "$(grep -c 'not a cache this program can read: moved aside' "$MNT.log")" = 1
check "garbage cache: the old bytes kept beside (data.mdb.corrupt-*)" \
    bash -c "ls '$TMP/cache' | grep -q '^data.mdb.corrupt-'"
objs=$("$ISMFS" cache stats --cache="$TMP/cache" | awk '/^object entries:/ { print $3 }')
check "garbage cache: the new cache holds what was read (${objs:-none} objects)" \
    test "${objs:-0}" -ge 2

sanitizer_check
exit $fail
