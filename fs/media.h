/*
 * Media and assets as a request sees them: parsed once, then loaded from the
 * LMDB media index (zero copy) for as long as the file keeps its identity.
 */
#ifndef FS_MEDIA_H
#define FS_MEDIA_H

#include "../pack/asset.h"
#include "../pack/media.h"
#include "ctx.h"

/* Media a request opened (req->media, newest first): an asset naming one file
 * twice (video and audio of one MP4) opens and parses it once, and the asset
 * cache learns the identity of every file an asset is made of. */
struct fs_media_memo {
    struct fs_media_memo *next;
    const char *rel;
    ix_file_key_t id;           /* the file as it was opened (id.path == rel) */
    const pk_media_t *media;
    const pk_source_t *source;
};

/*
 * The media of source file `rel` (below SRC). From the index when the file's
 * (path, dev, ino, size, mtime) is there, else parsed and stored. When `source`
 * is not NULL it receives the open file to read samples from. Both live until
 * fs_req_end(). With req->copy_media the tables are copied out of the index, so
 * they outlive the request's read snapshot. Returns 0 or a negative errno: the file's open error, -EBADMSG
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
