/*
 * Subsample layouts of protected samples: which bytes of a sample stay clear and
 * which are encrypted (ISO/IEC 23001-7 9.5 'cenc', 10.4 'cbcs'; 23000-19 CMAF
 * 8.2.2), the shaka-packager behaviour (subsample_generator.cc):
 *
 *   - AVC/HEVC (avc1 avc3 hvc1 hev1): the sample is a run of NAL units, each behind a
 *     t->nal_length_size-byte length. Every length prefix and NAL header stays
 *     clear; non-VCL NAL units (SEI, parameter sets, AUD, ...) stay wholly clear;
 *     in a slice NAL unit the slice header stays clear too (mandatory for cbcs,
 *     packager practice for cenc): the header is parsed in full with the SPS/PPS it
 *     refers to, its length in RBSP bits is mapped to bytes of the NAL unit as
 *     stored (emulation prevention bytes counted) and rounded up to a byte. The
 *     rest of the slice is protected. For cenc-family schemes the protected count
 *     of each subsample is cut to a multiple of 16, the remainder moved into the
 *     clear count (CMAF). Clear runs merge into the clear count of the next
 *     subsample; a clear count above 65535 (senc BytesOfClearData is 16 bits) is
 *     split into subsamples of 65535 clear and 0 protected bytes before it.
 *     A sample without a protected byte is all-clear subsamples (never zero of
 *     them: senc flag 0x2 needs a count for every sample).
 *   - Audio (mp4a, ac-3, ec-3, ...): whole-sample protection, no subsample list.
 *
 * Which NAL units are protected: AVC nal_unit_type 1 and 5 (coded slices). Types
 * 2-4 (data partitions, Extended profile only, which no encoder in use makes)
 * stay clear, as does everything else. HEVC nal_unit_type 0-9 and 16-21 (the
 * defined VCL types); the reserved VCL types 10-15 and 22-31 stay clear. HEVC
 * slices with nuh_layer_id > 0 (MV-HEVC, SHVC) and SCC profiles are -ENOTSUP.
 *
 * Parameter sets: those of the decoder config (avcC, hvcC), replaced or added by
 * the SPS/PPS NAL units met in band (avc3/hev1 may carry them only there). The
 * state lives in the cr_subsample_ctx_t: give it the samples of a track in decode
 * order, from a sync sample on (a fragment does), and one context per thread.
 *
 * Apple's SAMPLE-AES for H.264 in TS has a rule of its own (no slice header parse, a
 * fixed 32-byte leader, crypt/aes.h cr_aes_saes_nal); cr_subsample_saes_growth() below
 * works out what it does to each sample's size.
 */
#ifndef CR_SUBSAMPLE_H
#define CR_SUBSAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "aes.h"
#include "../pack/arena.h"
#include "../pack/media.h"
#include "../pack/source.h"

/* The largest BytesOfClearData of one senc entry. */
#define CR_SUBSAMPLE_MAX_CLEAR 65535u

/* One senc subsample entry (23001-7 7.2.2), the same layout as cr_aes_sub_t. */
typedef struct {
    uint32_t clear;             /* BytesOfClearData, <= CR_SUBSAMPLE_MAX_CLEAR */
    uint32_t prot;              /* BytesOfProtectedData */
} cr_subsample_t;

typedef struct cr_subsample_ctx cr_subsample_ctx_t;

/*
 * A layout context for the samples of track t under `scheme`, a fourcc:
 * 'cenc', 'cens', 'cbc1' and 'piff' (protected counts cut to 16-byte multiples) or
 * 'cbcs' (protected data from the first byte after the slice header). For video
 * it parses the parameter sets of t's decoder config (t->entry + t->dsi_off,
 * t->dsi_size; the context keeps no pointer to t). Allocated in `a`, lives as long
 * as `a`; keep one per thread.
 *
 * Returns 0 and sets *out; -EINVAL for another scheme; -ENOTSUP for a video codec
 * other than AVC/HEVC, a text track, or an unsupported stream (HEVC SCC profile);
 * -EBADMSG when the decoder config or one of its SPS/PPS is malformed (logged);
 * -ENOMEM.
 */
int cr_subsample_init(const pk_track_t *t, uint32_t scheme, arena_t *a,
                      cr_subsample_ctx_t **out);

/*
 * The layout of one sample `sample[0..size)` as stored in the MP4. Returns n >= 0,
 * the number of subsamples, and writes the first min(n, cap) of them to out
 * (out may be NULL with cap 0: counting only, like snprintf). n == 0 means whole-
 * sample protection (audio: no subsample list); for video n >= 1 and the
 * subsamples cover exactly `size` bytes (a 0-byte sample is one {0, 0}).
 * Parameter sets met in the sample update the context (see top), also when
 * counting.
 *
 * Errors (each logged once, with the track, NAL unit type and offset):
 *   -EBADMSG  a NAL length passing the end of the sample, a slice header or an
 *             in-band SPS/PPS that does not parse, a slice whose PPS or SPS is unknown;
 *   -ENOTSUP  a slice of a layer > 0 (HEVC), or more than 65535 subsamples.
 */
int cr_subsample_layout(cr_subsample_ctx_t *c, const uint8_t *sample, size_t size,
                        cr_subsample_t *out, size_t cap);

/* The number of subsamples of one sample: cr_subsample_layout(c, sample, size, NULL, 0). */
int cr_subsample_count(cr_subsample_ctx_t *c, const uint8_t *sample, size_t size);

/*
 * The subsample count of every sample of track t, for exact senc/saiz sizes without
 * reading media again: (*out)[i] is what cr_subsample_count gives for sample i
 * (0 for every sample of an audio track: no subsample list, nothing is read).
 * Reads all samples of a video track through src, in order, contiguous samples
 * coalesced into reads of up to 1 MiB (the buffer is malloc'd and freed here).
 * The array (t->sample_count entries) comes from `a`.
 *
 * The counts depend on the scheme class: 'cbcs' and the cenc family can differ
 * (16-byte alignment moves small protected ranges into the clear), so a cache
 * key must name the class. Cache format (the fs layer keeps it in the LMDB
 * index, once per file, track and class): the array as is, host-endian
 * uint16_t, t->sample_count of them, nothing else (2 * sample_count bytes).
 *
 * Returns 0 and sets *out; the errors of cr_subsample_init and
 * cr_subsample_layout; -EBADMSG when a sample lies past the end of src (logged);
 * the error of src->read; -ENOMEM.
 */
int cr_subsample_counts(const pk_track_t *t, uint32_t scheme, const pk_source_t *src,
                        arena_t *a, uint16_t **out);

/*
 * Apple SAMPLE-AES (HLS_Sample_Encryption 2.2) of H.264 track t, as the TS writer emits
 * it: (*out)[i] is the number of bytes sample i grows by when each of its NAL units is
 * written with cr_aes_saes_nal_write() (the emulation prevention its protected units
 * need after encryption; length fields, start codes and parameter sets are the same in
 * both forms and not counted). With them a SAMPLE-AES segment's size and continuity
 * counters come from the sample table, as a clear one's do. c: a CR_AES_CBC_ENCRYPT
 * context of the track's key, iv its constant IV. Reads every sample through src in
 * order, as cr_subsample_counts does; the array (t->sample_count entries) comes from a.
 *
 * The growth depends on the cipher text: a cache key must name the key and IV, not only
 * the file and track. Cache format: the array as is, host-endian uint32_t,
 * t->sample_count of them (4 * sample_count bytes).
 *
 * Returns 0 and sets *out; -ENOTSUP (not an H.264 video track: logged); -EBADMSG (a NAL
 * length passing the end of its sample, a sample past the end of src: logged); the
 * error of src->read or of cr_aes_saes_nal_write; -ENOMEM.
 */
int cr_subsample_saes_growth(const pk_track_t *t, cr_aes_t *c, const uint8_t iv[16],
                             const pk_source_t *src, arena_t *a, uint32_t **out);

#endif
