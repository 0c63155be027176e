/* Reading generated XML back with libxml2 (XPath), for the manifest writers' unit tests
 * (test_pack_mpd.c, test_pack_smooth.c, test_pack_filter.c). libxml2 is the oracle: the
 * text is parsed as any client would, never compared to the writer's own output.
 * static inline, so a test that uses part of it compiles without unused warnings. */
#ifndef TEST_XML_READ_H
#define TEST_XML_READ_H

#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

typedef struct {
    xmlDocPtr doc;
    xmlXPathContextPtr xp;
} xml_t;

/* Parses text (no network); the prefix d: names the DASH MPD namespace. */
static inline xml_t xml_parse(const char *text)
{
    xml_t x;
    x.doc = xmlReadMemory(text, (int)strlen(text), "out.xml", NULL, XML_PARSE_NONET);
    assert_non_null(x.doc);
    x.xp = xmlXPathNewContext(x.doc);
    xmlXPathRegisterNs(x.xp, BAD_CAST "d", BAD_CAST "urn:mpeg:dash:schema:mpd:2011");
    return x;
}

static inline void xml_free(xml_t *x)
{
    xmlXPathFreeContext(x->xp);
    xmlFreeDoc(x->doc);
}

/* The XPath string() of expr, in a static buffer (one at a time). */
static inline const char *xml_str(xml_t *x, const char *expr)
{
    static char out[512];
    char q[512];
    snprintf(q, sizeof q, "string(%s)", expr);
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST q, x->xp);
    assert_non_null(o);
    snprintf(out, sizeof out, "%s", o->stringval ? (const char *)o->stringval : "");
    xmlXPathFreeObject(o);
    return out;
}

/* The number an XPath expression gives (NaN when none). */
static inline double xml_num(xml_t *x, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, x->xp);
    assert_non_null(o);
    double d = xmlXPathCastToNumber(o);
    xmlXPathFreeObject(o);
    return d;
}

/* The one node expr selects (fails the test unless exactly one). */
static inline xmlNodePtr xml_node(xml_t *x, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, x->xp);
    assert_non_null(o);
    xmlNodePtr n = o->nodesetval && o->nodesetval->nodeNr == 1 ? o->nodesetval->nodeTab[0] : NULL;
    xmlXPathFreeObject(o);
    assert_non_null(n);
    return n;
}

/* Attribute name of n as a decimal number, dflt when absent. */
static inline uint64_t xml_attr_u64(xmlNodePtr n, const char *name, uint64_t dflt)
{
    xmlChar *s = xmlGetProp(n, BAD_CAST name);
    uint64_t v = s ? strtoull((const char *)s, NULL, 10) : dflt;
    xmlFree(s);
    return v;
}

#endif
