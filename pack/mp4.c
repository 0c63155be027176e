/*
 * ISO-BMFF reader (ISO/IEC 14496-12), see mp4.h.
 *
 * One walk over the top-level boxes (one 16-byte read each) finds the moov and
 * loads every moof; then moov is parsed into tracks with their progressive sample
 * tables (stbl), and the moofs, if any, are scanned twice: a counting pass sizes
 * each track's tables exactly, a filling pass writes them. Loaded boxes live in
 * malloc'd buffers freed before returning, so the arena holds only the result:
 * 16 bytes per sample, the runs, the sync list and a copy of each sample entry.
 *
 * Every count is checked against the bytes of the box that holds it before any
 * allocation, and every sample against the end of the file. Each error is logged
 * once, as "FILE: BOX/PATH at OFFSET: what is wrong".
 */
#include "mp4.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"

/* The deepest path the reader descends: moov/trak/mdia/minf/stbl/stsd/<entry>. */
#define MAX_DEPTH 8

/*
 * Largest decode time, edit-list media_time and empty edit the reader accepts (ticks of the
 * track's timescale; 2^60 is 3 600 years at 10 MHz, where live encoders' epoch-based tfdt
 * are near 2^54). The model then computes presentation times (pack/media.c:
 * dts - media_time + empty_edit + cto, in int64) and output times without overflow: a
 * tfdt of 2^63 from a fuzzed file overflowed pk_track_pts (tests/fuzz/regress/mp4).
 */
#define MAX_TIME (1ull << 60)

/* 14496-12 8.8.7.1 tf_flags */
#define TFHD_BASE_DATA_OFFSET   0x000001u
#define TFHD_SDI                0x000002u
#define TFHD_DEFAULT_DURATION   0x000008u
#define TFHD_DEFAULT_SIZE       0x000010u
#define TFHD_DEFAULT_FLAGS      0x000020u
#define TFHD_BASE_IS_MOOF       0x020000u
/* 14496-12 8.8.8.1 tr_flags */
#define TRUN_DATA_OFFSET        0x000001u
#define TRUN_FIRST_FLAGS        0x000004u
#define TRUN_DURATION           0x000100u
#define TRUN_SIZE               0x000200u
#define TRUN_FLAGS              0x000400u
#define TRUN_CTO                0x000800u
/* 14496-12 8.8.3.1 sample_flags: sample_is_non_sync_sample */
#define SAMPLE_NON_SYNC         0x010000u

/* A trun with neither a size table nor a default size describes empty samples that
 * cost no box bytes; cap them so a 20-byte box cannot ask for 2^32 table slots. */
#define MAX_EMPTY_SAMPLES       0x10000u

/* A box inside a loaded buffer (or, at top level, just its header). */
typedef struct {
    uint32_t type;
    uint32_t index;             /* 1-based among same-type siblings (trak, moof, traf), else 0 */
    uint64_t off;               /* file offset of the box header */
    const uint8_t *start;       /* the whole box, `size` bytes, header included; NULL: absent */
    size_t size;
    rd_t body;                  /* the payload after the header */
} box_t;

/* One level of the box path named in error lines. */
typedef struct {
    uint32_t type, index;
    uint64_t off;
} frame_t;

/* Where the fragment scan stands in one track: counts, and the run being extended. */
typedef struct {
    uint32_t n;                 /* samples so far */
    uint32_t runs;              /* runs so far */
    uint32_t syncs;             /* sync samples so far */
    uint64_t next_dts;          /* decode time where the last sample ends, media timescale */
    uint32_t delta;             /* sample duration of runs[runs - 1] */
    int open;                   /* runs[runs - 1] exists and may take more samples */
} tally_t;

/* What the reader keeps of one trak while parsing; not part of the result. */
typedef struct {
    pk_track_t *t;              /* the model's track; NULL when the track is skipped */
    uint32_t id;                /* tkhd track_ID */
    uint32_t def_duration, def_size, def_flags;    /* trex (8.8.3) */
    tally_t tally;              /* fragment scan of the current pass */
    tally_t counted;            /* result of the counting pass */
    pk_sample_t *samples;       /* filling pass targets: [counted.n] */
    pk_run_t *runs;             /* [counted.runs] */
    uint32_t *sync;             /* [counted.syncs], NULL when every sample is sync */
} trak_t;

/* The moof boxes of the file, loaded back to back. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    struct moof_at {
        uint64_t off;           /* file offset of the moof */
        size_t at, size;        /* where in buf, whole box */
    } *list;
    size_t n, list_cap;
} moofs_t;

typedef struct {
    const pk_source_t *src;
    arena_t *a;
    pk_media_t *m;
    trak_t *traks;              /* [trak_count], malloc'd */
    uint32_t trak_count;
    const uint8_t *buf;         /* the buffer being parsed */
    uint64_t buf_off;           /* file offset of buf[0] */
    int depth;                  /* boxes on the path; only the first MAX_DEPTH are named */
    frame_t path[MAX_DEPTH];
} ctx_t;

/* ---- error lines ------------------------------------------------------- */

static const char *src_name(const ctx_t *c)
{
    return c->src->name ? c->src->name : "(source)";
}

/* Formats the current path, plus `leaf` when given: "moov/trak[2]/mdia". */
static void path_format(const ctx_t *c, const box_t *leaf, char *out, size_t cap)
{
    frame_t frames[MAX_DEPTH + 1];
    int n = c->depth < MAX_DEPTH ? c->depth : MAX_DEPTH;
    size_t len = 0;

    memcpy(frames, c->path, (size_t)n * sizeof *frames);
    if (leaf)
        frames[n++] = (frame_t){ leaf->type, leaf->index, leaf->off };
    out[0] = '\0';
    for (int i = 0; i < n && len < cap; i++) {
        char fcc[5];
        int k = snprintf(out + len, cap - len, "%s%s", i ? "/" : "",
                         fourcc_str(frames[i].type, fcc));
        if (k > 0)
            len += (size_t)k;
        if (frames[i].index && len < cap && (k = snprintf(out + len, cap - len, "[%u]",
                                                          frames[i].index)) > 0)
            len += (size_t)k;
    }
}

/* Logs one error line naming the file, the box path (plus `leaf`) and the offset of
 * the innermost box; returns rc. */
__attribute__((format(printf, 4, 5)))
static int report(const ctx_t *c, const box_t *leaf, int rc, const char *fmt, ...)
{
    char path[192], msg[512];
    va_list ap;
    uint64_t off = 0;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (leaf)
        off = leaf->off;
    else if (c->depth > 0)
        off = c->path[(c->depth < MAX_DEPTH ? c->depth : MAX_DEPTH) - 1].off;
    path_format(c, leaf, path, sizeof path);
    if (path[0])
        PK_ERROR("%s: %s at %" PRIu64 ": %s", src_name(c), path, off, msg);
    else
        PK_ERROR("%s: %s", src_name(c), msg);
    return rc;
}

#define bad(c, leaf, ...) report(c, leaf, -EBADMSG, __VA_ARGS__)

/* The common complaint about a table box: its count does not fit its bytes. */
static int bad_count(const ctx_t *c, const box_t *b, uint64_t count, const rd_t *r)
{
    return bad(c, b, "%" PRIu64 " entries but the box holds %zu bytes", count, rd_left(r));
}

static int bad_short(const ctx_t *c, const box_t *b)
{
    return bad(c, b, "box too short (%zu bytes)", rd_left(&b->body));
}

/* The path of the box being parsed. Error returns skip pop(): the first error ends
 * the parse, and only the success and skip paths need the path restored. */
static void push(ctx_t *c, const box_t *b)
{
    if (c->depth < MAX_DEPTH)
        c->path[c->depth] = (frame_t){ b->type, b->index, b->off };
    c->depth++;
}

static void pop(ctx_t *c)
{
    c->depth--;
}

static int src_read(const ctx_t *c, void *buf, size_t len, uint64_t off)
{
    int rc = c->src->read(c->src->ctx, buf, len, off);
    if (rc < 0)
        PK_ERROR("%s: reading %zu bytes at %" PRIu64 ": %s", src_name(c), len, off,
                 strerror(-rc));
    return rc;
}

/* ---- boxes ------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/*
 * 14496-12 4.2: takes the next child box of a container whose payload is `parent`.
 * Returns 1 and sets *b, 0 when the parent is done, or -EBADMSG. Size 0 ("to the
 * end of the file") is legal only at top level, which walk() reads on its own.
 */
static int next_box(const ctx_t *c, rd_t *parent, box_t *b)
{
    const uint8_t *p = parent->p;
    size_t left = rd_left(parent);
    box_t h = { .off = c->buf_off + (uint64_t)(p - c->buf), .start = p };

    if (left == 0)
        return 0;
    if (left < 8) {
        /* QuickTime ends some containers (udta) with a 32-bit zero terminator */
        for (size_t i = 0; i < left; i++)
            if (p[i])
                return bad(c, NULL, "%zu stray bytes at %" PRIu64, left, h.off);
        parent->p = parent->end;
        return 0;
    }
    rd_t r = rd_init(p, left);
    uint64_t size = rd_u32(&r);
    size_t hdr = 8;
    h.type = rd_u32(&r);
    if (size == 1) {
        size = rd_u64(&r);
        hdr = 16;
        if (r.err)
            return bad(c, &h, "64-bit size cut short (%zu bytes left)", left);
    } else if (size == 0) {
        return bad(c, &h, "size 0 (to the end of the file) inside another box");
    }
    if (size < hdr)
        return bad(c, &h, "size %" PRIu64 " is smaller than its header", size);
    if (size > left)
        return bad(c, &h, "size %" PRIu64 " runs past its parent (%zu bytes left)", size,
                   left);
    h.size = (size_t)size;
    h.body = rd_init(p + hdr, h.size - hdr);
    parent->p += h.size;
    *b = h;
    return 1;
}

/* Sets *slot to b if it is the first box of its kind; a second one is an error. */
static int take_once(const ctx_t *c, box_t *slot, const box_t *b)
{
    char fcc[5];
    if (slot->start)
        return bad(c, b, "second %s box", fourcc_str(b->type, fcc));
    *slot = *b;
    return 0;
}

/* Reads version and flags of a full box; *version > max is an error. */
static int full_box(const ctx_t *c, const box_t *b, rd_t *r, unsigned max, uint8_t *version,
                    uint32_t *flags)
{
    *r = b->body;
    *version = rd_u8(r);
    uint32_t f = rd_u24(r);
    if (flags)
        *flags = f;
    if (r->err)
        return bad_short(c, b);
    if (*version > max)
        return bad(c, b, "version %u", *version);
    return 0;
}

/* ---- movie and track headers ------------------------------------------- */

static int parse_mvhd(ctx_t *c, const box_t *b)
{
    rd_t r;
    uint8_t v;
    int rc = full_box(c, b, &r, 1, &v, NULL);
    if (rc < 0)
        return rc;
    rd_skip(&r, v == 1 ? 16 : 8);               /* creation, modification time */
    c->m->movie_timescale = rd_u32(&r);
    c->m->movie_duration = v == 1 ? rd_u64(&r) : rd_u32(&r);
    if (r.err)
        return bad_short(c, b);
    if (c->m->movie_timescale == 0)
        return bad(c, b, "timescale 0");
    return 0;
}

static int parse_tkhd(ctx_t *c, const box_t *b, uint32_t *id)
{
    rd_t r;
    uint8_t v;
    int rc = full_box(c, b, &r, 1, &v, NULL);
    if (rc < 0)
        return rc;
    rd_skip(&r, v == 1 ? 16 : 8);               /* creation, modification time */
    *id = rd_u32(&r);
    if (r.err)
        return bad_short(c, b);
    if (*id == 0)
        return bad(c, b, "track_ID 0");
    for (uint32_t i = 0; i < c->trak_count; i++)
        if (c->traks[i].id == *id)
            return bad(c, b, "track_ID %u used twice", *id);
    return 0;
}

/* 14496-12 8.4.2.3: three 5-bit letters, each + 0x60; anything else is "und". */
static void lang_decode(uint16_t v, char out[4])
{
    v &= 0x7fff;
    for (int i = 0; i < 3; i++) {
        int ch = (v >> (10 - 5 * i) & 0x1f) + 0x60;
        if (ch < 'a' || ch > 'z') {
            memcpy(out, "und", 4);
            return;
        }
        out[i] = (char)ch;
    }
    out[3] = '\0';
}

static int parse_mdhd(ctx_t *c, const box_t *b, pk_track_t *t)
{
    rd_t r;
    uint8_t v;
    int rc = full_box(c, b, &r, 1, &v, NULL);
    if (rc < 0)
        return rc;
    rd_skip(&r, v == 1 ? 16 : 8);               /* creation, modification time */
    t->timescale = rd_u32(&r);
    rd_skip(&r, v == 1 ? 8 : 4);                /* duration: ours comes from the samples */
    lang_decode(rd_u16(&r), t->lang);
    if (r.err)
        return bad_short(c, b);
    if (t->timescale == 0)
        return bad(c, b, "timescale 0");
    return 0;
}

/* The track type of a handler, or 0 for tracks we do not serve (tmcd, hint, meta). */
static pk_track_type_t handler_type(uint32_t handler)
{
    switch (handler) {
    case FOURCC('v','i','d','e'): return PK_TRACK_VIDEO;
    case FOURCC('s','o','u','n'): return PK_TRACK_AUDIO;
    case FOURCC('t','e','x','t'):
    case FOURCC('s','u','b','t'):
    case FOURCC('s','b','t','l'): return PK_TRACK_TEXT;
    }
    return 0;
}

/*
 * 14496-12 8.6.6: leading empty edits (media_time -1, durations in the movie
 * timescale) become empty_edit, the first real edit gives media_time. Later edits
 * (splices) are beyond the model and ignored.
 */
static int parse_elst(ctx_t *c, const box_t *b, pk_track_t *t)
{
    rd_t r;
    uint8_t v;
    int rc = full_box(c, b, &r, 1, &v, NULL);
    if (rc < 0)
        return rc;
    uint32_t n = rd_u32(&r);
    size_t esize = v == 1 ? 20 : 12;
    if (r.err)
        return bad_short(c, b);
    if (n > rd_left(&r) / esize)
        return bad_count(c, b, n, &r);
    unsigned __int128 empty = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t segment = v == 1 ? rd_u64(&r) : rd_u32(&r);
        int64_t media_time = v == 1 ? (int64_t)rd_u64(&r) : (int32_t)rd_u32(&r);
        rd_skip(&r, 4);                         /* media_rate */
        if (media_time == -1) {
            empty += segment;
            continue;
        }
        if (media_time < 0 || (uint64_t)media_time >= MAX_TIME)
            return bad(c, b, "edit %u: media_time %" PRId64, i + 1, media_time);
        t->media_time = (uint64_t)media_time;
        if (i + 1 < n)
            PK_DEBUG("%s: track %u: %u edits after the first ignored", src_name(c), t->id,
                     n - i - 1);
        break;
    }
    /* rounded to nearest, as FFmpeg's av_rescale does, so pts agree with ffprobe */
    empty = (empty * t->timescale + c->m->movie_timescale / 2) / c->m->movie_timescale;
    if (empty >= MAX_TIME)
        return bad(c, b, "empty edits of %" PRIu64 " ticks", empty > UINT64_MAX ? UINT64_MAX
                   : (uint64_t)empty);
    t->empty_edit = (uint64_t)empty;
    return 0;
}

static int parse_edts(ctx_t *c, const box_t *edts, pk_track_t *t)
{
    box_t b;
    rd_t r = edts->body;
    int rc;
    push(c, edts);
    while ((rc = next_box(c, &r, &b)) > 0)
        if (b.type == FOURCC('e','l','s','t')) {
            rc = parse_elst(c, &b, t);
            break;
        }
    pop(c);
    return rc < 0 ? rc : 0;
}

/* ---- sample tables ----------------------------------------------------- */

typedef struct {
    box_t stsd, stts, ctts, stss, stsz, stsc, stco;     /* stsz: or stz2; stco: or co64 */
} stbl_t;

/* The sizes of stsz/stz2: uniform, or a table of `bits`-bit fields. */
typedef struct {
    uint32_t n, uniform;
    unsigned bits;
    const uint8_t *table;
} sizes_t;

static uint32_t size_at(const sizes_t *s, uint32_t i)
{
    switch (s->bits) {
    case 32: return be32(s->table + (size_t)i * 4);
    case 16: return (uint32_t)s->table[(size_t)i * 2] << 8 | s->table[(size_t)i * 2 + 1];
    case 8: return s->table[i];
    }
    return s->table[i / 2] >> (i & 1 ? 0 : 4) & 0xf;
}

/* 8.7.3: stsz (uniform size or 32-bit table) and stz2 (4-, 8- or 16-bit table). */
static int parse_sizes(ctx_t *c, const box_t *b, sizes_t *s)
{
    rd_t r;
    uint8_t v;
    int rc;
    *s = (sizes_t){ 0 };
    if (!b->start)
        return 0;                               /* no stsz: no samples */
    if ((rc = full_box(c, b, &r, 0, &v, NULL)) < 0)
        return rc;
    if (b->type == FOURCC('s','t','s','z')) {
        s->uniform = rd_u32(&r);
        s->n = rd_u32(&r);
        s->bits = 32;
    } else {
        rd_skip(&r, 3);                         /* reserved */
        s->bits = rd_u8(&r);
        s->n = rd_u32(&r);
        if (!r.err && s->bits != 4 && s->bits != 8 && s->bits != 16)
            return bad(c, b, "field_size %u", s->bits);
    }
    if (r.err)
        return bad_short(c, b);
    if (s->uniform) {
        /* every sample must lie in the file: bounds n before the table is allocated */
        if ((uint64_t)s->n * s->uniform > c->src->size)
            return bad(c, b, "%u samples of %u bytes do not fit in the file (%" PRIu64
                       " bytes)", s->n, s->uniform, c->src->size);
        return 0;
    }
    if (((uint64_t)s->n * s->bits + 7) / 8 > rd_left(&r))
        return bad_count(c, b, s->n, &r);
    s->table = r.p;
    return 0;
}

/* A table box's entry count, checked against its bytes; *p points at the entries. */
static int table(const ctx_t *c, const box_t *b, size_t entry_size, uint32_t *n,
                 const uint8_t **p, uint8_t *version)
{
    rd_t r;
    uint8_t v;
    int rc;
    *n = 0;
    *p = NULL;
    if (!b->start)
        return 0;
    if ((rc = full_box(c, b, &r, version ? 1 : 0, &v, NULL)) < 0)
        return rc;
    if (version)
        *version = v;
    *n = rd_u32(&r);
    if (r.err)
        return bad_short(c, b);
    if (*n > rd_left(&r) / entry_size)
        return bad_count(c, b, *n, &r);
    *p = r.p;
    return 0;
}

/* 8.7.4 and 8.7.5: sample positions from stsc (samples per chunk) and stco/co64. */
static int build_positions(ctx_t *c, const stbl_t *s, const sizes_t *sz, pk_sample_t *out)
{
    uint32_t chunks, entries;
    const uint8_t *co, *sc;
    int co64 = s->stco.type == FOURCC('c','o','6','4');
    int rc;

    if ((rc = table(c, &s->stco, co64 ? 8 : 4, &chunks, &co, NULL)) < 0 ||
        (rc = table(c, &s->stsc, 12, &entries, &sc, NULL)) < 0)
        return rc;
    for (uint32_t e = 0; e < entries; e++) {
        uint32_t first = be32(sc + e * 12), spc = be32(sc + e * 12 + 4);
        if (first == 0 || (e && first <= be32(sc + (e - 1) * 12)))
            return bad(c, &s->stsc, "entry %u: first_chunk %u (must be >= 1 and increasing)",
                       e + 1, first);
        if (first > chunks)
            return bad(c, &s->stsc, "entry %u: first_chunk %u but the chunk offset table "
                       "has %u chunks", e + 1, first, chunks);
        if (spc == 0)
            return bad(c, &s->stsc, "entry %u: samples_per_chunk 0", e + 1);
    }
    uint64_t fsize = c->src->size;
    uint32_t i = 0;
    for (uint32_t e = 0; e < entries && i < sz->n; e++) {
        uint32_t spc = be32(sc + e * 12 + 4);
        uint32_t end = e + 1 < entries ? be32(sc + (e + 1) * 12) : chunks + 1;
        for (uint32_t k = be32(sc + e * 12); k < end && i < sz->n; k++) {
            uint64_t pos = co64 ? be64(co + (size_t)(k - 1) * 8) : be32(co + (size_t)(k - 1) * 4);
            for (uint32_t j = 0; j < spc && i < sz->n; j++, i++) {
                uint32_t size = sz->uniform ? sz->uniform : size_at(sz, i);
                if (pos > fsize || size > fsize - pos)
                    return bad(c, &s->stco, "sample %u (chunk %u) at %" PRIu64 " + %u bytes "
                               "runs past the end of the file (%" PRIu64 " bytes)",
                               i + 1, k, pos, size, fsize);
                out[i].pos = pos;
                out[i].size = size;
                out[i].cto = 0;
                pos += size;
            }
        }
    }
    if (i < sz->n)
        return bad(c, &s->stsc, "chunks hold %u samples, the sample size table %u", i, sz->n);
    return 0;
}

/* 8.6.1.2: stts entries become runs (equal neighbours merged); their counts must add
 * up to the sample count exactly. */
static int build_runs(ctx_t *c, const stbl_t *s, pk_track_t *t)
{
    uint32_t entries, runs = 0, prev = 0;
    const uint8_t *p;
    uint64_t total = 0;
    int rc = table(c, &s->stts, 8, &entries, &p, NULL);
    if (rc < 0)
        return rc;
    for (uint32_t e = 0; e < entries; e++) {
        uint32_t count = be32(p + e * 8), delta = be32(p + e * 8 + 4);
        total += count;
        if (count && (!runs || delta != prev)) {
            runs++;
            prev = delta;
        }
    }
    if (total != t->sample_count)
        return bad(c, s->stts.start ? &s->stts : NULL, "durations for %" PRIu64
                   " samples, the sample size table has %u", total, t->sample_count);
    if (!runs)
        return 0;
    pk_run_t *out = arena_alloc(c->a, (size_t)runs * sizeof *out);
    if (!out)
        return -ENOMEM;
    uint64_t dts = 0;
    uint32_t r = 0, first = 0;
    for (uint32_t e = 0; e < entries; e++) {
        uint32_t count = be32(p + e * 8), delta = be32(p + e * 8 + 4);
        if (!count)
            continue;
        if (r && out[r - 1].delta == delta) {
            out[r - 1].count += count;
        } else {
            out[r++] = (pk_run_t){ .dts = dts, .first = first, .count = count, .delta = delta };
        }
        first += count;
        if ((uint64_t)count * delta >= MAX_TIME - dts)    /* see MAX_TIME; dts < MAX_TIME */
            return bad(c, &s->stts, "entry %u: decode time past %llu", e + 1, MAX_TIME);
        dts += (uint64_t)count * delta;
    }
    t->runs = out;
    t->run_count = runs;
    return 0;
}

/* 8.6.1.3: composition offsets. Version 1 offsets are signed; version 0 ones are
 * unsigned, but muxers write negative values there too, so both are read as int32
 * (as FFmpeg does): an unsigned offset past 2^31 ticks is not plausible anyway. */
static int build_cto(ctx_t *c, const stbl_t *s, pk_track_t *t, pk_sample_t *out)
{
    uint32_t entries, i = 0;
    const uint8_t *p;
    uint8_t v;
    uint64_t total = 0;
    int rc = table(c, &s->ctts, 8, &entries, &p, &v);
    if (rc < 0)
        return rc;
    for (uint32_t e = 0; e < entries; e++)
        total += be32(p + e * 8);
    if (total > t->sample_count)
        return bad(c, &s->ctts, "offsets for %" PRIu64 " samples, the track has %u", total,
                   t->sample_count);
    for (uint32_t e = 0; e < entries; e++) {
        uint32_t count = be32(p + e * 8);
        int32_t cto = (int32_t)be32(p + e * 8 + 4);
        for (uint32_t k = 0; k < count; k++)
            out[i++].cto = cto;
    }
    return 0;
}

/* 8.6.2: sync samples, 1-based and increasing. No stss: every sample is sync. */
static int build_sync(ctx_t *c, const stbl_t *s, pk_track_t *t)
{
    uint32_t entries;
    const uint8_t *p;
    int rc = table(c, &s->stss, 4, &entries, &p, NULL);
    if (rc < 0)
        return rc;
    t->sync = NULL;
    t->sync_count = t->sample_count;
    if (!s->stss.start)
        return 0;
    for (uint32_t e = 0; e < entries; e++) {
        uint32_t k = be32(p + e * 4);
        if (k == 0 || k > t->sample_count || (e && k <= be32(p + (e - 1) * 4)))
            return bad(c, &s->stss, "entry %u: sample %u (track has %u, must increase)",
                       e + 1, k, t->sample_count);
    }
    if (entries == t->sample_count)
        return 0;                               /* lists every sample */
    uint32_t *sync = arena_alloc(c->a, (size_t)entries * sizeof *sync);
    if (!sync)
        return -ENOMEM;
    for (uint32_t e = 0; e < entries; e++)
        sync[e] = be32(p + e * 4) - 1;
    t->sync = sync;
    t->sync_count = entries;
    return 0;
}

/*
 * 8.5.2: the first sample entry of stsd, parsed by pk_codec_parse_entry and copied
 * into the arena. Returns 0, 1 when the codec is unknown (track skipped), or <0.
 */
static int parse_stsd(ctx_t *c, const box_t *b, pk_track_t *t)
{
    rd_t r;
    uint8_t v;
    box_t e;
    char fcc[5];
    int rc = full_box(c, b, &r, 0, &v, NULL);
    if (rc < 0)
        return rc;
    uint32_t n = rd_u32(&r);
    if (r.err)
        return bad_short(c, b);
    if (n == 0)
        return bad(c, b, "no sample entry");
    push(c, b);
    rc = next_box(c, &r, &e);
    if (rc == 0)
        rc = bad(c, NULL, "%u entries but the box holds none", n);
    if (rc < 0)
        return rc;
    rc = pk_codec_parse_entry(e.start, e.size, t);
    if (rc == -ENOTSUP) {
        char path[192];
        path_format(c, &e, path, sizeof path);
        PK_WARN("%s: %s: sample entry '%s' not supported, track %u skipped", src_name(c),
                path, fourcc_str(e.type, fcc), t->id);
        rc = 1;
    } else if (rc == -EBADMSG) {
        rc = bad(c, &e, "malformed '%s' sample entry for a %s track",
                 fourcc_str(e.type, fcc), pk_track_type_name(t->type));
    } else if (rc == 0) {
        uint8_t *copy = arena_alloc(c->a, e.size);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, e.start, e.size);
        t->entry = copy;
        t->entry_size = (uint32_t)e.size;
    }
    pop(c);
    return rc;
}

/* 8.5: the sample entry, then the tables. Returns 0, 1 (track skipped) or <0. */
static int parse_stbl(ctx_t *c, const box_t *stbl, pk_track_t *t)
{
    stbl_t s = { 0 };
    sizes_t sz;
    box_t b;
    rd_t r = stbl->body;
    int rc;

    push(c, stbl);
    while ((rc = next_box(c, &r, &b)) > 0) {
        box_t *slot = NULL;
        switch (b.type) {
        case FOURCC('s','t','s','d'): slot = &s.stsd; break;
        case FOURCC('s','t','t','s'): slot = &s.stts; break;
        case FOURCC('c','t','t','s'): slot = &s.ctts; break;
        case FOURCC('s','t','s','s'): slot = &s.stss; break;
        case FOURCC('s','t','s','z'):
        case FOURCC('s','t','z','2'): slot = &s.stsz; break;
        case FOURCC('s','t','s','c'): slot = &s.stsc; break;
        case FOURCC('s','t','c','o'):
        case FOURCC('c','o','6','4'): slot = &s.stco; break;
        }
        if (slot && (rc = take_once(c, slot, &b)) < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (!s.stsd.start)
        return bad(c, NULL, "no stsd");
    if ((rc = parse_stsd(c, &s.stsd, t)) != 0)
        return rc;
    if ((rc = parse_sizes(c, &s.stsz, &sz)) < 0)
        return rc;
    t->sample_count = sz.n;
    pk_sample_t *samples = NULL;
    if (sz.n && !(samples = arena_alloc(c->a, (size_t)sz.n * sizeof *samples)))
        return -ENOMEM;
    if ((rc = build_positions(c, &s, &sz, samples)) < 0 ||
        (rc = build_runs(c, &s, t)) < 0 ||
        (rc = build_cto(c, &s, t, samples)) < 0 ||
        (rc = build_sync(c, &s, t)) < 0)
        return rc;
    t->samples = samples;
    pop(c);
    return 0;
}

/* Finds the first child of `parent` of the given type; returns 1, 0 or <0. */
static int find_child(const ctx_t *c, const box_t *parent, uint32_t type, box_t *out)
{
    rd_t r = parent->body;
    int rc;
    while ((rc = next_box(c, &r, out)) > 0)
        if (out->type == type)
            return 1;
    return rc;
}

/* 8.4: hdlr decides whether we want the track, mdhd gives time, minf/stbl the rest.
 * Returns 0, 1 (track skipped) or <0. */
static int parse_mdia(ctx_t *c, const box_t *mdia, pk_track_t *t)
{
    box_t mdhd = { 0 }, hdlr = { 0 }, minf = { 0 }, stbl, b;
    rd_t r = mdia->body;
    int rc;

    push(c, mdia);
    while ((rc = next_box(c, &r, &b)) > 0) {
        if (b.type == FOURCC('m','d','h','d'))
            rc = take_once(c, &mdhd, &b);
        else if (b.type == FOURCC('h','d','l','r'))
            rc = take_once(c, &hdlr, &b);
        else if (b.type == FOURCC('m','i','n','f'))
            rc = take_once(c, &minf, &b);
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (!hdlr.start || !mdhd.start || !minf.start)
        return bad(c, NULL, "no %s", !hdlr.start ? "hdlr" : !mdhd.start ? "mdhd" : "minf");

    uint8_t v;
    if ((rc = full_box(c, &hdlr, &r, 0, &v, NULL)) < 0)
        return rc;
    rd_skip(&r, 4);                             /* pre_defined */
    uint32_t handler = rd_u32(&r);
    if (r.err)
        return bad_short(c, &hdlr);
    if (!(t->type = handler_type(handler))) {
        char fcc[5];
        PK_DEBUG("%s: track %u: handler '%s' skipped", src_name(c), t->id,
                 fourcc_str(handler, fcc));
        return 1;
    }
    if ((rc = parse_mdhd(c, &mdhd, t)) < 0)
        return rc;
    push(c, &minf);
    if ((rc = find_child(c, &minf, FOURCC('s','t','b','l'), &stbl)) <= 0)
        return rc < 0 ? rc : bad(c, NULL, "no stbl");
    if ((rc = parse_stbl(c, &stbl, t)) != 0)
        return rc;
    pop(c);
    pop(c);
    return 0;
}

static int parse_trak(ctx_t *c, const box_t *trak, trak_t *k)
{
    box_t tkhd = { 0 }, mdia = { 0 }, edts = { 0 }, b;
    rd_t r = trak->body;
    pk_track_t *t = &c->m->tracks[c->m->track_count];
    int depth = c->depth, rc;

    push(c, trak);
    while ((rc = next_box(c, &r, &b)) > 0) {
        if (b.type == FOURCC('t','k','h','d'))
            rc = take_once(c, &tkhd, &b);
        else if (b.type == FOURCC('m','d','i','a'))
            rc = take_once(c, &mdia, &b);
        else if (b.type == FOURCC('e','d','t','s'))
            rc = take_once(c, &edts, &b);
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (!tkhd.start || !mdia.start)
        return bad(c, NULL, "no %s", !tkhd.start ? "tkhd" : "mdia");
    if ((rc = parse_tkhd(c, &tkhd, &k->id)) < 0)
        return rc;
    c->trak_count++;                            /* its id now counts for duplicates */
    memset(t, 0, sizeof *t);
    t->id = k->id;
    if ((rc = parse_mdia(c, &mdia, t)) < 0)
        return rc;
    if (rc == 1) {
        memset(t, 0, sizeof *t);
        c->depth = depth;
        return 0;
    }
    if (edts.start && (rc = parse_edts(c, &edts, t)) < 0)
        return rc;
    k->t = t;
    c->m->track_count++;
    pop(c);
    return 0;
}

/* 8.8.3: per-track fragment defaults. */
static int parse_mvex(ctx_t *c, const box_t *mvex)
{
    box_t b;
    rd_t r = mvex->body, f;
    uint8_t v;
    int rc;

    push(c, mvex);
    while ((rc = next_box(c, &r, &b)) > 0) {
        if (b.type == FOURCC('t','r','e','x')) {
            if ((rc = full_box(c, &b, &f, 0, &v, NULL)) < 0)
                return rc;
            uint32_t id = rd_u32(&f);
            rd_skip(&f, 4);                     /* default_sample_description_index */
            uint32_t duration = rd_u32(&f), size = rd_u32(&f), flags = rd_u32(&f);
            if (f.err)
                return bad_short(c, &b);
            for (uint32_t i = 0; i < c->trak_count; i++)
                if (c->traks[i].id == id) {
                    c->traks[i].def_duration = duration;
                    c->traks[i].def_size = size;
                    c->traks[i].def_flags = flags;
                }
        } else if (b.type == FOURCC('m','e','h','d')) {
            if ((rc = full_box(c, &b, &f, 1, &v, NULL)) < 0)
                return rc;
            uint64_t duration = v == 1 ? rd_u64(&f) : rd_u32(&f);
            if (f.err)
                return bad_short(c, &b);
            if (!c->m->movie_duration)
                c->m->movie_duration = duration;
        }
    }
    pop(c);
    return rc;
}

static int parse_moov(ctx_t *c, const box_t *moov)
{
    box_t mvhd = { 0 }, b;
    rd_t r = moov->body;
    uint32_t traks = 0;
    int rc;

    push(c, moov);
    /* mvhd first: edit lists need the movie timescale, whatever the box order */
    while ((rc = next_box(c, &r, &b)) > 0) {
        if (b.type == FOURCC('m','v','h','d') && (rc = take_once(c, &mvhd, &b)) < 0)
            return rc;
        traks += b.type == FOURCC('t','r','a','k');
    }
    if (rc < 0)
        return rc;
    if (!mvhd.start)
        return bad(c, NULL, "no mvhd");
    if ((rc = parse_mvhd(c, &mvhd)) < 0)
        return rc;
    c->m->tracks = arena_calloc(c->a, traks ? traks : 1, sizeof *c->m->tracks);
    c->traks = calloc(traks ? traks : 1, sizeof *c->traks);
    if (!c->m->tracks || !c->traks)
        return -ENOMEM;
    r = moov->body;
    while ((rc = next_box(c, &r, &b)) > 0)
        if (b.type == FOURCC('t','r','a','k')) {
            b.index = c->trak_count + 1;
            if ((rc = parse_trak(c, &b, &c->traks[c->trak_count])) < 0)
                return rc;
        }
    if (rc < 0)
        return rc;
    r = moov->body;
    while ((rc = next_box(c, &r, &b)) > 0)
        if (b.type == FOURCC('m','v','e','x') && (rc = parse_mvex(c, &b)) < 0)
            return rc;
    pop(c);
    return rc;
}

/* ---- fragments ----------------------------------------------------------- */

static trak_t *trak_by_id(ctx_t *c, uint32_t id)
{
    for (uint32_t i = 0; i < c->trak_count; i++)
        if (c->traks[i].id == id)
            return &c->traks[i];
    return NULL;
}

/* The scan state at the end of a track's progressive samples. */
static tally_t tally_start(const trak_t *k)
{
    tally_t ty = { 0 };
    const pk_track_t *t = k->t;
    if (t && t->run_count) {
        const pk_run_t *last = &t->runs[t->run_count - 1];
        ty.n = t->sample_count;
        ty.runs = t->run_count;
        ty.syncs = t->sync ? t->sync_count : t->sample_count;
        ty.next_dts = last->dts + (uint64_t)last->count * last->delta;
        ty.delta = last->delta;
        ty.open = 1;
    }
    return ty;
}

/* Defaults for the samples of one traf (tfhd over trex). */
typedef struct {
    uint32_t duration, size, flags;
} defaults_t;

/*
 * 8.8.8: one trun. *pos is where its data starts when it has no data_offset (the
 * end of the previous trun, or the base offset) and is left at the end of its data.
 * The counting pass (k->samples == NULL) tallies; the filling pass also writes.
 */
static int scan_trun(ctx_t *c, const box_t *b, trak_t *k, const defaults_t *d, uint64_t base,
                     uint64_t *pos, uint64_t *dts)
{
    rd_t r;
    uint8_t v;
    uint32_t flags, first_flags = 0;
    int rc = full_box(c, b, &r, 1, &v, &flags);
    if (rc < 0)
        return rc;
    uint32_t n = rd_u32(&r);
    int64_t data_offset = flags & TRUN_DATA_OFFSET ? (int32_t)rd_u32(&r) : 0;
    if (flags & TRUN_FIRST_FLAGS)
        first_flags = rd_u32(&r);
    if (r.err)
        return bad_short(c, b);
    size_t per = 4 * (size_t)(!!(flags & TRUN_DURATION) + !!(flags & TRUN_SIZE) +
                              !!(flags & TRUN_FLAGS) + !!(flags & TRUN_CTO));
    if (per ? n > rd_left(&r) / per : n > MAX_EMPTY_SAMPLES && !d->size)
        return bad_count(c, b, n, &r);
    tally_t *ty = &k->tally;
    if ((uint64_t)ty->n + n > UINT32_MAX)
        return bad(c, b, "track %u: more than 2^32 samples", k->id);
    uint64_t fsize = c->src->size, p = *pos;
    if (flags & TRUN_DATA_OFFSET) {
        if ((data_offset < 0 && (uint64_t)-data_offset > base) ||
            base + (uint64_t)data_offset > fsize)
            return bad(c, b, "data_offset %" PRId64 " from %" PRIu64 " is outside the file",
                       data_offset, base);
        p = base + (uint64_t)data_offset;
    }
    if (!(flags & TRUN_SIZE) && (uint64_t)n * d->size > fsize - p)
        return bad(c, b, "%u samples of %u bytes at %" PRIu64 " run past the end of the "
                   "file (%" PRIu64 " bytes)", n, d->size, p, fsize);

    int fill = k->samples != NULL;
    uint64_t t = *dts;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t duration = flags & TRUN_DURATION ? rd_u32(&r) : d->duration;
        uint32_t size = flags & TRUN_SIZE ? rd_u32(&r) : d->size;
        uint32_t sflags = flags & TRUN_FLAGS ? rd_u32(&r) :
                          i == 0 && (flags & TRUN_FIRST_FLAGS) ? first_flags : d->flags;
        /* v1 offsets are signed; v0 ones read as int32 like ctts v0 (see build_cto) */
        int32_t cto = flags & TRUN_CTO ? (int32_t)rd_u32(&r) : 0;
        int sync = !(sflags & SAMPLE_NON_SYNC);
        if (size > fsize - p)
            return bad(c, b, "sample %u at %" PRIu64 " + %u bytes runs past the end of the "
                       "file (%" PRIu64 " bytes)", i + 1, p, size, fsize);
        if (!ty->open || duration != ty->delta || t != ty->next_dts) {
            /* a new duration, or a decode time jump (tfdt) */
            if (fill) {
                if (ty->runs >= k->counted.runs)
                    return bad(c, b, "track %u: runs changed between passes", k->id);
                k->runs[ty->runs] = (pk_run_t){ .dts = t, .first = ty->n, .delta = duration };
            }
            ty->runs++;
            ty->open = 1;
            ty->delta = duration;
        }
        if (fill) {
            if (ty->n >= k->counted.n || (sync && k->sync && ty->syncs >= k->counted.syncs))
                return bad(c, b, "track %u: samples changed between passes", k->id);
            k->runs[ty->runs - 1].count++;
            k->samples[ty->n] = (pk_sample_t){ .pos = p, .size = size, .cto = cto };
            if (sync && k->sync)
                k->sync[ty->syncs] = ty->n;
        }
        ty->syncs += sync;
        ty->n++;
        t += duration;
        ty->next_dts = t;
        p += size;
        if (t >= MAX_TIME)                      /* t < 2^60 + 2^32: no wrap */
            return bad(c, b, "sample %u ends at decode time %" PRIu64, i + 1, t);
    }
    *pos = p;
    *dts = t;
    return 0;
}

/* 8.8.6: one traf. *data_end is the end of the previous traf's data in this moof
 * (the base offset of a traf without one, in files that predate default-base-is-moof). */
static int scan_traf(ctx_t *c, const box_t *traf, uint64_t moof_off, uint64_t *data_end)
{
    box_t tfhd = { 0 }, tfdt = { 0 }, b;
    rd_t r = traf->body, h;
    uint8_t v;
    uint32_t flags;
    int rc;

    push(c, traf);
    while ((rc = next_box(c, &r, &b)) > 0) {
        if (b.type == FOURCC('t','f','h','d'))
            rc = take_once(c, &tfhd, &b);
        else if (b.type == FOURCC('t','f','d','t'))
            rc = take_once(c, &tfdt, &b);
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (!tfhd.start)
        return bad(c, NULL, "no tfhd");
    if ((rc = full_box(c, &tfhd, &h, 0, &v, &flags)) < 0)
        return rc;
    uint32_t id = rd_u32(&h);
    trak_t *k = trak_by_id(c, id);
    if (h.err)
        return bad_short(c, &tfhd);
    if (!k)
        return bad(c, &tfhd, "track_ID %u is not in moov", id);
    uint64_t base = flags & TFHD_BASE_DATA_OFFSET ? rd_u64(&h) :
                    flags & TFHD_BASE_IS_MOOF ? moof_off : *data_end;
    if (flags & TFHD_SDI)
        rd_skip(&h, 4);                         /* we serve the first sample entry only */
    defaults_t d = { k->def_duration, k->def_size, k->def_flags };
    if (flags & TFHD_DEFAULT_DURATION)
        d.duration = rd_u32(&h);
    if (flags & TFHD_DEFAULT_SIZE)
        d.size = rd_u32(&h);
    if (flags & TFHD_DEFAULT_FLAGS)
        d.flags = rd_u32(&h);
    if (h.err)
        return bad_short(c, &tfhd);
    if (base > c->src->size)
        return bad(c, &tfhd, "base_data_offset %" PRIu64 " is past the end of the file", base);

    uint64_t dts = k->tally.next_dts;           /* without tfdt: where the last one ended */
    if (tfdt.start) {
        if ((rc = full_box(c, &tfdt, &h, 1, &v, NULL)) < 0)
            return rc;
        dts = v == 1 ? rd_u64(&h) : rd_u32(&h);
        if (h.err)
            return bad_short(c, &tfdt);
        if (dts >= MAX_TIME)
            return bad(c, &tfdt, "baseMediaDecodeTime %" PRIu64, dts);
    }
    uint64_t pos = base;
    r = traf->body;
    while ((rc = next_box(c, &r, &b)) > 0)
        if (b.type == FOURCC('t','r','u','n') &&
            (rc = scan_trun(c, &b, k, &d, base, &pos, &dts)) < 0)
            return rc;
    if (rc < 0)
        return rc;
    *data_end = pos;
    pop(c);
    return 0;
}

static int scan_moof(ctx_t *c, const moofs_t *mf, size_t i)
{
    const struct moof_at *at = &mf->list[i];
    box_t moof, b;
    rd_t r = rd_init(mf->buf + at->at, at->size);
    uint32_t trafs = 0;
    int rc;

    c->buf = mf->buf + at->at;
    c->buf_off = at->off;
    if ((rc = next_box(c, &r, &moof)) <= 0)     /* walk() checked the header already */
        return rc < 0 ? rc : -EBADMSG;
    moof.index = (uint32_t)i + 1;
    push(c, &moof);
    /* 8.8.7.1: the first traf of a moof without base_data_offset starts at the moof */
    uint64_t data_end = at->off;
    r = moof.body;
    while ((rc = next_box(c, &r, &b)) > 0)
        if (b.type == FOURCC('t','r','a','f')) {
            b.index = ++trafs;
            if ((rc = scan_traf(c, &b, at->off, &data_end)) < 0)
                return rc;
        }
    pop(c);
    return rc;
}

static int scan_moofs(ctx_t *c, const moofs_t *mf)
{
    int rc;
    for (size_t i = 0; i < mf->n; i++)
        if ((rc = scan_moof(c, mf, i)) < 0)
            return rc;
    return 0;
}

/*
 * Counting pass, exact allocation (progressive samples of the same track first),
 * filling pass. Both passes run the same code over the same bytes, so they agree.
 */
static int read_fragments(ctx_t *c, const moofs_t *mf)
{
    int rc;
    for (uint32_t i = 0; i < c->trak_count; i++)
        c->traks[i].tally = tally_start(&c->traks[i]);
    if ((rc = scan_moofs(c, mf)) < 0)
        return rc;

    int any = 0;
    for (uint32_t i = 0; i < c->trak_count; i++) {
        trak_t *k = &c->traks[i];
        pk_track_t *t = k->t;
        k->counted = k->tally;
        k->tally = tally_start(k);
        if (!t || k->counted.n == t->sample_count)
            continue;
        any = 1;
        k->samples = arena_alloc(c->a, (size_t)k->counted.n * sizeof *k->samples);
        k->runs = arena_alloc(c->a, (size_t)k->counted.runs * sizeof *k->runs);
        if (!k->samples || !k->runs)
            return -ENOMEM;
        if (t->sample_count) {                  /* progressive samples come first */
            memcpy(k->samples, t->samples, (size_t)t->sample_count * sizeof *k->samples);
            memcpy(k->runs, t->runs, (size_t)t->run_count * sizeof *k->runs);
        }
        if (k->counted.syncs != k->counted.n) {
            if (!(k->sync = arena_alloc(c->a, (size_t)k->counted.syncs * sizeof *k->sync)))
                return -ENOMEM;
            if (t->sync)
                memcpy(k->sync, t->sync, (size_t)t->sync_count * sizeof *k->sync);
            else
                for (uint32_t j = 0; j < t->sample_count; j++)
                    k->sync[j] = j;
        }
    }
    if (!any)
        return 0;
    if ((rc = scan_moofs(c, mf)) < 0)
        return rc;
    for (uint32_t i = 0; i < c->trak_count; i++) {
        trak_t *k = &c->traks[i];
        if (!k->samples)
            continue;
        k->t->samples = k->samples;
        k->t->sample_count = k->counted.n;
        k->t->runs = k->runs;
        k->t->run_count = k->counted.runs;
        k->t->sync = k->sync;
        k->t->sync_count = k->counted.syncs;
    }
    c->m->fragmented = 1;
    return 0;
}

/* ---- top level ----------------------------------------------------------- */

/* Appends the moof box at `off` (`size` bytes) to mf. */
static int load_moof(ctx_t *c, moofs_t *mf, const box_t *b)
{
    if (b->size > PK_MP4_MAX_HEADER - mf->len)
        return report(c, b, -ENOTSUP, "moof boxes take more than %u bytes", PK_MP4_MAX_HEADER);
    if (mf->len + b->size > mf->cap) {
        size_t cap = mf->cap ? mf->cap : 64 * 1024;
        while (cap < mf->len + b->size)
            cap *= 2;
        uint8_t *p = realloc(mf->buf, cap);
        if (!p)
            return -ENOMEM;
        mf->buf = p;
        mf->cap = cap;
    }
    if (mf->n == mf->list_cap) {
        size_t cap = mf->list_cap ? mf->list_cap * 2 : 64;
        struct moof_at *p = realloc(mf->list, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        mf->list = p;
        mf->list_cap = cap;
    }
    int rc = src_read(c, mf->buf + mf->len, b->size, b->off);
    if (rc < 0)
        return rc;
    mf->list[mf->n++] = (struct moof_at){ b->off, mf->len, b->size };
    mf->len += b->size;
    return 0;
}

/*
 * 14496-12 4.2: the top-level boxes, one header read each. Finds the first moov
 * (*moov and its header size; moov->size 0 when there is none) and loads every
 * moof into mf.
 */
static int walk(ctx_t *c, box_t *moov, size_t *moov_hdr, moofs_t *mf)
{
    uint64_t fsize = c->src->size, off = 0;
    uint8_t h[16];
    int rc;

    while (off < fsize) {
        size_t n = fsize - off < sizeof h ? (size_t)(fsize - off) : sizeof h;
        if (n < 8) {
            PK_DEBUG("%s: %zu stray bytes at the end", src_name(c), n);
            break;
        }
        if ((rc = src_read(c, h, n, off)) < 0)
            return rc;
        rd_t r = rd_init(h, n);
        uint64_t size = rd_u32(&r);
        size_t hdr = 8;
        box_t b = { .off = off, .type = rd_u32(&r) };
        if (size == 1) {
            size = rd_u64(&r);
            hdr = 16;
            if (r.err)
                return bad(c, &b, "64-bit size cut short by the end of the file");
        } else if (size == 0) {
            size = fsize - off;                 /* the last box: to the end of the file */
        }
        if (size < hdr)
            return bad(c, &b, "size %" PRIu64 " is smaller than its header", size);
        if (size > fsize - off)
            return bad(c, &b, "size %" PRIu64 " runs past the end of the file (%" PRIu64
                       " bytes left)", size, fsize - off);
        b.size = (size_t)size;
        if (b.type == FOURCC('m','o','o','v') && !moov->size) {
            if (size - hdr > PK_MP4_MAX_HEADER)
                return report(c, &b, -ENOTSUP, "%" PRIu64 " bytes, more than we load (%u)",
                            size, PK_MP4_MAX_HEADER);
            *moov = b;
            *moov_hdr = hdr;
        } else if (b.type == FOURCC('m','o','o','f')) {
            if (size > PK_MP4_MAX_HEADER)
                return report(c, &b, -ENOTSUP, "%" PRIu64 " bytes, more than we load (%u)",
                            size, PK_MP4_MAX_HEADER);
            b.index = (uint32_t)mf->n + 1;
            if ((rc = load_moof(c, mf, &b)) < 0)
                return rc;
        }
        off += size;
    }
    return 0;
}

/* Keeps the tracks that have samples, in order; those without go with a warning. */
static void drop_empty(ctx_t *c)
{
    pk_media_t *m = c->m;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < m->track_count; i++) {
        pk_track_t *t = &m->tracks[i];
        if (!t->sample_count) {
            PK_WARN("%s: track %u has no samples, skipped", src_name(c), t->id);
            continue;
        }
        if (kept != i)
            m->tracks[kept] = *t;
        kept++;
    }
    m->track_count = kept;
}

int pk_mp4_open(const pk_source_t *src, arena_t *a, pk_media_t **out)
{
    ctx_t c = { .src = src, .a = a };
    moofs_t mf = { 0 };
    box_t moov = { 0 };
    uint8_t *buf = NULL;
    size_t hdr = 0;
    int rc;

    if ((rc = walk(&c, &moov, &hdr, &mf)) < 0)
        goto out;
    if (!moov.size) {
        rc = bad(&c, NULL, "no moov");
        goto out;
    }
    rc = -ENOMEM;
    size_t len = moov.size - hdr;
    if (!(c.m = arena_zalloc(a, sizeof *c.m)) || !(buf = malloc(len ? len : 1)))
        goto out;
    if ((rc = src_read(&c, buf, len, moov.off + hdr)) < 0)
        goto out;
    c.buf = buf;
    c.buf_off = moov.off + hdr;
    moov.body = rd_init(buf, len);
    if ((rc = parse_moov(&c, &moov)) < 0)
        goto out;
    free(buf);
    buf = NULL;
    if (mf.n && (rc = read_fragments(&c, &mf)) < 0)
        goto out;

    pk_media_t *m = c.m;
    drop_empty(&c);
    uint64_t longest = 0;
    for (uint32_t i = 0; i < m->track_count; i++) {
        pk_track_t *t = &m->tracks[i];
        pk_track_finish(t);
        unsigned __int128 d = (unsigned __int128)t->duration * m->movie_timescale / t->timescale;
        if (d > longest)
            longest = d > UINT64_MAX ? UINT64_MAX : (uint64_t)d;
    }
    /* mvhd of a fragmented file covers the moov's samples only (0 with empty_moov) */
    if (m->fragmented && longest > m->movie_duration)
        m->movie_duration = longest;
    if (!m->track_count) {
        rc = report(&c, NULL, -ENOTSUP, "no video, audio or text track we can serve");
        goto out;
    }
    *out = m;
    rc = 0;
out:
    free(buf);
    free(mf.buf);
    free(mf.list);
    free(c.traks);
    return rc;
}
