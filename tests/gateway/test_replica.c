/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of the replica, stock import, ingest and sync answering on temporary SQLite files
 * (one new database per case): rows, stock, gap-free change log, outbox, dedupe, rejects,
 * snapshot decisions. */
#include "p4gw.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "p4check.h"
#include "p4common.h"

static char dir[] = "/tmp/p4gw-test-XXXXXX";
/* The time every case runs at (2026-03-01T10:00:00.000Z, the ts of sale_json's sales): the
 * modules take it as input, so no result depends on the wall clock or on how fast we run. */
#define NOW_MS INT64_C(1772359200000)
static struct p4gw_config cfg;

static int64_t q_int(struct replica *r, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(r->db));
    sqlite3_finalize(st);
    return v;
}

/* The first column of the first row of SQL as a malloc'd string ("" when none). */
static char *q_text(struct replica *r, const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *v = NULL;

    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v ? v : strdup("");
}

static void sale_json(char *buf, size_t len, const char *id, int seq, const char *reg,
                      const char *kind, const char *sku, int qty, int price)
{
    long long total = (long long)qty * price;

    snprintf(buf, len,
             "{\"id\":\"%s\",\"seq\":%d,\"store\":\"s001\",\"reg\":\"%s\","
             "\"ts\":\"2026-03-01T10:00:00.000Z\",\"kind\":\"%s\","
             "\"lines\":[{\"sku\":\"%s\",\"qty\":%d,\"price\":%d,\"ver\":1}],"
             "\"tenders\":[{\"type\":\"cash\",\"amount\":%lld}],\"total\":%lld}",
             id, seq, reg, kind, sku, qty, price, total, total);
}

static const char *ID1 = "01900000-0000-7000-8000-000000000001";
static const char *ID2 = "01900000-0000-7000-8000-000000000002";
static const char *ID3 = "01900000-0000-7000-8000-000000000003";

static void fixture(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/fixtures/%s", fixture_dir(), name);
}

/* Changes must be numbered 1..N with no gap. */
static void check_changes_gap_free(struct replica *r)
{
    int64_t n = q_int(r, "SELECT count(*) FROM changes");
    int64_t lo = q_int(r, "SELECT min(seq) FROM changes");
    int64_t hi = q_int(r, "SELECT max(seq) FROM changes");

    CHECK_INT(hi - lo + 1, n);
}

/* Imports fixtures/stock_good.csv: A-1 10, B-2 5, C-3 0 with prices (6 changes). */
static void given_stock(struct replica *r)
{
    char path[PATH_MAX], err[P4GW_ERR_MAX];

    fixture(path, sizeof(path), "stock_good.csv");
    CHECK_INT(stock_import_csv(r, path, err, sizeof(err)), 0);
}

/* One group from r1's topic: two sales, a resend of the first, a wrong register, garbage and
 * an oversized message (gw_seq 1 and 2, an oversell of A-1, 3 rejects). */
static void ingest_group1(struct group *in, int64_t now)
{
    char buf[1024], topic[P4T_TOPIC_MAX];

    p4t_topic_local(topic, sizeof(topic), P4T_L_SALE, "s001", "r1");
    CHECK_INT(replica_begin(in->r), 0);
    CHECK_INT(group_begin(in), 0);
    sale_json(buf, sizeof(buf), ID1, 1, "r1", "sale", "A-1", 3, 250);
    CHECK_INT(ingest_sale(in, topic, buf, strlen(buf), strlen(buf), now), 0);
    sale_json(buf, sizeof(buf), ID2, 2, "r1", "sale", "A-1", 9, 250);
    CHECK_INT(ingest_sale(in, topic, buf, strlen(buf), strlen(buf), now), 0);
    sale_json(buf, sizeof(buf), ID1, 1, "r1", "sale", "A-1", 3, 250);
    CHECK_INT(ingest_sale(in, topic, buf, strlen(buf), strlen(buf), now), 0);
    sale_json(buf, sizeof(buf), ID3, 3, "r2", "sale", "A-1", 1, 250);
    CHECK_INT(ingest_sale(in, topic, buf, strlen(buf), strlen(buf), now), 0);
    CHECK_INT(ingest_sale(in, topic, "{not json", 9, 9, now), 0);
    CHECK_INT(ingest_sale(in, topic, "{}", 2, 100000, now), 0); /* over the size limit */
    CHECK_INT(replica_commit(in->r), 0);
}

/* A later group: a resend of ID2, a void of B-2 and a return of A-1 (gw_seq 3 and 4). */
static void ingest_group2(struct group *in, int64_t now)
{
    char buf[1024], topic[P4T_TOPIC_MAX];

    p4t_topic_local(topic, sizeof(topic), P4T_L_SALE, "s001", "r1");
    CHECK_INT(replica_begin(in->r), 0);
    CHECK_INT(group_begin(in), 0);
    sale_json(buf, sizeof(buf), ID2, 2, "r1", "sale", "A-1", 9, 250);
    CHECK_INT(ingest_sale(in, topic, buf, strlen(buf), strlen(buf), now), 0);
    sale_json(buf, sizeof(buf), "01900000-0000-7000-8000-000000000004", 3, "r1", "void", "B-2", 1,
              1999);
    CHECK_INT(ingest_sale(in, topic, buf, strlen(buf), strlen(buf), now), 0);
    sale_json(buf, sizeof(buf), "01900000-0000-7000-8000-000000000005", 4, "r1", "return", "A-1",
              -2, 250);
    CHECK_INT(ingest_sale(in, topic, buf, strlen(buf), strlen(buf), now), 0);
    CHECK_INT(replica_commit(in->r), 0);
}

/* The stock import and both groups of test_ingest: 4 sales (head 9 changes), an oversell
 * alert queued behind gw_seq 2 (outbox oid 3), r1 at seq 4. */
static void given_sales(struct replica *r)
{
    struct group in;

    given_stock(r);
    CHECK_INT(group_init(&in, r, &cfg), 0);
    ingest_group1(&in, NOW_MS);
    ingest_group2(&in, NOW_MS);
    group_cleanup(&in);
}

/* N stock rows PREFIX-0.. PREFIX-(N-1) with on_hand = their number, in one transaction. */
static void add_stock_rows(struct replica *r, const char *prefix, int n)
{
    int64_t head;

    CHECK_INT(replica_begin(r), 0);
    CHECK_INT(replica_int(r, RS_CHANGE_HEAD, 0, &head), 0);
    for (int i = 0; i < n; i++) {
        char sku[32];

        snprintf(sku, sizeof(sku), "%s-%d", prefix, i);
        CHECK_INT(stock_record_stock(r, &head, sku, i, NULL), 0);
    }
    CHECK_INT(replica_commit(r), 0);
}

/* More than 1,000 rows to snapshot (the import and 1,100 more) and Q-2 at -3. */
static void given_big_state(struct replica *r)
{
    int64_t head;

    given_stock(r);
    add_stock_rows(r, "X", 1100);
    CHECK_INT(replica_begin(r), 0);
    CHECK_INT(replica_int(r, RS_CHANGE_HEAD, 0, &head), 0);
    CHECK_INT(stock_record_stock(r, &head, "Q-2", -3, NULL), 0);
    CHECK_INT(replica_commit(r), 0);
}

static void test_import(struct replica *r)
{
    char path[PATH_MAX], err[P4GW_ERR_MAX];

    fixture(path, sizeof(path), "stock_bad.csv");
    CHECK_INT(stock_import_csv(r, path, err, sizeof(err)), P4GW_EINVAL);
    CHECK_CONTAINS(err, "stock_bad.csv:3: price_minor");
    CHECK_INT(q_int(r, "SELECT count(*) FROM stock"), 0); /* nothing imported */

    fixture(path, sizeof(path), "stock_good.csv");
    CHECK_INT(stock_import_csv(r, path, err, sizeof(err)), 0);
    CHECK_INT(q_int(r, "SELECT on_hand FROM stock WHERE sku = 'A-1'"), 10);
    CHECK_INT(q_int(r, "SELECT on_hand FROM stock WHERE sku = 'B-2'"), 5);
    CHECK_INT(q_int(r, "SELECT on_hand FROM stock WHERE sku = 'C-3'"), 0);
    CHECK_INT(q_int(r, "SELECT price FROM prices WHERE sku = 'B-2'"), 1999);
    CHECK_INT(q_int(r, "SELECT ver FROM prices WHERE sku = 'B-2'"), 3);
    CHECK_INT(q_int(r, "SELECT count(*) FROM changes"), 6);
    CHECK_INT(q_int(r, "SELECT sum(delta) FROM stock_moves WHERE reason = 'count'"), 15);
    check_changes_gap_free(r);

    /* Re-import: same counts and versions change nothing; a newer count is a delta move. */
    CHECK_INT(stock_import_csv(r, path, err, sizeof(err)), 0);
    CHECK_INT(q_int(r, "SELECT count(*) FROM changes"), 6);
}

static void test_ingest(struct replica *r)
{
    struct group in;
    int64_t now = NOW_MS;
    struct p4t_ack ack;
    char reason[P4T_REASON_MAX];

    CHECK_INT(group_init(&in, r, &cfg), 0);
    CHECK_INT(in.gw_head, 0);
    CHECK_INT(in.change_head, 6);

    ingest_group1(&in, now);

    CHECK_INT(in.acks.n, 6);
    if (in.acks.n == 6) {
        CHECK_STR(in.acks.items[0].topic, "pos/v1/s001/reg/r1/ack");
        CHECK_INT(p4t_ack_decode(in.acks.items[0].payload, in.acks.items[0].len, &ack, reason,
                                 sizeof(reason)), 0);
        CHECK_INT(ack.status, P4T_ACK_OK);
        CHECK_INT(ack.gw_seq, 1);
        CHECK_INT(p4t_ack_decode(in.acks.items[1].payload, in.acks.items[1].len, &ack, NULL, 0),
                  0);
        CHECK_INT(ack.status, P4T_ACK_OK);
        CHECK_INT(ack.gw_seq, 2);
        CHECK_INT(p4t_ack_decode(in.acks.items[2].payload, in.acks.items[2].len, &ack, NULL, 0),
                  0);
        CHECK_INT(ack.status, P4T_ACK_DUPLICATE);
        CHECK_INT(ack.gw_seq, 1);
        CHECK_INT(p4t_ack_decode(in.acks.items[3].payload, in.acks.items[3].len, &ack, NULL, 0),
                  0);
        CHECK_INT(ack.status, P4T_ACK_REJECTED);
        CHECK_STR(ack.id, ID3);
        CHECK_CONTAINS(ack.reason, "reg");
        CHECK_INT(p4t_ack_decode(in.acks.items[4].payload, in.acks.items[4].len, &ack, NULL, 0),
                  0);
        CHECK_INT(ack.status, P4T_ACK_REJECTED);
        CHECK_STR(ack.id, "");
        CHECK_INT(p4t_ack_decode(in.acks.items[5].payload, in.acks.items[5].len, &ack, NULL, 0),
                  0);
        CHECK_CONTAINS(ack.reason, "too large");
    }
    CHECK_INT(q_int(r, "SELECT count(*) FROM sales"), 2);
    CHECK_INT(q_int(r, "SELECT gw_seq FROM sales"
                       " WHERE id = '01900000-0000-7000-8000-000000000002'"), 2);
    CHECK_INT(q_int(r, "SELECT count(*) FROM sale_lines"), 2);
    /* 10 - 3 - 9: an oversell is recorded, not refused, and flagged. */
    CHECK_INT(q_int(r, "SELECT on_hand FROM stock WHERE sku = 'A-1'"), -2);
    CHECK_INT(q_int(r, "SELECT count(*) FROM sales WHERE flags LIKE '%oversell%'"), 1);
    /* One oversell alert for the crossing, naming the sale that crossed and the one before. */
    CHECK_INT(in.alerts.n, 1);
    if (in.alerts.n == 1) {
        struct p4t_alert a;

        CHECK_INT(p4t_alert_decode(in.alerts.items[0].payload, in.alerts.items[0].len, &a,
                                   reason, sizeof(reason)), 0);
        CHECK_STR(a.kind, "oversell");
        CHECK_STR(a.sku, "A-1");
        CHECK_INT(a.n_sales, 2);
        CHECK_STR(a.sales[0], ID2);
        CHECK_STR(a.sales[1], ID1);
        CHECK_STR(a.details, "{\"on_hand\":-2}");
    }
    CHECK_INT(q_int(r, "SELECT count(*) FROM conflicts WHERE kind = 'oversell' AND sku = 'A-1'"
                       " AND on_hand = -2"), 1);
    CHECK_INT(q_int(r, "SELECT count(*) FROM outbox WHERE kind = 'alert'"), 1);
    CHECK_INT(q_int(r, "SELECT count(*) FROM stock_moves WHERE reason = 'sale'"), 2);
    CHECK_INT(q_int(r, "SELECT count(*) FROM changes"), 8);
    check_changes_gap_free(r);
    CHECK_INT(in.changes.n, 2);
    CHECK_INT(q_int(r, "SELECT count(*) FROM outbox WHERE delivered = 0"), 3);
    /* The alert follows the sale that raised it. */
    CHECK_INT(q_int(r, "SELECT oid FROM outbox WHERE kind = 'alert'"), 3);
    CHECK_INT(q_int(r, "SELECT count(*) FROM outbox WHERE payload LIKE '%\"gw_seq\":2%'"), 1);
    /* The uplink record (the received sale with gw_seq and flags spliced in) is what HQ's
     * decoder reads: the sale's fields, its gw_seq and the oversell flag. */
    {
        char *rec = q_text(r, "SELECT payload FROM outbox WHERE kind = 'sale' AND gw_seq = 2");
        struct p4t_sale *sale = calloc(1, sizeof(*sale));
        char flags[P4T_MAX_FLAGS][P4T_KIND_MAX + 1];
        size_t n_flags = 0;
        int64_t gw_seq = 0;

        CHECK(sale != NULL);
        CHECK_INT(p4t_sale_record_decode(rec, strlen(rec), sale, &gw_seq, flags, &n_flags,
                                         reason, sizeof(reason)), 0);
        CHECK_INT(gw_seq, 2);
        CHECK_STR(sale->id, ID2);
        CHECK_INT(sale->n_lines, 1);
        CHECK_INT(sale->lines[0].qty, 9);
        CHECK_INT(sale->total_minor, 2250);
        CHECK_INT(n_flags, 1);
        if (n_flags == 1)
            CHECK_STR(flags[0], "oversell");
        free(sale);
        free(rec);
    }
    CHECK_INT(q_int(r, "SELECT last_seq FROM registers WHERE reg = 'r1'"), 2);
    CHECK_INT(q_int(r, "SELECT count(*) FROM rejects"), 3);

    /* A later group: the resend is a duplicate with the original gw_seq; a void moves no
     * stock; a return gives stock back. */
    out_list_clear(&in.acks);
    ingest_group2(&in, now);
    CHECK_INT(in.acks.n, 3);
    if (in.acks.n == 3) {
        CHECK_INT(p4t_ack_decode(in.acks.items[0].payload, in.acks.items[0].len, &ack, NULL, 0),
                  0);
        CHECK_INT(ack.status, P4T_ACK_DUPLICATE);
        CHECK_INT(ack.gw_seq, 2);
        CHECK_INT(p4t_ack_decode(in.acks.items[2].payload, in.acks.items[2].len, &ack, NULL, 0),
                  0);
        CHECK_INT(ack.status, P4T_ACK_OK);
        CHECK_INT(ack.gw_seq, 4);
    }
    CHECK_INT(q_int(r, "SELECT on_hand FROM stock WHERE sku = 'B-2'"), 5);
    CHECK_INT(q_int(r, "SELECT on_hand FROM stock WHERE sku = 'A-1'"), 0);
    CHECK_INT(q_int(r, "SELECT max(gw_seq) FROM sales"), 4);
    CHECK_INT(q_int(r, "SELECT last_seq FROM registers WHERE reg = 'r1'"), 4);
    check_changes_gap_free(r);
    group_cleanup(&in);
}

static void test_sync(struct replica *r)
{
    struct out_list out = {0};
    struct p4t_sync_req req = {.req_id = "q1", .cursor = 0};
    struct p4t_changes c;
    char reason[P4T_REASON_MAX];
    int64_t head;
    bool snap;

    CHECK_INT(sync_decide(r, 0, &head, &snap), 0);
    CHECK_INT(head, 9);
    CHECK(snap); /* a register starting from nothing gets the current state */
    CHECK_INT(sync_decide(r, 1, &head, &snap), 0);
    CHECK(!snap);
    CHECK_INT(sync_decide(r, 9, &head, &snap), 0);
    CHECK(!snap);
    CHECK_INT(sync_decide(r, 10, &head, &snap), 0);
    CHECK(snap); /* a cursor past head: start over */

    /* Log slice from 5: items 6..9, last_sale_seq of r1. */
    req.cursor = 5;
    CHECK_INT(sync_answer(r, "s001", "r1", &req, &out), 0);
    CHECK_INT(out.n, 1);
    CHECK_STR(out.items[0].topic, "pos/v1/s001/reg/r1/sync/reply");
    CHECK_INT(p4t_changes_decode(out.items[0].payload, out.items[0].len, &c, reason,
                                 sizeof(reason)), 0);
    CHECK(!c.snapshot);
    CHECK(!c.more);
    CHECK_INT(c.from, 6);
    CHECK_INT(c.to, 9);
    CHECK_INT(c.n_items, 4);
    CHECK_INT(c.head, 9);
    CHECK_INT(c.last_sale_seq, 4);
    CHECK_STR(c.req_id, "q1");
    p4t_changes_cleanup(&c);
    out_list_clear(&out);

    /* Up to date: an empty slice. Unknown register: last_sale_seq 0. */
    req.cursor = 9;
    CHECK_INT(sync_answer(r, "s001", "r9", &req, &out), 0);
    CHECK_INT(out.n, 1);
    CHECK_INT(p4t_changes_decode(out.items[0].payload, out.items[0].len, &c, NULL, 0), 0);
    CHECK_INT(c.n_items, 0);
    CHECK_INT(c.last_sale_seq, 0);
    p4t_changes_cleanup(&c);
    out_list_clear(&out);

    /* Prune the log below 8: cursor 3 now needs a snapshot of stock and prices. */
    replica_bind_int(r, RS_CHANGES_PRUNE, 1, 7);
    CHECK_INT(replica_exec(r, RS_CHANGES_PRUNE), 0);
    CHECK_INT(sync_decide(r, 3, &head, &snap), 0);
    CHECK(snap);
    CHECK_INT(sync_decide(r, 7, &head, &snap), 0);
    CHECK(!snap);
    req.cursor = 3;
    CHECK_INT(sync_answer(r, "s001", "r1", &req, &out), 0);
    CHECK_INT(out.n, 1);
    CHECK_INT(p4t_changes_decode(out.items[0].payload, out.items[0].len, &c, reason,
                                 sizeof(reason)), 0);
    CHECK(c.snapshot);
    CHECK_INT(c.to, 9);
    CHECK_INT(c.n_items, 6); /* 3 stock + 3 price rows */
    p4t_changes_cleanup(&c);
    out_list_clear(&out);
    free(out.items);
}

/* Many changes: log replies come in chunks of 500 with `more` on all but the last. */
static void test_chunks(struct replica *r)
{
    struct out_list out = {0};
    struct p4t_sync_req req = {.req_id = "q2", .cursor = 0};
    struct p4t_changes c;
    int64_t head;

    CHECK_INT(replica_begin(r), 0);
    CHECK_INT(replica_int(r, RS_CHANGE_HEAD, 0, &head), 0);
    for (int i = 0; i < 1100; i++) {
        char sku[32];

        snprintf(sku, sizeof(sku), "X-%d", i);
        CHECK_INT(stock_record_stock(r, &head, sku, i, NULL), 0);
    }
    CHECK_INT(replica_commit(r), 0);
    req.cursor = head - 1100;
    CHECK_INT(sync_answer(r, "s001", "r1", &req, &out), 0);
    CHECK_INT(out.n, 3);
    for (size_t i = 0; i < out.n; i++) {
        CHECK_INT(p4t_changes_decode(out.items[i].payload, out.items[i].len, &c, NULL, 0), 0);
        CHECK_INT(c.more, i + 1 < out.n);
        CHECK_INT(c.n_items, i < 2 ? 500 : 100);
        CHECK_INT(c.from, req.cursor + 1 + (int64_t)i * 500);
        p4t_changes_cleanup(&c);
    }
    out_list_clear(&out);
    /* A snapshot of 1,106 rows is chunked the same way, every chunk with to = head. */
    req.cursor = head + 5;
    CHECK_INT(sync_answer(r, "s001", "r1", &req, &out), 0);
    CHECK_INT(out.n, 3);
    for (size_t i = 0; i < out.n; i++) {
        CHECK_INT(p4t_changes_decode(out.items[i].payload, out.items[i].len, &c, NULL, 0), 0);
        CHECK(c.snapshot);
        CHECK_INT(c.to, head);
        CHECK_INT(c.more, i + 1 < out.n);
        p4t_changes_cleanup(&c);
    }
    out_list_clear(&out);

    /* More than 2,000 changes behind head: a snapshot even though the log is kept. */
    CHECK_INT(replica_begin(r), 0);
    for (int i = 0; i < 1000; i++) {
        char sku[32];

        snprintf(sku, sizeof(sku), "Y-%d", i);
        CHECK_INT(stock_record_stock(r, &head, sku, i, NULL), 0);
    }
    CHECK_INT(replica_commit(r), 0);
    {
        bool snap = false;
        int64_t h2;

        CHECK_INT(sync_decide(r, head - P4GW_SYNC_LOG_MAX_BEHIND - 1, &h2, &snap), 0);
        CHECK(snap);
        CHECK_INT(sync_decide(r, head - P4GW_SYNC_LOG_MAX_BEHIND, &h2, &snap), 0);
        CHECK(!snap);
    }
    free(out.items);
}

/* Change messages and snapshot chunks are written without the codec: HQ's and the registers'
 * decoders must read them, keys needing escapes included. */
static void test_written_messages(struct replica *r)
{
    struct change_list changes = {0};
    struct out_list out = {0};
    struct p4t_changes c;
    char reason[P4T_REASON_MAX];
    int64_t head;

    CHECK_INT(replica_begin(r), 0);
    CHECK_INT(replica_int(r, RS_CHANGE_HEAD, 0, &head), 0);
    CHECK_INT(stock_record_stock(r, &head, "Q\"1\\x", 4, &changes), 0);
    CHECK_INT(stock_record_stock(r, &head, "Q-2", -3, &changes), 0);
    CHECK_INT(replica_commit(r), 0);
    CHECK_INT(sync_changes_msgs(&changes, "pos/v1/s001/changes", &out), 0);
    CHECK_INT(out.n, 1);
    if (out.n == 1) {
        CHECK_INT(p4t_changes_decode(out.items[0].payload, out.items[0].len, &c, reason,
                                     sizeof(reason)), 0);
        CHECK_INT(c.from, head - 1);
        CHECK_INT(c.to, head);
        CHECK_INT(c.n_items, 2);
        if (c.n_items == 2) {
            CHECK_STR(c.items[0].key, "Q\"1\\x");
            CHECK_STR(c.items[0].value_json, "{\"on_hand\":4}");
            CHECK_STR(c.items[1].key, "Q-2");
            CHECK_INT(c.items[1].entity, P4T_E_STOCK);
        }
        p4t_changes_cleanup(&c);
    }
    out_list_clear(&out);
    free(out.items);
    change_list_free(&changes);
}

/* A snapshot is streamed by sync_pump while the core thread keeps committing: every chunk is
 * in seq order, the whole pass is the state when it started (a later change is not in it,
 * the row it changed has its old value), and every row of that state comes exactly once. */
static void test_snapshot_stream(struct replica *r)
{
    struct syncer sy;
    struct out_list out = {0};
    struct p4t_sync_req req = {.req_id = "s1", .cursor = 0};
    int64_t head, rows, got = 0, last_seq = -1, pumps = 0;
    bool busy = true, seen_new = false, more = true;
    char *q2 = NULL;

    rows = q_int(r, "SELECT (SELECT count(*) FROM stock) + (SELECT count(*) FROM prices"
                    " WHERE value IS NOT NULL OR price IS NOT NULL) + (SELECT count(*) FROM"
                    " promos) + (SELECT count(*) FROM customers) + (SELECT count(*) FROM"
                    " loyalty WHERE chg_seq > 0)");
    CHECK_INT(replica_int(r, RS_CHANGE_HEAD, 0, &head), 0);
    sync_init(&sy, r, "s001");
    CHECK_INT(sync_request(&sy, "r7", &req, &out), 0);
    CHECK_INT(out.n, 0); /* queued, not answered inline */
    /* The first pump opens the pass; then a commit changes Q-2 and adds a sku. */
    CHECK_INT(sync_pump(&sy, &out, &busy), 0);
    CHECK_INT(replica_begin(r), 0);
    {
        int64_t h = head;

        CHECK_INT(stock_record_stock(r, &h, "Q-2", 77, NULL), 0);
        CHECK_INT(stock_record_stock(r, &h, "Q-NEW", 5, NULL), 0);
    }
    CHECK_INT(replica_commit(r), 0);
    while (busy && pumps++ < 100000)
        CHECK_INT(sync_pump(&sy, &out, &busy), 0);
    CHECK(!busy);
    CHECK(out.n >= 3); /* more than 1,000 rows: several chunks */
    for (size_t i = 0; i < out.n; i++) {
        struct p4t_changes c;
        char reason[P4T_REASON_MAX];

        CHECK_STR(out.items[i].topic, "pos/v1/s001/reg/r7/sync/reply");
        CHECK_INT(p4t_changes_decode(out.items[i].payload, out.items[i].len, &c, reason,
                                     sizeof(reason)), 0);
        CHECK(c.snapshot);
        CHECK_STR(c.req_id, "s1");
        CHECK_INT(c.to, head);
        CHECK_INT(c.more, i + 1 < out.n);
        more = c.more;
        for (size_t k = 0; k < c.n_items; k++) {
            CHECK(c.items[k].seq >= last_seq);
            last_seq = c.items[k].seq;
            if (strcmp(c.items[k].key, "Q-NEW") == 0)
                seen_new = true;
            if (c.items[k].entity == P4T_E_STOCK && strcmp(c.items[k].key, "Q-2") == 0)
                q2 = strdup(c.items[k].value_json);
        }
        got += (int64_t)c.n_items;
        p4t_changes_cleanup(&c);
    }
    CHECK(!more);
    CHECK_INT(got, rows);
    CHECK(!seen_new);
    CHECK(q2 != NULL);
    if (q2)
        CHECK_STR(q2, "{\"on_hand\":-3}");
    free(q2);
    out_list_clear(&out);
    free(out.items);
    sync_cleanup(&sy);
}

/* Applies one downlink message (topic kind KIND) in its own transaction. */
static void down(struct group *in, const char *kind, const char *json)
{
    char topic[P4T_TOPIC_MAX];

    p4t_topic_down(topic, sizeof(topic), "acme", "_all", kind);
    CHECK_INT(replica_begin(in->r), 0);
    CHECK_INT(group_begin(in), 0);
    CHECK_INT(downlink_apply(in, topic, json, strlen(json), strlen(json), NOW_MS), 0);
    CHECK_INT(replica_commit(in->r), 0);
}

/* HQ's downlink: idempotent, version-ordered, all-or-nothing; the stock rule; loyalty. */
static void test_downlink(struct replica *r)
{
    struct group in;
    char buf[1024], ts[P4T_TS_LEN], later[P4T_TS_LEN], earlier[P4T_TS_LEN];
    int64_t now = NOW_MS, n;

    CHECK_INT(group_init(&in, r, &cfg), 0);
    p4t_ts_format(now, ts);
    p4t_ts_format(now + 60000, later);
    p4t_ts_format(now - 60000, earlier);
    down(&in, "price", "{\"items\":[{\"sku\":\"P-1\",\"price\":100,\"ver\":3}]}");
    CHECK_INT(q_int(r, "SELECT ver FROM prices WHERE sku = 'P-1'"), 3);
    n = q_int(r, "SELECT count(*) FROM changes");
    /* The same item again and an older base: no change row, the base stays. */
    down(&in, "price", "{\"items\":[{\"sku\":\"P-1\",\"price\":100,\"ver\":3},"
                       "{\"sku\":\"P-1\",\"price\":90,\"ver\":2}]}");
    CHECK_INT(q_int(r, "SELECT count(*) FROM changes"), n);
    CHECK_INT(q_int(r, "SELECT price FROM prices WHERE sku = 'P-1'"), 100);
    /* A message with a bad second item applies nothing and is kept with a reason. */
    n = q_int(r, "SELECT count(*) FROM rejects");
    down(&in, "price", "{\"items\":[{\"sku\":\"P-1\",\"price\":1,\"ver\":9},"
                       "{\"sku\":\"P-2\",\"price\":-1,\"ver\":10}]}");
    CHECK_INT(q_int(r, "SELECT count(*) FROM rejects"), n + 1);
    CHECK_INT(q_int(r, "SELECT ver FROM prices WHERE sku = 'P-1'"), 3);
    CHECK_INT(in.alerts.n, 1); /* the bad_downlink alert, for the core loop to publish */
    CHECK_INT(q_int(r, "SELECT count(*) FROM outbox WHERE kind = 'alert'"
                       " AND payload LIKE '%bad_downlink%'"), 1);
    group_done(&in);

    /* Stock: a count at now is the baseline; a receive before it is recorded only; an
     * adjustment after it counts; the same id twice once. */
    snprintf(buf, sizeof(buf), "{\"items\":[{\"id\":\"c1\",\"sku\":\"P-1\",\"type\":\"count\","
             "\"on_hand\":10,\"occurred_at\":\"%s\"},{\"id\":\"r1\",\"sku\":\"P-1\","
             "\"type\":\"receive\",\"delta\":5,\"occurred_at\":\"%s\"},{\"id\":\"a1\","
             "\"sku\":\"P-1\",\"type\":\"adjust\",\"delta\":-3,\"occurred_at\":\"%s\"}]}",
             ts, earlier, later);
    down(&in, "stock", buf);
    down(&in, "stock", buf);
    CHECK_INT(q_int(r, "SELECT on_hand FROM stock WHERE sku = 'P-1'"), 7);
    CHECK_INT(q_int(r, "SELECT sum(delta) FROM stock_moves WHERE sku = 'P-1'"), 7);
    CHECK_INT(q_int(r, "SELECT count(*) FROM stock_moves WHERE sku = 'P-1'"), 3);

    /* Loyalty while the WAN is down: an overdraw is kept and flagged; with the default
     * offline_loyalty_redeem = deny it is alerted with reason wan_down. */
    down(&in, "loyalty", "{\"items\":[{\"customer\":\"C-9\",\"balance\":10,\"ver\":1,"
                         "\"as_of\":\"2020-01-01T00:00:00.000Z\"}]}");
    in.wan_up = false;
    snprintf(buf, sizeof(buf),
             "{\"id\":\"01900000-0000-7000-8000-0000000000c9\",\"seq\":9,\"store\":\"s001\","
             "\"reg\":\"r3\",\"ts\":\"%s\",\"kind\":\"sale\",\"lines\":[{\"sku\":\"P-1\","
             "\"qty\":1,\"price\":100,\"ver\":3}],\"total\":100,\"customer\":\"C-9\","
             "\"loyalty\":{\"earn\":0,\"redeem\":25}}", ts);
    {
        char topic[P4T_TOPIC_MAX];

        p4t_topic_local(topic, sizeof(topic), P4T_L_SALE, "s001", "r3");
        CHECK_INT(replica_begin(r), 0);
        CHECK_INT(group_begin(&in), 0);
        CHECK_INT(ingest_sale(&in, topic, buf, strlen(buf), strlen(buf), now), 0);
        CHECK_INT(replica_commit(r), 0);
    }
    CHECK_INT(q_int(r, "SELECT balance FROM loyalty WHERE customer = 'C-9'"), -15);
    CHECK_INT(q_int(r, "SELECT count(*) FROM sales WHERE flags LIKE '%loyalty_overdraw%'"), 1);
    CHECK_INT(in.alerts.n, 1);
    if (in.alerts.n == 1)
        CHECK_CONTAINS(in.alerts.items[0].payload, "\"reason\":\"wan_down\"");
    group_done(&in);

    /* With offline_loyalty_redeem = allow the same overdraw is flagged but not alerted. */
    cfg.offline_loyalty_allow = true;
    {
        char topic[P4T_TOPIC_MAX];

        buf[strlen("{\"id\":\"01900000-0000-7000-8000-0000000000")] = 'd';
        p4t_topic_local(topic, sizeof(topic), P4T_L_SALE, "s001", "r3");
        CHECK_INT(replica_begin(r), 0);
        CHECK_INT(group_begin(&in), 0);
        CHECK_INT(ingest_sale(&in, topic, buf, strlen(buf), strlen(buf), now), 0);
        CHECK_INT(replica_commit(r), 0);
    }
    cfg.offline_loyalty_allow = false;
    CHECK_INT(q_int(r, "SELECT balance FROM loyalty WHERE customer = 'C-9'"), -40);
    CHECK_INT(q_int(r, "SELECT count(*) FROM sales WHERE flags LIKE '%loyalty_overdraw%'"), 2);
    CHECK_INT(in.alerts.n, 0);
    group_done(&in);

    /* v1 registers: a window that starts later changes nothing now; when it starts, the
     * once-a-second timer publishes the price then in effect. */
    n = q_int(r, "SELECT count(*) FROM changes");
    snprintf(buf, sizeof(buf), "{\"items\":[{\"sku\":\"P-1\",\"price\":80,\"ver\":11,"
             "\"effective_from\":\"%s\"}]}", later);
    down(&in, "price", buf);
    CHECK_INT(q_int(r, "SELECT count(*) FROM changes"), n);
    CHECK_INT(q_int(r, "SELECT next_edge_ms FROM prices WHERE sku = 'P-1'"), now + 60000);
    CHECK_INT(replica_begin(r), 0);
    CHECK_INT(group_begin(&in), 0);
    CHECK_INT(downlink_price_edges(&in, now + 61000), 0);
    CHECK_INT(replica_commit(r), 0);
    CHECK_INT(in.changes.n, 1);
    if (in.changes.n == 1)
        CHECK_STR(in.changes.items[0].value, "{\"price\":80,\"ver\":11}");
    group_done(&in);
    group_cleanup(&in);
}

static void test_outbox(struct replica *r)
{
    struct outbox o;

    CHECK_INT(outbox_init(&o, r, &cfg), 0);
    CHECK_INT(o.undelivered, 5); /* 4 sales and the oversell alert (oid 3) */
    CHECK_INT(o.delivered, 0);
    replica_bind_int(r, RS_OUTBOX_MARK, 1, 1);
    replica_bind_int(r, RS_OUTBOX_MARK, 2, 3);
    replica_bind_int(r, RS_OUTBOX_MARK, 3, 1000);
    CHECK_INT(replica_exec(r, RS_OUTBOX_MARK), 0);
    CHECK_INT(outbox_prune(&o, 2, 1001 + cfg.keep_delivered_h * 3600000), 2);
    CHECK_INT(outbox_prune(&o, 100, 1001 + cfg.keep_delivered_h * 3600000), 1);
    CHECK_INT(q_int(r, "SELECT count(*) FROM outbox"), 2);
    outbox_cleanup(&o);
    /* Reopened state: what is left is undelivered. With delivered_on = puback everything
     * before it is delivered; with hq (the default) only what HQ's watermark covers. */
    CHECK_INT(outbox_init(&o, r, &cfg), 0);
    CHECK_INT(o.undelivered, 2);
    CHECK_INT(o.delivered, 0); /* HQ has sent no watermark */
    outbox_cleanup(&o);
    cfg.delivered_on_puback = true;
    CHECK_INT(outbox_init(&o, r, &cfg), 0);
    CHECK_INT(o.undelivered, 2);
    CHECK_INT(o.delivered, 2); /* gw_seq 3 (oid 4) is the oldest undelivered sale */
    outbox_cleanup(&o);
    cfg.delivered_on_puback = false;
}

/* One transaction writing about a page (a 3 KB reject row). */
static void write_page(struct replica *r)
{
    static char blob[3000];

    CHECK_INT(replica_begin(r), 0);
    replica_bind_text(r, RS_REJECT_INS, 1, "pos/v1/s001/reg/r1/sale");
    replica_bind_blob(r, RS_REJECT_INS, 2, blob, sizeof(blob));
    replica_bind_text(r, RS_REJECT_INS, 3, "filler");
    replica_bind_int(r, RS_REJECT_INS, 4, 0);
    CHECK_INT(replica_exec(r, RS_REJECT_INS), 0);
    CHECK_INT(replica_commit(r), 0);
}

/* Checkpoints run on the checkpointer's thread, and once a pass is done the core thread's
 * idle step copies what commits added meanwhile, so the next transaction starts the WAL
 * again from its beginning instead of growing it. */
static void test_checkpointer(void)
{
    struct replica r;
    char path[PATH_MAX];
    int64_t deadline_ms, passes = 0;
    int wal_pages = 0;
    bool busy = true;

    snprintf(path, sizeof(path), "%s/ckpt.db", dir);
    CHECK_INT(replica_open(&r, path, false), 0);
    CHECK_INT(replica_checkpointer_start(&r, path, false), 0);
    /* Past the wake-up size (4,000 pages): the thread is woken, not the commit. */
    for (int i = 0; i < 4500; i++)
        write_page(&r);
    replica_checkpoint_stats(&r, &passes, &wal_pages, &busy);
    CHECK(wal_pages >= 4500);
    /* until the thread has caught up with every wake-up */
    deadline_ms = p4_mono_ms() + 30000;
    while ((passes < 1 || busy) && p4_mono_ms() < deadline_ms) {
        struct timespec ts = {0, 10 * 1000000L};

        nanosleep(&ts, NULL);
        replica_checkpoint_stats(&r, &passes, &wal_pages, &busy);
    }
    CHECK(passes >= 1 && !busy);
    for (int i = 0; i < 5; i++) /* frames behind the pass */
        write_page(&r);
    replica_checkpoint_idle(&r);
    write_page(&r); /* starts the WAL over */
    replica_checkpoint_stats(&r, &passes, &wal_pages, &busy);
    if (wal_pages >= 100)
        fprintf(stderr, "WAL pages after the restart: %d\n", wal_pages);
    CHECK(wal_pages >= 1 && wal_pages < 100); /* not 4,500 and counting */
    CHECK_INT(q_int(&r, "SELECT count(*) FROM rejects"), 4506);
    replica_checkpointer_stop(&r);
    replica_close(&r);
}

/* Reopening runs no migration twice and keeps the data. */
static void test_reopen(struct replica *r)
{
    char path[PATH_MAX];
    int64_t n = -1;

    snprintf(path, sizeof(path), "%s", sqlite3_db_filename(r->db, "main"));
    replica_close(r);
    CHECK_INT(replica_open(r, path, false), 0);
    CHECK_INT(replica_int(r, RS_SALES_HEAD, 0, &n), 0);
    CHECK_INT(n, 4);
    CHECK_INT(q_int(r, "SELECT on_hand FROM stock WHERE sku = 'A-1'"), 0);
}

/* Timer passes are bounded by one number each, in C: 150 expired holds end 100 then 50; 70
 * price windows ending are republished 64 then 6 (the queries' LIMIT is that same number). */
static void test_timer_batches(struct replica *r)
{
    struct group in;
    int64_t left = -1;

    CHECK_INT(group_init(&in, r, &cfg), 0);
    CHECK_INT(sqlite3_exec(r->db,
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                           "WHERE i < 150) INSERT INTO holds(reg, hold, req_id, expires_ms) "
                           "SELECT 'r1', 'h' || i, 'q' || i, 1000 FROM n;"
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                           "WHERE i < 70) INSERT INTO prices(sku, price, ver, next_edge_ms) "
                           "SELECT 'P-' || i, 100, 1, 1000 FROM n;",
                           NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(replica_begin(r), 0);
    CHECK_INT(group_begin(&in), 0);
    CHECK_INT(holds_expire(&in, NOW_MS), P4GW_HOLDS_EXPIRE_BATCH);
    CHECK_INT(holds_expire(&in, NOW_MS), 150 - P4GW_HOLDS_EXPIRE_BATCH);
    CHECK_INT(holds_expire(&in, NOW_MS), 0);
    CHECK_INT(downlink_price_edges(&in, NOW_MS), 0);
    CHECK_INT(replica_commit(r), 0);
    group_done(&in);
    /* A price with no state left stops being watched: the first pass took exactly a batch. */
    left = q_int(r, "SELECT count(*) FROM prices WHERE next_edge_ms IS NOT NULL");
    CHECK_INT(left, 70 - P4GW_PRICE_EDGES_BATCH);
    group_cleanup(&in);
}

/* Each case starts from its own new database in DIR, given the state GIVEN builds (none when
 * NULL); STANDALONE cases open their own. `gw_replica_test NAME` runs one case alone, as CTest
 * does for each, so no case can lean on what another left behind. */
static const struct {
    const char *name;
    void (*given)(struct replica *r);
    void (*run)(struct replica *r);
    void (*standalone)(void);
} cases[] = {
    {"import", NULL, test_import, NULL},
    {"ingest", given_stock, test_ingest, NULL},
    {"sync", given_sales, test_sync, NULL},
    {"outbox", given_sales, test_outbox, NULL},
    {"chunks", given_stock, test_chunks, NULL},
    {"written", NULL, test_written_messages, NULL},
    {"snapshot", given_big_state, test_snapshot_stream, NULL},
    {"downlink", NULL, test_downlink, NULL},
    {"reopen", given_sales, test_reopen, NULL},
    {"checkpointer", NULL, NULL, test_checkpointer},
    {"timers", NULL, test_timer_batches, NULL},
};

static void run_case(size_t i)
{
    struct replica r;
    char path[PATH_MAX];

    if (cases[i].standalone) {
        cases[i].standalone();
        return;
    }
    snprintf(path, sizeof(path), "%s/%s.db", dir, cases[i].name);
    if (replica_open(&r, path, true) != 0) {
        CHECK_INT(-1, 0);
        return;
    }
    if (cases[i].given)
        cases[i].given(&r);
    cases[i].run(&r);
    replica_close(&r);
}

int main(int argc, char **argv)
{
    size_t i, n_run = 0;

    p4_log_set_level(P4_LOG_ERROR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(cfg.store, sizeof(cfg.store), "s001");
    snprintf(cfg.tenant, sizeof(cfg.tenant), "acme");
    cfg.max_inflight = 4;
    cfg.batch_max_items = 500;
    cfg.batch_max_bytes = 262144;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        run_case(i);
        n_run++;
    }
    if (n_run == 0) {
        fprintf(stderr, "no case named %s\n", argc > 1 ? argv[1] : "");
        return 1;
    }
    if (!check_failures) {
        char cmd[PATH_MAX + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    } else {
        fprintf(stderr, "kept %s\n", dir);
    }
    CHECK_DONE();
}
