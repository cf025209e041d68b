/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of the event queue's caps (queue.c): a store message over the cap is dropped and
 * counted; a cloud message over it is only deferred (Paho offers it again), so it is not
 * counted as dropped however often it is offered; control events always pass. */
#include "p4gw.h"

#include <stdlib.h>

#include "p4check.h"

static struct event *msg(enum ev_type type)
{
    struct event *ev = event_new(type);

    if (!ev)
        abort();
    ev->len = 10;
    return ev;
}

int main(void)
{
    struct queue q;
    struct event *ev, *evs = NULL;

    CHECK_INT(queue_init(&q, 2, 1u << 20), 0);
    CHECK_INT(queue_push(&q, msg(EV_LOCAL_MSG)), 0);
    CHECK_INT(queue_push(&q, msg(EV_CLOUD_MSG)), 0);
    /* Full: the same downlink message offered three times by Paho is no drop. */
    for (int i = 0; i < 3; i++) {
        ev = msg(EV_CLOUD_MSG);
        CHECK_INT(queue_push(&q, ev), P4GW_EFULL);
        event_free(ev);
    }
    CHECK_INT(queue_dropped(&q), 0);
    CHECK_INT(queue_deferred(&q), 3);
    /* A store message over the cap is gone: counted once. */
    ev = msg(EV_LOCAL_MSG);
    CHECK_INT(queue_push(&q, ev), P4GW_EFULL);
    event_free(ev);
    CHECK_INT(queue_dropped(&q), 1);
    /* Control events are never refused. */
    CHECK_INT(queue_push(&q, msg(EV_CLOUD_ACK)), 0);
    CHECK_INT(queue_push(&q, msg(EV_LOCAL_SUBACK)), 0);
    queue_pop(&q, 10, 0, &evs);
    {
        int n = 0;

        for (ev = evs; ev; ev = ev->next)
            n++;
        CHECK_INT(n, 4);
    }
    event_free(evs);
    queue_cleanup(&q);
    CHECK_DONE();
}
