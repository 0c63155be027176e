/* DRM signalling builders (crypt/pssh.c): UUID text and GUID order, pssh box layouts
 * (23001-7 8.1.1), the Widevine protobuf, the PlayReady Object and WRMHEADER.
 *
 * Known answers, not self-checks, where they exist:
 *   - Microsoft's PlayReady Header Specification: the base64 PRO of §3.6.1 (a 4.0 header
 *     written by AMS) and the 4.2/4.3 examples of §3.4.2/§3.3.2, byte for byte. Their
 *     CHECKSUMs are those of keys derived from Microsoft's public test key seed
 *     ("XVBovsmzhP9gRIZxWfFta3VVRPzVEWmJsazEJ46I") with Microsoft's key seed algorithm
 *     (playready-key-seed.md); the keys below were derived that way, and reproduce every
 *     CHECKSUM the spec prints.
 *   - Microsoft's DASH PlayReady spec (v1.1 note): the PlayReady system ID in GUID order.
 *   - a published Widevine pssh box (provider "widevine_test", content_id "test content";
 *     quoted in hls.js's tests from "Widevine DRM for HLS").
 * tests/integration/crypt_pssh.sh checks the outputs again with protoc, openssl, iconv and
 * xmllint. */
#include "test.h"

#include "../../crypt/pssh.c"

#include <stdio.h>
#include <stdlib.h>

static char logbuf[4096];

static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)func, (void)ctx;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
}

static int setup(void **state)
{
    (void)state;
    logbuf[0] = '\0';
    pk_log_set_sink(capture, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pk_log_set_sink(NULL, NULL);
    return 0;
}

/* ---- helpers -------------------------------------------------------------------------- */

static void uuid(const char *s, uint8_t out[16])
{
    assert_int_equal(cr_uuid_parse(s, out), 0);
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_true(hexval(s[2 * i]) >= 0 && hexval(s[2 * i + 1]) >= 0);
        out[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
    }
}

/* RFC 4648 base64 decoding of a well-formed, padded string; returns the length. */
static size_t unbase64(const char *s, uint8_t *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        const char *c = strchr(tab, *s);
        assert_non_null(c);
        acc = acc << 6 | (uint32_t)(c - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            assert_true(n < cap);
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}

/* The ASCII text of UTF-16LE bytes that must all be ASCII; a static buffer. */
static const char *ascii16(const uint8_t *p, size_t n)
{
    static char s[70000];
    assert_int_equal(n % 2, 0);
    assert_true(n / 2 < sizeof s);
    for (size_t i = 0; i < n / 2; i++) {
        assert_int_equal(p[2 * i + 1], 0);
        assert_true(p[2 * i] > 0 && p[2 * i] < 0x80);
        s[i] = (char)p[2 * i];
    }
    s[n / 2] = '\0';
    return s;
}

/* The spec's pretty-printed XML without the whitespace between elements. */
static const char *squeeze(const char *xml)
{
    static char s[4096];
    size_t n = 0;
    for (const char *p = xml; *p; p++) {
        if (*p == '\n') {
            while (p[1] == ' ')
                p++;
            continue;
        }
        s[n++] = *p;
    }
    s[n] = '\0';
    return s;
}

typedef int (*pr_writer)(wr_t *, const cr_pssh_playready_t *);

/* Runs a writer counting, then into an exact buffer (malloc'ed, returned); checks both
 * passes agree. */
static uint8_t *run_pr(pr_writer fn, const cr_pssh_playready_t *pr, size_t *len)
{
    wr_t c = wr_counter();
    assert_int_equal(fn(&c, pr), 0);
    uint8_t *buf = malloc(c.pos);
    assert_non_null(buf);
    wr_t w = wr_init(buf, c.pos);
    assert_int_equal(fn(&w, pr), 0);
    assert_int_equal(w.pos, c.pos);
    *len = w.pos;
    return buf;
}

/* ---- UUIDs ---------------------------------------------------------------------------- */

static void test_uuid_parse_and_format(void **state)
{
    (void)state;
    static const uint8_t want[16] = { 0x6e, 0x5a, 0x1d, 0x26, 0x27, 0x57, 0x47, 0xd7,
                                      0x80, 0x46, 0xea, 0xa5, 0xd1, 0xd3, 0x4b, 0x5a };
    uint8_t id[16];
    char s[CR_UUID_STR_SIZE];

    assert_int_equal(cr_uuid_parse("6e5a1d26-2757-47d7-8046-eaa5d1d34b5a", id), 0);
    assert_memory_equal(id, want, 16);
    assert_int_equal(cr_uuid_parse("6E5A1D26-2757-47D7-8046-EAA5D1D34B5A", id), 0);
    assert_memory_equal(id, want, 16);
    assert_string_equal(cr_uuid_format(id, s), "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a");

    /* cenc:default_KID: lower case with dashes, counted like it is written */
    char buf[40];
    wr_t w = wr_init(buf, sizeof buf), c = wr_counter();
    cr_uuid_write(&w, want);
    cr_uuid_write(&c, want);
    assert_int_equal(w.pos, 36);
    assert_int_equal(c.pos, 36);
    assert_memory_equal(buf, "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a", 36);
}

static void test_uuid_parse_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "6e5a1d26-2757-47d7-8046-eaa5d1d34b5",          /* one digit short */
        "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a0",        /* one too many */
        "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a ",        /* trailing blank */
        " 6e5a1d26-2757-47d7-8046-eaa5d1d34b5a",
        "{6e5a1d26-2757-47d7-8046-eaa5d1d34b5a}",
        "urn:uuid:6e5a1d26-2757-47d7-8046-eaa5d1d34b5a",
        "6e5a1d262757-47d7-8046-eaa5d1d34b5a0",         /* a dash moved */
        "6e5a1d26-275747d7-8046-eaa5d1d34b5a-",
        "6e5a1d2627-57-47d7-8046-eaa5d1d34b5a",
        "6e5a1d26-2757-47d7-8046-eaa5d1d34b5g",         /* not hex */
        "6e5a1d26-2757-47d7-8046-eaa5d1d3 b5a",
        "6e5a1d26x2757-47d7-8046-eaa5d1d34b5a",
        "6e5a1d2627574 7d78046eaa5d1d34b5a",
        "0x5a1d26-2757-47d7-8046-eaa5d1d34b5a",
        "6e5a1d26-2757-47d7-8046",                      /* ends early: no read past NUL */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t id[16];
        memset(id, 0xaa, sizeof id);
        assert_int_equal(cr_uuid_parse(bad[i], id), -EINVAL);
        for (int j = 0; j < 16; j++)
            assert_int_equal(id[j], 0xaa);          /* untouched on failure */
    }
}

static void test_guid_order(void **state)
{
    (void)state;
    uint8_t kid[16], guid[16], back[16];

    /* the brief's example: the first three fields byte-swapped, the rest as is */
    static const uint8_t want[16] = { 0x00, 0x00, 0x00, 0x10, 0x00, 0x10, 0x00, 0x10,
                                      0x10, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01 };
    uuid("10000000-1000-1000-1000-100000000001", kid);
    cr_guid_swap(kid, guid);
    assert_memory_equal(guid, want, 16);
    cr_guid_swap(guid, back);
    assert_memory_equal(back, kid, 16);

    /* Microsoft, "DASH Content Protection using Microsoft PlayReady" v1.1: the PlayReady
     * SystemID "Little endian representation" */
    static const uint8_t pr_le[16] = { 0x79, 0xF0, 0x04, 0x9A, 0x40, 0x98, 0x86, 0x42,
                                       0xAB, 0x92, 0xE6, 0x5B, 0xE0, 0x88, 0x5F, 0x95 };
    cr_guid_swap(cr_pssh_playready_id, guid);
    assert_memory_equal(guid, pr_le, 16);

    /* in place */
    memcpy(guid, kid, 16);
    cr_guid_swap(guid, guid);
    assert_memory_equal(guid, want, 16);
}

/* ---- pssh boxes ----------------------------------------------------------------------- */

static void test_pssh_v0_layout(void **state)
{
    (void)state;
    static const uint8_t data[3] = { 'a', 'b', 'c' };
    uint8_t buf[64];
    wr_t c = wr_counter(), w = wr_init(buf, sizeof buf);

    assert_int_equal(cr_pssh_write(&c, cr_pssh_widevine_id, NULL, 0, data, 3), 0);
    assert_int_equal(cr_pssh_write(&w, cr_pssh_widevine_id, NULL, 0, data, 3), 0);
    assert_int_equal(c.pos, 35);                    /* 8 header + 4 version/flags + 16 + 4 + 3 */
    assert_int_equal(w.pos, 35);
    assert_int_equal(be32(buf), 35);
    assert_memory_equal(buf + 4, "pssh", 4);
    assert_int_equal(be32(buf + 8), 0);             /* version 0, flags 0 */
    assert_memory_equal(buf + 12, cr_pssh_widevine_id, 16);
    assert_int_equal(be32(buf + 28), 3);            /* DataSize */
    assert_memory_equal(buf + 32, "abc", 3);

    /* no data at all */
    w = wr_init(buf, sizeof buf);
    assert_int_equal(cr_pssh_write(&w, cr_pssh_playready_id, NULL, 0, NULL, 0), 0);
    assert_int_equal(w.pos, 32);
    assert_int_equal(be32(buf), 32);
    assert_int_equal(be32(buf + 28), 0);
}

static void test_pssh_v1_layout(void **state)
{
    (void)state;
    uint8_t k1[16], k2[16], buf[128];
    uuid("6e5a1d26-2757-47d7-8046-eaa5d1d34b5a", k1);
    uuid("2b1a9e4c-55aa-4b8f-9c4c-0c1c4f8e2d11", k2);
    const uint8_t *kids[2] = { k1, k2 };
    static const uint8_t data[2] = { 7, 9 };
    wr_t c = wr_counter(), w = wr_init(buf, sizeof buf);

    assert_int_equal(cr_pssh_write(&c, cr_pssh_widevine_id, kids, 2, data, 2), 0);
    assert_int_equal(cr_pssh_write(&w, cr_pssh_widevine_id, kids, 2, data, 2), 0);
    assert_int_equal(c.pos, 12 + 16 + 4 + 32 + 4 + 2);
    assert_int_equal(w.pos, c.pos);
    assert_int_equal(be32(buf), w.pos);
    assert_memory_equal(buf + 4, "pssh", 4);
    assert_int_equal(be32(buf + 8), 0x01000000);    /* version 1, flags 0 */
    assert_memory_equal(buf + 12, cr_pssh_widevine_id, 16);
    assert_int_equal(be32(buf + 28), 2);            /* KID_count */
    assert_memory_equal(buf + 32, k1, 16);
    assert_memory_equal(buf + 48, k2, 16);
    assert_int_equal(be32(buf + 64), 2);            /* DataSize */
    assert_memory_equal(buf + 68, data, 2);
}

static void test_common_pssh(void **state)
{
    (void)state;
    uint8_t k[16], buf[64];
    uuid("10000000-1000-1000-1000-100000000001", k);
    const uint8_t *kids[1] = { k };
    /* W3C 'cenc' init data: v1, system 1077efec-c0b2-4d02-ace3-3c1e52e2fb4b, 1 KID, no data */
    static const uint8_t want[52] = {
        0, 0, 0, 52, 'p', 's', 's', 'h', 1, 0, 0, 0,
        0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02,
        0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
        0, 0, 0, 1,
        0x10, 0, 0, 0, 0x10, 0, 0x10, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 1,
        0, 0, 0, 0,
    };
    wr_t w = wr_init(buf, sizeof buf);
    assert_int_equal(cr_pssh_common_write(&w, kids, 1), 0);
    assert_int_equal(w.pos, sizeof want);
    assert_memory_equal(buf, want, sizeof want);

    w = wr_init(buf, sizeof buf);
    assert_int_equal(cr_pssh_common_write(&w, kids, 0), -EINVAL);
    assert_int_equal(w.err, -EINVAL);
    assert_non_null(strstr(logbuf, "common pssh: no KID"));
}

/* ---- Widevine ------------------------------------------------------------------------- */

static void test_widevine_protobuf(void **state)
{
    (void)state;
    uint8_t k1[16], k2[16], buf[128];
    uuid("10000000-1000-1000-1000-100000000001", k1);
    uuid("6e5a1d26-2757-47d7-8046-eaa5d1d34b5a", k2);
    const uint8_t *kids[2] = { k1, k2 };
    cr_pssh_widevine_t wv = { .kids = kids, .nkids = 2, .scheme = FOURCC('c', 'e', 'n', 'c') };

    /* key_id: key 2<<3|2 = 0x12, length 16, bytes; protection_scheme: key 9<<3|0 = 0x48,
     * varint 0x63656e63 = e3 dc 95 9b 06 */
    uint8_t want[2 * 18 + 6];
    want[0] = 0x12, want[1] = 0x10;
    memcpy(want + 2, k1, 16);
    want[18] = 0x12, want[19] = 0x10;
    memcpy(want + 20, k2, 16);
    memcpy(want + 36, (const uint8_t[]){ 0x48, 0xe3, 0xdc, 0x95, 0x9b, 0x06 }, 6);

    wr_t w = wr_init(buf, sizeof buf), c = wr_counter();
    assert_int_equal(cr_pssh_widevine_data(&w, &wv), 0);
    assert_int_equal(cr_pssh_widevine_data(&c, &wv), 0);
    assert_int_equal(w.pos, sizeof want);
    assert_int_equal(c.pos, sizeof want);
    assert_memory_equal(buf, want, sizeof want);

    /* cbcs = 0x63626373: f3 c6 89 9b 06 */
    wv.scheme = FOURCC('c', 'b', 'c', 's');
    w = wr_init(buf, sizeof buf);
    assert_int_equal(cr_pssh_widevine_data(&w, &wv), 0);
    assert_memory_equal(buf + 36, ((const uint8_t[]){ 0x48, 0xf3, 0xc6, 0x89, 0x9b, 0x06 }), 6);

    /* no scheme: the field is left out */
    wv.scheme = 0;
    w = wr_init(buf, sizeof buf);
    assert_int_equal(cr_pssh_widevine_data(&w, &wv), 0);
    assert_int_equal(w.pos, 36);

    /* the whole box: v0, Widevine system ID, DataSize = the protobuf */
    wv.scheme = FOURCC('c', 'e', 'n', 'c');
    w = wr_init(buf, sizeof buf);
    assert_int_equal(cr_pssh_widevine_write(&w, &wv), 0);
    assert_int_equal(w.pos, 32 + sizeof want);
    assert_int_equal(be32(buf), 32 + sizeof want);
    assert_memory_equal(buf + 4, "pssh", 4);
    assert_int_equal(be32(buf + 8), 0);
    assert_memory_equal(buf + 12, cr_pssh_widevine_id, 16);
    assert_int_equal(be32(buf + 28), sizeof want);
    assert_memory_equal(buf + 32, want, sizeof want);
}

static void test_widevine_published_box(void **state)
{
    (void)state;
    /* provider "widevine_test" (field 3), content_id "test content" (field 4) */
    static const char published[] = "AAAAPXBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAAB0aDXdpZGV2aW5l"
                                    "X3Rlc3QiDHRlc3QgY29udGVudA==";
    uint8_t want[80], buf[80];
    size_t n = unbase64(published, want, sizeof want);
    cr_pssh_widevine_t wv = { .provider = "widevine_test",
                              .content_id = (const uint8_t *)"test content",
                              .content_id_len = 12 };
    wr_t w = wr_init(buf, sizeof buf);
    assert_int_equal(cr_pssh_widevine_write(&w, &wv), 0);
    assert_int_equal(w.pos, n);
    assert_memory_equal(buf, want, n);
}

static void test_widevine_errors(void **state)
{
    (void)state;
    uint8_t buf[128];
    cr_pssh_widevine_t wv = { .scheme = FOURCC('c', 'e', 'n', 'c') };
    wr_t w = wr_init(buf, sizeof buf);
    assert_int_equal(cr_pssh_widevine_write(&w, &wv), -EINVAL);
    assert_int_equal(w.err, -EINVAL);
    assert_non_null(strstr(logbuf, "Widevine pssh: neither a KID nor a content_id"));

    uint8_t k[16] = { 1 };
    const uint8_t *kids[1] = { k };
    wv = (cr_pssh_widevine_t){ .kids = kids, .nkids = 1, .provider = "bad\xff" };
    w = wr_init(buf, sizeof buf);
    assert_int_equal(cr_pssh_widevine_data(&w, &wv), -EINVAL);
    assert_non_null(strstr(logbuf, "the provider is not UTF-8 text"));
}

/* ---- PlayReady ------------------------------------------------------------------------ */

/* PlayReady Header Specification §3.6.1, "Base64-encoded PlayReady Object containing a
 * PlayReady Header 4.0.0.0": written by AMS (LA_URL on *.keydelivery.mediaservices.windows.net,
 * CUSTOMATTRIBUTES IIS_DRM_VERSION 8.0.1705.19). */
static const char ms_pro_40[] =
    "XAMAAAEAAQBSAzwAVwBSAE0ASABFAEEARABFAFIAIAB4AG0AbABuAHMAPQAiAGgAdAB0AHAAOgAvAC8AcwBjAGgAZQBt"
    "AGEAcwAuAG0AaQBjAHIAbwBzAG8AZgB0AC4AYwBvAG0ALwBEAFIATQAvADIAMAAwADcALwAwADMALwBQAGwAYQB5AFIA"
    "ZQBhAGQAeQBIAGUAYQBkAGUAcgAiACAAdgBlAHIAcwBpAG8AbgA9ACIANAAuADAALgAwAC4AMAAiAD4APABEAEEAVABB"
    "AD4APABQAFIATwBUAEUAQwBUAEkATgBGAE8APgA8AEsARQBZAEwARQBOAD4AMQA2ADwALwBLAEUAWQBMAEUATgA+ADwA"
    "QQBMAEcASQBEAD4AQQBFAFMAQwBUAFIAPAAvAEEATABHAEkARAA+ADwALwBQAFIATwBUAEUAQwBUAEkATgBGAE8APgA8"
    "AEsASQBEAD4AcQA1AEgAZwBDAFQAagA0ADAAawBHAGUATgBWAGgAVABIADkARwBlAHgAdwA9AD0APAAvAEsASQBEAD4A"
    "PABDAEgARQBDAEsAUwBVAE0APgB3ACsATwBaAFYAcgA4AHYAegByAFEAPQA8AC8AQwBIAEUAQwBLAFMAVQBNAD4APABM"
    "AEEAXwBVAFIATAA+AGgAdAB0AHAAcwA6AC8ALwBwAHIAbwBmAGYAaQBjAGkAYQBsAHMAaQB0AGUALgBrAGUAeQBkAGUA"
    "bABpAHYAZQByAHkALgBtAGUAZABpAGEAcwBlAHIAdgBpAGMAZQBzAC4AdwBpAG4AZABvAHcAcwAuAG4AZQB0AC8AUABs"
    "AGEAeQBSAGUAYQBkAHkALwA8AC8ATABBAF8AVQBSAEwAPgA8AEMAVQBTAFQATwBNAEEAVABUAFIASQBCAFUAVABFAFMA"
    "PgA8AEkASQBTAF8ARABSAE0AXwBWAEUAUgBTAEkATwBOAD4AOAAuADAALgAxADcAMAA1AC4AMQA5ADwALwBJAEkAUwBf"
    "AEQAUgBNAF8AVgBFAFIAUwBJAE8ATgA+ADwALwBDAFUAUwBUAE8ATQBBAFQAVABSAEkAQgBVAFQARQBTAD4APAAvAEQA"
    "QQBUAEEAPgA8AC8AVwBSAE0ASABFAEEARABFAFIAPgA=";

/* Finds ASCII `needle` written as UTF-16LE in p[0..n); returns its offset or SIZE_MAX. */
static size_t find16(const uint8_t *p, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + 2 * m <= n; i += 2) {
        size_t j = 0;
        while (j < m && p[i + 2 * j] == (uint8_t)needle[j] && p[i + 2 * j + 1] == 0)
            j++;
        if (j == m)
            return i;
    }
    return SIZE_MAX;
}

static void test_playready_40_microsoft_pro(void **state)
{
    (void)state;
    uint8_t want[1024], kid[16], key[16];
    size_t n = unbase64(ms_pro_40, want, sizeof want);
    assert_int_equal(n, 0x35c);
    assert_int_equal(le32(want), n);

    /* ismfs writes no CUSTOMATTRIBUTES: cut that element out and fix both lengths */
    size_t from = find16(want, n, "<CUSTOMATTRIBUTES>");
    size_t to = find16(want, n, "</CUSTOMATTRIBUTES>");
    assert_true(from != SIZE_MAX && to != SIZE_MAX && to > from);
    to += 2 * strlen("</CUSTOMATTRIBUTES>");
    memmove(want + from, want + to, n - to);
    n -= to - from;
    patch(&(wr_t){ want, 0, sizeof want, 0 }, 0, (uint32_t)n, 4, 1);
    patch(&(wr_t){ want, 0, sizeof want, 0 }, 8, (uint32_t)n - 10, 2, 1);

    uuid("09e091ab-f838-41d2-9e35-58531fd19ec7", kid);     /* KID q5HgCTj40kGeNVhTH9Gexw== */
    unhex("9cb061164b7013eaefcc7d6d18424c2c", key, 16);    /* test key seed + that KID */
    const uint8_t *kids[1] = { kid }, *keys[1] = { key };
    cr_pssh_playready_t pr = {
        .kids = kids, .nkids = 1, .keys = keys, .scheme = FOURCC('c', 'e', 'n', 'c'),
        .la_url = "https://profficialsite.keydelivery.mediaservices.windows.net/PlayReady/",
    };
    size_t len;
    uint8_t *got = run_pr(cr_pssh_pro_write, &pr, &len);
    assert_int_equal(len, n);
    assert_memory_equal(got, want, n);
    assert_non_null(strstr(ascii16(got + 10, len - 10), "<CHECKSUM>w+OZVr8vzrQ=</CHECKSUM>"));
    free(got);
}

static void test_playready_42_microsoft_example(void **state)
{
    (void)state;
    /* PlayReady Header Specification §3.4.2, "PlayReady Header 4.2.0.0 with two AESCTR keys" */
    static const char example[] =
        "<WRMHEADER xmlns=\"http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader\" "
        "version=\"4.2.0.0\">\n"
        "  <DATA>\n"
        "    <PROTECTINFO>\n"
        "      <KIDS>\n"
        "        <KID ALGID=\"AESCTR\" CHECKSUM=\"xNvWVxoWk04=\" "
        "VALUE=\"0IbHou/5s0yzM80yOkKEpQ==\"></KID>\n"
        "        <KID ALGID=\"AESCTR\" CHECKSUM=\"GnKaQIRacPU=\" "
        "VALUE=\"/qgG2xbs4k2SKCxx6bhWqw==\"></KID>\n"
        "      </KIDS>\n"
        "    </PROTECTINFO>\n"
        "    <LA_URL>http://rm.contoso.com/rightsmanager.asmx</LA_URL>\n"
        "    <DS_ID>AH+03juKbUGbHl1V/QIwRA==</DS_ID>\n"
        "  </DATA>\n"
        "</WRMHEADER>";
    uint8_t k1[16], k2[16], key1[16], key2[16];
    uuid("a2c786d0-f9ef-4cb3-b333-cd323a4284a5", k1);
    uuid("db06a8fe-ec16-4de2-9228-2c71e9b856ab", k2);
    unhex("4edb7704cdbf03617f4800bd878a6df2", key1, 16);
    unhex("3179923adf3c929892951e62f93a518a", key2, 16);
    const uint8_t *kids[2] = { k1, k2 }, *keys[2] = { key1, key2 };
    cr_pssh_playready_t pr = {
        .kids = kids, .nkids = 2, .keys = keys, .scheme = FOURCC('c', 'e', 'n', 'c'),
        .la_url = "http://rm.contoso.com/rightsmanager.asmx", .ds_id = "AH+03juKbUGbHl1V/QIwRA==",
    };
    size_t len;
    uint8_t *got = run_pr(cr_pssh_pro_write, &pr, &len);
    assert_string_equal(ascii16(got + 10, len - 10), squeeze(example));
    free(got);
}

static void test_playready_43_microsoft_example(void **state)
{
    (void)state;
    /* PlayReady Header Specification §3.3.2, "PlayReady Header 4.3.0.0 with AESCBC keys" */
    static const char example[] =
        "<WRMHEADER xmlns=\"http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader\" "
        "version=\"4.3.0.0\">\n"
        "  <DATA>\n"
        "    <PROTECTINFO>\n"
        "      <KIDS>\n"
        "        <KID ALGID=\"AESCBC\" VALUE=\"PV1LM/VEVk+kEOB8qqcWDg==\"></KID>\n"
        "        <KID ALGID=\"AESCBC\" VALUE=\"tuhDoKUN7EyxDPtMRNmhyA==\"></KID>\n"
        "      </KIDS>\n"
        "    </PROTECTINFO>\n"
        "    <LA_URL>http://rm.contoso.com/rightsmanager.asmx</LA_URL>\n"
        "    <DS_ID>AH+03juKbUGbHl1V/QIwRA==</DS_ID>\n"
        "  </DATA>\n"
        "</WRMHEADER>";
    uint8_t k1[16], k2[16];
    uuid("334b5d3d-44f5-4f56-a410-e07caaa7160e", k1);
    uuid("a043e8b6-0da5-4cec-b10c-fb4c44d9a1c8", k2);
    const uint8_t *kids[2] = { k1, k2 };
    cr_pssh_playready_t pr = {
        .kids = kids, .nkids = 2, .scheme = FOURCC('c', 'b', 'c', 's'),     /* no keys */
        .la_url = "http://rm.contoso.com/rightsmanager.asmx", .ds_id = "AH+03juKbUGbHl1V/QIwRA==",
    };
    size_t len;
    uint8_t *got = run_pr(cr_pssh_pro_write, &pr, &len);
    assert_string_equal(ascii16(got + 10, len - 10), squeeze(example));
    free(got);

    /* one cbcs key: still 4.3 (4.0 cannot say AESCBC), no CHECKSUM, no LA_URL when absent */
    pr = (cr_pssh_playready_t){ .kids = kids, .nkids = 1, .scheme = FOURCC('c', 'b', 'c', '1') };
    got = run_pr(cr_pssh_pro_write, &pr, &len);
    assert_string_equal(ascii16(got + 10, len - 10),
                        "<WRMHEADER xmlns=\"http://schemas.microsoft.com/DRM/2007/03/"
                        "PlayReadyHeader\" version=\"4.3.0.0\"><DATA><PROTECTINFO><KIDS>"
                        "<KID ALGID=\"AESCBC\" VALUE=\"PV1LM/VEVk+kEOB8qqcWDg==\"></KID>"
                        "</KIDS></PROTECTINFO></DATA></WRMHEADER>");
    free(got);
}

static void test_pro_layout(void **state)
{
    (void)state;
    uint8_t kid[16], key[16];
    uuid("10000000-1000-1000-1000-100000000001", kid);
    unhex("00112233445566778899aabbccddeeff", key, 16);
    const uint8_t *kids[1] = { kid }, *keys[1] = { key };
    cr_pssh_playready_t pr = { .kids = kids, .nkids = 1, .keys = keys,
                               .scheme = FOURCC('c', 'e', 'n', 's'), .la_url = "https://l/" };
    size_t len;
    uint8_t *pro = run_pr(cr_pssh_pro_write, &pr, &len);

    assert_int_equal(le32(pro), len);               /* Length: all of the object */
    assert_int_equal(le16(pro + 4), 1);             /* one record */
    assert_int_equal(le16(pro + 6), 1);             /* of type 1: PlayReady Header */
    assert_int_equal(le16(pro + 8), len - 10);      /* its length */
    const char *xml = ascii16(pro + 10, len - 10);  /* UTF-16LE, no BOM */
    assert_true(strncmp(xml, "<WRMHEADER xmlns=", 17) == 0);
    assert_non_null(strstr(xml, "version=\"4.0.0.0\""));
    /* GUID order: 00 00 00 10 00 10 00 10 10 00 10 00 00 00 00 01 */
    assert_non_null(strstr(xml, "<KID>AAAAEAAQABAQABAAAAAAAQ==</KID>"));
    assert_non_null(strstr(xml, "<LA_URL>https://l/</LA_URL></DATA></WRMHEADER>"));

    /* the pssh box around it: v0, PlayReady system ID, data = the PRO */
    size_t blen;
    uint8_t *box = run_pr(cr_pssh_playready_write, &pr, &blen);
    assert_int_equal(blen, 32 + len);
    assert_int_equal(be32(box), blen);
    assert_memory_equal(box + 4, "pssh", 4);
    assert_int_equal(be32(box + 8), 0);
    assert_memory_equal(box + 12, cr_pssh_playready_id, 16);
    assert_int_equal(be32(box + 28), len);
    assert_memory_equal(box + 32, pro, len);
    free(box);
    free(pro);
}

static void test_playready_text(void **state)
{
    (void)state;
    uint8_t kid[16];
    uuid("10000000-1000-1000-1000-100000000001", kid);
    const uint8_t *kids[1] = { kid };
    cr_pssh_playready_t pr = {
        .kids = kids, .nkids = 1, .scheme = FOURCC('c', 'b', 'c', 's'),
        .la_url = "https://k/?a=1&b=<2>'\"\r\n", .lui_url = "", .ds_id = "",
    };
    size_t len;
    uint8_t *pro = run_pr(cr_pssh_pro_write, &pr, &len);
    /* canonical XML text: & < > as entities, CR as &#xD;, quotes literal; "" left out */
    const char *xml = ascii16(pro + 10, len - 10);
    assert_non_null(strstr(xml, "<LA_URL>https://k/?a=1&amp;b=&lt;2&gt;'\"&#xD;\n</LA_URL>"
                                "</DATA>"));
    assert_null(strstr(xml, "LUI_URL"));
    assert_null(strstr(xml, "DS_ID"));
    free(pro);

    /* beyond ASCII: U+00E9 is one unit, U+1F600 a surrogate pair */
    pr.la_url = "https://k/\xc3\xa9\xf0\x9f\x98\x80";
    pro = run_pr(cr_pssh_pro_write, &pr, &len);
    static const uint8_t tail[] = { '/', 0, 0xe9, 0, 0x3d, 0xd8, 0x00, 0xde, '<', 0, '/', 0 };
    size_t at = find16(pro, len, "https://k");
    assert_true(at != SIZE_MAX);
    assert_memory_equal(pro + at + 2 * 9, tail, sizeof tail);
    free(pro);
}

static void test_playready_errors(void **state)
{
    (void)state;
    uint8_t kid[16], key[16] = { 0 }, buf[2048];
    uuid("6e5a1d26-2757-47d7-8046-eaa5d1d34b5a", kid);
    const uint8_t *kids[1] = { kid }, *keys[1] = { key }, *nokey[1] = { NULL };
    struct { cr_pssh_playready_t pr; int rc; const char *log; } cases[] = {
        { { .kids = kids, .nkids = 1, .keys = keys, .scheme = FOURCC('p', 'i', 'f', 'f') },
          -ENOTSUP, "protection scheme 'piff' unsupported" },
        { { .kids = kids, .nkids = 0, .keys = keys, .scheme = FOURCC('c', 'e', 'n', 'c') },
          -EINVAL, "PlayReady header: no KID" },
        { { .kids = kids, .nkids = 1, .scheme = FOURCC('c', 'e', 'n', 'c') },
          -EINVAL, "no content key for KID 6e5a1d26-2757-47d7-8046-eaa5d1d34b5a" },
        { { .kids = kids, .nkids = 1, .keys = nokey, .scheme = FOURCC('c', 'e', 'n', 'c') },
          -EINVAL, "no content key for KID 6e5a1d26-2757-47d7-8046-eaa5d1d34b5a" },
        { { .kids = kids, .nkids = 1, .keys = keys, .scheme = FOURCC('c', 'e', 'n', 'c'),
            .la_url = "https://k/\xff" }, -EINVAL, "LA_URL is not UTF-8 text" },
        { { .kids = kids, .nkids = 1, .keys = keys, .scheme = FOURCC('c', 'e', 'n', 'c'),
            .la_url = "https://k/\xc0\xaf" }, -EINVAL, "LA_URL is not UTF-8" },   /* overlong */
        { { .kids = kids, .nkids = 1, .keys = keys, .scheme = FOURCC('c', 'e', 'n', 'c'),
            .lui_url = "\xed\xa0\x80" }, -EINVAL, "LUI_URL is not UTF-8" },       /* surrogate */
        { { .kids = kids, .nkids = 1, .keys = keys, .scheme = FOURCC('c', 'e', 'n', 'c'),
            .ds_id = "a\x01" }, -EINVAL, "DS_ID is not UTF-8 text XML can hold" },
        { { .kids = kids, .nkids = 1, .keys = keys, .scheme = FOURCC('c', 'e', 'n', 'c'),
            .la_url = "https://k/\xe2\x82" }, -EINVAL, "LA_URL is not UTF-8" },   /* cut short */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        logbuf[0] = '\0';
        wr_t c = wr_counter(), w = wr_init(buf, sizeof buf);
        assert_int_equal(cr_pssh_pro_write(&c, &cases[i].pr), cases[i].rc);
        assert_int_equal(cr_pssh_playready_write(&w, &cases[i].pr), cases[i].rc);
        assert_int_equal(w.err, cases[i].rc);
        assert_non_null(strstr(logbuf, cases[i].log));
    }

    /* more KIDs than a record's 16-bit length can hold: 600 x 110 bytes */
    enum { MANY = 600 };
    static uint8_t many[MANY][16];
    static const uint8_t *pmany[MANY];
    for (int i = 0; i < MANY; i++) {
        many[i][0] = (uint8_t)i, many[i][1] = (uint8_t)(i >> 8);
        pmany[i] = many[i];
    }
    cr_pssh_playready_t big = { .kids = pmany, .nkids = MANY,
                                .scheme = FOURCC('c', 'b', 'c', 's') };
    wr_t c = wr_counter();
    assert_int_equal(cr_pssh_pro_write(&c, &big), -EINVAL);
    assert_non_null(strstr(logbuf, "more than a PRO record holds (65535)"));
    big.nkids = 500;                                /* 55000 bytes: fits */
    c = wr_counter();
    assert_int_equal(cr_pssh_pro_write(&c, &big), 0);
}

/* One KID (6e5a1d26-2757-47d7-8046-eaa5d1d34b5a) and its key (key_hex), and the
 * PlayReady inputs for them in cenc; k must outlive what points into it. */
typedef struct {
    uint8_t kid[16], key[16];
    const uint8_t *kids[1], *keys[1];
    cr_pssh_playready_t pr;
} one_key_t;

static void one_key(one_key_t *k, const char *key_hex)
{
    uuid("6e5a1d26-2757-47d7-8046-eaa5d1d34b5a", k->kid);
    unhex(key_hex, k->key, 16);
    k->kids[0] = k->kid;
    k->keys[0] = k->key;
    k->pr = (cr_pssh_playready_t){ .kids = k->kids, .nkids = 1, .keys = k->keys,
                                   .scheme = FOURCC('c', 'e', 'n', 'c') };
}

/* Writer `which` of the four: PRO, PlayReady pssh, Widevine pssh, common pssh. */
static int write_which(int which, wr_t *w, const cr_pssh_playready_t *pr,
                       const cr_pssh_widevine_t *wv, const uint8_t *const *kids)
{
    return which == 0 ? cr_pssh_pro_write(w, pr)
         : which == 1 ? cr_pssh_playready_write(w, pr)
         : which == 2 ? cr_pssh_widevine_write(w, wv)
                      : cr_pssh_common_write(w, kids, 1);
}

/* Every writer into every too-short buffer: -ENOSPC, sticky, nothing written past cap
 * (ASan), and the same bytes as the counting pass said once the buffer is big enough. */
static void test_short_buffers(void **state)
{
    (void)state;
    one_key_t k;
    one_key(&k, "000102030405060708090a0b0c0d0e0f");
    cr_pssh_playready_t pr = k.pr;
    pr.la_url = "https://x/";
    cr_pssh_widevine_t wv = { .kids = k.kids, .nkids = 1, .scheme = FOURCC('c', 'b', 'c', 's') };

    for (int which = 0; which < 4; which++) {
        wr_t c = wr_counter();
        assert_int_equal(write_which(which, &c, &pr, &wv, k.kids), 0);
        for (size_t cap = 0; cap < c.pos; cap++) {
            uint8_t *buf = malloc(cap ? cap : 1);
            wr_t w = wr_init(buf, cap);
            assert_int_equal(write_which(which, &w, &pr, &wv, k.kids), -ENOSPC);
            assert_int_equal(w.err, -ENOSPC);
            free(buf);
        }
    }
}

/* The key must not show up in what is written nor in any log line. */
static void test_key_stays_secret(void **state)
{
    (void)state;
    one_key_t k;
    one_key(&k, "1ab45440532c439994dc5c5ad9584bac");
    cr_pssh_playready_t pr = k.pr;
    pr.la_url = "https://x/\xff";
    size_t len;

    logbuf[0] = '\0';
    wr_t c = wr_counter();
    assert_int_equal(cr_pssh_pro_write(&c, &pr), -EINVAL);
    pr.la_url = NULL;
    pr.scheme = FOURCC('z', 'z', 'z', 'z');
    assert_int_equal(cr_pssh_pro_write(&c, &pr), -ENOTSUP);
    pr.scheme = FOURCC('c', 'e', 'n', 'c');
    uint8_t *pro = run_pr(cr_pssh_playready_write, &pr, &len);
    assert_null(memmem(pro, len, k.key, 16));
    for (const char *p = logbuf; *p; p++)
        assert_true(strncasecmp(p, "1ab45440532c4399", 16) != 0 && strncmp(p, "GrRUQFMsQ5mU", 12));
    free(pro);
}

static void test_build_into_arena(void **state)
{
    (void)state;
    one_key_t k;
    one_key(&k, "000102030405060708090a0b0c0d0e0f");
    cr_pssh_playready_t pr = k.pr;
    cr_pssh_widevine_t wv = { .kids = k.kids, .nkids = 1, .scheme = FOURCC('c', 'e', 'n', 'c') };
    arena_t *a = arena_new();
    cr_pssh_blob_t b = { NULL, 0 };
    size_t len;

    assert_int_equal(cr_pssh_pro_build(a, &pr, &b), 0);
    uint8_t *want = run_pr(cr_pssh_pro_write, &pr, &len);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.p, want, len);
    free(want);

    assert_int_equal(cr_pssh_playready_build(a, &pr, &b), 0);
    assert_int_equal(b.len, len + 32);
    assert_int_equal(cr_pssh_widevine_build(a, &wv, &b), 0);
    assert_int_equal(b.len, 32 + 18 + 6);

    /* out of memory: *out untouched */
    cr_pssh_blob_t keep = b;
    arena_fail_after(a, 1);
    assert_int_equal(cr_pssh_pro_build(a, &pr, &b), -ENOMEM);
    assert_ptr_equal(b.p, keep.p);
    arena_fail_after(a, 0);

    /* a writer's error comes back as it is */
    pr.nkids = 0;
    assert_int_equal(cr_pssh_playready_build(a, &pr, &b), -EINVAL);
    assert_ptr_equal(b.p, keep.p);
    arena_free(a);
}

/* ---- manifest text -------------------------------------------------------------------- */

static void test_manifest_text(void **state)
{
    (void)state;
    static const uint8_t bytes[] = { 0x00, 0x01, 0x02, 0xfb, 0xff };
    cr_pssh_blob_t b = { bytes, sizeof bytes };
    char buf[128];
    wr_t w;

    w = wr_init(buf, sizeof buf);
    cr_pssh_base64(&w, &b);
    assert_int_equal(w.pos, 8);
    assert_memory_equal(buf, "AAEC+/8=", 8);

    static const char wv[] = "data:text/plain;base64,AAEC+/8=";
    w = wr_init(buf, sizeof buf);
    cr_pssh_hls_widevine_uri(&w, &b);
    assert_int_equal(w.pos, strlen(wv));
    assert_memory_equal(buf, wv, strlen(wv));

    static const char pr[] = "data:text/plain;charset=UTF-16;base64,AAEC+/8=";
    w = wr_init(buf, sizeof buf);
    wr_t c = wr_counter();
    cr_pssh_hls_playready_uri(&w, &b);
    cr_pssh_hls_playready_uri(&c, &b);
    assert_int_equal(w.pos, strlen(pr));
    assert_int_equal(c.pos, strlen(pr));
    assert_memory_equal(buf, pr, strlen(pr));

    assert_string_equal(CR_PSSH_WIDEVINE_KEYFORMAT,
                        "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed");
    assert_string_equal(CR_PSSH_PLAYREADY_KEYFORMAT, "com.microsoft.playready");
    char s[CR_UUID_STR_SIZE];
    assert_string_equal(CR_PSSH_PLAYREADY_URN + 9, cr_uuid_format(cr_pssh_playready_id, s));
    assert_string_equal(CR_PSSH_WIDEVINE_URN + 9, cr_uuid_format(cr_pssh_widevine_id, s));
    assert_string_equal(cr_uuid_format(cr_pssh_common_id, s),
                        "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_uuid_parse_and_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uuid_parse_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guid_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pssh_v0_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pssh_v1_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_common_pssh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_widevine_protobuf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_widevine_published_box, setup, teardown),
        cmocka_unit_test_setup_teardown(test_widevine_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_playready_40_microsoft_pro, setup, teardown),
        cmocka_unit_test_setup_teardown(test_playready_42_microsoft_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_playready_43_microsoft_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pro_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_playready_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_playready_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_stays_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_into_arena, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_text, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
