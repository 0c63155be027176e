/*
 * MPEG-2 transport stream segments for HLS (ISO/IEC 13818-1, RFC 8216).
 *
 * A segment holds PAT and PMT first, then PES packets: video converted to Annex B
 * (AUD, then SPS/PPS (and VPS for HEVC) before each key frame, 4-byte start
 * codes), AAC as ADTS frames, AC-3/E-AC-3 as is. PCR rides on the video PID (on
 * the audio PID of an audio-only segment). PIDs: PMT 0x1000, video 0x100,
 * audio 0x101. Continuity counters continue across segments of a track: the
 * counter at the start of segment k is the PID's packet count in segments 0..k-1,
 * modulo 16, so concatenated segments show no CC error.
 *
 * Timestamps: 90 kHz, PTS = pts_out and DTS = dts_out - cto_shift + min(0, the
 * track's lowest source composition offset) (so DTS <= PTS even where the output
 * timeline has negative composition offsets, and where the source has them too:
 * ctts v1 / trun v1), both plus PK_TS_OFFSET.
 */
#ifndef PK_TS_H
#define PK_TS_H

#include "bytes.h"
#include "view.h"

#define PK_TS_OFFSET (10 * 90000ull)    /* 10 s: keeps DTS positive under any B-frame delay */

/*
 * Writes TS segment k of `main` (a video or an audio track) with, for HLS v3,
 * `mux` (an audio track muxed beside the video; NULL otherwise) through w.
 * Sample data is read through each track's at->source; in count mode (w->buf ==
 * NULL) samples are read only when their size after conversion cannot be known
 * from the sample table (NAL length fields other than 4 bytes).
 * Returns 0, -ENOENT (no such fragment), -EBADMSG (a sample that does not parse
 * as NAL units / a source shorter than its table; logged), -ENOMEM, or a source
 * read error.
 */
int pk_ts_segment(const pk_vtrack_t *main, const pk_vtrack_t *mux, uint32_t k, arena_t *a,
                  wr_t *w);

/*
 * The TS packets of the PES of every fragment of vt (not counting PAT and PMT), as
 * the segment's main stream (pcr != 0: video, or audio alone) or as audio muxed
 * beside video (pcr == 0): out[vt->frag_count], in `a`. With them in
 * vt->ts_packets / ts_packets_mux, a segment's size is (2 + packets) * 188 and its
 * continuity counters a prefix sum, with no walk over earlier segments. Reads
 * samples only when pk_ts_packets_cheap() is false. Returns 0 or as pk_ts_segment.
 */
int pk_ts_packets(const pk_vtrack_t *vt, int pcr, arena_t *a, uint32_t **out);

/* The packets of the first PES of every fragment of video track vt (its key frame), as
 * the main stream: out[vt->frag_count]; for vt->ts_key_packets. Returns as pk_ts_packets. */
int pk_ts_key_packets(const pk_vtrack_t *vt, arena_t *a, uint32_t **out);

/* The size of TS segment k (as pk_ts_segment would write it) or of its key-frame range (as
 * pk_ts_keyframe_range), from what the view knows: 0 and *size, or -EAGAIN when the view
 * does not carry the packet counts (then run pk_ts_segment in count mode). */
int pk_ts_segment_size(const pk_vtrack_t *main, const pk_vtrack_t *mux, uint32_t k,
                       uint64_t *size);
int pk_ts_keyframe_size(const pk_vtrack_t *vt, uint32_t k, uint64_t *size);

/* Whether pk_ts_packets works from the sample table alone (no sample reads beyond the
 * first NAL header): audio, or video with 4-byte NAL lengths. */
int pk_ts_packets_cheap(const pk_vtrack_t *vt);

/*
 * The byte range, within TS segment k of video track vt (no muxed audio:
 * I-frame playlists point into the v4 video-only segments), that holds PAT, PMT
 * and the segment's first key frame: offset 0 and the length up to the end of
 * the last TS packet carrying that key frame. Returns 0 or as pk_ts_segment.
 */
int pk_ts_keyframe_range(const pk_vtrack_t *vt, uint32_t k, arena_t *a, uint64_t *len);

#endif
