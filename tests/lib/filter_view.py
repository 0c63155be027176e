#!/usr/bin/env python3
"""What a player sees in a manifest, as one JSON-able summary: the tracks (type, name,
bitrate, language), each track's fragment start times and end in seconds, the duration,
and for HLS masters the variants in their order. Used by tests/integration/filters_*.sh to
judge filtered manifests by parsing them, never by grepping.

    filter_view.py [--timescale NAME=TS]... MANIFEST [EXPR]

MANIFEST is a file (in a mount, or written out): an MPD (ISO/IEC 23009-1), a Smooth client
manifest (MS-SSTR) or an HLS playlist (RFC 8216). An HLS master's media playlists are read
too, relative to the master (the mount's directory tree). Without EXPR the summary is
printed as JSON; with EXPR, json.dumps(eval(EXPR)) with `m` bound to the summary and the
helpers below (video, audio, ...), e.g. 'video(m)' -> [852353, 423612].

Summary:
  kind      "mpd" | "smooth" | "hls-master" | "hls-media"
  duration  seconds (MPD@mediaPresentationDuration, Smooth@Duration/TimeScale, the sum of a
            media playlist's EXTINF; a master: its first variant's)
  tracks    [{type, name, bitrate, lang, times: [s...], end: s, uris: [...]}]; HLS tracks
            come from EXT-X-STREAM-INF (video, or audio-only) and EXT-X-MEDIA TYPE=AUDIO,
            their bitrate from QualityLevels(N) of the URI, their times from the segment
            URIs' Fragments(NAME=TIME) over --timescale NAME=TS (HLS does not carry media
            timescales)
  variants  HLS master: [{bandwidth, bitrate, uri, audio_only, audio_group}] in order
  iframes   HLS master: [uri...]
"""
import json
import os
import re
import sys
import urllib.parse
import xml.etree.ElementTree as ET

MPD_NS = '{urn:mpeg:dash:schema:mpd:2011}'
VIDEO_CODECS = ('avc1', 'avc3', 'hvc1', 'hev1', 'dvh1', 'dvhe', 'av01', 'vp09')


def iso_duration(s):
    """xs:duration as MPDs write it (PnDTnHnMnS)."""
    m = re.fullmatch(r'P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?', s or '')
    if not m:
        raise SystemExit('filter_view: bad duration %r' % s)
    d, h, mi, sec = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(sec or 0)


# ---- DASH ---------------------------------------------------------------------------------

def mpd(root):
    tracks = []
    for period in root.findall(MPD_NS + 'Period'):
        for aset in period.findall(MPD_NS + 'AdaptationSet'):
            kind = aset.get('contentType') or (aset.get('mimeType') or '').split('/')[0]
            label = aset.find(MPD_NS + 'Label')
            for rep in aset.findall(MPD_NS + 'Representation'):
                st = rep.find(MPD_NS + 'SegmentTemplate')
                if st is None:
                    st = aset.find(MPD_NS + 'SegmentTemplate')
                ts = int(st.get('timescale', '1'))
                times, end = [], None
                for s in st.find(MPD_NS + 'SegmentTimeline').findall(MPD_NS + 'S'):
                    t = int(s.get('t')) if s.get('t') is not None else end
                    d, r = int(s.get('d')), int(s.get('r', '0'))
                    for _ in range(r + 1):
                        times.append(t)
                        t += d
                    end = t
                name = label.text if label is not None else None
                m = re.search(r'Fragments\(([^=]+)=\$Time\$', st.get('media', ''))
                if m:
                    name = m.group(1)
                tracks.append({'type': kind, 'name': name, 'bitrate': int(rep.get('bandwidth')),
                               'lang': aset.get('lang'), 'times': [t / ts for t in times],
                               'end': end / ts if end is not None else None, 'uris': []})
    return {'kind': 'mpd', 'duration': iso_duration(root.get('mediaPresentationDuration')),
            'tracks': tracks}


# ---- Smooth -------------------------------------------------------------------------------

def smooth(root):
    mts = int(root.get('TimeScale', '10000000'))
    tracks = []
    for si in root.findall('StreamIndex'):
        ts = int(si.get('TimeScale', mts))
        times, t = [], 0
        for c in si.findall('c'):
            if c.get('t') is not None:
                t = int(c.get('t'))
            d, r = int(c.get('d')), int(c.get('r', '1'))     # MS-SSTR: r counts the chunks
            for _ in range(r):
                times.append(t)
                t += d
        if str(len(times)) != si.get('Chunks'):
            raise SystemExit('filter_view: StreamIndex %s: %d chunks, Chunks="%s"'
                             % (si.get('Name'), len(times), si.get('Chunks')))
        for ql in si.findall('QualityLevel'):
            tracks.append({'type': si.get('Type'), 'name': si.get('Name'),
                           'bitrate': int(ql.get('Bitrate')), 'lang': si.get('Language'),
                           'times': [x / ts for x in times], 'end': t / ts, 'uris': []})
    return {'kind': 'smooth', 'duration': int(root.get('Duration')) / mts, 'tracks': tracks}


# ---- HLS ----------------------------------------------------------------------------------

def attrs(s):
    """An attribute list (RFC 8216 4.2)."""
    out = {}
    for m in re.finditer(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', s):
        v = m.group(2)
        out[m.group(1)] = v[1:-1] if v.startswith('"') else v
    return out


def quality(uri):
    m = re.match(r'QualityLevels\((\d+)\)/', uri)
    return int(m.group(1)) if m else None


def media_playlist(path, timescales):
    lines = [l.strip() for l in open(path, encoding='utf-8')]
    if not lines or lines[0] != '#EXTM3U':
        raise SystemExit('filter_view: %s: not a playlist' % path)
    uris, durs, times, maps, end = [], [], [], [], None
    dur = None
    for l in lines[1:]:
        if l.startswith('#EXTINF:'):
            dur = float(l[8:].split(',')[0])
        elif l.startswith('#EXT-X-MAP:'):
            maps.append(attrs(l[11:])['URI'])
        elif l.startswith('#EXT-X-BYTERANGE') or not l or l.startswith('#'):
            continue
        else:
            if dur is None:
                raise SystemExit('filter_view: %s: URI %s without EXTINF' % (path, l))
            uris.append(l)
            durs.append(dur)
            m = re.match(r'Fragments\(([^=]+)=(\d+)', urllib.parse.unquote(l))
            if m and m.group(1) in timescales:
                times.append(int(m.group(2)) / timescales[m.group(1)])
            dur = None
    if times:
        end = times[-1] + durs[-1]
    return {'uris': uris, 'maps': maps, 'extinf': durs, 'times': times, 'end': end,
            'duration': round(sum(durs), 6), 'endlist': '#EXT-X-ENDLIST' in lines}


def hls(path, timescales):
    lines = [l.strip() for l in open(path, encoding='utf-8')]
    if not lines or lines[0] != '#EXTM3U':
        raise SystemExit('filter_view: %s: not a playlist' % path)
    if not any(l.startswith('#EXT-X-STREAM-INF') for l in lines):
        p = media_playlist(path, timescales)
        return dict(p, kind='hls-media', tracks=[])
    base = os.path.dirname(path)

    def child(uri):
        return media_playlist(os.path.join(base, urllib.parse.unquote(uri)), timescales)

    tracks, variants, iframes, seen = [], [], [], set()

    def track(kind, name, uri, lang):
        if uri in seen:
            return
        seen.add(uri)
        p = child(uri)
        tracks.append({'type': kind, 'name': name, 'bitrate': quality(uri), 'lang': lang,
                       'times': p['times'], 'end': p['end'], 'uris': p['uris'],
                       'maps': p['maps'], 'playlist': uri, 'duration': p['duration']})

    for i, l in enumerate(lines):
        if l.startswith('#EXT-X-MEDIA:'):
            a = attrs(l[13:])
            if a.get('TYPE') == 'AUDIO' and 'URI' in a:
                track('audio', a.get('NAME'), a['URI'], a.get('LANGUAGE'))
        elif l.startswith('#EXT-X-STREAM-INF:'):
            a = attrs(l[18:])
            uri = lines[i + 1]
            codecs = a.get('CODECS', '').split(',')
            audio_only = not any(c.strip().startswith(VIDEO_CODECS) for c in codecs)
            variants.append({'bandwidth': int(a['BANDWIDTH']), 'bitrate': quality(uri),
                             'uri': uri, 'audio_only': audio_only,
                             'audio_group': a.get('AUDIO')})
            m = re.search(r'audiotrack=([^,)]+)', uri)
            track('audio' if audio_only else 'video',
                  None if audio_only else 'video', uri, None)
            if m:
                tracks[-1]['audiotrack'] = m.group(1)
        elif l.startswith('#EXT-X-I-FRAME-STREAM-INF:'):
            iframes.append(attrs(l[26:])['URI'])
    first = next((t for t in tracks if t['type'] == 'video'), tracks[0] if tracks else None)
    return {'kind': 'hls-master', 'duration': first['duration'] if first else None,
            'tracks': tracks, 'variants': variants, 'iframes': iframes}


def summary(path, timescales):
    with open(path, 'rb') as f:
        head = f.read(64).lstrip()
    if head.startswith(b'#EXTM3U'):
        return hls(path, timescales)
    root = ET.parse(path).getroot()
    if root.tag == MPD_NS + 'MPD':
        return mpd(root)
    if root.tag == 'SmoothStreamingMedia':
        return smooth(root)
    raise SystemExit('filter_view: %s: not an MPD, Smooth manifest or playlist' % path)


# ---- helpers for EXPR ---------------------------------------------------------------------

def video(m):
    """Video bitrates, in manifest order."""
    return [t['bitrate'] for t in m['tracks'] if t['type'] == 'video']


def audio(m):
    """Audio track names (HLS v3: the audiotrack= of the variants), sorted, distinct."""
    names = {t['name'] for t in m['tracks'] if t['type'] == 'audio' and t['name']}
    names |= {t['audiotrack'] for t in m['tracks'] if t.get('audiotrack')}
    return sorted(names)


def first(m, kind):
    """Earliest fragment start of the tracks of a type (seconds)."""
    return min(t['times'][0] for t in m['tracks'] if t['type'] == kind)


def end(m, kind):
    """Latest fragment end of the tracks of a type (seconds)."""
    return max(t['end'] for t in m['tracks'] if t['type'] == kind)


def main(argv):
    timescales = {}
    while len(argv) > 1 and argv[0] == '--timescale':
        name, ts = argv[1].split('=', 1)
        timescales[name] = int(ts)
        argv = argv[2:]
    if len(argv) not in (1, 2):
        raise SystemExit(__doc__)
    m = summary(argv[0], timescales)
    if len(argv) == 1:
        print(json.dumps(m, indent=1))
    else:
        print(json.dumps(eval(argv[1], dict(globals(), m=m))))


if __name__ == '__main__':
    main(sys.argv[1:])
