/*
 * The LMDB index: one environment under the cache directory. Knows keys and
 * blobs, not media.
 *
 * Media index: the parsed track tables of one source file as one blob (see
 * pk_media_pack), keyed by the file's identity. A changed file (new inode, size
 * or mtime) has a new key, so a stale blob is never found; old entries age out.
 *
 * Thread safety: ix_t may be shared by threads. A read handle belongs to one
 * thread at a time, and pointers obtained through it are valid until
 * ix_read_end() (they point into LMDB's map: zero copy).
 */
#ifndef IX_INDEX_H
#define IX_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ix ix_t;
typedef struct ix_read ix_read_t;

/* Identity of a source file. `path` is the path below SRC (any length). */
typedef struct {
    const char *path;
    uint64_t dev, ino, size;
    int64_t mtime_ns;
} ix_file_key_t;

/*
 * Lifetime counters of the object cache. The index keeps them in a small record of its
 * own (the "meta" DB), which the writer thread updates with the batched stamps (and
 * ix_close / ix_flush), so they survive restarts; a hit never takes LMDB's write lock.
 */
typedef struct {
    uint64_t hits, misses;      /* ix_obj_get answers */
    uint64_t evicted;           /* entries (media, aux, object) evicted to make room */
    uint64_t evicted_bytes;     /* their value bytes */
    uint64_t stored;            /* objects written (ix_obj_put, once committed) */
    uint64_t stored_bytes;      /* their bytes */
} ix_counts_t;

typedef struct {
    uint64_t media_entries;     /* blobs in the media index */
    uint64_t media_bytes;       /* their total size */
    uint64_t aux_entries;       /* aux blobs (ix_aux_put) */
    uint64_t aux_bytes;         /* their total size */
    uint64_t object_entries;    /* generated objects (ix_obj_put) */
    uint64_t object_bytes;      /* their total size */
    uint64_t used_bytes;        /* pages in use by all of it (<= map_size) */
    uint64_t hits, misses;      /* ix_obj_get answers since ix_open, this process */
    uint64_t evicted;           /* entries evicted since ix_open, this process */
    uint64_t map_size;          /* bytes LMDB may use */
    uint64_t file_bytes;        /* bytes the data file takes on disk now */
    ix_counts_t life;           /* lifetime: the index's record plus what this process
                                 * counted and has not written yet */
} ix_stats_t;

/* What ix_counters reads: no scan, for a metrics file read at any rate. */
typedef struct {
    ix_counts_t life;           /* lifetime (as ix_stats_t.life) */
    ix_counts_t proc;           /* since ix_open, this process */
    uint64_t entries;           /* values of every kind in the index now */
    uint64_t object_entries;    /* generated objects in the index now */
    uint64_t used_bytes;        /* pages in use (<= map_size) */
    uint64_t map_size;          /* bytes LMDB may use */
} ix_counters_t;

/*
 * Opens (creating it and `dir` when missing) the index in `dir`, allowed to
 * grow to `map_size` bytes. A data file LMDB does not recognise (garbage, a foreign or
 * newer file) in a writable `dir` is moved aside (data.mdb.corrupt-TIME, logged) and a
 * new index made. Returns 0, -ENOMEM, or a negative errno from the file system or LMDB
 * (mapped: MDB_INVALID/MDB_VERSION_MISMATCH -> -EBADMSG, when it could not be moved).
 */
int ix_open(const char *dir, uint64_t map_size, ix_t **out);

/* Closes the environment. No read handle may be open. NULL-safe. */
void ix_close(ix_t *ix);

/* A read snapshot. Returns 0, -ENOMEM, -EAGAIN (every reader slot busy) or -EIO. */
int ix_read_begin(ix_t *ix, ix_read_t **out);

/* Ends the snapshot; every pointer it gave becomes invalid. NULL-safe. */
void ix_read_end(ix_read_t *r);

/* Looks up the media blob of a file. Returns 0 and sets *blob and *len (valid until
 * ix_read_end), -ENOENT when absent, -EIO on an LMDB error. */
int ix_media_get(ix_read_t *r, const ix_file_key_t *key, const void **blob, size_t *len);

/* Stores the media blob of a file (replacing any). Returns 0, -ENOSPC when the
 * map is full (logged once per open), -EACCES when the index was opened
 * read-only, -EIO on another LMDB error. */
int ix_media_put(ix_t *ix, const ix_file_key_t *key, const void *blob, size_t len);

/*
 * Aux blobs: more derived data of one source file (e.g. the subsample counts of a
 * track under an encryption scheme), keyed by the file's identity and a tag naming
 * what the blob is (1..IX_TAG_MAX bytes, e.g. "sub/cenc/1"). Like media blobs, a
 * changed file has new keys; each tag is its own entry. Pointers are valid until
 * ix_read_end() and have no alignment guarantee.
 * ix_aux_get: 0, -ENOENT (absent; also a read-only index older than aux blobs),
 * -EINVAL (bad tag), -EIO. ix_aux_put: as ix_media_put, and -EINVAL (bad tag).
 */
#define IX_TAG_MAX 32
int ix_aux_get(ix_read_t *r, const ix_file_key_t *key, const char *tag, const void **blob,
               size_t *len);
int ix_aux_put(ix_t *ix, const ix_file_key_t *key, const char *tag, const void *blob,
               size_t len);

/*
 * Asynchronous puts (the mount turns them on; off by default). When on, ix_media_put and
 * ix_aux_put copy the value into a queue and return 0 at once; one writer thread commits
 * what is queued in one transaction per batch, so a request that parsed media never
 * waits for LMDB's sync, and a burst of puts costs one commit. A queued value is visible
 * to ix_read_begin snapshots once committed (ix_flush waits for that). While more than
 * IX_QUEUE_MAX bytes wait, a put is written synchronously (back-pressure). Errors of
 * queued puts (-ENOSPC: map full, logged once; -EIO) are kept for ix_flush. ix_close
 * writes what is queued before it closes. A read-only index stays synchronous.
 * Turning it off flushes first. Not to be called while other threads put.
 */
#define IX_QUEUE_MAX (64u << 20)
void ix_set_async(ix_t *ix, bool on);

/* Waits until every queued put is committed, and the counters with them (when the writer
 * runs). Returns 0, or the first error of the puts committed since the previous ix_flush
 * (then forgotten). */
int ix_flush(ix_t *ix);

/*
 * The object cache: generated bytes (manifests, transformed segments, sizes) under a key
 * the caller makes (any length; it must name the identity of every source, so that a
 * changed source is a new key). Pointers valid until ix_read_end(), no alignment.
 * ix_obj_get: 0, -ENOENT (absent; also a read-only index older than the object cache),
 * -EIO. ix_obj_put: as ix_media_put.
 *
 * Every value (media, aux, object) has a last-use stamp; hits are stamped by the writer
 * thread (ix_set_async; reads never take LMDB's write lock), and when the map is about
 * full the writer evicts the least recently used entries (logged at info level).
 */
int ix_obj_get(ix_read_t *r, const char *key, const void **blob, size_t *len);
int ix_obj_put(ix_t *ix, const char *key, const void *blob, size_t len);

/* Counts what the index holds (walks every entry: for `ismfs cache stats`, not for a
 * request path). Returns 0 or -EIO. */
int ix_stats(ix_t *ix, ix_stats_t *st);

/*
 * The live counters of this process and the lifetime ones, and entry counts and pages in
 * use from LMDB's DB headers (one read snapshot, O(1), no write lock): cheap enough for
 * every read of a metrics file. Thread-safe. Returns 0, -EAGAIN (every reader slot busy)
 * or -EIO; *out is set only on success.
 */
int ix_counters(ix_t *ix, ix_counters_t *out);

/* Deletes every entry (the lifetime counters stay: they count the cache's history, like
 * Prometheus counters). Returns 0 or -EIO. */
int ix_clear(ix_t *ix);

#endif
