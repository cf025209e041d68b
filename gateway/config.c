/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway's INI file: defaults, loading with inih, validation and one-line errors. */
#include "p4gw.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>
#include <ini.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "link.h"
#include "p4common.h"

enum key_kind {
    K_TENANT,   /* tenant id syntax */
    K_STORE,    /* store id syntax */
    K_TEXT,     /* any text that fits */
    K_URI,      /* MQTT server URI */
    K_URIS,     /* one MQTT server URI, or a cluster's nodes separated by commas */
    K_FILE,     /* an existing readable file */
    K_PATH,     /* a path we will create or open later */
    K_INT,      /* integer within [min, max], stored in an int */
    K_INT64,    /* integer within [min, max], stored in an int64_t */
    K_MQTTV,    /* 3.1.1 | 5 */
    K_DURABLE,  /* full | normal */
    K_LEVEL,    /* debug | info | warn | error */
    K_CHOICE,   /* one of two words: the second sets the bool field */
};

struct key_def {
    const char *section;
    const char *key;
    enum key_kind kind;
    size_t off;  /* offset of the field in struct p4gw_config */
    size_t size; /* size of a char[] field */
    int64_t min, max;
    bool required;
    const char *choice[2]; /* K_CHOICE: false word, true word */
};

#define F(field) offsetof(struct p4gw_config, field), sizeof(((struct p4gw_config *)0)->field)

static const struct key_def keys[] = {
    {"store", "tenant", K_TENANT, F(tenant), 0, 0, true, {NULL, NULL}},
    {"store", "id", K_STORE, F(store), 0, 0, true, {NULL, NULL}},
    {"local", "uri", K_URI, F(local_uri), 0, 0, true, {NULL, NULL}},
    {"local", "client_id", K_TEXT, F(local_client_id), 0, 0, false, {NULL, NULL}},
    {"local", "username", K_TEXT, F(local_username), 0, 0, false, {NULL, NULL}},
    {"local", "password_file", K_FILE, F(local_password_file), 0, 0, false, {NULL, NULL}},
    {"cloud", "uri", K_URIS, F(cloud_uri), 0, 0, true, {NULL, NULL}},
    {"cloud", "client_id", K_TEXT, F(cloud_client_id), 0, 0, false, {NULL, NULL}},
    {"cloud", "mqtt_version", K_MQTTV, F(mqtt_version), 0, 0, false, {NULL, NULL}},
    {"cloud", "ca_file", K_FILE, F(ca_file), 0, 0, false, {NULL, NULL}},
    {"cloud", "cert_file", K_FILE, F(cert_file), 0, 0, false, {NULL, NULL}},
    {"cloud", "key_file", K_FILE, F(key_file), 0, 0, false, {NULL, NULL}},
    {"cloud", "max_inflight", K_INT, F(max_inflight), 1, 65535, false, {NULL, NULL}},
    {"cloud", "keepalive_s", K_INT, F(keepalive_s), 0, 65535, false, {NULL, NULL}},
    {"cloud", "session_expiry_s", K_INT64, F(session_expiry_s), 0, 4294967295LL, false,
     {NULL, NULL}},
    {"cloud", "batch_max_items", K_INT, F(batch_max_items), 1, 100000, false, {NULL, NULL}},
    {"cloud", "batch_max_bytes", K_INT64, F(batch_max_bytes), 1024, 268435455, false, {NULL, NULL}},
    {"cloud", "reconnect_max_s", K_INT, F(reconnect_max_s), 1, 3600, false, {NULL, NULL}},
    {"replica", "path", K_PATH, F(replica_path), 0, 0, true, {NULL, NULL}},
    {"replica", "durability", K_DURABLE, F(durability_full), 0, 0, false, {NULL, NULL}},
    {"replica", "outbox_cap", K_INT64, F(outbox_cap), 1, 1000000000000LL, false, {NULL, NULL}},
    {"replica", "changes_keep", K_INT64, F(changes_keep), 1, 1000000000000LL, false, {NULL, NULL}},
    {"replica", "commit_max_items", K_INT, F(commit_max_items), 1, 100000, false, {NULL, NULL}},
    {"cloud", "resync_after_s", K_INT64, F(resync_after_s), 1, 31536000, false, {NULL, NULL}},
    {"cloud", "delivered_on", K_CHOICE, F(delivered_on_puback), 0, 0, false, {"hq", "puback"}},
    {"cloud", "hq_resend_s", K_INT64, F(hq_resend_s), 1, 86400, false, {NULL, NULL}},
    {"cloud", "keep_delivered_h", K_INT64, F(keep_delivered_h), 0, 8760, false, {NULL, NULL}},
    {"cloud", "compress", K_CHOICE, F(compress_zstd), 0, 0, false, {"none", "zstd"}},
    {"cloud", "live_lane", K_CHOICE, F(live_lane), 0, 0, false, {"off", "on"}},
    {"cloud", "backlog_window_bytes", K_INT64, F(backlog_window_bytes), 4096, 268435455, false,
     {NULL, NULL}},
    {"cloud", "backlog_ahead_max", K_INT64, F(backlog_ahead_max), 0, 100000000, false,
     {NULL, NULL}},
    {"policy", "negative_stock", K_CHOICE, F(negative_stock_hold), 0, 0, false,
     {"allow", "hold"}},
    {"policy", "offline_loyalty_redeem", K_CHOICE, F(offline_loyalty_allow), 0, 0, false,
     {"deny", "allow"}},
    {"policy", "register_revision", K_CHOICE, F(registers_v11), 0, 0, false, {"1.0", "1.1"}},
    {"policy", "status_revision", K_CHOICE, F(status_lanes), 0, 0, false, {"1.3", "1.4"}},
    {"log", "level", K_LEVEL, F(log_level), 0, 0, false, {NULL, NULL}},
    {"log", "file", K_PATH, F(log_file), 0, 0, false, {NULL, NULL}},
    {"metrics", "listen", K_TEXT, F(metrics_listen), 0, 0, false, {NULL, NULL}},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {"store",  "local", "cloud",  "replica",
                                       "policy", "log",   "metrics"};

/* Parse state shared by the line-counting reader and the inih handler. */
struct load_ctx {
    struct p4gw_config *cfg;
    FILE *f;
    int lineno;           /* line the parser is on (1-based) */
    bool at_line_start;
    bool seen[N_KEYS];
    char *err;
    size_t err_len;
    bool failed;
    char bad_section[64];  /* an unknown section seen by the reader, reported at its first key */
    int bad_section_line;
};

static void fail(struct load_ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error only: the operator fixes one line at a time. */
static void fail(struct load_ctx *c, int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (c->failed)
        return;
    c->failed = true;
    n = snprintf(c->err, c->err_len, "%s:%d: ", c->cfg->file, line);
    if (n < 0 || (size_t)n >= c->err_len)
        return;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool known_section(const char *name)
{
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (strcmp(sections[i], name) == 0)
            return true;
    }
    return false;
}

static void fail_section(struct load_ctx *c)
{
    fail(c, c->bad_section_line, "[%s]: unknown section (expected store, local, cloud, replica, "
         "policy, log or metrics)", c->bad_section);
}

/* inih reader: hands inih one line at a time so we know the line number in the handler
 * (Debian's inih is built without INI_HANDLER_LINENO). Also strips leading blanks, so an
 * indented key is a key and not a continuation of the previous value, and catches section
 * headers itself so an unknown empty section is still reported. Returns NULL to stop. */
static char *line_reader(char *str, int num, void *stream)
{
    struct load_ctx *c = stream;
    size_t len, skip = 0;

    if (c->failed)
        return NULL;
    if (!fgets(str, num, c->f))
        return NULL;
    len = strlen(str);
    if (!c->at_line_start) {
        /* Unreachable in practice: a long line fails below before we get here. */
        return NULL;
    }
    c->lineno++;
    c->at_line_start = len > 0 && str[len - 1] == '\n';
    if (!c->at_line_start && !feof(c->f)) {
        fail(c, c->lineno, "line longer than %d bytes", num - 2);
        return NULL;
    }
    while (str[skip] == ' ' || str[skip] == '\t')
        skip++;
    if (skip)
        memmove(str, str + skip, len - skip + 1);
    if (str[0] == '[') {
        char name[64];
        const char *end = strchr(str, ']');
        size_t n = end ? (size_t)(end - str - 1) : 0;

        /* An unknown section with no key before the next header is reported at its header. */
        if (c->bad_section_line) {
            fail_section(c);
            return NULL;
        }
        if (end && n < sizeof(name)) {
            memcpy(name, str + 1, n);
            name[n] = '\0';
            if (!known_section(name)) {
                snprintf(c->bad_section, sizeof(c->bad_section), "%s", name);
                c->bad_section_line = c->lineno;
            }
        }
    }
    return str;
}

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static bool uri_ok(const char *s, bool *tls)
{
    static const char *const plain[] = {"tcp://", "mqtt://", "ws://"};
    static const char *const secure[] = {"ssl://", "mqtts://", "wss://"};

    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(plain[i]);

        if (strncmp(s, plain[i], n) == 0 && s[n] != '\0') {
            *tls = false;
            return true;
        }
        n = strlen(secure[i]);
        if (strncmp(s, secure[i], n) == 0 && s[n] != '\0') {
            *tls = true;
            return true;
        }
    }
    return false;
}

/* [cloud] uri: one broker, or the nodes of a clustered broker separated by commas (and/or
 * blanks), at most P4GW_MAX_URIS. Paho tries them in order at every (re)connect, so the link
 * fails over to the next node and back to the first when it returns. Every node must use
 * TLS or none does: the certificate settings apply to all of them. The first node is also
 * cloud_uri (the TLS diagnosis looks at it). Returns 0 or -1 after fail(). */
static int set_uris(struct load_ctx *c, const struct key_def *d, const char *value)
{
    struct p4gw_config *cfg = c->cfg;
    const char *p = value;
    bool tls = false;

    cfg->n_cloud_uris = 0;
    for (;;) {
        char *u, shown[P4GW_URI_MAX];
        bool this_tls;
        size_t n;

        p += strspn(p, ", \t");
        n = strcspn(p, ", \t");
        if (n == 0)
            break;
        if (cfg->n_cloud_uris == P4GW_MAX_URIS || n >= P4GW_URI_MAX) {
            fail(c, c->lineno, "[%s] %s: at most %d URIs of %d bytes each", d->section,
                 d->key, P4GW_MAX_URIS, P4GW_URI_MAX - 1);
            return -1;
        }
        u = cfg->cloud_uris[cfg->n_cloud_uris];
        memcpy(u, p, n);
        u[n] = '\0';
        p += n;
        if (!uri_ok(u, &this_tls)) {
            /* A URI may carry user:password@; the error line must not. */
            p4_uri_redact(u, shown, sizeof(shown));
            fail(c, c->lineno, "[%s] %s: \"%s\" is not an MQTT URI (tcp://, mqtt://, ssl://, "
                 "mqtts://, ws:// or wss:// followed by host:port)", d->section, d->key, shown);
            return -1;
        }
        if (cfg->n_cloud_uris > 0 && this_tls != tls) {
            fail(c, c->lineno, "[%s] %s: either every node uses TLS (ssl://, mqtts://, wss://) "
                 "or none does", d->section, d->key);
            return -1;
        }
        tls = this_tls;
        cfg->n_cloud_uris++;
    }
    if (cfg->n_cloud_uris == 0) {
        fail(c, c->lineno, "[%s] %s: no URI (expected tcp://host:port or a list separated by "
             "commas)", d->section, d->key);
        return -1;
    }
    cfg->cloud_tls = tls;
    memcpy(cfg->cloud_uri, cfg->cloud_uris[0], sizeof(cfg->cloud_uri));
    return 0;
}

/* Validates VALUE for D and stores it. Returns 0 or -1 after fail(). */
static int set_value(struct load_ctx *c, const struct key_def *d, const char *value)
{
    char *base = (char *)c->cfg;
    const char *sec = d->section, *key = d->key;
    int64_t v;
    bool tls;

    if (value[0] == '\0') {
        if (d->required) {
            fail(c, c->lineno, "[%s] %s: must not be empty", sec, key);
            return -1;
        }
        if (d->kind == K_TEXT || d->kind == K_FILE || d->kind == K_PATH) {
            base[d->off] = '\0';
            return 0;
        }
        /* An empty optional setting keeps its default. */
        return 0;
    }
    switch (d->kind) {
    case K_TENANT:
    case K_STORE:
        if (strlen(value) >= d->size ||
            !(d->kind == K_TENANT ? p4t_id_valid(value) : p4t_store_id_valid(value))) {
            fail(c, c->lineno, "[%s] %s: \"%s\" is not a valid id ([a-z0-9][a-z0-9_-]{0,31})",
                 sec, key, value);
            return -1;
        }
        break;
    case K_URI:
        if (!uri_ok(value, &tls)) {
            char shown[P4GW_URI_MAX];

            /* A URI may carry user:password@; the error line must not. */
            p4_uri_redact(value, shown, sizeof(shown));
            fail(c, c->lineno, "[%s] %s: \"%s\" is not an MQTT URI (tcp://, mqtt://, ssl://, "
                 "mqtts://, ws:// or wss:// followed by host:port)", sec, key, shown);
            return -1;
        }
        break;
    case K_URIS:
        return set_uris(c, d, value);
    case K_FILE:
        if (access(value, R_OK) != 0) {
            fail(c, c->lineno, "[%s] %s: cannot read %s: %s", sec, key, value, strerror(errno));
            return -1;
        }
        break;
    case K_TEXT:
    case K_PATH:
        break;
    case K_INT:
    case K_INT64:
        if (parse_int(value, &v) || v < d->min || v > d->max) {
            fail(c, c->lineno, "[%s] %s: must be an integer %" PRId64 "..%" PRId64
                 " (got \"%s\")", sec, key, d->min, d->max, value);
            return -1;
        }
        if (d->kind == K_INT)
            *(int *)(base + d->off) = (int)v;
        else
            *(int64_t *)(base + d->off) = v;
        return 0;
    case K_MQTTV:
        if (strcmp(value, "3.1.1") == 0) {
            c->cfg->mqtt_version = MQTTVERSION_3_1_1;
        } else if (strcmp(value, "5") == 0) {
            c->cfg->mqtt_version = MQTTVERSION_5;
        } else {
            fail(c, c->lineno, "[%s] %s: must be 3.1.1 or 5 (got \"%s\")", sec, key, value);
            return -1;
        }
        return 0;
    case K_DURABLE:
        if (strcmp(value, "full") == 0) {
            c->cfg->durability_full = true;
        } else if (strcmp(value, "normal") == 0) {
            c->cfg->durability_full = false;
        } else {
            fail(c, c->lineno, "[%s] %s: must be full or normal (got \"%s\")", sec, key, value);
            return -1;
        }
        return 0;
    case K_CHOICE:
        if (strcmp(value, d->choice[0]) == 0 || strcmp(value, d->choice[1]) == 0) {
            *(bool *)(base + d->off) = strcmp(value, d->choice[1]) == 0;
            return 0;
        }
        fail(c, c->lineno, "[%s] %s: must be %s or %s (got \"%s\")", sec, key, d->choice[0],
             d->choice[1], value);
        return -1;
    case K_LEVEL: {
        enum p4_log_level lvl;

        if (p4_log_parse_level(value, &lvl) != 0) {
            fail(c, c->lineno, "[%s] %s: must be debug, info, warn or error (got \"%s\")", sec,
                 key, value);
            return -1;
        }
        c->cfg->log_level = (int)lvl;
        return 0;
    }
    }
    if (strlen(value) >= d->size) {
        fail(c, c->lineno, "[%s] %s: longer than %zu bytes", sec, key, d->size - 1);
        return -1;
    }
    memcpy(base + d->off, value, strlen(value) + 1);
    return 0;
}

/* inih handler: returns 1 to continue, 0 after an error (the reader then stops the parse). */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *c = user;

    if (c->failed)
        return 0;
    if (!name) /* INI_CALL_HANDLER_ON_NEW_SECTION builds: sections are checked by the reader */
        return 1;
    if (c->bad_section_line && strcmp(section, c->bad_section) == 0) {
        fail(c, c->lineno, "[%s] %s: unknown section (expected store, local, cloud, "
             "replica, policy, log or metrics)", section, name);
        return 0;
    }
    if (section[0] == '\0') {
        fail(c, c->lineno, "[] %s: key outside of any section", name);
        return 0;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) != 0 || strcmp(keys[i].key, name) != 0)
            continue;
        if (c->seen[i]) {
            fail(c, c->lineno, "[%s] %s: set twice", section, name);
            return 0;
        }
        c->seen[i] = true;
        return set_value(c, &keys[i], value) == 0;
    }
    fail(c, c->lineno, "[%s] %s: unknown key", section, name);
    return 0;
}

static void set_defaults(struct p4gw_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mqtt_version = MQTTVERSION_3_1_1;
    cfg->max_inflight = 32;
    cfg->keepalive_s = 10;
    cfg->session_expiry_s = 604800;
    cfg->batch_max_items = 500;
    cfg->batch_max_bytes = 262144;
    cfg->reconnect_max_s = 5;
    cfg->durability_full = true;
    cfg->outbox_cap = 1000000;
    cfg->changes_keep = 100000;
    cfg->commit_max_items = 1000;
    cfg->resync_after_s = 3600;
    cfg->hq_resend_s = 60;
    cfg->keep_delivered_h = 48;
    cfg->live_lane = true;
    cfg->backlog_window_bytes = 32768;
    cfg->backlog_ahead_max = 250;
    cfg->log_level = P4_LOG_INFO;
}

int p4gw_config_load(const char *file, struct p4gw_config *cfg, char *err, size_t err_len)
{
    struct load_ctx c = {.cfg = cfg, .at_line_start = true, .err = err, .err_len = err_len};
    int rc = P4GW_OK;
    int ret;

    set_defaults(cfg);
    err[0] = '\0';
    snprintf(cfg->file, sizeof(cfg->file), "%s", file);
    c.f = fopen(file, "r");
    if (!c.f) {
        snprintf(err, err_len, "%s:0: cannot open: %s", file, strerror(errno));
        return P4GW_EIO;
    }
    ret = ini_parse_stream(line_reader, &c, on_key, &c);
    if (ferror(c.f) && !c.failed) {
        snprintf(err, err_len, "%s:%d: read error", file, c.lineno);
        rc = P4GW_EIO;
        goto out;
    }
    if (!c.failed && c.bad_section_line)
        fail_section(&c);
    if (c.failed) {
        rc = P4GW_EINVAL;
        goto out;
    }
    if (ret != 0) {
        fail(&c, ret, "syntax error: expected [section], key = value or a comment");
        rc = P4GW_EINVAL;
        goto out;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].required && !c.seen[i]) {
            fail(&c, 0, "[%s] %s: required key is missing", keys[i].section, keys[i].key);
            rc = P4GW_EINVAL;
            goto out;
        }
    }
    if (cfg->cert_file[0] != '\0' && cfg->key_file[0] == '\0') {
        fail(&c, 0, "[cloud] key_file: required when cert_file is set");
        rc = P4GW_EINVAL;
        goto out;
    }
    if (cfg->key_file[0] != '\0' && cfg->cert_file[0] == '\0') {
        fail(&c, 0, "[cloud] cert_file: required when key_file is set");
        rc = P4GW_EINVAL;
        goto out;
    }
    if (!cfg->cloud_tls && (cfg->ca_file[0] || cfg->cert_file[0])) {
        /* Certificates with a plain URI would silently send sales unencrypted. */
        fail(&c, 0, "[cloud] uri: ca_file/cert_file are set but the uri is not ssl:// or "
             "mqtts:// (the link would not use TLS)");
        rc = P4GW_EINVAL;
        goto out;
    }
    if (cfg->cloud_tls) {
        char tls_err[P4GW_ERR_MAX];

        /* Files that can never work are config errors; expiry is only a warning here (the
         * store keeps running; see config_check_tls). */
        if (config_check_tls(cfg, tls_err, sizeof(tls_err), NULL, 0) != 0) {
            fail(&c, 0, "%s", tls_err);
            rc = P4GW_EINVAL;
            goto out;
        }
    }
    if (cfg->local_client_id[0] == '\0')
        snprintf(cfg->local_client_id, sizeof(cfg->local_client_id), "p4gw-%s", cfg->store);
    if (cfg->cloud_client_id[0] == '\0')
        snprintf(cfg->cloud_client_id, sizeof(cfg->cloud_client_id), "p4gw-%s-%s",
                 cfg->tenant, cfg->store);
out:
    fclose(c.f);
    return rc;
}

/* OpenSSL's pass-phrase prompt would read the terminal; an encrypted key is refused instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Opens PATH and reads the first PEM certificate; NULL if there is none (errors cleared). */
static X509 *read_cert(const char *path, int *n_certs)
{
    FILE *f = fopen(path, "r");
    X509 *first = NULL, *x;
    int n = 0;

    if (!f)
        return NULL;
    for (;;) {
        x = PEM_read_X509(f, NULL, no_passphrase, NULL);
        if (!x)
            break;
        n++;
        if (!first)
            first = x;
        else
            X509_free(x);
    }
    fclose(f);
    ERR_clear_error();
    if (n_certs)
        *n_certs = n;
    return first;
}

static void format_asn1_date(const ASN1_TIME *t, char *out, size_t out_len)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, out_len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, out_len, "(unreadable date)");
}

/* The validity window of X: 0 inside it, else one line in WARN naming WHAT and FILE. */
static int check_validity(X509 *x, const char *what, const char *file, char *warn,
                          size_t warn_len)
{
    char date[64];

    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
        format_asn1_date(X509_get0_notAfter(x), date, sizeof(date));
        snprintf(warn, warn_len, "cloud TLS: %s %s expired on %s: the cloud broker will refuse "
                 "it; install a renewed certificate", what, file, date);
        return -1;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
        format_asn1_date(X509_get0_notBefore(x), date, sizeof(date));
        snprintf(warn, warn_len, "cloud TLS: %s %s is not valid before %s: check this "
                 "machine's clock", what, file, date);
        return -1;
    }
    return 0;
}

int config_check_tls(const struct p4gw_config *cfg, char *err, size_t err_len, char *warn,
                     size_t warn_len)
{
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *key = NULL;
    FILE *f = NULL;
    char scratch[8];
    struct stat st;
    int n_ca = 0;
    int rc = P4GW_OK;

    err[0] = '\0';
    if (!warn) {
        warn = scratch;
        warn_len = sizeof(scratch);
    }
    warn[0] = '\0';
    if (cfg->ca_file[0]) {
        ca = read_cert(cfg->ca_file, &n_ca);
        if (!ca) {
            snprintf(err, err_len, "[cloud] ca_file: %s holds no PEM certificate", cfg->ca_file);
            rc = P4GW_EINVAL;
            goto out;
        }
    }
    if (cfg->cert_file[0]) {
        cert = read_cert(cfg->cert_file, NULL);
        if (!cert) {
            snprintf(err, err_len, "[cloud] cert_file: %s holds no PEM certificate",
                     cfg->cert_file);
            rc = P4GW_EINVAL;
            goto out;
        }
        f = fopen(cfg->key_file, "r");
        if (f)
            key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
        ERR_clear_error();
        if (!key) {
            snprintf(err, err_len, "[cloud] key_file: %s holds no PEM private key (or it is "
                     "protected by a pass phrase, which p4gw does not support)", cfg->key_file);
            rc = P4GW_EINVAL;
            goto out;
        }
        if (X509_check_private_key(cert, key) != 1) {
            ERR_clear_error();
            snprintf(err, err_len, "[cloud] key_file: %s is not the private key of cert_file %s",
                     cfg->key_file, cfg->cert_file);
            rc = P4GW_EINVAL;
            goto out;
        }
    }
    /* Warnings, most useful first: the store keeps selling with the WAN link refused. */
    if (cert && check_validity(cert, "cert_file", cfg->cert_file, warn, warn_len) != 0)
        goto out;
    if (ca && n_ca == 1 && check_validity(ca, "ca_file", cfg->ca_file, warn, warn_len) != 0)
        goto out;
    /* 0600, or 0640 root:p4gw as packaged; anything world-readable or group-writable is not. */
    if (cfg->key_file[0] && stat(cfg->key_file, &st) == 0 && (st.st_mode & 0027) != 0)
        snprintf(warn, warn_len, "cloud TLS: key_file %s is open to other users (mode %03o); "
                 "make it 0600 (or 0640 root:p4gw)", cfg->key_file,
                 (unsigned)(st.st_mode & 0777));
out:
    if (f)
        fclose(f);
    EVP_PKEY_free(key);
    X509_free(cert);
    X509_free(ca);
    return rc;
}
