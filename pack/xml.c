/*
 * libxml2, hardened and quiet, for every XML document ismfs reads (.ism, CPIX).
 *
 * Safety: entities are never substituted (no XML_PARSE_NOENT), no DTD is loaded
 * (no XML_PARSE_DTDLOAD/DTDATTR), nothing is fetched (XML_PARSE_NONET), and libxml2's
 * size limits stay on (no XML_PARSE_HUGE): libxml2 stops entity-expansion bombs itself.
 *
 * Threads: nothing global is touched per call. libxml2 2.9 has no xmlCtxtSetErrorHandler,
 * and xmlSetStructuredErrorFunc() is process-wide, so errors are caught by setting
 * `serror` in the SAX handler that xmlNewParserCtxt() copies into each context (libxml2
 * calls it in preference to any global handler); XML_PARSE_NOERROR/NOWARNING clear the
 * context's printing handlers. The state the handler fills rides in ctxt->_private.
 */
#include "xml.h"

#include <stdio.h>
#include <string.h>

#include <libxml/SAX2.h>

#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg_t;
#else
typedef xmlErrorPtr xml_error_arg_t;
#endif

/* The first fatal error, else the first error. ctx is ctxt->userData: the context. */
static void on_xml_error(void *ctx, xml_error_arg_t e)
{
    pk_xml_err_t *err = ((xmlParserCtxtPtr)ctx)->_private;
    int fatal = e->level == XML_ERR_FATAL;

    if (e->level < XML_ERR_ERROR || (err->code && (err->fatal || !fatal)))
        return;
    err->code = e->code ? e->code : XML_ERR_INTERNAL_ERROR;
    err->fatal = fatal;
    err->line = e->line;
    snprintf(err->msg, sizeof err->msg, "%s", e->message ? e->message : "unknown error");
    err->msg[strcspn(err->msg, "\n")] = '\0';
}

/* libxml2 keeps an element's line in an unsigned short (65535 at most); keep the real
 * one in the node's application pointer as each element opens. */
static void on_start_element(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                             const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                             int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = ctx;
    xmlNodePtr parent = ctxt->node;

    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces,
                          nb_attributes, nb_defaulted, attributes);
    if (ctxt->node && ctxt->node != parent && ctxt->input && ctxt->input->line > 0)
        ctxt->node->_private = (void *)(uintptr_t)ctxt->input->line;
}

uint32_t pk_xml_line(const xmlNode *n)
{
    long l;

    if (n->_private)
        return (uint32_t)(uintptr_t)n->_private;
    l = xmlGetLineNo(n);
    return l > 0 && l <= (long)UINT32_MAX ? (uint32_t)l : 0;
}

xmlDocPtr pk_xml_read(const char *xml, size_t len, const char *name, pk_xml_err_t *err,
                      int *nomem)
{
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;

    *nomem = 0;
    xmlInitParser();            /* once per process; a no-op after the first call */
    if (!(ctxt = xmlNewParserCtxt())) {
        *nomem = 1;
        return NULL;
    }
    ctxt->_private = err;
    ctxt->sax->serror = on_xml_error;
    ctxt->sax->startElementNs = on_start_element;
    doc = xmlCtxtReadMemory(ctxt, len ? xml : "", (int)len, name, "UTF-8", XML_OPTIONS);
    if (!doc && err->code == XML_ERR_NO_MEMORY)
        *nomem = 1;
    xmlFreeParserCtxt(ctxt);
    return doc;
}
