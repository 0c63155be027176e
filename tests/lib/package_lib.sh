# Shared part of tests/integration/package_*.sh (sourced, not run): the binary, the fixtures,
# a temporary folder removed on exit, a fresh ismfs cache inside it, TAP helpers.
#
# After sourcing: ROOT (the repository), ISMFS (absolute path of the binary under test: $ISMFS
# of tests/run.sh), FIX (tests/fixtures), TMP, CACHE; ok/not_ok print TAP lines (not_ok sets
# fail=1); bail prints one "not ok" and exits 1 (a missing prerequisite is a failure, not a
# skip: CI counts skips as failures anyway, and a clear reason is worth more).
# Run a test on its own: ISMFS=/tmp/b/rel/ismfs bash tests/integration/package_ts.sh
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD
FIX=$ROOT/tests/fixtures
LADDER=ladder/ladder.ism

fail=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fail=1; }
bail()   { echo "not ok - $*"; exit 1; }

ISMFS=${ISMFS_ABS:-${ISMFS:-build/asan/ismfs}}
[ -x "$ISMFS" ] || bail "ismfs binary '$ISMFS' is missing (make asan, or set ISMFS)"
ISMFS=$(realpath "$ISMFS")
[ -f "$FIX/.stamp" ] && [ -f "$FIX/$LADDER" ] ||
    bail "no fixtures in $FIX (run tests/make-fixtures.sh)"

# need TOOL...: each must be on PATH.
need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || bail "$t is not installed (scripts/deps.sh installs it)"
    done
}

TMP=$(mktemp -d /tmp/ismfs-package.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
CACHE=$TMP/cache

# ism ARGS...: ismfs with this test's own cache.
ism() { "$ISMFS" --cache="$CACHE" "$@"; }

# ism_cat VPATH OUT: one virtual file of tests/fixtures into OUT; on failure says why.
ism_cat() {
    if ! ism cat "$FIX" "$1" >"$2" 2>"$TMP/cat.err"; then
        not_ok "ismfs cat '$1' failed: $(head -c 300 "$TMP/cat.err" | tr '\n' ' ')"
        return 1
    fi
}

# tracks ASSET: the asset's tracks as TSV lines from `ismfs inspect --json`:
#   type bitrate name sample_count source(relative to FIX) width height codec timescale
tracks() {
    ism inspect --json "$FIX/$1" >"$TMP/inspect.json" 2>"$TMP/inspect.err" ||
        bail "ismfs inspect --json $1: $(head -c 300 "$TMP/inspect.err" | tr '\n' ' ')"
    python3 - "$TMP/inspect.json" "$(dirname "$1")" <<'EOF'
import json, os, sys
for t in json.load(open(sys.argv[1]))["tracks"]:
    if t["type"] not in ("video", "audio"):
        continue
    print("\t".join(str(x) for x in (t["type"], t["bitrate"], t["name"], t["sample_count"],
          os.path.normpath(os.path.join(sys.argv[2], t["src"])), t["width"], t["height"],
          t["codec"], t["timescale"])))
EOF
}

# ls_names VPATH: the names of a virtual directory (no sizes).
ls_names() { ism ls "$FIX" "$1"; }

# fragment_times ASSET BITRATE TRACK FORMAT_SUFFIX: the TIMEs of the listed fragments of a
# track, ascending. FORMAT_SUFFIX is what follows TIME inside the parentheses: ",format=cmaf",
# ",format=m3u8-aapl", "" (Smooth).
fragment_times() {
    ls_names "$1/QualityLevels($2)" |
        sed -n "s/^Fragments($3=\([0-9][0-9]*\)$4)\$/\1/p" | sort -n
}
