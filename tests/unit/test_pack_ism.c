/* pack/ism.c: the .ism (SMIL server manifest) reader. */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../pack/ism.c"

/* ---- log capture ------------------------------------------------------------------------ */

static int log_errors;          /* PK_ERROR lines since log_reset() */
static char log_last[1100];     /* the last of them */

static void sink(int level, const char *func, const char *msg, void *ctx)
{
    (void)func;
    (void)ctx;
    if (level == PK_LOG_ERROR) {
        log_errors++;
        snprintf(log_last, sizeof log_last, "%s", msg);
    }
}

static void log_reset(void)
{
    log_errors = 0;
    log_last[0] = '\0';
}

static int setup(void **state)
{
    pk_log_set_sink(sink, NULL);
    log_reset();
    *state = arena_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    arena_free(*state);
    pk_log_set_sink(NULL, NULL);
    return 0;
}

static int parse(void **state, const char *xml, pk_ism_t **out)
{
    return pk_ism_parse(xml, strlen(xml), "movie.ism", *state, out);
}

/* Parsing xml[0..len) fails with rc, logging exactly one error that starts with
 * "movie.ism:LINE: " and contains `what`. */
static void expect_fail_len(void **state, const char *xml, size_t len, int rc, unsigned line,
                            const char *what)
{
    pk_ism_t *ism = NULL;
    char prefix[64];

    log_reset();
    assert_int_equal(pk_ism_parse(xml, len, "movie.ism", *state, &ism), rc);
    assert_null(ism);
    assert_int_equal(log_errors, 1);
    snprintf(prefix, sizeof prefix, "movie.ism:%u: ", line);
    if (strncmp(log_last, prefix, strlen(prefix)) != 0 || !strstr(log_last, what))
        fail_msg("log line \"%s\": want prefix \"%s\" and \"%s\"", log_last, prefix, what);
}

static void expect_fail(void **state, const char *xml, int rc, unsigned line, const char *what)
{
    expect_fail_len(state, xml, strlen(xml), rc, line, what);
}

static void expect_param(const pk_ism_param_t *p, const char *name, const char *value)
{
    assert_string_equal(p->name, name);
    assert_string_equal(p->value, value);
}

/* The fields of an entry, as the manifest's text spells them (language NULL: none). */
typedef struct {
    pk_track_type_t type;
    const char *src;
    uint32_t system_bitrate;
    const char *language;
    uint32_t track_id;
    const char *track_name;
    uint32_t line, param_count;
} want_entry_t;

static void expect_entry(const pk_ism_entry_t *e, want_entry_t w)
{
    assert_int_equal(e->type, w.type);
    assert_string_equal(e->src, w.src);
    assert_int_equal(e->system_bitrate, w.system_bitrate);
    if (w.language)
        assert_string_equal(e->language, w.language);
    else
        assert_null(e->language);
    assert_int_equal(e->track_id, w.track_id);
    assert_string_equal(e->track_name, w.track_name);
    assert_int_equal(e->line, w.line);
    assert_int_equal(e->param_count, w.param_count);
}

/* ---- real manifests ---------------------------------------------------------------------- */

/* ams-facts §4.2: AMS v3 Standard Encoder, attributes and params */
static const char ams_v3[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<smil xmlns=\"http://www.w3.org/2001/SMIL20/Language\">\n"
    "  <head>\n"
    "    <meta name=\"clientManifestRelativePath\" content=\"ignite.ismc\" />\n"
    "    <meta name=\"formats\" content=\"mp4-v3\" />\n"
    "  </head>\n"
    "  <body>\n"
    "    <switch>\n"
    "      <audio src=\"ignite_320x180_AACAudio_381.mp4\" systemBitrate=\"128041\""
    " systemLanguage=\"eng\">\n"                                                  /* 9 */
    "        <param name=\"systemBitrate\" value=\"128041\" valuetype=\"data\" />\n"
    "        <param name=\"trackID\" value=\"2\" valuetype=\"data\" />\n"
    "        <param name=\"trackName\" value=\"aac_eng_2_128041_2_1\" valuetype=\"data\" />\n"
    "        <param name=\"systemLanguage\" value=\"eng\" valuetype=\"data\" />\n"
    "        <param name=\"trackIndex\" value=\"ignite_320x180_AACAudio_381_2.mpi\""
    " valuetype=\"data\" />\n"
    "      </audio>\n"
    "      <video src=\"ignite_1280x720_AACAudio_3549.mp4\" systemBitrate=\"3549855\">\n" /* 16 */
    "        <param name=\"trackID\" value=\"1\" valuetype=\"data\" />\n"
    "        <param name=\"trackName\" value=\"video\" valuetype=\"data\" />\n"
    "        <param name=\"trackIndex\" value=\"ignite_1280x720_AACAudio_3549_1.mpi\""
    " valuetype=\"data\" />\n"
    "      </video>\n"
    "      <!-- 960x540_AACAudio_2216, 640x360_AACAudio_1154 -->\n"
    "    </switch>\n"
    "  </body>\n"
    "</smil>\n";

static void test_ams_v3(void **state)
{
    pk_ism_t *ism = NULL;
    const pk_ism_entry_t *e;

    assert_int_equal(parse(state, ams_v3, &ism), 0);
    assert_int_equal(log_errors, 0);
    assert_int_equal(ism->meta_count, 2);
    expect_param(&ism->meta[0], "clientManifestRelativePath", "ignite.ismc");
    expect_param(&ism->meta[1], "formats", "mp4-v3");
    assert_int_equal(ism->entry_count, 2);

    e = &ism->entries[0];
    expect_entry(e, (want_entry_t){ PK_TRACK_AUDIO, "ignite_320x180_AACAudio_381.mp4", 128041,
                                    "eng", 2, "aac_eng_2_128041_2_1", 9, 5 });
    assert_null(e->title);
    expect_param(&e->params[0], "systemBitrate", "128041");
    expect_param(&e->params[1], "trackID", "2");
    expect_param(&e->params[2], "trackName", "aac_eng_2_128041_2_1");
    expect_param(&e->params[3], "systemLanguage", "eng");
    expect_param(&e->params[4], "trackIndex", "ignite_320x180_AACAudio_381_2.mpi");
    assert_string_equal(pk_ism_param(e, "trackindex"), "ignite_320x180_AACAudio_381_2.mpi");

    e = &ism->entries[1];
    expect_entry(e, (want_entry_t){ PK_TRACK_VIDEO, "ignite_1280x720_AACAudio_3549.mp4",
                                    3549855, NULL, 1, "video", 16, 3 });
    assert_null(e->title);
    expect_param(&e->params[0], "trackID", "1");
    expect_param(&e->params[1], "trackName", "video");
    expect_param(&e->params[2], "trackIndex", "ignite_1280x720_AACAudio_3549_1.mpi");
    assert_null(pk_ism_param(e, "systemBitrate"));
}

/* ams-facts §4.2: Azure Media Encoder, bare elements; the caller probes for bitrates */
static const char ame[] =
    "<smil xmlns=\"http://www.w3.org/2001/SMIL20/Language\">\n"
    "  <head><meta name=\"formats\" content=\"mp4\" /></head>\n"
    "  <body><switch>\n"
    "    <video src=\"4582_H264_6000kbps_AAC_und_ch2_128kbps.mp4\" />\n"
    "    <video src=\"4582_H264_400kbps_AAC_und_ch2_128kbps.mp4\" />\n"
    "    <audio src=\"4582_AAC_und_ch2_128kbps.mp4\" title=\"AAC_und_ch2_128kbps\" />\n"
    "    <audio src=\"4582_AAC_und_ch2_56kbps.mp4\"  title=\"AAC_und_ch2_56kbps\" />\n"
    "  </switch></body>\n"
    "</smil>\n";

static void test_ame(void **state)
{
    static const struct {
        pk_track_type_t type;
        const char *src, *title;
    } want[] = {
        { PK_TRACK_VIDEO, "4582_H264_6000kbps_AAC_und_ch2_128kbps.mp4", NULL },
        { PK_TRACK_VIDEO, "4582_H264_400kbps_AAC_und_ch2_128kbps.mp4", NULL },
        { PK_TRACK_AUDIO, "4582_AAC_und_ch2_128kbps.mp4", "AAC_und_ch2_128kbps" },
        { PK_TRACK_AUDIO, "4582_AAC_und_ch2_56kbps.mp4", "AAC_und_ch2_56kbps" },
    };
    pk_ism_t *ism = NULL;

    assert_int_equal(parse(state, ame, &ism), 0);
    assert_int_equal(ism->meta_count, 1);
    expect_param(&ism->meta[0], "formats", "mp4");
    assert_int_equal(ism->entry_count, 4);
    for (uint32_t i = 0; i < 4; i++) {
        const pk_ism_entry_t *e = &ism->entries[i];
        assert_int_equal(e->type, want[i].type);
        assert_string_equal(e->src, want[i].src);
        if (want[i].title)
            assert_string_equal(e->title, want[i].title);
        else
            assert_null(e->title);
        assert_int_equal(e->system_bitrate, 0);
        assert_null(e->language);
        assert_int_equal(e->track_id, 0);
        assert_null(e->track_name);
        assert_int_equal(e->line, 4 + i);
        assert_int_equal(e->param_count, 0);
        assert_null(e->params);
        assert_null(pk_ism_param(e, "trackID"));
    }
}

/* ams-facts §4.4: a USP live .ism, a param for every QualityLevel attribute */
static const char usp[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<!-- Created with Unified Streaming Platform (version=1.4.57) -->\n"
    "<smil xmlns=\"http://www.w3.org/2001/SMIL20/Language\">\n"
    "  <head>\n"
    "    <meta name=\"clientManifestRelativePath\" content=\"live.ismc\" />\n"
    "    <meta name=\"creator\" content=\"Unified Streaming Platform (USP)\" />\n"
    "    <meta name=\"lookahead_fragments\" content=\"2\" />\n"
    "    <meta name=\"dvr_window_length\" content=\"30\" />\n"
    "    <meta name=\"archive_segment_length\" content=\"0\" />\n"
    "    <meta name=\"archiving\" content=\"false\" />\n"
    "  </head>\n"
    "  <body>\n"
    "    <switch>\n"
    "      <audio src=\"165258_64000_1.isma\" systemBitrate=\"64000\" systemLanguage=\"eng\">\n"
    "        <param name=\"trackID\" value=\"1\" valuetype=\"data\" />\n"
    "        <param name=\"trackName\" value=\"audio_eng\" valuetype=\"data\" />\n"
    "        <param name=\"timescale\" value=\"10000000\" valuetype=\"data\" />\n"
    "        <param name=\"FourCC\" value=\"AACH\" valuetype=\"data\" />\n"
    "        <param name=\"CodecPrivateData\" value=\"131056E598\" valuetype=\"data\" />\n"
    "        <param name=\"AudioTag\" value=\"255\" valuetype=\"data\" />\n"
    "        <param name=\"Channels\" value=\"2\" valuetype=\"data\" />\n"
    "        <param name=\"SamplingRate\" value=\"24000\" valuetype=\"data\" />\n"
    "        <param name=\"BitsPerSample\" value=\"16\" valuetype=\"data\" />\n"
    "        <param name=\"PacketSize\" value=\"4\" valuetype=\"data\" />\n"
    "        <param name=\"Subtype\" value=\"\" valuetype=\"data\" />\n"
    "      </audio>\n"
    "      <video src=\"165258_1000000_2.ismv\" systemBitrate=\"1000000\">\n"       /* 27 */
    "        <param name=\"trackID\" value=\"2\" valuetype=\"data\" />\n"
    "        <param name=\"trackName\" value=\"video\" valuetype=\"data\" />\n"
    "        <param name=\"timescale\" value=\"10000000\" valuetype=\"data\" />\n"
    "        <param name=\"FourCC\" value=\"AVC1\" valuetype=\"data\" />\n"
    "        <param name=\"CodecPrivateData\" value=\"000000016764001FAC2CA5014016EC04"
    "400000FA40003A9803C60C6580000000168E9093525\" valuetype=\"data\" />\n"
    "        <param name=\"MaxWidth\" value=\"1280\" valuetype=\"data\" />\n"
    "        <param name=\"MaxHeight\" value=\"720\" valuetype=\"data\" />\n"
    "      </video>\n"
    "      <textstream src=\"165258_1000_3.ismt\" systemBitrate=\"1000\""
    " systemLanguage=\"nld\">\n"                                                  /* 36 */
    "        <param name=\"trackID\" value=\"3\" valuetype=\"data\" />\n"
    "        <param name=\"trackName\" value=\"textstream_nld\" valuetype=\"data\" />\n"
    "        <param name=\"FourCC\" value=\"TTML\" valuetype=\"data\" />\n"
    "      </textstream>\n"
    "    </switch>\n"
    "  </body>\n"
    "</smil>\n";

static void test_usp(void **state)
{
    static const char *const audio[][2] = {
        { "trackID", "1" }, { "trackName", "audio_eng" }, { "timescale", "10000000" },
        { "FourCC", "AACH" }, { "CodecPrivateData", "131056E598" }, { "AudioTag", "255" },
        { "Channels", "2" }, { "SamplingRate", "24000" }, { "BitsPerSample", "16" },
        { "PacketSize", "4" }, { "Subtype", "" },
    };
    pk_ism_t *ism = NULL;
    const pk_ism_entry_t *e;

    assert_int_equal(parse(state, usp, &ism), 0);
    assert_int_equal(ism->meta_count, 6);
    expect_param(&ism->meta[1], "creator", "Unified Streaming Platform (USP)");
    expect_param(&ism->meta[5], "archiving", "false");
    assert_int_equal(ism->entry_count, 3);

    e = &ism->entries[0];
    expect_entry(e, (want_entry_t){ PK_TRACK_AUDIO, "165258_64000_1.isma", 64000, "eng",
                                    1, "audio_eng", 14, 11 });
    for (uint32_t i = 0; i < 11; i++)
        expect_param(&e->params[i], audio[i][0], audio[i][1]);
    assert_string_equal(pk_ism_param(e, "fourcc"), "AACH");
    assert_string_equal(pk_ism_param(e, "SAMPLINGRATE"), "24000");
    assert_string_equal(pk_ism_param(e, "Subtype"), "");
    assert_null(pk_ism_param(e, "MaxWidth"));

    e = &ism->entries[1];
    expect_entry(e, (want_entry_t){ PK_TRACK_VIDEO, "165258_1000000_2.ismv", 1000000, NULL,
                                    2, "video", 27, 7 });
    assert_string_equal(pk_ism_param(e, "CodecPrivateData"),
                        "000000016764001FAC2CA5014016EC04"
                        "400000FA40003A9803C60C6580000000168E9093525");
    assert_string_equal(pk_ism_param(e, "maxheight"), "720");

    e = &ism->entries[2];
    expect_entry(e, (want_entry_t){ PK_TRACK_TEXT, "165258_1000_3.ismt", 1000, "nld",
                                    3, "textstream_nld", 36, 3 });
    expect_param(&e->params[2], "FourCC", "TTML");
}

/* ---- variants that are accepted ----------------------------------------------------------- */

static void test_no_namespace(void **state)
{
    static const char xml[] =
        "<smil>\n<body>\n<switch>\n"
        "<video src=\"v.mp4\" systemBitrate=\"1000\" />\n"
        "<audio src=\"a.mp4\" systemBitrate=\"64000\" systemLanguage=\"fra\" />\n"
        "</switch>\n</body>\n</smil>";
    pk_ism_t *ism = NULL;

    assert_int_equal(parse(state, xml, &ism), 0);
    assert_int_equal(ism->meta_count, 0);
    assert_null(ism->meta);
    assert_int_equal(ism->entry_count, 2);
    assert_string_equal(ism->entries[0].src, "v.mp4");
    assert_int_equal(ism->entries[0].system_bitrate, 1000);
    assert_int_equal(ism->entries[1].line, 5);
    assert_string_equal(ism->entries[1].language, "fra");
}

/* Elements are matched by local name, whatever their prefix. */
static void test_prefixed_namespace(void **state)
{
    static const char xml[] =
        "<s:smil xmlns:s=\"http://www.w3.org/2001/SMIL20/Language\">\n"
        "<s:head><s:meta name=\"formats\" content=\"fmp4\"/></s:head>\n"
        "<s:body><s:switch>\n"
        "<s:video src=\"v.mp4\"><s:param name=\"trackID\" value=\"7\"/></s:video>\n"
        "</s:switch></s:body></s:smil>";
    pk_ism_t *ism = NULL;

    assert_int_equal(parse(state, xml, &ism), 0);
    assert_int_equal(ism->meta_count, 1);
    assert_int_equal(ism->entry_count, 1);
    assert_int_equal(ism->entries[0].track_id, 7);
    assert_int_equal(ism->entries[0].line, 4);
}

static void test_bom(void **state)
{
    static const char xml[] =
        "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        "<smil xmlns=\"http://www.w3.org/2001/SMIL20/Language\">\n<body>\n<switch>\n"
        "<video src=\"caf\xC3\xA9.mp4\" />\n"
        "</switch>\n</body>\n</smil>";
    pk_ism_t *ism = NULL;

    assert_int_equal(parse(state, xml, &ism), 0);
    assert_int_equal(ism->entry_count, 1);
    assert_string_equal(ism->entries[0].src, "caf\xC3\xA9.mp4");
    assert_int_equal(ism->entries[0].line, 5);
}

/* The text is UTF-8 whatever it declares. */
static void test_declared_latin1_read_as_utf8(void **state)
{
    static const char xml[] =
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"
        "<smil><body><switch><video src=\"caf\xC3\xA9.mp4\" /></switch></body></smil>";
    pk_ism_t *ism = NULL;

    assert_int_equal(parse(state, xml, &ism), 0);
    assert_string_equal(ism->entries[0].src, "caf\xC3\xA9.mp4");
}

/* Properties as params only, known names matched case-insensitively; attributes win. */
static void test_params_only(void **state)
{
    static const char xml[] =
        "<smil>\n<body>\n<switch>\n"
        "<audio src=\"a.mp4\">\n"
        "  <param name=\"SystemBitrate\" value=\"96000\" />\n"
        "  <param name=\"systemlanguage\" value=\"deu\" />\n"
        "  <param name=\"TRACKID\" value=\"3\" />\n"
        "  <param name=\"trackname\" value=\"aac_deu\" />\n"
        "  <param name=\"trackID\" value=\"9\" />\n"
        "</audio>\n"
        "<video src=\"v.mp4\" systemBitrate=\"500\" systemLanguage=\"und\">\n"
        "  <param name=\"systemBitrate\" value=\"600\" />\n"
        "  <param name=\"systemLanguage\" value=\"eng\" />\n"
        "</video>\n"
        "</switch>\n</body>\n</smil>";
    pk_ism_t *ism = NULL;
    const pk_ism_entry_t *e;

    assert_int_equal(parse(state, xml, &ism), 0);
    e = &ism->entries[0];
    assert_int_equal(e->system_bitrate, 96000);
    assert_string_equal(e->language, "deu");
    assert_int_equal(e->track_id, 3);           /* the first of two */
    assert_string_equal(e->track_name, "aac_deu");
    assert_int_equal(e->param_count, 5);
    assert_string_equal(pk_ism_param(e, "trackid"), "3");
    e = &ism->entries[1];
    assert_int_equal(e->system_bitrate, 500);
    assert_string_equal(e->language, "und");
    assert_string_equal(pk_ism_param(e, "systemBitrate"), "600");
}

/* <ref>, unknown elements, comments and nameless params are skipped; every <switch> counts. */
static void test_skipped(void **state)
{
    static const char xml[] =
        "<smil>\n<head><meta content=\"x\"/><meta name=\"n\"/></head>\n<body>\n<switch>\n"
        "<ref src=\"r.mp4\" />\n"
        "<img src=\"/abs.png\" />\n"
        "<!-- <video/> -->\n"
        "<video src=\"v.mp4\"><param value=\"1\"/><param name=\"k\"/>text</video>\n"
        "</switch>\n"
        "<switch><audio src=\"a.mp4\"/></switch>\n"
        "</body>\n</smil>";
    pk_ism_t *ism = NULL;

    assert_int_equal(parse(state, xml, &ism), 0);
    assert_int_equal(log_errors, 0);
    assert_int_equal(ism->meta_count, 1);
    expect_param(&ism->meta[0], "n", "");
    assert_int_equal(ism->entry_count, 2);
    assert_int_equal(ism->entries[0].line, 8);
    assert_int_equal(ism->entries[0].param_count, 1);
    expect_param(&ism->entries[0].params[0], "k", "");
    assert_int_equal(ism->entries[1].type, PK_TRACK_AUDIO);
    assert_int_equal(ism->entries[1].line, 10);
}

static void test_src_forms_accepted(void **state)
{
    static const char *const ok[] = {
        "a/b.mp4", "./v.mp4", "...mp4", "a..b/c..", "..a/b", "live/seg", "a//b.mp4",
    };
    char xml[256];

    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        pk_ism_t *ism = NULL;
        snprintf(xml, sizeof xml, "<smil><body><switch><video src=\"%s\"/></switch></body></smil>",
                 ok[i]);
        assert_int_equal(parse(state, xml, &ism), 0);
        assert_string_equal(ism->entries[0].src, ok[i]);
    }
}

static void test_max_u32(void **state)
{
    static const char xml[] =
        "<smil><body><switch><video src=\"v.mp4\" systemBitrate=\"004294967295\">"
        "<param name=\"trackID\" value=\"4294967295\"/></video></switch></body></smil>";
    pk_ism_t *ism = NULL;

    assert_int_equal(parse(state, xml, &ism), 0);
    assert_int_equal(ism->entries[0].system_bitrate, UINT32_MAX);
    assert_int_equal(ism->entries[0].track_id, UINT32_MAX);
}

/* A DOCTYPE is harmless as long as no attribute we read uses its entities. */
static void test_doctype_ok(void **state)
{
    static const char xml[] =
        "<!DOCTYPE smil PUBLIC \"-//W3C//DTD SMIL 2.0//EN\" "
        "\"http://www.w3.org/2001/SMIL20/SMIL20.dtd\" [\n"
        "<!ENTITY ext SYSTEM \"/etc/passwd\">\n<!ENTITY e \"x\">\n]>\n"
        "<smil><body><switch><video src=\"a&amp;b&#x41;.mp4\">&ext;&e;</video>"
        "</switch></body></smil>";
    pk_ism_t *ism = NULL;

    assert_int_equal(parse(state, xml, &ism), 0);
    assert_string_equal(ism->entries[0].src, "a&bA.mp4");
}

/* ---- errors: -EBADMSG, one log line naming the file and line ------------------------------ */

#define HEAD "<smil xmlns=\"http://www.w3.org/2001/SMIL20/Language\">\n<body>\n<switch>\n"
#define TAIL "</switch>\n</body>\n</smil>\n"

static void test_not_well_formed(void **state)
{
    expect_fail(state, HEAD "<video src=\"a.mp4\">\n</audio>\n" TAIL, -EBADMSG, 5,
                "not well-formed XML: Opening and ending tag mismatch: video line 4 and audio");
}

static void test_not_xml(void **state)
{
    expect_fail(state, "#EXTM3U\n", -EBADMSG, 1, "not well-formed XML");
    expect_fail(state, "", -EBADMSG, 1, "not well-formed XML");
    expect_fail_len(state, NULL, 0, -EBADMSG, 1, "not well-formed XML");
}

/* libxml2 must report through us only, never print to stderr itself. */
static void test_no_stderr(void **state)
{
    char path[] = "/tmp/test_pack_ism_XXXXXX";
    int fd = mkstemp(path), saved = dup(2);

    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    pk_log_set_sink(sink, NULL);
    expect_fail(state, HEAD "<video src='a.mp4'>\n<<\n" TAIL, -EBADMSG, 5, "not well-formed");
    expect_fail(state, HEAD "<video src=\"&undefined;\"/>\n" TAIL, -EBADMSG, 4,
                "not well-formed");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(lseek(fd, 0, SEEK_END), 0);
    close(fd);
    unlink(path);
}

static void test_invalid_utf8(void **state)
{
    expect_fail(state, HEAD "<video src=\"caf\xE9.mp4\"/>\n" TAIL, -EBADMSG, 4,
                "not proper UTF-8");
}

static void test_root_not_smil(void **state)
{
    expect_fail(state, "<?xml version=\"1.0\"?>\n<html>\n<body><switch/></body>\n</html>\n",
                -EBADMSG, 2, "root element is <html>, not <smil>");
}

static void test_no_body(void **state)
{
    expect_fail(state, "<smil>\n<head/>\n</smil>", -EBADMSG, 1, "no <body><switch>");
}

static void test_no_switch(void **state)
{
    expect_fail(state, "<smil>\n<head/>\n<body>\n<video src=\"a.mp4\"/>\n</body>\n</smil>",
                -EBADMSG, 3, "no <body><switch>");
}

static void test_no_src(void **state)
{
    expect_fail(state, HEAD "<audio src=\"a.mp4\"/>\n<video systemBitrate=\"1\"/>\n" TAIL,
                -EBADMSG, 5, "<video> has no src");
    expect_fail(state, HEAD "<textstream />\n" TAIL, -EBADMSG, 4, "<textstream> has no src");
}

static void test_empty_src(void **state)
{
    expect_fail(state, HEAD "<video src=\"\"/>\n" TAIL, -EBADMSG, 4, "src \"\" is empty");
}

static void test_absolute_src(void **state)
{
    expect_fail(state, HEAD "<video src=\"/x.mp4\"/>\n" TAIL, -EBADMSG, 4,
                "src \"/x.mp4\" is absolute");
}

static void test_dotdot_src(void **state)
{
    static const char *const bad[] = { "..", "../x.mp4", "a/../../b.mp4", "a/..", "a/../b" };
    char xml[256];

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(xml, sizeof xml, HEAD "\n<audio src=\"%s\"/>\n" TAIL, bad[i]);
        expect_fail(state, xml, -EBADMSG, 5, "has a \"..\" component");
    }
}

static void test_backslash_src(void **state)
{
    expect_fail(state, HEAD "<video src=\"a\\b.mp4\"/>\n" TAIL, -EBADMSG, 4,
                "contains a backslash");
}

static void test_nul_src(void **state)
{
    static const char xml[] = HEAD "<video src=\"a\0b.mp4\"/>\n" TAIL;

    expect_fail_len(state, xml, sizeof xml - 1, -EBADMSG, 4, "not well-formed XML");
    expect_fail(state, HEAD "<video src=\"a&#0;b.mp4\"/>\n" TAIL, -EBADMSG, 4,
                "not well-formed XML");
}

static void test_bad_bitrate_attr(void **state)
{
    static const char *const bad[] = {
        "12a", "-5", "99999999999", "4294967296", "0", "", " 5", "5 ", "+5", "0x10", "1e3",
    };
    char xml[256];

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(xml, sizeof xml, HEAD "<video src=\"v.mp4\" systemBitrate=\"%s\"/>\n" TAIL,
                 bad[i]);
        expect_fail(state, xml, -EBADMSG, 4,
                    "<video> systemBitrate \"");
        assert_non_null(strstr(log_last, "is not a positive 32-bit decimal number"));
    }
}

static void test_bad_bitrate_param(void **state)
{
    expect_fail(state, HEAD "<audio src=\"a.mp4\">\n<param name=\"systemBitrate\" value=\"-5\"/>\n"
                "</audio>\n" TAIL, -EBADMSG, 5, "<audio> systemBitrate \"-5\" is not");
}

static void test_bad_track_id(void **state)
{
    static const char *const bad[] = { "12a", "-5", "99999999999", "0", "" };
    char xml[256];

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(xml, sizeof xml, HEAD "<video src=\"v.mp4\">\n<param name=\"x\" value=\"1\"/>\n"
                 "<param name=\"trackID\" value=\"%s\"/>\n</video>\n" TAIL, bad[i]);
        expect_fail(state, xml, -EBADMSG, 6, "<video> trackID \"");
    }
}

/* A DTD entity is never expanded into a value we read. */
static void test_entity_in_attr(void **state)
{
    expect_fail(state, "<!DOCTYPE smil [<!ENTITY e \"x.mp4\">]>\n" HEAD
                "<video src=\"a.mp4\">\n<param name=\"trackName\" value=\"&e;\"/>\n</video>\n"
                TAIL, -EBADMSG, 6, "<param> value uses entity &e;");
    expect_fail(state, "<!DOCTYPE smil [<!ENTITY ext SYSTEM \"/etc/passwd\">]>\n" HEAD
                "<video src=\"&ext;\"/>\n" TAIL, -EBADMSG, 5, "not well-formed XML");
}

static void test_empty_switch(void **state)
{
    expect_fail(state, HEAD TAIL, -ENOENT, 3, "has no <video>, <audio> or <textstream>");
    expect_fail(state, "<smil><body>\n<switch><ref src=\"r.mp4\"/><!-- none --></switch>"
                "</body></smil>", -ENOENT, 2, "has no <video>");
}

/* ---- size, lines and hostile input --------------------------------------------------------- */

static void test_big(void **state)
{
    enum { N = 5000 };
    size_t cap = 2 << 20, len = 0;
    char *xml = malloc(cap);
    pk_ism_t *ism = NULL;

    assert_non_null(xml);
    len += (size_t)snprintf(xml + len, cap - len, "%s", HEAD);
    for (unsigned i = 0; i < N; i++)
        len += (size_t)snprintf(xml + len, cap - len,
            "<video src=\"video_%05u_1280x720_AACAudio_3549.mp4\" systemBitrate=\"%u\">\n"
            "  <param name=\"trackID\" value=\"1\" valuetype=\"data\" />\n"
            "  <param name=\"trackName\" value=\"video_%u\" valuetype=\"data\" />\n"
            "  <param name=\"trackIndex\" value=\"video_%05u_1280x720_AACAudio_3549_1.mpi\""
            " valuetype=\"data\" />\n"
            "</video>\n", i, 1000 + i, i, i);
    len += (size_t)snprintf(xml + len, cap - len, "%s", TAIL);
    assert_true(len >= 1 << 20 && len < cap);

    assert_int_equal(pk_ism_parse(xml, len, "big.ism", *state, &ism), 0);
    assert_int_equal(ism->entry_count, N);
    for (unsigned i = 0; i < N; i += 999) {
        const pk_ism_entry_t *e = &ism->entries[i];
        char want[64];
        snprintf(want, sizeof want, "video_%05u_1280x720_AACAudio_3549.mp4", i);
        assert_string_equal(e->src, want);
        assert_int_equal(e->system_bitrate, 1000 + i);
        assert_int_equal(e->line, 4 + 5 * i);
        assert_int_equal(e->param_count, 3);
    }
    free(xml);
}

/* libxml2 stores lines in 16 bits; ours go past 65535. */
static void test_line_past_65535(void **state)
{
    enum { PAD = 70000 };
    size_t len = strlen(HEAD) + PAD + 200;
    char *xml = malloc(len), *p = xml;
    pk_ism_t *ism = NULL;

    assert_non_null(xml);
    p += sprintf(p, "%s<audio src=\"a.mp4\"/>", HEAD);
    memset(p, '\n', PAD);
    p += PAD;
    p += sprintf(p, "<video src=\"v.mp4\"/>\n%s", TAIL);
    assert_int_equal(pk_ism_parse(xml, (size_t)(p - xml), "movie.ism", *state, &ism), 0);
    assert_int_equal(ism->entries[0].line, 4);
    assert_int_equal(ism->entries[1].line, 4 + PAD);

    p = xml + sprintf(xml, "%s", HEAD);
    memset(p, '\n', PAD);
    p += PAD;
    p += sprintf(p, "<video />\n%s", TAIL);
    expect_fail_len(state, xml, (size_t)(p - xml), -EBADMSG, 4 + PAD, "<video> has no src");
    free(xml);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Billion laughs: 10^9 "lol"s if expanded. It must fail or stay small, and be quick. */
static void test_entity_bomb(void **state)
{
    char xml[4096], *p = xml;
    pk_ism_t *ism = NULL;
    double t0 = now();
    int rc;

    p += sprintf(p, "<?xml version=\"1.0\"?>\n<!DOCTYPE smil [\n<!ENTITY l0 \"lol\">\n");
    for (int i = 1; i <= 9; i++) {
        p += sprintf(p, "<!ENTITY l%d \"", i);
        for (int j = 0; j < 10; j++)
            p += sprintf(p, "&l%d;", i - 1);
        p += sprintf(p, "\">\n");
    }
    p += sprintf(p, "]>\n" HEAD "<video src=\"v.mp4\" title=\"&l9;\">&l9;</video>\n" TAIL);

    log_reset();
    rc = pk_ism_parse(xml, (size_t)(p - xml), "bomb.ism", *state, &ism);
    assert_true(rc == -EBADMSG || rc == 0);
    assert_true(arena_used(*state) < (1 << 20));
    assert_true(now() - t0 < 5.0);
    if (rc < 0)
        assert_int_equal(log_errors, 1);
}

/* Quadratic blowup: one large entity referenced many times, no nesting. */
static void test_entity_quadratic(void **state)
{
    enum { ENT = 20000, REFS = 20000 };
    size_t cap = ENT + 4 * REFS + 1024;
    char *xml = malloc(cap), *p = xml;
    pk_ism_t *ism = NULL;
    double t0 = now();
    int rc;

    assert_non_null(xml);
    p += sprintf(p, "<!DOCTYPE smil [<!ENTITY a \"");
    memset(p, 'a', ENT);
    p += ENT;
    p += sprintf(p, "\">]>\n" HEAD "<video src=\"v.mp4\">");
    for (int i = 0; i < REFS; i++)
        p += sprintf(p, "&a;");
    p += sprintf(p, "</video>\n" TAIL);
    assert_true((size_t)(p - xml) < cap);

    rc = pk_ism_parse(xml, (size_t)(p - xml), "quad.ism", *state, &ism);
    assert_true(rc == -EBADMSG || rc == 0);
    assert_true(arena_used(*state) < (1 << 20));
    assert_true(now() - t0 < 5.0);
    free(xml);
}

/* Every arena allocation failure is -ENOMEM, silently, and leaks nothing (ASan). */
static void oom_loop(const char *xml)
{
    unsigned n;

    for (n = 1;; n++) {
        arena_t *a = arena_new();
        pk_ism_t *ism = NULL;
        int rc;

        assert_non_null(a);
        arena_fail_after(a, n);
        log_reset();
        rc = pk_ism_parse(xml, strlen(xml), "movie.ism", a, &ism);
        arena_free(a);
        if (rc == 0)
            break;
        assert_int_equal(rc, -ENOMEM);
        assert_null(ism);
        assert_int_equal(log_errors, 0);
        assert_true(n < 10000);
    }
    assert_true(n > 1);
}

static void test_oom(void **state)
{
    (void)state;
    oom_loop(ams_v3);
    oom_loop(ame);
    oom_loop(usp);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ams_v3),
        T(test_ame),
        T(test_usp),
        T(test_no_namespace),
        T(test_prefixed_namespace),
        T(test_bom),
        T(test_declared_latin1_read_as_utf8),
        T(test_params_only),
        T(test_skipped),
        T(test_src_forms_accepted),
        T(test_max_u32),
        T(test_doctype_ok),
        T(test_not_well_formed),
        T(test_not_xml),
        T(test_no_stderr),
        T(test_invalid_utf8),
        T(test_root_not_smil),
        T(test_no_body),
        T(test_no_switch),
        T(test_no_src),
        T(test_empty_src),
        T(test_absolute_src),
        T(test_dotdot_src),
        T(test_backslash_src),
        T(test_nul_src),
        T(test_bad_bitrate_attr),
        T(test_bad_bitrate_param),
        T(test_bad_track_id),
        T(test_entity_in_attr),
        T(test_empty_switch),
        T(test_big),
        T(test_line_past_65535),
        T(test_entity_bomb),
        T(test_entity_quadratic),
        T(test_oom),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
