/* Segmentation (pack/view.c): fragments of whole GOPs up to the target, the
 * ladder alignment check, audio cut on the nearest frame, the output timeline. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "../../pack/view.c"

static char logbuf[512];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)ctx;
    snprintf(logbuf, sizeof logbuf, "%s", msg);
}

/* A video track of n frames of `delta` ticks at timescale ts, key frames at the
 * indices in keys[] (ascending, first 0), cto = `delay` on every frame. */
static pk_track_t video(arena_t *a, uint32_t n, uint32_t ts, uint32_t delta,
                        const uint32_t *keys, uint32_t nkeys, int32_t delay)
{
    pk_track_t t = { .type = PK_TRACK_VIDEO, .timescale = ts, .sample_count = n };
    pk_sample_t *s = arena_calloc(a, n, sizeof *s);
    pk_run_t *r = arena_calloc(a, 1, sizeof *r);
    uint32_t *sync = arena_calloc(a, nkeys, sizeof *sync);
    for (uint32_t i = 0; i < n; i++)
        s[i] = (pk_sample_t){ 1000 + i * 10, 10, delay };
    *r = (pk_run_t){ 0, 0, n, delta, 0 };
    memcpy(sync, keys, nkeys * sizeof *sync);
    t.samples = s;
    t.runs = r;
    t.run_count = 1;
    t.sync = sync;
    t.sync_count = nkeys;
    t.media_time = (uint64_t)delay;     /* ffmpeg's edit list for a B-frame delay */
    pk_track_finish(&t);
    return t;
}

static pk_track_t audio(arena_t *a, uint32_t n, uint32_t ts, uint32_t delta)
{
    pk_track_t t = { .type = PK_TRACK_AUDIO, .timescale = ts, .sample_count = n };
    pk_sample_t *s = arena_calloc(a, n, sizeof *s);
    pk_run_t *r = arena_calloc(a, 1, sizeof *r);
    for (uint32_t i = 0; i < n; i++)
        s[i] = (pk_sample_t){ 500000 + i * 4, 4, 0 };
    *r = (pk_run_t){ 0, 0, n, delta, 0 };
    t.samples = s;
    t.runs = r;
    t.run_count = 1;
    t.sync_count = n;
    pk_track_finish(&t);
    return t;
}

static pk_asset_t asset_of(arena_t *a, pk_track_t *tracks, uint32_t n, const uint32_t *bitrates)
{
    pk_asset_track_t *at = arena_calloc(a, n, sizeof *at);
    for (uint32_t i = 0; i < n; i++)
        at[i] = (pk_asset_track_t){ .track = &tracks[i], .bitrate = bitrates[i],
                                    .name = tracks[i].type == PK_TRACK_VIDEO ? "video" : "audio",
                                    .src = "x.mp4", .language = "und" };
    return (pk_asset_t){ n, at };
}

/* 25 fps, GOP of 1 s, 10 s, target 2 s: fragments of two GOPs. */
static void test_gops_up_to_target(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    uint32_t keys[10];
    for (uint32_t k = 0; k < 10; k++)
        keys[k] = k * 25;
    pk_track_t t[1] = { video(a, 250, 12800, 512, keys, 10, 1024) };
    uint32_t br[1] = { 1000 };
    pk_asset_t as = asset_of(a, t, 1, br);
    pk_view_t *v;
    CHECK(pk_view_build(&as, 2000, a, &v) == 0);
    CHECK(v->frag_count == 5);
    const pk_vtrack_t *vt = &v->tracks[0];
    for (uint32_t f = 0; f < 5; f++) {
        CHECK(vt->frags[f].first == f * 50 && vt->frags[f].count == 50);
        CHECK(vt->frags[f].time == f * 25600);      /* 2 s in 12800 */
        CHECK(vt->frags[f].duration == 25600 && vt->frags[f].bytes == 500);
    }
    /* the B-frame delay is folded into the timeline: key frames have pts == dts */
    CHECK(vt->cto_shift == 1024 && pk_vtrack_cto(vt, 0) == 0 && pk_vtrack_dts(vt, 0) == 0);
    CHECK(pk_view_find(v, vt, 25600) == 1 && pk_view_find(v, vt, 25601) == -ENOENT);
    CHECK(pk_view_duration(v, 1000) == 10000);
    /* 500 bytes per 2 s */
    CHECK(vt->peak_bitrate == 2000 && vt->avg_bitrate == 2000);
    arena_free(a);
}

/* A 3 s GOP with a 2 s target stays whole; uneven GOPs pack greedily. */
static void test_long_and_uneven_gops(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    static const uint32_t keys[] = { 0, 75, 100, 125, 150, 200 };   /* 3 s, 1, 1, 1, 2, 2 */
    pk_track_t t[1] = { video(a, 250, 25, 1, keys, 6, 0) };
    uint32_t br[1] = { 1 };
    pk_asset_t as = asset_of(a, t, 1, br);
    pk_view_t *v;
    CHECK(pk_view_build(&as, 2000, a, &v) == 0);
    /* [3 s] [1 s + 1 s] [1 s] (1 + 2 would pass 2 s) [2 s] [2 s] */
    CHECK(v->frag_count == 5);
    static const uint32_t want[] = { 0, 75, 125, 150, 200 };
    for (uint32_t f = 0; f < 5; f++)
        CHECK(v->tracks[0].frags[f].first == want[f]);
    arena_free(a);
}

/* A second rendition must have key frames where the reference cuts. */
static void test_misaligned_ladder_refused(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    static const uint32_t k1[] = { 0, 50, 100, 150, 200 }, k2[] = { 0, 50, 101, 150, 200 };
    pk_track_t t[2] = { video(a, 250, 12800, 512, k1, 5, 0),
                        video(a, 250, 12800, 512, k2, 5, 0) };
    uint32_t br[2] = { 2000, 1000 };
    pk_asset_t as = asset_of(a, t, 2, br);
    pk_view_t *v;
    CHECK(pk_view_build(&as, 2000, a, &v) == -EBADMSG);
    CHECK(strstr(logbuf, "misaligned ladder") && strstr(logbuf, "4.000 s"));
    /* aligned, in another timescale: accepted, cut at the same times */
    t[1] = video(a, 250, 90000, 3600, k1, 5, 0);
    CHECK(pk_view_build(&as, 2000, a, &v) == 0);
    CHECK(v->frag_count == 5 && v->tracks[1].frags[2].time == 2 * 4 * 90000 / 2);
    arena_free(a);
}

/* The reference is the highest bitrate video, not the first. */
static void test_reference_is_highest_bitrate(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    static const uint32_t k1[] = { 0, 50, 100, 150, 200 }, k2[] = { 0, 25, 50, 75, 100, 125,
                                                                      150, 175, 200, 225 };
    pk_track_t t[2] = { video(a, 250, 12800, 512, k1, 5, 0),
                        video(a, 250, 12800, 512, k2, 10, 0) };
    uint32_t br[2] = { 1000, 2000 };
    pk_asset_t as = asset_of(a, t, 2, br);
    pk_view_t *v;
    CHECK(pk_view_build(&as, 2000, a, &v) == 0);
    CHECK(v->ref == 1 && v->frag_count == 5);
    arena_free(a);
}

/* AAC frames of 1024/48000 s: each span starts at the frame nearest its start. */
static void test_audio_nearest_frame(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    static const uint32_t keys[] = { 0, 50, 100, 150, 200 };
    pk_track_t t[2] = { video(a, 250, 12800, 512, keys, 5, 0), audio(a, 470, 48000, 1024) };
    uint32_t br[2] = { 1000, 128000 };
    pk_asset_t as = asset_of(a, t, 2, br);
    pk_view_t *v;
    CHECK(pk_view_build(&as, 2000, a, &v) == 0);
    const pk_vtrack_t *au = &v->tracks[1];
    CHECK(v->frag_count == 5 && au->frags[0].first == 0);
    uint32_t total = 0;
    for (uint32_t f = 0; f < 5; f++) {
        /* 2 s = 93.75 frames: the start is within half a frame of f * 2 s */
        int64_t start = (int64_t)au->frags[f].time, want = (int64_t)f * 96000;
        CHECK(llabs(start - want) <= 512);
        total += au->frags[f].count;
    }
    CHECK(total == 470);
    CHECK(au->frags[1].first == 94);    /* 93.75 rounds to frame 94 */
    arena_free(a);
}

/* AAC priming (edit list starting at 1024) cannot make decode times negative. */
static void test_audio_priming_shifted(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_track_t t[1] = { audio(a, 100, 48000, 1024) };
    t[0].media_time = 1024;
    uint32_t br[1] = { 128000 };
    pk_asset_t as = asset_of(a, t, 1, br);
    pk_view_t *v;
    CHECK(pk_view_build(&as, 2000, a, &v) == 0);
    CHECK(pk_vtrack_dts(&v->tracks[0], 0) == 0 && v->frag_count == 2);
    CHECK(v->tracks[0].frags[1].first == 94);
    arena_free(a);
}

static void test_no_media_tracks(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_asset_t as = { 0, NULL };
    pk_view_t *v;
    CHECK(pk_view_build(&as, 2000, a, &v) == -ENOENT);
    arena_free(a);
}

int main(void)
{
    pk_log_set_sink(capture, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gops_up_to_target),
        cmocka_unit_test(test_long_and_uneven_gops),
        cmocka_unit_test(test_misaligned_ladder_refused),
        cmocka_unit_test(test_reference_is_highest_bitrate),
        cmocka_unit_test(test_audio_nearest_frame),
        cmocka_unit_test(test_audio_priming_shifted),
        cmocka_unit_test(test_no_media_tracks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
