#include "mpd.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "lang.h"
#include "log.h"
#include "protect.h"
#include "text.h"

/* MPD-level durations are computed in 100 ns units, the AMS client timescale. */
#define HNS 10000000u

/* v * to / from, rounded to nearest, without overflow for 64-bit times. */
static uint64_t rescale(uint64_t v, uint32_t from, uint32_t to)
{
    unsigned __int128 x = (unsigned __int128)v * to;
    return (uint64_t)((x + from / 2) / from);
}


/* Template text that is not a variable: '$' doubled (23009-1 5.3.9.4.4), XML-escaped. */
static void wr_template_text(wr_t *w, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '$')
            wr_str(w, "$$");
        else
            wr_xml(w, (char[2]){ *p, '\0' });
    }
}

/* Bytes of a Unicode space separator (\p{Z}) in UTF-8 at p, else 0. */
static size_t space_len(const unsigned char *p)
{
    if (p[0] == 0x20)
        return 1;
    if (p[0] == 0xC2 && p[1] == 0xA0)
        return 2;
    if ((p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80) ||
        (p[0] == 0xE2 && p[1] == 0x80 &&
         ((p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF)) ||
        (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0x9F) ||
        (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80))
        return 3;
    return 0;
}

/* A name inside Representation@id, a StringNoWhitespaceType ([^\r\n\t \p{Z}]*):
 * white space and control characters become '_'. */
static void wr_id_name(wr_t *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = space_len(p);
        if (n || *p < 0x20 || *p == 0x7F) {
            wr_u8(w, '_');
            p += n ? n : 1;
        } else {
            wr_xml(w, (char[2]){ (char)*p, '\0' });
            p++;
        }
    }
}

/* ---- content protection (23009-1 5.8.4.1, 5.8.5.2; DASH-IF IOP / CPS) ----- */

#define MPD_NS "urn:mpeg:dash:schema:mpd:2011"

/* The namespaces ContentProtection children use, declared on the MPD root only
 * when something uses them. */
enum { NS_CENC = 1, NS_MSPR = 2, NS_DASHIF = 4 };

static const struct {
    int flag;
    const char *prefix, *uri;
} namespaces[] = {
    { NS_CENC, "cenc", "urn:mpeg:cenc:2013" },
    { NS_MSPR, "mspr", "urn:microsoft:playready" },
    { NS_DASHIF, "dashif", "https://dashif.org/CPS" },
};

/* DRM systems with a conventional @value (DASH-IF IOP, the systems' own MPD
 * examples); others, the W3C common system 1077efec-... included, get the
 * urn:uuid alone. */
static const struct {
    uint8_t id[16];
    const char *value;
} systems[] = {
    { { 0x9a, 0x04, 0xf0, 0x79, 0x98, 0x40, 0x42, 0x86,
        0xab, 0x92, 0xe6, 0x5b, 0xe0, 0x88, 0x5f, 0x95 }, "MSPR 2.0" },      /* PlayReady */
    { { 0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
        0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed }, "Widevine" },
    { { 0xe2, 0x71, 0x9d, 0x58, 0xa9, 0x85, 0xb3, 0xc9,
        0x78, 0x1a, 0xb0, 0x30, 0xaf, 0x78, 0xd3, 0x0e }, "ClearKey1.0" },   /* DASH-IF */
};

static const char *system_value(const uint8_t id[16])
{
    for (size_t i = 0; i < sizeof systems / sizeof systems[0]; i++)
        if (memcmp(systems[i].id, id, 16) == 0)
            return systems[i].value;
    return NULL;
}

/* The KID or system id as a UUID string (RFC 4122 8-4-4-4-12, lower case). */
static void wr_uuid(wr_t *w, const uint8_t id[16])
{
    for (int i = 0; i < 16; i++)
        wr_printf(w, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", id[i]);
}

static const pk_track_drm_t *drm_of(const pk_drm_t *drm, uint32_t i)
{
    return drm && i < drm->track_count ? drm->tracks[i] : NULL;
}

static int same_bytes(pk_bytes_t a, pk_bytes_t b)
{
    return a.len == b.len && (!a.len || memcmp(a.data, b.data, a.len) == 0);
}

static int same_str(const char *a, const char *b)
{
    return a ? b && strcmp(a, b) == 0 : !b;
}

/* Whether two tracks are signalled alike (one key, the same systems). */
static int same_drm(const pk_track_drm_t *a, const pk_track_drm_t *b)
{
    if (a == b)
        return 1;
    if (!a || !b || a->scheme != b->scheme || memcmp(a->kid, b->kid, 16) != 0 ||
        a->system_count != b->system_count)
        return 0;
    for (uint32_t i = 0; i < a->system_count; i++) {
        const pk_drm_system_t *x = &a->systems[i], *y = &b->systems[i];
        if (memcmp(x->system_id, y->system_id, 16) != 0 || !same_bytes(x->pssh, y->pssh) ||
            !same_bytes(x->pro, y->pro) || !same_str(x->content_protection,
                                                     y->content_protection) ||
            !same_str(x->la_url, y->la_url))
            return 0;
    }
    return 1;
}

/* The namespaces (NS_*) of the root that nodes under n use. */
static int ns_used(xmlNodePtr n, xmlNsPtr root_ns)
{
    int used = 0;
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        for (xmlNsPtr d = root_ns; d; d = d->next) {
            int hit = n->ns == d;
            for (xmlAttrPtr at = n->properties; at && !hit; at = at->next)
                hit = at->ns == d;
            for (size_t i = 0; hit && d->prefix && i < sizeof namespaces / sizeof namespaces[0];
                 i++)
                if (strcmp((const char *)d->prefix, namespaces[i].prefix) == 0)
                    used |= namespaces[i].flag;
        }
        used |= ns_used(n->children, root_ns);
    }
    return used;
}

/*
 * Checks CPIX ContentProtectionData before it goes verbatim inside a
 * ContentProtection: parsed as the content of an element that declares what
 * the MPD root can declare (the MPD default namespace, cenc, mspr, dashif), it
 * must be well-formed, namespace-well-formed, and, as DescriptorType allows
 * (xs:any ##other, element-only content), hold only elements of other
 * namespaces, blank text and comments at its top level. So it can neither end
 * the element early nor make the MPD invalid. Returns the NS_* flags it relies
 * on, -EBADMSG when it fails the check, -ENOMEM.
 */
static int check_fragment(const char *xml)
{
    static const char open[] = "<w xmlns=\"" MPD_NS "\" xmlns:cenc=\"urn:mpeg:cenc:2013\" "
                               "xmlns:mspr=\"urn:microsoft:playready\" "
                               "xmlns:dashif=\"https://dashif.org/CPS\">";
    size_t len = strlen(xml);
    if (len > INT_MAX / 2)
        return -EBADMSG;
    xmlParserCtxtPtr ctx = xmlCreatePushParserCtxt(NULL, NULL, NULL, 0, "ContentProtectionData");
    if (!ctx)
        return -ENOMEM;
    /* no network, no entity expansion, no DTD, nothing on stderr */
    xmlCtxtUseOptions(ctx, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlParseChunk(ctx, open, (int)sizeof open - 1, 0);
    xmlParseChunk(ctx, xml, (int)len, 0);
    xmlParseChunk(ctx, "</w>", 4, 1);

    int rc = ctx->errNo == XML_ERR_NO_MEMORY ? -ENOMEM : -EBADMSG;
    xmlDocPtr doc = ctx->myDoc;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (ctx->wellFormed && ctx->nsWellFormed && root && !root->next) {
        rc = 0;
        for (xmlNodePtr c = root->children; c && rc == 0; c = c->next) {
            if (c->type == XML_ELEMENT_NODE)
                rc = c->ns && strcmp((const char *)c->ns->href, MPD_NS) != 0 ? 0 : -EBADMSG;
            else if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
                rc = xmlIsBlankNode(c) ? 0 : -EBADMSG;
            else if (c->type != XML_COMMENT_NODE)
                rc = -EBADMSG;
        }
        if (rc == 0)
            rc = ns_used(root->children, root->nsDef);
    }
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctx);
    return rc;
}

/* The namespaces track drm d needs on the root; bad ContentProtectionData is
 * logged (once per document: `log`), and -ENOMEM passed up. */
static int drm_namespaces(const pk_track_drm_t *d, const char *track, int log)
{
    int ns = NS_CENC;                               /* cenc:default_KID */
    for (uint32_t i = 0; i < d->system_count; i++) {
        const pk_drm_system_t *s = &d->systems[i];
        int rc = s->content_protection ? check_fragment(s->content_protection) : -ENOENT;
        if (rc == -ENOMEM)
            return rc;
        if (rc >= 0) {
            ns |= rc;
            continue;
        }
        if (rc == -EBADMSG && log) {
            char id[40];
            wr_t t = wr_init(id, sizeof id - 1);
            wr_uuid(&t, s->system_id);
            id[t.pos] = '\0';
            PK_ERROR("track %s: the CPIX ContentProtectionData of DRM system %s is not an "
                     "XML fragment that fits in ContentProtection (well-formed, namespaces "
                     "declared, elements of other namespaces only); left out", track, id);
        }
        if (s->pssh.len)
            ns |= NS_CENC;
        if (s->pro.len)
            ns |= NS_MSPR;
        if (s->la_url)
            ns |= NS_DASHIF;
    }
    return ns;
}

/* The ContentProtection descriptors of one key: mp4protection with the scheme
 * and cenc:default_KID, then one per DRM system, with the system's own XML
 * from the CPIX when it passes check_fragment, else what ismfs knows: the
 * pssh box (cenc:pssh), the PlayReady Object (mspr:pro) and the licence URL
 * (dashif:Laurl, the DASH-IF CPS spelling shaka-player and dash.js read). */
static void write_protection(wr_t *w, const pk_track_drm_t *d, int indent)
{
    char fcc[5];
    wr_printf(w, "%*s<ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" "
                 "value=\"", indent, "");
    wr_xml(w, fourcc_str(d->scheme, fcc));
    wr_str(w, "\" cenc:default_KID=\"");
    wr_uuid(w, d->kid);
    wr_str(w, "\"/>\n");

    for (uint32_t i = 0; i < d->system_count; i++) {
        const pk_drm_system_t *s = &d->systems[i];
        const char *value = system_value(s->system_id);
        wr_printf(w, "%*s<ContentProtection schemeIdUri=\"urn:uuid:", indent, "");
        wr_uuid(w, s->system_id);
        if (value)
            wr_printf(w, "\" value=\"%s", value);
        wr_str(w, "\"");
        int cp = s->content_protection ? check_fragment(s->content_protection) : -ENOENT;
        if (cp == -ENOMEM && !w->err)
            w->err = cp;                            /* never a different text than counted */
        if (cp >= 0) {
            wr_str(w, ">");
            wr_str(w, s->content_protection);
            wr_printf(w, "</ContentProtection>\n");
            continue;
        }
        if (!s->pssh.len && !s->pro.len && !s->la_url) {
            wr_str(w, "/>\n");
            continue;
        }
        wr_str(w, ">\n");
        if (s->pssh.len) {
            wr_printf(w, "%*s<cenc:pssh>", indent + 2, "");
            wr_base64(w, s->pssh.data, s->pssh.len);
            wr_str(w, "</cenc:pssh>\n");
        }
        if (s->pro.len) {
            wr_printf(w, "%*s<mspr:pro>", indent + 2, "");
            wr_base64(w, s->pro.data, s->pro.len);
            wr_str(w, "</mspr:pro>\n");
        }
        if (s->la_url) {
            wr_printf(w, "%*s<dashif:Laurl>", indent + 2, "");
            wr_xml(w, s->la_url);
            wr_str(w, "</dashif:Laurl>\n");
        }
        wr_printf(w, "%*s</ContentProtection>\n", indent, "");
    }
}

static uint32_t codec_family(const pk_track_t *t)
{
    switch (t->fourcc) {
    case FOURCC('a', 'v', 'c', '3'):
        return FOURCC('a', 'v', 'c', '1');
    case FOURCC('h', 'e', 'v', '1'):
        return FOURCC('h', 'v', 'c', '1');
    default:
        return t->fourcc;
    }
}

static int same_lang(const char *a, const char *b)
{
    a = pk_lang_tag(a);
    b = pk_lang_tag(b);
    return a ? b && strcmp(a, b) == 0 : !b;
}

/* Whether two tracks belong in one AdaptationSet: video of one codec family
 * (a player switches among them without a new decoder); audio of one language
 * and codecs string. */
static int same_set(const pk_vtrack_t *a, const pk_vtrack_t *b)
{
    if (a->t->type != b->t->type)
        return 0;
    if (a->t->type == PK_TRACK_VIDEO)
        return codec_family(a->t) == codec_family(b->t);
    return same_lang(a->at->language, b->at->language) && strcmp(a->t->codec, b->t->codec) == 0;
}

static int has_frags(const pk_view_t *v, const pk_vtrack_t *vt)
{
    for (uint32_t f = v->frag_begin; f < v->frag_end; f++)
        if (vt->frags[f].count)
            return 1;
    return 0;
}

/* Whether a and b have the same SegmentTimeline (so one template serves both). */
static int same_timeline(const pk_view_t *v, const pk_vtrack_t *a, const pk_vtrack_t *b)
{
    if (a->t->timescale != b->t->timescale)
        return 0;
    for (uint32_t f = v->frag_begin; f < v->frag_end; f++) {
        const pk_frag_t *x = &a->frags[f], *y = &b->frags[f];
        if (!x->count != !y->count || (x->count && (x->time != y->time ||
                                                    x->duration != y->duration)))
            return 0;
    }
    return 1;
}

/* The period start in vt's timescale: the reference track's first fragment of
 * the range. One instant for every track keeps them in sync; in the reference
 * timescale it is exactly that fragment's time, so a trimmed view starts at 0. */
static uint64_t period_start(const pk_view_t *v, const pk_vtrack_t *vt)
{
    const pk_vtrack_t *r = &v->tracks[v->ref];
    if (v->frag_begin >= v->frag_end)
        return 0;
    return rescale(r->frags[v->frag_begin].time, r->t->timescale, vt->t->timescale);
}

static void write_s(wr_t *w, int with_t, uint64_t t, uint64_t d, uint32_t n)
{
    wr_str(w, "          <S");
    if (with_t)
        wr_printf(w, " t=\"%llu\"", (unsigned long long)t);
    wr_printf(w, " d=\"%llu\"", (unsigned long long)d);
    if (n > 1)
        wr_printf(w, " r=\"%u\"", n - 1);   /* 23009-1 5.3.9.6: r counts the repeats */
    wr_str(w, "/>\n");
}

/* The fragments of vt in the view's range, as runs of equal durations; t is
 * given on the first S and where a fragment does not start where the previous
 * one ended (23009-1 5.3.9.6.3). Empty fragments (a track that ended early)
 * have no segment. */
static void write_timeline(wr_t *w, const pk_view_t *v, const pk_vtrack_t *vt)
{
    uint64_t t = 0, d = 0, end = 0;
    uint32_t n = 0;
    int with_t = 1;

    wr_str(w, "        <SegmentTimeline>\n");
    for (uint32_t f = v->frag_begin; f < v->frag_end; f++) {
        const pk_frag_t *fr = &vt->frags[f];
        if (!fr->count)
            continue;
        if (n && fr->time == end && fr->duration == d) {
            n++;
            end += d;
            continue;
        }
        if (n) {
            write_s(w, with_t, t, d, n);
            with_t = fr->time != end;
        }
        t = fr->time;
        d = fr->duration;
        end = t + d;
        n = 1;
    }
    if (n)
        write_s(w, with_t, t, d, n);
    wr_str(w, "        </SegmentTimeline>\n");
}

/*
 * SegmentTemplate of vt's name and timeline. No startNumber: with $Time$ it is
 * meaningless, and ffmpeg's DASH demuxer then asks for every segment one
 * position late (DESIGN §4).
 */
static void write_template(wr_t *w, const pk_view_t *v, const pk_vtrack_t *vt, const char *seg,
                           int indent)
{
    uint64_t pto = period_start(v, vt);
    wr_printf(w, "%*s<SegmentTemplate timescale=\"%u\"", indent, "", vt->t->timescale);
    if (pto)
        wr_printf(w, " presentationTimeOffset=\"%llu\"", (unsigned long long)pto);
    for (int init = 0; init < 2; init++) {
        wr_str(w, init ? " initialization=\"" : " media=\"");
        wr_str(w, "QualityLevels($Bandwidth$)/Fragments(");
        wr_url_name(w, vt->at->name);
        wr_str(w, init ? "=i,format=cmaf" : "=$Time$,format=cmaf");
        wr_template_text(w, seg);
        wr_str(w, ")\"");
    }
    wr_str(w, ">\n");
    write_timeline(w, v, vt);
    wr_printf(w, "%*s</SegmentTemplate>\n", indent, "");
}

static uint32_t gcd(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* @frameRate when the frame duration is constant; the last run may differ
 * (encoders give the final frame its own duration). */
static void write_frame_rate(wr_t *w, const pk_track_t *t)
{
    if (!t->run_count || !t->runs[0].delta || !t->timescale)
        return;
    uint32_t delta = t->runs[0].delta;
    for (uint32_t i = 1; i < t->run_count; i++) {
        int last_frame = i + 1 == t->run_count && t->runs[i].count == 1;
        if (t->runs[i].delta != delta && !last_frame)
            return;
    }
    uint32_t g = gcd(t->timescale, delta);
    if (delta / g == 1)
        wr_printf(w, " frameRate=\"%u\"", t->timescale / g);
    else
        wr_printf(w, " frameRate=\"%u/%u\"", t->timescale / g, delta / g);
}

static void write_label(wr_t *w, const char *name, int indent)
{
    wr_printf(w, "%*s<Label>", indent, "");
    wr_xml(w, name);
    wr_str(w, "</Label>\n");
}

/* One Representation; `own` = it carries its own Label and SegmentTemplate
 * because the set's members differ in name or timeline, and its own
 * ContentProtection (own_drm, NULL for none) because they differ in key. */
static void write_rep(wr_t *w, const pk_view_t *v, const pk_vtrack_t *vt, uint32_t set_id,
                      int own_label, int own_template, const pk_track_drm_t *own_drm,
                      const char *seg)
{
    const pk_track_t *t = vt->t;
    int video = t->type == PK_TRACK_VIDEO;

    wr_printf(w, "      <Representation id=\"%u_%c_", set_id, video ? 'V' : 'A');
    wr_id_name(w, vt->at->name);
    wr_printf(w, "_%u\" bandwidth=\"%u\"", vt->at->bitrate, vt->at->bitrate);
    if (t->codec[0]) {
        wr_str(w, " codecs=\"");
        wr_xml(w, t->codec);
        wr_str(w, "\"");
    }
    if (video) {
        if (t->width && t->height)
            wr_printf(w, " width=\"%u\" height=\"%u\"", t->width, t->height);
        write_frame_rate(w, t);
    } else if (t->sample_rate) {
        wr_printf(w, " audioSamplingRate=\"%u\"", t->sample_rate);
    }
    int audio_config = !video && t->channels;
    if (!audio_config && !own_label && !own_template && !own_drm) {
        wr_str(w, "/>\n");
        return;
    }
    wr_str(w, ">\n");
    /* children in the order of RepresentationBaseType, then RepresentationType */
    if (audio_config)
        wr_printf(w, "        <AudioChannelConfiguration "
                     "schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" "
                     "value=\"%u\"/>\n", t->channels);
    if (own_drm)
        write_protection(w, own_drm, 8);
    if (own_label)
        write_label(w, vt->at->name, 8);
    if (own_template)
        write_template(w, v, vt, seg, 8);
    wr_str(w, "      </Representation>\n");
}

/* Whether track j is a member of the set whose first track is `lead`. */
static int member(const pk_view_t *v, uint32_t lead, uint32_t j)
{
    return same_set(&v->tracks[lead], &v->tracks[j]) && has_frags(v, &v->tracks[j]);
}

/* The AdaptationSet of the tracks that go with tracks[lead] (lead is the first
 * of them in view order). Returns 1 when written, 0 when no member has a
 * fragment in the range. */
static int write_set(wr_t *w, const pk_view_t *v, uint32_t lead, uint32_t id, int main_audio,
                     pk_mpd_profile_t profile, const char *seg, const pk_drm_t *drm)
{
    const pk_vtrack_t *first = NULL;
    const pk_track_drm_t *first_drm = NULL;
    int one_name = 1, one_timeline = 1, one_key = 1;
    uint32_t max_w = 0, max_h = 0;

    for (uint32_t j = lead; j < v->track_count; j++) {
        const pk_vtrack_t *vt = &v->tracks[j];
        if (!member(v, lead, j))
            continue;
        if (!first) {
            first = vt;
            first_drm = drm_of(drm, j);
        }
        one_name &= strcmp(first->at->name, vt->at->name) == 0;
        one_timeline &= same_timeline(v, first, vt);
        one_key &= same_drm(first_drm, drm_of(drm, j));
        max_w = vt->t->width > max_w ? vt->t->width : max_w;
        max_h = vt->t->height > max_h ? vt->t->height : max_h;
    }
    if (!first)
        return 0;

    int video = first->t->type == PK_TRACK_VIDEO;
    int shared = one_name && one_timeline;      /* one template: same URL, same segments */
    const char *lang = video ? NULL : pk_lang_tag(first->at->language);

    wr_printf(w, "    <AdaptationSet id=\"%u\" contentType=\"%s\" mimeType=\"%s\"", id,
              video ? "video" : "audio", video ? "video/mp4" : "audio/mp4");
    if (lang) {
        wr_str(w, " lang=\"");
        wr_xml(w, lang);
        wr_str(w, "\"");
    }
    wr_str(w, " segmentAlignment=\"true\"");
    if (video) {
        wr_str(w, " startWithSAP=\"1\"");   /* fragments start on IDR pictures */
        if (max_w && max_h)
            wr_printf(w, " maxWidth=\"%u\" maxHeight=\"%u\"", max_w, max_h);
    }
    if (profile == PK_MPD_CMAF)
        wr_str(w, " containerProfiles=\"cmfc\"");   /* 23009-1 8.12: the CMAF brand */
    wr_str(w, ">\n");
    /* AdaptationSetType: RepresentationBase children (ContentProtection, Label),
     * then Role, then SegmentTemplate, then Representations. One key for all
     * Representations: signalled once on the set (DASH-IF IOP's rule), else
     * on each Representation (23009-1 allows both). */
    if (one_key && first_drm)
        write_protection(w, first_drm, 6);
    if (!video && one_name)
        write_label(w, first->at->name, 6);
    if (!video)
        wr_printf(w, "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"%s\"/>\n",
                  main_audio ? "main" : "alternate");
    if (shared)
        write_template(w, v, first, seg, 6);
    for (uint32_t j = lead; j < v->track_count; j++)
        if (member(v, lead, j))
            write_rep(w, v, &v->tracks[j], id, !video && !one_name, !shared,
                      one_key ? NULL : drm_of(drm, j), seg);
    wr_str(w, "    </AdaptationSet>\n");
    return 1;
}

/* Whether tracks[i] is the first of its set in view order. */
static int leads(const pk_view_t *v, uint32_t i)
{
    for (uint32_t j = 0; j < i; j++)
        if (same_set(&v->tracks[j], &v->tracks[i]))
            return 0;
    return 1;
}

/* The longest fragment of any track in the range, in ms, rounded up
 * (@maxSegmentDuration is an upper bound). */
static uint64_t longest_ms(const pk_view_t *v)
{
    uint64_t best = 0;
    for (uint32_t i = 0; i < v->track_count; i++) {
        const pk_vtrack_t *vt = &v->tracks[i];
        uint32_t ts = vt->t->timescale;
        for (uint32_t f = v->frag_begin; f < v->frag_end; f++) {
            uint64_t ms = (uint64_t)(((unsigned __int128)vt->frags[f].duration * 1000 + ts - 1) /
                                     ts);
            best = ms > best ? ms : best;
        }
    }
    return best;
}

/* The namespaces (NS_*) the ContentProtection of the tracks written will use,
 * or -ENOMEM. Bad CPIX XML is logged here, once per pk_track_drm_t (tracks
 * sharing a key share one). */
static int used_namespaces(const pk_view_t *v, const pk_drm_t *drm)
{
    int ns = 0;
    for (uint32_t i = 0; i < v->track_count; i++) {
        const pk_track_drm_t *d = drm_of(drm, i);
        if (!d || !has_frags(v, &v->tracks[i]))
            continue;
        int seen = 0;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = drm_of(drm, j) == d;
        int rc = drm_namespaces(d, v->tracks[i].at->name, !seen);
        if (rc < 0)
            return rc;
        ns |= rc;
    }
    return ns;
}

int pk_mpd_write(const pk_view_t *v, pk_mpd_profile_t profile, const pk_urlopts_t *o, wr_t *w)
{
    const char *seg = o && o->segment ? o->segment : "";
    const pk_drm_t *drm = o ? o->drm : NULL;
    int ns = used_namespaces(v, drm);
    if (ns < 0)
        return w->err = ns;
    uint64_t dur = v->frag_begin < v->frag_end ? pk_view_duration(v, HNS) : 0;
    uint64_t longest = longest_ms(v);

    wr_str(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    wr_str(w, "<MPD xmlns=\"" MPD_NS "\"");
    for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
        if (ns & namespaces[i].flag)
            wr_printf(w, " xmlns:%s=\"%s\"", namespaces[i].prefix, namespaces[i].uri);
    wr_str(w, " profiles=\"");
    wr_str(w, profile == PK_MPD_CMAF ? "urn:mpeg:dash:profile:isoff-live:2011,"
                                       "urn:mpeg:dash:profile:cmaf:2019"
                                     : "urn:mpeg:dash:profile:isoff-live:2011");
    wr_str(w, "\" type=\"static\" mediaPresentationDuration=\"");
    wr_iso_duration(w, dur, HNS);
    /* two fragments buffered before play starts (23009-1 5.3.1.2 minBufferTime) */
    wr_str(w, "\" minBufferTime=\"");
    wr_iso_duration(w, longest ? 2 * longest : 4000, 1000);
    wr_str(w, "\" maxSegmentDuration=\"");
    wr_iso_duration(w, longest, 1000);
    wr_str(w, "\">\n");
    wr_str(w, "  <Period id=\"0\" start=\"PT0S\">\n");

    uint32_t id = 1;
    int audio_sets = 0;
    for (int pass = 0; pass < 2; pass++) {      /* video sets first, then audio */
        pk_track_type_t type = pass ? PK_TRACK_AUDIO : PK_TRACK_VIDEO;
        for (uint32_t i = 0; i < v->track_count; i++) {
            if (v->tracks[i].t->type != type || !leads(v, i))
                continue;
            if (write_set(w, v, i, id, type == PK_TRACK_AUDIO && audio_sets == 0, profile, seg,
                          drm)) {
                id++;
                audio_sets += type == PK_TRACK_AUDIO;
            }
        }
    }
    wr_str(w, "  </Period>\n</MPD>\n");
    return w->err;
}
