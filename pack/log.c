#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int pk_log_level = PK_LOG_WARN;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static pk_log_sink_fn sink;
static void *sink_ctx;

/*
 * The file sink. log_fd never changes once set: pk_log_reopen dup2()s a new open file
 * onto it, so a thread writing at that moment writes to the old file or the new one,
 * never to a closed descriptor. The path is kept in a fixed buffer because the reopen
 * runs in a signal handler (open, dup2 and close are async-signal-safe; malloc is not).
 */
static int log_fd = -1;
static char log_path[PATH_MAX];

static const char *level_name(int level)
{
    return level_names[level < 0 ? 0 : level > 3 ? 3 : level];
}

void pk_log_set_sink(pk_log_sink_fn fn, void *ctx)
{
    sink = fn;
    sink_ctx = ctx;
}

static void file_sink(int level, const char *func, const char *msg, void *ctx)
{
    char line[1200];
    struct timeval tv;
    struct tm tm;
    (void)func;
    (void)ctx;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ismfs[%d]: %s: %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), (int)getpid(), level_name(level), msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {             /* cut, but still one whole line */
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    /* one write per line: with O_APPEND, lines of several threads (and of a process that
     * shares the file) never interleave */
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w;                    /* nowhere left to report a failing log */
}

int pk_log_to_file(const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof log_path)
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return -errno;
    if (log_fd >= 0) {
        dup2(fd, log_fd);
        close(fd);
    } else {
        log_fd = fd;
    }
    memcpy(log_path, path, len + 1);
    pk_log_set_sink(file_sink, NULL);
    return 0;
}

int pk_log_reopen(void)
{
    if (log_fd < 0)
        return 0;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return -errno;
    int rc = dup2(fd, log_fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static void syslog_sink(int level, const char *func, const char *msg, void *ctx)
{
    static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
    (void)func;
    (void)ctx;
    syslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s: %s", level_name(level), msg);
}

void pk_log_to_syslog(void)
{
    openlog("ismfs", LOG_PID, LOG_DAEMON);
    pk_log_set_sink(syslog_sink, NULL);
}

void pk_log(int level, const char *func, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level > pk_log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sink) {
        sink(level, func, msg, sink_ctx);
        return;
    }
    /* one fprintf, so lines from several threads do not interleave */
    fprintf(stderr, "ismfs: %s: %s\n", level_name(level), msg);
}
