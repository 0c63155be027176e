#include "assets.h"

#include <fcntl.h>
#include <pthread.h>
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
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    int absent;                 /* the file could not be stat'ed when the entry was made */
};

struct fs_asset_cache {
    pthread_mutex_t lock;
    fs_asset_t *head;           /* entries in the table */
    uint32_t count;
    uint64_t clock;
};

int fs_assets_init(fs_ctx_t *ctx)
{
    struct fs_asset_cache *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    ctx->assets = c;
    return 0;
}

static void destroy(fs_asset_t *a)
{
    arena_free(a->arena);       /* the entry itself lives in its arena */
}

void fs_assets_free(fs_ctx_t *ctx)
{
    struct fs_asset_cache *c = ctx->assets;
    if (!c)
        return;
    for (fs_asset_t *a = c->head, *next; a; a = next) {
        next = a->next;
        destroy(a);
    }
    pthread_mutex_destroy(&c->lock);
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
    id->dev = (uint64_t)st.st_dev;
    id->ino = (uint64_t)st.st_ino;
    id->size = (uint64_t)st.st_size;
    id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return 0;
}

static int same(const struct fs_asset_id *a, const struct fs_asset_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns;
}

static int still_valid(int src_fd, const fs_asset_t *a)
{
    for (uint32_t i = 0; i < a->id_count; i++) {
        struct fs_asset_id now;
        int gone = identify(src_fd, a->ids[i].rel, &now) < 0;
        if (gone != a->ids[i].absent || (!gone && !same(&now, &a->ids[i])))
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

/* Builds the asset into a new entry with its own arena. */
static int build(fs_ctx_t *ctx, const char *ism, fs_asset_t **out)
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
    a->ism = arena_strdup(req.arena, ism);
    if (!a->ids || !a->ism || !(ism_id.rel = arena_strdup(req.arena, ism))) {
        rc = -ENOMEM;
        goto fail;
    }
    a->ids[a->id_count++] = ism_id;
    for (const struct fs_media_memo *mm = req.media; mm; mm = mm->next)
        a->ids[a->id_count++] = (struct fs_asset_id){
            (char *)mm->rel, mm->id.dev, mm->id.ino, mm->id.size, mm->id.mtime_ns, 0 };
    if (a->err && req.failed) {
        /* the file that broke the build: its change (or return) retries it */
        struct fs_asset_id *f = &a->ids[a->id_count++];
        f->rel = (char *)req.failed;
        f->absent = identify(ctx->src_fd, req.failed, f) < 0;
    }
    /* the .ism read may have raced an edit: then this entry is already stale */
    if (identify(ctx->src_fd, ism, &ism_after) < 0 || !same(&ism_after, &ism_id))
        a->stale = 1;
    a->newest = req.newest;
    a->version = FS_HASH_INIT;
    for (uint32_t i = 0; i < a->id_count; i++) {
        const struct fs_asset_id *d = &a->ids[i];
        uint64_t v[5] = { d->dev, d->ino, d->size, (uint64_t)d->mtime_ns, (uint64_t)d->absent };
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

/* Takes `a` out of the table (lock held). */
static void unlink_entry(struct fs_asset_cache *c, fs_asset_t *a)
{
    for (fs_asset_t **p = &c->head; *p; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            c->count--;
            break;
        }
    }
    a->stale = 1;
}

int fs_asset_get(fs_ctx_t *ctx, const char *ism, fs_asset_t **out)
{
    struct fs_asset_cache *c = ctx->assets;
    fs_asset_t *a, *drop = NULL;
    int rc;

    pthread_mutex_lock(&c->lock);
    for (a = c->head; a && strcmp(a->ism, ism) != 0; a = a->next)
        ;
    if (a)
        a->refs++;
    pthread_mutex_unlock(&c->lock);

    if (a) {
        /* checked outside the lock: stat calls may block on the storage */
        uint64_t now = fs_now_ns();
        int fresh = now - atomic_load(&a->checked_ns) < FS_ASSETS_RECHECK_NS;
        if (fresh || still_valid(ctx->src_fd, a)) {
            if (!fresh)
                atomic_store(&a->checked_ns, now);
            pthread_mutex_lock(&c->lock);
            a->used = ++c->clock;
            pthread_mutex_unlock(&c->lock);
            if (a->err) {
                rc = a->err;
                fs_asset_release(a);
                return rc;
            }
            *out = a;
            return 0;
        }
        pthread_mutex_lock(&c->lock);
        if (!a->stale)
            unlink_entry(c, a);
        pthread_mutex_unlock(&c->lock);
        fs_asset_release(a);
    }

    if ((rc = build(ctx, ism, &a)) < 0)
        return rc;
    a->cache = c;
    a->refs = 1;
    pthread_mutex_lock(&c->lock);
    if (!a->stale) {
        /* a concurrent build of the same asset loses its place to this one */
        for (fs_asset_t *o = c->head; o; o = o->next) {
            if (strcmp(o->ism, ism) == 0) {
                unlink_entry(c, o);
                if (o->refs == 0)
                    drop = o;
                break;
            }
        }
        a->next = c->head;
        c->head = a;
        c->count++;
        a->used = ++c->clock;
    }
    /* evict the least recently used unreferenced entry when full */
    if (c->count > FS_ASSETS_MAX) {
        fs_asset_t *lru = NULL;
        for (fs_asset_t *o = c->head; o; o = o->next)
            if (o->refs == 0 && (!lru || o->used < lru->used))
                lru = o;
        if (lru && lru != drop) {
            unlink_entry(c, lru);
            pthread_mutex_unlock(&c->lock);
            destroy(lru);
            pthread_mutex_lock(&c->lock);
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (drop)
        destroy(drop);
    if (a->err) {
        rc = a->err;
        fs_asset_release(a);
        return rc;
    }
    *out = a;
    return 0;
}

void fs_asset_release(void *p)
{
    fs_asset_t *a = p;
    if (!a)
        return;
    struct fs_asset_cache *c = a->cache;
    pthread_mutex_lock(&c->lock);
    int last = --a->refs == 0 && a->stale;
    pthread_mutex_unlock(&c->lock);
    if (last)
        destroy(a);
}
