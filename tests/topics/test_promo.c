/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of promo pricing and of the promo, customer and loyalty change-log values. */
#include "check.h"

#define T0 1795737600000LL /* 2026-11-27T00:00:00.000Z */

static int promo_value_rt(const char *buf, size_t len, char **text, char *reason, size_t rlen)
{
    struct p4t_promo p;
    int rc = p4t_promo_value_decode(buf, len, &p, reason, rlen);

    *text = NULL;
    return rc ? rc : p4t_promo_value_encode(&p, text);
}

static int customer_value_rt(const char *buf, size_t len, char **text, char *reason,
                             size_t rlen)
{
    struct p4t_customer c;
    int rc = p4t_customer_value_decode(buf, len, &c, reason, rlen);

    *text = NULL;
    return rc ? rc : p4t_customer_value_encode(&c, text);
}

static int loyalty_value_rt(const char *buf, size_t len, char **text, char *reason,
                            size_t rlen)
{
    int64_t balance;
    int rc = p4t_loyalty_value_decode(buf, len, &balance, reason, rlen);

    *text = NULL;
    return rc ? rc : p4t_loyalty_value_encode(balance, text);
}

static struct p4t_promo promo(const char *id, enum p4t_promo_type type, const char *sku,
                              int64_t a, int64_t b)
{
    struct p4t_promo p;

    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.sku, sizeof p.sku, "%s", sku);
    p.ver = 1;
    p.active = true;
    p.type = type;
    if (type == P4T_PROMO_PERCENT_OFF)
        p.percent = a;
    else if (type == P4T_PROMO_FIXED_PRICE)
        p.price_minor = a;
    else {
        p.n = a;
        p.m = b;
    }
    return p;
}

static struct p4t_line line(const char *sku, int64_t qty, int64_t price)
{
    struct p4t_line l;

    memset(&l, 0, sizeof l);
    snprintf(l.sku, sizeof l.sku, "%s", sku);
    l.qty = qty;
    l.price_minor = price;
    l.ver = 3;
    return l;
}

static struct p4t_charged_line out[64];
static size_t n_out;

/* Prices one line with PROMOS at T0; returns the status. */
static int price1(const struct p4t_promo *promos, size_t n, struct p4t_line l)
{
    return p4t_promo_apply(promos, n, T0, &l, 1, out, 64, &n_out);
}

#define ASSERT_PART(i, qty_, price_, promo_)                                                   \
    do {                                                                                       \
        ASSERT_INT_EQ(out[i].line.qty, qty_);                                                  \
        ASSERT_INT_EQ(out[i].line.price_minor, price_);                                        \
        ASSERT_STR_EQ(out[i].promo, promo_);                                                   \
    } while (0)

static void test_types(void)
{
    struct p4t_promo p[4];

    /* Buy 3 pay 2 on qty 3 at 100: 2 @ 100 + 1 @ 0. */
    p[0] = promo("3for2", P4T_PROMO_BUY_N_PAY_M, "bread", 3, 2);
    ASSERT_INT_EQ(price1(p, 1, line("bread", 3, 100)), 0);
    ASSERT_INT_EQ(n_out, 2);
    ASSERT_PART(0, 2, 100, "3for2");
    ASSERT_PART(1, 1, 0, "3for2");
    ASSERT_STR_EQ(out[1].line.sku, "bread");
    ASSERT_INT_EQ(out[1].line.ver, 3); /* the price version travels with every part */
    /* qty 7: two full groups, two units free. */
    ASSERT_INT_EQ(price1(p, 1, line("bread", 7, 100)), 0);
    ASSERT_INT_EQ(n_out, 2);
    ASSERT_PART(0, 5, 100, "3for2");
    ASSERT_PART(1, 2, 0, "3for2");
    /* qty 2: no full group, no promo. */
    ASSERT_INT_EQ(price1(p, 1, line("bread", 2, 100)), 0);
    ASSERT_INT_EQ(n_out, 1);
    ASSERT_PART(0, 2, 100, "");

    /* Percent off: the discount of one unit rounds half up. */
    p[0] = promo("ten", P4T_PROMO_PERCENT_OFF, "coffee", 10, 0);
    ASSERT_INT_EQ(price1(p, 1, line("coffee", 2, 899)), 0);
    ASSERT_PART(0, 2, 809, "ten"); /* 89.9 off -> 90 */
    p[0] = promo("half", P4T_PROMO_PERCENT_OFF, "coffee", 50, 0);
    ASSERT_INT_EQ(price1(p, 1, line("coffee", 1, 5)), 0);
    ASSERT_PART(0, 1, 2, "half"); /* 2.5 off -> 3 */
    p[0] = promo("third", P4T_PROMO_PERCENT_OFF, "coffee", 33, 0);
    ASSERT_INT_EQ(price1(p, 1, line("coffee", 1, 100)), 0);
    ASSERT_PART(0, 1, 67, "third");
    p[0] = promo("free", P4T_PROMO_PERCENT_OFF, "coffee", 100, 0);
    ASSERT_INT_EQ(price1(p, 1, line("coffee", 4, 250)), 0);
    ASSERT_PART(0, 4, 0, "free");
    /* 1% of 1 unit is 0.01, rounded to 0: no saving, no promo. */
    p[0] = promo("tiny", P4T_PROMO_PERCENT_OFF, "coffee", 1, 0);
    ASSERT_INT_EQ(price1(p, 1, line("coffee", 1, 1)), 0);
    ASSERT_PART(0, 1, 1, "");

    /* Fixed price, only when it is lower than the regular price. */
    p[0] = promo("milk99", P4T_PROMO_FIXED_PRICE, "milk", 99, 0);
    ASSERT_INT_EQ(price1(p, 1, line("milk", 3, 129)), 0);
    ASSERT_PART(0, 3, 99, "milk99");
    ASSERT_INT_EQ(price1(p, 1, line("milk", 3, 89)), 0);
    ASSERT_PART(0, 3, 89, "");

    /* Extremes of the contract stay exact. */
    p[0] = promo("one", P4T_PROMO_PERCENT_OFF, "gold", 1, 0);
    ASSERT_INT_EQ(price1(p, 1, line("gold", P4T_MAX_QTY, P4T_MAX_PRICE)), 0);
    ASSERT_PART(0, P4T_MAX_QTY, 99000000, "one");
    p[0] = promo("big", P4T_PROMO_BUY_N_PAY_M, "gold", P4T_MAX_QTY, 1);
    ASSERT_INT_EQ(price1(p, 1, line("gold", P4T_MAX_QTY, P4T_MAX_PRICE)), 0);
    ASSERT_PART(0, 1, P4T_MAX_PRICE, "big");
    ASSERT_PART(1, P4T_MAX_QTY - 1, 0, "big");
}

static void test_choice(void)
{
    struct p4t_promo p[4];
    struct p4t_line basket[3];
    size_t i;

    /* 3 x 1000: 10% off = 2700, fixed 950 = 2850, buy 3 pay 2 = 2000: the customer gets 2000. */
    p[0] = promo("pct", P4T_PROMO_PERCENT_OFF, "wine", 10, 0);
    p[1] = promo("fix", P4T_PROMO_FIXED_PRICE, "wine", 950, 0);
    p[2] = promo("b3p2", P4T_PROMO_BUY_N_PAY_M, "wine", 3, 2);
    ASSERT_INT_EQ(price1(p, 3, line("wine", 3, 1000)), 0);
    ASSERT_INT_EQ(n_out, 2);
    ASSERT_PART(0, 2, 1000, "b3p2");
    ASSERT_PART(1, 1, 0, "b3p2");
    /* qty 2: buy 3 pay 2 gives nothing; 10% off (1800) beats 950 (1900). */
    ASSERT_INT_EQ(price1(p, 3, line("wine", 2, 1000)), 0);
    ASSERT_PART(0, 2, 900, "pct");

    /* A tie goes to the smaller id, whatever the order promos come in. */
    p[0] = promo("b-promo", P4T_PROMO_FIXED_PRICE, "tea", 80, 0);
    p[1] = promo("a-promo", P4T_PROMO_PERCENT_OFF, "tea", 20, 0);
    ASSERT_INT_EQ(price1(p, 2, line("tea", 1, 100)), 0);
    ASSERT_PART(0, 1, 80, "a-promo");
    p[2] = p[0];
    p[0] = p[1];
    p[1] = p[2];
    ASSERT_INT_EQ(price1(p, 2, line("tea", 1, 100)), 0);
    ASSERT_PART(0, 1, 80, "a-promo");

    /* Inactive, not yet started and ended promos do not apply; from is inclusive, until
     * exclusive. */
    p[0] = promo("off", P4T_PROMO_PERCENT_OFF, "tea", 50, 0);
    p[0].active = false;
    ASSERT_INT_EQ(price1(p, 1, line("tea", 1, 100)), 0);
    ASSERT_PART(0, 1, 100, "");
    p[0].active = true;
    p[0].has_from = true;
    p[0].from_ms = T0 + 1;
    ASSERT_INT_EQ(price1(p, 1, line("tea", 1, 100)), 0);
    ASSERT_PART(0, 1, 100, "");
    p[0].from_ms = T0;
    ASSERT_INT_EQ(price1(p, 1, line("tea", 1, 100)), 0);
    ASSERT_PART(0, 1, 50, "off");
    p[0].has_until = true;
    p[0].until_ms = T0;
    p[0].from_ms = T0 - 5;
    ASSERT_INT_EQ(price1(p, 1, line("tea", 1, 100)), 0);
    ASSERT_PART(0, 1, 100, "");

    /* A basket: promos touch only their sku; a return line passes through as charged. */
    p[0] = promo("b3p2", P4T_PROMO_BUY_N_PAY_M, "bread", 3, 2);
    basket[0] = line("milk", 1, 129);
    basket[1] = line("bread", 3, 349);
    basket[2] = line("bread", -3, 349);
    ASSERT_INT_EQ(p4t_promo_apply(p, 1, T0, basket, 3, out, 64, &n_out), 0);
    ASSERT_INT_EQ(n_out, 4);
    ASSERT_STR_EQ(out[0].line.sku, "milk");
    ASSERT_PART(0, 1, 129, "");
    ASSERT_PART(1, 2, 349, "b3p2");
    ASSERT_PART(2, 1, 0, "b3p2");
    ASSERT_PART(3, -3, 349, "");

    /* Output room: 2 x lines always suffices; less may not. */
    ASSERT_INT_EQ(p4t_promo_apply(p, 1, T0, basket, 3, out, 3, &n_out), P4T_ETOOBIG);
    ASSERT_INT_EQ(p4t_promo_apply(p, 1, T0, basket, 3, out, 6, &n_out), 0);
    ASSERT_INT_EQ(p4t_promo_apply(p, 0, T0, basket, 3, out, 3, &n_out), 0); /* no promos */
    ASSERT_INT_EQ(n_out, 3);
    ASSERT_INT_EQ(p4t_promo_apply(NULL, 0, T0, basket, 0, out, 0, &n_out), 0);
    ASSERT_INT_EQ(n_out, 0);

    /* Out-of-contract input is refused rather than computed. */
    p[0] = promo("bad", P4T_PROMO_PERCENT_OFF, "tea", 0, 0);
    ASSERT_INT_EQ(price1(p, 1, line("tea", 1, 100)), P4T_EINVAL);
    p[0] = promo("bad", P4T_PROMO_BUY_N_PAY_M, "tea", 2, 2);
    ASSERT_INT_EQ(price1(p, 1, line("tea", 1, 100)), P4T_EINVAL);
    p[0] = promo("bad", P4T_PROMO_FIXED_PRICE, "tea", -1, 0);
    ASSERT_INT_EQ(price1(p, 1, line("tea", 1, 100)), P4T_EINVAL);
    p[0] = promo("ok", P4T_PROMO_FIXED_PRICE, "tea", 1, 0);
    p[0].type = (enum p4t_promo_type)5;
    ASSERT_INT_EQ(price1(p, 1, line("tea", 1, 100)), P4T_EINVAL);
    p[0] = promo("ok", P4T_PROMO_FIXED_PRICE, "tea", 1, 0);
    ASSERT_INT_EQ(price1(p, 1, line("tea", 1, P4T_MAX_PRICE + 1)), P4T_EINVAL);
    ASSERT_INT_EQ(price1(p, 1, line("tea", P4T_MAX_QTY + 1, 1)), P4T_EINVAL);
    ASSERT_INT_EQ(price1(p, 1, line("tea", 0, 1)), P4T_EINVAL);
    for (i = 0; i < 4; i++)
        memset(&p[i], 0, sizeof p[i]);
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random baskets: the customer never pays more than the regular price, every unit is charged
 * exactly once, and the result does not depend on the order of the promos. */
static void test_properties(void)
{
    struct p4t_promo p[6], rev[6];
    struct p4t_line lines[8];
    static struct p4t_charged_line a[16], b[16];
    static const char *const skus[] = {"a", "b", "c"};
    size_t na, nb, i, k, round;
    int bad = 0;

    for (round = 0; round < 2000; round++) {
        int64_t regular = 0, charged = 0, units_in = 0, units_out = 0;
        size_t n_promos = rnd() % 6, n_lines = 1 + rnd() % 8;
        for (i = 0; i < n_promos; i++) {
            char id[8];
            snprintf(id, sizeof id, "p%zu", rnd() % 4);
            switch (rnd() % 3) {
            case 0:
                p[i] = promo(id, P4T_PROMO_PERCENT_OFF, skus[rnd() % 3], 1 + rnd() % 100, 0);
                break;
            case 1:
                p[i] = promo(id, P4T_PROMO_FIXED_PRICE, skus[rnd() % 3], rnd() % 2000, 0);
                break;
            default: {
                int64_t n = 2 + (int64_t)(rnd() % 5);
                p[i] = promo(id, P4T_PROMO_BUY_N_PAY_M, skus[rnd() % 3], n,
                             1 + (int64_t)(rnd() % (uint64_t)(n - 1)));
            }
            }
            rev[n_promos - 1 - i] = p[i];
        }
        for (i = 0; i < n_lines; i++) {
            lines[i] = line(skus[rnd() % 3], 1 + (int64_t)(rnd() % 12), (int64_t)(rnd() % 1500));
            regular += lines[i].qty * lines[i].price_minor;
            units_in += lines[i].qty;
        }
        if (p4t_promo_apply(p, n_promos, T0, lines, n_lines, a, 16, &na) != 0 ||
            p4t_promo_apply(rev, n_promos, T0, lines, n_lines, b, 16, &nb) != 0) {
            bad++;
            continue;
        }
        for (k = 0; k < na; k++) {
            charged += a[k].line.qty * a[k].line.price_minor;
            units_out += a[k].line.qty;
            if (a[k].line.price_minor < 0 || a[k].line.qty <= 0)
                bad++;
        }
        if (charged > regular || units_in != units_out || na != nb ||
            memcmp(a, b, na * sizeof a[0]) != 0)
            bad++;
    }
    ASSERT_INT_EQ(bad, 0);
}

static void test_values(void)
{
    struct p4t_customer c;
    char *text = NULL;
    int64_t balance = 1;

    ASSERT_TRUE(run_cases("promo_value", promo_value_rt) >= 3);
    ASSERT_TRUE(run_cases("customer_value", customer_value_rt) >= 2);
    ASSERT_TRUE(run_cases("loyalty_value", loyalty_value_rt) >= 5);

    ASSERT_INT_EQ(p4t_loyalty_value_encode(-50, &text), 0);
    ASSERT_STR_EQ(text, "{\"balance\":-50}");
    free(text);
    ASSERT_INT_EQ(p4t_loyalty_value_encode(9007199254740992LL, &text), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_loyalty_value_decode("{\"balance\":7}", 13, &balance, NULL, 0), 0);
    ASSERT_INT_EQ(balance, 7);

    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "C-1");
    c.ver = 2;
    snprintf(c.name, sizeof c.name, "Ann");
    snprintf(c.tier, sizeof c.tier, "gold");
    ASSERT_INT_EQ(p4t_customer_value_encode(&c, &text), 0);
    ASSERT_STR_EQ(text, "{\"id\":\"C-1\",\"ver\":2,\"name\":\"Ann\",\"tier\":\"gold\"}");
    free(text);
    snprintf(c.name, sizeof c.name, "Ann\tB");
    ASSERT_INT_EQ(p4t_customer_value_encode(&c, &text), P4T_EINVAL);
    memset(c.name, 'a', sizeof c.name); /* unterminated */
    ASSERT_INT_EQ(p4t_customer_value_encode(&c, &text), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);

    {
        struct p4t_promo p = promo("p1", P4T_PROMO_BUY_N_PAY_M, "bread", 3, 2);
        p.price_minor = 5; /* not part of a buy_n_pay_m: never emitted */
        ASSERT_INT_EQ(p4t_promo_value_encode(&p, &text), 0);
        ASSERT_STR_EQ(text, "{\"id\":\"p1\",\"ver\":1,\"active\":true,\"type\":\"buy_n_pay_m\","
                            "\"sku\":\"bread\",\"n\":3,\"m\":2}");
        free(text);
        p.m = 3;
        ASSERT_INT_EQ(p4t_promo_value_encode(&p, &text), P4T_EINVAL);
        ASSERT_TRUE(text == NULL);
    }
}

int main(void)
{
    test_types();
    test_choice();
    test_properties();
    test_values();
    return check_done("test_promo");
}
