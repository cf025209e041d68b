/* SPDX-License-Identifier: Apache-2.0 */
/* Store-broker publishes that Paho refused (command queue full, not connected): kept in order
 * by the core thread and retried on the next iteration, so no ack or sync reply is dropped. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

int pending_init(struct pending *p, size_t max_msgs, size_t max_bytes)
{
    memset(p, 0, sizeof(*p));
    p->max_msgs = max_msgs;
    p->max_bytes = max_bytes;
    return P4GW_OK;
}

void pending_clear(struct pending *p)
{
    for (size_t i = p->first; i < p->first + p->n; i++)
        free(p->items[i].payload);
    p->first = 0;
    p->n = 0;
    p->bytes = 0;
}

void pending_cleanup(struct pending *p)
{
    pending_clear(p);
    free(p->items);
    p->items = NULL;
    p->cap = 0;
}

int pending_push(struct pending *p, const char *topic, char *payload, size_t len,
                 bool retained)
{
    struct out_msg *m;

    if (p->n >= p->max_msgs || p->bytes + len > p->max_bytes) {
        /* At the cap the message is dropped and counted: the cap is far above what one
         * connection can have outstanding, and registers resend unacknowledged sales. */
        p->dropped++;
        if ((p->dropped & (p->dropped - 1)) == 0)
            p4_warn("local publish dropped: pending list full topic=%s dropped_total=%" PRIu64,
                    topic, p->dropped);
        free(payload);
        return P4GW_EFULL;
    }
    if (p->first + p->n == p->cap) {
        if (p->first > 0) {
            /* Slide the live part to the front before growing. */
            memmove(p->items, p->items + p->first, p->n * sizeof(*p->items));
            p->first = 0;
        }
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 256;
            struct out_msg *items = realloc(p->items, cap * sizeof(*items));

            if (!items) {
                free(payload);
                p->dropped++;
                return P4GW_ENOMEM;
            }
            p->items = items;
            p->cap = cap;
        }
    }
    m = &p->items[p->first + p->n];
    snprintf(m->topic, sizeof(m->topic), "%s", topic);
    m->payload = payload;
    m->len = len;
    m->retained = retained;
    p->n++;
    p->bytes += len;
    return P4GW_OK;
}

int pending_flush(struct pending *p, struct link *l)
{
    size_t sent = 0;

    while (p->n > 0) {
        struct out_msg *m = &p->items[p->first];

        if (link_publish(l, m->topic, m->payload, m->len, 1, m->retained, NULL) != 0)
            break;
        free(m->payload);
        m->payload = NULL;
        p->bytes -= m->len;
        p->first++;
        p->n--;
        sent++;
    }
    if (p->n == 0)
        p->first = 0;
    p->retried += sent;
    return (int)sent;
}
