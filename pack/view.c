#include "view.h"

#include <string.h>

#include "log.h"

static int64_t pts_out(const pk_vtrack_t *vt, uint32_t i)
{
    return (int64_t)pk_vtrack_dts(vt, i) + pk_vtrack_cto(vt, i);
}

static void set_shifts(pk_vtrack_t *vt)
{
    const pk_track_t *t = vt->t;
    /* the first sample (a key frame) gets cto_out 0: its pts is its dts */
    vt->cto_shift = t->type == PK_TRACK_VIDEO ? t->samples[0].cto : 0;
    vt->dts_shift = (int64_t)t->empty_edit - (int64_t)t->media_time + vt->cto_shift;
    int64_t first = (int64_t)pk_track_dts(t, 0) + vt->dts_shift;
    if (first < 0)
        vt->dts_shift -= first;
}

static uint32_t sync_at(const pk_track_t *t, uint32_t k)
{
    return t->sync ? t->sync[k] : k;
}

/* Chooses the reference track's fragment starts: whole GOPs while they fit in
 * `target` ticks, at least one GOP per fragment. Writes sample indices to
 * starts[] (room for sync_count entries) and returns how many. */
static uint32_t cut_reference(const pk_vtrack_t *ref, uint64_t target, uint32_t *starts)
{
    const pk_track_t *t = ref->t;
    uint32_t n = 0, start = 0, last = 0;
    int have_last = 0;
    /* 10 ms of slack: GOPs of "exactly" the target in a 1001-based timescale */
    uint64_t slack = t->timescale / 100;
    int64_t start_t = pts_out(ref, 0);
    int64_t end_t = (int64_t)pk_vtrack_dts(ref, t->sample_count - 1) +
                    pk_track_sample_duration(t, t->sample_count - 1);

    starts[n++] = 0;
    for (uint32_t k = 0; k <= t->sync_count; k++) {
        uint32_t s = k < t->sync_count ? sync_at(t, k) : t->sample_count;
        if (s <= start)
            continue;
        int64_t at = s < t->sample_count ? pts_out(ref, s) : end_t;
        while ((uint64_t)(at - start_t) > target + slack) {
            if (have_last) {
                start = last;
                have_last = 0;
            } else if (s < t->sample_count) {
                start = s;      /* one GOP longer than the target: a fragment of its own */
            } else {
                break;
            }
            starts[n++] = start;
            start_t = pts_out(ref, start);
        }
        if (s < t->sample_count && s > start) {
            last = s;
            have_last = 1;
        }
    }
    return n;
}

/* Converts time `v` from timescale `from` to `to`, rounding to nearest. */
static int64_t rescale(int64_t v, uint32_t from, uint32_t to)
{
    __int128 x = (__int128)v * to;
    return (int64_t)((x + (x >= 0 ? from / 2 : -(__int128)(from / 2))) / from);
}

/* Starts of another video rendition: at the key frame presented at each
 * reference start, within half a frame. */
static int align_video(const pk_vtrack_t *ref, const uint32_t *ref_starts, uint32_t n,
                       const pk_vtrack_t *vt, uint32_t *starts, const char *asset)
{
    const pk_track_t *t = vt->t;
    uint32_t k = 0;
    for (uint32_t f = 0; f < n; f++) {
        int64_t want = rescale(pts_out(ref, ref_starts[f]), ref->t->timescale, t->timescale);
        int found = 0;
        for (; k < t->sync_count; k++) {
            uint32_t s = sync_at(t, k);
            int64_t d = pts_out(vt, s) - want;
            int64_t half = pk_track_sample_duration(t, s) / 2;
            if (d > half)
                break;
            if (d >= -half) {
                starts[f] = s;
                found = 1;
                k++;
                break;
            }
        }
        if (!found || (f && starts[f] <= starts[f - 1])) {
            PK_ERROR("%s: misaligned ladder: %s (%u bit/s) has no key frame at %.3f s, "
                     "where %s (%u bit/s) starts a fragment", asset, vt->at->name,
                     vt->at->bitrate, (double)want / t->timescale, ref->at->name,
                     ref->at->bitrate);
            return -EBADMSG;
        }
    }
    return 0;
}

/* Starts of an audio (or any all-sync) track: the frame nearest each span start. */
static void align_audio(const pk_vtrack_t *ref, const uint32_t *ref_starts, uint32_t n,
                        const pk_vtrack_t *vt, uint32_t *starts)
{
    const pk_track_t *t = vt->t;
    uint32_t i = 0;
    starts[0] = 0;
    for (uint32_t f = 1; f < n; f++) {
        int64_t want = rescale(pts_out(ref, ref_starts[f]), ref->t->timescale, t->timescale);
        while (i < t->sample_count &&
               pts_out(vt, i) + (int64_t)pk_track_sample_duration(t, i) / 2 < want)
            i++;
        starts[f] = i;
    }
}

static int fill_frags(pk_vtrack_t *vt, const uint32_t *starts, uint32_t n, arena_t *a)
{
    const pk_track_t *t = vt->t;
    pk_frag_t *fr = arena_calloc(a, n, sizeof *fr);
    uint64_t all_bytes = 0, all_dur = 0;
    if (!fr)
        return -ENOMEM;
    vt->frag_count = n;
    vt->min_cto = 0;
    for (uint32_t i = 0; i < t->sample_count; i++)
        if (t->samples[i].cto < vt->min_cto)
            vt->min_cto = t->samples[i].cto;
    for (uint32_t f = 0; f < n; f++) {
        uint32_t end = f + 1 < n ? starts[f + 1] : t->sample_count;
        fr[f].first = starts[f];
        fr[f].count = end > starts[f] ? end - starts[f] : 0;
        fr[f].time = starts[f] < t->sample_count ? pk_vtrack_dts(vt, starts[f])
                                                : pk_vtrack_dts(vt, t->sample_count - 1) +
                                                  pk_track_sample_duration(t, t->sample_count - 1);
        for (uint32_t i = fr[f].first; i < fr[f].first + fr[f].count; i++) {
            fr[f].bytes += t->samples[i].size;
            fr[f].duration += pk_track_sample_duration(t, i);
        }
        all_bytes += fr[f].bytes;
        all_dur += fr[f].duration;
        if (fr[f].duration) {
            uint64_t br = fr[f].bytes * 8 * t->timescale / fr[f].duration;
            if (br > vt->peak_bitrate)
                vt->peak_bitrate = br > UINT32_MAX ? UINT32_MAX : (uint32_t)br;
        }
    }
    if (all_dur) {
        uint64_t br = all_bytes * 8 * t->timescale / all_dur;
        vt->avg_bitrate = br > UINT32_MAX ? UINT32_MAX : (uint32_t)br;
    }
    vt->frags = fr;
    return 0;
}

int pk_view_build(const pk_asset_t *as, uint32_t fragment_ms, arena_t *a, pk_view_t **out)
{
    pk_view_t *v = arena_zalloc(a, sizeof *v);
    pk_vtrack_t *vts = arena_calloc(a, as->track_count ? as->track_count : 1, sizeof *vts);
    uint32_t n = 0, ref = UINT32_MAX, first_audio = UINT32_MAX;
    int rc;

    if (!v || !vts)
        return -ENOMEM;
    for (uint32_t i = 0; i < as->track_count; i++) {
        const pk_asset_track_t *at = &as->tracks[i];
        if (at->track->type == PK_TRACK_TEXT)
            continue;
        if (at->track->sample_count == 0) {
            PK_ERROR("%s: track %s (%s) has no samples", at->src, at->name, at->src);
            return -EBADMSG;
        }
        vts[n].at = at;
        vts[n].t = at->track;
        set_shifts(&vts[n]);
        if (at->track->type == PK_TRACK_VIDEO &&
            (ref == UINT32_MAX || at->bitrate > vts[ref].at->bitrate))
            ref = n;
        if (at->track->type == PK_TRACK_AUDIO && first_audio == UINT32_MAX)
            first_audio = n;
        n++;
    }
    if (ref == UINT32_MAX)
        ref = first_audio;
    if (ref == UINT32_MAX)
        return -ENOENT;

    const pk_vtrack_t *r = &vts[ref];
    uint64_t target = (uint64_t)fragment_ms * r->t->timescale / 1000;
    uint32_t *ref_starts = arena_calloc(a, r->t->sync_count + 1, sizeof *ref_starts);
    uint32_t *starts = arena_calloc(a, r->t->sync_count + 1, sizeof *starts);
    if (!ref_starts || !starts)
        return -ENOMEM;
    uint32_t frags = cut_reference(r, target ? target : 1, ref_starts);

    for (uint32_t i = 0; i < n; i++) {
        if (i == ref)
            memcpy(starts, ref_starts, frags * sizeof *starts);
        else if (vts[i].t->type == PK_TRACK_VIDEO)
            rc = align_video(r, ref_starts, frags, &vts[i], starts, as->tracks[0].src);
        else
            align_audio(r, ref_starts, frags, &vts[i], starts);
        if (i != ref && vts[i].t->type == PK_TRACK_VIDEO && rc < 0)
            return rc;
        if ((rc = fill_frags(&vts[i], starts, frags, a)) < 0)
            return rc;
    }
    v->asset = as;
    v->track_count = n;
    v->tracks = vts;
    v->ref = ref;
    v->frag_count = frags;
    v->frag_begin = 0;
    v->frag_end = frags;
    v->fragment_ms = fragment_ms;
    *out = v;
    return 0;
}

int pk_view_find(const pk_view_t *v, const pk_vtrack_t *vt, uint64_t time)
{
    uint32_t lo = v->frag_begin, hi = v->frag_end;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (vt->frags[mid].time < time)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < v->frag_end && vt->frags[lo].time == time && vt->frags[lo].count)
        return (int)lo;
    return -ENOENT;
}

const pk_vtrack_t *pk_view_track(const pk_view_t *v, const char *name, uint32_t bitrate)
{
    for (uint32_t i = 0; i < v->track_count; i++)
        if (v->tracks[i].at->bitrate == bitrate && strcmp(v->tracks[i].at->name, name) == 0)
            return &v->tracks[i];
    return NULL;
}

uint64_t pk_view_duration(const pk_view_t *v, uint32_t timescale)
{
    const pk_vtrack_t *r = &v->tracks[v->ref];
    uint64_t d = 0;
    for (uint32_t f = v->frag_begin; f < v->frag_end; f++)
        d += r->frags[f].duration;
    return (uint64_t)rescale((int64_t)d, r->t->timescale, timescale);
}
