/*
 * pack_bench: packaging throughput of one asset, inside one process (what one
 * ismfs request costs, without FUSE and without a process start per segment).
 *
 *   pack_bench [--cache=DIR] [--keys=DIR] [--runs=N] [--manifest-runs=N] [--only=WHAT]
 *              [--no-manifests] SRC ASSET.ism
 *
 * (--only=KIND|manifests: measure that alone, e.g. under a profiler; --keys=DIR: the
 * mount's keys= (CPIX documents), with allow_clear and a key_uri, so that the clear and the
 * encrypted segments of a protected asset are measured in the same run). The object cache
 * is off: each pass generates (and encrypts) every segment, which is what is measured.
 *
 * Lists every virtual file of SRC/ASSET.ism through the view (fs_view_list, as
 * `ismfs ls` does: not timed), then for each kind of segment generates every
 * segment of the asset (fs_req_begin + fs_view_lookup(FS_VIEW_CONTENT) +
 * pk_plan_read into a buffer + fs_req_end, the work of open() + read() in the
 * mount) and times the whole pass: CPU time of the process (one thread, so one
 * core) and wall time; `runs` passes, the median is reported (in rounds: each
 * round makes one pass of every kind, so load from other processes falls on the
 * kinds alike, whose ratios bench/pack.sh reports). Then every
 * manifest and playlist: the first request and the median of `manifest-runs`
 * requests (fewer, at least 3, for one that takes over 2 s in all).
 *
 * Output: one line per measurement, key=value words, for bench/pack.sh:
 *   asset open_ms=X                     first request of a fresh context (index warm or cold)
 *   seg KIND files=N bytes=B cpu_ms=C wall_ms=W
 *   manifest NAME bytes=B runs=N first_ms=F median_ms=M max_ms=X
 * KIND: cmaf (init + media segments, every track), ts (m3u8-aapl, every track),
 * ts-v3 (m3u8-aapl-v3: video with the default audio muxed), smooth; an encrypted
 * segment's kind is that name, '+' and its encryption= value (cmaf+cenc, ts+cbc, ...).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>

#include "../fs/ctx.h"
#include "../fs/source.h"
#include "../fs/view.h"
#include "../pack/log.h"

typedef struct {
    char **v;
    size_t n, cap;
} names_t;

static int names_add(names_t *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -ENOMEM;
    l->n++;
    return 0;
}

static void names_free(names_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Kinds of segment: a format, and the encryption when there is one ("cmaf+cenc"). */
enum { KINDS_MAX = 32 };

typedef struct {
    const char *prefix;         /* "ASSET.ism/" or "ASSET.ism/QualityLevels(B)/" */
    char kind[KINDS_MAX][40];   /* kind names, in the order first met */
    names_t segs[KINDS_MAX];
    size_t kinds;
    names_t manifests;          /* top-level manifests and per-track playlists */
    names_t dirs;               /* QualityLevels(B) */
} listing_t;

static int kind_of(listing_t *l, const char *name)
{
    const char *base = strstr(name, "format=cmaf") ? "cmaf"
                     : strstr(name, "format=m3u8-aapl-v3") ? "ts-v3"
                     : strstr(name, "format=m3u8-aapl") ? "ts"
                     : strstr(name, "format=") ? NULL : "smooth";
    const char *enc = strstr(name, "encryption=");
    char k[40];
    if (!base)
        return -1;
    if (enc) {
        enc += strlen("encryption=");
        int n = (int)strcspn(enc, ",)");
        snprintf(k, sizeof k, "%s+%.*s", base, n, enc);
    } else {
        snprintf(k, sizeof k, "%s", base);
    }
    for (size_t i = 0; i < l->kinds; i++)
        if (strcmp(l->kind[i], k) == 0)
            return (int)i;
    if (l->kinds == KINDS_MAX)
        return -1;
    snprintf(l->kind[l->kinds], sizeof l->kind[0], "%s", k);
    return (int)l->kinds++;
}

static int classify(void *p, const char *name, const fs_object_t *obj)
{
    listing_t *l = p;
    char path[4096];
    int n = snprintf(path, sizeof path, "%s%s", l->prefix, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return 1;
    if (obj->is_dir)
        return names_add(&l->dirs, path) < 0;
    if (strncmp(name, "manifest", 8) == 0 || strncmp(name, "Manifest(", 9) == 0)
        return names_add(&l->manifests, path) < 0;
    if (strncmp(name, "Fragments(", 10) != 0)
        return 0;
    int k = kind_of(l, name);
    return k >= 0 && names_add(&l->segs[k], path) < 0;
}

static double now_ms(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static uint8_t buf[1 << 20];

/* One request for vpath, as open() + read() to the end + release() in the mount.
 * Returns the bytes read or a negative errno. */
static int64_t fetch(fs_ctx_t *ctx, const char *vpath)
{
    fs_req_t req;
    fs_object_t obj;
    int rc = fs_req_begin(ctx, &req);
    uint64_t off = 0;
    if (rc < 0)
        return rc;
    rc = fs_view_lookup(&req, vpath, FS_VIEW_CONTENT, &obj);
    if (rc == 0 && obj.is_dir)
        rc = -EISDIR;
    while (rc == 0 && off < obj.size) {
        ssize_t n = fs_source_plan_read(&obj.plan, off, buf, sizeof buf);
        if (n <= 0)
            rc = n < 0 ? (int)n : -EIO;
        else
            off += (uint64_t)n;
    }
    fs_req_end(&req);
    if (rc < 0) {
        fprintf(stderr, "pack_bench: %s: %s\n", vpath, strerror(-rc));
        return rc;
    }
    return (int64_t)off;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int list(fs_ctx_t *ctx, const char *vpath, listing_t *l)
{
    fs_req_t req;
    char prefix[4096];
    snprintf(prefix, sizeof prefix, "%s/", vpath);
    l->prefix = prefix;
    int rc = fs_req_begin(ctx, &req);
    if (rc == 0) {
        rc = fs_view_list(&req, vpath, classify, l);
        fs_req_end(&req);
    }
    l->prefix = NULL;
    if (rc < 0)
        fprintf(stderr, "pack_bench: ls %s: %s\n", vpath, strerror(-rc));
    return rc;
}

int main(int argc, char **argv)
{
    /* no object cache: every pass generates every segment (what is measured) */
    fs_options_t opt = { .cache_size = 1ull << 30, .fragment_ms = 2000, .no_objects = 1 };
    static char key_uri[] = "https://keys.example/{kid}";
    int runs = 3, manifest_runs = 21, nargs = 0, status = 1, manifests = 1;
    const char *args[2] = { NULL, NULL }, *only = NULL;

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--cache=", 8) == 0)
            opt.cache_dir = argv[i] + 8;
        else if (strncmp(argv[i], "--runs=", 7) == 0)
            runs = atoi(argv[i] + 7);
        else if (strncmp(argv[i], "--manifest-runs=", 16) == 0)
            manifest_runs = atoi(argv[i] + 16);
        else if (strncmp(argv[i], "--only=", 7) == 0)
            only = argv[i] + 7;
        else if (strncmp(argv[i], "--keys=", 7) == 0)
            opt.keys_dir = argv[i] + 7, opt.allow_clear = 1,
            opt.key_uri = key_uri;      /* AES-128 names need one */
        else if (strcmp(argv[i], "--no-manifests") == 0)
            manifests = 0;
        else if (argv[i][0] != '-' && nargs < 2)
            args[nargs++] = argv[i];
        else
            nargs = 3;
    }
    if (nargs != 2 || runs < 1 || manifest_runs < 1) {
        fprintf(stderr, "usage: pack_bench [--cache=DIR] [--keys=DIR] [--runs=N] "
                        "[--manifest-runs=N] [--only=KIND|manifests] [--no-manifests] "
                        "SRC ASSET.ism\n");
        return 2;
    }
    xmlInitParser();

    fs_ctx_t ctx;
    listing_t l;
    memset(&l, 0, sizeof l);
    double *t = NULL, *c = NULL;
    if (fs_ctx_open(&ctx, args[0], &opt) < 0) {
        fprintf(stderr, "pack_bench: cannot open %s\n", args[0]);
        goto out_noctx;
    }

    /* the first request of a fresh context: the asset is built (media from the index, or
     * parsed when the cache is cold) */
    char first[4096];
    snprintf(first, sizeof first, "%s/manifest", args[1]);
    double w0 = now_ms(CLOCK_MONOTONIC);
    if (fetch(&ctx, first) < 0)
        goto out;
    printf("asset open_ms=%.3f parsed=%" PRIuFAST64 " index_hits=%" PRIuFAST64 "\n",
           now_ms(CLOCK_MONOTONIC) - w0, atomic_load(&ctx.parsed),
           atomic_load(&ctx.index_hits));
    fflush(stdout);

    if (list(&ctx, args[1], &l) < 0)
        goto out;
    for (size_t i = 0; i < l.dirs.n; i++)
        if (list(&ctx, l.dirs.v[i], &l) < 0)
            goto out;

    int maxn = runs > manifest_runs ? runs : manifest_runs;
    if (!(t = malloc((size_t)maxn * KINDS_MAX * sizeof *t)) ||
        !(c = malloc((size_t)maxn * KINDS_MAX * sizeof *c)))
        goto out;

    /* Passes in rounds, every kind once per round, rather than all passes of one kind
     * and then the next: bench/pack.sh divides kinds of one run by each other (encrypted
     * vs clear), and on a shared machine the load of other processes, which inflates CPU
     * time too (caches, SMT), then falls on every kind alike. */
    uint64_t seg_bytes[KINDS_MAX] = { 0 };
    for (int r = 0; r < runs; r++) {
        for (size_t k = 0; k < l.kinds; k++) {
            const names_t *s = &l.segs[k];
            if (!s->n || (only && strcmp(only, l.kind[k]) != 0))
                continue;
            double w = now_ms(CLOCK_MONOTONIC), cpu = now_ms(CLOCK_PROCESS_CPUTIME_ID);
            seg_bytes[k] = 0;
            for (size_t i = 0; i < s->n; i++) {
                int64_t n = fetch(&ctx, s->v[i]);
                if (n < 0)
                    goto out;
                seg_bytes[k] += (uint64_t)n;
            }
            c[k * (size_t)runs + (size_t)r] = now_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu;
            t[k * (size_t)runs + (size_t)r] = now_ms(CLOCK_MONOTONIC) - w;
        }
    }
    for (size_t k = 0; k < l.kinds; k++) {
        if (!l.segs[k].n || (only && strcmp(only, l.kind[k]) != 0))
            continue;
        printf("seg %s files=%zu bytes=%" PRIu64 " cpu_ms=%.3f wall_ms=%.3f\n", l.kind[k],
               l.segs[k].n, seg_bytes[k], median(c + k * (size_t)runs, runs),
               median(t + k * (size_t)runs, runs));
    }
    fflush(stdout);

    for (size_t i = 0; manifests && i < l.manifests.n && (!only || strcmp(only, "manifests") == 0);
         i++) {
        int64_t bytes = 0;
        double mx = 0, sum = 0;
        int r = 0;
        /* manifest_runs requests, fewer (at least 3) when they add up to over 2 s */
        while (r < manifest_runs && (r < 3 || sum < 2000)) {
            double w = now_ms(CLOCK_MONOTONIC);
            if ((bytes = fetch(&ctx, l.manifests.v[i])) < 0)
                goto out;
            t[r] = now_ms(CLOCK_MONOTONIC) - w;
            mx = t[r] > mx ? t[r] : mx;
            sum += t[r++];
        }
        double f = t[0];
        /* names hold no spaces (the grammar has none); the path after the asset */
        printf("manifest %s bytes=%" PRId64 " runs=%d first_ms=%.3f median_ms=%.3f "
               "max_ms=%.3f\n", l.manifests.v[i] + strlen(args[1]) + 1, bytes, r, f,
               median(t, r), mx);
    }
    status = 0;
out:
    fs_ctx_close(&ctx);
out_noctx:
    free(t);
    free(c);
    for (size_t k = 0; k < l.kinds; k++)
        names_free(&l.segs[k]);
    names_free(&l.manifests);
    names_free(&l.dirs);
    xmlCleanupParser();
    return status;
}
