#!/usr/bin/env bash
# A catalog of 10 000 assets (SCALE_N=N for another size), mounted with cache_size=1G:
#   (a) the mount is up within 2 s, and listing the catalog's folders (readdir and stat of
#       every .ism directory of one folder) parses no asset: the media index stays empty
#       (`ismfs cache stats`, after the writer's next commit);
#   (b) `ls -R` of the whole mount ends with status 0, nothing on stderr, and lists the
#       right number of entries: every entry of the storage tree (find) plus, per asset,
#       the entries of one asset's directory; that directory holds a CMAF fragment for
#       every video key frame ffprobe sees in the source (the fragment= default is 2 s,
#       key frames are 1 s apart: every other one);
#   (c) a random asset's DASH manifest is valid (xmllint, DASH-MPD.xsd) and ffprobe reads
#       it as the source's streams and duration, and its HLS master decodes with ffmpeg;
#   (d) the daemon's VmRSS (/proc/PID/status) once the listing is done (the index writer
#       unmaps LMDB's pages when idle) is under 200 MB: 400 MB for a sanitizer build
#       (ASan's shadow and quarantine); the peak during the listing is printed.
# The catalog (hard links of one generated asset) is made once outside the repository by
# tests/lib/scale_catalog.sh ($ISMFS_SCALE_DIR, default ${TMPDIR:-/tmp}/ismfs-scale).
source "$(dirname "$0")/../lib/mount_lib.sh"
source "$ROOT/tests/lib/scale_catalog.sh"
need ffmpeg ffprobe xmllint

N=${SCALE_N:-10000}
CAT=$(scale_catalog "$N") || bail "cannot make the $N-asset catalog"
SRC=$CAT/c
MNT=$TMP/mnt
CACHE=$TMP/cache

# media_entries: what the index holds now (the CLI opens the same LMDB environment).
media_entries() {
    "$ISMFS" cache stats --cache="$CACHE" | awk '/^media entries:/ { print $3 }'
}

# ---- (a) mount and browse the catalog: nothing parsed --------------------------------------
t0=$(date +%s%N)
mount_fg "$SRC" "$MNT" "cache=$CACHE,cache_size=1G" || exit 1
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
if [ "$ms" -lt 2000 ]; then ok "mounted a catalog of $N assets in $ms ms"
else not_ok "mount of $N assets took $ms ms (limit 2000)"; fi
PID=$(daemon_pid "$MNT") || bail "no daemon for $MNT"

top=$(ls "$MNT" | wc -l)
want_top=$(ls "$SRC" | wc -l)
[ "$top" -eq "$want_top" ] && ok "the root lists $top folders" ||
    not_ok "the root lists $top entries, the storage has $want_top"
one=$(ls "$SRC" | head -1)
ls -l "$MNT/$one" >"$TMP/one.ls" 2>&1 && ls -l "$MNT/$one"/* >>"$TMP/one.ls" 2>&1 ||
    not_ok "ls -l of $MNT/$one: $(head -c 300 "$TMP/one.ls")"
n_ism=$(grep -c '^d.* a[0-9]*\.ism$' "$TMP/one.ls")
want_ism=$(find "$SRC/$one" -name '*.ism' | wc -l)
[ "$n_ism" -eq "$want_ism" ] && ok "ls -l $one/*: $n_ism .ism directories" ||
    not_ok "ls -l $one/*: $n_ism .ism directories, want $want_ism"
sleep 0.5                               # what a parse would have queued is committed by now
me=$(media_entries)
[ "$me" = 0 ] && ok "browsing the catalog parsed no asset (media index empty)" ||
    not_ok "browsing the catalog parsed ${me:-?} media files before any asset was opened"

# ---- (b) ls -R of everything ---------------------------------------------------------------
peak=0
( while kill -0 "$PID" 2>/dev/null; do
      awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status" 2>/dev/null
      sleep 0.5
  done ) >"$TMP/rss.samples" &
SAMPLER=$!
t0=$(date +%s%N)
ls -R "$MNT" >"$TMP/lsR" 2>"$TMP/lsR.err"
rc=$?
t1=$(date +%s%N)
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null
if [ "$rc" -eq 0 ] && [ ! -s "$TMP/lsR.err" ]; then
    ok "ls -R of the whole mount: exit 0, nothing on stderr ($(((t1 - t0) / 1000000)) ms)"
else
    not_ok "ls -R exit $rc: $(head -3 "$TMP/lsR.err" | tr '\n' ' ' | head -c 300)"
fi
# entries: the lines that are neither a "DIR:" header nor blank
count_entries() { grep -cv -e ':$' -e '^$' "$1"; }
got=$(count_entries "$TMP/lsR")
a0=$(find "$SRC" -name '*.ism' | head -1)
a0=${a0#"$SRC"/}
ls -R "$MNT/$a0" >"$TMP/asset.lsR" 2>&1 || not_ok "ls -R $a0: $(head -c 300 "$TMP/asset.lsR")"
per=$(count_entries "$TMP/asset.lsR")
tree=$(find "$SRC" -mindepth 1 | wc -l)
want=$((tree + N * per))
[ "$got" -eq "$want" ] && ok "ls -R lists $got entries: $tree of the storage + $N x $per" ||
    not_ok "ls -R lists $got entries, want $tree of the storage + $N x $per = $want"
# the asset's video fragments: one per 2 s of 1 s key frames, at the times ffprobe gives
ffprobe -v error -select_streams v:0 -show_entries packet=pts,flags -of csv=p=0 \
        "$CAT/src/v.mp4" | awk -F, '$2 ~ /K/ { print $1 }' >"$TMP/keys"
nkeys=$(wc -l <"$TMP/keys")
missing=0
while read -r i pts; do
    [ $((i % 2)) -eq 0 ] || continue
    grep -qxF "Fragments(video=$pts,format=cmaf)" "$TMP/asset.lsR" || missing=$((missing + 1))
done < <(awk '{ print NR - 1, $1 }' "$TMP/keys")
[ "$nkeys" -ge 4 ] && [ "$missing" -eq 0 ] &&
    ok "$a0 lists Fragments(video=T,format=cmaf) for every other one of ffprobe's $nkeys key frames" ||
    not_ok "$a0: $missing of the fragments at ffprobe's key frames ($nkeys) are not listed"

# ---- (c) a random asset's manifests --------------------------------------------------------
r=$(( (RANDOM * 32768 + RANDOM) % N ))
ra=$(printf 'c/%02d/a%05d/a%05d.ism' $((r / 100)) "$r" "$r")
ra=${ra#c/}
mpd="$MNT/$ra/manifest(format=mpd-time-csf)"
SCHEMA=${MPD_SCHEMA_DIR:-$(dirname "$ROOT")/shared/schema}
if [ -r "$SCHEMA/DASH-MPD.xsd" ]; then
    MPD_SCHEMA_DIR=$SCHEMA check "$ra: the DASH manifest is valid against DASH-MPD.xsd" \
        tests/lib/validate_mpd.sh "$mpd"
else
    not_ok "no DASH-MPD.xsd in $SCHEMA (set MPD_SCHEMA_DIR)"
fi
# streams [OPTIONS...] FILE: "type codec WxH|channels" per stream, sorted (the top-level
# streams of ffprobe's JSON: a DASH input repeats them under "programs")
streams() {
    ffprobe -v error "$@" -show_entries stream=codec_type,codec_name,width,height,channels \
            -of json | python3 -c '
import json, sys
for s in json.load(sys.stdin).get("streams", []):
    print(s["codec_type"], s["codec_name"],
          "%sx%s" % (s.get("width"), s.get("height")) if s["codec_type"] == "video"
          else s.get("channels"))' | sort
}
streams "$CAT/src/v.mp4" >"$TMP/want.streams"
streams "$CAT/src/a.mp4" >>"$TMP/want.streams"
sort -o "$TMP/want.streams" "$TMP/want.streams"
# ffmpeg 5.1.x (Debian) opens local DASH/HLS segments only with -allowed_extensions ALL, and
# HLS segment names without a media extension only with -extension_picky 0
streams -allowed_extensions ALL "$mpd" >"$TMP/got.streams" 2>&1
cmp -s "$TMP/want.streams" "$TMP/got.streams" &&
    ok "$ra: ffprobe reads the DASH manifest as the source's streams ($(tr '\n' ' ' <"$TMP/got.streams"))" ||
    not_ok "$ra: DASH streams '$(tr '\n' ' ' <"$TMP/got.streams")', source '$(tr '\n' ' ' <"$TMP/want.streams")'"
sd=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$CAT/src/v.mp4")
d=$(ffprobe -v error -allowed_extensions ALL -show_entries format=duration -of csv=p=0 "$mpd")
python3 -c "import sys; sys.exit(0 if abs(float('$d') - float('$sd')) <= 0.1 else 1)" 2>/dev/null &&
    ok "$ra: DASH duration ${d}s, the source's ${sd}s" ||
    not_ok "$ra: DASH duration '$d', the source's '$sd'"
frames=$(ffmpeg -nostdin -v error -allowed_extensions ALL -extension_picky 0 -i "$MNT/$ra/manifest(format=m3u8-cmaf)" \
                -map 0:v -f framemd5 - 2>"$TMP/hls.err" | grep -vc '^#')
want_frames=$(ffprobe -v error -count_packets -select_streams v:0 \
                      -show_entries stream=nb_read_packets -of csv=p=0 "$CAT/src/v.mp4")
[ "$frames" = "$want_frames" ] && [ ! -s "$TMP/hls.err" ] &&
    ok "$ra: ffmpeg decodes all $frames video frames of the HLS (CMAF) master" ||
    not_ok "$ra: HLS decoded $frames frames of $want_frames: $(head -c 300 "$TMP/hls.err")"

# ---- (d) memory ----------------------------------------------------------------------------
limit=$((200 * 1024))
if nm -D "$ISMFS" 2>/dev/null | grep -q __asan_init || nm "$ISMFS" 2>/dev/null | grep -q __asan_init; then
    limit=$((400 * 1024))
fi
rss=
for _ in $(seq 40); do                   # the writer lets go of LMDB's pages once idle
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status")
    [ "${rss:-0}" -lt "$limit" ] && break
    sleep 0.5
done
peak=$(sort -n "$TMP/rss.samples" | tail -1)
anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$PID/status")
echo "# daemon VmRSS: peak ${peak:-?} kB during ls -R, ${rss:-?} kB after (RssAnon $anon kB)"
[ -n "$rss" ] && [ "$rss" -lt "$limit" ] &&
    ok "the daemon's VmRSS after ls -R of $N assets: $((rss / 1024)) MB (limit $((limit / 1024)) MB)" ||
    not_ok "the daemon's VmRSS after ls -R of $N assets: ${rss:-?} kB (limit $limit kB)"

unmount "$MNT" || not_ok "$MNT did not unmount cleanly"
st=$("$ISMFS" cache stats --cache="$CACHE")
grep -Eq '^hit ratio: +[0-9.]+ \([1-9][0-9]* hits' <<<"$st" &&
    ok "cache stats after unmount: $(grep '^hit ratio' <<<"$st" | tr -s ' ')" ||
    not_ok "cache stats after unmount show no lifetime hits: $(tr '\n' ' ' <<<"$st")"
exit $fail
