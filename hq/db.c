/* SPDX-License-Identifier: Apache-2.0 */
/* The libpq connection of one thread: connect with a password from a file, prepared
 * statements, logged errors, and array literals for binding many values as one parameter. */
#include "p4hq.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

/* The first line of PQerrorMessage, for one-line logs. */
static void log_pq(const char *what, const char *msg)
{
    int n = (int)strcspn(msg, "\n");

    p4_error("database %s failed: %.*s", what, n, msg);
}

/* libpq prints server notices ("relation already exists, skipping") to stderr by default. */
static void on_notice(void *arg, const char *message)
{
    int n = (int)strcspn(message, "\n");

    (void)arg;
    p4_debug("database notice: %.*s", n, message);
}

int db_open(struct db *db, const struct p4hq_config *cfg, const char *app_name)
{
    const char *kw[4] = {"dbname", "application_name", NULL, NULL};
    const char *val[4] = {cfg->conninfo, app_name, NULL, NULL};
    char password[256] = "";
    PGresult *res;

    db->cfg = cfg;
    db->prepared = false;
    db->conn = NULL;
    if (cfg->db_password_file[0]) {
        int rc = p4_read_secret(cfg->db_password_file, password, sizeof password);
        if (rc) {
            p4_error("cannot read [db] password_file %s: %s", cfg->db_password_file,
                     rc == -2 ? "first line too long" : strerror(errno));
            return P4HQ_EDB;
        }
        kw[2] = "password";
        val[2] = password;
    }
    /* expand_dbname: "dbname" carries the whole conninfo string; the others override it. */
    db->conn = PQconnectdbParams(kw, val, 1);
    p4_memzero(password, sizeof password);
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
        log_pq("connect", db->conn ? PQerrorMessage(db->conn) : "out of memory");
        db_close(db);
        return P4HQ_EDB;
    }
    PQsetNoticeProcessor(db->conn, on_notice, NULL);
    /* Nothing is acknowledged to a store before its COMMIT is durable. */
    res = PQexec(db->conn, "SET synchronous_commit = on");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        log_pq("session setup", PQerrorMessage(db->conn));
        PQclear(res);
        db_close(db);
        return P4HQ_EDB;
    }
    PQclear(res);
    return P4HQ_OK;
}

void db_close(struct db *db)
{
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
    db->prepared = false;
}

bool db_ok(const struct db *db)
{
    return db->conn && PQstatus(db->conn) == CONNECTION_OK;
}

static int check(struct db *db, PGresult *res, const char *what, PGresult **out)
{
    ExecStatusType st = PQresultStatus(res);

    if (out)
        *out = NULL;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        log_pq(what, res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
        PQclear(res);
        return P4HQ_EDB;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return P4HQ_OK;
}

int db_exec(struct db *db, const char *sql, const char *what)
{
    if (!db->conn)
        return P4HQ_EDB;
    return check(db, PQexec(db->conn, sql), what, NULL);
}

int db_run(struct db *db, const char *name, int n, const char *const *values, PGresult **res)
{
    if (!db->conn)
        return P4HQ_EDB;
    return check(db, PQexecPrepared(db->conn, name, n, values, NULL, NULL, 0), name, res);
}

int db_run_fmt(struct db *db, const char *name, int n, const char *const *values,
               const int *lengths, const int *formats, PGresult **res)
{
    if (!db->conn)
        return P4HQ_EDB;
    return check(db, PQexecPrepared(db->conn, name, n, values, lengths, formats, 0), name, res);
}

int db_query(struct db *db, const char *sql, int n, const char *const *values, PGresult **res)
{
    if (!db->conn)
        return P4HQ_EDB;
    return check(db, PQexecParams(db->conn, sql, n, NULL, values, NULL, NULL, 0), "query",
                 res);
}

int db_prepare(struct db *db, const char *name, const char *sql)
{
    if (!db->conn)
        return P4HQ_EDB;
    return check(db, PQprepare(db->conn, name, sql, 0, NULL), name, NULL);
}

/* ---- array literals ---- */

static int grow(struct arr *a, size_t need)
{
    size_t cap = a->cap ? a->cap : 256;
    char *p;

    if (a->len + need + 3 <= a->cap)
        return P4HQ_OK;
    while (cap < a->len + need + 3)
        cap *= 2;
    p = realloc(a->buf, cap);
    if (!p)
        return P4HQ_ENOMEM;
    a->buf = p;
    a->cap = cap;
    return P4HQ_OK;
}

/* Appends the separator ("{" first, "," after) so that arr_text only closes the literal. */
static int open_elem(struct arr *a, size_t need)
{
    if (grow(a, need + 1))
        return P4HQ_ENOMEM;
    a->buf[a->len++] = a->n++ ? ',' : '{';
    return P4HQ_OK;
}

int arr_add_str(struct arr *a, const char *s)
{
    size_t n = strlen(s);

    /* Quoted, with \ and " escaped: an element may hold any printable character. */
    if (open_elem(a, 2 * n + 2))
        return P4HQ_ENOMEM;
    a->buf[a->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            a->buf[a->len++] = '\\';
        a->buf[a->len++] = s[i];
    }
    a->buf[a->len++] = '"';
    return P4HQ_OK;
}

int arr_add_int(struct arr *a, int64_t v)
{
    if (open_elem(a, 24))
        return P4HQ_ENOMEM;
    a->len += (size_t)snprintf(a->buf + a->len, 24, "%" PRId64, v);
    return P4HQ_OK;
}

const char *arr_text(struct arr *a)
{
    if (a->n == 0)
        return "{}";
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}

void arr_reset(struct arr *a)
{
    a->len = 0;
    a->n = 0;
}

void arr_free(struct arr *a)
{
    free(a->buf);
    memset(a, 0, sizeof *a);
}
