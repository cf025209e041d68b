/* SPDX-License-Identifier: Apache-2.0 */
/* The open group transaction's context: what sales, hold requests, loyalty entries and HQ's
 * downlink applied in it leave to publish after its COMMIT (acks, alerts, change rows) and
 * what it counts once committed; alerts and rejects stored inside it. */
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

int group_init(struct group *grp, struct replica *r, const struct p4gw_config *cfg)
{
    memset(grp, 0, sizeof(*grp));
    grp->r = r;
    grp->cfg = cfg;
    return group_begin(grp);
}

void group_cleanup(struct group *grp)
{
    change_list_free(&grp->changes);
    out_list_clear(&grp->acks);
    free(grp->acks.items);
    grp->acks.items = NULL;
    grp->acks.cap = 0;
    out_list_clear(&grp->alerts);
    free(grp->alerts.items);
    grp->alerts.items = NULL;
    grp->alerts.cap = 0;
    out_list_clear(&grp->deferred);
    free(grp->deferred.items);
    grp->deferred.items = NULL;
    grp->deferred.cap = 0;
}

int group_begin(struct group *grp)
{
    int rc;

    change_list_truncate(&grp->changes, 0);
    out_list_clear(&grp->alerts);
    grp->n_new = 0;
    grp->txn_ok = grp->txn_dup = grp->txn_rej = grp->txn_alerts = 0;
    rc = replica_int(grp->r, RS_SALES_HEAD, 0, &grp->gw_head);
    if (rc == 0)
        rc = replica_int(grp->r, RS_CHANGE_HEAD, 0, &grp->change_head);
    grp->gw_head_begin = grp->gw_head;
    grp->change_head_begin = grp->change_head;
    return rc;
}

void group_abort(struct group *grp)
{
    out_list_clear(&grp->acks);
    out_list_clear(&grp->alerts);
    change_list_truncate(&grp->changes, 0);
    grp->n_new = 0;
    grp->txn_ok = grp->txn_dup = grp->txn_rej = grp->txn_alerts = 0;
    grp->gw_head = grp->gw_head_begin;
    grp->change_head = grp->change_head_begin;
}

void group_done(struct group *grp)
{
    out_list_clear(&grp->acks);
    out_list_clear(&grp->alerts);
    change_list_truncate(&grp->changes, 0);
    grp->n_new = 0;
    grp->n_ok += grp->txn_ok;
    grp->n_dup += grp->txn_dup;
    grp->n_rej += grp->txn_rej;
    grp->n_alerts += grp->txn_alerts;
    grp->txn_ok = grp->txn_dup = grp->txn_rej = grp->txn_alerts = 0;
    grp->gw_head_begin = grp->gw_head;
    grp->change_head_begin = grp->change_head;
}

int group_store_alert(struct group *grp, char *text)
{
    struct replica *r = grp->r;
    int rc;

    /* Through the outbox, like sales: it reaches HQ even after a WAN outage or a restart. */
    replica_bind_text(r, RS_OUTBOX_INS, 1, "alert");
    replica_bind_text(r, RS_OUTBOX_INS, 2, NULL);
    replica_bind_text(r, RS_OUTBOX_INS, 3, text);
    rc = replica_exec(r, RS_OUTBOX_INS);
    if (rc) {
        free(text);
        return rc;
    }
    grp->n_new++;
    grp->txn_alerts++;
    if (grp->alerts.n >= P4GW_GROUP_ALERTS_MAX) {
        free(text);
        return P4GW_OK;
    }
    return out_list_push(&grp->alerts, "", text);
}

int group_alert(struct group *grp, struct p4t_alert *a, const char *key)
{
    char *text = NULL;

    snprintf(a->store, sizeof(a->store), "%s", grp->cfg->store);
    p4_format_ts(p4_now_ms(), a->ts);
    if (p4t_alert_id(a->kind, a->store, key, a->id) != 0 || p4t_alert_encode(a, &text) != 0) {
        /* Our own fields broke the contract: a bug, but never a reason to lose the sale. */
        p4_error("alert not encodable kind=%s key=%s", a->kind, key);
        return P4GW_OK;
    }
    p4_warn("alert kind=%s id=%s sku=%s message=\"%s\"", a->kind, a->id, a->sku, a->message);
    if (grp->defer_alerts)
        return out_list_push(&grp->deferred, "", text);
    return group_store_alert(grp, text);
}

int group_reject(struct group *grp, const char *topic, const char *payload, size_t len,
                  const char *reason, int64_t now_ms)
{
    struct replica *r = grp->r;

    replica_bind_text(r, RS_REJECT_INS, 1, topic);
    replica_bind_blob(r, RS_REJECT_INS, 2, payload, len);
    replica_bind_text(r, RS_REJECT_INS, 3, reason);
    replica_bind_int(r, RS_REJECT_INS, 4, now_ms);
    return replica_exec(r, RS_REJECT_INS);
}
