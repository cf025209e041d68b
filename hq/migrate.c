/* SPDX-License-Identifier: Apache-2.0 */
/* Numbered schema migrations compiled into the binary, applied under an advisory lock, and the
 * chart of accounts from the configuration. */
#include "p4hq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "p4common.h"

/* pg_advisory_lock key: "p4hq" in ASCII. Every p4hq process of every tenant shares it, so two
 * processes never migrate one database at once. */
#define MIGRATE_LOCK_KEY "1882288497"

/* The version is the number the file name starts with ("001_ingest.sql" -> 1). */
static int blob_version(const struct p4_blob *b)
{
    return atoi(b->name);
}

int migrate_apply(struct db *db, int *applied)
{
    PGresult *res = NULL;
    int rc, n = 0;

    if (applied)
        *applied = 0;
    rc = db_exec(db, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "migration lock");
    if (rc)
        return rc;
    /* Only a schema's first migration needs DDL here: p4hq's own role may have none. */
    rc = db_query(db, "SELECT to_regclass('schema_version') IS NOT NULL", 0, NULL, &res);
    if (!rc && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
        rc = db_exec(db,
                     "CREATE TABLE schema_version (version integer PRIMARY KEY, "
                     "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                     "schema_version");
    PQclear(res);
    res = NULL;
    if (!rc)
        rc = db_query(db, "SELECT version FROM schema_version", 0, NULL, &res);
    if (rc)
        goto out;
    for (size_t i = 0; i < hq_migrations_n; i++) {
        const struct p4_blob *m = &hq_migrations[i];
        char version[16];
        const char *params[2] = {version, m->name};
        bool done = false;

        /* Applied by membership, not by the highest number: a migration merged later with a
         * lower number than one already applied still runs. */
        for (int r = 0; r < PQntuples(res) && !done; r++)
            done = atoi(PQgetvalue(res, r, 0)) == blob_version(m);
        if (done)
            continue;
        snprintf(version, sizeof version, "%d", blob_version(m));
        rc = db_exec(db, "BEGIN", "migration begin");
        if (!rc)
            rc = db_exec(db, m->data, m->name);
        if (!rc)
            rc = db_query(db, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", 2,
                          params, NULL);
        if (!rc)
            rc = db_exec(db, "COMMIT", "migration commit");
        if (rc) {
            db_exec(db, "ROLLBACK", "migration rollback");
            p4_error("migration failed name=%s (a role without schema rights cannot apply it: "
                     "run p4hq db init as an administrator)",
                     m->name);
            goto out;
        }
        p4_info("migration applied name=%s", m->name);
        n++;
    }
    PQclear(res);
    res = NULL;
    if (applied)
        *applied = n;
out:
    PQclear(res);
    if (db_ok(db))
        db_exec(db, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", "migration unlock");
    return rc;
}

int migrate_accounts(struct db *db, const struct p4hq_config *cfg)
{
    static const char *sql =
        "INSERT INTO accounts (tenant, code, name, type) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (tenant, code) DO NOTHING";
    const struct p4hq_accounts *a = &cfg->accounts;
    const struct {
        const char *code, *name, *type;
    } chart[] = {
        {a->cash, "Cash", "asset"},
        {a->card, "Card receivables", "asset"},
        {a->other, "Other tenders receivable", "asset"},
        {a->inventory, "Inventory", "asset"},
        {a->tax, "Sales tax payable", "liability"},
        {a->loyalty, "Loyalty points liability", "liability"},
        {a->revenue, "Sales revenue", "revenue"},
        {a->cogs, "Cost of goods sold", "expense"},
    };

    for (size_t i = 0; i < sizeof chart / sizeof chart[0]; i++) {
        const char *params[4] = {cfg->tenant, chart[i].code, chart[i].name, chart[i].type};
        int rc = db_query(db, sql, 4, params, NULL);
        if (rc)
            return rc;
    }
    return P4HQ_OK;
}
