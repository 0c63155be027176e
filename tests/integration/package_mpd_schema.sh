#!/usr/bin/env bash
# Every MPD of every fixture asset (both profiles: mpd-time-csf, mpd-time-cmaf) validates
# against the official DASH schema (ISO/IEC 23009-1, DASH-MPD.xsd) with xmllint, offline: the
# catalog maps the xlink/xml schemas to local copies. The schema lives in the shared folder
# beside the repository ($(dirname repo)/shared/schema, where CI puts it), or $MPD_SCHEMA_DIR.
# A control MPD with an element the schema does not allow must be rejected, so a validator
# that accepts everything fails this test. tests/fixtures/long/ (made by `make bench` only)
# is left out to keep `make check` fast.
# shellcheck source=tests/lib/package_lib.sh
source "$(dirname "$0")/../lib/package_lib.sh"
need xmllint

SCHEMA=${MPD_SCHEMA_DIR:-$(dirname "$ROOT")/shared/schema}
for f in DASH-MPD.xsd catalog.xml xlink.xsd xml.xsd; do
    [ -r "$SCHEMA/$f" ] || bail "no $SCHEMA/$f: the shared folder must sit beside the" \
                                "repository (../shared/schema) or MPD_SCHEMA_DIR point at it"
done
export MPD_SCHEMA_DIR=$SCHEMA

# validate FILE LABEL: 0 when valid; xmllint's complaint in $TMP/xsd.err otherwise.
validate() {
    tests/lib/validate_mpd.sh "$1" 2>"$TMP/xsd.err" >"$TMP/xsd.out"
}

assets=$(cd "$FIX" && find . -path ./long -prune -o -name '*.ism' -type f -print | sed 's|^\./||' |
         sort)
[ -n "$assets" ] || bail "no .ism under $FIX"
n=0
for a in $assets; do
    for fmt in mpd-time-csf mpd-time-cmaf; do
        mpd=$TMP/$n.mpd
        n=$((n + 1))
        ism_cat "$a/manifest(format=$fmt)" "$mpd" || continue
        if validate "$mpd"; then
            ok "$a: manifest(format=$fmt) validates against DASH-MPD.xsd"
        else
            not_ok "$a: manifest(format=$fmt) is not valid: $(head -5 "$TMP/xsd.err" "$TMP/xsd.out" |
                   tr '\n' ' ' | head -c 600)"
        fi
    done
done

# The control: a valid MPD of ours with an unknown element in its Period must not validate.
if [ -s "$TMP/0.mpd" ]; then
    sed 's|<Period\([^>]*\)>|<Period\1><NotInTheSchema/>|' "$TMP/0.mpd" >"$TMP/bad.mpd"
    if ! cmp -s "$TMP/0.mpd" "$TMP/bad.mpd" && ! validate "$TMP/bad.mpd" &&
       grep -q 'NotInTheSchema' "$TMP/xsd.err"; then
        ok "control: the validator rejects an MPD with an element the schema does not allow"
    else
        not_ok "control: an MPD with <NotInTheSchema/> in its Period was not rejected" \
               "(is the schema really loaded?)"
    fi
fi
exit "$fail"
