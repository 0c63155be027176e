#!/usr/bin/env bash
# Validates MPD files against the official DASH schema (ISO/IEC 23009-1,
# DASH-MPD.xsd), offline: the catalog maps xlink.xsd and xml.xsd to local copies.
#   tests/lib/validate_mpd.sh FILE.mpd...
# Schema directory: $MPD_SCHEMA_DIR, else the shared folder beside the repository
# (../shared/schema, where CI puts it); it holds DASH-MPD.xsd, xlink.xsd, xml.xsd, catalog.xml.
# Exit: 0 all valid, 1 some file invalid (xmllint says why on stderr),
#       77 skipped (no xmllint or no schema; the reason on stdout), 2 usage.
set -u
[ $# -gt 0 ] || { echo "usage: $0 FILE.mpd..." >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${MPD_SCHEMA_DIR:-$(dirname "$root")/shared/schema}"
command -v xmllint >/dev/null || { echo "skip: xmllint not installed"; exit 77; }
[ -r "$dir/DASH-MPD.xsd" ] || { echo "skip: no $dir/DASH-MPD.xsd (set MPD_SCHEMA_DIR)"; exit 77; }
[ -r "$dir/catalog.xml" ] || { echo "skip: no $dir/catalog.xml"; exit 77; }
rc=0
for f in "$@"; do
    # xmllint --catalogs also looks for SGML catalogs and says so; drop that line
    XML_CATALOG_FILES="$dir/catalog.xml" \
        xmllint --noout --nonet --catalogs --schema "$dir/DASH-MPD.xsd" "$f" 2>&1 >/dev/null |
        grep -v -e 'SGML_CATALOG_FILES' -e ' validates$' >&2
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
exit $rc
