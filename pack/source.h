/*
 * How pack/ reads media: through this interface only (no file I/O in pack/).
 * fs/ backs it with pread() on an fd; tests back it with memory.
 */
#ifndef PK_SOURCE_H
#define PK_SOURCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pk_source {
    /* Reads exactly len bytes at off into buf. Returns 0, -EBADMSG when the range
     * passes the end of the source, or another negative errno (-EIO). */
    int (*read)(void *ctx, void *buf, size_t len, uint64_t off);
    void *ctx;
    uint64_t size;              /* bytes in the source */
    const char *name;           /* for log lines: the path as the user knows it */
} pk_source_t;

/* A source over memory (tests, fuzzers): `ctx` must point at a pk_mem_t that outlives it. */
typedef struct {
    const uint8_t *data;
    size_t len;
} pk_mem_t;

pk_source_t pk_source_mem(pk_mem_t *mem, const char *name);

#endif
