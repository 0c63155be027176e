/*
 * What the daemon has done, for MNT/.ismfs/metrics (Prometheus text exposition format
 * 0.0.4) and MNT/.ismfs/health. Counters are relaxed atomics in fs_metrics_t, which rides
 * in fs_ctx_t: a request adds to them without a lock; rendering reads them at any rate.
 *
 * They count what reaches the daemon: a read the kernel answers from its page cache, or
 * a file nginx keeps open, is not a request here (the web server's own log counts those).
 */
#ifndef FS_METRICS_H
#define FS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What a name is, as a metrics label (fs_object_t.kind). */
typedef enum {
    FS_MK_FILE = 0,             /* a real file of SRC, passed through */
    FS_MK_DIR,                  /* any directory */
    FS_MK_MANIFEST,             /* manifest, manifest(format=...) */
    FS_MK_PLAYLIST,             /* an HLS media (or I-frame) playlist */
    FS_MK_INIT,                 /* a CMAF initialisation segment */
    FS_MK_SEGMENT,              /* a media segment (CMAF, Smooth or TS) */
    FS_MK_INTERNAL,             /* .ismfs/metrics, .ismfs/health */
    FS_MK_COUNT
} fs_mkind_t;

/* fs_path_t.format + 1, or 0 for names outside the grammar (FS_MF_NONE). */
#define FS_MF_NONE 0
#define FS_MF_COUNT 8

/* Upper bounds (seconds) of the generation latency histogram's buckets; +Inf follows. */
#define FS_M_BUCKETS 10

/* errno values counted one by one; the rest are "other". */
#define FS_M_ERRNOS 9

typedef struct {
    struct timespec started;    /* CLOCK_MONOTONIC at fs_metrics_init */
    atomic_uint_fast64_t opens[FS_MK_COUNT][FS_MF_COUNT];   /* files opened, by kind/format */
    atomic_uint_fast64_t lookups;       /* getattr/lookup answered */
    atomic_uint_fast64_t listings;      /* directories listed */
    atomic_uint_fast64_t bytes;         /* bytes returned by reads */
    atomic_uint_fast64_t errors[FS_M_ERRNOS + 1];           /* by errno, last: other */
    atomic_uint_fast64_t gen_bucket[FS_MK_COUNT][FS_M_BUCKETS + 1]; /* not cumulative */
    atomic_uint_fast64_t gen_ns[FS_MK_COUNT];               /* sum of latencies */
    atomic_uint_fast64_t obj_hits;      /* segments/manifests read from the object cache */
    atomic_uint_fast64_t obj_made;      /* the same, generated (and then stored) */
    atomic_uint_fast64_t open_files;    /* files open now (gauge) */
    atomic_uint_fast64_t nodes;         /* inodes the kernel holds (gauge, set by fs/mount.c) */
} fs_metrics_t;

void fs_metrics_init(fs_metrics_t *m);

/* A file opened: its kind (fs_mkind_t), format (FS_MF_*) and how long finding or
 * generating it took (ns). */
void fs_metrics_open(fs_metrics_t *m, int kind, int format, uint64_t ns);

/* A request answered with -err (any negative errno; ENOENT included). */
void fs_metrics_error(fs_metrics_t *m, int err);

/* Nanoseconds since `t0` on CLOCK_MONOTONIC; fs_metrics_now() gives a t0. */
struct timespec fs_metrics_now(void);
uint64_t fs_metrics_since(struct timespec t0);

struct fs_ctx;

/*
 * Renders the metrics of `ctx` (its fs_metrics_t, the media and object cache counters of
 * its index) as Prometheus text into a malloc'd buffer. Returns 0 with *out and *len set
 * (the caller frees *out), or -ENOMEM.
 */
int fs_metrics_render(struct fs_ctx *ctx, char **out, size_t *len);

/*
 * The health file: "ok" lines when SRC can be read (and the state of the cache), or
 * -EIO when SRC cannot (a load balancer's check through nginx then gets an error status).
 * Returns 0 with a malloc'd *out, -EIO or -ENOMEM.
 */
int fs_metrics_health(struct fs_ctx *ctx, char **out, size_t *len);

#endif
