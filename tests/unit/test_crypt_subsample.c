/*
 * Subsample layouts (crypt/subsample.c).
 *
 * Oracles: the slice header lengths are those ffmpeg's trace_headers bitstream filter
 * prints (an independent H.264/H.265 syntax parser, CBS): for the real x264/x265
 * streams below the command is given next to the numbers; for the hand-made streams
 * (every slice header branch a real encoder of the fixtures does not take) the same
 * numbers are checked in CI by tests/integration/crypt_subsample.sh, which runs
 * trace_headers over `test_crypt_subsample --crafted avc|hevc FILE` (the streams below
 * written as Annex B) and over every fixture MP4 through `--trace FILE.mp4`.
 * The layout rules themselves (merging, 16-byte alignment, 65535 splits) follow
 * shaka-packager's subsample_generator.cc, worked by hand in the comments.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "../../crypt/subsample.c"
#include "../../crypt/aes.h"
#include <openssl/evp.h>
#include "../../pack/mp4.h"
#include "../lib/x265_hvcc.h"

/* The writers hand layouts straight to cr_aes_cenc/cr_aes_cbcs. */
_Static_assert(sizeof(cr_subsample_t) == sizeof(cr_aes_sub_t) &&
               offsetof(cr_subsample_t, clear) == offsetof(cr_aes_sub_t, clear) &&
               offsetof(cr_subsample_t, prot) == offsetof(cr_aes_sub_t, prot),
               "cr_subsample_t and cr_aes_sub_t differ");

#define CENC FOURCC('c','e','n','c')
#define CBCS FOURCC('c','b','c','s')

static char logbuf[1024];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)ctx;
    snprintf(logbuf, sizeof logbuf, "%s", msg);
}

/* ---- real parameter sets and sample prefixes ----------------------------------------- */

/*
 * tests/fixtures/ladder/ladder_640x360.mp4 (x264 High@3.0, CABAC, weighted P, B-frames):
 * the avcC body, and the first bytes of the NAL units of samples 0-2 with their lengths
 * (the stsz/stco walk of a 20-line script; `ffmpeg -i F -c copy -bsf:v trace_headers
 * -frames:v 3 -f null -` shows the same units). The tests rebuild each sample at its
 * real size, the bytes after the prefix replaced by 0x5a: only the header is parsed.
 */
static const uint8_t x264_avcc[] = {
    0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9,
    0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03,
    0x00, 0x30, 0x0f, 0x16, 0x2d, 0x96, 0x01, 0x00, 0x04, 0x68, 0xef, 0xbc, 0xb0, 0xfd,
    0xf8, 0xf8, 0x00,
};
static const uint8_t x264_sei[] = {                 /* sample 0 NAL 0: 753 bytes */
    0x06, 0x05, 0xff, 0xff, 0xed, 0xdc, 0x45, 0xe9, 0xbd, 0xe6, 0xd9, 0x48,
};
static const uint8_t x264_idr[] = {                 /* sample 0 NAL 1: 13443 bytes */
    0x65, 0x88, 0x84, 0x00, 0x2f, 0xff, 0x97, 0xb7, 0x04, 0x27, 0x26, 0x67,
};
static const uint8_t x264_p[] = {                   /* sample 1 NAL 0: 7502 bytes */
    0x41, 0x9a, 0x22, 0x18, 0x85, 0x7f, 0x74, 0x82, 0x90, 0x2b, 0x36, 0x5b,
};
static const uint8_t x264_b[] = {                   /* sample 2 NAL 0: 4698 bytes */
    0x01, 0x9e, 0x41, 0x44, 0xbf, 0xe9, 0x90, 0xd0, 0x05, 0x83, 0xc4, 0xae,
};

/* tests/fixtures/hevc.mp4 (x265 Main, hvc1): its hvcC (x265_hvcc) and the slice prefixes
 * of samples 0-2. */
static const uint8_t x265_idr[] = {                 /* sample 0: IDR_N_LP, 2789 bytes */
    0x28, 0x01, 0xaf, 0x09, 0x60, 0x65, 0x7e, 0x03, 0xe1, 0x9b, 0x5a, 0xd5,
};
static const uint8_t x265_p[] = {                   /* sample 1: TRAIL_R P, 1902 bytes */
    0x02, 0x01, 0xd0, 0x29, 0x4b, 0xe1, 0x0c, 0x20, 0x41, 0xb9, 0x83, 0x21,
};
static const uint8_t x265_b[] = {                   /* sample 2: TRAIL_R B, 548 bytes */
    0x02, 0x01, 0xe0, 0x64, 0x9d, 0x78, 0x20, 0x51, 0xf0, 0xdd, 0x70, 0xb6,
};

/* ---- building samples ------------------------------------------------------------ */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} buf_t;

static void buf_put(buf_t *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

/* A NAL unit of `len` bytes behind an ls-byte length: `prefix`, then 0x5a filler. */
static void put_nal(buf_t *b, unsigned ls, const uint8_t *prefix, size_t n, size_t len)
{
    uint8_t l[4];
    for (unsigned i = 0; i < ls; i++)
        l[i] = (uint8_t)(len >> 8 * (ls - 1 - i));
    buf_put(b, l, ls);
    buf_put(b, prefix, n < len ? n : len);
    for (size_t i = n; i < len; i++)
        buf_put(b, "\x5a", 1);
}

static pk_track_t video_track(uint32_t fourcc, const uint8_t *cfg, size_t len, unsigned ls)
{
    return (pk_track_t){
        .id = 1, .type = PK_TRACK_VIDEO, .fourcc = fourcc, .nal_length_size = (uint8_t)ls,
        .entry = cfg, .entry_size = (uint32_t)len, .dsi_off = 0, .dsi_size = (uint32_t)len,
    };
}

static cr_subsample_ctx_t *ctx_for(const pk_track_t *t, uint32_t scheme, arena_t *a)
{
    cr_subsample_ctx_t *c = NULL;
    assert_int_equal(cr_subsample_init(t, scheme, a, &c), 0);
    return c;
}

/* Lays out b and checks it against want[0..n) and that it covers b exactly. */
static void check_layout(cr_subsample_ctx_t *c, const buf_t *b, const cr_subsample_t *want,
                         int n)
{
    cr_subsample_t got[64];
    int rc = cr_subsample_layout(c, b->p, b->len, got, 64);
    assert_int_equal(rc, n);
    assert_int_equal(cr_subsample_count(c, b->p, b->len), n);
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(got[i].clear, want[i].clear);
        assert_int_equal(got[i].prot, want[i].prot);
        sum += got[i].clear + got[i].prot;
    }
    if (n)
        assert_int_equal(sum, b->len);
}

/* The RBSP bits of the slice header of the single slice NAL of b, as the driver counts
 * them (NAL header included, trace_headers' numbering). */
static size_t header_end_bits(cr_subsample_ctx_t *c, const buf_t *b)
{
    size_t ls = c->nal_length_size, clear, bits;
    assert_int_equal(nal_clear(c, b->p + ls, b->len - ls, &clear, &bits), 0);
    return bits + (c->kind == KIND_AVC ? 8 : 16);
}

/* ---- real streams ---------------------------------------------------------------- */

/*
 * trace_headers on ladder_640x360.mp4: the IDR slice header ends at bit 42
 * (cabac_alignment_one_bit follows), the P slice at 45, the B slice at 38; none
 * has an emulation prevention byte in its first 6 bytes. So the clear part of the
 * NAL units is 6, 6 and 5 bytes.
 *   sample 0: SEI 753 + IDR 13443: clear 4 + 753 + 4 + 6 = 767, protected 13437;
 *             cenc: 13437 % 16 = 13 more clear: {780, 13424}
 *   sample 1: P 7502: {10, 7496}; cenc 7496 % 16 = 8: {18, 7488}
 *   sample 2: B 4698: {9, 4693};  cenc 4693 % 16 = 5: {14, 4688}
 */
static void test_x264_samples(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_track_t t = video_track(FOURCC('a','v','c','1'), x264_avcc, sizeof x264_avcc, 4);
    cr_subsample_ctx_t *cenc = ctx_for(&t, CENC, a), *cbcs = ctx_for(&t, CBCS, a);
    buf_t s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, idr = { 0 };

    put_nal(&s0, 4, x264_sei, sizeof x264_sei, 753);
    put_nal(&s0, 4, x264_idr, sizeof x264_idr, 13443);
    put_nal(&idr, 4, x264_idr, sizeof x264_idr, 13443);
    put_nal(&s1, 4, x264_p, sizeof x264_p, 7502);
    put_nal(&s2, 4, x264_b, sizeof x264_b, 4698);
    assert_int_equal(s0.len, 14204);
    assert_int_equal(s1.len, 7506);
    assert_int_equal(s2.len, 4702);

    assert_int_equal(header_end_bits(cenc, &idr), 42);
    assert_int_equal(header_end_bits(cenc, &s1), 45);
    assert_int_equal(header_end_bits(cenc, &s2), 38);

    check_layout(cbcs, &s0, (cr_subsample_t[]){ { 767, 13437 } }, 1);
    check_layout(cenc, &s0, (cr_subsample_t[]){ { 780, 13424 } }, 1);
    check_layout(cbcs, &s1, (cr_subsample_t[]){ { 10, 7496 } }, 1);
    check_layout(cenc, &s1, (cr_subsample_t[]){ { 18, 7488 } }, 1);
    check_layout(cbcs, &s2, (cr_subsample_t[]){ { 9, 4693 } }, 1);
    check_layout(cenc, &s2, (cr_subsample_t[]){ { 14, 4688 } }, 1);
    free(s0.p), free(s1.p), free(s2.p), free(idr.p);
    arena_free(a);
}

/*
 * trace_headers on hevc.mp4: the IDR_N_LP header (byte_alignment() included) ends at
 * bit 40, the P slice at 72, the B slice at 64: 5, 9 and 8 bytes of NAL unit.
 *   sample 0: 2789: {9, 2784} (2784 = 174 * 16: the same for cenc)
 *   sample 1: 1902: {13, 1893}; cenc 1893 % 16 = 5: {18, 1888}
 *   sample 2:  548: {12, 540};  cenc  540 % 16 = 12: {24, 528}
 */
static void test_x265_samples(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_track_t t = video_track(FOURCC('h','v','c','1'), x265_hvcc, sizeof x265_hvcc, 4);
    cr_subsample_ctx_t *cenc = ctx_for(&t, CENC, a), *cbcs = ctx_for(&t, CBCS, a);
    buf_t s0 = { 0 }, s1 = { 0 }, s2 = { 0 };

    put_nal(&s0, 4, x265_idr, sizeof x265_idr, 2789);
    put_nal(&s1, 4, x265_p, sizeof x265_p, 1902);
    put_nal(&s2, 4, x265_b, sizeof x265_b, 548);
    assert_int_equal(header_end_bits(cenc, &s0), 40);
    assert_int_equal(header_end_bits(cenc, &s1), 72);
    assert_int_equal(header_end_bits(cenc, &s2), 64);

    check_layout(cbcs, &s0, (cr_subsample_t[]){ { 9, 2784 } }, 1);
    check_layout(cenc, &s0, (cr_subsample_t[]){ { 9, 2784 } }, 1);
    check_layout(cbcs, &s1, (cr_subsample_t[]){ { 13, 1893 } }, 1);
    check_layout(cenc, &s1, (cr_subsample_t[]){ { 18, 1888 } }, 1);
    check_layout(cbcs, &s2, (cr_subsample_t[]){ { 12, 540 } }, 1);
    check_layout(cenc, &s2, (cr_subsample_t[]){ { 24, 528 } }, 1);
    free(s0.p), free(s1.p), free(s2.p);
    arena_free(a);
}

/* ---- hand-made streams ------------------------------------------------------------- */

typedef struct {
    uint8_t b[512];
    size_t bits;
} bw_t;

static void bw_u(bw_t *w, unsigned n, uint32_t v)
{
    for (unsigned i = n; i-- > 0; w->bits++)
        if (v >> i & 1)
            w->b[w->bits / 8] |= (uint8_t)(0x80 >> w->bits % 8);
}

static void bw_ue(bw_t *w, uint32_t v)
{
    uint64_t x = (uint64_t)v + 1;
    unsigned len = 0;
    while (x >> len)
        len++;
    bw_u(w, len - 1, 0);
    for (unsigned i = len; i-- > 0; )
        bw_u(w, 1, (uint32_t)(x >> i & 1));
}

static void bw_se(bw_t *w, int32_t v)
{
    bw_ue(w, v > 0 ? (uint32_t)(2 * v - 1) : (uint32_t)(-2 * v));
}

/* A one, then zeros to the byte boundary: rbsp_trailing_bits(), HEVC byte_alignment(). */
static void bw_align(bw_t *w)
{
    bw_u(w, 1, 1);
    while (w->bits % 8)
        bw_u(w, 1, 0);
}

/* rbsp_trailing_bits(), or for a slice: ones to the byte boundary, then `data` bytes of
 * 0x5a as slice data (never parsed). */
static void bw_end(bw_t *w, size_t data)
{
    if (!data) {
        bw_align(w);
        return;
    }
    while (w->bits % 8)
        bw_u(w, 1, 1);
    for (size_t i = 0; i < data; i++)
        bw_u(w, 8, 0x5a);
}

/* The NAL unit: header bytes, then the RBSP with emulation prevention (7.4.1). */
static size_t nal_escape(const uint8_t *hdr, size_t hn, const bw_t *w, uint8_t *out)
{
    size_t n = 0, zeros = 0;
    memcpy(out, hdr, hn);
    n = hn;
    for (size_t i = 0; i < w->bits / 8; i++) {
        if (zeros >= 2 && w->b[i] <= 3) {
            out[n++] = 3;
            zeros = 0;
        }
        out[n++] = w->b[i];
        zeros = w->b[i] ? 0 : zeros + 1;
    }
    return n;
}

typedef struct {
    uint8_t nal[512];
    size_t len;
    int slice;
    size_t end_bits;            /* trace_headers' end of the slice header, NAL header in */
    size_t clear;               /* bytes of the stored unit that stay clear */
} unit_t;

static unit_t mk(const uint8_t *hdr, size_t hn, const bw_t *w)
{
    unit_t u = { .len = 0 };
    u.len = nal_escape(hdr, hn, w, u.nal);
    return u;
}

/* A slice: its header in w, then `data` bytes of slice data; what trace_headers says
 * (the header ends at end_bits) and the clear bytes the rules give, both worked out by
 * hand at each call. */
static unit_t mk_slice(bw_t *w, const uint8_t *hdr, size_t hn, size_t data, size_t end_bits,
                       size_t clear)
{
    bw_end(w, data);
    unit_t u = mk(hdr, hn, w);
    u.slice = 1;
    u.end_bits = end_bits;
    u.clear = clear;
    return u;
}

/*
 * AVC, Main profile, CAVLC/CABAC per PPS:
 *   SPS 0: log2_max_frame_num 16, POC type 0 with 16-bit LSBs, 20x15 MBs, frame_mbs_only.
 *   PPS 0: CAVLC, nothing optional.
 *   PPS 1: CABAC, bottom_field_pic_order, defaults l0 3 / l1 2 refs, weighted_pred,
 *          weighted_bipred_idc 1, deblocking control, redundant_pic_cnt.
 *   slice A (P, PPS 0): frame_num 0 and poc_lsb 0: 32 zero bits, so the stored header
 *          carries an emulation prevention byte. 43 bits of header after the NAL byte.
 *   slice B (B, PPS 1): ref list modification, pred weight table with chroma, adaptive
 *          ref pic marking, cabac_init_idc, deblocking offsets.
 */
enum { AVC_SPS, AVC_PPS0, AVC_PPS1, AVC_SLICE_A, AVC_SLICE_B, AVC_UNITS };

static void crafted_avc(unit_t u[AVC_UNITS])
{
    bw_t w;

    memset(&w, 0, sizeof w);
    bw_u(&w, 8, 77);                                /* profile_idc Main */
    bw_u(&w, 8, 0);
    bw_u(&w, 8, 30);                                /* level_idc */
    bw_ue(&w, 0);                                   /* seq_parameter_set_id */
    bw_ue(&w, 12);                                  /* log2_max_frame_num_minus4 */
    bw_ue(&w, 0);                                   /* pic_order_cnt_type */
    bw_ue(&w, 12);                                  /* log2_max_pic_order_cnt_lsb_minus4 */
    bw_ue(&w, 2);                                   /* max_num_ref_frames */
    bw_u(&w, 1, 0);
    bw_ue(&w, 19);                                  /* pic_width_in_mbs_minus1 */
    bw_ue(&w, 14);                                  /* pic_height_in_map_units_minus1 */
    bw_u(&w, 1, 1);                                 /* frame_mbs_only_flag */
    bw_u(&w, 1, 1);                                 /* direct_8x8_inference_flag */
    bw_u(&w, 1, 0);                                 /* frame_cropping_flag */
    bw_u(&w, 1, 0);                                 /* vui_parameters_present_flag */
    bw_end(&w, 0);
    u[AVC_SPS] = mk((const uint8_t[]){ 0x67 }, 1, &w);

    memset(&w, 0, sizeof w);
    bw_ue(&w, 0);                                   /* pic_parameter_set_id */
    bw_ue(&w, 0);
    bw_u(&w, 1, 0);                                 /* CAVLC */
    bw_u(&w, 1, 0);
    bw_ue(&w, 0);                                   /* num_slice_groups_minus1 */
    bw_ue(&w, 0);
    bw_ue(&w, 0);
    bw_u(&w, 1, 0);
    bw_u(&w, 2, 0);
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_u(&w, 3, 0);                                 /* deblocking, constrained, redundant */
    bw_end(&w, 0);
    u[AVC_PPS0] = mk((const uint8_t[]){ 0x68 }, 1, &w);

    memset(&w, 0, sizeof w);
    bw_ue(&w, 1);                                   /* pic_parameter_set_id */
    bw_ue(&w, 0);
    bw_u(&w, 1, 1);                                 /* CABAC */
    bw_u(&w, 1, 1);                                 /* bottom_field_pic_order_in_frame_present */
    bw_ue(&w, 0);
    bw_ue(&w, 2);                                   /* num_ref_idx_l0_default_active_minus1 */
    bw_ue(&w, 1);                                   /* num_ref_idx_l1_default_active_minus1 */
    bw_u(&w, 1, 1);                                 /* weighted_pred_flag */
    bw_u(&w, 2, 1);                                 /* weighted_bipred_idc */
    bw_se(&w, -3);
    bw_se(&w, 0);
    bw_se(&w, 2);
    bw_u(&w, 1, 1);                                 /* deblocking_filter_control_present */
    bw_u(&w, 1, 0);
    bw_u(&w, 1, 1);                                 /* redundant_pic_cnt_present_flag */
    bw_end(&w, 0);
    u[AVC_PPS1] = mk((const uint8_t[]){ 0x68 }, 1, &w);

    memset(&w, 0, sizeof w);
    bw_ue(&w, 0);                                   /* first_mb_in_slice */
    bw_ue(&w, 5);                                   /* slice_type P */
    bw_ue(&w, 0);                                   /* pic_parameter_set_id */
    bw_u(&w, 16, 0);                                /* frame_num */
    bw_u(&w, 16, 0);                                /* pic_order_cnt_lsb */
    bw_u(&w, 1, 0);                                 /* num_ref_idx_active_override_flag */
    bw_u(&w, 1, 0);                                 /* ref_pic_list_modification_flag_l0 */
    bw_u(&w, 1, 0);                                 /* adaptive_ref_pic_marking_mode_flag */
    bw_se(&w, 0);                                   /* slice_qp_delta */
    /* trace_headers: slice_qp_delta at 50; clear: NAL byte, 6 RBSP bytes, one EPB */
    u[AVC_SLICE_A] = mk_slice(&w, (const uint8_t[]){ 0x41 }, 1, 40, 51, 1 + 6 + 1);

    memset(&w, 0, sizeof w);
    bw_ue(&w, 0);                                   /* first_mb_in_slice */
    bw_ue(&w, 6);                                   /* slice_type B */
    bw_ue(&w, 1);                                   /* pic_parameter_set_id */
    bw_u(&w, 16, 5);                                /* frame_num */
    bw_u(&w, 16, 10);                               /* pic_order_cnt_lsb */
    bw_se(&w, -1);                                  /* delta_pic_order_cnt_bottom */
    bw_ue(&w, 0);                                   /* redundant_pic_cnt */
    bw_u(&w, 1, 1);                                 /* direct_spatial_mv_pred_flag */
    bw_u(&w, 1, 1);                                 /* num_ref_idx_active_override_flag */
    bw_ue(&w, 1);                                   /* num_ref_idx_l0_active_minus1 */
    bw_ue(&w, 0);                                   /* num_ref_idx_l1_active_minus1 */
    bw_u(&w, 1, 1);                                 /* ref_pic_list_modification_flag_l0 */
    bw_ue(&w, 0);                                   /*   modification_of_pic_nums_idc */
    bw_ue(&w, 2);                                   /*   abs_diff_pic_num_minus1 */
    bw_ue(&w, 3);                                   /*   end */
    bw_u(&w, 1, 0);                                 /* ref_pic_list_modification_flag_l1 */
    bw_ue(&w, 2);                                   /* luma_log2_weight_denom */
    bw_ue(&w, 1);                                   /* chroma_log2_weight_denom */
    bw_u(&w, 1, 1);                                 /* l0[0]: luma weight, offset */
    bw_se(&w, 3);
    bw_se(&w, -2);
    bw_u(&w, 1, 0);                                 /*        no chroma */
    bw_u(&w, 1, 0);                                 /* l0[1]: no luma */
    bw_u(&w, 1, 1);                                 /*        chroma Cb, Cr weight+offset */
    bw_se(&w, 1);
    bw_se(&w, 0);
    bw_se(&w, -1);
    bw_se(&w, 2);
    bw_u(&w, 1, 0);                                 /* l1[0]: none */
    bw_u(&w, 1, 0);
    bw_u(&w, 1, 1);                                 /* adaptive_ref_pic_marking_mode_flag */
    bw_ue(&w, 1);                                   /*   mmco 1 */
    bw_ue(&w, 0);                                   /*   difference_of_pic_nums_minus1 */
    bw_ue(&w, 0);                                   /*   end */
    bw_ue(&w, 1);                                   /* cabac_init_idc */
    bw_se(&w, 3);                                   /* slice_qp_delta */
    bw_ue(&w, 0);                                   /* disable_deblocking_filter_idc */
    bw_se(&w, 1);                                   /* slice_alpha_c0_offset_div2 */
    bw_se(&w, -1);                                  /* slice_beta_offset_div2 */
    /* NAL nal_ref_idc 1, type 1; trace_headers: 117 bits after the NAL byte; clear:
     * ceil(117 / 8), no EPB */
    u[AVC_SLICE_B] = mk_slice(&w, (const uint8_t[]){ 0x21 }, 1, 30, 125, 1 + 15);
}

/*
 * HEVC, 320x192 with 16x16 CTBs (240 of them: 8-bit slice addresses):
 *   VPS: the x265 one. SPS: SAO, two short-term RPSs in the SPS (the second predicted
 *   from the first), two long-term POCs in the SPS, temporal MVP.
 *   PPS: dependent slices, output flag, 2 extra header bits, cabac_init_present,
 *   chroma QP offsets in slices, weighted P and B, 2 tile columns, deblocking override,
 *   lists modification, header extension, the range extension with a chroma QP
 *   offset list.
 *   slice 1 (TRAIL_R, B): RPS coded in the slice and predicted from SPS set 1, SPS and
 *   slice long-term pictures (NumPicTotalCurr 3: 2-bit list entries), both list
 *   modifications, collocated_ref_idx, the pred weight table, deblocking override,
 *   one entry point, a 2-byte header extension.
 *   slice 2: a dependent slice segment. slice 3: IDR_W_RADL, I. slice 4: TRAIL_R P
 *   with SPS RPS 1 by index.
 */
enum { HEVC_VPS, HEVC_SPS, HEVC_PPS, HEVC_S1, HEVC_S2, HEVC_S3, HEVC_S4, HEVC_UNITS };

static void crafted_hevc(unit_t u[HEVC_UNITS])
{
    bw_t w;

    memset(u, 0, HEVC_UNITS * sizeof *u);
    u[HEVC_VPS].len = 24;                           /* the VPS of x265_hvcc */
    memcpy(u[HEVC_VPS].nal, x265_hvcc + 28, 24);

    memset(&w, 0, sizeof w);
    bw_u(&w, 4, 0);                                 /* sps_video_parameter_set_id */
    bw_u(&w, 3, 0);                                 /* sps_max_sub_layers_minus1 */
    bw_u(&w, 1, 1);
    bw_u(&w, 8, 0x01);                              /* space 0, tier 0, profile_idc 1 */
    bw_u(&w, 32, 0x60000000);                       /* compatibility: Main, Main 10 */
    bw_u(&w, 4, 0x9);                               /* progressive, frame only */
    bw_u(&w, 32, 0);
    bw_u(&w, 12, 0);                                /* the other 44 constraint bits */
    bw_u(&w, 8, 60);                                /* general_level_idc */
    bw_ue(&w, 0);                                   /* sps_seq_parameter_set_id */
    bw_ue(&w, 1);                                   /* chroma_format_idc */
    bw_ue(&w, 320);
    bw_ue(&w, 192);
    bw_u(&w, 1, 0);                                 /* conformance_window_flag */
    bw_ue(&w, 0);
    bw_ue(&w, 0);
    bw_ue(&w, 4);                                   /* log2_max_pic_order_cnt_lsb_minus4 */
    bw_u(&w, 1, 1);
    bw_ue(&w, 4);                                   /* sps_max_dec_pic_buffering_minus1 */
    bw_ue(&w, 0);
    bw_ue(&w, 0);
    bw_ue(&w, 1);                                   /* log2_min_luma_coding_block_size_minus3 */
    bw_ue(&w, 0);                                   /* ...diff_max_min: CTB 16 */
    bw_ue(&w, 0);
    bw_ue(&w, 2);
    bw_ue(&w, 0);
    bw_ue(&w, 0);
    bw_u(&w, 1, 0);                                 /* scaling_list_enabled_flag */
    bw_u(&w, 1, 0);                                 /* amp */
    bw_u(&w, 1, 1);                                 /* sample_adaptive_offset_enabled_flag */
    bw_u(&w, 1, 0);                                 /* pcm */
    bw_ue(&w, 2);                                   /* num_short_term_ref_pic_sets */
    bw_ue(&w, 2);                                   /* set 0: 2 negative, 1 positive */
    bw_ue(&w, 1);
    bw_ue(&w, 0);                                   /*   -1, used */
    bw_u(&w, 1, 1);
    bw_ue(&w, 1);                                   /*   -3, not used */
    bw_u(&w, 1, 0);
    bw_ue(&w, 0);                                   /*   +1, used */
    bw_u(&w, 1, 1);
    bw_u(&w, 1, 1);                                 /* set 1: inter_ref_pic_set_prediction */
    bw_u(&w, 1, 1);                                 /*   delta_rps_sign: -1 */
    bw_ue(&w, 0);
    bw_u(&w, 1, 1);                                 /*   j0 used */
    bw_u(&w, 1, 0);                                 /*   j1 not used, use_delta */
    bw_u(&w, 1, 1);
    bw_u(&w, 1, 1);                                 /*   j2 used */
    bw_u(&w, 1, 0);                                 /*   j3 not used, not kept */
    bw_u(&w, 1, 0);
    /* set 1 = {-2 used, -4 unused}: see the derivation in hevc_st_rps */
    bw_u(&w, 1, 1);                                 /* long_term_ref_pics_present_flag */
    bw_ue(&w, 2);
    bw_u(&w, 8, 4);                                 /* lt_ref_pic_poc_lsb_sps[0], used */
    bw_u(&w, 1, 1);
    bw_u(&w, 8, 8);                                 /* [1], not used */
    bw_u(&w, 1, 0);
    bw_u(&w, 1, 1);                                 /* sps_temporal_mvp_enabled_flag */
    bw_u(&w, 1, 0);
    bw_u(&w, 1, 0);                                 /* vui_parameters_present_flag */
    bw_u(&w, 1, 0);                                 /* sps_extension_present_flag */
    bw_end(&w, 0);
    u[HEVC_SPS] = mk((const uint8_t[]){ 0x42, 0x01 }, 2, &w);

    memset(&w, 0, sizeof w);
    bw_ue(&w, 0);
    bw_ue(&w, 0);
    bw_u(&w, 1, 1);                                 /* dependent_slice_segments_enabled_flag */
    bw_u(&w, 1, 1);                                 /* output_flag_present_flag */
    bw_u(&w, 3, 2);                                 /* num_extra_slice_header_bits */
    bw_u(&w, 1, 0);
    bw_u(&w, 1, 1);                                 /* cabac_init_present_flag */
    bw_ue(&w, 1);                                   /* num_ref_idx_l0_default_active_minus1 */
    bw_ue(&w, 0);
    bw_se(&w, 0);
    bw_u(&w, 1, 0);
    bw_u(&w, 1, 0);                                 /* transform_skip_enabled_flag */
    bw_u(&w, 1, 0);                                 /* cu_qp_delta_enabled_flag */
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_u(&w, 1, 1);                                 /* pps_slice_chroma_qp_offsets_present */
    bw_u(&w, 1, 1);                                 /* weighted_pred_flag */
    bw_u(&w, 1, 1);                                 /* weighted_bipred_flag */
    bw_u(&w, 1, 0);
    bw_u(&w, 1, 1);                                 /* tiles_enabled_flag */
    bw_u(&w, 1, 0);
    bw_ue(&w, 1);                                   /* num_tile_columns_minus1 */
    bw_ue(&w, 0);
    bw_u(&w, 1, 1);                                 /* uniform_spacing_flag */
    bw_u(&w, 1, 1);
    bw_u(&w, 1, 1);                                 /* pps_loop_filter_across_slices */
    bw_u(&w, 1, 1);                                 /* deblocking_filter_control_present */
    bw_u(&w, 1, 1);                                 /*   override enabled */
    bw_u(&w, 1, 0);                                 /*   not disabled */
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_u(&w, 1, 0);                                 /* pps_scaling_list_data_present_flag */
    bw_u(&w, 1, 1);                                 /* lists_modification_present_flag */
    bw_ue(&w, 0);
    bw_u(&w, 1, 1);                                 /* slice_segment_header_extension_present */
    bw_u(&w, 1, 1);                                 /* pps_extension_present_flag */
    bw_u(&w, 1, 1);                                 /*   range */
    bw_u(&w, 7, 0);                                 /*   no multilayer, 3d, scc; 4 bits */
    bw_u(&w, 1, 0);                                 /* cross_component_prediction */
    bw_u(&w, 1, 1);                                 /* chroma_qp_offset_list_enabled_flag */
    bw_ue(&w, 0);
    bw_ue(&w, 0);                                   /* one entry */
    bw_se(&w, 1);
    bw_se(&w, -1);
    bw_ue(&w, 0);                                   /* log2_sao_offset_scale_luma */
    bw_ue(&w, 0);                                   /* log2_sao_offset_scale_chroma */
    bw_end(&w, 0);
    u[HEVC_PPS] = mk((const uint8_t[]){ 0x44, 0x01 }, 2, &w);

    memset(&w, 0, sizeof w);
    bw_u(&w, 1, 0);                                 /* first_slice_segment_in_pic_flag */
    bw_ue(&w, 0);                                   /* slice_pic_parameter_set_id */
    bw_u(&w, 1, 0);                                 /* dependent_slice_segment_flag */
    bw_u(&w, 8, 17);                                /* slice_segment_address */
    bw_u(&w, 2, 0);                                 /* slice_reserved_flag[2] */
    bw_ue(&w, 0);                                   /* slice_type B */
    bw_u(&w, 1, 1);                                 /* pic_output_flag */
    bw_u(&w, 8, 9);                                 /* slice_pic_order_cnt_lsb */
    bw_u(&w, 1, 0);                                 /* short_term_ref_pic_set_sps_flag */
    bw_u(&w, 1, 1);                                 /* inter_ref_pic_set_prediction_flag */
    bw_ue(&w, 0);                                   /* delta_idx_minus1: from set 1 */
    bw_u(&w, 1, 0);                                 /* delta_rps_sign: +2 */
    bw_ue(&w, 1);
    bw_u(&w, 1, 1);                                 /* j0 used */
    bw_u(&w, 1, 1);                                 /* j1 used */
    bw_u(&w, 1, 0);                                 /* j2 not used, kept */
    bw_u(&w, 1, 1);
    /* = {S0: -2 used; S1: +2 unused}: one current picture so far */
    bw_ue(&w, 1);                                   /* num_long_term_sps */
    bw_ue(&w, 1);                                   /* num_long_term_pics */
    bw_u(&w, 1, 0);                                 /* lt_idx_sps[0] = 0: used */
    bw_u(&w, 1, 0);                                 /* delta_poc_msb_present_flag */
    bw_u(&w, 8, 3);                                 /* poc_lsb_lt[1] */
    bw_u(&w, 1, 1);                                 /* used_by_curr_pic_lt_flag: total 3 */
    bw_u(&w, 1, 1);
    bw_ue(&w, 2);                                   /* delta_poc_msb_cycle_lt */
    bw_u(&w, 1, 1);                                 /* slice_temporal_mvp_enabled_flag */
    bw_u(&w, 1, 1);                                 /* slice_sao_luma_flag */
    bw_u(&w, 1, 0);                                 /* slice_sao_chroma_flag */
    bw_u(&w, 1, 1);                                 /* num_ref_idx_active_override_flag */
    bw_ue(&w, 2);
    bw_ue(&w, 1);
    bw_u(&w, 1, 1);                                 /* ref_pic_list_modification_flag_l0 */
    bw_u(&w, 2, 2);
    bw_u(&w, 2, 1);
    bw_u(&w, 2, 0);
    bw_u(&w, 1, 1);                                 /* ref_pic_list_modification_flag_l1 */
    bw_u(&w, 2, 0);
    bw_u(&w, 2, 2);
    bw_u(&w, 1, 0);                                 /* mvd_l1_zero_flag */
    bw_u(&w, 1, 1);                                 /* cabac_init_flag */
    bw_u(&w, 1, 0);                                 /* collocated_from_l0_flag */
    bw_ue(&w, 1);                                   /* collocated_ref_idx */
    bw_ue(&w, 3);                                   /* luma_log2_weight_denom */
    bw_se(&w, -1);                                  /* delta_chroma_log2_weight_denom */
    bw_u(&w, 3, 5);                                 /* luma_weight_l0_flag[0..2] 1 0 1 */
    bw_u(&w, 3, 2);                                 /* chroma_weight_l0_flag[0..2] 0 1 0 */
    bw_se(&w, 2);                                   /* [0] luma */
    bw_se(&w, -3);
    bw_se(&w, 1);                                   /* [1] chroma */
    bw_se(&w, -1);
    bw_se(&w, 0);
    bw_se(&w, 2);
    bw_se(&w, 0);                                   /* [2] luma */
    bw_se(&w, 0);
    bw_u(&w, 2, 0);                                 /* luma_weight_l1_flag[0..1] */
    bw_u(&w, 2, 2);                                 /* chroma_weight_l1_flag[0..1] 1 0 */
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_ue(&w, 2);                                   /* five_minus_max_num_merge_cand */
    bw_se(&w, -3);                                  /* slice_qp_delta */
    bw_se(&w, 1);
    bw_se(&w, -1);
    bw_u(&w, 1, 1);                                 /* cu_chroma_qp_offset_enabled_flag */
    bw_u(&w, 1, 1);                                 /* deblocking_filter_override_flag */
    bw_u(&w, 1, 0);                                 /* slice_deblocking_filter_disabled_flag */
    bw_se(&w, 1);
    bw_se(&w, -2);
    bw_u(&w, 1, 1);                                 /* slice_loop_filter_across_slices */
    bw_ue(&w, 1);                                   /* num_entry_point_offsets */
    bw_ue(&w, 9);                                   /* offset_len_minus1 */
    bw_u(&w, 10, 3);                                /* entry_point_offset_minus1[0] */
    bw_ue(&w, 2);                                   /* slice_segment_header_extension_length */
    bw_u(&w, 16, 0xabcd);
    bw_align(&w);                                   /* byte_alignment() */
    size_t s1_bits = w.bits;
    /* end: trace_headers */
    u[HEVC_S1] = mk_slice(&w, (const uint8_t[]){ 0x02, 0x01 }, 2, 40, 216, 2 + s1_bits / 8);

    memset(&w, 0, sizeof w);
    bw_u(&w, 1, 0);                                 /* first_slice_segment_in_pic_flag */
    bw_ue(&w, 0);
    bw_u(&w, 1, 1);                                 /* dependent_slice_segment_flag */
    bw_u(&w, 8, 30);                                /* slice_segment_address */
    bw_ue(&w, 0);                                   /* num_entry_point_offsets */
    bw_ue(&w, 0);                                   /* extension length */
    bw_align(&w);                                   /* byte_alignment(): 32 bits */
    u[HEVC_S2] = mk_slice(&w, (const uint8_t[]){ 0x02, 0x01 }, 2, 20, 16 + 16, 2 + 2);

    memset(&w, 0, sizeof w);
    bw_u(&w, 1, 1);                                 /* first_slice_segment_in_pic_flag */
    bw_u(&w, 1, 0);                                 /* no_output_of_prior_pics_flag */
    bw_ue(&w, 0);
    bw_u(&w, 2, 0);                                 /* slice_reserved_flag[2] */
    bw_ue(&w, 2);                                   /* slice_type I */
    bw_u(&w, 1, 1);                                 /* pic_output_flag */
    bw_u(&w, 1, 1);                                 /* slice_sao_luma_flag */
    bw_u(&w, 1, 1);                                 /* slice_sao_chroma_flag */
    bw_se(&w, 0);                                   /* slice_qp_delta */
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_u(&w, 1, 0);                                 /* cu_chroma_qp_offset_enabled_flag */
    bw_u(&w, 1, 0);                                 /* deblocking_filter_override_flag */
    bw_u(&w, 1, 1);                                 /* slice_loop_filter_across_slices */
    bw_ue(&w, 0);                                   /* num_entry_point_offsets */
    bw_ue(&w, 0);                                   /* extension length */
    bw_align(&w);                                   /* byte_alignment(): 20 bits so far */
    u[HEVC_S3] = mk_slice(&w, (const uint8_t[]){ 0x26, 0x01 }, 2, 60, 16 + 24, 2 + 3);

    memset(&w, 0, sizeof w);
    bw_u(&w, 1, 1);                                 /* first_slice_segment_in_pic_flag */
    bw_ue(&w, 0);
    bw_u(&w, 2, 0);                                 /* slice_reserved_flag[2] */
    bw_ue(&w, 1);                                   /* slice_type P */
    bw_u(&w, 1, 1);                                 /* pic_output_flag */
    bw_u(&w, 8, 12);                                /* slice_pic_order_cnt_lsb */
    bw_u(&w, 1, 1);                                 /* short_term_ref_pic_set_sps_flag */
    bw_u(&w, 1, 1);                                 /* short_term_ref_pic_set_idx */
    bw_ue(&w, 0);                                   /* num_long_term_sps */
    bw_ue(&w, 0);                                   /* num_long_term_pics */
    bw_u(&w, 1, 0);                                 /* slice_temporal_mvp_enabled_flag */
    bw_u(&w, 1, 0);                                 /* slice_sao_luma_flag */
    bw_u(&w, 1, 0);                                 /* slice_sao_chroma_flag */
    bw_u(&w, 1, 0);                                 /* num_ref_idx_active_override_flag */
    bw_u(&w, 1, 0);                                 /* cabac_init_flag */
    bw_ue(&w, 0);                                   /* luma_log2_weight_denom */
    bw_se(&w, 0);
    bw_u(&w, 2, 0);                                 /* luma flags, 2 refs */
    bw_u(&w, 2, 0);                                 /* chroma flags */
    bw_ue(&w, 0);                                   /* five_minus_max_num_merge_cand */
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_se(&w, 0);
    bw_u(&w, 1, 0);                                 /* cu_chroma_qp_offset_enabled_flag */
    bw_u(&w, 1, 0);                                 /* deblocking_filter_override_flag */
    bw_u(&w, 1, 1);                                 /* slice_loop_filter_across_slices */
    bw_ue(&w, 0);
    bw_ue(&w, 0);
    bw_align(&w);                                   /* byte_alignment() */
    /* end: 41 bits, aligned */
    u[HEVC_S4] = mk_slice(&w, (const uint8_t[]){ 0x02, 0x01 }, 2, 50, 16 + 48, 2 + 6);
}

/* A track whose config holds the parameter set units [0, nps) of u. */
static size_t config_of(int hevc, const unit_t *u, int nps, uint8_t *cfg)
{
    size_t n = 0;
    if (!hevc) {
        memcpy(cfg, (const uint8_t[]){ 1, 77, 0, 30, 0xff }, 5);
        n = 5;
        cfg[n++] = 0xe1;                            /* one SPS */
        cfg[n++] = (uint8_t)(u[0].len >> 8);
        cfg[n++] = (uint8_t)u[0].len;
        memcpy(cfg + n, u[0].nal, u[0].len);
        n += u[0].len;
        cfg[n++] = (uint8_t)(nps - 1);              /* the PPSs */
        for (int i = 1; i < nps; i++) {
            cfg[n++] = (uint8_t)(u[i].len >> 8);
            cfg[n++] = (uint8_t)u[i].len;
            memcpy(cfg + n, u[i].nal, u[i].len);
            n += u[i].len;
        }
        return n;
    }
    memcpy(cfg, x265_hvcc, 22);
    n = 22;
    cfg[n++] = (uint8_t)nps;
    for (int i = 0; i < nps; i++) {
        cfg[n++] = (uint8_t)(u[i].nal[0] >> 1 & 0x3f);
        cfg[n++] = 0;
        cfg[n++] = 1;
        cfg[n++] = (uint8_t)(u[i].len >> 8);
        cfg[n++] = (uint8_t)u[i].len;
        memcpy(cfg + n, u[i].nal, u[i].len);
        n += u[i].len;
    }
    return n;
}

static void check_crafted(int hevc, unit_t *u, int nps, int nunits)
{
    uint8_t cfg[1024];
    size_t len = config_of(hevc, u, nps, cfg);
    arena_t *a = arena_new();
    pk_track_t t = video_track(hevc ? FOURCC('h','v','c','1') : FOURCC('a','v','c','1'),
                               cfg, len, 4);
    cr_subsample_ctx_t *c = ctx_for(&t, CBCS, a);
    for (int i = nps; i < nunits; i++) {
        size_t clear, bits;
        assert_int_equal(nal_clear(c, u[i].nal, u[i].len, &clear, &bits), 0);
        assert_int_equal(bits + (hevc ? 16 : 8), u[i].end_bits);
        assert_int_equal(clear, u[i].clear);
        /* one unit short of its header: the parse must fail */
        assert_int_equal(nal_clear(c, u[i].nal, u[i].clear - 1, &clear, &bits), -EBADMSG);
    }
    arena_free(a);
}

static void test_crafted_avc(void **state)
{
    (void)state;
    unit_t u[AVC_UNITS];
    crafted_avc(u);
    /* the emulation prevention byte of slice A: 9a 00 00 03 00 */
    assert_memory_equal(u[AVC_SLICE_A].nal, "\x41\x9a\x00\x00\x03\x00", 6);
    check_crafted(0, u, 3, AVC_UNITS);
}

static void test_crafted_hevc(void **state)
{
    (void)state;
    unit_t u[HEVC_UNITS];
    crafted_hevc(u);
    check_crafted(1, u, 3, HEVC_UNITS);
}

/* A track of the crafted units u (made here: AVC, or HEVC when hevc) whose config,
 * written into cfg (which the track points into), holds the parameter sets [0, nps). */
static pk_track_t crafted_track(int hevc, unit_t *u, int nps, uint32_t fourcc, unsigned ls,
                                uint8_t *cfg)
{
    if (hevc)
        crafted_hevc(u);
    else
        crafted_avc(u);
    size_t len = config_of(hevc, u, nps, cfg);
    return video_track(fourcc, cfg, len, ls);
}

/* ---- the layout rules ---------------------------------------------------------------- */

/* AUD + SEI + slice A + SEI + slice A in one sample, with each NAL length size:
 * the clear NAL units merge into the clear part of the next slice. */
static void test_merging_and_length_sizes(void **state)
{
    (void)state;
    unit_t u[AVC_UNITS];
    crafted_avc(u);
    static const uint8_t aud[] = { 0x09, 0xf0 };
    static const uint8_t sei[] = { 0x06, 0x05, 0x10 };
    const unit_t *sl = &u[AVC_SLICE_A];
    size_t prot = sl->len - sl->clear;              /* 48 - 8: 40 bytes of slice data */
    assert_int_equal(prot, 40);

    for (unsigned ls = 1; ls <= 4; ls *= 2) {
        uint8_t cfg[256];
        size_t len = config_of(0, u, 3, cfg);
        arena_t *a = arena_new();
        pk_track_t t = video_track(FOURCC('a','v','c','3'), cfg, len, ls);
        cr_subsample_ctx_t *cbcs = ctx_for(&t, CBCS, a), *cenc = ctx_for(&t, CENC, a);
        buf_t b = { 0 };
        put_nal(&b, ls, aud, sizeof aud, sizeof aud);
        put_nal(&b, ls, sei, sizeof sei, 20);
        put_nal(&b, ls, sl->nal, sl->len, sl->len);
        put_nal(&b, ls, sei, sizeof sei, 30);
        put_nal(&b, ls, sl->nal, sl->len, sl->len);
        put_nal(&b, ls, sei, sizeof sei, 7);        /* trailing clear unit */
        uint32_t c1 = (uint32_t)(ls + 2 + ls + 20 + ls + sl->clear);
        uint32_t c2 = (uint32_t)(ls + 30 + ls + sl->clear);
        check_layout(cbcs, &b, (cr_subsample_t[]){ { c1, 40 }, { c2, 40 }, { ls + 7, 0 } }, 3);
        /* cenc: 40 = 2 * 16 + 8: eight bytes more clear each */
        check_layout(cenc, &b, (cr_subsample_t[]){ { c1 + 8, 32 }, { c2 + 8, 32 },
                                                    { ls + 7, 0 } }, 3);
        free(b.p);
        arena_free(a);
    }
}

/* cenc: a slice whose protected part is under 16 bytes becomes wholly clear and merges
 * into the next subsample; cbcs keeps it. */
static void test_cenc_small_slice(void **state)
{
    (void)state;
    unit_t u[AVC_UNITS];
    uint8_t cfg[256];
    pk_track_t t = crafted_track(0, u, 3, FOURCC('a','v','c','1'), 4, cfg);
    arena_t *a = arena_new();
    cr_subsample_ctx_t *cbcs = ctx_for(&t, CBCS, a), *cenc = ctx_for(&t, CENC, a);
    const unit_t *sl = &u[AVC_SLICE_A];
    buf_t b = { 0 };
    put_nal(&b, 4, sl->nal, sl->len, sl->clear + 15);          /* 15 protected bytes */
    put_nal(&b, 4, sl->nal, sl->len, sl->clear + 40);          /* 40 = 2 * 16 + 8 */
    check_layout(cbcs, &b, (cr_subsample_t[]){ { 4 + 8, 15 }, { 4 + 8, 40 } }, 2);
    check_layout(cenc, &b, (cr_subsample_t[]){ { 12 + 15 + 12 + 8, 32 } }, 1);
    assert_int_equal(cr_subsample_count(cbcs, b.p, b.len), 2);
    assert_int_equal(cr_subsample_count(cenc, b.p, b.len), 1);
    free(b.p);
    arena_free(a);
}

/* Clear runs over 65535 bytes: 65535-byte subsamples with nothing protected first. */
static void test_long_clear_runs(void **state)
{
    (void)state;
    unit_t u[AVC_UNITS];
    uint8_t cfg[256];
    pk_track_t t = crafted_track(0, u, 3, FOURCC('a','v','c','1'), 4, cfg);
    arena_t *a = arena_new();
    cr_subsample_ctx_t *c = ctx_for(&t, CBCS, a);
    static const uint8_t sei[] = { 0x06, 0x05 };
    const unit_t *sl = &u[AVC_SLICE_A];

    buf_t b = { 0 };                                /* SEI of 70000 + a slice */
    put_nal(&b, 4, sei, sizeof sei, 70000);
    put_nal(&b, 4, sl->nal, sl->len, sl->len);
    check_layout(c, &b, (cr_subsample_t[]){ { 65535, 0 }, { 70004 - 65535 + 4 + 8, 40 } }, 2);
    free(b.p);

    buf_t nv = { 0 };                               /* no slice at all: 140008 clear bytes */
    put_nal(&nv, 4, sei, sizeof sei, 70000);
    put_nal(&nv, 4, sei, sizeof sei, 70000);
    check_layout(c, &nv, (cr_subsample_t[]){ { 65535, 0 }, { 65535, 0 }, { 8938, 0 } }, 3);
    free(nv.p);

    buf_t e = { 0 };                                /* an empty sample: one {0, 0} */
    check_layout(c, &e, (cr_subsample_t[]){ { 0, 0 } }, 1);
    buf_t z = { 0 };                                /* zero-length NAL units are clear */
    put_nal(&z, 4, sei, 0, 0);
    put_nal(&z, 4, sl->nal, sl->len, sl->len);
    check_layout(c, &z, (cr_subsample_t[]){ { 4 + 4 + 8, 40 } }, 1);
    free(z.p);
    arena_free(a);
}

/* Only min(n, cap) entries are written, n is returned all the same. */
static void test_short_output(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_track_t t = video_track(FOURCC('a','v','c','1'), x264_avcc, sizeof x264_avcc, 4);
    cr_subsample_ctx_t *c = ctx_for(&t, CBCS, a);
    buf_t b = { 0 };
    put_nal(&b, 4, x264_p, sizeof x264_p, 100);
    put_nal(&b, 4, x264_p, sizeof x264_p, 100);
    cr_subsample_t out[2] = { { 7, 7 }, { 7, 7 } };
    assert_int_equal(cr_subsample_layout(c, b.p, b.len, out, 1), 2);
    assert_int_equal(out[0].clear, 10);
    assert_int_equal(out[1].clear, 7);              /* untouched */
    free(b.p);
    arena_free(a);
}

static void test_malformed(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_track_t t = video_track(FOURCC('a','v','c','1'), x264_avcc, sizeof x264_avcc, 4);
    cr_subsample_ctx_t *c = ctx_for(&t, CENC, a);
    cr_subsample_t out[4];

    static const uint8_t past[] = { 0, 0, 0, 9, 0x41, 0x9a };  /* 9 claimed, 2 there */
    assert_int_equal(cr_subsample_layout(c, past, sizeof past, out, 4), -EBADMSG);
    assert_non_null(strstr(logbuf, "passes the end"));
    static const uint8_t cut[] = { 0, 0, 0, 2, 0x09, 0xf0, 0, 0 };  /* half a length */
    assert_int_equal(cr_subsample_layout(c, cut, sizeof cut, out, 4), -EBADMSG);
    assert_non_null(strstr(logbuf, "4-byte NAL length at byte 6"));
    static const uint8_t forbidden[] = { 0, 0, 0, 2, 0x89, 0xf0 };
    assert_int_equal(cr_subsample_layout(c, forbidden, sizeof forbidden, out, 4), -EBADMSG);
    assert_non_null(strstr(logbuf, "forbidden_zero_bit"));
    static const uint8_t short_slice[] = { 0, 0, 0, 2, 0x41, 0x9a };
    assert_int_equal(cr_subsample_layout(c, short_slice, sizeof short_slice, out, 4),
                     -EBADMSG);
    assert_non_null(strstr(logbuf, "track 1: NAL unit 0 (type 1, 2 bytes at byte 4)"));
    /* first_mb 0, slice_type 5, pic_parameter_set_id 5: 1 00110 00110, never seen */
    static const uint8_t no_pps[] = { 0, 0, 0, 4, 0x41, 0x98, 0xdf, 0xff };
    assert_int_equal(cr_subsample_layout(c, no_pps, sizeof no_pps, out, 4), -EBADMSG);
    assert_non_null(strstr(logbuf, "PPS 5, not seen"));
    /* an SPS in band that does not parse */
    static const uint8_t bad_sps[] = { 0, 0, 0, 3, 0x67, 0x64, 0x00 };
    assert_int_equal(cr_subsample_layout(c, bad_sps, sizeof bad_sps, out, 4), -EBADMSG);
    assert_non_null(strstr(logbuf, "SPS truncated"));
    /* the counts function passes the error on, naming the sample */
    c->sample = 7;
    assert_int_equal(cr_subsample_count(c, past, sizeof past), -EBADMSG);
    assert_non_null(strstr(logbuf, "sample 7"));
    arena_free(a);
}

/* avc3: parameter sets in band replace and add to those of the config, and stay for the
 * next samples of the context; a new context without them refuses the slice. */
static void test_in_band_parameter_sets(void **state)
{
    (void)state;
    unit_t u[AVC_UNITS];
    uint8_t cfg[256];
    pk_track_t t = crafted_track(0, u, 1, FOURCC('a','v','c','3'), 4, cfg);  /* SPS only */
    arena_t *a = arena_new();
    cr_subsample_ctx_t *c = ctx_for(&t, CBCS, a), *fresh = ctx_for(&t, CBCS, a);
    const unit_t *sl = &u[AVC_SLICE_B];

    buf_t key = { 0 }, next = { 0 };
    put_nal(&key, 4, u[AVC_PPS1].nal, u[AVC_PPS1].len, u[AVC_PPS1].len);
    put_nal(&key, 4, sl->nal, sl->len, sl->len);
    put_nal(&next, 4, sl->nal, sl->len, sl->len);
    uint32_t prot = (uint32_t)(sl->len - sl->clear);
    check_layout(c, &key, (cr_subsample_t[]){
        { (uint32_t)(4 + u[AVC_PPS1].len + 4 + sl->clear), prot } }, 1);
    check_layout(c, &next, (cr_subsample_t[]){ { (uint32_t)(4 + sl->clear), prot } }, 1);
    assert_int_equal(cr_subsample_count(fresh, next.p, next.len), -EBADMSG);
    assert_non_null(strstr(logbuf, "PPS 1, not seen"));
    free(key.p), free(next.p);
    arena_free(a);
}

static void test_hevc_rules(void **state)
{
    (void)state;
    unit_t u[HEVC_UNITS];
    uint8_t cfg[1024];
    pk_track_t t = crafted_track(1, u, 3, FOURCC('h','e','v','1'), 2, cfg);
    arena_t *a = arena_new();
    cr_subsample_ctx_t *c = ctx_for(&t, CBCS, a);
    cr_subsample_t out[4];

    /* a slice of layer 1: not handled, refused rather than left clear */
    uint8_t layer1[64];
    memcpy(layer1, (const uint8_t[]){ 0, 20 }, 2);
    memcpy(layer1 + 2, u[HEVC_S4].nal, 20);
    layer1[3] |= 0x08;                              /* nuh_layer_id 1 */
    assert_int_equal(cr_subsample_layout(c, layer1, 22, out, 4), -ENOTSUP);
    assert_non_null(strstr(logbuf, "layer 1"));

    /* reserved VCL types and SEI stay clear; slices S3 and S4 are protected */
    static const uint8_t rsv[] = { 0x18, 0x01, 0xaa, 0xbb };       /* type 12 */
    static const uint8_t sei[] = { 0x4e, 0x01, 0x05, 0x01, 0x00 }; /* prefix SEI */
    buf_t b = { 0 };
    put_nal(&b, 2, sei, sizeof sei, sizeof sei);
    put_nal(&b, 2, u[HEVC_S3].nal, u[HEVC_S3].len, u[HEVC_S3].len);
    put_nal(&b, 2, rsv, sizeof rsv, sizeof rsv);
    put_nal(&b, 2, u[HEVC_S4].nal, u[HEVC_S4].len, u[HEVC_S4].len);
    check_layout(c, &b, (cr_subsample_t[]){
        { (uint32_t)(2 + sizeof sei + 2 + u[HEVC_S3].clear),
          (uint32_t)(u[HEVC_S3].len - u[HEVC_S3].clear) },
        { (uint32_t)(2 + sizeof rsv + 2 + u[HEVC_S4].clear),
          (uint32_t)(u[HEVC_S4].len - u[HEVC_S4].clear) } }, 2);
    free(b.p);

    /* an SPS of an SCC profile in band */
    bw_t w = { .bits = 0 };
    bw_u(&w, 8, 0x01);
    bw_u(&w, 8, 0x09);                              /* profile_idc 9 */
    bw_u(&w, 32, 0);
    bw_u(&w, 32, 0);
    bw_u(&w, 32, 0);
    unit_t scc = mk((const uint8_t[]){ 0x42, 0x01 }, 2, &w);
    buf_t s = { 0 };
    put_nal(&s, 2, scc.nal, scc.len, scc.len);
    assert_int_equal(cr_subsample_layout(c, s.p, s.len, out, 4), -ENOTSUP);
    assert_non_null(strstr(logbuf, "screen content"));
    free(s.p);
    arena_free(a);
}

static void test_init(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    cr_subsample_ctx_t *c = NULL;
    pk_track_t v = video_track(FOURCC('a','v','c','1'), x264_avcc, sizeof x264_avcc, 4);
    pk_track_t au = { .id = 2, .type = PK_TRACK_AUDIO, .fourcc = FOURCC('m','p','4','a') };
    pk_track_t tx = { .id = 3, .type = PK_TRACK_TEXT, .fourcc = FOURCC('w','v','t','t') };
    pk_track_t vp9 = { .id = 4, .type = PK_TRACK_VIDEO, .fourcc = FOURCC('v','p','0','9') };

    assert_int_equal(cr_subsample_init(&v, FOURCC('c','b','c','2'), a, &c), -EINVAL);
    assert_int_equal(cr_subsample_init(&tx, CENC, a, &c), -ENOTSUP);
    assert_int_equal(cr_subsample_init(&vp9, CENC, a, &c), -ENOTSUP);
    assert_int_equal(cr_subsample_init(&au, CBCS, a, &c), 0);
    static const uint8_t frame[] = { 1, 2, 3 };
    assert_int_equal(cr_subsample_layout(c, frame, sizeof frame, NULL, 0), 0);

    /* lengths of 3 bytes do not exist */
    pk_track_t l3 = v;
    l3.nal_length_size = 3;
    assert_int_equal(cr_subsample_init(&l3, CENC, a, &c), -EBADMSG);
    /* a cut config */
    pk_track_t cut = video_track(FOURCC('a','v','c','1'), x264_avcc, 20, 4);
    assert_int_equal(cr_subsample_init(&cut, CENC, a, &c), -EBADMSG);
    assert_non_null(strstr(logbuf, "avcC"));
    /* a config whose SPS does not parse */
    uint8_t bad[sizeof x264_avcc];
    memcpy(bad, x264_avcc, sizeof bad);
    bad[7] = 3;                                     /* SPS length 3: 67 64 00 */
    pk_track_t badsps = video_track(FOURCC('a','v','c','1'), bad, sizeof bad, 4);
    assert_int_equal(cr_subsample_init(&badsps, CENC, a, &c), -EBADMSG);
    arena_free(a);

    /* every allocation failing in turn gives -ENOMEM and no leak */
    pk_track_t h = video_track(FOURCC('h','v','c','1'), x265_hvcc, sizeof x265_hvcc, 4);
    for (unsigned n = 1;; n++) {
        arena_t *b = arena_new();
        arena_fail_after(b, n);
        int rc = cr_subsample_init(&h, CENC, b, &c);
        arena_free(b);
        if (rc == 0)
            break;
        assert_int_equal(rc, -ENOMEM);
        assert_true(n < 20);
    }
}

/* The counts of a whole track through a memory source: equal to the per-sample counts,
 * across runs of contiguous samples and gaps. */
static void test_track_counts(void **state)
{
    (void)state;
    unit_t u[AVC_UNITS];
    crafted_avc(u);
    uint8_t cfg[256];
    size_t len = config_of(0, u, 3, cfg);
    static const uint8_t sei[] = { 0x06, 0x05 };
    const unit_t *sl = &u[AVC_SLICE_A];

    buf_t file = { 0 };
    pk_sample_t s[6];
    int want[6];
    for (int i = 0; i < 6; i++) {
        if (i == 3)
            buf_put(&file, "gap!", 4);              /* samples 3.. are not contiguous */
        s[i].pos = file.len;
        s[i].cto = 0;
        int slices = i % 3;                         /* 0, 1 or 2 slices after an SEI */
        put_nal(&file, 4, sei, sizeof sei, i == 5 ? 70000 : 10);
        for (int k = 0; k < slices; k++)
            put_nal(&file, 4, sl->nal, sl->len, sl->len);
        s[i].size = (uint32_t)(file.len - s[i].pos);
        want[i] = slices ? slices : 1;
    }
    want[5] = 3;                                    /* 65535 + {rest, 40} + {12, 40} */

    pk_mem_t mem = { file.p, file.len };
    pk_source_t src = pk_source_mem(&mem, "mem.mp4");
    pk_track_t t = video_track(FOURCC('a','v','c','1'), cfg, len, 4);
    t.sample_count = 6;
    t.samples = s;
    arena_t *a = arena_new();
    uint16_t *counts = NULL;
    assert_int_equal(cr_subsample_counts(&t, CBCS, &src, a, &counts), 0);
    cr_subsample_ctx_t *c = ctx_for(&t, CBCS, a);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(counts[i], want[i]);
        assert_int_equal(cr_subsample_count(c, file.p + s[i].pos, s[i].size), want[i]);
    }

    /* every allocation failing in turn */
    for (unsigned n = 1;; n++) {
        arena_t *b = arena_new();
        arena_fail_after(b, n);
        int rc = cr_subsample_counts(&t, CENC, &src, b, &counts);
        arena_free(b);
        if (rc == 0)
            break;
        assert_int_equal(rc, -ENOMEM);
        assert_true(n < 20);
    }

    /* audio: zeros, nothing read */
    pk_track_t au = { .id = 2, .type = PK_TRACK_AUDIO, .sample_count = 6, .samples = s };
    pk_source_t none = { NULL, NULL, 0, "none" };
    assert_int_equal(cr_subsample_counts(&au, CENC, &none, a, &counts), 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(counts[i], 0);

    /* a sample past the end of the source */
    s[4].size += 100000;
    assert_int_equal(cr_subsample_counts(&t, CBCS, &src, a, &counts), -EBADMSG);
    assert_non_null(strstr(logbuf, "mem.mp4: track 1 sample 4"));
    s[4].size -= 100000;
    /* a bad sample: the error of the layout, logged with the sample */
    file.p[s[2].pos + 4 + 10 + 4] |= 0x80;          /* forbidden_zero_bit of its slice */
    assert_int_equal(cr_subsample_counts(&t, CBCS, &src, a, &counts), -EBADMSG);
    assert_non_null(strstr(logbuf, "track 1 sample 2: NAL unit 1"));
    free(file.p);
    arena_free(a);
}

/* ---- Apple SAMPLE-AES: what escaping adds to each sample ------------------------- */

/* The model, from HLS_Sample_Encryption 2.2.2 and 14496-10 7.4.1, with OpenSSL's plain
 * AES-128-CBC: in a slice (type 1 or 5) of more than 48 bytes, the block at 32 and
 * every 160 bytes after it is encrypted while more than 16 bytes remain, one chain from
 * the IV; the whole unit is then escaped (an 0x03 before any byte <= 3 after two zeros,
 * one after a final zero pair). Returns the bytes escaping adds. */
static size_t saes_model(const uint8_t key[16], const uint8_t iv[16], const uint8_t *nal,
                         size_t n)
{
    if (n <= 48 || ((nal[0] & 0x1f) != 1 && (nal[0] & 0x1f) != 5))
        return 0;
    uint8_t *p = malloc(n);
    memcpy(p, nal, n);
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
    assert_true(EVP_EncryptInit_ex(e, EVP_aes_128_cbc(), NULL, key, iv));
    EVP_CIPHER_CTX_set_padding(e, 0);
    for (size_t at = 32; at < n && n - at > 16; at += 160) {
        int outl = 0;
        assert_true(EVP_EncryptUpdate(e, p + at, &outl, p + at, 16) && outl == 16);
    }
    EVP_CIPHER_CTX_free(e);
    size_t added = 0, zeros = 0;
    for (size_t i = 0; i < n; i++) {
        if (zeros >= 2 && p[i] <= 3) {
            added++;
            zeros = 0;
        }
        zeros = p[i] == 0 ? zeros + 1 : 0;
    }
    if (zeros >= 2)
        added++;
    free(p);
    return added;
}

/* A unit as an encoder stores it: header byte, then len - 1 bytes in which emulation
 * prevention sequences (00 00 03 xx) are frequent, ending in a stop bit. */
static void stored_unit(uint8_t *u, size_t len, uint8_t hdr, unsigned seed)
{
    u[0] = hdr;
    for (size_t i = 1; i < len; i++)
        u[i] = (uint8_t)(seed * 131 + i * 29);
    for (size_t i = 5; i + 4 < len; i += 7 + (seed + i) % 23) {
        u[i] = 0, u[i + 1] = 0, u[i + 2] = 3;
        u[i + 3] = (uint8_t)((seed + i) % 4);
    }
    u[len - 1] = 0x80;
}

/* Every sample's growth equals the model's sum over its units: slices of many sizes
 * (the 48-byte edge, leaders full of 00 00 03), an SEI and a type 2 unit full of them
 * (never escaped again), 1-, 2- and 4-byte lengths; then the failures. */
static void test_saes_growth(void **state)
{
    (void)state;
    static const uint8_t key[16] = { 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
                                     0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
    static const uint8_t iv[16] = { 0xa5, 0x5a, 0x0f, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                    11, 12 };
    static const uint8_t avcc[] = { 1, 0x64, 0, 0x1f, 0xff, 0xe0, 0 };  /* no SPS needed */
    static uint8_t unit[70000];
    static const size_t sizes[] = { 10, 48, 49, 64, 65, 208, 209, 1000, 4099, 65000 };
    static const uint8_t hdrs[] = { 0x65, 0x41, 0x21, 0x06, 0x02, 0x25 };
    arena_t *a = arena_new();
    cr_aes_t *c = NULL;
    assert_int_equal(cr_aes_new(a, key, CR_AES_CBC_ENCRYPT, &c), 0);

    for (unsigned ls = 1; ls <= 4; ls *= 2) {
        buf_t file = { 0 };
        pk_sample_t s[12];
        uint64_t want[12] = { 0 }, total = 0;
        for (unsigned i = 0; i < 12; i++) {
            s[i].pos = file.len;
            s[i].cto = 0;
            for (unsigned k = 0; k < 1 + i % 3; k++) {
                size_t len = sizes[(i + 3 * k) % 10];
                if (ls == 1 && len > 255)
                    len = 200 + k;
                if (ls == 2 && len > 65535)
                    len = 60001;
                uint8_t h = hdrs[(i + k) % 6];
                stored_unit(unit, len, h, i * 7 + k);
                put_nal(&file, ls, unit, len, len);
                want[i] += saes_model(key, iv, unit, len);
            }
            s[i].size = (uint32_t)(file.len - s[i].pos);
            total += want[i];
        }
        assert_true(total > 40);                /* the stored EPBs are escaped again */
        pk_mem_t mem = { file.p, file.len };
        pk_source_t src = pk_source_mem(&mem, "mem.mp4");
        pk_track_t t = video_track(FOURCC('a','v','c','1'), avcc, sizeof avcc, ls);
        t.sample_count = 12;
        t.samples = s;
        uint32_t *g = NULL;
        assert_int_equal(cr_subsample_saes_growth(&t, c, iv, &src, a, &g), 0);
        for (unsigned i = 0; i < 12; i++)
            assert_int_equal(g[i], want[i]);

        /* the real transform writes exactly that many more bytes per unit */
        if (ls == 4) {
            const uint8_t *p = file.p + s[0].pos, *end = file.p + s[11].pos + s[11].size;
            static uint8_t scratch[70000], out[140000];
            uint64_t grown = 0;
            while (p < end) {
                size_t len = (size_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
                wr_t w = wr_init(out, sizeof out), cw = wr_counter();
                assert_int_equal(cr_aes_saes_nal_write(c, iv, p + 4, len, scratch, &cw), 0);
                assert_int_equal(cr_aes_saes_nal_write(c, iv, p + 4, len, scratch, &w), 0);
                assert_int_equal(cw.pos, w.pos);
                grown += w.pos - len;
                p += 4 + len;
            }
            assert_int_equal(grown, total);
        }

        /* every allocation failing in turn */
        for (unsigned n = 1;; n++) {
            arena_t *b = arena_new();
            arena_fail_after(b, n);
            int rc = cr_subsample_saes_growth(&t, c, iv, &src, b, &g);
            arena_free(b);
            if (rc == 0)
                break;
            assert_int_equal(rc, -ENOMEM);
            assert_true(n < 10);
        }
        /* a NAL length passing the end of its sample */
        file.p[s[6].pos + ls - 1]++;               /* its one unit: one byte too long */
        assert_int_equal(cr_subsample_saes_growth(&t, c, iv, &src, a, &g), -EBADMSG);
        assert_non_null(strstr(logbuf, "mem.mp4: track 1 sample 6: NAL unit at offset 0"));
        free(file.p);
    }

    /* only H.264 */
    pk_track_t hevc = video_track(FOURCC('h','v','c','1'), avcc, sizeof avcc, 4);
    pk_source_t none = { NULL, NULL, 0, "none" };
    uint32_t *g = NULL;
    assert_int_equal(cr_subsample_saes_growth(&hevc, c, iv, &none, a, &g), -ENOTSUP);
    pk_track_t au = { .id = 2, .type = PK_TRACK_AUDIO };
    assert_int_equal(cr_subsample_saes_growth(&au, c, iv, &none, a, &g), -ENOTSUP);
    assert_null(g);
    arena_free(a);
}

/* ---- drivers for tests/integration/crypt_subsample.sh ---------------------------------- */

/* Prints "SAMPLE SLICE END" for every protected slice of the first video track of an
 * MP4 (END: trace_headers' bit position after the slice header), and checks that the
 * layouts of both scheme classes cover every sample. */
static int trace_mp4(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return perror(path), 1;
    buf_t file = { 0 };
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_put(&file, chunk, n);
    fclose(f);
    pk_mem_t mem = { file.p, file.len };
    pk_source_t src = pk_source_mem(&mem, path);
    arena_t *a = arena_new();
    pk_media_t *m;
    const pk_track_t *t;
    cr_subsample_ctx_t *c, *cbcs;
    int rc = 1;
    if (pk_mp4_open(&src, a, &m) < 0 || !(t = pk_media_find(m, PK_TRACK_VIDEO)) ||
        cr_subsample_init(t, CENC, a, &c) < 0 || cr_subsample_init(t, CBCS, a, &cbcs) < 0)
        goto out;
    for (uint32_t i = 0; i < t->sample_count; i++) {
        const uint8_t *p = file.p + t->samples[i].pos;
        size_t size = t->samples[i].size, pos = 0, ls = t->nal_length_size;
        unsigned k = 0;
        while (pos + ls <= size) {
            size_t len = 0, clear, bits;
            for (size_t j = 0; j < ls; j++)
                len = len << 8 | p[pos + j];
            pos += ls;
            if (len > size - pos || (len && nal_clear(c, p + pos, len, &clear, &bits) < 0))
                goto out;
            if (len && bits)
                printf("%u %u %zu\n", i, k++, bits + (c->kind == KIND_AVC ? 8 : 16));
            pos += len;
        }
        cr_subsample_t sub[256];
        for (int s = 0; s < 2; s++) {
            int ns = cr_subsample_layout(s ? cbcs : c, p, size, sub, 256);
            if (ns < 1 || ns > 256)
                goto out;
            uint64_t sum = 0;
            for (int j = 0; j < ns; j++)
                sum += sub[j].clear + sub[j].prot;
            if (sum != size || (!s && sub[ns - 1].prot % 16)) {
                fprintf(stderr, "%s: sample %u: a layout that does not fit\n", path, i);
                goto out;
            }
        }
    }
    rc = 0;
out:
    arena_free(a);
    free(file.p);
    return rc;
}

/* Writes the hand-made stream as Annex B to `path` and prints "0 SLICE END" for each
 * slice as the parser finds it (the parameter sets given through the decoder config). */
static int crafted(const char *codec, const char *path)
{
    unit_t avc[AVC_UNITS], hevc[HEVC_UNITS];
    int is_hevc = !strcmp(codec, "hevc");
    unit_t *u = is_hevc ? hevc : avc;
    int n = is_hevc ? HEVC_UNITS : AVC_UNITS, rc = 1;
    if (is_hevc)
        crafted_hevc(hevc);
    else
        crafted_avc(avc);

    uint8_t cfg[1024];
    size_t len = config_of(is_hevc, u, 3, cfg);
    arena_t *a = arena_new();
    pk_track_t t = video_track(is_hevc ? FOURCC('h','v','c','1') : FOURCC('a','v','c','1'),
                               cfg, len, 4);
    cr_subsample_ctx_t *c;
    FILE *f = fopen(path, "wb");
    if (!f || cr_subsample_init(&t, CBCS, a, &c) < 0)
        goto out;
    for (int i = 0, k = 0; i < n; i++) {
        size_t clear, bits;
        fwrite("\0\0\0\1", 1, 4, f);
        fwrite(u[i].nal, 1, u[i].len, f);
        if (nal_clear(c, u[i].nal, u[i].len, &clear, &bits) < 0)
            goto out;
        if (bits)
            printf("0 %d %zu\n", k++, bits + (is_hevc ? 16 : 8));
    }
    rc = 0;
out:
    if (f && fclose(f))
        rc = 1;
    arena_free(a);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--trace"))
        return trace_mp4(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "--crafted"))
        return crafted(argv[2], argv[3]);
    pk_log_set_sink(capture, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_x264_samples),
        cmocka_unit_test(test_x265_samples),
        cmocka_unit_test(test_crafted_avc),
        cmocka_unit_test(test_crafted_hevc),
        cmocka_unit_test(test_merging_and_length_sizes),
        cmocka_unit_test(test_cenc_small_slice),
        cmocka_unit_test(test_long_clear_runs),
        cmocka_unit_test(test_short_output),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_in_band_parameter_sets),
        cmocka_unit_test(test_hevc_rules),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_track_counts),
        cmocka_unit_test(test_saes_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
