/*
 * Source files: opened beneath SRC only, read with pread() through pk_source_t.
 */
#ifndef FS_SOURCE_H
#define FS_SOURCE_H

#include <sys/stat.h>

#include "../pack/plan.h"
#include "../pack/source.h"
#include "ctx.h"

/*
 * Opens `rel` (a path below SRC; no leading '/') for reading. Symlinks are
 * followed only while they stay inside SRC; ".." may not climb out of it.
 * The fd is closed when the request ends. Sets *src (name = rel, copied into
 * the request arena) and *st. Returns 0 or a negative errno (-ENOENT,
 * -EACCES, -EXDEV for an escape attempt, -EISDIR, ...).
 */
int fs_source_open(fs_req_t *req, const char *rel, pk_source_t *src, struct stat *st);

/* The fd behind a source made by fs_source_open, or -1 for any other source. */
int fs_source_fd(const pk_source_t *src);

/*
 * Whether the file behind a source made by fs_source_open still has the size and mtime it
 * was opened with: 0 if so (and for any other kind of source), else -EIO, logged (at most
 * a line a second for all sources). Reads through src->read check this themselves, after
 * reading (or, in a deferred scope, at its end: below); a caller that hands fs_source_fd()
 * to someone else (splice) must call it first.
 */
int fs_source_check(const pk_source_t *src);

/*
 * Deferred checks: one fstat per source for a whole generated object instead of one per
 * read. The TS and encrypting writers read sample by sample (hundreds of reads for one
 * segment); between fs_source_defer_begin and fs_source_defer_end on one thread, reads
 * through sources made by fs_source_open skip the check after each read and note the
 * source instead, and fs_source_defer_end checks each source noted, once. That is as
 * strong as a check per read: a write or truncation in place changes the size or mtime,
 * and they stay changed, so bytes of two versions, or of a version other than the one
 * opened, fail the check at the end just as they would have failed the check of the read
 * that got them (a read that finds the end of the file early is still checked at once).
 * Only a writer that sets the old mtime back (utimensat) over the same size undoes it;
 * a check per read misses that too when it falls between two reads. The price is
 * that the caller learns it at the end: nothing made from the reads of a scope may leave
 * it (be served, kept in the object cache, stored in the index or a shared cache) before
 * fs_source_defer_end has returned 0. So a scope spans pure generation only (fs/view.c:
 * rendering into memory), not code that stores what it derives (fs/media.c, the aux
 * blobs of fs/keys.c): those keep the check per read.
 *
 * The scope belongs to the calling thread, not to a source: sources are shared by the
 * requests of the asset cache, and a read on another thread is checked as before. Scopes
 * nest (an inner one checks its own reads at its end); begin and end must pair on one
 * thread, with nothing in between that leaves the caller's frame (no early return). Reads
 * of more than FS_SOURCE_DEFER_MAX distinct sources in one scope are checked at once.
 */
#define FS_SOURCE_DEFER_MAX 16

typedef struct fs_source_defer {
    struct fs_source_defer *outer;              /* the scope this one is nested in, or NULL */
    const void *read[FS_SOURCE_DEFER_MAX];      /* the sources read so far, [count] */
    uint64_t last[FS_SOURCE_DEFER_MAX];         /* the offset of each one's last read (log) */
    unsigned count;
} fs_source_defer_t;

void fs_source_defer_begin(fs_source_defer_t *d);

/*
 * Ends the scope d (the innermost) and checks every source read in it: returns rc when all
 * are unchanged, else the check's error (-EIO, logged as fs_source_check logs it), also
 * when rc is an error already (a writer that failed on bytes of a changed file reports
 * the change). Written to wrap the generating call:
 *     fs_source_defer_begin(&d);
 *     rc = fs_source_defer_end(&d, generate(...));
 */
int fs_source_defer_end(fs_source_defer_t *d, int rc);

/* pk_plan_read (pack/plan.h) in a scope of its own: the bytes a read of a plan gives come
 * from one version of each source, checked once per source rather than once per range (a
 * fragment of an interleaved MP4 has a range per sample). Returns as pk_plan_read, or
 * -EIO when a source changed (logged). */
ssize_t fs_source_plan_read(const pk_plan_t *p, uint64_t off, void *buf, size_t len);

/* The stat of a source made by fs_source_open, taken when it was opened (its identity:
 * the asset cache drops assets whose sources change). Returns 0, or -ENOENT for a source
 * of another kind. */
int fs_source_stat(const pk_source_t *src, struct stat *st);

/* A string kept with a source made by fs_source_open for as long as it is open (fs/keys.c:
 * its real path below SRC, worked out once): the one kept, else `canon` is kept (copied)
 * and returned; NULL for another kind of source, or when none is kept and canon is NULL. */
const char *fs_source_canon(const pk_source_t *src, const char *canon);

/* Opens `rel` beneath dirfd the same way; returns the fd or a negative errno. */
int fs_open_beneath(int dirfd, const char *rel, int flags);

/* stat() of `rel` ("" for SRC itself) resolved beneath dirfd like fs_open_beneath.
 * Returns 0 or a negative errno. */
int fs_stat_beneath(int dirfd, const char *rel, struct stat *st);

/* Reads a whole small file (at most `max` bytes) into the request arena, NUL
 * terminated. Returns 0, -EFBIG when larger, or a negative errno. */
int fs_read_small(fs_req_t *req, const char *rel, size_t max, char **data, size_t *len,
                  struct stat *st);

#endif
