/* Filter files (fs/filters.c): every accepted JSON shape, bad files, limits, the cache. */
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../fs/filters.c"

/* ---- parsing ------------------------------------------------------------------ */

static char why[256];

/* Parses text into a fresh arena (*a, freed by the caller). */
static int parse(const char *text, arena_t **a, pk_filter_t **f, uint32_t *n)
{
    *a = arena_new();
    assert_non_null(*a);
    why[0] = '\0';
    return fs_filters_parse(text, strlen(text), *a, f, n, why, sizeof why);
}

static const pk_filter_t *named(const pk_filter_t *f, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return &f[i];
    return NULL;
}

/* The documented REST v3 resource (notes §3.1), wrapped in "properties", in an array. */
static void test_wrapped_array(void **state)
{
    (void)state;
    arena_t *a;
    pk_filter_t *f;
    uint32_t n;
    const char *text =
        "[{\"name\": \"trimAndHd\", \"id\": \"/subscriptions/x/assetFilters/trimAndHd\","
        "  \"type\": \"Microsoft.Media/mediaservices/assets/assetFilters\","
        "  \"properties\": {"
        "    \"presentationTimeRange\": {\"startTimestamp\": 100000000,"
        "      \"endTimestamp\": 1800000000, \"presentationWindowDuration\": 9223372036854775807,"
        "      \"liveBackoffDuration\": 0, \"timescale\": 10000000, \"forceEndTimestamp\": false},"
        "    \"firstQuality\": {\"bitrate\": 1500000},"
        "    \"tracks\": ["
        "      {\"trackSelections\": ["
        "        {\"property\": \"Type\", \"operation\": \"Equal\", \"value\": \"Audio\"},"
        "        {\"property\": \"Language\", \"operation\": \"Equal\", \"value\": \"en\"}]},"
        "      {\"trackSelections\": ["
        "        {\"property\": \"Type\", \"operation\": \"Equal\", \"value\": \"Video\"},"
        "        {\"property\": \"Bitrate\", \"operation\": \"Equal\","
        "         \"value\": \"1000000-5000000\"}]}]}},"
        " {\"name\": \"all\", \"properties\": {}}]";
    CHECK(parse(text, &a, &f, &n) == 0);
    CHECK(n == 2);
    const pk_filter_t *t = named(f, n, "trimAndHd");
    assert_non_null(t);
    CHECK(t->has_start && t->start == 100000000 && t->has_end && t->end == 1800000000);
    CHECK(t->timescale == 10000000 && t->first_quality == 1500000);
    CHECK(t->select_count == 2);
    CHECK(t->selects[0].count == 2 && t->selects[0].conds[0].prop == PK_FP_TYPE);
    CHECK(strcmp(t->selects[0].conds[0].value, "Audio") == 0 && !t->selects[0].conds[0].not_equal);
    CHECK(t->selects[0].conds[1].prop == PK_FP_LANGUAGE);
    CHECK(strcmp(t->selects[0].conds[1].value, "en") == 0);
    const pk_fcond_t *b = &t->selects[1].conds[1];
    CHECK(b->prop == PK_FP_BITRATE && b->lo == 1000000 && b->hi == 5000000);
    const pk_filter_t *all = named(f, n, "all");
    assert_non_null(all);
    CHECK(!all->has_start && !all->has_end && all->select_count == 0 && !all->first_quality);
    CHECK(all->timescale == 10000000);
    arena_free(a);
}

/* az prints the SDK object flattened, nulls for what is unset; one object alone. */
static void test_flattened_object_nulls(void **state)
{
    (void)state;
    arena_t *a;
    pk_filter_t *f;
    uint32_t n;
    const char *text =
        "{\"name\": \"mobile\", \"resourceGroup\": \"rg\", \"firstQuality\": null,"
        " \"presentationTimeRange\": null, \"systemData\": {\"createdBy\": \"me\"},"
        " \"tracks\": [{\"trackSelections\": ["
        "   {\"property\": \"bitrate\", \"operation\": \"notequal\", \"value\": \" 500001 - 99999999999 \"},"
        "   {\"property\": \"FOURCC\", \"operation\": \"EQUAL\", \"value\": \"avc1\"},"
        "   {\"property\": \"name\", \"operation\": \"Equal\", \"value\": \"video\"}]}]}";
    CHECK(parse(text, &a, &f, &n) == 0);
    CHECK(n == 1 && strcmp(f[0].name, "mobile") == 0);
    CHECK(!f[0].has_start && !f[0].has_end && !f[0].first_quality);
    CHECK(f[0].select_count == 1 && f[0].selects[0].count == 3);
    const pk_fcond_t *c = f[0].selects[0].conds;
    CHECK(c[0].prop == PK_FP_BITRATE && c[0].not_equal && c[0].lo == 500001);
    CHECK(c[0].hi == UINT32_MAX);       /* clamped */
    CHECK(c[1].prop == PK_FP_FOURCC && !c[1].not_equal && strcmp(c[1].value, "avc1") == 0);
    CHECK(c[2].prop == PK_FP_NAME && strcmp(c[2].value, "video") == 0);
    arena_free(a);
}

/* Numbers: integers, integral doubles, AMS's 9223372036854776000 ("no limit", an
 * integer literal beyond int64), INT64_MAX itself, an own timescale. */
static void test_numbers(void **state)
{
    (void)state;
    arena_t *a;
    pk_filter_t *f;
    uint32_t n;
    CHECK(parse("[{\"name\": \"d\", \"presentationTimeRange\": {\"startTimestamp\": 4.0e7,"
                " \"endTimestamp\": 9223372036854776000, \"timescale\": 1e7}},"
                " {\"name\": \"i\", \"presentationTimeRange\": {\"startTimestamp\": 0,"
                " \"endTimestamp\": 9223372036854775807, \"timescale\": 1000}},"
                " {\"name\": \"big\", \"presentationTimeRange\": {\"startTimestamp\": 123,"
                " \"endTimestamp\": 9007199254740992}},"
                " {\"name\": \"r\", \"presentationTimeRange\": {"
                " \"endTimestamp\": 9.3e18, \"presentationWindowDuration\": 9223372036854776000,"
                " \"liveBackoffDuration\": \"whatever\", \"forceEndTimestamp\": \"yes\"}}]",
                &a, &f, &n) == 0);
    CHECK(n == 4);
    const pk_filter_t *d = named(f, n, "d"), *i = named(f, n, "i"), *r = named(f, n, "r");
    const pk_filter_t *big = named(f, n, "big");
    CHECK(d->has_start && d->start == 40000000 && !d->has_end && d->timescale == 10000000);
    CHECK(i->has_start && i->start == 0 && !i->has_end && i->timescale == 1000);
    CHECK(big->has_end && big->end == 9007199254740992ull && big->start == 123);
    CHECK(!r->has_start && !r->has_end);
    arena_free(a);

    /* without the overflowing literal integers stay exact beyond 2^53 */
    CHECK(parse("{\"name\": \"x\", \"presentationTimeRange\": {\"endTimestamp\": "
                "9007199254740993}}", &a, &f, &n) == 0);
    CHECK(f[0].has_end && f[0].end == 9007199254740993ull);
    arena_free(a);
}

/* The legacy v2 (OData) shape: PascalCase, string numbers, PropertyConditions/Operator,
 * inside a {"odata.metadata", "value": [...]} list response. */
static void test_v2(void **state)
{
    (void)state;
    arena_t *a;
    pk_filter_t *f;
    uint32_t n;
    const char *text =
        "{\"odata.metadata\": \"https://x/api/$metadata#Filters\", \"value\": ["
        " {\"Name\": \"TestFilter\","
        "  \"PresentationTimeRange\": {\"StartTimestamp\": \"20000000\","
        "   \"EndTimestamp\": \"9223372036854775807\", \"PresentationWindowDuration\": "
        "\"12000000000\", \"LiveBackoffDuration\": \"0\", \"Timescale\": \"10000000\"},"
        "  \"Tracks\": [{\"PropertyConditions\": ["
        "   {\"Property\": \"Type\", \"Value\": \"audio\", \"Operator\": \"Equal\"},"
        "   {\"Property\": \"Bitrate\", \"Value\": \"0-2147483647\", \"Operator\": \"Equal\"}]}],"
        "  \"FirstQuality\": {\"Bitrate\": \"128000\"}}]}";
    CHECK(parse(text, &a, &f, &n) == 0);
    CHECK(n == 1 && strcmp(f[0].name, "TestFilter") == 0);
    CHECK(f[0].has_start && f[0].start == 20000000 && !f[0].has_end);
    CHECK(f[0].first_quality == 128000 && f[0].select_count == 1);
    CHECK(f[0].selects[0].count == 2 && f[0].selects[0].conds[1].hi == 2147483647u);
    arena_free(a);

    /* {"value": [...]} of the v3 REST list, and an empty list: valid, defines nothing */
    CHECK(parse("{\"value\": [{\"name\": \"a\"}], \"@odata.nextLink\": null}", &a, &f, &n) == 0);
    CHECK(n == 1 && strcmp(f[0].name, "a") == 0);
    arena_free(a);
    CHECK(parse("[]", &a, &f, &n) == 0 && n == 0);
    arena_free(a);
    CHECK(parse("\xef\xbb\xbf[{\"name\": \"bom\"}]", &a, &f, &n) == 0 && n == 1);
    arena_free(a);
    /* Unknown (AMS's enum) is accepted: it selects nothing (pack/filter.c) */
    CHECK(parse("{\"name\": \"u\", \"tracks\": [{\"trackSelections\": [{\"property\": "
                "\"Unknown\", \"operation\": \"Equal\", \"value\": \"x\"}]}]}", &a, &f, &n) == 0);
    CHECK(f[0].selects[0].conds[0].prop == 0);
    arena_free(a);
    /* Bitrate as a JSON number: one value */
    CHECK(parse("{\"name\": \"b\", \"tracks\": [{\"trackSelections\": [{\"property\": "
                "\"Bitrate\", \"operation\": \"Equal\", \"value\": 423612}]}]}", &a, &f, &n) == 0);
    CHECK(f[0].selects[0].conds[0].lo == 423612 && f[0].selects[0].conds[0].hi == 423612);
    arena_free(a);
}

/* Each bad file is refused with a reason that names what is wrong. */
static void test_bad_files(void **state)
{
    (void)state;
    static const struct { const char *text, *reason; } cases[] = {
        { "[{\"name\": \"a\", \"tracks\": [", "line 1" },                   /* truncated */
        { "", "line" },
        { "42", "expected" },
        { "[{\"name\": \"a\"}, 1]", "filter 1: not an object" },
        { "[{\"name\": 7}]", "no \"name\"" },
        { "[{\"tracks\": []}]", "no \"name\"" },
        { "[{\"name\": \"\"}]", "no \"name\"" },
        { "[\"a\"]", "not an object" },
        { "[{\"name\": \"a\", \"properties\": []}]", "\"properties\" is not an object" },
        { "[{\"name\": \"a\", \"tracks\": {}}]", "\"tracks\" is not an array" },
        { "[{\"name\": \"a\", \"tracks\": [{}]}]", "no \"trackSelections\"" },
        { "[{\"name\": \"a\", \"tracks\": [{\"trackSelections\": [{\"property\": \"Type\","
          "\"operation\": \"Equal\", \"value\": 3}]}]}]", "not a string" },
        { "[{\"name\": \"a\", \"tracks\": [{\"trackSelections\": [{\"property\": \"Codec\","
          "\"operation\": \"Equal\", \"value\": \"x\"}]}]}]", "unknown property \"Codec\"" },
        { "[{\"name\": \"a\", \"tracks\": [{\"trackSelections\": [{\"property\": \"Type\","
          "\"operation\": \"Contains\", \"value\": \"x\"}]}]}]", "unknown operation" },
        { "[{\"name\": \"a\", \"tracks\": [{\"trackSelections\": [{\"property\": \"Type\","
          "\"value\": \"x\"}]}]}]", "no \"operation\"" },
        { "[{\"name\": \"a\", \"tracks\": [{\"trackSelections\": [{\"property\": \"Bitrate\","
          "\"operation\": \"Equal\", \"value\": \"5-1\"}]}]}]", "is empty" },
        { "[{\"name\": \"a\", \"tracks\": [{\"trackSelections\": [{\"property\": \"Bitrate\","
          "\"operation\": \"Equal\", \"value\": \"1M\"}]}]}]", "not \"LOW-HIGH\"" },
        { "[{\"name\": \"a\", \"presentationTimeRange\": {\"startTimestamp\": -1}}]",
          "startTimestamp is negative" },
        { "[{\"name\": \"a\", \"presentationTimeRange\": {\"startTimestamp\": 1.5}}]",
          "not a whole number" },
        { "[{\"name\": \"a\", \"presentationTimeRange\": {\"endTimestamp\": \"soon\"}}]",
          "endTimestamp is not a number" },
        { "[{\"name\": \"a\", \"presentationTimeRange\": {\"timescale\": 0}}]",
          "timescale is out of range" },
        { "[{\"name\": \"a\", \"presentationTimeRange\": 5}]", "not an object" },
        { "[{\"name\": \"a\", \"firstQuality\": {}}]", "firstQuality" },
        { "[{\"name\": \"a\", \"firstQuality\": {\"bitrate\": 5000000000}}]", "out of range" },
        { "[{\"name\": \"a\"}, {\"name\": \"b\"}, {\"name\": \"a\"}]", "two filters are named" },
        { "[{\"name\": \"a\", \"name\": \"b\"}]", "duplicate" },
        { "[{\"name\": \"a\"}] x", "line 1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        arena_t *a;
        pk_filter_t *f;
        uint32_t n = 99;
        int rc = parse(cases[i].text, &a, &f, &n);
        if (rc != -EINVAL || !strstr(why, cases[i].reason))
            fail_msg("case %zu (%s): rc %d, reason '%s'", i, cases[i].text, rc, why);
        CHECK(n == 0 && f == NULL);
        arena_free(a);
    }
}

/* Limits: a file over 1 MiB, nesting 100 000 deep (and just over the limit). */
static void test_limits(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    pk_filter_t *f;
    uint32_t n;
    size_t deep = 100000;
    char *text = malloc(2 * deep + 1);
    assert_non_null(text);
    memset(text, '[', deep);
    memset(text + deep, ']', deep);
    text[2 * deep] = '\0';
    CHECK(fs_filters_parse(text, 2 * deep, a, &f, &n, why, sizeof why) == -EINVAL);
    CHECK(strstr(why, "nested deeper") != NULL);
    /* the limit itself: 32 levels pass the scan (then fail as a filter), 33 do not */
    memset(text, '[', 32);
    memset(text + 32, ']', 32);
    CHECK(fs_filters_parse(text, 64, a, &f, &n, why, sizeof why) == -EINVAL);
    CHECK(strstr(why, "not an object") != NULL);
    memset(text, '[', 33);
    memset(text + 33, ']', 33);
    CHECK(fs_filters_parse(text, 66, a, &f, &n, why, sizeof why) == -EINVAL);
    CHECK(strstr(why, "nested deeper") != NULL);
    /* brackets inside strings do not count */
    arena_t *b;
    CHECK(parse("[{\"name\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}]", &b, &f, &n)
          == 0);
    CHECK(n == 1);
    arena_free(b);
    free(text);
    size_t big = FS_FILTER_FILE_MAX + 1;
    text = malloc(big);
    assert_non_null(text);
    memset(text, ' ', big);
    text[0] = '[';
    text[big - 1] = ']';
    CHECK(fs_filters_parse(text, big, a, &f, &n, why, sizeof why) == -EINVAL);
    CHECK(strstr(why, "more than") != NULL);
    CHECK(fs_filters_parse(text + 1, big - 2, a, &f, &n, why, sizeof why) == -EINVAL);
    free(text);
    arena_free(a);
}

/* ---- the cache, through fs_filters_find ----------------------------------------- */

static char root[64], account[128];
static int errors;              /* PK_ERROR lines seen */
static char last_error[512];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void sink(int level, const char *func, const char *msg, void *ctx)
{
    (void)func, (void)ctx;
    if (level != PK_LOG_ERROR)
        return;
    pthread_mutex_lock(&log_lock);
    errors++;
    snprintf(last_error, sizeof last_error, "%s", msg);
    pthread_mutex_unlock(&log_lock);
}

/* Writes rel below root (a new inode each time, like a sync) with mtime `sec`. */
static void put(const char *rel, const char *text, time_t sec)
{
    char p[256], tmp[300];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };
    CHECK(utimensat(AT_FDCWD, tmp, ts, 0) == 0);
    CHECK(rename(tmp, p) == 0);
}

static int setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/ismfs-filt-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(account, sizeof account, "%s/account.json", root);
    pk_log_set_sink(sink, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    pk_log_set_sink(NULL, NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

typedef char name_t[FS_NAME_MAX + 1];

/* fs_filters_find for up to 3 names in a request of its own; *f0 gets the first filter's
 * start (or -1 when it has none), *newest the request's newest mtime. */
static int find_in(fs_ctx_t *ctx, const char *ism, const char *a, const char *b,
                   const char *c, int64_t *f0, time_t *newest)
{
    fs_req_t req;
    name_t names[3];
    const char *in[3] = { a, b, c };
    const pk_filter_t *out[3];
    uint32_t n = 0;
    for (; n < 3 && in[n]; n++)
        snprintf(names[n], sizeof names[n], "%s", in[n]);
    CHECK(fs_req_begin(ctx, &req) == 0);
    int rc = fs_filters_find(&req, ism, (const name_t *)names, n, out);
    if (rc == 0 && f0)
        *f0 = out[0]->has_start ? (int64_t)out[0]->start : -1;
    if (newest)
        *newest = req.newest.tv_sec;
    fs_req_end(&req);
    return rc;
}

static int find1(fs_ctx_t *ctx, const char *name, int64_t *f0)
{
    return find_in(ctx, "dir/a.ism", name, NULL, NULL, f0, NULL);
}

static void test_precedence_and_composition(void **state)
{
    (void)state;
    fs_ctx_t ctx;
    fs_options_t opt = { .account_filters = account };
    int64_t s;
    time_t newest;
    char p[200];

    snprintf(p, sizeof p, "%s/dir", root);
    mkdir(p, 0755);
    put("dir/a.filters.json",
        "[{\"name\": \"same\", \"presentationTimeRange\": {\"startTimestamp\": 1}},"
        " {\"name\": \"own\", \"presentationTimeRange\": {\"startTimestamp\": 2}}]", 1000);
    put("account.json",
        "[{\"name\": \"same\", \"presentationTimeRange\": {\"startTimestamp\": 10}},"
        " {\"name\": \"acct\", \"presentationTimeRange\": {\"startTimestamp\": 11}}]", 2000);
    CHECK(fs_ctx_open(&ctx, root, &opt) == 0);
    errors = 0;

    CHECK(find1(&ctx, "same", &s) == 0 && s == 1);        /* the asset's wins */
    CHECK(find1(&ctx, "own", &s) == 0 && s == 2);
    CHECK(find1(&ctx, "acct", &s) == 0 && s == 11);
    CHECK(find1(&ctx, "nope", &s) == -ENOENT);
    CHECK(find1(&ctx, "Same", &s) == -ENOENT);           /* names are exact */
    /* another asset has no file of its own: the account's */
    CHECK(find_in(&ctx, "b.ism", "same", NULL, NULL, &s, &newest) == 0 && s == 10);
    CHECK(newest == 2000);
    /* composition: all must exist; the mtime is the newest of the files consulted */
    CHECK(find_in(&ctx, "dir/a.ism", "own", "acct", "same", &s, &newest) == 0 && s == 2);
    CHECK(newest == 2000);
    CHECK(find_in(&ctx, "dir/a.ism", "own", "same", NULL, &s, &newest) == 0 && newest == 1000);
    CHECK(find_in(&ctx, "dir/a.ism", "own", "nope", NULL, &s, NULL) == -ENOENT);
    CHECK(errors == 0);
    fs_ctx_close(&ctx);

    /* without account_filters only the asset's exist */
    opt.account_filters = NULL;
    CHECK(fs_ctx_open(&ctx, root, &opt) == 0);
    CHECK(find1(&ctx, "acct", &s) == -ENOENT);
    CHECK(find1(&ctx, "same", &s) == 0 && s == 1);
    fs_ctx_close(&ctx);
}

/* A changed file is re-read on the next lookup; a bad one is logged once per version and
 * defines nothing; a fixed one works again. */
static void test_cache_versions(void **state)
{
    (void)state;
    fs_ctx_t ctx;
    fs_options_t opt = { .account_filters = account };
    int64_t s;
    char p[200];

    snprintf(p, sizeof p, "%s/dir", root);
    mkdir(p, 0755);
    put("dir/a.filters.json", "[{\"name\": \"f\", \"presentationTimeRange\": "
        "{\"startTimestamp\": 1}}]", 1000);
    put("account.json", "[{\"name\": \"g\", \"presentationTimeRange\": "
        "{\"startTimestamp\": 5}}]", 1000);
    CHECK(fs_ctx_open(&ctx, root, &opt) == 0);
    errors = 0;
    CHECK(find1(&ctx, "f", &s) == 0 && s == 1);
    CHECK(find1(&ctx, "f", &s) == 0 && s == 1);
    CHECK(ctx.filters->files.count == 1);
    CHECK(ctx.filters->loads == 1);             /* read once, then from the cache */

    /* a new version (same size, other mtime) */
    put("dir/a.filters.json", "[{\"name\": \"f\", \"presentationTimeRange\": "
        "{\"startTimestamp\": 3}}]", 1001);
    CHECK(find1(&ctx, "f", &s) == 0 && s == 3);
    CHECK(ctx.filters->files.count == 1);      /* the old version is gone */
    CHECK(ctx.filters->loads == 2);

    /* broken: every filtered request of the asset is ENOENT, account names too; logged once */
    put("dir/a.filters.json", "[{\"name\": \"f\", \"presentationTim", 1002);
    for (int i = 0; i < 5; i++) {
        CHECK(find1(&ctx, "f", &s) == -ENOENT);
        CHECK(find1(&ctx, "g", &s) == -ENOENT);
    }
    CHECK(errors == 1);
    CHECK(strstr(last_error, "dir/a.filters.json") && strstr(last_error, "line 1"));
    CHECK(ctx.filters->loads == 3);             /* the bad version: once */
    /* other assets keep working */
    CHECK(find_in(&ctx, "other.ism", "g", NULL, NULL, &s, NULL) == 0 && s == 5);

    /* fixed */
    put("dir/a.filters.json", "[{\"name\": \"f\", \"presentationTimeRange\": "
        "{\"startTimestamp\": 4}}]", 1003);
    CHECK(find1(&ctx, "f", &s) == 0 && s == 4);
    CHECK(find1(&ctx, "g", &s) == 0 && s == 5);
    CHECK(errors == 1);

    /* broken again: a new version is a new line */
    put("dir/a.filters.json", "{\"name\": 5}", 1004);
    CHECK(find1(&ctx, "f", &s) == -ENOENT);
    CHECK(find1(&ctx, "f", &s) == -ENOENT);
    CHECK(errors == 2 && strstr(last_error, "no \"name\""));

    /* a bad account file: its names are unknown, the asset's still work; once */
    put("dir/a.filters.json", "[{\"name\": \"f\"}]", 1005);
    put("account.json", "[{\"name\": \"g\", \"tracks\": 5}]", 1006);
    for (int i = 0; i < 3; i++) {
        CHECK(find1(&ctx, "g", &s) == -ENOENT);
        CHECK(find1(&ctx, "f", &s) == 0 && s == -1);
    }
    CHECK(errors == 3 && strstr(last_error, account) && strstr(last_error, "\"tracks\""));

    /* the asset file removed: no asset filters, the account's again (fixed) */
    snprintf(p, sizeof p, "%s/dir/a.filters.json", root);
    unlink(p);
    put("account.json", "[{\"name\": \"f\", \"presentationTimeRange\": "
        "{\"startTimestamp\": 9}}]", 1007);
    CHECK(find1(&ctx, "f", &s) == 0 && s == 9);
    CHECK(errors == 3);
    fs_ctx_close(&ctx);
}

/* A 100 MB file is never read: logged once by its size, its filters do not exist; a
 * directory or a fifo in its place is no filter file either. */
static void test_cache_limits(void **state)
{
    (void)state;
    fs_ctx_t ctx;
    fs_options_t opt = { .account_filters = account };
    int64_t s;
    char p[200];

    snprintf(p, sizeof p, "%s/big.filters.json", root);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 100 << 20) == 0);      /* sparse: cheap */
    close(fd);
    put("account.json", "[{\"name\": \"g\"}]", 1000);
    CHECK(fs_ctx_open(&ctx, root, &opt) == 0);
    errors = 0;
    for (int i = 0; i < 4; i++)
        CHECK(find_in(&ctx, "big.ism", "g", NULL, NULL, &s, NULL) == -ENOENT);
    CHECK(errors == 1 && strstr(last_error, "104857600 bytes, more than"));
    CHECK(ctx.filters->loads == 1);             /* big.filters.json, by its size alone */

    snprintf(p, sizeof p, "%s/d.filters.json", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/p.filters.json", root);
    CHECK(mkfifo(p, 0644) == 0);
    for (int i = 0; i < 2; i++) {
        CHECK(find_in(&ctx, "d.ism", "g", NULL, NULL, &s, NULL) == -ENOENT);
        CHECK(find_in(&ctx, "p.ism", "g", NULL, NULL, &s, NULL) == -ENOENT);
    }
    CHECK(errors == 3 && strstr(last_error, "not a regular file"));

    /* deeply nested: logged once */
    size_t deep = 100000;
    char *text = malloc(2 * deep + 1);
    assert_non_null(text);
    memset(text, '[', deep);
    memset(text + deep, ']', deep);
    text[2 * deep] = '\0';
    put("deep.filters.json", text, 1000);
    free(text);
    for (int i = 0; i < 3; i++)
        CHECK(find_in(&ctx, "deep.ism", "g", NULL, NULL, &s, NULL) == -ENOENT);
    CHECK(errors == 4 && strstr(last_error, "nested deeper"));
    /* other assets: fine */
    CHECK(find_in(&ctx, "x.ism", "g", NULL, NULL, &s, NULL) == 0);

    /* the account file gone: no account filters, nothing logged */
    unlink(account);
    CHECK(find_in(&ctx, "x.ism", "g", NULL, NULL, &s, NULL) == -ENOENT);
    CHECK(errors == 4);
    fs_ctx_close(&ctx);
}

/* More files than the cache keeps: the least recently used go (ASan sees no leak). */
static void test_cache_eviction(void **state)
{
    (void)state;
    fs_ctx_t ctx;
    fs_options_t opt = { 0 };
    int64_t s;
    char rel[64], ism[64];

    for (int i = 0; i < FS_FILTER_FILES_MAX + 20; i++) {
        snprintf(rel, sizeof rel, "e%d.filters.json", i);
        put(rel, "[{\"name\": \"f\", \"presentationTimeRange\": {\"startTimestamp\": 7}}]", 1000);
    }
    CHECK(fs_ctx_open(&ctx, root, &opt) == 0);
    for (int i = 0; i < FS_FILTER_FILES_MAX + 20; i++) {
        snprintf(ism, sizeof ism, "e%d.ism", i);
        CHECK(find_in(&ctx, ism, "f", NULL, NULL, &s, NULL) == 0 && s == 7);
    }
    CHECK(ctx.filters->files.count == FS_FILTER_FILES_MAX);
    fs_ctx_close(&ctx);
}

/* Requests on several threads while the file changes: no race (ThreadSanitizer-free, but
 * ASan sees use-after-free), and each version logged at most once. */
typedef struct {
    fs_ctx_t *ctx;
    int rounds;
} worker_t;

static void *worker(void *p)
{
    worker_t *w = p;
    for (int i = 0; i < w->rounds; i++) {
        int64_t s;
        int rc = find1(w->ctx, "f", &s);
        if (rc != 0 && rc != -ENOENT)
            return (void *)1;
    }
    return NULL;
}

static void test_cache_threads(void **state)
{
    (void)state;
    fs_ctx_t ctx;
    fs_options_t opt = { 0 };
    pthread_t t[4];
    char p[200];

    snprintf(p, sizeof p, "%s/dir", root);
    mkdir(p, 0755);
    put("dir/a.filters.json", "[{\"name\": \"f\"}]", 1000);
    CHECK(fs_ctx_open(&ctx, root, &opt) == 0);
    worker_t w = { &ctx, 300 };
    errors = 0;
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, worker, &w) == 0);
    for (int v = 0; v < 20; v++)
        put("dir/a.filters.json", v % 2 ? "[{\"name\": \"f\"}]" : "[{\"name\": 1}]",
            2000 + v);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        CHECK(rc == NULL);
    }
    CHECK(errors <= 10);        /* the 10 bad versions, each at most once */
    fs_ctx_close(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrapped_array),
        cmocka_unit_test(test_flattened_object_nulls),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_v2),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_precedence_and_composition),
        cmocka_unit_test(test_cache_versions),
        cmocka_unit_test(test_cache_limits),
        cmocka_unit_test(test_cache_eviction),
        cmocka_unit_test(test_cache_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
