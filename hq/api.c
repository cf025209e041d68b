/* SPDX-License-Identifier: Apache-2.0 */
/* The read API behind the dashboard: summary, stores, per-minute series, top products, alerts,
 * latest sales and one consistent snapshot of them all, as JSON built by PostgreSQL; and the
 * one write, an admin's acknowledgement of an alert. Each MHD thread has its own connection. */
#include "dash.h"
#include "embed.h"
#include "metrics.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "p4common.h"

#define SEARCH_MAX 32
#define LIMIT_MAX 1000

/* Where "today" starts in [http] timezone, and now. */
#define SQL_DAY                                                                                 \
    "WITH b AS (SELECT date_trunc('day', now() AT TIME ZONE $2) AT TIME ZONE $2 AS d0,"        \
    " now() AS t)"
/* Sales of today and of last week's same day up to the same time of day. */
#define SQL_TODAY_AND_LAST_WEEK                                                                 \
    " ((s.ts >= b.d0 AND s.ts < b.d0 + interval '1 day') OR"                                \
    " (s.ts >= b.d0 - interval '7 days' AND s.ts < b.t - interval '7 days'))"
#define SQL_FIGURES                                                                             \
    " coalesce(sum(s.total_minor) FILTER (WHERE s.ts >= b.d0), 0)::bigint AS amount,"         \
    " count(*) FILTER (WHERE s.ts >= b.d0 AND s.kind = 'sale') AS n,"                           \
    " coalesce(sum(s.total_minor) FILTER (WHERE s.ts >= b.d0 AND s.kind = 'sale'), 0)::bigint" \
    "  AS sold,"                                                                                \
    " coalesce(sum(s.units) FILTER (WHERE s.ts >= b.d0), 0)::bigint AS units,"                 \
    " coalesce(sum(s.total_minor) FILTER (WHERE s.ts < b.d0), 0)::bigint AS lw_amount,"       \
    " count(*) FILTER (WHERE s.ts < b.d0 AND s.kind = 'sale') AS lw_n,"                         \
    " coalesce(sum(s.total_minor) FILTER (WHERE s.ts < b.d0 AND s.kind = 'sale'), 0)::bigint"  \
    "  AS lw_sold"
#define SQL_AVG(sold, n)                                                                        \
    "CASE WHEN " n " > 0 THEN round(" sold "::numeric / " n ")::bigint ELSE 0 END"
#define SQL_OPEN_ALERT                                                                          \
    " NOT EXISTS (SELECT 1 FROM alert_acks k WHERE k.tenant = a.tenant"                         \
    " AND k.alert_id = a.alert_id)"

/* $1 tenant, $2 timezone, $3 store ('' = the chain) */
static const char sql_summary[] =
    SQL_DAY ", x AS (SELECT" SQL_FIGURES " FROM b, sales s WHERE s.tenant = $1"
    " AND ($3 = '' OR s.store = $3) AND" SQL_TODAY_AND_LAST_WEEK ")"
    " SELECT json_build_object('day_start', dash_ts(b.d0), 'now', dash_ts(b.t),"
    " 'timezone', $2::text, 'store', nullif($3, ''), 'amount', x.amount, 'count', x.n,"
    " 'units', x.units, 'avg_basket', " SQL_AVG("x.sold", "x.n") ","
    " 'stores', (SELECT count(*) FROM stores WHERE tenant = $1),"
    " 'last_week', CASE WHEN EXISTS (SELECT 1 FROM sales WHERE tenant = $1"
    "  AND ($3 = '' OR store = $3) AND ts >= b.d0 - interval '7 days'"
    "  AND ts < b.d0 - interval '6 days') THEN json_build_object('amount', x.lw_amount,"
    "  'count', x.lw_n, 'avg_basket', " SQL_AVG("x.lw_sold", "x.lw_n") ") END)::text"
    " FROM b, x";

/* $1 tenant, $2 minutes, $3 store */
static const char sql_series[] =
    "WITH b AS (SELECT date_trunc('minute', now()) - ($2::int - 1) * interval '1 minute' AS m0)"
    " SELECT coalesce(json_agg(json_build_object('minute', dash_ts(g.m),"
    " 'count', coalesce(x.n, 0), 'amount', coalesce(x.amount, 0)) ORDER BY g.m), '[]')::text"
    " FROM b CROSS JOIN generate_series(b.m0, date_trunc('minute', now()), interval '1 minute')"
    "  g(m)"
    " LEFT JOIN (SELECT date_trunc('minute', s.ts) AS m,"
    "  count(*) FILTER (WHERE s.kind = 'sale') AS n, sum(s.total_minor)::bigint AS amount"
    "  FROM b, sales s WHERE s.tenant = $1 AND s.ts >= b.m0 AND ($3 = '' OR s.store = $3)"
    "  GROUP BY 1) x ON x.m = g.m";

/* $1 tenant, $2 timezone, $3 store, $4 limit */
static const char sql_top[] =
    SQL_DAY ", t AS (SELECT l.sku, sum(l.qty * l.price_minor)::bigint AS revenue,"
    " sum(l.qty)::bigint AS units FROM b, sales s JOIN sale_lines l ON l.tenant = s.tenant"
    " AND l.store = s.store AND l.gw_seq = s.gw_seq WHERE s.tenant = $1"
    " AND s.ts >= b.d0 AND s.ts < b.d0 + interval '1 day' AND ($3 = '' OR s.store = $3)"
    " GROUP BY l.sku),"
    " n AS (SELECT t.*, p.name FROM t LEFT JOIN products p ON p.tenant = $1 AND p.sku = t.sku)"
    " SELECT json_build_object("
    " 'by_revenue', (SELECT coalesce(json_agg(r ORDER BY r.revenue DESC, r.sku), '[]') FROM"
    "  (SELECT * FROM n ORDER BY revenue DESC, sku LIMIT $4) r),"
    " 'by_units', (SELECT coalesce(json_agg(r ORDER BY r.units DESC, r.sku), '[]') FROM"
    "  (SELECT * FROM n ORDER BY units DESC, sku LIMIT $4) r))::text";

/* $1 tenant, $2 limit, $3 open only, $4 store */
static const char sql_alerts[] =
    "SELECT json_build_object('open', (SELECT count(*) FROM alerts a WHERE a.tenant = $1"
    " AND ($4 = '' OR a.store = $4) AND" SQL_OPEN_ALERT "),"
    " 'alerts', (SELECT coalesce(json_agg(r ORDER BY r.ts DESC, r.id), '[]') FROM ("
    "  SELECT a.alert_id AS id, a.store, a.source, a.kind, a.severity, dash_ts(a.ts) AS ts,"
    "  a.message, a.sku, a.sales, a.details, dash_ts(a.received_at) AS received_at,"
    "  dash_ts(k.acked_at) AS acked_at, k.acked_by FROM alerts a LEFT JOIN alert_acks k"
    "  ON k.tenant = a.tenant AND k.alert_id = a.alert_id WHERE a.tenant = $1"
    "  AND (NOT $3::boolean OR k.alert_id IS NULL) AND ($4 = '' OR a.store = $4)"
    "  ORDER BY a.ts DESC, a.alert_id LIMIT $2) r))::text";

/* $1 tenant, $2 timezone, $3 search, $4 limit, $5 one store ('' = all). The held/gaps part is
 * the same rule as `p4hq stores` (cli.c). */
static const char sql_stores[] =
    SQL_DAY ", st AS (SELECT * FROM stores WHERE tenant = $1 AND ($5 = '' OR store = $5)),"
    " held AS (SELECT s.store, x.gw_seq FROM st s CROSS JOIN LATERAL ("
    "  SELECT gw_seq FROM sales WHERE tenant = s.tenant AND store = s.store"
    "   AND gw_seq >= s.hq_through"
    "  UNION SELECT gw_seq FROM record_exceptions WHERE tenant = s.tenant AND store = s.store"
    "   AND gw_seq >= s.hq_through"
    "  UNION SELECT s.hq_through) x),"
    " gaps AS (SELECT store, gw_seq + 1 AS a, next - 1 AS z FROM ("
    "  SELECT store, gw_seq, lead(gw_seq) OVER (PARTITION BY store ORDER BY gw_seq) AS next"
    "  FROM held) t WHERE next > gw_seq + 1),"
    " g AS (SELECT store, string_agg(CASE WHEN a = z THEN a::text ELSE a || '-' || z END, ','"
    "  ORDER BY a) AS ranges, sum(z - a + 1)::bigint AS n FROM gaps GROUP BY store),"
    " agg AS (SELECT s.store," SQL_FIGURES " FROM b, sales s WHERE s.tenant = $1"
    "  AND ($5 = '' OR s.store = $5) AND" SQL_TODAY_AND_LAST_WEEK " GROUP BY s.store),"
    " al AS (SELECT a.store, count(*) AS n FROM alerts a WHERE a.tenant = $1 AND"
    SQL_OPEN_ALERT " GROUP BY a.store),"
    " r AS (SELECT st.store, st.state, st.outbox, st.delivered, st.hq_through, st.max_gw_seq,"
    "  greatest(st.max_gw_seq, coalesce(st.delivered, 0) + coalesce(st.outbox, 0))"
    "   AS store_head,"
    "  coalesce(g.n, 0) AS missing_count, coalesce(g.ranges, '') AS missing,"
    "  dash_ts(st.last_seen) AS last_seen, dash_ts(st.status_ts) AS status_ts,"
    "  coalesce(agg.amount, 0) AS amount, coalesce(agg.n, 0) AS count,"
    "  " SQL_AVG("coalesce(agg.sold, 0)", "coalesce(agg.n, 0)") " AS avg_basket,"
    "  CASE WHEN agg.lw_n > 0 THEN agg.lw_amount END AS last_week_amount,"
    "  CASE WHEN agg.lw_n > 0 THEN agg.lw_n END AS last_week_count,"
    "  coalesce(al.n, 0) AS open_alerts,"
    "  (coalesce(st.state, '') <> 'online' OR coalesce(g.n, 0) > 0 OR coalesce(al.n, 0) > 0)"
    "   AS attention"
    "  FROM st LEFT JOIN g USING (store) LEFT JOIN agg USING (store) LEFT JOIN al USING (store)),"
    " f AS (SELECT * FROM r WHERE $3 = '' OR strpos(lower(store), lower($3)) > 0)"
    " SELECT json_build_object('total', (SELECT count(*) FROM r),"
    " 'attention', (SELECT count(*) FROM r WHERE attention),"
    " 'matched', (SELECT count(*) FROM f),"
    " 'stores', (SELECT coalesce(json_agg(x ORDER BY x.attention DESC, x.store), '[]') FROM"
    "  (SELECT * FROM f ORDER BY attention DESC, store LIMIT $4) x))::text";

/* $1 tenant, $2 limit, $3 store: the latest sales as the stream sent them. */
static const char sql_ticker[] =
    "SELECT coalesce(json_agg(x.e ORDER BY x.id DESC), '[]')::text FROM ("
    " SELECT id, body || jsonb_build_object('feed_id', id) AS e FROM dash_feed"
    " WHERE tenant = $1 AND kind = 'sale' AND ($3 = '' OR store = $3)"
    " ORDER BY id DESC LIMIT $2) x";

/* Every event with a higher id is one this snapshot does not show (002_dashboard.sql). */
static const char sql_feed_id[] =
    "SELECT greatest(coalesce((SELECT max(id) FROM dash_feed), 0),"
    " (SELECT pruned_through FROM dash_feed_horizon))";

/* $1 tenant, $2 alert id, $3 who */
static const char sql_ack[] =
    "WITH a AS (SELECT tenant, alert_id FROM alerts WHERE tenant = $1 AND alert_id = $2::uuid),"
    " i AS (INSERT INTO alert_acks (tenant, alert_id, acked_by) SELECT tenant, alert_id, $3"
    "  FROM a ON CONFLICT DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM i)";

static const struct {
    const char *name, *sql;
} statements[] = {
    {"summary", sql_summary}, {"series", sql_series}, {"top", sql_top},
    {"alerts", sql_alerts},   {"stores", sql_stores}, {"ticker", sql_ticker},
    {"feed_id", sql_feed_id}, {"ack", sql_ack},
};

/* ---- the connection of this thread ---- */

static pthread_key_t db_key;
static pthread_once_t db_once = PTHREAD_ONCE_INIT;

static void db_key_free(void *p)
{
    db_close(p);
    free(p);
}

static void db_key_make(void)
{
    pthread_key_create(&db_key, db_key_free);
}

/* This thread's connection, opened (and its statements prepared) on first use or after it was
 * lost; NULL when the database cannot be reached (logged by db_open). */
static struct db *thread_db(const struct p4hq_config *cfg)
{
    struct db *db;

    pthread_once(&db_once, db_key_make);
    db = pthread_getspecific(db_key);
    if (db && db_ok(db))
        return db;
    if (!db) {
        db = calloc(1, sizeof *db);
        if (!db)
            return NULL;
        pthread_setspecific(db_key, db);
    }
    db_close(db);
    if (db_open(db, cfg, "p4hq http") != 0)
        return NULL;
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
        if (db_prepare(db, statements[i].name, statements[i].sql) != 0) {
            db_close(db);
            return NULL;
        }
    }
    return db;
}

bool api_db_up(const struct p4hq_config *cfg)
{
    struct db *db = thread_db(cfg);

    return db && db_exec(db, "SELECT 1", "health") == 0;
}

bool api_schema_current(const struct p4hq_config *cfg)
{
    struct db *db = thread_db(cfg);
    PGresult *res;
    bool current = true;

    if (!db || db_query(db, "SELECT version FROM schema_version", 0, NULL, &res) != 0)
        return false;
    for (size_t i = 0; i < hq_migrations_n && current; i++) {
        bool found = false;
        for (int r = 0; r < PQntuples(res) && !found; r++)
            found = atoi(PQgetvalue(res, r, 0)) == atoi(hq_migrations[i].name);
        current = found;
    }
    PQclear(res);
    return current;
}

void api_metrics(const struct p4hq_config *cfg, struct link *link, int sse_clients,
                 struct reply *out)
{
    char *text = NULL;
    size_t len = 0;

    if (metrics_render(thread_db(cfg), cfg, link, sse_clients, &text, &len) != 0) {
        api_error(out, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics: out of memory");
        return;
    }
    out->status = MHD_HTTP_OK;
    out->body = text;
    out->len = len;
}

/* ---- replies ---- */

static void reply_take(struct reply *out, unsigned int status, char *body)
{
    out->status = status;
    out->body = body;
    out->len = body ? strlen(body) : 0;
}

void api_error(struct reply *out, unsigned int status, const char *what)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    if (o && cJSON_AddStringToObject(o, "error", what))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    reply_take(out, status, text ? text : strdup("{\"error\":\"server: out of memory\"}"));
}

static void reply_db_error(struct reply *out)
{
    api_error(out, MHD_HTTP_SERVICE_UNAVAILABLE, "database: unavailable, try again");
}

/* Runs statement NAME and takes its one text value as the reply. */
static int run_json(struct db *db, const char *name, int n, const char *const *params,
                    char **json)
{
    PGresult *res;

    *json = NULL;
    if (db_run(db, name, n, params, &res) != 0)
        return P4HQ_EDB;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        *json = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return *json ? P4HQ_OK : P4HQ_ENOMEM;
}

/* ---- arguments ---- */

struct args {
    const char *store;   /* '' = the chain */
    const char *q;
    char limit[12];
    char minutes[12];
    bool all;
};

/* Reads and checks the query string. Returns 0 or fills OUT with the 400 reply. */
static int parse_args(struct MHD_Connection *conn, struct args *a, int default_limit,
                      struct reply *out)
{
    const char *v;
    long n;
    char *end;

    memset(a, 0, sizeof *a);
    a->store = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "store");
    if (!a->store)
        a->store = "";
    if (a->store[0] && !p4t_id_valid(a->store)) {
        api_error(out, MHD_HTTP_BAD_REQUEST, "store: not a store id ([a-z0-9_-], 1..32)");
        return -1;
    }
    a->q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "q");
    if (!a->q)
        a->q = "";
    if (strlen(a->q) > SEARCH_MAX) {
        api_error(out, MHD_HTTP_BAD_REQUEST, "q: longer than " "32" " characters");
        return -1;
    }
    v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    n = default_limit;
    if (v) {
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || !*v || *end || n < 1 || n > LIMIT_MAX) {
            api_error(out, MHD_HTTP_BAD_REQUEST, "limit: must be an integer 1..1000");
            return -1;
        }
    }
    snprintf(a->limit, sizeof a->limit, "%ld", n);
    v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "minutes");
    n = 60;
    if (v) {
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || !*v || *end || n < 1 || n > 1440) {
            api_error(out, MHD_HTTP_BAD_REQUEST, "minutes: must be an integer 1..1440");
            return -1;
        }
    }
    snprintf(a->minutes, sizeof a->minutes, "%ld", n);
    v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "all");
    a->all = v && strcmp(v, "1") == 0;
    return 0;
}

static bool uuid_valid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* ---- the routes ---- */

struct part {
    const char *key;
    char *json;
};

/* Writes {"k":json,...} of N parts into a new string. */
static char *join_object(struct part *parts, size_t n)
{
    size_t len = 3;
    char *out, *p;

    for (size_t i = 0; i < n; i++)
        len += strlen(parts[i].key) + strlen(parts[i].json) + 4;
    out = malloc(len);
    if (!out)
        return NULL;
    p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\"%s\":%s", i ? "," : "", parts[i].key, parts[i].json);
    *p++ = '}';
    *p = '\0';
    return out;
}

/* Runs the page's queries in one REPEATABLE READ snapshot with the feed id it corresponds to:
 * the page applies only stream events after that id, so nothing is counted twice or missed. */
static int snapshot(const struct p4hq_config *cfg, struct db *db, const struct args *a,
                    const char *only_store, char **out)
{
    const char *p_sum[3] = {cfg->tenant, cfg->http_timezone, a->store};
    const char *p_series[3] = {cfg->tenant, a->minutes, a->store};
    const char *p_top[4] = {cfg->tenant, cfg->http_timezone, a->store, "10"};
    const char *p_alerts[4] = {cfg->tenant, "50", "true", a->store};
    const char *p_stores[5] = {cfg->tenant, cfg->http_timezone, a->q, a->limit, only_store};
    const char *p_ticker[3] = {cfg->tenant, "20", a->store};
    struct part parts[7] = {{"feed_id", NULL}, {"summary", NULL}, {"stores", NULL},
                            {"series", NULL},  {"top", NULL},     {"alerts", NULL},
                            {"sales", NULL}};
    int rc;

    *out = NULL;
    rc = db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "snapshot");
    if (!rc)
        rc = run_json(db, "feed_id", 0, NULL, &parts[0].json);
    if (!rc)
        rc = run_json(db, "summary", 3, p_sum, &parts[1].json);
    if (!rc)
        rc = run_json(db, "stores", 5, p_stores, &parts[2].json);
    if (!rc)
        rc = run_json(db, "series", 3, p_series, &parts[3].json);
    if (!rc)
        rc = run_json(db, "top", 4, p_top, &parts[4].json);
    if (!rc)
        rc = run_json(db, "alerts", 4, p_alerts, &parts[5].json);
    if (!rc)
        rc = run_json(db, "ticker", 3, p_ticker, &parts[6].json);
    if (db_ok(db))
        db_exec(db, rc ? "ROLLBACK" : "COMMIT", "snapshot end");
    if (!rc) {
        *out = join_object(parts, 7);
        if (!*out)
            rc = P4HQ_ENOMEM;
    }
    for (int i = 0; i < 7; i++)
        free(parts[i].json);
    return rc;
}

static void post_ack(const struct p4hq_config *cfg, struct db *db, const char *id,
                     const char *body, size_t body_len, enum role role,
                     const struct audit_actor *who, struct reply *out)
{
    const char *params[3] = {cfg->tenant, id, role_name(role)};
    PGresult *res;
    cJSON *j = NULL;
    char text[96];

    /* The body is optional; when given it must be a JSON object (nothing in it is used yet). */
    if (body_len) {
        j = cJSON_ParseWithLength(body, body_len);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            api_error(out, MHD_HTTP_BAD_REQUEST, "body: must be a JSON object");
            return;
        }
        cJSON_Delete(j);
    }
    if (!uuid_valid(id)) {
        api_error(out, MHD_HTTP_BAD_REQUEST, "id: not an alert id (a UUID)");
        return;
    }
    /* The acknowledgement and its audit row commit together. */
    if (db_exec(db, "BEGIN", "begin") != 0 || db_run(db, "ack", 3, params, &res) != 0) {
        if (db_ok(db))
            db_exec(db, "ROLLBACK", "rollback");
        reply_db_error(out);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
        PQclear(res);
        db_exec(db, "ROLLBACK", "rollback");
        api_error(out, MHD_HTTP_NOT_FOUND, "id: no such alert");
        return;
    }
    snprintf(text, sizeof text, "{\"id\":\"%s\",\"acked\":true,\"new\":%s}", id,
             strcmp(PQgetvalue(res, 0, 1), "0") ? "true" : "false");
    PQclear(res);
    if ((strstr(text, "\"new\":true") &&
         audit_record(db, cfg->tenant, who, "alert.ack", text) != 0) ||
        db_exec(db, "COMMIT", "commit") != 0) {
        if (db_ok(db))
            db_exec(db, "ROLLBACK", "rollback");
        reply_db_error(out);
        return;
    }
    reply_take(out, MHD_HTTP_OK, strdup(text));
}

void api_handle(const struct p4hq_config *cfg, struct MHD_Connection *conn, const char *method,
                const char *url, const char *body, size_t body_len, enum role role,
                const struct audit_actor *who, struct reply *out)
{
    const char *path = url + strlen("/api/");
    struct args a;
    struct db *db;
    char *json = NULL;
    int rc = P4HQ_EINVAL;

    memset(out, 0, sizeof *out);
    if (strcmp(path, "me") == 0 && strcmp(method, "GET") == 0) {
        char text[64];

        snprintf(text, sizeof text, "{\"role\":\"%s\",\"tenant\":\"%s\"}", role_name(role),
                 cfg->tenant);
        reply_take(out, MHD_HTTP_OK, strdup(text));
        return;
    }
    if (strcmp(method, "POST") == 0) {
        size_t n = strlen(path);

        if (role != ROLE_ADMIN) {
            api_error(out, MHD_HTTP_FORBIDDEN, "role: a viewer token cannot change anything");
            return;
        }
        /* Changes to master data (api_write.c). */
        if (api_write_handle(cfg, thread_db(cfg), path, body, body_len, who, out))
            return;
        if (strncmp(path, "alerts/", 7) != 0 || n < 11 || strcmp(path + n - 4, "/ack") != 0) {
            api_error(out, MHD_HTTP_NOT_FOUND, "path: no such resource");
            return;
        }
        db = thread_db(cfg);
        if (!db) {
            reply_db_error(out);
            return;
        }
        {
            char id[64];

            snprintf(id, sizeof id, "%.*s", (int)(n - 11), path + 7);
            post_ack(cfg, db, id, body, body_len, role, who, out);
        }
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        api_error(out, MHD_HTTP_METHOD_NOT_ALLOWED, "method: only GET, and POST to write");
        return;
    }
    if (parse_args(conn, &a, strcmp(path, "stores") == 0 || strcmp(path, "snapshot") == 0
                                 ? 100 : 20, out) != 0)
        return;
    db = thread_db(cfg);
    if (!db) {
        reply_db_error(out);
        return;
    }
    if (strcmp(path, "summary") == 0) {
        const char *p[3] = {cfg->tenant, cfg->http_timezone, a.store};

        rc = run_json(db, "summary", 3, p, &json);
    } else if (strcmp(path, "series") == 0) {
        const char *p[3] = {cfg->tenant, a.minutes, a.store};

        rc = run_json(db, "series", 3, p, &json);
    } else if (strcmp(path, "top") == 0) {
        const char *p[4] = {cfg->tenant, cfg->http_timezone, a.store, a.limit};

        rc = run_json(db, "top", 4, p, &json);
    } else if (strcmp(path, "alerts") == 0) {
        const char *p[4] = {cfg->tenant, a.limit, a.all ? "false" : "true", a.store};

        rc = run_json(db, "alerts", 4, p, &json);
    } else if (strcmp(path, "sales") == 0) {
        const char *p[3] = {cfg->tenant, a.limit, a.store};

        rc = run_json(db, "ticker", 3, p, &json);
    } else if (strcmp(path, "stores") == 0) {
        const char *p[5] = {cfg->tenant, cfg->http_timezone, a.q, a.limit, ""};

        rc = run_json(db, "stores", 5, p, &json);
    } else if (strcmp(path, "snapshot") == 0) {
        rc = snapshot(cfg, db, &a, "", &json);
    } else if (strncmp(path, "stores/", 7) == 0) {
        const char *store = path + 7;

        if (!p4t_id_valid(store)) {
            api_error(out, MHD_HTTP_NOT_FOUND, "store: not a store id");
            return;
        }
        a.store = store;
        snprintf(a.limit, sizeof a.limit, "1");
        rc = snapshot(cfg, db, &a, store, &json);
        if (!rc && strstr(json, "\"total\" : 0,")) {
            free(json);
            api_error(out, MHD_HTTP_NOT_FOUND, "store: HQ has not heard of this store");
            return;
        }
    } else {
        api_error(out, MHD_HTTP_NOT_FOUND, "path: no such resource");
        return;
    }
    if (rc) {
        free(json);
        if (rc == P4HQ_EDB)
            reply_db_error(out);
        else
            api_error(out, MHD_HTTP_INTERNAL_SERVER_ERROR, "server: out of memory");
        return;
    }
    reply_take(out, MHD_HTTP_OK, json);
}
