#!/usr/bin/env bash
# Malformed input fails alone (DESIGN §2 "malformed media -> EIO plus one log line naming file,
# box and offset. The daemon never exits on bad input"). SRC holds the good ladder and three
# broken copies of it, mounted with -f in the background (the log is its stderr):
#   trunc/ladder.ism  ladder_320x180.mp4 cut to half its size
#   stsz/ladder.ism   ladder_320x180.mp4 with the sample count of its stsz box made huge
#   xml/ladder.ism    the .ism cut in the middle of an attribute (not well-formed XML)
# For each: the first read of its manifest is EIO ("Input/output error") and adds exactly one
# log line, naming the file (and for MP4s the box and its offset); then the good ladder, the
# other asset and the passthrough files still read as `ismfs cat` says; the daemon is up.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
SRC=$TMP/src MNT=$TMP/mnt
farm "$SRC"
for b in trunc stsz xml; do
    mkdir "$SRC/$b"
    cp -al "$FIX/ladder/." "$SRC/$b/" 2>/dev/null || cp -a "$FIX/ladder/." "$SRC/$b/"
    rm -f "$SRC/$b/ladder_old.ism"
done
V=ladder_320x180.mp4
cp "$FIX/ladder/$V" "$TMP/v.mp4"
truncate -s $(($(stat -c %s "$TMP/v.mp4") / 2)) "$TMP/v.mp4" && mv -f "$TMP/v.mp4" "$SRC/trunc/$V"
cp "$FIX/ladder/$V" "$TMP/v.mp4"
stsz_at=$(python3 - "$TMP/v.mp4" <<'EOF'
import struct, sys
f = open(sys.argv[1], "r+b")
d = f.read()
i = d.find(b"stsz")          # size(4) 'stsz' version+flags(4) sample_size(4) sample_count(4)
assert i > 4
f.seek(i + 12)
f.write(struct.pack(">I", 0x7ffffff0))
print(i - 4)
EOF
) && mv -f "$TMP/v.mp4" "$SRC/stsz/$V" || bail "cannot corrupt the stsz box of a copy of $V"
head -c "$(($(grep -b -o 'src="ladder_640x360.mp4"' "$FIX/$LADDER" | cut -d: -f1) + 8))" \
    "$FIX/$LADDER" >"$SRC/xml/ladder.ism.new" && mv -f "$SRC/xml/ladder.ism.new" "$SRC/xml/ladder.ism"

mount_fg "$SRC" "$MNT" || exit 1
LOG=$MNT.log
# broken ASSET_DIR PATTERN...: the first read of ASSET_DIR/ladder.ism/manifest is EIO and adds
# exactly one log line, which matches every PATTERN (grep -E)
broken() {
    local d=$1 n0 new out p
    shift
    n0=$(wc -l <"$LOG")
    out=$(timeout 30 cat "$MNT/$d/ladder.ism/manifest" 2>&1 >/dev/null)
    sleep 0.2
    new=$(tail -n +$((n0 + 1)) "$LOG")
    if grep -q 'Input/output error' <<<"$out"; then
        ok "$d: reading its manifest is an I/O error"
    else
        not_ok "$d: reading its manifest: ${out:-succeeded}"
    fi
    if [ "$(grep -c . <<<"$new")" = 1 ]; then
        ok "$d: that read logged one line: $new"
    else
        not_ok "$d: that read logged $(grep -c . <<<"$new") lines: $(head -c 300 <<<"$new" | tr '\n' '|')"
    fi
    for p in "$@"; do
        grep -qE -- "$p" <<<"$new" || not_ok "$d: the log line does not match /$p/"
    done
}
broken trunc "trunc/$V" '[a-z]{4} at [0-9]+'
broken stsz "stsz/$V" "stsz at $stsz_at"
broken xml 'xml/ladder\.ism'
# a broken asset is logged once per version, not once per request: an origin under
# load would otherwise flood its log
n0=$(wc -l <"$LOG")
for i in 1 2 3; do cat "$MNT/trunc/ladder.ism/manifest(format=mpd-time-csf)" >/dev/null 2>&1; done
sleep 0.2
if [ "$(wc -l <"$LOG")" = "$n0" ]; then
    ok "trunc: reading it again logs nothing new"
else
    not_ok "trunc: reading it again logged: $(tail -n +$((n0 + 1)) "$LOG" | head -3 | tr '\n' '|')"
fi
# other files of a broken asset: also I/O errors, and the directory listing too
out=$(ls "$MNT/stsz/ladder.ism" 2>&1 >/dev/null)
grep -q 'Input/output error' <<<"$out" && ok "stsz: listing its asset directory is an I/O error" ||
    not_ok "stsz: ls of its asset directory: ${out:-succeeded}"
# what the bad assets do not touch
check "stsz/$V itself reads as a passthrough file" cmp "$SRC/stsz/$V" "$MNT/stsz/$V"
bad=()
for r in "$LADDER/manifest" "$LADDER/manifest(format=m3u8-aapl)" "muxed.ism/manifest(format=mpd-time-csf)" \
         "trunc/ladder_640x360.mp4" "ladder/$V"; do
    ism cat "$SRC" "$r" >"$TMP/want" 2>"$TMP/err" || { bad+=("$r: ismfs cat: $(head -c 100 "$TMP/err")"); continue; }
    cmp -s "$TMP/want" "$MNT/$r" || bad+=("$r: $(cmp "$TMP/want" "$MNT/$r" 2>&1 | head -1)")
done
frag=$(cd "$MNT/$LADDER" && ls -d QualityLevels*/Fragments*format=cmaf\) | tail -1)
ism cat "$SRC" "$LADDER/$frag" | cmp -s - "$MNT/$LADDER/$frag" || bad+=("$LADDER/$frag differs")
if [ ${#bad[@]} -eq 0 ]; then
    ok "the good assets and passthrough files read as ismfs cat says"
else
    not_ok "beside the broken assets: ${bad[*]:0:3}"
fi
p=$(daemon_pid "$MNT")
check "the daemon is still up" kill -0 "$p"
check "the mountpoint still answers (stat, ls)" ls "$MNT/ladder"
if grep -vE '^ismfs: error: (trunc|stsz|xml)/' "$LOG" | grep -q .; then
    not_ok "the log holds other lines: $(grep -vE '^ismfs: error: (trunc|stsz|xml)/' "$LOG" | head -3 | tr '\n' '|')"
else
    ok "the log names only the broken files"
fi
sanitizer_check
unmount "$MNT" || not_ok "fusermount3 -u failed"
exit "$fail"
