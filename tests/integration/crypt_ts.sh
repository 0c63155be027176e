#!/usr/bin/env bash
# Apple SAMPLE-AES TS segments (HLS m3u8-aapl / m3u8-aapl-v3 with encryption=cbcs-aapl;
# issue 6) through a mount with keys=DIR (CPIX documents made here, keys from `openssl rand`),
# judged by tools ismfs does not contain:
#   - ffmpeg's HLS demuxer (the only SAMPLE-AES TS decrypter at hand: libavformat
#     hls_sample_encryption.c) decodes the segments of a video rendition, of an audio track
#     and of the v3 muxed variant, listed in a playlist written here (METHOD=SAMPLE-AES, the
#     key in a file beside it, IV = the CPIX explicitIV), to the framemd5 of the clear
#     segments (`ismfs cat` without keys, through the same demuxer); another key, or no
#     EXT-X-KEY, does not;
#   - ffprobe (mpegts demuxer, trace level) reads stream_type 0xDB / 0xCF from the PMT; a
#     PMT parser written here finds the descriptors Apple's format asks for
#     (private_data_indicator 'zavc' / 'aacd', registration 'apad' with the audio setup
#     information 'zaac' + the track's AudioSpecificConfig, read from the MP4 by ffprobe) and
#     checks the section CRC with its own CRC-32/MPEG-2;
#   - every NAL unit of the encrypted video is valid H.264 byte stream (14496-10 7.4.1: no
#     00 00 00/01/02 inside a unit, 00 00 03 only before a byte <= 3), and the units ffmpeg
#     decrypts grow (the re-escaping is exercised, not only possible);
#   - stat size == bytes read for every SAMPLE-AES segment of the asset, == `ismfs cat`;
#     the sizes come back the same from a second mount over the same cache (the growth is
#     kept in the LMDB index: an aux "saes/" entry), whose file holds no key byte;
#   - a CPIX with separate video and audio keys (no explicitIV: the IV is derived, read
#     from the cbcs init segment's tenc box): each v4 track decodes with its own key; the v3
#     muxed segment, which one EXT-X-KEY cannot describe, does not exist (ENOENT).
# ffmpeg 5.1's HLS demuxer decrypts a packet only while its segment is the current one
# (hls.c: current_segment() is NULL once the last segment has been read), so the packets
# its parsers flush at the end of the input reach the decoder still encrypted. Each
# encrypted playlist therefore ends with one extra segment (the first one again), whose
# frames are not compared.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
need ffmpeg ffprobe openssl

SRC=$TMP/src KEYS=$TMP/keys MNT=$TMP/mnt
mkdir -p "$SRC/ladder" "$SRC/sep" "$KEYS/ladder" "$KEYS/sep" || bail "mkdir"
for f in "$FIX"/ladder/*; do
    for d in ladder sep; do ln "$f" "$SRC/$d/" 2>/dev/null || cp -p "$f" "$SRC/$d/"; done
done
if ! { mv "$SRC/sep/ladder.ism" "$SRC/sep/sep.ism" && rm -f "$SRC/sep/ladder_old.ism"; }; then
    bail "cannot lay out SRC"
fi

uuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }
b64() {
    python3 -c 'import base64,sys;print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$1"
}
KID=$(uuid) KEY=$(openssl rand -hex 16) IV=$(openssl rand -hex 16)
KID_V=$(uuid) KEY_V=$(openssl rand -hex 16) KID_A=$(uuid) KEY_A=$(openssl rand -hex 16)
OTHER=$(openssl rand -hex 16)
cpix() {
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" '
    printf 'xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" contentId="test" version="2.3">\n'
    printf '%s\n' "$@"
    printf '</cpix:CPIX>\n'
}
key() {    # key KID VALUE_HEX [IV_HEX]
    printf '<cpix:ContentKey kid="%s"%s><cpix:Data><pskc:Secret><pskc:PlainValue>%s' "$1" \
        "${3:+ explicitIV=\"$(b64 "$3")\"}" "$(b64 "$2")"
    printf '</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>'
}
rule() {
    printf '<cpix:ContentKeyUsageRule kid="%s"><cpix:%s/></cpix:ContentKeyUsageRule>' "$1" "$2"
}
cpix "<cpix:ContentKeyList>$(key "$KID" "$KEY" "$IV")</cpix:ContentKeyList>" \
    >"$KEYS/ladder/ladder.cpix.xml"
cpix "<cpix:ContentKeyList>$(key "$KID_V" "$KEY_V")$(key "$KID_A" "$KEY_A")</cpix:ContentKeyList>" \
     "<cpix:ContentKeyUsageRuleList>$(rule "$KID_V" VideoFilter)$(rule "$KID_A" AudioFilter)" \
     "</cpix:ContentKeyUsageRuleList>" >"$KEYS/sep/sep.cpix.xml"

mount_fg "$SRC" "$MNT" "cache=$TMP/cache,keys=$KEYS" || bail "no mount"
A=$MNT/ladder/ladder.ism
V='QualityLevels(852353)' VT=video AU='QualityLevels(130544)' AT=aac_eng_2_130544_1_1
ENC=encryption=cbcs-aapl
F=(-nostdin -v error -allowed_extensions ALL -extension_picky 0
   -protocol_whitelist "file,crypto,data,http,tcp")

# seg_times DIR QL TRACK FORMAT_OPTS: fragment times of TRACK's SAMPLE-AES TS names, sorted
seg_times() {
    (cd "$1/$2" && printf '%s\n' Fragments*) |
        sed -n "s/^Fragments($3=\([0-9]*\),$4,$ENC)\$/\1/p" | sort -n
}
# playlist OUT KEYHEX|- IVHEX PATH...: an HLS media playlist of the given segment paths
# (absolute), with METHOD=SAMPLE-AES and the key in OUT.key when KEYHEX is not -
playlist() {
    local out=$1 k=$2 iv=$3 p
    shift 3
    {
        printf '#EXTM3U\n#EXT-X-VERSION:5\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n'
        if [ "$k" != - ]; then
            python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$k" \
                >"$out.key"
            printf '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="%s",IV=0x%s\n' "$(basename "$out").key" "$iv"
        fi
        for p in "$@"; do printf '#EXTINF:2.0,\n%s\n' "$p"; done
        printf '#EXT-X-ENDLIST\n'
    } >"$out"
}
# md5s PLAYLIST: framemd5 lines (all streams) of the playlist through ffmpeg's HLS demuxer
md5s() { ffmpeg "${F[@]}" -i "$1" -map 0 -f framemd5 - 2>/dev/null | grep -v '^#'; }
# same_prefix WANT GOT: per stream, GOT's first frames (as many as WANT has) equal WANT's
same_prefix() {
    python3 - "$1" "$2" <<'EOF'
import collections, sys
def per(path):
    d = collections.defaultdict(list)
    for line in open(path):
        f = [x.strip() for x in line.split(',')]
        if len(f) >= 6:
            d[f[0]].append(f[5])
    return d
want, got = per(sys.argv[1]), per(sys.argv[2])
ok = bool(want) and all(len(w) > 10 and got.get(s, [])[:len(w)] == w for s, w in want.items())
print(' '.join('%s:%d' % (s, len(w)) for s, w in sorted(want.items())))
sys.exit(0 if ok else 1)
EOF
}

# judge WHAT KEYHEX IVHEX ASSETDIR ASSET QL TRACK FORMAT_OPTS: the SAMPLE-AES segments of
# one track (v3: with its audio) decode with the key to the clear frames, and not otherwise
judge() {
    local what=$1 k=$2 iv=$3 dir=$4 asset=$5 ql=$6 tr=$7 fo=$8 t n=0 enc=() clr=() frames
    for t in $(seg_times "$dir" "$ql" "$tr" "$fo"); do
        enc+=("$dir/$ql/Fragments($tr=$t,$fo,$ENC)")
        ism cat "$SRC" "$asset/$ql/Fragments($tr=$t,$fo)" >"$TMP/clr.$n.ts" || return 1
        clr+=("$TMP/clr.$n.ts")
        n=$((n + 1))
    done
    [ "$n" -ge 3 ] || { not_ok "$what: only $n SAMPLE-AES segments listed"; return; }
    playlist "$TMP/clear.m3u8" - - "${clr[@]}"
    md5s "$TMP/clear.m3u8" >"$TMP/want.md5"
    playlist "$TMP/enc.m3u8" "$k" "$iv" "${enc[@]}" "${enc[0]}"
    md5s "$TMP/enc.m3u8" >"$TMP/got.md5"
    if frames=$(same_prefix "$TMP/want.md5" "$TMP/got.md5"); then
        ok "$what: ffmpeg's HLS demuxer decrypts $n SAMPLE-AES segments to the clear" \
           "frames ($frames)"
    else
        not_ok "$what: the decrypted frames differ from the clear ones ($frames)"
    fi
    playlist "$TMP/bad.m3u8" "$OTHER" "$iv" "${enc[@]}" "${enc[0]}"
    md5s "$TMP/bad.m3u8" >"$TMP/bad.md5"
    if same_prefix "$TMP/want.md5" "$TMP/bad.md5" >/dev/null; then
        not_ok "$what: another key gives the clear frames"
    else
        ok "$what: another key does not give the clear frames"
    fi
    playlist "$TMP/none.m3u8" - - "${enc[@]}" "${enc[0]}"
    md5s "$TMP/none.m3u8" >"$TMP/none.md5"
    if same_prefix "$TMP/want.md5" "$TMP/none.md5" >/dev/null; then
        not_ok "$what: the segments decode to the clear frames without a key"
    else
        ok "$what: without EXT-X-KEY the segments do not decode to the clear frames"
    fi
}

judge "video 852353" "$KEY" "$IV" "$A" ladder/ladder.ism "$V" "$VT" format=m3u8-aapl
judge "audio eng" "$KEY" "$IV" "$A" ladder/ladder.ism "$AU" "$AT" format=m3u8-aapl
judge "v3 video 423612 + audio eng" "$KEY" "$IV" "$A" ladder/ladder.ism 'QualityLevels(423612)' \
    "$VT" "format=m3u8-aapl-v3,audiotrack=$AT"

# ---- the PMT: stream types (ffprobe), descriptors and CRC (parsed here) --------------------
VSEG="$A/$V/Fragments($VT=0,format=m3u8-aapl,$ENC)"
ASEG="$A/$AU/Fragments($AT=0,format=m3u8-aapl,$ENC)"
MSEG="$A/QualityLevels(423612)/Fragments($VT=0,format=m3u8-aapl-v3,audiotrack=$AT,$ENC)"
# types SEGMENT: "index:stream_type " of each PMT entry, as ffmpeg's mpegts demuxer reads them
types() {
    ffprobe -v trace "$1" 2>&1 |
        sed -n 's/.*stream=\([0-9]\) stream_type=\([0-9a-f]*\) .*/\1:\2/p' | sort -u | tr '\n' ' '
}
check "ffprobe: the video segment's PMT has stream_type 0xdb" test "$(types "$VSEG")" = "0:db "
check "ffprobe: the audio segment's PMT has stream_type 0xcf" test "$(types "$ASEG")" = "0:cf "
check "ffprobe: the v3 segment's PMT has 0xdb and 0xcf" test "$(types "$MSEG")" = "0:db 1:cf "
# the AudioSpecificConfig as ffprobe reads it from the MP4 (hex dump: 8-digit offset, colon,
# 40 columns of hex)
ASC=$(ffprobe -v error -select_streams a:0 -show_entries stream=extradata -show_data \
        "$FIX/ladder/ladder_aac_eng.mp4" 2>/dev/null | python3 -c '
import re, sys
print("".join(l[10:50].replace(" ", "") for l in sys.stdin if re.match("[0-9a-f]{8}: ", l)))')
python3 - "$VSEG" "$ASEG" "$MSEG" "$ASC" <<'EOF'
import sys
vseg, aseg, mseg, asc = sys.argv[1], sys.argv[2], sys.argv[3], bytes.fromhex(sys.argv[4][:128])
def crc32_mpeg(b):                      # 13818-1 Annex A, bit by bit
    c = 0xffffffff
    for x in b:
        c ^= x << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04c11db7) if c & 0x80000000 else c << 1
            c &= 0xffffffff
    return c
def pmt(path):
    d = open(path, 'rb').read()
    for off in range(0, len(d), 188):
        p = d[off:off + 188]
        pid = (p[1] & 0x1f) << 8 | p[2]
        if pid != 0 or not p[1] & 0x40:
            continue
        s = p[5:]
        pmt_pid = (s[10] & 0x1f) << 8 | s[11]
        break
    for off in range(0, len(d), 188):
        p = d[off:off + 188]
        if (p[1] & 0x1f) << 8 | p[2] != pmt_pid:
            continue
        s = p[4 + 1 + p[4]:]
        n = ((s[1] & 0x0f) << 8 | s[2]) + 3
        sec = s[:n]
        if crc32_mpeg(sec[:-4]) != int.from_bytes(sec[-4:], 'big'):
            return None, 'CRC'
        pil = (sec[10] & 0x0f) << 8 | sec[11]
        i, es = 12 + pil, []
        while i < n - 4:
            el = (sec[i + 3] & 0x0f) << 8 | sec[i + 4]
            descs, j = [], i + 5
            while j < i + 5 + el:
                descs.append((sec[j], bytes(sec[j + 2:j + 2 + sec[j + 1]])))
                j += 2 + sec[j + 1]
            if j != i + 5 + el:
                return None, 'descriptor lengths do not tile ES_info'
            es.append((sec[i], descs))
            i += 5 + el
        return es, None
    return None, 'no PMT'
want_v = (0xdb, [(0x0f, b'zavc')])
want_a = (0xcf, [(0x0f, b'aacd'),
                 (0x05, b'apad' + b'zaac' + b'\x00\x00' + b'\x01' + bytes([len(asc)]) + asc),
                 (0x0a, b'eng\x00')])
for what, path, want in (('video', vseg, [want_v]), ('audio', aseg, [want_a]),
                         ('v3', mseg, [want_v, want_a])):
    es, err = pmt(path)
    good = err is None and es == want and len(asc) >= 2
    print('%s - PMT of the %s segment: CRC-32/MPEG-2 right, stream types and descriptors %s%s'
          % ('ok' if good else 'not ok', what,
             ' '.join('%02x:%s' % (t, ','.join('%02x' % d for d, _ in ds)) for t, ds in want),
             '' if good else ' (got %s %s, ASC %s)' % (es, err or '', asc.hex())))
EOF

# ---- the video is valid byte stream; the protected units grew by their re-escaping -------
python3 - "$A/$V" "$VT" <<'EOF'
import os, re, sys
d, track = sys.argv[1], sys.argv[2]
pat = r'Fragments\(%s=\d+,format=m3u8-aapl,encryption=cbcs-aapl\)$' % track
names = [f for f in os.listdir(d) if re.match(pat, f)]
bad, units, grown = [], 0, 0
for f in names:
    b = open(os.path.join(d, f), 'rb').read()
    es = bytearray()
    for off in range(0, len(b), 188):
        p = b[off:off + 188]
        if (p[1] & 0x1f) << 8 | p[2] != 0x100:
            continue
        pos = 4 + (1 + p[4] if p[3] & 0x20 else 0)
        if p[1] & 0x40:                 # PES start: skip its header
            pos += 9 + p[pos + 8]
        es += p[pos:]
    for u in bytes(es).split(b'\x00\x00\x00\x01'):
        if not u:
            continue
        units += 1
        for m in re.finditer(b'\x00\x00([\x00-\x03])', u):
            k = m.start()
            if m.group(1) != b'\x03' or (k + 3 < len(u) and u[k + 3] > 3):
                bad.append('%s: 00 00 %02x at %d of a type %d unit' % (f, u[k + 2], k, u[0] & 31))
                break
        if (u[0] & 31) in (1, 5) and len(u) > 48 and b'\x00\x00\x03' in u[32:]:
            grown += 1
print('%s - %d NAL units of %d encrypted video segments: emulation prevention valid (%d '
      'protected units carry 00 00 03)%s' % ('ok' if not bad and units > 100 and names else
      'not ok', units, len(names), grown, '' if not bad else ': ' + '; '.join(bad[:3])))
EOF

# ---- sizes: stat == read == ismfs cat; again from a second mount over the same cache -------
python3 - "$A" >"$TMP/sizes.txt" <<'EOF'
import os, sys
root = sys.argv[1]
for d, _, files in os.walk(root):
    for f in sorted(files):
        if 'encryption=cbcs-aapl' in f and f.startswith('Fragments('):
            p = os.path.join(d, f)
            with open(p, 'rb') as fh:
                n = len(fh.read())
            print('%s\t%d\t%d' % (os.path.relpath(p, root), os.stat(p).st_size, n))
EOF
nseg=$(wc -l <"$TMP/sizes.txt")
check "stat size == bytes read for each of the $nseg SAMPLE-AES segments" \
    awk -F'\t' 'NR > 0 && $2 != $3 { bad = 1 } END { exit bad || NR < 40 }' "$TMP/sizes.txt"
# same_as_cat PATH VPATH: the mount's bytes are `ismfs cat`'s (same code as read(), own cache)
same_as_cat() { cmp -s "$1" <("$ISMFS" --cache="$TMP/cat-keys" --keys="$KEYS" cat "$SRC" "$2"); }
check "the mount's bytes are ismfs cat's: video" \
    same_as_cat "$VSEG" "ladder/ladder.ism/$V/Fragments($VT=0,format=m3u8-aapl,$ENC)"
check "the mount's bytes are ismfs cat's: audio" \
    same_as_cat "$ASEG" "ladder/ladder.ism/$AU/Fragments($AT=0,format=m3u8-aapl,$ENC)"
check "the mount's bytes are ismfs cat's: v3" same_as_cat "$MSEG" \
    "ladder/ladder.ism/${MSEG#"$A/"}"

# ---- separate keys: each track under its own, derived IV; no v3 segment --------------------
S=$MNT/sep/sep.ism
# the derived constant IV, as the cbcs init segment's tenc box states it (23001-7 8.2)
tenc_iv() {
    python3 - "$1" <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'tenc') + 4
assert d[i] == 1                        # version 1: pattern, constant IV
assert d[i + 4 + 2] == 1 and d[i + 4 + 3] == 0      # protected, Per_Sample_IV_Size 0
n = d[i + 4 + 4 + 16]
print(d[i + 4 + 4 + 16 + 1:][:n].hex())
EOF
}
IV_V=$(tenc_iv "$S/QualityLevels(423612)/Fragments($VT=i,format=cmaf,encryption=cbcs)")
IV_A=$(tenc_iv "$S/$AU/Fragments($AT=i,format=cmaf,encryption=cbcs)")
judge "separate keys: video 423612" "$KEY_V" "$IV_V" "$S" sep/sep.ism 'QualityLevels(423612)' \
    "$VT" format=m3u8-aapl
judge "separate keys: audio eng" "$KEY_A" "$IV_A" "$S" sep/sep.ism "$AU" "$AT" format=m3u8-aapl
check "separate keys: no v3 SAMPLE-AES segment is listed (one EXT-X-KEY covers a segment)" \
    bash -c "! ls '$S/QualityLevels(423612)' | grep -q '^Fragments(.*m3u8-aapl-v3.*cbcs-aapl'"
SV3="$S/QualityLevels(423612)/Fragments($VT=0,format=m3u8-aapl-v3,audiotrack=$AT,$ENC)"
python3 - "$SV3" <<'EOF'
import errno, os, sys
try:
    os.close(os.open(sys.argv[1], os.O_RDONLY))
    print('not ok - separate keys: the v3 SAMPLE-AES segment opens')
except OSError as e:
    print('%s - separate keys: the v3 SAMPLE-AES segment is %s' %
          ('ok' if e.errno == errno.ENOENT else 'not ok', errno.errorcode[e.errno]))
EOF

unmount "$MNT" || not_ok "unmount"
mount_fg "$SRC" "$MNT" "cache=$TMP/cache,keys=$KEYS" || bail "no second mount"
python3 - "$A" "$TMP/sizes.txt" <<'EOF'
import os, sys
root, rows = sys.argv[1], [l.split('\t') for l in open(sys.argv[2]).read().splitlines()]
bad = [r[0] for r in rows if os.stat(os.path.join(root, r[0])).st_size != int(r[1])]
print('%s - a second mount over the same cache gives the same %d sizes%s'
      % ('ok' if not bad and rows else 'not ok', len(rows), '' if not bad else ': ' + bad[0]))
EOF
unmount "$MNT" || not_ok "unmount (second)"
check "the growth of the video samples is in the LMDB cache (saes/ aux entries)" \
    grep -aq 'saes/1/' "$TMP/cache"/*.mdb
python3 - "$TMP/cache" "$MNT.log" "$KEY" "$KEY_V" "$KEY_A" <<'EOF'
import base64, os, sys
cache, log = sys.argv[1:3]
pats = []
for h in sys.argv[3:]:
    raw = bytes.fromhex(h)
    pats += [raw, h.encode(), h.upper().encode(), base64.b64encode(raw).rstrip(b'=')]
hits = []
for d, _, fs in os.walk(cache):
    for f in fs:
        data = open(os.path.join(d, f), 'rb').read()
        hits += [os.path.join(d, f) for p in pats if p in data][:1]
data = open(log, 'rb').read()
hits += [log for p in pats if p in data][:1]
print('%s - no key (raw, hex, base64) in the LMDB cache or the log%s'
      % ('ok' if not hits else 'not ok', '' if not hits else ': ' + ', '.join(hits)))
EOF
