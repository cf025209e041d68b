/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the register journal on a temporary SQLite file: seq, states, durability. */
#include "shim.h"
#include "p4check.h"

#include <strings.h>

#include <sqlite3.h>

#include "p4common.h"

static const char *const ids[] = {
    "01900000-0000-7000-8000-000000000001",
    "01900000-0000-7000-8000-000000000002",
    "01900000-0000-7000-8000-000000000003",
};

/* Counts rows of SQL through a second, independent connection: what another process (or the
 * register after a crash) would see on disk. */
static long long count_other(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_seq_continues_and_states(const char *dir)
{
    char path[256];
    struct journal *j = NULL;
    struct journal_row rows[8];
    struct p4term_sale_info info, list[8];
    bool fresh = false, known = true, changed = false;
    int64_t next = 0, n = 0;
    size_t got = 0;

    snprintf(path, sizeof(path), "%s/r01.db", dir);
    CHECK_INT(journal_open(path, &j, &fresh), 0);
    CHECK(fresh);
    CHECK_INT(journal_seq_state(j, &next, &known), 0);
    CHECK_INT(next, 1);
    CHECK(!known); /* a fresh journal does not know where its register's seq stands */
    CHECK_INT(journal_set_next_seq(j, 1), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(journal_append(j, ids[i], i + 1, "{\"p\":1}", 100 * (i + 1), 1000 + i), 0);
    /* Committed before append returns: a second connection sees all three. */
    CHECK_INT(count_other(path, "SELECT count(*) FROM sales"), 3);
    journal_close(j);

    j = NULL;
    CHECK_INT(journal_open(path, &j, &fresh), 0);
    CHECK(!fresh);
    CHECK_INT(journal_seq_state(j, &next, &known), 0);
    CHECK_INT(next, 4); /* seq continues after reopen */
    CHECK(known);

    CHECK_INT(journal_pending_after(j, 0, true, rows, 8, &got), 0);
    CHECK_INT(got, 3);
    for (size_t i = 0; i < got; i++) {
        CHECK_STR(rows[i].id, ids[i]);
        CHECK_INT(rows[i].seq, (int64_t)i + 1);
        CHECK_STR(rows[i].payload, "{\"p\":1}");
        journal_row_cleanup(&rows[i]);
    }
    /* pending -> acked once; a repeated ack changes nothing. */
    CHECK_INT(journal_mark(j, ids[1], P4TERM_ACKED, 10, false, NULL, 2000, &changed, &info), 0);
    CHECK(changed);
    CHECK_INT(info.state, P4TERM_ACKED);
    CHECK_INT(info.gw_seq, 10);
    CHECK_INT(info.seq, 2);
    CHECK_INT(info.created_ms, 1001);
    CHECK_INT(journal_mark(j, ids[1], P4TERM_ACKED, 99, true, NULL, 3000, &changed, NULL), 0);
    CHECK(!changed);
    CHECK_INT(journal_info(j, ids[1], &info), 0);
    CHECK_INT(info.gw_seq, 10);
    /* rejected keeps its reason and is no longer pending. */
    CHECK_INT(journal_mark(j, ids[2], P4TERM_REJECTED, 0, false, "lines[0].qty: bad", 2000,
                           &changed, &info),
              0);
    CHECK(changed);
    CHECK_STR(info.reason, "lines[0].qty: bad");
    /* unknown ids are not an error, just no change */
    CHECK_INT(journal_mark(j, "01900000-0000-7000-8000-0000000000ff", P4TERM_ACKED, 5, false,
                           NULL, 1, &changed, NULL),
              0);
    CHECK(!changed);
    CHECK_INT(journal_count_pending(j, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(journal_list_pending(j, list, 8, &got), 0);
    CHECK_INT(got, 1);
    CHECK_STR(list[0].id, ids[0]);
    CHECK_INT(list[0].total_minor, 100);
    /* Only pending sales after a lid come back (the sender's window refill). */
    CHECK_INT(journal_pending_after(j, 1, true, rows, 8, &got), 0);
    CHECK_INT(got, 0);
    CHECK_INT(journal_info(j, "01900000-0000-7000-8000-0000000000ff", &info),
              P4TERM_ENOTFOUND);
    CHECK_INT(journal_keep_reject(j, "pos/v1/s1/changes", "{bad", 4, "not JSON", 5), 0);
    /* Pruning drops only acked sales done before the cutoff; the seq counter is untouched. */
    {
        int64_t pruned = -1;

        CHECK_INT(journal_prune(j, 2000, &pruned), 0);
        CHECK_INT(pruned, 0); /* acked at 2000, not before */
        CHECK_INT(journal_prune(j, 2001, &pruned), 0);
        CHECK_INT(pruned, 1);
        CHECK_INT(journal_info(j, ids[2], &info), 0); /* rejected: kept */
        CHECK_INT(journal_info(j, ids[0], &info), 0); /* pending: kept */
        CHECK_INT(journal_seq_state(j, &next, &known), 0);
        CHECK_INT(next, 4);
    }
    journal_close(j);
    CHECK_INT(count_other(path, "SELECT count(*) FROM sales WHERE state = 1"), 0);
    CHECK_INT(count_other(path, "SELECT count(*) FROM sales"), 2);
    CHECK_INT(count_other(path, "SELECT count(*) FROM rejects"), 1);
}

static void test_unnumbered_then_numbered(const char *dir)
{
    char path[256];
    struct journal *j = NULL;
    struct journal_row rows[8];
    bool fresh = false, known = true;
    int64_t next = 0;
    size_t got = 0;

    snprintf(path, sizeof(path), "%s/r02.db", dir);
    CHECK_INT(journal_open(path, &j, &fresh), 0);
    CHECK(fresh);
    /* Sales made before the gateway said where this register's seq stands. */
    CHECK_INT(journal_append(j, ids[0], 0, "{\"seq\":1,\"a\":0}", 1, 1), 0);
    CHECK_INT(journal_append(j, ids[1], 0, "{\"seq\":1,\"a\":1}", 1, 2), 0);
    CHECK_INT(journal_pending_after(j, 0, true, rows, 8, &got), 0);
    CHECK_INT(got, 0); /* not sendable yet */
    CHECK_INT(journal_unnumbered(j, rows, 8, &got), 0);
    CHECK_INT(got, 2);
    CHECK_STR(rows[0].id, ids[0]);
    /* The gateway reported last_sale_seq 41. */
    CHECK_INT(journal_begin(j), 0);
    CHECK_INT(journal_number(j, rows[0].lid, 42, "{\"seq\":42,\"a\":0}"), 0);
    CHECK_INT(journal_number(j, rows[1].lid, 43, "{\"seq\":43,\"a\":1}"), 0);
    CHECK_INT(journal_set_next_seq(j, 44), 0);
    CHECK_INT(journal_commit(j), 0);
    journal_row_cleanup(&rows[0]);
    journal_row_cleanup(&rows[1]);
    CHECK_INT(journal_unnumbered(j, rows, 8, &got), 0);
    CHECK_INT(got, 0);
    CHECK_INT(journal_pending_after(j, 0, true, rows, 8, &got), 0);
    CHECK_INT(got, 2);
    if (got == 2) {
        CHECK_INT(rows[0].seq, 42);
        CHECK_STR(rows[1].payload, "{\"seq\":43,\"a\":1}");
        journal_row_cleanup(&rows[0]);
        journal_row_cleanup(&rows[1]);
    }
    journal_close(j);
    j = NULL;
    CHECK_INT(journal_open(path, &j, &fresh), 0);
    CHECK_INT(journal_seq_state(j, &next, &known), 0);
    CHECK(known);
    CHECK_INT(next, 44);
    /* A duplicate id is refused and leaves the counter alone. */
    CHECK(journal_append(j, ids[0], 44, "{}", 1, 3) != 0);
    CHECK_INT(journal_seq_state(j, &next, &known), 0);
    CHECK_INT(next, 44);
    journal_close(j);
}

/* Denies setting synchronous back to FULL while *CTX is true: how a failed restore looks to
 * the journal (SQLite refuses the pragma inside a transaction, on a full disk, ...). */
static int deny_sync_full(void *ctx, int action, const char *a1, const char *a2, const char *a3,
                          const char *a4)
{
    const bool *deny = ctx;

    (void)a3;
    (void)a4;
    if (*deny && action == SQLITE_PRAGMA && a1 && strcasecmp(a1, "synchronous") == 0 && a2 &&
        (strcasecmp(a2, "full") == 0 || strcmp(a2, "2") == 0))
        return SQLITE_DENY;
    return SQLITE_OK;
}

static long long synchronous_of(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A snapshot chunk relaxes the shared connection to synchronous=NORMAL; when setting it back
 * to FULL fails, the journal must refuse to commit sales (which would not be fsync'd) rather
 * than journal them silently, and must go back to FULL before the next one it accepts. */
static void test_sales_never_commit_without_full_sync(const char *dir)
{
    char path[256];
    struct journal *j = NULL;
    struct cache *c = NULL;
    struct p4t_change item = {.seq = 1, .entity = P4T_E_STOCK, .key = "milk"};
    struct p4t_changes ch = {0};
    enum cache_result res;
    int64_t lo = 0, hi = 0;
    bool deny = false;

    snprintf(path, sizeof(path), "%s/r03.db", dir);
    CHECK_INT(journal_open(path, &j, NULL), 0);
    if (!j)
        return;
    CHECK_INT(synchronous_of(journal_db(j)), 2); /* FULL from the open */
    CHECK_INT(cache_open(journal_db(j), &c), 0);
    CHECK_INT(journal_set_next_seq(j, 1), 0);
    sqlite3_set_authorizer(journal_db(j), deny_sync_full, &deny);

    item.value_json = (char *)"{\"on_hand\":5}";
    ch.from = 0;
    ch.to = 10;
    ch.n_items = 1;
    ch.items = &item;
    ch.is_reply = true;
    ch.snapshot = true;
    ch.more = true; /* a chunk before the last: applied with synchronous=NORMAL */
    deny = true;
    CHECK(cache_apply(c, &ch, true, &res, &lo, &hi) != 0);
    CHECK_INT(synchronous_of(journal_db(j)), 1); /* left at NORMAL */
    CHECK_INT(journal_append(j, ids[0], 1, "{\"p\":1}", 100, 1000), P4TERM_EIO);
    CHECK_INT(count_other(path, "SELECT count(*) FROM sales"), 0);

    /* Once FULL can be set again, the next sale sets it before its commit. */
    deny = false;
    CHECK_INT(journal_append(j, ids[0], 1, "{\"p\":1}", 100, 1000), 0);
    CHECK_INT(synchronous_of(journal_db(j)), 2);
    CHECK_INT(count_other(path, "SELECT count(*) FROM sales"), 1);
    sqlite3_set_authorizer(journal_db(j), NULL, NULL);
    cache_close(c);
    journal_close(j);
}

/* Sign-ups (contract 1.2): pending until an ack names (id, ver); kept across a reopen. */
static void test_signups(const char *dir)
{
    char path[256];
    struct journal *j = NULL;
    struct journal_row rows[4];
    size_t got = 0;
    bool changed = true;

    snprintf(path, sizeof(path), "%s/r09.db", dir);
    CHECK_INT(journal_open(path, &j, NULL), 0);
    CHECK_INT(journal_begin(j), 0);
    CHECK_INT(journal_signup_add(j, "C-1", 11, "{\"items\":[1]}", 1000), 0);
    CHECK_INT(journal_signup_add(j, "C-2", 12, "{\"items\":[2]}", 1001), 0);
    CHECK_INT(journal_commit(j), 0);
    journal_close(j);
    CHECK_INT(journal_open(path, &j, NULL), 0);
    CHECK_INT(journal_signup_pending(j, rows, 4, &got), 0);
    CHECK_INT(got, 2);
    CHECK_INT(rows[0].seq, 11);
    CHECK_STR(rows[1].payload, "{\"items\":[2]}");
    for (size_t i = 0; i < got; i++)
        journal_row_cleanup(&rows[i]);
    CHECK_INT(journal_signup_ack(j, "C-1", 99, 2000, &changed), 0); /* another ver */
    CHECK(!changed);
    CHECK_INT(journal_signup_ack(j, "C-1", 11, 2000, &changed), 0);
    CHECK(changed);
    CHECK_INT(journal_signup_ack(j, "C-1", 11, 2001, &changed), 0); /* a repeated ack */
    CHECK(!changed);
    CHECK_INT(journal_signup_pending(j, rows, 4, &got), 0);
    CHECK_INT(got, 1);
    CHECK_INT(rows[0].seq, 12);
    journal_row_cleanup(&rows[0]);
    journal_close(j);
}

int main(void)
{
    char dir[64];

    p4_log_set_level(P4_LOG_ERROR); /* the duplicate-id case logs one expected error */
    tmpdir_make(dir, sizeof(dir));
    test_seq_continues_and_states(dir);
    test_unnumbered_then_numbered(dir);
    test_sales_never_commit_without_full_sync(dir);
    test_signups(dir);
    tmpdir_remove(dir);
    CHECK_DONE();
}
