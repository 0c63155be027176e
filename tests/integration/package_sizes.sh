#!/usr/bin/env bash
# Exact sizes: for entries of the view of tests/fixtures (walked with `ismfs ls -l` from its
# root, into every directory: plain folders, NAME.ism/ and QualityLevels(N)/), the length of
# `ismfs cat` is the size `ls -l` listed (static web servers and rsync trust getattr, DESIGN §2).
# One TAP line per directory.
#
# Kept fast for `make check` (each cat is a process; the view holds thousands of entries once
# `make bench` has made tests/fixtures/long/): by default
#   - tests/fixtures/long/ is not walked (it exists only after `make bench`);
#   - every manifest, playlist, init segment and passthrough file is checked, and of each
#     track's fragments in each format a deterministic subset: the first, the last and every
#     7th (by time);
#   - the cats run two at a time (xargs -P2).
# PACKAGE_SIZES_FULL=1 checks every entry, long/ included (for a `make check-long`).
# shellcheck source=tests/lib/package_lib.sh
source "$(dirname "$0")/../lib/package_lib.sh"
need python3 xargs
FULL=${PACKAGE_SIZES_FULL:-0}

# walk VPATH: "size<TAB>path" for every file below VPATH of the view ("" is the root)
walk() {
    local t s n p lines line
    if ! lines=$(ism ls -l "$FIX" "$1" 2>"$TMP/ls.err"); then
        not_ok "ismfs ls -l '$1': $(head -c 300 "$TMP/ls.err")"
        return
    fi
    while IFS= read -r line; do
        read -r t s n <<<"$line"
        p=${1:+$1/}$n
        if [ "$t" = d ]; then
            [ "$FULL" != 1 ] && [ "$p" = long ] && continue
            walk "$p"
        elif [ -n "$n" ]; then
            printf '%s\t%s\n' "$s" "$p"
        fi
    done <<<"$lines"
}
walk "" >"$TMP/all.tsv"
[ -s "$TMP/all.tsv" ] || bail "the walk of $FIX found nothing"
grep -q '\.ism/QualityLevels([0-9]*)/Fragments(' "$TMP/all.tsv" ||
    not_ok "the walk of $FIX found no fragment inside an asset (is NAME.ism/ listed?)"

# The entries to check (all with FULL=1), as NUL-separated size/path pairs for xargs.
python3 - "$TMP/all.tsv" "$FULL" >"$TMP/pick.tsv" <<'EOF'
import collections, re, sys
rows = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1])]
full = sys.argv[2] == "1"
frag = re.compile(r"^(.*/)Fragments\(([^=]*)=([0-9]+)(.*)\)$")
groups = collections.defaultdict(list)
out = []
for size, path in rows:
    m = frag.match(path)
    if full or not m:
        out.append((size, path))
    else:   # one group per directory, track and format (what follows the time)
        groups[(m.group(1), m.group(2), m.group(4))].append((int(m.group(3)), size, path))
for g in groups.values():
    g.sort()
    for k, (_, size, path) in enumerate(g):
        if k == 0 or k == len(g) - 1 or k % 7 == 0:
            out.append((size, path))
for size, path in out:
    print(size + "\t" + path)
EOF
echo "# checking $(wc -l <"$TMP/pick.tsv") of $(wc -l <"$TMP/all.tsv") entries"
export ISMFS CACHE FIX
tr '\t\n' '\0\0' <"$TMP/pick.tsv" |
    xargs -0 -n 40 -P 2 bash -c '
        while [ $# -ge 2 ]; do
            got=$("$ISMFS" --cache="$CACHE" cat "$FIX" "$2" 2>/dev/null | wc -c)
            if [ "${PIPESTATUS[0]}" -ne 0 ]; then printf "%s\tcat failed\n" "$2"
            elif [ "$got" -ne "$1" ]; then printf "%s\tls -l says %s, cat gives %s\n" "$2" "$1" "$got"
            fi
            shift 2
        done' _ >"$TMP/bad.tsv" 2>&1 || [ -s "$TMP/bad.tsv" ] ||
    echo "-	xargs failed" >"$TMP/bad.tsv"

# one TAP line per directory
python3 - "$TMP/pick.tsv" "$TMP/all.tsv" "$TMP/bad.tsv" <<'EOF2'
import collections, os, sys
def by_dir(path):     # "size<TAB>path" lines by the path's directory
    d = collections.defaultdict(list)
    for l in open(path):
        size, name = l.rstrip("\n").split("\t", 1)
        d[os.path.dirname(name) or "."].append(name)
    return d
picked, listed = by_dir(sys.argv[1]), by_dir(sys.argv[2])
bad = collections.defaultdict(list)
for l in open(sys.argv[3]):
    f = l.rstrip("\n").split("\t", 1)
    bad[os.path.dirname(f[0]) or "."].append("%s: %s" % (os.path.basename(f[0]), f[-1]))
for d in sorted(set(picked) | set(bad)):
    if bad[d]:
        print("not ok - %s: %d of %d entries: %s" % (d, len(bad[d]), len(picked[d]),
                                                    "; ".join(bad[d][:3])))
    else:
        print("ok - %s: %d of its %d entries: cat gives exactly the size ls -l lists"
              % (d, len(picked[d]), len(listed[d])))
sys.exit(1 if any(bad.values()) else 0)
EOF2
[ $? -eq 0 ] || fail=1
exit "$fail"
