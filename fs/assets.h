/*
 * The asset cache: assets built once (server manifest read, media loaded, view
 * cut, source files open) and shared by the requests that follow, as long as
 * the .ism and every media file keep their identity (device, inode, size,
 * mtime). Uses re-check those identities (at most once per FS_ASSETS_RECHECK_NS:
 * the kernel caches attributes that long anyway), so a changed source is seen on
 * the next lookup; a request keeps the entry it got until it ends, so one file
 * is never served from two versions.
 */
#ifndef FS_ASSETS_H
#define FS_ASSETS_H

#include "../pack/view.h"
#include "ctx.h"
#include "fcache.h"

#define FS_ASSETS_MAX 64        /* entries kept; the least recently used unused one goes */
#define FS_ASSETS_RECHECK_NS 1000000000ull  /* = the mount's attribute timeout (1 s) */

typedef struct fs_asset {
    const char *ism;            /* path of the .ism below SRC */
    pk_view_t *view;            /* the asset cut into fragments: immutable; NULL when err */
    int err;                    /* a build that failed (-EIO): remembered, so that a broken
                                 * asset is logged once per version, not once per request */
    struct timespec newest;     /* newest mtime of the .ism and its media */
    uint64_t version;           /* hash of the identities of the .ism and its media: the
                                 * object cache's keys carry it (a changed source, new keys) */
    /* private to fs/assets.c */
    fs_fcache_entry_t entry;    /* key: ism */
    arena_t *arena;             /* holds the entry itself */
    struct fs_asset_id *ids;
    uint32_t id_count;
    _Atomic uint64_t checked_ns; /* when the identities were last found unchanged (monotonic) */
} fs_asset_t;

int fs_assets_init(fs_ctx_t *ctx);
void fs_assets_free(fs_ctx_t *ctx);

/*
 * The asset of `ism` (below SRC), built or reused, with a reference the
 * caller releases with fs_asset_release(). Returns 0, -ENOENT (no such .ism),
 * -EIO (a malformed manifest or media, logged once per build), -ENOMEM.
 */
int fs_asset_get(fs_ctx_t *ctx, const char *ism, fs_asset_t **out);

/* Drops a reference (void * so it can ride on arena_defer). NULL-safe. */
void fs_asset_release(void *asset);

#endif
