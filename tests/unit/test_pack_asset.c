/* Assets: which track each .ism entry selects, and the names and bitrates the
 * URL grammar will use (pack/asset.c). */
#include "test.h"

#include "../../pack/asset.c"

static char logbuf[512];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)ctx;
    snprintf(logbuf, sizeof logbuf, "%s", msg);
}

/* Two files: "av.mp4" with video id 1 + AAC id 2, "a.mp4" with one AC-3 track. */
static pk_track_t av_tracks[2], a_tracks[1];
static pk_media_t av = { .track_count = 2, .tracks = av_tracks };
static pk_media_t au = { .track_count = 1, .tracks = a_tracks };

static int setup(void **state)
{
    (void)state;
    memset(av_tracks, 0, sizeof av_tracks);
    memset(a_tracks, 0, sizeof a_tracks);
    av_tracks[0] = (pk_track_t){ .id = 1, .type = PK_TRACK_VIDEO, .bitrate = 800123,
                                 .fourcc = FOURCC('a', 'v', 'c', '1') };
    strcpy(av_tracks[0].lang, "und");
    av_tracks[1] = (pk_track_t){ .id = 2, .type = PK_TRACK_AUDIO, .bitrate = 127900,
                                 .channels = 2, .object_type = 0x40,
                                 .fourcc = FOURCC('m', 'p', '4', 'a') };
    strcpy(av_tracks[1].lang, "fra");
    a_tracks[0] = (pk_track_t){ .id = 1, .type = PK_TRACK_AUDIO, .bitrate = 384000,
                                .channels = 6, .fourcc = FOURCC('a', 'c', '-', '3') };
    strcpy(a_tracks[0].lang, "eng");
    logbuf[0] = '\0';
    return 0;
}

static pk_source_t av_src = { .name = "av.mp4" }, au_src = { .name = "a.mp4" };

static int get(void *ctx, const char *src, const pk_media_t **out, const pk_source_t **source)
{
    (void)ctx;
    *source = strcmp(src, "av.mp4") == 0 ? &av_src : &au_src;
    if (strcmp(src, "av.mp4") == 0)
        *out = &av;
    else if (strcmp(src, "a.mp4") == 0)
        *out = &au;
    else
        return -ENOENT;
    return 0;
}

static pk_ism_entry_t entry(pk_track_type_t type, const char *src, uint32_t line)
{
    return (pk_ism_entry_t){ .type = type, .src = src, .line = line };
}

static int build(pk_ism_entry_t *e, uint32_t n, arena_t *a, pk_asset_t **out)
{
    pk_ism_t ism = { .entry_count = n, .entries = e };
    return pk_asset_build(&ism, "x.ism", get, NULL, a, out);
}

static void test_old_form_defaults(void **state)
{
    (void)state;
    pk_ism_entry_t e[3] = { entry(PK_TRACK_VIDEO, "av.mp4", 3), entry(PK_TRACK_AUDIO, "av.mp4", 4),
                            entry(PK_TRACK_AUDIO, "a.mp4", 5) };
    arena_t *a = arena_new();
    pk_asset_t *as;
    CHECK(build(e, 3, a, &as) == 0);
    CHECK(as->track_count == 3);
    /* no systemBitrate: the measured bitrate; no trackName: the AMS-style default */
    CHECK(strcmp(as->tracks[0].name, "video") == 0 && as->tracks[0].bitrate == 800123);
    CHECK(as->tracks[0].track == &av_tracks[0] && as->tracks[0].source == &av_src);
    CHECK(as->tracks[2].source == &au_src);
    CHECK(strcmp(as->tracks[1].name, "aac_fra_2_127900") == 0);
    CHECK(as->tracks[1].track == &av_tracks[1]);
    CHECK(strcmp(as->tracks[1].language, "fra") == 0);
    CHECK(strcmp(as->tracks[2].name, "ac3_eng_6_384000") == 0);
    arena_free(a);
}

static void test_params_win(void **state)
{
    (void)state;
    pk_ism_entry_t e[2] = { entry(PK_TRACK_AUDIO, "av.mp4", 3), entry(PK_TRACK_VIDEO, "av.mp4", 9) };
    e[0].track_id = 2;
    e[0].track_name = "aac_eng_2_128041_2_1";
    e[0].system_bitrate = 128041;
    e[0].language = "eng";
    e[1].title = "Main";
    arena_t *a = arena_new();
    pk_asset_t *as;
    CHECK(build(e, 2, a, &as) == 0);
    CHECK(strcmp(as->tracks[0].name, "aac_eng_2_128041_2_1") == 0);
    CHECK(as->tracks[0].bitrate == 128041 && strcmp(as->tracks[0].language, "eng") == 0);
    CHECK(strcmp(as->tracks[1].name, "Main") == 0);     /* title when no trackName */
    arena_free(a);
}

static void test_track_id_errors(void **state)
{
    (void)state;
    pk_ism_entry_t e = entry(PK_TRACK_VIDEO, "av.mp4", 12);
    arena_t *a = arena_new();
    pk_asset_t *as;
    e.track_id = 9;
    CHECK(build(&e, 1, a, &as) == -EBADMSG);
    CHECK(strstr(logbuf, "x.ism:12") && strstr(logbuf, "no track 9"));
    e.track_id = 2;             /* an audio track named by a <video> element */
    CHECK(build(&e, 1, a, &as) == -EBADMSG);
    CHECK(strstr(logbuf, "is audio, not video"));
    e = entry(PK_TRACK_VIDEO, "a.mp4", 4);
    CHECK(build(&e, 1, a, &as) == -EBADMSG);
    CHECK(strstr(logbuf, "has no video track"));
    e = entry(PK_TRACK_VIDEO, "missing.mp4", 4);
    CHECK(build(&e, 1, a, &as) == -ENOENT);
    arena_free(a);
}

static void test_duplicate_name_and_bitrate_refused(void **state)
{
    (void)state;
    pk_ism_entry_t e[2] = { entry(PK_TRACK_VIDEO, "av.mp4", 3), entry(PK_TRACK_VIDEO, "av.mp4", 4) };
    arena_t *a = arena_new();
    pk_asset_t *as;
    CHECK(build(e, 2, a, &as) == -EBADMSG);
    CHECK(strstr(logbuf, "x.ism:4") && strstr(logbuf, "already defined at line 3"));
    e[1].system_bitrate = 5;    /* same name, other bitrate: QualityLevels tells them apart */
    CHECK(build(e, 2, a, &as) == 0);
    arena_free(a);
}

static void test_name_that_breaks_urls_refused(void **state)
{
    (void)state;
    static const char *const bad[] = { "a,b", "a(b", "a)b", "a=b", "a/b", "a;b", "" };
    arena_t *a = arena_new();
    pk_asset_t *as;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pk_ism_entry_t e = entry(PK_TRACK_VIDEO, "av.mp4", 2);
        e.track_name = bad[i];
        e.title = bad[i];
        CHECK(build(&e, 1, a, &as) == (*bad[i] ? -EBADMSG : 0));
    }
    arena_free(a);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    pk_ism_entry_t e[3] = { entry(PK_TRACK_VIDEO, "av.mp4", 3), entry(PK_TRACK_AUDIO, "av.mp4", 4),
                            entry(PK_TRACK_AUDIO, "a.mp4", 5) };
    int rc = -ENOMEM;
    for (unsigned n = 1; rc == -ENOMEM; n++) {
        arena_t *a = arena_new();
        pk_asset_t *as;
        arena_fail_after(a, n);
        rc = build(e, 3, a, &as);
        CHECK(rc == 0 || rc == -ENOMEM);
        arena_free(a);
    }
}

int main(void)
{
    pk_log_set_sink(capture, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_old_form_defaults, setup),
        cmocka_unit_test_setup(test_params_win, setup),
        cmocka_unit_test_setup(test_track_id_errors, setup),
        cmocka_unit_test_setup(test_duplicate_name_and_bitrate_refused, setup),
        cmocka_unit_test_setup(test_name_that_breaks_urls_refused, setup),
        cmocka_unit_test_setup(test_out_of_memory, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
