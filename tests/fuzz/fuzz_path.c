/*
 * The URL grammar (fs/path.c): any name below NAME.ism/ that a FUSE lookup can hand us.
 * A name that parses is written back in its canonical spelling (fs_path_format: what
 * listings and manifests show) and that spelling must parse to the same request: else a
 * player would be sent a URL that does not resolve, or resolves to something else.
 */
#include "fuzz.h"

#include <errno.h>

#include "../../fs/path.h"

static void check_same(const fs_path_t *x, const fs_path_t *y)
{
    FUZZ_CHECK(x->kind == y->kind);
    FUZZ_CHECK(x->format == y->format);
    FUZZ_CHECK(x->encryption == y->encryption);
    FUZZ_CHECK(x->bitrate == y->bitrate);
    FUZZ_CHECK(strcmp(x->track, y->track) == 0);
    FUZZ_CHECK(x->init == y->init);
    FUZZ_CHECK(x->time == y->time);
    FUZZ_CHECK(x->keyframes == y->keyframes);
    FUZZ_CHECK(strcmp(x->audiotrack, y->audiotrack) == 0);
    FUZZ_CHECK(x->filter_count == y->filter_count);
    for (uint32_t i = 0; i < x->filter_count; i++)
        FUZZ_CHECK(strcmp(x->filters[i], y->filters[i]) == 0);
    FUZZ_CHECK(x->audio_only_false == y->audio_only_false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    /* a path as FUSE gives it: a C string (the bytes up to the first NUL) */
    char *rel = malloc(size + 1);
    FUZZ_CHECK(rel);
    memcpy(rel, data, size);
    rel[size] = 0;

    fs_path_t p;
    int rc = fs_path_parse(rel, &p);
    FUZZ_CHECK(rc == 0 || rc == -ENOENT);
    if (rc == 0) {
        FUZZ_CHECK(p.kind >= FS_REQ_MANIFEST && p.kind <= FS_REQ_FRAGMENT);
        FUZZ_CHECK(memchr(p.track, 0, sizeof p.track) && memchr(p.audiotrack, 0,
                                                                sizeof p.audiotrack));
        FUZZ_CHECK(p.filter_count <= FS_FILTERS_MAX);

        /* the canonical name, behind its QualityLevels(N)/ for a playlist or fragment */
        char probe[1];
        size_t need = fs_path_format(&p, probe, sizeof probe);
        char *canon = malloc(need + 32);
        FUZZ_CHECK(canon);
        size_t off = 0;
        if (p.kind == FS_REQ_PLAYLIST || p.kind == FS_REQ_FRAGMENT)
            off = (size_t)snprintf(canon, 32, "QualityLevels(%u)/", p.bitrate);
        FUZZ_CHECK(fs_path_format(&p, canon + off, need + 1) == need);
        FUZZ_CHECK(strlen(canon + off) == need);

        fs_path_t q;
        FUZZ_CHECK(fs_path_parse(canon, &q) == 0);
        check_same(&p, &q);
        free(canon);
    }
    free(rel);
    return 0;
}
