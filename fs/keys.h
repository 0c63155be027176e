/*
 * Keys (DESIGN §1 "Encryption"): which assets are protected, their CPIX documents, and
 * the protection of one encrypted output as pack/'s writers take it (pack/protect.h).
 *
 * An asset NAME.ism is protected when keys=DIR holds DIR/<path of NAME.ism below SRC
 * without .ism>.cpix.xml; the path is the .ism's real path (symlinked directories and
 * other spellings of SRC lead to the one document). The document is read with
 * crypt/cpix.h, at most FS_CPIX_FILE_MAX bytes, cached by path and identity (device,
 * inode, size, mtime) like filter files: read again when it changes, and a bad one is
 * logged once per version. The sources of a protected asset are protected too (so an
 * MP4 or another .ism naming the same files gives nothing away): a file is a protected
 * source when a protected .ism of its (real) directory names it (compared by device and
 * inode). Limitation: a protected .ism naming files of another directory ("../x.mp4")
 * does not protect them there, nor copies elsewhere; AMS assets are one directory each.
 *
 * For a protected asset (without allow_clear) every clear name is EACCES; the encrypted
 * variants are built here: per track the content key the CPIX usage rules choose
 * (cr_cpix_key_for), the scheme of the URL, and
 *   cenc  per-sample 8-byte IVs: sample i of a track gets S + i (64-bit big-endian,
 *         wrapping), where S = the first 8 bytes of AES-128-ECB(key, "ismfs iv" ||
 *         FNV-1a-64(real path of the source below SRC, size, mtime, track id)). No IV repeats
 *         within a track (2^64 samples would be needed); two tracks under one key overlap if
 *         their starts fall within their sample counts of each other (probability ~ n/2^64 per
 *         pair, the same argument as shaka-packager's random IV, which increments too).
 *         Deterministic: bytes and sizes are stable across restarts, and a changed source
 *         (new size or mtime) gets new IVs (no keystream reuse over different content).
 *   cbcs  the constant IV of the CPIX explicitIV, else AES-128-ECB(key, "ismfs cbcs civ\0\0")
 *         (public in tenc anyway); pattern 1:9 for video, 0:0 (every whole block) audio.
 *   pssh  for each DRMSystem of the key in the CPIX: its PSSH when given, else built
 *         (Widevine v0 with the KID and scheme, PlayReady PRO with LA_URL from
 *         playready_la_url=, W3C common v1); FairPlay has none; the init segment always
 *         carries the W3C common pssh with the KID (ClearKey CDMs read the KID there).
 *   senc  subsample counts per (source identity, track, scheme class), computed once
 *         with cr_subsample_counts and kept in the LMDB index (aux blob), so sizes need
 *         no sample reads after the first time, across restarts too.
 * A CPIX that does not parse, or a track of the asset without a key, makes the asset EIO
 * (logged once per version by crypt/cpix.c, never with key material); a URL scheme the
 * key's commonEncryptionScheme excludes is ENOENT.
 */
#ifndef FS_KEYS_H
#define FS_KEYS_H

#include <sys/stat.h>

#include "../pack/protect.h"
#include "../pack/view.h"
#include "ctx.h"

#define FS_CPIX_FILE_MAX (1u << 20)     /* bytes of a CPIX document */
#define FS_CPIX_FILES_MAX 256           /* parsed documents kept; least recently used go */

#define FS_KEYS_CENC 1u                 /* fs_keys_schemes() bits */
#define FS_KEYS_CBCS 2u

/*
 * keys= as the daemon keeps it: the real path of `dir` into *out (malloc'd), checked to
 * be a directory that is neither SRC nor inside it (key files must never be listed).
 * Returns 0, -ENOTDIR, -EINVAL (inside SRC), or the errno of realpath/stat. No log.
 */
int fs_keys_dir(const char *dir, const char *src, char **out);

int fs_keys_init(fs_ctx_t *ctx);
void fs_keys_free(fs_ctx_t *ctx);

/* The protection of one asset, for the request that got it (lives in its arena). */
typedef struct fs_prot fs_prot_t;

/*
 * Whether asset `ism` (below SRC), cut into the unfiltered view v, is protected.
 * Sets *out = NULL for a clear asset (no keys=, or nothing protects it), else *out: an
 * asset with its own CPIX (every track of v has a key), or one whose sources another
 * protected asset names (no keys: nothing but EACCES). The CPIX joins req->newest.
 * Returns 0, -EIO (the CPIX is unusable or leaves a track without a key; logged once
 * per version), -ENOMEM.
 */
int fs_keys_asset(fs_req_t *req, const char *ism, const pk_view_t *v, fs_prot_t **out);

/* The schemes an asset serves (FS_KEYS_CENC | FS_KEYS_CBCS; 0 without a CPIX of its own):
 * those every key's commonEncryptionScheme allows. */
unsigned fs_keys_schemes(const fs_prot_t *p);

/*
 * Whether the passthrough file `rel` (below SRC; st: its stat) is a source of a protected
 * asset. Returns 1, 0 (also without keys=), or -ENOMEM. Results are kept per directory
 * for the rest of the request (a listing scans a directory once).
 */
int fs_keys_source(fs_req_t *req, const char *rel, const struct stat *st);

enum {
    FS_PROTECT_INIT = 0,        /* init segment: key, IVs, pssh boxes */
    FS_PROTECT_SIZE = 1,        /* + subsample counts (fragment sizes, no sample read) */
    FS_PROTECT_CONTENT = 2,     /* + the encrypt callback (fragment bytes) */
};

/*
 * The protection of view track vt of p's asset in `scheme` (FOURCC cenc or cbcs), for
 * `what` (above). Everything lives in the request arena (the AES context too, wiped at
 * fs_req_end). Returns 0 and *out, -ENOENT (no keys of its own, or a scheme the key
 * excludes), -EIO (subsample layout failed: logged), -ENOMEM.
 */
int fs_keys_protect(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, uint32_t scheme,
                    int what, pk_protect_t **out);

/*
 * The manifest signalling of view v (p's asset, any filtered view of it) in `scheme`:
 * drm->tracks[i] for v->tracks[i]. Returns 0 and *out (in the request arena), -ENOENT
 * (as fs_keys_protect), -ENOMEM, or what building a pssh returned (logged).
 */
int fs_keys_drm(fs_req_t *req, fs_prot_t *p, const pk_view_t *v, uint32_t scheme,
                const pk_drm_t **out);

#endif
