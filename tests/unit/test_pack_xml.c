/* Reading XML safely and quietly (pack/xml.c). The readers built on it (.ism, CPIX)
 * have their own tests; these pin the shared behaviour. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "../../pack/xml.c"

static void test_reads_and_lines(void **state)
{
    (void)state;
    static const char doc[] = "<a>\n <b/>\n\n <c x='1'/>\n</a>";
    pk_xml_err_t err = { 0 };
    int nomem;
    xmlDocPtr d = pk_xml_read(doc, sizeof doc - 1, "t.xml", &err, &nomem);
    assert_non_null(d);
    xmlNode *a = xmlDocGetRootElement(d), *c = a->children;
    while (c && !(c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, "c") == 0))
        c = c->next;
    assert_non_null(c);
    CHECK(pk_xml_line(a) == 1 && pk_xml_line(c) == 4);
    xmlFreeDoc(d);
}

static void test_line_past_65535(void **state)
{
    (void)state;
    size_t n = 70000;
    char *doc = malloc(n + 32);
    size_t len = (size_t)sprintf(doc, "<a>");
    memset(doc + len, '\n', n);
    len += n;
    len += (size_t)sprintf(doc + len, "<b/></a>");
    pk_xml_err_t err = { 0 };
    int nomem;
    xmlDocPtr d = pk_xml_read(doc, len, "big.xml", &err, &nomem);
    assert_non_null(d);
    xmlNode *b = xmlDocGetRootElement(d)->children;
    while (b && b->type != XML_ELEMENT_NODE)
        b = b->next;
    CHECK(pk_xml_line(b) == 70001);
    xmlFreeDoc(d);
    free(doc);
}

static void test_errors_captured_not_printed(void **state)
{
    (void)state;
    static const char bad[] = "<a>\n<b></a>";
    pk_xml_err_t err = { 0 };
    int nomem = 1;
    fflush(stderr);
    FILE *saved = stderr;
    stderr = tmpfile();
    xmlDocPtr d = pk_xml_read(bad, sizeof bad - 1, "bad.xml", &err, &nomem);
    long printed = ftell(stderr);
    fclose(stderr);
    stderr = saved;
    CHECK(d == NULL && !nomem && err.code != 0 && err.line == 2 && *err.msg);
    CHECK(printed == 0);
    err = (pk_xml_err_t){ 0 };
    CHECK(pk_xml_read("", 0, "empty.xml", &err, &nomem) == NULL && !nomem);
}

static void test_no_entity_expansion(void **state)
{
    (void)state;
    static const char bomb[] =
        "<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'>"
        "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
        "<!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>]><l>&d;</l>";
    pk_xml_err_t err = { 0 };
    int nomem;
    xmlDocPtr d = pk_xml_read(bomb, sizeof bomb - 1, "bomb.xml", &err, &nomem);
    if (d) {
        /* kept as an entity reference, never substituted into text */
        xmlNode *l = xmlDocGetRootElement(d);
        CHECK(l->children && l->children->type == XML_ENTITY_REF_NODE);
        xmlFreeDoc(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_and_lines),
        cmocka_unit_test(test_line_past_65535),
        cmocka_unit_test(test_errors_captured_not_printed),
        cmocka_unit_test(test_no_entity_expansion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
