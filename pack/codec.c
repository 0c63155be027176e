/*
 * Sample entries and codec configuration (see codec.h): the fixed fields of
 * Visual/AudioSampleEntry (14496-12 12.1.3, 12.2.3), the config boxes avcC and
 * hvcC (14496-15 5.3.3, 8.3.3), esds (14496-1 7.2.6, 14496-14 5.6) with its
 * AudioSpecificConfig (14496-3 1.6.2.1), dac3/dec3 (ETSI TS 102 366 F.4, F.6),
 * and the RFC 6381 codecs strings built from them.
 */
#include "codec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum kind { K_AVC, K_HEVC, K_MP4A, K_AC3, K_EC3, K_WVTT, K_STPP };

static const struct {
    uint32_t fourcc;
    pk_track_type_t type;
    enum kind kind;
} entry_kinds[] = {
    { FOURCC('a','v','c','1'), PK_TRACK_VIDEO, K_AVC },
    { FOURCC('a','v','c','3'), PK_TRACK_VIDEO, K_AVC },
    { FOURCC('h','v','c','1'), PK_TRACK_VIDEO, K_HEVC },
    { FOURCC('h','e','v','1'), PK_TRACK_VIDEO, K_HEVC },
    { FOURCC('m','p','4','a'), PK_TRACK_AUDIO, K_MP4A },
    { FOURCC('a','c','-','3'), PK_TRACK_AUDIO, K_AC3 },
    { FOURCC('e','c','-','3'), PK_TRACK_AUDIO, K_EC3 },
    { FOURCC('w','v','t','t'), PK_TRACK_TEXT, K_WVTT },
    { FOURCC('s','t','p','p'), PK_TRACK_TEXT, K_STPP },
};

/* The child boxes of a sample entry that we read: bodies, .p == NULL when absent. */
typedef struct {
    rd_t avcc, hvcc, esds, dac3, dec3, btrt;
} config_t;

/* Appends printf output to the NUL-terminated string in buf[cap]; truncates silently
 * (every codecs string we build fits 48 bytes, see the widest case in parse_hvcc). */
__attribute__((format(printf, 3, 4)))
static void catf(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

/*
 * 14496-12 4.2: reads one box header from r and returns its body in *body.
 * size 1 means a 64-bit size follows, 0 means "to the end of the enclosing box".
 * Returns 1, 0 at the end of r, or -EBADMSG when the box does not fit.
 */
static int next_box(rd_t *r, uint32_t *type, rd_t *body)
{
    if (rd_left(r) == 0)
        return 0;
    const uint8_t *start = r->p;
    uint64_t size = rd_u32(r);
    *type = rd_u32(r);
    if (size == 1)
        size = rd_u64(r);
    else if (size == 0)
        size = (uint64_t)(r->end - start);
    size_t hdr = (size_t)(r->p - start);
    if (r->err || size < hdr || size - hdr > rd_left(r))
        return -EBADMSG;
    *body = rd_sub(r, (size_t)(size - hdr));
    return 1;
}

/* QTFF ends some atom lists with a 32-bit zero "terminator" too short to be a box. */
static int is_terminator(const rd_t *r)
{
    if (rd_left(r) >= 8)
        return 0;
    for (const uint8_t *p = r->p; p < r->end; p++)
        if (*p)
            return 0;
    return 1;
}

/* Walks the child boxes of a sample entry, keeping the first of each kind we read
 * and skipping the rest (btrt pasp colr clap chnl sinf ...). */
static int find_configs(rd_t r, config_t *cf, int depth)
{
    uint32_t type;
    rd_t body;
    int rc = 0;

    while (!is_terminator(&r) && (rc = next_box(&r, &type, &body)) > 0) {
        rd_t *slot = NULL;
        switch (type) {
        case FOURCC('a','v','c','C'): slot = &cf->avcc; break;
        case FOURCC('h','v','c','C'): slot = &cf->hvcc; break;
        case FOURCC('e','s','d','s'): slot = &cf->esds; break;
        case FOURCC('d','a','c','3'): slot = &cf->dac3; break;
        case FOURCC('d','e','c','3'): slot = &cf->dec3; break;
        case FOURCC('b','t','r','t'): slot = &cf->btrt; break;
        case FOURCC('w','a','v','e'):
            /* QTFF sound description v1: esds sits inside a wave atom */
            if (depth == 0 && (rc = find_configs(body, cf, 1)) < 0)
                return rc;
            break;
        default:
            break;
        }
        if (slot && !slot->p)
            *slot = body;
    }
    return rc < 0 ? rc : 0;
}

/* 14496-12 12.1.3: VisualSampleEntry fields after the SampleEntry header. */
static int parse_visual(rd_t *r, pk_track_t *c)
{
    rd_skip(r, 16);             /* pre_defined, reserved, pre_defined[3] */
    c->width = rd_u16(r);
    c->height = rd_u16(r);
    rd_skip(r, 50);             /* resolutions, reserved, frame_count, compressorname, depth, -1 */
    return r->err;
}

/*
 * 14496-12 12.2.3: AudioSampleEntry fields after the SampleEntry header. The first
 * reserved word is the QTFF sound description version: v1 appends 16 bytes, v2
 * appends 36 and moves the rate (float64) and channel count there. ISO files have
 * 0 (the rare AudioSampleEntryV1 of stsd version 1 reads as QTFF v1 here, as in
 * FFmpeg for stsd version 0).
 */
static int parse_audio(rd_t *r, pk_track_t *c)
{
    uint16_t version = rd_u16(r);
    rd_skip(r, 6);              /* revision, vendor / reserved */
    c->channels = rd_u16(r);
    rd_skip(r, 6);              /* samplesize, pre_defined, reserved */
    c->sample_rate = rd_u32(r) >> 16;   /* 16.16 fixed point */
    if (version == 1) {
        rd_skip(r, 16);         /* samples per packet, bytes per packet/frame/sample */
    } else if (version == 2) {
        rd_skip(r, 4);          /* sizeOfStructOnly */
        uint64_t bits = rd_u64(r);
        double rate;
        memcpy(&rate, &bits, sizeof rate);
        uint32_t channels = rd_u32(r);
        rd_skip(r, 20);         /* 0x7f000000, bits per channel, flags, bytes, frames */
        if (rate >= 1 && rate <= 1e6)
            c->sample_rate = (uint32_t)rate;
        if (channels <= UINT16_MAX)
            c->channels = (uint16_t)channels;
    }
    return r->err;
}

/* 14496-12 8.5.2.2: BitRateBox. */
static int parse_btrt(rd_t r, pk_track_t *c)
{
    rd_skip(&r, 4);             /* bufferSizeDB */
    uint32_t max = rd_u32(&r);
    rd_skip(&r, 4);             /* avgBitrate */
    if (r.err)
        return r.err;
    if (!c->max_bitrate)
        c->max_bitrate = max;
    return 0;
}

/* Appends one NAL unit behind an Annex B start code. */
static void emit_nal(wr_t *w, rd_t nal)
{
    if (!w || nal.err)
        return;
    wr_u32(w, 1);
    wr_bytes(w, nal.p, rd_left(&nal));
}

/* 14496-15 5.3.3.1: the SPS and PPS arrays after the 5-byte avcC head, each NAL
 * written to w when w != NULL. Trailing fields (High profile extensions) are left. */
static int walk_avc_sets(rd_t *r, wr_t *w)
{
    for (int pps = 0; pps < 2 && !r->err; pps++) {
        unsigned n = rd_u8(r) & (pps ? 0xffu : 0x1fu);
        for (unsigned i = 0; i < n && !r->err; i++) {
            uint16_t size = rd_u16(r);
            emit_nal(w, rd_sub(r, size));
        }
    }
    return r->err;
}

/* 14496-15 8.3.3.1: the NAL unit arrays after the 22-byte hvcC head. */
static int walk_hevc_arrays(rd_t *r, wr_t *w)
{
    unsigned arrays = rd_u8(r);
    for (unsigned a = 0; a < arrays && !r->err; a++) {
        rd_skip(r, 1);          /* array_completeness, reserved, NAL_unit_type */
        unsigned n = rd_u16(r);
        for (unsigned i = 0; i < n && !r->err; i++) {
            uint16_t size = rd_u16(r);
            emit_nal(w, rd_sub(r, size));
        }
    }
    return r->err;
}

/* avcC: "avc1.PPCCLL" from the three profile/level bytes of the head (RFC 6381 3.3). */
static int parse_avcc(rd_t r, pk_track_t *c)
{
    uint8_t version = rd_u8(&r);
    uint8_t profile = rd_u8(&r), compat = rd_u8(&r), level = rd_u8(&r);
    unsigned length_size = (rd_u8(&r) & 3u) + 1;
    /* lengthSizeMinusOne 2 (3-byte lengths) is not allowed */
    if (walk_avc_sets(&r, NULL) < 0 || version != 1 || length_size == 3)
        return -EBADMSG;
    char fcc[5];
    snprintf(c->codec, sizeof c->codec, "%s.%02x%02x%02x",
             fourcc_str(c->fourcc, fcc), profile, compat, level);
    c->nal_length_size = (uint8_t)length_size;
    return 0;
}

/* The 32 bits of x in reverse order. */
static uint32_t reverse32(uint32_t x)
{
    uint32_t y = 0;
    for (int i = 0; i < 32; i++, x >>= 1)
        y = y << 1 | (x & 1);
    return y;
}

/*
 * hvcC: 14496-15 E.3, "hvc1.[A|B|C]idc.COMPAT.{L|H}level[.CC...]": COMPAT is the
 * compatibility flags in reverse bit order, in hex without leading zeros; CC are
 * the six constraint bytes up to the last non-zero one. The widest string,
 * "hvc1.C31.FFFFFFFF.H255.FF.FF.FF.FF.FF.FF", is 40 characters.
 */
static int parse_hvcc(rd_t r, pk_track_t *c)
{
    uint8_t version = rd_u8(&r);
    uint8_t b = rd_u8(&r);
    unsigned space = b >> 6, tier = b >> 5 & 1u, idc = b & 0x1fu;
    uint32_t compat = rd_u32(&r);
    uint8_t cons[6];
    rd_bytes(&r, cons, sizeof cons);
    uint8_t level = rd_u8(&r);
    rd_skip(&r, 8);             /* segmentation, parallelism, chroma, bit depths, frame rate */
    unsigned length_size = (rd_u8(&r) & 3u) + 1;
    if (walk_hevc_arrays(&r, NULL) < 0 || version != 1 || length_size == 3)
        return -EBADMSG;

    char fcc[5];
    snprintf(c->codec, sizeof c->codec, "%s.", fourcc_str(c->fourcc, fcc));
    if (space)
        catf(c->codec, sizeof c->codec, "%c", "ABC"[space - 1]);
    catf(c->codec, sizeof c->codec, "%u.%X.%c%u", idc, (unsigned)reverse32(compat),
         tier ? 'H' : 'L', level);
    int last = 5;
    while (last >= 0 && !cons[last])
        last--;
    for (int i = 0; i <= last; i++)
        catf(c->codec, sizeof c->codec, ".%02X", cons[i]);
    c->nal_length_size = (uint8_t)length_size;
    return 0;
}

/* An MSB-first bit reader over an AudioSpecificConfig; sticky error like rd_t. */
typedef struct {
    const uint8_t *p;
    size_t bits, pos;
    int err;
} bits_t;

static uint32_t get_bits(bits_t *b, unsigned n)
{
    uint32_t v = 0;
    if (b->bits - b->pos < n) {
        b->err = -EBADMSG;
        b->pos = b->bits;
        return 0;
    }
    for (unsigned i = 0; i < n; i++, b->pos++)
        v = v << 1 | (uint32_t)(b->p[b->pos >> 3] >> (7 - (b->pos & 7)) & 1);
    return v;
}

/* 14496-3 1.6.2.1.1 GetAudioObjectType(): 31 escapes to 32 + 6 bits. */
static unsigned get_aot(bits_t *b)
{
    unsigned aot = get_bits(b, 5);
    return aot == 31 ? 32 + get_bits(b, 6) : aot;
}

/* 14496-3 1.6.3.4: samplingFrequencyIndex, 15 escapes to an explicit 24-bit rate.
 * Returns 0 for an explicit rate of 0; sets err for the reserved indices 13, 14. */
static uint32_t get_rate(bits_t *b)
{
    static const uint32_t rates[13] = {
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025,
        8000, 7350,
    };
    unsigned idx = get_bits(b, 4);
    if (idx == 15)
        return get_bits(b, 24);
    if (idx < 13)
        return rates[idx];
    b->err = -EBADMSG;
    return 0;
}

/*
 * AudioSpecificConfig: AOT, rate and channels. For explicit SBR/PS signalling
 * (AOT 5, 29) the AOT stays 5/29 (it names the codecs string, "mp4a.40.5") and the
 * rate and channels are the core's, as the ASC states them first.
 */
static int parse_asc(const uint8_t *dsi, size_t len, pk_track_t *c)
{
    /* 14496-3 1.6.3.4: channelConfiguration -> channels; 0 = in a PCE, others reserved */
    static const uint8_t chans[16] = { 0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0 };
    bits_t b = { dsi, len * 8, 0, 0 };
    unsigned aot = get_aot(&b);
    uint32_t rate = get_rate(&b);
    unsigned chcfg = get_bits(&b, 4);
    if (aot == 5 || aot == 29) {
        get_rate(&b);           /* extensionSamplingFrequency */
        if (get_aot(&b) == 22)  /* ER BSAC core */
            get_bits(&b, 4);    /* extensionChannelConfiguration */
    }
    if (b.err || aot == 0 || aot > UINT8_MAX)
        return -EBADMSG;
    c->audio_object_type = (uint8_t)aot;
    if (rate)
        c->sample_rate = rate;
    if (chans[chcfg])
        c->channels = chans[chcfg];
    return 0;
}

/* 14496-1 8.3.3: a descriptor's tag and its 1-4 byte length, 7 bits per byte. */
static int next_desc(rd_t *r, uint8_t *tag, rd_t *body)
{
    uint32_t n = 0;
    uint8_t b = 0x80;
    *tag = rd_u8(r);
    for (int i = 0; i < 4 && (b & 0x80); i++) {
        b = rd_u8(r);
        n = n << 7 | (b & 0x7fu);
    }
    if (r->err || (b & 0x80) || n > rd_left(r))
        return -EBADMSG;
    *body = rd_sub(r, n);
    return 0;
}

/* The first descriptor tagged `want` among those left in r: 1, 0 if none, or -EBADMSG. */
static int find_desc(rd_t *r, uint8_t want, rd_t *out)
{
    uint8_t tag;
    while (rd_left(r)) {
        if (next_desc(r, &tag, out) < 0)
            return -EBADMSG;
        if (tag == want)
            return 1;
    }
    return 0;
}

/*
 * esds: 14496-14 5.6 (FullBox around an ES_Descriptor), 14496-1 7.2.6.5 (ES_Descriptor),
 * 7.2.6.6 (DecoderConfigDescriptor), 7.2.6.7 (DecoderSpecificInfo). Codecs string
 * per RFC 6381 3.3: "mp4a.40.AOT" for MPEG-4 audio, "mp4a.OO" (OTI in hex) else.
 */
static int parse_esds(rd_t r, const uint8_t *entry, pk_track_t *c)
{
    rd_t es, dcd, dsi = { 0 };
    if (rd_u32(&r) >> 24 != 0 || r.err)        /* version 0 */
        return -EBADMSG;
    if (find_desc(&r, 0x03, &es) <= 0)
        return -EBADMSG;
    rd_skip(&es, 2);                            /* ES_ID */
    uint8_t flags = rd_u8(&es);
    if (flags & 0x80)
        rd_skip(&es, 2);                        /* dependsOn_ES_ID */
    if (flags & 0x40)
        rd_skip(&es, rd_u8(&es));               /* URLlength, URLstring */
    if (flags & 0x20)
        rd_skip(&es, 2);                        /* OCR_ES_Id */
    if (es.err || find_desc(&es, 0x04, &dcd) <= 0)
        return -EBADMSG;
    uint8_t oti = rd_u8(&dcd);
    rd_skip(&dcd, 4);                           /* streamType, upStream, bufferSizeDB */
    uint32_t max = rd_u32(&dcd);
    rd_skip(&dcd, 4);                           /* avgBitrate */
    if (dcd.err || find_desc(&dcd, 0x05, &dsi) < 0)
        return -EBADMSG;

    c->object_type = oti;
    if (max)
        c->max_bitrate = max;
    if (dsi.p) {
        c->dsi_off = (uint32_t)(dsi.p - entry);
        c->dsi_size = (uint32_t)rd_left(&dsi);
    }
    /* 0x40 MPEG-4 audio; 0x66-0x68 MPEG-2 AAC profiles carry the same ASC */
    if (oti == 0x40 || (oti >= 0x66 && oti <= 0x68)) {
        if (oti == 0x40 && !dsi.p)
            return -EBADMSG;
        if (dsi.p && parse_asc(dsi.p, rd_left(&dsi), c) < 0)
            return -EBADMSG;
    }
    if (oti == 0x40)
        snprintf(c->codec, sizeof c->codec, "mp4a.40.%u", c->audio_object_type);
    else
        snprintf(c->codec, sizeof c->codec, "mp4a.%02x", oti);
    return 0;
}

/* ETSI TS 102 366 4.4.2.3: channels of acmod (without LFE). */
static const uint8_t acmod_channels[8] = { 2, 1, 2, 3, 3, 4, 4, 5 };
static const uint32_t fscod_rates[3] = { 48000, 44100, 32000 };

/* dac3, ETSI TS 102 366 F.4: fscod 2, bsid 5, bsmod 3, acmod 3, lfeon 1, bit_rate_code 5. */
static int parse_dac3(rd_t r, pk_track_t *c)
{
    uint32_t v = rd_u24(&r);
    unsigned fscod = v >> 22, acmod = v >> 11 & 7u, lfeon = v >> 10 & 1u;
    if (r.err || fscod == 3)
        return -EBADMSG;
    c->sample_rate = fscod_rates[fscod];
    c->channels = (uint16_t)(acmod_channels[acmod] + lfeon);
    snprintf(c->codec, sizeof c->codec, "ac-3");
    return 0;
}

/*
 * dec3, ETSI TS 102 366 F.6: data_rate 13, num_ind_sub 3, then per independent
 * substream fscod 2, bsid 5, reserved 1, asvc 1, bsmod 3, acmod 3, lfeon 1,
 * reserved 3, num_dep_sub 4, chan_loc 9 (or reserved 1). Channels are the first
 * independent substream's plus what its dependent substreams add (chan_loc,
 * Table F.6.3: pairs Lc/Rc, Lrs/Rrs, Cs, Ts, Lsd/Rsd, Lw/Rw, Vhl/Vhr, Vhc, LFE2).
 * fscod 3 (reduced rates, fscod2 not in dec3) keeps the sample entry's rate.
 */
static int parse_dec3(rd_t r, pk_track_t *c)
{
    static const uint8_t loc_channels[9] = { 2, 2, 1, 1, 2, 2, 2, 1, 1 };
    unsigned num_ind_sub = (rd_u16(&r) & 7u) + 1;
    uint32_t first = rd_u24(&r);
    unsigned chan_loc = 0;
    if (first & 0x1e)                           /* num_dep_sub */
        chan_loc = (first & 1u) << 8 | rd_u8(&r);
    for (unsigned i = 1; i < num_ind_sub && !r.err; i++)
        if (rd_u24(&r) & 0x1e)
            rd_skip(&r, 1);
    if (r.err)
        return -EBADMSG;
    unsigned fscod = first >> 22, acmod = first >> 9 & 7u, lfeon = first >> 8 & 1u;
    unsigned channels = acmod_channels[acmod] + lfeon;
    for (int bit = 0; bit < 9; bit++)
        if (chan_loc >> bit & 1)
            channels += loc_channels[bit];
    if (fscod < 3)
        c->sample_rate = fscod_rates[fscod];
    c->channels = (uint16_t)channels;
    snprintf(c->codec, sizeof c->codec, "ec-3");
    return 0;
}

/* 14496-30 / 14496-12 12.6.3.2: XMLSubtitleSampleEntry's three NUL-terminated
 * strings (namespace, schema_location, auxiliary_mime_types) before its boxes. */
static int skip_stpp_strings(rd_t *r)
{
    for (int i = 0; i < 3; i++) {
        const uint8_t *nul = memchr(r->p, 0, rd_left(r));
        if (!nul)
            return -EBADMSG;
        rd_skip(r, (size_t)(nul - r->p) + 1);
    }
    return 0;
}

/* The dsi location of a config box body found in the entry. */
static void set_dsi(pk_track_t *c, const uint8_t *entry, rd_t body)
{
    c->dsi_off = (uint32_t)(body.p - entry);
    c->dsi_size = (uint32_t)rd_left(&body);
}

int pk_codec_parse_entry(const uint8_t *entry, size_t len, pk_track_t *t)
{
    rd_t r = rd_init(entry, len), body;
    uint32_t type;
    config_t cf = { 0 };
    size_t k;

    if (len > UINT32_MAX || next_box(&r, &type, &body) <= 0)
        return -EBADMSG;
    for (k = 0; k < sizeof entry_kinds / sizeof *entry_kinds; k++)
        if (entry_kinds[k].fourcc == type)
            break;
    if (k == sizeof entry_kinds / sizeof *entry_kinds)
        return -ENOTSUP;                        /* encv, enca, and codecs we do not know */
    if (entry_kinds[k].type != t->type)
        return -EBADMSG;

    /* work on a copy: the caller's track changes only on success */
    pk_track_t c = *t;
    c.fourcc = type;
    memset(c.codec, 0, sizeof c.codec);
    c.width = c.height = c.channels = 0;
    c.sample_rate = c.max_bitrate = 0;
    c.nal_length_size = c.object_type = c.audio_object_type = 0;
    c.dsi_off = c.dsi_size = 0;

    rd_skip(&body, 8);                          /* reserved, data_reference_index */
    int rc = body.err;
    if (rc == 0 && entry_kinds[k].type == PK_TRACK_VIDEO)
        rc = parse_visual(&body, &c);
    else if (rc == 0 && entry_kinds[k].type == PK_TRACK_AUDIO)
        rc = parse_audio(&body, &c);
    else if (rc == 0 && entry_kinds[k].kind == K_STPP)
        rc = skip_stpp_strings(&body);
    if (rc < 0 || (rc = find_configs(body, &cf, 0)) < 0)
        return -EBADMSG;

    switch (entry_kinds[k].kind) {
    case K_AVC:
        if (!cf.avcc.p || parse_avcc(cf.avcc, &c) < 0)
            return -EBADMSG;
        set_dsi(&c, entry, cf.avcc);
        break;
    case K_HEVC:
        if (!cf.hvcc.p || parse_hvcc(cf.hvcc, &c) < 0)
            return -EBADMSG;
        set_dsi(&c, entry, cf.hvcc);
        break;
    case K_MP4A:
        if (!cf.esds.p || parse_esds(cf.esds, entry, &c) < 0)
            return -EBADMSG;
        break;
    case K_AC3:
        if (!cf.dac3.p || parse_dac3(cf.dac3, &c) < 0)
            return -EBADMSG;
        set_dsi(&c, entry, cf.dac3);
        break;
    case K_EC3:
        if (!cf.dec3.p || parse_dec3(cf.dec3, &c) < 0)
            return -EBADMSG;
        set_dsi(&c, entry, cf.dec3);
        break;
    case K_WVTT:
        snprintf(c.codec, sizeof c.codec, "wvtt");
        break;
    case K_STPP:
        snprintf(c.codec, sizeof c.codec, "stpp");
        break;
    }
    if (cf.btrt.p && parse_btrt(cf.btrt, &c) < 0)
        return -EBADMSG;
    *t = c;
    return 0;
}

int pk_codec_param_sets(uint32_t fourcc, const uint8_t *dsi, size_t len, wr_t *w)
{
    rd_t r = rd_init(dsi, len);
    int hevc;

    switch (fourcc) {
    case FOURCC('a','v','c','1'):
    case FOURCC('a','v','c','3'):
        hevc = 0;
        break;
    case FOURCC('h','v','c','1'):
    case FOURCC('h','e','v','1'):
        hevc = 1;
        break;
    default:
        return -ENOTSUP;
    }
    rd_skip(&r, hevc ? 22 : 5);                 /* the heads parse_hvcc/parse_avcc read */
    rd_t check = r;
    /* validate before writing, so that w holds all the parameter sets or none */
    if ((hevc ? walk_hevc_arrays(&check, NULL) : walk_avc_sets(&check, NULL)) < 0)
        return -EBADMSG;
    if (hevc)
        walk_hevc_arrays(&r, w);
    else
        walk_avc_sets(&r, w);
    return w->err;
}
