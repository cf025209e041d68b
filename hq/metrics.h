/* SPDX-License-Identifier: Apache-2.0 */
/* p4hq's metrics: process-wide counters (atomics the owning threads add to) and the Prometheus
 * text rendered on GET /metrics. */
#ifndef P4HQ_METRICS_H
#define P4HQ_METRICS_H

#include <stdatomic.h>

#include "p4hq.h"

#define METRICS_COMMIT_BUCKETS 12

/* Written by the ingest thread (counts after COMMIT) and the downlink publisher; read by the
 * HTTP threads. Relaxed atomics: each figure is exact, two figures need not be read together. */
struct hq_metrics {
    _Atomic uint64_t batches, sales, duplicates, conflicts, invalid, dead_letters, retries;
    _Atomic uint64_t downlink_published;
    _Atomic uint64_t commit_le[METRICS_COMMIT_BUCKETS], commit_count, commit_sum_ms;
    _Atomic int64_t db_up;           /* the ingest connection works */
    _Atomic int64_t group_oldest_ms; /* monotonic receive time of the group in hand, 0 none */
};
extern struct hq_metrics hq_metrics;

/* Adds one ingest commit of MS milliseconds to the histogram. */
void metrics_commit_observe(int64_t ms);
/* Renders every metric as Prometheus text (*TEXT malloc'd, the caller frees). DB (may be NULL:
 * the database figures are then left out) is the calling thread's connection; LINK (may be
 * NULL) the cloud link. Returns 0 or P4HQ_ENOMEM. */
int metrics_render(struct db *db, const struct p4hq_config *cfg, struct link *link,
                   int sse_clients, char **text, size_t *len);

#endif
