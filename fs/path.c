/*
 * The URL grammar inside NAME.ism/ (DESIGN §1, ams-facts §1.4 and §1.8).
 *
 * One pass over the name, no allocation, no state: this runs on every FUSE lookup. Lookup is
 * lenient where AMS or its docs were (keyword case, option order, blanks after commas,
 * `.m3u8`/`.mpd` suffixes); names are exact. Everything else is -ENOENT, so a near miss can
 * never reach the packager as some other request.
 */
#include "path.h"

#include <errno.h>
#include <string.h>

/*
 * PATH_MAX: the kernel never hands FUSE a longer path, and bounding the scan keeps a huge
 * string from costing more than a real name would.
 */
#define REL_MAX 4096

/* The longest decimals that can fit: UINT32_MAX has 10 digits, UINT64_MAX has 20. */
#define BITRATE_DIGITS 10
#define TIME_DIGITS 20

typedef struct {
    const char *p;
    size_t n;
} span_t;

/* Option keys, in the canonical order fs_path_format() writes them. */
enum { OPT_FORMAT, OPT_AUDIOTRACK, OPT_TYPE, OPT_FILTER, OPT_AUDIO_ONLY, OPT_ENCRYPTION, OPT_N };

static const char *const opt_keys[OPT_N] = {
    "format", "audiotrack", "type", "filter", "audio-only", "encryption",
};

#define BIT(o) (1u << (o))

/*
 * The options each request takes (DESIGN §1): playlists list a time range, so they carry
 * filter=; segments carry only what changes their bytes, so filtered and unfiltered views
 * share segment files (and CDN cache).
 */
static const unsigned opts_allowed[] = {
    [FS_REQ_MANIFEST] = BIT(OPT_FORMAT) | BIT(OPT_FILTER) | BIT(OPT_AUDIO_ONLY)
                        | BIT(OPT_ENCRYPTION),
    [FS_REQ_QUALITY_DIR] = 0,
    [FS_REQ_PLAYLIST] = BIT(OPT_FORMAT) | BIT(OPT_AUDIOTRACK) | BIT(OPT_TYPE) | BIT(OPT_FILTER)
                        | BIT(OPT_ENCRYPTION),
    [FS_REQ_FRAGMENT] = BIT(OPT_FORMAT) | BIT(OPT_AUDIOTRACK) | BIT(OPT_ENCRYPTION),
};

#define NO_FMT (-1)

/*
 * format= values and what each names per request kind (NO_FMT: not valid there). The
 * AMS-documented segment spellings all resolve to the one CMAF segment (DESIGN §1);
 * fmp4-v20 and f4m-f4f (ams-facts §1.2) are not served.
 */
static const struct {
    const char *name;
    int manifest, playlist, fragment;
} formats[] = {
    { "mpd-time-csf",  FS_FMT_MPD_CSF,  NO_FMT,          FS_FMT_CMAF },
    { "mpd-time-cmaf", FS_FMT_MPD_CMAF, NO_FMT,          FS_FMT_CMAF },
    { "m3u8-aapl",     FS_FMT_HLS_V4,   FS_FMT_HLS_V4,   FS_FMT_HLS_V4 },
    { "m3u8-aapl-v3",  FS_FMT_HLS_V3,   FS_FMT_HLS_V3,   FS_FMT_HLS_V3 },
    { "m3u8-cmaf",     FS_FMT_HLS_CMAF, FS_FMT_HLS_CMAF, FS_FMT_CMAF },
    { "cmaf",          NO_FMT,          NO_FMT,          FS_FMT_CMAF },
};

/* ams-facts §5.1; `cbcs` is a lenient alias: it is what the scheme is called elsewhere. */
static const struct {
    const char *name;
    fs_encryption_t enc;
} encryptions[] = {
    { "cbc", FS_ENC_CBC }, { "cenc", FS_ENC_CENC }, { "cbcs-aapl", FS_ENC_CBCS },
    { "cbcs", FS_ENC_CBCS }, { "piff", FS_ENC_PIFF },
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive: strncasecmp() would follow the locale. `word` is lowercase. */
static int has_prefix(span_t s, const char *word)
{
    size_t i = 0;
    for (; word[i]; i++)
        if (i == s.n || lower((unsigned char)s.p[i]) != (unsigned char)word[i])
            return 0;
    return 1;
}

static int span_is(span_t s, const char *word)
{
    return s.n == strlen(word) && has_prefix(s, word);
}

static span_t skip_blanks(span_t s)
{
    while (s.n && is_blank(*s.p)) {
        s.p++;
        s.n--;
    }
    return s;
}

static span_t trim_blanks(span_t s)
{
    while (s.n && is_blank(s.p[s.n - 1]))
        s.n--;
    return s;
}

/*
 * A track, audiotrack or filter name: exact bytes, 1..FS_NAME_MAX of them, none of the
 * grammar's separators, no blank (a leading or trailing one would be ambiguous with the
 * padding lookup tolerates) and no control character (nothing a manifest should print).
 */
static int take_name(span_t s, char dst[FS_NAME_MAX + 1])
{
    if (s.n == 0 || s.n > FS_NAME_MAX)
        return -ENOENT;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c <= 0x20 || c == 0x7f)
            return -ENOENT;
        switch (c) {
        case '/': case '(': case ')': case ',': case '=': case ';':
            return -ENOENT;
        }
    }
    memcpy(dst, s.p, s.n);
    dst[s.n] = '\0';
    return 0;
}

/* Plain decimal digits, no sign or blank; leading zeros count towards max_digits. */
static int take_decimal(span_t s, size_t max_digits, uint64_t *out)
{
    uint64_t v = 0;
    if (s.n == 0 || s.n > max_digits)
        return -ENOENT;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned char)s.p[i] - (unsigned)'0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -ENOENT;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int take_filters(span_t v, fs_path_t *p)
{
    int rc;
    for (;;) {
        const char *semi = memchr(v.p, ';', v.n);
        size_t n = semi ? (size_t)(semi - v.p) : v.n;
        if (p->filter_count == FS_FILTERS_MAX)          /* ams-facts §1.3: 1 to 3 filters */
            return -ENOENT;
        if ((rc = take_name((span_t){ v.p, n }, p->filters[p->filter_count])) < 0)
            return rc;
        p->filter_count++;
        if (!semi)
            return 0;
        v.p += n + 1;
        v.n -= n + 1;
    }
}

/* One `key=value` option, already stripped of the blanks around it. */
static int take_opt(span_t it, fs_path_t *p, unsigned *seen)
{
    const char *eq = memchr(it.p, '=', it.n);
    if (!eq)
        return -ENOENT;
    /* ams-facts §1.3: v2 docs print blanks around separators; tolerate them around '=' */
    span_t key = trim_blanks((span_t){ it.p, (size_t)(eq - it.p) });
    span_t val = skip_blanks((span_t){ eq + 1, it.n - (size_t)(eq - it.p) - 1 });
    int o = 0;
    while (o < OPT_N && !span_is(key, opt_keys[o]))
        o++;
    if (o == OPT_N || !(opts_allowed[p->kind] & BIT(o)) || (*seen & BIT(o)))
        return -ENOENT;         /* unknown, not for this request, or given twice */
    *seen |= BIT(o);

    switch (o) {
    case OPT_FORMAT:
        for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
            if (!span_is(val, formats[i].name))
                continue;
            int f = p->kind == FS_REQ_MANIFEST ? formats[i].manifest
                  : p->kind == FS_REQ_PLAYLIST ? formats[i].playlist : formats[i].fragment;
            if (f == NO_FMT)
                return -ENOENT;
            p->format = (fs_format_t)f;
            return 0;
        }
        return -ENOENT;
    case OPT_AUDIOTRACK:
        return take_name(val, p->audiotrack);
    case OPT_TYPE:
        if (!span_is(val, "keyframes"))
            return -ENOENT;
        p->keyframes = 1;
        return 0;
    case OPT_FILTER:
        return take_filters(val, p);
    case OPT_AUDIO_ONLY:
        if (span_is(val, "false")) {
            p->audio_only_false = 1;
            return 0;
        }
        return span_is(val, "true") ? 0 : -ENOENT;      /* true is the default */
    case OPT_ENCRYPTION:
        for (size_t i = 0; i < sizeof encryptions / sizeof encryptions[0]; i++) {
            if (span_is(val, encryptions[i].name)) {
                p->encryption = encryptions[i].enc;
                return 0;
            }
        }
        return -ENOENT;
    }
    return -ENOENT;
}

/*
 * A comma-separated option list. Blanks may pad either side of a comma (DESIGN §1 "whitespace
 * after commas"; ams-facts §1.3), not the inside of the parentheses: `after_comma` says the
 * list itself follows a comma (the TRACK of Manifest()/Fragments()), so it may start blank.
 */
static int take_opts(span_t s, int after_comma, fs_path_t *p)
{
    unsigned seen = 0;
    int rc;
    for (;;) {
        const char *comma = memchr(s.p, ',', s.n);
        span_t it = { s.p, comma ? (size_t)(comma - s.p) : s.n };
        if (after_comma)
            it = skip_blanks(it);
        if (comma)
            it = trim_blanks(it);
        if ((rc = take_opt(it, p, &seen)) < 0)
            return rc;
        if (!comma)
            break;
        s.n -= (size_t)(comma + 1 - s.p);
        s.p = comma + 1;
        after_comma = 1;
    }
    if (p->kind == FS_REQ_PLAYLIST && !(seen & BIT(OPT_FORMAT)))
        return -ENOENT;         /* a media playlist has no Smooth form */
    if ((seen & BIT(OPT_AUDIOTRACK)) && p->format != FS_FMT_HLS_V3)
        return -ENOENT;         /* only v3 muxes an audio track into the video's TS */
    return 0;
}

/*
 * Splits `KEYWORD(BODY)TAIL`, the keyword case-insensitive (ams-facts §1.5). Returns 1 with
 * body and tail set, 0 when the keyword is followed by no '(' (tail = the rest), or -ENOENT.
 * No name may hold a parenthesis, so the first ')' closes and any other paren is an error.
 */
static int split_call(span_t c, const char *kw, span_t *body, span_t *tail)
{
    size_t k = strlen(kw);
    if (!has_prefix(c, kw))
        return -ENOENT;
    c.p += k;
    c.n -= k;
    if (c.n == 0 || *c.p != '(') {
        *tail = c;
        return 0;
    }
    const char *close = memchr(c.p, ')', c.n);
    if (!close)
        return -ENOENT;
    *body = (span_t){ c.p + 1, (size_t)(close - c.p - 1) };
    *tail = (span_t){ close + 1, c.n - (size_t)(close + 1 - c.p) };
    if (memchr(body->p, '(', body->n) || memchr(tail->p, '(', tail->n)
        || memchr(tail->p, ')', tail->n))
        return -ENOENT;
    return 1;
}

/*
 * manifest[(OPTS)][.m3u8|.mpd]. The suffix must agree with the format (every example in
 * ams-facts §1.4 does), so `manifest.m3u8` is not a Smooth manifest under an HLS name; it is
 * decoration players add, never a format switch.
 */
static int take_manifest(span_t c, fs_path_t *p)
{
    span_t body, tail;
    int rc = split_call(c, "manifest", &body, &tail);
    if (rc < 0)
        return rc;
    p->kind = FS_REQ_MANIFEST;
    if (rc == 1 && (rc = take_opts(body, 0, p)) < 0)
        return rc;              /* an empty manifest() fails here: no key */
    if (tail.n == 0)
        return 0;
    if (span_is(tail, ".m3u8"))
        return p->format == FS_FMT_HLS_V4 || p->format == FS_FMT_HLS_V3
               || p->format == FS_FMT_HLS_CMAF ? 0 : -ENOENT;
    if (span_is(tail, ".mpd"))
        return p->format == FS_FMT_MPD_CSF || p->format == FS_FMT_MPD_CMAF ? 0 : -ENOENT;
    return -ENOENT;
}

/* QualityLevels(N). MS-SSTR's custom attributes `QualityLevels(N,Key=Value)` are refused. */
static int take_quality(span_t c, fs_path_t *p)
{
    span_t body, tail;
    uint64_t n = 0;
    if (split_call(c, "qualitylevels", &body, &tail) != 1 || tail.n
        || take_decimal(body, BITRATE_DIGITS, &n) < 0 || n == 0 || n > UINT32_MAX)
        return -ENOENT;
    p->kind = FS_REQ_QUALITY_DIR;
    p->bitrate = (uint32_t)n;
    return 0;
}

/* Manifest(TRACK,OPTS)[.m3u8]: the format is required, so there is always a comma. */
static int take_playlist(span_t body, span_t tail, fs_path_t *p)
{
    const char *comma = memchr(body.p, ',', body.n);
    int rc;
    if (!comma || (tail.n && !span_is(tail, ".m3u8")))
        return -ENOENT;
    p->kind = FS_REQ_PLAYLIST;
    if ((rc = take_name(trim_blanks((span_t){ body.p, (size_t)(comma - body.p) }),
                        p->track)) < 0)
        return rc;
    return take_opts((span_t){ comma + 1, body.n - (size_t)(comma + 1 - body.p) }, 1, p);
}

/* Fragments(TRACK=TIME|i[,OPTS]): no suffix, and no blank around this '=' (not an option). */
static int take_fragment(span_t body, span_t tail, fs_path_t *p)
{
    const char *comma = memchr(body.p, ',', body.n);
    span_t head = { body.p, comma ? (size_t)(comma - body.p) : body.n };
    int rc;
    if (tail.n)
        return -ENOENT;
    p->kind = FS_REQ_FRAGMENT;
    if (comma)
        head = trim_blanks(head);
    const char *eq = memchr(head.p, '=', head.n);
    if (!eq)
        return -ENOENT;
    span_t t = { eq + 1, head.n - (size_t)(eq + 1 - head.p) };
    if ((rc = take_name((span_t){ head.p, (size_t)(eq - head.p) }, p->track)) < 0)
        return rc;
    if (span_is(t, "i"))
        p->init = 1;            /* ams-facts §1.4: init segments use the literal `i` */
    else if ((rc = take_decimal(t, TIME_DIGITS, &p->time)) < 0)
        return rc;
    if (comma &&
        (rc = take_opts((span_t){ comma + 1, body.n - (size_t)(comma + 1 - body.p) }, 1, p)) < 0)
        return rc;
    if (p->init && p->format != FS_FMT_CMAF)
        return -ENOENT;         /* TS has no init segment; a Smooth fragment carries its own */
    return 0;
}

int fs_path_parse(const char *rel, fs_path_t *out)
{
    fs_path_t p;
    int rc;
    if (!rel)
        return -ENOENT;
    size_t len = strnlen(rel, REL_MAX);
    if (len == REL_MAX)
        return -ENOENT;
    memset(&p, 0, sizeof p);

    const char *slash = memchr(rel, '/', len);
    if (!slash) {
        span_t c = { rel, len };
        rc = has_prefix(c, "qualitylevels") ? take_quality(c, &p) : take_manifest(c, &p);
    } else {
        span_t child = { slash + 1, len - (size_t)(slash + 1 - rel) };
        span_t body, tail;
        if ((rc = take_quality((span_t){ rel, (size_t)(slash - rel) }, &p)) < 0)
            return rc;
        if (memchr(child.p, '/', child.n))
            return -ENOENT;     /* a third level, an empty component or a trailing slash */
        if (split_call(child, "manifest", &body, &tail) == 1)
            rc = take_playlist(body, tail, &p);
        else if (split_call(child, "fragments", &body, &tail) == 1)
            rc = take_fragment(body, tail, &p);
        else
            rc = -ENOENT;
    }
    if (rc < 0)
        return rc;
    *out = p;
    return 0;
}

/* ---- fs_path_format ---------------------------------------------------------------------- */

/* Like snprintf: counts every byte, stores those that fit (the last one is kept for the NUL). */
typedef struct {
    char *buf;
    size_t pos, cap;
} out_t;

static void put_n(out_t *o, const char *s, size_t n)
{
    if (o->pos < o->cap) {
        size_t room = o->cap - o->pos;
        memcpy(o->buf + o->pos, s, n < room ? n : room);
    }
    o->pos += n;
}

static void put(out_t *o, const char *s)
{
    put_n(o, s, strlen(s));
}

/* strnlen: a caller's unterminated array must not run us past it. */
static void put_name(out_t *o, const char *name)
{
    put_n(o, name, strnlen(name, FS_NAME_MAX));
}

static void put_u64(out_t *o, uint64_t v)
{
    char d[TIME_DIGITS];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_n(o, d + i, sizeof d - i);
}

/* Writes `SEP key=` where SEP opens the list the first time: '(' or ','. */
static void put_key(out_t *o, const char **sep, int opt)
{
    put(o, *sep);
    *sep = ",";
    put(o, opt_keys[opt]);
    put(o, "=");
}

static const char *format_name(fs_req_kind_t kind, fs_format_t f)
{
    switch (f) {
    case FS_FMT_SMOOTH:
        return NULL;
    case FS_FMT_MPD_CSF:
        return kind == FS_REQ_FRAGMENT ? "cmaf" : "mpd-time-csf";
    case FS_FMT_MPD_CMAF:
        return kind == FS_REQ_FRAGMENT ? "cmaf" : "mpd-time-cmaf";
    case FS_FMT_HLS_V4:
        return "m3u8-aapl";
    case FS_FMT_HLS_V3:
        return "m3u8-aapl-v3";
    case FS_FMT_HLS_CMAF:
        return kind == FS_REQ_FRAGMENT ? "cmaf" : "m3u8-cmaf";
    case FS_FMT_CMAF:
        return "cmaf";
    }
    return NULL;
}

/* `cbcs-aapl` is the AMS spelling for HLS (ams-facts §5.1); DASH and the CMAF segments that
 * DASH and HLS share say what the scheme is called everywhere else: `cbcs`. */
static const char *encryption_name(fs_encryption_t e, fs_format_t f)
{
    int hls = f == FS_FMT_HLS_V4 || f == FS_FMT_HLS_V3 || f == FS_FMT_HLS_CMAF;
    switch (e) {
    case FS_ENC_NONE:
        return NULL;
    case FS_ENC_CBC:
        return "cbc";
    case FS_ENC_CENC:
        return "cenc";
    case FS_ENC_CBCS:
        return hls ? "cbcs-aapl" : "cbcs";
    case FS_ENC_PIFF:
        return "piff";
    }
    return NULL;
}

/*
 * Each kind writes only the options it takes, so a view may format a segment name from its
 * playlist's fs_path_t (filters dropped, any CMAF-family format written `cmaf`) and get the
 * one canonical name. Option order: format, audiotrack, type, filter, audio-only, encryption
 * (the AMS child-URL order format, type, encryption, ams-facts §1.3, with the rest slotted in).
 */
size_t fs_path_format(const fs_path_t *p, char *buf, size_t cap)
{
    out_t o = { buf, 0, cap };
    const char *sep = ",";
    const char *f = format_name(p->kind, p->format);
    const char *e = encryption_name(p->encryption, p->format);

    switch (p->kind) {
    case FS_REQ_QUALITY_DIR:
        put(&o, "QualityLevels(");
        put_u64(&o, p->bitrate);
        put(&o, ")");
        goto out;
    case FS_REQ_MANIFEST:
        put(&o, "manifest");
        sep = "(";
        break;
    case FS_REQ_PLAYLIST:
        put(&o, "Manifest(");
        put_name(&o, p->track);
        break;
    case FS_REQ_FRAGMENT:
        put(&o, "Fragments(");
        put_name(&o, p->track);
        put(&o, "=");
        if (p->init)
            put(&o, "i");
        else
            put_u64(&o, p->time);
        break;
    default:
        goto out;
    }

    if (f) {
        put_key(&o, &sep, OPT_FORMAT);
        put(&o, f);
    }
    if (p->kind != FS_REQ_MANIFEST && p->format == FS_FMT_HLS_V3 && p->audiotrack[0]) {
        put_key(&o, &sep, OPT_AUDIOTRACK);
        put_name(&o, p->audiotrack);
    }
    if (p->kind == FS_REQ_PLAYLIST && p->keyframes) {
        put_key(&o, &sep, OPT_TYPE);
        put(&o, "keyframes");
    }
    if (p->kind != FS_REQ_FRAGMENT && p->filter_count) {
        uint32_t n = p->filter_count < FS_FILTERS_MAX ? p->filter_count : FS_FILTERS_MAX;
        put_key(&o, &sep, OPT_FILTER);
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                put(&o, ";");
            put_name(&o, p->filters[i]);
        }
    }
    if (p->kind == FS_REQ_MANIFEST && p->audio_only_false) {
        put_key(&o, &sep, OPT_AUDIO_ONLY);
        put(&o, "false");
    }
    if (e) {
        put_key(&o, &sep, OPT_ENCRYPTION);
        put(&o, e);
    }
    if (p->kind != FS_REQ_MANIFEST || sep[0] == ',')
        put(&o, ")");           /* a bare `manifest` has no parentheses */
out:
    if (cap)
        buf[o.pos < cap ? o.pos : cap - 1] = '\0';
    return o.pos;
}
