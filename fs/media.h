/*
 * Media and assets as a request sees them: parsed once, then loaded from the
 * LMDB media index (zero copy) for as long as the file keeps its identity.
 */
#ifndef FS_MEDIA_H
#define FS_MEDIA_H

#include "../pack/asset.h"
#include "../pack/media.h"
#include "ctx.h"

/*
 * The media of source file `rel` (below SRC). From the index when the file's
 * (path, dev, ino, size, mtime) is there, else parsed and stored. When `source`
 * is not NULL it receives the open file to read samples from. Both live until
 * fs_req_end(). Returns 0 or a negative errno: the file's open error, -EBADMSG
 * (malformed; logged with file, box and offset), -ENOTSUP, -ENOMEM.
 */
int fs_media_open(fs_req_t *req, const char *rel, const pk_media_t **out,
                  const pk_source_t **source);

/*
 * The asset of server manifest `ism_rel` (a .ism file below SRC): its SMIL read,
 * each src opened with fs_media_open relative to the manifest's directory.
 * Returns 0 or a negative errno (-EBADMSG for a bad manifest, logged).
 */
int fs_asset_open(fs_req_t *req, const char *ism_rel, const pk_asset_t **out);

/* Largest .ism file read. */
#define FS_ISM_MAX (16u << 20)

#endif
