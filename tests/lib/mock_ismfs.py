#!/usr/bin/env python3
"""A stand-in for `ismfs inspect`, to test the tests (not used by make check).

    ISMFS=tests/lib/mock_ismfs.py bash tests/integration/inspect_ffprobe.sh

Implements `--version` and `inspect [--json] [--stats] [--cache=DIR] FILE.mp4|ASSET.ism`
from the written definitions (pack/media.h, the inspect --json spec) on top of
tests/lib/mp4box.py, with a JSON-file "index" keyed like the LMDB one (path, dev, inode,
size, mtime_ns), so the comparison logic and the index checks can be exercised before the
real binary exists. Its channels come from the decoder config (see compare_inspect.py).
"""
import hashlib
import json
import os
import sys
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mp4box  # noqa: E402

stats = {'parsed': 0, 'index_hits': 0, 'load': 0.0}


def track_json(t):
    s = t['samples']
    dur = sum(x[1] for x in s)
    size = sum(x[2] for x in s)
    cto0 = s[0][3] if s else 0
    cto0 = cto0 - 2**32 if cto0 >= 2**31 else cto0
    key = [i for i, x in enumerate(s) if x[4]]
    gaps = [b - a for a, b in zip(key, key[1:])] if t['type'] == 'video' else []
    return {'id': t['id'], 'type': t['type'], 'codec': t['codec'], 'fourcc': t['fourcc'],
            'name': 'video' if t['type'] == 'video' else t['type'], 'src': None,
            'bitrate': size * 8 * t['timescale'] // dur if dur else 0,
            'timescale': t['timescale'], 'duration': dur, 'sample_count': len(s),
            'language': t['language'], 'width': t['width'], 'height': t['height'],
            'channels': t['channels'], 'sample_rate': t['sample_rate'],
            'gop_min': min(gaps) if gaps else 0, 'gop_max': max(gaps) if gaps else 0,
            'first_dts': (s[0][0] if s else 0) - t['media_time'] + t['empty_edit'],
            'first_pts': (s[0][0] + cto0 if s else 0) - t['media_time'] + t['empty_edit'],
            'media_time': t['media_time'], 'keyframes': key}


def load_media(path, cache):
    t0 = time.perf_counter()
    st = os.stat(path)
    key = '%s:%d:%d:%d:%d' % (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size,
                              st.st_mtime_ns)
    entry = os.path.join(cache, hashlib.sha1(key.encode()).hexdigest() + '.json')
    try:
        with open(entry) as f:
            tracks = json.load(f)
        stats['index_hits'] += 1
    except OSError:
        tracks = [track_json(t) for t in mp4box.read_tracks(path)[0]]
        stats['parsed'] += 1
        os.makedirs(cache, exist_ok=True)
        with open(entry, 'w') as f:
            json.dump(tracks, f)
    stats['load'] += time.perf_counter() - t0
    return tracks


def inspect_ism(path, cache):
    root = ET.parse(path).getroot()
    ns = root.tag[:root.tag.index('}') + 1] if root.tag.startswith('{') else ''
    out = []
    for el in root.iter():
        kind = el.tag[len(ns):]
        if kind not in ('video', 'audio', 'textstream'):
            continue
        typ = {'textstream': 'text'}.get(kind, kind)
        params = {p.get('name', '').lower(): p.get('value') for p in el.iter(ns + 'param')}
        tracks = load_media(os.path.join(os.path.dirname(path), el.get('src')), cache)
        tid = params.get('trackid')
        t = dict(next(x for x in tracks if (x['id'] == int(tid) if tid else x['type'] == typ)))
        t['src'] = el.get('src')
        br = el.get('systemBitrate') or params.get('systembitrate')
        if br:
            t['bitrate'] = int(br)
        lang = el.get('systemLanguage') or params.get('systemlanguage')
        if lang:
            t['language'] = lang
        t['name'] = params.get('trackname') or el.get('title') or (
            'video' if typ == 'video' else 'aac_%s_%d_%d' % (t['language'], t['channels'],
                                                             t['bitrate']))
        out.append(t)
    return out


def main(argv):
    if argv == ['--version']:
        print('mock_ismfs (tests/lib/mock_ismfs.py)')
        return
    if not argv or argv[0] != 'inspect':
        sys.exit('mock_ismfs: only "inspect" is mocked')
    want_json = '--json' in argv
    want_stats = '--stats' in argv
    cache = next((a.split('=', 1)[1] for a in argv if a.startswith('--cache=')),
                 os.path.join(os.environ.get('TMPDIR', '/tmp'), 'mock-ismfs-cache'))
    files = [a for a in argv[1:] if not a.startswith('--')]
    if len(files) != 1:
        sys.exit('usage: mock_ismfs.py inspect [--json] [--stats] [--cache=DIR] FILE')
    path = files[0]
    if path.endswith('.ism'):
        tracks = inspect_ism(path, cache)
    else:
        tracks = load_media(path, cache)
        for t in tracks:
            t['src'] = os.path.basename(path)
    if want_json:
        json.dump({'file': path, 'tracks': tracks}, sys.stdout)
        print()
    else:
        for t in tracks:
            print('%(id)d %(type)s %(codec)s %(bitrate)d %(timescale)d %(sample_count)d' % t)
    if want_stats:
        print('index: parsed=%d index_hits=%d load_ms=%.3f' % (
            stats['parsed'], stats['index_hits'], stats['load'] * 1000), file=sys.stderr)


if __name__ == '__main__':
    main(sys.argv[1:])
