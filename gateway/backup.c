/* SPDX-License-Identifier: Apache-2.0 */
/* Replica backup and restore for the store technician, and the lock that tells a running
 * gateway's replica from an idle one. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "p4common.h"

#define BACKUP_STEP_PAGES 256  /* pages copied per sqlite3_backup_step: about 1 MiB */
#define BUSY_TIMEOUT_MS 5000
/* After a restore the change log jumps this far ahead: every register's cursor is then more
 * than P4GW_SYNC_LOG_MAX_BEHIND behind (or past head), so each one takes a snapshot instead
 * of trusting change numbers the lost replica may have given to other changes. */
#define CHANGE_JUMP 1000000

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

int p4gw_replica_lock(const char *replica_path, int *fd)
{
    char path[PATH_MAX + 8];
    int rc = P4GW_OK;

    *fd = -1;
    if (snprintf(path, sizeof(path), "%s.lock", replica_path) >= (int)sizeof(path))
        return P4GW_EINVAL;
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0) {
        p4_error("replica lock open failed path=\"%s\" error=\"%s\"", path, strerror(errno));
        return P4GW_EIO;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? P4GW_EBUSY : P4GW_EIO;
        if (rc == P4GW_EIO)
            p4_error("replica lock failed path=\"%s\" error=\"%s\"", path, strerror(errno));
        close(*fd);
        *fd = -1;
    }
    return rc;
}

void p4gw_replica_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the last descriptor releases the flock */
}

/* fsyncs PATH (a file or a directory). */
static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    int rc = 0;

    if (fd < 0 || fsync(fd) != 0)
        rc = -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

static int fsync_parent(const char *path)
{
    char copy[PATH_MAX];

    snprintf(copy, sizeof(copy), "%s", path);
    return fsync_path(dirname(copy), true);
}

/* Runs SQL returning one integer (NULL -> DFLT). */
static int query_int(sqlite3 *db, const char *sql, int64_t dflt, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = P4GW_EIO;

    *out = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            *out = sqlite3_column_int64(st, 0);
        rc = P4GW_OK;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* Runs SQL returning one text into BUF (empty when NULL or no row). */
static int query_text(sqlite3 *db, const char *sql, char *buf, size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc = P4GW_EIO;

    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? P4GW_OK : P4GW_EIO;
out:
    sqlite3_finalize(st);
    return rc;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t err_len)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, err_len, "sql failed: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return P4GW_EIO;
    }
    return P4GW_OK;
}

/* PRAGMA integrity_check must say exactly "ok". */
static int check_integrity(sqlite3 *db, const char *what, char *err, size_t err_len)
{
    char first[256];

    if (query_text(db, "PRAGMA integrity_check", first, sizeof(first)) != 0) {
        set_err(err, err_len, "%s: integrity check failed to run: %s", what,
                sqlite3_errmsg(db));
        return P4GW_EIO;
    }
    if (strcmp(first, "ok") != 0) {
        set_err(err, err_len, "%s: integrity check: %s", what, first);
        return P4GW_EINVAL;
    }
    return P4GW_OK;
}

/* Copies every page of SRC into DST from one read snapshot of SRC. The explicit read
 * transaction is what keeps the copy consistent across steps: without it a commit by the
 * running gateway between two steps restarts the copy, which on a busy store may never end.
 * In WAL mode a reader never blocks the gateway's commits; only checkpoints wait for it. */
static int copy_pages(sqlite3 *src, sqlite3 *dst, int *n_pages, char *err, size_t err_len)
{
    sqlite3_backup *b = NULL;
    int64_t ignored;
    int rc;

    rc = exec(src, "BEGIN", err, err_len);
    if (rc)
        return rc;
    /* BEGIN is deferred: the first read takes the snapshot. */
    if (query_int(src, "SELECT count(*) FROM sqlite_master", 0, &ignored) != 0) {
        set_err(err, err_len, "cannot read: %s", sqlite3_errmsg(src));
        rc = P4GW_EIO;
        goto out;
    }
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        set_err(err, err_len, "backup init: %s", sqlite3_errmsg(dst));
        rc = P4GW_EIO;
        goto out;
    }
    for (;;) {
        int step = sqlite3_backup_step(b, BACKUP_STEP_PAGES);

        if (step == SQLITE_DONE)
            break;
        if (step == SQLITE_BUSY || step == SQLITE_LOCKED) {
            sqlite3_sleep(5);
            continue;
        }
        if (step != SQLITE_OK) {
            set_err(err, err_len, "backup step: %s", sqlite3_errstr(step));
            rc = P4GW_EIO;
            goto out;
        }
    }
    *n_pages = sqlite3_backup_pagecount(b);
out:
    if (b && sqlite3_backup_finish(b) != SQLITE_OK && rc == 0) {
        set_err(err, err_len, "backup finish: %s", sqlite3_errmsg(dst));
        rc = P4GW_EIO;
    }
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* Creates PATH (must not exist) mode 0600 and opens it with SQLite. */
static int create_db(const char *path, sqlite3 **db, char *err, size_t err_len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    *db = NULL;
    if (fd < 0) {
        set_err(err, err_len, "cannot create %s: %s", path, strerror(errno));
        return P4GW_EIO;
    }
    close(fd);
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        set_err(err, err_len, "cannot open %s: %s", path,
                *db ? sqlite3_errmsg(*db) : "out of memory");
        return P4GW_EIO;
    }
    sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
    return P4GW_OK;
}

/* Leaves DB a single self-contained file (no -wal beside it) before it is fsync'd and
 * renamed: the gateway turns WAL on again when it opens the replica. */
static int make_standalone(sqlite3 *db, char *err, size_t err_len)
{
    char mode[32];

    if (query_text(db, "PRAGMA journal_mode=DELETE", mode, sizeof(mode)) != 0 ||
        strcmp(mode, "delete") != 0) {
        set_err(err, err_len, "cannot leave WAL mode: %s", sqlite3_errmsg(db));
        return P4GW_EIO;
    }
    return P4GW_OK;
}

int p4gw_backup(const struct p4gw_config *cfg, const char *out_path, FILE *out, char *err,
                size_t err_len)
{
    char tmp[PATH_MAX + 32];
    sqlite3 *src = NULL, *dst = NULL;
    int64_t t0 = p4_mono_ms(), head = 0, undelivered = 0, change_head = 0;
    int n_pages = 0;
    bool tmp_made = false;
    char *sql = NULL;
    char ts[P4_TS_LEN];
    int rc;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", out_path, (long)getpid()) >= (int)sizeof(tmp)) {
        set_err(err, err_len, "%s: path too long", out_path);
        return P4GW_EINVAL;
    }
    /* Read-only: a backup must never create or change the replica it copies. */
    if (sqlite3_open_v2(cfg->replica_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        set_err(err, err_len, "cannot open replica %s: %s", cfg->replica_path,
                src ? sqlite3_errmsg(src) : "out of memory");
        rc = P4GW_EIO;
        goto out;
    }
    sqlite3_busy_timeout(src, BUSY_TIMEOUT_MS);
    rc = create_db(tmp, &dst, err, err_len);
    if (rc)
        goto out;
    tmp_made = true;
    rc = copy_pages(src, dst, &n_pages, err, err_len);
    if (rc)
        goto out;
    rc = check_integrity(dst, "backup copy", err, err_len);
    if (rc)
        goto out;
    if (query_int(dst, "SELECT max(gw_seq) FROM sales", 0, &head) != 0 ||
        query_int(dst, "SELECT count(*) FROM outbox WHERE delivered = 0", 0, &undelivered) ||
        query_int(dst, "SELECT max(seq) FROM changes", 0, &change_head) != 0) {
        set_err(err, err_len, "%s is not a p4gw replica: %s", cfg->replica_path,
                sqlite3_errmsg(dst));
        rc = P4GW_EINVAL;
        goto out;
    }
    /* The stamp lets restore refuse another store's backup. It is a table of the copy only:
     * restore drops it again. */
    p4_format_ts(p4_now_ms(), ts);
    sql = sqlite3_mprintf("CREATE TABLE backup_info(key TEXT PRIMARY KEY, value TEXT);"
                          "INSERT INTO backup_info VALUES('tenant', %Q), ('store', %Q),"
                          " ('taken_at', %Q), ('gw_seq', '%lld'), ('source', %Q);",
                          cfg->tenant, cfg->store, ts, (long long)head, cfg->replica_path);
    if (!sql) {
        rc = P4GW_ENOMEM;
        goto out;
    }
    rc = exec(dst, sql, err, err_len);
    if (rc == 0)
        rc = make_standalone(dst, err, err_len);
    if (rc)
        goto out;
    if (sqlite3_close(dst) != SQLITE_OK) {
        set_err(err, err_len, "closing the copy: %s", sqlite3_errmsg(dst));
        rc = P4GW_EIO;
        goto out;
    }
    dst = NULL;
    if (chmod(tmp, 0600) != 0 || fsync_path(tmp, false) != 0 || rename(tmp, out_path) != 0 ||
        fsync_parent(out_path) != 0) {
        set_err(err, err_len, "cannot write %s: %s", out_path, strerror(errno));
        rc = P4GW_EIO;
        goto out;
    }
    tmp_made = false;
    p4_info("backup written path=\"%s\" replica=\"%s\" pages=%d gw_seq=%" PRId64 " undelivered=%" PRId64
            " change_head=%" PRId64 " took_ms=%" PRId64, out_path, cfg->replica_path, n_pages,
            head, undelivered, change_head, p4_mono_ms() - t0);
    fprintf(out, "backup ok path=%s gw_seq=%" PRId64 " undelivered=%" PRId64
            " change_head=%" PRId64 " pages=%d took_ms=%" PRId64 "\n", out_path, head,
            undelivered, change_head, n_pages, p4_mono_ms() - t0);
out:
    sqlite3_free(sql);
    if (dst)
        sqlite3_close(dst);
    if (src)
        sqlite3_close(src);
    if (tmp_made)
        unlink(tmp);
    return rc;
}

/* The tables a replica must have for the gateway to run on it (the migrations bring the rest;
 * a newer schema than this gateway's is refused by replica_open at start). */
static const char *const required_tables[] = {
    "schema_version", "sales", "sale_lines", "stock", "prices", "changes", "outbox",
    "rejects", "registers", "meta",
};

/* Checks that DB (opened on WHAT) is a replica of CFG's tenant and store: the backup stamp
 * when there is one, else the store of the newest sale. */
static int check_identity(sqlite3 *db, const struct p4gw_config *cfg, const char *what,
                          char *err, size_t err_len)
{
    char buf[P4T_ID_MAX + 16];
    int64_t has_stamp = 0;

    for (size_t i = 0; i < sizeof(required_tables) / sizeof(required_tables[0]); i++) {
        char *sql = sqlite3_mprintf("SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                    " AND name = %Q", required_tables[i]);
        int64_t n = 0;
        int rc = sql ? query_int(db, sql, 0, &n) : P4GW_ENOMEM;

        sqlite3_free(sql);
        if (rc || n != 1) {
            set_err(err, err_len, "%s is not a p4gw replica: no table %s", what,
                    required_tables[i]);
            return P4GW_EINVAL;
        }
    }
    query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'backup_info'", 0,
              &has_stamp);
    if (has_stamp) {
        char tenant[P4T_ID_MAX + 1], store[P4T_ID_MAX + 1];

        query_text(db, "SELECT value FROM backup_info WHERE key = 'tenant'", tenant,
                   sizeof(tenant));
        query_text(db, "SELECT value FROM backup_info WHERE key = 'store'", store,
                   sizeof(store));
        if (strcmp(tenant, cfg->tenant) != 0 || strcmp(store, cfg->store) != 0) {
            set_err(err, err_len, "%s is a backup of tenant=%s store=%s, not of tenant=%s "
                    "store=%s", what, tenant, store, cfg->tenant, cfg->store);
            return P4GW_EINVAL;
        }
        return P4GW_OK;
    }
    /* No stamp (a plain copy of a replica file): each sale payload names its store. */
    if (query_text(db, "SELECT coalesce(json_extract(payload, '$.store'), '(none)') FROM sales"
                   " WHERE kind <> 'gap' ORDER BY gw_seq DESC LIMIT 1", buf, sizeof(buf)) != 0)
        snprintf(buf, sizeof(buf), "(unreadable)");
    if (buf[0] && strcmp(buf, cfg->store) != 0) {
        set_err(err, err_len, "%s holds sales of store %s, not of store %s", what, buf,
                cfg->store);
        return P4GW_EINVAL;
    }
    return P4GW_OK; /* no sales: nothing tells whose it is, and nothing can be mixed up */
}

/* gw_seq and change heads of the replica being replaced, when it is still readable. */
static bool old_heads(const char *path, int64_t *gw_head, int64_t *change_head)
{
    sqlite3 *db = NULL;
    bool ok = false;

    if (access(path, F_OK) != 0)
        return false;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        query_int(db, "SELECT max(gw_seq) FROM sales", 0, gw_head) == 0 &&
        query_int(db, "SELECT max(seq) FROM changes", 0, change_head) == 0)
        ok = true;
    sqlite3_close(db);
    return ok;
}

/* Makes gw_seq continue at NEXT (a `gap` sale row holds NEXT - 1, so the gateway's head is
 * past every number the lost replica may have given: HQ keys records by (store, gw_seq) and
 * would take a reused number for a repeat) and the change log jump ahead (one change row
 * re-stating the newest stock or price value). */
static int advance_heads(sqlite3 *db, int64_t head, int64_t next, int64_t change_to,
                         bool ask_hq, char *err, size_t err_len)
{
    char id[P4_UUID_LEN + 8], uuid[P4_UUID_LEN], ts[P4_TS_LEN];
    char *sql = NULL;
    int rc;

    rc = exec(db, "BEGIN IMMEDIATE", err, err_len);
    if (rc)
        return rc;
    if (next > head + 1) {
        if (p4_uuid7(uuid) != 0) {
            set_err(err, err_len, "no random source for an id");
            rc = P4GW_EIO;
            goto out;
        }
        snprintf(id, sizeof(id), "gap-%s", uuid);
        p4_format_ts(p4_now_ms(), ts);
        sql = sqlite3_mprintf("INSERT INTO sales(gw_seq, id, reg, seq, kind, ts, total, flags,"
                              " payload) VALUES(%lld, %Q, NULL, NULL, 'gap', %Q, 0, NULL,"
                              " '{\"gap_from\":%lld,\"gap_to\":%lld,\"reason\":\"restore\"}')",
                              (long long)(next - 1), id, ts, (long long)(head + 1),
                              (long long)(next - 1));
        rc = sql ? exec(db, sql, err, err_len) : P4GW_ENOMEM;
        sqlite3_free(sql);
        sql = NULL;
        if (rc)
            goto out;
    }
    sql = sqlite3_mprintf(
        "INSERT INTO changes(seq, entity, key, value) SELECT %lld, entity, key, value FROM ("
        " SELECT 'stock' AS entity, sku AS key, '{\"on_hand\":' || on_hand || '}' AS value,"
        "  chg_seq FROM stock"
        " UNION ALL SELECT 'price', sku, coalesce(value, '{\"price\":' || price || ',\"ver\":'"
        "  || ver || '}'), chg_seq FROM prices WHERE value IS NOT NULL OR price IS NOT NULL)"
        " ORDER BY chg_seq DESC LIMIT 1", (long long)change_to);
    rc = sql ? exec(db, sql, err, err_len) : P4GW_ENOMEM;
    if (rc == 0)
        rc = exec(db, "DROP TABLE IF EXISTS backup_info;"
                  "INSERT INTO meta(key, value) VALUES('clean_stop', 0) ON CONFLICT(key)"
                  " DO UPDATE SET value = 0;", err, err_len);
    /* A new epoch at start: registers resend to it what HQ has not committed, including
     * what the lost machine acked after the backup. gw_seq_known 2: learn from HQ where gw_seq
     * goes on (its down/ack max_gw_seq) before numbering a sale. */
    if (rc == 0)
        rc = exec(db, ask_hq ? "DELETE FROM meta WHERE key = 'epoch';"
                               "INSERT INTO meta(key, value) VALUES('gw_seq_known', 2)"
                               " ON CONFLICT(key) DO UPDATE SET value = 2;"
                             : "DELETE FROM meta WHERE key = 'epoch';"
                               "INSERT INTO meta(key, value) VALUES('gw_seq_known', 1)"
                               " ON CONFLICT(key) DO UPDATE SET value = 1;", err, err_len);
out:
    sqlite3_free(sql);
    sqlite3_exec(db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    if (rc == 0 && sqlite3_get_autocommit(db) == 0) {
        set_err(err, err_len, "commit failed: %s", sqlite3_errmsg(db));
        rc = P4GW_EIO;
    }
    return rc;
}

/* Moves the replica at PATH aside as PATH.replaced-MS, with its WAL, so the new file never
 * meets a stale WAL (SQLite would replay it onto the wrong database). PATH itself stays in
 * place (a hard link keeps the old one) until the rename of the new file replaces it, so a
 * crash at any point leaves a replica at PATH. */
static int move_aside(const char *path, char *aside, size_t aside_len, char *err,
                      size_t err_len)
{
    char wal[PATH_MAX + 8], shm[PATH_MAX + 8], aside_wal[PATH_MAX + 64];

    aside[0] = '\0';
    if (access(path, F_OK) != 0)
        return P4GW_OK;
    snprintf(aside, aside_len, "%s.replaced-%" PRId64, path, p4_now_ms());
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    snprintf(aside_wal, sizeof(aside_wal), "%s-wal", aside);
    if (link(path, aside) != 0) {
        set_err(err, err_len, "cannot keep the old replica as %s: %s", aside, strerror(errno));
        aside[0] = '\0';
        return P4GW_EIO;
    }
    if (rename(wal, aside_wal) != 0 && errno != ENOENT) {
        set_err(err, err_len, "cannot move %s aside: %s", wal, strerror(errno));
        return P4GW_EIO;
    }
    if (unlink(shm) != 0 && errno != ENOENT) {
        set_err(err, err_len, "cannot remove %s: %s", shm, strerror(errno));
        return P4GW_EIO;
    }
    return P4GW_OK;
}

int p4gw_restore(const struct p4gw_config *cfg, const char *in_path,
                 const struct p4gw_restore_opts *opts, FILE *out, char *err, size_t err_len)
{
    const char *path = cfg->replica_path;
    char tmp[PATH_MAX + 32], aside[PATH_MAX + 32];
    sqlite3 *src = NULL, *dst = NULL;
    int64_t head = 0, change_head = 0, old_gw = 0, old_chg = 0, next, change_to;
    int64_t n_sales = 0, undelivered = 0;
    bool have_old, tmp_made = false, ask_hq = false;
    int lock_fd = -1, n_pages = 0, rc;

    aside[0] = '\0';
    rc = p4gw_replica_lock(path, &lock_fd);
    if (rc == P4GW_EBUSY) {
        set_err(err, err_len, "a gateway is running on %s: stop it before a restore", path);
        return rc;
    }
    if (rc) {
        set_err(err, err_len, "cannot lock %s.lock: %s", path, strerror(errno));
        return rc;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.restore-%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        set_err(err, err_len, "%s: path too long", path);
        rc = P4GW_EINVAL;
        goto out;
    }
    if (sqlite3_open_v2(in_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        set_err(err, err_len, "cannot open %s: %s", in_path,
                src ? sqlite3_errmsg(src) : "out of memory");
        rc = P4GW_EIO;
        goto out;
    }
    rc = check_integrity(src, in_path, err, err_len);
    if (rc == 0)
        rc = check_identity(src, cfg, in_path, err, err_len);
    if (rc)
        goto out;
    query_int(src, "SELECT max(gw_seq) FROM sales", 0, &head);
    query_int(src, "SELECT max(seq) FROM changes", 0, &change_head);
    have_old = old_heads(path, &old_gw, &old_chg);
    next = opts->next_gw_seq;
    if (next == 0 && have_old)
        next = (old_gw > head ? old_gw : head) + 1;
    if (next == 0) {
        /* The replica it replaces is gone: the numbers given since are unknown here, but HQ
         * knows them. The gateway asks it at start (contract 6.7 max_gw_seq) and numbers no
         * sale before it knows; --next-gw-seq is for a chain whose HQ publishes no acks. */
        ask_hq = true;
        next = head + 1;
    }
    if (next <= head) {
        set_err(err, err_len, "--next-gw-seq %" PRId64 " would reuse numbers: the backup holds "
                "sales up to gw_seq=%" PRId64, next, head);
        rc = P4GW_EINVAL;
        goto out;
    }
    change_to = (have_old && old_chg > change_head ? old_chg : change_head) + CHANGE_JUMP;
    rc = create_db(tmp, &dst, err, err_len);
    if (rc)
        goto out;
    tmp_made = true;
    rc = copy_pages(src, dst, &n_pages, err, err_len);
    if (rc == 0)
        rc = advance_heads(dst, head, next, change_to, ask_hq, err, err_len);
    if (rc == 0)
        rc = check_integrity(dst, "restored copy", err, err_len);
    if (rc == 0)
        rc = make_standalone(dst, err, err_len);
    if (rc)
        goto out;
    query_int(dst, "SELECT count(*) FROM sales WHERE kind <> 'gap'", 0, &n_sales);
    query_int(dst, "SELECT count(*) FROM outbox WHERE delivered = 0", 0, &undelivered);
    if (sqlite3_close(dst) != SQLITE_OK) {
        set_err(err, err_len, "closing the copy: %s", sqlite3_errmsg(dst));
        rc = P4GW_EIO;
        goto out;
    }
    dst = NULL;
    if (fsync_path(tmp, false) != 0) {
        set_err(err, err_len, "cannot fsync %s: %s", tmp, strerror(errno));
        rc = P4GW_EIO;
        goto out;
    }
    rc = move_aside(path, aside, sizeof(aside), err, err_len);
    if (rc)
        goto out;
    if (rename(tmp, path) != 0 || fsync_parent(path) != 0) {
        set_err(err, err_len, "cannot install %s: %s", path, strerror(errno));
        rc = P4GW_EIO;
        goto out;
    }
    tmp_made = false;
    p4_info("replica restored path=\"%s\" from=\"%s\" sales=%" PRId64 " backup_gw_seq=%" PRId64
            " next_gw_seq=%" PRId64 " change_head=%" PRId64 " undelivered=%" PRId64
            " replaced=\"%s\"", path, in_path, n_sales, head, next, change_to, undelivered,
            aside[0] ? aside : "none");
    if (ask_hq)
        fprintf(out, "restore ok path=%s sales=%" PRId64 " backup_gw_seq=%" PRId64
                " next_gw_seq=from-hq undelivered=%" PRId64 " replaced=%s\n", path, n_sales,
                head, undelivered, aside[0] ? aside : "none");
    else
        fprintf(out, "restore ok path=%s sales=%" PRId64 " backup_gw_seq=%" PRId64
                " next_gw_seq=%" PRId64 " undelivered=%" PRId64 " replaced=%s\n", path,
                n_sales, head, next, undelivered, aside[0] ? aside : "none");
out:
    if (dst)
        sqlite3_close(dst);
    if (src)
        sqlite3_close(src);
    if (tmp_made)
        unlink(tmp);
    p4gw_replica_unlock(lock_fd);
    return rc;
}
