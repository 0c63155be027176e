#include "aes.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "../pack/log.h"

/*
 * Two OpenSSL contexts, each keyed once in cr_aes_new and never re-initialised:
 *   ecb  AES-128-ECB, encrypting: the block function. CTR keystream is made from it in
 *        bulk (counter blocks written here, one EVP call per 4 KiB), and CBC chains of a
 *        few blocks (cbcs patterns, SAMPLE-AES) are chained here block by block. Setting
 *        a new IV on an EVP context costs more than encrypting a small audio sample
 *        (OpenSSL 3 looks the IV length up through OSSL_PARAMs on every init), and cenc,
 *        cbcs and SAMPLE-AES need one per sample or per subsample.
 *   cbc  AES-128-CBC: long chains (HLS AES-128 whole segments, long cbcs runs), where
 *        EVP's own CBC is faster per block than a call per block; and every chain of a
 *        CR_AES_CBC_DECRYPT context.
 * CTR contexts have ecb only, CBC_DECRYPT contexts cbc only.
 */
struct cr_aes {
    EVP_CIPHER_CTX *ecb;        /* key schedules; cleansed by EVP_CIPHER_CTX_free */
    EVP_CIPHER_CTX *cbc;
    cr_aes_mode_t mode;
    bool hls_open;              /* between cr_aes_hls_begin and cr_aes_hls_final */
    uint64_t hls_in;            /* clear bytes given to cr_aes_hls_update since begin */
};

/* EVP takes int lengths: longer runs go in pieces of this many bytes (a whole number
 * of blocks, so CBC and CTR state carry over exactly). */
#define EVP_CHUNK (1u << 30)

/* Keystream blocks made per EVP call (on the stack): large enough that the call's
 * fixed cost vanishes, small enough to stay in L1. */
#define KS_BLOCKS 256

/* Encrypting chains of at least this many blocks go through EVP's CBC (one IV set, then
 * ~14 ns a block) instead of one ECB call per block (~16 ns a block, no IV set). */
#define CBC_EVP_MIN 64

/* The ciphers, fetched from the default provider once per process: an implicit fetch
 * (EVP_aes_128_*() passed to an init) looks the algorithm up again on every
 * cr_aes_new, one per request. Written once under pthread_once, read-only afterwards,
 * like OpenSSL's own tables; NULL when the fetch failed (the implicit path is used). */
static pthread_once_t ciphers_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *cipher_ecb, *cipher_cbc;

static void fetch_ciphers(void)
{
    cipher_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
    cipher_cbc = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
    ERR_clear_error();          /* a failed fetch is not an error: the fallback follows */
}

/* Logs OpenSSL's reason for a failed call (never key material: EVP errors do not
 * carry it) and empties its per-thread error queue. */
static int evp_fail(const char *what)
{
    char reason[256] = "no reason given";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    PK_ERROR("%s failed: %s", what, reason);
    return -EIO;
}

static void aes_free(void *arg)
{
    cr_aes_t *c = arg;
    EVP_CIPHER_CTX_free(c->ecb);
    EVP_CIPHER_CTX_free(c->cbc);
}

/* A context of `cipher` keyed with key; padding off (HLS PKCS7 is added by us as data). */
static int keyed(EVP_CIPHER_CTX **out, const EVP_CIPHER *cipher, const uint8_t key[16],
                 int enc)
{
    if (!(*out = EVP_CIPHER_CTX_new()))
        return -ENOMEM;
    if (!EVP_CipherInit_ex(*out, cipher, NULL, key, NULL, enc))
        return evp_fail("EVP_CipherInit_ex(key)");
    EVP_CIPHER_CTX_set_padding(*out, 0);
    return 0;
}

int cr_aes_new(arena_t *a, const uint8_t key[16], cr_aes_mode_t mode, cr_aes_t **out)
{
    int rc;
    pthread_once(&ciphers_once, fetch_ciphers);
    cr_aes_t *c = arena_zalloc(a, sizeof *c);
    if (!c || arena_defer(a, aes_free, c) < 0)      /* frees whatever is made below */
        return -ENOMEM;
    c->mode = mode;
    if (mode != CR_AES_CBC_DECRYPT &&
        (rc = keyed(&c->ecb, cipher_ecb ? cipher_ecb : EVP_aes_128_ecb(), key, 1)) < 0)
        return rc;
    if (mode != CR_AES_CTR &&
        (rc = keyed(&c->cbc, cipher_cbc ? cipher_cbc : EVP_aes_128_cbc(), key,
                    mode == CR_AES_CBC_ENCRYPT)) < 0)
        return rc;
    *out = c;
    return 0;
}

static int set_iv(EVP_CIPHER_CTX *ctx, const uint8_t iv[16])
{
    if (!EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1))
        return evp_fail("EVP_CipherInit_ex(iv)");
    return 0;
}

/* Runs ctx over p[0..n) in place; n is a multiple of 16. */
static int crypt_run(EVP_CIPHER_CTX *ctx, uint8_t *p, size_t n)
{
    while (n) {
        int k = (int)(n < EVP_CHUNK ? n : EVP_CHUNK), outl = 0;
        if (!EVP_CipherUpdate(ctx, p, &outl, p, k) || outl != k)
            return evp_fail("EVP_CipherUpdate");
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void xor_bytes(uint8_t *p, const uint8_t *k, size_t n)
{
    for (; n >= 8; n -= 8, p += 8, k += 8) {
        uint64_t x, y;
        memcpy(&x, p, 8);
        memcpy(&y, k, 8);
        x ^= y;
        memcpy(p, &x, 8);
    }
    while (n--)
        *p++ ^= *k++;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

static const char *mode_name(cr_aes_mode_t m)
{
    return m == CR_AES_CTR ? "CTR" : m == CR_AES_CBC_ENCRYPT ? "CBC encrypt" : "CBC decrypt";
}

static int check_mode(const cr_aes_t *c, bool cbc, const char *what)
{
    if ((c->mode != CR_AES_CTR) == cbc)
        return 0;
    PK_ERROR("%s on a %s context", what, mode_name(c->mode));
    return -EINVAL;
}

/* The 16-byte first counter block / CBC IV from an 8- or 16-byte IV (23001-7 9.5.2:
 * an 8-byte IV fills the high half, the low half starts at zero). */
static int full_iv(const uint8_t *iv, size_t iv_len, uint8_t out[16], const char *what)
{
    if (iv_len != 8 && iv_len != 16) {
        PK_ERROR("%s: IV of %zu bytes (8 or 16)", what, iv_len);
        return -EINVAL;
    }
    memset(out, 0, 16);
    memcpy(out, iv, iv_len);
    return 0;
}

/* 23001-7 7.2.2: the subsamples of a sample describe all of it. */
static int check_subs(const cr_aes_sub_t *subs, size_t nsubs, size_t len, const char *what)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < nsubs; i++)
        sum += (uint64_t)subs[i].clear + subs[i].prot;
    if (nsubs == 0 || sum == len)
        return 0;
    PK_ERROR("%s: %zu subsamples cover %llu bytes of a %zu-byte sample", what, nsubs,
             (unsigned long long)sum, len);
    return -EINVAL;
}

/* ---- cenc ------------------------------------------------------------------ */

/* The CTR keystream of one sample. 23001-7 9.5.2 counts blocks in the low 64 bits of the
 * counter block only, wrapping without a carry into the high half (as ffmpeg and Shaka
 * do): exactly what a uint64_t does. */
typedef struct {
    uint8_t hi[8];              /* the counter block's high half, constant */
    uint64_t lo;                /* its low half for the next keystream block */
    uint8_t ks[16];             /* the last keystream block made ... */
    unsigned used;              /* ... of which this many bytes are spent (16: all) */
} ctr_state_t;

/* XORs the next n bytes of keystream into p[0..n): what is left of a block a previous
 * range ended in first, then blocks made KS_BLOCKS at a time (counter blocks encrypted
 * by ECB: the same bytes as EVP's CTR, without an IV set per sample). */
static int ctr_run(cr_aes_t *c, ctr_state_t *st, uint8_t *p, size_t n)
{
    uint8_t ks[KS_BLOCKS * CR_AES_BLOCK];
    while (n && st->used < CR_AES_BLOCK) {
        *p++ ^= st->ks[st->used++];
        n--;
    }
    while (n) {
        size_t blocks = n / CR_AES_BLOCK + (n % CR_AES_BLOCK != 0), outl_want;
        if (blocks > KS_BLOCKS)
            blocks = KS_BLOCKS;
        for (uint8_t *q = ks, *end = ks + blocks * CR_AES_BLOCK; q < end; q += CR_AES_BLOCK) {
            memcpy(q, st->hi, 8);
            put_be64(q + 8, st->lo++);
        }
        int outl = 0;
        outl_want = blocks * CR_AES_BLOCK;
        if (!EVP_EncryptUpdate(c->ecb, ks, &outl, ks, (int)outl_want) ||
            (size_t)outl != outl_want)
            return evp_fail("EVP_EncryptUpdate(ECB)");
        size_t k = outl_want < n ? outl_want : n;
        xor_bytes(p, ks, k);
        if (k % CR_AES_BLOCK) {                     /* ends mid-block: keep the rest */
            memcpy(st->ks, ks + (blocks - 1) * CR_AES_BLOCK, CR_AES_BLOCK);
            st->used = (unsigned)(k % CR_AES_BLOCK);
        }
        p += k;
        n -= k;
    }
    return 0;
}

int cr_aes_cenc(cr_aes_t *c, const uint8_t *iv, size_t iv_len, uint8_t *buf, size_t len,
                const cr_aes_sub_t *subs, size_t nsubs)
{
    ctr_state_t st = { .used = CR_AES_BLOCK };
    uint8_t ctr[16];
    int rc;
    if ((rc = check_mode(c, false, "cenc")) < 0 ||
        (rc = full_iv(iv, iv_len, ctr, "cenc")) < 0 ||
        (rc = check_subs(subs, nsubs, len, "cenc")) < 0)
        return rc;
    memcpy(st.hi, ctr, 8);
    for (int i = 8; i < 16; i++)
        st.lo = st.lo << 8 | ctr[i];
    if (nsubs == 0)
        return ctr_run(c, &st, buf, len);
    for (size_t i = 0; i < nsubs; i++) {
        buf += subs[i].clear;
        if ((rc = ctr_run(c, &st, buf, subs[i].prot)) < 0)
            return rc;
        buf += subs[i].prot;
    }
    return 0;
}

/* ---- CBC chains ------------------------------------------------------------- */

/* One CBC chain that may skip blocks (cbcs patterns, SAMPLE-AES): started at an IV, then
 * runs of whole blocks in place, each run chained to the last cipher block of the one
 * before. Encrypting, the chain value lives here and short runs go block by block
 * through ECB; decrypting (and long runs), EVP's CBC context keeps it. */
typedef struct {
    uint8_t last[16];           /* encrypting: the IV, then the last cipher block */
} chain_t;

static int chain_begin(cr_aes_t *c, chain_t *ch, const uint8_t iv[16])
{
    if (c->mode == CR_AES_CBC_ENCRYPT) {
        memcpy(ch->last, iv, 16);
        return 0;
    }
    return set_iv(c->cbc, iv);
}

static int chain_run(cr_aes_t *c, chain_t *ch, uint8_t *p, size_t blocks)
{
    int rc;
    if (!blocks)
        return 0;
    if (c->mode != CR_AES_CBC_ENCRYPT)
        return crypt_run(c->cbc, p, blocks * CR_AES_BLOCK);
    if (blocks >= CBC_EVP_MIN) {
        if ((rc = set_iv(c->cbc, ch->last)) < 0 ||
            (rc = crypt_run(c->cbc, p, blocks * CR_AES_BLOCK)) < 0)
            return rc;
        memcpy(ch->last, p + (blocks - 1) * CR_AES_BLOCK, CR_AES_BLOCK);
        return 0;
    }
    for (; blocks; blocks--, p += CR_AES_BLOCK) {
        int outl = 0;
        xor_bytes(p, ch->last, CR_AES_BLOCK);
        if (!EVP_EncryptUpdate(c->ecb, p, &outl, p, CR_AES_BLOCK) || outl != CR_AES_BLOCK)
            return evp_fail("EVP_EncryptUpdate(ECB)");
        memcpy(ch->last, p, CR_AES_BLOCK);
    }
    return 0;
}

/* ---- cbcs ------------------------------------------------------------------ */

/* One protected range: the chain restarts at iv; crypt:skip over whole blocks (skip 0:
 * all of them); the partial block at the end stays clear (23001-7 10.4.2). */
static int cbcs_range(cr_aes_t *c, const uint8_t iv[16], uint8_t *p, size_t n,
                      unsigned crypt, unsigned skip)
{
    size_t blocks = n / CR_AES_BLOCK;
    chain_t ch;
    int rc;
    if (blocks == 0)
        return 0;
    if ((rc = chain_begin(c, &ch, iv)) < 0)
        return rc;
    if (skip == 0)
        return chain_run(c, &ch, p, blocks);
    while (blocks) {
        size_t enc = blocks < crypt ? blocks : crypt;
        if ((rc = chain_run(c, &ch, p, enc)) < 0)
            return rc;
        blocks -= enc;
        size_t clear = blocks < skip ? blocks : skip;
        blocks -= clear;
        p += (enc + clear) * CR_AES_BLOCK;
    }
    return 0;
}

int cr_aes_cbcs(cr_aes_t *c, const uint8_t *iv, size_t iv_len, uint8_t *buf, size_t len,
                const cr_aes_sub_t *subs, size_t nsubs, unsigned crypt, unsigned skip)
{
    uint8_t iv16[16];
    int rc;
    if ((rc = check_mode(c, true, "cbcs")) < 0 ||
        (rc = full_iv(iv, iv_len, iv16, "cbcs")) < 0 ||
        (rc = check_subs(subs, nsubs, len, "cbcs")) < 0)
        return rc;
    /* tenc holds each in 4 bits; crypt 0 with skip > 0 would encrypt nothing */
    if (crypt > 15 || skip > 15 || (crypt == 0 && skip != 0)) {
        PK_ERROR("cbcs: pattern %u:%u", crypt, skip);
        return -EINVAL;
    }
    if (nsubs == 0)
        return cbcs_range(c, iv16, buf, len, crypt, skip);
    for (size_t i = 0; i < nsubs; i++) {
        buf += subs[i].clear;
        if ((rc = cbcs_range(c, iv16, buf, subs[i].prot, crypt, skip)) < 0)
            return rc;
        buf += subs[i].prot;
    }
    return 0;
}

/* ---- HLS AES-128 ----------------------------------------------------------- */

void cr_aes_hls_iv(uint64_t media_sequence, uint8_t iv[16])
{
    memset(iv, 0, 8);
    for (int i = 15; i >= 8; i--, media_sequence >>= 8)
        iv[i] = (uint8_t)media_sequence;
}

int cr_aes_hls_begin(cr_aes_t *c, const uint8_t iv[16])
{
    int rc;
    if (c->mode != CR_AES_CBC_ENCRYPT) {
        PK_ERROR("HLS AES-128 on a %s context", mode_name(c->mode));
        return -EINVAL;
    }
    if ((rc = set_iv(c->cbc, iv)) < 0)
        return rc;
    c->hls_open = true;
    c->hls_in = 0;
    return 0;
}

/* Feeds n clear bytes; EVP keeps a partial block (padding off) until it completes.
 * Writes the cipher blocks completed, exactly as many as reserved. */
static int hls_feed(cr_aes_t *c, const uint8_t *in, size_t n, wr_t *w)
{
    while (n) {
        size_t k = n < EVP_CHUNK ? n : EVP_CHUNK;
        size_t out = (size_t)((c->hls_in % CR_AES_BLOCK + k) / CR_AES_BLOCK * CR_AES_BLOCK);
        uint8_t *p = wr_reserve(w, out);
        if (w->buf) {
            int outl = 0;
            if (!p)
                return w->err;
            if (!EVP_EncryptUpdate(c->cbc, p, &outl, in, (int)k) || (size_t)outl != out)
                return evp_fail("EVP_EncryptUpdate");
        }
        c->hls_in += k;
        in += k;
        n -= k;
    }
    return 0;
}

int cr_aes_hls_update(cr_aes_t *c, const uint8_t *in, size_t n, wr_t *w)
{
    if (!c->hls_open) {
        PK_ERROR("HLS AES-128 update without begin");
        return -EINVAL;
    }
    return hls_feed(c, in, n, w);
}

int cr_aes_hls_final(cr_aes_t *c, wr_t *w)
{
    uint8_t pad[CR_AES_BLOCK];
    if (!c->hls_open) {
        PK_ERROR("HLS AES-128 final without begin");
        return -EINVAL;
    }
    /* PKCS7 (RFC 5652 6.3): 1 to 16 bytes, each the pad length; one block out */
    size_t npad = CR_AES_BLOCK - c->hls_in % CR_AES_BLOCK;
    memset(pad, (int)npad, npad);
    c->hls_open = false;
    return hls_feed(c, pad, npad, w);
}

int cr_aes_hls_encrypt(cr_aes_t *c, const uint8_t iv[16], uint8_t *buf, size_t len,
                       size_t cap)
{
    if (cap < len || cap - len < CR_AES_BLOCK - len % CR_AES_BLOCK) {
        PK_ERROR("HLS AES-128: %zu bytes need %zu, buffer holds %zu", len,
                 cr_aes_hls_size(len), cap);
        return -ENOSPC;
    }
    /* Output never runs ahead of input: the one update is exactly in place, and the
     * pad block lands over the clear tail that EVP has already taken in. */
    wr_t w = wr_init(buf, cap);
    int rc;
    if ((rc = cr_aes_hls_begin(c, iv)) < 0 ||
        (rc = cr_aes_hls_update(c, buf, len, &w)) < 0 ||
        (rc = cr_aes_hls_final(c, &w)) < 0)
        return rc;
    return 0;
}

/* ---- Apple SAMPLE-AES ------------------------------------------------------ */

enum {
    SAES_NAL_LEADER = 32,       /* the nal_unit_type byte and 31 more bytes */
    SAES_NAL_SKIP = 144,        /* nine clear blocks after each encrypted one */
    SAES_AUDIO_LEADER = 16,
};

/* The one place the rule lives: coded slices (nal_unit_type 1, 5) with more than a
 * block after the leader; anything shorter would have no block to encrypt. */
static bool saes_protected(const uint8_t *nal, size_t n)
{
    unsigned type = n ? nal[0] & 0x1f : 0;
    return (type == 1 || type == 5) && n > SAES_NAL_LEADER + CR_AES_BLOCK;
}

int cr_aes_saes_nal(cr_aes_t *c, const uint8_t iv[16], uint8_t *nal, size_t n)
{
    int rc;
    if ((rc = check_mode(c, true, "SAMPLE-AES")) < 0)
        return rc;
    if (!saes_protected(nal, n))
        return 0;
    chain_t ch;
    if ((rc = chain_begin(c, &ch, iv)) < 0)
        return rc;
    /* Apple Listing 2-1: while bytes remain, a block is encrypted only if more than
     * 16 remain, then up to 144 stay clear. One CBC chain through the unit. */
    uint8_t *p = nal + SAES_NAL_LEADER;
    size_t left = n - SAES_NAL_LEADER;
    while (left > CR_AES_BLOCK) {
        if ((rc = chain_run(c, &ch, p, 1)) < 0)
            return rc;
        p += CR_AES_BLOCK;
        left -= CR_AES_BLOCK;
        size_t k = left < SAES_NAL_SKIP ? left : SAES_NAL_SKIP;
        p += k;
        left -= k;
    }
    return 1;
}

int cr_aes_saes_nal_write(cr_aes_t *c, const uint8_t iv[16], const uint8_t *in, size_t n,
                          uint8_t *scratch, wr_t *w)
{
    int rc;
    if ((rc = check_mode(c, true, "SAMPLE-AES")) < 0)
        return rc;
    /* units left clear go out as they are, not escaped once more: the client removes
     * emulation prevention only from the units it decrypts */
    if (!saes_protected(in, n)) {
        wr_bytes(w, in, n);
        return w->err;
    }
    memcpy(scratch, in, n);
    if ((rc = cr_aes_saes_nal(c, iv, scratch, n)) < 0)
        return rc;
    cr_aes_nal_escape(w, scratch, n);
    return w->err;
}

int cr_aes_saes_audio(cr_aes_t *c, const uint8_t iv[16], uint8_t *frame, size_t n, size_t hdr)
{
    int rc;
    if ((rc = check_mode(c, true, "SAMPLE-AES")) < 0)
        return rc;
    if (hdr > n) {
        PK_ERROR("SAMPLE-AES: %zu-byte header in a %zu-byte frame", hdr, n);
        return -EINVAL;
    }
    /* Apple Listing 2-2/2-3: header, 16 clear bytes, whole blocks, clear tail */
    if (n - hdr < SAES_AUDIO_LEADER + CR_AES_BLOCK)
        return 0;
    size_t body = n - hdr - SAES_AUDIO_LEADER;
    chain_t ch;
    if ((rc = chain_begin(c, &ch, iv)) < 0)
        return rc;
    return chain_run(c, &ch, frame + hdr + SAES_AUDIO_LEADER, body / CR_AES_BLOCK);
}

void cr_aes_nal_escape(wr_t *w, const uint8_t *in, size_t n)
{
    size_t zeros = 0, from = 0;
    /* copy runs between insertions in one wr_bytes each */
    for (size_t i = 0; i < n; i++) {
        if (zeros >= 2 && in[i] <= 3) {
            wr_bytes(w, in + from, i - from);
            wr_u8(w, 3);
            from = i;
            zeros = 0;
        }
        zeros = in[i] == 0 ? zeros + 1 : 0;
    }
    wr_bytes(w, in + from, n - from);
    /* 7.4.1: a unit ending in a zero word gets a final 0x03, which decoders strip
     * like any other after two zeros (a single trailing zero has no such remedy:
     * valid units never end in one, and SAMPLE-AES leaves the last byte clear) */
    if (zeros >= 2)
        wr_u8(w, 3);
}
