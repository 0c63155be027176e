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
#include "protect.h"
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
 * Encrypted CMAF (ISO/IEC 23001-7) with p as fs/ filled it (pack/protect.h).
 *
 * pk_cmaf_init_protected: pk_cmaf_init with the sample entry renamed encv
 * (video) / enca (audio) and a sinf appended inside it (frma: the original
 * type; schm: p->scheme, version 0x00010000; schi/tenc: v0 for cenc with
 * default_Per_Sample_IV_Size p->iv_size, v1 for cbcs with the pattern
 * crypt_blocks:skip_blocks and, IV size 0, the 16-byte constant IV), and the
 * boxes p->pssh[] appended to moov after mvex. p == NULL: pk_cmaf_init.
 *
 * pk_cmaf_fragment_protected: pk_cmaf_fragment with the samples read through
 * vt->at->source into one arena buffer and p->encrypt called once per sample,
 * in order, to encrypt it in place and write its senc entry. traf: tfhd, tfdt,
 * trun, saiz, saio, senc (23001-7 7.2: flags 0x2 with subsamples, i.e. when
 * p->subsample_counts); saiz states one default size when every entry has the
 * same, else a size per sample; saio's one offset is the first senc entry byte,
 * moof-relative. saiz and saio are left out when every entry is empty (constant
 * IV without subsamples: cbcs audio). *out is one memory piece. Returns 0,
 * -ENOENT (empty fragment), -ENOTSUP (an entry over 255 bytes, which saiz
 * cannot state: logged), -ENOMEM, a source read error (logged), the encrypt
 * callback's error, or -EIO when the callback wrote an entry of another size
 * than p->subsample_counts promised (logged).
 *
 * pk_cmaf_fragment_protected_size: its exact size in *size, without reading or
 * encrypting (the senc sizes come from p->subsample_counts); the header size
 * alike (the I-frame byte range in HLS, as pk_cmaf_fragment_header_size).
 * Return 0, -ENOENT or -ENOTSUP as above.
 */
void pk_cmaf_init_protected(const pk_vtrack_t *vt, const pk_protect_t *p, wr_t *w);
int pk_cmaf_fragment_protected(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                               arena_t *a, pk_plan_t *out);
int pk_cmaf_fragment_protected_size(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                                    uint64_t *size);
int pk_cmaf_fragment_protected_header_size(const pk_vtrack_t *vt, uint32_t k,
                                           const pk_protect_t *p, uint64_t *size);

/*
 * Smooth Streaming fragment k: moof (mfhd, traf: tfhd, trun, uuid tfxd with
 * the fragment's absolute time and duration in the track timescale), mdat.
 * No tfdt, no default-base-is-moof (neither is in MS-SSTR's grammar); trun v0
 * with the source's own, non-negative composition offsets (cto_out + cto_shift),
 * so video presents cto_shift after the fragment time, as IIS Smooth streams do.
 * Returns as pk_cmaf_fragment.
 */
int pk_smooth_fragment(const pk_vtrack_t *vt, uint32_t k, arena_t *a, pk_plan_t *out);

/* Where an encrypted Smooth fragment keeps its per-sample IVs and subsamples. */
typedef enum {
    PK_SMOOTH_SENC = 0,         /* encryption=cenc: the 23001-7 senc box */
    PK_SMOOTH_PIFF = 1,         /* encryption=piff: PIFF 1.1's SampleEncryptionBox, uuid
                                 * a2394f52-5a9b-4f14-a244-6c427c648df4 (same fields) */
} pk_smooth_box_t;

/*
 * Encrypted Smooth fragment k (PlayReady-style cenc: AES-CTR, 8-byte per-sample
 * IVs, subsamples for video, whole samples for audio): pk_smooth_fragment with
 * the encryption of pk_cmaf_fragment_protected (the same writer and callback
 * contract). traf: tfhd, trun, the sample encryption box (`box`; flags 0x2 with
 * subsamples, never PIFF's override flag 0x1), saiz, saio (its one offset: the
 * first IV, moof-relative, which is the base of the traf without
 * default-base-is-moof too), tfxd. No sinf/tenc anywhere: a Smooth client makes
 * its own init segment, the KID from the manifest's ProtectionHeader.
 *
 * Returns as pk_cmaf_fragment_protected, plus -EINVAL (logged) when p is not
 * cenc with 8-byte IVs. pk_smooth_fragment_protected_size: its exact size
 * without reading or encrypting; 0, -ENOENT, -ENOTSUP, -EINVAL.
 */
int pk_smooth_fragment_protected(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                                 pk_smooth_box_t box, arena_t *a, pk_plan_t *out);
int pk_smooth_fragment_protected_size(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                                      pk_smooth_box_t box, uint64_t *size);

#endif
