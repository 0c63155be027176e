/*
 * The view of the mount (DESIGN §1): what a path below SRC names and what it
 * holds. Real files and directories pass through (a NAME.ism file shows as a
 * directory, *.filters.json files are hidden); inside NAME.ism/ the names of
 * the URL grammar (fs/path.h) are generated from the asset.
 *
 * The same functions serve the command line (`ismfs cat`, `ismfs ls`) and the
 * mount, so both always agree byte for byte.
 */
#ifndef FS_VIEW_H
#define FS_VIEW_H

#include <sys/stat.h>

#include "../pack/plan.h"
#include "ctx.h"

typedef struct {
    int is_dir;
    uint64_t size;              /* bytes of a file (exact) */
    struct timespec mtime;      /* newest mtime of everything the object is made from */
    pk_plan_t plan;             /* how to read a file (with FS_VIEW_CONTENT) */
    uint8_t kind;               /* what the name is, for metrics (fs_mkind_t) */
    uint8_t format;             /* its format, for metrics (FS_MF_*) */
} fs_object_t;

enum {
    FS_VIEW_SIZE = 0,           /* size and type only: as cheap as possible (getattr) */
    FS_VIEW_CONTENT = 1,        /* also the plan to read the bytes */
};

/*
 * Resolves `vpath` ("" for the root; no leading '/') to the object it names.
 * Returns 0, -ENOENT (no such name: not in the grammar, no such track,
 * fragment or file), -EIO (malformed media or manifest: logged once), -ENOMEM,
 * or another negative errno of the storage.
 */
int fs_view_lookup(fs_req_t *req, const char *vpath, int what, fs_object_t *out);

/* Receives one directory entry; `obj` has is_dir, size (FS_VIEW_SIZE) and mtime.
 * Returns 0 to continue, non-zero to stop the listing. */
typedef int (*fs_view_entry_fn)(void *ctx, const char *name, const fs_object_t *obj);

/* Lists directory `vpath` with canonical names. Returns 0, -ENOTDIR, or as fs_view_lookup. */
int fs_view_list(fs_req_t *req, const char *vpath, fs_view_entry_fn fn, void *ctx);

#endif
