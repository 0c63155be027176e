/*
 * MPEG-2 transport stream segments (see ts.h). Clauses cited as "13818-1 2.4.3.2"
 * are ISO/IEC 13818-1 (Systems); H.264 and HEVC carriage is 13818-1 2.14 and
 * 2.17, AAC in ADTS 13818-7 6.2 / 14496-3 1.A.2, AC-3 in ATSC A/52 Annex A.
 *
 * Decisions where the contract leaves room:
 *   - One PES per video access unit, PES_packet_length 0 (13818-1 2.4.3.7 allows
 *     it for video). Every video PES carries a PCR in the adaptation field of its
 *     first TS packet (random_access_indicator set on key frames); in an
 *     audio-only segment every audio PES carries it instead.
 *   - PCR = DTS - 0.7 s (PTS for audio), as ffmpeg's default mux delay: data then
 *     arrives before it is due at the T-STD decoder. PK_TS_OFFSET keeps it >= 0.
 *   - Access unit delimiters: whether samples carry their own AUD is decided once
 *     per track, from the first NAL unit of sample 0. If they do, none is added
 *     (and a sample that lacks one stays without); if not, one is added before
 *     every sample. So the Annex B size of a sample is known from the sample table
 *     when NAL lengths are 4 bytes: its size, plus the AUD, plus the parameter
 *     sets on key frames. Parameter sets of the decoder config go right after the
 *     AUD of every key frame, even when the sample has its own (repeating an
 *     identical SPS/PPS is allowed, H.264 7.4.1.2.1).
 *   - Audio: consecutive frames per PES up to 0.1 s of them (at least one frame;
 *     fewer at the end of the segment or when PES_packet_length would overflow);
 *     every PES starts a TS packet. 0.1 s keeps the PCR of audio-only segments
 *     within the 100 ms interval of 13818-1 2.7.2. AC-3 and E-AC-3 use stream_id
 *     0xBD (private_stream_1), as ATSC A/52 Annex A and ffmpeg do; AAC, MP3 0xC0.
 *   - Continuity counters (ts.h) are computed in write mode only, from the packets
 *     of every PES of the earlier segments: a prefix sum when the view carries them
 *     (vt->ts_packets, worked out once per asset by pk_ts_packets), else a walk over
 *     the earlier fragments (arithmetic on the sample table with 4-byte NAL
 *     lengths, reading samples otherwise). Sizes do not depend on them.
 *   - Stuffing is only ever an adaptation field (13818-1 2.4.3.5), PSI sections
 *     are followed by 0xFF bytes (2.4.4.2).
 *   - v3 (muxed) segments interleave PES by their DTS at 90 kHz, video first on a
 *     tie.
 *   - SAMPLE-AES (ts.h): the transform works on what the segment carries, NAL units
 *     behind start codes and whole ADTS frames, so the unit boundaries a client finds
 *     are those that were encrypted. The PES of a protected video sample is its clear
 *     size plus the sample's growth; audio keeps its size, so the packet counts the
 *     view knows still hold for audio and are not used for protected video (whose own
 *     counts fs/ may give with its pk_ts_saes_t: then no walk either).
 */
#include "ts.h"

#include <string.h>

#include "codec.h"
#include "log.h"

#define TS_PACKET 188
#define TS_BODY 184                     /* bytes after the 4-byte packet header */
#define PID_PAT 0x0000
#define PID_PMT 0x1000
#define PID_VIDEO 0x0100
#define PID_AUDIO 0x0101
#define PCR_DELAY 63000                 /* 0.7 s at 90 kHz */
#define AUDIO_PES_MAX_FRAMES 64         /* a bound for (unlikely) tiny frames */
#define ADTS_HEADER 7
#define MAX_TS_33 0x1ffffffffull        /* PTS, DTS and PCR base are 33 bits */
#define SAES_ASC_MAX 64                 /* AudioSpecificConfig bytes the PMT may carry */

static const uint8_t avc_aud[] = { 0, 0, 0, 1, 0x09, 0xf0 };       /* primary_pic_type 7 */
static const uint8_t hevc_aud[] = { 0, 0, 0, 1, 0x46, 0x01, 0x50 }; /* type 35, pic_type 2 */

/* One elementary stream of the segment being written. */
typedef struct {
    const pk_vtrack_t *vt;
    const pk_track_t *t;
    arena_t *a;
    uint16_t pid;
    uint8_t sid;                /* PES stream_id */
    uint8_t type;               /* PMT stream_type */
    uint32_t reg;               /* registration descriptor format_identifier, 0 for none */
    const pk_ts_saes_t *saes;   /* SAMPLE-AES (ts.h), NULL: clear */
    uint32_t pdi;               /* SAMPLE-AES private_data_indicator: 'zavc', 'aacd' */
    uint32_t audio_type;        /* SAMPLE-AES audio setup information: 'zaac', 'zach', 'zacp' */
    int video, hevc, adts, pcr;
    unsigned cc;                /* continuity_counter of the next packet */
    int carries_aud;            /* video samples start with their own AUD */
    int64_t dts_delay;          /* video: DTS = dts_out - dts_delay (track timescale) */
    const uint8_t *ps;          /* video: parameter sets as Annex B, ps_len bytes */
    size_t ps_len;
    uint8_t adts_hdr[ADTS_HEADER]; /* AAC: the ADTS header with frame_length 0 */
    uint8_t *raw;               /* the bytes of sample raw_idx (video) */
    size_t raw_cap;
    uint32_t raw_idx;           /* UINT32_MAX: none loaded */
    uint8_t *pes;               /* the PES being written */
    size_t pes_cap;
} stream_t;

/* One PES: samples [first, first + count) of a stream. */
typedef struct {
    uint32_t first, count;
    uint64_t pts, dts;          /* 90 kHz, PK_TS_OFFSET added, not yet wrapped to 33 bits */
    size_t hdr, payload;        /* PES header bytes, payload bytes after it */
    int key;
} pes_t;

/* 13818-1 Annex A: CRC-32/MPEG-2, MSB first, no reflection, no final xor. */
static uint32_t crc32_mpeg(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    while (n--) {
        crc ^= (uint32_t)*p++ << 24;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x80000000u ? crc << 1 ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

/* v (track timescale) in 90 kHz, rounded to nearest: rounding is monotonic, so
 * DTS order survives. 64-bit arithmetic while v * 90000 fits (|v| < 1e14 ticks). */
static int64_t to_90k(int64_t v, uint32_t timescale)
{
    int64_t h = timescale / 2;
    if (v > -100000000000000 && v < 100000000000000) {
        int64_t x = v * 90000;
        return (x >= 0 ? x + h : x - h) / timescale;
    }
    __int128 x = (__int128)v * 90000;
    return (int64_t)((x >= 0 ? x + h : x - h) / timescale);
}

static const char *src_name(const stream_t *s)
{
    return s->vt->at->source && s->vt->at->source->name ? s->vt->at->source->name : "?";
}

/* Ensures *buf holds n bytes (contents are not kept). */
static int reserve(arena_t *a, uint8_t **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < n)
        c = c > SIZE_MAX / 2 ? n : c * 2;
    uint8_t *p = arena_alloc(a, c);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = c;
    return 0;
}

static int read_sample(const stream_t *s, uint32_t i, uint8_t *buf, size_t len)
{
    const pk_source_t *src = s->vt->at->source;
    const pk_sample_t *sm = &s->t->samples[i];
    int rc = src ? src->read(src->ctx, buf, len, sm->pos) : -EIO;
    if (rc < 0)
        PK_ERROR("%s: track %s sample %u: cannot read %zu bytes at offset %llu (error %d)",
                 src_name(s), s->vt->at->name, i, len, (unsigned long long)sm->pos, rc);
    return rc;
}

/* Loads video sample i into s->raw. */
static int load(stream_t *s, uint32_t i)
{
    if (s->raw_idx == i)
        return 0;
    uint32_t n = s->t->samples[i].size;
    int rc;
    if ((rc = reserve(s->a, &s->raw, &s->raw_cap, n ? n : 1)) < 0 ||
        (rc = read_sample(s, i, s->raw, n)) < 0)
        return rc;
    s->raw_idx = i;
    return 0;
}

static int is_aud(const stream_t *s, const uint8_t *nal, size_t len)
{
    if (!len)
        return 0;
    return s->hevc ? (nal[0] >> 1 & 0x3f) == 35 : (nal[0] & 0x1f) == 9;
}

/* One NAL unit of a sample behind its start code; SAMPLE-AES: in its protected form. */
static int put_nal(const stream_t *s, wr_t *pw, const uint8_t *nal, size_t len)
{
    wr_u32(pw, 1);              /* start code with its zero_byte, H.264 B.1.1 */
    if (s->saes)
        return s->saes->nal(s->saes->ctx, nal, len, pw);
    wr_bytes(pw, nal, len);
    return 0;
}

static void put_params(const stream_t *s, wr_t *pw, int key)
{
    if (key)
        wr_bytes(pw, s->ps, s->ps_len);
}

/*
 * Writes video sample i (loaded in s->raw) as Annex B to pw: AUD, parameter sets
 * on key frames, then every NAL unit behind a start code instead of its length
 * field (14496-15 5.3.2); key: i is a sync sample. A counting pw gives the size.
 * -EBADMSG (logged) when the length fields do not tile the sample.
 */
static int convert(const stream_t *s, uint32_t i, int key, wr_t *pw)
{
    const pk_track_t *t = s->t;
    rd_t r = rd_init(s->raw, t->samples[i].size);
    int first = 1, rc;

    if (!s->carries_aud) {
        if (s->hevc)
            wr_bytes(pw, hevc_aud, sizeof hevc_aud);
        else
            wr_bytes(pw, avc_aud, sizeof avc_aud);
        put_params(s, pw, key);
    }
    while (rd_left(&r)) {
        size_t at = (size_t)(r.p - s->raw);
        uint32_t len = t->nal_length_size == 1 ? rd_u8(&r)
                       : t->nal_length_size == 2 ? rd_u16(&r) : rd_u32(&r);
        if (r.err || len > rd_left(&r)) {
            PK_ERROR("%s: track %s sample %u: NAL unit at offset %zu (%u bytes) passes the "
                     "end of the sample (%u bytes)", src_name(s), s->vt->at->name, i, at,
                     r.err ? 0 : len, t->samples[i].size);
            return -EBADMSG;
        }
        const uint8_t *nal = r.p;
        rd_skip(&r, len);
        if (s->carries_aud && first && !is_aud(s, nal, len))
            put_params(s, pw, key);
        if ((rc = put_nal(s, pw, nal, len)) < 0)
            return rc;
        if (s->carries_aud && first && is_aud(s, nal, len))
            put_params(s, pw, key);
        first = 0;
    }
    if (s->carries_aud && first)
        put_params(s, pw, key);
    return 0;
}

/* Bytes of video sample i after convert(): from the sample table when NAL
 * lengths are 4 bytes (the conversion keeps every size) and, for SAMPLE-AES, the
 * growth of every sample is known; else by converting. */
static int video_size(stream_t *s, uint32_t i, int key, size_t *out)
{
    const pk_track_t *t = s->t;
    size_t n = t->samples[i].size;
    if (t->nal_length_size != 4 || (s->saes && !s->saes->growth)) {
        wr_t cw = wr_counter();
        int rc;
        if ((rc = load(s, i)) < 0 || (rc = convert(s, i, key, &cw)) < 0)
            return rc;
        *out = cw.pos;
        return 0;
    }
    if (!s->carries_aud)
        n += s->hevc ? sizeof hevc_aud : sizeof avc_aud;
    if (key)
        n += s->ps_len;
    if (s->saes)
        n += s->saes->growth[i];
    *out = n;
    return 0;
}

/* Describes the PES that starts at sample i, within [i, end); key: whether i is a
 * sync sample (the callers know it more cheaply than a search). */
static int describe(stream_t *s, uint32_t i, uint32_t end, int key, pes_t *p)
{
    const pk_vtrack_t *vt = s->vt;
    uint32_t ts = s->t->timescale;
    int64_t dts_out = (int64_t)pk_vtrack_dts(vt, i);

    memset(p, 0, sizeof *p);
    p->first = i;
    p->key = key;
    p->pts = (uint64_t)(to_90k(dts_out + pk_vtrack_cto(vt, i), ts) + (int64_t)PK_TS_OFFSET);
    if (s->video) {
        p->dts = (uint64_t)(to_90k(dts_out - s->dts_delay, ts) + (int64_t)PK_TS_OFFSET);
        p->hdr = p->dts == p->pts ? 14 : 19;
        p->count = 1;
        return video_size(s, i, key, &p->payload);
    }
    p->dts = p->pts;
    p->hdr = 14;
    uint64_t dur = 0;
    while (p->count < AUDIO_PES_MAX_FRAMES && i + p->count < end) {
        size_t n = s->t->samples[i + p->count].size + (s->adts ? ADTS_HEADER : 0);
        /* ADTS frame_length includes the header, 13 bits (14496-3 1.A.2.2.2) */
        if (s->adts && n > 0x1fff) {
            PK_ERROR("%s: track %s sample %u: AAC frame of %zu bytes is too long for ADTS",
                     src_name(s), vt->at->name, i + p->count, n - ADTS_HEADER);
            return -EBADMSG;
        }
        dur += pk_track_sample_duration(s->t, i + p->count);
        /* PES_packet_length counts the 8 header bytes after it */
        if (p->count && (8 + p->payload + n > 0xffff || dur * 10 > ts))
            break;
        p->payload += n;
        p->count++;
    }
    if (8 + p->payload > 0xffff) {
        PK_ERROR("%s: track %s sample %u: audio frame of %zu bytes does not fit a PES packet",
                 src_name(s), vt->at->name, i, p->payload);
        return -EBADMSG;
    }
    return 0;
}

/* TS packets of a PES of len bytes: the first has room for 184 bytes less the
 * PCR adaptation field (8 bytes). */
static uint64_t pes_packets(const stream_t *s, size_t len)
{
    size_t first = TS_BODY - (s->pcr ? 8 : 0);
    return len <= first ? 1 : 1 + (len - first + TS_BODY - 1) / TS_BODY;
}

/* 13818-1 2.4.3.6: PTS/DTS as 4-bit prefix, 33 bits with marker bits. */
static void put_timestamp(wr_t *w, unsigned prefix, uint64_t v)
{
    v &= MAX_TS_33;
    wr_u8(w, (uint8_t)(prefix << 4 | (v >> 29 & 0x0e) | 1));
    wr_u16(w, (uint16_t)((v >> 15 & 0x7fff) << 1 | 1));
    wr_u16(w, (uint16_t)((v & 0x7fff) << 1 | 1));
}

/* 13818-1 2.4.3.7: the PES header. */
static void put_pes_header(wr_t *pw, const stream_t *s, const pes_t *p)
{
    int both = p->hdr == 19;
    wr_u24(pw, 1);
    wr_u8(pw, s->sid);
    /* 0 ("unbounded") only for video; audio PES fit 16 bits (describe) */
    wr_u16(pw, s->video ? 0 : (uint16_t)(p->hdr - 6 + p->payload));
    wr_u8(pw, 0x84);            /* '10', data_alignment_indicator: starts with an AUD/sync */
    wr_u8(pw, both ? 0xc0 : 0x80);
    wr_u8(pw, both ? 10 : 5);
    put_timestamp(pw, both ? 3 : 2, p->pts);
    if (both)
        put_timestamp(pw, 1, p->dts);
}

/* The PES bytes of p into s->pes (write mode). */
static int build_pes(stream_t *s, const pes_t *p)
{
    size_t len = p->hdr + p->payload;
    int rc;
    if ((rc = reserve(s->a, &s->pes, &s->pes_cap, len)) < 0)
        return rc;
    wr_t pw = wr_init(s->pes, len);
    put_pes_header(&pw, s, p);
    if (s->video) {
        if ((rc = load(s, p->first)) < 0)
            return rc;
        /* a PES that outgrows its count (SAMPLE-AES growth that is not the transform's)
         * fails in pw: reported below as the mismatch it is */
        if ((rc = convert(s, p->first, p->key, &pw)) < 0 && !pw.err)
            return rc;
    } else {
        for (uint32_t i = p->first; i < p->first + p->count; i++) {
            uint32_t n = s->t->samples[i].size;
            if (s->adts) {
                uint32_t fl = n + ADTS_HEADER;      /* fits 13 bits: describe() */
                uint8_t h[ADTS_HEADER];
                memcpy(h, s->adts_hdr, sizeof h);
                h[3] |= (uint8_t)(fl >> 11);
                h[4] = (uint8_t)(fl >> 3);
                h[5] |= (uint8_t)((fl & 7) << 5);
                wr_bytes(&pw, h, sizeof h);
            }
            uint8_t *dst = wr_reserve(&pw, n);
            if (dst && (rc = read_sample(s, i, dst, n)) < 0)
                return rc;
            /* the frame with its header, as a client finds it (stream_init: ADTS) */
            if (dst && s->saes &&
                (rc = s->saes->frame(s->saes->ctx, dst - ADTS_HEADER, n + ADTS_HEADER,
                                     ADTS_HEADER)) < 0)
                return rc;
        }
    }
    if (pw.err || pw.pos != len) {
        PK_ERROR("%s: track %s sample %u: PES of %zu bytes where %zu were counted",
                 src_name(s), s->vt->at->name, p->first, pw.pos, len);
        return -EBADMSG;
    }
    return 0;
}

/*
 * 13818-1 2.4.3.2-2.4.3.5: the TS packets of one PES of len bytes (data NULL in
 * count mode). The first packet has payload_unit_start_indicator and, on a PCR
 * stream, an adaptation field with the PCR; the last is filled up with an
 * adaptation field, never with payload bytes.
 */
static void put_packets(wr_t *w, stream_t *s, const pes_t *p, const uint8_t *data, size_t len)
{
    size_t off = 0;
    for (int first = 1; off < len; first = 0) {
        int pcr = first && s->pcr;
        size_t room = TS_BODY - (pcr ? 8 : 0);
        size_t n = len - off < room ? len - off : room;
        size_t af = TS_BODY - n;        /* adaptation field bytes, with its length byte */

        wr_u8(w, 0x47);
        wr_u16(w, (uint16_t)((first ? 0x4000 : 0) | s->pid));
        wr_u8(w, (uint8_t)((af ? 0x30 : 0x10) | (s->cc & 0x0f)));
        if (af) {
            wr_u8(w, (uint8_t)(af - 1));
            if (af > 1) {
                size_t used = 2;
                wr_u8(w, (uint8_t)((pcr && p->key ? 0x40 : 0) | (pcr ? 0x10 : 0)));
                if (pcr) {
                    /* 2.4.3.5: program_clock_reference_base (33 bits), 6 reserved bits,
                     * extension 0: 90 kHz precision is all we have */
                    uint64_t base = (p->dts - PCR_DELAY) & MAX_TS_33;
                    wr_u32(w, (uint32_t)(base >> 1));
                    wr_u8(w, (uint8_t)((base & 1) << 7 | 0x7e));
                    wr_u8(w, 0);
                    used += 6;
                }
                uint8_t *stuff = wr_reserve(w, af - used);
                if (stuff)
                    memset(stuff, 0xff, af - used);
            }
        }
        if (data)
            wr_bytes(w, data + off, n);
        else
            wr_reserve(w, n);
        off += n;
        s->cc++;
    }
}

/* Writes one PES as TS packets (its bytes built first in write mode). */
static int put_pes(wr_t *w, stream_t *s, const pes_t *p)
{
    int rc;
    if (w->buf && (rc = build_pes(s, p)) < 0)
        return rc;
    put_packets(w, s, p, w->buf ? s->pes : NULL, p->hdr + p->payload);
    return 0;
}

/* One PSI section in one TS packet: pointer_field 0, then 0xFF to the end (2.4.4.2). */
static void put_psi(wr_t *w, uint16_t pid, unsigned cc, const uint8_t *sec, size_t len)
{
    wr_u8(w, 0x47);
    wr_u16(w, (uint16_t)(0x4000 | pid));
    wr_u8(w, (uint8_t)(0x10 | (cc & 0x0f)));
    wr_u8(w, 0);
    wr_bytes(w, sec, len);
    uint8_t *p = wr_reserve(w, TS_BODY - 1 - len);
    if (p)
        memset(p, 0xff, TS_BODY - 1 - len);
}

/* Patches section_length (12 bits after table_id) and appends the CRC; returns the
 * section's length. */
static size_t close_section(uint8_t *sec, size_t len)
{
    size_t sl = len + 4 - 3;
    sec[1] = (uint8_t)(0xb0 | sl >> 8);
    sec[2] = (uint8_t)sl;
    uint32_t crc = crc32_mpeg(sec, len);
    sec[len] = (uint8_t)(crc >> 24);
    sec[len + 1] = (uint8_t)(crc >> 16);
    sec[len + 2] = (uint8_t)(crc >> 8);
    sec[len + 3] = (uint8_t)crc;
    return len + 4;
}

/* 13818-1 2.4.4.3: PAT with program 1 at PID_PMT. */
static void put_pat(wr_t *w, unsigned cc)
{
    uint8_t sec[16] = {
        0x00, 0, 0,             /* table_id, section_length */
        0x00, 0x01,             /* transport_stream_id */
        0xc1, 0x00, 0x00,       /* version 0, current_next, section 0 of 0 */
        0x00, 0x01,             /* program_number 1 */
        (uint8_t)(0xe0 | PID_PMT >> 8), (uint8_t)PID_PMT,
    };
    put_psi(w, PID_PAT, cc, sec, close_section(sec, 12));
}

/* 13818-1 2.4.4.8: PMT of program 1, the streams in order (video first). */
static void put_pmt(wr_t *w, unsigned cc, stream_t *st, int n, uint16_t pcr_pid)
{
    uint8_t sec[TS_BODY - 1];
    wr_t sw = wr_init(sec, sizeof sec - 4);
    wr_u8(&sw, 0x02);
    wr_u16(&sw, 0);             /* section_length, patched */
    wr_u16(&sw, 1);             /* program_number */
    wr_u8(&sw, 0xc1);
    wr_u16(&sw, 0);
    wr_u16(&sw, (uint16_t)(0xe000 | pcr_pid));
    wr_u16(&sw, 0xf000);        /* program_info_length 0 */
    for (int i = 0; i < n; i++) {
        const stream_t *s = &st[i];
        const char *lang = s->vt->at->language;
        int has_lang = !s->video && lang && strlen(lang) == 3;
        size_t setup = s->audio_type ? 8 + (size_t)s->t->dsi_size : 0;  /* <= 72 */
        uint16_t es_len = (uint16_t)((s->reg ? 6 : 0) + (has_lang ? 6 : 0) +
                                     (s->pdi ? 6 : 0) + (setup ? 6 + setup : 0));
        wr_u8(&sw, s->type);
        wr_u16(&sw, (uint16_t)(0xe000 | s->pid));
        wr_u16(&sw, (uint16_t)(0xf000 | es_len));
        if (s->pdi) {
            wr_u8(&sw, 0x0f);   /* private_data_indicator_descriptor (2.6.29) */
            wr_u8(&sw, 4);
            wr_u32(&sw, s->pdi);
        }
        if (setup) {
            /* Apple's audio setup information in a registration_descriptor 'apad' */
            wr_u8(&sw, 0x05);
            wr_u8(&sw, (uint8_t)(4 + setup));
            wr_u32(&sw, FOURCC('a','p','a','d'));
            wr_u32(&sw, s->audio_type);
            wr_u16(&sw, 0);     /* priming: not known from the MP4 */
            wr_u8(&sw, 1);      /* version */
            wr_u8(&sw, (uint8_t)s->t->dsi_size);
            wr_bytes(&sw, s->t->entry + s->t->dsi_off, s->t->dsi_size);
        }
        if (s->reg) {
            wr_u8(&sw, 0x05);   /* registration_descriptor (2.6.8) */
            wr_u8(&sw, 4);
            wr_u32(&sw, s->reg);
        }
        if (has_lang) {
            wr_u8(&sw, 0x0a);   /* ISO_639_language_descriptor (2.6.18) */
            wr_u8(&sw, 4);
            wr_bytes(&sw, lang, 3);
            wr_u8(&sw, 0);      /* audio_type: undefined */
        }
    }
    put_psi(w, PID_PMT, cc, sec, close_section(sec, sw.pos));
}

/* An MSB-first bit reader over an AudioSpecificConfig. */
typedef struct {
    const uint8_t *p;
    size_t bits, pos;
    int err;
} bits_t;

static unsigned get_bits(bits_t *b, unsigned n)
{
    unsigned v = 0;
    if (b->bits - b->pos < n) {
        b->err = -EBADMSG;
        b->pos = b->bits;
        return 0;
    }
    for (unsigned i = 0; i < n; i++, b->pos++)
        v = v << 1 | (unsigned)(b->p[b->pos >> 3] >> (7 - (b->pos & 7)) & 1);
    return v;
}

static unsigned get_aot(bits_t *b)
{
    unsigned aot = get_bits(b, 5);
    return aot == 31 ? 32 + get_bits(b, 6) : aot;
}

static const uint32_t aac_rates[13] = {
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
};

static unsigned rate_index(uint32_t rate)
{
    for (unsigned k = 0; k < 13; k++)
        if (aac_rates[k] == rate)
            return k;
    return 15;
}

/* 14496-3 1.6.2.1: samplingFrequencyIndex, an explicit rate mapped to its index. */
static unsigned get_rate_index(bits_t *b)
{
    unsigned idx = get_bits(b, 4);
    return idx == 15 ? rate_index(get_bits(b, 24)) : idx;
}

/*
 * The ADTS header (14496-3 1.A.2.2, no CRC) from the track's AudioSpecificConfig:
 * profile = AOT - 1 of the core coder (explicit SBR/PS signalling, AOT 5/29,
 * names the core after the extension rate: HE-AAC in ADTS is its AAC-LC core, the
 * decoder finds SBR implicitly), the core's sampling index and channel
 * configuration. MPEG-2 AAC entries without an ASC use the OTI's profile.
 */
static int adts_template(stream_t *s)
{
    const pk_track_t *t = s->t;
    unsigned aot, sfi, ch;
    if (t->dsi_size) {
        bits_t b = { t->entry + t->dsi_off, (size_t)t->dsi_size * 8, 0, 0 };
        aot = get_aot(&b);
        sfi = get_rate_index(&b);
        ch = get_bits(&b, 4);
        if (aot == 5 || aot == 29) {
            get_rate_index(&b);
            aot = get_aot(&b);
        }
        if (b.err) {
            PK_ERROR("%s: track %s: AudioSpecificConfig of %u bytes is truncated",
                     src_name(s), s->vt->at->name, t->dsi_size);
            return -EBADMSG;
        }
    } else {
        aot = t->object_type >= 0x66 && t->object_type <= 0x68 ? t->object_type - 0x66u + 1
                                                                : 2;
        sfi = rate_index(t->sample_rate);
        ch = t->channels == 8 ? 7 : t->channels;
    }
    if (aot < 1 || aot > 4 || sfi > 12 || ch < 1 || ch > 7) {
        PK_ERROR("%s: track %s: AAC object type %u, rate index %u, channel configuration %u "
                 "cannot be carried in ADTS", src_name(s), s->vt->at->name, aot, sfi, ch);
        return -ENOTSUP;
    }
    uint8_t *h = s->adts_hdr;
    h[0] = 0xff;
    h[1] = 0xf1;                /* syncword, ID 0 (MPEG-4), layer 0, protection_absent */
    h[2] = (uint8_t)((aot - 1) << 6 | sfi << 2 | ch >> 2);
    h[3] = (uint8_t)((ch & 3) << 6);
    h[4] = 0;
    h[5] = 0x1f;                /* adts_buffer_fullness 0x7FF: variable rate */
    h[6] = 0xfc;                /* number_of_raw_data_blocks_in_frame 0 */
    return 0;
}

/*
 * ts.h: DTS = dts_out - cto_shift + min(0, lowest cto). Without negative
 * composition offsets in the source (ctts v0) that is dts_out - cto_shift, and
 * PTS - DTS is the source's offset; with them (ctts v1, trun v1: fragmented
 * files whose first frame has offset 0) DTS moves back by the most negative one,
 * so that DTS <= PTS for every frame. Over the whole track, so all segments agree.
 */
static void set_dts_delay(stream_t *s)
{
    s->dts_delay = (int64_t)s->vt->cto_shift - s->vt->min_cto;
}

/* The parameter sets (video), whether samples carry AUDs (from sample 0), the DTS delay. */
static int video_setup(stream_t *s)
{
    const pk_track_t *t = s->t;
    int rc;

    set_dts_delay(s);
    if (t->nal_length_size != 1 && t->nal_length_size != 2 && t->nal_length_size != 4) {
        PK_ERROR("%s: track %s: NAL length size %u", src_name(s), s->vt->at->name,
                 t->nal_length_size);
        return -EBADMSG;
    }
    if (t->dsi_size) {
        const uint8_t *dsi = t->entry + t->dsi_off;
        wr_t cw = wr_counter();
        uint8_t *ps;
        if ((rc = pk_codec_param_sets(t->fourcc, dsi, t->dsi_size, &cw)) < 0) {
            PK_ERROR("%s: track %s: malformed decoder configuration", src_name(s),
                     s->vt->at->name);
            return rc;
        }
        if (cw.pos) {
            if (!(ps = arena_alloc(s->a, cw.pos)))
                return -ENOMEM;
            wr_t pw = wr_init(ps, cw.pos);
            if ((rc = pk_codec_param_sets(t->fourcc, dsi, t->dsi_size, &pw)) < 0)
                return rc;
            s->ps = ps;
            s->ps_len = cw.pos;
        }
    }
    /* the first NAL unit of sample 0: its length field and one or two header bytes */
    uint8_t head[6] = { 0 };
    size_t n = t->nal_length_size + (s->hevc ? 2u : 1u);
    if (t->samples[0].size >= n) {
        if ((rc = read_sample(s, 0, head, n)) < 0)
            return rc;
        rd_t r = rd_init(head, t->nal_length_size);
        uint32_t len = t->nal_length_size == 1 ? rd_u8(&r)
                       : t->nal_length_size == 2 ? rd_u16(&r) : rd_u32(&r);
        s->carries_aud = len >= 1 && is_aud(s, head + t->nal_length_size, len);
    }
    return 0;
}

/* The codec's stream_id, stream_type and descriptors, the ADTS header or parameter sets. */
static int codec_setup(stream_t *s)
{
    const pk_track_t *t = s->t;
    switch (t->fourcc) {
    case FOURCC('a','v','c','1'):
    case FOURCC('a','v','c','3'):
        s->video = 1;
        s->sid = 0xe0;
        s->type = 0x1b;         /* 2.4.4.9 Table 2-34: AVC video */
        return video_setup(s);
    case FOURCC('h','v','c','1'):
    case FOURCC('h','e','v','1'):
        s->video = s->hevc = 1;
        s->sid = 0xe0;
        s->type = 0x24;         /* HEVC video */
        return video_setup(s);
    case FOURCC('a','c','-','3'):
        s->sid = 0xbd;
        s->type = 0x81;         /* ATSC A/52 Annex A */
        s->reg = FOURCC('A','C','-','3');
        return 0;
    case FOURCC('e','c','-','3'):
        s->sid = 0xbd;
        s->type = 0x87;         /* ATSC A/52 Annex G */
        s->reg = FOURCC('E','A','C','3');
        return 0;
    case FOURCC('m','p','4','a'):
        s->sid = 0xc0;
        if (t->object_type == 0x6b || t->object_type == 0x69) {
            /* MPEG-1 audio 0x03, MPEG-2 (half rates) 0x04 */
            s->type = t->object_type == 0x6b ? 0x03 : 0x04;
            return 0;
        }
        if (t->object_type == 0x40 || (t->object_type >= 0x66 && t->object_type <= 0x68)) {
            s->adts = 1;
            s->type = 0x0f;     /* 13818-7 ADTS */
            return adts_template(s);
        }
        break;
    default:
        break;
    }
    char fcc[5];
    PK_ERROR("%s: track %s: %s (object type 0x%02x) cannot be carried in MPEG-2 TS",
             src_name(s), s->vt->at->name, fourcc_str(t->fourcc, fcc), t->object_type);
    return -ENOTSUP;
}

/*
 * SAMPLE-AES (ts.h): the PMT entry of a protected stream of track t: 0 and *type, *pdi,
 * *audio_type (0 for video), or -ENOTSUP. H.264 and ADTS AAC only (Apple's format has
 * stream types for AC-3 and E-AC-3 too, each with a layout of its own, not done here).
 * The audio type follows the AudioSpecificConfig's first object type, as shaka-packager's
 * WriteAudioSetupInformation: explicitly signalled SBR and PS are HE-AAC and HE-AACv2.
 */
static int saes_kind(const pk_track_t *t, uint8_t *type, uint32_t *pdi, uint32_t *audio_type)
{
    *audio_type = 0;
    if (t->fourcc == FOURCC('a','v','c','1') || t->fourcc == FOURCC('a','v','c','3')) {
        *type = 0xdb;
        *pdi = FOURCC('z','a','v','c');
        return 0;
    }
    /* AAC as ADTS (stream_init) with an AudioSpecificConfig the PMT can carry */
    if (t->fourcc != FOURCC('m','p','4','a') || t->object_type != 0x40 || !t->dsi_size ||
        t->dsi_size > SAES_ASC_MAX)
        return -ENOTSUP;
    bits_t b = { t->entry + t->dsi_off, (size_t)t->dsi_size * 8, 0, 0 };
    unsigned aot = get_aot(&b);
    *audio_type = aot == 2 ? FOURCC('z','a','a','c') : aot == 5 ? FOURCC('z','a','c','h')
                  : aot == 29 ? FOURCC('z','a','c','p') : 0;
    *type = 0xcf;
    *pdi = FOURCC('a','a','c','d');
    return *audio_type ? 0 : -ENOTSUP;
}

int pk_ts_saes_supported(const pk_vtrack_t *vt)
{
    uint8_t type;
    uint32_t pdi, audio_type;
    return saes_kind(vt->t, &type, &pdi, &audio_type) == 0;
}

static int saes_setup(stream_t *s)
{
    const pk_track_t *t = s->t;
    char fcc[5];
    if (saes_kind(t, &s->type, &s->pdi, &s->audio_type) == 0)
        return 0;
    PK_ERROR("%s: track %s: %s (object type 0x%02x, %u bytes of decoder config) cannot be "
             "carried with SAMPLE-AES: H.264 and AAC-LC/HE-AAC in ADTS only", src_name(s),
             s->vt->at->name, fourcc_str(t->fourcc, fcc), t->object_type, t->dsi_size);
    return -ENOTSUP;
}

static int stream_init(stream_t *s, const pk_vtrack_t *vt, arena_t *a, uint16_t pid, int pcr,
                       const pk_ts_saes_t *saes)
{
    int rc;
    memset(s, 0, sizeof *s);
    s->vt = vt;
    s->t = vt->t;
    s->a = a;
    s->pid = pid;
    s->pcr = pcr;
    s->raw_idx = UINT32_MAX;
    s->saes = saes;
    if ((rc = codec_setup(s)) < 0 || !saes)
        return rc;
    return saes_setup(s);
}

/* 0 when fragment k of vt exists and has samples, else -ENOENT. */
static int frag_exists(const pk_vtrack_t *vt, uint32_t k)
{
    return k < vt->frag_count && vt->frags[k].count ? 0 : -ENOENT;
}

/* The PES packets of fragments [0, k) of s, as their segments write them; into
 * per[] for each fragment when per is not NULL, and the packets of each fragment's
 * first PES into first[] when first is not NULL. */
static int walk_packets(stream_t *s, uint32_t k, uint32_t *per, uint32_t *first,
                        uint64_t *total)
{
    const pk_track_t *t = s->t;
    uint64_t packets = 0;
    uint32_t sync = 0;          /* cursor in t->sync: samples come in order */
    pes_t p;
    int rc;
    for (uint32_t f = 0; f < k; f++) {
        uint64_t before = packets;
        uint32_t end = s->vt->frags[f].first + s->vt->frags[f].count;
        for (uint32_t i = s->vt->frags[f].first; i < end; i += p.count) {
            while (t->sync && sync < t->sync_count && t->sync[sync] < i)
                sync++;
            int key = !t->sync || (sync < t->sync_count && t->sync[sync] == i);
            if ((rc = describe(s, i, end, key, &p)) < 0)
                return rc;
            uint64_t n = pes_packets(s, p.hdr + p.payload);
            if (first && i == s->vt->frags[f].first)
                first[f] = (uint32_t)n;
            packets += n;
        }
        if (per)
            per[f] = (uint32_t)(packets - before);
    }
    *total = packets;
    return 0;
}

/* The packets already known for s, or NULL: the view's are those of clear output, which a
 * protected video stream outgrows (its own come with its pk_ts_saes_t, when fs/ has them). */
static const uint32_t *known_packets(const stream_t *s)
{
    if (s->saes && s->video)
        return s->saes->packets;
    return s->pcr ? s->vt->ts_packets : s->vt->ts_packets_mux;
}

/* The continuity counter of s at the start of segment k: its packets in segments
 * 0..k-1, as those segments write them. */
static int start_cc(stream_t *s, uint32_t k)
{
    const uint32_t *known = known_packets(s);
    uint64_t packets = 0;
    int rc;
    if (known) {
        for (uint32_t f = 0; f < k; f++)
            packets += known[f];
    } else if ((rc = walk_packets(s, k, NULL, NULL, &packets)) < 0) {
        return rc;
    }
    s->cc = (unsigned)(packets & 0x0f);
    return 0;
}

int pk_ts_packets_cheap(const pk_vtrack_t *vt)
{
    return vt->t->type == PK_TRACK_AUDIO || vt->t->nal_length_size == 4;
}

static int packets_of(const pk_vtrack_t *vt, int pcr, int key, const pk_ts_saes_t *saes,
                      arena_t *a, uint32_t **out)
{
    stream_t s;
    uint64_t total;
    int video = vt->t->type == PK_TRACK_VIDEO, rc;
    uint32_t *per = arena_calloc(a, vt->frag_count ? vt->frag_count : 1, sizeof *per);
    if (!per)
        return -ENOMEM;
    if ((rc = stream_init(&s, vt, a, video ? PID_VIDEO : PID_AUDIO, pcr, saes)) < 0 ||
        (rc = walk_packets(&s, vt->frag_count, key ? NULL : per, key ? per : NULL,
                           &total)) < 0)
        return rc;
    *out = per;
    return 0;
}

int pk_ts_packets(const pk_vtrack_t *vt, int pcr, arena_t *a, uint32_t **out)
{
    return packets_of(vt, pcr, 0, NULL, a, out);
}

int pk_ts_packets_saes(const pk_vtrack_t *vt, const pk_ts_saes_t *saes, arena_t *a,
                       uint32_t **out)
{
    if (vt->t->type != PK_TRACK_VIDEO || !saes)
        return -EINVAL;
    return packets_of(vt, 1, 0, saes, a, out);
}

int pk_ts_key_packets(const pk_vtrack_t *vt, arena_t *a, uint32_t **out)
{
    if (vt->t->type != PK_TRACK_VIDEO)
        return -EINVAL;
    return packets_of(vt, 1, 1, NULL, a, out);
}

int pk_ts_segment_size(const pk_vtrack_t *main, const pk_vtrack_t *mux, uint32_t k,
                       uint64_t *size)
{
    if (!main->ts_packets || (mux && !mux->ts_packets_mux))
        return -EAGAIN;
    if (frag_exists(main, k) < 0 || (mux && k >= mux->frag_count))
        return -ENOENT;
    uint64_t packets = 2 + (uint64_t)main->ts_packets[k];
    if (mux)
        packets += mux->ts_packets_mux[k];
    *size = packets * TS_PACKET;
    return 0;
}

int pk_ts_keyframe_size(const pk_vtrack_t *vt, uint32_t k, uint64_t *size)
{
    if (!vt->ts_key_packets)
        return -EAGAIN;
    if (frag_exists(vt, k) < 0)
        return -ENOENT;
    *size = (2 + (uint64_t)vt->ts_key_packets[k]) * TS_PACKET;
    return 0;
}

/*
 * Segment k of main (+ mux), SAMPLE-AES where saes[0] (main) or saes[1] (mux) is set.
 * With keyframe_only, stops after the first video PES (pk_ts_keyframe_range). CCs are
 * computed in write mode only: sizes do not depend on them.
 */
static int write_segment(const pk_vtrack_t *main, const pk_vtrack_t *mux, uint32_t k,
                         const pk_ts_saes_t *const saes[2], arena_t *a, wr_t *w,
                         int keyframe_only)
{
    stream_t st[2];
    uint32_t next[2], end[2];
    pes_t pend[2];
    int have[2] = { 0, 0 };
    int n = mux ? 2 : 1, rc;

    if (main->t->type != PK_TRACK_VIDEO && main->t->type != PK_TRACK_AUDIO)
        return -ENOENT;
    if (mux && (main->t->type != PK_TRACK_VIDEO || mux->t->type != PK_TRACK_AUDIO))
        return -EINVAL;
    if ((rc = frag_exists(main, k)) < 0)
        return rc;
    if (mux && k >= mux->frag_count)
        return -ENOENT;
    int video = main->t->type == PK_TRACK_VIDEO;
    /* the size from the packets the view knows: no sample read (they are those of clear
     * output: protected audio keeps its size, protected video does not, but its own
     * counts may come with its pk_ts_saes_t) */
    uint64_t known;
    int fast = !w->buf && !(video && saes[0]) &&
               (keyframe_only ? pk_ts_keyframe_size(main, k, &known)
                              : pk_ts_segment_size(main, mux, k, &known)) == 0;
    if (!w->buf && video && saes[0] && saes[0]->packets && !keyframe_only &&
        (!mux || mux->ts_packets_mux)) {
        known = (2 + (uint64_t)saes[0]->packets[k] + (mux ? mux->ts_packets_mux[k] : 0)) *
                TS_PACKET;
        fast = 1;
    }
    if (fast && !saes[0] && !saes[1]) {
        wr_reserve(w, (size_t)known);
        return w->err;
    }
    /* (a protected stream is set up even then: a codec SAMPLE-AES cannot carry must fail
     * in count mode as in write mode) */
    if ((rc = stream_init(&st[0], main, a, video ? PID_VIDEO : PID_AUDIO, 1, saes[0])) < 0)
        return rc;
    if (mux && (rc = stream_init(&st[1], mux, a, PID_AUDIO, 0, saes[1])) < 0)
        return rc;
    if (fast) {
        wr_reserve(w, (size_t)known);
        return w->err;
    }
    for (int j = 0; j < n; j++) {
        const pk_vtrack_t *vt = j ? mux : main;
        next[j] = vt->frags[k].first;
        end[j] = vt->frags[k].first + vt->frags[k].count;
        if (w->buf && (rc = start_cc(&st[j], k)) < 0)
            return rc;
    }

    put_pat(w, k);
    put_pmt(w, k, st, n, st[0].pid);
    for (;;) {
        for (int j = 0; j < n; j++)
            if (!have[j] && next[j] < end[j]) {
                int key = pk_track_is_sync(st[j].t, next[j]);
                if ((rc = describe(&st[j], next[j], end[j], key, &pend[j])) < 0)
                    return rc;
                have[j] = 1;
            }
        int j = have[0] ? 0 : 1;
        if (!have[0] && !have[1])
            break;
        if (have[0] && have[1] && pend[1].dts < pend[0].dts)
            j = 1;
        if ((rc = put_pes(w, &st[j], &pend[j])) < 0)
            return rc;
        next[j] += pend[j].count;
        have[j] = 0;
        if (keyframe_only && j == 0)
            break;
    }
    return w->err;
}

int pk_ts_segment(const pk_vtrack_t *main, const pk_vtrack_t *mux, uint32_t k, arena_t *a,
                  wr_t *w)
{
    const pk_ts_saes_t *const clear[2] = { NULL, NULL };
    return write_segment(main, mux, k, clear, a, w, 0);
}

int pk_ts_segment_saes(const pk_vtrack_t *main, const pk_ts_saes_t *saes_main,
                       const pk_vtrack_t *mux, const pk_ts_saes_t *saes_mux, uint32_t k,
                       arena_t *a, wr_t *w)
{
    const pk_ts_saes_t *const saes[2] = { saes_main, saes_mux };
    return write_segment(main, mux, k, saes, a, w, 0);
}

static int keyframe_range(const pk_vtrack_t *vt, const pk_ts_saes_t *saes, uint32_t k,
                          arena_t *a, uint64_t *len)
{
    const pk_ts_saes_t *const one[2] = { saes, NULL };
    wr_t cw = wr_counter();
    int rc;
    if (vt->t->type != PK_TRACK_VIDEO)
        return -EINVAL;
    if ((rc = write_segment(vt, NULL, k, one, a, &cw, 1)) < 0)
        return rc;
    *len = cw.pos;
    return 0;
}

int pk_ts_keyframe_range(const pk_vtrack_t *vt, uint32_t k, arena_t *a, uint64_t *len)
{
    return keyframe_range(vt, NULL, k, a, len);
}

int pk_ts_keyframe_range_saes(const pk_vtrack_t *vt, const pk_ts_saes_t *saes, uint32_t k,
                              arena_t *a, uint64_t *len)
{
    return keyframe_range(vt, saes, k, a, len);
}
