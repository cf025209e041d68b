/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite replica: open once, WAL, numbered migrations, every statement prepared at open. */
#include "p4gw.h"

#include <stdio.h>
#include <string.h>

#include "p4common.h"

#define BUSY_TIMEOUT_MS 5000

/* Migration N brings schema_version from N-1 to N. Never edit a released step: add one. */
static const char *const migrations[] = {
    /* 1: the v1 replica */
    "CREATE TABLE sales(gw_seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, reg TEXT,"
    "  seq INTEGER, kind TEXT, ts TEXT, total INTEGER, flags TEXT, payload TEXT);"
    "CREATE TABLE sale_lines(gw_seq INTEGER NOT NULL, line_no INTEGER NOT NULL, sku TEXT,"
    "  qty INTEGER, price INTEGER, ver INTEGER, PRIMARY KEY(gw_seq, line_no));"
    "CREATE TABLE stock(sku TEXT PRIMARY KEY, on_hand INTEGER NOT NULL,"
    "  chg_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE stock_moves(id INTEGER PRIMARY KEY, sku TEXT, delta INTEGER, reason TEXT,"
    "  ref TEXT);"
    "CREATE TABLE prices(sku TEXT PRIMARY KEY, price INTEGER, ver INTEGER,"
    "  chg_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE changes(seq INTEGER PRIMARY KEY, entity TEXT, key TEXT, value TEXT);"
    "CREATE TABLE outbox(oid INTEGER PRIMARY KEY, kind TEXT, gw_seq INTEGER, payload TEXT,"
    "  delivered INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX outbox_pending ON outbox(oid) WHERE delivered = 0;"
    "CREATE TABLE rejects(id INTEGER PRIMARY KEY, topic TEXT, payload BLOB, reason TEXT,"
    "  ts_ms INTEGER);"
    "CREATE TABLE registers(reg TEXT PRIMARY KEY, last_seq INTEGER, last_seen_ms INTEGER);",
    /* 2: contract 1.1. The outbox also carries alerts, so oid is its own never-reused sequence
     * (AUTOINCREMENT): an orphaned batch's PUBACK can then never mark a newer row. Stock keeps
     * the time of its latest count (on_hand = count + movements after it); movements keep what
     * was sent (amount), when it happened and HQ's id; delta stays the effect on on_hand, so
     * the ledger still sums to on_hand. */
    "CREATE TABLE outbox2(oid INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, gw_seq INTEGER,"
    "  payload TEXT, delivered INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO outbox2(oid, kind, gw_seq, payload, delivered)"
    "  SELECT oid, kind, gw_seq, payload, delivered FROM outbox;"
    "DROP TABLE outbox;"
    "ALTER TABLE outbox2 RENAME TO outbox;"
    "CREATE INDEX outbox_pending ON outbox(oid) WHERE delivered = 0;"
    "ALTER TABLE stock ADD COLUMN count_at_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE stock_moves ADD COLUMN move_id TEXT;"
    "ALTER TABLE stock_moves ADD COLUMN amount INTEGER;"
    "ALTER TABLE stock_moves ADD COLUMN occurred_ms INTEGER NOT NULL DEFAULT 0;"
    "CREATE UNIQUE INDEX stock_moves_id ON stock_moves(move_id) WHERE move_id IS NOT NULL;"
    "CREATE INDEX stock_moves_sku ON stock_moves(sku, occurred_ms);"
    "ALTER TABLE prices ADD COLUMN state TEXT;"
    "ALTER TABLE prices ADD COLUMN value TEXT;"
    "ALTER TABLE prices ADD COLUMN next_edge_ms INTEGER;"
    "CREATE TABLE promos(id TEXT PRIMARY KEY, ver INTEGER NOT NULL, value TEXT NOT NULL,"
    "  chg_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE customers(id TEXT PRIMARY KEY, ver INTEGER NOT NULL, value TEXT NOT NULL,"
    "  chg_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE loyalty(customer TEXT PRIMARY KEY, base_balance INTEGER NOT NULL DEFAULT 0,"
    "  base_ver INTEGER NOT NULL DEFAULT 0, as_of_ms INTEGER NOT NULL DEFAULT 0,"
    "  balance INTEGER NOT NULL DEFAULT 0, chg_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE loyalty_ledger(id INTEGER PRIMARY KEY, customer TEXT NOT NULL, entry TEXT"
    "  UNIQUE, points INTEGER NOT NULL, at_ms INTEGER NOT NULL, source TEXT NOT NULL,"
    "  ref TEXT, reason TEXT);"
    "CREATE INDEX loyalty_ledger_customer ON loyalty_ledger(customer, at_ms);"
    "CREATE TABLE conflicts(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, sku TEXT, sale_id TEXT,"
    "  sales TEXT, on_hand INTEGER, alert_id TEXT, ts_ms INTEGER);"
    "CREATE TABLE holds(reg TEXT NOT NULL, hold TEXT NOT NULL, req_id TEXT,"
    "  expires_ms INTEGER NOT NULL, reply TEXT, PRIMARY KEY(reg, hold));"
    "CREATE TABLE hold_lines(reg TEXT NOT NULL, hold TEXT NOT NULL, sku TEXT NOT NULL,"
    "  qty INTEGER NOT NULL, PRIMARY KEY(reg, hold, sku));"
    "CREATE INDEX hold_lines_sku ON hold_lines(sku);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    /* 3: the once-a-second price window check reads an index instead of every price row, and
     * a price's window count is kept beside its state, so a sale's price check decodes the
     * state only when windows exist (NULL: not known yet, decode). */
    "CREATE INDEX prices_next_edge ON prices(next_edge_ms) WHERE next_edge_ms IS NOT NULL;"
    "ALTER TABLE prices ADD COLUMN n_windows INTEGER;",
    /* 4: contract 1.2. Sale records are delivered when HQ's watermark covers their gw_seq:
     * each down/ack marks the undelivered sale records up to it through this index. */
    "CREATE INDEX outbox_pending_sale ON outbox(gw_seq) WHERE delivered = 0 AND kind = 'sale';",
    /* 5: delivered rows are kept [cloud] keep_delivered_h hours (a restored HQ gets them
     * again), so each records when it was delivered (Unix ms). Rows delivered before this
     * step count as delivered now: they are kept the full time too. */
    "ALTER TABLE outbox ADD COLUMN delivered_ms INTEGER;"
    "UPDATE outbox SET delivered_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000"
    "  WHERE delivered = 1;",
};
#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const char *const sql[RS_COUNT] = {
    [RS_BEGIN] = "BEGIN IMMEDIATE",
    [RS_COMMIT] = "COMMIT",
    [RS_ROLLBACK] = "ROLLBACK",
    [RS_SALES_HEAD] = "SELECT max(gw_seq) FROM sales",
    [RS_SALE_BY_ID] = "SELECT gw_seq FROM sales WHERE id = ?1",
    [RS_SALE_INS] = "INSERT INTO sales(gw_seq, id, reg, seq, kind, ts, total, flags, payload)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [RS_LINE_INS] = "INSERT INTO sale_lines(gw_seq, line_no, sku, qty, price, ver)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [RS_STOCK_ADD] = "INSERT INTO stock(sku, on_hand) VALUES(?1, ?2) ON CONFLICT(sku)"
                     " DO UPDATE SET on_hand = on_hand + excluded.on_hand RETURNING on_hand",
    [RS_STOCK_GET] = "SELECT on_hand, count_at_ms, rowid FROM stock WHERE sku = ?1",
    [RS_STOCK_PUT] = "UPDATE stock SET on_hand = ?2, chg_seq = ?3 WHERE rowid = ?1",
    [RS_STOCK_COUNT_AT] = "UPDATE stock SET count_at_ms = ?2 WHERE sku = ?1",
    [RS_MOVE_BY_ID] = "SELECT 1 FROM stock_moves WHERE move_id = ?1",
    [RS_MOVES_AFTER] = "SELECT coalesce(sum(coalesce(amount, delta)), 0) FROM stock_moves"
                       " WHERE sku = ?1 AND occurred_ms > ?2 AND reason <> 'count'",
    [RS_LAST_SALES] = "SELECT ref, -delta FROM stock_moves WHERE sku = ?1 AND reason = 'sale'"
                      " AND delta < 0 AND ref <> ?2 ORDER BY id DESC LIMIT ?3",
    [RS_CONFLICT_INS] = "INSERT INTO conflicts(kind, sku, sale_id, sales, on_hand, alert_id,"
                        " ts_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [RS_PROMO_VER] = "SELECT ver FROM promos WHERE id = ?1",
    [RS_PROMO_SET] = "INSERT INTO promos(id, ver, value, chg_seq) VALUES(?1, ?2, ?3, ?4)"
                     " ON CONFLICT(id) DO UPDATE SET ver = excluded.ver,"
                     " value = excluded.value, chg_seq = excluded.chg_seq",
    [RS_CUST_VER] = "SELECT ver FROM customers WHERE id = ?1",
    [RS_CUST_SET] = "INSERT INTO customers(id, ver, value, chg_seq) VALUES(?1, ?2, ?3, ?4)"
                    " ON CONFLICT(id) DO UPDATE SET ver = excluded.ver,"
                    " value = excluded.value, chg_seq = excluded.chg_seq",
    [RS_LOY_GET] = "SELECT base_balance, base_ver, as_of_ms, balance, chg_seq FROM loyalty"
                   " WHERE customer = ?1",
    [RS_LOY_BASE] = "INSERT INTO loyalty(customer, base_balance, base_ver, as_of_ms)"
                    " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(customer) DO UPDATE SET"
                    " base_balance = excluded.base_balance, base_ver = excluded.base_ver,"
                    " as_of_ms = excluded.as_of_ms",
    [RS_LOY_SET] = "INSERT INTO loyalty(customer, balance, chg_seq) VALUES(?1, ?2, ?3)"
                   " ON CONFLICT(customer) DO UPDATE SET balance = excluded.balance,"
                   " chg_seq = excluded.chg_seq",
    [RS_LOY_SUM] = "SELECT coalesce(sum(points), 0) FROM loyalty_ledger WHERE customer = ?1"
                   " AND at_ms > ?2",
    [RS_LEDGER_HAS] = "SELECT 1 FROM loyalty_ledger WHERE entry = ?1",
    [RS_LEDGER_INS] = "INSERT INTO loyalty_ledger(customer, entry, points, at_ms, source, ref,"
                      " reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [RS_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [RS_META_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key)"
                    " DO UPDATE SET value = excluded.value",
    [RS_META_MAX] = "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key)"
                    " DO UPDATE SET value = max(value, excluded.value)",
    [RS_HOLD_GET] = "SELECT req_id, expires_ms, reply FROM holds WHERE reg = ?1 AND hold = ?2",
    [RS_HOLD_HELD] = "SELECT coalesce(sum(l.qty), 0) FROM hold_lines l JOIN holds h"
                     " ON h.reg = l.reg AND h.hold = l.hold WHERE l.sku = ?1"
                     " AND h.expires_ms > ?2 AND NOT (h.reg = ?3 AND h.hold = ?4)",
    [RS_HOLD_SET] = "INSERT INTO holds(reg, hold, req_id, expires_ms, reply)"
                    " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(reg, hold) DO UPDATE SET"
                    " req_id = excluded.req_id, expires_ms = excluded.expires_ms,"
                    " reply = excluded.reply",
    [RS_HOLD_LINE_INS] = "INSERT INTO hold_lines(reg, hold, sku, qty) VALUES(?1, ?2, ?3, ?4)",
    [RS_HOLD_DEL] = "DELETE FROM holds WHERE reg = ?1 AND hold = ?2",
    [RS_HOLD_LINES_DEL] = "DELETE FROM hold_lines WHERE reg = ?1 AND hold = ?2",
    [RS_HOLD_EXPIRED] = "SELECT reg, hold FROM holds WHERE expires_ms <= ?1 LIMIT ?2",
    [RS_PRICE_EDGES] = "SELECT sku FROM prices WHERE next_edge_ms IS NOT NULL"
                       " AND next_edge_ms <= ?1 LIMIT ?2",
    [RS_SAVEPOINT] = "SAVEPOINT item",
    [RS_RELEASE] = "RELEASE item",
    [RS_ROLLBACK_TO] = "ROLLBACK TO item",
    [RS_COUNT_CHANGES] = "SELECT count(*) FROM changes",
    [RS_STOCK_SET] = "INSERT INTO stock(sku, on_hand, chg_seq) VALUES(?1, ?2, ?3)"
                     " ON CONFLICT(sku) DO UPDATE SET on_hand = excluded.on_hand,"
                     " chg_seq = excluded.chg_seq",
    [RS_STOCK_CHG] = "UPDATE stock SET chg_seq = ?1 WHERE sku = ?2",
    [RS_MOVE_INS] = "INSERT INTO stock_moves(sku, delta, reason, ref, move_id, amount,"
                    " occurred_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [RS_PRICE_GET] = "SELECT price, ver, state, value, n_windows FROM prices WHERE sku = ?1",
    [RS_PRICE_SET] = "INSERT INTO prices(sku, price, ver, chg_seq, state, value, next_edge_ms,"
                     " n_windows) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                     " ON CONFLICT(sku) DO UPDATE SET price = excluded.price,"
                     " ver = excluded.ver, chg_seq = excluded.chg_seq,"
                     " state = excluded.state, value = excluded.value,"
                     " next_edge_ms = excluded.next_edge_ms, n_windows = excluded.n_windows",
    [RS_PRICE_STATE] = "UPDATE prices SET price = ?2, ver = ?3, state = ?4, value = ?5,"
                       " next_edge_ms = ?6, n_windows = ?7 WHERE sku = ?1",
    [RS_CHANGE_HEAD] = "SELECT max(seq) FROM changes",
    [RS_CHANGE_MIN] = "SELECT min(seq) FROM changes",
    [RS_CHANGE_INS] = "INSERT INTO changes(seq, entity, key, value) VALUES(?1, ?2, ?3, ?4)",
    [RS_CHANGES_AFTER] = "SELECT seq, entity, key, value FROM changes WHERE seq > ?1"
                         " ORDER BY seq LIMIT ?2",
    [RS_CHANGES_PRUNE] = "DELETE FROM changes WHERE seq <= ?1",
    [RS_OUTBOX_INS] = "INSERT INTO outbox(kind, gw_seq, payload, delivered)"
                      " VALUES(?1, ?2, ?3, 0)",
    [RS_OUTBOX_PENDING] = "SELECT oid, payload, kind, gw_seq FROM outbox WHERE delivered = 0"
                          " AND oid > ?1 AND oid <= ?3 ORDER BY oid LIMIT ?2",
    [RS_OUTBOX_MIN_SALE] = "SELECT min(gw_seq) FROM outbox WHERE delivered = 0"
                           " AND kind = 'sale'",
    [RS_OUTBOX_MARK] = "UPDATE outbox SET delivered = 1, delivered_ms = ?3 WHERE delivered = 0"
                       " AND oid BETWEEN ?1 AND ?2",
    [RS_OUTBOX_MARK_HQ] = "UPDATE outbox SET delivered = 1, delivered_ms = ?2 WHERE delivered = 0"
                          " AND kind = 'sale' AND gw_seq <= ?1",
    /* A full scan, for a rare event (HQ restored from a backup). */
    [RS_OUTBOX_REOPEN] = "UPDATE outbox SET delivered = 0, delivered_ms = NULL WHERE delivered = 1"
                         " AND kind = 'sale' AND gw_seq > ?1",
    [RS_OUTBOX_KEPT_MIN] = "SELECT min(gw_seq) FROM outbox WHERE kind = 'sale' AND gw_seq > ?1",
    [RS_OUTBOX_COUNT] = "SELECT count(*) FROM outbox WHERE delivered = 0",
    [RS_OUTBOX_MIN] = "SELECT min(oid) FROM outbox WHERE delivered = 0",
    [RS_OUTBOX_HEAD] = "SELECT max(oid) FROM outbox",
    /* Both through outbox_pending (undelivered rows by oid). */
    [RS_OUTBOX_COUNT_BEFORE] = "SELECT count(*) FROM outbox WHERE delivered = 0 AND oid < ?1",
    [RS_OUTBOX_OLDEST_TS] = "SELECT s.ts FROM outbox o JOIN sales s ON s.gw_seq = o.gw_seq"
                            " WHERE o.delivered = 0 AND o.oid < ?1 AND o.kind = 'sale'"
                            " ORDER BY o.oid LIMIT 1",
    /* Rows older than the oldest undelivered one (found through outbox_pending) and than the
     * oldest one delivered at or after ?2: a range at the start of the table, never a scan past
     * an outage's backlog or the retained rows in search of old ones. A row delivered late
     * (an alert marked on PUBACK before the sale before it) only waits for its neighbours. */
    [RS_OUTBOX_PRUNE] = "WITH u(oid) AS (SELECT coalesce((SELECT min(oid) FROM outbox"
                        " WHERE delivered = 0), 9223372036854775807)),"
                        " e(oid) AS (SELECT coalesce((SELECT o.oid FROM outbox o, u"
                        " WHERE o.oid < u.oid AND o.delivered_ms >= ?2 ORDER BY o.oid LIMIT 1),"
                        " (SELECT oid FROM u)))"
                        " DELETE FROM outbox WHERE oid IN (SELECT o.oid FROM outbox o, e"
                        " WHERE o.oid < e.oid ORDER BY o.oid LIMIT ?1)",
    [RS_REJECT_INS] = "INSERT INTO rejects(topic, payload, reason, ts_ms) VALUES(?1, ?2, ?3, ?4)",
    [RS_REG_UPSERT] = "INSERT INTO registers(reg, last_seq, last_seen_ms) VALUES(?1, ?2, ?3)"
                      " ON CONFLICT(reg) DO UPDATE SET"
                      " last_seq = max(last_seq, excluded.last_seq),"
                      " last_seen_ms = excluded.last_seen_ms",
    [RS_REG_LAST] = "SELECT last_seq FROM registers WHERE reg = ?1",
};

static int exec_sql(struct replica *r, const char *text)
{
    char *msg = NULL;

    if (sqlite3_exec(r->db, text, NULL, NULL, &msg) != SQLITE_OK) {
        p4_error("replica sql failed error=\"%s\"", msg ? msg : "?");
        sqlite3_free(msg);
        return P4GW_EIO;
    }
    return P4GW_OK;
}

/* Brings the schema to the newest version, each step in its own transaction. */
static int migrate(struct replica *r)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    int rc;

    rc = exec_sql(r, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);");
    if (rc)
        goto out;
    if (sqlite3_prepare_v2(r->db, "SELECT max(version) FROM schema_version", -1, &st, NULL) !=
        SQLITE_OK) {
        p4_error("replica prepare failed error=\"%s\"", sqlite3_errmsg(r->db));
        rc = P4GW_EIO;
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    /* A statement left active would lock the tables a migration drops. */
    sqlite3_finalize(st);
    st = NULL;
    if (version > N_MIGRATIONS) {
        p4_error("replica schema is newer than this gateway version=%d known=%d", version,
                 N_MIGRATIONS);
        rc = P4GW_EIO;
        goto out;
    }
    for (int v = version; v < N_MIGRATIONS; v++) {
        char stamp[96];

        rc = exec_sql(r, "BEGIN IMMEDIATE");
        if (rc)
            goto out;
        snprintf(stamp, sizeof(stamp), "INSERT INTO schema_version(version) VALUES(%d);", v + 1);
        rc = exec_sql(r, migrations[v]);
        if (rc == 0)
            rc = exec_sql(r, stamp);
        if (rc == 0)
            rc = exec_sql(r, "COMMIT");
        if (rc) {
            exec_sql(r, "ROLLBACK");
            goto out;
        }
        p4_info("replica migrated version=%d", v + 1);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

int replica_open(struct replica *r, const char *path, bool full_sync)
{
    int rc;

    memset(r, 0, sizeof(*r));
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        p4_error("replica open failed path=%s error=\"%s\"", path,
                 r->db ? sqlite3_errmsg(r->db) : "out of memory");
        rc = P4GW_EIO;
        goto out;
    }
    sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);
    rc = exec_sql(r, "PRAGMA journal_mode=WAL;");
    if (rc)
        goto out;
    /* FULL fsyncs the WAL at every commit: an ack never leaves before its sale is on disk.
     * NORMAL may lose the last commits on power loss (not on a process crash). */
    rc = exec_sql(r, full_sync ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
    if (rc)
        goto out;
    rc = exec_sql(r, "PRAGMA foreign_keys=ON;");
    if (rc)
        goto out;
    rc = migrate(r);
    if (rc)
        goto out;
    for (int i = 0; i < RS_COUNT; i++) {
        if (sqlite3_prepare_v3(r->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &r->st[i], NULL) !=
            SQLITE_OK) {
            p4_error("replica prepare failed stmt=%d error=\"%s\"", i, sqlite3_errmsg(r->db));
            rc = P4GW_EIO;
            goto out;
        }
    }
    r->full_sync = full_sync;
    r->sync_now_full = full_sync;
    p4_info("replica open path=%s synchronous=%s", path, full_sync ? "full" : "normal");
out:
    if (rc)
        replica_close(r);
    return rc;
}

void replica_close(struct replica *r)
{
    for (int i = 0; i < RS_COUNT; i++) {
        sqlite3_finalize(r->st[i]);
        r->st[i] = NULL;
    }
    if (r->db) {
        if (sqlite3_close(r->db) != SQLITE_OK)
            p4_warn("replica close failed error=\"%s\"", sqlite3_errmsg(r->db));
    }
    r->db = NULL;
}

int replica_exec(struct replica *r, enum replica_stmt id)
{
    int rc = sqlite3_step(r->st[id]);

    sqlite3_reset(r->st[id]);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        p4_error("replica step failed stmt=%d error=\"%s\"", (int)id, sqlite3_errmsg(r->db));
        return P4GW_EIO;
    }
    return P4GW_OK;
}

int replica_row(struct replica *r, enum replica_stmt id)
{
    int rc = sqlite3_step(r->st[id]);

    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(r->st[id]);
    if (rc == SQLITE_DONE)
        return 0;
    p4_error("replica step failed stmt=%d error=\"%s\"", (int)id, sqlite3_errmsg(r->db));
    return P4GW_EIO;
}

void replica_reset(struct replica *r, enum replica_stmt id)
{
    sqlite3_reset(r->st[id]);
}

int replica_int(struct replica *r, enum replica_stmt id, int64_t dflt, int64_t *out)
{
    int rc = replica_row(r, id);

    if (rc < 0)
        return rc;
    *out = dflt;
    if (rc == 1) {
        if (sqlite3_column_type(r->st[id], 0) != SQLITE_NULL)
            *out = sqlite3_column_int64(r->st[id], 0);
        replica_reset(r, id);
    }
    return P4GW_OK;
}

int replica_gap(struct replica *r, int64_t gw_seq, const char *id, const char *ts,
                const char *payload)
{
    replica_bind_int(r, RS_SALE_INS, 1, gw_seq);
    replica_bind_text(r, RS_SALE_INS, 2, id);
    replica_bind_text(r, RS_SALE_INS, 3, NULL);
    replica_bind_text(r, RS_SALE_INS, 4, NULL);
    replica_bind_text(r, RS_SALE_INS, 5, "gap");
    replica_bind_text(r, RS_SALE_INS, 6, ts);
    replica_bind_int(r, RS_SALE_INS, 7, 0);
    replica_bind_text(r, RS_SALE_INS, 8, NULL);
    replica_bind_text(r, RS_SALE_INS, 9, payload);
    return replica_exec(r, RS_SALE_INS);
}

int replica_durable(struct replica *r, bool durable)
{
    bool want = r->full_sync && durable;

    if (want == r->sync_now_full)
        return P4GW_OK;
    if (exec_sql(r, want ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;") != 0)
        return P4GW_EIO;
    r->sync_now_full = want;
    return P4GW_OK;
}

int replica_begin(struct replica *r)
{
    int rc = replica_exec(r, RS_BEGIN);

    if (rc == 0)
        r->in_txn = true;
    return rc;
}

int replica_commit(struct replica *r)
{
    int rc = replica_exec(r, RS_COMMIT);

    if (rc == 0)
        r->in_txn = false;
    return rc;
}

void replica_rollback(struct replica *r)
{
    if (sqlite3_get_autocommit(r->db) == 0)
        replica_exec(r, RS_ROLLBACK);
    r->in_txn = false;
}

void replica_bind_text(struct replica *r, enum replica_stmt id, int col, const char *s)
{
    if (s)
        sqlite3_bind_text(r->st[id], col, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(r->st[id], col);
}

void replica_bind_blob(struct replica *r, enum replica_stmt id, int col, const void *p, size_t n)
{
    sqlite3_bind_blob64(r->st[id], col, p, n, SQLITE_TRANSIENT);
}

void replica_bind_int(struct replica *r, enum replica_stmt id, int col, int64_t v)
{
    sqlite3_bind_int64(r->st[id], col, v);
}
