/* Unit tests for pack/codec.c: sample entries to codecs strings and config locations. */
#include "../../pack/codec.c"

#include <stdlib.h>

#include "test.h"

/* ---- builders ------------------------------------------------------------ */

/* Real avcC body of an x264 High@3.0 320x180 stream (SPS, PPS, High extension). */
static const uint8_t x264_avcc[] = {
    0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a,
    0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x41, 0x41, 0x9f, 0x9f, 0x01, 0x10, 0x00, 0x00,
    0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x62, 0xd9, 0x60,
    0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
    0xfd, 0xf8, 0xf8, 0x00,
};
#define X264_SPS_OFF 8
#define X264_SPS_LEN 26
#define X264_PPS_OFF 37
#define X264_PPS_LEN 6

static void put_box(wr_t *w, uint32_t type, const void *body, size_t n)
{
    size_t b = box_open(w, type);
    wr_bytes(w, body, n);
    box_close(w, b);
}

static void put_btrt(wr_t *w, uint32_t max)
{
    size_t b = box_open(w, FOURCC('b','t','r','t'));
    wr_u32(w, 0);
    wr_u32(w, max);
    wr_u32(w, max / 2);
    box_close(w, b);
}

/* 14496-12 12.1.3 */
static size_t visual_open(wr_t *w, uint32_t fcc, uint16_t width, uint16_t height)
{
    size_t b = box_open(w, fcc);
    wr_zeros(w, 6);
    wr_u16(w, 1);
    wr_zeros(w, 16);
    wr_u16(w, width);
    wr_u16(w, height);
    wr_u32(w, 0x00480000);
    wr_u32(w, 0x00480000);
    wr_u32(w, 0);
    wr_u16(w, 1);
    wr_zeros(w, 32);
    wr_u16(w, 0x18);
    wr_u16(w, 0xffff);
    return b;
}

/* 14496-12 12.2.3; `qt_version` 1 writes a QTFF sound description v1. */
static size_t audio_open_v(wr_t *w, uint32_t fcc, uint16_t channels, uint32_t rate,
                           uint16_t qt_version)
{
    size_t b = box_open(w, fcc);
    wr_zeros(w, 6);
    wr_u16(w, 1);
    wr_u16(w, qt_version);
    wr_zeros(w, 6);
    wr_u16(w, channels);
    wr_u16(w, 16);
    wr_u32(w, 0);
    wr_u32(w, rate << 16);
    if (qt_version == 1) {
        wr_u32(w, 1024);
        wr_u32(w, 0);
        wr_u32(w, 0);
        wr_u32(w, 2);
    }
    return b;
}

static size_t audio_open(wr_t *w, uint32_t fcc, uint16_t channels, uint32_t rate)
{
    return audio_open_v(w, fcc, channels, rate, 0);
}

/* MSB-first bit packing of (width, value) pairs, for ASC, dac3 and dec3. */
static size_t pack_bits(uint8_t *out, size_t cap, const unsigned *pairs, size_t npairs)
{
    size_t pos = 0;
    memset(out, 0, cap);
    for (size_t i = 0; i < npairs; i++)
        for (unsigned bit = pairs[2 * i]; bit-- > 0; pos++)
            if (pairs[2 * i + 1] >> bit & 1)
                out[pos / 8] |= (uint8_t)(0x80 >> (pos % 8));
    return (pos + 7) / 8;
}

/* 14496-1 8.3.3 sizeOfInstance; `wide` writes the 4-byte form FFmpeg uses. */
static void put_desc_head(wr_t *w, uint8_t tag, size_t n, int wide)
{
    wr_u8(w, tag);
    if (wide) {
        wr_u8(w, (uint8_t)(0x80 | (n >> 21 & 0x7f)));
        wr_u8(w, (uint8_t)(0x80 | (n >> 14 & 0x7f)));
        wr_u8(w, (uint8_t)(0x80 | (n >> 7 & 0x7f)));
    }
    wr_u8(w, (uint8_t)(n & 0x7f));
}

/* esds with ES_Descriptor, DecoderConfigDescriptor (+ DecoderSpecificInfo when
 * dsi != NULL) and SLConfigDescriptor. */
static void put_esds(wr_t *w, uint8_t oti, uint32_t max, const uint8_t *dsi, size_t n,
                     int wide)
{
    size_t hd = wide ? 5 : 2;
    size_t dcd_len = 13 + (dsi ? hd + n : 0);
    size_t es_len = 3 + hd + dcd_len + hd + 1;
    size_t b = box_open_full(w, FOURCC('e','s','d','s'), 0, 0);
    put_desc_head(w, 0x03, es_len, wide);
    wr_u16(w, 1);
    wr_u8(w, 0);
    put_desc_head(w, 0x04, dcd_len, wide);
    wr_u8(w, oti);
    wr_u8(w, 0x15);
    wr_u24(w, 0);
    wr_u32(w, max);
    wr_u32(w, max);
    if (dsi) {
        put_desc_head(w, 0x05, n, wide);
        wr_bytes(w, dsi, n);
    }
    put_desc_head(w, 0x06, 1, wide);
    wr_u8(w, 0x02);
    box_close(w, b);
}

/* An hvcC with the given head and VPS/SPS/PPS arrays of fake NAL units. */
static void put_hvcc(wr_t *w, uint8_t ptl, uint32_t compat, const uint8_t cons[6],
                     uint8_t level)
{
    static const uint8_t vps[] = { 0x40, 0x01, 0x0c }, sps[] = { 0x42, 0x01, 0x01, 0x01 },
                         pps[] = { 0x44, 0x01 };
    const struct { uint8_t type; const uint8_t *p; uint16_t n; } arrays[] = {
        { 32, vps, sizeof vps }, { 33, sps, sizeof sps }, { 34, pps, sizeof pps },
    };
    size_t b = box_open(w, FOURCC('h','v','c','C'));
    wr_u8(w, 1);
    wr_u8(w, ptl);
    wr_u32(w, compat);
    wr_bytes(w, cons, 6);
    wr_u8(w, level);
    wr_u16(w, 0xf000);
    wr_u8(w, 0xfc);
    wr_u8(w, 0xfd);
    wr_u8(w, 0xf8);
    wr_u8(w, 0xf8);
    wr_u16(w, 0);
    wr_u8(w, 0x0f);             /* 1 temporal layer, nested, lengthSizeMinusOne 3 */
    wr_u8(w, 3);
    for (int i = 0; i < 3; i++) {
        wr_u8(w, (uint8_t)(0x80 | arrays[i].type));
        wr_u16(w, 1);
        wr_u16(w, arrays[i].n);
        wr_bytes(w, arrays[i].p, arrays[i].n);
    }
    box_close(w, b);
}

/* Parses w's bytes from a heap copy of exactly that size, so ASan sees overreads. */
static int parse_len(const wr_t *w, size_t len, pk_track_type_t type, pk_track_t *t)
{
    assert_int_equal(w->err, 0);
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, w->buf, len);
    t->type = type;
    int rc = pk_codec_parse_entry(copy, len, t);
    free(copy);
    return rc;
}

static int parse(const wr_t *w, pk_track_type_t type, pk_track_t *t)
{
    return parse_len(w, w->pos, type, t);
}

/* Offset of the first occurrence of needle in w's bytes. */
static size_t find(const wr_t *w, const void *needle, size_t n)
{
    for (size_t i = 0; i + n <= w->pos; i++)
        if (!memcmp(w->buf + i, needle, n))
            return i;
    fail_msg("needle not found");
    return 0;
}

/* ---- AVC ----------------------------------------------------------------- */

static size_t build_x264(wr_t *w, uint32_t fcc)
{
    static const uint8_t pasp[] = { 0, 0, 0, 1, 0, 0, 0, 1 };
    size_t b = visual_open(w, fcc, 320, 180);
    put_box(w, FOURCC('a','v','c','C'), x264_avcc, sizeof x264_avcc);
    put_box(w, FOURCC('p','a','s','p'), pasp, sizeof pasp);
    put_btrt(w, 37192);
    box_close(w, b);
    return b;
}

static void test_avc1_x264_high_30(void **state)
{
    (void)state;
    uint8_t buf[512];
    wr_t w = wr_init(buf, sizeof buf);
    build_x264(&w, FOURCC('a','v','c','1'));
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), 0);
    assert_string_equal(t.codec, "avc1.64001e");
    assert_int_equal(t.fourcc, FOURCC('a','v','c','1'));
    assert_int_equal(t.width, 320);
    assert_int_equal(t.height, 180);
    assert_int_equal(t.nal_length_size, 4);
    assert_int_equal(t.max_bitrate, 37192);
    assert_int_equal(t.dsi_off, 86 + 8);
    assert_int_equal(t.dsi_size, sizeof x264_avcc);
    assert_memory_equal(buf + t.dsi_off, x264_avcc, sizeof x264_avcc);
    assert_int_equal(t.channels, 0);
    assert_int_equal(t.sample_rate, 0);
}

static void test_avc3_prefix_and_length_size(void **state)
{
    (void)state;
    uint8_t avcc[sizeof x264_avcc], buf[512];
    memcpy(avcc, x264_avcc, sizeof avcc);
    avcc[1] = 0x4d;             /* Main@4.0, 2-byte NAL lengths */
    avcc[2] = 0x40;
    avcc[3] = 0x28;
    avcc[4] = 0xfd;
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = visual_open(&w, FOURCC('a','v','c','3'), 1920, 1080);
    put_box(&w, FOURCC('a','v','c','C'), avcc, sizeof avcc);
    box_close(&w, b);
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), 0);
    assert_string_equal(t.codec, "avc3.4d4028");
    assert_int_equal(t.nal_length_size, 2);
    assert_int_equal(t.max_bitrate, 0);
    assert_int_equal(t.width, 1920);
}

static void test_avc_param_sets_annexb(void **state)
{
    (void)state;
    const uint8_t *dsi = x264_avcc;
    wr_t count = wr_counter();
    assert_int_equal(pk_codec_param_sets(FOURCC('a','v','c','1'), dsi, sizeof x264_avcc,
                                         &count), 0);
    assert_int_equal(count.pos, 4 + X264_SPS_LEN + 4 + X264_PPS_LEN);

    uint8_t out[64], want[64];
    wr_t w = wr_init(out, sizeof out), e = wr_init(want, sizeof want);
    wr_u32(&e, 1);
    wr_bytes(&e, x264_avcc + X264_SPS_OFF, X264_SPS_LEN);
    wr_u32(&e, 1);
    wr_bytes(&e, x264_avcc + X264_PPS_OFF, X264_PPS_LEN);
    assert_int_equal(pk_codec_param_sets(FOURCC('a','v','c','3'), dsi, sizeof x264_avcc,
                                         &w), 0);
    assert_int_equal(w.pos, e.pos);
    assert_memory_equal(out, want, e.pos);

    wr_t small = wr_init(out, 10);
    assert_int_equal(pk_codec_param_sets(FOURCC('a','v','c','1'), dsi, sizeof x264_avcc,
                                         &small), -ENOSPC);
    wr_t c2 = wr_counter();
    assert_int_equal(pk_codec_param_sets(FOURCC('a','v','c','1'), dsi, 20, &c2), -EBADMSG);
    assert_int_equal(c2.pos, 0);            /* nothing written before the check */
    assert_int_equal(pk_codec_param_sets(FOURCC('m','p','4','a'), dsi, 20, &c2), -ENOTSUP);
}

/* ---- HEVC ---------------------------------------------------------------- */

static void test_hvc1_main(void **state)
{
    (void)state;
    static const uint8_t cons[6] = { 0xb0 };
    uint8_t buf[512];
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = visual_open(&w, FOURCC('h','v','c','1'), 3840, 2160);
    put_box(&w, FOURCC('c','o','l','r'), "nclx\0\1\0\1\0\1\0", 11);
    put_hvcc(&w, 0x01, 0x60000000, cons, 93);
    box_close(&w, b);
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), 0);
    assert_string_equal(t.codec, "hvc1.1.6.L93.B0");
    assert_int_equal(t.width, 3840);
    assert_int_equal(t.height, 2160);
    assert_int_equal(t.nal_length_size, 4);
    assert_int_equal(t.dsi_off, 86 + 8 + 11 + 8);
    assert_int_equal(buf[t.dsi_off], 1);
    assert_int_equal(t.dsi_size, 23 + 3 * 5 + 3 + 4 + 2);

    uint8_t out[64];
    static const uint8_t want[] = {
        0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 0, 1, 0x42, 0x01, 0x01, 0x01, 0, 0, 0, 1, 0x44, 0x01,
    };
    wr_t o = wr_init(out, sizeof out);
    assert_int_equal(pk_codec_param_sets(t.fourcc, buf + t.dsi_off, t.dsi_size, &o), 0);
    assert_int_equal(o.pos, sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

/* An fcc entry (w x h) whose hvcC has the profile_tier_level given: its codecs string
 * (RFC 6381, ISO/IEC 14496-15 E.3) must be `want`. */
static void check_hevc_codec(uint32_t fcc, uint16_t width, uint16_t height, uint8_t ptl,
                             uint32_t compat, const uint8_t cons[6], uint8_t level,
                             const char *want)
{
    uint8_t buf[512];
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = visual_open(&w, fcc, width, height);
    put_hvcc(&w, ptl, compat, cons, level);
    box_close(&w, b);
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), 0);
    assert_string_equal(t.codec, want);
}

static void test_hev1_space_tier_constraints(void **state)
{
    (void)state;
    /* space 2 (B), high tier, Main 10 (idc 2, compat bit 2), zero byte inside kept */
    static const uint8_t cons[6] = { 0x90, 0x00, 0x12, 0, 0, 0 };
    check_hevc_codec(FOURCC('h','e','v','1'), 1280, 720, 2 << 6 | 1 << 5 | 2, 0x20000000, cons,
                     120, "hev1.B2.4.H120.90.00.12");
}

static void test_hvc1_no_constraints_all_compat(void **state)
{
    (void)state;
    static const uint8_t zero[6] = { 0 }, full[6] = { 1, 2, 3, 4, 5, 0xff };
    check_hevc_codec(FOURCC('h','v','c','1'), 640, 360, 0x01, 0x60000000, zero, 63,
                     "hvc1.1.6.L63");
    /* the widest string: space 3, idc 31, all 32 flags, high tier 255, 6 bytes */
    check_hevc_codec(FOURCC('h','v','c','1'), 640, 360, 0xff, 0xffffffff, full, 255,
                     "hvc1.C31.FFFFFFFF.H255.01.02.03.04.05.FF");
    /* compat 0x00000001 is flag 31: reversed it is the top bit */
    check_hevc_codec(FOURCC('h','v','c','1'), 640, 360, 0x04, 0x00000001, zero, 90,
                     "hvc1.4.80000000.L90");
}

/* ---- AAC, MP3 ------------------------------------------------------------ */

static void test_mp4a_aac_lc(void **state)
{
    (void)state;
    static const uint8_t asc[] = { 0x11, 0x90 };   /* AOT 2, 48 kHz, 2 channels */
    uint8_t buf[256];
    for (int wide = 0; wide < 2; wide++) {
        wr_t w = wr_init(buf, sizeof buf);
        size_t b = audio_open(&w, FOURCC('m','p','4','a'), 1, 44100);  /* ASC wins */
        put_esds(&w, 0x40, 128000, asc, sizeof asc, wide);
        put_btrt(&w, 99);
        box_close(&w, b);
        pk_track_t t = { 0 };
        assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), 0);
        assert_string_equal(t.codec, "mp4a.40.2");
        assert_int_equal(t.sample_rate, 48000);
        assert_int_equal(t.channels, 2);
        assert_int_equal(t.object_type, 0x40);
        assert_int_equal(t.audio_object_type, 2);
        assert_int_equal(t.max_bitrate, 128000);    /* esds before btrt */
        assert_int_equal(t.dsi_off, find(&w, asc, sizeof asc));
        assert_int_equal(t.dsi_size, 2);
        assert_int_equal(t.width, 0);
        assert_int_equal(t.nal_length_size, 0);
    }
}

static pk_track_t parse_asc_entry(const uint8_t *asc, size_t n, uint16_t ch, uint32_t rate,
                                  int expect)
{
    uint8_t buf[256];
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = audio_open(&w, FOURCC('m','p','4','a'), ch, rate);
    put_esds(&w, 0x40, 0, asc, n, 0);
    box_close(&w, b);
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), expect);
    return t;
}

static void test_mp4a_he_aac_reports_core(void **state)
{
    (void)state;
    uint8_t asc[8];
    /* HE-AAC: AOT 5, core 24 kHz stereo, SBR 48 kHz, core AOT 2 */
    static const unsigned he[] = { 5, 5, 4, 6, 4, 2, 4, 3, 5, 2 };
    size_t n = pack_bits(asc, sizeof asc, he, 5);
    pk_track_t t = parse_asc_entry(asc, n, 2, 48000, 0);
    assert_string_equal(t.codec, "mp4a.40.5");
    assert_int_equal(t.audio_object_type, 5);
    assert_int_equal(t.sample_rate, 24000);
    assert_int_equal(t.channels, 2);
    assert_int_equal(t.max_bitrate, 0);

    /* HE-AAC v2: AOT 29, core 24 kHz mono (PS makes it stereo), SBR 48 kHz */
    static const unsigned ps[] = { 5, 29, 4, 6, 4, 1, 4, 3, 5, 2 };
    n = pack_bits(asc, sizeof asc, ps, 5);
    t = parse_asc_entry(asc, n, 2, 48000, 0);
    assert_string_equal(t.codec, "mp4a.40.29");
    assert_int_equal(t.sample_rate, 24000);
    assert_int_equal(t.channels, 1);

    /* SBR header cut before the core AOT */
    n = pack_bits(asc, sizeof asc, he, 3);
    assert_int_equal(n, 2);
    parse_asc_entry(asc, 2, 2, 48000, -EBADMSG);
}

static void test_mp4a_asc_escapes(void **state)
{
    (void)state;
    uint8_t asc[8];
    /* AOT escape 31: 32 + 10 = 42 (USAC); 44.1 kHz; 5.1 */
    static const unsigned usac[] = { 5, 31, 6, 10, 4, 4, 4, 6 };
    size_t n = pack_bits(asc, sizeof asc, usac, 4);
    pk_track_t t = parse_asc_entry(asc, n, 2, 48000, 0);
    assert_string_equal(t.codec, "mp4a.40.42");
    assert_int_equal(t.audio_object_type, 42);
    assert_int_equal(t.sample_rate, 44100);
    assert_int_equal(t.channels, 6);

    /* explicit 24-bit frequency after index 15; channelConfiguration 7 is 8 channels */
    static const unsigned expl[] = { 5, 2, 4, 15, 24, 22000, 4, 7 };
    n = pack_bits(asc, sizeof asc, expl, 4);
    t = parse_asc_entry(asc, n, 2, 48000, 0);
    assert_string_equal(t.codec, "mp4a.40.2");
    assert_int_equal(t.sample_rate, 22000);
    assert_int_equal(t.channels, 8);

    /* channelConfiguration 0 (PCE) and explicit rate 0 keep the sample entry's values */
    static const unsigned pce[] = { 5, 2, 4, 15, 24, 0, 4, 0 };
    n = pack_bits(asc, sizeof asc, pce, 4);
    t = parse_asc_entry(asc, n, 3, 32000, 0);
    assert_int_equal(t.sample_rate, 32000);
    assert_int_equal(t.channels, 3);

    /* explicit frequency cut short */
    n = pack_bits(asc, sizeof asc, expl, 3);
    parse_asc_entry(asc, 3, 2, 48000, -EBADMSG);
    /* reserved frequency index 13; AOT 0 */
    static const unsigned idx13[] = { 5, 2, 4, 13, 4, 2 }, aot0[] = { 5, 0, 4, 3, 4, 2 };
    n = pack_bits(asc, sizeof asc, idx13, 3);
    parse_asc_entry(asc, n, 2, 48000, -EBADMSG);
    n = pack_bits(asc, sizeof asc, aot0, 3);
    parse_asc_entry(asc, n, 2, 48000, -EBADMSG);
    /* empty DecoderSpecificInfo */
    parse_asc_entry(asc, 0, 2, 48000, -EBADMSG);
}

static void test_mp4a_mp3(void **state)
{
    (void)state;
    uint8_t buf[256];
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = audio_open(&w, FOURCC('m','p','4','a'), 2, 44100);
    put_esds(&w, 0x6b, 320000, NULL, 0, 1);
    box_close(&w, b);
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), 0);
    assert_string_equal(t.codec, "mp4a.6b");
    assert_int_equal(t.object_type, 0x6b);
    assert_int_equal(t.audio_object_type, 0);
    assert_int_equal(t.channels, 2);
    assert_int_equal(t.sample_rate, 44100);
    assert_int_equal(t.max_bitrate, 320000);
    assert_int_equal(t.dsi_off, 0);
    assert_int_equal(t.dsi_size, 0);
}

/* QTFF sound description v1 with esds nested in a wave atom, 4-byte terminator */
static void test_mp4a_quicktime_v1_wave(void **state)
{
    (void)state;
    static const uint8_t asc[] = { 0x12, 0x08 };   /* AOT 2, 44.1 kHz, mono */
    uint8_t buf[256];
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = audio_open_v(&w, FOURCC('m','p','4','a'), 2, 44100, 1);
    size_t wave = box_open(&w, FOURCC('w','a','v','e'));
    put_box(&w, FOURCC('f','r','m','a'), "mp4a", 4);
    put_box(&w, FOURCC('m','p','4','a'), "\0\0\0\0", 4);
    put_esds(&w, 0x40, 0, asc, sizeof asc, 1);
    wr_u32(&w, 8);
    wr_u32(&w, 0);
    box_close(&w, wave);
    wr_u32(&w, 0);
    box_close(&w, b);
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), 0);
    assert_string_equal(t.codec, "mp4a.40.2");
    assert_int_equal(t.channels, 1);
    assert_int_equal(t.sample_rate, 44100);
    assert_int_equal(t.dsi_off, find(&w, asc, sizeof asc));
}

/* ---- AC-3, E-AC-3 -------------------------------------------------------- */

static pk_track_t parse_dolby(uint32_t fcc, uint32_t cfg, const unsigned *pairs, size_t n,
                              int expect)
{
    uint8_t body[16], buf[256];
    size_t len = pack_bits(body, sizeof body, pairs, n);
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = audio_open(&w, fcc, 2, 22050);
    put_btrt(&w, 640000);
    put_box(&w, cfg, body, len);
    box_close(&w, b);
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), expect);
    if (expect == 0) {
        assert_int_equal(t.dsi_off, w.pos - len);
        assert_int_equal(t.dsi_size, len);
        assert_int_equal(t.max_bitrate, 640000);
    }
    return t;
}

static void test_ac3(void **state)
{
    (void)state;
    const uint32_t dac3 = FOURCC('d','a','c','3'), ac3 = FOURCC('a','c','-','3');
    /* fscod, bsid, bsmod, acmod, lfeon, bit_rate_code, reserved */
    const unsigned s51[] = { 2, 0, 5, 8, 3, 0, 3, 7, 1, 1, 5, 15, 5, 0 };
    pk_track_t t = parse_dolby(ac3, dac3, s51, 7, 0);
    assert_string_equal(t.codec, "ac-3");
    assert_int_equal(t.channels, 6);
    assert_int_equal(t.sample_rate, 48000);
    assert_int_equal(t.fourcc, ac3);

    const unsigned mono[] = { 2, 1, 5, 8, 3, 0, 3, 1, 1, 0, 5, 8, 5, 0 };
    t = parse_dolby(ac3, dac3, mono, 7, 0);
    assert_int_equal(t.channels, 1);
    assert_int_equal(t.sample_rate, 44100);

    const unsigned dual[] = { 2, 2, 5, 8, 3, 0, 3, 0, 1, 0, 5, 8, 5, 0 };   /* 1+1 */
    t = parse_dolby(ac3, dac3, dual, 7, 0);
    assert_int_equal(t.channels, 2);
    assert_int_equal(t.sample_rate, 32000);

    const unsigned bad_fs[] = { 2, 3, 5, 8, 3, 0, 3, 7, 1, 1, 5, 15, 5, 0 };
    parse_dolby(ac3, dac3, bad_fs, 7, -EBADMSG);
    const unsigned short_cfg[] = { 2, 0, 5, 8, 3, 0, 3, 7 };        /* 13 bits: 2 bytes */
    parse_dolby(ac3, dac3, short_cfg, 4, -EBADMSG);
}

static void test_ec3(void **state)
{
    (void)state;
    const uint32_t dec3 = FOURCC('d','e','c','3'), ec3 = FOURCC('e','c','-','3');
    /* data_rate, num_ind_sub; fscod, bsid, reserved, asvc, bsmod, acmod, lfeon,
     * reserved, num_dep_sub, reserved */
    const unsigned s51[] = { 13, 384, 3, 0, 2, 0, 5, 16, 1, 0, 1, 0, 3, 0, 3, 7, 1, 1,
                             3, 0, 4, 0, 1, 0 };
    pk_track_t t = parse_dolby(ec3, dec3, s51, 12, 0);
    assert_string_equal(t.codec, "ec-3");
    assert_int_equal(t.channels, 6);
    assert_int_equal(t.sample_rate, 48000);

    /* 7.1: a dependent substream adds Lrs/Rrs (chan_loc bit 1) */
    const unsigned s71[] = { 13, 1024, 3, 0, 2, 0, 5, 16, 1, 0, 1, 0, 3, 0, 3, 7, 1, 1,
                             3, 0, 4, 1, 9, 0x002 };
    t = parse_dolby(ec3, dec3, s71, 12, 0);
    assert_int_equal(t.channels, 8);

    /* two independent substreams, 32 kHz stereo first; reduced-rate fscod 3 second */
    const unsigned two[] = { 13, 192, 3, 1,
                             2, 2, 5, 16, 1, 0, 1, 0, 3, 0, 3, 2, 1, 0, 3, 0, 4, 0, 1, 0,
                             2, 3, 5, 16, 1, 0, 1, 0, 3, 0, 3, 1, 1, 0, 3, 0, 4, 0, 1, 0 };
    t = parse_dolby(ec3, dec3, two, 22, 0);
    assert_int_equal(t.channels, 2);
    assert_int_equal(t.sample_rate, 32000);

    /* fscod 3 in the first substream keeps the entry's rate */
    const unsigned reduced[] = { 13, 96, 3, 0, 2, 3, 5, 16, 1, 0, 1, 0, 3, 0, 3, 2, 1, 0,
                                 3, 0, 4, 0, 1, 0 };
    t = parse_dolby(ec3, dec3, reduced, 12, 0);
    assert_int_equal(t.sample_rate, 22050);

    /* second substream announced but missing; chan_loc byte missing */
    const unsigned missing[] = { 13, 192, 3, 1, 2, 2, 5, 16, 1, 0, 1, 0, 3, 0, 3, 2, 1, 0,
                                 3, 0, 4, 0, 1, 0 };
    parse_dolby(ec3, dec3, missing, 12, -EBADMSG);
    parse_dolby(ec3, dec3, s71, 11, -EBADMSG);
}

/* ---- text ---------------------------------------------------------------- */

static void test_text_entries(void **state)
{
    (void)state;
    uint8_t buf[256];
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = box_open(&w, FOURCC('w','v','t','t'));
    wr_zeros(&w, 6);
    wr_u16(&w, 1);
    put_box(&w, FOURCC('v','t','t','C'), "WEBVTT", 6);
    box_close(&w, b);
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_TEXT, &t), 0);
    assert_string_equal(t.codec, "wvtt");
    assert_int_equal(t.dsi_size, 0);
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), -EBADMSG);

    static const char ns[] = "http://www.w3.org/ns/ttml";
    w = wr_init(buf, sizeof buf);
    b = box_open(&w, FOURCC('s','t','p','p'));
    wr_zeros(&w, 6);
    wr_u16(&w, 1);
    wr_bytes(&w, ns, sizeof ns);
    wr_u8(&w, 0);
    wr_u8(&w, 0);
    put_btrt(&w, 4000);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_TEXT, &t), 0);
    assert_string_equal(t.codec, "stpp");
    assert_int_equal(t.max_bitrate, 4000);
    /* the third string's NUL is missing: the entry ends inside the strings */
    assert_int_equal(parse_len(&w, 8 + 8 + sizeof ns + 1, PK_TRACK_TEXT, &t), -EBADMSG);
    buf[3] = (uint8_t)(8 + 8 + sizeof ns + 1);
    assert_int_equal(parse_len(&w, 8 + 8 + sizeof ns + 1, PK_TRACK_TEXT, &t), -EBADMSG);
}

/* ---- malformed and unsupported ------------------------------------------- */

static void test_entry_shorter_than_header(void **state)
{
    (void)state;
    static const uint8_t tiny[] = { 0, 0, 0, 8, 'a', 'v', 'c' };
    static const uint8_t small_size[] = { 0, 0, 0, 4, 'a', 'v', 'c', '1' };
    pk_track_t t = { .type = PK_TRACK_VIDEO };
    assert_int_equal(pk_codec_parse_entry(tiny, sizeof tiny, &t), -EBADMSG);
    assert_int_equal(pk_codec_parse_entry(tiny, 0, &t), -EBADMSG);
    assert_int_equal(pk_codec_parse_entry(small_size, sizeof small_size, &t), -EBADMSG);

    /* a whole avc1 whose size field claims more than len; one cut inside the fixed
     * VisualSampleEntry fields */
    uint8_t buf[512];
    wr_t w = wr_init(buf, sizeof buf);
    build_x264(&w, FOURCC('a','v','c','1'));
    assert_int_equal(parse_len(&w, w.pos - 1, PK_TRACK_VIDEO, &t), -EBADMSG);
    w = wr_init(buf, sizeof buf);
    size_t b = visual_open(&w, FOURCC('a','v','c','1'), 320, 180);
    w.pos -= 10;
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
}

static void test_avcc_truncated_and_invalid(void **state)
{
    (void)state;
    uint8_t buf[512], avcc[sizeof x264_avcc];
    pk_track_t t = { 0 };
    /* box sizes consistent, but the avcC ends inside the SPS */
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = visual_open(&w, FOURCC('a','v','c','1'), 320, 180);
    put_box(&w, FOURCC('a','v','c','C'), x264_avcc, 20);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
    /* head only */
    w = wr_init(buf, sizeof buf);
    b = visual_open(&w, FOURCC('a','v','c','1'), 320, 180);
    put_box(&w, FOURCC('a','v','c','C'), x264_avcc, 3);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
    /* configurationVersion 0, then lengthSizeMinusOne 2 */
    for (int i = 0; i < 2; i++) {
        memcpy(avcc, x264_avcc, sizeof avcc);
        if (i == 0)
            avcc[0] = 0;
        else
            avcc[4] = 0xfe;
        w = wr_init(buf, sizeof buf);
        b = visual_open(&w, FOURCC('a','v','c','1'), 320, 180);
        put_box(&w, FOURCC('a','v','c','C'), avcc, sizeof avcc);
        box_close(&w, b);
        assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
    }
}

static void test_hvcc_truncated(void **state)
{
    (void)state;
    static const uint8_t cons[6] = { 0xb0 };
    uint8_t buf[512];
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = visual_open(&w, FOURCC('h','v','c','1'), 640, 360);
    size_t c = w.pos;
    put_hvcc(&w, 0x01, 0x60000000, cons, 93);
    w.pos -= 1;                 /* drop the last PPS byte, keep boxes consistent */
    box_close(&w, c);
    box_close(&w, b);
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
    wr_t o = wr_counter();
    assert_int_equal(pk_codec_param_sets(FOURCC('h','v','c','1'), buf + c + 8,
                                         w.pos - c - 8, &o), -EBADMSG);
    assert_int_equal(o.pos, 0);
}

static void test_esds_descriptor_past_end(void **state)
{
    (void)state;
    static const uint8_t asc[] = { 0x11, 0x90 };
    uint8_t buf[256];
    pk_track_t t = { 0 };
    /* the DecoderSpecificInfo claims 9 bytes, 2 are there (then the SLConfig) */
    for (int wide = 0; wide < 2; wide++) {
        wr_t w = wr_init(buf, sizeof buf);
        size_t b = audio_open(&w, FOURCC('m','p','4','a'), 2, 48000);
        put_esds(&w, 0x40, 0, asc, sizeof asc, wide);
        box_close(&w, b);
        size_t at = find(&w, asc, sizeof asc) - 1;
        assert_int_equal(buf[at], 2);
        buf[at] = 9;
        assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), -EBADMSG);
    }
    /* the ES_Descriptor claims more than the esds holds */
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = audio_open(&w, FOURCC('m','p','4','a'), 2, 48000);
    size_t e = w.pos;
    put_esds(&w, 0x40, 0, asc, sizeof asc, 0);
    box_close(&w, b);
    buf[e + 13] = 0x7f;
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), -EBADMSG);
    /* a 5-byte length (continuation bit on the 4th byte) */
    w = wr_init(buf, sizeof buf);
    b = audio_open(&w, FOURCC('m','p','4','a'), 2, 48000);
    e = w.pos;
    put_esds(&w, 0x40, 0, asc, sizeof asc, 1);
    box_close(&w, b);
    buf[e + 16] |= 0x80;
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), -EBADMSG);
    /* OTI 0x40 without a DecoderSpecificInfo */
    w = wr_init(buf, sizeof buf);
    b = audio_open(&w, FOURCC('m','p','4','a'), 2, 48000);
    put_esds(&w, 0x40, 0, NULL, 0, 0);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), -EBADMSG);
    /* esds version 1 */
    w = wr_init(buf, sizeof buf);
    b = audio_open(&w, FOURCC('m','p','4','a'), 2, 48000);
    e = w.pos;
    put_esds(&w, 0x40, 0, asc, sizeof asc, 0);
    box_close(&w, b);
    buf[e + 8] = 1;
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), -EBADMSG);
}

static void test_missing_config_box(void **state)
{
    (void)state;
    static const struct { uint32_t fcc; pk_track_type_t type; } cases[] = {
        { FOURCC('a','v','c','1'), PK_TRACK_VIDEO }, { FOURCC('a','v','c','3'), PK_TRACK_VIDEO },
        { FOURCC('h','v','c','1'), PK_TRACK_VIDEO }, { FOURCC('h','e','v','1'), PK_TRACK_VIDEO },
        { FOURCC('m','p','4','a'), PK_TRACK_AUDIO }, { FOURCC('a','c','-','3'), PK_TRACK_AUDIO },
        { FOURCC('e','c','-','3'), PK_TRACK_AUDIO },
    };
    static const uint8_t dac3[] = { 0x10, 0x3d, 0xe0 };
    uint8_t buf[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        wr_t w = wr_init(buf, sizeof buf);
        size_t b = cases[i].type == PK_TRACK_VIDEO ? visual_open(&w, cases[i].fcc, 64, 64)
                                                   : audio_open(&w, cases[i].fcc, 2, 48000);
        put_btrt(&w, 1000);
        /* a config box, but the wrong one (dac3 under ec-3, hvcC-less hvc1 ...) */
        if (cases[i].fcc == FOURCC('e','c','-','3'))
            put_box(&w, FOURCC('d','a','c','3'), dac3, sizeof dac3);
        if (cases[i].fcc == FOURCC('h','v','c','1'))
            put_box(&w, FOURCC('a','v','c','C'), x264_avcc, sizeof x264_avcc);
        box_close(&w, b);
        pk_track_t t = { 0 };
        assert_int_equal(parse(&w, cases[i].type, &t), -EBADMSG);
    }
}

static void test_child_box_sizes(void **state)
{
    (void)state;
    uint8_t buf[512];
    pk_track_t t = { 0 };
    /* a child box larger than what is left of the entry */
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = build_x264(&w, FOURCC('a','v','c','1'));
    size_t pasp = find(&w, "pasp", 4) - 4;
    buf[pasp + 3] = 0x40;
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
    /* a child box smaller than its header */
    buf[pasp + 3] = 4;
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
    /* a truncated btrt */
    w = wr_init(buf, sizeof buf);
    b = visual_open(&w, FOURCC('a','v','c','1'), 320, 180);
    put_box(&w, FOURCC('a','v','c','C'), x264_avcc, sizeof x264_avcc);
    put_box(&w, FOURCC('b','t','r','t'), "\0\0\0\0\0\0", 6);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
    /* 64-bit child size and trailing junk too short to be a box */
    w = wr_init(buf, sizeof buf);
    b = visual_open(&w, FOURCC('a','v','c','1'), 320, 180);
    wr_u32(&w, 1);
    wr_u32(&w, FOURCC('a','v','c','C'));
    wr_u64(&w, 16 + sizeof x264_avcc);
    wr_bytes(&w, x264_avcc, sizeof x264_avcc);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), 0);
    assert_string_equal(t.codec, "avc1.64001e");
    assert_int_equal(t.dsi_off, 86 + 16);
    wr_u8(&w, 7);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
}

static void test_wrong_track_type(void **state)
{
    (void)state;
    static const uint8_t asc[] = { 0x11, 0x90 };
    uint8_t buf[512];
    wr_t w = wr_init(buf, sizeof buf);
    build_x264(&w, FOURCC('a','v','c','1'));
    pk_track_t t = { 0 };
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), -EBADMSG);
    assert_int_equal(parse(&w, PK_TRACK_TEXT, &t), -EBADMSG);
    w = wr_init(buf, sizeof buf);
    size_t b = audio_open(&w, FOURCC('m','p','4','a'), 2, 48000);
    put_esds(&w, 0x40, 0, asc, sizeof asc, 0);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -EBADMSG);
}

static void test_unsupported_entries(void **state)
{
    (void)state;
    uint8_t buf[512];
    pk_track_t t = { 0 };
    wr_t w = wr_init(buf, sizeof buf);
    size_t b = visual_open(&w, FOURCC('e','n','c','v'), 320, 180);
    put_box(&w, FOURCC('a','v','c','C'), x264_avcc, sizeof x264_avcc);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -ENOTSUP);
    w = wr_init(buf, sizeof buf);
    b = audio_open(&w, FOURCC('e','n','c','a'), 2, 48000);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), -ENOTSUP);
    w = wr_init(buf, sizeof buf);
    b = visual_open(&w, FOURCC('v','p','0','9'), 320, 180);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), -ENOTSUP);
    w = wr_init(buf, sizeof buf);
    b = audio_open(&w, FOURCC('O','p','u','s'), 2, 48000);
    box_close(&w, b);
    assert_int_equal(parse(&w, PK_TRACK_AUDIO, &t), -ENOTSUP);
}

/* The caller's track is untouched on failure, and the codec fields are reset on
 * success (nothing stale from a previous parse). */
static void test_track_untouched_on_failure(void **state)
{
    (void)state;
    uint8_t buf[512];
    wr_t w = wr_init(buf, sizeof buf);
    build_x264(&w, FOURCC('a','v','c','1'));
    pk_track_t t = { .id = 7, .timescale = 90000, .channels = 5, .dsi_off = 3 };
    memcpy(t.codec, "before", 7);
    assert_int_equal(parse_len(&w, 50, PK_TRACK_VIDEO, &t), -EBADMSG);
    assert_string_equal(t.codec, "before");
    assert_int_equal(t.channels, 5);
    assert_int_equal(t.dsi_off, 3);
    assert_int_equal(t.fourcc, 0);
    assert_int_equal(t.width, 0);
    assert_int_equal(parse(&w, PK_TRACK_VIDEO, &t), 0);
    assert_int_equal(t.id, 7);
    assert_int_equal(t.timescale, 90000);
    assert_int_equal(t.channels, 0);
}

/* Every prefix of every good entry, with the entry size patched to the prefix so the
 * parser goes inside: 0 (a cut between boxes) or -EBADMSG, never a read past len
 * (ASan); and random byte flips: one of the documented codes, codec NUL-terminated. */
static void test_truncation_and_flips(void **state)
{
    (void)state;
    static const uint8_t asc[] = { 0x2b, 0x11, 0x88 }, cons[6] = { 0x90 };
    uint8_t bufs[6][512];
    wr_t ws[6];
    pk_track_type_t types[6];
    for (int i = 0; i < 6; i++)
        ws[i] = wr_init(bufs[i], sizeof bufs[i]);
    build_x264(&ws[0], FOURCC('a','v','c','1'));
    types[0] = PK_TRACK_VIDEO;
    size_t b = visual_open(&ws[1], FOURCC('h','e','v','1'), 64, 64);
    put_hvcc(&ws[1], 0x22, 0x20000000, cons, 120);
    box_close(&ws[1], b);
    types[1] = PK_TRACK_VIDEO;
    b = audio_open(&ws[2], FOURCC('m','p','4','a'), 2, 48000);
    put_esds(&ws[2], 0x40, 0, asc, sizeof asc, 1);
    box_close(&ws[2], b);
    types[2] = PK_TRACK_AUDIO;
    b = audio_open_v(&ws[3], FOURCC('a','c','-','3'), 2, 48000, 1);
    put_box(&ws[3], FOURCC('d','a','c','3'), "\x10\x3d\xe0", 3);
    box_close(&ws[3], b);
    types[3] = PK_TRACK_AUDIO;
    b = audio_open(&ws[4], FOURCC('e','c','-','3'), 2, 48000);
    put_box(&ws[4], FOURCC('d','e','c','3'), "\x0c\x00\x20\x0f\x03\x00", 6);
    box_close(&ws[4], b);
    types[4] = PK_TRACK_AUDIO;
    b = box_open(&ws[5], FOURCC('s','t','p','p'));
    wr_zeros(&ws[5], 8);
    wr_bytes(&ws[5], "ns\0\0\0", 5);
    put_btrt(&ws[5], 1);
    box_close(&ws[5], b);
    types[5] = PK_TRACK_TEXT;

    srand(1);
    for (int i = 0; i < 6; i++) {
        pk_track_t t = { 0 };
        assert_int_equal(parse(&ws[i], types[i], &t), 0);
        uint8_t save[512];
        memcpy(save, bufs[i], ws[i].pos);
        for (size_t n = 0; n < ws[i].pos; n++) {
            assert_int_equal(parse_len(&ws[i], n, types[i], &t), -EBADMSG);
            if (n >= 4) {
                bufs[i][3] = (uint8_t)n;
                int rc = parse_len(&ws[i], n, types[i], &t);
                CHECK(rc == 0 || rc == -EBADMSG);
                bufs[i][3] = save[3];
            }
        }
        for (int k = 0; k < 20000; k++) {
            size_t at = 8 + (size_t)rand() % (ws[i].pos - 8);
            bufs[i][at] = (uint8_t)rand();
            if (rand() % 4 == 0)
                bufs[i][8 + (size_t)rand() % (ws[i].pos - 8)] = (uint8_t)rand();
            memset(t.codec, 'x', sizeof t.codec);
            int rc = parse(&ws[i], types[i], &t);
            CHECK(rc == 0 || rc == -EBADMSG);
            CHECK(rc != 0 || memchr(t.codec, 0, sizeof t.codec) != NULL);
            CHECK(rc != 0 || t.dsi_off + (uint64_t)t.dsi_size <= ws[i].pos);
            memcpy(bufs[i], save, ws[i].pos);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avc1_x264_high_30),
        cmocka_unit_test(test_avc3_prefix_and_length_size),
        cmocka_unit_test(test_avc_param_sets_annexb),
        cmocka_unit_test(test_hvc1_main),
        cmocka_unit_test(test_hev1_space_tier_constraints),
        cmocka_unit_test(test_hvc1_no_constraints_all_compat),
        cmocka_unit_test(test_mp4a_aac_lc),
        cmocka_unit_test(test_mp4a_he_aac_reports_core),
        cmocka_unit_test(test_mp4a_asc_escapes),
        cmocka_unit_test(test_mp4a_mp3),
        cmocka_unit_test(test_mp4a_quicktime_v1_wave),
        cmocka_unit_test(test_ac3),
        cmocka_unit_test(test_ec3),
        cmocka_unit_test(test_text_entries),
        cmocka_unit_test(test_entry_shorter_than_header),
        cmocka_unit_test(test_avcc_truncated_and_invalid),
        cmocka_unit_test(test_hvcc_truncated),
        cmocka_unit_test(test_esds_descriptor_past_end),
        cmocka_unit_test(test_missing_config_box),
        cmocka_unit_test(test_child_box_sizes),
        cmocka_unit_test(test_wrong_track_type),
        cmocka_unit_test(test_unsupported_entries),
        cmocka_unit_test(test_track_untouched_on_failure),
        cmocka_unit_test(test_truncation_and_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
