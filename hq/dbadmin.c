/* SPDX-License-Identifier: Apache-2.0 */
/* Database set-up for operators: `p4hq db init` creates the roles and the database with least
 * privilege and applies the migrations; `p4hq db status` shows the schema version. */
#include "dbadmin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "p4common.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* The user and dbname CONNINFO names, copied into USER and DBNAME. */
static int conninfo_parts(const char *conninfo, char *user, size_t user_len, char *dbname,
                          size_t db_len)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

    user[0] = dbname[0] = '\0';
    if (!opts) {
        fprintf(stderr, "p4hq: [db] conninfo: %s", err ? err : "cannot be parsed\n");
        PQfreemem(err);
        return P4HQ_EINVAL;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "user") == 0 && o->val)
            snprintf(user, user_len, "%s", o->val);
        if (strcmp(o->keyword, "dbname") == 0 && o->val)
            snprintf(dbname, db_len, "%s", o->val);
    }
    PQconninfoFree(opts);
    return user[0] && dbname[0] ? P4HQ_OK : P4HQ_EINVAL;
}

/* Connects with CONNINFO, overriding the database when DBNAME is not NULL. */
static PGconn *connect_admin(const char *conninfo, const char *dbname)
{
    const char *kw[3] = {"dbname", dbname ? "dbname" : NULL, NULL};
    const char *val[3] = {conninfo, dbname, NULL};
    PGconn *c = PQconnectdbParams(kw, val, 1);

    if (!c || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "p4hq: db init: cannot connect as administrator: %s",
                c ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int run(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? P4HQ_OK : P4HQ_EDB;

    if (rc)
        fprintf(stderr, "p4hq: db init: %s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

/* Runs P1 ID1 P2 [ID2 P3], the IDs quoted by PQescapeIdentifier (ID2 may be NULL). */
static int run_ident(PGconn *c, const char *p1, const char *id1, const char *p2,
                     const char *id2, const char *p3)
{
    char *q1 = PQescapeIdentifier(c, id1, strlen(id1));
    char *q2 = id2 ? PQescapeIdentifier(c, id2, strlen(id2)) : NULL;
    char sql[1024];
    int rc = P4HQ_ENOMEM;

    if (q1 && (!id2 || q2)) {
        snprintf(sql, sizeof sql, "%s%s%s%s%s", p1, q1, p2, q2 ? q2 : "", p3 ? p3 : "");
        rc = run(c, sql);
    }
    PQfreemem(q1);
    PQfreemem(q2);
    return rc;
}

static bool exists(PGconn *c, const char *sql, const char *name)
{
    const char *v[1] = {name};
    PGresult *res = PQexecParams(c, sql, 1, NULL, v, NULL, NULL, 0);
    bool yes = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;

    PQclear(res);
    return yes;
}

int dbadmin_init(const struct p4hq_config *cfg, const char *admin_conninfo)
{
    char role[128], dbname[128], owner[160], password[256] = "";
    PGconn *c = NULL;
    struct db db = {0};
    int rc;

    if (conninfo_parts(cfg->conninfo, role, sizeof role, dbname, sizeof dbname) != 0) {
        fprintf(stderr, "p4hq: [db] conninfo: must name user= and dbname=\n");
        return EXIT_USAGE;
    }
    snprintf(owner, sizeof owner, "%s_owner", role);
    if (cfg->db_password_file[0] &&
        p4_read_secret(cfg->db_password_file, password, sizeof password) != 0) {
        fprintf(stderr, "p4hq: [db] password_file: cannot read %s\n", cfg->db_password_file);
        return EXIT_USAGE;
    }
    /* 1. Roles and database, from the maintenance database. The owner role owns the schema
     * and cannot log in; the role p4hq runs as may read and write rows, nothing else. */
    c = connect_admin(admin_conninfo, "postgres");
    rc = c ? P4HQ_OK : P4HQ_EDB;
    if (!rc && !exists(c, "SELECT 1 FROM pg_roles WHERE rolname = $1", owner))
        rc = run_ident(c, "CREATE ROLE ", owner, " NOLOGIN", NULL, NULL);
    if (!rc && !exists(c, "SELECT 1 FROM pg_roles WHERE rolname = $1", role))
        rc = run_ident(c, "CREATE ROLE ", role, " LOGIN", NULL, NULL);
    if (!rc && password[0]) {
        /* Stored as a SCRAM verifier (password_encryption = scram-sha-256, the default). */
        char *lit = PQescapeLiteral(c, password, strlen(password));
        char *qr = PQescapeIdentifier(c, role, strlen(role));
        char *sql = NULL;
        rc = lit && qr && asprintf(&sql, "ALTER ROLE %s PASSWORD %s", qr, lit) > 0
                 ? run(c, sql)
                 : P4HQ_ENOMEM;
        if (sql)
            p4_memzero(sql, strlen(sql));
        if (lit)
            p4_memzero(lit, strlen(lit));
        free(sql);
        PQfreemem(lit);
        PQfreemem(qr);
    }
    p4_memzero(password, sizeof password);
    if (!rc && !exists(c, "SELECT 1 FROM pg_database WHERE datname = $1", dbname))
        rc = run_ident(c, "CREATE DATABASE ", dbname, " OWNER ", owner, NULL);
    PQfinish(c);
    c = NULL;
    /* 2. Inside the database: nobody but the owner creates objects; the runtime role
     * connects and gets row privileges on every table and sequence, now and later. */
    if (!rc) {
        c = connect_admin(admin_conninfo, dbname);
        rc = c ? P4HQ_OK : P4HQ_EDB;
    }
    if (!rc)
        rc = run(c, "REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    if (!rc)
        rc = run_ident(c, "ALTER SCHEMA public OWNER TO ", owner, "", NULL, NULL);
    if (!rc)
        rc = run_ident(c, "GRANT CONNECT ON DATABASE ", dbname, " TO ", role, NULL);
    if (!rc)
        rc = run_ident(c, "GRANT USAGE ON SCHEMA public TO ", role, "", NULL, NULL);
    if (!rc)
        rc = run_ident(c, "ALTER DEFAULT PRIVILEGES FOR ROLE ", owner,
                       " IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ",
                       role, NULL);
    if (!rc)
        rc = run_ident(c, "ALTER DEFAULT PRIVILEGES FOR ROLE ", owner,
                       " IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ", role, NULL);
    if (!rc)
        rc = run_ident(c, "SET ROLE ", owner, "", NULL, NULL);
    PQfinish(c);
    if (rc)
        return EXIT_FAIL;
    /* 3. Migrations and the chart of accounts, as the owner. */
    {
        int applied = 0;

        db.conn = connect_admin(admin_conninfo, dbname);
        rc = db.conn ? P4HQ_OK : P4HQ_EDB;
        if (!rc)
            rc = run_ident(db.conn, "SET ROLE ", owner, "", NULL, NULL);
        if (!rc)
            rc = migrate_apply(&db, &applied);
        /* Tables made before the default privileges existed (an older set-up) get them too. */
        if (!rc)
            rc = run_ident(db.conn,
                           "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public"
                           " TO ",
                           role, "", NULL, NULL);
        if (!rc)
            rc = run_ident(db.conn, "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ",
                           role, "", NULL, NULL);
        /* The audit log is append-only for p4hq's role: rows in, never changed or removed. */
        if (!rc)
            rc = run_ident(db.conn, "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM ", role,
                           "", NULL, NULL);
        if (!rc)
            rc = migrate_accounts(&db, cfg);
        db_close(&db);
        if (rc)
            return EXIT_FAIL;
        printf("database %s ready: owner %s, p4hq runs as %s (rows only), %d migration(s) "
               "applied\n",
               dbname, owner, role, applied);
    }
    return 0;
}

int dbadmin_status(const struct p4hq_config *cfg, bool json)
{
    struct db db;
    PGresult *res = NULL;
    int pending = 0, rc;

    if (db_open(&db, cfg, "p4hq db status") != 0)
        return EXIT_FAIL;
    rc = db_query(&db,
                  "SELECT version, name, to_char(applied_at AT TIME ZONE 'UTC',"
                  " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_version ORDER BY version",
                  0, NULL, &res);
    if (rc) {
        db_close(&db);
        fprintf(stderr, "p4hq: db status: no schema yet (run p4hq db init)\n");
        return EXIT_FAIL;
    }
    if (json)
        printf("[");
    else
        printf("%-8s  %-28s  %-8s  %s\n", "version", "name", "state", "applied_at");
    for (size_t i = 0; i < hq_migrations_n; i++) {
        int v = atoi(hq_migrations[i].name), row = -1;
        for (int r = 0; r < PQntuples(res); r++) {
            if (atoi(PQgetvalue(res, r, 0)) == v)
                row = r;
        }
        if (row < 0)
            pending++;
        if (json)
            printf("%s{\"version\":%d,\"name\":\"%s\",\"state\":\"%s\",\"applied_at\":%s%s%s}",
                   i ? "," : "", v, hq_migrations[i].name, row < 0 ? "pending" : "applied",
                   row < 0 ? "null" : "\"", row < 0 ? "" : PQgetvalue(res, row, 2),
                   row < 0 ? "" : "\"");
        else
            printf("%-8d  %-28s  %-8s  %s\n", v, hq_migrations[i].name,
                   row < 0 ? "pending" : "applied", row < 0 ? "" : PQgetvalue(res, row, 2));
    }
    if (json)
        printf("]\n");
    PQclear(res);
    db_close(&db);
    if (!json)
        printf("%d pending\n", pending);
    return 0;
}
