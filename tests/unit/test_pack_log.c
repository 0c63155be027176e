/*
 * pack/log.c: the stderr default, a test sink, and the file sink with its reopen (the
 * logrotate path: the file is renamed away, SIGHUP reopens it by name).
 */
#include "test.h"

#include "../../pack/log.c"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ismfs_log_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    pk_log_set_sink(NULL, NULL);
    pk_log_level = PK_LOG_WARN;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The whole of a file, NUL-terminated, in a static buffer ("" when it is missing). */
static const char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_file_sink(void **state)
{
    (void)state;
    char path[128], moved[128];
    snprintf(path, sizeof path, "%s/ismfs.log", dir);
    snprintf(moved, sizeof moved, "%s/ismfs.log.1", dir);

    FILE *f = fopen(path, "w");                 /* appended to, not truncated */
    fputs("earlier line\n", f);
    fclose(f);
    assert_int_equal(pk_log_to_file(path), 0);
    PK_ERROR("bad box %s at %d", "stsz", 42);
    PK_WARN("second");
    PK_INFO("dropped: above the level");
    const char *s = slurp(path);
    assert_int_equal(count_lines(s), 3);
    assert_non_null(strstr(s, "earlier line\n"));
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ ismfs[PID]: error: bad box stsz at 42" */
    char want[64];
    snprintf(want, sizeof want, "Z ismfs[%d]: error: bad box stsz at 42\n", (int)getpid());
    const char *l = strstr(s, want);
    assert_non_null(l);
    assert_true(l - s >= 23 && l[-24] == '\n' && l[-13] == 'T');
    assert_non_null(strstr(s, "]: warning: second\n"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644 & 0777);       /* an existing file keeps its mode */

    /* logrotate: rename, then reopen; lines go to the new file, none are lost */
    assert_int_equal(rename(path, moved), 0);
    PK_ERROR("into the moved file");
    assert_int_equal(pk_log_reopen(), 0);
    PK_ERROR("into the new file");
    assert_non_null(strstr(slurp(moved), "into the moved file"));
    s = slurp(path);
    assert_int_equal(count_lines(s), 1);
    assert_non_null(strstr(s, "error: into the new file\n"));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640 & ~(mode_t)umask(022) & 0777);

    /* a very long message is cut but stays one line */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    PK_ERROR("%s", big);
    s = slurp(path);
    assert_int_equal(count_lines(s), 2);
}

/* The reopen is async-signal-safe: the same from a SIGHUP handler. */
static void on_hup(int sig)
{
    (void)sig;
    (void)pk_log_reopen();
}

static void test_reopen_from_signal(void **state)
{
    (void)state;
    char path[128], moved[128];
    snprintf(path, sizeof path, "%s/d.log", dir);
    snprintf(moved, sizeof moved, "%s/d.log.1", dir);
    assert_int_equal(pk_log_to_file(path), 0);
    PK_ERROR("one");
    assert_int_equal(rename(path, moved), 0);
    signal(SIGHUP, on_hup);
    raise(SIGHUP);
    signal(SIGHUP, SIG_DFL);
    PK_ERROR("two");
    assert_non_null(strstr(slurp(moved), "one"));
    assert_null(strstr(slurp(moved), "two"));
    assert_non_null(strstr(slurp(path), "error: two\n"));
}

static void test_file_errors(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/missing/dir/x.log", dir);
    assert_int_equal(pk_log_to_file(path), -ENOENT);
    assert_int_equal(pk_log_to_file(""), -ENAMETOOLONG);
    assert_null(sink);                          /* still stderr */
}

static int captured;
static void capture(int level, const char *func, const char *msg, void *ctx)
{
    (void)ctx;
    assert_int_equal(level, PK_LOG_DEBUG);
    assert_string_equal(func, "test_sink_and_level");
    assert_string_equal(msg, "n=7");
    captured++;
}

static void test_sink_and_level(void **state)
{
    (void)state;
    pk_log_set_sink(capture, NULL);
    PK_DEBUG("n=%d", 7);
    assert_int_equal(captured, 0);
    pk_log_level = PK_LOG_DEBUG;
    PK_DEBUG("n=%d", 7);
    assert_int_equal(captured, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_sink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_from_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_and_level, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
