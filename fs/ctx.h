/*
 * The state one ismfs process shares between requests: the storage root, the
 * LMDB index and the options. Owned by main(); read-only once requests start
 * except the counters (atomics).
 */
#ifndef FS_CTX_H
#define FS_CTX_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "../index/index.h"
#include "../pack/arena.h"
#include "metrics.h"

typedef struct {
    char *cache_dir;            /* cache= : LMDB environment directory */
    uint64_t cache_size;        /* cache_size= : bytes LMDB may use */
    uint32_t fragment_ms;       /* fragment= : target fragment duration */
    char *account_filters;      /* account_filters= : absolute path of the AMS JSON file, or
                                 * NULL (fs/filters.h); outlives the context */
    char *keys_dir;             /* keys= : absolute path of the CPIX directory, outside SRC,
                                 * or NULL (fs/keys.h); outlives the context */
    int allow_clear;            /* allow_clear : serve clear outputs of protected assets */
    int no_objects;             /* generate every segment on every read: no object cache
                                 * (bench/pack_bench measures generation with it) */
    char *playready_la_url;     /* playready_la_url= : LA_URL of built PlayReady headers, or
                                 * NULL; outlives the context */
    char *key_uri;              /* key_uri= : HLS AES-128 key URL template ({kid}: the KID as
                                 * UUID text), or NULL (fs/keys.h); outlives the context */
} fs_options_t;

typedef struct fs_ctx {
    int src_fd;                 /* O_PATH directory fd of SRC: every source is opened beneath it */
    char *src_root;             /* SRC as given, for log lines */
    ix_t *ix;                   /* NULL when the cache could not be opened: parse every time */
    fs_options_t opt;
    atomic_uint_fast64_t parsed;     /* media files parsed from their bytes */
    atomic_uint_fast64_t index_hits; /* media loaded from the index without parsing */
    atomic_uint_fast64_t load_ns;    /* time spent obtaining media (parse or index load) */
    struct fs_asset_cache *assets;   /* built assets shared by requests (fs/assets.c) */
    struct fs_filter_cache *filters; /* parsed filter files (fs/filters.c) */
    struct fs_key_cache *keys;       /* parsed CPIX documents (fs/keys.c) */
    fs_metrics_t metrics;            /* what MNT/.ismfs/metrics shows (fs/metrics.h) */
    char build[48];             /* this program's GNU build id (hex), else version and build
                                 * time: object cache keys carry it, so a new build never
                                 * serves bytes an older writer made */
} fs_ctx_t;

/*
 * One request (one command, one virtual file): its arena and, once media were
 * loaded from the index, the LMDB read snapshot they point into. Everything
 * obtained through a request lives until fs_req_end().
 */
typedef struct {
    fs_ctx_t *ctx;
    arena_t *arena;
    ix_read_t *rd;              /* opened on first index use */
    struct timespec newest;     /* newest mtime of the sources opened so far */
    struct fs_media_memo *media; /* media opened by this request (fs/media.c) */
    int copy_media;             /* copy media out of the index (they outlive the request) */
    const char *failed;         /* the last source fs_media_open could not open or parse */
    struct fs_keys_memo *keys;  /* protected sources per directory seen so far (fs/keys.c) */
    struct fs_aux_memo *aux;    /* per-track data derived from samples, so far (fs/keys.c) */
    uint64_t deps;              /* fs_hash of the identities of the filter files consulted
                                 * so far (fs/filters.c), 0 for none: object cache keys of
                                 * filtered manifests carry it */
} fs_req_t;

/* Starts a request. Returns 0 or -ENOMEM. */
int fs_req_begin(fs_ctx_t *ctx, fs_req_t *req);

/* Ends it: closes the read snapshot and frees the arena (and the fds on it). */
void fs_req_end(fs_req_t *req);

/* Begins req->rd, the request's read snapshot of the index, unless it is begun already.
 * Returns 0, -ENOENT when the mount has no index, or as ix_read_begin. */
int fs_req_read(fs_req_t *req);

/*
 * Ends the request's read snapshot early (a later index use opens a new one). For an open
 * file of the mount: its plan lives in the arena, and a snapshot held as long as the file
 * is open would take one of LMDB's reader slots per open file (nginx keeps thousands
 * open) and keep LMDB from reusing pages. Only valid when nothing still in use points
 * into the snapshot: true of view lookups (assets copy their media, fs/keys.c copies aux
 * blobs), not of fs_media_open with copy_media unset (the inspect command).
 */
void fs_req_unpin(fs_req_t *req);

/* Opens SRC and the cache (a cache that cannot be opened is logged and skipped).
 * Returns 0 or a negative errno (SRC missing or not a directory). */
int fs_ctx_open(fs_ctx_t *ctx, const char *src_root, const fs_options_t *opt);
void fs_ctx_close(fs_ctx_t *ctx);

/* Default cache directory: /var/cache/ismfs for root, else $XDG_CACHE_HOME/ismfs
 * or ~/.cache/ismfs. Returns a malloc'd string or NULL. */
char *fs_default_cache_dir(void);

/* Parses "1G", "512M", "64k", "1048576" into bytes. Returns 0 or -EINVAL. */
int fs_parse_size(const char *s, uint64_t *out);

/* Parses the fragment= option: seconds, decimals allowed ("2", "1.5"), between 0.1 and 60,
 * into milliseconds. Returns 0 or -EINVAL. */
int fs_parse_fragment(const char *s, uint32_t *ms);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t fs_now_ns(void);

/* FNV-1a 64 of p[0..n) continued from h (start with FS_HASH_INIT): the one hash fs/ uses
 * for identities, versions and table slots (not for anything secret). */
#define FS_HASH_INIT 0xcbf29ce484222325ull
uint64_t fs_hash(uint64_t h, const void *p, size_t n);

/*
 * The log= option: "stderr" (the default sink), "syslog" (facility daemon, ident ismfs),
 * or a file path, appended to (a relative path is taken from the current directory now:
 * the daemon later changes to /). With a file, SIGHUP reopens it by name (logrotate);
 * install this before fuse_set_signal_handlers, which then leaves SIGHUP alone. Call
 * before threads start (and before fuse_daemonize, so that errors reach the terminal).
 * Returns 0, -EINVAL (empty spec), or a negative errno from opening the file.
 */
int fs_log_open(const char *spec);

#endif
