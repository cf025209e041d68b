/* SPDX-License-Identifier: Apache-2.0 */
/* saleid: the sale ids and timestamps the benchmark generators write into their sales. */

#include "saleid.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

int64_t bt_realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bt_format_ts(int64_t ms, char out[32])
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&sec, &tm);
    /* the ranges are those of gmtime_r; the casts tell the compiler so */
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000,
             (unsigned)(tm.tm_mon + 1) % 100, (unsigned)tm.tm_mday % 100,
             (unsigned)tm.tm_hour % 100, (unsigned)tm.tm_min % 100, (unsigned)tm.tm_sec % 100,
             (unsigned)(ms % 1000) % 1000);
}

void bt_uuid7(int64_t ms, uint64_t tag, uint64_t index, char out[37])
{
    uint64_t t = (uint64_t)ms;

    snprintf(out, 37, "%08" PRIx64 "-%04" PRIx64 "-7%03" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
             (t >> 16) & 0xffffffffu, t & 0xffff, (tag >> 14) & 0xfff,
             (uint64_t)0x8000 | (tag & 0x3fff), index & UINT64_C(0xffffffffffff));
}
