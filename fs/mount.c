/*
 * The FUSE glue: the only code that knows libfuse. Every operation is a
 * request on the view (fs/view.h); the kernel sees a read-only tree with exact
 * sizes and stable mtimes, so page caching stays on.
 *
 * libfuse's low-level API: the kernel's node ids are ours (fs/nodes.h: a hash of the path
 * and of the version of what it names, so a changed source is a new inode to the kernel),
 * and directories can use the kernel's readdir cache, which libfuse 3.14's high-level API
 * cannot ask for (its opendir drops cache_readdir; libfuse PR 822, in 3.16).
 */
#define FUSE_USE_VERSION 312
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "../index/index.h"
#include "../pack/log.h"
#include "ctx.h"
#include "keys.h"
#include "nodes.h"
#include "source.h"
#include "view.h"
#include "version.h"

typedef struct {
    char *src;                  /* SRC as given */
    fs_options_t opt;
    fs_ctx_t ctx;
    int ready;                  /* ctx opened (in init, after daemonizing) */
    uid_t uid;
    gid_t gid;
    struct fuse_session *se;
    fs_nodes_t *nodes;          /* the kernel's node ids and the paths they name */
} mount_t;

/* Seconds the kernel keeps names, attributes and misses: a changed source shows this late */
#define TIMEOUT_S 1.0
/* A directory listed whole with attributes less than this ago is listed again from the
 * kernel's cache (see ll_opendir): half the timeout leaves the other half for the reader */
#define LIST_KEEP_NS 500000000

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/*
 * A rendering of MNT/.ismfs/metrics or health. getattr and open must agree on the size
 * (nginx sends st_size as Content-Length), so one rendering serves every getattr for a
 * second and every open for two (the kernel keeps the size it got for its 1 s attribute
 * timeout); an open file keeps its own rendering until it is released.
 */
typedef struct {
    int refs;                   /* under snaps.lock */
    char *text;
    size_t len;
    struct timespec made;       /* CLOCK_MONOTONIC */
} snap_t;

enum { IN_NONE, IN_DIR, IN_METRICS, IN_HEALTH, IN_COUNT };

static struct {
    pthread_mutex_t lock;
    snap_t *cur[IN_COUNT];
} snaps = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* An open file: the object's plan, valid as long as its request; or a rendering. */
typedef struct handle {
    fs_req_t req;
    fs_object_t obj;
    snap_t *snap;               /* .ismfs files: the rendering read (obj is unused) */
    struct handle *prev, *next; /* in `open_handles`, under its lock */
} handle_t;

/*
 * Every open file. A file a reader still holds at unmount (nginx keeps thousands open)
 * gets no release: op_destroy frees what is left here.
 */
static struct {
    pthread_mutex_t lock;
    handle_t *head;
} open_handles = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void handle_link(handle_t *h)
{
    pthread_mutex_lock(&open_handles.lock);
    h->prev = NULL;
    h->next = open_handles.head;
    if (h->next)
        h->next->prev = h;
    open_handles.head = h;
    pthread_mutex_unlock(&open_handles.lock);
}

static void snap_put(snap_t *sn);

static void handle_free(handle_t *h)
{
    if (h->snap)
        snap_put(h->snap);
    else
        fs_req_end(&h->req);
    free(h);
}

/* Unlinks h (when linked) and frees it. */
static void handle_close(handle_t *h)
{
    pthread_mutex_lock(&open_handles.lock);
    if (h->prev)
        h->prev->next = h->next;
    else if (open_handles.head == h)
        open_handles.head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&open_handles.lock);
    handle_free(h);
}

/* What a reader sees: malformed input is an I/O error, an escape is nothing. */
static int kernel_err(int rc)
{
    switch (rc) {
    case -EBADMSG: case -ENOTSUP: case -EFBIG: return -EIO;
    case -EXDEV: case -ELOOP: return -ENOENT;
    }
    return rc;
}

/*
 * The inode number a reader sees: a hash of the path and of the version of what it
 * names (mtime and size: they change with any source, DESIGN §2), never 0. The file at
 * one path gets a new number when its sources change, so a client that keeps files open
 * and re-stats them (nginx's open_file_cache compares st_ino, then keeps its descriptor,
 * whose plan is the old version's) reopens it instead of sending old bytes under the new
 * size. Directories keep one number per path.
 */
static uint64_t dir_hash(const char *dir)
{
    return fs_hash(FS_HASH_INIT, dir, strlen(dir));
}

/* h: dir_hash() of the directory holding name, or of the path itself (name NULL) */
static ino_t version_ino(uint64_t h, const char *dir, const char *name, const fs_object_t *o)
{
    if (name) {                 /* the same bytes as the path getattr gets: "dir/name" */
        if (*dir)
            h = fs_hash(h, "/", 1);
        h = fs_hash(h, name, strlen(name));
    }
    if (!o->is_dir) {
        uint64_t v[3] = { (uint64_t)o->mtime.tv_sec, (uint64_t)o->mtime.tv_nsec, o->size };
        h = fs_hash(h, v, sizeof v);
    }
    h ^= h >> 29;
    return (ino_t)(h > 1 ? h : h + 2);              /* 0: no entry to readdir; 1: root */
}

/* The inode number of what path (below the root) names. */
static ino_t path_ino(const char *path, const fs_object_t *o)
{
    return version_ino(dir_hash(path), path, NULL, o);
}

/*
 * MNT/.ismfs holds the daemon's own files. It is not listed in the root (rsync of the
 * catalog skips it unless asked for it by name) and shadows a real SRC/.ismfs.
 */
static int internal(const char *rel)
{
    if (strncmp(rel, ".ismfs", 6) != 0 || (rel[6] && rel[6] != '/'))
        return IN_NONE;
    if (!rel[6] || !rel[7])
        return IN_DIR;
    if (strcmp(rel + 7, "metrics") == 0)
        return IN_METRICS;
    if (strcmp(rel + 7, "health") == 0)
        return IN_HEALTH;
    return -ENOENT;
}

static void snap_put(snap_t *sn)
{
    if (!sn)
        return;
    pthread_mutex_lock(&snaps.lock);
    int last = --sn->refs == 0;
    pthread_mutex_unlock(&snaps.lock);
    if (last) {
        free(sn->text);
        free(sn);
    }
}

/* The rendering of file `which` not older than max_ms, made now if there is none; a
 * reference the caller puts back with snap_put. Returns 0 or a negative errno. */
static int snap_get(mount_t *m, int which, uint64_t max_ms, snap_t **out)
{
    pthread_mutex_lock(&snaps.lock);
    snap_t *sn = snaps.cur[which];
    if (sn && fs_metrics_since(sn->made) <= max_ms * 1000000) {
        sn->refs++;
        pthread_mutex_unlock(&snaps.lock);
        *out = sn;
        return 0;
    }
    pthread_mutex_unlock(&snaps.lock);
    if (!(sn = calloc(1, sizeof *sn)))
        return -ENOMEM;
    if (m->nodes)
        atomic_store_explicit(&m->ctx.metrics.nodes, fs_nodes_count(m->nodes),
                              memory_order_relaxed);
    int rc = which == IN_METRICS ? fs_metrics_render(&m->ctx, &sn->text, &sn->len)
                                 : fs_metrics_health(&m->ctx, &sn->text, &sn->len);
    if (rc < 0) {
        free(sn);
        return rc;
    }
    sn->made = fs_metrics_now();
    sn->refs = 2;               /* the caller's and snaps.cur's */
    pthread_mutex_lock(&snaps.lock);
    snap_t *old = snaps.cur[which];
    snaps.cur[which] = sn;
    pthread_mutex_unlock(&snaps.lock);
    snap_put(old);
    *out = sn;
    return 0;
}

static void snaps_free(void)
{
    for (int i = 0; i < IN_COUNT; i++) {
        snap_put(snaps.cur[i]);
        snaps.cur[i] = NULL;
    }
}

/* The attributes of a .ismfs name (which > IN_NONE). */
static int internal_stat(mount_t *m, int which, fs_object_t *o)
{
    memset(o, 0, sizeof *o);
    o->kind = FS_MK_INTERNAL;
    clock_gettime(CLOCK_REALTIME, &o->mtime);
    if (which == IN_DIR) {
        o->is_dir = 1;
        o->kind = FS_MK_DIR;
        return 0;
    }
    snap_t *sn;
    int rc = snap_get(m, which, 1000, &sn);
    if (rc < 0)
        return rc;
    o->size = sn->len;
    snap_put(sn);
    return 0;
}

/* One line per request under -d: what, the answer and how long it took. */
static void log_request(const char *op, const char *path, int rc, uint64_t size,
                        struct timespec t0)
{
    if (pk_log_level < PK_LOG_DEBUG)
        return;
    uint64_t us = fs_metrics_since(t0) / 1000;
    if (rc < 0)
        PK_DEBUG("%s /%s: %s (%" PRIu64 " us)", op, path, strerror(-rc), us);
    else
        PK_DEBUG("%s /%s: %" PRIu64 " bytes (%" PRIu64 " us)", op, path, size, us);
}

static void fill_stat(const mount_t *m, const fs_object_t *o, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = o->is_dir ? S_IFDIR | 0555 : S_IFREG | 0444;
    st->st_nlink = o->is_dir ? 2 : 1;
    st->st_size = o->is_dir ? 0 : (off_t)o->size;
    st->st_blksize = 65536;
    st->st_blocks = (blkcnt_t)((o->size + 511) / 512);
    st->st_mtim = st->st_ctim = st->st_atim = o->mtime;
    st->st_uid = m->uid;
    st->st_gid = m->gid;
}

static void ll_init(void *data, struct fuse_conn_info *conn)
{
    mount_t *m = data;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE)
        conn->want |= FUSE_CAP_SPLICE_WRITE;
    /* READDIRPLUS on every chunk of a listing, not only the first: the attributes come with
     * the names, so `ls -l` of a 7200-fragment directory is not 14 400 LOOKUPs after it */
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    conn->max_readahead = conn->max_readahead > 1 << 20 ? conn->max_readahead : 1 << 20;
    /* LMDB must not cross fork(): the environment is opened here, in the daemon */
    if (fs_ctx_open(&m->ctx, m->src, &m->opt) == 0) {
        m->ready = 1;
        if (m->ctx.ix)          /* no request waits for LMDB's sync */
            ix_set_async(m->ctx.ix, true);
    } else {
        fuse_session_exit(m->se);
    }
}

static void ll_destroy(void *data)
{
    mount_t *m = data;
    for (handle_t *h = open_handles.head, *next; h; h = next) {
        next = h->next;
        handle_free(h);
    }
    open_handles.head = NULL;
    snaps_free();
    if (m->ready)
        fs_ctx_close(&m->ctx);
    m->ready = 0;
}

/* The errno a reader gets, counted. */
static int answer(mount_t *m, int rc)
{
    rc = kernel_err(rc);
    if (rc < 0)
        fs_metrics_error(&m->ctx.metrics, rc);
    return rc;
}

static void reply_err(fuse_req_t req, mount_t *m, int rc)
{
    fuse_reply_err(req, -answer(m, rc));
}

/* What path (below the root) names, for LOOKUP and GETATTR. */
static int resolve(mount_t *m, const char *path, fs_object_t *o)
{
    fs_req_t req;
    int rc, in = internal(path);
    atomic_fetch_add_explicit(&m->ctx.metrics.lookups, 1, memory_order_relaxed);
    if (in != IN_NONE)
        return in < 0 ? in : internal_stat(m, in, o);
    if ((rc = fs_req_begin(&m->ctx, &req)) < 0)
        return rc;
    rc = fs_view_lookup(&req, path, FS_VIEW_SIZE, o);
    fs_req_end(&req);
    if (rc < 0 && rc != -ENOMEM && !*path) {
        /* SRC cannot be read (a storage mount died): the root stays a directory, so that
         * the kernel's walk to .ismfs/health (default_permissions checks the root)
         * still reaches the daemon and health reports the failure */
        memset(o, 0, sizeof *o);
        o->is_dir = 1;
        clock_gettime(CLOCK_REALTIME, &o->mtime);
        rc = 0;
    }
    return rc;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    mount_t *m = fuse_req_userdata(req);
    struct timespec t0 = fs_metrics_now();
    struct fuse_entry_param e = { 0 };
    fs_object_t o;
    char *path = NULL;
    int rc = fs_nodes_path(m->nodes, parent, name, &path);
    if (rc == 0 && (rc = resolve(m, path, &o)) == 0) {
        uint64_t ino = path_ino(path, &o);
        if ((rc = fs_nodes_ref(m->nodes, parent, &name, &ino, 1)) == 0) {
            fill_stat(m, &o, &e.attr);
            e.ino = ino;
            e.attr.st_ino = (ino_t)ino;
            e.attr_timeout = e.entry_timeout = TIMEOUT_S;
        }
    }
    log_request("lookup", path ? path : name, kernel_err(rc), rc == 0 ? o.size : 0, t0);
    free(path);
    if (rc == -ENOENT) {        /* the kernel remembers the miss as long as a name */
        answer(m, rc);
        e.entry_timeout = TIMEOUT_S;
        fuse_reply_entry(req, &e);
    } else if (rc < 0) {
        reply_err(req, m, rc);
    } else if (fuse_reply_entry(req, &e) == -ENOENT) {
        fs_nodes_forget(m->nodes, e.ino, 1);    /* interrupted: the kernel took none */
    }
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    mount_t *m = fuse_req_userdata(req);
    fs_nodes_forget(m->nodes, ino, nlookup);
    fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    mount_t *m = fuse_req_userdata(req);
    for (size_t i = 0; i < count; i++)
        fs_nodes_forget(m->nodes, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    mount_t *m = fuse_req_userdata(req);
    struct timespec t0 = fs_metrics_now();
    struct stat st;
    fs_object_t o;
    char *path = NULL;
    (void)fi;
    int rc = fs_nodes_path(m->nodes, ino, NULL, &path);
    if (rc == 0 && (rc = resolve(m, path, &o)) == 0) {
        fill_stat(m, &o, &st);
        /* the number of what the path names now: when its sources changed, a client that
         * compares st_ino (nginx) sees a new file and opens it anew */
        st.st_ino = path_ino(path, &o);
    }
    log_request("getattr", path ? path : "?", kernel_err(rc), rc == 0 ? o.size : 0, t0);
    free(path);
    if (rc < 0)
        reply_err(req, m, rc);
    else
        fuse_reply_attr(req, &st, TIMEOUT_S);
}

/*
 * A directory's listing, made once per opendir and kept in its handle; entries are numbered
 * from 1 (the offset of an entry is the index of the next one).
 */
typedef struct {
    mount_t *m;
    char *dir;                  /* the listed directory, below the root */
    fuse_ino_t ino;             /* its node */
    uint64_t dir_hash;          /* dir_hash(dir): the start of every entry's inode number */
    arena_t *arena;             /* names (made anew with each listing) */
    char **names;               /* [count]: ".", "..", then the view's names */
    struct stat *st;            /* [count] */
    size_t count, cap;
    int listed;                 /* made (also when it failed: err) */
    int err;
    int64_t started_ns;         /* when the pass from offset 0 was made (monotonic) */
    off_t next_off;             /* the offset a pass read in order asks for next */
    int in_order;               /* the pass has not skipped any entry */
} list_t;

static int add_name(list_t *l, const char *name, const struct stat *st)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **n = realloc(l->names, cap * sizeof *n);
        if (n)
            l->names = n;
        struct stat *s = n ? realloc(l->st, cap * sizeof *s) : NULL;
        if (!n || !s)
            return 1;
        l->st = s;
        l->cap = cap;
    }
    if (!(l->names[l->count] = arena_strndup(l->arena, name, strlen(name))))
        return 1;
    if (st)
        l->st[l->count] = *st;
    else
        memset(&l->st[l->count], 0, sizeof *st);
    l->count++;
    return 0;
}

static int add_entry(void *p, const char *name, const fs_object_t *obj)
{
    list_t *l = p;
    struct stat st;
    fill_stat(l->m, obj, &st);
    st.st_ino = version_ino(l->dir_hash, l->dir, name, obj);
    if (add_name(l, name, &st)) {
        l->err = -ENOMEM;
        return 1;
    }
    return 0;
}

static void list_free(list_t *l)
{
    if (!l)
        return;
    arena_free(l->arena);
    free(l->dir);
    free(l->names);
    free(l->st);
    free(l);
}

/* Makes l's listing: the view's, or .ismfs's two files. */
static int list_make(mount_t *m, list_t *l)
{
    fs_req_t req;
    fs_object_t o;
    int rc, in = internal(l->dir);
    struct stat dot = { .st_mode = S_IFDIR, .st_ino = l->ino }, dotdot = { .st_mode = S_IFDIR };

    l->dir_hash = dir_hash(l->dir);
    if (add_name(l, ".", &dot) || add_name(l, "..", &dotdot))
        return -ENOMEM;
    if (in != IN_NONE) {
        if (in != IN_DIR)
            return in < 0 ? in : -ENOTDIR;
        for (int i = IN_METRICS; i <= IN_HEALTH; i++)
            if (internal_stat(m, i, &o) == 0)
                add_entry(l, i == IN_METRICS ? "metrics" : "health", &o);
        return l->err;
    }
    if ((rc = fs_req_begin(&m->ctx, &req)) < 0)
        return rc;
    rc = fs_view_list(&req, l->dir, add_entry, l);
    fs_req_end(&req);
    return rc < 0 ? rc : l->err;
}

/*
 * The kernel keeps a listing read to its end in its page cache (cache_readdir) and
 * serves the next opendir from it when told to keep it (keep_cache): no request and no
 * entry parsed, as fast as a local directory. It keeps it only while the names and
 * attributes its dentries got from the last whole READDIRPLUS pass are valid (well inside
 * the TIMEOUT_S they were given for), so that a stat after a cached listing needs no LOOKUP;
 * else it lists anew, which refreshes them.
 */
static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    mount_t *m = fuse_req_userdata(req);
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        reply_err(req, m, -EROFS);
        return;
    }
    list_t *l = calloc(1, sizeof *l);
    int rc = l ? fs_nodes_path(m->nodes, ino, NULL, &l->dir) : -ENOMEM;
    if (rc < 0) {
        list_free(l);
        reply_err(req, m, rc);
        return;
    }
    l->m = m;
    l->ino = ino;
    int64_t listed = fs_nodes_listed(m->nodes, ino);
    fi->fh = (uint64_t)(uintptr_t)l;
    fi->cache_readdir = 1;
    fi->keep_cache = listed && now_ns() - listed < LIST_KEEP_NS;
    if (fuse_reply_open(req, fi) == -ENOENT)
        list_free(l);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    list_free((list_t *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

/* The size of an entry in a READDIR(PLUS) reply. */
static size_t entry_size(fuse_req_t req, const char *name, int plus)
{
    return plus ? fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0)
                : fuse_add_direntry(req, NULL, 0, name, NULL, 0);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, int plus)
{
    mount_t *m = fuse_req_userdata(req);
    list_t *l = (list_t *)(uintptr_t)fi->fh;
    if (!l->listed || off == 0) {       /* a rewinddir() lists anew */
        struct timespec t0 = fs_metrics_now();
        arena_free(l->arena);
        l->count = 0;                   /* its names went with the arena */
        if (!(l->arena = arena_new())) {
            l->listed = 0;
            reply_err(req, m, -ENOMEM);
            return;
        }
        l->err = 0;
        l->listed = 1;
        l->next_off = 0;
        l->in_order = 1;
        atomic_fetch_add_explicit(&m->ctx.metrics.listings, 1, memory_order_relaxed);
        l->err = list_make(m, l);
        l->started_ns = now_ns();       /* before the first entry reaches the kernel */
        log_request("readdir", l->dir, kernel_err(l->err), l->count, t0);
    }
    if (l->err < 0) {
        reply_err(req, m, l->err);
        return;
    }
    if (off != l->next_off)
        l->in_order = 0;
    size_t first = off < 0 ? 0 : (size_t)off, end = first, len = 0;
    for (; end < l->count; end++) {             /* what fits */
        size_t need = entry_size(req, l->names[end], plus);
        if (len + need > size)
            break;
        len += need;
    }
    /* every entry but . and .. gives the kernel a reference to a node */
    size_t from = first < 2 ? 2 : first, n = end > from ? end - from : 0;
    char *buf = malloc(len ? len : 1);
    uint64_t *inos = plus ? malloc((n ? n : 1) * sizeof *inos) : NULL;
    if (!buf || (plus && !inos)) {
        free(buf);
        free(inos);
        reply_err(req, m, -ENOMEM);
        return;
    }
    if (plus && n) {
        for (size_t i = 0; i < n; i++)
            inos[i] = (uint64_t)l->st[from + i].st_ino;
        fs_nodes_ref(m->nodes, ino, (const char *const *)&l->names[from], inos, n);
    }
    size_t pos = 0;
    for (size_t i = first; i < end; i++) {
        if (plus) {
            struct fuse_entry_param e = { .attr = l->st[i] };
            if (i >= 2 && (e.ino = inos[i - from]) != 0) {
                e.attr.st_ino = (ino_t)e.ino;
                e.attr_timeout = e.entry_timeout = TIMEOUT_S;
            }
            pos += fuse_add_direntry_plus(req, buf + pos, len - pos, l->names[i], &e,
                                          (off_t)i + 1);
        } else {
            pos += fuse_add_direntry(req, buf + pos, len - pos, l->names[i], &l->st[i],
                                     (off_t)i + 1);
        }
    }
    l->next_off = (off_t)end;
    /* the last reply of a whole pass in order with attributes: the kernel can keep it */
    if (plus && end == l->count && l->in_order)
        fs_nodes_set_listed(m->nodes, ino, l->started_ns);
    if (fuse_reply_buf(req, buf, pos) == -ENOENT && plus)
        for (size_t i = 0; i < n; i++)           /* interrupted: the kernel took none */
            if (inos[i])
                fs_nodes_forget(m->nodes, inos[i], 1);
    free(buf);
    free(inos);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, 0);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, 1);
}

/* Opens a .ismfs file: its rendering, read past the page cache (it changes). */
static int open_internal(mount_t *m, int in, struct fuse_file_info *fi)
{
    if (in < 0 || in == IN_DIR)
        return in < 0 ? in : -EISDIR;
    handle_t *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    int rc = snap_get(m, in, 2000, &h->snap);
    if (rc < 0) {
        free(h);
        return rc;
    }
    h->obj.size = h->snap->len;
    fi->direct_io = 1;
    handle_link(h);
    fi->fh = (uint64_t)(uintptr_t)h;
    return 0;
}

/* Opens the file at path, node ino: its plan in a handle. */
static int open_file(mount_t *m, fuse_ino_t ino, const char *path, struct fuse_file_info *fi)
{
    struct timespec t0 = fs_metrics_now();
    int rc, in = internal(path);
    if (in != IN_NONE) {
        if ((rc = open_internal(m, in, fi)) == 0) {
            fs_metrics_open(&m->ctx.metrics, FS_MK_INTERNAL, FS_MF_NONE, fs_metrics_since(t0));
            atomic_fetch_add_explicit(&m->ctx.metrics.open_files, 1, memory_order_relaxed);
        }
        return rc;
    }
    handle_t *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    if ((rc = fs_req_begin(&m->ctx, &h->req)) < 0) {
        free(h);
        return rc;
    }
    rc = fs_view_lookup(&h->req, path, FS_VIEW_CONTENT, &h->obj);
    if (rc == 0 && h->obj.is_dir)
        rc = -EISDIR;
    log_request("open", path, kernel_err(rc), rc == 0 ? h->obj.size : 0, t0);
    if (rc < 0) {
        fs_req_end(&h->req);
        free(h);
        return rc;
    }
    fs_req_unpin(&h->req);      /* an open file must not hold an LMDB reader slot */
    /* the node's number is the version its pages were read from: the kernel keeps them
     * when the version is still the one served (a changed source opens on new bytes) */
    fi->keep_cache = path_ino(path, &h->obj) == ino;
    fs_metrics_open(&m->ctx.metrics, h->obj.kind, h->obj.format, fs_metrics_since(t0));
    atomic_fetch_add_explicit(&m->ctx.metrics.open_files, 1, memory_order_relaxed);
    handle_link(h);
    fi->fh = (uint64_t)(uintptr_t)h;
    return 0;
}

/* Closes an open file's handle (release, or an open the kernel did not take). */
static void file_close(mount_t *m, struct fuse_file_info *fi)
{
    handle_close((handle_t *)(uintptr_t)fi->fh);
    atomic_fetch_sub_explicit(&m->ctx.metrics.open_files, 1, memory_order_relaxed);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    mount_t *m = fuse_req_userdata(req);
    char *path = NULL;
    int rc = -EROFS;
    if ((fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & (O_TRUNC | O_CREAT)) &&
        (rc = fs_nodes_path(m->nodes, ino, NULL, &path)) == 0)
        rc = open_file(m, ino, path, fi);
    free(path);
    if (rc < 0) {
        reply_err(req, m, rc);
    } else if (fuse_reply_open(req, fi) == -ENOENT) {
        file_close(m, fi);                                      /* interrupted */
    }
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    mount_t *m = fuse_req_userdata(req);
    (void)ino;
    file_close(m, fi);
    fuse_reply_err(req, 0);
}

/* Bytes [off, off + size) of a rendering into buf. */
static size_t snap_read(const snap_t *sn, char *buf, size_t size, off_t off)
{
    if ((uint64_t)off >= sn->len)
        return 0;
    size_t n = sn->len - (size_t)off < size ? sn->len - (size_t)off : size;
    memcpy(buf, sn->text + off, n);
    return n;
}

static void bufvec_free(struct fuse_bufvec *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++)
        if (!(v->buf[i].flags & FUSE_BUF_IS_FD))
            free(v->buf[i].mem);
    free(v);
}

/*
 * Zero-copy reads: box headers and generated bytes go as memory buffers; sample data goes
 * as (fd, offset) buffers that libfuse splices from the source file into the reply.
 */
static int read_vec(mount_t *m, handle_t *h, struct fuse_bufvec **bufp, size_t size, off_t off)
{
    const pk_plan_t *p = &h->obj.plan;
    uint64_t pos = 0, want = (uint64_t)off, end;

    if (off < 0)
        return -EINVAL;
    if (h->snap) {
        struct fuse_bufvec *v = calloc(1, sizeof *v);
        if (!v || !(v->buf[0].mem = malloc(size ? size : 1))) {
            free(v);
            return -ENOMEM;
        }
        v->count = 1;
        v->buf[0].size = snap_read(h->snap, v->buf[0].mem, size, off);
        *bufp = v;
        return 0;
    }
    end = want + size < p->size ? want + size : p->size;
    size_t n = 0;
    for (uint32_t i = 0; i < p->count; pos += p->pieces[i++].len)
        if (pos + p->pieces[i].len > want && pos < end)
            n++;
    struct fuse_bufvec *v = calloc(1, sizeof *v + (n ? n : 1) * sizeof(struct fuse_buf));
    if (!v)
        return -ENOMEM;
    v->count = 0;
    pos = 0;
    const pk_source_t *checked = NULL;
    for (uint32_t i = 0; i < p->count && want < end; pos += p->pieces[i++].len) {
        const pk_piece_t *pc = &p->pieces[i];
        if (pos + pc->len <= want)
            continue;
        uint64_t in = want - pos, len = pc->len - in < end - want ? pc->len - in : end - want;
        struct fuse_buf *b = &v->buf[v->count];
        int fd = pc->data ? -1 : fs_source_fd(pc->src);
        /* the kernel takes a short splice for the end of the file: a source truncated
         * or rewritten in place since the open must be an error before it is spliced.
         * Nothing is spliced before this returns, so one check a source covers every
         * range of it (a fragment has one range per run of samples: 30 or more) */
        if (fd >= 0 && pc->src != checked) {
            if (fs_source_check(pc->src) < 0)
                goto io;
            checked = pc->src;
        }
        if (fd >= 0) {
            b->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
            b->fd = fd;
            b->pos = (off_t)(pc->off + in);
        } else {
            b->mem = malloc(len ? len : 1);
            if (!b->mem) {
                bufvec_free(v);
                return -ENOMEM;
            }
            if (pc->data)
                memcpy(b->mem, pc->data + in, len);
            else if (pc->src->read(pc->src->ctx, b->mem, len, pc->off + in) < 0)
                goto io;
        }
        b->size = len;
        v->count++;
        want += len;
    }
    /* libfuse reads count buffers of the vector: one that is empty still needs one */
    if (v->count == 0) {
        v->count = 1;
        v->buf[0].mem = NULL;
        v->buf[0].size = 0;
    }
    *bufp = v;
    if (end > (uint64_t)off)
        atomic_fetch_add_explicit(&m->ctx.metrics.bytes, end - (uint64_t)off,
                                  memory_order_relaxed);
    return 0;
io:
    free(v->buf[v->count].mem);         /* the buffer being filled: not counted yet */
    bufvec_free(v);
    return -EIO;
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    mount_t *m = fuse_req_userdata(req);
    struct fuse_bufvec *v = NULL;
    (void)ino;
    int rc = read_vec(m, (handle_t *)(uintptr_t)fi->fh, &v, size, off);
    if (rc < 0)
        reply_err(req, m, rc);
    else
        fuse_reply_data(req, v, FUSE_BUF_SPLICE_MOVE);
    bufvec_free(v);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
    mount_t *m = fuse_req_userdata(req);
    struct statvfs sv;
    (void)ino;
    if (fstatvfs(m->ctx.src_fd, &sv) < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    sv.f_flag |= ST_RDONLY;
    fuse_reply_statfs(req, &sv);
}

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    mount_t *m = fuse_req_userdata(req);
    fs_object_t o;
    char *path = NULL;
    int rc = mask & W_OK ? -EROFS : fs_nodes_path(m->nodes, ino, NULL, &path);
    if (rc == 0)
        rc = resolve(m, path, &o);
    free(path);
    reply_err(req, m, rc);
}

/* Every change is refused the same way, whatever the kernel asks (the mount is also
 * read-only for the VFS, which refuses most of them before they come here). */
static void ro_setattr(fuse_req_t r, fuse_ino_t i, struct stat *a, int s, struct fuse_file_info *f)
{ (void)i, (void)a, (void)s, (void)f; fuse_reply_err(r, EROFS); }
static void ro_mknod(fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, dev_t d)
{ (void)p, (void)n, (void)m, (void)d; fuse_reply_err(r, EROFS); }
static void ro_mkdir(fuse_req_t r, fuse_ino_t p, const char *n, mode_t m)
{ (void)p, (void)n, (void)m; fuse_reply_err(r, EROFS); }
static void ro_unlink(fuse_req_t r, fuse_ino_t p, const char *n)
{ (void)p, (void)n; fuse_reply_err(r, EROFS); }
static void ro_symlink(fuse_req_t r, const char *l, fuse_ino_t p, const char *n)
{ (void)l, (void)p, (void)n; fuse_reply_err(r, EROFS); }
static void ro_rename(fuse_req_t r, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn,
                      unsigned f)
{ (void)p, (void)n, (void)np, (void)nn, (void)f; fuse_reply_err(r, EROFS); }
static void ro_link(fuse_req_t r, fuse_ino_t i, fuse_ino_t np, const char *nn)
{ (void)i, (void)np, (void)nn; fuse_reply_err(r, EROFS); }
static void ro_create(fuse_req_t r, fuse_ino_t p, const char *n, mode_t m,
                      struct fuse_file_info *f)
{ (void)p, (void)n, (void)m, (void)f; fuse_reply_err(r, EROFS); }
static void ro_write(fuse_req_t r, fuse_ino_t i, const char *b, size_t s, off_t o,
                     struct fuse_file_info *f)
{ (void)i, (void)b, (void)s, (void)o, (void)f; fuse_reply_err(r, EROFS); }
static void ro_setxattr(fuse_req_t r, fuse_ino_t i, const char *n, const char *v, size_t s,
                        int f)
{ (void)i, (void)n, (void)v, (void)s, (void)f; fuse_reply_err(r, EROFS); }
static void ro_removexattr(fuse_req_t r, fuse_ino_t i, const char *n)
{ (void)i, (void)n; fuse_reply_err(r, EROFS); }

static const struct fuse_lowlevel_ops ops = {
    .init = ll_init,
    .destroy = ll_destroy,
    .lookup = ll_lookup,
    .forget = ll_forget,
    .forget_multi = ll_forget_multi,
    .getattr = ll_getattr,
    .opendir = ll_opendir,
    .readdir = ll_readdir,
    .readdirplus = ll_readdirplus,
    .releasedir = ll_releasedir,
    .open = ll_open,
    .read = ll_read,
    .release = ll_release,
    .statfs = ll_statfs,
    .access = ll_access,
    .setattr = ro_setattr,
    .mknod = ro_mknod,
    .mkdir = ro_mkdir,
    .unlink = ro_unlink,
    .rmdir = ro_unlink,
    .symlink = ro_symlink,
    .rename = ro_rename,
    .link = ro_link,
    .create = ro_create,
    .write = ro_write,
    .setxattr = ro_setxattr,
    .removexattr = ro_removexattr,
};

/* ---- command line --------------------------------------------------------- */

struct mount_cli {
    char *src;
    char *cache, *cache_size, *fragment, *account_filters, *keys, *playready_la_url;
    char *key_uri;
    char *log;
    int allow_clear;
};

#define CLI_OPT(t, p) { t, offsetof(struct mount_cli, p), 1 }
static const struct fuse_opt cli_opts[] = {
    CLI_OPT("cache=%s", cache),
    CLI_OPT("cache_size=%s", cache_size),
    CLI_OPT("fragment=%s", fragment),
    CLI_OPT("account_filters=%s", account_filters),
    CLI_OPT("keys=%s", keys),
    CLI_OPT("playready_la_url=%s", playready_la_url),
    CLI_OPT("key_uri=%s", key_uri),
    CLI_OPT("log=%s", log),
    CLI_OPT("allow_clear", allow_clear),
    FUSE_OPT_END
};

static int take_src(void *data, const char *arg, int key, struct fuse_args *out)
{
    struct mount_cli *c = data;
    (void)out;
    if (key == FUSE_OPT_KEY_NONOPT && !c->src) {
        c->src = strdup(arg);
        return 0;               /* consumed: the next one is the mountpoint */
    }
    return 1;
}

static void syslog_sink(int level, const char *func, const char *msg, void *ctx)
{
    static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
    (void)func, (void)ctx;
    syslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s", msg);
}

static void mount_usage(void)
{
    printf("usage: ismfs SRC MNT [-f] [-d] [-o OPTION[,OPTION...]]\n"
           "\n"
           "Mounts the storage tree SRC read-only at MNT; every NAME.ism server manifest\n"
           "becomes a directory of DASH, HLS and Smooth manifests and segments.\n"
           "\n"
           "ismfs options (-o):\n"
           "    cache=DIR          LMDB cache directory (default /var/cache/ismfs for root,\n"
           "                       else $XDG_CACHE_HOME/ismfs)\n"
           "    cache_size=SIZE    bytes the cache may use (default 1G)\n"
           "    fragment=SECONDS   target fragment duration (default 2)\n"
           "    account_filters=FILE  AMS account filters (JSON), for filter= names that\n"
           "                       NAME.filters.json beside NAME.ism does not define\n"
           "    keys=DIR           CPIX documents: DIR/PATH/NAME.cpix.xml protects\n"
           "                       SRC/PATH/NAME.ism (DIR must lie outside SRC)\n"
           "    allow_clear        also serve the clear outputs of protected assets\n"
           "    playready_la_url=URL  LA_URL of the PlayReady headers ismfs builds\n"
           "    key_uri=TEMPLATE   HLS AES-128 key URL ({kid}: the KID as a UUID), for keys\n"
           "                       whose CPIX names no URI\n"
           "    log=WHERE          stderr, syslog, or a file appended to (SIGHUP reopens it);\n"
           "                       default: stderr with -f, else syslog\n"
           "\n");
}

int fs_mount_main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts co = { 0 };
    struct mount_cli cli = { 0 };
    mount_t m = { .opt = { .cache_size = 1ull << 30, .fragment_ms = 2000 } };
    struct fuse_session *se = NULL;
    int status = 1;

    if (fuse_opt_parse(&args, &cli, cli_opts, take_src) < 0 ||
        fuse_opt_add_arg(&args, "-oro,default_permissions,subtype=ismfs,fsname=ismfs") < 0 ||
        fuse_parse_cmdline(&args, &co) < 0)
        goto out;
    if (co.show_help) {
        mount_usage();
        printf("FUSE options:\n");
        fuse_cmdline_help();
        fuse_lowlevel_help();
        status = 0;
        goto out;
    }
    if (co.show_version) {
        printf("ismfs %s, libfuse %s\n", ISMFS_VERSION, fuse_pkgversion());
        status = 0;
        goto out;
    }
    if (!cli.src || !co.mountpoint) {
        fprintf(stderr, "usage: ismfs SRC MNT [-f] [-d] [-o OPTIONS]  (see ismfs --help)\n");
        status = 2;
        goto out;
    }
    /* the daemon runs from /, so SRC must be absolute */
    if (!(m.src = realpath(cli.src, NULL))) {
        fprintf(stderr, "ismfs: %s: %s\n", cli.src, strerror(errno));
        goto out;
    }
    struct stat st;
    if (stat(m.src, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ismfs: %s: not a directory\n", cli.src);
        goto out;
    }
    if ((cli.cache_size && fs_parse_size(cli.cache_size, &m.opt.cache_size) < 0) ||
        (cli.fragment && fs_parse_fragment(cli.fragment, &m.opt.fragment_ms) < 0)) {
        fprintf(stderr, "ismfs: bad cache_size= or fragment= (e.g. cache_size=2G, "
                        "fragment=2)\n");
        status = 2;
        goto out;
    }
    /* the daemon runs from /: the account filters' path is made absolute here */
    if (cli.account_filters &&
        (!(m.opt.account_filters = realpath(cli.account_filters, NULL)) ||
         stat(m.opt.account_filters, &st) < 0 || !S_ISREG(st.st_mode))) {
        fprintf(stderr, "ismfs: account_filters=%s: %s\n", cli.account_filters,
                m.opt.account_filters ? "not a regular file" : strerror(errno));
        status = 2;
        goto out;
    }
    /* the daemon runs from /: keys= is made absolute here, and must not be in SRC */
    if (cli.keys) {
        int rc = fs_keys_dir(cli.keys, m.src, &m.opt.keys_dir);
        if (rc < 0) {
            fprintf(stderr, "ismfs: keys=%s: %s\n", cli.keys,
                    rc == -EINVAL ? "inside SRC (key files would be listed): put them elsewhere"
                                  : strerror(-rc));
            status = 2;
            goto out;
        }
    }
    m.opt.allow_clear = cli.allow_clear;
    m.opt.playready_la_url = cli.playready_la_url;
    if (cli.key_uri && fs_keys_uri_check(cli.key_uri) < 0) {
        fprintf(stderr, "ismfs: key_uri=%s: not a URI (no blanks, quotes or control "
                        "characters)\n", cli.key_uri);
        status = 2;
        goto out;
    }
    m.opt.key_uri = cli.key_uri;
    m.opt.cache_dir = cli.cache ? strdup(cli.cache) : fs_default_cache_dir();
    m.uid = getuid();
    m.gid = getgid();
    if (co.debug)
        pk_log_level = PK_LOG_DEBUG;
    /* before daemonizing: a file that cannot be opened is said on the terminal */
    if (cli.log) {
        int rc = fs_log_open(cli.log);
        if (rc < 0) {
            fprintf(stderr, "ismfs: log=%s: %s\n", cli.log, strerror(-rc));
            status = 2;
            goto out;
        }
    }
    if (fs_nodes_new(&m.nodes) < 0 || !(se = fuse_session_new(&args, &ops, sizeof ops, &m)))
        goto out;
    m.se = se;
    if (fuse_session_mount(se, co.mountpoint) < 0)
        goto out;
    if (fuse_daemonize(co.foreground) < 0) {
        fuse_session_unmount(se);
        goto out;
    }
    if (!co.foreground && !cli.log) {
        openlog("ismfs", LOG_PID, LOG_DAEMON);
        pk_log_set_sink(syslog_sink, NULL);
    }
    if (fuse_set_signal_handlers(se) < 0) {
        fuse_session_unmount(se);
        goto out;
    }
    int rc;
    if (co.singlethread) {
        rc = fuse_session_loop(se);
    } else {
        struct fuse_loop_config *lc = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(lc, co.clone_fd);
        fuse_loop_cfg_set_max_threads(lc, co.max_threads);
        rc = fuse_session_loop_mt(se, lc);
        fuse_loop_cfg_destroy(lc);
    }
    fuse_remove_signal_handlers(se);
    fuse_session_unmount(se);
    /* the loop returns the number of the signal that ended it: a clean stop */
    status = rc < 0 ? 1 : 0;
out:
    if (se)
        fuse_session_destroy(se);       /* runs ll_destroy: closes the cache */
    fs_nodes_free(m.nodes);
    fuse_opt_free_args(&args);
    free(co.mountpoint);
    free(cli.src);
    free(cli.cache);
    free(cli.cache_size);
    free(cli.fragment);
    free(cli.account_filters);
    free(cli.keys);
    free(cli.playready_la_url);
    free(cli.key_uri);
    free(cli.log);
    free(m.opt.account_filters);
    free(m.opt.keys_dir);
    free(m.opt.cache_dir);
    free(m.src);
    return status;
}
