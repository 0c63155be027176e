# shellcheck shell=bash
# Shared part of tests/integration/filters_*.sh (sourced after mount_lib.sh): a private copy
# of tests/fixtures with AMS filter files, and helpers that judge manifests by parsing them
# (tests/lib/filter_view.py), never by grepping.
#
# filters_src DIR: farm of the fixtures in DIR plus
#   DIR/ladder/ladder.filters.json   the asset filters below (write_asset_filters)
#   DIR/ladder/nofile.ism            the ladder again, without a filters file of its own
# and $TMP/account.json (outside SRC): the account filters below.
#
# The ladder (tests/make-fixtures.sh): video 852353 (640x360), 423612 (480x270), 216131
# (320x180) bit/s, 10 s at 24 fps in closed 2 s GOPs (fragments at 0 2 4 6 8 s); audio
# aac_eng_2_130544_1_1 (eng), aac_fra_2_98544_1_1 (fra).

# Formats of a manifest: the value of format= ("" is Smooth: no format=).
# shellcheck disable=SC2034  # used by the tests that source this
FORMATS=(mpd-time-csf mpd-time-cmaf "" m3u8-aapl m3u8-aapl-v3 m3u8-cmaf)
# shellcheck disable=SC2034
V_ALL='[216131, 423612, 852353]'

# manifest FORMAT OPTIONS: the name of a manifest, e.g. manifest mpd-time-csf filter=ott
manifest() {
    if [ -z "$1" ]; then echo "manifest${2:+($2)}"; else echo "manifest(format=$1${2:+,$2})"; fi
}

# fmt_name FORMAT: how a check names the format.
fmt_name() { echo "${1:-smooth}"; }

write_asset_filters() {
    cat >"$1" <<'EOF'
[
 {"name": "ott", "type": "Microsoft.Media/mediaservices/assets/assetFilters",
  "properties": {"tracks": [
   {"trackSelections": [{"property": "Type", "operation": "Equal", "value": "Video"},
                        {"property": "Bitrate", "operation": "Equal", "value": "400000-100000000"}]},
   {"trackSelections": [{"property": "Type", "operation": "Equal", "value": "Audio"}]}]}},
 {"name": "mobile", "properties": {"tracks": [
   {"trackSelections": [{"property": "type", "operation": "equal", "value": "video"},
                        {"property": "Bitrate", "operation": "Equal", "value": "0-500000"}]},
   {"trackSelections": [{"property": "Type", "operation": "Equal", "value": "audio"}]}]}},
 {"name": "noeng", "properties": {"tracks": [
   {"trackSelections": [{"property": "Type", "operation": "Equal", "value": "Video"}]},
   {"trackSelections": [{"property": "Type", "operation": "Equal", "value": "Audio"},
                        {"property": "Language", "operation": "NotEqual", "value": "en"}]}]}},
 {"name": "noslate", "properties": {"presentationTimeRange": {
   "startTimestamp": 20000000, "endTimestamp": 9223372036854776000,
   "presentationWindowDuration": 9223372036854776000, "liveBackoffDuration": 0,
   "timescale": 10000000, "forceEndTimestamp": false}}},
 {"name": "clip", "properties": {"presentationTimeRange": {
   "startTimestamp": 45000000, "endTimestamp": 75000000}}},
 {"name": "fq", "properties": {"firstQuality": {"bitrate": 423612}}},
 {"name": "none", "properties": {"tracks": [
   {"trackSelections": [{"property": "Type", "operation": "Equal", "value": "Text"}]}]}},
 {"name": "late", "properties": {"presentationTimeRange": {"startTimestamp": 1000000000}}}
]
EOF
}

# The account's "ott" differs from the asset's (only the lowest rendition): the asset's wins
# where it exists. az's flattened form, one with its own timescale.
write_account_filters() {
    cat >"$1" <<'EOF'
[
 {"name": "ott", "id": "/subscriptions/x/accountFilters/ott",
  "tracks": [
   {"trackSelections": [{"property": "Type", "operation": "Equal", "value": "Video"},
                        {"property": "Bitrate", "operation": "Equal", "value": "0-300000"}]},
   {"trackSelections": [{"property": "Type", "operation": "Equal", "value": "Audio"}]}],
  "firstQuality": null, "presentationTimeRange": null},
 {"name": "acctclip", "tracks": [], "firstQuality": null,
  "presentationTimeRange": {"startTimestamp": 4000, "endTimestamp": 8000, "timescale": 1000}}
]
EOF
}

filters_src() {
    farm "$1"
    write_asset_filters "$1/ladder/ladder.filters.json"
    rm -f "$1/ladder/nofile.ism"
    cp "$FIX/ladder/ladder.ism" "$1/ladder/nofile.ism"
    write_account_filters "$TMP/account.json"
}

# TS_ARGS: --timescale NAME=TS for every track of the ladder (HLS URIs carry media times,
# not seconds), from `ismfs inspect --json`.
ladder_timescales() {
    "$ISMFS" --cache="$TMP/cat-cache" inspect --json "$FIX/$LADDER" >"$TMP/inspect.json" ||
        bail "ismfs inspect --json $LADDER failed"
    mapfile -t TS_ARGS < <(python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["tracks"]:
    print("--timescale"); print("%s=%d" % (t["name"], t["timescale"]))' "$TMP/inspect.json")
}

# fv FILE EXPR: EXPR over the summary of the manifest FILE (tests/lib/filter_view.py), as
# JSON; "ERROR: ..." when it cannot be read or parsed.
fv() {
    local out
    if out=$(python3 "$ROOT/tests/lib/filter_view.py" "${TS_ARGS[@]+"${TS_ARGS[@]}"}" "$1" "$2" 2>&1); then
        echo "$out"
    else
        echo "ERROR: $(echo "$out" | tail -1 | head -c 300)"
    fi
}

# is WHAT GOT WANT: ok when GOT == WANT (strings).
is() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got $2, want $3"; fi
}

# near WHAT GOT WANT TOLERANCE: ok when GOT is a number within TOLERANCE of WANT.
near() {
    if python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) <= float(sys.argv[3]) else 1)' \
            "$2" "$3" "$4" 2>/dev/null; then
        ok "$1"
    else
        not_ok "$1: got $2, want $3 (within $4)"
    fi
}

# enoent WHAT PATH: ok when PATH does not exist (stat says ENOENT, not another error).
enoent() {
    local err
    if err=$(stat -- "$2" 2>&1); then
        not_ok "$1: it exists"
    elif [[ "$err" == *"No such file or directory"* ]]; then
        ok "$1"
    else
        not_ok "$1: $err"
    fi
}
