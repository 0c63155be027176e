/*
 * The SMIL server manifest reader (pack/ism.c) and what a mount does next with its
 * result: pk_asset_build against a fixed media (fuzz_media.h: 2 video, 2 audio, 1 text
 * track, whatever src the manifest names), then pk_view_build.
 */
#include "fuzz_media.h"

#include "../../pack/ism.h"

/* pk_ism.h: a src is relative and has no ".." component (it must stay below SRC). */
static int src_below(const char *src)
{
    if (!src || !*src || *src == '/' || strchr(src, '\\'))
        return 0;
    for (const char *c = src; *c; c += strcspn(c, "/"), c += *c == '/')
        if (strncmp(c, "..", 2) == 0 && (c[2] == '/' || c[2] == 0))
            return 0;
    return 1;
}

/* An audio file (by its name, as the fixtures are named) has its audio tracks first. */
static int get_media(void *ctx, const char *src, const pk_media_t **media,
                     const pk_source_t **source)
{
    fuzz_synth_t *const *s = ctx;
    FUZZ_CHECK(src != NULL);
    if (strcmp(src, "missing.mp4") == 0)
        return -ENOENT;                         /* as a src that is not in SRC */
    int audio = strstr(src, "aac") || strstr(src, "audio") || strstr(src, "ac3");
    *media = &s[audio]->media;
    *source = &s[audio]->src;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    arena_t *a = arena_new();
    FUZZ_CHECK(a);
    pk_ism_t *ism = NULL;
    int rc = pk_ism_parse((const char *)data, size, "fuzz.ism", a, &ism);
    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOENT || rc == -ENOMEM);
    if (rc == 0) {
        FUZZ_CHECK(ism->entry_count > 0);
        for (uint32_t i = 0; i < ism->entry_count; i++) {
            const pk_ism_entry_t *e = &ism->entries[i];
            FUZZ_CHECK(src_below(e->src));
            FUZZ_CHECK(e->type == PK_TRACK_VIDEO || e->type == PK_TRACK_AUDIO ||
                       e->type == PK_TRACK_TEXT);
            for (uint32_t p = 0; p < e->param_count; p++) {
                FUZZ_CHECK(e->params[p].name && e->params[p].value);
                FUZZ_CHECK(pk_ism_param(e, e->params[p].name) != NULL);
            }
            (void)pk_ism_param(e, "trackName");
        }
        for (uint32_t i = 0; i < ism->meta_count; i++)
            FUZZ_CHECK(ism->meta[i].name && ism->meta[i].value);

        fuzz_synth_t *s[2] = { fuzz_synth(a, 0), fuzz_synth(a, 1) };
        FUZZ_CHECK(s[0] && s[1]);
        pk_asset_t *as = NULL;
        rc = pk_asset_build(ism, "fuzz.ism", get_media, s, a, &as);
        FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOENT || rc == -ENOMEM);
        if (rc == 0) {
            for (uint32_t i = 0; i < as->track_count; i++) {
                const pk_asset_track_t *at = &as->tracks[i];
                FUZZ_CHECK(at->track && at->source && at->name && at->language && at->src);
                for (uint32_t j = 0; j < i; j++)   /* a URL tells every track apart */
                    FUZZ_CHECK(strcmp(at->name, as->tracks[j].name) != 0 ||
                               at->bitrate != as->tracks[j].bitrate);
            }
            pk_view_t *v = NULL;
            rc = pk_view_build(as, 2000, a, &v);
            FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOENT || rc == -ENOMEM);
        }
    }
    arena_free(a);
    return 0;
}
