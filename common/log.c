/* SPDX-License-Identifier: Apache-2.0 */
/* One-line key=value logging to stderr (journald-friendly), reopenable on SIGHUP. */
#include "p4common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum p4_log_level min_level = P4_LOG_INFO;
static const char *component = "p4";
/* Where lines go. Set once, from stderr to a descriptor of its own on the first reopen to a
 * file; every later reopen replaces the file behind that same number with dup3(2), which is
 * atomic, so a thread that loaded the number writes a whole line to the old file or the new
 * one, never to a descriptor closed meanwhile and given to a SQLite file or a socket. */
static _Atomic int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static p4_log_sink_fn sink;
static void *sink_ctx;

void p4_log_set_level(enum p4_log_level level)
{
    min_level = level;
}

int p4_log_parse_level(const char *name, enum p4_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum p4_log_level)i;
            return 0;
        }
    }
    return -1;
}

void p4_log_set_sink(p4_log_sink_fn fn, void *ctx)
{
    sink = fn;
    sink_ctx = ctx;
}

void p4_log_set_component(const char *name)
{
    component = name;
}

int p4_log_fd(void)
{
    return atomic_load_explicit(&log_fd, memory_order_relaxed);
}

/* Called from one thread at a time (the owning thread, on SIGHUP); p4_log may run on any. */
int p4_log_reopen(const char *path)
{
    int cur = atomic_load(&log_fd);
    int fd, rc;

    if (!path) {
        /* Back to stderr, keeping the number other threads may hold. */
        if (cur != STDERR_FILENO && dup3(STDERR_FILENO, cur, O_CLOEXEC) < 0)
            return -1;
        return 0;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (cur == STDERR_FILENO) {
        /* The first file: a new number, published once nothing else is left to do. */
        atomic_store(&log_fd, fd);
        return 0;
    }
    do {
        rc = dup3(fd, cur, O_CLOEXEC);
    } while (rc < 0 && errno == EBUSY); /* Linux: a racing open(2) of that number */
    close(fd);
    return rc < 0 ? -1 : 0;
}

void p4_log(enum p4_log_level level, const char *fmt, ...)
{
    char line[2048];
    char ts[P4_TS_LEN];
    va_list ap;
    int n, m;

    if (level < min_level)
        return;
    if (sink) {
        va_start(ap, fmt);
        m = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (m >= 0)
            sink(level, line, sink_ctx);
        return;
    }
    p4_format_ts(p4_now_ms(), ts);
    n = snprintf(line, sizeof(line), "%s level=%s comp=%s msg=", ts, level_names[level],
                 component);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2; /* truncated: one event still makes one line */
    line[n++] = '\n';
    /* One write(2) keeps lines from different threads whole. */
    if (write(atomic_load_explicit(&log_fd, memory_order_relaxed), line, (size_t)n) < 0) {
        /* Nowhere left to report it. */
    }
}
