/*
 * DASH MPD writer (ISO/IEC 23009-1), as the AMS packager laid it out
 * (notes/ams-facts.md §2.2): static, one Period, one AdaptationSet per media
 * type and language, SegmentTemplate + SegmentTimeline with $Time$ (and no
 * startNumber), URLs QualityLevels($Bandwidth$)/Fragments(NAME=$Time$,format=cmaf...).
 */
#ifndef PK_MPD_H
#define PK_MPD_H

#include "bytes.h"
#include "view.h"

typedef enum {
    PK_MPD_CSF = 0,             /* mpd-time-csf: urn:mpeg:dash:profile:isoff-live:2011 */
    PK_MPD_CMAF,                /* mpd-time-cmaf: isoff-live + urn:mpeg:dash:profile:cmaf:2019 */
} pk_mpd_profile_t;

/*
 * Writes the MPD of view v through w (count mode gives the size).
 *
 * AdaptationSets: video tracks of one codec family (AVC, HEVC, ...) share one;
 * audio tracks share one per language and codecs string; the first audio set is
 * Role main, the others alternate. A Representation's bandwidth is its asset
 * bitrate, the number its QualityLevels() directory carries, because the
 * templates use $Bandwidth$. presentationTimeOffset puts the first fragment of
 * the view's range (by the reference track) at period time 0, so a trimmed
 * view starts at 0 with audio and video still in sync. Tracks with no fragment
 * in the range are left out.
 *
 * Returns 0 or w->err (-ENOSPC; -ENOMEM/-EINVAL from wr_printf).
 */
int pk_mpd_write(const pk_view_t *v, pk_mpd_profile_t profile, const pk_urlopts_t *o, wr_t *w);

#endif
