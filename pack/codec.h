/*
 * Sample entries and codec configuration: from the stsd entry of a track to the
 * codec fields of the model (RFC 6381 codecs string, picture size, audio format,
 * decoder config location).
 */
#ifndef PK_CODEC_H
#define PK_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "media.h"

/*
 * Parses one whole sample entry box (`entry` = size, type, body; `len` bytes) of
 * a track whose handler made it `t->type`, and fills t->fourcc, codec, width,
 * height, channels, sample_rate, nal_length_size, object_type, audio_object_type,
 * max_bitrate, dsi_off and dsi_size (offsets into `entry`). Does not keep `entry`.
 *
 * Known entries: avc1 avc3 (avcC), hvc1 hev1 (hvcC), mp4a (esds: AAC and MP3),
 * ac-3 (dac3), ec-3 (dec3), wvtt, stpp. Encrypted entries (encv/enca) are ENOTSUP.
 *
 * Returns 0; -EBADMSG when the entry or its config box is malformed; -ENOTSUP for
 * an entry type the model does not know. Logs nothing: the caller knows the file
 * and box path and logs once.
 */
int pk_codec_parse_entry(const uint8_t *entry, size_t len, pk_track_t *t);

/*
 * Writes the parameter sets of an AVC/HEVC decoder config to w as Annex B NAL
 * units, each behind the start code 00 00 00 01: avcC SPS then PPS; hvcC every NAL
 * unit of every array in order (VPS, SPS, PPS, SEI as stored). `fourcc` is the
 * sample entry type, `dsi`/`len` the config box body (t->entry + t->dsi_off,
 * t->dsi_size). Count mode (w->buf == NULL) gives the size. Checks the whole
 * config before writing, so w receives all of it or nothing.
 *
 * Returns 0; -EBADMSG when the config is malformed; -ENOTSUP when fourcc is not
 * avc1 avc3 hvc1 hev1; -ENOSPC (also left in w->err) when w's buffer is short.
 */
int pk_codec_param_sets(uint32_t fourcc, const uint8_t *dsi, size_t len, wr_t *w);

#endif
