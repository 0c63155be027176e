#include "assets.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../pack/cmaf.h"
#include "../pack/log.h"
#include "../pack/ts.h"
#include "media.h"
#include "source.h"

struct fs_asset_id {
    char *rel;
    fs_fcache_id_t id;
    int absent;                 /* the file could not be stat'ed when the entry was made */
};

struct fs_asset_cache {
    fs_fcache_t table;
};

static void destroy(fs_fcache_entry_t *e)
{
    arena_free(FS_FCACHE_OWNER(e, fs_asset_t, entry)->arena); /* the entry lives in it */
}

int fs_assets_init(fs_ctx_t *ctx)
{
    struct fs_asset_cache *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    fs_fcache_init(&c->table, FS_ASSETS_MAX, destroy);
    ctx->assets = c;
    return 0;
}

void fs_assets_free(fs_ctx_t *ctx)
{
    struct fs_asset_cache *c = ctx->assets;
    if (!c)
        return;
    fs_fcache_fini(&c->table);
    free(c);
    ctx->assets = NULL;
}

/* The identity of `rel` now; -errno when it cannot be stat'ed beneath SRC. */
static int identify(int src_fd, const char *rel, struct fs_asset_id *id)
{
    struct stat st;
    int rc = fs_stat_beneath(src_fd, rel, &st);
    if (rc < 0)
        return rc;
    id->id = fs_fcache_id(&st);
    return 0;
}

static int still_valid(int src_fd, const fs_asset_t *a)
{
    for (uint32_t i = 0; i < a->id_count; i++) {
        struct fs_asset_id now;
        int gone = identify(src_fd, a->ids[i].rel, &now) < 0;
        if (gone != a->ids[i].absent ||
            (!gone && !fs_fcache_id_same(&now.id, &a->ids[i].id)))
            return 0;
    }
    return 1;
}

/* Works out the TS packets of every fragment once per asset (pack/ts.h), so that TS
 * sizes, continuity counters and HLS bandwidths cost nothing per request. Only where
 * the sample table suffices; a track whose table does not (or that TS cannot carry)
 * keeps the per-request path, which reports its errors where they matter. */
static void add_ts_packets(pk_view_t *v, arena_t *a)
{
    for (uint32_t i = 0; i < v->track_count; i++) {
        pk_vtrack_t *vt = &v->tracks[i];
        uint32_t *p;
        if (!pk_ts_packets_cheap(vt))
            continue;
        if (pk_ts_packets(vt, 1, a, &p) == 0)
            vt->ts_packets = p;
        if (vt->t->type == PK_TRACK_AUDIO && pk_ts_packets(vt, 0, a, &p) == 0)
            vt->ts_packets_mux = p;
        if (vt->t->type == PK_TRACK_VIDEO && pk_ts_key_packets(vt, a, &p) == 0)
            vt->ts_key_packets = p;
    }
}

/* The CMAF header size of every fragment, for HLS bandwidths (pack/hls.c). */
static void add_cmaf_headers(pk_view_t *v, arena_t *a)
{
    for (uint32_t i = 0; i < v->track_count; i++) {
        pk_vtrack_t *vt = &v->tracks[i];
        uint32_t *h = arena_calloc(a, v->frag_count ? v->frag_count : 1, sizeof *h);
        if (!h)
            return;
        for (uint32_t k = 0; k < v->frag_count; k++)
            h[k] = vt->frags[k].count ? (uint32_t)pk_cmaf_fragment_header_size(vt, k) : 0;
        vt->cmaf_header = h;
    }
}

/* Builds the asset into a new entry with its own arena; *raced: the .ism changed while it
 * was read (the entry serves this request alone). */
static int build(fs_ctx_t *ctx, const char *ism, fs_asset_t **out, int *raced)
{
    fs_req_t req;
    const pk_asset_t *as;
    struct fs_asset_id ism_id, ism_after;
    int rc;

    if ((rc = identify(ctx->src_fd, ism, &ism_id)) < 0)
        return rc;
    if ((rc = fs_req_begin(ctx, &req)) < 0)
        return rc;
    req.copy_media = 1;         /* the entry outlives the index snapshot */
    fs_asset_t *a = arena_zalloc(req.arena, sizeof *a);
    if (!a) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = fs_asset_open(&req, ism, &as)) < 0 ||
        (rc = pk_view_build(as, ctx->opt.fragment_ms, req.arena, &a->view)) < 0) {
        if (rc == -ENOENT && !req.failed)
            PK_ERROR("%s: no video or audio track to serve", ism);
        if (rc == -ENOMEM || rc == -EIO)
            goto fail;          /* a failed read (fs/source.c logged it) may pass: not kept */
        a->err = -EIO;          /* logged where it was found; remembered below */
        a->view = NULL;
    } else {
        add_ts_packets(a->view, req.arena);
        add_cmaf_headers(a->view, req.arena);
    }
    uint32_t n = 2;
    for (const struct fs_media_memo *mm = req.media; mm; mm = mm->next)
        n++;
    a->ids = arena_calloc(req.arena, n, sizeof *a->ids);
    a->entry.key = a->ism = arena_strdup(req.arena, ism);
    if (!a->ids || !a->ism || !(ism_id.rel = arena_strdup(req.arena, ism))) {
        rc = -ENOMEM;
        goto fail;
    }
    a->ids[a->id_count++] = ism_id;
    for (const struct fs_media_memo *mm = req.media; mm; mm = mm->next)
        a->ids[a->id_count++] = (struct fs_asset_id){
            (char *)mm->rel, { mm->id.dev, mm->id.ino, mm->id.size, mm->id.mtime_ns }, 0 };
    if (a->err && req.failed) {
        /* the file that broke the build: its change (or return) retries it */
        struct fs_asset_id *f = &a->ids[a->id_count++];
        f->rel = (char *)req.failed;
        f->absent = identify(ctx->src_fd, req.failed, f) < 0;
    }
    /* the .ism read may have raced an edit: then this entry is already stale */
    *raced = identify(ctx->src_fd, ism, &ism_after) < 0 ||
             !fs_fcache_id_same(&ism_after.id, &ism_id.id);
    a->newest = req.newest;
    a->version = FS_HASH_INIT;
    for (uint32_t i = 0; i < a->id_count; i++) {
        const struct fs_asset_id *d = &a->ids[i];
        uint64_t v[5] = { d->id.dev, d->id.ino, d->id.size, (uint64_t)d->id.mtime_ns,
                          (uint64_t)d->absent };
        a->version = fs_hash(fs_hash(a->version, d->rel, strlen(d->rel)), v, sizeof v);
    }
    a->arena = req.arena;
    atomic_store(&a->checked_ns, fs_now_ns());
    ix_read_end(req.rd);        /* everything was copied out of it */
    *out = a;
    return 0;
fail:
    fs_req_end(&req);
    return rc;
}

/* *out = a for the caller, who holds it; a broken asset's error instead. */
static int served(fs_asset_t *a, fs_asset_t **out)
{
    if (a->err) {
        int rc = a->err;
        fs_asset_release(a);
        return rc;
    }
    *out = a;
    return 0;
}

int fs_asset_get(fs_ctx_t *ctx, const char *ism, fs_asset_t **out)
{
    fs_fcache_t *c = &ctx->assets->table;
    fs_fcache_entry_t *e = fs_fcache_get(c, ism, NULL);
    fs_asset_t *a;
    int rc, raced;

    if (e) {
        /* checked outside the lock: stat calls may block on the storage */
        a = FS_FCACHE_OWNER(e, fs_asset_t, entry);
        uint64_t now = fs_now_ns();
        int fresh = now - atomic_load(&a->checked_ns) < FS_ASSETS_RECHECK_NS;
        if (fresh || still_valid(ctx->src_fd, a)) {
            if (!fresh)
                atomic_store(&a->checked_ns, now);
            return served(a, out);
        }
        fs_fcache_drop(e);
        fs_fcache_release(e);
    }
    if ((rc = build(ctx, ism, &a, &raced)) < 0)
        return rc;
    if (raced)
        fs_fcache_alone(c, &a->entry);
    else    /* a concurrent build of the same asset loses its place to this one */
        fs_fcache_put(c, &a->entry, FS_FCACHE_REPLACE, &e);
    return served(a, out);
}

void fs_asset_release(void *p)
{
    fs_asset_t *a = p;
    fs_fcache_release(a ? &a->entry : NULL);
}
