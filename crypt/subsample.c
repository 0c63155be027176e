#include "subsample.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../pack/bytes.h"
#include "../pack/log.h"

enum { KIND_AUDIO, KIND_AVC, KIND_HEVC };

/* 23008-2 7.4.8: num_negative_pics + num_positive_pics <= sps_max_dec_pic_buffering_minus1 <= 15 */
#define RPS_MAX 16

/* ---- the fields of the parameter sets that slice headers depend on -------- */

typedef struct {                /* 14496-10 7.3.2.1.1 */
    uint8_t chroma_array_type;
    uint8_t separate_colour_plane;
    uint8_t frame_mbs_only;
    uint8_t log2_max_frame_num;             /* bits of frame_num, 4..16 */
    uint8_t poc_type;
    uint8_t log2_max_poc_lsb;               /* bits of pic_order_cnt_lsb, 4..16 */
    uint8_t delta_pic_order_always_zero;
    uint32_t pic_size_in_map_units;         /* PicWidthInMbs * PicHeightInMapUnits */
} avc_sps_t;

typedef struct {                /* 14496-10 7.3.2.2 */
    uint8_t sps_id;
    uint8_t entropy_coding_mode;
    uint8_t bottom_field_pic_order;         /* bottom_field_pic_order_in_frame_present_flag */
    uint8_t num_slice_groups_minus1;
    uint8_t slice_group_map_type;
    uint8_t weighted_pred;
    uint8_t weighted_bipred_idc;
    uint8_t deblocking_filter_control;
    uint8_t redundant_pic_cnt_present;
    uint32_t num_ref_idx_default[2];        /* num_ref_idx_l{0,1}_default_active_minus1 */
    uint32_t slice_group_change_rate;       /* slice_group_change_rate_minus1 + 1 */
} avc_pps_t;

typedef struct {                /* 23008-2 7.4.8: one short-term reference picture set */
    uint8_t num_neg, num_pos;
    uint8_t used_s0[RPS_MAX], used_s1[RPS_MAX];
    int32_t delta_s0[RPS_MAX], delta_s1[RPS_MAX];  /* DeltaPocS0/S1, picture order counts */
} rps_t;

typedef struct {                /* 23008-2 7.3.2.2.1 */
    uint8_t chroma_array_type;
    uint8_t separate_colour_plane;
    uint8_t log2_max_poc_lsb;               /* bits of slice_pic_order_cnt_lsb, 4..16 */
    uint8_t num_sets;                       /* num_short_term_ref_pic_sets, <= 64 */
    uint8_t long_term_present;
    uint8_t num_lt;                         /* num_long_term_ref_pics_sps, <= 32 */
    uint8_t temporal_mvp;
    uint8_t sao;
    uint32_t lt_used;                       /* bit i: used_by_curr_pic_lt_sps_flag[i] */
    uint32_t pic_size_in_ctbs;              /* PicSizeInCtbsY */
    rps_t rps[64];                          /* [num_sets] */
} hevc_sps_t;

typedef struct {                /* 23008-2 7.3.2.3.1 */
    uint8_t sps_id;
    uint8_t dependent_slice_segments;
    uint8_t output_flag_present;
    uint8_t num_extra_slice_header_bits;
    uint8_t cabac_init_present;
    uint8_t slice_chroma_qp_offsets;        /* pps_slice_chroma_qp_offsets_present_flag */
    uint8_t weighted_pred, weighted_bipred;
    uint8_t entry_points;                   /* tiles_enabled || entropy_coding_sync_enabled */
    uint8_t loop_filter_across_slices;
    uint8_t deblocking_override_enabled;
    uint8_t deblocking_disabled;            /* pps_deblocking_filter_disabled_flag */
    uint8_t lists_modification;
    uint8_t header_extension;               /* slice_segment_header_extension_present_flag */
    uint8_t chroma_qp_offset_list;          /* pps_range_extension: ..._enabled_flag */
    uint32_t num_ref_idx_default[2];        /* num_ref_idx_l{0,1}_default_active_minus1 */
} hevc_pps_t;

struct cr_subsample_ctx {
    int kind;
    int align;                  /* cenc family: protected counts are multiples of 16 */
    unsigned nal_length_size;   /* 1, 2 or 4 */
    uint32_t track_id;          /* for log lines */
    uint32_t sample;            /* index of the sample being laid out, for log lines;
                                 * UINT32_MAX when the caller did not say */
    arena_t *a;
    char why[160];              /* what the last parse failure was, for the one log line */
    avc_sps_t *avc_sps[32];     /* by seq_parameter_set_id, NULL until seen */
    avc_pps_t *avc_pps[256];    /* by pic_parameter_set_id */
    hevc_sps_t *hevc_sps[16];
    hevc_pps_t *hevc_pps[64];
    hevc_sps_t *scratch;        /* HEVC SPS being parsed (too big for the stack) */
};

__attribute__((format(printf, 3, 4)))
static int failed(cr_subsample_ctx_t *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- bit reader over a NAL unit as stored --------------------------------- */

/*
 * MSB-first over the RBSP of a NAL payload given as stored, skipping emulation
 * prevention bytes (14496-10 7.4.1, 23008-2 7.4.2: 0x03 after two zero bytes).
 * Bytes are loaded only when a bit of them is needed, so p - start is the number
 * of stored bytes, EPBs included, that hold the bits read so far: the clear
 * length of a header that ends there. Sticky error like rd_t.
 */
typedef struct {
    const uint8_t *start, *p, *end;
    unsigned cur, left, zeros;  /* current byte, its unread bits, zero bytes before p */
    size_t bits;                /* RBSP bits read */
    int err;                    /* 0 or -EBADMSG */
} br_t;

static br_t br_init(const uint8_t *p, size_t n)
{
    return (br_t){ .start = p, .p = p, .end = p + n };
}

static unsigned br_bit(br_t *b)
{
    if (!b->left) {
        if (b->zeros >= 2 && b->p < b->end && *b->p == 3) {
            b->p++;
            b->zeros = 0;
        }
        if (b->p >= b->end) {
            b->err = -EBADMSG;
            return 0;
        }
        b->cur = *b->p++;
        b->zeros = b->cur ? 0 : b->zeros + 1;
        b->left = 8;
    }
    b->left--;
    b->bits++;
    return b->cur >> b->left & 1u;
}

/* u(n), n <= 32 */
static uint32_t br_u(br_t *b, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 1 | br_bit(b);
    return v;
}

static void br_skip(br_t *b, uint64_t n)
{
    while (n-- && !b->err)
        br_bit(b);
}

/* ue(v), 9.1: up to 31 leading zeros (values < 2^32 - 1) */
static uint32_t br_ue(br_t *b)
{
    unsigned zeros = 0;
    while (!br_bit(b)) {
        if (b->err || ++zeros > 31) {
            b->err = -EBADMSG;
            return 0;
        }
    }
    return (uint32_t)((1ull << zeros) - 1 + br_u(b, zeros));
}

/* ue(v) with the range the semantics allow: a value above max is an error. */
static uint32_t br_uemax(br_t *b, uint32_t max)
{
    uint32_t v = br_ue(b);
    if (v <= max)
        return v;
    b->err = -EBADMSG;
    return 0;
}

/* se(v), 9.1.1 */
static int64_t br_se(br_t *b)
{
    uint32_t k = br_ue(b);
    return k & 1 ? (int64_t)(k >> 1) + 1 : -(int64_t)(k >> 1);
}

/* Ceil(Log2(x)): the bits of a u(v) holding 0..x-1. */
static unsigned ceil_log2(uint64_t x)
{
    unsigned n = 0;
    while (n < 63 && (1ull << n) < x)
        n++;
    return n;
}

/* ---- AVC parameter sets ---------------------------------------------------- */

/* 14496-10 7.3.2.1.1.1: only the bits matter. */
static void avc_skip_scaling_list(br_t *b, unsigned size)
{
    int64_t last = 8, next = 8;
    for (unsigned j = 0; j < size && !b->err; j++) {
        if (next) {
            int64_t delta = br_se(b);
            if (delta < -128 || delta > 127)
                b->err = -EBADMSG;
            next = (last + delta + 256) % 256;
        }
        last = next ? next : last;
    }
}

static int avc_high_profile(unsigned p)
{
    switch (p) {
    case 100: case 110: case 122: case 244: case 44: case 83: case 86: case 118:
    case 128: case 138: case 139: case 134: case 135:
        return 1;
    default:
        return 0;
    }
}

/* seq_parameter_set_rbsp() up to frame_mbs_only_flag; nal[0] is the NAL header. */
static int avc_parse_sps(cr_subsample_ctx_t *c, const uint8_t *nal, size_t n)
{
    br_t b = br_init(nal + 1, n - 1);
    avc_sps_t s = { 0 };
    unsigned profile = br_u(&b, 8);
    br_u(&b, 16);                                   /* constraint flags, level_idc */
    uint32_t id = br_uemax(&b, 31);
    uint32_t chroma = 1;
    if (avc_high_profile(profile)) {
        chroma = br_uemax(&b, 3);
        if (chroma == 3)
            s.separate_colour_plane = (uint8_t)br_bit(&b);
        br_ue(&b);                                  /* bit_depth_luma_minus8 */
        br_ue(&b);                                  /* bit_depth_chroma_minus8 */
        br_bit(&b);                                 /* qpprime_y_zero_transform_bypass_flag */
        if (br_bit(&b)) {                           /* seq_scaling_matrix_present_flag */
            for (unsigned i = 0; i < (chroma != 3 ? 8u : 12u) && !b.err; i++)
                if (br_bit(&b))
                    avc_skip_scaling_list(&b, i < 6 ? 16 : 64);
        }
    }
    s.chroma_array_type = s.separate_colour_plane ? 0 : (uint8_t)chroma;
    s.log2_max_frame_num = (uint8_t)(br_uemax(&b, 12) + 4);
    s.poc_type = (uint8_t)br_uemax(&b, 2);
    if (s.poc_type == 0) {
        s.log2_max_poc_lsb = (uint8_t)(br_uemax(&b, 12) + 4);
    } else if (s.poc_type == 1) {
        s.delta_pic_order_always_zero = (uint8_t)br_bit(&b);
        br_se(&b);                                  /* offset_for_non_ref_pic */
        br_se(&b);                                  /* offset_for_top_to_bottom_field */
        uint32_t cycle = br_uemax(&b, 255);
        for (uint32_t i = 0; i < cycle && !b.err; i++)
            br_se(&b);                              /* offset_for_ref_frame[i] */
    }
    br_ue(&b);                                      /* max_num_ref_frames */
    br_bit(&b);                                     /* gaps_in_frame_num_value_allowed_flag */
    uint64_t w = (uint64_t)br_ue(&b) + 1, h = (uint64_t)br_ue(&b) + 1;
    s.frame_mbs_only = (uint8_t)br_bit(&b);
    if (b.err)
        return failed(c, -EBADMSG, "SPS truncated or out of range");
    if (w * h > (1u << 22))
        return failed(c, -EBADMSG, "SPS picture of %llu x %llu macroblocks",
                    (unsigned long long)w, (unsigned long long)h);
    s.pic_size_in_map_units = (uint32_t)(w * h);
    if (!c->avc_sps[id] && !(c->avc_sps[id] = arena_alloc(c->a, sizeof s)))
        return -ENOMEM;
    *c->avc_sps[id] = s;
    return 0;
}

/* pic_parameter_set_rbsp() up to redundant_pic_cnt_present_flag. */
static int avc_parse_pps(cr_subsample_ctx_t *c, const uint8_t *nal, size_t n)
{
    br_t b = br_init(nal + 1, n - 1);
    avc_pps_t p = { 0 };
    uint32_t id = br_uemax(&b, 255);
    p.sps_id = (uint8_t)br_uemax(&b, 31);
    p.entropy_coding_mode = (uint8_t)br_bit(&b);
    p.bottom_field_pic_order = (uint8_t)br_bit(&b);
    p.num_slice_groups_minus1 = (uint8_t)br_uemax(&b, 7);
    if (p.num_slice_groups_minus1) {
        unsigned groups = p.num_slice_groups_minus1;
        p.slice_group_map_type = (uint8_t)br_uemax(&b, 6);
        switch (p.slice_group_map_type) {
        case 0:
            for (unsigned i = 0; i <= groups && !b.err; i++)
                br_ue(&b);                          /* run_length_minus1 */
            break;
        case 2:
            for (unsigned i = 0; i < groups && !b.err; i++) {
                br_ue(&b);                          /* top_left */
                br_ue(&b);                          /* bottom_right */
            }
            break;
        case 3: case 4: case 5:
            br_bit(&b);                             /* slice_group_change_direction_flag */
            p.slice_group_change_rate = br_ue(&b) + 1;
            break;
        case 6: {
            uint32_t units = br_ue(&b);             /* pic_size_in_map_units_minus1 */
            unsigned bits = ceil_log2(groups + 1);
            for (uint64_t i = 0; i <= units && !b.err; i++)
                br_u(&b, bits);                     /* slice_group_id[i] */
            break;
        }
        default:
            break;
        }
    }
    p.num_ref_idx_default[0] = br_uemax(&b, 31);
    p.num_ref_idx_default[1] = br_uemax(&b, 31);
    p.weighted_pred = (uint8_t)br_bit(&b);
    p.weighted_bipred_idc = (uint8_t)br_u(&b, 2);
    br_se(&b);                                      /* pic_init_qp_minus26 */
    br_se(&b);                                      /* pic_init_qs_minus26 */
    br_se(&b);                                      /* chroma_qp_index_offset */
    p.deblocking_filter_control = (uint8_t)br_bit(&b);
    br_bit(&b);                                     /* constrained_intra_pred_flag */
    p.redundant_pic_cnt_present = (uint8_t)br_bit(&b);
    if (b.err || p.weighted_bipred_idc == 3)
        return failed(c, -EBADMSG, "PPS truncated or out of range");
    if (!c->avc_pps[id] && !(c->avc_pps[id] = arena_alloc(c->a, sizeof p)))
        return -ENOMEM;
    *c->avc_pps[id] = p;
    return 0;
}

/* ---- AVC slice header ------------------------------------------------------ */

enum { SLICE_P = 0, SLICE_B = 1, SLICE_I = 2, SLICE_SP = 3, SLICE_SI = 4 };

/*
 * slice_header() of 14496-10 7.3.3 of the slice NAL unit nal[0..n) (type 1 or 5),
 * read through into *b (positioned after the last header bit).
 */
static int avc_slice_header(cr_subsample_ctx_t *c, const uint8_t *nal, size_t n, br_t *out)
{
    br_t b = br_init(nal + 1, n - 1);
    unsigned ref_idc = nal[0] >> 5 & 3u;
    int idr = (nal[0] & 0x1f) == 5;

    br_ue(&b);                                      /* first_mb_in_slice */
    uint32_t type = br_uemax(&b, 9) % 5;
    uint32_t pps_id = br_uemax(&b, 255);
    if (b.err)
        return failed(c, -EBADMSG, "slice header truncated or out of range");
    const avc_pps_t *pps = c->avc_pps[pps_id];
    if (!pps)
        return failed(c, -EBADMSG, "slice refers to PPS %u, not seen", (unsigned)pps_id);
    const avc_sps_t *sps = c->avc_sps[pps->sps_id];
    if (!sps)
        return failed(c, -EBADMSG, "PPS %u refers to SPS %u, not seen", (unsigned)pps_id,
                    (unsigned)pps->sps_id);

    if (sps->separate_colour_plane)
        br_u(&b, 2);                                /* colour_plane_id */
    br_u(&b, sps->log2_max_frame_num);              /* frame_num */
    unsigned field = 0;
    if (!sps->frame_mbs_only && (field = br_bit(&b)))
        br_bit(&b);                                 /* bottom_field_flag */
    if (idr)
        br_ue(&b);                                  /* idr_pic_id */
    if (sps->poc_type == 0) {
        br_u(&b, sps->log2_max_poc_lsb);            /* pic_order_cnt_lsb */
        if (pps->bottom_field_pic_order && !field)
            br_se(&b);                              /* delta_pic_order_cnt_bottom */
    }
    if (sps->poc_type == 1 && !sps->delta_pic_order_always_zero) {
        br_se(&b);                                  /* delta_pic_order_cnt[0] */
        if (pps->bottom_field_pic_order && !field)
            br_se(&b);                              /* delta_pic_order_cnt[1] */
    }
    if (pps->redundant_pic_cnt_present)
        br_ue(&b);                                  /* redundant_pic_cnt */
    if (type == SLICE_B)
        br_bit(&b);                                 /* direct_spatial_mv_pred_flag */
    uint32_t nref[2] = { pps->num_ref_idx_default[0], pps->num_ref_idx_default[1] };
    unsigned lists = type == SLICE_B ? 2 : (type == SLICE_P || type == SLICE_SP) ? 1 : 0;
    if (lists && br_bit(&b)) {                      /* num_ref_idx_active_override_flag */
        nref[0] = br_ue(&b);
        if (lists == 2)
            nref[1] = br_ue(&b);
    }
    for (unsigned l = 0; l < lists; l++)
        if (nref[l] > (field ? 31u : 15u))
            b.err = -EBADMSG;

    /* ref_pic_list_modification() 7.3.3.1: at most num_ref_idx + 1 operations and the end */
    for (unsigned l = 0; l < lists && !b.err; l++) {
        if (!br_bit(&b))
            continue;
        for (unsigned k = 0;; k++) {
            uint32_t idc = br_ue(&b);               /* modification_of_pic_nums_idc */
            if (idc == 3 || b.err)
                break;
            if (idc > 2 || k > nref[l] + 1) {
                b.err = -EBADMSG;
                break;
            }
            br_ue(&b);                              /* abs_diff_pic_num_minus1, long_term_pic_num */
        }
    }

    if ((pps->weighted_pred && (type == SLICE_P || type == SLICE_SP)) ||
        (pps->weighted_bipred_idc == 1 && type == SLICE_B)) {
        /* pred_weight_table() 7.3.3.2 */
        br_uemax(&b, 7);                            /* luma_log2_weight_denom */
        if (sps->chroma_array_type)
            br_uemax(&b, 7);                        /* chroma_log2_weight_denom */
        for (unsigned l = 0; l < lists; l++) {
            for (uint32_t i = 0; i <= nref[l] && !b.err; i++) {
                if (br_bit(&b)) {                   /* luma_weight_lX_flag */
                    br_se(&b);
                    br_se(&b);
                }
                if (sps->chroma_array_type && br_bit(&b))
                    for (int j = 0; j < 4; j++)     /* chroma weight and offset, Cb and Cr */
                        br_se(&b);
            }
        }
    }

    if (ref_idc) {
        /* dec_ref_pic_marking() 7.3.3.3 */
        if (idr) {
            br_bit(&b);                             /* no_output_of_prior_pics_flag */
            br_bit(&b);                             /* long_term_reference_flag */
        } else if (br_bit(&b)) {                    /* adaptive_ref_pic_marking_mode_flag */
            for (unsigned k = 0;; k++) {
                uint32_t op = br_ue(&b);            /* memory_management_control_operation */
                if (op == 0 || b.err)
                    break;
                if (op > 6 || k > 66) {
                    b.err = -EBADMSG;
                    break;
                }
                if (op == 1 || op == 3 || op == 2)
                    br_ue(&b);                      /* difference_of_pic_nums_minus1, l_t_p_n */
                if (op == 3 || op == 6)
                    br_ue(&b);                      /* long_term_frame_idx */
                if (op == 4)
                    br_ue(&b);                      /* max_long_term_frame_idx_plus1 */
            }
        }
    }
    if (pps->entropy_coding_mode && type != SLICE_I && type != SLICE_SI)
        br_uemax(&b, 2);                            /* cabac_init_idc */
    br_se(&b);                                      /* slice_qp_delta */
    if (type == SLICE_SP || type == SLICE_SI) {
        if (type == SLICE_SP)
            br_bit(&b);                             /* sp_for_switch_flag */
        br_se(&b);                                  /* slice_qs_delta */
    }
    if (pps->deblocking_filter_control && br_uemax(&b, 2) != 1) {
        br_se(&b);                                  /* slice_alpha_c0_offset_div2 */
        br_se(&b);                                  /* slice_beta_offset_div2 */
    }
    if (pps->num_slice_groups_minus1 && pps->slice_group_map_type >= 3 &&
        pps->slice_group_map_type <= 5) {
        /* slice_group_change_cycle: Ceil(Log2(PicSizeInMapUnits ÷ SliceGroupChangeRate + 1)) */
        uint64_t size = sps->pic_size_in_map_units, rate = pps->slice_group_change_rate;
        unsigned bits = 0;
        while (bits < 32 && (1ull << bits) * rate < size + rate)
            bits++;
        br_u(&b, bits);
    }
    if (b.err)
        return failed(c, -EBADMSG, "slice header truncated or out of range");
    *out = b;
    return 0;
}

/* ---- HEVC parameter sets --------------------------------------------------- */

/* profile_tier_level(1, max_sub) of 23008-2 7.3.3. SCC profiles (9, 11) change
 * the slice header in ways not parsed here. */
static int hevc_ptl(cr_subsample_ctx_t *c, br_t *b, unsigned max_sub)
{
    br_u(b, 3);                                     /* general_profile_space, tier_flag */
    unsigned idc = br_u(b, 5);
    br_u(b, 32);                                    /* general_profile_compatibility_flag */
    br_u(b, 32);                                    /* source flags, constraint flags... */
    br_u(b, 16);                                    /* ...48 bits in all */
    br_u(b, 8);                                     /* general_level_idc */
    unsigned prof = 0, level = 0;
    for (unsigned i = 0; i < max_sub; i++) {
        prof |= br_bit(b) << i;
        level |= br_bit(b) << i;
    }
    if (max_sub > 0)
        for (unsigned i = max_sub; i < 8; i++)
            br_u(b, 2);                             /* reserved_zero_2bits */
    for (unsigned i = 0; i < max_sub; i++) {
        if (prof >> i & 1)
            br_skip(b, 88);
        if (level >> i & 1)
            br_u(b, 8);
    }
    if (idc == 9 || idc == 11)
        return failed(c, -ENOTSUP, "HEVC screen content coding profile %u", idc);
    return 0;
}

/* scaling_list_data() 7.3.4: only the bits matter. */
static void hevc_skip_scaling_list_data(br_t *b)
{
    for (unsigned size = 0; size < 4; size++) {
        for (unsigned m = 0; m < 6 && !b->err; m += size == 3 ? 3 : 1) {
            if (!br_bit(b)) {                       /* scaling_list_pred_mode_flag */
                br_ue(b);                           /* scaling_list_pred_matrix_id_delta */
                continue;
            }
            unsigned coefs = 1u << (4 + (size << 1));
            if (coefs > 64)
                coefs = 64;
            if (size > 1)
                br_se(b);                           /* scaling_list_dc_coef_minus8 */
            for (unsigned i = 0; i < coefs && !b->err; i++)
                br_se(b);                           /* scaling_list_delta_coef */
        }
    }
}

static int rps_push(int32_t *delta, uint8_t *used, unsigned *i, int32_t d, uint8_t u)
{
    if (*i >= RPS_MAX)
        return -1;
    delta[*i] = d;
    used[(*i)++] = u;
    return 0;
}

/*
 * st_ref_pic_set(idx) of 23008-2 7.3.7 with the derivation of 7.4.8 into *out:
 * sets[0..idx) are the SPS's sets before it; idx == num (num_short_term_ref_pic_sets)
 * for the set of a slice header. Returns 0 or -EBADMSG (b->err set).
 */
static int hevc_st_rps(br_t *b, const rps_t *sets, unsigned idx, unsigned num, rps_t *out)
{
    memset(out, 0, sizeof *out);
    if (idx && br_bit(b)) {                         /* inter_ref_pic_set_prediction_flag */
        uint64_t back = idx == num ? (uint64_t)br_ue(b) + 1 : 1;   /* delta_idx_minus1 + 1 */
        if (b->err || back > idx)
            return b->err = -EBADMSG;
        const rps_t *ref = &sets[idx - back];
        unsigned sign = br_bit(b);                  /* delta_rps_sign */
        int32_t abs = (int32_t)br_uemax(b, 32767) + 1;
        int32_t d_rps = sign ? -abs : abs;
        unsigned nd = ref->num_neg + ref->num_pos;
        uint8_t used[2 * RPS_MAX + 1], use_delta[2 * RPS_MAX + 1];
        for (unsigned j = 0; j <= nd; j++) {
            used[j] = (uint8_t)br_bit(b);           /* used_by_curr_pic_flag[j] */
            use_delta[j] = used[j] ? 1 : (uint8_t)br_bit(b);
        }
        unsigned i = 0, bad = 0;
        /* (7-61) */
        for (int j = ref->num_pos - 1; j >= 0; j--) {
            int32_t d = ref->delta_s1[j] + d_rps;
            if (d < 0 && use_delta[ref->num_neg + j])
                bad |= rps_push(out->delta_s0, out->used_s0, &i, d, used[ref->num_neg + j]);
        }
        if (d_rps < 0 && use_delta[nd])
            bad |= rps_push(out->delta_s0, out->used_s0, &i, d_rps, used[nd]);
        for (unsigned j = 0; j < ref->num_neg; j++) {
            int32_t d = ref->delta_s0[j] + d_rps;
            if (d < 0 && use_delta[j])
                bad |= rps_push(out->delta_s0, out->used_s0, &i, d, used[j]);
        }
        out->num_neg = (uint8_t)i;
        /* (7-62) */
        i = 0;
        for (int j = ref->num_neg - 1; j >= 0; j--) {
            int32_t d = ref->delta_s0[j] + d_rps;
            if (d > 0 && use_delta[j])
                bad |= rps_push(out->delta_s1, out->used_s1, &i, d, used[j]);
        }
        if (d_rps > 0 && use_delta[nd])
            bad |= rps_push(out->delta_s1, out->used_s1, &i, d_rps, used[nd]);
        for (unsigned j = 0; j < ref->num_pos; j++) {
            int32_t d = ref->delta_s1[j] + d_rps;
            if (d > 0 && use_delta[ref->num_neg + j])
                bad |= rps_push(out->delta_s1, out->used_s1, &i, d, used[ref->num_neg + j]);
        }
        out->num_pos = (uint8_t)i;
        if (bad || out->num_neg + out->num_pos > RPS_MAX)
            b->err = -EBADMSG;
        return b->err;
    }
    uint32_t neg = br_uemax(b, RPS_MAX), pos = br_uemax(b, RPS_MAX);
    if (b->err || neg + pos > RPS_MAX)
        return b->err = -EBADMSG;
    int32_t poc = 0;
    for (unsigned i = 0; i < neg; i++) {
        poc -= (int32_t)br_uemax(b, 32767) + 1;     /* delta_poc_s0_minus1 */
        out->delta_s0[i] = poc;
        out->used_s0[i] = (uint8_t)br_bit(b);
    }
    poc = 0;
    for (unsigned i = 0; i < pos; i++) {
        poc += (int32_t)br_uemax(b, 32767) + 1;     /* delta_poc_s1_minus1 */
        out->delta_s1[i] = poc;
        out->used_s1[i] = (uint8_t)br_bit(b);
    }
    out->num_neg = (uint8_t)neg;
    out->num_pos = (uint8_t)pos;
    return b->err;
}

/* seq_parameter_set_rbsp() of 23008-2 7.3.2.2.1 up to sps_temporal_mvp_enabled_flag. */
static int hevc_parse_sps(cr_subsample_ctx_t *c, const uint8_t *nal, size_t n)
{
    br_t b = br_init(nal + 2, n - 2);
    hevc_sps_t *s = c->scratch;
    memset(s, 0, sizeof *s);
    br_u(&b, 4);                                    /* sps_video_parameter_set_id */
    unsigned max_sub = br_u(&b, 3);                 /* sps_max_sub_layers_minus1 */
    br_bit(&b);                                     /* sps_temporal_id_nesting_flag */
    if (max_sub > 6)
        b.err = -EBADMSG;
    int rc = hevc_ptl(c, &b, max_sub);
    if (rc < 0)
        return rc;
    uint32_t id = br_uemax(&b, 15);
    uint32_t chroma = br_uemax(&b, 3);
    if (chroma == 3)
        s->separate_colour_plane = (uint8_t)br_bit(&b);
    s->chroma_array_type = s->separate_colour_plane ? 0 : (uint8_t)chroma;
    uint64_t w = br_ue(&b), h = br_ue(&b);          /* pic_{width,height}_in_luma_samples */
    if (br_bit(&b))                                 /* conformance_window_flag */
        for (int i = 0; i < 4; i++)
            br_ue(&b);
    br_ue(&b);                                      /* bit_depth_luma_minus8 */
    br_ue(&b);                                      /* bit_depth_chroma_minus8 */
    s->log2_max_poc_lsb = (uint8_t)(br_uemax(&b, 12) + 4);
    unsigned all = br_bit(&b);                      /* sps_sub_layer_ordering_info_present_flag */
    for (unsigned i = all ? 0 : max_sub; i <= max_sub && !b.err; i++) {
        br_ue(&b);                                  /* sps_max_dec_pic_buffering_minus1 */
        br_ue(&b);                                  /* sps_max_num_reorder_pics */
        br_ue(&b);                                  /* sps_max_latency_increase_plus1 */
    }
    unsigned min_cb = br_uemax(&b, 3) + 3;          /* MinCbLog2SizeY */
    unsigned ctb = min_cb + br_uemax(&b, 3);        /* CtbLog2SizeY */
    for (int i = 0; i < 4; i++)
        br_ue(&b);                                  /* transform block sizes and depths */
    if (br_bit(&b) && br_bit(&b))                   /* scaling_list_enabled, ..._data_present */
        hevc_skip_scaling_list_data(&b);
    br_bit(&b);                                     /* amp_enabled_flag */
    s->sao = (uint8_t)br_bit(&b);
    if (br_bit(&b)) {                               /* pcm_enabled_flag */
        br_u(&b, 8);                                /* pcm sample bit depths */
        br_ue(&b);
        br_ue(&b);
        br_bit(&b);
    }
    s->num_sets = (uint8_t)br_uemax(&b, 64);
    for (unsigned i = 0; i < s->num_sets && !b.err; i++)
        hevc_st_rps(&b, s->rps, i, s->num_sets, &s->rps[i]);
    if ((s->long_term_present = (uint8_t)br_bit(&b))) {
        s->num_lt = (uint8_t)br_uemax(&b, 32);
        for (unsigned i = 0; i < s->num_lt && !b.err; i++) {
            br_u(&b, s->log2_max_poc_lsb);          /* lt_ref_pic_poc_lsb_sps */
            s->lt_used |= (uint32_t)br_bit(&b) << i;
        }
    }
    s->temporal_mvp = (uint8_t)br_bit(&b);
    if (b.err)
        return failed(c, -EBADMSG, "SPS truncated or out of range");
    uint64_t cw = (w + (1u << ctb) - 1) >> ctb, ch = (h + (1u << ctb) - 1) >> ctb;
    if (!cw || !ch || cw * ch > (1u << 22))
        return failed(c, -EBADMSG, "SPS picture of %llu x %llu luma samples",
                    (unsigned long long)w, (unsigned long long)h);
    s->pic_size_in_ctbs = (uint32_t)(cw * ch);
    if (!c->hevc_sps[id] && !(c->hevc_sps[id] = arena_alloc(c->a, sizeof *s)))
        return -ENOMEM;
    *c->hevc_sps[id] = *s;
    return 0;
}

/* pic_parameter_set_rbsp() of 23008-2 7.3.2.3.1 through pps_range_extension(). */
static int hevc_parse_pps(cr_subsample_ctx_t *c, const uint8_t *nal, size_t n)
{
    br_t b = br_init(nal + 2, n - 2);
    hevc_pps_t p = { 0 };
    uint32_t id = br_uemax(&b, 63);
    p.sps_id = (uint8_t)br_uemax(&b, 15);
    p.dependent_slice_segments = (uint8_t)br_bit(&b);
    p.output_flag_present = (uint8_t)br_bit(&b);
    p.num_extra_slice_header_bits = (uint8_t)br_u(&b, 3);
    br_bit(&b);                                     /* sign_data_hiding_enabled_flag */
    p.cabac_init_present = (uint8_t)br_bit(&b);
    p.num_ref_idx_default[0] = br_uemax(&b, 14);
    p.num_ref_idx_default[1] = br_uemax(&b, 14);
    br_se(&b);                                      /* init_qp_minus26 */
    br_bit(&b);                                     /* constrained_intra_pred_flag */
    unsigned transform_skip = br_bit(&b);
    if (br_bit(&b))                                 /* cu_qp_delta_enabled_flag */
        br_ue(&b);                                  /* diff_cu_qp_delta_depth */
    br_se(&b);                                      /* pps_cb_qp_offset */
    br_se(&b);                                      /* pps_cr_qp_offset */
    p.slice_chroma_qp_offsets = (uint8_t)br_bit(&b);
    p.weighted_pred = (uint8_t)br_bit(&b);
    p.weighted_bipred = (uint8_t)br_bit(&b);
    br_bit(&b);                                     /* transquant_bypass_enabled_flag */
    unsigned tiles = br_bit(&b), sync = br_bit(&b);
    if (tiles) {
        uint32_t cols = br_uemax(&b, 1023), rows = br_uemax(&b, 1023);
        if (!br_bit(&b)) {                          /* uniform_spacing_flag */
            for (uint32_t i = 0; i < cols + rows && !b.err; i++)
                br_ue(&b);                          /* column_width_minus1, row_height_minus1 */
        }
        br_bit(&b);                                 /* loop_filter_across_tiles_enabled_flag */
    }
    p.entry_points = (uint8_t)(tiles || sync);
    p.loop_filter_across_slices = (uint8_t)br_bit(&b);
    if (br_bit(&b)) {                               /* deblocking_filter_control_present_flag */
        p.deblocking_override_enabled = (uint8_t)br_bit(&b);
        if (!(p.deblocking_disabled = (uint8_t)br_bit(&b))) {
            br_se(&b);                              /* pps_beta_offset_div2 */
            br_se(&b);                              /* pps_tc_offset_div2 */
        }
    }
    if (br_bit(&b))                                 /* pps_scaling_list_data_present_flag */
        hevc_skip_scaling_list_data(&b);
    p.lists_modification = (uint8_t)br_bit(&b);
    br_ue(&b);                                      /* log2_parallel_merge_level_minus2 */
    p.header_extension = (uint8_t)br_bit(&b);
    if (br_bit(&b)) {                               /* pps_extension_present_flag */
        unsigned range = br_bit(&b);
        br_bit(&b);                                 /* multilayer: layers > 0 only */
        br_bit(&b);                                 /* 3d: layers > 0 only */
        unsigned scc = br_bit(&b);
        br_u(&b, 4);
        if (scc && !b.err)
            return failed(c, -ENOTSUP, "PPS with the screen content coding extension");
        if (range) {                                /* pps_range_extension() 7.3.2.3.2 */
            if (transform_skip)
                br_ue(&b);                          /* log2_max_transform_skip_block_size_minus2 */
            br_bit(&b);                             /* cross_component_prediction_enabled_flag */
            if ((p.chroma_qp_offset_list = (uint8_t)br_bit(&b))) {
                br_ue(&b);                          /* diff_cu_chroma_qp_offset_depth */
                uint32_t len = br_uemax(&b, 5);     /* chroma_qp_offset_list_len_minus1 */
                for (uint32_t i = 0; i <= len && !b.err; i++) {
                    br_se(&b);
                    br_se(&b);
                }
            }
            br_ue(&b);                              /* log2_sao_offset_scale_luma */
            br_ue(&b);                              /* log2_sao_offset_scale_chroma */
        }
    }
    if (b.err)
        return failed(c, -EBADMSG, "PPS truncated or out of range");
    if (!c->hevc_pps[id] && !(c->hevc_pps[id] = arena_alloc(c->a, sizeof p)))
        return -ENOMEM;
    *c->hevc_pps[id] = p;
    return 0;
}

/* ---- HEVC slice segment header --------------------------------------------- */

enum { HSLICE_B = 0, HSLICE_P = 1, HSLICE_I = 2 };

/* pred_weight_table() 7.3.6.3. Without SCC (pps_curr_pic_ref) no reference picture
 * has the current POC, so every luma/chroma_weight flag is present. */
static void hevc_pred_weight_table(br_t *b, const hevc_sps_t *sps, unsigned lists,
                                   const uint32_t nref[2])
{
    br_uemax(b, 7);                                 /* luma_log2_weight_denom */
    if (sps->chroma_array_type)
        br_se(b);                                   /* delta_chroma_log2_weight_denom */
    for (unsigned l = 0; l < lists && !b->err; l++) {
        uint32_t luma = 0, chroma = 0;
        for (uint32_t i = 0; i <= nref[l]; i++)
            luma |= br_bit(b) << i;
        if (sps->chroma_array_type)
            for (uint32_t i = 0; i <= nref[l]; i++)
                chroma |= br_bit(b) << i;
        for (uint32_t i = 0; i <= nref[l]; i++) {
            if (luma >> i & 1) {
                br_se(b);                           /* delta_luma_weight */
                br_se(b);                           /* luma_offset */
            }
            if (chroma >> i & 1)
                for (int j = 0; j < 4; j++)
                    br_se(b);                       /* delta_chroma_weight, _offset, Cb Cr */
        }
    }
}

/* slice_segment_header() of 23008-2 7.3.6.1 of nal[0..n), byte_alignment() included. */
static int hevc_slice_header(cr_subsample_ctx_t *c, const uint8_t *nal, size_t n, br_t *out)
{
    br_t b = br_init(nal + 2, n - 2);
    unsigned type = nal[0] >> 1 & 0x3f;

    unsigned first = br_bit(&b);                    /* first_slice_segment_in_pic_flag */
    if (type >= 16 && type <= 23)
        br_bit(&b);                                 /* no_output_of_prior_pics_flag */
    uint32_t pps_id = br_uemax(&b, 63);
    if (b.err)
        return failed(c, -EBADMSG, "slice header truncated or out of range");
    const hevc_pps_t *pps = c->hevc_pps[pps_id];
    if (!pps)
        return failed(c, -EBADMSG, "slice refers to PPS %u, not seen", (unsigned)pps_id);
    const hevc_sps_t *sps = c->hevc_sps[pps->sps_id];
    if (!sps)
        return failed(c, -EBADMSG, "PPS %u refers to SPS %u, not seen", (unsigned)pps_id,
                    (unsigned)pps->sps_id);

    unsigned dependent = 0;
    if (!first) {
        if (pps->dependent_slice_segments)
            dependent = br_bit(&b);
        br_u(&b, ceil_log2(sps->pic_size_in_ctbs)); /* slice_segment_address */
    }
    if (!dependent) {
        br_u(&b, pps->num_extra_slice_header_bits); /* slice_reserved_flag[] */
        uint32_t st = br_uemax(&b, 2);              /* slice_type */
        if (pps->output_flag_present)
            br_bit(&b);                             /* pic_output_flag */
        if (sps->separate_colour_plane)
            br_u(&b, 2);                            /* colour_plane_id */
        unsigned temporal_mvp = 0, total_curr = 0;  /* NumPicTotalCurr (7-55) */
        if (type != 19 && type != 20) {             /* not IDR_W_RADL, IDR_N_LP */
            br_u(&b, sps->log2_max_poc_lsb);        /* slice_pic_order_cnt_lsb */
            rps_t own;
            const rps_t *rps = &own;
            if (!br_bit(&b)) {                      /* short_term_ref_pic_set_sps_flag */
                hevc_st_rps(&b, sps->rps, sps->num_sets, sps->num_sets, &own);
            } else {
                uint32_t idx = br_u(&b, ceil_log2(sps->num_sets));
                if (idx >= sps->num_sets)
                    return failed(c, -EBADMSG, "slice uses short-term RPS %u of %u",
                                (unsigned)idx, (unsigned)sps->num_sets);
                rps = &sps->rps[idx];
            }
            for (unsigned i = 0; i < rps->num_neg; i++)
                total_curr += rps->used_s0[i];
            for (unsigned i = 0; i < rps->num_pos; i++)
                total_curr += rps->used_s1[i];
            if (sps->long_term_present) {
                uint32_t nsps = sps->num_lt ? br_uemax(&b, sps->num_lt) : 0;
                uint32_t npics = br_uemax(&b, 32);  /* num_long_term_pics */
                for (uint32_t i = 0; i < nsps + npics && !b.err; i++) {
                    if (i < nsps) {
                        uint32_t idx = br_u(&b, ceil_log2(sps->num_lt));   /* lt_idx_sps */
                        if (idx >= sps->num_lt)
                            b.err = -EBADMSG;
                        total_curr += sps->lt_used >> (idx & 31) & 1;
                    } else {
                        br_u(&b, sps->log2_max_poc_lsb);                    /* poc_lsb_lt */
                        total_curr += br_bit(&b);   /* used_by_curr_pic_lt_flag */
                    }
                    if (br_bit(&b))                 /* delta_poc_msb_present_flag */
                        br_ue(&b);                  /* delta_poc_msb_cycle_lt */
                }
            }
            if (sps->temporal_mvp)
                temporal_mvp = br_bit(&b);          /* slice_temporal_mvp_enabled_flag */
        }
        unsigned sao_luma = 0, sao_chroma = 0;
        if (sps->sao) {
            sao_luma = br_bit(&b);
            if (sps->chroma_array_type)
                sao_chroma = br_bit(&b);
        }
        if (st != HSLICE_I) {
            unsigned lists = st == HSLICE_B ? 2 : 1;
            uint32_t nref[2] = { pps->num_ref_idx_default[0], pps->num_ref_idx_default[1] };
            if (br_bit(&b)) {                       /* num_ref_idx_active_override_flag */
                nref[0] = br_uemax(&b, 14);
                if (lists == 2)
                    nref[1] = br_uemax(&b, 14);
            }
            if (pps->lists_modification && total_curr > 1) {
                /* ref_pic_lists_modification() 7.3.6.2 */
                unsigned bits = ceil_log2(total_curr);
                for (unsigned l = 0; l < lists; l++)
                    if (br_bit(&b))                 /* ref_pic_list_modification_flag_lX */
                        for (uint32_t i = 0; i <= nref[l]; i++)
                            br_u(&b, bits);         /* list_entry_lX[i] */
            }
            if (st == HSLICE_B)
                br_bit(&b);                         /* mvd_l1_zero_flag */
            if (pps->cabac_init_present)
                br_bit(&b);                         /* cabac_init_flag */
            if (temporal_mvp) {
                unsigned from_l0 = st == HSLICE_B ? br_bit(&b) : 1;
                if (nref[from_l0 ? 0 : 1] > 0)
                    br_ue(&b);                      /* collocated_ref_idx */
            }
            if ((pps->weighted_pred && st == HSLICE_P) || (pps->weighted_bipred && st == HSLICE_B))
                hevc_pred_weight_table(&b, sps, lists, nref);
            br_uemax(&b, 4);                        /* five_minus_max_num_merge_cand */
        }
        br_se(&b);                                  /* slice_qp_delta */
        if (pps->slice_chroma_qp_offsets) {
            br_se(&b);                              /* slice_cb_qp_offset */
            br_se(&b);                              /* slice_cr_qp_offset */
        }
        if (pps->chroma_qp_offset_list)
            br_bit(&b);                             /* cu_chroma_qp_offset_enabled_flag */
        unsigned override = 0, disabled = pps->deblocking_disabled;
        if (pps->deblocking_override_enabled)
            override = br_bit(&b);                  /* deblocking_filter_override_flag */
        if (override && !(disabled = br_bit(&b))) { /* slice_deblocking_filter_disabled_flag */
            br_se(&b);                              /* slice_beta_offset_div2 */
            br_se(&b);                              /* slice_tc_offset_div2 */
        }
        if (pps->loop_filter_across_slices && (sao_luma || sao_chroma || !disabled))
            br_bit(&b);                     /* slice_loop_filter_across_slices_enabled_flag */
    }
    if (pps->entry_points) {
        uint32_t points = br_ue(&b);                /* num_entry_point_offsets */
        if (points) {
            unsigned len = br_uemax(&b, 31) + 1;    /* offset_len_minus1 + 1 */
            for (uint32_t i = 0; i < points && !b.err; i++)
                br_u(&b, len);                      /* entry_point_offset_minus1[i] */
        }
    }
    if (pps->header_extension)
        br_skip(&b, 8ull * br_uemax(&b, 256));      /* slice_segment_header_extension */
    /* byte_alignment() 7.3.2.12: a one bit, then zero bits to the byte boundary */
    if (br_bit(&b) != 1)
        b.err = -EBADMSG;
    while (b.left && !b.err)
        if (br_bit(&b))
            b.err = -EBADMSG;
    if (b.err)
        return failed(c, -EBADMSG, "slice header truncated, out of range or misaligned");
    *out = b;
    return 0;
}

/* ---- NAL units ----------------------------------------------------------- */

/*
 * One NAL unit nal[0..n), n >= 1: parameter sets update the context; sets *clear
 * to the bytes of the unit to leave clear (n: all of it) and *hdr_bits to the RBSP
 * bits of the slice header (0 when not a protected slice).
 */
static int nal_clear(cr_subsample_ctx_t *c, const uint8_t *nal, size_t n, size_t *clear,
                     size_t *hdr_bits)
{
    br_t b = { 0 };
    int rc;

    *clear = n;
    *hdr_bits = 0;
    if (nal[0] & 0x80)
        return failed(c, -EBADMSG, "forbidden_zero_bit set");
    if (c->kind == KIND_AVC) {
        switch (nal[0] & 0x1f) {
        case 7:
            return avc_parse_sps(c, nal, n);
        case 8:
            return avc_parse_pps(c, nal, n);
        case 1: case 5:
            if ((rc = avc_slice_header(c, nal, n, &b)) < 0)
                return rc;
            *clear = 1 + (size_t)(b.p - b.start);
            *hdr_bits = b.bits;
            return 0;
        default:
            return 0;
        }
    }
    unsigned type = nal[0] >> 1 & 0x3f;
    int vcl = type <= 9 || (type >= 16 && type <= 21);
    if (!vcl && type != 33 && type != 34)
        return 0;
    if (n < 3)
        return failed(c, -EBADMSG, "NAL unit of %zu bytes", n);
    if ((nal[0] & 1) || nal[1] >> 3) {              /* nuh_layer_id > 0 */
        if (!vcl)
            return 0;                               /* a parameter set of another layer */
        return failed(c, -ENOTSUP, "slice of layer %u (MV-HEVC/SHVC)",
                    (unsigned)((nal[0] & 1) << 5 | nal[1] >> 3));
    }
    if (type == 33)
        return hevc_parse_sps(c, nal, n);
    if (type == 34)
        return hevc_parse_pps(c, nal, n);
    if ((rc = hevc_slice_header(c, nal, n, &b)) < 0)
        return rc;
    *clear = 2 + (size_t)(b.p - b.start);
    *hdr_bits = b.bits;
    return 0;
}

/* ---- building the list ------------------------------------------------------ */

typedef struct {
    cr_subsample_t *out;
    size_t cap, n;
    uint64_t pending;           /* clear bytes waiting for the next protected range */
    int align;
} list_t;

static void emit(list_t *l, uint64_t clear, uint64_t prot)
{
    while (clear > CR_SUBSAMPLE_MAX_CLEAR) {
        emit(l, CR_SUBSAMPLE_MAX_CLEAR, 0);
        clear -= CR_SUBSAMPLE_MAX_CLEAR;
    }
    if (l->n < l->cap)
        l->out[l->n] = (cr_subsample_t){ (uint32_t)clear, (uint32_t)prot };
    l->n++;
}

/* One NAL unit's share (shaka's SubsampleOrganizer::AddSubsample). */
static void add(list_t *l, uint64_t clear, uint64_t prot)
{
    if (l->align && prot % 16) {
        clear += prot % 16;
        prot -= prot % 16;
    }
    l->pending += clear;
    if (!prot)
        return;
    emit(l, l->pending, prot);
    l->pending = 0;
}

__attribute__((format(printf, 2, 3)))
static void log_sample(const cr_subsample_ctx_t *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->sample == UINT32_MAX)
        PK_ERROR("track %u: %s", c->track_id, msg);
    else
        PK_ERROR("track %u sample %u: %s", c->track_id, c->sample, msg);
}

int cr_subsample_layout(cr_subsample_ctx_t *c, const uint8_t *sample, size_t size,
                        cr_subsample_t *out, size_t cap)
{
    if (c->kind == KIND_AUDIO)
        return 0;
    list_t l = { out, out ? cap : 0, 0, 0, c->align };
    size_t pos = 0, ls = c->nal_length_size;
    for (unsigned k = 0; pos < size; k++) {
        if (size - pos < ls) {
            log_sample(c, "a %zu-byte NAL length at byte %zu passes the end (%zu bytes)",
                       ls, pos, size);
            return -EBADMSG;
        }
        uint32_t len = 0;
        for (size_t i = 0; i < ls; i++)
            len = len << 8 | sample[pos + i];
        pos += ls;
        if (len > size - pos) {
            log_sample(c, "NAL unit %u of %u bytes at byte %zu passes the end (%zu bytes)",
                       k, (unsigned)len, pos, size);
            return -EBADMSG;
        }
        size_t clear = 0, bits;
        int rc = len ? nal_clear(c, sample + pos, len, &clear, &bits) : 0;
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            unsigned type = c->kind == KIND_AVC ? sample[pos] & 0x1fu : sample[pos] >> 1 & 0x3fu;
            log_sample(c, "NAL unit %u (type %u, %u bytes at byte %zu): %s", k, type,
                       (unsigned)len, pos, c->why);
            return rc;
        }
        add(&l, ls + clear, len - clear);
        pos += len;
    }
    if (l.pending || !l.n)
        emit(&l, l.pending, 0);
    if (l.n > 65535) {
        log_sample(c, "%zu subsamples (senc holds 65535)", l.n);
        return -ENOTSUP;
    }
    return (int)l.n;
}

int cr_subsample_count(cr_subsample_ctx_t *c, const uint8_t *sample, size_t size)
{
    return cr_subsample_layout(c, sample, size, NULL, 0);
}

/* ---- set-up ---------------------------------------------------------------- */

/* The parameter sets of an avcC (14496-15 5.3.3.1) or hvcC (8.3.3.1) body. */
static int parse_config(cr_subsample_ctx_t *c, const uint8_t *dsi, size_t len)
{
    rd_t r = rd_init(dsi, len);
    unsigned groups;
    int rc = 0;

    if (c->kind == KIND_AVC) {
        rd_skip(&r, 5);
        groups = 2;                                 /* SPS array, then PPS array */
    } else {
        rd_skip(&r, 22);
        groups = rd_u8(&r);                         /* numOfArrays */
    }
    for (unsigned g = 0; g < groups && !r.err && rc == 0; g++) {
        unsigned count;
        if (c->kind == KIND_AVC) {
            count = rd_u8(&r) & (g ? 0xffu : 0x1fu);
        } else {
            rd_skip(&r, 1);                         /* completeness, NAL_unit_type */
            count = rd_u16(&r);
        }
        for (unsigned i = 0; i < count && !r.err && rc == 0; i++) {
            uint16_t n = rd_u16(&r);
            rd_t nal = rd_sub(&r, n);
            size_t clear, bits;
            if (nal.err)
                break;
            if (!n)
                continue;
            rc = nal_clear(c, nal.p, n, &clear, &bits);
            if (rc == 0 && bits)
                rc = failed(c, -EBADMSG, "a slice in the decoder config");
        }
    }
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        PK_ERROR("track %u: %s: %s", c->track_id, c->kind == KIND_AVC ? "avcC" : "hvcC", c->why);
        return rc;
    }
    if (r.err) {
        PK_ERROR("track %u: %s of %zu bytes is truncated", c->track_id,
                 c->kind == KIND_AVC ? "avcC" : "hvcC", len);
        return -EBADMSG;
    }
    return 0;
}

int cr_subsample_init(const pk_track_t *t, uint32_t scheme, arena_t *a,
                      cr_subsample_ctx_t **out)
{
    int align;
    switch (scheme) {
    case FOURCC('c','e','n','c'):
    case FOURCC('c','e','n','s'):
    case FOURCC('c','b','c','1'):
    case FOURCC('p','i','f','f'):
        align = 1;
        break;
    case FOURCC('c','b','c','s'):
        align = 0;
        break;
    default:
        return -EINVAL;
    }

    int kind;
    if (t->type == PK_TRACK_AUDIO) {
        kind = KIND_AUDIO;
    } else if (t->type != PK_TRACK_VIDEO) {
        return -ENOTSUP;
    } else if (t->fourcc == FOURCC('a','v','c','1') || t->fourcc == FOURCC('a','v','c','3')) {
        kind = KIND_AVC;
    } else if (t->fourcc == FOURCC('h','v','c','1') || t->fourcc == FOURCC('h','e','v','1')) {
        kind = KIND_HEVC;
    } else {
        char fcc[5];
        PK_ERROR("track %u: no subsample layout for video codec %s", t->id,
                 fourcc_str(t->fourcc, fcc));
        return -ENOTSUP;
    }

    cr_subsample_ctx_t *c = arena_zalloc(a, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->kind = kind;
    c->align = align;
    c->track_id = t->id;
    c->sample = UINT32_MAX;
    c->a = a;
    if (kind == KIND_AUDIO) {
        *out = c;
        return 0;
    }
    c->nal_length_size = t->nal_length_size;
    if (c->nal_length_size != 1 && c->nal_length_size != 2 && c->nal_length_size != 4) {
        PK_ERROR("track %u: NAL length size %u", t->id, c->nal_length_size);
        return -EBADMSG;
    }
    if (kind == KIND_HEVC && !(c->scratch = arena_alloc(a, sizeof *c->scratch)))
        return -ENOMEM;
    if ((uint64_t)t->dsi_off + t->dsi_size > t->entry_size || !t->dsi_size) {
        PK_ERROR("track %u: no decoder config in the sample entry", t->id);
        return -EBADMSG;
    }
    int rc = parse_config(c, t->entry + t->dsi_off, t->dsi_size);
    if (rc < 0)
        return rc;
    *out = c;
    return 0;
}

/* ---- a whole track ---------------------------------------------------------- */

#define READ_CHUNK (1u << 20)

/* What a pass over a track does with sample i (size bytes at p): 0 or a negative errno. */
typedef int (*each_fn)(void *ctx, uint32_t i, const uint8_t *p, size_t size);

/*
 * Gives every sample of t to fn, in order, read through src: samples that follow each
 * other in the file in reads of up to READ_CHUNK bytes (more for a larger sample), into
 * a buffer malloc'd and freed here. -EBADMSG (logged) for a sample past the end of src.
 */
static int each_sample(const pk_track_t *t, const pk_source_t *src, each_fn fn, void *ctx)
{
    uint8_t *buf;
    size_t cap = READ_CHUNK;
    int rc = 0;

    for (uint32_t i = 0; i < t->sample_count; i++) {
        const pk_sample_t *s = &t->samples[i];
        if (s->pos > src->size || s->size > src->size - s->pos) {
            PK_ERROR("%s: track %u sample %u at %llu (%u bytes) passes the end (%llu)",
                     src->name, t->id, i, (unsigned long long)s->pos, s->size,
                     (unsigned long long)src->size);
            return -EBADMSG;
        }
        if (s->size > cap)
            cap = s->size;
    }
    if (!(buf = malloc(cap)))
        return -ENOMEM;
    for (uint32_t i = 0; i < t->sample_count && rc == 0;) {
        /* one read for a run of samples that follow each other in the file */
        uint64_t pos = t->samples[i].pos;
        size_t len = t->samples[i].size;
        uint32_t end = i + 1;
        while (end < t->sample_count && t->samples[end].pos == pos + len &&
               t->samples[end].size <= cap - len)
            len += t->samples[end++].size;
        if (len && (rc = src->read(src->ctx, buf, len, pos)) < 0)
            break;
        rc = 0;
        for (size_t off = 0; i < end && rc == 0; i++) {
            rc = fn(ctx, i, buf + off, t->samples[i].size);
            off += t->samples[i].size;
        }
    }
    free(buf);
    return rc;
}

typedef struct {
    cr_subsample_ctx_t *c;
    uint16_t *counts;
} count_pass_t;

static int count_one(void *ctx, uint32_t i, const uint8_t *p, size_t size)
{
    count_pass_t *cp = ctx;
    cp->c->sample = i;
    int rc = cr_subsample_count(cp->c, p, size);
    if (rc < 0)
        return rc;
    cp->counts[i] = (uint16_t)rc;
    return 0;
}

int cr_subsample_counts(const pk_track_t *t, uint32_t scheme, const pk_source_t *src,
                        arena_t *a, uint16_t **out)
{
    count_pass_t cp;
    int rc = cr_subsample_init(t, scheme, a, &cp.c);
    if (rc < 0)
        return rc;
    if (!(cp.counts = arena_calloc(a, t->sample_count ? t->sample_count : 1, sizeof *cp.counts)))
        return -ENOMEM;
    /* audio has no subsample lists: nothing to read */
    if (cp.c->kind != KIND_AUDIO && (rc = each_sample(t, src, count_one, &cp)) < 0)
        return rc;
    *out = cp.counts;
    return 0;
}

/* ---- Apple SAMPLE-AES --------------------------------------------------------- */

typedef struct {
    const pk_track_t *t;
    const char *name;
    cr_aes_t *aes;
    const uint8_t *iv;
    uint8_t *scratch;           /* as long as the longest sample */
    uint32_t *growth;
} saes_pass_t;

static int grow_one(void *ctx, uint32_t i, const uint8_t *p, size_t size)
{
    saes_pass_t *sp = ctx;
    unsigned nls = sp->t->nal_length_size;
    rd_t r = rd_init(p, size);
    uint64_t extra = 0;
    int rc;

    while (rd_left(&r)) {
        size_t at = (size_t)(r.p - p);
        uint32_t len = nls == 1 ? rd_u8(&r) : nls == 2 ? rd_u16(&r) : rd_u32(&r);
        if (r.err || len > rd_left(&r)) {
            PK_ERROR("%s: track %u sample %u: NAL unit at offset %zu passes the end of the "
                     "sample (%zu bytes)", sp->name, sp->t->id, i, at, size);
            return -EBADMSG;
        }
        wr_t w = wr_counter();
        if ((rc = cr_aes_saes_nal_write(sp->aes, sp->iv, r.p, len, sp->scratch, &w)) < 0)
            return rc;
        extra += w.pos - len;
        rd_skip(&r, len);
    }
    /* escaping adds at most one byte per two (00 00 00 00: 00 00 03 00 00 03), and a
     * sample is at most 2^32 - 1 bytes, so this holds */
    sp->growth[i] = (uint32_t)extra;
    return 0;
}

int cr_subsample_saes_growth(const pk_track_t *t, cr_aes_t *c, const uint8_t iv[16],
                             const pk_source_t *src, arena_t *a, uint32_t **out)
{
    saes_pass_t sp = { .t = t, .name = src->name ? src->name : "?", .aes = c, .iv = iv };
    uint32_t biggest = 0;
    int rc;

    if (t->type != PK_TRACK_VIDEO || (t->fourcc != FOURCC('a','v','c','1') &&
                                      t->fourcc != FOURCC('a','v','c','3'))) {
        PK_ERROR("%s: track %u: SAMPLE-AES in TS covers H.264 video only", sp.name, t->id);
        return -ENOTSUP;
    }
    if (t->nal_length_size != 1 && t->nal_length_size != 2 && t->nal_length_size != 4) {
        PK_ERROR("%s: track %u: NAL length size %u", sp.name, t->id, t->nal_length_size);
        return -EBADMSG;
    }
    for (uint32_t i = 0; i < t->sample_count; i++)
        if (t->samples[i].size > biggest)
            biggest = t->samples[i].size;
    if (!(sp.growth = arena_calloc(a, t->sample_count ? t->sample_count : 1,
                                   sizeof *sp.growth)) ||
        !(sp.scratch = arena_alloc(a, biggest ? biggest : 1)))
        return -ENOMEM;
    if ((rc = each_sample(t, src, grow_one, &sp)) < 0)
        return rc;
    *out = sp.growth;
    return 0;
}
