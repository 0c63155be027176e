/*
 * The AMS filter JSON reader (fs/filters.c fs_filters_parse, jansson) and the filters it
 * returns applied to a view (pack/filter.c pk_filter_apply) of the fixed asset of
 * fuzz_media.h, one by one and three at a time, as filter=a;b;c does.
 */
#include "fuzz_media.h"

#include "../../fs/filters.h"
#include "../../pack/filter.h"

static void check_applied(const pk_view_t *v, const pk_filter_t *const *f, uint32_t n,
                          arena_t *a)
{
    pk_view_t *out = NULL;
    int rc = pk_filter_apply(v, f, n, a, &out);
    FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -ENOMEM);
    if (rc != 0)
        return;
    FUZZ_CHECK(out->track_count > 0 && out->track_count <= v->track_count);
    FUZZ_CHECK(out->ref < out->track_count);
    FUZZ_CHECK(out->frag_count == v->frag_count);
    FUZZ_CHECK(v->frag_begin <= out->frag_begin && out->frag_begin < out->frag_end &&
               out->frag_end <= v->frag_end);
    for (uint32_t i = 0; i < out->track_count; i++)
        for (uint32_t j = 0; j < n; j++)
            FUZZ_CHECK(pk_filter_keeps(f[j], &out->tracks[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "video", "video", "aac_eng_2_128000",
                                         "ac3_fra_6_384000" };
    static const uint32_t bitrates[] = { 1000000, 500000, 128000, 384000 };
    fuzz_init();
    arena_t *a = arena_new();
    FUZZ_CHECK(a);
    pk_filter_t *f = NULL;
    uint32_t n = 0;
    char why[256] = "";
    int rc = fs_filters_parse((const char *)data, size, a, &f, &n, why, sizeof why);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    FUZZ_CHECK(memchr(why, 0, sizeof why));
    if (rc == -EINVAL)
        FUZZ_CHECK(why[0] != 0);                /* a bad file is logged with its reason */
    if (rc == 0) {
        for (uint32_t i = 0; i < n; i++)
            FUZZ_CHECK(f[i].name != NULL);
        fuzz_synth_t *s = fuzz_synth(a, 0);
        FUZZ_CHECK(s);
        pk_asset_track_t ats[4];
        for (uint32_t i = 0; i < 4; i++)
            ats[i] = (pk_asset_track_t){ .track = &s->tracks[i], .source = &s->src,
                                         .name = names[i], .bitrate = bitrates[i],
                                         .language = s->tracks[i].lang, .src = "synthetic.mp4",
                                         .line = 1 };
        pk_asset_t as = { 4, ats };
        pk_view_t *v = NULL;
        FUZZ_CHECK(pk_view_build(&as, 500, a, &v) == 0);
        const pk_filter_t *set[FS_FILTERS_MAX];
        for (uint32_t i = 0; i < n && i < 16; i++) {
            set[0] = &f[i];
            check_applied(v, set, 1, a);
        }
        if (n >= 1) {
            for (uint32_t i = 0; i < FS_FILTERS_MAX; i++)
                set[i] = &f[(n - 1 - i % n)];
            check_applied(v, set, n < FS_FILTERS_MAX ? n : FS_FILTERS_MAX, a);
        }
    }
    arena_free(a);
    return 0;
}
