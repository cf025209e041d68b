/* SPDX-License-Identifier: Apache-2.0 */
/* LD_PRELOAD shim that shifts a process's wall clock by an offset read from a file. */

/*
 * A register whose clock jumps (a dead RTC battery, a bad NTP answer, a hand-set date) is
 * simulated by preloading this library into `p4term simulate` with P4_CLOCK_SKEW_FILE naming a
 * file that holds one integer: milliseconds to add to CLOCK_REALTIME. The test rewrites the
 * file to make the clock jump while the process runs; the monotonic clocks are left alone,
 * as a real clock jump leaves them, so timers and Paho's keepalive keep working.
 *
 * The file is re-read at most every RELOAD_MS (by the monotonic clock) so a busy caller does
 * not turn every clock read into a file read. A missing or unreadable file means offset 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#define RELOAD_MS 20

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime;
/* Racy reads of these two from several threads are harmless: a stale offset for one read. */
static volatile int64_t skew_ms;
static volatile int64_t next_reload_ms;

static int64_t mono_ms(void)
{
    struct timespec ts;

    real_clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reload(void)
{
    const char *path = getenv("P4_CLOCK_SKEW_FILE");
    long long v = 0;
    int64_t now = mono_ms();
    FILE *f;

    if (now < next_reload_ms)
        return;
    next_reload_ms = now + RELOAD_MS;
    if (!path)
        return;
    f = fopen(path, "r");
    if (!f) {
        skew_ms = 0;
        return;
    }
    if (fscanf(f, "%lld", &v) == 1)
        skew_ms = (int64_t)v;
    fclose(f);
}

static void shift(struct timespec *ts)
{
    int64_t ns = (int64_t)ts->tv_nsec + (skew_ms % 1000) * 1000000;

    ts->tv_sec += (time_t)(skew_ms / 1000);
    if (ns < 0) {
        ns += 1000000000;
        ts->tv_sec -= 1;
    } else if (ns >= 1000000000) {
        ns -= 1000000000;
        ts->tv_sec += 1;
    }
    ts->tv_nsec = (long)ns;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc;

    if (!real_clock_gettime) {
        real_clock_gettime = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        if (!real_clock_gettime)
            abort(); /* no libc below us: nothing sensible to return */
    }
    rc = real_clock_gettime(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        reload();
        shift(ts);
    }
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;

    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    /* glibc declares TV nonnull, so it is not checked here either. */
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *out)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
