/* SPDX-License-Identifier: Apache-2.0 */
/* The register's journal: every sale, fsync'd before p4term_sale() returns, with its state. */
#include "shim.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p4common.h"

/* Numbered migrations; schema_version holds how many have run. The cache's tables live in
 * the same file so one connection (and one fsync) serves both. */
static const char *const migrations[] = {
    /* 1: journal, meta, rejects, cache */
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "CREATE TABLE sales("
    "  lid INTEGER PRIMARY KEY,"          /* local order = send order */
    "  id TEXT UNIQUE NOT NULL,"
    "  seq INTEGER UNIQUE,"               /* NULL until the seq base is known */
    "  state INTEGER NOT NULL DEFAULT 0," /* 0 pending, 1 acked, 2 rejected */
    "  payload TEXT NOT NULL,"            /* exactly what is published */
    "  total INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  done_ms INTEGER,"
    "  gw_seq INTEGER,"
    "  duplicate INTEGER NOT NULL DEFAULT 0,"
    "  reason TEXT);"
    "CREATE INDEX sales_pending ON sales(state, lid);"
    "CREATE TABLE rejects(id INTEGER PRIMARY KEY, topic TEXT, payload BLOB, reason TEXT,"
    "  ts_ms INTEGER);"
    "CREATE TABLE stock(sku TEXT PRIMARY KEY, on_hand INTEGER NOT NULL);"
    "CREATE TABLE prices(sku TEXT PRIMARY KEY, price INTEGER NOT NULL, ver INTEGER NOT NULL);"
    "CREATE TABLE entities(entity TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY(entity, key));"
    "INSERT INTO meta(k, v) VALUES('next_seq', 1), ('seq_known', 0), ('cursor', 0);",
    /* 2: contract 1.1 cache. A sku's price is its whole price state (base and time windows),
     * resolved at lookup time, so a scheduled price switches on with no network. Promos,
     * customers and loyalty balances get typed rows. What a 1.0 cache kept of those entities
     * as opaque JSON is not converted: the cursor goes back to 0 so that the next sync brings
     * them again (a log slice from the start or a snapshot, both idempotent). */
    "CREATE TABLE price_states(sku TEXT PRIMARY KEY, state TEXT NOT NULL);"
    "INSERT INTO price_states(sku, state)"
    "  SELECT sku, printf('{\"price\":%d,\"ver\":%d}', price, ver) FROM prices;"
    "DROP TABLE prices;"
    "CREATE TABLE promos(id TEXT PRIMARY KEY, ver INTEGER NOT NULL, active INTEGER NOT NULL,"
    "  type INTEGER NOT NULL, sku TEXT NOT NULL, percent INTEGER NOT NULL,"
    "  price INTEGER NOT NULL, n INTEGER NOT NULL, m INTEGER NOT NULL, from_ms INTEGER,"
    "  until_ms INTEGER);"
    "CREATE INDEX promos_sku ON promos(sku, active);"
    "CREATE TABLE customers(id TEXT PRIMARY KEY, ver INTEGER NOT NULL, name TEXT NOT NULL,"
    "  tier TEXT NOT NULL);"
    "CREATE TABLE loyalty(customer TEXT PRIMARY KEY, balance INTEGER NOT NULL);"
    "UPDATE meta SET v = 0 WHERE k = 'cursor' AND EXISTS(SELECT 1 FROM entities"
    "  WHERE entity IN ('promo', 'customer', 'loyalty'));"
    "DELETE FROM entities WHERE entity IN ('promo', 'customer', 'loyalty');"
    "INSERT INTO meta(k, v) VALUES('gw_holds', 0);"
    /* The points a pending sale redeems are not in the gateway's balance yet. */
    "ALTER TABLE sales ADD COLUMN customer TEXT;"
    "ALTER TABLE sales ADD COLUMN redeem INTEGER NOT NULL DEFAULT 0;",
    /* 3: contract 1.2. Customers signed up at this register: the down/customer message sent
     * to the gateway (item ver = created_ms, the register's own), resent until its ack. */
    "CREATE TABLE signups(lid INTEGER PRIMARY KEY, id TEXT NOT NULL, ver INTEGER NOT NULL,"
    "  payload TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
    "  done_ms INTEGER);"
    "CREATE INDEX signups_pending ON signups(state, lid);",
};

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_META_GET,
    ST_META_SET,
    ST_APPEND,
    ST_PENDING_AFTER,
    ST_PENDING_AFTER_NUM,
    ST_UNNUMBERED,
    ST_NUMBER,
    ST_MARK,
    ST_INFO,
    ST_COUNT_PENDING,
    ST_LIST_PENDING,
    ST_REJECT,
    ST_PRUNE,
    ST_PENDING_REDEEM,
    ST_SYNC_GET,
    ST_SYNC_FULL,
    ST_SIGNUP_ADD,
    ST_SIGNUP_PENDING,
    ST_SIGNUP_ACK,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [ST_META_SET] = "INSERT INTO meta(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = ?2",
    [ST_APPEND] = "INSERT INTO sales(id, seq, payload, total, created_ms, customer, redeem) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_PENDING_AFTER] = "SELECT lid, id, seq, payload FROM sales WHERE state = 0 AND lid > ?1 "
                         "ORDER BY lid LIMIT ?2",
    [ST_PENDING_AFTER_NUM] = "SELECT lid, id, seq, payload FROM sales WHERE state = 0 AND "
                             "lid > ?1 AND seq IS NOT NULL ORDER BY lid LIMIT ?2",
    [ST_UNNUMBERED] = "SELECT lid, id, seq, payload FROM sales WHERE seq IS NULL "
                      "ORDER BY lid LIMIT ?1",
    [ST_NUMBER] = "UPDATE sales SET seq = ?2, payload = ?3 WHERE lid = ?1 AND seq IS NULL",
    [ST_MARK] = "UPDATE sales SET state = ?2, gw_seq = ?3, duplicate = ?4, reason = ?5, "
                "done_ms = ?6 WHERE id = ?1 AND state = 0",
    [ST_INFO] = "SELECT id, seq, state, gw_seq, duplicate, created_ms, total, reason "
                "FROM sales WHERE id = ?1",
    [ST_COUNT_PENDING] = "SELECT count(*) FROM sales WHERE state = 0",
    [ST_LIST_PENDING] = "SELECT id, seq, state, gw_seq, duplicate, created_ms, total, reason "
                        "FROM sales WHERE state = 0 ORDER BY lid LIMIT ?1",
    [ST_REJECT] = "INSERT INTO rejects(topic, payload, reason, ts_ms) VALUES(?1, ?2, ?3, ?4)",
    [ST_PRUNE] = "DELETE FROM sales WHERE state = 1 AND done_ms < ?1",
    [ST_PENDING_REDEEM] = "SELECT coalesce(sum(redeem), 0) FROM sales WHERE state = 0 AND "
                          "customer = ?1",
    [ST_SYNC_GET] = "PRAGMA synchronous",
    [ST_SYNC_FULL] = "PRAGMA synchronous=FULL",
    [ST_SIGNUP_ADD] = "INSERT INTO signups(id, ver, payload, created_ms) VALUES(?1, ?2, ?3, ?4)",
    /* read_rows' columns: lid, id (unused: a card number is longer than a sale id), ver. */
    [ST_SIGNUP_PENDING] = "SELECT lid, '', ver, payload FROM signups WHERE state = 0 "
                          "ORDER BY lid LIMIT ?1",
    [ST_SIGNUP_ACK] = "UPDATE signups SET state = 1, done_ms = ?3 WHERE id = ?1 AND ver = ?2 "
                      "AND state = 0",
};

struct journal {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[ST_COUNT];
};

static int db_fail(struct journal *j, const char *what)
{
    p4_error("journal %s failed path=%s err=\"%s\"", what, j->path, sqlite3_errmsg(j->db));
    return P4TERM_EIO;
}

/* Runs a statement that returns no rows; resets it whatever happens. */
static int step_done(struct journal *j, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return db_fail(j, what);
    return 0;
}

/* SQLite's values of PRAGMA synchronous. */
#define SYNC_FULL 2

/* Makes sure the connection is at synchronous=FULL (or stricter) before a transaction: the
 * cache relaxes the shared connection for the chunks of a snapshot, and if setting it back
 * failed, a commit now would not be fsync'd. Sets FULL again when it is not; when that fails
 * too, returns P4TERM_EIO (logged) so that nothing is committed without the fsync. */
static int sync_full_ensure(struct journal *j)
{
    sqlite3_stmt *st = j->st[ST_SYNC_GET];
    int64_t level = -1;
    int rc;

    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        level = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_fail(j, "synchronous read");
    if (level >= SYNC_FULL)
        return 0;
    if (sqlite3_step(j->st[ST_SYNC_FULL]) != SQLITE_DONE) {
        p4_error("journal refuses to commit without fsync: synchronous=%lld could not be set "
                 "back to FULL path=%s err=\"%s\"", (long long)level, j->path,
                 sqlite3_errmsg(j->db));
        sqlite3_reset(j->st[ST_SYNC_FULL]);
        return P4TERM_EIO;
    }
    sqlite3_reset(j->st[ST_SYNC_FULL]);
    p4_warn("journal synchronous set back to FULL path=%s was=%lld", j->path, (long long)level);
    return 0;
}

static int migrate(struct journal *j, bool *fresh)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    int rc;
    char *err = NULL;

    rc = sqlite3_exec(j->db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER)", NULL,
                      NULL, NULL);
    if (rc != SQLITE_OK)
        return db_fail(j, "schema_version");
    rc = sqlite3_prepare_v2(j->db, "SELECT max(version) FROM schema_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_fail(j, "schema_version");
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (fresh)
        *fresh = version == 0;
    for (size_t i = (size_t)version; i < sizeof(migrations) / sizeof(migrations[0]); i++) {
        char bump[96];

        snprintf(bump, sizeof(bump), "INSERT INTO schema_version(version) VALUES(%zu);", i + 1);
        rc = sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(j->db, migrations[i], NULL, NULL, &err);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(j->db, bump, NULL, NULL, &err);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(j->db, "COMMIT", NULL, NULL, &err);
        if (rc != SQLITE_OK) {
            p4_error("journal migration failed path=%s version=%zu err=\"%s\"", j->path, i + 1,
                     err ? err : sqlite3_errmsg(j->db));
            sqlite3_free(err);
            sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
            return P4TERM_EIO;
        }
    }
    return 0;
}

int journal_open(const char *path, struct journal **out, bool *fresh)
{
    struct journal *j;
    int rc, fd;

    j = calloc(1, sizeof(*j));
    if (!j)
        return P4TERM_ENOMEM;
    j->path = strdup(path);
    if (!j->path) {
        free(j);
        return P4TERM_ENOMEM;
    }
    /* The journal holds sales and customer ids: create it 0600 whatever the host program's
     * umask (SQLite gives its -wal and -shm files the database file's mode). */
    fd = -1;
    if (strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    rc = sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        rc = db_fail(j, "open");
        goto out;
    }
    sqlite3_busy_timeout(j->db, 5000);
    /* WAL + FULL: a commit is on disk (the WAL fsync'd) before p4term_sale() returns. */
    rc = sqlite3_exec(j->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                      NULL);
    if (rc != SQLITE_OK) {
        rc = db_fail(j, "pragmas");
        goto out;
    }
    rc = migrate(j, fresh);
    if (rc)
        goto out;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(j->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->st[i], NULL) !=
            SQLITE_OK) {
            rc = db_fail(j, "prepare");
            goto out;
        }
    }
    /* The pragma above may leave the level unchanged without an error: check it took. */
    rc = sync_full_ensure(j);
    if (rc)
        goto out;
    *out = j;
    j = NULL;
    rc = 0;
out:
    journal_close(j);
    return rc;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(j->st[i]);
    if (j->db)
        sqlite3_close(j->db);
    free(j->path);
    free(j);
}

sqlite3 *journal_db(struct journal *j)
{
    return j->db;
}

int journal_begin(struct journal *j)
{
    int rc = sync_full_ensure(j);

    if (rc)
        return rc;
    return step_done(j, j->st[ST_BEGIN], "begin");
}

int journal_commit(struct journal *j)
{
    return step_done(j, j->st[ST_COMMIT], "commit");
}

void journal_rollback(struct journal *j)
{
    if (!sqlite3_get_autocommit(j->db))
        step_done(j, j->st[ST_ROLLBACK], "rollback");
}

int journal_meta_get(struct journal *j, const char *k, int64_t *v)
{
    sqlite3_stmt *st = j->st[ST_META_GET];
    int rc;

    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    else
        *v = 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(j, "meta read");
    return 0;
}

int journal_meta_set(struct journal *j, const char *k, int64_t v)
{
    sqlite3_stmt *st = j->st[ST_META_SET];

    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    return step_done(j, st, "meta write");
}

int journal_seq_state(struct journal *j, int64_t *next_seq, bool *known)
{
    int64_t k = 0;
    int rc;

    rc = journal_meta_get(j, "next_seq", next_seq);
    if (rc)
        return rc;
    rc = journal_meta_get(j, "seq_known", &k);
    *known = k != 0;
    return rc;
}

int journal_set_next_seq(struct journal *j, int64_t next_seq)
{
    int rc = journal_meta_set(j, "next_seq", next_seq);

    if (rc)
        return rc;
    return journal_meta_set(j, "seq_known", 1);
}

int journal_append(struct journal *j, const char *id, int64_t seq, const char *payload,
                   int64_t total_minor, int64_t created_ms)
{
    return journal_append_sale(j, id, seq, payload, total_minor, created_ms, NULL, 0);
}

int journal_append_sale(struct journal *j, const char *id, int64_t seq, const char *payload,
                        int64_t total_minor, int64_t created_ms, const char *customer,
                        int64_t redeem)
{
    sqlite3_stmt *st = j->st[ST_APPEND];
    int rc;

    rc = journal_begin(j);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (seq > 0)
        sqlite3_bind_int64(st, 2, seq);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, total_minor);
    sqlite3_bind_int64(st, 5, created_ms);
    if (customer && customer[0])
        sqlite3_bind_text(st, 6, customer, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, redeem);
    rc = step_done(j, st, "append");
    if (rc == 0 && seq > 0)
        rc = journal_meta_set(j, "next_seq", seq + 1);
    if (rc == 0)
        rc = journal_commit(j);
    if (rc)
        journal_rollback(j);
    return rc;
}

void journal_row_cleanup(struct journal_row *r)
{
    free(r->payload);
    r->payload = NULL;
}

static int read_rows(struct journal *j, sqlite3_stmt *st, struct journal_row *rows, size_t max,
                     size_t *n_out)
{
    size_t n = 0;
    int rc;

    for (;;) {
        struct journal_row *r;
        const char *id, *payload;

        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW || n == max)
            break;
        r = &rows[n];
        memset(r, 0, sizeof(*r));
        r->lid = sqlite3_column_int64(st, 0);
        id = (const char *)sqlite3_column_text(st, 1);
        snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
        r->seq = sqlite3_column_int64(st, 2);
        payload = (const char *)sqlite3_column_text(st, 3);
        r->payload_len = (size_t)sqlite3_column_bytes(st, 3);
        r->payload = malloc(r->payload_len + 1);
        if (!r->payload) {
            rc = SQLITE_NOMEM;
            break;
        }
        memcpy(r->payload, payload ? payload : "", r->payload_len);
        r->payload[r->payload_len] = '\0';
        n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            journal_row_cleanup(&rows[i]);
        return rc == SQLITE_NOMEM ? P4TERM_ENOMEM : db_fail(j, "read pending");
    }
    *n_out = n;
    return 0;
}

int journal_pending_after(struct journal *j, int64_t after_lid, bool numbered_only,
                          struct journal_row *rows, size_t max, size_t *n_out)
{
    sqlite3_stmt *st = j->st[numbered_only ? ST_PENDING_AFTER_NUM : ST_PENDING_AFTER];

    sqlite3_bind_int64(st, 1, after_lid);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    return read_rows(j, st, rows, max, n_out);
}

int journal_unnumbered(struct journal *j, struct journal_row *rows, size_t max, size_t *n_out)
{
    sqlite3_stmt *st = j->st[ST_UNNUMBERED];

    sqlite3_bind_int64(st, 1, (int64_t)max);
    return read_rows(j, st, rows, max, n_out);
}

int journal_number(struct journal *j, int64_t lid, int64_t seq, const char *payload)
{
    sqlite3_stmt *st = j->st[ST_NUMBER];

    sqlite3_bind_int64(st, 1, lid);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
    return step_done(j, st, "number");
}

static void info_from_row(sqlite3_stmt *st, struct p4term_sale_info *out)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *reason = (const char *)sqlite3_column_text(st, 7);

    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", id ? id : "");
    out->seq = sqlite3_column_int64(st, 1);
    out->state = (enum p4term_sale_state)sqlite3_column_int(st, 2);
    out->gw_seq = sqlite3_column_int64(st, 3);
    out->duplicate = sqlite3_column_int(st, 4) != 0;
    out->created_ms = sqlite3_column_int64(st, 5);
    out->total_minor = sqlite3_column_int64(st, 6);
    snprintf(out->reason, sizeof(out->reason), "%s", reason ? reason : "");
}

int journal_info(struct journal *j, const char *id, struct p4term_sale_info *out)
{
    sqlite3_stmt *st = j->st[ST_INFO];
    int rc;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        info_from_row(st, out);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return P4TERM_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return db_fail(j, "info");
    return 0;
}

int journal_mark(struct journal *j, const char *id, enum p4term_sale_state state,
                 int64_t gw_seq, bool duplicate, const char *reason, int64_t now_ms,
                 bool *changed, struct p4term_sale_info *info)
{
    sqlite3_stmt *st = j->st[ST_MARK];
    int rc;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)state);
    sqlite3_bind_int64(st, 3, gw_seq);
    sqlite3_bind_int(st, 4, duplicate ? 1 : 0);
    if (reason && reason[0])
        sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_int64(st, 6, now_ms);
    rc = step_done(j, st, "mark");
    if (rc)
        return rc;
    *changed = sqlite3_changes(j->db) > 0;
    if (*changed && info)
        return journal_info(j, id, info);
    return 0;
}

int journal_count_pending(struct journal *j, int64_t *n)
{
    sqlite3_stmt *st = j->st[ST_COUNT_PENDING];
    int rc = sqlite3_step(st);

    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_fail(j, "count pending");
    return 0;
}

int journal_list_pending(struct journal *j, struct p4term_sale_info *items, size_t max,
                         size_t *n_out)
{
    sqlite3_stmt *st = j->st[ST_LIST_PENDING];
    size_t n = 0;
    int rc;

    sqlite3_bind_int64(st, 1, (int64_t)max);
    for (;;) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW || n == max)
            break;
        info_from_row(st, &items[n++]);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(j, "list pending");
    *n_out = n;
    return 0;
}

int journal_keep_reject(struct journal *j, const char *topic, const char *payload, size_t len,
                        const char *reason, int64_t now_ms)
{
    sqlite3_stmt *st = j->st[ST_REJECT];

    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, payload, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    return step_done(j, st, "keep reject");
}

int journal_prune(struct journal *j, int64_t before_ms, int64_t *n_out)
{
    sqlite3_stmt *st = j->st[ST_PRUNE];
    int rc;

    sqlite3_bind_int64(st, 1, before_ms);
    rc = step_done(j, st, "prune");
    if (rc == 0 && n_out)
        *n_out = sqlite3_changes(j->db);
    return rc;
}

int journal_pending_redeem(struct journal *j, const char *customer, int64_t *points)
{
    sqlite3_stmt *st = j->st[ST_PENDING_REDEEM];
    int rc;

    sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *points = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW)
        return db_fail(j, "pending redeem");
    return 0;
}

int journal_signup_add(struct journal *j, const char *id, int64_t ver, const char *payload,
                       int64_t created_ms)
{
    sqlite3_stmt *st = j->st[ST_SIGNUP_ADD];

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ver);
    sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, created_ms);
    return step_done(j, st, "sign-up append");
}

int journal_signup_pending(struct journal *j, struct journal_row *rows, size_t max,
                           size_t *n_out)
{
    sqlite3_stmt *st = j->st[ST_SIGNUP_PENDING];

    sqlite3_bind_int64(st, 1, (int64_t)max);
    return read_rows(j, st, rows, max, n_out);
}

int journal_signup_ack(struct journal *j, const char *id, int64_t ver, int64_t now_ms,
                       bool *changed)
{
    sqlite3_stmt *st = j->st[ST_SIGNUP_ACK];
    int rc;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ver);
    sqlite3_bind_int64(st, 3, now_ms);
    rc = step_done(j, st, "sign-up ack");
    *changed = rc == 0 && sqlite3_changes(j->db) > 0;
    return rc;
}
