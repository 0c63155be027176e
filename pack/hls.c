/*
 * HLS playlists (RFC 8216) for the three AMS HLS formats. What each one looks like is in
 * ams-facts §2.3; the choices the spec and AMS leave open are explained where they are made.
 *
 * Text that reaches a playlist from names (track and filter names, languages) is made safe
 * twice over: URIs percent-encode every byte outside RFC 3986 pchar (so '"', blanks, '%', '?'
 * and '#' in a name can neither end a quoted string nor cut a URI short; a web server
 * decodes them back to the file name), and quoted display strings (NAME) replace what RFC
 * 8216 §4.2 forbids in a quoted-string ('"', CR, LF) and other control characters.
 */
#include "hls.h"

#include <string.h>
#include <strings.h>

#include "cmaf.h"
#include "log.h"
#include "lang.h"
#include "text.h"
#include "ts.h"

/* ---- names and versions ----------------------------------------------- */

/* The format= value of playlists (and masters) of each format. */
static const char *playlist_format(pk_hls_format_t fmt)
{
    switch (fmt) {
    case PK_HLS_V4: return "m3u8-aapl";
    case PK_HLS_V3: return "m3u8-aapl-v3";
    case PK_HLS_CMAF: return "m3u8-cmaf";
    }
    return "m3u8-aapl";
}

/* The format= value of segment URIs: CMAF segments are one file set shared with DASH, under
 * their canonical name `cmaf` (DESIGN §1). */
static const char *segment_format(pk_hls_format_t fmt)
{
    return fmt == PK_HLS_CMAF ? "cmaf" : playlist_format(fmt);
}

/*
 * EXT-X-VERSION: what AMS declared (v4 and v3 as their names say, 7 for m3u8-cmaf, ams-facts
 * §2.3), raised to what the tags of the playlist need (RFC 8216 §7): decimal EXTINF 3,
 * EXT-X-BYTERANGE and EXT-X-I-FRAMES-ONLY 4, EXT-X-MAP 5 in an I-frame playlist and 6 in
 * any other. `need` is that floor.
 */
static unsigned version(pk_hls_format_t fmt, unsigned need)
{
    unsigned base = fmt == PK_HLS_CMAF ? 7 : fmt == PK_HLS_V3 ? 3 : 4;
    return base > need ? base : need;
}

static const char *opt_str(const char *s)
{
    return s ? s : "";
}

/* ---- escaping --------------------------------------------------------- */

/* RFC 3986 pchar minus pct-encoded: unreserved, sub-delims, ':' and '@'. The grammar's own
 * separators ( ) , = ; are sub-delims, so URIs keep their canonical spelling. */
static int uri_safe(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("-._~!$&'()*+,;=:@", c) != NULL;
}

static void put_uri(wr_t *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (uri_safe(*p)) {
            wr_u8(w, *p);
        } else {
            wr_u8(w, '%');
            wr_u8(w, (uint8_t)hex[*p >> 4]);
            wr_u8(w, (uint8_t)hex[*p & 15]);
        }
    }
}

/* A display string inside a quoted-string (RFC 8216 §4.2: no '"', CR or LF): a '"' becomes
 * '\'', a control character a blank. Only NAME takes free text, and only people read it. */
static void put_text(wr_t *w, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        wr_u8(w, *p == '"' ? '\'' : (*p < 0x20 || *p == 0x7f) ? ' ' : *p);
}

/* ---- languages -------------------------------------------------------- */




/* Writes `,LANGUAGE="tag"` with the shortest RFC 5646 form of lang (pack/lang.h);
 * nothing for "und" (RFC 5646 §4.1: undetermined is better left out) or a malformed value. */
static void put_language(wr_t *w, const char *lang)
{
    const char *tag = pk_lang_tag(lang);
    if (tag)
        wr_printf(w, ",LANGUAGE=\"%s\"", tag);
}

/* ---- URIs ------------------------------------------------------------- */

/* QualityLevels(B)/Manifest(NAME,format=F[,audiotrack=M][,type=keyframes]OPTS): the option
 * order of fs_path_format (format, audiotrack, type, then what the parent carries). */
static void put_playlist_uri(wr_t *w, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                             pk_hls_format_t fmt, int keyframes, const pk_urlopts_t *o)
{
    wr_printf(w, "QualityLevels(%u)/Manifest(", vt->at->bitrate);
    put_uri(w, vt->at->name);
    wr_str(w, ",format=");
    wr_str(w, playlist_format(fmt));
    if (mux) {
        wr_str(w, ",audiotrack=");
        put_uri(w, mux->at->name);
    }
    if (keyframes)
        wr_str(w, ",type=keyframes");
    put_uri(w, opt_str(o ? o->playlist : NULL));
    wr_u8(w, ')');
}

/* Fragments(NAME=TIME|i,format=F[,audiotrack=M]OPTS), relative to the playlist, which lives
 * in the same QualityLevels(B)/ directory. */
static void put_segment_uri(wr_t *w, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                            pk_hls_format_t fmt, int init, uint64_t time, const pk_urlopts_t *o)
{
    wr_str(w, "Fragments(");
    put_uri(w, vt->at->name);
    if (init)
        wr_str(w, "=i");
    else
        wr_printf(w, "=%llu", (unsigned long long)time);
    wr_str(w, ",format=");
    wr_str(w, segment_format(fmt));
    if (mux) {
        wr_str(w, ",audiotrack=");
        put_uri(w, mux->at->name);
    }
    put_uri(w, opt_str(o ? o->segment : NULL));
    wr_u8(w, ')');
}

/* ---- segment durations ------------------------------------------------ */

static uint64_t ticks_to_ms(uint64_t ticks, uint32_t timescale)
{
    return (uint64_t)(((unsigned __int128)ticks * 1000 + timescale / 2) / timescale);
}

/*
 * EXTINF of a segment of `dur` ticks that starts `before` ticks after the first listed one,
 * in ms: the difference of the rounded end and start, so each EXTINF is within 0.5 ms of
 * the segment and their sum is the playlist's duration rounded, with no drift.
 */
static uint64_t extinf_ms(uint64_t before, uint64_t dur, uint32_t timescale)
{
    return ticks_to_ms(before + dur, timescale) - ticks_to_ms(before, timescale);
}

/* EXT-X-TARGETDURATION of vt's playlist: the longest EXTINF rounded up to a second (RFC 8216
 * §4.3.3.1 asks only that each EXTINF rounded to the nearest is not above it), at least 1. */
static uint32_t target_duration(const pk_view_t *v, const pk_vtrack_t *vt)
{
    uint64_t before = 0, max = 0;
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        const pk_frag_t *f = &vt->frags[k];
        if (!f->count)
            continue;
        uint64_t ms = extinf_ms(before, f->duration, vt->t->timescale);
        if (ms > max)
            max = ms;
        before += f->duration;
    }
    uint64_t s = (max + 999) / 1000;
    return s ? (uint32_t)s : 1;
}

static void put_extinf(wr_t *w, uint64_t ms)
{
    /* the comma is part of the tag even with no title (RFC 8216 §4.3.2.1) */
    wr_printf(w, "#EXTINF:%llu.%03llu,\n", (unsigned long long)(ms / 1000),
              (unsigned long long)(ms % 1000));
}

/* ---- bit rates -------------------------------------------------------- */

/* What one listed segment of a playlist weighs. */
typedef struct {
    uint64_t bytes;
    uint64_t ticks;             /* its duration, timescale of the playlist's track */
} seg_t;

typedef struct {
    uint64_t peak, avg;         /* bit/s, rounded up */
} rate_t;

typedef enum { SIZE_TS, SIZE_CMAF, SIZE_IFRAME_TS, SIZE_IFRAME_CMAF } size_kind_t;

static uint64_t bits_per_s(uint64_t bytes, uint64_t ticks, uint32_t timescale)
{
    if (!ticks)
        return 0;
    unsigned __int128 bits = (unsigned __int128)bytes * 8 * timescale;
    return (uint64_t)((bits + ticks - 1) / ticks);
}

/*
 * Bytes of what a playlist entry for fragment k points at. TS sizes depend on the
 * conversion of every sample, so pk_ts_* runs in count mode, in an arena of its own that is
 * freed at once: a master walks every fragment of every track, and what one segment
 * allocates should not stay for the rest of the walk.
 */
static int entry_size(const pk_vtrack_t *vt, const pk_vtrack_t *mux, uint32_t k,
                      size_kind_t kind, uint64_t *out)
{
    const pk_frag_t *f = &vt->frags[k];
    arena_t *scratch;
    wr_t w = wr_counter();
    int rc = 0;

    switch (kind) {
    case SIZE_CMAF:
    case SIZE_IFRAME_CMAF:
        *out = vt->cmaf_header ? vt->cmaf_header[k] : pk_cmaf_fragment_header_size(vt, k);
        /* the first sample of a fragment is its key frame (pack/view.h) */
        *out += kind == SIZE_CMAF ? f->bytes : vt->t->samples[f->first].size;
        return 0;
    case SIZE_TS:
        if (pk_ts_segment_size(vt, mux, k, out) == 0)
            return 0;
        break;
    case SIZE_IFRAME_TS:
        if (pk_ts_keyframe_size(vt, k, out) == 0)
            return 0;
        break;
    }
    if (!(scratch = arena_new()))
        return -ENOMEM;
    if (kind == SIZE_TS) {
        rc = pk_ts_segment(vt, mux, k, scratch, &w);
        *out = w.pos;
    } else {
        rc = pk_ts_keyframe_range(vt, k, scratch, out);
    }
    arena_free(scratch);
    return rc;
}

/*
 * RFC 8216 §4.3.4.2: the peak segment bit rate is the largest bit rate of any contiguous
 * set of segments whose total duration is between 0.5 and 1.5 times the target duration
 * (so a short last segment holding one key frame does not count alone); the average is all
 * bits over all the duration. When no set qualifies (a playlist of one short segment), the
 * largest single segment stands in.
 */
static rate_t rates(const seg_t *s, uint32_t n, uint32_t timescale, uint32_t target_s)
{
    rate_t r = { 0, 0 };
    uint64_t lo = (uint64_t)target_s * timescale / 2, hi = (uint64_t)target_s * timescale * 3 / 2;
    uint64_t all_bytes = 0, all_ticks = 0, single = 0;
    int found = 0;

    for (uint32_t i = 0; i < n; i++) {
        uint64_t bytes = 0, ticks = 0;
        all_bytes += s[i].bytes;
        all_ticks += s[i].ticks;
        uint64_t one = bits_per_s(s[i].bytes, s[i].ticks, timescale);
        if (one > single)
            single = one;
        for (uint32_t j = i; j < n; j++) {
            bytes += s[j].bytes;
            ticks += s[j].ticks;
            if (ticks > hi)
                break;
            if (ticks >= lo) {
                uint64_t br = bits_per_s(bytes, ticks, timescale);
                if (br > r.peak)
                    r.peak = br;
                found = 1;
            }
        }
    }
    if (!found)
        r.peak = single;
    r.avg = bits_per_s(all_bytes, all_ticks, timescale);
    return r;
}

/* The rates of vt's playlist (or I-frame playlist) in format fmt; mux for v3 variants. */
static int track_rates(const pk_view_t *v, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                       size_kind_t kind, arena_t *a, rate_t *out)
{
    uint32_t n = 0;
    seg_t *s = arena_calloc(a, v->frag_end - v->frag_begin + 1, sizeof *s);
    int rc;

    if (!s)
        return -ENOMEM;
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        if (!vt->frags[k].count)
            continue;
        if ((rc = entry_size(vt, mux, k, kind, &s[n].bytes)) < 0)
            return rc;
        s[n++].ticks = vt->frags[k].duration;
    }
    *out = rates(s, n, vt->t->timescale, target_duration(v, vt));
    return 0;
}

static size_kind_t segment_kind(pk_hls_format_t fmt)
{
    return fmt == PK_HLS_CMAF ? SIZE_CMAF : SIZE_TS;
}

/* ---- master ----------------------------------------------------------- */

/* An EXT-X-MEDIA group: the audio tracks of one codec (RFC 8216 §4.3.4.2: a variant's
 * CODECS must name every format its renditions use, so one codec per group keeps CODECS
 * exact, as Apple's authoring spec does for AAC beside AC-3/E-AC-3). */
typedef struct {
    const char *codec;          /* RFC 6381 string shared by the members */
    uint32_t first;             /* index in the audio list of its first (DEFAULT) member */
    rate_t max;                 /* largest peak and average of its members */
} group_t;

typedef struct {
    const pk_view_t *v;
    pk_hls_format_t fmt;
    const pk_urlopts_t *o;
    uint32_t nvideo, naudio, ngroups;
    const pk_vtrack_t **video;  /* [nvideo] in variant order */
    const pk_vtrack_t **audio;  /* [naudio] in asset order */
    uint32_t *group_of;         /* [naudio] */
    group_t *groups;            /* [ngroups] in order of first appearance */
    rate_t *vrate, *irate, *arate;      /* [nvideo] variants, [nvideo] I-frames, [naudio] */
} master_t;

/*
 * Variant order: descending bitrate (asset order among equals), so a player that starts
 * with the first variant starts with the best. `first_bitrate` (the filter's firstQuality,
 * DESIGN §1 "Filters"; 0 for none) moves the variant of that bitrate to the front; the view
 * does not carry it yet, so callers pass 0.
 */
static void order_video(const pk_vtrack_t **vt, uint32_t n, uint32_t first_bitrate)
{
    for (uint32_t i = 1; i < n; i++) {          /* insertion sort: stable, n is small */
        const pk_vtrack_t *x = vt[i];
        uint32_t j = i;
        for (; j > 0 && vt[j - 1]->at->bitrate < x->at->bitrate; j--)
            vt[j] = vt[j - 1];
        vt[j] = x;
    }
    for (uint32_t i = 0; first_bitrate && i < n; i++) {
        if (vt[i]->at->bitrate == first_bitrate) {
            const pk_vtrack_t *x = vt[i];
            memmove(&vt[1], &vt[0], i * sizeof *vt);
            vt[0] = x;
            break;
        }
    }
}

/* GROUP-ID: the first group keeps AMS's "audio" (ams-facts §2.3), the others are named
 * after their codec: "audio_ec-3". */
static void put_group_id(wr_t *w, const master_t *m, uint32_t g)
{
    wr_str(w, "\"audio");
    if (g > 0) {
        wr_u8(w, '_');
        put_text(w, m->groups[g].codec);
    }
    wr_u8(w, '"');
}

static int master_collect(master_t *m, arena_t *a)
{
    const pk_view_t *v = m->v;
    uint32_t n = v->track_count ? v->track_count : 1;
    m->video = arena_calloc(a, n, sizeof *m->video);
    m->audio = arena_calloc(a, n, sizeof *m->audio);
    m->group_of = arena_calloc(a, n, sizeof *m->group_of);
    m->groups = arena_calloc(a, n, sizeof *m->groups);
    m->vrate = arena_calloc(a, n, sizeof *m->vrate);
    m->irate = arena_calloc(a, n, sizeof *m->irate);
    m->arate = arena_calloc(a, n, sizeof *m->arate);
    if (!m->video || !m->audio || !m->group_of || !m->groups || !m->vrate || !m->irate ||
        !m->arate)
        return -ENOMEM;
    for (uint32_t i = 0; i < v->track_count; i++) {
        const pk_vtrack_t *vt = &v->tracks[i];
        if (vt->t->type == PK_TRACK_VIDEO) {
            m->video[m->nvideo++] = vt;
        } else if (vt->t->type == PK_TRACK_AUDIO) {
            uint32_t g = 0;
            while (g < m->ngroups && strcmp(m->groups[g].codec, vt->t->codec) != 0)
                g++;
            if (g == m->ngroups)
                m->groups[m->ngroups++] = (group_t){ .codec = vt->t->codec, .first = m->naudio };
            m->group_of[m->naudio] = g;
            m->audio[m->naudio++] = vt;
        }
    }
    order_video(m->video, m->nvideo, v->first_quality);
    return 0;
}

static int master_rates(master_t *m, arena_t *a)
{
    const pk_vtrack_t *mux = m->fmt == PK_HLS_V3 && m->naudio ? m->audio[0] : NULL;
    size_kind_t kind = segment_kind(m->fmt);
    int rc;

    for (uint32_t i = 0; i < m->nvideo; i++) {
        if ((rc = track_rates(m->v, m->video[i], mux, kind, a, &m->vrate[i])) < 0)
            return rc;
        if (m->fmt != PK_HLS_V3 &&
            (rc = track_rates(m->v, m->video[i], NULL,
                              m->fmt == PK_HLS_CMAF ? SIZE_IFRAME_CMAF : SIZE_IFRAME_TS, a,
                              &m->irate[i])) < 0)
            return rc;
    }
    for (uint32_t i = 0; i < m->naudio; i++) {
        /* v3 measures its audio inside the muxed segments, or as its one variant */
        if (m->fmt == PK_HLS_V3 && (m->nvideo || i > 0))
            break;
        if ((rc = track_rates(m->v, m->audio[i], NULL, kind, a, &m->arate[i])) < 0)
            return rc;
        group_t *g = &m->groups[m->group_of[i]];
        if (m->arate[i].peak > g->max.peak)
            g->max.peak = m->arate[i].peak;
        if (m->arate[i].avg > g->max.avg)
            g->max.avg = m->arate[i].avg;
    }
    return 0;
}

static void put_bandwidth(wr_t *w, const char *tag, rate_t r)
{
    wr_printf(w, "%s:BANDWIDTH=%llu,AVERAGE-BANDWIDTH=%llu", tag, (unsigned long long)r.peak,
              (unsigned long long)r.avg);
}

static void put_video_attrs(wr_t *w, const pk_track_t *t, int frame_rate)
{
    if (t->width && t->height)
        wr_printf(w, ",RESOLUTION=%ux%u", t->width, t->height);
    if (!frame_rate)
        return;
    /* FRAME-RATE (RFC 8216 §4.3.4.2, three decimals) only for a constant one: every run of
     * the track but a one-sample tail has the same duration */
    uint32_t delta = 0;
    for (uint32_t i = 0; i < t->run_count; i++) {
        const pk_run_t *r = &t->runs[i];
        if (i + 1 == t->run_count && i > 0 && r->count == 1)
            continue;
        if (delta && r->delta != delta)
            return;
        delta = r->delta;
    }
    if (!delta)
        return;
    uint64_t mfps = ((uint64_t)t->timescale * 1000 + delta / 2) / delta;
    wr_printf(w, ",FRAME-RATE=%llu.%03llu", (unsigned long long)(mfps / 1000),
              (unsigned long long)(mfps % 1000));
}

/* EXT-X-MEDIA:TYPE=AUDIO, one per audio track. NAME must be unique in its group (RFC 8216
 * §4.3.4.2.1): a name that repeats in the group (same name, other bitrate) gets the bitrate. */
static void put_media(wr_t *w, const master_t *m)
{
    for (uint32_t i = 0; i < m->naudio; i++) {
        const pk_vtrack_t *vt = m->audio[i];
        uint32_t g = m->group_of[i];
        int repeated = 0;
        for (uint32_t j = 0; j < m->naudio; j++)
            if (j != i && m->group_of[j] == g && strcmp(m->audio[j]->at->name, vt->at->name) == 0)
                repeated = 1;
        wr_str(w, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=");
        put_group_id(w, m, g);
        wr_str(w, ",NAME=\"");
        put_text(w, vt->at->name);
        if (repeated)
            wr_printf(w, " %u", vt->at->bitrate);
        wr_u8(w, '"');
        put_language(w, vt->at->language);
        /* one DEFAULT per group (RFC 8216 §4.3.4.1), AUTOSELECT=YES as it must be with it */
        wr_str(w, m->groups[g].first == i ? ",DEFAULT=YES" : ",DEFAULT=NO");
        wr_str(w, ",AUTOSELECT=YES");
        if (vt->t->channels)
            wr_printf(w, ",CHANNELS=\"%u\"", vt->t->channels);
        wr_str(w, ",URI=\"");
        put_playlist_uri(w, vt, NULL, m->fmt, 0, m->o);
        wr_str(w, "\"\n");
    }
}

static void put_codecs(wr_t *w, const char *video, const char *audio)
{
    wr_str(w, ",CODECS=\"");
    if (video)
        put_text(w, video);
    if (video && audio)
        wr_u8(w, ',');
    if (audio)
        put_text(w, audio);
    wr_u8(w, '"');
}

/* v4 and CMAF: video variants per audio group, I-frame streams, audio-only variants last. */
static void put_master_groups(wr_t *w, const master_t *m)
{
    put_media(w, m);
    for (uint32_t g = 0; g < (m->ngroups ? m->ngroups : 1); g++) {
        for (uint32_t i = 0; i < m->nvideo; i++) {
            const pk_vtrack_t *vt = m->video[i];
            /* RFC 8216 §4.3.4.2: the largest sum of peak segment bit rates of any playable
             * combination of renditions: this video with the heaviest audio of the group */
            rate_t r = m->vrate[i];
            if (m->ngroups) {
                r.peak += m->groups[g].max.peak;
                r.avg += m->groups[g].max.avg;
            }
            put_bandwidth(w, "#EXT-X-STREAM-INF", r);
            put_video_attrs(w, vt->t, 1);
            put_codecs(w, vt->t->codec, m->ngroups ? m->groups[g].codec : NULL);
            if (m->ngroups) {
                wr_str(w, ",AUDIO=");
                put_group_id(w, m, g);
            }
            wr_u8(w, '\n');
            put_playlist_uri(w, vt, NULL, m->fmt, 0, m->o);
            wr_u8(w, '\n');
        }
    }
    for (uint32_t i = 0; i < m->nvideo; i++) {
        const pk_vtrack_t *vt = m->video[i];
        put_bandwidth(w, "#EXT-X-I-FRAME-STREAM-INF", m->irate[i]);
        put_video_attrs(w, vt->t, 0);       /* FRAME-RATE is not defined here (§4.3.4.3) */
        put_codecs(w, vt->t->codec, NULL);
        wr_str(w, ",URI=\"");
        put_playlist_uri(w, vt, NULL, m->fmt, 1, m->o);
        wr_str(w, "\"\n");
    }
    /* The audio-only variant (Apple's cellular guideline, ams-facts §2.3), one per group,
     * pointing at the group's default track. audio-only=false drops it, except that an
     * asset without video has nothing else to offer. */
    if (m->o && m->o->audio_only_false && m->nvideo)
        return;
    for (uint32_t g = 0; g < m->ngroups; g++) {
        put_bandwidth(w, "#EXT-X-STREAM-INF", m->groups[g].max);
        put_codecs(w, NULL, m->groups[g].codec);
        wr_str(w, ",AUDIO=");
        put_group_id(w, m, g);
        wr_u8(w, '\n');
        put_playlist_uri(w, m->audio[m->groups[g].first], NULL, m->fmt, 0, m->o);
        wr_u8(w, '\n');
    }
}

/*
 * v3: no renditions. Each video variant muxes the first audio track (audiotrack= in its
 * URI); the other audio tracks are not reachable in v3, which cannot switch languages, and
 * there is no audio-only variant (AMS's advice to avoid it was "use HLS-V3", ams-facts §2.3)
 * and no I-frame streams (I-frame playlists are version 4). An asset without video is one
 * variant of its first audio track.
 */
static void put_master_v3(wr_t *w, const master_t *m)
{
    const pk_vtrack_t *mux = m->naudio ? m->audio[0] : NULL;
    for (uint32_t i = 0; i < m->nvideo; i++) {
        const pk_vtrack_t *vt = m->video[i];
        put_bandwidth(w, "#EXT-X-STREAM-INF", m->vrate[i]);
        put_video_attrs(w, vt->t, 1);
        put_codecs(w, vt->t->codec, mux ? mux->t->codec : NULL);
        wr_u8(w, '\n');
        put_playlist_uri(w, vt, mux, m->fmt, 0, m->o);
        wr_u8(w, '\n');
    }
    if (!m->nvideo && mux) {
        put_bandwidth(w, "#EXT-X-STREAM-INF", m->arate[0]);
        put_codecs(w, NULL, mux->t->codec);
        wr_u8(w, '\n');
        put_playlist_uri(w, mux, NULL, m->fmt, 0, m->o);
        wr_u8(w, '\n');
    }
}

int pk_hls_master(const pk_view_t *v, pk_hls_format_t fmt, const pk_urlopts_t *o, arena_t *a,
                  wr_t *w)
{
    master_t m = { .v = v, .fmt = fmt, .o = o };
    int rc;

    if ((rc = master_collect(&m, a)) < 0 || (rc = master_rates(&m, a)) < 0)
        return rc;
    if (!m.nvideo && !m.naudio)
        return -ENOENT;
    wr_printf(w, "#EXTM3U\n#EXT-X-VERSION:%u\n#EXT-X-INDEPENDENT-SEGMENTS\n", version(fmt, 0));
    if (fmt == PK_HLS_V3)
        put_master_v3(w, &m);
    else
        put_master_groups(w, &m);
    return w->err;
}

/* ---- media and I-frame playlists -------------------------------------- */

/* The first listed fragment: its index is the EXT-X-MEDIA-SEQUENCE, so a segment keeps its
 * sequence number in every filtered view that lists it. */
static uint32_t first_listed(const pk_view_t *v, const pk_vtrack_t *vt)
{
    uint32_t k = v->frag_begin;
    while (k < v->frag_end && !vt->frags[k].count)
        k++;
    return k < v->frag_end ? k : v->frag_begin;
}

static void put_playlist_head(wr_t *w, const pk_view_t *v, const pk_vtrack_t *vt,
                              pk_hls_format_t fmt, unsigned need, int iframes)
{
    wr_printf(w, "#EXTM3U\n#EXT-X-VERSION:%u\n#EXT-X-TARGETDURATION:%u\n"
              "#EXT-X-MEDIA-SEQUENCE:%u\n#EXT-X-PLAYLIST-TYPE:VOD\n",
              version(fmt, need), target_duration(v, vt), first_listed(v, vt));
    wr_str(w, iframes ? "#EXT-X-I-FRAMES-ONLY\n" : "#EXT-X-INDEPENDENT-SEGMENTS\n");
}

static void put_map(wr_t *w, const pk_vtrack_t *vt, const pk_urlopts_t *o)
{
    wr_str(w, "#EXT-X-MAP:URI=\"");
    put_segment_uri(w, vt, NULL, PK_HLS_CMAF, 1, 0, o);
    wr_str(w, "\"\n");
}

int pk_hls_media(const pk_view_t *v, const pk_vtrack_t *vt, const pk_vtrack_t *mux,
                 pk_hls_format_t fmt, const pk_urlopts_t *o, wr_t *w)
{
    uint64_t before = 0;

    if (mux && (fmt != PK_HLS_V3 || vt->t->type != PK_TRACK_VIDEO ||
                mux->t->type != PK_TRACK_AUDIO))
        return -EINVAL;
    put_playlist_head(w, v, vt, fmt, fmt == PK_HLS_CMAF ? 6 : 3, 0);
    if (fmt == PK_HLS_CMAF)
        put_map(w, vt, o);
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        const pk_frag_t *f = &vt->frags[k];
        if (!f->count)
            continue;
        put_extinf(w, extinf_ms(before, f->duration, vt->t->timescale));
        before += f->duration;
        put_segment_uri(w, vt, mux, fmt, 0, f->time, o);
        wr_u8(w, '\n');
    }
    wr_str(w, "#EXT-X-ENDLIST\n");
    return w->err;
}

int pk_hls_iframes(const pk_view_t *v, const pk_vtrack_t *vt, pk_hls_format_t fmt,
                   const pk_urlopts_t *o, arena_t *a, wr_t *w)
{
    uint64_t before = 0;
    size_kind_t kind = fmt == PK_HLS_CMAF ? SIZE_IFRAME_CMAF : SIZE_IFRAME_TS;
    int rc;

    (void)a;                    /* TS ranges are measured in scratch arenas (entry_size) */
    if (fmt == PK_HLS_V3 || vt->t->type != PK_TRACK_VIDEO)
        return -ENOENT;
    /* EXT-X-BYTERANGE and EXT-X-I-FRAMES-ONLY need 4, EXT-X-MAP in I-frame playlists 5 */
    put_playlist_head(w, v, vt, fmt, fmt == PK_HLS_CMAF ? 5 : 4, 1);
    if (fmt == PK_HLS_CMAF)
        put_map(w, vt, o);
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        const pk_frag_t *f = &vt->frags[k];
        uint64_t len;
        if (!f->count)
            continue;
        if ((rc = entry_size(vt, NULL, k, kind, &len)) < 0)
            return rc;
        /* one I-frame per fragment: its EXTINF runs to the next fragment's key frame */
        put_extinf(w, extinf_ms(before, f->duration, vt->t->timescale));
        before += f->duration;
        wr_printf(w, "#EXT-X-BYTERANGE:%llu@0\n", (unsigned long long)len);
        put_segment_uri(w, vt, NULL, fmt, 0, f->time, o);
        wr_u8(w, '\n');
    }
    wr_str(w, "#EXT-X-ENDLIST\n");
    return w->err;
}
