/* Test driver for tests/integration/pack_cenc_ffmpeg.sh: packages the first track
 * of an MP4 file as CMAF twice, clear (pk_cmaf_init + pk_cmaf_fragment) and
 * encrypted (pk_cmaf_init_protected + pk_cmaf_fragment_protected, with the real
 * crypt/subsample.c layouts and crypt/aes.c cipher behind the pk_protect_t hook,
 * wired as fs/ wires them), each as one file: the init segment, then every
 * fragment. The script then asks ffmpeg, which we did not write, to decrypt the
 * second with the key and compares its frames with the first.
 *   cmaf_cenc_oracle IN.mp4 cenc|cbcs KEY KID CLEAR.mp4 ENC.mp4     KEY, KID: 32 hex
 * Also checks that every fragment has the size pk_cmaf_fragment_protected_size
 * announced. Built by the script:
 *   cc -I. tests/lib/cmaf_cenc_oracle.c pack/\*.c crypt/aes.c crypt/subsample.c \
 *      $(pkg-config --cflags --libs libxml-2.0) -lcrypto
 * Exit status 0, or 1 with a message on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypt/aes.h"
#include "crypt/subsample.h"
#include "pack/cmaf.h"
#include "pack/mp4.h"
#include "pack/view.h"

static int die(const char *msg, int rc)
{
    fprintf(stderr, "cmaf_cenc_oracle: %s (%d)\n", msg, rc);
    return 1;
}

static int file_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    int fd = *(int *)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EBADMSG;
        done += (size_t)n;
    }
    return 0;
}

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

/* What fs/ will hold per request: the cipher and the layout context. */
typedef struct {
    const pk_track_t *t;
    const pk_protect_t *p;
    cr_aes_t *aes;
    cr_subsample_ctx_t *sub;    /* NULL for audio */
} enc_t;

/* pk_encrypt_fn: subsamples from crypt/subsample.c, AES from crypt/aes.c, the
 * senc entry through w. IV (cenc): 8 bytes, the sample index behind a fixed salt,
 * unique per sample under the key. */
static int encrypt(void *ctx, uint32_t i, uint8_t *data, size_t len, wr_t *w)
{
    enc_t *e = ctx;
    const pk_protect_t *p = e->p;
    cr_subsample_t subs[1024];
    int n = 0;
    if (e->sub) {
        n = cr_subsample_layout(e->sub, data, len, subs, 1024);
        if (n < 0 || n > 1024)
            return n < 0 ? n : -ENOTSUP;
    }
    cr_aes_sub_t as[1024];
    for (int j = 0; j < n; j++)
        as[j] = (cr_aes_sub_t){ subs[j].clear, subs[j].prot };
    uint8_t iv[8] = { 0xf3, 0x9a, 0x71, 0xee, (uint8_t)(i >> 24), (uint8_t)(i >> 16),
                      (uint8_t)(i >> 8), (uint8_t)i };
    int rc = p->scheme == FOURCC('c', 'b', 'c', 's')
                 ? cr_aes_cbcs(e->aes, p->constant_iv, 16, data, len, as, (size_t)n,
                               p->crypt_blocks, p->skip_blocks)
                 : cr_aes_cenc(e->aes, iv, 8, data, len, as, (size_t)n);
    if (rc < 0)
        return rc;
    if (p->iv_size)
        wr_bytes(w, iv, 8);
    if (e->sub) {
        wr_u16(w, (uint16_t)n);
        for (int j = 0; j < n; j++) {
            wr_u16(w, (uint16_t)subs[j].clear);
            wr_u32(w, subs[j].prot);
        }
    }
    return 0;
}

static int put(FILE *f, const pk_plan_t *plan)
{
    uint8_t *buf = malloc(plan->size ? plan->size : 1);
    if (!buf)
        return -ENOMEM;
    ssize_t n = pk_plan_read(plan, 0, buf, plan->size);
    int rc = n == (ssize_t)plan->size && fwrite(buf, 1, plan->size, f) == plan->size ? 0 : -EIO;
    free(buf);
    return rc;
}

static int put_init(FILE *f, const pk_vtrack_t *vt, const pk_protect_t *p)
{
    wr_t c = wr_counter();
    pk_cmaf_init_protected(vt, p, &c);
    uint8_t *buf = malloc(c.pos);
    wr_t w = wr_init(buf, c.pos);
    pk_cmaf_init_protected(vt, p, &w);
    int rc = !w.err && w.pos == c.pos && fwrite(buf, 1, c.pos, f) == c.pos ? 0 : -EIO;
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 7)
        return die("usage: cmaf_cenc_oracle IN.mp4 cenc|cbcs KEY KID CLEAR.mp4 ENC.mp4", 0);
    uint8_t key[16];
    pk_protect_t p = { 0 };
    int cbcs = strcmp(argv[2], "cbcs") == 0;
    if (unhex(argv[3], key) < 0 || unhex(argv[4], p.kid) < 0)
        return die("KEY and KID are 32 hex digits", 0);
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0)
        return die("cannot open the input", -errno);
    pk_source_t src = { .read = file_read, .ctx = &fd, .size = (uint64_t)lseek(fd, 0, SEEK_END),
                        .name = argv[1] };
    arena_t *a = arena_new();
    pk_media_t *m;
    int rc;
    if ((rc = pk_mp4_open(&src, a, &m)) < 0)
        return die("pk_mp4_open", rc);
    const pk_track_t *t = &m->tracks[0];
    pk_asset_track_t at = { .track = t, .source = &src, .name = "t", .bitrate = 1000,
                            .language = "und", .src = argv[1] };
    pk_asset_t as = { 1, &at };
    pk_view_t *v;
    if ((rc = pk_view_build(&as, 2000, a, &v)) < 0)
        return die("pk_view_build", rc);
    const pk_vtrack_t *vt = &v->tracks[0];
    int video = t->type == PK_TRACK_VIDEO;

    uint32_t scheme = cbcs ? FOURCC('c', 'b', 'c', 's') : FOURCC('c', 'e', 'n', 'c');
    p.scheme = scheme;
    p.iv_size = cbcs ? 0 : 8;
    if (cbcs) {
        memcpy(p.constant_iv, "\x0f\x1e\x2d\x3c\x4b\x5a\x69\x78\x87\x96\xa5\xb4\xc3\xd2\xe1\xf0",
               16);
        p.crypt_blocks = video ? 1 : 0;
        p.skip_blocks = video ? 9 : 0;
    }
    uint16_t *counts = NULL;
    if (video && (rc = cr_subsample_counts(t, scheme, &src, a, &counts)) < 0)
        return die("cr_subsample_counts", rc);
    p.subsample_counts = video ? counts : NULL;
    enc_t e = { .t = t, .p = &p };
    p.encrypt = encrypt;
    p.ctx = &e;

    FILE *clear = fopen(argv[5], "wb"), *enc = fopen(argv[6], "wb");
    if (!clear || !enc)
        return die("cannot create the outputs", -errno);
    if ((rc = put_init(clear, vt, NULL)) < 0 || (rc = put_init(enc, vt, &p)) < 0)
        return die("writing the init segments", rc);
    for (uint32_t k = v->frag_begin; k < v->frag_end; k++) {
        arena_t *fa = arena_new();
        pk_plan_t cp, ep;
        uint64_t size;
        /* one cipher and one layout context per fragment, as one request has */
        if ((rc = cr_aes_new(fa, key, cbcs ? CR_AES_CBC_ENCRYPT : CR_AES_CTR, &e.aes)) < 0)
            return die("cr_aes_new", rc);
        e.sub = NULL;
        if (video && (rc = cr_subsample_init(t, scheme, fa, &e.sub)) < 0)
            return die("cr_subsample_init", rc);
        if ((rc = pk_cmaf_fragment(vt, k, fa, &cp)) < 0 || (rc = put(clear, &cp)) < 0)
            return die("clear fragment", rc);
        if ((rc = pk_cmaf_fragment_protected_size(vt, k, &p, &size)) < 0)
            return die("pk_cmaf_fragment_protected_size", rc);
        if ((rc = pk_cmaf_fragment_protected(vt, k, &p, fa, &ep)) < 0 || (rc = put(enc, &ep)) < 0)
            return die("encrypted fragment", rc);
        if (ep.size != size)
            return die("fragment size differs from pk_cmaf_fragment_protected_size", (int)k);
        arena_free(fa);
    }
    fclose(clear);
    fclose(enc);
    arena_free(a);
    close(fd);
    printf("%u fragments, %u samples, %s %s\n", v->frag_end - v->frag_begin, t->sample_count,
           video ? "video" : "audio", argv[2]);
    return 0;
}
