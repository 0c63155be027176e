/* DASH MPD writer (pack/mpd.c): hand-built views written, then read back with
 * libxml2 (XPath) and, when the schema is at hand, validated against the
 * official DASH-MPD.xsd (set MPD_SCHEMA_DIR; default schema/ at the repo root). */
#include "test.h"
#include "view4.h"
#include "xml_read.h"

#include "../../pack/mpd.c"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libxml/catalog.h>
#include <libxml/parser.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "../../pack/log.h"

static char logbuf[512];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)ctx;
    snprintf(logbuf, sizeof logbuf, "%s", msg);
}

/* ---- a view: 2 video renditions + English and French AAC (view4.h) -------- */

static const uint8_t avcc[] = {
    0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1e,
    0x01, 0x00, 0x02, 0x68, 0xee,
};
static const uint8_t asc[] = { 0x11, 0x90 };
static const pk_run_t video_runs[] = { { 0, 0, 224, 512, 0 }, { 114688, 224, 1, 1024, 0 } };

static void video_track(pk_track_t *t, uint16_t w, uint16_t h, const char *codec)
{
    *t = (pk_track_t){ .type = PK_TRACK_VIDEO, .fourcc = FOURCC('a', 'v', 'c', '1'),
                       .timescale = 12800, .width = w, .height = h, .nal_length_size = 4,
                       .entry = avcc, .dsi_size = sizeof avcc, .run_count = 2,
                       .runs = video_runs };
    strcpy(t->codec, codec);
    strcpy(t->lang, "und");
}

static void audio_track(pk_track_t *t, const char *lang)
{
    *t = (pk_track_t){ .type = PK_TRACK_AUDIO, .fourcc = FOURCC('m', 'p', '4', 'a'),
                       .timescale = 48000, .channels = 2, .sample_rate = 48000,
                       .object_type = 0x40, .audio_object_type = 2, .entry = asc,
                       .dsi_size = sizeof asc };
    strcpy(t->codec, "mp4a.40.2");
    strcpy(t->lang, lang);
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    video_track(&fx.t[V1], 640, 360, "avc1.64001e");
    video_track(&fx.t[V2], 320, 180, "avc1.64000d");
    audio_track(&fx.t[A_EN], "eng");
    audio_track(&fx.t[A_FR], "fra");
    view4_link();
    logbuf[0] = '\0';
    return 0;
}

/* ---- generating and reading back ------------------------------------------ */

static const pk_urlopts_t opts = { .playlist = ",encryption=cenc", .segment = ",encryption=cenc" };

/* Runs the writer counting, then into a buffer of exactly that size (as getattr
 * and read do); returns the NUL-terminated text (free it). */
static char *gen(pk_mpd_profile_t profile)
{
    wr_t c = wr_counter();
    CHECK(pk_mpd_write(&fx.v, profile, &opts, &c) == 0);
    char *buf = malloc(c.pos + 1);
    wr_t w = wr_init(buf, c.pos);
    CHECK(pk_mpd_write(&fx.v, profile, &opts, &w) == 0);
    CHECK(w.pos == c.pos);
    buf[c.pos] = '\0';
    return buf;
}

/*
 * Expands the SegmentTimeline of a SegmentTemplate node the way a DASH client
 * does (23009-1 5.3.9.6: t defaults to the previous end, r counts REPEATS) and
 * checks it lists exactly the non-empty fragments of vt in the view's range.
 */
static void check_timeline(xmlNodePtr tmpl, const pk_vtrack_t *vt)
{
    xmlNodePtr tl = NULL;
    for (xmlNodePtr c = tmpl->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "SegmentTimeline"))
            tl = c;
    assert_non_null(tl);
    uint32_t f = fx.v.frag_begin;
    uint64_t t = 0;
    for (xmlNodePtr s = tl->children; s; s = s->next) {
        if (s->type != XML_ELEMENT_NODE)
            continue;
        t = xml_attr_u64(s, "t", t);
        uint64_t d = xml_attr_u64(s, "d", 0);
        uint64_t r = xml_attr_u64(s, "r", 0);
        for (uint64_t k = 0; k <= r; k++, t += d)
            view4_expect_frag(vt, &f, t, d);
    }
    view4_expect_end(vt, f);
}

/* ---- schema validation (skipped without the schema) ----------------------- */

static int schema_valid(const char *text)
{
    const char *dir = getenv("MPD_SCHEMA_DIR");
    char xsd[512], cat[512];
    snprintf(xsd, sizeof xsd, "%s/DASH-MPD.xsd", dir ? dir : "schema");
    snprintf(cat, sizeof cat, "%s/catalog.xml", dir ? dir : "schema");
    if (access(xsd, R_OK) != 0)
        return -1;
    static int catalog_loaded;
    if (!catalog_loaded && access(cat, R_OK) == 0)
        xmlLoadCatalog(cat);    /* xlink.xsd, xml.xsd: local copies, never the network */
    catalog_loaded = 1;
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(xsd);
    xmlSchemaPtr schema = xmlSchemaParse(pc);
    assert_non_null(schema);
    xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
    xmlDocPtr doc = xmlReadMemory(text, (int)strlen(text), "mpd.xml", NULL, XML_PARSE_NONET);
    int rc = xmlSchemaValidateDoc(vc, doc);
    xmlFreeDoc(doc);
    xmlSchemaFreeValidCtxt(vc);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pc);
    return rc == 0;
}

/* Valid, or no schema to check against. */
static void check_schema(const char *text)
{
    assert_int_not_equal(schema_valid(text), 0);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_structure(void **state)
{
    (void)state;
    char *text = gen(PK_MPD_CSF);
    xml_t x = xml_parse(text);

    assert_string_equal(xml_str(&x, "/d:MPD/@profiles"), "urn:mpeg:dash:profile:isoff-live:2011");
    assert_string_equal(xml_str(&x, "/d:MPD/@type"), "static");
    assert_string_equal(xml_str(&x, "/d:MPD/@mediaPresentationDuration"), "PT9S");
    assert_string_equal(xml_str(&x, "/d:MPD/@minBufferTime"), "PT4.012S");
    assert_string_equal(xml_str(&x, "/d:MPD/@maxSegmentDuration"), "PT2.006S");
    assert_int_equal(xml_num(&x, "count(/d:MPD/d:Period)"), 1);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet)"), 3);
    assert_int_equal(xml_num(&x, "count(//d:Representation)"), 4);
    assert_int_equal(xml_num(&x, "count(//@startNumber)"), 0);     /* DESIGN §4 */

    /* video: one set, one shared template, both renditions */
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[@contentType='video'])"), 1);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/@mimeType"), "video/mp4");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/@startWithSAP"), "1");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/@segmentAlignment"), "true");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/@maxWidth"), "640");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/@maxHeight"), "360");
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]/d:SegmentTemplate)"), 1);
    assert_int_equal(xml_num(&x, "count(//d:Representation/d:SegmentTemplate)"), 0);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:SegmentTemplate/@media"),
                        "QualityLevels($Bandwidth$)/Fragments(video=$Time$,format=cmaf,"
                        "encryption=cenc)");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:SegmentTemplate/@initialization"),
                        "QualityLevels($Bandwidth$)/Fragments(video=i,format=cmaf,"
                        "encryption=cenc)");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:SegmentTemplate/@timescale"), "12800");
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]/d:SegmentTemplate"
                             "/@presentationTimeOffset)"), 0);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:Representation[1]/@bandwidth"),
                        "1000000");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:Representation[2]/@bandwidth"),
                        "500000");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:Representation[1]/@codecs"),
                        "avc1.64001e");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:Representation[2]/@width"), "320");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:Representation[2]/@height"), "180");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:Representation[1]/@frameRate"), "25");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:Representation[1]/@id"),
                        "1_V_video_1000000");

    /* audio: one set per language, English main, French alternate */
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/@lang"), "en");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/@contentType"), "audio");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/@mimeType"), "audio/mp4");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:Role/@value"), "main");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:Role/@schemeIdUri"),
                        "urn:mpeg:dash:role:2011");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:Label"), "aac_eng_2_128000");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]/@lang"), "fr");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]/d:Role/@value"), "alternate");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:Representation/@audioSamplingRate"),
                        "48000");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:Representation/@bandwidth"), "128000");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:Representation/@codecs"), "mp4a.40.2");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:Representation"
                                "/d:AudioChannelConfiguration/@value"), "2");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:Representation"
                                "/d:AudioChannelConfiguration/@schemeIdUri"),
                        "urn:mpeg:dash:23003:3:audio_channel_configuration:2011");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]/d:SegmentTemplate/@media"),
                        "QualityLevels($Bandwidth$)/Fragments(aac_fra_2_96000=$Time$,"
                        "format=cmaf,encryption=cenc)");
    xml_free(&x);
    free(text);
}

static void test_timelines(void **state)
{
    (void)state;
    char *text = gen(PK_MPD_CSF);
    xml_t x = xml_parse(text);
    check_timeline(xml_node(&x, "//d:AdaptationSet[1]/d:SegmentTemplate"), &fx.vt[V1]);
    check_timeline(xml_node(&x, "//d:AdaptationSet[2]/d:SegmentTemplate"), &fx.vt[A_EN]);
    check_timeline(xml_node(&x, "//d:AdaptationSet[3]/d:SegmentTemplate"), &fx.vt[A_FR]);
    /* r counts repeats: four 2 s fragments are one S with r=3, t only on the first */
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]//d:S)"), 2);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]//d:S[1]/@t"), "0");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]//d:S[1]/@r"), "3");
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]//d:S[2]/@t)"), 0);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]//d:S[2]/@r)"), 0);
    /* no repeats: five S, no r anywhere; t only on the first */
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[2]//d:S)"), 5);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[2]//d:S/@r)"), 0);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[2]//d:S/@t)"), 1);
    /* the gap restates t; the empty last fragment has no S */
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[3]//d:S)"), 2);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]//d:S[2]/@t"), "200000");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]//d:S[2]/@r"), "1");
    xml_free(&x);
    free(text);
}

/* A trimmed view: presentationTimeOffset puts its first fragment at period time 0,
 * the same instant in every track's timescale. */
static void test_trimmed_view(void **state)
{
    (void)state;
    fx.v.frag_begin = 2;
    fx.v.frag_end = 4;
    char *text = gen(PK_MPD_CSF);
    xml_t x = xml_parse(text);
    assert_string_equal(xml_str(&x, "/d:MPD/@mediaPresentationDuration"), "PT4S");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:SegmentTemplate"
                                "/@presentationTimeOffset"), "51200");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:SegmentTemplate"
                                "/@presentationTimeOffset"),
                        "192000");
    check_timeline(xml_node(&x, "//d:AdaptationSet[1]/d:SegmentTemplate"), &fx.vt[V1]);
    check_timeline(xml_node(&x, "//d:AdaptationSet[2]/d:SegmentTemplate"), &fx.vt[A_EN]);
    check_timeline(xml_node(&x, "//d:AdaptationSet[3]/d:SegmentTemplate"), &fx.vt[A_FR]);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]//d:S[1]/@t"), "51200");
    check_schema(text);
    xml_free(&x);
    free(text);

    /* a range where French has no fragment: its set disappears */
    fx.v.frag_begin = 4;
    fx.v.frag_end = 5;
    text = gen(PK_MPD_CSF);
    x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet)"), 2);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[@lang='fr'])"), 0);
    xml_free(&x);
    free(text);
}

/* Renditions whose timelines differ carry their own templates. */
static void test_template_per_representation(void **state)
{
    (void)state;
    static pk_frag_t other[NFRAGS];
    for (int f = 0; f < NFRAGS; f++) {
        other[f] = video_frags[f];
        other[f].time = video_frags[f].time * 90000 / 12800;
        other[f].duration = video_frags[f].duration * 90000 / 12800;
    }
    fx.t[V2].timescale = 90000;
    fx.vt[V2].frags = other;
    char *text = gen(PK_MPD_CSF);
    xml_t x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]/d:SegmentTemplate)"), 0);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]/d:Representation/d:SegmentTemplate)"),
                     2);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:Representation[2]/d:SegmentTemplate"
                                "/@timescale"), "90000");
    check_timeline(xml_node(&x, "//d:AdaptationSet[1]/d:Representation[1]/d:SegmentTemplate"),
                   &fx.vt[V1]);
    check_timeline(xml_node(&x, "//d:AdaptationSet[1]/d:Representation[2]/d:SegmentTemplate"),
                   &fx.vt[V2]);
    check_schema(text);
    xml_free(&x);
    free(text);
}

/* Names that need escaping: XML in Label and attributes, percent-encoding in URLs,
 * no white space in Representation@id. */
static void test_escaping(void **state)
{
    (void)state;
    fx.at[A_FR].name = "a&b <c>$";
    char *text = gen(PK_MPD_CSF);
    xml_t x = xml_parse(text);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]/d:Label"), "a&b <c>$");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]/d:SegmentTemplate/@media"),
                        "QualityLevels($Bandwidth$)/Fragments(a%26b%20%3Cc%3E%24=$Time$,"
                        "format=cmaf,encryption=cenc)");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]/d:Representation/@id"),
                        "3_A_a&b_<c>$_96000");
    check_schema(text);
    xml_free(&x);
    free(text);
}

/* Audio of one language splits by codec; one language and codec with two names
 * shares a set, with a label and template per Representation. */
static void test_audio_grouping(void **state)
{
    (void)state;
    fx.at[A_FR].language = "eng";
    char *text = gen(PK_MPD_CSF);
    xml_t x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet)"), 2);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[2]/d:Representation)"), 2);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[2]/d:Label)"), 0);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[2]/d:Representation/d:Label)"), 2);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[2]/d:SegmentTemplate)"), 0);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[2]/d:Representation[2]/d:Label"),
                        "aac_fra_2_96000");
    check_timeline(xml_node(&x, "//d:AdaptationSet[2]/d:Representation[2]/d:SegmentTemplate"),
                   &fx.vt[A_FR]);
    check_schema(text);
    xml_free(&x);
    free(text);

    fx.t[A_FR].fourcc = FOURCC('a', 'c', '-', '3');
    strcpy(fx.t[A_FR].codec, "ac-3");
    fx.t[A_FR].channels = 6;
    text = gen(PK_MPD_CSF);
    x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet)"), 3);
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]/@lang"), "en");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]/d:Role/@value"), "alternate");
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[3]//d:AudioChannelConfiguration/@value"),
                        "6");
    xml_free(&x);
    free(text);

    /* "und" has no lang attribute */
    fx.at[A_FR].language = "und";
    text = gen(PK_MPD_CSF);
    x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[3]/@lang)"), 0);
    xml_free(&x);
    free(text);
}

static void test_cmaf_profile(void **state)
{
    (void)state;
    char *text = gen(PK_MPD_CMAF);
    xml_t x = xml_parse(text);
    assert_string_equal(xml_str(&x, "/d:MPD/@profiles"),
                        "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019");
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[@containerProfiles='cmfc'])"), 3);
    check_schema(text);
    xml_free(&x);
    free(text);
}

static void test_schema(void **state)
{
    (void)state;
    char *text = gen(PK_MPD_CSF);
    int rc = schema_valid(text);
    free(text);
    if (rc < 0)
        skip();                 /* no schema here: set MPD_SCHEMA_DIR */
    assert_int_equal(rc, 1);
    /* the validator does reject: a Representation without its required bandwidth */
    fx.at[V2].bitrate = 7;
    text = gen(PK_MPD_CSF);
    char *p = strstr(text, " bandwidth=\"7\"");
    assert_non_null(p);
    memcpy(p, " xxxxxxxxx=\"7\"", 14);
    assert_int_equal(schema_valid(text), 0);
    free(text);
}


static void test_short_buffer(void **state)
{
    (void)state;
    wr_t c = wr_counter();
    CHECK(pk_mpd_write(&fx.v, PK_MPD_CSF, NULL, &c) == 0);
    char *buf = malloc(c.pos);
    wr_t w = wr_init(buf, c.pos - 1);
    CHECK(pk_mpd_write(&fx.v, PK_MPD_CSF, NULL, &w) == -ENOSPC);
    free(buf);
}

/* ---- protected output ------------------------------------------------------ */

static const uint8_t wv_pssh[32] = { 0, 0, 0, 0x20, 'p', 's', 's', 'h', 0, 0, 0, 0,
                                     0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                                     0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed,
                                     0, 0, 0, 0 };
#define WV_PSSH_B64 "AAAAIHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAAAA="
static const uint8_t pro[7] = { 'P', 'R', 'O', ':', 1, 2, 0xff };
#define PRO_B64 "UFJPOgEC/w=="

#define PLAYREADY "9a04f079-9840-4286-ab92-e65be0885f95"
#define WIDEVINE "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
#define CLEARKEY "e2719d58-a985-b3c9-781a-b030af78d30e"
#define W3C "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"

typedef struct {
    pk_drm_system_t sys[4];
    pk_track_drm_t key[3];      /* video, English, French */
    const pk_track_drm_t *tracks[NTRACKS];
    pk_drm_t drm;
    pk_urlopts_t o;
} drm_fx_t;

static drm_fx_t dfx;

static void uuid_bytes(const char *s, uint8_t out[16])
{
    for (int i = 0; *s && i < 16; s++) {
        if (*s == '-')
            continue;
        unsigned b;
        sscanf(s, "%2x", &b);
        out[i++] = (uint8_t)b;
        s++;
    }
}

/* PlayReady (pssh + PRO), Widevine (pssh), ClearKey (licence URL), W3C common
 * (pssh); one key for both videos, one per audio language. */
static void setup_drm(void)
{
    memset(&dfx, 0, sizeof dfx);
    uuid_bytes(PLAYREADY, dfx.sys[0].system_id);
    dfx.sys[0].pssh = (pk_bytes_t){ wv_pssh, sizeof wv_pssh };
    dfx.sys[0].pro = (pk_bytes_t){ pro, sizeof pro };
    uuid_bytes(WIDEVINE, dfx.sys[1].system_id);
    dfx.sys[1].pssh = (pk_bytes_t){ wv_pssh, sizeof wv_pssh };
    uuid_bytes(CLEARKEY, dfx.sys[2].system_id);
    dfx.sys[2].la_url = "https://keys.example/ck?a=1&b=2";
    uuid_bytes(W3C, dfx.sys[3].system_id);
    dfx.sys[3].pssh = (pk_bytes_t){ wv_pssh, sizeof wv_pssh };
    for (int k = 0; k < 3; k++) {
        dfx.key[k] = (pk_track_drm_t){ .scheme = FOURCC('c', 'e', 'n', 'c'), .system_count = 4,
                                       .systems = dfx.sys };
        uuid_bytes("10000000-1000-1000-1000-10000000000a", dfx.key[k].kid);
        dfx.key[k].kid[15] = (uint8_t)(0xa0 + k);
    }
    dfx.tracks[V1] = dfx.tracks[V2] = &dfx.key[0];
    dfx.tracks[A_EN] = &dfx.key[1];
    dfx.tracks[A_FR] = &dfx.key[2];
    dfx.drm = (pk_drm_t){ NTRACKS, dfx.tracks };
    dfx.o = opts;
    dfx.o.drm = &dfx.drm;
}

static char *gen_drm(void)
{
    wr_t c = wr_counter();
    CHECK(pk_mpd_write(&fx.v, PK_MPD_CSF, &dfx.o, &c) == 0);
    char *buf = malloc(c.pos + 1);
    wr_t w = wr_init(buf, c.pos);
    CHECK(pk_mpd_write(&fx.v, PK_MPD_CSF, &dfx.o, &w) == 0);
    CHECK(w.pos == c.pos);
    buf[c.pos] = '\0';
    return buf;
}

static xml_t parse_drm(const char *text)
{
    xml_t x = xml_parse(text);
    xmlXPathRegisterNs(x.xp, BAD_CAST "cenc", BAD_CAST "urn:mpeg:cenc:2013");
    xmlXPathRegisterNs(x.xp, BAD_CAST "mspr", BAD_CAST "urn:microsoft:playready");
    xmlXPathRegisterNs(x.xp, BAD_CAST "dashif", BAD_CAST "https://dashif.org/CPS");
    return x;
}

/* The ContentProtection set of one key under `at` (an XPath to its parent). */
static void check_key(xml_t *x, const char *at, const char *kid)
{
    char q[256];
    snprintf(q, sizeof q, "count(%s/d:ContentProtection)", at);
    assert_int_equal(xml_num(x, q), 5);
    snprintf(q, sizeof q, "%s/d:ContentProtection[1]/@schemeIdUri", at);
    assert_string_equal(xml_str(x, q), "urn:mpeg:dash:mp4protection:2011");
    snprintf(q, sizeof q, "%s/d:ContentProtection[1]/@value", at);
    assert_string_equal(xml_str(x, q), "cenc");
    snprintf(q, sizeof q, "%s/d:ContentProtection[1]/@cenc:default_KID", at);
    assert_string_equal(xml_str(x, q), kid);
    snprintf(q, sizeof q, "%s/d:ContentProtection[2]/@schemeIdUri", at);
    assert_string_equal(xml_str(x, q), "urn:uuid:" PLAYREADY);
    snprintf(q, sizeof q, "%s/d:ContentProtection[2]/@value", at);
    assert_string_equal(xml_str(x, q), "MSPR 2.0");
    snprintf(q, sizeof q, "%s/d:ContentProtection[2]/cenc:pssh", at);
    assert_string_equal(xml_str(x, q), WV_PSSH_B64);
    snprintf(q, sizeof q, "%s/d:ContentProtection[2]/mspr:pro", at);
    assert_string_equal(xml_str(x, q), PRO_B64);
    snprintf(q, sizeof q, "%s/d:ContentProtection[3]/@schemeIdUri", at);
    assert_string_equal(xml_str(x, q), "urn:uuid:" WIDEVINE);
    snprintf(q, sizeof q, "%s/d:ContentProtection[3]/@value", at);
    assert_string_equal(xml_str(x, q), "Widevine");
    snprintf(q, sizeof q, "%s/d:ContentProtection[3]/cenc:pssh", at);
    assert_string_equal(xml_str(x, q), WV_PSSH_B64);
    snprintf(q, sizeof q, "count(%s/d:ContentProtection[3]/*)", at);
    assert_int_equal(xml_num(x, q), 1);
    snprintf(q, sizeof q, "%s/d:ContentProtection[4]/@value", at);
    assert_string_equal(xml_str(x, q), "ClearKey1.0");
    snprintf(q, sizeof q, "%s/d:ContentProtection[4]/dashif:Laurl", at);
    assert_string_equal(xml_str(x, q), "https://keys.example/ck?a=1&b=2");
    snprintf(q, sizeof q, "%s/d:ContentProtection[5]/@schemeIdUri", at);
    assert_string_equal(xml_str(x, q), "urn:uuid:" W3C);
    snprintf(q, sizeof q, "count(%s/d:ContentProtection[5]/@value)", at);
    assert_int_equal(xml_num(x, q), 0);
    snprintf(q, sizeof q, "%s/d:ContentProtection[5]/cenc:pssh", at);
    assert_string_equal(xml_str(x, q), WV_PSSH_B64);
}

static void test_protection(void **state)
{
    (void)state;
    setup_drm();
    char *text = gen_drm();
    xml_t x = parse_drm(text);
    /* namespaces on the root */
    assert_non_null(strstr(text, "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "
                                 "xmlns:cenc=\"urn:mpeg:cenc:2013\" "
                                 "xmlns:mspr=\"urn:microsoft:playready\" "
                                 "xmlns:dashif=\"https://dashif.org/CPS\" profiles="));
    /* one key per set: on the set, never on a Representation */
    check_key(&x, "//d:AdaptationSet[1]", "10000000-1000-1000-1000-1000000000a0");
    check_key(&x, "//d:AdaptationSet[2]", "10000000-1000-1000-1000-1000000000a1");
    check_key(&x, "//d:AdaptationSet[3]", "10000000-1000-1000-1000-1000000000a2");
    assert_int_equal(xml_num(&x, "count(//d:Representation/d:ContentProtection)"), 0);
    /* ContentProtection comes first among the set's children (RepresentationBaseType) */
    assert_string_equal(xml_str(&x, "name(//d:AdaptationSet[2]/*[1])"), "ContentProtection");
    /* segment URLs say what they are */
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:SegmentTemplate/@media"),
                        "QualityLevels($Bandwidth$)/Fragments(video=$Time$,format=cmaf,"
                        "encryption=cenc)");
    check_schema(text);
    xml_free(&x);
    free(text);

    /* cbcs; only Widevine: neither mspr nor dashif declared */
    for (int k = 0; k < 3; k++) {
        dfx.key[k].scheme = FOURCC('c', 'b', 'c', 's');
        dfx.key[k].systems = &dfx.sys[1];
        dfx.key[k].system_count = 1;
    }
    text = gen_drm();
    x = parse_drm(text);
    assert_null(strstr(text, "xmlns:mspr"));
    assert_null(strstr(text, "xmlns:dashif"));
    assert_non_null(strstr(text, "xmlns:cenc"));
    assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:ContentProtection[1]/@value"), "cbcs");
    assert_int_equal(xml_num(&x, "count(//d:ContentProtection)"), 6);
    check_schema(text);
    xml_free(&x);
    free(text);

    /* clear output: no namespace, no descriptor */
    text = gen(PK_MPD_CSF);
    assert_null(strstr(text, "xmlns:cenc"));
    assert_null(strstr(text, "ContentProtection"));
    free(text);
}

/* Keys that differ inside a set: ContentProtection on each Representation,
 * after AudioChannelConfiguration and before Label (RepresentationBaseType). */
static void test_protection_per_representation(void **state)
{
    (void)state;
    setup_drm();
    dfx.tracks[V2] = &dfx.key[1];
    fx.at[A_FR].language = "eng";                   /* one audio set, two names and keys */
    char *text = gen_drm();
    xml_t x = parse_drm(text);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet/d:ContentProtection)"), 0);
    check_key(&x, "//d:AdaptationSet[1]/d:Representation[1]",
              "10000000-1000-1000-1000-1000000000a0");
    check_key(&x, "//d:AdaptationSet[1]/d:Representation[2]",
              "10000000-1000-1000-1000-1000000000a1");
    check_key(&x, "//d:AdaptationSet[2]/d:Representation[2]",
              "10000000-1000-1000-1000-1000000000a2");
    assert_string_equal(xml_str(&x, "name(//d:AdaptationSet[2]/d:Representation[1]/*[1])"),
                        "AudioChannelConfiguration");
    assert_string_equal(xml_str(&x, "name(//d:AdaptationSet[2]/d:Representation[1]/*[2])"),
                        "ContentProtection");
    assert_string_equal(xml_str(&x, "name(//d:AdaptationSet[2]/d:Representation[1]/*[7])"),
                        "Label");
    check_schema(text);
    xml_free(&x);
    free(text);

    /* the same key and systems in distinct structures is still one key */
    setup_drm();
    dfx.key[1] = dfx.key[0];
    dfx.tracks[V2] = &dfx.key[1];
    text = gen_drm();
    x = parse_drm(text);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]/d:ContentProtection)"), 5);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]/d:Representation"
                             "/d:ContentProtection)"), 0);
    xml_free(&x);
    free(text);

    /* a clear track beside a protected one in a set */
    setup_drm();
    dfx.tracks[V2] = NULL;
    text = gen_drm();
    x = parse_drm(text);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]/d:Representation[1]"
                             "/d:ContentProtection)"), 5);
    assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]/d:Representation[2]"
                             "/d:ContentProtection)"), 0);
    check_schema(text);
    xml_free(&x);
    free(text);
}

/* CPIX ContentProtectionData goes in verbatim when it fits; otherwise it is
 * logged and the generated children stand in. */
static void test_protection_cpix_xml(void **state)
{
    (void)state;
    static const char *const good[] = {
        /* relies on the root's cenc declaration */
        "<cenc:pssh>" WV_PSSH_B64 "</cenc:pssh>",
        /* declares its own namespace; comments and blanks around */
        "\n  <!-- from the DRM vendor -->\n  <x:data xmlns:x=\"urn:example:drm\" "
        "x:a=\"1\">&amp;<y/></x:data>\n",
        /* mspr only inside the CPIX text: the root still declares it */
        "<mspr:pro>" PRO_B64 "</mspr:pro><dashif:Laurl>https://l/</dashif:Laurl>",
    };
    static const char *const bad[] = {
        "</ContentProtection><ContentProtection schemeIdUri=\"x\">",
        "<cenc:pssh>unclosed",
        "<pssh>in the MPD namespace</pssh>",
        "text at the top",
        "<undeclared:x/>",
        "<?xml version=\"1.0\"?><a xmlns=\"urn:x\"/>",
        "<!DOCTYPE a [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><a xmlns=\"urn:x\">&e;</a>",
        "<a xmlns=\"urn:x\">&undefined;</a>",
        "<a xmlns=\"urn:x\"/></w><w>",
        "<a xmlns=\"urn:x\">\xff\xfe</a>",
        "<![CDATA[not blank]]>",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setup_drm();
        dfx.sys[1].content_protection = good[i];    /* Widevine */
        for (int k = 0; k < 3; k++) {
            dfx.key[k].systems = &dfx.sys[1];
            dfx.key[k].system_count = 1;
        }
        logbuf[0] = '\0';
        char *text = gen_drm();
        assert_string_equal(logbuf, "");
        assert_non_null(strstr(text, good[i]));
        assert_int_equal(strstr(text, "xmlns:mspr") != NULL, i == 2);
        assert_int_equal(strstr(text, "xmlns:dashif") != NULL, i == 2);
        xml_t x = parse_drm(text);
        assert_int_equal(xml_num(&x, "count(//d:AdaptationSet[1]/d:ContentProtection[2]/*)"),
                         i == 1 ? 1 : i == 2 ? 2 : 1);
        check_schema(text);
        xml_free(&x);
        free(text);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setup_drm();
        dfx.sys[1].content_protection = bad[i];
        logbuf[0] = '\0';
        char *text = gen_drm();
        assert_non_null(strstr(logbuf, "ContentProtectionData of DRM system " WIDEVINE));
        assert_null(strstr(text, bad[i]));
        xml_t x = parse_drm(text);
        /* the generated pssh instead */
        assert_string_equal(xml_str(&x, "//d:AdaptationSet[1]/d:ContentProtection[3]/cenc:pssh"),
                            WV_PSSH_B64);
        check_schema(text);
        xml_free(&x);
        free(text);
    }
}

int main(void)
{
    pk_log_set_sink(capture, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_structure, setup),
        cmocka_unit_test_setup(test_timelines, setup),
        cmocka_unit_test_setup(test_trimmed_view, setup),
        cmocka_unit_test_setup(test_template_per_representation, setup),
        cmocka_unit_test_setup(test_escaping, setup),
        cmocka_unit_test_setup(test_audio_grouping, setup),
        cmocka_unit_test_setup(test_cmaf_profile, setup),
        cmocka_unit_test_setup(test_schema, setup),
        cmocka_unit_test_setup(test_short_buffer, setup),
        cmocka_unit_test_setup(test_protection, setup),
        cmocka_unit_test_setup(test_protection_per_representation, setup),
        cmocka_unit_test_setup(test_protection_cpix_xml, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCatalogCleanup();
    xmlCleanupParser();
    return rc;
}
