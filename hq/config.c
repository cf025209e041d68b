/* SPDX-License-Identifier: Apache-2.0 */
/* p4hq.ini: defaults, loading with inih, validation and "FILE:LINE: [section] key: what". */
#include "p4hq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <MQTTAsync.h>
#include <ini.h>

#include "p4common.h"

enum key_kind {
    K_TENANT, /* tenant id syntax */
    K_ID,     /* an id: share group, account code */
    K_TEXT,   /* any text that fits */
    K_URI,    /* tcp://, ssl://, mqtt://, mqtts://, ws:// or wss:// */
    K_FILE,   /* an existing readable file */
    K_PATH,   /* a path opened later */
    K_INT,    /* integer within [min, max] */
    K_MQTTV,  /* 3.1.1 | 5 */
    K_LEVEL,  /* debug | info | warn | error */
    K_PERCENT, /* 0..100 with up to two decimals, stored as basis points */
    K_BOOL     /* true | false */
};

struct key_def {
    const char *section;
    const char *key;
    enum key_kind kind;
    size_t off, size;
    int min, max;
    bool required;
};

#define F(field) offsetof(struct p4hq_config, field), sizeof(((struct p4hq_config *)0)->field)

static const struct key_def keys[] = {
    {"tenant", "id", K_TENANT, F(tenant), 0, 0, true},
    {"cloud", "uri", K_URI, F(cloud_uri), 0, 0, true},
    {"cloud", "client_id", K_TEXT, F(client_id), 0, 0, false},
    {"cloud", "mqtt_version", K_MQTTV, F(mqtt_version), 0, 0, false},
    {"cloud", "share_group", K_ID, F(share_group), 0, 0, false},
    {"cloud", "ca_file", K_FILE, F(ca_file), 0, 0, false},
    {"cloud", "cert_file", K_FILE, F(cert_file), 0, 0, false},
    {"cloud", "key_file", K_FILE, F(key_file), 0, 0, false},
    {"cloud", "username", K_TEXT, F(username), 0, 0, false},
    {"cloud", "password_file", K_FILE, F(cloud_password_file), 0, 0, false},
    {"cloud", "keepalive_s", K_INT, F(keepalive_s), 0, 65535, false},
    {"cloud", "reconnect_max_s", K_INT, F(reconnect_max_s), 1, 3600, false},
    {"db", "conninfo", K_TEXT, F(conninfo), 0, 0, true},
    {"db", "password_file", K_FILE, F(db_password_file), 0, 0, false},
    {"http", "listen", K_TEXT, F(http_listen), 0, 0, false},
    {"http", "cert_file", K_FILE, F(http_cert_file), 0, 0, false},
    {"http", "key_file", K_FILE, F(http_key_file), 0, 0, false},
    {"http", "viewer_token_hash", K_TEXT, F(viewer_token_hash), 0, 0, false},
    {"http", "admin_token_hash", K_TEXT, F(admin_token_hash), 0, 0, false},
    {"http", "session_key_file", K_FILE, F(session_key_file), 0, 0, false},
    {"http", "session_hours", K_INT, F(session_hours), 1, 720, false},
    {"http", "timezone", K_TEXT, F(http_timezone), 0, 0, false},
    {"http", "threads", K_INT, F(http_threads), 1, 64, false},
    {"http", "max_connections", K_INT, F(http_max_connections), 4, 10000, false},
    {"http", "feed_retention_h", K_INT, F(feed_retention_h), 1, 8760, false},
    {"http", "requests_per_s", K_INT, F(http_requests_per_s), 0, 100000, false},
    {"http", "request_burst", K_INT, F(http_request_burst), 1, 1000000, false},
    {"http", "login_failures", K_INT, F(http_login_failures), 1, 1000, false},
    {"log", "level", K_LEVEL, F(log_level), 0, 0, false},
    {"log", "file", K_PATH, F(log_file), 0, 0, false},
    {"accounts", "cash", K_ID, F(accounts.cash), 0, 0, false},
    {"accounts", "card", K_ID, F(accounts.card), 0, 0, false},
    {"accounts", "loyalty", K_ID, F(accounts.loyalty), 0, 0, false},
    {"accounts", "other", K_ID, F(accounts.other), 0, 0, false},
    {"accounts", "revenue", K_ID, F(accounts.revenue), 0, 0, false},
    {"accounts", "tax", K_ID, F(accounts.tax), 0, 0, false},
    {"accounts", "cogs", K_ID, F(accounts.cogs), 0, 0, false},
    {"accounts", "inventory", K_ID, F(accounts.inventory), 0, 0, false},
    {"ledger", "default_tax_rate", K_PERCENT, F(default_tax_bp), 0, 0, false},
    {"ingest", "batch_max_messages", K_INT, F(batch_max_messages), 1, 10000, false},
    {"ingest", "queue_max", K_INT, F(queue_max), 1, 1000000, false},
    {"ingest", "queue_max_mb", K_INT, F(queue_max_mb), 1, 65536, false},
    {"ingest", "require_registered_stores", K_BOOL, F(require_registered_stores), 0, 0, false},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

struct load_ctx {
    struct p4hq_config *cfg;
    FILE *f;
    int lineno;
    char *err;
    size_t err_len;
    bool failed;
    bool seen[N_KEYS];
};

static void fail(struct load_ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps the first error only: the operator fixes one line at a time. */
static void fail(struct load_ctx *c, int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (c->failed)
        return;
    c->failed = true;
    n = line > 0 ? snprintf(c->err, c->err_len, "%s:%d: ", c->cfg->file, line)
                 : snprintf(c->err, c->err_len, "%s: ", c->cfg->file);
    if (n < 0 || (size_t)n >= c->err_len)
        return;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
    va_end(ap);
}

void config_defaults(struct p4hq_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mqtt_version = MQTTVERSION_5;
    cfg->keepalive_s = 30;
    cfg->reconnect_max_s = 30;
    cfg->log_level = P4_LOG_INFO;
    snprintf(cfg->http_listen, sizeof cfg->http_listen, "127.0.0.1:8470");
    snprintf(cfg->http_timezone, sizeof cfg->http_timezone, "UTC");
    cfg->session_hours = 12;
    cfg->http_threads = 4;
    cfg->http_max_connections = 256;
    cfg->feed_retention_h = 48;
    cfg->http_requests_per_s = 50;
    cfg->http_request_burst = 200;
    cfg->http_login_failures = 5;
    snprintf(cfg->accounts.cash, sizeof cfg->accounts.cash, "1000");
    snprintf(cfg->accounts.card, sizeof cfg->accounts.card, "1010");
    snprintf(cfg->accounts.other, sizeof cfg->accounts.other, "1190");
    snprintf(cfg->accounts.inventory, sizeof cfg->accounts.inventory, "1200");
    snprintf(cfg->accounts.tax, sizeof cfg->accounts.tax, "2200");
    snprintf(cfg->accounts.loyalty, sizeof cfg->accounts.loyalty, "2300");
    snprintf(cfg->accounts.revenue, sizeof cfg->accounts.revenue, "4000");
    snprintf(cfg->accounts.cogs, sizeof cfg->accounts.cogs, "5000");
    cfg->batch_max_messages = 200;
    cfg->queue_max = 10000;
    cfg->queue_max_mb = 64;
}

int config_parse_percent(const char *s, int *bp)
{
    int whole = 0, frac = 0, digits = 0;
    const char *p = s;

    if (!*p)
        return P4HQ_EINVAL;
    while (*p >= '0' && *p <= '9') {
        whole = whole * 10 + (*p - '0');
        if (whole > 100)
            return P4HQ_EINVAL;
        p++;
        digits++;
    }
    if (digits == 0)
        return P4HQ_EINVAL;
    if (*p == '.') {
        p++;
        for (int i = 0; i < 2; i++) {
            frac *= 10;
            if (*p >= '0' && *p <= '9')
                frac += *p++ - '0';
        }
        if (p[-1] == '.')
            return P4HQ_EINVAL; /* "7." */
    }
    if (*p)
        return P4HQ_EINVAL;
    if (whole * 100 + frac > 10000)
        return P4HQ_EINVAL;
    *bp = whole * 100 + frac;
    return P4HQ_OK;
}

static bool uri_scheme_ok(const char *u)
{
    return strncmp(u, "tcp://", 6) == 0 || strncmp(u, "ssl://", 6) == 0 ||
           strncmp(u, "mqtt://", 7) == 0 || strncmp(u, "mqtts://", 8) == 0 ||
           strncmp(u, "ws://", 5) == 0 || strncmp(u, "wss://", 6) == 0;
}

/* [cloud] uri: one broker, or the nodes of a cluster separated by commas ("a, b"): p4hq
 * connects to the first that answers and fails over to the next when it goes away. All must
 * use TLS or none. */
static int split_uris(struct load_ctx *c, const struct key_def *k, const char *value, int line)
{
    struct p4hq_config *cfg = c->cfg;
    const char *p = value;
    int tls = -1;

    cfg->n_cloud_uris = 0;
    while (*p) {
        size_t n;
        char *u;
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        n = strcspn(p, ", \t");
        if (n == 0)
            break;
        if (cfg->n_cloud_uris == P4HQ_MAX_URIS || n >= P4HQ_TEXT_MAX) {
            fail(c, line, "[%s] %s: at most %d URIs of %d characters", k->section, k->key,
                 P4HQ_MAX_URIS, P4HQ_TEXT_MAX - 1);
            return -1;
        }
        u = cfg->cloud_uris[cfg->n_cloud_uris++];
        memcpy(u, p, n);
        u[n] = '\0';
        if (!uri_scheme_ok(u)) {
            fail(c, line, "[%s] %s: \"%s\" must start with tcp://, ssl://, mqtt://, mqtts://, "
                          "ws:// or wss://",
                 k->section, k->key, u);
            return -1;
        }
        if (tls >= 0 && tls != (strncmp(u, "ssl", 3) == 0 || strncmp(u, "mqtts", 5) == 0 ||
                                strncmp(u, "wss", 3) == 0)) {
            fail(c, line, "[%s] %s: either every URI uses TLS or none does", k->section,
                 k->key);
            return -1;
        }
        tls = strncmp(u, "ssl", 3) == 0 || strncmp(u, "mqtts", 5) == 0 ||
              strncmp(u, "wss", 3) == 0;
        p += n;
    }
    if (cfg->n_cloud_uris == 0) {
        fail(c, line, "[%s] %s: empty", k->section, k->key);
        return -1;
    }
    return 0;
}

static int set_key(struct load_ctx *c, const struct key_def *k, const char *value, int line)
{
    char *field = (char *)c->cfg + k->off;
    size_t n = strlen(value);
    long long v;
    char *end;

    switch (k->kind) {
    case K_TENANT:
        if (!p4t_id_valid(value)) {
            fail(c, line, "[%s] %s: must be 1..32 characters [a-z0-9_-] starting with [a-z0-9]",
                 k->section, k->key);
            return 0;
        }
        break;
    case K_ID:
        if (n > 0 && !p4t_id_valid(value)) {
            fail(c, line, "[%s] %s: must be 1..32 characters [a-z0-9_-] starting with [a-z0-9]",
                 k->section, k->key);
            return 0;
        }
        break;
    case K_URI:
        if (split_uris(c, k, value, line) != 0)
            return 0;
        break;
    case K_FILE:
        if (n > 0 && access(value, R_OK) != 0) {
            fail(c, line, "[%s] %s: cannot read \"%s\"", k->section, k->key, value);
            return 0;
        }
        break;
    case K_INT:
        v = strtoll(value, &end, 10);
        if (!*value || *end || v < k->min || v > k->max) {
            fail(c, line, "[%s] %s: must be an integer %d..%d", k->section, k->key, k->min,
                 k->max);
            return 0;
        }
        *(int *)field = (int)v;
        return 1;
    case K_MQTTV:
        if (strcmp(value, "5") == 0) {
            *(int *)field = MQTTVERSION_5;
        } else if (strcmp(value, "3.1.1") == 0) {
            *(int *)field = MQTTVERSION_3_1_1;
        } else {
            fail(c, line, "[%s] %s: must be 3.1.1 or 5", k->section, k->key);
            return 0;
        }
        return 1;
    case K_LEVEL: {
        enum p4_log_level lv;
        if (p4_log_parse_level(value, &lv) != 0) {
            fail(c, line, "[%s] %s: must be debug, info, warn or error", k->section, k->key);
            return 0;
        }
        *(int *)field = (int)lv;
        return 1;
    }
    case K_PERCENT:
        if (config_parse_percent(value, (int *)field) != 0) {
            fail(c, line, "[%s] %s: must be a percent 0..100 with at most two decimals",
                 k->section, k->key);
            return 0;
        }
        return 1;
    case K_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
            *(bool *)field = strcmp(value, "true") == 0;
            return 1;
        }
        fail(c, line, "[%s] %s: must be true or false", k->section, k->key);
        return 0;
    case K_TEXT:
    case K_PATH:
        break;
    }
    if (n >= k->size) {
        fail(c, line, "[%s] %s: longer than %zu characters", k->section, k->key, k->size - 1);
        return 0;
    }
    memcpy(field, value, n + 1);
    return 1;
}

/* inih reader: one line at a time, so the handler knows the line number (Debian's inih is
 * built without INI_HANDLER_LINENO), with leading blanks stripped. NULL stops the parse. */
static char *line_reader(char *str, int num, void *stream)
{
    struct load_ctx *c = stream;
    size_t len, skip = 0;

    if (c->failed || !fgets(str, num, c->f))
        return NULL;
    c->lineno++;
    len = strlen(str);
    if ((len == 0 || str[len - 1] != '\n') && !feof(c->f)) {
        fail(c, c->lineno, "line longer than %d bytes", num - 2);
        return NULL;
    }
    while (str[skip] == ' ' || str[skip] == '\t')
        skip++;
    if (skip)
        memmove(str, str + skip, len - skip + 1);
    return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *c = user;
    bool section_known = false;
    int line = c->lineno;

    if (c->failed)
        return 0;
    if (!name)
        return 1;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        section_known = true;
        if (strcmp(keys[i].key, name) != 0)
            continue;
        if (c->seen[i]) {
            fail(c, line, "[%s] %s: given twice", section, name);
            return 1;
        }
        c->seen[i] = true;
        set_key(c, &keys[i], value, line);
        return 1;
    }
    if (section_known)
        fail(c, line, "[%s] %s: unknown key", section, name);
    else
        fail(c, line, "[%s]: unknown section", section);
    return 1;
}

int config_load(struct p4hq_config *cfg, const char *path, char *err, size_t err_len)
{
    struct load_ctx c = {.cfg = cfg, .err = err, .err_len = err_len};
    int rc;

    err[0] = '\0';
    snprintf(cfg->file, sizeof cfg->file, "%s", path);
    c.f = fopen(path, "r");
    if (!c.f) {
        fail(&c, 0, "cannot open: %s", strerror(errno));
        return P4HQ_EINVAL;
    }
    rc = ini_parse_stream(line_reader, &c, on_key, &c);
    fclose(c.f);
    if (rc > 0 && !c.failed)
        fail(&c, rc, "syntax error: expected [section], key = value or a comment");
    for (size_t i = 0; i < N_KEYS && !c.failed; i++) {
        if (keys[i].required && !c.seen[i])
            fail(&c, 0, "[%s] %s: missing", keys[i].section, keys[i].key);
    }
    if (!c.failed && (cfg->cert_file[0] != '\0') != (cfg->key_file[0] != '\0'))
        fail(&c, 0, "[cloud] cert_file and key_file: give both or neither");
    if (!c.failed && (cfg->http_cert_file[0] != '\0') != (cfg->http_key_file[0] != '\0'))
        fail(&c, 0, "[http] cert_file and key_file: give both or neither");
    if (!c.failed && cfg->http_listen[0]) {
        char why[P4HQ_TEXT_MAX + 64];

        if (http_check_config(cfg, why, sizeof why) != 0)
            fail(&c, 0, "%s", why);
    }
    if (!c.failed && cfg->share_group[0] && cfg->mqtt_version != MQTTVERSION_5 &&
        cfg->mqtt_version != MQTTVERSION_3_1_1)
        fail(&c, 0, "[cloud] share_group: needs mqtt_version 5 or 3.1.1");
    if (!c.failed && !cfg->client_id[0]) {
        /* Stable across restarts, so the broker's persistent session is found again; a second
         * process on the same host must set its own. */
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(cfg->client_id, sizeof cfg->client_id, "p4hq-%s-%s", cfg->tenant, host);
    }
    return c.failed ? P4HQ_EINVAL : P4HQ_OK;
}
