/*
 * HLS playlists (RFC 8216) for the three AMS HLS formats. What each one looks like is in
 * ams-facts §2.3; the choices the spec and AMS leave open are explained where they are made.
 *
 * Text that reaches a playlist from names (track and filter names, languages) is made safe
 * twice over: URIs percent-encode every byte outside RFC 3986 pchar (so '"', blanks, '%', '?'
 * and '#' in a name can neither end a quoted string nor cut a URI short; a web server
 * decodes them back to the file name), and quoted display strings (NAME) replace what RFC
 * 8216 §4.2 forbids in a quoted-string ('"', CR, LF) and other control characters.
 */
#include "hls.h"

#include <string.h>
#include <strings.h>

#include "cmaf.h"
#include "log.h"
#include "lang.h"
#include "text.h"
#include "ts.h"

/* ---- names and versions ----------------------------------------------- */

/* The format= value of playlists (and masters) of each format. */
static const char *playlist_format(pk_hls_format_t fmt)
{
    switch (fmt) {
    case PK_HLS_V4: return "m3u8-aapl";
    case PK_HLS_V3: return "m3u8-aapl-v3";
    case PK_HLS_CMAF: return "m3u8-cmaf";
    }
    return "m3u8-aapl";
}

/* The format= value of segment URIs: CMAF segments are one file set shared with DASH, under
 * their canonical name `cmaf` (DESIGN §1). */
static const char *segment_format(pk_hls_format_t fmt)
{
    return fmt == PK_HLS_CMAF ? "cmaf" : playlist_format(fmt);
}

/*
 * EXT-X-VERSION: what AMS declared (v4 and v3 as their names say, 7 for m3u8-cmaf, ams-facts
 * §2.3), raised to what the tags of the playlist need (RFC 8216 §7): decimal EXTINF 3,
 * EXT-X-BYTERANGE and EXT-X-I-FRAMES-ONLY 4, EXT-X-MAP 5 in an I-frame playlist and 6 in
 * any other. `need` is that floor.
 */
static unsigned version(pk_hls_format_t fmt, unsigned need)
{
    unsigned base = fmt == PK_HLS_CMAF ? 7 : fmt == PK_HLS_V3 ? 3 : 4;
    return base > need ? base : need;
}

static const char *opt_str(const char *s)
{
    return s ? s : "";
}

/* ---- escaping --------------------------------------------------------- */

/* RFC 3986 pchar minus pct-encoded: unreserved, sub-delims, ':' and '@'. The grammar's own
 * separators ( ) , = ; are sub-delims, so URIs keep their canonical spelling. */
static int uri_safe(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("-._~!$&'()*+,;=:@", c) != NULL;
}

static void put_uri(wr_t *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (uri_safe(*p)) {
            wr_u8(w, *p);
        } else {
            wr_u8(w, '%');
            wr_u8(w, (uint8_t)hex[*p >> 4]);
            wr_u8(w, (uint8_t)hex[*p & 15]);
        }
    }
}

/* A display string inside a quoted-string (RFC 8216 §4.2: no '"', CR or LF): a '"' becomes
 * '\'', a control character a blank. Only NAME takes free text, and only people read it. */
static void put_text(wr_t *w, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        wr_u8(w, *p == '"' ? '\'' : (*p < 0x20 || *p == 0x7f) ? ' ' : *p);
}

/* ---- keys (pack/hls.h "Encrypted HLS") ---------------------------------- */

static const pk_hls_keys_t *keys_of(const pk_urlopts_t *o)
{
    return o ? o->hls : NULL;
}

/* The index of vt in v (writers only get tracks of the view they are given). */
static uint32_t track_index(const pk_view_t *v, const pk_vtrack_t *vt)
{
    return (uint32_t)(vt - v->tracks);
}

static const pk_hls_key_t *key_of(const pk_view_t *v, const pk_vtrack_t *vt,
                                  const pk_urlopts_t *o)
{
    const pk_hls_keys_t *h = keys_of(o);
    uint32_t i = track_index(v, vt);
    return h && i < h->track_count ? h->tracks[i] : NULL;
}

static const pk_protect_t *protect_of(const pk_view_t *v, const pk_vtrack_t *vt,
                                      const pk_urlopts_t *o)
{
    const pk_hls_keys_t *h = keys_of(o);
    uint32_t i = track_index(v, vt);
    return h && h->protect && i < h->track_count ? h->protect[i] : NULL;
}

/* Encrypted TS and whole-segment AES-128: no I-frame playlists (pack/hls.h). */
static int no_iframes(pk_hls_format_t fmt, const pk_urlopts_t *o)
{
    const pk_hls_keys_t *h = keys_of(o);
    return h && (fmt != PK_HLS_CMAF || h->method == PK_HLS_AES_128);
}

/* RFC 8216 §7: KEYFORMAT and KEYFORMATVERSIONS need version 5 (every SAMPLE-AES output
 * writes them, and the CPIX's own lines may), an IV attribute 2. */
static unsigned keys_need(const pk_urlopts_t *o)
{
    const pk_hls_keys_t *h = keys_of(o);
    return !h ? 0 : h->method == PK_HLS_AES_128 ? 2 : 5;
}

static const char *method_name(pk_hls_method_t m)
{
    switch (m) {
    case PK_HLS_SAMPLE_AES: return "SAMPLE-AES";
    case PK_HLS_SAMPLE_AES_CTR: return "SAMPLE-AES-CTR";
    case PK_HLS_AES_128: return "AES-128";
    }
    return "NONE";
}

/* A URI as a quoted-string: what RFC 8216 §4.2 forbids there ('"', CR, LF) and what RFC
 * 3986 has no place for (blanks, controls, non-ASCII) is percent-encoded, so no URI from a
 * CPIX or an option can end the string or the line early. */
static void put_quoted_uri(wr_t *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    wr_u8(w, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p == '"' || *p >= 0x7f) {
            wr_u8(w, '%');
            wr_u8(w, (uint8_t)hex[*p >> 4]);
            wr_u8(w, (uint8_t)hex[*p & 15]);
        } else {
            wr_u8(w, *p);
        }
    }
    wr_u8(w, '"');
}

/* The METHOD value of an attribute list (RFC 8216 §4.2), quoted strings skipped, into
 * out[cap]; "" when there is none. */
static void method_of(const char *s, size_t n, char *out, size_t cap)
{
    const char *end = s + n;
    out[0] = '\0';
    while (s < end) {
        const char *eq = memchr(s, '=', (size_t)(end - s));
        if (!eq)
            return;
        const char *v = eq + 1, *ve = v;
        if (ve < end && *ve == '"') {
            const char *q = memchr(ve + 1, '"', (size_t)(end - ve - 1));
            ve = q ? q + 1 : end;
        }
        while (ve < end && *ve != ',')
            ve++;
        if (eq - s == 6 && memcmp(s, "METHOD", 6) == 0) {
            size_t k = (size_t)(ve - v) < cap ? (size_t)(ve - v) : cap - 1;
            memcpy(out, v, k);
            out[k] = '\0';
            return;
        }
        s = ve < end ? ve + 1 : end;
    }
}

/*
 * Writes the lines of `text` (a CPIX HLSSignalingData) that are #FROM: lines of METHOD m
 * and hold no control character, as #TAG: lines (a master's EXT-X-SESSION-KEY from an
 * EXT-X-KEY: RFC 8216 §4.3.4.5 defines the same attributes for both). Returns how many.
 */
static int put_given(wr_t *w, const char *text, const char *from, const char *tag,
                     pk_hls_method_t m)
{
    size_t flen = strlen(from);
    int n = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\r\n"), i;
        char method[32];
        for (i = 0; i < len && (unsigned char)p[i] >= 0x20 && p[i] != 0x7f; i++)
            ;
        if (i == len && len > flen + 2 && p[0] == '#' && memcmp(p + 1, from, flen) == 0 &&
            p[1 + flen] == ':') {
            const char *attrs = p + 2 + flen;
            size_t alen = len - 2 - flen;
            method_of(attrs, alen, method, sizeof method);
            if (strcmp(method, method_name(m)) == 0) {
                wr_printf(w, "#%s:", tag);
                wr_bytes(w, attrs, alen);
                wr_u8(w, '\n');
                n++;
            }
        }
        p += len;
        p += strspn(p, "\r\n");
    }
    return n;
}

/* A system's line as ismfs builds it (pack/hls.h), or nothing when it cannot be built:
 * FairPlay outside SAMPLE-AES or without its URI, Widevine and PlayReady in TS or without
 * their data, identity without a key URI. */
static void put_built(wr_t *w, const char *tag, pk_hls_method_t m, const pk_hls_key_t *k,
                      const pk_hls_system_t *s, int ts)
{
    switch (s->kind) {
    case PK_HLS_FAIRPLAY:
        if (m != PK_HLS_SAMPLE_AES || !s->uri)
            return;
        wr_printf(w, "#%s:METHOD=%s,URI=", tag, method_name(m));
        put_quoted_uri(w, s->uri);
        wr_str(w, ",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"\n");
        return;
    case PK_HLS_WIDEVINE:
        if (ts || !s->data.len)
            return;
        /* the whole pssh box, as shaka-packager and SPEKE write it (ams-facts §5.4) */
        wr_printf(w, "#%s:METHOD=%s,URI=\"data:text/plain;base64,", tag, method_name(m));
        wr_base64(w, s->data.data, s->data.len);
        wr_str(w, "\",KEYID=0x");
        wr_hex(w, k->kid, 16);
        wr_str(w, ",KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\","
                  "KEYFORMATVERSIONS=\"1\"\n");
        return;
    case PK_HLS_PLAYREADY:
        if (ts || !s->data.len)
            return;
        /* the PlayReady Object, not a pssh box (SPEKE: "NOT the raw PSSH box") */
        wr_printf(w, "#%s:METHOD=%s,URI=\"data:text/plain;charset=UTF-16;base64,", tag,
                  method_name(m));
        wr_base64(w, s->data.data, s->data.len);
        wr_str(w, "\",KEYFORMAT=\"com.microsoft.playready\",KEYFORMATVERSIONS=\"1\"\n");
        return;
    case PK_HLS_IDENTITY:
        if (!s->uri)
            return;
        wr_printf(w, "#%s:METHOD=%s,URI=", tag, method_name(m));
        put_quoted_uri(w, s->uri);
        if (ts) {
            /* Apple SAMPLE-AES TS: the constant IV the segments restart every unit with
             * (without IV= a client would take the media sequence number) */
            if (k->has_iv) {
                wr_str(w, ",IV=0x");
                wr_hex(w, k->iv, 16);
            }
            wr_u8(w, '\n');
        } else {
            /* shaka-player reads the KID from the init segment's tenc */
            wr_str(w, ",KEYFORMAT=\"identity\",KEYFORMATVERSIONS=\"1\"\n");
        }
        return;
    }
}

/*
 * The lines of key k for a media playlist (EXT-X-KEY) or a master (EXT-X-SESSION-KEY) of
 * a SAMPLE-AES/SAMPLE-AES-CTR output: one set per system, the CPIX's given lines where
 * they pass put_given, else the built one; identity lines last (ffmpeg keeps the last).
 */
static void put_key_lines(wr_t *w, int master, pk_hls_method_t m, const pk_hls_key_t *k,
                          int ts)
{
    const char *tag = master ? "EXT-X-SESSION-KEY" : "EXT-X-KEY";
    for (int last = 0; last < 2; last++) {
        for (uint32_t i = 0; i < k->system_count; i++) {
            const pk_hls_system_t *s = &k->systems[i];
            int given = 0;
            if ((s->kind == PK_HLS_IDENTITY) != last)
                continue;
            if (ts && (s->kind == PK_HLS_WIDEVINE || s->kind == PK_HLS_PLAYREADY))
                continue;
            if (master && s->master)
                given = put_given(w, s->master, "EXT-X-SESSION-KEY", tag, m);
            if (!given && s->media)
                given = put_given(w, s->media, "EXT-X-KEY", tag, m);
            if (!given)
                put_built(w, tag, m, k, s, ts);
        }
    }
}

/* AES-128: the key line of one segment, with its IV. */
static int put_aes_line(wr_t *w, const pk_hls_keys_t *h, const pk_hls_key_t *k,
                        const pk_vtrack_t *vt, const pk_vtrack_t *mux, uint32_t frag)
{
    uint8_t iv[16];
    int rc = h->iv(h->iv_ctx, vt, mux, frag, iv);
    if (rc < 0)
        return rc;
    wr_str(w, "#EXT-X-KEY:METHOD=AES-128,URI=");
    put_quoted_uri(w, k->key_uri);
    wr_str(w, ",IV=0x");
    wr_hex(w, iv, 16);
    wr_u8(w, '\n');
    return 0;
}

/* Whether vt and mux (v3) are under one key: one EXT-X-KEY covers a whole segment, so a v3
 * segment muxing audio of another key does not exist. */
static int same_key(const pk_view_t *v, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                    const pk_urlopts_t *o)
{
    const pk_hls_key_t *a = key_of(v, vt, o), *b = mux ? key_of(v, mux, o) : a;
    return !keys_of(o) || (a && b && memcmp(a->kid, b->kid, 16) == 0);
}

/* Whether the keys of o can sign vt's playlists in fmt: 0, or -EINVAL (a track without a
 * key, a method the format does not have, AES-128 without URI or IVs). */
static int keys_check(const pk_view_t *v, const pk_vtrack_t *vt, pk_hls_format_t fmt,
                      const pk_urlopts_t *o)
{
    const pk_hls_keys_t *h = keys_of(o);
    const pk_hls_key_t *k = key_of(v, vt, o);
    if (!h)
        return 0;
    if (!k || (h->method == PK_HLS_AES_128 && (!k->key_uri || !h->iv)) ||
        (h->method == PK_HLS_SAMPLE_AES_CTR && fmt != PK_HLS_CMAF))
        return -EINVAL;
    return 0;
}

/* ---- languages -------------------------------------------------------- */

/* Writes `,LANGUAGE="tag"` with the shortest RFC 5646 form of lang (pack/lang.h);
 * nothing for "und" (RFC 5646 §4.1: undetermined is better left out) or a malformed value. */
static void put_language(wr_t *w, const char *lang)
{
    const char *tag = pk_lang_tag(lang);
    if (tag)
        wr_printf(w, ",LANGUAGE=\"%s\"", tag);
}

/* ---- URIs ------------------------------------------------------------- */

/* QualityLevels(B)/Manifest(NAME,format=F[,audiotrack=M][,type=keyframes]OPTS): the option
 * order of fs_path_format (format, audiotrack, type, then what the parent carries). */
static void put_playlist_uri(wr_t *w, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                             pk_hls_format_t fmt, int keyframes, const pk_urlopts_t *o)
{
    wr_printf(w, "QualityLevels(%u)/Manifest(", vt->at->bitrate);
    put_uri(w, vt->at->name);
    wr_str(w, ",format=");
    wr_str(w, playlist_format(fmt));
    if (mux) {
        wr_str(w, ",audiotrack=");
        put_uri(w, mux->at->name);
    }
    if (keyframes)
        wr_str(w, ",type=keyframes");
    put_uri(w, opt_str(o ? o->playlist : NULL));
    wr_u8(w, ')');
}

/* Fragments(NAME=TIME|i,format=F[,audiotrack=M]OPTS), relative to the playlist, which lives
 * in the same QualityLevels(B)/ directory. */
static void put_segment_uri(wr_t *w, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                            pk_hls_format_t fmt, int init, uint64_t time, const pk_urlopts_t *o)
{
    wr_str(w, "Fragments(");
    put_uri(w, vt->at->name);
    if (init)
        wr_str(w, "=i");
    else
        wr_printf(w, "=%llu", (unsigned long long)time);
    wr_str(w, ",format=");
    wr_str(w, segment_format(fmt));
    if (mux) {
        wr_str(w, ",audiotrack=");
        put_uri(w, mux->at->name);
    }
    put_uri(w, opt_str(o ? o->segment : NULL));
    wr_u8(w, ')');
}

/* ---- segment durations ------------------------------------------------ */

static uint64_t ticks_to_ms(uint64_t ticks, uint32_t timescale)
{
    return (uint64_t)(((unsigned __int128)ticks * 1000 + timescale / 2) / timescale);
}

/*
 * EXTINF of a segment of `dur` ticks that starts `before` ticks after the first listed one,
 * in ms: the difference of the rounded end and start, so each EXTINF is within 0.5 ms of
 * the segment and their sum is the playlist's duration rounded, with no drift.
 */
static uint64_t extinf_ms(uint64_t before, uint64_t dur, uint32_t timescale)
{
    return ticks_to_ms(before + dur, timescale) - ticks_to_ms(before, timescale);
}

/* EXT-X-TARGETDURATION of vt's playlist: the longest EXTINF rounded up to a second (RFC 8216
 * §4.3.3.1 asks only that each EXTINF rounded to the nearest is not above it), at least 1. */
static uint32_t target_duration(const pk_view_t *v, const pk_vtrack_t *vt)
{
    uint64_t before = 0, max = 0;
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        const pk_frag_t *f = &vt->frags[k];
        if (!f->count)
            continue;
        uint64_t ms = extinf_ms(before, f->duration, vt->t->timescale);
        if (ms > max)
            max = ms;
        before += f->duration;
    }
    uint64_t s = (max + 999) / 1000;
    return s ? (uint32_t)s : 1;
}

static void put_extinf(wr_t *w, uint64_t ms)
{
    /* the comma is part of the tag even with no title (RFC 8216 §4.3.2.1) */
    wr_printf(w, "#EXTINF:%llu.%03llu,\n", (unsigned long long)(ms / 1000),
              (unsigned long long)(ms % 1000));
}

/* ---- bit rates -------------------------------------------------------- */

/* What one listed segment of a playlist weighs. */
typedef struct {
    uint64_t bytes;
    uint64_t ticks;             /* its duration, timescale of the playlist's track */
} seg_t;

typedef struct {
    uint64_t peak, avg;         /* bit/s, rounded up */
} rate_t;

typedef enum { SIZE_TS, SIZE_CMAF, SIZE_IFRAME_TS, SIZE_IFRAME_CMAF } size_kind_t;

static uint64_t bits_per_s(uint64_t bytes, uint64_t ticks, uint32_t timescale)
{
    if (!ticks)
        return 0;
    unsigned __int128 bits = (unsigned __int128)bytes * 8 * timescale;
    return (uint64_t)((bits + ticks - 1) / ticks);
}

/* How the segments of one playlist are encrypted, as far as their sizes go. */
typedef struct {
    int encrypted;              /* the output is (o->hls) */
    const pk_protect_t *prot;   /* CMAF: the track's protection (senc, saiz, saio sizes) */
    int aes;                    /* AES-128: PKCS7 pads every segment */
    const pk_ts_saes_t *saes, *saes_mux;    /* SAMPLE-AES TS: the tracks' transforms */
} sizing_t;

static const pk_ts_saes_t *saes_of(const pk_view_t *v, const pk_vtrack_t *vt,
                                   const pk_urlopts_t *o)
{
    const pk_hls_keys_t *h = keys_of(o);
    uint32_t i = vt ? track_index(v, vt) : UINT32_MAX;
    return h && h->saes && i < h->track_count ? h->saes[i] : NULL;
}

static sizing_t sizing_of(const pk_view_t *v, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                          const pk_urlopts_t *o)
{
    const pk_hls_keys_t *h = keys_of(o);
    return (sizing_t){ .encrypted = h != NULL, .prot = protect_of(v, vt, o),
                       .aes = h && h->method == PK_HLS_AES_128, .saes = saes_of(v, vt, o),
                       .saes_mux = saes_of(v, mux, o) };
}

/*
 * Bytes of what a playlist entry for fragment k points at. TS sizes depend on the
 * conversion of every sample, so pk_ts_* runs in count mode, in an arena of its own that is
 * freed at once: a master walks every fragment of every track, and what one segment
 * allocates should not stay for the rest of the walk. Encrypted CMAF adds senc, saiz and
 * saio to the header (sample sizes do not change); AES-128 adds 1 to 16 bytes of PKCS7
 * padding (RFC 8216 4.3.2.4), known without encrypting. Returns 0, -EINVAL (encrypted CMAF
 * without its protection), or an error of the size functions.
 */
static int entry_size(const pk_vtrack_t *vt, const pk_vtrack_t *mux, uint32_t k,
                      size_kind_t kind, const sizing_t *z, uint64_t *out)
{
    const pk_frag_t *f = &vt->frags[k];
    arena_t *scratch;
    wr_t w = wr_counter();
    int rc = 0;

    switch (kind) {
    case SIZE_CMAF:
    case SIZE_IFRAME_CMAF:
        if (z->encrypted && !z->prot && !z->aes)
            return -EINVAL;
        if (z->prot && (rc = pk_cmaf_fragment_protected_header_size(vt, k, z->prot, out)) < 0)
            return rc;
        if (!z->prot)
            *out = vt->cmaf_header ? vt->cmaf_header[k] : pk_cmaf_fragment_header_size(vt, k);
        /* the first sample of a fragment is its key frame (pack/view.h) */
        if (kind == SIZE_IFRAME_CMAF) {
            *out += vt->t->samples[f->first].size;
            return 0;
        }
        *out += f->bytes;
        goto pad;
    case SIZE_TS:
        if (!z->saes && !z->saes_mux && pk_ts_segment_size(vt, mux, k, out) == 0)
            goto pad;
        break;
    case SIZE_IFRAME_TS:
        if (pk_ts_keyframe_size(vt, k, out) == 0)
            return 0;
        break;
    }
    if (!(scratch = arena_new()))
        return -ENOMEM;
    if (kind == SIZE_TS) {
        /* SAMPLE-AES grows protected NAL units (emulation prevention): its own count */
        rc = z->saes || z->saes_mux
             ? pk_ts_segment_saes(vt, z->saes, mux, z->saes_mux, k, scratch, &w)
             : pk_ts_segment(vt, mux, k, scratch, &w);
        *out = w.pos;
    } else {
        rc = pk_ts_keyframe_range(vt, k, scratch, out);
    }
    arena_free(scratch);
    if (rc < 0 || kind != SIZE_TS)
        return rc;
pad:
    if (z->aes)
        *out += 16 - *out % 16;
    return 0;
}

/*
 * RFC 8216 §4.3.4.2: the peak segment bit rate is the largest bit rate of any contiguous
 * set of segments whose total duration is between 0.5 and 1.5 times the target duration
 * (so a short last segment holding one key frame does not count alone); the average is all
 * bits over all the duration. When no set qualifies (a playlist of one short segment), the
 * largest single segment stands in.
 */
static rate_t rates(const seg_t *s, uint32_t n, uint32_t timescale, uint32_t target_s)
{
    rate_t r = { 0, 0 };
    uint64_t lo = (uint64_t)target_s * timescale / 2, hi = (uint64_t)target_s * timescale * 3 / 2;
    uint64_t all_bytes = 0, all_ticks = 0, single = 0;
    int found = 0;

    for (uint32_t i = 0; i < n; i++) {
        uint64_t bytes = 0, ticks = 0;
        all_bytes += s[i].bytes;
        all_ticks += s[i].ticks;
        uint64_t one = bits_per_s(s[i].bytes, s[i].ticks, timescale);
        if (one > single)
            single = one;
        for (uint32_t j = i; j < n; j++) {
            bytes += s[j].bytes;
            ticks += s[j].ticks;
            if (ticks > hi)
                break;
            if (ticks >= lo) {
                uint64_t br = bits_per_s(bytes, ticks, timescale);
                if (br > r.peak)
                    r.peak = br;
                found = 1;
            }
        }
    }
    if (!found)
        r.peak = single;
    r.avg = bits_per_s(all_bytes, all_ticks, timescale);
    return r;
}

/* The rates of vt's playlist (or I-frame playlist) in format fmt; mux for v3 variants. */
static int track_rates(const pk_view_t *v, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                       size_kind_t kind, const pk_urlopts_t *o, arena_t *a, rate_t *out)
{
    uint32_t n = 0;
    seg_t *s = arena_calloc(a, v->frag_end - v->frag_begin + 1, sizeof *s);
    sizing_t z = sizing_of(v, vt, mux, o);
    int rc;

    if (!s)
        return -ENOMEM;
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        if (!vt->frags[k].count)
            continue;
        if ((rc = entry_size(vt, mux, k, kind, &z, &s[n].bytes)) < 0)
            return rc;
        s[n++].ticks = vt->frags[k].duration;
    }
    *out = rates(s, n, vt->t->timescale, target_duration(v, vt));
    return 0;
}

static size_kind_t segment_kind(pk_hls_format_t fmt)
{
    return fmt == PK_HLS_CMAF ? SIZE_CMAF : SIZE_TS;
}

/* ---- master ----------------------------------------------------------- */

/* An EXT-X-MEDIA group: the audio tracks of one codec (RFC 8216 §4.3.4.2: a variant's
 * CODECS must name every format its renditions use, so one codec per group keeps CODECS
 * exact, as Apple's authoring spec does for AAC beside AC-3/E-AC-3). */
typedef struct {
    const char *codec;          /* RFC 6381 string shared by the members */
    uint32_t first;             /* index in the audio list of its first (DEFAULT) member */
    rate_t max;                 /* largest peak and average of its members */
} group_t;

typedef struct {
    const pk_view_t *v;
    pk_hls_format_t fmt;
    const pk_urlopts_t *o;
    uint32_t nvideo, naudio, ngroups;
    const pk_vtrack_t **video;  /* [nvideo] in variant order */
    const pk_vtrack_t **audio;  /* [naudio] in asset order */
    uint32_t *group_of;         /* [naudio] */
    group_t *groups;            /* [ngroups] in order of first appearance */
    rate_t *vrate, *irate, *arate;      /* [nvideo] variants, [nvideo] I-frames, [naudio] */
} master_t;

/*
 * Variant order: descending bitrate (asset order among equals), so a player that starts
 * with the first variant starts with the best. `first_bitrate` (the filter's firstQuality,
 * DESIGN §1 "Filters"; 0 for none) moves the variant of that bitrate to the front; the view
 * does not carry it yet, so callers pass 0.
 */
static void order_video(const pk_vtrack_t **vt, uint32_t n, uint32_t first_bitrate)
{
    for (uint32_t i = 1; i < n; i++) {          /* insertion sort: stable, n is small */
        const pk_vtrack_t *x = vt[i];
        uint32_t j = i;
        for (; j > 0 && vt[j - 1]->at->bitrate < x->at->bitrate; j--)
            vt[j] = vt[j - 1];
        vt[j] = x;
    }
    for (uint32_t i = 0; first_bitrate && i < n; i++) {
        if (vt[i]->at->bitrate == first_bitrate) {
            const pk_vtrack_t *x = vt[i];
            memmove(&vt[1], &vt[0], i * sizeof *vt);
            vt[0] = x;
            break;
        }
    }
}

/* GROUP-ID: the first group keeps AMS's "audio" (ams-facts §2.3), the others are named
 * after their codec: "audio_ec-3". */
static void put_group_id(wr_t *w, const master_t *m, uint32_t g)
{
    wr_str(w, "\"audio");
    if (g > 0) {
        wr_u8(w, '_');
        put_text(w, m->groups[g].codec);
    }
    wr_u8(w, '"');
}

static int master_collect(master_t *m, arena_t *a)
{
    const pk_view_t *v = m->v;
    uint32_t n = v->track_count ? v->track_count : 1;
    m->video = arena_calloc(a, n, sizeof *m->video);
    m->audio = arena_calloc(a, n, sizeof *m->audio);
    m->group_of = arena_calloc(a, n, sizeof *m->group_of);
    m->groups = arena_calloc(a, n, sizeof *m->groups);
    m->vrate = arena_calloc(a, n, sizeof *m->vrate);
    m->irate = arena_calloc(a, n, sizeof *m->irate);
    m->arate = arena_calloc(a, n, sizeof *m->arate);
    if (!m->video || !m->audio || !m->group_of || !m->groups || !m->vrate || !m->irate ||
        !m->arate)
        return -ENOMEM;
    for (uint32_t i = 0; i < v->track_count; i++) {
        const pk_vtrack_t *vt = &v->tracks[i];
        if (vt->t->type == PK_TRACK_VIDEO) {
            m->video[m->nvideo++] = vt;
        } else if (vt->t->type == PK_TRACK_AUDIO) {
            uint32_t g = 0;
            while (g < m->ngroups && strcmp(m->groups[g].codec, vt->t->codec) != 0)
                g++;
            if (g == m->ngroups)
                m->groups[m->ngroups++] = (group_t){ .codec = vt->t->codec, .first = m->naudio };
            m->group_of[m->naudio] = g;
            m->audio[m->naudio++] = vt;
        }
    }
    order_video(m->video, m->nvideo, v->first_quality);
    return 0;
}

static int master_rates(master_t *m, arena_t *a)
{
    const pk_vtrack_t *mux = m->fmt == PK_HLS_V3 && m->naudio ? m->audio[0] : NULL;
    size_kind_t kind = segment_kind(m->fmt);
    int rc;

    for (uint32_t i = 0; i < m->nvideo; i++) {
        if ((rc = track_rates(m->v, m->video[i], mux, kind, m->o, a, &m->vrate[i])) < 0)
            return rc;
        if (m->fmt != PK_HLS_V3 && !no_iframes(m->fmt, m->o) &&
            (rc = track_rates(m->v, m->video[i], NULL,
                              m->fmt == PK_HLS_CMAF ? SIZE_IFRAME_CMAF : SIZE_IFRAME_TS, m->o,
                              a, &m->irate[i])) < 0)
            return rc;
    }
    for (uint32_t i = 0; i < m->naudio; i++) {
        /* v3 measures its audio inside the muxed segments, or as its one variant */
        if (m->fmt == PK_HLS_V3 && (m->nvideo || i > 0))
            break;
        if ((rc = track_rates(m->v, m->audio[i], NULL, kind, m->o, a, &m->arate[i])) < 0)
            return rc;
        group_t *g = &m->groups[m->group_of[i]];
        if (m->arate[i].peak > g->max.peak)
            g->max.peak = m->arate[i].peak;
        if (m->arate[i].avg > g->max.avg)
            g->max.avg = m->arate[i].avg;
    }
    return 0;
}

static void put_bandwidth(wr_t *w, const char *tag, rate_t r)
{
    wr_printf(w, "%s:BANDWIDTH=%llu,AVERAGE-BANDWIDTH=%llu", tag, (unsigned long long)r.peak,
              (unsigned long long)r.avg);
}

static void put_video_attrs(wr_t *w, const pk_track_t *t, int frame_rate)
{
    if (t->width && t->height)
        wr_printf(w, ",RESOLUTION=%ux%u", t->width, t->height);
    if (!frame_rate)
        return;
    /* FRAME-RATE (RFC 8216 §4.3.4.2, three decimals) only for a constant one: every run of
     * the track but a one-sample tail has the same duration */
    uint32_t delta = 0;
    for (uint32_t i = 0; i < t->run_count; i++) {
        const pk_run_t *r = &t->runs[i];
        if (i + 1 == t->run_count && i > 0 && r->count == 1)
            continue;
        if (delta && r->delta != delta)
            return;
        delta = r->delta;
    }
    if (!delta)
        return;
    uint64_t mfps = ((uint64_t)t->timescale * 1000 + delta / 2) / delta;
    wr_printf(w, ",FRAME-RATE=%llu.%03llu", (unsigned long long)(mfps / 1000),
              (unsigned long long)(mfps % 1000));
}

/* EXT-X-MEDIA:TYPE=AUDIO, one per audio track. NAME must be unique in its group (RFC 8216
 * §4.3.4.2.1): a name that repeats in the group (same name, other bitrate) gets the bitrate. */
static void put_media(wr_t *w, const master_t *m)
{
    for (uint32_t i = 0; i < m->naudio; i++) {
        const pk_vtrack_t *vt = m->audio[i];
        uint32_t g = m->group_of[i];
        int repeated = 0;
        for (uint32_t j = 0; j < m->naudio; j++)
            if (j != i && m->group_of[j] == g && strcmp(m->audio[j]->at->name, vt->at->name) == 0)
                repeated = 1;
        wr_str(w, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=");
        put_group_id(w, m, g);
        wr_str(w, ",NAME=\"");
        put_text(w, vt->at->name);
        if (repeated)
            wr_printf(w, " %u", vt->at->bitrate);
        wr_u8(w, '"');
        put_language(w, vt->at->language);
        /* one DEFAULT per group (RFC 8216 §4.3.4.1), AUTOSELECT=YES as it must be with it */
        wr_str(w, m->groups[g].first == i ? ",DEFAULT=YES" : ",DEFAULT=NO");
        wr_str(w, ",AUTOSELECT=YES");
        if (vt->t->channels)
            wr_printf(w, ",CHANNELS=\"%u\"", vt->t->channels);
        wr_str(w, ",URI=\"");
        put_playlist_uri(w, vt, NULL, m->fmt, 0, m->o);
        wr_str(w, "\"\n");
    }
}

static void put_codecs(wr_t *w, const char *video, const char *audio)
{
    wr_str(w, ",CODECS=\"");
    if (video)
        put_text(w, video);
    if (video && audio)
        wr_u8(w, ',');
    if (audio)
        put_text(w, audio);
    wr_u8(w, '"');
}

/* v4 and CMAF: video variants per audio group, I-frame streams, audio-only variants last. */
static void put_master_groups(wr_t *w, const master_t *m)
{
    put_media(w, m);
    for (uint32_t g = 0; g < (m->ngroups ? m->ngroups : 1); g++) {
        for (uint32_t i = 0; i < m->nvideo; i++) {
            const pk_vtrack_t *vt = m->video[i];
            /* RFC 8216 §4.3.4.2: the largest sum of peak segment bit rates of any playable
             * combination of renditions: this video with the heaviest audio of the group */
            rate_t r = m->vrate[i];
            if (m->ngroups) {
                r.peak += m->groups[g].max.peak;
                r.avg += m->groups[g].max.avg;
            }
            put_bandwidth(w, "#EXT-X-STREAM-INF", r);
            put_video_attrs(w, vt->t, 1);
            put_codecs(w, vt->t->codec, m->ngroups ? m->groups[g].codec : NULL);
            if (m->ngroups) {
                wr_str(w, ",AUDIO=");
                put_group_id(w, m, g);
            }
            wr_u8(w, '\n');
            put_playlist_uri(w, vt, NULL, m->fmt, 0, m->o);
            wr_u8(w, '\n');
        }
    }
    for (uint32_t i = 0; i < m->nvideo && !no_iframes(m->fmt, m->o); i++) {
        const pk_vtrack_t *vt = m->video[i];
        put_bandwidth(w, "#EXT-X-I-FRAME-STREAM-INF", m->irate[i]);
        put_video_attrs(w, vt->t, 0);       /* FRAME-RATE is not defined here (§4.3.4.3) */
        put_codecs(w, vt->t->codec, NULL);
        wr_str(w, ",URI=\"");
        put_playlist_uri(w, vt, NULL, m->fmt, 1, m->o);
        wr_str(w, "\"\n");
    }
    /* The audio-only variant (Apple's cellular guideline, ams-facts §2.3), one per group,
     * pointing at the group's default track. audio-only=false drops it, except that an
     * asset without video has nothing else to offer. */
    if (m->o && m->o->audio_only_false && m->nvideo)
        return;
    for (uint32_t g = 0; g < m->ngroups; g++) {
        put_bandwidth(w, "#EXT-X-STREAM-INF", m->groups[g].max);
        put_codecs(w, NULL, m->groups[g].codec);
        wr_str(w, ",AUDIO=");
        put_group_id(w, m, g);
        wr_u8(w, '\n');
        put_playlist_uri(w, m->audio[m->groups[g].first], NULL, m->fmt, 0, m->o);
        wr_u8(w, '\n');
    }
}

/*
 * v3: no renditions. Each video variant muxes the first audio track (audiotrack= in its
 * URI); the other audio tracks are not reachable in v3, which cannot switch languages, and
 * there is no audio-only variant (AMS's advice to avoid it was "use HLS-V3", ams-facts §2.3)
 * and no I-frame streams (I-frame playlists are version 4). An asset without video is one
 * variant of its first audio track.
 */
static void put_master_v3(wr_t *w, const master_t *m)
{
    const pk_vtrack_t *mux = m->naudio ? m->audio[0] : NULL;
    for (uint32_t i = 0; i < m->nvideo; i++) {
        const pk_vtrack_t *vt = m->video[i];
        put_bandwidth(w, "#EXT-X-STREAM-INF", m->vrate[i]);
        put_video_attrs(w, vt->t, 1);
        put_codecs(w, vt->t->codec, mux ? mux->t->codec : NULL);
        wr_u8(w, '\n');
        put_playlist_uri(w, vt, mux, m->fmt, 0, m->o);
        wr_u8(w, '\n');
    }
    if (!m->nvideo && mux) {
        put_bandwidth(w, "#EXT-X-STREAM-INF", m->arate[0]);
        put_codecs(w, NULL, mux->t->codec);
        wr_u8(w, '\n');
        put_playlist_uri(w, mux, NULL, m->fmt, 0, m->o);
        wr_u8(w, '\n');
    }
}

/* Track i of the video variants then the audio tracks. */
static const pk_vtrack_t *keyed_track(const master_t *m, uint32_t i)
{
    return i < m->nvideo ? m->video[i] : m->audio[i - m->nvideo];
}

/*
 * EXT-X-SESSION-KEY (RFC 8216 §4.3.4.5: SHOULD be there when variants share keys, at most
 * one per identical attribute set): the lines of each key a variant or rendition of this
 * master uses, once per key, in variant order. v3 segments carry their video's key only
 * (one EXT-X-KEY covers a whole muxed segment), or the one audio track's.
 */

static int put_session_keys(wr_t *w, const master_t *m)
{
    const pk_hls_keys_t *h = keys_of(m->o);
    uint32_t naudio = m->fmt == PK_HLS_V3 ? (m->nvideo ? 0 : m->naudio > 0) : m->naudio;
    int rc;

    if (!h)
        return 0;
    for (uint32_t i = 0; i < m->nvideo + naudio; i++) {
        const pk_vtrack_t *vt = keyed_track(m, i);
        const pk_hls_key_t *k = key_of(m->v, vt, m->o);
        uint32_t j = 0;
        if ((rc = keys_check(m->v, vt, m->fmt, m->o)) < 0)
            return rc;
        /* keys_check passed for every earlier track: each has a key */
        while (j < i && memcmp(key_of(m->v, keyed_track(m, j), m->o)->kid, k->kid, 16) != 0)
            j++;
        if (j < i)
            continue;           /* that key's lines are there already */
        if (h->method != PK_HLS_AES_128) {
            put_key_lines(w, 1, h->method, k, m->fmt != PK_HLS_CMAF);
        } else {
            /* no IV: each segment has its own (its EXT-X-KEY says it) */
            wr_str(w, "#EXT-X-SESSION-KEY:METHOD=AES-128,URI=");
            put_quoted_uri(w, k->key_uri);
            wr_u8(w, '\n');
        }
    }
    return 0;
}

int pk_hls_master(const pk_view_t *v, pk_hls_format_t fmt, const pk_urlopts_t *o, arena_t *a,
                  wr_t *w)
{
    master_t m = { .v = v, .fmt = fmt, .o = o };
    int rc;

    if ((rc = master_collect(&m, a)) < 0)
        return rc;
    /* v3 variants mux the first audio: all of them must share its key (same_key) */
    for (uint32_t i = 0; fmt == PK_HLS_V3 && m.naudio && i < m.nvideo; i++)
        if (!same_key(v, m.video[i], m.audio[0], o))
            return -ENOENT;
    if ((rc = master_rates(&m, a)) < 0)
        return rc;
    if (!m.nvideo && !m.naudio)
        return -ENOENT;
    wr_printf(w, "#EXTM3U\n#EXT-X-VERSION:%u\n#EXT-X-INDEPENDENT-SEGMENTS\n",
              version(fmt, keys_need(o)));
    if ((rc = put_session_keys(w, &m)) < 0)
        return rc;
    if (fmt == PK_HLS_V3)
        put_master_v3(w, &m);
    else
        put_master_groups(w, &m);
    return w->err;
}

/* ---- media and I-frame playlists -------------------------------------- */

/* The first listed fragment: its index is the EXT-X-MEDIA-SEQUENCE, so a segment keeps its
 * sequence number in every filtered view that lists it. */
static uint32_t first_listed(const pk_view_t *v, const pk_vtrack_t *vt)
{
    uint32_t k = v->frag_begin;
    while (k < v->frag_end && !vt->frags[k].count)
        k++;
    return k < v->frag_end ? k : v->frag_begin;
}

static void put_playlist_head(wr_t *w, const pk_view_t *v, const pk_vtrack_t *vt,
                              pk_hls_format_t fmt, unsigned need, int iframes)
{
    wr_printf(w, "#EXTM3U\n#EXT-X-VERSION:%u\n#EXT-X-TARGETDURATION:%u\n"
              "#EXT-X-MEDIA-SEQUENCE:%u\n#EXT-X-PLAYLIST-TYPE:VOD\n",
              version(fmt, need), target_duration(v, vt), first_listed(v, vt));
    wr_str(w, iframes ? "#EXT-X-I-FRAMES-ONLY\n" : "#EXT-X-INDEPENDENT-SEGMENTS\n");
}

static void put_map(wr_t *w, const pk_vtrack_t *vt, const pk_urlopts_t *o)
{
    wr_str(w, "#EXT-X-MAP:URI=\"");
    put_segment_uri(w, vt, NULL, PK_HLS_CMAF, 1, 0, o);
    wr_str(w, "\"\n");
}

int pk_hls_media(const pk_view_t *v, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                 pk_hls_format_t fmt, const pk_urlopts_t *o, wr_t *w)
{
    const pk_hls_keys_t *h = keys_of(o);
    const pk_hls_key_t *key = key_of(v, vt, o);
    unsigned need = fmt == PK_HLS_CMAF ? 6 : 3;
    uint64_t before = 0;
    int rc;

    if (mux && (fmt != PK_HLS_V3 || vt->t->type != PK_TRACK_VIDEO ||
                mux->t->type != PK_TRACK_AUDIO))
        return -EINVAL;
    if ((rc = keys_check(v, vt, fmt, o)) < 0)
        return rc;
    if (!same_key(v, vt, mux, o))
        return -ENOENT;
    put_playlist_head(w, v, vt, fmt, need > keys_need(o) ? need : keys_need(o), 0);
    /* the keys before EXT-X-MAP: they apply to what follows, the init section included */
    if (h && h->method != PK_HLS_AES_128)
        put_key_lines(w, 0, h->method, key, fmt != PK_HLS_CMAF);
    if (fmt == PK_HLS_CMAF && h && h->method == PK_HLS_AES_128 &&
        (rc = put_aes_line(w, h, key, vt, NULL, PK_HLS_INIT)) < 0)
        return rc;              /* RFC 8216 4.3.2.5: an encrypted map needs its IV */
    if (fmt == PK_HLS_CMAF)
        put_map(w, vt, o);
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        const pk_frag_t *f = &vt->frags[k];
        if (!f->count)
            continue;
        /* RFC 8216 4.3.2.4: a new EXT-X-KEY where the IV changes, i.e. every segment */
        if (h && h->method == PK_HLS_AES_128 && (rc = put_aes_line(w, h, key, vt, mux, k)) < 0)
            return rc;
        put_extinf(w, extinf_ms(before, f->duration, vt->t->timescale));
        before += f->duration;
        put_segment_uri(w, vt, mux, fmt, 0, f->time, o);
        wr_u8(w, '\n');
    }
    wr_str(w, "#EXT-X-ENDLIST\n");
    return w->err;
}

int pk_hls_iframes(const pk_view_t *v, const pk_vtrack_t *vt, pk_hls_format_t fmt,
                   const pk_urlopts_t *o, arena_t *a, wr_t *w)
{
    const pk_hls_keys_t *h = keys_of(o);
    uint64_t before = 0;
    size_kind_t kind = fmt == PK_HLS_CMAF ? SIZE_IFRAME_CMAF : SIZE_IFRAME_TS;
    sizing_t z = sizing_of(v, vt, NULL, o);
    unsigned need = fmt == PK_HLS_CMAF ? 5 : 4;
    int rc;

    (void)a;                    /* TS ranges are measured in scratch arenas (entry_size) */
    if (fmt == PK_HLS_V3 || vt->t->type != PK_TRACK_VIDEO || no_iframes(fmt, o))
        return -ENOENT;
    if ((rc = keys_check(v, vt, fmt, o)) < 0)
        return rc;
    /* EXT-X-BYTERANGE and EXT-X-I-FRAMES-ONLY need 4, EXT-X-MAP in I-frame playlists 5 */
    put_playlist_head(w, v, vt, fmt, need > keys_need(o) ? need : keys_need(o), 1);
    if (h)
        put_key_lines(w, 0, h->method, key_of(v, vt, o), 0);
    if (fmt == PK_HLS_CMAF)
        put_map(w, vt, o);
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        const pk_frag_t *f = &vt->frags[k];
        uint64_t len;
        if (!f->count)
            continue;
        if ((rc = entry_size(vt, NULL, k, kind, &z, &len)) < 0)
            return rc;
        /* one I-frame per fragment: its EXTINF runs to the next fragment's key frame */
        put_extinf(w, extinf_ms(before, f->duration, vt->t->timescale));
        before += f->duration;
        wr_printf(w, "#EXT-X-BYTERANGE:%llu@0\n", (unsigned long long)len);
        put_segment_uri(w, vt, NULL, fmt, 0, f->time, o);
        wr_u8(w, '\n');
    }
    wr_str(w, "#EXT-X-ENDLIST\n");
    return w->err;
}
