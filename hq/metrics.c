/* SPDX-License-Identifier: Apache-2.0 */
/* p4hq's Prometheus metrics: counters the ingest and downlink threads add to, and figures read
 * from the database and the link when scraped (GET /metrics). */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

struct hq_metrics hq_metrics;

/* Commit latency buckets, milliseconds (upper bounds; +Inf is the count). */
static const int commit_le_ms[METRICS_COMMIT_BUCKETS] = {1, 2, 5, 10, 25, 50, 100, 250, 500,
                                                         1000, 2500, 5000};

void metrics_commit_observe(int64_t ms)
{
    for (int i = 0; i < METRICS_COMMIT_BUCKETS; i++) {
        if (ms <= commit_le_ms[i])
            atomic_fetch_add(&hq_metrics.commit_le[i], 1);
    }
    atomic_fetch_add(&hq_metrics.commit_count, 1);
    atomic_fetch_add(&hq_metrics.commit_sum_ms, (uint64_t)(ms > 0 ? ms : 0));
}

/* A growing text buffer; on allocation failure it stays as it was and FAILED is set. */
struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        if (o->failed)
            return;
        va_start(ap, fmt);
        n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if (o->buf && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        {
            size_t cap = o->cap ? o->cap * 2 : 8192;
            char *p;
            while (cap < o->len + (size_t)n + 1)
                cap *= 2;
            p = realloc(o->buf, cap);
            if (!p) {
                o->failed = true;
                return;
            }
            o->buf = p;
            o->cap = cap;
        }
    }
}

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
    put(o, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void gauge(struct out *o, const char *name, const char *help, int64_t v)
{
    put(o, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRId64 "\n", name, help, name, name, v);
}

/* Per-store watermark lag and gaps, and the downlink outbox, from the database. */
static const char sql_stores[] =
    "SELECT s.store, s.max_gw_seq - s.hq_through, coalesce(s.state, ''),"
    " (SELECT count(*) FROM ("
    "   SELECT gw_seq, lead(gw_seq) OVER (ORDER BY gw_seq) AS nxt FROM ("
    "    SELECT gw_seq FROM sales WHERE tenant = s.tenant AND store = s.store"
    "     AND gw_seq >= s.hq_through"
    "    UNION SELECT gw_seq FROM record_exceptions WHERE tenant = s.tenant"
    "     AND store = s.store AND gw_seq >= s.hq_through"
    "    UNION SELECT s.hq_through) h) g WHERE nxt > gw_seq + 1)"
    " FROM stores s WHERE s.tenant = $1 ORDER BY s.store LIMIT 10000";

static const char sql_outbox[] =
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)) * 1000, 0)::bigint"
    " FROM downlink WHERE tenant = $1 AND published_at IS NULL";

int metrics_render(struct db *db, const struct p4hq_config *cfg, struct link *link,
                   int sse_clients, char **text, size_t *len)
{
    const char *v[1] = {cfg->tenant};
    struct out o = {0};
    PGresult *res = NULL;
    int64_t now = p4_mono_ms(), oldest = atomic_load(&hq_metrics.group_oldest_ms);
    int64_t queued = link ? link_oldest_ms(link) : 0;
    int64_t age = 0;

    if (oldest > 0)
        age = now - oldest;
    if (queued > 0 && now - queued > age)
        age = now - queued;
    counter(&o, "p4hq_batches_total", "up/sale messages committed.",
            atomic_load(&hq_metrics.batches));
    counter(&o, "p4hq_sales_total", "Sale records posted (first time only).",
            atomic_load(&hq_metrics.sales));
    counter(&o, "p4hq_duplicates_total", "Records already held (resent copies).",
            atomic_load(&hq_metrics.duplicates));
    counter(&o, "p4hq_conflicts_total", "Records whose sale id HQ holds under another key.",
            atomic_load(&hq_metrics.conflicts));
    counter(&o, "p4hq_invalid_records_total", "Records that break the contract, kept.",
            atomic_load(&hq_metrics.invalid));
    counter(&o, "p4hq_dead_letters_total", "Uplink messages that could not be read, kept.",
            atomic_load(&hq_metrics.dead_letters));
    counter(&o, "p4hq_commit_retries_total", "Ingest transactions that failed and were retried.",
            atomic_load(&hq_metrics.retries));
    counter(&o, "p4hq_downlink_published_total", "Downlink messages the broker acknowledged.",
            atomic_load(&hq_metrics.downlink_published));
    put(&o, "# HELP p4hq_commit_ms Time to commit one ingest transaction, ms.\n"
            "# TYPE p4hq_commit_ms histogram\n");
    for (int i = 0; i < METRICS_COMMIT_BUCKETS; i++)
        put(&o, "p4hq_commit_ms_bucket{le=\"%d\"} %" PRIu64 "\n", commit_le_ms[i],
            atomic_load(&hq_metrics.commit_le[i]));
    put(&o, "p4hq_commit_ms_bucket{le=\"+Inf\"} %" PRIu64 "\np4hq_commit_ms_sum %" PRIu64
            "\np4hq_commit_ms_count %" PRIu64 "\n",
        atomic_load(&hq_metrics.commit_count), atomic_load(&hq_metrics.commit_sum_ms),
        atomic_load(&hq_metrics.commit_count));
    gauge(&o, "p4hq_oldest_uncommitted_ms",
          "Age of the oldest uplink message received and not yet committed, ms.", age);
    gauge(&o, "p4hq_db_up", "1 while the ingest thread's database connection works.",
          atomic_load(&hq_metrics.db_up));
    gauge(&o, "p4hq_broker_up", "1 while the cloud broker connection is up.",
          link && link_connected(link) ? 1 : 0);
    gauge(&o, "p4hq_sse_clients", "Dashboard pages streaming from this process.", sse_clients);
    if (db && db_query(db, sql_outbox, 1, v, &res) == 0) {
        gauge(&o, "p4hq_downlink_outbox_depth", "Downlink messages not yet published.",
              strtoll(PQgetvalue(res, 0, 0), NULL, 10));
        gauge(&o, "p4hq_downlink_oldest_ms", "Age of the oldest unpublished downlink message.",
              strtoll(PQgetvalue(res, 0, 1), NULL, 10));
        PQclear(res);
    }
    if (db && db_query(db, sql_stores, 1, v, &res) == 0) {
        put(&o, "# HELP p4hq_store_watermark_lag Records seen above the store's committed "
                "watermark (max gw_seq - hq_through).\n# TYPE p4hq_store_watermark_lag gauge\n");
        for (int r = 0; r < PQntuples(res); r++)
            put(&o, "p4hq_store_watermark_lag{store=\"%s\"} %s\n", PQgetvalue(res, r, 0),
                PQgetvalue(res, r, 1));
        put(&o, "# HELP p4hq_store_gaps Missing gw_seq ranges between the watermark and the "
                "highest seen.\n# TYPE p4hq_store_gaps gauge\n");
        for (int r = 0; r < PQntuples(res); r++)
            put(&o, "p4hq_store_gaps{store=\"%s\"} %s\n", PQgetvalue(res, r, 0),
                PQgetvalue(res, r, 3));
        put(&o, "# HELP p4hq_store_online 1 when the store's last status is online.\n"
                "# TYPE p4hq_store_online gauge\n");
        for (int r = 0; r < PQntuples(res); r++)
            put(&o, "p4hq_store_online{store=\"%s\"} %d\n", PQgetvalue(res, r, 0),
                strcmp(PQgetvalue(res, r, 2), "online") == 0);
        PQclear(res);
    }
    if (o.failed) {
        free(o.buf);
        return P4HQ_ENOMEM;
    }
    *text = o.buf;
    *len = o.len;
    return P4HQ_OK;
}
