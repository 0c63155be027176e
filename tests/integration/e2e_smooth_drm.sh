#!/usr/bin/env bash
# Encrypted Smooth Streaming played by a real player (issue 6): the ladder with a CPIX made here
# (one key, PlayReady and Widevine systems), mounted with keys=DIR, served by nginx
# (tests/lib/e2e_lib.sh), played by dash.js 4 + MSS in headless Chromium with EME ClearKey
# (tests/e2e/play_smooth_drm.mjs, tests/e2e/smooth_drm.html) as manifest(encryption=cenc) (senc
# boxes) and manifest(encryption=piff) (PIFF 1.1 uuid boxes): ClearKey selected, the KID read
# from the ProtectionHeader and the one the licence request names are the CPIX's, it plays to
# the end with its frames decoded, no error; with a wrong key it does not.
# dash.js makes only PlayReady and Widevine entries from a Smooth ProtectionHeader, which a test
# Chromium cannot use; the page adds a ClearKey entry for the KID dash.js read from the header
# (see smooth_drm.html): the player's own conversion of the manifest and fragments is untouched.
#   ISMFS=/tmp/b/asan/ismfs bash tests/integration/e2e_smooth_drm.sh [cenc,piff]
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/e2e_lib.sh
source "$ROOT/tests/lib/e2e_lib.sh"
need openssl
e2e_need
e2e_trap_mount_lib
SRC=$TMP/src KEYS=$TMP/keys MNT=$TMP/mnt
mkdir -p "$SRC" "$KEYS/ladder"
cp -al "$FIX/ladder" "$SRC/" 2>/dev/null || cp -a "$FIX/ladder" "$SRC/" || bail "cannot copy the ladder"

KID=$(python3 -c 'import uuid; print(uuid.uuid4())') KEY=$(openssl rand -hex 16)
WRONG=$(openssl rand -hex 16)
B64=$(python3 -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$KEY")
cat >"$KEYS/ladder/ladder.cpix.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"
           contentId="e2e" version="2.3">
  <cpix:ContentKeyList>
    <cpix:ContentKey kid="$KID"><cpix:Data><pskc:Secret><pskc:PlainValue>$B64</pskc:PlainValue>
    </pskc:Secret></cpix:Data></cpix:ContentKey>
  </cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="$KID" systemId="9a04f079-9840-4286-ab92-e65be0885f95"/>
    <cpix:DRMSystem kid="$KID" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"/>
  </cpix:DRMSystemList>
</cpix:CPIX>
EOF
e2e_ladder_info "$FIX/$LADDER" "$TMP/cat-cache"

mount_fg "$SRC" "$MNT" "cache=$TMP/cache,keys=$KEYS" || exit 1
e2e_nginx_start "$MNT" "$LADDER/manifest(encryption=cenc)"
t0=$(date +%s.%N)
timeout -k 10 "${E2E_TIMEOUT:-600}" node "$ROOT/tests/e2e/play_smooth_drm.mjs" \
    --base "http://127.0.0.1:$PORT" --asset "$LADDER" --kid "$KID" --key "$KEY" --wrong-key "$WRONG" \
    --duration "$DURATION" --frames "$FRAMES" --enc "${1:-cenc,piff}" --rate 4 --timeout 90 || {
    fail=1
    e2e_nginx_errors
}
echo "# player: $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"
e2e_nginx_stop
check "the daemon is alive" is_mounted "$MNT"
unmount "$MNT" || not_ok "unmount"
