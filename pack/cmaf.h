/*
 * Fragmented MP4 writers: CMAF init and media segments (ISO/IEC 23000-19; one
 * fragment set serves mpd-time-csf, mpd-time-cmaf and m3u8-cmaf) and Smooth
 * Streaming fragments (MS-SSTR 2.2.4).
 *
 * Times are the view's output timeline in the track's own timescale (pack/view.h).
 */
#ifndef PK_CMAF_H
#define PK_CMAF_H

#include "bytes.h"
#include "plan.h"
#include "view.h"

/*
 * The CMAF header of a track: ftyp, moov (mvhd, trak with the source's sample
 * entry copied verbatim into stsd, empty sample tables, mvex/trex). Written
 * through w: a counting w gives the size, a buffer of exactly that size the bytes.
 */
void pk_cmaf_init(const pk_vtrack_t *vt, wr_t *w);

/*
 * CMAF media segment of fragment k: styp, moof (mfhd sequence_number k + 1;
 * traf: tfhd default-base-is-moof, tfdt v1 = frags[k].time, trun v1 with
 * sample durations, sizes, flags and composition offsets), mdat; the sample
 * data as ranges of vt->at->source. k < the view's frag_count. Returns 0 and
 * *out (pieces and header bytes in a), -ENOENT for an empty fragment, -ENOMEM.
 */
int pk_cmaf_fragment(const pk_vtrack_t *vt, uint32_t k, arena_t *a, pk_plan_t *out);

/* Bytes before the first sample's data in pk_cmaf_fragment's output (styp, moof,
 * mdat header): with the first sample's size, the I-frame byte range of the
 * fragment in HLS (its first sample is a key frame). */
uint64_t pk_cmaf_fragment_header_size(const pk_vtrack_t *vt, uint32_t k);

/*
 * Smooth Streaming fragment k: moof (mfhd, traf: tfhd, trun, uuid tfxd with
 * the fragment's absolute time and duration in the track timescale), mdat.
 * No tfdt, no default-base-is-moof (neither is in MS-SSTR's grammar); trun v0
 * with the source's own, non-negative composition offsets (cto_out + cto_shift),
 * so video presents cto_shift after the fragment time, as IIS Smooth streams do.
 * Returns as pk_cmaf_fragment.
 */
int pk_smooth_fragment(const pk_vtrack_t *vt, uint32_t k, arena_t *a, pk_plan_t *out);

#endif
