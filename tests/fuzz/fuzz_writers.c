/*
 * The TS and fMP4 writers (pack/ts.c, pack/cmaf.c) fed sample tables made from the
 * input: one video and/or one audio track with fuzzed sample sizes, durations, composition
 * offsets, key-frame flags and decoder config, their sample bytes taken from the rest of
 * the input. Tables keep pack/media.h's invariants (what the MP4 reader guarantees, and
 * the fuzz_mp4 target checks); everything else is the input's.
 *
 * Input, front to back (missing bytes read as 0):
 *   u8  flags: 1 video, 2 audio (neither: video), 4 HEVC (else H.264), 0x18 audio codec
 *       (0 AAC, 1 AC-3, 2 E-AC-3, 3 AAC), 0x20 video config from the input, 0x40 audio
 *       config from the input, 0x80 video samples framed as NAL units
 *   u8  more: 3 NAL length size of the default H.264 config (1, 2, 4, 4), 4 source cut
 *       short, 8 avc3/hev1 sample entries, 0x10 encrypted CMAF too
 *   u16 fragment duration, ms
 *   per track (video first): [u8 n, n bytes of config when from the input], u32 timescale,
 *   u8 samples, then per sample u16 size (low 14 bits), u16 duration, u16 composition
 *   offset (signed),
 *   u8 sample flags (1 key frame, 2 decode time jumps before it, 4 two NAL units)
 *   the rest: sample bytes, repeated as needed
 */
#include "fuzz_media.h"

#include "../../pack/protect.h"

#define MAX_SOURCE (1u << 18)       /* bytes of all samples: enough for a few fragments */

typedef struct {
    pk_track_t t;
    pk_sample_t s[256];
    pk_run_t runs[256];
    uint32_t sync[256];
    uint8_t flags[256];
} mk_t;

/* The decoder config: the default (nls: the NAL length size of the default avcC) or n
 * bytes of the input. Returns pk_codec_parse_entry's result. */
static int make_entry(fuzz_in_t *in, arena_t *a, pk_track_t *t, uint32_t fourcc, int custom,
                      unsigned nls)
{
    if (custom) {
        size_t n = fuzz_take(in, 1);
        if (n > fuzz_left(in))
            n = fuzz_left(in);
        const uint8_t *cfg = in->p;
        in->p += n;
        return fuzz_entry(a, t, fourcc, cfg, n);
    }
    switch (fourcc) {
    case FOURCC('a','v','c','1'):
    case FOURCC('a','v','c','3'): {
        uint8_t avcc[sizeof fuzz_avcc];
        memcpy(avcc, fuzz_avcc, sizeof avcc);
        avcc[4] = (uint8_t)(0xfc | (nls - 1));  /* lengthSizeMinusOne */
        return fuzz_entry(a, t, fourcc, avcc, sizeof avcc);
    }
    case FOURCC('h','v','c','1'):
    case FOURCC('h','e','v','1'):
        return fuzz_entry(a, t, fourcc, x265_hvcc, sizeof x265_hvcc);
    case FOURCC('a','c','-','3'):
        return fuzz_entry(a, t, fourcc, fuzz_dac3, sizeof fuzz_dac3);
    case FOURCC('e','c','-','3'):
        return fuzz_entry(a, t, fourcc, fuzz_dec3, sizeof fuzz_dec3);
    default:
        return fuzz_entry(a, t, fourcc, fuzz_asc, sizeof fuzz_asc);
    }
}

/* The sample table of one track, in the reader's form. */
static void make_table(fuzz_in_t *in, mk_t *m)
{
    pk_track_t *t = &m->t;
    t->timescale = fuzz_take(in, 4);
    if (t->timescale == 0)
        t->timescale = 1;                       /* mdhd: the reader refuses 0 */
    uint32_t n = fuzz_take(in, 1);
    if (n == 0)
        n = 1;
    uint64_t dts = 0;
    uint32_t runs = 0, syncs = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t size = fuzz_take(in, 2) & 0x3fff, delta = fuzz_take(in, 2);
        int32_t cto = (int16_t)fuzz_take(in, 2);
        uint8_t fl = (uint8_t)fuzz_take(in, 1);
        m->s[i] = (pk_sample_t){ .size = size, .cto = cto };
        m->flags[i] = fl;
        if (fl & 1)
            m->sync[syncs++] = i;
        if (fl & 2)
            dts += 1000;                        /* a tfdt that skips ahead */
        if (runs == 0 || (fl & 2) || m->runs[runs - 1].delta != delta)
            m->runs[runs++] = (pk_run_t){ .dts = dts, .first = i, .count = 0, .delta = delta };
        m->runs[runs - 1].count++;
        dts += delta;
    }
    t->sample_count = n;
    t->samples = m->s;
    t->run_count = runs;
    t->runs = m->runs;
    t->sync_count = syncs;
    t->sync = syncs == n ? NULL : m->sync;      /* NULL: every sample is a key frame */
    strcpy(t->lang, "und");
}

/* Lays the samples of m out in src from offset *len, filled from the pool. */
static void fill(mk_t *m, uint8_t *src, size_t *len, const uint8_t *pool, size_t pool_len,
                 int nal_framing)
{
    pk_track_t *t = &m->t;
    unsigned nls = t->nal_length_size;
    size_t k = 0;
    for (uint32_t i = 0; i < t->sample_count; i++) {
        pk_sample_t *s = &m->s[i];
        if (*len + s->size > MAX_SOURCE)
            s->size %= 1024;
        if (*len + s->size > MAX_SOURCE)
            s->size = 0;
        s->pos = *len;
        uint8_t *p = src + *len;
        for (uint32_t b = 0; b < s->size; b++)
            p[b] = pool_len ? pool[k++ % pool_len] : 0;
        if (nal_framing && nls && s->size > nls + 2) {
            /* one or two NAL units: length fields, then a header byte of the right kind */
            uint32_t body = s->size - nls, first = body;
            if ((m->flags[i] & 4) && body > 2 * (nls + 2))
                first = body / 2 - nls;
            uint32_t at = 0;
            for (int u = 0; u < 2 && at < s->size; u++) {
                uint32_t ulen = u == 0 ? first : s->size - at - nls;
                if (u == 1 && at + nls >= s->size)
                    break;
                for (unsigned b = 0; b < nls; b++)
                    p[at + b] = (uint8_t)(ulen >> 8 * (nls - 1 - b));
                int key = m->flags[i] & 1;
                if (t->fourcc == FOURCC('h','v','c','1') || t->fourcc == FOURCC('h','e','v','1'))
                    p[at + nls] = key ? 0x26 : 0x02;  /* IDR_W_RADL / TRAIL_R */
                else
                    p[at + nls] = key ? 0x65 : 0x41;
                at += nls + ulen;
            }
        }
        *len += s->size;
    }
    pk_track_finish(t);
}

/* cenc with 8-byte IVs; video samples as one subsample (clear head, protected rest). The
 * data is left as is: the writer's framing is under test, not AES. */
static int encrypt(void *ctx, uint32_t i, uint8_t *data, size_t len, wr_t *w)
{
    const pk_track_t *t = ctx;
    (void)data;
    wr_u32(w, 0), wr_u32(w, i);
    if (t->type == PK_TRACK_VIDEO) {
        uint16_t clear = len < 5 ? (uint16_t)len : 5;
        wr_u16(w, 1);
        wr_u16(w, clear);
        wr_u32(w, (uint32_t)(len - clear));
    }
    return w->err;
}

static void protected_cmaf(const pk_view_t *v, arena_t *a)
{
    static const uint8_t pssh[] = { 0, 0, 0, 32, 'p', 's', 's', 'h', 0, 0, 0, 0,
                                    0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02,
                                    0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
                                    0, 0, 0, 0 };
    static const pk_bytes_t boxes[] = { { pssh, sizeof pssh } };
    for (uint32_t i = 0; i < v->track_count; i++) {
        const pk_vtrack_t *vt = &v->tracks[i];
        uint16_t *subs = NULL;
        if (vt->t->type == PK_TRACK_VIDEO) {
            subs = arena_calloc(a, vt->t->sample_count, sizeof *subs);
            FUZZ_CHECK(subs);
            for (uint32_t s = 0; s < vt->t->sample_count; s++)
                subs[s] = 1;
        }
        pk_protect_t p = { .scheme = FOURCC('c','e','n','c'), .iv_size = 8, .pssh_count = 1,
                           .pssh = boxes, .subsample_counts = subs, .encrypt = encrypt,
                           .ctx = (void *)vt->t };
        wr_t w = wr_counter();
        pk_cmaf_init_protected(vt, &p, &w);
        size_t size = w.pos;
        uint8_t *buf = malloc(size);
        FUZZ_CHECK(buf);
        w = wr_init(buf, size);
        pk_cmaf_init_protected(vt, &p, &w);
        FUZZ_CHECK(w.err == 0 && w.pos == size);
        free(buf);
        uint32_t end = v->frag_end - v->frag_begin > 2 ? v->frag_begin + 2 : v->frag_end;
        for (uint32_t k = v->frag_begin; k < end; k++) {
            uint64_t want, head;
            pk_plan_t plan;
            int rs = pk_cmaf_fragment_protected_size(vt, k, &p, &want);
            int rc = pk_cmaf_fragment_protected(vt, k, &p, a, &plan);
            if (rc == 0) {
                FUZZ_CHECK(rs == 0 && plan.size == want);
                FUZZ_CHECK(pk_cmaf_fragment_protected_header_size(vt, k, &p, &head) == 0 &&
                           head <= want);
                fuzz_read_plan(&plan);
            }
            uint64_t ssize;
            rs = pk_smooth_fragment_protected_size(vt, k, &p, PK_SMOOTH_PIFF, &ssize);
            if (pk_smooth_fragment_protected(vt, k, &p, PK_SMOOTH_PIFF, a, &plan) == 0) {
                FUZZ_CHECK(rs == 0 && plan.size == ssize);
                fuzz_read_plan(&plan);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t audio_fcc[] = { FOURCC('m','p','4','a'), FOURCC('a','c','-','3'),
                                          FOURCC('e','c','-','3'), FOURCC('m','p','4','a') };
    static const unsigned nls_of[] = { 1, 2, 4, 4 };
    fuzz_init();
    fuzz_in_t in = { data, data + size };
    unsigned flags = fuzz_take(&in, 1), more = fuzz_take(&in, 1);
    uint32_t fragment_ms = fuzz_take(&in, 2);
    if (!(flags & 3))
        flags |= 1;

    arena_t *a = arena_new();
    FUZZ_CHECK(a);
    mk_t *mk = arena_zalloc(a, 2 * sizeof *mk);
    uint8_t *src = arena_alloc(a, MAX_SOURCE);
    FUZZ_CHECK(mk && src);
    pk_asset_track_t ats[2];
    pk_asset_t as = { 0, ats };
    int ok = 1;
    if (flags & 1) {
        int hevc = flags & 4, alt = more & 8;
        uint32_t fcc = hevc ? (alt ? FOURCC('h','e','v','1') : FOURCC('h','v','c','1'))
                            : (alt ? FOURCC('a','v','c','3') : FOURCC('a','v','c','1'));
        mk[0].t.id = 1;
        mk[0].t.type = PK_TRACK_VIDEO;
        ok = make_entry(&in, a, &mk[0].t, fcc, flags & 0x20, nls_of[more & 3]) == 0;
        make_table(&in, &mk[0]);
    }
    if (ok && (flags & 2)) {
        mk[1].t.id = 2;
        mk[1].t.type = PK_TRACK_AUDIO;
        ok = make_entry(&in, a, &mk[1].t, audio_fcc[flags >> 3 & 3], flags & 0x40, 4) == 0;
        make_table(&in, &mk[1]);
    }
    if (ok) {
        size_t len = 0;
        for (int i = 0; i < 2; i++)
            if (flags & (1u << i))
                fill(&mk[i], src, &len, in.p, fuzz_left(&in), i == 0 && (flags & 0x80));
        if ((more & 4) && len)
            len -= 1 + (len - 1) % (fuzz_left(&in) ? 1 + *in.p : 7);
        pk_mem_t mem = { src, len };
        pk_source_t source = pk_source_mem(&mem, "fuzz.mp4");
        if (flags & 1)
            ats[as.track_count++] = (pk_asset_track_t){
                .track = &mk[0].t, .source = &source, .name = "video", .bitrate = 1000000,
                .language = "und", .src = "fuzz.mp4", .line = 1 };
        if (flags & 2)
            ats[as.track_count++] = (pk_asset_track_t){
                .track = &mk[1].t, .source = &source, .name = "audio", .bitrate = 128000,
                .language = "und", .src = "fuzz.mp4", .line = 2 };
        pk_view_t *v = NULL;
        int rc = pk_view_build(&as, fragment_ms, a, &v);
        FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOENT || rc == -ENOMEM);
        if (rc == 0) {
            fuzz_write_view(v, a);
            if (more & 0x10)
                protected_cmaf(v, a);
        }
    }
    arena_free(a);
    return 0;
}
