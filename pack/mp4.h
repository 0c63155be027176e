/*
 * ISO-BMFF reader (ISO/IEC 14496-12): progressive MP4 (moov before or after
 * mdat, stco/co64, any stsc layout, ctts v0/v1, stss, edit lists) and fragmented
 * MP4 (ismv/isma, CMAF: moov+mvex/trex then moof/mdat pairs) into the media model.
 */
#ifndef PK_MP4_H
#define PK_MP4_H

#include "arena.h"
#include "media.h"
#include "source.h"

/* Largest moov or moof the reader loads into memory. */
#define PK_MP4_MAX_HEADER (512u << 20)

/*
 * Parses the file behind `src`. Every allocation (the media, its tracks, their
 * tables and sample entries) comes from `a`; the result lives as long as `a`.
 * Tracks whose handler is not vide/soun/text/subt/sbtl (timecode, hint, meta)
 * are skipped; a video/audio/text track with a codec the model does not know is
 * skipped with a warning.
 *
 * Returns 0 and sets *out; or
 *   -EBADMSG  malformed input (one error line names file, box path and offset),
 *   -ENOTSUP  valid, but no track ismfs can serve,
 *   -ENOMEM,
 *   or the error of src->read (e.g. -EIO).
 */
int pk_mp4_open(const pk_source_t *src, arena_t *a, pk_media_t **out);

#endif
