/*
 * CPIX 2.2/2.3 reader (DASH-IF Content Protection Information Exchange): the content keys,
 * the DRM signalling per key and system, and the usage rules that choose a key per track.
 * Facts: notes/ams-facts.md §6; the element and attribute names are those of cpix.xsd.
 *
 * Supported: plain content keys (Data/pskc:Secret/pskc:PlainValue), DRMSystem with PSSH,
 * ContentProtectionData, HLSSignalingData, SmoothStreamingProtectionHeaderData and
 * URIExtXKey, ContentKeyUsageRule with VideoFilter (pixel range), AudioFilter (channel
 * range) and BitrateFilter. Refused: encrypted documents (DeliveryDataList, EncryptedValue)
 * and key hierarchies (dependsOnKey) with -ENOTSUP. Signatures are neither required nor
 * checked. KeyPeriodFilter, LabelFilter, VideoFilter@hdr/wcg/minFps/maxFps and filters of
 * unknown type make their rule "unusable"; CPIX then forbids choosing keys by the rules
 * of the document at all, so cr_cpix_key_for() fails for every track (-ENOKEY).
 *
 * Secrecy: key bytes live only in cr_key_t.key; no log line ever shows a key or its
 * base64 (lines name the file, the line, the element and the KID). The arena wipes every
 * key (explicit_bzero) when it is freed; the parser also wipes its copies and libxml2's
 * text node holding the base64. The caller owns `xml` and wipes it.
 *
 * Ownership: everything cr_cpix_parse() returns lives in the arena passed to it, until
 * arena_free(). The result is immutable and may be read from several threads.
 */
#ifndef CR_CPIX_H
#define CR_CPIX_H

#include <stddef.h>
#include <stdint.h>

#include "../pack/arena.h"
#include "uuid.h"
#include "../pack/media.h"


/* The DRM systems ismfs knows (a DRMSystem with any other systemId is an error). */
typedef enum {
    CR_DRM_WIDEVINE = 1,        /* edef8ba9-79d6-4ace-a3c8-27dcd51d21ed */
    CR_DRM_PLAYREADY = 2,       /* 9a04f079-9840-4286-ab92-e65be0885f95 */
    CR_DRM_FAIRPLAY = 3,        /* 94ce86fb-07ff-4f43-adb8-93d2fa968ca2 */
    CR_DRM_CLEARKEY = 4,        /* e2719d58-a985-b3c9-781a-b030af78d30e (DASH-IF ClearKey) */
    CR_DRM_W3C_COMMON = 5,      /* 1077efec-c0b2-4d02-ace3-3c1e52e2fb4b (W3C common pssh) */
} cr_drm_t;

/* One ContentKey. */
typedef struct {
    uint8_t kid[16];            /* @kid, UUID bytes in text order (as in tenc/pssh) */
    uint8_t key[16];            /* PlainValue: SECRET, never log; wiped at arena_free() */
    uint8_t iv[16];             /* @explicitIV when has_iv */
    int has_iv;
    uint32_t scheme;            /* @commonEncryptionScheme: FOURCC cenc/cbcs/cens/cbc1, 0 = any */
    uint32_t line;              /* of the element, for log lines */
} cr_key_t;

/* Where an HLSSignalingData goes: @playlist "media" (also when absent) or "master"
 * (2.3; "multiVariant" in 2.4 means the same). */
typedef enum { CR_HLS_MEDIA = 1, CR_HLS_MASTER = 2 } cr_hls_playlist_t;

typedef struct {
    cr_hls_playlist_t playlist;
    const char *text;           /* decoded: the #EXT-X-KEY / #EXT-X-SESSION-KEY line(s), UTF-8,
                                 * NUL-terminated, trailing CR/LF removed */
} cr_hls_data_t;

/* One DRMSystem: the signalling of one system for one key. Every field but system,
 * system_id, kid and line may be absent (NULL / 0). */
typedef struct {
    cr_drm_t system;
    uint8_t system_id[16];      /* @systemId */
    uint8_t kid[16];            /* @kid: names a ContentKey of the document */
    const char *name;           /* @name (DASH ContentProtection@value), or NULL */
    const uint8_t *pssh;        /* PSSH: a complete pssh box (checked: size, type, version
                                 * 0/1, SystemID == system_id), pssh_size bytes; NULL */
    size_t pssh_size;
    const char *content_protection; /* ContentProtectionData, decoded: the well-formed XML
                                 * to put inside DASH <ContentProtection> (prefixes such as
                                 * cenc:, mspr:, dashif: are the MPD writer's to declare) */
    uint32_t hls_count;         /* 0..2, at most one per playlist kind */
    const cr_hls_data_t *hls;   /* [hls_count] HLSSignalingData, in document order */
    const char *smooth_header;  /* SmoothStreamingProtectionHeaderData: the base64 PRO as
                                 * given (checked to be base64), whitespace removed */
    const char *uri_ext_x_key;  /* URIExtXKey (CPIX <= 2.3), decoded: the EXT-X-KEY URI */
    uint32_t line;
} cr_drm_system_t;

/* An inclusive range [min, max]. */
typedef struct {
    uint32_t min, max;
} cr_range_t;

/* One ContentKeyUsageRule. A filter kind with count 0 does not constrain. */
typedef struct {
    uint8_t kid[16];
    const char *intended_track_type; /* a label (e.g. "SD", "AUDIO"); never used to match */
    uint32_t video_count, audio_count, bitrate_count;
    const cr_range_t *video;    /* VideoFilter: pixels (width x height), default [0, UINT32_MAX] */
    const cr_range_t *audio;    /* AudioFilter: channels, default [0, UINT32_MAX] */
    const cr_range_t *bitrate;  /* BitrateFilter: bit/s, default [0, UINT32_MAX] */
    const char *unusable;       /* NULL, or why the rule cannot be evaluated
                                 * (e.g. "KeyPeriodFilter is not supported") */
    uint32_t line;
} cr_rule_t;

typedef struct {
    const char *name;           /* the file name given to cr_cpix_parse(), for log lines */
    const char *content_id;     /* CPIX@contentId, or NULL */
    const char *version;        /* CPIX@version ("2.3"), or NULL (2.2 has none) */
    uint32_t key_count;         /* >= 1 */
    const cr_key_t *keys;       /* [key_count], document order, distinct KIDs */
    uint32_t drm_count;
    const cr_drm_system_t *drm; /* [drm_count], document order, distinct (system, kid) */
    uint32_t rule_count;
    const cr_rule_t *rules;     /* [rule_count], document order */
} cr_cpix_t;

/*
 * Parses the CPIX document xml[0..len); `name` (the file's path) is used in log lines.
 * Everything is allocated in `a`. XML is read with no network, no DTD loading and no
 * entity expansion; the document is then checked with cr_cpix_check().
 *
 * Every problem is logged on its own line ("NAME:LINE: ContentKey KID: reason"; LINE is
 * where the element's start tag ends), the parse goes on to report the others, and the
 * first problem's code is returned:
 *   -EBADMSG  not well-formed XML, root not <CPIX>, no ContentKey, a kid or systemId that
 *             is not a UUID, a ContentKey without Data/Secret/PlainValue, base64 that is
 *             not valid, a key or explicitIV that is not 16 bytes, a commonEncryptionScheme
 *             other than cenc/cbcs/cens/cbc1, an unknown systemId, a PSSH that is not a
 *             pssh box of its system, ContentProtectionData that is not well-formed XML,
 *             HLSSignalingData/URIExtXKey that is not text, a DTD-declared entity where a
 *             value is read, a filter bound that is not a number in 0..UINT32_MAX, or what
 *             cr_cpix_check() refuses;
 *   -ENOTSUP  an encrypted document (DeliveryDataList, EncryptedValue), a key hierarchy
 *             (dependsOnKey), a CPIX@version other than 2.x;
 *   -ENOMEM   (not logged).
 * Returns 0 and sets *out on success.
 */
int cr_cpix_parse(const char *xml, size_t len, const char *name, arena_t *a, cr_cpix_t **out);

/*
 * Document-level consistency, one log line per problem (naming the file, the element's
 * line and the KID): two ContentKeys with one kid, a ContentKeyUsageRule or DRMSystem
 * whose kid names no ContentKey, two DRMSystems for one (systemId, kid), no ContentKey.
 * cr_cpix_parse() runs it; it is public for documents built in code.
 * Returns 0 or -EBADMSG.
 */
int cr_cpix_check(const cr_cpix_t *c);

/*
 * The content key for a track, by the usage rules (CPIX "Usage Rules Filters"): filters
 * of one kind are ORed, kinds are ANDed, except that VideoFilter and AudioFilter count as
 * one kind, "track type" (a rule with both matches video and audio: the SPEKE v2 "ALL"
 * rule; strictly ANDed it would match nothing). A VideoFilter matches video only, an
 * AudioFilter audio only; a rule without filters matches every track.
 * `width`/`height` (pixels) matter for video, `channels` for audio; `bitrate` (bit/s: the
 * asset's systemBitrate, else the track's average) for every type.
 * A document without rules maps its only key to every track (text too: whether text
 * tracks are encrypted at all is the caller's choice).
 *
 * Returns 0 and sets *out (pointing into c), or, with one log line:
 *   -ENOKEY   no rule matches the track, the document has no rules and several keys, or
 *             a rule is unusable (then no track gets a key): the track must not be served,
 *             neither clear nor encrypted;
 *   -EBADMSG  the track matches rules of two different keys (the document is invalid), or
 *             the matching rule names no ContentKey (only in documents built in code).
 */
int cr_cpix_key_for(const cr_cpix_t *c, pk_track_type_t type, uint32_t width, uint32_t height,
                     uint32_t channels, uint32_t bitrate, const cr_key_t **out);

/* The ContentKey with this KID, or NULL. */
const cr_key_t *cr_cpix_key(const cr_cpix_t *c, const uint8_t kid[16]);

/* The DRMSystem of `system` for this KID, or NULL. */
const cr_drm_system_t *cr_cpix_drm(const cr_cpix_t *c, const uint8_t kid[16], cr_drm_t system);

/* The 16-byte SystemID of a known system (NULL for an unknown value), and its name for
 * log lines and DASH @value defaults ("Widevine", "PlayReady", "FairPlay", "ClearKey",
 * "W3C common"). */
const uint8_t *cr_drm_system_id(cr_drm_t system);
const char *cr_drm_name(cr_drm_t system);


#endif
