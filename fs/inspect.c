#include "inspect.h"

#include <inttypes.h>
#include <string.h>

#include "media.h"

/* One row: a track with the name, bitrate and src the asset gives it. */
typedef struct {
    const pk_track_t *t;
    const char *name, *src, *lang;
    uint32_t bitrate;
} row_t;

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* Shortest and longest distance between consecutive sync samples; a track with
 * one sync sample has one GOP of every sample. */
static void gop_range(const pk_track_t *t, uint32_t *min, uint32_t *max)
{
    *min = *max = t->sync_count > 1 ? UINT32_MAX : t->sample_count;
    if (!t->sync) {
        *min = *max = t->sample_count ? 1 : 0;
        return;
    }
    if (t->sync_count <= 1)
        return;
    *max = 0;
    for (uint32_t k = 1; k < t->sync_count; k++) {
        uint32_t d = t->sync[k] - t->sync[k - 1];
        *min = d < *min ? d : *min;
        *max = d > *max ? d : *max;
    }
}

static void print_json(FILE *out, const char *file, const row_t *rows, uint32_t n)
{
    fputs("{\"file\":", out);
    json_str(out, file);
    fputs(",\"tracks\":[", out);
    for (uint32_t i = 0; i < n; i++) {
        const pk_track_t *t = rows[i].t;
        char fcc[5];
        uint32_t gmin, gmax;
        gop_range(t, &gmin, &gmax);
        fprintf(out, "%s{\"id\":%" PRIu32 ",\"type\":\"%s\",\"codec\":", i ? "," : "", t->id,
                pk_track_type_name(t->type));
        json_str(out, t->codec);
        fputs(",\"fourcc\":", out);
        json_str(out, fourcc_str(t->fourcc, fcc));
        fputs(",\"name\":", out);
        json_str(out, rows[i].name);
        fputs(",\"src\":", out);
        json_str(out, rows[i].src);
        fprintf(out, ",\"bitrate\":%" PRIu32 ",\"timescale\":%" PRIu32 ",\"duration\":%" PRIu64
                ",\"sample_count\":%" PRIu32 ",\"language\":",
                rows[i].bitrate, t->timescale, t->duration, t->sample_count);
        json_str(out, rows[i].lang);
        fprintf(out, ",\"width\":%u,\"height\":%u,\"channels\":%u,\"sample_rate\":%" PRIu32
                ",\"gop_min\":%" PRIu32 ",\"gop_max\":%" PRIu32,
                t->width, t->height, t->channels, t->sample_rate, gmin, gmax);
        if (t->sample_count)
            fprintf(out, ",\"first_dts\":%" PRId64 ",\"first_pts\":%" PRId64,
                    pk_track_dts_presented(t, 0), pk_track_pts(t, 0));
        fprintf(out, ",\"media_time\":%" PRIu64 ",\"empty_edit\":%" PRIu64 ",\"keyframes\":[",
                t->media_time, t->empty_edit);
        for (uint32_t k = 0; k < t->sync_count; k++)
            fprintf(out, "%s%" PRIu32, k ? "," : "", t->sync ? t->sync[k] : k);
        fputs("]}", out);
    }
    fputs("]}\n", out);
}

static void print_table(FILE *out, const char *file, const row_t *rows, uint32_t n)
{
    fprintf(out, "%s: %u track%s\n", file, n, n == 1 ? "" : "s");
    fprintf(out, "%-3s %-5s %-24s %-16s %9s %9s %10s %8s %-4s %-12s %-7s %s\n", "ID", "TYPE",
            "NAME", "CODEC", "BITRATE", "TIMESCALE", "DURATION", "SAMPLES", "LANG", "FORMAT",
            "GOP", "SRC");
    for (uint32_t i = 0; i < n; i++) {
        const pk_track_t *t = rows[i].t;
        char fmt[32] = "-", gop[24] = "-";
        uint32_t gmin, gmax;
        if (t->type == PK_TRACK_VIDEO) {
            snprintf(fmt, sizeof fmt, "%ux%u", t->width, t->height);
            gop_range(t, &gmin, &gmax);
            if (gmin == gmax)
                snprintf(gop, sizeof gop, "%" PRIu32, gmin);
            else
                snprintf(gop, sizeof gop, "%" PRIu32 "-%" PRIu32, gmin, gmax);
        } else if (t->type == PK_TRACK_AUDIO) {
            snprintf(fmt, sizeof fmt, "%uch %" PRIu32 "Hz", t->channels, t->sample_rate);
        }
        fprintf(out, "%-3" PRIu32 " %-5s %-24s %-16s %9" PRIu32 " %9" PRIu32 " %9.3fs %8"
                PRIu32 " %-4s %-12s %-7s %s\n",
                t->id, pk_track_type_name(t->type), rows[i].name, t->codec, rows[i].bitrate,
                t->timescale, (double)t->duration / t->timescale, t->sample_count, rows[i].lang,
                fmt, gop, rows[i].src);
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int fs_inspect(fs_ctx_t *ctx, const char *rel, int json, FILE *out)
{
    fs_req_t req;
    row_t *rows;
    uint32_t n = 0;
    int rc;

    if ((rc = fs_req_begin(ctx, &req)) < 0)
        return rc;
    if (ends_with(rel, ".ism")) {
        const pk_asset_t *as;
        if ((rc = fs_asset_open(&req, rel, &as)) < 0)
            goto out;
        rc = -ENOMEM;
        if (!(rows = arena_calloc(req.arena, as->track_count + 1, sizeof *rows)))
            goto out;
        for (; n < as->track_count; n++) {
            const pk_asset_track_t *at = &as->tracks[n];
            rows[n] = (row_t){ at->track, at->name, at->src, at->language, at->bitrate };
        }
    } else {
        const pk_media_t *m;
        if ((rc = fs_media_open(&req, rel, &m, NULL)) < 0)
            goto out;
        rc = -ENOMEM;
        if (!(rows = arena_calloc(req.arena, m->track_count + 1, sizeof *rows)))
            goto out;
        const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        for (; n < m->track_count; n++) {
            const pk_track_t *t = &m->tracks[n];
            rows[n] = (row_t){ t, pk_track_type_name(t->type), base, t->lang, t->bitrate };
        }
    }
    if (json)
        print_json(out, rel, rows, n);
    else
        print_table(out, rel, rows, n);
    rc = 0;
out:
    fs_req_end(&req);
    return rc;
}
