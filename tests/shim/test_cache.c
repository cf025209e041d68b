/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the register cache: in-order apply, cursor, gap detection, snapshot replace. */
#include "shim.h"
#include "shim_check.h"

#include "p4common.h"

/* A change message (or reply chunk) built in memory; values are borrowed string literals. */
struct msg {
    struct p4t_changes ch;
    struct p4t_change items[8];
};

static void msg_init(struct msg *m, int64_t from, int64_t to)
{
    memset(m, 0, sizeof(*m));
    m->ch.from = from;
    m->ch.to = to;
    m->ch.items = m->items;
}

static void msg_add(struct msg *m, int64_t seq, enum p4t_entity e, const char *key,
                    const char *value)
{
    struct p4t_change *it = &m->items[m->ch.n_items++];

    it->seq = seq;
    it->entity = e;
    snprintf(it->key, sizeof(it->key), "%s", key);
    it->value_json = (char *)value;
}

static int64_t stock_of(struct cache *c, const char *sku)
{
    int64_t v = -999;

    if (cache_stock(c, sku, &v) != 0)
        return -999;
    return v;
}

static int64_t price_of(struct cache *c, const char *sku, int64_t *ver)
{
    int64_t v = -999;

    if (cache_price(c, sku, &v, ver) != 0)
        return -999;
    return v;
}

static void test_apply_gap_snapshot(const char *dir)
{
    char path[256];
    struct journal *j = NULL;
    struct cache *c = NULL;
    struct msg m;
    enum cache_result res;
    int64_t lo, hi, cursor = -1, ver = 0;
    char *value = NULL;

    snprintf(path, sizeof(path), "%s/cache.db", dir);
    CHECK_INT(journal_open(path, &j, NULL), 0);
    CHECK_INT(cache_open(journal_db(j), &c), 0);
    CHECK_INT(cache_cursor(c, &cursor), 0);
    CHECK_INT(cursor, 0);

    /* 1..2 applies in order and moves the cursor. */
    msg_init(&m, 1, 2);
    msg_add(&m, 1, P4T_E_STOCK, "milk", "{\"on_hand\":5}");
    msg_add(&m, 2, P4T_E_PRICE, "milk", "{\"price\":119,\"ver\":1}");
    CHECK_INT(cache_apply(c, &m.ch, false, &res, &lo, &hi), 0);
    CHECK_INT(res, CACHE_APPLIED);
    CHECK_INT(lo, 1);
    CHECK_INT(hi, 2);
    CHECK_INT(cache_cursor(c, &cursor), 0);
    CHECK_INT(cursor, 2);
    CHECK_INT(stock_of(c, "milk"), 5);
    CHECK_INT(price_of(c, "milk", &ver), 119);
    CHECK_INT(ver, 1);

    /* An overlapping message applies only what is new (seq 3). */
    msg_init(&m, 2, 3);
    msg_add(&m, 2, P4T_E_PRICE, "milk", "{\"price\":1,\"ver\":9}");
    msg_add(&m, 3, P4T_E_STOCK, "milk", "{\"on_hand\":-2}");
    CHECK_INT(cache_apply(c, &m.ch, false, &res, &lo, &hi), 0);
    CHECK_INT(res, CACHE_APPLIED);
    CHECK_INT(lo, 3);
    CHECK_INT(hi, 3);
    CHECK_INT(price_of(c, "milk", &ver), 119);
    CHECK_INT(stock_of(c, "milk"), -2); /* oversold stock goes below zero */

    /* Replayed: stale, nothing changes. */
    msg_init(&m, 1, 3);
    msg_add(&m, 1, P4T_E_STOCK, "milk", "{\"on_hand\":100}");
    msg_add(&m, 2, P4T_E_STOCK, "milk", "{\"on_hand\":100}");
    msg_add(&m, 3, P4T_E_STOCK, "milk", "{\"on_hand\":100}");
    CHECK_INT(cache_apply(c, &m.ch, false, &res, &lo, &hi), 0);
    CHECK_INT(res, CACHE_STALE);
    CHECK_INT(stock_of(c, "milk"), -2);

    /* A gap (from 5 while the cursor is 3): not applied, the caller must sync. */
    msg_init(&m, 5, 5);
    msg_add(&m, 5, P4T_E_STOCK, "milk", "{\"on_hand\":50}");
    CHECK_INT(cache_apply(c, &m.ch, false, &res, &lo, &hi), 0);
    CHECK_INT(res, CACHE_GAP);
    CHECK_INT(cache_cursor(c, &cursor), 0);
    CHECK_INT(cursor, 3);
    CHECK_INT(stock_of(c, "milk"), -2);

    /* Other entities are kept as JSON; a value that does not fit its entity is skipped but the
     * cursor still passes it (the log is gap-free, the item is just unusable). */
    msg_init(&m, 4, 5);
    msg_add(&m, 4, P4T_E_PROMO, "milk", "{\"pct\":10}");
    msg_add(&m, 5, P4T_E_STOCK, "bread", "{\"on_hand\":\"many\"}");
    CHECK_INT(cache_apply(c, &m.ch, false, &res, &lo, &hi), 0);
    CHECK_INT(res, CACHE_APPLIED);
    CHECK_INT(cache_cursor(c, &cursor), 0);
    CHECK_INT(cursor, 5);
    CHECK_INT(cache_entity(c, "promo", "milk", &value), 0);
    CHECK_STR(value ? value : "", "{\"pct\":10}");
    free(value);
    CHECK_INT(stock_of(c, "bread"), -999);

    /* Snapshot in two chunks replaces everything; the cursor is set by the last chunk. */
    msg_init(&m, 0, 40);
    m.ch.is_reply = true;
    m.ch.snapshot = true;
    m.ch.more = true;
    msg_add(&m, 38, P4T_E_STOCK, "eggs", "{\"on_hand\":12}");
    CHECK_INT(cache_apply(c, &m.ch, true, &res, &lo, &hi), 0);
    CHECK_INT(res, CACHE_APPLIED);
    CHECK_INT(stock_of(c, "milk"), -999); /* cleared */
    CHECK_INT(price_of(c, "milk", &ver), -999);
    CHECK_INT(cache_entity(c, "promo", "milk", &value), P4TERM_ENOTFOUND);
    CHECK_INT(cache_cursor(c, &cursor), 0);
    CHECK_INT(cursor, 0); /* a crash here makes the next start sync from scratch */
    msg_init(&m, 0, 40);
    m.ch.is_reply = true;
    m.ch.snapshot = true;
    msg_add(&m, 39, P4T_E_PRICE, "eggs", "{\"price\":319,\"ver\":3}");
    CHECK_INT(cache_apply(c, &m.ch, false, &res, &lo, &hi), 0);
    CHECK_INT(stock_of(c, "eggs"), 12); /* the first chunk's items survive the second */
    CHECK_INT(price_of(c, "eggs", &ver), 319);
    CHECK_INT(ver, 3);
    CHECK_INT(cache_cursor(c, &cursor), 0);
    CHECK_INT(cursor, 40);

    /* Everything survives a reopen. */
    cache_close(c);
    journal_close(j);
    c = NULL;
    j = NULL;
    CHECK_INT(journal_open(path, &j, NULL), 0);
    CHECK_INT(cache_open(journal_db(j), &c), 0);
    CHECK_INT(cache_cursor(c, &cursor), 0);
    CHECK_INT(cursor, 40);
    CHECK_INT(stock_of(c, "eggs"), 12);
    {
        struct p4term_price_item items[4];
        size_t n = 0;

        CHECK_INT(cache_price_list(c, items, 4, &n), 0);
        CHECK_INT(n, 1);
        CHECK_STR(items[0].sku, "eggs");
        CHECK_INT(items[0].price_minor, 319);
    }
    cache_close(c);
    journal_close(j);
}

int main(void)
{
    char dir[64];

    p4_log_set_level(P4_LOG_ERROR); /* the skipped item logs one expected warning */
    tmpdir_make(dir, sizeof(dir));
    test_apply_gap_snapshot(dir);
    tmpdir_remove(dir);
    CHECK_DONE();
}
