/* SPDX-License-Identifier: Apache-2.0 */
/* The downlink publisher: answers resync requests from the database and publishes the outbox
 * in id order, marking each row only after the broker's PUBACK. Any p4hq process may run it;
 * FOR UPDATE SKIP LOCKED gives each row to one of them. */
#include "p4hq.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authority.h"
#include "metrics.h"
#include "p4common.h"
#include "p4t_zstd.h"

#define PUBLISH_BATCH 100      /* outbox rows per transaction */
#define PUBACK_TIMEOUT_MS 5000 /* a row not acknowledged by then stays pending */
#define IDLE_WAIT_MS 1000      /* between polls when no NOTIFY comes */
#define RECONNECT_MAX_MS 10000

struct downlink {
    const struct p4hq_config *cfg;
    struct link *link;
    struct db db;
    uint64_t n_published, n_resyncs;
    uint64_t n_packed; /* messages sent as zstd frames (contract 6.10) */
};

int downlink_new(struct downlink **out, const struct p4hq_config *cfg, struct link *link)
{
    struct downlink *d = calloc(1, sizeof *d);

    *out = d;
    if (!d)
        return P4HQ_ENOMEM;
    d->cfg = cfg;
    d->link = link;
    return P4HQ_OK;
}

void downlink_free(struct downlink *d)
{
    if (!d)
        return;
    db_close(&d->db);
    free(d);
}

static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Kind by kind, the items a store lacks (contract 6.6), as item texts in increasing ver. */
static const struct {
    const char *kind;
    const char *sql; /* $1 tenant, $2 store, $3 since */
} resync_queries[] = {
    {"price", "SELECT item FROM prices WHERE tenant = $1 AND (store IS NULL OR store = $2)"
              " AND ver > $3 AND (effective_until IS NULL OR effective_until > now())"
              " ORDER BY ver"},
    {"promo", "SELECT item FROM (SELECT DISTINCT ON (id) item, ver FROM promos"
              " WHERE tenant = $1 AND $2::text <> '' ORDER BY id, ver DESC) p WHERE ver > $3"
              " ORDER BY ver"},
    {"customer", "SELECT item FROM customers WHERE tenant = $1 AND $2::text <> ''"
                 " AND ver > $3 ORDER BY ver"},
    {"loyalty", "SELECT item FROM (SELECT a.item, a.ver, 0 AS part FROM loyalty_accounts a"
                " WHERE a.tenant = $1 AND $2::text <> '' AND a.ver > $3"
                " UNION ALL SELECT json_build_object('customer', l.customer, 'entry', l.entry,"
                "  'points', l.points)::text, a.ver, 1 FROM loyalty_ledger l"
                "  JOIN loyalty_accounts a ON a.tenant = l.tenant AND a.customer = l.customer"
                "  WHERE l.tenant = $1 AND a.ver > $3 AND l.gw_seq IS NULL AND l.at > a.as_of)"
                " x ORDER BY ver, part"},
    {"stock", "SELECT m.item FROM stock_movements m JOIN stock k ON k.tenant = m.tenant"
              " AND k.store = m.store AND k.sku = m.sku WHERE m.tenant = $1 AND m.store = $2"
              " AND m.item IS NOT NULL AND $3::bigint >= 0 AND m.occurred_at >= k.count_at"
              " ORDER BY m.occurred_at, m.id"},
    /* An empty replica (rebuild): HQ's figure per sku as a count at the time of the newest
     * movement it includes, so sales the registers resend that HQ lacks (later) still move
     * the replica's stock, and those HQ holds (not later) do not. A count cannot be
     * negative: an oversold sku gets a count of 0 and an adjust 1 ms after it. */
    {"stock", "WITH k AS (SELECT k.sku, k.on_hand, greatest(k.count_at, coalesce((SELECT"
              "  max(m.occurred_at) FROM stock_movements m WHERE m.tenant = k.tenant"
              "  AND m.store = k.store AND m.sku = k.sku AND m.occurred_at > k.count_at),"
              "  k.count_at)) AS at FROM stock k WHERE k.tenant = $1 AND k.store = $2"
              "  AND $3::bigint >= 0),"
              " f AS (SELECT sku, on_hand, at, substr(md5(sku || '/' || at::text || '/'"
              "  || on_hand::text), 1, 24) AS h FROM k)"
              "SELECT item FROM (SELECT json_build_object('id', 'rb-' || h, 'sku', sku,"
              "  'type', 'count', 'on_hand', greatest(on_hand, 0), 'occurred_at',"
              "  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))::text"
              "  AS item, at, sku, 0 AS part FROM f"
              " UNION ALL SELECT json_build_object('id', 'rbn-' || h, 'sku', sku, 'type',"
              "  'adjust', 'delta', on_hand, 'occurred_at', to_char((at + interval '1 ms')"
              "  AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))::text, at, sku, 1"
              "  FROM f WHERE on_hand < 0) x ORDER BY at, sku, part"},
};
#define RESYNC_KINDS 5       /* the first five answer a resync; the last replaces "stock" */
#define RESYNC_STOCK_REBUILD 5

/* Answers the oldest pending resync request: its messages go to the outbox in the same
 * transaction that marks it answered. Returns 1 if one was answered, 0 if none, or < 0. */
static int answer_resync(struct downlink *d)
{
    const char *v[1] = {d->cfg->tenant};
    char store[P4T_ID_MAX + 1], req_id[P4T_ID_MAX + 1], id[24];
    int64_t since[5];
    bool rebuild;
    PGresult *res;
    int rc;

    rc = db_exec(&d->db, "BEGIN", "begin");
    if (!rc)
        rc = db_query(&d->db,
                      "SELECT id, store, req_id, since_price, since_promo, since_customer,"
                      " since_loyalty, rebuild FROM resync_requests WHERE tenant = $1"
                      " AND answered_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                      1, v, &res);
    if (rc)
        goto fail;
    if (PQntuples(res) == 0) {
        PQclear(res);
        db_exec(&d->db, "ROLLBACK", "rollback");
        return 0;
    }
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    snprintf(store, sizeof store, "%s", PQgetvalue(res, 0, 1));
    snprintf(req_id, sizeof req_id, "%s", PQgetvalue(res, 0, 2));
    for (int k = 0; k < 4; k++)
        since[k] = strtoll(PQgetvalue(res, 0, 3 + k), NULL, 10);
    since[4] = 0; /* stock has no ver: the latest count and every movement after it */
    rebuild = strcmp(PQgetvalue(res, 0, 7), "t") == 0;
    PQclear(res);
    for (size_t q = 0; q < RESYNC_KINDS && !rc; q++) {
        char since_text[24];
        const char *p[3] = {d->cfg->tenant, store, since_text};
        size_t qq = q == 4 && rebuild ? RESYNC_STOCK_REBUILD : q;
        char **items;
        int n;

        snprintf(since_text, sizeof since_text, "%" PRId64, since[q]);
        rc = db_query(&d->db, resync_queries[qq].sql, 3, p, &res);
        if (rc)
            break;
        n = PQntuples(res);
        items = calloc((size_t)n + 1, sizeof *items);
        if (!items) {
            PQclear(res);
            rc = P4HQ_ENOMEM;
            break;
        }
        for (int r = 0; r < n; r++)
            items[r] = PQgetvalue(res, r, 0);
        rc = authority_enqueue_items(&d->db, d->cfg->tenant, store, resync_queries[q].kind,
                                     items, (size_t)n);
        free(items);
        PQclear(res);
    }
    if (!rc) {
        const char *p[1] = {id};
        rc = db_query(&d->db, "UPDATE resync_requests SET answered_at = now() WHERE id = $1",
                      1, p, NULL);
    }
    if (!rc)
        rc = db_exec(&d->db, "COMMIT", "commit");
    if (rc)
        goto fail;
    d->n_resyncs++;
    p4_info("resync answered store=%s req_id=%s rebuild=%d", store, req_id, rebuild);
    return 1;
fail:
    if (db_ok(&d->db))
        db_exec(&d->db, "ROLLBACK", "rollback");
    return P4HQ_EDB;
}

/* Publishes up to PUBLISH_BATCH pending rows. Rows whose PUBACK does not come stay pending
 * (the transaction that locked them rolls back). Returns the rows published, or < 0. */
static int publish_some(struct downlink *d)
{
    const char *v[1] = {d->cfg->tenant};
    int tokens[PUBLISH_BATCH];
    char ids[PUBLISH_BATCH * 24 + 4];
    size_t ids_len = 0;
    PGresult *res;
    int n, sent = 0, rc;

    if (!link_connected(d->link))
        return 0;
    rc = db_exec(&d->db, "BEGIN", "begin");
    if (!rc)
        rc = db_query(&d->db,
                      "SELECT d.id, d.store, d.kind, d.payload, coalesce(s.zstd_dict, 0)"
                      " FROM downlink d LEFT JOIN stores s"
                      "  ON s.tenant = d.tenant AND s.store = d.store"
                      " WHERE d.tenant = $1 AND d.published_at IS NULL ORDER BY d.id LIMIT 100"
                      " FOR UPDATE OF d SKIP LOCKED",
                      1, v, &res);
    if (rc)
        goto fail;
    n = PQntuples(res);
    ids[ids_len++] = '{';
    for (int r = 0; r < n; r++) {
        char topic[P4T_TOPIC_MAX];
        const char *payload = PQgetvalue(res, r, 3);

        char *packed = NULL;
        size_t len = (size_t)PQgetlength(res, r, 3);
        int failed;

        if (p4t_topic_down(topic, sizeof topic, d->cfg->tenant, PQgetvalue(res, r, 1),
                           PQgetvalue(res, r, 2)) != 0)
            break;
        /* A store whose gateway compresses with the dictionary HQ packs with reads it. */
        if (strtoul(PQgetvalue(res, r, 4), NULL, 10) == P4T_ZSTD_DICT_ID &&
            p4t_zstd_pack(payload, len, &packed, &len) == 0) {
            d->n_packed++;
            payload = packed;
        } else {
            len = (size_t)PQgetlength(res, r, 3);
        }
        failed = link_send(d->link, topic, payload, len, &tokens[sent]);
        free(packed);
        if (failed)
            break;
        ids_len += (size_t)snprintf(ids + ids_len, sizeof ids - ids_len, "%s%s",
                                    sent ? "," : "", PQgetvalue(res, r, 0));
        sent++;
    }
    PQclear(res);
    ids[ids_len++] = '}';
    ids[ids_len] = '\0';
    /* Paho completes tokens in order: the rows acknowledged are a prefix. */
    for (int i = 0; i < sent; i++) {
        if (link_wait(d->link, tokens[i], PUBACK_TIMEOUT_MS) != 0) {
            sent = i;
            break;
        }
    }
    if (sent == 0) {
        db_exec(&d->db, "ROLLBACK", "rollback");
        return 0;
    }
    {
        const char *p[2] = {ids, NULL};
        char count[16];
        snprintf(count, sizeof count, "%d", sent);
        p[1] = count;
        rc = db_query(&d->db,
                      "UPDATE downlink SET published_at = now() WHERE id = ANY"
                      " ((SELECT array_agg(x ORDER BY x) FROM unnest($1::bigint[]) x)"
                      "  [1:$2::int])",
                      2, p, NULL);
    }
    if (!rc)
        rc = db_exec(&d->db, "COMMIT", "commit");
    if (rc)
        goto fail;
    d->n_published += (uint64_t)sent;
    atomic_fetch_add(&hq_metrics.downlink_published, (uint64_t)sent);
    return sent;
fail:
    if (db_ok(&d->db))
        db_exec(&d->db, "ROLLBACK", "rollback");
    return P4HQ_EDB;
}

static int connect_db(struct downlink *d, volatile int *stop)
{
    int backoff_ms = 250;

    while (!*stop) {
        if (db_open(&d->db, d->cfg, "p4hq downlink") == 0) {
            if (db_exec(&d->db, "LISTEN p4hq_downlink", "listen") == 0)
                return P4HQ_OK;
            db_close(&d->db);
        }
        nap(backoff_ms);
        backoff_ms = backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff_ms * 2;
    }
    return P4HQ_EDB;
}

/* Sleeps until a NOTIFY arrives on the connection or IDLE_WAIT_MS pass. */
static void wait_notify(struct downlink *d)
{
    struct pollfd pfd = {.fd = PQsocket(d->db.conn), .events = POLLIN};
    PGnotify *n;

    if (pfd.fd < 0 || poll(&pfd, 1, IDLE_WAIT_MS) <= 0)
        return;
    PQconsumeInput(d->db.conn);
    while ((n = PQnotifies(d->db.conn)))
        PQfreemem(n);
}

void downlink_run(struct downlink *d, volatile int *stop)
{
    while (!*stop) {
        int busy = 0, rc;

        if (!db_ok(&d->db)) {
            db_close(&d->db);
            if (connect_db(d, stop) != 0)
                return;
        }
        rc = answer_resync(d);
        if (rc > 0)
            busy = 1;
        if (rc >= 0) {
            rc = publish_some(d);
            if (rc > 0)
                busy = 1;
        }
        if (rc < 0) {
            nap(250);
            continue;
        }
        if (!busy) {
            /* Pending rows while the link is down are retried every IDLE_WAIT_MS. */
            wait_notify(d);
        }
    }
    p4_info("downlink publisher stopped published=%" PRIu64 " resyncs=%" PRIu64
            " sent_zstd=%" PRIu64, d->n_published, d->n_resyncs, d->n_packed);
}
