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
    PK_FP_NAME,                 /* the track name, exact */
    PK_FP_LANGUAGE,             /* RFC 5646 or ISO 639-2: "en" matches "eng", case-insensitive */
    PK_FP_FOURCC,               /* first element of the codecs string: avc1, mp4a, ec-3 (any case) */
    PK_FP_BITRATE,              /* the track's bitrate (QualityLevels) within [lo, hi] */
} pk_fprop_t;

typedef struct {
    pk_fprop_t prop;
    int not_equal;              /* operation NotEqual (else Equal) */
    const char *value;          /* TYPE, NAME, LANGUAGE, FOURCC */
    uint32_t lo, hi;            /* BITRATE: inclusive; a single value has lo == hi */
} pk_fcond_t;

typedef struct {
    uint32_t count;
    const pk_fcond_t *conds;    /* ANDed */
} pk_fselect_t;

typedef struct pk_filter {
    const char *name;
    uint32_t select_count;
    const pk_fselect_t *selects;    /* ORed; none: every track */
    int has_start, has_end;
    uint64_t start, end;        /* presentationTimeRange, in `timescale` units, absolute */
    uint64_t timescale;         /* default 10 000 000 */
    uint32_t first_quality;     /* firstQuality.bitrate, 0 when absent */
} pk_filter_t;

/* Whether track vt passes the track selections of f. */
int pk_filter_keeps(const pk_filter_t *f, const pk_vtrack_t *vt);

/*
 * The view of `v` through filters f[0..n) (n <= 3): the tracks every filter
 * keeps, the fragments that overlap every time range; firstQuality from the
 * first filter that has one. The tracks of the result point at v's fragments
 * (v must outlive it). Returns 0 and *out (in a), -ENOENT when nothing is left
 * to serve (no video and no audio track, or no fragment), -ENOMEM.
 */
int pk_filter_apply(const pk_view_t *v, const pk_filter_t *const *f, uint32_t n, arena_t *a,
                    pk_view_t **out);

#endif
