/* SPDX-License-Identifier: Apache-2.0 */
/* The register's cache of store state (stock, price states, promos, customers, loyalty) and
 * its change cursor. */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SYNC_NORMAL,
    ST_SYNC_FULL,
    ST_CURSOR_GET,
    ST_CURSOR_SET,
    ST_CLEAR_STOCK,
    ST_CLEAR_PRICES,
    ST_CLEAR_PROMOS,
    ST_CLEAR_CUSTOMERS,
    ST_CLEAR_LOYALTY,
    ST_CLEAR_ENTITIES,
    ST_STOCK_SET,
    ST_PRICE_SET,
    ST_PROMO_SET,
    ST_CUSTOMER_SET,
    ST_LOYALTY_SET,
    ST_ENTITY_SET,
    ST_STOCK_GET,
    ST_PRICE_GET,
    ST_PRICE_LIST,
    ST_PROMOS_FOR,
    ST_PROMO_GET,
    ST_CUSTOMER_GET,
    ST_LOYALTY_GET,
    ST_ENTITY_GET,
    ST_COUNT
};

#define PROMO_COLS "id, ver, active, type, sku, percent, price, n, m, from_ms, until_ms"

static const char *const sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SYNC_NORMAL] = "PRAGMA synchronous=NORMAL",
    [ST_SYNC_FULL] = "PRAGMA synchronous=FULL",
    [ST_CURSOR_GET] = "SELECT v FROM meta WHERE k = 'cursor'",
    [ST_CURSOR_SET] = "UPDATE meta SET v = ?1 WHERE k = 'cursor'",
    [ST_CLEAR_STOCK] = "DELETE FROM stock",
    [ST_CLEAR_PRICES] = "DELETE FROM price_states",
    [ST_CLEAR_PROMOS] = "DELETE FROM promos",
    [ST_CLEAR_CUSTOMERS] = "DELETE FROM customers",
    [ST_CLEAR_LOYALTY] = "DELETE FROM loyalty",
    [ST_CLEAR_ENTITIES] = "DELETE FROM entities",
    [ST_STOCK_SET] = "INSERT INTO stock(sku, on_hand) VALUES(?1, ?2) "
                     "ON CONFLICT(sku) DO UPDATE SET on_hand = ?2",
    [ST_PRICE_SET] = "INSERT INTO price_states(sku, state) VALUES(?1, ?2) "
                     "ON CONFLICT(sku) DO UPDATE SET state = ?2",
    [ST_PROMO_SET] = "INSERT OR REPLACE INTO promos(" PROMO_COLS ") "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_CUSTOMER_SET] = "INSERT OR REPLACE INTO customers(id, ver, name, tier) "
                        "VALUES(?1, ?2, ?3, ?4)",
    [ST_LOYALTY_SET] = "INSERT INTO loyalty(customer, balance) VALUES(?1, ?2) "
                       "ON CONFLICT(customer) DO UPDATE SET balance = ?2",
    [ST_ENTITY_SET] = "INSERT INTO entities(entity, key, value) VALUES(?1, ?2, ?3) "
                      "ON CONFLICT(entity, key) DO UPDATE SET value = ?3",
    [ST_STOCK_GET] = "SELECT on_hand FROM stock WHERE sku = ?1",
    [ST_PRICE_GET] = "SELECT state FROM price_states WHERE sku = ?1",
    [ST_PRICE_LIST] = "SELECT sku, state FROM price_states ORDER BY sku",
    [ST_PROMOS_FOR] = "SELECT " PROMO_COLS " FROM promos WHERE sku = ?1 AND active = 1 "
                      "ORDER BY id LIMIT ?2",
    [ST_PROMO_GET] = "SELECT " PROMO_COLS " FROM promos WHERE id = ?1",
    [ST_CUSTOMER_GET] = "SELECT id, ver, name, tier FROM customers WHERE id = ?1",
    [ST_LOYALTY_GET] = "SELECT balance FROM loyalty WHERE customer = ?1",
    [ST_ENTITY_GET] = "SELECT value FROM entities WHERE entity = ?1 AND key = ?2",
};

struct cache {
    sqlite3 *db; /* borrowed from the journal */
    sqlite3_stmt *st[ST_COUNT];
};

static const char *const entity_names[] = {
    [P4T_E_STOCK] = "stock",       [P4T_E_PRICE] = "price",     [P4T_E_PROMO] = "promo",
    [P4T_E_CUSTOMER] = "customer", [P4T_E_LOYALTY] = "loyalty",
};

const char *cache_entity_name(enum p4t_entity e)
{
    if ((size_t)e >= sizeof(entity_names) / sizeof(entity_names[0]))
        return "unknown";
    return entity_names[e];
}

static int db_fail(struct cache *c, const char *what)
{
    p4_error("cache %s failed err=\"%s\"", what, sqlite3_errmsg(c->db));
    return P4TERM_EIO;
}

static int step_done(struct cache *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return db_fail(c, what);
    return 0;
}

int cache_open(sqlite3 *db, struct cache **out)
{
    struct cache *c;

    c = calloc(1, sizeof(*c));
    if (!c)
        return P4TERM_ENOMEM;
    c->db = db;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL) !=
            SQLITE_OK) {
            int rc = db_fail(c, "prepare");

            cache_close(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

void cache_close(struct cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    free(c);
}

int cache_cursor(struct cache *c, int64_t *cursor)
{
    sqlite3_stmt *st = c->st[ST_CURSOR_GET];
    int rc = sqlite3_step(st);

    *cursor = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(c, "cursor read");
    return 0;
}

static int cursor_set(struct cache *c, int64_t cursor)
{
    sqlite3_bind_int64(c->st[ST_CURSOR_SET], 1, cursor);
    return step_done(c, c->st[ST_CURSOR_SET], "cursor write");
}

/* {"on_hand": N}, N may be negative after an oversell. The contract's decoders leave stock
 * values to the receiver, so this one is read here, exactly (no floating point). */
static int stock_value(const char *json, int64_t *on_hand)
{
    static const char prefix[] = "{\"on_hand\":";
    const char *p = json;
    char *end = NULL;
    long long v;

    if (strncmp(p, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    p += sizeof(prefix) - 1;
    if (!((*p >= '0' && *p <= '9') || *p == '-'))
        return -1;
    v = strtoll(p, &end, 10);
    if (end && (*end == 'e' || *end == 'E')) {
        /* cJSON prints integers from 1e15 up with an exponent ("1e+15"); below 2^53 a double
         * holds them exactly. */
        double d = strtod(p, &end);

        if (d > 9007199254740991.0 || d < -9007199254740991.0 || (double)(long long)d != d)
            return -1;
        v = (long long)d;
    }
    /* The contract caps every integer at 2^53 - 1; strtoll saturates well beyond that. */
    if (!end || strcmp(end, "}") != 0 || v > 9007199254740991LL || v < -9007199254740991LL)
        return -1;
    *on_hand = v;
    return 0;
}

static void bind_opt_ms(sqlite3_stmt *st, int col, bool has, int64_t ms)
{
    if (has)
        sqlite3_bind_int64(st, col, ms);
    else
        sqlite3_bind_null(st, col);
}

/* Applies one item with the 1.1 value codecs of libp4topics. A value that does not fit its
 * entity is skipped (logged), not fatal: the change log is the gateway's, and one bad item
 * must not stop the register's cache. */
static int apply_item(struct cache *c, const struct p4t_change *it)
{
    char reason[P4T_REASON_MAX] = "";
    const char *v = it->value_json;
    size_t len = v ? strlen(v) : 0;
    sqlite3_stmt *st;
    int rc = 0;

    if (!v)
        goto bad;
    switch (it->entity) {
    case P4T_E_STOCK: {
        int64_t on_hand = 0;

        if (stock_value(v, &on_hand)) {
            snprintf(reason, sizeof(reason), "value: must be {\"on_hand\": integer}");
            goto bad;
        }
        st = c->st[ST_STOCK_SET];
        sqlite3_bind_text(st, 1, it->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, on_hand);
        rc = step_done(c, st, "stock write");
        break;
    }
    case P4T_E_PRICE: {
        struct p4t_price_state ps;

        if (p4t_price_state_decode(v, len, &ps, reason, sizeof(reason)) != 0)
            goto bad;
        /* Kept as the gateway's text: it is resolved again at every lookup, by time. */
        st = c->st[ST_PRICE_SET];
        sqlite3_bind_text(st, 1, it->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, v, (int)len, SQLITE_STATIC);
        rc = step_done(c, st, "price write");
        break;
    }
    case P4T_E_PROMO: {
        struct p4t_promo p;

        if (p4t_promo_value_decode(v, len, &p, reason, sizeof(reason)) != 0)
            goto bad;
        if (strcmp(p.id, it->key) != 0) {
            snprintf(reason, sizeof(reason), "value.id: is not the item's key");
            goto bad;
        }
        st = c->st[ST_PROMO_SET];
        sqlite3_bind_text(st, 1, p.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, p.ver);
        sqlite3_bind_int(st, 3, p.active ? 1 : 0);
        sqlite3_bind_int(st, 4, (int)p.type);
        sqlite3_bind_text(st, 5, p.sku, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 6, p.percent);
        sqlite3_bind_int64(st, 7, p.price_minor);
        sqlite3_bind_int64(st, 8, p.n);
        sqlite3_bind_int64(st, 9, p.m);
        bind_opt_ms(st, 10, p.has_from, p.from_ms);
        bind_opt_ms(st, 11, p.has_until, p.until_ms);
        rc = step_done(c, st, "promo write");
        break;
    }
    case P4T_E_CUSTOMER: {
        struct p4t_customer cu;

        if (p4t_customer_value_decode(v, len, &cu, reason, sizeof(reason)) != 0)
            goto bad;
        if (strcmp(cu.id, it->key) != 0) {
            snprintf(reason, sizeof(reason), "value.id: is not the item's key");
            goto bad;
        }
        st = c->st[ST_CUSTOMER_SET];
        sqlite3_bind_text(st, 1, cu.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, cu.ver);
        sqlite3_bind_text(st, 3, cu.name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, cu.tier, -1, SQLITE_TRANSIENT);
        rc = step_done(c, st, "customer write");
        break;
    }
    case P4T_E_LOYALTY: {
        int64_t balance = 0;

        if (p4t_loyalty_value_decode(v, len, &balance, reason, sizeof(reason)) != 0)
            goto bad;
        st = c->st[ST_LOYALTY_SET];
        sqlite3_bind_text(st, 1, it->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, balance);
        rc = step_done(c, st, "loyalty write");
        break;
    }
    default:
        st = c->st[ST_ENTITY_SET];
        sqlite3_bind_text(st, 1, cache_entity_name(it->entity), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, it->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, v, -1, SQLITE_STATIC);
        rc = step_done(c, st, "entity write");
        break;
    }
    return rc;
bad:
    p4_warn("change item skipped seq=%lld entity=%s key=%s reason=\"%s\"", (long long)it->seq,
            cache_entity_name(it->entity), it->key,
            reason[0] ? reason : "value does not fit the entity");
    return 0;
}

int cache_apply(struct cache *c, const struct p4t_changes *ch, bool first_chunk,
                enum cache_result *result, int64_t *applied_from, int64_t *applied_to)
{
    int64_t cursor = 0, lo = 0, hi = 0;
    bool relaxed;
    int rc;

    *applied_from = 0;
    *applied_to = 0;
    rc = cache_cursor(c, &cursor);
    if (rc)
        return rc;
    if (!ch->snapshot) {
        /* A log slice: stale when we are past it, a gap when it starts after cursor + 1. */
        if (ch->n_items == 0 || ch->to <= cursor) {
            *result = CACHE_STALE;
            return 0;
        }
        if (ch->from > cursor + 1) {
            *result = CACHE_GAP;
            return 0;
        }
    }
    /* A snapshot chunk before the last is not worth an fsync: until the last chunk sets the
     * cursor the cache is unusable anyway (cursor 0), and the last chunk's commit (FULL) makes
     * the WAL frames before it durable too. 200,000 items come in 400 chunks. The journal's
     * sales share this connection but not this moment (the caller holds the lock). If FULL
     * cannot be set back afterwards this returns the error, and journal_begin() refuses to
     * commit a sale until it can set FULL itself. */
    relaxed = ch->snapshot && ch->more;
    if (relaxed) {
        rc = step_done(c, c->st[ST_SYNC_NORMAL], "synchronous");
        if (rc)
            return rc;
    }
    rc = step_done(c, c->st[ST_BEGIN], "begin");
    if (rc)
        goto out;
    if (ch->snapshot && first_chunk) {
        for (int k = ST_CLEAR_STOCK; k <= ST_CLEAR_ENTITIES && rc == 0; k++)
            rc = step_done(c, c->st[k], "clear");
        /* Until the last chunk lands the cache is partial: a restart must sync again. */
        if (rc == 0)
            rc = cursor_set(c, 0);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < ch->n_items; i++) {
        const struct p4t_change *it = &ch->items[i];

        if (!ch->snapshot && it->seq <= cursor)
            continue;
        rc = apply_item(c, it);
        if (rc)
            goto out;
        if (!ch->snapshot) {
            if (lo == 0)
                lo = it->seq;
            hi = it->seq;
        }
    }
    if (!ch->snapshot)
        rc = cursor_set(c, ch->to);
    else if (!ch->more)
        rc = cursor_set(c, ch->to);
    if (rc)
        goto out;
    rc = step_done(c, c->st[ST_COMMIT], "commit");
out:
    if (rc && !sqlite3_get_autocommit(c->db))
        step_done(c, c->st[ST_ROLLBACK], "rollback");
    if (relaxed) {
        int rc2 = step_done(c, c->st[ST_SYNC_FULL], "synchronous");

        if (rc == 0)
            rc = rc2;
    }
    if (rc)
        return rc;
    *result = CACHE_APPLIED;
    *applied_from = lo;
    *applied_to = hi;
    return 0;
}

/* Reads the price state text of SKU. Called with the statement reset afterwards. */
static int price_state_get(struct cache *c, const char *sku, struct p4t_price_state *out)
{
    sqlite3_stmt *st = c->st[ST_PRICE_GET];
    char reason[P4T_REASON_MAX];
    int rc;

    sqlite3_bind_text(st, 1, sku, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);

        if (!v || p4t_price_state_decode(v, (size_t)n, out, reason, sizeof(reason)) != 0) {
            /* Only values that decoded are stored, so this is disk damage. */
            p4_error("cached price state unreadable sku=%s", sku);
            rc = SQLITE_CORRUPT;
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return P4TERM_ENOTFOUND;
    if (rc == SQLITE_CORRUPT)
        return P4TERM_EIO;
    if (rc != SQLITE_ROW)
        return db_fail(c, "price read");
    return 0;
}

int cache_price_state(struct cache *c, const char *sku, struct p4t_price_state *out)
{
    return price_state_get(c, sku, out);
}

int cache_price(struct cache *c, const char *sku, int64_t at_ms, int64_t *price_minor,
                int64_t *ver)
{
    struct p4t_price_state ps;
    int rc;

    rc = price_state_get(c, sku, &ps);
    if (rc)
        return rc;
    if (p4t_price_effective(&ps, at_ms, price_minor, ver) != 0)
        return P4TERM_ENOTFOUND;
    return 0;
}

/* Reads the one integer prepared statement WHICH selects for KEY. P4TERM_ENOTFOUND when there
 * is no row; WHAT names the read in the error log. */
static int int_by_key(struct cache *c, int which, const char *key, int64_t *out,
                      const char *what)
{
    sqlite3_stmt *st = c->st[which];
    int rc;

    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return P4TERM_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return db_fail(c, what);
    return 0;
}

int cache_stock(struct cache *c, const char *sku, int64_t *on_hand)
{
    return int_by_key(c, ST_STOCK_GET, sku, on_hand, "stock read");
}

int cache_price_list(struct cache *c, int64_t at_ms, struct p4term_price_item *items,
                     size_t max, size_t *n_out)
{
    sqlite3_stmt *st = c->st[ST_PRICE_LIST];
    char reason[P4T_REASON_MAX];
    size_t n = 0;
    int rc;

    for (;;) {
        struct p4t_price_state ps;
        const char *sku, *v;

        if (n == max) {
            rc = SQLITE_DONE;
            break;
        }
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        sku = (const char *)sqlite3_column_text(st, 0);
        v = (const char *)sqlite3_column_text(st, 1);
        if (!sku || !v ||
            p4t_price_state_decode(v, (size_t)sqlite3_column_bytes(st, 1), &ps, reason,
                                   sizeof(reason)) != 0 ||
            p4t_price_effective(&ps, at_ms, &items[n].price_minor, &items[n].ver) != 0)
            continue; /* no price in effect now: not sellable at a known price */
        snprintf(items[n].sku, sizeof(items[n].sku), "%s", sku);
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(c, "price list");
    *n_out = n;
    return 0;
}

/* Fills OUT from a row of PROMO_COLS. */
static void promo_row(sqlite3_stmt *st, struct p4t_promo *out)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *sku = (const char *)sqlite3_column_text(st, 4);

    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", id ? id : "");
    out->ver = sqlite3_column_int64(st, 1);
    out->active = sqlite3_column_int(st, 2) != 0;
    out->type = (enum p4t_promo_type)sqlite3_column_int(st, 3);
    snprintf(out->sku, sizeof(out->sku), "%s", sku ? sku : "");
    out->percent = sqlite3_column_int64(st, 5);
    out->price_minor = sqlite3_column_int64(st, 6);
    out->n = sqlite3_column_int64(st, 7);
    out->m = sqlite3_column_int64(st, 8);
    out->has_from = sqlite3_column_type(st, 9) != SQLITE_NULL;
    out->from_ms = out->has_from ? sqlite3_column_int64(st, 9) : 0;
    out->has_until = sqlite3_column_type(st, 10) != SQLITE_NULL;
    out->until_ms = out->has_until ? sqlite3_column_int64(st, 10) : 0;
}

int cache_promos_for(struct cache *c, const char *sku, struct p4t_promo *out, size_t max,
                     size_t *n_out)
{
    sqlite3_stmt *st = c->st[ST_PROMOS_FOR];
    size_t n = 0;
    int rc;

    /* One row more than asked tells whether some were left out. */
    sqlite3_bind_text(st, 1, sku, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)max + 1);
    for (;;) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        if (n == max) {
            p4_warn("more than %zu active promos for one sku, pricing with the first sku=%s",
                    max, sku);
            rc = SQLITE_DONE;
            break;
        }
        promo_row(st, &out[n++]);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return db_fail(c, "promo list");
    *n_out = n;
    return 0;
}

int cache_promo(struct cache *c, const char *id, struct p4t_promo *out)
{
    sqlite3_stmt *st = c->st[ST_PROMO_GET];
    int rc;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        promo_row(st, out);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return P4TERM_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return db_fail(c, "promo read");
    return 0;
}

int cache_customer(struct cache *c, const char *id, struct p4t_customer *out)
{
    sqlite3_stmt *st = c->st[ST_CUSTOMER_GET];
    int rc;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *cid = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 2);
        const char *tier = (const char *)sqlite3_column_text(st, 3);

        memset(out, 0, sizeof(*out));
        snprintf(out->id, sizeof(out->id), "%s", cid ? cid : "");
        out->ver = sqlite3_column_int64(st, 1);
        snprintf(out->name, sizeof(out->name), "%s", name ? name : "");
        snprintf(out->tier, sizeof(out->tier), "%s", tier ? tier : "");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return P4TERM_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return db_fail(c, "customer read");
    return 0;
}

int cache_loyalty(struct cache *c, const char *customer, int64_t *balance)
{
    return int_by_key(c, ST_LOYALTY_GET, customer, balance, "loyalty read");
}

int cache_entity(struct cache *c, const char *entity, const char *key, char **out)
{
    sqlite3_stmt *st = c->st[ST_ENTITY_GET];
    int rc;

    *out = NULL;
    sqlite3_bind_text(st, 1, entity, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);

        *out = strdup(v ? v : "");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return P4TERM_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return db_fail(c, "entity read");
    return *out ? 0 : P4TERM_ENOMEM;
}
