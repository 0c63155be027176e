#!/usr/bin/env python3
"""Minimal ISO-BMFF reader for tests: a box dump and per-track sample tables.

Independent of ismfs (written from ISO/IEC 14496-12 and 14496-15, not from pack/).
Used by tests/make-fixtures.sh (sanity checks of what ffmpeg wrote), by
tests/lib/compare_inspect.py (HEVC codec strings, which ffmpeg 5.1's DASH
muxer does not spell out) and by tests/lib/mock_ismfs.py.

    tests/lib/mp4box.py dump FILE          box tree with a few decoded fields
    tests/lib/mp4box.py has FILE PATH      exit 0 when a box path (moov/trak/edts/elst) exists
"""
import struct
import sys

CONTAINERS = {b'moov', b'trak', b'mdia', b'minf', b'stbl', b'edts', b'dinf', b'mvex',
              b'moof', b'traf', b'mfra', b'udta'}


def boxes(buf, off=0, end=None):
    """Yields (type, body_offset, box_end) for the boxes of buf[off:end]."""
    end = len(buf) if end is None else end
    while off + 8 <= end:
        size, typ = struct.unpack_from('>I4s', buf, off)
        hdr = 8
        if size == 1:
            size = struct.unpack_from('>Q', buf, off + 8)[0]
            hdr = 16
        elif size == 0:
            size = end - off
        if size < hdr or off + size > end:
            raise ValueError('box %r at %d: bad size %d' % (typ, off, size))
        yield typ, off + hdr, off + size
        off += size


def top_level(path):
    """Yields (type, offset, size, body_bytes or None) of a file's top-level boxes;
    the body is read only for moov and moof (mdat can be gigabytes)."""
    with open(path, 'rb') as f:
        f.seek(0, 2)
        fsize = f.tell()
        off = 0
        while off + 8 <= fsize:
            f.seek(off)
            size, typ = struct.unpack('>I4s', f.read(8))
            hdr = 8
            if size == 1:
                size = struct.unpack('>Q', f.read(8))[0]
                hdr = 16
            elif size == 0:
                size = fsize - off
            if size < hdr or off + size > fsize:
                raise ValueError('%s: top-level box %r at %d: bad size %d' % (path, typ, off, size))
            body = None
            if typ in (b'moov', b'moof'):
                f.seek(off + hdr)
                body = f.read(size - hdr)
            yield typ, off, size, body
            off += size


def child(buf, off, end, typ):
    for t, b, e in boxes(buf, off, end):
        if t == typ:
            return b, e
    return None


def children(buf, off, end, typ):
    return [(b, e) for t, b, e in boxes(buf, off, end) if t == typ]


def full(buf, off):
    v = buf[off]
    flags = int.from_bytes(buf[off + 1:off + 4], 'big')
    return v, flags, off + 4


# ---- codec strings (RFC 6381; 14496-15 Annex E for HEVC) -------------------

def _reverse32(x):
    r = 0
    for _ in range(32):
        r = (r << 1) | (x & 1)
        x >>= 1
    return r


def hevc_codec(fourcc, hvcc):
    b = hvcc
    space = b[1] >> 6
    tier = (b[1] >> 5) & 1
    profile = b[1] & 0x1f
    compat = struct.unpack_from('>I', b, 2)[0]
    constraints = list(b[6:12])
    level = b[12]
    while constraints and constraints[-1] == 0:
        constraints.pop()
    s = '%s.%s%d.%X.%s%d' % (fourcc, ['', 'A', 'B', 'C'][space], profile, _reverse32(compat),
                             'H' if tier else 'L', level)
    return s + ''.join('.%X' % c for c in constraints)


def _descriptor(buf, off):
    tag = buf[off]
    off += 1
    n = 0
    for _ in range(4):
        c = buf[off]
        off += 1
        n = (n << 7) | (c & 0x7f)
        if not c & 0x80:
            break
    return tag, off, off + n


def mp4a_codec(esds_body):
    """esds body (after version/flags) -> 'mp4a.40.2' style string."""
    tag, off, end = _descriptor(esds_body, 0)            # ES_Descriptor
    if tag != 3:
        return 'mp4a'
    fl = esds_body[off + 2]
    off += 3
    if fl & 0x80:
        off += 2
    if fl & 0x40:
        off += 1 + esds_body[off]
    if fl & 0x20:
        off += 2
    tag, off, end = _descriptor(esds_body, off)          # DecoderConfigDescriptor
    if tag != 4:
        return 'mp4a'
    oti = esds_body[off]
    if oti != 0x40:
        return 'mp4a.%02x' % oti
    tag, doff, dend = _descriptor(esds_body, off + 13)    # DecoderSpecificInfo
    if tag != 5 or dend <= doff:
        return 'mp4a.40'
    aot = esds_body[doff] >> 3
    if aot == 31:
        aot = 32 + (((esds_body[doff] & 7) << 3) | (esds_body[doff + 1] >> 5))
    return 'mp4a.40.%d' % aot


ACMOD_CHANNELS = [2, 1, 2, 3, 3, 4, 4, 5]              # ETSI TS 102 366 table 4.3


def aac_channels(esds_body):
    """channelConfiguration of the AudioSpecificConfig (14496-3 1.6.2.1), 0 when unknown."""
    tag, off, end = _descriptor(esds_body, 0)
    fl = esds_body[off + 2]
    off += 3 + (2 if fl & 0x80 else 0)
    if fl & 0x40:
        off += 1 + esds_body[off]
    off += 2 if fl & 0x20 else 0
    tag, off, end = _descriptor(esds_body, off)
    if tag != 4 or esds_body[off] != 0x40:
        return 0
    tag, doff, dend = _descriptor(esds_body, off + 13)
    v = int.from_bytes(esds_body[doff:dend][:8].ljust(8, b'\0'), 'big')
    pos = 64

    def take(n):
        nonlocal pos
        pos -= n
        return (v >> pos) & ((1 << n) - 1)
    if take(5) == 31:
        take(6)
    if take(4) == 15:
        take(24)
    cfg = take(4)
    return {7: 8}.get(cfg, cfg)


# ---- tracks --------------------------------------------------------------

def _lang(code):
    if code == 0 or code == 0x7fff:
        return 'und'
    return ''.join(chr(((code >> s) & 0x1f) + 0x60) for s in (10, 5, 0))


def _parse_entry(buf, off, end, tr):
    typ = buf[off - 4:off].decode('latin-1')
    tr['fourcc'] = typ
    tr['codec'] = typ
    if tr['type'] == 'video':
        tr['width'], tr['height'] = struct.unpack_from('>HH', buf, off + 24)
        inner = off + 78
        for t, b, e in boxes(buf, inner, end):
            if t == b'avcC':
                tr['codec'] = '%s.%02x%02x%02x' % (typ, buf[b + 1], buf[b + 2], buf[b + 3])
            elif t == b'hvcC':
                tr['codec'] = hevc_codec(typ, buf[b:e])
    elif tr['type'] == 'audio':
        ver = struct.unpack_from('>H', buf, off + 8)[0]
        tr['channels'] = struct.unpack_from('>H', buf, off + 16)[0]
        tr['sample_rate'] = struct.unpack_from('>I', buf, off + 24)[0] >> 16
        inner = off + 28 + {0: 0, 1: 16, 2: 36}.get(ver, 0)
        # channels as the decoder sees them: the sample entry's channelcount is 2 in every
        # MP4 ffmpeg writes (14496-12 template value), mono and 5.1 alike.
        tr['entry_channels'] = tr['channels']
        for t, b, e in boxes(buf, inner, end):
            if t == b'esds':
                tr['codec'] = mp4a_codec(buf[b + 4:e])
                ch = aac_channels(buf[b + 4:e])
            elif t == b'dac3':
                bits = int.from_bytes(buf[b:b + 3], 'big')
                ch = ACMOD_CHANNELS[(bits >> 11) & 7] + ((bits >> 10) & 1)
            elif t == b'dec3':
                bits = int.from_bytes(buf[b + 2:b + 5], 'big')      # first independent substream
                ch = ACMOD_CHANNELS[(bits >> 9) & 7] + ((bits >> 8) & 1)
            else:
                continue
            if ch:
                tr['channels'] = ch


def _parse_trak(buf, off, end, movie_ts):
    tr = {'type': 'text', 'width': 0, 'height': 0, 'channels': 0, 'sample_rate': 0,
          'media_time': 0, 'empty_edit': 0, 'elst': []}
    tkhd = child(buf, off, end, b'tkhd')
    v, _, p = full(buf, tkhd[0])
    tr['id'] = struct.unpack_from('>I', buf, p + (16 if v == 1 else 8))[0]
    mdia = child(buf, off, end, b'mdia')
    mdhd = child(buf, *mdia, b'mdhd')
    v, _, p = full(buf, mdhd[0])
    if v == 1:
        ts, _dur, lang = struct.unpack_from('>IQH', buf, p + 16)
    else:
        ts, _dur, lang = struct.unpack_from('>IIH', buf, p + 8)
    tr['timescale'] = ts
    tr['language'] = _lang(lang)
    hdlr = child(buf, *mdia, b'hdlr')
    h = buf[hdlr[0] + 8:hdlr[0] + 12]
    tr['type'] = {b'vide': 'video', b'soun': 'audio'}.get(h, 'text')
    edts = child(buf, off, end, b'edts')
    if edts:
        elst = child(buf, *edts, b'elst')
        v, _, p = full(buf, elst[0])
        n = struct.unpack_from('>I', buf, p)[0]
        p += 4
        for _ in range(n):
            if v == 1:
                dur, mt = struct.unpack_from('>Qq', buf, p)
                p += 16
            else:
                dur, mt = struct.unpack_from('>Ii', buf, p)
                p += 8
            p += 4                                       # media_rate
            tr['elst'].append((dur, mt))
        for dur, mt in tr['elst']:
            if mt == -1:
                tr['empty_edit'] += dur * ts // movie_ts if movie_ts else 0
            else:
                tr['media_time'] = mt
                break
    stbl = child(buf, *child(buf, *mdia, b'minf'), b'stbl')
    stsd = child(buf, *stbl, b'stsd')
    first = next(boxes(buf, stsd[0] + 8, stsd[1]))
    _parse_entry(buf, first[1], first[2], tr)
    deltas = []
    stts = child(buf, *stbl, b'stts')
    n = struct.unpack_from('>I', buf, stts[0] + 4)[0]
    for i in range(n):
        c, d = struct.unpack_from('>II', buf, stts[0] + 8 + 8 * i)
        deltas.extend([d] * c)
    ctos = [0] * len(deltas)
    ctts = child(buf, *stbl, b'ctts')
    if ctts:
        v, _, p = full(buf, ctts[0])
        n = struct.unpack_from('>I', buf, p)[0]
        k = 0
        for i in range(n):
            c, o = struct.unpack_from('>Ii' if v == 1 else '>II', buf, p + 4 + 8 * i)
            for _ in range(c):
                if k < len(ctos):
                    ctos[k] = o
                k += 1
    stsz = child(buf, *stbl, b'stsz')
    usize, n = struct.unpack_from('>II', buf, stsz[0] + 4)
    sizes = [usize] * n if usize else list(struct.unpack_from('>%dI' % n, buf, stsz[0] + 12))
    stss = child(buf, *stbl, b'stss')
    if stss:
        n = struct.unpack_from('>I', buf, stss[0] + 4)[0]
        sync = {x - 1 for x in struct.unpack_from('>%dI' % n, buf, stss[0] + 8)}
    else:
        sync = None
    tr['samples'] = []                                   # [dts, duration, size, cto, sync]
    dts = 0
    for i, d in enumerate(deltas):
        tr['samples'].append([dts, d, sizes[i], ctos[i], sync is None or i in sync])
        dts += d
    return tr


def _parse_traf(buf, off, end, tracks, trex, moof_start):
    tfhd = child(buf, off, end, b'tfhd')
    _, fl, p = full(buf, tfhd[0])
    tid = struct.unpack_from('>I', buf, p)[0]
    p += 4
    tr = tracks[tid]
    dflt = dict(trex.get(tid, {'dur': 0, 'size': 0, 'flags': 0}))
    if fl & 0x1:
        p += 8
    if fl & 0x2:
        p += 4
    if fl & 0x8:
        dflt['dur'] = struct.unpack_from('>I', buf, p)[0]
        p += 4
    if fl & 0x10:
        dflt['size'] = struct.unpack_from('>I', buf, p)[0]
        p += 4
    if fl & 0x20:
        dflt['flags'] = struct.unpack_from('>I', buf, p)[0]
    s = tr['samples']
    dts = s[-1][0] + s[-1][1] if s else 0
    tfdt = child(buf, off, end, b'tfdt')
    if tfdt:
        v, _, p = full(buf, tfdt[0])
        dts = struct.unpack_from('>Q' if v == 1 else '>I', buf, p)[0]
    for b, e in children(buf, off, end, b'trun'):
        v, fl, p = full(buf, b)
        n = struct.unpack_from('>I', buf, p)[0]
        p += 4
        if fl & 0x1:
            p += 4
        first_flags = None
        if fl & 0x4:
            first_flags = struct.unpack_from('>I', buf, p)[0]
            p += 4
        for i in range(n):
            d, sz, sf, cto = dflt['dur'], dflt['size'], dflt['flags'], 0
            if fl & 0x100:
                d = struct.unpack_from('>I', buf, p)[0]
                p += 4
            if fl & 0x200:
                sz = struct.unpack_from('>I', buf, p)[0]
                p += 4
            if fl & 0x400:
                sf = struct.unpack_from('>I', buf, p)[0]
                p += 4
            elif i == 0 and first_flags is not None:
                sf = first_flags
            if fl & 0x800:
                cto = struct.unpack_from('>i' if v == 1 else '>I', buf, p)[0]
                p += 4
            s.append([dts, d, sz, cto, not sf & 0x10000])
            dts += d


def read_tracks(path):
    """Tracks of an MP4 (progressive or fragmented) as dicts, in file order."""
    tracks, order, trex = {}, [], {}
    fragmented = False
    for typ, off, size, body in top_level(path):
        if typ == b'moov':
            mvhd = child(body, 0, len(body), b'mvhd')
            v, _, p = full(body, mvhd[0])
            movie_ts = struct.unpack_from('>I', body, p + (16 if v == 1 else 8))[0]
            for b, e in children(body, 0, len(body), b'trak'):
                tr = _parse_trak(body, b, e, movie_ts)
                tracks[tr['id']] = tr
                order.append(tr['id'])
            mvex = child(body, 0, len(body), b'mvex')
            if mvex:
                for b, e in children(body, *mvex, b'trex'):
                    tid, _sdi, dur, sz, fl = struct.unpack_from('>5I', body, b + 4)
                    trex[tid] = {'dur': dur, 'size': sz, 'flags': fl}
        elif typ == b'moof':
            fragmented = True
            for b, e in children(body, 0, len(body), b'traf'):
                _parse_traf(body, b, e, tracks, trex, off)
    return [tracks[i] for i in order], fragmented


def dump(path, out=sys.stdout):
    def walk(buf, off, end, depth, base):
        for t, b, e in boxes(buf, off, end):
            name = t.decode('latin-1')
            extra = ''
            if t == b'elst':
                v, _, p = full(buf, b)
                n = struct.unpack_from('>I', buf, p)[0]
                ent = []
                for i in range(n):
                    if v == 1:
                        ent.append(struct.unpack_from('>Qq', buf, p + 4 + 20 * i))
                    else:
                        ent.append(struct.unpack_from('>Ii', buf, p + 4 + 12 * i))
                extra = ' entries=%s' % ent
            elif t == b'mdhd':
                v, _, p = full(buf, b)
                extra = ' timescale=%d' % struct.unpack_from('>I', buf, p + (16 if v else 8))
            out.write('%s%s size=%d offset=%d%s\n' % ('  ' * depth, name, e - b + 8, base + b - 8,
                                                      extra))
            if t in CONTAINERS:
                walk(buf, b, e, depth + 1, base)
    for typ, off, size, body in top_level(path):
        out.write('%s size=%d offset=%d\n' % (typ.decode('latin-1'), size, off))
        if body is not None:
            walk(body, 0, len(body), 1, off + (size - len(body)))


def has(path, boxpath):
    parts = [p.encode() for p in boxpath.split('/')]
    for typ, off, size, body in top_level(path):
        if typ != parts[0] or body is None:
            continue
        found = [(0, len(body))]
        for p in parts[1:]:
            found = [(b, e) for o, n in found for b, e in children(body, o, n, p)]
        if found:
            return True
    return False


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == 'dump':
        dump(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == 'has':
        sys.exit(0 if has(sys.argv[2], sys.argv[3]) else 1)
    else:
        sys.exit(__doc__)
