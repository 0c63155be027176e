/*
 * An LD_PRELOAD shim for tests/integration/fault_sources.sh: rewrites a source file in place
 * while ismfs is in the middle of reading it, at a read the test chooses, so that one segment
 * is generated from bytes of two versions. That is the window of fs/source.h's deferred
 * checks (one check per source at the end of a generated object, not one per read), hit
 * every time instead of by chance.
 *
 *   REWRITE_SHIM_MATCH  a substring: preads of a file whose path (/proc/self/fd/N) contains
 *                       it are counted
 *   REWRITE_SHIM_FLAG   a path: the shim is armed while this file exists. It holds
 *                       "N OFF LEN": just before the N-th counted pread (from 1) after the
 *                       flag appeared, bytes [OFF, OFF + LEN) of the file are XORed with
 *                       0x5a in place (same inode and size; the write gives a new mtime),
 *                       the flag is removed and "<flag>.done" written (holding N), so the
 *                       test knows the rewrite happened between two reads.
 *
 * Interposed: pread, pread64 (fs/source.c reads with pread only). Build:
 * gcc -shared -fPIC -o rewrite_shim.so rewrite_shim.c -ldl. Under ASan, as eio_shim.c:
 * ASAN_OPTIONS=verify_asan_link_order=0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned counted;        /* matching preads since the flag appeared (under lock) */

/* The XOR of [off, off + len) of path, in place, through its own fd (the daemon's is
 * read-only). */
static void rewrite(const char *path, long long off, long long len)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    char buf[65536];
    if (fd < 0)
        return;
    while (len > 0) {
        size_t n = len < (long long)sizeof buf ? (size_t)len : sizeof buf;
        ssize_t got = NEXT(pread)(fd, buf, n, (off_t)off);
        if (got <= 0)
            break;
        for (ssize_t i = 0; i < got; i++)
            buf[i] ^= 0x5a;
        if (pwrite(fd, buf, (size_t)got, (off_t)off) != got)
            break;
        off += got;
        len -= got;
    }
    fsync(fd);
    close(fd);
}

static void maybe_rewrite(int fd)
{
    const char *match = getenv("REWRITE_SHIM_MATCH"), *flag = getenv("REWRITE_SHIM_FLAG");
    char link[64], path[4096], done[4200];
    unsigned n;
    long long off, len;

    if (!match || !*match || !flag || fd < 0 || access(flag, F_OK) != 0)
        return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t k = readlink(link, path, sizeof path - 1);
    if (k <= 0)
        return;
    path[k] = '\0';
    if (!strstr(path, match))
        return;
    pthread_mutex_lock(&lock);
    FILE *f = fopen(flag, "r");
    if (f && fscanf(f, "%u %lld %lld", &n, &off, &len) == 3 && ++counted >= n) {
        rewrite(path, off, len);
        unlink(flag);
        snprintf(done, sizeof done, "%s.done", flag);
        FILE *d = fopen(done, "w");
        if (d) {
            fprintf(d, "%u\n", counted);
            fclose(d);
        }
        counted = 0;
    }
    if (f)
        fclose(f);
    pthread_mutex_unlock(&lock);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    maybe_rewrite(fd);
    return NEXT(pread)(fd, buf, n, off);
}

ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
    maybe_rewrite(fd);
    return NEXT(pread64)(fd, buf, n, off);
}
