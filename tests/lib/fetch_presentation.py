#!/usr/bin/env python3
"""Writes a whole presentation out of ismfs into a folder, following the manifest the way a
player does: the manifest first, then every file it references, at the same relative paths.

    fetch_presentation.py ISMFS CACHE SRC ASSET MANIFEST OUTDIR

ISMFS is run as `ISMFS --cache=CACHE cat SRC ASSET/PATH` for each file; MANIFEST is the name
inside the asset directory, e.g. 'manifest(format=mpd-time-csf)'. The manifest is written to
OUTDIR/MANIFEST and every file it leads to to OUTDIR/<its path relative to the asset>.

  MPD (ISO/IEC 23009-1): each Representation's SegmentTemplate (its own, else its
    AdaptationSet's, else the Period's) with its SegmentTimeline expanded (S@t, @d, @r with
    r = additional repeats, 5.3.9.6); $RepresentationID$, $Bandwidth$, $Time$ and $Number$
    (with %0Nd widths) substituted in @initialization and @media (5.3.9.4.4); BaseURL is not
    used by ismfs and is refused.
  HLS (RFC 8216): the master's variant URIs and URI="..." attributes (EXT-X-MEDIA,
    EXT-X-I-FRAME-STREAM-INF), then each media playlist's segment URIs and EXT-X-MAP URIs;
    URIs are relative to the playlist that names them (RFC 3986 5.2) and percent-decoded.

Prints one line per file written: its path relative to OUTDIR. Exit 1 with a reason on
stderr when a cat fails, a URI leaves the asset, or the manifest is not understood.
"""
import concurrent.futures
import os
import posixpath
import re
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET

MPD_NS = '{urn:mpeg:dash:schema:mpd:2011}'


class Fetcher:
    def __init__(self, ismfs, cache, src, asset, outdir):
        self.ismfs, self.cache, self.src, self.asset, self.outdir = \
            ismfs, cache, src, asset, outdir
        self.done = {}

    def path_of(self, rel):
        return os.path.join(self.outdir, rel)

    def fetch(self, rel):
        """Writes ASSET/rel to OUTDIR/rel (once); returns its local path."""
        if rel in self.done:
            return self.done[rel]
        norm = posixpath.normpath(rel)
        if norm.startswith('../') or norm == '..' or norm.startswith('/'):
            raise SystemExit('fetch_presentation: %r leaves the asset directory' % rel)
        out = self.path_of(norm)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, 'wb') as f:
            r = subprocess.run([self.ismfs, '--cache=' + self.cache, 'cat', self.src,
                                self.asset + '/' + norm], stdout=f, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise SystemExit('fetch_presentation: ismfs cat %s/%s: exit %d: %s' % (
                self.asset, norm, r.returncode, r.stderr.decode(errors='replace').strip()))
        self.done[rel] = out
        print(norm)
        return out

    def fetch_all(self, rels):
        """Fetches many files, two at a time (each is a process)."""
        todo = [r for r in dict.fromkeys(rels) if r not in self.done]
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            for _ in ex.map(self.fetch, todo):
                pass


# ---- DASH ---------------------------------------------------------------------------------

def substitute(template, rep_id, bandwidth, time=None, number=None):
    """$Identifier$ substitution of 23009-1 5.3.9.4.4 (Table 16), with %0Nd formats."""
    def one(m):
        name, fmt = m.group(1), m.group(2) or '%01d'
        if name == '':
            return '$'
        if name == 'RepresentationID':
            return rep_id
        values = {'Bandwidth': bandwidth, 'Time': time, 'Number': number}
        if values.get(name) is None:
            raise SystemExit('fetch_presentation: $%s$ in %r has no value' % (name, template))
        return (fmt[:-1] + 'd') % int(values[name]) if fmt.endswith('d') else str(values[name])
    return re.sub(r'\$(RepresentationID|Bandwidth|Time|Number|)(%0\d+d)?\$', one, template)


def timeline(st):
    """Segment start times from a SegmentTimeline (5.3.9.6; r=-1 is not used by a static MPD)."""
    times, t = [], 0
    for s in st.findall(MPD_NS + 'S'):
        if s.get('t') is not None:
            t = int(s.get('t'))
        d, r = int(s.get('d')), int(s.get('r', '0'))
        if r < 0:
            raise SystemExit('fetch_presentation: S@r=%d in a static MPD' % r)
        for _ in range(r + 1):
            times.append(t)
            t += d
    return times


def mpd_files(mpd_path):
    root = ET.parse(mpd_path).getroot()
    if root.find('.//' + MPD_NS + 'BaseURL') is not None:
        raise SystemExit('fetch_presentation: BaseURL is not expected in an ismfs MPD')
    files = []
    for period in root.findall(MPD_NS + 'Period'):
        for aset in period.findall(MPD_NS + 'AdaptationSet'):
            for rep in aset.findall(MPD_NS + 'Representation'):
                tpl = None
                for node in (rep, aset, period):
                    tpl = node.find(MPD_NS + 'SegmentTemplate')
                    if tpl is not None:
                        break
                if tpl is None:
                    raise SystemExit('fetch_presentation: Representation %s has no '
                                     'SegmentTemplate' % rep.get('id'))
                rid, bw = rep.get('id'), rep.get('bandwidth')
                if tpl.get('initialization'):
                    files.append(substitute(tpl.get('initialization'), rid, bw))
                st = tpl.find(MPD_NS + 'SegmentTimeline')
                if st is None:
                    raise SystemExit('fetch_presentation: no SegmentTimeline')
                start = int(tpl.get('startNumber', '1'))
                for n, t in enumerate(timeline(st)):
                    files.append(substitute(tpl.get('media'), rid, bw, t, start + n))
    return [urllib.parse.unquote(f) for f in files]


# ---- HLS ----------------------------------------------------------------------------------

def hls_uris(path):
    """The URIs a playlist names, as written: URI lines and URI="..." attributes."""
    out = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith('#'):
                out += re.findall(r'URI="([^"]*)"', line)
            else:
                out.append(line)
    return out


def resolve(playlist_rel, uri):
    if re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:', uri) or uri.startswith('/'):
        raise SystemExit('fetch_presentation: %r in %s is not a relative URI' % (uri, playlist_rel))
    base = posixpath.dirname(playlist_rel)
    return posixpath.normpath(posixpath.join(base, urllib.parse.unquote(uri)))


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    ismfs, cache, src, asset, manifest, outdir = sys.argv[1:]
    f = Fetcher(ismfs, cache, src, asset, outdir)
    top = f.fetch(manifest)
    with open(top, 'rb') as fh:
        head = fh.read(512)
    if head.lstrip().startswith(b'<?xml') or b'<MPD' in head:
        f.fetch_all(mpd_files(top))
    elif head.startswith(b'#EXTM3U'):
        playlists = [resolve(manifest, u) for u in hls_uris(top)]
        f.fetch_all(playlists)
        segs = []
        for p in playlists:
            segs += [resolve(p, u) for u in hls_uris(f.path_of(p))]
        f.fetch_all(segs)
    else:
        sys.exit('fetch_presentation: %s is neither an MPD nor an M3U8' % manifest)


if __name__ == '__main__':
    main()
