/*
 * Keys (DESIGN §1 "Encryption"): which assets are protected, their CPIX documents, and
 * the protection of one encrypted output as pack/'s writers take it (pack/protect.h).
 * Written in three files: fs/keys.c (documents, keys, protected assets and sources, DRM
 * signalling), fs/keys_protect.c (fs_keys_protect), fs/keys_hls.c (the HLS part below).
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
 *         Smooth (cenc): the ProtectionHeader is the CPIX's SmoothStreamingProtectionHeaderData,
 *         else its PlayReady PRO, else a PRO built for the key even when the CPIX names no
 *         PlayReady (pk_track_drm_t smooth_pro): Smooth has no other signalling.
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
#define FS_KEYS_AES128 4u               /* HLS AES-128: keys without a commonEncryptionScheme,
                                         * each with a key URI (below) */

/* The scheme argument for HLS AES-128 whole segments (RFC 8216 4.3.2.4), which is no CENC
 * scheme: a value no box carries. */
#define FS_AES128 FOURCC('a', 'e', 's', '1')

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

/* The schemes an asset serves (FS_KEYS_CENC | FS_KEYS_CBCS | FS_KEYS_AES128; 0 without a
 * CPIX of its own): those every key's commonEncryptionScheme allows (AES-128: none is
 * given), AES-128 only when every key has a key URI (else logged once per document
 * version: its HLS AES-128 names are ENOENT). */
unsigned fs_keys_schemes(const fs_prot_t *p);

/* A hash of the identity (device, inode, size, mtime) of p's CPIX document, 0 without one:
 * encrypted bytes depend on it, so the object cache's keys carry it. */
uint64_t fs_keys_version(const fs_prot_t *p);

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

/* ---- HLS (pack/hls.h "Encrypted HLS") ---------------------------------------------- */

/*
 * Key URIs: where a player fetches a key itself (HLS AES-128 key files, identity lines of
 * SAMPLE-AES): the CPIX's, from a ClearKey DRMSystem of the KID (the URI of its media
 * HLSSignalingData line, else its URIExtXKey), else key_uri= with every "{kid}" replaced
 * by the KID as UUID text. fs_keys_uri_check() vets a key_uri= value: 0, or -EINVAL (empty,
 * or holding blanks, '"' or control characters, which no URI has).
 */
int fs_keys_uri_check(const char *tmpl);

enum {
    FS_HLS_SIZES = 1,           /* fs_keys_hls: what sizes need (masters, I-frame playlists) */
    FS_HLS_TS = 2,              /* ... for TS (else CMAF) */
};

/*
 * The HLS signalling of view v (p's asset, any filtered view of it) in `scheme` (CENC ->
 * SAMPLE-AES-CTR, CBCS -> SAMPLE-AES, FS_AES128 -> AES-128): per track its key (KID, key
 * URI, the cbcs constant IV), and per key the CPIX's DRM systems (FairPlay included, with
 * its URIExtXKey; Widevine and PlayReady with the pssh box / PRO of fs_keys_drm; ClearKey
 * and W3C common as one identity line with the key URI, also for a key the CPIX names no
 * system for) with their HLSSignalingData. `what` (FS_HLS_*) says the container and
 * whether sizes are needed; `only`: the track whose playlist it is (its segments alone are
 * checked and sized), NULL for a master (all). CMAF with sizes: each track's protection
 * (FS_PROTECT_SIZE). SAMPLE-AES TS: each track's fs_keys_saes (its -ENOENT: a track
 * SAMPLE-AES cannot carry has no playlist, and a master with one none), kept for sizes.
 * AES-128: the IV callback,
 * IV = AES-128-ECB(key, FNV-1a-64("ismfs aes-128", identity of the source files and track
 * ids of vt and mux, fragment duration) || fragment time, 64-bit big-endian each), so no
 * two segments under one key share one (ECB is a permutation: distinct inputs give
 * distinct IVs), a segment has the same IV in every playlist and a changed source new
 * ones. Everything lives in the request arena. Returns 0 and *out, -ENOENT (no keys of its
 * own, a scheme a key excludes, AES-128 for a key without URI), -EIO, -ENOMEM, or what
 * building a pssh returned (logged).
 */
int fs_keys_hls(fs_req_t *req, fs_prot_t *p, const pk_view_t *v, uint32_t scheme, int what,
                const pk_vtrack_t *only, const struct pk_hls_keys **out);

/*
 * HLS AES-128 TS segment k of vt (mux: the v3 audio beside it, else NULL) through w:
 * pk_ts_segment's bytes in AES-128-CBC with PKCS7 padding (cr_aes_hls_*), under vt's key,
 * with the IV its playlist names. In count mode only the size (the clear size padded up to
 * the next multiple of 16, at least 1 byte more): no key is used. Returns 0, -ENOENT (as
 * fs_keys_hls), -EIO, -ENOMEM, w->err, or an error of pk_ts_segment.
 */
int fs_keys_ts_aes(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                   uint32_t k, wr_t *w);

/*
 * HLS AES-128 CMAF (m3u8-cmaf, encryption=cbc) of vt through w: the clear CMAF fragment k
 * (pk_cmaf_fragment, its samples read here), or with k == PK_HLS_INIT (pack/hls.h) the
 * clear init segment (pk_cmaf_init), whole in AES-128-CBC with PKCS7 padding under vt's
 * key, with the IV its playlist names (distinct from every TS segment's). In count mode
 * only the size, from the sample table: no sample is read, no key used. Returns 0, -ENOENT
 * (as fs_keys_hls), -EIO, -ENOMEM, w->err, or an error of pk_cmaf_fragment or the read.
 */
int fs_keys_cmaf_aes(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, uint32_t k, wr_t *w);

/*
 * Apple SAMPLE-AES TS segments (pack/ts.h pk_ts_segment_saes) of vt and, in HLS v3, of
 * mux (the audio beside it, else NULL): the transform of each track under its CPIX key
 * with the constant IV its cbcs boxes and playlists name (fs_keys_protect: explicitIV or
 * derived), and for video the growth of every sample, kept in the LMDB index per (source
 * identity, track, key and IV) as an aux blob: worked out once by reading and encrypting
 * the track, then sizes and continuity counters need no sample read, across restarts too;
 * and the TS packets of every fragment of the protected video (pk_ts_packets_saes), kept
 * in memory with the asset's CPIX document for its view's fragments, so that neither a
 * segment's size nor its continuity counters walk the samples of earlier segments.
 * *out_mux is NULL without mux. Everything lives in the request arena (the AES contexts
 * too, wiped at fs_req_end) or with the document the request holds. Returns 0; -ENOENT for a name that does not exist: no keys of
 * its own, a key excluding cbcs, a track SAMPLE-AES cannot carry (pk_ts_saes_supported:
 * HEVC, AC-3, ...), a v3 segment whose audio has another key or IV than its video (one
 * EXT-X-KEY covers the segment); -EIO (the growth could not be worked out: logged);
 * -ENOMEM.
 */
struct pk_ts_saes;
int fs_keys_saes(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                 struct pk_ts_saes **out_main, struct pk_ts_saes **out_mux);

#endif
