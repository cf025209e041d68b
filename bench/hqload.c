/* SPDX-License-Identifier: Apache-2.0 */
/* hqload: many simulated store gateways speaking the cloud contract to p4hq (raw MQTT, epoll). */

/*
 * Each simulated store is one MQTT connection to the cloud broker, as a p4gw is: it publishes
 * its sales as contract up/sale batches on p4/v1/{tenant}/{store}/up/sale (records in gw_seq
 * order, gw_seq from 1, gap-free), reads HQ's watermark on its own down/ack (and, like p4gw,
 * everything on its own down/+ and on _all/down/+), keeps every record until a down/ack covers
 * it, and publishes again every record HQ has not covered within --resend-ms of its last send
 * (p4gw's hq_resend_s). At most 32 batches await the broker's PUBACK per store (p4gw's
 * max_inflight); a batch holds at most --batch-max records and 262,144 bytes.
 *
 * Sales: 1-5 lines over --skus SKUs, paid by card; a third carry a customer earning points.
 * Each store has 8 customers of its own, and customers 0-1 of the next store shop there too,
 * so a customer shops at one or two stores. A record is rebuilt from (store, gw_seq, its
 * creation time) whenever it is sent, so a resend is byte for byte the first send.
 *
 * Load, one of:
 *   --window W   closed loop: W x stores records not yet covered by HQ in all, a new sale made
 *                (at the next store, round robin) whenever one is covered, each sent at once in
 *                its own batch (what p4gw sends at a few sales/s per store);
 *   --rate R     open loop: R sales/s over all stores round robin, each in its own batch; with
 *                --max-outstanding N no sale is made while N sales wait for HQ (an offered
 *                rate above HQ's pace then runs at HQ's pace: the steady rate is HQ's);
 *   --queued K   a backlog: every store makes K sales while "offline", then sends them all at
 *                once (batches of up to --batch-max) while --live-stores further stores sell
 *                --live-rate sales/s; the drain time and the live sales' latency are reported.
 * The clock is CLOCK_MONOTONIC, so a driver can compare its own times with the ones printed.
 * Price probes (--probe-prefix P): every down/price item whose sku starts with P is counted
 * per store; the report gives, per such sku, how many stores got it and when the last did.
 *
 * Loyalty (--loyalty-seed 1, with --rate): at t0 customer 0 of every 4th store buys at both
 * its stores; after the warm-up each of its earns is timed from its first publish to the first
 * down/loyalty balance that includes it at the customer's other store.
 * --dump FILE writes every record's first send, last send and ack time, for checking counts.
 *
 * Result: one JSON object on stdout.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rawmqtt.h"
#include "saleid.h"

#define STORES_MAX 20000
#define INFLIGHT_MAX 32          /* batches awaiting PUBACK per store, as p4gw's max_inflight */
#define BATCH_BYTES_MAX 262144   /* p4gw's batch_max_bytes */
#define RECORD_MAX 2048
#define PROBES_MAX 64
#define CUSTOMERS_PER_STORE 8
#define SEED_EVERY 4             /* --loyalty-seed: customer 0 of every 4th store (a burst of
                                  * 8,000 seed sales at 1,000 stores held p4hq's acks back) */

enum { K_STORE, K_LIVE };

struct rec {
    int64_t created_ms;   /* wall clock, part of the record's text */
    int64_t first_ns;     /* first publish (CLOCK_MONOTONIC) */
    int64_t last_ns;      /* last publish */
    int64_t acked_ns;     /* the down/ack that covered it */
    int32_t cust;         /* the customer earning points (-1 = none), set at the first send */
    int32_t earn;
    int32_t seed_cust;    /* --loyalty-seed: this customer's sale, made before t0 (else -1) */
};

/* A sale earning points, waiting for its customer's balance to reach another store. */
struct earn {
    int store;            /* where it was made */
    int64_t gw_seq;
    int64_t balance;      /* the customer's earned total with it (all earns, in send order) */
    bool seen;
};

struct customer {
    bool seeded;          /* known at both its stores (--loyalty-seed): its earns are timed */
    int64_t balance;      /* every earn sent so far */
    struct earn *earns;
    int n, cap, first_open;
};

struct store {
    char id[40];
    int conn;
    bool live;            /* backlog mode: a live store, not one of the backlog */
    struct rec *recs;     /* recs[g - 1] is gw_seq g; grows as sales are made */
    int64_t cap, made, sent, through;
    int64_t batches;      /* published, for the PUBACK window */
};

struct probe {
    char sku[72];
    int64_t first_ns, last_ns;
    int stores;
    uint8_t *seen;        /* per store */
};

static struct {
    const char *host, *tenant, *prefix, *probe_prefix, *dump;
    int port, n_stores, window, batch_max, n_skus, live_stores;
    double rate, live_rate, duration_s, warmup_s, grace_s;
    int64_t queued, resend_ms, max_outstanding;
    bool loyalty_seed;
} O;

static struct store *stores;
static int n_all;                  /* stores + live stores */
static uint64_t run_tag;
static int64_t n_made, n_acked, n_resent_records, n_batches, n_records_sent;
static int64_t n_down_ack, n_down_other, n_down_price, n_down_loyalty, n_stale_acks;
static struct probe probes[PROBES_MAX];
static int n_probes;
static char *batch_buf;
static struct customer *customers; /* customers[home * 8 + k] */
static int64_t *lat_loyalty;       /* earn at store A -> a balance with it at store B, ns */
static size_t n_lat_loyalty, cap_lat_loyalty;
static bool timing_loyalty;        /* false while the seed sales go out */
static int64_t n_seed;
static int64_t capped_ns;          /* unused: kept 0 */
static int64_t n_throttled;        /* rate mode: sales not offered while the cap was reached */

static uint64_t mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* ---- records ---- */

/* The text of record G of store S into OUT (at most RECORD_MAX); returns its length. */
static int record_text(int s, int64_t g, char *out)
{
    const struct store *st = &stores[s];
    uint64_t h = mix64(run_tag ^ ((uint64_t)s << 32) ^ (uint64_t)g);
    int n_lines = 1 + (int)(h % 5), off, n;
    int64_t total = 0;
    char id[37], ts[32], lines[1024];
    int lo = 0;
    int sku0 = (int)((h >> 8) % (uint64_t)O.n_skus);

    bt_uuid7(st->recs[g - 1].created_ms, run_tag, ((uint64_t)s << 32) | (uint64_t)g, id);
    bt_format_ts(st->recs[g - 1].created_ms, ts);
    for (int k = 0; k < n_lines; k++) {
        /* consecutive skus from a random start: no sku twice in one sale */
        int sku = (sku0 + k) % O.n_skus;
        int qty = 1 + (int)((h >> (20 + 2 * k)) % 3);
        int price = 100 + (int)(mix64((uint64_t)sku) % 9900);

        total += (int64_t)qty * price;
        lo += snprintf(lines + lo, sizeof(lines) - (size_t)lo,
                       "%s{\"sku\":\"sku-%05d\",\"qty\":%d,\"price\":%d,\"ver\":1}", k ? "," : "",
                       sku, qty, price);
    }
    off = snprintf(out, RECORD_MAX,
                   "{\"id\":\"%s\",\"seq\":%" PRId64 ",\"store\":\"%s\",\"reg\":\"r1\","
                   "\"ts\":\"%s\",\"kind\":\"sale\",\"lines\":[%s],\"tenders\":[{\"type\":"
                   "\"card\",\"amount\":%" PRId64 "}],\"total\":%" PRId64,
                   id, g, st->id, ts, lines, total, total);
    if ((h >> 40) % 3 == 0 || st->recs[g - 1].seed_cust >= 0) {
        /* a customer of this store (0-7) or of the next one (its customers 0-1) */
        int k = (int)((h >> 44) % (CUSTOMERS_PER_STORE + 2));
        int home = k < CUSTOMERS_PER_STORE ? s : (s + 1) % n_all;
        int cust = home * CUSTOMERS_PER_STORE + (k < CUSTOMERS_PER_STORE ? k : k - 8);

        if (st->recs[g - 1].seed_cust >= 0)
            cust = st->recs[g - 1].seed_cust;
        off += snprintf(out + off, (size_t)(RECORD_MAX - off),
                        ",\"customer\":\"%s-c%d\",\"loyalty\":{\"earn\":%" PRId64
                        ",\"redeem\":0}", O.prefix, cust, total / 100);
        stores[s].recs[g - 1].cust = cust;
        stores[s].recs[g - 1].earn = (int32_t)(total / 100);
    }
    n = snprintf(out + off, (size_t)(RECORD_MAX - off), ",\"gw_seq\":%" PRId64 ",\"flags\":[]}",
                 g);
    if (n <= 0 || off + n >= RECORD_MAX)
        rm_fail("record text too long");
    return off + n;
}

static void make_sale(int s)
{
    struct store *st = &stores[s];

    if (st->made == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        st->recs = realloc(st->recs, (size_t)st->cap * sizeof(*st->recs));
        if (!st->recs)
            rm_fail("out of memory");
    }
    memset(&st->recs[st->made], 0, sizeof(*st->recs));
    st->recs[st->made].cust = -1;
    st->recs[st->made].seed_cust = -1;
    st->recs[st->made].created_ms = bt_realtime_ms();
    st->made++;
    n_made++;
}

/* Record G of store S was just sent for the first time: if it earns points, its customer's
 * total with it is what another store's down/loyalty balance must reach. */
static void note_earn(int s, int64_t g)
{
    const struct rec *r = &stores[s].recs[g - 1];
    struct customer *cu;

    if (r->cust < 0 || r->earn <= 0)
        return;
    cu = &customers[r->cust];
    cu->balance += r->earn;
    if (!timing_loyalty || !cu->seeded)
        return; /* a seed or warm-up sale, or a customer not seeded: not timed */
    if (cu->n == cu->cap) {
        cu->cap = cu->cap ? cu->cap * 2 : 8;
        cu->earns = realloc(cu->earns, (size_t)cu->cap * sizeof(*cu->earns));
        if (!cu->earns)
            rm_fail("out of memory");
    }
    cu->earns[cu->n++] = (struct earn){.store = s, .gw_seq = g, .balance = cu->balance};
}

/* Publishes records FROM..TO (gw_seq, inclusive) of store S in batches; returns the last
 * gw_seq sent (below TO when the PUBACK window is full). */
static int64_t send_records(int s, int64_t from, int64_t to, int64_t t)
{
    struct store *st = &stores[s];
    struct rm_conn *c = rm_conn(st->conn);
    char topic[160];
    int64_t g = from;

    snprintf(topic, sizeof(topic), "p4/v1/%s/%s/up/sale", O.tenant, st->id);
    while (g <= to && st->batches - c->pubacks < INFLIGHT_MAX) {
        size_t len = (size_t)snprintf(batch_buf, 64, "{\"store\":\"%s\",\"items\":[", st->id);
        int items = 0;

        while (g <= to && items < O.batch_max) {
            char rec[RECORD_MAX];
            int n = record_text(s, g, rec);

            if (items > 0 && len + (size_t)n + 3 > BATCH_BYTES_MAX)
                break;
            if (items)
                batch_buf[len++] = ',';
            memcpy(batch_buf + len, rec, (size_t)n);
            len += (size_t)n;
            if (st->recs[g - 1].first_ns == 0) {
                st->recs[g - 1].first_ns = t;
                note_earn(s, g);
            } else
                n_resent_records++;
            st->recs[g - 1].last_ns = t;
            items++;
            g++;
        }
        memcpy(batch_buf + len, "]}", 2);
        len += 2;
        rm_publish(c, topic, batch_buf, len, false);
        st->batches++;
        n_batches++;
        n_records_sent += items;
    }
    return g - 1;
}

/* Sends what store S made and has not sent, and again what HQ has not covered within
 * resend_ms of its last send (p4gw resends from the watermark on). */
static void pump(int s, int64_t t)
{
    struct store *st = &stores[s];

    if (st->through < st->sent &&
        t - st->recs[st->through].last_ns >= O.resend_ms * 1000000LL)
        st->sent = st->through;   /* from the watermark on, everything again */
    if (st->sent < st->made)
        st->sent = send_records(s, st->sent + 1, st->made, t);
}

/* ---- what HQ sends ---- */

static void on_ack(int s, const char *body, size_t len, int64_t t)
{
    struct store *st = &stores[s];
    const char *p = memmem(body, len, "\"through\":", 10);
    int64_t through;

    n_down_ack++;
    if (!p)
        return;
    through = strtoll(p + 10, NULL, 10);
    if (through > st->made)
        through = st->made; /* a watermark from before this run would be a bug: ignore it */
    if (through <= st->through) {
        n_stale_acks++;
        return;
    }
    for (int64_t g = st->through + 1; g <= through; g++) {
        st->recs[g - 1].acked_ns = t;
        n_acked++;
    }
    st->through = through;
    if (st->sent < through)
        st->sent = through;
}

static void on_price(int s, const char *body, size_t len, int64_t t)
{
    const char *end = body + len, *q = body;
    size_t pl = strlen(O.probe_prefix);

    n_down_price++;
    if (!pl)
        return;
    for (;;) {
        const char *hit = memmem(q, (size_t)(end - q), "\"sku\":\"", 7);
        const char *e;
        int j;

        if (!hit)
            break;
        hit += 7;
        e = memchr(hit, '"', (size_t)(end - hit));
        if (!e)
            break;
        q = e;
        if ((size_t)(e - hit) < pl || memcmp(hit, O.probe_prefix, pl) != 0 ||
            (size_t)(e - hit) >= sizeof(probes[0].sku))
            continue;
        for (j = 0; j < n_probes; j++) {
            if (strlen(probes[j].sku) == (size_t)(e - hit) &&
                memcmp(probes[j].sku, hit, (size_t)(e - hit)) == 0)
                break;
        }
        if (j == n_probes) {
            if (n_probes == PROBES_MAX)
                continue;
            memcpy(probes[j].sku, hit, (size_t)(e - hit));
            probes[j].sku[e - hit] = 0;
            probes[j].seen = calloc((size_t)n_all, 1);
            if (!probes[j].seen)
                rm_fail("out of memory");
            probes[j].first_ns = t;
            n_probes++;
        }
        if (!probes[j].seen[s]) {
            probes[j].seen[s] = 1;
            probes[j].stores++;
            probes[j].last_ns = t;
        }
    }
}

/* Each balance item for one of this run's customers: every earn of that customer made at
 * another store and now covered by the balance gets its latency (first send -> here). */
static void on_loyalty(int s, const char *body, size_t len, int64_t t)
{
    const char *end = body + len, *q = body;
    char key[64];
    int kl = snprintf(key, sizeof(key), "\"customer\":\"%s-c", O.prefix);

    for (;;) {
        const char *hit = memmem(q, (size_t)(end - q), key, (size_t)kl), *bal, *next;
        struct customer *cu;
        long cust;
        int64_t balance;

        if (!hit)
            break;
        hit += kl;
        cust = strtol(hit, NULL, 10);
        next = memmem(hit, (size_t)(end - hit), "\"customer\":", 11);
        bal = memmem(hit, (size_t)((next ? next : end) - hit), "\"balance\":", 10);
        q = next ? next : end;
        if (!bal || cust < 0 || cust >= (long)n_all * CUSTOMERS_PER_STORE)
            continue;
        balance = strtoll(bal + 10, NULL, 10);
        cu = &customers[cust];
        for (int i = cu->first_open; i < cu->n; i++) {
            struct earn *e = &cu->earns[i];

            if (e->seen || e->store == s || e->balance > balance)
                continue;
            e->seen = true;
            if (n_lat_loyalty == cap_lat_loyalty) {
                cap_lat_loyalty = cap_lat_loyalty ? cap_lat_loyalty * 2 : 1024;
                lat_loyalty = realloc(lat_loyalty, cap_lat_loyalty * sizeof(*lat_loyalty));
                if (!lat_loyalty)
                    rm_fail("out of memory");
            }
            lat_loyalty[n_lat_loyalty++] = t - stores[e->store].recs[e->gw_seq - 1].first_ns;
        }
        while (cu->first_open < cu->n && cu->earns[cu->first_open].seen)
            cu->first_open++;
    }
}

static void on_message(struct rm_conn *c, const char *topic, const char *body, size_t len,
                       int64_t t)
{
    size_t tl = strlen(topic);

    if (tl > 9 && strcmp(topic + tl - 9, "/down/ack") == 0) {
        on_ack(c->idx, body, len, t);
    } else if (tl > 11 && strcmp(topic + tl - 11, "/down/price") == 0) {
        on_price(c->idx, body, len, t);
    } else if (tl > 13 && strcmp(topic + tl - 13, "/down/loyalty") == 0) {
        n_down_loyalty++;
        on_loyalty(c->idx, body, len, t);
    } else {
        n_down_other++;
    }
}

/* ---- reporting ---- */

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void print_lat(const char *name, int64_t *v, size_t n)
{
    if (n == 0) {
        printf("\"%s\":{\"n\":0},", name);
        return;
    }
    qsort(v, n, sizeof(*v), cmp64);
    size_t i50 = (n - 1) * 50 / 100, i99 = (size_t)((double)(n - 1) * 0.99 + 0.5);

    printf("\"%s\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},", name, n,
           (double)v[i50] / 1e6, (double)v[i99] / 1e6, (double)v[n - 1] / 1e6);
}

static void report(int64_t t0, int64_t t_end_sell)
{
    int64_t w0 = t0 + (int64_t)(O.warmup_s * 1e9), w1 = t0 + (int64_t)(O.duration_s * 1e9);

    if (capped_ns && capped_ns < w1)
        w1 = capped_ns > w0 ? capped_ns : w0;
    int64_t *lat = rm_xmalloc((size_t)n_made * sizeof(int64_t));
    int64_t *live = rm_xmalloc((size_t)n_made * sizeof(int64_t));
    int64_t *done = rm_xmalloc((size_t)n_made * sizeof(int64_t));
    size_t nd = 0;
    size_t nl = 0, nlive = 0;
    int64_t steady = 0, last_ack = 0, backlog_last = 0, backlog_n = 0, unacked = 0;
    struct rusage ru;

    for (int s = 0; s < n_all; s++) {
        const struct store *st = &stores[s];

        for (int64_t g = 1; g <= st->made; g++) {
            const struct rec *r = &st->recs[g - 1];

            if (!r->acked_ns) {
                unacked++;
                continue;
            }
            if (r->acked_ns > last_ack)
                last_ack = r->acked_ns;
            done[nd++] = r->acked_ns - t0;
            if (r->acked_ns >= w0 && r->acked_ns < w1)
                steady++;
            if (O.queued > 0 && !st->live) {
                backlog_n++;
                if (r->acked_ns > backlog_last)
                    backlog_last = r->acked_ns;
            } else if (O.queued > 0) {
                live[nlive++] = r->acked_ns - r->first_ns;
            } else if (r->seed_cust >= 0) {
                continue; /* a seed sale, acked before t0 */
            } else if (r->first_ns >= w0 || (O.rate > 0 && !O.loyalty_seed)) {
                /* closed loop: the warm-up's latencies are of a queue still filling */
                lat[nl++] = r->acked_ns - r->first_ns;
            }
        }
    }
    /* The pace: 90 % of the sales over the time until they were acked. The rest is left
     * out because an ack HQ did not send is only made up for by the store's next sale or its
     * resend, and after the selling stops no next sale comes. */
    double pace = 0;

    if (nd) {
        qsort(done, nd, sizeof(*done), cmp64);
        size_t k = (size_t)((double)n_made * 0.9);

        if (k >= 1 && k <= nd)
            pace = (double)k / ((double)done[k - 1] / 1e9);
    }
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    double win = (double)(w1 - w0) / 1e9, sell_s = (double)(t_end_sell - t0) / 1e9;

    printf("{\"stores\":%d,\"live_stores\":%d,\"made\":%" PRId64 ",\"acked\":%" PRId64
           ",\"unacked\":%" PRId64 ",\"batches\":%" PRId64 ",\"records_sent\":%" PRId64
           ",\"resent_records\":%" PRId64 ",\"t0_ns\":%" PRId64 ",\"sell_s\":%.3f,"
           "\"ack_s\":%.3f,\"steady_rate\":%.1f,\"down_ack\":%" PRId64 ",\"stale_acks\":%" PRId64
           ",\"down_price\":%" PRId64 ",\"down_loyalty\":%" PRId64 ",\"down_other\":%" PRId64
           ",\"gen_cpu_s\":%.2f,\"capped\":%s,\"window_s\":%.3f,\"pace\":%.1f,",
           O.n_stores, O.queued > 0 ? O.live_stores : 0, n_made, n_acked, unacked, n_batches,
           n_records_sent, n_resent_records, t0, sell_s,
           last_ack ? (double)(last_ack - t0) / 1e9 : 0.0, win > 0 ? (double)steady / win : 0.0,
           n_down_ack, n_stale_acks, n_down_price, n_down_loyalty, n_down_other, cpu,
           n_throttled ? "true" : "false", win, pace);
    if (O.queued > 0)
        printf("\"backlog\":{\"n\":%" PRId64 ",\"drain_s\":%.3f},", backlog_n,
               backlog_last ? (double)(backlog_last - t0) / 1e9 : 0.0);
    /* acks per second since t0 (up to 600 s): where a consumer was slow or stalled */
    printf("\"seed_sales\":%" PRId64 ",", n_seed);
    printf("\"acked_per_s\":[");
    {
        int64_t n_s = nd ? done[nd - 1] / 1000000000LL + 1 : 0, k = 0;

        if (n_s > 600)
            n_s = 600;
        for (int64_t sec = 0; sec < n_s; sec++) {
            int64_t c = 0;

            while (k < (int64_t)nd && done[k] < (sec + 1) * 1000000000LL) {
                c++;
                k++;
            }
            printf("%s%" PRId64, sec ? "," : "", c);
        }
    }
    printf("],");
    printf("\"probes\":[");
    for (int j = 0; j < n_probes; j++)
        printf("%s{\"sku\":\"%s\",\"stores\":%d,\"first_ns\":%" PRId64 ",\"last_ns\":%" PRId64
               "}", j ? "," : "", probes[j].sku, probes[j].stores, probes[j].first_ns,
               probes[j].last_ns);
    printf("],");
    print_lat("lat_live", live, nlive);
    print_lat("lat_ack", lat, nl);
    {
        /* earns at a store whose customer also shops elsewhere: how many never reached it */
        int64_t open = 0;

        for (int i = 0; i < n_all * CUSTOMERS_PER_STORE; i++) {
            if (!customers[i].seeded)
                continue; /* only the seeded customers' earns are timed */
            for (int k = customers[i].first_open; k < customers[i].n; k++)
                open += !customers[i].earns[k].seen;
        }
        printf("\"loyalty_unseen\":%" PRId64 ",", open);
    }
    print_lat("lat_loyalty", lat_loyalty, n_lat_loyalty);
    printf("\"ok\":true}\n");
    fflush(stdout);
    free(lat);
    free(live);
    free(done);
}

/* Every record's times to O.dump, for checking the counts against the broker's and HQ's:
 * a first line "t0_wall_ms T", then "store gw_seq first_ms last_ms acked_ms" (ms since t0,
 * -1 for an ack that never came). */
static void dump_records(int64_t t0)
{
    FILE *f = fopen(O.dump, "w");
    int64_t wall_t0 = bt_realtime_ms() - (rm_now_ns() - t0) / 1000000;

    if (!f)
        rm_die(O.dump);
    fprintf(f, "t0_wall_ms %" PRId64 "\n", wall_t0);
    for (int s = 0; s < n_all; s++) {
        const struct store *st = &stores[s];

        for (int64_t g = 1; g <= st->made; g++) {
            const struct rec *r = &st->recs[g - 1];

            fprintf(f, "%s %" PRId64 " %.3f %.3f %.3f\n", st->id, g,
                    r->first_ns ? (double)(r->first_ns - t0) / 1e6 : -1.0,
                    r->last_ns ? (double)(r->last_ns - t0) / 1e6 : -1.0,
                    r->acked_ns ? (double)(r->acked_ns - t0) / 1e6 : -1.0);
        }
    }
    fclose(f);
}

/* ---- the run ---- */

static const char help[] =
    "usage: hqload --port P --stores N [--window W | --rate R | --queued K] [options]\n"
    "  --host H (127.0.0.1) --tenant T (acme) --prefix P (store ids P0000..; h + random)\n"
    "  --duration S (10) --warmup S (2) --grace S (60) --resend-ms MS (60000)\n"
    "  --batch-max N (500 with --queued, else 1) --skus N (2000)\n"
    "  --live-stores N (100) --live-rate R (100)   with --queued\n"
    "  --max-outstanding N   with --rate: sell only while fewer than N wait for HQ\n"
    "  --probe-prefix P   count down/price items whose sku starts with P\n"
    "  --loyalty-seed 1   at t0, customer 0 of every 4th store buys at both its stores; sales\n"
    "                     and earns are timed after the warm-up only\n"
    "  --dump FILE   every record: store gw_seq first last acked (ms since t0, -1 = never)\n";

static bool backlog_drained(void)
{
    for (int s = 0; s < O.n_stores; s++) {
        if (stores[s].through < stores[s].made)
            return false;
    }
    return true;
}

static bool all_acked(void)
{
    for (int s = 0; s < n_all; s++) {
        if (stores[s].through < stores[s].made)
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    static char prefix_buf[16];
    int64_t t0, t_end;
    char cid[96], filter[160];
    struct rlimit rl;

    O.host = "127.0.0.1";
    O.tenant = "acme";
    O.probe_prefix = "";
    O.duration_s = 10;
    O.warmup_s = 2;
    O.grace_s = 60;
    O.resend_ms = 60000;
    O.n_skus = 2000;
    O.live_stores = 100;
    O.live_rate = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "hqload: %s needs a value\n%s", a, help);
            return 2;
        }
        i++;
        if (strcmp(a, "--port") == 0)
            O.port = atoi(v);
        else if (strcmp(a, "--host") == 0)
            O.host = v;
        else if (strcmp(a, "--tenant") == 0)
            O.tenant = v;
        else if (strcmp(a, "--prefix") == 0)
            O.prefix = v;
        else if (strcmp(a, "--stores") == 0)
            O.n_stores = atoi(v);
        else if (strcmp(a, "--window") == 0)
            O.window = atoi(v);
        else if (strcmp(a, "--rate") == 0)
            O.rate = atof(v);
        else if (strcmp(a, "--queued") == 0)
            O.queued = atoll(v);
        else if (strcmp(a, "--duration") == 0)
            O.duration_s = atof(v);
        else if (strcmp(a, "--warmup") == 0)
            O.warmup_s = atof(v);
        else if (strcmp(a, "--grace") == 0)
            O.grace_s = atof(v);
        else if (strcmp(a, "--resend-ms") == 0)
            O.resend_ms = atoll(v);
        else if (strcmp(a, "--batch-max") == 0)
            O.batch_max = atoi(v);
        else if (strcmp(a, "--skus") == 0)
            O.n_skus = atoi(v);
        else if (strcmp(a, "--live-stores") == 0)
            O.live_stores = atoi(v);
        else if (strcmp(a, "--max-outstanding") == 0)
            O.max_outstanding = atoll(v);
        else if (strcmp(a, "--live-rate") == 0)
            O.live_rate = atof(v);
        else if (strcmp(a, "--probe-prefix") == 0)
            O.probe_prefix = v;
        else if (strcmp(a, "--dump") == 0)
            O.dump = v;
        else if (strcmp(a, "--loyalty-seed") == 0)
            O.loyalty_seed = atoi(v) != 0;
        else {
            fprintf(stderr, "hqload: unknown option %s\n%s", a, help);
            return 2;
        }
    }
    if (O.port <= 0 || O.n_stores < 1 || O.n_skus < 5 ||
        (O.window > 0) + (O.rate > 0) + (O.queued > 0) != 1 ||
        (O.queued > 0 && (O.live_stores < 1 || O.live_rate <= 0))) {
        fputs(help, stderr);
        return 2;
    }
    if (getrandom(&run_tag, sizeof(run_tag), 0) != sizeof(run_tag))
        rm_die("getrandom");
    if (!O.prefix) {
        snprintf(prefix_buf, sizeof(prefix_buf), "h%05" PRIx64, run_tag & 0xfffff);
        O.prefix = prefix_buf;
    }
    if (O.batch_max <= 0)
        O.batch_max = O.queued > 0 ? 500 : 1;
    n_all = O.n_stores + (O.queued > 0 ? O.live_stores : 0);
    if (n_all > STORES_MAX)
        rm_fail("too many stores");
    /* a socket per store, and a broker that may hold as many */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n_all + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    stores = calloc((size_t)n_all, sizeof(*stores));
    customers = calloc((size_t)n_all * CUSTOMERS_PER_STORE, sizeof(*customers));
    batch_buf = malloc(BATCH_BYTES_MAX + RECORD_MAX + 64);
    if (!stores || !batch_buf || !customers)
        rm_fail("out of memory");
    rm_init("hqload", n_all, on_message);
    for (int s = 0; s < n_all; s++) {
        struct store *st = &stores[s];

        st->live = s >= O.n_stores;
        snprintf(st->id, sizeof(st->id), "%s%s%04d", O.prefix, st->live ? "l" : "", s);
        snprintf(cid, sizeof(cid), "p4gw-%s-%s", O.tenant, st->id);
        st->conn = rm_open(st->live ? K_LIVE : K_STORE, s, O.host, O.port, cid, true);
        snprintf(filter, sizeof(filter), "p4/v1/%s/%s/down/+", O.tenant, st->id);
        rm_subscribe(rm_conn(st->conn), filter);
        snprintf(filter, sizeof(filter), "p4/v1/%s/_all/down/+", O.tenant);
        rm_subscribe(rm_conn(st->conn), filter);
        if (s % 64 == 63)
            rm_poll(0, NULL); /* let CONNACKs in while the rest connect */
    }
    int64_t deadline = rm_now_ns() + 60000000000LL;

    while (!rm_all_ready()) {
        if (rm_now_ns() > deadline)
            rm_fail("the broker did not answer CONNECT/SUBSCRIBE within 60 s");
        rm_poll(10, NULL);
    }
    fprintf(stderr, "hqload: %d stores connected\n", n_all);
    if (O.loyalty_seed) {
        /* HQ pushes a balance to the stores where the customer has shopped: customer 0 of
         * every SEED_EVERY-th store buys there and at the store before it (which sells it), all acked
         * before t0, so that every later earn of theirs has a store B to reach. */
        for (int s = 0; s < n_all; s += SEED_EVERY) {
            int other = (s + n_all - 1) % n_all, cust = s * CUSTOMERS_PER_STORE;

            customers[cust].seeded = true;
            make_sale(s);
            stores[s].recs[stores[s].made - 1].seed_cust = cust;
            make_sale(other);
            stores[other].recs[stores[other].made - 1].seed_cust = cust;
        }
        n_seed = n_made;
    }
    timing_loyalty = !O.loyalty_seed;
    if (O.queued > 0) {
        /* made while offline: created over the last K seconds, one a second */
        for (int s = 0; s < O.n_stores; s++) {
            for (int64_t k = 0; k < O.queued; k++) {
                make_sale(s);
                stores[s].recs[stores[s].made - 1].created_ms -= (O.queued - k) * 1000;
            }
        }
    }
    t0 = rm_now_ns();
    int64_t end = t0 + (int64_t)(O.duration_s * 1e9), next = t0;
    double rate = O.rate > 0 ? O.rate : O.live_rate;
    int64_t interval = rate > 0 ? (int64_t)(1e9 / rate) : 0;
    int rr = 0;

    int64_t drained_at = 0;

    for (;;) {
        int64_t t = rm_now_ns();

        if (t >= end)
            break;
        if (!timing_loyalty && t >= t0 + (int64_t)(O.warmup_s * 1e9))
            timing_loyalty = true;

        /* a backlog run sells live for 2 s more after the backlog drained, then stops */
        if (O.queued > 0 && !drained_at && backlog_drained())
            drained_at = t;
        if (drained_at && t - drained_at > 2000000000LL)
            break;
        if (O.window > 0) {
            /* round robin over the stores: a store whose ack was lost still sells, and the
             * ack of its next sale covers the earlier ones (as for a gateway in a shop) */
            while (n_made - n_acked < (int64_t)O.window * n_all) {
                make_sale(rr);
                rr = (rr + 1) % n_all;
            }
        } else {
            int first = O.queued > 0 ? O.n_stores : 0, span = n_all - first;

            while (next <= t) {
                if (O.max_outstanding > 0 && n_made - n_acked >= O.max_outstanding) {
                    /* HQ is behind by the whole cap: the offered rate waits for it */
                    next = t + interval;
                    n_throttled++;
                    break;
                }
                make_sale(first + rr);
                rr = (rr + 1) % span;
                next += interval;
            }
        }
        for (int s = 0; s < n_all; s++)
            pump(s, t);
        rm_poll(1, NULL);
    }
    t_end = rm_now_ns();
    /* until everything made is covered, resending as a gateway would */
    deadline = t_end + (int64_t)(O.grace_s * 1e9);
    while (!all_acked() && rm_now_ns() < deadline) {
        int64_t t = rm_now_ns();

        for (int s = 0; s < n_all; s++)
            pump(s, t);
        rm_poll(5, NULL);
    }
    /* late price probes: a moment more for the slowest store */
    if (n_probes) {
        int64_t until = rm_now_ns() + 1000000000LL;

        while (rm_now_ns() < until)
            rm_poll(20, NULL);
    }
    if (O.dump)
        dump_records(t0);
    report(t0, t_end);
    return 0;
}
