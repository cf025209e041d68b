/* SPDX-License-Identifier: Apache-2.0 */
/* The ingest thread: a group of uplink messages -> one transaction (sales with lines, tenders,
 * stock, journal and loyalty; statuses; alerts; exceptions and dead letters), then HQ's
 * committed watermark to every store the group touched. */
#include "p4hq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authority.h"
#include "p4common.h"
#include "metrics.h"
#include "post.h"
#include "products.h"

#define MAX_STORES_PER_GROUP 1024 /* stores locked by one transaction; a bigger group splits */
#define RECONNECT_MAX_MS 10000

struct touched {
    char store[P4T_ID_MAX + 1];
    int64_t through_before;
    int64_t through;
    int64_t max_gw_seq;          /* the highest gw_seq held: where a new gateway continues */
    char req_id[P4T_ID_MAX + 1]; /* a resync of the group, echoed in the ack ("" = none) */
};

struct ingest {
    const struct p4hq_config *cfg;
    struct link *link;
    struct db db;
    struct products products;
    struct post post; /* the chunk of sales not yet written */
    struct p4t_sale *sale;
    struct touched *stores;
    size_t n_stores;
    char **customers; /* customers whose points this transaction moved (malloc'd copies) */
    /* Stores whose zstd dictionary this process has recorded (stores.zstd_dict), so the row
     * is written once, not per message; forgotten when a transaction fails. */
    char (*zstd_stores)[P4T_ID_MAX + 1];
    size_t n_zstd, cap_zstd;
    size_t n_customers, cap_customers;
    /* What the open transaction did, added to the totals and the metrics only after its
     * COMMIT, so a retried group is not counted twice. */
    struct counts {
        uint64_t batches, sales, dups, conflicts, invalid, dead, resent;
    } txn, total;
    uint64_t n_groups, n_retries; /* since start (logged every STATS_EVERY_MS) */
    int64_t last_stats_ms;
};

#define STATS_EVERY_MS 10000

/* ---- statements ---- */

/* The rows of the stores a group touches, locked (created if new) in one statement, in store
 * order so that two processes never wait on each other in a cycle. */
static const char sql_lock_stores[] =
    "INSERT INTO stores AS st (tenant, store, last_seen)"
    " SELECT $1, u.store, now() FROM unnest($2::text[]) AS u(store) ORDER BY u.store COLLATE \"C\""
    " ON CONFLICT (tenant, store) DO UPDATE SET last_seen = now()"
    " RETURNING st.store, st.hq_through";

static const char sql_registered[] =
    "SELECT 1 FROM store_registry WHERE tenant = $1 AND store = $2";

static const char sql_resync[] =
    "INSERT INTO resync_requests (tenant, store, req_id, since_price, since_promo,"
    " since_customer, since_loyalty, rebuild) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/* Which held sale a record that inserted nothing collides with, and whether its content is the
 * same (the digest of its canonical encoding, $5). */
/* A replaced gateway (contract 6.6 head, 1.2) will never send the numbers above its head
 * that HQ lacks up to the store's highest: held as skipped, so the watermark passes them. Runs
 * under the store's row lock (lock_stores), after every batch queued before the request. */
static const char sql_skip[] =
    "INSERT INTO record_exceptions (tenant, store, gw_seq, kind, reason)"
    " SELECT $1, $2, g, 'skipped', 'gw_seq never used: the gateway was replaced at head ' || $3"
    " FROM generate_series($3::bigint + 1, (SELECT greatest(max_gw_seq, hq_through) FROM stores"
    "  WHERE tenant = $1 AND store = $2)) g"
    " WHERE NOT EXISTS (SELECT 1 FROM sales s WHERE s.tenant = $1 AND s.store = $2"
    "  AND s.gw_seq = g) ON CONFLICT DO NOTHING";

static const char sql_classify[] =
    "SELECT store, gw_seq, coalesce(digest = md5($5), false), sale_id::text FROM sales"
    " WHERE tenant = $1 AND"
    " ((store = $2 AND gw_seq = $3) OR sale_id = $4::uuid) ORDER BY (store = $2) DESC LIMIT 1";

static const char sql_exception[] =
    "INSERT INTO record_exceptions (tenant, store, gw_seq, kind, sale_id, reason, record)"
    " VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7) ON CONFLICT DO NOTHING RETURNING gw_seq";

static const char sql_dead[] =
    "INSERT INTO dead_letters (tenant, topic, payload, reason) VALUES ($1, $2, $3, $4)";

static const char sql_alert[] =
    "INSERT INTO alerts (tenant, alert_id, store, source, kind, severity, ts, message, sku,"
    " sales, details) VALUES ($1, $2::uuid, $3, $4, $5, $6, $7::timestamptz, $8,"
    " NULLIF($9, ''), $10::text[], NULLIF($11, '')::jsonb) ON CONFLICT DO NOTHING";

static const char sql_status[] =
    "INSERT INTO stores (tenant, store, state, outbox, delivered, status_ts, last_seen)"
    " VALUES ($1, $2, $3, $4, $5, $6::timestamptz, now())"
    " ON CONFLICT (tenant, store) DO UPDATE SET state = excluded.state,"
    "  outbox = excluded.outbox, delivered = excluded.delivered,"
    "  status_ts = excluded.status_ts, last_seen = now()"
    " WHERE stores.status_ts IS NULL OR stores.status_ts <= excluded.status_ts";

/* The committed watermark of each store the group touched ($2, with its watermark read under
 * the row lock, $3): the end of the gap-free run of held records that starts right after it. */
static const char sql_watermarks[] =
    "WITH w AS (SELECT t.store, t.before, x.run_end, x.held_max"
    " FROM unnest($2::text[], $3::bigint[]) AS t(store, before), LATERAL ("
    "  SELECT max(r.gw_seq) FILTER (WHERE r.g = t.before) AS run_end, max(r.gw_seq) AS held_max"
    "  FROM (SELECT h.gw_seq, h.gw_seq - row_number() OVER (ORDER BY h.gw_seq) AS g FROM ("
    "   SELECT gw_seq FROM sales WHERE tenant = $1 AND store = t.store AND gw_seq > t.before"
    "   UNION SELECT gw_seq FROM record_exceptions WHERE tenant = $1 AND store = t.store"
    "    AND gw_seq > t.before) h) r) x)"
    "UPDATE stores s SET hq_through = coalesce(w.run_end, w.before),"
    " max_gw_seq = greatest(s.max_gw_seq, coalesce(w.held_max, 0))"
    " FROM w WHERE s.tenant = $1 AND s.store = w.store"
    " RETURNING s.store, s.hq_through, s.max_gw_seq";

static int prepare_all(struct ingest *in)
{
    static const struct {
        const char *name, *sql;
    } st[] = {
        {"lock_stores", sql_lock_stores}, {"classify", sql_classify},
        {"exception", sql_exception},   {"dead", sql_dead},     {"alert", sql_alert},
        {"registered", sql_registered},
        {"status", sql_status},         {"watermarks", sql_watermarks},
        {"resync", sql_resync},         {"skip", sql_skip},
    };
    int rc = P4HQ_OK;

    for (size_t i = 0; i < sizeof st / sizeof st[0] && !rc; i++)
        rc = db_prepare(&in->db, st[i].name, st[i].sql);
    if (!rc)
        rc = products_prepare(&in->db);
    if (!rc)
        rc = post_prepare(&in->db);
    if (!rc)
        in->db.prepared = true;
    return rc;
}

int ingest_new(struct ingest **out, const struct p4hq_config *cfg, struct link *link)
{
    struct ingest *in = calloc(1, sizeof *in);

    *out = NULL;
    if (!in)
        return P4HQ_ENOMEM;
    in->cfg = cfg;
    in->link = link;
    in->sale = malloc(sizeof *in->sale);
    in->stores = calloc(MAX_STORES_PER_GROUP, sizeof *in->stores);
    if (!in->sale || !in->stores || post_init(&in->post) != P4HQ_OK) {
        ingest_free(in);
        return P4HQ_ENOMEM;
    }
    *out = in;
    return P4HQ_OK;
}

void ingest_free(struct ingest *in)
{
    if (!in)
        return;
    db_close(&in->db);
    products_cleanup(&in->products);
    post_free(&in->post);
    for (size_t i = 0; i < in->n_customers; i++)
        free(in->customers[i]);
    free(in->customers);
    free(in->zstd_stores);
    free(in->sale);
    free(in->stores);
    free(in);
}

/* ---- pieces of one transaction ---- */

static int dead_letter(struct ingest *in, const char *topic, const char *payload, size_t len,
                       const char *reason)
{
    const char *v[4] = {in->cfg->tenant, topic, payload, reason};
    int lengths[4] = {0, 0, (int)len, 0};
    int formats[4] = {0, 0, 1, 0};

    p4_warn("dead letter topic=%s bytes=%zu reason=\"%s\"", topic, len, reason);
    in->txn.dead++;
    return db_run_fmt(&in->db, "dead", 4, v, lengths, formats, NULL);
}

/* An alert HQ raises itself (a sale conflict, a record it cannot post); KEY makes its id
 * stable so raising it again is a no-op. */
static int raise_alert(struct ingest *in, const char *store, const char *kind, const char *key,
                       const char *severity, const char *sale_id, const char *message)
{
    char id[P4T_UUID_MAX + 1], ts[P4T_TS_LEN], sales[P4T_UUID_MAX + 8];
    const char *v[11];

    if (p4t_alert_id(kind, store, key, id) != 0)
        return P4HQ_EINVAL;
    p4_format_ts(p4_now_ms(), ts);
    snprintf(sales, sizeof sales, "{%s}", sale_id && p4t_uuid_valid(sale_id) ? sale_id : "");
    v[0] = in->cfg->tenant;
    v[1] = id;
    v[2] = store;
    v[3] = "hq";
    v[4] = kind;
    v[5] = severity;
    v[6] = ts;
    v[7] = message;
    v[8] = "";
    v[9] = sales;
    v[10] = "";
    p4_warn("alert kind=%s store=%s message=\"%s\"", kind, store, message);
    return db_run(&in->db, "alert", 11, v, NULL);
}

/* A message a store could not have sent with its own identity (another store's records, another
 * tenant's topic, a store HQ does not know): dead-lettered with WHY and raised as a critical
 * alert of KIND against STORE, at most once per (store, CLAIMED, day) so a flood of them is
 * one alert a day, not one per message. */
static int refuse_forged(struct ingest *in, const struct hq_msg *m, const char *store,
                         const char *kind, const char *claimed, const char *why)
{
    char key[P4HQ_TEXT_MAX], day[P4T_TS_LEN], message[P4T_REASON_MAX + 96];
    int rc = dead_letter(in, m->topic, m->payload, m->len, why);

    if (rc)
        return rc;
    p4_format_ts(p4_now_ms(), day);
    snprintf(key, sizeof key, "%s/%.10s", claimed, day);
    snprintf(message, sizeof message, "refused uplink on %s: %s", m->topic, why);
    return raise_alert(in, store, kind, key, "critical", NULL, message);
}

/* *YES tells whether STORE is in store_registry (always true when the registry is off). */
static int store_registered(struct ingest *in, const char *store, bool *yes)
{
    const char *v[2] = {in->cfg->tenant, store};
    PGresult *res;
    int rc;

    *yes = true;
    if (!in->cfg->require_registered_stores)
        return P4HQ_OK;
    rc = db_run(&in->db, "registered", 2, v, &res);
    if (rc)
        return rc;
    *yes = PQntuples(res) > 0;
    PQclear(res);
    return P4HQ_OK;
}

static int record_exception(struct ingest *in, const char *store, int64_t gw_seq,
                            const char *kind, const char *sale_id, const char *reason,
                            const char *record)
{
    char seq[24], key[40];
    const char *v[7] = {in->cfg->tenant, store, seq, kind, sale_id ? sale_id : "", reason,
                        record ? record : ""};
    PGresult *res;
    int rc, inserted;

    snprintf(seq, sizeof seq, "%" PRId64, gw_seq);
    rc = db_run(&in->db, "exception", 7, v, &res);
    if (rc)
        return rc;
    inserted = PQntuples(res);
    PQclear(res);
    if (!inserted || strcmp(kind, "resent") == 0)
        return P4HQ_OK; /* held already: the same record sent again; or nothing to raise */
    snprintf(key, sizeof key, "%" PRId64, gw_seq);
    return raise_alert(in, store, strcmp(kind, "conflict") == 0 ? "sale_conflict" : "bad_record",
                       key, "warning", sale_id, reason);
}

static struct touched *find_store(struct ingest *in, const char *store)
{
    for (size_t i = 0; i < in->n_stores; i++) {
        if (strcmp(in->stores[i].store, store) == 0)
            return &in->stores[i];
    }
    return NULL;
}

static int cmp_touched(const void *a, const void *b)
{
    return strcmp(((const struct touched *)a)->store, ((const struct touched *)b)->store);
}

static int cmp_store_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct touched *)elem)->store);
}

/* find_store once in->stores is sorted (lock_stores). */
static struct touched *find_sorted(struct ingest *in, const char *store)
{
    return bsearch(store, in->stores, in->n_stores, sizeof *in->stores, cmp_store_key);
}

/* Remembers a customer whose balance the transaction changed (once). */
static int note_customer(struct ingest *in, const char *customer)
{
    for (size_t i = 0; i < in->n_customers; i++) {
        if (strcmp(in->customers[i], customer) == 0)
            return P4HQ_OK;
    }
    if (in->n_customers == in->cap_customers) {
        size_t cap = in->cap_customers ? in->cap_customers * 2 : 64;
        char **grown = realloc(in->customers, cap * sizeof *grown);
        if (!grown)
            return P4HQ_ENOMEM;
        in->customers = grown;
        in->cap_customers = cap;
    }
    in->customers[in->n_customers] = strdup(customer);
    if (!in->customers[in->n_customers])
        return P4HQ_ENOMEM;
    in->n_customers++;
    return P4HQ_OK;
}

static void forget_customers(struct ingest *in)
{
    for (size_t i = 0; i < in->n_customers; i++)
        free(in->customers[i]);
    in->n_customers = 0;
}

/* A sale the chunk statement did not insert: a repeat of a held (store, gw_seq) is a no-op;
 * the same sale id under another key is held as a conflict and raised, never posted twice. */
static int classify_unposted(struct ingest *in, const struct post_item *it)
{
    char seq[24], reason[P4T_REASON_MAX];
    const char *cv[5] = {in->cfg->tenant, it->store, seq, it->sale_id, it->canon};
    PGresult *res;
    bool dup, same;
    int rc;

    snprintf(seq, sizeof seq, "%" PRId64, it->gw_seq);
    rc = db_run(&in->db, "classify", 5, cv, &res);
    if (rc)
        return rc;
    dup = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), it->store) == 0 &&
          strcmp(PQgetvalue(res, 0, 1), seq) == 0;
    if (dup && strcmp(PQgetvalue(res, 0, 3), it->sale_id) != 0) {
        /* Two sales under one (store, gw_seq): a gateway numbered again from a number HQ
         * holds. Kept and raised, never dropped as a repeat. */
        snprintf(reason, sizeof reason, "gw_seq: %s already holds sale %s, not %s", seq,
                 PQgetvalue(res, 0, 3), it->sale_id);
        PQclear(res);
        in->txn.conflicts++;
        return record_exception(in, it->store, it->gw_seq, "conflict", it->sale_id, reason,
                                it->record);
    }
    if (dup) {
        PQclear(res);
        in->txn.dups++;
        return P4HQ_OK;
    }
    /* A replaced gateway numbered again a sale its registers resent (contract 6.5): the same
     * sale of the same store under another gw_seq. Held, posted once. */
    same = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), it->store) == 0 &&
           strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    if (same) {
        snprintf(reason, sizeof reason, "id: sale %s is posted as gw_seq %s, resent",
                 it->sale_id, PQgetvalue(res, 0, 1));
        PQclear(res);
        in->txn.resent++;
        return record_exception(in, it->store, it->gw_seq, "resent", it->sale_id, reason, NULL);
    }
    snprintf(reason, sizeof reason, "id: sale %s is already posted as store %s gw_seq %s",
             it->sale_id, PQntuples(res) ? PQgetvalue(res, 0, 0) : "?",
             PQntuples(res) ? PQgetvalue(res, 0, 1) : "?");
    PQclear(res);
    in->txn.conflicts++;
    return record_exception(in, it->store, it->gw_seq, "conflict", it->sale_id, reason,
                            it->record);
}

/* Writes the chunk of sales gathered so far (one statement), then sorts out those it did not
 * insert. Runs before anything that reads what the chunk writes. */
static int flush_sales(struct ingest *in)
{
    int rc = post_run(&in->post, &in->db, in->cfg->tenant);

    for (size_t i = 0; i < in->post.n && !rc; i++) {
        const struct post_item *it = &in->post.items[i];
        if (!it->inserted) {
            rc = classify_unposted(in, it);
            continue;
        }
        in->txn.sales++;
        if (it->customer[0])
            rc = note_customer(in, it->customer);
    }
    post_clear(&in->post);
    return rc;
}

/* Adds one decoded record to the chunk (writing the chunk first if the record collides with
 * it). A sale whose journal entry cannot balance is held as invalid. Takes RECORD. */
static int post_sale(struct ingest *in, const char *store, int64_t gw_seq,
                     char flags[][P4T_KIND_MAX + 1], size_t n_flags, char *record)
{
    const struct p4t_sale *sale = in->sale;
    struct product_terms terms[P4T_MAX_LINES];
    struct posting post[LEDGER_MAX_POSTINGS];
    size_t n_post;
    char *canon = NULL;
    int rc;

    for (size_t i = 0; i < sale->n_lines; i++)
        products_terms(&in->products, sale->lines[i].sku, in->cfg->default_tax_bp, &terms[i]);
    rc = ledger_post(sale, terms, &in->cfg->accounts, post, &n_post);
    if (rc)
        rc = record_exception(in, store, gw_seq, "invalid", sale->id,
                              "ledger: the sale's entry does not balance", record);
    /* The sale as its register sent it, for the content check of a resent sale. */
    else if (p4t_sale_encode(sale, &canon, NULL, 0) != 0)
        rc = record_exception(in, store, gw_seq, "invalid", sale->id,
                              "sale: does not re-encode", record);
    else if (post_must_run(&in->post, store, gw_seq, sale->id) && (rc = flush_sales(in)) != 0)
        free(canon);
    else
        return post_add(&in->post, store, gw_seq, sale, flags, n_flags, post, n_post, canon,
                        record);
    free(record);
    return rc;
}

/* An up/sale message: the envelope is checked once, then every item on its own. */
static int ingest_sales(struct ingest *in, const struct hq_msg *m, const char *store)
{
    struct p4t_batch_reader r;
    char reason[P4T_REASON_MAX], flags[P4T_MAX_FLAGS][P4T_KIND_MAX + 1];
    char why[P4T_REASON_MAX + 64];
    int rc;

    if (m->orig_len > P4T_MAX_BATCH_PAYLOAD) {
        snprintf(why, sizeof why, "payload: %zu bytes, over the limit of %d", m->orig_len,
                 P4T_MAX_BATCH_PAYLOAD);
        return dead_letter(in, m->topic, m->payload, m->len, why);
    }
    rc = p4t_batch_open(&r, m->payload, m->len, reason, sizeof reason);
    if (rc)
        return dead_letter(in, m->topic, m->payload, m->len, reason);
    if (strcmp(r.store, store) != 0) {
        char claimed[P4T_ID_MAX + 1];

        snprintf(why, sizeof why, "store: \"%s\" does not match the topic's store \"%s\"",
                 r.store, store);
        snprintf(claimed, sizeof claimed, "%s", r.store);
        p4t_batch_close(&r);
        return refuse_forged(in, m, store, "store_mismatch", claimed, why);
    }
    in->txn.batches++;
    for (;;) {
        int64_t gw_seq;
        size_t n_flags = 0;
        char *item = NULL;

        rc = p4t_batch_next(&r, in->sale, &gw_seq, flags, &n_flags, &item, reason,
                            sizeof reason);
        if (rc == P4T_ENOENT) {
            rc = P4HQ_OK;
            break;
        }
        if (rc == P4T_OK) {
            rc = post_sale(in, store, gw_seq, flags, n_flags, item);
            item = NULL;
        } else if (gw_seq > 0) {
            in->txn.invalid++;
            rc = record_exception(in, store, gw_seq, "invalid", NULL, reason, item);
        } else {
            rc = dead_letter(in, m->topic, item ? item : "", item ? strlen(item) : 0, reason);
        }
        free(item);
        if (rc)
            break;
    }
    p4t_batch_close(&r);
    return rc;
}

/* A gateway whose status says HQ held more of its records than HQ holds now: HQ lost them
 * (its database restored from an older backup). Nothing to send from here: the store is in
 * the group's touched stores (lock_stores), so publish_acks answers this status, after COMMIT,
 * with HQ's real watermark, retained. That is what an idle gateway needs to hear, whose last
 * retained down/ack is still the older, higher one; it then resends what it keeps above it.
 * One answer per status: the gateway publishes its status at most once a second. */
static void note_status_ahead(struct ingest *in, const char *store, const struct p4t_status *st)
{
    const struct touched *t = find_store(in, store);

    if (!st->has_hq_through || !t || st->hq_through <= t->through_before)
        return;
    p4_warn("store reports HQ's watermark above the one HQ holds store=%s status_hq_through=%"
            PRId64 " hq_through=%" PRId64 ": records lost at HQ (restored database?); "
            "down/ack republished", store, st->hq_through, t->through_before);
}

static int ingest_status(struct ingest *in, const struct hq_msg *m, const char *store)
{
    struct p4t_status st;
    char reason[P4T_REASON_MAX], outbox[24], delivered[24];
    const char *v[6];

    if (p4t_status_decode(m->payload, m->len, &st, reason, sizeof reason) != 0)
        return dead_letter(in, m->topic, m->payload, m->len, reason);
    note_status_ahead(in, store, &st);
    snprintf(outbox, sizeof outbox, "%" PRId64, st.outbox);
    snprintf(delivered, sizeof delivered, "%" PRId64, st.delivered);
    v[0] = in->cfg->tenant;
    v[1] = store;
    v[2] = st.state;
    v[3] = outbox;
    v[4] = delivered;
    v[5] = st.ts;
    return db_run(&in->db, "status", 6, v, NULL);
}

static int ingest_alert(struct ingest *in, const struct hq_msg *m, const char *store)
{
    struct p4t_alert *a = malloc(sizeof *a);
    char reason[P4T_REASON_MAX + 64];
    struct arr sales = {0};
    const char *v[11];
    int rc;

    if (!a)
        return P4HQ_ENOMEM;
    rc = p4t_alert_decode(m->payload, m->len, a, reason, sizeof reason);
    if (!rc && strcmp(a->store, store) != 0) {
        snprintf(reason, sizeof reason, "store: \"%s\" does not match the topic's store \"%s\"",
                 a->store, store);
        rc = P4T_EINVAL;
    }
    if (rc) {
        free(a);
        return dead_letter(in, m->topic, m->payload, m->len, reason);
    }
    for (size_t i = 0; i < a->n_sales && !rc; i++)
        rc = arr_add_str(&sales, a->sales[i]);
    v[0] = in->cfg->tenant;
    v[1] = a->id;
    v[2] = store;
    v[3] = "store";
    v[4] = a->kind;
    v[5] = a->severity;
    v[6] = a->ts;
    v[7] = a->message;
    v[8] = a->sku;
    v[9] = arr_text(&sales);
    v[10] = a->details;
    if (!rc)
        rc = db_run(&in->db, "alert", 11, v, NULL);
    arr_free(&sales);
    free(a);
    return rc;
}

/* up/resync: queued for the downlink publisher, which answers it from the database without
 * holding up ingest. */
static int ingest_resync(struct ingest *in, const struct hq_msg *m, const char *store)
{
    struct p4t_resync r;
    char reason[P4T_REASON_MAX + 64], since[4][24];
    const char *v[8];

    if (p4t_resync_decode(m->payload, m->len, &r, reason, sizeof reason) != 0)
        return dead_letter(in, m->topic, m->payload, m->len, reason);
    if (strcmp(r.store, store) != 0) {
        snprintf(reason, sizeof reason, "store: \"%s\" does not match the topic's store \"%s\"",
                 r.store, store);
        return dead_letter(in, m->topic, m->payload, m->len, reason);
    }
    snprintf(since[0], sizeof since[0], "%" PRId64, r.since_price);
    snprintf(since[1], sizeof since[1], "%" PRId64, r.since_promo);
    snprintf(since[2], sizeof since[2], "%" PRId64, r.since_customer);
    snprintf(since[3], sizeof since[3], "%" PRId64, r.since_loyalty);
    v[0] = in->cfg->tenant;
    v[1] = store;
    v[2] = r.req_id;
    v[3] = since[0];
    v[4] = since[1];
    v[5] = since[2];
    v[6] = since[3];
    v[7] = r.rebuild ? "true" : "false";
    p4_info("resync requested store=%s req_id=%s rebuild=%d", store, r.req_id, r.rebuild);
    {
        /* The ack after this COMMIT names the request: a replaced gateway continues its
         * numbering above that ack's max_gw_seq, which covers every batch HQ took before. */
        struct touched *t = find_store(in, store);

        if (t)
            snprintf(t->req_id, sizeof t->req_id, "%s", r.req_id);
    }
    if (db_run(&in->db, "resync", 8, v, NULL) != 0)
        return P4HQ_EDB;
    if (r.has_head) {
        char head[24];
        const char *sv[3] = {in->cfg->tenant, store, head};
        PGresult *res;

        snprintf(head, sizeof head, "%" PRId64, r.head);
        if (db_run(&in->db, "skip", 3, sv, &res) != 0)
            return P4HQ_EDB;
        if (atoi(PQcmdTuples(res)) > 0)
            p4_warn("store %s replaced its gateway at head %" PRId64 ": %s gw_seq(s) it will"
                    " never send held as skipped", store, r.head, PQcmdTuples(res));
        PQclear(res);
    }
    return db_exec(&in->db, "NOTIFY p4hq_downlink", "notify");
}

/* up/customer (revision 1.2): customers signed up at a register, in the down/customer item
 * form (their ver is the store's own and is not kept). HQ keeps the first it commits for a card
 * number, pushes it to every store, and raises a customer_conflict when another store sent
 * different details. */
static int ingest_customers(struct ingest *in, const struct hq_msg *m, const char *store)
{
    struct p4t_down d;
    char reason[P4T_REASON_MAX];
    int rc = P4HQ_OK;

    if (p4t_down_decode(P4T_D_CUSTOMER, m->payload, m->len, &d, reason, sizeof reason) != 0)
        return dead_letter(in, m->topic, m->payload, m->len, reason);
    for (size_t i = 0; i < d.n_items && !rc; i++) {
        char err[P4T_REASON_MAX] = "", message[P4T_REASON_MAX];
        int64_t ver;
        bool kept;

        rc = authority_customer(&in->db, in->cfg->tenant, &d.customer[i], store, true, &ver,
                                &kept, err, sizeof err);
        if (rc == P4HQ_EINVAL) {
            rc = dead_letter(in, m->topic, m->payload, m->len, err);
            break;
        }
        if (!rc && kept) {
            char key[P4T_CUSTOMER_MAX + P4T_ID_MAX + 32];
            /* HQ's copy goes to that store again: its higher ver replaces the store's own. */
            rc = authority_customer_resend(&in->db, in->cfg->tenant, d.customer[i].id, store);
            snprintf(message, sizeof message,
                     "customer %s signed up at %s with other details; HQ keeps ver %" PRId64,
                     d.customer[i].id, store, ver);
            snprintf(key, sizeof key, "%s/%s", d.customer[i].id, store);
            if (!rc)
                rc = raise_alert(in, store, "customer_conflict", key, "warning", NULL, message);
        }
    }
    p4t_down_cleanup(&d);
    return rc;
}

/* up/lookup (revision 1.2): cards scanned at STORE. The store joins each customer's stores (so
 * later balances are pushed there too) and gets, on its own topics, HQ's customer record and
 * current balance; a customer with ledger entries but no balance issued yet gets one. */
static const char sql_lookup[] =
    "WITH c AS (SELECT unnest($3::text[]) AS customer),"
    "j AS (INSERT INTO customer_stores AS x (tenant, customer, store, last_sale_at)"
    " SELECT $1, c.customer, $2, now() FROM c"
    " ON CONFLICT (tenant, customer, store) DO NOTHING)"
    "SELECT c.customer, cu.item, a.item,"
    " (a.item IS NULL AND EXISTS (SELECT 1 FROM loyalty_ledger l WHERE l.tenant = $1"
    "  AND l.customer = c.customer)) FROM c"
    " LEFT JOIN customers cu ON cu.tenant = $1 AND cu.id = c.customer"
    " LEFT JOIN loyalty_accounts a ON a.tenant = $1 AND a.customer = c.customer";

static int ingest_lookup(struct ingest *in, const struct hq_msg *m, const char *store)
{
    struct p4t_lookup *l = malloc(sizeof *l);
    char reason[P4T_REASON_MAX], *cust_items[P4T_LOOKUP_MAX], *bal_items[P4T_LOOKUP_MAX];
    size_t n_cust = 0, n_bal = 0;
    struct arr names = {0};
    PGresult *res = NULL;
    const char *v[3];
    int rc;

    if (!l)
        return P4HQ_ENOMEM;
    if (p4t_lookup_decode(m->payload, m->len, l, reason, sizeof reason) != 0) {
        free(l);
        return dead_letter(in, m->topic, m->payload, m->len, reason);
    }
    rc = P4HQ_OK;
    for (size_t i = 0; i < l->n_customers && !rc; i++)
        rc = arr_add_str(&names, l->customers[i]);
    v[0] = in->cfg->tenant;
    v[1] = store;
    v[2] = arr_text(&names);
    if (!rc)
        rc = db_query(&in->db, sql_lookup, 3, v, &res);
    for (int r = 0; !rc && r < PQntuples(res); r++) {
        if (!PQgetisnull(res, r, 1))
            cust_items[n_cust++] = PQgetvalue(res, r, 1);
        if (!PQgetisnull(res, r, 2))
            bal_items[n_bal++] = PQgetvalue(res, r, 2);
        else if (strcmp(PQgetvalue(res, r, 3), "t") == 0)
            rc = note_customer(in, PQgetvalue(res, r, 0)); /* issued by push_balances */
    }
    if (!rc && n_cust)
        rc = authority_enqueue_items(&in->db, in->cfg->tenant, store, "customer", cust_items,
                                     n_cust);
    if (!rc && n_bal)
        rc = authority_enqueue_items(&in->db, in->cfg->tenant, store, "loyalty", bal_items,
                                     n_bal);
    p4_debug("lookup store=%s req_id=%s customers=%zu", store, l->req_id, l->n_customers);
    PQclear(res);
    arr_free(&names);
    free(l);
    return rc;
}

/* A store whose sales came compressed with dictionary DICT reads compressed downlink of it
 * (contract 6.10): recorded once per process, under the row lock lock_stores took. */
static int note_zstd(struct ingest *in, const char *store, uint32_t dict)
{
    char id[16];
    const char *v[3] = {in->cfg->tenant, store, id};

    for (size_t i = 0; i < in->n_zstd; i++) {
        if (strcmp(in->zstd_stores[i], store) == 0)
            return P4HQ_OK;
    }
    if (in->n_zstd == in->cap_zstd) {
        size_t cap = in->cap_zstd ? in->cap_zstd * 2 : 64;
        char (*grown)[P4T_ID_MAX + 1] = realloc(in->zstd_stores, cap * sizeof *grown);
        if (!grown)
            return P4HQ_ENOMEM;
        in->zstd_stores = grown;
        in->cap_zstd = cap;
    }
    snprintf(in->zstd_stores[in->n_zstd++], sizeof in->zstd_stores[0], "%s", store);
    snprintf(id, sizeof id, "%" PRIu32, dict);
    return db_query(&in->db,
                    "UPDATE stores SET zstd_dict = $3::int WHERE tenant = $1 AND store = $2"
                    " AND zstd_dict IS DISTINCT FROM $3::int",
                    3, v, NULL);
}

/* Routes one message. Only database failures are returned: bad input is dead-lettered. */
static int ingest_one(struct ingest *in, const struct hq_msg *m)
{
    char tenant[P4T_ID_MAX + 1], store[P4T_ID_MAX + 1], kind[P4T_KIND_MAX + 1];
    char why[P4T_REASON_MAX];
    bool up, known;
    int rc;

    if (m->refused) /* a compressed payload refused by wire_unpack */
        return dead_letter(in, m->topic, m->payload, m->len, m->refused);
    if (p4t_topic_parse_cloud(m->topic, tenant, store, &up, kind) != 0 || !up ||
        strcmp(store, "_all") == 0)
        return dead_letter(in, m->topic, m->payload, m->len,
                           "topic: not an uplink topic of this tenant");
    if (strcmp(tenant, in->cfg->tenant) != 0) {
        snprintf(why, sizeof why, "tenant: the topic's tenant \"%s\" is not this HQ's \"%s\"",
                 tenant, in->cfg->tenant);
        return refuse_forged(in, m, store, "tenant_mismatch", tenant, why);
    }
    rc = store_registered(in, store, &known);
    if (rc)
        return rc;
    if (!known) {
        snprintf(why, sizeof why, "store: \"%s\" is not registered at HQ (p4hq store add)",
                 store);
        return refuse_forged(in, m, store, "unregistered_store", store, why);
    }
    if (strcmp(kind, "sale") == 0) {
        rc = m->wire_dict ? note_zstd(in, store, m->wire_dict) : P4HQ_OK;
        return rc ? rc : ingest_sales(in, m, store);
    }
    /* What follows may read what the sales before it wrote. */
    rc = flush_sales(in);
    if (rc)
        return rc;
    if (strcmp(kind, "status") == 0)
        return ingest_status(in, m, store);
    if (strcmp(kind, "alert") == 0)
        return ingest_alert(in, m, store);
    if (strcmp(kind, "resync") == 0)
        return ingest_resync(in, m, store);
    if (strcmp(kind, "customer") == 0)
        return ingest_customers(in, m, store);
    if (strcmp(kind, "lookup") == 0)
        return ingest_lookup(in, m, store);
    return dead_letter(in, m->topic, m->payload, m->len, "topic: unknown uplink kind");
}

/* Locks the rows of in->stores (sorted) and reads each one's watermark. */
static int lock_rows(struct ingest *in)
{
    struct arr stores = {0};
    const char *v[2];
    PGresult *res;
    int rc = P4HQ_OK;

    for (size_t i = 0; i < in->n_stores && !rc; i++)
        rc = arr_add_str(&stores, in->stores[i].store);
    v[0] = in->cfg->tenant;
    v[1] = arr_text(&stores);
    if (!rc)
        rc = db_run(&in->db, "lock_stores", 2, v, &res);
    arr_free(&stores);
    if (rc)
        return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        struct touched *t = find_sorted(in, PQgetvalue(res, r, 0));
        if (t)
            t->through_before = t->through = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    }
    PQclear(res);
    return P4HQ_OK;
}

/* Locks (creating if new) the row of every store whose sales or status the group carries, in store
 * order so that two processes never wait on each other in a cycle. Holding the lock to
 * COMMIT makes the watermark each process computes see the other's committed rows. */
static int lock_stores(struct ingest *in, struct hq_msg *group)
{
    in->n_stores = 0;
    for (struct hq_msg *m = group; m; m = m->next) {
        char tenant[P4T_ID_MAX + 1], store[P4T_ID_MAX + 1], kind[P4T_KIND_MAX + 1];
        bool up;

        /* Statuses update the same rows: locked in the same order, or two processes could
         * each hold one store and wait for the other's. */
        if (p4t_topic_parse_cloud(m->topic, tenant, store, &up, kind) != 0 || !up ||
            (strcmp(kind, "sale") != 0 && strcmp(kind, "status") != 0 &&
             strcmp(kind, "resync") != 0) ||
            strcmp(tenant, in->cfg->tenant) != 0 || strcmp(store, "_all") == 0 ||
            find_store(in, store))
            continue;
        if (in->n_stores == MAX_STORES_PER_GROUP)
            return P4HQ_EINVAL; /* the caller splits the group */
        in->stores[in->n_stores].req_id[0] = '\0';
        snprintf(in->stores[in->n_stores++].store, sizeof in->stores[0].store, "%s", store);
    }
    /* A store HQ does not know gets no row (its messages are refused by ingest_one). */
    for (size_t i = 0; i < in->n_stores;) {
        bool known;
        int rc = store_registered(in, in->stores[i].store, &known);

        if (rc)
            return rc;
        if (known)
            i++;
        else
            in->stores[i] = in->stores[--in->n_stores];
    }
    qsort(in->stores, in->n_stores, sizeof *in->stores, cmp_touched);
    return in->n_stores ? lock_rows(in) : P4HQ_OK;
}

static int update_watermarks(struct ingest *in)
{
    struct arr stores = {0}, before = {0};
    const char *v[3];
    PGresult *res;
    int rc = P4HQ_OK;

    if (in->n_stores == 0)
        return P4HQ_OK;
    for (size_t i = 0; i < in->n_stores && !rc; i++) {
        rc = arr_add_str(&stores, in->stores[i].store);
        if (!rc)
            rc = arr_add_int(&before, in->stores[i].through_before);
    }
    v[0] = in->cfg->tenant;
    v[1] = arr_text(&stores);
    v[2] = arr_text(&before);
    if (!rc)
        rc = db_run(&in->db, "watermarks", 3, v, &res);
    arr_free(&stores);
    arr_free(&before);
    if (rc)
        return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        struct touched *t = find_sorted(in, PQgetvalue(res, r, 0));
        if (!t)
            continue;
        t->through = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        t->max_gw_seq = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    }
    PQclear(res);
    return P4HQ_OK;
}

/* After COMMIT: every touched store learns its watermark (retained; a gateway keeps the
 * highest). A failed publish is harmless: the next commit or the gateway's resend brings it. */
static void publish_acks(struct ingest *in)
{
    for (size_t i = 0; i < in->n_stores; i++) {
        struct p4t_hq_ack ack = {.through = in->stores[i].through, .has_max_gw_seq = true,
                                 .max_gw_seq = in->stores[i].max_gw_seq};
        char topic[P4T_TOPIC_MAX];
        char *text = NULL;

        snprintf(ack.store, sizeof ack.store, "%s", in->stores[i].store);
        snprintf(ack.req_id, sizeof ack.req_id, "%s", in->stores[i].req_id);
        if (ack.max_gw_seq < ack.through) /* a store row older than max_gw_seq's upkeep */
            ack.max_gw_seq = ack.through;
        p4_format_ts(p4_now_ms(), ack.ts);
        if (p4t_topic_down(topic, sizeof topic, in->cfg->tenant, ack.store, "ack") != 0 ||
            p4t_hq_ack_encode(&ack, &text) != 0) {
            free(text);
            continue;
        }
        /* A plain watermark goes at QoS 0: the next commit, the answer to the store's next
         * status and the retained copy all supersede it, and QoS 1 publishes to a thousand
         * stores a group held back every ack behind the PUBACKs (bench/hq: acks seconds late,
         * half the throughput). The one a replaced gateway waits for (req_id) goes at QoS 1. */
        link_publish(in->link, topic, text, strlen(text), ack.req_id[0] ? 1 : 0, true);
        free(text);
    }
}

/* The new balance of every customer the group's sales moved, to the stores where each shops,
 * in this transaction; an overdraft is recorded (the ledger keeps the negative sum) and raised. */
static int push_balances(struct ingest *in)
{
    int64_t overdrawn = 0;
    int rc = authority_loyalty_push(&in->db, in->cfg->tenant, in->customers, in->n_customers,
                                    &overdrawn);

    if (!rc && overdrawn > 0) {
        for (size_t i = 0; i < in->n_customers && !rc; i++) {
            const char *v[2] = {in->cfg->tenant, in->customers[i]};
            PGresult *res;
            rc = db_query(&in->db,
                          "SELECT a.balance, a.ver, coalesce((SELECT store FROM loyalty_ledger"
                          " WHERE tenant = $1 AND customer = $2 AND points < 0"
                          " ORDER BY id DESC LIMIT 1), '') FROM loyalty_accounts a"
                          " WHERE a.tenant = $1 AND a.customer = $2 AND a.balance < 0",
                          2, v, &res);
            if (rc)
                break;
            if (PQntuples(res) == 1) {
                char message[P4T_REASON_MAX], key[P4T_CUSTOMER_MAX + 32];
                const char *store = PQgetvalue(res, 0, 2);
                snprintf(message, sizeof message, "customer %s overdrew points: balance %s",
                         in->customers[i], PQgetvalue(res, 0, 0));
                snprintf(key, sizeof key, "%s/%s", in->customers[i], PQgetvalue(res, 0, 1));
                rc = raise_alert(in, store[0] ? store : "_hq", "loyalty_overdraw", key,
                                 "warning", NULL, message);
            }
            PQclear(res);
        }
    }
    return rc;
}

/* One transaction for the whole GROUP. Returns 0 after COMMIT, or P4HQ_EDB (rolled back). */
static int run_txn(struct ingest *in, struct hq_msg *group)
{
    int rc;

    memset(&in->txn, 0, sizeof in->txn);
    post_clear(&in->post); /* what a failed attempt gathered */
    rc = db_exec(&in->db, "BEGIN", "begin");

    if (!rc)
        rc = products_refresh(&in->products, &in->db, in->cfg->tenant);
    if (!rc)
        rc = lock_stores(in, group);
    forget_customers(in);
    for (struct hq_msg *m = group; m && !rc; m = m->next)
        rc = ingest_one(in, m);
    if (!rc)
        rc = flush_sales(in);
    if (!rc && in->n_customers)
        rc = push_balances(in);
    if (!rc)
        rc = update_watermarks(in);
    if (!rc)
        rc = db_exec(&in->db, "COMMIT", "commit");
    if (rc) {
        if (db_ok(&in->db))
            db_exec(&in->db, "ROLLBACK", "rollback");
        in->n_zstd = 0; /* what it recorded is rolled back too */
        return P4HQ_EDB;
    }
    in->total.batches += in->txn.batches;
    in->total.sales += in->txn.sales;
    in->total.dups += in->txn.dups;
    in->total.conflicts += in->txn.conflicts;
    in->total.invalid += in->txn.invalid;
    in->total.dead += in->txn.dead;
    in->total.resent += in->txn.resent;
    atomic_fetch_add(&hq_metrics.batches, in->txn.batches);
    atomic_fetch_add(&hq_metrics.sales, in->txn.sales);
    atomic_fetch_add(&hq_metrics.duplicates, in->txn.dups);
    atomic_fetch_add(&hq_metrics.conflicts, in->txn.conflicts);
    atomic_fetch_add(&hq_metrics.invalid, in->txn.invalid);
    atomic_fetch_add(&hq_metrics.dead_letters, in->txn.dead);
    publish_acks(in);
    return P4HQ_OK;
}

/* Connects (again) with a capped backoff until it works or STOP is set. */
static int connect_db(struct ingest *in, volatile int *stop)
{
    int backoff_ms = 250;

    while (!*stop) {
        if (db_open(&in->db, in->cfg, "p4hq ingest") == 0) {
            if (prepare_all(in) == 0) {
                atomic_store(&hq_metrics.db_up, 1);
                p4_info("database connected");
                return P4HQ_OK;
            }
            db_close(&in->db);
        }
        for (int waited = 0; waited < backoff_ms && !*stop; waited += 50) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        backoff_ms = backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff_ms * 2;
    }
    return P4HQ_EDB;
}

/* Commits GROUP, whatever it takes: with the database down it reconnects and tries again;
 * a group that fails with the database up (a statement refused) is retried one message at a
 * time, and a message that fails alone is dead-lettered with the database's reason, so one
 * bad message never blocks the stream. */
static void commit_group(struct ingest *in, struct hq_msg *group, volatile int *stop)
{
    while (!*stop) {
        if (!db_ok(&in->db)) {
            atomic_store(&hq_metrics.db_up, 0);
            db_close(&in->db);
            if (connect_db(in, stop) != 0)
                return;
        }
        if (run_txn(in, group) == 0)
            return;
        in->n_retries++;
        atomic_fetch_add(&hq_metrics.retries, 1);
        if (!db_ok(&in->db))
            continue;
        if (group->next) {
            /* Split: each message in a transaction of its own. */
            for (struct hq_msg *m = group; m && !*stop; m = m->next) {
                struct hq_msg *next = m->next;
                m->next = NULL;
                commit_group(in, m, stop);
                m->next = next;
            }
            return;
        }
        {
            char reason[P4T_REASON_MAX];
            int n = (int)strcspn(PQerrorMessage(in->db.conn), "\n");
            snprintf(reason, sizeof reason, "database: %.*s", n, PQerrorMessage(in->db.conn));
            if (db_exec(&in->db, "BEGIN", "begin") == 0 &&
                dead_letter(in, group->topic, group->payload, group->len, reason) == 0 &&
                db_exec(&in->db, "COMMIT", "commit") == 0) {
                in->total.dead++;
                atomic_fetch_add(&hq_metrics.dead_letters, 1);
                return;
            }
            if (db_ok(&in->db)) {
                db_exec(&in->db, "ROLLBACK", "rollback");
                p4_error("cannot store a dead letter either; dropping topic=%s", group->topic);
                return;
            }
        }
    }
}

static void log_stats(struct ingest *in, bool force)
{
    int64_t now = p4_mono_ms();

    if (!force && now - in->last_stats_ms < STATS_EVERY_MS)
        return;
    in->last_stats_ms = now;
    p4_info("ingest groups=%" PRIu64 " sales=%" PRIu64 " duplicates=%" PRIu64
            " conflicts=%" PRIu64 " invalid=%" PRIu64 " dead_letters=%" PRIu64
            " resent=%" PRIu64 " retries=%" PRIu64 " refused_offers=%" PRIu64,
            in->n_groups, in->total.sales, in->total.dups, in->total.conflicts,
            in->total.invalid, in->total.dead, in->total.resent,
            in->n_retries, link_dropped(in->link));
}

void ingest_run(struct ingest *in, volatile int *stop)
{
    in->last_stats_ms = p4_mono_ms();
    if (connect_db(in, stop) != 0)
        return;
    while (!*stop) {
        struct hq_msg *group;

        link_tick(in->link);
        group = link_pop(in->link, in->cfg->batch_max_messages, 200);

        if (group) {
            int64_t t0 = p4_mono_ms();
            uint64_t sales0 = in->total.sales;
            atomic_store(&hq_metrics.group_oldest_ms, group->received_ms);
            commit_group(in, group, stop);
            atomic_store(&hq_metrics.group_oldest_ms, 0);
            in->n_groups++;
            metrics_commit_observe(p4_mono_ms() - t0);
            p4_debug("group committed sales=%" PRIu64 " ms=%" PRId64, in->total.sales - sales0,
                     p4_mono_ms() - t0);
            while (group) {
                struct hq_msg *next = group->next;
                hq_msg_free(group);
                group = next;
            }
        }
        log_stats(in, false);
    }
    log_stats(in, true);
}
