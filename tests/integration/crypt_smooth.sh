#!/usr/bin/env bash
# Smooth Streaming encryption through a mount (issue 6): keys=DIR with CPIX documents made here
# (keys from `openssl rand`), `manifest(encryption=cenc)` (senc boxes) and
# `manifest(encryption=piff)` (PIFF 1.1 uuid boxes), judged by tools ismfs does not contain:
#   - protected assets: the clear Smooth manifest and fragments are EACCES; the encrypted ones
#     are listed and every one has its exact size (stat size == bytes read); cbcs and cbc have
#     no Smooth form (ENOENT);
#   - the manifest (xmllint: well-formed) has <Protection> first in the root with one
#     PlayReady <ProtectionHeader>; its PlayReady Object, decoded here (tests/lib/smooth_iso.py
#     pro), is a WRMHEADER 4.0.0.0 whose KID is the CPIX's KID (little-endian GUID), whose
#     CHECKSUM is the first 8 bytes of AES-128-ECB(key, KID) computed by the `openssl` command
#     line, with ALGID AESCTR and LA_URL = playready_la_url=; every Url template names the
#     encryption;
#   - every fragment the manifest names, parsed here: moof + mdat; traf children tfhd, trun,
#     senc (cenc) or the PIFF uuid (piff), saiz, saio, tfxd; sample encryption flags 0x2 for
#     video (subsamples), 0 for audio; saio lands on the first IV; tfxd time = the chunk's t;
#   - ffmpeg -decryption_key decodes, for the top video rendition and the English audio, an ISO
#     file built from the manifest alone (tests/lib/smooth_iso.py: init segment from
#     CodecPrivateData with encv/enca + tenc, the KID from the ProtectionHeader) followed by the
#     fragments, to the frames of the source MP4 (framemd5); piff fragments with the uuid box
#     renamed senc first, as dash.js does (ffmpeg 5.1 skips the PIFF uuid box); with another
#     key or none the frames differ. Fed through a pipe: ffmpeg 5.1 misreads a seekable
#     multi-fragment CENC file;
#   - a CPIX with no PlayReady system still gets a ProtectionHeader (built, right KID and
#     checksum) and its MPD still has no PlayReady ContentProtection; a CPIX with
#     SmoothStreamingProtectionHeaderData gets exactly that text; separate audio and video
#     keys: no encrypted Smooth name (Smooth has one ProtectionHeader per presentation), the
#     DASH names are still there;
#   - no Smooth file of the mount holds the key (raw, hex, base64).
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/cpix_lib.sh
source "$ROOT/tests/lib/cpix_lib.sh"
need ffmpeg openssl xmllint

SRC=$TMP/src KEYS=$TMP/keys MNT=$TMP/mnt
ISO="python3 $ROOT/tests/lib/smooth_iso.py"
for d in ladder nopr hdr sep; do
    mkdir -p "$SRC/$d" "$KEYS/$d" || bail "mkdir"
    for f in "$FIX"/ladder/*.mp4; do ln "$f" "$SRC/$d/" 2>/dev/null || cp -p "$f" "$SRC/$d/"; done
    cp "$FIX/ladder/ladder.ism" "$SRC/$d/$d.ism" || bail "cp ladder.ism"
done

KID=$(uuid) KEY=$(openssl rand -hex 16)
KID2=$(uuid) KEY2=$(openssl rand -hex 16)
KID3=$(uuid) KEY3=$(openssl rand -hex 16)
KID_V=$(uuid) KEY_V=$(openssl rand -hex 16)
KID_A=$(uuid) KEY_A=$(openssl rand -hex 16)
OTHER=$(openssl rand -hex 16)
LA_URL='https://pr.example.test/rightsmanager.asmx?a=1&b=2'
# what the hdr asset's CPIX gives as SmoothStreamingProtectionHeaderData (any base64 text: it
# is written as given)
HDR_TEXT=$(b64 "$(openssl rand -hex 60)")

cpix "<cpix:ContentKeyList>$(key "$KID" "$(b64 "$KEY")")</cpix:ContentKeyList>" \
     "<cpix:DRMSystemList><cpix:DRMSystem kid=\"$KID\" systemId=\"$WV\"/>" \
     "<cpix:DRMSystem kid=\"$KID\" systemId=\"$PR\"/></cpix:DRMSystemList>" \
    >"$KEYS/ladder/ladder.cpix.xml"
cpix "<cpix:ContentKeyList>$(key "$KID2" "$(b64 "$KEY2")")</cpix:ContentKeyList>" \
     "<cpix:DRMSystemList><cpix:DRMSystem kid=\"$KID2\" systemId=\"$WV\"/></cpix:DRMSystemList>" \
    >"$KEYS/nopr/nopr.cpix.xml"
cpix "<cpix:ContentKeyList>$(key "$KID3" "$(b64 "$KEY3")")</cpix:ContentKeyList>" \
     "<cpix:DRMSystemList><cpix:DRMSystem kid=\"$KID3\" systemId=\"$PR\">" \
     "<cpix:SmoothStreamingProtectionHeaderData>$HDR_TEXT</cpix:SmoothStreamingProtectionHeaderData>" \
     "</cpix:DRMSystem></cpix:DRMSystemList>" >"$KEYS/hdr/hdr.cpix.xml"
cpix "<cpix:ContentKeyList>$(key "$KID_V" "$(b64 "$KEY_V")")" \
     "$(key "$KID_A" "$(b64 "$KEY_A")")</cpix:ContentKeyList>" \
     "<cpix:ContentKeyUsageRuleList>$(rule "$KID_V" VideoFilter)$(rule "$KID_A" AudioFilter)" \
     "</cpix:ContentKeyUsageRuleList>" >"$KEYS/sep/sep.cpix.xml"

mount_fg "$SRC" "$MNT" "cache=$TMP/cache,keys=$KEYS,playready_la_url=$LA_URL" || bail "no mount"
A=$MNT/ladder/ladder.ism
V='QualityLevels(852353)' AU='QualityLevels(130544)' VT=video AT=aac_eng_2_130544_1_1


# ---- (1) names: clear EACCES, encrypted served, other schemes ENOENT ----------------------
expect "clear Smooth manifest of a protected asset" EACCES "$A/manifest"
expect "clear Smooth video fragment" EACCES "$A/$V/Fragments($VT=0)"
expect "clear Smooth audio fragment" EACCES "$A/$AU/Fragments($AT=0)"
for e in cenc piff; do
    expect "manifest(encryption=$e)" OK "$A/manifest(encryption=$e)"
    expect "video fragment, encryption=$e" OK "$A/$V/Fragments($VT=0,encryption=$e)"
    expect "audio fragment, encryption=$e" OK "$A/$AU/Fragments($AT=0,encryption=$e)"
    expect "lenient spelling: Encryption=${e^^} after a blank" OK \
        "$A/$V/Fragments($VT=0, Encryption=${e^^})"
done
for n in 'manifest(encryption=cbcs)' 'manifest(encryption=cbc)' \
         "$V/Fragments($VT=0,encryption=cbcs)" "$V/Fragments($VT=0,encryption=cbc)" \
         "$V/Fragments($VT=1,encryption=cenc)" "$V/Fragments($VT=i,encryption=cenc)"; do
    expect "no such Smooth name: $n" ENOENT "$A/$n"
done
mans=$(cd "$A" && printf '%s\n' manifest*)
check "the asset lists manifest(encryption=cenc) and manifest(encryption=piff), not the clear one" \
    bash -c "grep -qx 'manifest(encryption=cenc)' <<<'$mans' &&
             grep -qx 'manifest(encryption=piff)' <<<'$mans' && ! grep -qx manifest <<<'$mans'"

# every encrypted Smooth name of the asset: listed, stat size == bytes read, one of each
# encryption per clear fragment time
python3 - "$A" >"$TMP/sizes.tap" <<'EOF'
import os, re, sys
root = sys.argv[1]
bad, kinds = [], {}
for d, _, files in os.walk(root):
    for f in files:
        m = re.fullmatch(r'(manifest|Fragments\([^=]+=\d+)\(?.*encryption=(cenc|piff)\)', f)
        if not m or 'format=' in f:
            continue
        p = os.path.join(d, f)
        with open(p, 'rb') as fh:
            data = fh.read()
        if len(data) != os.stat(p).st_size:
            bad.append('%s: stat %d, read %d' % (p, os.stat(p).st_size, len(data)))
        kinds.setdefault(m.group(2), []).append(f)
n = {k: len(v) for k, v in kinds.items()}
good = not bad and n.get('cenc', 0) > 20 and n.get('cenc') == n.get('piff')
print('%s - %s Smooth names of the protected asset: stat size == bytes read %s'
      % ('ok' if good else 'not ok', n, '; '.join(bad[:3])))
EOF
cat "$TMP/sizes.tap"
grep -q '^not ok' "$TMP/sizes.tap" && fail=1

# ---- (2) the manifest: Protection, the PlayReady Object, Url templates -----------------
for e in cenc piff; do
    cp "$A/manifest(encryption=$e)" "$TMP/$e.xml" || bail "read manifest(encryption=$e)"
    check "manifest(encryption=$e) is well-formed XML (xmllint)" xmllint --noout --nonet "$TMP/$e.xml"
done
python3 - "$TMP/cenc.xml" "$TMP/piff.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
for path, e in zip(sys.argv[1:], ('cenc', 'piff')):
    root = ET.parse(path).getroot()
    kids = list(root)
    good = kids and kids[0].tag == 'Protection' and len(root.findall('Protection')) == 1
    print('%s - %s: <Protection> is the first child of the root, once' % ('ok' if good else 'not ok', e))
    ph = root.findall('Protection/ProtectionHeader')
    good = len(ph) == 1 and ph[0].get('SystemID', '').lower().strip('{}') == \
        '9a04f079-9840-4286-ab92-e65be0885f95' and list(root.find('Protection')) == ph
    print('%s - %s: one ProtectionHeader, SystemID PlayReady' % ('ok' if good else 'not ok', e))
    urls = [si.get('Url') for si in root.findall('StreamIndex')]
    good = len(urls) == 3 and all(u.endswith('={start time},encryption=%s)' % e) for u in urls)
    print('%s - %s: every StreamIndex Url ends ={start time},encryption=%s) %s'
          % ('ok' if good else 'not ok', e, e, '' if good else urls))
EOF
# pro_check WHAT MANIFEST KID KEY LA_URL: the decoded PRO against the CPIX and openssl
pro_check() {
    local facts want_kid_le sum
    if ! facts=$($ISO pro "$2" 2>&1); then not_ok "$1: the ProtectionHeader does not decode: $facts"; return; fi
    want_kid_le=$(python3 -c 'import uuid, sys; print(uuid.UUID(sys.argv[1]).bytes_le.hex())' "$3")
    sum=$(printf '%s' "$want_kid_le" | xxd -r -p | openssl enc -aes-128-ecb -K "$4" -nopad | head -c 8 | xxd -p)
    python3 - "$1" "$facts" "$3" "$want_kid_le" "$sum" "$5" <<'EOF'
import json, sys
what, facts, kid, kid_le, checksum, la_url = sys.argv[1:]
f = json.loads(facts)
def say(cond, text):
    print('%s - %s: %s%s' % ('ok' if cond else 'not ok', what, text, '' if cond else ' %s' % f))
say(f['length_ok'] and f['records'] == 1, 'a PlayReady Object, its length and one record right')
say(f['version'] == '4.0.0.0' and f['algid'] == 'AESCTR', 'WRMHEADER 4.0.0.0, ALGID AESCTR')
say(f['kid'] == kid and f['kid_le_hex'] == kid_le, 'KID = the CPIX KID %s (little-endian GUID)' % kid)
say(f['checksum_hex'] == checksum, 'CHECKSUM = AES-128-ECB(key, KID)[0:8] by openssl (%s)' % checksum)
say((f['la_url'] or '') == la_url, 'LA_URL = playready_la_url= (%s)' % la_url)
EOF
}
pro_check "ladder cenc" "$TMP/cenc.xml" "$KID" "$KEY" "$LA_URL"
pro_check "ladder piff" "$TMP/piff.xml" "$KID" "$KEY" "$LA_URL"

# ---- (3) every fragment the manifests name, parsed here --------------------------------
python3 - "$A" "$TMP/cenc.xml" "$TMP/piff.xml" <<'EOF'
import os, struct, sys, xml.etree.ElementTree as ET
asset = sys.argv[1]
TFXD = bytes.fromhex('6d1d9b0542d544e680e2141daff757b2')
PIFF = bytes.fromhex('a2394f525a9b4f14a2446c427c648df4')
def boxes(b, off, end):
    while off + 8 <= end:
        size, typ = struct.unpack_from('>I4s', b, off)
        assert size >= 8 and off + size <= end, 'box %r size %d' % (typ, size)
        yield typ, off, off + size
        off += size
def check(buf, video, piff, t, d):
    top = list(boxes(buf, 0, len(buf)))
    assert [x[0] for x in top] == [b'moof', b'mdat'], [x[0] for x in top]
    moof = top[0]
    traf = [x for x in boxes(buf, moof[1] + 8, moof[2]) if x[0] == b'traf'][0]
    kids = list(boxes(buf, traf[1] + 8, traf[2]))
    names = [k[0] if k[0] != b'uuid' else
             (b'tfxd' if buf[k[1] + 8:k[1] + 24] == TFXD else
              b'piff' if buf[k[1] + 8:k[1] + 24] == PIFF else b'uuid?') for k in kids]
    want = [b'tfhd', b'trun', b'piff' if piff else b'senc', b'saiz', b'saio', b'tfxd']
    assert names == want, names
    k = dict(zip(names, kids))
    _, sb, se = k[b'piff' if piff else b'senc']
    body = sb + (24 if piff else 8)
    vf, count = struct.unpack_from('>II', buf, body)
    assert vf == (2 if video else 0), 'sample encryption version/flags %#x' % vf
    trun_count = struct.unpack_from('>I', buf, k[b'trun'][1] + 12)[0]
    assert count == trun_count, (count, trun_count)
    _, ob, oe = k[b'saio']
    vf, n, off = struct.unpack_from('>III', buf, ob + 8)
    assert vf == 0 and n == 1, (vf, n)
    assert moof[1] + off == body + 8, 'saio %d, first IV at %d' % (off, body + 8 - moof[1])
    _, xb, xe = k[b'tfxd']
    v, tt, dd = struct.unpack_from('>IQQ', buf, xb + 24)
    assert (v >> 24, tt, dd) == (1, t, d), (v, tt, dd, t, d)
n = 0
errors = []
for path, piff in zip(sys.argv[2:], (False, True)):
    root = ET.parse(path).getroot()
    for si in root.findall('StreamIndex'):
        for q in si.findall('QualityLevel'):
            t = 0
            for c in si.findall('c'):
                t = int(c.get('t', t))
                d = int(c.get('d'))
                for _ in range(int(c.get('r', 1))):
                    url = si.get('Url').replace('{bitrate}', q.get('Bitrate')).replace('{start time}', str(t))
                    try:
                        with open(os.path.join(asset, url), 'rb') as f:
                            check(f.read(), si.get('Type') == 'video', piff, t, d)
                    except Exception as e:
                        errors.append('%s: %s' % (url, e))
                    n += 1
                    t += d
print('%s - %d fragments the cenc and piff manifests name: moof+mdat; tfhd, trun, senc|PIFF uuid, '
      'saiz, saio, tfxd; flags 2 (video) / 0 (audio); saio on the first IV; tfxd = chunk %s'
      % ('ok' if n > 40 and not errors else 'not ok', n, '; '.join(errors[:3])))
EOF

# ---- (4) ffmpeg decrypts an ISO file made from the manifest + fragments -----------------
hashes() { ffmpeg -nostdin -v error "$@" -f framemd5 - 2>/dev/null | grep -v '^#' | awk -F, '{print $NF}'; }
# iso MANIFEST STREAM ENC: init from the manifest + the fragments it names, from the mount
iso() {
    local u
    $ISO init "$1" "$2" 0 || return 1
    for u in $($ISO urls "$1" "$2" 0); do
        if [ "$3" = piff ]; then $ISO senc <"$A/$u" || return 1; else cat "$A/$u" || return 1; fi
    done
}
decode() {    # decode WHAT STREAM SOURCE.mp4 [SRCOPT]
    local what=$1 stream=$2 src=$3 want got e
    shift 3
    want=$(hashes "$@" -i "$src")
    for e in cenc piff; do
        got=$(iso "$TMP/$e.xml" "$stream" "$e" | hashes -decryption_key "$KEY" -i pipe:0)
        if [ -n "$want" ] && [ "$got" = "$want" ]; then
            ok "$what $e: ffmpeg decodes manifest + fragments with the key to the source's $(wc -l <<<"$want") frames"
        else
            not_ok "$what $e: the decode differs from the source ($(wc -l <<<"$got") of $(wc -l <<<"$want") frames)"
        fi
        got=$(iso "$TMP/$e.xml" "$stream" "$e" | hashes -decryption_key "$OTHER" -i pipe:0)
        check "$what $e: another key does not decode it" test "$got" != "$want"
        got=$(iso "$TMP/$e.xml" "$stream" "$e" | hashes -i pipe:0)
        check "$what $e: no key, no clear frames" test "$got" != "$want"
    done
}
decode "video 852353" "$VT" "$FIX/ladder/ladder_640x360.mp4"
# the output timeline applies the AAC edit list (no edit list in Smooth): the priming frame
# is a frame of its own, as in the source decoded without its edit list
decode "audio eng" "$AT" "$FIX/ladder/ladder_aac_eng.mp4" -ignore_editlist 1

# ---- (5) other CPIX shapes --------------------------------------------------------------
cp "$MNT/nopr/nopr.ism/manifest(encryption=cenc)" "$TMP/nopr.xml" || not_ok "nopr: read manifest"
pro_check "no PlayReady in the CPIX: built all the same" "$TMP/nopr.xml" "$KID2" "$KEY2" "$LA_URL"
check "no PlayReady in the CPIX: the MPD still signals none" \
    bash -c "! grep -qi 'urn:uuid:$PR' '$MNT/nopr/nopr.ism/manifest(format=mpd-time-csf,encryption=cenc)'"
check "no PlayReady in the CPIX: the MPD signals its Widevine" \
    grep -qi "urn:uuid:$WV" "$MNT/nopr/nopr.ism/manifest(format=mpd-time-csf,encryption=cenc)"
got=$(python3 -c 'import sys, xml.etree.ElementTree as ET
print(ET.parse(sys.argv[1]).getroot().find("Protection/ProtectionHeader").text)' \
      "$MNT/hdr/hdr.ism/manifest(encryption=piff)")
check "SmoothStreamingProtectionHeaderData of the CPIX: the ProtectionHeader, as given" \
    test "$got" = "$HDR_TEXT"
S=$MNT/sep/sep.ism
for n in 'manifest(encryption=cenc)' 'manifest(encryption=piff)' \
         "$V/Fragments($VT=0,encryption=cenc)" "$AU/Fragments($AT=0,encryption=piff)"; do
    expect "separate audio and video keys: $n" ENOENT "$S/$n"
done
expect "separate keys: the DASH manifest is still served" OK \
    "$S/manifest(format=mpd-time-csf,encryption=cenc)"
check "separate keys: no Smooth name is listed" \
    bash -c "! { ls '$S'; ls '$S/$V'; } | grep -E '^(manifest\(|Fragments\([^,]*,)encryption=(cenc|piff)'"

# ---- (6) no key byte in any Smooth file ------------------------------------------------
python3 - "$MNT" "$KEY" "$KEY2" "$KEY3" <<'EOF'
import base64, os, re, sys
pats = []
for h in sys.argv[2:]:
    raw = bytes.fromhex(h)
    pats += [raw, h.encode(), h.upper().encode(), base64.b64encode(raw),
             base64.b64encode(raw).rstrip(b'='), base64.urlsafe_b64encode(raw).rstrip(b'=')]
n, hits = 0, []
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        if 'encryption=' not in f or 'format=' in f:
            continue
        with open(os.path.join(d, f), 'rb') as fh:
            data = fh.read()
        n += 1
        if any(p in data for p in pats):
            hits.append(os.path.join(d, f))
print('%s - the keys are in none of the %d Smooth files of the mount%s'
      % ('ok' if n > 100 and not hits else 'not ok', n, ': ' + ', '.join(hits[:3]) if hits else ''))
EOF

check "the daemon is alive" is_mounted "$MNT"
unmount "$MNT" || not_ok "unmount"
