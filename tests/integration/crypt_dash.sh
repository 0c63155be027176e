#!/usr/bin/env bash
# DASH/CMAF encryption through a mount (issue 6, first slice): keys=DIR with CPIX documents
# made here (keys from `openssl rand`), judged by tools ismfs does not contain:
#   - protected assets: every clear name (each manifest format, playlists, init, fragments of
#     each format), the source MP4s and a second .ism naming the same MP4s are EACCES
#     (open() errno, seen by python); the encrypted names are listed instead and every one
#     has its exact size (stat size == bytes read); names this origin does not serve
#     encrypted (DASH cbc; HLS AES-128 without any key URI: no key_uri=, none in the CPIX) are
#     ENOENT; HLS and Smooth encryption have their own tests (crypt_hls.sh, crypt_ts.sh,
#     crypt_smooth.sh);
#   - ffmpeg -decryption_key decodes the concatenated init + fragments of a video rendition
#     and of an audio track, cenc and cbcs, to the framemd5 of the clear decode (the clear
#     bytes from `ismfs cat` without keys); without the key, or with another, it does not;
#     a CPIX with separate audio and video keys: each track decodes with its own key only;
#   - the MPDs validate against the DASH schema and carry cenc:default_KID = the KID;
#   - no byte of any file of the mount, of the daemon's log or of the LMDB cache holds the
#     key (raw, hex or base64);
#   - bad CPIX documents (a key without its value, a key of 15 bytes, malformed base64, an
#     unknown systemId, usage rules that leave the audio without a key): EIO for every name
#     of the asset (clear ones too), EACCES for its MP4s, one log line per document version
#     however often asked;
#   - keys= inside SRC is refused; allow_clear serves the clear names again.
# ffmpeg 5.1's mov demuxer pairs the senc of the last moof it parsed with every sample, so a
# seekable multi-fragment file (it reads ahead) decrypts wrongly: the files go in through a
# pipe, read in order, as a player would fetch them.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/cpix_lib.sh
source "$ROOT/tests/lib/cpix_lib.sh"
need ffmpeg openssl

SRC=$TMP/src KEYS=$TMP/keys MNT=$TMP/mnt
mkdir -p "$SRC/ladder" "$SRC/sep" "$SRC/bad" "$KEYS/ladder" "$KEYS/sep" "$KEYS/bad" ||
    bail "mkdir"
for f in "$FIX"/ladder/*; do
    for d in ladder sep bad; do ln "$f" "$SRC/$d/" 2>/dev/null || cp -p "$f" "$SRC/$d/"; done
done
if ! { mv "$SRC/sep/ladder.ism" "$SRC/sep/sep.ism" && mv "$SRC/bad/ladder.ism" "$SRC/bad/bad.ism" &&
        rm -f "$SRC/sep/ladder_old.ism" "$SRC/bad/ladder_old.ism"; }; then
    bail "cannot lay out SRC"
fi

KID=$(uuid) KEY=$(openssl rand -hex 16)
KID_V=$(uuid) KEY_V=$(openssl rand -hex 16)
KID_A=$(uuid) KEY_A=$(openssl rand -hex 16)
OTHER=$(openssl rand -hex 16)

cpix "<cpix:ContentKeyList>$(key "$KID" "$(b64 "$KEY")")</cpix:ContentKeyList>" \
     "<cpix:DRMSystemList><cpix:DRMSystem kid=\"$KID\" systemId=\"$WV\"/>" \
     "<cpix:DRMSystem kid=\"$KID\" systemId=\"$PR\"/></cpix:DRMSystemList>" \
    >"$KEYS/ladder/ladder.cpix.xml"
cpix "<cpix:ContentKeyList>$(key "$KID_V" "$(b64 "$KEY_V")")" \
     "$(key "$KID_A" "$(b64 "$KEY_A")")</cpix:ContentKeyList>" \
     "<cpix:ContentKeyUsageRuleList>$(rule "$KID_V" VideoFilter)$(rule "$KID_A" AudioFilter)" \
     "</cpix:ContentKeyUsageRuleList>" >"$KEYS/sep/sep.cpix.xml"
cp "$KEYS/ladder/ladder.cpix.xml" "$KEYS/bad/bad.cpix.xml"

# keys= inside SRC: refused before mounting, by the mount and by the command line
mkdir -p "$SRC/k" "$TMP/in"
if timeout 30 "$ISMFS" "$SRC" "$TMP/in" -f -o "cache=$TMP/cache,keys=$SRC/k" 2>"$TMP/in.log"; then
    not_ok "keys= inside SRC: the mount started"
else
    check "keys= inside SRC: the mount refuses it, saying why" grep -q "inside SRC" "$TMP/in.log"
fi
is_mounted "$TMP/in" && { not_ok "keys= inside SRC: mounted all the same"; unmount "$TMP/in"; }
check "keys= inside SRC: ismfs ls refuses it" \
    bash -c "! '$ISMFS' --cache='$TMP/c2' --keys='$SRC' ls '$SRC' >/dev/null 2>&1"
rmdir "$SRC/k"

mount_fg "$SRC" "$MNT" "cache=$TMP/cache,keys=$KEYS" || bail "no mount"
LOG=$MNT.log
A=$MNT/ladder/ladder.ism
V='QualityLevels(852353)' AU='QualityLevels(130544)' VT=video AT=aac_eng_2_130544_1_1

# errno PATH: the errno name of open(PATH) for reading, or OK

# ---- (1) clear names are EACCES, encrypted ones exist with exact sizes ----------------
for m in 'manifest' 'manifest(format=mpd-time-csf)' 'manifest(format=mpd-time-cmaf)' \
         'manifest(format=m3u8-aapl)' 'manifest(format=m3u8-aapl-v3)' 'manifest(format=m3u8-cmaf)' \
         "$V/Fragments($VT=i,format=cmaf)" "$V/Fragments($VT=0,format=cmaf)" \
         "$V/Fragments($VT=0,format=mpd-time-csf)" "$AU/Fragments($AT=0,format=cmaf)" \
         "$V/Fragments($VT=0)" "$V/Fragments($VT=0,format=m3u8-aapl)" \
         "$V/Manifest($VT,format=m3u8-aapl)" "$AU/Manifest($AT,format=m3u8-cmaf)"; do
    expect "clear $m of a protected asset" EACCES "$A/$m"
done
for f in ladder_640x360.mp4 ladder_480x270.mp4 ladder_320x180.mp4 ladder_aac_eng.mp4 \
         ladder_aac_fra.mp4; do
    expect "source $f of a protected asset" EACCES "$MNT/ladder/$f"
done
expect "ladder_old.ism (another .ism of the same MP4s): its DASH manifest" EACCES \
    "$MNT/ladder/ladder_old.ism/manifest(format=mpd-time-csf)"
expect "ladder_old.ism: a clear fragment" EACCES \
    "$MNT/ladder/ladder_old.ism/QualityLevels(849405)/Fragments(video=0,format=cmaf)"
expect "ladder_old.ism: an encrypted name (it has no keys)" ENOENT \
    "$MNT/ladder/ladder_old.ism/manifest(format=mpd-time-csf,encryption=cenc)"
for m in 'manifest(format=m3u8-aapl,encryption=cbc)' \
         "$V/Fragments($VT=0,format=m3u8-aapl,encryption=cbc)" \
         'manifest(format=mpd-time-csf,encryption=cbc)' 'manifest(format=mpd-time-cmaf,encryption=piff)'; do
    expect "not served encrypted: $m" ENOENT "$A/$m"
done
check "the ladder folder lists no MP4 of the protected asset" \
    bash -c "! ls '$MNT/ladder' | grep -q '\.mp4'"
mans=$(cd "$A" && printf '%s\n' manifest*)
check "the asset lists only encrypted manifests" \
    test "$(grep -c 'encryption=' <<<"$mans")" = "$(wc -l <<<"$mans")"
for m in 'manifest(format=mpd-time-csf,encryption=cenc)' 'manifest(format=mpd-time-csf,encryption=cbcs)' \
         'manifest(format=mpd-time-cmaf,encryption=cenc)' 'manifest(format=mpd-time-cmaf,encryption=cbcs)'; do
    check "the asset lists $m" grep -qxF "$m" <<<"$mans"
done

# every file of the asset: listed, size from stat == bytes read; each encrypted name
python3 - "$A" >"$TMP/sizes.tap" <<'EOF'
import os, sys
root = sys.argv[1]
bad, n, names = [], 0, []
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        n += 1
        names.append(f)
        with open(p, 'rb') as fh:
            data = fh.read()
        if len(data) != os.stat(p).st_size:
            bad.append('%s: stat %d, read %d' % (p, os.stat(p).st_size, len(data)))
        if 'encryption=' not in f:
            bad.append('%s: a clear name is listed' % p)
# CMAF segments: every one exists in both schemes
cenc = sum('format=cmaf,encryption=cenc' in f for f in names)
cbcs = sum('format=cmaf,encryption=cbcs)' in f for f in names)
print(('ok' if not bad and n > 20 and cenc == cbcs else 'not ok') +
      ' - %d files of the protected asset (%d CMAF cenc, %d cbcs): stat size == bytes read %s'
      % (n, cenc, cbcs, '; '.join(bad[:3])))
EOF
cat "$TMP/sizes.tap"
grep -q '^not ok' "$TMP/sizes.tap" && fail=1

# ---- (2) ffmpeg decrypts what the mount serves ------------------------------------------
# times TRACK QL: the fragment times of a track (the ladder's: every copy has the same)
times() {
    (cd "$A/$2" && printf '%s\n' Fragments*) |
        sed -n "s/^Fragments($1=\([0-9]*\),format=cmaf,encryption=cenc)\$/\1/p" | sort -n
}
# concat DIR TRACK QL ENC: init + every fragment of the encrypted track, in order
concat() {
    local t
    cat "$1/$3/Fragments($2=i,format=cmaf,encryption=$4)"
    for t in $(times "$2" "$3"); do cat "$1/$3/Fragments($2=$t,format=cmaf,encryption=$4)"; done
}
clear_track() {    # clear_track TRACK QL ASSET: the same in clear, by `ismfs cat` without keys
    local t
    ism cat "$SRC" "$3/$2/Fragments($1=i,format=cmaf)"
    for t in $(times "$1" "$2"); do ism cat "$SRC" "$3/$2/Fragments($1=$t,format=cmaf)"; done
}
md5s() {    # md5s KEY|-: framemd5 lines of stdin, decrypted with KEY
    local k=()
    [ "$1" = - ] || k=(-decryption_key "$1")
    ffmpeg -nostdin -v error "${k[@]}" -i pipe:0 -f framemd5 - 2>/dev/null | grep -v '^#'
}
decrypts() {    # decrypts WHAT KEY TRACK QL ENC ASSETDIR ASSET
    local want got
    want=$(clear_track "$3" "$4" "$7" | md5s -)
    got=$(concat "$6" "$3" "$4" "$5" | md5s "$2")
    if [ -n "$want" ] && [ "$got" = "$want" ]; then
        ok "$1: ffmpeg decodes the $5 track with the key to the clear frames ($(wc -l <<<"$want") frames)"
    else
        not_ok "$1: $5 decode differs ($(wc -l <<<"$got") of $(wc -l <<<"$want") frames)"
    fi
    got=$(concat "$6" "$3" "$4" "$5" | md5s "$OTHER")
    check "$1: another key does not decode it ($5)" test "$got" != "$want"
    got=$(concat "$6" "$3" "$4" "$5" | md5s -)
    check "$1: no key, no clear frames ($5)" test "$got" != "$want"
}
for enc in cenc cbcs; do
    decrypts "video 852353" "$KEY" "$VT" "$V" "$enc" "$A" ladder/ladder.ism
    decrypts "audio eng" "$KEY" "$AT" "$AU" "$enc" "$A" ladder/ladder.ism
done
S=$MNT/sep/sep.ism
decrypts "separate keys: video" "$KEY_V" "$VT" 'QualityLevels(423612)' cenc "$S" sep/sep.ism
decrypts "separate keys: audio" "$KEY_A" "$AT" "$AU" cenc "$S" sep/sep.ism
got=$(concat "$S" "$VT" 'QualityLevels(423612)' cenc | md5s "$KEY_A")
want=$(clear_track "$VT" 'QualityLevels(423612)' sep/sep.ism | md5s -)
check "separate keys: the audio key does not decode the video" test "$got" != "$want"

# ---- (3) the MPDs: DASH schema, default_KID ---------------------------------------------
for p in mpd-time-csf mpd-time-cmaf; do
    for enc in cenc cbcs; do
        cp "$A/manifest(format=$p,encryption=$enc)" "$TMP/$p-$enc.mpd" || not_ok "read $p $enc"
    done
done
out=$(bash "$ROOT/tests/lib/validate_mpd.sh" "$TMP"/*.mpd 2>&1)
case $? in
0) ok "the encrypted MPDs (csf, cmaf; cenc, cbcs) validate against the DASH schema" ;;
77) echo "# schema check skipped: $out" ;;
*) not_ok "an encrypted MPD does not validate: $(head -c 300 <<<"$out")" ;;
esac
python3 - "$TMP" "$KID" "$KID_V" "$KID_A" "$S/manifest(format=mpd-time-csf,encryption=cenc)" <<'EOF'
import sys, xml.etree.ElementTree as ET
tmp, kid, kid_v, kid_a, sep = sys.argv[1:]
NS = {'d': 'urn:mpeg:dash:schema:mpd:2011'}
CENC = '{urn:mpeg:cenc:2013}default_KID'
def kids(path):
    out = {}
    for a in ET.parse(path).getroot().iterfind('.//d:AdaptationSet', NS):
        cps = [c for c in a.iterfind('d:ContentProtection', NS)
               if c.get('schemeIdUri') == 'urn:mpeg:dash:mp4protection:2011']
        out[a.get('contentType') + a.get('lang', '')] = \
            [(c.get('value'), c.get(CENC)) for c in cps]
    return out
for p in ('mpd-time-csf', 'mpd-time-cmaf'):
    for enc in ('cenc', 'cbcs'):
        k = kids('%s/%s-%s.mpd' % (tmp, p, enc))
        good = k and all(v == [(enc, kid)] for v in k.values())
        print('%s - %s %s: every AdaptationSet has mp4protection value=%s with cenc:default_KID %s'
              % ('ok' if good else 'not ok', p, enc, enc, kid if good else k))
k = kids(sep)
good = k.get('video') == [('cenc', kid_v)] and k.get('audioen') == [('cenc', kid_a)]
print('%s - separate keys: the video set names the video KID, the audio set the audio KID%s'
      % ('ok' if good else 'not ok', '' if good else ' %s' % k))
EOF
check "the MPD signals Widevine (a system of the CPIX)" grep -q "urn:uuid:$WV" "$TMP/mpd-time-csf-cenc.mpd"
check "the MPD signals PlayReady (a system of the CPIX)" grep -q "urn:uuid:$PR" "$TMP/mpd-time-csf-cenc.mpd"

# ---- (4) the key appears nowhere: no file of the mount, no log line, no cache byte -------
python3 - "$MNT" "$LOG" "$TMP/cache" "$KEY" "$KEY_V" "$KEY_A" <<'EOF'
import base64, os, sys
mnt, log, cache = sys.argv[1:4]
pats = []
for h in sys.argv[4:]:
    raw = bytes.fromhex(h)
    for p in (raw, h.encode(), h.upper().encode(), base64.b64encode(raw),
              base64.urlsafe_b64encode(raw).rstrip(b'='), base64.b64encode(raw).rstrip(b'=')):
        pats.append(p)
files = found = errors = 0
hits = []
def scan(path):
    global files
    with open(path, 'rb') as f:
        data = f.read()
    files += 1
    for p in pats:
        if p in data:
            hits.append(path)
            break
for top in (mnt, cache):
    for d, _, fs in os.walk(top):
        for f in fs:
            try:
                scan(os.path.join(d, f))
            except PermissionError:
                pass                    # EACCES: the clear names of protected assets
            except OSError as e:
                errors += 1
                hits.append('%s: %s' % (os.path.join(d, f), e))
scan(log)
print('%s - the keys (raw, hex, base64) are in none of %d files of the mount, the cache and the log%s'
      % ('ok' if not hits else 'not ok', files, '' if not hits else ': ' + ', '.join(hits[:3])))
EOF

# ---- (5) bad CPIX documents: EIO, one log line per version, never clear ------------------
B=$MNT/bad/bad.ism BADDOC=$KEYS/bad/bad.cpix.xml
cases=(missing shortkey base64 systemid rules)
doc() {
    case $1 in
    missing)  cpix "<cpix:ContentKeyList><cpix:ContentKey kid=\"$KID\"/></cpix:ContentKeyList>" ;;
    shortkey) cpix "<cpix:ContentKeyList>$(key "$KID" "$(b64 "${KEY:0:30}")")</cpix:ContentKeyList>" ;;
    base64)   cpix "<cpix:ContentKeyList>$(key "$KID" 'not*base64!!')</cpix:ContentKeyList>" ;;
    systemid) cpix "<cpix:ContentKeyList>$(key "$KID" "$(b64 "$KEY")")</cpix:ContentKeyList>" \
                   "<cpix:DRMSystemList><cpix:DRMSystem kid=\"$KID\" systemId=\"$(uuid)\"/>" \
                   "</cpix:DRMSystemList>" ;;
    rules)    cpix "<cpix:ContentKeyList>$(key "$KID" "$(b64 "$KEY")")</cpix:ContentKeyList>" \
                   "<cpix:ContentKeyUsageRuleList>$(rule "$KID" VideoFilter)" \
                   "</cpix:ContentKeyUsageRuleList>" ;;
    esac
}
check "a good document for the bad asset first: its encrypted manifest is served" \
    test "$(errno "$B/manifest(format=mpd-time-csf,encryption=cenc)")" = OK
for c in "${cases[@]}"; do
    doc "$c" >"$BADDOC.new" && mv "$BADDOC.new" "$BADDOC"
    before=$(grep -cF "$BADDOC" "$LOG")
    res=()
    for i in 1 2 3; do
        for n in 'manifest(format=mpd-time-csf,encryption=cenc)' \
                 'manifest(format=mpd-time-cmaf,encryption=cbcs)' \
                 "$V/Fragments($VT=i,format=cmaf,encryption=cenc)" \
                 "$V/Fragments($VT=0,format=cmaf,encryption=cenc)" \
                 "$AU/Fragments($AT=0,format=cmaf,encryption=cbcs)"; do
            res+=("$(errno "$B/$n")")
        done
        for n in 'manifest(format=mpd-time-csf)' "$V/Fragments($VT=0,format=cmaf)"; do
            res+=("clear:$(errno "$B/$n")")
        done
        res+=("mp4:$(errno "$MNT/bad/ladder_aac_eng.mp4")")
    done
    after=$(grep -cF "$BADDOC" "$LOG")
    # the whole asset is unavailable, clear names too; its MP4s stay EACCES
    want="EIO EIO EIO EIO EIO clear:EIO clear:EIO mp4:EACCES"
    if [ "${res[*]}" = "$want $want $want" ]; then
        ok "bad CPIX ($c): EIO for every name of the asset, EACCES for its MP4, 3 times"
    else
        not_ok "bad CPIX ($c): ${res[*]}"
    fi
    if [ $((after - before)) -eq 1 ]; then
        ok "bad CPIX ($c): one log line ($(grep -F "$BADDOC" "$LOG" | tail -1 | cut -c1-160))"
    else
        not_ok "bad CPIX ($c): $((after - before)) log lines about $BADDOC"
    fi
done
check "the ladder asset still works beside the bad one" \
    test "$(errno "$A/manifest(format=mpd-time-csf,encryption=cenc)")" = OK
check "the daemon is alive" is_mounted "$MNT"

# ---- allow_clear: the clear names are served again (command line, same code) -------------
got=$(ism --keys="$KEYS" --allow-clear cat "$SRC" "ladder/ladder.ism/manifest(format=mpd-time-csf)" | md5sum)
want=$(ism cat "$SRC" "ladder/ladder.ism/manifest(format=mpd-time-csf)" | md5sum)
check "allow_clear: the clear MPD of a protected asset is served, the same bytes" test "$got" = "$want"
check "allow_clear: the source MP4 too" \
    cmp -s <(ism --keys="$KEYS" --allow-clear cat "$SRC" ladder/ladder_aac_eng.mp4) \
        "$FIX/ladder/ladder_aac_eng.mp4"
ism --keys="$KEYS" cat "$SRC" "ladder/ladder.ism/manifest(format=mpd-time-csf)" \
    >/dev/null 2>"$TMP/cat.err"
check "without allow_clear, ismfs cat refuses the clear MPD (EACCES)" \
    grep -q 'Permission denied' "$TMP/cat.err"

unmount "$MNT" || not_ok "unmount"
check "the subsample counts are in the LMDB cache (aux entries)" \
    bash -c "'$ISMFS' --cache='$TMP/cache' cache stats | grep -Eq 'aux entries: +[1-9]'"
