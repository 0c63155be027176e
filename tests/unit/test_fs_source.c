/* Opening sources beneath SRC (fs/source.c) and option parsing (fs/ctx.c). */
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../fs/source.c"

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
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_fragment),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
