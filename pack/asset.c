#include "asset.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *audio_prefix(const pk_track_t *t)
{
    switch (t->fourcc) {
    case FOURCC('a', 'c', '-', '3'): return "ac3";
    case FOURCC('e', 'c', '-', '3'): return "ec3";
    case FOURCC('m', 'p', '4', 'a'):
        return t->object_type == 0x6b || t->object_type == 0x69 ? "mp3" : "aac";
    }
    return "audio";
}

static const char *default_name(const pk_track_t *t, const char *lang, uint32_t bitrate,
                                arena_t *a)
{
    char buf[96];
    switch (t->type) {
    case PK_TRACK_VIDEO:
        return "video";
    case PK_TRACK_AUDIO:
        snprintf(buf, sizeof buf, "%s_%s_%u_%u", audio_prefix(t), lang, t->channels, bitrate);
        return arena_strdup(a, buf);
    case PK_TRACK_TEXT:
        snprintf(buf, sizeof buf, "text_%s", lang);
        return arena_strdup(a, buf);
    }
    return "track";
}

static int pick_track(const pk_ism_entry_t *e, const pk_media_t *m, const char *name,
                      const pk_track_t **out)
{
    const pk_track_t *t;
    if (e->track_id) {
        t = pk_media_track(m, e->track_id);
        if (!t) {
            PK_ERROR("%s:%u: %s has no track %u", name, e->line, e->src, e->track_id);
            return -EBADMSG;
        }
        if (t->type != e->type) {
            PK_ERROR("%s:%u: track %u of %s is %s, not %s", name, e->line, e->track_id, e->src,
                     pk_track_type_name(t->type), pk_track_type_name(e->type));
            return -EBADMSG;
        }
    } else if (!(t = pk_media_find(m, e->type))) {
        PK_ERROR("%s:%u: %s has no %s track", name, e->line, e->src, pk_track_type_name(e->type));
        return -EBADMSG;
    }
    *out = t;
    return 0;
}

int pk_asset_build(const pk_ism_t *ism, const char *name, pk_asset_media_fn get, void *ctx,
                   arena_t *a, pk_asset_t **out)
{
    pk_asset_t *as = arena_zalloc(a, sizeof *as);
    pk_asset_track_t *tr = arena_calloc(a, ism->entry_count ? ism->entry_count : 1, sizeof *tr);
    int rc;

    if (!as || !tr)
        return -ENOMEM;
    for (uint32_t i = 0; i < ism->entry_count; i++) {
        const pk_ism_entry_t *e = &ism->entries[i];
        const pk_media_t *m;
        const pk_source_t *src;
        const pk_track_t *t;
        if ((rc = get(ctx, e->src, &m, &src)) < 0 || (rc = pick_track(e, m, name, &t)) < 0)
            return rc;
        pk_asset_track_t *at = &tr[i];
        at->track = t;
        at->source = src;
        at->src = e->src;
        at->line = e->line;
        at->bitrate = e->system_bitrate ? e->system_bitrate : t->bitrate;
        at->language = e->language && *e->language ? e->language : t->lang;
        if (e->track_name && *e->track_name)
            at->name = e->track_name;
        else if (e->title && *e->title)
            at->name = e->title;
        else
            at->name = default_name(t, at->language, at->bitrate, a);
        if (!at->name)
            return -ENOMEM;
        if (!*at->name || at->name[strcspn(at->name, "/(),=;")]) {
            PK_ERROR("%s:%u: track name \"%s\" is empty or has one of / ( ) , = ;",
                     name, e->line, at->name);
            return -EBADMSG;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (tr[j].bitrate == at->bitrate && strcmp(tr[j].name, at->name) == 0) {
                PK_ERROR("%s:%u: track %s with bitrate %u is already defined at line %u",
                         name, e->line, at->name, at->bitrate, tr[j].line);
                return -EBADMSG;
            }
        }
    }
    as->track_count = ism->entry_count;
    as->tracks = tr;
    *out = as;
    return 0;
}
