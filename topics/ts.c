/* SPDX-License-Identifier: Apache-2.0 */
/* Timestamps of the v1 contract: exactly "YYYY-MM-DDTHH:MM:SS.mmmZ", a real UTC instant. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "p4t.h"

/* Reads N decimal digits at S into *OUT; 0 or -1 if any is not a digit. */
static int digits(const char *s, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

int p4t_ts_parse(const char *s, int64_t *out_ms)
{
    int year, mon, day, hour, min, sec, ms;
    struct tm tm;
    time_t t;

    *out_ms = 0;
    /* The exact shape first: one spelling per instant keeps ts comparable as text. */
    if (!s || strnlen(s, P4T_TS_LEN) != P4T_TS_LEN - 1)
        return P4T_EINVAL;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[19] != '.' || s[23] != 'Z')
        return P4T_EINVAL;
    if (digits(s, 4, &year) || digits(s + 5, 2, &mon) || digits(s + 8, 2, &day) ||
        digits(s + 11, 2, &hour) || digits(s + 14, 2, &min) || digits(s + 17, 2, &sec) ||
        digits(s + 20, 3, &ms))
        return P4T_EINVAL;
    if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon))
        return P4T_EINVAL;
    /* No leap second: POSIX time has no 23:59:60 and registers' clocks never show one. */
    if (hour > 23 || min > 59 || sec > 59)
        return P4T_EINVAL;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return P4T_EINVAL;
    *out_ms = (int64_t)t * 1000 + ms;
    return P4T_OK;
}

int p4t_ts_format(int64_t ms, char out[P4T_TS_LEN])
{
    struct tm tm;
    time_t t;
    char tmp[64];

    out[0] = '\0';
    /* 1970-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z: what p4t_ts_parse accepts. */
    if (ms < 0 || ms > 253402300799999LL)
        return P4T_EINVAL;
    t = (time_t)(ms / 1000);
    if (!gmtime_r(&t, &tm))
        return P4T_EINVAL;
    /* The range check bounds every field; the roomy buffer keeps the compiler sure of it. */
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    memcpy(out, tmp, P4T_TS_LEN - 1);
    out[P4T_TS_LEN - 1] = '\0';
    return P4T_OK;
}
