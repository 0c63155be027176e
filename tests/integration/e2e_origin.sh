#!/usr/bin/env bash
# "rsync to an origin" (issue 4): the mount copied with `rsync -a` into a plain folder serves
# players with ismfs gone. SRC is a hard-link copy of tests/fixtures without long/
# (mount_lib.sh's farm); `rsync -a MNT/ COPY/`, then ismfs is unmounted (and has exited), and
# nginx (examples/nginx.conf, @ROOT@ = COPY; tests/lib/e2e_lib.sh) serves COPY:
#   - every file of COPY is served whole (status 200, the file's bytes) with the Content-Type of
#     its kind, told by its name: examples/nginx.conf's regex locations key on the AMS names,
#     not on a mount, so they apply to the copy alike (DASH MPD, HLS masters and media
#     playlists, TS and fMP4 segments, Smooth manifests and fragments, passed-through MP4s);
#   - tests/e2e/play.mjs, as in e2e_play.sh: shaka-player plays mpd-time-csf, mpd-time-cmaf,
#     m3u8-cmaf and m3u8-aapl (TS), dash.js the Smooth manifest of the ladder: to the end, every
#     rendition listed, the audio language switched, no error, no failed request.
# What the copy holds (sizes, mtimes, the mount's bytes) is mount_rsync.sh's.
#   ISMFS=/tmp/b/asan/ismfs bash tests/integration/e2e_origin.sh [FORMAT,...]
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/e2e_lib.sh
source "$ROOT/tests/lib/e2e_lib.sh"
need rsync
e2e_need
e2e_trap_mount_lib
SRC=$TMP/src MNT=$TMP/mnt COPY=$TMP/origin
farm "$SRC"
e2e_ladder_info "$FIX/$LADDER" "$TMP/cat-cache"

mount_fg "$SRC" "$MNT" || exit 1
if timeout 300 rsync -a "$MNT/" "$COPY/" 2>"$TMP/rsync.err"; then
    ok "rsync -a MNT/ COPY/: exit 0 ($(find "$COPY" -type f | wc -l) files)"
else
    not_ok "rsync -a MNT/ COPY/: $(head -c 300 "$TMP/rsync.err")"
fi
unmount "$MNT" || not_ok "fusermount3 -u $MNT failed"
sanitizer_check
# E2E_ORIGIN_BREAK=CMD: run in COPY before serving it (to see the checks fail).
[ -n "${E2E_ORIGIN_BREAK:-}" ] && (cd "$COPY" && eval "$E2E_ORIGIN_BREAK")
if is_mounted "$MNT" || daemon_pid "$MNT" >/dev/null; then
    not_ok "ismfs is unmounted and has exited before nginx serves the copy"
else
    ok "ismfs is unmounted and has exited before nginx serves the copy"
fi

e2e_nginx_start "$COPY" "$LADDER/manifest"

# Every file of the copy, over HTTP: status, bytes, Content-Type by kind (one line per kind).
python3 - "$COPY" "http://127.0.0.1:$PORT" <<'EOF' || fail=1
import http.client, os, re, sys, urllib.parse
root, base = sys.argv[1], sys.argv[2]
host = urllib.parse.urlsplit(base).netloc
# kind: (test on the path relative to the copy, Content-Types examples/nginx.conf gives it)
KINDS = [
    ("DASH MPDs", r"\.ism/manifest\([^/]*format=mpd-[^/]*\)$", {"application/dash+xml"}),
    ("HLS master playlists", r"\.ism/manifest\([^/]*format=m3u8-[^/]*\)$",
     {"application/vnd.apple.mpegurl"}),
    ("HLS media playlists", r"\.ism/QualityLevels\([^/]*\)/Manifest\([^/]*\)$",
     {"application/vnd.apple.mpegurl"}),
    ("TS segments", r"\.ism/QualityLevels\([^/]*\)/Fragments\([^/]*format=m3u8-aapl[^/]*\)$",
     {"video/mp2t"}),
    ("CMAF segments (init and media)", r"\.ism/QualityLevels\([^/]*\)/Fragments\([^/]*format=cmaf[^/]*\)$",
     {"video/mp4"}),
    ("Smooth fragments", r"\.ism/QualityLevels\([^/]*\)/Fragments\([^,/]*\)$", {"video/mp4"}),
    # text/xml in examples/nginx.conf; the tests' own config (E2E_OWN_NGINX_CONF) says
    # application/vnd.ms-sstr+xml, as AMS does.
    ("Smooth manifests", r"\.ism/manifest$", {"text/xml", "application/vnd.ms-sstr+xml"}),
    ("passed-through MP4s", r"\.mp4$", {"video/mp4"}),
]
seen = {k[0]: [] for k in KINDS}
bad = {k[0]: [] for k in KINDS}
other = []
conn = http.client.HTTPConnection(host, timeout=30)
for d, _, files in os.walk(root):
    for f in sorted(files):
        rel = os.path.relpath(os.path.join(d, f), root)
        kind = next((k for k in KINDS if re.search(k[1], rel)), None)
        if kind is None:
            other.append(rel)
            continue
        seen[kind[0]].append(rel)
        conn.request("GET", "/" + urllib.parse.quote(rel))
        r = conn.getresponse()
        body = r.read()
        ctype = (r.getheader("Content-Type") or "").split(";")[0].strip().lower()
        with open(os.path.join(d, f), "rb") as fh:
            want = fh.read()
        if r.status != 200 or body != want or ctype not in kind[2]:
            bad[kind[0]].append("%s: HTTP %d, %s, %d bytes (file: %d)%s"
                                % (rel, r.status, ctype or "no Content-Type", len(body), len(want),
                                   "" if body == want else ", other bytes"))
failed = False
for name, _, types in KINDS:
    what = "nginx serves the copy's %s whole as %s" % (name, " or ".join(sorted(types)))
    if not seen[name]:
        print("not ok - %s: the copy has none" % what); failed = True
    elif bad[name]:
        print("not ok - %s: %d of %d wrong: %s" % (what, len(bad[name]), len(seen[name]),
                                                   "; ".join(bad[name][:3])))
        failed = True
    else:
        print("ok - %s (%d files)" % (what, len(seen[name])))
print("# not judged: %s" % ", ".join(other[:10]))
sys.exit(1 if failed else 0)
EOF

# The players, on the copy.
e2e_play --asset "$LADDER" --heights "$HEIGHTS" --frames "$FRAMES" --duration "$DURATION" \
    --rate 4 --timeout 60 ${1:+--only "$1"} || fail=1
e2e_nginx_stop
exit "$fail"
