/* SPDX-License-Identifier: Apache-2.0 */
/* Change-log messages (gateway -> registers), sync replies and sync requests. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const entity_names[] = {"stock", "price", "promo", "customer", "loyalty"};
#define N_ENTITIES (sizeof entity_names / sizeof entity_names[0])

static const char *const plain_keys[] = {"from", "to", "items", NULL};
static const char *const reply_keys[] = {"req_id", "from", "to",            "snapshot", "more",
                                         "head",   "items", "last_sale_seq", NULL};
static const char *const item_keys[] = {"seq", "entity", "key", "value", NULL};
static const char *const stock_keys[] = {"on_hand", NULL};
static const char *const sync_keys[] = {"req_id", "cursor", NULL};

const char *p4t_entity_name(enum p4t_entity e)
{
    if ((unsigned)e >= N_ENTITIES)
        return NULL;
    return entity_names[e];
}

int p4t_entity_parse(const char *name, enum p4t_entity *out)
{
    size_t i;

    for (i = 0; name && i < N_ENTITIES; i++) {
        if (strcmp(name, entity_names[i]) == 0) {
            *out = (enum p4t_entity)i;
            return P4T_OK;
        }
    }
    return P4T_EINVAL;
}

void p4t_changes_cleanup(struct p4t_changes *c)
{
    size_t i;

    if (!c)
        return;
    for (i = 0; c->items && i < c->n_items; i++)
        free(c->items[i].value_json);
    free(c->items);
    c->items = NULL;
    c->n_items = 0;
}

/* Checks VALUE against the schema of ENTITY. Stock and price are defined by v1 (price gained
 * optional windows in revision 1.1); promo, customer and loyalty by revision 1.1, where the
 * promo and customer objects carry their own id, which must be the item's KEY. */
static int check_value(struct jx *j, enum p4t_entity entity, const char *key,
                       const cJSON *value)
{
    struct p4t_price_state price;
    struct p4t_promo promo;
    struct p4t_customer customer;
    int64_t v;
    int rc;

    if (entity == P4T_E_STOCK) {
        rc = jx_keys(j, value, stock_keys);
        if (!rc)
            /* Stock can go negative: an oversell is recorded, not refused. */
            rc = jx_int(j, value, "on_hand", true, -JX_INT_MAX, JX_INT_MAX, 0, &v, NULL);
        return rc;
    }
    switch (entity) {
    case P4T_E_STOCK:
        break;
    case P4T_E_PRICE:
        return price_state_read(j, value, &price);
    case P4T_E_PROMO:
        rc = promo_read(j, value, &promo);
        if (!rc && strcmp(promo.id, key) != 0)
            rc = jx_fail(j, "id", "\"%s\" is not the item's key", promo.id);
        return rc;
    case P4T_E_CUSTOMER:
        rc = customer_read(j, value, &customer);
        if (!rc && strcmp(customer.id, key) != 0)
            rc = jx_fail(j, "id", "\"%s\" is not the item's key", customer.id);
        return rc;
    case P4T_E_LOYALTY:
        return loyalty_value_read(j, value, &v);
    }
    return P4T_OK;
}

static int decode_item(struct jx *j, const cJSON *it, size_t i, struct p4t_change *item)
{
    const cJSON *value;
    char entity[P4T_KIND_MAX + 1] = "";
    int rc;

    jx_path(j, "items", NULL, (long)i);
    if (!cJSON_IsObject(it))
        return jx_fail(j, NULL, "must be an object");
    rc = jx_keys(j, it, item_keys);
    if (!rc)
        rc = jx_int(j, it, "seq", true, 0, JX_INT_MAX, 0, &item->seq, NULL);
    if (!rc)
        rc = jx_str(j, it, "entity", true, 1, JX_KIND, entity, sizeof entity);
    if (rc == P4T_EINVAL && !entity[0] &&
        cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "entity")))
        return jx_fail(j, "entity", "unknown entity");
    if (rc)
        return rc;
    if (p4t_entity_parse(entity, &item->entity))
        return jx_fail(j, "entity", "unknown entity \"%s\"", entity);
    rc = jx_str(j, it, "key", true, 1, JX_PRINTABLE, item->key, sizeof item->key);
    if (!rc)
        rc = jx_member(j, it, "value", true, cJSON_Object, &value);
    if (rc)
        return rc;
    jx_path(j, j->path, "value", 0);
    rc = check_value(j, item->entity, item->key, value);
    if (rc)
        return rc;
    return jx_print_value((cJSON *)value, &item->value_json);
}

static int read_changes(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_changes *out = arg;
    const cJSON *items, *it;
    int64_t min_from;
    size_t i, n;
    int rc;

    out->is_reply = cJSON_GetObjectItemCaseSensitive(root, "req_id") != NULL;
    rc = jx_keys(j, root, out->is_reply ? reply_keys : plain_keys);
    if (rc)
        return rc;
    if (out->is_reply) {
        rc = jx_str(j, root, "req_id", true, 1, JX_PRINTABLE, out->req_id, sizeof out->req_id);
        if (!rc)
            rc = jx_bool(j, root, "snapshot", &out->snapshot);
        if (!rc)
            rc = jx_bool(j, root, "more", &out->more);
        if (!rc)
            rc = jx_int(j, root, "head", true, 0, JX_INT_MAX, 0, &out->head, NULL);
        if (!rc)
            rc = jx_int(j, root, "last_sale_seq", true, 0, JX_INT_MAX, 0, &out->last_sale_seq,
                        NULL);
        if (rc)
            return rc;
    }
    /* A log slice starts after some seq (>= 1); a snapshot may describe state at seq 0. */
    min_from = out->snapshot ? 0 : 1;
    rc = jx_int(j, root, "from", true, min_from, JX_INT_MAX, 0, &out->from, NULL);
    if (!rc)
        rc = jx_int(j, root, "to", true, 0, JX_INT_MAX, 0, &out->to, NULL);
    if (!rc)
        rc = jx_member(j, root, "items", true, cJSON_Array, &items);
    if (rc)
        return rc;
    if (out->is_reply && out->to > out->head)
        return jx_fail(j, "to", "%" PRId64 " is past head %" PRId64, out->to, out->head);
    n = (size_t)cJSON_GetArraySize(items);
    if (n > P4T_CHANGES_MAX_ITEMS)
        return jx_fail(j, "items", "more than %d items", P4T_CHANGES_MAX_ITEMS);
    if (out->snapshot) {
        if (out->from > out->to)
            return jx_fail(j, "from", "is after to in a snapshot");
    } else if (out->to < out->from - 1 || (uint64_t)(out->to - out->from + 1) != n) {
        return jx_fail(j, "items", "%zu items do not cover seq %" PRId64 "..%" PRId64
                                   " without gaps", n, out->from, out->to);
    }
    if (n) {
        out->items = calloc(n, sizeof *out->items);
        if (!out->items)
            return P4T_ENOMEM;
    }
    i = 0;
    cJSON_ArrayForEach(it, items) {
        struct p4t_change *c = &out->items[i];
        out->n_items = i + 1; /* so that cleanup frees what this item allocates */
        rc = decode_item(j, it, i, c);
        if (rc)
            return rc;
        jx_path(j, "items", NULL, (long)i);
        if (!out->snapshot && c->seq != out->from + (int64_t)i)
            return jx_fail(j, "seq", "%" PRId64 " breaks the sequence (expected %" PRId64 ")",
                           c->seq, out->from + (int64_t)i);
        if (out->snapshot && (c->seq > out->to || (i > 0 && c->seq < out->items[i - 1].seq)))
            return jx_fail(j, "seq", "snapshot items must be in seq order, at most to");
        i++;
    }
    j->path[0] = '\0';
    return P4T_OK;
}

int p4t_changes_decode(const char *buf, size_t len, struct p4t_changes *out, char *reason,
                       size_t reason_len)
{
    int rc;

    /* Not jx_decode: a failure must free the items read_changes allocated before OUT is
     * zeroed. */
    memset(out, 0, sizeof *out);
    rc = jx_decode_with(buf, len, P4T_MAX_CHANGES_PAYLOAD, read_changes, out, reason,
                        reason_len);
    if (rc) {
        p4t_changes_cleanup(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

static int check_changes(const char *text, size_t len, void *scratch, const void *arg)
{
    int rc = p4t_changes_decode(text, len, scratch, NULL, 0);

    (void)arg;
    p4t_changes_cleanup(scratch);
    return rc;
}

/* Field order: [req_id], from, to, [snapshot, more, head, last_sale_seq], items; each item
 * seq, entity, key, value. Validated by decoding the printed text, which also checks that the
 * items are in order and gap-free. */
int p4t_changes_encode(const struct p4t_changes *c, char **out)
{
    cJSON *root, *arr = NULL, *obj, *value;
    size_t i;
    int rc;

    *out = NULL;
    if (c->n_items > P4T_CHANGES_MAX_ITEMS)
        return P4T_EINVAL;
    root = cJSON_CreateObject();
    rc = root ? P4T_OK : P4T_ENOMEM;
    if (!rc && c->is_reply)
        rc = jx_add_str(root, "req_id", c->req_id, sizeof c->req_id);
    if (!rc)
        rc = jx_add_int(root, "from", c->from);
    if (!rc)
        rc = jx_add_int(root, "to", c->to);
    if (!rc && c->is_reply) {
        if (!cJSON_AddBoolToObject(root, "snapshot", c->snapshot) ||
            !cJSON_AddBoolToObject(root, "more", c->more))
            rc = P4T_ENOMEM;
        if (!rc)
            rc = jx_add_int(root, "head", c->head);
        if (!rc)
            rc = jx_add_int(root, "last_sale_seq", c->last_sale_seq);
    }
    if (!rc) {
        arr = cJSON_AddArrayToObject(root, "items");
        rc = arr ? P4T_OK : P4T_ENOMEM;
    }
    for (i = 0; !rc && i < c->n_items; i++) {
        const struct p4t_change *it = &c->items[i];
        const char *entity = p4t_entity_name(it->entity);
        if (!entity || !it->value_json) {
            rc = P4T_EINVAL;
            break;
        }
        obj = jx_append_object(arr);
        rc = obj ? jx_add_int(obj, "seq", it->seq) : P4T_ENOMEM;
        if (!rc)
            rc = jx_add_str(obj, "entity", entity, P4T_KIND_MAX + 1);
        if (!rc)
            rc = jx_add_str(obj, "key", it->key, sizeof it->key);
        if (rc)
            break;
        value = cJSON_Parse(it->value_json);
        if (!value) {
            rc = P4T_EINVAL;
        } else if (!cJSON_AddItemToObject(obj, "value", value)) {
            cJSON_Delete(value);
            rc = P4T_ENOMEM;
        }
    }
    return jx_encode(root, rc, check_changes, sizeof(struct p4t_changes), NULL, out);
}

static int read_sync_req(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_sync_req *out = arg;
    int rc;

    rc = jx_keys(j, root, sync_keys);
    if (!rc)
        rc = jx_str(j, root, "req_id", true, 1, JX_PRINTABLE, out->req_id, sizeof out->req_id);
    if (!rc)
        rc = jx_int(j, root, "cursor", true, 0, JX_INT_MAX, 0, &out->cursor, NULL);
    return rc;
}

int p4t_sync_req_decode(const char *buf, size_t len, struct p4t_sync_req *out, char *reason,
                        size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_sync_req, out, sizeof *out, reason,
                     reason_len);
}

static int check_sync_req(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_sync_req_decode(text, len, scratch, NULL, 0);
}

/* Field order: req_id, cursor. */
int p4t_sync_req_encode(const struct p4t_sync_req *r, char **out)
{
    cJSON *root = cJSON_CreateObject();
    int rc = root ? P4T_OK : P4T_ENOMEM;

    if (!rc)
        rc = jx_add_str(root, "req_id", r->req_id, sizeof r->req_id);
    if (!rc)
        rc = jx_add_int(root, "cursor", r->cursor);
    return jx_encode(root, rc, check_sync_req, sizeof(struct p4t_sync_req), NULL, out);
}
