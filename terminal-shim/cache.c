/* SPDX-License-Identifier: Apache-2.0 */
/* The register's cache of store state (stock, prices, other entities) and its change cursor. */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "p4common.h"

/* Integers above 2^53 cannot come through cJSON's double exactly; the contract's decoders
 * refuse them too. */
#define CACHE_INT_MAX 9007199254740992LL

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_CURSOR_GET,
    ST_CURSOR_SET,
    ST_CLEAR_STOCK,
    ST_CLEAR_PRICES,
    ST_CLEAR_ENTITIES,
    ST_STOCK_SET,
    ST_PRICE_SET,
    ST_ENTITY_SET,
    ST_STOCK_GET,
    ST_PRICE_GET,
    ST_PRICE_LIST,
    ST_ENTITY_GET,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_CURSOR_GET] = "SELECT v FROM meta WHERE k = 'cursor'",
    [ST_CURSOR_SET] = "UPDATE meta SET v = ?1 WHERE k = 'cursor'",
    [ST_CLEAR_STOCK] = "DELETE FROM stock",
    [ST_CLEAR_PRICES] = "DELETE FROM prices",
    [ST_CLEAR_ENTITIES] = "DELETE FROM entities",
    [ST_STOCK_SET] = "INSERT INTO stock(sku, on_hand) VALUES(?1, ?2) "
                     "ON CONFLICT(sku) DO UPDATE SET on_hand = ?2",
    [ST_PRICE_SET] = "INSERT INTO prices(sku, price, ver) VALUES(?1, ?2, ?3) "
                     "ON CONFLICT(sku) DO UPDATE SET price = ?2, ver = ?3",
    [ST_ENTITY_SET] = "INSERT INTO entities(entity, key, value) VALUES(?1, ?2, ?3) "
                      "ON CONFLICT(entity, key) DO UPDATE SET value = ?3",
    [ST_STOCK_GET] = "SELECT on_hand FROM stock WHERE sku = ?1",
    [ST_PRICE_GET] = "SELECT price, ver FROM prices WHERE sku = ?1",
    [ST_PRICE_LIST] = "SELECT sku, price, ver FROM prices ORDER BY sku LIMIT ?1",
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

/* Reads integer KEY of OBJ when it is an exact integer within 0..CACHE_INT_MAX (negative
 * allowed when SIGNED_OK: stock can be oversold below zero). Returns 0 or -1. */
static int json_int(const cJSON *obj, const char *key, bool signed_ok, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    double d;

    if (!cJSON_IsNumber(it))
        return -1;
    d = it->valuedouble;
    if (d > (double)CACHE_INT_MAX || d < (signed_ok ? -(double)CACHE_INT_MAX : 0.0))
        return -1;
    if ((double)(int64_t)d != d)
        return -1;
    *out = (int64_t)d;
    return 0;
}

/* Applies one item. A value that does not fit its entity is skipped (logged), not fatal: the
 * change log is the gateway's, and one bad item must not stop the register's cache. */
static int apply_item(struct cache *c, const struct p4t_change *it)
{
    cJSON *v = NULL;
    sqlite3_stmt *st;
    int64_t a = 0, b = 0;
    int rc = 0;

    if (!it->value_json)
        goto bad;
    if (it->entity == P4T_E_STOCK || it->entity == P4T_E_PRICE) {
        v = cJSON_Parse(it->value_json);
        if (!cJSON_IsObject(v))
            goto bad;
    }
    switch (it->entity) {
    case P4T_E_STOCK:
        if (json_int(v, "on_hand", true, &a))
            goto bad;
        st = c->st[ST_STOCK_SET];
        sqlite3_bind_text(st, 1, it->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a);
        rc = step_done(c, st, "stock write");
        break;
    case P4T_E_PRICE:
        if (json_int(v, "price", false, &a) || json_int(v, "ver", false, &b))
            goto bad;
        st = c->st[ST_PRICE_SET];
        sqlite3_bind_text(st, 1, it->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a);
        sqlite3_bind_int64(st, 3, b);
        rc = step_done(c, st, "price write");
        break;
    default:
        st = c->st[ST_ENTITY_SET];
        sqlite3_bind_text(st, 1, cache_entity_name(it->entity), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, it->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, it->value_json, -1, SQLITE_STATIC);
        rc = step_done(c, st, "entity write");
        break;
    }
    cJSON_Delete(v);
    return rc;
bad:
    p4_warn("change item skipped seq=%lld entity=%s key=%s reason=\"value does not fit the "
            "entity\"",
            (long long)it->seq, cache_entity_name(it->entity), it->key);
    cJSON_Delete(v);
    return 0;
}

int cache_apply(struct cache *c, const struct p4t_changes *ch, bool first_chunk,
                enum cache_result *result, int64_t *applied_from, int64_t *applied_to)
{
    int64_t cursor = 0, lo = 0, hi = 0;
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
    rc = step_done(c, c->st[ST_BEGIN], "begin");
    if (rc)
        return rc;
    if (ch->snapshot && first_chunk) {
        rc = step_done(c, c->st[ST_CLEAR_STOCK], "clear");
        if (rc == 0)
            rc = step_done(c, c->st[ST_CLEAR_PRICES], "clear");
        if (rc == 0)
            rc = step_done(c, c->st[ST_CLEAR_ENTITIES], "clear");
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
    if (rc) {
        if (!sqlite3_get_autocommit(c->db))
            step_done(c, c->st[ST_ROLLBACK], "rollback");
        return rc;
    }
    *result = CACHE_APPLIED;
    *applied_from = lo;
    *applied_to = hi;
    return 0;
}

int cache_price(struct cache *c, const char *sku, int64_t *price_minor, int64_t *ver)
{
    sqlite3_stmt *st = c->st[ST_PRICE_GET];
    int rc;

    sqlite3_bind_text(st, 1, sku, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *price_minor = sqlite3_column_int64(st, 0);
        *ver = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return P4TERM_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return db_fail(c, "price read");
    return 0;
}

int cache_stock(struct cache *c, const char *sku, int64_t *on_hand)
{
    sqlite3_stmt *st = c->st[ST_STOCK_GET];
    int rc;

    sqlite3_bind_text(st, 1, sku, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *on_hand = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return P4TERM_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return db_fail(c, "stock read");
    return 0;
}

int cache_price_list(struct cache *c, struct p4term_price_item *items, size_t max,
                     size_t *n_out)
{
    sqlite3_stmt *st = c->st[ST_PRICE_LIST];
    size_t n = 0;
    int rc;

    sqlite3_bind_int64(st, 1, (int64_t)max);
    for (;;) {
        const char *sku;

        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW || n == max)
            break;
        sku = (const char *)sqlite3_column_text(st, 0);
        snprintf(items[n].sku, sizeof(items[n].sku), "%s", sku ? sku : "");
        items[n].price_minor = sqlite3_column_int64(st, 1);
        items[n].ver = sqlite3_column_int64(st, 2);
        n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(c, "price list");
    *n_out = n;
    return 0;
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
