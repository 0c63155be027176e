#!/usr/bin/env bash
# A trimmed presentation played by a real player (issue 5): the ladder with the asset filters of
# tests/lib/filters_lib.sh, in a private copy of its folder, mounted with $ISMFS, served by
# nginx (tests/lib/e2e_lib.sh), played by shaka-player in headless Chromium (tests/e2e/play.mjs)
# as manifest(format=F,filter=clip) for F = mpd-time-csf, m3u8-cmaf, m3u8-aapl (TS).
# "clip" asks for 4.5 s to 7.5 s; the whole fragments over it (README, Filters) are the 2 s GOPs
# at 4 s and 6 s: the presentation is media 4 s to 8 s. For each format:
#   - the media element's duration is 4 s and the presentation starts at 0 in the player's
#     timeline (shaka maps the DASH presentationTimeOffset, and HLS sequence mode, to 0);
#   - there, paused, the top rendition shows frame 96 of the source (4 s at 24 fps), and at the
#     end of a playback frame 191 (the last before 8 s): the frame shown is identified against
#     the source's frames decoded by ffmpeg, by the region where testsrc2 draws its time code
#     and frame number (tests/make-fixtures.sh);
#   - the player requests the video fragments at 4 s and 6 s (in the track's timescale), the
#     one at 4 s first, and no other;
#   - and play.mjs's other checks on the trimmed presentation: it plays to the end (no jump, no
#     timeline past 4 s), renditions and languages listed, French selected, no error, every
#     request answered.
# The duration ffprobe reports for the same trimmed presentations (written out with `ismfs
# cat`), and their decoded frame count, are checked in filters_ffprobe.sh.
#   ISMFS=/tmp/b/asan/ismfs bash tests/integration/e2e_filters.sh [FORMAT,...]
#   E2E_FILTERS_FILE=FILE: another filters file for the ladder (to see the checks fail)
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/filters_lib.sh
source "$ROOT/tests/lib/filters_lib.sh"
# shellcheck source=tests/lib/e2e_lib.sh
source "$ROOT/tests/lib/e2e_lib.sh"
need ffmpeg
e2e_need
e2e_trap_mount_lib
SRC=$TMP/src MNT=$TMP/mnt
mkdir -p "$SRC"
cp -al "$FIX/ladder" "$SRC/" 2>/dev/null || cp -a "$FIX/ladder" "$SRC/" || bail "cannot copy the ladder"
if [ -n "${E2E_FILTERS_FILE:-}" ]; then
    cp "$E2E_FILTERS_FILE" "$SRC/ladder/ladder.filters.json"
else
    write_asset_filters "$SRC/ladder/ladder.filters.json"
fi
e2e_ladder_info "$FIX/$LADDER" "$TMP/cat-cache"
FPS=$(python3 -c "print(round($FRAMES / $DURATION))")
FROM=4 TO=8 GOP=2   # seconds: the fragments "clip" keeps
read -r FIRST LAST FRAGS < <(python3 -c "
fps, ts, a, b, g = $FPS, $VIDEO_TIMESCALE, $FROM, $TO, $GOP
print(a * fps, b * fps - 1, ','.join(str(t * ts) for t in range(a, b, g)))")

# The source's frames (top rendition): the region where testsrc2 draws the time code and the
# frame number, as 8-bit luma.
CROP=0,0,104,36
IFS=, read -r cx cy cw ch <<<"$CROP"
if ! ffmpeg -nostdin -v error -i "$FIX/ladder/$VIDEO_SRC" -vf "crop=$cw:$ch:$cx:$cy,format=gray" \
        -f rawvideo "$TMP/frames.gray" 2>"$TMP/ffmpeg.err" || [ -s "$TMP/ffmpeg.err" ]; then
    bail "ffmpeg cannot decode $VIDEO_SRC: $(head -c 300 "$TMP/ffmpeg.err")"
fi

mount_fg "$SRC" "$MNT" || exit 1
e2e_nginx_start "$MNT" "$LADDER/manifest"
e2e_play --asset "$LADDER" --filter clip --only "${1:-mpd-time-csf,m3u8-cmaf,m3u8-aapl}" \
    --heights "$HEIGHTS" --frames $(((TO - FROM) * FPS)) --duration $((TO - FROM)) \
    --video-track "$VIDEO_NAME" --video-fragments "$FRAGS" \
    --frame-ref "$TMP/frames.gray" --frame-crop "$CROP" --first-frame "$FIRST" --last-frame "$LAST" \
    --rate 4 --timeout 60 || fail=1
e2e_nginx_stop
unmount "$MNT" || not_ok "fusermount3 -u $MNT failed"
sanitizer_check
exit "$fail"
