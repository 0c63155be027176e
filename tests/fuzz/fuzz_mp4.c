/*
 * The ISO-BMFF reader (pack/mp4.c): a whole file from memory into the media model, as
 * the media index would get it. What the reader returns is then checked against
 * pack/media.h's promises, packed and unpacked as the index stores it, and cut into a
 * view whose segments every writer produces (fuzz_media.h): a mount serves exactly
 * that from whatever file an encoder wrote.
 */
#include "fuzz_media.h"

#include "../../pack/mp4.h"

/* pack/media.h's promises about a track the reader returns. */
static void check_track(const pk_track_t *t)
{
    FUZZ_CHECK(t->timescale > 0);
    FUZZ_CHECK(t->type == PK_TRACK_VIDEO || t->type == PK_TRACK_AUDIO ||
               t->type == PK_TRACK_TEXT);
    FUZZ_CHECK(t->entry && t->entry_size > 0);
    FUZZ_CHECK((uint64_t)t->dsi_off + t->dsi_size <= t->entry_size);
    FUZZ_CHECK(memchr(t->codec, 0, sizeof t->codec));
    FUZZ_CHECK(memchr(t->lang, 0, sizeof t->lang));
    uint64_t covered = 0;
    for (uint32_t r = 0; r < t->run_count; r++) {
        FUZZ_CHECK(t->runs[r].count > 0);
        FUZZ_CHECK(t->runs[r].first == covered);
        covered += t->runs[r].count;
    }
    FUZZ_CHECK(covered == t->sample_count);
    /* pack/mp4.c MAX_TIME: times small enough for pk_track_pts's int64 arithmetic */
    FUZZ_CHECK(t->media_time < (1ull << 60) && t->empty_edit < (1ull << 60));
    if (t->run_count) {
        const pk_run_t *last = &t->runs[t->run_count - 1];
        FUZZ_CHECK(last->dts + (uint64_t)last->count * last->delta <= (1ull << 60));
    }
    FUZZ_CHECK(t->sync_count <= t->sample_count);
    if (t->sync)
        for (uint32_t k = 0; k < t->sync_count; k++)
            FUZZ_CHECK(t->sync[k] < t->sample_count && (k == 0 || t->sync[k] > t->sync[k - 1]));
    else
        FUZZ_CHECK(t->sync_count == t->sample_count);
    uint32_t n = t->sample_count < 4096 ? t->sample_count : 4096;
    for (uint32_t i = 0; i < n; i++) {
        (void)pk_track_dts(t, i);
        (void)pk_track_pts(t, i);
        (void)pk_track_sample_duration(t, i);
        (void)pk_track_is_sync(t, i);
    }
}

/* The index's form: pack, unpack, same tables. */
static void check_pack(const pk_media_t *m)
{
    wr_t w = wr_counter();
    pk_media_pack(m, &w);
    if (w.pos > (256u << 20))
        return;
    size_t len = w.pos;
    uint8_t *blob = malloc(len ? len : 1);
    FUZZ_CHECK(blob);
    w = wr_init(blob, len);
    pk_media_pack(m, &w);
    FUZZ_CHECK(w.err == 0 && w.pos == len);
    arena_t *a = arena_new();
    FUZZ_CHECK(a);
    pk_media_t *back = NULL;
    int rc = pk_media_unpack(blob, len, a, &back);
    FUZZ_CHECK(rc == 0 || rc == -ENOMEM);
    if (rc == 0) {
        FUZZ_CHECK(back->track_count == m->track_count);
        for (uint32_t i = 0; i < m->track_count; i++) {
            const pk_track_t *x = &m->tracks[i], *y = &back->tracks[i];
            FUZZ_CHECK(x->sample_count == y->sample_count && x->run_count == y->run_count &&
                       x->sync_count == y->sync_count && x->entry_size == y->entry_size);
            FUZZ_CHECK(x->sample_count == 0 ||
                       memcmp(x->samples, y->samples, x->sample_count * sizeof *x->samples) == 0);
        }
    }
    arena_free(a);
    free(blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    arena_t *a = arena_new();
    FUZZ_CHECK(a);
    pk_mem_t mem = { data, size };
    pk_source_t src = pk_source_mem(&mem, "fuzz.mp4");
    pk_media_t *m = NULL;
    int rc = pk_mp4_open(&src, a, &m);
    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOTSUP || rc == -ENOMEM);
    if (rc == 0) {
        for (uint32_t i = 0; i < m->track_count; i++)
            check_track(&m->tracks[i]);
        check_pack(m);

        /* every video and audio track into one asset, as a .ism listing them would */
        pk_asset_track_t *ats = arena_calloc(a, m->track_count + 1, sizeof *ats);
        FUZZ_CHECK(ats);
        pk_asset_t as = { 0, ats };
        for (uint32_t i = 0; i < m->track_count && as.track_count < 4; i++) {
            const pk_track_t *t = &m->tracks[i];
            if (t->type == PK_TRACK_TEXT)
                continue;
            char *name = arena_alloc(a, 16);
            FUZZ_CHECK(name);
            snprintf(name, 16, "t%u", i);
            ats[as.track_count++] = (pk_asset_track_t){
                .track = t, .source = &src, .name = name, .bitrate = 1000 + i,
                .language = t->lang, .src = "fuzz.mp4", .line = 1 };
        }
        pk_view_t *v = NULL;
        if (as.track_count && pk_view_build(&as, 2000, a, &v) == 0)
            fuzz_write_view(v, a);
    }
    arena_free(a);
    return 0;
}
