/*
 * Fragmented MP4 writers: the CMAF header (init segment), CMAF media segments
 * and Smooth Streaming fragments. One track per file, always track_ID 1.
 *
 * A fragment's boxes are laid out once (layout_t: which optional fields the
 * trun carries, the tfhd defaults, the mdat header size), then written through
 * a wr_t: counting gives the size for getattr, the same code writes the bytes.
 * Sample data is never copied: the plan points at the source ranges.
 *
 * Encrypted output (ISO/IEC 23001-7, pack/protect.h) is the same writer with a
 * pk_protect_t: the sample entry becomes encv/enca with a sinf (write_stsd), the
 * init segment gets the pssh boxes, and each traf gets saiz, saio and senc
 * (write_traf). The senc entries come from the encrypt callback, which
 * encrypts the samples in place in one arena buffer: the mdat is then memory,
 * not source ranges. Sizes still come without reading a sample byte, from the
 * subsample counts fs/ keeps (pk_protect_senc_entry_size). Encrypted Smooth
 * fragments are the same code with the Smooth layout (and, for encryption=piff,
 * PIFF 1.1's uuid box in place of senc).
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

/* 23001-7 7.2.1 senc flags: subsample information present (PIFF 1.1 5.3.2.1 gives its
 * sample encryption box the same bit) */
#define SENC_SUBSAMPLES     0x000002u

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

/* PIFF 1.1 5.3.2: the SampleEncryptionBox, a uuid box laid out as senc after its
 * usertype (what 23001-7 standardised as senc) */
static const uint8_t piff_senc_uuid[16] = {
    0xa2, 0x39, 0x4f, 0x52, 0x5a, 0x9b, 0x4f, 0x14,
    0xa2, 0x44, 0x6c, 0x42, 0x7c, 0x64, 0x8d, 0xf4,
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
    /* encrypted output only (prot != NULL), set by layout_protect() */
    const pk_protect_t *prot;
    int piff;                   /* Smooth: the sample encryption box is PIFF's uuid box */
    uint64_t senc_bytes;        /* sum of the fragment's senc entries */
    int aux;                    /* saiz and saio written: some entry is not empty */
    uint8_t aux_default;        /* saiz default_sample_info_size, 0: a size per sample */
    uint32_t aux_offset;        /* saio: first senc entry byte, from the moof start */
    size_t moof_size;           /* the moof's bytes, counted once by layout_protect (no value
                                 * written changes it); 0: count it when needed */
} layout_t;

/* The encryption pass of one write: where the samples are, the first error. */
typedef struct {
    uint8_t *payload;           /* the fragment's samples, encrypted in place; NULL when
                                 * only counting (senc entries are then zeros) */
    int rc;                     /* first error of the encrypt callback */
    size_t entries_at;          /* out: where the first senc entry was written (w->pos) */
} crypt_t;

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

/* 14496-12 8.7.8: the size of each sample's auxiliary information (its senc
 * entry). No aux_info_type (flags 0): 23001-7 7.1 lets it default to the
 * scheme of the sample entry's schm. */
static void write_saiz(wr_t *w, const layout_t *l)
{
    const pk_protect_t *p = l->prot;
    size_t b = box_open_full(w, FOURCC('s', 'a', 'i', 'z'), 0, 0);
    wr_u8(w, l->aux_default);
    wr_u32(w, l->count);
    if (!l->aux_default)
        for (uint32_t i = l->first; i < l->first + l->count; i++)
            wr_u8(w, (uint8_t)pk_protect_senc_entry_size(p, i));
    box_close(w, b);
}

/* 14496-12 8.7.9: one offset, the fragment's entries being contiguous in senc;
 * moof-relative like the trun's data_offset (default-base-is-moof). */
static void write_saio(wr_t *w, const layout_t *l)
{
    size_t b = box_open_full(w, FOURCC('s', 'a', 'i', 'o'), 0, 0);
    wr_u32(w, 1);                                   /* entry_count */
    wr_u32(w, l->aux_offset);
    box_close(w, b);
}

/* Calls the encrypt callback for sample i of the fragment (its bytes at data),
 * which writes the senc entry through w; checks the entry has the size the
 * subsample counts promised, as everything before the mdat was laid out on it. */
static void encrypt_sample(wr_t *w, const layout_t *l, crypt_t *cr, uint32_t i, uint8_t *data)
{
    const pk_protect_t *p = l->prot;
    size_t want = pk_protect_senc_entry_size(p, i), at = w->pos;
    uint32_t size = l->vt->t->samples[i].size;

    if (cr->rc < 0) {
        wr_zeros(w, want);
        return;
    }
    int rc = p->encrypt(p->ctx, i, data, size, w);
    if (rc < 0) {
        cr->rc = rc;                                /* the callback logged why */
    } else if (w->err || w->pos - at != want) {
        PK_ERROR("%s: track %s sample %u: senc entry of %zu bytes where %zu were counted",
                 l->vt->at->source && l->vt->at->source->name ? l->vt->at->source->name : "?",
                 l->vt->at->name, i, w->pos - at, want);
        cr->rc = -EIO;
    }
    if (cr->rc < 0)                                 /* keep the layout for the caller's check */
        w->pos = at + want;
}

/* 23001-7 7.2: the fragment's sample encryption entries, in sample order:
 * IV (iv_size bytes, none with a constant IV), then with flag 0x2 the
 * subsample_count and {BytesOfClearData, BytesOfProtectedData} pairs.
 * PIFF 1.1 5.3.2 has the same fields in a uuid box (version 0; flag 0x1, which
 * would restate AlgorithmID, IV size and KID, is never set: the one key of a
 * Smooth presentation is in its ProtectionHeader, and dash.js misreads it). */
static void write_senc(wr_t *w, const layout_t *l, crypt_t *cr)
{
    const pk_protect_t *p = l->prot;
    uint32_t flags = p->subsample_counts ? SENC_SUBSAMPLES : 0;
    size_t b;
    if (l->piff) {
        b = box_open(w, FOURCC('u', 'u', 'i', 'd'));
        wr_bytes(w, piff_senc_uuid, sizeof piff_senc_uuid);
        wr_u32(w, flags);                           /* version 0 */
    } else {
        b = box_open_full(w, FOURCC('s', 'e', 'n', 'c'), 0, flags);
    }
    wr_u32(w, l->count);
    if (cr)
        cr->entries_at = w->pos;
    if (!cr || !cr->payload) {
        wr_zeros(w, l->senc_bytes);
    } else {
        uint64_t off = 0;
        for (uint32_t i = l->first; i < l->first + l->count; i++) {
            encrypt_sample(w, l, cr, i, cr->payload + off);
            off += l->vt->t->samples[i].size;
        }
    }
    box_close(w, b);
}

static void write_aux(wr_t *w, const layout_t *l)
{
    if (l->aux) {
        write_saiz(w, l);
        write_saio(w, l);
    }
}

/* The children of traf. CMAF: tfhd, tfdt, one trun; encrypted, then saiz, saio,
 * senc (the order of 23000-19's fragment table and of shaka-packager; saiz/saio
 * left out when every entry is empty, as for cbcs audio: 23001-7 has empty
 * auxiliary information omitted, shaka-packager does so). MS-SSTR 2.2.4.3
 * allows tfhd, trun and vendor uuid boxes only (no tfdt: clients take the time
 * from the manifest, dash.js recreates tfdt from it); encrypted, the sample
 * encryption box (senc, or PIFF's uuid) and saiz, saio follow the trun, as
 * nginx-vod-module's PlayReady output has them; tfxd comes last. Readers find
 * each by type (dash.js rewrites saio to wherever senc is), so the order only
 * has to be one. */
static void write_traf(wr_t *w, const layout_t *l, uint32_t data_offset, crypt_t *cr)
{
    size_t b = box_open(w, FOURCC('t', 'r', 'a', 'f'));
    write_tfhd(w, l);
    if (l->fmt == FMT_CMAF)
        write_tfdt(w, l);
    write_trun(w, l, data_offset);
    if (l->prot && l->fmt == FMT_CMAF) {
        write_aux(w, l);
        write_senc(w, l, cr);
    } else if (l->prot) {
        write_senc(w, l, cr);
        write_aux(w, l);
    }
    if (l->fmt == FMT_SMOOTH)
        write_tfxd(w, l);
    box_close(w, b);
}

static void write_moof(wr_t *w, const layout_t *l, uint32_t data_offset, crypt_t *cr)
{
    size_t b = box_open(w, FOURCC('m', 'o', 'o', 'f'));
    write_mfhd(w, l->k + 1);
    write_traf(w, l, data_offset, cr);
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
 * trun's data_offset points just past the mdat header (moof-relative).
 * Encrypted: cr->payload holds the samples, encrypted while the senc is written
 * (cr NULL or without payload: senc entries counted only). */
static void write_header(wr_t *w, const layout_t *l, crypt_t *cr)
{
    size_t moof = l->moof_size;
    if (!moof) {
        wr_t c = wr_counter();
        write_moof(&c, l, 0, NULL);
        moof = c.pos;
    }
    uint32_t hdr = mdat_header_size(l);
    uint32_t data_offset = (uint32_t)(moof + hdr);

    if (l->fmt == FMT_CMAF)
        write_styp(w);
    write_moof(w, l, data_offset, cr);
    if (hdr == 16) {
        wr_u32(w, 1);
        wr_u32(w, FOURCC('m', 'd', 'a', 't'));
        wr_u64(w, 16 + l->payload);
    } else {
        wr_u32(w, (uint32_t)(8 + l->payload));
        wr_u32(w, FOURCC('m', 'd', 'a', 't'));
    }
}

/*
 * The encryption part of the layout: senc entry sizes from the subsample counts,
 * saiz's default size when all are equal, saio's offset. -ENOTSUP when an entry
 * is larger than saiz's 8-bit sizes can state (a sample of more than about 40
 * subsamples: slices).
 */
static int layout_protect(layout_t *l, const pk_protect_t *p)
{
    l->prot = p;
    l->senc_bytes = 0;
    l->aux = 0;
    l->aux_default = 0;
    if (!p)
        return 0;
    size_t size0 = l->count ? pk_protect_senc_entry_size(p, l->first) : 0;
    int uniform = 1;
    for (uint32_t i = l->first; i < l->first + l->count; i++) {
        size_t n = pk_protect_senc_entry_size(p, i);
        if (n > UINT8_MAX) {
            PK_ERROR("%s: track %s sample %u: %u subsamples make a senc entry of %zu bytes, "
                     "more than saiz can state (255)", l->vt->at->source &&
                     l->vt->at->source->name ? l->vt->at->source->name : "?",
                     l->vt->at->name, i, p->subsample_counts ? p->subsample_counts[i] : 0, n);
            return -ENOTSUP;
        }
        l->senc_bytes += n;
        uniform &= n == size0;
        l->aux |= n != 0;
    }
    l->aux_default = uniform ? (uint8_t)size0 : 0;

    /* saio points at the first entry, moof-relative: where a counting pass of the
     * moof writes it (no value of saio changes a size) */
    crypt_t at = { 0 };
    wr_t c = wr_counter();
    write_moof(&c, l, 0, &at);
    l->aux_offset = (uint32_t)at.entries_at;
    l->moof_size = c.pos;
    return 0;
}

/* Lays out fragment k (piff: Smooth's PIFF sample encryption box): 0, -ENOENT
 * (empty), -ENOTSUP (layout_protect). */
static int layout_fragment(const pk_vtrack_t *vt, uint32_t k, fmt_t fmt, const pk_protect_t *p,
                           int piff, layout_t *l)
{
    if (!vt->frags[k].count)
        return -ENOENT;
    layout(vt, k, fmt, l);
    l->piff = piff;
    return layout_protect(l, p);
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

    if ((rc = layout_fragment(vt, k, fmt, NULL, 0, &l)) < 0)
        return rc;

    wr_t c = wr_counter();
    write_header(&c, &l, NULL);
    uint8_t *buf = arena_alloc(a, c.pos);
    if (!buf)
        return -ENOMEM;
    wr_t w = wr_init(buf, c.pos);
    write_header(&w, &l, NULL);
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
    write_header(&c, &l, NULL);
    return c.pos;
}

/* Header bytes ([styp], moof, mdat header) and payload of encrypted fragment k. */
static int protected_size(const pk_vtrack_t *vt, uint32_t k, fmt_t fmt, const pk_protect_t *p,
                          int piff, uint64_t *hdr, uint64_t *payload)
{
    layout_t l;
    int rc = layout_fragment(vt, k, fmt, p, piff, &l);
    if (rc < 0)
        return rc;
    wr_t c = wr_counter();
    write_header(&c, &l, NULL);
    *hdr = c.pos;
    *payload = l.payload;
    return 0;
}

int pk_cmaf_fragment_protected_header_size(const pk_vtrack_t *vt, uint32_t k,
                                           const pk_protect_t *p, uint64_t *size)
{
    uint64_t hdr, payload;
    int rc = protected_size(vt, k, FMT_CMAF, p, 0, &hdr, &payload);
    if (rc < 0)
        return rc;
    *size = hdr;
    return 0;
}

int pk_cmaf_fragment_protected_size(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                                    uint64_t *size)
{
    uint64_t hdr, payload;
    int rc = protected_size(vt, k, FMT_CMAF, p, 0, &hdr, &payload);
    if (rc < 0)
        return rc;
    *size = hdr + payload;
    return 0;
}

/* The samples [l->first, +count) of the source into buf, one read per run of
 * samples that are contiguous in the file. */
static int read_samples(const layout_t *l, uint8_t *buf)
{
    const pk_track_t *t = l->vt->t;
    const pk_source_t *src = l->vt->at->source;
    uint32_t last = l->first + l->count;

    for (uint32_t i = l->first; i < last;) {
        uint64_t pos = t->samples[i].pos, len = t->samples[i].size;
        uint32_t j = i + 1;
        while (j < last && t->samples[j].pos == pos + len)
            len += t->samples[j++].size;
        int rc = src ? src->read(src->ctx, buf, (size_t)len, pos) : -EIO;
        if (rc < 0) {
            PK_ERROR("%s: track %s samples %u-%u: cannot read %llu bytes at offset %llu "
                     "(error %d)", src && src->name ? src->name : "?", l->vt->at->name, i,
                     j - 1, (unsigned long long)len, (unsigned long long)pos, rc);
            return rc;
        }
        buf += len;
        i = j;
    }
    return 0;
}

/* The encrypted fragment k in either format: the header counted, the samples read
 * behind it into one buffer, then the header written while the callback encrypts
 * them in place. */
static int protected_fragment(const pk_vtrack_t *vt, uint32_t k, fmt_t fmt,
                              const pk_protect_t *p, int piff, arena_t *a, pk_plan_t *out)
{
    layout_t l;
    pk_plan_t plan;
    int rc;

    if ((rc = layout_fragment(vt, k, fmt, p, piff, &l)) < 0)
        return rc;
    wr_t c = wr_counter();
    write_header(&c, &l, NULL);
    size_t hdr = c.pos;
    if (l.payload > SIZE_MAX - hdr)
        return -ENOMEM;
    uint8_t *buf = arena_alloc(a, hdr + (size_t)l.payload);
    if (!buf)
        return -ENOMEM;
    if ((rc = read_samples(&l, buf + hdr)) < 0)
        return rc;

    crypt_t cr = { buf + hdr, 0, 0 };
    wr_t w = wr_init(buf, hdr);
    write_header(&w, &l, &cr);
    if (cr.rc < 0)
        return cr.rc;
    /* the size getattr reported (protected_size: the same layout, counted from the
     * subsample counts alone) is hdr + l.payload: the written header must be hdr */
    assert(w.pos == hdr && !w.err);

    if ((rc = pk_plan_init(&plan, a, 1)) < 0 ||
        (rc = pk_plan_bytes(&plan, a, buf, hdr + l.payload)) < 0)
        return rc;
    *out = plan;
    return 0;
}

int pk_cmaf_fragment_protected(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                               arena_t *a, pk_plan_t *out)
{
    return protected_fragment(vt, k, FMT_CMAF, p, 0, a, out);
}

/* MS-SSTR and PIFF 1.1 know AES-CTR with 8-byte IVs (PIFF AlgorithmID 1) only. */
static int smooth_scheme(const pk_vtrack_t *vt, const pk_protect_t *p)
{
    if (p->scheme == FOURCC('c', 'e', 'n', 'c') && p->iv_size == 8)
        return 0;
    PK_ERROR("%s (%u bit/s): Smooth fragments are encrypted in cenc with 8-byte IVs only",
             vt->at->name, vt->at->bitrate);
    return -EINVAL;
}

int pk_smooth_fragment_protected(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                                 pk_smooth_box_t box, arena_t *a, pk_plan_t *out)
{
    int rc = smooth_scheme(vt, p);
    return rc < 0 ? rc : protected_fragment(vt, k, FMT_SMOOTH, p, box == PK_SMOOTH_PIFF, a, out);
}

int pk_smooth_fragment_protected_size(const pk_vtrack_t *vt, uint32_t k, const pk_protect_t *p,
                                      pk_smooth_box_t box, uint64_t *size)
{
    uint64_t hdr, payload;
    int rc = smooth_scheme(vt, p);
    if (rc < 0 ||
        (rc = protected_size(vt, k, FMT_SMOOTH, p, box == PK_SMOOTH_PIFF, &hdr, &payload)) < 0)
        return rc;
    *size = hdr + payload;
    return 0;
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

/* 23001-7 8.1 / 14496-12 8.12: what an encrypted sample entry carries in its
 * sinf. frma: the entry's original type. schm: the scheme, version 1.0. tenc:
 * version 0 for cenc; version 1 for a pattern scheme (cbcs), with
 * crypt_byte_block:skip_byte_block in the second byte; with Per_Sample_IV_Size
 * 0 the constant IV follows the KID (23001-7 8.2.2). */
static void write_sinf(wr_t *w, const pk_track_t *t, const pk_protect_t *p)
{
    int pattern = p->scheme == FOURCC('c', 'b', 'c', 's');
    size_t sinf = box_open(w, FOURCC('s', 'i', 'n', 'f'));
    size_t b = box_open(w, FOURCC('f', 'r', 'm', 'a'));
    wr_u32(w, t->fourcc);
    box_close(w, b);
    b = box_open_full(w, FOURCC('s', 'c', 'h', 'm'), 0, 0);
    wr_u32(w, p->scheme);
    wr_u32(w, 0x00010000);                          /* scheme_version 1.0 */
    box_close(w, b);
    size_t schi = box_open(w, FOURCC('s', 'c', 'h', 'i'));
    b = box_open_full(w, FOURCC('t', 'e', 'n', 'c'), pattern ? 1 : 0, 0);
    wr_u8(w, 0);                                    /* reserved */
    wr_u8(w, pattern ? (uint8_t)((p->crypt_blocks & 15) << 4 | (p->skip_blocks & 15)) : 0);
    wr_u8(w, 1);                                    /* default_isProtected */
    wr_u8(w, p->iv_size);
    wr_bytes(w, p->kid, sizeof p->kid);
    if (!p->iv_size) {
        wr_u8(w, sizeof p->constant_iv);            /* default_constant_IV_size */
        wr_bytes(w, p->constant_iv, sizeof p->constant_iv);
    }
    box_close(w, b);
    box_close(w, schi);
    box_close(w, sinf);
}

/* The source's sample entry, verbatim: codec config, pasp, colr, btrt as the
 * encoder wrote them. Encrypted (14496-12 8.12.1): renamed encv (video) or enca
 * (audio), the sinf appended after its children, its size grown by as much. */
static void write_stsd(wr_t *w, const pk_track_t *t, const pk_protect_t *p)
{
    size_t b = box_open_full(w, FOURCC('s', 't', 's', 'd'), 0, 0);
    wr_u32(w, t->entry_size ? 1 : 0);
    if (!p || t->entry_size < 8) {
        wr_bytes(w, t->entry, t->entry_size);
    } else {
        /* a 64-bit size (size 1, 14496-12 4.2) is never needed for a sample
         * entry; the body starts after whichever header the source used */
        rd_t r = rd_init(t->entry, t->entry_size);
        size_t hdr = rd_u32(&r) == 1 ? 16 : 8;
        if (hdr > t->entry_size)
            hdr = t->entry_size;
        size_t e = box_open(w, t->type == PK_TRACK_AUDIO ? FOURCC('e', 'n', 'c', 'a')
                                                         : FOURCC('e', 'n', 'c', 'v'));
        wr_bytes(w, t->entry + hdr, t->entry_size - hdr);
        write_sinf(w, t, p);
        box_close(w, e);
    }
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

static void write_stbl(wr_t *w, const pk_track_t *t, const pk_protect_t *p)
{
    size_t b = box_open(w, FOURCC('s', 't', 'b', 'l'));
    write_stsd(w, t, p);
    write_empty_table(w, FOURCC('s', 't', 't', 's'));
    write_empty_table(w, FOURCC('s', 't', 's', 'c'));
    write_empty_table(w, FOURCC('s', 't', 's', 'z'));
    write_empty_table(w, FOURCC('s', 't', 'c', 'o'));
    box_close(w, b);
}

static void write_trak(wr_t *w, const pk_vtrack_t *vt, const pk_protect_t *p)
{
    size_t trak = box_open(w, FOURCC('t', 'r', 'a', 'k'));
    write_tkhd(w, vt->t);
    size_t mdia = box_open(w, FOURCC('m', 'd', 'i', 'a'));
    write_mdhd(w, vt);
    write_hdlr(w, vt->t);
    size_t minf = box_open(w, FOURCC('m', 'i', 'n', 'f'));
    write_media_header(w, vt->t);
    write_dinf(w);
    write_stbl(w, vt->t, p);
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

/* No edit list: the output timeline already applies the source's (view.h).
 * The pssh boxes (23001-7 8.1.1: in moov or moof) go last in moov, after mvex:
 * where 23000-19's CMAF header table lists them and shaka-packager writes them. */
static void init(const pk_vtrack_t *vt, const pk_protect_t *p, wr_t *w)
{
    write_ftyp(w);
    size_t moov = box_open(w, FOURCC('m', 'o', 'o', 'v'));
    write_mvhd(w, vt->t);
    write_trak(w, vt, p);
    write_mvex(w);
    for (uint32_t i = 0; p && i < p->pssh_count; i++)
        wr_bytes(w, p->pssh[i].data, p->pssh[i].len);
    box_close(w, moov);
}

void pk_cmaf_init(const pk_vtrack_t *vt, wr_t *w)
{
    init(vt, NULL, w);
}

void pk_cmaf_init_protected(const pk_vtrack_t *vt, const pk_protect_t *p, wr_t *w)
{
    init(vt, p, w);
}
