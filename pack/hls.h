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

/* The master playlist of v. BANDWIDTH is the peak, AVERAGE-BANDWIDTH the mean
 * segment bitrate of the variant (video plus its audio) as that format's
 * segments measure; CODECS and RESOLUTION always. Returns 0 or an error of the
 * segment size computation or w->err. */
int pk_hls_master(const pk_view_t *v, pk_hls_format_t fmt, const pk_urlopts_t *o, arena_t *a,
                  wr_t *w);

/* The media playlist of track vt (for V3, `mux` is the audio muxed into the
 * segments, else NULL): EXTINF exact to the ms, TARGETDURATION the ceiling of the
 * longest, INDEPENDENT-SEGMENTS, ENDLIST. */
int pk_hls_media(const pk_view_t *v, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                 pk_hls_format_t fmt, const pk_urlopts_t *o, wr_t *w);

/* The I-frame playlist of video track vt: EXT-X-I-FRAMES-ONLY, one entry per
 * fragment with EXT-X-BYTERANGE covering its first key frame in the segment
 * (TS for V4/V3, the CMAF fragment for CMAF). */
int pk_hls_iframes(const pk_view_t *v, const pk_vtrack_t *vt, pk_hls_format_t fmt,
                   const pk_urlopts_t *o, arena_t *a, wr_t *w);

#endif
