#!/usr/bin/env bash
# `ismfs inspect --json` against ffprobe/ffmpeg as the independent oracle, for every fixture
# file and .ism asset (what is compared, and why that ffprobe quantity:
# tests/lib/compare_inspect.py). Then the LMDB media index: a second run loads from the index
# (parsed=0), a touched file is parsed again, and the index gives the same JSON as a parse.
# No mount: this runs without /dev/fuse. A missing binary or fixture set is a failure, not a
# skip. Try the tests themselves without ismfs: ISMFS=tests/lib/mock_ismfs.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
ISMFS=${ISMFS:-build/asan/ismfs}
FIX=tests/fixtures

if [ ! -x "$ISMFS" ]; then
    echo "not ok - ismfs binary '$ISMFS' is missing (build it: make asan)"
    exit 1
fi
if [ ! -f "$FIX/.stamp" ]; then
    echo "not ok - no fixtures in $FIX (run tests/make-fixtures.sh)"
    exit 1
fi
for tool in ffprobe ffmpeg python3; do
    command -v "$tool" >/dev/null || { echo "not ok - $tool is not installed"; exit 1; }
done

tmp=$(mktemp -d /tmp/ismfs-inspect.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/json" "$tmp/oracle"

fail=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fail=1; }

# inspect OUT ERR ARGS...: runs ismfs; on failure prints why and returns 1.
inspect() {
    local out=$1 err=$2 rc=0
    shift 2
    "$ISMFS" inspect "$@" >"$out" 2>"$err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        not_ok "ismfs inspect $* exited $rc: $(head -c 300 "$err" | tr '\n' ' ')"
        return 1
    fi
}

# ---- every fixture against the oracle ---------------------------------------------------
mapfile -t targets < <(find "$FIX" -path "$FIX/long" -prune -o -type f \
                         \( -name '*.mp4' -o -name '*.ism' \) -print | sort)
[ ${#targets[@]} -gt 0 ] || { not_ok "no .mp4/.ism under $FIX"; exit 1; }
args=()
n=0
for f in "${targets[@]}"; do
    label=${f#"$FIX"/}
    n=$((n + 1))
    j=$tmp/json/$n.json
    # A cache of its own, so this run parses; the next one loads the same tables from the
    # index, and must print the same JSON.
    inspect "$j" "$tmp/json/$n.err" --json --cache="$tmp/cache$n" "$f" || continue
    args+=("$label" "$f" "$j")
    if inspect "$tmp/json/$n.warm" "$tmp/json/$n.err" --json --cache="$tmp/cache$n" "$f"; then
        if cmp -s "$j" "$tmp/json/$n.warm"; then
            ok "$label: same --json from the index as from parsing"
        else
            not_ok "$label: --json from the index differs from the parse:" \
                   "$(diff "$j" "$tmp/json/$n.warm" | head -c 300 | tr '\n' ' ')"
        fi
    fi
done
if [ ${#args[@]} -gt 0 ]; then
    python3 tests/lib/compare_inspect.py "$tmp/oracle" "${args[@]}" || fail=1
fi

# ---- the LMDB index: parsed once, then loaded; a changed file is parsed again ------------
# expect WHAT FILE CACHE CONDITION: runs inspect --stats, reads its stderr line
# "index: parsed=N index_hits=M[ ...]" and tests CONDITION, bash arithmetic on p and h.
expect() {
    local what=$1 file=$2 cache=$3 cond=$4 line p h
    inspect /dev/null "$tmp/stats.err" --stats --cache="$cache" "$file" || return 0
    line=$(grep -E '^index: parsed=[0-9]+ index_hits=[0-9]+' "$tmp/stats.err" | tail -1) || {
        not_ok "index: $what: no 'index: parsed=N index_hits=M' line on stderr:" \
               "$(head -c 200 "$tmp/stats.err" | tr '\n' ' ')"
        return 0
    }
    p=$(echo "$line" | sed -E 's/^index: parsed=([0-9]+).*/\1/')
    h=$(echo "$line" | sed -E 's/^index: parsed=[0-9]+ index_hits=([0-9]+).*/\1/')
    if (( cond )); then ok "index: $what (parsed=$p index_hits=$h)"
    else not_ok "index: $what: parsed=$p index_hits=$h, want $cond"; fi
}

mkdir -p "$tmp/idx"
cp "$FIX/bframes.mp4" "$tmp/idx/a.mp4"
expect "first run on a fresh cache parses the file" "$tmp/idx/a.mp4" "$tmp/c1" 'p == 1 && h == 0'
expect "second run loads it from the index" "$tmp/idx/a.mp4" "$tmp/c1" 'p == 0 && h >= 1'
touch -d "@$(( $(stat -c %Y "$tmp/idx/a.mp4") + 5 ))" "$tmp/idx/a.mp4"
expect "touched file (new mtime) is parsed again" "$tmp/idx/a.mp4" "$tmp/c1" 'p == 1'
expect "and then loaded from the index" "$tmp/idx/a.mp4" "$tmp/c1" 'p == 0 && h >= 1'
expect "ladder.ism: first run parses its files" "$FIX/ladder/ladder.ism" "$tmp/c2" 'p >= 1'
expect "ladder.ism: second run parses nothing" "$FIX/ladder/ladder.ism" "$tmp/c2" \
       'p == 0 && h >= 1'
# AMS v3 assets mostly take video and audio from one MP4: one open of the asset should parse
# (and store) that file once, not once per <switch> element.
expect "muxed.ism: a file two elements share is parsed once" "$FIX/muxed.ism" "$tmp/c3" 'p == 1'

exit "$fail"
