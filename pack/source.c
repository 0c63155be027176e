#include "source.h"

#include <errno.h>
#include <string.h>

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    const pk_mem_t *m = ctx;
    if (off > m->len || len > m->len - off)
        return -EBADMSG;
    memcpy(buf, m->data + off, len);
    return 0;
}

pk_source_t pk_source_mem(pk_mem_t *mem, const char *name)
{
    return (pk_source_t){ mem_read, mem, mem->len, name };
}
