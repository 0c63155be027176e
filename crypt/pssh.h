/*
 * DRM signalling built when the CPIX gives none (DESIGN §1 "Encryption", notes §5.4-5.5):
 * 'pssh' boxes (ISO/IEC 23001-7 8.1), the Widevine pssh data (a WidevinePsshData
 * protobuf), the PlayReady Object (PRO) holding a WRMHEADER, and the text pieces the
 * manifest writers put around them (base64 values, HLS data: URIs, UUID text).
 *
 * Byte order: a KID or system ID is 16 bytes in UUID order (RFC 4122, big-endian fields),
 * as in tenc, pssh and the CPIX text. Only the PlayReady header stores GUIDs little-endian;
 * cr_pssh_pro_write() converts internally, callers never pass GUID-ordered bytes.
 *
 * KIDs and keys are passed as arrays of pointers to 16 bytes, so a caller points at the
 * keys where they live (crypt/cpix.h cr_key_t) instead of copying secrets around.
 *
 * Writers are size-first (pack/bytes.h): run them with wr_counter() for the size, then into
 * a buffer of exactly that size (the _build helpers do both into an arena). Writers that
 * can fail return 0 or a negative errno and leave the error in w->err too (sticky):
 *   -ENOSPC   the buffer is too small (w->cap);
 *   -EINVAL   bad arguments (no KIDs, a missing AESCTR key, text that is not valid UTF-8
 *             or holds control characters, a header too long for its length field);
 *   -ENOTSUP  a protection scheme the PlayReady header cannot express;
 *   -EIO      OpenSSL failed (AES-ECB for the PlayReady checksum; -ENOMEM when it could
 *             not allocate its cipher context).
 * Each but -ENOSPC is logged once, naming the KID, never a key. Memory: the _build helpers
 * take theirs from the caller's arena; the PlayReady checksum uses (and frees) an OpenSSL
 * cipher context per KID; nothing keeps a pointer past the call. No state: safe from any
 * thread.
 */
#ifndef CR_PSSH_H
#define CR_PSSH_H

#include <stddef.h>
#include <stdint.h>

#include "../pack/arena.h"
#include "../pack/bytes.h"
#include "uuid.h"


/* System IDs (dashif.org/identifiers/content_protection), UUID byte order. */
extern const uint8_t cr_pssh_widevine_id[16];   /* edef8ba9-79d6-4ace-a3c8-27dcd51d21ed */
extern const uint8_t cr_pssh_playready_id[16];  /* 9a04f079-9840-4286-ab92-e65be0885f95 */
extern const uint8_t cr_pssh_common_id[16];     /* 1077efec-c0b2-4d02-ace3-3c1e52e2fb4b (W3C) */

/* DASH ContentProtection@schemeIdUri and HLS EXT-X-KEY KEYFORMAT values. */
#define CR_PSSH_WIDEVINE_URN   "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
#define CR_PSSH_PLAYREADY_URN  "urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95"
#define CR_PSSH_WIDEVINE_KEYFORMAT  CR_PSSH_WIDEVINE_URN
#define CR_PSSH_PLAYREADY_KEYFORMAT "com.microsoft.playready"

/* ---- pssh boxes ------------------------------------------------------------------- */

/* Writes a 'pssh' FullBox: kids == NULL gives version 0 (SystemID, DataSize, Data);
 * otherwise version 1 with KID_count = nkids and the KIDs before DataSize. data may be
 * NULL when len is 0. Returns 0, -EINVAL (data too large for a 32-bit box) or -ENOSPC. */
int cr_pssh_write(wr_t *w, const uint8_t system_id[16], const uint8_t *const *kids,
                  size_t nkids, const uint8_t *data, size_t len);

/* Writes the W3C "Common PSSH" (EME 'cenc' init data format): version 1, system ID
 * 1077efec-…, the KIDs, no data. Clear Key CDMs read the KIDs from it. nkids >= 1.
 * Returns 0, -EINVAL or -ENOSPC. */
int cr_pssh_common_write(wr_t *w, const uint8_t *const *kids, size_t nkids);

/* ---- Widevine --------------------------------------------------------------------- */

/* What goes into a WidevinePsshData message (shaka-packager widevine_pssh_data.proto);
 * every pointer borrowed for the call. At least one KID or a content_id. */
typedef struct {
    const uint8_t *const *kids;     /* key_id (field 2): nkids KIDs of 16 bytes, in order */
    size_t nkids;
    const uint8_t *content_id;      /* content_id (field 4); NULL: left out */
    size_t content_id_len;
    const char *provider;           /* provider (field 3), UTF-8; NULL or "": left out */
    uint32_t scheme;                /* protection_scheme (field 9): FOURCC('c','e','n','c'),
                                       'cbcs', 'cens', 'cbc1'; 0: left out */
} cr_pssh_widevine_t;

/* Writes the serialized WidevinePsshData (the pssh Data). Returns 0, -EINVAL or -ENOSPC. */
int cr_pssh_widevine_data(wr_t *w, const cr_pssh_widevine_t *wv);

/* Writes the complete Widevine 'pssh' box, version 0 (the KIDs are in the data already;
 * v0 is what shaka-packager and AWS SPEKE emit, and what older CDMs parse).
 * Returns 0, -EINVAL or -ENOSPC. */
int cr_pssh_widevine_write(wr_t *w, const cr_pssh_widevine_t *wv);

/* ---- PlayReady -------------------------------------------------------------------- */

/* What goes into a PlayReady header; every pointer borrowed for the call.
 * The header version follows from the scheme and the key count:
 *   cenc/cens (AESCTR), 1 KID  -> WRMHEADER 4.0.0.0 (all PlayReady clients) with CHECKSUM;
 *   cenc/cens, several KIDs    -> 4.2.0.0 (PlayReady 3+), KIDS with ALGID/CHECKSUM/VALUE;
 *   cbcs/cbc1 (AESCBC)         -> 4.3.0.0 (PlayReady 4+), KIDS with ALGID/VALUE, no checksum.
 * Text values are escaped as canonical XML text; "" counts as absent (the spec forbids
 * empty LA_URL/LUI_URL/DS_ID elements). */
typedef struct {
    const uint8_t *const *kids;     /* nkids >= 1 distinct KIDs of 16 bytes, UUID order */
    size_t nkids;
    const uint8_t *const *keys;     /* their content keys (16 bytes each, SECRET), parallel
                                       to kids: required for AESCTR (the CHECKSUM), unused
                                       for AESCBC (may be NULL) */
    uint32_t scheme;                /* FOURCC('c','e','n','c'), 'cens', 'cbcs' or 'cbc1' */
    const char *la_url;             /* LA_URL, absolute URL, UTF-8; NULL: left out */
    const char *lui_url;            /* LUI_URL, UTF-8; NULL: left out */
    const char *ds_id;              /* DS_ID (base64 GUID text); NULL: left out */
} cr_pssh_playready_t;

/* Writes the PlayReady Object: little-endian Length (all of it), record count 1, one record
 * of type 1 holding the WRMHEADER in UTF-16LE (no BOM). This is the mspr:pro / Smooth
 * ProtectionHeader / HLS PlayReady payload and the PlayReady pssh data.
 * Returns 0, -EINVAL, -ENOTSUP, -EIO, -ENOMEM or -ENOSPC. */
int cr_pssh_pro_write(wr_t *w, const cr_pssh_playready_t *pr);

/* Writes the complete PlayReady 'pssh' box: version 0, data = the PRO (KIDs are inside the
 * PRO; shaka-packager and AWS SPEKE write v0). Same returns as cr_pssh_pro_write(). */
int cr_pssh_playready_write(wr_t *w, const cr_pssh_playready_t *pr);

/* ---- built into an arena (for the manifest writers) --------------------------------- */

/* Bytes that live in the arena they were built in. */
typedef struct {
    const uint8_t *p;
    size_t len;
} cr_pssh_blob_t;

/* Each runs its writer twice (count, then write) into memory from a; *out is set only on
 * success. Returns 0, -ENOMEM, or what the writer returns. */
int cr_pssh_widevine_build(arena_t *a, const cr_pssh_widevine_t *wv, cr_pssh_blob_t *out);
int cr_pssh_pro_build(arena_t *a, const cr_pssh_playready_t *pr, cr_pssh_blob_t *out);
int cr_pssh_playready_build(arena_t *a, const cr_pssh_playready_t *pr, cr_pssh_blob_t *out);

/* ---- manifest text ---------------------------------------------------------------- */

/* Appends base64 (RFC 4648, padded) of b: the DASH cenc:pssh value (b = a whole pssh box),
 * mspr:pro and Smooth ProtectionHeader values (b = a PRO). Needs no XML escaping. */
void cr_pssh_base64(wr_t *w, const cr_pssh_blob_t *b);

/* Appends the HLS EXT-X-KEY URI for Widevine, "data:text/plain;base64," + base64 of the
 * whole pssh box (with KEYFORMAT=CR_PSSH_WIDEVINE_KEYFORMAT, KEYFORMATVERSIONS="1"). */
void cr_pssh_hls_widevine_uri(wr_t *w, const cr_pssh_blob_t *pssh_box);

/* Appends the HLS EXT-X-KEY URI for PlayReady, "data:text/plain;charset=UTF-16;base64," +
 * base64 of the PRO (not a pssh box), with KEYFORMAT=CR_PSSH_PLAYREADY_KEYFORMAT. */
void cr_pssh_hls_playready_uri(wr_t *w, const cr_pssh_blob_t *pro);

#endif
