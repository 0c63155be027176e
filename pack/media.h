/*
 * The media model: what one source file holds, as tracks with compact sample
 * tables. Produced by the MP4 reader (pack/mp4.h), stored in and viewed
 * zero-copy from the media index (pk_media_pack / pk_media_unpack), consumed by
 * the segmenters and writers.
 *
 * Times: every time is in the track's own media timescale (mdhd). A sample's
 * decode time (dts) is "raw": as the file's stts/tfdt count it, starting where
 * the file starts it. The presentation timeline applies the edit list:
 *     pts(i) = dts(i) + cto(i) - media_time + empty_edit
 * which is also what ffprobe reports for the sample.
 */
#ifndef PK_MEDIA_H
#define PK_MEDIA_H

#include <stdint.h>

#include "arena.h"
#include "bytes.h"

typedef enum {
    PK_TRACK_VIDEO = 1,
    PK_TRACK_AUDIO = 2,
    PK_TRACK_TEXT = 3,
} pk_track_type_t;

/* One sample: 16 bytes, so a 2-hour 30 fps track costs ~3.5 MB. */
typedef struct {
    uint64_t pos;               /* byte offset in the source file */
    uint32_t size;              /* bytes */
    int32_t cto;                /* composition offset (ctts v0/v1, trun), media timescale */
} pk_sample_t;

/* A run of consecutive samples of equal duration (stts-like). Runs cover the
 * samples in order, with no gap in sample indices; their decode times may jump
 * (fragmented input whose tfdt skips). */
typedef struct {
    uint64_t dts;               /* decode time of the run's first sample, media timescale */
    uint32_t first;             /* index of the run's first sample */
    uint32_t count;             /* samples in the run, > 0 */
    uint32_t delta;             /* duration of each sample of the run, media timescale */
    uint32_t reserved;
} pk_run_t;

typedef struct pk_track {
    uint32_t id;                /* tkhd track_ID */
    pk_track_type_t type;
    uint32_t fourcc;            /* sample entry type: avc1 avc3 hvc1 hev1 mp4a ac-3 ec-3 wvtt stpp */
    char codec[48];             /* RFC 6381 codecs string, e.g. "avc1.64001f", "mp4a.40.2" */
    char lang[4];               /* ISO 639-2/T from mdhd, "und" when unset */
    uint32_t timescale;         /* mdhd timescale, ticks per second, > 0 */
    uint64_t duration;          /* sum of sample durations, media timescale */
    uint64_t media_time;        /* edit list: first presented media time (0 without elst) */
    uint64_t empty_edit;        /* edit list: leading empty edit, in media timescale */
    uint32_t bitrate;           /* average, bit/s, from the sample sizes and duration */
    uint32_t max_bitrate;       /* from esds/btrt when present, else 0 */
    uint16_t width, height;     /* video: sample entry size in pixels */
    uint16_t channels;          /* audio */
    uint32_t sample_rate;       /* audio, Hz */
    uint8_t nal_length_size;    /* avc/hevc: bytes of each NAL length prefix (1, 2 or 4) */
    uint8_t object_type;        /* mp4a: esds objectTypeIndication (0x40 = MPEG-4 audio) */
    uint8_t audio_object_type;  /* mp4a with OTI 0x40: AudioSpecificConfig AOT (2 = AAC-LC) */

    const uint8_t *entry;       /* the whole stsd sample entry box, entry_size bytes */
    uint32_t entry_size;
    uint32_t dsi_off, dsi_size; /* decoder config within entry: avcC/hvcC/dac3/dec3 body,
                                 * AudioSpecificConfig for AAC; 0/0 when none */

    uint32_t sample_count;
    const pk_sample_t *samples; /* [sample_count] */
    uint32_t run_count;
    const pk_run_t *runs;       /* [run_count] */
    uint32_t sync_count;        /* sync samples; == sample_count when every sample is sync */
    const uint32_t *sync;       /* [sync_count] ascending sample indices, NULL when all are sync */
} pk_track_t;

typedef struct pk_media {
    uint32_t track_count;
    pk_track_t *tracks;         /* [track_count], in file order */
    uint32_t movie_timescale;   /* mvhd */
    uint64_t movie_duration;    /* mvhd (or mehd), movie timescale */
    int fragmented;             /* 1 when samples came from moof boxes */
} pk_media_t;

/* Decode time of sample i (raw, see top), i < t->sample_count. */
uint64_t pk_track_dts(const pk_track_t *t, uint32_t i);

/* Duration of sample i. */
uint32_t pk_track_sample_duration(const pk_track_t *t, uint32_t i);

/* Whether sample i is a sync (key) sample. */
int pk_track_is_sync(const pk_track_t *t, uint32_t i);

/* Presentation time of sample i on the edit-list timeline (may be negative for
 * samples before the edit). */
int64_t pk_track_pts(const pk_track_t *t, uint32_t i);

/* Presentation-timeline decode time of sample i: dts - media_time + empty_edit. */
int64_t pk_track_dts_presented(const pk_track_t *t, uint32_t i);

/* The first track of the given type, or NULL. */
const pk_track_t *pk_media_find(const pk_media_t *m, pk_track_type_t type);

/* The track with tkhd id `id`, or NULL. */
const pk_track_t *pk_media_track(const pk_media_t *m, uint32_t id);

/* Fills duration and bitrate from the runs and sample sizes. For readers. */
void pk_track_finish(pk_track_t *t);

/* "video", "audio", "text". */
const char *pk_track_type_name(pk_track_type_t type);

/*
 * Serialisation for the media index: one self-contained blob per media.
 * pk_media_pack writes it through w (count mode gives the size first).
 * pk_media_unpack validates a blob and returns a media whose track structs are
 * allocated in `a` and whose tables (samples, runs, sync, entry) point INTO the
 * blob when it is 8-byte aligned (zero copy: the blob must outlive the media),
 * else into copies in `a`. Blobs are host-endian: the index is local to a machine.
 * Returns 0, -EBADMSG (not a valid blob of this version) or -ENOMEM.
 */
void pk_media_pack(const pk_media_t *m, wr_t *w);
int pk_media_unpack(const void *blob, size_t len, arena_t *a, pk_media_t **out);

/* As pk_media_unpack, but every table is copied into `a`: the media outlives the blob. */
int pk_media_unpack_copy(const void *blob, size_t len, arena_t *a, pk_media_t **out);

#endif
