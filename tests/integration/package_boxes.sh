#!/usr/bin/env bash
# CMAF init segments and fragments at box level, read by mp4box.js (tests/lib/cmaf_boxes.cjs):
# for every track of every fixture asset, the init segment has moov/mvex/trex, and over all
# the track's fragments (every one listed): mfhd sequence numbers 1..n, tfdt continuity
# (tfdt[k+1] == tfdt[k] + the durations of k, tfdt == URL TIME), truns that fill the mdat,
# and sample counts adding up to the source's sample_count (`ismfs inspect --json`).
# tests/fixtures/long/ (made by `make bench` only) is left out to keep `make check` fast.
# shellcheck source=tests/lib/package_lib.sh
source "$(dirname "$0")/../lib/package_lib.sh"
need node python3
[ -d tests/node_modules/mp4box ] ||
    bail "tests/node_modules/mp4box is missing: npm ci --prefix tests (scripts/deps.sh does it)"

assets=$(cd "$FIX" && find . -path ./long -prune -o -name '*.ism' -type f -print | sed 's|^\./||' |
         sort)
[ -n "$assets" ] || bail "no .ism under $FIX"
n=0
for a in $assets; do
    tracks "$a" >"$TMP/tracks.tsv"
    [ -s "$TMP/tracks.tsv" ] || { not_ok "$a: no tracks"; continue; }
    while IFS=$'\t' read -r type br name count _; do
        ql="$a/QualityLevels($br)"
        d=$TMP/t$n
        n=$((n + 1))
        mkdir -p "$d"
        ism_cat "$ql/Fragments($name=i,format=cmaf)" "$d/init" || continue
        args=()
        for t in $(fragment_times "$a" "$br" "$name" ",format=cmaf"); do
            ism_cat "$ql/Fragments($name=$t,format=cmaf)" "$d/$t" || continue 2
            args+=("$d/$t:$t")
        done
        if [ ${#args[@]} -eq 0 ]; then
            not_ok "$a $name $br: no CMAF fragments listed in $ql"
            continue
        fi
        node tests/lib/cmaf_boxes.cjs "$a $type $name $br" "$count" "$d/init" "${args[@]}" ||
            fail=1
    done <"$TMP/tracks.tsv"
done
exit "$fail"
