#!/usr/bin/env bash
# nginx with examples/nginx.conf (open_file_cache on: it keeps files of the mount open and only
# re-stats them after open_file_cache_valid) in front of a mount whose sources change:
#   - a fragment, a manifest and a passthrough MP4 are fetched (nginx now holds them open);
#   - an MP4 of the asset is replaced by different media (temp + mv), and the passthrough
#     MP4 too; after the kernel's attribute timeout and nginx's re-stat (1 s each), each URL
#     answers with the bytes and the Content-Length of the new version (`ismfs cat` of the
#     new source), never the old bytes under the new size or a short body;
#   - the inode number of the fragment changed (what makes nginx reopen it), a file that did
#     not change kept its number, and `ls -i` agrees with `stat`.
# The danger this guards: nginx compares st_ino to decide whether its cached descriptor is
# still the file; a FUSE file whose inode stays while its content changes would be served
# from the old descriptor (old bytes) with the new size.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/e2e_lib.sh
source "$ROOT/tests/lib/e2e_lib.sh"
need curl python3
[ -x "$NGINX" ] || bail "nginx is not installed (scripts/deps.sh installs it)"
[ -f "$ROOT/examples/nginx.conf" ] || bail "no examples/nginx.conf"
grep -q '^ *open_file_cache max' "$ROOT/examples/nginx.conf" ||
    echo "# examples/nginx.conf has no open_file_cache: the test still checks the bytes"
e2e_trap_mount_lib

SRC=$TMP/src MNT=$TMP/mnt
mkdir -p "$SRC"
cp -a "$FIX/ladder" "$SRC/ladder" || bail "cannot copy the ladder"      # real copies: replaced
A=ladder/ladder.ism
mount_fg "$SRC" "$MNT" || exit 1
e2e_nginx_start "$MNT" "$A/manifest"

# the English audio track's first CMAF fragment, and a video fragment (its sources stay)
audio_q=''
for q in $(ism ls "$SRC" "$A" | grep -F "QualityLevels("); do
    if ism ls "$SRC" "$A/$q" | grep -q '^Fragments(aac_eng'; then audio_q=${q%/}; break; fi
done
[ -n "$audio_q" ] || bail "no aac_eng track in $A"
FRAG="$A/$audio_q/$(ism ls "$SRC" "$A/$audio_q" | grep -m1 '^Fragments(aac_eng[^=]*=0,format=cmaf)')"
[ "$FRAG" != "$A/$audio_q/" ] || bail "no first aac_eng CMAF fragment"
MAN="$A/manifest(format=mpd-time-csf)"
MP4=ladder/ladder_aac_eng.mp4

# url VPATH: VPATH percent-encoded for curl
url() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
# fetch VPATH OUT: the body into OUT, prints "status content-length"
fetch() {
    curl -s -o "$2" -w '%{http_code} %header{content-length}' "http://127.0.0.1:$PORT/$(url "$1")"
}

KEEP=ladder/ladder_320x180.mp4
for f in "$FRAG" "$MAN" "$MP4"; do   # twice: nginx now holds each one open
    fetch "$f" "$TMP/first" >/dev/null
    fetch "$f" "$TMP/first" >/dev/null
done
ino_before=$(stat -c %i "$MNT/$FRAG") keep_before=$(stat -c %i "$MNT/$KEEP")
ism cat "$SRC" "$FRAG" >"$TMP/frag.old" || bail "ismfs cat $FRAG"

# the English audio becomes the French one (different samples, so different fragment bytes)
replace "$SRC/ladder/ladder_aac_eng.mp4" "$SRC/ladder/ladder_aac_fra.mp4"
ism cat "$SRC" "$FRAG" >"$TMP/frag.new" || bail "ismfs cat $FRAG after the change"
cmp -s "$TMP/frag.old" "$TMP/frag.new" && bail "the replacement did not change $FRAG"
sleep 2.5                       # kernel attribute timeout (1 s) + open_file_cache_valid (1 s)

for f in "$FRAG" "$MAN" "$MP4"; do
    if [ "$f" = "$MP4" ]; then cp "$SRC/$MP4" "$TMP/want"; else ism cat "$SRC" "$f" >"$TMP/want"; fi
    read -r status len < <(fetch "$f" "$TMP/got")
    check "after the change, nginx serves $f: status 200" [ "$status" = 200 ]
    check "after the change, $f: Content-Length = the new version's size" \
        [ "$len" = "$(stat -c %s "$TMP/want")" ]
    check "after the change, $f: the bytes of the new version" cmp -s "$TMP/want" "$TMP/got"
done
check "the replaced source gave the fragment a new inode number" \
    [ "$(stat -c %i "$MNT/$FRAG")" != "$ino_before" ]
check "a passthrough file that did not change kept its inode number" \
    [ "$(stat -c %i "$MNT/$KEEP")" = "$keep_before" ]
read -r ino_ls < <(ls -i "$MNT/$(dirname "$FRAG")" | awk -v n="$(basename "$FRAG")" \
    '{ i = $1; sub(/^ *[0-9]+ /, ""); if ($0 == n) print i }')
check "ls -i of the directory and stat agree on the inode number" \
    [ "$ino_ls" = "$(stat -c %i "$MNT/$FRAG")" ]

e2e_nginx_stop
unmount "$MNT"
sanitizer_check
exit $fail
