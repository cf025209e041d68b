/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the revision 1.1 downlink messages (HQ -> gateway) and the resync request. */
#include "check.h"

static int down_rt(enum p4t_down_kind kind, const char *buf, size_t len, char **text,
                   char *reason, size_t reason_len)
{
    struct p4t_down d;
    int rc = p4t_down_decode(kind, buf, len, &d, reason, reason_len);

    *text = NULL;
    if (rc)
        return rc;
    rc = p4t_down_encode(&d, text);
    p4t_down_cleanup(&d);
    return rc;
}

#define DOWN_RT(name, kind)                                                                    \
    static int name(const char *buf, size_t len, char **text, char *reason, size_t rlen)       \
    {                                                                                          \
        return down_rt(kind, buf, len, text, reason, rlen);                                    \
    }
DOWN_RT(price_rt, P4T_D_PRICE)
DOWN_RT(promo_rt, P4T_D_PROMO)
DOWN_RT(customer_rt, P4T_D_CUSTOMER)
DOWN_RT(loyalty_rt, P4T_D_LOYALTY)
DOWN_RT(stock_rt, P4T_D_STOCK)

static int resync_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    struct p4t_resync r;
    int rc = p4t_resync_decode(buf, len, &r, reason, reason_len);

    *text = NULL;
    if (rc)
        return rc;
    return p4t_resync_encode(&r, text);
}

static int64_t ms_of(const char *ts)
{
    int64_t ms = -1;

    p4t_ts_parse(ts, &ms);
    return ms;
}

static void test_fixtures(void)
{
    ASSERT_TRUE(run_cases("down_price", price_rt) >= 20);
    ASSERT_TRUE(run_cases("down_promo", promo_rt) >= 20);
    ASSERT_TRUE(run_cases("down_customer", customer_rt) >= 12);
    ASSERT_TRUE(run_cases("down_loyalty", loyalty_rt) >= 14);
    ASSERT_TRUE(run_cases("down_stock", stock_rt) >= 14);
    ASSERT_TRUE(run_cases("resync", resync_rt) >= 10);
}

/* The decoded structs carry what the payloads say. */
static void test_values(void)
{
    struct p4t_down d;
    char reason[P4T_REASON_MAX], *buf;
    size_t len;

    buf = fixture_read("down_price.json", &len);
    ASSERT_INT_EQ(p4t_down_decode(P4T_D_PRICE, buf, len, &d, reason, sizeof reason), 0);
    ASSERT_INT_EQ(d.kind, P4T_D_PRICE);
    ASSERT_INT_EQ(d.n_items, 3);
    ASSERT_STR_EQ(d.price[0].sku, "coffee-250g");
    ASSERT_INT_EQ(d.price[0].price_minor, 949);
    ASSERT_INT_EQ(d.price[0].ver, 4);
    ASSERT_TRUE(!d.price[0].has_from && !d.price[0].has_until);
    ASSERT_TRUE(d.price[1].has_from && d.price[1].has_until);
    ASSERT_INT_EQ(d.price[1].from_ms, ms_of("2026-11-27T00:00:00.000Z"));
    ASSERT_INT_EQ(d.price[1].until_ms, ms_of("2026-11-30T00:00:00.000Z"));
    ASSERT_TRUE(!d.price[2].has_from && d.price[2].has_until);
    p4t_down_cleanup(&d);
    p4t_down_cleanup(&d); /* idempotent */
    free(buf);

    buf = fixture_read("down_promo.json", &len);
    ASSERT_INT_EQ(p4t_down_decode(P4T_D_PROMO, buf, len, &d, reason, sizeof reason), 0);
    ASSERT_INT_EQ(d.promo[0].type, P4T_PROMO_PERCENT_OFF);
    ASSERT_INT_EQ(d.promo[0].percent, 10);
    ASSERT_TRUE(d.promo[0].active);
    ASSERT_INT_EQ(d.promo[1].type, P4T_PROMO_FIXED_PRICE);
    ASSERT_INT_EQ(d.promo[1].price_minor, 99);
    ASSERT_INT_EQ(d.promo[2].type, P4T_PROMO_BUY_N_PAY_M);
    ASSERT_INT_EQ(d.promo[2].n, 3);
    ASSERT_INT_EQ(d.promo[2].m, 2);
    ASSERT_TRUE(!d.promo[2].active);
    p4t_down_cleanup(&d);
    free(buf);

    buf = fixture_read("down_customer.json", &len);
    ASSERT_INT_EQ(p4t_down_decode(P4T_D_CUSTOMER, buf, len, &d, reason, sizeof reason), 0);
    ASSERT_STR_EQ(d.customer[0].name, "Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m");
    ASSERT_STR_EQ(d.customer[0].tier, "gold");
    ASSERT_INT_EQ(strlen(d.customer[1].name), P4T_NAME_MAX);
    p4t_down_cleanup(&d);
    free(buf);

    buf = fixture_read("down_loyalty.json", &len);
    ASSERT_INT_EQ(p4t_down_decode(P4T_D_LOYALTY, buf, len, &d, reason, sizeof reason), 0);
    ASSERT_TRUE(!d.loyalty[0].is_balance);
    ASSERT_STR_EQ(d.loyalty[0].entry, "hq-991");
    ASSERT_INT_EQ(d.loyalty[0].points, 250);
    ASSERT_STR_EQ(d.loyalty[0].reason, "welcome bonus");
    ASSERT_TRUE(d.loyalty[0].has_at);
    ASSERT_TRUE(!d.loyalty[1].has_at);
    ASSERT_INT_EQ(d.loyalty[1].points, -100);
    ASSERT_TRUE(d.loyalty[2].is_balance);
    ASSERT_INT_EQ(d.loyalty[2].balance, 4200);
    ASSERT_INT_EQ(d.loyalty[2].ver, 12);
    ASSERT_INT_EQ(d.loyalty[2].as_of_ms, ms_of("2026-11-27T10:00:00.000Z"));
    p4t_down_cleanup(&d);
    free(buf);

    buf = fixture_read("down_stock.json", &len);
    ASSERT_INT_EQ(p4t_down_decode(P4T_D_STOCK, buf, len, &d, reason, sizeof reason), 0);
    ASSERT_INT_EQ(d.n_items, 4);
    ASSERT_INT_EQ(d.stock[0].type, P4T_STOCK_RECEIVE);
    ASSERT_INT_EQ(d.stock[0].delta, 48);
    ASSERT_INT_EQ(d.stock[1].delta, -12);
    ASSERT_INT_EQ(d.stock[3].type, P4T_STOCK_COUNT);
    ASSERT_INT_EQ(d.stock[3].on_hand, 0);
    ASSERT_INT_EQ(d.stock[3].occurred_at_ms, ms_of("2026-11-27T08:30:00.000Z"));
    p4t_down_cleanup(&d);
    free(buf);

    /* A message is decoded against the kind of its topic: a price payload is no stock. */
    buf = fixture_read("down_price.json", &len);
    ASSERT_INT_EQ(p4t_down_decode(P4T_D_STOCK, buf, len, &d, reason, sizeof reason),
                  P4T_EINVAL);
    ASSERT_STR_EQ(reason, "items[0].price: unknown field");
    ASSERT_TRUE(d.items == NULL && d.n_items == 0);
    ASSERT_INT_EQ(p4t_down_decode((enum p4t_down_kind)9, buf, len, &d, reason, sizeof reason),
                  P4T_EINVAL);
    free(buf);

    {
        struct p4t_resync r;
        buf = fixture_read("resync.json", &len);
        ASSERT_INT_EQ(p4t_resync_decode(buf, len, &r, reason, sizeof reason), 0);
        ASSERT_STR_EQ(r.store, "s001");
        ASSERT_STR_EQ(r.req_id, "gw-s001-3");
        ASSERT_INT_EQ(r.since_price, 120);
        ASSERT_INT_EQ(r.since_promo, 0);
        ASSERT_INT_EQ(r.since_customer, 45);
        ASSERT_INT_EQ(r.since_loyalty, 9);
        free(buf);
    }
}

static void test_names(void)
{
    enum p4t_down_kind k;
    char ts[P4T_TS_LEN];

    ASSERT_STR_EQ(p4t_down_kind_name(P4T_D_LOYALTY), "loyalty");
    ASSERT_TRUE(p4t_down_kind_name((enum p4t_down_kind)5) == NULL);
    ASSERT_INT_EQ(p4t_down_kind_parse("stock", &k), 0);
    ASSERT_INT_EQ(k, P4T_D_STOCK);
    ASSERT_INT_EQ(p4t_down_kind_parse("prices", &k), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_down_kind_parse(NULL, &k), P4T_EINVAL);
    ASSERT_STR_EQ(p4t_stock_type_name(P4T_STOCK_COUNT), "count");
    ASSERT_TRUE(p4t_stock_type_name((enum p4t_stock_type)4) == NULL);
    ASSERT_STR_EQ(p4t_promo_type_name(P4T_PROMO_BUY_N_PAY_M), "buy_n_pay_m");
    ASSERT_TRUE(p4t_promo_type_name((enum p4t_promo_type)3) == NULL);

    ASSERT_INT_EQ(p4t_ts_format(1795780800123LL, ts), 0);
    ASSERT_STR_EQ(ts, "2026-11-27T12:00:00.123Z");
    ASSERT_INT_EQ(p4t_ts_format(0, ts), 0);
    ASSERT_STR_EQ(ts, "1970-01-01T00:00:00.000Z");
    ASSERT_INT_EQ(p4t_ts_format(253402300799999LL, ts), 0);
    ASSERT_STR_EQ(ts, "9999-12-31T23:59:59.999Z");
    ASSERT_INT_EQ(p4t_ts_format(253402300800000LL, ts), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_format(-1, ts), P4T_EINVAL);
    ASSERT_STR_EQ(ts, "");
}

/* HQ-side use: build a message from structs; the encoder refuses what the contract forbids. */
static void test_encode(void)
{
    struct p4t_down d;
    struct p4t_stock_item st[2];
    struct p4t_loyalty_item ly;
    struct p4t_price_item *many;
    char *text = NULL;
    size_t i;

    memset(&d, 0, sizeof d);
    memset(st, 0, sizeof st);
    d.kind = P4T_D_STOCK;
    d.n_items = 2;
    d.stock = st;
    snprintf(st[0].id, sizeof st[0].id, "cnt-9");
    snprintf(st[0].sku, sizeof st[0].sku, "eggs");
    st[0].type = P4T_STOCK_COUNT;
    st[0].on_hand = 30;
    st[0].delta = 99; /* ignored for a count: not part of its form */
    st[0].occurred_at_ms = 1795780800000LL;
    snprintf(st[1].id, sizeof st[1].id, "rcv-9");
    snprintf(st[1].sku, sizeof st[1].sku, "eggs");
    st[1].type = P4T_STOCK_RECEIVE;
    st[1].delta = 12;
    st[1].occurred_at_ms = 1795780800001LL;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), 0);
    ASSERT_STR_EQ(text, "{\"items\":[{\"id\":\"cnt-9\",\"sku\":\"eggs\",\"type\":\"count\","
                        "\"on_hand\":30,\"occurred_at\":\"2026-11-27T12:00:00.000Z\"},"
                        "{\"id\":\"rcv-9\",\"sku\":\"eggs\",\"type\":\"receive\",\"delta\":12,"
                        "\"occurred_at\":\"2026-11-27T12:00:00.001Z\"}]}");
    free(text);
    st[1].delta = -12;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), P4T_EINVAL);
    st[1].delta = 12;
    st[1].type = (enum p4t_stock_type)7;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), P4T_EINVAL);
    st[1].type = P4T_STOCK_RECEIVE;
    st[1].occurred_at_ms = -5;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), P4T_EINVAL);
    st[1].occurred_at_ms = 0;
    memset(st[1].sku, 'x', sizeof st[1].sku); /* unterminated */
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), P4T_EINVAL);
    d.n_items = 0;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), P4T_EINVAL);
    d.kind = (enum p4t_down_kind)8;
    d.n_items = 1;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);

    /* A loyalty balance and a ledger entry. */
    memset(&ly, 0, sizeof ly);
    d.kind = P4T_D_LOYALTY;
    d.loyalty = &ly;
    snprintf(ly.customer, sizeof ly.customer, "C-7");
    snprintf(ly.entry, sizeof ly.entry, "e-1");
    ly.points = -40;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), 0);
    ASSERT_STR_EQ(text, "{\"items\":[{\"customer\":\"C-7\",\"entry\":\"e-1\",\"points\":-40}]}");
    free(text);
    ly.points = 0;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), P4T_EINVAL);
    ly.is_balance = true;
    ly.balance = 10;
    ly.ver = 1;
    ly.as_of_ms = 1795780800000LL;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), 0);
    ASSERT_STR_EQ(text, "{\"items\":[{\"customer\":\"C-7\",\"balance\":10,\"ver\":1,"
                        "\"as_of\":\"2026-11-27T12:00:00.000Z\"}]}");
    free(text);

    /* 500 items is the most one message carries. */
    many = calloc(P4T_DOWN_MAX_ITEMS + 1, sizeof *many);
    for (i = 0; i <= P4T_DOWN_MAX_ITEMS; i++) {
        snprintf(many[i].sku, sizeof many[i].sku, "sku-%zu", i);
        many[i].price_minor = (int64_t)i;
        many[i].ver = 1 + (int64_t)i;
    }
    d.kind = P4T_D_PRICE;
    d.price = many;
    d.n_items = P4T_DOWN_MAX_ITEMS;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), 0);
    {
        struct p4t_down back;
        ASSERT_INT_EQ(p4t_down_decode(P4T_D_PRICE, text, strlen(text), &back, NULL, 0), 0);
        ASSERT_INT_EQ(back.n_items, P4T_DOWN_MAX_ITEMS);
        ASSERT_INT_EQ(back.price[499].ver, 500);
        p4t_down_cleanup(&back);
    }
    free(text);
    d.n_items = P4T_DOWN_MAX_ITEMS + 1;
    ASSERT_INT_EQ(p4t_down_encode(&d, &text), P4T_EINVAL);
    free(many);

    /* Resync requests as the gateway builds them. */
    {
        struct p4t_resync r = {.store = "s001", .req_id = "gw-1", .since_loyalty = 3};
        ASSERT_INT_EQ(p4t_resync_encode(&r, &text), 0);
        ASSERT_STR_EQ(text, "{\"store\":\"s001\",\"req_id\":\"gw-1\",\"since\":{\"price\":0,"
                            "\"promo\":0,\"customer\":0,\"loyalty\":3}}");
        free(text);
        r.since_promo = -1;
        ASSERT_INT_EQ(p4t_resync_encode(&r, &text), P4T_EINVAL);
        r.since_promo = 0;
        snprintf(r.store, sizeof r.store, "_all");
        ASSERT_INT_EQ(p4t_resync_encode(&r, &text), P4T_EINVAL);
        ASSERT_TRUE(text == NULL);
    }
}

/* Over 1 MiB is refused before parsing; just under is parsed. */
static void test_too_big(void)
{
    struct p4t_down d;
    char reason[P4T_REASON_MAX];
    size_t len = P4T_MAX_DOWN_PAYLOAD + 1;
    char *buf = malloc(len);

    memset(buf, ' ', len);
    buf[0] = '{';
    buf[len - 1] = '}';
    ASSERT_INT_EQ(p4t_down_decode(P4T_D_PRICE, buf, len, &d, reason, sizeof reason),
                  P4T_ETOOBIG);
    ASSERT_CONTAINS(reason, "over the limit of 1048576");
    buf[len - 2] = '}';
    ASSERT_INT_EQ(p4t_down_decode(P4T_D_PRICE, buf, len - 1, &d, reason, sizeof reason),
                  P4T_EINVAL);
    ASSERT_STR_EQ(reason, "items: missing");
    free(buf);
}

int main(void)
{
    test_fixtures();
    test_values();
    test_names();
    test_encode();
    test_too_big();
    return check_done("test_down");
}
