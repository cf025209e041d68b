/* SPDX-License-Identifier: Apache-2.0 */
/* Wall and monotonic clocks in milliseconds, and RFC 3339 timestamps. */
#include "p4common.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t p4_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t p4_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void p4_format_ts(int64_t ms, char buf[P4_TS_LEN])
{
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    struct tm tm;
    char tmp[64];

    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    gmtime_r(&secs, &tm);
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    memcpy(buf, tmp, P4_TS_LEN - 1); /* years 0..9999 always give 24 characters */
    buf[P4_TS_LEN - 1] = '\0';
}
