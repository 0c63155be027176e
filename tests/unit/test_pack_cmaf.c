/* CMAF init and media segments, Smooth fragments (pack/cmaf.c): the box tree
 * is read back with rd_t by a parser written here from 14496-12 and MS-SSTR,
 * and the sample bytes the plan points at are compared with the source. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "../../pack/cmaf.c"

/* ---- a synthetic asset: one H.264-like video track, one AAC-like audio ---- */

#define V_N 12                  /* 2 GOPs of 6 frames, 512 ticks each at 12800 */
#define A_N 30                  /* 1024-sample frames at 48 kHz */

static pk_sample_t vsamples[V_N], asamples[A_N];
static const pk_run_t vruns[1] = { { 0, 0, V_N, 512, 0 } };
static const pk_run_t aruns[1] = { { 0, 0, A_N, 1024, 0 } };
static const uint32_t vsync[2] = { 0, 6 };
/* decode order I P B B P B: pts in frames 0 3 1 2 5 4; ctts v0 offsets with the
 * edit list starting at 1024 (what ffmpeg writes for 2 B-frame delay) */
static const int32_t vcto[6] = { 1024, 2048, 512, 512, 1536, 512 };
static const uint8_t ventry[24] = { 0, 0, 0, 24, 'a', 'v', 'c', '1', 1, 2, 3, 4, 5, 6, 7, 8,
                                    9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t aentry[20] = { 0, 0, 0, 20, 'm', 'p', '4', 'a', 8, 7, 6, 5, 4, 3, 2, 1,
                                    0, 1, 2, 3 };
static uint8_t media[8192];
static pk_mem_t mem = { media, sizeof media };
static pk_source_t src;
static pk_track_t vtrack, atrack;
static pk_asset_track_t atracks[2];
static pk_asset_t asset = { 2, atracks };

static void make_tracks(void)
{
    uint64_t pos = 0;
    for (uint32_t i = 0; i < V_N; i++) {
        if (i == 6)
            pos += 10;          /* a gap: the two GOPs are two source ranges */
        vsamples[i] = (pk_sample_t){ pos, 100 + 7 * i, vcto[i % 6] };
        pos += vsamples[i].size;
    }
    for (uint32_t i = 0; i < A_N; i++) {
        asamples[i] = (pk_sample_t){ pos, 50 + i % 5, 0 };
        pos += asamples[i].size;
    }
    assert_true(pos <= sizeof media);
    for (size_t i = 0; i < sizeof media; i++)
        media[i] = (uint8_t)(i * 131 + 7);
    src = pk_source_mem(&mem, "av.mp4");

    vtrack = (pk_track_t){ .id = 1, .type = PK_TRACK_VIDEO, .fourcc = FOURCC('a', 'v', 'c', '1'),
                           .timescale = 12800, .media_time = 1024, .width = 640,
                           .height = 360, .entry = ventry, .entry_size = sizeof ventry,
                           .sample_count = V_N, .samples = vsamples, .run_count = 1,
                           .runs = vruns, .sync_count = 2, .sync = vsync };
    strcpy(vtrack.lang, "und");
    pk_track_finish(&vtrack);
    atrack = (pk_track_t){ .id = 2, .type = PK_TRACK_AUDIO, .fourcc = FOURCC('m', 'p', '4', 'a'),
                           .timescale = 48000, .channels = 2, .sample_rate = 48000,
                           .entry = aentry, .entry_size = sizeof aentry,
                           .sample_count = A_N, .samples = asamples, .run_count = 1,
                           .runs = aruns, .sync_count = A_N };
    strcpy(atrack.lang, "eng");
    pk_track_finish(&atrack);
    atracks[0] = (pk_asset_track_t){ &vtrack, &src, "video", 800000, "und", "av.mp4", 1 };
    atracks[1] = (pk_asset_track_t){ &atrack, &src, "aac_fra", 128000, "fra", "av.mp4", 2 };
}

static pk_view_t *view(arena_t *a, uint32_t ms)
{
    pk_view_t *v;
    make_tracks();
    assert_int_equal(pk_view_build(&asset, ms, a, &v), 0);
    return v;
}

/* ---- an independent reader of what we wrote --------------------------------- */

static int is_container(uint32_t t)
{
    static const uint32_t c[] = {
        FOURCC('m', 'o', 'o', 'v'), FOURCC('t', 'r', 'a', 'k'), FOURCC('m', 'd', 'i', 'a'),
        FOURCC('m', 'i', 'n', 'f'), FOURCC('d', 'i', 'n', 'f'), FOURCC('s', 't', 'b', 'l'),
        FOURCC('m', 'v', 'e', 'x'), FOURCC('m', 'o', 'o', 'f'), FOURCC('t', 'r', 'a', 'f'),
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (c[i] == t)
            return 1;
    return 0;
}

/* Every box's size fits its parent, and the children of a container fill it exactly. */
static void check_tree(const uint8_t *p, size_t len)
{
    rd_t r = rd_init(p, len);
    while (rd_left(&r) && !r.err) {
        uint64_t size = rd_u32(&r);
        uint32_t type = rd_u32(&r);
        size_t hdr = 8;
        if (size == 1) {
            size = rd_u64(&r);
            hdr = 16;
        }
        assert_true(size >= hdr && size - hdr <= rd_left(&r));
        rd_t body = rd_sub(&r, (size_t)(size - hdr));
        if (is_container(type))
            check_tree(body.p, rd_left(&body));
        if (type == FOURCC('d', 'r', 'e', 'f') || type == FOURCC('s', 't', 's', 'd')) {
            rd_skip(&body, 4);                      /* version, flags */
            uint32_t n = rd_u32(&body);
            assert_int_equal(n, 1);
            check_tree(body.p, rd_left(&body));
        }
    }
    assert_int_equal(r.err, 0);
}

/* The body of the box at `path` ("moof/traf/trun"), with *at set to its offset
 * in p; an rd_t with err set when there is none. */
static rd_t find_at(const uint8_t *p, size_t len, const char *path, size_t *at)
{
    rd_t r = rd_init(p, len);
    while (*path) {
        uint32_t want = FOURCC(path[0], path[1], path[2], path[3]);
        path += path[4] == '/' ? 5 : 4;
        for (;;) {
            if (rd_left(&r) < 8)
                return (rd_t){ r.end, r.end, -ENOENT };
            const uint8_t *start = r.p;
            uint64_t size = rd_u32(&r);
            uint32_t type = rd_u32(&r);
            size_t hdr = 8;
            if (size == 1) {
                size = rd_u64(&r);
                hdr = 16;
            }
            rd_t body = rd_sub(&r, (size_t)(size - hdr));
            if (body.err)
                return body;
            if (type == want) {
                if (at)
                    *at = (size_t)(start - p);
                r = body;
                break;
            }
        }
    }
    return r;
}

static rd_t find(const uint8_t *p, size_t len, const char *path)
{
    return find_at(p, len, path, NULL);
}

static int has(const uint8_t *p, size_t len, const char *path)
{
    return find(p, len, path).err == 0;
}

/* The body (after the usertype) of the traf child uuid box with usertype u, *at its
 * offset in p; err set when there is none. */
static rd_t find_uuid(const uint8_t *p, size_t len, const uint8_t u[16], size_t *at)
{
    size_t traf_at;
    rd_t traf = find_at(p, len, "moof/traf", &traf_at);
    while (!traf.err && rd_left(&traf) >= 8) {
        const uint8_t *start = traf.p;
        uint32_t size = rd_u32(&traf);
        uint32_t type = rd_u32(&traf);
        rd_t body = rd_sub(&traf, size >= 8 ? size - 8 : 0);
        if (body.err)
            return body;
        if (type == FOURCC('u', 'u', 'i', 'd') && rd_left(&body) >= 16 &&
            memcmp(body.p, u, 16) == 0) {
            rd_skip(&body, 16);
            if (at)
                *at = (size_t)(start - p);
            return body;
        }
    }
    return (rd_t){ p + len, p + len, -ENOENT };
}

static const uint8_t tfxd_id[16] = { 0x6d, 0x1d, 0x9b, 0x05, 0x42, 0xd5, 0x44, 0xe6,
                                     0x80, 0xe2, 0x14, 0x1d, 0xaf, 0xf7, 0x57, 0xb2 };
/* PIFF 1.1 5.3.2 SampleEncryptionBox (written from the spec's GUID
 * A2394F52-5A9B-4F14-A244-6C427C648DF4, not from cmaf.c) */
static const uint8_t piff_id[16] = { 0xa2, 0x39, 0x4f, 0x52, 0x5a, 0x9b, 0x4f, 0x14,
                                     0xa2, 0x44, 0x6c, 0x42, 0x7c, 0x64, 0x8d, 0xf4 };

/* What a fragment says, each sample's fields resolved from tfhd/trun as a
 * reader must (14496-12 8.8.7, 8.8.8). */
typedef struct {
    uint32_t seq, tfhd_flags, trun_flags, trun_version, count;
    int32_t data_offset;
    uint64_t tfdt, tfxd_time, tfxd_duration;
    size_t moof_at, moof_size, mdat_at, mdat_hdr;
    uint64_t mdat_size;
    uint32_t dur[64], size[64], flags[64];
    int32_t cto[64];
} frag_t;

static void parse_fragment(const uint8_t *p, size_t len, frag_t *f)
{
    uint32_t def_dur = 0, def_flags = 0, first_flags = 0;
    memset(f, 0, sizeof *f);

    rd_t moof = find_at(p, len, "moof", &f->moof_at);
    assert_int_equal(moof.err, 0);
    f->moof_size = (size_t)(moof.end - (p + f->moof_at));
    rd_t r = find(moof.p, rd_left(&moof), "mfhd");
    assert_int_equal(rd_u32(&r), 0);
    f->seq = rd_u32(&r);

    r = find(moof.p, rd_left(&moof), "traf/tfhd");
    f->tfhd_flags = rd_u32(&r) & 0xffffff;
    assert_int_equal(rd_u32(&r), 1);                /* track_ID */
    assert_false(f->tfhd_flags & 0x000001);        /* no base_data_offset */
    assert_false(f->tfhd_flags & 0x000002);
    if (f->tfhd_flags & 0x000008)
        def_dur = rd_u32(&r);
    assert_false(f->tfhd_flags & 0x000010);
    if (f->tfhd_flags & 0x000020)
        def_flags = rd_u32(&r);
    assert_int_equal(rd_left(&r), 0);

    r = find(moof.p, rd_left(&moof), "traf/tfdt");
    f->tfdt = UINT64_MAX;                           /* none */
    if (!r.err) {
        assert_int_equal(rd_u32(&r), 0x01000000);   /* v1 */
        f->tfdt = rd_u64(&r);
    }

    r = find(moof.p, rd_left(&moof), "traf/trun");
    assert_int_equal(r.err, 0);
    uint32_t vf = rd_u32(&r);
    f->trun_version = vf >> 24;
    f->trun_flags = vf & 0xffffff;
    f->count = rd_u32(&r);
    assert_true(f->count <= 64);
    assert_true(f->trun_flags & 0x000001);
    f->data_offset = (int32_t)rd_u32(&r);
    if (f->trun_flags & 0x000004)
        first_flags = rd_u32(&r);
    for (uint32_t i = 0; i < f->count; i++) {
        f->dur[i] = f->trun_flags & 0x100 ? rd_u32(&r) : def_dur;
        f->size[i] = f->trun_flags & 0x200 ? rd_u32(&r) : 0;
        f->flags[i] = f->trun_flags & 0x400 ? rd_u32(&r)
                    : i == 0 && (f->trun_flags & 0x004) ? first_flags : def_flags;
        f->cto[i] = f->trun_flags & 0x800 ? (int32_t)rd_u32(&r) : 0;
    }
    assert_int_equal(rd_left(&r), 0);
    assert_int_equal(r.err, 0);

    /* MS-SSTR 2.2.4.4 tfxd: uuid, version 1, time and duration in 64 bits */
    r = find_uuid(p, len, tfxd_id, NULL);
    if (!r.err) {
        assert_int_equal(rd_u32(&r), 0x01000000);
        f->tfxd_time = rd_u64(&r);
        f->tfxd_duration = rd_u64(&r);
        assert_int_equal(rd_left(&r), 0);
    }

    /* the mdat header follows the moof */
    rd_t m = rd_init(p + f->moof_at + f->moof_size, len - f->moof_at - f->moof_size);
    f->mdat_at = f->moof_at + f->moof_size;
    f->mdat_size = rd_u32(&m);
    assert_int_equal(rd_u32(&m), FOURCC('m', 'd', 'a', 't'));
    f->mdat_hdr = 8;
    if (f->mdat_size == 1) {
        f->mdat_size = rd_u64(&m);
        f->mdat_hdr = 16;
    }
    assert_int_equal(m.err, 0);
}

/* All bytes of a plan. */
static uint8_t *read_plan(const pk_plan_t *p)
{
    uint8_t *buf = malloc(p->size);
    assert_non_null(buf);
    assert_int_equal(pk_plan_read(p, 0, buf, p->size), (ssize_t)p->size);
    return buf;
}

static uint8_t *init_bytes(const pk_vtrack_t *vt, size_t *len)
{
    wr_t c = wr_counter();
    pk_cmaf_init(vt, &c);
    uint8_t *buf = malloc(c.pos);
    assert_non_null(buf);
    wr_t w = wr_init(buf, c.pos);
    pk_cmaf_init(vt, &w);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.pos, c.pos);
    *len = c.pos;
    return buf;
}

/* ---- the CMAF header ---------------------------------------------------------- */

static void test_init_video(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    size_t n;
    uint8_t *b = init_bytes(&v->tracks[0], &n);
    check_tree(b, n);

    rd_t r = find(b, n, "ftyp");
    assert_int_equal(rd_u32(&r), FOURCC('c', 'm', 'f', 'c'));
    assert_int_equal(rd_u32(&r), 0);
    int cmfc = 0, iso6 = 0;
    while (rd_left(&r)) {
        uint32_t brand = rd_u32(&r);
        cmfc |= brand == FOURCC('c', 'm', 'f', 'c');
        iso6 |= brand == FOURCC('i', 's', 'o', '6');
    }
    assert_true(cmfc && iso6);

    r = find(b, n, "moov/mvhd");
    assert_int_equal(rd_u32(&r), 0);                /* v0 */
    rd_skip(&r, 8);
    assert_int_equal(rd_u32(&r), 12800);
    assert_int_equal(rd_u32(&r), 0);                /* duration */
    rd_skip(&r, 4 + 2 + 10 + 36 + 24);
    assert_int_equal(rd_u32(&r), 2);                /* next_track_ID */
    assert_int_equal(rd_left(&r), 0);

    r = find(b, n, "moov/trak/tkhd");
    assert_int_equal(rd_u32(&r), 0x000003);         /* v0, enabled | in movie */
    rd_skip(&r, 8);
    assert_int_equal(rd_u32(&r), 1);                /* track_ID */
    rd_skip(&r, 4 + 4 + 8 + 2 + 2);
    assert_int_equal(rd_u16(&r), 0);                /* volume: video */
    rd_skip(&r, 2 + 36);
    assert_int_equal(rd_u32(&r), 640u << 16);
    assert_int_equal(rd_u32(&r), 360u << 16);
    assert_int_equal(rd_left(&r), 0);

    r = find(b, n, "moov/trak/mdia/mdhd");
    rd_skip(&r, 12);
    assert_int_equal(rd_u32(&r), 12800);
    assert_int_equal(rd_u32(&r), 0);
    /* "und": ('u'-0x60)<<10 | ('n'-0x60)<<5 | ('d'-0x60) */
    assert_int_equal(rd_u16(&r), 21 << 10 | 14 << 5 | 4);

    r = find(b, n, "moov/trak/mdia/hdlr");
    rd_skip(&r, 8);
    assert_int_equal(rd_u32(&r), FOURCC('v', 'i', 'd', 'e'));
    r = find(b, n, "moov/trak/mdia/minf/vmhd");
    assert_int_equal(rd_u32(&r), 1);                /* flags 1 */
    r = find(b, n, "moov/trak/mdia/minf/dinf/dref");
    rd_skip(&r, 8);
    r = find(r.p, rd_left(&r), "url ");
    assert_int_equal(rd_u32(&r), 1);                /* self-contained */

    /* the sample entry, byte for byte */
    r = find(b, n, "moov/trak/mdia/minf/stbl/stsd");
    rd_skip(&r, 8);
    assert_int_equal(rd_left(&r), sizeof ventry);
    assert_memory_equal(r.p, ventry, sizeof ventry);
    const char *empty[] = { "moov/trak/mdia/minf/stbl/stts", "moov/trak/mdia/minf/stbl/stsc",
                            "moov/trak/mdia/minf/stbl/stco" };
    for (int i = 0; i < 3; i++) {
        r = find(b, n, empty[i]);
        assert_int_equal(rd_u32(&r), 0);
        assert_int_equal(rd_u32(&r), 0);
        assert_int_equal(rd_left(&r), 0);
    }
    r = find(b, n, "moov/trak/mdia/minf/stbl/stsz");
    assert_int_equal(rd_left(&r), 12);

    r = find(b, n, "moov/mvex/trex");
    assert_int_equal(rd_u32(&r), 0);
    assert_int_equal(rd_u32(&r), 1);                /* track_ID */
    assert_int_equal(rd_u32(&r), 1);                /* sample description index */
    /* no edit list: the view's timeline already applies it */
    assert_false(has(b, n, "moov/trak/edts"));
    free(b);
    arena_free(a);
}

static void test_init_audio(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    size_t n;
    uint8_t *b = init_bytes(&v->tracks[1], &n);
    check_tree(b, n);
    rd_t r = find(b, n, "moov/trak/tkhd");
    rd_skip(&r, 4 + 8 + 4 + 4 + 4 + 8 + 2 + 2);
    assert_int_equal(rd_u16(&r), 0x0100);           /* volume */
    rd_skip(&r, 2 + 36);
    assert_int_equal(rd_u32(&r), 0);                /* no width/height */
    r = find(b, n, "moov/trak/mdia/mdhd");
    rd_skip(&r, 12);
    assert_int_equal(rd_u32(&r), 48000);
    rd_skip(&r, 4);
    /* the asset's language (the .ism said fra), not the file's eng */
    assert_int_equal(rd_u16(&r), 6 << 10 | 18 << 5 | 1);
    r = find(b, n, "moov/trak/mdia/hdlr");
    rd_skip(&r, 8);
    assert_int_equal(rd_u32(&r), FOURCC('s', 'o', 'u', 'n'));
    assert_true(has(b, n, "moov/trak/mdia/minf/smhd"));
    assert_false(has(b, n, "moov/trak/mdia/minf/vmhd"));
    r = find(b, n, "moov/trak/mdia/minf/stbl/stsd");
    rd_skip(&r, 8);
    assert_memory_equal(r.p, aentry, sizeof aentry);
    free(b);
    arena_free(a);
}

static void test_language_packing(void **state)
{
    (void)state;
    assert_int_equal(pack_language("eng"), 5 << 10 | 14 << 5 | 7);
    assert_int_equal(pack_language("EN"), pack_language("und"));
    assert_int_equal(pack_language("e1g"), pack_language("und"));
    assert_int_equal(pack_language(NULL), pack_language("und"));
}

/* ---- media segments ------------------------------------------------------------ */

/* What must hold for fragment k of any track in either format. */
static void check_fragment(const pk_vtrack_t *vt, uint32_t k, const pk_plan_t *p, int smooth,
                           frag_t *f)
{
    const pk_frag_t *fr = &vt->frags[k];
    const pk_track_t *t = vt->t;
    uint8_t *b = read_plan(p);

    check_tree(b, (size_t)p->size);
    assert_int_equal(has(b, (size_t)p->size, "styp"), !smooth);
    parse_fragment(b, (size_t)p->size, f);
    assert_int_equal(f->seq, k + 1);
    assert_int_equal(f->count, fr->count);
    assert_int_equal(f->mdat_size, f->mdat_hdr + fr->bytes);
    assert_int_equal(f->mdat_at + f->mdat_size, p->size);
    assert_int_equal(p->size, p->pieces[0].len + fr->bytes);
    assert_true(p->pieces[0].data != NULL);
    if (!smooth)
        assert_int_equal(pk_cmaf_fragment_header_size(vt, k), p->pieces[0].len);
    /* data_offset (moof-relative) lands on the first sample's first byte */
    assert_int_equal((size_t)f->data_offset, f->moof_size + f->mdat_hdr);
    size_t at = f->moof_at + (size_t)f->data_offset;
    for (uint32_t i = 0; i < fr->count; i++) {
        const pk_sample_t *s = &t->samples[fr->first + i];
        assert_int_equal(f->size[i], s->size);
        assert_int_equal(f->dur[i], pk_track_sample_duration(t, fr->first + i));
        assert_memory_equal(b + at, media + s->pos, s->size);
        at += s->size;
        int sync = pk_track_is_sync(t, fr->first + i);
        assert_int_equal(f->flags[i], sync ? 0x02000000u : 0x01010000u);
    }
    assert_int_equal(at, p->size);
    free(b);
}

static void test_cmaf_video(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    const pk_vtrack_t *vt = &v->tracks[0];
    assert_int_equal(v->frag_count, 2);
    for (uint32_t k = 0; k < v->frag_count; k++) {
        pk_plan_t p;
        frag_t f;
        assert_int_equal(pk_cmaf_fragment(vt, k, a, &p), 0);
        check_fragment(vt, k, &p, 0, &f);
        assert_int_equal(p.count, 2);               /* header, one contiguous GOP */
        assert_true(f.tfhd_flags & 0x020000);       /* default-base-is-moof */
        assert_int_equal(f.tfdt, vt->frags[k].time);
        assert_int_equal(f.trun_version, 1);
        /* durations constant: in tfhd; only the key frame differs: first_sample_flags */
        assert_int_equal(f.trun_flags, 0x000001 | 0x000004 | 0x000200 | 0x000800);
        for (uint32_t i = 0; i < f.count; i++)
            assert_int_equal(f.cto[i], pk_vtrack_cto(vt, vt->frags[k].first + i));
        /* the output timeline: each fragment's key frame is presented at its tfdt,
         * and B-frames before it need the negative offsets of trun v1 */
        assert_int_equal(f.cto[0], 0);
        assert_int_equal(f.cto[2], -512);
    }
    assert_int_equal(vt->frags[1].time, 6 * 512);
    arena_free(a);
}

/* Two GOPs in one fragment: key frames inside it need per-sample flags, and the
 * gap between them in the file makes two source ranges. */
static void test_cmaf_two_gops(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 1000);
    const pk_vtrack_t *vt = &v->tracks[0];
    pk_plan_t p;
    frag_t f;
    assert_int_equal(v->frag_count, 1);
    assert_int_equal(pk_cmaf_fragment(vt, 0, a, &p), 0);
    check_fragment(vt, 0, &p, 0, &f);
    assert_int_equal(f.count, V_N);
    assert_int_equal(f.trun_flags, 0x000001 | 0x000200 | 0x000400 | 0x000800);
    assert_false(f.tfhd_flags & 0x000020);
    assert_int_equal(p.count, 3);
    arena_free(a);
}

static void test_cmaf_audio(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    const pk_vtrack_t *vt = &v->tracks[1];
    for (uint32_t k = 0; k < v->frag_count; k++) {
        pk_plan_t p;
        frag_t f;
        assert_int_equal(pk_cmaf_fragment(vt, k, a, &p), 0);
        check_fragment(vt, k, &p, 0, &f);
        /* all sync, all 1024: both in tfhd; the trun holds sizes only */
        assert_int_equal(f.tfhd_flags, 0x020000 | 0x000008 | 0x000020);
        assert_int_equal(f.trun_flags, 0x000001 | 0x000200);
        assert_int_equal(f.tfdt, vt->frags[k].time);
    }
    assert_int_equal(vt->frags[1].first, 11);
    arena_free(a);
}

static void test_smooth(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    for (uint32_t ti = 0; ti < 2; ti++) {
        const pk_vtrack_t *vt = &v->tracks[ti];
        for (uint32_t k = 0; k < v->frag_count; k++) {
            pk_plan_t p;
            frag_t f;
            assert_int_equal(pk_smooth_fragment(vt, k, a, &p), 0);
            check_fragment(vt, k, &p, 1, &f);
            /* MS-SSTR 2.2.4.6: default-base-is-moof is a reserved bit there */
            assert_false(f.tfhd_flags & 0x020000);
            assert_int_equal(f.tfdt, UINT64_MAX);   /* no tfdt in MS-SSTR's traf */
            assert_int_equal(f.tfxd_time, vt->frags[k].time);
            assert_int_equal(f.tfxd_duration, vt->frags[k].duration);
            /* MS-SSTR 2.2.4.7: unsigned offsets, the source's own */
            assert_int_equal(f.trun_version, 0);
            for (uint32_t i = 0; i < f.count; i++)
                assert_int_equal(f.cto[i], vt->t->samples[vt->frags[k].first + i].cto);
        }
    }
    arena_free(a);
}

/* A source whose offsets are signed (ctts v1) and negative: Smooth needs trun v1. */
static void test_smooth_negative_cto(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    make_tracks();
    for (uint32_t i = 0; i < V_N; i++)
        vsamples[i].cto -= 1024;                    /* 0 1024 -512 -512 512 -512 */
    vtrack.media_time = 0;
    pk_view_t *v;
    assert_int_equal(pk_view_build(&asset, 240, a, &v), 0);
    pk_plan_t p;
    frag_t f;
    assert_int_equal(pk_smooth_fragment(&v->tracks[0], 0, a, &p), 0);
    check_fragment(&v->tracks[0], 0, &p, 1, &f);
    assert_int_equal(f.trun_version, 1);
    assert_int_equal(f.cto[2], -512);
    arena_free(a);
}

/* More than 4 GiB of samples: mdat gets a 64-bit largesize (14496-12 4.2). */
static void test_mdat_largesize(void **state)
{
    (void)state;
    static const pk_sample_t big[2] = { { 0, 0xF0000000u, 0 }, { 0xF0000000u, 0xF0000000u, 0 } };
    static const pk_run_t run[1] = { { 0, 0, 2, 1024, 0 } };
    static const pk_frag_t frag[1] = { { 0, 2, 0, 2048, 2ull * 0xF0000000u } };
    pk_track_t t = { .type = PK_TRACK_AUDIO, .timescale = 48000, .sample_count = 2,
                     .samples = big, .run_count = 1, .runs = run, .sync_count = 2 };
    pk_source_t s = { .size = 2ull * 0xF0000000u, .name = "big" };
    pk_asset_track_t at = { .track = &t, .source = &s, .name = "a", .language = "und" };
    pk_vtrack_t vt = { .at = &at, .t = &t, .frags = frag };
    arena_t *a = arena_new();
    pk_plan_t p;
    assert_int_equal(pk_cmaf_fragment(&vt, 0, a, &p), 0);
    const uint8_t *h = p.pieces[0].data;
    size_t hl = (size_t)p.pieces[0].len;
    assert_int_equal(hl, pk_cmaf_fragment_header_size(&vt, 0));
    assert_int_equal(p.size, hl + frag[0].bytes);
    assert_int_equal(p.count, 2);                   /* the two samples are contiguous */
    frag_t f;
    parse_fragment(h, hl, &f);
    assert_int_equal(f.mdat_hdr, 16);
    assert_int_equal(f.mdat_size, 16 + frag[0].bytes);
    assert_int_equal(f.mdat_at + 16, hl);
    assert_int_equal((size_t)f.data_offset, f.moof_size + 16);
    arena_free(a);
}

static void test_empty_fragment(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    pk_frag_t fr[2] = { v->tracks[0].frags[0], v->tracks[0].frags[1] };
    fr[1].count = 0;                                /* a track that ends early */
    pk_vtrack_t vt = v->tracks[0];
    vt.frags = fr;
    pk_plan_t p;
    assert_int_equal(pk_cmaf_fragment(&vt, 1, a, &p), -ENOENT);
    assert_int_equal(pk_smooth_fragment(&vt, 1, a, &p), -ENOENT);
    arena_free(a);
}

/* Every allocation can fail: -ENOMEM, then success once none does. */
static void test_enomem(void **state)
{
    (void)state;
    arena_t *va = arena_new();
    pk_view_t *v = view(va, 1000);
    for (int smooth = 0; smooth < 2; smooth++) {
        int ok = 0;
        for (unsigned n = 1; n < 20 && !ok; n++) {
            arena_t *a = arena_new();
            pk_plan_t p;
            arena_fail_after(a, n);
            int rc = smooth ? pk_smooth_fragment(&v->tracks[0], 0, a, &p)
                            : pk_cmaf_fragment(&v->tracks[0], 0, a, &p);
            assert_true(rc == 0 || rc == -ENOMEM);
            ok = rc == 0;
            arena_free(a);
        }
        assert_true(ok);
    }
    arena_free(va);
}

/* ---- encrypted output (23001-7) ------------------------------------------------ */

/* A stand-in for crypt/'s callback: "encrypts" by XOR with KEY and writes the
 * senc entry an encrypter would: an 8-byte IV (the sample index), then for
 * video the subsamples, from the counts: each {4 clear, 8 protected} but the
 * last, which takes the rest. */
#define KEY 0x5a

typedef struct {
    const uint16_t *counts;     /* NULL: whole-sample (audio) */
    uint8_t iv_size;
    int calls, fail_at, bad_at; /* fail_at: return -EBADMSG there; bad_at: short entry */
    uint32_t order[64];         /* sample indexes in call order */
} fake_t;

static int fake_encrypt(void *ctx, uint32_t i, uint8_t *data, size_t len, wr_t *w)
{
    fake_t *f = ctx;
    if (f->calls < 64)
        f->order[f->calls] = i;
    f->calls++;
    if ((int)i == f->fail_at)
        return -EBADMSG;
    if (f->iv_size == 8)
        wr_u64(w, i);
    else
        wr_zeros(w, f->iv_size);
    if (!f->counts) {
        for (size_t j = 0; data && j < len; j++)
            data[j] ^= KEY;
        return 0;
    }
    uint16_t n = f->counts[i];
    wr_u16(w, (int)i == f->bad_at ? (uint16_t)(n - 1) : n);
    size_t at = 0;
    for (uint16_t j = 0; j < n && (int)i != f->bad_at; j++) {
        uint32_t prot = j + 1 < n ? 8 : (uint32_t)(len - at - 4);
        wr_u16(w, 4);
        wr_u32(w, prot);
        for (uint32_t b = 0; data && b < prot; b++)
            data[at + 4 + b] ^= KEY;
        at += 4 + prot;
    }
    return 0;
}

static const uint8_t kid[16] = { 0x10, 0, 0, 0, 0x10, 0, 0x10, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 1 };
static const uint8_t civ[16] = { 0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xc1 };
static const uint8_t pssh1[32] = { 0, 0, 0, 32, 'p', 's', 's', 'h', 0, 0, 0, 0,
                                   0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                                   0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed, 0, 0, 0, 0 };
static const uint8_t pssh2[34] = { 0, 0, 0, 34, 'p', 's', 's', 'h', 0, 0, 0, 0,
                                   0x9a, 0x04, 0xf0, 0x79, 0x98, 0x40, 0x42, 0x86,
                                   0xab, 0x92, 0xe6, 0x5b, 0xe0, 0x88, 0x5f, 0x95, 0, 0, 0, 2,
                                   7, 7 };
static const pk_bytes_t psshs[2] = { { pssh1, sizeof pssh1 }, { pssh2, sizeof pssh2 } };
static uint16_t vcounts[V_N];

static pk_protect_t protect(uint32_t scheme, int video, fake_t *f)
{
    for (uint32_t i = 0; i < V_N; i++)
        vcounts[i] = (uint16_t)(1 + i % 3);
    *f = (fake_t){ .counts = video ? vcounts : NULL, .fail_at = -1, .bad_at = -1,
                   .iv_size = scheme == FOURCC('c', 'e', 'n', 'c') ? 8 : 0 };
    pk_protect_t p = { .scheme = scheme, .iv_size = f->iv_size, .pssh_count = 2, .pssh = psshs,
                       .subsample_counts = f->counts, .encrypt = fake_encrypt, .ctx = f };
    memcpy(p.kid, kid, 16);
    if (scheme == FOURCC('c', 'b', 'c', 's')) {
        memcpy(p.constant_iv, civ, 16);
        p.crypt_blocks = video ? 1 : 0;
        p.skip_blocks = video ? 9 : 0;
    }
    return p;
}

static uint8_t *init_protected_bytes(const pk_vtrack_t *vt, const pk_protect_t *p, size_t *len)
{
    wr_t c = wr_counter();
    pk_cmaf_init_protected(vt, p, &c);
    uint8_t *buf = malloc(c.pos);
    assert_non_null(buf);
    wr_t w = wr_init(buf, c.pos);
    pk_cmaf_init_protected(vt, p, &w);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.pos, c.pos);
    *len = c.pos;
    return buf;
}

/* The types of the children of the box body at [p, p + len), in order. */
static int child_types(const uint8_t *p, size_t len, uint32_t *out, int max)
{
    rd_t r = rd_init(p, len);
    int n = 0;
    while (rd_left(&r) >= 8 && n < max) {
        uint32_t size = rd_u32(&r);
        out[n++] = rd_u32(&r);
        assert_true(size >= 8);
        rd_skip(&r, size - 8);
    }
    assert_int_equal(r.err, 0);
    assert_int_equal(rd_left(&r), 0);
    return n;
}

/* Checks the encrypted sample entry against the clear one; returns the body of tenc. */
static rd_t check_entry(const uint8_t *b, size_t n, const uint8_t *entry, size_t entry_size,
                        uint32_t enc_type, uint32_t scheme, int tenc_version)
{
    rd_t r = find(b, n, "moov/trak/mdia/minf/stbl/stsd");
    assert_int_equal(rd_u32(&r), 0);
    assert_int_equal(rd_u32(&r), 1);
    const uint8_t *e = r.p;
    uint32_t size = rd_u32(&r);
    assert_int_equal(size, rd_left(&r) + 4);     /* the entry fills stsd */
    assert_int_equal(rd_u32(&r), enc_type);
    /* the original body, byte for byte, then the sinf */
    assert_memory_equal(e + 8, entry + 8, entry_size - 8);
    const uint8_t *sinf = e + entry_size;
    size_t sinf_len = size - entry_size;
    rd_t s = rd_init(sinf, sinf_len);
    assert_int_equal(rd_u32(&s), sinf_len);
    assert_int_equal(rd_u32(&s), FOURCC('s', 'i', 'n', 'f'));
    uint32_t types[8];
    assert_int_equal(child_types(s.p, rd_left(&s), types, 8), 3);
    assert_int_equal(types[0], FOURCC('f', 'r', 'm', 'a'));
    assert_int_equal(types[1], FOURCC('s', 'c', 'h', 'm'));
    assert_int_equal(types[2], FOURCC('s', 'c', 'h', 'i'));
    rd_t x = find(sinf, sinf_len, "sinf/frma");
    assert_int_equal(rd_u32(&x), FOURCC(entry[4], entry[5], entry[6], entry[7]));
    assert_int_equal(rd_left(&x), 0);
    x = find(sinf, sinf_len, "sinf/schm");
    assert_int_equal(rd_u32(&x), 0);                /* v0, no flags: no URI */
    assert_int_equal(rd_u32(&x), scheme);
    assert_int_equal(rd_u32(&x), 0x00010000);
    assert_int_equal(rd_left(&x), 0);
    x = find(sinf, sinf_len, "sinf/schi/tenc");
    assert_int_equal(x.err, 0);
    assert_int_equal(rd_u32(&x), (uint32_t)tenc_version << 24);
    return x;
}

static void test_init_protected_cenc(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    fake_t f;
    pk_protect_t p = protect(FOURCC('c', 'e', 'n', 'c'), 1, &f);
    size_t n, clear_n;
    uint8_t *b = init_protected_bytes(&v->tracks[0], &p, &n);
    uint8_t *clear = init_bytes(&v->tracks[0], &clear_n);
    check_tree(b, n);

    /* 23001-7 8.2: tenc v0: reserved, reserved, isProtected, IV size, KID */
    rd_t x = check_entry(b, n, ventry, sizeof ventry, FOURCC('e', 'n', 'c', 'v'),
                         FOURCC('c', 'e', 'n', 'c'), 0);
    assert_int_equal(rd_u8(&x), 0);
    assert_int_equal(rd_u8(&x), 0);
    assert_int_equal(rd_u8(&x), 1);
    assert_int_equal(rd_u8(&x), 8);
    assert_memory_equal(x.p, kid, 16);
    rd_skip(&x, 16);
    assert_int_equal(rd_left(&x), 0);

    /* pssh boxes last in moov, verbatim, in the given order */
    rd_t moov = find(b, n, "moov");
    uint32_t types[8];
    assert_int_equal(child_types(moov.p, rd_left(&moov), types, 8), 5);
    assert_int_equal(types[0], FOURCC('m', 'v', 'h', 'd'));
    assert_int_equal(types[1], FOURCC('t', 'r', 'a', 'k'));
    assert_int_equal(types[2], FOURCC('m', 'v', 'e', 'x'));
    assert_int_equal(types[3], FOURCC('p', 's', 's', 'h'));
    assert_int_equal(types[4], FOURCC('p', 's', 's', 'h'));
    assert_memory_equal(moov.end - sizeof pssh1 - sizeof pssh2, pssh1, sizeof pssh1);
    assert_memory_equal(moov.end - sizeof pssh2, pssh2, sizeof pssh2);

    /* everything else as in the clear header: sinf (8 + frma 12 + schm 20 +
     * schi 8 + tenc 32) and the pssh boxes are the only growth */
    assert_int_equal(n, clear_n + 80 + sizeof pssh1 + sizeof pssh2);
    assert_memory_equal(find(b, n, "ftyp").p, find(clear, clear_n, "ftyp").p, 20);
    rd_t m1 = find(b, n, "moov/mvex"), m2 = find(clear, clear_n, "moov/mvex");
    assert_int_equal(rd_left(&m1), rd_left(&m2));
    assert_memory_equal(m1.p, m2.p, rd_left(&m1));

    /* no protection: the clear header */
    size_t n0;
    uint8_t *b0 = init_protected_bytes(&v->tracks[0], NULL, &n0);
    assert_int_equal(n0, clear_n);
    assert_memory_equal(b0, clear, n0);
    free(b0);
    free(clear);
    free(b);
    arena_free(a);
}

static void test_init_protected_cbcs(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    for (int video = 0; video < 2; video++) {
        fake_t f;
        pk_protect_t p = protect(FOURCC('c', 'b', 'c', 's'), video, &f);
        p.pssh_count = 0;
        size_t n;
        uint8_t *b = init_protected_bytes(&v->tracks[video ? 0 : 1], &p, &n);
        check_tree(b, n);
        /* tenc v1: reserved, crypt:skip, isProtected, IV size 0, KID, constant IV */
        rd_t x = check_entry(b, n, video ? ventry : aentry, video ? sizeof ventry : sizeof aentry,
                             video ? FOURCC('e', 'n', 'c', 'v') : FOURCC('e', 'n', 'c', 'a'),
                             FOURCC('c', 'b', 'c', 's'), 1);
        assert_int_equal(rd_u8(&x), 0);
        assert_int_equal(rd_u8(&x), video ? 0x19 : 0x00);
        assert_int_equal(rd_u8(&x), 1);
        assert_int_equal(rd_u8(&x), 0);
        assert_memory_equal(x.p, kid, 16);
        rd_skip(&x, 16);
        assert_int_equal(rd_u8(&x), 16);
        assert_memory_equal(x.p, civ, 16);
        rd_skip(&x, 16);
        assert_int_equal(rd_left(&x), 0);
        assert_false(has(b, n, "moov/pssh"));
        free(b);
    }
    arena_free(a);
}

/* What a reader of the aux info sees (14496-12 8.7.8-9, 23001-7 7.2). */
typedef struct {
    int has_saiz, has_saio;
    uint8_t saiz_default;
    uint8_t saiz_sizes[64];
    uint32_t saiz_count, saio_offset, senc_flags, senc_count;
    size_t senc_entries_at;     /* offset in the file of the first senc entry */
    uint32_t traf[8];           /* traf children types */
    int traf_n;
} aux_t;

static void parse_aux(const uint8_t *b, size_t n, const frag_t *f, aux_t *x)
{
    memset(x, 0, sizeof *x);
    rd_t traf = find(b, n, "moof/traf");
    x->traf_n = child_types(traf.p, rd_left(&traf), x->traf, 8);
    rd_t r = find(b, n, "moof/traf/saiz");
    if ((x->has_saiz = !r.err)) {
        assert_int_equal(rd_u32(&r), 0);            /* v0, no aux_info_type */
        x->saiz_default = rd_u8(&r);
        x->saiz_count = rd_u32(&r);
        if (!x->saiz_default)
            for (uint32_t i = 0; i < x->saiz_count; i++)
                x->saiz_sizes[i] = rd_u8(&r);
        assert_int_equal(rd_left(&r), 0);
    }
    r = find(b, n, "moof/traf/saio");
    if ((x->has_saio = !r.err)) {
        assert_int_equal(rd_u32(&r), 0);
        assert_int_equal(rd_u32(&r), 1);
        x->saio_offset = rd_u32(&r);
        assert_int_equal(rd_left(&r), 0);
    }
    size_t at;
    r = find_at(b, n, "moof/traf/senc", &at);
    assert_int_equal(r.err, 0);
    x->senc_flags = rd_u32(&r);
    x->senc_count = rd_u32(&r);
    x->senc_entries_at = (size_t)(r.p - b);
    (void)f;
}

/* Sample i of t, stored encrypted at data, led by its senc entry at r (an 8-byte IV when
 * iv8, then the subsamples with p's counts): undoes fake_encrypt over the protected
 * ranges the entry gives and checks the source's bytes come back, the ranges covering the
 * sample. Moves r past the entry; returns its size. */
static size_t check_senc_sample(rd_t *r, const pk_protect_t *p, const pk_track_t *t, uint32_t i,
                                const uint8_t *data, int iv8)
{
    const pk_sample_t *s = &t->samples[i];
    const uint8_t *entry = r->p;
    uint8_t *clear = malloc(s->size);
    memcpy(clear, data, s->size);
    if (iv8)
        assert_int_equal(rd_u64(r), i);             /* the IV the callback wrote */
    if (p->subsample_counts) {
        uint16_t ns = rd_u16(r);
        assert_int_equal(ns, p->subsample_counts[i]);
        size_t pos = 0;
        for (uint16_t q = 0; q < ns; q++) {
            pos += rd_u16(r);
            uint32_t prot = rd_u32(r);
            for (uint32_t c = 0; c < prot; c++)
                clear[pos + c] ^= KEY;
            pos += prot;
        }
        assert_int_equal(pos, s->size);
    } else {
        for (uint32_t c = 0; c < s->size; c++)
            clear[c] ^= KEY;
    }
    assert_memory_equal(clear, media + s->pos, s->size);
    free(clear);
    return (size_t)(r->p - entry);
}

/* An encrypted fragment, checked as a decrypter reads it: saio leads to the
 * senc entries, each entry's subsamples cover the sample, undoing the XOR of
 * the protected ranges gives the source bytes back. */
static void check_protected(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                            const pk_plan_t *plan, aux_t *x)
{
    const pk_frag_t *fr = &vt->frags[k];
    const pk_track_t *t = vt->t;
    assert_int_equal(plan->count, 1);               /* one memory piece */
    assert_non_null(plan->pieces[0].data);
    uint8_t *b = read_plan(plan);
    size_t n = (size_t)plan->size;
    frag_t f;

    check_tree(b, n);
    parse_fragment(b, n, &f);
    uint64_t size = 0, hdr = 0;
    assert_int_equal(pk_cmaf_fragment_protected_size(vt, k, p, &size), 0);
    assert_int_equal(size, plan->size);
    assert_int_equal(pk_cmaf_fragment_protected_header_size(vt, k, p, &hdr), 0);
    assert_int_equal(hdr + fr->bytes, plan->size);
    assert_int_equal(f.seq, k + 1);
    assert_int_equal(f.count, fr->count);
    assert_int_equal(f.mdat_size, f.mdat_hdr + fr->bytes);
    assert_int_equal(f.mdat_at + f.mdat_size, n);
    assert_int_equal((size_t)f.data_offset, f.moof_size + f.mdat_hdr);

    parse_aux(b, n, &f, x);
    assert_int_equal(x->traf[0], FOURCC('t', 'f', 'h', 'd'));
    assert_int_equal(x->traf[1], FOURCC('t', 'f', 'd', 't'));
    assert_int_equal(x->traf[2], FOURCC('t', 'r', 'u', 'n'));
    if (x->has_saiz) {
        assert_int_equal(x->traf_n, 6);
        assert_int_equal(x->traf[3], FOURCC('s', 'a', 'i', 'z'));
        assert_int_equal(x->traf[4], FOURCC('s', 'a', 'i', 'o'));
        assert_int_equal(x->traf[5], FOURCC('s', 'e', 'n', 'c'));
        assert_true(x->has_saio);
        assert_int_equal(x->saiz_count, fr->count);
        /* saio, moof-relative (default-base-is-moof), lands on the first entry */
        assert_int_equal(f.moof_at + x->saio_offset, x->senc_entries_at);
    } else {
        assert_int_equal(x->traf_n, 4);
        assert_int_equal(x->traf[3], FOURCC('s', 'e', 'n', 'c'));
    }
    assert_int_equal(x->senc_flags, p->subsample_counts ? 2 : 0);
    assert_int_equal(x->senc_count, fr->count);

    rd_t r = rd_init(b + x->senc_entries_at, n - x->senc_entries_at);
    size_t at = f.moof_at + (size_t)f.data_offset;
    for (uint32_t j = 0; j < fr->count; j++) {
        uint32_t i = fr->first + j;
        const pk_sample_t *s = &t->samples[i];
        size_t entry_size = check_senc_sample(&r, p, t, i, b + at, p->iv_size == 8);
        assert_int_equal(entry_size, pk_protect_senc_entry_size(p, i));
        if (x->has_saiz)
            assert_int_equal(x->saiz_default ? x->saiz_default : x->saiz_sizes[j], entry_size);
        assert_int_equal(f.size[j], s->size);
        at += s->size;
    }
    assert_int_equal(r.err, 0);
    /* senc is the last box of the moof */
    assert_int_equal((size_t)(r.p - b), f.moof_at + f.moof_size);
    assert_int_equal(at, n);
    free(b);
}

static void test_fragment_cenc_video(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 1000);                   /* both GOPs: a gap in the source */
    const pk_vtrack_t *vt = &v->tracks[0];
    fake_t f;
    pk_protect_t p = protect(FOURCC('c', 'e', 'n', 'c'), 1, &f);
    pk_plan_t plan;
    aux_t x;
    assert_int_equal(pk_cmaf_fragment_protected(vt, 0, &p, a, &plan), 0);
    check_protected(vt, 0, &p, &plan, &x);
    /* entries of 1 to 3 subsamples: 16, 22, 28 bytes, a size per sample */
    assert_int_equal(x.saiz_default, 0);
    assert_int_equal(x.saiz_sizes[0], 16);
    assert_int_equal(x.saiz_sizes[2], 28);
    /* the callback saw every sample once, in order */
    assert_int_equal(f.calls, V_N);
    for (uint32_t i = 0; i < V_N; i++)
        assert_int_equal(f.order[i], i);
    /* the trun is the clear one */
    pk_plan_t cp;
    frag_t fc, fe;
    assert_int_equal(pk_cmaf_fragment(vt, 0, a, &cp), 0);
    uint8_t *cb = read_plan(&cp), *eb = read_plan(&plan);
    parse_fragment(cb, (size_t)cp.size, &fc);
    parse_fragment(eb, (size_t)plan.size, &fe);
    assert_int_equal(fc.trun_flags, fe.trun_flags);
    assert_memory_equal(fc.cto, fe.cto, sizeof fc.cto);
    assert_memory_equal(fc.flags, fe.flags, sizeof fc.flags);
    free(cb);
    free(eb);

    /* equal subsample counts: one default size */
    for (uint32_t i = 0; i < V_N; i++)
        vcounts[i] = 2;
    f.calls = 0;
    assert_int_equal(pk_cmaf_fragment_protected(vt, 0, &p, a, &plan), 0);
    check_protected(vt, 0, &p, &plan, &x);
    assert_int_equal(x.saiz_default, 8 + 2 + 12);
    arena_free(a);
}

static void test_fragment_cenc_audio(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    const pk_vtrack_t *vt = &v->tracks[1];
    fake_t f;
    pk_protect_t p = protect(FOURCC('c', 'e', 'n', 'c'), 0, &f);
    for (uint32_t k = 0; k < v->frag_count; k++) {
        pk_plan_t plan;
        aux_t x;
        assert_int_equal(pk_cmaf_fragment_protected(vt, k, &p, a, &plan), 0);
        check_protected(vt, k, &p, &plan, &x);
        assert_true(x.has_saiz);
        assert_int_equal(x.saiz_default, 8);        /* IVs only */
    }
    arena_free(a);
}

/* cbcs: constant IV. Video entries are subsamples only; audio entries are
 * empty, so saiz and saio are left out and senc lists no bytes. */
static void test_fragment_cbcs(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    for (int video = 0; video < 2; video++) {
        const pk_vtrack_t *vt = &v->tracks[video ? 0 : 1];
        fake_t f;
        pk_protect_t p = protect(FOURCC('c', 'b', 'c', 's'), video, &f);
        pk_plan_t plan;
        aux_t x;
        assert_int_equal(pk_cmaf_fragment_protected(vt, 0, &p, a, &plan), 0);
        check_protected(vt, 0, &p, &plan, &x);
        assert_int_equal(x.has_saiz, video);
        assert_int_equal(x.has_saio, video);
        if (video)
            assert_int_equal(x.saiz_sizes[1], 2 + 12);
        assert_int_equal(f.calls, vt->frags[0].count);
    }
    arena_free(a);
}

/* ---- encrypted Smooth fragments ------------------------------------------------ */

/*
 * An encrypted Smooth fragment (encryption=cenc: senc; piff: PIFF 1.1's uuid box), read
 * as a Smooth client and a CENC decrypter read it: moof + mdat, no tfdt, no
 * default-base-is-moof, trun v0, traf children tfhd, trun, sample encryption box, saiz,
 * saio, tfxd; saio (moof-relative, the traf's base without base-data-offset) lands on
 * the first IV; the entries undo the encryption back to the source bytes. Returns the
 * fragment's size.
 */
static size_t check_smooth_protected(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                                     pk_smooth_box_t box, arena_t *a)
{
    const pk_frag_t *fr = &vt->frags[k];
    const pk_track_t *t = vt->t;
    int piff = box == PK_SMOOTH_PIFF;
    pk_plan_t plan;
    assert_int_equal(pk_smooth_fragment_protected(vt, k, p, box, a, &plan), 0);
    assert_int_equal(plan.count, 1);
    uint8_t *b = read_plan(&plan);
    size_t n = (size_t)plan.size;
    uint64_t size = 0;
    assert_int_equal(pk_smooth_fragment_protected_size(vt, k, p, box, &size), 0);
    assert_int_equal(size, n);

    check_tree(b, n);
    uint32_t top[4];
    assert_int_equal(child_types(b, n, top, 4), 2);
    assert_int_equal(top[0], FOURCC('m', 'o', 'o', 'f'));
    assert_int_equal(top[1], FOURCC('m', 'd', 'a', 't'));
    frag_t f;
    parse_fragment(b, n, &f);
    assert_int_equal(f.seq, k + 1);
    assert_int_equal(f.count, fr->count);
    assert_int_equal(f.tfdt, UINT64_MAX);
    assert_false(f.tfhd_flags & 0x020000);
    assert_int_equal(f.trun_version, 0);
    assert_true(find_uuid(b, n, tfxd_id, NULL).err == 0);
    assert_int_equal(f.tfxd_time, fr->time);
    assert_int_equal(f.tfxd_duration, fr->duration);
    assert_int_equal(f.mdat_size, f.mdat_hdr + fr->bytes);
    assert_int_equal(f.mdat_at + f.mdat_size, n);
    assert_int_equal((size_t)f.data_offset, f.moof_size + f.mdat_hdr);

    /* the traf's children, in order */
    rd_t traf = find(b, n, "moof/traf");
    uint32_t types[8];
    assert_int_equal(child_types(traf.p, rd_left(&traf), types, 8), 6);
    assert_int_equal(types[0], FOURCC('t', 'f', 'h', 'd'));
    assert_int_equal(types[1], FOURCC('t', 'r', 'u', 'n'));
    assert_int_equal(types[2], piff ? FOURCC('u', 'u', 'i', 'd') : FOURCC('s', 'e', 'n', 'c'));
    assert_int_equal(types[3], FOURCC('s', 'a', 'i', 'z'));
    assert_int_equal(types[4], FOURCC('s', 'a', 'i', 'o'));
    assert_int_equal(types[5], FOURCC('u', 'u', 'i', 'd'));

    /* the sample encryption box: PIFF 1.1 5.3.2.1 / 23001-7 7.2.1, version 0, flags
     * 0x2 with subsamples (video), 0 without (audio); never PIFF's override flag 0x1 */
    size_t box_at;
    rd_t se = piff ? find_uuid(b, n, piff_id, &box_at) : find_at(b, n, "moof/traf/senc", &box_at);
    assert_int_equal(se.err, 0);
    assert_int_equal(has(b, n, "moof/traf/senc"), !piff);
    assert_int_equal(find_uuid(b, n, piff_id, NULL).err == 0, piff);
    assert_int_equal(rd_u32(&se), p->subsample_counts ? 2 : 0);
    assert_int_equal(rd_u32(&se), fr->count);
    size_t entries_at = (size_t)(se.p - b);
    assert_int_equal(entries_at - box_at, piff ? 8 + 16 + 8 : 8 + 8);

    /* saiz: one size per sample, or a default; saio: the first IV */
    rd_t r = find(b, n, "moof/traf/saiz");
    assert_int_equal(rd_u32(&r), 0);
    uint8_t def = rd_u8(&r);
    assert_int_equal(rd_u32(&r), fr->count);
    uint8_t sizes[64];
    for (uint32_t j = 0; j < fr->count; j++)
        sizes[j] = def ? def : rd_u8(&r);
    assert_int_equal(rd_left(&r), 0);
    r = find(b, n, "moof/traf/saio");
    assert_int_equal(rd_u32(&r), 0);
    assert_int_equal(rd_u32(&r), 1);
    uint32_t saio = rd_u32(&r);
    assert_int_equal(rd_left(&r), 0);
    assert_int_equal(f.moof_at + saio, entries_at);

    rd_t e = rd_init(b + entries_at, n - entries_at);
    size_t at = f.moof_at + (size_t)f.data_offset;
    for (uint32_t j = 0; j < fr->count; j++) {
        uint32_t i = fr->first + j;
        const pk_sample_t *s = &t->samples[i];
        assert_int_equal(check_senc_sample(&e, p, t, i, b + at, 1), sizes[j]);
        assert_int_equal(f.size[j], s->size);
        at += s->size;
    }
    assert_int_equal(e.err, 0);
    /* the entries end the sample encryption box: saiz is next */
    assert_int_equal(rd_u32(&e), 12 + 1 + 4 + (def ? 0 : fr->count));
    assert_int_equal(rd_u32(&e), FOURCC('s', 'a', 'i', 'z'));
    assert_int_equal(at, n);
    free(b);
    return n;
}

static void test_smooth_protected(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    for (int video = 0; video < 2; video++) {
        const pk_vtrack_t *vt = &v->tracks[video ? 0 : 1];
        fake_t f;
        pk_protect_t p = protect(FOURCC('c', 'e', 'n', 'c'), video, &f);
        for (uint32_t k = 0; k < v->frag_count; k++) {
            if (!vt->frags[k].count)
                continue;
            size_t senc = check_smooth_protected(vt, k, &p, PK_SMOOTH_SENC, a);
            size_t piff = check_smooth_protected(vt, k, &p, PK_SMOOTH_PIFF, a);
            /* the uuid box is senc plus its 16-byte usertype, nothing else differs */
            assert_int_equal(piff, senc + 16);
            /* the clear Smooth fragment plus saiz, saio and the sample encryption box */
            pk_plan_t cp;
            assert_int_equal(pk_smooth_fragment(vt, k, a, &cp), 0);
            uint32_t nsamples = vt->frags[k].count;
            size_t entries = 0;
            for (uint32_t i = 0; i < nsamples; i++)
                entries += pk_protect_senc_entry_size(&p, vt->frags[k].first + i);
            int uniform = !video;
            /* senc 16 + entries, saiz 17 (+ a size per sample), saio 20 */
            assert_int_equal(senc, cp.size + 16 + entries + 17 + (uniform ? 0 : nsamples) + 20);
        }
    }
    arena_free(a);
}

/* Smooth knows AES-CTR with 8-byte IVs only; an empty fragment is no fragment. */
static void test_smooth_protected_errors(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    fake_t f;
    pk_protect_t p = protect(FOURCC('c', 'b', 'c', 's'), 1, &f);
    pk_plan_t plan;
    uint64_t size;
    assert_int_equal(pk_smooth_fragment_protected(&v->tracks[0], 0, &p, PK_SMOOTH_SENC, a,
                                                  &plan), -EINVAL);
    assert_int_equal(pk_smooth_fragment_protected_size(&v->tracks[0], 0, &p, PK_SMOOTH_PIFF,
                                                       &size), -EINVAL);
    assert_int_equal(f.calls, 0);
    p = protect(FOURCC('c', 'e', 'n', 'c'), 1, &f);
    pk_frag_t fr[2] = { v->tracks[0].frags[0], v->tracks[0].frags[1] };
    fr[1].count = 0;
    pk_vtrack_t vt = v->tracks[0];
    vt.frags = fr;
    assert_int_equal(pk_smooth_fragment_protected(&vt, 1, &p, PK_SMOOTH_PIFF, a, &plan), -ENOENT);
    assert_int_equal(pk_smooth_fragment_protected_size(&vt, 1, &p, PK_SMOOTH_SENC, &size),
                     -ENOENT);
    /* the callback's error, as it is */
    f.fail_at = 1;
    assert_int_equal(pk_smooth_fragment_protected(&v->tracks[0], 0, &p, PK_SMOOTH_PIFF, a,
                                                  &plan), -EBADMSG);
    arena_free(a);
}

static char logbuf[512];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)ctx;
    snprintf(logbuf, sizeof logbuf, "%s", msg);
}

static int failing_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    (void)ctx, (void)buf, (void)len, (void)off;
    return -EIO;
}

static void test_fragment_protected_errors(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_view_t *v = view(a, 240);
    pk_vtrack_t vt = v->tracks[0];
    fake_t f;
    pk_protect_t p = protect(FOURCC('c', 'e', 'n', 'c'), 1, &f);
    pk_plan_t plan;
    uint64_t size;

    /* 8 + 2 + 6 * 41 = 256: more than saiz's 8 bits; 40 still fits */
    vcounts[2] = 41;
    logbuf[0] = '\0';
    assert_int_equal(pk_cmaf_fragment_protected_size(&vt, 0, &p, &size), -ENOTSUP);
    assert_non_null(strstr(logbuf, "41 subsamples"));
    assert_int_equal(pk_cmaf_fragment_protected(&vt, 0, &p, a, &plan), -ENOTSUP);
    vcounts[2] = 40;
    vsamples[2].size = 4 + 40 * 12;                 /* room for the fake's subsamples */
    assert_int_equal(pk_cmaf_fragment_protected_size(&vt, 0, &p, &size), 0);
    vcounts[2] = 3;
    vsamples[2].size = 100 + 7 * 2;

    /* the callback's error, as it is */
    f.fail_at = 3;
    assert_int_equal(pk_cmaf_fragment_protected(&vt, 0, &p, a, &plan), -EBADMSG);
    /* an entry of another size than the counts promised */
    f.fail_at = -1;
    f.bad_at = 4;
    logbuf[0] = '\0';
    assert_int_equal(pk_cmaf_fragment_protected(&vt, 0, &p, a, &plan), -EIO);
    assert_non_null(strstr(logbuf, "sample 4: senc entry of 10 bytes where 22 were counted"));
    f.bad_at = -1;

    /* a source that cannot be read */
    pk_source_t bad = { .read = failing_read, .size = sizeof media, .name = "bad.mp4" };
    pk_asset_track_t at = *vt.at;
    at.source = &bad;
    vt.at = &at;
    logbuf[0] = '\0';
    assert_int_equal(pk_cmaf_fragment_protected(&vt, 0, &p, a, &plan), -EIO);
    assert_non_null(strstr(logbuf, "bad.mp4"));

    /* an empty fragment */
    pk_frag_t fr[2] = { v->tracks[0].frags[0], v->tracks[0].frags[1] };
    fr[1].count = 0;
    vt = v->tracks[0];
    vt.frags = fr;
    assert_int_equal(pk_cmaf_fragment_protected(&vt, 1, &p, a, &plan), -ENOENT);
    assert_int_equal(pk_cmaf_fragment_protected_size(&vt, 1, &p, &size), -ENOENT);
    arena_free(a);
}

static void test_fragment_protected_enomem(void **state)
{
    (void)state;
    arena_t *va = arena_new();
    pk_view_t *v = view(va, 1000);
    fake_t f;
    pk_protect_t p = protect(FOURCC('c', 'e', 'n', 'c'), 1, &f);
    int ok = 0;
    for (unsigned n = 1; n < 20 && !ok; n++) {
        arena_t *a = arena_new();
        pk_plan_t plan;
        arena_fail_after(a, n);
        int rc = pk_cmaf_fragment_protected(&v->tracks[0], 0, &p, a, &plan);
        assert_true(rc == 0 || rc == -ENOMEM);
        ok = rc == 0;
        arena_free(a);
    }
    assert_true(ok);
    arena_free(va);
}

int main(void)
{
    pk_log_set_sink(capture, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_video),
        cmocka_unit_test(test_init_audio),
        cmocka_unit_test(test_language_packing),
        cmocka_unit_test(test_cmaf_video),
        cmocka_unit_test(test_cmaf_two_gops),
        cmocka_unit_test(test_cmaf_audio),
        cmocka_unit_test(test_smooth),
        cmocka_unit_test(test_smooth_negative_cto),
        cmocka_unit_test(test_mdat_largesize),
        cmocka_unit_test(test_empty_fragment),
        cmocka_unit_test(test_enomem),
        cmocka_unit_test(test_init_protected_cenc),
        cmocka_unit_test(test_init_protected_cbcs),
        cmocka_unit_test(test_fragment_cenc_video),
        cmocka_unit_test(test_fragment_cenc_audio),
        cmocka_unit_test(test_fragment_cbcs),
        cmocka_unit_test(test_fragment_protected_errors),
        cmocka_unit_test(test_fragment_protected_enomem),
        cmocka_unit_test(test_smooth_protected),
        cmocka_unit_test(test_smooth_protected_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
