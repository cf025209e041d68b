/* SPDX-License-Identifier: Apache-2.0 */
/* Sales from the store broker: validation against the topic, dedupe, and applying a sale
 * (rows, stock, change log, outbox, register seq) inside the group-commit transaction. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

/* Queues an ack for the register of TOPIC's REG. */
static int queue_ack(struct group *grp, const char *reg, const char *id, int64_t seq,
                     enum p4t_ack_status status, int64_t gw_seq, const char *reason)
{
    struct p4t_ack ack = {.status = status, .gw_seq = gw_seq, .seq = seq};
    char topic[P4T_TOPIC_MAX];
    char *text = NULL;
    int rc;

    rc = p4t_topic_local(topic, sizeof(topic), P4T_L_ACK, grp->cfg->store, reg);
    if (rc == 0 && status != P4T_ACK_REJECTED && p4t_uuid_valid(id)) {
        /* The ack of every accepted sale, written directly in p4t_ack_encode's field order:
         * its JSON tree and check decode cost about as much as the sale's whole SQL. The id
         * is a validated UUID, so nothing needs escaping. */
        text = malloc(P4T_UUID_MAX + 128);
        if (!text)
            return P4GW_ENOMEM;
        snprintf(text, P4T_UUID_MAX + 128,
                 "{\"id\":\"%s\",\"status\":\"%s\",\"gw_seq\":%" PRId64 ",\"seq\":%" PRId64 "}", id,
                 status == P4T_ACK_OK ? "ok" : "duplicate", gw_seq, seq);
        return out_list_push(&grp->acks, topic, text);
    }
    snprintf(ack.id, sizeof(ack.id), "%s", id);
    if (reason)
        snprintf(ack.reason, sizeof(ack.reason), "%s", reason);
    if (rc == 0)
        rc = p4t_ack_encode(&ack, &text);
    if (rc) {
        /* Only an unprintable echoed id can make this fail: answer with an empty one. */
        ack.id[0] = '\0';
        rc = p4t_ack_encode(&ack, &text);
        if (rc) {
            p4_warn("ack not encodable reg=%s id=%s", reg, id);
            return P4GW_OK;
        }
    }
    return out_list_push(&grp->acks, topic, text);
}

static int reject_sale(struct group *grp, const char *topic, const char *reg,
                       const char *payload, size_t len, const char *reason, int64_t now_ms)
{
    char id[P4T_UUID_MAX + 1];
    int64_t seq = 0;
    int rc;

    p4t_sale_peek(payload, len, id, &seq);
    p4_warn("sale rejected topic=%s id=%s reason=\"%s\"", topic, id, reason);
    rc = group_reject(grp, topic, payload, len, reason, now_ms);
    if (rc)
        return rc;
    grp->txn_rej++;
    return queue_ack(grp, reg, id, seq, P4T_ACK_REJECTED, 0, reason);
}

/* What one sale did to one sku, to write one change row and spot a crossing below zero. */
struct sku_effect {
    const char *sku;
    int64_t before, after;
    int64_t count_at_ms; /* the sku's latest count (stock rule) */
    int64_t rowid;       /* its stock row (0: none yet) */
};

/* The sales that consumed SKU's last units before SALE_ID took it below zero, newest first,
 * until their quantities cover what was on hand before (at least one): into A->sales. */
static int oversell_peers(struct group *grp, const char *sku, const char *sale_id,
                          int64_t before, struct p4t_alert *a)
{
    struct replica *r = grp->r;
    sqlite3_stmt *st = r->st[RS_LAST_SALES];
    int64_t covered = 0, need = before > 0 ? before : 1;
    int rc;

    replica_bind_text(r, RS_LAST_SALES, 1, sku);
    replica_bind_text(r, RS_LAST_SALES, 2, sale_id);
    replica_bind_int(r, RS_LAST_SALES, 3, P4T_ALERT_MAX_SALES * 4);
    while (a->n_sales < P4T_ALERT_MAX_SALES && covered < need) {
        const char *ref;
        bool seen = false;

        rc = replica_row(r, RS_LAST_SALES);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return P4GW_OK;
        ref = (const char *)sqlite3_column_text(st, 0);
        if (!ref || !p4t_uuid_valid(ref))
            continue;
        for (size_t i = 0; i < a->n_sales && !seen; i++)
            seen = strcmp(a->sales[i], ref) == 0;
        covered += sqlite3_column_int64(st, 1);
        if (!seen)
            snprintf(a->sales[a->n_sales++], sizeof(a->sales[0]), "%s", ref);
    }
    replica_reset(r, RS_LAST_SALES);
    return P4GW_OK;
}

/* A sale took SKU from >= 0 to < 0: a conflict row naming the sales involved and one alert
 * (its id derives from sku and sale, so a repeat after a crash is recognisable). */
static int raise_oversell(struct group *grp, const struct p4t_sale *s,
                          const struct sku_effect *e, int64_t now_ms)
{
    struct p4t_alert *a = &grp->alert;
    struct replica *r = grp->r;
    char key[P4T_SKU_MAX + P4T_UUID_MAX + 2], sales_json[P4T_ALERT_MAX_SALES * 40 + 4];
    size_t n = 0;
    int rc;

    memset(a, 0, sizeof(*a));
    snprintf(a->kind, sizeof(a->kind), P4T_ALERT_OVERSELL);
    snprintf(a->severity, sizeof(a->severity), "warning");
    snprintf(a->sku, sizeof(a->sku), "%s", e->sku);
    snprintf(a->message, sizeof(a->message), "%.64s stock went to %" PRId64
             ": sold by more than one register, please count it", e->sku, e->after);
    snprintf(a->details, sizeof(a->details), "{\"on_hand\":%" PRId64 "}", e->after);
    snprintf(a->sales[a->n_sales++], sizeof(a->sales[0]), "%s", s->id);
    rc = oversell_peers(grp, e->sku, s->id, e->before, a);
    if (rc)
        return rc;
    n += (size_t)snprintf(sales_json + n, sizeof(sales_json) - n, "[");
    for (size_t i = 0; i < a->n_sales; i++)
        n += (size_t)snprintf(sales_json + n, sizeof(sales_json) - n, "%s\"%s\"", i ? "," : "",
                              a->sales[i]);
    snprintf(sales_json + n, sizeof(sales_json) - n, "]");
    snprintf(key, sizeof(key), "%s/%s", e->sku, s->id);
    rc = group_alert(grp, a, key);
    if (rc)
        return rc;
    replica_bind_text(r, RS_CONFLICT_INS, 1, "oversell");
    replica_bind_text(r, RS_CONFLICT_INS, 2, e->sku);
    replica_bind_text(r, RS_CONFLICT_INS, 3, s->id);
    replica_bind_text(r, RS_CONFLICT_INS, 4, sales_json);
    replica_bind_int(r, RS_CONFLICT_INS, 5, e->after);
    replica_bind_text(r, RS_CONFLICT_INS, 6, a->id);
    replica_bind_int(r, RS_CONFLICT_INS, 7, now_ms);
    return replica_exec(r, RS_CONFLICT_INS);
}

/* Applies the stock effect of S (sale/return) at its ts, one change row per sku whose
 * on_hand changed; flags an oversell and raises the alert once per crossing. */
static int apply_stock(struct group *grp, const struct p4t_sale *s, int64_t now_ms,
                       bool *oversell)
{
    struct sku_effect eff[P4T_MAX_LINES];
    const char *reason = s->kind == P4T_SALE ? "sale" : "return";
    size_t n_eff = 0;
    int rc;

    *oversell = false;
    /* on_hand is kept here across the sale's lines and stored once per sku: a ledger row per
     * line, one read and one write of the stock row per sku. */
    for (size_t i = 0; i < s->n_lines; i++) {
        int64_t amount = -s->lines[i].qty, delta;
        size_t k;

        for (k = 0; k < n_eff && strcmp(eff[k].sku, s->lines[i].sku) != 0; k++)
            ;
        if (k == n_eff) {
            eff[k].sku = s->lines[i].sku;
            rc = stock_get_row(grp->r, eff[k].sku, &eff[k].before, &eff[k].count_at_ms,
                               &eff[k].rowid);
            if (rc)
                return rc;
            eff[k].after = eff[k].before;
            n_eff++;
        }
        /* The stock rule: the latest count already saw a movement at or before it. */
        delta = s->ts_ms > eff[k].count_at_ms ? amount : 0;
        rc = stock_move_row(grp->r, eff[k].sku, delta, amount, s->ts_ms, reason, s->id);
        if (rc)
            return rc;
        eff[k].after += delta;
    }
    for (size_t k = 0; k < n_eff; k++) {
        const struct sku_effect *e = &eff[k];

        if (s->kind == P4T_SALE && e->after < 0 && e->after < e->before)
            *oversell = true;
        if (s->kind == P4T_SALE && e->before >= 0 && e->after < 0) {
            rc = raise_oversell(grp, s, e, now_ms);
            if (rc)
                return rc;
        }
        if (e->after != e->before && e->rowid > 0) {
            rc = stock_put_row(grp->r, &grp->change_head, e->rowid, e->sku, e->after,
                               &grp->changes);
        } else if (e->after != e->before) {
            rc = stock_record_stock(grp->r, &grp->change_head, e->sku, e->after, &grp->changes);
        } else if (e->rowid == 0) {
            /* An unknown sku gets its row (on_hand 0, no change) as it always did. */
            replica_bind_text(grp->r, RS_STOCK_SET, 1, e->sku);
            replica_bind_int(grp->r, RS_STOCK_SET, 2, e->after);
            replica_bind_int(grp->r, RS_STOCK_SET, 3, 0);
            rc = replica_exec(grp->r, RS_STOCK_SET);
        }
        if (rc)
            return rc;
    }
    return P4GW_OK;
}

/* Each line's ver against the price in effect at the sale's ts: an older ver at a different
 * price is flagged and alerted (once per sku); the sale stays as sold. */
static int check_prices(struct group *grp, const struct p4t_sale *s, bool *mismatch)
{
    struct p4t_price_state st;
    int rc;

    *mismatch = false;
    for (size_t i = 0; i < s->n_lines; i++) {
        const struct p4t_line *l = &s->lines[i];
        struct p4t_alert *a = &grp->alert;
        char key[P4T_SKU_MAX + P4T_UUID_MAX + 2];
        int64_t price, ver;
        bool exists, repeat = false;

        for (size_t k = 0; k < i && !repeat; k++)
            repeat = strcmp(s->lines[k].sku, l->sku) == 0;
        if (repeat)
            continue;
        rc = stock_price_load(grp->r, l->sku, &st, &exists, NULL);
        if (rc)
            return rc;
        if (!exists || p4t_price_effective(&st, s->ts_ms, &price, &ver) != 0)
            continue;
        if (!(l->ver < ver && l->price_minor != price))
            continue;
        *mismatch = true;
        memset(a, 0, sizeof(*a));
        snprintf(a->kind, sizeof(a->kind), P4T_ALERT_PRICE_MISMATCH);
        snprintf(a->severity, sizeof(a->severity), "warning");
        snprintf(a->sku, sizeof(a->sku), "%s", l->sku);
        snprintf(a->message, sizeof(a->message), "%.64s sold at %" PRId64 " (version %" PRId64
                 ") but %" PRId64 " (version %" PRId64 ") was in effect", l->sku, l->price_minor,
                 l->ver, price, ver);
        snprintf(a->details, sizeof(a->details), "{\"expected_ver\":%" PRId64 ",\"used_ver\":%"
                 PRId64 ",\"expected_price\":%" PRId64 ",\"used_price\":%" PRId64 "}", ver,
                 l->ver, price, l->price_minor);
        snprintf(a->sales[0], sizeof(a->sales[0]), "%s", s->id);
        a->n_sales = 1;
        snprintf(key, sizeof(key), "%s/%s", l->sku, s->id);
        rc = group_alert(grp, a, key);
        if (rc)
            return rc;
    }
    return P4GW_OK;
}

/* The sale's points go into the customer's ledger at its ts. A redemption that leaves the
 * balance below zero is kept (the sale happened), flagged and alerted; while the WAN is down
 * with offline_loyalty_redeem = allow it is only flagged (HQ reconciles later). */
static int apply_loyalty(struct group *grp, const struct p4t_sale *s, bool *overdraw)
{
    struct p4t_alert *a = &grp->alert;
    char key[P4T_CUSTOMER_MAX + P4T_UUID_MAX + 2];
    int64_t balance = 0;
    bool added;
    int rc;

    *overdraw = false;
    if (!s->customer[0] || !s->has_loyalty || s->kind == P4T_VOID)
        return P4GW_OK;
    if (s->loyalty_earn == s->loyalty_redeem) {
        rc = loyalty_refresh(grp, s->customer, &balance);
    } else {
        rc = loyalty_add(grp, s->customer, NULL, s->loyalty_earn - s->loyalty_redeem, s->ts_ms,
                         "sale", s->id, NULL, &added, &balance);
    }
    if (rc || s->loyalty_redeem == 0 || balance >= 0)
        return rc;
    *overdraw = true;
    if (!grp->wan_up && grp->cfg->offline_loyalty_allow)
        return P4GW_OK;
    memset(a, 0, sizeof(*a));
    snprintf(a->kind, sizeof(a->kind), P4T_ALERT_LOYALTY_OVERDRAW);
    snprintf(a->severity, sizeof(a->severity), "warning");
    snprintf(a->message, sizeof(a->message), "customer %.64s redeemed %" PRId64
             " points; balance is now %" PRId64 "%s", s->customer, s->loyalty_redeem, balance,
             grp->wan_up ? "" : " (WAN down: balance not confirmed by HQ)");
    if (grp->wan_up)
        snprintf(a->details, sizeof(a->details), "{\"customer\":\"%s\",\"balance\":%" PRId64 "}",
                 s->customer, balance);
    else
        snprintf(a->details, sizeof(a->details), "{\"customer\":\"%s\",\"balance\":%" PRId64
                 ",\"reason\":\"wan_down\"}", s->customer, balance);
    snprintf(a->sales[0], sizeof(a->sales[0]), "%s", s->id);
    a->n_sales = 1;
    snprintf(key, sizeof(key), "%s/%s", s->customer, s->id);
    return group_alert(grp, a, key);
}

/* The uplink record of a sale: its received text with "gw_seq" and "flags" added before the
 * closing brace. The text passed p4t_sale_decode, which refuses unknown and repeated fields, so
 * it is a sale object with only contract fields; re-encoding the decoded sale through a JSON
 * tree (and decoding it again to check) cost more than all of the sale's SQL. *OUT malloc'd. */
static int splice_record(const char *payload, size_t len, int64_t gw_seq,
                         const char *flags_json, char **out)
{
    char suffix[160];
    size_t n_suffix, end = len;
    char *rec;

    *out = NULL;
    while (end > 0 && payload[end - 1] != '}')
        end--; /* trailing whitespace after the object */
    if (end < 2)
        return P4GW_EINVAL;
    n_suffix = (size_t)snprintf(suffix, sizeof(suffix), ",\"gw_seq\":%" PRId64 ",\"flags\":%s}",
                                gw_seq, flags_json);
    if (n_suffix >= sizeof(suffix))
        return P4GW_EINVAL;
    rec = malloc(end - 1 + n_suffix + 1);
    if (!rec)
        return P4GW_ENOMEM;
    memcpy(rec, payload, end - 1);
    memcpy(rec + end - 1, suffix, n_suffix + 1);
    *out = rec;
    return P4GW_OK;
}

/* Writes the new sale S (already validated and deduped) with gw_seq = head + 1. Alerts it
 * raises are stored after its own outbox row, so HQ sees the sale first. */
static int apply_sale(struct group *grp, const struct p4t_sale *s, const char *payload,
                      size_t len, int64_t now_ms, int64_t *gw_seq_out)
{
    struct replica *r = grp->r;
    const char *flags[4] = {NULL, NULL, NULL, NULL};
    char flags_json[96];
    size_t n_flags = 0, flags_len;
    bool oversell = false, stale = false, overdraw = false;
    int64_t gw_seq = grp->gw_head + 1;
    char *record = NULL;
    int rc = P4GW_OK;

    /* The record holds the flags, so the conditions are found first; their alerts wait in
     * grp->deferred and go into the outbox behind the sale, so HQ reads the sale first. A
     * failure here rolls the whole group back (the caller), so no savepoint is needed. */
    out_list_clear(&grp->deferred);
    grp->defer_alerts = true;
    if (s->kind != P4T_VOID) {
        rc = apply_stock(grp, s, now_ms, &oversell);
        if (rc)
            goto out;
    }
    /* Returns and voids repeat the original sale's prices: only sales are checked. */
    if (s->kind == P4T_SALE)
        rc = check_prices(grp, s, &stale);
    if (rc == 0)
        rc = apply_loyalty(grp, s, &overdraw);
    if (rc == 0 && s->hold[0] && s->kind == P4T_SALE)
        rc = holds_consume(grp, s->reg, s->hold);
    if (rc)
        goto out;
    if (oversell)
        flags[n_flags++] = P4T_FLAG_OVERSELL;
    if (stale)
        flags[n_flags++] = P4T_FLAG_PRICE_MISMATCH;
    if (overdraw)
        flags[n_flags++] = P4T_FLAG_LOYALTY_OVERDRAW;
    flags_len = (size_t)snprintf(flags_json, sizeof(flags_json), "[");
    for (size_t i = 0; i < n_flags; i++)
        flags_len += (size_t)snprintf(flags_json + flags_len, sizeof(flags_json) - flags_len,
                                      "%s\"%s\"", i ? "," : "", flags[i]);
    snprintf(flags_json + flags_len, sizeof(flags_json) - flags_len, "]");

    replica_bind_int(r, RS_SALE_INS, 1, gw_seq);
    replica_bind_text(r, RS_SALE_INS, 2, s->id);
    replica_bind_text(r, RS_SALE_INS, 3, s->reg);
    replica_bind_int(r, RS_SALE_INS, 4, s->seq);
    replica_bind_text(r, RS_SALE_INS, 5, p4t_sale_kind_name(s->kind));
    replica_bind_text(r, RS_SALE_INS, 6, s->ts);
    replica_bind_int(r, RS_SALE_INS, 7, s->total_minor);
    replica_bind_text(r, RS_SALE_INS, 8, flags_json);
    sqlite3_bind_text(r->st[RS_SALE_INS], 9, payload, (int)len, SQLITE_TRANSIENT);
    rc = replica_exec(r, RS_SALE_INS);
    if (rc)
        goto out;
    for (size_t i = 0; i < s->n_lines; i++) {
        const struct p4t_line *l = &s->lines[i];

        replica_bind_int(r, RS_LINE_INS, 1, gw_seq);
        replica_bind_int(r, RS_LINE_INS, 2, (int64_t)i + 1);
        replica_bind_text(r, RS_LINE_INS, 3, l->sku);
        replica_bind_int(r, RS_LINE_INS, 4, l->qty);
        replica_bind_int(r, RS_LINE_INS, 5, l->price_minor);
        replica_bind_int(r, RS_LINE_INS, 6, l->ver);
        rc = replica_exec(r, RS_LINE_INS);
        if (rc)
            goto out;
    }
    /* The uplink record is built once here and spliced into batches as stored text. */
    rc = splice_record(payload, len, gw_seq, flags_json, &record);
    if (rc) {
        p4_error("sale record encoding failed id=%s rc=%d", s->id, rc);
        rc = P4GW_EIO;
        goto out;
    }
    replica_bind_text(r, RS_OUTBOX_INS, 1, "sale");
    replica_bind_int(r, RS_OUTBOX_INS, 2, gw_seq);
    replica_bind_text(r, RS_OUTBOX_INS, 3, record);
    rc = replica_exec(r, RS_OUTBOX_INS);
    if (rc)
        goto out;
    grp->defer_alerts = false;
    for (size_t i = 0; i < grp->deferred.n && rc == 0; i++) {
        rc = group_store_alert(grp, grp->deferred.items[i].payload);
        grp->deferred.items[i].payload = NULL;
    }
    if (rc)
        goto out;
    replica_bind_text(r, RS_REG_UPSERT, 1, s->reg);
    replica_bind_int(r, RS_REG_UPSERT, 2, s->seq);
    replica_bind_int(r, RS_REG_UPSERT, 3, now_ms);
    rc = replica_exec(r, RS_REG_UPSERT);
    if (rc)
        goto out;
    grp->gw_head = gw_seq;
    grp->n_new++;
    *gw_seq_out = gw_seq;
out:
    grp->defer_alerts = false;
    out_list_clear(&grp->deferred);
    free(record);
    return rc;
}

int ingest_sale(struct group *grp, const char *topic, const char *payload, size_t len,
                size_t orig_len, int64_t now_ms)
{
    char store[P4T_ID_MAX + 1], reg[P4T_ID_MAX + 1], reason[P4T_REASON_MAX];
    enum p4t_local kind;
    struct p4t_sale *s = &grp->sale;
    int64_t gw_seq = 0;
    int rc;

    if (p4t_topic_parse_local(topic, &kind, store, reg) != 0 || kind != P4T_L_SALE ||
        strcmp(store, grp->cfg->store) != 0) {
        /* Our subscription cannot deliver this; nobody to answer. */
        p4_warn("message on unexpected topic ignored topic=%s", topic);
        return P4GW_OK;
    }
    if (orig_len > P4T_MAX_PAYLOAD) {
        snprintf(reason, sizeof(reason), "payload too large: %zu bytes (max %d)", orig_len,
                 P4T_MAX_PAYLOAD);
        return reject_sale(grp, topic, reg, payload, len, reason, now_ms);
    }
    rc = p4t_sale_decode(payload, len, s, reason, sizeof(reason));
    if (rc) {
        if (reason[0] == '\0')
            snprintf(reason, sizeof(reason), "undecodable sale (code %d)", rc);
        return reject_sale(grp, topic, reg, payload, len, reason, now_ms);
    }
    if (strcmp(s->store, grp->cfg->store) != 0) {
        snprintf(reason, sizeof(reason), "store: \"%s\" does not match the topic's store \"%s\"",
                 s->store, store);
        return reject_sale(grp, topic, reg, payload, len, reason, now_ms);
    }
    if (strcmp(s->reg, reg) != 0) {
        snprintf(reason, sizeof(reason), "reg: \"%s\" does not match the topic's register \"%s\"",
                 s->reg, reg);
        return reject_sale(grp, topic, reg, payload, len, reason, now_ms);
    }
    /* Dedupe sees rows of the open transaction too, so a resend in the same group is a
     * duplicate of the first copy. */
    replica_bind_text(grp->r, RS_SALE_BY_ID, 1, s->id);
    rc = replica_row(grp->r, RS_SALE_BY_ID);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        gw_seq = sqlite3_column_int64(grp->r->st[RS_SALE_BY_ID], 0);
        replica_reset(grp->r, RS_SALE_BY_ID);
        grp->txn_dup++;
        p4_debug("sale duplicate id=%s gw_seq=%" PRId64, s->id, gw_seq);
        return queue_ack(grp, reg, s->id, s->seq, P4T_ACK_DUPLICATE, gw_seq, NULL);
    }
    rc = apply_sale(grp, s, payload, len, now_ms, &gw_seq);
    if (rc)
        return rc;
    grp->txn_ok++;
    p4_debug("sale accepted id=%s reg=%s seq=%" PRId64 " gw_seq=%" PRId64, s->id, s->reg, s->seq,
             gw_seq);
    return queue_ack(grp, reg, s->id, s->seq, P4T_ACK_OK, gw_seq, NULL);
}
