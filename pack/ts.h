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
 * Apple SAMPLE-AES ("MPEG-2 Stream Encryption Format for HTTP Live Streaming", HLS
 * `encryption=cbcs-aapl` on m3u8-aapl) of one track of a segment: H.264 video and ADTS
 * AAC audio. pack/ never calls crypt/: fs/ fills this from crypt/ (the key's AES context
 * and constant IV ride in ctx). The segment differs from a clear one in
 *   - the PMT: stream_type 0xDB (H.264) / 0xCF (ADTS AAC) and a
 *     private_data_indicator_descriptor (13818-1 2.6.29) 'zavc' / 'aacd'; audio also a
 *     registration_descriptor (2.6.8) 'apad' holding the audio setup information: audio
 *     type 'zaac' (AAC-LC), 'zach' (HE-AAC, explicit SBR) or 'zacp' (HE-AACv2, explicit
 *     PS), priming 0, version 1, the AudioSpecificConfig's length (8 bits) and bytes;
 *   - video: every NAL unit of a sample goes through nal() (parameter sets and AUDs the
 *     writer adds do not: they are never protected); the PES grows by the emulation
 *     prevention of the protected units;
 *   - audio: every ADTS frame goes through frame() in place (the size stays).
 * Sizes stay exact and continuity counters continue across segments as in clear output.
 */
typedef struct pk_ts_saes {
    /* video: sample i grows by growth[i] bytes ([track sample_count]; crypt/subsample.h
     * cr_subsample_saes_growth, kept in the index by fs/), so sizes and counters come from
     * the sample table; NULL: worked out by running nal() in count mode, which reads and
     * encrypts every sample of the segment (and of every earlier one, in write mode, for
     * the continuity counters). Unused for audio. */
    const uint32_t *growth;
    /* video: the TS packets of the PES of every fragment as this stream writes them
     * ([vt->frag_count]: pk_ts_packets_saes, kept by fs/ per view and key), so the
     * continuity counters of segment k are a prefix sum and its size (with a muxed track's
     * ts_packets_mux) needs no sample read; NULL: a walk over the samples of fragments
     * 0..k-1 for every segment k, and sizes by describing the segment. Unused for audio. */
    const uint32_t *packets;
    /* video: one H.264 NAL unit nal[0..len) (from its header byte, as stored: no length
     * field, no start code) written through w in its protected form, or its size in
     * count mode; nal is not changed. 0 or a negative errno. */
    int (*nal)(void *ctx, const uint8_t *nal, size_t len, wr_t *w);
    /* audio: one ADTS frame frame[0..len) of which hdr bytes are its header, encrypted in
     * place. 0 or a negative errno. */
    int (*frame)(void *ctx, uint8_t *frame, size_t len, size_t hdr);
    void *ctx;
} pk_ts_saes_t;

/*
 * pk_ts_segment with SAMPLE-AES: main protected as saes_main, mux (NULL for none) as
 * saes_mux; a NULL pk_ts_saes_t leaves that stream clear (with its clear stream_type).
 * Returns as pk_ts_segment, and -ENOTSUP (logged) for a protected track other than H.264
 * or ADTS AAC, or AAC without an AudioSpecificConfig of at most 64 bytes; the errors of
 * the callbacks.
 */
int pk_ts_segment_saes(const pk_vtrack_t *main, const pk_ts_saes_t *saes_main,
                       const pk_vtrack_t *mux, const pk_ts_saes_t *saes_mux, uint32_t k,
                       arena_t *a, wr_t *w);

/* Whether SAMPLE-AES can carry vt (pk_ts_segment_saes would not refuse it): H.264, or
 * AAC (object type 0x40) with an AudioSpecificConfig of AAC-LC, HE-AAC or HE-AACv2 (AOT 2,
 * 5, 29) of at most 64 bytes. No log line: for deciding which names exist. */
int pk_ts_saes_supported(const pk_vtrack_t *vt);

/* pk_ts_keyframe_range of the SAMPLE-AES segment (saes: vt's protection). */
int pk_ts_keyframe_range_saes(const pk_vtrack_t *vt, const pk_ts_saes_t *saes, uint32_t k,
                              arena_t *a, uint64_t *len);

/*
 * The TS packets of the PES of every fragment of vt (not counting PAT and PMT), as
 * the segment's main stream (pcr != 0: video, or audio alone) or as audio muxed
 * beside video (pcr == 0): out[vt->frag_count], in `a`. With them in
 * vt->ts_packets / ts_packets_mux, a segment's size is (2 + packets) * 188 and its
 * continuity counters a prefix sum, with no walk over earlier segments. Reads
 * samples only when pk_ts_packets_cheap() is false. Returns 0 or as pk_ts_segment.
 */
int pk_ts_packets(const pk_vtrack_t *vt, int pcr, arena_t *a, uint32_t **out);

/* pk_ts_packets of SAMPLE-AES video track vt under saes (as the main stream; saes->packets
 * is not used): for saes->packets. Reads and encrypts every sample when saes->growth is
 * NULL or the NAL lengths are not 4 bytes. Returns as pk_ts_packets, -EINVAL for an audio
 * track or no saes. */
int pk_ts_packets_saes(const pk_vtrack_t *vt, const pk_ts_saes_t *saes, arena_t *a,
                       uint32_t **out);

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
