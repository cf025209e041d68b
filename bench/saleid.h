/* SPDX-License-Identifier: Apache-2.0 */
/* saleid: the sale ids and timestamps the benchmark generators write into their sales. */

#ifndef P4_BENCH_SALEID_H
#define P4_BENCH_SALEID_H

#include <stdint.h>

/* The wall clock in milliseconds since the epoch. */
int64_t bt_realtime_ms(void);
/* MS as the contract's ts, YYYY-MM-DDTHH:MM:SS.mmmZ (24 bytes and a NUL). */
void bt_format_ts(int64_t ms, char out[32]);
/* A valid UUIDv7 of time MS that carries TAG (26 bits, a run's random tag) and INDEX (48
 * bits) so the generator can tell its own sales and which one an id names:
 * time 48 | ver 7 | tag 12 | variant 10 + tag 14 | index 48. */
void bt_uuid7(int64_t ms, uint64_t tag, uint64_t index, char out[37]);

#endif
