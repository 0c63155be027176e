/*
 * Counters for MNT/.ismfs/metrics, and the text of it and of MNT/.ismfs/health.
 * Format: Prometheus text exposition 0.0.4 (one HELP and TYPE line per family, samples
 * "name{label="value"} number", histograms as cumulative _bucket{le=...}, _sum, _count).
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "version.h"

static const char *const kind_name[FS_MK_COUNT] = {
    "file", "dir", "manifest", "playlist", "init", "segment", "internal",
};

/* FS_MF_NONE, then fs_format_t + 1 (fs/path.h) */
static const char *const format_name[FS_MF_COUNT] = {
    "none", "smooth", "mpd-time-csf", "mpd-time-cmaf", "m3u8-aapl", "m3u8-aapl-v3",
    "m3u8-cmaf", "cmaf",
};

static const double bucket_s[FS_M_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1,
};

static const int errnos[FS_M_ERRNOS] = {
    ENOENT, EACCES, EIO, ENOMEM, EROFS, ESTALE, ENAMETOOLONG, EISDIR, ENOTDIR,
};
static const char *const errno_name[FS_M_ERRNOS + 1] = {
    "ENOENT", "EACCES", "EIO", "ENOMEM", "EROFS", "ESTALE", "ENAMETOOLONG", "EISDIR",
    "ENOTDIR", "other",
};

#define ADD(a, n) atomic_fetch_add_explicit(&(a), (n), memory_order_relaxed)
#define GET(a) ((unsigned long long)atomic_load_explicit(&(a), memory_order_relaxed))

void fs_metrics_init(fs_metrics_t *m)
{
    memset(m, 0, sizeof *m);
    m->started = fs_metrics_now();
}

struct timespec fs_metrics_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

uint64_t fs_metrics_since(struct timespec t0)
{
    struct timespec t = fs_metrics_now();
    int64_t ns = (int64_t)(t.tv_sec - t0.tv_sec) * 1000000000 + (t.tv_nsec - t0.tv_nsec);
    return ns > 0 ? (uint64_t)ns : 0;
}

void fs_metrics_open(fs_metrics_t *m, int kind, int format, uint64_t ns)
{
    if (kind < 0 || kind >= FS_MK_COUNT)
        kind = FS_MK_FILE;
    if (format < 0 || format >= FS_MF_COUNT)
        format = FS_MF_NONE;
    ADD(m->opens[kind][format], 1);
    int b = 0;
    while (b < FS_M_BUCKETS && (double)ns > bucket_s[b] * 1e9)
        b++;
    ADD(m->gen_bucket[kind][b], 1);
    ADD(m->gen_ns[kind], ns);
}

void fs_metrics_error(fs_metrics_t *m, int err)
{
    int i = 0;
    while (i < FS_M_ERRNOS && errnos[i] != -err)
        i++;
    ADD(m->errors[i], 1);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_requests(FILE *f, fs_metrics_t *m)
{
    family(f, "ismfs_opens_total", "counter",
           "Files opened through the mount, by what the name is and its format.");
    for (int k = 0; k < FS_MK_COUNT; k++)
        for (int t = 0; t < FS_MF_COUNT; t++)
            if (GET(m->opens[k][t]))
                fprintf(f, "ismfs_opens_total{kind=\"%s\",format=\"%s\"} %llu\n",
                        kind_name[k], format_name[t], GET(m->opens[k][t]));
    family(f, "ismfs_lookups_total", "counter", "Names looked up (lookup, getattr).");
    fprintf(f, "ismfs_lookups_total %llu\n", GET(m->lookups));
    family(f, "ismfs_listings_total", "counter", "Directories listed.");
    fprintf(f, "ismfs_listings_total %llu\n", GET(m->listings));
    family(f, "ismfs_read_bytes_total", "counter", "Bytes returned to readers.");
    fprintf(f, "ismfs_read_bytes_total %llu\n", GET(m->bytes));
    family(f, "ismfs_open_files", "gauge", "Files open now.");
    fprintf(f, "ismfs_open_files %llu\n", GET(m->open_files));
    family(f, "ismfs_kernel_nodes", "gauge",
           "Inodes the kernel holds (each costs the daemon ~100 bytes; the kernel drops them "
           "under memory pressure).");
    fprintf(f, "ismfs_kernel_nodes %llu\n", GET(m->nodes));
    family(f, "ismfs_errors_total", "counter", "Requests answered with an error, by errno.");
    for (int i = 0; i <= FS_M_ERRNOS; i++)
        fprintf(f, "ismfs_errors_total{errno=\"%s\"} %llu\n", errno_name[i], GET(m->errors[i]));
}

static void render_latency(FILE *f, fs_metrics_t *m)
{
    family(f, "ismfs_open_seconds", "histogram",
           "Time to find or generate a file when it is opened (object cache hits included).");
    for (int k = 0; k < FS_MK_COUNT; k++) {
        unsigned long long cum = 0;
        for (int b = 0; b <= FS_M_BUCKETS; b++)
            cum += GET(m->gen_bucket[k][b]);
        if (!cum)
            continue;
        cum = 0;
        for (int b = 0; b <= FS_M_BUCKETS; b++) {
            cum += GET(m->gen_bucket[k][b]);
            if (b < FS_M_BUCKETS)
                fprintf(f, "ismfs_open_seconds_bucket{kind=\"%s\",le=\"%g\"} %llu\n",
                        kind_name[k], bucket_s[b], cum);
            else
                fprintf(f, "ismfs_open_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %llu\n",
                        kind_name[k], cum);
        }
        fprintf(f, "ismfs_open_seconds_sum{kind=\"%s\"} %.9f\n", kind_name[k],
                (double)GET(m->gen_ns[k]) / 1e9);
        fprintf(f, "ismfs_open_seconds_count{kind=\"%s\"} %llu\n", kind_name[k], cum);
    }
}

static void render_caches(FILE *f, fs_ctx_t *ctx)
{
    fs_metrics_t *m = &ctx->metrics;
    family(f, "ismfs_objects_total", "counter",
           "Transformed segments and manifests: read from the object cache, or generated.");
    fprintf(f, "ismfs_objects_total{result=\"hit\"} %llu\n", GET(m->obj_hits));
    fprintf(f, "ismfs_objects_total{result=\"generated\"} %llu\n", GET(m->obj_made));
    family(f, "ismfs_media_total", "counter",
           "Media files opened: parsed from their bytes, or loaded from the index.");
    fprintf(f, "ismfs_media_total{result=\"parsed\"} %llu\n", GET(ctx->parsed));
    fprintf(f, "ismfs_media_total{result=\"index\"} %llu\n", GET(ctx->index_hits));

    ix_counters_t c;
    int up = ctx->ix && ix_counters(ctx->ix, &c) == 0;
    family(f, "ismfs_cache_up", "gauge", "1 when the LMDB cache is open and readable.");
    fprintf(f, "ismfs_cache_up %d\n", up);
    if (!up)
        return;
    family(f, "ismfs_cache_lookups_total", "counter",
           "Object cache lookups since the cache was made (all processes), by result.");
    fprintf(f, "ismfs_cache_lookups_total{result=\"hit\"} %llu\n",
            (unsigned long long)c.life.hits);
    fprintf(f, "ismfs_cache_lookups_total{result=\"miss\"} %llu\n",
            (unsigned long long)c.life.misses);
    family(f, "ismfs_cache_evictions_total", "counter",
           "Cache entries evicted to make room since the cache was made.");
    fprintf(f, "ismfs_cache_evictions_total %llu\n", (unsigned long long)c.life.evicted);
    family(f, "ismfs_cache_evicted_bytes_total", "counter", "Bytes of the evicted entries.");
    fprintf(f, "ismfs_cache_evicted_bytes_total %llu\n",
            (unsigned long long)c.life.evicted_bytes);
    family(f, "ismfs_cache_entries", "gauge", "Entries in the cache now, by kind.");
    fprintf(f, "ismfs_cache_entries{kind=\"all\"} %llu\n", (unsigned long long)c.entries);
    fprintf(f, "ismfs_cache_entries{kind=\"object\"} %llu\n",
            (unsigned long long)c.object_entries);
    family(f, "ismfs_cache_used_bytes", "gauge", "Bytes of the cache's pages in use.");
    fprintf(f, "ismfs_cache_used_bytes %llu\n", (unsigned long long)c.used_bytes);
    family(f, "ismfs_cache_size_bytes", "gauge", "Bytes the cache may use (cache_size=).");
    fprintf(f, "ismfs_cache_size_bytes %llu\n", (unsigned long long)c.map_size);
}

int fs_metrics_render(fs_ctx_t *ctx, char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return -ENOMEM;
    family(f, "ismfs_build_info", "gauge", "The running program.");
    fprintf(f, "ismfs_build_info{version=\"%s\",build=\"%s\"} 1\n", ISMFS_VERSION, ctx->build);
    family(f, "ismfs_uptime_seconds", "gauge", "Seconds since the mount started.");
    fprintf(f, "ismfs_uptime_seconds %.3f\n",
            (double)fs_metrics_since(ctx->metrics.started) / 1e9);
    render_requests(f, &ctx->metrics);
    render_latency(f, &ctx->metrics);
    render_caches(f, ctx);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    *len = n;
    return 0;
}

int fs_metrics_health(fs_ctx_t *ctx, char **out, size_t *len)
{
    /* open SRC for real: a network mount that went away (ENOTCONN from a dead FUSE
     * storage mount, ESTALE from NFS) fails here, not in an fstat of the fd held since
     * mount time; a SRC that was removed opens but has no links left */
    struct stat st;
    int fd = openat(ctx->src_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -EIO;
    int gone = fstat(fd, &st) < 0 || st.st_nlink == 0;
    close(fd);
    if (gone)
        return -EIO;
    ix_counters_t c;
    int up = ctx->ix && ix_counters(ctx->ix, &c) == 0;
    char *s = NULL;
    int n = asprintf(&s, "ok\nsrc ok\ncache %s\nuptime_seconds %.0f\n",
                     !ctx->ix ? "off (not opened: parsing every asset)" : up ? "ok" : "busy",
                     (double)fs_metrics_since(ctx->metrics.started) / 1e9);
    if (n < 0)
        return -ENOMEM;
    *out = s;
    *len = (size_t)n;
    return 0;
}
