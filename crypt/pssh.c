/*
 * DRM signalling builders (contracts in pssh.h). Sources, each cited where it decides:
 *   [CENC]   ISO/IEC 23001-7 8.1.1, the 'pssh' box.
 *   [PRH]    Microsoft, "PlayReady Header Specification" (learn.microsoft.com/playready/
 *            specifications/playready-header-specification): §2 the PRO, §3.2 syntax rules,
 *            §3.3-3.6 WRMHEADER 4.3/4.2/4.1/4.0, §5 the key checksum.
 *   [SHAKA]  shaka-packager: packager/media/base/widevine_pssh_data.proto (field numbers),
 *            widevine_pssh_generator.cc and playready_pssh_generator.cc (v0 boxes, the 4.0
 *            header for cenc and 4.3 for cbcs), packager/hls/base/simple_hls_notifier.cc
 *            (the HLS data: URIs and KEYFORMATs).
 *   [SPEKE]  AWS MediaPackage SPEKE v2 docs, "HLS signaling": the same URIs and v0 boxes.
 *   [W3C]    "ISO Common Encryption ('cenc') Protection Scheme for Media Source Extensions"
 *            / EME initData 'cenc' format: the common pssh, v1 with KIDs, no data.
 */
#include "pssh.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "../pack/log.h"
#include "../pack/text.h"

const uint8_t cr_pssh_widevine_id[16] = {
    0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce, 0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed,
};
const uint8_t cr_pssh_playready_id[16] = {
    0x9a, 0x04, 0xf0, 0x79, 0x98, 0x40, 0x42, 0x86, 0xab, 0x92, 0xe6, 0x5b, 0xe0, 0x88, 0x5f, 0x95,
};
const uint8_t cr_pssh_common_id[16] = {
    0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
};

/* Records err in w (the first error sticks) and returns it. */
static int set_err(wr_t *w, int err)
{
    if (!w->err)
        w->err = err;
    return err;
}

/* ---- little helpers over wr_t ------------------------------------------------------ */

static void put_le16(wr_t *w, uint32_t v)
{
    uint8_t *p = wr_reserve(w, 2);
    if (p) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
    }
}

static void put_le32(wr_t *w, uint32_t v)
{
    put_le16(w, v & 0xffff);
    put_le16(w, v >> 16);
}

/* Overwrites n (2 or 4) bytes at `at` with v, little- or big-endian; a no-op when counting
 * or after an error (then the bytes are not going to be used). */
static void patch(wr_t *w, size_t at, uint32_t v, int n, int little)
{
    if (!w->buf || w->err || at > w->cap || w->cap - at < (size_t)n)
        return;
    for (int i = 0; i < n; i++)
        w->buf[at + (size_t)(little ? i : n - 1 - i)] = (uint8_t)(v >> (8 * i));
}

/* ---- UUIDs -------------------------------------------------------------------------- */


/* ---- pssh boxes --------------------------------------------------------------------- */

/* [CENC] 8.1.1: the box up to and including DataSize, left 0 for pssh_close() to patch.
 * Returns where the box starts. */
static size_t pssh_open(wr_t *w, const uint8_t system_id[16], const uint8_t *const *kids,
                        size_t nkids)
{
    size_t start = box_open_full(w, FOURCC('p', 's', 's', 'h'), kids ? 1 : 0, 0);
    wr_bytes(w, system_id, 16);
    if (kids) {
        wr_u32(w, (uint32_t)nkids);
        for (size_t i = 0; i < nkids; i++)
            wr_bytes(w, kids[i], 16);
    }
    wr_u32(w, 0);
    return start;
}

/* Patches DataSize (the data began at data_at) and the box size. */
static int pssh_close(wr_t *w, size_t start, size_t data_at)
{
    if (w->err)
        return w->err;
    if (w->pos - start > UINT32_MAX) {
        PK_ERROR("pssh box of %zu bytes: too large for its 32-bit size", w->pos - start);
        return set_err(w, -EINVAL);
    }
    patch(w, data_at - 4, (uint32_t)(w->pos - data_at), 4, 0);
    box_close(w, start);
    return w->err;
}

int cr_pssh_write(wr_t *w, const uint8_t system_id[16], const uint8_t *const *kids,
                  size_t nkids, const uint8_t *data, size_t len)
{
    size_t start = pssh_open(w, system_id, kids, nkids), data_at = w->pos;
    wr_bytes(w, data, len);
    return pssh_close(w, start, data_at);
}

int cr_pssh_common_write(wr_t *w, const uint8_t *const *kids, size_t nkids)
{
    if (!kids || !nkids) {
        PK_ERROR("common pssh: no KID");
        return set_err(w, -EINVAL);
    }
    return cr_pssh_write(w, cr_pssh_common_id, kids, nkids, NULL, 0);
}

/* ---- text for XML and protobuf strings ---------------------------------------------- */

/* Decodes the UTF-8 character at *p, advancing *p. Returns it, or -1 for what is not UTF-8
 * (bad lead or continuation byte, overlong form, surrogate, beyond U+10FFFF) or is not an
 * XML 1.0 Char (C0 controls other than tab, LF, CR; U+FFFE, U+FFFF). */
static long next_char(const unsigned char **pp)
{
    static const uint32_t least[4] = { 0, 0x80, 0x800, 0x10000 };
    const unsigned char *p = *pp;
    uint32_t c;
    int more;

    if (*p < 0x80)
        c = *p, more = 0;
    else if ((*p & 0xe0) == 0xc0)
        c = *p & 0x1f, more = 1;
    else if ((*p & 0xf0) == 0xe0)
        c = *p & 0x0f, more = 2;
    else if ((*p & 0xf8) == 0xf0)
        c = *p & 0x07, more = 3;
    else
        return -1;
    p++;
    for (int i = 0; i < more; i++, p++) {
        if ((*p & 0xc0) != 0x80)        /* also stops at the NUL */
            return -1;
        c = c << 6 | (*p & 0x3f);
    }
    if (c < least[more] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return -1;
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0xfffe || c == 0xffff)
        return -1;
    *pp = p;
    return (long)c;
}

/* 0 when s is UTF-8 of XML 1.0 characters only, else -EINVAL. */
static int check_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p)
        if (next_char(&p) < 0)
            return -EINVAL;
    return 0;
}

/* Appends ASCII markup as UTF-16LE ([PRH] §3: "It is encoded using UTF-16"; the PRO holds
 * it little-endian, without a byte order mark, as every packager writes it). */
static void u16(wr_t *w, const char *ascii)
{
    for (const char *p = ascii; *p; p++)
        put_le16(w, (uint8_t)*p);
}

/* Appends UTF-8 s as UTF-16LE XML character data, escaped as Canonical XML writes text
 * ([PRH] §3.2.1 "The XML must be canonicalized"; Canonical XML text nodes: '&' '<' '>' as
 * entities, CR as &#xD;, quotes literal). s must have passed check_text(). */
static void u16_text(wr_t *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        long c = next_char(&p);
        if (c < 0)
            return;
        if (c == '&')
            u16(w, "&amp;");
        else if (c == '<')
            u16(w, "&lt;");
        else if (c == '>')
            u16(w, "&gt;");
        else if (c == '\r')
            u16(w, "&#xD;");
        else if (c >= 0x10000) {
            put_le16(w, 0xd800 | (uint32_t)(c - 0x10000) >> 10);
            put_le16(w, 0xdc00 | ((uint32_t)(c - 0x10000) & 0x3ff));
        } else
            put_le16(w, (uint32_t)c);
    }
}

/* Appends the base64 of n bytes (n <= 16) as UTF-16LE. */
static void u16_base64(wr_t *w, const uint8_t *p, size_t n)
{
    char b64[25];
    wr_t t = wr_init(b64, sizeof b64 - 1);
    wr_base64(&t, p, n);
    b64[t.pos] = '\0';
    u16(w, b64);
}

/* ---- Widevine ----------------------------------------------------------------------- */

/* Protocol Buffers encoding: base-128 varints, keys (field << 3 | wire type). */
static void pb_varint(wr_t *w, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        wr_u8(w, (uint8_t)(v | 0x80));
    wr_u8(w, (uint8_t)v);
}

static void pb_bytes(wr_t *w, unsigned field, const void *p, size_t n)
{
    pb_varint(w, (uint64_t)field << 3 | 2);         /* wire type 2: length-delimited */
    pb_varint(w, n);
    wr_bytes(w, p, n);
}

int cr_pssh_widevine_data(wr_t *w, const cr_pssh_widevine_t *wv)
{
    if ((!wv->nkids || !wv->kids) && !wv->content_id) {
        PK_ERROR("Widevine pssh: neither a KID nor a content_id");
        return set_err(w, -EINVAL);
    }
    if (wv->provider && check_text(wv->provider) < 0) {
        PK_ERROR("Widevine pssh: the provider is not UTF-8 text");
        return set_err(w, -EINVAL);
    }
    /* [SHAKA] widevine_pssh_data.proto: key_id = 2, provider = 3, content_id = 4,
     * protection_scheme = 9 (uint32, the 4CC read big-endian). Fields go in field-number
     * order, as protobuf serializers write them. algorithm (1) is deprecated: shaka no
     * longer writes it either. */
    for (size_t i = 0; wv->kids && i < wv->nkids; i++)
        pb_bytes(w, 2, wv->kids[i], 16);
    if (wv->provider && *wv->provider)
        pb_bytes(w, 3, wv->provider, strlen(wv->provider));
    if (wv->content_id)
        pb_bytes(w, 4, wv->content_id, wv->content_id_len);
    if (wv->scheme) {
        pb_varint(w, 9 << 3 | 0);                   /* wire type 0: varint */
        pb_varint(w, wv->scheme);
    }
    return w->err;
}

int cr_pssh_widevine_write(wr_t *w, const cr_pssh_widevine_t *wv)
{
    /* Version 0: [SHAKA] "Use version 0 for backward compatibility"; [SPEKE] shows v0. The
     * KIDs are in the protobuf, so v1's KID list would add nothing a CDM needs. */
    size_t start = pssh_open(w, cr_pssh_widevine_id, NULL, 0), data_at = w->pos;
    int rc = cr_pssh_widevine_data(w, wv);
    if (rc < 0)
        return rc;
    return pssh_close(w, start, data_at);
}

/* ---- PlayReady ---------------------------------------------------------------------- */

/* [PRH] §5: AESCTR checksum = the first 8 bytes of AES-128-ECB(content key, KID in GUID
 * order). The key is only handed to OpenSSL; its context is cleansed when freed. */
static int checksum(const uint8_t key[16], const uint8_t guid[16], uint8_t out[8],
                    const uint8_t kid[16])
{
    uint8_t block[32];
    int n = 0, m = 0, rc = -EIO;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    if (ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
        EVP_EncryptUpdate(ctx, block, &n, guid, 16) == 1 &&
        EVP_EncryptFinal_ex(ctx, block + n, &m) == 1 && n + m == 16) {
        memcpy(out, block, 8);
        rc = 0;
    } else {
        char why[256], id[CR_UUID_STR_SIZE];
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        PK_ERROR("PlayReady checksum of KID %s: OpenSSL: %s", cr_uuid_format(kid, id),
                 ctx ? why : "no cipher context");
        rc = ctx ? -EIO : -ENOMEM;
    }
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(block, sizeof block);
    return rc;
}

/* Appends a KID's VALUE: base64 of the KID in GUID order. */
static void kid_value(wr_t *w, const uint8_t kid[16])
{
    uint8_t guid[16];
    cr_guid_swap(kid, guid);
    u16_base64(w, guid, 16);
}

/* Appends the CHECKSUM of KID i: base64 of 8 bytes. When counting, nothing is computed: the
 * base64 is 12 characters whatever the bytes. */
static int kid_checksum(wr_t *w, const cr_pssh_playready_t *pr, size_t i)
{
    uint8_t guid[16], sum[8] = { 0 };
    if (w->buf) {
        cr_guid_swap(pr->kids[i], guid);
        int rc = checksum(pr->keys[i], guid, sum, pr->kids[i]);
        if (rc < 0)
            return set_err(w, rc);
    }
    u16_base64(w, sum, 8);
    return 0;
}

/* Appends <NAME>text</NAME> for a non-empty s. */
static void u16_element(wr_t *w, const char *name, const char *s)
{
    if (!s || !*s)
        return;
    u16(w, "<");
    u16(w, name);
    u16(w, ">");
    u16_text(w, s);
    u16(w, "</");
    u16(w, name);
    u16(w, ">");
}

/* The WRMHEADER, UTF-16LE. Markup as [PRH] §3.2 wants it: no XML declaration, no
 * whitespace between elements, every element closed by a closing tag (even empty KIDs),
 * xmlns before the other attributes, attributes in alphabetical order. */
static int write_header(wr_t *w, const cr_pssh_playready_t *pr, int ctr)
{
    int rc = 0;

    u16(w, "<WRMHEADER xmlns=\"http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader\" "
           "version=\"");
    u16(w, !ctr ? "4.3.0.0" : pr->nkids == 1 ? "4.0.0.0" : "4.2.0.0");
    u16(w, "\"><DATA>");
    if (ctr && pr->nkids == 1) {
        /* [PRH] §3.6: 4.0 is one AESCTR key, read by every PlayReady client. The order of
         * DATA's children is free in 4.0; this is the order of the PRO Microsoft publishes
         * in §3.6.1 (written by AMS itself) and of [SHAKA]'s template. CHECKSUM is optional
         * since PlayReady 1.5/2.0 but "should be included" for older clients. */
        u16(w, "<PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>");
        kid_value(w, pr->kids[0]);
        u16(w, "</KID><CHECKSUM>");
        rc = kid_checksum(w, pr, 0);
        u16(w, "</CHECKSUM>");
    } else {
        /* [PRH] §3.4 (4.2, PlayReady 3+): several AESCTR keys in KIDS; §3.3 (4.3, PlayReady
         * 4+): AESCBC keys, whose KID "must not" carry a CHECKSUM (§5: none is defined). */
        u16(w, "<PROTECTINFO><KIDS>");
        for (size_t i = 0; i < pr->nkids && rc == 0; i++) {
            u16(w, ctr ? "<KID ALGID=\"AESCTR\" CHECKSUM=\"" : "<KID ALGID=\"AESCBC\"");
            if (ctr) {
                rc = kid_checksum(w, pr, i);
                u16(w, "\"");
            }
            u16(w, " VALUE=\"");
            kid_value(w, pr->kids[i]);
            u16(w, "\"></KID>");
        }
        u16(w, "</KIDS></PROTECTINFO>");
    }
    u16_element(w, "LA_URL", pr->la_url);
    u16_element(w, "LUI_URL", pr->lui_url);
    u16_element(w, "DS_ID", pr->ds_id);
    u16(w, "</DATA></WRMHEADER>");
    return rc;
}

/* Checks what the header needs; returns 1 for AESCTR, 0 for AESCBC, or a negative errno. */
static int check_playready(wr_t *w, const cr_pssh_playready_t *pr)
{
    static const char *const names[3] = { "LA_URL", "LUI_URL", "DS_ID" };
    const char *vals[3] = { pr->la_url, pr->lui_url, pr->ds_id };
    char fcc[5], id[CR_UUID_STR_SIZE];
    int ctr;

    switch (pr->scheme) {
    case FOURCC('c', 'e', 'n', 'c'):
    case FOURCC('c', 'e', 'n', 's'):
        ctr = 1;                    /* [SHAKA]: AESCTR keys serve both */
        break;
    case FOURCC('c', 'b', 'c', 's'):
    case FOURCC('c', 'b', 'c', '1'):
        ctr = 0;
        break;
    default:
        PK_ERROR("PlayReady header: protection scheme '%s' unsupported",
                 fourcc_str(pr->scheme, fcc));
        return set_err(w, -ENOTSUP);
    }
    if (!pr->nkids || !pr->kids) {
        PK_ERROR("PlayReady header: no KID");
        return set_err(w, -EINVAL);
    }
    for (size_t i = 0; ctr && i < pr->nkids; i++) {
        if (!pr->keys || !pr->keys[i]) {
            PK_ERROR("PlayReady AESCTR header: no content key for KID %s (its CHECKSUM)",
                     cr_uuid_format(pr->kids[i], id));
            return set_err(w, -EINVAL);
        }
    }
    for (int i = 0; i < 3; i++) {
        if (vals[i] && check_text(vals[i]) < 0) {
            PK_ERROR("PlayReady header: %s is not UTF-8 text XML can hold", names[i]);
            return set_err(w, -EINVAL);
        }
    }
    return ctr;
}

int cr_pssh_pro_write(wr_t *w, const cr_pssh_playready_t *pr)
{
    int ctr = check_playready(w, pr);
    if (ctr < 0)
        return ctr;

    /* [PRH] §2, all little-endian: Length (DWORD, the whole object), record count (WORD),
     * then per record: type (WORD; 1 = PlayReady Header), length (WORD), value. One record:
     * no Embedded License Store, which §4 advises against for manifests. */
    size_t start = w->pos;
    put_le32(w, 0);
    put_le16(w, 1);
    put_le16(w, 1);
    size_t len_at = w->pos;
    put_le16(w, 0);
    int rc = write_header(w, pr, ctr);
    if (rc < 0 || w->err)           /* after -ENOSPC, pos has stopped: no length to check */
        return rc < 0 ? rc : w->err;
    size_t hlen = w->pos - len_at - 2;
    if (hlen > 0xffff) {
        PK_ERROR("PlayReady header with %zu KIDs is %zu bytes: more than a PRO record holds "
                 "(65535)", pr->nkids, hlen);
        return set_err(w, -EINVAL);
    }
    patch(w, len_at, (uint32_t)hlen, 2, 1);
    patch(w, start, (uint32_t)(w->pos - start), 4, 1);
    return w->err;
}

int cr_pssh_playready_write(wr_t *w, const cr_pssh_playready_t *pr)
{
    /* Version 0 like [SHAKA] and [SPEKE]: PlayReady finds its KIDs in the PRO. */
    size_t start = pssh_open(w, cr_pssh_playready_id, NULL, 0), data_at = w->pos;
    int rc = cr_pssh_pro_write(w, pr);
    if (rc < 0)
        return rc;
    return pssh_close(w, start, data_at);
}

/* ---- built into an arena ------------------------------------------------------------ */

typedef int (*writer_fn)(wr_t *w, const void *arg);

static int build(arena_t *a, writer_fn fn, const void *arg, cr_pssh_blob_t *out)
{
    wr_t count = wr_counter();
    int rc = fn(&count, arg);
    if (rc < 0)
        return rc;
    uint8_t *p = arena_alloc(a, count.pos);
    if (!p)
        return -ENOMEM;
    wr_t w = wr_init(p, count.pos);
    if ((rc = fn(&w, arg)) < 0)
        return rc;
    assert(w.pos == count.pos);
    *out = (cr_pssh_blob_t){ p, w.pos };
    return 0;
}

static int widevine_fn(wr_t *w, const void *arg) { return cr_pssh_widevine_write(w, arg); }
static int pro_fn(wr_t *w, const void *arg) { return cr_pssh_pro_write(w, arg); }
static int playready_fn(wr_t *w, const void *arg) { return cr_pssh_playready_write(w, arg); }

int cr_pssh_widevine_build(arena_t *a, const cr_pssh_widevine_t *wv, cr_pssh_blob_t *out)
{
    return build(a, widevine_fn, wv, out);
}

int cr_pssh_pro_build(arena_t *a, const cr_pssh_playready_t *pr, cr_pssh_blob_t *out)
{
    return build(a, pro_fn, pr, out);
}

int cr_pssh_playready_build(arena_t *a, const cr_pssh_playready_t *pr, cr_pssh_blob_t *out)
{
    return build(a, playready_fn, pr, out);
}

/* ---- manifest text ------------------------------------------------------------------ */

void cr_pssh_base64(wr_t *w, const cr_pssh_blob_t *b)
{
    wr_base64(w, b->p, b->len);
}

void cr_pssh_hls_widevine_uri(wr_t *w, const cr_pssh_blob_t *pssh_box)
{
    /* [SHAKA] kUriBase64Prefix + the whole pssh box, KEYFORMAT "urn:uuid:edef8ba9-…";
     * [SPEKE] the same. */
    wr_str(w, "data:text/plain;base64,");
    wr_base64(w, pssh_box->p, pssh_box->len);
}

void cr_pssh_hls_playready_uri(wr_t *w, const cr_pssh_blob_t *pro)
{
    /* [SHAKA] kUriBase64Utf16Prefix + the pssh *data* (the PRO), KEYFORMAT
     * "com.microsoft.playready"; [SPEKE]: "the PlayReady Object ... NOT the raw PSSH box". */
    wr_str(w, "data:text/plain;charset=UTF-16;base64,");
    wr_base64(w, pro->p, pro->len);
}
