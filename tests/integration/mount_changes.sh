#!/usr/bin/env bash
# Source changes while mounted (DESIGN §2: cache keys carry the identity of every source, "no
# stale byte is ever served"; attributes are cached by the kernel for 1 s), on a private copy of
# the ladder, mounted with -f in the background:
#   (a) a video MP4 replaced by another file (temp + mv: a new inode) -> after the attribute
#       timeout every file of its QualityLevels dir and every manifest has the size and bytes
#       `ismfs cat` gives for the new source (nothing stale, in size or in page cache);
#   (d) a fragment opened (exec 3<) before that replacement reads the bytes of the version it
#       was opened on;
#   (b) the .ism edited (one audio element removed) -> the manifests drop that track and its
#       QualityLevels dir disappears;
#   (c) a media file the .ism names deleted -> that asset's manifest is an I/O error (EIO), the
#       other asset and the passthrough files keep working, the daemon stays up; the file put
#       back -> the asset is served again.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
SRC=$TMP/src MNT=$TMP/mnt
mkdir -p "$SRC"
cp -a "$FIX/ladder" "$SRC/ladder" || bail "cannot copy the ladder"     # real copies: edited
cp -al "$FIX/muxed.ism" "$FIX/muxed.mp4" "$SRC/" 2>/dev/null ||
    cp -a "$FIX/muxed.ism" "$FIX/muxed.mp4" "$SRC/" || bail "cannot copy muxed"
ISM=$SRC/$LADDER
mount_fg "$SRC" "$MNT" || exit 1
A=$MNT/$LADDER
# bitrate SRCFILE: the systemBitrate the .ism gives the element with src=SRCFILE
bitrate() {
    python3 - "$ISM" "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
for e in ET.parse(sys.argv[1]).iter():
    if e.get("src") == sys.argv[2]:
        print(e.get("systemBitrate")); break
EOF
}
V=$(bitrate ladder_320x180.mp4) FRA=$(bitrate ladder_aac_fra.mp4)
[ -n "$V" ] && [ -n "$FRA" ] || bail "no systemBitrate for ladder_320x180.mp4/ladder_aac_fra.mp4 in $ISM"

# same_as_cat LABEL VPATH...: for each, stat size and the bytes read through the mount equal
# `ismfs cat` (own cache) of the current source; one TAP line.
same_as_cat() {
    local label=$1 r bad=() n=0 s0
    shift
    for r in "$@"; do
        n=$((n + 1))
        s0=$(stat -c %s "$MNT/$r" 2>&1)          # before the read (a short one shrinks it)
        if ! ism cat "$SRC" "$r" >"$TMP/want" 2>"$TMP/err"; then
            bad+=("$r: ismfs cat failed: $(head -c 100 "$TMP/err")")
        elif ! timeout 60 cat "$MNT/$r" >"$TMP/got" 2>"$TMP/err"; then
            bad+=("$r: read failed: $(head -c 100 "$TMP/err")")
        elif [ "$s0" != "$(stat -c %s "$TMP/want")" ]; then
            bad+=("$r: stat size $s0, ismfs cat $(stat -c %s "$TMP/want") bytes")
        elif ! cmp -s "$TMP/want" "$TMP/got"; then
            bad+=("$r: bytes differ from ismfs cat ($(cmp "$TMP/want" "$TMP/got" 2>&1 | head -1))")
        fi
    done
    if [ ${#bad[@]} -eq 0 ]; then ok "$label: $n files: stat size and bytes equal ismfs cat"
    else not_ok "$label: ${#bad[@]} of $n files wrong: ${bad[*]:0:3}"; fi
}
manifests() { (cd "$MNT" && ls -d "$LADDER"/manifest*); }

# ---- (a) + (d): replace a video rendition -------------------------------------------------
mapfile -t before < <(cd "$MNT" && ls -d "$LADDER/QualityLevels($V)/"*)
[ ${#before[@]} -gt 5 ] || bail "QualityLevels($V) lists ${#before[@]} files"
mapfile -t mans < <(manifests)
# read the manifests and CMAF files once (sizes and pages in the kernel's caches)
for r in "${mans[@]}" "${before[@]}"; do
    [[ "$r" == *format=cmaf\) || "$r" != */Fragments* ]] || continue
    stat -c '%s %n' "$MNT/$r" >>"$TMP/sizes.before"
    cat "$MNT/$r" >/dev/null
done
# (d): a Smooth fragment not read yet, opened before the replacement
D=$(printf '%s\n' "${before[@]}" | grep -E '/Fragments\(video=[0-9]+\)$' | sort -t= -k2 -n | sed -n 2p)
[ -n "$D" ] || bail "no Smooth video fragment in QualityLevels($V)"
ism cat "$SRC" "$D" >"$TMP/d.old" || bail "ismfs cat $D failed"
exec 3<"$MNT/$D"
replace "$SRC/ladder/ladder_320x180.mp4" "$SRC/ladder/ladder_480x270.mp4" || bail "cannot replace"
cat <&3 >"$TMP/d.fd3"
exec 3<&-
if cmp -s "$TMP/d.old" "$TMP/d.fd3"; then
    ok "(d) a fragment opened before its source was replaced reads the old version's bytes"
else
    not_ok "(d) fd opened before the replacement: $(stat -c %s "$TMP/d.fd3") bytes read, the old version has $(stat -c %s "$TMP/d.old"): $(cmp "$TMP/d.old" "$TMP/d.fd3" 2>&1 | head -1)"
fi
sleep 1.1
mapfile -t after < <(cd "$MNT" && ls -d "$LADDER/QualityLevels($V)/"*)
same_as_cat "(a) QualityLevels($V) after its MP4 was replaced" "${after[@]}"
same_as_cat "(a) the manifests after the replacement" "${mans[@]}"
changed=0
while read -r s f; do
    [ -e "$f" ] && [ "$(stat -c %s "$f")" != "$s" ] && changed=$((changed + 1))
done <"$TMP/sizes.before"
[ "$changed" -gt 0 ] && ok "(a) $changed files changed size with the new source (none stale)" ||
    not_ok "(a) no file of QualityLevels($V) changed size after the replacement (stale attributes?)"
ism cat "$SRC" "$D" >"$TMP/d.new"
cmp -s "$TMP/d.new" "$TMP/d.old" && not_ok "(d) the new version of $D has the old bytes (the replacement made no difference?)"

# ---- (b): the .ism loses its French audio -------------------------------------------------
grep -l aac_fra "$MNT/$LADDER"/manifest* >/dev/null && [ -d "$A/QualityLevels($FRA)" ] ||
    not_ok "(b) before the edit: no aac_fra track in the manifests / no QualityLevels($FRA)"
python3 - "$ISM" "$ISM.new" <<'EOF'
import re, sys
s = open(sys.argv[1]).read()
t = re.sub(r'\s*<audio src="ladder_aac_fra\.mp4".*?</audio>', "", s, flags=re.S)
assert t != s
open(sys.argv[2], "w").write(t)
EOF
mv -f "$ISM.new" "$ISM"
sleep 1.1
if ls "$A" | grep -qxF "QualityLevels($FRA)" || [ -e "$A/QualityLevels($FRA)" ]; then
    not_ok "(b) QualityLevels($FRA) still exists after its audio element was removed"
else
    ok "(b) QualityLevels($FRA) is gone (ls and stat) after its audio element was removed"
fi
if g=$(grep -l -e aac_fra -e "$FRA" "$A"/manifest* "$A"/QualityLevels*/Manifest* 2>&1); then
    not_ok "(b) manifests/playlists still name the French track: $(tr '\n' ' ' <<<"$g")"
else
    ok "(b) no manifest or playlist names the French track any more"
fi
same_as_cat "(b) the manifests after the edit" "${mans[@]}"

# ---- (c): a media file disappears ------------------------------------------------------------
mv "$SRC/ladder/ladder_aac_eng.mp4" "$TMP/aside.mp4"
sleep 1.1
out=$(timeout 30 cat "$A/manifest" 2>&1 >/dev/null)
if grep -q 'Input/output error' <<<"$out"; then
    ok "(c) the asset's manifest is an I/O error once a media file it names is deleted"
else
    not_ok "(c) reading the manifest with ladder_aac_eng.mp4 deleted: ${out:-succeeded}"
fi
python3 - "$A/manifest(format=mpd-time-csf)" <<'EOF'
import errno, sys
try:
    open(sys.argv[1], "rb").read()
    print("not ok - (c) open+read of the DASH manifest succeeded"); sys.exit(1)
except OSError as e:
    ok = e.errno == errno.EIO
    print("%s - (c) open+read of the DASH manifest: errno %s" % ("ok" if ok else "not ok", errno.errorcode.get(e.errno)))
    sys.exit(0 if ok else 1)
EOF
[ $? = 0 ] || fail=1
grep -q 'ladder_aac_eng.mp4' "$MNT.log" && ok "(c) the log names the missing file" ||
    not_ok "(c) no log line names ladder_aac_eng.mp4: $(tail -3 "$MNT.log" | tr '\n' ' ')"
same_as_cat "(c) the other asset (muxed.ism) keeps working" muxed.ism/manifest "muxed.ism/manifest(format=m3u8-aapl)"
check "(c) passthrough files keep working" cmp "$SRC/ladder/ladder_640x360.mp4" "$MNT/ladder/ladder_640x360.mp4"
check "(c) the daemon is still up" kill -0 "$(daemon_pid "$MNT")"
mv "$TMP/aside.mp4" "$SRC/ladder/ladder_aac_eng.mp4"
sleep 1.1
same_as_cat "(c) the file put back: the asset is served again" "${mans[@]}"

sanitizer_check
unmount "$MNT" || not_ok "fusermount3 -u failed"
exit "$fail"
