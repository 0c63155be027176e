/* AES primitives (crypt/aes.c). Oracles: the published NIST SP 800-38A vectors
 * (F.2.1/F.2.2 CBC-AES128, F.5.1 CTR-AES128), placed at the offsets each scheme
 * must encrypt; OpenSSL's plain EVP modes (CTR over concatenated ranges, ECB
 * counter blocks, CBC with its own PKCS7 check) for what the vectors cannot pin;
 * and a block-selection model written from the specs for random cases.
 * tests/integration/crypt_kat.sh compares the same schemes with the `openssl enc`
 * command line on random data. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "../../crypt/aes.c"

/* ---- NIST SP 800-38A ------------------------------------------------------- */

static const uint8_t nist_key[16] = {
    0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c,
};
static const uint8_t nist_pt[64] = {    /* F.2.1 / F.5.1 plaintext, blocks P1..P4 */
    0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a,
    0xae, 0x2d, 0x8a, 0x57, 0x1e, 0x03, 0xac, 0x9c, 0x9e, 0xb7, 0x6f, 0xac, 0x45, 0xaf, 0x8e, 0x51,
    0x30, 0xc8, 0x1c, 0x46, 0xa3, 0x5c, 0xe4, 0x11, 0xe5, 0xfb, 0xc1, 0x19, 0x1a, 0x0a, 0x52, 0xef,
    0xf6, 0x9f, 0x24, 0x45, 0xdf, 0x4f, 0x9b, 0x17, 0xad, 0x2b, 0x41, 0x7b, 0xe6, 0x6c, 0x37, 0x10,
};
static const uint8_t cbc_iv[16] = {     /* F.2.1 IV */
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};
static const uint8_t cbc_ct[64] = {     /* F.2.1 ciphertext C1..C4 */
    0x76, 0x49, 0xab, 0xac, 0x81, 0x19, 0xb2, 0x46, 0xce, 0xe9, 0x8e, 0x9b, 0x12, 0xe9, 0x19, 0x7d,
    0x50, 0x86, 0xcb, 0x9b, 0x50, 0x72, 0x19, 0xee, 0x95, 0xdb, 0x11, 0x3a, 0x91, 0x76, 0x78, 0xb2,
    0x73, 0xbe, 0xd6, 0xb8, 0xe3, 0xc1, 0x74, 0x3b, 0x71, 0x16, 0xe6, 0x9e, 0x22, 0x22, 0x95, 0x16,
    0x3f, 0xf1, 0xca, 0xa1, 0x68, 0x1f, 0xac, 0x09, 0x12, 0x0e, 0xca, 0x30, 0x75, 0x86, 0xe1, 0xa7,
};
static const uint8_t ctr_iv[16] = {     /* F.5.1 initial counter block */
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
};
static const uint8_t ctr_ct[64] = {     /* F.5.1 ciphertext */
    0x87, 0x4d, 0x61, 0x91, 0xb6, 0x20, 0xe3, 0x26, 0x1b, 0xef, 0x68, 0x64, 0x99, 0x0d, 0xb6, 0xce,
    0x98, 0x06, 0xf6, 0x6b, 0x79, 0x70, 0xfd, 0xff, 0x86, 0x17, 0x18, 0x7b, 0xb9, 0xff, 0xfd, 0xff,
    0x5a, 0xe4, 0xdf, 0x3e, 0xdb, 0xd5, 0xd3, 0x5e, 0x5b, 0x4f, 0x09, 0x02, 0x0d, 0xb0, 0x3e, 0xab,
    0x1e, 0x03, 0x1d, 0xda, 0x2f, 0xbe, 0x03, 0xd1, 0x79, 0x21, 0x70, 0xa0, 0xf3, 0x00, 0x9c, 0xee,
};

/* ---- helpers --------------------------------------------------------------- */

static arena_t *arena;
static char logbuf[4096];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)ctx;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s: %s\n", func, msg);
}

static int setup(void **state)
{
    (void)state;
    logbuf[0] = '\0';
    pk_log_set_sink(capture, NULL);
    arena = arena_new();
    return arena ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    arena_free(arena);
    pk_log_set_sink(NULL, NULL);
    return 0;
}

static cr_aes_t *ctx(const uint8_t key[16], cr_aes_mode_t mode)
{
    cr_aes_t *c = NULL;
    assert_int_equal(cr_aes_new(arena, key, mode, &c), 0);
    return c;
}

static uint32_t rng = 12345;

static uint8_t rnd8(void)
{
    rng = rng * 1103515245 + 12345;
    return (uint8_t)(rng >> 16);
}

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = rnd8();
}

/* A plain EVP run over p[0..n) in place: the library's mode, none of our range logic. */
static void evp(const EVP_CIPHER *cipher, int enc, const uint8_t key[16], const uint8_t *iv,
                uint8_t *p, size_t n)
{
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    assert_non_null(e);
    assert_int_equal(EVP_CipherInit_ex(e, cipher, NULL, key, iv, enc), 1);
    EVP_CIPHER_CTX_set_padding(e, 0);
    assert_int_equal(EVP_CipherUpdate(e, p, &l1, p, (int)n), 1);
    assert_int_equal(EVP_CipherFinal_ex(e, p + l1, &l2), 1);
    assert_int_equal((size_t)(l1 + l2), n);
    EVP_CIPHER_CTX_free(e);
}

/* ---- NIST vectors through each scheme ------------------------------------- */

static void test_cenc_nist_ctr(void **state)
{
    (void)state;
    uint8_t buf[64];
    memcpy(buf, nist_pt, 64);
    assert_int_equal(cr_aes_cenc(ctx(nist_key, CR_AES_CTR), ctr_iv, 16, buf, 64, NULL, 0), 0);
    assert_memory_equal(buf, ctr_ct, 64);
}

/* F.5.1 split into subsamples whose protected ranges end mid-block: the keystream
 * carries on (23001-7 9.5.2.2), so the protected bytes still read as F.5.1. */
static void test_cenc_nist_split_mid_block(void **state)
{
    (void)state;
    static const cr_aes_sub_t subs[] = { { 3, 5 }, { 0, 20 }, { 7, 0 }, { 1, 39 }, { 2, 0 } };
    uint8_t buf[77], want[77];
    fill(buf, sizeof buf);
    size_t pos = 0, k = 0;
    for (size_t i = 0; i < 5; i++) {
        pos += subs[i].clear;
        memcpy(buf + pos, nist_pt + k, subs[i].prot);
        pos += subs[i].prot;
        k += subs[i].prot;
    }
    assert_int_equal(pos, sizeof buf);
    assert_int_equal(k, 64);
    memcpy(want, buf, sizeof buf);
    pos = k = 0;
    for (size_t i = 0; i < 5; i++) {
        pos += subs[i].clear;
        memcpy(want + pos, ctr_ct + k, subs[i].prot);
        pos += subs[i].prot;
        k += subs[i].prot;
    }
    assert_int_equal(cr_aes_cenc(ctx(nist_key, CR_AES_CTR), ctr_iv, 16, buf, sizeof buf,
                                 subs, 5), 0);
    assert_memory_equal(buf, want, sizeof buf);
}

static void test_cbcs_full_nist_cbc(void **state)
{
    (void)state;
    uint8_t buf[64 + 9];
    memcpy(buf, nist_pt, 64);
    memset(buf + 64, 0xab, 9);                  /* partial tail: clear */
    assert_int_equal(cr_aes_cbcs(ctx(nist_key, CR_AES_CBC_ENCRYPT), cbc_iv, 16, buf,
                                 sizeof buf, NULL, 0, 0, 0), 0);
    assert_memory_equal(buf, cbc_ct, 64);
    for (int i = 64; i < 73; i++)
        assert_int_equal(buf[i], 0xab);
    /* F.2.2: the decrypt direction gives the plaintext back */
    assert_int_equal(cr_aes_cbcs(ctx(nist_key, CR_AES_CBC_DECRYPT), cbc_iv, 16, buf,
                                 sizeof buf, NULL, 0, 0, 0), 0);
    assert_memory_equal(buf, nist_pt, 64);
    /* 1:0 is the same as 0:0 (every block) */
    memcpy(buf, nist_pt, 64);
    assert_int_equal(cr_aes_cbcs(ctx(nist_key, CR_AES_CBC_ENCRYPT), cbc_iv, 16, buf, 64,
                                 NULL, 0, 1, 0), 0);
    assert_memory_equal(buf, cbc_ct, 64);
}

/* 1:9 over a 500-byte range: blocks 0, 10, 20, 30 are encrypted, chained to each other
 * across the skipped ones, so P1..P4 placed there become F.2.1's C1..C4; the rest
 * (skipped blocks and the 4-byte partial block) is untouched. */
static void test_cbcs_pattern_nist(void **state)
{
    (void)state;
    uint8_t buf[500], want[500];
    fill(buf, sizeof buf);
    for (int b = 0; b < 4; b++)
        memcpy(buf + 160 * b, nist_pt + 16 * b, 16);
    memcpy(want, buf, sizeof buf);
    for (int b = 0; b < 4; b++)
        memcpy(want + 160 * b, cbc_ct + 16 * b, 16);
    assert_int_equal(cr_aes_cbcs(ctx(nist_key, CR_AES_CBC_ENCRYPT), cbc_iv, 16, buf,
                                 sizeof buf, NULL, 0, 1, 9), 0);
    assert_memory_equal(buf, want, sizeof buf);
}

/* The chain restarts with the constant IV at every subsample: P1 at the start of each
 * protected range becomes C1 each time, P2 after a 9-block skip C2. */
static void test_cbcs_restart_per_subsample(void **state)
{
    (void)state;
    static const cr_aes_sub_t subs[] = { { 10, 176 }, { 33, 17 }, { 5, 20 } };
    uint8_t buf[261], want[261];
    fill(buf, sizeof buf);
    memcpy(buf + 10, nist_pt, 16);
    memcpy(buf + 10 + 160, nist_pt + 16, 16);
    memcpy(buf + 219, nist_pt, 16);
    memcpy(buf + 241, nist_pt, 16);
    memcpy(want, buf, sizeof buf);
    memcpy(want + 10, cbc_ct, 16);
    memcpy(want + 10 + 160, cbc_ct + 16, 16);
    memcpy(want + 219, cbc_ct, 16);
    memcpy(want + 241, cbc_ct, 16);
    assert_int_equal(cr_aes_cbcs(ctx(nist_key, CR_AES_CBC_ENCRYPT), cbc_iv, 16, buf,
                                 sizeof buf, subs, 3, 1, 9), 0);
    assert_memory_equal(buf, want, sizeof buf);
}

/* ---- cenc -------------------------------------------------------------------- */

/* [clear 5, prot 20, clear 3, prot 30] equals CTR over the 50 protected bytes joined. */
static void test_cenc_continuity(void **state)
{
    (void)state;
    static const cr_aes_sub_t subs[] = { { 5, 20 }, { 3, 30 } };
    uint8_t key[16], iv[8], iv16[16] = { 0 }, buf[58], orig[58], joined[50];
    fill(key, 16);
    fill(iv, 8);
    fill(buf, sizeof buf);
    memcpy(orig, buf, sizeof buf);
    memcpy(joined, buf + 5, 20);
    memcpy(joined + 20, buf + 28, 30);
    memcpy(iv16, iv, 8);
    evp(EVP_aes_128_ctr(), 1, key, iv16, joined, 50);
    cr_aes_t *c = ctx(key, CR_AES_CTR);
    assert_int_equal(cr_aes_cenc(c, iv, 8, buf, sizeof buf, subs, 2), 0);
    assert_memory_equal(buf, orig, 5);
    assert_memory_equal(buf + 5, joined, 20);
    assert_memory_equal(buf + 25, orig + 25, 3);
    assert_memory_equal(buf + 28, joined + 20, 30);
    /* the next sample starts a fresh keystream (no partial block left over), and
     * running it again decrypts */
    assert_int_equal(cr_aes_cenc(c, iv, 8, buf, sizeof buf, subs, 2), 0);
    assert_memory_equal(buf, orig, sizeof buf);
}

/* Ranges longer than the keystream made per call (crypt/aes.c KS_BLOCKS: 4 KiB), of odd
 * lengths so that chunk ends, range ends and block ends all fall apart: the same bytes
 * as plain EVP CTR over the protected ranges joined. */
static void test_cenc_long_ranges(void **state)
{
    (void)state;
    static const cr_aes_sub_t subs[] = { { 3, 5000 }, { 7, 4099 }, { 0, 1 }, { 11, 8192 },
                                         { 2, 13 } };
    enum { N = 3 + 5000 + 7 + 4099 + 1 + 11 + 8192 + 2 + 13, P = 5000 + 4099 + 1 + 8192 + 13 };
    static uint8_t buf[N], orig[N], joined[P];
    uint8_t key[16], iv16[16];
    fill(key, 16);
    fill(iv16, 16);
    fill(buf, N);
    memcpy(orig, buf, N);
    size_t at = 0, j = 0;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        at += subs[i].clear;
        memcpy(joined + j, buf + at, subs[i].prot);
        at += subs[i].prot;
        j += subs[i].prot;
    }
    evp(EVP_aes_128_ctr(), 1, key, iv16, joined, P);
    cr_aes_t *c = ctx(key, CR_AES_CTR);
    assert_int_equal(cr_aes_cenc(c, iv16, 16, buf, N, subs, sizeof subs / sizeof subs[0]), 0);
    at = j = 0;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        assert_memory_equal(buf + at, orig + at, subs[i].clear);
        at += subs[i].clear;
        assert_memory_equal(buf + at, joined + j, subs[i].prot);
        at += subs[i].prot;
        j += subs[i].prot;
    }
    /* whole-sample, the same keystream from its start */
    memcpy(buf, orig, N);
    assert_int_equal(cr_aes_cenc(c, iv16, 16, buf, N, NULL, 0), 0);
    memcpy(joined, orig, P);
    evp(EVP_aes_128_ctr(), 1, key, iv16, joined, P);
    assert_memory_equal(buf, joined, P);
}

/* An 8-byte IV is the high half of the counter block, the low half zero. */
static void test_cenc_iv8_is_iv16_low_zero(void **state)
{
    (void)state;
    uint8_t key[16], iv16[16] = { 0 }, a[100], b[100];
    fill(key, 16);
    fill(iv16, 8);
    fill(a, sizeof a);
    memcpy(b, a, sizeof a);
    cr_aes_t *c = ctx(key, CR_AES_CTR);
    assert_int_equal(cr_aes_cenc(c, iv16, 8, a, sizeof a, NULL, 0), 0);
    assert_int_equal(cr_aes_cenc(c, iv16, 16, b, sizeof b, NULL, 0), 0);
    assert_memory_equal(a, b, sizeof a);
}

/* 23001-7 9.5.2 (as ffmpeg's av_aes_ctr and Shaka count): only the low 64 bits of
 * the counter block count; at 2^64 they wrap without carrying into the IV half.
 * Expected: keystream = AES-ECB of the explicit counter blocks. */
static void test_cenc_counter_wraps_in_low_64_bits(void **state)
{
    (void)state;
    uint8_t key[16], iv[16], blocks[48], buf[45], want[45];
    fill(key, 16);
    fill(iv, 8);
    memset(iv + 8, 0xff, 8);
    memcpy(blocks, iv, 16);                     /* hi | ff..ff */
    memcpy(blocks + 16, iv, 8);                 /* hi | 00..00 */
    memset(blocks + 24, 0, 8);
    memcpy(blocks + 32, iv, 8);                 /* hi | 00..01 */
    memset(blocks + 40, 0, 8);
    blocks[47] = 1;
    evp(EVP_aes_128_ecb(), 1, key, NULL, blocks, 48);
    fill(buf, sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++)
        want[i] = buf[i] ^ blocks[i];
    /* ranges that straddle the wrap point mid-range */
    static const cr_aes_sub_t subs[] = { { 0, 10 }, { 0, 25 }, { 0, 10 } };
    assert_int_equal(cr_aes_cenc(ctx(key, CR_AES_CTR), iv, 16, buf, sizeof buf, subs, 3), 0);
    assert_memory_equal(buf, want, sizeof buf);
}

static void test_cenc_bad_requests(void **state)
{
    (void)state;
    uint8_t key[16] = { 0 }, iv[16] = { 0 }, buf[32] = { 0 };
    static const cr_aes_sub_t short_subs[] = { { 5, 20 } };
    static const cr_aes_sub_t long_subs[] = { { 5, 20 }, { 0, 8 } };
    cr_aes_t *c = ctx(key, CR_AES_CTR);
    assert_int_equal(cr_aes_cenc(c, iv, 16, buf, 32, short_subs, 1), -EINVAL);
    assert_non_null(strstr(logbuf, "1 subsamples cover 25 bytes of a 32-byte sample"));
    assert_int_equal(cr_aes_cenc(c, iv, 16, buf, 32, long_subs, 2), -EINVAL);
    assert_int_equal(cr_aes_cenc(c, iv, 12, buf, 32, NULL, 0), -EINVAL);
    assert_non_null(strstr(logbuf, "IV of 12 bytes"));
    for (int i = 0; i < 32; i++)
        assert_int_equal(buf[i], 0);            /* nothing touched */
    assert_int_equal(cr_aes_cenc(ctx(key, CR_AES_CBC_ENCRYPT), iv, 16, buf, 32, NULL, 0),
                     -EINVAL);
    assert_non_null(strstr(logbuf, "cenc on a CBC encrypt context"));
    /* a zero-length sample with no subsamples is fine (nothing to do) */
    assert_int_equal(cr_aes_cenc(c, iv, 8, buf, 0, NULL, 0), 0);
}

/* ---- cbcs -------------------------------------------------------------------- */

/* The model: per protected range, the blocks the pattern selects (min(crypt, left)
 * whole blocks, then skip), concatenated and CBC-encrypted by plain EVP from the IV. */
static void cbcs_model(const uint8_t key[16], const uint8_t iv[16], uint8_t *p, size_t n,
                       unsigned crypt, unsigned skip)
{
    uint8_t sel[4096];
    size_t off[256], nsel = 0, blocks = n / 16, b = 0;
    assert_true(blocks <= 256);
    while (b < blocks) {
        for (unsigned i = 0; i < (skip ? crypt : blocks) && b < blocks; i++, b++)
            off[nsel++] = b * 16;
        b += skip;
    }
    for (size_t i = 0; i < nsel; i++)
        memcpy(sel + 16 * i, p + off[i], 16);
    if (nsel)
        evp(EVP_aes_128_cbc(), 1, key, iv, sel, 16 * nsel);
    for (size_t i = 0; i < nsel; i++)
        memcpy(p + off[i], sel + 16 * i, 16);
}

static void test_cbcs_matches_model(void **state)
{
    (void)state;
    static const unsigned pats[][2] = { { 1, 9 }, { 2, 8 }, { 5, 5 }, { 3, 1 }, { 0, 0 },
                                        { 1, 0 }, { 15, 15 } };
    static const uint32_t lens[] = { 0, 1, 15, 16, 17, 31, 32, 48, 159, 160, 161, 175, 176,
                                     177, 320, 335, 336, 1000,
                                     1100, 2000 };  /* runs of 64+ blocks (EVP's CBC) */
    uint8_t key[16], iv[16], buf[4096], want[4096], orig[4096];
    fill(key, 16);
    fill(iv, 16);
    cr_aes_t *enc = ctx(key, CR_AES_CBC_ENCRYPT), *dec = ctx(key, CR_AES_CBC_DECRYPT);
    for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            /* one range alone, then three subsamples: lens[l], 7 clear + 40, 3 + lens[l] */
            cr_aes_sub_t subs[3] = { { 0, lens[l] }, { 7, 40 }, { 3, lens[l] } };
            size_t n = 2 * (size_t)lens[l] + 50;
            fill(buf, n);
            memcpy(orig, buf, n);
            memcpy(want, buf, n);
            cbcs_model(key, iv, want, lens[l], pats[p][0], pats[p][1]);
            assert_int_equal(cr_aes_cbcs(enc, iv, 16, buf, lens[l], NULL, 0, pats[p][0],
                                         pats[p][1]), 0);
            assert_memory_equal(buf, want, n);
            memcpy(buf, orig, n);
            cbcs_model(key, iv, want + lens[l] + 7, 40, pats[p][0], pats[p][1]);
            cbcs_model(key, iv, want + lens[l] + 50, lens[l], pats[p][0], pats[p][1]);
            assert_int_equal(cr_aes_cbcs(enc, iv, 16, buf, n, subs, 3, pats[p][0],
                                         pats[p][1]), 0);
            assert_memory_equal(buf, want, n);
            assert_int_equal(cr_aes_cbcs(dec, iv, 16, buf, n, subs, 3, pats[p][0],
                                         pats[p][1]), 0);
            assert_memory_equal(buf, orig, n);
        }
    }
}

/* 2:8 with one whole block left at the end of the pattern: that block is encrypted
 * (23001-7 10.4.2 and Chromium's cbcs decryptor: the pattern applies to the whole
 * blocks there are), the partial one after it is not. */
static void test_cbcs_short_crypt_run(void **state)
{
    (void)state;
    uint8_t key[16], iv[16], buf[16 * 11 + 5], orig[sizeof buf];
    fill(key, 16);
    fill(iv, 16);
    fill(buf, sizeof buf);
    memcpy(orig, buf, sizeof buf);
    assert_int_equal(cr_aes_cbcs(ctx(key, CR_AES_CBC_ENCRYPT), iv, 16, buf, sizeof buf,
                                 NULL, 0, 2, 8), 0);
    assert_memory_not_equal(buf, orig, 32);                 /* blocks 0, 1 */
    assert_memory_equal(buf + 32, orig + 32, 16 * 8);       /* 2..9 skipped */
    assert_memory_not_equal(buf + 160, orig + 160, 16);     /* 10: alone, encrypted */
    assert_memory_equal(buf + 176, orig + 176, 5);          /* partial: clear */
}

/* An 8-byte constant IV is zero-padded to 16 bytes. */
static void test_cbcs_iv8(void **state)
{
    (void)state;
    uint8_t key[16], iv[16] = { 0 }, a[64], b[64];
    fill(key, 16);
    fill(iv, 8);
    fill(a, 64);
    memcpy(b, a, 64);
    cr_aes_t *c = ctx(key, CR_AES_CBC_ENCRYPT);
    assert_int_equal(cr_aes_cbcs(c, iv, 8, a, 64, NULL, 0, 1, 9), 0);
    assert_int_equal(cr_aes_cbcs(c, iv, 16, b, 64, NULL, 0, 1, 9), 0);
    assert_memory_equal(a, b, 64);
}

static void test_cbcs_bad_requests(void **state)
{
    (void)state;
    uint8_t key[16] = { 0 }, iv[16] = { 0 }, buf[64] = { 0 };
    static const cr_aes_sub_t subs[] = { { 5, 20 } };
    cr_aes_t *c = ctx(key, CR_AES_CBC_ENCRYPT);
    assert_int_equal(cr_aes_cbcs(c, iv, 16, buf, 64, subs, 1, 1, 9), -EINVAL);
    assert_int_equal(cr_aes_cbcs(c, iv, 4, buf, 64, NULL, 0, 1, 9), -EINVAL);
    assert_int_equal(cr_aes_cbcs(c, iv, 16, buf, 64, NULL, 0, 16, 0), -EINVAL);
    assert_int_equal(cr_aes_cbcs(c, iv, 16, buf, 64, NULL, 0, 1, 16), -EINVAL);
    assert_int_equal(cr_aes_cbcs(c, iv, 16, buf, 64, NULL, 0, 0, 9), -EINVAL);
    assert_non_null(strstr(logbuf, "pattern 0:9"));
    assert_int_equal(cr_aes_cbcs(ctx(key, CR_AES_CTR), iv, 16, buf, 64, NULL, 0, 1, 9),
                     -EINVAL);
    for (int i = 0; i < 64; i++)
        assert_int_equal(buf[i], 0);
}

/* ---- HLS AES-128 ------------------------------------------------------------- */

/* Sizes 0..33: len + 16 - len % 16; the bytes are CBC with PKCS7 that OpenSSL's own
 * padding check (EVP_DecryptFinal) accepts and strips back to the input. */
static void test_hls_sizes_and_round_trip(void **state)
{
    (void)state;
    uint8_t key[16], iv[16], buf[64], orig[64], plain[64];
    fill(key, 16);
    fill(iv, 16);
    cr_aes_t *c = ctx(key, CR_AES_CBC_ENCRYPT);
    for (size_t len = 0; len <= 33; len++) {
        size_t want = len < 16 ? 16 : len < 32 ? 32 : 48;
        assert_int_equal(cr_aes_hls_size(len), want);
        fill(buf, len);
        memcpy(orig, buf, len);
        assert_int_equal(cr_aes_hls_encrypt(c, iv, buf, len, want), 0);
        EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
        int l1 = 0, l2 = 0;
        assert_int_equal(EVP_DecryptInit_ex(e, EVP_aes_128_cbc(), NULL, key, iv), 1);
        assert_int_equal(EVP_DecryptUpdate(e, plain, &l1, buf, (int)want), 1);
        assert_int_equal(EVP_DecryptFinal_ex(e, plain + l1, &l2), 1);
        EVP_CIPHER_CTX_free(e);
        assert_int_equal((size_t)(l1 + l2), len);
        assert_memory_equal(plain, orig, len);
    }
    /* the first blocks of a 64-byte segment are F.2.1's */
    uint8_t big[80];
    memcpy(big, nist_pt, 64);
    assert_int_equal(cr_aes_hls_encrypt(ctx(nist_key, CR_AES_CBC_ENCRYPT), cbc_iv, big, 64,
                                        sizeof big), 0);
    assert_memory_equal(big, cbc_ct, 64);
}

/* The stream API in uneven pieces gives the in-place bytes; its count mode gives the
 * size without a buffer (and without touching the cipher). */
static void test_hls_stream(void **state)
{
    (void)state;
    static const size_t pieces[] = { 0, 1, 15, 16, 17, 3, 100, 0, 188, 7 };
    uint8_t key[16], iv[16], in[1024], ref[1024 + 16], out[1024 + 16];
    fill(key, 16);
    fill(iv, 16);
    fill(in, sizeof in);
    cr_aes_t *c = ctx(key, CR_AES_CBC_ENCRYPT);
    size_t total = 0;
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
        total += pieces[i];
    memcpy(ref, in, total);
    assert_int_equal(cr_aes_hls_encrypt(c, iv, ref, total, sizeof ref), 0);

    wr_t cnt = wr_counter(), w = wr_init(out, cr_aes_hls_size(total));
    assert_int_equal(cr_aes_hls_begin(c, iv), 0);
    for (size_t i = 0, off = 0; i < sizeof pieces / sizeof pieces[0]; off += pieces[i++])
        assert_int_equal(cr_aes_hls_update(c, in + off, pieces[i], &cnt), 0);
    assert_int_equal(cr_aes_hls_final(c, &cnt), 0);
    assert_int_equal(cnt.pos, cr_aes_hls_size(total));

    assert_int_equal(cr_aes_hls_begin(c, iv), 0);
    for (size_t i = 0, off = 0; i < sizeof pieces / sizeof pieces[0]; off += pieces[i++])
        assert_int_equal(cr_aes_hls_update(c, in + off, pieces[i], &w), 0);
    assert_int_equal(cr_aes_hls_final(c, &w), 0);
    assert_int_equal(w.pos, cr_aes_hls_size(total));
    assert_memory_equal(out, ref, w.pos);

    /* a buffer one byte short: -ENOSPC from the writer */
    w = wr_init(out, cr_aes_hls_size(total) - 1);
    assert_int_equal(cr_aes_hls_begin(c, iv), 0);
    assert_int_equal(cr_aes_hls_update(c, in, total, &w), 0);
    assert_int_equal(cr_aes_hls_final(c, &w), -ENOSPC);
}

static void test_hls_bad_requests(void **state)
{
    (void)state;
    uint8_t key[16] = { 0 }, iv[16] = { 0 }, buf[48];
    memset(buf, 7, sizeof buf);
    cr_aes_t *c = ctx(key, CR_AES_CBC_ENCRYPT);
    assert_int_equal(cr_aes_hls_encrypt(c, iv, buf, 32, 47), -ENOSPC);
    assert_non_null(strstr(logbuf, "32 bytes need 48, buffer holds 47"));
    assert_int_equal(cr_aes_hls_encrypt(c, iv, buf, 32, 16), -ENOSPC);
    for (int i = 0; i < 48; i++)
        assert_int_equal(buf[i], 7);
    wr_t w = wr_counter();
    assert_int_equal(cr_aes_hls_update(c, buf, 3, &w), -EINVAL);
    assert_int_equal(cr_aes_hls_final(c, &w), -EINVAL);
    assert_int_equal(cr_aes_hls_begin(ctx(key, CR_AES_CBC_DECRYPT), iv), -EINVAL);
    assert_int_equal(cr_aes_hls_begin(ctx(key, CR_AES_CTR), iv), -EINVAL);
}

static void test_hls_iv_from_sequence(void **state)
{
    (void)state;
    static const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0,
                                      0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
    uint8_t iv[16];
    memset(iv, 0xee, 16);
    cr_aes_hls_iv(0x0123456789abcdefull, iv);
    assert_memory_equal(iv, want, 16);
}

/* ---- SAMPLE-AES -------------------------------------------------------------- */

/* Listing 2-1: 32 clear bytes, then a block encrypted while more than 16 bytes
 * remain, 144 clear after it; one chain per unit: P1..P3 at 32, 192, 352 become
 * C1..C3 in a 369-byte unit; in a 368-byte one the block at 352 is the last 16
 * bytes and stays clear. */
static void test_saes_nal_nist(void **state)
{
    (void)state;
    uint8_t nal[369], want[369];
    cr_aes_t *c = ctx(nist_key, CR_AES_CBC_ENCRYPT);
    for (size_t n = 368; n <= 369; n++) {
        fill(nal, n);
        nal[0] = 0x65;                          /* IDR slice */
        for (int b = 0; b < 3; b++)
            memcpy(nal + 32 + 160 * b, nist_pt + 16 * b, 16);
        memcpy(want, nal, n);
        for (int b = 0; b < (n == 369 ? 3 : 2); b++)
            memcpy(want + 32 + 160 * b, cbc_ct + 16 * b, 16);
        assert_int_equal(cr_aes_saes_nal(c, cbc_iv, nal, n), 1);
        assert_memory_equal(nal, want, n);
    }
}

static void test_saes_nal_which_units(void **state)
{
    (void)state;
    uint8_t key[16], iv[16], nal[200], orig[200];
    fill(key, 16);
    fill(iv, 16);
    cr_aes_t *c = ctx(key, CR_AES_CBC_ENCRYPT);
    static const struct { uint8_t hdr; size_t n; int rc; size_t enc_at; } cases[] = {
        { 0x41, 200, 1, 32 },                   /* type 1 */
        { 0x25, 49, 1, 32 },                    /* type 5, 49 bytes: 17 left, one block */
        { 0x65, 48, 0, 0 },                     /* 48 bytes or fewer: clear */
        { 0x65, 1, 0, 0 },
        { 0x06, 200, 0, 0 },                    /* SEI */
        { 0x67, 200, 0, 0 },                    /* SPS */
        { 0x09, 200, 0, 0 },                    /* AUD */
        { 0x02, 200, 0, 0 },                    /* data partition A: not 1 or 5 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fill(nal, cases[i].n);
        nal[0] = cases[i].hdr;
        memcpy(orig, nal, cases[i].n);
        assert_int_equal(cr_aes_saes_nal(c, iv, nal, cases[i].n), cases[i].rc);
        if (cases[i].rc == 0) {
            assert_memory_equal(nal, orig, cases[i].n);
            continue;
        }
        assert_memory_equal(nal, orig, 32);
        assert_memory_not_equal(nal + 32, orig + 32, 16);
        assert_memory_equal(nal + 48, orig + 48, cases[i].n - 48 < 144 ? cases[i].n - 48 : 144);
    }
    assert_int_equal(cr_aes_saes_nal(c, iv, nal, 0), 0);
    assert_int_equal(cr_aes_saes_nal(ctx(key, CR_AES_CTR), iv, nal, 200), -EINVAL);
}

/* Listing 2-2: ADTS header, 16 clear bytes, whole blocks, clear tail. */
static void test_saes_audio_nist(void **state)
{
    (void)state;
    uint8_t fr[7 + 16 + 64 + 5], want[sizeof fr];
    fill(fr, sizeof fr);
    memcpy(fr + 23, nist_pt, 64);
    memcpy(want, fr, sizeof fr);
    memcpy(want + 23, cbc_ct, 64);
    assert_int_equal(cr_aes_saes_audio(ctx(nist_key, CR_AES_CBC_ENCRYPT), cbc_iv, fr,
                                       sizeof fr, 7), 0);
    assert_memory_equal(fr, want, sizeof fr);
    /* AC-3 style, no header: the 16 clear bytes start the frame */
    fill(fr, 16 + 32);
    memcpy(fr + 16, nist_pt, 32);
    memcpy(want, fr, 16 + 32);
    memcpy(want + 16, cbc_ct, 32);
    assert_int_equal(cr_aes_saes_audio(ctx(nist_key, CR_AES_CBC_ENCRYPT), cbc_iv, fr, 48, 0),
                     0);
    assert_memory_equal(fr, want, 48);
}

static void test_saes_audio_short_and_bad(void **state)
{
    (void)state;
    uint8_t key[16] = { 1 }, iv[16] = { 2 }, fr[64], orig[64];
    fill(fr, 64);
    memcpy(orig, fr, 64);
    cr_aes_t *c = ctx(key, CR_AES_CBC_ENCRYPT);
    assert_int_equal(cr_aes_saes_audio(c, iv, fr, 7 + 31, 7), 0);     /* no whole block */
    assert_memory_equal(fr, orig, 64);
    assert_int_equal(cr_aes_saes_audio(c, iv, fr, 7 + 32, 7), 0);     /* one block */
    assert_memory_equal(fr, orig, 23);
    assert_memory_not_equal(fr + 23, orig + 23, 16);
    assert_int_equal(cr_aes_saes_audio(c, iv, fr, 5, 7), -EINVAL);
    assert_int_equal(cr_aes_saes_audio(ctx(key, CR_AES_CTR), iv, fr, 64, 7), -EINVAL);
}

/* ---- emulation prevention --------------------------------------------------- */

static size_t escape(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    wr_t cnt = wr_counter(), w = wr_init(out, cap);
    cr_aes_nal_escape(&cnt, in, n);
    cr_aes_nal_escape(&w, in, n);
    assert_int_equal(w.err, 0);
    assert_int_equal(cnt.pos, w.pos);
    return w.pos;
}

static void test_escape_cases(void **state)
{
    (void)state;
    static const struct { uint8_t in[8]; size_t n; uint8_t out[12]; size_t m; } cases[] = {
        { { 0 }, 0, { 0 }, 0 },
        { { 0, 0, 1 }, 3, { 0, 0, 3, 1 }, 4 },
        { { 0, 0, 2 }, 3, { 0, 0, 3, 2 }, 4 },
        { { 0, 0, 3 }, 3, { 0, 0, 3, 3 }, 4 },
        { { 0, 0, 4 }, 3, { 0, 0, 4 }, 3 },
        { { 0, 0, 0, 1 }, 4, { 0, 0, 3, 0, 1 }, 5 },
        { { 0, 0, 0, 0, 1 }, 5, { 0, 0, 3, 0, 0, 3, 1 }, 7 },
        { { 0, 0, 2, 0, 0, 1 }, 6, { 0, 0, 3, 2, 0, 0, 3, 1 }, 8 },
        { { 0, 1, 0, 2, 0, 3 }, 6, { 0, 1, 0, 2, 0, 3 }, 6 },
        { { 0x65, 0, 0 }, 3, { 0x65, 0, 0, 3 }, 4 },               /* trailing zero word */
        { { 0x65, 0, 0, 0, 0 }, 5, { 0x65, 0, 0, 3, 0, 0, 3 }, 7 },
        { { 0x65, 0xff, 0 }, 3, { 0x65, 0xff, 0 }, 3 },            /* one zero: as is */
        { { 0xff, 0, 0, 0xff, 0, 0, 3, 9 }, 8, { 0xff, 0, 0, 0xff, 0, 0, 3, 3, 9 }, 9 },
    };
    uint8_t out[16];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t m = escape(cases[i].in, cases[i].n, out, sizeof out);
        assert_int_equal(m, cases[i].m);
        assert_memory_equal(out, cases[i].out, m);
    }
    /* a buffer too small: the writer's -ENOSPC */
    wr_t w = wr_init(out, 3);
    cr_aes_nal_escape(&w, (const uint8_t[]){ 0, 0, 1 }, 3);
    assert_int_equal(w.err, -ENOSPC);
}

/* A decoder's view (ffmpeg's remove_scep_3_bytes, 14496-10 7.3.1): drop each 0x03 that
 * follows two zeros. */
static size_t unescape(uint8_t *p, size_t n)
{
    size_t j = 0, zeros = 0;
    for (size_t i = 0; i < n; i++) {
        if (zeros >= 2 && p[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = p[i] == 0 ? zeros + 1 : 0;
        p[j++] = p[i];
    }
    return j;
}

/* Random zero-heavy data: the escaped form holds no 00 00 0x (x <= 2), no 00 00 03
 * before a byte > 3, does not end in a zero word, and unescapes to the input. */
static void test_escape_round_trip(void **state)
{
    (void)state;
    static uint8_t in[2000], out[3000];
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(rnd8() * 7 % sizeof in) + 1;
        for (size_t i = 0; i < n; i++)
            in[i] = rnd8() < 160 ? 0 : rnd8() % 5;
        in[0] = 0x65;
        size_t m = escape(in, n, out, sizeof out);
        for (size_t i = 0; i + 2 < m; i++) {
            if (out[i] || out[i + 1])
                continue;
            assert_true(out[i + 2] > 2);
            assert_true(out[i + 2] != 3 || i + 3 == m || out[i + 3] <= 3);
        }
        assert_false(m >= 2 && out[m - 1] == 0 && out[m - 2] == 0);
        assert_int_equal(unescape(out, m), n);
        assert_memory_equal(out, in, n);
    }
}

/* The whole SAMPLE-AES path of a unit as ffmpeg's HLS demuxer undoes it: encrypt,
 * escape; then unescape, decrypt (CBC decrypt context): the unit comes back. */
static void test_saes_nal_escape_round_trip(void **state)
{
    (void)state;
    uint8_t key[16], iv[16], nal[1500], orig[1500], out[2300];
    fill(key, 16);
    fill(iv, 16);
    cr_aes_t *enc = ctx(key, CR_AES_CBC_ENCRYPT), *dec = ctx(key, CR_AES_CBC_DECRYPT);
    for (int round = 0; round < 50; round++) {
        size_t n = 40 + (size_t)rnd8() * 5;
        for (size_t i = 0; i < n; i++)
            nal[i] = rnd8() < 64 ? 0 : rnd8();
        nal[0] = round & 1 ? 0x41 : 0x65;
        nal[n - 1] = 0x80;                      /* rbsp_stop_one_bit */
        memcpy(orig, nal, n);
        int rc = cr_aes_saes_nal(enc, iv, nal, n);
        assert_int_equal(rc, n > 48);
        size_t m = escape(nal, n, out, sizeof out);
        assert_int_equal(unescape(out, m), n);
        assert_int_equal(cr_aes_saes_nal(dec, iv, out, n), rc);
        assert_memory_equal(out, orig, n);
    }
}

/* cr_aes_saes_nal_write, the unit as the TS writer emits it, against a model made of
 * plain EVP CBC over the blocks the spec's loop names (each of them chained to the one
 * before, from the IV) and the escaping rule: the output unescapes to exactly that
 * cipher text, holds no 00 00 0x (x <= 2) and no 00 00 03 before a byte > 3, is counted
 * as long as it is written; units the spec leaves clear come out byte for byte, start
 * code emulations of the stored unit included (a client unescapes only what it
 * decrypts); the input is never changed. */
static void test_saes_nal_write(void **state)
{
    (void)state;
    uint8_t key[16], iv[16];
    static uint8_t in[3000], orig[3000], model[3000], scratch[3000], out[4600];
    fill(key, 16);
    fill(iv, 16);
    cr_aes_t *c = ctx(key, CR_AES_CBC_ENCRYPT);
    static const uint8_t types[] = { 0x65, 0x41, 0x01, 0x25, 0x06, 0x67, 0x02, 0x09 };
    int escaped_more = 0;
    for (int round = 0; round < 400; round++) {
        size_t n = round < 40 ? 30 + (size_t)round : 1 + (size_t)(rnd8() * 11 + rnd8()) % 2999;
        for (size_t i = 0; i < n; i++)
            in[i] = rnd8() < 90 ? 0 : rnd8() % 6;   /* zero-heavy: escapes everywhere */
        in[0] = types[round % 8];
        memcpy(orig, in, n);
        memcpy(model, in, n);
        unsigned t = in[0] & 0x1f;
        int prot = (t == 1 || t == 5) && n > 48;
        if (prot) {
            /* the blocks at 32, 192, 352, ... while more than 16 bytes remain, one chain:
             * gathered, encrypted as one CBC run, put back */
            uint8_t blocks[3000];
            size_t nb = 0;
            for (size_t at = 32; at < n && n - at > 16; at += 160)
                memcpy(blocks + 16 * nb++, in + at, 16);
            evp(EVP_aes_128_cbc(), 1, key, iv, blocks, 16 * nb);
            nb = 0;
            for (size_t at = 32; at < n && n - at > 16; at += 160)
                memcpy(model + at, blocks + 16 * nb++, 16);
        }
        wr_t cw = wr_counter(), w = wr_init(out, sizeof out);
        assert_int_equal(cr_aes_saes_nal_write(c, iv, in, n, scratch, &cw), 0);
        assert_int_equal(cr_aes_saes_nal_write(c, iv, in, n, scratch, &w), 0);
        assert_int_equal(cw.pos, w.pos);
        assert_memory_equal(in, orig, n);
        size_t m = w.pos;
        if (!prot) {
            assert_int_equal(m, n);
            assert_memory_equal(out, orig, n);
            continue;
        }
        for (size_t i = 0; i + 2 < m; i++) {
            if (out[i] || out[i + 1])
                continue;
            assert_true(out[i + 2] > 2);
            assert_true(out[i + 2] != 3 || i + 3 == m || out[i + 3] <= 3);
        }
        escaped_more += m > n;
        assert_int_equal(unescape(out, m), n);
        assert_memory_equal(out, model, n);
    }
    assert_true(escaped_more > 100);
    /* a short buffer, a CTR context */
    wr_t w = wr_init(out, 10);
    memset(in, 0, 100);
    in[0] = 0x65;
    assert_int_equal(cr_aes_saes_nal_write(c, iv, in, 100, scratch, &w), -ENOSPC);
    w = wr_init(out, sizeof out);
    assert_int_equal(cr_aes_saes_nal_write(ctx(key, CR_AES_CTR), iv, in, 100, scratch, &w),
                     -EINVAL);
}

/* ---- ownership, failures, secrecy ------------------------------------------ */

/* Each allocation of cr_aes_new failing in turn: -ENOMEM, nothing leaked (ASan). */
static void test_new_out_of_memory(void **state)
{
    (void)state;
    uint8_t key[16] = { 0 };
    for (unsigned n = 1;; n++) {
        arena_t *a = arena_new();
        cr_aes_t *c = NULL;
        assert_non_null(a);
        arena_fail_after(a, n);
        int rc = cr_aes_new(a, key, CR_AES_CTR, &c);
        arena_free(a);
        if (rc == 0)
            break;
        assert_int_equal(rc, -ENOMEM);
        assert_null(c);
        assert_true(n < 10);
    }
}

/* No error path prints the key: every message so far plus a fresh round of them, with
 * a recognisable key, searched for its bytes as hex. */
static void test_key_never_logged(void **state)
{
    (void)state;
    static const uint8_t key[16] = { 0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67,
                                     0x89, 0xab, 0xcd, 0xef, 0xfe, 0xed, 0xfa, 0xce };
    uint8_t iv[16] = { 0 }, buf[64] = { 0 };
    static const cr_aes_sub_t subs[] = { { 1, 1 } };
    cr_aes_t *ctr = ctx(key, CR_AES_CTR), *cbc = ctx(key, CR_AES_CBC_ENCRYPT);
    assert_int_equal(cr_aes_cenc(ctr, iv, 3, buf, 64, NULL, 0), -EINVAL);
    assert_int_equal(cr_aes_cenc(ctr, iv, 8, buf, 64, subs, 1), -EINVAL);
    assert_int_equal(cr_aes_cbcs(cbc, iv, 16, buf, 64, NULL, 0, 99, 0), -EINVAL);
    assert_int_equal(cr_aes_hls_encrypt(cbc, iv, buf, 60, 61), -ENOSPC);
    assert_int_equal(cr_aes_saes_audio(cbc, iv, buf, 3, 9), -EINVAL);
    assert_int_equal(cr_aes_saes_nal(ctr, iv, buf, 64), -EINVAL);
    assert_true(strlen(logbuf) > 0);
    for (char *p = logbuf; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    assert_null(strstr(logbuf, "deadbeef"));
    assert_null(strstr(logbuf, "de ad be ef"));
    assert_null(strstr(logbuf, "3q2+7w"));      /* base64 of de ad be ef */
    assert_null(memmem(logbuf, strlen(logbuf), key, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_cenc_nist_ctr),
        T(test_cenc_nist_split_mid_block),
        T(test_cenc_long_ranges),
        T(test_cbcs_full_nist_cbc),
        T(test_cbcs_pattern_nist),
        T(test_cbcs_restart_per_subsample),
        T(test_cenc_continuity),
        T(test_cenc_iv8_is_iv16_low_zero),
        T(test_cenc_counter_wraps_in_low_64_bits),
        T(test_cenc_bad_requests),
        T(test_cbcs_matches_model),
        T(test_cbcs_short_crypt_run),
        T(test_cbcs_iv8),
        T(test_cbcs_bad_requests),
        T(test_hls_sizes_and_round_trip),
        T(test_hls_stream),
        T(test_hls_bad_requests),
        T(test_hls_iv_from_sequence),
        T(test_saes_nal_nist),
        T(test_saes_nal_which_units),
        T(test_saes_audio_nist),
        T(test_saes_audio_short_and_bad),
        T(test_escape_cases),
        T(test_escape_round_trip),
        T(test_saes_nal_escape_round_trip),
        T(test_saes_nal_write),
        T(test_new_out_of_memory),
        T(test_key_never_logged),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
