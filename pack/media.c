#include "media.h"

#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "log.h"

/* The run holding sample i: the last run whose first index is <= i. */
static const pk_run_t *run_of(const pk_track_t *t, uint32_t i)
{
    uint32_t lo = 0, hi = t->run_count;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->runs[mid].first <= i)
            lo = mid;
        else
            hi = mid;
    }
    return &t->runs[lo];
}

uint64_t pk_track_dts(const pk_track_t *t, uint32_t i)
{
    const pk_run_t *r = run_of(t, i);
    return r->dts + (uint64_t)(i - r->first) * r->delta;
}

uint32_t pk_track_sample_duration(const pk_track_t *t, uint32_t i)
{
    return run_of(t, i)->delta;
}

int pk_track_is_sync(const pk_track_t *t, uint32_t i)
{
    if (!t->sync)
        return 1;
    uint32_t lo = 0, hi = t->sync_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->sync[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->sync_count && t->sync[lo] == i;
}

int64_t pk_track_dts_presented(const pk_track_t *t, uint32_t i)
{
    return (int64_t)pk_track_dts(t, i) - (int64_t)t->media_time + (int64_t)t->empty_edit;
}

int64_t pk_track_pts(const pk_track_t *t, uint32_t i)
{
    return pk_track_dts_presented(t, i) + t->samples[i].cto;
}

const pk_track_t *pk_media_find(const pk_media_t *m, pk_track_type_t type)
{
    for (uint32_t i = 0; i < m->track_count; i++)
        if (m->tracks[i].type == type)
            return &m->tracks[i];
    return NULL;
}

const pk_track_t *pk_media_track(const pk_media_t *m, uint32_t id)
{
    for (uint32_t i = 0; i < m->track_count; i++)
        if (m->tracks[i].id == id)
            return &m->tracks[i];
    return NULL;
}

void pk_track_finish(pk_track_t *t)
{
    uint64_t dur = 0, bytes = 0;
    for (uint32_t r = 0; r < t->run_count; r++)
        dur += (uint64_t)t->runs[r].count * t->runs[r].delta;
    for (uint32_t i = 0; i < t->sample_count; i++)
        bytes += t->samples[i].size;
    t->duration = dur;
    t->bitrate = 0;
    if (dur && t->timescale) {
        /* bytes * 8 * timescale can pass 2^64 only for absurd inputs; divide first then */
        unsigned __int128 b = (unsigned __int128)bytes * 8 * t->timescale / dur;
        t->bitrate = b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
    }
}

const char *pk_track_type_name(pk_track_type_t type)
{
    switch (type) {
    case PK_TRACK_VIDEO: return "video";
    case PK_TRACK_AUDIO: return "audio";
    case PK_TRACK_TEXT: return "text";
    }
    return "unknown";
}

/* ---- index blob --------------------------------------------------------
 *
 * header | track structs (copied whole; their pointers are meaningless on
 * disk and rebuilt on unpack) | per track, each 8-aligned: samples, runs,
 * sync, entry.
 */

#define BLOB_MAGIC FOURCC('P', 'K', 'M', 'I')
#define BLOB_VERSION 1u

struct blob_header {
    uint32_t magic, version;
    uint32_t track_struct_size; /* sizeof(pk_track_t): a build with another layout rejects the blob */
    uint32_t track_count;
    uint32_t movie_timescale;
    uint32_t fragmented;
    uint64_t movie_duration;
};

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static void pad8(wr_t *w)
{
    wr_zeros(w, align8(w->pos) - w->pos);
}

void pk_media_pack(const pk_media_t *m, wr_t *w)
{
    struct blob_header h = {
        .magic = BLOB_MAGIC, .version = BLOB_VERSION,
        .track_struct_size = sizeof(pk_track_t), .track_count = m->track_count,
        .movie_timescale = m->movie_timescale, .fragmented = (uint32_t)m->fragmented,
        .movie_duration = m->movie_duration,
    };
    wr_bytes(w, &h, sizeof h);
    for (uint32_t i = 0; i < m->track_count; i++) {
        pk_track_t t = m->tracks[i];
        t.entry = NULL;
        t.samples = NULL;
        t.runs = NULL;
        t.sync = NULL;
        wr_bytes(w, &t, sizeof t);
    }
    for (uint32_t i = 0; i < m->track_count; i++) {
        const pk_track_t *t = &m->tracks[i];
        pad8(w);
        wr_bytes(w, t->samples, (size_t)t->sample_count * sizeof *t->samples);
        pad8(w);
        wr_bytes(w, t->runs, (size_t)t->run_count * sizeof *t->runs);
        pad8(w);
        if (t->sync && t->sync_count != t->sample_count)
            wr_bytes(w, t->sync, (size_t)t->sync_count * sizeof *t->sync);
        pad8(w);
        wr_bytes(w, t->entry, t->entry_size);
    }
    pad8(w);
}

/* Points *out at n bytes at *off in the blob (copying when the blob is unaligned)
 * and advances *off; -EBADMSG when they are not there. */
static int take(const uint8_t *blob, size_t len, size_t *off, size_t n, int copy,
                arena_t *a, const void **out)
{
    *off = align8(*off);
    if (*off > len || n > len - *off)
        return -EBADMSG;
    if (copy && n) {
        void *p = arena_alloc(a, n);
        if (!p)
            return -ENOMEM;
        memcpy(p, blob + *off, n);
        *out = p;
    } else {
        *out = n ? blob + *off : NULL;
    }
    *off += n;
    return 0;
}

static int check_track(const pk_track_t *t)
{
    if (!t->timescale || (t->sample_count && (!t->samples || !t->run_count)))
        return -EBADMSG;
    if (t->sync && t->sync_count > t->sample_count)
        return -EBADMSG;
    if (t->dsi_off > t->entry_size || t->dsi_size > t->entry_size - t->dsi_off)
        return -EBADMSG;
    /* runs must tile [0, sample_count) so lookups stay in bounds */
    uint32_t next = 0;
    for (uint32_t r = 0; r < t->run_count; r++) {
        if (t->runs[r].first != next || t->runs[r].count == 0 ||
            t->runs[r].count > t->sample_count - next)
            return -EBADMSG;
        next += t->runs[r].count;
    }
    if (next != t->sample_count)
        return -EBADMSG;
    for (uint32_t k = 0; t->sync && k < t->sync_count; k++)
        if (t->sync[k] >= t->sample_count || (k && t->sync[k] <= t->sync[k - 1]))
            return -EBADMSG;
    if (memchr(t->codec, 0, sizeof t->codec) == NULL || memchr(t->lang, 0, sizeof t->lang) == NULL)
        return -EBADMSG;
    return 0;
}

static int unpack(const void *blob_, size_t len, int copy, arena_t *a, pk_media_t **out)
{
    const uint8_t *blob = blob_;
    struct blob_header h;
    int rc;

    if (len < sizeof h)
        return -EBADMSG;
    memcpy(&h, blob, sizeof h);
    if (h.magic != BLOB_MAGIC || h.version != BLOB_VERSION ||
        h.track_struct_size != sizeof(pk_track_t) ||
        h.track_count > (len - sizeof h) / sizeof(pk_track_t))
        return -EBADMSG;

    pk_media_t *m = arena_zalloc(a, sizeof *m);
    pk_track_t *tracks = arena_calloc(a, h.track_count ? h.track_count : 1, sizeof *tracks);
    if (!m || !tracks)
        return -ENOMEM;
    memcpy(tracks, blob + sizeof h, (size_t)h.track_count * sizeof *tracks);
    size_t off = sizeof h + (size_t)h.track_count * sizeof *tracks;

    for (uint32_t i = 0; i < h.track_count; i++) {
        pk_track_t *t = &tracks[i];
        const void *p;
        if ((uint64_t)t->sample_count * sizeof *t->samples > len ||
            (uint64_t)t->run_count * sizeof *t->runs > len ||
            (uint64_t)t->sync_count * sizeof *t->sync > len)
            return -EBADMSG;
        int has_sync = t->sync_count != t->sample_count;
        if ((rc = take(blob, len, &off, (size_t)t->sample_count * sizeof *t->samples, copy, a, &p)))
            return rc;
        t->samples = p;
        if ((rc = take(blob, len, &off, (size_t)t->run_count * sizeof *t->runs, copy, a, &p)))
            return rc;
        t->runs = p;
        if ((rc = take(blob, len, &off, has_sync ? (size_t)t->sync_count * sizeof *t->sync : 0,
                       copy, a, &p)))
            return rc;
        /* a track with no sync sample at all keeps a non-NULL empty list: NULL means all-sync */
        static const uint32_t no_sync[1];
        t->sync = has_sync ? (p ? p : no_sync) : NULL;
        if ((rc = take(blob, len, &off, t->entry_size, copy, a, &p)))
            return rc;
        t->entry = p;
        if (check_track(t) < 0) {
            PK_ERROR("media index blob: track %u is inconsistent", t->id);
            return -EBADMSG;
        }
    }
    m->track_count = h.track_count;
    m->tracks = tracks;
    m->movie_timescale = h.movie_timescale;
    m->movie_duration = h.movie_duration;
    m->fragmented = (int)h.fragmented;
    *out = m;
    return 0;
}

int pk_media_unpack(const void *blob, size_t len, arena_t *a, pk_media_t **out)
{
    return unpack(blob, len, ((uintptr_t)blob & 7) != 0, a, out);
}

int pk_media_unpack_copy(const void *blob, size_t len, arena_t *a, pk_media_t **out)
{
    return unpack(blob, len, 1, a, out);
}
