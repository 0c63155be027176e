#!/usr/bin/env bash
# HLS encryption through a mount (issue 6, the HLS slice): keys=DIR with CPIX documents made
# here (keys from `openssl rand`), key_uri=http://127.0.0.1:PORT/key/{kid}, and a small
# python3 http.server on a free port serving the keys. Judged by tools ismfs does not contain:
#   - names: the asset lists the m3u8-aapl/-v3 masters in cbc and cbcs-aapl and m3u8-cmaf in
#     cbc, cenc and cbcs-aapl; no I-frame playlists of encrypted TS or of AES-128 CMAF, no
#     DASH manifest in cbc; clear HLS names stay EACCES;
#     every URI every encrypted playlist names is a
#     listed name (tests/lib/hls_keys.py crawl); stat size == bytes read for every HLS name;
#   - AES-128 (m3u8-aapl, -v3, m3u8-cmaf): ffmpeg's HLS demuxer, fetching the key over
#     HTTP, decodes each video rendition, an audio track and a v3 muxed variant to the
#     framemd5 of the clear TS segments (clear bytes from `ismfs cat` without keys), and the
#     m3u8-cmaf video and audio playlists (encrypted EXT-X-MAP) to the frames of the clear
#     CMAF init + segments; with a wrong key it does not; an encrypted segment (and CMAF init)
#     equals `openssl enc -aes-128-cbc` of the clear one with the IV its playlist names;
#     every segment and init has an IV of its own, the same in every playlist;
#     separate audio and video keys: each track under its own key URI, both decode, and no
#     v3 names (one EXT-X-KEY cannot cover a segment muxing two keys);
#   - Apple SAMPLE-AES TS (the segments are helper "ts"'s): ffmpeg decodes video, audio and a
#     v3 variant through the identity line (key URI, constant IV), which comes last;
#   - the key URI comes from the CPIX when it names one (ClearKey URIExtXKey), else key_uri=;
#     without either, the cbc names are ENOENT with one log line;
#   - m3u8-cmaf: EXT-X-KEY / EXT-X-SESSION-KEY lines parsed by a reader of our own (METHOD
#     SAMPLE-AES / SAMPLE-AES-CTR, KEYFORMAT per system, identity last, before EXT-X-MAP),
#     the Widevine pssh decoded with `protoc --decode_raw` shows the KID; the CPIX's
#     HLSSignalingData lines are written as given;
#   - no key byte (raw, hex, base64) in any file of the mount.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/cpix_lib.sh
source "$ROOT/tests/lib/cpix_lib.sh"
need ffmpeg openssl protoc xxd

SRC=$TMP/src KEYS=$TMP/keys MNT=$TMP/mnt WWW=$TMP/www
for d in ladder sep ck; do
    mkdir -p "$SRC/$d" "$KEYS/$d" || bail "mkdir"
    for f in "$FIX"/ladder/*; do ln "$f" "$SRC/$d/" 2>/dev/null || cp -p "$f" "$SRC/$d/"; done
    rm -f "$SRC/$d/ladder_old.ism"
    [ "$d" = ladder ] || mv "$SRC/$d/ladder.ism" "$SRC/$d/$d.ism" || bail "cannot lay out SRC"
done
mkdir -p "$WWW/key" "$WWW/ck" "$WWW/wrong" || bail "mkdir"
# a filter: filtered playlists list a part of the same segments, which keep their IVs
cat >"$SRC/ladder/ladder.filters.json" <<'EOF'
[{"name": "trim", "properties": {"presentationTimeRange":
  {"startTimestamp": 20000000, "endTimestamp": 60000000, "timescale": 10000000}}}]
EOF

# ---- the key server: python3 http.server on a free port (the port comes from bind(0)) ----
python3 - "$WWW" "$TMP/port" <<'EOF' &
import functools, http.server, os, sys
www, portfile = sys.argv[1:]
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                      functools.partial(Handler, directory=www))
with open(portfile + '.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + '.tmp', portfile)
srv.serve_forever()
EOF
SERVER=$!
EXTRA_PIDS+=("$SERVER")
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port" 2>/dev/null) || bail "the key server did not start"
URL=http://127.0.0.1:$PORT

text64() { printf '%s' "$1" | base64 -w0; }
KID=$(uuid) KEY=$(openssl rand -hex 16)
KID_V=$(uuid) KEY_V=$(openssl rand -hex 16)
KID_A=$(uuid) KEY_A=$(openssl rand -hex 16)
KID_C=$(uuid) KEY_C=$(openssl rand -hex 16)
WRONG=$(openssl rand -hex 16)
for k in "$KID:$KEY" "$KID_V:$KEY_V" "$KID_A:$KEY_A"; do
    xxd -r -p <<<"${k#*:}" >"$WWW/key/${k%%:*}"
done
xxd -r -p <<<"$KEY_C" >"$WWW/ck/$KID_C.key"
xxd -r -p <<<"$WRONG" >"$WWW/wrong/$KID"

FP=94ce86fb-07ff-4f43-adb8-93d2fa968ca2 CK=e2719d58-a985-b3c9-781a-b030af78d30e
# ladder: one key, Widevine, PlayReady, FairPlay (skd:// URI), ClearKey (no URI: key_uri=)
cpix "<cpix:ContentKeyList>$(key_hex "$KID" "$KEY")</cpix:ContentKeyList><cpix:DRMSystemList>" \
     "<cpix:DRMSystem kid=\"$KID\" systemId=\"$WV\"/><cpix:DRMSystem kid=\"$KID\" systemId=\"$PR\"/>" \
     "<cpix:DRMSystem kid=\"$KID\" systemId=\"$FP\"><cpix:URIExtXKey>$(text64 "skd://$KID")" \
     "</cpix:URIExtXKey></cpix:DRMSystem><cpix:DRMSystem kid=\"$KID\" systemId=\"$CK\"/>" \
     "</cpix:DRMSystemList>" >"$KEYS/ladder/ladder.cpix.xml"
# sep: a video key and an audio key, no DRM system (clear keys: identity lines, key_uri=)
cpix "<cpix:ContentKeyList>$(key_hex "$KID_V" "$KEY_V")$(key_hex "$KID_A" "$KEY_A")</cpix:ContentKeyList>" \
     "<cpix:ContentKeyUsageRuleList>$(rule "$KID_V" VideoFilter)$(rule "$KID_A" AudioFilter)" \
     "</cpix:ContentKeyUsageRuleList>" >"$KEYS/sep/sep.cpix.xml"
# ck: the key URI from the CPIX (ClearKey URIExtXKey), FairPlay lines given by the CPIX
CK_URI="$URL/ck/$KID_C.key"
FP_FORMAT='KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"'
FP_MEDIA="#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://given/$KID_C\",$FP_FORMAT"
FP_MASTER="#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://given-master/$KID_C\",$FP_FORMAT"
cpix "<cpix:ContentKeyList>$(key_hex "$KID_C" "$KEY_C")</cpix:ContentKeyList><cpix:DRMSystemList>" \
     "<cpix:DRMSystem kid=\"$KID_C\" systemId=\"$CK\"><cpix:URIExtXKey>$(text64 "$CK_URI")" \
     "</cpix:URIExtXKey></cpix:DRMSystem><cpix:DRMSystem kid=\"$KID_C\" systemId=\"$FP\">" \
     "<cpix:HLSSignalingData playlist=\"media\">$(text64 "$FP_MEDIA")</cpix:HLSSignalingData>" \
     "<cpix:HLSSignalingData playlist=\"master\">$(text64 "$FP_MASTER")</cpix:HLSSignalingData>" \
     "</cpix:DRMSystem></cpix:DRMSystemList>" >"$KEYS/ck/ck.cpix.xml"

# ---- without a key URI: no cbc names, one log line (the command line, no key_uri=) -------
ism --keys="$KEYS" ls "$SRC" ladder/ladder.ism >"$TMP/ls.out" 2>"$TMP/ls.err"
check "without key_uri=, the ladder lists no AES-128 name" bash -c "! grep -q 'encryption=cbc)' '$TMP/ls.out'"
check "without key_uri=, it still lists its m3u8-cmaf names" grep -q 'm3u8-cmaf,encryption=cenc' "$TMP/ls.out"
n=$(grep -c 'no key URI' "$TMP/ls.err")
if [ "$n" = 1 ] && grep -q "$KID" "$TMP/ls.err"; then
    ok "without key_uri=: one log line naming the KID ($(grep 'no key URI' "$TMP/ls.err" | cut -c1-150))"
else
    not_ok "without key_uri=: $n log lines about the missing key URI: $(head -c 300 "$TMP/ls.err")"
fi
ism --keys="$KEYS" cat "$SRC" 'ladder/ladder.ism/manifest(format=m3u8-aapl,encryption=cbc)' \
    >/dev/null 2>"$TMP/cat.err"
check "without key_uri=, the cbc master is ENOENT" grep -q 'No such file' "$TMP/cat.err"
check "key_uri= with a blank is refused" \
    bash -c "! '$ISMFS' --cache='$TMP/c3' --key-uri='http://x/a b' ls '$SRC' >/dev/null 2>&1"

mount_fg "$SRC" "$MNT" "cache=$TMP/cache,keys=$KEYS,key_uri=$URL/key/{kid}" || bail "no mount"
LOG=$MNT.log
A=$MNT/ladder/ladder.ism S=$MNT/sep/sep.ism C=$MNT/ck/ck.ism
V='QualityLevels(852353)' AU='QualityLevels(130544)' VT=video AT=aac_eng_2_130544_1_1
VIDEO_QL=('QualityLevels(852353)' 'QualityLevels(423612)' 'QualityLevels(216131)')


# ---- (1) names ---------------------------------------------------------------------------
mans=$(cd "$A" && printf '%s\n' 'manifest(format=m3u8'* | sort)
want=$(printf '%s\n' 'manifest(format=m3u8-aapl,encryption=cbc)' \
    'manifest(format=m3u8-aapl-v3,encryption=cbc)' 'manifest(format=m3u8-cmaf,encryption=cenc)' \
    'manifest(format=m3u8-cmaf,encryption=cbc)' \
    'manifest(format=m3u8-cmaf,encryption=cbcs-aapl)' \
    'manifest(format=m3u8-aapl,encryption=cbcs-aapl)' \
    'manifest(format=m3u8-aapl-v3,encryption=cbcs-aapl)' | sort)
if [ "$mans" = "$want" ]; then
    ok "the asset lists the HLS masters: m3u8-aapl, -v3 in cbc, cbcs-aapl; m3u8-cmaf in cbc, cenc, cbcs-aapl"
else
    not_ok "the asset lists these HLS masters: $(tr '\n' ' ' <<<"$mans")"
fi
for m in "$V/Manifest($VT,format=m3u8-aapl,type=keyframes,encryption=cbc)" \
         "$V/Manifest($VT,format=m3u8-aapl,type=keyframes,encryption=cbcs-aapl)" \
         "$V/Manifest($VT,format=m3u8-cmaf,type=keyframes,encryption=cbc)" \
         'manifest(format=mpd-time-csf,encryption=cbc)' 'manifest(format=m3u8-aapl,encryption=cenc)' \
         "$V/Fragments($VT=i,format=m3u8-aapl,encryption=cbc)"; do
    expect "not served: $m" ENOENT "$A/$m"
done
for m in 'manifest(format=m3u8-aapl)' "$V/Manifest($VT,format=m3u8-cmaf)" \
         "$V/Fragments($VT=0,format=m3u8-aapl)"; do
    expect "clear $m of a protected asset" EACCES "$A/$m"
done
check "the 852353 folder lists an AES-128 TS segment" \
    bash -c "ls '$A/$V' | grep -qxF 'Fragments($VT=0,format=m3u8-aapl,encryption=cbc)'"
check "the 852353 folder lists an AES-128 CMAF init and segment" \
    bash -c "ls '$A/$V' | grep -cxF -e 'Fragments($VT=i,format=cmaf,encryption=cbc)' \
                                   -e 'Fragments($VT=0,format=cmaf,encryption=cbc)' | grep -qx 2"
python3 "$ROOT/tests/lib/hls_keys.py" crawl "$A" || fail=1
python3 "$ROOT/tests/lib/hls_keys.py" crawl "$S" || fail=1

python3 - "$A" "$S" <<'EOF'
import os, sys
bad, n = [], 0
for root in sys.argv[1:]:
    for d, _, files in os.walk(root):
        for f in files:
            if 'm3u8' not in f and 'encryption=cbc)' not in f:
                continue
            p = os.path.join(d, f)
            with open(p, 'rb') as fh:
                data = fh.read()
            n += 1
            if len(data) != os.stat(p).st_size:
                bad.append('%s: stat %d, read %d' % (f, os.stat(p).st_size, len(data)))
print('%s - %d HLS names (playlists, AES-128 segments): stat size == bytes read %s'
      % ('ok' if not bad and n > 50 else 'not ok', n, '; '.join(bad[:3])))
EOF

# ---- (2) AES-128: ffmpeg decodes through the key server -------------------------------------
# Decoded frames as "stream md5" lines: the HLS demuxer and a plain concatenation of the
# segments give audio different timestamps, so the frames are compared by content and order.
frames() { grep -v '^#' | awk -F', *' '{ print $1, $NF }'; }
hls_md5() {    # hls_md5 PLAYLIST: the frames of every stream, by ffmpeg's HLS demuxer
    ffmpeg -nostdin -v error -allowed_extensions ALL -extension_picky 0 \
        -protocol_whitelist file,http,tcp,crypto,data -i "$1" -map 0 -f framemd5 - 2>/dev/null |
        frames
}
clear_md5() {    # clear_md5 ASSET QL PLAYLIST [ENC]: its segments, clear, from `ismfs cat`
    local s
    grep -v '^#' "$3" | while read -r s; do
        ism cat "$SRC" "$1/$2/${s/,encryption=${4:-cbc})/)}"
    done | ffmpeg -nostdin -v error -i pipe:0 -map 0 -f framemd5 - 2>/dev/null | frames
}
decodes() {    # decodes WHAT ASSETDIR ASSET QL PLAYLIST_NAME [ENC]
    local pl=$2/$4/$5 want got
    want=$(clear_md5 "$3" "$4" "$pl" "${6:-cbc}")
    got=$(hls_md5 "$pl")
    if [ -n "$want" ] && [ "$got" = "$want" ]; then
        ok "$1: ffmpeg's HLS demuxer decodes the ${6:-cbc} playlist to the clear frames ($(wc -l <<<"$want") frames)"
    else
        not_ok "$1: ${6:-cbc} decode differs ($(wc -l <<<"$got") of $(wc -l <<<"$want") frames)"
    fi
}
for q in "${VIDEO_QL[@]}"; do
    decodes "video $q" "$A" ladder/ladder.ism "$q" "Manifest($VT,format=m3u8-aapl,encryption=cbc)"
done
decodes "audio eng" "$A" ladder/ladder.ism "$AU" "Manifest($AT,format=m3u8-aapl,encryption=cbc)"
decodes "v3 video+audio" "$A" ladder/ladder.ism "$V" \
    "Manifest($VT,format=m3u8-aapl-v3,audiotrack=$AT,encryption=cbc)"
decodes "separate keys: video" "$S" sep/sep.ism 'QualityLevels(423612)' \
    "Manifest($VT,format=m3u8-aapl,encryption=cbc)"
decodes "separate keys: audio" "$S" sep/sep.ism "$AU" "Manifest($AT,format=m3u8-aapl,encryption=cbc)"
decodes "key URI from the CPIX" "$C" ck/ck.ism "$V" "Manifest($VT,format=m3u8-aapl,encryption=cbc)"
# fMP4: the clear init section, then the clear segments the playlist names
clear_cmaf_md5() {    # clear_cmaf_md5 QL PLAYLIST
    local s
    { ism cat "$SRC" "ladder/ladder.ism/$1/$(sed -n 's/^#EXT-X-MAP:URI="\(.*\),encryption=cbc)"$/\1)/p' "$2")"
      grep -v '^#' "$2" | while read -r s; do ism cat "$SRC" "ladder/ladder.ism/$1/${s/,encryption=cbc)/)}"; done
    } | ffmpeg -nostdin -v error -i pipe:0 -map 0 -f framemd5 - 2>/dev/null | frames
}
for c in "$V Manifest($VT,format=m3u8-cmaf,encryption=cbc)" \
         "$AU Manifest($AT,format=m3u8-cmaf,encryption=cbc)"; do
    q=${c%% *} pl=$A/$q/${c#* }
    want=$(clear_cmaf_md5 "$q" "$pl")
    got=$(hls_md5 "$pl")
    if [ -n "$want" ] && [ "$got" = "$want" ]; then
        ok "m3u8-cmaf $q: ffmpeg's HLS demuxer decodes the AES-128 fMP4 playlist to the clear frames ($(wc -l <<<"$want") frames)"
    else
        not_ok "m3u8-cmaf $q: AES-128 decode differs ($(wc -l <<<"$got") of $(wc -l <<<"$want") frames)"
    fi
done
# Apple SAMPLE-AES TS: the identity line (key URI and the constant IV, written last) is what
# ffmpeg's HLS demuxer decrypts with. ffmpeg 5.1 decrypts a packet only while its segment is
# the current one, so what its parsers flush at the end of the input reaches the decoder
# encrypted (tests/integration/crypt_ts.sh): the playlist is copied with its key lines as
# they are, segment paths made absolute and the first segment once more at the end, and
# each stream's frames must begin with the clear ones.
saes_decodes() {    # saes_decodes WHAT QL PLAYLIST_NAME
    local pl=$A/$2/$3 want got
    want=$(clear_md5 ladder/ladder.ism "$2" "$pl" cbcs-aapl)
    sed -e '/^#EXT-X-ENDLIST/d' -e "s|^Fragments|$A/$2/Fragments|" "$pl" >"$TMP/saes.m3u8"
    printf '#EXTINF:2.000,\n%s/%s/%s\n#EXT-X-ENDLIST\n' "$A" "$2" \
        "$(grep -v '^#' "$pl" | head -1)" >>"$TMP/saes.m3u8"
    got=$(hls_md5 "$TMP/saes.m3u8")
    if python3 -c '
import sys
want, got = ([l.split() for l in a.splitlines() if l] for a in sys.argv[1:3])
streams = {l[0] for l in want}
ok = want and all([l for l in got if l[0] == s][:sum(w[0] == s for w in want)] ==
                  [l for l in want if l[0] == s] for s in streams)
sys.exit(0 if ok else 1)' "$want" "$got"; then
        ok "$1: ffmpeg's HLS demuxer decodes the SAMPLE-AES playlist to the clear frames ($(wc -l <<<"$want") frames)"
    else
        not_ok "$1: SAMPLE-AES decode differs ($(wc -l <<<"$got") frames for $(wc -l <<<"$want"))"
    fi
}
saes_decodes "SAMPLE-AES TS video" "$V" "Manifest($VT,format=m3u8-aapl,encryption=cbcs-aapl)"
saes_decodes "SAMPLE-AES TS audio" "$AU" "Manifest($AT,format=m3u8-aapl,encryption=cbcs-aapl)"
saes_decodes "SAMPLE-AES TS v3 video+audio" "$V" \
    "Manifest($VT,format=m3u8-aapl-v3,audiotrack=$AT,encryption=cbcs-aapl)"
check "key URI from the CPIX: the playlist names it, not key_uri=" \
    grep -qF "URI=\"$CK_URI\"" "$C/$V/Manifest($VT,format=m3u8-aapl,encryption=cbc)"
check "separate keys: the audio playlist names the audio KID's URI" \
    grep -qF "URI=\"$URL/key/$KID_A\"" "$S/$AU/Manifest($AT,format=m3u8-aapl,encryption=cbc)"
n=$(grep -c '^#EXT-X-SESSION-KEY:METHOD=AES-128' "$S/manifest(format=m3u8-aapl,encryption=cbc)")
check "separate keys: the master has one EXT-X-SESSION-KEY per key" test "$n" = 2
# v3 muxes the audio into video segments, which one EXT-X-KEY covers: not with two keys
for m in 'manifest(format=m3u8-aapl-v3,encryption=cbc)' \
         "QualityLevels(423612)/Manifest($VT,format=m3u8-aapl-v3,audiotrack=$AT,encryption=cbc)" \
         "QualityLevels(423612)/Fragments($VT=0,format=m3u8-aapl-v3,audiotrack=$AT,encryption=cbc)"; do
    expect "separate keys: no $m" ENOENT "$S/$m"
done
check "separate keys: no v3 name is listed" \
    bash -c "! ls '$S' '$S/QualityLevels(423612)' | grep -q 'm3u8-aapl-v3.*encryption'"

# a wrong key (the same playlist, its key URI pointing at another key) decodes nothing right
P="$A/$V/Manifest($VT,format=m3u8-aapl,encryption=cbc)"
sed -e "s|$URL/key/|$URL/wrong/|" -e "s|^Fragments|$A/$V/Fragments|" "$P" >"$TMP/wrong.m3u8"
want=$(clear_md5 ladder/ladder.ism "$V" "$P")
got=$(hls_md5 "$TMP/wrong.m3u8")
check "a wrong key does not decode the clear frames" test "$got" != "$want"
sed -e "s|^Fragments|$A/$V/Fragments|" "$P" >"$TMP/right.m3u8"
check "(the same rewritten playlist with the right key does)" test "$(hls_md5 "$TMP/right.m3u8")" = "$want"

# openssl enc over the clear segment with the playlist's IV gives the served bytes
openssl_same() {    # openssl_same WHAT QL PLAYLIST_NAME KEY
    local pl=$A/$2/$3 seg iv n=0 bad=0
    while read -r seg iv; do
        n=$((n + 1))
        ism cat "$SRC" "ladder/ladder.ism/$2/${seg/,encryption=cbc)/)}" >"$TMP/clear.ts"
        openssl enc -aes-128-cbc -K "$4" -iv "$iv" -in "$TMP/clear.ts" -out "$TMP/enc.ts" ||
            bad=$((bad + 1))
        cmp -s "$TMP/enc.ts" "$A/$2/$seg" || bad=$((bad + 1))
    done < <(awk -F'IV=0x' '/^#EXT-X-KEY/ { iv = $2; next }
                            /^#EXT-X-MAP:URI="/ { sub(/^#EXT-X-MAP:URI="/, ""); sub(/"$/, "")
                                                  print $0, iv; next }
                            /^[^#]/ { print $0, iv }' "$pl")
    if [ "$n" -gt 2 ] && [ "$bad" = 0 ]; then
        ok "$1: all $n segments are openssl enc -aes-128-cbc of the clear ones with the playlist's IVs"
    else
        not_ok "$1: $bad of $n segments differ from openssl enc"
    fi
}
openssl_same "video 852353" "$V" "Manifest($VT,format=m3u8-aapl,encryption=cbc)" "$KEY"
openssl_same "audio eng" "$AU" "Manifest($AT,format=m3u8-aapl,encryption=cbc)" "$KEY"
openssl_same "m3u8-cmaf video 852353 (init too)" "$V" "Manifest($VT,format=m3u8-cmaf,encryption=cbc)" "$KEY"

# IVs: every AES-128 playlist of the ladder (one key), v4 and v3
mapfile -t pls < <(find "$A" -name '*format=m3u8-*encryption=cbc)' -path '*QualityLevels*' \
                   -name 'Manifest*')
pls+=("$A/$V/Manifest($VT,format=m3u8-aapl,filter=trim,encryption=cbc)"
      "$A/$V/Manifest($VT,format=m3u8-aapl-v3,audiotrack=$AT,filter=trim,encryption=cbc)"
      "$A/$V/Manifest($VT,format=m3u8-cmaf,filter=trim,encryption=cbc)")
python3 "$ROOT/tests/lib/hls_keys.py" aes "$URL/key/$KID" "${pls[@]}" || fail=1
check "the filtered master names the filtered playlists with the encryption" \
    grep -qxF "$V/Manifest($VT,format=m3u8-aapl,filter=trim,encryption=cbc)" \
    "$A/manifest(format=m3u8-aapl,filter=trim,encryption=cbc)"
check "the AES-128 masters carry EXT-X-SESSION-KEY with the key URI" \
    grep -qxF "#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"$URL/key/$KID\"" \
    "$A/manifest(format=m3u8-aapl-v3,encryption=cbc)"

# ---- (3) m3u8-cmaf signalling --------------------------------------------------------------
for enc in cenc cbcs-aapl; do
    method=SAMPLE-AES systems=fairplay,widevine,playready,identity
    [ "$enc" = cenc ] && method=SAMPLE-AES-CTR systems=widevine,playready,identity
    python3 "$ROOT/tests/lib/hls_keys.py" sample "$method" "$KID" "$URL/key/$KID" "$systems" \
        "$A/manifest(format=m3u8-cmaf,encryption=$enc)" \
        "$A/$V/Manifest($VT,format=m3u8-cmaf,encryption=$enc)" \
        "$A/$V/Manifest($VT,format=m3u8-cmaf,type=keyframes,encryption=$enc)" \
        "$A/$AU/Manifest($AT,format=m3u8-cmaf,encryption=$enc)" || fail=1
done
python3 "$ROOT/tests/lib/hls_keys.py" sample SAMPLE-AES "$KID_V" "$URL/key/$KID_V" identity \
    "$S/QualityLevels(423612)/Manifest($VT,format=m3u8-cmaf,encryption=cbcs-aapl)" || fail=1
check "the CPIX's HLSSignalingData (media) is written as given" \
    grep -qxF "$FP_MEDIA" "$C/$V/Manifest($VT,format=m3u8-cmaf,encryption=cbcs-aapl)"
check "the CPIX's HLSSignalingData (master) is written as given" \
    grep -qxF "$FP_MASTER" "$C/manifest(format=m3u8-cmaf,encryption=cbcs-aapl)"
P="$A/$V/Manifest($VT,format=m3u8-aapl,encryption=cbcs-aapl)"
grep '^#EXT-X-KEY:' "$P" >"$TMP/saes.keys"
if [ "$(wc -l <"$TMP/saes.keys")" = 2 ] &&
   [ "$(head -1 "$TMP/saes.keys")" = "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://$KID\",$FP_FORMAT" ] &&
   tail -1 "$TMP/saes.keys" | grep -Eq "^#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"$URL/key/$KID\",IV=0x[0-9A-F]{32}\$"; then
    ok "SAMPLE-AES TS: the FairPlay line, then the identity line with URI and IV, last"
else
    not_ok "SAMPLE-AES TS key lines: $(tr '\n' ' ' <"$TMP/saes.keys" | head -c 400)"
fi
check "m3u8-cmaf cbcs-aapl segments are the CMAF cbcs files" \
    grep -qF 'Fragments(video=0,format=cmaf,encryption=cbcs)' \
    "$A/$V/Manifest($VT,format=m3u8-cmaf,encryption=cbcs-aapl)"

# ---- (4) the keys appear nowhere in the mount ----------------------------------------------
python3 - "$MNT" "$LOG" "$KEY" "$KEY_V" "$KEY_A" "$KEY_C" <<'EOF'
import base64, os, sys
mnt, log = sys.argv[1:3]
pats = []
for h in sys.argv[3:]:
    raw = bytes.fromhex(h)
    pats += [raw, h.encode(), h.upper().encode(), base64.b64encode(raw),
             base64.b64encode(raw).rstrip(b'='), base64.urlsafe_b64encode(raw).rstrip(b'=')]
files, hits = 0, []
for path in [os.path.join(d, f) for d, _, fs in os.walk(mnt) for f in fs] + [log]:
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except PermissionError:
        continue                        # EACCES: the clear names of protected assets
    files += 1
    if any(p in data for p in pats):
        hits.append(path)
print('%s - the keys (raw, hex, base64) are in none of %d files of the mount and the log%s'
      % ('ok' if files > 100 and not hits else 'not ok', files,
         ': ' + ', '.join(hits[:3]) if hits else ''))
EOF

check "the daemon is alive" is_mounted "$MNT"
unmount "$MNT" || not_ok "unmount"
kill "$SERVER" 2>/dev/null
wait "$SERVER" 2>/dev/null || true     # ended by our SIGTERM: not the test's status
