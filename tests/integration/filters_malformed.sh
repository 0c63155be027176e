#!/usr/bin/env bash
# Malformed filter files (issue 5) through a mount in the foreground (its log is its stderr):
# truncated JSON, wrong types, a 100 MB file, arrays nested 100 000 deep, each the
# NAME.filters.json of an asset of its own, and a broken account_filters file:
#   - the filters of a bad file do not exist (ENOENT; for a bad asset file every filtered
#     name of that asset, for a bad account file every account name), via the mount and via
#     `ismfs cat`;
#   - the asset's unfiltered manifests, other assets and their filters keep working;
#   - each file version is logged once (file and reason), however often it is asked for;
#     a new broken version is one more line; a fixed file works again;
#   - the daemon stays alive, no sanitizer report, and a bad file does not slow the others.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
# shellcheck source=tests/lib/filters_lib.sh
source "$ROOT/tests/lib/filters_lib.sh"
need stat

SRC=$TMP/src MNT=$TMP/mnt
filters_src "$SRC"
L=$SRC/ladder
for t in trunc types big deep; do
    cp "$FIX/ladder/ladder.ism" "$L/$t.ism"
done
head -c 300 "$L/ladder.filters.json" >"$L/trunc.filters.json"
cat >"$L/types.filters.json" <<'EOF'
[{"name": "ott", "properties": {"tracks": {"trackSelections": "Video"}}}]
EOF
# 100 MB: refused by its size, never read (the end of it is valid JSON all the same)
{ head -c $((100 * 1024 * 1024 - 16)) /dev/zero | tr '\0' ' '; printf '[{"name":"ott"}]'; } \
    >"$L/big.filters.json"
python3 -c 'import sys; sys.stdout.write("[" * 100000 + "]" * 100000)' >"$L/deep.filters.json"
for t in trunc types big deep; do
    [ -s "$L/$t.filters.json" ] || bail "cannot write $t.filters.json"
done

mount_fg "$SRC" "$MNT" "cache=$TMP/cache,account_filters=$TMP/account.json" || bail "no mount"
A=$MNT/ladder
LOG=$MNT.log

# log_lines FILE: lines of the mount's log about FILE
log_lines() { grep -cF "$1" "$LOG"; }

for t in trunc types big deep; do
    for i in 1 2 3; do
        for f in mpd-time-csf m3u8-aapl ""; do
            enoent "$t: filter=ott ($(fmt_name "$f"), try $i)" "$A/$t.ism/$(manifest "$f" filter=ott)" \
                >>"$TMP/enoent.tap"
        done
    done
    # the account's names are not reachable through a broken asset file either
    enoent "$t: filter=acctclip (an account filter) of an asset whose filters file is bad" \
           "$A/$t.ism/manifest(format=mpd-time-csf,filter=acctclip)"
    check "$t: the unfiltered manifest of that asset works" \
          test "$(fv "$A/$t.ism/manifest(format=mpd-time-csf)" 'sorted(video(m))')" = "$V_ALL"
done
if grep -q '^not ok' "$TMP/enoent.tap"; then
    grep '^not ok' "$TMP/enoent.tap" | head -5
    fail=1
else
    ok "every bad asset filters file: filter=ott ENOENT in 3 formats, 3 times each ($(grep -c '^ok' "$TMP/enoent.tap") lookups)"
fi
is "the good asset's filters still work" \
   "$(fv "$A/ladder.ism/manifest(format=mpd-time-csf,filter=ott)" 'sorted(video(m))')" '[423612, 852353]'
for t in trunc types big deep; do
    is "$t.filters.json: logged once" "$(log_lines "ladder/$t.filters.json")" 1
done
check "the log says why: truncated JSON (line and column)" \
      grep -qE 'ladder/trunc\.filters\.json: line [0-9]+ column [0-9]+' "$LOG"
check "the log says why: wrong type" grep -qF 'ladder/types.filters.json: filter "ott": "tracks" is not an array' "$LOG"
check "the log says why: size" grep -qF 'ladder/big.filters.json: 104857600 bytes, more than the 1048576 allowed' "$LOG"
check "the log says why: nesting" grep -qF 'ladder/deep.filters.json: nested deeper than' "$LOG"

# a bad file does not slow the others: 20 reads of a good filtered manifest in a few seconds
start=$(date +%s%N)
for i in $(seq 20); do
    cat "$A/ladder.ism/manifest(format=m3u8-aapl,filter=noslate)" >/dev/null || not_ok "read $i"
    stat "$A/big.ism/manifest(format=m3u8-aapl,filter=ott)" >/dev/null 2>&1
done
ms=$((($(date +%s%N) - start) / 1000000))
if [ "$ms" -lt 10000 ]; then ok "20 good filtered reads beside 20 of the 100 MB file's: ${ms} ms"; else
    not_ok "20 good filtered reads beside the 100 MB file's took ${ms} ms"; fi

# a new broken version is one more line; fixed, it works and logs nothing
echo '[{"name": "ott", "firstQuality": {"bitrate": "fast"}}]' >"$TMP/v2.json"
replace "$L/trunc.filters.json" "$TMP/v2.json"
sleep 1.2       # past the kernel's negative and attribute caches (1 s)
enoent "trunc: a second broken version: ENOENT" "$A/trunc.ism/manifest(format=mpd-time-csf,filter=ott)"
enoent "trunc: a second broken version, again" "$A/trunc.ism/manifest(format=m3u8-aapl,filter=ott)"
is "trunc.filters.json: a new version, one more line" "$(log_lines "ladder/trunc.filters.json")" 2
replace "$L/trunc.filters.json" "$L/ladder.filters.json"
sleep 1.2
is "trunc: fixed: filter=ott works again" \
   "$(fv "$A/trunc.ism/manifest(format=mpd-time-csf,filter=ott)" 'sorted(video(m))')" '[423612, 852353]'
is "trunc.filters.json: the fixed version logs nothing" "$(log_lines "ladder/trunc.filters.json")" 2

# a broken account file: account names ENOENT, asset names fine, logged once
is "acctclip works while the account file is good" \
   "$(fv "$A/ladder.ism/manifest(format=mpd-time-csf,filter=acctclip)" 'first(m,"video")')" 4.0
printf '[{"name": "acctclip", "presentationTimeRange": {"startTimestamp": -5}}]' >"$TMP/acct2.json"
replace "$TMP/account.json" "$TMP/acct2.json"
sleep 1.2
for i in 1 2 3; do
    enoent "a broken account file: acctclip ENOENT (try $i)" \
           "$A/ladder.ism/manifest(format=m3u8-aapl,filter=acctclip)"
done
enoent "a broken account file: ott of nofile.ism (the account's) ENOENT" \
       "$A/nofile.ism/manifest(format=m3u8-aapl,filter=ott)"
is "a broken account file: the asset's ott still works" \
   "$(fv "$A/ladder.ism/manifest(format=m3u8-aapl,filter=ott)" 'sorted(video(m))')" '[423612, 852353]'
is "the account file: logged once" "$(log_lines "$TMP/account.json")" 1
check "the account file's log line says why" grep -qF 'startTimestamp is negative' "$LOG"

# the same through `ismfs cat` (one process per command: logged by each)
for t in trunc types big deep; do
    [ "$t" = trunc ] && replace "$L/trunc.filters.json" "$FIX/ladder/ladder.ism"   # not JSON
    if "$ISMFS" --cache="$TMP/cat-cache" cat "$SRC" "ladder/$t.ism/manifest(format=mpd-time-csf,filter=ott)" \
            >/dev/null 2>"$TMP/cat.err"; then
        not_ok "ismfs cat: $t.ism filter=ott succeeded"
    elif grep -q 'No such file or directory' "$TMP/cat.err" &&
         [ "$(grep -cF "ladder/$t.filters.json" "$TMP/cat.err")" = 1 ]; then
        ok "ismfs cat: $t.ism filter=ott: ENOENT, the file named once on stderr"
    else
        not_ok "ismfs cat: $t.ism filter=ott: $(head -c 300 "$TMP/cat.err")"
    fi
done

p=${MPID[$MNT]}
if kill -0 "$p" 2>/dev/null && is_mounted "$MNT" && stat "$A/ladder.ism/manifest" >/dev/null; then
    ok "the daemon is alive and serving"
else
    not_ok "the daemon is gone: $(tail -3 "$LOG")"
fi
unmount "$MNT" || not_ok "unmount $MNT"
check "no sanitizer or crash line in the mount's log" \
      bash -c "! grep -qE 'ERROR: AddressSanitizer|runtime error|Segmentation' '$LOG'"
