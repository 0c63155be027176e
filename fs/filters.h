/*
 * Filter files (DESIGN §1 "Filters"; notes/ams-facts.md §3): NAME.filters.json beside
 * NAME.ism (asset filters) and the account_filters= file, read with jansson into the
 * pk_filter_t model of pack/filter.h.
 *
 * Accepted: what `az ams asset-filter list` / `account-filter list` and the REST API
 * print: an array of filter objects, one filter object, or a list response
 * {"value": [...]}; each filter with its fields inside "properties" or flattened
 * beside "name"; the legacy v2 shape (Name, PresentationTimeRange with string
 * numbers, Tracks[].PropertyConditions[].Operator, FirstQuality.Bitrate). Field
 * names, property names and operations are case-insensitive; numbers may be JSON
 * integers, doubles with an integral value, or decimal strings; a number at or beyond
 * INT64_MAX (AMS prints 9223372036854776000 for "no limit") is no limit; null is
 * absent; fields this code does not know are ignored, and so are
 * presentationWindowDuration, liveBackoffDuration and forceEndTimestamp (live only).
 *
 * A file that is not that (malformed JSON, a wrong type, an unknown property or
 * operation, two filters of one name, more than FS_FILTER_FILE_MAX bytes, nesting
 * deeper than FS_FILTER_DEPTH_MAX) is logged once per version (path and reason) and
 * defines nothing: a bad account file makes every account filter unknown, a bad
 * asset file every filtered request of that asset.
 *
 * Parsed files are kept in a cache keyed by path and identity (device, inode, size,
 * mtime), so a changed file is re-read on the next lookup and a broken one is read
 * and logged once per version, not once per request.
 */
#ifndef FS_FILTERS_H
#define FS_FILTERS_H

#include <stddef.h>

#include "../pack/arena.h"
#include "../pack/filter.h"
#include "ctx.h"
#include "path.h"

#define FS_FILTER_FILE_MAX (1u << 20)   /* bytes of a filter file */
#define FS_FILTER_DEPTH_MAX 32          /* nesting of arrays and objects (AMS's is 7) */
#define FS_FILTER_FILES_MAX 256         /* parsed files kept; least recently used go */

int fs_filters_init(fs_ctx_t *ctx);
void fs_filters_free(fs_ctx_t *ctx);

/*
 * The filters names[0..n) (n <= FS_FILTERS_MAX) for the asset `ism` (below SRC):
 * each from ism's NAME.filters.json, else from the account_filters file. out[i]
 * stays valid until the request ends. The mtimes of the filter files consulted
 * join req->newest. Returns 0, -ENOENT (an unknown name, or a bad file it depends
 * on), -ENOMEM.
 */
int fs_filters_find(fs_req_t *req, const char *ism, const char (*names)[FS_NAME_MAX + 1],
                    uint32_t n, const pk_filter_t **out);

/*
 * Parses the text of a filter file (len bytes, not necessarily NUL-terminated) into
 * *out[0..*count) in `a`. Returns 0, -EINVAL with the reason in why[0..cap) (a bad
 * file), -ENOMEM.
 */
int fs_filters_parse(const char *text, size_t len, arena_t *a, pk_filter_t **out,
                     uint32_t *count, char *why, size_t cap);

#endif
