/*
 * The view: an asset cut into fragments. Every track of a view has the same
 * number of fragments, and fragment k of every track covers the same span of
 * the presentation: it starts on a key frame of the reference video track
 * (whole GOPs up to the target duration), video renditions cut at the same key
 * frames (checked), audio on the frame nearest to the span's start.
 *
 * Output timeline. Writers do not use the source's raw times; per track:
 *     dts_out(i) = pk_track_dts(t, i) + dts_shift          (>= 0)
 *     cto_out(i) = t->samples[i].cto - cto_shift           (trun v1, may be < 0)
 * so that pts_out = dts_out + cto_out is the edit-list presentation time
 * (ffprobe's pts) and a fragment's first key frame has pts_out == dts_out: its
 * tfdt is its earliest presentation time, and the TIME of its URL.
 * (A track whose edit list starts before 0, such as AAC with priming, is shifted
 * later by that amount, because decode times cannot be negative.)
 *
 * Filters (issue 5) narrow a view: a subset of tracks and a fragment range
 * [frag_begin, frag_end); writers only ever iterate that range.
 */
#ifndef PK_VIEW_H
#define PK_VIEW_H

#include "arena.h"
#include "asset.h"

typedef struct {
    uint32_t first;             /* index of the first sample */
    uint32_t count;             /* samples in the fragment (0 only for a track that ends early) */
    uint64_t time;              /* dts_out of the first sample, track timescale: URL TIME and tfdt */
    uint64_t duration;          /* sum of sample durations, track timescale */
    uint64_t bytes;             /* sum of sample sizes */
} pk_frag_t;

typedef struct {
    const pk_asset_track_t *at; /* name, bitrate, source, language */
    const pk_track_t *t;        /* == at->track */
    int64_t dts_shift;          /* see the top of this file, track timescale */
    int32_t cto_shift;
    const pk_frag_t *frags;     /* [frag_count] of the view */
    uint32_t frag_count;        /* == the view's frag_count */
    int32_t min_cto;            /* lowest composition offset of the source (<= 0 or 0) */
    uint32_t peak_bitrate;      /* highest fragment bitrate (bytes*8/duration), bit/s */
    uint32_t avg_bitrate;       /* all bytes * 8 / all duration, bit/s */
    /* TS packets of each fragment's PES (pack/ts.h pk_ts_packets), when known: as the
     * segment's main stream (with PCR), and as the audio muxed beside video (without);
     * NULL: pk_ts_segment works them out itself */
    const uint32_t *ts_packets;         /* [frag_count] */
    const uint32_t *ts_packets_mux;     /* [frag_count], audio only */
    const uint32_t *ts_key_packets;     /* [frag_count], video: packets of the first PES
                                         * (the key frame: I-frame playlist ranges) */
    const uint32_t *cmaf_header;        /* [frag_count]: pk_cmaf_fragment_header_size (clear
                                         * output), when known: HLS bandwidths without
                                         * re-counting */
} pk_vtrack_t;

typedef struct pk_view {
    const pk_asset_t *asset;
    uint32_t track_count;
    pk_vtrack_t *tracks;        /* [track_count], in asset order; text tracks are not in views */
    uint32_t ref;               /* index in tracks of the reference track */
    uint32_t frag_count;        /* fragments of every track */
    uint32_t frag_begin, frag_end; /* the fragments this view presents: [begin, end) */
    uint32_t fragment_ms;       /* target duration it was cut for */
    uint32_t first_quality;     /* a filter's firstQuality bitrate: that variant first in HLS
                                 * masters; 0 for none */
} pk_view_t;

/*
 * What child URLs repeat, already canonical (DESIGN §1): each string is empty or
 * starts with ',' and is appended inside the parentheses after the options the
 * writer itself puts there (format, audiotrack, type).
 */
typedef struct {
    const char *playlist;       /* HLS media and I-frame playlist URLs: ",filter=a;b,encryption=cbc" */
    const char *segment;        /* fragment URLs (segments do not carry filters): ",encryption=cbc" */
    int audio_only_false;       /* HLS masters: no audio-only variant */
    const struct pk_drm *drm;   /* protected output: key signalling per track (pack/protect.h),
                                 * NULL for clear output */
    const struct pk_hls_keys *hls; /* protected HLS output: EXT-X-KEY signalling, IVs and
                                 * sizes (pack/hls.h), NULL for clear output */
} pk_urlopts_t;

/*
 * Cuts `as` into fragments of whole GOPs up to fragment_ms (at least one GOP
 * each). The reference track is the highest-bitrate video track (the first of
 * equals), else the first audio track, which is then cut on its own frames.
 * Returns 0 and *out (in a), or
 *   -EBADMSG  a video rendition lacks a key frame where the reference has one
 *             (misaligned ladder; logged with track, time and reason), or a
 *             track is empty;
 *   -ENOENT   no video or audio track;
 *   -ENOMEM.
 */
int pk_view_build(const pk_asset_t *as, uint32_t fragment_ms, arena_t *a, pk_view_t **out);

/* Output decode time and composition offset of sample i of vt (see top). */
static inline uint64_t pk_vtrack_dts(const pk_vtrack_t *vt, uint32_t i)
{
    return (uint64_t)((int64_t)pk_track_dts(vt->t, i) + vt->dts_shift);
}

static inline int32_t pk_vtrack_cto(const pk_vtrack_t *vt, uint32_t i)
{
    return vt->t->samples[i].cto - vt->cto_shift;
}

/* The fragment of vt whose time is `time` exactly, within the view's range:
 * its index, or -ENOENT. */
int pk_view_find(const pk_view_t *v, const pk_vtrack_t *vt, uint64_t time);

/* The track named `name` with bitrate `bitrate`, or NULL. */
const pk_vtrack_t *pk_view_track(const pk_view_t *v, const char *name, uint32_t bitrate);

/* Duration of the view's fragment range in `timescale` units (by the reference track). */
uint64_t pk_view_duration(const pk_view_t *v, uint32_t timescale);

#endif
