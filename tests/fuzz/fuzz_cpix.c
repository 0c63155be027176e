/*
 * The CPIX reader (crypt/cpix.c): a keys= document as an operator (or a key server)
 * wrote it. What it returns is checked against crypt/cpix.h's promises and asked for the
 * key of a few tracks, as fs/keys.c does for every protected request.
 */
#include "fuzz.h"

#include <errno.h>

#include "../../crypt/cpix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    arena_t *a = arena_new();
    FUZZ_CHECK(a);
    cr_cpix_t *c = NULL;
    int rc = cr_cpix_parse((const char *)data, size, "fuzz.cpix", a, &c);
    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOTSUP || rc == -ENOMEM);
    if (rc == 0) {
        FUZZ_CHECK(c->key_count >= 1);
        FUZZ_CHECK(cr_cpix_check(c) == 0);
        for (uint32_t i = 0; i < c->key_count; i++)
            FUZZ_CHECK(cr_cpix_key(c, c->keys[i].kid) == &c->keys[i]);
        for (uint32_t i = 0; i < c->drm_count; i++) {
            const cr_drm_system_t *d = &c->drm[i];
            FUZZ_CHECK(cr_cpix_drm(c, d->kid, d->system) == d);
            FUZZ_CHECK(cr_cpix_key(c, d->kid) != NULL);
            FUZZ_CHECK(cr_drm_system_id(d->system) &&
                       memcmp(cr_drm_system_id(d->system), d->system_id, 16) == 0);
            if (d->pssh) {                      /* a complete pssh box of its system */
                FUZZ_CHECK(d->pssh_size >= 32);
                FUZZ_CHECK(((uint32_t)d->pssh[0] << 24 | (uint32_t)d->pssh[1] << 16 |
                            (uint32_t)d->pssh[2] << 8 | d->pssh[3]) == d->pssh_size);
                FUZZ_CHECK(memcmp(d->pssh + 4, "pssh", 4) == 0);
                FUZZ_CHECK(memcmp(d->pssh + 12, d->system_id, 16) == 0);
            }
            FUZZ_CHECK(d->hls_count <= 2);
            for (uint32_t h = 0; h < d->hls_count; h++)
                FUZZ_CHECK(d->hls[h].text != NULL);
        }
        for (uint32_t i = 0; i < c->rule_count; i++)
            FUZZ_CHECK(cr_cpix_key(c, c->rules[i].kid) != NULL);

        static const struct {
            pk_track_type_t type;
            uint32_t w, h, ch, br;
        } tracks[] = {
            { PK_TRACK_VIDEO, 1920, 1080, 0, 6000000 }, { PK_TRACK_VIDEO, 640, 360, 0, 800000 },
            { PK_TRACK_VIDEO, 0, 0, 0, 0 },             { PK_TRACK_AUDIO, 0, 0, 2, 128000 },
            { PK_TRACK_AUDIO, 0, 0, 6, 384000 },        { PK_TRACK_TEXT, 0, 0, 0, 1000 },
            { PK_TRACK_VIDEO, 65535, 65535, 0, UINT32_MAX },
        };
        for (size_t i = 0; i < sizeof tracks / sizeof *tracks; i++) {
            const cr_key_t *k = NULL;
            rc = cr_cpix_key_for(c, tracks[i].type, tracks[i].w, tracks[i].h, tracks[i].ch,
                                 tracks[i].br, &k);
            FUZZ_CHECK(rc == 0 || rc == -ENOKEY || rc == -EBADMSG);
            if (rc == 0)
                FUZZ_CHECK(k >= c->keys && k < c->keys + c->key_count);
        }
    }
    arena_free(a);
    return 0;
}
