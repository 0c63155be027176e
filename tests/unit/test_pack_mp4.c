/*
 * pack/mp4.c: MP4 files built in memory (progressive and fragmented), parsed and
 * checked field by field; then one case per malformed box, each expecting its
 * error code and one error line that names the box path.
 */
#include "test.h"

#include "../../pack/mp4.c"

/* ---- log capture ---------------------------------------------------------- */

static int errors, warnings;
static char last_error[1024], last_warning[1024];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)func;
    (void)ctx;
    if (level == PK_LOG_ERROR) {
        errors++;
        snprintf(last_error, sizeof last_error, "%s", msg);
    } else if (level == PK_LOG_WARN) {
        warnings++;
        snprintf(last_warning, sizeof last_warning, "%s", msg);
    }
}

static int setup(void **state)
{
    (void)state;
    errors = warnings = 0;
    last_error[0] = last_warning[0] = '\0';
    pk_log_set_sink(capture, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pk_log_set_sink(NULL, NULL);
    return 0;
}

/* ---- building files ------------------------------------------------------ */

#define CAP (64 * 1024)
#define FILLER 0xa5             /* sample bytes: never looks like a box type */

typedef struct {
    uint32_t count;
    int32_t value;              /* stts: delta; ctts: offset */
} pair_t;

typedef struct {
    uint32_t first, spc;        /* stsc first_chunk, samples_per_chunk */
} stsc_t;

typedef struct {
    uint32_t id, handler, entry, timescale;
    uint16_t lang;
    uint32_t n, uniform;        /* uniform 0: a size table, sample i is 100 + i bytes */
    const pair_t *stts;
    uint32_t stts_n;
    const pair_t *ctts;         /* NULL: no ctts */
    uint32_t ctts_n;
    uint8_t ctts_v;
    const uint32_t *stss;       /* NULL: no stss */
    uint32_t stss_n;
    const stsc_t *stsc;
    uint32_t stsc_n, chunks;
    int co64;
    const int64_t (*elst)[2];   /* segment_duration, media_time; NULL: no edts */
    uint32_t elst_n;
    uint8_t elst_v;
    /* set by the builder */
    uint64_t data;              /* offset of the track's first chunk */
    uint64_t chunk[16];         /* chunk offsets */
    uint64_t bytes;             /* size of the track's data region */
} trk_t;

enum {
    MOOV_FIRST = 1,             /* ftyp moov mdat instead of ftyp mdat moov */
    ZERO_BOX = 2,               /* a size-0 box at the end of moov */
    NO_MOOV = 4,
    LARGESIZE = 8,              /* a top-level box with a 64-bit size past the end of file */
};

typedef struct {
    trk_t trk[3];
    int ntrk;
    int flags;
    uint32_t cut_box;           /* the first box of this type loses its last `cut` bytes */
    size_t cut;
} file_t;

typedef struct {
    wr_t w;
    const file_t *f;
    int cut_done;
} bld_t;

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The first box of this type in buf (a byte search: sample bytes are FILLER). */
static uint8_t *find_box(uint8_t *buf, size_t len, uint32_t type)
{
    for (size_t i = 0; i + 8 <= len; i++)
        if (get32(buf + i + 4) == type && get32(buf + i) >= 8 && get32(buf + i) <= len - i)
            return buf + i;
    fail_msg("no box %08x", type);
    return NULL;
}

static void close_table(bld_t *b, size_t start, uint32_t type)
{
    if (!b->cut_done && b->f->cut_box == type) {
        b->w.pos -= b->f->cut;
        b->cut_done = 1;
    }
    box_close(&b->w, start);
}

static uint32_t sample_size(const trk_t *t, uint32_t i)
{
    return t->uniform ? t->uniform : 100 + i;
}

/* samples_per_chunk of 0-based chunk k */
static uint32_t spc_of(const trk_t *t, uint32_t k)
{
    uint32_t spc = 0;
    for (uint32_t e = 0; e < t->stsc_n; e++)
        if (t->stsc[e].first <= k + 1)
            spc = t->stsc[e].spc;
    return spc;
}

/* Chunk offsets: samples back to back, 16 bytes of gap after each chunk. */
static void lay_out(trk_t *t, uint64_t data)
{
    uint64_t pos = data;
    uint32_t i = 0;
    t->data = data;
    for (uint32_t k = 0; k < t->chunks; k++) {
        t->chunk[k] = pos;
        for (uint32_t j = 0; j < spc_of(t, k) && i < t->n; j++)
            pos += sample_size(t, i++);
        pos += 16;
    }
    t->bytes = pos - data;
}

static void write_avc1(wr_t *w, uint32_t type)
{
    static const uint8_t sps[] = { 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9 };
    static const uint8_t pps[] = { 0x68, 0xeb, 0xe3, 0xcb };
    size_t b = box_open(w, type);
    wr_zeros(w, 6);
    wr_u16(w, 1);                               /* data_reference_index */
    wr_zeros(w, 16);
    wr_u16(w, 320);
    wr_u16(w, 180);
    wr_u32(w, 0x00480000);
    wr_u32(w, 0x00480000);
    wr_u32(w, 0);
    wr_u16(w, 1);                               /* frame_count */
    wr_zeros(w, 32);                            /* compressorname */
    wr_u16(w, 0x18);
    wr_u16(w, 0xffff);
    size_t c = box_open(w, FOURCC('a','v','c','C'));
    wr_u8(w, 1);
    wr_u8(w, 0x64);
    wr_u8(w, 0);
    wr_u8(w, 0x1f);
    wr_u8(w, 0xff);                             /* 4-byte NAL lengths */
    wr_u8(w, 0xe1);                             /* one SPS */
    wr_u16(w, sizeof sps);
    wr_bytes(w, sps, sizeof sps);
    wr_u8(w, 1);
    wr_u16(w, sizeof pps);
    wr_bytes(w, pps, sizeof pps);
    box_close(w, c);
    box_close(w, b);
}

static void write_mp4a(wr_t *w)
{
    static const uint8_t es[] = {
        0x03, 0x19, 0x00, 0x01, 0x00,                       /* ES_Descriptor */
        0x04, 0x11, 0x40, 0x15, 0x00, 0x00, 0x00,           /* DecoderConfigDescriptor */
        0x00, 0x01, 0xf4, 0x00, 0x00, 0x01, 0xf4, 0x00,     /* max, avg bitrate */
        0x05, 0x02, 0x12, 0x10,                             /* AAC-LC, 44100 Hz, stereo */
        0x06, 0x01, 0x02,
    };
    size_t b = box_open(w, FOURCC('m','p','4','a'));
    wr_zeros(w, 6);
    wr_u16(w, 1);
    wr_zeros(w, 8);
    wr_u16(w, 2);                               /* channelcount */
    wr_u16(w, 16);
    wr_u32(w, 0);
    wr_u32(w, 44100u << 16);
    size_t e = box_open_full(w, FOURCC('e','s','d','s'), 0, 0);
    wr_bytes(w, es, sizeof es);
    box_close(w, e);
    box_close(w, b);
}

static void write_entry(wr_t *w, uint32_t type)
{
    if (type == FOURCC('m','p','4','a'))
        write_mp4a(w);
    else
        write_avc1(w, type);
}

static void write_mvhd(wr_t *w, uint32_t duration)
{
    size_t b = box_open_full(w, FOURCC('m','v','h','d'), 0, 0);
    wr_u32(w, 0);
    wr_u32(w, 0);
    wr_u32(w, 1000);                            /* timescale */
    wr_u32(w, duration);
    wr_u32(w, 0x00010000);
    wr_u16(w, 0x0100);
    wr_zeros(w, 10 + 36 + 24);
    wr_u32(w, 9);                               /* next_track_ID */
    box_close(w, b);
}

/* tkhd, mdia/mdhd, hdlr, minf; `stbl` writes the tables. */
static void write_trak_head(wr_t *w, const trk_t *t)
{
    size_t b = box_open_full(w, FOURCC('t','k','h','d'), 0, 3);
    wr_u32(w, 0);
    wr_u32(w, 0);
    wr_u32(w, t->id);
    wr_zeros(w, 4 + 4 + 8 + 2 + 2 + 2 + 2 + 36 + 4 + 4);
    box_close(w, b);
}

static void write_mdhd_hdlr(wr_t *w, const trk_t *t)
{
    size_t b = box_open_full(w, FOURCC('m','d','h','d'), 0, 0);
    wr_u32(w, 0);
    wr_u32(w, 0);
    wr_u32(w, t->timescale);
    wr_u32(w, 0);
    wr_u16(w, t->lang);
    wr_u16(w, 0);
    box_close(w, b);
    b = box_open_full(w, FOURCC('h','d','l','r'), 0, 0);
    wr_u32(w, 0);
    wr_u32(w, t->handler);
    wr_zeros(w, 12 + 1);
    box_close(w, b);
}

static void write_stbl(bld_t *bl, const trk_t *t)
{
    wr_t *w = &bl->w;
    size_t stbl = box_open(w, FOURCC('s','t','b','l'));
    size_t b = box_open_full(w, FOURCC('s','t','s','d'), 0, 0);
    wr_u32(w, 1);
    write_entry(w, t->entry);
    box_close(w, b);

    b = box_open_full(w, FOURCC('s','t','t','s'), 0, 0);
    wr_u32(w, t->stts_n);
    for (uint32_t e = 0; e < t->stts_n; e++) {
        wr_u32(w, t->stts[e].count);
        wr_u32(w, (uint32_t)t->stts[e].value);
    }
    close_table(bl, b, FOURCC('s','t','t','s'));
    if (t->ctts) {
        b = box_open_full(w, FOURCC('c','t','t','s'), t->ctts_v, 0);
        wr_u32(w, t->ctts_n);
        for (uint32_t e = 0; e < t->ctts_n; e++) {
            wr_u32(w, t->ctts[e].count);
            wr_u32(w, (uint32_t)t->ctts[e].value);
        }
        close_table(bl, b, FOURCC('c','t','t','s'));
    }
    if (t->stss) {
        b = box_open_full(w, FOURCC('s','t','s','s'), 0, 0);
        wr_u32(w, t->stss_n);
        for (uint32_t e = 0; e < t->stss_n; e++)
            wr_u32(w, t->stss[e]);
        close_table(bl, b, FOURCC('s','t','s','s'));
    }
    b = box_open_full(w, FOURCC('s','t','s','z'), 0, 0);
    wr_u32(w, t->uniform);
    wr_u32(w, t->n);
    for (uint32_t i = 0; !t->uniform && i < t->n; i++)
        wr_u32(w, sample_size(t, i));
    close_table(bl, b, FOURCC('s','t','s','z'));
    b = box_open_full(w, FOURCC('s','t','s','c'), 0, 0);
    wr_u32(w, t->stsc_n);
    for (uint32_t e = 0; e < t->stsc_n; e++) {
        wr_u32(w, t->stsc[e].first);
        wr_u32(w, t->stsc[e].spc);
        wr_u32(w, 1);
    }
    close_table(bl, b, FOURCC('s','t','s','c'));
    uint32_t co = t->co64 ? FOURCC('c','o','6','4') : FOURCC('s','t','c','o');
    b = box_open_full(w, co, 0, 0);
    wr_u32(w, t->chunks);
    for (uint32_t k = 0; k < t->chunks; k++) {
        if (t->co64)
            wr_u64(w, t->chunk[k]);
        else
            wr_u32(w, (uint32_t)t->chunk[k]);
    }
    close_table(bl, b, co);
    box_close(w, stbl);
}

static void write_trak(bld_t *bl, const trk_t *t)
{
    wr_t *w = &bl->w;
    size_t trak = box_open(w, FOURCC('t','r','a','k'));
    write_trak_head(w, t);
    if (t->elst) {
        size_t edts = box_open(w, FOURCC('e','d','t','s'));
        size_t b = box_open_full(w, FOURCC('e','l','s','t'), t->elst_v, 0);
        wr_u32(w, t->elst_n);
        for (uint32_t e = 0; e < t->elst_n; e++) {
            if (t->elst_v == 1) {
                wr_u64(w, (uint64_t)t->elst[e][0]);
                wr_u64(w, (uint64_t)t->elst[e][1]);
            } else {
                wr_u32(w, (uint32_t)t->elst[e][0]);
                wr_u32(w, (uint32_t)t->elst[e][1]);
            }
            wr_u32(w, 0x00010000);
        }
        close_table(bl, b, FOURCC('e','l','s','t'));
        box_close(w, edts);
    }
    size_t mdia = box_open(w, FOURCC('m','d','i','a'));
    write_mdhd_hdlr(w, t);
    size_t minf = box_open(w, FOURCC('m','i','n','f'));
    write_stbl(bl, t);
    box_close(w, minf);
    box_close(w, mdia);
    box_close(w, trak);
}

static void write_moov(bld_t *bl, const file_t *f)
{
    wr_t *w = &bl->w;
    size_t moov = box_open(w, FOURCC('m','o','o','v'));
    write_mvhd(w, 3000);
    for (int i = 0; i < f->ntrk; i++)
        write_trak(bl, &f->trk[i]);
    size_t udta = box_open(w, FOURCC('u','d','t','a'));
    wr_u32(w, 0);                               /* QuickTime terminator */
    box_close(w, udta);
    if (f->flags & ZERO_BOX) {
        wr_u32(w, 0);
        wr_u32(w, FOURCC('f','r','e','e'));
    }
    box_close(w, moov);
}

static void write_ftyp(wr_t *w)
{
    size_t b = box_open(w, FOURCC('f','t','y','p'));
    wr_u32(w, FOURCC('i','s','o','m'));
    wr_u32(w, 0x200);
    wr_u32(w, FOURCC('i','s','o','m'));
    box_close(w, b);
}

static void write_mdat(wr_t *w, const file_t *f)
{
    size_t b = box_open(w, FOURCC('m','d','a','t'));
    for (int i = 0; i < f->ntrk; i++) {
        uint8_t *p = wr_reserve(w, f->trk[i].bytes);
        if (p)
            memset(p, FILLER, f->trk[i].bytes);
    }
    box_close(w, b);
}

/* Lays out the tracks of f and writes the file into buf; returns its length. */
static size_t build(file_t *f, uint8_t *buf)
{
    bld_t bl = { wr_counter(), f, 0 };
    uint64_t data = 20 + 8;                     /* after ftyp and the mdat header */

    if (f->flags & MOOV_FIRST) {
        for (int i = 0; i < f->ntrk; i++)
            lay_out(&f->trk[i], 0);
        write_moov(&bl, f);
        data += bl.w.pos;
    }
    for (int i = 0; i < f->ntrk; i++) {
        lay_out(&f->trk[i], data);
        data += f->trk[i].bytes;
    }
    bl = (bld_t){ wr_init(buf, CAP), f, 0 };
    write_ftyp(&bl.w);
    if (f->flags & MOOV_FIRST)
        write_moov(&bl, f);
    write_mdat(&bl.w, f);
    if (!(f->flags & (MOOV_FIRST | NO_MOOV)))
        write_moov(&bl, f);
    if (f->flags & LARGESIZE) {
        wr_u32(&bl.w, 1);
        wr_u32(&bl.w, FOURCC('f','r','e','e'));
        wr_u64(&bl.w, 1ull << 40);
    }
    assert_int_equal(bl.w.err, 0);
    return bl.w.pos;
}

/* The reference progressive file: 10 video samples in 4 chunks (stsc with two
 * entries), ctts v1 with a negative offset, stss, an edit list with an empty edit;
 * 8 audio samples of uniform size in 2 chunks, two stts entries. */
static const pair_t v_stts[] = { { 10, 512 } };
static const pair_t v_ctts[] = { { 1, 1024 }, { 1, 2048 }, { 2, 0 }, { 1, -512 }, { 5, 512 } };
static const uint32_t v_stss[] = { 1, 6 };
static const stsc_t v_stsc[] = { { 1, 3 }, { 3, 2 } };
static const int64_t v_elst[][2] = { { 1000, -1 }, { 3000, 1024 } };
static const pair_t a_stts[] = { { 7, 1024 }, { 1, 500 } };
static const stsc_t a_stsc[] = { { 1, 4 } };

#define LANG(a, b, c) (uint16_t)(((a) - 0x60) << 10 | ((b) - 0x60) << 5 | ((c) - 0x60))

static file_t reference(void)
{
    file_t f = { .ntrk = 2 };
    f.trk[0] = (trk_t){
        .id = 1, .handler = FOURCC('v','i','d','e'), .entry = FOURCC('a','v','c','1'),
        .timescale = 12800, .lang = LANG('e','n','g'), .n = 10,
        .stts = v_stts, .stts_n = 1, .ctts = v_ctts, .ctts_n = 5, .ctts_v = 1,
        .stss = v_stss, .stss_n = 2, .stsc = v_stsc, .stsc_n = 2, .chunks = 4,
        .elst = v_elst, .elst_n = 2,
    };
    f.trk[1] = (trk_t){
        .id = 2, .handler = FOURCC('s','o','u','n'), .entry = FOURCC('m','p','4','a'),
        .timescale = 44100, .lang = 0, .n = 8, .uniform = 200,
        .stts = a_stts, .stts_n = 2, .stsc = a_stsc, .stsc_n = 1, .chunks = 2,
    };
    return f;
}

static int open_buf(const uint8_t *buf, size_t len, arena_t *a, pk_media_t **m)
{
    pk_mem_t mem = { buf, len };
    pk_source_t src = pk_source_mem(&mem, "clip.mp4");
    return pk_mp4_open(&src, a, m);
}

/* ---- fragmented files ------------------------------------------------------ */

enum { BASE_MOOF, BASE_LEGACY, BASE_EXPLICIT };

static void write_empty_trak(wr_t *w, const trk_t *t)
{
    size_t trak = box_open(w, FOURCC('t','r','a','k'));
    write_trak_head(w, t);
    size_t mdia = box_open(w, FOURCC('m','d','i','a'));
    write_mdhd_hdlr(w, t);
    size_t minf = box_open(w, FOURCC('m','i','n','f'));
    size_t stbl = box_open(w, FOURCC('s','t','b','l'));
    size_t b = box_open_full(w, FOURCC('s','t','s','d'), 0, 0);
    wr_u32(w, 1);
    write_entry(w, t->entry);
    box_close(w, b);
    static const uint32_t empty[] = {
        FOURCC('s','t','t','s'), FOURCC('s','t','s','c'), FOURCC('s','t','c','o'),
    };
    for (size_t i = 0; i < 3; i++) {
        b = box_open_full(w, empty[i], 0, 0);
        wr_u32(w, 0);
        box_close(w, b);
    }
    b = box_open_full(w, FOURCC('s','t','s','z'), 0, 0);
    wr_u64(w, 0);
    box_close(w, b);
    box_close(w, stbl);
    box_close(w, minf);
    box_close(w, mdia);
    box_close(w, trak);
}

static void write_trex(wr_t *w, uint32_t id, uint32_t duration, uint32_t size, uint32_t flags)
{
    size_t b = box_open_full(w, FOURCC('t','r','e','x'), 0, 0);
    wr_u32(w, id);
    wr_u32(w, 1);
    wr_u32(w, duration);
    wr_u32(w, size);
    wr_u32(w, flags);
    box_close(w, b);
}

/* tfhd; returns where its base_data_offset is (0: none) */
static size_t write_tfhd(wr_t *w, int mode, uint32_t id, uint32_t extra_flags)
{
    uint32_t flags = extra_flags | (mode == BASE_MOOF ? TFHD_BASE_IS_MOOF :
                                    mode == BASE_EXPLICIT ? TFHD_BASE_DATA_OFFSET : 0);
    size_t b = box_open_full(w, FOURCC('t','f','h','d'), 0, flags), at = 0;
    wr_u32(w, id);
    if (mode == BASE_EXPLICIT) {
        at = w->pos;
        wr_u64(w, 0);
    }
    if (flags & TFHD_DEFAULT_DURATION)
        wr_u32(w, 512);
    box_close(w, b);
    return at;
}

static void write_tfdt(wr_t *w, uint8_t version, uint64_t t)
{
    size_t b = box_open_full(w, FOURCC('t','f','d','t'), version, 0);
    if (version)
        wr_u64(w, t);
    else
        wr_u32(w, (uint32_t)t);
    box_close(w, b);
}

/* Sets the data offsets of one moof once its mdat's data position is known. */
static void patch_offsets(uint8_t *buf, int mode, size_t moof, size_t data, size_t v_at,
                          size_t v_base, size_t a_at, size_t a_base, uint32_t v_bytes)
{
    if (mode == BASE_EXPLICIT) {
        put32(buf + v_base + 4, (uint32_t)data);
        put32(buf + a_base + 4, (uint32_t)data);
        put32(buf + v_at, 0);
        put32(buf + a_at, v_bytes);
    } else {
        put32(buf + v_at, (uint32_t)(data - moof));
        if (mode == BASE_MOOF)
            put32(buf + a_at, (uint32_t)(data + v_bytes - moof));
    }
}

/*
 * moov (two empty tracks, mvex/trex) and two moof+mdat pairs:
 *   moof 1: video tfdt v1 0, trun v1 of 4 samples (durations, sizes, signed
 *           offsets, first_sample_flags sync, trex default non-sync);
 *           audio tfdt v0 0, 3 samples of trex defaults (1024 ticks, 200 bytes).
 *   moof 2: video without tfdt (continues at 2048), 3 samples with per-sample flags
 *           (the second sync); audio tfdt 10000 (a jump), 2 samples with durations.
 * In BASE_LEGACY the audio trafs have no data_offset: their data follows the video's.
 */
static size_t build_frag(uint8_t *buf, int mode)
{
    static const uint32_t v1_size[] = { 50, 60, 70, 80 }, v2_size[] = { 90, 91, 92 };
    static const int32_t v1_cto[] = { 1024, -512, 0, 512 };
    static const uint32_t v2_flags[] = { SAMPLE_NON_SYNC, 0, SAMPLE_NON_SYNC };
    trk_t v = { .id = 1, .handler = FOURCC('v','i','d','e'), .entry = FOURCC('a','v','c','1'),
                .timescale = 12800 };
    trk_t a = { .id = 2, .handler = FOURCC('s','o','u','n'), .entry = FOURCC('m','p','4','a'),
                .timescale = 44100 };
    wr_t w = wr_init(buf, CAP);
    uint32_t a_flags = mode == BASE_LEGACY ? 0 : TRUN_DATA_OFFSET;

    write_ftyp(&w);
    size_t moov = box_open(&w, FOURCC('m','o','o','v'));
    write_mvhd(&w, 0);
    write_empty_trak(&w, &v);
    write_empty_trak(&w, &a);
    size_t mvex = box_open(&w, FOURCC('m','v','e','x'));
    write_trex(&w, 1, 512, 0, SAMPLE_NON_SYNC);
    write_trex(&w, 2, 1024, 200, 0);
    box_close(&w, mvex);
    box_close(&w, moov);
    size_t styp = box_open(&w, FOURCC('s','t','y','p'));
    wr_u32(&w, FOURCC('m','s','d','h'));
    box_close(&w, styp);

    for (int frag = 0; frag < 2; frag++) {
        size_t moof = box_open(&w, FOURCC('m','o','o','f')), b, v_at, a_at, v_base, a_base;
        uint32_t v_bytes = 0, n;
        b = box_open_full(&w, FOURCC('m','f','h','d'), 0, 0);
        wr_u32(&w, (uint32_t)frag + 1);
        box_close(&w, b);

        size_t traf = box_open(&w, FOURCC('t','r','a','f'));
        v_base = write_tfhd(&w, mode, 1, 0);
        if (frag == 0) {
            write_tfdt(&w, 1, 0);
            b = box_open_full(&w, FOURCC('t','r','u','n'), 1, TRUN_DATA_OFFSET |
                              TRUN_FIRST_FLAGS | TRUN_DURATION | TRUN_SIZE | TRUN_CTO);
            wr_u32(&w, n = 4);
            v_at = w.pos;
            wr_u32(&w, 0);
            wr_u32(&w, 0x02000000);             /* first sample: sync */
            for (uint32_t i = 0; i < n; i++) {
                wr_u32(&w, 512);
                wr_u32(&w, v1_size[i]);
                wr_u32(&w, (uint32_t)v1_cto[i]);
                v_bytes += v1_size[i];
            }
        } else {
            b = box_open_full(&w, FOURCC('t','r','u','n'), 0, TRUN_DATA_OFFSET | TRUN_SIZE |
                              TRUN_FLAGS);
            wr_u32(&w, n = 3);
            v_at = w.pos;
            wr_u32(&w, 0);
            for (uint32_t i = 0; i < n; i++) {
                wr_u32(&w, v2_size[i]);
                wr_u32(&w, v2_flags[i]);
                v_bytes += v2_size[i];
            }
        }
        box_close(&w, b);
        box_close(&w, traf);

        traf = box_open(&w, FOURCC('t','r','a','f'));
        a_base = write_tfhd(&w, mode, 2, 0);
        write_tfdt(&w, frag ? 1 : 0, frag ? 10000 : 0);
        b = box_open_full(&w, FOURCC('t','r','u','n'), 0, a_flags | (frag ? TRUN_DURATION : 0));
        wr_u32(&w, n = frag ? 2 : 3);
        a_at = w.pos;
        if (a_flags)
            wr_u32(&w, 0);
        for (uint32_t i = 0; frag && i < n; i++)
            wr_u32(&w, 1024);
        box_close(&w, b);
        box_close(&w, traf);
        box_close(&w, moof);

        size_t mdat = box_open(&w, FOURCC('m','d','a','t'));
        uint32_t bytes = v_bytes + n * 200;
        uint8_t *p = wr_reserve(&w, bytes);
        assert_non_null(p);
        memset(p, FILLER, bytes);
        box_close(&w, mdat);
        patch_offsets(buf, mode, moof, mdat + 8, v_at, v_base, a_at, a_base, v_bytes);
    }
    size_t mfra = box_open(&w, FOURCC('m','f','r','a'));
    box_close(&w, mfra);
    assert_int_equal(w.err, 0);
    return w.pos;
}

/* ---- good files ------------------------------------------------------------- */

static void check_reference(const pk_media_t *m, const file_t *f)
{
    assert_int_equal(m->track_count, 2);
    assert_int_equal(m->fragmented, 0);
    assert_int_equal(m->movie_timescale, 1000);
    assert_int_equal(m->movie_duration, 3000);

    const pk_track_t *v = &m->tracks[0];
    assert_int_equal(v->id, 1);
    assert_int_equal(v->type, PK_TRACK_VIDEO);
    assert_int_equal(v->fourcc, FOURCC('a','v','c','1'));
    assert_string_equal(v->codec, "avc1.64001f");
    assert_string_equal(v->lang, "eng");
    assert_int_equal(v->timescale, 12800);
    assert_int_equal(v->width, 320);
    assert_non_null(v->entry);
    assert_int_equal(get32(v->entry + 4), FOURCC('a','v','c','1'));
    assert_int_equal(v->entry_size, get32(v->entry));
    assert_int_equal(v->sample_count, 10);
    assert_int_equal(v->run_count, 1);
    assert_int_equal(v->duration, 10 * 512);
    /* elst: empty edit of 1000 movie ticks = 1 s = 12800 media ticks, then media_time */
    assert_int_equal(v->empty_edit, 12800);
    assert_int_equal(v->media_time, 1024);
    /* stsc {1,3},{3,2}: chunks of 3, 3, 2, 2 samples */
    static const uint32_t chunk_of[10] = { 0, 0, 0, 1, 1, 1, 2, 2, 3, 3 };
    static const int32_t cto[10] = { 1024, 2048, 0, 0, -512, 512, 512, 512, 512, 512 };
    uint64_t pos = 0;
    for (uint32_t i = 0; i < 10; i++) {
        if (i == 0 || chunk_of[i] != chunk_of[i - 1])
            pos = f->trk[0].chunk[chunk_of[i]];
        assert_int_equal(v->samples[i].pos, pos);
        assert_int_equal(v->samples[i].size, 100 + i);
        assert_int_equal(v->samples[i].cto, cto[i]);
        assert_int_equal(pk_track_dts(v, i), 512 * i);
        assert_int_equal(pk_track_is_sync(v, i), i == 0 || i == 5);
        pos += 100 + i;
    }
    assert_int_equal(v->samples[3].pos, f->trk[0].data + 100 + 101 + 102 + 16);
    assert_int_equal(v->sync_count, 2);
    assert_int_equal(v->sync[0], 0);
    assert_int_equal(v->sync[1], 5);
    assert_int_equal(pk_track_pts(v, 4), 4 * 512 - 512 - 1024 + 12800);

    const pk_track_t *a = &m->tracks[1];
    assert_int_equal(a->id, 2);
    assert_int_equal(a->type, PK_TRACK_AUDIO);
    assert_string_equal(a->codec, "mp4a.40.2");
    assert_string_equal(a->lang, "und");
    assert_int_equal(a->channels, 2);
    assert_int_equal(a->sample_rate, 44100);
    assert_int_equal(a->sample_count, 8);
    assert_null(a->sync);
    assert_int_equal(a->sync_count, 8);
    assert_int_equal(a->run_count, 2);
    assert_int_equal(a->runs[1].first, 7);
    assert_int_equal(a->runs[1].dts, 7 * 1024);
    assert_int_equal(a->runs[1].delta, 500);
    assert_int_equal(a->duration, 7 * 1024 + 500);
    assert_int_equal(a->empty_edit, 0);
    assert_int_equal(a->media_time, 0);
    for (uint32_t i = 0; i < 8; i++) {
        assert_int_equal(a->samples[i].pos, f->trk[1].chunk[i / 4] + (i % 4) * 200);
        assert_int_equal(a->samples[i].size, 200);
        assert_int_equal(a->samples[i].cto, 0);
    }
    assert_int_equal(a->bitrate, (uint32_t)(8ull * 200 * 8 * 44100 / (7 * 1024 + 500)));
}

static void test_progressive_moov_last(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    file_t f = reference();
    size_t len = build(&f, buf);
    arena_t *a = arena_new();
    pk_media_t *m = NULL;
    assert_int_equal(open_buf(buf, len, a, &m), 0);
    check_reference(m, &f);
    assert_int_equal(errors + warnings, 0);
    arena_free(a);
}

/* moov before mdat, co64, elst v1, ctts v0: the same result */
static void test_progressive_moov_first_co64(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    static const pair_t ctts0[] = { { 1, 1024 }, { 1, 2048 }, { 2, 0 }, { 1, -512 },
                                    { 5, 512 } };
    file_t f = reference();
    f.flags = MOOV_FIRST;
    f.trk[0].co64 = 1;
    f.trk[0].elst_v = 1;
    f.trk[0].ctts = ctts0;
    f.trk[0].ctts_v = 0;
    size_t len = build(&f, buf);
    arena_t *a = arena_new();
    pk_media_t *m = NULL;
    assert_int_equal(open_buf(buf, len, a, &m), 0);
    check_reference(m, &f);
    arena_free(a);
}

/* a timecode track is skipped silently; an stss listing every sample means NULL */
static void test_tmcd_skipped_stss_full(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    static const uint32_t all[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    file_t f = reference();
    f.trk[2] = f.trk[1];
    f.trk[2].id = 3;
    f.trk[2].handler = FOURCC('t','m','c','d');
    f.trk[2].entry = FOURCC('t','m','c','d');
    f.ntrk = 3;
    f.trk[1].stss = all;
    f.trk[1].stss_n = 8;
    size_t len = build(&f, buf);
    arena_t *a = arena_new();
    pk_media_t *m = NULL;
    assert_int_equal(open_buf(buf, len, a, &m), 0);
    assert_int_equal(m->track_count, 2);
    assert_null(m->tracks[1].sync);
    assert_int_equal(m->tracks[1].sync_count, 8);
    assert_int_equal(errors + warnings, 0);
    arena_free(a);
}

/* an unknown codec: that track goes with one warning naming file and fourcc */
static void test_unknown_codec_skipped(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    file_t f = reference();
    f.trk[0].entry = FOURCC('x','y','z','1');
    size_t len = build(&f, buf);
    arena_t *a = arena_new();
    pk_media_t *m = NULL;
    assert_int_equal(open_buf(buf, len, a, &m), 0);
    assert_int_equal(m->track_count, 1);
    assert_int_equal(m->tracks[0].id, 2);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(last_warning, "clip.mp4"));
    assert_non_null(strstr(last_warning, "'xyz1'"));
    arena_free(a);
}

static void test_unknown_codec_only(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    file_t f = reference();
    f.ntrk = 1;
    f.trk[0].entry = FOURCC('x','y','z','1');
    size_t len = build(&f, buf);
    arena_t *a = arena_new();
    pk_media_t *m = NULL;
    assert_int_equal(open_buf(buf, len, a, &m), -ENOTSUP);
    assert_non_null(strstr(last_warning, "xyz1"));
    arena_free(a);
}

static void check_frag(const pk_media_t *m, const uint8_t *buf)
{
    assert_int_equal(m->track_count, 2);
    assert_int_equal(m->fragmented, 1);
    assert_int_equal(m->movie_duration, 280);   /* mvhd says 0: 7 * 512 / 12800 s */

    const pk_track_t *v = &m->tracks[0];
    static const uint32_t size[] = { 50, 60, 70, 80, 90, 91, 92 };
    static const int32_t cto[] = { 1024, -512, 0, 512, 0, 0, 0 };
    assert_int_equal(v->sample_count, 7);
    assert_int_equal(v->run_count, 1);         /* no tfdt in moof 2: it continues */
    assert_int_equal(v->duration, 7 * 512);
    for (uint32_t i = 0; i < 7; i++) {
        assert_int_equal(v->samples[i].size, size[i]);
        assert_int_equal(v->samples[i].cto, cto[i]);
        assert_int_equal(pk_track_dts(v, i), 512 * i);
    }
    /* first samples sit right after their mdat header */
    assert_int_equal(get32(buf + v->samples[0].pos - 4), FOURCC('m','d','a','t'));
    assert_int_equal(get32(buf + v->samples[4].pos - 4), FOURCC('m','d','a','t'));
    assert_int_equal(v->samples[1].pos, v->samples[0].pos + 50);
    assert_int_equal(v->sync_count, 2);
    assert_int_equal(v->sync[0], 0);
    assert_int_equal(v->sync[1], 5);

    const pk_track_t *a = &m->tracks[1];
    assert_int_equal(a->sample_count, 5);
    assert_null(a->sync);
    assert_int_equal(a->sync_count, 5);
    assert_int_equal(a->run_count, 2);         /* tfdt 10000 in moof 2 is a jump */
    assert_int_equal(a->runs[0].count, 3);
    assert_int_equal(a->runs[1].dts, 10000);
    assert_int_equal(a->runs[1].first, 3);
    assert_int_equal(a->runs[1].delta, 1024);
    assert_int_equal(pk_track_dts(a, 4), 11024);
    /* audio data follows the video data of the same fragment */
    assert_int_equal(a->samples[0].pos, v->samples[3].pos + 80);
    assert_int_equal(a->samples[3].pos, v->samples[6].pos + 92);
    assert_int_equal(a->samples[4].pos, a->samples[3].pos + 200);
}

/* One row of the fragmented cases: state points at the tfhd base mode. */
static void test_fragmented(void **state)
{
    int mode = *(const int *)*state;
    static uint8_t buf[CAP];
    size_t len = build_frag(buf, mode);
    arena_t *a = arena_new();
    pk_media_t *m = NULL;
    assert_int_equal(open_buf(buf, len, a, &m), 0);
    check_frag(m, buf);
    assert_int_equal(errors + warnings, 0);
    arena_free(a);
}

/* A cmocka test of the row, named test_fragmented_<name>. */
#define FRAG_CASE(name, mode) \
    { "test_fragmented_" #name, test_fragmented, setup, teardown, &(int){ mode } }

/* The reference file plus one moof for the video track (no mvex: tfhd and trun
 * say everything): the fragment's samples follow the stbl's in one table. */
static void test_progressive_then_fragment(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    file_t f = reference();
    wr_t w = wr_init(buf, CAP);
    w.pos = build(&f, buf);
    size_t moof = box_open(&w, FOURCC('m','o','o','f'));
    size_t traf = box_open(&w, FOURCC('t','r','a','f'));
    write_tfhd(&w, BASE_MOOF, 1, 0);
    write_tfdt(&w, 0, 10 * 512);                /* where the stbl's samples end */
    size_t b = box_open_full(&w, FOURCC('t','r','u','n'), 0, TRUN_DATA_OFFSET | TRUN_DURATION |
                             TRUN_SIZE | TRUN_FLAGS);
    wr_u32(&w, 2);
    size_t at = w.pos;
    wr_u32(&w, 0);
    wr_u32(&w, 512);
    wr_u32(&w, 30);
    wr_u32(&w, 0);                              /* sync */
    wr_u32(&w, 512);
    wr_u32(&w, 40);
    wr_u32(&w, SAMPLE_NON_SYNC);
    box_close(&w, b);
    box_close(&w, traf);
    box_close(&w, moof);
    size_t mdat = box_open(&w, FOURCC('m','d','a','t'));
    uint8_t *data = wr_reserve(&w, 70);
    assert_non_null(data);
    memset(data, FILLER, 70);
    box_close(&w, mdat);
    put32(buf + at, (uint32_t)(mdat + 8 - moof));

    arena_t *a = arena_new();
    pk_media_t *m = NULL;
    assert_int_equal(open_buf(buf, w.pos, a, &m), 0);
    assert_int_equal(m->fragmented, 1);
    const pk_track_t *v = &m->tracks[0];
    assert_int_equal(v->sample_count, 12);
    assert_int_equal(v->run_count, 1);         /* same delta, tfdt continues: one run */
    assert_int_equal(v->duration, 12 * 512);
    assert_int_equal(v->samples[9].size, 109);
    assert_int_equal(v->samples[9].cto, 512);
    assert_int_equal(v->samples[10].pos, mdat + 8);
    assert_int_equal(v->samples[11].pos, mdat + 8 + 30);
    assert_int_equal(v->samples[11].size, 40);
    assert_int_equal(pk_track_dts(v, 11), 11 * 512);
    assert_int_equal(v->sync_count, 3);
    assert_int_equal(v->sync[2], 10);
    assert_int_equal(m->tracks[1].sample_count, 8);
    assert_int_equal(errors + warnings, 0);
    arena_free(a);
}

static void test_lang(void **state)
{
    (void)state;
    char l[4];
    lang_decode(LANG('f','r','a'), l);
    assert_string_equal(l, "fra");
    lang_decode(0, l);
    assert_string_equal(l, "und");
    lang_decode(0x7fff, l);
    assert_string_equal(l, "und");
    lang_decode(0x1234 & ~(0x1fu << 10), l);    /* first letter 0: not a letter */
    assert_string_equal(l, "und");
}

/* stz2 fields of 4, 8 and 16 bits */
static void test_stz2_fields(void **state)
{
    (void)state;
    static const uint8_t t[] = { 0x12, 0x34, 0xab, 0xcd };
    sizes_t s = { .n = 4, .bits = 4, .table = t };
    assert_int_equal(size_at(&s, 0), 1);
    assert_int_equal(size_at(&s, 3), 4);
    s.bits = 8;
    assert_int_equal(size_at(&s, 2), 0xab);
    s.bits = 16;
    assert_int_equal(size_at(&s, 1), 0xabcd);
}

/* Fails allocation n = 1, 2, ... until the parse succeeds: each must be -ENOMEM. */
static void enomem_loop(const uint8_t *buf, size_t len)
{
    unsigned n;
    for (n = 1; n < 1000; n++) {
        arena_t *a = arena_new();
        pk_media_t *m = NULL;
        arena_fail_after(a, n);
        int rc = open_buf(buf, len, a, &m);
        arena_free(a);
        if (rc == 0)
            break;
        assert_int_equal(rc, -ENOMEM);
    }
    assert_true(n > 3 && n < 1000);
    assert_int_equal(errors, 0);
}

static void test_enomem_progressive(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    file_t f = reference();
    enomem_loop(buf, build(&f, buf));
}

static void test_enomem_fragmented(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    enomem_loop(buf, build_frag(buf, BASE_MOOF));
}

/* ---- malformed files: one case each ---------------------------------------- */

#define STBL "moov/trak[1]/mdia/minf/stbl/"

typedef struct {
    const char *name;
    int frag;                   /* start from the fragmented file (BASE_MOOF) */
    int flags;                  /* builder flags (file_t) */
    int co64;                   /* video track uses co64 */
    uint32_t cut_box;           /* the first box of this type loses `cut` bytes */
    size_t cut;
    uint32_t patch_box;         /* then: the u32 at patch_at in the first such box ... */
    size_t patch_at;
    uint32_t patch_val;         /* ... is set to this, or increased by it with `add` */
    int add;
    int rc;
    const char *expect;         /* in the error line */
} bad_case_t;

#define CUT(t, n) .cut_box = t, .cut = n
#define SET(t, at, v) .patch_box = t, .patch_at = at, .patch_val = v
#define ADD(t, at, v) .patch_box = t, .patch_at = at, .patch_val = v, .add = 1
#define STTS FOURCC('s','t','t','s')
#define CTTS FOURCC('c','t','t','s')
#define STSS FOURCC('s','t','s','s')
#define STSZ FOURCC('s','t','s','z')
#define STSC FOURCC('s','t','s','c')
#define STCO FOURCC('s','t','c','o')
#define CO64 FOURCC('c','o','6','4')

static const bad_case_t bad_cases[] = {
    { "stts truncated", CUT(STTS, 2), .expect = STBL "stts at " },
    { "ctts truncated", CUT(CTTS, 2), .expect = STBL "ctts at " },
    { "stss truncated", CUT(STSS, 2), .expect = STBL "stss at " },
    { "stsz truncated", CUT(STSZ, 2), .expect = STBL "stsz at " },
    { "stsc truncated", CUT(STSC, 2), .expect = STBL "stsc at " },
    { "stco truncated", CUT(STCO, 2), .expect = STBL "stco at " },
    { "co64 truncated", .co64 = 1, CUT(CO64, 2), .expect = STBL "co64 at " },
    { "stts header cut", CUT(STTS, 10), .expect = STBL "stts at " },
    { "stts count larger than box", ADD(STTS, 12, 1),
      .expect = STBL "stts at %u: 2 entries but the box holds 8 bytes" },
    { "ctts count larger than box", ADD(CTTS, 12, 1), .expect = STBL "ctts at " },
    { "stss count larger than box", ADD(STSS, 12, 1), .expect = STBL "stss at " },
    { "stsz count larger than box", ADD(STSZ, 16, 1),
      .expect = STBL "stsz at %u: 11 entries but the box holds 40 bytes" },
    { "stsz count huge", SET(STSZ, 16, 0xffffffff), .expect = STBL "stsz at " },
    { "stsc count larger than box", ADD(STSC, 12, 1), .expect = STBL "stsc at " },
    { "stco count larger than box", ADD(STCO, 12, 1), .expect = STBL "stco at " },
    { "co64 count larger than box", .co64 = 1, ADD(CO64, 12, 1), .expect = STBL "co64 at " },
    { "stsc first chunk 0", SET(STSC, 16, 0), .expect = STBL "stsc at " },
    { "stsc chunks not increasing", SET(STSC, 28, 1), .expect = STBL "stsc at " },
    { "stsc past the chunk table", SET(STSC, 28, 9), .expect = "has 4 chunks" },
    { "stsc samples_per_chunk 0", SET(STSC, 20, 0), .expect = STBL "stsc at " },
    { "stsc too few chunks", SET(STSC, 20, 1), .expect = "chunks hold 6 samples" },
    { "sample offset past EOF", SET(STCO, 16, 0xffffff00),
      .expect = STBL "stco at %u: sample 1 (chunk 1)" },
    { "co64 offset past EOF", .co64 = 1, SET(CO64, 16, 0x7fffffff), .expect = STBL "co64" },
    { "stts total != stsz count", SET(STTS, 16, 9),
      .expect = STBL "stts at %u: durations for 9 samples, the sample size table has 10" },
    { "ctts total > sample count", SET(CTTS, 16, 100), .expect = STBL "ctts at " },
    { "stss entry 0", SET(STSS, 16, 0), .expect = STBL "stss at " },
    { "stss entry past the samples", SET(STSS, 20, 11), .expect = STBL "stss at " },
    { "uniform stsz larger than file", SET(STSZ, 12, 0x10000000),
      .expect = STBL "stsz at " },
    { "box smaller than its header", SET(STSS, 0, 4),
      .expect = STBL "stss at %u: size 4 is smaller than its header" },
    { "box past its parent", SET(STSS, 0, 0x1000), .expect = "runs past its parent" },
    { "64-bit size cut short", SET(STSS, 0, 1), .expect = STBL "stss at " },
    { "zero-size box inside moov", .flags = ZERO_BOX, .expect = "moov/free at " },
    { "largesize past end of file", .flags = LARGESIZE, .expect = "free at " },
    { "moov missing", .flags = NO_MOOV, .expect = "clip.mp4: no moov" },
    { "elst count larger than box", ADD(FOURCC('e','l','s','t'), 12, 1),
      .expect = "moov/trak[1]/edts/elst at " },
    { "mdhd timescale 0", SET(FOURCC('m','d','h','d'), 20, 0),
      .expect = "moov/trak[1]/mdia/mdhd at " },
    { "mvhd timescale 0", SET(FOURCC('m','v','h','d'), 20, 0), .expect = "moov/mvhd at " },
    { "tkhd duplicate track id", SET(FOURCC('t','k','h','d'), 20, 2),
      .expect = "moov/trak[2]/tkhd at " },
    { "malformed avcC", SET(FOURCC('a','v','c','C'), 8, 0x0064001f),
      .expect = STBL "stsd/avc1 at " },
    { "trun count larger than box", .frag = 1, ADD(FOURCC('t','r','u','n'), 12, 100),
      .expect = "moof[1]/traf[1]/trun at " },
    { "tfhd for unknown track id", .frag = 1, SET(FOURCC('t','f','h','d'), 12, 9),
      .expect = "moof[1]/traf[1]/tfhd at %u: track_ID 9 is not in moov" },
    { "trun data offset past EOF", .frag = 1, SET(FOURCC('t','r','u','n'), 16, 0x7ffffff0),
      .expect = "moof[1]/traf[1]/trun at " },
    { "trun sample past EOF", .frag = 1, SET(FOURCC('t','r','u','n'), 28, 0x7ffffff0),
      .expect = "moof[1]/traf[1]/trun at %u: sample 1 at " },
};

/* pat with its "%u" (if any) replaced by off */
static void expand(char *out, size_t cap, const char *pat, uint32_t off)
{
    const char *u = strstr(pat, "%u");
    if (!u) {
        snprintf(out, cap, "%s", pat);
        return;
    }
    snprintf(out, cap, "%.*s%u%s", (int)(u - pat), pat, off, u + 2);
}

static void test_bad(void **state)
{
    const bad_case_t *bc = *state;
    static uint8_t buf[CAP];
    size_t len;
    char expect[256];

    if (bc->frag) {
        len = build_frag(buf, BASE_MOOF);
    } else {
        file_t f = reference();
        f.flags = bc->flags;
        f.trk[0].co64 = bc->co64;
        f.cut_box = bc->cut_box;
        f.cut = bc->cut;
        len = build(&f, buf);
    }
    uint32_t box_off = 0;
    if (bc->patch_box) {
        uint8_t *p = find_box(buf, len, bc->patch_box);
        box_off = (uint32_t)(p - buf);
        put32(p + bc->patch_at, bc->patch_val + (bc->add ? get32(p + bc->patch_at) : 0));
    }
    expand(expect, sizeof expect, bc->expect, box_off);

    arena_t *a = arena_new();
    pk_media_t *m = NULL;
    int rc = open_buf(buf, len, a, &m);
    if (rc != (bc->rc ? bc->rc : -EBADMSG) || errors != 1 || !strstr(last_error, "clip.mp4") ||
        !strstr(last_error, expect))
        fail_msg("%s: rc %d, %d error lines, last \"%s\", expected \"%s\"", bc->name, rc,
                 errors, last_error, expect);
    arena_free(a);
}

/* ---- table-level cases, on bare boxes ---------------------------------------- */

/* next_box() on a size-0 child and on a child cut short of its 64-bit size */
static void test_next_box_bounds(void **state)
{
    (void)state;
    static const uint8_t zero[] = { 0, 0, 0, 0, 'f', 'r', 'e', 'e' };
    static const uint8_t large[] = { 0, 0, 0, 1, 'f', 'r', 'e', 'e', 0, 0, 0, 0 };
    static const uint8_t stray[] = { 0, 0, 1 };
    pk_mem_t mem = { zero, sizeof zero };
    pk_source_t src = pk_source_mem(&mem, "x.mp4");
    ctx_t c = { .src = &src, .buf = zero };
    box_t b;
    rd_t r = rd_init(zero, sizeof zero);
    assert_int_equal(next_box(&c, &r, &b), -EBADMSG);
    c.buf = large;
    r = rd_init(large, sizeof large);
    assert_int_equal(next_box(&c, &r, &b), -EBADMSG);
    c.buf = stray;
    r = rd_init(stray, sizeof stray);
    assert_int_equal(next_box(&c, &r, &b), -EBADMSG);
    assert_int_equal(errors, 3);
}

/* The audio trun of moof 1 (no sample table: trex defaults) claims 2^32 - 1
 * samples; with trex's 200 bytes they pass the end of the file, with 0 bytes they
 * would cost no box bytes at all. Both must fail before anything is allocated. */
static void trun_claims(uint32_t default_size, const char *expect)
{
    static uint8_t buf[CAP];
    size_t len = build_frag(buf, BASE_MOOF);
    uint8_t *trex2 = find_box(buf, len, FOURCC('t','r','e','x')) + 32;
    uint8_t *trun1 = find_box(buf, len, FOURCC('t','r','u','n'));
    uint8_t *trun2 = find_box(trun1 + 8, len - (size_t)(trun1 + 8 - buf), FOURCC('t','r','u','n'));
    put32(trex2 + 24, default_size);
    put32(trun2 + 12, 0xffffffff);
    arena_t *a = arena_new();
    pk_media_t *m = NULL;
    assert_int_equal(open_buf(buf, len, a, &m), -EBADMSG);
    assert_non_null(strstr(last_error, "moof[1]/traf[2]/trun at "));
    assert_non_null(strstr(last_error, expect));
    assert_true(arena_used(a) < 4096);
    arena_free(a);
}

static void test_trun_empty_samples(void **state)
{
    (void)state;
    trun_claims(200, "4294967295 samples of 200 bytes");
    trun_claims(0, "4294967295 entries but the box holds 0 bytes");
}

int main(void)
{
    enum { NBAD = sizeof bad_cases / sizeof *bad_cases };
    struct CMUnitTest tests[16 + NBAD] = {
        cmocka_unit_test_setup_teardown(test_progressive_moov_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progressive_moov_first_co64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmcd_skipped_stss_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_codec_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_codec_only, setup, teardown),
        FRAG_CASE(base_is_moof, BASE_MOOF),
        FRAG_CASE(legacy_base, BASE_LEGACY),
        FRAG_CASE(explicit_base, BASE_EXPLICIT),
        cmocka_unit_test_setup_teardown(test_progressive_then_fragment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stz2_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enomem_progressive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enomem_fragmented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_box_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trun_empty_samples, setup, teardown),
    };
    size_t n = 15;
    for (size_t i = 0; i < NBAD; i++)
        tests[n++] = (struct CMUnitTest){ bad_cases[i].name, test_bad, setup, teardown,
                                          (void *)&bad_cases[i] };
    return _cmocka_run_group_tests("pack_mp4", tests, n, NULL, NULL);
}
