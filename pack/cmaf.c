/*
 * Fragmented MP4 writers: the CMAF header (init segment), CMAF media segments
 * and Smooth Streaming fragments. One track per file, always track_ID 1.
 *
 * A fragment's boxes are laid out once (layout_t: which optional fields the
 * trun carries, the tfhd defaults, the mdat header size), then written through
 * a wr_t: counting gives the size for getattr, the same code writes the bytes.
 * Sample data is never copied: the plan points at the source ranges.
 *
 * Encryption will add boxes to traf (senc, saiz, saio) and wrap the sample
 * entry (encv/enca + sinf): write_traf() and write_stsd() are where they go.
 */
#include "cmaf.h"

#include <assert.h>
#include <string.h>

#include "log.h"

/* 14496-12 8.8.3.1 sample flags: sample_depends_on (bits 24-25) and
 * sample_is_non_sync_sample (bit 16). */
#define FLAGS_SYNC      0x02000000u     /* depends on no other sample (I picture) */
#define FLAGS_NON_SYNC  0x01010000u     /* depends on others, not a sync sample */

/* 14496-12 8.8.7.1 tf_flags */
#define TFHD_DEFAULT_DURATION   0x000008u
#define TFHD_DEFAULT_FLAGS      0x000020u
#define TFHD_DEFAULT_BASE_MOOF  0x020000u

/* 14496-12 8.8.8.1 tr_flags */
#define TRUN_DATA_OFFSET    0x000001u
#define TRUN_FIRST_FLAGS    0x000004u
#define TRUN_DURATION       0x000100u
#define TRUN_SIZE           0x000200u
#define TRUN_FLAGS          0x000400u
#define TRUN_CTO            0x000800u

/* MS-SSTR 2.2.4.4 */
static const uint8_t tfxd_uuid[16] = {
    0x6d, 0x1d, 0x9b, 0x05, 0x42, 0xd5, 0x44, 0xe6,
    0x80, 0xe2, 0x14, 0x1d, 0xaf, 0xf7, 0x57, 0xb2,
};

/* Unity matrix of mvhd and tkhd (14496-12 8.2.2.3). */
static const uint32_t unity[9] = { 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000 };

typedef enum { FMT_CMAF, FMT_SMOOTH } fmt_t;

/* How fragment k of a track is written: decided once from its samples. */
typedef struct {
    const pk_vtrack_t *vt;
    uint32_t k;                 /* fragment index: mfhd sequence_number k + 1 */
    uint32_t first, count;      /* samples [first, first + count) */
    fmt_t fmt;
    uint32_t tfhd_flags;
    uint32_t default_duration;  /* with TFHD_DEFAULT_DURATION */
    uint32_t default_flags;     /* with TFHD_DEFAULT_FLAGS */
    uint32_t trun_flags;
    uint32_t first_flags;       /* with TRUN_FIRST_FLAGS */
    uint8_t trun_version;
    uint64_t payload;           /* bytes of sample data: the mdat body */
} layout_t;

static uint32_t sample_flags(const pk_track_t *t, uint32_t i)
{
    return pk_track_is_sync(t, i) ? FLAGS_SYNC : FLAGS_NON_SYNC;
}

/* The composition offset a fragment carries for sample i. CMAF: the output
 * timeline's (pack/view.h), signed in trun v1, so a fragment's tfdt is its
 * earliest presentation time. Smooth: MS-SSTR 2.2.4.7 declares the offset an
 * UNSIGNED-INT32 and Smooth has no edit list, so it gets the source's own
 * offset (cto_out + cto_shift >= 0 for any ctts v0 source): video presents
 * cto_shift later than in DASH, as in every IIS/ismv Smooth stream. */
static int64_t sample_cto(const layout_t *l, uint32_t i)
{
    int64_t cto = pk_vtrack_cto(l->vt, i);
    return l->fmt == FMT_SMOOTH ? cto + l->vt->cto_shift : cto;
}

/*
 * Chooses the fields of tfhd and trun. Values shared by all samples move to
 * tfhd defaults (durations of audio and of constant frame rate video; sample
 * flags when only the first sample differs, then as first_sample_flags), so a
 * typical trun holds only sizes (audio) or sizes and offsets (video).
 */
static void layout(const pk_vtrack_t *vt, uint32_t k, fmt_t fmt, layout_t *l)
{
    const pk_track_t *t = vt->t;
    const pk_frag_t *f = &vt->frags[k];
    int uniform_duration = 1, uniform_flags = 1, any_cto = 0, negative_cto = 0;

    *l = (layout_t){ .vt = vt, .k = k, .first = f->first, .count = f->count, .fmt = fmt };
    uint32_t last = f->first + f->count;
    uint32_t rest_flags = f->count > 1 ? sample_flags(t, f->first + 1) : 0;
    if (f->count)
        l->default_duration = pk_track_sample_duration(t, f->first);
    for (uint32_t i = f->first; i < last; i++) {
        l->payload += t->samples[i].size;
        if (pk_track_sample_duration(t, i) != l->default_duration)
            uniform_duration = 0;
        if (i > f->first && sample_flags(t, i) != rest_flags)
            uniform_flags = 0;
        int64_t cto = sample_cto(l, i);
        any_cto |= cto != 0;
        negative_cto |= cto < 0;
    }

    /* CMAF requires default-base-is-moof (14496-12 8.8.7.1): offsets from the moof.
     * MS-SSTR 2.2.4.6 has no such flag (it is a reserved bit there), but without
     * base-data-offset the base of the first traf is the moof anyway. */
    l->tfhd_flags = fmt == FMT_CMAF ? TFHD_DEFAULT_BASE_MOOF : 0;
    l->trun_flags = TRUN_DATA_OFFSET | TRUN_SIZE;
    if (uniform_duration && f->count) {
        l->tfhd_flags |= TFHD_DEFAULT_DURATION;
    } else {
        l->trun_flags |= TRUN_DURATION;
        l->default_duration = 0;
    }
    if (f->count && uniform_flags) {
        uint32_t head = sample_flags(t, f->first);
        l->tfhd_flags |= TFHD_DEFAULT_FLAGS;
        l->default_flags = f->count > 1 ? rest_flags : head;
        if (head != l->default_flags) {
            l->trun_flags |= TRUN_FIRST_FLAGS;
            l->first_flags = head;
        }
    } else if (f->count) {
        l->trun_flags |= TRUN_FLAGS;
    }
    if (t->type == PK_TRACK_VIDEO || any_cto)
        l->trun_flags |= TRUN_CTO;
    /* 14496-12 8.8.8.2: v1 offsets are signed. Smooth stays v0 (MS-SSTR) unless
     * a source with negative ctts v1 offsets leaves no other way. */
    l->trun_version = fmt == FMT_CMAF || negative_cto ? 1 : 0;
}

/* Bytes of the mdat header: 32-bit size, or size 1 and a 64-bit largesize
 * (14496-12 4.2) when the box would not fit 32 bits. */
static uint32_t mdat_header_size(const layout_t *l)
{
    return l->payload > UINT32_MAX - 8 ? 16 : 8;
}

static void write_mfhd(wr_t *w, uint32_t seq)
{
    size_t b = box_open_full(w, FOURCC('m', 'f', 'h', 'd'), 0, 0);
    wr_u32(w, seq);
    box_close(w, b);
}

static void write_tfhd(wr_t *w, const layout_t *l)
{
    size_t b = box_open_full(w, FOURCC('t', 'f', 'h', 'd'), 0, l->tfhd_flags);
    wr_u32(w, 1);                                   /* track_ID */
    if (l->tfhd_flags & TFHD_DEFAULT_DURATION)
        wr_u32(w, l->default_duration);
    if (l->tfhd_flags & TFHD_DEFAULT_FLAGS)
        wr_u32(w, l->default_flags);
    box_close(w, b);
}

/* 14496-12 8.8.12: v1, the 64-bit decode time of the fragment's first sample. */
static void write_tfdt(wr_t *w, const layout_t *l)
{
    size_t b = box_open_full(w, FOURCC('t', 'f', 'd', 't'), 1, 0);
    wr_u64(w, l->vt->frags[l->k].time);
    box_close(w, b);
}

static void write_trun(wr_t *w, const layout_t *l, uint32_t data_offset)
{
    const pk_track_t *t = l->vt->t;
    size_t b = box_open_full(w, FOURCC('t', 'r', 'u', 'n'), l->trun_version, l->trun_flags);
    wr_u32(w, l->count);
    wr_u32(w, data_offset);
    if (l->trun_flags & TRUN_FIRST_FLAGS)
        wr_u32(w, l->first_flags);
    for (uint32_t i = l->first; i < l->first + l->count; i++) {
        if (l->trun_flags & TRUN_DURATION)
            wr_u32(w, pk_track_sample_duration(t, i));
        wr_u32(w, t->samples[i].size);
        if (l->trun_flags & TRUN_FLAGS)
            wr_u32(w, sample_flags(t, i));
        if (l->trun_flags & TRUN_CTO)
            wr_u32(w, (uint32_t)sample_cto(l, i));  /* two's complement in v1 */
    }
    box_close(w, b);
}

/* MS-SSTR 2.2.4.4: version 1, the fragment's time and duration in 64 bits. */
static void write_tfxd(wr_t *w, const layout_t *l)
{
    const pk_frag_t *f = &l->vt->frags[l->k];
    size_t b = box_open(w, FOURCC('u', 'u', 'i', 'd'));
    wr_bytes(w, tfxd_uuid, sizeof tfxd_uuid);
    wr_u32(w, 0x01000000);                          /* version 1, no flags */
    wr_u64(w, f->time);
    wr_u64(w, f->duration);
    box_close(w, b);
}

/* The children of traf. CMAF: tfhd, tfdt, one trun. MS-SSTR 2.2.4.3 allows
 * tfhd, trun and vendor uuid boxes only (no tfdt: clients take the time from
 * the manifest, dash.js recreates tfdt from it), tfxd after the trun as IIS
 * writes it. */
static void write_traf(wr_t *w, const layout_t *l, uint32_t data_offset)
{
    size_t b = box_open(w, FOURCC('t', 'r', 'a', 'f'));
    write_tfhd(w, l);
    if (l->fmt == FMT_CMAF)
        write_tfdt(w, l);
    write_trun(w, l, data_offset);
    if (l->fmt == FMT_SMOOTH)
        write_tfxd(w, l);
    box_close(w, b);
}

static void write_moof(wr_t *w, const layout_t *l, uint32_t data_offset)
{
    size_t b = box_open(w, FOURCC('m', 'o', 'o', 'f'));
    write_mfhd(w, l->k + 1);
    write_traf(w, l, data_offset);
    box_close(w, b);
}

/*
 * styp: 'cmfs' is the CMAF (23000-19) segment brand, which shaka-packager also
 * puts in place of its ftyp's 'cmfc'; 'cmff' (CMAF fragment) because each
 * segment is exactly one CMAF fragment; 'msdh' is the DASH media segment brand
 * (23009-1 6.3.4.2); 'msix' is not claimed, as there is no sidx; 'iso6' covers
 * tfdt v1, trun v1 and default-base-is-moof.
 */
static void write_styp(wr_t *w)
{
    size_t b = box_open(w, FOURCC('s', 't', 'y', 'p'));
    wr_u32(w, FOURCC('c', 'm', 'f', 's'));          /* major_brand */
    wr_u32(w, 0);                                   /* minor_version */
    wr_u32(w, FOURCC('c', 'm', 'f', 's'));
    wr_u32(w, FOURCC('c', 'm', 'f', 'f'));
    wr_u32(w, FOURCC('i', 's', 'o', '6'));
    wr_u32(w, FOURCC('m', 's', 'd', 'h'));
    box_close(w, b);
}

/* Everything before the first sample byte: [styp], moof, mdat header. The
 * trun's data_offset points just past the mdat header (moof-relative). */
static void write_header(wr_t *w, const layout_t *l)
{
    wr_t c = wr_counter();
    write_moof(&c, l, 0);
    uint32_t hdr = mdat_header_size(l);
    uint32_t data_offset = (uint32_t)(c.pos + hdr);

    if (l->fmt == FMT_CMAF)
        write_styp(w);
    write_moof(w, l, data_offset);
    if (hdr == 16) {
        wr_u32(w, 1);
        wr_u32(w, FOURCC('m', 'd', 'a', 't'));
        wr_u64(w, 16 + l->payload);
    } else {
        wr_u32(w, (uint32_t)(8 + l->payload));
        wr_u32(w, FOURCC('m', 'd', 'a', 't'));
    }
}

/* The whole fragment as a plan: one arena buffer of header bytes (counted, then
 * written into exactly that size), then the samples as source ranges, merged
 * where they are contiguous in the file. */
static int fragment(const pk_vtrack_t *vt, uint32_t k, fmt_t fmt, arena_t *a, pk_plan_t *out)
{
    const pk_track_t *t = vt->t;
    layout_t l;
    pk_plan_t p;
    int rc;

    if (!vt->frags[k].count)
        return -ENOENT;
    layout(vt, k, fmt, &l);

    wr_t c = wr_counter();
    write_header(&c, &l);
    uint8_t *buf = arena_alloc(a, c.pos);
    if (!buf)
        return -ENOMEM;
    wr_t w = wr_init(buf, c.pos);
    write_header(&w, &l);
    assert(w.pos == c.pos && !w.err);

    if ((rc = pk_plan_init(&p, a, 8)) < 0 || (rc = pk_plan_bytes(&p, a, buf, w.pos)) < 0)
        return rc;
    for (uint32_t i = l.first; i < l.first + l.count; i++)
        if ((rc = pk_plan_range(&p, a, vt->at->source, t->samples[i].pos,
                                t->samples[i].size)) < 0)
            return rc;
    *out = p;
    return 0;
}

int pk_cmaf_fragment(const pk_vtrack_t *vt, uint32_t k, arena_t *a, pk_plan_t *out)
{
    return fragment(vt, k, FMT_CMAF, a, out);
}

int pk_smooth_fragment(const pk_vtrack_t *vt, uint32_t k, arena_t *a, pk_plan_t *out)
{
    return fragment(vt, k, FMT_SMOOTH, a, out);
}

uint64_t pk_cmaf_fragment_header_size(const pk_vtrack_t *vt, uint32_t k)
{
    layout_t l;
    layout(vt, k, FMT_CMAF, &l);
    wr_t c = wr_counter();
    write_header(&c, &l);
    return c.pos;
}

/* ---- the CMAF header ------------------------------------------------------ */

/*
 * ftyp: 'cmfc' is the CMAF structural brand (23000-19): it names the file's
 * format, so it is also the major brand. Not 'cmf2': the video rules it adds
 * as GPAC summarises them (no edit list, trun v1) hold here, but the rest of
 * that edition's constraints are unchecked. 'iso6' for the ISO-BMFF
 * features the fragments use (tfdt, trun v1, default-base-is-moof), 'dash' for
 * 23009-1 6.3.4.2 initialization segments, 'mp41' because the sample entries of
 * AAC/MP3 (esds) are 14496-14's. ffmpeg -movflags cmaf writes iso6/cmfc/mp41,
 * shaka-packager mp41/iso8/isom/dash/cmfc.
 */
static void write_ftyp(wr_t *w)
{
    size_t b = box_open(w, FOURCC('f', 't', 'y', 'p'));
    wr_u32(w, FOURCC('c', 'm', 'f', 'c'));
    wr_u32(w, 0);
    wr_u32(w, FOURCC('c', 'm', 'f', 'c'));
    wr_u32(w, FOURCC('i', 's', 'o', '6'));
    wr_u32(w, FOURCC('d', 'a', 's', 'h'));
    wr_u32(w, FOURCC('m', 'p', '4', '1'));
    box_close(w, b);
}

static void write_matrix(wr_t *w)
{
    for (int i = 0; i < 9; i++)
        wr_u32(w, unity[i]);
}

/* 14496-12 8.2.2: durations 0, the fragments carry the samples. */
static void write_mvhd(wr_t *w, const pk_track_t *t)
{
    size_t b = box_open_full(w, FOURCC('m', 'v', 'h', 'd'), 0, 0);
    wr_u32(w, 0);                                   /* creation_time */
    wr_u32(w, 0);                                   /* modification_time */
    wr_u32(w, t->timescale);
    wr_u32(w, 0);                                   /* duration */
    wr_u32(w, 0x00010000);                          /* rate 1.0 */
    wr_u16(w, 0x0100);                              /* volume 1.0 */
    wr_zeros(w, 10);                                /* reserved */
    write_matrix(w);
    wr_zeros(w, 24);                                /* pre_defined */
    wr_u32(w, 2);                                   /* next_track_ID */
    box_close(w, b);
}

/* 14496-12 8.3.2: flags track_enabled | track_in_movie. */
static void write_tkhd(wr_t *w, const pk_track_t *t)
{
    int video = t->type == PK_TRACK_VIDEO;
    size_t b = box_open_full(w, FOURCC('t', 'k', 'h', 'd'), 0, 0x000003);
    wr_u32(w, 0);                                   /* creation_time */
    wr_u32(w, 0);                                   /* modification_time */
    wr_u32(w, 1);                                   /* track_ID */
    wr_u32(w, 0);                                   /* reserved */
    wr_u32(w, 0);                                   /* duration */
    wr_zeros(w, 8);                                 /* reserved */
    wr_u16(w, 0);                                   /* layer */
    wr_u16(w, 0);                                   /* alternate_group */
    wr_u16(w, t->type == PK_TRACK_AUDIO ? 0x0100 : 0);  /* volume */
    wr_u16(w, 0);                                   /* reserved */
    write_matrix(w);
    wr_u32(w, video ? (uint32_t)t->width << 16 : 0);    /* 16.16 */
    wr_u32(w, video ? (uint32_t)t->height << 16 : 0);
    box_close(w, b);
}

/* ISO 639-2/T code packed as three 5-bit letters (14496-12 8.4.2.3); a code that
 * is not three lower-case letters is "und". */
static uint16_t pack_language(const char *lang)
{
    if (!lang || strlen(lang) != 3)
        lang = "und";
    for (int i = 0; i < 3; i++)
        if (lang[i] < 'a' || lang[i] > 'z')
            lang = "und";
    return (uint16_t)((lang[0] - 0x60) << 10 | (lang[1] - 0x60) << 5 | (lang[2] - 0x60));
}

static void write_mdhd(wr_t *w, const pk_vtrack_t *vt)
{
    size_t b = box_open_full(w, FOURCC('m', 'd', 'h', 'd'), 0, 0);
    wr_u32(w, 0);                                   /* creation_time */
    wr_u32(w, 0);                                   /* modification_time */
    wr_u32(w, vt->t->timescale);
    wr_u32(w, 0);                                   /* duration */
    /* the asset's language: the .ism's systemLanguage wins over the file's, as
     * in the manifests */
    wr_u16(w, pack_language(vt->at->language ? vt->at->language : vt->t->lang));
    wr_u16(w, 0);                                   /* pre_defined */
    box_close(w, b);
}

/* Handler and media header by track kind: 14496-12 8.4.3, 12.1.2 (vmhd), 12.2.2
 * (smhd), 8.4.5.2 (nmhd), 12.6.2 (sthd). TTML (stpp) is a subtitle track
 * (14496-30: 'subt' + sthd), WebVTT a text track ('text' + nmhd). */
static uint32_t handler_of(const pk_track_t *t)
{
    switch (t->type) {
    case PK_TRACK_VIDEO: return FOURCC('v', 'i', 'd', 'e');
    case PK_TRACK_AUDIO: return FOURCC('s', 'o', 'u', 'n');
    case PK_TRACK_TEXT:  break;
    }
    return t->fourcc == FOURCC('s', 't', 'p', 'p') ? FOURCC('s', 'u', 'b', 't')
                                                  : FOURCC('t', 'e', 'x', 't');
}

static void write_hdlr(wr_t *w, const pk_track_t *t)
{
    static const char *names[] = { "VideoHandler", "SoundHandler", "SubtitleHandler",
                                   "TextHandler" };
    uint32_t h = handler_of(t);
    const char *name = h == FOURCC('v', 'i', 'd', 'e') ? names[0]
                     : h == FOURCC('s', 'o', 'u', 'n') ? names[1]
                     : h == FOURCC('s', 'u', 'b', 't') ? names[2] : names[3];
    size_t b = box_open_full(w, FOURCC('h', 'd', 'l', 'r'), 0, 0);
    wr_u32(w, 0);                                   /* pre_defined */
    wr_u32(w, h);
    wr_zeros(w, 12);                                /* reserved */
    wr_bytes(w, name, strlen(name) + 1);            /* NUL-terminated UTF-8 */
    box_close(w, b);
}

static void write_media_header(wr_t *w, const pk_track_t *t)
{
    size_t b;
    switch (handler_of(t)) {
    case FOURCC('v', 'i', 'd', 'e'):
        b = box_open_full(w, FOURCC('v', 'm', 'h', 'd'), 0, 1);  /* flags 1: 12.1.2 */
        wr_zeros(w, 8);                             /* graphicsmode, opcolor */
        break;
    case FOURCC('s', 'o', 'u', 'n'):
        b = box_open_full(w, FOURCC('s', 'm', 'h', 'd'), 0, 0);
        wr_zeros(w, 4);                             /* balance, reserved */
        break;
    case FOURCC('s', 'u', 'b', 't'):
        b = box_open_full(w, FOURCC('s', 't', 'h', 'd'), 0, 0);
        break;
    default:
        b = box_open_full(w, FOURCC('n', 'm', 'h', 'd'), 0, 0);
        break;
    }
    box_close(w, b);
}

/* dinf/dref with one self-contained 'url ' entry (flags 1: data in this file). */
static void write_dinf(wr_t *w)
{
    size_t dinf = box_open(w, FOURCC('d', 'i', 'n', 'f'));
    size_t dref = box_open_full(w, FOURCC('d', 'r', 'e', 'f'), 0, 0);
    wr_u32(w, 1);
    size_t url = box_open_full(w, FOURCC('u', 'r', 'l', ' '), 0, 1);
    box_close(w, url);
    box_close(w, dref);
    box_close(w, dinf);
}

/* The source's sample entry, verbatim: codec config, pasp, colr, btrt as the
 * encoder wrote them. */
static void write_stsd(wr_t *w, const pk_track_t *t)
{
    size_t b = box_open_full(w, FOURCC('s', 't', 's', 'd'), 0, 0);
    wr_u32(w, t->entry_size ? 1 : 0);
    wr_bytes(w, t->entry, t->entry_size);
    box_close(w, b);
}

/* An empty table: version/flags, then zero entries (stsz: sample_size 0 too). */
static void write_empty_table(wr_t *w, uint32_t type)
{
    size_t b = box_open_full(w, type, 0, 0);
    if (type == FOURCC('s', 't', 's', 'z'))
        wr_u32(w, 0);
    wr_u32(w, 0);
    box_close(w, b);
}

static void write_stbl(wr_t *w, const pk_track_t *t)
{
    size_t b = box_open(w, FOURCC('s', 't', 'b', 'l'));
    write_stsd(w, t);
    write_empty_table(w, FOURCC('s', 't', 't', 's'));
    write_empty_table(w, FOURCC('s', 't', 's', 'c'));
    write_empty_table(w, FOURCC('s', 't', 's', 'z'));
    write_empty_table(w, FOURCC('s', 't', 'c', 'o'));
    box_close(w, b);
}

static void write_trak(wr_t *w, const pk_vtrack_t *vt)
{
    size_t trak = box_open(w, FOURCC('t', 'r', 'a', 'k'));
    write_tkhd(w, vt->t);
    size_t mdia = box_open(w, FOURCC('m', 'd', 'i', 'a'));
    write_mdhd(w, vt);
    write_hdlr(w, vt->t);
    size_t minf = box_open(w, FOURCC('m', 'i', 'n', 'f'));
    write_media_header(w, vt->t);
    write_dinf(w);
    write_stbl(w, vt->t);
    box_close(w, minf);
    box_close(w, mdia);
    box_close(w, trak);
}

/* 14496-12 8.8.3: the defaults stay 0; every fragment states its own. */
static void write_mvex(wr_t *w)
{
    size_t mvex = box_open(w, FOURCC('m', 'v', 'e', 'x'));
    size_t trex = box_open_full(w, FOURCC('t', 'r', 'e', 'x'), 0, 0);
    wr_u32(w, 1);                                   /* track_ID */
    wr_u32(w, 1);                                   /* default_sample_description_index */
    wr_zeros(w, 12);                                /* duration, size, flags */
    box_close(w, trex);
    box_close(w, mvex);
}

/* No edit list: the output timeline already applies the source's (view.h). */
void pk_cmaf_init(const pk_vtrack_t *vt, wr_t *w)
{
    write_ftyp(w);
    size_t moov = box_open(w, FOURCC('m', 'o', 'o', 'v'));
    write_mvhd(w, vt->t);
    write_trak(w, vt);
    write_mvex(w);
    box_close(w, moov);
}
