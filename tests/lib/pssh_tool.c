/* Test driver for crypt/pssh.c (tests/integration/crypt_pssh.sh builds it): writes one
 * signalling object to stdout so tools we did not write (protoc, openssl, iconv, xmllint)
 * can judge it.
 *
 *   pssh_tool WHAT SCHEME [la=URL] KID[:KEYHEX]...
 *
 * WHAT: wv-data (Widevine protobuf), wv-pssh (its pssh box), wv-uri (HLS data: URI),
 * pr-pro (PlayReady Object), pr-pssh (its pssh box), pr-uri (HLS data: URI),
 * common-pssh (W3C common pssh), default-kid (cenc:default_KID text of the first KID).
 * SCHEME: cenc, cens, cbcs, cbc1 (or "none": no protection_scheme in the protobuf).
 * KIDs as UUID text, keys as 32 hex digits (test keys only: never do this with real ones).
 * Exit status 0, or 1 with the reason on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../crypt/pssh.h"
#include "../../pack/text.h"

enum { MAX_KEYS = 64 };

static int unhex(const char *s, uint8_t out[16])
{
    if (strlen(s) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static uint8_t kid[MAX_KEYS][16], key[MAX_KEYS][16];
    const uint8_t *kids[MAX_KEYS], *keys[MAX_KEYS];
    const char *la_url = NULL;
    size_t n = 0;
    int have_keys = 1;

    if (argc < 4) {
        fprintf(stderr, "usage: %s WHAT SCHEME [la=URL] KID[:KEYHEX]...\n", argv[0]);
        return 1;
    }
    const char *what = argv[1], *sch = argv[2];
    uint32_t scheme = strcmp(sch, "none") == 0 ? 0
                    : strlen(sch) == 4 ? FOURCC(sch[0], sch[1], sch[2], sch[3]) : 1;
    for (int i = 3; i < argc; i++) {
        if (strncmp(argv[i], "la=", 3) == 0) {
            la_url = argv[i] + 3;
            continue;
        }
        char text[CR_UUID_STR_SIZE];
        const char *colon = strchr(argv[i], ':');
        size_t tlen = colon ? (size_t)(colon - argv[i]) : strlen(argv[i]);
        if (n == MAX_KEYS || tlen >= sizeof text) {
            fprintf(stderr, "%s: bad KID argument\n", argv[i]);
            return 1;
        }
        memcpy(text, argv[i], tlen);
        text[tlen] = '\0';
        if (cr_uuid_parse(text, kid[n]) < 0 || (colon && unhex(colon + 1, key[n]) < 0)) {
            fprintf(stderr, "%s: not UUID[:32 hex digits]\n", argv[i]);
            return 1;
        }
        if (!colon)
            have_keys = 0;
        kids[n] = kid[n];
        keys[n] = key[n];
        n++;
    }

    arena_t *a = arena_new();
    cr_pssh_blob_t b = { NULL, 0 };
    cr_pssh_widevine_t wv = { .kids = kids, .nkids = n, .scheme = scheme };
    cr_pssh_playready_t pr = { .kids = kids, .nkids = n, .keys = have_keys ? keys : NULL,
                               .scheme = scheme, .la_url = la_url };
    int rc = -EINVAL, text = 0;
    char buf[65536];
    wr_t w = wr_init(buf, sizeof buf);

    if (!a)
        rc = -ENOMEM;
    else if (strcmp(what, "wv-data") == 0)
        rc = cr_pssh_widevine_data(&w, &wv), text = 1;
    else if (strcmp(what, "wv-pssh") == 0)
        rc = cr_pssh_widevine_build(a, &wv, &b);
    else if (strcmp(what, "wv-uri") == 0) {
        if ((rc = cr_pssh_widevine_build(a, &wv, &b)) == 0)
            cr_pssh_hls_widevine_uri(&w, &b), rc = w.err, text = 1;
    } else if (strcmp(what, "pr-pro") == 0)
        rc = cr_pssh_pro_build(a, &pr, &b);
    else if (strcmp(what, "pr-pssh") == 0)
        rc = cr_pssh_playready_build(a, &pr, &b);
    else if (strcmp(what, "pr-uri") == 0) {
        if ((rc = cr_pssh_pro_build(a, &pr, &b)) == 0)
            cr_pssh_hls_playready_uri(&w, &b), rc = w.err, text = 1;
    } else if (strcmp(what, "common-pssh") == 0)
        rc = cr_pssh_common_write(&w, kids, n), text = 1;
    else if (strcmp(what, "default-kid") == 0 && n)
        cr_uuid_write(&w, kids[0]), rc = w.err, text = 1;
    else
        fprintf(stderr, "%s: unknown output\n", what);

    if (rc == 0) {
        const void *p = text ? (const void *)buf : (const void *)b.p;
        size_t len = text ? w.pos : b.len;
        if (fwrite(p, 1, len, stdout) != len || fflush(stdout) != 0)
            rc = -EIO;
    }
    arena_free(a);
    if (rc < 0) {
        fprintf(stderr, "pssh_tool %s: %s\n", what, strerror(-rc));
        return 1;
    }
    return 0;
}
