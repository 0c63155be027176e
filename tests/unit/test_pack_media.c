/* The media model: sample lookups and the index blob (pack/media.c). */
#include "test.h"

#include <stdlib.h>

#include "../../pack/media.c"

static const pk_sample_t samples[6] = {
    { 100, 10, 0 }, { 110, 20, 2 }, { 130, 30, -1 }, { 160, 5, 0 }, { 165, 6, 0 }, { 171, 7, 0 },
};
/* a gap in decode time between the runs, as a fragmented file with a tfdt jump has */
static const pk_run_t runs[2] = { { 0, 0, 3, 10, 0 }, { 1000, 3, 3, 20, 0 } };
static const uint32_t syncs[2] = { 0, 3 };
static const uint8_t entry[16] = { 0, 0, 0, 16, 'a', 'v', 'c', '1', 1, 2, 3, 4, 5, 6, 7, 8 };

static pk_media_t make_media(pk_track_t *t)
{
    memset(t, 0, sizeof *t);
    t->id = 7;
    t->type = PK_TRACK_VIDEO;
    t->timescale = 1000;
    strcpy(t->codec, "avc1.64001e");
    strcpy(t->lang, "eng");
    t->media_time = 5;
    t->empty_edit = 2;
    t->sample_count = 6;
    t->samples = samples;
    t->run_count = 2;
    t->runs = runs;
    t->sync_count = 2;
    t->sync = syncs;
    t->entry = entry;
    t->entry_size = sizeof entry;
    t->dsi_off = 8;
    t->dsi_size = 8;
    pk_track_finish(t);
    return (pk_media_t){ .track_count = 1, .tracks = t, .movie_timescale = 600 };
}

static void test_lookups(void **state)
{
    (void)state;
    pk_track_t t;
    make_media(&t);
    CHECK(pk_track_dts(&t, 0) == 0);
    CHECK(pk_track_dts(&t, 2) == 20);
    CHECK(pk_track_dts(&t, 3) == 1000);
    CHECK(pk_track_dts(&t, 5) == 1040);
    CHECK(pk_track_sample_duration(&t, 2) == 10);
    CHECK(pk_track_sample_duration(&t, 4) == 20);
    CHECK(pk_track_is_sync(&t, 0) && !pk_track_is_sync(&t, 1) && pk_track_is_sync(&t, 3));
    CHECK(!pk_track_is_sync(&t, 5));
    CHECK(pk_track_dts_presented(&t, 0) == -3);     /* 0 - 5 + 2 */
    CHECK(pk_track_pts(&t, 2) == 20 - 3 - 1);
    CHECK(t.duration == 90);
    /* 78 bytes over 90 ms */
    CHECK(t.bitrate == 78u * 8 * 1000 / 90);
}

static void test_all_sync_when_no_list(void **state)
{
    (void)state;
    pk_track_t t;
    make_media(&t);
    t.sync = NULL;
    t.sync_count = t.sample_count;
    for (uint32_t i = 0; i < t.sample_count; i++)
        CHECK(pk_track_is_sync(&t, i));
}

static uint8_t *pack(const pk_media_t *m, size_t *len, size_t shift)
{
    wr_t w = wr_counter();
    pk_media_pack(m, &w);
    uint8_t *buf = malloc(w.pos + shift);
    assert_non_null(buf);
    wr_t w2 = wr_init(buf + shift, w.pos);
    pk_media_pack(m, &w2);
    CHECK(w2.err == 0 && w2.pos == w.pos);
    *len = w.pos;
    return buf;
}

/* m packed into a blob and unpacked in place from it (both kept: back points into blob). */
typedef struct {
    uint8_t *blob;
    size_t len;
    arena_t *a;
    pk_media_t *back;
} unpacked_t;

static unpacked_t unpacked(const pk_media_t *m)
{
    unpacked_t u;
    u.blob = pack(m, &u.len, 0);
    u.a = arena_new();
    CHECK(pk_media_unpack(u.blob, u.len, u.a, &u.back) == 0);
    return u;
}

static void unpacked_free(unpacked_t *u)
{
    arena_free(u->a);
    free(u->blob);
}

static void same_track(const pk_track_t *a, const pk_track_t *b)
{
    CHECK(a->id == b->id && a->type == b->type && a->timescale == b->timescale);
    CHECK(strcmp(a->codec, b->codec) == 0 && strcmp(a->lang, b->lang) == 0);
    CHECK(a->sample_count == b->sample_count && a->run_count == b->run_count);
    CHECK(memcmp(a->samples, b->samples, a->sample_count * sizeof *a->samples) == 0);
    CHECK(memcmp(a->runs, b->runs, a->run_count * sizeof *a->runs) == 0);
    CHECK(a->sync_count == b->sync_count);
    CHECK(memcmp(a->sync, b->sync, a->sync_count * sizeof *a->sync) == 0);
    CHECK(a->entry_size == b->entry_size && memcmp(a->entry, b->entry, a->entry_size) == 0);
    CHECK(a->media_time == b->media_time && a->empty_edit == b->empty_edit);
}

static void test_blob_round_trip_zero_copy(void **state)
{
    (void)state;
    pk_track_t t;
    pk_media_t m = make_media(&t);
    unpacked_t u = unpacked(&m);
    CHECK(u.back->track_count == 1 && u.back->movie_timescale == 600);
    same_track(&t, &u.back->tracks[0]);
    /* the tables are viewed in place, not copied */
    CHECK((const uint8_t *)u.back->tracks[0].samples > u.blob);
    CHECK((const uint8_t *)u.back->tracks[0].samples < u.blob + u.len);
    unpacked_free(&u);
}

static void test_blob_unaligned_is_copied(void **state)
{
    (void)state;
    pk_track_t t;
    pk_media_t m = make_media(&t), *back;
    size_t len;
    uint8_t *buf = pack(&m, &len, 1);
    arena_t *a = arena_new();
    CHECK(pk_media_unpack(buf + 1, len, a, &back) == 0);
    same_track(&t, &back->tracks[0]);
    CHECK((const uint8_t *)back->tracks[0].samples < buf ||
          (const uint8_t *)back->tracks[0].samples >= buf + len + 1);
    arena_free(a);
    free(buf);
}

static void test_blob_copy_outlives_blob(void **state)
{
    (void)state;
    pk_track_t t;
    pk_media_t m = make_media(&t), *back;
    size_t len;
    uint8_t *blob = pack(&m, &len, 0);
    arena_t *a = arena_new();
    CHECK(pk_media_unpack_copy(blob, len, a, &back) == 0);
    memset(blob, 0xEE, len);
    free(blob);
    same_track(&t, &back->tracks[0]);      /* ASan: nothing points into the freed blob */
    arena_free(a);
}

static void test_blob_all_sync_track(void **state)
{
    (void)state;
    pk_track_t t;
    pk_media_t m = make_media(&t);
    static const uint32_t every[6] = { 0, 1, 2, 3, 4, 5 };
    t.sync = every;             /* an stss listing every sample packs like no stss */
    t.sync_count = 6;
    unpacked_t u = unpacked(&m);
    CHECK(u.back->tracks[0].sync == NULL && u.back->tracks[0].sync_count == 6);
    CHECK(u.back->tracks[0].entry_size == 16 && u.back->tracks[0].entry[4] == 'a');
    unpacked_free(&u);
}

/* No sync sample at all (an empty stss) must not come back as "all sync". */
static void test_blob_no_sync_track(void **state)
{
    (void)state;
    pk_track_t t;
    pk_media_t m = make_media(&t);
    static const uint32_t none[1];
    t.sync = none;
    t.sync_count = 0;
    unpacked_t u = unpacked(&m);
    CHECK(u.back->tracks[0].sync != NULL && u.back->tracks[0].sync_count == 0);
    CHECK(!pk_track_is_sync(&u.back->tracks[0], 0));
    unpacked_free(&u);
}

/* Every truncation and every flipped byte of a blob is refused or yields a
 * consistent media: never a read outside the blob (ASan watches). */
static void test_blob_corruption(void **state)
{
    (void)state;
    pk_track_t t;
    pk_media_t m = make_media(&t), *back;
    size_t len;
    uint8_t *blob = pack(&m, &len, 0);
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, blob, n);
        arena_t *a = arena_new();
        int rc = pk_media_unpack(cut, n, a, &back);
        CHECK(rc == -EBADMSG);
        arena_free(a);
        free(cut);
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t *bad = malloc(len);
        memcpy(bad, blob, len);
        bad[i] ^= 0xA5;
        arena_t *a = arena_new();
        if (pk_media_unpack(bad, len, a, &back) == 0) {
            const pk_track_t *bt = &back->tracks[0];
            for (uint32_t s = 0; s < bt->sample_count; s++) {
                (void)pk_track_dts(bt, s);
                (void)pk_track_is_sync(bt, s);
            }
        }
        arena_free(a);
        free(bad);
    }
    free(blob);
}

static void test_blob_out_of_memory(void **state)
{
    (void)state;
    pk_track_t t;
    pk_media_t m = make_media(&t), *back;
    size_t len;
    uint8_t *blob = pack(&m, &len, 1);
    int rc = -ENOMEM;
    for (unsigned n = 1; rc == -ENOMEM; n++) {
        arena_t *a = arena_new();
        arena_fail_after(a, n);
        rc = pk_media_unpack(blob + 1, len, a, &back);
        CHECK(rc == 0 || rc == -ENOMEM);
        arena_free(a);
    }
    free(blob);
}

static void quiet(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)msg, (void)ctx;
}

int main(void)
{
    pk_log_set_sink(quiet, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_all_sync_when_no_list),
        cmocka_unit_test(test_blob_round_trip_zero_copy),
        cmocka_unit_test(test_blob_unaligned_is_copied),
        cmocka_unit_test(test_blob_copy_outlives_blob),
        cmocka_unit_test(test_blob_all_sync_track),
        cmocka_unit_test(test_blob_no_sync_track),
        cmocka_unit_test(test_blob_corruption),
        cmocka_unit_test(test_blob_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
