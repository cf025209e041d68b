/* SPDX-License-Identifier: Apache-2.0 */
/* Basket pricing from the cache (price in effect, promos) and the loyalty redeem policy. */
#include "term.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

/* Called with db_mu held. Prices the lines of S marked P4TERM_PRICE_CACHED at S->ts_ms from
 * the cache: such lines of one sku (qty > 0) are merged, each gets the price in effect and its
 * ver, and in a sale the active promos are applied (p4t_promo_apply), which may split a line.
 * *PRICED tells whether any line was priced here. Returns 0, P4TERM_ENOTFOUND (no price in
 * effect), P4TERM_EINVAL (too many lines, a merged qty over the limit) with REASON, or an
 * I/O error. */
int basket_price_lines(struct p4term *t, struct p4t_sale *s, bool *priced, char *reason,
                       size_t reason_len)
{
    struct p4t_line *in = NULL;
    struct p4t_promo *promos = NULL;
    bool cached[P4T_MAX_LINES];
    size_t n_in = 0, n_out = 0;
    int rc = 0;

    *priced = false;
    for (size_t i = 0; i < s->n_lines && i < P4T_MAX_LINES; i++)
        *priced = *priced || s->lines[i].price_minor == P4TERM_PRICE_CACHED;
    if (!*priced)
        return 0;
    if (s->n_lines > P4T_MAX_LINES) {
        snprintf(reason, reason_len, "lines: more than %d lines", P4T_MAX_LINES);
        return P4TERM_EINVAL;
    }
    in = malloc(s->n_lines * sizeof(*in));
    promos = malloc(CACHE_PROMOS_PER_SKU_MAX * sizeof(*promos));
    if (!in || !promos) {
        rc = P4TERM_ENOMEM;
        goto out;
    }
    /* The contract prices one line per sku and price: merge the scans of a sku first. */
    for (size_t i = 0; i < s->n_lines; i++) {
        const struct p4t_line *l = &s->lines[i];
        bool is_cached = l->price_minor == P4TERM_PRICE_CACHED;
        size_t k = 0;

        if (is_cached && l->qty > 0 && l->qty <= P4T_MAX_QTY) {
            for (k = 0; k < n_in; k++) {
                if (cached[k] && in[k].qty > 0 && strcmp(in[k].sku, l->sku) == 0)
                    break;
            }
        } else {
            k = n_in;
        }
        if (k < n_in) {
            if (in[k].qty + l->qty > P4T_MAX_QTY) {
                snprintf(reason, reason_len, "lines[%zu].qty: %s totals more than %d units",
                         i, l->sku, P4T_MAX_QTY);
                rc = P4TERM_EINVAL;
                goto out;
            }
            in[k].qty += l->qty;
            continue;
        }
        in[n_in] = *l;
        cached[n_in] = is_cached;
        n_in++;
    }
    for (size_t k = 0; k < n_in; k++) {
        struct p4t_charged_line charged[2];
        size_t n_promos = 0, n_charged = 0;

        if (!cached[k]) {
            s->lines[n_out++] = in[k];
            continue;
        }
        rc = cache_price(t->c, in[k].sku, s->ts_ms, &in[k].price_minor, &in[k].ver);
        if (rc == P4TERM_ENOTFOUND)
            snprintf(reason, reason_len, "lines[%zu].sku: no price for %s in effect in the "
                     "register's cache", k, in[k].sku);
        if (rc)
            goto out;
        if (s->kind == P4T_SALE && in[k].qty > 0) {
            rc = cache_promos_for(t->c, in[k].sku, promos, CACHE_PROMOS_PER_SKU_MAX,
                                  &n_promos);
            if (rc)
                goto out;
        }
        if (n_promos == 0) {
            charged[0].line = in[k];
            n_charged = 1;
        } else if (p4t_promo_apply(promos, n_promos, s->ts_ms, &in[k], 1, charged, 2,
                                   &n_charged) != 0) {
            /* Only decoded promos are cached and the line is in range: a bug, not input. */
            snprintf(reason, reason_len, "lines[%zu]: promo pricing failed", k);
            rc = P4TERM_EINVAL;
            goto out;
        }
        if (n_out + n_charged > P4T_MAX_LINES) {
            snprintf(reason, reason_len, "lines: more than %d lines after promo pricing",
                     P4T_MAX_LINES);
            rc = P4TERM_EINVAL;
            goto out;
        }
        for (size_t c = 0; c < n_charged; c++) {
            if (charged[c].promo[0])
                p4_debug("promo applied sku=%s promo=%s qty=%lld price=%lld",
                         charged[c].line.sku, charged[c].promo,
                         (long long)charged[c].line.qty, (long long)charged[c].line.price_minor);
            s->lines[n_out++] = charged[c].line;
        }
    }
    s->n_lines = n_out;
out:
    free(promos);
    free(in);
    return rc;
}

/* Called with db_mu held. The store's loyalty policy for a redemption (see p4term_sale):
 * REACHABLE is the gateway's reachability read just before. */
int basket_check_redeem(struct p4term *t, const struct p4t_sale *s, bool reachable,
                        char *reason, size_t reason_len)
{
    int64_t balance = 0, pending = 0;
    int rc;

    if (!s->has_loyalty || s->loyalty_redeem <= 0)
        return 0;
    if (!reachable) {
        if (t->offline_redeem_allow) {
            p4_info("loyalty redemption allowed with the gateway unreachable customer=%s "
                    "redeem=%lld", s->customer, (long long)s->loyalty_redeem);
            return 0;
        }
        snprintf(reason, reason_len, "loyalty.redeem: refused while the gateway is unreachable "
                 "(policy offline_loyalty_redeem = deny)");
        return P4TERM_EREFUSED;
    }
    if (!s->customer[0]) {
        snprintf(reason, reason_len, "loyalty.redeem: a redemption needs a customer");
        return P4TERM_EREFUSED;
    }
    rc = cache_loyalty(t->c, s->customer, &balance);
    if (rc && rc != P4TERM_ENOTFOUND)
        return rc;
    /* This register's own unacknowledged redemptions are not in the gateway's balance yet:
     * without them two quick sales could both spend the same points. (Right after an ack the
     * new balance may already count one: that errs on the side of refusing.) */
    rc = journal_pending_redeem(t->j, s->customer, &pending);
    if (rc)
        return rc;
    if (s->loyalty_redeem > balance - pending) {
        if (pending)
            snprintf(reason, reason_len, "loyalty.redeem: %lld points asked but %s has %lld "
                     "(%lld of %lld in pending sales)", (long long)s->loyalty_redeem,
                     s->customer, (long long)(balance - pending), (long long)pending,
                     (long long)balance);
        else
            snprintf(reason, reason_len, "loyalty.redeem: %lld points asked but %s has %lld",
                     (long long)s->loyalty_redeem, s->customer, (long long)balance);
        return P4TERM_EREFUSED;
    }
    return 0;
}
