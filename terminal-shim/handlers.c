/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's handlers of messages from the store broker: acks, changes, alerts, status. */
#include "term.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "p4common.h"

void handlers_keep_reject(struct p4term *t, const struct link_msg *m, const char *reason)
{
    p4_warn("message rejected topic=%s reason=\"%s\"", m->topic, reason);
    pthread_mutex_lock(&t->db_mu);
    journal_keep_reject(t->j, m->topic, m->payload, m->len, reason, p4_now_ms());
    pthread_mutex_unlock(&t->db_mu);
}

void handlers_flush_acks(struct p4term *t)
{
    struct p4term_sale_info info[DRAIN_MAX];
    bool changed[DRAIN_MAX];
    int64_t now_ms = p4_now_ms();
    int rc;

    if (t->n_acks == 0)
        return;
    pthread_mutex_lock(&t->db_mu);
    rc = journal_begin(t->j);
    for (size_t i = 0; i < t->n_acks && rc == 0; i++) {
        const struct p4t_ack *a = &t->acks[i].ack;
        bool rejected = a->status == P4T_ACK_REJECTED;

        rc = journal_mark(t->j, a->id, rejected ? P4TERM_REJECTED : P4TERM_ACKED, a->gw_seq,
                          a->status == P4T_ACK_DUPLICATE, a->reason, now_ms, &changed[i],
                          &info[i]);
    }
    if (rc == 0)
        rc = journal_commit(t->j);
    if (rc)
        journal_rollback(t->j);
    pthread_mutex_unlock(&t->db_mu);
    if (rc) {
        /* Not recorded: the sales stay pending, are resent and acked "duplicate" later. */
        t->n_acks = 0;
        return;
    }
    for (size_t i = 0; i < t->n_acks; i++) {
        const struct p4t_ack *a = &t->acks[i].ack;
        struct p4term_event ev = {0};

        window_remove(t, a->id);
        if (!changed[i])
            continue;
        ev.sale_id = a->id;
        ev.seq = info[i].seq;
        if (a->status == P4T_ACK_REJECTED) {
            p4_warn("sale rejected by gateway id=%s seq=%lld reason=\"%s\"", a->id,
                    (long long)info[i].seq, a->reason);
            ev.kind = P4TERM_EV_REJECT;
            ev.reason = a->reason;
        } else {
            ev.kind = P4TERM_EV_ACK;
            ev.gw_seq = a->gw_seq;
            ev.duplicate = a->status == P4T_ACK_DUPLICATE;
            ev.latency_ms = now_ms - info[i].created_ms;
        }
        term_emit(t, &ev);
    }
    t->n_acks = 0;
}

static void handle_ack(struct p4term *t, const struct link_msg *m)
{
    struct p4t_ack a;
    char reason[P4T_REASON_MAX];

    if (p4t_ack_decode(m->payload, m->len, &a, reason, sizeof(reason)) != 0) {
        handlers_keep_reject(t, m, reason);
        return;
    }
    if (a.id[0] == '\0') {
        /* The gateway could not read an id out of something published on our topic. */
        p4_warn("gateway rejected a message without a readable id reason=\"%s\"", a.reason);
        return;
    }
    t->last_ack_ms = p4_mono_ms();
    if (t->n_acks == DRAIN_MAX)
        handlers_flush_acks(t);
    t->acks[t->n_acks++].ack = a;
}

static void handle_changes(struct p4term *t, const struct link_msg *m)
{
    struct p4t_changes ch;
    char reason[P4T_REASON_MAX];
    enum cache_result res = CACHE_STALE;
    int64_t lo = 0, hi = 0;
    int rc;

    if (p4t_changes_decode(m->payload, m->len, &ch, reason, sizeof(reason)) != 0) {
        handlers_keep_reject(t, m, reason);
        return;
    }
    if (ch.snapshot || ch.is_reply) {
        handlers_keep_reject(t, m, "a sync reply on the store-wide changes topic");
        p4t_changes_cleanup(&ch);
        return;
    }
    pthread_mutex_lock(&t->db_mu);
    rc = cache_apply(t->c, &ch, false, &res, &lo, &hi);
    pthread_mutex_unlock(&t->db_mu);
    if (rc == 0 && res == CACHE_GAP && !t->sync_active) {
        p4_info("change gap seen from=%lld, syncing", (long long)ch.from);
        t->sync_needed = true;
    }
    if (rc == 0 && res == CACHE_APPLIED)
        term_emit_changes(t, &ch, lo, hi);
    p4t_changes_cleanup(&ch);
}

static void handle_alert(struct p4term *t, const struct link_msg *m)
{
    struct p4t_alert a;
    char reason[P4T_REASON_MAX];
    struct p4term_event ev = {0};

    if (p4t_alert_decode(m->payload, m->len, &a, reason, sizeof(reason)) != 0) {
        handlers_keep_reject(t, m, reason);
        return;
    }
    ev.kind = P4TERM_EV_ALERT;
    ev.alert = &a;
    term_emit(t, &ev);
}

/* Two copies until HQ (contract 1.2, 5.4): drops the held sales HQ's watermark covers, and
 * when the status names a replica epoch other than the one our held sales were acked by (a
 * replaced or restored gateway, which may not hold them), makes them pending again so they
 * are sent to it. A database failure leaves the journal as it was: the next status retries. */
static void hold_update(struct p4term *t, const struct p4t_status *s)
{
    int64_t epoch = 0, seen = 0, pruned = 0, repended = 0;
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = journal_begin(t->j);
    if (!rc)
        rc = journal_meta_get(t->j, "gw_epoch", &epoch);
    if (!rc)
        rc = journal_meta_get(t->j, "hq_seen", &seen);
    if (!rc && s->has_hq_through) {
        rc = journal_prune_held(t->j, s->hq_through, p4_now_ms() - t->keep_acked_ms, &pruned);
        if (!rc && !seen)
            rc = journal_meta_set(t->j, "hq_seen", 1);
    }
    if (!rc && s->epoch > 0 && s->epoch != epoch) {
        /* Only a gateway that waits for HQ makes the register keep sales after the ack; one
         * that does not (no hq_through) owns them once acked, and they are not sent again. */
        if (epoch != 0 && s->has_hq_through)
            rc = journal_repend_held(t->j, &repended);
        if (!rc)
            rc = journal_meta_set(t->j, "gw_epoch", s->epoch);
    }
    if (!rc)
        rc = journal_commit(t->j);
    if (rc)
        journal_rollback(t->j);
    pthread_mutex_unlock(&t->db_mu);
    if (rc)
        return;
    if (pruned)
        p4_debug("journal pruned sales_at_hq=%lld hq_through=%lld", (long long)pruned,
                 (long long)s->hq_through);
    if (repended > 0 || (s->epoch > 0 && s->epoch != epoch && epoch != 0 && s->has_hq_through)) {
        p4_info("gateway replica changed epoch=%lld was=%lld: resending held sales=%lld",
                (long long)s->epoch, (long long)epoch, (long long)repended);
        /* The window only loads rows after the newest it loaded: start over. */
        window_clear(t);
        t->last_loaded_lid = 0;
        window_refill(t);
        window_reset_dues(t);
    }
}

static void handle_status(struct p4term *t, const struct link_msg *m)
{
    struct p4t_status s;
    char reason[P4T_REASON_MAX];
    bool came_up;

    if (m->len == 0)
        return; /* a cleared retained status */
    if (p4t_status_decode(m->payload, m->len, &s, reason, sizeof(reason)) != 0) {
        handlers_keep_reject(t, m, reason);
        return;
    }
    if (s.epoch > 0 || s.has_hq_through)
        hold_update(t, &s);
    came_up = strcmp(s.state, "offline") != 0 &&
              (strcmp(t->gw_state, "offline") == 0 || (t->gw_state[0] == '\0' && !m->retained));
    pthread_mutex_lock(&t->mu);
    snprintf(t->gw_state, sizeof(t->gw_state), "%s", s.state);
    term_reachable_update_locked(t);
    pthread_mutex_unlock(&t->mu);
    if (came_up) {
        /* The gateway is (back) up: whatever we sent while it was away went nowhere, and it
         * may have changes we never saw (a stock import while it was stopped). A retained
         * "online" seen at subscribe time is not news: the link-up already resent and synced.*/
        p4_info("gateway back state=%s, resending and syncing", s.state);
        window_reset_dues(t);
        sync_restart(t);
    }
}

void handlers_dispatch(struct p4term *t, const struct link_msg *m)
{
    if (strcmp(m->topic, t->t_ack) == 0)
        handle_ack(t, m);
    else if (strcmp(m->topic, t->t_changes) == 0)
        handle_changes(t, m);
    else if (strcmp(m->topic, t->t_reply) == 0)
        sync_handle_reply(t, m);
    else if (strcmp(m->topic, t->t_alert) == 0)
        handle_alert(t, m);
    else if (strcmp(m->topic, t->t_status) == 0)
        handle_status(t, m);
    else if (strcmp(m->topic, t->t_hold_reply) == 0)
        holds_handle_reply(t, m);
    else if (strcmp(m->topic, t->t_customer_ack) == 0)
        customers_handle_ack(t, m);
    else
        p4_debug("message on an unexpected topic ignored topic=%s", m->topic);
}
