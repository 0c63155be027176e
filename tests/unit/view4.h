/* A hand-built view for the manifest writers' unit tests (test_pack_mpd.c,
 * test_pack_smooth.c): 2 video renditions + English and French AAC, 5 fragments. The
 * including test fills fx.t[] with its own sample entries, then calls view4_link(). */
#ifndef TEST_VIEW4_H
#define TEST_VIEW4_H

#include "test.h"

#include <string.h>

#include "../../pack/view.h"

enum { V1, V2, A_EN, A_FR, NTRACKS };
#define NFRAGS 5

/* video: 4 x 2 s then 1 s at 12800 Hz (DASH: r=3 then one; Smooth: r=4, the total, then
 * one) */
static const pk_frag_t video_frags[NFRAGS] = {
    { 0, 50, 0, 25600, 1000 }, { 50, 50, 25600, 25600, 1000 }, { 100, 50, 51200, 25600, 1000 },
    { 150, 50, 76800, 25600, 1000 }, { 200, 25, 102400, 12800, 500 },
};
/* English: AAC frames of 1024 at 48 kHz, 94 or 93 per fragment: no repeats */
static const pk_frag_t en_frags[NFRAGS] = {
    { 0, 94, 0, 96256, 100 }, { 94, 93, 96256, 95232, 100 }, { 187, 94, 191488, 96256, 100 },
    { 281, 93, 287744, 95232, 100 }, { 374, 47, 382976, 48128, 50 },
};
/* French: a gap after the second fragment, and it ends one fragment early */
static const pk_frag_t fr_frags[NFRAGS] = {
    { 0, 90, 0, 96000, 100 }, { 90, 90, 96000, 96000, 100 }, { 180, 90, 200000, 96000, 100 },
    { 270, 90, 296000, 96000, 100 }, { 360, 0, 392000, 0, 0 },
};

typedef struct {
    pk_track_t t[NTRACKS];
    pk_asset_track_t at[NTRACKS];
    pk_asset_t as;
    pk_vtrack_t vt[NTRACKS];
    pk_view_t v;
} fixture_t;

static fixture_t fx;

/* Names, bitrates, languages and fragments of the four tracks in fx.t[], and the view
 * over all five fragments with V1 as reference. */
static inline void view4_link(void)
{
    static const char *const names[NTRACKS] = { "video", "video", "aac_eng_2_128000",
                                                "aac_fra_2_96000" };
    static const uint32_t rates[NTRACKS] = { 1000000, 500000, 128000, 96000 };
    static const char *const langs[NTRACKS] = { "und", "und", "eng", "fra" };
    const pk_frag_t *frags[NTRACKS] = { video_frags, video_frags, en_frags, fr_frags };

    for (int i = 0; i < NTRACKS; i++) {
        fx.at[i] = (pk_asset_track_t){ .track = &fx.t[i], .name = names[i], .bitrate = rates[i],
                                       .language = langs[i], .src = "x.mp4" };
        fx.vt[i] = (pk_vtrack_t){ .at = &fx.at[i], .t = &fx.t[i], .frags = frags[i] };
    }
    fx.as = (pk_asset_t){ .track_count = NTRACKS, .tracks = fx.at };
    fx.v = (pk_view_t){ .asset = &fx.as, .track_count = NTRACKS, .tracks = fx.vt, .ref = V1,
                        .frag_count = NFRAGS, .frag_begin = 0, .frag_end = NFRAGS,
                        .fragment_ms = 2000 };
}

/* A client's timeline lists segment (t, d) next: it must be the next non-empty fragment
 * of vt in the view's range, *f (from fx.v.frag_begin on); *f moves past it. */
static inline void view4_expect_frag(const pk_vtrack_t *vt, uint32_t *f, uint64_t t, uint64_t d)
{
    while (*f < fx.v.frag_end && !vt->frags[*f].count)
        (*f)++;
    assert_true(*f < fx.v.frag_end);
    assert_int_equal(t, vt->frags[*f].time);
    assert_int_equal(d, vt->frags[*f].duration);
    (*f)++;
}

/* The timeline has ended at fragment f: no non-empty fragment of vt is left in range. */
static inline void view4_expect_end(const pk_vtrack_t *vt, uint32_t f)
{
    while (f < fx.v.frag_end && !vt->frags[f].count)
        f++;
    assert_int_equal(f, fx.v.frag_end);
}

#endif
