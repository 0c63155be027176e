#!/usr/bin/env python3
"""Compares `ismfs inspect --json` with ffprobe/ffmpeg, the independent oracle.

    compare_inspect.py WORKDIR LABEL TARGET INSPECT_JSON [LABEL TARGET INSPECT_JSON ...]

TARGET is an .mp4 or an .ism; INSPECT_JSON holds what `ismfs inspect --json TARGET` printed.
Prints one TAP line ("ok - ..." / "not ok - ...") per (target, track, property group);
exits 1 when any line is "not ok". WORKDIR receives the DASH muxer output (codecs oracle).

Where the oracle comes from, per property (the definitions are those of `inspect --json`,
see pack/media.h):

  sample_count, keyframes, gop_min/gop_max, bitrate
        ffprobe -ignore_editlist 1 -show_packets: one packet per sample of the file, in
        decode order, K flag from stss/trun sample flags. The run without -ignore_editlist
        may drop samples an edit list cuts away (mov_fix_index), so it is not used for these.
  duration
        The definition is the sum of all sample durations. ffprobe's per-packet `duration`
        is NOT that quantity: ffmpeg 5.1's mov demuxer only sets it (next dts - dts) for
        tracks without composition offsets; with ctts/trun offsets it leaves it to the
        generic code, which derives it from the frame rate (416666 instead of the file's
        416667 at 10 MHz in frag_ismv.mp4), and the first AAC packet of frag_cmaf.mp4 has
        none at all. The exact quantity is the stream's duration_ts under
        -ignore_editlist 1: the raw track end (stts sum, or tfdt + trun durations of the
        last fragment) minus the first sample's raw dts. (For progressive files ffmpeg takes
        min(mdhd duration, stts sum); the two are equal in every fixture.)
  first_dts, first_pts, media_time
        The edit-list timeline, as ffprobe applies it: the first packet (matched to sample 0
        by byte position) of the default run. One convention differs on purpose: when a track
        has negative composition offsets (trun v1 in frag_ismv.mp4, ctts v1), ffmpeg adds
        dts_shift = -min(offset) to every pts so that pts >= dts; the definition does not
        (pts = dts + cto - media_time + empty_edit: ffprobe's 833333 for the first ISMV frame
        is 0 in the file). ffprobe does not report that shift, so it is computed from the
        file's own ctts/trun by tests/lib/mp4box.py and subtracted. media_time is checked as
        raw dts0 - presented dts0 (+ the empty edit, read by mp4box.py; none in the fixtures).
  timescale
        the denominator of ffprobe's time_base (ffmpeg sets it to 1/mdhd timescale).
  codec
        ffmpeg's DASH muxer (-f dash) writes RFC 6381 codecs into its MPD; compared
        case-insensitively. It spells out avc1 and mp4a but writes only "hvc1"/"hev1" for
        HEVC: there the fourcc is compared with the MPD and the rest with 14496-15 Annex E
        as implemented in tests/lib/mp4box.py from the hvcC box.
  width/height, channels, sample_rate
        ffprobe's stream fields, which come from the decoder configuration (SPS with
        cropping, AudioSpecificConfig, dac3/dec3), NOT the sample entry: ffmpeg writes
        channelcount 2 into every MP4 AudioSampleEntry (muxed.mp4 is mono AAC, eac3.mp4 is
        5.1), so a reader that reports the sample entry's channelcount fails here, as it
        would mis-signal CHANNELS / AudioChannelConfiguration.
  language
        ffprobe's language tag (mdhd), "und" when absent.
For an .ism, each <switch> element must be one track with: src, the trackID track of that
file (else the first track of the element's type), name = param trackName, else the title
attribute (old Azure Media Encoder form), else "video"; bitrate = systemBitrate (attribute or
param), else the measured average floor(bytes * 8 * timescale / duration); language =
systemLanguage, else mdhd. Its media properties are checked against its src like a file.
"""
import json
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mp4box  # noqa: E402

failed = 0


def tap(ok, what):
    global failed
    print(('ok - ' if ok else 'not ok - ') + what)
    if not ok:
        failed += 1


def ffprobe(path, *extra):
    out = subprocess.check_output(['ffprobe', '-v', 'error', *extra, '-show_streams',
                                   '-show_packets', '-of', 'json', path])
    return json.loads(out)


class Oracle:
    """What ffprobe/ffmpeg/mp4box say about one media file, per track id."""

    def __init__(self, path, workdir):
        self.path = path
        raw = ffprobe(path, '-ignore_editlist', '1')
        edl = ffprobe(path)
        self.streams = {}
        for st in raw['streams']:
            tid = int(st['id'], 16)
            pk = [p for p in raw['packets'] if p['stream_index'] == st['index']]
            st_e = next(s for s in edl['streams'] if s['index'] == st['index'])
            pk_e = [p for p in edl['packets'] if p['stream_index'] == st['index']]
            self.streams[tid] = {'st': st, 'pk': pk, 'st_e': st_e, 'pk_e': pk_e}
        self.codecs = self._dash_codecs(workdir)
        self.boxes = {t['id']: t for t in mp4box.read_tracks(path)[0]}

    def _dash_codecs(self, workdir):
        d = os.path.join(workdir, 'dash%d' % abs(hash(self.path)))
        os.makedirs(d, exist_ok=True)
        mpd = os.path.join(d, 'out.mpd')
        subprocess.check_call(['ffmpeg', '-nostdin', '-v', 'error', '-y', '-i', self.path,
                               '-c', 'copy', '-map', '0', '-f', 'dash', '-single_file', '1',
                               mpd])
        ns = {'m': 'urn:mpeg:dash:schema:mpd:2011'}
        rep = {}
        for r in ET.parse(mpd).getroot().iterfind('.//m:Representation', ns):
            rep[int(r.get('id'))] = r.get('codecs')
        # Representation ids are output stream indices; with -map 0 those are input indices.
        return {tid: rep.get(s['st']['index']) for tid, s in self.streams.items()}


oracles = {}


def oracle(path, workdir):
    path = os.path.realpath(path)
    if path not in oracles:
        oracles[path] = Oracle(path, workdir)
    return oracles[path]


def measured_bitrate(pk, timescale, duration):
    size = sum(int(p['size']) for p in pk)
    return size * 8 * timescale // duration if duration else 0


def check(what, group, fn):
    """Runs one property group; a missing JSON key or a bad value is a 'not ok', not a crash."""
    try:
        ok, detail = fn()
    except (KeyError, TypeError, ValueError, IndexError, StopIteration) as e:
        ok, detail = False, '%s: cannot check: %s: %s' % (group, type(e).__name__, e)
    tap(ok, '%s: %s' % (what, detail))


def diff(name, got, want):
    if got == want:
        return True, '%s %s' % (name, want)
    return False, '%s: ismfs %r, expected %r' % (name, got, want)


def check_track(label, t, o, tid):
    """Media properties of JSON track t against the oracle of its file's track tid."""
    s = o.streams.get(tid)
    if s is None:
        tap(False, '%s: ffprobe has no track id %d' % (label, tid))
        return
    st, pk, pk_e = s['st'], s['pk'], s['pk_e']
    bx = o.boxes[tid]
    ts = int(st['time_base'].split('/')[1])
    want_type = {'video': 'video', 'audio': 'audio'}.get(st['codec_type'], 'text')
    # ffprobe's duration_ts under -ignore_editlist: raw end of the track; see the top.
    duration = int(st['duration_ts']) - int(pk[0]['dts'])

    def ident():
        ok1, d1 = diff('type', t['type'], want_type)
        ok2, d2 = diff('fourcc', t['fourcc'], st['codec_tag_string'])
        return ok1 and ok2, d1 + ', ' + d2
    check(label, 'type/fourcc', ident)

    def codec():
        got = t['codec']
        dash = o.codecs.get(tid) or ''
        if dash.lower() in ('hvc1', 'hev1'):
            want = bx['codec']                      # from hvcC, tests/lib/mp4box.py
            ok = got.lower() == want.lower() and got.lower().split('.')[0] == dash.lower()
            return ok, ('codec %s (MPD: %s, hvcC: %s)' % (got, dash, want) if ok else
                        'codec: ismfs %r, expected %r (ffmpeg MPD %r, hvcC per 14496-15 E.3)'
                        % (got, want, dash))
        if not dash:
            return False, 'codec: ffmpeg wrote no codecs attribute for this track'
        ok = got.lower() == dash.lower()
        return ok, ('codec %s' % got if ok else
                    'codec: ismfs %r, ffmpeg DASH MPD %r' % (got, dash))
    check(label, 'codec', codec)
    check(label, 'sample_count', lambda: diff('sample_count', t['sample_count'], len(pk)))
    check(label, 'timescale', lambda: diff('timescale', t['timescale'], ts))
    check(label, 'duration', lambda: diff('duration', t['duration'], duration))

    def timing():
        first = pk[0]
        pe = next((p for p in pk_e if p['pos'] == first['pos']), None)
        if pe is None:
            return False, 'ffprobe dropped sample 0 (pos %s) on the edit-list timeline' % (
                first['pos'])
        ctos = [smp[3] if smp[3] < 2**31 else smp[3] - 2**32 for smp in bx['samples']]
        shift = max(0, -min(ctos)) if ctos else 0       # ffmpeg's dts_shift, see the top
        want = {'first_dts': int(pe['dts']), 'first_pts': int(pe['pts']) - shift,
                'media_time': int(first['dts']) - int(pe['dts']) + bx['empty_edit']}
        got = {k: t[k] for k in want}
        if got == want:
            return True, ' '.join('%s %d' % kv for kv in want.items()) + (
                ' (ffprobe pts - dts_shift %d)' % shift if shift else '')
        note = ' (ffprobe pts %s - dts_shift %d)' % (pe['pts'], shift) if shift else ''
        return False, 'ismfs %s, expected %s%s' % (got, want, note)
    check(label, 'first_dts/first_pts/media_time', timing)

    def keyframes():
        want = [i for i, p in enumerate(pk) if 'K' in p['flags']]
        got = t['keyframes']
        if got != want:
            extra = sorted(set(got) ^ set(want))[:8]
            return False, 'keyframes: ismfs %d, ffprobe %d; first differences at %s' % (
                len(got), len(want), extra)
        detail = 'keyframes %d of %d' % (len(want), len(pk))
        if want_type == 'video' and len(want) >= 2:
            gaps = [b - a for a, b in zip(want, want[1:])]
            g = (t['gop_min'], t['gop_max'])
            if g != (min(gaps), max(gaps)):
                return False, detail + '; gop_min/max: ismfs %s, expected %s (between ' \
                    'consecutive sync samples)' % (g, (min(gaps), max(gaps)))
            detail += ', gop %d..%d' % g
        return True, detail
    check(label, 'keyframes', keyframes)

    if want_type == 'video':
        check(label, 'size', lambda: diff('size', (t['width'], t['height']),
                                          (st['width'], st['height'])))
    elif want_type == 'audio':
        check(label, 'channels/sample_rate',
              lambda: diff('channels/sample_rate', (t['channels'], t['sample_rate']),
                           (st['channels'], int(st['sample_rate']))))
    return {'measured': measured_bitrate(pk, ts, duration),
            'language': st.get('tags', {}).get('language', 'und'), 'type': want_type,
            'channels': st.get('channels', 0)}


def json_tracks(label, path):
    try:
        with open(path) as f:
            doc = json.load(f)
        tracks = doc['tracks']
        if not isinstance(tracks, list):
            raise ValueError('"tracks" is not a list')
        return tracks
    except (OSError, ValueError, KeyError) as e:
        tap(False, '%s: inspect --json output unusable: %s' % (label, e))
        return None


def compare_mp4(label, target, jpath, workdir):
    tracks = json_tracks(label, jpath)
    if tracks is None:
        return
    o = oracle(target, workdir)
    ids = sorted(o.streams)
    got = sorted(t.get('id') if isinstance(t.get('id'), int) else -1 for t in tracks)
    tap(got == ids, '%s: track ids %s%s' % (label, ids, '' if got == ids else
                                             ' (ismfs: %s)' % got))
    for t in tracks:
        tid = t.get('id')
        if tid not in o.streams:
            continue
        lab = '%s track %d' % (label, tid)
        info = check_track(lab, t, o, tid)
        if info is None:
            continue
        check(lab, 'language', lambda: diff('language', t['language'], info['language']))
        check(lab, 'bitrate',
              lambda: diff('bitrate (measured)', t['bitrate'], info['measured']))


def ism_entries(path):
    root = ET.parse(path).getroot()
    ns = root.tag[:root.tag.index('}') + 1] if root.tag.startswith('{') else ''
    out = []
    for el in root.iter():
        kind = el.tag[len(ns):]
        if kind not in ('video', 'audio', 'textstream'):
            continue
        params = {p.get('name', '').lower(): p.get('value') for p in el.iter(ns + 'param')}
        out.append({'type': {'textstream': 'text'}.get(kind, kind), 'src': el.get('src'),
                    'bitrate': el.get('systemBitrate') or params.get('systembitrate'),
                    'language': el.get('systemLanguage') or params.get('systemlanguage'),
                    'track_id': params.get('trackid'), 'name': params.get('trackname'),
                    'title': el.get('title')})
    return out


def compare_ism(label, target, jpath, workdir):
    tracks = json_tracks(label, jpath)
    if tracks is None:
        return
    entries = ism_entries(target)
    tap(len(tracks) == len(entries), '%s: %d tracks for %d switch elements%s' % (
        label, len(tracks), len(entries), '' if len(tracks) == len(entries) else ' MISMATCH'))
    used = set()
    for e in entries:
        src = os.path.join(os.path.dirname(target), e['src'])
        o = oracle(src, workdir)
        if e['track_id']:
            tid = int(e['track_id'])
        else:
            tid = next((i for i, s in sorted(o.streams.items())
                        if {'video': 'video', 'audio': 'audio'}.get(s['st']['codec_type'],
                                                                    'text') == e['type']), None)
        lab = '%s %s %s' % (label, e['type'], e['src'])
        cand = [i for i, t in enumerate(tracks) if i not in used and t.get('src') == e['src']
                and t.get('type') == e['type'] and t.get('id') == tid]
        if not cand:
            tap(False, '%s: no track with src %r, type %s, id %s in the inspect output' % (
                lab, e['src'], e['type'], tid))
            continue
        used.add(cand[0])
        t = tracks[cand[0]]
        tap(True, '%s: track %s of %s' % (lab, tid, e['src']))
        info = check_track(lab, t, o, tid)
        if info is None:
            continue
        if e['name']:
            want_name, why = e['name'], 'trackName'
        elif e['title']:
            want_name, why = e['title'], 'title'
        elif e['type'] == 'video':
            want_name, why = 'video', 'default'
        else:
            lang = e['language'] or info['language']
            bitrate = int(e['bitrate']) if e['bitrate'] else info['measured']
            want_name, why = 'aac_%s_%d_%d' % (lang, info['channels'], bitrate), 'default'
        check(lab, 'name', lambda: diff('name (%s)' % why, t['name'], want_name))
        if e['bitrate']:
            want_rate, why = int(e['bitrate']), 'systemBitrate'
        else:
            want_rate, why = info['measured'], 'measured, no systemBitrate'
        check(lab, 'bitrate', lambda: diff('bitrate (%s)' % why, t['bitrate'], want_rate))
        want_lang = e['language'] or info['language']
        why = 'systemLanguage' if e['language'] else 'mdhd'
        check(lab, 'language', lambda: diff('language (%s)' % why, t['language'], want_lang))


def main(argv):
    if len(argv) < 4 or (len(argv) - 1) % 3:
        sys.exit(__doc__)
    workdir = argv[0]
    for i in range(1, len(argv), 3):
        label, target, jpath = argv[i:i + 3]
        try:
            if target.endswith('.ism'):
                compare_ism(label, target, jpath, workdir)
            else:
                compare_mp4(label, target, jpath, workdir)
        except (subprocess.CalledProcessError, OSError, ET.ParseError, ValueError,
                struct.error) as e:
            tap(False, '%s: oracle failed: %s: %s' % (label, type(e).__name__, e))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
