/* SPDX-License-Identifier: Apache-2.0 */
/* HQ's downlink (p4/v1/T/{S|_all}/down/{kind}): prices with windows, promos, customers,
 * loyalty and stock movements applied idempotently, each message all or nothing; and HQ's
 * committed watermark (down/ack, contract 1.2), decoded for the cloud sender. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

/* meta keys of the highest ver held per kind (the resync watermarks). */
static const char *const hw_key[] = {
    [P4T_D_PRICE] = "hw_price",
    [P4T_D_PROMO] = "hw_promo",
    [P4T_D_CUSTOMER] = "hw_customer",
    [P4T_D_LOYALTY] = "hw_loyalty",
    [P4T_D_STOCK] = NULL,
};

static int watermark(struct replica *r, enum p4t_down_kind kind, int64_t ver)
{
    if (!hw_key[kind])
        return P4GW_OK;
    replica_bind_text(r, RS_META_MAX, 1, hw_key[kind]);
    replica_bind_int(r, RS_META_MAX, 2, ver);
    return replica_exec(r, RS_META_MAX);
}

int downlink_since(struct replica *r, struct p4t_resync *out)
{
    int64_t *dst[] = {&out->since_price, &out->since_promo, &out->since_customer,
                      &out->since_loyalty};
    int rc = P4GW_OK;

    for (int k = P4T_D_PRICE; k <= P4T_D_LOYALTY && rc == 0; k++) {
        replica_bind_text(r, RS_META_GET, 1, hw_key[k]);
        rc = replica_int(r, RS_META_GET, 0, dst[k]);
    }
    return rc;
}

/* Returns P4GW_EINVAL with REASON when the item cannot be applied (too many windows). */
static int apply_price(struct group *grp, const struct p4t_price_item *it, int64_t now_ms,
                       char *reason, size_t reason_len)
{
    struct p4t_price_state st;
    bool exists, changed, published;
    int rc = stock_price_load(grp->r, it->sku, &st, &exists, NULL);

    if (rc)
        return rc;
    rc = p4t_price_state_apply(&st, it, now_ms, &changed);
    if (rc == P4T_ETOOBIG) {
        snprintf(reason, reason_len, "sku %.64s: more than %d live price windows", it->sku,
                 P4T_PRICE_MAX_WINDOWS);
        return P4GW_EINVAL;
    }
    if (rc) {
        snprintf(reason, reason_len, "sku %.64s: price item refused (code %d)", it->sku, rc);
        return P4GW_EINVAL;
    }
    if (!changed)
        return P4GW_OK; /* same ver again, or older than what we hold */
    rc = stock_price_store(grp->r, &grp->change_head, it->sku, &st, grp->cfg->registers_v11,
                           now_ms, &grp->changes, &published);
    if (rc == 0)
        p4_info("price applied sku=%s ver=%" PRId64 " price=%" PRId64 " window=%d published=%d",
                it->sku, it->ver, it->price_minor, (int)(it->has_from || it->has_until),
                (int)published);
    return rc;
}

/* Version-ordered last writer wins for promos and customers (VER_ST, SET_ST by kind). With
 * TOUCH (an item on the store's own topic: HQ answering a lookup, contract 6.9) the version
 * held already is published to the registers again, so a register waiting for the answer
 * learns that its cache is current instead of waiting out its timeout. */
static int apply_versioned(struct group *grp, enum p4t_entity entity, enum replica_stmt ver_st,
                           enum replica_stmt set_st, const char *id, int64_t ver,
                           const char *value, bool touch)
{
    struct replica *r = grp->r;
    int64_t have = 0, seq;
    int rc;

    replica_bind_text(r, ver_st, 1, id);
    rc = replica_int(r, ver_st, 0, &have);
    if (rc)
        return rc;
    if (ver < have || (ver == have && !touch))
        return P4GW_OK;
    rc = stock_record_change(r, &grp->change_head, entity, id, value, &grp->changes, &seq);
    if (rc)
        return rc;
    replica_bind_text(r, set_st, 1, id);
    replica_bind_int(r, set_st, 2, ver);
    replica_bind_text(r, set_st, 3, value);
    replica_bind_int(r, set_st, 4, seq);
    return replica_exec(r, set_st);
}

/* Publishes CUSTOMER's current balance to the registers again (see apply_versioned's TOUCH). */
static int republish_loyalty(struct group *grp, const char *customer)
{
    struct replica *r = grp->r;
    int64_t balance, seq;
    char value[64];
    int rc;

    replica_bind_text(r, RS_LOY_GET, 1, customer);
    rc = replica_row(r, RS_LOY_GET);
    if (rc <= 0)
        return rc;
    balance = sqlite3_column_int64(r->st[RS_LOY_GET], 3);
    replica_reset(r, RS_LOY_GET);
    snprintf(value, sizeof(value), "{\"balance\":%" PRId64 "}", balance);
    rc = stock_record_change(r, &grp->change_head, P4T_E_LOYALTY, customer, value, &grp->changes,
                             &seq);
    if (rc)
        return rc;
    replica_bind_text(r, RS_LOY_SET, 1, customer);
    replica_bind_int(r, RS_LOY_SET, 2, balance);
    replica_bind_int(r, RS_LOY_SET, 3, seq);
    return replica_exec(r, RS_LOY_SET);
}

static int apply_loyalty(struct group *grp, const struct p4t_loyalty_item *it, int64_t now_ms,
                         bool touch)
{
    struct replica *r = grp->r;
    int64_t balance, base_ver = 0;
    bool added;
    int rc;

    if (!it->is_balance)
        return loyalty_add(grp, it->customer, it->entry, it->points,
                           it->has_at ? it->at_ms : now_ms, "hq", NULL, it->reason, &added,
                           &balance);
    replica_bind_text(r, RS_LOY_GET, 1, it->customer);
    rc = replica_row(r, RS_LOY_GET);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        base_ver = sqlite3_column_int64(r->st[RS_LOY_GET], 1);
        replica_reset(r, RS_LOY_GET);
    }
    if (it->ver == base_ver && touch)
        return republish_loyalty(grp, it->customer);
    if (it->ver <= base_ver)
        return P4GW_OK; /* an older or repeated balance never replaces a newer one */
    replica_bind_text(r, RS_LOY_BASE, 1, it->customer);
    replica_bind_int(r, RS_LOY_BASE, 2, it->balance);
    replica_bind_int(r, RS_LOY_BASE, 3, it->ver);
    replica_bind_int(r, RS_LOY_BASE, 4, it->as_of_ms);
    rc = replica_exec(r, RS_LOY_BASE);
    if (rc)
        return rc;
    return loyalty_refresh(grp, it->customer, &balance);
}

static int apply_stock(struct group *grp, const struct p4t_stock_item *it)
{
    struct replica *r = grp->r;
    int64_t has = 0, before, after;
    int rc;

    replica_bind_text(r, RS_MOVE_BY_ID, 1, it->id);
    rc = replica_int(r, RS_MOVE_BY_ID, 0, &has);
    if (rc || has)
        return rc; /* the movement id was applied already */
    if (it->type == P4T_STOCK_COUNT)
        rc = stock_apply_count(r, it->sku, it->on_hand, it->occurred_at_ms, it->id, &before,
                               &after);
    else
        rc = stock_apply_move(r, it->sku, it->delta, it->occurred_at_ms,
                              p4t_stock_type_name(it->type), it->id, it->id, &before, &after);
    if (rc)
        return rc;
    p4_info("stock movement applied id=%s sku=%s type=%s on_hand=%" PRId64 "->%" PRId64, it->id,
            it->sku, p4t_stock_type_name(it->type), before, after);
    if (after == before)
        return P4GW_OK;
    return stock_record_stock(r, &grp->change_head, it->sku, after, &grp->changes);
}

/* Applies every item of D in order. P4GW_EINVAL (REASON set) when one cannot be applied.
 * OWN: D came on the store's own topic (see apply_versioned's TOUCH). */
static int apply_items(struct group *grp, const struct p4t_down *d, int64_t now_ms, bool own,
                       char *reason, size_t reason_len)
{
    int rc = P4GW_OK;
    char *value = NULL;

    for (size_t i = 0; i < d->n_items && rc == 0; i++) {
        switch (d->kind) {
        case P4T_D_PRICE:
            rc = apply_price(grp, &d->price[i], now_ms, reason, reason_len);
            if (rc == 0)
                rc = watermark(grp->r, d->kind, d->price[i].ver);
            if (rc == P4GW_EINVAL) {
                char inner[P4T_REASON_MAX];

                snprintf(inner, sizeof(inner), "%s", reason);
                snprintf(reason, reason_len, "items[%zu]: %.160s", i, inner);
            }
            break;
        case P4T_D_PROMO:
            if (p4t_promo_value_encode(&d->promo[i], &value) != 0)
                return P4GW_EIO;
            rc = apply_versioned(grp, P4T_E_PROMO, RS_PROMO_VER, RS_PROMO_SET, d->promo[i].id,
                                 d->promo[i].ver, value, false);
            free(value);
            value = NULL;
            if (rc == 0)
                rc = watermark(grp->r, d->kind, d->promo[i].ver);
            break;
        case P4T_D_CUSTOMER:
            if (p4t_customer_value_encode(&d->customer[i], &value) != 0)
                return P4GW_EIO;
            rc = apply_versioned(grp, P4T_E_CUSTOMER, RS_CUST_VER, RS_CUST_SET,
                                 d->customer[i].id, d->customer[i].ver, value, own);
            free(value);
            value = NULL;
            if (rc == 0)
                rc = watermark(grp->r, d->kind, d->customer[i].ver);
            break;
        case P4T_D_LOYALTY:
            rc = apply_loyalty(grp, &d->loyalty[i], now_ms, own);
            if (rc == 0 && d->loyalty[i].is_balance)
                rc = watermark(grp->r, d->kind, d->loyalty[i].ver);
            break;
        case P4T_D_STOCK:
            rc = apply_stock(grp, &d->stock[i]);
            break;
        }
    }
    return rc;
}

/* Keeps a refused message for inspection and tells staff and HQ. */
static int reject(struct group *grp, const char *topic, const char *kind, const char *payload,
                  size_t len, const char *reason, int64_t now_ms)
{
    struct p4t_alert *a = &grp->alert;
    char key[P4T_KIND_MAX + P4T_REASON_MAX + 2];
    char esc[P4T_REASON_MAX * 2];
    size_t n = 0;
    int rc;

    p4_warn("downlink rejected topic=%s reason=\"%s\"", topic, reason);
    rc = group_reject(grp, topic, payload, len, reason, now_ms);
    if (rc)
        return rc;
    /* The reason is printable ASCII; only quotes and backslashes need escaping in JSON. */
    for (const char *p = reason; *p && n + 3 < sizeof(esc) && n < 300; p++) {
        if (*p == '"' || *p == '\\')
            esc[n++] = '\\';
        esc[n++] = *p;
    }
    esc[n] = '\0';
    memset(a, 0, sizeof(*a));
    snprintf(a->kind, sizeof(a->kind), P4T_ALERT_BAD_DOWNLINK);
    snprintf(a->severity, sizeof(a->severity), "warning");
    snprintf(a->message, sizeof(a->message), "HQ %.16s message rejected: %.150s", kind, reason);
    snprintf(a->details, sizeof(a->details), "{\"kind\":\"%s\",\"reason\":\"%.400s\"}", kind,
             esc);
    snprintf(key, sizeof(key), "%s/%s", kind, reason);
    return group_alert(grp, a, key);
}

int downlink_apply(struct group *grp, const char *topic, const char *payload, size_t len,
                   size_t orig_len, int64_t now_ms)
{
    char tenant[P4T_ID_MAX + 1], store[P4T_ID_MAX + 1], kind_name[P4T_KIND_MAX + 1];
    char reason[P4T_REASON_MAX] = "";
    struct p4t_down d = {0};
    enum p4t_down_kind kind;
    char *inflated = NULL;
    size_t n_changes = grp->changes.n;
    int64_t head = grp->change_head;
    bool dir_up;
    int rc;

    if (p4t_topic_parse_cloud(topic, tenant, store, &dir_up, kind_name) != 0 || dir_up ||
        strcmp(tenant, grp->cfg->tenant) != 0 ||
        (strcmp(store, grp->cfg->store) != 0 && strcmp(store, "_all") != 0)) {
        p4_warn("cloud message on unexpected topic ignored topic=%s", topic);
        return P4GW_OK;
    }
    if (strcmp(kind_name, P4T_CAPS_KIND) == 0)
        return wire_on_caps(topic, payload, len);
    if (p4t_down_kind_parse(kind_name, &kind) != 0) {
        /* A later revision's kind: not ours to judge. */
        p4_info("downlink of unknown kind ignored topic=%s", topic);
        return P4GW_OK;
    }
    if (orig_len > P4T_MAX_DOWN_PAYLOAD) {
        snprintf(reason, sizeof(reason), "payload: %zu bytes, over the limit of %d", orig_len,
                 P4T_MAX_DOWN_PAYLOAD);
        return reject(grp, topic, kind_name, payload, len, reason, now_ms);
    }
    /* A zstd frame (1.3) is inflated first; one that cannot be is kept as it came. */
    rc = wire_unpack_down(&payload, &len, &inflated, reason, sizeof(reason));
    if (rc == P4GW_EINVAL)
        return reject(grp, topic, kind_name, payload, len, reason, now_ms);
    if (rc)
        return rc;
    rc = p4t_down_decode(kind, payload, len, &d, reason, sizeof(reason));
    if (rc) {
        if (!reason[0])
            snprintf(reason, sizeof(reason), "payload: not decodable (code %d)", rc);
        rc = reject(grp, topic, kind_name, payload, len, reason, now_ms);
        goto out;
    }
    /* All items or none: a later item that cannot be applied undoes the earlier ones. */
    rc = replica_exec(grp->r, RS_SAVEPOINT);
    if (rc)
        goto out;
    rc = apply_items(grp, &d, now_ms, strcmp(store, grp->cfg->store) == 0, reason,
                     sizeof(reason));
    if (rc) {
        replica_exec(grp->r, RS_ROLLBACK_TO);
        replica_exec(grp->r, RS_RELEASE);
        change_list_truncate(&grp->changes, n_changes);
        grp->change_head = head;
        if (rc == P4GW_EINVAL)
            rc = reject(grp, topic, kind_name, payload, len, reason, now_ms);
        goto out;
    }
    rc = replica_exec(grp->r, RS_RELEASE);
    if (rc == 0)
        p4_info("downlink applied topic=%s items=%zu changes=%zu", topic, d.n_items,
                grp->changes.n - n_changes);
out:
    p4t_down_cleanup(&d);
    free(inflated);
    return rc;
}

int downlink_hq_ack(struct group *grp, const char *topic, const char *payload, size_t len,
                    size_t orig_len, int64_t now_ms, bool store_reject, int64_t *through,
                    struct p4t_hq_ack *ack)
{
    char reason[P4T_REASON_MAX] = "";
    struct p4t_hq_ack a;

    *through = -1;
    if (orig_len > P4T_MAX_PAYLOAD) {
        snprintf(reason, sizeof(reason), "payload: %zu bytes, over the limit of %d", orig_len,
                 P4T_MAX_PAYLOAD);
    } else if (p4t_hq_ack_decode(payload, len, &a, reason, sizeof(reason)) != 0) {
        if (!reason[0])
            snprintf(reason, sizeof(reason), "payload: not decodable");
    } else if (strcmp(a.store, grp->cfg->store) != 0) {
        snprintf(reason, sizeof(reason), "store: \"%s\" is not this store (%s)", a.store,
                 grp->cfg->store);
    } else {
        *through = a.through;
        *ack = a;
        if (a.through > grp->gw_head && !grp->gw_seq_unknown)
            p4_error("HQ watermark beyond this gateway's newest sale through=%" PRId64
                     " gw_seq=%" PRId64 ": was the replica restored without --next-gw-seq?",
                     a.through, grp->gw_head);
        return P4GW_OK;
    }
    if (!store_reject) {
        /* The group's transaction failed: nothing can be stored; say it at least. */
        p4_warn("downlink rejected topic=%s reason=\"%s\"", topic, reason);
        return P4GW_OK;
    }
    return reject(grp, topic, "ack", payload, len, reason, now_ms);
}

int downlink_price_edges(struct group *grp, int64_t now_ms)
{
    struct replica *r = grp->r;
    char skus[P4GW_PRICE_EDGES_BATCH][P4T_SKU_MAX + 1];
    size_t n = 0;
    int rc;

    /* The query's LIMIT is the array's size: one number, here. */
    replica_bind_int(r, RS_PRICE_EDGES, 1, now_ms);
    replica_bind_int(r, RS_PRICE_EDGES, 2, P4GW_PRICE_EDGES_BATCH);
    for (;;) {
        const char *sku;

        rc = replica_row(r, RS_PRICE_EDGES);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        sku = (const char *)sqlite3_column_text(r->st[RS_PRICE_EDGES], 0);
        if (sku && n < P4GW_PRICE_EDGES_BATCH)
            snprintf(skus[n++], sizeof(skus[0]), "%s", sku);
    }
    for (size_t i = 0; i < n; i++) {
        struct p4t_price_state st;
        bool exists, changed;

        rc = stock_price_load(r, skus[i], &st, &exists, NULL);
        if (rc)
            return rc;
        p4t_price_state_prune(&st, now_ms, &changed);
        if (!st.has_base && st.n_windows == 0) {
            sqlite3_stmt *q = NULL;

            /* Nothing left to publish (the last value stays); stop watching this sku. */
            if (sqlite3_prepare_v2(r->db, "UPDATE prices SET next_edge_ms = NULL WHERE sku = ?1",
                                   -1, &q, NULL) != SQLITE_OK)
                return P4GW_EIO;
            sqlite3_bind_text(q, 1, skus[i], -1, SQLITE_TRANSIENT);
            rc = sqlite3_step(q) == SQLITE_DONE ? P4GW_OK : P4GW_EIO;
            sqlite3_finalize(q);
            if (rc)
                return rc;
            continue;
        }
        rc = stock_price_store(r, &grp->change_head, skus[i], &st, grp->cfg->registers_v11,
                               now_ms, &grp->changes, &changed);
        if (rc)
            return rc;
    }
    return P4GW_OK;
}
