/*
 * Dynamic manifest filters (AMS asset and account filters; notes/ams-facts.md §3):
 * the model of a filter, and its application to a view. Reading the JSON is fs/'s
 * job (fs/filters.c, jansson); this is pure.
 *
 * Semantics (DESIGN §1 "Filters"): the conditions of one track selection are
 * ANDed, the selections of a filter are ORed, a track no selection matches is
 * dropped (a filter without selections keeps every track); presentationTimeRange
 * keeps the whole fragments that overlap [start, end) (GOP accuracy); several
 * filters intersect; firstQuality puts that variant first in HLS masters.
 */
#ifndef PK_FILTER_H
#define PK_FILTER_H

#include <stdint.h>

#include "arena.h"
#include "view.h"

typedef enum {
    PK_FP_TYPE = 1,             /* "video" | "audio" | "text", case-insensitive */
    PK_FP_NAME,                 /* the track name (asset track name), exact */
    PK_FP_LANGUAGE,             /* RFC 5646 or ISO 639-2 vs the asset track's language: both
                                 * reduced to the primary subtag and written as pk_lang_tag
                                 * does ("eng" -> "en", "fre"/"fra" -> "fr"), compared
                                 * case-insensitively: "en", "eng", "en-US" all match "eng";
                                 * "und" (also for an empty language) matches "und" only */
    PK_FP_FOURCC,               /* the codecs string up to its first '.' (avc1, hvc1, mp4a,
                                 * ec-3), case-insensitive; the sample entry type when the
                                 * codecs string is empty */
    PK_FP_BITRATE,              /* the asset bitrate (QualityLevels number) within [lo, hi] */
} pk_fprop_t;                   /* any other value (AMS "Unknown") matches no track, whether
                                 * Equal or NotEqual */

typedef struct {
    pk_fprop_t prop;
    int not_equal;              /* operation NotEqual (else Equal) */
    const char *value;          /* TYPE, NAME, LANGUAGE, FOURCC; NULL equals no track */
    uint32_t lo, hi;            /* BITRATE: inclusive; a single value has lo == hi */
} pk_fcond_t;

typedef struct {
    uint32_t count;
    const pk_fcond_t *conds;    /* ANDed; none: every track */
} pk_fselect_t;

typedef struct pk_filter {
    const char *name;
    uint32_t select_count;
    const pk_fselect_t *selects;    /* ORed; none: every track */
    int has_start, has_end;
    uint64_t start, end;        /* presentationTimeRange in `timescale` units, on the view's
                                 * output timeline (fragment times, URL TIMEs: pack/view.h);
                                 * an end past the presentation (AMS: INT64_MAX) = to the end */
    uint64_t timescale;         /* 0: AMS's default 10 000 000 */
    uint32_t first_quality;     /* firstQuality.bitrate, 0 when absent */
} pk_filter_t;

/* Whether track vt passes the track selections of f. */
int pk_filter_keeps(const pk_filter_t *f, const pk_vtrack_t *vt);

/*
 * The view of `v` through filters f[0..n) (AMS allows 3; any n works, 0 copies v):
 *  - tracks: those every filter keeps, in v's order (pk_vtrack_t copies pointing at
 *    v's fragments: v must outlive the result); `ref` re-chosen as pk_view_build does
 *    (highest-bitrate video, first of equals, else the first audio);
 *  - fragments: the time ranges are intersected (exactly, across timescales), then
 *    [frag_begin, frag_end) narrowed to v's fragments whose span on v's reference
 *    track, [time, time + duration), overlaps the intersection; a fragment that
 *    straddles a bound is kept whole (notes/ams-facts.md §3.3), one that only touches
 *    it is not. Ranges that do not meet keep nothing, even where one fragment
 *    overlaps each of them. frag_count and fragment_ms stay v's;
 *  - first_quality: that of the first filter that has one, else v's.
 * Returns 0 and *out (in a); -ENOENT when nothing is left to serve (no video and no
 * audio track, or no fragment in the range; logged at debug level only: a filter
 * the user asked for); -ENOMEM.
 */
int pk_filter_apply(const pk_view_t *v, const pk_filter_t *const *f, uint32_t n, arena_t *a,
                    pk_view_t **out);

#endif
