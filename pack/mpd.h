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
 * Protected output (o->drm not NULL, track i signalled by o->drm->tracks[i],
 * NULL for a clear track): ContentProtection descriptors (23009-1 5.8.4.1)
 * on the AdaptationSet when all its Representations are signalled alike, else
 * on each Representation: mp4protection with value cenc|cbcs and
 * cenc:default_KID, then one per DRM system, urn:uuid:<SystemID> with value
 * "MSPR 2.0" (PlayReady), "Widevine", "ClearKey1.0" (e2719d58-...), none for
 * others, holding the system's CPIX ContentProtectionData verbatim when it is
 * a well-formed fragment of other-namespace elements (else it is logged and
 * left out), or else cenc:pssh (the pssh box), mspr:pro (the PlayReady Object)
 * and dashif:Laurl (la_url) as given. xmlns:cenc/mspr/dashif are declared on
 * the root only when used.
 *
 * Returns 0 or w->err (-ENOSPC; -ENOMEM/-EINVAL from wr_printf, -ENOMEM from
 * libxml2 checking ContentProtectionData).
 */
int pk_mpd_write(const pk_view_t *v, pk_mpd_profile_t profile, const pk_urlopts_t *o, wr_t *w);

#endif
