#!/usr/bin/env bash
# Smooth Streaming output, structurally (the real judge is dash.js in Chromium, issue 4;
# ffmpeg has no Smooth demuxer, DESIGN §4): for every fixture asset the client manifest is
# well-formed XML (xmllint), and every fragment its chunks reference (each QualityLevel,
# each c) exists and carries a tfxd whose time is the chunk's t and whose duration is its d
# (tests/lib/smooth_check.py). tests/fixtures/long/ (`make bench` only) is left out.
# shellcheck source=tests/lib/package_lib.sh
source "$(dirname "$0")/../lib/package_lib.sh"
need xmllint python3

assets=$(cd "$FIX" && find . -path ./long -prune -o -name '*.ism' -type f -print | sed 's|^\./||' |
         sort)
[ -n "$assets" ] || bail "no .ism under $FIX"
for a in $assets; do
    ism_cat "$a/manifest" "$TMP/manifest.xml" || continue
    if xmllint --noout --nonet "$TMP/manifest.xml" 2>"$TMP/xml.err"; then
        ok "$a: manifest is well-formed XML"
    else
        not_ok "$a: manifest is not well-formed XML: $(head -3 "$TMP/xml.err" | tr '\n' ' ')"
        continue
    fi
    python3 tests/lib/smooth_check.py "$ISMFS" "$CACHE" "$FIX" "$a" "$a" || fail=1
done
exit "$fail"
