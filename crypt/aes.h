/*
 * AES-128 primitives of the encryption schemes. The block cipher is OpenSSL's (EVP,
 * AES-NI where the CPU has it; no cipher code of our own); each context is keyed once
 * and never re-initialised per sample: CTR keystream is AES-ECB of counter blocks made
 * here, short CBC chains (cbcs patterns, SAMPLE-AES) are chained here over ECB, long
 * ones (HLS AES-128) run in EVP's CBC (crypt/aes.c says why):
 *
 *   cr_aes_cenc      ISO/IEC 23001-7 9.5 'cenc': AES-CTR over a sample's protected ranges
 *   cr_aes_cbcs      ISO/IEC 23001-7 9.6/10.4 'cbcs': AES-CBC with a pattern, constant IV
 *   cr_aes_hls_*     RFC 8216 4.3.2.4: whole-segment AES-128-CBC with PKCS7 padding
 *   cr_aes_saes_*    Apple "MPEG-2 Stream Encryption Format for HTTP Live Streaming"
 *                    (SAMPLE-AES in TS): H.264 NAL units and audio frames
 *   cr_aes_nal_escape  H.264/H.265 emulation prevention, for SAMPLE-AES NAL units
 *
 * A cr_aes_t holds one key for one request: it lives on the request's arena and is
 * freed (key schedule cleansed by OpenSSL) at arena_free(). It is not thread-safe:
 * like its arena, one thread at a time. The key is copied into OpenSSL's context
 * only; no function here logs or returns key bytes.
 *
 * All functions work in place on caller memory and return 0 or a negative errno:
 * -EINVAL for a request that cannot be right (subsamples not covering the sample,
 * an IV of the wrong size, a context of the wrong mode; logged), -EIO when OpenSSL
 * fails (logged with OpenSSL's reason).
 */
#ifndef CR_AES_H
#define CR_AES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../pack/arena.h"
#include "../pack/bytes.h"

#define CR_AES_BLOCK 16

typedef struct cr_aes cr_aes_t;

typedef enum {
    CR_AES_CTR,                 /* cenc (encrypting and decrypting are the same) */
    CR_AES_CBC_ENCRYPT,         /* cbcs, HLS AES-128, SAMPLE-AES */
    CR_AES_CBC_DECRYPT,         /* the inverse of cbcs and SAMPLE-AES (tests, verification) */
} cr_aes_mode_t;

/* One subsample: a senc entry (23001-7 7.2.2). */
typedef struct {
    uint32_t clear;             /* BytesOfClearData (16 bits in senc) */
    uint32_t prot;              /* BytesOfProtectedData */
} cr_aes_sub_t;

/*
 * A context for `key` (16 bytes, copied) in `mode`, freed at arena_free(a).
 * Returns 0 and sets *out, -ENOMEM, or -EIO (OpenSSL could not set up the cipher).
 */
int cr_aes_new(arena_t *a, const uint8_t key[16], cr_aes_mode_t mode, cr_aes_t **out);

/*
 * cenc: AES-128-CTR over the protected bytes of one sample, in place. The counter
 * block starts as the IV (iv_len 16), or the IV followed by 8 zero bytes (iv_len 8);
 * its low 64 bits count blocks and wrap without carrying into the high half
 * (23001-7 9.5.2). The keystream runs on across all protected ranges of the
 * sample: it is not restarted per subsample, and a range that ends mid-block
 * leaves the rest of that keystream block to the next range.
 * subs[0..nsubs) must cover buf[0..len) exactly (clear then protected, in order);
 * nsubs == 0 protects the whole sample (audio). Needs a CR_AES_CTR context.
 * Returns 0, -EINVAL (logged: ranges not summing to len, iv_len not 8 or 16,
 * wrong mode) or -EIO.
 */
int cr_aes_cenc(cr_aes_t *c, const uint8_t *iv, size_t iv_len, uint8_t *buf, size_t len,
                const cr_aes_sub_t *subs, size_t nsubs);

/*
 * cbcs: AES-128-CBC with pattern `crypt`:`skip` (in 16-byte blocks, tenc
 * default_crypt_byte_block / default_skip_byte_block) over the protected bytes of
 * one sample, in place. For every protected range the chain restarts with the
 * constant IV (iv_len 16, or 8 padded with zeros); within a range, `crypt` blocks
 * are encrypted (chained to each other across the skipped ones), `skip` blocks
 * left clear, and so on; where fewer than `crypt` whole blocks remain, those that
 * remain are encrypted (23001-7 10.4.2); a trailing partial block is always clear.
 * skip == 0 (patterns 0:0 and n:0) encrypts every whole block: audio and
 * full-sample CBC. subs/nsubs as for cr_aes_cenc. Needs a CBC context (either
 * direction: decrypting undoes exactly what encrypting did).
 * Returns 0, -EINVAL (logged: ranges, iv_len, crypt or skip > 15, wrong mode) or -EIO.
 */
int cr_aes_cbcs(cr_aes_t *c, const uint8_t *iv, size_t iv_len, uint8_t *buf, size_t len,
                const cr_aes_sub_t *subs, size_t nsubs, unsigned crypt, unsigned skip);

/*
 * HLS AES-128 (RFC 8216 4.3.2.4): a whole segment in AES-128-CBC with PKCS7 padding
 * (1 to 16 bytes), IV explicit (EXT-X-KEY IV=) or from cr_aes_hls_iv().
 */

/* The encrypted size of a len-byte segment: len + 16 - len % 16. */
static inline size_t cr_aes_hls_size(size_t len)
{
    return len + CR_AES_BLOCK - len % CR_AES_BLOCK;
}

/* The IV RFC 8216 5.2 implies when EXT-X-KEY has none: the media sequence number of
 * the segment as a 128-bit big-endian integer. */
void cr_aes_hls_iv(uint64_t media_sequence, uint8_t iv[16]);

/*
 * Encrypts buf[0..len) in place into buf[0..cr_aes_hls_size(len)), which must fit
 * in cap (the caller sizes the buffer for it: the TS writer writes len bytes into a
 * buffer of cr_aes_hls_size(len)). Needs a CR_AES_CBC_ENCRYPT context.
 * Returns 0, -ENOSPC (cap too small: nothing changed), -EINVAL (mode) or -EIO.
 */
int cr_aes_hls_encrypt(cr_aes_t *c, const uint8_t iv[16], uint8_t *buf, size_t len,
                       size_t cap);

/*
 * The same as a stream through a wr_t: begin, then update with the clear bytes in
 * order (any lengths), then final. Each call writes the whole cipher blocks its
 * input completes (the PKCS7 block at final), so the writer ends with exactly
 * cr_aes_hls_size(total) bytes. In count mode (w->buf == NULL) nothing is
 * encrypted and only w->pos advances: the counting pass gives the size. in must not
 * overlap where update writes, except for being exactly there while the bytes given
 * since begin are a multiple of 16 (cr_aes_hls_encrypt works in place this way).
 * begin: 0, -EINVAL (mode) or -EIO. update/final: 0, w->err (-ENOSPC) or -EIO;
 * update/final without begin: -EINVAL.
 */
int cr_aes_hls_begin(cr_aes_t *c, const uint8_t iv[16]);
int cr_aes_hls_update(cr_aes_t *c, const uint8_t *in, size_t n, wr_t *w);
int cr_aes_hls_final(cr_aes_t *c, wr_t *w);

/*
 * Apple SAMPLE-AES for MPEG-2 TS (HLS_Sample_Encryption 2.1-2.3). Each protected
 * block (one NAL unit, one audio frame) is CBC with the chain restarted at the
 * constant 16-byte IV.
 */

/*
 * One H.264 NAL unit `nal[0..n)` as stored in the sample (from the nal_unit_type
 * byte, the encoder's emulation prevention bytes included, no start code or length
 * prefix), in place. This is the one statement of the rule (crypt/subsample.c
 * counts with it): types 1 and 5 only; the type byte and the 31 bytes after it
 * stay clear; then, while more than 16 bytes remain, one 16-byte block is
 * encrypted and up to 144 bytes (9 blocks) after it stay clear. So a unit of 48
 * bytes or fewer is wholly clear, and the last 1 to 16 bytes always are.
 * Returns 1 when the unit was encrypted: it must then be written with
 * cr_aes_nal_escape() (the cipher text may hold start code patterns; the
 * decoder removes one level of emulation prevention before decrypting, so the
 * escaped size depends on the cipher text); 0 when the unit was left as it is
 * (write it unchanged); -EINVAL (mode) or -EIO.
 */
int cr_aes_saes_nal(cr_aes_t *c, const uint8_t iv[16], uint8_t *nal, size_t n);

/*
 * One H.264 NAL unit in[0..n), as the TS writer emits it, written through w in its
 * SAMPLE-AES form: a unit cr_aes_saes_nal() protects is copied to scratch (n bytes of
 * caller memory), encrypted there and written with cr_aes_nal_escape() over the whole
 * unit; any other unit is written as it is. The plain text is the unit as stored, with
 * the encoder's own emulation prevention bytes: a decrypting client (Apple's spec,
 * ffmpeg's hls_sample_encryption.c remove_scep_3_bytes) removes one level of emulation
 * prevention from the whole unit, decrypts, and hands the result to the decoder, so
 * the unit must come back exactly as stored (shaka-packager encrypts the same bytes
 * and re-escapes the unit, EscapeNalByteSequence). The escaped size depends on the
 * cipher text, so in count mode the unit is encrypted too (into scratch) and only w
 * counts. in is not changed.
 * Returns 0, w->err (-ENOSPC), or as cr_aes_saes_nal (-EINVAL, -EIO).
 */
int cr_aes_saes_nal_write(cr_aes_t *c, const uint8_t iv[16], const uint8_t *in, size_t n,
                          uint8_t *scratch, wr_t *w);

/*
 * One audio frame `frame[0..n)` in place: the first hdr bytes (the ADTS header, 7
 * or 9 bytes; 0 for AC-3, whose sync frame is all protected block) and 16 more stay
 * clear, then every whole 16-byte block is encrypted, the last 0 to 15 bytes stay
 * clear. (E-AC-3 is not covered: Apple gives it its own layout.)
 * Returns 0, -EINVAL (hdr > n, mode) or -EIO.
 */
int cr_aes_saes_audio(cr_aes_t *c, const uint8_t iv[16], uint8_t *frame, size_t n, size_t hdr);

/*
 * Writes in[0..n) through w with emulation prevention (14496-10 7.4.1): a 0x03 goes
 * before any byte <= 0x03 that follows two zero bytes, and after two final zero
 * bytes (decoders strip it: the unit ends intact instead of in a zero word that the
 * next start code would absorb). Count mode gives the escaped size.
 * The zero run starts at 0: call it once per whole NAL unit.
 */
void cr_aes_nal_escape(wr_t *w, const uint8_t *in, size_t n);

#endif
