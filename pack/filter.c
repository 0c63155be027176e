#include "filter.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "lang.h"
#include "log.h"

/* AMS's default presentationTimeRange timescale (notes/ams-facts.md §3.2): 100 ns ticks */
#define DEFAULT_TIMESCALE 10000000u

/*
 * The primary language subtag of `s` (RFC 5646 §2.1: the letters before the first
 * '-'), written as pk_lang_tag writes it: "eng" -> "en", "fre"/"fra" -> "fr",
 * "en-US" -> "en". Tracks carry an ISO 639-2 code without region (mdhd, .ism
 * systemLanguage), so only the primary subtag can be compared: a filter "en-US"
 * keeps an "eng" track, and so does "en-GB". NULL, "" and "und" give "und";
 * a malformed tag is compared as written.
 */
static const char *primary_lang(const char *s, char buf[9])
{
    size_t n = 0;
    if (!s)
        return "und";
    while (s[n] && s[n] != '-' && n < 8)
        n++;
    if (s[n] && s[n] != '-')    /* a first subtag longer than 8: not a tag */
        return s;
    memcpy(buf, s, n);
    buf[n] = '\0';
    const char *tag = pk_lang_tag(buf);
    if (tag)
        return tag;
    return n == 0 || strcasecmp(buf, "und") == 0 ? "und" : s;
}

/* The codec's fourcc as RFC 6381 writes it first in the codecs string ("avc1" of
 * "avc1.64001f", "ec-3"), else the sample entry type; case-insensitive. */
static int fourcc_is(const pk_track_t *t, const char *value)
{
    const char *dot = strchr(t->codec, '.');
    size_t n = dot ? (size_t)(dot - t->codec) : strlen(t->codec);
    char fcc[5] = { (char)(t->fourcc >> 24), (char)(t->fourcc >> 16), (char)(t->fourcc >> 8),
                    (char)t->fourcc, '\0' };
    if (n == 0)
        return strcasecmp(fcc, value) == 0;
    return strlen(value) == n && strncasecmp(t->codec, value, n) == 0;
}

/* Whether condition c holds for vt, before NotEqual: a property this code does not
 * know, or a string condition without a value, matches no track. */
static int cond_equal(const pk_fcond_t *c, const pk_vtrack_t *vt)
{
    char b1[9], b2[9];

    if (c->prop == PK_FP_BITRATE)
        return vt->at->bitrate >= c->lo && vt->at->bitrate <= c->hi;
    if (!c->value)
        return 0;
    switch (c->prop) {
    case PK_FP_TYPE:
        return strcasecmp(c->value, pk_track_type_name(vt->t->type)) == 0;
    case PK_FP_NAME:
        return vt->at->name && strcmp(c->value, vt->at->name) == 0;
    case PK_FP_LANGUAGE:
        return strcasecmp(primary_lang(c->value, b1), primary_lang(vt->at->language, b2)) == 0;
    case PK_FP_FOURCC:
        return fourcc_is(vt->t, c->value);
    default:
        return 0;
    }
}

static int cond_holds(const pk_fcond_t *c, const pk_vtrack_t *vt)
{
    if (c->prop < PK_FP_TYPE || c->prop > PK_FP_BITRATE)
        return 0;               /* "Unknown" selects nothing, whatever the operation */
    return c->not_equal ? !cond_equal(c, vt) : cond_equal(c, vt);
}

int pk_filter_keeps(const pk_filter_t *f, const pk_vtrack_t *vt)
{
    if (f->select_count == 0)
        return 1;
    for (uint32_t s = 0; s < f->select_count; s++) {
        const pk_fselect_t *sel = &f->selects[s];
        uint32_t c = 0;
        while (c < sel->count && cond_holds(&sel->conds[c], vt))
            c++;
        if (c == sel->count)    /* every condition (an empty list: vacuously) */
            return 1;
    }
    return 0;
}

/* An instant as a fraction: t / ts seconds, exact. */
typedef struct {
    uint64_t t, ts;
} instant_t;

/* a < b, exact: the products fit in 128 bits (64 x 64). */
static int before(instant_t a, instant_t b)
{
    return (unsigned __int128)a.t * b.ts < (unsigned __int128)b.t * a.ts;
}

/* The intersection of the filters' presentationTimeRanges: [start, end), each bound
 * present or not (absent: the beginning, resp. the end, of the presentation). */
typedef struct {
    int has_start, has_end;
    instant_t start, end;
} range_t;

static range_t intersect(const pk_filter_t *const *f, uint32_t n)
{
    range_t r = { 0 };
    for (uint32_t i = 0; i < n; i++) {
        instant_t s = { f[i]->start, f[i]->timescale ? f[i]->timescale : DEFAULT_TIMESCALE };
        instant_t e = { f[i]->end, s.ts };
        if (f[i]->has_start && (!r.has_start || before(r.start, s))) {
            r.start = s;
            r.has_start = 1;
        }
        if (f[i]->has_end && (!r.has_end || before(e, r.end))) {
            r.end = e;
            r.has_end = 1;
        }
    }
    return r;
}

/*
 * Whether fragment k of the reference track overlaps r. A fragment that straddles a
 * bound is kept whole (AMS: "if a fragment straddles the boundary, the entire fragment
 * will be included", notes §3.3); one that ends exactly at the start or begins exactly
 * at the end does not overlap. An end past the presentation (AMS writes INT64_MAX for
 * "no limit") simply keeps every fragment up to the last.
 */
static int overlaps(const pk_vtrack_t *ref, uint32_t k, const range_t *r)
{
    const pk_frag_t *fr = &ref->frags[k];
    instant_t s = { fr->time, ref->t->timescale };
    instant_t e = { fr->time + fr->duration, ref->t->timescale };
    return (!r->has_end || before(s, r->end)) && (!r->has_start || before(r->start, e));
}

/* Whether every filter keeps vt. */
static int all_keep(const pk_filter_t *const *f, uint32_t n, const pk_vtrack_t *vt)
{
    for (uint32_t i = 0; i < n; i++)
        if (!pk_filter_keeps(f[i], vt))
            return 0;
    return 1;
}

int pk_filter_apply(const pk_view_t *v, const pk_filter_t *const *f, uint32_t n, arena_t *a,
                    pk_view_t **out)
{
    const pk_vtrack_t *vref = &v->tracks[v->ref];
    range_t r = intersect(f, n);
    uint32_t begin = v->frag_begin, end = v->frag_end;

    /* Fragments tile the timeline in order, so those overlapping one range are
     * consecutive: trim from both ends. The spans are the original reference
     * track's, on which the view was cut. */
    if (r.has_start && r.has_end && !before(r.start, r.end))
        begin = end;            /* an empty (or inverted) range, or disjoint filters */
    while (begin < end && !overlaps(vref, begin, &r))
        begin++;
    while (end > begin && !overlaps(vref, end - 1, &r))
        end--;
    if (begin == end) {
        PK_DEBUG("no fragment of the view is in the filters' time range");
        return -ENOENT;
    }

    uint32_t kept = 0, media = 0;
    for (uint32_t i = 0; i < v->track_count; i++) {
        if (all_keep(f, n, &v->tracks[i])) {
            kept++;
            media += v->tracks[i].t->type == PK_TRACK_VIDEO ||
                     v->tracks[i].t->type == PK_TRACK_AUDIO;
        }
    }
    if (media == 0) {
        PK_DEBUG("the filters keep no video and no audio track");
        return -ENOENT;
    }

    pk_view_t *nv = arena_alloc(a, sizeof *nv);
    pk_vtrack_t *vts = arena_calloc(a, kept, sizeof *vts);
    if (!nv || !vts)
        return -ENOMEM;
    uint32_t m = 0, ref = UINT32_MAX, first_audio = UINT32_MAX;
    for (uint32_t i = 0; i < v->track_count; i++) {
        const pk_vtrack_t *vt = &v->tracks[i];
        if (!all_keep(f, n, vt))
            continue;
        vts[m] = *vt;
        /* as pk_view_build chooses: the highest-bitrate video (first of equals), else
         * the first audio; any track's spans would do, they are the same fragments */
        if (vt->t->type == PK_TRACK_VIDEO &&
            (ref == UINT32_MAX || vt->at->bitrate > vts[ref].at->bitrate))
            ref = m;
        if (vt->t->type == PK_TRACK_AUDIO && first_audio == UINT32_MAX)
            first_audio = m;
        m++;
    }

    *nv = *v;
    nv->track_count = kept;
    nv->tracks = vts;
    nv->ref = ref != UINT32_MAX ? ref : first_audio;
    nv->frag_begin = begin;
    nv->frag_end = end;
    for (uint32_t i = 0; i < n; i++) {
        if (f[i]->first_quality) {
            nv->first_quality = f[i]->first_quality;
            break;
        }
    }
    *out = nv;
    return 0;
}
