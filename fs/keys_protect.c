/*
 * Sample encryption of fs/keys.h: the protection of one track as pack/'s writers take it
 * (fs_keys_protect: key, IVs, pssh boxes, subsample counts, the encrypt callback), and the
 * per-track data derived from every sample that sizes need (subsample counts here,
 * SAMPLE-AES growth for fs/keys_hls.c), kept in the index and with the CPIX document. The
 * keys and the document cache are fs/keys.c's (fs/keys_int.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../crypt/subsample.h"
#include "../pack/log.h"
#include "keys_int.h"
#include "source.h"

/* The identity of the file behind a source (its real path below SRC; from fstat). */
int keys_source_id(fs_req_t *req, const pk_source_t *src, ix_file_key_t *id)
{
    struct stat st;
    int fd = fs_source_fd(src);
    memset(id, 0, sizeof *id);
    /* a source of the asset cache: its identity and real path, worked out once */
    if (fs_source_stat(src, &st) == 0) {
        const char *c = fs_source_canon(src, NULL);
        if (!c) {
            char *mine = keys_canon(req, fd, src->name);
            if (!mine)
                return -ENOMEM;
            c = fs_source_canon(src, mine);
            if (!c)
                c = mine;
        }
        id->dev = (uint64_t)st.st_dev;
        id->ino = (uint64_t)st.st_ino;
        id->size = (uint64_t)st.st_size;
        id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        id->path = c;
        return 0;
    }
    if (fd >= 0 && fstat(fd, &st) == 0) {
        id->dev = (uint64_t)st.st_dev;
        id->ino = (uint64_t)st.st_ino;
        id->size = (uint64_t)st.st_size;
        id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    } else {
        id->size = src->size;   /* not a file (tests): named by its name and size */
    }
    return (id->path = keys_canon(req, fd, src->name)) ? 0 : -ENOMEM;
}

/* AES-128-ECB(key, in) as the first keystream block of CTR with counter block `in`. */
int keys_ecb(cr_aes_t *ctr, const uint8_t in[16], uint8_t out[16])
{
    memset(out, 0, 16);
    return cr_aes_cenc(ctr, in, 16, out, 16, NULL, 0);
}

/*
 * Per-track data derived from every sample of a source (subsample counts, SAMPLE-AES
 * growth): `bytes` bytes under `tag` of the source identity `id`. Looked up in this
 * request's memo (a directory listing asks once per fragment name), then in the index,
 * else computed by `make` (reading every sample once) and stored in both. The result is
 * a copy in the request arena or one kept with the asset's document (struct kept, held
 * by the request), so nothing of it pins the index snapshot.
 */
struct fs_aux_memo {
    struct fs_aux_memo *next;
    const char *path, *tag;
    const void *blob;
    size_t len;
};

/* With keep (the asset's document, held by req), the blob is looked up there first and
 * put there when found elsewhere (struct kept). */
int keys_aux_blob(fs_req_t *req, cfile_t *keep, const ix_file_key_t *id, const char *tag,
                  size_t bytes, keys_aux_make_fn make, void *ctx, const void **out)
{
    ix_t *ix = req->ctx->ix;
    struct fs_aux_memo *m;
    const void *blob;
    void *made;
    size_t len;
    int rc;

    if (keep && (blob = keys_kept_get(keep, id, tag, bytes, NULL, 0))) {
        *out = blob;
        return 0;
    }

    for (m = req->aux; m; m = m->next) {
        if (m->len == bytes && strcmp(m->tag, tag) == 0 && strcmp(m->path, id->path) == 0) {
            *out = m->blob;
            return 0;
        }
    }
    if (fs_req_read(req) == 0 &&
        ix_aux_get(req->rd, id, tag, &blob, &len) == 0 && len == bytes) {
        if (!(made = arena_alloc(req->arena, bytes ? bytes : 1)))
            return -ENOMEM;
        memcpy(made, blob, bytes);
    } else {
        /* one check of the sources at the end, before anything is kept (fs/source.h) */
        fs_source_defer_t d;
        fs_source_defer_begin(&d);
        if ((rc = fs_source_defer_end(&d, make(ctx, &made))) < 0)
            return rc;
        if (ix)
            (void)ix_aux_put(ix, id, tag, made, bytes); /* a full cache only costs speed */
    }
    if (keep)
        keys_kept_put(keep, id, tag, made, bytes, NULL, 0);
    if (!(m = arena_alloc(req->arena, sizeof *m)) ||
        !(m->path = arena_strdup(req->arena, id->path)) ||
        !(m->tag = arena_strdup(req->arena, tag)))
        return -ENOMEM;
    m->blob = made;
    m->len = bytes;
    m->next = req->aux;
    req->aux = m;
    *out = made;
    return 0;
}

struct counts_job {
    fs_req_t *req;
    const pk_vtrack_t *vt;
    uint32_t scheme;
    const char *path;
};

static int make_counts(void *p, void **out)
{
    struct counts_job *j = p;
    const pk_track_t *t = j->vt->t;
    uint16_t *c;
    int rc = cr_subsample_counts(t, j->scheme, j->vt->at->source, j->req->arena, &c);
    if (rc == -ENOTSUP || rc == -EINVAL)
        PK_ERROR("%s: track %u (%s): no subsample layout for this codec", j->path, t->id,
                 t->codec);
    if (rc < 0)
        return rc;
    *out = c;
    return 0;
}

/* The subsample counts of vt's track in scheme's class (aux_blob). */
static int counts_of(fs_req_t *req, cfile_t *keep, const pk_vtrack_t *vt, uint32_t scheme,
                     const ix_file_key_t *id, const uint16_t **out)
{
    char tag[IX_TAG_MAX + 1];
    struct counts_job j = { req, vt, scheme, id->path };
    const void *blob;
    snprintf(tag, sizeof tag, "sub/%s/%u", scheme == CBCS ? "cbcs" : "cenc", vt->t->id);
    int rc = keys_aux_blob(req, keep, id, tag, 2 * (size_t)vt->t->sample_count, make_counts, &j,
                      &blob);
    if (rc == 0)
        *out = blob;
    return rc;
}

/* The encrypt callback's state: one track of one request. */
typedef struct {
    cr_aes_t *aes;              /* CTR (cenc) or CBC encrypt (cbcs) with the track's key */
    uint32_t scheme;
    const pk_track_t *t;
    arena_t *a;
    const uint16_t *counts;     /* video: subsamples per sample; NULL: whole samples */
    cr_subsample_ctx_t *sub;    /* the layout state, from the fragment's first sample */
    uint32_t next;              /* the sample sub expects next */
    cr_subsample_t *subs;       /* [cap] */
    cr_aes_sub_t *ranges;       /* [cap] */
    size_t cap;
    uint64_t iv_start;          /* cenc: IV of sample 0 */
    uint8_t iv_size;
    uint8_t civ[16];            /* cbcs */
    unsigned crypt, skip;
} enc_t;

static int encrypt_sample(void *ctx, uint32_t i, uint8_t *data, size_t len, wr_t *w)
{
    enc_t *e = ctx;
    size_t n = e->counts ? e->counts[i] : 0;
    uint8_t iv[8];
    int ns = 0, rc;

    if (!w->buf) {              /* count mode: the senc entry's size only */
        wr_zeros(w, e->iv_size + (e->counts ? 2 + 6 * n : 0));
        return w->err;
    }
    if (e->counts) {
        if (!e->sub || i != e->next) {
            if ((rc = cr_subsample_init(e->t, e->scheme, e->a, &e->sub)) < 0)
                return rc;
        }
        if (n > e->cap) {
            size_t cap = n < 64 ? 64 : n;
            if (!(e->subs = arena_calloc(e->a, cap, sizeof *e->subs)) ||
                !(e->ranges = arena_calloc(e->a, cap, sizeof *e->ranges)))
                return -ENOMEM;
            e->cap = cap;
        }
        if ((ns = cr_subsample_layout(e->sub, data, len, e->subs, e->cap)) < 0)
            return ns;
        e->next = i + 1;
        if ((size_t)ns != n) {
            PK_ERROR("track %u sample %u: %d subsamples, %zu when counted", e->t->id, i, ns,
                     n);
            return -EIO;
        }
        for (int k = 0; k < ns; k++)
            e->ranges[k] = (cr_aes_sub_t){ e->subs[k].clear, e->subs[k].prot };
    }
    if (e->scheme == CENC) {
        keys_put_be64(iv, e->iv_start + i);
        rc = cr_aes_cenc(e->aes, iv, 8, data, len, e->ranges, (size_t)ns);
    } else {
        rc = cr_aes_cbcs(e->aes, e->civ, 16, data, len, e->ranges, (size_t)ns, e->crypt,
                         e->skip);
    }
    if (rc < 0)
        return rc;
    if (e->iv_size)
        wr_bytes(w, iv, e->iv_size);
    if (e->counts) {
        wr_u16(w, (uint16_t)ns);
        for (int k = 0; k < ns; k++) {
            wr_u16(w, (uint16_t)e->ranges[k].clear);
            wr_u32(w, e->ranges[k].prot);
        }
    }
    return w->err;
}

int fs_keys_protect(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, uint32_t scheme,
                    int what, pk_protect_t **out)
{
    static const uint8_t civ_in[16] = "ismfs cbcs civ\0";
    const pk_track_t *t = vt->t;
    int video = t->type == PK_TRACK_VIDEO, rc;
    const cr_key_t *k;
    cr_aes_t *ctr = NULL, *aes;
    ix_file_key_t id = { 0 };
    pk_protect_t *pp;
    enc_t *e;

    if ((rc = keys_usable_key(p, vt, scheme, &k)) < 0)
        return rc;
    if (!(pp = arena_zalloc(req->arena, sizeof *pp)) ||
        !(e = arena_zalloc(req->arena, sizeof *e)))
        return -ENOMEM;
    /* sizes need neither IVs nor AES: only what bytes need is made */
    int ivs = what != FS_PROTECT_SIZE && (scheme == CBCS || what == FS_PROTECT_CONTENT);
    if (ivs && !(scheme == CBCS && k->has_iv) &&
        (rc = cr_aes_new(req->arena, k->key, CR_AES_CTR, &ctr)) < 0)
        return rc;
    if (what != FS_PROTECT_INIT && (rc = keys_source_id(req, vt->at->source, &id)) < 0)
        return rc;
    pp->scheme = scheme;
    memcpy(pp->kid, k->kid, 16);
    if (scheme == CENC) {
        pp->iv_size = e->iv_size = 8;
        if (ivs) {
            uint8_t in[16] = "ismfs iv", s[16];
            uint8_t be[8];
            uint64_t h = fs_hash(FS_HASH_INIT, id.path, strlen(id.path) + 1);
            keys_put_be64(be, id.size);
            h = fs_hash(h, be, 8);
            keys_put_be64(be, (uint64_t)id.mtime_ns);
            h = fs_hash(h, be, 8);
            keys_put_be64(be, t->id);
            h = fs_hash(h, be, 8);
            keys_put_be64(in + 8, h);
            if ((rc = keys_ecb(ctr, in, s)) < 0)
                return rc;
            for (int i = 0; i < 8; i++)
                e->iv_start = e->iv_start << 8 | s[i];
        }
        aes = ctr;
    } else {
        if (k->has_iv)
            memcpy(pp->constant_iv, k->iv, 16);
        else if (ivs && (rc = keys_ecb(ctr, civ_in, pp->constant_iv)) < 0)
            return rc;
        memcpy(e->civ, pp->constant_iv, 16);
        pp->crypt_blocks = (uint8_t)(e->crypt = video ? 1 : 0);
        pp->skip_blocks = (uint8_t)(e->skip = video ? 9 : 0);
        aes = NULL;
    }
    if (what == FS_PROTECT_INIT) {
        const sysmemo_t *m;
        if ((rc = keys_systems(req, p, k, scheme, &m)) < 0)
            return rc;
        pp->pssh = m->pssh;
        pp->pssh_count = m->pssh_count;
    } else if (video &&
               (rc = counts_of(req, p->file, vt, scheme, &id, &pp->subsample_counts)) < 0) {
        return rc;
    }
    if (what == FS_PROTECT_CONTENT) {
        if (!aes && (rc = cr_aes_new(req->arena, k->key, CR_AES_CBC_ENCRYPT, &aes)) < 0)
            return rc;
        e->aes = aes;
        e->scheme = scheme;
        e->t = t;
        e->a = req->arena;
        e->counts = pp->subsample_counts;
        pp->encrypt = encrypt_sample;
        pp->ctx = e;
    }
    *out = pp;
    return 0;
}
