/* MPEG-2 TS segments (pack/ts.c): the output is parsed back packet by packet
 * (sync bytes, continuity counters per PID across concatenated segments, PAT/PMT
 * CRCs, PES timestamps and payloads, ADTS headers) from synthetic tracks read
 * through a memory source. Real media is checked with ffmpeg by tests/lib/ts_check.sh. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "../../pack/ts.c"

static char logbuf[1024];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)ctx;
    snprintf(logbuf, sizeof logbuf, "%s", msg);
}

/* ---- synthetic media ------------------------------------------------------ */

#define NV 60                   /* video samples: 25 fps, GOP 10, timescale 12800 */
#define VD 512
#define NA 120                  /* AAC frames: 48 kHz, 1024 each */
#define GOP 10

static uint8_t data[1 << 20];
static size_t data_len;
static pk_mem_t mem;
static pk_source_t src;

static const uint8_t sps[] = { 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40 };
static const uint8_t pps[] = { 0x68, 0xeb, 0xe3, 0xcb };
static uint8_t avcc[64];
static size_t avcc_len;
static const uint8_t asc[] = { 0x11, 0x90 };   /* AOT 2, 48 kHz (index 3), 2 channels */

typedef struct {
    pk_track_t t;
    pk_sample_t s[NA];
    pk_run_t run;
    uint32_t sync[NV];
} mk_track_t;

static mk_track_t vtr, atr;
static int neg_cto;             /* composition offsets minus one frame: ctts v1 style */
static pk_asset_track_t ats[2];
static pk_asset_t asset;

/* cto in frames of sample i of a GOP I0 P3 B1 B2 P6 B4 B5 P9 B7 B8 (+1 frame so B >= 0) */
static int cto_frames(uint32_t i)
{
    uint32_t j = i % GOP;
    return j == 0 ? 1 : j % 3 == 1 ? 3 : 0;
}

static void put_be(uint8_t *p, uint32_t v, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        p[k] = (uint8_t)(v >> 8 * (n - 1 - k));
}

/* Video sample i: key frames an SEI (6) and an IDR slice (5), others one slice (1);
 * sizes vary so PES end anywhere in their last packet. nls: length field bytes. */
static void add_video_sample(uint32_t i, unsigned nls, int with_aud)
{
    size_t start = data_len;
    if (with_aud) {
        put_be(data + data_len, 2, nls);
        data[data_len + nls] = 0x09;
        data[data_len + nls + 1] = 0xf0;
        data_len += nls + 2;
    }
    int key = i % GOP == 0;
    uint32_t sizes[2] = { 5, key ? 400 + i * 37 : 30 + (i * 97) % 600 };
    if (nls == 1)
        sizes[1] = 2 + sizes[1] % 250;
    uint8_t types[2] = { 0x06, key ? 0x65 : 0x41 };
    for (int n = key ? 0 : 1; n < 2; n++) {
        put_be(data + data_len, sizes[n], nls);
        data_len += nls;
        data[data_len] = types[n];
        for (uint32_t b = 1; b < sizes[n]; b++)
            data[data_len + b] = (uint8_t)(i * 7 + b);
        data_len += sizes[n];
    }
    vtr.s[i] = (pk_sample_t){ .pos = start, .size = (uint32_t)(data_len - start),
                              .cto = (cto_frames(i) - neg_cto) * VD };
}

static void make_media(unsigned nls, int with_aud)
{
    memset(&vtr, 0, sizeof vtr);
    memset(&atr, 0, sizeof atr);
    data_len = 0;
    /* avcC: version, profile, compat, level, lengthSizeMinusOne, 1 SPS, 1 PPS */
    uint8_t *p = avcc;
    *p++ = 1, *p++ = 0x64, *p++ = 0, *p++ = 0x1f, *p++ = (uint8_t)(0xfc | (nls - 1));
    *p++ = 0xe1, *p++ = 0, *p++ = sizeof sps;
    memcpy(p, sps, sizeof sps), p += sizeof sps;
    *p++ = 1, *p++ = 0, *p++ = sizeof pps;
    memcpy(p, pps, sizeof pps), p += sizeof pps;
    avcc_len = (size_t)(p - avcc);

    for (uint32_t i = 0; i < NV; i++)
        add_video_sample(i, nls, with_aud);
    pk_track_t *t = &vtr.t;
    t->id = 1;
    t->type = PK_TRACK_VIDEO;
    t->fourcc = FOURCC('a','v','c','1');
    strcpy(t->lang, "und");
    t->timescale = 12800;
    t->nal_length_size = (uint8_t)nls;
    t->entry = avcc;
    t->entry_size = (uint32_t)avcc_len;
    t->dsi_off = 0;
    t->dsi_size = (uint32_t)avcc_len;
    t->sample_count = NV;
    t->samples = vtr.s;
    vtr.run = (pk_run_t){ .dts = 0, .first = 0, .count = NV, .delta = VD };
    t->run_count = 1;
    t->runs = &vtr.run;
    for (uint32_t k = 0; k < NV / GOP; k++)
        vtr.sync[k] = k * GOP;
    t->sync_count = NV / GOP;
    t->sync = vtr.sync;
    pk_track_finish(t);

    for (uint32_t i = 0; i < NA; i++) {
        uint32_t n = 100 + (i * 53) % 300;
        atr.s[i] = (pk_sample_t){ .pos = data_len, .size = n };
        for (uint32_t b = 0; b < n; b++)
            data[data_len + b] = (uint8_t)(i + b * 3);
        data_len += n;
    }
    t = &atr.t;
    t->id = 2;
    t->type = PK_TRACK_AUDIO;
    t->fourcc = FOURCC('m','p','4','a');
    strcpy(t->lang, "eng");
    t->timescale = 48000;
    t->channels = 2;
    t->sample_rate = 48000;
    t->object_type = 0x40;
    t->audio_object_type = 2;
    t->entry = asc;
    t->entry_size = sizeof asc;
    t->dsi_size = sizeof asc;
    t->sample_count = NA;
    t->samples = atr.s;
    atr.run = (pk_run_t){ .dts = 0, .first = 0, .count = NA, .delta = 1024 };
    t->run_count = 1;
    t->runs = &atr.run;
    t->sync_count = NA;
    pk_track_finish(t);

    mem = (pk_mem_t){ data, data_len };
    src = pk_source_mem(&mem, "synthetic.mp4");
    ats[0] = (pk_asset_track_t){ .track = &vtr.t, .source = &src, .name = "video",
                                 .bitrate = 500000, .language = "und", .src = "synthetic.mp4" };
    ats[1] = (pk_asset_track_t){ .track = &atr.t, .source = &src, .name = "aac_eng_2_128000",
                                 .bitrate = 128000, .language = "eng", .src = "synthetic.mp4" };
    asset = (pk_asset_t){ .track_count = 2, .tracks = ats };
}

static pk_view_t *make_view(arena_t *a)
{
    pk_view_t *v = NULL;
    CHECK(pk_view_build(&asset, 800, a, &v) == 0);
    CHECK(v->frag_count >= 3);
    return v;
}

/* ---- a TS parser written for the test ----------------------------------- */

typedef struct {
    uint16_t pid;
    uint8_t sid;
    int has_dts, pcr, rai;
    uint64_t pts, dts, pcr_base;
    size_t off, end;            /* bytes of the segment: first and past-last packet */
    size_t len;
    uint8_t *payload;           /* after the PES header */
} tpes_t;

#define MAXPES 1024

typedef struct {
    int cc[8192];               /* last CC per PID (-1 none), kept across segments */
    tpes_t pes[MAXPES];
    int n;
    int open[8192];             /* index in pes of the PID's PES being gathered, -1 */
    uint8_t *buf[8192];         /* its raw bytes */
    size_t blen[8192], bcap[8192];
    int pat, pmt, streams;
    uint16_t pmt_pid, pcr_pid, es_pid[4];
    uint8_t es_type[4];
    char lang[4][4];
    uint32_t reg[4];
    uint8_t desc[4][128];       /* the ES_info descriptors of each stream, as written */
    size_t desc_len[4];
} tparse_t;

static void tp_init(tparse_t *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < 8192; i++)
        p->cc[i] = p->open[i] = -1;
}

static void tp_free(tparse_t *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->pes[i].payload);
    for (int i = 0; i < 8192; i++)
        free(p->buf[i]);
}

static uint64_t get_ts(const uint8_t *b)
{
    CHECK((b[0] & 1) && (b[2] & 1) && (b[4] & 1));
    return (uint64_t)(b[0] >> 1 & 7) << 30 | (uint64_t)b[1] << 22 | (uint64_t)(b[2] >> 1) << 15 |
           (uint64_t)b[3] << 7 | b[4] >> 1;
}

static void finish_pes(tparse_t *p, int pid)
{
    if (p->open[pid] < 0)
        return;
    tpes_t *e = &p->pes[p->open[pid]];
    const uint8_t *b = p->buf[pid];
    size_t n = p->blen[pid];
    CHECK(n >= 9 && b[0] == 0 && b[1] == 0 && b[2] == 1);
    e->sid = b[3];
    unsigned plen = (unsigned)b[4] << 8 | b[5];
    CHECK(plen == 0 || plen == n - 6);
    CHECK((b[6] & 0xc0) == 0x80);
    unsigned flags = b[7] >> 6, hl = b[8];
    CHECK(flags == 2 || flags == 3);
    CHECK(hl == (flags == 3 ? 10u : 5u));
    CHECK(b[9] >> 4 == flags);
    e->pts = get_ts(b + 9);
    e->has_dts = flags == 3;
    if (e->has_dts) {
        CHECK(b[14] >> 4 == 1);
        e->dts = get_ts(b + 14);
    } else {
        e->dts = e->pts;
    }
    e->len = n - 9 - hl;
    e->payload = malloc(e->len ? e->len : 1);
    memcpy(e->payload, b + 9 + hl, e->len);
    p->open[pid] = -1;
    p->blen[pid] = 0;
}

static void check_section(const uint8_t *s, size_t room, size_t *len)
{
    CHECK(room >= 3 && (s[1] & 0xb0) == 0xb0);
    size_t sl = (size_t)(s[1] & 0x0f) << 8 | s[2];
    CHECK(sl + 3 <= room);
    CHECK(crc32_mpeg(s, sl + 3) == 0);      /* the CRC residue of CRC-32/MPEG-2 */
    *len = sl + 3;
}

static void parse_psi(tparse_t *p, int pid, const uint8_t *pl, size_t n)
{
    size_t len;
    CHECK(pl[0] == 0);                      /* pointer_field */
    const uint8_t *s = pl + 1;
    check_section(s, n - 1, &len);
    for (size_t i = 1 + len; i < n; i++)
        CHECK(pl[i] == 0xff);
    if (pid == 0) {
        CHECK(s[0] == 0 && len == 16);
        CHECK((s[8] << 8 | s[9]) == 1);
        p->pmt_pid = (uint16_t)((s[10] & 0x1f) << 8 | s[11]);
        p->pat++;
        return;
    }
    CHECK(s[0] == 2 && (s[3] << 8 | s[4]) == 1);
    p->pcr_pid = (uint16_t)((s[8] & 0x1f) << 8 | s[9]);
    size_t pil = (size_t)(s[10] & 0x0f) << 8 | s[11];
    size_t i = 12 + pil;
    p->streams = 0;
    while (i < len - 4) {
        int k = p->streams++;
        p->es_type[k] = s[i];
        p->es_pid[k] = (uint16_t)((s[i + 1] & 0x1f) << 8 | s[i + 2]);
        size_t el = (size_t)(s[i + 3] & 0x0f) << 8 | s[i + 4];
        p->lang[k][0] = 0;
        p->reg[k] = 0;
        CHECK(el <= sizeof p->desc[k] && i + 5 + el <= len - 4);
        memcpy(p->desc[k], s + i + 5, el);
        p->desc_len[k] = el;
        for (size_t d = i + 5; d < i + 5 + el; d += 2u + s[d + 1]) {
            CHECK(d + 2 + s[d + 1] <= i + 5 + el);  /* descriptor lengths tile ES_info */
            if (s[d] == 0x0a) {
                memcpy(p->lang[k], s + d + 2, 3);
                p->lang[k][3] = 0;
            }
            if (s[d] == 0x05)
                p->reg[k] = (uint32_t)s[d + 2] << 24 | s[d + 3] << 16 | s[d + 4] << 8 | s[d + 5];
        }
        i += 5 + el;
    }
    CHECK(i == len - 4);
    p->pmt++;
}

/* Parses one segment; CCs carry on from the previous call. */
static void tp_segment(tparse_t *p, const uint8_t *ts, size_t len)
{
    CHECK(len % TS_PACKET == 0);
    for (size_t off = 0; off < len; off += TS_PACKET) {
        const uint8_t *k = ts + off;
        CHECK(k[0] == 0x47);
        CHECK(!(k[1] & 0x80));
        int pusi = k[1] >> 6 & 1;
        int pid = (k[1] & 0x1f) << 8 | k[2];
        int afc = k[3] >> 4 & 3, cc = k[3] & 15;
        CHECK(afc != 0 && (k[3] & 0xc0) == 0);
        size_t pos = 4;
        int pcr = 0, rai = 0;
        uint64_t pcr_base = 0;
        if (afc & 2) {
            size_t al = k[4];
            CHECK(al <= 183);
            if (afc == 2)
                CHECK(al == 183);
            if (al) {
                rai = k[5] >> 6 & 1;
                pcr = k[5] >> 4 & 1;
                CHECK((k[5] & 0xaf) == 0);  /* nothing but RAI and PCR flags */
                size_t used = 1;
                if (pcr) {
                    pcr_base = (uint64_t)k[6] << 25 | (uint64_t)k[7] << 17 |
                               (uint64_t)k[8] << 9 | (uint64_t)k[9] << 1 | k[10] >> 7;
                    CHECK((k[10] & 0x7e) == 0x7e);
                    used += 6;
                }
                for (size_t i = 5 + used; i < 5 + al; i++)
                    CHECK(k[i] == 0xff);     /* stuffing */
            }
            pos += 1 + al;
        }
        CHECK(afc & 1);                     /* every packet we write has payload */
        if (p->cc[pid] >= 0)
            CHECK(cc == ((p->cc[pid] + 1) & 15));
        p->cc[pid] = cc;
        const uint8_t *pl = k + pos;
        size_t n = TS_PACKET - pos;
        if (pid == 0 || (p->pmt_pid && pid == p->pmt_pid)) {
            CHECK(pusi && afc == 1);
            parse_psi(p, pid, pl, n);
            continue;
        }
        if (pusi) {
            finish_pes(p, pid);
            CHECK(p->n < MAXPES);
            p->open[pid] = p->n;
            p->pes[p->n] = (tpes_t){ .pid = (uint16_t)pid, .pcr = pcr, .rai = rai,
                                     .pcr_base = pcr_base, .off = off };
            p->n++;
        } else {
            CHECK(p->open[pid] >= 0);
            CHECK(!pcr);
        }
        if (p->blen[pid] + n > p->bcap[pid]) {
            p->bcap[pid] = (p->blen[pid] + n) * 2;
            p->buf[pid] = realloc(p->buf[pid], p->bcap[pid]);
        }
        memcpy(p->buf[pid] + p->blen[pid], pl, n);
        p->blen[pid] += n;
        p->pes[p->open[pid]].end = off + TS_PACKET;
    }
    for (int pid = 0; pid < 8192; pid++)
        finish_pes(p, pid);
}

/* ---- helpers -------------------------------------------------------------- */

/* Segment k of main (+mux): counts, writes into exactly that many bytes, checks both. */
static uint8_t *segment(const pk_vtrack_t *main, const pk_vtrack_t *mux, uint32_t k,
                        size_t *len)
{
    arena_t *a = arena_new();
    wr_t cw = wr_counter();
    CHECK(pk_ts_segment(main, mux, k, a, &cw) == 0);
    uint8_t *buf = malloc(cw.pos);
    wr_t w = wr_init(buf, cw.pos);
    CHECK(pk_ts_segment(main, mux, k, a, &w) == 0);
    CHECK(w.pos == cw.pos);
    arena_free(a);
    *len = w.pos;
    return buf;
}

static const pk_vtrack_t *vtrack(const pk_view_t *v, pk_track_type_t type)
{
    for (uint32_t i = 0; i < v->track_count; i++)
        if (v->tracks[i].t->type == type)
            return &v->tracks[i];
    return NULL;
}

static size_t fake_nal_out(const uint8_t *nal, size_t len, uint8_t *out);

/* The Annex B bytes expected for video sample i (4-byte start codes): our AUD
 * unless the samples carry theirs, parameter sets after the AUD of key frames;
 * with saes, each NAL unit of the sample as the test's transform makes it. */
static size_t expect_video_as(uint32_t i, unsigned nls, int with_aud, int saes, uint8_t *out)
{
    static const uint8_t sc[] = { 0, 0, 0, 1 };
    const uint8_t *s = data + vtr.s[i].pos, *end = s + vtr.s[i].size;
    int key = i % GOP == 0;
    size_t n = 0;
    if (!with_aud) {
        memcpy(out, avc_aud, sizeof avc_aud);
        n += sizeof avc_aud;
    }
    for (int idx = 0; s <= end; idx++) {
        if (key && idx == (with_aud ? 1 : 0)) {
            memcpy(out + n, sc, 4), memcpy(out + n + 4, sps, sizeof sps), n += 4 + sizeof sps;
            memcpy(out + n, sc, 4), memcpy(out + n + 4, pps, sizeof pps), n += 4 + sizeof pps;
        }
        if (s == end)
            break;
        uint32_t len = 0;
        for (unsigned b = 0; b < nls; b++)
            len = len << 8 | *s++;
        memcpy(out + n, sc, 4);
        n += 4;
        if (saes) {
            n += fake_nal_out(s, len, out + n);
        } else {
            memcpy(out + n, s, len);
            n += len;
        }
        s += len;
    }
    return n;
}

static size_t expect_video(uint32_t i, unsigned nls, int with_aud, uint8_t *out)
{
    return expect_video_as(i, nls, with_aud, 0, out);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_crc(void **state)
{
    (void)state;
    CHECK(crc32_mpeg((const uint8_t *)"123456789", 9) == 0x0376e6e7u);  /* catalogue check */
}

/* Every PES length from 1 to 700 bytes, with and without PCR: 188-byte packets,
 * adaptation-field stuffing only, the payload back intact, the count formula right. */
static void test_packetize_lengths(void **state)
{
    (void)state;
    static uint8_t pesb[800], out[8 * TS_PACKET];
    for (size_t i = 0; i < sizeof pesb; i++)
        pesb[i] = (uint8_t)(i * 13 + 1);
    for (int pcr = 0; pcr < 2; pcr++) {
        for (size_t len = 1; len <= 700; len++) {
            stream_t s = { .pid = 0x100, .pcr = pcr };
            pes_t p = { .dts = 900000, .key = 1 };
            wr_t w = wr_init(out, sizeof out);
            put_packets(&w, &s, &p, pesb, len);
            CHECK(w.err == 0);
            CHECK(w.pos == pes_packets(&s, len) * TS_PACKET);
            CHECK(s.cc == pes_packets(&s, len));
            /* gather the payload back */
            uint8_t got[800];
            size_t n = 0;
            for (size_t off = 0; off < w.pos; off += TS_PACKET) {
                const uint8_t *k = out + off;
                CHECK(k[0] == 0x47 && ((k[1] & 0x40) != 0) == (off == 0));
                size_t pos = 4;
                if (k[3] & 0x20) {
                    if (off == 0 && pcr) {
                        CHECK(k[4] >= 7 && (k[5] & 0x50) == 0x50);
                        uint64_t base = (uint64_t)k[6] << 25 | (uint64_t)k[7] << 17 |
                                        (uint64_t)k[8] << 9 | (uint64_t)k[9] << 1 | k[10] >> 7;
                        CHECK(base == 900000 - PCR_DELAY);
                    }
                    pos += 1 + k[4];
                }
                CHECK(off + TS_PACKET == w.pos || pos == 4 + (off == 0 && pcr ? 8 : 0));
                memcpy(got + n, k + pos, TS_PACKET - pos);
                n += TS_PACKET - pos;
            }
            CHECK(n == len && memcmp(got, pesb, len) == 0);
        }
    }
}

static void check_video_segments(unsigned nls, int with_aud)
{
    make_media(nls, with_aud);
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    const pk_vtrack_t *vt = vtrack(v, PK_TRACK_VIDEO);
    tparse_t *p = malloc(sizeof *p);
    tp_init(p);
    uint32_t seen = 0;
    static uint8_t want[1 << 16];
    for (uint32_t k = 0; k < v->frag_count; k++) {
        size_t len;
        uint8_t *ts = segment(vt, NULL, k, &len);
        int first_pes = p->n;
        tp_segment(p, ts, len);
        CHECK(p->pat == (int)k + 1 && p->pmt == (int)k + 1);
        CHECK(p->pmt_pid == PID_PMT && p->pcr_pid == PID_VIDEO);
        CHECK(p->streams == 1 && p->es_pid[0] == PID_VIDEO && p->es_type[0] == 0x1b);
        /* the I-frame range: PAT, PMT and the first PES, ending at its last packet */
        uint64_t kf;
        arena_t *b = arena_new();
        CHECK(pk_ts_keyframe_range(vt, k, b, &kf) == 0);
        arena_free(b);
        CHECK(kf == p->pes[first_pes].end && p->pes[first_pes].off == 2 * TS_PACKET);
        free(ts);
        CHECK((uint32_t)(p->n - first_pes) == vt->frags[k].count);
        for (int e = first_pes; e < p->n; e++, seen++) {
            const tpes_t *x = &p->pes[e];
            uint32_t i = seen;
            CHECK(x->pid == PID_VIDEO && x->sid == 0xe0);
            /* negative offsets: sample 0 has cto 0, B-frames -1 frame; DTS moves back */
            CHECK((int64_t)x->dts == 900000 + ((int64_t)i - neg_cto) * 3600);
            CHECK((int64_t)x->pts == 900000 + ((int64_t)i + cto_frames(i) - neg_cto) * 3600);
            CHECK(x->has_dts == (cto_frames(i) != 0));
            CHECK(x->pcr && x->pcr_base == x->dts - PCR_DELAY);
            CHECK(x->rai == (i % GOP == 0));
            size_t n = expect_video(i, nls, with_aud, want);
            CHECK(x->len == n && memcmp(x->payload, want, n) == 0);
        }
    }
    CHECK(seen == NV);
    tp_free(p);
    free(p);
    arena_free(a);
}

/* One row of the video cases: NAL length size, an AUD in the source, ctts v1 offsets. */
typedef struct {
    unsigned nls;
    int with_aud, neg_cto;
} video_case_t;

static void test_video(void **state)
{
    const video_case_t *c = *state;
    neg_cto = c->neg_cto;
    check_video_segments(c->nls, c->with_aud);
    neg_cto = 0;
}

/* A cmocka test of the row, named test_video_<name>. */
#define VIDEO_CASE(name, nls, aud, neg) \
    { "test_video_" #name, test_video, NULL, NULL, &(video_case_t){ nls, aud, neg } }

/* Audio-only: ADTS frames grouped up to 0.1 s, PCR on the audio PID. */
static void test_audio_segments(void **state)
{
    (void)state;
    make_media(4, 0);
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    const pk_vtrack_t *at = vtrack(v, PK_TRACK_AUDIO);
    tparse_t *p = malloc(sizeof *p);
    tp_init(p);
    uint32_t frame = 0;
    for (uint32_t k = 0; k < v->frag_count; k++) {
        size_t len;
        uint8_t *ts = segment(at, NULL, k, &len);
        int first_pes = p->n;
        tp_segment(p, ts, len);
        free(ts);
        CHECK(p->pcr_pid == PID_AUDIO && p->streams == 1 && p->es_type[0] == 0x0f);
        CHECK(strcmp(p->lang[0], "eng") == 0 && p->reg[0] == 0);
        uint32_t end = at->frags[k].first + at->frags[k].count;
        CHECK(frame == at->frags[k].first);
        for (int e = first_pes; e < p->n; e++) {
            const tpes_t *x = &p->pes[e];
            CHECK(x->pid == PID_AUDIO && x->sid == 0xc0 && !x->has_dts);
            CHECK(x->pts == 900000 + (uint64_t)frame * 1920);
            CHECK(x->pcr && x->pcr_base == x->pts - PCR_DELAY && x->rai);
            /* 13818-1 2.7.2: PCRs at most 0.1 s apart */
            if (e > 0)
                CHECK(x->pcr_base - p->pes[e - 1].pcr_base <= 9000);
            /* as many 1024-sample frames as fit 0.1 s at 48 kHz: 4 */
            uint32_t want = end - frame < 4 ? end - frame : 4;
            const uint8_t *b = x->payload, *be = b + x->len;
            for (uint32_t f = 0; f < want; f++, frame++) {
                CHECK(be - b >= 7);
                /* 14496-3 1.A.2.2: syncword, MPEG-4, no CRC, LC, 48 kHz, 2 channels */
                CHECK(b[0] == 0xff && b[1] == 0xf1);
                CHECK(b[2] >> 6 == 1 && (b[2] >> 2 & 15) == 3);
                CHECK(((b[2] & 1) << 2 | b[3] >> 6) == 2);
                unsigned fl = (unsigned)(b[3] & 3) << 11 | (unsigned)b[4] << 3 | b[5] >> 5;
                CHECK(fl == 7 + atr.s[frame].size);
                CHECK((b[5] & 0x1f) == 0x1f && b[6] == 0xfc);
                CHECK(memcmp(b + 7, data + atr.s[frame].pos, atr.s[frame].size) == 0);
                b += fl;
            }
            CHECK(b == be);
        }
        CHECK(frame == end);
    }
    CHECK(frame == NA);
    tp_free(p);
    free(p);
    arena_free(a);
}

/* HLS v3: video and audio in one TS, in DTS order, CCs continuous per PID. */
static void test_muxed_segments(void **state)
{
    (void)state;
    make_media(4, 0);
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    const pk_vtrack_t *vt = vtrack(v, PK_TRACK_VIDEO), *at = vtrack(v, PK_TRACK_AUDIO);
    tparse_t *p = malloc(sizeof *p);
    tp_init(p);
    uint32_t nv = 0, na = 0;
    for (uint32_t k = 0; k < v->frag_count; k++) {
        size_t len;
        uint8_t *ts = segment(vt, at, k, &len);
        int first_pes = p->n;
        tp_segment(p, ts, len);
        free(ts);
        CHECK(p->streams == 2 && p->pcr_pid == PID_VIDEO);
        CHECK(p->es_pid[0] == PID_VIDEO && p->es_pid[1] == PID_AUDIO);
        CHECK(strcmp(p->lang[1], "eng") == 0 && p->lang[0][0] == 0);
        uint64_t last = 0;
        for (int e = first_pes; e < p->n; e++) {
            const tpes_t *x = &p->pes[e];
            CHECK(x->dts >= last);
            last = x->dts;
            if (x->pid == PID_VIDEO) {
                CHECK(x->pcr && x->dts == 900000 + (uint64_t)nv * 3600);
                nv++;
            } else {
                CHECK(!x->pcr && x->pts == 900000 + (uint64_t)na * 1920);
                /* count frames by walking the ADTS headers */
                const uint8_t *b = x->payload;
                size_t left = x->len;
                while (left) {
                    unsigned fl = (unsigned)(b[3] & 3) << 11 | (unsigned)b[4] << 3 | b[5] >> 5;
                    CHECK(fl <= left);
                    b += fl, left -= fl, na++;
                }
            }
        }
        CHECK(nv == vt->frags[k].first + vt->frags[k].count);
        CHECK(na == at->frags[k].first + at->frags[k].count);
    }
    CHECK(nv == NV && na == NA);
    tp_free(p);
    free(p);
    arena_free(a);
}

/* Packets worked out once per asset (pk_ts_packets, as fs/assets.c does) give the
 * same segments, byte for byte, as the walk over earlier fragments: sizes in count
 * mode and continuity counters in write mode. */
static void test_precomputed_packets(void **state)
{
    (void)state;
    for (unsigned nls = 2; nls <= 4; nls += 2) {
        make_media(nls, 0);
        arena_t *a = arena_new();
        pk_view_t *v = make_view(a);
        pk_vtrack_t *vt = (pk_vtrack_t *)vtrack(v, PK_TRACK_VIDEO);
        pk_vtrack_t *at = (pk_vtrack_t *)vtrack(v, PK_TRACK_AUDIO);
        uint32_t n = v->frag_count;
        uint8_t **walked = calloc(n * 3, sizeof *walked);
        size_t *len = calloc(n * 3, sizeof *len);
        uint64_t *key = calloc(n, sizeof *key);
        for (uint32_t k = 0; k < n; k++)
            CHECK(pk_ts_keyframe_range(vt, k, a, &key[k]) == 0);
        for (uint32_t k = 0; k < n; k++) {
            walked[3 * k] = segment(vt, NULL, k, &len[3 * k]);
            walked[3 * k + 1] = segment(at, NULL, k, &len[3 * k + 1]);
            walked[3 * k + 2] = segment(vt, at, k, &len[3 * k + 2]);
        }
        uint32_t *p;
        CHECK(pk_ts_packets(vt, 1, a, &p) == 0);
        vt->ts_packets = p;
        CHECK(pk_ts_packets(at, 1, a, &p) == 0);
        at->ts_packets = p;
        CHECK(pk_ts_packets(at, 0, a, &p) == 0);
        at->ts_packets_mux = p;
        CHECK(pk_ts_key_packets(vt, a, &p) == 0);
        vt->ts_key_packets = p;
        for (uint32_t k = 0; k < n; k++) {
            uint64_t kl;
            CHECK(pk_ts_keyframe_range(vt, k, a, &kl) == 0 && kl == key[k]);
            CHECK(pk_ts_keyframe_size(vt, k, &kl) == 0 && kl == key[k]);
        }
        for (uint32_t k = 0; k < n; k++) {
            const pk_vtrack_t *m[3][2] = { { vt, NULL }, { at, NULL }, { vt, at } };
            for (int j = 0; j < 3; j++) {
                size_t l;
                uint8_t *b = segment(m[j][0], m[j][1], k, &l);
                CHECK(l == len[3 * k + j] && memcmp(b, walked[3 * k + j], l) == 0);
                free(b);
                free(walked[3 * k + j]);
            }
        }
        free(walked);
        free(len);
        free(key);
        arena_free(a);
    }
}

static void test_no_such_fragment(void **state)
{
    (void)state;
    make_media(4, 0);
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    const pk_vtrack_t *vt = vtrack(v, PK_TRACK_VIDEO), *at = vtrack(v, PK_TRACK_AUDIO);
    wr_t cw = wr_counter();
    uint64_t len;
    CHECK(pk_ts_segment(vt, NULL, v->frag_count, a, &cw) == -ENOENT);
    CHECK(pk_ts_segment(vt, NULL, UINT32_MAX, a, &cw) == -ENOENT);
    CHECK(pk_ts_keyframe_range(vt, v->frag_count, a, &len) == -ENOENT);
    CHECK(pk_ts_keyframe_range(at, 0, a, &len) == -EINVAL);
    CHECK(pk_ts_segment(at, vt, 0, a, &cw) == -EINVAL);
    arena_free(a);
}

/* A NAL length running past the sample: -EBADMSG naming file, track and sample. */
static void check_bad_nal(unsigned nls)
{
    make_media(nls, 0);
    /* sample 13 (fragment 0 or 1): its slice claims one byte more than there is */
    put_be(data + vtr.s[13].pos, vtr.s[13].size - nls + 1, nls);
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    const pk_vtrack_t *vt = vtrack(v, PK_TRACK_VIDEO);
    uint32_t k = 0;
    while (vt->frags[k].first + vt->frags[k].count <= 13)
        k++;
    static uint8_t buf[1 << 18];
    wr_t w = wr_init(buf, sizeof buf);
    logbuf[0] = 0;
    pk_log_set_sink(capture, NULL);
    CHECK(pk_ts_segment(vt, NULL, k, a, &w) == -EBADMSG);
    CHECK(strstr(logbuf, "synthetic.mp4") && strstr(logbuf, "video") &&
          strstr(logbuf, "sample 13"));
    /* count mode: 4-byte lengths are not read (sizes come from the table) */
    wr_t cw = wr_counter();
    CHECK(pk_ts_segment(vt, NULL, k, a, &cw) == (nls == 4 ? 0 : -EBADMSG));
    /* a later segment needs sample 13 only for its CC when lengths are not 4 bytes */
    w = wr_init(buf, sizeof buf);
    CHECK(pk_ts_segment(vt, NULL, k + 1, a, &w) == (nls == 4 ? 0 : -EBADMSG));
    pk_log_set_sink(NULL, NULL);
    arena_free(a);
}

static void test_bad_nal_length(void **state)
{
    (void)state;
    check_bad_nal(4);
    check_bad_nal(2);
}

/* Segment 0 of the media as make_media() and the test left it, track `type`: -EBADMSG,
 * written (or only counted), with a log line that names `what`. */
static void check_refused(pk_track_type_t type, int counted, const char *what)
{
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    static uint8_t buf[1 << 18];
    wr_t w = counted ? wr_counter() : wr_init(buf, sizeof buf);
    pk_log_set_sink(capture, NULL);
    CHECK(pk_ts_segment(vtrack(v, type), NULL, 0, a, &w) == -EBADMSG);
    CHECK(strstr(logbuf, what));
    pk_log_set_sink(NULL, NULL);
    arena_free(a);
}

/* A length field cut by the sample's end. */
static void test_truncated_length_field(void **state)
{
    (void)state;
    make_media(4, 0);
    vtr.s[0].size = 4 + 5 + 2;      /* the SEI NAL, then 2 bytes of a length field */
    check_refused(PK_TRACK_VIDEO, 0, "sample 0");
}

/* A source shorter than its table. */
static void test_short_source(void **state)
{
    (void)state;
    make_media(4, 0);
    mem.len = (size_t)vtr.s[5].pos;
    check_refused(PK_TRACK_VIDEO, 0, "sample 5");
}

/* An AAC frame longer than ADTS's 13-bit frame_length: -EBADMSG, counted or written. */
static void test_adts_frame_too_long(void **state)
{
    (void)state;
    make_media(4, 0);
    atr.s[7].size = 0x1fff - 6;
    check_refused(PK_TRACK_AUDIO, 1, "sample 7");
}

/* ADTS headers from other AudioSpecificConfigs; what ADTS cannot carry is ENOTSUP. */
static void test_adts_template(void **state)
{
    (void)state;
    make_media(4, 0);
    pk_asset_track_t at = ats[1];
    pk_vtrack_t vt = { .at = &at, .t = &atr.t };
    stream_t s = { .vt = &vt, .t = &atr.t };
    /* HE-AAC explicit: AOT 5, 24 kHz core (6), 2 ch, ext 48 kHz (3), core AOT 2 */
    static const uint8_t he[] = { 0x2b, 0x11, 0x88 };
    atr.t.entry = he;
    atr.t.dsi_size = sizeof he;
    CHECK(adts_template(&s) == 0);
    CHECK(s.adts_hdr[2] >> 6 == 1 && (s.adts_hdr[2] >> 2 & 15) == 6);
    /* explicit 44100 Hz rate (index 15 + 24 bits) maps to index 4 */
    static const uint8_t explicit_rate[] = { 0x17, 0x80, 0x56, 0x22, 0x10 };
    atr.t.entry = explicit_rate;
    atr.t.dsi_size = sizeof explicit_rate;
    CHECK(adts_template(&s) == 0);
    CHECK((s.adts_hdr[2] >> 2 & 15) == 4 && ((s.adts_hdr[2] & 1) << 2 | s.adts_hdr[3] >> 6) == 2);
    /* channel configuration 0 (a PCE) */
    static const uint8_t pce[] = { 0x11, 0x80 };
    atr.t.entry = pce;
    atr.t.dsi_size = sizeof pce;
    pk_log_set_sink(capture, NULL);
    CHECK(adts_template(&s) == -ENOTSUP);
    static const uint8_t cut[] = { 0x11 };
    atr.t.entry = cut;
    atr.t.dsi_size = sizeof cut;
    CHECK(adts_template(&s) == -EBADMSG);
    pk_log_set_sink(NULL, NULL);
}

/* AC-3: stream type 0x81, registration 'AC-3', private_stream_1, no ADTS. */
static void test_ac3(void **state)
{
    (void)state;
    make_media(4, 0);
    atr.t.fourcc = FOURCC('a','c','-','3');
    atr.t.object_type = 0;
    atr.t.dsi_size = 0;
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    tparse_t *p = malloc(sizeof *p);
    tp_init(p);
    size_t len;
    uint8_t *ts = segment(vtrack(v, PK_TRACK_AUDIO), NULL, 1, &len);
    tp_segment(p, ts, len);
    CHECK(p->es_type[0] == 0x81 && p->reg[0] == FOURCC('A','C','-','3'));
    CHECK(p->pes[0].sid == 0xbd);
    const pk_vtrack_t *at = vtrack(v, PK_TRACK_AUDIO);
    uint32_t f = at->frags[1].first;
    CHECK(memcmp(p->pes[0].payload, data + atr.s[f].pos, atr.s[f].size) == 0);
    free(ts);
    tp_free(p);
    free(p);
    arena_free(a);
}

/* ---- SAMPLE-AES plumbing ----------------------------------------------------------
 * The writer's part of SAMPLE-AES is where the transform applies and what it does to
 * sizes, counters and the PMT; the cipher itself is crypt/'s (test_crypt_aes.c, and
 * tests/integration/crypt_ts.sh with ffmpeg). A transform of the test's own stands in:
 * a slice (type 1 or 5) of more than 48 bytes keeps its first 32 bytes, the rest is
 * XOR 0x5a and len % 3 bytes 0xee follow (a size change, like re-escaping); other units
 * pass as they are. Audio frames: XOR 0xa5 after the header and 16 bytes. */

typedef struct {
    unsigned nals, frames;
    int fail;                   /* return this from the next call */
} fake_t;

static int fake_protected(const uint8_t *nal, size_t len)
{
    unsigned t = nal[0] & 0x1f;
    return (t == 1 || t == 5) && len > 48;
}

static size_t fake_nal_out(const uint8_t *nal, size_t len, uint8_t *out)
{
    if (!fake_protected(nal, len)) {
        memcpy(out, nal, len);
        return len;
    }
    memcpy(out, nal, 32);
    for (size_t i = 32; i < len; i++)
        out[i] = nal[i] ^ 0x5a;
    memset(out + len, 0xee, len % 3);
    return len + len % 3;
}

static int fake_nal(void *ctx, const uint8_t *nal, size_t len, wr_t *w)
{
    fake_t *f = ctx;
    f->nals++;
    if (f->fail)
        return f->fail;
    uint8_t *p = wr_reserve(w, len + (fake_protected(nal, len) ? len % 3 : 0));
    if (p)
        fake_nal_out(nal, len, p);
    return w->err;
}

static int fake_frame(void *ctx, uint8_t *fr, size_t len, size_t hdr)
{
    fake_t *f = ctx;
    f->frames++;
    /* the whole ADTS frame, its header first */
    unsigned fl = (unsigned)(fr[3] & 3) << 11 | (unsigned)fr[4] << 3 | fr[5] >> 5;
    CHECK(hdr == 7 && fr[0] == 0xff && fr[1] == 0xf1 && fl == len);
    for (size_t i = hdr + 16; i < len; i++)
        fr[i] ^= 0xa5;
    return f->fail;
}

/* The growth of each video sample under the fake transform (4-byte lengths). */
static uint32_t *fake_growth(void)
{
    uint32_t *g = calloc(NV, sizeof *g);
    for (uint32_t i = 0; i < NV; i++) {
        const uint8_t *s = data + vtr.s[i].pos, *end = s + vtr.s[i].size;
        while (s < end) {
            uint32_t len = (uint32_t)s[0] << 24 | s[1] << 16 | s[2] << 8 | s[3];
            if (fake_protected(s + 4, len))
                g[i] += len % 3;
            s += 4 + len;
        }
    }
    return g;
}

static uint8_t *saes_segment(const pk_vtrack_t *main, const pk_ts_saes_t *sm,
                             const pk_vtrack_t *mux, const pk_ts_saes_t *sx, uint32_t k,
                             size_t *len)
{
    arena_t *a = arena_new();
    wr_t cw = wr_counter();
    CHECK(pk_ts_segment_saes(main, sm, mux, sx, k, a, &cw) == 0);
    uint8_t *buf = malloc(cw.pos);
    wr_t w = wr_init(buf, cw.pos);
    CHECK(pk_ts_segment_saes(main, sm, mux, sx, k, a, &w) == 0);
    CHECK(w.pos == cw.pos);                 /* the size counted is the size written */
    arena_free(a);
    *len = w.pos;
    return buf;
}

/* Video: PMT stream_type 0xDB with private_data_indicator 'zavc' (and the CRC right);
 * every PES the clear one with each sample NAL unit transformed (not the AUD, not the
 * parameter sets); sizes counted == written; CCs continuous across segments; the same
 * bytes whether the growth is known or worked out, and with the stream's own packet counts
 * (pk_ts_packets_saes: CCs from them, no walk); the I-frame range ends at the first PES;
 * clear packet counts the view holds are not used for the grown stream. */
static void test_saes_video(void **state)
{
    (void)state;
    static const uint8_t zavc[] = { 0x0f, 4, 'z', 'a', 'v', 'c' };
    static uint8_t want[1 << 16];
    make_media(4, 0);
    uint32_t *growth = fake_growth();
    uint8_t *first[3][16] = { { NULL } };
    size_t first_len[3][16] = { { 0 } };
    for (int known = 0; known < 3; known++) {
        arena_t *a = arena_new();
        pk_view_t *v = make_view(a);
        pk_vtrack_t *vt = (pk_vtrack_t *)vtrack(v, PK_TRACK_VIDEO);
        CHECK(v->frag_count <= 16);
        if (known) {                        /* clear counts: the writer must ignore them */
            uint32_t *p;
            CHECK(pk_ts_packets(vt, 1, a, &p) == 0);
            vt->ts_packets = p;
        }
        fake_t f = { 0, 0, 0 };
        pk_ts_saes_t sa = { .growth = known ? growth : NULL, .nal = fake_nal,
                            .frame = fake_frame, .ctx = &f };
        uint32_t *pk = NULL;
        if (known == 2) {
            CHECK(pk_ts_packets_saes(vt, &sa, a, &pk) == 0);
            sa.packets = pk;
        }
        tparse_t *p = malloc(sizeof *p);
        tp_init(p);
        uint32_t seen = 0;
        for (uint32_t k = 0; k < v->frag_count; k++) {
            size_t len;
            uint8_t *ts = saes_segment(vt, &sa, NULL, NULL, k, &len);
            int first_pes = p->n;
            tp_segment(p, ts, len);
            first[known][k] = ts;
            first_len[known][k] = len;
            if (pk)                         /* PAT, PMT, then the PES packets */
                CHECK(pk[k] == len / 188 - 2);
            CHECK(p->streams == 1 && p->es_pid[0] == PID_VIDEO && p->es_type[0] == 0xdb);
            CHECK(p->desc_len[0] == sizeof zavc && memcmp(p->desc[0], zavc, sizeof zavc) == 0);
            uint64_t kf;
            arena_t *b = arena_new();
            CHECK(pk_ts_keyframe_range_saes(vt, &sa, k, b, &kf) == 0);
            arena_free(b);
            CHECK(kf == p->pes[first_pes].end);
            for (int e = first_pes; e < p->n; e++, seen++) {
                size_t n = expect_video_as(seen, 4, 0, 1, want);
                CHECK(p->pes[e].len == n && memcmp(p->pes[e].payload, want, n) == 0);
            }
        }
        CHECK(seen == NV && f.nals > 0 && f.frames == 0);
        if (pk && v->frag_count > 1) {  /* the counts given are those used: for the CCs */
            size_t len;
            uint32_t *off = arena_calloc(a, v->frag_count, sizeof *pk);
            memcpy(off, pk, v->frag_count * sizeof *pk);
            off[0]++;                   /* segment 1's size stays, its CCs move by one */
            sa.packets = off;
            uint8_t *ts = saes_segment(vt, &sa, NULL, NULL, 1, &len);
            CHECK(len == first_len[2][1] && memcmp(ts, first[2][1], len) != 0);
            free(ts);
        }
        tp_free(p);
        free(p);
        arena_free(a);
    }
    for (uint32_t k = 0; k < 16 && first[0][k]; k++) {
        for (int known = 1; known < 3; known++) {
            CHECK(first_len[0][k] == first_len[known][k]);
            CHECK(memcmp(first[0][k], first[known][k], first_len[0][k]) == 0);
            free(first[known][k]);
        }
        free(first[0][k]);
    }
    uint32_t grew = 0;
    for (uint32_t i = 0; i < NV; i++)
        grew += growth[i] != 0;
    CHECK(grew > NV / 4);                   /* the sizes really change */
    free(growth);
}

/* Audio: stream_type 0xCF; private_data_indicator 'aacd', then the registration
 * descriptor 'apad' with the audio setup information (zaac, priming 0, version 1, the
 * 2-byte AudioSpecificConfig), then the language; each ADTS frame through the transform
 * with its header; the segment exactly as long as the clear one. HE-AAC signalled
 * explicitly is 'zach'. */
static void test_saes_audio(void **state)
{
    (void)state;
    static const uint8_t want_desc[] = {
        0x0f, 4, 'a', 'a', 'c', 'd',
        0x05, 14, 'a', 'p', 'a', 'd', 'z', 'a', 'a', 'c', 0, 0, 1, 2, 0x11, 0x90,
        0x0a, 4, 'e', 'n', 'g', 0,
    };
    make_media(4, 0);
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    const pk_vtrack_t *at = vtrack(v, PK_TRACK_AUDIO);
    fake_t f = { 0, 0, 0 };
    pk_ts_saes_t sa = { .nal = fake_nal, .frame = fake_frame, .ctx = &f };
    tparse_t *p = malloc(sizeof *p);
    tp_init(p);
    uint32_t frame = 0;
    for (uint32_t k = 0; k < v->frag_count; k++) {
        size_t len, clear_len;
        uint8_t *ts = saes_segment(at, &sa, NULL, NULL, k, &len);
        free(segment(at, NULL, k, &clear_len));
        CHECK(len == clear_len);
        int first_pes = p->n;
        tp_segment(p, ts, len);
        free(ts);
        CHECK(p->streams == 1 && p->es_type[0] == 0xcf && p->pcr_pid == PID_AUDIO);
        CHECK(p->desc_len[0] == sizeof want_desc);
        CHECK(memcmp(p->desc[0], want_desc, sizeof want_desc) == 0);
        for (int e = first_pes; e < p->n; e++) {
            const uint8_t *b = p->pes[e].payload, *be = b + p->pes[e].len;
            while (b < be) {
                unsigned fl = (unsigned)(b[3] & 3) << 11 | (unsigned)b[4] << 3 | b[5] >> 5;
                const uint8_t *in = data + atr.s[frame].pos;
                CHECK(fl == 7 + atr.s[frame].size && b[0] == 0xff);
                for (size_t i = 0; i < atr.s[frame].size; i++)
                    CHECK(b[7 + i] == (i < 16 ? in[i] : (uint8_t)(in[i] ^ 0xa5)));
                b += fl;
                frame++;
            }
        }
    }
    CHECK(frame == NA && f.frames == NA && f.nals == 0);
    tp_free(p);

    CHECK(pk_ts_saes_supported(at));
    /* explicit SBR: zach */
    static const uint8_t he[] = { 0x2b, 0x11, 0x88 };
    atr.t.entry = he;
    atr.t.dsi_size = sizeof he;
    tp_init(p);
    size_t len;
    uint8_t *ts = saes_segment(at, &sa, NULL, NULL, 0, &len);
    tp_segment(p, ts, len);
    CHECK(p->desc_len[0] == 6 + 2 + 4 + 8 + 3 + 6);
    CHECK(memcmp(p->desc[0] + 12, "zach\0\0\1\3\x2b\x11\x88", 11) == 0);
    free(ts);
    tp_free(p);
    free(p);
    arena_free(a);
}

/* HLS v3: both streams protected in one segment; CCs continuous per PID across segments;
 * sizes counted == written. */
static void test_saes_muxed(void **state)
{
    (void)state;
    make_media(4, 0);
    uint32_t *growth = fake_growth();
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    pk_vtrack_t *vt = (pk_vtrack_t *)vtrack(v, PK_TRACK_VIDEO);
    pk_vtrack_t *at = (pk_vtrack_t *)vtrack(v, PK_TRACK_AUDIO);
    uint32_t *pk;
    CHECK(pk_ts_packets(at, 0, a, &pk) == 0);
    at->ts_packets_mux = pk;                /* audio keeps its size: these still hold */
    fake_t f = { 0, 0, 0 };
    pk_ts_saes_t sv = { .growth = growth, .nal = fake_nal, .ctx = &f };
    pk_ts_saes_t sa = { .frame = fake_frame, .ctx = &f };
    tparse_t *p = malloc(sizeof *p);
    tp_init(p);
    static uint8_t want[1 << 16];
    uint32_t nv = 0;
    for (uint32_t k = 0; k < v->frag_count; k++) {
        size_t len;
        uint8_t *ts = saes_segment(vt, &sv, at, &sa, k, &len);
        int first_pes = p->n;
        tp_segment(p, ts, len);
        free(ts);
        CHECK(p->streams == 2 && p->es_type[0] == 0xdb && p->es_type[1] == 0xcf);
        CHECK(p->desc[1][0] == 0x0f && p->desc[1][6] == 0x05);
        for (int e = first_pes; e < p->n; e++) {
            if (p->pes[e].pid != PID_VIDEO)
                continue;
            size_t n = expect_video_as(nv++, 4, 0, 1, want);
            CHECK(p->pes[e].len == n && memcmp(p->pes[e].payload, want, n) == 0);
        }
    }
    CHECK(nv == NV && f.frames == NA);
    tp_free(p);
    free(p);
    free(growth);
    arena_free(a);
}

/* What SAMPLE-AES cannot carry is ENOTSUP, counted or written (logged); a transform's
 * error comes back as it is. */
static void test_saes_refused(void **state)
{
    (void)state;
    fake_t f = { 0, 0, 0 };
    pk_ts_saes_t sa = { .nal = fake_nal, .frame = fake_frame, .ctx = &f };
    static uint8_t buf[1 << 18];
    pk_log_set_sink(capture, NULL);

    make_media(4, 0);
    atr.t.fourcc = FOURCC('a','c','-','3');
    atr.t.object_type = 0;
    atr.t.dsi_size = 0;
    arena_t *a = arena_new();
    pk_view_t *v = make_view(a);
    wr_t cw = wr_counter();
    logbuf[0] = 0;
    CHECK(!pk_ts_saes_supported(vtrack(v, PK_TRACK_AUDIO)));
    CHECK(pk_ts_saes_supported(vtrack(v, PK_TRACK_VIDEO)));
    CHECK(logbuf[0] == 0);                  /* asking logs nothing */
    CHECK(pk_ts_segment_saes(vtrack(v, PK_TRACK_AUDIO), &sa, NULL, NULL, 0, a, &cw) ==
          -ENOTSUP);
    CHECK(strstr(logbuf, "SAMPLE-AES"));
    arena_free(a);

    make_media(4, 0);
    static const uint8_t main_aot[] = { 0x09, 0x90 };    /* AOT 1 (AAC Main) */
    atr.t.entry = main_aot;
    a = arena_new();
    v = make_view(a);
    cw = wr_counter();
    CHECK(!pk_ts_saes_supported(vtrack(v, PK_TRACK_AUDIO)));
    CHECK(pk_ts_segment_saes(vtrack(v, PK_TRACK_AUDIO), &sa, NULL, NULL, 0, a, &cw) ==
          -ENOTSUP);
    wr_t w = wr_init(buf, sizeof buf);
    CHECK(pk_ts_segment_saes(vtrack(v, PK_TRACK_VIDEO), &sa, vtrack(v, PK_TRACK_AUDIO), &sa,
                             0, a, &w) == -ENOTSUP);
    arena_free(a);

    make_media(4, 0);
    a = arena_new();
    v = make_view(a);
    f.fail = -EIO;
    w = wr_init(buf, sizeof buf);
    CHECK(pk_ts_segment_saes(vtrack(v, PK_TRACK_VIDEO), &sa, NULL, NULL, 1, a, &w) == -EIO);
    w = wr_init(buf, sizeof buf);
    CHECK(pk_ts_segment_saes(vtrack(v, PK_TRACK_AUDIO), &sa, NULL, NULL, 1, a, &w) == -EIO);
    /* a growth that is not the transform's: the PES check catches it */
    f.fail = 0;
    uint32_t *g = calloc(NV, sizeof *g);
    sa.growth = g;
    w = wr_init(buf, sizeof buf);
    CHECK(pk_ts_segment_saes(vtrack(v, PK_TRACK_VIDEO), &sa, NULL, NULL, 0, a, &w) ==
          -EBADMSG);
    CHECK(strstr(logbuf, "were counted"));
    free(g);
    arena_free(a);
    pk_log_set_sink(NULL, NULL);
}

/* Every allocation failing in turn: -ENOMEM, nothing leaked (ASan). */
static void test_enomem(void **state)
{
    (void)state;
    make_media(2, 0);
    arena_t *va = arena_new();
    pk_view_t *v = make_view(va);
    const pk_vtrack_t *vt = vtrack(v, PK_TRACK_VIDEO), *at = vtrack(v, PK_TRACK_AUDIO);
    static uint8_t buf[1 << 18];
    int rc = -ENOMEM;
    for (unsigned n = 1; rc == -ENOMEM; n++) {
        arena_t *a = arena_new();
        arena_fail_after(a, n);
        wr_t w = wr_init(buf, sizeof buf);
        rc = pk_ts_segment(vt, at, 1, a, &w);
        arena_free(a);
        CHECK(rc == 0 || rc == -ENOMEM);
    }
    arena_free(va);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc),
        cmocka_unit_test(test_packetize_lengths),
        VIDEO_CASE(nls4, 4, 0, 0),
        VIDEO_CASE(nls2, 2, 0, 0),
        VIDEO_CASE(nls1_with_aud, 1, 1, 0),
        VIDEO_CASE(with_aud, 4, 1, 0),
        VIDEO_CASE(negative_cto, 4, 0, 1),
        cmocka_unit_test(test_audio_segments),
        cmocka_unit_test(test_muxed_segments),
        cmocka_unit_test(test_precomputed_packets),
        cmocka_unit_test(test_no_such_fragment),
        cmocka_unit_test(test_bad_nal_length),
        cmocka_unit_test(test_truncated_length_field),
        cmocka_unit_test(test_short_source),
        cmocka_unit_test(test_adts_frame_too_long),
        cmocka_unit_test(test_adts_template),
        cmocka_unit_test(test_ac3),
        cmocka_unit_test(test_saes_video),
        cmocka_unit_test(test_saes_audio),
        cmocka_unit_test(test_saes_muxed),
        cmocka_unit_test(test_saes_refused),
        cmocka_unit_test(test_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
