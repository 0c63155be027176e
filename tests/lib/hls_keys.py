#!/usr/bin/env python3
"""Checks of encrypted HLS playlists in a mount (tests/integration/crypt_hls.sh), written from
RFC 8216 and the DRM systems' own conventions, not from ismfs code. Each command prints TAP
lines ("ok - ..." / "not ok - ...").

  hls_keys.py crawl ASSET_DIR
      every encrypted playlist listed in ASSET_DIR (masters, media and I-frame playlists):
      its attribute lists parse (RFC 8216 4.2), and every URI it names (variants, EXT-X-MEDIA,
      EXT-X-I-FRAME-STREAM-INF, EXT-X-MAP, segments) is a name its directory lists
  hls_keys.py aes KEY_URI PLAYLIST...
      AES-128 playlists: one EXT-X-KEY before each segment and, in fMP4 (m3u8-cmaf)
      playlists, before EXT-X-MAP (RFC 8216 4.3.2.5: an encrypted map needs an IV; TS
      playlists have no map), METHOD=AES-128, URI=KEY_URI, a 128-bit IV; a segment or map
      has the same IV in every playlist, distinct ones distinct IVs; no KEYFORMAT
  hls_keys.py sample METHOD KID KEY_URI SYSTEMS PLAYLIST...
      SAMPLE-AES(-CTR) playlists (masters: EXT-X-SESSION-KEY): the key lines before
      EXT-X-MAP, one per system of SYSTEMS (comma list of fairplay, widevine, playready,
      identity), identity last; KEYFORMAT per system; the Widevine URI is a data: URI of a
      whole pssh box of the Widevine system whose data `protoc --decode_raw` shows with the
      KID in field 2, KEYID=0x<KID>; the PlayReady one a PlayReady Object whose WRMHEADER
      (UTF-16LE) holds the KID (GUID byte order, base64); FairPlay skd://KID; identity KEY_URI
"""
import base64
import os
import re
import subprocess
import sys
import urllib.parse
import uuid

WIDEVINE = 'urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed'
KEYFORMATS = {'fairplay': 'com.apple.streamingkeydelivery', 'widevine': WIDEVINE,
              'playready': 'com.microsoft.playready', 'identity': 'identity'}

failed = False


def tap(good, what):
    global failed
    print('%s - %s' % ('ok' if good else 'not ok', what))
    failed |= not good


def attrs(rest):
    """RFC 8216 4.2 attribute list -> dict (name -> (value, quoted)); ValueError if bad."""
    out = {}
    pos = 0
    while pos < len(rest):
        m = re.match(r'([A-Z0-9-]+)=', rest[pos:])
        if not m:
            raise ValueError('no attribute name at %r' % rest[pos:pos + 20])
        name = m.group(1)
        pos += m.end()
        if rest[pos:pos + 1] == '"':
            end = rest.find('"', pos + 1)
            if end < 0:
                raise ValueError('unterminated quoted string')
            value, quoted = rest[pos + 1:end], True
            pos = end + 1
        else:
            end = rest.find(',', pos)
            end = len(rest) if end < 0 else end
            value, quoted = rest[pos:end], False
            if '"' in value or not value:
                raise ValueError('bad unquoted value %r' % value)
            pos = end
        if name in out:
            raise ValueError('%s twice' % name)
        out[name] = (value, quoted)
        if pos < len(rest):
            if rest[pos] != ',' or pos + 1 == len(rest):
                raise ValueError('junk after %s' % name)
            pos += 1
    return out


def lines(path):
    with open(path, 'rb') as f:
        text = f.read().decode('utf-8')
    if not text.startswith('#EXTM3U\n') or not text.endswith('\n') or '\r' in text:
        raise ValueError('%s: not an M3U8 of LF lines' % path)
    out = []
    for line in text[:-1].split('\n'):
        if line.startswith('#EXT'):
            tag, _, rest = line[1:].partition(':')
            a = attrs(rest) if tag in ('EXT-X-KEY', 'EXT-X-SESSION-KEY', 'EXT-X-MAP',
                                       'EXT-X-MEDIA', 'EXT-X-STREAM-INF',
                                       'EXT-X-I-FRAME-STREAM-INF') else None
            out.append((tag, rest, a))
        elif line.startswith('#') or not line:
            raise ValueError('%s: comment or blank line %r' % (path, line))
        else:
            out.append(('', line, None))
    return out


def crawl(asset):
    playlists = checked = 0
    bad = []
    listed = {}         # directory -> its names (a listing of the mount costs)
    for d, _, files in os.walk(asset):
        for f in files:
            if not f.startswith(('manifest(', 'Manifest(')) or 'm3u8' not in f or \
                    'encryption=' not in f:
                continue
            path = os.path.join(d, f)
            playlists += 1
            try:
                ls = lines(path)
            except (ValueError, UnicodeDecodeError) as e:
                bad.append('%s: %s' % (path, e))
                continue
            for tag, rest, a in ls:
                uris = [rest] if not tag else [a['URI'][0]] if a and 'URI' in a else []
                for u in uris:
                    if u.startswith(('data:', 'http:', 'https:', 'skd:')):
                        continue
                    target = os.path.normpath(os.path.join(d, urllib.parse.unquote(u)))
                    checked += 1
                    parent = os.path.dirname(target)
                    if parent not in listed:
                        listed[parent] = set(os.listdir(parent))
                    if os.path.basename(target) not in listed[parent]:
                        bad.append('%s names %s, which is not listed' % (f, u))
    tap(not bad and playlists > 0 and checked > playlists,
        'crawl: %d encrypted playlists parse (RFC 8216 4.2) and the %d names they give are '
        'listed %s' % (playlists, checked, '; '.join(bad[:3])))


def hexiv(v):
    return v[0] if not v[1] and re.fullmatch(r'0[xX][0-9A-Fa-f]{32}', v[0]) else None


def aes(key_uri, paths):
    seen = {}           # segment path -> IV
    bad = []
    keys = 0
    for path in paths:
        d = os.path.dirname(path)
        pending = None
        segs = 0
        for tag, rest, a in lines(path):
            if tag == 'EXT-X-KEY':
                keys += 1
                if a.get('METHOD') != ('AES-128', False) or a.get('URI') != (key_uri, True) \
                        or not hexiv(a.get('IV', ('', True))) or 'KEYFORMAT' in a:
                    bad.append('%s: bad key line %s' % (os.path.basename(path), rest))
                pending = hexiv(a.get('IV', ('', True)))
            elif tag == 'EXT-X-MAP' and 'format=m3u8-cmaf' not in path:
                bad.append('%s: EXT-X-MAP in a TS playlist' % path)
            elif not tag or tag == 'EXT-X-MAP':
                uri = rest if not tag else a.get('URI', ('', True))[0]
                segs += not tag
                if not pending:
                    bad.append('%s: %s without its own key line' % (path, uri))
                    continue
                target = os.path.normpath(os.path.join(d, uri))
                iv = pending.lower()
                if seen.setdefault(target, iv) != iv:
                    bad.append('%s: two IVs' % uri)
                pending = None
        if not segs:
            bad.append('%s: no segments' % path)
    ivs = list(seen.values())
    if len(set(ivs)) != len(ivs):
        bad.append('%d segments share %d IVs' % (len(ivs), len(set(ivs))))
    tap(not bad and len(ivs) > 10,
        'AES-128: %d playlists, %d key lines, %d segments each with an IV of its own, the same '
        'in every playlist %s' % (len(paths), keys, len(ivs), '; '.join(bad[:3])))


def cescape(b):
    """protobuf's CEscape, as `protoc --decode_raw` prints bytes."""
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


def check_widevine(uri, a, kid):
    prefix = 'data:text/plain;base64,'
    if not uri.startswith(prefix):
        return 'Widevine URI is not %s...' % prefix
    box = base64.b64decode(uri[len(prefix):], validate=True)
    size = int.from_bytes(box[0:4], 'big')
    if size != len(box) or box[4:8] != b'pssh' or box[8] != 0 or \
            box[12:28] != uuid.UUID(WIDEVINE[9:]).bytes:
        return 'Widevine URI: not a version 0 pssh box of the Widevine system'
    n = int.from_bytes(box[28:32], 'big')
    data = box[32:32 + n]
    if 32 + n != len(box):
        return 'Widevine pssh: DataSize %d of %d bytes' % (n, len(box))
    raw = subprocess.run(['protoc', '--decode_raw'], input=data, capture_output=True)
    want = '2: "%s"' % cescape(kid.bytes)
    if raw.returncode or want not in raw.stdout.decode('latin-1').splitlines():
        return 'protoc --decode_raw shows no field 2 = the KID: %r' % raw.stdout[:200]
    if a.get('KEYID', ('', True))[1] or a.get('KEYID', ('', True))[0].lower() != \
            '0x' + kid.hex:
        return 'KEYID %r is not 0x<KID>' % (a.get('KEYID'),)
    return None


def check_playready(uri, kid):
    prefix = 'data:text/plain;charset=UTF-16;base64,'
    if not uri.startswith(prefix):
        return 'PlayReady URI is not %s...' % prefix
    pro = base64.b64decode(uri[len(prefix):], validate=True)
    if int.from_bytes(pro[0:4], 'little') != len(pro) or \
            int.from_bytes(pro[4:6], 'little') != 1 or int.from_bytes(pro[6:8], 'little') != 1:
        return 'PlayReady URI: not a PlayReady Object of one header record'
    xml = pro[10:10 + int.from_bytes(pro[8:10], 'little')].decode('utf-16-le')
    if '<WRMHEADER' not in xml or base64.b64encode(kid.bytes_le).decode() not in xml:
        return 'PlayReady header without the KID: %r' % xml[:120]
    return None


def sample(method, kid, key_uri, systems, paths):
    kid = uuid.UUID(kid)
    systems = systems.split(',')
    for path in paths:
        name = os.path.basename(path)
        ls = lines(path)
        master = any(t == 'EXT-X-STREAM-INF' for t, _, _ in ls)
        tag = 'EXT-X-SESSION-KEY' if master else 'EXT-X-KEY'
        keys = [(i, a) for i, (t, _, a) in enumerate(ls) if t == tag]
        other = [t for t, _, _ in ls if t in ('EXT-X-KEY', 'EXT-X-SESSION-KEY') and t != tag]
        bad = []
        formats = []
        for _, a in keys:
            if a.get('METHOD') != (method, False):
                bad.append('METHOD %r' % (a.get('METHOD'),))
            kf = a.get('KEYFORMAT', ('identity', True))
            if not kf[1] or a.get('KEYFORMATVERSIONS') != ('1', True):
                bad.append('KEYFORMAT/KEYFORMATVERSIONS not quoted, or not "1"')
            uri, quoted = a.get('URI', ('', False))
            if not quoted:
                bad.append('URI missing or not quoted')
            kind = [k for k, v in KEYFORMATS.items() if v == kf[0]]
            formats.append(kind[0] if kind else kf[0])
            why = None
            if kf[0] == WIDEVINE:
                why = check_widevine(uri, a, kid)
            elif kf[0] == 'com.microsoft.playready':
                why = check_playready(uri, kid)
            elif kf[0] == 'com.apple.streamingkeydelivery':
                why = None if uri == 'skd://' + str(kid) else 'FairPlay URI %r' % uri
            elif kf[0] == 'identity':
                why = None if uri == key_uri else 'identity URI %r' % uri
            if why:
                bad.append(why)
        if sorted(formats) != sorted(systems) or (formats and formats[-1] != 'identity' and
                                                  'identity' in formats):
            bad.append('systems %s, want %s with identity last' % (formats, systems))
        maps = [i for i, (t, _, _) in enumerate(ls) if t == 'EXT-X-MAP']
        if maps and keys and max(i for i, _ in keys) > maps[0]:
            bad.append('a key line after EXT-X-MAP')
        if other:
            bad.append('%s in a %s playlist' % (other[0], 'master' if master else 'media'))
        version = [int(r) for t, r, _ in ls if t == 'EXT-X-VERSION']
        if not version or version[0] < 5:
            bad.append('EXT-X-VERSION %s < 5 with KEYFORMAT' % version)
        tap(not bad, '%s: %d %s lines (%s), METHOD=%s, Widevine pssh by protoc, PlayReady '
            'PRO, FairPlay skd, identity URI %s' % (name, len(keys), tag, ','.join(formats),
                                                   method, '; '.join(bad[:3])))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        if cmd == 'crawl':
            crawl(args[0])
        elif cmd == 'aes':
            aes(args[0], args[1:])
        elif cmd == 'sample':
            sample(args[0], args[1], args[2], args[3], args[4:])
        else:
            raise SystemExit('unknown command ' + cmd)
    except (ValueError, OSError, IndexError, KeyError) as e:
        tap(False, '%s: %s' % (cmd, e))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
