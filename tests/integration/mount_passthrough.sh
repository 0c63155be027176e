#!/usr/bin/env bash
# The mount as a plain tree (DESIGN §1): every real file of SRC is there with the same bytes,
# size and mtime; every directory lists the same names, except `*.filters.json` (read by ismfs,
# never shown); every `.ism` file is a directory; find, du and tar walk the whole mount cleanly.
# SRC is a hard-link copy of tests/fixtures (without long/, made by `make bench`) plus an asset
# filter file; the mount is the daemonizing form, `ismfs SRC MNT -o cache=DIR`.
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
need find du tar
SRC=$TMP/src MNT=$TMP/mnt
farm "$SRC"
printf '[{"name":"first2s","properties":{"presentationTimeRange":{"startTimestamp":0,"endTimestamp":20000000}}}]\n' \
    >"$SRC/ladder/ladder.filters.json"
mount_daemon "$SRC" "$MNT" || exit 1

# ---- every real file: same bytes, size and mtime -----------------------------------------
n=0
while IFS= read -r -d '' f; do
    r=${f#"$SRC"/}
    n=$((n + 1))
    attr=$(stat -c '%s %Y' "$MNT/$r" 2>&1)      # before any read
    if [ ! -f "$MNT/$r" ]; then
        not_ok "passthrough $r: not a regular file in the mount ($(stat -c %F "$MNT/$r" 2>&1))"
    elif [ "$(stat -c '%s %Y' "$f")" != "$attr" ]; then
        not_ok "passthrough $r: size/mtime $attr, source $(stat -c '%s %Y' "$f")"
    elif ! cmp "$f" "$MNT/$r" >"$TMP/cmp.out" 2>&1; then
        not_ok "passthrough $r: bytes differ from the source ($(head -1 "$TMP/cmp.out"))"
    else
        ok "passthrough $r: same bytes, size and mtime as the source"
    fi
done < <(find "$SRC" -type f ! -name '*.ism' ! -name '*.filters.json' -print0 | sort -z)
[ "$n" -gt 10 ] || not_ok "only $n passthrough files found under $SRC"

# ---- directories: same names, filters hidden, .ism files are directories --------------------
while IFS= read -r -d '' d; do
    r=${d#"$SRC"}; r=${r#/}
    want=$(cd "$d" && ls -A | grep -v '\.filters\.json$')
    if got=$(cd "$MNT/$r" && ls -A 2>&1) && [ "$got" = "$want" ]; then
        ok "directory ${r:-.}: lists the names of the source directory$(
            [ -e "$d/${r##*/}.filters.json" ] && echo ", without ${r##*/}.filters.json")"
    else
        not_ok "directory ${r:-.}: lists [$(tr '\n' ' ' <<<"$got")], the source has [$(tr '\n' ' ' <<<"$want")]"
    fi
done < <(find "$SRC" -type d -print0 | sort -z)
if out=$(stat "$MNT/ladder/ladder.filters.json" 2>&1); then
    not_ok "ladder/ladder.filters.json can be stat'ed in the mount: $out"
else
    check "ladder/ladder.filters.json: stat says 'No such file or directory'" \
        grep -q 'No such file or directory' <<<"$out"
fi
while IFS= read -r -d '' f; do
    r=${f#"$SRC"/}
    if [ "$(stat -c %F "$MNT/$r" 2>&1)" = directory ] && [ -f "$MNT/$r/manifest" ] &&
        ls "$MNT/$r" | grep -q '^QualityLevels(' ; then
        ok "$r is a directory holding manifest and QualityLevels(...)"
    else
        not_ok "$r in the mount: $(stat -c %F "$MNT/$r" 2>&1), holds [$(ls "$MNT/$r" 2>&1 | head -5 | tr '\n' ' ')]"
    fi
done < <(find "$SRC" -type f -name '*.ism' -print0 | sort -z)

# ---- find, du, tar over the whole mount -------------------------------------------------
if timeout 120 find "$MNT" >"$TMP/find.out" 2>"$TMP/find.err" && [ ! -s "$TMP/find.err" ]; then
    ok "find MNT: exit 0, no error ($(wc -l <"$TMP/find.out") entries)"
else
    not_ok "find MNT: $(head -c 300 "$TMP/find.err")"
fi
nfrag=$(grep -c '\.ism/QualityLevels([0-9]*)/Fragments(' "$TMP/find.out")
[ "$nfrag" -gt 0 ] && ok "find MNT lists $nfrag fragments inside the .ism directories" ||
    not_ok "find MNT lists no Fragments(...) inside NAME.ism/QualityLevels(N)/"
if out=$(timeout 120 du -s "$MNT" 2>&1) && [ "$(wc -l <<<"$out")" = 1 ] &&
    [ "${out%%[[:space:]]*}" -gt 0 ]; then
    ok "du -s MNT: exit 0, $out"
else
    not_ok "du -s MNT: $out"
fi
# tar reads every byte and warns when a size or mtime changes while it reads
timeout 300 tar cf - -C "$MNT" . 2>"$TMP/tar.err" | tar tf - >"$TMP/tar.out" 2>>"$TMP/tar.err"
st=("${PIPESTATUS[@]}")
if [ "${st[0]}" = 0 ] && [ "${st[1]}" = 0 ] && [ ! -s "$TMP/tar.err" ]; then
    ok "tar cf - -C MNT . | tar tf -: exit 0 and 0, no warning"
else
    not_ok "tar cf - -C MNT . | tar tf -: exit ${st[*]}: $(head -c 300 "$TMP/tar.err")"
fi
if [ "$(wc -l <"$TMP/tar.out")" = "$(wc -l <"$TMP/find.out")" ]; then
    ok "tar archives as many entries as find lists ($(wc -l <"$TMP/tar.out"))"
else
    not_ok "tar archives $(wc -l <"$TMP/tar.out") entries, find lists $(wc -l <"$TMP/find.out")"
fi

unmount "$MNT" || not_ok "fusermount3 -u MNT failed (busy?)"
is_mounted "$MNT" && not_ok "MNT is still mounted after unmount" || ok "unmounted cleanly"
exit "$fail"
