/* SPDX-License-Identifier: Apache-2.0 */
/* Posting rules: a sale, return or void -> one balanced journal entry (amounts per account). */
#include "p4hq.h"

#include <string.h>

/* Rounding rule (documented in hq/README.md): the tax inside a tax-inclusive amount is
 * gross * rate / (1 + rate), rounded to the minor unit half away from zero; revenue is the rest,
 * so revenue + tax == gross exactly, line by line. |gross| <= 10^13 and bp <= 10^4, so the
 * product fits in 64 bits. */
int64_t ledger_tax_included(int64_t gross, int tax_bp)
{
    int64_t num, den = 10000 + tax_bp, q, r;

    if (tax_bp <= 0 || gross == 0)
        return 0;
    num = (gross < 0 ? -gross : gross) * tax_bp;
    q = num / den;
    r = num % den;
    if (2 * r >= den)
        q++;
    return gross < 0 ? -q : q;
}

static int add(struct posting *out, size_t *n, const char *account, int64_t amount)
{
    if (amount == 0)
        return P4HQ_OK;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(out[i].account, account) == 0) {
            out[i].amount += amount;
            return P4HQ_OK;
        }
    }
    if (*n == LEDGER_MAX_POSTINGS)
        return P4HQ_EINVAL;
    out[*n].account = account;
    out[*n].amount = amount;
    (*n)++;
    return P4HQ_OK;
}

static const char *tender_account(const struct p4hq_accounts *acc, const char *type)
{
    if (strcmp(type, "cash") == 0)
        return acc->cash;
    if (strcmp(type, "card") == 0)
        return acc->card;
    if (strcmp(type, "loyalty") == 0)
        return acc->loyalty;
    return acc->other;
}

/* Signed amounts: tenders are debits (a return's negative tender a credit); revenue and tax
 * are credits of each line's gross (a negative line a debit); cost of goods moves with the
 * stock: a sale or return line with a known unit cost debits COGS and credits inventory by
 * qty * cost (reversed for negative qty). A void moves no stock, so it posts no cost. */
int ledger_post(const struct p4t_sale *sale, const struct product_terms *terms,
                const struct p4hq_accounts *acc, struct posting *out, size_t *n)
{
    int64_t sum = 0;
    int rc = P4HQ_OK;

    *n = 0;
    if (sale->n_tenders == 0) {
        rc = add(out, n, acc->other, sale->total_minor);
    } else {
        for (size_t i = 0; i < sale->n_tenders && !rc; i++)
            rc = add(out, n, tender_account(acc, sale->tenders[i].type),
                     sale->tenders[i].amount_minor);
    }
    for (size_t i = 0; i < sale->n_lines && !rc; i++) {
        const struct p4t_line *l = &sale->lines[i];
        int64_t gross = l->qty * l->price_minor;
        int64_t tax = ledger_tax_included(gross, terms[i].tax_bp);

        rc = add(out, n, acc->revenue, -(gross - tax));
        if (!rc)
            rc = add(out, n, acc->tax, -tax);
        if (!rc && sale->kind != P4T_VOID && terms[i].has_cost) {
            int64_t cost = l->qty * terms[i].unit_cost_minor;
            rc = add(out, n, acc->cogs, cost);
            if (!rc)
                rc = add(out, n, acc->inventory, -cost);
        }
    }
    if (rc)
        return rc;
    /* Drop accounts that netted to zero (same account for two roles), then check. */
    for (size_t i = 0; i < *n;) {
        if (out[i].amount == 0) {
            memmove(&out[i], &out[i + 1], (*n - i - 1) * sizeof *out);
            (*n)--;
            continue;
        }
        sum += out[i].amount;
        i++;
    }
    return sum == 0 ? P4HQ_OK : P4HQ_EINVAL;
}
