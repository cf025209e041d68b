/* SPDX-License-Identifier: Apache-2.0 */
/* Sales from the store broker: validation against the topic, dedupe, and applying a sale
 * (rows, stock, change log, outbox, register seq) inside the group-commit transaction. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

int out_list_push(struct out_list *l, const char *topic, char *payload)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct out_msg *items = realloc(l->items, cap * sizeof(*items));

        if (!items) {
            free(payload);
            return P4GW_ENOMEM;
        }
        l->items = items;
        l->cap = cap;
    }
    snprintf(l->items[l->n].topic, sizeof(l->items[l->n].topic), "%s", topic);
    l->items[l->n].payload = payload;
    l->items[l->n].len = strlen(payload);
    l->items[l->n].retained = false;
    l->n++;
    return P4GW_OK;
}

void out_list_clear(struct out_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].payload);
    l->n = 0;
}

int ingest_init(struct ingest *in, struct replica *r, const struct p4gw_config *cfg)
{
    memset(in, 0, sizeof(*in));
    in->r = r;
    in->cfg = cfg;
    return ingest_begin(in);
}

void ingest_cleanup(struct ingest *in)
{
    change_list_free(&in->changes);
    out_list_clear(&in->acks);
    free(in->acks.items);
    in->acks.items = NULL;
    in->acks.cap = 0;
}

int ingest_begin(struct ingest *in)
{
    int rc;

    in->changes.n = 0;
    in->n_new = 0;
    in->n_oversell = 0;
    rc = replica_int(in->r, RS_SALES_HEAD, 0, &in->gw_head);
    if (rc == 0)
        rc = replica_int(in->r, RS_CHANGE_HEAD, 0, &in->change_head);
    return rc;
}

void ingest_abort(struct ingest *in)
{
    out_list_clear(&in->acks);
    in->changes.n = 0;
    in->n_new = 0;
    in->n_oversell = 0;
}

/* Queues an ack for the register of TOPIC's REG. */
static int queue_ack(struct ingest *in, const char *reg, const char *id, int64_t seq,
                     enum p4t_ack_status status, int64_t gw_seq, const char *reason)
{
    struct p4t_ack ack = {.status = status, .gw_seq = gw_seq, .seq = seq};
    char topic[P4T_TOPIC_MAX];
    char *text = NULL;
    int rc;

    snprintf(ack.id, sizeof(ack.id), "%s", id);
    if (reason)
        snprintf(ack.reason, sizeof(ack.reason), "%s", reason);
    rc = p4t_topic_local(topic, sizeof(topic), P4T_L_ACK, in->cfg->store, reg);
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
    return out_list_push(&in->acks, topic, text);
}

int ingest_reject(struct ingest *in, const char *topic, const char *payload, size_t len,
                  const char *reason, int64_t now_ms)
{
    struct replica *r = in->r;

    replica_bind_text(r, RS_REJECT_INS, 1, topic);
    replica_bind_blob(r, RS_REJECT_INS, 2, payload, len);
    replica_bind_text(r, RS_REJECT_INS, 3, reason);
    replica_bind_int(r, RS_REJECT_INS, 4, now_ms);
    return replica_exec(r, RS_REJECT_INS);
}

static int reject_sale(struct ingest *in, const char *topic, const char *reg,
                       const char *payload, size_t len, const char *reason, int64_t now_ms)
{
    char id[P4T_UUID_MAX + 1];
    int64_t seq = 0;
    int rc;

    p4t_sale_peek(payload, len, id, &seq);
    p4_warn("sale rejected topic=%s id=%s reason=\"%s\"", topic, id, reason);
    rc = ingest_reject(in, topic, payload, len, reason, now_ms);
    if (rc)
        return rc;
    in->n_rej++;
    return queue_ack(in, reg, id, seq, P4T_ACK_REJECTED, 0, reason);
}

/* Adds DELTA to SKU's stock with its ledger row; returns the new on_hand in *ON_HAND. */
static int stock_move(struct ingest *in, const char *sku, int64_t delta, const char *reason,
                      const char *ref, int64_t *on_hand)
{
    struct replica *r = in->r;
    int rc;

    replica_bind_text(r, RS_MOVE_INS, 1, sku);
    replica_bind_int(r, RS_MOVE_INS, 2, delta);
    replica_bind_text(r, RS_MOVE_INS, 3, reason);
    replica_bind_text(r, RS_MOVE_INS, 4, ref);
    rc = replica_exec(r, RS_MOVE_INS);
    if (rc)
        return rc;
    replica_bind_text(r, RS_STOCK_ADD, 1, sku);
    replica_bind_int(r, RS_STOCK_ADD, 2, delta);
    rc = replica_row(r, RS_STOCK_ADD);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return P4GW_EIO;
    *on_hand = sqlite3_column_int64(r->st[RS_STOCK_ADD], 0);
    replica_reset(r, RS_STOCK_ADD);
    return P4GW_OK;
}

/* Price check for the record's flags: the register charged an older version than ours. */
static int price_stale(struct ingest *in, const struct p4t_line *line, bool *stale)
{
    struct replica *r = in->r;
    int rc;

    *stale = false;
    replica_bind_text(r, RS_PRICE_GET, 1, line->sku);
    rc = replica_row(r, RS_PRICE_GET);
    if (rc <= 0)
        return rc;
    if (sqlite3_column_int64(r->st[RS_PRICE_GET], 1) > line->ver &&
        sqlite3_column_int64(r->st[RS_PRICE_GET], 0) != line->price_minor)
        *stale = true;
    replica_reset(r, RS_PRICE_GET);
    return P4GW_OK;
}

/* Applies the stock effect of S (sale/return), one change row per distinct SKU. */
static int apply_stock(struct ingest *in, const struct p4t_sale *s, bool *oversell)
{
    int rc;

    *oversell = false;
    for (size_t i = 0; i < s->n_lines; i++) {
        int64_t on_hand;
        bool later = false;

        rc = stock_move(in, s->lines[i].sku, -s->lines[i].qty,
                        s->kind == P4T_SALE ? "sale" : "return", s->id, &on_hand);
        if (rc)
            return rc;
        /* The change row is written once, after the SKU's last line in this sale. */
        for (size_t k = i + 1; k < s->n_lines && !later; k++)
            later = strcmp(s->lines[k].sku, s->lines[i].sku) == 0;
        if (later)
            continue;
        if (on_hand < 0 && s->kind == P4T_SALE) {
            *oversell = true;
            if (in->n_oversell < P4GW_OVERSELL_MAX) {
                struct oversell *o = &in->oversells[in->n_oversell];

                snprintf(o->sku, sizeof(o->sku), "%s", s->lines[i].sku);
                snprintf(o->sale_id, sizeof(o->sale_id), "%s", s->id);
                o->on_hand = on_hand;
            }
            in->n_oversell++;
        }
        rc = stock_record_stock(in->r, &in->change_head, s->lines[i].sku, on_hand,
                                &in->changes);
        if (rc)
            return rc;
    }
    return P4GW_OK;
}

/* Writes the new sale S (already validated and deduped) with gw_seq = head + 1. */
static int apply_sale(struct ingest *in, const struct p4t_sale *s, const char *payload,
                      size_t len, int64_t now_ms, int64_t *gw_seq_out)
{
    struct replica *r = in->r;
    const char *flags[3] = {NULL, NULL, NULL};
    char flags_json[64];
    size_t n_flags = 0, flags_len;
    bool oversell = false, stale = false;
    int64_t gw_seq = in->gw_head + 1;
    char *record = NULL;
    int rc;

    if (s->kind != P4T_VOID) {
        rc = apply_stock(in, s, &oversell);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < s->n_lines && !stale; i++) {
        rc = price_stale(in, &s->lines[i], &stale);
        if (rc)
            goto out;
    }
    if (oversell)
        flags[n_flags++] = "oversell";
    if (stale)
        flags[n_flags++] = "price_mismatch";
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
    /* The uplink record is encoded once here and spliced into batches as stored text. */
    rc = p4t_sale_record_encode(s, gw_seq, flags, &record);
    if (rc) {
        p4_error("sale record encoding failed id=%s rc=%d", s->id, rc);
        rc = P4GW_EIO;
        goto out;
    }
    replica_bind_int(r, RS_OUTBOX_INS, 1, gw_seq); /* oid = gw_seq for sales */
    replica_bind_text(r, RS_OUTBOX_INS, 2, "sale");
    replica_bind_int(r, RS_OUTBOX_INS, 3, gw_seq);
    replica_bind_text(r, RS_OUTBOX_INS, 4, record);
    rc = replica_exec(r, RS_OUTBOX_INS);
    if (rc)
        goto out;
    replica_bind_text(r, RS_REG_UPSERT, 1, s->reg);
    replica_bind_int(r, RS_REG_UPSERT, 2, s->seq);
    replica_bind_int(r, RS_REG_UPSERT, 3, now_ms);
    rc = replica_exec(r, RS_REG_UPSERT);
    if (rc)
        goto out;
    in->gw_head = gw_seq;
    in->n_new++;
    *gw_seq_out = gw_seq;
out:
    free(record);
    return rc;
}

int ingest_sale(struct ingest *in, const char *topic, const char *payload, size_t len,
                size_t orig_len, int64_t now_ms)
{
    char store[P4T_ID_MAX + 1], reg[P4T_ID_MAX + 1], reason[P4T_REASON_MAX];
    enum p4t_local kind;
    struct p4t_sale *s = &in->sale;
    int64_t gw_seq = 0;
    int rc;

    if (p4t_topic_parse_local(topic, &kind, store, reg) != 0 || kind != P4T_L_SALE ||
        strcmp(store, in->cfg->store) != 0) {
        /* Our subscription cannot deliver this; nobody to answer. */
        p4_warn("message on unexpected topic ignored topic=%s", topic);
        return P4GW_OK;
    }
    if (orig_len > P4T_MAX_PAYLOAD) {
        snprintf(reason, sizeof(reason), "payload too large: %zu bytes (max %d)", orig_len,
                 P4T_MAX_PAYLOAD);
        return reject_sale(in, topic, reg, payload, len, reason, now_ms);
    }
    rc = p4t_sale_decode(payload, len, s, reason, sizeof(reason));
    if (rc) {
        if (reason[0] == '\0')
            snprintf(reason, sizeof(reason), "undecodable sale (code %d)", rc);
        return reject_sale(in, topic, reg, payload, len, reason, now_ms);
    }
    if (strcmp(s->store, in->cfg->store) != 0) {
        snprintf(reason, sizeof(reason), "store: \"%s\" does not match the topic's store \"%s\"",
                 s->store, store);
        return reject_sale(in, topic, reg, payload, len, reason, now_ms);
    }
    if (strcmp(s->reg, reg) != 0) {
        snprintf(reason, sizeof(reason), "reg: \"%s\" does not match the topic's register \"%s\"",
                 s->reg, reg);
        return reject_sale(in, topic, reg, payload, len, reason, now_ms);
    }
    /* Dedupe sees rows of the open transaction too, so a resend in the same group is a
     * duplicate of the first copy. */
    replica_bind_text(in->r, RS_SALE_BY_ID, 1, s->id);
    rc = replica_row(in->r, RS_SALE_BY_ID);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        gw_seq = sqlite3_column_int64(in->r->st[RS_SALE_BY_ID], 0);
        replica_reset(in->r, RS_SALE_BY_ID);
        in->n_dup++;
        p4_debug("sale duplicate id=%s gw_seq=%" PRId64, s->id, gw_seq);
        return queue_ack(in, reg, s->id, s->seq, P4T_ACK_DUPLICATE, gw_seq, NULL);
    }
    rc = apply_sale(in, s, payload, len, now_ms, &gw_seq);
    if (rc)
        return rc;
    in->n_ok++;
    p4_debug("sale accepted id=%s reg=%s seq=%" PRId64 " gw_seq=%" PRId64, s->id, s->reg, s->seq,
             gw_seq);
    return queue_ack(in, reg, s->id, s->seq, P4T_ACK_OK, gw_seq, NULL);
}
