/* SPDX-License-Identifier: Apache-2.0 */
/* The worker thread: the link's state, its messages, then what is due (sync, holds, sales). */
#include "term.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "p4common.h"

/* Idle wake-up, so a lost wake-up can never stall the worker for long. */
#define IDLE_WAKE_MS 1000

static void set_up(struct p4term *t, bool up)
{
    struct p4term_event ev = {0};
    bool changed;

    pthread_mutex_lock(&t->mu);
    changed = t->up != up;
    t->up = up;
    term_reachable_update_locked(t);
    pthread_mutex_unlock(&t->mu);
    if (!changed)
        return;
    ev.kind = P4TERM_EV_LINK;
    ev.link_up = up;
    term_emit(t, &ev);
}

void *worker_main(void *arg)
{
    struct p4term *t = arg;
    int64_t next_wake_ms = p4_mono_ms();

    for (;;) {
        struct link_msg m;
        enum link_state st;
        uint64_t gen = 0;
        int64_t now;
        bool kick;

        pthread_mutex_lock(&t->mu);
        while (!t->wake && !t->stop) {
            struct timespec until;
            int64_t wait_ms = next_wake_ms - p4_mono_ms();

            if (wait_ms <= 0)
                break;
            term_deadline(&until, wait_ms);
            if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT)
                break;
        }
        t->wake = false;
        kick = t->kick;
        t->kick = false;
        if (t->stop) {
            pthread_mutex_unlock(&t->mu);
            break;
        }
        pthread_mutex_unlock(&t->mu);

        now = p4_mono_ms();
        st = link_state(t->link, &gen);
        if (st == LINK_UP && gen != t->seen_gen) {
            /* Freshly connected and subscribed: everything pending goes again, in order. */
            t->seen_gen = gen;
            t->reconnect_backoff_ms = RECONNECT_MIN_MS;
            /* Paho leaves Nagle on: a sale would wait ~40 ms behind our PUBACK of the last
             * ack for the broker's delayed ACK. A new connection is a new socket. */
            p4_tcp_nodelay_uri(t->broker_uri);
            window_reset_dues(t);
            sync_restart(t);
            t->signup_due_ms = 0; /* unacknowledged sign-ups go again on a new connection */
            t->signup_backoff_ms = 0;
            t->gw_state[0] = '\0';
            set_up(t, true);
        } else if (st != LINK_UP) {
            set_up(t, false);
            sync_forget(t);
            t->sync_active = false;
            if (st == LINK_DOWN && now >= t->next_connect_ms) {
                link_connect(t->link);
                t->next_connect_ms = now + t->reconnect_backoff_ms;
                t->reconnect_backoff_ms *= 2;
                if (t->reconnect_backoff_ms > RECONNECT_MAX_MS)
                    t->reconnect_backoff_ms = RECONNECT_MAX_MS;
            }
        }
        for (int i = 0; i < DRAIN_MAX && link_pop(t->link, &m); i++) {
            handlers_dispatch(t, &m);
            link_msg_cleanup(&m);
        }
        handlers_flush_acks(t);
        if (kick) {
            window_reset_dues(t);
            sync_restart(t);
        }
        now = p4_mono_ms();
        next_wake_ms = now + IDLE_WAKE_MS;
        if (st == LINK_UP) {
            sync_tick(t, now, &next_wake_ms);
            holds_send(t);
            customers_send(t, now, &next_wake_ms);
            window_refill(t);
            window_send(t, now);
            for (size_t i = 0; i < t->n_win; i++) {
                if (t->win[i].next_due_ms < next_wake_ms)
                    next_wake_ms = t->win[i].next_due_ms;
            }
        } else if (st == LINK_DOWN && t->next_connect_ms < next_wake_ms) {
            next_wake_ms = t->next_connect_ms;
        }
    }
    return NULL;
}
