/* SPDX-License-Identifier: Apache-2.0 */
/* Downlink messages (HQ -> gateway): price, promo, customer, loyalty and stock items. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const kind_names[] = {"price", "promo", "customer", "loyalty", "stock"};
#define N_KINDS (sizeof kind_names / sizeof kind_names[0])

static const char *const stock_type_names[] = {"receive", "transfer", "adjust", "count"};
#define N_STOCK_TYPES (sizeof stock_type_names / sizeof stock_type_names[0])

static const char *const msg_keys[] = {"items", NULL};
static const char *const price_keys[] = {"sku", "price", "ver", "effective_from",
                                         "effective_until", NULL};
static const char *const customer_keys[] = {"id", "ver", "name", "tier", NULL};
static const char *const ledger_keys[] = {"customer", "entry", "points", "reason", "at", NULL};
static const char *const balance_keys[] = {"customer", "balance", "ver", "as_of", NULL};
static const char *const stock_keys[] = {"id", "sku", "type", "delta", "on_hand",
                                         "occurred_at", NULL};
static const char *const loyalty_value_keys[] = {"balance", NULL};

const char *p4t_down_kind_name(enum p4t_down_kind kind)
{
    if ((unsigned)kind >= N_KINDS)
        return NULL;
    return kind_names[kind];
}

int p4t_down_kind_parse(const char *name, enum p4t_down_kind *out)
{
    size_t i;

    for (i = 0; name && i < N_KINDS; i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (enum p4t_down_kind)i;
            return P4T_OK;
        }
    }
    return P4T_EINVAL;
}

const char *p4t_stock_type_name(enum p4t_stock_type type)
{
    if ((unsigned)type >= N_STOCK_TYPES)
        return NULL;
    return stock_type_names[type];
}

/* ---- item readers (J's path names the item) ---- */

static int read_price(struct jx *j, const cJSON *obj, void *arg)
{
    struct p4t_price_item *out = arg;
    int rc;

    rc = jx_keys(j, obj, price_keys);
    if (!rc)
        rc = jx_str(j, obj, "sku", true, 1, JX_PRINTABLE, out->sku, sizeof out->sku);
    if (!rc)
        rc = jx_int(j, obj, "price", true, 0, P4T_MAX_PRICE, 0, &out->price_minor, NULL);
    if (!rc)
        rc = jx_int(j, obj, "ver", true, 1, JX_INT_MAX, 0, &out->ver, NULL);
    if (!rc)
        rc = jx_ts(j, obj, "effective_from", false, &out->from_ms, &out->has_from);
    if (!rc)
        rc = jx_ts(j, obj, "effective_until", false, &out->until_ms, &out->has_until);
    if (!rc && out->has_from && out->has_until && out->until_ms <= out->from_ms)
        rc = jx_fail(j, "effective_until", "must be after effective_from");
    return rc;
}

static int read_promo(struct jx *j, const cJSON *obj, void *arg)
{
    return promo_read(j, obj, arg);
}

int customer_read(struct jx *j, const cJSON *obj, struct p4t_customer *out)
{
    int rc;

    memset(out, 0, sizeof *out);
    rc = jx_keys(j, obj, customer_keys);
    if (!rc)
        rc = jx_str(j, obj, "id", true, 1, JX_PRINTABLE, out->id, sizeof out->id);
    if (!rc)
        rc = jx_int(j, obj, "ver", true, 1, JX_INT_MAX, 0, &out->ver, NULL);
    if (!rc)
        rc = jx_str(j, obj, "name", true, 1, JX_TEXT, out->name, sizeof out->name);
    if (!rc)
        rc = jx_str(j, obj, "tier", true, 1, JX_TENDER, out->tier, sizeof out->tier);
    return rc;
}

static int read_customer(struct jx *j, const cJSON *obj, void *arg)
{
    return customer_read(j, obj, arg);
}

/* A loyalty item is a ledger entry or a balance; which one is told by its keys. */
static int read_loyalty(struct jx *j, const cJSON *obj, void *arg)
{
    struct p4t_loyalty_item *out = arg;
    bool has_balance = cJSON_GetObjectItemCaseSensitive(obj, "balance") != NULL;
    bool has_entry = cJSON_GetObjectItemCaseSensitive(obj, "entry") != NULL;
    int rc;

    if (!has_balance && !has_entry)
        return jx_fail(j, NULL, "must be a ledger entry (customer, entry, points) or a "
                                "balance (customer, balance, ver, as_of)");
    if (has_balance && has_entry)
        return jx_fail(j, "entry", "not allowed in a balance");
    out->is_balance = has_balance;
    rc = jx_keys(j, obj, has_balance ? balance_keys : ledger_keys);
    if (!rc)
        rc = jx_str(j, obj, "customer", true, 1, JX_PRINTABLE, out->customer,
                    sizeof out->customer);
    if (rc)
        return rc;
    if (has_balance) {
        rc = jx_int(j, obj, "balance", true, 0, JX_INT_MAX, 0, &out->balance, NULL);
        if (!rc)
            rc = jx_int(j, obj, "ver", true, 1, JX_INT_MAX, 0, &out->ver, NULL);
        if (!rc)
            rc = jx_ts(j, obj, "as_of", true, &out->as_of_ms, NULL);
        return rc;
    }
    rc = jx_str(j, obj, "entry", true, 1, JX_PRINTABLE, out->entry, sizeof out->entry);
    if (!rc)
        rc = jx_int(j, obj, "points", true, -P4T_MAX_POINTS, P4T_MAX_POINTS, 0, &out->points,
                    NULL);
    if (!rc && out->points == 0)
        rc = jx_fail(j, "points", "must be non-zero");
    if (!rc)
        rc = jx_str(j, obj, "reason", false, 1, JX_TEXT, out->reason, sizeof out->reason);
    if (!rc)
        rc = jx_ts(j, obj, "at", false, &out->at_ms, &out->has_at);
    return rc;
}

static int read_stock(struct jx *j, const cJSON *obj, void *arg)
{
    struct p4t_stock_item *out = arg;
    const char *tn;
    int type = 0, rc;

    rc = jx_keys(j, obj, stock_keys);
    if (!rc)
        rc = jx_str(j, obj, "id", true, 1, JX_PRINTABLE, out->id, sizeof out->id);
    if (!rc)
        rc = jx_str(j, obj, "sku", true, 1, JX_PRINTABLE, out->sku, sizeof out->sku);
    if (!rc)
        rc = jx_enum(j, obj, "type", stock_type_names, N_STOCK_TYPES,
                     "must be receive, transfer, adjust or count", &type);
    if (rc)
        return rc;
    out->type = (enum p4t_stock_type)type;
    tn = stock_type_names[type];
    if (out->type == P4T_STOCK_COUNT) {
        if (cJSON_GetObjectItemCaseSensitive(obj, "delta"))
            return jx_fail(j, "delta", "not allowed for type count");
        rc = jx_int(j, obj, "on_hand", true, 0, P4T_MAX_STOCK, 0, &out->on_hand, NULL);
    } else {
        rc = jx_int(j, obj, "delta", true, -P4T_MAX_STOCK, P4T_MAX_STOCK, 0, &out->delta,
                    NULL);
        if (!rc && out->type == P4T_STOCK_RECEIVE && out->delta <= 0)
            rc = jx_fail(j, "delta", "must be > 0 for type receive");
        if (!rc && out->delta == 0)
            rc = jx_fail(j, "delta", "must be non-zero for type %s", tn);
        if (!rc && cJSON_GetObjectItemCaseSensitive(obj, "on_hand"))
            rc = jx_fail(j, "on_hand", "not allowed for type %s", tn);
    }
    if (!rc)
        rc = jx_ts(j, obj, "occurred_at", true, &out->occurred_at_ms, NULL);
    return rc;
}

/* ---- item builders ---- */

static int build_price(const void *arg, cJSON *obj)
{
    const struct p4t_price_item *p = arg;
    int rc;

    rc = jx_add_str(obj, "sku", p->sku, sizeof p->sku);
    if (!rc)
        rc = jx_add_int(obj, "price", p->price_minor);
    if (!rc)
        rc = jx_add_int(obj, "ver", p->ver);
    if (!rc && p->has_from)
        rc = jx_add_ts(obj, "effective_from", p->from_ms);
    if (!rc && p->has_until)
        rc = jx_add_ts(obj, "effective_until", p->until_ms);
    return rc;
}

int customer_build(const struct p4t_customer *c, cJSON **out)
{
    cJSON *root = cJSON_CreateObject();
    int rc;

    *out = NULL;
    if (!root)
        return P4T_ENOMEM;
    rc = jx_add_str(root, "id", c->id, sizeof c->id);
    if (!rc)
        rc = jx_add_int(root, "ver", c->ver);
    if (!rc)
        rc = jx_add_str(root, "name", c->name, sizeof c->name);
    if (!rc)
        rc = jx_add_str(root, "tier", c->tier, sizeof c->tier);
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return P4T_OK;
}

static int build_loyalty(const void *arg, cJSON *obj)
{
    const struct p4t_loyalty_item *l = arg;
    int rc;

    rc = jx_add_str(obj, "customer", l->customer, sizeof l->customer);
    if (rc)
        return rc;
    if (l->is_balance) {
        rc = jx_add_int(obj, "balance", l->balance);
        if (!rc)
            rc = jx_add_int(obj, "ver", l->ver);
        if (!rc)
            rc = jx_add_ts(obj, "as_of", l->as_of_ms);
        return rc;
    }
    rc = jx_add_str(obj, "entry", l->entry, sizeof l->entry);
    if (!rc)
        rc = jx_add_int(obj, "points", l->points);
    if (!rc && l->reason[0])
        rc = jx_add_str(obj, "reason", l->reason, sizeof l->reason);
    if (!rc && l->has_at)
        rc = jx_add_ts(obj, "at", l->at_ms);
    return rc;
}

static int build_stock(const void *arg, cJSON *obj)
{
    const struct p4t_stock_item *s = arg;
    const char *type = p4t_stock_type_name(s->type);
    int rc;

    if (!type)
        return P4T_EINVAL;
    rc = jx_add_str(obj, "id", s->id, sizeof s->id);
    if (!rc)
        rc = jx_add_str(obj, "sku", s->sku, sizeof s->sku);
    if (!rc)
        rc = jx_add_str(obj, "type", type, P4T_KIND_MAX + 1);
    if (!rc && s->type != P4T_STOCK_COUNT)
        rc = jx_add_int(obj, "delta", s->delta);
    if (!rc && s->type == P4T_STOCK_COUNT)
        rc = jx_add_int(obj, "on_hand", s->on_hand);
    if (!rc)
        rc = jx_add_ts(obj, "occurred_at", s->occurred_at_ms);
    return rc;
}

/* Promo and customer builders make their own object (they also serve the change-log value);
 * these adapters move its members into the item object OBJ. */
static int move_into(cJSON *made, cJSON *obj)
{
    cJSON *it;

    while (made->child) {
        it = cJSON_DetachItemViaPointer(made, made->child);
        if (!cJSON_AddItemToObject(obj, it->string, it)) {
            cJSON_Delete(it);
            cJSON_Delete(made);
            return P4T_ENOMEM;
        }
    }
    cJSON_Delete(made);
    return P4T_OK;
}

static int build_promo(const void *arg, cJSON *obj)
{
    cJSON *made = NULL;
    int rc = promo_build(arg, &made);

    return rc ? rc : move_into(made, obj);
}

static int build_customer(const void *arg, cJSON *obj)
{
    cJSON *made = NULL;
    int rc = customer_build(arg, &made);

    return rc ? rc : move_into(made, obj);
}

static const struct {
    size_t size;
    int (*read)(struct jx *j, const cJSON *obj, void *item);
    int (*build)(const void *item, cJSON *obj);
} kinds[] = {
    [P4T_D_PRICE] = {sizeof(struct p4t_price_item), read_price, build_price},
    [P4T_D_PROMO] = {sizeof(struct p4t_promo), read_promo, build_promo},
    [P4T_D_CUSTOMER] = {sizeof(struct p4t_customer), read_customer, build_customer},
    [P4T_D_LOYALTY] = {sizeof(struct p4t_loyalty_item), read_loyalty, build_loyalty},
    [P4T_D_STOCK] = {sizeof(struct p4t_stock_item), read_stock, build_stock},
};

void p4t_down_cleanup(struct p4t_down *d)
{
    if (!d)
        return;
    free(d->items);
    d->items = NULL;
    d->n_items = 0;
}

static int read_down(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_down *out = arg;
    const cJSON *items, *it;
    size_t i, n;
    int rc;

    rc = jx_keys(j, root, msg_keys);
    if (!rc)
        rc = jx_member(j, root, "items", true, cJSON_Array, &items);
    if (rc)
        return rc;
    n = (size_t)cJSON_GetArraySize(items);
    if (n == 0)
        return jx_fail(j, "items", "must have at least one item");
    if (n > P4T_DOWN_MAX_ITEMS)
        return jx_fail(j, "items", "more than %d items", P4T_DOWN_MAX_ITEMS);
    out->items = calloc(n, kinds[out->kind].size);
    if (!out->items)
        return P4T_ENOMEM;
    i = 0;
    cJSON_ArrayForEach(it, items) {
        jx_path(j, "items", NULL, (long)i);
        if (!cJSON_IsObject(it))
            return jx_fail(j, NULL, "must be an object");
        rc = kinds[out->kind].read(j, it, (char *)out->items + i * kinds[out->kind].size);
        if (rc)
            return rc;
        i++;
    }
    j->path[0] = '\0';
    out->n_items = n;
    return P4T_OK;
}

int p4t_down_decode(enum p4t_down_kind kind, const char *buf, size_t len, struct p4t_down *out,
                    char *reason, size_t reason_len)
{
    struct jx j = {.reason = reason, .reason_len = reason_len};
    int rc;

    memset(out, 0, sizeof *out);
    if ((unsigned)kind >= N_KINDS)
        return jx_fail(&j, "kind", "unknown downlink kind");
    /* Not jx_decode: read_down learns the kind from OUT, and a failure must free the items it
     * allocated before OUT is zeroed. */
    out->kind = kind;
    rc = jx_decode_with(buf, len, P4T_MAX_DOWN_PAYLOAD, read_down, out, reason, reason_len);
    if (rc) {
        p4t_down_cleanup(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* ARG is the message being encoded: its kind picks the item reader. */
static int check_down(const char *text, size_t len, void *scratch, const void *arg)
{
    const struct p4t_down *d = arg;
    int rc = p4t_down_decode(d->kind, text, len, scratch, NULL, 0);

    p4t_down_cleanup(scratch);
    return rc;
}

/* Field order: items; each item in its table's order. Validated by decoding the text. */
int p4t_down_encode(const struct p4t_down *d, char **out)
{
    cJSON *root, *arr, *obj;
    size_t i;
    int rc;

    *out = NULL;
    if ((unsigned)d->kind >= N_KINDS || d->n_items > P4T_DOWN_MAX_ITEMS ||
        (d->n_items && !d->items))
        return P4T_EINVAL;
    root = cJSON_CreateObject();
    arr = root ? cJSON_AddArrayToObject(root, "items") : NULL;
    rc = arr ? P4T_OK : P4T_ENOMEM;
    for (i = 0; !rc && i < d->n_items; i++) {
        obj = jx_append_object(arr);
        if (!obj)
            rc = P4T_ENOMEM;
        else
            rc = kinds[d->kind].build((const char *)d->items + i * kinds[d->kind].size, obj);
    }
    return jx_encode(root, rc, check_down, sizeof(struct p4t_down), d, out);
}

/* ---- change-log values: customer, loyalty ---- */

static int read_customer_value(struct jx *j, const cJSON *obj, void *arg)
{
    return customer_read(j, obj, arg);
}

int p4t_customer_value_decode(const char *buf, size_t len, struct p4t_customer *out,
                              char *reason, size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_customer_value, out, sizeof *out, reason,
                     reason_len);
}

static int check_customer_value(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_customer_value_decode(text, len, scratch, NULL, 0);
}

int p4t_customer_value_encode(const struct p4t_customer *c, char **out)
{
    cJSON *root = NULL;
    int rc = customer_build(c, &root);

    return jx_encode(root, rc, check_customer_value, sizeof(struct p4t_customer), NULL, out);
}

int loyalty_value_read(struct jx *j, const cJSON *obj, int64_t *balance)
{
    int rc = jx_keys(j, obj, loyalty_value_keys);

    /* Negative after an overdraw: the gateway records what was spent, it never refuses. */
    if (!rc)
        rc = jx_int(j, obj, "balance", true, -JX_INT_MAX, JX_INT_MAX, 0, balance, NULL);
    return rc;
}

static int read_loyalty_value(struct jx *j, const cJSON *obj, void *arg)
{
    return loyalty_value_read(j, obj, arg);
}

int p4t_loyalty_value_decode(const char *buf, size_t len, int64_t *balance, char *reason,
                             size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_loyalty_value, balance, sizeof *balance,
                     reason, reason_len);
}

int p4t_loyalty_value_encode(int64_t balance, char **out)
{
    char digits[48];

    *out = NULL;
    if (balance < -JX_INT_MAX || balance > JX_INT_MAX)
        return P4T_EINVAL;
    snprintf(digits, sizeof digits, "{\"balance\":%" PRId64 "}", balance);
    *out = strdup(digits);
    return *out ? P4T_OK : P4T_ENOMEM;
}
