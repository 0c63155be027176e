/*
 * Protection as the writers see it (issue 6): what one track of an encrypted
 * output needs, as data plus one callback. pack/ never calls crypt/: fs/ fills
 * this from crypt/ (CPIX key, scheme, PSSH boxes, subsample counts, the AES
 * callback) and hands it to the writers.
 */
#ifndef PK_PROTECT_H
#define PK_PROTECT_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

typedef struct {
    const uint8_t *data;
    size_t len;
} pk_bytes_t;

/* The transform of one sample: encrypts data[0..len) in place (sample i of the
 * track, in decode order) and writes its senc entry through w: the per-sample IV
 * (iv_size bytes) then, for video, subsample_count (16 bits) and the subsamples
 * {clear 16 bits, protected 32 bits}. With w in count mode nothing is encrypted
 * and only the size is counted (data may then be NULL). Returns 0 or a negative
 * errno (-EBADMSG: a sample that does not parse, logged). */
typedef int (*pk_encrypt_fn)(void *ctx, uint32_t i, uint8_t *data, size_t len, wr_t *w);

typedef struct pk_protect {
    uint32_t scheme;            /* FOURCC('c','e','n','c') or FOURCC('c','b','c','s') */
    uint8_t kid[16];            /* tenc default_KID, UUID byte order */
    uint8_t iv_size;            /* per-sample IV bytes: 8 for cenc, 0 for cbcs (constant IV) */
    uint8_t constant_iv[16];    /* cbcs: tenc default_constant_IV */
    uint8_t crypt_blocks;       /* cbcs pattern: 1:9 for video, 0:0 (whole blocks) for audio */
    uint8_t skip_blocks;
    uint32_t pssh_count;
    const pk_bytes_t *pssh;     /* complete pssh boxes for the init segment's moov */
    /* senc sizes without reading samples: subsamples of sample i, NULL for audio
     * (whole-sample protection, no subsample list) */
    const uint16_t *subsample_counts;   /* [track sample_count] */
    pk_encrypt_fn encrypt;
    void *ctx;
} pk_protect_t;

/* Manifest signalling of one track's key (DASH ContentProtection, HLS EXT-X-KEY,
 * Smooth ProtectionHeader): what the CPIX gave, or what crypt/pssh.c built. */
typedef struct {
    uint8_t system_id[16];      /* UUID byte order */
    pk_bytes_t pssh;            /* complete pssh box (DASH cenc:pssh; HLS Widevine data: URI) */
    pk_bytes_t pro;             /* PlayReady Object (mspr:pro, Smooth), empty for others */
    const char *content_protection; /* CPIX ContentProtectionData: XML to put inside
                                     * <ContentProtection>, or NULL */
    const char *la_url;         /* ClearKey dashif:laurl / licence URL, or NULL */
} pk_drm_system_t;

typedef struct {
    uint32_t scheme;            /* cenc or cbcs */
    uint8_t kid[16];            /* cenc:default_KID */
    uint32_t system_count;
    const pk_drm_system_t *systems;
    /* Smooth ProtectionHeader (cenc only; empty/NULL otherwise): the PlayReady Object of
     * the CPIX's PlayReady system for this key, or one built for it when the CPIX names
     * none (a Smooth client learns of the encryption from this header alone), and the
     * CPIX's SmoothStreamingProtectionHeaderData (base64 text, written as given), or NULL */
    pk_bytes_t smooth_pro;
    const char *smooth_header;
} pk_track_drm_t;

/* The signalling of a protected view: drm[i] for view track i (pk_view_t tracks). */
typedef struct pk_drm {
    uint32_t track_count;
    const pk_track_drm_t *const *tracks;
} pk_drm_t;

/* Bytes of sample i's senc entry. */
static inline size_t pk_protect_senc_entry_size(const pk_protect_t *p, uint32_t i)
{
    return p->iv_size + (p->subsample_counts ? 2 + 6 * (size_t)p->subsample_counts[i] : 0);
}

#endif
