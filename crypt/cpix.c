/*
 * CPIX reader. libxml2 builds a tree; we walk it and copy what we keep into the arena.
 *
 * XML safety as in pack/ism.c: no XML_PARSE_NOENT (entities are never substituted; a
 * reference to a DTD-declared entity is refused where we read text), no DTD loading,
 * XML_PARSE_NONET, libxml2's size limits on. Errors are caught per context through the
 * SAX `serror` member (libxml2 2.9 has no xmlCtxtSetErrorHandler and the global handler
 * is process-wide); nothing is printed.
 *
 * Keys: the base64 of a key is read into a stack buffer, decoded by a decoder without
 * secret-indexed tables, and the buffer, the decoded copy and libxml2's text node are
 * wiped before they are freed. The arena wipes the key array when it is freed.
 */
#include "cpix.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>

#include "../pack/bytes.h"
#include "../pack/log.h"
#include "../pack/xml.h"

#define NS_CPIX "urn:dashif:org:cpix"
#define KEY_TEXT_MAX 256        /* characters of a PlainValue, whitespace included */

/* ---- DRM systems ------------------------------------------------------------------------ */

static const struct {
    cr_drm_t system;
    const char *name;
    uint8_t id[16];
} drms[] = {
    { CR_DRM_WIDEVINE, "Widevine", { 0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                                     0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed } },
    { CR_DRM_PLAYREADY, "PlayReady", { 0x9a, 0x04, 0xf0, 0x79, 0x98, 0x40, 0x42, 0x86,
                                       0xab, 0x92, 0xe6, 0x5b, 0xe0, 0x88, 0x5f, 0x95 } },
    { CR_DRM_FAIRPLAY, "FairPlay", { 0x94, 0xce, 0x86, 0xfb, 0x07, 0xff, 0x4f, 0x43,
                                     0xad, 0xb8, 0x93, 0xd2, 0xfa, 0x96, 0x8c, 0xa2 } },
    { CR_DRM_CLEARKEY, "ClearKey", { 0xe2, 0x71, 0x9d, 0x58, 0xa9, 0x85, 0xb3, 0xc9,
                                     0x78, 0x1a, 0xb0, 0x30, 0xaf, 0x78, 0xd3, 0x0e } },
    { CR_DRM_W3C_COMMON, "W3C common", { 0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02,
                                         0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b } },
};

const uint8_t *cr_drm_system_id(cr_drm_t system)
{
    for (size_t i = 0; i < sizeof drms / sizeof drms[0]; i++)
        if (drms[i].system == system)
            return drms[i].id;
    return NULL;
}

const char *cr_drm_name(cr_drm_t system)
{
    for (size_t i = 0; i < sizeof drms / sizeof drms[0]; i++)
        if (drms[i].system == system)
            return drms[i].name;
    return "unknown";
}

static cr_drm_t drm_of(const uint8_t id[16])
{
    for (size_t i = 0; i < sizeof drms / sizeof drms[0]; i++)
        if (memcmp(drms[i].id, id, 16) == 0)
            return drms[i].system;
    return 0;
}

/* ---- text helpers ----------------------------------------------------------------------- */




/* The value of one base64 character or -1, computed without branches or tables so that
 * key bytes do not steer the cache or the branch predictor. */
static int b64_val(unsigned char ch)
{
    int c = ch, v = -1;

    v += (((('A' - 1) - c) & (c - ('Z' + 1))) >> 8) & (c - 'A' + 1);
    v += (((('a' - 1) - c) & (c - ('z' + 1))) >> 8) & (c - 'a' + 27);
    v += (((('0' - 1) - c) & (c - ('9' + 1))) >> 8) & (c - '0' + 53);
    v += (((('+' - 1) - c) & (c - ('+' + 1))) >> 8) & 63;
    v += (((('/' - 1) - c) & (c - ('/' + 1))) >> 8) & 64;
    return v;
}

static int is_xml_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Decodes xs:base64Binary s[0..n): RFC 4648 alphabet, padded to whole quads, whitespace
 * anywhere ignored, the bits a final quad leaves over zero (the XSD lexical space). Writes
 * at most cap bytes to out (NULL: only validate). Returns the decoded size, or -1 when s
 * is not base64 or decodes to more than cap bytes (out != NULL).
 */
static ssize_t b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    size_t m = 0, o = 0;
    int pad = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;
        if (is_xml_space(c))
            continue;
        if (c == '=') {
            if (m % 4 < 2)          /* '=' only as the 3rd or 4th character of a quad */
                return -1;
            pad++;
            v = 0;
        } else {
            if (pad || (v = b64_val(c)) < 0)
                return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        if (++m % 4)
            continue;
        if (pad && (acc & ((1u << (8 * pad)) - 1)))
            return -1;              /* non-zero leftover bits: not canonical */
        for (int k = 0; k < 3 - pad; k++, o++) {
            if (out && o >= cap)
                return -1;
            if (out)
                out[o] = (uint8_t)(acc >> (16 - 8 * k));
        }
        acc = 0;
    }
    return m % 4 ? -1 : (ssize_t)o;
}

/* s made safe for a log line: at most 40 printable ASCII characters, others shown as '?'. */
static const char *shown(const char *s, char buf[48])
{
    size_t i = 0;

    if (!s)
        return "(none)";
    for (; s[i] && i < 40; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i]) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

/* Element `local` of the CPIX namespace (or of none: some writers drop it). */
static int is_el(const xmlNode *n, const char *local)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local) == 0 &&
           (!n->ns || !n->ns->href || strcmp((const char *)n->ns->href, NS_CPIX) == 0);
}

/* Element `local` of any namespace (pskc:Secret, pskc:PlainValue...). */
static int is_el_any(const xmlNode *n, const char *local)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local) == 0;
}

static xmlNode *next_el(xmlNode *n, const char *local)
{
    while (n && !is_el(n, local))
        n = n->next;
    return n;
}

static xmlNode *first_any(xmlNode *parent, const char *local)
{
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (is_el_any(n, local))
            return n;
    return NULL;
}

/* ---- parse state ------------------------------------------------------------------------ */

typedef struct {
    const char *file;
    arena_t *a;
    int rc;                     /* the first problem's code, 0 while none */
} ps_t;

/* Notes a problem (already logged); -ENOMEM is passed up as is. */
static int note(ps_t *p, int rc)
{
    if (rc < 0 && !p->rc)
        p->rc = rc;
    return rc;
}

/* Attribute `name` (no namespace) copied into the arena; *out NULL when absent. */
static int get_attr(ps_t *p, const xmlNode *el, const char *name, const char **out)
{
    const xmlAttr *at = el->properties;
    size_t len = 0;
    char *s, *d;

    while (at && strcmp((const char *)at->name, name) != 0)
        at = at->next;
    *out = NULL;
    if (!at)
        return 0;
    for (const xmlNode *t = at->children; t; t = t->next) {
        if (t->type != XML_TEXT_NODE) {
            PK_ERROR("%s:%u: <%s> %s uses entity &%s;, entities are not supported",
                     p->file, pk_xml_line(el), el->name, name, t->name);
            return -EBADMSG;
        }
        len += t->content ? strlen((const char *)t->content) : 0;
    }
    if (!(s = d = arena_alloc(p->a, len + 1)))
        return -ENOMEM;
    for (const xmlNode *t = at->children; t; t = t->next) {
        size_t k = t->content ? strlen((const char *)t->content) : 0;
        memcpy(d, t->content, k);
        d += k;
    }
    *d = '\0';
    *out = s;
    return 0;
}

/* Length of el's character content (text and CDATA); -EBADMSG (logged, naming `what`)
 * for an entity reference or a child element. */
static ssize_t text_len(ps_t *p, const xmlNode *el, const char *what)
{
    size_t len = 0;

    for (const xmlNode *t = el->children; t; t = t->next) {
        if (t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE) {
            len += t->content ? strlen((const char *)t->content) : 0;
        } else if (t->type == XML_ENTITY_REF_NODE) {
            PK_ERROR("%s:%u: %s: <%s> uses entity &%s;, entities are not supported",
                     p->file, pk_xml_line(el), what, el->name, t->name);
            return -EBADMSG;
        } else if (t->type == XML_ELEMENT_NODE) {
            PK_ERROR("%s:%u: %s: <%s> holds element <%s>, not text",
                     p->file, pk_xml_line(el), what, el->name, t->name);
            return -EBADMSG;
        }
    }
    return (ssize_t)len;
}

/* Copies el's character content (len bytes, from text_len) to out[0..len], NUL-terminated. */
static void text_copy(const xmlNode *el, char *out)
{
    for (const xmlNode *t = el->children; t; t = t->next) {
        if ((t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE) && t->content) {
            size_t k = strlen((const char *)t->content);
            memcpy(out, t->content, k);
            out += k;
        }
    }
    *out = '\0';
}

/* el's character content in the arena. */
static int get_text(ps_t *p, const xmlNode *el, const char *what, char **out, size_t *len)
{
    ssize_t n = text_len(p, el, what);

    if (n < 0)
        return (int)n;
    if (!(*out = arena_alloc(p->a, (size_t)n + 1)))
        return -ENOMEM;
    text_copy(el, *out);
    *len = (size_t)n;
    return 0;
}

/* Wipes the character content of every PlainValue (a key's base64, in libxml2's text
 * nodes) before the tree is freed. Strings libxml2 interned in its dictionary (short
 * blank runs, shared between nodes) are left alone. */
static void wipe_secrets(xmlNode *n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!is_el_any(n, "PlainValue")) {
            wipe_secrets(n->children);
            continue;
        }
        for (xmlNode *t = n->children; t; t = t->next)
            if ((t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE) &&
                t->content && !(t->doc && t->doc->dict && xmlDictOwns(t->doc->dict, t->content)))
                explicit_bzero(t->content, strlen((const char *)t->content));
    }
}

/* The base64 content of el decoded into the arena (+1 byte, a NUL, for text). */
static int get_base64(ps_t *p, const xmlNode *el, const char *what, uint8_t **out,
                      size_t *size)
{
    char *text = NULL;
    size_t len = 0;
    ssize_t n;
    int rc;

    if ((rc = get_text(p, el, what, &text, &len)) < 0)
        return rc;
    if (!(*out = arena_alloc(p->a, len / 4 * 3 + 3)))
        return -ENOMEM;
    if ((n = b64_decode(text, len, *out, len / 4 * 3 + 2)) < 0) {
        PK_ERROR("%s:%u: %s: <%s> is not valid base64", p->file, pk_xml_line(el), what, el->name);
        return -EBADMSG;
    }
    (*out)[n] = '\0';
    *size = (size_t)n;
    return 0;
}

/* A decimal xs:integer in 0..UINT32_MAX (blanks around it and a '+' allowed). */
static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    const char *d;

    while (is_xml_space((unsigned char)*s))
        s++;
    if (*s == '+')
        s++;
    for (d = s; *d >= '0' && *d <= '9'; d++)
        if ((v = v * 10 + (uint64_t)(*d - '0')) > UINT32_MAX)
            return -1;
    if (d == s)
        return -1;
    while (is_xml_space((unsigned char)*d))
        d++;
    if (*d)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* ---- ContentKey ------------------------------------------------------------------------- */

static int parse_scheme(const char *s, uint32_t *out)
{
    static const char *const ok[] = { "cenc", "cbcs", "cens", "cbc1" };

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (strcmp(s, ok[i]) == 0) {
            *out = FOURCC(s[0], s[1], s[2], s[3]);
            return 0;
        }
    }
    return -1;
}

/* Reads Data/Secret/PlainValue of ContentKey el into k->key. */
static int read_key_value(ps_t *p, xmlNode *el, const char *kid, cr_key_t *k)
{
    xmlNode *data = next_el(el->children, "Data");
    xmlNode *secret = first_any(data, "Secret");
    xmlNode *plain = first_any(secret, "PlainValue");
    char text[KEY_TEXT_MAX + 1];
    uint8_t raw[KEY_TEXT_MAX / 4 * 3];
    ssize_t len, n;

    if (first_any(secret, "EncryptedValue")) {
        PK_ERROR("%s:%u: ContentKey %s: EncryptedValue: encrypted content keys are not "
                 "supported, give the key as pskc:PlainValue", p->file, k->line, kid);
        return -ENOTSUP;
    }
    if (!plain) {
        PK_ERROR("%s:%u: ContentKey %s: no Data/pskc:Secret/pskc:PlainValue (the key)",
                 p->file, k->line, kid);
        return -EBADMSG;
    }
    if ((len = text_len(p, plain, "ContentKey")) < 0)
        return (int)len;
    if (len > KEY_TEXT_MAX) {
        PK_ERROR("%s:%u: ContentKey %s: PlainValue is %zd characters, too long for a "
                 "16-byte key", p->file, pk_xml_line(plain), kid, len);
        return -EBADMSG;
    }
    text_copy(plain, text);
    n = b64_decode(text, (size_t)len, raw, sizeof raw);
    if (n == 16)
        memcpy(k->key, raw, 16);
    explicit_bzero(text, sizeof text);
    explicit_bzero(raw, sizeof raw);
    if (n < 0) {
        PK_ERROR("%s:%u: ContentKey %s: PlainValue is not valid base64",
                 p->file, pk_xml_line(plain), kid);
        return -EBADMSG;
    }
    if (n != 16) {
        PK_ERROR("%s:%u: ContentKey %s: PlainValue decodes to %zd bytes, want 16 (AES-128)",
                 p->file, pk_xml_line(plain), kid, n);
        return -EBADMSG;
    }
    return 0;
}

static int parse_key(ps_t *p, xmlNode *el, cr_key_t *k)
{
    const char *kid, *iv, *dep, *scheme;
    char b[48];
    int rc;

    k->line = pk_xml_line(el);
    if ((rc = get_attr(p, el, "kid", &kid)) < 0 || (rc = get_attr(p, el, "explicitIV", &iv)) < 0 ||
        (rc = get_attr(p, el, "dependsOnKey", &dep)) < 0 ||
        (rc = get_attr(p, el, "commonEncryptionScheme", &scheme)) < 0)
        return rc;
    if (!kid) {
        PK_ERROR("%s:%u: ContentKey has no kid", p->file, k->line);
        return -EBADMSG;
    }
    if (cr_uuid_parse(kid, k->kid) < 0) {
        PK_ERROR("%s:%u: ContentKey kid \"%s\" is not a UUID", p->file, k->line, shown(kid, b));
        return -EBADMSG;
    }
    if (dep) {
        PK_ERROR("%s:%u: ContentKey %s: dependsOnKey: key hierarchies are not supported",
                 p->file, k->line, kid);
        return -ENOTSUP;
    }
    if (iv) {
        uint8_t raw[64];
        ssize_t n = strlen(iv) <= 80 ? b64_decode(iv, strlen(iv), raw, sizeof raw) : -1;
        if (n < 0) {
            PK_ERROR("%s:%u: ContentKey %s: explicitIV is not valid base64",
                     p->file, k->line, kid);
            return -EBADMSG;
        }
        if (n != 16) {
            PK_ERROR("%s:%u: ContentKey %s: explicitIV decodes to %zd bytes, want 16",
                     p->file, k->line, kid, n);
            return -EBADMSG;
        }
        memcpy(k->iv, raw, 16);
        k->has_iv = 1;
    }
    if (scheme && parse_scheme(scheme, &k->scheme) < 0) {
        PK_ERROR("%s:%u: ContentKey %s: commonEncryptionScheme \"%s\" is not cenc, cbcs, "
                 "cens or cbc1", p->file, k->line, kid, shown(scheme, b));
        return -EBADMSG;
    }
    return read_key_value(p, el, kid, k);
}

/* ---- DRMSystem -------------------------------------------------------------------------- */

/* Why pssh[0..n) is not one complete pssh box of system `id`, or NULL when it is. */
static const char *bad_pssh(const uint8_t *pssh, size_t n, const uint8_t id[16], char *why,
                            size_t why_size)
{
    rd_t r = rd_init(pssh, n);
    uint32_t size = rd_u32(&r), type = rd_u32(&r), kids;
    uint8_t version = rd_u8(&r), sys[16];
    char a[CR_UUID_STR_SIZE], t[5];

    rd_skip(&r, 3);                                 /* flags */
    rd_bytes(&r, sys, 16);
    if (r.err)
        snprintf(why, why_size, "%zu bytes, shorter than a pssh box header", n);
    else if (size != n)
        snprintf(why, why_size, "box size %u, but %zu bytes given", size, n);
    else if (type != FOURCC('p', 's', 's', 'h'))
        snprintf(why, why_size, "box type '%s', not 'pssh'", fourcc_str(type, t));
    else if (version > 1)
        snprintf(why, why_size, "pssh version %u (0 or 1 expected)", version);
    else if (memcmp(sys, id, 16) != 0)
        snprintf(why, why_size, "SystemID %s is not the DRMSystem's systemId", cr_uuid_format(sys, a));
    else
        why[0] = '\0';
    if (why[0])
        return why;
    /* 23001-7 8.1: v1 lists KIDs before DataSize */
    if (version == 1 && (kids = rd_u32(&r)) <= rd_left(&r) / 16)
        rd_skip(&r, (size_t)kids * 16);
    else if (version == 1)
        rd_fail(&r);
    rd_skip(&r, rd_u32(&r));
    if (r.err || rd_left(&r)) {
        snprintf(why, why_size, "KID count or DataSize disagree with the box size");
        return why;
    }
    return NULL;
}

/* Decoded text: no NUL, valid UTF-8. 0 or -1. */
static int check_text(const uint8_t *s, size_t n)
{
    return memchr(s, '\0', n) || !xmlCheckUTF8(s) ? -1 : 0;
}

/* Whether frag[0..n) is well-formed XML content (prefixes may be undeclared: the MPD
 * declares them). 0, -EBADMSG (msg filled) or -ENOMEM. */
static int check_fragment(const char *frag, size_t n, const char *file, char *msg,
                          size_t msg_size)
{
    static const char open[] = "<ContentProtection>", close[] = "</ContentProtection>";
    size_t len = sizeof open - 1 + n + sizeof close - 1;
    pk_xml_err_t err = { 0 };
    xmlDocPtr doc;
    char *buf;
    int nomem;

    if (len > INT_MAX || !(buf = malloc(len)))
        return -ENOMEM;
    memcpy(buf, open, sizeof open - 1);
    memcpy(buf + sizeof open - 1, frag, n);
    memcpy(buf + sizeof open - 1 + n, close, sizeof close - 1);
    doc = pk_xml_read(buf, len, file, &err, &nomem);
    free(buf);
    if (doc) {
        xmlFreeDoc(doc);
        return 0;
    }
    if (nomem)
        return -ENOMEM;
    snprintf(msg, msg_size, "%s", err.code ? err.msg : "not XML");
    return -EBADMSG;
}

typedef struct {
    ps_t *p;
    const char *what;           /* "DRMSystem Widevine for KID ...", for log lines */
    cr_drm_system_t *d;
    uint32_t hls_cap;
    cr_hls_data_t *hls;
} drm_ctx_t;

static int drm_pssh(drm_ctx_t *x, const xmlNode *el)
{
    char why[128];
    uint8_t *box;
    size_t n;
    int rc;

    if ((rc = get_base64(x->p, el, x->what, &box, &n)) < 0)
        return rc;
    if (bad_pssh(box, n, x->d->system_id, why, sizeof why)) {
        PK_ERROR("%s:%u: %s: PSSH is not a pssh box of this system: %s",
                 x->p->file, pk_xml_line(el), x->what, why);
        return -EBADMSG;
    }
    x->d->pssh = box;
    x->d->pssh_size = n;
    return 0;
}

static int drm_content_protection(drm_ctx_t *x, const xmlNode *el)
{
    char msg[256];
    uint8_t *frag;
    size_t n;
    int rc;

    if ((rc = get_base64(x->p, el, x->what, &frag, &n)) < 0)
        return rc;
    if (check_text(frag, n) < 0) {
        PK_ERROR("%s:%u: %s: ContentProtectionData does not decode to UTF-8 text",
                 x->p->file, pk_xml_line(el), x->what);
        return -EBADMSG;
    }
    if ((rc = check_fragment((const char *)frag, n, x->p->file, msg, sizeof msg)) < 0) {
        if (rc == -EBADMSG)
            PK_ERROR("%s:%u: %s: ContentProtectionData is not well-formed XML: %s",
                     x->p->file, pk_xml_line(el), x->what, msg);
        return rc;
    }
    x->d->content_protection = (const char *)frag;
    return 0;
}

static int drm_hls(drm_ctx_t *x, const xmlNode *el)
{
    cr_hls_playlist_t pl = CR_HLS_MEDIA;
    const char *attr;
    char b[48];
    uint8_t *text;
    size_t n;
    int rc;

    if ((rc = get_attr(x->p, el, "playlist", &attr)) < 0)
        return rc;
    if (attr && (strcmp(attr, "master") == 0 || strcmp(attr, "multiVariant") == 0)) {
        pl = CR_HLS_MASTER;
    } else if (attr && strcmp(attr, "media") != 0) {
        PK_ERROR("%s:%u: %s: HLSSignalingData playlist \"%s\" is not media, master or "
                 "multiVariant", x->p->file, pk_xml_line(el), x->what, shown(attr, b));
        return -EBADMSG;
    }
    for (uint32_t i = 0; i < x->d->hls_count; i++) {
        if (x->hls[i].playlist == pl) {
            PK_ERROR("%s:%u: %s: a second HLSSignalingData for the %s playlist",
                     x->p->file, pk_xml_line(el), x->what, pl == CR_HLS_MEDIA ? "media" : "master");
            return -EBADMSG;
        }
    }
    if ((rc = get_base64(x->p, el, x->what, &text, &n)) < 0)
        return rc;
    if (check_text(text, n) < 0) {
        PK_ERROR("%s:%u: %s: HLSSignalingData does not decode to UTF-8 text",
                 x->p->file, pk_xml_line(el), x->what);
        return -EBADMSG;
    }
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    x->hls[x->d->hls_count].playlist = pl;
    x->hls[x->d->hls_count++].text = (const char *)text;
    return 0;
}

static int drm_smooth(drm_ctx_t *x, const xmlNode *el)
{
    char *text = NULL, *d;
    size_t n = 0;
    int rc;

    if ((rc = get_text(x->p, el, x->what, &text, &n)) < 0)
        return rc;
    if (b64_decode(text, n, NULL, 0) <= 0) {
        PK_ERROR("%s:%u: %s: SmoothStreamingProtectionHeaderData is not base64 (a PlayReady "
                 "header object)", x->p->file, pk_xml_line(el), x->what);
        return -EBADMSG;
    }
    d = text;
    for (const char *s = text; *s; s++)
        if (!is_xml_space((unsigned char)*s))
            *d++ = *s;
    *d = '\0';
    x->d->smooth_header = text;
    return 0;
}

static int drm_uri(drm_ctx_t *x, const xmlNode *el)
{
    uint8_t *uri;
    size_t n;
    int rc;

    if ((rc = get_base64(x->p, el, x->what, &uri, &n)) < 0)
        return rc;
    /* it goes inside URI="..." of EXT-X-KEY: no quote, no control character */
    for (size_t i = 0; i < n; i++)
        if (uri[i] < 0x20 || uri[i] == 0x7f || uri[i] == '"')
            rc = -1;
    if (n == 0 || rc < 0 || check_text(uri, n) < 0) {
        PK_ERROR("%s:%u: %s: URIExtXKey does not decode to a URI", x->p->file, pk_xml_line(el),
                 x->what);
        return -EBADMSG;
    }
    x->d->uri_ext_x_key = (const char *)uri;
    return 0;
}

static int parse_drm(ps_t *p, xmlNode *el, cr_drm_system_t *d)
{
    static const char *const once[] = { "PSSH", "ContentProtectionData", "URIExtXKey",
                                        "SmoothStreamingProtectionHeaderData" };
    const char *kid, *sys;
    char what[160], b[48], u[CR_UUID_STR_SIZE];
    drm_ctx_t x = { p, what, d, 0, NULL };
    int rc, first = 0;

    d->line = pk_xml_line(el);
    if ((rc = get_attr(p, el, "kid", &kid)) < 0 || (rc = get_attr(p, el, "systemId", &sys)) < 0 ||
        (rc = get_attr(p, el, "name", &d->name)) < 0)
        return rc;
    if (!kid || cr_uuid_parse(kid, d->kid) < 0) {
        PK_ERROR("%s:%u: DRMSystem kid \"%s\" is not a UUID", p->file, d->line, shown(kid, b));
        return -EBADMSG;
    }
    if (!sys || cr_uuid_parse(sys, d->system_id) < 0) {
        PK_ERROR("%s:%u: DRMSystem for KID %s: systemId \"%s\" is not a UUID",
                 p->file, d->line, kid, shown(sys, b));
        return -EBADMSG;
    }
    if (!(d->system = drm_of(d->system_id))) {
        PK_ERROR("%s:%u: DRMSystem for KID %s: unknown systemId %s (known: Widevine, "
                 "PlayReady, FairPlay, ClearKey, W3C common)", p->file, d->line, kid,
                 cr_uuid_format(d->system_id, u));
        return -EBADMSG;
    }
    snprintf(what, sizeof what, "DRMSystem %s for KID %s", cr_drm_name(d->system),
             cr_uuid_format(d->kid, u));
    for (xmlNode *c = el->children; c; c = c->next)
        x.hls_cap += is_el(c, "HLSSignalingData");
    if (x.hls_cap && !(x.hls = arena_calloc(p->a, x.hls_cap, sizeof *x.hls)))
        return -ENOMEM;
    d->hls = x.hls;
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) {
        xmlNode *c = next_el(el->children, once[i]);
        if (c && next_el(c->next, once[i])) {
            PK_ERROR("%s:%u: %s: more than one %s", p->file, pk_xml_line(c), what, once[i]);
            return -EBADMSG;
        }
    }
    /* HDSSignalingData and elements of other namespaces are not ours: skipped */
    for (xmlNode *c = el->children; c; c = c->next) {
        if (is_el(c, "PSSH"))
            rc = drm_pssh(&x, c);
        else if (is_el(c, "ContentProtectionData"))
            rc = drm_content_protection(&x, c);
        else if (is_el(c, "HLSSignalingData"))
            rc = drm_hls(&x, c);
        else if (is_el(c, "SmoothStreamingProtectionHeaderData"))
            rc = drm_smooth(&x, c);
        else if (is_el(c, "URIExtXKey"))
            rc = drm_uri(&x, c);
        else
            rc = 0;
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0 && !first)
            first = rc;
    }
    return first;
}

/* ---- ContentKeyUsageRule ---------------------------------------------------------------- */

/* Reads a filter's [min, max] from attributes lo and hi. */
static int read_range(ps_t *p, const xmlNode *f, const char *kid, const char *lo,
                      const char *hi, cr_range_t *r)
{
    const char *v[2];
    const char *names[2] = { lo, hi };
    uint32_t *dst[2] = { &r->min, &r->max };
    char b[48];
    int rc;

    r->min = 0;
    r->max = UINT32_MAX;
    for (int i = 0; i < 2; i++) {
        if ((rc = get_attr(p, f, names[i], &v[i])) < 0)
            return rc;
        if (v[i] && parse_u32(v[i], dst[i]) < 0) {
            PK_ERROR("%s:%u: ContentKeyUsageRule for KID %s: %s@%s \"%s\" is not a number "
                     "in 0..4294967295", p->file, pk_xml_line(f), kid, f->name, names[i],
                     shown(v[i], b));
            return -EBADMSG;
        }
    }
    return 0;
}

static int parse_rule(ps_t *p, xmlNode *el, cr_rule_t *r)
{
    static const char *const video_unsupported[] = { "hdr", "wcg", "minFps", "maxFps" };
    uint32_t nv = 0, na = 0, nb = 0;
    cr_range_t *video = NULL, *audio = NULL, *bitrate = NULL;
    const char *kid;
    char b[48], why[96];
    int rc;

    r->line = pk_xml_line(el);
    if ((rc = get_attr(p, el, "kid", &kid)) < 0 ||
        (rc = get_attr(p, el, "intendedTrackType", &r->intended_track_type)) < 0)
        return rc;
    if (!kid || cr_uuid_parse(kid, r->kid) < 0) {
        PK_ERROR("%s:%u: ContentKeyUsageRule kid \"%s\" is not a UUID", p->file, r->line,
                 shown(kid, b));
        return -EBADMSG;
    }
    for (xmlNode *c = el->children; c; c = c->next) {
        nv += is_el(c, "VideoFilter");
        na += is_el(c, "AudioFilter");
        nb += is_el(c, "BitrateFilter");
    }
    if ((nv && !(video = arena_calloc(p->a, nv, sizeof *video))) ||
        (na && !(audio = arena_calloc(p->a, na, sizeof *audio))) ||
        (nb && !(bitrate = arena_calloc(p->a, nb, sizeof *bitrate))))
        return -ENOMEM;
    r->video = video;
    r->audio = audio;
    r->bitrate = bitrate;
    why[0] = '\0';
    for (xmlNode *c = el->children; c; c = c->next) {
        const char *v;
        if (c->type != XML_ELEMENT_NODE)
            continue;
        rc = 0;
        if (is_el(c, "VideoFilter")) {
            rc = read_range(p, c, kid, "minPixels", "maxPixels", &video[r->video_count++]);
            for (size_t i = 0; i < 4 && rc == 0; i++)
                if ((rc = get_attr(p, c, video_unsupported[i], &v)) == 0 && v && !why[0])
                    snprintf(why, sizeof why, "VideoFilter@%s is not supported",
                             video_unsupported[i]);
        } else if (is_el(c, "AudioFilter")) {
            rc = read_range(p, c, kid, "minChannels", "maxChannels", &audio[r->audio_count++]);
        } else if (is_el(c, "BitrateFilter")) {
            rc = read_range(p, c, kid, "minBitrate", "maxBitrate", &bitrate[r->bitrate_count++]);
        } else if (!why[0]) {
            /* KeyPeriodFilter (key rotation), LabelFilter (pre-agreed labels we do not
             * have) and proprietary filters: CPIX makes the rule unusable */
            snprintf(why, sizeof why, "%s%s is not supported",
                     is_el(c, "KeyPeriodFilter") || is_el(c, "LabelFilter") ? "" : "filter ",
                     shown((const char *)c->name, b));
        }
        if (rc < 0)
            return rc;
    }
    if (why[0] && !(r->unusable = arena_strdup(p->a, why)))
        return -ENOMEM;
    return 0;
}

/* ---- document --------------------------------------------------------------------------- */

typedef struct {
    cr_key_t *keys;
    uint32_t n;
} wipe_t;

static void wipe_keys(void *arg)
{
    wipe_t *w = arg;
    explicit_bzero(w->keys, (size_t)w->n * sizeof *w->keys);
}

/* Children `item` of every list element `list` under root. */
static uint32_t count_items(xmlNode *root, const char *list, const char *item)
{
    uint32_t n = 0;

    for (xmlNode *l = next_el(root->children, list); l; l = next_el(l->next, list))
        for (xmlNode *c = next_el(l->children, item); c; c = next_el(c->next, item))
            n++;
    return n;
}

static int parse_doc(ps_t *p, xmlNode *root, cr_cpix_t *c)
{
    uint32_t nk, nd, nr;
    cr_key_t *keys;
    cr_drm_system_t *drm = NULL;
    cr_rule_t *rules = NULL;
    wipe_t *w;
    char b[48];
    int rc;

    if (!is_el(root, "CPIX")) {
        PK_ERROR("%s:%u: root element is <%s>, not <CPIX> (urn:dashif:org:cpix)", p->file,
                 root ? pk_xml_line(root) : 1, root ? shown((const char *)root->name, b) : "");
        return -EBADMSG;
    }
    if ((rc = get_attr(p, root, "contentId", &c->content_id)) < 0 ||
        (rc = get_attr(p, root, "version", &c->version)) < 0)
        return rc;
    if (c->version && strncmp(c->version, "2.", 2) != 0) {
        PK_ERROR("%s:%u: CPIX version \"%s\" is not supported (2.x)", p->file, pk_xml_line(root),
                 shown(c->version, b));
        return -ENOTSUP;
    }
    if (next_el(root->children, "DeliveryDataList")) {
        PK_ERROR("%s:%u: encrypted CPIX documents (DeliveryDataList) are not supported, "
                 "give the content keys as pskc:PlainValue", p->file,
                 pk_xml_line(next_el(root->children, "DeliveryDataList")));
        return -ENOTSUP;
    }
    if ((nk = count_items(root, "ContentKeyList", "ContentKey")) == 0) {
        PK_ERROR("%s:%u: the document has no ContentKey", p->file, pk_xml_line(root));
        return -EBADMSG;
    }
    nd = count_items(root, "DRMSystemList", "DRMSystem");
    nr = count_items(root, "ContentKeyUsageRuleList", "ContentKeyUsageRule");
    if (!(keys = arena_calloc(p->a, nk, sizeof *keys)) || !(w = arena_alloc(p->a, sizeof *w)))
        return -ENOMEM;
    w->keys = keys;
    w->n = nk;
    if (arena_defer(p->a, wipe_keys, w) < 0)
        return -ENOMEM;
    if ((nd && !(drm = arena_calloc(p->a, nd, sizeof *drm))) ||
        (nr && !(rules = arena_calloc(p->a, nr, sizeof *rules))))
        return -ENOMEM;
    c->keys = keys;
    c->drm = drm;
    c->rules = rules;

    /* every element is read, so that every problem gets its line */
    for (xmlNode *l = next_el(root->children, "ContentKeyList"); l;
         l = next_el(l->next, "ContentKeyList"))
        for (xmlNode *e = next_el(l->children, "ContentKey"); e; e = next_el(e->next, "ContentKey"))
            if (note(p, parse_key(p, e, &keys[c->key_count++])) == -ENOMEM)
                return -ENOMEM;
    for (xmlNode *l = next_el(root->children, "DRMSystemList"); l;
         l = next_el(l->next, "DRMSystemList"))
        for (xmlNode *e = next_el(l->children, "DRMSystem"); e; e = next_el(e->next, "DRMSystem"))
            if (note(p, parse_drm(p, e, &drm[c->drm_count++])) == -ENOMEM)
                return -ENOMEM;
    for (xmlNode *l = next_el(root->children, "ContentKeyUsageRuleList"); l;
         l = next_el(l->next, "ContentKeyUsageRuleList"))
        for (xmlNode *e = next_el(l->children, "ContentKeyUsageRule"); e;
             e = next_el(e->next, "ContentKeyUsageRule"))
            if (note(p, parse_rule(p, e, &rules[c->rule_count++])) == -ENOMEM)
                return -ENOMEM;
    if (p->rc)
        return p->rc;
    return cr_cpix_check(c);
}

int cr_cpix_parse(const char *xml, size_t len, const char *name, arena_t *a, cr_cpix_t **out)
{
    ps_t p = { name, a, 0 };
    pk_xml_err_t err = { 0 };
    cr_cpix_t *c;
    xmlDocPtr doc;
    int rc, nomem;

    if (len > INT_MAX) {
        PK_ERROR("%s: %zu bytes, too large for a CPIX document", name, len);
        return -EBADMSG;
    }
    if (!(c = arena_zalloc(a, sizeof *c)) || !(c->name = arena_strdup(a, name)))
        return -ENOMEM;
    p.file = c->name;
    if (!(doc = pk_xml_read(xml, len, name, &err, &nomem))) {
        if (nomem)
            return -ENOMEM;
        PK_ERROR("%s:%d: not well-formed XML: %s", name, err.code ? err.line : 1,
                 err.code ? err.msg : "document is empty");
        return -EBADMSG;
    }
    rc = parse_doc(&p, xmlDocGetRootElement(doc), c);
    wipe_secrets(xmlDocGetRootElement(doc));
    xmlFreeDoc(doc);
    if (rc < 0)
        return rc;
    *out = c;
    return 0;
}

/* ---- checks and lookups ----------------------------------------------------------------- */

const cr_key_t *cr_cpix_key(const cr_cpix_t *c, const uint8_t kid[16])
{
    for (uint32_t i = 0; i < c->key_count; i++)
        if (memcmp(c->keys[i].kid, kid, 16) == 0)
            return &c->keys[i];
    return NULL;
}

const cr_drm_system_t *cr_cpix_drm(const cr_cpix_t *c, const uint8_t kid[16], cr_drm_t system)
{
    for (uint32_t i = 0; i < c->drm_count; i++)
        if (c->drm[i].system == system && memcmp(c->drm[i].kid, kid, 16) == 0)
            return &c->drm[i];
    return NULL;
}

int cr_cpix_check(const cr_cpix_t *c)
{
    char u[CR_UUID_STR_SIZE];
    int rc = 0;

    if (c->key_count == 0) {
        PK_ERROR("%s: the document has no ContentKey", c->name);
        rc = -EBADMSG;
    }
    for (uint32_t i = 0; i < c->key_count; i++) {
        const cr_key_t *k = &c->keys[i];
        if (cr_cpix_key(c, k->kid) != k) {
            PK_ERROR("%s:%u: ContentKey %s: a second ContentKey with this kid (line %u)",
                     c->name, k->line, cr_uuid_format(k->kid, u), cr_cpix_key(c, k->kid)->line);
            rc = -EBADMSG;
        }
    }
    for (uint32_t i = 0; i < c->drm_count; i++) {
        const cr_drm_system_t *d = &c->drm[i], *first = cr_cpix_drm(c, d->kid, d->system);
        if (!cr_cpix_key(c, d->kid)) {
            PK_ERROR("%s:%u: DRMSystem %s for KID %s: no ContentKey has this kid", c->name,
                     d->line, cr_drm_name(d->system), cr_uuid_format(d->kid, u));
            rc = -EBADMSG;
        }
        if (first != d) {
            PK_ERROR("%s:%u: DRMSystem %s for KID %s: a second one for this system and key "
                     "(line %u)", c->name, d->line, cr_drm_name(d->system),
                     cr_uuid_format(d->kid, u), first->line);
            rc = -EBADMSG;
        }
    }
    for (uint32_t i = 0; i < c->rule_count; i++) {
        const cr_rule_t *r = &c->rules[i];
        if (!cr_cpix_key(c, r->kid)) {
            PK_ERROR("%s:%u: ContentKeyUsageRule for KID %s: no ContentKey has this kid",
                     c->name, r->line, cr_uuid_format(r->kid, u));
            rc = -EBADMSG;
        }
    }
    return rc;
}

/* ---- key choice ------------------------------------------------------------------------- */

static int in_any(const cr_range_t *r, uint32_t n, uint64_t v)
{
    for (uint32_t i = 0; i < n; i++)
        if (v >= r[i].min && v <= r[i].max)
            return 1;
    return 0;
}

static int rule_matches(const cr_rule_t *r, pk_track_type_t type, uint64_t pixels,
                        uint32_t channels, uint32_t bitrate)
{
    /* Video and Audio filters form one "track type" kind, ORed (see cpix.h) */
    if (r->video_count || r->audio_count) {
        int video = type == PK_TRACK_VIDEO && in_any(r->video, r->video_count, pixels);
        int audio = type == PK_TRACK_AUDIO && in_any(r->audio, r->audio_count, channels);
        if (!video && !audio)
            return 0;
    }
    return !r->bitrate_count || in_any(r->bitrate, r->bitrate_count, bitrate);
}

int cr_cpix_key_for(const cr_cpix_t *c, pk_track_type_t type, uint32_t width, uint32_t height,
                     uint32_t channels, uint32_t bitrate, const cr_key_t **out)
{
    uint64_t pixels = (uint64_t)width * height;
    const cr_rule_t *match = NULL;
    const cr_key_t *key;
    char track[96], u[CR_UUID_STR_SIZE], v[CR_UUID_STR_SIZE];

    if (type == PK_TRACK_VIDEO)
        snprintf(track, sizeof track, "video %ux%u at %u b/s", width, height, bitrate);
    else if (type == PK_TRACK_AUDIO)
        snprintf(track, sizeof track, "audio with %u channels at %u b/s", channels, bitrate);
    else
        snprintf(track, sizeof track, "%s track at %u b/s", pk_track_type_name(type), bitrate);
    if (c->rule_count == 0) {
        if (c->key_count == 1) {
            *out = &c->keys[0];
            return 0;
        }
        PK_ERROR("%s: no content key for %s: %u ContentKeys and no ContentKeyUsageRule",
                 c->name, track, c->key_count);
        return -ENOKEY;
    }
    for (uint32_t i = 0; i < c->rule_count; i++) {
        const cr_rule_t *r = &c->rules[i];
        if (r->unusable) {
            PK_ERROR("%s:%u: no content key for %s: ContentKeyUsageRule for KID %s is unusable "
                     "(%s), and CPIX forbids mapping keys while a rule is unusable", c->name,
                     r->line, track, cr_uuid_format(r->kid, u), r->unusable);
            return -ENOKEY;
        }
    }
    for (uint32_t i = 0; i < c->rule_count; i++) {
        const cr_rule_t *r = &c->rules[i];
        if (!rule_matches(r, type, pixels, channels, bitrate))
            continue;
        if (match && memcmp(match->kid, r->kid, 16) != 0) {
            PK_ERROR("%s: %s matches ContentKeyUsageRules of two keys: KID %s (line %u) and "
                     "KID %s (line %u)", c->name, track, cr_uuid_format(match->kid, u),
                     match->line, cr_uuid_format(r->kid, v), r->line);
            return -EBADMSG;
        }
        match = match ? match : r;
    }
    if (!match) {
        PK_ERROR("%s: no content key for %s: no ContentKeyUsageRule matches it", c->name, track);
        return -ENOKEY;
    }
    if (!(key = cr_cpix_key(c, match->kid))) {      /* only for documents built in code */
        PK_ERROR("%s:%u: ContentKeyUsageRule for KID %s: no ContentKey has this kid",
                 c->name, match->line, cr_uuid_format(match->kid, u));
        return -EBADMSG;
    }
    *out = key;
    return 0;
}
