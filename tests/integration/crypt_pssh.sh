#!/usr/bin/env bash
# DRM signalling built by crypt/pssh.c, judged by tools we did not write. A small driver
# (tests/lib/pssh_tool.c, compiled here with the sanitizers against crypt/pssh.c and the
# pack/ files it uses) writes each object to a file; then:
#   - Widevine: `protoc --decode_raw` shows field 2 = each key id (bytes, in order) and
#     field 9 = the protection scheme 4CC as a uint32, nothing else; the pssh box around it
#     (version 0, Widevine system ID, DataSize) and the HLS data: URI decode back to it;
#   - PlayReady: the PRO's length fields add up (Length = all, 1 record of type 1, record
#     length = the rest), the record decodes as UTF-16LE with iconv into XML that xmllint
#     finds well-formed, with the WRMHEADER namespace and version 4.0.0.0 (cenc, one key),
#     4.2.0.0 (cenc, several keys) or 4.3.0.0 (cbcs: ALGID AESCBC, no CHECKSUM); every KID
#     VALUE is the GUID byte order Python's uuid.bytes_le gives; every CHECKSUM is
#     recomputed with `openssl enc -aes-128-ecb -nopad`; the key derived from Microsoft's
#     published test key seed gives the CHECKSUM Microsoft's header spec prints;
#     LA_URL survives escaping and UTF-16 (xmllint reads back the same text); the pssh box
#     and the HLS data: URI decode back to the PRO;
#   - the content key appears in no output (raw, hex or base64).
# Tools: cc, protoc (Debian protobuf-compiler), openssl, iconv, xmllint, python3, base64.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

fail=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fail=1; }
bail()   { echo "not ok - $*"; exit 1; }
check()  { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', want '$3'"; fi; }

for t in "${CC:-cc}" protoc openssl iconv xmllint python3 base64; do
    command -v "$t" >/dev/null || bail "$t is not installed (scripts/deps.sh installs it)"
done

TMP=$(mktemp -d /tmp/ismfs-pssh.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT

SRCS="tests/lib/pssh_tool.c crypt/pssh.c crypt/uuid.c pack/text.c pack/log.c pack/arena.c"
CFLAGS="-std=c17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 -Werror -g -I."
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
# shellcheck disable=SC2086
if ! "${CC:-cc}" $CFLAGS $SAN -o "$TMP/pssh_tool" $SRCS -lcrypto 2>"$TMP/cc.err"; then
    # shellcheck disable=SC2086
    "${CC:-cc}" $CFLAGS -o "$TMP/pssh_tool" $SRCS -lcrypto 2>>"$TMP/cc.err" ||
        bail "pssh_tool does not build: $(head -5 "$TMP/cc.err" | tr '\n' ' ')"
fi
ok "tests/lib/pssh_tool.c builds against crypt/pssh.c"

# tool OUT WHAT ARGS...: the driver's output into $TMP/OUT; on failure says why.
tool() {
    local out=$1; shift
    if ! "$TMP/pssh_tool" "$@" >"$TMP/$out" 2>>"$TMP/tool.err"; then
        not_ok "pssh_tool $*: $(tail -2 "$TMP/tool.err" | tr '\n' ' ')"
        return 1
    fi
}

# Test KIDs and keys (K3 is the first KID of PlayReady Header Specification 3.4.2).
K1=10000000-1000-1000-1000-100000000001
K2=6e5a1d26-2757-47d7-8046-eaa5d1d34b5a
K3=a2c786d0-f9ef-4cb3-b333-cd323a4284a5
KEY1=194b748da11fc580b3a7aba44bdbcf4c
KEY2=abcdef0123456789abcdef0123456789

# ---- Widevine -------------------------------------------------------------------------
# want_decode_raw SCHEME_UINT KID...: what protoc --decode_raw prints for our message
# (bytes fields C-escaped as protobuf's CEscape does).
want_decode_raw() {
    python3 - "$@" <<'EOF'
import sys, uuid
def cescape(b):
    out = []
    for c in b:
        ch = chr(c)
        if ch in '\n\r\t':
            out.append({'\n': '\\n', '\r': '\\r', '\t': '\\t'}[ch])
        elif ch in '"\'\\':
            out.append('\\' + ch)
        elif c < 0x20 or c >= 0x7f:
            out.append('\\%03o' % c)
        else:
            out.append(ch)
    return ''.join(out)
scheme, kids = sys.argv[1], sys.argv[2:]
for k in kids:
    print('2: "%s"' % cescape(uuid.UUID(k).bytes))
if scheme != "none":
    print('9: %d' % int.from_bytes(scheme.encode(), 'big'))
EOF
}

for scheme in cenc cbcs none; do
    tool wv.bin wv-data "$scheme" "$K1" "$K2" || continue
    if protoc --decode_raw <"$TMP/wv.bin" >"$TMP/wv.txt" 2>"$TMP/protoc.err"; then
        want_decode_raw "$scheme" "$K1" "$K2" >"$TMP/wv.want"
        if cmp -s "$TMP/wv.txt" "$TMP/wv.want"; then
            ok "Widevine pssh data ($scheme): protoc --decode_raw shows field 2 = both key ids" \
               "in order$([ "$scheme" = none ] || echo ", field 9 = '$scheme'")"
        else
            not_ok "Widevine pssh data ($scheme): protoc --decode_raw printed" \
                   "$(tr '\n' '|' <"$TMP/wv.txt"), want $(tr '\n' '|' <"$TMP/wv.want")"
        fi
    else
        not_ok "Widevine pssh data ($scheme): protoc --decode_raw: $(head -2 "$TMP/protoc.err")"
    fi
done

# box_check FILE SYSTEM_UUID VERSION DATAFILE: a pssh box as 23001-7 8.1.1 lays it out, with
# DATAFILE's bytes as Data. Prints "ok" or what is wrong.
box_check() {
    python3 - "$@" <<'EOF'
import struct, sys, uuid
box, sysid, version, data = open(sys.argv[1], 'rb').read(), sys.argv[2], int(sys.argv[3]), \
    open(sys.argv[4], 'rb').read()
size, typ, vf = struct.unpack('>I4sI', box[:12])
errs = []
if size != len(box): errs.append('size %d of %d bytes' % (size, len(box)))
if typ != b'pssh': errs.append('type %r' % typ)
if vf != version << 24: errs.append('version/flags %08x' % vf)
if box[12:28] != uuid.UUID(sysid).bytes: errs.append('system id %s' % box[12:28].hex())
at = 28
if version == 1:
    n, = struct.unpack('>I', box[at:at + 4]); at += 4 + 16 * n
dsz, = struct.unpack('>I', box[at:at + 4])
if dsz != len(box) - at - 4: errs.append('DataSize %d' % dsz)
if box[at + 4:] != data: errs.append('Data differs')
print('ok' if not errs else '; '.join(errs))
EOF
}

# uri_check FILE PREFIX DATAFILE: the data: URI is PREFIX + base64 of DATAFILE's bytes.
uri_check() {
    local uri
    uri=$(cat "$1")
    [ "${uri#"$2"}" != "$uri" ] || { echo "does not start with $2"; return; }
    printf '%s' "${uri#"$2"}" | base64 -d >"$TMP/uri.bin" 2>/dev/null ||
        { echo "bad base64"; return; }
    cmp -s "$TMP/uri.bin" "$3" && echo ok || echo "decodes to other bytes"
}

if tool wv.bin wv-data cenc "$K1" "$K2" && tool wvbox.bin wv-pssh cenc "$K1" "$K2"; then
    check "Widevine pssh box: version 0, system edef8ba9-…, DataSize and Data = the protobuf" \
        "$(box_check "$TMP/wvbox.bin" edef8ba9-79d6-4ace-a3c8-27dcd51d21ed 0 "$TMP/wv.bin")" ok
    tool wv.uri wv-uri cenc "$K1" "$K2" &&
        check "HLS Widevine URI: data:text/plain;base64, + the whole pssh box" \
            "$(uri_check "$TMP/wv.uri" "data:text/plain;base64," "$TMP/wvbox.bin")" ok
fi

if tool common.bin common-pssh cenc "$K1" "$K2"; then
    : >"$TMP/empty"
    check "W3C common pssh: version 1, system 1077efec-…, the KIDs, no data" \
        "$(box_check "$TMP/common.bin" 1077efec-c0b2-4d02-ace3-3c1e52e2fb4b 1 "$TMP/empty")" ok
    python3 -c 'import sys, uuid; sys.stdout.buffer.write(b"".join(uuid.UUID(k).bytes
                for k in sys.argv[1:]))' "$K1" "$K2" >"$TMP/kids.bin"
    check "W3C common pssh: KID_count 2 and the KIDs in order" \
        "$(dd if="$TMP/common.bin" bs=1 skip=28 count=36 2>/dev/null | od -An -tx1 | tr -d ' \n')" \
        "00000002$(od -An -tx1 "$TMP/kids.bin" | tr -d ' \n')"
fi

tool kid.txt default-kid cenc "${K2^^}" && check "cenc:default_KID: lower-case UUID text" \
    "$(cat "$TMP/kid.txt")" "$K2"

# ---- PlayReady ------------------------------------------------------------------------
# pro_check FILE: the PRO's length fields (PlayReady Header Specification 2); prints "ok".
pro_check() {
    python3 - "$1" <<'EOF'
import struct, sys
pro = open(sys.argv[1], 'rb').read()
length, count, rtype, rlen = struct.unpack('<IHHH', pro[:10])
errs = []
if length != len(pro): errs.append('Length %d of %d bytes' % (length, len(pro)))
if count != 1: errs.append('%d records' % count)
if rtype != 1: errs.append('record type %d' % rtype)
if rlen != len(pro) - 10: errs.append('record length %d, %d bytes follow' % (rlen, len(pro) - 10))
if pro[10:12] in (b'\xff\xfe', b'\xfe\xff'): errs.append('a byte order mark')
print('ok' if not errs else '; '.join(errs))
EOF
}

# xp XML XPATH: the string value of XPATH in XML (namespaces by local-name()).
xp() { xmllint --xpath "string($2)" "$1" 2>/dev/null; }

# guid_b64 UUID: base64 of its bytes in GUID (little-endian) order, by Python's uuid module.
guid_b64() { python3 -c 'import base64, sys, uuid
print(base64.b64encode(uuid.UUID(sys.argv[1]).bytes_le).decode())' "$1"; }

# openssl_checksum UUID KEYHEX: PlayReady Header Specification 5, by the openssl command.
openssl_checksum() {
    python3 -c 'import sys, uuid; sys.stdout.buffer.write(uuid.UUID(sys.argv[1]).bytes_le)' "$1" |
        openssl enc -aes-128-ecb -K "$2" -nopad | head -c 8 | base64
}

# header LABEL FILE: checks FILE (a PRO) and leaves its WRMHEADER as UTF-8 in $TMP/h.xml.
header() {
    check "$1: PRO length fields" "$(pro_check "$2")" ok
    if ! tail -c +11 "$2" | iconv -f UTF-16LE -t UTF-8 >"$TMP/h.xml" 2>"$TMP/iconv.err"; then
        not_ok "$1: the header is not UTF-16LE: $(head -1 "$TMP/iconv.err")"
        return 1
    fi
    if ! xmllint --noout "$TMP/h.xml" 2>"$TMP/xmllint.err"; then
        not_ok "$1: header XML not well-formed: $(head -2 "$TMP/xmllint.err" | tr '\n' ' ')"
        return 1
    fi
    ok "$1: UTF-16LE header decodes with iconv; xmllint finds it well-formed"
    check "$1: root WRMHEADER in the PlayReady header namespace" \
        "$(xp "$TMP/h.xml" 'namespace-uri(/*[local-name()="WRMHEADER"])')" \
        "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader"
}

# cenc, one key: WRMHEADER 4.0.0.0 with KID and CHECKSUM elements
if tool pro.bin pr-pro cenc "la=https://lic.example/pr?a=1&b=é" "$K2:$KEY1" &&
        header "PlayReady cenc, one key" "$TMP/pro.bin"; then
    H=$TMP/h.xml
    check "PlayReady cenc, one key: version 4.0.0.0" "$(xp "$H" '/*/@version')" 4.0.0.0
    check "PlayReady cenc, one key: ALGID AESCTR, KEYLEN 16" \
        "$(xp "$H" '//*[local-name()="ALGID"]') $(xp "$H" '//*[local-name()="KEYLEN"]')" \
        "AESCTR 16"
    check "PlayReady cenc, one key: KID is the GUID-ordered key id (Python uuid.bytes_le)" \
        "$(xp "$H" '//*[local-name()="KID"]')" "$(guid_b64 "$K2")"
    check "PlayReady cenc, one key: CHECKSUM = openssl aes-128-ecb of the GUID KID, 8 bytes" \
        "$(xp "$H" '//*[local-name()="CHECKSUM"]')" "$(openssl_checksum "$K2" "$KEY1")"
    check "PlayReady cenc, one key: LA_URL survives escaping and UTF-16" \
        "$(xp "$H" '//*[local-name()="LA_URL"]')" "https://lic.example/pr?a=1&b=é"
    cp "$TMP/pro.bin" "$TMP/pro1.bin"
    if tool prbox.bin pr-pssh cenc "la=https://lic.example/pr?a=1&b=é" "$K2:$KEY1"; then
        check "PlayReady pssh box: version 0, system 9a04f079-…, Data = the PRO" \
            "$(box_check "$TMP/prbox.bin" 9a04f079-9840-4286-ab92-e65be0885f95 0 \
                "$TMP/pro1.bin")" ok
    fi
    tool pr.uri pr-uri cenc "la=https://lic.example/pr?a=1&b=é" "$K2:$KEY1" &&
        check "HLS PlayReady URI: data:text/plain;charset=UTF-16;base64, + the PRO" \
            "$(uri_check "$TMP/pr.uri" "data:text/plain;charset=UTF-16;base64," \
                "$TMP/pro1.bin")" ok
fi

# Microsoft's published vector: PlayReady Header Specification 3.4.2 prints CHECKSUM
# "xNvWVxoWk04=" for KID 0IbHou/5s0yzM80yOkKEpQ== (= K3); its key comes from Microsoft's
# public test key seed by the algorithm of playready-key-seed.md.
KEY3=$(python3 - "$K3" <<'EOF'
import base64, hashlib, sys, uuid
seed = base64.b64decode("XVBovsmzhP9gRIZxWfFta3VVRPzVEWmJsazEJ46I")[:30]
kid = uuid.UUID(sys.argv[1]).bytes_le
a = hashlib.sha256(seed + kid).digest()
b = hashlib.sha256(seed + kid + seed).digest()
c = hashlib.sha256(seed + kid + seed + kid).digest()
print(bytes(a[i] ^ a[i + 16] ^ b[i] ^ b[i + 16] ^ c[i] ^ c[i + 16] for i in range(16)).hex())
EOF
)
if tool pro3.bin pr-pro cenc "$K3:$KEY3" && header "PlayReady, Microsoft's test key" \
        "$TMP/pro3.bin"; then
    check "PlayReady, Microsoft's test key: KID as the spec prints it" \
        "$(xp "$TMP/h.xml" '//*[local-name()="KID"]')" "0IbHou/5s0yzM80yOkKEpQ=="
    check "PlayReady, Microsoft's test key: CHECKSUM as the spec prints it" \
        "$(xp "$TMP/h.xml" '//*[local-name()="CHECKSUM"]')" "xNvWVxoWk04="
    check "PlayReady, Microsoft's test key: openssl agrees" \
        "$(openssl_checksum "$K3" "$KEY3")" "xNvWVxoWk04="
fi

# cenc, two keys: WRMHEADER 4.2.0.0, KIDS with ALGID/CHECKSUM/VALUE attributes
if tool pro2.bin pr-pro cenc "$K1:$KEY1" "$K2:$KEY2" &&
        header "PlayReady cenc, two keys" "$TMP/pro2.bin"; then
    H=$TMP/h.xml
    check "PlayReady cenc, two keys: version 4.2.0.0, two KIDs in KIDS" \
        "$(xp "$H" '/*/@version') $(
           xp "$H" 'count(//*[local-name()="KIDS"]/*[local-name()="KID"])')" \
        "4.2.0.0 2"
    i=1
    for pair in "$K1:$KEY1" "$K2:$KEY2"; do
        kid=${pair%%:*} key=${pair#*:}
        sel="//*[local-name()=\"KIDS\"]/*[local-name()=\"KID\"][$i]"
        check "PlayReady cenc, two keys: KID $i VALUE in GUID order, ALGID AESCTR" \
            "$(xp "$H" "$sel/@VALUE") $(xp "$H" "$sel/@ALGID")" "$(guid_b64 "$kid") AESCTR"
        check "PlayReady cenc, two keys: KID $i CHECKSUM = openssl" \
            "$(xp "$H" "$sel/@CHECKSUM")" "$(openssl_checksum "$kid" "$key")"
        i=$((i + 1))
    done
fi

# cbcs: WRMHEADER 4.3.0.0, ALGID AESCBC, no CHECKSUM (spec 3.3.1 and 5), no key needed
if tool pro4.bin pr-pro cbcs "la=https://lic.example/" "$K1" "$K2" &&
        header "PlayReady cbcs" "$TMP/pro4.bin"; then
    H=$TMP/h.xml
    check "PlayReady cbcs: version 4.3.0.0, 2 KIDs, all ALGID AESCBC, no CHECKSUM" \
        "$(xp "$H" '/*/@version') $(xp "$H" 'count(//*[local-name()="KID"][@ALGID="AESCBC"])') $(
           xp "$H" 'count(//@CHECKSUM)') $(xp "$H" 'count(//*[local-name()="CHECKSUM"])')" \
        "4.3.0.0 2 0 0"
    check "PlayReady cbcs: KID VALUEs in GUID order" \
        "$(xp "$H" '//*[local-name()="KID"][1]/@VALUE') $(
           xp "$H" '//*[local-name()="KID"][2]/@VALUE')" \
        "$(guid_b64 "$K1") $(guid_b64 "$K2")"
fi

# ---- secrecy --------------------------------------------------------------------------
python3 - "$TMP" "$KEY1" "$KEY2" "$KEY3" >"$TMP/leak.txt" <<'EOF'
import base64, os, sys
tmp, keys = sys.argv[1], [bytes.fromhex(k) for k in sys.argv[2:]]
needles = []
for k in keys:
    needles += [k, k.hex().encode(), k.hex().upper().encode(), base64.b64encode(k)[:20]]
    needles += [n.decode().encode('utf-16-le') for n in needles[-3:]]
for name in sorted(os.listdir(tmp)):
    path = os.path.join(tmp, name)
    if name == 'pssh_tool' or not os.path.isfile(path):
        continue
    data = open(path, 'rb').read()
    for n in needles:
        if n in data:
            print('%s holds %r' % (name, n[:8]))
EOF
if [ -s "$TMP/leak.txt" ]; then
    not_ok "a content key shows in an output or a log: $(head -3 "$TMP/leak.txt" | tr '\n' ' ')"
else
    ok "no output and no log line holds a content key (raw, hex, base64, UTF-16)"
fi

exit $fail
