/* SPDX-License-Identifier: Apache-2.0 */
/* Stock holds (contract 5.6): with negative_stock = hold a register reserves units before it
 * completes a sale, so two registers cannot both be granted the last unit. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "p4common.h"

static int push_reply(struct group *grp, const char *reg, const struct p4t_hold_reply *rep,
                      char **text_out)
{
    char topic[P4T_TOPIC_MAX];
    char *text = NULL;
    int rc;

    rc = p4t_topic_local(topic, sizeof(topic), P4T_L_HOLD_REPLY, grp->cfg->store, reg);
    if (rc == 0)
        rc = p4t_hold_reply_encode(rep, &text);
    if (rc) {
        p4_warn("hold reply not encodable reg=%s hold=%s", reg, rep->hold);
        return P4GW_OK;
    }
    if (text_out) {
        *text_out = strdup(text);
        if (!*text_out) {
            free(text);
            return P4GW_ENOMEM;
        }
    }
    return out_list_push(&grp->acks, topic, text);
}

/* Reads req_id and hold from an invalid request, when they are usable, to answer it. */
static bool peek_ids(const char *payload, size_t len, char *req_id, char *hold)
{
    cJSON *root = cJSON_ParseWithLength(payload, len);
    const cJSON *q, *h;
    bool ok = false;

    if (!root)
        return false;
    q = cJSON_GetObjectItemCaseSensitive(root, "req_id");
    h = cJSON_GetObjectItemCaseSensitive(root, "hold");
    if (cJSON_IsString(q) && cJSON_IsString(h) && strlen(q->valuestring) >= 1 &&
        strlen(q->valuestring) <= P4T_ID_MAX && strlen(h->valuestring) >= 1 &&
        strlen(h->valuestring) <= P4T_OBJ_ID_MAX) {
        ok = true;
        for (const char *p = q->valuestring; *p && ok; p++)
            ok = *p >= 0x21 && *p <= 0x7e;
        for (const char *p = h->valuestring; *p && ok; p++)
            ok = *p >= 0x21 && *p <= 0x7e;
    }
    if (ok) {
        snprintf(req_id, P4T_ID_MAX + 1, "%s", q->valuestring);
        snprintf(hold, P4T_OBJ_ID_MAX + 1, "%s", h->valuestring);
    }
    cJSON_Delete(root);
    return ok;
}

static int delete_hold(struct replica *r, const char *reg, const char *hold)
{
    int rc;

    replica_bind_text(r, RS_HOLD_LINES_DEL, 1, reg);
    replica_bind_text(r, RS_HOLD_LINES_DEL, 2, hold);
    rc = replica_exec(r, RS_HOLD_LINES_DEL);
    if (rc)
        return rc;
    replica_bind_text(r, RS_HOLD_DEL, 1, reg);
    replica_bind_text(r, RS_HOLD_DEL, 2, hold);
    return replica_exec(r, RS_HOLD_DEL);
}

/* Grants each line min(qty, on_hand - units in other live holds) and records the grant
 * before the reply leaves (the reply is published after the commit). */
static int grant(struct group *grp, const char *reg, const struct p4t_hold_req *req,
                 int64_t now_ms, struct p4t_hold_reply *rep)
{
    struct replica *r = grp->r;
    bool reserve = grp->cfg->negative_stock_hold;
    size_t rlen = 0;
    char *text = NULL;
    int rc;

    rc = delete_hold(r, reg, req->hold); /* a repeated hold id replaces the old one */
    if (rc)
        return rc;
    rep->expires_ms = now_ms + req->ttl_ms;
    for (size_t i = 0; i < req->n_lines; i++) {
        const struct p4t_hold_line *l = &req->lines[i];
        int64_t on_hand = 0, count_at, held = 0, avail, g = l->qty;

        if (reserve) {
            rc = stock_get(r, l->sku, &on_hand, &count_at, NULL);
            if (rc)
                return rc;
            replica_bind_text(r, RS_HOLD_HELD, 1, l->sku);
            replica_bind_int(r, RS_HOLD_HELD, 2, now_ms);
            replica_bind_text(r, RS_HOLD_HELD, 3, reg);
            replica_bind_text(r, RS_HOLD_HELD, 4, req->hold);
            rc = replica_int(r, RS_HOLD_HELD, 0, &held);
            if (rc)
                return rc;
            avail = on_hand - held > 0 ? on_hand - held : 0;
            g = l->qty < avail ? l->qty : avail;
            if (g > 0) {
                replica_bind_text(r, RS_HOLD_LINE_INS, 1, reg);
                replica_bind_text(r, RS_HOLD_LINE_INS, 2, req->hold);
                replica_bind_text(r, RS_HOLD_LINE_INS, 3, l->sku);
                replica_bind_int(r, RS_HOLD_LINE_INS, 4, g);
                rc = replica_exec(r, RS_HOLD_LINE_INS);
                if (rc)
                    return rc;
            }
        }
        snprintf(rep->granted[i].sku, sizeof(rep->granted[i].sku), "%s", l->sku);
        rep->granted[i].qty = g;
        if (g < l->qty && rlen + 1 < sizeof(rep->reason)) {
            int n = snprintf(rep->reason + rlen, sizeof(rep->reason) - rlen,
                             "%s%.64s: %" PRId64 " of %" PRId64 " available", rlen ? "; " : "",
                             l->sku, g, l->qty);

            if (n < 0 || (size_t)n >= sizeof(rep->reason) - rlen) {
                /* Cut at a whole entry: the reason is text for people. */
                rep->reason[rlen] = '\0';
                rlen = sizeof(rep->reason);
            } else {
                rlen += (size_t)n;
            }
        }
    }
    rep->n_granted = req->n_lines;
    if (!reserve)
        return push_reply(grp, reg, rep, NULL);
    rc = push_reply(grp, reg, rep, &text);
    if (rc)
        return rc;
    replica_bind_text(r, RS_HOLD_SET, 1, reg);
    replica_bind_text(r, RS_HOLD_SET, 2, req->hold);
    replica_bind_text(r, RS_HOLD_SET, 3, req->req_id);
    replica_bind_int(r, RS_HOLD_SET, 4, rep->expires_ms);
    replica_bind_text(r, RS_HOLD_SET, 5, text);
    rc = replica_exec(r, RS_HOLD_SET);
    free(text);
    p4_info("hold granted reg=%s hold=%s lines=%zu reason=\"%s\"", reg, req->hold,
            req->n_lines, rep->reason);
    return rc;
}

int holds_request(struct group *grp, const char *topic, const char *payload, size_t len,
                  size_t orig_len, int64_t now_ms)
{
    struct p4t_hold_req *req = &grp->hold_req;
    struct p4t_hold_reply *rep = &grp->hold_reply;
    struct replica *r = grp->r;
    char store[P4T_ID_MAX + 1], reg[P4T_ID_MAX + 1], reason[P4T_REASON_MAX] = "";
    enum p4t_local kind;
    int rc;

    if (p4t_topic_parse_local(topic, &kind, store, reg) != 0 || kind != P4T_L_HOLD ||
        strcmp(store, grp->cfg->store) != 0)
        return P4GW_OK;
    memset(rep, 0, sizeof(*rep));
    if (orig_len > P4T_MAX_PAYLOAD)
        snprintf(reason, sizeof(reason), "payload too large: %zu bytes (max %d)", orig_len,
                 P4T_MAX_PAYLOAD);
    else if (p4t_hold_req_decode(payload, len, req, reason, sizeof(reason)) != 0 && !reason[0])
        snprintf(reason, sizeof(reason), "payload: not a hold request");
    if (reason[0]) {
        p4_warn("hold request rejected reg=%s reason=\"%s\"", reg, reason);
        rc = group_reject(grp, topic, payload, len, reason, now_ms);
        if (rc || !peek_ids(payload, len, rep->req_id, rep->hold))
            return rc;
        snprintf(rep->reason, sizeof(rep->reason), "%s", reason);
        rep->expires_ms = now_ms;
        return push_reply(grp, reg, rep, NULL);
    }
    snprintf(rep->req_id, sizeof(rep->req_id), "%s", req->req_id);
    snprintf(rep->hold, sizeof(rep->hold), "%s", req->hold);
    if (req->release) {
        rc = delete_hold(r, reg, req->hold);
        if (rc)
            return rc;
        rep->expires_ms = now_ms;
        p4_info("hold released reg=%s hold=%s", reg, req->hold);
        return push_reply(grp, reg, rep, NULL);
    }
    /* A redelivered request (same req_id, hold still live) gets the same reply. */
    replica_bind_text(r, RS_HOLD_GET, 1, reg);
    replica_bind_text(r, RS_HOLD_GET, 2, req->hold);
    rc = replica_row(r, RS_HOLD_GET);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        sqlite3_stmt *st = r->st[RS_HOLD_GET];
        const char *old_req = (const char *)sqlite3_column_text(st, 0);
        const char *old_reply = (const char *)sqlite3_column_text(st, 2);
        int64_t expires = sqlite3_column_int64(st, 1);
        char *copy = NULL;

        if (old_req && old_reply && strcmp(old_req, req->req_id) == 0 && expires > now_ms)
            copy = strdup(old_reply);
        replica_reset(r, RS_HOLD_GET);
        if (copy) {
            char t[P4T_TOPIC_MAX];

            if (p4t_topic_local(t, sizeof(t), P4T_L_HOLD_REPLY, grp->cfg->store, reg) != 0) {
                free(copy);
                return P4GW_OK;
            }
            return out_list_push(&grp->acks, t, copy);
        }
    }
    return grant(grp, reg, req, now_ms, rep);
}

int holds_consume(struct group *grp, const char *reg, const char *hold)
{
    /* An unknown or expired hold is simply gone: the sale never depends on it. */
    return delete_hold(grp->r, reg, hold);
}

int holds_expire(struct group *grp, int64_t now_ms)
{
    struct replica *r = grp->r;
    char regs[P4GW_HOLDS_EXPIRE_BATCH][P4T_ID_MAX + 1];
    char holds[P4GW_HOLDS_EXPIRE_BATCH][P4T_OBJ_ID_MAX + 1];
    int n = 0, rc;

    /* The query's LIMIT is the arrays' size: one number, here. */
    replica_bind_int(r, RS_HOLD_EXPIRED, 1, now_ms);
    replica_bind_int(r, RS_HOLD_EXPIRED, 2, P4GW_HOLDS_EXPIRE_BATCH);
    for (;;) {
        const char *reg, *hold;

        rc = replica_row(r, RS_HOLD_EXPIRED);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        reg = (const char *)sqlite3_column_text(r->st[RS_HOLD_EXPIRED], 0);
        hold = (const char *)sqlite3_column_text(r->st[RS_HOLD_EXPIRED], 1);
        if (reg && hold && n < P4GW_HOLDS_EXPIRE_BATCH) {
            snprintf(regs[n], sizeof(regs[0]), "%s", reg);
            snprintf(holds[n], sizeof(holds[0]), "%s", hold);
            n++;
        }
    }
    for (int i = 0; i < n; i++) {
        rc = delete_hold(r, regs[i], holds[i]);
        if (rc)
            return rc;
        p4_info("hold expired reg=%s hold=%s", regs[i], holds[i]);
    }
    return n;
}
