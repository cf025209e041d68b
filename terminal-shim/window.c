/* SPDX-License-Identifier: Apache-2.0 */
/* The send window: pending sales published in seq order, resent until their ack. */
#include "term.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

static int64_t resend_delay_ms(const struct p4term *t, int attempts)
{
    int64_t d = t->ack_timeout_ms;

    for (int i = 1; i < attempts && d < t->resend_max_ms; i++)
        d *= 2;
    return d < t->resend_max_ms ? d : t->resend_max_ms;
}

void window_reset_dues(struct p4term *t)
{
    for (size_t i = 0; i < t->n_win; i++) {
        t->win[i].next_due_ms = 0;
        t->win[i].attempts = 0;
    }
}

/* Drops acked sale ID from the window, noting when it was sent: a pending sale sent before it
 * has most likely lost its ack (the gateway answers a register's sales in order). */
void window_remove(struct p4term *t, const char *id)
{
    for (size_t i = 0; i < t->n_win; i++) {
        if (strcmp(t->win[i].id, id) != 0)
            continue;
        if (t->win[i].sent_ms > t->acked_sent_ms)
            t->acked_sent_ms = t->win[i].sent_ms;
        free(t->win[i].payload);
        memmove(&t->win[i], &t->win[i + 1], (t->n_win - i - 1) * sizeof(t->win[0]));
        t->n_win--;
        return;
    }
}

void window_clear(struct p4term *t)
{
    for (size_t i = 0; i < t->n_win; i++)
        free(t->win[i].payload);
    t->n_win = 0;
}

/* Loads the next pending, numbered sales after the newest one in the window. */
void window_refill(struct p4term *t)
{
    struct journal_row rows[64];
    size_t room = WINDOW_MAX - t->n_win, n = 0;
    int rc;

    if (room == 0)
        return;
    if (room > sizeof(rows) / sizeof(rows[0]))
        room = sizeof(rows) / sizeof(rows[0]);
    pthread_mutex_lock(&t->db_mu);
    rc = journal_pending_after(t->j, t->last_loaded_lid, true, rows, room, &n);
    pthread_mutex_unlock(&t->db_mu);
    if (rc)
        return;
    for (size_t i = 0; i < n; i++) {
        struct pend *p = &t->win[t->n_win++];

        memset(p, 0, sizeof(*p));
        p->lid = rows[i].lid;
        memcpy(p->id, rows[i].id, sizeof(p->id));
        p->seq = rows[i].seq;
        p->payload = rows[i].payload; /* ownership moves to the window */
        p->len = rows[i].payload_len;
        t->last_loaded_lid = rows[i].lid;
    }
}

/* Publishes every due sale in seq order; stops at the first refusal (the link is going). */
void window_send(struct p4term *t, int64_t now)
{
    for (size_t i = 0; i < t->n_win; i++) {
        struct pend *p = &t->win[i];

        if (p->next_due_ms > now)
            continue;
        if (p->attempts > 0 && now - t->last_ack_ms < t->ack_timeout_ms &&
            now - p->sent_ms < t->resend_max_ms && p->sent_ms >= t->acked_sent_ms) {
            /* Acks are flowing and none came for anything sent after this one, so the
             * gateway is alive and just behind: a resend now would only add to its queue (a
             * retry storm under load). Wait longer for this one. When a later send was acked
             * instead, this one's ack was lost and it goes again now. Look again after
             * another ack_timeout_ms: by then a later ack may show this one lost. */
            p->next_due_ms = now + t->ack_timeout_ms;
            if (p->next_due_ms > p->sent_ms + t->resend_max_ms)
                p->next_due_ms = p->sent_ms + t->resend_max_ms;
            continue;
        }
        if (link_publish(t->link, t->t_sale, p->payload, p->len) != 0) {
            p->next_due_ms = now + 200;
            return;
        }
        p->attempts++;
        p->sent_ms = now;
        p->next_due_ms = now + resend_delay_ms(t, p->attempts);
        if (p->attempts > 1)
            p4_debug("sale resent id=%s seq=%lld attempt=%d", p->id, (long long)p->seq,
                     p->attempts);
    }
}
