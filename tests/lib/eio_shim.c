/*
 * An LD_PRELOAD shim for the fault tests (tests/integration/fault_sources.sh): makes the
 * reads of chosen files fail with EIO, like a disk with a bad sector would, while the
 * program (ismfs) runs unchanged.
 *
 *   EIO_SHIM_MATCH  a substring: a file whose path (/proc/self/fd/N) contains it fails
 *   EIO_SHIM_FLAG   a path: the shim fails reads only while this file exists, so a test
 *                   can turn the fault on and off on a running daemon
 *
 * Interposed: read, pread, pread64, readv, preadv, preadv64, splice (the fd being read
 * from), copy_file_range, sendfile. Each returns -1 with errno EIO, and counts the fault in
 * EIO_SHIM_FLAG's neighbour "<flag>.hits" (one byte appended per failed call) so the test
 * knows the fault was really reached. Build: gcc -shared -fPIC -o eio_shim.so eio_shim.c -ldl
 *
 * Under ASan the runtime must come first in the preload list, or be told not to check:
 * ASAN_OPTIONS=verify_asan_link_order=0 (the test sets it).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int hit(int fd)
{
    const char *match = getenv("EIO_SHIM_MATCH"), *flag = getenv("EIO_SHIM_FLAG");
    char link[64], path[4096];
    if (!match || !*match || fd < 0 || (flag && access(flag, F_OK) != 0))
        return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    if (!strstr(path, match))
        return 0;
    if (flag) {
        char hits[4200];
        snprintf(hits, sizeof hits, "%s.hits", flag);
        int h = open(hits, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (h >= 0) {
            (void)!write(h, "x", 1);
            close(h);
        }
    }
    errno = EIO;
    return 1;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t read(int fd, void *buf, size_t n)
{
    return hit(fd) ? -1 : NEXT(read)(fd, buf, n);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    return hit(fd) ? -1 : NEXT(pread)(fd, buf, n, off);
}

ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
    return hit(fd) ? -1 : NEXT(pread64)(fd, buf, n, off);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    return hit(fd) ? -1 : NEXT(readv)(fd, iov, cnt);
}

ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return hit(fd) ? -1 : NEXT(preadv)(fd, iov, cnt, off);
}

ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    return hit(fd) ? -1 : NEXT(preadv64)(fd, iov, cnt, off);
}

ssize_t splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t len, unsigned flags)
{
    return hit(in) ? -1 : NEXT(splice)(in, in_off, out, out_off, len, flags);
}

ssize_t copy_file_range(int in, loff_t *in_off, int out, loff_t *out_off, size_t len,
                        unsigned flags)
{
    return hit(in) ? -1 : NEXT(copy_file_range)(in, in_off, out, out_off, len, flags);
}

ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    return hit(in) ? -1 : NEXT(sendfile)(out, in, off, n);
}
