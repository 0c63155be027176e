/* AMS dynamic manifest filters (pack/filter.c): track selections, time ranges,
 * composition, firstQuality, on views cut by pk_view_build from synthetic H.264/AAC/
 * E-AC-3 tracks; then the three manifest writers run on a trimmed view and their
 * output is read back (libxml2 for MPD and Smooth, a line reader for HLS) to check it
 * starts at the first kept fragment. */
#include "test.h"
#include "xml_read.h"

#include "../../pack/filter.c"

#include <stdio.h>
#include <stdlib.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "../../pack/codec.h"
#include "../../pack/hls.h"
#include "../../pack/mpd.h"
#include "../../pack/smooth.h"

static char logbuf[2048];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)ctx;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
}

/* ---- synthetic media ---------------------------------------------------- */

#define VTS 12800               /* 25 fps: 512 ticks a frame */
#define VFRAMES 500             /* 20 s */
#define GOP 25                  /* 1 s: fragments of 2 GOPs, 2 s, 25600 ticks */
#define FRAG 25600
#define ATS 48000
#define AFRAMES 938             /* 20.01 s */
#include "synth.h"

#define HNS 10000000ull         /* AMS's default filter timescale */
#define NTRACKS 6

/* Asset order: the ladder, then English AAC, French AAC, English E-AC-3. */
enum { V3M, V1M5, V600K, A_EN, A_FR, A_EC3 };

static synth_t *S;              /* the fixture of the running test */

static int setup(void **state)
{
    (void)state;
    synth_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    synth_add_track(s, V3M, PK_TRACK_VIDEO, avc1_hex, "video", 3000000, "und", 5, 1920, 1080);
    synth_add_track(s, V1M5, PK_TRACK_VIDEO, avc1_hex, "video", 1500000, "und", 3, 1280, 720);
    synth_add_track(s, V600K, PK_TRACK_VIDEO, avc1_hex, "video", 600000, "und", 1, 640, 360);
    synth_add_track(s, A_EN, PK_TRACK_AUDIO, mp4a_hex, "aac_eng_2_128000", 128000, "eng", 1, 0, 0);
    synth_add_track(s, A_FR, PK_TRACK_AUDIO, mp4a_hex, "aac_fra_2_96000", 96000, "fra", 1, 0, 0);
    synth_add_track(s, A_EC3, PK_TRACK_AUDIO, ec3_hex, "ec3_eng_6_384000", 384000, "eng", 1, 0, 0);
    synth_view(s, NTRACKS);
    assert_int_equal(s->v->frag_count, 10);
    assert_int_equal(s->v->ref, V3M);
    S = s;
    logbuf[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    synth_free(S);
    S = NULL;
    return 0;
}

/* ---- filters -------------------------------------------------------------- */

#define EQ(p, v) { .prop = PK_FP_##p, .value = v }
#define NE(p, v) { .prop = PK_FP_##p, .not_equal = 1, .value = v }
#define RATE(l, h) { .prop = PK_FP_BITRATE, .lo = l, .hi = h }
#define NRATE(l, h) { .prop = PK_FP_BITRATE, .not_equal = 1, .lo = l, .hi = h }
#define N(x) (uint32_t)(sizeof x / sizeof x[0])

static const pk_fcond_t is_audio[] = { EQ(TYPE, "Audio") };
static const pk_fcond_t is_video[] = { EQ(TYPE, "Video") };

/* "ott": no video under 1 Mbps; the AMS docs' shape, one entry per type */
static const pk_fcond_t ott_video[] = { EQ(TYPE, "Video"), RATE(1000000, 4294967295u) };
static const pk_fselect_t ott_sel[] = { { N(ott_video), ott_video }, { 1, is_audio } };
static const pk_filter_t ott = { .name = "ott", .select_count = 2, .selects = ott_sel };

/* the same with NotEqual on the complement */
static const pk_fcond_t ott2_video[] = { EQ(TYPE, "video"), NRATE(0, 999999) };
static const pk_fselect_t ott2_sel[] = { { N(ott2_video), ott2_video }, { 1, is_audio } };
static const pk_filter_t ott2 = { .name = "ott2", .select_count = 2, .selects = ott2_sel };

/* "mobile": nothing above 720p, which in this ladder is 1.5 Mbps and less */
static const pk_fcond_t mobile_video[] = { EQ(TYPE, "VIDEO"), RATE(0, 1500000) };
static const pk_fselect_t mobile_sel[] = { { N(mobile_video), mobile_video }, { 1, is_audio } };
static const pk_filter_t mobile = { .name = "mobile", .select_count = 2, .selects = mobile_sel };

/* "nofr": French audio removed */
static const pk_fcond_t nofr_audio[] = { EQ(TYPE, "Audio"), NE(LANGUAGE, "fr") };
static const pk_fselect_t nofr_sel[] = { { N(nofr_audio), nofr_audio }, { 1, is_video } };
static const pk_filter_t nofr = { .name = "nofr", .select_count = 2, .selects = nofr_sel };

static const pk_fselect_t audio_sel[] = { { 1, is_audio } };
static const pk_filter_t audio_only = { .name = "audio", .select_count = 1,
                                        .selects = audio_sel };

static const pk_fcond_t is_text[] = { EQ(TYPE, "text") };
static const pk_fselect_t text_sel[] = { { 1, is_text } };
static const pk_filter_t text_only = { .name = "text", .select_count = 1, .selects = text_sel };

/* A time range filter in `ts` units (0: AMS's default 100 ns). */
static pk_filter_t range(int has_start, uint64_t start, int has_end, uint64_t end, uint64_t ts)
{
    return (pk_filter_t){ .name = "range", .has_start = has_start, .start = start,
                          .has_end = has_end, .end = end, .timescale = ts };
}

/* s seconds (may be fractional) in 100 ns ticks */
#define SEC(s) ((uint64_t)((s) * 1e7 + 0.5))

/* ---- running pk_filter_apply --------------------------------------------- */

static arena_t *out_arena;

static int apply(const pk_view_t *v, pk_view_t **out, uint32_t n, ...)
{
    const pk_filter_t *f[4];
    va_list ap;
    va_start(ap, n);
    for (uint32_t i = 0; i < n; i++)
        f[i] = va_arg(ap, const pk_filter_t *);
    va_end(ap);
    if (!out_arena)
        out_arena = arena_new();
    return pk_filter_apply(v, f, n, out_arena, out);
}

/* "name/bitrate ..." of the view's tracks, in order, for readable checks. */
static const char *tracks_of(const pk_view_t *v)
{
    static char buf[512];
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < v->track_count; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s/%u", i ? " " : "",
                              v->tracks[i].at->name, v->tracks[i].at->bitrate);
    return buf;
}

#define CHECK_TRACKS(v, s) assert_string_equal(tracks_of(v), s)

/* ---- track selection ------------------------------------------------------ */

static void test_ott_drops_video_under_1mbps(void **state)
{
    (void)state;
    pk_view_t *v;
    CHECK(apply(S->v, &v, 1, &ott) == 0);
    CHECK_TRACKS(v, "video/3000000 video/1500000 aac_eng_2_128000/128000 "
                    "aac_fra_2_96000/96000 ec3_eng_6_384000/384000");
    CHECK(v->ref == 0 && v->tracks[v->ref].at->bitrate == 3000000);
    /* fragments untouched, shared with the view */
    CHECK(v->frag_begin == 0 && v->frag_end == 10 && v->frag_count == 10);
    CHECK(v->tracks[0].frags == S->v->tracks[V3M].frags);
    CHECK(v->asset == S->v->asset && v->fragment_ms == 2000 && v->first_quality == 0);
    /* NotEqual on the complement says the same */
    pk_view_t *v2;
    CHECK(apply(S->v, &v2, 1, &ott2) == 0);
    CHECK_TRACKS(v2, tracks_of(v));
}

static void test_mobile_drops_above_720p_and_rechooses_ref(void **state)
{
    (void)state;
    pk_view_t *v;
    CHECK(apply(S->v, &v, 1, &mobile) == 0);
    CHECK_TRACKS(v, "video/1500000 video/600000 aac_eng_2_128000/128000 "
                    "aac_fra_2_96000/96000 ec3_eng_6_384000/384000");
    /* the 3 Mbps reference is gone: the highest kept video leads */
    CHECK(v->ref == 0 && v->tracks[0].at->bitrate == 1500000);
    CHECK(pk_view_duration(v, 1000) == 20000);
}

static void test_remove_a_language(void **state)
{
    (void)state;
    pk_view_t *v;
    CHECK(apply(S->v, &v, 1, &nofr) == 0);
    CHECK_TRACKS(v, "video/3000000 video/1500000 video/600000 aac_eng_2_128000/128000 "
                    "ec3_eng_6_384000/384000");
}

static void test_audio_only_ref_is_first_audio(void **state)
{
    (void)state;
    pk_view_t *v;
    CHECK(apply(S->v, &v, 1, &audio_only) == 0);
    CHECK_TRACKS(v, "aac_eng_2_128000/128000 aac_fra_2_96000/96000 ec3_eng_6_384000/384000");
    CHECK(v->ref == 0 && v->tracks[0].t->type == PK_TRACK_AUDIO);
}

static void test_no_selection_keeps_all(void **state)
{
    (void)state;
    pk_view_t *v;
    pk_filter_t none = { .name = "none" };
    CHECK(apply(S->v, &v, 1, &none) == 0);
    CHECK(v->track_count == NTRACKS && v->ref == V3M);
    CHECK(apply(S->v, &v, 0) == 0);
    CHECK(v->track_count == NTRACKS && v->frag_begin == 0 && v->frag_end == 10);
    /* an empty trackSelections list is an AND of nothing: it keeps every track */
    static const pk_fselect_t empty_sel[] = { { 0, NULL } };
    pk_filter_t empty = { .name = "empty", .select_count = 1, .selects = empty_sel };
    CHECK(apply(S->v, &v, 1, &empty) == 0 && v->track_count == NTRACKS);
}

/* Nothing to play: no track at all, or text only (views hold no text track from
 * pk_view_build; one is added by hand here, as a future text-aware view might). */
static void test_text_only_or_nothing_is_enoent(void **state)
{
    (void)state;
    pk_view_t *v;
    static const pk_fcond_t nothing[] = { EQ(NAME, "nope") };
    static const pk_fselect_t nothing_sel[] = { { 1, nothing } };
    pk_filter_t none = { .name = "none", .select_count = 1, .selects = nothing_sel };
    CHECK(apply(S->v, &v, 1, &none) == -ENOENT);
    CHECK(apply(S->v, &v, 1, &text_only) == -ENOENT);

    pk_track_t text = { .type = PK_TRACK_TEXT, .fourcc = FOURCC('w', 'v', 't', 't'),
                        .timescale = 1000, .codec = "wvtt" };
    pk_asset_track_t tat = { .track = &text, .name = "text_eng", .bitrate = 1000,
                             .language = "eng" };
    pk_vtrack_t vts[NTRACKS + 1];
    memcpy(vts, S->v->tracks, NTRACKS * sizeof *vts);
    vts[NTRACKS] = (pk_vtrack_t){ .at = &tat, .t = &text, .frags = S->v->tracks[0].frags };
    pk_view_t with_text = *S->v;
    with_text.tracks = vts;
    with_text.track_count = NTRACKS + 1;
    CHECK(apply(&with_text, &v, 1, &text_only) == -ENOENT);
    /* text beside video is kept */
    static const pk_fcond_t not_audio[] = { NE(TYPE, "audio") };
    static const pk_fselect_t not_audio_sel[] = { { 1, not_audio } };
    pk_filter_t no_audio = { .name = "noaudio", .select_count = 1, .selects = not_audio_sel };
    CHECK(apply(&with_text, &v, 1, &no_audio) == 0);
    CHECK_TRACKS(v, "video/3000000 video/1500000 video/600000 text_eng/1000");
    CHECK(v->ref == 0);
}

static int keeps1(pk_fcond_t c, uint32_t track)
{
    pk_fselect_t sel = { 1, &c };
    pk_filter_t f = { .select_count = 1, .selects = &sel };
    return pk_filter_keeps(&f, &S->v->tracks[track]);
}

/* Language: RFC 5646 against the tracks' ISO 639-2, primary subtag, any case. */
static void test_language_forms(void **state)
{
    (void)state;
    CHECK(keeps1((pk_fcond_t)EQ(LANGUAGE, "en"), A_EN));
    CHECK(keeps1((pk_fcond_t)EQ(LANGUAGE, "EN"), A_EN));
    CHECK(keeps1((pk_fcond_t)EQ(LANGUAGE, "eng"), A_EN));
    CHECK(keeps1((pk_fcond_t)EQ(LANGUAGE, "en-US"), A_EN));     /* primary subtag */
    CHECK(keeps1((pk_fcond_t)EQ(LANGUAGE, "fr"), A_FR));
    CHECK(keeps1((pk_fcond_t)EQ(LANGUAGE, "fre"), A_FR));       /* 639-2/B vs /T "fra" */
    CHECK(keeps1((pk_fcond_t)EQ(LANGUAGE, "fr-CA"), A_FR));
    CHECK(!keeps1((pk_fcond_t)EQ(LANGUAGE, "en"), A_FR));
    CHECK(!keeps1((pk_fcond_t)EQ(LANGUAGE, "e"), A_EN));        /* no prefix match */
    CHECK(!keeps1((pk_fcond_t)EQ(LANGUAGE, "english"), A_EN));
    CHECK(keeps1((pk_fcond_t)NE(LANGUAGE, "fr"), A_EN));
    CHECK(!keeps1((pk_fcond_t)NE(LANGUAGE, "fr"), A_FR));
    /* "und" (video here) is matched by "und" only */
    CHECK(keeps1((pk_fcond_t)EQ(LANGUAGE, "und"), V3M));
    CHECK(!keeps1((pk_fcond_t)EQ(LANGUAGE, "en"), V3M));
    CHECK(!keeps1((pk_fcond_t)EQ(LANGUAGE, NULL), A_EN));
    CHECK(keeps1((pk_fcond_t)NE(LANGUAGE, NULL), A_EN));
}

/* FourCC: the codecs string's first element, any case. */
static void test_fourcc_forms(void **state)
{
    (void)state;
    CHECK(strcmp(S->tr[A_EC3].t.codec, "ec-3") == 0);
    CHECK(keeps1((pk_fcond_t)EQ(FOURCC, "EC-3"), A_EC3));
    CHECK(keeps1((pk_fcond_t)EQ(FOURCC, "ec-3"), A_EC3));
    CHECK(!keeps1((pk_fcond_t)EQ(FOURCC, "EC-3"), A_EN));
    CHECK(keeps1((pk_fcond_t)NE(FOURCC, "EC-3"), A_EN));    /* the AMS CLI page's example */
    CHECK(!keeps1((pk_fcond_t)NE(FOURCC, "EC-3"), A_EC3));
    CHECK(keeps1((pk_fcond_t)EQ(FOURCC, "mp4a"), A_EN));
    CHECK(keeps1((pk_fcond_t)EQ(FOURCC, "AVC1"), V600K));
    CHECK(!keeps1((pk_fcond_t)EQ(FOURCC, "avc"), V600K));
    CHECK(!keeps1((pk_fcond_t)EQ(FOURCC, "avc1.64000c"), V600K));
    CHECK(!keeps1((pk_fcond_t)EQ(FOURCC, "hvc1"), V600K));
}

static void test_bitrate_name_type_forms(void **state)
{
    (void)state;
    CHECK(keeps1((pk_fcond_t)RATE(128000, 128000), A_EN));      /* a single value */
    CHECK(!keeps1((pk_fcond_t)RATE(128001, 128001), A_EN));
    CHECK(keeps1((pk_fcond_t)RATE(0, 128000), A_EN));           /* inclusive bounds */
    CHECK(keeps1((pk_fcond_t)RATE(128000, 200000), A_EN));
    CHECK(!keeps1((pk_fcond_t)RATE(0, 127999), A_EN));
    CHECK(keeps1((pk_fcond_t)NRATE(0, 127999), A_EN));
    CHECK(keeps1((pk_fcond_t)EQ(NAME, "aac_eng_2_128000"), A_EN));
    CHECK(!keeps1((pk_fcond_t)EQ(NAME, "AAC_ENG_2_128000"), A_EN));     /* names are exact */
    CHECK(keeps1((pk_fcond_t)EQ(NAME, "video"), V3M));
    CHECK(keeps1((pk_fcond_t)EQ(TYPE, "aUdIo"), A_FR));
    CHECK(!keeps1((pk_fcond_t)EQ(TYPE, "audio"), V3M));
    CHECK(keeps1((pk_fcond_t)NE(TYPE, "audio"), V3M));
    /* "Unknown" (or anything else) selects nothing, Equal or NotEqual */
    CHECK(!keeps1((pk_fcond_t){ .prop = 0, .value = "x" }, A_EN));
    CHECK(!keeps1((pk_fcond_t){ .prop = 0, .not_equal = 1, .value = "x" }, A_EN));
}

/* ---- time ranges ------------------------------------------------------------ */

static void test_trim_start(void **state)
{
    (void)state;
    pk_view_t *v;
    pk_filter_t f = range(1, SEC(5), 0, 0, 0);
    CHECK(apply(S->v, &v, 1, &f) == 0);
    /* [4 s, 6 s) straddles 5 s: kept whole */
    CHECK(v->frag_begin == 2 && v->frag_end == 10 && v->track_count == NTRACKS);
    CHECK(pk_view_duration(v, 1000) == 16000);
    /* AMS writes INT64_MAX for "no end" */
    f = range(1, SEC(5), 1, INT64_MAX, 0);
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 2 && v->frag_end == 10);
    f = range(1, 5, 1, UINT64_MAX, 1);          /* no overflow in any timescale */
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 2 && v->frag_end == 10);
    f = range(1, 5, 1, UINT64_MAX, UINT64_MAX); /* 5 / 2^64 s: from the beginning, to 1 s */
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 0 && v->frag_end == 1);
    f = range(1, SEC(5), 1, SEC(25), 0);        /* past the end */
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 2 && v->frag_end == 10);
}

static void test_subclip_from_the_middle(void **state)
{
    (void)state;
    pk_view_t *v;
    pk_filter_t f = range(1, SEC(5), 1, SEC(11), 0);
    CHECK(apply(S->v, &v, 1, &f) == 0);
    CHECK(v->frag_begin == 2 && v->frag_end == 6);      /* [4, 12) s */
    /* the same in ms, and in the video's own timescale */
    f = range(1, 5000, 1, 11000, 1000);
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 2 && v->frag_end == 6);
    f = range(1, 5 * VTS, 1, 11 * VTS, VTS);
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 2 && v->frag_end == 6);
    /* only an end */
    f = range(0, 0, 1, SEC(3), 0);
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 0 && v->frag_end == 2);
}

/* Whole fragments that overlap [start, end): one straddling either bound is kept,
 * one that merely touches it is not. */
static void test_straddle_rule(void **state)
{
    (void)state;
    pk_view_t *v;
    pk_filter_t f = range(1, SEC(4), 1, SEC(10), 0);    /* on fragment bounds */
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 2 && v->frag_end == 5);
    f = range(1, SEC(4) - 1, 1, SEC(10) + 1, 0);        /* 100 ns over each bound */
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 1 && v->frag_end == 6);
    f = range(1, SEC(4) + 1, 1, SEC(10) - 1, 0);        /* 100 ns inside */
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 2 && v->frag_end == 5);
    /* exact in another timescale: 4 s = 51200 video ticks; one tick less straddles */
    f = range(1, 51199, 1, 51201, VTS);
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 1 && v->frag_end == 3);
    f = range(1, 51200, 1, 51201, VTS);                 /* inside one fragment */
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 2 && v->frag_end == 3);
}

static void test_range_outside_is_enoent(void **state)
{
    (void)state;
    pk_view_t *v;
    pk_filter_t f = range(1, SEC(20), 0, 0, 0);         /* at the very end */
    CHECK(apply(S->v, &v, 1, &f) == -ENOENT);
    f = range(1, SEC(30), 1, SEC(40), 0);
    CHECK(apply(S->v, &v, 1, &f) == -ENOENT);
    f = range(0, 0, 1, 0, 0);                           /* ends before it begins */
    CHECK(apply(S->v, &v, 1, &f) == -ENOENT);
    f = range(1, SEC(6), 1, SEC(6), 0);                 /* empty */
    CHECK(apply(S->v, &v, 1, &f) == -ENOENT);
    f = range(1, SEC(7), 1, SEC(5), 0);                 /* inverted */
    CHECK(apply(S->v, &v, 1, &f) == -ENOENT);
    f = range(1, SEC(20) - 1, 0, 0, 0);                 /* the last 100 ns: its fragment */
    CHECK(apply(S->v, &v, 1, &f) == 0 && v->frag_begin == 9 && v->frag_end == 10);
}

/* ---- composition --------------------------------------------------------------- */

static void test_quality_and_trim_compose(void **state)
{
    (void)state;
    pk_view_t *v;
    pk_filter_t trim = range(1, SEC(5), 1, SEC(11), 0);
    CHECK(apply(S->v, &v, 3, &mobile, &trim, &nofr) == 0);
    CHECK_TRACKS(v, "video/1500000 video/600000 aac_eng_2_128000/128000 "
                    "ec3_eng_6_384000/384000");
    CHECK(v->ref == 0 && v->frag_begin == 2 && v->frag_end == 6);
    /* mobile and ott: only 1.5 Mbps video is in both */
    CHECK(apply(S->v, &v, 2, &ott, &mobile) == 0);
    CHECK(v->track_count == 4 && v->tracks[0].at->bitrate == 1500000);
    /* filtering a filtered view narrows it further, never widens it */
    pk_view_t *w;
    pk_filter_t early = range(0, 0, 1, SEC(5), 0);
    CHECK(apply(v, &w, 1, &trim) == 0 && apply(w, &w, 1, &early) == 0);
    CHECK(w->frag_begin == 2 && w->frag_end == 3 && w->track_count == 4);
    pk_filter_t wide = range(1, 0, 0, 0, 0);
    CHECK(apply(v, &w, 1, &trim) == 0 && apply(w, &w, 1, &wide) == 0);
    CHECK(w->frag_begin == 2 && w->frag_end == 6);
}

/* Several time ranges: their intersection, as AMS documents ("intersections of
 * multiple ranges"), so ranges that only share a straddling fragment keep nothing. */
static void test_ranges_intersect(void **state)
{
    (void)state;
    pk_view_t *v;
    pk_filter_t a = range(0, 0, 1, SEC(9), 0), b = range(1, 5000, 0, 0, 1000);
    CHECK(apply(S->v, &v, 2, &a, &b) == 0 && v->frag_begin == 2 && v->frag_end == 5);
    CHECK(apply(S->v, &v, 2, &b, &a) == 0 && v->frag_begin == 2 && v->frag_end == 5);
    pk_filter_t c = range(1, 0, 1, SEC(5), 0), d = range(1, SEC(5), 1, SEC(10), 0);
    CHECK(apply(S->v, &v, 1, &c) == 0 && v->frag_end == 3);     /* [4, 6) s in both ... */
    CHECK(apply(S->v, &v, 1, &d) == 0 && v->frag_begin == 2);
    CHECK(apply(S->v, &v, 2, &c, &d) == -ENOENT);               /* ... yet [5, 5) is empty */
}

static void test_first_quality(void **state)
{
    (void)state;
    pk_view_t *v;
    pk_filter_t fq = { .name = "fq", .first_quality = 600000 };
    pk_filter_t fq2 = { .name = "fq2", .first_quality = 1500000 };
    CHECK(apply(S->v, &v, 1, &ott) == 0 && v->first_quality == 0);
    CHECK(apply(S->v, &v, 3, &ott, &fq, &fq2) == 0 && v->first_quality == 600000);
    CHECK(apply(S->v, &v, 2, &fq2, &fq) == 0 && v->first_quality == 1500000);
    /* a view's own firstQuality stays unless a filter sets one */
    pk_view_t base = *S->v;
    base.first_quality = 3000000;
    CHECK(apply(&base, &v, 1, &ott) == 0 && v->first_quality == 3000000);
    CHECK(apply(&base, &v, 1, &fq) == 0 && v->first_quality == 600000);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    pk_filter_t trim = range(1, SEC(5), 1, SEC(11), 0);
    const pk_filter_t *f[2] = { &mobile, &trim };
    pk_view_t *v = NULL;
    unsigned n;
    int rc = -ENOMEM;
    for (n = 1; n < 100; n++) {
        arena_t *a = arena_new();
        arena_fail_after(a, n);
        rc = pk_filter_apply(S->v, f, 2, a, &v);
        if (rc == 0)
            CHECK(v->frag_begin == 2 && v->track_count == 5);
        arena_free(a);
        if (rc == 0)
            break;
        CHECK(rc == -ENOMEM);
    }
    CHECK(rc == 0 && n > 1);
}

/* ---- the writers on a trimmed view ----------------------------------------------- */

typedef int (*writer_fn)(const pk_view_t *v, const void *ctx, arena_t *a, wr_t *w);

/* Counts, then writes into exactly that many bytes; a NUL-terminated copy (free it). */
static char *run(writer_fn fn, const pk_view_t *v, const void *ctx)
{
    arena_t *a = arena_new();
    wr_t c = wr_counter();
    assert_int_equal(fn(v, ctx, a, &c), 0);
    char *buf = malloc(c.pos + 1);
    wr_t w = wr_init(buf, c.pos);
    assert_int_equal(fn(v, ctx, a, &w), 0);
    assert_int_equal(w.pos, c.pos);
    buf[c.pos] = '\0';
    arena_free(a);
    return buf;
}

static int call_mpd(const pk_view_t *v, const void *ctx, arena_t *a, wr_t *w)
{
    (void)ctx, (void)a;
    return pk_mpd_write(v, PK_MPD_CSF, NULL, w);
}

static int call_smooth(const pk_view_t *v, const void *ctx, arena_t *a, wr_t *w)
{
    (void)ctx, (void)a;
    return pk_smooth_manifest(v, NULL, w);
}

typedef struct {
    const pk_vtrack_t *vt;
    pk_hls_format_t fmt;
} hls_call_t;

static int call_hls_media(const pk_view_t *v, const void *ctx, arena_t *a, wr_t *w)
{
    const hls_call_t *c = ctx;
    (void)a;
    return pk_hls_media(v, c->vt, NULL, c->fmt, NULL, w);
}

static int call_hls_master(const pk_view_t *v, const void *ctx, arena_t *a, wr_t *w)
{
    const hls_call_t *c = ctx;
    return pk_hls_master(v, c->fmt, NULL, a, w);
}

static char *str(xml_t *x, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, x->xp);
    char *s = (char *)xmlXPathCastToString(o);
    xmlXPathFreeObject(o);
    return s;
}

/* The view of the sub-clip [5 s, 11 s) without the 3 Mbps reference: fragments 2..5. */
static pk_view_t *trimmed(void)
{
    static pk_filter_t trim;
    pk_view_t *v;
    trim = range(1, SEC(5), 1, SEC(11), 0);
    CHECK(apply(S->v, &v, 2, &mobile, &trim) == 0);
    CHECK(v->frag_begin == 2 && v->frag_end == 6);
    return v;
}

/* DASH: the timeline starts at the first kept fragment, and presentationTimeOffset
 * puts that instant at period time 0 (23009-1 5.3.9.2). */
static void test_mpd_on_trimmed_view(void **state)
{
    (void)state;
    pk_view_t *v = trimmed();
    char *text = run(call_mpd, v, NULL);
    xml_t x = xml_parse(text);
    const pk_vtrack_t *vid = &v->tracks[0], *en = &v->tracks[2];

    CHECK(vid->frags[2].time == 2 * FRAG);
    char *dur = str(&x, "string(/d:MPD/@mediaPresentationDuration)");
    assert_string_equal(dur, "PT8S");
    xmlFree(dur);
    /* video: one SegmentTemplate for the set */
    assert_int_equal(xml_num(&x, "count(//d:SegmentTemplate[@timescale='12800'])"), 1);
    assert_int_equal(xml_num(&x, "//d:SegmentTemplate[@timescale='12800']"
                             "/@presentationTimeOffset"), 2 * FRAG);
    assert_int_equal(xml_num(&x, "//d:SegmentTemplate[@timescale='12800']"
                             "/d:SegmentTimeline/d:S[1]/@t"), 2 * FRAG);
    assert_int_equal(xml_num(&x, "count(//d:SegmentTemplate[@timescale='12800']//d:S)"), 1);
    /* 4 equal fragments: one S of d=25600 r=3 */
    assert_int_equal(xml_num(&x, "//d:SegmentTemplate[@timescale='12800']//d:S[1]/@d"), FRAG);
    assert_int_equal(xml_num(&x, "//d:SegmentTemplate[@timescale='12800']//d:S[1]/@r"), 3);
    assert_int_equal(xml_num(&x, "count(//d:Representation[@bandwidth='3000000'])"), 0);
    assert_int_equal(xml_num(&x, "count(//d:Representation[@bandwidth='1500000'])"), 1);
    /* audio: its own first fragment, the period start in its timescale (4 s) */
    assert_int_equal(xml_num(&x, "count(//d:SegmentTemplate[@timescale='48000'])"), 3);
    assert_int_equal(xml_num(&x, "count(//d:SegmentTemplate[@presentationTimeOffset='192000'])"),
                     3);
    assert_int_equal(xml_num(&x, "(//d:AdaptationSet[@lang='en'])[1]//d:S[1]/@t"),
                     (double)en->frags[2].time);
    CHECK(llabs((long long)en->frags[2].time - 4 * ATS) <= 512);
    xml_free(&x);
    free(text);
}

/* Splits an m3u8 into lines; returns the value of tag `tag` ("" when absent) and the
 * first URI line in *first_uri, the count of URI lines in *uris. */
static void m3u8_scan(char *text, const char *tag, char *value, size_t vlen, char *first_uri,
                      size_t ulen, int *uris)
{
    *value = *first_uri = '\0';
    *uris = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        size_t tl = strlen(tag);
        if (line[0] == '#') {
            if (strncmp(line + 1, tag, tl) == 0 && line[1 + tl] == ':')
                snprintf(value, vlen, "%s", line + 2 + tl);
        } else if ((*uris)++ == 0) {
            snprintf(first_uri, ulen, "%s", line);
        }
    }
}

/* HLS: the first segment is the first kept fragment; EXT-X-MEDIA-SEQUENCE its index,
 * so a segment keeps its number in every filtered view (RFC 8216 §6.2.1). */
static void test_hls_on_trimmed_view(void **state)
{
    (void)state;
    pk_view_t *v = trimmed();
    char seq[32], uri[256];
    int uris;
    for (pk_hls_format_t fmt = PK_HLS_V4; fmt <= PK_HLS_CMAF; fmt++) {
        for (uint32_t i = 0; i < v->track_count; i++) {
            const pk_vtrack_t *vt = &v->tracks[i];
            hls_call_t c = { vt, fmt };
            char *text = run(call_hls_media, v, &c);
            char want[256];
            m3u8_scan(text, "EXT-X-MEDIA-SEQUENCE", seq, sizeof seq, uri, sizeof uri, &uris);
            assert_string_equal(seq, "2");
            snprintf(want, sizeof want, "Fragments(%s=%llu,format=%s)", vt->at->name,
                     (unsigned long long)vt->frags[2].time,
                     fmt == PK_HLS_CMAF ? "cmaf" : fmt == PK_HLS_V3 ? "m3u8-aapl-v3"
                                                                    : "m3u8-aapl");
            assert_string_equal(uri, want);
            assert_int_equal(uris, 4);
            free(text);
        }
    }
}

/* firstQuality reaches the HLS master: the 600 kbit/s variant is listed first. */
static void test_hls_master_first_quality(void **state)
{
    (void)state;
    pk_view_t *v;
    pk_filter_t fq = { .name = "fq", .first_quality = 600000 };
    pk_filter_t trim = range(1, SEC(5), 1, SEC(11), 0);
    CHECK(apply(S->v, &v, 3, &mobile, &fq, &trim) == 0);
    hls_call_t c = { NULL, PK_HLS_CMAF };
    char *text = run(call_hls_master, v, &c);
    char inf[512], uri[256];
    int uris;
    m3u8_scan(text, "EXT-X-STREAM-INF", inf, sizeof inf, uri, sizeof uri, &uris);
    CHECK(strncmp(uri, "QualityLevels(600000)/", 22) == 0);
    CHECK(!strstr(text, "QualityLevels(3000000)"));
    free(text);
    /* without it, the highest first */
    CHECK(apply(S->v, &v, 2, &mobile, &trim) == 0);
    text = run(call_hls_master, v, &c);
    m3u8_scan(text, "EXT-X-STREAM-INF", inf, sizeof inf, uri, sizeof uri, &uris);
    CHECK(strncmp(uri, "QualityLevels(1500000)/", 23) == 0);
    free(text);
}

/* Smooth: the first c carries t = the first kept fragment's time (MS-SSTR 2.2.2.6),
 * Duration the kept span. */
static void test_smooth_on_trimmed_view(void **state)
{
    (void)state;
    pk_view_t *v = trimmed();
    char *text = run(call_smooth, v, NULL);
    xml_t x = xml_parse(text);
    const pk_vtrack_t *en = &v->tracks[2];

    assert_int_equal(xml_num(&x, "/SmoothStreamingMedia/@Duration"), 8 * HNS);
    assert_int_equal(xml_num(&x, "//StreamIndex[@Type='video']/c[1]/@t"), 2 * FRAG);
    assert_int_equal(xml_num(&x, "//StreamIndex[@Type='video']/@Chunks"), 4);
    assert_int_equal(xml_num(&x, "count(//StreamIndex[@Type='video']/QualityLevel)"), 2);
    assert_int_equal(xml_num(&x, "//StreamIndex[@Type='video']/c[1]/@d"), FRAG);
    assert_int_equal(xml_num(&x, "//StreamIndex[@Type='video']/c[1]/@r"), 4);
    assert_int_equal(xml_num(&x, "//StreamIndex[@Name='aac_eng_2_128000']/c[1]/@t"),
                     (double)en->frags[2].time);
    assert_int_equal(xml_num(&x, "//StreamIndex[@Name='aac_eng_2_128000']/@Chunks"), 4);
    xml_free(&x);
    free(text);
}

int main(void)
{
    pk_log_set_sink(capture, NULL);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ott_drops_video_under_1mbps),
        T(test_mobile_drops_above_720p_and_rechooses_ref),
        T(test_remove_a_language),
        T(test_audio_only_ref_is_first_audio),
        T(test_no_selection_keeps_all),
        T(test_text_only_or_nothing_is_enoent),
        T(test_language_forms),
        T(test_fourcc_forms),
        T(test_bitrate_name_type_forms),
        T(test_trim_start),
        T(test_subclip_from_the_middle),
        T(test_straddle_rule),
        T(test_range_outside_is_enoent),
        T(test_quality_and_trim_compose),
        T(test_ranges_intersect),
        T(test_first_quality),
        T(test_out_of_memory),
        T(test_mpd_on_trimmed_view),
        T(test_hls_on_trimmed_view),
        T(test_hls_master_first_quality),
        T(test_smooth_on_trimmed_view),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    arena_free(out_arena);
    return rc;
}
