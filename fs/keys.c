#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../crypt/aes.h"
#include "../crypt/cpix.h"
#include "../crypt/pssh.h"
#include "../crypt/subsample.h"
#include "../pack/hls.h"
#include "../pack/log.h"
#include "../pack/ts.h"
#include "assets.h"
#include "source.h"

#define CENC FOURCC('c', 'e', 'n', 'c')
#define CBCS FOURCC('c', 'b', 'c', 's')
#define KEYMEMO_MAX 1024        /* distinct track shapes remembered per document */

/* ---- the cache of parsed documents ---------------------------------------------- */

/* One cr_cpix_key_for answer: a track shape and its key (or why it has none). */
typedef struct {
    pk_track_type_t type;
    uint32_t width, height, channels, bitrate;
    int rc;
    const cr_key_t *key;
} keymemo_t;

typedef struct cfile {
    char *path;                 /* absolute: under keys= */
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    struct timespec mtime;
    int err;                    /* -EIO: unusable (logged once, when read) */
    cr_cpix_t *cpix;            /* NULL when err */
    pthread_mutex_t lock;       /* guards memo: answers, so each is logged once */
    keymemo_t *memo;            /* [memo_count], malloc'd */
    uint32_t memo_count, memo_cap;
    int no_uri_logged;          /* guarded by lock: a key without HLS key URI was logged */
    struct kept *kept;          /* guarded by lock: aux blobs of its asset's sources */
    size_t kept_bytes;
    arena_t *arena;             /* holds the entry and the document (keys wiped at free) */
    unsigned refs;              /* guarded by the cache lock */
    int stale;                  /* out of the table; freed at the last release */
    uint64_t used;
    struct cfile *next;
    struct fs_key_cache *cache;
} cfile_t;

struct fs_key_cache {
    pthread_mutex_t lock;
    pthread_mutex_t load_lock;  /* one document read at a time: each version is read, and
                                 * its problems logged, once (cr_cpix_parse logs as it goes) */
    cfile_t *head;
    uint32_t count;
    uint64_t clock;
    uint64_t loads;             /* document versions read (the unit tests count them) */
    char *src_real;             /* SRC's real path (for canonical asset paths), or NULL */
    size_t src_real_len;
    atomic_bool canon_warned;
    struct asset_memo *memo;    /* [MEMO_SLOTS]: what fs_keys_asset found per .ism, under lock */
};

/*
 * fs_keys_asset's findings for one .ism (its real path, its CPIX path, whether a document
 * is there, whether its sources are another protected asset's), kept for
 * FS_ASSETS_RECHECK_NS like the asset cache's identities: a clear asset of a mount with
 * keys= then costs no path resolution and no stat per request. Direct-mapped by a hash of
 * the path; a collision only costs the work again.
 */
enum { MEMO_SLOTS = 512 };
struct asset_memo {
    char *ism, *canon, *path;   /* malloc'd; ism NULL: empty slot */
    int clear;                  /* no document, and no source of a protected asset */
    uint64_t at_ns;             /* when found (fs_now_ns) */
};

/*
 * Aux blobs (subsample counts, SAMPLE-AES growth: 2 or 4 bytes a sample) kept with the
 * document version of the asset whose sources they describe, for as long as it is cached:
 * a request that holds the document then takes the array as it is, instead of reading it
 * from the index and copying it into its arena (for a 2-hour track, 200-400 KiB per
 * request, a tenth of the cost of an encrypted fragment). Keyed by source identity, like
 * the index; at most KEPT_MAX bytes per document, beyond that requests copy as before.
 */
enum { KEPT_MAX = 64 << 20 };
struct kept {
    struct kept *next;
    char *path, *tag;
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    size_t len;
    void *blob;                 /* malloc'd: aligned for the uint16_t/uint32_t arrays */
    void *x;                    /* more of the key, compared whole (NULL: none) */
    size_t xlen;
};

static void kept_free(struct kept *k)
{
    if (k) {
        free(k->path);
        free(k->tag);
        free(k->blob);
        free(k->x);
        free(k);
    }
}

/* Under f->lock. x[0..xlen): the rest of the key (NULL, 0: none). */
static const struct kept *kept_find(const cfile_t *f, const ix_file_key_t *id, const char *tag,
                                    size_t len, const void *x, size_t xlen)
{
    for (const struct kept *k = f->kept; k; k = k->next)
        if (k->len == len && k->ino == id->ino && k->dev == id->dev && k->size == id->size &&
            k->mtime_ns == id->mtime_ns && k->xlen == xlen && strcmp(k->tag, tag) == 0 &&
            strcmp(k->path, id->path) == 0 && (!xlen || memcmp(k->x, x, xlen) == 0))
            return k;
    return NULL;
}

/* The blob kept in f under this key, or NULL. The pointer stays valid while f is held:
 * entries are never changed, and freed only with f. */
static const void *kept_get(cfile_t *f, const ix_file_key_t *id, const char *tag, size_t len,
                            const void *x, size_t xlen)
{
    pthread_mutex_lock(&f->lock);
    const struct kept *k = kept_find(f, id, tag, len, x, xlen);
    pthread_mutex_unlock(&f->lock);
    return k ? k->blob : NULL;
}

/* Keeps a copy of blob[0..len) in f under this key, unless f is full or has it already
 * (another thread's); without memory it is simply not kept. */
static void kept_put(cfile_t *f, const ix_file_key_t *id, const char *tag, const void *blob,
                     size_t len, const void *x, size_t xlen)
{
    struct kept *k = calloc(1, sizeof *k);
    if (k && (k->path = strdup(id->path)) && (k->tag = strdup(tag)) &&
        (k->blob = malloc(len ? len : 1)) && (!xlen || (k->x = malloc(xlen)))) {
        memcpy(k->blob, blob, len);
        if (xlen)
            memcpy(k->x, x, xlen);
        k->dev = id->dev, k->ino = id->ino, k->size = id->size;
        k->mtime_ns = id->mtime_ns;
        k->len = len;
        k->xlen = xlen;
        pthread_mutex_lock(&f->lock);
        if (len <= KEPT_MAX && xlen <= KEPT_MAX - len &&
            f->kept_bytes <= KEPT_MAX - len - xlen &&
            !kept_find(f, id, tag, len, x, xlen)) {
            k->next = f->kept;
            f->kept = k;
            f->kept_bytes += len + xlen;
            k = NULL;
        }
        pthread_mutex_unlock(&f->lock);
    }
    kept_free(k);
}

static void cfile_destroy(cfile_t *f)
{
    for (struct kept *k = f->kept, *next; k; k = next) {
        next = k->next;
        kept_free(k);
    }
    pthread_mutex_destroy(&f->lock);
    free(f->memo);
    arena_free(f->arena);       /* the entry lives in it; cpix.c wipes the keys */
}

/* The real path an fd names, in buf; -1 when /proc cannot tell. */
static ssize_t fd_path(int fd, char *buf, size_t cap)
{
    char link[40];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1)
        return -1;
    buf[n] = '\0';
    return n;
}

int fs_keys_dir(const char *dir, const char *src, char **out)
{
    char *k = realpath(dir, NULL), *s = NULL;
    struct stat st;
    int rc = 0;
    if (!k || !(s = realpath(src, NULL))) {
        rc = -errno;
        goto out;
    }
    if (stat(k, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISDIR(st.st_mode)) {
        rc = -ENOTDIR;
        goto out;
    }
    size_t n = strlen(s);
    if (strcmp(s, "/") == 0 || (strncmp(k, s, n) == 0 && (k[n] == '\0' || k[n] == '/'))) {
        rc = -EINVAL;
        goto out;
    }
    *out = k;
    k = NULL;
out:
    free(k);
    free(s);
    return rc;
}

int fs_keys_init(fs_ctx_t *ctx)
{
    char buf[PATH_MAX];
    struct fs_key_cache *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->load_lock, NULL);
    atomic_init(&c->canon_warned, false);
    if (fd_path(ctx->src_fd, buf, sizeof buf) > 0) {
        if (!(c->src_real = strdup(buf))) {
            free(c);
            return -ENOMEM;
        }
        c->src_real_len = strlen(buf);
    }
    ctx->keys = c;
    return 0;
}

void fs_keys_free(fs_ctx_t *ctx)
{
    struct fs_key_cache *c = ctx->keys;
    if (!c)
        return;
    for (cfile_t *f = c->head, *next; f; f = next) {
        next = f->next;
        cfile_destroy(f);
    }
    for (uint32_t i = 0; c->memo && i < MEMO_SLOTS; i++) {
        free(c->memo[i].ism);
        free(c->memo[i].canon);
        free(c->memo[i].path);
    }
    free(c->memo);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->load_lock);
    free(c->src_real);
    free(c);
    ctx->keys = NULL;
}

static void cfile_release(void *p)
{
    cfile_t *f = p;
    if (!f)
        return;
    struct fs_key_cache *c = f->cache;
    pthread_mutex_lock(&c->lock);
    int last = --f->refs == 0 && f->stale;
    pthread_mutex_unlock(&c->lock);
    if (last)
        cfile_destroy(f);
}

static void set_id(cfile_t *f, const struct stat *st)
{
    f->dev = (uint64_t)st->st_dev;
    f->ino = (uint64_t)st->st_ino;
    f->size = (uint64_t)st->st_size;
    f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    f->mtime = st->st_mtim;
}

static int same_id(const cfile_t *a, const cfile_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns;
}

/*
 * Reads and parses the document of f (path set). A document that cannot be read or is
 * bad sets f->err, logged here (cr_cpix_parse logs its own findings). The text holds
 * the keys in base64: wiped before it is freed. Returns 0 or -ENOMEM.
 */
static int load(cfile_t *f)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int fd, rc = 0;

    /* O_NONBLOCK: a fifo put in its place between stat and open does not hang us */
    if ((fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0) {
        PK_ERROR("%s: %s; its asset is unavailable", f->path, strerror(errno));
        goto bad;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        PK_ERROR("%s: not a regular file; its asset is unavailable", f->path);
        goto bad;
    }
    set_id(f, &st);             /* the version actually read */
    if ((uint64_t)st.st_size > FS_CPIX_FILE_MAX) {
        PK_ERROR("%s: %llu bytes, more than the %u allowed; its asset is unavailable",
                 f->path, (unsigned long long)st.st_size, FS_CPIX_FILE_MAX);
        goto bad;
    }
    len = (size_t)st.st_size;
    if (!(buf = malloc(len + 1))) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t done = 0; done < len;) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            PK_ERROR("%s: %s; its asset is unavailable", f->path,
                     n < 0 ? strerror(errno) : "shorter than its size");
            goto bad;
        }
        done += (size_t)n;
    }
    buf[len] = '\0';
    rc = cr_cpix_parse(buf, len, f->path, f->arena, &f->cpix);
    if (rc == -ENOMEM)
        goto out;
    if (rc < 0)
        goto bad;               /* logged by the parser, line by line */
    goto out;
bad:
    f->err = -EIO;
    f->cpix = NULL;
    rc = 0;
out:
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Takes f out of the table (lock held). */
static void unlink_file(struct fs_key_cache *c, cfile_t *f)
{
    for (cfile_t **p = &c->head; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            c->count--;
            break;
        }
    }
    f->stale = 1;
}

/* The table's entry for path if it has this identity, with a reference; else NULL. */
static cfile_t *lookup(struct fs_key_cache *c, const char *path, const cfile_t *id)
{
    cfile_t *f;
    pthread_mutex_lock(&c->lock);
    for (f = c->head; f && strcmp(f->path, path) != 0; f = f->next)
        ;
    if (f && same_id(f, id)) {
        f->refs++;
        f->used = ++c->clock;
    } else {
        f = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    return f;
}

/* stat() of a document: 1 and *id, 0 when there is none, or a negative errno. */
static int stat_doc(const char *path, cfile_t *id)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        int rc = -errno;
        PK_DEBUG("%s: %s", path, strerror(errno));
        return rc;
    }
    set_id(id, &st);
    return 1;
}

/*
 * The parsed document at `path` as it is now, with a reference (cfile_release), or
 * *out = NULL when there is none. Returns 0, -ENOMEM, or another negative errno when
 * it cannot be stat'ed (then it is not known whether the asset is protected).
 */
static int cfile_get(fs_ctx_t *ctx, const char *path, cfile_t **out)
{
    struct fs_key_cache *c = ctx->keys;
    cfile_t key, *f, *o, *drop = NULL, *evict = NULL;
    int rc;

    *out = NULL;
    if ((rc = stat_doc(path, &key)) <= 0)
        return rc;
    if ((*out = lookup(c, path, &key)))
        return 0;

    /* a new version: read by one request at a time, outside the table's lock (the
     * storage may be slow); stat'ed again under the load lock, as another request may
     * have read it meanwhile */
    pthread_mutex_lock(&c->load_lock);
    if ((rc = stat_doc(path, &key)) <= 0 || (*out = lookup(c, path, &key))) {
        pthread_mutex_unlock(&c->load_lock);
        return rc < 0 ? rc : 0;
    }
    arena_t *a = arena_new();
    if (!a || !(f = arena_zalloc(a, sizeof *f)) || !(f->path = arena_strdup(a, path))) {
        pthread_mutex_unlock(&c->load_lock);
        arena_free(a);
        return -ENOMEM;
    }
    f->arena = a;
    f->cache = c;
    f->refs = 1;
    pthread_mutex_init(&f->lock, NULL);
    f->dev = key.dev, f->ino = key.ino, f->size = key.size, f->mtime_ns = key.mtime_ns;
    f->mtime = key.mtime;
    if (load(f) < 0) {
        pthread_mutex_unlock(&c->load_lock);
        cfile_destroy(f);
        return -ENOMEM;
    }
    pthread_mutex_lock(&c->lock);
    c->loads++;
    for (o = c->head; o && strcmp(o->path, path) != 0; o = o->next)
        ;
    if (o) {
        unlink_file(c, o);
        if (o->refs == 0)
            drop = o;
    }
    f->next = c->head;
    c->head = f;
    c->count++;
    f->used = ++c->clock;
    if (c->count > FS_CPIX_FILES_MAX) {
        for (o = c->head; o; o = o->next)
            if (o->refs == 0 && (!evict || o->used < evict->used))
                evict = o;
        if (evict)
            unlink_file(c, evict);
    }
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&c->load_lock);
    if (drop)
        cfile_destroy(drop);
    if (evict && evict != drop)
        cfile_destroy(evict);
    *out = f;
    return 0;
}

/* A document of this request: referenced until it ends; its mtime joins req->newest. */
static int hold(fs_req_t *req, cfile_t *f)
{
    if (arena_defer(req->arena, cfile_release, f) < 0) {
        cfile_release(f);
        return -ENOMEM;
    }
    if (f->mtime.tv_sec > req->newest.tv_sec ||
        (f->mtime.tv_sec == req->newest.tv_sec && f->mtime.tv_nsec > req->newest.tv_nsec))
        req->newest = f->mtime;
    return 0;
}

/* The key of a track of this shape, each answer asked of the document once (so a track
 * without a key is logged once per version). Returns 0, -ENOKEY or -EBADMSG. */
static int track_key(cfile_t *f, const pk_vtrack_t *vt, const cr_key_t **out)
{
    const pk_track_t *t = vt->t;
    keymemo_t k = { t->type, t->width, t->height, t->channels, vt->at->bitrate, 0, NULL };
    int rc;

    pthread_mutex_lock(&f->lock);
    for (uint32_t i = 0; i < f->memo_count; i++) {
        const keymemo_t *m = &f->memo[i];
        if (m->type == k.type && m->width == k.width && m->height == k.height &&
            m->channels == k.channels && m->bitrate == k.bitrate) {
            rc = m->rc;
            *out = m->key;
            pthread_mutex_unlock(&f->lock);
            return rc;
        }
    }
    k.rc = cr_cpix_key_for(f->cpix, k.type, k.width, k.height, k.channels, k.bitrate, &k.key);
    if (f->memo_count == f->memo_cap && f->memo_cap < KEYMEMO_MAX) {
        uint32_t cap = f->memo_cap ? 2 * f->memo_cap : 8;
        keymemo_t *m = realloc(f->memo, cap * sizeof *m);
        if (m) {
            f->memo = m;
            f->memo_cap = cap;
        }
    }
    if (f->memo_count < f->memo_cap)
        f->memo[f->memo_count++] = k;
    pthread_mutex_unlock(&f->lock);
    *out = k.key;
    return k.rc;
}

static unsigned key_schemes(const cr_key_t *k)
{
    switch (k->scheme) {
    case 0: return FS_KEYS_CENC | FS_KEYS_CBCS | FS_KEYS_AES128;
    case CENC: return FS_KEYS_CENC;
    case CBCS: return FS_KEYS_CBCS;
    default: return 0;          /* cens, cbc1: not served */
    }
}

/* ---- paths ------------------------------------------------------------------------ */

/*
 * The path below SRC's real path of what fd names (arena copy), so that every spelling
 * of a file (symlinked directories, "a/../b") leads to one CPIX path; `rel` (the path
 * as given) when /proc cannot tell (one warning per process) or fd is -1 (the file
 * went away meanwhile).
 */
static char *canon(fs_req_t *req, int fd, const char *rel)
{
    struct fs_key_cache *c = req->ctx->keys;
    char buf[PATH_MAX];
    if (c->src_real && fd >= 0 && fd_path(fd, buf, sizeof buf) > 0) {
        size_t n = c->src_real_len;
        if (n == 1)                                 /* SRC is / */
            return arena_strdup(req->arena, buf + 1);
        if (strncmp(buf, c->src_real, n) == 0 && (buf[n] == '/' || buf[n] == '\0'))
            return arena_strdup(req->arena, buf[n] ? buf + n + 1 : "");
    }
    if (fd >= 0 && !atomic_exchange(&c->canon_warned, true))
        PK_WARN("cannot tell real paths below %s (is /proc mounted?): key files are looked "
                "up by the path as requested", req->ctx->src_root);
    return arena_strdup(req->arena, rel);
}

/* canon() of `rel` below SRC. */
static char *canon_rel(fs_req_t *req, const char *rel)
{
    int fd = *rel ? fs_open_beneath(req->ctx->src_fd, rel, O_PATH) : -1;
    char *s = canon(req, *rel ? fd : req->ctx->src_fd, rel);
    if (fd >= 0)
        close(fd);
    return s;
}

/* keys=DIR/<canonical .ism path without .ism>.cpix.xml */
static char *cpix_path(fs_req_t *req, const char *ism_canon)
{
    const char *dir = req->ctx->opt.keys_dir;
    size_t n = strlen(ism_canon);
    if (n >= 4 && strcmp(ism_canon + n - 4, ".ism") == 0)
        n -= 4;
    size_t len = strlen(dir) + 1 + n + sizeof ".cpix.xml";
    char *p = arena_alloc(req->arena, len);
    if (p)
        snprintf(p, len, "%s/%.*s.cpix.xml", dir, (int)n, ism_canon);
    return p;
}

/* ---- protected sources -------------------------------------------------------------- */

typedef struct {
    uint64_t dev, ino;
} fid_t;

struct fs_keys_memo {
    struct fs_keys_memo *next;
    const char *dir;            /* canonical, below SRC ("" for SRC itself) */
    int all;                    /* a protected asset there could not be read: all files */
    uint32_t count, cap;
    fid_t *ids;                 /* [count] files the protected assets there name */
};

static int add_id(fs_req_t *req, struct fs_keys_memo *m, uint64_t dev, uint64_t ino)
{
    if (m->count == m->cap) {
        uint32_t cap = m->cap ? 2 * m->cap : 16;
        fid_t *ids = arena_alloc(req->arena, cap * sizeof *ids);
        if (!ids)
            return -ENOMEM;
        if (m->count)
            memcpy(ids, m->ids, m->count * sizeof *ids);
        m->ids = ids;
        m->cap = cap;
    }
    m->ids[m->count++] = (fid_t){ dev, ino };
    return 0;
}

/* Adds the files asset `ism` (below SRC, protected) names; an asset that cannot be
 * built (logged by the asset cache, once per version) protects the whole directory. */
static int add_asset(fs_req_t *req, struct fs_keys_memo *m, const char *ism)
{
    fs_asset_t *a;
    int rc = fs_asset_get(req->ctx, ism, &a);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        m->all = 1;
        return 0;
    }
    const pk_asset_t *as = a->view->asset;
    for (uint32_t i = 0; i < as->track_count && rc == 0; i++) {
        struct stat st;
        int fd = fs_source_fd(as->tracks[i].source);
        if (fd < 0 || fstat(fd, &st) < 0)
            m->all = 1;
        else
            rc = add_id(req, m, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    }
    fs_asset_release(a);
    return rc;
}

/* Scans canonical directory `dir` for protected .ism files. */
static int scan(fs_req_t *req, const char *dir, struct fs_keys_memo **out)
{
    struct fs_keys_memo *m = arena_zalloc(req->arena, sizeof *m);
    int rc = 0;
    if (!m || !(m->dir = arena_strdup(req->arena, dir)))
        return -ENOMEM;
    int fd = fs_open_beneath(req->ctx->src_fd, *dir ? dir : ".", O_RDONLY | O_DIRECTORY);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        /* cannot be listed now: nothing is known to be safe there */
        if (fd >= 0)
            close(fd);
        m->all = 1;
        goto out;
    }
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        struct stat st, kst;
        if (n <= 4 || strcmp(e->d_name + n - 4, ".ism") != 0)
            continue;
        size_t len = strlen(dir) + n + 2;
        char *rel = arena_alloc(req->arena, len), *c, *path;
        if (!rel) {
            rc = -ENOMEM;
            break;
        }
        snprintf(rel, len, "%s%s%s", dir, *dir ? "/" : "", e->d_name);
        if (fs_stat_beneath(req->ctx->src_fd, rel, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (!(c = canon_rel(req, rel)) || !(path = cpix_path(req, c))) {
            rc = -ENOMEM;
            break;
        }
        if (stat(path, &kst) < 0) {
            if (errno != ENOENT && errno != ENOTDIR)
                m->all = 1;     /* whether it is protected cannot be told */
            continue;
        }
        rc = add_asset(req, m, rel);
    }
    closedir(d);
out:
    if (rc < 0)
        return rc;
    m->next = req->keys;
    req->keys = m;
    *out = m;
    return 0;
}

/* Whether the file (dev, ino) at canonical path `c` is named by a protected asset of its
 * directory. Returns 1, 0 or -ENOMEM. */
static int protected_file(fs_req_t *req, const char *c, uint64_t dev, uint64_t ino)
{
    const char *slash = strrchr(c, '/');
    char *dir = arena_strndup(req->arena, c, slash ? (size_t)(slash - c) : 0);
    struct fs_keys_memo *m;
    int rc;
    if (!dir)
        return -ENOMEM;
    for (m = req->keys; m && strcmp(m->dir, dir) != 0; m = m->next)
        ;
    if (!m && (rc = scan(req, dir, &m)) < 0)
        return rc;
    if (m->all)
        return 1;
    for (uint32_t i = 0; i < m->count; i++)
        if (m->ids[i].dev == dev && m->ids[i].ino == ino)
            return 1;
    return 0;
}

int fs_keys_source(fs_req_t *req, const char *rel, const struct stat *st)
{
    char *c;
    if (!req->ctx->opt.keys_dir)
        return 0;
    if (!(c = canon_rel(req, rel)))
        return -ENOMEM;
    return protected_file(req, c, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
}

/* ---- assets ------------------------------------------------------------------------ */

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
    sysmemo_t *sys;
};

unsigned fs_keys_schemes(const fs_prot_t *p)
{
    return p->schemes;
}

uint64_t fs_keys_version(const fs_prot_t *p)
{
    const cfile_t *f = p->file;
    if (!f)
        return 0;
    uint64_t v[4] = { f->dev, f->ino, f->size, (uint64_t)f->mtime_ns };
    return fs_hash(FS_HASH_INIT, v, sizeof v);
}

static size_t cpix_key_uri(const cr_cpix_t *c, const cr_key_t *k, const char **uri);

/* Once per document version: why its HLS AES-128 names are not there. */
static void log_no_uri(cfile_t *f, const cr_key_t *k)
{
    char kid[CR_UUID_STR_SIZE];
    pthread_mutex_lock(&f->lock);
    if (!f->no_uri_logged)      /* a warning: the asset's other outputs are served */
        PK_WARN("%s: no key URI for KID %s (neither a ClearKey URIExtXKey or HLSSignalingData "
                 "nor key_uri=): its HLS AES-128 (encryption=cbc) outputs, and its SAMPLE-AES "
                 "ones when no DRM system signals the key, are not served",
                 f->path, cr_uuid_format(k->kid, kid));
    f->no_uri_logged = 1;
    pthread_mutex_unlock(&f->lock);
}

static struct asset_memo *memo_slot(struct fs_key_cache *c, const char *ism)
{
    return &c->memo[fs_hash(FS_HASH_INIT, ism, strlen(ism)) % MEMO_SLOTS];
}

/* The memo of ism when fresh: 1 and copies in the request arena; 0 when there is none. */
static int memo_get(fs_req_t *req, const char *ism, char **canon, char **path, int *clear)
{
    struct fs_key_cache *c = req->ctx->keys;
    int found = 0;
    if (!c->memo)
        return 0;
    uint64_t now = fs_now_ns();
    pthread_mutex_lock(&c->lock);
    struct asset_memo *m = memo_slot(c, ism);
    if (m->ism && strcmp(m->ism, ism) == 0 && now - m->at_ns < FS_ASSETS_RECHECK_NS) {
        *canon = arena_strdup(req->arena, m->canon);
        *path = arena_strdup(req->arena, m->path);
        *clear = m->clear;
        found = *canon && *path;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

static void memo_put(fs_req_t *req, const char *ism, const char *canon, const char *path,
                     int clear, uint64_t at)
{
    struct fs_key_cache *c = req->ctx->keys;
    char *a = strdup(ism), *b = strdup(canon), *d = strdup(path);
    pthread_mutex_lock(&c->lock);
    if (!c->memo)
        c->memo = calloc(MEMO_SLOTS, sizeof *c->memo);
    if (c->memo && a && b && d) {
        struct asset_memo *m = memo_slot(c, ism);
        free(m->ism);
        free(m->canon);
        free(m->path);
        *m = (struct asset_memo){ a, b, d, clear, at };
        a = b = d = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    free(a);
    free(b);
    free(d);
}

static int asset_found(fs_req_t *req, const char *ism, const pk_view_t *v, char *c,
                       char *path, fs_prot_t **out, int *clear);

int fs_keys_asset(fs_req_t *req, const char *ism, const pk_view_t *v, fs_prot_t **out)
{
    char *c = NULL, *path = NULL;
    int clear, rc;

    *out = NULL;
    if (!req->ctx->opt.keys_dir)
        return 0;
    if (memo_get(req, ism, &c, &path, &clear)) {
        if (clear)
            return 0;
    } else {
        c = path = NULL;
    }
    uint64_t at = fs_now_ns();  /* before looking: a change meanwhile is seen next time */
    if ((rc = asset_found(req, ism, v, c, path, out, &clear)) < 0)
        return rc;
    memo_put(req, ism, (*out)->ism, (*out)->path, clear, at);
    if (clear)
        *out = NULL;
    return 0;
}

/* fs_keys_asset's work: *out is always set (to say what was found: canonical path and
 * document path, given as c and path when the memo knows them), *clear when the asset is
 * not protected. */
static int asset_found(fs_req_t *req, const char *ism, const pk_view_t *v, char *c,
                       char *path, fs_prot_t **out, int *clear)
{
    fs_prot_t *p;
    cfile_t *f;
    int rc;

    *clear = 0;
    if ((!c && !(c = canon_rel(req, ism))) || (!path && !(path = cpix_path(req, c))) ||
        !(p = arena_zalloc(req->arena, sizeof *p)))
        return -ENOMEM;
    p->path = path;
    *out = p;
    p->ism = c;
    if ((rc = cfile_get(req->ctx, path, &f)) < 0)
        return rc == -ENOMEM ? rc : -EIO;   /* unknown whether protected: nothing served */
    if (f) {
        if ((rc = hold(req, f)) < 0)
            return rc;
        if (f->err)
            return -EIO;
        p->file = f;
        p->schemes = FS_KEYS_CENC | FS_KEYS_CBCS | FS_KEYS_AES128;
        const cr_key_t *no_uri = NULL;
        for (uint32_t i = 0; i < v->track_count; i++) {
            const cr_key_t *k;
            if (track_key(f, &v->tracks[i], &k) < 0)
                return -EIO;    /* logged once per document version */
            p->schemes &= key_schemes(k);
            if (!req->ctx->opt.key_uri && !cpix_key_uri(f->cpix, k, NULL))
                no_uri = k;
        }
        if (no_uri && (p->schemes & FS_KEYS_AES128)) {
            p->schemes &= ~FS_KEYS_AES128;
            log_no_uri(f, no_uri);
        }
        *out = p;
        return 0;
    }
    /* no document of its own: is it made of a protected asset's files? */
    const pk_asset_t *as = v->asset;
    for (uint32_t i = 0; i < as->track_count; i++) {
        const pk_source_t *src = as->tracks[i].source;
        int fd = fs_source_fd(src);
        struct stat st;
        char *sc;
        if (fd < 0 || fstat(fd, &st) < 0)
            continue;
        if (!(sc = canon(req, fd, src->name)))
            return -ENOMEM;
        if ((rc = protected_file(req, sc, (uint64_t)st.st_dev, (uint64_t)st.st_ino)) < 0)
            return rc;
        if (rc)
            return 0;           /* protected as a source only */
    }
    *clear = 1;
    return 0;
}

/* ---- signalling ------------------------------------------------------------------- */

/* The data of a pssh box (the PRO of a PlayReady one), or an empty range. */
static pk_bytes_t pssh_data(const uint8_t *box, size_t len)
{
    rd_t r = rd_init(box, len);
    rd_skip(&r, 4);
    uint32_t type = rd_u32(&r);
    uint8_t version = rd_u8(&r);
    rd_skip(&r, 3 + 16);
    if (version == 1)
        rd_skip(&r, 16 * (size_t)rd_u32(&r));
    uint32_t n = rd_u32(&r);
    if (r.err || type != FOURCC('p', 's', 's', 'h') || n > rd_left(&r))
        return (pk_bytes_t){ NULL, 0 };
    return (pk_bytes_t){ r.p, n };
}

static int build_common(arena_t *a, const uint8_t *kid, pk_bytes_t *out)
{
    const uint8_t *kids[1] = { kid };
    wr_t w = wr_counter();
    int rc = cr_pssh_common_write(&w, kids, 1);
    if (rc < 0)
        return rc;
    uint8_t *buf = arena_alloc(a, w.pos);
    if (!buf)
        return -ENOMEM;
    size_t n = w.pos;
    w = wr_init(buf, n);
    if ((rc = cr_pssh_common_write(&w, kids, 1)) < 0)
        return rc;
    *out = (pk_bytes_t){ buf, n };
    return 0;
}

/* The signalling of key k in `scheme`: the DRM systems of the CPIX for its KID
 * (FairPlay left out: HLS only), each pssh as given or built, and the init segment's
 * boxes (those, plus the W3C common pssh when the CPIX gives none). */
static int systems(fs_req_t *req, fs_prot_t *p, const cr_key_t *k, uint32_t scheme,
                   const sysmemo_t **out)
{
    const cr_cpix_t *c = p->file->cpix;
    const char *la_url = req->ctx->opt.playready_la_url;
    arena_t *a = req->arena;
    sysmemo_t *m;
    int rc, common = 0;

    for (m = p->sys; m; m = m->next) {
        if (m->key == k && m->scheme == scheme) {
            *out = m;
            return 0;
        }
    }
    if (!(m = arena_zalloc(a, sizeof *m)))
        return -ENOMEM;
    pk_drm_system_t *sys = arena_calloc(a, c->drm_count + 1, sizeof *sys);
    m->pssh = arena_calloc(a, c->drm_count + 1, sizeof *m->pssh);
    if (!sys || !m->pssh)
        return -ENOMEM;
    const uint8_t *kids[1] = { k->kid };
    const uint8_t *keys[1] = { k->key };
    for (uint32_t i = 0; i < c->drm_count; i++) {
        const cr_drm_system_t *d = &c->drm[i];
        pk_drm_system_t *s = &sys[m->drm.system_count];
        cr_pssh_blob_t b;
        if (memcmp(d->kid, k->kid, 16) != 0 || d->system == CR_DRM_FAIRPLAY)
            continue;
        memcpy(s->system_id, d->system_id, 16);
        s->content_protection = d->content_protection;
        if (d->pssh)
            s->pssh = (pk_bytes_t){ d->pssh, d->pssh_size };
        switch (d->system) {
        case CR_DRM_WIDEVINE:
            if (!d->pssh) {
                cr_pssh_widevine_t wv = { .kids = kids, .nkids = 1, .scheme = scheme };
                if ((rc = cr_pssh_widevine_build(a, &wv, &b)) < 0)
                    return rc;
                s->pssh = (pk_bytes_t){ b.p, b.len };
            }
            break;
        case CR_DRM_PLAYREADY:
            if (d->pssh) {
                s->pro = pssh_data(d->pssh, d->pssh_size);
            } else {
                cr_pssh_playready_t pr = { .kids = kids, .nkids = 1, .keys = keys,
                                           .scheme = scheme, .la_url = la_url };
                if ((rc = cr_pssh_pro_build(a, &pr, &b)) < 0)
                    return rc;
                s->pro = (pk_bytes_t){ b.p, b.len };
                if ((rc = cr_pssh_playready_build(a, &pr, &b)) < 0)
                    return rc;
                s->pssh = (pk_bytes_t){ b.p, b.len };
            }
            if (scheme == CENC) {
                m->drm.smooth_pro = s->pro;
                m->drm.smooth_header = d->smooth_header;
            }
            break;
        case CR_DRM_CLEARKEY:
            s->la_url = d->uri_ext_x_key;   /* its licence URL, when the CPIX names one */
            break;
        case CR_DRM_W3C_COMMON:
            common = 1;
            if (!d->pssh && (rc = build_common(a, k->kid, &s->pssh)) < 0)
                return rc;
            break;
        case CR_DRM_FAIRPLAY:
            break;
        }
        if (s->pssh.len)
            m->pssh[m->pssh_count++] = s->pssh;
        m->drm.system_count++;
    }
    if (!common && (rc = build_common(a, k->kid, &m->pssh[m->pssh_count++])) < 0)
        return rc;
    /* Smooth has no init segment: its ProtectionHeader is the only sign of encryption a
     * client gets, so a key the CPIX gives no PlayReady system still gets one (WRMHEADER
     * 4.0, LA_URL from playready_la_url=); the DASH and HLS signalling stay as the CPIX says */
    if (scheme == CENC && !m->drm.smooth_pro.len && !m->drm.smooth_header) {
        cr_pssh_playready_t pr = { .kids = kids, .nkids = 1, .keys = keys, .scheme = scheme,
                                   .la_url = la_url };
        cr_pssh_blob_t b;
        if ((rc = cr_pssh_pro_build(a, &pr, &b)) < 0)
            return rc;
        m->drm.smooth_pro = (pk_bytes_t){ b.p, b.len };
    }
    m->key = k;
    m->scheme = scheme;
    m->drm.scheme = scheme;
    memcpy(m->drm.kid, k->kid, 16);
    m->drm.systems = sys;
    m->next = p->sys;
    p->sys = m;
    *out = m;
    return 0;
}

/* The key of vt and whether it serves `scheme`: 0, -ENOENT or -EIO. */
static int usable_key(const fs_prot_t *p, const pk_vtrack_t *vt, uint32_t scheme,
                      const cr_key_t **out)
{
    if (!p->file || (scheme != CENC && scheme != CBCS))
        return -ENOENT;
    if (track_key(p->file, vt, out) < 0)
        return -EIO;
    if ((*out)->scheme && (*out)->scheme != scheme)
        return -ENOENT;
    return 0;
}

int fs_keys_drm(fs_req_t *req, fs_prot_t *p, const pk_view_t *v, uint32_t scheme,
                const pk_drm_t **out)
{
    pk_drm_t *d = arena_zalloc(req->arena, sizeof *d);
    const pk_track_drm_t **t = arena_calloc(req->arena, v->track_count + 1, sizeof *t);
    int rc;
    if (!d || !t)
        return -ENOMEM;
    for (uint32_t i = 0; i < v->track_count; i++) {
        const cr_key_t *k;
        const sysmemo_t *m;
        if ((rc = usable_key(p, &v->tracks[i], scheme, &k)) < 0 ||
            (rc = systems(req, p, k, scheme, &m)) < 0)
            return rc;
        t[i] = &m->drm;
    }
    d->track_count = v->track_count;
    d->tracks = t;
    *out = d;
    return 0;
}

/* ---- sample encryption -------------------------------------------------------------- */

/* The identity of the file behind a source (its real path below SRC; from fstat). */
static int source_id(fs_req_t *req, const pk_source_t *src, ix_file_key_t *id)
{
    struct stat st;
    int fd = fs_source_fd(src);
    memset(id, 0, sizeof *id);
    /* a source of the asset cache: its identity and real path, worked out once */
    if (fs_source_stat(src, &st) == 0) {
        const char *c = fs_source_canon(src, NULL);
        if (!c) {
            char *mine = canon(req, fd, src->name);
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
    return (id->path = canon(req, fd, src->name)) ? 0 : -ENOMEM;
}

/* FNV-1a 64 step over n bytes. */
static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* AES-128-ECB(key, in) as the first keystream block of CTR with counter block `in`. */
static int ecb(cr_aes_t *ctr, const uint8_t in[16], uint8_t out[16])
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

typedef int (*aux_make_fn)(void *ctx, void **out);

/* With keep (the asset's document, held by req), the blob is looked up there first and
 * put there when found elsewhere (struct kept). */
static int aux_blob(fs_req_t *req, cfile_t *keep, const ix_file_key_t *id, const char *tag,
                    size_t bytes, aux_make_fn make, void *ctx, const void **out)
{
    ix_t *ix = req->ctx->ix;
    struct fs_aux_memo *m;
    const void *blob;
    void *made;
    size_t len;
    int rc;

    if (keep && (blob = kept_get(keep, id, tag, bytes, NULL, 0))) {
        *out = blob;
        return 0;
    }

    for (m = req->aux; m; m = m->next) {
        if (m->len == bytes && strcmp(m->tag, tag) == 0 && strcmp(m->path, id->path) == 0) {
            *out = m->blob;
            return 0;
        }
    }
    if (ix && (req->rd || ix_read_begin(ix, &req->rd) == 0) &&
        ix_aux_get(req->rd, id, tag, &blob, &len) == 0 && len == bytes) {
        if (!(made = arena_alloc(req->arena, bytes ? bytes : 1)))
            return -ENOMEM;
        memcpy(made, blob, bytes);
    } else {
        if ((rc = make(ctx, &made)) < 0)
            return rc;
        if (ix)
            (void)ix_aux_put(ix, id, tag, made, bytes); /* a full cache only costs speed */
    }
    if (keep)
        kept_put(keep, id, tag, made, bytes, NULL, 0);
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
    int rc = aux_blob(req, keep, id, tag, 2 * (size_t)vt->t->sample_count, make_counts, &j,
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
        put_be64(iv, e->iv_start + i);
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

    if ((rc = usable_key(p, vt, scheme, &k)) < 0)
        return rc;
    if (!(pp = arena_zalloc(req->arena, sizeof *pp)) ||
        !(e = arena_zalloc(req->arena, sizeof *e)))
        return -ENOMEM;
    /* sizes need neither IVs nor AES: only what bytes need is made */
    int ivs = what != FS_PROTECT_SIZE && (scheme == CBCS || what == FS_PROTECT_CONTENT);
    if (ivs && !(scheme == CBCS && k->has_iv) &&
        (rc = cr_aes_new(req->arena, k->key, CR_AES_CTR, &ctr)) < 0)
        return rc;
    if (what != FS_PROTECT_INIT && (rc = source_id(req, vt->at->source, &id)) < 0)
        return rc;
    pp->scheme = scheme;
    memcpy(pp->kid, k->kid, 16);
    if (scheme == CENC) {
        pp->iv_size = e->iv_size = 8;
        if (ivs) {
            uint8_t in[16] = "ismfs iv", s[16];
            uint8_t be[8];
            uint64_t h = fs_hash(FS_HASH_INIT, id.path, strlen(id.path) + 1);
            put_be64(be, id.size);
            h = fs_hash(h, be, 8);
            put_be64(be, (uint64_t)id.mtime_ns);
            h = fs_hash(h, be, 8);
            put_be64(be, t->id);
            h = fs_hash(h, be, 8);
            put_be64(in + 8, h);
            if ((rc = ecb(ctr, in, s)) < 0)
                return rc;
            for (int i = 0; i < 8; i++)
                e->iv_start = e->iv_start << 8 | s[i];
        }
        aes = ctr;
    } else {
        if (k->has_iv)
            memcpy(pp->constant_iv, k->iv, 16);
        else if (ivs && (rc = ecb(ctr, civ_in, pp->constant_iv)) < 0)
            return rc;
        memcpy(e->civ, pp->constant_iv, 16);
        pp->crypt_blocks = (uint8_t)(e->crypt = video ? 1 : 0);
        pp->skip_blocks = (uint8_t)(e->skip = video ? 9 : 0);
        aes = NULL;
    }
    if (what == FS_PROTECT_INIT) {
        const sysmemo_t *m;
        if ((rc = systems(req, p, k, scheme, &m)) < 0)
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

/* ---- HLS ------------------------------------------------------------------------------ */

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
static size_t cpix_key_uri(const cr_cpix_t *c, const cr_key_t *k, const char **uri)
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
    size_t n = cpix_key_uri(c, k, &u), len = 1;
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
    const cr_cpix_t *c = p->file->cpix;
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
    if ((rc = systems(req, p, k, scheme, &m)) < 0)
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
        log_no_uri(p->file, k);
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
    if (track_key(p->file, vt, out) < 0)
        return -EIO;
    return (*out)->scheme ? -ENOENT : 0;
}

/* The AES-128 IV generator of one request (fs_keys_hls). */
typedef struct {
    fs_req_t *req;
    fs_prot_t *p;
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
    int rc = source_id(req, vt->at->source, &id);
    if (rc < 0)
        return rc;
    *h = fs_hash(*h, id.path, strlen(id.path) + 1);
    put_be64(be, id.size);
    *h = fs_hash(*h, be, 8);
    put_be64(be, (uint64_t)id.mtime_ns);
    *h = fs_hash(*h, be, 8);
    put_be64(be, vt->t->id);
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
        uint64_t h = fs_hash(FS_HASH_INIT, "ismfs aes-128", 14);
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
    put_be64(be, vt->frags[k].duration);
    put_be64(in, fs_hash(g->h, be, 8));
    put_be64(in + 8, vt->frags[k].time);
    return ecb(g->ecb, in, iv);
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
                                 : usable_key(p, vt, scheme, &keys[i]);
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
        h->iv = segment_iv;
        h->iv_ctx = g;
    }
    *out = h;
    return 0;
}

int fs_keys_ts_aes(fs_req_t *req, fs_prot_t *p, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                   uint32_t k, wr_t *w)
{
    ivgen_t g = { .req = req, .p = p };
    uint8_t iv[16];
    cr_aes_t *aes;
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
    if ((rc = segment_iv(&g, vt, mux, k, iv)) < 0 ||
        (rc = cr_aes_new(req->arena, g.key->key, CR_AES_CBC_ENCRYPT, &aes)) < 0)
        return rc;
    size_t start = w->pos;
    if ((rc = pk_ts_segment(vt, mux, k, req->arena, w)) < 0)
        return rc;
    if (w->err)
        return w->err;
    /* in place: the clear segment is where its cipher text goes, PKCS7 block after it */
    size_t len = w->pos - start;
    if ((rc = cr_aes_hls_encrypt(aes, iv, w->buf + start, len, w->cap - start)) < 0)
        return rc == -ENOSPC ? (w->err = -ENOSPC) : rc;
    w->pos = start + cr_aes_hls_size(len);
    return 0;
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
    if ((rc = source_id(req, vt->at->source, id)) < 0 ||
        (rc = cr_aes_cbcs(e->aes, zero, 16, kcv, 16, NULL, 0, 0, 0)) < 0)
        return rc;
    snprintf(tag, IX_TAG_MAX + 1, "saes/%u/%02x%02x%02x%02x%02x%02x%02x%02x", t->id, kcv[0],
             kcv[1], kcv[2], kcv[3], kcv[4], kcv[5], kcv[6], kcv[7]);
    struct growth_job j = { req, vt, e };
    if ((rc = aux_blob(req, keep, id, tag, 4 * (size_t)t->sample_count, make_growth, &j,
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
    if ((blob = kept_get(keep, id, tag, len, vt->frags, xlen))) {
        *out = blob;
        return 0;
    }
    if ((rc = pk_ts_packets_saes(vt, s, req->arena, &made)) < 0)
        return rc;
    kept_put(keep, id, tag, made, len, vt->frags, xlen);
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
        if ((rc = usable_key(p, tr[j], CBCS, &k)) < 0 ||
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
