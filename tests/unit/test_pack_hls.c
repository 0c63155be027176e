/* HLS playlists (pack/hls.c), checked by a small RFC 8216 reader written here: line kinds,
 * attribute lists (§4.2), version rules (§7), target duration, EXTINF sums, URIs in the
 * grammar's spelling, bandwidth rules. The views are built by pk_view_build over synthetic
 * H.264/AAC/E-AC-3 tracks in memory, so the real TS and CMAF size functions run. */
#include "test.h"

#include "../../pack/hls.c"

#include <stdio.h>
#include <stdlib.h>

/* ---- synthetic media ---------------------------------------------------- */

#define VTS 15360               /* video timescale: 512 ticks a frame, 30 fps */
#define VFRAMES 287             /* 9.567 s: the last fragment is short */
#define GOP 30
#define ATS 48000
#define AFRAMES 449
#include "synth.h"

enum { WITH_EC3 = 1, NO_VIDEO = 2, NO_AUDIO = 4 };

/* eng AAC, fra AAC, 900k 640x360, 450k 320x180 (asset order: audio first, as ladder.ism),
 * with WITH_EC3 an E-AC-3 track last. */
static synth_t *synth(int flags, const char *vname)
{
    synth_t *s = calloc(1, sizeof *s);
    uint32_t n = 0;
    assert_non_null(s);
    if (!(flags & NO_AUDIO)) {
        synth_add_track(s, n++, PK_TRACK_AUDIO, mp4a_hex, "aac_eng_2_128000", 128000, "eng", 1,
                        0, 0);
        synth_add_track(s, n++, PK_TRACK_AUDIO, mp4a_hex, "aac_fra_2_96000", 96000, "fra", 1,
                        0, 0);
    }
    if (!(flags & NO_VIDEO)) {
        synth_add_track(s, n++, PK_TRACK_VIDEO, avc1_hex, vname, 450000, "und", 1, 0, 0);
        synth_add_track(s, n++, PK_TRACK_VIDEO, avc1_hex, vname, 900000, "und", 2, 640, 360);
    }
    if (flags & WITH_EC3)
        synth_add_track(s, n++, PK_TRACK_AUDIO, ec3_hex, "ec3_eng_6_384000", 384000, "eng", 1,
                        0, 0);
    synth_view(s, n);
    return s;
}

static const pk_vtrack_t *track_of(const synth_t *s, const char *name, uint32_t bitrate)
{
    const pk_vtrack_t *vt = pk_view_track(s->v, name, bitrate);
    assert_non_null(vt);
    return vt;
}

/* ---- running a writer ----------------------------------------------------- */

typedef int (*writer_fn)(const void *ctx, arena_t *a, wr_t *w);

/* Counts, then writes into exactly that many bytes (the getattr/read contract), and checks
 * that one byte less is -ENOSPC. Returns a NUL-terminated copy (free it) or NULL with *rc. */
static char *run(writer_fn fn, const void *ctx, int *rc)
{
    arena_t *a = arena_new();
    wr_t c = wr_counter();
    char *buf = NULL;
    if ((*rc = fn(ctx, a, &c)) == 0) {
        buf = malloc(c.pos + 1);
        wr_t w = wr_init(buf, c.pos);
        *rc = fn(ctx, a, &w);
        assert_int_equal(*rc, 0);
        assert_int_equal(w.pos, c.pos);
        buf[c.pos] = '\0';
        if (c.pos) {
            char *small = malloc(c.pos);
            w = wr_init(small, c.pos - 1);
            assert_int_equal(fn(ctx, a, &w), -ENOSPC);
            free(small);
        }
    }
    arena_free(a);
    return buf;
}

typedef struct {
    const synth_t *s;
    pk_hls_format_t fmt;
    const pk_urlopts_t *o;
    const pk_vtrack_t *vt, *mux;
} call_t;

static int call_master(const void *ctx, arena_t *a, wr_t *w)
{
    const call_t *c = ctx;
    return pk_hls_master(c->s->v, c->fmt, c->o, a, w);
}

static int call_media(const void *ctx, arena_t *a, wr_t *w)
{
    const call_t *c = ctx;
    (void)a;
    return pk_hls_media(c->s->v, c->vt, c->mux, c->fmt, c->o, w);
}

static int call_iframes(const void *ctx, arena_t *a, wr_t *w)
{
    const call_t *c = ctx;
    return pk_hls_iframes(c->s->v, c->vt, c->fmt, c->o, a, w);
}

/* run() that must succeed: the text (free it). */
static char *run_ok(writer_fn fn, const call_t *c)
{
    int rc;
    char *text = run(fn, c, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(text);
    return text;
}

/* run() that must fail with `want`, writing nothing. */
static void run_fails(writer_fn fn, const call_t *c, int want)
{
    int rc;
    assert_null(run(fn, c, &rc));
    assert_int_equal(rc, want);
}

/* ---- an RFC 8216 reader --------------------------------------------------- */

#define MAX_ATTRS 16
#define MAX_LINES 256

typedef struct {
    char name[32];
    char value[1000];
    int quoted;
} attr_t;

typedef struct {
    char text[1100];            /* the line */
    char tag[40];               /* "EXTINF", "EXT-X-MEDIA", ... or "" for a URI line */
    char rest[1060];            /* after the ':' of a tag */
    attr_t attrs[MAX_ATTRS];
    int nattrs;                 /* -1: the rest is not an attribute list */
} line_t;

typedef struct {
    line_t l[MAX_LINES];
    int n;
} m3u8_t;

/* RFC 8216 §4.2: AttributeName=AttributeValue, comma-separated; names [A-Z0-9-], each at
 * most once; values a quoted-string (no '"', CR, LF inside) or an unquoted run up to ','.*/
static int parse_attrs(const char *s, attr_t *out)
{
    int n = 0;
    while (*s) {
        attr_t *a = &out[n];
        size_t k = 0;
        if (n == MAX_ATTRS)
            return -1;
        while ((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-')
            a->name[k++] = *s++;
        a->name[k] = '\0';
        if (!k || *s++ != '=')
            return -1;
        k = 0;
        a->quoted = *s == '"';
        if (a->quoted) {
            s++;
            while (*s && *s != '"') {
                if (*s == '\r' || *s == '\n')
                    return -1;
                a->value[k++] = *s++;
            }
            if (*s++ != '"')
                return -1;
        } else {
            while (*s && *s != ',') {
                if (*s == '"')
                    return -1;
                a->value[k++] = *s++;
            }
        }
        a->value[k] = '\0';
        for (int i = 0; i < n; i++)
            if (strcmp(out[i].name, a->name) == 0)
                return -1;
        n++;
        if (*s == ',' && s[1])
            s++;
        else if (*s)
            return -1;
    }
    return n;
}

static const char *attr(const line_t *l, const char *name)
{
    for (int i = 0; i < l->nattrs; i++)
        if (strcmp(l->attrs[i].name, name) == 0)
            return l->attrs[i].value;
    return NULL;
}

static void parse_m3u8(const char *text, m3u8_t *m)
{
    const char *p = text;
    m->n = 0;
    assert_true(strncmp(text, "#EXTM3U\n", 8) == 0);
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);                    /* every line ends with LF */
        assert_true(m->n < MAX_LINES);
        line_t *l = &m->l[m->n++];
        size_t len = (size_t)(nl - p);
        assert_true(len > 0 && len < sizeof l->text);   /* no blank line */
        memcpy(l->text, p, len);
        l->text[len] = '\0';
        for (size_t i = 0; i < len; i++)
            assert_true((unsigned char)l->text[i] >= 0x20 && l->text[i] != 0x7f);
        l->tag[0] = l->rest[0] = '\0';
        l->nattrs = -1;
        if (l->text[0] == '#') {
            assert_true(strncmp(l->text, "#EXT", 4) == 0);      /* we write no comments */
            size_t t = strcspn(l->text + 1, ":");
            assert_true(t < sizeof l->tag);
            memcpy(l->tag, l->text + 1, t);
            l->tag[t] = '\0';
            if (l->text[1 + t] == ':') {
                assert_true(strlen(l->text + 2 + t) < sizeof l->rest);
                memcpy(l->rest, l->text + 2 + t, strlen(l->text + 2 + t) + 1);
            }
            if (strcmp(l->tag, "EXTINF") && strcmp(l->tag, "EXT-X-BYTERANGE"))
                l->nattrs = parse_attrs(l->rest, l->attrs);
        }
        p = nl + 1;
    }
}

static const line_t *find_tag(const m3u8_t *m, const char *tag)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->l[i].tag, tag) == 0)
            return &m->l[i];
    return NULL;
}

static long tag_int(const m3u8_t *m, const char *tag)
{
    const line_t *l = find_tag(m, tag);
    assert_non_null(l);
    char *end;
    long v = strtol(l->rest, &end, 10);
    assert_true(*l->rest && *end == '\0' && v >= 0);
    return v;
}

/* RFC 8216 §7: the lowest version the tags of m need. */
static long needed_version(const m3u8_t *m)
{
    long need = 1;
    int iframes = find_tag(m, "EXT-X-I-FRAMES-ONLY") != NULL;
    for (int i = 0; i < m->n; i++) {
        const line_t *l = &m->l[i];
        if (!strcmp(l->tag, "EXTINF") && strchr(l->rest, '.') && need < 3)
            need = 3;
        if ((!strcmp(l->tag, "EXT-X-BYTERANGE") || !strcmp(l->tag, "EXT-X-I-FRAMES-ONLY")) &&
            need < 4)
            need = 4;
        if (!strcmp(l->tag, "EXT-X-MAP") && need < (iframes ? 5 : 6))
            need = iframes ? 5 : 6;
        if (!strcmp(l->tag, "EXT-X-KEY") && attr(l, "IV") && need < 2)
            need = 2;
        if (!strcmp(l->tag, "EXT-X-KEY") && (attr(l, "KEYFORMAT") ||
                                             attr(l, "KEYFORMATVERSIONS")) && need < 5)
            need = 5;
    }
    return need;
}

/* Percent-decodes a URI component; fails on what RFC 3986 pchar does not allow raw. */
static void uri_decode(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            unsigned b;
            assert_true(i + 2 < n);
            assert_int_equal(sscanf(s + i + 1, "%2x", &b), 1);
            out[k++] = (char)b;
            i += 2;
        } else {
            assert_true((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:@/", c));
            out[k++] = (char)c;
        }
    }
    out[k] = '\0';
}

typedef struct {
    char noun[16];              /* "Fragments", "Manifest", "QualityLevels" */
    uint32_t bitrate;           /* QualityLevels(N)/ prefix, 0 when none */
    char name[64];              /* decoded */
    char time[24];              /* Fragments: digits or "i" */
    char format[24], audiotrack[64], type[16], rest[128];
} uri_t;

/*
 * [QualityLevels(N)/]Noun(NAME[=TIME],format=F[,audiotrack=A][,type=T]REST) with the
 * grammar's canonical order; REST is what follows (decoded).
 */
static void parse_uri(const char *s, uri_t *u)
{
    char dec[700];
    memset(u, 0, sizeof *u);
    uri_decode(s, strlen(s), dec);
    const char *p = dec;
    if (strncmp(p, "QualityLevels(", 14) == 0) {
        char *end;
        u->bitrate = (uint32_t)strtoul(p + 14, &end, 10);
        assert_true(strncmp(end, ")/", 2) == 0 && u->bitrate > 0);
        p = end + 2;
    }
    size_t n = strcspn(p, "(");
    assert_true(n < sizeof u->noun && p[n] == '(');
    memcpy(u->noun, p, n);
    p += n + 1;
    size_t len = strlen(p);
    assert_true(len > 0 && p[len - 1] == ')');
    char body[700];
    memcpy(body, p, len - 1);
    body[len - 1] = '\0';
    /* the name ends at the first '=' (Fragments) or ',' (Manifest) */
    char *q = body;
    n = strcspn(q, !strcmp(u->noun, "Fragments") ? "=" : ",");
    assert_true(n > 0 && n < sizeof u->name);
    memcpy(u->name, q, n);
    q += n;
    if (!strcmp(u->noun, "Fragments")) {
        q++;
        n = strcspn(q, ",");
        assert_true(n > 0 && n < sizeof u->time);
        memcpy(u->time, q, n);
        assert_true(!strcmp(u->time, "i") || strspn(u->time, "0123456789") == n);
        q += n;
    }
    assert_true(strncmp(q, ",format=", 8) == 0);
    q += 8;
    n = strcspn(q, ",");
    memcpy(u->format, q, n);
    q += n;
    if (!strncmp(q, ",audiotrack=", 12)) {
        q += 12;
        n = strcspn(q, ",");
        memcpy(u->audiotrack, q, n);
        q += n;
    }
    if (!strncmp(q, ",type=", 6)) {
        q += 6;
        n = strcspn(q, ",");
        memcpy(u->type, q, n);
        q += n;
    }
    snprintf(u->rest, sizeof u->rest, "%s", q);
}

/* ---- checking playlists --------------------------------------------------- */

typedef struct {
    long version, target, sequence;
    int segs;
    uint64_t sum_ms;
    uint64_t ms[64];
    uri_t uri[64];
    uint64_t range[64];         /* EXT-X-BYTERANGE length, 0 when none */
    int has_map;
    uri_t map;
} media_info_t;

static uint64_t parse_ms(const char *s)
{
    unsigned long long sec, frac;
    char comma;
    /* three decimals exactly, then the comma of an empty title */
    assert_int_equal(sscanf(s, "%llu.%3llu%c", &sec, &frac, &comma), 3);
    assert_true(comma == ',' && strlen(strchr(s, '.')) == 5);
    return sec * 1000 + frac;
}

static void check_media(const char *text, int iframes, media_info_t *mi)
{
    static m3u8_t m;
    memset(mi, 0, sizeof *mi);
    parse_m3u8(text, &m);
    mi->version = tag_int(&m, "EXT-X-VERSION");
    mi->target = tag_int(&m, "EXT-X-TARGETDURATION");
    mi->sequence = tag_int(&m, "EXT-X-MEDIA-SEQUENCE");
    assert_true(mi->version >= needed_version(&m));
    assert_string_equal(find_tag(&m, "EXT-X-PLAYLIST-TYPE")->rest, "VOD");
    assert_true((find_tag(&m, "EXT-X-I-FRAMES-ONLY") != NULL) == iframes);
    assert_string_equal(m.l[m.n - 1].text, "#EXT-X-ENDLIST");
    const line_t *map = find_tag(&m, "EXT-X-MAP");
    if (map) {
        mi->has_map = 1;
        assert_true(map->nattrs == 1 && map->attrs[0].quoted);
        parse_uri(attr(map, "URI"), &mi->map);
    }
    uint64_t pending_ms = 0, pending_range = 0;
    int have_inf = 0;
    for (int i = 0; i < m.n; i++) {
        const line_t *l = &m.l[i];
        if (!strcmp(l->tag, "EXTINF")) {
            assert_false(have_inf);
            pending_ms = parse_ms(l->rest);
            have_inf = 1;
        } else if (!strcmp(l->tag, "EXT-X-BYTERANGE")) {
            unsigned long long len, off;
            assert_int_equal(sscanf(l->rest, "%llu@%llu", &len, &off), 2);
            assert_true(off == 0 && len > 0);
            pending_range = len;
        } else if (l->text[0] != '#') {
            assert_true(have_inf);
            assert_true(mi->segs < 64);
            /* §4.3.3.1: each EXTINF rounded to the nearest integer <= TARGETDURATION */
            assert_true((long)((pending_ms + 500) / 1000) <= mi->target);
            mi->ms[mi->segs] = pending_ms;
            mi->range[mi->segs] = pending_range;
            parse_uri(l->text, &mi->uri[mi->segs]);
            assert_string_equal(mi->uri[mi->segs].noun, "Fragments");
            assert_int_equal(mi->uri[mi->segs].bitrate, 0);    /* relative to the playlist */
            mi->sum_ms += pending_ms;
            mi->segs++;
            have_inf = 0;
            pending_range = 0;
        }
    }
    assert_false(have_inf);
    assert_true(iframes == (mi->segs && mi->range[0] != 0));
}

/* The view's own account of vt's listed fragments against what the playlist says. */
static void check_against_view(const pk_view_t *v, const pk_vtrack_t *vt, const media_info_t *mi,
                               const char *format)
{
    uint32_t first = UINT32_MAX;
    int s = 0;
    uint64_t ticks = 0, max_ms = 0;
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        const pk_frag_t *f = &vt->frags[k];
        if (!f->count)
            continue;
        if (first == UINT32_MAX)
            first = k;
        assert_true(s < mi->segs);
        char t[24];
        snprintf(t, sizeof t, "%llu", (unsigned long long)f->time);
        assert_string_equal(mi->uri[s].time, t);
        assert_string_equal(mi->uri[s].name, vt->at->name);
        assert_string_equal(mi->uri[s].format, format);
        /* within 1 ms of the exact duration */
        double exact = (double)f->duration * 1000.0 / vt->t->timescale;
        assert_true(mi->ms[s] + 1.0 >= exact && mi->ms[s] <= exact + 1.0);
        if (mi->ms[s] > max_ms)
            max_ms = mi->ms[s];
        ticks += f->duration;
        s++;
    }
    assert_int_equal(s, mi->segs);
    assert_int_equal(mi->sequence, first);
    /* the sum is the listed duration rounded: no drift */
    uint64_t total_ms = (ticks * 1000 + vt->t->timescale / 2) / vt->t->timescale;
    assert_int_equal(mi->sum_ms, total_ms);
    assert_int_equal(mi->target, (long)((max_ms + 999) / 1000));
}

typedef struct {
    int variants, iframes, media, audio_only_at;      /* audio_only_at: index or -1 */
    const line_t *variant[16], *iframe[16], *mediat[16];
    const line_t *variant_uri[16];
    long version;
} master_info_t;

static m3u8_t master_m;

static void check_master(const char *text, master_info_t *mi)
{
    m3u8_t *m = &master_m;
    memset(mi, 0, sizeof *mi);
    mi->audio_only_at = -1;
    parse_m3u8(text, m);
    mi->version = tag_int(m, "EXT-X-VERSION");
    assert_non_null(find_tag(m, "EXT-X-INDEPENDENT-SEGMENTS"));
    assert_null(find_tag(m, "EXTINF"));
    for (int i = 0; i < m->n; i++) {
        const line_t *l = &m->l[i];
        if (l->text[0] != '#')
            continue;
        if (strcmp(l->tag, "EXTM3U") && strcmp(l->tag, "EXT-X-VERSION") &&
            strcmp(l->tag, "EXT-X-INDEPENDENT-SEGMENTS"))
            assert_true(l->nattrs > 0);
        if (!strcmp(l->tag, "EXT-X-STREAM-INF")) {
            assert_true(i + 1 < m->n && m->l[i + 1].text[0] != '#');
            mi->variant[mi->variants] = l;
            mi->variant_uri[mi->variants] = &m->l[i + 1];
            if (!attr(l, "RESOLUTION"))
                mi->audio_only_at = mi->variants;
            mi->variants++;
            long bw = atol(attr(l, "BANDWIDTH")), avg = atol(attr(l, "AVERAGE-BANDWIDTH"));
            assert_true(bw > 0 && avg > 0 && bw >= avg);
            assert_non_null(attr(l, "CODECS"));
        } else if (!strcmp(l->tag, "EXT-X-I-FRAME-STREAM-INF")) {
            mi->iframe[mi->iframes++] = l;
            assert_true(mi->version >= 4);
            assert_null(attr(l, "FRAME-RATE"));
            assert_null(attr(l, "AUDIO"));
            assert_true(atol(attr(l, "BANDWIDTH")) >= atol(attr(l, "AVERAGE-BANDWIDTH")));
        } else if (!strcmp(l->tag, "EXT-X-MEDIA")) {
            mi->mediat[mi->media++] = l;
            /* AUTOSELECT must be YES where DEFAULT is */
            if (!strcmp(attr(l, "DEFAULT"), "YES"))
                assert_string_equal(attr(l, "AUTOSELECT"), "YES");
        }
    }
    /* every AUDIO= names a group; each group has one DEFAULT=YES and unique NAMEs */
    for (int i = 0; i < mi->variants; i++) {
        const char *g = attr(mi->variant[i], "AUDIO");
        if (!g)
            continue;
        int members = 0, defaults = 0;
        for (int j = 0; j < mi->media; j++) {
            if (strcmp(attr(mi->mediat[j], "GROUP-ID"), g))
                continue;
            members++;
            defaults += !strcmp(attr(mi->mediat[j], "DEFAULT"), "YES");
            for (int k = 0; k < j; k++)
                if (!strcmp(attr(mi->mediat[k], "GROUP-ID"), g))
                    assert_string_not_equal(attr(mi->mediat[k], "NAME"),
                                            attr(mi->mediat[j], "NAME"));
        }
        assert_true(members > 0);
        assert_int_equal(defaults, 1);
    }
}

/* ---- tests ---------------------------------------------------------------- */

static const pk_urlopts_t no_opts = { .playlist = "", .segment = "" };

static void test_master_v4(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    call_t c = { s, PK_HLS_V4, &no_opts, NULL, NULL };
    master_info_t mi;
    char *text = run_ok(call_master, &c);
    check_master(text, &mi);
    assert_int_equal(mi.version, 4);
    assert_int_equal(mi.media, 2);
    assert_int_equal(mi.variants, 3);                   /* 2 video + audio-only */
    assert_int_equal(mi.iframes, 2);
    assert_int_equal(mi.audio_only_at, 2);              /* last */
    /* the audio-only variant is the last lines of the file */
    assert_ptr_equal(mi.variant_uri[2], &master_m.l[master_m.n - 1]);

    const line_t *eng = mi.mediat[0], *fra = mi.mediat[1];
    assert_string_equal(attr(eng, "TYPE"), "AUDIO");
    assert_string_equal(attr(eng, "GROUP-ID"), "audio");
    assert_string_equal(attr(eng, "NAME"), "aac_eng_2_128000");
    assert_string_equal(attr(eng, "LANGUAGE"), "en");
    assert_string_equal(attr(fra, "LANGUAGE"), "fr");
    assert_string_equal(attr(eng, "DEFAULT"), "YES");
    assert_string_equal(attr(fra, "DEFAULT"), "NO");
    assert_string_equal(attr(eng, "CHANNELS"), "2");
    uri_t u;
    parse_uri(attr(eng, "URI"), &u);
    assert_string_equal(u.noun, "Manifest");
    assert_int_equal(u.bitrate, 128000);
    assert_string_equal(u.name, "aac_eng_2_128000");
    assert_string_equal(u.format, "m3u8-aapl");

    /* descending bitrate; CODECS video then audio; frame rate of a 512/15360 track */
    const line_t *hi = mi.variant[0], *lo = mi.variant[1];
    assert_string_equal(attr(hi, "RESOLUTION"), "640x360");
    assert_string_equal(attr(lo, "RESOLUTION"), "320x180");
    assert_string_equal(attr(hi, "FRAME-RATE"), "30.000");
    assert_string_equal(attr(hi, "CODECS"), "avc1.64000c,mp4a.40.2");
    assert_string_equal(attr(hi, "AUDIO"), "audio");
    parse_uri(mi.variant_uri[0]->text, &u);
    assert_int_equal(u.bitrate, 900000);
    assert_string_equal(u.name, "video");
    assert_string_equal(u.type, "");
    assert_true(atol(attr(hi, "BANDWIDTH")) > atol(attr(lo, "BANDWIDTH")));
    /* the variant carries its audio: more than the video's own average */
    long video_avg = (long)track_of(s, "video", 900000)->avg_bitrate;
    assert_true(atol(attr(hi, "AVERAGE-BANDWIDTH")) > video_avg);

    parse_uri(attr(mi.iframe[0], "URI"), &u);
    assert_string_equal(u.type, "keyframes");
    assert_int_equal(u.bitrate, 900000);
    assert_string_equal(attr(mi.iframe[0], "CODECS"), "avc1.64000c");
    /* I-frames weigh less than the whole stream */
    assert_true(atol(attr(mi.iframe[0], "BANDWIDTH")) < atol(attr(hi, "BANDWIDTH")));

    const line_t *ao = mi.variant[2];
    assert_string_equal(attr(ao, "CODECS"), "mp4a.40.2");
    assert_string_equal(attr(ao, "AUDIO"), "audio");
    parse_uri(mi.variant_uri[2]->text, &u);
    assert_string_equal(u.name, "aac_eng_2_128000");
    free(text);
    synth_free(s);
}

static void test_master_cmaf_and_options(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    pk_urlopts_t o = { .playlist = ",filter=a;b,encryption=cbcs-aapl",
                       .segment = ",encryption=cbcs-aapl", .audio_only_false = 1 };
    call_t c = { s, PK_HLS_CMAF, &o, NULL, NULL };
    master_info_t mi;
    char *text = run_ok(call_master, &c);
    check_master(text, &mi);
    assert_int_equal(mi.version, 7);
    assert_int_equal(mi.variants, 2);                   /* audio-only=false: none */
    assert_int_equal(mi.audio_only_at, -1);
    assert_int_equal(mi.iframes, 2);
    uri_t u;
    parse_uri(mi.variant_uri[1]->text, &u);
    assert_string_equal(u.format, "m3u8-cmaf");
    assert_string_equal(u.rest, ",filter=a;b,encryption=cbcs-aapl");
    parse_uri(attr(mi.iframe[1], "URI"), &u);
    assert_string_equal(u.type, "keyframes");
    assert_string_equal(u.rest, ",filter=a;b,encryption=cbcs-aapl");
    parse_uri(attr(mi.mediat[1], "URI"), &u);
    assert_string_equal(u.rest, ",filter=a;b,encryption=cbcs-aapl");
    free(text);
    synth_free(s);
}

static void test_master_v3(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    call_t c = { s, PK_HLS_V3, &no_opts, NULL, NULL };
    master_info_t mi;
    char *text = run_ok(call_master, &c);
    check_master(text, &mi);
    assert_int_equal(mi.version, 3);
    assert_int_equal(mi.media, 0);
    assert_int_equal(mi.iframes, 0);
    assert_int_equal(mi.variants, 2);                   /* no audio-only variant in v3 */
    for (int i = 0; i < 2; i++) {
        uri_t u;
        assert_null(attr(mi.variant[i], "AUDIO"));
        assert_string_equal(attr(mi.variant[i], "CODECS"), "avc1.64000c,mp4a.40.2");
        parse_uri(mi.variant_uri[i]->text, &u);
        assert_string_equal(u.format, "m3u8-aapl-v3");
        assert_string_equal(u.audiotrack, "aac_eng_2_128000");
    }
    free(text);
    synth_free(s);
}

static void test_master_audio_only_asset(void **state)
{
    (void)state;
    synth_t *s = synth(NO_VIDEO, "video");
    /* audio-only=false cannot leave a master without variants */
    pk_urlopts_t o = { .playlist = "", .segment = "", .audio_only_false = 1 };
    call_t c = { s, PK_HLS_V4, &o, NULL, NULL };
    master_info_t mi;
    char *text = run_ok(call_master, &c);
    check_master(text, &mi);
    assert_int_equal(mi.media, 2);
    assert_int_equal(mi.variants, 1);
    assert_int_equal(mi.iframes, 0);
    assert_string_equal(attr(mi.variant[0], "CODECS"), "mp4a.40.2");
    free(text);

    c.fmt = PK_HLS_V3;
    text = run_ok(call_master, &c);
    check_master(text, &mi);
    assert_int_equal(mi.media, 0);
    assert_int_equal(mi.variants, 1);
    uri_t u;
    parse_uri(mi.variant_uri[0]->text, &u);
    assert_string_equal(u.name, "aac_eng_2_128000");
    assert_string_equal(u.audiotrack, "");
    free(text);
    synth_free(s);
}

static void test_master_video_only_asset(void **state)
{
    (void)state;
    synth_t *s = synth(NO_AUDIO, "video");
    call_t c = { s, PK_HLS_V4, &no_opts, NULL, NULL };
    master_info_t mi;
    char *text = run_ok(call_master, &c);
    check_master(text, &mi);
    assert_int_equal(mi.media, 0);
    assert_int_equal(mi.variants, 2);
    assert_null(attr(mi.variant[0], "AUDIO"));
    assert_string_equal(attr(mi.variant[0], "CODECS"), "avc1.64000c");
    free(text);
    synth_free(s);
}

/* AAC and E-AC-3: a group per codec, each video variant once per group. */
static void test_master_two_codecs(void **state)
{
    (void)state;
    synth_t *s = synth(WITH_EC3, "video");
    for (int f = 0; f < 2; f++) {
        call_t c = { s, f ? PK_HLS_CMAF : PK_HLS_V4, &no_opts, NULL, NULL };
        master_info_t mi;
        char *text = run_ok(call_master, &c);
        check_master(text, &mi);
        assert_int_equal(mi.media, 3);
        assert_int_equal(mi.variants, 2 * 2 + 2);
        assert_string_equal(attr(mi.mediat[2], "GROUP-ID"), "audio_ec-3");
        assert_string_equal(attr(mi.mediat[2], "DEFAULT"), "YES");
        assert_string_equal(attr(mi.variant[2], "AUDIO"), "audio_ec-3");
        assert_string_equal(attr(mi.variant[2], "CODECS"), "avc1.64000c,ec-3");
        assert_string_equal(attr(mi.variant[5], "CODECS"), "ec-3");
        assert_int_equal(mi.audio_only_at, 5);
        free(text);
    }
    synth_free(s);
}

static void test_media_playlists(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    pk_urlopts_t o = { .playlist = ",filter=f,encryption=cbc", .segment = ",encryption=cbc" };
    const pk_vtrack_t *hi = track_of(s, "video", 900000);
    const pk_vtrack_t *eng = track_of(s, "aac_eng_2_128000", 128000);
    media_info_t mi;
    struct {
        pk_hls_format_t fmt;
        const pk_vtrack_t *vt, *mux;
        const char *format;
        long version;
    } cases[] = {
        { PK_HLS_V4, hi, NULL, "m3u8-aapl", 4 },
        { PK_HLS_V4, eng, NULL, "m3u8-aapl", 4 },
        { PK_HLS_V3, hi, eng, "m3u8-aapl-v3", 3 },
        { PK_HLS_CMAF, hi, NULL, "cmaf", 7 },
        { PK_HLS_CMAF, eng, NULL, "cmaf", 7 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        call_t c = { s, cases[i].fmt, &o, cases[i].vt, cases[i].mux };
        char *text = run_ok(call_media, &c);
        check_media(text, 0, &mi);
        assert_int_equal(mi.version, cases[i].version);
        check_against_view(s->v, cases[i].vt, &mi, cases[i].format);
        assert_string_equal(mi.uri[0].rest, ",encryption=cbc");    /* no filter on segments */
        assert_string_equal(mi.uri[0].audiotrack, cases[i].mux ? "aac_eng_2_128000" : "");
        assert_int_equal(mi.has_map, cases[i].fmt == PK_HLS_CMAF);
        if (mi.has_map) {
            assert_string_equal(mi.map.time, "i");
            assert_string_equal(mi.map.format, "cmaf");
            assert_string_equal(mi.map.rest, ",encryption=cbc");
        }
        free(text);
    }
    /* a muxed track only in v3, and only audio beside video */
    call_t bad = { s, PK_HLS_V4, &o, hi, eng };
    run_fails(call_media, &bad, -EINVAL);
    bad = (call_t){ s, PK_HLS_V3, &o, eng, hi };
    run_fails(call_media, &bad, -EINVAL);
    synth_free(s);
}

/* A filtered view lists fragments 1..2: sequence numbers stay those of the full view. */
static void test_media_filtered(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    s->v->frag_begin = 1;
    s->v->frag_end = 3;
    const pk_vtrack_t *lo = track_of(s, "video", 450000);
    call_t c = { s, PK_HLS_V4, &no_opts, lo, NULL };
    media_info_t mi;
    char *text = run_ok(call_media, &c);
    check_media(text, 0, &mi);
    assert_int_equal(mi.sequence, 1);
    assert_int_equal(mi.segs, 2);
    check_against_view(s->v, lo, &mi, "m3u8-aapl");
    assert_int_equal(mi.sum_ms, pk_view_duration(s->v, 1000));
    free(text);
    synth_free(s);
}

static void test_media_durations_unfiltered(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    const pk_vtrack_t *hi = track_of(s, "video", 900000);
    call_t c = { s, PK_HLS_V4, &no_opts, hi, NULL };
    media_info_t mi;
    char *text = run_ok(call_media, &c);
    check_media(text, 0, &mi);
    /* 287 frames of 1/30 s in 2 s fragments: 4 x 2.000 and 1.567 */
    assert_int_equal(mi.segs, 5);
    assert_int_equal(mi.ms[0], 2000);
    assert_int_equal(mi.ms[4], 1567);
    assert_int_equal(mi.target, 2);
    assert_int_equal(mi.sum_ms, pk_view_duration(s->v, 1000));
    free(text);
    synth_free(s);
}

static void test_iframes(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    const pk_vtrack_t *hi = track_of(s, "video", 900000);
    media_info_t mi;
    for (int f = 0; f < 2; f++) {
        pk_hls_format_t fmt = f ? PK_HLS_CMAF : PK_HLS_V4;
        call_t c = { s, fmt, &no_opts, hi, NULL };
        char *text = run_ok(call_iframes, &c);
        check_media(text, 1, &mi);
        assert_int_equal(mi.version, f ? 7 : 4);
        check_against_view(s->v, hi, &mi, f ? "cmaf" : "m3u8-aapl");
        assert_int_equal(mi.has_map, f);
        for (int i = 0; i < mi.segs; i++) {
            uint32_t k = s->v->frag_begin + (uint32_t)i;
            uint64_t key = hi->t->samples[hi->frags[k].first].size;
            if (f) {
                assert_int_equal(mi.range[i], pk_cmaf_fragment_header_size(hi, k) + key);
            } else {
                /* PAT, PMT and a key frame's PES: more than the frame, less than the
                 * whole segment */
                arena_t *a = arena_new();
                wr_t w = wr_counter();
                assert_int_equal(pk_ts_segment(hi, NULL, k, a, &w), 0);
                assert_true(mi.range[i] > key && mi.range[i] < w.pos);
                assert_int_equal(mi.range[i] % 188, 0);
                arena_free(a);
            }
        }
        free(text);
    }
    call_t c = { s, PK_HLS_V3, &no_opts, hi, NULL };
    run_fails(call_iframes, &c, -ENOENT);
    c = (call_t){ s, PK_HLS_V4, &no_opts, track_of(s, "aac_eng_2_128000", 128000), NULL };
    run_fails(call_iframes, &c, -ENOENT);
    synth_free(s);
}

/* A name with '"', a blank and '%' cannot break a quoted string or a URI. */
static void test_escaping(void **state)
{
    (void)state;
    synth_t *s = synth(0, "my \"video\" 100%");
    s->at[0].name = "aac \"eng\"";
    pk_urlopts_t o = { .playlist = ",filter=x\"y", .segment = "" };
    call_t c = { s, PK_HLS_V4, &o, NULL, NULL };
    master_info_t mi;
    char *text = run_ok(call_master, &c);
    check_master(text, &mi);
    assert_string_equal(attr(mi.mediat[0], "NAME"), "aac 'eng'");
    uri_t u;
    parse_uri(mi.variant_uri[0]->text, &u);
    assert_string_equal(u.name, "my \"video\" 100%");
    assert_string_equal(u.rest, ",filter=x\"y");
    assert_non_null(strstr(text, "Manifest(my%20%22video%22%20100%25,format=m3u8-aapl,"
                                 "filter=x%22y)"));
    free(text);

    const pk_vtrack_t *hi = track_of(s, "my \"video\" 100%", 900000);
    media_info_t info;
    c = (call_t){ s, PK_HLS_CMAF, &o, hi, NULL };
    text = run_ok(call_media, &c);
    check_media(text, 0, &info);
    assert_string_equal(info.map.name, "my \"video\" 100%");
    assert_string_equal(info.uri[0].name, "my \"video\" 100%");
    free(text);
    synth_free(s);
}

static void test_language(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } cases[] = {
        { "eng", ",LANGUAGE=\"en\"" }, { "FRE", ",LANGUAGE=\"fr\"" },
        { "ger", ",LANGUAGE=\"de\"" }, { "zul", ",LANGUAGE=\"zu\"" },
        { "aar", ",LANGUAGE=\"aa\"" }, { "qaa", ",LANGUAGE=\"qaa\"" },
        { "en-US", ",LANGUAGE=\"en-US\"" }, { "und", "" }, { "UND", "" }, { "", "" },
        { NULL, "" }, { "e\"n", "" }, { "-en", "" }, { "en-", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        wr_t w = wr_init(buf, sizeof buf - 1);
        put_language(&w, cases[i].in);
        buf[w.pos] = '\0';
        assert_string_equal(buf, cases[i].out);
    }
}

/* §4.3.4.2 peak: a short last segment does not count alone. */
static void test_rates_window(void **state)
{
    (void)state;
    seg_t s[3] = { { 250000, 2000 }, { 250000, 2000 }, { 100000, 100 } };  /* ticks in ms */
    rate_t r = rates(s, 3, 1000, 2);
    /* sets of 1..3 s: {0}, {1}, {1,2} (2.1 s); {0,1} is 4 s, {2} alone 0.1 s */
    assert_int_equal(r.peak, (350000ull * 8 * 1000 + 2099) / 2100);
    assert_int_equal(r.avg, (600000ull * 8 * 1000 + 4099) / 4100);
    /* one short segment: it stands alone */
    r = rates(&s[2], 1, 1000, 1);
    assert_int_equal(r.peak, 8000000);
    assert_int_equal(r.avg, 8000000);
}

static void test_enomem(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    for (unsigned n = 1;; n++) {
        arena_t *a = arena_new();
        wr_t w = wr_counter();
        arena_fail_after(a, n);
        int rc = pk_hls_master(s->v, PK_HLS_V4, &no_opts, a, &w);
        arena_free(a);
        if (rc == 0) {
            assert_true(n > 1);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
    }
    synth_free(s);
}


/* ---- encrypted HLS (pack/hls.h "Encrypted HLS") ---------------------------- */

static const uint8_t test_kid[16] = { 0x6e, 0x5a, 0x1d, 0x26, 0x27, 0x57, 0x47, 0xd7,
                                      0x80, 0x46, 0xea, 0xa5, 0xd1, 0xd3, 0x4b, 0x5a };
static const uint8_t widevine_id[16] = { 0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                                         0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed };

/* RFC 4648 base64, strict (padding required, nothing else allowed); -1 when malformed. */
static long unbase64(const char *s, uint8_t *out, size_t cap)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), k = 0;
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *c = s[i + j] ? strchr(abc, s[i + j]) : NULL;
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!c || pad)
                return -1;
            v = v << 6 | (uint32_t)(c - abc);
        }
        for (int j = 0; j < 3 - pad; j++) {
            if (k == cap)
                return -1;
            out[k++] = (uint8_t)(v >> (16 - 8 * j));
        }
    }
    return (long)k;
}

static int is_hex(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789ABCDEFabcdef") == n;
}

/* A Widevine pssh box (v0) holding `data`, written here byte by byte (23001-7 8.1.1). */
static size_t widevine_box(uint8_t *b, const uint8_t *data, uint8_t n)
{
    size_t len = 32 + n;
    memset(b, 0, 32);
    b[3] = (uint8_t)len;
    memcpy(b + 4, "pssh", 4);
    memcpy(b + 12, widevine_id, 16);
    b[31] = n;
    memcpy(b + 32, data, n);
    return len;
}

typedef struct {
    uint8_t wv[64];
    uint8_t pro[24];
    pk_hls_system_t sys[4];
    pk_hls_key_t key;
    const pk_hls_key_t *tracks[6];
    pk_protect_t prot[6];
    const pk_protect_t *protect[6];
    uint16_t *counts;
    pk_hls_keys_t keys;
    pk_urlopts_t o;
} keyset_t;

/* One key for every track of s with FairPlay, Widevine, PlayReady and identity, in
 * `method`; the CMAF protection of every track (1 subsample per video sample, cbcs-like:
 * no per-sample IV; cenc: 8 bytes). k: zeroed, or filled by an earlier keyset(). */
static void keyset(keyset_t *k, const synth_t *s, pk_hls_method_t method, const char *segment)
{
    static const uint8_t wvdata[] = { 0x12, 0x10, 0x6e, 0x5a, 0x1d, 0x26, 0x27, 0x57, 0x47,
                                      0xd7, 0x80, 0x46, 0xea, 0xa5, 0xd1, 0xd3, 0x4b, 0x5a };
    free(k->counts);                    /* the previous keyset()'s */
    memset(k, 0, sizeof *k);
    size_t wvlen = widevine_box(k->wv, wvdata, sizeof wvdata);
    for (size_t i = 0; i < sizeof k->pro; i++)
        k->pro[i] = (uint8_t)(0xf0 + i);
    k->sys[0] = (pk_hls_system_t){ .kind = PK_HLS_FAIRPLAY,
                                   .uri = "skd://6e5a1d26-2757-47d7-8046-eaa5d1d34b5a" };
    k->sys[1] = (pk_hls_system_t){ .kind = PK_HLS_IDENTITY, .uri = "https://keys.example/k/1" };
    k->sys[2] = (pk_hls_system_t){ .kind = PK_HLS_WIDEVINE, .data = { k->wv, wvlen } };
    k->sys[3] = (pk_hls_system_t){ .kind = PK_HLS_PLAYREADY, .data = { k->pro, sizeof k->pro } };
    memcpy(k->key.kid, test_kid, 16);
    k->key.has_iv = 1;
    memset(k->key.iv, 0xa5, 16);
    k->key.system_count = 4;
    k->key.systems = k->sys;
    k->counts = malloc(VFRAMES * sizeof *k->counts);
    for (uint32_t i = 0; i < VFRAMES; i++)
        k->counts[i] = 1;
    for (uint32_t i = 0; i < s->v->track_count; i++) {
        int video = s->v->tracks[i].t->type == PK_TRACK_VIDEO;
        k->tracks[i] = &k->key;
        k->prot[i] = (pk_protect_t){
            .scheme = method == PK_HLS_SAMPLE_AES_CTR ? FOURCC('c', 'e', 'n', 'c')
                                                      : FOURCC('c', 'b', 'c', 's'),
            .iv_size = method == PK_HLS_SAMPLE_AES_CTR ? 8 : 0,
            .subsample_counts = video ? k->counts : NULL };
        memcpy(k->prot[i].kid, test_kid, 16);
        k->protect[i] = &k->prot[i];
    }
    k->keys = (pk_hls_keys_t){ .method = method, .track_count = s->v->track_count,
                               .tracks = k->tracks, .protect = k->protect };
    k->o = (pk_urlopts_t){ .playlist = ",encryption=x", .segment = segment, .hls = &k->keys };
}

/* The end of a keys test: the key set keyset() filled, the asset. */
static void keys_end(synth_t *s, keyset_t *k)
{
    free(k->counts);
    free(k);
    synth_free(s);
}

/* An attribute value 0x + 32 hex digits (KEYID, IV) as 16 bytes. */
static void hex16(const char *v, uint8_t out[16])
{
    assert_non_null(v);
    assert_true(strncmp(v, "0x", 2) == 0 && is_hex(v + 2, 32));
    for (int i = 0; i < 16; i++) {
        unsigned b;
        sscanf(v + 2 + 2 * i, "%2x", &b);
        out[i] = (uint8_t)b;
    }
}

/* The key lines (tag) of m, in order. */
static int key_lines(const m3u8_t *m, const char *tag, const line_t **out, int cap)
{
    int n = 0;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->l[i].tag, tag)) {
            assert_true(n < cap);
            out[n++] = &m->l[i];
        }
    return n;
}

/* The checks every built SAMPLE-AES(-CTR) key line passes: attribute syntax (the reader),
 * METHOD, quoted URI, KEYFORMAT by system, the Widevine data: URI decodes to a pssh box of
 * the Widevine system with our KID, KEYID hex = the KID. Returns the KEYFORMAT. */
static const char *check_key_line(const line_t *l, const char *method)
{
    assert_true(l->nattrs > 0);
    assert_string_equal(attr(l, "METHOD"), method);
    const char *uri = attr(l, "URI"), *kf = attr(l, "KEYFORMAT");
    assert_non_null(uri);
    for (int i = 0; i < l->nattrs; i++) {
        const attr_t *a = &l->attrs[i];
        /* RFC 8216 §4.3.2.4: URI, KEYFORMAT, KEYFORMATVERSIONS quoted; METHOD, IV, KEYID not */
        int quoted = !strcmp(a->name, "URI") || !strcmp(a->name, "KEYFORMAT") ||
                     !strcmp(a->name, "KEYFORMATVERSIONS");
        assert_int_equal(a->quoted, quoted);
    }
    if (!kf)
        return NULL;
    assert_string_equal(attr(l, "KEYFORMATVERSIONS"), "1");
    if (!strcmp(kf, "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")) {
        uint8_t box[128];
        const char *prefix = "data:text/plain;base64,";
        assert_true(strncmp(uri, prefix, strlen(prefix)) == 0);
        long n = unbase64(uri + strlen(prefix), box, sizeof box);
        assert_true(n >= 32);
        /* a whole pssh box: size, 'pssh', version 0, the Widevine SystemID */
        assert_int_equal((long)(box[0] << 24 | box[1] << 16 | box[2] << 8 | box[3]), n);
        assert_memory_equal(box + 4, "pssh", 4);
        assert_memory_equal(box + 12, widevine_id, 16);
        uint8_t kid[16];
        hex16(attr(l, "KEYID"), kid);
        assert_memory_equal(kid, test_kid, 16);
        /* the box's data holds the KID too (field 2, 16 bytes) */
        assert_memory_equal(box + 34, test_kid, 16);
    } else if (!strcmp(kf, "com.microsoft.playready")) {
        uint8_t pro[64];
        const char *prefix = "data:text/plain;charset=UTF-16;base64,";
        assert_true(strncmp(uri, prefix, strlen(prefix)) == 0);
        assert_int_equal(unbase64(uri + strlen(prefix), pro, sizeof pro), 24);
        assert_int_equal(pro[0], 0xf0);
    } else if (!strcmp(kf, "com.apple.streamingkeydelivery")) {
        assert_string_equal(uri, "skd://6e5a1d26-2757-47d7-8046-eaa5d1d34b5a");
    } else {
        assert_string_equal(kf, "identity");
        assert_string_equal(uri, "https://keys.example/k/1");
    }
    return kf;
}

static void test_keys_cmaf(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    const pk_vtrack_t *hi = track_of(s, "video", 900000);
    static m3u8_t m;
    const line_t *l[16];
    keyset_t *k = calloc(1, sizeof *k);

    for (int ctr = 0; ctr < 2; ctr++) {
        pk_hls_method_t method = ctr ? PK_HLS_SAMPLE_AES_CTR : PK_HLS_SAMPLE_AES;
        const char *mname = ctr ? "SAMPLE-AES-CTR" : "SAMPLE-AES";
        int nsys = ctr ? 3 : 4;             /* FairPlay has no CTR mode */
        keyset(k, s, method, ctr ? ",encryption=cenc" : ",encryption=cbcs");

        /* master: one EXT-X-SESSION-KEY per system, once for the one key */
        call_t c = { s, PK_HLS_CMAF, &k->o, NULL, NULL };
        master_info_t mi;
        char *text = run_ok(call_master, &c);
        check_master(text, &mi);
        assert_int_equal(mi.version, 7);
        parse_m3u8(text, &m);
        assert_int_equal(key_lines(&m, "EXT-X-SESSION-KEY", l, 16), nsys);
        for (int i = 0; i < nsys; i++)
            check_key_line(l[i], mname);
        /* the identity line last (ffmpeg keeps the last EXT-X-KEY it reads) */
        assert_string_equal(attr(l[nsys - 1], "KEYFORMAT"), "identity");
        assert_int_equal(mi.iframes, 2);
        free(text);

        /* media playlist: the same lines as EXT-X-KEY, before EXT-X-MAP */
        c = (call_t){ s, PK_HLS_CMAF, &k->o, hi, NULL };
        media_info_t med;
        text = run_ok(call_media, &c);
        check_media(text, 0, &med);
        check_against_view(s->v, hi, &med, "cmaf");
        assert_string_equal(med.map.rest, ctr ? ",encryption=cenc" : ",encryption=cbcs");
        assert_string_equal(med.uri[0].rest, ctr ? ",encryption=cenc" : ",encryption=cbcs");
        parse_m3u8(text, &m);
        assert_int_equal(key_lines(&m, "EXT-X-KEY", l, 16), nsys);
        const char *kf[4];
        for (int i = 0; i < nsys; i++)
            kf[i] = check_key_line(l[i], mname);
        assert_true(l[nsys - 1] < find_tag(&m, "EXT-X-MAP"));
        /* every system once */
        for (int i = 0; i < nsys; i++)
            for (int j = 0; j < i; j++)
                assert_string_not_equal(kf[i], kf[j]);
        assert_null(find_tag(&m, "EXT-X-SESSION-KEY"));
        free(text);

        /* I-frame playlist: the keys, and byte ranges of the encrypted fragments */
        text = run_ok(call_iframes, &c);
        check_media(text, 1, &med);
        parse_m3u8(text, &m);
        assert_int_equal(key_lines(&m, "EXT-X-KEY", l, 16), nsys);
        for (int i = 0; i < med.segs; i++) {
            uint32_t f = s->v->frag_begin + (uint32_t)i;
            uint64_t hdr;
            assert_int_equal(pk_cmaf_fragment_protected_header_size(hi, f, &k->prot[3], &hdr),
                             0);
            assert_true(hdr > pk_cmaf_fragment_header_size(hi, f));   /* senc, saiz, saio */
            assert_int_equal(med.range[i], hdr + hi->t->samples[hi->frags[f].first].size);
        }
        free(text);
    }
    keys_end(s, k);
}

/* Sizes need the protection: an encrypted CMAF master or I-frame playlist without it is
 * refused, not written with clear sizes; keys that do not fit the format are refused. */
static void test_keys_refused(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    const pk_vtrack_t *hi = track_of(s, "video", 900000);
    keyset_t *k = calloc(1, sizeof *k);

    keyset(k, s, PK_HLS_SAMPLE_AES, ",encryption=cbcs");
    k->keys.protect = NULL;
    call_t c = { s, PK_HLS_CMAF, &k->o, hi, NULL };
    run_fails(call_master, &c, -EINVAL);
    run_fails(call_iframes, &c, -EINVAL);
    free(run_ok(call_media, &c));                     /* a media playlist needs no sizes */
    k->keys.tracks = (const pk_hls_key_t *const[6]){ NULL };
    run_fails(call_media, &c, -EINVAL);              /* a track without its key */

    keyset(k, s, PK_HLS_SAMPLE_AES_CTR, ",encryption=cenc");
    c.fmt = PK_HLS_V4;                                  /* no CTR in TS */
    run_fails(call_media, &c, -EINVAL);
    keyset(k, s, PK_HLS_AES_128, ",encryption=cbc");
    c.fmt = PK_HLS_CMAF;                                /* AES-128 without a key URI */
    run_fails(call_media, &c, -EINVAL);
    c.fmt = PK_HLS_V4;
    run_fails(call_media, &c, -EINVAL);
    keys_end(s, k);
}

/* The CPIX's own HLSSignalingData: the lines that fit written as given, the rest left out,
 * a system whose lines all fail written as built; masters take the master lines, else the
 * media ones retagged. */
static void test_keys_given(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    const pk_vtrack_t *hi = track_of(s, "video", 900000);
    keyset_t *k = calloc(1, sizeof *k);
    static m3u8_t m;
    const line_t *l[16];

    keyset(k, s, PK_HLS_SAMPLE_AES, ",encryption=cbcs");
    k->sys[0].media =
        "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://given,METHOD=AES-128\",KEYFORMAT=\"com.apple."
        "streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"\r\n"
        "evil.ts\n"                                             /* not a key line */
        "#EXT-X-KEY:METHOD=AES-128,URI=\"https://other\"\n"     /* another METHOD */
        "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"x\x01y\"\n"          /* a control character */
        "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://s\"\n";   /* the master's tag */
    k->sys[2].media = "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:,\"\n";    /* all fail */
    k->sys[3].master = "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"data:,pr\","
                       "KEYFORMAT=\"com.microsoft.playready\"";
    call_t c = { s, PK_HLS_CMAF, &k->o, hi, NULL };
    char *text = run_ok(call_media, &c);
    assert_null(strstr(text, "evil"));
    assert_null(strstr(text, "https://other"));
    parse_m3u8(text, &m);
    assert_int_equal(key_lines(&m, "EXT-X-KEY", l, 16), 4);
    assert_string_equal(attr(l[0], "URI"), "skd://given,METHOD=AES-128");   /* as given */
    assert_string_equal(check_key_line(l[1], "SAMPLE-AES"),                /* built */
                        "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed");
    check_key_line(l[2], "SAMPLE-AES");                 /* PlayReady: master lines only */
    assert_string_equal(attr(l[3], "KEYFORMAT"), "identity");
    free(text);

    c.vt = NULL;
    text = run_ok(call_master, &c);
    parse_m3u8(text, &m);
    assert_int_equal(key_lines(&m, "EXT-X-SESSION-KEY", l, 16), 4);
    /* FairPlay has media lines only: the good one, retagged (the stray EXT-X-SESSION-KEY
     * among the media lines is not one of them) */
    assert_string_equal(attr(l[0], "URI"), "skd://given,METHOD=AES-128");
    assert_non_null(strstr(text, "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://given,"));
    assert_null(strstr(text, "skd://s\""));
    check_key_line(l[1], "SAMPLE-AES");                 /* Widevine: built */
    assert_string_equal(attr(l[2], "URI"), "data:,pr"); /* PlayReady: its master line */
    assert_string_equal(attr(l[3], "KEYFORMAT"), "identity");
    free(text);
    keys_end(s, k);
}


/* RFC 8216 4.3.4.2 AVERAGE-BANDWIDTH of vt's TS segments over the view, counted here by
 * writing each: clear, or with the SAMPLE-AES transform saes; pkcs7: AES-128's padding
 * (1 to 16 bytes a segment) added. */
static uint64_t ts_avg_bitrate(const synth_t *s, const pk_vtrack_t *vt, const pk_ts_saes_t *saes,
                               int pkcs7)
{
    uint64_t bytes = 0, ticks = 0;
    for (uint32_t f = s->v->frag_begin; f < s->v->frag_end; f++) {
        arena_t *a = arena_new();
        wr_t w = wr_counter();
        assert_int_equal(saes ? pk_ts_segment_saes(vt, saes, NULL, NULL, f, a, &w)
                              : pk_ts_segment(vt, NULL, f, a, &w), 0);
        arena_free(a);
        bytes += pkcs7 ? w.pos + 16 - w.pos % 16 : w.pos;
        ticks += vt->frags[f].duration;
    }
    return (bytes * 8 * vt->t->timescale + ticks - 1) / ticks;
}

/* AES-128 IVs from the test: track, muxed track and fragment spelled into the bytes. */
typedef struct {
    const synth_t *s;
    int calls, fail_at;
    const pk_vtrack_t *mux_seen;
} ivrec_t;

static void iv_for(const synth_t *s, const pk_vtrack_t *vt, const pk_vtrack_t *mux, uint32_t k,
                   uint8_t iv[16])
{
    memset(iv, 0x3c, 16);
    iv[0] = (uint8_t)(vt - s->v->tracks);
    iv[1] = mux ? (uint8_t)(mux - s->v->tracks + 1) : 0;
    iv[12] = (uint8_t)(k >> 24), iv[13] = (uint8_t)(k >> 16);
    iv[14] = (uint8_t)(k >> 8), iv[15] = (uint8_t)k;
}

static int test_iv(void *ctx, const pk_vtrack_t *vt, const pk_vtrack_t *mux, uint32_t k,
                   uint8_t iv[16])
{
    ivrec_t *r = ctx;
    if (r->fail_at && ++r->calls == r->fail_at)
        return -EIO;
    r->mux_seen = mux;
    iv_for(r->s, vt, mux, k, iv);
    return 0;
}

/* The IV=0x... of a key line as bytes. */
static void iv_of(const line_t *l, uint8_t iv[16])
{
    hex16(attr(l, "IV"), iv);
}

/* k: AES-128 with key_uri, no protection (no sizes need one), the IVs of rec. */
static void aes128_keyset(keyset_t *k, const synth_t *s, const char *key_uri, ivrec_t *rec)
{
    keyset(k, s, PK_HLS_AES_128, ",encryption=cbc");
    k->key.key_uri = key_uri;
    k->keys.protect = NULL;
    k->keys.iv = test_iv;
    k->keys.iv_ctx = rec;
}

/* The AES-128 master of c: one EXT-X-SESSION-KEY, METHOD=AES-128, URI uri (as written) and
 * no IV (each segment has its own); no I-frame streams; the audio-only variant's
 * AVERAGE-BANDWIDTH is avg (the padded segments). */
static void check_aes128_master(const call_t *c, const char *uri, long avg)
{
    static m3u8_t m;
    const line_t *l[64];
    master_info_t mi;
    char *text = run_ok(call_master, c);
    check_master(text, &mi);
    parse_m3u8(text, &m);
    assert_int_equal(key_lines(&m, "EXT-X-SESSION-KEY", l, 64), 1);
    assert_string_equal(attr(l[0], "METHOD"), "AES-128");
    assert_string_equal(attr(l[0], "URI"), uri);
    assert_null(attr(l[0], "IV"));
    assert_int_equal(mi.iframes, 0);
    assert_int_equal(atol(attr(mi.variant[mi.audio_only_at], "AVERAGE-BANDWIDTH")), avg);
    free(text);
}

static void test_keys_aes128(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    const pk_vtrack_t *hi = track_of(s, "video", 900000);
    const pk_vtrack_t *eng = track_of(s, "aac_eng_2_128000", 128000);
    keyset_t *k = calloc(1, sizeof *k);
    ivrec_t rec = { .s = s };
    static m3u8_t m;
    const line_t *l[64];

    aes128_keyset(k, s, "https://keys.example/k?id=\"x\" y", &rec);
    for (int v3 = 0; v3 < 2; v3++) {
        const pk_vtrack_t *mux = v3 ? eng : NULL;
        call_t c = { s, v3 ? PK_HLS_V3 : PK_HLS_V4, &k->o, hi, mux };
        media_info_t mi;
        char *text = run_ok(call_media, &c);
        check_media(text, 0, &mi);
        check_against_view(s->v, hi, &mi, v3 ? "m3u8-aapl-v3" : "m3u8-aapl");
        assert_string_equal(mi.uri[0].rest, ",encryption=cbc");
        assert_ptr_equal(rec.mux_seen, mux);
        parse_m3u8(text, &m);
        /* RFC 8216 4.3.2.4: one EXT-X-KEY before each segment, each with its own IV */
        int n = key_lines(&m, "EXT-X-KEY", l, 64);
        assert_int_equal(n, mi.segs);
        for (int i = 0, seg = 0; i < m.n; i++) {
            if (m.l[i].text[0] != '#') {
                assert_ptr_equal(&m.l[i - 2], l[seg]);  /* KEY, EXTINF, URI */
                seg++;
            }
        }
        for (int i = 0; i < n; i++) {
            uint8_t iv[16], want[16];
            assert_string_equal(attr(l[i], "METHOD"), "AES-128");
            assert_null(attr(l[i], "KEYFORMAT"));
            /* the quote and the blank cannot end the quoted string: percent-encoded */
            assert_string_equal(attr(l[i], "URI"), "https://keys.example/k?id=%22x%22%20y");
            iv_of(l[i], iv);
            iv_for(s, hi, mux, s->v->frag_begin + (uint32_t)i, want);
            assert_memory_equal(iv, want, 16);
            for (int j = 0; j < i; j++) {
                uint8_t other[16];
                iv_of(l[j], other);
                assert_memory_not_equal(iv, other, 16);
            }
        }
        free(text);
        /* an IV that cannot be made fails the playlist */
        rec = (ivrec_t){ .s = s, .fail_at = 3 };
        run_fails(call_media, &c, -EIO);
        rec = (ivrec_t){ .s = s };
    }

    call_t c = { s, PK_HLS_V4, &k->o, NULL, NULL };
    check_aes128_master(&c, "https://keys.example/k?id=%22x%22%20y",
                        (long)ts_avg_bitrate(s, eng, NULL, 1));
    c.vt = hi;
    run_fails(call_iframes, &c, -ENOENT);
    keys_end(s, k);
}

/* RFC 8216 4.3.4.2 AVERAGE-BANDWIDTH of vt's CMAF segments in AES-128 over the view: the
 * size of each clear fragment's plan, padded by PKCS7 (1 to 16 bytes). */
static uint64_t cmaf_aes_avg_bitrate(const synth_t *s, const pk_vtrack_t *vt)
{
    uint64_t bytes = 0, ticks = 0;
    for (uint32_t f = s->v->frag_begin; f < s->v->frag_end; f++) {
        arena_t *a = arena_new();
        pk_plan_t plan;
        assert_int_equal(pk_cmaf_fragment(vt, f, a, &plan), 0);
        bytes += plan.size + 16 - plan.size % 16;
        ticks += vt->frags[f].duration;
        arena_free(a);
    }
    return (bytes * 8 * vt->t->timescale + ticks - 1) / ticks;
}

/* AES-128 over whole CMAF segments (m3u8-cmaf, encryption=cbc): the init section is
 * encrypted too, so an EXT-X-KEY with its own IV comes before EXT-X-MAP (RFC 8216 4.3.2.5:
 * IV required there), then one before each segment; no I-frame playlists; the master's
 * bandwidths count the padding. */
static void test_keys_aes128_cmaf(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    const pk_vtrack_t *hi = track_of(s, "video", 900000);
    const pk_vtrack_t *eng = track_of(s, "aac_eng_2_128000", 128000);
    keyset_t *k = calloc(1, sizeof *k);
    ivrec_t rec = { .s = s };
    static m3u8_t m;
    const line_t *l[64];

    aes128_keyset(k, s, "https://keys.example/k", &rec);
    call_t c = { s, PK_HLS_CMAF, &k->o, hi, NULL };
    media_info_t mi;
    char *text = run_ok(call_media, &c);
    check_media(text, 0, &mi);
    check_against_view(s->v, hi, &mi, "cmaf");
    assert_string_equal(mi.map.rest, ",encryption=cbc");
    assert_string_equal(mi.uri[0].rest, ",encryption=cbc");
    parse_m3u8(text, &m);
    int n = key_lines(&m, "EXT-X-KEY", l, 64);
    assert_int_equal(n, mi.segs + 1);
    const line_t *map = find_tag(&m, "EXT-X-MAP");
    assert_ptr_equal(map - 1, l[0]);                    /* the map's key right before it */
    for (int i = 0, seg = 1; i < m.n; i++) {
        if (m.l[i].text[0] != '#') {
            assert_ptr_equal(&m.l[i - 2], l[seg]);      /* KEY, EXTINF, URI */
            seg++;
        }
    }
    for (int i = 0; i < n; i++) {
        uint8_t iv[16], want[16];
        assert_string_equal(attr(l[i], "METHOD"), "AES-128");
        assert_string_equal(attr(l[i], "URI"), "https://keys.example/k");
        iv_of(l[i], iv);
        iv_for(s, hi, NULL, i ? s->v->frag_begin + (uint32_t)i - 1 : PK_HLS_INIT, want);
        assert_memory_equal(iv, want, 16);
    }
    free(text);
    run_fails(call_iframes, &c, -ENOENT);

    c.vt = NULL;
    check_aes128_master(&c, "https://keys.example/k", (long)cmaf_aes_avg_bitrate(s, eng));
    keys_end(s, k);
}

/* Apple SAMPLE-AES TS: FairPlay and the identity line with the constant IV (last), no
 * Widevine/PlayReady, no I-frame playlists. */
static void test_keys_ts_sample_aes(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    const pk_vtrack_t *hi = track_of(s, "video", 900000);
    keyset_t *k = calloc(1, sizeof *k);
    static m3u8_t m;
    const line_t *l[16];

    keyset(k, s, PK_HLS_SAMPLE_AES, ",encryption=cbcs-aapl");
    k->keys.protect = NULL;
    call_t c = { s, PK_HLS_V4, &k->o, hi, NULL };
    media_info_t mi;
    char *text = run_ok(call_media, &c);
    check_media(text, 0, &mi);
    assert_true(mi.version >= 5);
    parse_m3u8(text, &m);
    assert_int_equal(key_lines(&m, "EXT-X-KEY", l, 16), 2);
    assert_string_equal(check_key_line(l[0], "SAMPLE-AES"), "com.apple.streamingkeydelivery");
    assert_null(check_key_line(l[1], "SAMPLE-AES"));     /* identity: KEYFORMAT left out */
    assert_string_equal(attr(l[1], "URI"), "https://keys.example/k/1");
    uint8_t iv[16], want[16];
    memset(want, 0xa5, 16);
    iv_of(l[1], iv);
    assert_memory_equal(iv, want, 16);
    free(text);
    run_fails(call_iframes, &c, -ENOENT);
    c.vt = NULL;
    master_info_t ma;
    text = run_ok(call_master, &c);
    check_master(text, &ma);
    assert_true(ma.version >= 5);
    assert_int_equal(ma.iframes, 0);
    parse_m3u8(text, &m);
    assert_int_equal(key_lines(&m, "EXT-X-SESSION-KEY", l, 16), 2);
    long clear_avg = atol(attr(ma.variant[0], "AVERAGE-BANDWIDTH"));
    free(text);

    /* with the tracks' SAMPLE-AES transforms, BANDWIDTH counts the grown segments: every
     * video sample 200 bytes more (emulation prevention), audio frames the same size */
    uint32_t *growth = calloc(VFRAMES, sizeof *growth);
    for (uint32_t i = 0; i < VFRAMES; i++)
        growth[i] = 200;
    pk_ts_saes_t vsaes = { .growth = growth }, asaes = { 0 };
    const pk_ts_saes_t *saes[6] = { 0 };
    for (uint32_t i = 0; i < s->v->track_count; i++)
        saes[i] = s->v->tracks[i].t->type == PK_TRACK_VIDEO ? &vsaes : &asaes;
    k->keys.saes = saes;
    text = run_ok(call_master, &c);
    check_master(text, &ma);
    uint64_t avg[2] = { ts_avg_bitrate(s, hi, &vsaes, 0),
                        ts_avg_bitrate(s, track_of(s, "aac_eng_2_128000", 128000), &asaes, 0) };
    assert_int_equal(atol(attr(ma.variant[0], "AVERAGE-BANDWIDTH")), (long)(avg[0] + avg[1]));
    assert_true(atol(attr(ma.variant[0], "AVERAGE-BANDWIDTH")) > clear_avg);
    free(text);
    free(growth);
    keys_end(s, k);
}

/* Separate keys (video, audio): a master names each once; v3 cannot have them. */
static void test_keys_two(void **state)
{
    (void)state;
    synth_t *s = synth(0, "video");
    keyset_t *k = calloc(1, sizeof *k);
    pk_hls_key_t audio;
    static m3u8_t m;
    const line_t *l[16];

    keyset(k, s, PK_HLS_AES_128, ",encryption=cbc");
    k->keys.protect = NULL;
    k->keys.iv = test_iv;
    k->keys.iv_ctx = &(ivrec_t){ .s = s };
    k->key.key_uri = "https://k/video";
    audio = k->key;
    audio.kid[0] ^= 1;
    audio.key_uri = "https://k/audio";
    for (uint32_t i = 0; i < s->v->track_count; i++)
        if (s->v->tracks[i].t->type == PK_TRACK_AUDIO)
            k->tracks[i] = &audio;
    call_t c = { s, PK_HLS_V4, &k->o, NULL, NULL };
    char *text = run_ok(call_master, &c);
    parse_m3u8(text, &m);
    assert_int_equal(key_lines(&m, "EXT-X-SESSION-KEY", l, 16), 2);
    assert_string_equal(attr(l[0], "URI"), "https://k/video");
    assert_string_equal(attr(l[1], "URI"), "https://k/audio");
    free(text);
    /* v3 muxes the audio into the video's segments, which one EXT-X-KEY covers: with two
     * keys there is no v3 presentation, master or playlist */
    c.fmt = PK_HLS_V3;
    run_fails(call_master, &c, -ENOENT);
    c = (call_t){ s, PK_HLS_V3, &k->o, track_of(s, "video", 900000),
                  track_of(s, "aac_eng_2_128000", 128000) };
    run_fails(call_media, &c, -ENOENT);
    c.mux = NULL;                                       /* v3 video without audio: its own */
    free(run_ok(call_media, &c));
    /* one key again: the v3 master names it once */
    for (uint32_t i = 0; i < s->v->track_count; i++)
        k->tracks[i] = &k->key;
    c = (call_t){ s, PK_HLS_V3, &k->o, NULL, NULL };
    text = run_ok(call_master, &c);
    parse_m3u8(text, &m);
    assert_int_equal(key_lines(&m, "EXT-X-SESSION-KEY", l, 16), 1);
    free(text);
    keys_end(s, k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_master_v4),
        cmocka_unit_test(test_master_cmaf_and_options),
        cmocka_unit_test(test_master_v3),
        cmocka_unit_test(test_master_audio_only_asset),
        cmocka_unit_test(test_master_video_only_asset),
        cmocka_unit_test(test_master_two_codecs),
        cmocka_unit_test(test_media_playlists),
        cmocka_unit_test(test_media_filtered),
        cmocka_unit_test(test_media_durations_unfiltered),
        cmocka_unit_test(test_iframes),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_language),
        cmocka_unit_test(test_rates_window),
        cmocka_unit_test(test_enomem),
        cmocka_unit_test(test_keys_cmaf),
        cmocka_unit_test(test_keys_refused),
        cmocka_unit_test(test_keys_given),
        cmocka_unit_test(test_keys_aes128),
        cmocka_unit_test(test_keys_aes128_cmaf),
        cmocka_unit_test(test_keys_ts_sample_aes),
        cmocka_unit_test(test_keys_two),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
