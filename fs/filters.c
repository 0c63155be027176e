#include "filters.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pack/log.h"
#include "fcache.h"
#include "source.h"

/* AMS's default presentationTimeRange timescale (notes §3.2) */
#define DEFAULT_TIMESCALE 10000000u

/* ---- reading one file --------------------------------------------------------- */

typedef struct {
    arena_t *a;
    char *why;                  /* the reason a file is bad */
    size_t cap;
    char where[96];             /* the filter being read, for the reason */
} jrd_t;

enum { NUM_OK = 0, NUM_UNLIMITED = 1 };

__attribute__((format(printf, 2, 3)))
static int bad(jrd_t *r, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(r->why, r->cap, "%s", r->where);
    if (n < 0 || (size_t)n >= r->cap)
        n = 0;
    va_start(ap, fmt);
    vsnprintf(r->why + n, r->cap - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Member `key` of object o, its name compared without case (v3 writes camelCase, v2
 * PascalCase); NULL when absent or null. */
static json_t *get(const json_t *o, const char *key)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (strcasecmp(k, key) == 0)
            return json_is_null(v) ? NULL : v;
    }
    return NULL;
}

/*
 * A non-negative whole number: a JSON integer, a double with an integral value, or a
 * decimal string (v2). Returns NUM_OK and *out, NUM_UNLIMITED for a value at or beyond
 * INT64_MAX (AMS's "no limit", which its docs print as the double
 * 9223372036854776000), or -EINVAL.
 */
static int number(jrd_t *r, const json_t *v, const char *what, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return bad(r, "%s is negative (%lld)", what, (long long)i);
        if (i == INT64_MAX)
            return NUM_UNLIMITED;
        *out = (uint64_t)i;
        return NUM_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0))
            return bad(r, "%s is negative (%g)", what, d);
        if (d >= 9223372036854775807.0)     /* 2^63 as a double */
            return NUM_UNLIMITED;
        if (d != floor(d))
            return bad(r, "%s is not a whole number (%g)", what, d);
        *out = (uint64_t)d;
        return NUM_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        uint64_t x = 0;
        int over = 0;
        if (n == 0 || n > 40)
            return bad(r, "%s is not a number (\"%.40s\")", what, s);
        for (size_t i = 0; i < n; i++) {
            unsigned d = (unsigned char)s[i] - (unsigned)'0';
            if (d > 9)
                return bad(r, "%s is not a number (\"%.40s\")", what, s);
            if (x > (UINT64_MAX - d) / 10)
                over = 1;
            else
                x = x * 10 + d;
        }
        if (over || x >= (uint64_t)INT64_MAX)
            return NUM_UNLIMITED;
        *out = x;
        return NUM_OK;
    }
    return bad(r, "%s is not a number", what);
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Decimal digits at *s (at least one), clamped to UINT32_MAX. */
static int digits(const char **s, uint32_t *out)
{
    uint64_t x = 0;
    const char *p = *s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        x = x > UINT32_MAX ? x : x * 10 + (uint64_t)(*p - '0');
    *out = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
    *s = p;
    return 0;
}

/* A Bitrate condition's value: "LO-HI" (inclusive) or "V", bit/s (notes §3.2); a JSON
 * number is taken as a single value. */
static int bitrate_range(jrd_t *r, const json_t *v, uint32_t *lo, uint32_t *hi)
{
    if (json_is_number(v)) {
        uint64_t x = UINT32_MAX;
        int rc = number(r, v, "a Bitrate value", &x);
        if (rc < 0)
            return rc;
        *lo = *hi = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
        return 0;
    }
    if (!json_is_string(v))
        return bad(r, "a Bitrate value is not a string like \"0-1000000\"");
    const char *s = skip_blanks(json_string_value(v));
    if (digits(&s, lo) < 0)
        goto fail;
    s = skip_blanks(s);
    *hi = *lo;
    if (*s == '-') {
        s = skip_blanks(s + 1);
        if (digits(&s, hi) < 0)
            goto fail;
        s = skip_blanks(s);
    }
    if (*s)
        goto fail;
    if (*lo > *hi)
        return bad(r, "Bitrate range \"%.40s\" is empty", json_string_value(v));
    return 0;
fail:
    return bad(r, "Bitrate value \"%.40s\" is not \"LOW-HIGH\" or one number",
               json_string_value(v));
}

static const struct {
    const char *name;
    int prop;
} prop_names[] = {
    { "Type", PK_FP_TYPE }, { "Name", PK_FP_NAME }, { "Language", PK_FP_LANGUAGE },
    { "FourCC", PK_FP_FOURCC }, { "Bitrate", PK_FP_BITRATE },
    { "Unknown", 0 },           /* in AMS's enum; selects nothing (pack/filter.c) */
};

static int parse_cond(jrd_t *r, const json_t *o, pk_fcond_t *c, size_t t, size_t s)
{
    char what[64];
    snprintf(what, sizeof what, "tracks[%zu] condition %zu", t, s);
    if (!json_is_object(o))
        return bad(r, "%s is not an object", what);
    const json_t *prop = get(o, "property");
    const json_t *op = get(o, "operation");
    const json_t *val = get(o, "value");
    if (!op)
        op = get(o, "operator");            /* v2 */
    if (!prop || !json_is_string(prop))
        return bad(r, "%s has no \"property\" string", what);
    if (!op || !json_is_string(op))
        return bad(r, "%s has no \"operation\" string", what);
    if (!val)
        return bad(r, "%s has no \"value\"", what);
    size_t i = 0, np = sizeof prop_names / sizeof *prop_names;
    while (i < np && strcasecmp(json_string_value(prop), prop_names[i].name))
        i++;
    if (i == np)
        return bad(r, "%s: unknown property \"%.40s\" (Type, Name, Language, FourCC, Bitrate)",
                   what, json_string_value(prop));
    c->prop = (pk_fprop_t)prop_names[i].prop;
    if (strcasecmp(json_string_value(op), "Equal") == 0)
        c->not_equal = 0;
    else if (strcasecmp(json_string_value(op), "NotEqual") == 0)
        c->not_equal = 1;
    else
        return bad(r, "%s: unknown operation \"%.40s\" (Equal, NotEqual)", what,
                   json_string_value(op));
    if (c->prop == PK_FP_BITRATE)
        return bitrate_range(r, val, &c->lo, &c->hi);
    if (!json_is_string(val))
        return bad(r, "%s: the value of %s is not a string", what, prop_names[i].name);
    if (!(c->value = arena_strdup(r->a, json_string_value(val))))
        return -ENOMEM;
    return 0;
}

static int parse_tracks(jrd_t *r, const json_t *tracks, pk_filter_t *f)
{
    if (!json_is_array(tracks))
        return bad(r, "\"tracks\" is not an array");
    size_t n = json_array_size(tracks);
    pk_fselect_t *sel = arena_calloc(r->a, n ? n : 1, sizeof *sel);
    if (!sel)
        return -ENOMEM;
    for (size_t t = 0; t < n; t++) {
        const json_t *e = json_array_get(tracks, t), *conds;
        if (!json_is_object(e))
            return bad(r, "tracks[%zu] is not an object", t);
        if (!(conds = get(e, "trackSelections")))
            conds = get(e, "propertyConditions");       /* v2 */
        if (!conds || !json_is_array(conds))
            return bad(r, "tracks[%zu] has no \"trackSelections\" array", t);
        size_t m = json_array_size(conds);
        pk_fcond_t *c = arena_calloc(r->a, m ? m : 1, sizeof *c);
        if (!c)
            return -ENOMEM;
        for (size_t s = 0; s < m; s++) {
            int rc = parse_cond(r, json_array_get(conds, s), &c[s], t, s);
            if (rc < 0)
                return rc;
        }
        sel[t] = (pk_fselect_t){ (uint32_t)m, c };
    }
    f->select_count = (uint32_t)n;
    f->selects = sel;
    return 0;
}

static int parse_range(jrd_t *r, const json_t *ptr, pk_filter_t *f)
{
    const json_t *v;
    uint64_t x;
    int rc;
    if (!json_is_object(ptr))
        return bad(r, "\"presentationTimeRange\" is not an object");
    if ((v = get(ptr, "timescale"))) {
        if ((rc = number(r, v, "timescale", &x)) < 0)
            return rc;
        if (rc == NUM_UNLIMITED || x == 0)
            return bad(r, "timescale is out of range");
        f->timescale = x;
    }
    /* presentationWindowDuration, liveBackoffDuration, forceEndTimestamp: live only
     * (notes §3.3), ignored for on-demand assets */
    if ((v = get(ptr, "startTimestamp"))) {
        if ((rc = number(r, v, "startTimestamp", &x)) < 0)
            return rc;
        if (rc == NUM_OK) {
            f->has_start = 1;
            f->start = x;
        }
    }
    if ((v = get(ptr, "endTimestamp"))) {
        if ((rc = number(r, v, "endTimestamp", &x)) < 0)
            return rc;
        if (rc == NUM_OK) {
            f->has_end = 1;
            f->end = x;
        }
    }
    return 0;
}

static int parse_filter(jrd_t *r, const json_t *o, size_t index, pk_filter_t *f)
{
    const json_t *name, *props, *v;
    int rc;
    snprintf(r->where, sizeof r->where, "filter %zu: ", index);
    if (!json_is_object(o))
        return bad(r, "not an object");
    if (!(name = get(o, "name")) || !json_is_string(name) || !json_string_length(name))
        return bad(r, "no \"name\" string");
    snprintf(r->where, sizeof r->where, "filter \"%.60s\": ", json_string_value(name));
    memset(f, 0, sizeof *f);
    f->timescale = DEFAULT_TIMESCALE;
    if (!(f->name = arena_strdup(r->a, json_string_value(name))))
        return -ENOMEM;
    /* REST and SDK objects wrap the fields in "properties"; az prints them flattened */
    if ((props = get(o, "properties")) && !json_is_object(props))
        return bad(r, "\"properties\" is not an object");
    if (!props)
        props = o;
    if ((v = get(props, "presentationTimeRange")) && (rc = parse_range(r, v, f)) < 0)
        return rc;
    if ((v = get(props, "firstQuality"))) {
        const json_t *b;
        uint64_t x = 0;
        if (!json_is_object(v) || !(b = get(v, "bitrate")))
            return bad(r, "\"firstQuality\" is not an object with a \"bitrate\"");
        if ((rc = number(r, b, "firstQuality.bitrate", &x)) < 0)
            return rc;
        if (rc == NUM_UNLIMITED || x > UINT32_MAX)
            return bad(r, "firstQuality.bitrate is out of range");
        f->first_quality = (uint32_t)x;
    }
    if ((v = get(props, "tracks")) && (rc = parse_tracks(r, v, f)) < 0)
        return rc;
    r->where[0] = '\0';
    return 0;
}

/* Whether the JSON text nests arrays and objects deeper than max (checked before
 * jansson sees it: a bound that does not depend on jansson's version). */
static int too_deep(const char *s, size_t n, unsigned max)
{
    unsigned depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return 1;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const pk_filter_t *)a)->name, ((const pk_filter_t *)b)->name);
}

int fs_filters_parse(const char *text, size_t len, arena_t *a, pk_filter_t **out,
                     uint32_t *count, char *why, size_t cap)
{
    jrd_t r = { a, why, cap, "" };
    json_error_t err;
    json_t *root;
    const json_t *list;
    int rc = 0;

    *out = NULL;
    *count = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;              /* a UTF-8 byte order mark, as Windows editors write */
        len -= 3;
    }
    if (len > FS_FILTER_FILE_MAX)
        return bad(&r, "%zu bytes, more than the %u allowed", len, FS_FILTER_FILE_MAX);
    if (too_deep(text, len, FS_FILTER_DEPTH_MAX))
        return bad(&r, "nested deeper than %d levels", FS_FILTER_DEPTH_MAX);
    /* a duplicate key is ambiguous: refused rather than resolved silently */
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root && json_error_code(&err) == json_error_numeric_overflow)
        /* an integer beyond int64, as AMS prints INT64_MAX (9223372036854776000):
         * then every number is a double (exact up to 2^53) */
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
    if (!root) {
        if (json_error_code(&err) == json_error_out_of_memory)
            return -ENOMEM;
        return bad(&r, "line %d column %d: %s", err.line, err.column, err.text);
    }
    if (json_is_array(root)) {
        list = root;
    } else if (json_is_object(root)) {
        /* a REST list response {"value": [...]}, else one filter */
        const json_t *v = get(root, "value");
        list = v && json_is_array(v) && !get(root, "name") ? v : NULL;
    } else {
        rc = bad(&r, "neither an array of filters nor a filter object");
        goto done;
    }
    size_t n = list ? json_array_size(list) : 1;
    if (n > UINT32_MAX) {
        rc = bad(&r, "too many filters");
        goto done;
    }
    pk_filter_t *f = arena_calloc(a, n ? n : 1, sizeof *f);
    if (!f) {
        rc = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = parse_filter(&r, list ? json_array_get(list, i) : root, i, &f[i]);
    if (rc < 0)
        goto done;
    /* sorted by name: looked up by bsearch, and two of one name are refused */
    qsort(f, n, sizeof *f, by_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(f[i - 1].name, f[i].name) == 0) {
            rc = bad(&r, "two filters are named \"%.60s\"", f[i].name);
            goto done;
        }
    }
    *out = f;
    *count = (uint32_t)n;
done:
    json_decref(root);
    return rc;
}

/* ---- the cache of parsed files -------------------------------------------------- */

typedef struct ffile {
    fs_fcache_entry_t entry;    /* key: the path, below SRC (beneath) or absolute */
    int beneath;
    struct timespec mtime;
    int err;                    /* -EINVAL: a bad file (logged once), defines nothing */
    pk_filter_t *filters;       /* [count], sorted by name */
    uint32_t count;
    arena_t *arena;             /* holds the entry itself */
} ffile_t;

struct fs_filter_cache {
    fs_fcache_t files;
    _Atomic uint64_t loads;     /* file versions read (the unit tests count them) */
};

static void ffile_destroy(fs_fcache_entry_t *e)
{
    arena_free(FS_FCACHE_OWNER(e, ffile_t, entry)->arena);
}

int fs_filters_init(fs_ctx_t *ctx)
{
    struct fs_filter_cache *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    fs_fcache_init(&c->files, FS_FILTER_FILES_MAX, ffile_destroy);
    ctx->filters = c;
    json_object_seed(0);        /* jansson's hash seed, once, before requests run in threads */
    return 0;
}

void fs_filters_free(fs_ctx_t *ctx)
{
    struct fs_filter_cache *c = ctx->filters;
    if (!c)
        return;
    fs_fcache_fini(&c->files);
    free(c);
    ctx->filters = NULL;
}

static void ffile_release(void *p)
{
    ffile_t *f = p;
    fs_fcache_release(f ? &f->entry : NULL);
}

static void set_id(ffile_t *f, const struct stat *st)
{
    f->entry.id = fs_fcache_id(st);
    f->mtime = st->st_mtim;
}

/* Reads and parses the file of `f` (path, identity from stat set) into f; a file
 * that cannot be read or is bad sets f->err and the reason. -ENOMEM only. */
static int load(fs_ctx_t *ctx, ffile_t *f, const struct stat *st0, char *why, size_t cap)
{
    const char *path = f->entry.key;
    struct stat st = *st0;
    char *buf = NULL;
    int fd = -1, rc = 0;

    if (!S_ISREG(st.st_mode)) {
        snprintf(why, cap, "not a regular file");
        goto bad;
    }
    /* O_NONBLOCK: a fifo put in its place between stat and open does not hang us */
    fd = f->beneath ? fs_open_beneath(ctx->src_fd, path, O_RDONLY | O_NONBLOCK)
                    : open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, cap, "%s", strerror(f->beneath ? -fd : errno));
        goto bad;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, cap, "not a regular file");
        goto bad;
    }
    set_id(f, &st);             /* the version actually read */
    if ((uint64_t)st.st_size > FS_FILTER_FILE_MAX) {
        snprintf(why, cap, "%llu bytes, more than the %u allowed",
                 (unsigned long long)st.st_size, FS_FILTER_FILE_MAX);
        goto bad;
    }
    size_t len = (size_t)st.st_size, done = 0;
    if (!(buf = malloc(len + 1))) {
        rc = -ENOMEM;
        goto out;
    }
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, cap, "%s", n < 0 ? strerror(errno) : "shorter than its size");
            goto bad;
        }
        done += (size_t)n;
    }
    rc = fs_filters_parse(buf, len, f->arena, &f->filters, &f->count, why, cap);
    if (rc == -EINVAL)
        goto bad;
    goto out;
bad:
    f->err = -EINVAL;
    f->filters = NULL;
    f->count = 0;
    rc = 0;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/*
 * The parsed file at `path` as it is now, with a reference (ffile_release), or
 * *out = NULL when there is no such file. Returns 0, -ENOMEM, or another negative
 * errno when it cannot be stat'ed (then it is not known what it defines).
 */
static int ffile_get(fs_ctx_t *ctx, const char *path, int beneath, ffile_t **out)
{
    struct fs_filter_cache *c = ctx->filters;
    struct stat st;
    fs_fcache_entry_t *e;
    ffile_t *f;
    char why[256];
    int rc;

    *out = NULL;
    rc = beneath ? fs_stat_beneath(ctx->src_fd, path, &st) : (stat(path, &st) < 0 ? -errno : 0);
    if (rc == -ENOENT || rc == -ENOTDIR)
        return 0;
    if (rc < 0) {
        PK_DEBUG("%s: %s", path, strerror(-rc));
        return rc;
    }
    fs_fcache_id_t id = fs_fcache_id(&st);
    if ((e = fs_fcache_get(&c->files, path, &id))) {
        *out = FS_FCACHE_OWNER(e, ffile_t, entry);
        return 0;
    }
    /* a new version: read outside the lock (the storage may be slow); several requests
     * may read it at once, and the one that began last wins (fs_fcache_put) */
    uint64_t start = fs_fcache_seq(&c->files);
    c->loads++;
    arena_t *a = arena_new();
    if (!a || !(f = arena_zalloc(a, sizeof *f)) || !(f->entry.key = arena_strdup(a, path))) {
        arena_free(a);
        return -ENOMEM;
    }
    f->arena = a;
    f->beneath = beneath;
    set_id(f, &st);
    why[0] = '\0';
    if ((rc = load(ctx, f, &st, why, sizeof why)) < 0) {
        arena_free(a);
        return rc;
    }
    int err = f->err;           /* f is gone when another request's copy is used */
    if (fs_fcache_put(&c->files, &f->entry, start, &e) && err)
        PK_ERROR("%s: %s; its filters are unavailable until it changes", path, why);
    *out = FS_FCACHE_OWNER(e, ffile_t, entry);
    return 0;
}

static const pk_filter_t *find(const ffile_t *f, const char *name)
{
    pk_filter_t key = { .name = name };
    return f && !f->err ? bsearch(&key, f->filters, f->count, sizeof key, by_name) : NULL;
}

/* A file of this request: referenced until it ends; its mtime joins req->newest, its
 * identity req->deps. */
static int hold(fs_req_t *req, ffile_t *f)
{
    if (arena_defer(req->arena, ffile_release, f) < 0) {
        ffile_release(f);
        return -ENOMEM;
    }
    const fs_fcache_id_t *v = &f->entry.id;
    uint64_t id[4] = { v->dev, v->ino, v->size, (uint64_t)v->mtime_ns };
    req->deps = fs_hash(req->deps ? req->deps : FS_HASH_INIT, id, sizeof id);
    if (f->mtime.tv_sec > req->newest.tv_sec ||
        (f->mtime.tv_sec == req->newest.tv_sec && f->mtime.tv_nsec > req->newest.tv_nsec))
        req->newest = f->mtime;
    return 0;
}

int fs_filters_find(fs_req_t *req, const char *ism, const char (*names)[FS_NAME_MAX + 1],
                    uint32_t n, const pk_filter_t **out)
{
    fs_ctx_t *ctx = req->ctx;
    ffile_t *asset = NULL, *account = NULL;
    int rc, account_read = 0;

    /* NAME.filters.json beside NAME.ism */
    size_t len = strlen(ism);
    if (len >= 4 && strcmp(ism + len - 4, ".ism") == 0)
        len -= 4;
    char *path = arena_alloc(req->arena, len + sizeof ".filters.json");
    if (!path)
        return -ENOMEM;
    memcpy(path, ism, len);
    memcpy(path + len, ".filters.json", sizeof ".filters.json");
    if ((rc = ffile_get(ctx, path, 1, &asset)) < 0)
        return rc == -ENOMEM ? rc : -ENOENT;
    if (asset && (rc = hold(req, asset)) < 0)
        return rc;
    if (asset && asset->err)
        return -ENOENT;         /* what it meant to define (or override) is unknown */

    for (uint32_t i = 0; i < n; i++) {
        /* an asset filter overrides an account filter of the same name (notes §3.3) */
        if ((out[i] = find(asset, names[i])))
            continue;
        if (!ctx->opt.account_filters)
            return -ENOENT;
        if (!account_read) {
            account_read = 1;
            if ((rc = ffile_get(ctx, ctx->opt.account_filters, 0, &account)) < 0)
                return rc == -ENOMEM ? rc : -ENOENT;
            if (account && (rc = hold(req, account)) < 0)
                return rc;
        }
        if (!(out[i] = find(account, names[i]))) {
            PK_DEBUG("%s: no filter named \"%s\"", ism, names[i]);
            return -ENOENT;
        }
    }
    return 0;
}
