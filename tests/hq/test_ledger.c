/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of HQ's posting rules: tax inside tax-inclusive prices, tenders, cost of goods,
 * returns and voids; every entry balances. */
#include "p4check.h"
#include "p4hq.h"

static struct p4hq_accounts acc = {.cash = "1000", .card = "1010", .loyalty = "2300",
                                   .other = "1190", .revenue = "4000", .tax = "2200",
                                   .cogs = "5000", .inventory = "1200"};

static int64_t amount_of(const struct posting *p, size_t n, const char *account)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(p[i].account, account) == 0)
            return p[i].amount;
    }
    return 0;
}

static int64_t sum_of(const struct posting *p, size_t n)
{
    int64_t s = 0;

    for (size_t i = 0; i < n; i++)
        s += p[i].amount;
    return s;
}

static void add_line(struct p4t_sale *s, const char *sku, int64_t qty, int64_t price)
{
    struct p4t_line *l = &s->lines[s->n_lines++];

    snprintf(l->sku, sizeof l->sku, "%s", sku);
    l->qty = qty;
    l->price_minor = price;
    s->total_minor += qty * price;
}

static void add_tender(struct p4t_sale *s, const char *type, int64_t amount)
{
    struct p4t_tender *t = &s->tenders[s->n_tenders++];

    snprintf(t->type, sizeof t->type, "%s", type);
    t->amount_minor = amount;
}

int main(void)
{
    static struct p4t_sale s;
    struct product_terms terms[4] = {
        {.tax_bp = 2000, .has_cost = true, .unit_cost_minor = 500},
        {.tax_bp = 750, .has_cost = false},
        {.tax_bp = 0, .has_cost = true, .unit_cost_minor = 10},
    };
    struct posting p[LEDGER_MAX_POSTINGS];
    size_t n;

    /* Rounding: half away from zero, symmetric for returns. */
    CHECK_INT(ledger_tax_included(1798, 2000), 300);  /* 299.67 */
    CHECK_INT(ledger_tax_included(129, 2000), 22);    /* 21.5 -> 22 */
    CHECK_INT(ledger_tax_included(-129, 2000), -22);
    CHECK_INT(ledger_tax_included(107, 700), 7);      /* 7.0 exactly */
    CHECK_INT(ledger_tax_included(1000, 0), 0);
    CHECK_INT(ledger_tax_included(10000000000000LL, 10000), 5000000000000LL);

    /* A card sale of two lines, one with a unit cost. */
    memset(&s, 0, sizeof s);
    s.kind = P4T_SALE;
    add_line(&s, "coffee", 2, 899);
    add_line(&s, "milk", 1, 129);
    add_tender(&s, "card", s.total_minor);
    CHECK_INT(ledger_post(&s, terms, &acc, p, &n), 0);
    CHECK_INT(sum_of(p, n), 0);
    CHECK_INT(amount_of(p, n, "1010"), 1927);
    CHECK_INT(amount_of(p, n, "2200"), -(300 + 9)); /* 129 * 7.5 / 107.5 = 9.0 */
    CHECK_INT(amount_of(p, n, "4000"), -(1927 - 309));
    CHECK_INT(amount_of(p, n, "5000"), 1000);
    CHECK_INT(amount_of(p, n, "1200"), -1000);

    /* Split tenders: cash, loyalty points and an unknown type (-> other). */
    memset(&s, 0, sizeof s);
    s.kind = P4T_SALE;
    add_line(&s, "coffee", 1, 1000);
    add_tender(&s, "cash", 500);
    add_tender(&s, "loyalty", 300);
    add_tender(&s, "gift", 200);
    CHECK_INT(ledger_post(&s, terms, &acc, p, &n), 0);
    CHECK_INT(sum_of(p, n), 0);
    CHECK_INT(amount_of(p, n, "1000"), 500);
    CHECK_INT(amount_of(p, n, "2300"), 300);
    CHECK_INT(amount_of(p, n, "1190"), 200);

    /* A return reverses revenue, tax and cost; a negative tender pays out. */
    memset(&s, 0, sizeof s);
    s.kind = P4T_RETURN;
    add_line(&s, "coffee", -1, 899);
    add_tender(&s, "cash", -899);
    CHECK_INT(ledger_post(&s, terms, &acc, p, &n), 0);
    CHECK_INT(sum_of(p, n), 0);
    CHECK_INT(amount_of(p, n, "1000"), -899);
    CHECK_INT(amount_of(p, n, "2200"), 150);       /* 149.83 -> 150 */
    CHECK_INT(amount_of(p, n, "4000"), 899 - 150);
    CHECK_INT(amount_of(p, n, "5000"), -500);
    CHECK_INT(amount_of(p, n, "1200"), 500);

    /* A void reverses the money but moves no stock, so no cost. */
    memset(&s, 0, sizeof s);
    s.kind = P4T_VOID;
    add_line(&s, "coffee", -2, 899);
    add_tender(&s, "card", -1798);
    CHECK_INT(ledger_post(&s, terms, &acc, p, &n), 0);
    CHECK_INT(sum_of(p, n), 0);
    CHECK_INT(amount_of(p, n, "5000"), 0);
    CHECK_INT(amount_of(p, n, "1200"), 0);
    CHECK_INT(amount_of(p, n, "1010"), -1798);

    /* No tenders: the total goes to `other`; a zero-priced line posts nothing for itself. */
    memset(&s, 0, sizeof s);
    s.kind = P4T_SALE;
    add_line(&s, "coffee", 1, 0);
    add_line(&s, "milk", 3, 100);
    CHECK_INT(ledger_post(&s, terms, &acc, p, &n), 0);
    CHECK_INT(sum_of(p, n), 0);
    CHECK_INT(amount_of(p, n, "1190"), 300);
    for (size_t i = 0; i < n; i++)
        CHECK(p[i].amount != 0);

    /* Tenders that do not match the lines cannot balance: refused, never posted. */
    memset(&s, 0, sizeof s);
    s.kind = P4T_SALE;
    add_line(&s, "milk", 1, 100);
    add_tender(&s, "cash", 99);
    CHECK_INT(ledger_post(&s, terms, &acc, p, &n), P4HQ_EINVAL);
    CHECK_DONE();
}
