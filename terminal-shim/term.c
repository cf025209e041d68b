/* SPDX-License-Identifier: Apache-2.0 */
/* The libp4term handle: sale journaling, the worker thread that sends and syncs, events. */
#include "shim.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p4common.h"

/* Oldest pending sales held in memory for sending; the rest wait in the journal. At the
 * maximum nothing is lost: more are loaded as acks free room. */
#define WINDOW_MAX 256
/* Messages handled per worker turn before timers are looked at again. */
#define DRAIN_MAX 512
/* A sync whose next reply chunk does not come within this is asked again; the wait doubles
 * on each overdue reply up to the maximum and resets when a sync completes. */
#define SYNC_TIMEOUT_MS 5000
#define SYNC_TIMEOUT_MAX_MS 60000
/* Sync requests of this connection whose replies are still accepted. A busy gateway may answer
 * an earlier request after we asked again: taking that answer ends the sync sooner than
 * waiting for the newest (and a gateway would serve every repeat in turn). At the maximum the
 * oldest is forgotten. */
#define SYNC_ASKED_MAX 4
#define RECONNECT_MIN_MS 250
#define RECONNECT_MAX_MS 4000
/* Idle wake-up, so a lost wake-up can never stall the worker for long. */
#define IDLE_WAKE_MS 1000
#define NUMBER_BATCH 64
/* Hold requests waiting for their reply at once (one per till is the normal case). At the
 * maximum p4term_hold() answers P4TERM_EUNAVAIL at once instead of queueing. */
#define HOLD_WAIT_MAX 16
#define JOURNAL_KEEP_ACKED_MS (30LL * 24 * 3600 * 1000)

struct pend {
    int64_t lid;
    char id[P4T_UUID_MAX + 1];
    int64_t seq;
    char *payload;
    size_t len;
    int64_t next_due_ms; /* monotonic; 0 = send now */
    int64_t sent_ms;     /* monotonic time of the last send */
    int attempts;        /* sends since the last reconnect or gateway restart */
};

struct ack_item {
    struct p4t_ack ack;
};

/* One hold request between p4term_hold() (the caller's thread) and the worker, under mu. */
struct hold_wait {
    bool used;
    bool done;                     /* the reply is in *reply */
    char req_id[P4T_ID_MAX + 1];
    char *payload;                 /* to publish; owned here until the worker sent it */
    struct p4t_hold_reply *reply;  /* owned by the waiting caller */
};

struct p4term {
    char broker_uri[512]; /* for TCP_NODELAY on this link's socket only */
    char store[P4T_ID_MAX + 1];
    char reg[P4T_ID_MAX + 1];
    char t_sale[P4T_TOPIC_MAX], t_sync[P4T_TOPIC_MAX];
    char t_ack[P4T_TOPIC_MAX], t_reply[P4T_TOPIC_MAX];
    char t_changes[P4T_TOPIC_MAX], t_alert[P4T_TOPIC_MAX], t_status[P4T_TOPIC_MAX];
    char t_hold[P4T_TOPIC_MAX], t_hold_reply[P4T_TOPIC_MAX];
    int64_t ack_timeout_ms;
    bool offline_redeem_allow;
    int64_t resend_max_ms;
    p4term_event_cb cb;
    void *user;

    /* db_mu: the journal, the cache and the seq counter (the caller's thread appends sales
     * while the worker records acks; sale() must commit before it returns, so it cannot hand
     * the write to the worker without waiting for it). */
    pthread_mutex_t db_mu;
    struct journal *j;
    struct cache *c;
    int64_t next_seq;
    bool seq_known;

    /* mu: wake-up and the few flags the API reads. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wake;
    bool stop;
    bool kick;
    bool up;     /* link up and subscribed, as the worker last saw it */
    bool synced; /* a sync completed since open */
    bool gw_reachable; /* up, and the gateway's status is online or wan_down */
    bool gw_holds;     /* the gateway has answered a hold request: it reads 1.1 sale fields */
    pthread_cond_t hold_cv; /* a hold reply arrived (CLOCK_MONOTONIC) */
    struct hold_wait holds[HOLD_WAIT_MAX];
    uint32_t hold_counter;

    bool offline;
    bool thread_started;
    pthread_t thread;
    struct link *link;

    /* worker thread only */
    struct pend win[WINDOW_MAX];
    size_t n_win;
    int64_t last_loaded_lid;
    uint64_t seen_gen;
    int64_t next_connect_ms;
    int64_t reconnect_backoff_ms;
    bool sync_needed;
    bool sync_active;
    char asked[SYNC_ASKED_MAX][P4T_ID_MAX + 1]; /* outstanding requests, oldest first */
    size_t n_asked;
    char req_id[P4T_ID_MAX + 1]; /* the request whose replies are being applied ("": none) */
    uint32_t req_counter;
    int64_t sync_last_ms;
    int sync_chunks;
    int64_t sync_from; /* the cache cursor when the current sync's first reply came */
    int64_t sync_timeout_ms;
    char gw_state[16];
    struct ack_item acks[DRAIN_MAX];
    size_t n_acks;
    int64_t last_ack_ms;   /* monotonic time the last ack arrived (any status) */
    int64_t acked_sent_ms; /* newest send time among sales acked from the window */
};

void p4term_options_init(struct p4term_options *o)
{
    memset(o, 0, sizeof(*o));
    o->ack_timeout_ms = 2000;
    o->resend_max_ms = 30000;
}

static void wake_worker(void *ctx)
{
    struct p4term *t = ctx;

    pthread_mutex_lock(&t->mu);
    t->wake = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void emit(struct p4term *t, const struct p4term_event *ev)
{
    if (t->cb)
        t->cb(ev, t->user);
}

/* ---- sending ---- */

static int64_t resend_delay_ms(const struct p4term *t, int attempts)
{
    int64_t d = t->ack_timeout_ms;

    for (int i = 1; i < attempts && d < t->resend_max_ms; i++)
        d *= 2;
    return d < t->resend_max_ms ? d : t->resend_max_ms;
}

static void window_reset_dues(struct p4term *t)
{
    for (size_t i = 0; i < t->n_win; i++) {
        t->win[i].next_due_ms = 0;
        t->win[i].attempts = 0;
    }
}

/* Drops acked sale ID from the window, noting when it was sent: a pending sale sent before it
 * has most likely lost its ack (the gateway answers a register's sales in order). */
static void window_remove(struct p4term *t, const char *id)
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

static void window_clear(struct p4term *t)
{
    for (size_t i = 0; i < t->n_win; i++)
        free(t->win[i].payload);
    t->n_win = 0;
}

/* Loads the next pending, numbered sales after the newest one in the window. */
static void window_refill(struct p4term *t)
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
static void window_send(struct p4term *t, int64_t now)
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

/* ---- numbering a fresh journal's sales once the gateway said where this register is ---- */

/* Called with db_mu held. Gives every unnumbered sale the next seq after LAST_SALE_SEQ, in
 * journal order, re-encoding its payload, in one transaction. */
static int number_sales(struct p4term *t, int64_t last_sale_seq, int64_t *last_out)
{
    struct journal_row rows[NUMBER_BATCH];
    struct p4t_sale *s = NULL;
    int64_t next = last_sale_seq + 1;
    char reason[P4T_REASON_MAX];
    size_t n = 0;
    int rc;

    s = malloc(sizeof(*s));
    if (!s)
        return P4TERM_ENOMEM;
    rc = journal_begin(t->j);
    if (rc)
        goto out;
    do {
        rc = journal_unnumbered(t->j, rows, NUMBER_BATCH, &n);
        if (rc)
            goto out;
        for (size_t i = 0; i < n && rc == 0; i++) {
            char *payload = NULL;

            rc = p4t_sale_decode(rows[i].payload, rows[i].payload_len, s, reason,
                                 sizeof(reason));
            if (rc == 0) {
                s->seq = next;
                rc = p4t_sale_encode(s, &payload, reason, sizeof(reason));
            }
            if (rc != 0) {
                /* Only this library writes the journal, so this is disk damage. */
                p4_error("journaled sale unreadable id=%s reason=\"%s\"", rows[i].id, reason);
                rc = P4TERM_EIO;
            } else {
                rc = journal_number(t->j, rows[i].lid, next, payload);
                next++;
            }
            free(payload);
        }
        for (size_t i = 0; i < n; i++)
            journal_row_cleanup(&rows[i]);
        if (rc)
            goto out;
    } while (n == NUMBER_BATCH);
    rc = journal_set_next_seq(t->j, next);
    if (rc)
        goto out;
    rc = journal_commit(t->j);
    if (rc)
        goto out;
    t->next_seq = next;
    t->seq_known = true;
    *last_out = next - 1;
out:
    if (rc)
        journal_rollback(t->j);
    free(s);
    return rc;
}

/* ---- incoming messages ---- */

/* Called with mu held, on the worker thread (gw_state is the worker's). */
static void update_reachable_locked(struct p4term *t)
{
    t->gw_reachable = t->up && (strcmp(t->gw_state, "online") == 0 ||
                                strcmp(t->gw_state, "wan_down") == 0);
}


static void keep_reject(struct p4term *t, const struct link_msg *m, const char *reason)
{
    p4_warn("message rejected topic=%s reason=\"%s\"", m->topic, reason);
    pthread_mutex_lock(&t->db_mu);
    journal_keep_reject(t->j, m->topic, m->payload, m->len, reason, p4_now_ms());
    pthread_mutex_unlock(&t->db_mu);
}

static void flush_acks(struct p4term *t)
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
        emit(t, &ev);
    }
    t->n_acks = 0;
}

static void handle_ack(struct p4term *t, const struct link_msg *m)
{
    struct p4t_ack a;
    char reason[P4T_REASON_MAX];

    if (p4t_ack_decode(m->payload, m->len, &a, reason, sizeof(reason)) != 0) {
        keep_reject(t, m, reason);
        return;
    }
    if (a.id[0] == '\0') {
        /* The gateway could not read an id out of something published on our topic. */
        p4_warn("gateway rejected a message without a readable id reason=\"%s\"", a.reason);
        return;
    }
    t->last_ack_ms = p4_mono_ms();
    if (t->n_acks == DRAIN_MAX)
        flush_acks(t);
    t->acks[t->n_acks++].ack = a;
}

static void emit_changes(struct p4term *t, const struct p4t_changes *ch, int64_t lo, int64_t hi)
{
    if (lo == 0)
        return;
    for (size_t i = 0; i < ch->n_items; i++) {
        const struct p4t_change *it = &ch->items[i];
        struct p4term_event ev = {0};

        if (it->seq < lo || it->seq > hi)
            continue;
        ev.kind = P4TERM_EV_CHANGE;
        ev.change_seq = it->seq;
        ev.entity = cache_entity_name(it->entity);
        ev.key = it->key;
        ev.value_json = it->value_json;
        emit(t, &ev);
    }
}

static void handle_changes(struct p4term *t, const struct link_msg *m)
{
    struct p4t_changes ch;
    char reason[P4T_REASON_MAX];
    enum cache_result res = CACHE_STALE;
    int64_t lo = 0, hi = 0;
    int rc;

    if (p4t_changes_decode(m->payload, m->len, &ch, reason, sizeof(reason)) != 0) {
        keep_reject(t, m, reason);
        return;
    }
    if (ch.snapshot || ch.is_reply) {
        keep_reject(t, m, "a sync reply on the store-wide changes topic");
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
        emit_changes(t, &ch, lo, hi);
    p4t_changes_cleanup(&ch);
}

/* Forgets every outstanding sync request: replies to them are ignored from now on (a
 * snapshot) or applied only where they join the cursor (a log slice). */
static void sync_forget(struct p4term *t)
{
    t->n_asked = 0;
    t->req_id[0] = '\0';
    t->sync_chunks = 0;
}

/* A sync must start over (new connection, gateway back, a gap): ask again. */
static void sync_restart(struct p4term *t)
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

static void handle_reply(struct p4term *t, const struct link_msg *m)
{
    struct p4t_changes ch;
    char reason[P4T_REASON_MAX];
    enum cache_result res = CACHE_STALE;
    int64_t lo = 0, hi = 0, numbered_last = 0, cursor = 0;
    bool current, first;
    int rc = 0;

    if (p4t_changes_decode(m->payload, m->len, &ch, reason, sizeof(reason)) != 0) {
        keep_reject(t, m, reason);
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
        rc = number_sales(t, ch.last_sale_seq, &numbered_last);
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
            emit(t, &ev);
        }
    }
    /* A catch-up is reported item by item; a cold start (cursor 0) or a snapshot would be the
     * whole store, so the application gets only P4TERM_EV_SYNCED and reads the cache. */
    if (current && res == CACHE_APPLIED && !ch.snapshot && t->sync_from > 0)
        emit_changes(t, &ch, lo, hi);
    if (numbered_last > 0) {
        struct p4term_event ev = {0};

        ev.kind = P4TERM_EV_NUMBERED;
        ev.seq = numbered_last;
        emit(t, &ev);
    }
    p4t_changes_cleanup(&ch);
}

static void handle_alert(struct p4term *t, const struct link_msg *m)
{
    struct p4t_alert a;
    char reason[P4T_REASON_MAX];
    struct p4term_event ev = {0};

    if (p4t_alert_decode(m->payload, m->len, &a, reason, sizeof(reason)) != 0) {
        keep_reject(t, m, reason);
        return;
    }
    ev.kind = P4TERM_EV_ALERT;
    ev.alert = &a;
    emit(t, &ev);
}

static void handle_status(struct p4term *t, const struct link_msg *m)
{
    struct p4t_status s;
    char reason[P4T_REASON_MAX];
    bool came_up;

    if (m->len == 0)
        return; /* a cleared retained status */
    if (p4t_status_decode(m->payload, m->len, &s, reason, sizeof(reason)) != 0) {
        keep_reject(t, m, reason);
        return;
    }
    came_up = strcmp(s.state, "offline") != 0 &&
              (strcmp(t->gw_state, "offline") == 0 || (t->gw_state[0] == '\0' && !m->retained));
    pthread_mutex_lock(&t->mu);
    snprintf(t->gw_state, sizeof(t->gw_state), "%s", s.state);
    update_reachable_locked(t);
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

/* A reply to one of our hold requests: hand it to the caller waiting for its req_id. A reply
 * nobody waits for any more (it came after the caller's timeout) is only logged: the hold
 * expires at the gateway by itself. */
static void handle_hold_reply(struct p4term *t, const struct link_msg *m)
{
    struct p4t_hold_reply *r = malloc(sizeof(*r));
    char reason[P4T_REASON_MAX];
    bool matched = false, first = false;

    if (!r)
        return;
    if (p4t_hold_reply_decode(m->payload, m->len, r, reason, sizeof(reason)) != 0) {
        keep_reject(t, m, reason);
        free(r);
        return;
    }
    pthread_mutex_lock(&t->mu);
    first = !t->gw_holds;
    t->gw_holds = true;
    for (size_t i = 0; i < HOLD_WAIT_MAX; i++) {
        struct hold_wait *w = &t->holds[i];

        if (!w->used || w->done || strcmp(w->req_id, r->req_id) != 0)
            continue;
        memcpy(w->reply, r, sizeof(*r));
        w->done = true;
        matched = true;
        pthread_cond_broadcast(&t->hold_cv);
        break;
    }
    pthread_mutex_unlock(&t->mu);
    if (first) {
        /* From now on sales may carry their hold (section 8: only to a 1.1 gateway). */
        pthread_mutex_lock(&t->db_mu);
        journal_meta_set(t->j, "gw_holds", 1);
        pthread_mutex_unlock(&t->db_mu);
    }
    if (!matched)
        p4_info("hold reply nobody waits for req_id=%s hold=%s", r->req_id, r->hold);
    free(r);
}

/* Publishes the hold requests callers queued. The payloads are taken out under mu and sent
 * outside it: Paho's calls must never run under a lock its callbacks also take. */
static void send_holds(struct p4term *t)
{
    char *payloads[HOLD_WAIT_MAX];
    char req_ids[HOLD_WAIT_MAX][P4T_ID_MAX + 1];
    size_t n = 0;

    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < HOLD_WAIT_MAX; i++) {
        if (!t->holds[i].used || !t->holds[i].payload)
            continue;
        payloads[n] = t->holds[i].payload;
        memcpy(req_ids[n], t->holds[i].req_id, sizeof(req_ids[n]));
        t->holds[i].payload = NULL;
        n++;
    }
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < n; i++) {
        if (link_publish(t->link, t->t_hold, payloads[i], strlen(payloads[i])) == 0) {
            p4_debug("hold request sent req_id=%s", req_ids[i]);
            free(payloads[i]);
            continue;
        }
        /* Refused (the link is going): put it back for the next turn if still wanted. */
        pthread_mutex_lock(&t->mu);
        for (size_t k = 0; k < HOLD_WAIT_MAX; k++) {
            if (t->holds[k].used && !t->holds[k].payload &&
                strcmp(t->holds[k].req_id, req_ids[i]) == 0) {
                t->holds[k].payload = payloads[i];
                payloads[i] = NULL;
                break;
            }
        }
        pthread_mutex_unlock(&t->mu);
        free(payloads[i]);
    }
}

static void handle_message(struct p4term *t, const struct link_msg *m)
{
    if (strcmp(m->topic, t->t_ack) == 0)
        handle_ack(t, m);
    else if (strcmp(m->topic, t->t_changes) == 0)
        handle_changes(t, m);
    else if (strcmp(m->topic, t->t_reply) == 0)
        handle_reply(t, m);
    else if (strcmp(m->topic, t->t_alert) == 0)
        handle_alert(t, m);
    else if (strcmp(m->topic, t->t_status) == 0)
        handle_status(t, m);
    else if (strcmp(m->topic, t->t_hold_reply) == 0)
        handle_hold_reply(t, m);
    else
        p4_debug("message on an unexpected topic ignored topic=%s", m->topic);
}

/* ---- the worker ---- */

static void send_sync(struct p4term *t, int64_t now)
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

static void set_up(struct p4term *t, bool up)
{
    struct p4term_event ev = {0};
    bool changed;

    pthread_mutex_lock(&t->mu);
    changed = t->up != up;
    t->up = up;
    update_reachable_locked(t);
    pthread_mutex_unlock(&t->mu);
    if (!changed)
        return;
    ev.kind = P4TERM_EV_LINK;
    ev.link_up = up;
    emit(t, &ev);
}

static void *worker_main(void *arg)
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
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += wait_ms / 1000;
            until.tv_nsec += (wait_ms % 1000) * 1000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
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
            handle_message(t, &m);
            link_msg_cleanup(&m);
        }
        flush_acks(t);
        if (kick) {
            window_reset_dues(t);
            sync_restart(t);
        }
        now = p4_mono_ms();
        next_wake_ms = now + IDLE_WAKE_MS;
        if (st == LINK_UP) {
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
                send_sync(t, now);
            if (t->sync_active && t->sync_last_ms + t->sync_timeout_ms + 1 < next_wake_ms)
                next_wake_ms = t->sync_last_ms + t->sync_timeout_ms + 1;
            send_holds(t);
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

/* ---- public API ---- */

static int build_topics(struct p4term *t)
{
    int rc = 0;

    rc |= p4t_topic_local(t->t_sale, sizeof(t->t_sale), P4T_L_SALE, t->store, t->reg);
    rc |= p4t_topic_local(t->t_sync, sizeof(t->t_sync), P4T_L_SYNC, t->store, t->reg);
    rc |= p4t_topic_local(t->t_ack, sizeof(t->t_ack), P4T_L_ACK, t->store, t->reg);
    rc |= p4t_topic_local(t->t_reply, sizeof(t->t_reply), P4T_L_SYNC_REPLY, t->store, t->reg);
    rc |= p4t_topic_local(t->t_changes, sizeof(t->t_changes), P4T_L_CHANGES, t->store, NULL);
    rc |= p4t_topic_local(t->t_alert, sizeof(t->t_alert), P4T_L_ALERT, t->store, NULL);
    rc |= p4t_topic_local(t->t_status, sizeof(t->t_status), P4T_L_STATUS, t->store, NULL);
    rc |= p4t_topic_local(t->t_hold, sizeof(t->t_hold), P4T_L_HOLD, t->store, t->reg);
    rc |= p4t_topic_local(t->t_hold_reply, sizeof(t->t_hold_reply), P4T_L_HOLD_REPLY, t->store,
                          t->reg);
    return rc ? P4TERM_EINVAL : 0;
}

int p4term_open(const struct p4term_options *opt, p4term_event_cb cb, void *user,
                struct p4term **out)
{
    struct p4term *t = NULL;
    char client_id[128];
    bool fresh = false;
    int rc;

    if (!opt || !out || !opt->store || !opt->reg || !opt->journal_path ||
        !p4t_store_id_valid(opt->store) || !p4t_id_valid(opt->reg) ||
        (!opt->offline && (!opt->broker_uri || !opt->broker_uri[0])) ||
        opt->ack_timeout_ms <= 0 || opt->resend_max_ms < opt->ack_timeout_ms) {
        p4_error("p4term_open: invalid options (store, register id, journal, broker uri, "
                 "timeouts)");
        return P4TERM_EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return P4TERM_ENOMEM;
    pthread_mutex_init(&t->db_mu, NULL);
    pthread_mutex_init(&t->mu, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&t->cv, &ca);
        pthread_cond_init(&t->hold_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    snprintf(t->store, sizeof(t->store), "%s", opt->store);
    snprintf(t->reg, sizeof(t->reg), "%s", opt->reg);
    t->ack_timeout_ms = opt->ack_timeout_ms;
    t->resend_max_ms = opt->resend_max_ms;
    t->offline_redeem_allow = opt->offline_redeem_allow;
    t->cb = cb;
    t->user = user;
    t->offline = opt->offline;
    t->reconnect_backoff_ms = RECONNECT_MIN_MS;
    t->sync_timeout_ms = SYNC_TIMEOUT_MS;
    rc = build_topics(t);
    if (rc)
        goto out;
    rc = journal_open(opt->journal_path, &t->j, &fresh);
    if (rc)
        goto out;
    rc = cache_open(journal_db(t->j), &t->c);
    if (rc)
        goto out;
    rc = journal_seq_state(t->j, &t->next_seq, &t->seq_known);
    if (rc)
        goto out;
    {
        int64_t holds = 0;

        rc = journal_meta_get(t->j, "gw_holds", &holds);
        if (rc)
            goto out;
        t->gw_holds = holds != 0;
    }
    {
        /* Acked sales are the gateway's from then on; keep a month for the till's own
         * look-ups, so the journal does not grow without bound. */
        int64_t pruned = 0;

        if (journal_prune(t->j, p4_now_ms() - JOURNAL_KEEP_ACKED_MS, &pruned) == 0 && pruned)
            p4_info("journal pruned acked_sales=%lld", (long long)pruned);
    }
    if (fresh)
        p4_info("new journal path=%s store=%s reg=%s: seq continues after the gateway's "
                "last_sale_seq", opt->journal_path, t->store, t->reg);
    if (!opt->offline) {
        const char *subs[] = {t->t_ack,    t->t_reply,      t->t_changes, t->t_alert,
                              t->t_status, t->t_hold_reply, NULL};
        struct link_opts lo = {0};

        if (opt->client_id && opt->client_id[0])
            snprintf(client_id, sizeof(client_id), "%s", opt->client_id);
        else
            snprintf(client_id, sizeof(client_id), "p4term-%s-%s", t->store, t->reg);
        lo.uri = opt->broker_uri;
        snprintf(t->broker_uri, sizeof(t->broker_uri), "%s", opt->broker_uri);
        lo.client_id = client_id;
        lo.username = opt->username;
        lo.password = opt->password;
        lo.subs = subs;
        rc = link_new(&lo, wake_worker, t, &t->link);
        if (rc)
            goto out;
        if (pthread_create(&t->thread, NULL, worker_main, t) != 0) {
            p4_error("worker thread start failed err=\"%s\"", strerror(errno));
            rc = P4TERM_ENOMEM;
            goto out;
        }
        t->thread_started = true;
    }
    *out = t;
    t = NULL;
    rc = 0;
out:
    p4term_close(t);
    return rc;
}

void p4term_close(struct p4term *t)
{
    if (!t)
        return;
    if (t->thread_started) {
        pthread_mutex_lock(&t->mu);
        t->stop = true;
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
    }
    link_free(t->link);
    window_clear(t);
    for (size_t i = 0; i < HOLD_WAIT_MAX; i++)
        free(t->holds[i].payload);
    cache_close(t->c);
    journal_close(t->j);
    pthread_cond_destroy(&t->hold_cv);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->db_mu);
    free(t);
}

/* Called with db_mu held. Prices the lines of S marked P4TERM_PRICE_CACHED at S->ts_ms from
 * the cache: such lines of one sku (qty > 0) are merged, each gets the price in effect and its
 * ver, and in a sale the active promos are applied (p4t_promo_apply), which may split a line.
 * *PRICED tells whether any line was priced here. Returns 0, P4TERM_ENOTFOUND (no price in
 * effect), P4TERM_EINVAL (too many lines, a merged qty over the limit) with REASON, or an
 * I/O error. */
static int price_lines(struct p4term *t, struct p4t_sale *s, bool *priced, char *reason,
                       size_t reason_len)
{
    struct p4t_line *in = NULL;
    struct p4t_promo *promos = NULL;
    bool cached[P4T_MAX_LINES];
    size_t n_in = 0, n_out = 0;
    int rc = 0;

    *priced = false;
    for (size_t i = 0; i < s->n_lines && i < P4T_MAX_LINES; i++)
        *priced = *priced || s->lines[i].price_minor == P4TERM_PRICE_CACHED;
    if (!*priced)
        return 0;
    if (s->n_lines > P4T_MAX_LINES) {
        snprintf(reason, reason_len, "lines: more than %d lines", P4T_MAX_LINES);
        return P4TERM_EINVAL;
    }
    in = malloc(s->n_lines * sizeof(*in));
    promos = malloc(CACHE_PROMOS_PER_SKU_MAX * sizeof(*promos));
    if (!in || !promos) {
        rc = P4TERM_ENOMEM;
        goto out;
    }
    /* The contract prices one line per sku and price: merge the scans of a sku first. */
    for (size_t i = 0; i < s->n_lines; i++) {
        const struct p4t_line *l = &s->lines[i];
        bool is_cached = l->price_minor == P4TERM_PRICE_CACHED;
        size_t k = 0;

        if (is_cached && l->qty > 0 && l->qty <= P4T_MAX_QTY) {
            for (k = 0; k < n_in; k++) {
                if (cached[k] && in[k].qty > 0 && strcmp(in[k].sku, l->sku) == 0)
                    break;
            }
        } else {
            k = n_in;
        }
        if (k < n_in) {
            if (in[k].qty + l->qty > P4T_MAX_QTY) {
                snprintf(reason, reason_len, "lines[%zu].qty: %s totals more than %d units",
                         i, l->sku, P4T_MAX_QTY);
                rc = P4TERM_EINVAL;
                goto out;
            }
            in[k].qty += l->qty;
            continue;
        }
        in[n_in] = *l;
        cached[n_in] = is_cached;
        n_in++;
    }
    for (size_t k = 0; k < n_in; k++) {
        struct p4t_charged_line charged[2];
        size_t n_promos = 0, n_charged = 0;

        if (!cached[k]) {
            s->lines[n_out++] = in[k];
            continue;
        }
        rc = cache_price(t->c, in[k].sku, s->ts_ms, &in[k].price_minor, &in[k].ver);
        if (rc == P4TERM_ENOTFOUND)
            snprintf(reason, reason_len, "lines[%zu].sku: no price for %s in effect in the "
                     "register's cache", k, in[k].sku);
        if (rc)
            goto out;
        if (s->kind == P4T_SALE && in[k].qty > 0) {
            rc = cache_promos_for(t->c, in[k].sku, promos, CACHE_PROMOS_PER_SKU_MAX,
                                  &n_promos);
            if (rc)
                goto out;
        }
        if (n_promos == 0) {
            charged[0].line = in[k];
            n_charged = 1;
        } else if (p4t_promo_apply(promos, n_promos, s->ts_ms, &in[k], 1, charged, 2,
                                   &n_charged) != 0) {
            /* Only decoded promos are cached and the line is in range: a bug, not input. */
            snprintf(reason, reason_len, "lines[%zu]: promo pricing failed", k);
            rc = P4TERM_EINVAL;
            goto out;
        }
        if (n_out + n_charged > P4T_MAX_LINES) {
            snprintf(reason, reason_len, "lines: more than %d lines after promo pricing",
                     P4T_MAX_LINES);
            rc = P4TERM_EINVAL;
            goto out;
        }
        for (size_t c = 0; c < n_charged; c++) {
            if (charged[c].promo[0])
                p4_debug("promo applied sku=%s promo=%s qty=%lld price=%lld",
                         charged[c].line.sku, charged[c].promo,
                         (long long)charged[c].line.qty, (long long)charged[c].line.price_minor);
            s->lines[n_out++] = charged[c].line;
        }
    }
    s->n_lines = n_out;
out:
    free(promos);
    free(in);
    return rc;
}

/* Called with db_mu held. The store's loyalty policy for a redemption (see p4term_sale):
 * REACHABLE is the gateway's reachability read just before. */
static int check_redeem(struct p4term *t, const struct p4t_sale *s, bool reachable,
                        char *reason, size_t reason_len)
{
    int64_t balance = 0, pending = 0;
    int rc;

    if (!s->has_loyalty || s->loyalty_redeem <= 0)
        return 0;
    if (!reachable) {
        if (t->offline_redeem_allow) {
            p4_info("loyalty redemption allowed with the gateway unreachable customer=%s "
                    "redeem=%lld", s->customer, (long long)s->loyalty_redeem);
            return 0;
        }
        snprintf(reason, reason_len, "loyalty.redeem: refused while the gateway is unreachable "
                 "(policy offline_loyalty_redeem = deny)");
        return P4TERM_EREFUSED;
    }
    if (!s->customer[0]) {
        snprintf(reason, reason_len, "loyalty.redeem: a redemption needs a customer");
        return P4TERM_EREFUSED;
    }
    rc = cache_loyalty(t->c, s->customer, &balance);
    if (rc && rc != P4TERM_ENOTFOUND)
        return rc;
    /* This register's own unacknowledged redemptions are not in the gateway's balance yet:
     * without them two quick sales could both spend the same points. (Right after an ack the
     * new balance may already count one: that errs on the side of refusing.) */
    rc = journal_pending_redeem(t->j, s->customer, &pending);
    if (rc)
        return rc;
    if (s->loyalty_redeem > balance - pending) {
        if (pending)
            snprintf(reason, reason_len, "loyalty.redeem: %lld points asked but %s has %lld "
                     "(%lld of %lld in pending sales)", (long long)s->loyalty_redeem,
                     s->customer, (long long)(balance - pending), (long long)pending,
                     (long long)balance);
        else
            snprintf(reason, reason_len, "loyalty.redeem: %lld points asked but %s has %lld",
                     (long long)s->loyalty_redeem, s->customer, (long long)balance);
        return P4TERM_EREFUSED;
    }
    return 0;
}

int p4term_sale(struct p4term *t, const struct p4t_sale *sale, char id_out[P4T_UUID_MAX + 1],
                int64_t *seq_out, char *reason, size_t reason_len)
{
    struct p4t_sale *s = NULL;
    int rc;

    if (!t || !sale)
        return P4TERM_EINVAL;
    s = malloc(sizeof(*s));
    if (!s)
        return P4TERM_ENOMEM;
    rc = p4term_ring(t, sale, s, reason, reason_len);
    if (rc == 0 && id_out)
        memcpy(id_out, s->id, P4T_UUID_MAX + 1);
    if (rc == 0 && seq_out)
        *seq_out = s->seq;
    free(s);
    return rc;
}

int p4term_ring(struct p4term *t, const struct p4t_sale *sale, struct p4t_sale *out,
                char *reason, size_t reason_len)
{
    struct p4t_sale *s = NULL;
    char *payload = NULL;
    char tmp_reason[P4T_REASON_MAX] = "";
    int64_t now_ms = p4_now_ms(), seq = 0;
    bool priced = false, reachable, holds_ok;
    int rc;

    if (!t || !sale)
        return P4TERM_EINVAL;
    s = malloc(sizeof(*s));
    if (!s)
        return P4TERM_ENOMEM;
    memcpy(s, sale, sizeof(*s));
    if (p4_uuid7(s->id) != 0) {
        rc = P4TERM_EIO;
        goto out;
    }
    snprintf(s->store, sizeof(s->store), "%s", t->store);
    snprintf(s->reg, sizeof(s->reg), "%s", t->reg);
    p4_format_ts(now_ms, s->ts);
    s->ts_ms = now_ms;
    pthread_mutex_lock(&t->mu);
    reachable = t->gw_reachable;
    holds_ok = t->gw_holds;
    pthread_mutex_unlock(&t->mu);
    if (s->hold[0] && !holds_ok) {
        p4_warn("sale hold dropped hold=%s reason=\"the gateway never answered a hold request, "
                "so it may not read the field\"", s->hold);
        s->hold[0] = '\0';
    }
    pthread_mutex_lock(&t->db_mu);
    rc = price_lines(t, s, &priced, tmp_reason, sizeof(tmp_reason));
    if (rc == 0)
        rc = check_redeem(t, s, reachable, tmp_reason, sizeof(tmp_reason));
    if (rc) {
        pthread_mutex_unlock(&t->db_mu);
        p4_warn("sale refused reason=\"%s\"", tmp_reason);
        goto out;
    }
    if ((s->total_minor == 0 || priced) && s->n_lines <= P4T_MAX_LINES) {
        /* Bounded by the contract's limits (200 lines x 1e5 x 1e8 < 2^63); out-of-range lines
         * are refused by the encoder below. */
        s->total_minor = 0;
        for (size_t i = 0; i < s->n_lines; i++) {
            if (s->lines[i].qty > P4T_MAX_QTY || s->lines[i].qty < -P4T_MAX_QTY ||
                s->lines[i].price_minor > P4T_MAX_PRICE || s->lines[i].price_minor < 0)
                continue;
            s->total_minor += s->lines[i].qty * s->lines[i].price_minor;
        }
        /* The caller could not know the amount of a sale priced here. */
        if (priced && s->n_tenders == 1 && s->tenders[0].amount_minor == 0)
            s->tenders[0].amount_minor = s->total_minor;
    }
    seq = t->seq_known ? t->next_seq : 0;
    /* An unnumbered sale is encoded with seq 1 and re-encoded when numbered. */
    s->seq = seq > 0 ? seq : 1;
    rc = p4t_sale_encode(s, &payload, tmp_reason, sizeof(tmp_reason));
    if (rc != 0) {
        pthread_mutex_unlock(&t->db_mu);
        p4_warn("sale refused reason=\"%s\"", tmp_reason);
        rc = rc == P4T_ENOMEM ? P4TERM_ENOMEM : P4TERM_EINVAL;
        goto out;
    }
    rc = journal_append_sale(t->j, s->id, seq, payload, s->total_minor, now_ms, s->customer,
                             s->has_loyalty ? s->loyalty_redeem : 0);
    if (rc == 0 && seq > 0)
        t->next_seq = seq + 1;
    pthread_mutex_unlock(&t->db_mu);
    if (rc) {
        snprintf(tmp_reason, sizeof(tmp_reason), "journal write failed");
        goto out;
    }
    s->seq = seq;
    if (out)
        memcpy(out, s, sizeof(*s));
    if (t->thread_started)
        wake_worker(t);
out:
    if (rc && reason && reason_len)
        snprintf(reason, reason_len, "%s", tmp_reason);
    free(payload);
    free(s);
    return rc;
}

int p4term_price(struct p4term *t, const char *sku, int64_t *price_minor, int64_t *ver)
{
    return p4term_price_at(t, sku, p4_now_ms(), price_minor, ver);
}

int p4term_price_at(struct p4term *t, const char *sku, int64_t at_ms, int64_t *price_minor,
                    int64_t *ver)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = cache_price(t->c, sku, at_ms, price_minor, ver);
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_price_state(struct p4term *t, const char *sku, struct p4t_price_state *out)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = cache_price_state(t->c, sku, out);
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_customer(struct p4term *t, const char *id, struct p4t_customer *out)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = cache_customer(t->c, id, out);
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_loyalty_balance(struct p4term *t, const char *customer, int64_t *balance)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = cache_loyalty(t->c, customer, balance);
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_promo(struct p4term *t, const char *id, struct p4t_promo *out)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = cache_promo(t->c, id, out);
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_stock(struct p4term *t, const char *sku, int64_t *on_hand)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = cache_stock(t->c, sku, on_hand);
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_cursor(struct p4term *t, int64_t *cursor, bool *synced)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = cache_cursor(t->c, cursor);
    pthread_mutex_unlock(&t->db_mu);
    if (synced) {
        pthread_mutex_lock(&t->mu);
        *synced = t->synced;
        pthread_mutex_unlock(&t->mu);
    }
    return rc;
}

int p4term_price_list(struct p4term *t, struct p4term_price_item *items, size_t max,
                      size_t *n_out)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = cache_price_list(t->c, p4_now_ms(), items, max, n_out);
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_pending(struct p4term *t, struct p4term_sale_info *items, size_t max, size_t *n_out,
                   int64_t *total)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = journal_list_pending(t->j, items, max, n_out);
    if (rc == 0 && total)
        rc = journal_count_pending(t->j, total);
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_sale_info(struct p4term *t, const char *id, struct p4term_sale_info *out)
{
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = journal_info(t->j, id, out);
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_kick(struct p4term *t)
{
    if (!t->thread_started)
        return 0;
    pthread_mutex_lock(&t->mu);
    t->kick = true;
    t->wake = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

bool p4term_link_up(struct p4term *t)
{
    bool up;

    pthread_mutex_lock(&t->mu);
    up = t->up;
    pthread_mutex_unlock(&t->mu);
    return up;
}

bool p4term_gateway_reachable(struct p4term *t)
{
    bool r;

    pthread_mutex_lock(&t->mu);
    r = t->gw_reachable;
    pthread_mutex_unlock(&t->mu);
    return r;
}

/* Sends hold request REQ (its req_id is set here) through the worker and waits up to
 * TIMEOUT_MS for the reply, copied into *REPLY. Returns 0, P4TERM_ETIMEDOUT,
 * P4TERM_EUNAVAIL (offline handle, every wait slot taken), P4TERM_EINVAL (REQ breaks the
 * contract) or P4TERM_ENOMEM. */
static int hold_exchange(struct p4term *t, struct p4t_hold_req *req, int64_t timeout_ms,
                         struct p4t_hold_reply *reply)
{
    struct hold_wait *w = NULL;
    struct timespec until;
    char *payload = NULL;
    int rc;

    if (!t->thread_started)
        return P4TERM_EUNAVAIL;
    pthread_mutex_lock(&t->mu);
    t->hold_counter++;
    snprintf(req->req_id, sizeof(req->req_id), "h%llx-%x",
             (unsigned long long)(p4_now_ms() & 0xffffffffffLL), (unsigned)t->hold_counter);
    pthread_mutex_unlock(&t->mu);
    if (p4t_hold_req_encode(req, &payload) != 0) {
        p4_warn("hold request refused hold=%s: breaks the contract", req->hold);
        return P4TERM_EINVAL;
    }
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < HOLD_WAIT_MAX && !w; i++) {
        if (!t->holds[i].used)
            w = &t->holds[i];
    }
    if (!w) {
        pthread_mutex_unlock(&t->mu);
        p4_warn("hold request refused hold=%s: %d requests already wait", req->hold,
                HOLD_WAIT_MAX);
        free(payload);
        return P4TERM_EUNAVAIL;
    }
    memset(w, 0, sizeof(*w));
    w->used = true;
    memcpy(w->req_id, req->req_id, sizeof(w->req_id));
    w->payload = payload;
    w->reply = reply;
    t->wake = true;
    pthread_cond_signal(&t->cv);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    while (!w->done) {
        if (pthread_cond_timedwait(&t->hold_cv, &t->mu, &until) == ETIMEDOUT)
            break;
    }
    rc = w->done ? 0 : P4TERM_ETIMEDOUT;
    free(w->payload); /* still here when it was never sent */
    memset(w, 0, sizeof(*w));
    pthread_mutex_unlock(&t->mu);
    if (rc)
        p4_warn("hold request unanswered req_id=%s hold=%s timeout_ms=%lld", req->req_id,
                req->hold, (long long)timeout_ms);
    return rc;
}

int p4term_hold(struct p4term *t, const char *const *skus, const int64_t *qtys, size_t n,
                int64_t ttl_ms, int64_t timeout_ms, char hold_id[P4T_OBJ_ID_MAX + 1],
                int64_t *granted, int64_t *expires_ms, char *reason, size_t reason_len)
{
    struct p4t_hold_req *req = NULL;
    struct p4t_hold_reply *reply = NULL;
    int rc;

    if (reason && reason_len)
        reason[0] = '\0';
    if (!t || !skus || !qtys || !hold_id || !granted || n == 0 || n > P4T_MAX_LINES ||
        timeout_ms < 0)
        return P4TERM_EINVAL;
    req = calloc(1, sizeof(*req));
    reply = calloc(1, sizeof(*reply));
    if (!req || !reply) {
        rc = P4TERM_ENOMEM;
        goto out;
    }
    if (p4_uuid7(req->hold) != 0) {
        rc = P4TERM_EIO;
        goto out;
    }
    req->ttl_ms = ttl_ms;
    req->n_lines = n;
    for (size_t i = 0; i < n; i++) {
        if (!skus[i] || strlen(skus[i]) > P4T_SKU_MAX) {
            rc = P4TERM_EINVAL;
            goto out;
        }
        snprintf(req->lines[i].sku, sizeof(req->lines[i].sku), "%s", skus[i]);
        req->lines[i].qty = qtys[i];
    }
    rc = hold_exchange(t, req, timeout_ms, reply);
    if (rc)
        goto out;
    /* The reply lists one grant per requested sku in request order; match by sku anyway. */
    for (size_t i = 0; i < n; i++) {
        granted[i] = 0;
        for (size_t k = 0; k < reply->n_granted; k++) {
            if (strcmp(reply->granted[k].sku, req->lines[i].sku) == 0) {
                granted[i] = reply->granted[k].qty < req->lines[i].qty
                                 ? reply->granted[k].qty
                                 : req->lines[i].qty;
                break;
            }
        }
    }
    memcpy(hold_id, req->hold, P4T_OBJ_ID_MAX + 1);
    if (expires_ms)
        *expires_ms = reply->expires_ms;
    if (reason && reason_len)
        snprintf(reason, reason_len, "%s", reply->reason);
out:
    free(reply);
    free(req);
    return rc;
}

int p4term_hold_release(struct p4term *t, const char *hold_id, int64_t timeout_ms)
{
    struct p4t_hold_req *req = NULL;
    struct p4t_hold_reply *reply = NULL;
    int rc;

    if (!t || !hold_id || !hold_id[0] || strlen(hold_id) > P4T_OBJ_ID_MAX || timeout_ms < 0)
        return P4TERM_EINVAL;
    req = calloc(1, sizeof(*req));
    reply = calloc(1, sizeof(*reply));
    if (!req || !reply) {
        rc = P4TERM_ENOMEM;
        goto out;
    }
    snprintf(req->hold, sizeof(req->hold), "%s", hold_id);
    req->release = true;
    rc = hold_exchange(t, req, timeout_ms, reply);
out:
    free(reply);
    free(req);
    return rc;
}
