/*
 * HLS playlists (RFC 8216): masters and media playlists for the three AMS HLS
 * formats, and I-frame playlists.
 *
 *   PK_HLS_V4   m3u8-aapl:    TS, video-only variants, audio in EXT-X-MEDIA groups,
 *                             I-frame stream entries, audio-only variant last
 *   PK_HLS_V3   m3u8-aapl-v3: TS with the default (first) audio muxed into each
 *                             video variant (audiotrack= in the child URLs)
 *   PK_HLS_CMAF m3u8-cmaf:    fMP4 (CMAF) segments with EXT-X-MAP, version 7
 */
#ifndef PK_HLS_H
#define PK_HLS_H

#include "arena.h"
#include "bytes.h"
#include "protect.h"
#include "view.h"

typedef enum { PK_HLS_V4 = 0, PK_HLS_V3, PK_HLS_CMAF } pk_hls_format_t;

/*
 * Encrypted HLS (RFC 8216 4.3.2.4, 4.3.4.5; ams-facts §5.2-5.4), as fs/keys.c fills it from
 * the CPIX and pk_urlopts_t.hls carries it to the writers below. pack/ never sees a key:
 * what needs one (the AES-128 IVs) is a callback.
 *
 * The METHOD is one per output: SAMPLE-AES for cbcs (CMAF cbcs, or Apple's TS SAMPLE-AES),
 * SAMPLE-AES-CTR for cenc (CMAF), AES-128 for whole segments, TS or CMAF (CBC, PKCS7; a
 * CMAF playlist's init section too, RFC 8216 4.3.2.5, with its own IV). Each system
 * of a key gives one EXT-X-KEY line in media playlists and I-frame playlists (before
 * EXT-X-MAP) and one EXT-X-SESSION-KEY line in masters (once per key):
 *   FairPlay  METHOD=SAMPLE-AES,URI="skd://...",KEYFORMAT="com.apple.streamingkeydelivery",
 *             KEYFORMATVERSIONS="1" (cbcs only: FairPlay has no CTR mode)
 *   Widevine  METHOD=...,URI="data:text/plain;base64,<pssh box>",KEYID=0x<KID>,
 *             KEYFORMAT="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",KEYFORMATVERSIONS="1"
 *   PlayReady METHOD=...,URI="data:text/plain;charset=UTF-16;base64,<PRO>",
 *             KEYFORMAT="com.microsoft.playready",KEYFORMATVERSIONS="1"
 *   identity  the key itself at `uri` (RFC 8216 5.2 key file; shaka-player's "ClearKey"):
 *             CMAF METHOD=...,URI="<uri>",KEYFORMAT="identity",KEYFORMATVERSIONS="1";
 *             TS METHOD=SAMPLE-AES,URI="<uri>",IV=0x<constant IV> (written last: ffmpeg's
 *             HLS demuxer keeps the last EXT-X-KEY it reads)
 * Widevine and PlayReady are CMAF only (no player decrypts them in TS). A system the CPIX
 * gives HLSSignalingData for is written with those lines instead (media ones in playlists,
 * master ones in masters, else the media ones as EXT-X-SESSION-KEY), each line that starts
 * with the right tag, has the playlist's METHOD and no control character; a system whose
 * given lines all fail that is written as built. AES-128 outputs have no systems: an
 * EXT-X-KEY with the key URI and that segment's IV before each segment, and masters an
 * EXT-X-SESSION-KEY with the URI; a CMAF playlist one EXT-X-KEY with the init section's
 * IV before EXT-X-MAP. Encrypted TS and AES-128 CMAF have no I-frame playlists (a byte
 * range of a whole-segment CBC file cannot be decrypted alone; SAMPLE-AES TS sizes are not
 * known without encrypting). One EXT-X-KEY covers a whole segment, so v3 playlists
 * whose muxed audio has another key than the video do not exist (nor a v3 master with one).
 */
typedef enum {
    PK_HLS_SAMPLE_AES = 1,      /* cbcs */
    PK_HLS_SAMPLE_AES_CTR,      /* cenc */
    PK_HLS_AES_128,             /* whole segments (TS, CMAF) */
} pk_hls_method_t;

typedef enum {
    PK_HLS_FAIRPLAY = 1,
    PK_HLS_WIDEVINE,
    PK_HLS_PLAYREADY,
    PK_HLS_IDENTITY,            /* the CPIX's ClearKey or W3C common system, or none at all */
} pk_hls_system_kind_t;

/* One DRM system's signalling for one key. */
typedef struct {
    pk_hls_system_kind_t kind;
    pk_bytes_t data;            /* Widevine: the complete pssh box; PlayReady: the PRO */
    const char *uri;            /* FairPlay: its skd:// URI (CPIX URIExtXKey); identity: the
                                 * key URI; NULL: none (the line is left out) */
    const char *media;          /* CPIX HLSSignalingData for media playlists (#EXT-X-KEY
                                 * lines, LF- or CRLF-separated), or NULL */
    const char *master;         /* ... for masters (#EXT-X-SESSION-KEY lines), or NULL */
} pk_hls_system_t;

/* The signalling of one key. */
typedef struct {
    uint8_t kid[16];            /* UUID byte order (KEYID) */
    const char *key_uri;        /* AES-128: the key URI (required); NULL otherwise */
    int has_iv;
    uint8_t iv[16];             /* SAMPLE-AES: the constant IV (TS identity lines) */
    uint32_t system_count;
    const pk_hls_system_t *systems;     /* [system_count], the CPIX's order */
} pk_hls_key_t;

/* AES-128: the IV of segment k of track vt (mux: the audio muxed beside it in v3, else
 * NULL) into iv; k == PK_HLS_INIT: of vt's CMAF init section. Distinct for every segment of
 * every track under one key; the same for the same segment in every playlist (and when the
 * segment itself is encrypted). Returns 0 or a negative errno, which the writer returns. */
#define PK_HLS_INIT UINT32_MAX

typedef int (*pk_hls_iv_fn)(void *ctx, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                            uint32_t k, uint8_t iv[16]);

typedef struct pk_hls_keys {
    pk_hls_method_t method;
    uint32_t track_count;
    const pk_hls_key_t *const *tracks;  /* [track_count]: the key of each view track (the
                                         * view the writer is given), shared by the tracks
                                         * of one key */
    const pk_protect_t *const *protect; /* [track_count] CMAF: each track's protection for
                                         * sizes (subsample counts; BANDWIDTH, I-frame byte
                                         * ranges); NULL entries (or array) where no size
                                         * is asked for */
    const struct pk_ts_saes *const *saes; /* [track_count] SAMPLE-AES TS: each track's
                                         * transform (pack/ts.h), for the sizes of masters'
                                         * BANDWIDTH; NULL: clear TS sizes are taken */
    pk_hls_iv_fn iv;                    /* AES-128 */
    void *iv_ctx;
} pk_hls_keys_t;

/*
 * The master playlist of v (order and names: pack/hls.c). BANDWIDTH is the peak and
 * AVERAGE-BANDWIDTH the mean segment bit rate as RFC 8216 §4.3.4.2 defines them, measured
 * on the bytes of that format's segments (TS sizes by pk_ts_segment in count mode, CMAF by
 * header size + sample bytes), for the variant's video plus the heaviest audio of its
 * group; CODECS and RESOLUTION always, FRAME-RATE for a constant frame rate. `o` may be
 * NULL (no options). With o->hls: EXT-X-SESSION-KEY lines after the header, sizes of the
 * encrypted segments (o->hls->protect needed for every track of a CMAF master), no I-frame
 * streams for TS. `a` holds working arrays only. Returns 0, -ENOENT (a view with neither
 * video nor audio; encrypted V3 whose audio has another key than a video), -ENOMEM,
 * -EINVAL (o->hls lacks a track's key or protection, or its method does not fit fmt), an
 * error of the segment size computation, or w->err.
 */
int pk_hls_master(const pk_view_t *v, pk_hls_format_t fmt, const pk_urlopts_t *o, arena_t *a,
                  wr_t *w);

/*
 * The media playlist of track vt (for V3, `mux` is the audio muxed into the segments of a
 * video track, else NULL): EXTINF exact to the ms (no drift: their sum is the listed
 * duration rounded), TARGETDURATION the ceiling of the longest, MEDIA-SEQUENCE the index
 * of the first listed fragment (stable across filtered views), INDEPENDENT-SEGMENTS,
 * EXT-X-MAP for CMAF, ENDLIST. With o->hls, the EXT-X-KEY lines of vt's key (before
 * EXT-X-MAP), or for AES-128 one EXT-X-KEY with its IV before each segment and, for CMAF,
 * before EXT-X-MAP (the IVs of o->hls->iv, for vt and mux; PK_HLS_INIT for the map). Returns 0, -EINVAL (a mux outside V3, or not audio beside
 * video; o->hls without vt's key or with a method fmt does not have), -ENOENT (encrypted,
 * mux under another key than vt), the IV callback's error, or w->err.
 */
int pk_hls_media(const pk_view_t *v, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                 pk_hls_format_t fmt, const pk_urlopts_t *o, wr_t *w);

/*
 * The I-frame playlist of video track vt: EXT-X-I-FRAMES-ONLY, one entry per fragment
 * with EXT-X-BYTERANGE covering its first key frame in the segment: for V4 the TS range of
 * pk_ts_keyframe_range, for CMAF styp+moof+mdat header and the first sample (the mdat is
 * cut after it, as fMP4 I-frame playlists do). V3 has none (its master lists none: I-frame
 * playlists are version 4). With o->hls (CMAF in SAMPLE-AES or SAMPLE-AES-CTR only), the
 * EXT-X-KEY lines of vt's key and byte ranges of the encrypted fragments (o->hls->protect
 * for vt needed). `a` is unused (TS ranges are measured in scratch arenas). Returns 0,
 * -ENOENT (V3, vt is not video, encrypted TS or AES-128), -EINVAL (as pk_hls_media, or no protection for vt), an error of
 * pk_ts_keyframe_range, or w->err.
 */
int pk_hls_iframes(const pk_view_t *v, const pk_vtrack_t *vt, pk_hls_format_t fmt,
                   const pk_urlopts_t *o, arena_t *a, wr_t *w);

#endif
