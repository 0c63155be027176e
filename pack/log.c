#include "log.h"

#include <stdio.h>

int pk_log_level = PK_LOG_WARN;

static pk_log_sink_fn sink;
static void *sink_ctx;

void pk_log_set_sink(pk_log_sink_fn fn, void *ctx)
{
    sink = fn;
    sink_ctx = ctx;
}

void pk_log(int level, const char *func, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };
    char msg[1024];
    va_list ap;

    if (level > pk_log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sink) {
        sink(level, func, msg, sink_ctx);
        return;
    }
    /* one fprintf, so lines from several threads do not interleave */
    fprintf(stderr, "ismfs: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}
