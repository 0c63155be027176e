#include "view.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../index/index.h"
#include "../pack/cmaf.h"
#include "../pack/filter.h"
#include "../pack/hls.h"
#include "../pack/log.h"
#include "../pack/mpd.h"
#include "../pack/smooth.h"
#include "../pack/ts.h"
#include "../pack/view.h"
#include "assets.h"
#include "filters.h"
#include "keys.h"
#include "media.h"
#include "path.h"
#include "source.h"

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* pack/ speaks -EBADMSG for malformed input and -ENOTSUP for valid input it
 * cannot serve; a reader of the file system sees both as an I/O error. */
static int kernel_err(int rc)
{
    return rc == -EBADMSG || rc == -ENOTSUP ? -EIO : rc;
}

/* ---- generated objects ---------------------------------------------------- */

typedef enum {
    J_MPD, J_SMOOTH_MANIFEST, J_HLS_MASTER, J_HLS_MEDIA, J_HLS_IFRAMES, J_CMAF_INIT, J_TS,
    J_CMAF_INIT_PROTECTED, J_TS_AES, J_TS_SAES, J_CMAF_AES,
} job_kind_t;

typedef struct {
    job_kind_t kind;
    const pk_view_t *v;
    const pk_vtrack_t *vt, *mux;
    uint32_t k;                 /* fragment (J_TS*, J_CMAF_AES: PK_HLS_INIT for the init) */
    int fmt;                    /* pk_mpd_profile_t or pk_hls_format_t */
    const pk_urlopts_t *o;
    const pk_protect_t *prot;   /* J_CMAF_INIT_PROTECTED */
    fs_req_t *req;              /* J_TS_AES, J_CMAF_AES: the request and the asset's keys */
    fs_prot_t *keys;
    const pk_ts_saes_t *saes[2]; /* J_TS_SAES: the protection of vt and mux */
    arena_t *a;
} job_t;

static int run_job(const job_t *j, wr_t *w)
{
    int rc = 0;
    switch (j->kind) {
    case J_MPD: rc = pk_mpd_write(j->v, (pk_mpd_profile_t)j->fmt, j->o, w); break;
    case J_SMOOTH_MANIFEST: rc = pk_smooth_manifest(j->v, j->o, w); break;
    case J_HLS_MASTER: rc = pk_hls_master(j->v, (pk_hls_format_t)j->fmt, j->o, j->a, w); break;
    case J_HLS_MEDIA:
        rc = pk_hls_media(j->v, j->vt, j->mux, (pk_hls_format_t)j->fmt, j->o, w);
        break;
    case J_HLS_IFRAMES:
        rc = pk_hls_iframes(j->v, j->vt, (pk_hls_format_t)j->fmt, j->o, j->a, w);
        break;
    case J_CMAF_INIT: pk_cmaf_init(j->vt, w); break;
    case J_CMAF_INIT_PROTECTED: pk_cmaf_init_protected(j->vt, j->prot, w); break;
    case J_TS: rc = pk_ts_segment(j->vt, j->mux, j->k, j->a, w); break;
    case J_TS_AES: rc = fs_keys_ts_aes(j->req, j->keys, j->vt, j->mux, j->k, w); break;
    case J_CMAF_AES: rc = fs_keys_cmaf_aes(j->req, j->keys, j->vt, j->k, w); break;
    case J_TS_SAES:
        rc = pk_ts_segment_saes(j->vt, j->saes[0], j->mux, j->saes[1], j->k, j->a, w);
        break;
    }
    return rc < 0 ? rc : w->err;
}

/* Size-first: a counting pass gives the size; with FS_VIEW_CONTENT a second pass
 * writes exactly that many bytes into the request arena. */
static int render_passes(fs_req_t *req, const job_t *j, int what, fs_object_t *out)
{
    wr_t w = wr_counter();
    int rc = run_job(j, &w);
    if (rc < 0)
        return rc;
    out->size = w.pos;
    if (what != FS_VIEW_CONTENT)
        return 0;
    uint8_t *buf = arena_alloc(req->arena, w.pos ? w.pos : 1);
    if (!buf || pk_plan_init(&out->plan, req->arena, 1) < 0)
        return -ENOMEM;
    wr_t w2 = wr_init(buf, w.pos);
    if ((rc = run_job(j, &w2)) < 0)
        return rc;
    if (w2.pos != w.pos) {
        PK_ERROR("writer %d: counted %zu bytes, wrote %zu", (int)j->kind, w.pos, w2.pos);
        return -EIO;
    }
    return pk_plan_bytes(&out->plan, req->arena, buf, w.pos);
}

/* The writers read sample by sample (TS, encrypted): their source reads are checked once
 * each at the end (fs/source.h fs_source_defer_begin), before anything is served or kept. */
static int render(fs_req_t *req, const job_t *j, int what, fs_object_t *out)
{
    fs_source_defer_t d;
    fs_source_defer_begin(&d);
    return fs_source_defer_end(&d, render_passes(req, j, what, out));
}

typedef struct {
    const char *ism;            /* the .ism below SRC */
    pk_view_t *view;
    const pk_vtrack_t *default_audio; /* first audio track: muxed into HLS v3 */
    pk_urlopts_t opts;
    fs_prot_t *prot;            /* protected asset (fs/keys.h), NULL when clear */
    uint64_t version;           /* the asset's identities (fs_asset_t.version) */
} asset_t;

static const pk_vtrack_t *first_audio(const pk_view_t *v)
{
    for (uint32_t i = 0; i < v->track_count; i++)
        if (v->tracks[i].t->type == PK_TRACK_AUDIO)
            return &v->tracks[i];
    return NULL;
}

/* The asset from the cache, held until the request ends. */
static int open_asset(fs_req_t *req, const char *ism, asset_t *as)
{
    fs_asset_t *a;
    int rc;
    memset(as, 0, sizeof *as);
    as->ism = ism;
    as->opts = (pk_urlopts_t){ .playlist = "", .segment = "" };
    if ((rc = fs_asset_get(req->ctx, ism, &a)) < 0)
        return rc;
    if (arena_defer(req->arena, fs_asset_release, a) < 0) {
        fs_asset_release(a);
        return -ENOMEM;
    }
    as->view = a->view;
    as->version = a->version;
    if (a->newest.tv_sec > req->newest.tv_sec ||
        (a->newest.tv_sec == req->newest.tv_sec && a->newest.tv_nsec > req->newest.tv_nsec))
        req->newest = a->newest;
    as->default_audio = first_audio(as->view);
    return fs_keys_asset(req, ism, as->view, &as->prot);
}

/*
 * The asset seen through the filters a name gives (DESIGN §1 "Filters"): the view
 * narrowed by pk_filter_apply, and the filters repeated in child playlist URLs,
 * canonical (",filter=a;b": the names in the given order); segment URLs stay those
 * of the unfiltered view. The filter files join req->newest.
 */
static int filter_asset(fs_req_t *req, const asset_t *as, const fs_path_t *p, asset_t *out)
{
    const pk_filter_t *f[FS_FILTERS_MAX];
    pk_view_t *v;
    size_t n = sizeof ",filter=";
    int rc;

    if ((rc = fs_filters_find(req, as->ism, p->filters, p->filter_count, f)) < 0 ||
        (rc = pk_filter_apply(as->view, f, p->filter_count, req->arena, &v)) < 0)
        return rc;
    for (uint32_t i = 0; i < p->filter_count; i++)
        n += strlen(p->filters[i]) + 1;
    char *s = arena_alloc(req->arena, n);
    if (!s)
        return -ENOMEM;
    size_t k = (size_t)snprintf(s, n, ",filter=");
    for (uint32_t i = 0; i < p->filter_count; i++)
        k += (size_t)snprintf(s + k, n - k, "%s%s", i ? ";" : "", p->filters[i]);
    *out = *as;
    out->view = v;
    out->default_audio = first_audio(v);
    out->opts.playlist = s;
    return 0;
}

static const pk_vtrack_t *audio_named(const pk_view_t *v, const char *name)
{
    for (uint32_t i = 0; i < v->track_count; i++)
        if (v->tracks[i].t->type == PK_TRACK_AUDIO && strcmp(v->tracks[i].at->name, name) == 0)
            return &v->tracks[i];
    return NULL;
}

static pk_hls_format_t hls_format(fs_format_t f)
{
    return f == FS_FMT_HLS_V3 ? PK_HLS_V3 : f == FS_FMT_HLS_CMAF ? PK_HLS_CMAF : PK_HLS_V4;
}

/* Whether TS segments in Apple SAMPLE-AES (m3u8-aapl/-v3, encryption=cbcs-aapl) are served:
 * their masters and playlists exist only then, so that no playlist names a missing file. */
static const int ts_sample_aes = 1;

/* The scheme fourcc of an encrypted name (FS_AES128 for AES-128), 0 for a clear one;
 * -ENOENT for what this origin does not serve encrypted: it serves CMAF (DASH manifests
 * and CMAF segments) in cenc and cbcs, Smooth (manifest and fragments) in cenc and piff
 * (both AES-CTR), and HLS as below. */
static int64_t scheme_of(const asset_t *as, const fs_path_t *p)
{
    if (p->encryption == FS_ENC_NONE)
        return 0;
    int cmaf = p->kind == FS_REQ_MANIFEST
        ? p->format == FS_FMT_MPD_CSF || p->format == FS_FMT_MPD_CMAF
        : p->kind == FS_REQ_FRAGMENT && p->format == FS_FMT_CMAF;
    int smooth = (p->kind == FS_REQ_MANIFEST || p->kind == FS_REQ_FRAGMENT) &&
                 p->format == FS_FMT_SMOOTH;
    unsigned have = as->prot ? fs_keys_schemes(as->prot) : 0;
    if (smooth && (p->encryption == FS_ENC_CENC || p->encryption == FS_ENC_PIFF) &&
        (have & FS_KEYS_CENC))
        return FOURCC('c', 'e', 'n', 'c');
    /* HLS (pack/hls.h "Encrypted HLS"): m3u8-cmaf masters and playlists in cenc
     * (SAMPLE-AES-CTR) and cbcs-aapl (SAMPLE-AES) over the CMAF segments; m3u8-aapl and -v3
     * masters, playlists and TS segments in cbc (AES-128), and in cbcs-aapl (Apple
     * SAMPLE-AES TS) once its segments are served (ts_sample_aes); m3u8-cmaf in cbc too
     * (AES-128 over whole CMAF segments and init: HLS only, no DASH manifest names them) */
    int hls_cmaf = p->format == FS_FMT_HLS_CMAF &&
                   (p->kind == FS_REQ_MANIFEST || p->kind == FS_REQ_PLAYLIST);
    int ts = (p->format == FS_FMT_HLS_V4 || p->format == FS_FMT_HLS_V3) &&
             p->kind != FS_REQ_QUALITY_DIR;
    int cmaf_seg = p->kind == FS_REQ_FRAGMENT && p->format == FS_FMT_CMAF;
    if ((cmaf || hls_cmaf) && p->encryption == FS_ENC_CENC && (have & FS_KEYS_CENC))
        return FOURCC('c', 'e', 'n', 'c');
    if ((cmaf || hls_cmaf) && p->encryption == FS_ENC_CBCS && (have & FS_KEYS_CBCS))
        return FOURCC('c', 'b', 'c', 's');
    if ((ts || hls_cmaf || cmaf_seg) && p->encryption == FS_ENC_CBC && (have & FS_KEYS_AES128))
        return FS_AES128;
    if (ts && p->encryption == FS_ENC_CBCS && ts_sample_aes && (have & FS_KEYS_CBCS))
        return FOURCC('c', 'b', 'c', 's');
    return -ENOENT;
}

/* An encrypted DASH manifest: the segment URLs carry the encryption, and the view's
 * tracks their key signalling. */
static int protect_manifest(fs_req_t *req, const asset_t *as, const fs_path_t *p,
                            uint32_t scheme, job_t *j)
{
    pk_urlopts_t *o = arena_alloc(req->arena, sizeof *o);
    int rc;
    if (!o)
        return -ENOMEM;
    *o = *j->o;
    o->segment = p->encryption == FS_ENC_CENC ? ",encryption=cenc"
               : p->encryption == FS_ENC_PIFF ? ",encryption=piff" : ",encryption=cbcs";
    if ((rc = fs_keys_drm(req, as->prot, j->v, scheme, &o->drm)) < 0)
        return rc;
    j->o = o;
    return 0;
}

/*
 * An encrypted HLS master or playlist: child playlist URLs carry the encryption as HLS names
 * spell it, segment URLs as their files do (CMAF: cenc, cbcs; TS: cbc, cbcs-aapl: fs/path.c),
 * and the tracks their key signalling (fs_keys_hls), with the sizes the writer measures:
 * a master's BANDWIDTH (every track), a CMAF I-frame playlist's byte ranges (vt's).
 */
static int protect_hls(fs_req_t *req, const asset_t *as, const fs_path_t *p, uint32_t scheme,
                       const pk_vtrack_t *vt, job_t *j)
{
    const char *e = p->encryption == FS_ENC_CBC ? "cbc"
                  : p->encryption == FS_ENC_CENC ? "cenc" : "cbcs-aapl";
    pk_urlopts_t *o = arena_alloc(req->arena, sizeof *o);
    int master = j->kind == J_HLS_MASTER, sized = master || j->kind == J_HLS_IFRAMES;
    size_t n;
    char *s;
    int rc;

    if (!o)
        return -ENOMEM;
    *o = *j->o;
    n = strlen(o->playlist) + sizeof ",encryption=" + strlen(e);
    if (!(s = arena_alloc(req->arena, n)))
        return -ENOMEM;
    snprintf(s, n, "%s,encryption=%s", o->playlist, e);
    o->segment = p->format == FS_FMT_HLS_CMAF && p->encryption == FS_ENC_CBCS
                 ? ",encryption=cbcs" : s + strlen(o->playlist);
    o->playlist = s;
    if ((rc = fs_keys_hls(req, as->prot, j->v, scheme,
                          (sized ? FS_HLS_SIZES : 0) |
                          (p->format != FS_FMT_HLS_CMAF ? FS_HLS_TS : 0),
                          master ? NULL : vt, &o->hls)) < 0)
        return rc;
    j->o = o;
    return 0;
}

/* Smooth has one ProtectionHeader per presentation (pk_smooth_one_key): an asset whose
 * Smooth tracks have more than one key has no encrypted Smooth names, manifests or
 * fragments (as nginx-vod-module, which takes the first track's key for all). Judged on
 * the unfiltered view, so a filter never makes names appear. */
static int smooth_one_key(fs_req_t *req, const asset_t *as, uint32_t scheme)
{
    const pk_drm_t *drm;
    int rc = fs_keys_drm(req, as->prot, as->view, scheme, &drm);
    if (rc < 0)
        return rc;
    return pk_smooth_one_key(as->view, drm) ? 0 : -ENOENT;
}

static int fragment_object(fs_req_t *req, const asset_t *as, const fs_path_t *p,
                           int64_t scheme, job_t *jp, int what, fs_object_t *out);

#define FS_OBJ_MAX (64u << 20)  /* bytes of one object kept in the cache, at most */

static char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : arena_alloc(a, (size_t)n + 1);
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

/*
 * The object cache key of a segment: everything its bytes depend on. The build of this
 * program, the asset's identities (every source: fs/assets.h), its CPIX's identity, the
 * fragment duration, and what the name asks for. A changed source, key file, option or
 * program is a new key: nothing stale is ever found.
 */
static const char *obj_key(fs_req_t *req, const asset_t *as, const fs_path_t *p, int64_t scheme)
{
    return arena_printf(req->arena, "seg|%s|%s|%016" PRIx64 "|%016" PRIx64 "|%u|%d|%d|%s|%u|%"
                        PRIu64 "|%s|%" PRId64, req->ctx->build, as->ism, as->version,
                        as->prot ? fs_keys_version(as->prot) : 0, req->ctx->opt.fragment_ms,
                        (int)p->format, (int)p->encryption, p->track, p->bitrate, p->time,
                        p->audiotrack, scheme);
}

/* Counts an object served from the cache (hit) or generated, for the metrics. */
static void obj_count(fs_req_t *req, int hit)
{
    atomic_fetch_add_explicit(hit ? &req->ctx->metrics.obj_hits : &req->ctx->metrics.obj_made, 1,
                              memory_order_relaxed);
}

/* A cached segment into out (a copy in the request arena). Returns 1 on a hit, else 0. */
static int obj_get(fs_req_t *req, const char *key, fs_object_t *out)
{
    const void *blob;
    size_t len;
    if (fs_req_read(req) < 0 || ix_obj_get(req->rd, key, &blob, &len) < 0)
        return 0;
    uint8_t *buf = arena_alloc(req->arena, len ? len : 1);
    if (!buf || pk_plan_init(&out->plan, req->arena, 1) < 0)
        return 0;
    memcpy(buf, blob, len);
    if (pk_plan_bytes(&out->plan, req->arena, buf, len) < 0)
        return 0;
    out->size = len;
    PK_DEBUG("object cache hit: %zu bytes, %s", len, key);
    return 1;
}

/* Keeps the bytes of a segment just made (the writer thread commits them later). */
static void obj_put(fs_req_t *req, const char *key, fs_object_t *out)
{
    ix_t *ix = req->ctx->ix;
    uint8_t *buf;
    if (!ix || out->size > FS_OBJ_MAX)
        return;
    if (!(buf = arena_alloc(req->arena, out->size ? out->size : 1)))
        return;
    if (fs_source_plan_read(&out->plan, 0, buf, out->size) != (ssize_t)out->size)
        return;
    (void)ix_obj_put(ix, key, buf, out->size);      /* a full cache only costs speed */
}

/*
 * The object cache key of a manifest or playlist: the segment key (obj_key), the
 * options that reach manifest text (key_uri=, playready_la_url=), the filter files the
 * request consulted (req->deps) and every part of the name that selects the text.
 */
static const char *man_key(fs_req_t *req, const asset_t *as, const fs_path_t *p, int64_t scheme)
{
    const fs_options_t *o = &req->ctx->opt;
    uint64_t opts = FS_HASH_INIT;
    if (o->key_uri)
        opts = fs_hash(opts, o->key_uri, strlen(o->key_uri));
    opts = fs_hash(opts, "|", 1);
    if (o->playready_la_url)
        opts = fs_hash(opts, o->playready_la_url, strlen(o->playready_la_url));
    const char *s = obj_key(req, as, p, scheme);
    if (s)
        s = arena_printf(req->arena, "man|%s|%016" PRIx64 "|%016" PRIx64 "|%d|%d|%d|", s, opts,
                         req->deps, (int)p->kind, p->keyframes, p->audio_only_false);
    for (uint32_t i = 0; s && i < p->filter_count; i++)
        s = arena_printf(req->arena, "%s%s;", s, p->filters[i]);
    return s;
}

/*
 * A manifest or playlist: from the object cache when it was made before (a restarted
 * mount serves it without regenerating), else rendered whole and kept, also for a
 * getattr, so that the open which follows reads it from the cache.
 */
static int cached_render(fs_req_t *req, const asset_t *as, const fs_path_t *p, int64_t scheme,
                         const job_t *j, int what, fs_object_t *out)
{
    const char *key = NULL;
    if (req->ctx->ix && !req->ctx->opt.no_objects) {
        if (!(key = man_key(req, as, p, scheme)))
            return -ENOMEM;
        if (obj_get(req, key, out) == 1) {
            obj_count(req, 1);
            return 0;
        }
        what = FS_VIEW_CONTENT;
    }
    int rc = render(req, j, what, out);
    if (rc == 0 && key) {
        obj_put(req, key, out);
        obj_count(req, 0);
    }
    return kernel_err(rc);
}

/* The object a parsed name of the grammar denotes in asset `as`. */
static int asset_object(fs_req_t *req, const asset_t *as, const fs_path_t *p, int what,
                        fs_object_t *out)
{
    asset_t filtered;
    pk_protect_t *prot;
    int rc;

    /* a protected asset serves encrypted names only (DESIGN §1 "Encryption") */
    int64_t scheme = scheme_of(as, p);
    if (scheme < 0)
        return (int)scheme;
    if (!scheme && as->prot && !req->ctx->opt.allow_clear && p->kind != FS_REQ_QUALITY_DIR)
        return -EACCES;
    if (scheme && p->format == FS_FMT_SMOOTH &&
        (rc = smooth_one_key(req, as, (uint32_t)scheme)) < 0)
        return kernel_err(rc);
    if (p->filter_count) {      /* manifests and playlists only: the grammar sees to it */
        if ((rc = filter_asset(req, as, p, &filtered)) < 0)
            return kernel_err(rc);
        as = &filtered;
    }
    const pk_view_t *v = as->view;
    const pk_vtrack_t *vt = NULL, *mux = NULL;
    job_t j = { .v = v, .o = &as->opts, .a = req->arena };

    out->mtime = req->newest;
    if (p->kind == FS_REQ_MANIFEST) {
        if (p->format == FS_FMT_SMOOTH) {
            j.kind = J_SMOOTH_MANIFEST;
        } else if (p->format == FS_FMT_MPD_CSF || p->format == FS_FMT_MPD_CMAF) {
            j.kind = J_MPD;
            j.fmt = p->format == FS_FMT_MPD_CMAF ? PK_MPD_CMAF : PK_MPD_CSF;
        } else {
            j.kind = J_HLS_MASTER;
            j.fmt = hls_format(p->format);
        }
        if (p->audio_only_false) {
            pk_urlopts_t *o = arena_alloc(req->arena, sizeof *o);
            if (!o)
                return -ENOMEM;
            *o = as->opts;
            o->audio_only_false = 1;
            j.o = o;
        }
        if (scheme && (rc = j.kind == J_HLS_MASTER
                                ? protect_hls(req, as, p, (uint32_t)scheme, NULL, &j)
                                : protect_manifest(req, as, p, (uint32_t)scheme, &j)) < 0)
            return kernel_err(rc);
        return cached_render(req, as, p, scheme, &j, what, out);
    }
    if (p->kind == FS_REQ_QUALITY_DIR) {
        for (uint32_t i = 0; i < v->track_count; i++) {
            if (v->tracks[i].at->bitrate == p->bitrate) {
                out->is_dir = 1;
                return 0;
            }
        }
        return -ENOENT;
    }
    if (!(vt = pk_view_track(v, p->track, p->bitrate)))
        return -ENOENT;
    int video = vt->t->type == PK_TRACK_VIDEO;
    if (p->format == FS_FMT_HLS_V3 && video) {
        mux = *p->audiotrack ? audio_named(v, p->audiotrack) : as->default_audio;
        if (*p->audiotrack && !mux)
            return -ENOENT;
    } else if (p->format == FS_FMT_HLS_V3 && *p->audiotrack) {
        return -ENOENT;
    }
    j.vt = vt;
    j.mux = mux;
    if (p->kind == FS_REQ_PLAYLIST) {
        if (p->keyframes && (!video || p->format == FS_FMT_HLS_V3))
            return -ENOENT;
        j.kind = p->keyframes ? J_HLS_IFRAMES : J_HLS_MEDIA;
        j.fmt = hls_format(p->format);
        if (scheme && (rc = protect_hls(req, as, p, (uint32_t)scheme, vt, &j)) < 0)
            return kernel_err(rc);
        return cached_render(req, as, p, scheme, &j, what, out);
    }
    /* FS_REQ_FRAGMENT */
    if (p->init) {
        if (p->format != FS_FMT_CMAF)
            return -ENOENT;
        j.kind = J_CMAF_INIT;
        if (scheme == FS_AES128) {
            j.kind = J_CMAF_AES;
            j.k = PK_HLS_INIT;
            j.req = req;
            j.keys = as->prot;
        } else if (scheme) {
            if ((rc = fs_keys_protect(req, as->prot, vt, (uint32_t)scheme, FS_PROTECT_INIT,
                                      &prot)) < 0)
                return kernel_err(rc);
            j.kind = J_CMAF_INIT_PROTECTED;
            j.prot = prot;
        }
        return kernel_err(render(req, &j, what, out));
    }
    if ((rc = pk_view_find(v, vt, p->time)) < 0)
        return -ENOENT;
    j.k = (uint32_t)rc;
    /* transformed segments (TS, encrypted): made once, then read from the object cache */
    const char *key = NULL;
    if (what == FS_VIEW_CONTENT && !req->ctx->opt.no_objects &&
        (scheme || p->format == FS_FMT_HLS_V4 || p->format == FS_FMT_HLS_V3)) {
        if (!(key = obj_key(req, as, p, scheme)))
            return -ENOMEM;
        if (obj_get(req, key, out) == 1) {
            obj_count(req, 1);
            return 0;
        }
    }
    if ((rc = fragment_object(req, as, p, scheme, &j, what, out)) == 0 && key) {
        obj_put(req, key, out);
        obj_count(req, 0);
    }
    return rc;
}

/* A media segment: j has the track, its muxed audio and the fragment index k. */
static int fragment_object(fs_req_t *req, const asset_t *as, const fs_path_t *p,
                           int64_t scheme, job_t *jp, int what, fs_object_t *out)
{
    const pk_vtrack_t *vt = jp->vt, *mux = jp->mux;
    job_t j = *jp;
    pk_protect_t *prot;
    int rc;

    if (scheme == FS_AES128) {  /* TS or CMAF in AES-128 */
        j.kind = p->format == FS_FMT_CMAF ? J_CMAF_AES : J_TS_AES;
        j.req = req;
        j.keys = as->prot;
        return kernel_err(render(req, &j, what, out));
    }
    if (scheme && (p->format == FS_FMT_HLS_V4 || p->format == FS_FMT_HLS_V3)) {
        /* TS in Apple SAMPLE-AES: sizes from the growth fs/keys.c keeps in the index */
        pk_ts_saes_t *sm, *sx;
        if ((rc = fs_keys_saes(req, as->prot, vt, mux, &sm, &sx)) < 0)
            return kernel_err(rc);
        j.kind = J_TS_SAES;
        j.saes[0] = sm;
        j.saes[1] = sx;
        return kernel_err(render(req, &j, what, out));
    }
    if (scheme) {               /* CMAF or Smooth: scheme_of let nothing else through */
        int content = what == FS_VIEW_CONTENT;
        fs_source_defer_t d;    /* samples read for encryption: checked once (as render) */
        if ((rc = fs_keys_protect(req, as->prot, vt, (uint32_t)scheme,
                                  content ? FS_PROTECT_CONTENT : FS_PROTECT_SIZE, &prot)) < 0)
            return kernel_err(rc);
        if (p->format == FS_FMT_SMOOTH) {
            pk_smooth_box_t box = p->encryption == FS_ENC_PIFF ? PK_SMOOTH_PIFF : PK_SMOOTH_SENC;
            if (!content)
                return kernel_err(pk_smooth_fragment_protected_size(vt, j.k, prot, box,
                                                                    &out->size));
            fs_source_defer_begin(&d);
            if ((rc = fs_source_defer_end(&d, pk_smooth_fragment_protected(
                     vt, j.k, prot, box, req->arena, &out->plan))) < 0)
                return kernel_err(rc);
            out->size = out->plan.size;
            return 0;
        }
        if (!content)
            return kernel_err(pk_cmaf_fragment_protected_size(vt, j.k, prot, &out->size));
        fs_source_defer_begin(&d);
        if ((rc = fs_source_defer_end(&d, pk_cmaf_fragment_protected(vt, j.k, prot, req->arena,
                                                                     &out->plan))) < 0)
            return kernel_err(rc);
        out->size = out->plan.size;
        return 0;
    }
    switch (p->format) {
    case FS_FMT_CMAF:
        if ((rc = pk_cmaf_fragment(vt, j.k, req->arena, &out->plan)) < 0)
            return kernel_err(rc);
        out->size = out->plan.size;
        return 0;
    case FS_FMT_SMOOTH:
        if ((rc = pk_smooth_fragment(vt, j.k, req->arena, &out->plan)) < 0)
            return kernel_err(rc);
        out->size = out->plan.size;
        return 0;
    case FS_FMT_HLS_V4:
    case FS_FMT_HLS_V3:
        j.kind = J_TS;
        return kernel_err(render(req, &j, what, out));
    default:
        return -ENOENT;
    }
}

/* ---- passthrough ------------------------------------------------------------ */

static int real_object(fs_req_t *req, const char *rel, int what, fs_object_t *out)
{
    struct stat st;
    size_t n = strlen(rel);

    if (ends_with(rel, n, ".filters.json"))
        return -ENOENT;         /* asset filters: read by ismfs, not shown */
    int rc = fs_stat_beneath(req->ctx->src_fd, rel, &st);
    if (rc < 0)
        return rc;
    out->mtime = st.st_mtim;
    if (S_ISDIR(st.st_mode)) {
        out->is_dir = 1;
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return -ENOENT;         /* devices, fifos, sockets are not media */
    if (ends_with(rel, n, ".ism")) {
        out->is_dir = 1;        /* a server manifest is the directory of its outputs */
        return 0;
    }
    /* the clear media of a protected asset */
    if (!req->ctx->opt.allow_clear && (rc = fs_keys_source(req, rel, &st)) != 0)
        return rc < 0 ? rc : -EACCES;
    out->size = (uint64_t)st.st_size;
    if (what == FS_VIEW_CONTENT) {
        pk_source_t *src = arena_alloc(req->arena, sizeof *src);
        if (!src)
            return -ENOMEM;
        if ((rc = fs_source_open(req, rel, src, &st)) < 0 ||
            (rc = pk_plan_init(&out->plan, req->arena, 1)) < 0 ||
            (rc = pk_plan_range(&out->plan, req->arena, src, 0, src->size)) < 0)
            return rc;
        out->size = src->size;
    }
    return 0;
}

/* Splits vpath at the first component that is a .ism file: *ism (a copy in the
 * arena) and *inner (what follows, "" for the asset directory itself). Returns
 * 1 when vpath is inside an asset, 0 when it is not, or a negative errno. */
static int split_asset(fs_req_t *req, const char *vpath, char **ism, const char **inner)
{
    for (const char *p = vpath; *p;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - vpath) : strlen(vpath);
        if (ends_with(vpath, n, ".ism")) {
            char *prefix = arena_strndup(req->arena, vpath, n);
            struct stat st;
            if (!prefix)
                return -ENOMEM;
            if (fs_stat_beneath(req->ctx->src_fd, prefix, &st) == 0 && S_ISREG(st.st_mode)) {
                *ism = prefix;
                *inner = end ? end + 1 : "";
                return 1;
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

int fs_view_lookup(fs_req_t *req, const char *vpath, int what, fs_object_t *out)
{
    char *ism;
    const char *inner;
    asset_t as;
    fs_path_t p;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = split_asset(req, vpath, &ism, &inner)) <= 0)
        rc = rc < 0 ? rc : real_object(req, vpath, what, out);
    else if (!*inner)
        rc = real_object(req, ism, what, out);
    else if (fs_path_parse(inner, &p) < 0)
        return -ENOENT;
    else if ((rc = open_asset(req, ism, &as)) == 0 &&
             (rc = asset_object(req, &as, &p, what, out)) == 0) {
        out->format = (uint8_t)(FS_MF_NONE + 1 + p.format);
        out->kind = p.kind == FS_REQ_MANIFEST ? FS_MK_MANIFEST
                  : p.kind == FS_REQ_PLAYLIST ? FS_MK_PLAYLIST
                  : p.kind == FS_REQ_QUALITY_DIR ? FS_MK_DIR
                  : p.init ? FS_MK_INIT : FS_MK_SEGMENT;
        return 0;
    }
    if (rc == 0)
        out->kind = out->is_dir ? FS_MK_DIR : FS_MK_FILE;
    return rc;
}

/* ---- listings ------------------------------------------------------------- */

/*
 * Lists the names of *p in each encryption the asset offers: clear (unless protected
 * without allow_clear), then cbc, cenc, cbcs and piff for a protected asset. A name that is
 * not offered (an I-frame playlist of audio, a format not served encrypted, a clear name
 * of a protected asset) is left out.
 */
static int emit(fs_req_t *req, const asset_t *as, const fs_path_t *p0, fs_view_entry_fn fn,
                void *ctx, int *stop)
{
    static const fs_encryption_t encs[] = { FS_ENC_NONE, FS_ENC_CBC, FS_ENC_CENC, FS_ENC_CBCS,
                                            FS_ENC_PIFF };
    char name[2 * FS_NAME_MAX + 128];
    fs_path_t p = *p0;
    size_t n = as->prot && p.kind != FS_REQ_QUALITY_DIR ? sizeof encs / sizeof *encs : 1;

    for (size_t e = 0; e < n && !*stop; e++) {
        fs_object_t obj;
        memset(&obj, 0, sizeof obj);
        p.encryption = encs[e];
        if (fs_path_format(&p, name, sizeof name) >= sizeof name)
            return -ENAMETOOLONG;
        int rc = asset_object(req, as, &p, FS_VIEW_SIZE, &obj);
        if (rc == -ENOENT || rc == -EACCES)
            continue;
        if (rc < 0)
            return rc;
        *stop = fn(ctx, name, &obj);
    }
    return 0;
}

static int list_asset(fs_req_t *req, const asset_t *as, fs_view_entry_fn fn, void *ctx)
{
    static const fs_format_t manifests[] = {
        FS_FMT_SMOOTH, FS_FMT_MPD_CSF, FS_FMT_MPD_CMAF, FS_FMT_HLS_V4, FS_FMT_HLS_V3,
        FS_FMT_HLS_CMAF,
    };
    int rc, stop = 0;
    for (size_t i = 0; i < sizeof manifests / sizeof *manifests && !stop; i++) {
        fs_path_t p = { .kind = FS_REQ_MANIFEST, .format = manifests[i] };
        if ((rc = emit(req, as, &p, fn, ctx, &stop)) < 0)
            return rc;
    }
    for (uint32_t i = 0; i < as->view->track_count && !stop; i++) {
        uint32_t b = as->view->tracks[i].at->bitrate, seen = 0;
        for (uint32_t j = 0; j < i; j++)
            seen |= as->view->tracks[j].at->bitrate == b;
        fs_path_t p = { .kind = FS_REQ_QUALITY_DIR, .bitrate = b };
        if (!seen && (rc = emit(req, as, &p, fn, ctx, &stop)) < 0)
            return rc;
    }
    return 0;
}

static int list_quality(fs_req_t *req, const asset_t *as, uint32_t bitrate, fs_view_entry_fn fn,
                        void *ctx)
{
    static const struct { fs_req_kind_t kind; fs_format_t fmt; int keyframes; } kinds[] = {
        { FS_REQ_PLAYLIST, FS_FMT_HLS_V4, 0 }, { FS_REQ_PLAYLIST, FS_FMT_HLS_V4, 1 },
        { FS_REQ_PLAYLIST, FS_FMT_HLS_V3, 0 }, { FS_REQ_PLAYLIST, FS_FMT_HLS_CMAF, 0 },
        { FS_REQ_PLAYLIST, FS_FMT_HLS_CMAF, 1 },
    };
    static const fs_format_t frag_formats[] = {
        FS_FMT_CMAF, FS_FMT_SMOOTH, FS_FMT_HLS_V4, FS_FMT_HLS_V3,
    };
    int rc, stop = 0;
    const pk_view_t *v = as->view;
    for (uint32_t i = 0; i < v->track_count && !stop; i++) {
        const pk_vtrack_t *vt = &v->tracks[i];
        if (vt->at->bitrate != bitrate)
            continue;
        int video = vt->t->type == PK_TRACK_VIDEO;
        fs_path_t p = { .bitrate = bitrate };
        snprintf(p.track, sizeof p.track, "%s", vt->at->name);
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds && !stop; k++) {
            if (kinds[k].fmt == FS_FMT_HLS_V3 && !video && v->tracks[v->ref].t->type ==
                PK_TRACK_VIDEO)
                continue;       /* v3 muxes audio into the video variants */
            p.kind = kinds[k].kind;
            p.format = kinds[k].fmt;
            p.keyframes = kinds[k].keyframes;
            p.audiotrack[0] = '\0';
            if (p.format == FS_FMT_HLS_V3 && video && as->default_audio)
                snprintf(p.audiotrack, sizeof p.audiotrack, "%s", as->default_audio->at->name);
            if ((rc = emit(req, as, &p, fn, ctx, &stop)) < 0)
                return rc;
        }
        p = (fs_path_t){ .kind = FS_REQ_FRAGMENT, .format = FS_FMT_CMAF, .init = 1,
                         .bitrate = bitrate };
        snprintf(p.track, sizeof p.track, "%s", vt->at->name);
        if (!stop && (rc = emit(req, as, &p, fn, ctx, &stop)) < 0)
            return rc;
        p.init = 0;
        for (uint32_t f = v->frag_begin; f < v->frag_end && !stop; f++) {
            if (!vt->frags[f].count)
                continue;
            p.time = vt->frags[f].time;
            for (size_t k = 0; k < sizeof frag_formats / sizeof *frag_formats && !stop; k++) {
                p.format = frag_formats[k];
                p.audiotrack[0] = '\0';
                if (p.format == FS_FMT_HLS_V3) {
                    if (!video && v->tracks[v->ref].t->type == PK_TRACK_VIDEO)
                        continue;
                    if (video && as->default_audio)
                        snprintf(p.audiotrack, sizeof p.audiotrack, "%s",
                                 as->default_audio->at->name);
                }
                if ((rc = emit(req, as, &p, fn, ctx, &stop)) < 0)
                    return rc;
            }
        }
    }
    return 0;
}

/*
 * A listing kept in the object cache: records of { u64 size, u8 is_dir, u16 name length,
 * name }, big-endian. Only sizes and names are kept: every entry's mtime is req->newest,
 * which the asset (and its CPIX) set, and those are in the key.
 */
typedef struct {
    fs_view_entry_fn fn;        /* the caller's */
    void *ctx;
    uint8_t *buf;               /* records so far (malloc) */
    size_t len, cap;
    int stopped, err;
} rec_t;

static int record(void *c, const char *name, const fs_object_t *obj)
{
    rec_t *r = c;
    size_t n = strlen(name);
    if (n > UINT16_MAX)
        r->err = -ENAMETOOLONG; /* the listing goes on, it is only not kept */
    if (!r->err && r->len + 11 + n > r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64 << 10;
        uint8_t *b;
        while (cap < r->len + 11 + n)
            cap *= 2;
        if (!(b = realloc(r->buf, cap)))
            r->err = -ENOMEM;   /* as above */
        else
            r->buf = b, r->cap = cap;
    }
    if (!r->err) {
        wr_t w = wr_init(r->buf + r->len, r->cap - r->len);
        wr_u64(&w, obj->size);
        wr_u8(&w, obj->is_dir ? 1 : 0);
        wr_u16(&w, (uint16_t)n);
        wr_bytes(&w, name, n);
        r->len += w.pos;
    }
    return r->stopped = r->fn(r->ctx, name, obj);
}

/* Replays a kept listing. Returns 0, or -EBADMSG for a blob that does not parse (nothing
 * is passed to fn before the whole blob has been checked). */
static int replay(fs_req_t *req, const uint8_t *blob, size_t len, fs_view_entry_fn fn, void *ctx)
{
    for (int pass = 0; pass < 2; pass++) {
        rd_t r = rd_init(blob, len);
        char name[FS_NAME_MAX * 2 + 128];
        while (rd_left(&r) && !r.err) {
            fs_object_t obj = { .mtime = req->newest };
            obj.size = rd_u64(&r);
            obj.is_dir = rd_u8(&r);
            uint16_t n = rd_u16(&r);
            if (n >= sizeof name || n > rd_left(&r) || obj.is_dir > 1)
                return -EBADMSG;
            rd_bytes(&r, name, n);
            name[n] = '\0';
            if (pass == 1 && !r.err && fn(ctx, name, &obj))
                return 0;
        }
        if (r.err)
            return -EBADMSG;
    }
    return 0;
}

/*
 * Lists an asset directory (p->kind 0) or a QualityLevels directory: from the object cache
 * when listed before, else listed and kept. A 2-hour QualityLevels directory has 14 400
 * names whose sizes come from walking every sample table (400 ms), a kept one replays in a
 * few. The key is a manifest's (every source, option and CPIX) plus allow_clear, which
 * decides which names exist.
 */
static int cached_list(fs_req_t *req, const asset_t *as, const fs_path_t *p,
                       fs_view_entry_fn fn, void *ctx)
{
    const char *key = NULL;
    const void *blob;
    size_t len;
    int rc;
    if (req->ctx->ix && !req->ctx->opt.no_objects) {
        const char *mk = man_key(req, as, p, 0);
        if (!mk || !(key = arena_printf(req->arena, "dir|%d|%s", req->ctx->opt.allow_clear,
                                        mk)))
            return -ENOMEM;
        if (fs_req_read(req) == 0 && ix_obj_get(req->rd, key, &blob, &len) == 0) {
            if ((rc = replay(req, blob, len, fn, ctx)) == 0) {
                obj_count(req, 1);
                return 0;
            }
            PK_ERROR("%s: a kept listing does not parse (%zu bytes): listing anew", as->ism,
                     len);
        }
    }
    rec_t r = { .fn = fn, .ctx = ctx };
    rc = p->kind ? list_quality(req, as, p->bitrate, key ? record : fn, key ? (void *)&r : ctx)
                 : list_asset(req, as, key ? record : fn, key ? (void *)&r : ctx);
    if (rc == 0 && key && !r.stopped && !r.err && r.len <= FS_OBJ_MAX) {
        (void)ix_obj_put(req->ctx->ix, key, r.buf, r.len);      /* full: only costs speed */
        obj_count(req, 0);
    }
    free(r.buf);
    return rc;
}

static int list_real(fs_req_t *req, const char *rel, fs_view_entry_fn fn, void *ctx)
{
    int fd = fs_open_beneath(req->ctx->src_fd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return fd;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int stop = 0, rc = 0;
    for (struct dirent *e; !stop && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t n = strlen(rel) + strlen(e->d_name) + 2;
        char *child = arena_alloc(req->arena, n);
        fs_object_t obj;
        if (!child) {
            rc = -ENOMEM;
            break;
        }
        snprintf(child, n, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        memset(&obj, 0, sizeof obj);
        if (real_object(req, child, FS_VIEW_SIZE, &obj) == 0)
            stop = fn(ctx, e->d_name, &obj);
    }
    closedir(d);
    return rc;
}

int fs_view_list(fs_req_t *req, const char *vpath, fs_view_entry_fn fn, void *ctx)
{
    asset_t as;
    char *ism;
    const char *inner;
    fs_path_t p;
    fs_object_t obj;
    int rc;

    if ((rc = fs_view_lookup(req, vpath, FS_VIEW_SIZE, &obj)) < 0)
        return rc;
    if (!obj.is_dir)
        return -ENOTDIR;
    if ((rc = split_asset(req, vpath, &ism, &inner)) < 0)
        return rc;
    if (rc == 0)
        return list_real(req, vpath, fn, ctx);
    memset(&p, 0, sizeof p);   /* kind 0: the asset directory itself */
    if (*inner && (fs_path_parse(inner, &p) < 0 || p.kind != FS_REQ_QUALITY_DIR))
        return -ENOTDIR;
    if ((rc = open_asset(req, ism, &as)) < 0)
        return rc;
    return cached_list(req, &as, &p, fn, ctx);
}
