/* SPDX-License-Identifier: Apache-2.0 */
/* Promotions: the promo object (downlink item and change-log value) and basket pricing. */
#include <inttypes.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const type_names[] = {"percent_off", "fixed_price", "buy_n_pay_m"};
#define N_TYPES (sizeof type_names / sizeof type_names[0])

static const char *const promo_keys[] = {"id", "ver",   "active", "type", "sku",  "percent",
                                         "price", "n",  "m",      "from", "until", NULL};

const char *p4t_promo_type_name(enum p4t_promo_type type)
{
    if ((unsigned)type >= N_TYPES)
        return NULL;
    return type_names[type];
}

/* Rejects KEY when present: a field that belongs to another promo type would be ignored, and
 * a sender that sets it has something else in mind. */
static int absent(struct jx *j, const cJSON *obj, const char *key, const char *type)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        return jx_fail(j, key, "not allowed for type %s", type);
    return P4T_OK;
}

int promo_read(struct jx *j, const cJSON *obj, struct p4t_promo *out)
{
    int type = 0, rc;
    const char *tn;

    memset(out, 0, sizeof *out);
    rc = jx_keys(j, obj, promo_keys);
    if (!rc)
        rc = jx_str(j, obj, "id", true, 1, JX_PRINTABLE, out->id, sizeof out->id);
    if (!rc)
        rc = jx_int(j, obj, "ver", true, 1, JX_INT_MAX, 0, &out->ver, NULL);
    if (!rc)
        rc = jx_bool(j, obj, "active", &out->active);
    if (!rc)
        rc = jx_enum(j, obj, "type", type_names, N_TYPES,
                     "must be percent_off, fixed_price or buy_n_pay_m", &type);
    if (!rc)
        rc = jx_str(j, obj, "sku", true, 1, JX_PRINTABLE, out->sku, sizeof out->sku);
    if (rc)
        return rc;
    out->type = (enum p4t_promo_type)type;
    tn = type_names[type];
    switch (out->type) {
    case P4T_PROMO_PERCENT_OFF:
        rc = jx_int(j, obj, "percent", true, 1, 100, 0, &out->percent, NULL);
        if (!rc)
            rc = absent(j, obj, "price", tn);
        if (!rc)
            rc = absent(j, obj, "n", tn);
        if (!rc)
            rc = absent(j, obj, "m", tn);
        break;
    case P4T_PROMO_FIXED_PRICE:
        rc = absent(j, obj, "percent", tn);
        if (!rc)
            rc = jx_int(j, obj, "price", true, 0, P4T_MAX_PRICE, 0, &out->price_minor, NULL);
        if (!rc)
            rc = absent(j, obj, "n", tn);
        if (!rc)
            rc = absent(j, obj, "m", tn);
        break;
    case P4T_PROMO_BUY_N_PAY_M:
        rc = absent(j, obj, "percent", tn);
        if (!rc)
            rc = absent(j, obj, "price", tn);
        if (!rc)
            rc = jx_int(j, obj, "n", true, 2, P4T_MAX_QTY, 0, &out->n, NULL);
        if (!rc)
            rc = jx_int(j, obj, "m", true, 1, P4T_MAX_QTY, 0, &out->m, NULL);
        if (!rc && out->m >= out->n)
            rc = jx_fail(j, "m", "must be less than n (%" PRId64 ")", out->n);
        break;
    }
    if (!rc)
        rc = jx_ts(j, obj, "from", false, &out->from_ms, &out->has_from);
    if (!rc)
        rc = jx_ts(j, obj, "until", false, &out->until_ms, &out->has_until);
    if (!rc && out->has_from && out->has_until && out->until_ms <= out->from_ms)
        rc = jx_fail(j, "until", "must be after from");
    return rc;
}

int promo_build(const struct p4t_promo *p, cJSON **out)
{
    const char *type = p4t_promo_type_name(p->type);
    cJSON *root;
    int rc;

    *out = NULL;
    if (!type)
        return P4T_EINVAL;
    root = cJSON_CreateObject();
    if (!root)
        return P4T_ENOMEM;
    rc = jx_add_str(root, "id", p->id, sizeof p->id);
    if (!rc)
        rc = jx_add_int(root, "ver", p->ver);
    if (!rc && !cJSON_AddBoolToObject(root, "active", p->active))
        rc = P4T_ENOMEM;
    if (!rc)
        rc = jx_add_str(root, "type", type, P4T_KIND_MAX + 1);
    if (!rc)
        rc = jx_add_str(root, "sku", p->sku, sizeof p->sku);
    if (!rc && p->type == P4T_PROMO_PERCENT_OFF)
        rc = jx_add_int(root, "percent", p->percent);
    if (!rc && p->type == P4T_PROMO_FIXED_PRICE)
        rc = jx_add_int(root, "price", p->price_minor);
    if (!rc && p->type == P4T_PROMO_BUY_N_PAY_M) {
        rc = jx_add_int(root, "n", p->n);
        if (!rc)
            rc = jx_add_int(root, "m", p->m);
    }
    if (!rc && p->has_from)
        rc = jx_add_ts(root, "from", p->from_ms);
    if (!rc && p->has_until)
        rc = jx_add_ts(root, "until", p->until_ms);
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return P4T_OK;
}

static int read_value(struct jx *j, const cJSON *obj, void *arg)
{
    return promo_read(j, obj, arg);
}

int p4t_promo_value_decode(const char *buf, size_t len, struct p4t_promo *out, char *reason,
                           size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_value, out, sizeof *out, reason,
                     reason_len);
}

static int check_value(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_promo_value_decode(text, len, scratch, NULL, 0);
}

int p4t_promo_value_encode(const struct p4t_promo *p, char **out)
{
    cJSON *root = NULL;
    int rc = promo_build(p, &root);

    return jx_encode(root, rc, check_value, sizeof(struct p4t_promo), NULL, out);
}

/* ---- basket pricing ---- */

/* True when P is within the contract, so the arithmetic below stays far from int64 limits. */
static bool promo_in_range(const struct p4t_promo *p)
{
    if (jx_strnlen(p->id, sizeof p->id) == sizeof p->id ||
        jx_strnlen(p->sku, sizeof p->sku) == sizeof p->sku)
        return false;
    switch (p->type) {
    case P4T_PROMO_PERCENT_OFF:
        return p->percent >= 1 && p->percent <= 100;
    case P4T_PROMO_FIXED_PRICE:
        return p->price_minor >= 0 && p->price_minor <= P4T_MAX_PRICE;
    case P4T_PROMO_BUY_N_PAY_M:
        return p->n >= 2 && p->n <= P4T_MAX_QTY && p->m >= 1 && p->m < p->n;
    }
    return false;
}

static bool promo_live(const struct p4t_promo *p, int64_t at_ms)
{
    return p->active && (!p->has_from || p->from_ms <= at_ms) &&
           (!p->has_until || at_ms < p->until_ms);
}

/* What line L costs under promo P: at most two (qty, unit price) parts and their total.
 * Inputs are in range (qty <= 1e5, price <= 1e8), so every product is below 1e13. */
struct priced {
    int64_t qty[2], unit[2];
    int n_parts;
    int64_t total;
};

static void price_line(const struct p4t_line *l, const struct p4t_promo *p, struct priced *out)
{
    int64_t discount, free_units;

    out->n_parts = 1;
    out->qty[0] = l->qty;
    out->unit[0] = l->price_minor;
    if (p) {
        switch (p->type) {
        case P4T_PROMO_PERCENT_OFF:
            /* Half up on the discount of one unit: 5 at 50% off is 2.5 off, charged 2. */
            discount = (l->price_minor * p->percent + 50) / 100;
            out->unit[0] = l->price_minor - discount;
            break;
        case P4T_PROMO_FIXED_PRICE:
            out->unit[0] = p->price_minor;
            break;
        case P4T_PROMO_BUY_N_PAY_M:
            free_units = (l->qty / p->n) * (p->n - p->m);
            if (free_units > 0) {
                out->qty[0] = l->qty - free_units;
                out->qty[1] = free_units;
                out->unit[1] = 0;
                out->n_parts = 2;
            }
            break;
        }
    }
    out->total = out->qty[0] * out->unit[0];
    if (out->n_parts == 2)
        out->total += out->qty[1] * out->unit[1];
}

/* Order of two promos that price a line the same: smaller id, then (for a caller that passed
 * two versions of one id) the newer ver, then the type; equal on all three, they charge the
 * same parts, so the choice cannot show. */
static bool promo_before(const struct p4t_promo *a, const struct p4t_promo *b)
{
    int c = strncmp(a->id, b->id, sizeof a->id);

    if (c != 0)
        return c < 0;
    if (a->ver != b->ver)
        return a->ver > b->ver;
    return a->type < b->type;
}

int p4t_promo_apply(const struct p4t_promo *promos, size_t n_promos, int64_t at_ms,
                    const struct p4t_line *lines, size_t n_lines, struct p4t_charged_line *out,
                    size_t out_cap, size_t *n_out)
{
    size_t i, k, n = 0;
    int part;

    *n_out = 0;
    if ((n_promos && !promos) || (n_lines && !lines))
        return P4T_EINVAL;
    for (k = 0; k < n_promos; k++) {
        if (!promo_in_range(&promos[k]))
            return P4T_EINVAL;
    }
    for (i = 0; i < n_lines; i++) {
        const struct p4t_line *l = &lines[i];
        const struct p4t_promo *best = NULL;
        struct priced regular, cand, chosen;

        if (l->qty == 0 || l->qty < -P4T_MAX_QTY || l->qty > P4T_MAX_QTY ||
            l->price_minor < 0 || l->price_minor > P4T_MAX_PRICE ||
            jx_strnlen(l->sku, sizeof l->sku) == sizeof l->sku)
            return P4T_EINVAL;
        price_line(l, NULL, &regular);
        chosen = regular;
        /* Returns and voids refund what was charged: they are never re-priced here. */
        for (k = 0; l->qty > 0 && k < n_promos; k++) {
            const struct p4t_promo *p = &promos[k];
            if (!promo_live(p, at_ms) || strncmp(p->sku, l->sku, sizeof l->sku) != 0)
                continue;
            price_line(l, p, &cand);
            if (cand.total >= regular.total)
                continue;
            /* Lowest total wins; the smaller id breaks a tie, whatever the input order. */
            if (!best || cand.total < chosen.total ||
                (cand.total == chosen.total && promo_before(p, best))) {
                best = p;
                chosen = cand;
            }
        }
        for (part = 0; part < chosen.n_parts; part++) {
            struct p4t_charged_line *c;
            if (n == out_cap)
                return P4T_ETOOBIG;
            c = &out[n++];
            memset(c, 0, sizeof *c);
            c->line = *l;
            c->line.qty = chosen.qty[part];
            c->line.price_minor = chosen.unit[part];
            if (best)
                memcpy(c->promo, best->id, jx_strnlen(best->id, sizeof best->id));
        }
        *n_out = n;
    }
    *n_out = n;
    return P4T_OK;
}
