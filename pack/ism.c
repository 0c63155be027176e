/*
 * .ism reader. libxml2 builds a tree (pack/xml.c: hardened, quiet); we walk it and copy
 * what we keep into the arena. A user-defined entity that survives in an attribute we
 * read is refused rather than expanded, so no value can be amplified.
 */
#include "ism.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "log.h"
#include "xml.h"

/* Elements are matched by local name, in the SMIL namespace or none (or any). */
static int is_el(const xmlNode *n, const char *local)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local) == 0;
}

/* n or its first following sibling that is element `local`, or NULL. */
static const xmlNode *next_el(const xmlNode *n, const char *local)
{
    while (n && !is_el(n, local))
        n = n->next;
    return n;
}

static uint32_t count_el(const xmlNode *parent, const char *local)
{
    uint32_t n = 0;

    for (const xmlNode *c = next_el(parent->children, local); c; c = next_el(c->next, local))
        n++;
    return n;
}

static pk_track_type_t media_type(const xmlNode *n)
{
    if (is_el(n, "video"))
        return PK_TRACK_VIDEO;
    if (is_el(n, "audio"))
        return PK_TRACK_AUDIO;
    if (is_el(n, "textstream"))
        return PK_TRACK_TEXT;
    return 0;                   /* <ref> and anything else: not ours, skipped */
}

/*
 * Attribute `name` of el (any namespace), copied into the arena; NULL when absent.
 * Predefined and character references are already replaced by the parser; a reference
 * to a DTD-declared entity is left as a node (we never substitute) and refused here.
 */
static int get_attr(const char *file, const xmlNode *el, const char *name, arena_t *a,
                    const char **out)
{
    const xmlAttr *p = el->properties;
    size_t len = 0;
    char *s, *d;

    while (p && strcmp((const char *)p->name, name) != 0)
        p = p->next;
    if (!p) {
        *out = NULL;
        return 0;
    }
    for (const xmlNode *t = p->children; t; t = t->next) {
        if (t->type != XML_TEXT_NODE) {
            PK_ERROR("%s:%u: <%s> %s uses entity &%s;, entities are not supported",
                     file, pk_xml_line(el), el->name, name, t->name);
            return -EBADMSG;
        }
        len += t->content ? strlen((const char *)t->content) : 0;
    }
    if (!(s = d = arena_alloc(a, len + 1)))
        return -ENOMEM;
    for (const xmlNode *t = p->children; t; t = t->next) {
        size_t k = t->content ? strlen((const char *)t->content) : 0;
        memcpy(d, t->content, k);
        d += k;
    }
    *d = '\0';
    *out = s;
    return 0;
}

/* A positive decimal number that fits 32 bits: digits only, no sign, no blanks. */
static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;

    if (!*s)
        return -EBADMSG;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EBADMSG;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return -EBADMSG;
    }
    if (v == 0)
        return -EBADMSG;
    *out = (uint32_t)v;
    return 0;
}

/* Why src may not name a file below the .ism's directory, or NULL when it may. A NUL
 * cannot reach us: XML forbids the character, so the parser refuses it. */
static const char *bad_src(const char *s)
{
    if (!*s)
        return "is empty";
    if (*s == '/')
        return "is absolute";
    if (strchr(s, '\\'))
        return "contains a backslash";
    for (const char *c = s; *c; ) {
        size_t k = strcspn(c, "/");
        if (k == 2 && c[0] == '.' && c[1] == '.')
            return "has a \"..\" component";
        c += k + (c[k] == '/');
    }
    return NULL;
}

/* One <param name value> or <meta name content>: 1 when kept, 0 when nameless (skipped). */
static int read_pair(const char *file, const xmlNode *n, const char *key, const char *val,
                     arena_t *a, pk_ism_param_t *p)
{
    const char *k, *v;
    int rc;

    if ((rc = get_attr(file, n, key, a, &k)) < 0 || (rc = get_attr(file, n, val, a, &v)) < 0)
        return rc;
    if (!k) {
        PK_WARN("%s:%u: <%s> has no %s, ignored", file, pk_xml_line(n), n->name, key);
        return 0;
    }
    p->name = k;
    p->value = v ? v : "";
    return 1;
}

static int parse_meta(const char *file, const xmlNode *head, arena_t *a, pk_ism_t *ism)
{
    uint32_t count = count_el(head, "meta");
    pk_ism_param_t *meta;
    int rc;

    if (count == 0)
        return 0;
    if (!(meta = arena_calloc(a, count, sizeof *meta)))
        return -ENOMEM;
    for (const xmlNode *c = next_el(head->children, "meta"); c; c = next_el(c->next, "meta")) {
        if ((rc = read_pair(file, c, "name", "content", a, &meta[ism->meta_count])) < 0)
            return rc;
        ism->meta_count += (uint32_t)rc;
    }
    ism->meta = meta;
    return 0;
}

static int parse_entry(const char *file, const xmlNode *el, arena_t *a, pk_ism_entry_t *e)
{
    uint32_t count = count_el(el, "param");
    const char *br, *id = NULL, *why;
    const xmlNode *br_at = el, *id_at = NULL;
    pk_ism_param_t *params = NULL;
    int rc;

    e->type = media_type(el);
    e->line = pk_xml_line(el);
    if ((rc = get_attr(file, el, "src", a, &e->src)) < 0 ||
        (rc = get_attr(file, el, "systemBitrate", a, &br)) < 0 ||
        (rc = get_attr(file, el, "systemLanguage", a, &e->language)) < 0 ||
        (rc = get_attr(file, el, "title", a, &e->title)) < 0)
        return rc;
    if (!e->src) {
        PK_ERROR("%s:%u: <%s> has no src", file, e->line, el->name);
        return -EBADMSG;
    }
    if ((why = bad_src(e->src))) {
        PK_ERROR("%s:%u: <%s> src \"%s\" %s", file, e->line, el->name, e->src, why);
        return -EBADMSG;
    }
    if (count && !(params = arena_calloc(a, count, sizeof *params)))
        return -ENOMEM;
    for (const xmlNode *c = next_el(el->children, "param"); c; c = next_el(c->next, "param")) {
        pk_ism_param_t *p = &params[e->param_count];
        if ((rc = read_pair(file, c, "name", "value", a, p)) < 0)
            return rc;
        if (rc == 0)
            continue;
        e->param_count++;
        /* attributes win over params; of several params of one name, the first */
        if (!br && strcasecmp(p->name, "systemBitrate") == 0) {
            br = p->value;
            br_at = c;
        } else if (!e->language && strcasecmp(p->name, "systemLanguage") == 0) {
            e->language = p->value;
        } else if (!id && strcasecmp(p->name, "trackID") == 0) {
            id = p->value;
            id_at = c;
        } else if (!e->track_name && strcasecmp(p->name, "trackName") == 0) {
            e->track_name = p->value;
        }
    }
    e->params = params;
    if (br && parse_u32(br, &e->system_bitrate) < 0) {
        PK_ERROR("%s:%u: <%s> systemBitrate \"%s\" is not a positive 32-bit decimal number",
                 file, pk_xml_line(br_at), el->name, br);
        return -EBADMSG;
    }
    if (id && parse_u32(id, &e->track_id) < 0) {
        PK_ERROR("%s:%u: <%s> trackID \"%s\" is not a positive 32-bit decimal number",
                 file, pk_xml_line(id_at), el->name, id);
        return -EBADMSG;
    }
    return 0;
}

static int parse_doc(const char *file, const xmlDoc *doc, arena_t *a, pk_ism_t **out)
{
    const xmlNode *root = xmlDocGetRootElement(doc), *head, *body, *sw;
    pk_ism_entry_t *entries;
    pk_ism_t *ism;
    uint32_t count = 0;
    int rc;

    if (!is_el(root, "smil")) {
        PK_ERROR("%s:%u: root element is <%s>, not <smil>", file,
                 root ? pk_xml_line(root) : 1, root ? (const char *)root->name : "");
        return -EBADMSG;
    }
    body = next_el(root->children, "body");
    if (!(sw = body ? next_el(body->children, "switch") : NULL)) {
        PK_ERROR("%s:%u: <smil> has no <body><switch>", file, pk_xml_line(body ? body : root));
        return -EBADMSG;
    }
    if (!(ism = arena_zalloc(a, sizeof *ism)))
        return -ENOMEM;
    if ((head = next_el(root->children, "head")) && (rc = parse_meta(file, head, a, ism)) < 0)
        return rc;
    /* SMIL allows several <switch>; AMS writes one. Take them all, in order. */
    for (const xmlNode *s = sw; s; s = next_el(s->next, "switch"))
        for (const xmlNode *c = s->children; c; c = c->next)
            count += media_type(c) != 0;
    if (count == 0) {
        PK_ERROR("%s:%u: <switch> has no <video>, <audio> or <textstream>", file, pk_xml_line(sw));
        return -ENOENT;
    }
    if (!(entries = arena_calloc(a, count, sizeof *entries)))
        return -ENOMEM;
    for (const xmlNode *s = sw; s; s = next_el(s->next, "switch"))
        for (const xmlNode *c = s->children; c; c = c->next)
            if (media_type(c) && (rc = parse_entry(file, c, a, &entries[ism->entry_count++])) < 0)
                return rc;
    ism->entries = entries;
    *out = ism;
    return 0;
}

int pk_ism_parse(const char *xml, size_t len, const char *name, arena_t *a, pk_ism_t **out)
{
    pk_xml_err_t err = { 0 };
    xmlDocPtr doc;
    int rc, nomem;

    if (len > INT_MAX) {
        PK_ERROR("%s: %zu bytes, too large for a server manifest", name, len);
        return -EBADMSG;
    }
    doc = pk_xml_read(xml, len, name, &err, &nomem);
    if (!doc) {
        if (nomem) {
            rc = -ENOMEM;
        } else {
            PK_ERROR("%s:%d: not well-formed XML: %s", name, err.code ? err.line : 1,
                     err.code ? err.msg : "document is empty");
            rc = -EBADMSG;
        }
    } else {
        rc = parse_doc(name, doc, a, out);
    }
    xmlFreeDoc(doc);
    return rc;
}

const char *pk_ism_param(const pk_ism_entry_t *e, const char *name)
{
    for (uint32_t i = 0; i < e->param_count; i++)
        if (strcasecmp(e->params[i].name, name) == 0)
            return e->params[i].value;
    return NULL;
}
