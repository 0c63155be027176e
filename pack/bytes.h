/*
 * Bounds-checked byte readers and size-first box writers, shared by every
 * piece of box code in ismfs.
 *
 * rd_t: a cursor over [p, end). A getter that would pass `end` sets
 * err = -EBADMSG, parks p at end and returns 0, so a box can be read through
 * and checked once at the end ("sticky error").
 *
 * wr_t: with buf == NULL the wr_ calls only advance pos (count mode, used to
 * compute sizes for getattr); with a buffer they write and set err = -ENOSPC
 * instead of passing cap.
 */
#ifndef PK_BYTES_H
#define PK_BYTES_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FOURCC(a, b, c, d) \
    ((uint32_t)(uint8_t)(a) << 24 | (uint32_t)(uint8_t)(b) << 16 | \
     (uint32_t)(uint8_t)(c) << 8 | (uint32_t)(uint8_t)(d))

/* Writes the four characters of `fcc` into out[0..4] (NUL-terminated); returns out.
 * Non-printable bytes show as '.', so the result is always safe to log. */
static inline char *fourcc_str(uint32_t fcc, char out[5])
{
    for (int i = 0; i < 4; i++) {
        uint8_t c = (uint8_t)(fcc >> (24 - 8 * i));
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
    }
    out[4] = '\0';
    return out;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
    int err;                    /* 0 or -EBADMSG, sticky */
} rd_t;

static inline rd_t rd_init(const void *buf, size_t len)
{
    const uint8_t *b = buf;
    return (rd_t){ b, b + len, 0 };
}

static inline size_t rd_left(const rd_t *r) { return (size_t)(r->end - r->p); }

static inline int rd_fail(rd_t *r)
{
    r->err = -EBADMSG;
    r->p = r->end;
    return 0;
}

static inline uint8_t rd_u8(rd_t *r)
{
    if (rd_left(r) < 1)
        return (uint8_t)rd_fail(r);
    return *r->p++;
}

static inline uint16_t rd_u16(rd_t *r)
{
    if (rd_left(r) < 2)
        return (uint16_t)rd_fail(r);
    r->p += 2;
    return (uint16_t)(r->p[-2] << 8 | r->p[-1]);
}

static inline uint32_t rd_u24(rd_t *r)
{
    if (rd_left(r) < 3)
        return (uint32_t)rd_fail(r);
    r->p += 3;
    return (uint32_t)r->p[-3] << 16 | (uint32_t)r->p[-2] << 8 | r->p[-1];
}

static inline uint32_t rd_u32(rd_t *r)
{
    if (rd_left(r) < 4)
        return (uint32_t)rd_fail(r);
    r->p += 4;
    return (uint32_t)r->p[-4] << 24 | (uint32_t)r->p[-3] << 16 |
           (uint32_t)r->p[-2] << 8 | r->p[-1];
}

static inline uint64_t rd_u64(rd_t *r)
{
    uint64_t hi = rd_u32(r);
    return hi << 32 | rd_u32(r);
}

static inline void rd_skip(rd_t *r, size_t n)
{
    if (rd_left(r) < n)
        rd_fail(r);
    else
        r->p += n;
}

/* Copies n bytes to out; on underflow out is zero-filled. */
static inline void rd_bytes(rd_t *r, void *out, size_t n)
{
    if (rd_left(r) < n) {
        memset(out, 0, n);
        rd_fail(r);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

/* A sub-reader over the next n bytes; the parent skips past them. */
static inline rd_t rd_sub(rd_t *r, size_t n)
{
    if (rd_left(r) < n) {
        rd_fail(r);
        return (rd_t){ r->end, r->end, -EBADMSG };
    }
    rd_t s = { r->p, r->p + n, 0 };
    r->p += n;
    return s;
}

/* ---- writing ---------------------------------------------------------- */

typedef struct {
    uint8_t *buf;               /* NULL: count only */
    size_t pos, cap;
    int err;                    /* 0 or -ENOSPC, sticky */
} wr_t;

static inline wr_t wr_init(void *buf, size_t cap) { return (wr_t){ buf, 0, cap, 0 }; }
static inline wr_t wr_counter(void) { return (wr_t){ NULL, 0, 0, 0 }; }

/* Reserves n bytes; returns where to write them, or NULL in count mode or on overflow. */
static inline uint8_t *wr_reserve(wr_t *w, size_t n)
{
    if (!w->buf) {
        w->pos += n;
        return NULL;
    }
    if (w->err || w->cap - w->pos < n) {
        w->err = -ENOSPC;
        return NULL;
    }
    uint8_t *p = w->buf + w->pos;
    w->pos += n;
    return p;
}

static inline void wr_u8(wr_t *w, uint8_t v)
{
    uint8_t *p = wr_reserve(w, 1);
    if (p)
        p[0] = v;
}

static inline void wr_u16(wr_t *w, uint16_t v)
{
    uint8_t *p = wr_reserve(w, 2);
    if (p) {
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
    }
}

static inline void wr_u24(wr_t *w, uint32_t v)
{
    uint8_t *p = wr_reserve(w, 3);
    if (p) {
        p[0] = (uint8_t)(v >> 16);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
    }
}

static inline void wr_u32(wr_t *w, uint32_t v)
{
    uint8_t *p = wr_reserve(w, 4);
    if (p) {
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
    }
}

static inline void wr_u64(wr_t *w, uint64_t v)
{
    wr_u32(w, (uint32_t)(v >> 32));
    wr_u32(w, (uint32_t)v);
}

static inline void wr_bytes(wr_t *w, const void *src, size_t n)
{
    uint8_t *p = wr_reserve(w, n);
    if (p && n)
        memcpy(p, src, n);
}

static inline void wr_zeros(wr_t *w, size_t n)
{
    uint8_t *p = wr_reserve(w, n);
    if (p && n)
        memset(p, 0, n);
}

/* Writes a 32-bit size placeholder and the box type; returns the box start for box_close(). */
static inline size_t box_open(wr_t *w, uint32_t type)
{
    size_t start = w->pos;
    wr_u32(w, 0);
    wr_u32(w, type);
    return start;
}

/* Full box: box_open plus version and 24-bit flags. */
static inline size_t box_open_full(wr_t *w, uint32_t type, uint8_t version, uint32_t flags)
{
    size_t start = box_open(w, type);
    wr_u8(w, version);
    wr_u24(w, flags);
    return start;
}

/* Patches the size of the box that starts at `start` to w->pos - start. */
static inline void box_close(wr_t *w, size_t start)
{
    if (w->buf && !w->err && start + 4 <= w->cap) {
        uint32_t n = (uint32_t)(w->pos - start);
        uint8_t *p = w->buf + start;
        p[0] = (uint8_t)(n >> 24);
        p[1] = (uint8_t)(n >> 16);
        p[2] = (uint8_t)(n >> 8);
        p[3] = (uint8_t)n;
    }
}

#endif
