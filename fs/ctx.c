#include "ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <elf.h>
#include <link.h>

#include "../pack/log.h"
#include "assets.h"
#include "filters.h"
#include "keys.h"
#include "version.h"

int fs_req_begin(fs_ctx_t *ctx, fs_req_t *req)
{
    req->ctx = ctx;
    req->rd = NULL;
    req->newest = (struct timespec){ 0, 0 };
    req->media = NULL;
    req->copy_media = 0;
    req->failed = NULL;
    req->keys = NULL;
    req->aux = NULL;
    req->deps = 0;
    req->arena = arena_new();
    return req->arena ? 0 : -ENOMEM;
}

void fs_req_end(fs_req_t *req)
{
    arena_free(req->arena);     /* first: cleanups may still read indexed media */
    ix_read_end(req->rd);
    req->arena = NULL;
    req->rd = NULL;
}

int fs_req_read(fs_req_t *req)
{
    if (req->rd)
        return 0;
    return req->ctx->ix ? ix_read_begin(req->ctx->ix, &req->rd) : -ENOENT;
}

void fs_req_unpin(fs_req_t *req)
{
    ix_read_end(req->rd);
    req->rd = NULL;
}

/* dl_iterate_phdr callback: the NT_GNU_BUILD_ID note of the main program, as hex. */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
    char *out = data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof *n;
            const uint8_t *desc = name + ((n->n_namesz + 3) & ~3u);
            if (desc + n->n_descsz > end)
                break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                size_t k = 0;
                for (uint32_t b = 0; b < n->n_descsz && k + 3 <= 48; b++)
                    k += (size_t)snprintf(out + k, 48 - k, "%02x", desc[b]);
                return 1;
            }
            p = desc + ((n->n_descsz + 3) & ~3u);
        }
    }
    return 1;                   /* the first object is the main program: stop there */
}

int fs_ctx_open(fs_ctx_t *ctx, const char *src_root, const fs_options_t *opt)
{
    memset(ctx, 0, sizeof *ctx);
    fs_metrics_init(&ctx->metrics);
    ctx->opt = *opt;
    dl_iterate_phdr(find_build_id, ctx->build);
    if (!ctx->build[0])
        snprintf(ctx->build, sizeof ctx->build, "%s %s %s", ISMFS_VERSION, __DATE__, __TIME__);
    ctx->src_fd = open(src_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ctx->src_fd < 0) {
        int rc = -errno;
        PK_ERROR("%s: %s", src_root, strerror(errno));
        return rc;
    }
    if (!(ctx->src_root = strdup(src_root)) || fs_assets_init(ctx) < 0 ||
        fs_filters_init(ctx) < 0 || fs_keys_init(ctx) < 0) {
        fs_assets_free(ctx);
        fs_filters_free(ctx);
        fs_keys_free(ctx);
        free(ctx->src_root);
        close(ctx->src_fd);
        return -ENOMEM;
    }
    if (opt->cache_dir) {
        int rc = ix_open(opt->cache_dir, opt->cache_size, &ctx->ix);
        if (rc < 0) {
            PK_WARN("cache %s unusable (%s): media will be parsed on every use",
                    opt->cache_dir, strerror(-rc));
            ctx->ix = NULL;
        }
    }
    return 0;
}

void fs_ctx_close(fs_ctx_t *ctx)
{
    fs_assets_free(ctx);
    fs_filters_free(ctx);
    fs_keys_free(ctx);
    ix_close(ctx->ix);
    ctx->ix = NULL;
    if (ctx->src_fd >= 0)
        close(ctx->src_fd);
    ctx->src_fd = -1;
    free(ctx->src_root);
    ctx->src_root = NULL;
}

char *fs_default_cache_dir(void)
{
    char *dir = NULL;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

    if (geteuid() == 0)
        return strdup("/var/cache/ismfs");
    if (xdg && *xdg) {
        if (asprintf(&dir, "%s/ismfs", xdg) < 0)
            return NULL;
    } else if (home && *home) {
        if (asprintf(&dir, "%s/.cache/ismfs", home) < 0)
            return NULL;
    }
    return dir;
}

int fs_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;

    if (errno || end == s || *s == '-')
        return -EINVAL;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

int fs_parse_fragment(const char *s, uint32_t *ms)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0.1 && v <= 60))
        return -EINVAL;
    *ms = (uint32_t)(v * 1000 + 0.5);
    return 0;
}

uint64_t fs_hash(uint64_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
    return h;
}

static void on_sighup(int sig)
{
    int saved = errno;
    (void)sig;
    (void)pk_log_reopen();      /* async-signal-safe: open, dup2, close */
    errno = saved;
}

int fs_log_open(const char *spec)
{
    char *abs = NULL;
    int rc;

    if (!spec || !*spec)
        return -EINVAL;
    if (strcmp(spec, "stderr") == 0) {
        pk_log_set_sink(NULL, NULL);
        return 0;
    }
    if (strcmp(spec, "syslog") == 0) {
        pk_log_to_syslog();
        return 0;
    }
    if (spec[0] != '/') {
        char *cwd = getcwd(NULL, 0);
        rc = cwd && asprintf(&abs, "%s/%s", cwd, spec) >= 0 ? 0 : -ENOMEM;
        free(cwd);
        if (rc < 0)
            return rc;
    }
    if ((rc = pk_log_to_file(abs ? abs : spec)) == 0) {
        struct sigaction sa = { .sa_handler = on_sighup, .sa_flags = SA_RESTART };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGHUP, &sa, NULL);
    }
    free(abs);
    return rc;
}

uint64_t fs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
