/* Test driver for tests/integration/crypt_kat.sh: runs one crypt/aes.c scheme over
 * stdin and writes the result to stdout, so the script can compare it with the
 * `openssl enc` command line over the same bytes. Built by the script itself:
 *   cc -I. tests/lib/crypt_kat.c crypt/aes.c pack/arena.c pack/log.c -lcrypto
 *
 *   crypt_kat cenc KEY IV SUBS            IV: 8 or 16 bytes
 *   crypt_kat cbcs KEY IV CRYPT SKIP SUBS
 *   crypt_kat hls KEY IV CHUNK            CHUNK 0: in place; else the stream API fed in
 *                                         CHUNK-byte pieces, after a counting pass
 *   crypt_kat saes-nal KEY IV             one NAL unit; output as carried (escaped
 *                                         when encrypted)
 *   crypt_kat saes-audio KEY IV HDR       one audio frame with a HDR-byte header
 *   crypt_kat escape                      emulation prevention only
 * KEY and IV in hex; SUBS "clear:prot,clear:prot..." or "-" (whole sample). Exit status
 * 0, or 1 with a message on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/aes.h"

static int die(const char *msg)
{
    fprintf(stderr, "crypt_kat: %s\n", msg);
    return 1;
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s) / 2;
    if (strlen(s) % 2 || n > cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return 0;
        out[i] = (uint8_t)v;
    }
    return n;
}

static uint8_t *slurp(size_t *len)
{
    size_t cap = 1 << 16, n = 0, k;
    uint8_t *b = malloc(cap + 16);
    while (b && (k = fread(b + n, 1, cap - n, stdin)) > 0) {
        n += k;
        if (n == cap) {
            uint8_t *nb = realloc(b, 2 * cap + 16);
            if (!nb)
                free(b);
            b = nb;
            cap *= 2;
        }
    }
    *len = n;
    return b;
}

static size_t parse_subs(const char *s, cr_aes_sub_t *subs, size_t cap)
{
    size_t n = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    while (*s && n < cap) {
        char *end;
        subs[n].clear = (uint32_t)strtoul(s, &end, 10);
        if (*end != ':')
            return 0;
        subs[n].prot = (uint32_t)strtoul(end + 1, &end, 10);
        n++;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

int main(int argc, char **argv)
{
    uint8_t key[16], iv[16];
    size_t iv_len = 0, len;
    cr_aes_sub_t subs[64];
    if (argc < 2)
        return die("usage: see tests/lib/crypt_kat.c");
    const char *op = argv[1];
    int keyed = strcmp(op, "escape") != 0;
    if (keyed && (argc < 4 || unhex(argv[2], key, 16) != 16 ||
                  !(iv_len = unhex(argv[3], iv, 16))))
        return die("KEY must be 16 bytes of hex, IV 8 or 16");
    uint8_t *buf = slurp(&len), *out = NULL;
    arena_t *a = arena_new();
    cr_aes_t *c = NULL;
    int rc = 0;
    if (!buf || !a)
        return die("out of memory");
    cr_aes_mode_t mode = strcmp(op, "cenc") == 0 ? CR_AES_CTR : CR_AES_CBC_ENCRYPT;
    if (keyed && cr_aes_new(a, key, mode, &c) < 0)
        return die("cr_aes_new failed");
    size_t out_len = len;
    if (strcmp(op, "cenc") == 0 && argc == 5) {
        size_t n = parse_subs(argv[4], subs, 64);
        rc = cr_aes_cenc(c, iv, iv_len, buf, len, subs, n);
    } else if (strcmp(op, "cbcs") == 0 && argc == 7) {
        size_t n = parse_subs(argv[6], subs, 64);
        rc = cr_aes_cbcs(c, iv, iv_len, buf, len, subs, n, (unsigned)atoi(argv[4]),
                         (unsigned)atoi(argv[5]));
    } else if (strcmp(op, "hls") == 0 && argc == 5 && iv_len == 16) {
        size_t chunk = (size_t)atol(argv[4]), size = cr_aes_hls_size(len);
        if (chunk == 0) {
            rc = cr_aes_hls_encrypt(c, iv, buf, len, len + 16);
        } else {
            wr_t cnt = wr_counter(), w;
            if (!(out = malloc(size)))
                return die("out of memory");
            w = wr_init(out, size);
            for (int pass = 0; pass < 2 && rc == 0; pass++) {
                wr_t *wp = pass ? &w : &cnt;
                rc = cr_aes_hls_begin(c, iv);
                for (size_t off = 0; rc == 0 && off < len; off += chunk)
                    rc = cr_aes_hls_update(c, buf + off, len - off < chunk ? len - off : chunk,
                                           wp);
                if (rc == 0)
                    rc = cr_aes_hls_final(c, wp);
            }
            if (rc == 0 && (cnt.pos != size || w.pos != size))
                return die("stream size differs from cr_aes_hls_size");
            free(buf);
            buf = out;
        }
        out_len = size;
    } else if (strcmp(op, "saes-nal") == 0 && argc == 4 && iv_len == 16) {
        rc = cr_aes_saes_nal(c, iv, buf, len);
        if (rc == 1) {
            wr_t cnt = wr_counter(), w;
            cr_aes_nal_escape(&cnt, buf, len);
            if (!(out = malloc(cnt.pos + 1)))
                return die("out of memory");
            w = wr_init(out, cnt.pos);
            cr_aes_nal_escape(&w, buf, len);
            free(buf);
            buf = out;
            out_len = w.pos;
            rc = w.err;
        }
    } else if (strcmp(op, "saes-audio") == 0 && argc == 5 && iv_len == 16) {
        rc = cr_aes_saes_audio(c, iv, buf, len, (size_t)atol(argv[4]));
    } else if (strcmp(op, "escape") == 0 && argc == 2) {
        wr_t cnt = wr_counter(), w;
        cr_aes_nal_escape(&cnt, buf, len);
        if (!(out = malloc(cnt.pos + 1)))
            return die("out of memory");
        w = wr_init(out, cnt.pos);
        cr_aes_nal_escape(&w, buf, len);
        free(buf);
        buf = out;
        out_len = w.pos;
        rc = w.err;
    } else {
        return die("bad arguments");
    }
    if (rc < 0) {
        fprintf(stderr, "crypt_kat: %s: %s\n", op, strerror(-rc));
        return 1;
    }
    fwrite(buf, 1, out_len, stdout);
    free(buf);
    arena_free(a);
    return 0;
}
