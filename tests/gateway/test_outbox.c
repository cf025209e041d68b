/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of the cloud sender's delivery state (outbox.c) on a temporary replica: the send
 * window, PUBACKs freeing slots, HQ's watermark marking sale records delivered (contract 1.2),
 * lower watermarks held back, the HQ resend timer (time is an input), failed commits, alerts,
 * delivered_on = puback, keep_delivered_h, the resend of what a restored HQ lost, and the live
 * lane beside a draining backlog (lanes.c). Publishes
 * go to a real Paho client that is never connected and buffers them (sendWhileDisconnected),
 * so each batch gets a real token. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "p4check.h"
#include "p4common.h"

static char dir[] = "/tmp/p4gw-outbox-test-XXXXXX";
static char path[PATH_MAX];
static struct queue events; /* completions Paho reports (the buffered ones fail at destroy) */

static void config(struct p4gw_config *cfg, bool puback)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->tenant, sizeof(cfg->tenant), "acme");
    snprintf(cfg->store, sizeof(cfg->store), "s001");
    cfg->max_inflight = 2;
    cfg->batch_max_items = 2;
    cfg->batch_max_bytes = 262144;
    cfg->hq_resend_s = 60;
    cfg->delivered_on_puback = puback;
}

/* A Paho client that never connects: sendMessage buffers and hands out tokens. */
static void link_offline(struct link *l)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync client = NULL;

    co.sendWhileDisconnected = 1;
    co.maxBufferedMessages = 100000;
    co.allowDisconnectedSendAtAnyTime = 1; /* even before a first connect */
    memset(l, 0, sizeof(*l));
    if (MQTTAsync_createWithOptions(&client, "tcp://127.0.0.1:1", "p4gw-outbox-test",
                                    MQTTCLIENT_PERSISTENCE_NONE, NULL, &co) != MQTTASYNC_SUCCESS)
        abort();
    l->client = client;
    l->q = &events;
    l->cloud = true;
    l->mqtt_version = MQTTVERSION_3_1_1;
}

static void link_free(struct link *l)
{
    MQTTAsync client = l->client;

    struct event *evs = NULL;

    MQTTAsync_destroy(&client);
    l->client = NULL;
    queue_pop(&events, 1000, 0, &evs);
    event_free(evs);
}

/* Adds sale records gw_seq FIRST..LAST (and an alert after AFTER_ALERT when > 0). */
static void add_rows(struct replica *r, int64_t first, int64_t last, int64_t alert_after)
{
    CHECK_INT(replica_begin(r), 0);
    for (int64_t s = first; s <= last; s++) {
        char rec[64];

        snprintf(rec, sizeof(rec), "{\"gw_seq\":%" PRId64 "}", s);
        replica_bind_text(r, RS_OUTBOX_INS, 1, "sale");
        replica_bind_int(r, RS_OUTBOX_INS, 2, s);
        replica_bind_text(r, RS_OUTBOX_INS, 3, rec);
        CHECK_INT(replica_exec(r, RS_OUTBOX_INS), 0);
        if (s == alert_after) {
            replica_bind_text(r, RS_OUTBOX_INS, 1, "alert");
            replica_bind_text(r, RS_OUTBOX_INS, 2, NULL);
            replica_bind_text(r, RS_OUTBOX_INS, 3, "{\"kind\":\"oversell\"}");
            CHECK_INT(replica_exec(r, RS_OUTBOX_INS), 0);
        }
    }
    CHECK_INT(replica_commit(r), 0);
}

static int64_t sql_int(struct replica *r, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t undelivered_rows(struct replica *r)
{
    return sql_int(r, "SELECT count(*) FROM outbox WHERE delivered = 0");
}

/* One group that only carries delivery marks, committed like the core loop does. */
static int commit_marks(struct outbox *o)
{
    int rc = replica_begin(o->r);

    if (rc == 0)
        rc = outbox_mark_delivered(o);
    if (rc == 0)
        rc = replica_commit(o->r);
    if (rc)
        replica_rollback(o->r);
    outbox_txn_done(o, rc == 0);
    return rc;
}

static void open_fresh(struct replica *r, const char *name)
{
    snprintf(path, sizeof(path), "%s/%s.db", dir, name);
    unlink(path);
    CHECK_INT(replica_open(r, path, false), 0);
}

/* Window, PUBACK, HQ watermark, lower watermark, persistence across a restart. */
static void test_window_and_watermark(void)
{
    struct p4gw_config cfg;
    struct replica r = {0};
    struct outbox o;
    struct link l;
    uint64_t b1, b2;

    config(&cfg, false);
    open_fresh(&r, "window");
    link_offline(&l);
    add_rows(&r, 1, 7, 0);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    CHECK(o.wait_hq);
    CHECK_INT(o.undelivered, 7);
    CHECK_INT(o.delivered, 0);
    outbox_link_up(&o);
    /* The window: max_inflight = 2 batches of batch_max_items = 2 records. */
    CHECK_INT(outbox_fill(&o, &l), 4);
    CHECK_INT(o.n_current, 2);
    CHECK_INT(outbox_fill(&o, &l), 0);
    b1 = o.win[0].batch_id;
    b2 = o.win[1].batch_id;
    CHECK_INT(o.win[0].last_gw_seq, 2);
    /* A PUBACK frees its slot; the next batch goes out. */
    outbox_on_ack(&o, b1, 1000);
    CHECK_INT(o.n_current, 1);
    CHECK_INT(o.acked_gw_seq, 2);
    CHECK_INT(outbox_fill(&o, &l), 2);
    CHECK_INT(o.n_current, 2);
    /* ... but does not make sale records delivered: HQ has not said it holds them. */
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 7);
    CHECK_INT(o.undelivered, 7);
    CHECK_INT(o.delivered, 0);
    /* HQ's watermark covers 1..3 (it may come before the broker's PUBACK of record 3). */
    CHECK(outbox_on_hq_ack(&o, 3, 1100));
    CHECK_INT(o.hq_through, 3);
    CHECK_INT(o.delivered, 0); /* counted once the marks are committed */
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 4);
    CHECK_INT(o.undelivered, 4);
    CHECK_INT(o.delivered, 3);
    CHECK_INT(sql_int(&r, "SELECT min(gw_seq) FROM outbox WHERE delivered = 0"), 4);
    CHECK_INT(sql_int(&r, "SELECT value FROM meta WHERE key = 'hq_through'"), 3);
    /* Lower and equal watermarks (two HQ publishes reaching the broker out of order). */
    CHECK(!outbox_on_hq_ack(&o, 2, 1200));
    CHECK(!outbox_on_hq_ack(&o, 3, 1200));
    CHECK_INT(o.hq_through, 3);
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(o.delivered, 3);
    CHECK_INT(sql_int(&r, "SELECT value FROM meta WHERE key = 'hq_through'"), 3);
    /* Undelivered rows are never pruned; delivered ones behind them are. */
    CHECK_INT(replica_begin(&r), 0);
    CHECK_INT(outbox_prune(&o, 100, 0), 3);
    CHECK_INT(replica_commit(&r), 0);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM outbox"), 4);
    outbox_on_ack(&o, b2, 1300);
    CHECK_INT(o.acked_gw_seq, 4);
    /* A restart knows HQ's watermark. */
    outbox_cleanup(&o);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    CHECK_INT(o.hq_through, 3);
    CHECK_INT(o.delivered, 3);
    CHECK_INT(o.undelivered, 4);
    CHECK(!outbox_on_hq_ack(&o, 1, 1400));
    outbox_cleanup(&o);
    link_free(&l);
    replica_close(&r);
}

/* Records the broker took but HQ did not cover are sent again after hq_resend_s with the link
 * up, from the oldest undelivered record; the wait doubles while HQ does not move. */
static void test_resend_timer(void)
{
    struct p4gw_config cfg;
    struct replica r = {0};
    struct outbox o;
    struct link l;
    int64_t t = 10000;

    config(&cfg, false);
    open_fresh(&r, "resend");
    link_offline(&l);
    add_rows(&r, 1, 4, 0);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    outbox_link_up(&o);
    CHECK_INT(outbox_fill(&o, &l), 4);
    outbox_on_ack(&o, o.win[0].batch_id, t);
    outbox_on_ack(&o, o.win[0].batch_id, t + 5);
    CHECK_INT(o.acked_gw_seq, 4);
    CHECK_INT(o.n_current, 0);
    CHECK_INT(outbox_fill(&o, &l), 0); /* nothing new: they wait for HQ */
    CHECK(!outbox_tick(&o, t + 59999));
    /* HQ commits 1..2: the clock restarts for the rest. */
    CHECK(outbox_on_hq_ack(&o, 2, t + 30000));
    CHECK_INT(commit_marks(&o), 0);
    CHECK(!outbox_tick(&o, t + 60000));
    CHECK(!outbox_tick(&o, t + 30000 + 59999));
    CHECK(outbox_tick(&o, t + 30000 + 60000));
    CHECK_INT(o.hq_resends, 1);
    CHECK_INT(o.sent_upto, 2); /* from the oldest undelivered: gw_seq 3 (oid 3) */
    CHECK_INT(outbox_fill(&o, &l), 2);
    CHECK_INT(o.win[o.win_n - 1].last_gw_seq, 4);
    /* No new PUBACK yet: no timer. */
    CHECK(!outbox_tick(&o, t + 500000));
    t += 100000;
    outbox_on_ack(&o, o.win[o.win_n - 1].batch_id, t);
    /* HQ still silent: the second resend waits twice as long. */
    CHECK(!outbox_tick(&o, t + 60000));
    CHECK(!outbox_tick(&o, t + 119999));
    CHECK(outbox_tick(&o, t + 120000));
    CHECK_INT(o.hq_resends, 2);
    /* A link that is down runs no timer; a reconnect resends every undelivered record. */
    CHECK_INT(outbox_fill(&o, &l), 2);
    outbox_on_ack(&o, o.win[o.win_n - 1].batch_id, t + 200000);
    outbox_link_down(&o);
    CHECK(!outbox_tick(&o, t + 10000000));
    outbox_link_up(&o);
    CHECK_INT(outbox_fill(&o, &l), 2);
    /* HQ covers everything: nothing waits, no timer, back to the first interval. */
    CHECK(outbox_on_hq_ack(&o, 4, t + 300000));
    CHECK_INT(o.hq_backoff, 0);
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 0);
    CHECK_INT(o.undelivered, 0);
    CHECK(!outbox_tick(&o, t + 90000000));
    outbox_cleanup(&o);
    link_free(&l);
    replica_close(&r);
}

/* Failed commits: a PUBACK in a group whose transaction fails still frees its window slot,
 * and its mark (an alert here) and HQ's watermark are made by the next commit. */
static void test_failed_commits(void)
{
    struct p4gw_config cfg;
    struct replica r = {0};
    struct outbox o;
    struct link l;
    sqlite3 *other = NULL;
    uint64_t b_alert;

    config(&cfg, false);
    cfg.max_inflight = 1;
    open_fresh(&r, "failed");
    link_offline(&l);
    add_rows(&r, 1, 2, 2); /* sales 1, 2, then an alert, then nothing */
    add_rows(&r, 3, 3, 0);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    outbox_link_up(&o);
    CHECK_INT(outbox_fill(&o, &l), 2);
    CHECK_INT(o.n_current, 1);
    /* The group's BEGIN fails: another connection holds the write lock. */
    CHECK_INT(sqlite3_open(path, &other), SQLITE_OK);
    CHECK_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_busy_timeout(r.db, 0);
    CHECK(replica_begin(&r) != 0);
    replica_rollback(&r);
    /* The core loop hands every PUBACK and watermark to the outbox even then. */
    outbox_on_ack(&o, o.win[0].batch_id, 2000);
    CHECK(outbox_on_hq_ack(&o, 2, 2001));
    outbox_txn_done(&o, false);
    CHECK_INT(o.n_current, 0);
    /* The slot is free: the alert goes out at once. */
    CHECK_INT(outbox_fill(&o, &l), 1);
    b_alert = o.win[o.win_n - 1].batch_id;
    CHECK_INT(o.win[o.win_n - 1].last_gw_seq, 0);
    outbox_on_ack(&o, b_alert, 2002);
    CHECK_INT(outbox_fill(&o, &l), 1); /* and sale 3 behind it */
    /* A commit that fails after the marks were made keeps them for the next one. */
    CHECK_INT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(replica_begin(&r), 0);
    CHECK_INT(outbox_mark_delivered(&o), 0);
    replica_rollback(&r);
    outbox_txn_done(&o, false);
    CHECK_INT(undelivered_rows(&r), 4);
    /* The depth is the committed one: the rolled-back marks did not lower it (the core loop
     * no longer recounts after a failure, a recount that gave 0 when it failed too). */
    CHECK_INT(o.undelivered, 4);
    CHECK_INT(o.delivered, 0);
    CHECK_INT(o.hq_marked, 0);
    /* The next commit makes them all: the alert (PUBACK is enough) and HQ's 1..2. */
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 1);
    CHECK_INT(o.undelivered, 1);
    CHECK_INT(o.delivered, 2);
    CHECK_INT(sql_int(&r, "SELECT gw_seq FROM outbox WHERE delivered = 0"), 3);
    CHECK_INT(sql_int(&r, "SELECT value FROM meta WHERE key = 'hq_through'"), 2);
    sqlite3_close(other);
    outbox_cleanup(&o);
    link_free(&l);
    replica_close(&r);
}

/* One transaction like the core loop's check_hq_lost: pending marks, then the rewind. */
static int commit_rewind(struct outbox *o, int64_t through, struct outbox_loss *loss,
                         bool commit)
{
    int rc = replica_begin(o->r);

    if (rc == 0)
        rc = outbox_mark_delivered(o);
    if (rc == 0)
        rc = outbox_hq_rewind(o, through, loss);
    if (rc == 0 && commit)
        rc = replica_commit(o->r);
    if (rc || !commit)
        replica_rollback(o->r);
    outbox_txn_done(o, rc == 0 && commit);
    return rc;
}

/* Sends every undelivered record and acknowledges each batch at the broker at T. */
static void send_all(struct outbox *o, struct link *l, int64_t t)
{
    while (outbox_fill(o, l) > 0) {
        while (o->n_current > 0)
            outbox_on_ack(o, o->win[o->win_n - 1].batch_id, t);
    }
}

/* keep_delivered_h: delivered rows stay until they are that old, then are pruned from the
 * oldest; a row delivered later stops the pass. */
static void test_keep_delivered(void)
{
    struct p4gw_config cfg;
    struct replica r = {0};
    struct outbox o;
    struct link l;
    int64_t at, keep_ms;

    config(&cfg, false);
    cfg.keep_delivered_h = 2;
    keep_ms = 2 * 3600000LL;
    open_fresh(&r, "keep");
    link_offline(&l);
    add_rows(&r, 1, 4, 2); /* sales 1, 2, an alert, 3, 4 */
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    outbox_link_up(&o);
    send_all(&o, &l, 1000);
    CHECK(outbox_on_hq_ack(&o, 4, 1001));
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(o.undelivered, 0);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM outbox WHERE delivered_ms IS NULL"), 0);
    at = sql_int(&r, "SELECT max(delivered_ms) FROM outbox");
    CHECK(at > 0);
    /* Not yet old enough: nothing goes. */
    CHECK_INT(outbox_prune(&o, 100, at + keep_ms), 0);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM outbox"), 5);
    /* Sale 3 (oid 4) delivered later than the rest: the pass stops there. */
    CHECK_INT(sqlite3_exec(r.db, "UPDATE outbox SET delivered_ms = delivered_ms + 3600000"
                           " WHERE gw_seq = 3", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(outbox_prune(&o, 2, at + keep_ms + 1), 2);
    CHECK_INT(outbox_prune(&o, 100, at + keep_ms + 1), 1); /* the alert */
    CHECK_INT(sql_int(&r, "SELECT min(gw_seq) FROM outbox"), 3);
    CHECK_INT(outbox_prune(&o, 100, at + keep_ms + 3600001), 2);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM outbox"), 0);
    outbox_cleanup(&o);
    link_free(&l);
    replica_close(&r);
}

/* HQ's watermark goes back (a restored HQ): after hq_resend_s without one at or above the held
 * watermark, the retained sale records above it are sent again, and what was pruned is named;
 * a stale lower watermark followed by the held one changes nothing. */
static void test_hq_lost(void)
{
    struct p4gw_config cfg;
    struct replica r = {0};
    struct outbox o;
    struct outbox_loss loss;
    struct link l;
    int64_t t = 50000, through = -1;

    config(&cfg, false);
    cfg.keep_delivered_h = 48;
    open_fresh(&r, "hqlost");
    link_offline(&l);
    add_rows(&r, 1, 6, 0);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    outbox_link_up(&o);
    send_all(&o, &l, t);
    CHECK(outbox_on_hq_ack(&o, 6, t));
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(o.undelivered, 0);
    CHECK_INT(outbox_prune(&o, 100, p4_now_ms()), 0); /* kept 48 h */
    /* Two HQ processes' publishes out of order: 4 after 6, then 6 again. */
    CHECK(!outbox_on_hq_ack(&o, 4, t + 10));
    CHECK_INT(o.hq_through, 6);
    CHECK(!outbox_hq_lost(&o, t + 10 + 59999, &through));
    CHECK(!outbox_on_hq_ack(&o, 6, t + 20));
    CHECK(!outbox_hq_lost(&o, t + 100000, &through));
    /* A lost connection ends the wait (the retained watermark comes again). */
    CHECK(!outbox_on_hq_ack(&o, 4, t + 200000));
    outbox_link_down(&o);
    outbox_link_up(&o);
    CHECK(!outbox_hq_lost(&o, t + 300000, &through));
    /* A restored HQ: 3, then 5 and 3 again (batches it gets late); the lowest counts. */
    t += 400000;
    CHECK(!outbox_on_hq_ack(&o, 3, t));
    CHECK(!outbox_on_hq_ack(&o, 5, t + 100));
    CHECK(!outbox_on_hq_ack(&o, 3, t + 200));
    CHECK(!outbox_hq_lost(&o, t + 59999, &through));
    CHECK(outbox_hq_lost(&o, t + 60000, &through));
    CHECK_INT(through, 3);
    /* A rewind whose transaction fails changes nothing and is asked again. */
    CHECK_INT(commit_rewind(&o, through, &loss, false), 0);
    CHECK_INT(o.hq_through, 6);
    CHECK_INT(o.undelivered, 0);
    CHECK_INT(undelivered_rows(&r), 0);
    CHECK_INT(o.hq_rewinds, 0);
    CHECK(outbox_hq_lost(&o, t + 60001, &through));
    /* Committed: 4..6 are undelivered again and sent from the first of them. */
    CHECK_INT(commit_rewind(&o, through, &loss, true), 0);
    CHECK_INT(loss.through, 3);
    CHECK_INT(loss.held, 6);
    CHECK_INT(loss.reopened, 3);
    CHECK_INT(loss.pruned_to, 0);
    CHECK_INT(o.hq_through, 3);
    CHECK_INT(o.delivered, 3);
    CHECK_INT(o.undelivered, 3);
    CHECK_INT(o.hq_rewinds, 1);
    CHECK_INT(o.hq_reopened, 3);
    CHECK_INT(undelivered_rows(&r), 3);
    CHECK_INT(sql_int(&r, "SELECT min(gw_seq) FROM outbox WHERE delivered = 0"), 4);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM outbox WHERE delivered = 0"
                          " AND delivered_ms IS NOT NULL"), 0);
    CHECK_INT(sql_int(&r, "SELECT value FROM meta WHERE key = 'hq_through'"), 3);
    CHECK(!outbox_hq_lost(&o, t + 70000, &through));
    CHECK_INT(o.sent_upto, 3);
    CHECK_INT(outbox_fill(&o, &l), 3);
    CHECK_INT(o.win[o.win_n - 1].last_gw_seq, 6);
    /* A restart knows the lowered watermark. */
    outbox_cleanup(&o);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    CHECK_INT(o.hq_through, 3);
    CHECK_INT(o.undelivered, 3);
    outbox_link_up(&o);
    send_all(&o, &l, t + 80000);
    /* HQ takes them again: delivered. */
    CHECK(outbox_on_hq_ack(&o, 6, t + 80001));
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(o.undelivered, 0);
    CHECK_INT(o.delivered, 6);
    /* Rows pruned already: 1..6 are old; 7..8 are delivered now. HQ goes back to 2: 7..8 are
     * sent again, 3..6 are named as lost here. */
    CHECK_INT(sqlite3_exec(r.db, "UPDATE outbox SET delivered_ms = 1", NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(outbox_prune(&o, 100, p4_now_ms()), 6);
    add_rows(&r, 7, 8, 0);
    o.undelivered += 2;
    send_all(&o, &l, t + 90000);
    CHECK(outbox_on_hq_ack(&o, 8, t + 90001));
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(o.undelivered, 0);
    t += 200000;
    CHECK(!outbox_on_hq_ack(&o, 2, t));
    CHECK(outbox_hq_lost(&o, t + 60000, &through));
    CHECK_INT(commit_rewind(&o, through, &loss, true), 0);
    CHECK_INT(loss.reopened, 2);
    CHECK_INT(loss.held, 8);
    CHECK_INT(loss.pruned_from, 3);
    CHECK_INT(loss.pruned_to, 6);
    CHECK_INT(o.undelivered, 2);
    CHECK_INT(o.hq_through, 2);
    /* Nothing kept above it at all: the whole range is named. */
    CHECK(outbox_on_hq_ack(&o, 8, t + 60001));
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(sqlite3_exec(r.db, "UPDATE outbox SET delivered_ms = 1", NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(outbox_prune(&o, 100, p4_now_ms()), 2);
    CHECK(!outbox_on_hq_ack(&o, 5, t + 70000));
    CHECK(outbox_hq_lost(&o, t + 130000, &through));
    CHECK_INT(commit_rewind(&o, through, &loss, true), 0);
    CHECK_INT(loss.reopened, 0);
    CHECK_INT(loss.pruned_from, 6);
    CHECK_INT(loss.pruned_to, 8);
    CHECK_INT(o.hq_through, 5);
    CHECK_INT(o.undelivered, 0);
    outbox_cleanup(&o);
    link_free(&l);
    replica_close(&r);
}

/* delivered_on = puback: the 1.1 behaviour, sale records delivered on PUBACK, no timer. */
static void test_puback_mode(void)
{
    struct p4gw_config cfg;
    struct replica r = {0};
    struct outbox o;
    struct link l;

    config(&cfg, true);
    open_fresh(&r, "puback");
    link_offline(&l);
    add_rows(&r, 1, 3, 0);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    CHECK(!o.wait_hq);
    outbox_link_up(&o);
    CHECK_INT(outbox_fill(&o, &l), 3);
    outbox_on_ack(&o, o.win[0].batch_id, 1000);
    CHECK_INT(o.delivered, 2);
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 1);
    CHECK_INT(o.undelivered, 1);
    CHECK(!outbox_tick(&o, 100000000));
    outbox_cleanup(&o);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    CHECK_INT(o.delivered, 2);
    outbox_cleanup(&o);
    link_free(&l);
    replica_close(&r);
}

/* Adds sale records FIRST..LAST whose text is about BYTES long. */
static void add_big_rows(struct replica *r, int64_t first, int64_t last, size_t bytes)
{
    char *rec = malloc(bytes + 64);

    CHECK(rec != NULL);
    CHECK_INT(replica_begin(r), 0);
    for (int64_t s = first; s <= last; s++) {
        int n = snprintf(rec, 64, "{\"gw_seq\":%" PRId64 ",\"pad\":\"", s);

        memset(rec + n, 'x', bytes);
        snprintf(rec + n + bytes, 8, "\"}");
        replica_bind_text(r, RS_OUTBOX_INS, 1, "sale");
        replica_bind_int(r, RS_OUTBOX_INS, 2, s);
        replica_bind_text(r, RS_OUTBOX_INS, 3, rec);
        CHECK_INT(replica_exec(r, RS_OUTBOX_INS), 0);
    }
    CHECK_INT(replica_commit(r), 0);
    free(rec);
}

/* The lane choice alone: live first within its slots, the backlog within its slots and its
 * byte window (at least one batch), lanes found empty skipped, the merge once the backlog was
 * sent and acknowledged. */
static void test_lanes_next(void)
{
    struct p4gw_config cfg;
    struct lanes ln;
    struct inflight win[8] = {0};
    struct lane_next nx;
    struct inflight fake = {0};
    int64_t sent_upto = 0;

    config(&cfg, false);
    cfg.live_lane = true;
    cfg.max_inflight = 4;
    cfg.backlog_window_bytes = 4096;
    /* Nothing undelivered: one lane, as before. */
    lanes_start(&ln, &cfg, 0, 0);
    CHECK(!ln.split);
    CHECK(lanes_next(&ln, &cfg, win, 0, 0, -1, 0, &nx));
    CHECK_INT(nx.lane, LANE_BACKLOG);
    CHECK_INT(nx.upto, INT64_MAX);
    CHECK_INT(nx.max_bytes, cfg.batch_max_bytes);
    CHECK(!lanes_next(&ln, &cfg, win, 0, 0, -1, 1u << LANE_BACKLOG, &nx));
    /* live_lane = off: one lane even with a backlog. */
    cfg.live_lane = false;
    lanes_start(&ln, &cfg, 3, 10);
    CHECK(!ln.split);
    cfg.live_lane = true;
    /* A backlog of oids 3..10: live from 11. */
    lanes_start(&ln, &cfg, 3, 10);
    sent_upto = 2;
    CHECK(ln.split);
    CHECK_INT(ln.live_from, 11);
    CHECK(lanes_next(&ln, &cfg, win, 0, sent_upto, -1, 0, &nx));
    CHECK_INT(nx.lane, LANE_LIVE);
    CHECK_INT(nx.after, 10);
    /* The live lane had nothing: the backlog, up to the live lane's start, small batches. */
    CHECK(lanes_next(&ln, &cfg, win, 0, sent_upto, -1, 1u << LANE_LIVE, &nx));
    CHECK_INT(nx.lane, LANE_BACKLOG);
    CHECK_INT(nx.after, 2);
    CHECK_INT(nx.upto, 10);
    CHECK_INT(nx.max_bytes, 1024);
    /* Two live batches out: the live lane's slots (max_inflight / 2) are taken. */
    win[0] = (struct inflight){.current = true, .live = true, .wire_bytes = 100};
    win[1] = (struct inflight){.current = true, .live = true, .wire_bytes = 100};
    CHECK(lanes_next(&ln, &cfg, win, 2, sent_upto, -1, 0, &nx));
    CHECK_INT(nx.lane, LANE_BACKLOG);
    /* One backlog batch of 5000 bytes is over the window: nothing more of the backlog. */
    win[2] = (struct inflight){.current = true, .wire_bytes = 5000};
    CHECK(!lanes_next(&ln, &cfg, win, 3, sent_upto, -1, 0, &nx));
    /* An orphan (an earlier connection's) takes no slot and no byte of the window. */
    win[2].current = false;
    CHECK(lanes_next(&ln, &cfg, win, 3, sent_upto, -1, 0, &nx));
    CHECK_INT(nx.lane, LANE_BACKLOG);
    /* Two small backlog batches: the backlog's two slots are full. */
    win[2] = (struct inflight){.current = true, .wire_bytes = 10};
    win[3] = (struct inflight){.current = true, .wire_bytes = 10};
    CHECK(!lanes_next(&ln, &cfg, win, 4, sent_upto, -1, 0, &nx));
    /* Sent cursors move per lane. */
    fake.last_oid = 14;
    lanes_sent(&ln, LANE_LIVE, &fake, &sent_upto);
    CHECK_INT(ln.live_upto, 14);
    CHECK_INT(sent_upto, 2);
    fake.last_oid = 6;
    fake.last_gw_seq = 6;
    lanes_sent(&ln, LANE_BACKLOG, &fake, &sent_upto);
    CHECK_INT(ln.backlog_gw_seq, 6);
    /* delivered_on = hq: at most backlog_ahead_max records beyond HQ's watermark. */
    cfg.backlog_ahead_max = 5;
    CHECK(!lanes_next(&ln, &cfg, win, 0, sent_upto, 1, 1u << LANE_LIVE, &nx));
    CHECK(lanes_next(&ln, &cfg, win, 0, sent_upto, 2, 1u << LANE_LIVE, &nx));
    CHECK(lanes_next(&ln, &cfg, win, 0, sent_upto, -1, 1u << LANE_LIVE, &nx));
    CHECK_INT(sent_upto, 6);
    /* Backlog found empty (the rest was delivered meanwhile): no merge while one of its
     * batches awaits a PUBACK; then the one lane goes on after the live cursor. */
    lanes_backlog_empty(&ln, &sent_upto);
    CHECK_INT(sent_upto, 10);
    CHECK(!lanes_next(&ln, &cfg, win, 2, sent_upto, -1, 1u << LANE_LIVE, &nx));
    CHECK(!lanes_try_merge(&ln, win, 4, &sent_upto));
    CHECK(ln.split);
    CHECK(lanes_try_merge(&ln, win, 2, &sent_upto));
    CHECK(!ln.split);
    CHECK_INT(sent_upto, 14);
}

/* The sender with a live lane: live records go first while the backlog drains behind them in
 * order; HQ cannot cover them before the backlog, and that neither marks them delivered nor
 * starts the HQ resend timer; after the merge they count like any other. */
static void test_live_lane(void)
{
    struct p4gw_config cfg;
    struct replica r = {0};
    struct outbox o;
    struct link l;
    struct lanes_view v;
    int64_t t = 50000;
    uint64_t live_batch;

    config(&cfg, false);
    cfg.live_lane = true;
    cfg.max_inflight = 4;
    cfg.backlog_window_bytes = 262144;
    open_fresh(&r, "lanes");
    link_offline(&l);
    add_rows(&r, 1, 10, 0); /* the outage's backlog */
    CHECK_INT(sqlite3_exec(r.db, "INSERT INTO sales(gw_seq, id, kind, ts) VALUES(1, 'a', 'sale',"
                           " '2020-01-01T00:00:00.000Z')", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    /* The link is down: everything waits as backlog, aged by its oldest sale's ts. */
    CHECK_INT(outbox_lanes_view(&o, 1577836800000 + 90000, true, &v), 0);
    CHECK_INT(v.backlog, 10);
    CHECK_INT(v.live, 0);
    CHECK_INT(v.backlog_age_s, 90);
    outbox_link_up(&o);
    CHECK(o.lanes.split);
    CHECK_INT(o.lanes.live_from, 11);
    add_rows(&r, 11, 12, 0); /* sold after the link came back */
    o.undelivered += 2;
    CHECK_INT(outbox_lanes_view(&o, 1577836800000 + 90000, true, &v), 0);
    CHECK_INT(v.backlog, 10);
    CHECK_INT(v.live, 2);
    /* Live first (2 records), then the backlog in its 2 slots (2 x 2 records). */
    CHECK_INT(outbox_fill(&o, &l), 6);
    CHECK(o.win[0].live);
    CHECK_INT(o.win[0].first_oid, 11);
    CHECK(!o.win[1].live);
    CHECK_INT(o.win[1].first_oid, 1);
    CHECK_INT(o.win[2].last_oid, 4);
    CHECK_INT(o.sent_upto, 4);
    live_batch = o.win[0].batch_id;
    /* The live PUBACK: not the broker-acknowledged position of the in-order sender, no HQ
     * timer, nothing delivered. */
    outbox_on_ack(&o, live_batch, t);
    CHECK_INT(o.acked_gw_seq, 0);
    CHECK_INT(o.lanes.live_acked_gw_seq, 12);
    CHECK_INT(o.hq_wait_ms, 0);
    CHECK(!outbox_tick(&o, t + 100000000));
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 12);
    /* A new live sale goes out at once, ahead of the rest of the backlog. */
    add_rows(&r, 13, 13, 0);
    o.undelivered += 1;
    CHECK_INT(outbox_fill(&o, &l), 1);
    CHECK(o.win[o.win_n - 1].live);
    CHECK_INT(o.win[o.win_n - 1].first_oid, 13);
    outbox_on_ack(&o, o.win[o.win_n - 1].batch_id, t + 1);
    /* The backlog drains in order; HQ's watermark follows it and stops at its end. */
    while (o.lanes.split) {
        CHECK(o.n_current > 0);
        outbox_on_ack(&o, o.win[0].batch_id, t + 2);
        outbox_fill(&o, &l);
        CHECK(o.acked_gw_seq <= 10 || !o.lanes.split);
    }
    CHECK(outbox_on_hq_ack(&o, 10, t + 3));
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 3); /* 11..13: HQ holds them, its watermark says so next */
    /* Merged: the live PUBACKs count now, and so does the HQ timer. */
    CHECK_INT(o.acked_gw_seq, 13);
    CHECK_INT(o.sent_upto, 13);
    CHECK(o.hq_wait_ms != 0);
    CHECK_INT(outbox_lanes_view(&o, 1577836800000, true, &v), 0);
    CHECK_INT(v.backlog, 0);
    CHECK_INT(v.live, 3);
    CHECK(outbox_on_hq_ack(&o, 13, t + 4));
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 0);
    CHECK_INT(o.delivered, 13);
    CHECK(!outbox_tick(&o, t + 100000000));
    /* A reconnect with nothing undelivered: one lane. */
    outbox_link_down(&o);
    outbox_link_up(&o);
    CHECK(!o.lanes.split);
    outbox_cleanup(&o);
    link_free(&l);
    replica_close(&r);
}

/* The backlog's bytes awaiting PUBACK stay within backlog_window_bytes (one batch at least),
 * in batches of a quarter of it; with delivered_on = puback a live PUBACK marks its records
 * delivered, but the delivered position waits for the backlog before it. */
static void test_live_lane_window_puback(void)
{
    struct p4gw_config cfg;
    struct replica r = {0};
    struct outbox o;
    struct link l;
    int64_t backlog_bytes = 0;
    int n_backlog = 0;

    config(&cfg, true);
    cfg.live_lane = true;
    cfg.max_inflight = 16;
    cfg.batch_max_items = 100;
    cfg.backlog_window_bytes = 8192; /* backlog batches of 2048 bytes of JSON */
    open_fresh(&r, "lanes-window");
    link_offline(&l);
    add_big_rows(&r, 1, 40, 700);
    CHECK_INT(outbox_init(&o, &r, &cfg), 0);
    outbox_link_up(&o);
    add_rows(&r, 41, 41, 0);
    o.undelivered += 1;
    outbox_fill(&o, &l);
    for (size_t i = 0; i < o.win_n; i++) {
        if (o.win[i].live)
            continue;
        n_backlog++;
        backlog_bytes += o.win[i].wire_bytes;
        CHECK(o.win[i].wire_bytes <= 2048 + 64);
    }
    CHECK(backlog_bytes >= 8192 - 2048 && backlog_bytes < 8192 + 2048);
    CHECK(n_backlog >= 3);
    CHECK(o.win[0].live);
    outbox_on_ack(&o, o.win[0].batch_id, 1000);
    CHECK_INT(o.delivered, 0);
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 40);
    CHECK_INT(sql_int(&r, "SELECT delivered FROM outbox WHERE gw_seq = 41"), 1);
    while (o.lanes.split) {
        outbox_on_ack(&o, o.win[0].batch_id, 1001);
        outbox_fill(&o, &l);
    }
    CHECK_INT(o.delivered, 41);
    CHECK_INT(commit_marks(&o), 0);
    CHECK_INT(undelivered_rows(&r), 0);
    outbox_cleanup(&o);
    link_free(&l);
    replica_close(&r);
}

int main(void)
{
    char cmd[PATH_MAX + 16];

    p4_log_set_level(P4_LOG_ERROR);
    if (queue_init(&events, 1000, 1u << 20) != 0 || !mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_window_and_watermark();
    test_resend_timer();
    test_failed_commits();
    test_puback_mode();
    test_keep_delivered();
    test_hq_lost();
    test_lanes_next();
    test_live_lane();
    test_live_lane_window_puback();
    queue_cleanup(&events);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    CHECK_DONE();
}
