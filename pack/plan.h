/*
 * A plan: how to produce the bytes of one virtual file without holding them,
 * as pieces in order: bytes in memory (box headers, generated text) or ranges
 * of a source file (sample data, spliced straight from the file).
 */
#ifndef PK_PLAN_H
#define PK_PLAN_H

#include <sys/types.h>

#include "arena.h"
#include "source.h"

typedef struct {
    const uint8_t *data;        /* bytes in memory, or NULL for a source range */
    const pk_source_t *src;     /* the file of a range (data == NULL) */
    uint64_t off;               /* range: offset in src */
    uint64_t len;               /* bytes of the piece, > 0 */
} pk_piece_t;

typedef struct {
    uint32_t count, cap;
    pk_piece_t *pieces;         /* [count], in the arena */
    uint64_t size;              /* total bytes: the file's size */
} pk_plan_t;

/* An empty plan with room for `cap` pieces (it grows when needed). 0 or -ENOMEM. */
int pk_plan_init(pk_plan_t *p, arena_t *a, uint32_t cap);

/* Appends bytes that live at least as long as the plan (not copied). 0 or -ENOMEM. */
int pk_plan_bytes(pk_plan_t *p, arena_t *a, const uint8_t *data, uint64_t len);

/* Appends a range of src; merged with the previous piece when it continues it. 0 or -ENOMEM. */
int pk_plan_range(pk_plan_t *p, arena_t *a, const pk_source_t *src, uint64_t off, uint64_t len);

/* Copies bytes [off, off + len) of the planned file into buf, reading sources.
 * Returns the bytes copied (less than len only at the end of the file) or a
 * negative errno from a source (-EBADMSG when a source is shorter than planned). */
ssize_t pk_plan_read(const pk_plan_t *p, uint64_t off, void *buf, size_t len);

#endif
