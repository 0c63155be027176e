/* Smooth Streaming client manifest (pack/smooth.c): hand-built views written,
 * then read back with libxml2 (XPath) and checked against MS-SSTR 2.2.2. */
#include "test.h"
#include "view4.h"
#include "xml_read.h"

#include "../../pack/smooth.c"

#include <stdio.h>
#include <stdlib.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

static char logbuf[1024];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)ctx;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
}

/* ---- a view: 2 video renditions + English and French AAC (view4.h) -------- */

/* avcC: SPS 67 64 00 1e, PPS 68 ee; entry bytes before it, as in a real stsd entry */
static const uint8_t avc_entry[] = {
    0xde, 0xad, 0xbe, 0xef,
    0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1e,
    0x01, 0x00, 0x02, 0x68, 0xee,
};
static const uint8_t asc_entry[] = { 0xaa, 0x11, 0x90 };

static void video_track(pk_track_t *t, uint16_t w, uint16_t h)
{
    *t = (pk_track_t){ .type = PK_TRACK_VIDEO, .fourcc = FOURCC('a', 'v', 'c', '1'),
                       .timescale = 12800, .width = w, .height = h, .nal_length_size = 4,
                       .entry = avc_entry, .dsi_off = 4, .dsi_size = sizeof avc_entry - 4 };
    strcpy(t->codec, "avc1.64001e");
}

static void audio_track(pk_track_t *t)
{
    *t = (pk_track_t){ .type = PK_TRACK_AUDIO, .fourcc = FOURCC('m', 'p', '4', 'a'),
                       .timescale = 48000, .channels = 2, .sample_rate = 48000,
                       .object_type = 0x40, .audio_object_type = 2, .entry = asc_entry,
                       .dsi_off = 1, .dsi_size = 2 };
    strcpy(t->codec, "mp4a.40.2");
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    video_track(&fx.t[V1], 640, 360);
    video_track(&fx.t[V2], 320, 180);
    audio_track(&fx.t[A_EN]);
    audio_track(&fx.t[A_FR]);
    view4_link();
    logbuf[0] = '\0';
    return 0;
}

/* ---- generating and reading back ------------------------------------------ */

static const pk_urlopts_t opts = { .playlist = ",encryption=cenc", .segment = ",encryption=cenc" };

/* Count, then write into exactly that many bytes; the NUL-terminated text (free it). */
static char *gen(void)
{
    wr_t c = wr_counter();
    CHECK(pk_smooth_manifest(&fx.v, &opts, &c) == 0);
    char *buf = malloc(c.pos + 1);
    wr_t w = wr_init(buf, c.pos);
    CHECK(pk_smooth_manifest(&fx.v, &opts, &w) == 0);
    CHECK(w.pos == c.pos);
    buf[c.pos] = '\0';
    return buf;
}

/*
 * Expands the <c> list of a StreamIndex as a Smooth client does (MS-SSTR
 * 2.2.2.6; r = how many chunks of this duration in all, as dash.js's MssParser
 * reads it) and checks it lists exactly the non-empty fragments of vt, and
 * that StreamIndex@Chunks counts them.
 */
static void check_chunks(xmlNodePtr si, const pk_vtrack_t *vt)
{
    uint32_t f = fx.v.frag_begin, n = 0;
    uint64_t t = 0;
    for (xmlNodePtr c = si->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !xmlStrEqual(c->name, BAD_CAST "c"))
            continue;
        t = xml_attr_u64(c, "t", t);
        uint64_t d = xml_attr_u64(c, "d", 0);
        uint64_t r = xml_attr_u64(c, "r", 1);
        for (uint64_t k = 0; k < r; k++, t += d, n++)
            view4_expect_frag(vt, &f, t, d);
    }
    view4_expect_end(vt, f);
    assert_int_equal(xml_attr_u64(si, "Chunks", 0), n);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_structure(void **state)
{
    (void)state;
    char *text = gen();
    xml_t x = xml_parse(text);

    assert_string_equal(xml_str(&x, "/SmoothStreamingMedia/@MajorVersion"), "2");
    assert_string_equal(xml_str(&x, "/SmoothStreamingMedia/@MinorVersion"), "2");
    assert_string_equal(xml_str(&x, "/SmoothStreamingMedia/@TimeScale"), "10000000");
    assert_string_equal(xml_str(&x, "/SmoothStreamingMedia/@Duration"), "90000000");
    assert_int_equal(xml_num(&x, "count(//StreamIndex)"), 3);

    assert_int_equal(xml_num(&x, "count(//StreamIndex[@Type='video'])"), 1);
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@Name"), "video");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@QualityLevels"), "2");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@TimeScale"), "12800");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@MaxWidth"), "640");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@MaxHeight"), "360");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@DisplayWidth"), "640");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@Url"),
                        "QualityLevels({bitrate})/Fragments(video={start time},encryption=cenc)");
    assert_int_equal(xml_num(&x, "count(//StreamIndex[1]/QualityLevel)"), 2);
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel[1]/@Index"), "0");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel[2]/@Index"), "1");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel[1]/@Bitrate"), "1000000");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel[2]/@Bitrate"), "500000");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel[1]/@FourCC"), "H264");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel[2]/@MaxWidth"), "320");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel[2]/@MaxHeight"), "180");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel[1]/@CodecPrivateData"),
                        "000000016764001E0000000168EE");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel[1]/@NALUnitLengthField"), "4");

    assert_string_equal(xml_str(&x, "//StreamIndex[2]/@Type"), "audio");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/@Name"), "aac_eng_2_128000");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/@Language"), "eng");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/@TimeScale"), "48000");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/@QualityLevels"), "1");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/@Url"),
                        "QualityLevels({bitrate})/Fragments(aac_eng_2_128000={start time},"
                        "encryption=cenc)");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/QualityLevel/@FourCC"), "AACL");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/QualityLevel/@CodecPrivateData"), "1190");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/QualityLevel/@SamplingRate"), "48000");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/QualityLevel/@Channels"), "2");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/QualityLevel/@BitsPerSample"), "16");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/QualityLevel/@PacketSize"), "4");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/QualityLevel/@AudioTag"), "255");
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/QualityLevel/@Bitrate"), "128000");
    assert_string_equal(xml_str(&x, "//StreamIndex[3]/@Name"), "aac_fra_2_96000");
    assert_string_equal(xml_str(&x, "//StreamIndex[3]/@Language"), "fra");
    xml_free(&x);
    free(text);
}

static void test_chunks(void **state)
{
    (void)state;
    char *text = gen();
    xml_t x = xml_parse(text);
    check_chunks(xml_node(&x, "//StreamIndex[1]"), &fx.vt[V1]);
    check_chunks(xml_node(&x, "//StreamIndex[2]"), &fx.vt[A_EN]);
    check_chunks(xml_node(&x, "//StreamIndex[3]"), &fx.vt[A_FR]);
    /* Smooth r is the TOTAL: four 2 s chunks are one <c r="4">, unlike DASH's r="3" */
    assert_int_equal(xml_num(&x, "count(//StreamIndex[1]/c)"), 2);
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/c[1]/@t"), "0");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/c[1]/@r"), "4");
    assert_int_equal(xml_num(&x, "count(//StreamIndex[1]/c[2]/@t)"), 0);
    assert_int_equal(xml_num(&x, "count(//StreamIndex[1]/c[2]/@r)"), 0);
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@Chunks"), "5");
    assert_int_equal(xml_num(&x, "count(//StreamIndex[2]/c)"), 5);
    assert_int_equal(xml_num(&x, "count(//StreamIndex[2]/c/@r)"), 0);
    assert_int_equal(xml_num(&x, "count(//StreamIndex[2]/c/@t)"), 1);
    /* the gap restates t; the empty last fragment is no chunk */
    assert_int_equal(xml_num(&x, "count(//StreamIndex[3]/c)"), 2);
    assert_string_equal(xml_str(&x, "//StreamIndex[3]/c[1]/@r"), "2");
    assert_string_equal(xml_str(&x, "//StreamIndex[3]/c[2]/@t"), "200000");
    assert_string_equal(xml_str(&x, "//StreamIndex[3]/@Chunks"), "4");
    xml_free(&x);
    free(text);

    /* a trimmed view: absolute times, Duration of the range only */
    fx.v.frag_begin = 2;
    fx.v.frag_end = 4;
    text = gen();
    x = xml_parse(text);
    assert_string_equal(xml_str(&x, "/SmoothStreamingMedia/@Duration"), "40000000");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/c[1]/@t"), "51200");
    check_chunks(xml_node(&x, "//StreamIndex[1]"), &fx.vt[V1]);
    check_chunks(xml_node(&x, "//StreamIndex[2]"), &fx.vt[A_EN]);
    check_chunks(xml_node(&x, "//StreamIndex[3]"), &fx.vt[A_FR]);
    xml_free(&x);
    free(text);
}

static void test_escaping(void **state)
{
    (void)state;
    fx.at[A_FR].name = "a&b <c>{x}";
    fx.at[A_FR].language = "f\"r";
    char *text = gen();
    xml_t x = xml_parse(text);
    assert_string_equal(xml_str(&x, "//StreamIndex[3]/@Name"), "a&b <c>{x}");
    assert_string_equal(xml_str(&x, "//StreamIndex[3]/@Language"), "f\"r");
    assert_string_equal(xml_str(&x, "//StreamIndex[3]/@Url"),
                        "QualityLevels({bitrate})/Fragments(a%26b%20%3Cc%3E%7Bx%7D={start time},"
                        "encryption=cenc)");
    xml_free(&x);
    free(text);
}

/* Codecs Smooth cannot describe are left out, with a warning; nothing left is ENOTSUP. */
static void test_unsupported_codecs(void **state)
{
    (void)state;
    fx.t[A_FR].fourcc = FOURCC('a', 'c', '-', '3');
    strcpy(fx.t[A_FR].codec, "ac-3");
    fx.t[V2].fourcc = FOURCC('h', 'v', 'c', '1');
    strcpy(fx.t[V2].codec, "hvc1.1.6.L93.B0");
    char *text = gen();
    xml_t x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//StreamIndex)"), 2);
    assert_int_equal(xml_num(&x, "count(//QualityLevel)"), 2);
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@QualityLevels"), "1");
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/QualityLevel/@Bitrate"), "1000000");
    assert_int_equal(xml_num(&x, "count(//StreamIndex[@Name='aac_fra_2_96000'])"), 0);
    assert_non_null(strstr(logbuf, "aac_fra_2_96000 (96000 bit/s): codec ac-3"));
    assert_non_null(strstr(logbuf, "video (500000 bit/s): codec hvc1.1.6.L93.B0"));
    xml_free(&x);
    free(text);

    /* HE-AAC is AACH; MP3 in mp4a (OTI 0x6B) is not AAC */
    fx.t[A_EN].audio_object_type = 5;
    text = gen();
    x = xml_parse(text);
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/QualityLevel/@FourCC"), "AACH");
    xml_free(&x);
    free(text);
    fx.t[A_EN].object_type = 0x6B;
    text = gen();
    x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//StreamIndex)"), 1);
    xml_free(&x);
    free(text);

    fx.t[V1].fourcc = FOURCC('h', 'e', 'v', '1');
    wr_t c = wr_counter();
    logbuf[0] = '\0';
    CHECK(pk_smooth_manifest(&fx.v, &opts, &c) == -ENOTSUP);
    assert_non_null(strstr(logbuf, "no track Smooth Streaming can describe"));
}

/* One StreamIndex, one timeline: a ladder whose timescales (or times) differ is refused. */
static void test_one_timeline_per_stream(void **state)
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
    wr_t c = wr_counter();
    CHECK(pk_smooth_manifest(&fx.v, &opts, &c) == -ENOTSUP);
    assert_non_null(strstr(logbuf, "video: 1000000 bit/s (timescale 12800) and 500000 bit/s "
                                   "(timescale 90000) differ"));

    /* same timescale, a different last duration: one chunk list serves both */
    memcpy(other, video_frags, sizeof other);
    other[4].duration = 12288;
    fx.t[V2].timescale = 12800;
    char *text = gen();
    xml_t x = xml_parse(text);
    check_chunks(xml_node(&x, "//StreamIndex[1]"), &fx.vt[V1]);
    xml_free(&x);
    free(text);

    /* a different start time is refused */
    other[2].time += 512;
    c = wr_counter();
    CHECK(pk_smooth_manifest(&fx.v, &opts, &c) == -ENOTSUP);

    /* another name is another StreamIndex, free to have its own timeline */
    fx.at[V2].name = "video_low";
    text = gen();
    x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//StreamIndex[@Type='video'])"), 2);
    assert_string_equal(xml_str(&x, "//StreamIndex[2]/@Name"), "video_low");
    check_chunks(xml_node(&x, "//StreamIndex[2]"), &fx.vt[V2]);
    xml_free(&x);
    free(text);
}

static void test_short_buffer(void **state)
{
    (void)state;
    wr_t c = wr_counter();
    CHECK(pk_smooth_manifest(&fx.v, NULL, &c) == 0);
    char *buf = malloc(c.pos);
    wr_t w = wr_init(buf, c.pos - 1);
    CHECK(pk_smooth_manifest(&fx.v, NULL, &w) == -ENOSPC);
    free(buf);
}

/* CodecPrivateData longer than the stack buffer goes through the heap. */
static void test_long_parameter_sets(void **state)
{
    (void)state;
    /* avcC head, one SPS of 600 bytes, one PPS of 2 */
    static uint8_t entry[8 + 600 + 5];
    static const uint8_t head[] = { 0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 600 >> 8, 600 & 0xff };
    static const uint8_t tail[] = { 0x01, 0x00, 0x02, 0x68, 0xee };
    memcpy(entry, head, sizeof head);
    entry[8] = 0x67;
    memcpy(entry + 8 + 600, tail, sizeof tail);
    fx.t[V1].entry = entry;
    fx.t[V1].dsi_off = 0;
    fx.t[V1].dsi_size = sizeof entry;
    char *text = gen();
    xml_t x = xml_parse(text);
    xmlChar *cpd = xmlGetProp(xml_node(&x, "//StreamIndex[1]/QualityLevel[1]"),
                              BAD_CAST "CodecPrivateData");
    assert_int_equal(strlen((const char *)cpd), 2 * (4 + 600 + 4 + 2));
    assert_memory_equal(cpd, "0000000167000000", 16);
    assert_string_equal((const char *)cpd + 2 * (4 + 600), "0000000168EE");
    xmlFree(cpd);
    xml_free(&x);
    free(text);
}

/* An avcC whose parameter sets run past its end: EBADMSG, logged once with the track. */
static void test_bad_avcc(void **state)
{
    (void)state;
    fx.t[V2].dsi_size -= 3;
    wr_t c = wr_counter();
    CHECK(pk_smooth_manifest(&fx.v, &opts, &c) == -EBADMSG);
    assert_non_null(strstr(logbuf, "video (500000 bit/s): avcC parameter sets do not parse"));
}

/* ---- encrypted: the Protection element ----------------------------------------- */

/* some bytes standing for a PlayReady Object, and their base64 (Python's b64encode) */
static const uint8_t pro[12] = { 0x2a, 0, 0, 0, 1, 0, 1, 0, 0xff, 0xfe, 0x3c, 0 };
#define PRO_B64 "KgAAAAEAAQD//jwA"

static pk_track_drm_t drm_a, drm_b;
static const pk_track_drm_t *drm_tracks[NTRACKS];
static pk_drm_t drm = { NTRACKS, drm_tracks };
static const pk_urlopts_t piff_opts = { .playlist = "", .segment = ",encryption=piff",
                                        .drm = &drm };

/* every track under key a (KID 11..11) */
static void one_key(void)
{
    drm_a = (pk_track_drm_t){ .scheme = FOURCC('c', 'e', 'n', 'c'),
                              .smooth_pro = { pro, sizeof pro } };
    memset(drm_a.kid, 0x11, 16);
    drm_b = drm_a;
    memset(drm_b.kid, 0x22, 16);
    for (int i = 0; i < NTRACKS; i++)
        drm_tracks[i] = &drm_a;
}

static char *gen_with(const pk_urlopts_t *o)
{
    wr_t c = wr_counter();
    CHECK(pk_smooth_manifest(&fx.v, o, &c) == 0);
    char *buf = malloc(c.pos + 1);
    wr_t w = wr_init(buf, c.pos);
    CHECK(pk_smooth_manifest(&fx.v, o, &w) == 0);
    CHECK(w.pos == c.pos);
    buf[c.pos] = '\0';
    return buf;
}

/* MS-SSTR 2.2.2.2: <Protection> first in the root, one PlayReady <ProtectionHeader>
 * with the PRO in base64; the fragment URLs carry the encryption. */
static void test_protection(void **state)
{
    (void)state;
    one_key();
    char *text = gen_with(&piff_opts);
    xml_t x = xml_parse(text);
    xmlNodePtr first = xmlFirstElementChild(xml_node(&x, "/SmoothStreamingMedia"));
    assert_non_null(first);
    assert_string_equal((const char *)first->name, "Protection");
    assert_int_equal(xml_num(&x, "count(//Protection)"), 1);
    assert_int_equal(xml_num(&x, "count(/SmoothStreamingMedia/Protection/*)"), 1);
    assert_int_equal(xml_num(&x, "count(/SmoothStreamingMedia/Protection/ProtectionHeader)"), 1);
    assert_string_equal(xml_str(&x, "//ProtectionHeader/@SystemID"),
                        "9a04f079-9840-4286-ab92-e65be0885f95");
    assert_string_equal(xml_str(&x, "//ProtectionHeader"), PRO_B64);
    assert_int_equal(xml_num(&x, "count(//StreamIndex)"), 3);
    assert_string_equal(xml_str(&x, "//StreamIndex[1]/@Url"),
                        "QualityLevels({bitrate})/Fragments(video={start time},encryption=piff)");
    assert_int_equal(pk_smooth_one_key(&fx.v, &drm), 1);
    xml_free(&x);
    free(text);

    /* the CPIX's SmoothStreamingProtectionHeaderData wins, written as given */
    drm_a.smooth_header = "AAAA+/==";
    text = gen_with(&piff_opts);
    x = xml_parse(text);
    assert_string_equal(xml_str(&x, "//ProtectionHeader"), "AAAA+/==");
    xml_free(&x);
    free(text);

    /* without drm: no Protection */
    text = gen();
    x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//Protection)"), 0);
    xml_free(&x);
    free(text);
}

/* One ProtectionHeader per presentation: tracks the manifest lists need one key. */
static void test_protection_one_key(void **state)
{
    (void)state;
    one_key();
    drm_tracks[A_FR] = &drm_b;
    assert_int_equal(pk_smooth_one_key(&fx.v, &drm), 0);
    wr_t c = wr_counter();
    CHECK(pk_smooth_manifest(&fx.v, &piff_opts, &c) == -ENOTSUP);
    assert_non_null(strstr(logbuf, "more than one key"));

    /* a track the manifest leaves out (AC-3) may have its own */
    fx.t[A_FR].fourcc = FOURCC('a', 'c', '-', '3');
    assert_int_equal(pk_smooth_one_key(&fx.v, &drm), 1);
    char *text = gen_with(&piff_opts);
    xml_t x = xml_parse(text);
    assert_int_equal(xml_num(&x, "count(//ProtectionHeader)"), 1);
    xml_free(&x);
    free(text);

    /* a listed track without drm (the first, or another); a drm of fewer tracks than the view */
    drm_tracks[V2] = NULL;
    assert_int_equal(pk_smooth_one_key(&fx.v, &drm), 0);
    drm_tracks[V2] = &drm_a;
    drm_tracks[V1] = NULL;
    assert_int_equal(pk_smooth_one_key(&fx.v, &drm), 0);
    drm_tracks[V1] = &drm_a;
    drm.track_count = 2;
    assert_int_equal(pk_smooth_one_key(&fx.v, &drm), 0);
    drm.track_count = NTRACKS;

    /* neither header nor PRO */
    drm_a.smooth_pro = (pk_bytes_t){ NULL, 0 };
    logbuf[0] = '\0';
    c = wr_counter();
    CHECK(pk_smooth_manifest(&fx.v, &piff_opts, &c) == -EINVAL);
    assert_non_null(strstr(logbuf, "no PlayReady header"));
}

int main(void)
{
    pk_log_set_sink(capture, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_structure, setup),
        cmocka_unit_test_setup(test_chunks, setup),
        cmocka_unit_test_setup(test_escaping, setup),
        cmocka_unit_test_setup(test_unsupported_codecs, setup),
        cmocka_unit_test_setup(test_one_timeline_per_stream, setup),
        cmocka_unit_test_setup(test_short_buffer, setup),
        cmocka_unit_test_setup(test_long_parameter_sets, setup),
        cmocka_unit_test_setup(test_bad_avcc, setup),
        cmocka_unit_test_setup(test_protection, setup),
        cmocka_unit_test_setup(test_protection_one_key, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
