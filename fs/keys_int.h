/*
 * Private to the three files of fs/keys.h: fs/keys.c (the CPIX document cache, keys per
 * track, which assets and sources are protected, DRM signalling), fs/keys_protect.c
 * (sample encryption: fs_keys_protect, aux blobs) and fs/keys_hls.c (key tags of
 * playlists, AES-128 whole segments, SAMPLE-AES TS): the protection of an asset as all
 * see it, and what each lends the others. fs/keys.h is the contract; the names here are
 * prefixed keys_ (not fs_keys_): nothing outside these files calls them.
 */
#ifndef FS_KEYS_INT_H
#define FS_KEYS_INT_H

#include "../crypt/aes.h"
#include "../crypt/cpix.h"
#include "keys.h"

#define CENC FOURCC('c', 'e', 'n', 'c')
#define CBCS FOURCC('c', 'b', 'c', 's')

/* A parsed CPIX document, as the cache keeps it (fs/keys.c); a request holds it while it
 * uses anything of it. */
typedef struct cfile cfile_t;

/* Keys and pssh boxes of one (KID, scheme), built once per request. */
typedef struct sysmemo {
    struct sysmemo *next;
    const cr_key_t *key;
    uint32_t scheme;
    pk_track_drm_t drm;         /* DASH: the systems the CPIX names for the key */
    uint32_t pssh_count;
    pk_bytes_t *pssh;           /* init segment: their boxes and the W3C common one */
} sysmemo_t;

struct fs_prot {
    cfile_t *file;              /* the asset's CPIX; NULL: protected as a source only */
    const char *ism;            /* canonical path, for log lines */
    const char *path;           /* its CPIX document's path (there or not) */
    unsigned schemes;
    sysmemo_t *sys;             /* built so far, in the request arena */
};

/* ---- fs/keys.c ---------------------------------------------------------------------- */

/* The parsed document of f (never NULL for a document a protection names). */
const cr_cpix_t *keys_cpix(const cfile_t *f);

/* The key of a track of vt's shape (cr_cpix_key_for), each answer asked of the document
 * once (so a track without a key is logged once per version). Returns 0, -ENOKEY or
 * -EBADMSG. */
int keys_track_key(cfile_t *f, const pk_vtrack_t *vt, const cr_key_t **out);

/* The key of vt, and whether it serves `scheme` (CENC or CBCS): 0, -ENOENT (no keys of
 * its own, another scheme) or -EIO. */
int keys_usable_key(const fs_prot_t *p, const pk_vtrack_t *vt, uint32_t scheme,
                    const cr_key_t **out);

/* The signalling of key k in `scheme` (DRM systems, pssh boxes), built once per request
 * into p. Returns 0, -ENOMEM, or what building a pssh returned (logged). */
int keys_systems(fs_req_t *req, fs_prot_t *p, const cr_key_t *k, uint32_t scheme,
                 const sysmemo_t **out);

/* Once per document version: why k's HLS AES-128 names are not there (a warning). */
void keys_log_no_uri(cfile_t *f, const cr_key_t *k);

/* The path below SRC's real path of what fd names (request arena copy), so that every
 * spelling of a file leads to one path; `rel` itself when /proc cannot tell or fd is -1.
 * NULL without memory. */
char *keys_canon(fs_req_t *req, int fd, const char *rel);

/* A blob kept with document f under (id, tag, len, x[0..xlen)), or NULL; valid while f is
 * held. keys_kept_put keeps a copy, unless f is full or has it (no memory: not kept). */
const void *keys_kept_get(cfile_t *f, const ix_file_key_t *id, const char *tag, size_t len,
                          const void *x, size_t xlen);
void keys_kept_put(cfile_t *f, const ix_file_key_t *id, const char *tag, const void *blob,
                   size_t len, const void *x, size_t xlen);

/* ---- fs/keys_protect.c -------------------------------------------------------------- */

/* The identity of the file behind a source, its real path below SRC in id->path (request
 * arena). Returns 0 or -ENOMEM. */
int keys_source_id(fs_req_t *req, const pk_source_t *src, ix_file_key_t *id);

/* AES-128-ECB(key, in) as the first keystream block of CTR context ctr with counter block
 * `in`. Returns 0 or cr_aes_cenc's error. */
int keys_ecb(cr_aes_t *ctr, const uint8_t in[16], uint8_t out[16]);

/*
 * Per-track data derived from every sample of a source, `bytes` bytes under `tag` of the
 * source identity id: kept with the document `keep` (NULL: none), else this request's
 * memo, else the index, else made by make(ctx, &blob) in the request arena and stored in
 * all three. *out lives as long as the request. Returns 0, -ENOMEM, or make's error.
 */
typedef int (*keys_aux_make_fn)(void *ctx, void **out);
int keys_aux_blob(fs_req_t *req, cfile_t *keep, const ix_file_key_t *id, const char *tag,
                  size_t bytes, keys_aux_make_fn make, void *ctx, const void **out);

/* ---- fs/keys_hls.c ------------------------------------------------------------------ */

/* The CPIX's key URI of k (fs/keys.h "Key URIs"): its length, and in *uri (when uri is not
 * NULL) where it starts in the document (not NUL-terminated); 0 when the CPIX names none. */
size_t keys_cpix_key_uri(const cr_cpix_t *c, const cr_key_t *k, const char **uri);

/* v as 8 bytes big-endian at p. */
static inline void keys_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

#endif
