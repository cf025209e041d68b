/* SPDX-License-Identifier: Apache-2.0 */
/* HQ's changes to master data: each writes its rows and the downlink message it causes in the
 * caller's transaction, with versions from the database's per-kind counter. */
#include "authority.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

#define ITEMS_PREFIX "{\"items\":["

/* Encodes the one item of D and hands back the item's own text (the message minus its
 * {"items":[ ... ]} wrapper). On P4T_EINVAL, ERR gets the reason without "items[0].". */
static int item_text(const struct p4t_down *d, char **out, char *err, size_t err_len)
{
    char *msg = NULL, reason[P4T_REASON_MAX];
    struct p4t_down check;
    size_t len;
    int rc;

    *out = NULL;
    rc = p4t_down_encode(d, &msg);
    if (rc == P4T_EINVAL) {
        /* Callers check each field first and name it; this is the contract's last word. */
        snprintf(err, err_len, "item: refused by the contract's %s encoder",
                 p4t_down_kind_name(d->kind));
        return P4HQ_EINVAL;
    }
    if (rc || !msg)
        return P4HQ_ENOMEM;
    if (p4t_down_decode(d->kind, msg, strlen(msg), &check, reason, sizeof reason) != 0) {
        snprintf(err, err_len, "%s", reason);
        free(msg);
        return P4HQ_EINVAL;
    }
    p4t_down_cleanup(&check);
    len = strlen(msg);
    if (len < strlen(ITEMS_PREFIX) + 2 || strncmp(msg, ITEMS_PREFIX, strlen(ITEMS_PREFIX))) {
        free(msg);
        return P4HQ_EINVAL;
    }
    memmove(msg, msg + strlen(ITEMS_PREFIX), len - strlen(ITEMS_PREFIX) - 2);
    msg[len - strlen(ITEMS_PREFIX) - 2] = '\0';
    *out = msg;
    return P4HQ_OK;
}

int authority_next_ver(struct db *db, const char *tenant, const char *kind, int64_t *ver)
{
    const char *v[2] = {tenant, kind};
    PGresult *res;
    int rc = db_query(db,
                      "INSERT INTO versions (tenant, kind, last) VALUES ($1, $2, 1)"
                      " ON CONFLICT (tenant, kind) DO UPDATE SET last = versions.last + 1"
                      " RETURNING last",
                      2, v, &res);

    if (rc)
        return rc;
    *ver = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return P4HQ_OK;
}

int authority_enqueue(struct db *db, const char *tenant, const char *store, const char *kind,
                      const char *payload)
{
    const char *v[4] = {tenant, store, kind, payload};
    int rc = db_query(db,
                      "INSERT INTO downlink (tenant, store, kind, payload) VALUES ($1, $2, $3, $4)",
                      4, v, NULL);

    /* Delivered at COMMIT: wakes every p4hq process's publisher. */
    if (!rc)
        rc = db_exec(db, "NOTIFY p4hq_downlink", "notify");
    return rc;
}

int authority_enqueue_items(struct db *db, const char *tenant, const char *store,
                            const char *kind, char *const *items, size_t n)
{
    for (size_t first = 0; first < n; first += P4T_DOWN_MAX_ITEMS) {
        size_t last = first + P4T_DOWN_MAX_ITEMS < n ? first + P4T_DOWN_MAX_ITEMS : n;
        size_t len = strlen(ITEMS_PREFIX) + 3;
        char *msg, *p;
        int rc;

        for (size_t i = first; i < last; i++)
            len += strlen(items[i]) + 1;
        msg = malloc(len);
        if (!msg)
            return P4HQ_ENOMEM;
        p = msg + sprintf(msg, "%s", ITEMS_PREFIX);
        for (size_t i = first; i < last; i++)
            p += sprintf(p, "%s%s", i > first ? "," : "", items[i]);
        sprintf(p, "]}");
        rc = authority_enqueue(db, tenant, store, kind, msg);
        free(msg);
        if (rc)
            return rc;
    }
    return P4HQ_OK;
}

bool authority_printable(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    }
    return true;
}

static void ts_text(int64_t ms, char out[P4T_TS_LEN])
{
    if (p4t_ts_format(ms, out) != 0)
        out[0] = '\0';
}

int authority_price(struct db *db, const char *tenant, const struct p4t_price_item *in,
                    const char *store, int64_t *ver, char *err, size_t err_len)
{
    struct p4t_price_item item = *in;
    struct p4t_down d = {.kind = P4T_D_PRICE, .n_items = 1, .price = &item};
    char vtext[24], price[24], from[P4T_TS_LEN] = "", until[P4T_TS_LEN] = "", *text = NULL;
    const char *v[8];
    int rc;

    item.ver = 1; /* validate before taking a version */
    rc = item_text(&d, &text, err, err_len);
    free(text);
    text = NULL;
    if (rc)
        return rc;
    rc = authority_next_ver(db, tenant, "price", ver);
    if (rc)
        return rc;
    item.ver = *ver;
    rc = item_text(&d, &text, err, err_len);
    if (rc)
        return rc;
    snprintf(vtext, sizeof vtext, "%" PRId64, item.ver);
    snprintf(price, sizeof price, "%" PRId64, item.price_minor);
    if (item.has_from)
        ts_text(item.from_ms, from);
    if (item.has_until)
        ts_text(item.until_ms, until);
    v[0] = tenant;
    v[1] = vtext;
    v[2] = item.sku;
    v[3] = store ? store : "";
    v[4] = price;
    v[5] = from;
    v[6] = until;
    v[7] = text;
    rc = db_query(db,
                  "INSERT INTO prices (tenant, ver, sku, store, price_minor, effective_from,"
                  " effective_until, item) VALUES ($1, $2, $3, NULLIF($4, ''), $5,"
                  " NULLIF($6, '')::timestamptz, NULLIF($7, '')::timestamptz, $8)",
                  8, v, NULL);
    if (!rc)
        rc = authority_enqueue_items(db, tenant, store ? store : "_all", "price", &text, 1);
    free(text);
    return rc;
}

int authority_promo(struct db *db, const char *tenant, const struct p4t_promo *in,
                    int64_t *ver, char *err, size_t err_len)
{
    struct p4t_promo promo = *in;
    struct p4t_down d = {.kind = P4T_D_PROMO, .n_items = 1, .promo = &promo};
    char vtext[24], *text = NULL;
    const char *v[5];
    int rc;

    promo.ver = 1;
    rc = item_text(&d, &text, err, err_len);
    free(text);
    text = NULL;
    if (rc)
        return rc;
    rc = authority_next_ver(db, tenant, "promo", ver);
    if (rc)
        return rc;
    promo.ver = *ver;
    rc = item_text(&d, &text, err, err_len);
    if (rc)
        return rc;
    snprintf(vtext, sizeof vtext, "%" PRId64, promo.ver);
    v[0] = tenant;
    v[1] = promo.id;
    v[2] = vtext;
    v[3] = promo.active ? "true" : "false";
    v[4] = text;
    rc = db_query(db,
                  "INSERT INTO promos (tenant, id, ver, active, item)"
                  " VALUES ($1, $2, $3, $4::boolean, $5)",
                  5, v, NULL);
    if (!rc)
        rc = authority_enqueue_items(db, tenant, "_all", "promo", &text, 1);
    free(text);
    return rc;
}

/* Reads the latest promo ID into OUT (for retiring it). P4HQ_EINVAL if there is none. */
int authority_promo_get(struct db *db, const char *tenant, const char *id, struct p4t_promo *out)
{
    const char *v[2] = {tenant, id};
    struct p4t_down d;
    PGresult *res;
    char *msg;
    int rc = db_query(db,
                      "SELECT item FROM promos WHERE tenant = $1 AND id = $2"
                      " ORDER BY ver DESC LIMIT 1",
                      2, v, &res);

    if (rc)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return P4HQ_EINVAL;
    }
    if (asprintf(&msg, "%s%s]}", ITEMS_PREFIX, PQgetvalue(res, 0, 0)) < 0) {
        PQclear(res);
        return P4HQ_ENOMEM;
    }
    PQclear(res);
    rc = p4t_down_decode(P4T_D_PROMO, msg, strlen(msg), &d, NULL, 0);
    free(msg);
    if (rc)
        return P4HQ_EINVAL;
    *out = d.promo[0];
    p4t_down_cleanup(&d);
    return P4HQ_OK;
}

int authority_customer(struct db *db, const char *tenant, const struct p4t_customer *in,
                       const char *origin_store, bool keep_existing, int64_t *ver,
                       bool *kept, char *err, size_t err_len)
{
    struct p4t_customer c = *in;
    struct p4t_down d = {.kind = P4T_D_CUSTOMER, .n_items = 1, .customer = &c};
    char vtext[24], *text = NULL;
    const char *v[7];
    PGresult *res;
    int rc;

    *kept = false;
    c.ver = 1;
    rc = item_text(&d, &text, err, err_len);
    free(text);
    text = NULL;
    if (rc)
        return rc;
    if (keep_existing) {
        /* A customer signed up at a register: the first one HQ committed stays. */
        const char *q[2] = {tenant, c.id};
        rc = db_query(db,
                      "SELECT ver, name, tier FROM customers WHERE tenant = $1 AND id = $2"
                      " FOR UPDATE",
                      2, q, &res);
        if (rc)
            return rc;
        if (PQntuples(res) == 1) {
            *ver = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            *kept = strcmp(PQgetvalue(res, 0, 1), c.name) != 0 ||
                    strcmp(PQgetvalue(res, 0, 2), c.tier) != 0;
            PQclear(res);
            return P4HQ_OK;
        }
        PQclear(res);
    }
    rc = authority_next_ver(db, tenant, "customer", ver);
    if (rc)
        return rc;
    c.ver = *ver;
    rc = item_text(&d, &text, err, err_len);
    if (rc)
        return rc;
    snprintf(vtext, sizeof vtext, "%" PRId64, c.ver);
    v[0] = tenant;
    v[1] = c.id;
    v[2] = vtext;
    v[3] = c.name;
    v[4] = c.tier;
    v[5] = origin_store ? origin_store : "";
    v[6] = text;
    rc = db_query(db,
                  "INSERT INTO customers (tenant, id, ver, name, tier, origin_store, item)"
                  " VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7)"
                  " ON CONFLICT (tenant, id) DO UPDATE SET ver = excluded.ver,"
                  " name = excluded.name, tier = excluded.tier, item = excluded.item,"
                  " updated_at = now()",
                  7, v, NULL);
    if (!rc)
        rc = authority_enqueue_items(db, tenant, "_all", "customer", &text, 1);
    free(text);
    return rc;
}

/* The contract's stock rule at HQ (6.4.5): a movement after the latest count moves on_hand; a
 * newer count re-bases it and the movements after it are applied again. */
static const char sql_stock_apply[] =
    "WITH m AS (INSERT INTO stock_movements (tenant, store, sku, type, delta, occurred_at,"
    "  movement_id, item) VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7, $8)"
    " ON CONFLICT DO NOTHING RETURNING type, delta, occurred_at)"
    "INSERT INTO stock AS k (tenant, store, sku, on_hand, count_at, count_on_hand)"
    " SELECT $1, $2, $3, m.delta, CASE WHEN m.type = 'count' THEN m.occurred_at"
    "  ELSE 'epoch'::timestamptz END, CASE WHEN m.type = 'count' THEN m.delta ELSE 0 END FROM m"
    " ON CONFLICT (tenant, store, sku) DO UPDATE SET"
    "  on_hand = CASE"
    "   WHEN $4 <> 'count' THEN k.on_hand + CASE WHEN $6::timestamptz > k.count_at"
    "    THEN $5::bigint ELSE 0 END"
    "   WHEN $6::timestamptz > k.count_at THEN $5::bigint + coalesce((SELECT sum(x.delta)"
    "    FROM stock_movements x WHERE x.tenant = $1 AND x.store = $2 AND x.sku = $3"
    "    AND x.type <> 'count' AND x.occurred_at > $6::timestamptz), 0)"
    "   ELSE k.on_hand END,"
    "  count_at = CASE WHEN $4 = 'count' AND $6::timestamptz > k.count_at"
    "   THEN $6::timestamptz ELSE k.count_at END,"
    "  count_on_hand = CASE WHEN $4 = 'count' AND $6::timestamptz > k.count_at"
    "   THEN $5::bigint ELSE k.count_on_hand END"
    " RETURNING on_hand";

int authority_customer_resend(struct db *db, const char *tenant, const char *id,
                              const char *store)
{
    const char *v[2] = {tenant, id};
    PGresult *res;
    char *item;
    int rc = db_query(db, "SELECT item FROM customers WHERE tenant = $1 AND id = $2", 2, v,
                      &res);

    if (rc)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return P4HQ_OK;
    }
    item = PQgetvalue(res, 0, 0);
    rc = authority_enqueue_items(db, tenant, store, "customer", &item, 1);
    PQclear(res);
    return rc;
}

int authority_stock(struct db *db, const char *tenant, const char *store,
                    const struct p4t_stock_item *in, int64_t *on_hand, char *err,
                    size_t err_len)
{
    struct p4t_stock_item it = *in;
    struct p4t_down d = {.kind = P4T_D_STOCK, .n_items = 1, .stock = &it};
    char at[P4T_TS_LEN], qty[24], *text = NULL;
    const char *v[8];
    PGresult *res;
    int rc;

    *on_hand = 0;
    if (!p4t_store_id_valid(store)) {
        snprintf(err, err_len, "store: must be 1..32 characters [a-z0-9_-] starting with "
                               "[a-z0-9]");
        return P4HQ_EINVAL;
    }
    rc = item_text(&d, &text, err, err_len);
    if (rc)
        return rc;
    ts_text(it.occurred_at_ms, at);
    snprintf(qty, sizeof qty, "%" PRId64, it.type == P4T_STOCK_COUNT ? it.on_hand : it.delta);
    v[0] = tenant;
    v[1] = store;
    v[2] = it.sku;
    v[3] = p4t_stock_type_name(it.type);
    v[4] = qty;
    v[5] = at;
    v[6] = it.id;
    v[7] = text;
    rc = db_query(db, sql_stock_apply, 8, v, &res);
    if (rc) {
        free(text);
        return rc;
    }
    if (PQntuples(res) == 0) {
        /* The movement id is known: a repeat of an applied movement changes nothing. */
        PQclear(res);
        free(text);
        snprintf(err, err_len, "id: movement \"%s\" was already recorded for %s", it.id,
                 store);
        return P4HQ_EEXIST;
    }
    *on_hand = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    rc = authority_enqueue_items(db, tenant, store, "stock", &text, 1);
    free(text);
    return rc;
}

int authority_loyalty_entry(struct db *db, const char *tenant, const char *customer,
                            const char *entry, int64_t points, const char *reason,
                            char *err, size_t err_len)
{
    char pts[24], at[P4T_TS_LEN];
    const char *v[6];
    PGresult *res;
    int rc;

    if (!authority_printable(customer, P4T_CUSTOMER_MAX)) {
        snprintf(err, err_len, "customer: must be 1..64 printable characters without spaces");
        return P4HQ_EINVAL;
    }
    if (points == 0 || points > P4T_MAX_POINTS || points < -P4T_MAX_POINTS) {
        snprintf(err, err_len, "points: must be a non-zero integer within +-%d",
                 P4T_MAX_POINTS);
        return P4HQ_EINVAL;
    }
    if (strlen(reason) >= P4T_REASON_MAX) {
        snprintf(err, err_len, "reason: longer than %d bytes", P4T_REASON_MAX - 1);
        return P4HQ_EINVAL;
    }
    snprintf(pts, sizeof pts, "%" PRId64, points);
    p4_format_ts(p4_now_ms(), at);
    v[0] = tenant;
    v[1] = customer;
    v[2] = entry;
    v[3] = pts;
    v[4] = reason;
    v[5] = at;
    rc = db_query(db,
                  "INSERT INTO loyalty_ledger (tenant, customer, entry, points, reason, at)"
                  " VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6::timestamptz)"
                  " ON CONFLICT DO NOTHING RETURNING id",
                  6, v, &res);
    if (rc)
        return rc;
    rc = PQntuples(res) ? P4HQ_OK : P4HQ_EEXIST;
    PQclear(res);
    if (rc == P4HQ_EEXIST)
        snprintf(err, err_len, "entry: \"%s\" was already recorded", entry);
    return rc;
}

/* The customer's balance: the ledger's running total (loyalty_totals), a new loyalty ver, and
 * as_of = the newest entry it includes (contract 6.4.4: a store adds only its entries after
 * as_of, so nothing is counted twice); the balance item is kept and pushed to every store
 * where the customer shops. */
static const char sql_balance[] =
    "SELECT coalesce(t.balance, 0), to_char(coalesce(t.last_at, 'epoch'::timestamptz)"
    "  AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
    " coalesce((SELECT string_agg(store, ',' ORDER BY store) FROM customer_stores"
    "  WHERE tenant = $1 AND customer = $2), '')"
    " FROM (SELECT 1) one LEFT JOIN loyalty_totals t ON t.tenant = $1 AND t.customer = $2";

int authority_loyalty_push(struct db *db, const char *tenant, char *const *customers, size_t n,
                           int64_t *overdrawn)
{
    struct store_items {
        char store[P4T_ID_MAX + 1];
        char **items;
        size_t n, cap;
    } *by_store = NULL;
    size_t n_stores = 0;
    int rc = P4HQ_OK;

    *overdrawn = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *v[2] = {tenant, customers[i]};
        struct p4t_loyalty_item li = {0};
        struct p4t_down d = {.kind = P4T_D_LOYALTY, .n_items = 1, .loyalty = &li};
        char err[P4T_REASON_MAX], vtext[24], bal[24], *text = NULL, *stores, *save = NULL;
        PGresult *res;
        int64_t balance;

        rc = db_query(db, sql_balance, 2, v, &res);
        if (rc)
            break;
        balance = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(li.customer, sizeof li.customer, "%s", customers[i]);
        li.is_balance = true;
        /* The contract's balance is >= 0: an overdraft is shown as 0 and raised. */
        li.balance = balance < 0 ? 0 : balance;
        if (balance < 0)
            (*overdrawn)++;
        if (p4t_ts_parse(PQgetvalue(res, 0, 1), &li.as_of_ms) != 0)
            li.as_of_ms = 0;
        stores = strdup(PQgetvalue(res, 0, 2));
        PQclear(res);
        if (!stores)
            return P4HQ_ENOMEM;
        rc = authority_next_ver(db, tenant, "loyalty", &li.ver);
        if (!rc)
            rc = item_text(&d, &text, err, sizeof err);
        if (!rc) {
            const char *w[5] = {tenant, customers[i], bal, vtext, text};
            char as_of[P4T_TS_LEN];
            ts_text(li.as_of_ms, as_of);
            snprintf(bal, sizeof bal, "%" PRId64, balance);
            snprintf(vtext, sizeof vtext, "%" PRId64, li.ver);
            {
                const char *w6[6] = {w[0], w[1], w[2], w[3], as_of, w[4]};
                rc = db_query(db,
                              "INSERT INTO loyalty_accounts (tenant, customer, balance, ver,"
                              " as_of, item) VALUES ($1, $2, $3, $4, $5::timestamptz, $6)"
                              " ON CONFLICT (tenant, customer) DO UPDATE SET"
                              " balance = excluded.balance, ver = excluded.ver,"
                              " as_of = excluded.as_of, item = excluded.item",
                              6, w6, NULL);
            }
        }
        for (char *st = strtok_r(stores, ",", &save); st && !rc;
             st = strtok_r(NULL, ",", &save)) {
            struct store_items *si = NULL;
            for (size_t k = 0; k < n_stores; k++) {
                if (strcmp(by_store[k].store, st) == 0)
                    si = &by_store[k];
            }
            if (!si) {
                struct store_items *grown = realloc(by_store, (n_stores + 1) * sizeof *grown);
                if (!grown) {
                    rc = P4HQ_ENOMEM;
                    break;
                }
                by_store = grown;
                si = &by_store[n_stores++];
                memset(si, 0, sizeof *si);
                snprintf(si->store, sizeof si->store, "%s", st);
            }
            if (si->n == si->cap) {
                size_t cap = si->cap ? si->cap * 2 : 16;
                char **grown = realloc(si->items, cap * sizeof *grown);
                if (!grown) {
                    rc = P4HQ_ENOMEM;
                    break;
                }
                si->items = grown;
                si->cap = cap;
            }
            si->items[si->n] = strdup(text);
            if (!si->items[si->n])
                rc = P4HQ_ENOMEM;
            else
                si->n++;
        }
        free(stores);
        free(text);
    }
    for (size_t k = 0; k < n_stores; k++) {
        if (!rc)
            rc = authority_enqueue_items(db, tenant, by_store[k].store, "loyalty",
                                         by_store[k].items, by_store[k].n);
        for (size_t j = 0; j < by_store[k].n; j++)
            free(by_store[k].items[j]);
        free(by_store[k].items);
    }
    free(by_store);
    return rc;
}
