/* SPDX-License-Identifier: Apache-2.0 */
/* The cloud sender: batches of undelivered outbox rows in oid order (after a reconnect in two
 * lanes, live records beside the backlog: lanes.c), a window of batches awaiting PUBACK,
 * delivered marking (on PUBACK, or when HQ's watermark covers a sale record), resend after
 * reconnect or when HQ does not commit what the broker took, resend of what a restored HQ
 * lost (its watermark went back), and pruning after keep_delivered_h. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "p4common.h"

/* Outstanding batches are kept after a connection loss ("orphans") because the MQTT library
 * may still complete them after it reconnects; their PUBACK is then handled as any other. The
 * table holds 4 windows; when it is full the oldest orphan is forgotten, which only means its
 * records are sent once more (the cloud dedupes on gw_seq). */
#define WIN_FACTOR 4

int outbox_init(struct outbox *o, struct replica *r, const struct p4gw_config *cfg)
{
    int64_t min_pending, head;
    int rc;

    memset(o, 0, sizeof(*o));
    o->r = r;
    o->cfg = cfg;
    rc = p4t_topic_up(o->topic, sizeof(o->topic), cfg->tenant, cfg->store, "sale");
    if (rc == 0)
        rc = p4t_topic_up(o->alert_topic, sizeof(o->alert_topic), cfg->tenant, cfg->store,
                          "alert");
    if (rc == 0)
        rc = p4t_topic_up(o->customer_topic, sizeof(o->customer_topic), cfg->tenant,
                          cfg->store, "customer");
    if (rc)
        return P4GW_EINVAL;
    o->win_cap = (size_t)cfg->max_inflight * WIN_FACTOR;
    o->win = calloc(o->win_cap, sizeof(*o->win));
    o->unmarked = calloc(OUTBOX_UNMARKED_MAX, sizeof(*o->unmarked));
    if (!o->win || !o->unmarked) {
        outbox_cleanup(o);
        return P4GW_ENOMEM;
    }
    o->wait_hq = !cfg->delivered_on_puback;
    rc = replica_int(r, RS_OUTBOX_COUNT, 0, &o->undelivered);
    if (rc == 0)
        rc = replica_int(r, RS_SALES_HEAD, 0, &head);
    if (rc == 0)
        rc = replica_int(r, RS_OUTBOX_MIN_SALE, head + 1, &min_pending);
    if (rc == 0) {
        replica_bind_text(r, RS_META_GET, 1, "hq_through");
        rc = replica_int(r, RS_META_GET, 0, &o->hq_through);
    }
    if (rc) {
        outbox_cleanup(o);
        return rc;
    }
    o->hq_marked = o->hq_marking = o->hq_through;
    o->hq_low = -1;
    o->lost.through = -1;
    /* What the broker acknowledged before a restart is not known: at least every record
     * marked delivered. */
    o->acked_gw_seq = min_pending - 1;
    o->delivered = o->wait_hq ? o->hq_through : min_pending - 1;
    p4_info("outbox open undelivered=%" PRId64 " delivered=%" PRId64 " delivered_on=%s"
            " hq_through=%" PRId64, o->undelivered, o->delivered, o->wait_hq ? "hq" : "puback",
            o->hq_through);
    return P4GW_OK;
}

void outbox_cleanup(struct outbox *o)
{
    free(o->win);
    o->win = NULL;
    free(o->unmarked);
    o->unmarked = NULL;
}

static ssize_t find(struct outbox *o, uint64_t batch_id)
{
    for (size_t i = 0; i < o->win_n; i++) {
        if (o->win[i].batch_id == batch_id)
            return (ssize_t)i;
    }
    return -1;
}

static void remove_at(struct outbox *o, size_t i)
{
    if (o->win[i].current)
        o->n_current--;
    memmove(&o->win[i], &o->win[i + 1], (o->win_n - i - 1) * sizeof(*o->win));
    o->win_n--;
}

/* Restarts sending from the oldest undelivered row: every current batch becomes an orphan.
 * What is undelivered now is the backlog; rows made from here on are live (lanes.c). */
static void rewind_window(struct outbox *o)
{
    int64_t min_pending = 0, head = 0;

    for (size_t i = 0; i < o->win_n; i++)
        o->win[i].current = false;
    o->n_current = 0;
    if (replica_int(o->r, RS_OUTBOX_MIN, 0, &min_pending) != 0)
        min_pending = 0; /* resend everything undelivered: safe, only slower */
    if (min_pending > 0 && replica_int(o->r, RS_OUTBOX_HEAD, 0, &head) != 0)
        head = 0; /* one lane: safe, only live sales wait */
    o->sent_upto = min_pending > 0 ? min_pending - 1 : 0;
    lanes_start(&o->lanes, o->cfg, min_pending, head);
}

/* The backlog was sent and the broker acknowledged all of it: the live lane's PUBACKs count
 * from now on like any other (the HQ timer may start: HQ can cover them now). */
static void lanes_merged(struct outbox *o, int64_t now_ms)
{
    int64_t live = o->lanes.live_acked_gw_seq;

    if (live > o->acked_gw_seq)
        o->acked_gw_seq = live;
    if (!o->wait_hq && live > o->delivered)
        o->delivered = live;
    if (o->wait_hq && o->acked_gw_seq > o->hq_through && o->hq_wait_ms == 0)
        o->hq_wait_ms = now_ms;
    p4_info("cloud sender: backlog sent and acknowledged by the broker, one lane again from "
            "oid=%" PRId64, o->sent_upto + 1);
}

void outbox_link_up(struct outbox *o)
{
    o->connected = true;
    rewind_window(o);
    p4_info("cloud sender resumes from oid=%" PRId64 " undelivered=%" PRId64 " live_from_oid=%"
            PRId64 "%s", o->sent_upto + 1, o->undelivered, o->lanes.live_from,
            o->lanes.split ? " (live lane beside the backlog)" : "");
}

void outbox_link_down(struct outbox *o)
{
    o->connected = false;
    o->hq_wait_ms = 0; /* the HQ resend timer runs only while the link is up */
    o->hq_low = -1;    /* so does the wait on a lower watermark: the retained one comes again */
    rewind_window(o);
}

static int mark(struct outbox *o, int64_t first_oid, int64_t last_oid)
{
    replica_bind_int(o->r, RS_OUTBOX_MARK, 1, first_oid);
    replica_bind_int(o->r, RS_OUTBOX_MARK, 2, last_oid);
    replica_bind_int(o->r, RS_OUTBOX_MARK, 3, p4_now_ms());
    return replica_exec(o->r, RS_OUTBOX_MARK);
}

/* Queues the range of batch B to be marked delivered by the next commit. */
static void queue_mark(struct outbox *o, const struct inflight *b)
{
    if (o->n_unmarked < OUTBOX_UNMARKED_MAX) {
        o->unmarked[o->n_unmarked].first_oid = b->first_oid;
        o->unmarked[o->n_unmarked].last_oid = b->last_oid;
        o->n_unmarked++;
    } else {
        o->unmarked_lost = true;
    }
}

int outbox_mark_delivered(struct outbox *o)
{
    int rc;

    o->unmarking = 0;
    for (size_t i = 0; i < o->n_unmarked; i++) {
        rc = mark(o, o->unmarked[i].first_oid, o->unmarked[i].last_oid);
        if (rc)
            return rc;
        o->unmarking += sqlite3_changes(o->r->db);
    }
    if (!o->wait_hq || o->hq_through <= o->hq_marked)
        return P4GW_OK;
    replica_bind_int(o->r, RS_OUTBOX_MARK_HQ, 1, o->hq_through);
    replica_bind_int(o->r, RS_OUTBOX_MARK_HQ, 2, p4_now_ms());
    rc = replica_exec(o->r, RS_OUTBOX_MARK_HQ);
    if (rc)
        return rc;
    o->unmarking += sqlite3_changes(o->r->db);
    replica_bind_text(o->r, RS_META_MAX, 1, "hq_through");
    replica_bind_int(o->r, RS_META_MAX, 2, o->hq_through);
    rc = replica_exec(o->r, RS_META_MAX);
    if (rc)
        return rc;
    o->hq_marking = o->hq_through;
    return P4GW_OK;
}

/* After the commit of an outbox_hq_rewind: the sender starts again from HQ's watermark. */
static void hq_rewound(struct outbox *o)
{
    const struct outbox_loss *l = &o->lost;

    o->undelivered += l->reopened;
    o->hq_through = o->hq_marked = o->hq_marking = o->delivered = l->through;
    if (o->acked_gw_seq > l->through)
        o->acked_gw_seq = l->through; /* what the broker took for the HQ that lost it */
    o->hq_low = -1;
    o->hq_wait_ms = 0;
    o->hq_backoff = 0;
    o->hq_rewinds++;
    o->hq_reopened += l->reopened;
    if (o->connected)
        rewind_window(o);
    p4_warn("HQ lost sale records: its watermark went back from %" PRId64 " to %" PRId64
            "; sending again from oid=%" PRId64 " records=%" PRId64 " pruned_gw_seq=%" PRId64
            "..%" PRId64 " rewinds=%" PRId64, l->held, l->through, o->sent_upto + 1, l->reopened,
            l->pruned_from, l->pruned_to, o->hq_rewinds);
}

void outbox_txn_done(struct outbox *o, bool committed)
{
    if (committed) {
        o->undelivered -= o->unmarking;
        o->unmarking = 0;
        o->n_unmarked = 0;
        o->unmarked_lost = false;
        if (o->wait_hq && o->hq_marking > o->hq_marked) {
            o->hq_marked = o->hq_marking;
            o->delivered = o->hq_marked;
        }
        if (o->lost.through >= 0)
            hq_rewound(o);
        o->lost.through = -1;
        return;
    }
    o->lost.through = -1;         /* the lower watermark still waits: tried again */
    o->unmarking = 0;             /* the depth is what the last commit left */
    o->hq_marking = o->hq_marked; /* marked again by the next transaction */
    if (o->unmarked_lost) {
        p4_warn("delivered marks lost with failed commits: resending from the oldest "
                "undelivered record");
        o->n_unmarked = 0;
        o->unmarked_lost = false;
        if (o->connected)
            rewind_window(o);
    }
}

void outbox_on_ack(struct outbox *o, uint64_t batch_id, int64_t now_ms)
{
    ssize_t i = find(o, batch_id);
    struct inflight b;

    if (i < 0) {
        p4_debug("puback for a forgotten batch batch=%" PRIu64, batch_id);
        return;
    }
    b = o->win[i];
    remove_at(o, (size_t)i);
    o->records_acked += b.n;
    o->last_ack_ms = now_ms;
    if (b.live && b.current && o->lanes.split) {
        /* Above the backlog's gap: HQ's watermark cannot cover it before the backlog, so it
         * neither moves the broker-acknowledged position nor starts the HQ timer until the
         * lanes merge. Delivered only when covered (hq) or on this PUBACK (puback, alerts). */
        if (b.last_gw_seq > o->lanes.live_acked_gw_seq)
            o->lanes.live_acked_gw_seq = b.last_gw_seq;
        if (!o->wait_hq || b.last_gw_seq == 0 || b.last_gw_seq <= o->hq_through)
            queue_mark(o, &b);
        return;
    }
    if (b.current && !b.live && lanes_try_merge(&o->lanes, o->win, o->win_n, &o->sent_upto))
        lanes_merged(o, now_ms);
    if (b.last_gw_seq > o->acked_gw_seq)
        o->acked_gw_seq = b.last_gw_seq;
    /* An alert or a sign-up has no gw_seq: HQ's watermark cannot cover it, the broker's PUBACK
     * is all. */
    if (!o->wait_hq || b.last_gw_seq == 0) {
        queue_mark(o, &b);
        if (!o->wait_hq && b.last_gw_seq > o->delivered)
            o->delivered = b.last_gw_seq;
        return;
    }
    if (b.last_gw_seq <= o->hq_through) {
        /* HQ committed them before their PUBACK came back (or said so for rows that did not
         * exist yet when its watermark arrived): delivered now. */
        queue_mark(o, &b);
        return;
    }
    if (o->hq_wait_ms == 0)
        o->hq_wait_ms = now_ms;
}

bool outbox_on_hq_ack(struct outbox *o, int64_t through, int64_t now_ms)
{
    if (through < o->hq_through) {
        /* Either HQ lost records (its database restored from an older backup) or two HQ
         * processes' publishes reached the broker out of order. outbox_hq_lost decides once
         * it has lasted hq_resend_s; the lowest one seen meanwhile is kept (resending more
         * is only slower). */
        if (o->hq_low < 0) {
            o->hq_low_ms = now_ms;
            p4_info("HQ watermark below the one held through=%" PRId64 " held=%" PRId64
                    ": waiting %" PRId64 " s for a higher one", through, o->hq_through,
                    o->cfg->hq_resend_s);
        }
        if (o->hq_low < 0 || through < o->hq_low)
            o->hq_low = through;
        return false;
    }
    o->hq_low = -1; /* a watermark at or above the one held: nothing was lost */
    if (through == o->hq_through) {
        p4_debug("HQ watermark not above the one held through=%" PRId64, through);
        return false;
    }
    o->hq_through = through;
    o->hq_backoff = 0;
    /* HQ is committing: records it has not covered yet get a full hq_resend_s from now. */
    o->hq_wait_ms = o->acked_gw_seq > through ? now_ms : 0;
    return true;
}

bool outbox_tick(struct outbox *o, int64_t now_ms)
{
    int shift = o->hq_backoff < OUTBOX_RESEND_SHIFT_MAX ? o->hq_backoff
                                                        : OUTBOX_RESEND_SHIFT_MAX;
    int64_t wait_ms = (o->cfg->hq_resend_s * 1000) << shift;

    if (!o->wait_hq || !o->connected || o->hq_wait_ms == 0 || o->acked_gw_seq <= o->hq_through)
        return false;
    if (now_ms - o->hq_wait_ms < wait_ms)
        return false;
    o->hq_resends++;
    o->hq_backoff++;
    o->hq_wait_ms = 0; /* starts again at the next PUBACK of a record HQ does not hold */
    rewind_window(o);
    p4_warn("HQ did not commit records the cloud broker acknowledged within %" PRId64 " s: "
            "sending again from oid=%" PRId64 " hq_through=%" PRId64 " broker_acked=%" PRId64
            " resends=%" PRId64, wait_ms / 1000, o->sent_upto + 1, o->hq_through,
            o->acked_gw_seq, o->hq_resends);
    return true;
}

/* Out-of-order publishes of two HQ processes are told apart from a restored HQ by time: each
 * process publishes after every commit of the store's records, so while the store sells, or
 * after the gateway's next status (HQ answers every status with its watermark), the newer,
 * higher watermark follows within moments. A lower one that lasts hq_resend_s with the link up
 * is HQ's truth. Were it a stale one after all, the resend is harmless: HQ drops the copies by
 * (store, gw_seq) and its next watermark is the higher one again. There is no field to decide
 * by instead: a restored database brings back its older watermark and max_gw_seq alike. */
bool outbox_hq_lost(const struct outbox *o, int64_t now_ms, int64_t *through)
{
    if (!o->wait_hq || !o->connected || o->hq_low < 0 ||
        now_ms - o->hq_low_ms < o->cfg->hq_resend_s * 1000)
        return false;
    *through = o->hq_low;
    return true;
}

int outbox_hq_rewind(struct outbox *o, int64_t through, struct outbox_loss *loss)
{
    struct outbox_loss *l = &o->lost;
    int64_t kept_min = 0;
    int rc;

    memset(l, 0, sizeof(*l));
    l->through = -1;
    replica_bind_int(o->r, RS_OUTBOX_REOPEN, 1, through);
    rc = replica_exec(o->r, RS_OUTBOX_REOPEN);
    if (rc)
        return rc;
    l->reopened = sqlite3_changes(o->r->db);
    replica_bind_int(o->r, RS_OUTBOX_KEPT_MIN, 1, through);
    rc = replica_int(o->r, RS_OUTBOX_KEPT_MIN, 0, &kept_min);
    if (rc)
        return rc;
    replica_bind_text(o->r, RS_META_SET, 1, "hq_through");
    replica_bind_int(o->r, RS_META_SET, 2, through);
    rc = replica_exec(o->r, RS_META_SET);
    if (rc)
        return rc;
    l->held = o->hq_through;
    /* Sale rows are written in gw_seq order and pruned from the oldest, so what is held above
     * THROUGH is one run from KEPT_MIN: below it (and up to what HQ had held) is gone. */
    if (kept_min == 0 || kept_min > through + 1) {
        int64_t to = kept_min == 0 || kept_min - 1 > l->held ? l->held : kept_min - 1;

        if (to > through) {
            l->pruned_from = through + 1;
            l->pruned_to = to;
        }
    }
    l->through = through;
    if (loss)
        *loss = *l;
    return P4GW_OK;
}

void outbox_on_nack(struct outbox *o, uint64_t batch_id)
{
    ssize_t i = find(o, batch_id);
    bool current;

    if (i < 0)
        return;
    current = o->win[i].current;
    p4_warn("cloud batch failed batch=%" PRIu64 " first=%" PRId64 " last=%" PRId64, batch_id,
            o->win[i].first_oid, o->win[i].last_oid);
    remove_at(o, (size_t)i);
    /* Resend in order from the oldest undelivered record. */
    if (current)
        rewind_window(o);
}

/* Appends an outstanding batch. MQTT reuses a token only once its message is finished, so
 * an orphan with the same token is dead: drop it, or its range would be marked delivered by
 * this batch's PUBACK. If the table is full the oldest orphan is forgotten. */
static void push_batch(struct outbox *o, const struct inflight *b)
{
    ssize_t i = find(o, b->batch_id);

    if (i >= 0)
        remove_at(o, (size_t)i);
    if (o->win_n == o->win_cap) {
        /* n_current <= max_inflight < win_cap, so the oldest entry is an orphan. */
        remove_at(o, 0);
    }
    o->win[o->win_n++] = *b;
    o->n_current++;
}

/* Reads the next batch of the rows NX names into B: consecutive sale records (up to the item
 * and byte caps), or one alert or one customer sign-up message alone (HQ reads those one per
 * message, contract 6.3 and 6.8). *ALONE_TOPIC is then that message's topic, else NULL; FL
 * gets the oid range and the highest gw_seq. */
static int read_batch(struct outbox *o, const struct lane_next *nx,
                      struct p4t_batch_builder *b, struct inflight *fl, char **alert,
                      const char **alone_topic)
{
    struct replica *r = o->r;
    sqlite3_stmt *st = r->st[RS_OUTBOX_PENDING];
    int rc;

    *alone_topic = NULL;
    *alert = NULL;
    replica_bind_int(r, RS_OUTBOX_PENDING, 1, nx->after);
    replica_bind_int(r, RS_OUTBOX_PENDING, 2, o->cfg->batch_max_items);
    replica_bind_int(r, RS_OUTBOX_PENDING, 3, nx->upto);
    for (;;) {
        const char *rec, *kind;
        int64_t oid;

        rc = replica_row(r, RS_OUTBOX_PENDING);
        if (rc <= 0)
            return rc;
        oid = sqlite3_column_int64(st, 0);
        rec = (const char *)sqlite3_column_text(st, 1);
        kind = (const char *)sqlite3_column_text(st, 2);
        if (!rec || !kind)
            break;
        if (strcmp(kind, "alert") == 0 || strcmp(kind, "customer") == 0) {
            if (fl->n > 0)
                break; /* the alert starts the next message */
            *alert = strdup(rec);
            if (!*alert)
                break;
            *alone_topic = kind[0] == 'a' ? o->alert_topic : o->customer_topic;
            fl->first_oid = fl->last_oid = oid;
            fl->n = 1;
            break;
        }
        if (p4t_batch_add(b, rec, (size_t)sqlite3_column_bytes(st, 1)) != 0)
            break; /* full (the next batch starts with this row) or out of memory */
        if (fl->n == 0)
            fl->first_oid = oid;
        fl->last_oid = oid;
        fl->last_gw_seq = sqlite3_column_int64(st, 3);
        fl->n++;
    }
    replica_reset(r, RS_OUTBOX_PENDING);
    return P4GW_OK;
}

int outbox_fill(struct outbox *o, struct link *cloud)
{
    unsigned empty = 0; /* bit (1 << lane): that lane had nothing to send */
    int sent = 0;

    while (o->connected && o->n_current < (size_t)o->cfg->max_inflight) {
        struct p4t_batch_builder b;
        struct lane_next nx;
        struct inflight fl = {0};
        char *text = NULL, *alert = NULL;
        const char *alone_topic;
        size_t len = 0;
        int rc;

        if (!lanes_next(&o->lanes, o->cfg, o->win, o->win_n, o->sent_upto,
                        o->wait_hq ? o->hq_through : -1, empty, &nx))
            break;
        if (p4t_batch_init(&b, o->cfg->store, (size_t)nx.max_bytes) != 0)
            return sent;
        rc = read_batch(o, &nx, &b, &fl, &alert, &alone_topic);
        if (rc == 0 && fl.n == 0) {
            p4t_batch_cleanup(&b);
            empty |= 1u << nx.lane;
            if (nx.lane == LANE_BACKLOG && o->lanes.split) {
                lanes_backlog_empty(&o->lanes, &o->sent_upto);
                if (lanes_try_merge(&o->lanes, o->win, o->win_n, &o->sent_upto)) {
                    lanes_merged(o, o->last_ack_ms);
                    empty = 0; /* one lane again: it goes on from the live cursor */
                }
            }
            continue;
        }
        if (rc) {
            p4t_batch_cleanup(&b);
            free(alert);
            break;
        }
        if (alone_topic) {
            text = alert;
            len = strlen(alert);
        } else {
            rc = p4t_batch_take(&b, &text, &len);
        }
        p4t_batch_cleanup(&b);
        if (rc)
            break;
        wire_pack(o->cfg, &text, &len); /* zstd when configured and HQ reads it (1.3) */
        /* The PUBACK event can only be handled after this returns: the core thread runs
         * both, so recording the batch after the publish is not a race. */
        rc = link_publish(cloud, alone_topic ? alone_topic : o->topic, text, len, 1, false,
                          &fl.batch_id);
        free(text);
        if (rc)
            break;
        fl.current = true;
        fl.live = nx.lane == LANE_LIVE && o->lanes.split;
        fl.wire_bytes = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
        push_batch(o, &fl);
        lanes_sent(&o->lanes, nx.lane, &fl, &o->sent_upto);
        o->records_sent += fl.n;
        sent += (int)fl.n;
    }
    return sent;
}

int outbox_lanes_view(struct outbox *o, int64_t now_ms, bool query, struct lanes_view *v)
{
    int64_t upto = o->connected ? o->lanes.live_from : INT64_MAX;
    int64_t ts_ms = 0;
    int rc;

    if (o->connected && !o->lanes.split) {
        memset(v, 0, sizeof(*v));
        v->live = o->undelivered; /* no backlog: every record goes as it comes */
        return P4GW_OK;
    }
    if (!o->connected) {
        v->backlog = o->undelivered; /* all of it waits for the link */
        v->live = 0;
    } else if (query) {
        replica_bind_int(o->r, RS_OUTBOX_COUNT_BEFORE, 1, upto);
        rc = replica_int(o->r, RS_OUTBOX_COUNT_BEFORE, 0, &v->backlog);
        if (rc)
            return rc;
        if (v->backlog > o->undelivered)
            v->backlog = o->undelivered; /* marks of a transaction not yet counted */
        v->live = o->undelivered - v->backlog;
    }
    if (!query)
        return P4GW_OK; /* split: the pair counted last time, both of that moment */
    v->backlog_age_s = 0;
    replica_bind_int(o->r, RS_OUTBOX_OLDEST_TS, 1, upto);
    rc = replica_row(o->r, RS_OUTBOX_OLDEST_TS);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        const char *ts = (const char *)sqlite3_column_text(o->r->st[RS_OUTBOX_OLDEST_TS], 0);

        if (ts && p4t_ts_parse(ts, &ts_ms) == 0 && now_ms > ts_ms)
            v->backlog_age_s = (now_ms - ts_ms) / 1000;
        replica_reset(o->r, RS_OUTBOX_OLDEST_TS);
    }
    return P4GW_OK;
}

int outbox_prune(struct outbox *o, int limit, int64_t now_ms)
{
    int64_t keep_ms = o->cfg->keep_delivered_h * 3600000;
    int rc;

    replica_bind_int(o->r, RS_OUTBOX_PRUNE, 1, limit);
    replica_bind_int(o->r, RS_OUTBOX_PRUNE, 2, keep_ms > 0 ? now_ms - keep_ms : INT64_MAX);
    rc = replica_exec(o->r, RS_OUTBOX_PRUNE);
    if (rc)
        return rc;
    return sqlite3_changes(o->r->db);
}
