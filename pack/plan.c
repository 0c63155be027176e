#include "plan.h"

#include <errno.h>
#include <string.h>

int pk_plan_init(pk_plan_t *p, arena_t *a, uint32_t cap)
{
    p->count = 0;
    p->size = 0;
    p->cap = cap ? cap : 4;
    p->pieces = arena_alloc(a, (size_t)p->cap * sizeof *p->pieces);
    return p->pieces ? 0 : -ENOMEM;
}

static pk_piece_t *append(pk_plan_t *p, arena_t *a)
{
    if (p->count == p->cap) {
        pk_piece_t *n = arena_alloc(a, (size_t)p->cap * 2 * sizeof *n);
        if (!n)
            return NULL;
        memcpy(n, p->pieces, (size_t)p->count * sizeof *n);
        p->pieces = n;
        p->cap *= 2;
    }
    return &p->pieces[p->count++];
}

int pk_plan_bytes(pk_plan_t *p, arena_t *a, const uint8_t *data, uint64_t len)
{
    if (!len)
        return 0;
    pk_piece_t *pc = append(p, a);
    if (!pc)
        return -ENOMEM;
    *pc = (pk_piece_t){ data, NULL, 0, len };
    p->size += len;
    return 0;
}

int pk_plan_range(pk_plan_t *p, arena_t *a, const pk_source_t *src, uint64_t off, uint64_t len)
{
    if (!len)
        return 0;
    pk_piece_t *last = p->count ? &p->pieces[p->count - 1] : NULL;
    if (last && !last->data && last->src == src && last->off + last->len == off) {
        last->len += len;
    } else {
        pk_piece_t *pc = append(p, a);
        if (!pc)
            return -ENOMEM;
        *pc = (pk_piece_t){ NULL, src, off, len };
    }
    p->size += len;
    return 0;
}

ssize_t pk_plan_read(const pk_plan_t *p, uint64_t off, void *buf, size_t len)
{
    uint8_t *out = buf;
    size_t done = 0;
    uint64_t pos = 0;

    for (uint32_t i = 0; i < p->count && done < len; i++) {
        const pk_piece_t *pc = &p->pieces[i];
        if (off >= pos + pc->len) {
            pos += pc->len;
            continue;
        }
        uint64_t in = off > pos ? off - pos : 0;
        size_t n = (size_t)(pc->len - in < len - done ? pc->len - in : len - done);
        if (pc->data) {
            memcpy(out + done, pc->data + in, n);
        } else {
            int rc = pc->src->read(pc->src->ctx, out + done, n, pc->off + in);
            if (rc < 0)
                return rc;
        }
        done += n;
        off += n;
        pos += pc->len;
    }
    return (ssize_t)done;
}
