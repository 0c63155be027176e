/*
 * Logging for pack/ and crypt/ (and fs/, index/). One line per event, written to a
 * sink that the program picks (stderr by default, a file or syslog for the daemon, a
 * buffer in tests). The sinks are the one I/O pack/ does.
 *
 * Log once, where the problem is found, with the values that explain it; callers
 * pass the error code up silently.
 */
#ifndef PK_LOG_H
#define PK_LOG_H

#include <stdarg.h>

enum { PK_LOG_ERROR = 0, PK_LOG_WARN = 1, PK_LOG_INFO = 2, PK_LOG_DEBUG = 3 };

/* The current level: messages above it are dropped. Set once at start-up. */
extern int pk_log_level;

typedef void (*pk_log_sink_fn)(int level, const char *func, const char *msg, void *ctx);

/* Replaces the sink (NULL restores stderr). Set before threads start. */
void pk_log_set_sink(pk_log_sink_fn fn, void *ctx);

/*
 * The file sink: lines "2026-01-02T03:04:05.678Z ismfs[PID]: LEVEL: message" appended to
 * `path` (created 0640), one write() per line (nothing buffered: a crash loses no line).
 * Calling it again switches to another file. Set before threads start. Returns 0,
 * -ENAMETOOLONG (empty or longer than PATH_MAX) or the negative errno of open().
 */
int pk_log_to_file(const char *path);

/*
 * Reopens the file of pk_log_to_file by its path (after logrotate moved it away), in place:
 * a line being written goes to the old file or the new one. Async-signal-safe: meant
 * for a SIGHUP handler. Returns 0 (also without a file sink) or a negative errno (the
 * old file stays in use).
 */
int pk_log_reopen(void);

/* The syslog sink: openlog("ismfs", LOG_PID, LOG_DAEMON), levels as LOG_ERR, LOG_WARNING,
 * LOG_INFO, LOG_DEBUG. Set before threads start. */
void pk_log_to_syslog(void);

void pk_log(int level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define PK_ERROR(...) pk_log(PK_LOG_ERROR, __func__, __VA_ARGS__)
#define PK_WARN(...)  pk_log(PK_LOG_WARN, __func__, __VA_ARGS__)
#define PK_INFO(...)  do { if (pk_log_level >= PK_LOG_INFO) \
                           pk_log(PK_LOG_INFO, __func__, __VA_ARGS__); } while (0)
#define PK_DEBUG(...) do { if (pk_log_level >= PK_LOG_DEBUG) \
                           pk_log(PK_LOG_DEBUG, __func__, __VA_ARGS__); } while (0)

#endif
