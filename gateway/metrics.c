/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway's counters as a Prometheus endpoint (libmicrohttpd's own thread) and the
 * `p4gw status` report for the store technician. */
#include "ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sqlite3.h>

#include "p4common.h"

#define METRICS_MAX_CONNECTIONS 16 /* scrapers and technicians; more are refused by MHD */
#define METRICS_TIMEOUT_S 5        /* an idle HTTP connection is closed after this */
#define METRICS_TEXT_MAX 8192      /* the exposition text is about 3 KiB */
#define STATUS_FETCH_MAX 65536     /* `status` reads at most this much of the response */
#define STATUS_TIMEOUT_MS 2000

/* Upper bounds of the commit latency buckets, in microseconds (then +Inf). */
static const int64_t commit_bounds_us[P4GW_COMMIT_BUCKETS] = {
    500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000, 5000000,
};

static const char *const alert_kinds[P4GW_AK_COUNT] = {
    [P4GW_AK_OVERSELL] = P4T_ALERT_OVERSELL,
    [P4GW_AK_PRICE_MISMATCH] = "price_mismatch",
    [P4GW_AK_LOYALTY_OVERDRAW] = "loyalty_overdraw",
    [P4GW_AK_BAD_DOWNLINK] = "bad_downlink",
    [P4GW_AK_OUTBOX_CAP] = P4T_ALERT_OUTBOX_CAP,
    [P4GW_AK_OTHER] = "other",
};

int64_t p4gw_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void p4gw_counters_commit(struct p4gw_counters *c, int64_t us)
{
    int i = 0;

    while (i < P4GW_COMMIT_BUCKETS && us > commit_bounds_us[i])
        i++;
    c->commit_buckets[i]++; /* per bucket here; cumulated when formatted */
    c->commit_count++;
    c->commit_sum_us += us;
}

void p4gw_counters_alert(struct p4gw_counters *c, const char *payload)
{
    const char *k = payload ? strstr(payload, "\"kind\":\"") : NULL;

    if (k) {
        k += strlen("\"kind\":\"");
        for (int i = 0; i < P4GW_AK_OTHER; i++) {
            size_t n = strlen(alert_kinds[i]);

            if (strncmp(k, alert_kinds[i], n) == 0 && k[n] == '"') {
                c->alerts[i]++;
                return;
            }
        }
    }
    c->alerts[P4GW_AK_OTHER]++;
}

void p4gw_metrics_age(struct p4gw_metrics *m, struct p4gw_counters *c, int64_t gw_seq,
                      int64_t delivered, int64_t now_mono_ms)
{
    size_t drop = 0;

    if (m->n_age == 0 || gw_seq > m->age[m->n_age - 1].gw_seq) {
        if (m->n_age == P4GW_AGE_SAMPLES) {
            /* Keep every other sample: the ages stay right, only coarser. */
            size_t j = 0;

            for (size_t i = 0; i < m->n_age; i += 2)
                m->age[j++] = m->age[i];
            m->n_age = j;
        }
        m->age[m->n_age].gw_seq = gw_seq;
        m->age[m->n_age].mono_ms = now_mono_ms;
        m->n_age++;
    }
    /* A sample stands for the sales after the previous sample's gw_seq up to its own. */
    while (drop < m->n_age && m->age[drop].gw_seq <= delivered)
        drop++;
    if (drop) {
        memmove(m->age, m->age + drop, (m->n_age - drop) * sizeof(m->age[0]));
        m->n_age -= drop;
    }
    c->oldest_age_s = gw_seq > delivered && m->n_age ? (now_mono_ms - m->age[0].mono_ms) / 1000
                                                     : 0;
}

void p4gw_metrics_update(struct p4gw_metrics *m, const struct p4gw_counters *c)
{
    pthread_mutex_lock(&m->mu);
    m->snap = *c;
    pthread_mutex_unlock(&m->mu);
}

/* Appends to a fixed buffer; the caller checks *OVER once at the end. */
struct text {
    char *buf;
    size_t len, cap;
    bool over;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->over)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->over = true;
    else
        t->len += (size_t)n;
}

static void metric(struct text *t, const char *name, const char *type, const char *help,
                   int64_t value)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n%s %" PRId64 "\n", name, help, name, type, name, value);
}

int p4gw_metrics_format(const struct p4gw_counters *c, char **out)
{
    struct text t = {.buf = malloc(METRICS_TEXT_MAX), .cap = METRICS_TEXT_MAX};
    uint64_t cum = 0;

    *out = NULL;
    if (!t.buf)
        return P4GW_ENOMEM;
    metric(&t, "p4gw_sales_ingested_total", "counter", "Sales accepted into the replica.",
           c->sales_ingested);
    metric(&t, "p4gw_sales_duplicate_total", "counter",
           "Sales received again and answered with their first gw_seq.", c->duplicates);
    metric(&t, "p4gw_sales_rejected_total", "counter", "Sales rejected as invalid.",
           c->rejects);
    metric(&t, "p4gw_store_messages_dropped_total", "counter",
           "Store-broker messages refused by the full queue (registers resend them).",
           (int64_t)c->dropped);
    metric(&t, "p4gw_outbox_depth", "gauge",
           "Uplink records not yet delivered (with delivered_on = hq: not yet committed at HQ).",
           c->outbox_depth);
    metric(&t, "p4gw_outbox_oldest_age_seconds", "gauge",
           "Time the oldest undelivered sale has waited at the gateway.", c->oldest_age_s);
    metric(&t, "p4gw_cloud_link_up", "gauge", "1 when the cloud broker link is connected.",
           c->cloud_up ? 1 : 0);
    metric(&t, "p4gw_local_link_up", "gauge", "1 when the store broker link is connected.",
           c->local_up ? 1 : 0);
    put(&t, "# HELP p4gw_link_reconnects_total Connections made after the first.\n"
            "# TYPE p4gw_link_reconnects_total counter\n"
            "p4gw_link_reconnects_total{link=\"cloud\"} %" PRId64 "\n"
            "p4gw_link_reconnects_total{link=\"local\"} %" PRId64 "\n",
        c->cloud_connects > 1 ? c->cloud_connects - 1 : 0,
        c->local_connects > 1 ? c->local_connects - 1 : 0);
    put(&t, "# HELP p4gw_subscription_refused 1 while the broker refuses this subscription "
            "(its ACL denies the gateway's account): nothing on the topic reaches the gateway.\n"
            "# TYPE p4gw_subscription_refused gauge\n");
    for (int i = 0; i < c->n_subs; i++)
        put(&t, "p4gw_subscription_refused{link=\"%s\",topic=\"%s\"} %d\n",
            c->subs[i].cloud ? "cloud" : "local", c->subs[i].filter, c->subs[i].refused);
    put(&t, "# HELP p4gw_subscription_refusals_total SUBACKs that refused a subscription.\n"
            "# TYPE p4gw_subscription_refusals_total counter\n"
            "p4gw_subscription_refusals_total{link=\"cloud\"} %" PRIu64 "\n"
            "p4gw_subscription_refusals_total{link=\"local\"} %" PRIu64 "\n",
        c->sub_refusals_cloud, c->sub_refusals_local);
    put(&t, "# HELP p4gw_commit_seconds Group commit latency (BEGIN to COMMIT).\n"
            "# TYPE p4gw_commit_seconds histogram\n");
    for (int i = 0; i < P4GW_COMMIT_BUCKETS; i++) {
        cum += c->commit_buckets[i];
        put(&t, "p4gw_commit_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
            (double)commit_bounds_us[i] / 1e6, cum);
    }
    cum += c->commit_buckets[P4GW_COMMIT_BUCKETS];
    /* _sum in seconds is the format's rule; it is the only non-integer figure here. */
    put(&t, "p4gw_commit_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
            "p4gw_commit_seconds_sum %.6f\np4gw_commit_seconds_count %" PRIu64 "\n",
        cum, (double)c->commit_sum_us / 1e6, c->commit_count);
    put(&t, "# HELP p4gw_alerts_total Alerts raised since start, by kind.\n"
            "# TYPE p4gw_alerts_total counter\n");
    for (int i = 0; i < P4GW_AK_COUNT; i++)
        put(&t, "p4gw_alerts_total{kind=\"%s\"} %" PRIu64 "\n", alert_kinds[i], c->alerts[i]);
    metric(&t, "p4gw_change_head", "gauge", "Newest change-log seq.", c->change_head);
    metric(&t, "p4gw_gw_seq_head", "gauge", "Newest gw_seq given to a sale.", c->gw_seq_head);
    metric(&t, "p4gw_delivered_gw_seq", "gauge",
           "Newest sale gw_seq counted delivered: committed at HQ (delivered_on = hq) or "
           "acknowledged by the cloud broker (delivered_on = puback).", c->delivered);
    metric(&t, "p4gw_broker_acked_gw_seq", "gauge",
           "Newest sale gw_seq the cloud broker acknowledged (PUBACK).", c->broker_acked);
    metric(&t, "p4gw_outbox_backlog_depth", "gauge",
           "Undelivered outbox rows made before the cloud link came back (all while it is "
           "down): they drain in gw_seq order.", c->backlog_depth);
    metric(&t, "p4gw_outbox_backlog_oldest_age_seconds", "gauge",
           "Age of the oldest sale in the backlog, by its ts (0 when none).", c->backlog_age_s);
    metric(&t, "p4gw_outbox_live_depth", "gauge",
           "Undelivered outbox rows made since the cloud link came back: sent beside the "
           "backlog.", c->live_depth);
    if (c->hq_wait) {
        metric(&t, "p4gw_hq_through_gw_seq", "gauge",
               "HQ's committed watermark (down/ack): HQ holds every sale up to it.",
               c->hq_through);
        metric(&t, "p4gw_hq_resends_total", "counter",
               "Times sending restarted because HQ did not commit what the broker took.",
               c->hq_resends);
        metric(&t, "p4gw_hq_rewinds_total", "counter",
               "Times HQ's watermark went back below the one held (HQ restored from a backup) "
               "and the sales above it were sent again.", c->hq_rewinds);
        metric(&t, "p4gw_hq_resent_records_total", "counter",
               "Delivered sale records marked undelivered again by those rewinds.",
               c->hq_reopened);
    }
    metric(&t, "p4gw_start_time_seconds", "gauge", "Unix time the gateway started.",
           c->started_ms / 1000);
    if (t.over) {
        free(t.buf);
        return P4GW_EFULL;
    }
    *out = t.buf;
    return P4GW_OK;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **con_cls)
{
    struct p4gw_metrics *m = cls;
    struct p4gw_counters c;
    struct MHD_Response *resp;
    unsigned int code = MHD_HTTP_OK;
    enum MHD_Result ret;
    char *text = NULL;
    static char not_found[] = "not found: the metrics are at /metrics\n";
    static char failed[] = "metrics could not be formatted\n";

    (void)version;
    (void)upload;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return MHD_NO; /* closes the connection */
    if (*upload_len)
        return MHD_NO;
    if (strcmp(url, "/metrics") != 0 && strcmp(url, "/") != 0) {
        resp = MHD_create_response_from_buffer(strlen(not_found), not_found,
                                               MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_NOT_FOUND;
    } else {
        pthread_mutex_lock(&m->mu);
        c = m->snap;
        pthread_mutex_unlock(&m->mu);
        if (p4gw_metrics_format(&c, &text) == 0) {
            resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        } else {
            resp = MHD_create_response_from_buffer(strlen(failed), failed,
                                                   MHD_RESPMEM_PERSISTENT);
            code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

int p4gw_metrics_parse_listen(const char *listen, char *host, size_t host_len, int *port,
                              char *err, size_t err_len)
{
    const char *colon = strrchr(listen, ':');
    struct in_addr a;
    char *end = NULL;
    long p;

    if (!colon || colon == listen || (size_t)(colon - listen) >= host_len) {
        snprintf(err, err_len, "[metrics] listen: %s is not ADDRESS:PORT", listen);
        return P4GW_EINVAL;
    }
    snprintf(host, host_len, "%.*s", (int)(colon - listen), listen);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, host_len, "127.0.0.1");
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || !end || *end || end == colon + 1 || p < 1 || p > 65535) {
        snprintf(err, err_len, "[metrics] listen: port %s is not 1..65535", colon + 1);
        return P4GW_EINVAL;
    }
    /* The endpoint has no authentication: it only listens on the machine itself. */
    if (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
        snprintf(err, err_len, "[metrics] listen: %s is not a loopback IPv4 address", host);
        return P4GW_EINVAL;
    }
    *port = (int)p;
    return P4GW_OK;
}

int p4gw_metrics_start(const char *listen, struct p4gw_metrics **out)
{
    struct p4gw_metrics *m;
    struct sockaddr_in sa;
    char host[64], err[P4GW_ERR_MAX];
    int port = 0;

    *out = NULL;
    if (p4gw_metrics_parse_listen(listen, host, sizeof(host), &port, err, sizeof(err)) != 0) {
        p4_error("metrics not started reason=\"%s\"", err);
        return P4GW_EINVAL;
    }
    m = calloc(1, sizeof(*m));
    if (!m)
        return P4GW_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, (uint16_t)port,
                                 NULL, NULL, answer, m, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_LIMIT, METRICS_MAX_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, METRICS_TIMEOUT_S,
                                 MHD_OPTION_END);
    if (!m->daemon) {
        p4_error("metrics not started listen=%s error=\"%s\"", listen,
                 errno ? strerror(errno) : "libmicrohttpd refused");
        pthread_mutex_destroy(&m->mu);
        free(m);
        return P4GW_EIO;
    }
    p4_info("metrics listening listen=%s:%d path=/metrics", host, port);
    *out = m;
    return P4GW_OK;
}

void p4gw_metrics_stop(struct p4gw_metrics *m)
{
    if (!m)
        return;
    MHD_stop_daemon(m->daemon);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---------------------------------------------------------------------------------------- */
/* p4gw status                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* GETs /metrics from HOST:PORT into a malloc'd NUL-terminated body. Returns 0 or -1. */
static int fetch(const char *host, int port, char **body)
{
    struct sockaddr_in sa;
    struct timeval tv = {STATUS_TIMEOUT_MS / 1000, (STATUS_TIMEOUT_MS % 1000) * 1000};
    char req[128], *buf = NULL, *start;
    size_t len = 0;
    int fd = -1, rc = -1;

    *body = NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        goto out;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto out;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto out;
    snprintf(req, sizeof(req), "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", host);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        goto out;
    buf = malloc(STATUS_FETCH_MAX + 1);
    if (!buf)
        goto out;
    for (;;) {
        ssize_t n = read(fd, buf + len, STATUS_FETCH_MAX - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0 || (len += (size_t)n) == STATUS_FETCH_MAX)
            break;
    }
    buf[len] = '\0';
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0)
        goto out;
    start = strstr(buf, "\r\n\r\n");
    if (!start)
        goto out;
    memmove(buf, start + 4, strlen(start + 4) + 1);
    *body = buf;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Reads the labels LABELS ('link="L",topic="T"}') of one p4gw_subscription_refused line. */
static void parse_sub(const char *labels, bool refused, struct p4gw_counters *c)
{
    struct p4gw_sub_view *v;
    const char *topic = strstr(labels, "topic=\"");
    const char *end = topic ? strchr(topic + 7, '"') : NULL;

    if (c->n_subs == P4GW_SUBS_MAX || !end || (size_t)(end - topic - 7) >= sizeof(v->filter))
        return;
    v = &c->subs[c->n_subs++];
    v->cloud = strncmp(labels, "link=\"cloud\"", 12) == 0;
    v->refused = refused;
    memcpy(v->filter, topic + 7, (size_t)(end - topic - 7));
    v->filter[end - topic - 7] = '\0';
}

/* Reads the exposition text back into counters (the names p4gw_metrics_format writes). */
static void parse_text(const char *text, struct p4gw_counters *c)
{
    const char *line = text;

    memset(c, 0, sizeof(*c));
    while (line && *line) {
        char name[320];
        double v = 0;

        if (*line != '#' && sscanf(line, "%319s %lf", name, &v) == 2) {
            int64_t iv = (int64_t)v;

            if (strcmp(name, "p4gw_sales_ingested_total") == 0)
                c->sales_ingested = iv;
            else if (strcmp(name, "p4gw_sales_duplicate_total") == 0)
                c->duplicates = iv;
            else if (strcmp(name, "p4gw_sales_rejected_total") == 0)
                c->rejects = iv;
            else if (strcmp(name, "p4gw_store_messages_dropped_total") == 0)
                c->dropped = (uint64_t)iv;
            else if (strcmp(name, "p4gw_outbox_depth") == 0)
                c->outbox_depth = iv;
            else if (strcmp(name, "p4gw_outbox_oldest_age_seconds") == 0)
                c->oldest_age_s = iv;
            else if (strcmp(name, "p4gw_cloud_link_up") == 0)
                c->cloud_up = iv != 0;
            else if (strcmp(name, "p4gw_local_link_up") == 0)
                c->local_up = iv != 0;
            else if (strcmp(name, "p4gw_link_reconnects_total{link=\"cloud\"}") == 0)
                c->cloud_connects = iv + 1;
            else if (strcmp(name, "p4gw_link_reconnects_total{link=\"local\"}") == 0)
                c->local_connects = iv + 1;
            else if (strncmp(name, "p4gw_subscription_refused{", 26) == 0)
                parse_sub(name + 26, iv != 0, c);
            else if (strcmp(name, "p4gw_subscription_refusals_total{link=\"cloud\"}") == 0)
                c->sub_refusals_cloud = (uint64_t)iv;
            else if (strcmp(name, "p4gw_subscription_refusals_total{link=\"local\"}") == 0)
                c->sub_refusals_local = (uint64_t)iv;
            else if (strcmp(name, "p4gw_commit_seconds_count") == 0)
                c->commit_count = (uint64_t)iv;
            else if (strcmp(name, "p4gw_commit_seconds_sum") == 0)
                c->commit_sum_us = (int64_t)(v * 1e6);
            else if (strcmp(name, "p4gw_change_head") == 0)
                c->change_head = iv;
            else if (strcmp(name, "p4gw_gw_seq_head") == 0)
                c->gw_seq_head = iv;
            else if (strcmp(name, "p4gw_delivered_gw_seq") == 0)
                c->delivered = iv;
            else if (strcmp(name, "p4gw_broker_acked_gw_seq") == 0)
                c->broker_acked = iv;
            else if (strcmp(name, "p4gw_outbox_backlog_depth") == 0)
                c->backlog_depth = iv;
            else if (strcmp(name, "p4gw_outbox_backlog_oldest_age_seconds") == 0)
                c->backlog_age_s = iv;
            else if (strcmp(name, "p4gw_outbox_live_depth") == 0)
                c->live_depth = iv;
            else if (strcmp(name, "p4gw_hq_through_gw_seq") == 0) {
                c->hq_wait = true;
                c->hq_through = iv;
            } else if (strcmp(name, "p4gw_hq_resends_total") == 0)
                c->hq_resends = iv;
            else if (strcmp(name, "p4gw_hq_rewinds_total") == 0)
                c->hq_rewinds = iv;
            else if (strcmp(name, "p4gw_hq_resent_records_total") == 0)
                c->hq_reopened = iv;
            else if (strcmp(name, "p4gw_start_time_seconds") == 0)
                c->started_ms = iv * 1000;
            for (int i = 0; i < P4GW_AK_COUNT; i++) {
                char want[96];

                snprintf(want, sizeof(want), "p4gw_alerts_total{kind=\"%s\"}", alert_kinds[i]);
                if (strcmp(name, want) == 0)
                    c->alerts[i] = (uint64_t)iv;
            }
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
}

static void print_counters(FILE *out, const struct p4gw_counters *c, const char *listen)
{
    char ts[P4_TS_LEN];

    p4_format_ts(c->started_ms, ts);
    fprintf(out, "gateway: running since %s (metrics %s)\n", ts, listen);
    fprintf(out, "links: cloud=%s local=%s reconnects_cloud=%" PRId64 " reconnects_local=%"
            PRId64 "\n", c->cloud_up ? "up" : "DOWN", c->local_up ? "up" : "DOWN",
            c->cloud_connects > 1 ? c->cloud_connects - 1 : 0,
            c->local_connects > 1 ? c->local_connects - 1 : 0);
    for (int i = 0; i < c->n_subs; i++) {
        if (c->subs[i].refused)
            fprintf(out, "subscription: REFUSED by the %s broker topic=%s (its ACL denies the "
                    "gateway's account; retrying)\n", c->subs[i].cloud ? "cloud" : "store",
                    c->subs[i].filter);
    }
    fprintf(out, "sales: ingested=%" PRId64 " duplicates=%" PRId64 " rejected=%" PRId64
            " dropped=%" PRIu64 "\n", c->sales_ingested, c->duplicates, c->rejects, c->dropped);
    fprintf(out, "outbox: depth=%" PRId64 " oldest_age_s=%" PRId64 " gw_seq_head=%" PRId64
            " delivered=%" PRId64 " broker_acked=%" PRId64, c->outbox_depth, c->oldest_age_s,
            c->gw_seq_head, c->delivered, c->broker_acked);
    if (c->hq_wait)
        fprintf(out, " hq_through=%" PRId64 " hq_resends=%" PRId64 " hq_rewinds=%" PRId64
                " hq_resent_records=%" PRId64, c->hq_through, c->hq_resends, c->hq_rewinds,
                c->hq_reopened);
    fprintf(out, "\n");
    fprintf(out, "lanes: backlog=%" PRId64 " backlog_oldest_age_s=%" PRId64 " live=%" PRId64
            "\n", c->backlog_depth, c->backlog_age_s, c->live_depth);
    fprintf(out, "commits: count=%" PRIu64 " avg_ms=%.2f\n", c->commit_count,
            c->commit_count ? (double)c->commit_sum_us / 1000.0 / (double)c->commit_count : 0.0);
    fprintf(out, "alerts:");
    for (int i = 0; i < P4GW_AK_COUNT; i++)
        fprintf(out, " %s=%" PRIu64, alert_kinds[i], c->alerts[i]);
    fprintf(out, "\nchanges: head=%" PRId64 "\n", c->change_head);
}

static int64_t one_int(sqlite3 *db, const char *sql, bool *ok)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        *ok = false;
    sqlite3_finalize(st);
    return v;
}

/* The figures the replica holds, read-only (also beside a running gateway: WAL). */
static int print_replica(FILE *out, const struct p4gw_config *cfg, const char *why)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    bool ok = true, running;
    int lock_fd = -1, rc = 1;
    char path[PATH_MAX + 8];

    /* A shared probe of the lock: it fails only while a gateway holds it exclusively. */
    snprintf(path, sizeof(path), "%s.lock", cfg->replica_path);
    lock_fd = open(path, O_RDONLY | O_CLOEXEC);
    running = lock_fd >= 0 && flock(lock_fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (lock_fd >= 0)
        close(lock_fd);
    fprintf(out, "gateway: %s (%s)\n", running ? "running" : "not running", why);
    if (sqlite3_open_v2(cfg->replica_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(out, "replica: cannot open %s: %s\n", cfg->replica_path,
                db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, 2000);
    fprintf(out, "replica: %s\n", cfg->replica_path);
    fprintf(out, "sales: stored=%" PRId64 " gw_seq_head=%" PRId64 " rejected_messages=%" PRId64
            "\n", one_int(db, "SELECT count(*) FROM sales WHERE kind <> 'gap'", &ok),
            one_int(db, "SELECT coalesce(max(gw_seq), 0) FROM sales", &ok),
            one_int(db, "SELECT count(*) FROM rejects", &ok));
    fprintf(out, "outbox: depth=%" PRId64 " first_undelivered_gw_seq=%" PRId64
            " hq_through=%" PRId64 " (delivered_on=%s)\n",
            one_int(db, "SELECT count(*) FROM outbox WHERE delivered = 0", &ok),
            one_int(db, "SELECT coalesce(min(gw_seq), 0) FROM outbox WHERE delivered = 0"
                    " AND kind = 'sale'", &ok),
            one_int(db, "SELECT coalesce((SELECT value FROM meta WHERE key = 'hq_through'), 0)",
                    &ok),
            cfg->delivered_on_puback ? "puback" : "hq");
    fprintf(out, "changes: head=%" PRId64 "\n",
            one_int(db, "SELECT coalesce(max(seq), 0) FROM changes", &ok));
    if (sqlite3_prepare_v2(db, "SELECT reg, last_seq, last_seen_ms FROM registers ORDER BY reg"
                           " LIMIT 100", -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            char ts[P4_TS_LEN];

            p4_format_ts(sqlite3_column_int64(st, 2), ts);
            fprintf(out, "register: %s last_seq=%" PRId64 " last_seen=%s\n",
                    (const char *)sqlite3_column_text(st, 0),
                    (int64_t)sqlite3_column_int64(st, 1), ts);
        }
    } else {
        ok = false;
    }
    if (!ok) {
        fprintf(out, "replica: not readable as a p4gw replica: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int p4gw_status(const struct p4gw_config *cfg, FILE *out)
{
    struct p4gw_counters c;
    char host[64], err[P4GW_ERR_MAX], why[P4GW_ERR_MAX + 64];
    char *body = NULL;
    int port = 0;

    if (!cfg->metrics_listen[0])
        return print_replica(out, cfg, "[metrics] listen is off: figures from the replica");
    if (p4gw_metrics_parse_listen(cfg->metrics_listen, host, sizeof(host), &port, err,
                                  sizeof(err)) != 0) {
        fprintf(out, "%s\n", err);
        return print_replica(out, cfg, "figures from the replica");
    }
    if (fetch(host, port, &body) != 0) {
        snprintf(why, sizeof(why), "no answer from %s:%d: figures from the replica", host,
                 port);
        return print_replica(out, cfg, why);
    }
    parse_text(body, &c);
    free(body);
    print_counters(out, &c, cfg->metrics_listen);
    return 0;
}
