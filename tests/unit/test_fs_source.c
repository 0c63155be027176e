/* Opening sources beneath SRC (fs/source.c) and option parsing (fs/ctx.c). */
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* fs/source.c's fstat calls, counted: the deferred scope is there to save them */
static unsigned fstats;
static int counted_fstat(int fd, struct stat *st)
{
    fstats++;
    return fstat(fd, st);
}
#define fstat(fd, st) counted_fstat(fd, st)
#include "../../fs/source.c"
#undef fstat

static char root[64], outside[64];

static void put(const char *dir, const char *rel, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    char p[256];
    strcpy(root, "/tmp/ismfs-src-XXXXXX");
    strcpy(outside, "/tmp/ismfs-out-XXXXXX");
    assert_non_null(mkdtemp(root));
    assert_non_null(mkdtemp(outside));
    snprintf(p, sizeof p, "%s/sub", root);
    mkdir(p, 0755);
    put(root, "sub/a.txt", "hello");
    put(outside, "secret.txt", "key");
    snprintf(p, sizeof p, "%s/escape", root);
    CHECK(symlink(outside, p) == 0);
    snprintf(p, sizeof p, "%s/inside", root);
    CHECK(symlink("sub/a.txt", p) == 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", root, outside);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_beneath(void **state)
{
    (void)state;
    fs_ctx_t ctx;
    fs_options_t opt = { 0 };
    fs_req_t req;
    char *data;
    size_t len;
    struct stat st;

    CHECK(fs_ctx_open(&ctx, root, &opt) == 0);
    CHECK(fs_req_begin(&ctx, &req) == 0);
    CHECK(fs_read_small(&req, "sub/a.txt", 100, &data, &len, &st) == 0);
    CHECK(len == 5 && strcmp(data, "hello") == 0);
    CHECK(fs_read_small(&req, "inside", 100, &data, &len, &st) == 0);   /* link inside SRC */
    CHECK(fs_read_small(&req, "sub/a.txt", 4, &data, &len, &st) == -EFBIG);
    /* nothing outside SRC is reachable: not by .., not by a symlink, not absolute */
    CHECK(fs_read_small(&req, "escape/secret.txt", 100, &data, &len, &st) < 0);
    CHECK(fs_read_small(&req, "../secret.txt", 100, &data, &len, &st) < 0);
    CHECK(fs_read_small(&req, "sub/../../secret.txt", 100, &data, &len, &st) < 0);
    CHECK(fs_read_small(&req, outside, 100, &data, &len, &st) == -ENOENT);
    CHECK(fs_read_small(&req, "", 100, &data, &len, &st) == -ENOENT);
    CHECK(fs_read_small(&req, "sub", 100, &data, &len, &st) == -EISDIR);
    CHECK(fs_read_small(&req, "nope", 100, &data, &len, &st) == -ENOENT);
    fs_req_end(&req);
    fs_ctx_close(&ctx);
}

/* O_PATH opens (used to stat without reading) take no O_NOCTTY: openat2 would say EINVAL */
static void test_path_only_open(void **state)
{
    (void)state;
    int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(dir >= 0);
    int fd = fs_open_beneath(dir, "sub/a.txt", O_PATH);
    CHECK(fd >= 0);
    close(fd);
    fd = fs_open_beneath(dir, ".", O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    close(fd);
    CHECK(fs_open_beneath(dir, "escape/secret.txt", O_PATH) < 0);
    close(dir);
}

static void test_short_read_is_bad_message(void **state)
{
    (void)state;
    fs_ctx_t ctx;
    fs_options_t opt = { 0 };
    fs_req_t req;
    pk_source_t src;
    struct stat st;
    char buf[16];

    CHECK(fs_ctx_open(&ctx, root, &opt) == 0);
    CHECK(fs_req_begin(&ctx, &req) == 0);
    CHECK(fs_source_open(&req, "sub/a.txt", &src, &st) == 0);
    CHECK(src.size == 5 && strcmp(src.name, "sub/a.txt") == 0);
    CHECK(src.read(src.ctx, buf, 5, 0) == 0 && memcmp(buf, "hello", 5) == 0);
    CHECK(src.read(src.ctx, buf, 6, 0) == -EBADMSG);    /* the file shrank under us */
    fs_req_end(&req);
    fs_ctx_close(&ctx);
}

/* ---- deferred checks ---- */

typedef struct {
    fs_ctx_t ctx;
    fs_req_t req;
} env_t;

static void env_open(env_t *e)
{
    fs_options_t opt = { 0 };
    CHECK(fs_ctx_open(&e->ctx, root, &opt) == 0);
    CHECK(fs_req_begin(&e->ctx, &e->req) == 0);
}

static void env_close(env_t *e)
{
    fs_req_end(&e->req);
    fs_ctx_close(&e->ctx);
}

/* Writes `text` over the start of root/rel in place (same inode) and sets its mtime to
 * `sec`, a time the open cannot have seen: a rewrite whose mtime surely differs (a real one
 * within the same clock tick as the open would keep it: fs/source.c has that limit, with
 * or without deferral). */
/* A new file rel below root holding text, opened as *s in e's request. */
static void source_with(env_t *e, const char *rel, const char *text, pk_source_t *s)
{
    struct stat st;
    put(root, rel, text);
    CHECK(fs_source_open(&e->req, rel, s, &st) == 0);
}

static void rewrite(const char *rel, const char *text, time_t sec)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    int fd = open(p, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, text, strlen(text), 0) == (ssize_t)strlen(text));
    struct timespec t[2] = { { sec, 0 }, { sec, 0 } };
    CHECK(futimens(fd, t) == 0);
    close(fd);
}

/* In a scope, reads cost no fstat; its end costs one per source read, and finds none
 * changed. Outside, each read costs one. */
static void test_defer_reads_without_fstat(void **state)
{
    (void)state;
    env_t e;
    pk_source_t a, b;
    fs_source_defer_t d;
    char buf[8];

    env_open(&e);
    source_with(&e, "sub/d1.txt", "0123456789", &a);
    source_with(&e, "sub/d2.txt", "abcdefghij", &b);
    fstats = 0;
    for (int i = 0; i < 100; i++)
        CHECK(a.read(a.ctx, buf, 4, (uint64_t)(i % 6)) == 0);
    CHECK(fstats == 100);
    fstats = 0;
    fs_source_defer_begin(&d);
    for (int i = 0; i < 100; i++) {
        CHECK(a.read(a.ctx, buf, 4, (uint64_t)(i % 6)) == 0);
        CHECK(b.read(b.ctx, buf, 4, 2) == 0 && memcmp(buf, "cdef", 4) == 0);
    }
    CHECK(fstats == 0);
    CHECK(fs_source_defer_end(&d, 0) == 0);
    CHECK(fstats == 2);                 /* a and b, once each */
    /* the scope is over: reads are checked one by one again */
    fstats = 0;
    CHECK(a.read(a.ctx, buf, 4, 0) == 0 && memcmp(buf, "0123", 4) == 0);
    CHECK(fstats == 1);
    /* what the caller's work returned passes through when nothing changed */
    fs_source_defer_begin(&d);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0);
    CHECK(fs_source_defer_end(&d, -ENOMEM) == -ENOMEM);
    fs_source_defer_begin(&d);
    CHECK(fs_source_defer_end(&d, 0) == 0 && fstats == 2);  /* nothing read: nothing checked */
    env_close(&e);
}

/* A rewrite in place between two reads of one scope: the reads give bytes of two versions
 * (no check after each), the end says -EIO, whatever the work returned. */
static void test_defer_end_catches_a_change(void **state)
{
    (void)state;
    env_t e;
    pk_source_t a, b;
    fs_source_defer_t d;
    char buf[8];

    env_open(&e);
    source_with(&e, "sub/c1.txt", "0123456789", &a);
    source_with(&e, "sub/c2.txt", "abcdefghij", &b);
    fs_source_defer_begin(&d);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0 && memcmp(buf, "0123", 4) == 0);
    CHECK(b.read(b.ctx, buf, 4, 0) == 0);
    rewrite("sub/c2.txt", "ABCD", 1000000);
    CHECK(b.read(b.ctx, buf, 4, 0) == 0 && memcmp(buf, "ABCD", 4) == 0);   /* not checked */
    CHECK(a.read(a.ctx, buf, 4, 4) == 0);
    CHECK(fs_source_defer_end(&d, 0) == -EIO);
    /* an error of the work gives way to the change that may have caused it */
    fs_source_defer_begin(&d);
    CHECK(b.read(b.ctx, buf, 4, 0) == 0);
    CHECK(fs_source_defer_end(&d, -EBADMSG) == -EIO);
    /* a change of a source not read in the scope is not its concern */
    fs_source_defer_begin(&d);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0);
    CHECK(fs_source_defer_end(&d, 0) == 0);
    env_close(&e);
}

/* A change after a scope's check: that object was whole and is served; the next object's
 * scope (and any read outside one) sees the change. */
static void test_defer_change_after_check(void **state)
{
    (void)state;
    env_t e;
    pk_source_t a;
    fs_source_defer_t d;
    char buf[8];

    env_open(&e);
    source_with(&e, "sub/n.txt", "0123456789", &a);
    fs_source_defer_begin(&d);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0);
    CHECK(fs_source_defer_end(&d, 0) == 0);
    rewrite("sub/n.txt", "xy", 1000000);
    fs_source_defer_begin(&d);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0);
    CHECK(fs_source_defer_end(&d, 0) == -EIO);
    CHECK(a.read(a.ctx, buf, 4, 0) == -EIO);
    CHECK(fs_source_check(&a) == -EIO);
    env_close(&e);
}

/* A truncation: a read past the new end is checked at once in a scope too, so the error
 * names the change (-EIO), not a file shorter than its boxes (-EBADMSG). */
static void test_defer_truncated(void **state)
{
    (void)state;
    env_t e;
    pk_source_t a;
    struct stat st;
    fs_source_defer_t d;
    char buf[8], p[256];

    put(root, "sub/t.txt", "0123456789");
    snprintf(p, sizeof p, "%s/sub/t.txt", root);
    env_open(&e);
    CHECK(fs_source_open(&e.req, "sub/t.txt", &a, &st) == 0);
    fs_source_defer_begin(&d);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0);
    CHECK(truncate(p, 5) == 0);
    CHECK(a.read(a.ctx, buf, 2, 0) == 0);       /* still inside: deferred */
    fstats = 0;
    CHECK(a.read(a.ctx, buf, 4, 4) == -EIO);    /* past the end: checked now */
    CHECK(fstats == 1);
    CHECK(fs_source_defer_end(&d, -EIO) == -EIO);
    env_close(&e);
}

/* Nested scopes: the inner checks what it read; the outer what it read itself (an inner
 * scope's sources were checked after their last read there). */
static void test_defer_nested(void **state)
{
    (void)state;
    env_t e;
    pk_source_t a, b;
    fs_source_defer_t outer, inner;
    char buf[8];

    env_open(&e);
    source_with(&e, "sub/o1.txt", "0123456789", &a);
    source_with(&e, "sub/o2.txt", "abcdefghij", &b);
    fstats = 0;
    fs_source_defer_begin(&outer);
    fs_source_defer_begin(&inner);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0);
    CHECK(fs_source_defer_end(&inner, 0) == 0 && fstats == 1);
    CHECK(b.read(b.ctx, buf, 4, 0) == 0 && fstats == 1);     /* the outer defers again */
    rewrite("sub/o2.txt", "ABCD", 1000000);
    fs_source_defer_begin(&inner);
    CHECK(b.read(b.ctx, buf, 4, 0) == 0);
    CHECK(fs_source_defer_end(&inner, 0) == -EIO);
    CHECK(fs_source_defer_end(&outer, 0) == -EIO);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0);       /* no scope left: checked, unchanged */
    env_close(&e);
}

/* More distinct sources than a scope notes: the others are checked read by read. */
static void test_defer_full(void **state)
{
    (void)state;
    env_t e;
    pk_source_t s[FS_SOURCE_DEFER_MAX + 2];
    struct stat st;
    fs_source_defer_t d;
    char buf[4];

    put(root, "sub/f.txt", "0123456789");
    env_open(&e);
    for (unsigned i = 0; i < FS_SOURCE_DEFER_MAX + 2; i++)
        CHECK(fs_source_open(&e.req, "sub/f.txt", &s[i], &st) == 0);
    fstats = 0;
    fs_source_defer_begin(&d);
    for (unsigned r = 0; r < 3; r++)
        for (unsigned i = 0; i < FS_SOURCE_DEFER_MAX + 2; i++)
            CHECK(s[i].read(s[i].ctx, buf, 4, 0) == 0);
    CHECK(fstats == 3 * 2);                     /* the two beyond the notes, every read */
    CHECK(fs_source_defer_end(&d, 0) == 0);
    CHECK(fstats == 3 * 2 + FS_SOURCE_DEFER_MAX);
    /* a change is caught either way */
    fs_source_defer_begin(&d);
    rewrite("sub/f.txt", "x", 1000000);
    for (unsigned i = 0; i < FS_SOURCE_DEFER_MAX; i++)
        CHECK(s[i].read(s[i].ctx, buf, 4, 0) == 0);
    CHECK(s[FS_SOURCE_DEFER_MAX].read(s[FS_SOURCE_DEFER_MAX].ctx, buf, 4, 0) == -EIO);
    CHECK(fs_source_defer_end(&d, 0) == -EIO);
    env_close(&e);
}

/* fs_read_small checks at once, in a scope too: its bytes are parsed and kept */
static void test_defer_read_small_checks(void **state)
{
    (void)state;
    env_t e;
    fs_source_defer_t d;
    struct stat st;
    char *data;
    size_t len;

    put(root, "sub/small.txt", "hello");
    env_open(&e);
    fs_source_defer_begin(&d);
    fstats = 0;
    CHECK(fs_read_small(&e.req, "sub/small.txt", 100, &data, &len, &st) == 0);
    CHECK(fstats == 2);                         /* at open, and after the read */
    CHECK(fs_source_defer_end(&d, 0) == 0 && fstats == 2);
    env_close(&e);
}

/* The scope is the thread's: a read of the same source on another thread is checked. */
struct other { pk_source_t *src; int rc; };

static void *read_elsewhere(void *p)
{
    struct other *o = p;
    char buf[4];
    o->rc = o->src->read(o->src->ctx, buf, 4, 0);
    return NULL;
}

static void test_defer_is_per_thread(void **state)
{
    (void)state;
    env_t e;
    pk_source_t a;
    fs_source_defer_t d;
    pthread_t t;
    char buf[4];

    env_open(&e);
    source_with(&e, "sub/th.txt", "0123456789", &a);
    fs_source_defer_begin(&d);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0);
    rewrite("sub/th.txt", "x", 1000000);
    struct other o = { &a, 1 };
    CHECK(pthread_create(&t, NULL, read_elsewhere, &o) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(o.rc == -EIO);
    CHECK(a.read(a.ctx, buf, 4, 0) == 0);       /* this thread: deferred */
    CHECK(fs_source_defer_end(&d, 0) == -EIO);
    env_close(&e);
}

/* A plan of many ranges of one file (a fragment of an interleaved MP4: a range per sample)
 * is read with one check of the file, and gives -EIO once the file changed in place. */
static void test_plan_read_checks_once(void **state)
{
    (void)state;
    env_t e;
    pk_source_t a;
    pk_plan_t p;
    char buf[64];

    env_open(&e);
    source_with(&e, "sub/p.txt", "0123456789abcdefghijklmnopqrstuvwxyz", &a);
    CHECK(pk_plan_init(&p, e.req.arena, 4) == 0);
    CHECK(pk_plan_bytes(&p, e.req.arena, (const uint8_t *)"[", 1) == 0);
    for (uint64_t off = 0; off < 36; off += 2)          /* every other byte: 18 ranges */
        CHECK(pk_plan_range(&p, e.req.arena, &a, off, 1) == 0);
    CHECK(p.count == 19);
    fstats = 0;
    CHECK(fs_source_plan_read(&p, 0, buf, sizeof buf) == 19);
    CHECK(memcmp(buf, "[02468acegikmoqsuwy", 19) == 0);
    CHECK(fstats == 1);
    CHECK(fs_source_plan_read(&p, 5, buf, 3) == 3 && memcmp(buf, "8ac", 3) == 0);
    rewrite("sub/p.txt", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1000000);
    CHECK(fs_source_plan_read(&p, 0, buf, sizeof buf) == -EIO);
    env_close(&e);
}

static void test_parse_size(void **state)
{
    (void)state;
    uint64_t v;
    CHECK(fs_parse_size("1G", &v) == 0 && v == 1ull << 30);
    CHECK(fs_parse_size("512M", &v) == 0 && v == 512ull << 20);
    CHECK(fs_parse_size("64k", &v) == 0 && v == 64ull << 10);
    CHECK(fs_parse_size("2GB", &v) == 0 && v == 2ull << 30);
    CHECK(fs_parse_size("1048576", &v) == 0 && v == 1048576);
    CHECK(fs_parse_size("", &v) == -EINVAL);
    CHECK(fs_parse_size("-1", &v) == -EINVAL);
    CHECK(fs_parse_size("1X", &v) == -EINVAL);
    CHECK(fs_parse_size("99999999999T", &v) == -EINVAL);
}

static void test_parse_fragment(void **state)
{
    (void)state;
    uint32_t ms = 7;
    CHECK(fs_parse_fragment("2", &ms) == 0 && ms == 2000);
    CHECK(fs_parse_fragment("1.5", &ms) == 0 && ms == 1500);
    CHECK(fs_parse_fragment("0.1", &ms) == 0 && ms == 100);
    CHECK(fs_parse_fragment("60", &ms) == 0 && ms == 60000);
    ms = 7;
    CHECK(fs_parse_fragment("0.05", &ms) == -EINVAL && ms == 7);
    CHECK(fs_parse_fragment("61", &ms) == -EINVAL);
    CHECK(fs_parse_fragment("", &ms) == -EINVAL);
    CHECK(fs_parse_fragment("2s", &ms) == -EINVAL);
    CHECK(fs_parse_fragment("nan", &ms) == -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beneath),
        cmocka_unit_test(test_path_only_open),
        cmocka_unit_test(test_short_read_is_bad_message),
        cmocka_unit_test(test_defer_reads_without_fstat),
        cmocka_unit_test(test_defer_end_catches_a_change),
        cmocka_unit_test(test_defer_change_after_check),
        cmocka_unit_test(test_defer_truncated),
        cmocka_unit_test(test_defer_nested),
        cmocka_unit_test(test_defer_full),
        cmocka_unit_test(test_defer_read_small_checks),
        cmocka_unit_test(test_defer_is_per_thread),
        cmocka_unit_test(test_plan_read_checks_once),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_fragment),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
