/*
 * The HLS half of fs/keys.h: key tags of playlists (fs_keys_hls), AES-128 whole segments
 * (fs_keys_ts_aes) and Apple SAMPLE-AES TS (fs_keys_saes). The keys, the cache of CPIX
 * documents and the sample encryption they build on are fs/keys.c's (fs/keys_int.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../crypt/subsample.h"
#include "../pack/cmaf.h"
#include "../pack/hls.h"
#include "../pack/log.h"
#include "../pack/ts.h"
#include "keys_int.h"

int fs_keys_uri_check(const char *tmpl)
{
    if (!tmpl || !*tmpl)
        return -EINVAL;
    for (const unsigned char *s = (const unsigned char *)tmpl; *s; s++)
        if (*s <= 0x20 || *s == 0x7f || *s == '"')
            return -EINVAL;
    return 0;
}

/* The URI attribute of the first line of `text` that has one: *uri (pointing into text)
 * and its length; 0 when there is none. */
static size_t line_uri(const char *text, const char **uri)
{
    for (const char *p = text; (p = strstr(p, "URI=\"")); p++) {
        if (p == text || (p[-1] != ',' && p[-1] != ':'))
            continue;           /* a name ending in URI, or text inside another value */
        const char *v = p + 5, *e = strchr(v, '"');
        size_t n = e ? (size_t)(e - v) : 0;
        if (!n || memchr(v, '\n', n) || memchr(v, '\r', n))
            continue;
        *uri = v;
        return n;
    }
    return 0;
}

/* The CPIX's key URI of k (fs/keys.h): its length, and in *uri (when uri is not NULL) where
 * it starts, in the document (not NUL-terminated); 0 when the CPIX names none. */
size_t keys_cpix_key_uri(const cr_cpix_t *c, const cr_key_t *k, const char **uri)
{
    const cr_drm_system_t *d = cr_cpix_drm(c, k->kid, CR_DRM_CLEARKEY);
    const char *u = NULL;
    size_t n = 0;
    if (!d)
        return 0;
    for (uint32_t i = 0; i < d->hls_count && !n; i++)
        if (d->hls[i].playlist == CR_HLS_MEDIA)
            n = line_uri(d->hls[i].text, &u);
    if (!n && d->uri_ext_x_key && *d->uri_ext_x_key) {
        u = d->uri_ext_x_key;
        n = strlen(u);
    }
    if (n && uri)
        *uri = u;
    return n;
}

/* The key URI of k (fs/keys.h) in the request arena, or NULL when there is none. */
static int key_uri(fs_req_t *req, const cr_cpix_t *c, const cr_key_t *k, const char **out)
{
    const char *u, *t = req->ctx->opt.key_uri;
    char kid[CR_UUID_STR_SIZE];
    size_t n = keys_cpix_key_uri(c, k, &u), len = 1;
    char *s, *o;

    *out = NULL;
    if (n)
        return (*out = arena_strndup(req->arena, u, n)) ? 0 : -ENOMEM;
    if (!t)
        return 0;
    cr_uuid_format(k->kid, kid);
    for (const char *p = t; *p;) {
        int var = strncmp(p, "{kid}", 5) == 0;
        len += var ? 36 : 1;
        p += var ? 5 : 1;
    }
    if (!(s = o = arena_alloc(req->arena, len)))
        return -ENOMEM;
    for (const char *p = t; *p;) {
        if (strncmp(p, "{kid}", 5) == 0) {
            memcpy(o, kid, 36);
            o += 36;
            p += 5;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    *out = s;
    return 0;
}

/* The pssh box (or, for PlayReady, the PRO) m holds for system_id; empty when none. */
static pk_bytes_t system_bytes(const sysmemo_t *m, const uint8_t system_id[16], int pro)
{
    for (uint32_t i = 0; i < m->drm.system_count; i++) {
        const pk_drm_system_t *s = &m->drm.systems[i];
        if (memcmp(s->system_id, system_id, 16) == 0)
            return pro ? s->pro : s->pssh;
    }
    return (pk_bytes_t){ NULL, 0 };
}

/* The HLS signalling of key k (the key of vt) in scheme (fs_keys_hls). */
static int hls_key(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, const cr_key_t *k,
                   uint32_t scheme, pk_hls_key_t *out)
{
    const cr_cpix_t *c = keys_cpix(p->file);
    const sysmemo_t *m;
    pk_hls_system_t *sys;
    uint32_t n = 0;
    int rc, identity = 0, any = 0;

    memcpy(out->kid, k->kid, 16);
    if ((rc = key_uri(req, c, k, &out->key_uri)) < 0)
        return rc;
    if (scheme == FS_AES128)
        return out->key_uri ? 0 : -ENOENT;
    if (scheme == CBCS) {
        /* the constant IV of the cbcs boxes, which Apple's TS SAMPLE-AES uses as well */
        pk_protect_t *pp;
        if ((rc = fs_keys_protect(req, p, vt, CBCS, FS_PROTECT_INIT, &pp)) < 0)
            return rc;
        memcpy(out->iv, pp->constant_iv, 16);
        out->has_iv = 1;
    }
    if ((rc = keys_systems(req, p, k, scheme, &m)) < 0)
        return rc;
    if (!(sys = arena_calloc(req->arena, c->drm_count + 1, sizeof *sys)))
        return -ENOMEM;
    for (uint32_t i = 0; i < c->drm_count; i++) {
        const cr_drm_system_t *d = &c->drm[i];
        pk_hls_system_t *s = &sys[n];
        if (memcmp(d->kid, k->kid, 16) != 0)
            continue;
        any = 1;
        switch (d->system) {
        case CR_DRM_FAIRPLAY:
            *s = (pk_hls_system_t){ .kind = PK_HLS_FAIRPLAY, .uri = d->uri_ext_x_key };
            break;
        case CR_DRM_WIDEVINE:
            *s = (pk_hls_system_t){ .kind = PK_HLS_WIDEVINE,
                                    .data = system_bytes(m, d->system_id, 0) };
            break;
        case CR_DRM_PLAYREADY:
            *s = (pk_hls_system_t){ .kind = PK_HLS_PLAYREADY,
                                    .data = system_bytes(m, d->system_id, 1) };
            break;
        case CR_DRM_CLEARKEY:
        case CR_DRM_W3C_COMMON:
            if (identity)
                continue;       /* one identity line says it for both */
            identity = 1;
            *s = (pk_hls_system_t){ .kind = PK_HLS_IDENTITY, .uri = out->key_uri };
            break;
        }
        for (uint32_t j = 0; j < d->hls_count; j++) {
            if (d->hls[j].playlist == CR_HLS_MEDIA)
                s->media = d->hls[j].text;
            else
                s->master = d->hls[j].text;
        }
        n++;
    }
    /* a key the CPIX names no system for is a clear key: players fetch it */
    if (!any)
        sys[n++] = (pk_hls_system_t){ .kind = PK_HLS_IDENTITY, .uri = out->key_uri };
    /* a playlist without any EXT-X-KEY line would say its segments are clear (RFC 8216
     * 4.3.2.4): without a line to write, the name is not served */
    uint32_t lines = 0;
    for (uint32_t i = 0; i < n; i++)
        lines += sys[i].media || sys[i].uri ||
                 ((sys[i].kind == PK_HLS_WIDEVINE || sys[i].kind == PK_HLS_PLAYREADY) &&
                  sys[i].data.len);
    if (!lines) {
        keys_log_no_uri(p->file, k);
        return -ENOENT;
    }
    out->systems = sys;
    out->system_count = n;
    return 0;
}

/* The key of vt for AES-128: 0, -ENOENT (no keys of its own, or a key restricted to a
 * CENC scheme) or -EIO. */
static int aes128_key(const fs_prot_t *p, const pk_vtrack_t *vt, const cr_key_t **out)
{
    if (!p->file)
        return -ENOENT;
    if (keys_track_key(p->file, vt, out) < 0)
        return -EIO;
    return (*out)->scheme ? -ENOENT : 0;
}

/* The AES-128 IV generator of one request (fs_keys_hls). */
typedef struct {
    fs_req_t *req;
    fs_prot_t *p;
    int cmaf;                       /* IVs of CMAF segments (else TS): never the same */
    const pk_vtrack_t *vt, *mux;    /* the track pair h is of (NULL: none yet) */
    uint64_t h;
    const cr_key_t *key;            /* the key ecb holds */
    cr_aes_t *ecb;
} ivgen_t;

/* h, FNV-1a-64 on, over the identity of vt's source file and its track id. */
static int track_hash(fs_req_t *req, const pk_vtrack_t *vt, uint64_t *h)
{
    ix_file_key_t id;
    uint8_t be[8];
    int rc = keys_source_id(req, vt->at->source, &id);
    if (rc < 0)
        return rc;
    *h = fs_hash(*h, id.path, strlen(id.path) + 1);
    keys_put_be64(be, id.size);
    *h = fs_hash(*h, be, 8);
    keys_put_be64(be, (uint64_t)id.mtime_ns);
    *h = fs_hash(*h, be, 8);
    keys_put_be64(be, vt->t->id);
    *h = fs_hash(*h, be, 8);
    return 0;
}

/* pk_hls_iv_fn: fs/keys.h fs_keys_hls. */
static int segment_iv(void *ctx, const pk_vtrack_t *vt, const pk_vtrack_t *mux, uint32_t k,
                      uint8_t iv[16])
{
    ivgen_t *g = ctx;
    uint8_t in[16], be[8];
    int rc;

    if (!g->vt || g->vt != vt || g->mux != mux) {
        const cr_key_t *key;
        static const char ts_seed[] = "ismfs aes-128", cmaf_seed[] = "ismfs aes-128 cmaf";
        uint64_t h = g->cmaf ? fs_hash(FS_HASH_INIT, cmaf_seed, sizeof cmaf_seed)
                             : fs_hash(FS_HASH_INIT, ts_seed, sizeof ts_seed);
        if ((rc = aes128_key(g->p, vt, &key)) < 0 || (rc = track_hash(g->req, vt, &h)) < 0 ||
            (mux && (rc = track_hash(g->req, mux, &h)) < 0))
            return rc;
        if (key != g->key) {
            if ((rc = cr_aes_new(g->req->arena, key->key, CR_AES_CTR, &g->ecb)) < 0)
                return rc;
            g->key = key;
        }
        g->vt = vt;
        g->mux = mux;
        g->h = h;
    }
    if (k == PK_HLS_INIT) {     /* no fragment: a time no fragment has */
        keys_put_be64(in, fs_hash(g->h, "init", 4));
        keys_put_be64(in + 8, UINT64_MAX);
    } else {
        keys_put_be64(be, vt->frags[k].duration);
        keys_put_be64(in, fs_hash(g->h, be, 8));
        keys_put_be64(in + 8, vt->frags[k].time);
    }
    return keys_ecb(g->ecb, in, iv);
}

int fs_keys_hls(fs_req_t *req, fs_prot_t *p, const pk_view_t *v, uint32_t scheme, int what,
                const pk_vtrack_t *only, const pk_hls_keys_t **out)
{
    arena_t *a = req->arena;
    uint32_t n = v->track_count;
    pk_hls_keys_t *h = arena_zalloc(a, sizeof *h);
    const pk_hls_key_t **t = arena_calloc(a, n + 1, sizeof *t);
    const cr_key_t **keys = arena_calloc(a, n + 1, sizeof *keys);
    const pk_protect_t **pr = NULL;
    const pk_ts_saes_t **sa = NULL;
    int ts = what & FS_HLS_TS, sizes = what & FS_HLS_SIZES, rc;

    if (!h || !t || !keys)
        return -ENOMEM;
    if (sizes && !ts && scheme != FS_AES128 && !(pr = arena_calloc(a, n + 1, sizeof *pr)))
        return -ENOMEM;
    if (sizes && ts && scheme == CBCS && !(sa = arena_calloc(a, n + 1, sizeof *sa)))
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const pk_vtrack_t *vt = &v->tracks[i];
        rc = scheme == FS_AES128 ? aes128_key(p, vt, &keys[i])
                                 : keys_usable_key(p, vt, scheme, &keys[i]);
        if (rc < 0)
            return rc;
        for (uint32_t j = 0; j < i && !t[i]; j++)
            if (keys[j] == keys[i])
                t[i] = t[j];
        if (!t[i]) {
            pk_hls_key_t *hk = arena_zalloc(a, sizeof *hk);
            if (!hk)
                return -ENOMEM;
            if ((rc = hls_key(req, p, vt, keys[i], scheme, hk)) < 0)
                return rc;
            t[i] = hk;
        }
        if (pr && (!only || only == vt)) {
            pk_protect_t *pp;
            if ((rc = fs_keys_protect(req, p, vt, scheme, FS_PROTECT_SIZE, &pp)) < 0)
                return rc;
            pr[i] = pp;
        }
        if (ts && scheme == CBCS && (!only || only == vt)) {
            pk_ts_saes_t *sm, *none;
            if ((rc = fs_keys_saes(req, p, vt, NULL, &sm, &none)) < 0)
                return rc;
            if (sa)
                sa[i] = sm;
        }
    }
    h->method = scheme == CENC ? PK_HLS_SAMPLE_AES_CTR
              : scheme == CBCS ? PK_HLS_SAMPLE_AES : PK_HLS_AES_128;
    h->track_count = n;
    h->tracks = t;
    h->protect = pr;
    h->saes = sa;
    if (scheme == FS_AES128) {
        ivgen_t *g = arena_zalloc(a, sizeof *g);
        if (!g)
            return -ENOMEM;
        g->req = req;
        g->p = p;
        g->cmaf = !ts;
        h->iv = segment_iv;
        h->iv_ctx = g;
    }
    *out = h;
    return 0;
}

/* The len clear bytes written to w since start, in place in AES-128-CBC with PKCS7
 * padding under g's key for vt, with the IV its playlist names for segment k. */
static int aes_written(ivgen_t *g, const pk_vtrack_t *vt, const pk_vtrack_t *mux, uint32_t k,
                       size_t start, wr_t *w)
{
    uint8_t iv[16];
    cr_aes_t *aes;
    int rc;

    if (w->err)
        return w->err;
    if ((rc = segment_iv(g, vt, mux, k, iv)) < 0 ||
        (rc = cr_aes_new(g->req->arena, g->key->key, CR_AES_CBC_ENCRYPT, &aes)) < 0)
        return rc;
    /* the clear segment is where its cipher text goes, the PKCS7 block after it */
    size_t len = w->pos - start;
    if ((rc = cr_aes_hls_encrypt(aes, iv, w->buf + start, len, w->cap - start)) < 0)
        return rc == -ENOSPC ? (w->err = -ENOSPC) : rc;
    w->pos = start + cr_aes_hls_size(len);
    return 0;
}

int fs_keys_ts_aes(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                   uint32_t k, wr_t *w)
{
    ivgen_t g = { .req = req, .p = p };
    const cr_key_t *key, *mk = NULL;
    uint64_t n;
    int rc;

    /* one EXT-X-KEY covers a whole segment: a v3 segment whose audio has another key than
     * its video does not exist (pack/hls.h) */
    if ((rc = aes128_key(p, vt, &key)) < 0 || (mux && (rc = aes128_key(p, mux, &mk)) < 0))
        return rc;
    if (mux && mk != key)
        return -ENOENT;
    if (!w->buf) {
        /* PKCS7 adds 1 to 16 bytes: the size needs no key and no encryption */
        if (pk_ts_segment_size(vt, mux, k, &n) < 0) {
            wr_t c = wr_counter();
            if ((rc = pk_ts_segment(vt, mux, k, req->arena, &c)) < 0)
                return rc;
            n = c.pos;
        }
        w->pos += cr_aes_hls_size((size_t)n);
        return 0;
    }
    size_t start = w->pos;
    if ((rc = pk_ts_segment(vt, mux, k, req->arena, w)) < 0)
        return rc;
    return aes_written(&g, vt, mux, k, start, w);
}

int fs_keys_cmaf_aes(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, uint32_t k, wr_t *w)
{
    ivgen_t g = { .req = req, .p = p, .cmaf = 1 };
    const cr_key_t *key;
    pk_plan_t plan;
    int rc;

    if ((rc = aes128_key(p, vt, &key)) < 0)
        return rc;
    size_t start = w->pos;
    if (k == PK_HLS_INIT) {
        pk_cmaf_init(vt, w);
    } else {
        /* the clear fragment's plan: its size from the sample table, its bytes read here */
        if ((rc = pk_cmaf_fragment(vt, k, req->arena, &plan)) < 0)
            return rc;
        uint8_t *dst = wr_reserve(w, (size_t)plan.size);
        if (dst) {
            ssize_t got = pk_plan_read(&plan, 0, dst, (size_t)plan.size);
            if (got < 0)
                return (int)got;
            if ((uint64_t)got != plan.size)
                return -EIO;
        }
    }
    if (!w->buf) {              /* PKCS7 adds 1 to 16 bytes: no key, no encryption */
        w->pos = start + cr_aes_hls_size(w->pos - start);
        return w->err;
    }
    return aes_written(&g, vt, NULL, k, start, w);
}

/* ---- Apple SAMPLE-AES in TS ------------------------------------------------------------- */

/* The transform of one track (pack/ts.h pk_ts_saes_t): its key's CBC context and constant
 * IV, and room for one NAL unit's cipher text (cr_aes_saes_nal_write encrypts a copy). */
typedef struct {
    cr_aes_t *aes;
    uint8_t kid[16];
    uint8_t iv[16];
    arena_t *a;
    uint8_t *scratch;
    size_t cap;
} saes_t;

static int saes_nal(void *ctx, const uint8_t *nal, size_t len, wr_t *w)
{
    saes_t *e = ctx;
    if (len > e->cap) {
        size_t cap = e->cap ? e->cap : 1u << 16;
        while (cap < len)
            cap *= 2;
        if (!(e->scratch = arena_alloc(e->a, cap)))
            return -ENOMEM;
        e->cap = cap;
    }
    return cr_aes_saes_nal_write(e->aes, e->iv, nal, len, e->scratch, w);
}

static int saes_frame(void *ctx, uint8_t *frame, size_t len, size_t hdr)
{
    saes_t *e = ctx;
    return cr_aes_saes_audio(e->aes, e->iv, frame, len, hdr);
}

/* The growth of every sample of video track vt under e's key and IV: from the index, else
 * computed (reading and encrypting the track once) and stored there. The tag names the key
 * and IV by AES-128-ECB(key, IV) (8 bytes in hex): growth depends on the cipher text, so
 * another key or IV for the same file is another entry; the value is no more than what
 * any protected segment shows of the key. */
struct growth_job {
    fs_req_t *req;
    const pk_vtrack_t *vt;
    saes_t *e;
};

static int make_growth(void *p, void **out)
{
    struct growth_job *j = p;
    uint32_t *g;
    int rc = cr_subsample_saes_growth(j->vt->t, j->e->aes, j->e->iv, j->vt->at->source,
                                      j->req->arena, &g);
    if (rc < 0)
        return rc;
    *out = g;
    return 0;
}

/* (*id, tag: the source identity and the aux tag of the growth, for saes_packets) */
static int growth_of(fs_req_t *req, cfile_t *keep, const pk_vtrack_t *vt, saes_t *e,
                     const uint32_t **out, ix_file_key_t *id, char tag[IX_TAG_MAX + 1])
{
    static const uint8_t zero[16];
    const pk_track_t *t = vt->t;
    uint8_t kcv[16];
    const void *blob;
    int rc;

    memcpy(kcv, e->iv, 16);     /* CBC of one block from a zero IV: ECB */
    if ((rc = keys_source_id(req, vt->at->source, id)) < 0 ||
        (rc = cr_aes_cbcs(e->aes, zero, 16, kcv, 16, NULL, 0, 0, 0)) < 0)
        return rc;
    snprintf(tag, IX_TAG_MAX + 1, "saes/%u/%02x%02x%02x%02x%02x%02x%02x%02x", t->id, kcv[0],
             kcv[1], kcv[2], kcv[3], kcv[4], kcv[5], kcv[6], kcv[7]);
    struct growth_job j = { req, vt, e };
    if ((rc = keys_aux_blob(req, keep, id, tag, 4 * (size_t)t->sample_count, make_growth, &j,
                       &blob)) == 0)
        *out = blob;
    return rc;
}

/*
 * The TS packets of every fragment of SAMPLE-AES video track vt (pk_ts_packets_saes from
 * the growth), so that segment k's continuity counters are a prefix sum rather than a walk
 * over every sample before it (O(k) per segment: three quarters of a SAMPLE-AES pass over
 * the 2-hour asset). Kept with the document only, not in the index: they depend on the
 * view's fragments, which are part of the key (compared whole: another fragmentation of
 * the same file, by another .ism or a changed one, is another entry), with the timeline
 * shifts that decide PES header sizes. Without a document to keep them in, *out stays
 * NULL (the writer walks): working them out costs a walk over the whole track.
 */
static int saes_packets(fs_req_t *req, cfile_t *keep, const pk_vtrack_t *vt,
                        const pk_ts_saes_t *s, const ix_file_key_t *id, const char *growth_tag,
                        const uint32_t **out)
{
    char tag[IX_TAG_MAX + 64];
    size_t len = 4 * (size_t)vt->frag_count, xlen = vt->frag_count * sizeof *vt->frags;
    const void *blob;
    uint32_t *made;
    int rc;

    *out = NULL;
    if (!keep || !vt->frag_count)
        return 0;
    snprintf(tag, sizeof tag, "%s/ts/%lld/%d", growth_tag, (long long)vt->dts_shift,
             (int)vt->cto_shift);
    if ((blob = keys_kept_get(keep, id, tag, len, vt->frags, xlen))) {
        *out = blob;
        return 0;
    }
    if ((rc = pk_ts_packets_saes(vt, s, req->arena, &made)) < 0)
        return rc;
    keys_kept_put(keep, id, tag, made, len, vt->frags, xlen);
    *out = made;
    return 0;
}

int fs_keys_saes(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                 pk_ts_saes_t **out_main, pk_ts_saes_t **out_mux)
{
    const pk_vtrack_t *tr[2] = { vt, mux };
    pk_ts_saes_t *res[2] = { NULL, NULL };
    int rc;

    for (int j = 0; j < 2 && tr[j]; j++) {
        const cr_key_t *k;
        pk_protect_t *pp;
        saes_t *e;
        if (!pk_ts_saes_supported(tr[j]))
            return -ENOENT;     /* HEVC, AC-3, ...: no such name */
        /* the key, and the constant IV of the cbcs boxes (explicitIV or derived), which
         * the playlists name */
        if ((rc = keys_usable_key(p, tr[j], CBCS, &k)) < 0 ||
            (rc = fs_keys_protect(req, p, tr[j], CBCS, FS_PROTECT_INIT, &pp)) < 0)
            return rc;
        if (!(e = arena_zalloc(req->arena, sizeof *e)) ||
            !(res[j] = arena_zalloc(req->arena, sizeof *res[j])))
            return -ENOMEM;
        if ((rc = cr_aes_new(req->arena, k->key, CR_AES_CBC_ENCRYPT, &e->aes)) < 0)
            return rc;
        memcpy(e->iv, pp->constant_iv, 16);
        memcpy(e->kid, pp->kid, 16);
        e->a = req->arena;
        /* one EXT-X-KEY covers a whole segment: v3 audio must share the video's key */
        const saes_t *e0 = j ? res[0]->ctx : NULL;
        if (e0 && (memcmp(e->kid, e0->kid, 16) != 0 || memcmp(e->iv, e0->iv, 16) != 0)) {
            PK_DEBUG("%s: SAMPLE-AES v3 segment of %s and %s: two keys", p->ism,
                     vt->at->name, mux->at->name);
            return -ENOENT;
        }
        res[j]->nal = saes_nal;
        res[j]->frame = saes_frame;
        res[j]->ctx = e;
        ix_file_key_t id;
        char tag[IX_TAG_MAX + 1];
        if (tr[j]->t->type == PK_TRACK_VIDEO &&
            ((rc = growth_of(req, p->file, tr[j], e, &res[j]->growth, &id, tag)) < 0 ||
             (rc = saes_packets(req, p->file, tr[j], res[j], &id, tag,
                                &res[j]->packets)) < 0))
            return rc == -ENOMEM ? rc : -EIO;       /* logged where it was found */
    }
    *out_main = res[0];
    *out_mux = res[1];
    return 0;
}
