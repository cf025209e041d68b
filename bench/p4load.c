/* SPDX-License-Identifier: Apache-2.0 */
/* p4load: a precise register/HQ load generator for the benchmarks (raw MQTT 3.1.1 on epoll). */

/*
 * Why a raw MQTT client (rawmqtt.c, shared with hqload): the generator must not add delays of
 * its own. A client library with a receive thread that naps after idle polls (Paho C 1.3.12
 * does) would put those naps into every latency we report, for the gateway and for the bridge
 * alike. One epoll thread
 * timestamps each sale when it is made (CLOCK_MONOTONIC) and each ack, cloud arrival and
 * change the moment its bytes are read, and matches them by the sale index carried in the
 * last 48 bits of the sale id (a valid UUIDv7).
 *
 * Modes: "gw" registers wait for the gateway's app-level ack (a sale stays pending until an
 * ok/duplicate ack names it, resent after --ack-timeout-ms); "bridge" registers have no app
 * ack, so a sale counts as done when it reaches the cloud (that is the only signal a bridge
 * user has that it went anywhere).
 *
 * Mode "echo" is not a load: it is the floor of any gateway bound by the contract, run as a
 * process of its own in place of p4gw. One epoll thread takes each sale from the store broker,
 * answers it with an ok ack (gw_seq counted up, nothing validated, nothing stored) and
 * forwards the loop iteration's sales to the cloud broker as one batch; with --fsync FILE it
 * first writes them to FILE and fdatasyncs it, as a durable gateway must before acking (the
 * cheapest way: overwriting blocks of a file written beforehand, a 64 MiB ring).
 * What the registers measure against it bounds what any gateway could reach on the same
 * brokers, disk and cores. It runs until killed.
 *
 * Results: one JSON object on stdout at the end. With --pause the tool prints "READY" once
 * phase 1 is fully acked and waits for a line on stdin before phase 2 (the driver uses this
 * to restore a cut cloud link and time the backlog drain).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "rawmqtt.h"
#include "saleid.h"

#define REGS_MAX 200
#define CONNS_MAX (REGS_MAX + 2)
#define PRICES_MAX 1000
#define EXTRA_SKUS 100               /* skus 0..99 fill extra lines; first lines never use them */
#define SALE_MAX_BYTES 1024

enum conn_kind { C_REG, C_CLOUD, C_HQ, C_ECHO_IN, C_ECHO_OUT };

struct sale {
    int64_t created_ns, acked_ns, cloud_ns, change_ns, last_send_ns;
    char *payload;
    uint32_t len;
    uint16_t reg;
    uint16_t change_seen;
    uint8_t phase;
    uint8_t sends;
};

struct price_probe {
    int64_t sent_ns, done_ns;
    int sku;
    int seen;
    bool *seen_by; /* per register */
};

struct opts {
    const char *mode, *store_host, *cloud_host, *tenant, *store, *reg_prefix, *sku_prefix;
    int store_port, cloud_port;
    int n_regs, window, n_skus, prices;
    double rate, rate2;
    double duration_s, duration2_s, grace_s, warmup_s;
    int64_t count, max_sales;
    int64_t ack_timeout_ms, price_interval_ms;
    bool follow_changes, pause, wait_cloud;
    const char *fsync_path;  /* echo: append and fdatasync each batch here before the acks */
};

static struct opts O;
static struct sale *sales;
static int64_t n_sales;          /* made */
static int64_t n_phase1;         /* sales made in phase 1 */
static int32_t *sku_owner;       /* first-line sku -> sale index (change matching) */
static int64_t *reg_seq;
static int *reg_pending;
static uint64_t run_tag;         /* 26 random bits in each id: ignore foreign sales */
static int64_t first_sku;        /* round-robin cursor for first lines */
static struct price_probe probes[PRICES_MAX];
static int n_probes;
static int64_t n_acked, n_cloud, n_dup_acks, n_rejected, n_resends, n_cloud_dups;
static int64_t n_unmatched, n_changes_msgs, n_change_items;
static char first_reject[256];
static int cloud_conn = -1, hq_conn = -1;
static bool stdin_go;
static bool capped;              /* the sales table filled up: no more sales were made */

/* ---- sales ---- */

static int sku_price(int64_t sku)
{
    return 100 + (int)((sku * 37) % 9900);
}

static void format_ts(char out[32])
{
    bt_format_ts(bt_realtime_ms(), out);
}

static void make_id(int64_t index, char out[37])
{
    bt_uuid7(bt_realtime_ms(), run_tag, (uint64_t)index, out);
}

/* The sale index of id text ID (36 chars), or -1 when it is not one of this run's. */
static int64_t id_index(const char *id)
{
    char tag_a[4], tag_b[5], idx[13];
    unsigned long a, b;

    memcpy(tag_a, id + 15, 3);
    tag_a[3] = 0;
    memcpy(tag_b, id + 19, 4);
    tag_b[4] = 0;
    memcpy(idx, id + 24, 12);
    idx[12] = 0;
    a = strtoul(tag_a, NULL, 16);
    b = strtoul(tag_b, NULL, 16) & 0x3fff;
    if (id[14] != '7' || a != ((run_tag >> 14) & 0xfff) || b != (run_tag & 0x3fff))
        return -1;
    int64_t i = (int64_t)strtoull(idx, NULL, 16);

    return i < n_sales ? i : -1;
}

static void send_sale(int64_t i)
{
    struct sale *s = &sales[i];
    struct rm_conn *c = rm_conn(s->reg);
    char topic[160];

    snprintf(topic, sizeof(topic), "pos/v1/%s/reg/%s%02d/sale", O.store, O.reg_prefix, s->reg);
    rm_publish(c, topic, s->payload, s->len, false);
    s->last_send_ns = rm_now_ns();
    if (s->sends < 255)
        s->sends++;
}

/* Makes and sends one sale of register REG. Returns false, making none, once the run holds
 * O.max_sales (the sales table is sized for them at start): the run then stops selling and
 * reports "capped", so a path that swallows sales far faster than any real one ends the
 * measurement instead of growing without bound or aborting it. */
static bool make_sale(int reg, int phase)
{
    char id[37], ts[32], buf[SALE_MAX_BYTES], lines[600];
    int64_t i = n_sales, total = 0, sku0;
    int n_lines, len, off = 0;
    struct sale *s;

    if (n_sales >= O.max_sales) {
        if (!capped)
            fprintf(stderr, "p4load: %" PRId64 " sales made, the most this run keeps: it "
                    "stops selling (\"capped\")\n", n_sales);
        capped = true;
        return false;
    }
    s = &sales[i];
    memset(s, 0, sizeof(*s));
    s->created_ns = rm_now_ns();
    s->reg = (uint16_t)reg;
    s->phase = (uint8_t)phase;
    n_sales++;
    make_id(i, id);
    format_ts(ts);
    /* The first line's sku is fresh (round robin above the extra range) so its stock change
     * names this sale; further lines come from the small extra range. */
    sku0 = EXTRA_SKUS + first_sku;
    first_sku = (first_sku + 1) % (O.n_skus - EXTRA_SKUS);
    sku_owner[sku0] = (int32_t)i;
    n_lines = 1 + (int)(i % 3);
    for (int k = 0; k < n_lines; k++) {
        /* extra lines: (7i + 13k) mod 100 differ for k = 1, 2, so no sku repeats */
        int64_t sku = k == 0 ? sku0 : (i * 7 + k * 13) % EXTRA_SKUS;
        int qty = 1 + (int)((i + k) % 4);
        int price = sku_price(sku);

        total += (int64_t)qty * price;
        off += snprintf(lines + off, sizeof(lines) - (size_t)off,
                        "%s{\"sku\":\"%s%06" PRId64 "\",\"qty\":%d,\"price\":%d,\"ver\":1}",
                        k ? "," : "", O.sku_prefix, sku, qty, price);
    }
    reg_seq[reg]++;
    len = snprintf(buf, sizeof(buf),
                   "{\"id\":\"%s\",\"seq\":%" PRId64 ",\"store\":\"%s\",\"reg\":\"%s%02d\","
                   "\"ts\":\"%s\",\"kind\":\"sale\",\"lines\":[%s],\"tenders\":[{\"type\":"
                   "\"card\",\"amount\":%" PRId64 "}],\"total\":%" PRId64 "}",
                   id, reg_seq[reg], O.store, O.reg_prefix, reg, ts, lines, total, total);
    if (len <= 0 || (size_t)len >= sizeof(buf))
        rm_fail("sale text too long");
    s->payload = rm_xmalloc((size_t)len);
    memcpy(s->payload, buf, (size_t)len);
    s->len = (uint32_t)len;
    reg_pending[reg]++;
    send_sale(i);
    return true;
}

static bool is_gw(void)
{
    return strcmp(O.mode, "gw") == 0;
}

/* A sale stops being pending at its ack (gw) or at the cloud (bridge). */
static void sale_done(int64_t i)
{
    struct sale *s = &sales[i];

    if (reg_pending[s->reg] > 0)
        reg_pending[s->reg]--;
    /* a done sale is never resent: its text is not needed any more */
    free(s->payload);
    s->payload = NULL;
}

/* ---- incoming messages ---- */

static void on_ack(const char *p, size_t n, int64_t t)
{
    int64_t i;
    struct sale *s;

    if (n < 44 || memcmp(p, "{\"id\":\"", 7) != 0) {
        n_unmatched++;
        return;
    }
    i = id_index(p + 7);
    if (i < 0) {
        n_unmatched++;
        return;
    }
    s = &sales[i];
    if (memmem(p, n, "\"status\":\"rejected\"", 19)) {
        if (!first_reject[0])
            snprintf(first_reject, sizeof(first_reject), "%.*s", (int)(n < 200 ? n : 200), p);
        n_rejected++;
        if (!s->acked_ns) {
            s->acked_ns = -1;
            sale_done(i);
        }
        return;
    }
    if (s->acked_ns) {
        n_dup_acks++;
        return;
    }
    s->acked_ns = t;
    n_acked++;
    if (is_gw())
        sale_done(i);
}

static void at_cloud(const char *id, int64_t t)
{
    int64_t i = id_index(id);
    struct sale *s;

    if (i < 0) {
        n_unmatched++;
        return;
    }
    s = &sales[i];
    if (s->cloud_ns) {
        n_cloud_dups++;
        return;
    }
    s->cloud_ns = t;
    n_cloud++;
    if (!is_gw())
        sale_done(i);
}

static void on_cloud(const char *p, size_t n, int64_t t)
{
    /* A bridge forwards the sale itself; the gateway a batch whose records each open with
     * {"id":" (records have no other "id" key: lines and tenders carry none). */
    const char *end = p + n, *q = p;

    for (;;) {
        const char *hit = memmem(q, (size_t)(end - q), "{\"id\":\"", 7);

        if (!hit || end - hit < 7 + 36)
            break;
        at_cloud(hit + 7, t);
        q = hit + 7 + 36;
    }
}

/* Stock changes name a sale through its first line's sku; price changes a probe's sku. */
static void on_changes(int reg, const char *p, size_t n, int64_t t)
{
    const char *end = p + n, *q = p;
    size_t pre = strlen(O.sku_prefix);

    n_changes_msgs++;
    for (;;) {
        const char *hit = memmem(q, (size_t)(end - q), "\"entity\":\"", 10);
        bool price;
        const char *k;
        long sku;

        if (!hit)
            break;
        hit += 10;
        price = end - hit > 5 && memcmp(hit, "price", 5) == 0;
        k = memmem(hit, (size_t)(end - hit), "\"key\":\"", 7);
        if (!k)
            break;
        k += 7;
        q = k;
        n_change_items++;
        if ((size_t)(end - k) < pre + 6 || memcmp(k, O.sku_prefix, pre) != 0)
            continue;
        sku = strtol(k + pre, NULL, 10);
        if (sku < 0 || sku >= O.n_skus)
            continue;
        if (price) {
            for (int j = n_probes - 1; j >= 0; j--) {
                struct price_probe *pp = &probes[j];

                if (pp->sku != sku || pp->seen_by[reg])
                    continue;
                pp->seen_by[reg] = true;
                if (++pp->seen == O.n_regs)
                    pp->done_ns = t;
                break;
            }
            continue;
        }
        int32_t i = sku_owner[sku];

        if (i < 0 || sales[i].reg == reg)
            continue;
        if (++sales[i].change_seen == O.n_regs - 1)
            sales[i].change_ns = t;
    }
}

/* ---- echo: the floor of a gateway ---- */


static char *echo_batch;          /* this iteration's records: "{"items":[" ... */
static size_t echo_len, echo_cap;
static int64_t echo_items, echo_gw_seq;

static void echo_append(const char *p, size_t n)
{
    if (echo_len + n > echo_cap) {
        echo_cap = (echo_len + n) * 2;
        echo_batch = realloc(echo_batch, echo_cap);
        if (!echo_batch)
            rm_fail("out of memory");
    }
    memcpy(echo_batch + echo_len, p, n);
    echo_len += n;
}

/* Acks a sale at once (the ack is written after the iteration's fsync) and adds it to the
 * batch. Only id and seq are read; the record is the sale text itself. */
static void echo_sale(struct rm_conn *c, const char *topic, const char *body, size_t n)
{
    const char *reg = strstr(topic, "/reg/"), *seq = memmem(body, n, "\"seq\":", 6);
    char ack_topic[200], ack[160];
    int reg_len, len;

    if (!reg || n < 7 + 36 || memcmp(body, "{\"id\":\"", 7) != 0 || !seq)
        return;
    reg += 5;
    reg_len = (int)(strchr(reg, '/') ? strchr(reg, '/') - reg : (ptrdiff_t)strlen(reg));
    snprintf(ack_topic, sizeof(ack_topic), "pos/v1/%s/reg/%.*s/ack", O.store, reg_len, reg);
    len = snprintf(ack, sizeof(ack), "{\"id\":\"%.36s\",\"status\":\"ok\",\"gw_seq\":%" PRId64
                   ",\"seq\":%lld}", body + 7, ++echo_gw_seq, strtoll(seq + 6, NULL, 10));
    rm_publish(c, ack_topic, ack, (size_t)len, false);
    echo_append(echo_items ? "," : "{\"items\":[", echo_items ? 1 : 10);
    echo_append(body, n);
    echo_items++;
}

/* The cheapest durable write there is: the batch overwrites a block of a file written
 * once beforehand (no allocation, no size change for fdatasync to journal), a ring. */
#define ECHO_RING_BYTES (64u * 1024 * 1024)

static int echo_ring_open(const char *path)
{
    static char zero[1 << 20];
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    if (fd < 0)
        rm_die(path);
    for (size_t off = 0; off < ECHO_RING_BYTES; off += sizeof(zero)) {
        if (write(fd, zero, sizeof(zero)) != (ssize_t)sizeof(zero))
            rm_die(path);
    }
    if (fsync(fd) != 0)
        rm_die(path);
    return fd;
}

static void echo_journal(int fd)
{
    static size_t off;

    if (echo_len > ECHO_RING_BYTES)
        rm_fail("echo batch larger than the journal ring");
    if (off + echo_len > ECHO_RING_BYTES)
        off = 0;
    if (pwrite(fd, echo_batch, echo_len, (off_t)off) != (ssize_t)echo_len || fdatasync(fd) != 0)
        rm_die("echo journal");
    off += (echo_len + 4095) & ~(size_t)4095;
}

static void echo_run(int fsync_fd)
{
    char topic[200];

    snprintf(topic, sizeof(topic), "p4/v1/%s/%s/up/sale", O.tenant, O.store);
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(rm_epoll(), evs, 64, 1000);

        if (n < 0 && errno != EINTR)
            rm_die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                rm_on_readable(rm_conn((int)evs[i].data.u32));
        }
        if (echo_items) {
            echo_append("]}", 2);
            if (fsync_fd >= 0)
                echo_journal(fsync_fd);
            rm_publish(rm_conn(1), topic, echo_batch, echo_len, false);
            echo_len = 0;
            echo_items = 0;
        }
        /* acks leave only now, after the fsync */
        for (int i = 0; i < rm_count(); i++) {
            if (rm_conn(i)->wlen)
                rm_flush(rm_conn(i));
        }
    }
}

/* Every PUBLISH read on any connection (rawmqtt already queued its PUBACK). */
static void on_message(struct rm_conn *c, const char *topic, const char *body, size_t blen,
                       int64_t t)
{
    size_t tl = strlen(topic);

    if (c->kind == C_ECHO_IN) {
        echo_sale(c, topic, body, blen);
    } else if (c->kind == C_CLOUD) {
        on_cloud(body, blen, t);
    } else if (c->kind == C_REG) {
        if (tl > 4 && strcmp(topic + tl - 4, "/ack") == 0)
            on_ack(body, blen, t);
        else if (tl > 8 && strcmp(topic + tl - 8, "/changes") == 0)
            on_changes(c->idx, body, blen, t);
    }
}

#define KEY_STDIN RM_KEY_OTHER_MIN

/* A line on stdin (or its end) starts phase 2 (--pause). */
static void on_stdin(uint32_t key)
{
    char line[64];
    ssize_t r;

    if (key != KEY_STDIN)
        return;
    r = read(0, line, sizeof(line));
    if (r <= 0 || memchr(line, '\n', (size_t)r))
        stdin_go = true;
}

/* ---- phases ---- */

static void resend_overdue(int64_t t, int64_t *low)
{
    int64_t timeout = O.ack_timeout_ms * 1000000LL;

    while (*low < n_sales && sales[*low].acked_ns)
        (*low)++;
    for (int64_t i = *low; i < n_sales; i++) {
        struct sale *s = &sales[i];

        if (!s->acked_ns && s->payload && t - s->last_send_ns >= timeout) {
            send_sale(i);
            n_resends++;
        }
    }
}

static int pick_reg(int *rr)
{
    for (int k = 0; k < O.n_regs; k++) {
        int r = (*rr + k) % O.n_regs;

        if (reg_pending[r] < O.window) {
            *rr = (r + 1) % O.n_regs;
            return r;
        }
    }
    return -1;
}

static void send_probe(void)
{
    struct price_probe *pp = &probes[n_probes];
    char topic[160], body[256];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    /* HQ's tenant-wide price counter: wall-clock ms keeps it above every earlier run's. */
    int64_t ver = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + n_probes;

    pp->sku = EXTRA_SKUS + (int)((first_sku + O.n_skus / 2 + n_probes) %
                                 (O.n_skus - EXTRA_SKUS));
    pp->seen_by = calloc((size_t)O.n_regs, sizeof(bool));
    if (!pp->seen_by)
        rm_fail("out of memory");
    snprintf(topic, sizeof(topic), "p4/v1/%s/_all/down/price", O.tenant);
    int len = snprintf(body, sizeof(body),
                       "{\"items\":[{\"sku\":\"%s%06d\",\"price\":%d,\"ver\":%" PRId64 "}]}",
                       O.sku_prefix, pp->sku, sku_price(pp->sku) + 1 + n_probes, ver);
    pp->sent_ns = rm_now_ns();
    rm_publish(rm_conn(hq_conn), topic, body, (size_t)len, false);
    n_probes++;
}

/* Sells at RATE (0: as fast as the windows allow) for DURATION_S or until COUNT sales of
 * this phase were made; price probes go out every price_interval_ms while selling. */
static void run_phase(int phase, double rate, double duration_s, int64_t count)
{
    int64_t t0 = rm_now_ns(), end = t0 + (int64_t)(duration_s * 1e9), next = t0;
    int64_t interval = rate > 0 ? (int64_t)(1e9 / rate) : 0, made = 0, low = 0;
    int64_t next_resend = t0 + 100000000LL, next_probe = t0;
    int rr = 0;

    while ((count <= 0 || made < count) && !capped && rm_now_ns() < end) {
        int64_t t = rm_now_ns();
        int timeout_ms = 100;

        if (rate > 0) {
            while (next <= t && (count <= 0 || made < count)) {
                int r = pick_reg(&rr);

                if (r < 0 || !make_sale(r, phase))
                    break;
                made++;
                next += interval;
            }
            if (next > t)
                timeout_ms = (int)((next - t) / 1000000);
        } else {
            for (int burst = 0; burst < 256 && (count <= 0 || made < count); burst++) {
                int r = pick_reg(&rr);

                if (r < 0 || !make_sale(r, phase))
                    break;
                made++;
            }
            timeout_ms = 1;
        }
        if (O.prices > 0 && n_probes < O.prices && t >= next_probe) {
            send_probe();
            next_probe = t + O.price_interval_ms * 1000000LL;
        }
        if (is_gw() && t >= next_resend) {
            resend_overdue(t, &low);
            next_resend = t + 100000000LL;
        }
        rm_poll(timeout_ms > 100 ? 100 : timeout_ms, on_stdin);
    }
}

/* Waits until every sale is acked (gw) and, when WANT_CLOUD, at the cloud, and the changes
 * of acked sales were seen, or GRACE_S passes. */
static void settle(bool want_cloud, double grace_s)
{
    int64_t deadline = rm_now_ns() + (int64_t)(grace_s * 1e9), low = 0;
    int64_t change_deadline = 0;

    for (;;) {
        int64_t t = rm_now_ns();
        bool acks_done = !is_gw() || n_acked + n_rejected >= n_sales;
        bool cloud_done = !want_cloud || n_cloud >= n_sales - n_rejected;
        bool probes_done = true;

        for (int j = 0; j < n_probes; j++)
            probes_done = probes_done && (probes[j].done_ns || t - probes[j].sent_ns > 3e9);
        if (acks_done && cloud_done && probes_done) {
            if (!O.follow_changes)
                break;
            /* changes trail their acks by a few ms; give them a moment, bounded */
            if (!change_deadline)
                change_deadline = t + 2000000000LL;
            int64_t missing = 0;

            for (int64_t i = 0; i < n_sales; i++)
                missing += sales[i].change_ns == 0;
            if (missing == 0 || t >= change_deadline)
                break;
        }
        if (t >= deadline)
            break;
        if (is_gw())
            resend_overdue(t, &low);
        rm_poll(20, on_stdin);
    }
}

/* ---- reporting ---- */

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void print_lat(const char *name, int64_t *v, size_t n, bool last)
{
    if (n == 0) {
        printf("\"%s\":{\"n\":0}%s", name, last ? "" : ",");
        return;
    }
    qsort(v, n, sizeof(*v), cmp64);
    size_t i50 = (n - 1) * 50 / 100, i99 = (size_t)((double)(n - 1) * 0.99 + 0.5);

    printf("\"%s\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}%s", name, n,
           (double)v[i50] / 1e6, (double)v[i99] / 1e6, (double)v[n - 1] / 1e6, last ? "" : ",");
}

/* Completion = acked and at the cloud (gw), or at the cloud (bridge). */
static int64_t done_ns(const struct sale *s)
{
    if (s->cloud_ns <= 0)
        return 0;
    if (is_gw())
        return s->acked_ns > 0 ? (s->acked_ns > s->cloud_ns ? s->acked_ns : s->cloud_ns) : 0;
    return s->cloud_ns;
}

static void report(int64_t t_start, int64_t t_resume)
{
    int64_t *ack = rm_xmalloc((size_t)n_sales * sizeof(int64_t) + 8);
    int64_t *cloud = rm_xmalloc((size_t)n_sales * sizeof(int64_t) + 8);
    int64_t *chg = rm_xmalloc((size_t)n_sales * sizeof(int64_t) + 8);
    int64_t pr[PRICES_MAX];
    size_t na = 0, nc = 0, ng = 0, np = 0;
    int64_t last_ack = 0, last_cloud = 0, last_done = 0, steady = 0, n_done = 0;
    int64_t w0 = t_start + (int64_t)(O.warmup_s * 1e9);
    int64_t w1 = t_start + (int64_t)(O.duration_s * 1e9);
    int64_t drain_last = 0, drain_n = 0;
    struct rusage ru;

    for (int64_t i = 0; i < n_sales; i++) {
        const struct sale *s = &sales[i];
        int64_t d = done_ns(s);

        /* latencies are of phase-1 sales, except with --pause where phase 2 is the live load
         * during the drain */
        bool measured = O.pause ? s->phase == 2 : s->phase == 1;

        if (s->acked_ns > 0 && measured)
            ack[na++] = s->acked_ns - s->created_ns;
        if (s->cloud_ns > 0 && measured)
            cloud[nc++] = s->cloud_ns - s->created_ns;
        if (s->change_ns > 0 && measured)
            chg[ng++] = s->change_ns - s->created_ns;
        if (s->acked_ns > last_ack)
            last_ack = s->acked_ns;
        if (s->cloud_ns > last_cloud)
            last_cloud = s->cloud_ns;
        if (d > last_done)
            last_done = d;
        if (d)
            n_done++;
        if (s->phase == 1 && d >= w0 && d < w1)
            steady++;
        if (O.pause && s->phase == 1 && s->cloud_ns > 0) {
            drain_n++;
            if (s->cloud_ns > drain_last)
                drain_last = s->cloud_ns;
        }
    }
    for (int j = 0; j < n_probes; j++) {
        if (probes[j].done_ns)
            pr[np++] = probes[j].done_ns - probes[j].sent_ns;
    }
    getrusage(RUSAGE_SELF, &ru);
    double gen_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    double win = O.duration_s - O.warmup_s;

    printf("{\"mode\":\"%s\",\"registers\":%d,\"sales\":%" PRId64 ",\"phase1\":%" PRId64
           ",\"acked\":%" PRId64 ",\"at_cloud\":%" PRId64 ",\"done\":%" PRId64
           ",\"rejected\":%" PRId64 ",\"dup_acks\":%" PRId64 ",\"cloud_dups\":%" PRId64
           ",\"resends\":%" PRId64 ",\"unmatched\":%" PRId64 ",\"changes_msgs\":%" PRId64
           ",\"change_items\":%" PRId64 ",",
           O.mode, O.n_regs, n_sales, n_phase1, n_acked, n_cloud, n_done, n_rejected,
           n_dup_acks, n_cloud_dups, n_resends, n_unmatched, n_changes_msgs, n_change_items);
    printf("\"ack_s\":%.3f,\"cloud_s\":%.3f,\"done_s\":%.3f,\"steady_rate\":%.1f,",
           last_ack ? (double)(last_ack - t_start) / 1e9 : 0.0,
           last_cloud ? (double)(last_cloud - t_start) / 1e9 : 0.0,
           last_done ? (double)(last_done - t_start) / 1e9 : 0.0,
           win > 0 ? (double)steady / win : 0.0);
    if (O.pause)
        printf("\"drain\":{\"n\":%" PRId64 ",\"s\":%.3f},", drain_n,
               drain_last > t_resume ? (double)(drain_last - t_resume) / 1e9 : 0.0);
    printf("\"gen_cpu_s\":%.2f,\"capped\":%s,", gen_cpu, capped ? "true" : "false");
    if (first_reject[0]) {
        printf("\"first_reject\":\"");
        for (const char *p = first_reject; *p; p++)
            if (*p != '"' && *p != '\\')
                putchar(*p);
        printf("\",");
    }
    print_lat("lat_ack", ack, na, false);
    print_lat("lat_cloud", cloud, nc, false);
    print_lat("lat_change", chg, ng, false);
    printf("\"price_probes\":%d,", n_probes);
    print_lat("lat_price", pr, np, true);
    printf("}\n");
    fflush(stdout);
    free(ack);
    free(cloud);
    free(chg);
}

/* ---- setup ---- */

static const char help[] =
    "usage: p4load --mode gw|bridge --store-port P [--cloud-port P] [options]\n"
    "       p4load --mode echo --store-port P --cloud-port P [--store S] [--fsync FILE]\n"
    "  --registers N (20)  --window W (64 pending per register)  --rate R (0 = max)\n"
    "  --duration S (10)   --count N (0 = no limit)  --warmup S (1; excluded from steady)\n"
    "  --follow-changes    --no-cloud (do not wait for cloud arrivals)\n"
    "  --prices K --price-interval-ms MS (HQ price changes on the cloud broker)\n"
    "  --pause --rate2 R --duration2 S (phase 2 after a line on stdin)\n"
    "  --tenant T (acme) --store S (s001) --reg-prefix P (r) --skus N (100000)\n"
    "  --sku-prefix P (sku-) --ack-timeout-ms MS (2000) --grace S (60)\n"
    "  p4load --write-stock FILE --skus N   writes the stock CSV the sales assume\n";

static int write_stock(const char *path, int n, const char *prefix)
{
    FILE *f = fopen(path, "w");

    if (!f)
        rm_die(path);
    fprintf(f, "sku,on_hand,price_minor,price_ver\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%06d,1000000,%d,1\n", prefix, i, sku_price(i));
    if (fclose(f) != 0)
        rm_die(path);
    return 0;
}

static int echo_main(void)
{
    char cid[128], filter[200];
    int fd = -1;

    if (O.store_port <= 0 || O.cloud_port <= 0) {
        fputs(help, stderr);
        return 2;
    }
    if (O.fsync_path)
        fd = echo_ring_open(O.fsync_path);
    rm_init("p4load", 2, on_message);
    /* conns[0] takes the sales, conns[1] carries the batches */
    snprintf(cid, sizeof(cid), "p4echo-%s", O.store);
    rm_open(C_ECHO_IN, -1, O.store_host, O.store_port, cid, true);
    snprintf(cid, sizeof(cid), "p4echo-%s-up", O.store);
    rm_open(C_ECHO_OUT, -1, O.cloud_host, O.cloud_port, cid, true);
    snprintf(filter, sizeof(filter), "pos/v1/%s/reg/+/sale", O.store);
    rm_subscribe(rm_conn(0), filter);
    echo_run(fd);
    return 0;
}

int main(int argc, char **argv)
{
    const char *stock_file = NULL;
    char cid[128], filter[200];
    int64_t t_start, t_resume = 0;

    O.mode = "gw";
    O.store_host = O.cloud_host = "127.0.0.1";
    O.tenant = "acme";
    O.store = "s001";
    O.reg_prefix = "r";
    O.sku_prefix = "sku-";
    O.n_regs = 20;
    O.window = 64;
    O.n_skus = 100000;
    O.duration_s = 10;
    O.warmup_s = 1;
    O.grace_s = 60;
    O.ack_timeout_ms = 2000;
    O.price_interval_ms = 200;
    O.wait_cloud = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool used = true;

        if (strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "--follow-changes") == 0) {
            O.follow_changes = true;
            used = false;
        } else if (strcmp(a, "--pause") == 0) {
            O.pause = true;
            used = false;
        } else if (strcmp(a, "--no-cloud") == 0) {
            O.wait_cloud = false;
            used = false;
        } else if (!v) {
            fprintf(stderr, "p4load: %s needs a value\n%s", a, help);
            return 2;
        } else if (strcmp(a, "--mode") == 0) {
            O.mode = v;
        } else if (strcmp(a, "--store-port") == 0) {
            O.store_port = atoi(v);
        } else if (strcmp(a, "--cloud-port") == 0) {
            O.cloud_port = atoi(v);
        } else if (strcmp(a, "--registers") == 0) {
            O.n_regs = atoi(v);
        } else if (strcmp(a, "--window") == 0) {
            O.window = atoi(v);
        } else if (strcmp(a, "--rate") == 0) {
            O.rate = atof(v);
        } else if (strcmp(a, "--rate2") == 0) {
            O.rate2 = atof(v);
        } else if (strcmp(a, "--duration") == 0) {
            O.duration_s = atof(v);
        } else if (strcmp(a, "--duration2") == 0) {
            O.duration2_s = atof(v);
        } else if (strcmp(a, "--warmup") == 0) {
            O.warmup_s = atof(v);
        } else if (strcmp(a, "--grace") == 0) {
            O.grace_s = atof(v);
        } else if (strcmp(a, "--count") == 0) {
            O.count = atoll(v);
        } else if (strcmp(a, "--prices") == 0) {
            O.prices = atoi(v);
        } else if (strcmp(a, "--price-interval-ms") == 0) {
            O.price_interval_ms = atoll(v);
        } else if (strcmp(a, "--tenant") == 0) {
            O.tenant = v;
        } else if (strcmp(a, "--store") == 0) {
            O.store = v;
        } else if (strcmp(a, "--reg-prefix") == 0) {
            O.reg_prefix = v;
        } else if (strcmp(a, "--skus") == 0) {
            O.n_skus = atoi(v);
        } else if (strcmp(a, "--sku-prefix") == 0) {
            O.sku_prefix = v;
        } else if (strcmp(a, "--ack-timeout-ms") == 0) {
            O.ack_timeout_ms = atoll(v);
        } else if (strcmp(a, "--fsync") == 0) {
            O.fsync_path = v;
        } else if (strcmp(a, "--write-stock") == 0) {
            stock_file = v;
        } else {
            fprintf(stderr, "p4load: unknown option %s\n%s", a, help);
            return 2;
        }
        if (used)
            i++;
    }
    if (stock_file)
        return write_stock(stock_file, O.n_skus, O.sku_prefix);
    if (strcmp(O.mode, "echo") == 0)
        return echo_main();
    if ((strcmp(O.mode, "gw") != 0 && strcmp(O.mode, "bridge") != 0) || O.store_port <= 0 ||
        O.n_regs < 2 || O.n_regs > REGS_MAX || O.window < 1 || O.n_skus <= EXTRA_SKUS * 2 ||
        O.prices > PRICES_MAX || (O.prices > 0 && O.cloud_port <= 0) ||
        (O.wait_cloud && O.cloud_port <= 0)) {
        fputs(help, stderr);
        return 2;
    }
    double r1 = O.rate > 0 ? O.rate : 60000; /* above any rate two cores reach */
    O.max_sales = (O.count > 0 ? O.count : (int64_t)(r1 * O.duration_s)) +
                  (int64_t)(O.rate2 * O.duration2_s) + 1000;
    sales = calloc((size_t)O.max_sales, sizeof(*sales));
    sku_owner = malloc((size_t)O.n_skus * sizeof(*sku_owner));
    reg_seq = calloc((size_t)O.n_regs, sizeof(*reg_seq));
    reg_pending = calloc((size_t)O.n_regs, sizeof(*reg_pending));
    if (!sales || !sku_owner || !reg_seq || !reg_pending)
        rm_fail("out of memory");
    memset(sku_owner, 0xff, (size_t)O.n_skus * sizeof(*sku_owner));
    if (getrandom(&run_tag, sizeof(run_tag), 0) != sizeof(run_tag))
        rm_die("getrandom");
    first_sku = (int64_t)(run_tag % (uint64_t)(O.n_skus - EXTRA_SKUS));
    rm_init("p4load", CONNS_MAX, on_message);

    /* registers are conns[0..n_regs-1] so a sale's reg index is its connection */
    for (int r = 0; r < O.n_regs; r++) {
        snprintf(cid, sizeof(cid), "p4load-%06" PRIx64 "-%s%02d", run_tag & 0xffffff,
                 O.reg_prefix, r);
        int k = rm_open(C_REG, r, O.store_host, O.store_port, cid, true);

        if (is_gw()) {
            snprintf(filter, sizeof(filter), "pos/v1/%s/reg/%s%02d/ack", O.store, O.reg_prefix,
                     r);
            rm_subscribe(rm_conn(k), filter);
        }
        if (O.follow_changes || O.prices > 0) {
            snprintf(filter, sizeof(filter), "pos/v1/%s/changes", O.store);
            rm_subscribe(rm_conn(k), filter);
        }
    }
    if (O.cloud_port > 0) {
        snprintf(cid, sizeof(cid), "p4load-%06" PRIx64 "-hq", run_tag & 0xffffff);
        cloud_conn = rm_open(C_CLOUD, -1, O.cloud_host, O.cloud_port, cid, true);
        if (is_gw())
            snprintf(filter, sizeof(filter), "p4/v1/%s/%s/up/sale", O.tenant, O.store);
        else
            snprintf(filter, sizeof(filter), "pos/v1/%s/reg/+/sale", O.store);
        rm_subscribe(rm_conn(cloud_conn), filter);
    }
    if (O.prices > 0) {
        snprintf(cid, sizeof(cid), "p4load-%06" PRIx64 "-hqpub", run_tag & 0xffffff);
        hq_conn = rm_open(C_HQ, -1, O.cloud_host, O.cloud_port, cid, true);
    }
    /* every CONNACK and SUBACK before the clock starts */
    int64_t deadline = rm_now_ns() + 10000000000LL;

    for (;;) {
        if (rm_all_ready())
            break;
        if (rm_now_ns() > deadline)
            rm_fail("brokers did not answer CONNECT/SUBSCRIBE within 10 s");
        rm_poll(10, NULL);
    }
    t_start = rm_now_ns();
    run_phase(1, O.rate, O.duration_s, O.count);
    n_phase1 = n_sales;
    if (O.pause) {
        settle(false, O.grace_s);
        printf("READY acked=%" PRId64 " at_cloud=%" PRId64 "\n", n_acked, n_cloud);
        fflush(stdout);
        rm_watch_fd(0, KEY_STDIN);
        while (!stdin_go)
            rm_poll(100, on_stdin);
        t_resume = rm_now_ns();
        run_phase(2, O.rate2, O.duration2_s, 0);
    }
    settle(O.wait_cloud, O.grace_s);
    report(t_start, t_resume);
    return 0;
}
