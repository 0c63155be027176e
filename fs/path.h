/*
 * The URL grammar inside NAME.ism/ (DESIGN §1): what a name asks for.
 *
 * Lookup is lenient (option order free, blanks after commas, an optional
 * .m3u8/.mpd suffix on manifests and playlists, keywords case-insensitive);
 * names are exact; fs_path_format() writes the one canonical spelling that
 * listings and manifests use.
 */
#ifndef FS_PATH_H
#define FS_PATH_H

#include <stddef.h>
#include <stdint.h>

#define FS_NAME_MAX 255         /* longest track or filter name */
#define FS_FILTERS_MAX 3

typedef enum {
    FS_REQ_MANIFEST = 1,        /* manifest[(options)] */
    FS_REQ_QUALITY_DIR,         /* QualityLevels(BITRATE) */
    FS_REQ_PLAYLIST,            /* QualityLevels(BITRATE)/Manifest(TRACK,options): HLS media playlist */
    FS_REQ_FRAGMENT,            /* QualityLevels(BITRATE)/Fragments(TRACK=TIME|i[,options]) */
} fs_req_kind_t;

typedef enum {
    FS_FMT_SMOOTH = 0,          /* no format= : Smooth manifest or Smooth fragment */
    FS_FMT_MPD_CSF,             /* mpd-time-csf (manifest) */
    FS_FMT_MPD_CMAF,            /* mpd-time-cmaf (manifest) */
    FS_FMT_HLS_V4,              /* m3u8-aapl: manifest, playlist, TS fragment */
    FS_FMT_HLS_V3,              /* m3u8-aapl-v3: manifest, playlist, muxed TS fragment */
    FS_FMT_HLS_CMAF,            /* m3u8-cmaf: manifest, playlist */
    FS_FMT_CMAF,                /* CMAF fragment; format=cmaf, or mpd-time-csf, mpd-time-cmaf,
                                 * m3u8-cmaf on a fragment */
} fs_format_t;

typedef enum {
    FS_ENC_NONE = 0,
    FS_ENC_CBC,                 /* encryption=cbc */
    FS_ENC_CENC,                /* encryption=cenc */
    FS_ENC_CBCS,                /* encryption=cbcs-aapl (also accepted: cbcs) */
    FS_ENC_PIFF,                /* encryption=piff */
} fs_encryption_t;

typedef struct {
    fs_req_kind_t kind;
    fs_format_t format;
    fs_encryption_t encryption;
    uint32_t bitrate;           /* QualityLevels(N): N */
    char track[FS_NAME_MAX + 1];        /* Manifest(TRACK,...) / Fragments(TRACK=...) */
    int init;                   /* Fragments(TRACK=i): the init segment */
    uint64_t time;              /* Fragments(TRACK=TIME): start in the track's timescale */
    int keyframes;              /* type=keyframes (I-frame playlist) */
    char audiotrack[FS_NAME_MAX + 1];   /* audiotrack= ("" when absent) */
    uint32_t filter_count;
    char filters[FS_FILTERS_MAX][FS_NAME_MAX + 1];  /* filter=a;b;c in the given order */
    int audio_only_false;       /* audio-only=false */
} fs_path_t;

/*
 * Parses `rel`, a path below NAME.ism/ without a leading '/', e.g.
 * "manifest(format=m3u8-aapl,filter=a;b)" or
 * "QualityLevels(128000)/Fragments(aac_eng_2_128000=0,format=m3u8-aapl)".
 * Returns 0 and fills *out, or -ENOENT for anything that is not a name of the
 * grammar (a valid name of something that does not exist is for the view to
 * refuse, not the parser).
 */
int fs_path_parse(const char *rel, fs_path_t *out);

/*
 * Writes the canonical spelling of *p into buf (NUL-terminated): for a
 * QUALITY_DIR "QualityLevels(N)", for the others the last component only
 * ("manifest(...)", "Manifest(...)", "Fragments(...)"). Returns the length it
 * needs (excluding the NUL), like snprintf, so a short buffer can be detected.
 */
size_t fs_path_format(const fs_path_t *p, char *buf, size_t cap);

#endif
