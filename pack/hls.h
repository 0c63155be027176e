/*
 * HLS playlists (RFC 8216): masters and media playlists for the three AMS HLS
 * formats, and I-frame playlists.
 *
 *   PK_HLS_V4   m3u8-aapl:    TS, video-only variants, audio in EXT-X-MEDIA groups,
 *                             I-frame stream entries, audio-only variant last
 *   PK_HLS_V3   m3u8-aapl-v3: TS with the default (first) audio muxed into each
 *                             video variant (audiotrack= in the child URLs)
 *   PK_HLS_CMAF m3u8-cmaf:    fMP4 (CMAF) segments with EXT-X-MAP, version 7
 */
#ifndef PK_HLS_H
#define PK_HLS_H

#include "arena.h"
#include "bytes.h"
#include "view.h"

typedef enum { PK_HLS_V4 = 0, PK_HLS_V3, PK_HLS_CMAF } pk_hls_format_t;

/*
 * The master playlist of v (order and names: pack/hls.c). BANDWIDTH is the peak and
 * AVERAGE-BANDWIDTH the mean segment bit rate as RFC 8216 §4.3.4.2 defines them, measured
 * on the bytes of that format's segments (TS sizes by pk_ts_segment in count mode, CMAF by
 * header size + sample bytes), for the variant's video plus the heaviest audio of its
 * group; CODECS and RESOLUTION always, FRAME-RATE for a constant frame rate. `o` may be
 * NULL (no options). `a` holds working arrays only. Returns 0, -ENOENT (a view with
 * neither video nor audio), -ENOMEM, an error of the segment size computation, or w->err.
 */
int pk_hls_master(const pk_view_t *v, pk_hls_format_t fmt, const pk_urlopts_t *o, arena_t *a,
                  wr_t *w);

/*
 * The media playlist of track vt (for V3, `mux` is the audio muxed into the segments of a
 * video track, else NULL): EXTINF exact to the ms (no drift: their sum is the listed
 * duration rounded), TARGETDURATION the ceiling of the longest, MEDIA-SEQUENCE the index
 * of the first listed fragment (stable across filtered views), INDEPENDENT-SEGMENTS,
 * EXT-X-MAP for CMAF, ENDLIST. Returns 0, -EINVAL (a mux outside V3, or not audio beside
 * video) or w->err.
 */
int pk_hls_media(const pk_view_t *v, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                 pk_hls_format_t fmt, const pk_urlopts_t *o, wr_t *w);

/*
 * The I-frame playlist of video track vt: EXT-X-I-FRAMES-ONLY, one entry per fragment
 * with EXT-X-BYTERANGE covering its first key frame in the segment: for V4 the TS range of
 * pk_ts_keyframe_range, for CMAF styp+moof+mdat header and the first sample (the mdat is
 * cut after it, as fMP4 I-frame playlists do). V3 has none (its master lists none: I-frame
 * playlists are version 4). `a` is unused (TS ranges are measured in scratch arenas).
 * Returns 0, -ENOENT (V3, or vt is not video), an error of pk_ts_keyframe_range, or w->err.
 */
int pk_hls_iframes(const pk_view_t *v, const pk_vtrack_t *vt, pk_hls_format_t fmt,
                   const pk_urlopts_t *o, arena_t *a, wr_t *w);

#endif
