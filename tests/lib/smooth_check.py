#!/usr/bin/env python3
"""Structural check of a Smooth Streaming client manifest (MS-SSTR 2.2.2) and its fragments.

    smooth_check.py ISMFS CACHE SRC ASSET LABEL

Reads ASSET/manifest through `ISMFS --cache=CACHE cat SRC ...`, expands each StreamIndex's
chunk list (c@t, c@d, c@r; in Smooth r counts all consecutive chunks of that duration,
notes/ams-facts.md §2, unlike DASH's additional repeats), then for every QualityLevel fetches
every fragment its Url template names ({bitrate}, {start time}) and checks (MS-SSTR 2.2.4):
the fragment is moof + mdat, its traf has a tfxd box (uuid 6D1D9B05-42D5-44E6-80E2-141DAFF757B2)
whose absolute time is the chunk's t and whose duration is the chunk's d, and the trun's
sample durations add up to d. Also: StreamIndex@Chunks equals the number of chunks, and the
times continue (t[k+1] == t[k] + d[k]).
Prints TAP lines, one per StreamIndex and QualityLevel; exit 1 when one is "not ok".
"""
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

TFXD = bytes.fromhex('6d1d9b0542d544e680e2141daff757b2')


def boxes(buf, off, end):
    while off + 8 <= end:
        size, typ = struct.unpack_from('>I4s', buf, off)
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack_from('>Q', buf, off + 8)[0], 16
        elif size == 0:
            size = end - off
        if size < hdr or off + size > end:
            raise ValueError('box %r at %d: size %d past the end' % (typ, off, size))
        yield typ, off + hdr, off + size
        off += size


def child(buf, off, end, typ):
    for t, b, e in boxes(buf, off, end):
        if t == typ:
            return b, e
    return None


def fragment_facts(buf):
    """(tfxd time, tfxd duration, trun duration sum) of a Smooth fragment; raises on layout."""
    top = [t for t, _, _ in boxes(buf, 0, len(buf))]
    if top != [b'moof', b'mdat']:
        raise ValueError('top-level boxes %s, want moof mdat' % [t.decode() for t in top])
    moof = child(buf, 0, len(buf), b'moof')
    traf = child(buf, *moof, b'traf')
    if not traf:
        raise ValueError('no traf')
    tfhd = child(buf, *traf, b'tfhd')
    flags = struct.unpack_from('>I', buf, tfhd[0])[0] & 0xffffff
    p = tfhd[0] + 8
    p += 8 if flags & 1 else 0
    p += 4 if flags & 2 else 0
    default_dur = struct.unpack_from('>I', buf, p)[0] if flags & 8 else None
    tfxd = None
    dur = 0
    for t, b, e in boxes(buf, *traf):
        if t == b'uuid' and buf[b:b + 16] == TFXD:
            v = buf[b + 16]
            tfxd = struct.unpack_from('>QQ' if v == 1 else '>II', buf, b + 20)
        elif t == b'trun':
            vf = struct.unpack_from('>I', buf, b)[0]
            fl = vf & 0xffffff
            n = struct.unpack_from('>I', buf, b + 4)[0]
            q = b + 8 + (4 if fl & 1 else 0) + (4 if fl & 4 else 0)
            per = 4 * bin(fl & 0xf00).count('1')
            for i in range(n):
                if fl & 0x100:
                    dur += struct.unpack_from('>I', buf, q + i * per)[0]
                elif default_dur is not None:
                    dur += default_dur
                else:
                    raise ValueError('sample duration neither in trun nor in tfhd')
    if tfxd is None:
        raise ValueError('no tfxd box in the traf')
    return tfxd[0], tfxd[1], dur


def chunks(si):
    """(t, d) of every chunk of a StreamIndex."""
    out, t = [], 0
    for c in si.findall('c'):
        if c.get('t') is not None:
            t = int(c.get('t'))
        d, r = int(c.get('d')), int(c.get('r', '1'))
        for _ in range(r):
            out.append((t, d))
            t += d
    return out


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    ismfs, cache, src, asset, label = sys.argv[1:]
    failed = False

    def cat(rel):
        r = subprocess.run([ismfs, '--cache=' + cache, 'cat', src, asset + '/' + rel],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise ValueError('ismfs cat %s: %s' % (rel, r.stderr.decode(errors='replace').strip()))
        return r.stdout

    def report(good, msg):
        nonlocal failed
        print('%s - %s: %s' % ('ok' if good else 'not ok', label, msg))
        failed |= not good

    root = ET.fromstring(cat('manifest'))
    for si in root.findall('StreamIndex'):
        name = si.get('Name') or si.get('Type')
        ch = chunks(si)
        gaps = [k for k in range(1, len(ch)) if ch[k][0] != ch[k - 1][0] + ch[k - 1][1]]
        report(ch and str(len(ch)) == si.get('Chunks') and not gaps,
               'StreamIndex %s: %d chunks (Chunks="%s"), times continuous%s'
               % (name, len(ch), si.get('Chunks'), ' except at %s' % gaps[:3] if gaps else ''))
        url = si.get('Url', '')
        for ql in si.findall('QualityLevel'):
            bad = []
            for t, d in ch:
                rel = url.replace('{bitrate}', ql.get('Bitrate')).replace('{start time}', str(t))
                try:
                    xt, xd, td = fragment_facts(cat(rel))
                except ValueError as e:
                    bad.append('%s: %s' % (rel, e))
                    continue
                if (xt, xd, td) != (t, d, d):
                    bad.append('%s: tfxd time %d duration %d, trun durations %d; the manifest '
                               'says t=%d d=%d' % (rel, xt, xd, td, t, d))
            report(not bad and ch,
                   'StreamIndex %s QualityLevel %s: %d fragments exist, tfxd time == c@t, '
                   'tfxd duration == trun durations == c@d%s'
                   % (name, ql.get('Bitrate'), len(ch), ': ' + '; '.join(bad[:3]) if bad else ''))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
