/*
 * Smooth Streaming client manifest (MS-SSTR 2.2.2), v2.2 with r= repeats: one
 * StreamIndex per media type and track name, TimeScale per StreamIndex = the
 * tracks' own timescale, CodecPrivateData for H.264 (Annex B SPS/PPS hex) and AAC
 * (AudioSpecificConfig hex). Fragment URLs:
 * QualityLevels({bitrate})/Fragments(NAME={start time}), with the encryption option after
 * the time when encrypted.
 */
#ifndef PK_SMOOTH_H
#define PK_SMOOTH_H

#include "bytes.h"
#include "protect.h"
#include "view.h"

/*
 * Writes the manifest of v through w (count mode gives the size).
 *
 * Smooth describes H.264 video (FourCC H264) and AAC audio (AACL; AACH for
 * HE-AAC): the codecs of the AMS Smooth output and of the players that still
 * read Smooth (dash.js MSS, ExoPlayer). Tracks of other codecs (HEVC, AC-3,
 * E-AC-3, MP3) are left out of the manifest, each with a warning.
 *
 * The tracks of one StreamIndex share its Url, TimeScale and chunk list, so
 * tracks of one type and name must have one timescale and the same fragment
 * start times. Root TimeScale is 10 000 000 and Duration is in it.
 *
 * Returns 0, w->err, or
 *   -ENOTSUP  (logged) no track Smooth can describe, or tracks of one StreamIndex
 *             whose timescales or fragment times differ;
 *   -EBADMSG  (logged) an avcC whose parameter sets do not parse;
 *   -ENOMEM   parameter sets longer than 512 bytes and no memory to hex them.
 *
 * Known player limit: dash.js 4.7 (MssParser) rebases a manifest whose first
 * chunk time is not 0 by subtracting the smallest first t of all StreamIndexes
 * without converting timescales, so a trimmed view (filter with a time range)
 * whose video and audio timescales differ plays out of sync there.
 */
int pk_smooth_manifest(const pk_view_t *v, const pk_urlopts_t *o, wr_t *w);

/*
 * Encrypted (o->drm set): the manifest also has <Protection> with one
 * <ProtectionHeader SystemID="9a04f079-9840-4286-ab92-e65be0885f95"> (PlayReady)
 * holding the track drm's smooth_header as given, else base64 of its smooth_pro
 * (pack/protect.h), and o->segment (",encryption=cenc" or ",encryption=piff")
 * goes into every Url template after the time. Smooth has one ProtectionHeader
 * per presentation, so every track the manifest lists must have one key
 * (pk_smooth_one_key), else -ENOTSUP (logged); -EINVAL (logged) when the drm
 * has neither a header nor a PRO.
 *
 * pk_smooth_one_key: 1 when every track pk_smooth_manifest lists has a drm in
 * `drm` and all have the same KID, 0 otherwise (and for a view it lists nothing of).
 */
int pk_smooth_one_key(const pk_view_t *v, const pk_drm_t *drm);

#endif
