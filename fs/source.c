#include "source.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../pack/log.h"

struct fd_source {
    int fd;
    struct stat st;             /* at open: the identity this source is read as */
    const char *name;           /* its path below SRC (the request's arena), for the log */
    _Atomic(char *) canon;      /* fs_source_canon(): its real path below SRC, or NULL */
};

/*
 * A failing disk or a file rewritten under a busy origin fails every read of it: one line
 * a second says so, with the count of those not logged, instead of one per request.
 */
static void log_fault(const struct fd_source *s, uint64_t off, const char *why)
{
    static _Atomic int64_t last_s = INT64_MIN / 2;
    static atomic_uint held;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t was = atomic_load(&last_s);
    if (now.tv_sec - was < 1 || !atomic_compare_exchange_strong(&last_s, &was, now.tv_sec)) {
        atomic_fetch_add(&held, 1);
        return;
    }
    unsigned n = atomic_exchange(&held, 0);
    if (n)
        PK_ERROR("%s: read at %llu: %s (and %u more source read errors in the last second)",
                 s->name, (unsigned long long)off, why, n);
    else
        PK_ERROR("%s: read at %llu: %s", s->name, (unsigned long long)off, why);
}

/* 0 while the file has the size and mtime it was opened with, else -EIO (logged). */
static int check_same(const struct fd_source *s, uint64_t off)
{
    struct stat now;
    if (fstat(s->fd, &now) < 0) {
        int rc = -errno;
        log_fault(s, off, strerror(errno));
        return rc;
    }
    if (now.st_size == s->st.st_size && now.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
        now.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec)
        return 0;
    log_fault(s, off, "the file changed while open (rewritten or truncated in place): "
                      "not served");
    return -EIO;
}

/* The innermost deferred scope of this thread (fs/source.h fs_source_defer_begin), or NULL:
 * per thread, as sources are shared by the requests on other threads (the asset cache). */
static _Thread_local fs_source_defer_t *deferring;

/* Notes a read of s at off in this thread's scope: 1 when its check waits for the end of
 * the scope, 0 when it must be checked now (no scope, or one full of other sources). */
static int defer(const struct fd_source *s, uint64_t off)
{
    fs_source_defer_t *d = deferring;
    if (!d)
        return 0;
    for (unsigned i = 0; i < d->count; i++) {
        if (d->read[i] == s) {
            d->last[i] = off;
            return 1;
        }
    }
    if (d->count == FS_SOURCE_DEFER_MAX)
        return 0;
    d->last[d->count] = off;
    d->read[d->count++] = s;
    return 1;
}

/* Exactly len bytes at off: 0, a negative errno (logged), -EBADMSG for a file shorter than
 * its boxes say, or -EIO when it is shorter because it changed (checked at once: the
 * caller's error then names the real cause). */
static int read_all(const struct fd_source *s, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(s->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int rc = -errno;
            log_fault(s, off + done, strerror(errno));
            return rc == -EBADMSG ? -EIO : rc;
        }
        if (n == 0)
            return check_same(s, off + done) < 0 ? -EIO
                                                 : -EBADMSG;   /* shorter than its boxes say */
        done += (size_t)n;
    }
    return 0;
}

/*
 * The bytes are checked after they are read: a write or truncation during the pread changes
 * the mtime or size, so bytes of two versions are never passed on as one (DESIGN §2: no
 * stale byte). In a deferred scope the check waits for its end (fs_source_defer_end), which
 * is as strong (fs/source.h). A file replaced by rename keeps its old inode open here: that
 * version is read whole, as it should be.
 */
static int fd_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    const struct fd_source *s = ctx;
    int rc = read_all(s, buf, len, off);
    if (rc < 0 || defer(s, off))
        return rc;
    return check_same(s, off);
}

void fs_source_defer_begin(fs_source_defer_t *d)
{
    d->outer = deferring;
    d->count = 0;
    deferring = d;
}

int fs_source_defer_end(fs_source_defer_t *d, int rc)
{
    assert(deferring == d);     /* scopes pair on one thread, innermost first */
    deferring = d->outer;
    for (unsigned i = 0; i < d->count; i++) {
        int c = check_same(d->read[i], d->last[i]);
        if (c < 0)
            return c;
    }
    return rc;
}

int fs_source_check(const pk_source_t *src)
{
    return src->read == fd_read ? check_same(src->ctx, 0) : 0;
}

static void close_fd(void *p)
{
    struct fd_source *s = p;
    close(s->fd);
    free(atomic_load(&s->canon));
}

int fs_source_stat(const pk_source_t *src, struct stat *st)
{
    if (src->read != fd_read)
        return -ENOENT;
    *st = ((const struct fd_source *)src->ctx)->st;
    return 0;
}

const char *fs_source_canon(const pk_source_t *src, const char *canon)
{
    if (src->read != fd_read)
        return NULL;
    struct fd_source *s = src->ctx;
    char *have = atomic_load(&s->canon), *mine;
    if (have || !canon || !(mine = strdup(canon)))
        return have;
    if (atomic_compare_exchange_strong(&s->canon, &have, mine))
        return mine;
    free(mine);                 /* another thread was first: same path */
    return have;
}

int fs_source_fd(const pk_source_t *src)
{
    return src->read == fd_read ? ((const struct fd_source *)src->ctx)->fd : -1;
}

int fs_open_beneath(int dirfd, const char *rel, int flags)
{
    /* O_PATH takes no other flags than these (openat2(2): EINVAL otherwise) */
    if (flags & O_PATH)
        flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW;
    else
        flags |= O_NOCTTY;
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    if (!*rel || rel[0] == '/')
        return -ENOENT;
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd >= 0)
        return (int)fd;
    if (errno != ENOSYS)
        return -errno;
    /* kernels before 5.6: no "..", no symlink at the last component */
    for (const char *p = rel; (p = strstr(p, "..")); p += 2)
        if ((p == rel || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return -EXDEV;
    fd = openat(dirfd, rel, flags | O_CLOEXEC | O_NOFOLLOW);
    return fd >= 0 ? (int)fd : -errno;
}

int fs_stat_beneath(int dirfd, const char *rel, struct stat *st)
{
    if (!*rel)
        return fstat(dirfd, st) < 0 ? -errno : 0;
    int fd = fs_open_beneath(dirfd, rel, O_PATH);
    if (fd < 0)
        return fd;
    int rc = fstat(fd, st) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int fs_source_open(fs_req_t *req, const char *rel, pk_source_t *src, struct stat *st)
{
    struct fd_source *s = arena_alloc(req->arena, sizeof *s);
    char *name = arena_strdup(req->arena, rel);
    if (!s || !name)
        return -ENOMEM;
    int fd = fs_open_beneath(req->ctx->src_fd, rel, O_RDONLY);
    if (fd < 0)
        return fd;
    s->fd = fd;
    if (arena_defer(req->arena, close_fd, s) < 0) {
        close(fd);
        return -ENOMEM;
    }
    if (fstat(fd, st) < 0)
        return -errno;
    s->st = *st;
    s->name = name;
    atomic_init(&s->canon, NULL);
    if (st->st_mtim.tv_sec > req->newest.tv_sec ||
        (st->st_mtim.tv_sec == req->newest.tv_sec && st->st_mtim.tv_nsec > req->newest.tv_nsec))
        req->newest = st->st_mtim;
    if (S_ISDIR(st->st_mode))
        return -EISDIR;
    if (!S_ISREG(st->st_mode))
        return -ENOENT;
    *src = (pk_source_t){ fd_read, s, (uint64_t)st->st_size, name };
    return 0;
}

int fs_read_small(fs_req_t *req, const char *rel, size_t max, char **data, size_t *len,
                  struct stat *st)
{
    pk_source_t src;
    int rc = fs_source_open(req, rel, &src, st);
    if (rc < 0)
        return rc;
    if (src.size > max) {
        PK_ERROR("%s: %llu bytes, more than the %zu allowed", rel,
                 (unsigned long long)src.size, max);
        return -EFBIG;
    }
    char *buf = arena_alloc(req->arena, (size_t)src.size + 1);
    if (!buf)
        return -ENOMEM;
    /* checked now, in a deferred scope too: what is read here is parsed and kept (the
     * asset, filter and key caches) */
    if ((rc = read_all(src.ctx, buf, (size_t)src.size, 0)) < 0 ||
        (rc = check_same(src.ctx, 0)) < 0)
        return rc;
    buf[src.size] = '\0';
    *data = buf;
    *len = (size_t)src.size;
    return 0;
}

ssize_t fs_source_plan_read(const pk_plan_t *p, uint64_t off, void *buf, size_t len)
{
    fs_source_defer_t d;
    fs_source_defer_begin(&d);
    ssize_t n = pk_plan_read(p, off, buf, len);
    int rc = fs_source_defer_end(&d, n < 0 ? (int)n : 0);
    return rc < 0 ? rc : n;
}
