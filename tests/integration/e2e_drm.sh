#!/usr/bin/env bash
# Encrypted DASH and HLS played by a real player (issue 6): a protected copy of the ladder (hard
# links of its files; keys=DIR with a CPIX 2.3 document made here: a content key for the video
# and another for the audio, from `openssl rand`, chosen by usage rules; DRM systems Widevine,
# PlayReady and ClearKey), mounted with $ISMFS, served by nginx (tests/lib/e2e_lib.sh), played
# in headless Chromium by shaka-player with EME ClearKey (drm.clearKeys = {KID: key, ...}, the
# pairs of the CPIX; tests/e2e/play.mjs):
#   - over HTTP, nginx answers 403 for every clear name of the protected asset (the mount says
#     EACCES; nginx's static module maps an open() EACCES to 403 Forbidden and logs "(13:
#     Permission denied)") and for its source MP4s, 404 for a name that does not exist, 200
#     for the encrypted ones;
#   - DASH manifest(format=mpd-time-csf|mpd-time-cmaf,encryption=cenc|cbcs) and HLS
#     manifest(format=m3u8-cmaf,encryption=cbcs-aapl|cenc): shaka runs org.w3.clearkey with both
#     KIDs usable, and play.mjs's checks all pass: duration, renditions, languages; the top
#     rendition plays from 0 to the end with currentTime advancing; after a seek to the middle
#     (and a switch to the next rendition) it plays to the end; French audio from 0 to the end;
#     no player or media error; every request answered. And the pixels are right: paused at
#     the start and at the end, the element shows frame 0 and the last frame of the source,
#     identified against the source's frames decoded by ffmpeg (the region where testsrc2 draws
#     the time code; from a screenshot: Chromium lets no page read an EME video's pixels);
#   - HLS AES-128 over CMAF, manifest(format=m3u8-cmaf,encryption=cbc) (no EME: shaka fetches
#     each key from the key URI, key_uri=/e2e-keys/{kid} in a second mount, which nginx serves
#     from files made here, and decrypts init sections and segments itself): the same checks,
#     with the pixels read from the element;
#   - the negatives: the right KIDs, one key replaced by another (openssl rand): the video key
#     (DASH cenc and cbcs, HLS cbcs-aapl, cenc and cbc: the key file nginx serves) or the
#     audio key (DASH cenc): the player fetches the encrypted segments but does not play (an
#     error, or the playhead stays in the first fragment).
# Chromium needs no flag for ClearKey: its ClearKey CDM is built in (no component download, so
# --disable-component-update does not matter) and works headless; EME needs a secure context,
# which http://127.0.0.1 is (another host would need --unsafely-treat-insecure-origin-as-secure).
#   ISMFS=/tmp/b/asan/ismfs bash tests/integration/e2e_drm.sh [FORMAT:ENC,...]
#   (FORMAT:ENC: the positive cases to run, e.g. mpd-time-csf:cbcs; default all)
#   E2E_DRM_KEY=HEX: the video key given to the player in the positive cases (to see them fail)
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/e2e_lib.sh
source "$ROOT/tests/lib/e2e_lib.sh"
need ffmpeg openssl xxd
e2e_need
e2e_trap_mount_lib
SRC=$TMP/src KEYS=$TMP/keys MNT=$TMP/mnt
mkdir -p "$SRC" "$KEYS/ladder" || bail "mkdir"
cp -al "$FIX/ladder" "$SRC/" 2>/dev/null || cp -a "$FIX/ladder" "$SRC/" || bail "cannot copy the ladder"

# A key for the video, another for the audio: each negative case makes one of them wrong, so
# each track is shown to need its key (with one key for all, a wrong key fails the audio first
# and says nothing of the video).
uuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }
b64() { python3 -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$1"; }
KID_V=$(uuid) KEY_V=$(openssl rand -hex 16) KID_A=$(uuid) KEY_A=$(openssl rand -hex 16)
WRONG=$(openssl rand -hex 16)
for x in "${KID_V//-/}" "$KEY_V" "${KID_A//-/}" "$KEY_A" "$WRONG"; do
    [[ "$x" =~ ^[0-9a-f]{32}$ ]] || bail "no KID or key ($x)"
done
WV=edef8ba9-79d6-4ace-a3c8-27dcd51d21ed PR=9a04f079-9840-4286-ab92-e65be0885f95
CK=e2719d58-a985-b3c9-781a-b030af78d30e
# ckey KID KEY: a ContentKey; drm KID: its DRM systems; rule KID FILTER: a usage rule
ckey() {
    printf '  <cpix:ContentKey kid="%s"><cpix:Data><pskc:Secret><pskc:PlainValue>%s' "$1" "$(b64 "$2")"
    printf '</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>\n'
}
drm() {
    local s
    for s in "$WV" "$PR" "$CK"; do printf '  <cpix:DRMSystem kid="%s" systemId="%s"/>\n' "$1" "$s"; done
}
rule() { printf '  <cpix:ContentKeyUsageRule kid="%s"><cpix:%s/></cpix:ContentKeyUsageRule>\n' "$1" "$2"; }
cat >"$KEYS/ladder/ladder.cpix.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" contentId="e2e" version="2.3">
<cpix:ContentKeyList>
$(ckey "$KID_V" "$KEY_V")
$(ckey "$KID_A" "$KEY_A")
</cpix:ContentKeyList>
<cpix:DRMSystemList>
$(drm "$KID_V")
$(drm "$KID_A")
</cpix:DRMSystemList>
<cpix:ContentKeyUsageRuleList>
$(rule "$KID_V" VideoFilter)
$(rule "$KID_A" AudioFilter)
</cpix:ContentKeyUsageRuleList>
</cpix:CPIX>
EOF
# keys VIDEOKEY AUDIOKEY: shaka's drm.clearKeys as play.mjs takes it (KID:KEY,..., hex)
keys() { echo "${KID_V//-/}:$1,${KID_A//-/}:$2"; }
# key_files VIDEOKEY AUDIOKEY: the AES-128 key files nginx serves at /e2e-keys/KID
export E2E_KEYS_DIR=$TMP/www-keys
key_files() {
    mkdir -p "$E2E_KEYS_DIR" && xxd -r -p <<<"$1" >"$E2E_KEYS_DIR/$KID_V" &&
        xxd -r -p <<<"$2" >"$E2E_KEYS_DIR/$KID_A" || bail "cannot write the key files"
}
key_files "$KEY_V" "$KEY_A"

e2e_ladder_info "$FIX/$LADDER" "$TMP/cat-cache"
# The source's frames (top rendition): the region where testsrc2 draws the time code and the
# frame number, as 8-bit luma (what play.mjs identifies the frame shown by).
CROP=0,0,104,36
IFS=, read -r cx cy cw ch <<<"$CROP"
if ! ffmpeg -nostdin -v error -i "$FIX/ladder/$VIDEO_SRC" -vf "crop=$cw:$ch:$cx:$cy,format=gray" \
        -f rawvideo "$TMP/frames.gray" 2>"$TMP/ffmpeg.err" || [ -s "$TMP/ffmpeg.err" ]; then
    bail "ffmpeg cannot decode $VIDEO_SRC: $(head -c 300 "$TMP/ffmpeg.err")"
fi

mount_fg "$SRC" "$MNT" "cache=$TMP/cache,keys=$KEYS" || exit 1
e2e_nginx_start "$MNT" "$LADDER/manifest(format=mpd-time-csf,encryption=cenc)"

# ---- over HTTP: clear names refused ------------------------------------------------------
# status PATH: the HTTP status nginx answers for GET /PATH
status() {
    python3 - "http://127.0.0.1:$PORT/$1" <<'EOF'
import sys, urllib.error, urllib.parse, urllib.request
url = urllib.parse.quote(sys.argv[1], safe=':/(),=')
try:
    with urllib.request.urlopen(url, timeout=30) as r:
        r.read()
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print('no answer: %s' % e)
EOF
}
expect_status() {    # expect_status WHAT CODE PATH
    local got
    got=$(status "$3")
    if [ "$got" = "$2" ]; then ok "HTTP $2 for $1"; else not_ok "HTTP $got, not $2, for $1 (/$3)"; fi
}
V=
for q in "$MNT/$LADDER"/QualityLevels*; do
    [ -e "$q/Fragments($VIDEO_NAME=i,format=cmaf,encryption=cenc)" ] && V=${q##*/} && break
done
[ -n "$V" ] || bail "no QualityLevels of $MNT/$LADDER has the encrypted $VIDEO_NAME init segment"
vfrag=$(cd "$MNT/$LADDER/$V" && printf '%s\n' "Fragments($VIDEO_NAME="*",format=cmaf,encryption=cenc)" |
            grep -v "=i," | head -1)
if [ -z "$vfrag" ] || [ ! -e "$MNT/$LADDER/$V/$vfrag" ]; then
    bail "no encrypted video fragment in $MNT/$LADDER/$V"
fi
clear_frag=${vfrag/,encryption=cenc/}
for m in 'manifest(format=mpd-time-csf)' 'manifest(format=mpd-time-cmaf)' 'manifest(format=m3u8-cmaf)' \
         'manifest' "$V/Fragments($VIDEO_NAME=i,format=cmaf)" "$V/$clear_frag" \
         "$V/Manifest($VIDEO_NAME,format=m3u8-cmaf)"; do
    expect_status "the clear $m of the protected asset" 403 "$LADDER/$m"
done
expect_status "the source MP4 of the protected asset (ladder/$VIDEO_SRC)" 403 "ladder/$VIDEO_SRC"
if grep -qF '(13: Permission denied)' "$TMP/nginx/logs/error.log" "$TMP/nginx/error.log" 2>/dev/null; then
    ok "nginx logs the 403s as the mount's EACCES ((13: Permission denied))"
else
    not_ok "nginx's error log has no '(13: Permission denied)': $(cat "$TMP/nginx/logs/error.log" \
        "$TMP/nginx/error.log" 2>/dev/null | tail -2 | tr '\n' ' ' | head -c 300)"
fi
expect_status "a name that does not exist (ENOENT)" 404 "$LADDER/manifest(format=mpd-time-csf,encryption=piff)"
for m in 'manifest(format=mpd-time-csf,encryption=cenc)' 'manifest(format=mpd-time-cmaf,encryption=cbcs)' \
         'manifest(format=m3u8-cmaf,encryption=cbcs-aapl)' 'manifest(format=m3u8-cmaf,encryption=cenc)' \
         "$V/Fragments($VIDEO_NAME=i,format=cmaf,encryption=cbcs)" "$V/$vfrag"; do
    expect_status "the encrypted $m" 200 "$LADDER/$m"
done

# ---- shaka-player with ClearKey -----------------------------------------------------------
common=(--asset "$LADDER" --heights "$HEIGHTS" --frames "$FRAMES" --duration "$DURATION" --rate 4
        --timeout 60)
frames=(--frame-ref "$TMP/frames.gray" --frame-crop "$CROP" --first-frame 0 --last-frame $((FRAMES - 1)))
want() { [ -z "${1:-}" ] || [[ ",$1," == *",$2,"* ]]; }     # want SELECTION FORMAT:ENC
for enc in cenc cbcs; do
    only=
    for f in mpd-time-csf mpd-time-cmaf; do want "${1:-}" "$f:$enc" && only+=${only:+,}$f; done
    [ -z "$only" ] || e2e_play "${common[@]}" "${frames[@]}" --only "$only" --encryption "$enc" \
        --clear-keys "$(keys "${E2E_DRM_KEY:-$KEY_V}" "$KEY_A")" || fail=1
done
for enc in cbcs-aapl cenc; do
    want "${1:-}" "m3u8-cmaf:$enc" || continue
    e2e_play "${common[@]}" "${frames[@]}" --only m3u8-cmaf --encryption "$enc" \
        --clear-keys "$(keys "${E2E_DRM_KEY:-$KEY_V}" "$KEY_A")" || fail=1
done

# The negatives: the right KIDs, one wrong key.
for c in "mpd-time-csf cenc video" "mpd-time-csf cbcs video" "mpd-time-csf cenc audio" \
         "m3u8-cmaf cbcs-aapl video" "m3u8-cmaf cenc video"; do
    read -r f enc track <<<"$c"
    if [ "$track" = video ]; then k=$(keys "$WRONG" "$KEY_A"); else k=$(keys "$KEY_V" "$WRONG"); fi
    e2e_play "${common[@]}" --only "$f" --encryption "$enc" --clear-keys "$k" \
        --expect-no-play "a wrong $track key" || fail=1
done

# HLS AES-128 over CMAF: a key URI (key_uri=) gives the asset its cbc names; it also adds
# identity key lines to the SAMPLE-AES playlists above, so it gets a mount of its own.
e2e_nginx_stop
unmount "$MNT" || bail "fusermount3 -u $MNT failed"
mount_fg "$SRC" "$MNT" "cache=$TMP/cache,keys=$KEYS,key_uri=/e2e-keys/{kid}" || exit 1
e2e_nginx_start "$MNT" "$LADDER/manifest(format=m3u8-cmaf,encryption=cbc)"
if want "${1:-}" m3u8-cmaf:cbc; then
    key_files "${E2E_DRM_KEY:-$KEY_V}" "$KEY_A"
    e2e_play "${common[@]}" "${frames[@]}" --only m3u8-cmaf --encryption cbc || fail=1
fi
key_files "$WRONG" "$KEY_A"
e2e_play "${common[@]}" --only m3u8-cmaf --encryption cbc \
    --expect-no-play "a wrong video key file" || fail=1

e2e_nginx_stop
unmount "$MNT" || not_ok "fusermount3 -u $MNT failed"
sanitizer_check
exit "$fail"
