/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of ringing a sale from the register's cache: effective prices by time, promo
 * pricing, explicit prices kept, the loyalty redemption policy and the hold field. */
#include "shim.h"
#include "p4check.h"

#include "p4common.h"

/* The items every test's cache starts from. Times are relative to the wall clock because
 * p4term_ring stamps the sale with the current time, as a register does; every edge is an
 * hour or more from the seeding time, so how long the test takes cannot move a result.
 * Lookups take the time as input (p4term_price_at). */
static void seed_cache(const char *path, int64_t now_ms)
{
    struct journal *j = NULL;
    struct cache *c = NULL;
    struct p4t_changes ch;
    struct p4t_change items[12];
    char future[P4T_TS_LEN], past[P4T_TS_LEN], soon[P4T_TS_LEN];
    char v_coffee[256], v_promo_future[256];
    enum cache_result res;
    int64_t lo, hi;
    size_t n = 0;

    p4t_ts_format(now_ms + 3600000, future);
    p4t_ts_format(now_ms - 3600000, past);
    p4t_ts_format(now_ms + 3600000, soon);
    /* coffee: base 949 (ver 4), a window at 799 (ver 5) that started an hour ago, and one at
     * 1 (ver 6) that starts in an hour. */
    snprintf(v_coffee, sizeof(v_coffee),
             "{\"price\":949,\"ver\":4,\"windows\":[{\"price\":799,\"ver\":5,\"from\":\"%s\"},"
             "{\"price\":1,\"ver\":6,\"from\":\"%s\"}]}",
             past, future);
    snprintf(v_promo_future, sizeof(v_promo_future),
             "{\"id\":\"p-soon\",\"ver\":9,\"active\":true,\"type\":\"fixed_price\","
             "\"sku\":\"milk\",\"price\":1,\"from\":\"%s\"}",
             soon);
#define ITEM(e, k, v)                                                                  \
    do {                                                                               \
        items[n].seq = (int64_t)n + 1;                                                 \
        items[n].entity = (e);                                                         \
        snprintf(items[n].key, sizeof(items[n].key), "%s", (k));                       \
        items[n].value_json = (char *)(v);                                             \
        n++;                                                                           \
    } while (0)
    ITEM(P4T_E_PRICE, "coffee", v_coffee);
    ITEM(P4T_E_PRICE, "milk", "{\"price\":119,\"ver\":1}");
    ITEM(P4T_E_PRICE, "bread", "{\"price\":100,\"ver\":2}");
    ITEM(P4T_E_PRICE, "tea", "{\"price\":5,\"ver\":3}");
    ITEM(P4T_E_PROMO, "p-10off",
         "{\"id\":\"p-10off\",\"ver\":3,\"active\":true,\"type\":\"percent_off\","
         "\"sku\":\"coffee\",\"percent\":10}");
    ITEM(P4T_E_PROMO, "p-milk99",
         "{\"id\":\"p-milk99\",\"ver\":4,\"active\":true,\"type\":\"fixed_price\","
         "\"sku\":\"milk\",\"price\":99}");
    ITEM(P4T_E_PROMO, "p-3for2",
         "{\"id\":\"p-3for2\",\"ver\":5,\"active\":true,\"type\":\"buy_n_pay_m\","
         "\"sku\":\"bread\",\"n\":3,\"m\":2}");
    ITEM(P4T_E_PROMO, "p-soon", v_promo_future);
    ITEM(P4T_E_PROMO, "p-tea-half",
         "{\"id\":\"p-tea-half\",\"ver\":6,\"active\":true,\"type\":\"percent_off\","
         "\"sku\":\"tea\",\"percent\":50}");
    ITEM(P4T_E_LOYALTY, "C-1", "{\"balance\":300}");
#undef ITEM
    memset(&ch, 0, sizeof(ch));
    ch.from = 1;
    ch.to = (int64_t)n;
    ch.n_items = n;
    ch.items = items;
    CHECK_INT(journal_open(path, &j, NULL), 0);
    CHECK_INT(cache_open(journal_db(j), &c), 0);
    CHECK_INT(cache_apply(c, &ch, false, &res, &lo, &hi), 0);
    CHECK_INT(res, CACHE_APPLIED);
    cache_close(c);
    journal_close(j);
}

static struct p4term *open_offline(const char *path, bool allow_redeem)
{
    struct p4term_options o;
    struct p4term *t = NULL;

    p4term_options_init(&o);
    o.store = "s001";
    o.reg = "r01";
    o.journal_path = path;
    o.offline = true;
    o.offline_redeem_allow = allow_redeem;
    CHECK_INT(p4term_open(&o, NULL, NULL, &t), 0);
    return t;
}

static void add_line(struct p4t_sale *s, const char *sku, int64_t qty, int64_t price)
{
    struct p4t_line *l = &s->lines[s->n_lines++];

    snprintf(l->sku, sizeof(l->sku), "%s", sku);
    l->qty = qty;
    l->price_minor = price;
    l->ver = 0;
}

static int64_t pending_count(struct p4term *t)
{
    struct p4term_sale_info one;
    size_t n = 0;
    int64_t total = -1;

    CHECK_INT(p4term_pending(t, &one, 1, &n, &total), 0);
    return total;
}

#define CHECK_LINE(l, sku_, qty_, price_, ver_)                                        \
    do {                                                                               \
        CHECK_STR((l).sku, sku_);                                                      \
        CHECK_INT((l).qty, qty_);                                                      \
        CHECK_INT((l).price_minor, price_);                                            \
        CHECK_INT((l).ver, ver_);                                                      \
    } while (0)

static void test_lookups_by_time(struct p4term *t, int64_t now_ms)
{
    int64_t price = 0, ver = 0;
    struct p4t_price_state ps;

    /* Now: the window that started an hour ago (ver 5) wins over the base. */
    CHECK_INT(p4term_price_at(t, "coffee", now_ms, &price, &ver), 0);
    CHECK_INT(price, 799);
    CHECK_INT(ver, 5);
    /* Before it, the base; once the later window starts, it wins (no network involved). */
    CHECK_INT(p4term_price_at(t, "coffee", now_ms - 2 * 3600000, &price, &ver), 0);
    CHECK_INT(price, 949);
    CHECK_INT(p4term_price_at(t, "coffee", now_ms + 3600000 + 1, &price, &ver), 0);
    CHECK_INT(price, 1);
    CHECK_INT(ver, 6);
    CHECK_INT(p4term_price(t, "nothing", &price, &ver), P4TERM_ENOTFOUND);
    CHECK_INT(p4term_price_state(t, "coffee", &ps), 0);
    CHECK_INT(ps.n_windows, 2);
}

static void test_ring_promos(struct p4term *t)
{
    struct p4t_sale *s = calloc(1, sizeof(*s)), *out = calloc(1, sizeof(*out));
    char reason[P4T_REASON_MAX] = "";

    /* Scans of bread come as three lines and are merged to 7 before buy 3 pay 2. */
    add_line(s, "coffee", 2, P4TERM_PRICE_CACHED);
    add_line(s, "bread", 3, P4TERM_PRICE_CACHED);
    add_line(s, "milk", 1, P4TERM_PRICE_CACHED);
    add_line(s, "bread", 2, P4TERM_PRICE_CACHED);
    add_line(s, "bread", 2, P4TERM_PRICE_CACHED);
    add_line(s, "tea", 1, P4TERM_PRICE_CACHED);
    add_line(s, "jam", 1, 450); /* explicit: journaled as given, no promo */
    snprintf(s->tenders[0].type, sizeof(s->tenders[0].type), "card");
    s->n_tenders = 1;
    CHECK_INT(p4term_ring(t, s, out, reason, sizeof(reason)), 0);
    CHECK_STR(reason, "");
    CHECK_INT(out->n_lines, 6);
    /* 10 % off 799: 79.9 rounds to 80 off. */
    CHECK_LINE(out->lines[0], "coffee", 2, 719, 5);
    CHECK_LINE(out->lines[1], "bread", 5, 100, 2);
    CHECK_LINE(out->lines[2], "bread", 2, 0, 2);
    /* fixed_price 99 beats 119; p-soon (price 1) has not started yet. */
    CHECK_LINE(out->lines[3], "milk", 1, 99, 1);
    /* 50 % off 5: 2.5 off rounds half up to 3, charged 2. */
    CHECK_LINE(out->lines[4], "tea", 1, 2, 3);
    CHECK_LINE(out->lines[5], "jam", 1, 450, 0);
    CHECK_INT(out->total_minor, 2 * 719 + 5 * 100 + 99 + 2 + 450);
    CHECK_INT(out->tenders[0].amount_minor, out->total_minor);
    CHECK_STR(out->tenders[0].type, "card");
    /* Journaled as rung: the pending total is the charged total. */
    {
        struct p4term_sale_info info;

        CHECK_INT(p4term_sale_info(t, out->id, &info), 0);
        CHECK_INT(info.total_minor, out->total_minor);
    }
    free(out);
    free(s);
}

static void test_ring_refusals(struct p4term *t)
{
    struct p4t_sale *s = calloc(1, sizeof(*s));
    char reason[P4T_REASON_MAX] = "";
    int64_t before = pending_count(t);

    /* No price in effect: refused with the sku named, nothing journaled. */
    add_line(s, "coffee", 1, P4TERM_PRICE_CACHED);
    add_line(s, "caviar", 1, P4TERM_PRICE_CACHED);
    CHECK_INT(p4term_sale(t, s, NULL, NULL, reason, sizeof(reason)), P4TERM_ENOTFOUND);
    CHECK(strstr(reason, "caviar") != NULL);
    /* Merged scans over the per-line limit. */
    memset(s, 0, sizeof(*s));
    add_line(s, "milk", P4T_MAX_QTY, P4TERM_PRICE_CACHED);
    add_line(s, "milk", 1, P4TERM_PRICE_CACHED);
    CHECK_INT(p4term_sale(t, s, NULL, NULL, reason, sizeof(reason)), P4TERM_EINVAL);
    CHECK(strstr(reason, "qty") != NULL);
    /* A promo that splits lines cannot take a sale over 200 lines. */
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < P4T_MAX_LINES - 1; i++)
        add_line(s, "jam", 1, 450);
    add_line(s, "bread", 3, P4TERM_PRICE_CACHED);
    CHECK_INT(p4term_sale(t, s, NULL, NULL, reason, sizeof(reason)), P4TERM_EINVAL);
    CHECK(strstr(reason, "200") != NULL);
    CHECK_INT(pending_count(t), before);
    free(s);
}

/* An offline handle never reaches the gateway: the policy decides redemptions. */
static void test_loyalty_policy(const char *path)
{
    struct p4t_sale *s = calloc(1, sizeof(*s));
    char reason[P4T_REASON_MAX] = "", id[P4T_UUID_MAX + 1];
    struct p4term *t;
    int64_t before;

    t = open_offline(path, false);
    CHECK(!p4term_gateway_reachable(t));
    before = pending_count(t);
    add_line(s, "milk", 1, 119);
    snprintf(s->customer, sizeof(s->customer), "C-1");
    s->has_loyalty = true;
    s->loyalty_earn = 5;
    s->loyalty_redeem = 10;
    CHECK_INT(p4term_sale(t, s, id, NULL, reason, sizeof(reason)), P4TERM_EREFUSED);
    CHECK(strstr(reason, "unreachable") != NULL);
    CHECK_INT(pending_count(t), before);
    /* Earning alone is never refused. */
    s->loyalty_redeem = 0;
    CHECK_INT(p4term_sale(t, s, id, NULL, reason, sizeof(reason)), 0);
    CHECK_INT(pending_count(t), before + 1);
    p4term_close(t);

    t = open_offline(path, true);
    s->loyalty_redeem = 1000; /* beyond the cached 300: allowed offline under allow */
    CHECK_INT(p4term_sale(t, s, id, NULL, reason, sizeof(reason)), 0);
    CHECK_INT(pending_count(t), before + 2);
    p4term_close(t);
    free(s);
}

/* Without a hold reply from the gateway the hold field is not sent (a 1.0 gateway would
 * reject the sale); the sale itself goes through. */
static void test_hold_field_dropped(struct p4term *t)
{
    struct p4t_sale *s = calloc(1, sizeof(*s)), *out = calloc(1, sizeof(*out));
    char reason[P4T_REASON_MAX] = "";
    const char *skus[] = {"milk"};
    int64_t qtys[] = {1}, granted[1];
    char hold_id[P4T_OBJ_ID_MAX + 1];

    add_line(s, "milk", 1, 119);
    snprintf(s->hold, sizeof(s->hold), "h-1");
    CHECK_INT(p4term_ring(t, s, out, reason, sizeof(reason)), 0);
    CHECK_STR(out->hold, "");
    /* An offline handle cannot ask for holds. */
    CHECK_INT(p4term_hold(t, skus, qtys, 1, 5000, 100, hold_id, granted, NULL, reason,
                          sizeof(reason)),
              P4TERM_EUNAVAIL);
    free(out);
    free(s);
}

int main(void)
{
    char dir[64], path[128];
    struct p4term *t;
    int64_t now_ms = p4_now_ms();

    p4_log_set_level(P4_LOG_ERROR); /* refusals log expected warnings */
    tmpdir_make(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/ring.db", dir);
    seed_cache(path, now_ms);
    t = open_offline(path, false);
    if (t) {
        test_lookups_by_time(t, now_ms);
        test_ring_promos(t);
        test_ring_refusals(t);
        test_hold_field_dropped(t);
        p4term_close(t);
    }
    test_loyalty_policy(path);
    tmpdir_remove(dir);
    CHECK_DONE();
}
