/*
 * XML documents read safely (pack/xml.c): no entity substitution, no DTD, no network,
 * errors captured per call instead of printed, real line numbers past 65535.
 */
#ifndef PK_XML_H
#define PK_XML_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

/* What libxml2 reported: the first fatal error, else the first error. */
typedef struct {
    int code;                   /* xmlParserErrors, 0 when none */
    int fatal;
    int line;
    char msg[256];              /* the first line of the message */
} pk_xml_err_t;

/*
 * Reads xml[0..len) as UTF-8 (an encoding declaration is ignored, a BOM skipped, bytes
 * that are not UTF-8 are an error). Returns the tree (the caller frees it with xmlFreeDoc),
 * or NULL with *err filled (code 0: an empty document) and *nomem set when the cause was
 * memory. `name` only labels libxml2's messages. Logs nothing.
 */
xmlDocPtr pk_xml_read(const char *xml, size_t len, const char *name, pk_xml_err_t *err,
                      int *nomem);

/* The line where element n starts in its document (0 when unknown). */
uint32_t pk_xml_line(const xmlNode *n);

#endif
