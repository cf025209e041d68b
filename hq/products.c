/* SPDX-License-Identifier: Apache-2.0 */
/* The product master: CSV import, and the ingest thread's in-memory copy of tax rates and
 * unit costs. */
#include "products.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

#define IMPORT_LINE_MAX 1024

struct product_slot {
    char sku[P4T_SKU_MAX + 1]; /* "" = empty slot */
    struct product_terms terms;
};

int products_prepare(struct db *db)
{
    int rc = db_prepare(db, "products_version",
                        "SELECT count(*) || '/' || coalesce(max(updated_at)::text, '')"
                        " FROM products WHERE tenant = $1");
    if (!rc)
        rc = db_prepare(db, "products_load",
                        "SELECT sku, tax_rate_bp, unit_cost_minor FROM products"
                        " WHERE tenant = $1");
    return rc;
}

/* FNV-1a: skus are short printable strings. */
static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static struct product_slot *slot_for(const struct products *p, const char *sku)
{
    size_t i = hash(sku) & (p->cap - 1);

    while (p->slots[i].sku[0] && strcmp(p->slots[i].sku, sku) != 0)
        i = (i + 1) & (p->cap - 1);
    return &p->slots[i];
}

int products_refresh(struct products *p, struct db *db, const char *tenant)
{
    const char *v[1] = {tenant};
    struct product_slot *slots;
    PGresult *res;
    size_t cap = 16, rows;
    int rc;

    rc = db_run(db, "products_version", 1, v, &res);
    if (rc)
        return rc;
    if (p->slots && strcmp(PQgetvalue(res, 0, 0), p->version) == 0) {
        PQclear(res);
        return P4HQ_OK;
    }
    snprintf(p->version, sizeof p->version, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    rc = db_run(db, "products_load", 1, v, &res);
    if (rc)
        return rc;
    rows = (size_t)PQntuples(res);
    while (cap < rows * 2)
        cap *= 2;
    slots = calloc(cap, sizeof *slots);
    if (!slots) {
        PQclear(res);
        p->version[0] = '\0';
        return P4HQ_ENOMEM;
    }
    free(p->slots);
    p->slots = slots;
    p->cap = cap;
    p->n = rows;
    for (size_t r = 0; r < rows; r++) {
        const char *sku = PQgetvalue(res, (int)r, 0);
        struct product_slot *s;
        if (strlen(sku) > P4T_SKU_MAX)
            continue;
        s = slot_for(p, sku);
        snprintf(s->sku, sizeof s->sku, "%s", sku);
        s->terms.tax_bp = atoi(PQgetvalue(res, (int)r, 1));
        s->terms.has_cost = !PQgetisnull(res, (int)r, 2);
        s->terms.unit_cost_minor = s->terms.has_cost ? strtoll(PQgetvalue(res, (int)r, 2),
                                                               NULL, 10)
                                                     : 0;
    }
    PQclear(res);
    p4_info("product master loaded products=%zu", rows);
    return P4HQ_OK;
}

void products_terms(const struct products *p, const char *sku, int default_tax_bp,
                    struct product_terms *out)
{
    const struct product_slot *s = p->slots ? slot_for(p, sku) : NULL;

    if (s && s->sku[0]) {
        *out = s->terms;
        return;
    }
    out->tax_bp = default_tax_bp;
    out->has_cost = false;
    out->unit_cost_minor = 0;
}

void products_cleanup(struct products *p)
{
    free(p->slots);
    memset(p, 0, sizeof *p);
}

/* Splits LINE at commas in place into at most N fields (no quoting: skus and names here have
 * no commas; a quoted field is refused by the caller's checks). Returns the field count. */
static int split(char *line, char **f, int n)
{
    int k = 0;

    f[k++] = line;
    for (char *p = line; *p && k < n + 1; p++) {
        if (*p == ',') {
            *p = '\0';
            if (k == n)
                return n + 1; /* too many */
            f[k++] = p + 1;
        }
    }
    return k;
}

int products_import(struct db *db, const char *tenant, const char *path, size_t *n_rows,
                    char *err, size_t err_len)
{
    static const char sql[] =
        "INSERT INTO products (tenant, sku, name, tax_rate_bp, unit_cost_minor, updated_at)"
        " VALUES ($1, $2, $3, $4, NULLIF($5, '')::bigint, now())"
        " ON CONFLICT (tenant, sku) DO UPDATE SET name = excluded.name,"
        " tax_rate_bp = excluded.tax_rate_bp, unit_cost_minor = excluded.unit_cost_minor,"
        " updated_at = now()";
    char line[IMPORT_LINE_MAX + 2];
    FILE *f = fopen(path, "r");
    int lineno = 0, rc = P4HQ_OK;

    *n_rows = 0;
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return P4HQ_EINVAL;
    }
    rc = db_exec(db, "BEGIN", "begin");
    while (!rc && fgets(line, sizeof line, f)) {
        char *fld[4], *end;
        char bp_text[16];
        size_t len = strlen(line);
        int bp;

        lineno++;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len > IMPORT_LINE_MAX) {
            snprintf(err, err_len, "%s:%d: line longer than %d bytes", path, lineno,
                     IMPORT_LINE_MAX);
            rc = P4HQ_EINVAL;
            break;
        }
        if (lineno == 1) {
            if (strcmp(line, "sku,name,tax_rate,unit_cost") != 0) {
                snprintf(err, err_len, "%s:1: header: must be sku,name,tax_rate,unit_cost",
                         path);
                rc = P4HQ_EINVAL;
            }
            continue;
        }
        if (len == 0)
            continue;
        if (split(line, fld, 4) != 4) {
            snprintf(err, err_len, "%s:%d: must have 4 fields: sku,name,tax_rate,unit_cost",
                     path, lineno);
            rc = P4HQ_EINVAL;
            break;
        }
        if (!fld[0][0] || strlen(fld[0]) > P4T_SKU_MAX ||
            strspn(fld[0], "!\"#$%&'()*+-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
                           "abcdefghijklmnopqrstuvwxyz{|}~") != strlen(fld[0])) {
            snprintf(err, err_len, "%s:%d: sku: must be 1..64 printable characters without "
                     "spaces", path, lineno);
            rc = P4HQ_EINVAL;
            break;
        }
        if (!fld[1][0] || strlen(fld[1]) > P4T_NAME_MAX) {
            snprintf(err, err_len, "%s:%d: name: must be 1..100 bytes", path, lineno);
            rc = P4HQ_EINVAL;
            break;
        }
        if (config_parse_percent(fld[2], &bp) != 0) {
            snprintf(err, err_len, "%s:%d: tax_rate: must be a percent 0..100 with at most "
                     "two decimals", path, lineno);
            rc = P4HQ_EINVAL;
            break;
        }
        if (fld[3][0]) {
            long long cost;
            errno = 0;
            cost = strtoll(fld[3], &end, 10);
            if (errno || *end || cost < 0 || cost > P4T_MAX_PRICE) {
                snprintf(err, err_len, "%s:%d: unit_cost: must be an integer 0..%d (minor "
                         "units) or empty", path, lineno, P4T_MAX_PRICE);
                rc = P4HQ_EINVAL;
                break;
            }
        }
        snprintf(bp_text, sizeof bp_text, "%d", bp);
        {
            const char *v[5] = {tenant, fld[0], fld[1], bp_text, fld[3]};
            rc = db_query(db, sql, 5, v, NULL);
        }
        if (!rc)
            (*n_rows)++;
    }
    if (!rc && ferror(f)) {
        snprintf(err, err_len, "%s: read error", path);
        rc = P4HQ_EINVAL;
    }
    fclose(f);
    if (!rc)
        return db_exec(db, "COMMIT", "commit");
    if (db_ok(db))
        db_exec(db, "ROLLBACK", "rollback");
    return rc;
}
