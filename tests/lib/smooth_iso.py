#!/usr/bin/env python3
"""An ISO file ffmpeg can read, from a Smooth Streaming client manifest alone (MS-SSTR 2.2.2).

    smooth_iso.py init MANIFEST STREAM INDEX > init.mp4
    smooth_iso.py urls MANIFEST STREAM INDEX          (one fragment URL a line, in order)
    smooth_iso.py pro MANIFEST                         (the PlayReady header, as JSON)
    smooth_iso.py senc < FRAGMENT > FRAGMENT           (PIFF sample encryption box -> senc)

Smooth has no init segment: a client builds the movie header from the manifest, as dash.js
4's MssFragmentInfo/MssParser and ExoPlayer's SsManifestParser do. This does the same, written
here from the specifications, not from ismfs: STREAM is a StreamIndex@Name, INDEX a
QualityLevel@Index; the sample entry comes from its FourCC and CodecPrivateData (H264: the
Annex B SPS/PPS become an avcC, 14496-15 5.3.3.1; AACL/AACH: the AudioSpecificConfig goes into
an esds, 14496-14 / 14496-1), the timescale from StreamIndex@TimeScale. When the manifest has a
<Protection> element, the entry is encv/enca with a sinf (23001-7 8.1: frma, schm 'cenc',
tenc with 8-byte IVs and the KID of the ProtectionHeader's WRMHEADER), as a PlayReady Smooth
client would decrypt it. The Smooth fragments themselves (moof + mdat, senc or PIFF uuid,
tfxd) follow this header unchanged: without tfdt, ffmpeg continues the decode times.

`pro` decodes the ProtectionHeader: the PlayReady Object (little-endian length, record count,
records of type 1 holding the UTF-16LE WRMHEADER) and prints {"system_id", "length_ok",
"records", "version", "kid" (the WRMHEADER KID as a UUID, converted from the little-endian GUID
byte order), "kid_le_hex", "checksum_hex", "algid", "la_url"}.

`senc` rewrites a fragment's PIFF 1.1 SampleEncryptionBox (uuid a2394f52-5a9b-4f14-a244-
6c427c648df4) as the 23001-7 senc box it became (the same fields without the usertype), the
way dash.js 4's MssFragmentMoofProcessor does: ffmpeg 5.1 skips the uuid box (`-v trace`
shows it) but reads senc. The boxes after it move 16 bytes up: the trun data_offset and saio
offsets that point past it shrink by 16. The override flag 0x1 (AlgorithmID, IV size, KID
in the box) has no senc form and is refused.
"""
import base64
import json
import struct
import sys
import xml.etree.ElementTree as ET


def box(typ, *payload):
    body = b''.join(payload)
    return struct.pack('>I4s', 8 + len(body), typ) + body


def full(typ, version, flags, *payload):
    return box(typ, struct.pack('>I', version << 24 | flags), *payload)


MATRIX = struct.pack('>9I', 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def protection(root):
    """(system id, PRO bytes) of the first ProtectionHeader, or None."""
    ph = root.find('Protection/ProtectionHeader')
    if ph is None:
        return None
    return ph.get('SystemID'), base64.b64decode(''.join((ph.text or '').split()))


def wrmheader(pro):
    """The WRMHEADER XML text of a PlayReady Object, and facts about the object."""
    length, count = struct.unpack_from('<IH', pro, 0)
    off, xml_text = 6, None
    for _ in range(count):
        typ, n = struct.unpack_from('<HH', pro, off)
        off += 4
        if typ == 1 and xml_text is None:
            xml_text = pro[off:off + n].decode('utf-16-le')
        off += n
    return xml_text, {'length_ok': length == len(pro) and off == len(pro), 'records': count}


def le_guid_to_uuid(b):
    """16 bytes in GUID little-endian order (Data1, Data2, Data3 reversed) -> UUID string."""
    u = b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]
    h = u.hex()
    return '%s-%s-%s-%s-%s' % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def pro_facts(root):
    sid, pro = protection(root)
    text, facts = wrmheader(pro)
    facts['system_id'] = sid
    w = ET.fromstring(text)
    ns = {'p': 'http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader'}
    facts['version'] = w.get('version')
    kid = w.find('p:DATA/p:KID', ns)
    if kid is None:                       # 4.1+: <PROTECTINFO><KID VALUE=...> or <KIDS>
        kid_el = w.find('.//p:KID', ns)
        kid_b64 = kid_el.get('VALUE') if kid_el is not None else None
        algid = kid_el.get('ALGID') if kid_el is not None else None
        checksum = kid_el.get('CHECKSUM') if kid_el is not None else None
    else:
        kid_b64 = kid.text
        a = w.find('p:DATA/p:PROTECTINFO/p:ALGID', ns)
        algid = a.text if a is not None else None
        c = w.find('p:DATA/p:CHECKSUM', ns)
        checksum = c.text if c is not None else None
    raw = base64.b64decode(kid_b64)
    facts['kid_le_hex'] = raw.hex()
    facts['kid'] = le_guid_to_uuid(raw)
    facts['algid'] = algid
    facts['checksum_hex'] = base64.b64decode(checksum).hex() if checksum else None
    la = w.find('p:DATA/p:LA_URL', ns)
    facts['la_url'] = la.text if la is not None else None
    return facts


def quality(root, stream, index):
    for si in root.findall('StreamIndex'):
        if si.get('Name') == stream:
            for q in si.findall('QualityLevel'):
                if q.get('Index') == str(index):
                    return si, q
    sys.exit('no StreamIndex %s with QualityLevel %s' % (stream, index))


def avcc(cpd, length_size):
    """CodecPrivateData 00000001 SPS 00000001 PPS (hex) -> avcC body."""
    nals = [bytes.fromhex(n) for n in cpd.upper().split('00000001') if n]
    sps = [n for n in nals if n[0] & 0x1f == 7]
    pps = [n for n in nals if n[0] & 0x1f == 8]
    if not sps or not pps:
        sys.exit('CodecPrivateData %s: no SPS or PPS' % cpd)
    out = bytes([1, sps[0][1], sps[0][2], sps[0][3], 0xfc | (length_size - 1), 0xe0 | len(sps)])
    for n in sps:
        out += struct.pack('>H', len(n)) + n
    out += bytes([len(pps)])
    for n in pps:
        out += struct.pack('>H', len(n)) + n
    return out


def descriptor(tag, body):
    # 14496-1 8.3.3: size in 7-bit groups (four bytes, as most muxers write it)
    n = len(body)
    size = bytes([0x80 | (n >> 21) & 0x7f, 0x80 | (n >> 14) & 0x7f, 0x80 | (n >> 7) & 0x7f,
                  n & 0x7f])
    return bytes([tag]) + size + body


def esds(asc):
    dsi = descriptor(0x05, asc)
    dcd = descriptor(0x04, bytes([0x40, 0x15]) + b'\0\0\0' + struct.pack('>II', 0, 0) + dsi)
    es = descriptor(0x03, struct.pack('>HB', 1, 0) + dcd + descriptor(0x06, b'\x02'))
    return full(b'esds', 0, 0, es)


def sinf(original, kid):
    return box(b'sinf', box(b'frma', original),
               full(b'schm', 0, 0, b'cenc', struct.pack('>I', 0x10000)),
               box(b'schi', full(b'tenc', 0, 0, bytes([0, 0, 1, 8]) + kid)))


def sample_entry(si, q, kid):
    fourcc = q.get('FourCC', '').upper()
    if si.get('Type') == 'video':
        if fourcc not in ('H264', 'AVC1'):
            sys.exit('FourCC %s: only H264 here' % fourcc)
        w, h = int(q.get('MaxWidth')), int(q.get('MaxHeight'))
        config = avcc(q.get('CodecPrivateData'), int(q.get('NALUnitLengthField', 4)))
        # 14496-12 12.1.3 VisualSampleEntry: 72 dpi, one frame per sample, depth 0x18
        body = (b'\0' * 6 + struct.pack('>H', 1) + b'\0' * 16 + struct.pack('>HH', w, h) +
                struct.pack('>II', 0x480000, 0x480000) + b'\0' * 4 + struct.pack('>H', 1) +
                b'\0' * 32 + struct.pack('>Hh', 0x18, -1) + box(b'avcC', config))
        if kid is None:
            return box(b'avc1', body), w, h
        return box(b'encv', body, sinf(b'avc1', kid)), w, h
    if fourcc not in ('AACL', 'AACH', ''):
        sys.exit('FourCC %s: only AAC here' % fourcc)
    ch, rate = int(q.get('Channels')), int(q.get('SamplingRate'))
    asc = bytes.fromhex(q.get('CodecPrivateData'))
    # 14496-12 12.2.3 AudioSampleEntry: channels, 16 bits, rate in 16.16
    body = (b'\0' * 6 + struct.pack('>H', 1) + b'\0' * 8 + struct.pack('>HH', ch, 16) +
            b'\0' * 4 + struct.pack('>I', min(rate, 65535) << 16) + esds(asc))
    if kid is None:
        return box(b'mp4a', body), 0, 0
    return box(b'enca', body, sinf(b'mp4a', kid)), 0, 0


def init(root, stream, index):
    si, q = quality(root, stream, index)
    kid = None
    if protection(root):
        kid = bytes.fromhex(pro_facts(root)['kid'].replace('-', ''))
    timescale = int(si.get('TimeScale') or root.get('TimeScale') or 10000000)
    entry, w, h = sample_entry(si, q, kid)
    video = si.get('Type') == 'video'
    mvhd = full(b'mvhd', 0, 0, struct.pack('>IIII', 0, 0, timescale, 0),
                struct.pack('>IH', 0x10000, 0x100), b'\0' * 10, MATRIX, b'\0' * 24,
                struct.pack('>I', 2))
    tkhd = full(b'tkhd', 0, 3, struct.pack('>IIIII', 0, 0, 1, 0, 0), b'\0' * 8,
                struct.pack('>HHHH', 0, 0, 0 if video else 0x100, 0), MATRIX,
                struct.pack('>II', w << 16, h << 16))
    mdhd = full(b'mdhd', 0, 0, struct.pack('>IIII', 0, 0, timescale, 0),
                struct.pack('>HH', 0x55c4, 0))                  # language 'und'
    hdlr = full(b'hdlr', 0, 0, struct.pack('>I4s', 0, b'vide' if video else b'soun'),
                b'\0' * 12, b'VideoHandler\0' if video else b'SoundHandler\0')
    mhd = full(b'vmhd', 0, 1, b'\0' * 8) if video else full(b'smhd', 0, 0, b'\0' * 4)
    dinf = box(b'dinf', full(b'dref', 0, 0, struct.pack('>I', 1), full(b'url ', 0, 1)))
    stbl = box(b'stbl', full(b'stsd', 0, 0, struct.pack('>I', 1), entry),
               full(b'stts', 0, 0, b'\0' * 4), full(b'stsc', 0, 0, b'\0' * 4),
               full(b'stsz', 0, 0, b'\0' * 8), full(b'stco', 0, 0, b'\0' * 4))
    trak = box(b'trak', tkhd, box(b'mdia', mdhd, hdlr, box(b'minf', mhd, dinf, stbl)))
    mvex = box(b'mvex', full(b'trex', 0, 0, struct.pack('>IIIII', 1, 1, 0, 0, 0)))
    ftyp = box(b'ftyp', b'iso6', struct.pack('>I', 0), b'iso6', b'piff', b'mp41')
    return ftyp + box(b'moov', mvhd, trak, mvex)


def urls(root, stream, index):
    si, q = quality(root, stream, index)
    t = 0
    out = []
    for c in si.findall('c'):
        t = int(c.get('t', t))
        d = int(c.get('d'))
        for _ in range(int(c.get('r', 1))):    # Smooth r: the total count of this duration
            out.append(si.get('Url').replace('{bitrate}', q.get('Bitrate'))
                       .replace('{Bitrate}', q.get('Bitrate')).replace('{start time}', str(t))
                       .replace('{start_time}', str(t)))
            t += d
    return out


PIFF_SENC = bytes.fromhex('a2394f525a9b4f14a2446c427c648df4')


def children(buf, off, end):
    while off + 8 <= end:
        size, typ = struct.unpack_from('>I4s', buf, off)
        if size < 8 or off + size > end:
            sys.exit('box %r at %d: size %d' % (typ, off, size))
        yield typ, off, off + size
        off += size


def piff_to_senc(buf):
    top = list(children(buf, 0, len(buf)))
    if [t for t, _, _ in top][:1] != [b'moof']:
        sys.exit('not a fragment: %s' % [t for t, _, _ in top])
    _, m0, m1 = top[0]
    moof_parts = []
    for typ, b, e in children(buf, m0 + 8, m1):
        if typ != b'traf':
            moof_parts.append(buf[b:e])
            continue
        kids = list(children(buf, b + 8, e))
        piff_at = None
        for t, cb, ce in kids:
            if t == b'uuid' and buf[cb + 8:cb + 24] == PIFF_SENC:
                piff_at = cb - m0
        parts = []
        for t, cb, ce in kids:
            body = bytearray(buf[cb:ce])
            if t == b'uuid' and buf[cb + 8:cb + 24] == PIFF_SENC:
                if struct.unpack_from('>I', body, 24)[0] & 0xffffff & 1:
                    sys.exit('PIFF sample encryption with the override flag 0x1')
                body = box(b'senc', bytes(body[24:]))
            elif piff_at is not None and t == b'trun':
                flags = struct.unpack_from('>I', body, 8)[0] & 0xffffff
                if flags & 1:
                    off = struct.unpack_from('>i', body, 16)[0]
                    struct.pack_into('>i', body, 16, off - 16)
            elif piff_at is not None and t == b'saio':
                vf = struct.unpack_from('>I', body, 8)[0]
                p = 12 + (8 if vf & 1 else 0)
                n = struct.unpack_from('>I', body, p)[0]
                fmt = '>Q' if vf >> 24 else '>I'
                w = 8 if vf >> 24 else 4
                for i in range(n):
                    o = struct.unpack_from(fmt, body, p + 4 + i * w)[0]
                    if o > piff_at:
                        struct.pack_into(fmt, body, p + 4 + i * w, o - 16)
            parts.append(bytes(body))
        moof_parts.append(box(b'traf', *parts))
    return box(b'moof', *moof_parts) + buf[m1:]


def main():
    cmd = sys.argv[1]
    if cmd == 'senc':
        sys.stdout.buffer.write(piff_to_senc(sys.stdin.buffer.read()))
        return
    root = ET.parse(sys.argv[2]).getroot()
    if cmd == 'init':
        sys.stdout.buffer.write(init(root, sys.argv[3], int(sys.argv[4])))
    elif cmd == 'urls':
        print('\n'.join(urls(root, sys.argv[3], int(sys.argv[4]))))
    elif cmd == 'pro':
        print(json.dumps(pro_facts(root)))
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
