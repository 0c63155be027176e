#!/usr/bin/env bash
# Known answers for crypt/aes.c from an implementation we did not write: the `openssl enc`
# command line (-aes-128-ctr, -aes-128-cbc). A driver (tests/lib/crypt_kat.c, built here
# against crypt/aes.c) encrypts random data; openssl encrypts the bytes each scheme must
# protect, selected here from the specs (not from crypt/aes.c), and the results must match
# byte for byte:
#   - cenc (23001-7 9.5): the protected ranges of a sample joined, one CTR run from the IV
#     (8-byte IVs padded with zeros): the keystream is not restarted per subsample;
#   - cbcs (23001-7 10.4.2): per protected range, the pattern's whole blocks joined, one
#     CBC run from the constant IV (restarted per range); patterns 1:9, 2:8, 5:5, 0:0, 1:0;
#   - HLS AES-128 (RFC 8216 4.3.2.4): plain `openssl enc -aes-128-cbc` (PKCS7) of the
#     segment, for sizes 0..33, TS-like sizes and 1 MB, in place and streamed in pieces;
#   - SAMPLE-AES (Apple HLS Sample Encryption 2.2/2.3): H.264 NAL units (32 clear bytes,
#     then one block in ten while more than 16 bytes remain; types 1 and 5 only), whose
#     output must unescape (the decoder's 00 00 03 removal) to the openssl result; ADTS
#     audio frames (header + 16 clear bytes, whole blocks);
#   - emulation prevention alone: no forbidden 00 00 0x sequence, unescapes to the input.
# Needs cc, openssl, python3. Run on its own: bash tests/integration/crypt_kat.sh
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

bail() { echo "not ok - $*"; exit 1; }
for t in cc openssl python3; do
    command -v "$t" >/dev/null || bail "$t is not installed (scripts/deps.sh installs it)"
done

TMP=$(mktemp -d /tmp/ismfs-crypt-kat.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT

cc -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g -I. -o "$TMP/crypt_kat" \
    tests/lib/crypt_kat.c crypt/aes.c pack/arena.c pack/log.c -lcrypto 2>"$TMP/cc.err" ||
    bail "building tests/lib/crypt_kat.c: $(head -c 500 "$TMP/cc.err" | tr '\n' ' ')"

python3 - "$TMP/crypt_kat" <<'EOF'
import os, random, subprocess, sys

DRIVER = sys.argv[1]
rng = random.Random(int.from_bytes(os.urandom(8), "big"))
failed = 0

def ok(cond, what):
    global failed
    print(("ok - " if cond else "not ok - ") + what)
    failed |= not cond

def rnd(n):
    return bytes(rng.getrandbits(8) for _ in range(n))

def openssl(cipher, key, iv, data, pad=False):
    """`openssl enc` over data (the oracle)."""
    if not data and not pad:
        return b""
    cmd = ["openssl", "enc", "-" + cipher, "-K", key.hex(), "-iv", iv.hex(), "-nosalt"]
    if not pad:
        cmd.append("-nopad")
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout

def driver(args, data):
    p = subprocess.run([DRIVER] + args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode:
        return None, p.stderr.decode(errors="replace").strip()
    return p.stdout, ""

def subs_arg(subs):
    return ",".join("%d:%d" % s for s in subs) if subs else "-"

def ranges(subs, n):
    """(start, length) of each protected range; no subsamples: the whole sample."""
    if not subs:
        return [(0, n)]
    out, pos = [], 0
    for clear, prot in subs:
        out.append((pos + clear, prot))
        pos += clear + prot
    return out

def random_subs(n_subs, max_clear, max_prot):
    return [(rng.randrange(max_clear + 1), rng.randrange(max_prot + 1)) for _ in range(n_subs)]

def check(label, args, data, want):
    got, err = driver(args, data)
    if got is None:
        ok(False, "%s: driver failed: %s" % (label, err))
    elif got != want:
        first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                     min(len(got), len(want)))
        ok(False, "%s: differs from openssl (%d vs %d bytes, first at %d)"
           % (label, len(got), len(want), first))
    else:
        ok(True, label)

# ---- cenc: CTR over the joined protected ranges -------------------------------------
def cenc_want(key, iv, data, subs):
    rs = ranges(subs, len(data))
    joined = b"".join(data[s:s + n] for s, n in rs)
    ks = openssl("aes-128-ctr", key, iv + bytes(16 - len(iv)), joined)
    out, k = bytearray(data), 0
    for s, n in rs:
        out[s:s + n] = ks[k:k + n]
        k += n
    return bytes(out)

cases = [("whole sample", []), ("[5,20][3,30]", [(5, 20), (3, 30)]),
         ("mid-block ranges", [(1, 7), (0, 9), (3, 1), (2, 33)]),
         ("empty ranges", [(4, 0), (0, 16), (9, 0), (0, 0), (1, 45)])]
for i in range(4):
    cases.append(("random %d" % i, random_subs(rng.randrange(1, 12), 300, 3000)))
for name, subs in cases:
    for iv_len in (8, 16):
        key, iv = rnd(16), rnd(iv_len)
        if iv_len == 16:
            iv = iv[:8] + bytes([iv[8] & 0x7f]) + iv[9:]   # no 64-bit wrap (unit-tested)
        n = sum(c + p for c, p in subs) if subs else rng.randrange(1, 5000)
        data = rnd(n)
        check("cenc %s, %d-byte IV" % (name, iv_len),
              ["cenc", key.hex(), iv.hex(), subs_arg(subs)], data, cenc_want(key, iv, data, subs))

# ---- cbcs: the pattern's blocks of each range, one CBC run per range -----------------
def cbcs_want(key, iv, data, subs, crypt, skip):
    out = bytearray(data)
    for s, n in ranges(subs, len(data)):
        blocks, offs, b = n // 16, [], 0
        while b < blocks:
            take = blocks - b if skip == 0 else min(crypt, blocks - b)
            offs += [s + 16 * (b + i) for i in range(take)]
            b += take + skip
        ct = openssl("aes-128-cbc", key, iv, b"".join(data[o:o + 16] for o in offs))
        for i, o in enumerate(offs):
            out[o:o + 16] = ct[16 * i:16 * i + 16]
    return bytes(out)

for crypt, skip in ((1, 9), (2, 8), (5, 5), (0, 0), (1, 0)):
    cases = [("whole sample", []), ("lengths at pattern edges",
              [(3, 16), (0, 17), (1, 159), (2, 160), (0, 161), (5, 176), (0, 177), (7, 15)])]
    for i in range(3):
        cases.append(("random %d" % i, random_subs(rng.randrange(1, 10), 200, 2000)))
    for name, subs in cases:
        key, iv = rnd(16), rnd(16)
        n = sum(c + p for c, p in subs) if subs else rng.randrange(1, 5000)
        data = rnd(n)
        check("cbcs %d:%d %s" % (crypt, skip, name),
              ["cbcs", key.hex(), iv.hex(), str(crypt), str(skip), subs_arg(subs)], data,
              cbcs_want(key, iv, data, subs, crypt, skip))

# ---- HLS AES-128: openssl enc with its PKCS7 padding ---------------------------------
key, iv = rnd(16), rnd(16)
sizes = list(range(34)) + [188, 188 * 7, 188 * 1000 + 1, 1 << 20]
bad = []
for n in sizes:
    data = rnd(n)
    want = openssl("aes-128-cbc", key, iv, data, pad=True)
    for chunk in (0, 1, 7, 188) if n < 4096 else (0, 4096, 65537):
        got, err = driver(["hls", key.hex(), iv.hex(), str(chunk)], data)
        if got != want:
            bad.append("%d bytes, chunk %d%s" % (n, chunk, ": " + err if err else ""))
ok(not bad, "HLS AES-128 = openssl enc -aes-128-cbc for %d sizes (0..33, TS, 1 MB), "
   "in place and streamed%s" % (len(sizes), ": " + "; ".join(bad[:5]) if bad else ""))

# ---- SAMPLE-AES -------------------------------------------------------------------------
def unescape(b):
    out, zeros = bytearray(), 0
    for x in b:
        if zeros >= 2 and x == 3:
            zeros = 0
            continue
        zeros = zeros + 1 if x == 0 else 0
        out.append(x)
    return bytes(out)

def escaped_ok(b):
    for i in range(len(b) - 2):
        if b[i] == 0 and b[i + 1] == 0:
            if b[i + 2] <= 2 or (b[i + 2] == 3 and i + 3 < len(b) and b[i + 3] > 3):
                return False
    return not (len(b) >= 2 and b[-1] == 0 and b[-2] == 0)

def nal_want(key, iv, nal):
    if (nal[0] & 0x1f) not in (1, 5) or len(nal) <= 48:
        return nal, False
    offs, pos = [], 32
    while pos < len(nal):                       # Apple Listing 2-1
        if len(nal) - pos > 16:
            offs.append(pos)
            pos += 16
        pos += min(144, len(nal) - pos)
    ct = openssl("aes-128-cbc", key, iv, b"".join(nal[o:o + 16] for o in offs))
    out = bytearray(nal)
    for i, o in enumerate(offs):
        out[o:o + 16] = ct[16 * i:16 * i + 16]
    return bytes(out), True

key, iv = rnd(16), rnd(16)
bad = []
lens = [1, 32, 47, 48, 49, 64, 65, 192, 193, 208, 209, 1000, 5000]
count = 0
for hdr in (0x65, 0x41, 0x25, 0x01, 0x06, 0x67, 0x68, 0x09):
    for n in lens + [rng.randrange(2, 20000) for _ in range(3)]:
        # zero-heavy bytes, as carried (already escaped, ending in a stop bit), so the
        # clear parts and the cipher text both meet emulation prevention
        raw = bytes(0 if rng.random() < 0.3 else rng.getrandbits(8) for _ in range(n))
        nal = bytes([hdr]) + raw[1:-1] + b"\x80" if n > 1 else bytes([hdr])
        want, enc = nal_want(key, iv, nal)
        got, err = driver(["saes-nal", key.hex(), iv.hex()], nal)
        count += 1
        if got is None:
            bad.append("type %d, %d bytes: %s" % (hdr & 0x1f, n, err))
        elif not enc and got != nal:
            bad.append("type %d, %d bytes: changed" % (hdr & 0x1f, n))
        elif enc and (unescape(got) != want or not escaped_ok(got)):
            bad.append("type %d, %d bytes: differs" % (hdr & 0x1f, n))
ok(not bad, "SAMPLE-AES H.264: %d NAL units (types 1, 5 encrypted; 2, 6, 7, 8, 9 not) "
   "unescape to openssl's blocks%s" % (count, ": " + "; ".join(bad[:5]) if bad else ""))

bad = []
for n in [7, 7 + 15, 7 + 31, 7 + 32, 7 + 33, 9 + 48, 200, 1500] + \
         [rng.randrange(7, 3000) for _ in range(5)]:
    hdr = 9 if n == 9 + 48 else 7
    frame = rnd(n)
    body = n - hdr - 16
    want = bytearray(frame)
    if body >= 16:
        whole = body - body % 16
        want[hdr + 16:hdr + 16 + whole] = openssl("aes-128-cbc", key, iv,
                                                  frame[hdr + 16:hdr + 16 + whole])
    got, err = driver(["saes-audio", key.hex(), iv.hex(), str(hdr)], frame)
    if got != bytes(want):
        bad.append("%d bytes%s" % (n, ": " + err if err else ""))
ok(not bad, "SAMPLE-AES ADTS audio frames = openssl over the whole blocks after 16 clear "
   "bytes%s" % (": " + "; ".join(bad[:5]) if bad else ""))

# ---- emulation prevention ----------------------------------------------------------------
bad = []
for i in range(100):
    n = rng.randrange(0, 3000)
    data = bytes(0 if rng.random() < 0.6 else rng.randrange(5) for _ in range(n))
    got, err = driver(["escape"], data)
    if got is None or unescape(got) != data or not escaped_ok(got):
        bad.append("%d bytes%s" % (n, ": " + err if err else ""))
ok(not bad, "emulation prevention: 100 zero-heavy buffers escape validly and unescape back%s"
   % (": " + "; ".join(bad[:5]) if bad else ""))

sys.exit(1 if failed else 0)
EOF
