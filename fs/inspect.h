/* `ismfs inspect FILE.mp4|ASSET.ism [--json]`: the tracks as ismfs sees them. */
#ifndef FS_INSPECT_H
#define FS_INSPECT_H

#include <stdio.h>

#include "ctx.h"

/* Prints the tracks of `rel` (below ctx's SRC; a name ending in .ism is read as
 * an asset) to `out`, as a table or (json != 0) as one JSON object.
 * Returns 0 or a negative errno (already logged). */
int fs_inspect(fs_ctx_t *ctx, const char *rel, int json, FILE *out);

#endif
