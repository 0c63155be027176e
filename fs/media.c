#include "media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../pack/log.h"
#include "../pack/mp4.h"
#include "source.h"

/* Index hit: the media is viewed in place inside the read snapshot. */
static int from_index(fs_req_t *req, const ix_file_key_t *key, const pk_media_t **out)
{
    const void *blob;
    size_t len;
    pk_media_t *m;
    int rc;

    if ((rc = fs_req_read(req)) < 0)
        return rc;
    if ((rc = ix_media_get(req->rd, key, &blob, &len)) < 0)
        return rc;
    rc = req->copy_media ? pk_media_unpack_copy(blob, len, req->arena, &m)
                         : pk_media_unpack(blob, len, req->arena, &m);
    if (rc < 0) {
        /* a blob this build cannot read: parse again and overwrite it */
        PK_WARN("%s: index entry unreadable, parsing again", key->path);
        return -ENOENT;
    }
    *out = m;
    return 0;
}

static void to_index(fs_req_t *req, const ix_file_key_t *key, const pk_media_t *m)
{
    wr_t w = wr_counter();
    if (!req->ctx->ix)
        return;
    pk_media_pack(m, &w);
    size_t len = w.pos;
    void *buf = malloc(len);
    if (!buf)
        return;
    w = wr_init(buf, len);
    pk_media_pack(m, &w);
    if (!w.err && w.pos == len)
        (void)ix_media_put(req->ctx->ix, key, buf, len);   /* a full cache only costs speed */
    free(buf);
}

static int remember(fs_req_t *req, const ix_file_key_t *key, const pk_media_t *m,
                    const pk_source_t *src)
{
    struct fs_media_memo *mm = arena_alloc(req->arena, sizeof *mm);
    if (!mm || !(mm->rel = arena_strdup(req->arena, key->path)))
        return -ENOMEM;
    mm->id = *key;
    mm->id.path = mm->rel;
    mm->media = m;
    mm->source = src;
    mm->next = req->media;
    req->media = mm;
    return 0;
}

int fs_media_open(fs_req_t *req, const char *rel, const pk_media_t **out,
                  const pk_source_t **source)
{
    for (const struct fs_media_memo *mm = req->media; mm; mm = mm->next) {
        if (strcmp(mm->rel, rel) == 0) {
            *out = mm->media;
            if (source)
                *source = mm->source;
            return 0;
        }
    }
    fs_ctx_t *ctx = req->ctx;
    uint64_t t0 = fs_now_ns();
    pk_source_t *src = arena_alloc(req->arena, sizeof *src);
    struct stat st;
    pk_media_t *m;
    int rc;

    if (!src)
        return -ENOMEM;
    req->failed = arena_strdup(req->arena, rel);    /* until it succeeds */
    if ((rc = fs_source_open(req, rel, src, &st)) < 0) {
        if (rc == -EXDEV)       /* openat2 RESOLVE_BENEATH: strerror would say "cross-device" */
            PK_ERROR("%s: a symlink or \"..\" leads out of SRC: not read", rel);
        else if (rc != -ENOENT)
            PK_ERROR("%s: %s", rel, strerror(-rc));
        return rc;
    }
    ix_file_key_t key = {
        .path = rel, .dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino,
        .size = (uint64_t)st.st_size,
        .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
    };
    if (source)
        *source = src;
    req->failed = NULL;
    if ((rc = from_index(req, &key, out)) == 0) {
        atomic_fetch_add(&ctx->index_hits, 1);
        atomic_fetch_add(&ctx->load_ns, fs_now_ns() - t0);
        return remember(req, &key, *out, src);
    }
    if ((rc = pk_mp4_open(src, req->arena, &m)) < 0) {
        req->failed = src->name;
        return rc;
    }
    to_index(req, &key, m);
    atomic_fetch_add(&ctx->parsed, 1);
    atomic_fetch_add(&ctx->load_ns, fs_now_ns() - t0);
    *out = m;
    return remember(req, &key, m, src);
}

struct ism_ctx {
    fs_req_t *req;
    const char *dir;            /* the .ism's directory below SRC, "" at the top */
};

static int media_of_src(void *p, const char *src, const pk_media_t **out,
                        const pk_source_t **source)
{
    struct ism_ctx *ic = p;
    const char *rel = src;
    if (*ic->dir) {
        size_t n = strlen(ic->dir) + strlen(src) + 2;
        char *buf = arena_alloc(ic->req->arena, n);
        if (!buf)
            return -ENOMEM;
        snprintf(buf, n, "%s/%s", ic->dir, src);
        rel = buf;
    }
    int rc = fs_media_open(ic->req, rel, out, source);
    if (rc == -ENOENT)
        PK_ERROR("%s: no such file (named by the server manifest)", rel);
    return rc;
}

int fs_asset_open(fs_req_t *req, const char *ism_rel, const pk_asset_t **out)
{
    char *xml;
    size_t len;
    struct stat st;
    pk_ism_t *ism;
    pk_asset_t *as;
    int rc;

    if ((rc = fs_read_small(req, ism_rel, FS_ISM_MAX, &xml, &len, &st)) < 0 ||
        (rc = pk_ism_parse(xml, len, ism_rel, req->arena, &ism)) < 0)
        return rc;
    const char *slash = strrchr(ism_rel, '/');
    struct ism_ctx ic = { req, "" };
    if (slash && !(ic.dir = arena_strndup(req->arena, ism_rel, (size_t)(slash - ism_rel))))
        return -ENOMEM;
    if ((rc = pk_asset_build(ism, ism_rel, media_of_src, &ic, req->arena, &as)) < 0)
        return rc;
    *out = as;
    return 0;
}
