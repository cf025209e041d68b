/* SPDX-License-Identifier: Apache-2.0 */
/* The cache's sync state machine: requests, replies in chunks, overdue replies. */
#include "term.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

/* Forgets every outstanding sync request: replies to them are ignored from now on (a
 * snapshot) or applied only where they join the cursor (a log slice). */
void sync_forget(struct p4term *t)
{
    t->n_asked = 0;
    t->req_id[0] = '\0';
    t->sync_chunks = 0;
}

/* A sync must start over (new connection, gateway back, a gap): ask again. */
void sync_restart(struct p4term *t)
{
    sync_forget(t);
    t->sync_active = false;
    t->sync_needed = true;
}

static bool sync_asked(const struct p4term *t, const char *req_id)
{
    for (size_t i = 0; i < t->n_asked; i++) {
        if (strcmp(t->asked[i], req_id) == 0)
            return true;
    }
    return false;
}

static void sync_unask(struct p4term *t, const char *req_id)
{
    for (size_t i = 0; i < t->n_asked; i++) {
        if (strcmp(t->asked[i], req_id) == 0) {
            memmove(t->asked[i], t->asked[i + 1], (t->n_asked - i - 1) * sizeof(t->asked[0]));
            t->n_asked--;
            return;
        }
    }
}

void sync_handle_reply(struct p4term *t, const struct link_msg *m)
{
    struct p4t_changes ch;
    char reason[P4T_REASON_MAX];
    enum cache_result res = CACHE_STALE;
    int64_t lo = 0, hi = 0, numbered_last = 0, cursor = 0;
    bool current, first;
    int rc = 0;

    if (p4t_changes_decode(m->payload, m->len, &ch, reason, sizeof(reason)) != 0) {
        handlers_keep_reject(t, m, reason);
        return;
    }
    /* The first outstanding request to answer is the one applied; once its replies flow,
     * those of the others are not mixed in. */
    current = false;
    if (t->sync_active && t->req_id[0]) {
        current = strcmp(ch.req_id, t->req_id) == 0;
    } else if (t->sync_active && sync_asked(t, ch.req_id)) {
        current = true;
        snprintf(t->req_id, sizeof(t->req_id), "%s", ch.req_id);
        t->sync_chunks = 0;
    }
    first = current && t->sync_chunks == 0;
    if (!current && ch.snapshot) {
        /* A chunk of an abandoned snapshot: applying it without its first chunk's reset
         * could mix two states. */
        p4_debug("stale snapshot reply ignored req_id=%s", ch.req_id);
        p4t_changes_cleanup(&ch);
        return;
    }
    pthread_mutex_lock(&t->db_mu);
    if (first && cache_cursor(t->c, &t->sync_from) != 0)
        t->sync_from = 0;
    /* last_sale_seq is the gateway's word whichever request it answers. */
    if (!t->seq_known) {
        rc = numbering_assign(t, ch.last_sale_seq, &numbered_last);
        if (rc == 0)
            p4_info("register seq base learned from gateway last_sale_seq=%lld next_seq=%lld",
                    (long long)ch.last_sale_seq, (long long)t->next_seq);
    } else if (ch.last_sale_seq >= t->next_seq) {
        /* The gateway holds seqs this journal never issued (a restored or replaced journal):
         * continue after them so seqs stay unique for this register. */
        p4_warn("gateway holds newer sales for this register last_sale_seq=%lld next_seq=%lld",
                (long long)ch.last_sale_seq, (long long)t->next_seq);
        if (journal_set_next_seq(t->j, ch.last_sale_seq + 1) == 0)
            t->next_seq = ch.last_sale_seq + 1;
    }
    /* A log slice is applied even from an abandoned request (a reply that came after its
     * timeout): the cache takes only what joins its cursor, so no work is thrown away. */
    if (rc == 0)
        rc = cache_apply(t->c, &ch, first, &res, &lo, &hi);
    if (rc == 0)
        rc = cache_cursor(t->c, &cursor);
    pthread_mutex_unlock(&t->db_mu);
    if (current) {
        t->sync_chunks++;
        t->sync_last_ms = p4_mono_ms();
        if (rc != 0 || res == CACHE_GAP) {
            /* A log reply that does not join our cursor: ask again (the gateway decides
             * between log and snapshot from the cursor we send). */
            sync_restart(t);
        } else if (!ch.more) {
            struct p4term_event ev = {0};

            sync_forget(t);
            t->sync_active = false;
            t->sync_timeout_ms = SYNC_TIMEOUT_MS;
            pthread_mutex_lock(&t->mu);
            t->synced = true;
            pthread_mutex_unlock(&t->mu);
            p4_info("cache synced cursor=%lld head=%lld snapshot=%d", (long long)cursor,
                    (long long)ch.head, ch.snapshot ? 1 : 0);
            ev.kind = P4TERM_EV_SYNCED;
            ev.change_seq = cursor;
            term_emit(t, &ev);
        }
    }
    /* A catch-up is reported item by item; a cold start (cursor 0) or a snapshot would be the
     * whole store, so the application gets only P4TERM_EV_SYNCED and reads the cache. */
    if (current && res == CACHE_APPLIED && !ch.snapshot && t->sync_from > 0)
        term_emit_changes(t, &ch, lo, hi);
    if (numbered_last > 0) {
        struct p4term_event ev = {0};

        ev.kind = P4TERM_EV_NUMBERED;
        ev.seq = numbered_last;
        term_emit(t, &ev);
    }
    p4t_changes_cleanup(&ch);
}

static void sync_send(struct p4term *t, int64_t now)
{
    struct p4t_sync_req r;
    char *payload = NULL;
    int64_t cursor = 0;
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = cache_cursor(t->c, &cursor);
    pthread_mutex_unlock(&t->db_mu);
    if (rc)
        return;
    memset(&r, 0, sizeof(r));
    t->req_counter++;
    snprintf(r.req_id, sizeof(r.req_id), "q%x-%x", (unsigned)(p4_now_ms() & 0xffffff),
             (unsigned)t->req_counter);
    r.cursor = cursor;
    if (p4t_sync_req_encode(&r, &payload) != 0)
        return;
    if (link_publish(t->link, t->t_sync, payload, strlen(payload)) == 0) {
        if (t->n_asked == SYNC_ASKED_MAX)
            sync_unask(t, t->asked[0]);
        memcpy(t->asked[t->n_asked++], r.req_id, sizeof(t->asked[0]));
        t->sync_active = true;
        t->sync_needed = false;
        t->sync_last_ms = now;
        p4_debug("sync requested req_id=%s cursor=%lld", r.req_id, (long long)cursor);
    }
    free(payload);
}

/* One worker turn with the link up: a sync whose reply is overdue is asked again with a longer
 * wait, a needed sync is requested, and *NEXT_WAKE_MS is lowered to when the reply to the
 * current one would be overdue. */
void sync_tick(struct p4term *t, int64_t now, int64_t *next_wake_ms)
{
    if (t->sync_active && now - t->sync_last_ms > t->sync_timeout_ms) {
        /* A busy gateway is not helped by a flood of repeats: back off. */
        p4_info("sync reply overdue req_id=%s timeout_ms=%lld, asking again",
                t->req_id[0] ? t->req_id : t->asked[t->n_asked - 1],
                (long long)t->sync_timeout_ms);
        if (t->req_id[0]) {
            /* Its replies stopped half-way: the rest, if it ever comes, must not be
             * mixed with another request's. Requests that never answered stay. */
            sync_unask(t, t->req_id);
            t->req_id[0] = '\0';
            t->sync_chunks = 0;
        }
        t->sync_active = false;
        t->sync_needed = true;
        t->sync_timeout_ms *= 2;
        if (t->sync_timeout_ms > SYNC_TIMEOUT_MAX_MS)
            t->sync_timeout_ms = SYNC_TIMEOUT_MAX_MS;
    }
    if (t->sync_needed && !t->sync_active)
        sync_send(t, now);
    if (t->sync_active && t->sync_last_ms + t->sync_timeout_ms + 1 < *next_wake_ms)
        *next_wake_ms = t->sync_last_ms + t->sync_timeout_ms + 1;
}
