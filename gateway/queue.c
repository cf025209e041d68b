/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded multi-producer queue: Paho callbacks push, the core thread pops (mutex + condvar). */
#include "p4gw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p4common.h"

struct event *event_new(enum ev_type type)
{
    struct event *ev = calloc(1, sizeof(*ev));

    if (ev)
        ev->type = type;
    return ev;
}

void event_free(struct event *ev)
{
    while (ev) {
        struct event *next = ev->next;

        free(ev->topic);
        free(ev->payload);
        free(ev);
        ev = next;
    }
}

int p4gw_cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    int rc;

    rc = pthread_condattr_init(&attr);
    if (rc == 0)
        rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
    if (rc)
        errno = rc;
    return rc ? P4GW_ENOMEM : P4GW_OK;
}

int queue_init(struct queue *q, size_t max_msgs, size_t max_bytes)
{
    memset(q, 0, sizeof(*q));
    q->max_msgs = max_msgs;
    q->max_bytes = max_bytes;
    if (pthread_mutex_init(&q->mu, NULL) != 0)
        return P4GW_ENOMEM;
    /* Timed waits on the monotonic clock: a wall-clock jump must not stall the core loop. */
    if (p4gw_cond_init_mono(&q->cv) != 0) {
        pthread_mutex_destroy(&q->mu);
        return P4GW_ENOMEM;
    }
    return P4GW_OK;
}

void queue_cleanup(struct queue *q)
{
    event_free(q->head);
    q->head = q->tail = NULL;
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

int queue_push(struct queue *q, struct event *ev)
{
    bool msg = ev->type == EV_LOCAL_MSG || ev->type == EV_CLOUD_MSG;
    int rc = P4GW_OK;

    ev->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (msg && (q->n_msgs >= q->max_msgs || q->n_bytes + ev->len > q->max_bytes)) {
        /* A store message is gone (its register resends it); a cloud one is only put off:
         * link_on_message returns 0 and Paho offers it again, so it is no drop. */
        if (ev->type == EV_LOCAL_MSG)
            q->dropped++;
        else
            q->deferred++;
        rc = P4GW_EFULL;
        goto out;
    }
    if (q->tail)
        q->tail->next = ev;
    else
        q->head = ev;
    q->tail = ev;
    if (msg) {
        q->n_msgs++;
        q->n_bytes += ev->len;
    }
    pthread_cond_signal(&q->cv);
out:
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void queue_pop(struct queue *q, size_t max_msgs, int timeout_ms, struct event **out)
{
    struct event *first, *last = NULL, *ev;
    size_t n = 0;
    struct timespec deadline;

    *out = NULL;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->mu);
    while (!q->head) {
        if (pthread_cond_timedwait(&q->cv, &q->mu, &deadline) == ETIMEDOUT)
            break;
    }
    first = q->head;
    for (ev = q->head; ev; ev = ev->next) {
        if (ev->type == EV_LOCAL_MSG || ev->type == EV_CLOUD_MSG) {
            if (n == max_msgs)
                break;
            n++;
            q->n_msgs--;
            q->n_bytes -= ev->len;
        }
        last = ev;
    }
    if (last) {
        q->head = last->next;
        if (!q->head)
            q->tail = NULL;
        last->next = NULL;
        *out = first;
    }
    pthread_mutex_unlock(&q->mu);
}

bool queue_empty(struct queue *q)
{
    bool empty;

    pthread_mutex_lock(&q->mu);
    empty = q->head == NULL;
    pthread_mutex_unlock(&q->mu);
    return empty;
}

uint64_t queue_dropped(struct queue *q)
{
    uint64_t n;

    pthread_mutex_lock(&q->mu);
    n = q->dropped;
    pthread_mutex_unlock(&q->mu);
    return n;
}

uint64_t queue_deferred(struct queue *q)
{
    uint64_t n;

    pthread_mutex_lock(&q->mu);
    n = q->deferred;
    pthread_mutex_unlock(&q->mu);
    return n;
}
