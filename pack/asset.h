/*
 * An asset: the tracks a .ism server manifest selects from its media files,
 * with the names and bitrates the URL grammar uses (QualityLevels(BITRATE),
 * Fragments(NAME=...)).
 */
#ifndef PK_ASSET_H
#define PK_ASSET_H

#include "arena.h"
#include "ism.h"
#include "media.h"
#include "source.h"

typedef struct {
    const pk_track_t *track;    /* borrowed from its media: lives as long as the media does */
    const pk_source_t *source;  /* the media file's bytes (borrowed, as the track) */
    const char *name;           /* trackName param, else title, else a default (see below) */
    uint32_t bitrate;           /* systemBitrate, else the track's measured average */
    const char *language;       /* ISO 639-2 as the .ism or the file says ("und" if neither) */
    const char *src;            /* media file, relative to the .ism's directory */
    uint32_t line;              /* line of the element in the .ism */
} pk_asset_track_t;

typedef struct {
    uint32_t track_count;
    pk_asset_track_t *tracks;   /* in .ism order */
} pk_asset_t;

/* Gives the media of one src of the manifest and the source to read its samples
 * from: 0 and *media, *source, or a negative errno (logged by the callee). Both
 * must outlive the asset. */
typedef int (*pk_asset_media_fn)(void *ctx, const char *src, const pk_media_t **media,
                                 const pk_source_t **source);

/*
 * Resolves every entry of `ism`: the trackID param picks that track of the file
 * (its type must match the element), else the first track of the element's type.
 * Default names: "video" for video; for audio "<codec>_<lang>_<channels>_<bitrate>"
 * with codec aac/ac3/ec3/mp3 (the AMS encoder's "aac_eng_2_128041" style);
 * "text_<lang>" for text.
 *
 * Returns 0 and *out (allocated in a), or
 *   -EBADMSG  an entry names a track that is not there or of another type, or two
 *             tracks share both name and bitrate (they could not be told apart
 *             in a URL); the log line names the .ism (`name`) and line;
 *   -ENOMEM, or what `get` returned.
 */
int pk_asset_build(const pk_ism_t *ism, const char *name, pk_asset_media_fn get, void *ctx,
                   arena_t *a, pk_asset_t **out);

#endif
