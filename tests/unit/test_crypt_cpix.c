/*
 * crypt/cpix.c: the CPIX reader and the key choice per track.
 *
 * The documents are written by hand after the CPIX XSD (ams-facts §6; pycpix's cpix.xsd).
 * Independent values: the keys come from `openssl rand -hex 16` and their base64 from
 * `xxd -r -p | openssl base64`; the PSSH boxes, PRO and base64 payloads were made with
 * Python's struct/base64 modules (not with this code), the Widevine PSSH data checked
 * with `protoc --decode_raw` (2: the KID, 9: 0x63656e63 'cenc').
 */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../crypt/cpix.c"
#include "../../pack/text.h"

#define FILE_NAME "keys/movie.cpix.xml"

/* ---- keys ------------------------------------------------------------------------------- */

#define KID_ALL "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a"
#define HEX_ALL "c51bf0e21ae96a5976a2ad28254d9417"
#define B64_ALL "xRvw4hrpall2oq0oJU2UFw=="
#define KID_AUD "2b1a9e4c-55aa-4b8f-9c4c-0c1c4f8e2d11"
#define HEX_AUD "312477fffdde4f1fe5e73ca38a2409d7"
#define B64_AUD "MSR3//3eTx/l5zyjiiQJ1w=="
#define KID_SD "0dc3ec4f-7683-548b-81e7-3c64e582e136"
#define HEX_SD "e546eb1471b79b25b0711f40cf6a3fb3"
#define B64_SD "5UbrFHG3myWwcR9Az2o/sw=="
#define KID_HD "9eb4050d-e44b-4802-932e-27d75083e266"
#define HEX_HD "894439973aaf5469171e615cd5dbd17c"
#define B64_HD "iUQ5lzqvVGkXHmFc1dvRfA=="
#define B64_15 "xRvw4hrpall2oq0oJU2U"                               /* first 15 bytes of ALL */
#define B64_32 "xRvw4hrpall2oq0oJU2UF8Ub8OIa6WpZdqKtKCVNlBc="       /* ALL twice */

#define SYS_WV "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
#define SYS_PR "9a04f079-9840-4286-ab92-e65be0885f95"
#define SYS_FP "94CE86FB-07FF-4F43-ADB8-93D2FA968CA2"                /* upper case on purpose */
#define SYS_CK "e2719d58-a985-b3c9-781a-b030af78d30e"
#define SYS_MARLIN "5e629af5-38da-4063-8977-97ffbd9902d4"          /* real, but not ours */

/* Everything a log line must never contain: each key in hex (both cases), its base64, and
 * the first 16 base64 characters (12 key bytes). */
static const char *const secrets[] = {
    HEX_ALL, HEX_AUD, HEX_SD, HEX_HD, B64_ALL, B64_AUD, B64_SD, B64_HD, B64_32,
    "xRvw4hrpall2oq0o", "MSR3//3eTx/l5zyj", "5UbrFHG3myWwcR9A", "iUQ5lzqvVGkXHmFc",
};

/* ---- log capture ------------------------------------------------------------------------ */

static int log_lines;           /* error and warning lines since log_reset() */
static char log_text[16][1100];
static int log_leaks;           /* lines that showed a secret, never reset */

static int has_secret(const char *msg)
{
    char upper[1100];
    size_t i;

    for (i = 0; msg[i] && i < sizeof upper - 1; i++)
        upper[i] = (char)(msg[i] >= 'a' && msg[i] <= 'z' ? msg[i] - 32 : msg[i]);
    upper[i] = '\0';
    for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++) {
        char s[64];
        snprintf(s, sizeof s, "%s", secrets[k]);
        if (strstr(msg, s))
            return 1;
        if (k < 4) {            /* the hex also in upper case */
            for (char *c = s; *c; c++)
                *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
            if (strstr(upper, s))
                return 1;
        }
    }
    return 0;
}

static void sink(int level, const char *func, const char *msg, void *ctx)
{
    (void)func;
    (void)ctx;
    if (has_secret(msg)) {
        log_leaks++;
        fprintf(stderr, "SECRET IN LOG LINE: %s\n", msg);
    }
    if (level <= PK_LOG_WARN) {
        if (log_lines < 16)
            snprintf(log_text[log_lines], sizeof log_text[0], "%s", msg);
        log_lines++;
    }
}

static void log_reset(void)
{
    log_lines = 0;
}

/* The explicit check: no log line so far named a key. */
static void assert_no_secret_logged(void)
{
    assert_int_equal(log_leaks, 0);
}

static int setup(void **state)
{
    pk_log_set_sink(sink, NULL);
    log_reset();
    *state = arena_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    arena_free(*state);
    pk_log_set_sink(NULL, NULL);
    assert_no_secret_logged();
    return 0;
}

static int parse(void **state, const char *xml, cr_cpix_t **out)
{
    return cr_cpix_parse(xml, strlen(xml), FILE_NAME, *state, out);
}

static cr_cpix_t *parse_ok(void **state, const char *xml)
{
    cr_cpix_t *c = NULL;

    log_reset();
    assert_int_equal(parse(state, xml, &c), 0);
    if (log_lines)
        fail_msg("unexpected log line: %s", log_text[0]);
    assert_non_null(c);
    return c;
}

/* Log line i starts with "FILE:LINE: " (line 0: no line part) and contains `what`. */
static void expect_line(int i, unsigned line, const char *what)
{
    char prefix[96];

    if (line)
        snprintf(prefix, sizeof prefix, FILE_NAME ":%u: ", line);
    else
        snprintf(prefix, sizeof prefix, FILE_NAME ": ");
    assert_true(i < log_lines);
    if (strncmp(log_text[i], prefix, strlen(prefix)) != 0 || !strstr(log_text[i], what))
        fail_msg("log line \"%s\": want prefix \"%s\" and \"%s\"", log_text[i], prefix, what);
}

/* Parsing fails with rc, logging exactly one line at `line` that contains `what`. */
static void expect_fail(void **state, const char *xml, int rc, unsigned line, const char *what)
{
    cr_cpix_t *c = NULL;

    log_reset();
    assert_int_equal(parse(state, xml, &c), rc);
    assert_null(c);
    assert_int_equal(log_lines, 1);
    expect_line(0, line, what);
    assert_no_secret_logged();
}

static int hex_val(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static uint8_t hexb(const char *h, int i)
{
    return (uint8_t)(hex_val(h[2 * i]) << 4 | hex_val(h[2 * i + 1]));
}

static void expect_bytes(const uint8_t *got, const char *hex)
{
    for (int i = 0; i < (int)strlen(hex) / 2; i++)
        if (got[i] != hexb(hex, i))
            fail_msg("byte %d: %02x, want %c%c", i, got[i], hex[2 * i], hex[2 * i + 1]);
}

static void expect_uuid(const uint8_t *got, const char *uuid)
{
    char s[CR_UUID_STR_SIZE];
    assert_string_equal(cr_uuid_format(got, s), uuid);
}

/* key_for returns the key with this KID. */
static void expect_key(const cr_cpix_t *c, pk_track_type_t type, uint32_t w, uint32_t h,
                       uint32_t ch, uint32_t br, const char *kid)
{
    const cr_key_t *k = NULL;

    log_reset();
    assert_int_equal(cr_cpix_key_for(c, type, w, h, ch, br, &k), 0);
    assert_non_null(k);
    expect_uuid(k->kid, kid);
    assert_int_equal(log_lines, 0);
}

/* key_for fails with rc and one log line containing `what`. */
static void expect_no_key(const cr_cpix_t *c, pk_track_type_t type, uint32_t w, uint32_t h,
                          uint32_t ch, uint32_t br, int rc, const char *what)
{
    const cr_key_t *k = NULL;

    log_reset();
    assert_int_equal(cr_cpix_key_for(c, type, w, h, ch, br, &k), rc);
    assert_null(k);
    assert_int_equal(log_lines, 1);
    if (!strstr(log_text[0], what))
        fail_msg("log line \"%s\": want \"%s\"", log_text[0], what);
    assert_no_secret_logged();
}

/* ---- document pieces (one element per line, so lines can be counted) --------------------- */

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define NS " xmlns:cpix=\"urn:dashif:org:cpix\" xmlns:pskc=\"urn:ietf:params:xml:ns:keyprov:pskc\""
#define DOC(body) HEAD "<cpix:CPIX" NS " version=\"2.3\">\n" body "</cpix:CPIX>\n"
#define KEYS(keys) "<cpix:ContentKeyList>\n" keys "</cpix:ContentKeyList>\n"
#define KEY(kid, b64) KEY_A(kid, "", b64)
#define KEY_A(kid, attrs, b64) \
    "<cpix:ContentKey kid=\"" kid "\"" attrs "><cpix:Data><pskc:Secret><pskc:PlainValue>" b64 \
    "</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>\n"
#define DRMS(d) "<cpix:DRMSystemList>\n" d "</cpix:DRMSystemList>\n"
#define DRM(kid, sys, inner) "<cpix:DRMSystem kid=\"" kid "\" systemId=\"" sys "\">" inner \
    "</cpix:DRMSystem>\n"
#define RULES(r) "<cpix:ContentKeyUsageRuleList>\n" r "</cpix:ContentKeyUsageRuleList>\n"
#define RULE(kid, filters) "<cpix:ContentKeyUsageRule kid=\"" kid "\">" filters \
    "</cpix:ContentKeyUsageRule>\n"

/* ---- base64, UUID ----------------------------------------------------------------------- */

static void test_base64_rfc4648_vectors(void **state)
{
    /* RFC 4648 §10 */
    static const struct { const char *b64, *raw; } v[] = {
        { "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" },
        { "Zm9vYg==", "foob" }, { "Zm9vYmE=", "fooba" }, { "Zm9vYmFy", "foobar" },
        { " Zm9v\n\tYmFy \r\n", "foobar" },             /* xs:base64Binary whitespace */
    };
    static const char *const bad[] = {
        "Zg=", "Zg", "Z===", "=Zg=", "Zm9v=", "Zm=v", "Zg==Zg==", "Zh==", "Zm9=",
        "Zm9v-_==", "Zm9v YmF", "Zm9v\x01YmFy", "Zm9v\xc3\xa9YmFy",
    };
    uint8_t out[16];
    (void)state;

    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ssize_t n = b64_decode(v[i].b64, strlen(v[i].b64), out, sizeof out);
        assert_int_equal(n, strlen(v[i].raw));
        assert_memory_equal(out, v[i].raw, (size_t)n);
        assert_int_equal(b64_decode(v[i].b64, strlen(v[i].b64), NULL, 0), n);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (b64_decode(bad[i], strlen(bad[i]), out, sizeof out) != -1)
            fail_msg("\"%s\" decoded", bad[i]);
    assert_int_equal(b64_decode("Zm9vYmFy", 8, out, 5), -1);      /* does not fit */
    assert_int_equal(b64_decode(B64_ALL, strlen(B64_ALL), out, sizeof out), 16);
    expect_bytes(out, HEX_ALL);
}

/* The branch-free character decoder against the RFC 4648 alphabet, for all 256 bytes. */
static void test_base64_every_byte(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (void)state;

    for (int c = 0; c < 256; c++) {
        const char *at = c ? strchr(alphabet, c) : NULL;
        assert_int_equal(b64_val((unsigned char)c), at ? at - alphabet : -1);
    }
}

static void test_uuid(void **state)
{
    uint8_t id[16];
    char s[CR_UUID_STR_SIZE];
    (void)state;

    assert_int_equal(cr_uuid_parse(SYS_FP, id), 0);
    assert_string_equal(cr_uuid_format(id, s), "94ce86fb-07ff-4f43-adb8-93d2fa968ca2");
    assert_memory_equal(id, cr_drm_system_id(CR_DRM_FAIRPLAY), 16);
    assert_int_equal(cr_uuid_parse("94ce86fb07ff4f43adb893d2fa968ca2", id), -EINVAL);
    assert_int_equal(cr_uuid_parse("94ce86fb-07ff-4f43-adb8-93d2fa968ca", id), -EINVAL);
    assert_int_equal(cr_uuid_parse("94ce86fb-07ff-4f43-adb8-93d2fa968ca2 ", id), -EINVAL);
    assert_int_equal(cr_uuid_parse("{4ce86fb-07ff-4f43-adb8-93d2fa968ca2}", id), -EINVAL);
    assert_int_equal(cr_uuid_parse("94ce86fb-07ff-4f43-adb8_93d2fa968ca2", id), -EINVAL);
    assert_int_equal(cr_uuid_parse("94ce86fb-07ff-4f43-adb8-93d2fa968cg2", id), -EINVAL);
    assert_int_equal(parse_u32(" +42 ", &(uint32_t){0}), 0);
    assert_int_equal(parse_u32("4294967296", &(uint32_t){0}), -1);
    assert_int_equal(parse_u32("-1", &(uint32_t){0}), -1);
    assert_int_equal(parse_u32("", &(uint32_t){0}), -1);
    assert_int_equal(parse_u32("1e3", &(uint32_t){0}), -1);
}

/* ---- good documents --------------------------------------------------------------------- */

/* CPIX 2.3, one key for everything; whitespace inside the base64 as pretty-printers leave it */
static const char doc_one_key[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<cpix:CPIX xmlns:cpix=\"urn:dashif:org:cpix\"\n"
    "           xmlns:pskc=\"urn:ietf:params:xml:ns:keyprov:pskc\"\n"
    "           contentId=\"bigbuckbunny\" version=\"2.3\">\n"
    "  <cpix:ContentKeyList>\n"
    "    <cpix:ContentKey kid=\"" KID_ALL "\" explicitIV=\"AAECAwQFBgcICQoLDA0ODw==\"\n"
    "                     commonEncryptionScheme=\"cbcs\">\n"
    "      <cpix:Data>\n"
    "        <pskc:Secret>\n"
    "          <pskc:PlainValue>\n"
    "            xRvw4hrpall2\n"
    "            oq0oJU2UFw==\n"
    "          </pskc:PlainValue>\n"
    "        </pskc:Secret>\n"
    "      </cpix:Data>\n"
    "    </cpix:ContentKey>\n"
    "  </cpix:ContentKeyList>\n"
    "  <!-- no DRMSystemList, no ContentKeyUsageRuleList -->\n"
    "</cpix:CPIX>\n";

static void test_one_key_for_everything(void **state)
{
    cr_cpix_t *c = parse_ok(state, doc_one_key);
    const cr_key_t *k = &c->keys[0];

    assert_string_equal(c->name, FILE_NAME);
    assert_string_equal(c->content_id, "bigbuckbunny");
    assert_string_equal(c->version, "2.3");
    assert_int_equal(c->key_count, 1);
    assert_int_equal(c->drm_count, 0);
    assert_int_equal(c->rule_count, 0);
    expect_uuid(k->kid, KID_ALL);
    expect_bytes(k->key, HEX_ALL);
    assert_true(k->has_iv);
    expect_bytes(k->iv, "000102030405060708090a0b0c0d0e0f");
    assert_int_equal(k->scheme, FOURCC('c', 'b', 'c', 's'));
    assert_int_equal(k->line, 7);        /* the line where the start tag ends */
    assert_ptr_equal(cr_cpix_key(c, k->kid), k);

    expect_key(c, PK_TRACK_VIDEO, 320, 180, 0, 400000, KID_ALL);
    expect_key(c, PK_TRACK_VIDEO, 1920, 1080, 0, 6000000, KID_ALL);
    expect_key(c, PK_TRACK_AUDIO, 0, 0, 2, 128000, KID_ALL);
    expect_key(c, PK_TRACK_TEXT, 0, 0, 0, 1000, KID_ALL);
}

/* Separate AUDIO, SD and HD keys: the SPEKE v2 "preset" layout (SD up to 768x576) */
static const char doc_audio_sd_hd[] = DOC(
    KEYS(KEY(KID_AUD, B64_AUD) KEY(KID_SD, B64_SD) KEY(KID_HD, B64_HD))
    RULES(
        "<cpix:ContentKeyUsageRule kid=\"" KID_AUD "\" intendedTrackType=\"AUDIO\">"
        "<cpix:AudioFilter maxChannels=\"2\"/></cpix:ContentKeyUsageRule>\n"
        "<cpix:ContentKeyUsageRule kid=\"" KID_SD "\" intendedTrackType=\"SD\">"
        "<cpix:VideoFilter maxPixels=\"442368\"/></cpix:ContentKeyUsageRule>\n"
        "<cpix:ContentKeyUsageRule kid=\"" KID_HD "\" intendedTrackType=\"HD\">"
        "<cpix:VideoFilter minPixels=\"442369\" maxPixels=\"2073600\"/>"
        "<cpix:BitrateFilter minBitrate=\"1000000\"/></cpix:ContentKeyUsageRule>\n"));

static void test_audio_sd_hd_keys(void **state)
{
    cr_cpix_t *c = parse_ok(state, doc_audio_sd_hd);
    const cr_rule_t *hd = &c->rules[2];

    assert_int_equal(c->key_count, 3);
    expect_bytes(c->keys[0].key, HEX_AUD);
    expect_bytes(c->keys[1].key, HEX_SD);
    expect_bytes(c->keys[2].key, HEX_HD);
    assert_int_equal(c->keys[1].scheme, 0);
    assert_false(c->keys[1].has_iv);
    assert_int_equal(c->rule_count, 3);
    assert_string_equal(c->rules[0].intended_track_type, "AUDIO");
    assert_int_equal(c->rules[0].audio_count, 1);
    assert_int_equal(c->rules[0].audio[0].min, 0);
    assert_int_equal(c->rules[0].audio[0].max, 2);
    assert_int_equal(c->rules[1].video[0].max, 442368);
    assert_int_equal(hd->line, 11);
    assert_int_equal(hd->video_count, 1);
    assert_int_equal(hd->video[0].min, 442369);
    assert_int_equal(hd->video[0].max, 2073600);
    assert_int_equal(hd->bitrate_count, 1);
    assert_int_equal(hd->bitrate[0].min, 1000000);
    assert_int_equal(hd->bitrate[0].max, UINT32_MAX);
    assert_null(hd->unusable);

    expect_key(c, PK_TRACK_VIDEO, 320, 180, 0, 400000, KID_SD);
    expect_key(c, PK_TRACK_VIDEO, 768, 576, 0, 1500000, KID_SD);        /* maxPixels included */
    expect_key(c, PK_TRACK_VIDEO, 1280, 720, 0, 3000000, KID_HD);
    expect_key(c, PK_TRACK_VIDEO, 1920, 1080, 0, 6000000, KID_HD);      /* maxPixels included */
    expect_key(c, PK_TRACK_AUDIO, 0, 0, 2, 128000, KID_AUD);
    expect_key(c, PK_TRACK_AUDIO, 0, 0, 1, 64000, KID_AUD);
    /* usage rules that leave a track without a key */
    expect_no_key(c, PK_TRACK_VIDEO, 1280, 720, 0, 500000, -ENOKEY,
                  "no content key for video 1280x720 at 500000 b/s");
    expect_no_key(c, PK_TRACK_VIDEO, 3840, 2160, 0, 15000000, -ENOKEY, "no ContentKeyUsageRule");
    expect_no_key(c, PK_TRACK_AUDIO, 0, 0, 6, 384000, -ENOKEY, "audio with 6 channels");
    expect_no_key(c, PK_TRACK_TEXT, 0, 0, 0, 1000, -ENOKEY, "text track");
}

/* AWS SPEKE v2 "ALL": one rule with an AudioFilter and a VideoFilter covers both */
static void test_speke_all_rule(void **state)
{
    cr_cpix_t *c = parse_ok(state, DOC(
        KEYS(KEY(KID_ALL, B64_ALL))
        RULES("<cpix:ContentKeyUsageRule kid=\"" KID_ALL "\" intendedTrackType=\"ALL\">"
              "<cpix:VideoFilter/><cpix:AudioFilter/></cpix:ContentKeyUsageRule>\n")));

    expect_key(c, PK_TRACK_VIDEO, 3840, 2160, 0, 20000000, KID_ALL);
    expect_key(c, PK_TRACK_AUDIO, 0, 0, 8, 768000, KID_ALL);
    expect_no_key(c, PK_TRACK_TEXT, 0, 0, 0, 1000, -ENOKEY, "no ContentKeyUsageRule matches");
}

#define WV_PSSH "AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSEG5aHSYnV0fXgEbqpdHTS1pI49yVmwY="
#define PRO \
    "PgEAAAEAAQA0ATwAVwBSAE0ASABFAEEARABFAFIAIAB4AG0AbABuAHMAPQAiAGgAdAB0AHAAOgAvAC8AcwBjAGgA" \
    "ZQBtAGEAcwAuAG0AaQBjAHIAbwBzAG8AZgB0AC4AYwBvAG0ALwBEAFIATQAvADIAMAAwADcALwAwADMALwBQAGwA" \
    "YQB5AFIAZQBhAGQAeQBIAGUAYQBkAGUAcgAiACAAdgBlAHIAcwBpAG8AbgA9ACIANAAuADAALgAwAC4AMAAiAD4A" \
    "PABEAEEAVABBAD4APABLAEkARAA+AEoAaAAxAGEAYgBsAGQAWAAxADAAZQBBAFIAdQBxAGwAMABkAE4ATABXAGcA" \
    "PQA9ADwALwBLAEkARAA+ADwALwBEAEEAVABBAD4APAAvAFcAUgBNAEgARQBBAEQARQBSAD4A"
#define PR_PSSH \
    "AAABcnBzc2gBAAAAmgTweZhAQoarkuZb4IhflQAAAAFuWh0mJ1dH14BG6qXR00taAAABPj4BAAABAAEANAE8AFcA" \
    "UgBNAEgARQBBAEQARQBSACAAeABtAGwAbgBzAD0AIgBoAHQAdABwADoALwAvAHMAYwBoAGUAbQBhAHMALgBtAGkA" \
    "YwByAG8AcwBvAGYAdAAuAGMAbwBtAC8ARABSAE0ALwAyADAAMAA3AC8AMAAzAC8AUABsAGEAeQBSAGUAYQBkAHkA" \
    "SABlAGEAZABlAHIAIgAgAHYAZQByAHMAaQBvAG4APQAiADQALgAwAC4AMAAuADAAIgA+ADwARABBAFQAQQA+ADwA" \
    "SwBJAEQAPgBKAGgAMQBhAGIAbABkAFgAMQAwAGUAQQBSAHUAcQBsADAAZABOAEwAVwBnAD0APQA8AC8ASwBJAEQA" \
    "PgA8AC8ARABBAFQAQQA+ADwALwBXAFIATQBIAEUAQQBEAEUAUgA+AA=="
/* base64 of "<mspr:pro>" PRO "</mspr:pro>" */
#define CPD_PR \
    "PG1zcHI6cHJvPlBnRUFBQUVBQVFBMEFUd0FWd0JTQUUwQVNBQkZBRUVBUkFCRkFGSUFJQUI0QUcwQWJBQnVBSE1B" \
    "UFFBaUFHZ0FkQUIwQUhBQU9nQXZBQzhBY3dCakFHZ0FaUUJ0QUdFQWN3QXVBRzBBYVFCakFISUFid0J6QUc4QVpn" \
    "QjBBQzRBWXdCdkFHMEFMd0JFQUZJQVRRQXZBRElBTUFBd0FEY0FMd0F3QURNQUx3QlFBR3dBWVFCNUFGSUFaUUJo" \
    "QUdRQWVRQklBR1VBWVFCa0FHVUFjZ0FpQUNBQWRnQmxBSElBY3dCcEFHOEFiZ0E5QUNJQU5BQXVBREFBTGdBd0FD" \
    "NEFNQUFpQUQ0QVBBQkVBRUVBVkFCQkFENEFQQUJMQUVrQVJBQStBRW9BYUFBeEFHRUFZZ0JzQUdRQVdBQXhBREFB" \
    "WlFCQkFGSUFkUUJ4QUd3QU1BQmtBRTRBVEFCWEFHY0FQUUE5QUR3QUx3QkxBRWtBUkFBK0FEd0FMd0JFQUVFQVZB" \
    "QkJBRDRBUEFBdkFGY0FVZ0JOQUVnQVJRQkJBRVFBUlFCU0FENEE8L21zcHI6cHJvPg=="
/* base64 of "<dashif:laurl>https://keys.example/clearkey?kid=6e5a1d26</dashif:laurl>" */
#define CPD_CK "PGRhc2hpZjpsYXVybD5odHRwczovL2tleXMuZXhhbXBsZS9jbGVhcmtleT9raWQ9NmU1YTFkMjY8L2Rh" \
    "c2hpZjpsYXVybD4="
#define HLS_MEDIA_TEXT \
    "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://6e5a1d26275747d78046eaa5d1d34b5a\"," \
    "KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\""
#define HLS_MEDIA "I0VYVC1YLUtFWTpNRVRIT0Q9U0FNUExFLUFFUyxVUkk9InNrZDovLzZlNWExZDI2Mjc1NzQ3ZDc4" \
    "MDQ2ZWFhNWQxZDM0YjVhIixLRVlGT1JNQVQ9ImNvbS5hcHBsZS5zdHJlYW1pbmdrZXlkZWxpdmVyeSIsS0VZRk9S" \
    "TUFUVkVSU0lPTlM9IjEiCg=="
#define HLS_MASTER "I0VYVC1YLVNFU1NJT04tS0VZOk1FVEhPRD1TQU1QTEUtQUVTLFVSST0ic2tkOi8vNmU1YTFkMjYy" \
    "NzU3NDdkNzgwNDZlYWE1ZDFkMzRiNWEiLEtFWUZPUk1BVD0iY29tLmFwcGxlLnN0cmVhbWluZ2tleWRlbGl2ZXJ5" \
    "IixLRVlGT1JNQVRWRVJTSU9OUz0iMSIK"
/* base64 of "https://keys.example/aes?kid=6e5a1d26-2757-47d7-8046-eaa5d1d34b5a" */
#define URI_B64 "aHR0cHM6Ly9rZXlzLmV4YW1wbGUvYWVzP2tpZD02ZTVhMWQyNi0yNzU3LTQ3ZDctODA0Ni1lYWE1" \
    "ZDFkMzRiNWE="

static const char doc_drm[] =
    HEAD
    "<cpix:CPIX" NS " contentId=\"drm\" version=\"2.3\">\n"
    KEYS(KEY_A(KID_ALL, " commonEncryptionScheme=\"cenc\"", B64_ALL))
    "<cpix:DRMSystemList>\n"                                                        /* 6 */
    "<cpix:DRMSystem kid=\"" KID_ALL "\" systemId=\"" SYS_WV "\" name=\"Widevine\">\n"
    "  <cpix:PSSH>" WV_PSSH "</cpix:PSSH>\n"
    "</cpix:DRMSystem>\n"
    "<cpix:DRMSystem kid=\"" KID_ALL "\" systemId=\"" SYS_PR "\">\n"                 /* 10 */
    "  <cpix:PSSH>" PR_PSSH "</cpix:PSSH>\n"
    "  <cpix:ContentProtectionData>" CPD_PR "</cpix:ContentProtectionData>\n"
    "  <cpix:SmoothStreamingProtectionHeaderData>\n    " PRO "\n"
    "  </cpix:SmoothStreamingProtectionHeaderData>\n"
    "</cpix:DRMSystem>\n"
    "<cpix:DRMSystem kid=\"" KID_ALL "\" systemId=\"" SYS_FP "\">\n"                 /* 17 */
    "  <cpix:HLSSignalingData playlist=\"media\">" HLS_MEDIA "</cpix:HLSSignalingData>\n"
    "  <cpix:HLSSignalingData playlist=\"master\">" HLS_MASTER "</cpix:HLSSignalingData>\n"
    "  <cpix:HDSSignalingData>AAAA</cpix:HDSSignalingData>\n"
    "  <x:Proprietary xmlns:x=\"urn:example\">ignored</x:Proprietary>\n"
    "</cpix:DRMSystem>\n"
    "<cpix:DRMSystem kid=\"" KID_ALL "\" systemId=\"" SYS_CK "\">\n"                 /* 23 */
    "  <cpix:ContentProtectionData>" CPD_CK "</cpix:ContentProtectionData>\n"
    "</cpix:DRMSystem>\n"
    "</cpix:DRMSystemList>\n"
    "</cpix:CPIX>\n";

static void test_drm_systems(void **state)
{
    cr_cpix_t *c = parse_ok(state, doc_drm);
    const cr_drm_system_t *wv, *pr, *fp, *ck;
    const uint8_t *kid = c->keys[0].kid;

    assert_int_equal(c->keys[0].scheme, FOURCC('c', 'e', 'n', 'c'));
    assert_int_equal(c->drm_count, 4);
    wv = cr_cpix_drm(c, kid, CR_DRM_WIDEVINE);
    pr = cr_cpix_drm(c, kid, CR_DRM_PLAYREADY);
    fp = cr_cpix_drm(c, kid, CR_DRM_FAIRPLAY);
    ck = cr_cpix_drm(c, kid, CR_DRM_CLEARKEY);
    assert_ptr_equal(wv, &c->drm[0]);
    assert_ptr_equal(pr, &c->drm[1]);
    assert_ptr_equal(fp, &c->drm[2]);
    assert_ptr_equal(ck, &c->drm[3]);
    assert_null(cr_cpix_drm(c, kid, CR_DRM_W3C_COMMON));

    /* Widevine: a pssh v0 box, 56 bytes; data = protobuf key_id + protection_scheme 'cenc' */
    assert_int_equal(wv->line, 7);
    assert_string_equal(wv->name, "Widevine");
    assert_int_equal(wv->pssh_size, 56);
    expect_bytes(wv->pssh, "0000003870737368" "00000000" "edef8ba979d64acea3c827dcd51d21ed"
                 "00000018" "1210" "6e5a1d26275747d78046eaa5d1d34b5a" "48e3dc959b06");
    assert_null(wv->content_protection);
    assert_int_equal(wv->hls_count, 0);
    assert_null(wv->smooth_header);
    assert_null(wv->uri_ext_x_key);

    /* PlayReady: pssh v1 with the KID, the PRO in ContentProtectionData and for Smooth */
    assert_null(pr->name);
    assert_int_equal(pr->pssh_size, 0x172);
    expect_bytes(pr->pssh, "0000017270737368" "01000000" "9a04f07998404286ab92e65be0885f95"
                 "00000001" "6e5a1d26275747d78046eaa5d1d34b5a" "0000013e" "3e010000");
    assert_string_equal(pr->content_protection, "<mspr:pro>" PRO "</mspr:pro>");
    assert_string_equal(pr->smooth_header, PRO);

    /* FairPlay: HLS only, both playlists, trailing newline removed */
    assert_null(fp->pssh);
    assert_int_equal(fp->hls_count, 2);
    assert_int_equal(fp->hls[0].playlist, CR_HLS_MEDIA);
    assert_string_equal(fp->hls[0].text, HLS_MEDIA_TEXT);
    assert_int_equal(fp->hls[1].playlist, CR_HLS_MASTER);
    assert_string_equal(fp->hls[1].text, "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,"
                        "URI=\"skd://6e5a1d26275747d78046eaa5d1d34b5a\","
                        "KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"");

    assert_string_equal(ck->content_protection,
                        "<dashif:laurl>https://keys.example/clearkey?kid=6e5a1d26</dashif:laurl>");
    assert_string_equal(cr_drm_name(ck->system), "ClearKey");
    assert_memory_equal(ck->system_id, cr_drm_system_id(CR_DRM_CLEARKEY), 16);
}

/* CPIX 2.2: no version attribute, default namespace (as pycpix writes), URIExtXKey,
 * HLSSignalingData without @playlist, one key by two rules */
static const char doc_22[] =
    HEAD
    "<CPIX xmlns=\"urn:dashif:org:cpix\" xmlns:pskc=\"urn:ietf:params:xml:ns:keyprov:pskc\""
    " contentId=\"old\">\n"
    "<ContentKeyList>\n"
    "<ContentKey kid=\"" KID_ALL "\" explicitIV=\"AAECAwQFBgcICQoLDA0ODw==\"><Data><pskc:Secret>"
    "<pskc:PlainValue>" B64_ALL "</pskc:PlainValue></pskc:Secret></Data></ContentKey>\n"
    "</ContentKeyList>\n"
    "<DRMSystemList>\n"
    "<DRMSystem kid=\"" KID_ALL "\" systemId=\"1077efec-c0b2-4d02-ace3-3c1e52e2fb4b\">"
    "<URIExtXKey>" URI_B64 "</URIExtXKey><HLSSignalingData>" HLS_MEDIA "</HLSSignalingData>"
    "</DRMSystem>\n"
    "</DRMSystemList>\n"
    "<ContentKeyUsageRuleList>\n"
    "<ContentKeyUsageRule kid=\"" KID_ALL "\"><VideoFilter/></ContentKeyUsageRule>\n"
    "<ContentKeyUsageRule kid=\"" KID_ALL "\"><AudioFilter/></ContentKeyUsageRule>\n"
    "</ContentKeyUsageRuleList>\n"
    "</CPIX>\n";

static void test_cpix_22(void **state)
{
    cr_cpix_t *c = parse_ok(state, doc_22);
    const cr_drm_system_t *d = &c->drm[0];

    assert_null(c->version);
    assert_string_equal(c->content_id, "old");
    expect_bytes(c->keys[0].key, HEX_ALL);
    assert_int_equal(d->system, CR_DRM_W3C_COMMON);
    assert_string_equal(d->uri_ext_x_key,
                        "https://keys.example/aes?kid=6e5a1d26-2757-47d7-8046-eaa5d1d34b5a");
    assert_int_equal(d->hls_count, 1);
    assert_int_equal(d->hls[0].playlist, CR_HLS_MEDIA);
    assert_string_equal(d->hls[0].text, HLS_MEDIA_TEXT);
    assert_int_equal(c->rule_count, 2);
    expect_key(c, PK_TRACK_VIDEO, 1280, 720, 0, 3000000, KID_ALL);
    expect_key(c, PK_TRACK_AUDIO, 0, 0, 2, 128000, KID_ALL);
    expect_no_key(c, PK_TRACK_TEXT, 0, 0, 0, 1000, -ENOKEY, "no ContentKeyUsageRule matches");
}

/* ---- usage rules: unusable, ambiguous, absent ---------------------------------------------- */

static void test_two_keys_without_rules(void **state)
{
    cr_cpix_t *c = parse_ok(state, DOC(KEYS(KEY(KID_SD, B64_SD) KEY(KID_HD, B64_HD))));

    expect_no_key(c, PK_TRACK_VIDEO, 1280, 720, 0, 3000000, -ENOKEY,
                  "2 ContentKeys and no ContentKeyUsageRule");
}

static void expect_unusable(void **state, const char *xml, unsigned line, const char *why)
{
    cr_cpix_t *c = parse_ok(state, xml);
    char want[160];

    assert_string_equal(c->rules[0].unusable, why);
    assert_null(c->rules[1].unusable);
    snprintf(want, sizeof want, "is unusable (%s)", why);
    /* no track gets a key, not even the one the usable rule names */
    expect_no_key(c, PK_TRACK_VIDEO, 1280, 720, 0, 3000000, -ENOKEY, want);
    expect_no_key(c, PK_TRACK_AUDIO, 0, 0, 2, 128000, -ENOKEY, want);
    expect_line(0, line, "ContentKeyUsageRule for KID " KID_HD);
}

static void test_unusable_rules(void **state)
{
#define UNUSABLE(filter) DOC( \
    KEYS(KEY(KID_AUD, B64_AUD) KEY(KID_HD, B64_HD)) \
    RULES(RULE(KID_HD, filter) RULE(KID_AUD, "<cpix:AudioFilter/>")))

    expect_unusable(state, DOC(
        KEYS(KEY(KID_AUD, B64_AUD) KEY(KID_HD, B64_HD))
        "<cpix:ContentKeyPeriodList><cpix:ContentKeyPeriod id=\"p1\" index=\"1\"/>"
        "</cpix:ContentKeyPeriodList>\n"
        RULES(RULE(KID_HD, "<cpix:KeyPeriodFilter periodId=\"p1\"/><cpix:VideoFilter/>")
              RULE(KID_AUD, "<cpix:AudioFilter/>"))), 9, "KeyPeriodFilter is not supported");
    expect_unusable(state, UNUSABLE("<cpix:LabelFilter label=\"blue\"/>"), 8,
                    "LabelFilter is not supported");
    expect_unusable(state, UNUSABLE("<cpix:VideoFilter hdr=\"true\"/>"), 8,
                    "VideoFilter@hdr is not supported");
    expect_unusable(state, UNUSABLE("<cpix:VideoFilter maxFps=\"30\"/>"), 8,
                    "VideoFilter@maxFps is not supported");
    expect_unusable(state, UNUSABLE("<cpix:VideoFilter/><x:Drm xmlns:x=\"urn:example\"/>"), 8,
                    "filter Drm is not supported");
    expect_unusable(state, UNUSABLE("<cpix:SubtitleFilter/>"), 8,
                    "filter SubtitleFilter is not supported");
#undef UNUSABLE
}

static void test_ambiguous_rules(void **state)
{
    cr_cpix_t *c = parse_ok(state, DOC(
        KEYS(KEY(KID_SD, B64_SD) KEY(KID_HD, B64_HD))
        RULES(RULE(KID_HD, "<cpix:VideoFilter/>")
              RULE(KID_SD, "<cpix:BitrateFilter maxBitrate=\"1000000\"/>"))));

    expect_key(c, PK_TRACK_VIDEO, 1280, 720, 0, 3000000, KID_HD);
    expect_key(c, PK_TRACK_AUDIO, 0, 0, 2, 128000, KID_SD);
    expect_no_key(c, PK_TRACK_VIDEO, 640, 360, 0, 800000, -EBADMSG,
                  "video 640x360 at 800000 b/s matches ContentKeyUsageRules of two keys: KID "
                  KID_HD " (line 8) and KID " KID_SD " (line 9)");
}

/* Filters of one kind ORed, kinds ANDed; a rule without filters matches everything. */
static void test_filter_logic(void **state)
{
    cr_cpix_t *c = parse_ok(state, DOC(
        KEYS(KEY(KID_SD, B64_SD) KEY(KID_HD, B64_HD))
        RULES(RULE(KID_HD, "<cpix:VideoFilter maxPixels=\"100\"/>"
                           "<cpix:VideoFilter minPixels=\"2000000\"/>"
                           "<cpix:BitrateFilter maxBitrate=\"1000\"/>"
                           "<cpix:BitrateFilter minBitrate=\"5000000\"/>"))));
    cr_cpix_t *all = parse_ok(state, DOC(KEYS(KEY(KID_SD, B64_SD)) RULES(RULE(KID_SD, ""))));

    expect_key(c, PK_TRACK_VIDEO, 1920, 1080, 0, 6000000, KID_HD);
    expect_key(c, PK_TRACK_VIDEO, 10, 10, 0, 500, KID_HD);
    expect_no_key(c, PK_TRACK_VIDEO, 1920, 1080, 0, 3000000, -ENOKEY, "no ContentKeyUsageRule");
    expect_no_key(c, PK_TRACK_VIDEO, 1280, 720, 0, 6000000, -ENOKEY, "no ContentKeyUsageRule");
    expect_no_key(c, PK_TRACK_AUDIO, 0, 0, 2, 6000000, -ENOKEY, "no ContentKeyUsageRule");
    expect_key(all, PK_TRACK_TEXT, 0, 0, 0, 0, KID_SD);
    expect_key(all, PK_TRACK_AUDIO, 0, 0, 2, 128000, KID_SD);
}

/* ---- bad documents ---------------------------------------------------------------------- */

static void test_bad_missing_key(void **state)
{
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL)) RULES(RULE(KID_SD, "<cpix:VideoFilter/>"))),
                -EBADMSG, 7, "ContentKeyUsageRule for KID " KID_SD ": no ContentKey has this kid");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL)) DRMS(DRM(KID_HD, SYS_WV, ""))),
                -EBADMSG, 7, "DRMSystem Widevine for KID " KID_HD ": no ContentKey has this kid");
}

static void test_bad_key_length(void **state)
{
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_15))), -EBADMSG, 4,
                "ContentKey " KID_ALL ": PlainValue decodes to 15 bytes, want 16");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_32))), -EBADMSG, 4,
                "ContentKey " KID_ALL ": PlainValue decodes to 32 bytes, want 16");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, ""))), -EBADMSG, 4, "decodes to 0 bytes");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_32 B64_32 B64_32 B64_32 B64_32 B64_32))),
                -EBADMSG, 4, "PlainValue is 264 characters, too long for a 16-byte key");
    expect_fail(state, DOC(KEYS(KEY_A(KID_ALL, " explicitIV=\"AAECAwQFBgc=\"", B64_ALL))),
                -EBADMSG, 4, "explicitIV decodes to 8 bytes, want 16");
}

static void test_bad_base64(void **state)
{
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, "xRvw4hrpall2oq0oJU2UFw="))), -EBADMSG, 4,
                "ContentKey " KID_ALL ": PlainValue is not valid base64");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, "xRvw4hrp*ll2oq0oJU2UFw=="))), -EBADMSG, 4,
                "PlainValue is not valid base64");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, "xRvw4hrpall2oq0oJU2UFx=="))), -EBADMSG, 4,
                "PlainValue is not valid base64");               /* leftover bits set */
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, "xRvw4hrpall2oq0o_U2UFw=="))), -EBADMSG, 4,
                "PlainValue is not valid base64");               /* base64url */
    expect_fail(state, DOC(KEYS(KEY_A(KID_ALL, " explicitIV=\"AAECAwQFBgcICQoLDA0ODw\"", B64_ALL))),
                -EBADMSG, 4, "explicitIV is not valid base64");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL)) DRMS(DRM(KID_ALL, SYS_WV,
                "<cpix:PSSH>AAAA!</cpix:PSSH>"))), -EBADMSG, 7,
                "DRMSystem Widevine for KID " KID_ALL ": <PSSH> is not valid base64");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL)) DRMS(DRM(KID_ALL, SYS_PR,
                "<cpix:SmoothStreamingProtectionHeaderData>PRO?</cpix:SmoothStreamingProtection"
                "HeaderData>"))), -EBADMSG, 7, "SmoothStreamingProtectionHeaderData is not base64");
}

static void test_bad_system_id(void **state)
{
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL)) DRMS(DRM(KID_ALL, SYS_MARLIN, ""))),
                -EBADMSG, 7, "DRMSystem for KID " KID_ALL ": unknown systemId " SYS_MARLIN);
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL)) DRMS(DRM(KID_ALL, "widevine", ""))),
                -EBADMSG, 7, "systemId \"widevine\" is not a UUID");
}

static void test_bad_kid(void **state)
{
    expect_fail(state, DOC(KEYS(KEY("6e5a1d26275747d78046eaa5d1d34b5a", B64_ALL))), -EBADMSG,
                4, "ContentKey kid \"6e5a1d26275747d78046eaa5d1d34b5a\" is not a UUID");
    expect_fail(state, DOC(KEYS("<cpix:ContentKey/>\n")), -EBADMSG, 4, "ContentKey has no kid");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL) KEY(KID_ALL, B64_SD))), -EBADMSG, 5,
                "ContentKey " KID_ALL ": a second ContentKey with this kid (line 4)");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL)) DRMS(DRM(KID_ALL, SYS_WV, "")
                DRM(KID_ALL, SYS_WV, ""))), -EBADMSG, 8, "a second one for this system and key");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL)) RULES(RULE("x", ""))), -EBADMSG, 7,
                "ContentKeyUsageRule kid \"x\" is not a UUID");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL)) RULES(RULE("\xc3\xa9", ""))), -EBADMSG,
                7, "ContentKeyUsageRule kid \"??\" is not a UUID");  /* only ASCII logged */
}

static void test_encrypted_documents(void **state)
{
    expect_fail(state, DOC(KEYS(
        "<cpix:ContentKey kid=\"" KID_ALL "\"><cpix:Data><pskc:Secret><pskc:EncryptedValue>"
        "<xenc:EncryptionMethod xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" Algorithm="
        "\"http://www.w3.org/2001/04/xmlenc#aes256-cbc\"/><xenc:CipherData xmlns:xenc=\"http://"
        "www.w3.org/2001/04/xmlenc#\"><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData>"
        "</pskc:EncryptedValue></pskc:Secret></cpix:Data></cpix:ContentKey>\n")),
        -ENOTSUP, 4, "ContentKey " KID_ALL ": EncryptedValue: encrypted content keys are not "
        "supported");
    expect_fail(state, DOC("<cpix:DeliveryDataList><cpix:DeliveryData/></cpix:DeliveryDataList>\n"
                           KEYS(KEY(KID_ALL, B64_ALL))), -ENOTSUP, 3,
                "encrypted CPIX documents (DeliveryDataList) are not supported");
    expect_fail(state, DOC(KEYS(KEY(KID_HD, B64_HD)
                                KEY_A(KID_ALL, " dependsOnKey=\"" KID_HD "\"", B64_ALL))),
                -ENOTSUP, 5, "dependsOnKey: key hierarchies are not supported");
    expect_fail(state, HEAD "<cpix:CPIX" NS " version=\"3.0\">" KEYS(KEY(KID_ALL, B64_ALL))
                "</cpix:CPIX>", -ENOTSUP, 2, "CPIX version \"3.0\" is not supported");
}

static void test_bad_structure(void **state)
{
    expect_fail(state, "", -EBADMSG, 1, "not well-formed XML");
    expect_fail(state, HEAD "<cpix:CPIX" NS ">\n<cpix:ContentKeyList>\n</cpix:CPIX>\n", -EBADMSG, 4,
                "not well-formed XML");
    expect_fail(state, HEAD "<CPIX xmlns=\"urn:other\"/>\n", -EBADMSG, 2,
                "root element is <CPIX>, not <CPIX> (urn:dashif:org:cpix)");
    expect_fail(state, HEAD "<smil/>\n", -EBADMSG, 2, "root element is <smil>");
    expect_fail(state, DOC(""), -EBADMSG, 2, "the document has no ContentKey");
    expect_fail(state, DOC(KEYS("<cpix:ContentKey kid=\"" KID_ALL "\"/>\n")), -EBADMSG, 4,
                "ContentKey " KID_ALL ": no Data/pskc:Secret/pskc:PlainValue");
    expect_fail(state, DOC(KEYS(KEY_A(KID_ALL, " commonEncryptionScheme=\"cbc2\"", B64_ALL))),
                -EBADMSG, 4, "commonEncryptionScheme \"cbc2\" is not cenc, cbcs, cens or cbc1");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL))
                           RULES(RULE(KID_ALL, "<cpix:VideoFilter minPixels=\"-1\"/>"))),
                -EBADMSG, 7, "VideoFilter@minPixels \"-1\" is not a number in 0..4294967295");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, B64_ALL))
                           RULES(RULE(KID_ALL, "<cpix:AudioFilter maxChannels=\"two\"/>"))),
                -EBADMSG, 7, "AudioFilter@maxChannels \"two\"");
    expect_fail(state, DOC(KEYS(KEY(KID_ALL, "<b>" B64_ALL "</b>"))), -EBADMSG, 4,
                "ContentKey: <PlainValue> holds element <b>, not text");
}

/* A DTD-declared entity is never expanded, and its value (here: the key) never logged. */
static void test_entities_refused(void **state)
{
    expect_fail(state,
                HEAD "<!DOCTYPE cpix:CPIX [<!ENTITY k \"" B64_ALL "\">]>\n"
                "<cpix:CPIX" NS ">\n" KEYS(KEY(KID_ALL, "&k;")) "</cpix:CPIX>\n",
                -EBADMSG, 5, "<PlainValue> uses entity &k;, entities are not supported");
    expect_fail(state,
                HEAD "<!DOCTYPE cpix:CPIX [<!ENTITY s \"" SYS_WV "\">]>\n"
                "<cpix:CPIX" NS ">\n" KEYS(KEY(KID_ALL, B64_ALL)) DRMS(DRM(KID_ALL, "&s;", ""))
                "</cpix:CPIX>\n", -EBADMSG, 8, "systemId uses entity &s;");
    /* the billion laughs: libxml2 stops it without expanding (we never substitute) */
    log_reset();
    assert_int_equal(parse(state,
        HEAD "<!DOCTYPE cpix:CPIX [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;\">]>\n"
        "<cpix:CPIX" NS " contentId=\"&d;\">\n" KEYS(KEY(KID_ALL, B64_ALL)) "</cpix:CPIX>\n",
        &(cr_cpix_t *){NULL}), -EBADMSG);
    assert_int_equal(log_lines, 1);
    assert_non_null(strstr(log_text[0], "entity"));  /* libxml2: "entity reference loop" */
}

/* Builds a document whose Widevine DRMSystem carries `box` as PSSH, in buf. */
static const char *pssh_doc(const uint8_t *box, size_t n, char *buf, size_t size)
{
    char b64[512];
    wr_t w = wr_init(b64, sizeof b64 - 1);

    wr_base64(&w, box, n);
    assert_int_equal(w.err, 0);
    b64[w.pos] = '\0';
    snprintf(buf, size, "%s%s%s", HEAD "<cpix:CPIX" NS " version=\"2.3\">\n"
             KEYS(KEY(KID_ALL, B64_ALL)) "<cpix:DRMSystemList>\n"
             "<cpix:DRMSystem kid=\"" KID_ALL "\" systemId=\"" SYS_WV "\"><cpix:PSSH>", b64,
             "</cpix:PSSH></cpix:DRMSystem>\n</cpix:DRMSystemList>\n</cpix:CPIX>\n");
    return buf;
}

static void test_bad_pssh(void **state)
{
    /* a valid Widevine v0 box with 2 data bytes, and a v1 box with one KID */
    uint8_t box[] = { 0, 0, 0, 34, 'p', 's', 's', 'h', 0, 0, 0, 0,
                      0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                      0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed, 0, 0, 0, 2, 0x48, 1 };
    uint8_t v1[52] = { 0, 0, 0, 52, 'p', 's', 's', 'h', 1, 0, 0, 0 };
    char doc[2048];
    cr_cpix_t *c;

    memcpy(v1 + 12, box + 12, 16);
    v1[31] = 1;                                 /* KID_count 1, KID zero, DataSize 0 */
    c = parse_ok(state, pssh_doc(box, sizeof box, doc, sizeof doc));
    assert_int_equal(c->drm[0].pssh_size, 34);
    c = parse_ok(state, pssh_doc(v1, sizeof v1, doc, sizeof doc));
    assert_int_equal(c->drm[0].pssh_size, 52);

    expect_fail(state, pssh_doc(box, 20, doc, sizeof doc), -EBADMSG, 7,
                "PSSH is not a pssh box of this system: 20 bytes, shorter than a pssh box header");
    box[3] = 35;
    expect_fail(state, pssh_doc(box, sizeof box, doc, sizeof doc), -EBADMSG, 7,
                "box size 35, but 34 bytes given");
    box[3] = 34;
    box[4] = 'm';
    expect_fail(state, pssh_doc(box, sizeof box, doc, sizeof doc), -EBADMSG, 7,
                "box type 'mssh', not 'pssh'");
    box[4] = 'p';
    box[8] = 2;
    expect_fail(state, pssh_doc(box, sizeof box, doc, sizeof doc), -EBADMSG, 7,
                "pssh version 2 (0 or 1 expected)");
    box[8] = 0;
    box[31] = 3;
    expect_fail(state, pssh_doc(box, sizeof box, doc, sizeof doc), -EBADMSG, 7,
                "DataSize disagree with the box size");
    box[31] = 1;
    expect_fail(state, pssh_doc(box, sizeof box, doc, sizeof doc), -EBADMSG, 7,
                "DataSize disagree with the box size");         /* a byte after the data */
    box[31] = 2;
    box[12] = 0x9a;
    expect_fail(state, pssh_doc(box, sizeof box, doc, sizeof doc), -EBADMSG, 7,
                "SystemID 9aef8ba9-79d6-4ace-a3c8-27dcd51d21ed is not the DRMSystem's systemId");
    v1[31] = 0xff;                              /* 255 KIDs claimed */
    expect_fail(state, pssh_doc(v1, sizeof v1, doc, sizeof doc), -EBADMSG, 7,
                "KID count or DataSize disagree");
}

static void test_bad_signalling(void **state)
{
#define ONE_DRM(sys, inner) DOC(KEYS(KEY(KID_ALL, B64_ALL)) DRMS(DRM(KID_ALL, sys, inner)))
    /* "<mspr:pro>abc</mspr:pr>" */
    expect_fail(state, ONE_DRM(SYS_PR, "<cpix:ContentProtectionData>PG1zcHI6cHJvPmFiYzwvbXNwcjpw"
                "cj4=</cpix:ContentProtectionData>"), -EBADMSG, 7,
                "DRMSystem PlayReady for KID " KID_ALL ": ContentProtectionData is not "
                "well-formed XML");
    /* "&x;" */
    expect_fail(state, ONE_DRM(SYS_CK, "<cpix:ContentProtectionData>Jng7</cpix:ContentProtection"
                "Data>"), -EBADMSG, 7, "ContentProtectionData is not well-formed XML");
    /* "<a>\0</a>" */
    expect_fail(state, ONE_DRM(SYS_CK, "<cpix:ContentProtectionData>PGE+ADwvYT4=</cpix:Content"
                "ProtectionData>"), -EBADMSG, 7, "ContentProtectionData does not decode to UTF-8");
    expect_fail(state, ONE_DRM(SYS_FP, "<cpix:HLSSignalingData>" HLS_MEDIA "</cpix:HLSSignaling"
                "Data><cpix:HLSSignalingData playlist=\"media\">" HLS_MEDIA "</cpix:HLSSignaling"
                "Data>"), -EBADMSG, 7, "a second HLSSignalingData for the media playlist");
    expect_fail(state, ONE_DRM(SYS_FP, "<cpix:HLSSignalingData playlist=\"variant\">" HLS_MEDIA
                "</cpix:HLSSignalingData>"), -EBADMSG, 7,
                "HLSSignalingData playlist \"variant\" is not media, master or multiVariant");
    /* "\xff\xfe" */
    expect_fail(state, ONE_DRM(SYS_FP, "<cpix:HLSSignalingData>//4=</cpix:HLSSignalingData>"),
                -EBADMSG, 7, "HLSSignalingData does not decode to UTF-8 text");
    /* "http://a/\"b" */
    expect_fail(state, ONE_DRM(SYS_CK, "<cpix:URIExtXKey>aHR0cDovL2EvImI=</cpix:URIExtXKey>"),
                -EBADMSG, 7, "URIExtXKey does not decode to a URI");
    expect_fail(state, ONE_DRM(SYS_WV, "<cpix:PSSH>" WV_PSSH "</cpix:PSSH><cpix:PSSH>" WV_PSSH
                "</cpix:PSSH>"), -EBADMSG, 7, "more than one PSSH");
    /* "multiVariant" (2.4) is the master playlist */
    {
        cr_cpix_t *c = parse_ok(state, ONE_DRM(SYS_FP, "<cpix:HLSSignalingData playlist="
                                "\"multiVariant\">" HLS_MASTER "</cpix:HLSSignalingData>"));
        assert_int_equal(c->drm[0].hls[0].playlist, CR_HLS_MASTER);
    }
#undef ONE_DRM
}

/* Every problem of a document gets its line; the first one's code is returned. */
static void test_every_problem_logged(void **state)
{
    cr_cpix_t *c = NULL;

    log_reset();
    assert_int_equal(parse(state, DOC(
        KEYS(KEY(KID_ALL, B64_15) KEY(KID_SD, "%%%%") KEY(KID_HD, B64_HD))
        DRMS(DRM(KID_HD, SYS_MARLIN, ""))), &c), -EBADMSG);
    assert_null(c);
    assert_int_equal(log_lines, 3);
    expect_line(0, 4, "ContentKey " KID_ALL ": PlainValue decodes to 15 bytes");
    expect_line(1, 5, "ContentKey " KID_SD ": PlainValue is not valid base64");
    expect_line(2, 9, "unknown systemId");
    assert_no_secret_logged();
}

/* cr_cpix_check on a document built in code: one line per problem. */
static void test_check(void **state)
{
    cr_key_t keys[2] = { { .line = 4 }, { .line = 5 } };
    cr_drm_system_t drm[1] = { { .system = CR_DRM_WIDEVINE, .line = 8 } };
    cr_rule_t rules[1] = { { .line = 11 } };
    cr_cpix_t c = { FILE_NAME, NULL, NULL, 2, keys, 1, drm, 1, rules };
    (void)state;

    cr_uuid_parse(KID_ALL, keys[0].kid);
    cr_uuid_parse(KID_ALL, keys[1].kid);
    cr_uuid_parse(KID_SD, drm[0].kid);
    cr_uuid_parse(KID_HD, rules[0].kid);
    log_reset();
    assert_int_equal(cr_cpix_check(&c), -EBADMSG);
    assert_int_equal(log_lines, 3);
    expect_line(0, 5, "a second ContentKey with this kid (line 4)");
    expect_line(1, 8, "DRMSystem Widevine for KID " KID_SD ": no ContentKey has this kid");
    expect_line(2, 11, "ContentKeyUsageRule for KID " KID_HD ": no ContentKey has this kid");

    cr_uuid_parse(KID_HD, keys[1].kid);
    cr_uuid_parse(KID_ALL, drm[0].kid);
    log_reset();
    assert_int_equal(cr_cpix_check(&c), 0);
    assert_int_equal(log_lines, 0);
    /* a rule naming no key, found by key_for in a document that skipped the check */
    cr_uuid_parse(KID_SD, rules[0].kid);
    expect_no_key(&c, PK_TRACK_VIDEO, 1, 1, 0, 1, -EBADMSG, "no ContentKey has this kid");
    log_reset();
    assert_int_equal(cr_cpix_check(&(cr_cpix_t){ .name = FILE_NAME }), -EBADMSG);
    expect_line(0, 0, "the document has no ContentKey");
}

/* ---- secrets: wiped, never logged -------------------------------------------------------- */

typedef struct {
    const cr_key_t *keys;
    uint32_t n;
    int checked;
} wiped_t;

/* Registered before the parse, so it runs after the parser's wipe (cleanups run newest
 * first) while the blocks still exist. */
static void check_wiped(void *arg)
{
    wiped_t *w = arg;
    const uint8_t *p = (const uint8_t *)w->keys;

    for (size_t i = 0; i < w->n * sizeof *w->keys; i++)
        if (p[i])
            return;
    w->checked = 1;
}

static void test_keys_wiped_at_arena_free(void **state)
{
    arena_t *a = arena_new();
    wiped_t w = { 0 };
    cr_cpix_t *c = NULL;
    (void)state;

    assert_int_equal(arena_defer(a, check_wiped, &w), 0);
    assert_int_equal(cr_cpix_parse(doc_audio_sd_hd, strlen(doc_audio_sd_hd), FILE_NAME, a, &c),
                     0);
    expect_bytes(c->keys[2].key, HEX_HD);
    w.keys = c->keys;
    w.n = c->key_count;
    arena_free(a);
    assert_true(w.checked);
}

/* libxml2's copy of the base64 is wiped before the tree is freed. */
static void test_tree_text_wiped(void **state)
{
    pk_xml_err_t err = { 0 };
    int nomem;
    xmlDocPtr doc = pk_xml_read(doc_one_key, strlen(doc_one_key), FILE_NAME, &err, &nomem);
    xmlNode *plain;
    (void)state;

    assert_non_null(doc);
    /* walk down: ContentKeyList > ContentKey > Data > Secret > PlainValue */
    plain = first_any(first_any(first_any(first_any(first_any(xmlDocGetRootElement(doc),
            "ContentKeyList"), "ContentKey"), "Data"), "Secret"), "PlainValue");
    assert_non_null(plain);
    assert_non_null(strstr((const char *)plain->children->content, "oq0oJU2UFw=="));
    wipe_secrets(xmlDocGetRootElement(doc));
    for (xmlNode *t = plain->children; t; t = t->next) {
        size_t n = strlen((const char *)t->content);
        assert_int_equal(n, 0);     /* every byte zero: the string now ends at once */
    }
    xmlFreeDoc(doc);
}

/* Logs of every failing document above were checked line by line; this one puts the key
 * right next to every error path of a ContentKey. */
static void test_no_secret_in_any_log_line(void **state)
{
    static const char *const docs[] = {
        DOC(KEYS(KEY_A("bad-kid", "", B64_ALL))),
        DOC(KEYS(KEY_A(KID_ALL, " explicitIV=\"" B64_ALL B64_ALL "\"", B64_ALL))),
        DOC(KEYS(KEY(KID_ALL, B64_ALL "<" B64_AUD))),
        DOC(KEYS(KEY(KID_ALL, B64_ALL B64_SD))),
        DOC(KEYS(KEY(KID_ALL, B64_ALL "x"))),
        DOC(KEYS(KEY(KID_ALL, B64_ALL) KEY(KID_ALL, B64_AUD))),
        DOC(KEYS(KEY(KID_ALL, B64_ALL)) DRMS(DRM(KID_ALL, SYS_MARLIN, ""))),
    };

    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        log_reset();
        assert_int_not_equal(parse(state, docs[i], &(cr_cpix_t *){NULL}), 0);
        assert_true(log_lines >= 1);
        assert_no_secret_logged();
    }
    /* and the sink does catch a leak: the check is not vacuous */
    assert_true(has_secret("key " HEX_ALL));
    assert_true(has_secret("key C51BF0E21AE96A5976A2AD28254D9417"));
    assert_true(has_secret("key " B64_HD));
    assert_false(has_secret("ContentKey " KID_ALL));
}

/* ---- allocation failures ---------------------------------------------------------------- */

static void enomem_loop(const char *xml)
{
    int rc = -ENOMEM;
    unsigned n;

    for (n = 1; n < 1000 && rc == -ENOMEM; n++) {
        arena_t *a = arena_new();
        cr_cpix_t *c = NULL;
        assert_non_null(a);
        arena_fail_after(a, n);
        log_reset();
        rc = cr_cpix_parse(xml, strlen(xml), FILE_NAME, a, &c);
        if (rc == -ENOMEM) {
            assert_null(c);
            assert_int_equal(log_lines, 0);
        }
        arena_free(a);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 5);
}

static void test_enomem(void **state)
{
    (void)state;
    enomem_loop(doc_drm);
    enomem_loop(doc_audio_sd_hd);
    enomem_loop(doc_22);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_base64_rfc4648_vectors),
        T(test_base64_every_byte),
        T(test_uuid),
        T(test_one_key_for_everything),
        T(test_audio_sd_hd_keys),
        T(test_speke_all_rule),
        T(test_drm_systems),
        T(test_cpix_22),
        T(test_two_keys_without_rules),
        T(test_unusable_rules),
        T(test_ambiguous_rules),
        T(test_filter_logic),
        T(test_bad_missing_key),
        T(test_bad_key_length),
        T(test_bad_base64),
        T(test_bad_system_id),
        T(test_bad_kid),
        T(test_encrypted_documents),
        T(test_bad_structure),
        T(test_entities_refused),
        T(test_bad_pssh),
        T(test_bad_signalling),
        T(test_every_problem_logged),
        T(test_check),
        T(test_keys_wiped_at_arena_free),
        T(test_tree_text_wiped),
        T(test_no_secret_in_any_log_line),
        T(test_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
