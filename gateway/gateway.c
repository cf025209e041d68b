/* SPDX-License-Identifier: Apache-2.0 */
/* The core loop: one thread owns SQLite and all state; it drains the event queue, applies a
 * group of sales in one transaction, acknowledges after COMMIT, answers syncs and feeds the
 * cloud sender. */
#include "p4gw.h"
#include "ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>

#include "p4common.h"

volatile sig_atomic_t p4gw_stop_flag;
volatile sig_atomic_t p4gw_reopen_flag;

int p4gw_signals_mask(int how)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return pthread_sigmask(how, &set, NULL);
}

#define QUEUE_MAX_MSGS 50000
#define QUEUE_MAX_BYTES (64u * 1024 * 1024)
#define WAIT_MS 100               /* idle wake-up: signal flags and timers */
#define REPLICA_BACKOFF_MAX_MS 5000 /* longest pause between commits to a failing replica */
#define STATUS_EVERY_MS 1000      /* counters in the status: at most this often */
/* Delivered outbox rows and old change-log rows are deleted in small passes, often: a pass
 * takes about 1 ms (2 us a row), where one pass of 20,000 rows after a burst held every
 * sale behind it for 40 ms. 500 rows every 50 ms keeps up with 10,000 sales/s. */
#define PRUNE_EVERY_MS 50
#define PRUNE_MAX_ROWS 500
#define STATS_EVERY_MS 5000
#define HOLDS_EVERY_MS 1000       /* expired holds, price windows starting or ending */
#define STOP_FLUSH_MS 2000
#define RETRY_WAIT_MS 5           /* wake-up while refused local publishes wait */
#define PENDING_MAX_MSGS 200000   /* refused local publishes kept for retry */
#define PENDING_MAX_BYTES (128u * 1024 * 1024)

struct gw {
    const struct p4gw_config *cfg;
    struct replica r;
    struct queue q;
    struct group grp;
    struct outbox ob;
    struct link local, cloud;
    struct pending pend;      /* local publishes Paho refused, retried in order */
    struct syncer sync;       /* sync requests; snapshots streamed a slice per iteration */
    bool sync_busy;           /* a snapshot is in progress or waiting: do not sleep */
    bool queue_ok, ingest_ok, outbox_ok;
    bool local_up, cloud_up;
    char sale_filter[P4T_TOPIC_MAX], sync_filter[P4T_TOPIC_MAX], hold_filter[P4T_TOPIC_MAX];
    char lookup_filter[P4T_TOPIC_MAX], customer_filter[P4T_TOPIC_MAX]; /* 1.2, customers.c */
    char down_filter[P4T_TOPIC_MAX], down_all_filter[P4T_TOPIC_MAX];
    char resync_topic[P4T_TOPIC_MAX];
    char hq_ack_topic[P4T_TOPIC_MAX]; /* down/ack: HQ's committed watermark (contract 6.7) */
    bool resync_due;          /* HQ may hold downlink data we missed: ask for it when online */
    /* A replaced gateway (contract 6.7, 1.2): the replica's epoch, whether the replica is new
     * and asks HQ for its stock figures, the last resync's req_id (HQ's ack naming it carries
     * max_gw_seq), and sales left unanswered while the numbering was unknown. */
    int64_t epoch;
    bool rebuild_stock;
    char resync_req_id[P4T_ID_MAX + 1];
    int64_t numbering_from_ms, n_unnumbered;
    int64_t cloud_up_ms;      /* monotonic time of the last cloud connect */
    /* Sales taken, unanswered, while the numbering is unknown: handled once it is known. At
     * most WAITING_MAX; beyond, a sale is dropped unanswered and its register resends it. */
    struct event *waiting_head, *waiting_tail;
    size_t n_waiting;
    bool hq_ack_seen;         /* a down/ack of this store arrived (retained or live) */
    bool numbering_learnt;    /* in the open group: undone if it fails */
    int64_t cloud_down_ms;    /* monotonic time the cloud link went down (0 while up) */
    int64_t last_holds_ms;
    char status_topic[P4T_TOPIC_MAX], cloud_status_topic[P4T_TOPIC_MAX];
    char alert_topic[P4T_TOPIC_MAX], cloud_alert_topic[P4T_TOPIC_MAX];
    char changes_topic[P4T_TOPIC_MAX];
    struct out_list out;      /* change messages and sync replies of this iteration */
    char last_state[16];
    bool cloud_status_due;      /* the cloud copy of the status is still to be published */
    int64_t cloud_status_refused; /* refusals in a row of that publish (logged on the first) */
    int64_t last_status_ms, last_status_outbox, last_status_delivered, last_status_hq;
    struct lanes_view lanes;    /* the outbox's lanes, refreshed by lanes_refresh */
    int64_t lanes_ms;           /* when (monotonic) they were last read */
    int64_t last_prune_ms, last_stats_ms;
    int64_t groups, commit_ms_total;
    struct p4gw_counters cnt;   /* figures for the metrics endpoint (ops.h) */
    struct p4gw_metrics *metrics; /* NULL when [metrics] listen is off */
    int64_t replica_failures;   /* failed commits in a row */
    int64_t replica_retry_ms;   /* no transaction before this (monotonic ms) */
    bool replica_alerted;       /* the replica_failed alert went out for this episode */
};

static const char *current_state(const struct gw *g)
{
    return g->cloud_up ? "online" : "wan_down";
}

/* hq_through for the status: absent (-1) when sale records do not wait for HQ. */
static int64_t status_hq(const struct gw *g)
{
    return g->ob.wait_hq ? g->ob.hq_through : -1;
}

/* The replica's epoch for the status, once the gateway numbers sales: registers that see a new
 * one send it again what they hold that HQ has not committed (contract 5.4, 1.2). */
static int64_t status_epoch(const struct gw *g)
{
    return g->grp.gw_seq_unknown ? 0 : g->epoch;
}

/* Brings the outbox's lanes up to date: from memory every time, and from the replica (two
 * indexed queries while a backlog drains, one while the link is down) when FORCE (a status
 * is going out, at most once per STATUS_EVERY_MS unless its state changes) or once
 * STATUS_EVERY_MS has passed (the metrics), so their count and age are at most that old. */
static void lanes_refresh(struct gw *g, bool force)
{
    int64_t now = p4_mono_ms();
    bool query = force || !g->lanes_ms || now - g->lanes_ms >= STATUS_EVERY_MS;

    if (outbox_lanes_view(&g->ob, p4_now_ms(), query, &g->lanes) != 0)
        return; /* logged by the replica; the last figures stay */
    if (query)
        g->lanes_ms = now;
}

/* The lanes for the status: only with status_revision = 1.4 (older receivers refuse them). */
static const struct lanes_view *status_lanes(const struct gw *g)
{
    return g->cfg->status_lanes ? &g->lanes : NULL;
}

/* Publishes PAYLOAD (malloc'd, owned from here on) on the store broker, QoS 1. What Paho
 * refuses, and everything after it while older messages wait, goes to the pending list so
 * order is kept; it is retried every iteration. Without a connection the message is dropped:
 * acks and sync replies of a lost connection are re-earned, because registers resend pending
 * sales and sync again after every reconnect. */
static void publish_local(struct gw *g, const char *topic, char *payload, size_t len,
                          bool retained)
{
    if (!g->local_up) {
        free(payload);
        return;
    }
    if (g->pend.n == 0 && link_publish(&g->local, topic, payload, len, 1, retained, NULL) == 0) {
        free(payload);
        return;
    }
    pending_push(&g->pend, topic, payload, len, retained);
}

/* Publishes the current status on up/status (retained) when one is due and the cloud link is
 * up. Paho may refuse it (its command queue full, the connection going): it stays due and is
 * tried again every iteration with the counters of that moment; the first refusal of a run
 * is logged, and the publish that finally goes. A reconnect publishes the status anyway. */
static void publish_cloud_status(struct gw *g)
{
    char *text = NULL;
    int rc;

    if (!g->cloud_status_due || !g->cloud_up)
        return;
    if (status_encode(current_state(g), g->ob.undelivered, g->ob.delivered, status_hq(g),
                      status_epoch(g), status_lanes(g), &text) != 0)
        return;
    rc = link_publish(&g->cloud, g->cloud_status_topic, text, strlen(text), 1, true, NULL);
    free(text);
    if (rc != 0) {
        if (g->cloud_status_refused++ == 0)
            p4_warn("cloud status publish refused by the MQTT client: retrying");
        return;
    }
    if (g->cloud_status_refused)
        p4_info("cloud status published after refusals=%" PRId64, g->cloud_status_refused);
    g->cloud_status_refused = 0;
    g->cloud_status_due = false;
}

static void publish_status(struct gw *g, const char *state, bool force)
{
    int64_t now = p4_mono_ms();
    char *text = NULL;

    /* A change of state goes out at once; the counters at most once per STATUS_EVERY_MS, so a
     * trickle of sales (outbox 0 -> 1 -> 0 for each) does not double the broker traffic. */
    if (!force && strcmp(state, g->last_state) == 0 &&
        (now - g->last_status_ms < STATUS_EVERY_MS ||
         (g->ob.undelivered == g->last_status_outbox &&
          g->ob.delivered == g->last_status_delivered && status_hq(g) == g->last_status_hq)))
        return;
    lanes_refresh(g, true); /* a status carries the lanes of its moment */
    if (status_encode(state, g->ob.undelivered, g->ob.delivered, status_hq(g), status_epoch(g),
                      status_lanes(g), &text) != 0)
        return;
    g->cloud_status_due = true;
    publish_cloud_status(g);
    if (strcmp(state, g->last_state) != 0)
        p4_info("status state=%s outbox=%" PRId64 " delivered=%" PRId64, state,
                g->ob.undelivered, g->ob.delivered);
    publish_local(g, g->status_topic, text, strlen(text), true);
    snprintf(g->last_state, sizeof(g->last_state), "%s", state);
    g->last_status_ms = now;
    g->last_status_outbox = g->ob.undelivered;
    g->last_status_delivered = g->ob.delivered;
    g->last_status_hq = status_hq(g);
}


/* Publishes the alerts the last commit stored (the outbox carries them to HQ). */
static void publish_alerts(struct gw *g)
{
    for (size_t i = 0; i < g->grp.alerts.n; i++) {
        struct out_msg *m = &g->grp.alerts.items[i];

        p4gw_counters_alert(&g->cnt, m->payload);
        publish_local(g, g->alert_topic, m->payload, m->len, false);
        m->payload = NULL;
    }
    out_list_clear(&g->grp.alerts);
}

/* Publishes the group's acks, hold replies, alerts and change messages: called only after the
 * commit that holds their data. */
static void publish_group(struct gw *g)
{
    for (size_t i = 0; i < g->grp.acks.n; i++) {
        struct out_msg *m = &g->grp.acks.items[i];

        publish_local(g, m->topic, m->payload, m->len, false);
        m->payload = NULL;
    }
    out_list_clear(&g->grp.acks);
    publish_alerts(g);
    if (g->grp.changes.n)
        sync_changes_msgs(&g->grp.changes, g->changes_topic, &g->out);
    group_done(&g->grp);
    for (size_t i = 0; i < g->out.n; i++) {
        struct out_msg *m = &g->out.items[i];

        publish_local(g, m->topic, m->payload, m->len, false);
        m->payload = NULL;
    }
    out_list_clear(&g->out);
}

/* Runs FN in a transaction of its own (for work outside a group: timers, the outbox cap) and
 * publishes what it produced. */
static void small_txn(struct gw *g, int (*fn)(struct gw *g, void *arg), void *arg)
{
    int rc = replica_begin(&g->r);

    if (rc == 0)
        rc = group_begin(&g->grp);
    if (rc == 0)
        rc = fn(g, arg) < 0 ? P4GW_EIO : P4GW_OK;
    if (rc == 0)
        rc = replica_commit(&g->r);
    if (rc) {
        replica_rollback(&g->r);
        group_abort(&g->grp);
        return;
    }
    g->ob.undelivered += g->grp.n_new;
    publish_group(g);
}

static int cap_alert(struct gw *g, void *arg)
{
    struct p4t_alert *a = &g->grp.alert;
    char key[32];

    (void)arg;
    memset(a, 0, sizeof(*a));
    snprintf(a->kind, sizeof(a->kind), P4T_ALERT_OUTBOX_CAP);
    snprintf(a->severity, sizeof(a->severity), "critical");
    snprintf(a->message, sizeof(a->message), "%" PRId64 " sales wait for the cloud (cap %" PRId64
             ")", g->ob.undelivered, g->cfg->outbox_cap);
    snprintf(a->details, sizeof(a->details), "{\"outbox\":%" PRId64 ",\"cap\":%" PRId64 "}",
             g->ob.undelivered, g->cfg->outbox_cap);
    snprintf(key, sizeof(key), "%" PRId64, g->grp.gw_head);
    return group_alert(&g->grp, a, key);
}

/* The outbox never drops: crossing the cap raises one alert, and sales keep being accepted. */
static void check_outbox_cap(struct gw *g)
{
    if (g->ob.undelivered >= g->cfg->outbox_cap && !g->ob.over_cap) {
        g->ob.over_cap = true;
        small_txn(g, cap_alert, NULL);
    } else if (g->ob.undelivered < g->cfg->outbox_cap && g->ob.over_cap) {
        g->ob.over_cap = false;
        p4_info("outbox back under its cap undelivered=%" PRId64, g->ob.undelivered);
    }
}

/* Stores the hq_lost_sales alert of the rewind L (inside the open transaction). */
static int hq_lost_alert(struct gw *g, const struct outbox_loss *l)
{
    struct p4t_alert *a = &g->grp.alert;
    char key[48];
    int n;

    memset(a, 0, sizeof(*a));
    snprintf(a->kind, sizeof(a->kind), P4T_ALERT_HQ_LOST_SALES);
    snprintf(a->severity, sizeof(a->severity), "critical");
    n = snprintf(a->message, sizeof(a->message), "HQ lost sales: its watermark went back from "
                 "%" PRId64 " to %" PRId64 "; %" PRId64 " sales kept here are sent again",
                 l->held, l->through, l->reopened);
    if (l->pruned_to > 0 && n > 0 && (size_t)n < sizeof(a->message))
        snprintf(a->message + n, sizeof(a->message) - (size_t)n, "; gw_seq %" PRId64 "..%"
                 PRId64 " were already pruned here: only the registers' journals or a backup "
                 "can supply them", l->pruned_from, l->pruned_to);
    snprintf(a->details, sizeof(a->details), "{\"through\":%" PRId64 ",\"held\":%" PRId64
             ",\"resent\":%" PRId64 ",\"pruned_from\":%" PRId64 ",\"pruned_to\":%" PRId64 "}",
             l->through, l->held, l->reopened, l->pruned_from, l->pruned_to);
    snprintf(key, sizeof(key), "%" PRId64 "/%" PRId64, l->through, l->held);
    return group_alert(&g->grp, a, key);
}

/* HQ's watermark stayed below the one held (outbox_hq_lost): one transaction marks the sale
 * records HQ lacks undelivered again, lowers meta hq_through and stores the hq_lost_sales
 * alert; after its commit the sender starts again from HQ's watermark and the status shows it.
 * A failed transaction changes nothing and is tried again at the next iteration. */
static void check_hq_lost(struct gw *g)
{
    struct outbox_loss loss;
    int64_t through;
    int rc;

    if (g->replica_failures || !outbox_hq_lost(&g->ob, p4_mono_ms(), &through))
        return;
    rc = replica_begin(&g->r);
    if (rc == 0)
        rc = group_begin(&g->grp);
    if (rc == 0)
        rc = outbox_mark_delivered(&g->ob); /* settle what is pending first */
    if (rc == 0)
        rc = outbox_hq_rewind(&g->ob, through, &loss);
    if (rc == 0)
        rc = hq_lost_alert(g, &loss) < 0 ? P4GW_EIO : P4GW_OK;
    if (rc == 0)
        rc = replica_commit(&g->r);
    if (rc) {
        replica_rollback(&g->r);
        group_abort(&g->grp);
        outbox_txn_done(&g->ob, false);
        return;
    }
    outbox_txn_done(&g->ob, true);
    g->ob.undelivered += g->grp.n_new;
    publish_group(g);
    publish_status(g, current_state(g), true);
}

static int meta_set(struct replica *r, const char *key, int64_t value)
{
    replica_bind_text(r, RS_META_SET, 1, key);
    replica_bind_int(r, RS_META_SET, 2, value);
    return replica_exec(r, RS_META_SET);
}

/* The replica's epoch (made once, new after a restore) and whether it knows where gw_seq goes
 * on. A replica made before this knew it; a new, empty one waiting for HQ's acks (a replaced
 * gateway) does not, and asks HQ for its stock figures too (contract 6.6 rebuild). */
static int numbering_init(struct gw *g, int64_t n_changes)
{
    int64_t known = 0;
    int rc;

    replica_bind_text(&g->r, RS_META_GET, 1, "epoch");
    rc = replica_int(&g->r, RS_META_GET, 0, &g->epoch);
    if (!rc && g->epoch <= 0) {
        g->epoch = p4_now_ms();
        rc = meta_set(&g->r, "epoch", g->epoch);
    }
    if (!rc) {
        replica_bind_text(&g->r, RS_META_GET, 1, "gw_seq_known");
        rc = replica_int(&g->r, RS_META_GET, 0, &known);
    }
    if (!rc && known == 0) {
        /* 1 known, 2 not yet (a new replica, or a restore given no --next-gw-seq). */
        known = g->ob.wait_hq && g->grp.gw_head == 0 && n_changes == 0 ? 2 : 1;
        rc = meta_set(&g->r, "gw_seq_known", known);
    }
    if (rc)
        return rc;
    g->grp.gw_seq_unknown = known == 2;
    g->rebuild_stock = n_changes == 0;
    g->numbering_from_ms = p4_mono_ms();
    if (g->grp.gw_seq_unknown) {
        g->resync_due = true;
        p4_info("new replica epoch=%" PRId64 ": sales wait until HQ says where gw_seq goes on"
                " (the registers keep them)", g->epoch);
    }
    return P4GW_OK;
}

/* Asks HQ for downlink data we may have missed (contract 6.6); retried until published. */
static void send_resync(struct gw *g)
{
    struct p4t_resync rq;
    char *text = NULL;

    memset(&rq, 0, sizeof(rq));
    snprintf(rq.store, sizeof(rq.store), "%s", g->cfg->store);
    snprintf(rq.req_id, sizeof(rq.req_id), "gw-%" PRId64, p4_now_ms());
    rq.rebuild = g->rebuild_stock;
    rq.has_head = g->grp.gw_seq_unknown;
    rq.head = g->grp.gw_head;
    if (downlink_since(&g->r, &rq) != 0 || p4t_resync_encode(&rq, &text) != 0) {
        p4_error("resync request not built");
        g->resync_due = false;
        return;
    }
    if (link_publish(&g->cloud, g->resync_topic, text, strlen(text), 1, false, NULL) == 0) {
        g->resync_due = false;
        snprintf(g->resync_req_id, sizeof(g->resync_req_id), "%s", rq.req_id);
        p4_info("resync requested req_id=%s since price=%" PRId64 " promo=%" PRId64
                " customer=%" PRId64 " loyalty=%" PRId64 " rebuild=%d", rq.req_id,
                rq.since_price, rq.since_promo, rq.since_customer, rq.since_loyalty,
                rq.rebuild);
    }
    free(text);
}

static void on_local_up(struct gw *g)
{
    g->local_up = true;
    g->cnt.local_connects++;
    /* Paho leaves Nagle on: without this an ack waits ~40 ms behind our PUBACK of the sale
     * for the broker's delayed ACK. Each connect makes a new socket, so set it every time. */
    p4_tcp_nodelay_all();
    p4_info("store broker connected");
    /* A clean session forgets subscriptions: subscribe on every connect. The SUBACKs come
     * back as events (link_on_suback): a refused one is logged and asked again. */
    link_subscribe_all(&g->local);
    publish_status(g, current_state(g), true);
}

static void on_cloud_up(struct gw *g)
{
    int64_t down_ms = g->cloud_down_ms ? p4_mono_ms() - g->cloud_down_ms : 0;

    g->cloud_up = true;
    g->cloud_up_ms = p4_mono_ms();
    g->cnt.cloud_connects++;
    g->cloud_down_ms = 0;
    p4_tcp_nodelay_all(); /* batches and the status go out at once (see on_local_up) */
    p4_info("cloud connected after_down_ms=%" PRId64, down_ms);
    /* Subscribing again is harmless with a persistent session and covers a broker that lost
     * it; what it queued for us while we were away arrives either way. */
    link_subscribe_all(&g->cloud);
    if (down_ms > g->cfg->resync_after_s * 1000) {
        p4_info("cloud outage longer than resync_after_s=%" PRId64 ": resync",
                g->cfg->resync_after_s);
        g->resync_due = true;
    }
    outbox_link_up(&g->ob);
    publish_status(g, current_state(g), true);
}

static void handle_sync(struct gw *g, const struct event *ev, int64_t now_ms)
{
    struct p4t_sync_req req;
    char reason[P4T_REASON_MAX], store[P4T_ID_MAX + 1], reg[P4T_ID_MAX + 1];
    enum p4t_local kind;

    if (p4t_topic_parse_local(ev->topic, &kind, store, reg) != 0)
        return;
    if (ev->orig_len > P4T_MAX_PAYLOAD ||
        p4t_sync_req_decode(ev->payload, ev->len, &req, reason, sizeof(reason)) != 0) {
        if (ev->orig_len > P4T_MAX_PAYLOAD)
            snprintf(reason, sizeof(reason), "payload too large: %zu bytes", ev->orig_len);
        p4_warn("sync request rejected reg=%s reason=\"%s\"", reg, reason);
        group_reject(&g->grp, ev->topic, ev->payload, ev->len, reason, now_ms);
        return;
    }
    if (sync_request(&g->sync, reg, &req, &g->out) != 0)
        p4_warn("sync request not answered reg=%s req_id=%s", reg, req.req_id);
}

/* A bounded step of the snapshot in progress (a few milliseconds), so a register's cold start
 * never holds up the acks of the others. */
static void pump_snapshots(struct gw *g)
{
    g->sync_busy = false;
    if (!g->local_up)
        return;
    sync_pump(&g->sync, &g->out, &g->sync_busy);
    for (size_t i = 0; i < g->out.n; i++) {
        struct out_msg *m = &g->out.items[i];

        publish_local(g, m->topic, m->payload, m->len, false);
        m->payload = NULL;
    }
    out_list_clear(&g->out);
}

/* Which store topic a message came on; -1 when it is not one of ours. */
static int local_kind(const struct event *ev)
{
    char store[P4T_ID_MAX + 1], reg[P4T_ID_MAX + 1];
    enum p4t_local kind;

    if (p4t_topic_parse_local(ev->topic, &kind, store, reg) != 0)
        return -1;
    return (int)kind;
}

/* A replica that cannot be written (disk full, read-only, I/O error) must not be retried in a
 * tight loop: the core thread backs off (100 ms doubling to REPLICA_BACKOFF_MAX_MS), logs
 * the failure at each doubling, and tells staff and HQ once per episode with an alert sent
 * straight out (it cannot be stored: the outbox is in the failing replica). */
static void replica_failed(struct gw *g)
{
    int64_t backoff_ms = REPLICA_BACKOFF_MAX_MS;
    struct p4t_alert a;
    char *text = NULL;

    g->replica_failures++;
    if (g->replica_failures < 16 && (100LL << (g->replica_failures - 1)) < backoff_ms)
        backoff_ms = 100LL << (g->replica_failures - 1);
    g->replica_retry_ms = p4_mono_ms() + backoff_ms;
    if ((g->replica_failures & (g->replica_failures - 1)) == 0)
        p4_error("group commit failed: acks withheld failures=%" PRId64 " retry_in_ms=%" PRId64
                 " err=\"%s\"", g->replica_failures, backoff_ms, sqlite3_errmsg(g->r.db));
    if (g->replica_alerted)
        return;
    memset(&a, 0, sizeof(a));
    snprintf(a.kind, sizeof(a.kind), "replica_failed");
    snprintf(a.severity, sizeof(a.severity), "critical");
    snprintf(a.store, sizeof(a.store), "%s", g->cfg->store);
    p4_format_ts(p4_now_ms(), a.ts);
    snprintf(a.message, sizeof(a.message), "the store replica cannot be written (%.120s): "
             "sales are not acknowledged until it can", sqlite3_errmsg(g->r.db));
    if (p4t_alert_id(a.kind, a.store, "replica", a.id) != 0 || p4t_alert_encode(&a, &text) != 0)
        return;
    g->replica_alerted = true;
    if (g->cloud_up)
        link_publish(&g->cloud, g->cloud_alert_topic, text, strlen(text), 1, false, NULL);
    p4gw_counters_alert(&g->cnt, text);
    publish_local(g, g->alert_topic, text, strlen(text), false); /* takes TEXT */
}

static void replica_recovered(struct gw *g)
{
    if (g->replica_failures == 0)
        return;
    p4_info("replica writable again after failures=%" PRId64, g->replica_failures);
    g->replica_failures = 0;
    g->replica_retry_ms = 0;
    g->replica_alerted = false;
}

static bool is_hq_ack(const struct gw *g, const struct event *ev)
{
    return ev->type == EV_CLOUD_MSG && strcmp(ev->topic, g->hq_ack_topic) == 0;
}

/* A replaced gateway learns where to continue gw_seq: above every number HQ holds for the
 * store, from the ack that follows its resync (HQ took every batch queued before the request
 * first). A "gap" sale row holds the numbers skipped, as a restore's does. Inside the open
 * transaction; process() undoes the flag if the group fails. */
static int numbering_learn(struct gw *g, const struct p4t_hq_ack *ack)
{
    struct group *grp = &g->grp;
    int64_t max = ack->has_max_gw_seq ? ack->max_gw_seq : ack->through;
    int rc = P4GW_OK;

    if (max > grp->gw_head) {
        char id[P4_UUID_LEN + 8], uuid[P4_UUID_LEN], ts[P4_TS_LEN], gap[96];

        if (p4_uuid7(uuid) != 0)
            return P4GW_EIO;
        snprintf(id, sizeof(id), "gap-%s", uuid);
        p4_format_ts(p4_now_ms(), ts);
        snprintf(gap, sizeof(gap), "{\"gap_from\":%" PRId64 ",\"gap_to\":%" PRId64
                 ",\"reason\":\"replaced\"}", grp->gw_head + 1, max);
        rc = replica_gap(&g->r, max, id, ts, gap);
        if (rc)
            return rc;
        grp->gw_head = max;
    }
    rc = meta_set(&g->r, "gw_seq_known", 1);
    if (rc)
        return rc;
    grp->gw_seq_unknown = false;
    g->numbering_learnt = true;
    p4_info("gw_seq continues above HQ's max_gw_seq=%" PRId64 " through=%" PRId64
            " req_id=%s next_gw_seq=%" PRId64, max, ack->through, ack->req_id,
            grp->gw_head + 1);
    return P4GW_OK;
}

/* HQ's watermark (down/ack, on our persistent session's down/+ subscription). It is decoded
 * and kept even when the group's transaction failed (it is retained by the broker but would
 * only come back at the next connect): the records it covers are marked by the next
 * transaction that commits. A bad one is rejected like other bad downlink. */
static int handle_hq_ack(struct gw *g, const struct event *ev, bool failed, int64_t now_ms)
{
    struct p4t_hq_ack ack;
    int64_t through;
    int rc;

    if (!g->ob.wait_hq) {
        p4_debug("HQ watermark ignored (delivered_on = puback) topic=%s", ev->topic);
        return P4GW_OK;
    }
    rc = downlink_hq_ack(&g->grp, ev->topic, ev->payload, ev->len, ev->orig_len, now_ms, !failed,
                         &through, &ack);
    if (rc || through < 0)
        return rc;
    g->hq_ack_seen = true;
    if (g->resync_req_id[0] && strcmp(ack.req_id, g->resync_req_id) == 0) {
        /* HQ committed our resync: its answer is on the way. */
        g->rebuild_stock = false;
        if (g->grp.gw_seq_unknown && !failed) {
            rc = numbering_learn(g, &ack);
            if (rc)
                return rc;
        }
    }
    if (outbox_on_hq_ack(&g->ob, through, p4_mono_ms()))
        p4_debug("HQ watermark through=%" PRId64 " broker_acked=%" PRId64, through,
                 g->ob.acked_gw_seq);
    return P4GW_OK;
}

#define WAITING_MAX 20000

/* Keeps the sale of EV (its topic and payload move to a new event) until the numbering is
 * known; a register's resends of it meanwhile are kept too and answered "duplicate" then. */
static void numbering_wait(struct gw *g, struct event *ev)
{
    struct event *w;

    g->n_unnumbered++;
    if (g->n_waiting >= WAITING_MAX)
        return;
    w = event_new(EV_LOCAL_MSG);
    if (!w)
        return;
    w->topic = ev->topic;
    w->payload = ev->payload;
    w->len = ev->len;
    w->orig_len = ev->orig_len;
    ev->topic = ev->payload = NULL;
    if (g->waiting_tail)
        g->waiting_tail->next = w;
    else
        g->waiting_head = w;
    g->waiting_tail = w;
    g->n_waiting++;
}

/* Once the numbering is known: the waiting sales go back into the queue, in order, ahead of
 * nothing (a full queue drops them: their registers resend). */
static void numbering_release(struct gw *g)
{
    struct event *w = g->waiting_head;

    g->waiting_head = g->waiting_tail = NULL;
    g->n_waiting = 0;
    while (w) {
        struct event *next = w->next;

        if (queue_push(&g->q, w) != 0)
            event_free(w);
        w = next;
    }
}

/* A new replica of a store HQ has never acknowledged: the cloud broker keeps HQ's last down/ack
 * of every store that ever sold retained, and none came within NEW_STORE_WAIT_MS of a connect.
 * So this is a new store (or a chain whose HQ publishes no acks): it numbers from 1. A store
 * with a history always has that retained ack (with a persistent cloud broker), and then only
 * the ack that answers the resync ends the wait. */
#define NEW_STORE_WAIT_MS 3000
static void numbering_tick(struct gw *g)
{
    struct p4t_hq_ack none = {.through = 0, .has_max_gw_seq = true, .max_gw_seq = 0};

    if (!g->grp.gw_seq_unknown || !g->cloud_up || g->hq_ack_seen ||
        p4_mono_ms() - g->cloud_up_ms < NEW_STORE_WAIT_MS || g->replica_failures)
        return;
    p4_info("no down/ack retained for this store: a new store, gw_seq starts at %" PRId64,
            g->grp.gw_head + 1);
    if (replica_begin(&g->r) != 0)
        return;
    if (numbering_learn(g, &none) != 0 || replica_commit(&g->r) != 0) {
        replica_rollback(&g->r);
        g->grp.gw_seq_unknown = true;
        g->numbering_learnt = false;
        return;
    }
    g->numbering_learnt = false;
    numbering_release(g);
    publish_status(g, current_state(g), true);
}

/* One iteration: the events in EVS become one transaction (sales, hold requests, downlink
 * messages, delivered marks), then acks, hold replies, alerts, change messages, sync replies,
 * and new batches for the cloud. */
static void process(struct gw *g, struct event *evs)
{
    struct replica *r = &g->r;
    int64_t now_ms = p4_now_ms();
    int64_t t0 = p4_mono_ms(), t0_us = p4gw_mono_us();
    bool txn = false, failed = false, had_syncs = false, durable = false;
    struct event *ev;

    g->grp.wan_up = g->cloud_up;
    /* A group of nothing but delivered marks (PUBACKs, HQ's watermark) commits without an
     * fsync (see replica_durable): at a few hundred sales a second every sale's batch is
     * acknowledged on its own, and those commits would otherwise take the disk from the sales
     * behind them. A watermark a power cut undoes comes back: it is retained at the broker. */
    for (ev = evs; ev && !durable; ev = ev->next)
        durable = (ev->type == EV_CLOUD_MSG && !is_hq_ack(g, ev)) || ev->type == EV_LOCAL_MSG;
    if (replica_durable(r, durable) != 0)
        failed = true;
    for (ev = evs; ev; ev = ev->next) {
        int kind = ev->type == EV_LOCAL_MSG ? local_kind(ev) : -1;
        bool needs_txn;
        int rc = 0;

        needs_txn = ev->type == EV_CLOUD_ACK || ev->type == EV_CLOUD_MSG ||
                    (ev->type == EV_LOCAL_MSG && kind != P4T_L_SYNC);
        if (needs_txn && !txn && !failed) {
            if (replica_begin(r) != 0 || group_begin(&g->grp) != 0) {
                replica_rollback(r);
                failed = true;
            } else {
                txn = true;
            }
        }
        switch (ev->type) {
        case EV_LOCAL_MSG:
            if (kind == P4T_L_SYNC) {
                had_syncs = true; /* answered after the commit, against committed state */
                break;
            }
            /* After a database failure the rest of the group is dropped unanswered: the
             * registers resend. */
            if (failed)
                break;
            if (kind == P4T_L_HOLD)
                rc = holds_request(&g->grp, ev->topic, ev->payload, ev->len, ev->orig_len,
                                   now_ms);
            else if (kind == P4T_L_LOOKUP)
                rc = customers_lookup(&g->grp, g->cloud_up ? &g->cloud : NULL, ev->topic,
                                      ev->payload, ev->len, ev->orig_len, now_ms);
            else if (kind == P4T_L_CUSTOMER)
                rc = customers_signup(&g->grp, ev->topic, ev->payload, ev->len, ev->orig_len,
                                      now_ms);
            else if (g->grp.gw_seq_unknown)
                numbering_wait(g, ev); /* no ack yet: the register keeps it pending */
            else
                rc = ingest_sale(&g->grp, ev->topic, ev->payload, ev->len, ev->orig_len, now_ms);
            break;
        case EV_CLOUD_MSG:
            if (is_hq_ack(g, ev)) {
                rc = handle_hq_ack(g, ev, failed, now_ms);
                break;
            }
            /* A failed group loses this message (Paho acknowledged it already); the resync
             * asked for below brings it back. */
            if (failed) {
                g->resync_due = true;
                break;
            }
            rc = downlink_apply(&g->grp, ev->topic, ev->payload, ev->len, ev->orig_len, now_ms);
            if (rc)
                g->resync_due = true;
            break;
        case EV_CLOUD_ACK:
            /* Even in a failed group: the window slot is free whatever happens to the
             * transaction (a PUBACK dropped here kept its slot forever, and with the window
             * full nothing more went to the cloud while the status said online). The mark
             * waits for the next transaction that commits. */
            outbox_on_ack(&g->ob, ev->batch_id, p4_mono_ms());
            break;
        case EV_CLOUD_NACK:
            outbox_on_nack(&g->ob, ev->batch_id);
            break;
        case EV_LOCAL_SUBACK:
            link_on_suback(&g->local, ev->batch_id, ev->code, p4_mono_ms());
            break;
        case EV_CLOUD_SUBACK:
            link_on_suback(&g->cloud, ev->batch_id, ev->code, p4_mono_ms());
            break;
        case EV_CLOUD_SESSION:
            if (ev->batch_id == 0) {
                p4_info("cloud session not present: resync");
                g->resync_due = true;
            }
            break;
        case EV_LOCAL_UP:
            on_local_up(g);
            break;
        case EV_LOCAL_DOWN:
            g->local_up = false;
            if (g->pend.n)
                p4_info("local publishes forgotten with the connection count=%zu", g->pend.n);
            pending_clear(&g->pend);
            sync_reset(&g->sync); /* registers sync again after they reconnect */
            p4_warn("store broker connection lost (reconnecting)");
            break;
        case EV_CLOUD_UP:
            on_cloud_up(g);
            g->grp.wan_up = true;
            break;
        case EV_CLOUD_DOWN:
            g->cloud_up = false;
            g->grp.wan_up = false;
            g->cloud_down_ms = p4_mono_ms();
            outbox_link_down(&g->ob);
            p4_warn("cloud connection lost (reconnecting) undelivered=%" PRId64,
                    g->ob.undelivered);
            publish_status(g, current_state(g), true);
            break;
        }
        if (rc) {
            replica_rollback(r);
            txn = false;
            failed = true;
        }
    }
    if (txn && (outbox_mark_delivered(&g->ob) != 0 || replica_commit(r) != 0)) {
        replica_rollback(r);
        failed = true;
    }
    /* Every other transaction is durable. */
    if (!durable && replica_durable(r, true) != 0)
        failed = true;
    if (g->numbering_learnt) {
        g->numbering_learnt = false;
        if (failed) {
            g->grp.gw_seq_unknown = true; /* ask again: the next ack names the new request */
            g->resync_due = true;
        } else {
            p4_info("gateway numbering sales after %" PRId64 " ms unanswered_sales=%" PRId64,
                    p4_mono_ms() - g->numbering_from_ms, g->n_unnumbered);
            numbering_release(g);
            publish_status(g, current_state(g), true);
        }
    }
    if (failed) {
        /* Nothing of this group is acknowledged (registers resend); the delivered marks it
         * carried are made by the next transaction that commits, so the cloud sender goes on
         * where it was instead of resending what the cloud already has. */
        group_abort(&g->grp);
        outbox_txn_done(&g->ob, false);
        replica_failed(g);
    } else if (txn) {
        outbox_txn_done(&g->ob, true);
        replica_recovered(g);
        g->ob.undelivered += g->grp.n_new;
        g->groups++;
        g->commit_ms_total += p4_mono_ms() - t0;
        p4gw_counters_commit(&g->cnt, p4gw_mono_us() - t0_us);
        /* Only now, with the data on disk, do acks and changes leave the process. */
        publish_group(g);
    }
    if (had_syncs) {
        for (ev = evs; ev; ev = ev->next) {
            if (ev->type == EV_LOCAL_MSG && local_kind(ev) == P4T_L_SYNC)
                handle_sync(g, ev, now_ms);
        }
        for (size_t i = 0; i < g->out.n; i++) {
            struct out_msg *m = &g->out.items[i];

            publish_local(g, m->topic, m->payload, m->len, false);
            m->payload = NULL;
        }
        out_list_clear(&g->out);
    }
}

static int expire_holds(struct gw *g, void *arg)
{
    int64_t now_ms = p4_now_ms();
    int rc = holds_expire(&g->grp, now_ms);

    (void)arg;
    if (rc < 0)
        return rc;
    if (!g->cfg->registers_v11)
        return downlink_price_edges(&g->grp, now_ms);
    return P4GW_OK;
}

/* Deletes delivered outbox rows and change-log rows beyond changes_keep, at most
 * PRUNE_MAX_ROWS of each, in one transaction without an fsync: deleting them again after a
 * power cut is harmless. Skipped while the replica fails (the commit path backs off). */
static void prune(struct gw *g)
{
    struct replica *r = &g->r;
    int64_t keep = g->cfg->changes_keep, head = 0, low = 0;
    int n;

    if (g->replica_failures || replica_durable(r, false) != 0)
        return;
    if (replica_begin(r) != 0)
        goto out;
    /* Marks PUBACKs and watermarks left by a failed group (none usually). */
    n = outbox_mark_delivered(&g->ob);
    if (n == 0)
        n = outbox_prune(&g->ob, PRUNE_MAX_ROWS, p4_now_ms());
    if (n >= 0 && (replica_int(r, RS_CHANGE_HEAD, 0, &head) != 0 ||
                   replica_int(r, RS_CHANGE_MIN, 0, &low) != 0))
        n = P4GW_EIO;
    if (n >= 0 && head > keep && low <= head - keep) {
        replica_bind_int(r, RS_CHANGES_PRUNE, 1, head - keep < low + PRUNE_MAX_ROWS
                                                     ? head - keep : low + PRUNE_MAX_ROWS);
        if (replica_exec(r, RS_CHANGES_PRUNE) != 0)
            n = P4GW_EIO;
    }
    if (n < 0 || replica_commit(r) != 0) {
        replica_rollback(r);
        outbox_txn_done(&g->ob, false);
    } else {
        outbox_txn_done(&g->ob, true);
        if (n > 0)
            p4_debug("outbox pruned rows=%d", n);
    }
out:
    replica_durable(r, true);
}

/* Periodic work: pruning, stats, status refresh. */
static void timers(struct gw *g)
{
    int64_t now = p4_mono_ms();

    if (now - g->last_prune_ms >= PRUNE_EVERY_MS) {
        prune(g);
        g->last_prune_ms = now;
    }
    if (now - g->last_holds_ms >= HOLDS_EVERY_MS) {
        small_txn(g, expire_holds, NULL);
        g->last_holds_ms = now;
    }
    if (now - g->last_stats_ms >= STATS_EVERY_MS) {
        p4_info("stats accepted=%" PRId64 " duplicates=%" PRId64 " rejected=%" PRId64
                " dropped=%" PRIu64 " downlink_deferred=%" PRIu64 " groups=%" PRId64
                " outbox=%" PRId64 " delivered=%" PRId64 " broker_acked=%" PRId64
                " hq_through=%" PRId64 " hq_resends=%" PRId64 " hq_rewinds=%" PRId64
                " sent=%" PRId64 " acked=%" PRId64 " commit_ms_avg=%.1f local_refused=%" PRIu64
                " local_retried=%" PRIu64
                " local_waiting=%zu", g->grp.n_ok, g->grp.n_dup, g->grp.n_rej,
                queue_dropped(&g->q), queue_deferred(&g->q), g->groups, g->ob.undelivered,
                g->ob.delivered, g->ob.acked_gw_seq, g->ob.hq_through, g->ob.hq_resends,
                g->ob.hq_rewinds,
                g->ob.records_sent, g->ob.records_acked,
                g->groups ? (double)g->commit_ms_total / (double)g->groups : 0.0,
                link_refused(&g->local), g->pend.retried, g->pend.n);
        {
            uint64_t packed, plain, json_bytes, wire_bytes;

            wire_stats(&packed, &plain, &json_bytes, &wire_bytes);
            if (packed)
                p4_info("stats cloud zstd_messages=%" PRIu64 " json_messages=%" PRIu64
                        " json_bytes=%" PRIu64 " wire_bytes=%" PRIu64, packed, plain,
                        json_bytes, wire_bytes);
        }
        g->last_stats_ms = now;
    }
    publish_status(g, current_state(g), false);
}

/* Hands the endpoint a fresh copy of the figures (a short critical section). */
static void metrics_refresh(struct gw *g)
{
    struct p4gw_counters *c = &g->cnt;

    c->sales_ingested = g->grp.n_ok;
    c->duplicates = g->grp.n_dup;
    c->rejects = g->grp.n_rej;
    c->dropped = queue_dropped(&g->q);
    c->outbox_depth = g->ob.undelivered;
    c->gw_seq_head = g->grp.gw_head;
    c->delivered = g->ob.delivered;
    c->broker_acked = g->ob.acked_gw_seq;
    c->hq_through = g->ob.hq_through;
    c->hq_wait = g->ob.wait_hq;
    c->hq_resends = g->ob.hq_resends;
    c->hq_rewinds = g->ob.hq_rewinds;
    c->hq_reopened = g->ob.hq_reopened;
    lanes_refresh(g, false);
    c->backlog_depth = g->lanes.backlog;
    c->backlog_age_s = g->lanes.backlog_age_s;
    c->live_depth = g->lanes.live;
    c->change_head = g->grp.change_head;
    c->cloud_up = g->cloud_up;
    c->local_up = g->local_up;
    c->n_subs = 0;
    for (int k = 0; k < 2; k++) {
        const struct link *l = k ? &g->cloud : &g->local;

        for (int i = 0; i < l->n_subs && c->n_subs < P4GW_SUBS_MAX; i++) {
            struct p4gw_sub_view *v = &c->subs[c->n_subs++];

            v->cloud = l->cloud;
            v->refused = l->subs[i].state == SUB_REFUSED;
            snprintf(v->filter, sizeof(v->filter), "%s", l->subs[i].filter);
        }
    }
    c->sub_refusals_local = g->local.sub_refusals;
    c->sub_refusals_cloud = g->cloud.sub_refusals;
    p4gw_metrics_age(g->metrics, c, g->grp.gw_head, g->ob.delivered, p4_mono_ms());
    p4gw_metrics_update(g->metrics, c);
}

static int make_topics(struct gw *g)
{
    const struct p4gw_config *c = g->cfg;
    int rc = 0;

    rc |= p4t_topic_local_filter(g->sale_filter, P4T_TOPIC_MAX, P4T_L_SALE, c->store);
    rc |= p4t_topic_local_filter(g->sync_filter, P4T_TOPIC_MAX, P4T_L_SYNC, c->store);
    rc |= p4t_topic_local_filter(g->hold_filter, P4T_TOPIC_MAX, P4T_L_HOLD, c->store);
    rc |= p4t_topic_local_filter(g->lookup_filter, P4T_TOPIC_MAX, P4T_L_LOOKUP, c->store);
    rc |= p4t_topic_local_filter(g->customer_filter, P4T_TOPIC_MAX, P4T_L_CUSTOMER, c->store);
    rc |= p4t_topic_down(g->down_filter, P4T_TOPIC_MAX, c->tenant, c->store, "+");
    rc |= p4t_topic_down(g->down_all_filter, P4T_TOPIC_MAX, c->tenant, "_all", "+");
    rc |= p4t_topic_up(g->resync_topic, P4T_TOPIC_MAX, c->tenant, c->store, "resync");
    rc |= p4t_topic_down(g->hq_ack_topic, P4T_TOPIC_MAX, c->tenant, c->store, "ack");
    rc |= p4t_topic_local(g->status_topic, P4T_TOPIC_MAX, P4T_L_STATUS, c->store, NULL);
    rc |= p4t_topic_local(g->alert_topic, P4T_TOPIC_MAX, P4T_L_ALERT, c->store, NULL);
    rc |= p4t_topic_local(g->changes_topic, P4T_TOPIC_MAX, P4T_L_CHANGES, c->store, NULL);
    rc |= p4t_topic_up(g->cloud_status_topic, P4T_TOPIC_MAX, c->tenant, c->store, "status");
    rc |= p4t_topic_up(g->cloud_alert_topic, P4T_TOPIC_MAX, c->tenant, c->store, "alert");
    return rc ? P4GW_EINVAL : P4GW_OK;
}

static void shutdown_links(struct gw *g)
{
    char *text = NULL;

    /* A clean stop does not fire the will: say "offline" ourselves. */
    if (status_encode("offline", g->ob.undelivered, g->ob.delivered, status_hq(g),
                      status_epoch(g), status_lanes(g), &text) == 0) {
        if (g->local_up)
            link_publish(&g->local, g->status_topic, text, strlen(text), 1, true, NULL);
        if (g->cloud_up)
            link_publish(&g->cloud, g->cloud_status_topic, text, strlen(text), 1, true, NULL);
        free(text);
    }
    link_stop(&g->local, STOP_FLUSH_MS);
    link_stop(&g->cloud, STOP_FLUSH_MS);
}

int p4gw_run(const struct p4gw_config *cfg)
{
    struct gw *g = calloc(1, sizeof(*g));
    char *will = NULL;
    int rc = 1;

    if (!g)
        return 1;
    g->cfg = cfg;
    /* Paho formats every protocol event (each PUBLISH and PUBACK) into its in-memory trace
     * under a global lock unless told otherwise: a tenth of its threads' CPU at full load.
     * Errors are still traced. */
    MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
    if (make_topics(g) != 0) {
        p4_error("cannot build topics for tenant=%s store=%s", cfg->tenant, cfg->store);
        goto out;
    }
    if (replica_open(&g->r, cfg->replica_path, cfg->durability_full) != 0)
        goto out;
    if (replica_checkpointer_start(&g->r, cfg->replica_path, cfg->durability_full) != 0)
        goto out;
    if (queue_init(&g->q, QUEUE_MAX_MSGS, QUEUE_MAX_BYTES) != 0)
        goto out;
    pending_init(&g->pend, PENDING_MAX_MSGS, PENDING_MAX_BYTES);
    g->queue_ok = true;
    if (group_init(&g->grp, &g->r, cfg) != 0)
        goto out;
    g->ingest_ok = true;
    sync_init(&g->sync, &g->r, cfg->store);
    if (outbox_init(&g->ob, &g->r, cfg) != 0)
        goto out;
    g->outbox_ok = true;
    g->cnt.started_ms = p4_now_ms();
    if (cfg->metrics_listen[0] && p4gw_metrics_start(cfg->metrics_listen, &g->metrics) != 0)
        goto out;
    {
        int64_t clean = 0, n_changes = 0;

        /* Paho acknowledges a downlink message before we commit it, so a start that did not
         * follow a clean stop may have lost some: ask HQ again (also for an empty replica). */
        replica_bind_text(&g->r, RS_META_GET, 1, "clean_stop");
        if (replica_int(&g->r, RS_META_GET, 0, &clean) != 0 ||
            replica_int(&g->r, RS_COUNT_CHANGES, 0, &n_changes) != 0 ||
            meta_set(&g->r, "clean_stop", 0) != 0)
            goto out;
        g->resync_due = !clean || n_changes == 0;
        if (numbering_init(g, n_changes) != 0)
            goto out;
    }
    if (status_encode("offline", g->ob.undelivered, g->ob.delivered, status_hq(g),
                      status_epoch(g), status_lanes(g), &will) != 0)
        goto out;
    if (local_link_start(&g->local, cfg, &g->q, g->status_topic, will) != 0)
        goto out;
    if (cloud_link_start(&g->cloud, cfg, &g->q, g->cloud_status_topic, will) != 0)
        goto out;
    /* Only this thread reads the subscriptions: their connect events are still queued. */
    if (link_sub_add(&g->local, g->sale_filter) != 0 ||
        link_sub_add(&g->local, g->sync_filter) != 0 ||
        link_sub_add(&g->local, g->hold_filter) != 0 ||
        link_sub_add(&g->local, g->lookup_filter) != 0 ||
        link_sub_add(&g->local, g->customer_filter) != 0 ||
        link_sub_add(&g->cloud, g->down_filter) != 0 ||
        link_sub_add(&g->cloud, g->down_all_filter) != 0)
        goto out;
    p4_info("gateway running tenant=%s store=%s gw_seq=%" PRId64 " change_head=%" PRId64
            " undelivered=%" PRId64, cfg->tenant, cfg->store, g->grp.gw_head, g->grp.change_head,
            g->ob.undelivered);
    /* Every helper thread runs now (Paho's, checkpoint, TLS diagnosis, metrics), each with
     * the signals blocked: they are handled on this thread only, the one that owns the flags
     * and the log reopen. */
    p4gw_signals_mask(SIG_UNBLOCK);
    while (!p4gw_stop_flag) {
        struct event *evs = NULL;

        if (p4gw_reopen_flag) {
            p4gw_reopen_flag = 0;
            if (cfg->log_file[0] && p4_log_reopen(cfg->log_file) != 0)
                p4_error("log reopen failed file=%s", cfg->log_file);
            else
                p4_info("log reopened");
        }
        if (g->pend.n && g->local_up)
            pending_flush(&g->pend, &g->local);
        if (g->replica_retry_ms > p4_mono_ms()) {
            /* Backing off a failing replica: messages wait in the bounded queue. */
            int64_t left = g->replica_retry_ms - p4_mono_ms();
            struct timespec ts = {0, (left < WAIT_MS ? left : WAIT_MS) * 1000000L};

            nanosleep(&ts, NULL);
            continue;
        }
        if (queue_empty(&g->q))
            replica_checkpoint_idle(&g->r);
        queue_pop(&g->q, (size_t)cfg->commit_max_items,
                  g->sync_busy ? 0 : g->pend.n ? RETRY_WAIT_MS : WAIT_MS,
                  &evs);
        if (evs)
            process(g, evs);
        event_free(evs);
        /* Status before new batches: the retained depth never lags the cloud's view. */
        check_outbox_cap(g);
        publish_status(g, current_state(g), false);
        publish_cloud_status(g); /* when a refused one is still due */
        if (g->cloud_up && g->resync_due)
            send_resync(g);
        numbering_tick(g);
        if (g->local_up)
            link_sub_tick(&g->local, p4_mono_ms());
        cloud_link_tick(&g->cloud, p4_mono_ms()); /* several nodes: our own reconnects */
        if (g->cloud_up) {
            link_sub_tick(&g->cloud, p4_mono_ms());
            check_hq_lost(g);
            outbox_tick(&g->ob, p4_mono_ms());
            outbox_fill(&g->ob, &g->cloud);
        }
        pump_snapshots(g);
        timers(g);
        if (g->metrics)
            metrics_refresh(g);
    }
    meta_set(&g->r, "clean_stop", 1);
    p4_info("stopping undelivered=%" PRId64 " delivered=%" PRId64, g->ob.undelivered,
            g->ob.delivered);
    rc = 0;
out:
    event_free(g->waiting_head);
    shutdown_links(g);
    p4gw_metrics_stop(g->metrics);
    free(will);
    out_list_clear(&g->out);
    free(g->out.items);
    pending_cleanup(&g->pend);
    if (g->outbox_ok)
        outbox_cleanup(&g->ob);
    sync_cleanup(&g->sync);
    if (g->ingest_ok)
        group_cleanup(&g->grp);
    if (g->queue_ok)
        queue_cleanup(&g->q);
    replica_checkpointer_stop(&g->r);
    replica_close(&g->r);
    free(g);
    return rc;
}
