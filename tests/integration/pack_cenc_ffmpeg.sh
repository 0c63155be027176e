#!/usr/bin/env bash
# Encrypted CMAF (pack/cmaf.c pk_cmaf_init_protected / pk_cmaf_fragment_protected) decrypted
# by a tool we did not write: ffmpeg 5.1's mov demuxer with -decryption_key. A driver
# (tests/lib/cmaf_cenc_oracle.c, built here) packages the first track of each fixture MP4
# twice, clear and encrypted with the real crypt/ pieces behind the pk_protect_t hook
# (crypt/subsample.c layouts, crypt/aes.c AES-CTR / AES-CBC pattern, as fs/ wires them): init
# segment then every fragment, one stream each. For cenc and cbcs, video (AVC, HEVC, B-frames)
# and audio (AAC, AC-3, E-AC-3):
#   - the decrypted stream decodes to frames identical to the clear stream's (-f framemd5,
#     every frame, at -v error with no message);
#   - the same stream with a wrong key does not (the samples really are encrypted);
#   - every fragment has the size pk_cmaf_fragment_protected_size announced (the driver).
# ffmpeg reads the streams from a pipe, as it reads segments from a DASH client's
# connection: given a seekable file of several fragments, ffmpeg 5.1 reads moofs ahead and
# takes the encryption entries of the last one it parsed (cenc_filter uses the "current"
# fragment), so a concatenated file is mis-decrypted by ffmpeg whatever the writer; ffmpeg's
# own fragmented cenc output fails the same way.
# Needs cc, ffmpeg, libxml2 and libcrypto headers, the fixtures (tests/make-fixtures.sh).
# Run on its own: bash tests/integration/pack_cenc_ffmpeg.sh
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

fail=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fail=1; }
bail()   { echo "not ok - $*"; exit 1; }
for t in cc ffmpeg pkg-config; do
    command -v "$t" >/dev/null || bail "$t is not installed (scripts/deps.sh installs it)"
done
FIX=tests/fixtures
[ -f "$FIX/.stamp" ] || bail "no fixtures in $FIX (run tests/make-fixtures.sh)"

TMP=$(mktemp -d /tmp/ismfs-cenc-ffmpeg.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT

# shellcheck disable=SC2046
cc -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g -I. $(pkg-config --cflags libxml-2.0) \
    -o "$TMP/oracle" tests/lib/cmaf_cenc_oracle.c pack/*.c crypt/aes.c crypt/subsample.c \
    $(pkg-config --libs libxml-2.0) -lcrypto 2>"$TMP/cc.err" ||
    bail "building tests/lib/cmaf_cenc_oracle.c: $(head -c 500 "$TMP/cc.err" | tr '\n' ' ')"

KEY=3a7e1c0d9b5f42e8a16c04d2f7b39e51
BADKEY=3a7e1c0d9b5f42e8a16c04d2f7b39e50
KID=6f3b2c1a-0d4e-4f5a-9b8c-7d6e5f4a3b2c
KID=${KID//-/}

# frames FILE [KEY]: the hash columns of -f framemd5 of FILE read from a pipe; stderr of
# ffmpeg in $TMP/ff.err.
frames() {
    local key=()
    [ $# -gt 1 ] && key=(-decryption_key "$2")
    ffmpeg -nostdin -v error "${key[@]}" -i - -map 0 -f framemd5 - <"$1" 2>"$TMP/ff.err" |
        grep -v '^#' | awk -F, '{ print $NF }'
}

for f in ladder/ladder_640x360.mp4 hevc.mp4 bframes.mp4 ladder/ladder_aac_eng.mp4 ac3.mp4 \
         eac3.mp4; do
    [ -f "$FIX/$f" ] || { not_ok "$f: no such fixture"; continue; }
    for scheme in cenc cbcs; do
        what="$f $scheme"
        if ! "$TMP/oracle" "$FIX/$f" "$scheme" "$KEY" "$KID" "$TMP/clear.mp4" "$TMP/enc.mp4" \
                >"$TMP/drv.out" 2>&1; then
            not_ok "$what: driver: $(head -c 300 "$TMP/drv.out" | tr '\n' ' ')"
            continue
        fi
        frames "$TMP/clear.mp4" >"$TMP/clear.md5"
        frames "$TMP/enc.mp4" "$KEY" >"$TMP/dec.md5"
        n=$(wc -l <"$TMP/clear.md5")
        if [ -s "$TMP/ff.err" ]; then
            not_ok "$what: ffmpeg says: $(head -c 300 "$TMP/ff.err" | tr '\n' ' ')"
        elif [ "$n" -gt 0 ] && cmp -s "$TMP/clear.md5" "$TMP/dec.md5"; then
            ok "$what: decrypted by ffmpeg, $n frames as in the clear ($(cat "$TMP/drv.out"))"
        else
            not_ok "$what: decrypted frames differ ($n clear, $(wc -l <"$TMP/dec.md5") decrypted)"
        fi
        frames "$TMP/enc.mp4" "$BADKEY" >"$TMP/bad.md5"
        if cmp -s "$TMP/clear.md5" "$TMP/bad.md5"; then
            not_ok "$what: a wrong key gives the clear frames too: not encrypted"
        else
            ok "$what: a wrong key does not decrypt it"
        fi
    done
done
exit $fail
