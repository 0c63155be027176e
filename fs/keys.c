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

#include "../crypt/cpix.h"
#include "../crypt/pssh.h"
#include "../pack/log.h"
#include "assets.h"
#include "fcache.h"
#include "keys_int.h"
#include "source.h"

#define KEYMEMO_MAX 1024        /* distinct track shapes remembered per document */

/* ---- the cache of parsed documents ---------------------------------------------- */

/* One cr_cpix_key_for answer: a track shape and its key (or why it has none). */
typedef struct {
    pk_track_type_t type;
    uint32_t width, height, channels, bitrate;
    int rc;
    const cr_key_t *key;
} keymemo_t;

struct cfile {
    fs_fcache_entry_t entry;    /* key: the path (absolute: under keys=) */
    const char *path;           /* = entry.key */
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
};

struct fs_key_cache {
    fs_fcache_t docs;
    pthread_mutex_t load_lock;  /* one document read at a time: each version is read, and
                                 * its problems logged, once (cr_cpix_parse logs as it goes) */
    pthread_mutex_t lock;       /* guards memo */
    uint64_t loads;             /* document versions read, under load_lock (the unit tests
                                 * count them) */
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
const void *keys_kept_get(cfile_t *f, const ix_file_key_t *id, const char *tag, size_t len,
                          const void *x, size_t xlen)
{
    pthread_mutex_lock(&f->lock);
    const struct kept *k = kept_find(f, id, tag, len, x, xlen);
    pthread_mutex_unlock(&f->lock);
    return k ? k->blob : NULL;
}

/* Keeps a copy of blob[0..len) in f under this key, unless f is full or has it already
 * (another thread's); without memory it is simply not kept. */
void keys_kept_put(cfile_t *f, const ix_file_key_t *id, const char *tag, const void *blob,
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

static void cfile_destroy(fs_fcache_entry_t *e)
{
    cfile_t *f = FS_FCACHE_OWNER(e, cfile_t, entry);
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
    fs_fcache_init(&c->docs, FS_CPIX_FILES_MAX, cfile_destroy);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->load_lock, NULL);
    atomic_init(&c->canon_warned, false);
    if (fd_path(ctx->src_fd, buf, sizeof buf) > 0) {
        if (!(c->src_real = strdup(buf))) {
            fs_fcache_fini(&c->docs);
            pthread_mutex_destroy(&c->lock);
            pthread_mutex_destroy(&c->load_lock);
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
    fs_fcache_fini(&c->docs);
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
    fs_fcache_release(f ? &f->entry : NULL);
}

static void set_id(cfile_t *f, const struct stat *st)
{
    f->entry.id = fs_fcache_id(st);
    f->mtime = st->st_mtim;
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

/* The table's entry for path if it has this identity, with a reference; else NULL. */
static cfile_t *lookup(struct fs_key_cache *c, const char *path, const fs_fcache_id_t *id)
{
    fs_fcache_entry_t *e = fs_fcache_get(&c->docs, path, id);
    return e ? FS_FCACHE_OWNER(e, cfile_t, entry) : NULL;
}

/* stat() of a document: 1 and *st, 0 when there is none, or a negative errno. */
static int stat_doc(const char *path, struct stat *st)
{
    if (stat(path, st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        int rc = -errno;
        PK_DEBUG("%s: %s", path, strerror(errno));
        return rc;
    }
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
    fs_fcache_entry_t *e;
    fs_fcache_id_t key;
    struct stat st;
    cfile_t *f;
    int rc;

    *out = NULL;
    if ((rc = stat_doc(path, &st)) <= 0)
        return rc;
    key = fs_fcache_id(&st);
    if ((*out = lookup(c, path, &key)))
        return 0;

    /* a new version: read by one request at a time, outside the table's lock (the
     * storage may be slow); stat'ed again under the load lock, as another request may
     * have read it meanwhile */
    pthread_mutex_lock(&c->load_lock);
    if ((rc = stat_doc(path, &st)) > 0) {
        key = fs_fcache_id(&st);
        *out = lookup(c, path, &key);
    }
    if (rc <= 0 || *out) {
        pthread_mutex_unlock(&c->load_lock);
        return rc < 0 ? rc : 0;
    }
    arena_t *a = arena_new();
    if (!a || !(f = arena_zalloc(a, sizeof *f)) || !(f->path = arena_strdup(a, path))) {
        pthread_mutex_unlock(&c->load_lock);
        arena_free(a);
        return -ENOMEM;
    }
    f->entry.key = f->path;
    f->arena = a;
    pthread_mutex_init(&f->lock, NULL);
    set_id(f, &st);
    if (load(f) < 0) {
        pthread_mutex_unlock(&c->load_lock);
        cfile_destroy(&f->entry);
        return -ENOMEM;
    }
    c->loads++;
    /* versions are read one at a time: the newest read replaces the one in the table */
    fs_fcache_put(&c->docs, &f->entry, FS_FCACHE_REPLACE, &e);
    pthread_mutex_unlock(&c->load_lock);
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

const cr_cpix_t *keys_cpix(const cfile_t *f)
{
    return f->cpix;
}

/* The key of a track of this shape, each answer asked of the document once (so a track
 * without a key is logged once per version). Returns 0, -ENOKEY or -EBADMSG. */
int keys_track_key(cfile_t *f, const pk_vtrack_t *vt, const cr_key_t **out)
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
char *keys_canon(fs_req_t *req, int fd, const char *rel)
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

/* keys_canon() of `rel` below SRC. */
static char *canon_rel(fs_req_t *req, const char *rel)
{
    int fd = *rel ? fs_open_beneath(req->ctx->src_fd, rel, O_PATH) : -1;
    char *s = keys_canon(req, *rel ? fd : req->ctx->src_fd, rel);
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

unsigned fs_keys_schemes(const fs_prot_t *p)
{
    return p->schemes;
}

uint64_t fs_keys_version(const fs_prot_t *p)
{
    const cfile_t *f = p->file;
    if (!f)
        return 0;
    const fs_fcache_id_t *id = &f->entry.id;
    uint64_t v[4] = { id->dev, id->ino, id->size, (uint64_t)id->mtime_ns };
    return fs_hash(FS_HASH_INIT, v, sizeof v);
}

/* Once per document version: why its HLS AES-128 names are not there. */
void keys_log_no_uri(cfile_t *f, const cr_key_t *k)
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
            if (keys_track_key(f, &v->tracks[i], &k) < 0)
                return -EIO;    /* logged once per document version */
            p->schemes &= key_schemes(k);
            if (!req->ctx->opt.key_uri && !keys_cpix_key_uri(f->cpix, k, NULL))
                no_uri = k;
        }
        if (no_uri && (p->schemes & FS_KEYS_AES128)) {
            p->schemes &= ~FS_KEYS_AES128;
            keys_log_no_uri(f, no_uri);
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
        if (!(sc = keys_canon(req, fd, src->name)))
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
int keys_systems(fs_req_t *req, fs_prot_t *p, const cr_key_t *k, uint32_t scheme,
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
int keys_usable_key(const fs_prot_t *p, const pk_vtrack_t *vt, uint32_t scheme,
                    const cr_key_t **out)
{
    if (!p->file || (scheme != CENC && scheme != CBCS))
        return -ENOENT;
    if (keys_track_key(p->file, vt, out) < 0)
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
        if ((rc = keys_usable_key(p, &v->tracks[i], scheme, &k)) < 0 ||
            (rc = keys_systems(req, p, k, scheme, &m)) < 0)
            return rc;
        t[i] = &m->drm;
    }
    d->track_count = v->track_count;
    d->tracks = t;
    *out = d;
    return 0;
}
