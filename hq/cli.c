/* SPDX-License-Identifier: Apache-2.0 */
/* Operator commands: stores, reports, alerts and the product import, printed as an aligned
 * table, CSV or JSON. Exit codes: 0 ok, 1 failure, 2 usage. */
#include "p4hq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "p4common.h"
#include "products.h"
#include "cli.h"
#include "dbadmin.h"

enum format { FMT_TABLE, FMT_CSV, FMT_JSON };

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char usage[] =
    "usage: p4hq --config FILE COMMAND [--format table|csv|json]\n"
    "commands:\n"
    "  stores                          state, last seen, outbox, HQ watermark, missing gw_seq\n"
    "  report sales --by store|day|hour|sku [--from TS] [--to TS]\n"
    "  report trial-balance            per account: debit, credit, balance\n"
    "  alerts                          newest first\n"
    "  import products FILE            CSV: sku,name,tax_rate,unit_cost\n"
    "  price set SKU PRICE [--store S] [--from TS] [--until TS]     prints the version\n"
    "  price window SKU PRICE [--from TS] [--until TS] [--store S]  prints the version\n"
    "  promo put ID --type percent_off|fixed_price|buy_n_pay_m --sku SKU\n"
    "            [--percent P | --price P | --n N --m M] [--from TS] [--until TS]\n"
    "  promo retire ID                 prints the version\n"
    "  customer put ID --name NAME [--tier T]                       prints the version\n"
    "  stock receive|transfer|adjust|count SKU QTY --store S [--at TS] [--id ID]\n"
    "  loyalty adjust CUSTOMER POINTS [--reason TEXT] [--id ID]     prints the entry id\n"
    "  store add STORE [--note TEXT] | store remove STORE   the stores HQ accepts uplink from\n"
    "  store list                      registered stores\n"
    "  audit [--from TS] [--to TS] [--limit N]   changes made at HQ, newest first\n"
    "  migrate                         apply pending schema migrations and exit\n"
    "  db init [--admin CONNINFO]      create the roles and database, apply the migrations\n"
    "  db status                       schema version: applied and pending migrations\n";

static const char sql_stores[] =
    "WITH held AS ("
    " SELECT s.store, x.gw_seq FROM stores s CROSS JOIN LATERAL ("
    "  SELECT gw_seq FROM sales WHERE tenant = s.tenant AND store = s.store"
    "   AND gw_seq >= s.hq_through"
    "  UNION SELECT gw_seq FROM record_exceptions WHERE tenant = s.tenant AND store = s.store"
    "   AND gw_seq >= s.hq_through"
    "  UNION SELECT s.hq_through) x WHERE s.tenant = $1),"
    "gaps AS (SELECT store, gw_seq + 1 AS a, next - 1 AS b FROM ("
    " SELECT store, gw_seq, lead(gw_seq) OVER (PARTITION BY store ORDER BY gw_seq) AS next"
    " FROM held) t WHERE next > gw_seq + 1)"
    "SELECT s.store, coalesce(s.state, '') AS state,"
    " coalesce(to_char(s.last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
    "  AS last_seen,"
    " s.outbox, s.delivered, s.hq_through, s.max_gw_seq,"
    " coalesce((SELECT string_agg(CASE WHEN a = b THEN a::text ELSE a || '-' || b END, ','"
    "  ORDER BY a) FROM gaps g WHERE g.store = s.store), '') AS missing,"
    " coalesce((SELECT sum(b - a + 1) FROM gaps g WHERE g.store = s.store), 0)::bigint"
    "  AS missing_count"
    " FROM stores s WHERE s.tenant = $1 ORDER BY s.store";

static const char sql_trial_balance[] =
    "SELECT account, name, debit, credit, balance FROM trial_balance WHERE tenant = $1"
    " ORDER BY account";

static const char sql_alerts[] =
    "SELECT store, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS ts,"
    " source, kind, severity, message, coalesce(sku, '') AS sku FROM alerts"
    " WHERE tenant = $1 ORDER BY alerts.ts DESC, alert_id LIMIT 1000";

/* The group key of `report sales --by`: its SQL expression over sales s. */
static const struct {
    const char *by, *expr;
} sales_groups[] = {
    {"store", "s.store"},
    {"day", "to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')"},
    {"hour", "to_char(date_trunc('hour', s.ts AT TIME ZONE 'UTC'),"
             " 'YYYY-MM-DD\"T\"HH24\":00Z\"')"},
};

static const char sql_store_list[] =
    "SELECT r.store, to_char(r.added_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    " AS added_at, r.added_by, coalesce(r.note, '') AS note,"
    " coalesce(to_char(s.last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
    " AS last_seen FROM store_registry r LEFT JOIN stores s USING (tenant, store)"
    " WHERE r.tenant = $1 ORDER BY r.store";

/* $1 tenant, $2 from, $3 to, $4 limit */
static const char sql_audit[] =
    "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at, via,"
    " actor, coalesce(token_fp, '') AS token_fp, origin, action, detail FROM audit_log"
    " WHERE tenant = $1 AND at >= $2::timestamptz AND at < $3::timestamptz"
    " ORDER BY id DESC LIMIT $4::bigint";

#define OID_JSONB 3802

static bool is_number_type(Oid t)
{
    return t == 20 || t == 21 || t == 23 || t == 1700; /* int8, int2, int4, numeric */
}

static void print_csv_field(const char *s)
{
    if (strpbrk(s, ",\"\r\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
}

static int print_result(PGresult *res, enum format fmt)
{
    int rows = PQntuples(res), cols = PQnfields(res);

    if (fmt == FMT_JSON) {
        cJSON *arr = cJSON_CreateArray();
        char *text;
        for (int r = 0; r < rows && arr; r++) {
            cJSON *o = cJSON_CreateObject();
            if (!o || !cJSON_AddItemToArray(arr, o))
                return EXIT_FAIL;
            for (int c = 0; c < cols; c++) {
                const char *v = PQgetvalue(res, r, c);
                cJSON *item;
                if (PQgetisnull(res, r, c))
                    item = cJSON_CreateNull();
                else if (is_number_type(PQftype(res, c)) || PQftype(res, c) == OID_JSONB)
                    item = cJSON_CreateRaw(v); /* exact digits; JSON as PostgreSQL wrote it */
                else
                    item = cJSON_CreateString(v);
                if (!item || !cJSON_AddItemToObject(o, PQfname(res, c), item))
                    return EXIT_FAIL;
            }
        }
        text = arr ? cJSON_PrintUnformatted(arr) : NULL;
        cJSON_Delete(arr);
        if (!text)
            return EXIT_FAIL;
        puts(text);
        free(text);
        return 0;
    }
    if (fmt == FMT_CSV) {
        for (int c = 0; c < cols; c++) {
            if (c)
                putchar(',');
            print_csv_field(PQfname(res, c));
        }
        putchar('\n');
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                if (c)
                    putchar(',');
                print_csv_field(PQgetvalue(res, r, c));
            }
            putchar('\n');
        }
        return 0;
    }
    {
        int *w = calloc((size_t)cols, sizeof *w);
        if (!w)
            return EXIT_FAIL;
        for (int c = 0; c < cols; c++) {
            w[c] = (int)strlen(PQfname(res, c));
            for (int r = 0; r < rows; r++) {
                int n = PQgetlength(res, r, c);
                if (n > w[c])
                    w[c] = n;
            }
        }
        for (int c = 0; c < cols; c++)
            printf(is_number_type(PQftype(res, c)) ? "%*s%s" : "%-*s%s", w[c], PQfname(res, c),
                   c + 1 < cols ? "  " : "\n");
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++)
                printf(is_number_type(PQftype(res, c)) ? "%*s%s" : "%-*s%s", w[c],
                       PQgetvalue(res, r, c), c + 1 < cols ? "  " : "\n");
        }
        free(w);
    }
    return 0;
}

static int query_print(struct db *db, const char *sql, int n, const char *const *v,
                       enum format fmt)
{
    PGresult *res;

    if (db_query(db, sql, n, v, &res) != 0)
        return EXIT_FAIL;
    int rc = print_result(res, fmt);
    PQclear(res);
    fflush(stdout);
    return rc;
}

static bool opt_known(const char *key)
{
    static const char *const known[] = {"format", "by", "from", "to", "until", "store",
                                        "at", "id", "name", "tier", "reason", "type",
                                        "sku", "percent", "price", "n", "m", "admin",
                                        "note", "limit", NULL};

    for (size_t i = 0; known[i]; i++) {
        if (strcmp(known[i], key) == 0)
            return true;
    }
    return false;
}

const char *cli_opt(const struct cli_opts *o, const char *key)
{
    for (int i = o->n - 1; i >= 0; i--) {
        if (strcmp(o->keys[i], key) == 0)
            return o->vals[i];
    }
    return NULL;
}

/* The option value after ARGV[*I] (advancing *I), or NULL with a usage message. */
static const char *opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "p4hq: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int report_sales(struct db *db, const char *tenant, const char *by, const char *from,
                        const char *to, enum format fmt)
{
    const char *v[3] = {tenant, from ? from : "-infinity", to ? to : "infinity"};
    char sql[1024];

    if (strcmp(by, "sku") == 0)
        return query_print(db,
                           "SELECT l.sku, count(DISTINCT (l.store, l.gw_seq))::bigint AS count,"
                           " sum(l.qty)::bigint AS units,"
                           " sum(l.qty * l.price_minor)::bigint AS amount"
                           " FROM sale_lines l JOIN sales s USING (tenant, store, gw_seq)"
                           " WHERE s.tenant = $1 AND s.ts >= $2::timestamptz"
                           " AND s.ts < $3::timestamptz GROUP BY l.sku ORDER BY amount DESC,"
                           " l.sku",
                           3, v, fmt);
    for (size_t i = 0; i < sizeof sales_groups / sizeof sales_groups[0]; i++) {
        if (strcmp(by, sales_groups[i].by) != 0)
            continue;
        snprintf(sql, sizeof sql,
                 "SELECT %s AS %s, count(*)::bigint AS count,"
                 " sum(s.total_minor)::bigint AS amount FROM sales s"
                 " WHERE s.tenant = $1 AND s.ts >= $2::timestamptz AND s.ts < $3::timestamptz"
                 " GROUP BY 1 ORDER BY 1",
                 sales_groups[i].expr, sales_groups[i].by);
        return query_print(db, sql, 3, v, fmt);
    }
    fprintf(stderr, "p4hq: --by: must be store, day, hour or sku\n");
    return EXIT_USAGE;
}

int cli_run(const struct p4hq_config *cfg, int argc, char **argv)
{
    enum format fmt = FMT_TABLE;
    const char *by, *from, *to, *f;
    struct cli_opts opts = {0};
    char *words[6];
    int n_words = 0, rc;
    struct db db;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') {
            const char *val = opt_value(argc, argv, &i);
            if (!val)
                return EXIT_USAGE;
            if (!opt_known(a + 2) || opts.n == CLI_MAX_OPTS) {
                fprintf(stderr, "p4hq: unknown option %s\n%s", a, usage);
                return EXIT_USAGE;
            }
            opts.keys[opts.n] = a + 2;
            opts.vals[opts.n++] = val;
        } else if (n_words < 6) {
            words[n_words++] = argv[i];
        } else {
            fprintf(stderr, "%s", usage);
            return EXIT_USAGE;
        }
    }
    by = cli_opt(&opts, "by");
    from = cli_opt(&opts, "from");
    to = cli_opt(&opts, "to");
    f = cli_opt(&opts, "format");
    if (f && strcmp(f, "csv") == 0) {
        fmt = FMT_CSV;
    } else if (f && strcmp(f, "json") == 0) {
        fmt = FMT_JSON;
    } else if (f && strcmp(f, "table") != 0) {
        fprintf(stderr, "p4hq: --format: must be table, csv or json\n");
        return EXIT_USAGE;
    }
    if (n_words == 0) {
        fprintf(stderr, "%s", usage);
        return EXIT_USAGE;
    }
    /* Set-up commands connect their own way: before a schema exists, or as another role. */
    if (strcmp(words[0], "db") == 0 && n_words == 2 && strcmp(words[1], "init") == 0) {
        const char *admin = cli_opt(&opts, "admin");
        return dbadmin_init(cfg, admin ? admin : "");
    }
    if (strcmp(words[0], "db") == 0 && n_words == 2 && strcmp(words[1], "status") == 0)
        return dbadmin_status(cfg, fmt == FMT_JSON);
    if (db_open(&db, cfg, "p4hq cli") != 0)
        return EXIT_FAIL;
    rc = migrate_apply(&db, NULL);
    if (!rc)
        rc = migrate_accounts(&db, cfg);
    if (rc) {
        db_close(&db);
        return EXIT_FAIL;
    }
    {
        const char *v[1] = {cfg->tenant};
        const char *cmd = words[0];
        const char *sub = n_words > 1 ? words[1] : "";

        if (strcmp(cmd, "stores") == 0 && n_words == 1) {
            rc = query_print(&db, sql_stores, 1, v, fmt);
        } else if (strcmp(cmd, "alerts") == 0 && n_words == 1) {
            rc = query_print(&db, sql_alerts, 1, v, fmt);
        } else if (strcmp(cmd, "store") == 0 && strcmp(sub, "list") == 0 && n_words == 2) {
            rc = query_print(&db, sql_store_list, 1, v, fmt);
        } else if (strcmp(cmd, "audit") == 0 && n_words == 1) {
            const char *limit = cli_opt(&opts, "limit");
            const char *av[4] = {cfg->tenant, from ? from : "-infinity", to ? to : "infinity",
                                 limit ? limit : "1000"};

            if (strspn(av[3], "0123456789") != strlen(av[3]) || !av[3][0] ||
                strlen(av[3]) > 9) {
                fprintf(stderr, "p4hq: --limit: must be a whole number\n");
                rc = EXIT_USAGE;
            } else {
                rc = query_print(&db, sql_audit, 4, av, fmt);
            }
        } else if (strcmp(cmd, "migrate") == 0 && n_words == 1) {
            rc = 0;
        } else if (strcmp(cmd, "report") == 0 && strcmp(sub, "trial-balance") == 0 &&
                   n_words == 2) {
            rc = query_print(&db, sql_trial_balance, 1, v, fmt);
        } else if (strcmp(cmd, "report") == 0 && strcmp(sub, "sales") == 0 && n_words == 2) {
            if (!by) {
                fprintf(stderr, "p4hq: report sales: --by store|day|hour|sku is required\n");
                rc = EXIT_USAGE;
            } else {
                rc = report_sales(&db, cfg->tenant, by, from, to, fmt);
            }
        } else if (strcmp(cmd, "import") == 0 && strcmp(sub, "products") == 0 &&
                   n_words == 3) {
            char err[512] = "";
            size_t n = 0;
            rc = products_import(&db, cfg->tenant, words[2], &n, err, sizeof err);
            if (rc) {
                fprintf(stderr, "p4hq: import products: %s\n",
                        err[0] ? err : "database error (see the log line above)");
                rc = EXIT_FAIL;
            } else {
                printf("imported %zu products\n", n);
            }
        } else {
            rc = cli_change(&db, cfg, words, n_words, &opts);
            if (rc == CLI_NOT_A_CHANGE) {
                fprintf(stderr, "p4hq: unknown command\n%s", usage);
                rc = EXIT_USAGE;
            }
        }
    }
    db_close(&db);
    return rc;
}
