/* Synthetic H.264/AAC/E-AC-3 tracks in memory, cut into a view by pk_view_build, for
 * the unit tests that need the real size functions to run over real sample tables
 * (test_pack_filter.c, test_pack_hls.c). The including test defines its clock first:
 * VTS, VFRAMES, GOP (video timescale, frames, frames a GOP), ATS, AFRAMES (audio). */
#ifndef TEST_SYNTH_H
#define TEST_SYNTH_H

#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../pack/arena.h"
#include "../../pack/codec.h"
#include "../../pack/media.h"
#include "../../pack/source.h"
#include "../../pack/view.h"

#if !defined VTS || !defined VFRAMES || !defined GOP || !defined ATS || !defined AFRAMES
#error "define VTS, VFRAMES, GOP, ATS and AFRAMES before including synth.h"
#endif

/* Sample entries copied from the ladder fixtures (x264 320x180, AAC-LC 48 kHz stereo) and
 * tests/fixtures/eac3.mp4 (E-AC-3). */
static const char avc1_hex[] =
    "000000af61766331000000000000000100000000000000000000000000000000014000b4004800000048"
    "00000000000000010c4c617663206c696278323634000000000000000000000000000000000000000018"
    "ffff00000035617663430164000cffe1001a6764000cacd941419f9f011000000300100000030300f142"
    "996001000468efbcb0fdf8f8000000001070617370000000010000000100000014627472740000c35000"
    "0340d2000340d2";
static const char mp4a_hex[] =
    "0000006e6d703461000000000000000100000000000000000002001000000000bb800000000000366573"
    "6473000000000380808025000100048080801740150000000001f4870001f48705808080051190"
    "56e5000680808001020000001462747274000000000001f4870001f487";
static const char ec3_hex[] =
    "0000004565632d33000000000000000100000000000000000002001000000000bb8000000000000d6465"
    "63330800200f000000001462747274000000000003e8000003e800";

#define SYNTH_MAX 6             /* tracks an asset may have */

typedef struct {
    uint8_t entry[256];
    pk_track_t t;
    pk_sample_t *samples;
    pk_run_t run;
    uint32_t *sync;
} synth_track_t;

typedef struct {
    arena_t *a;                 /* the view's and the tracks' memory */
    uint8_t *data;              /* every sample's bytes */
    size_t len, cap;
    pk_mem_t mem;
    pk_source_t src;
    synth_track_t tr[SYNTH_MAX];
    pk_asset_track_t at[SYNTH_MAX];
    pk_asset_t asset;
    pk_view_t *v;
} synth_t;

static inline void unhex(const char *hex, uint8_t *out, uint32_t *len)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        sscanf(hex + 2 * i, "%2x", &b);
        out[i] = (uint8_t)b;
    }
    *len = (uint32_t)n;
}

/* n more bytes of sample data; their offset. */
static inline uint64_t synth_append(synth_t *s, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->data = realloc(s->data, s->cap);
        assert_non_null(s->data);
    }
    uint64_t at = s->len;
    s->len += n;
    return at;
}

/* Track i. Video: one NAL unit a sample behind a 4-byte length (IDR on each GOP start),
 * sizes that vary (so that peaks differ from averages) scaled by `scale`; a width other
 * than 0 patched into the entry with height. Audio: opaque frames. */
static inline void synth_add_track(synth_t *s, uint32_t i, pk_track_type_t type,
                                   const char *hex, const char *name, uint32_t bitrate,
                                   const char *lang, uint32_t scale, uint16_t width,
                                   uint16_t height)
{
    synth_track_t *st = &s->tr[i];
    pk_track_t *t = &st->t;
    int video = type == PK_TRACK_VIDEO;
    uint32_t n = video ? VFRAMES : AFRAMES;

    memset(st, 0, sizeof *st);
    unhex(hex, st->entry, &t->entry_size);
    if (video && width) {       /* VisualSampleEntry width, height (14496-12 12.1.3) */
        st->entry[32] = (uint8_t)(width >> 8), st->entry[33] = (uint8_t)width;
        st->entry[34] = (uint8_t)(height >> 8), st->entry[35] = (uint8_t)height;
    }
    t->id = 1;
    t->type = type;
    t->timescale = video ? VTS : ATS;
    strcpy(t->lang, lang);
    t->entry = st->entry;
    assert_int_equal(pk_codec_parse_entry(st->entry, t->entry_size, t), 0);
    st->samples = calloc(n, sizeof *st->samples);
    st->sync = calloc(n, sizeof *st->sync);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t size = video ? (k % GOP == 0 ? 3000 : 400 + (k % 7) * 40) * scale
                              : 300 + (k % 5) * 7;
        uint64_t pos = synth_append(s, size);
        memset(s->data + pos, (int)(0x20 + k % 64), size);
        if (video) {
            uint32_t nal = size - 4;
            s->data[pos] = (uint8_t)(nal >> 24);
            s->data[pos + 1] = (uint8_t)(nal >> 16);
            s->data[pos + 2] = (uint8_t)(nal >> 8);
            s->data[pos + 3] = (uint8_t)nal;
            s->data[pos + 4] = k % GOP == 0 ? 0x65 : 0x41;
        }
        st->samples[k] = (pk_sample_t){ .pos = pos, .size = size };
    }
    for (uint32_t k = 0; k < n; k += video ? GOP : 1)
        st->sync[t->sync_count++] = k;
    st->run = (pk_run_t){ .dts = 0, .first = 0, .count = n, .delta = video ? 512 : 1024 };
    t->sample_count = n;
    t->samples = st->samples;
    t->run_count = 1;
    t->runs = &st->run;
    t->sync = st->sync;
    pk_track_finish(t);
    s->at[i] = (pk_asset_track_t){ .track = t, .source = &s->src, .name = name,
                                   .bitrate = bitrate, .language = lang, .src = "synth.mp4",
                                   .line = i + 1 };
}

/* The asset of the first n tracks, and its view in fragments of 2 s. */
static inline void synth_view(synth_t *s, uint32_t n)
{
    s->mem = (pk_mem_t){ s->data, s->len };
    s->src = pk_source_mem(&s->mem, "synth.mp4");
    s->asset = (pk_asset_t){ .track_count = n, .tracks = s->at };
    s->a = arena_new();
    assert_int_equal(pk_view_build(&s->asset, 2000, s->a, &s->v), 0);
}

static inline void synth_free(synth_t *s)
{
    for (uint32_t i = 0; i < SYNTH_MAX; i++) {
        free(s->tr[i].samples);
        free(s->tr[i].sync);
    }
    free(s->data);
    arena_free(s->a);
    free(s);
}

#endif
