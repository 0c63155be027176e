/*
 * Smooth Streaming client manifest (MS-SSTR 2.2.2), v2.2 with r= repeats: one
 * StreamIndex per media type (audio: per name), TimeScale per StreamIndex = the
 * tracks' own timescale, CodecPrivateData for H.264 (Annex B SPS/PPS hex) and AAC
 * (AudioSpecificConfig hex). Fragment URLs: QualityLevels({bitrate})/Fragments(NAME={start time}).
 */
#ifndef PK_SMOOTH_H
#define PK_SMOOTH_H

#include "bytes.h"
#include "view.h"

/* Writes the manifest of v through w. Returns 0, -ENOTSUP (a codec Smooth
 * cannot describe, logged), or w->err. */
int pk_smooth_manifest(const pk_view_t *v, const pk_urlopts_t *o, wr_t *w);

#endif
