/*
 * Source files: opened beneath SRC only, read with pread() through pk_source_t.
 */
#ifndef FS_SOURCE_H
#define FS_SOURCE_H

#include <sys/stat.h>

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
 * reading; a caller that hands fs_source_fd() to someone else (splice) must call it first.
 */
int fs_source_check(const pk_source_t *src);

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
