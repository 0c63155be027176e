/*
 * Media for the targets that need some: sample entries built around a decoder config
 * (parsed by pk_codec_parse_entry, as the MP4 reader does), a fixed synthetic asset
 * (2 video renditions, 2 audio tracks) for the .ism and filter targets, and
 * fuzz_write_view(), which runs every segment writer over a view as a mount would:
 * sizes first (getattr), then the bytes (read), checking that both agree.
 */
#ifndef FUZZ_MEDIA_H
#define FUZZ_MEDIA_H

#include "fuzz.h"

#include <errno.h>

#include "../../pack/arena.h"
#include "../../pack/asset.h"
#include "../../pack/cmaf.h"
#include "../../pack/codec.h"
#include "../../pack/media.h"
#include "../../pack/plan.h"
#include "../../pack/ts.h"
#include "../../pack/view.h"
#include "../lib/x265_hvcc.h"

/* Decoder configs of the fixtures (tests/fixtures: muxed.mp4 avcC, hevc.mp4 hvcC in
 * tests/lib/x265_hvcc.h, ac3.mp4 dac3, eac3.mp4 dec3), so inputs that do not fuzz the
 * config get one the reader accepts. */
static const uint8_t fuzz_avcc[] = {
    0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41,
    0x41, 0x9f, 0x9f, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x00,
    0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x04, 0x68, 0xef, 0xbc, 0xb0, 0xfd, 0xf8, 0xf8, 0x00,
};
static const uint8_t fuzz_asc[] = { 0x12, 0x08 };      /* AAC-LC, 44.1 kHz, stereo */
static const uint8_t fuzz_dac3[] = { 0x10, 0x11, 0x40 };
static const uint8_t fuzz_dec3[] = { 0x08, 0x00, 0x20, 0x0f, 0x00 };

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 * A complete sample entry box of type `fourcc` (avc1 avc3 hvc1 hev1 mp4a ac-3 ec-3) with
 * cfg[0..len) as the body of its config box (avcC, hvcC, dac3, dec3; for mp4a the
 * AudioSpecificConfig, wrapped in an esds of MPEG-4 audio), parsed into t (t->type set by
 * the caller) by pk_codec_parse_entry, and kept as t->entry. Returns its result (0,
 * -EBADMSG, -ENOTSUP) or -ENOMEM.
 */
static inline int fuzz_entry(arena_t *a, pk_track_t *t, uint32_t fourcc, const uint8_t *cfg,
                      size_t len)
{
    int video = fourcc == FOURCC('a','v','c','1') || fourcc == FOURCC('a','v','c','3') ||
                fourcc == FOURCC('h','v','c','1') || fourcc == FOURCC('h','e','v','1');
    size_t head = video ? 8 + 78 : 8 + 28;
    size_t cfg_box = fourcc == FOURCC('m','p','4','a') ? 8 + 4 + 5 + 3 + 5 + 13 + 5 + len + 3
                                                       : 8 + len;
    if (len > 200)
        return -EBADMSG;
    uint8_t *e = arena_zalloc(a, head + cfg_box);
    if (!e)
        return -ENOMEM;
    put32(e, (uint32_t)(head + cfg_box));
    put32(e + 4, fourcc);
    e[15] = 1;                                  /* data_reference_index */
    if (video) {
        e[32] = 0x01, e[33] = 0x40, e[34] = 0x00, e[35] = 0xb4;  /* 320x180 */
        e[36] = 0x00, e[37] = 0x48, e[40] = 0x00, e[41] = 0x48;  /* 72 dpi */
        e[49] = 1;                              /* frame_count */
        e[82] = 0x00, e[83] = 0x18, e[84] = 0xff, e[85] = 0xff;  /* depth, pre_defined -1 */
    } else {
        e[25] = 2, e[27] = 16;                  /* channels, sample size */
        e[32] = 0xbb, e[33] = 0x80;             /* 48000 Hz, 16.16 */
    }
    uint8_t *c = e + head;
    put32(c, (uint32_t)cfg_box);
    if (fourcc == FOURCC('m','p','4','a')) {
        put32(c + 4, FOURCC('e','s','d','s'));
        uint8_t *d = c + 12;                    /* after version and flags */
        size_t dsi_desc = 2 + len, dcd = 2 + 13 + dsi_desc, esd = 3 + dcd + 3;
        *d++ = 0x03, *d++ = (uint8_t)esd, *d++ = 0, *d++ = 1, *d++ = 0;   /* ES_ID 1 */
        *d++ = 0x04, *d++ = (uint8_t)(13 + dsi_desc);
        *d++ = 0x40, *d++ = 0x15;               /* MPEG-4 audio, audio stream */
        d += 3 + 4 + 4;                         /* buffer size, max and average bitrate */
        *d++ = 0x05, *d++ = (uint8_t)len;
        memcpy(d, cfg, len), d += len;
        *d++ = 0x06, *d++ = 1, *d++ = 0x02;     /* SLConfigDescriptor: MP4 */
        /* the esds's own size: what was written */
        put32(c, (uint32_t)(d - c));
        put32(e, (uint32_t)(d - e));
        cfg_box = (size_t)(d - c);
    } else {
        uint32_t type = fourcc == FOURCC('a','c','-','3') ? FOURCC('d','a','c','3')
                      : fourcc == FOURCC('e','c','-','3') ? FOURCC('d','e','c','3')
                      : fourcc == FOURCC('a','v','c','1') || fourcc == FOURCC('a','v','c','3')
                                                      ? FOURCC('a','v','c','C')
                                                      : FOURCC('h','v','c','C');
        put32(c + 4, type);
        memcpy(c + 8, cfg, len);
    }
    int rc = pk_codec_parse_entry(e, head + cfg_box, t);
    if (rc == 0) {                              /* as parse_stsd keeps it */
        t->entry = e;
        t->entry_size = (uint32_t)(head + cfg_box);
    }
    return rc;
}

/* ---- the writers over a view --------------------------------------------------------- */

/* Reads a whole plan as read() would; the bytes are dropped. */
static inline void fuzz_read_plan(const pk_plan_t *p)
{
    if (p->size > (64u << 20))
        return;
    uint8_t *buf = malloc(p->size ? p->size : 1);
    FUZZ_CHECK(buf);
    ssize_t n = pk_plan_read(p, 0, buf, p->size);
    FUZZ_CHECK(n < 0 || (uint64_t)n == p->size);
    if (p->size > 10) {                         /* a read that starts inside the file */
        ssize_t m = pk_plan_read(p, p->size / 3, buf, p->size);
        FUZZ_CHECK(m < 0 || (uint64_t)m == p->size - p->size / 3);
    }
    free(buf);
}

/* A TS segment: size in count mode, then the bytes into exactly that many. */
static inline void fuzz_ts(const pk_vtrack_t *main, const pk_vtrack_t *mux, uint32_t k, arena_t *a)
{
    wr_t w = wr_counter();
    if (pk_ts_segment(main, mux, k, a, &w) < 0)
        return;
    FUZZ_CHECK(w.pos % 188 == 0);
    uint64_t known;
    if (pk_ts_segment_size(main, mux, k, &known) == 0)
        FUZZ_CHECK(known == w.pos);
    if (w.pos > (64u << 20))
        return;
    size_t size = w.pos;
    uint8_t *buf = malloc(size);
    FUZZ_CHECK(buf);
    w = wr_init(buf, size);
    if (pk_ts_segment(main, mux, k, a, &w) == 0)
        FUZZ_CHECK(w.err == 0 && w.pos == size);
    free(buf);
}

/* Up to 3 fragments of every track of v through every clear writer. */
static inline void fuzz_write_view(const pk_view_t *v, arena_t *a)
{
    const pk_vtrack_t *audio = NULL;
    for (uint32_t i = 0; i < v->track_count; i++)
        if (v->tracks[i].t->type == PK_TRACK_AUDIO) {
            audio = &v->tracks[i];
            break;
        }
    FUZZ_CHECK(v->frag_begin <= v->frag_end && v->frag_end <= v->frag_count);
    for (uint32_t i = 0; i < v->track_count && i < 4; i++) {
        const pk_vtrack_t *vt0 = &v->tracks[i];
        FUZZ_CHECK(vt0->frag_count == v->frag_count);

        /* the sizes fs/ keeps in the index: packet counts per fragment */
        pk_vtrack_t vt = *vt0;
        uint32_t *packets = NULL, *mux_packets = NULL, *key_packets = NULL;
        if (pk_ts_packets(&vt, 1, a, &packets) == 0)
            vt.ts_packets = packets;
        if (vt.t->type == PK_TRACK_AUDIO && pk_ts_packets(&vt, 0, a, &mux_packets) == 0)
            vt.ts_packets_mux = mux_packets;
        if (vt.t->type == PK_TRACK_VIDEO && pk_ts_key_packets(&vt, a, &key_packets) == 0)
            vt.ts_key_packets = key_packets;

        wr_t w = wr_counter();
        pk_cmaf_init(&vt, &w);
        size_t init_size = w.pos;
        uint8_t *init = malloc(init_size);
        FUZZ_CHECK(init);
        w = wr_init(init, init_size);
        pk_cmaf_init(&vt, &w);
        FUZZ_CHECK(w.err == 0 && w.pos == init_size);
        free(init);

        uint32_t end = v->frag_end - v->frag_begin > 3 ? v->frag_begin + 3 : v->frag_end;
        for (uint32_t k = v->frag_begin; k < end; k++) {
            pk_plan_t plan;
            if (pk_cmaf_fragment(&vt, k, a, &plan) == 0) {
                FUZZ_CHECK(pk_cmaf_fragment_header_size(&vt, k) <= plan.size);
                fuzz_read_plan(&plan);
            }
            if (pk_smooth_fragment(&vt, k, a, &plan) == 0)
                fuzz_read_plan(&plan);
            fuzz_ts(vt0, NULL, k, a);           /* works the sizes out itself */
            fuzz_ts(&vt, NULL, k, a);           /* from the packet counts */
            if (vt.t->type == PK_TRACK_VIDEO) {
                if (audio) {
                    pk_vtrack_t at = *audio;
                    if (pk_ts_packets(&at, 0, a, &mux_packets) == 0)
                        at.ts_packets_mux = mux_packets;
                    fuzz_ts(vt0, audio, k, a);
                    fuzz_ts(&vt, &at, k, a);
                }
                uint64_t len, seg, known;
                wr_t c = wr_counter();
                if (pk_ts_keyframe_range(vt0, k, a, &len) == 0 &&
                    pk_ts_segment(vt0, NULL, k, a, &c) == 0) {
                    seg = c.pos;
                    FUZZ_CHECK(len <= seg);
                    if (pk_ts_keyframe_size(&vt, k, &known) == 0)
                        FUZZ_CHECK(known == len);
                }
            }
        }
    }
}

/* ---- a fixed asset for the .ism and filter targets ----------------------------------- */

#define SYN_V 300               /* video samples: 10 s at 30 fps, a key frame every 15 */
#define SYN_A 469               /* audio samples: 10 s of 1024 at 48 kHz */

typedef struct {
    pk_media_t media;
    pk_track_t tracks[5];
    pk_sample_t vs[SYN_V], as[SYN_A];
    pk_run_t vrun, arun, trun;
    uint32_t sync[SYN_V / 15];
    pk_mem_t mem;
    pk_source_t src;
} fuzz_synth_t;

/* The synthetic media: tracks[0], [1] video (avc1, 640x360 and 320x180), [2], [3] audio
 * (AAC eng, AC-3 fra), [4] text (wvtt); every table consistent, sample data all zero.
 * Track IDs are 1..5 in that order, or with audio_first 3, 4, 1, 2, 5 (an audio file's
 * first track, as the .ism fixtures name it). */
static inline fuzz_synth_t *fuzz_synth(arena_t *a, int audio_first)
{
    fuzz_synth_t *s = arena_zalloc(a, sizeof *s);
    if (!s)
        return NULL;
    for (uint32_t i = 0; i < SYN_V; i++)
        s->vs[i] = (pk_sample_t){ .pos = 0, .size = i % 15 ? 300 : 3000, .cto = 1024 };
    for (uint32_t i = 0; i < SYN_A; i++)
        s->as[i] = (pk_sample_t){ .pos = 0, .size = 200 };
    for (uint32_t k = 0; k < SYN_V / 15; k++)
        s->sync[k] = k * 15;
    s->vrun = (pk_run_t){ .dts = 0, .first = 0, .count = SYN_V, .delta = 512 };
    s->arun = (pk_run_t){ .dts = 0, .first = 0, .count = SYN_A, .delta = 1024 };
    s->trun = (pk_run_t){ .dts = 0, .first = 0, .count = 1, .delta = 2000 };
    for (int i = 0; i < 5; i++) {
        pk_track_t *t = &s->tracks[i];
        t->id = audio_first && i < 4 ? (uint32_t)(i + 2) % 4 + 1 : (uint32_t)i + 1;
        strcpy(t->lang, i == 3 ? "fra" : i == 2 ? "eng" : "und");
        if (i < 2) {
            t->type = PK_TRACK_VIDEO;
            if (fuzz_entry(a, t, FOURCC('a','v','c','1'), fuzz_avcc, sizeof fuzz_avcc) < 0)
                return NULL;
            t->width = i ? 320 : 640, t->height = i ? 180 : 360;
            t->timescale = 15360;
            t->sample_count = SYN_V, t->samples = s->vs;
            t->run_count = 1, t->runs = &s->vrun;
            t->sync_count = SYN_V / 15, t->sync = s->sync;
        } else if (i < 4) {
            t->type = PK_TRACK_AUDIO;
            if (fuzz_entry(a, t, i == 2 ? FOURCC('m','p','4','a') : FOURCC('a','c','-','3'),
                           i == 2 ? fuzz_asc : fuzz_dac3,
                           i == 2 ? sizeof fuzz_asc : sizeof fuzz_dac3) < 0)
                return NULL;
            t->timescale = 48000;
            t->sample_count = SYN_A, t->samples = s->as;
            t->run_count = 1, t->runs = &s->arun;
            t->sync_count = SYN_A;
        } else {
            t->type = PK_TRACK_TEXT;
            t->fourcc = FOURCC('w','v','t','t');
            strcpy(t->codec, "wvtt");
            t->timescale = 1000;
            t->sample_count = 1, t->samples = s->as;
            t->run_count = 1, t->runs = &s->trun;
            t->sync_count = 1;
        }
        pk_track_finish(t);
    }
    s->media = (pk_media_t){ .track_count = 5, .tracks = s->tracks, .movie_timescale = 1000,
                             .movie_duration = 10000 };
    /* every sample reads from offset 0 of a source as long as the largest sample */
    uint8_t *zero = arena_zalloc(a, 3000);
    if (!zero)
        return NULL;
    s->mem = (pk_mem_t){ zero, 3000 };
    s->src = pk_source_mem(&s->mem, "synthetic.mp4");
    return s;
}

#endif
