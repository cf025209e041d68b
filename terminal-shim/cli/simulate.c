/* SPDX-License-Identifier: Apache-2.0 */
/* `p4term simulate`: N real registers (own journal, own MQTT link) selling at a set rate. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "cli.h"
#include "p4common.h"
#include "p4term.h"

#define SIM_REGISTERS_MAX 500
#define SIM_PRICES_MAX 1000
#define SIM_LATENCIES_MAX 2000000 /* samples kept; beyond it latencies are not recorded */

static const char sim_help[] =
    "usage: p4term simulate --broker URI --store S --registers N --rate R --duration S\n"
    "                       --dir DIR [--count N] [--grace S] [--ack-timeout-ms MS]\n"
    "                       [--resend-max-ms MS] [--keep-acked-ms MS] [--prefix P]\n"
    "                       [--wait-hq] [--log-level LEVEL]\n"
    "\n"
    "Runs N registers in this process, each a real libp4term handle with its own journal\n"
    "(DIR/<P><NN>.db, P defaults to r) and its own connection to the store broker. Together\n"
    "they make R sales per second for S seconds: baskets of 1-5 lines drawn from the cached\n"
    "SKUs and prices (a built-in list when the cache is empty); --count N stops after N sales\n"
    "in all (shared evenly) even before S seconds. Then it waits up to --grace\n"
    "seconds (default 20) for every sale to be acknowledged and prints a summary. Journals in\n"
    "DIR are reused: a restarted simulation resends what an earlier one left pending and\n"
    "continues each register's seq.\n"
    "With --wait-hq the grace also waits until HQ has committed every acked sale (the\n"
    "registers' journals hold none: contract 1.2), and the exit code requires it.\n"
    "Exit 0 only when every sale was acknowledged (none pending, none rejected).\n";

/* Used when a register's cache has no prices yet (gateway unreachable at start). */
static const struct p4term_price_item builtin_prices[] = {
    {"coffee-250g", 499, 0}, {"milk-1l", 119, 0},    {"bread-500g", 249, 0},
    {"apples-1kg", 299, 0},  {"eggs-10", 319, 0},    {"butter-250g", 259, 0},
    {"cheese-200g", 449, 0}, {"pasta-500g", 179, 0},
};

struct sim;

struct sim_reg {
    struct sim *sim;
    int index;
    char id[P4T_ID_MAX + 1];
    char journal[1024];
    struct p4term *t;
    pthread_t thread;
    bool started;
    int64_t quota; /* sales this register makes when --count is given, else -1 */
    int64_t made;
    int64_t refused;
    uint64_t rng;
};

struct sim {
    const char *broker, *store, *dir, *prefix;
    int64_t n_regs, duration_s, grace_s, ack_timeout_ms, resend_max_ms, count, keep_acked_ms;
    bool wait_hq; /* --wait-hq: the grace also waits for HQ to commit every acked sale */
    int64_t rate_per_s; /* sales per second over all registers */
    struct sim_reg *regs;

    pthread_mutex_t mu; /* counters and latencies, updated from every worker thread */
    int64_t acked_ok, duplicates, rejected, synced;
    int64_t *lat;
    size_t n_lat, lat_cap;
};

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: baskets only need to look varied, not be unpredictable. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void on_event(const struct p4term_event *ev, void *user)
{
    struct sim *sim = user;

    pthread_mutex_lock(&sim->mu);
    switch (ev->kind) {
    case P4TERM_EV_ACK:
        if (ev->duplicate)
            sim->duplicates++;
        else
            sim->acked_ok++;
        if (sim->n_lat < sim->lat_cap)
            sim->lat[sim->n_lat++] = ev->latency_ms;
        break;
    case P4TERM_EV_REJECT:
        sim->rejected++;
        fprintf(stderr, "p4term simulate: sale %s rejected: %s\n", ev->sale_id, ev->reason);
        break;
    case P4TERM_EV_SYNCED:
        sim->synced++;
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&sim->mu);
}

/* Builds one basket from the register's cached prices (or the built-in list). */
static void make_basket(struct sim_reg *r, struct p4t_sale *s, struct p4term_price_item *prices,
                        size_t n_prices)
{
    size_t n_lines = 1 + rng_next(&r->rng) % 5;
    static const char *const tenders[] = {"cash", "card", "card", "card"};

    memset(s, 0, sizeof(*s));
    s->kind = P4T_SALE;
    for (size_t i = 0; i < n_lines; i++) {
        const struct p4term_price_item *p = &prices[rng_next(&r->rng) % n_prices];
        struct p4t_line *l = &s->lines[s->n_lines];
        bool merged = false;

        for (size_t k = 0; k < s->n_lines; k++) {
            if (strcmp(s->lines[k].sku, p->sku) == 0) {
                s->lines[k].qty++; /* the same SKU twice is one line with a larger qty */
                merged = true;
            }
        }
        if (merged)
            continue;
        snprintf(l->sku, sizeof(l->sku), "%s", p->sku);
        l->qty = 1 + (int64_t)(rng_next(&r->rng) % 3);
        l->price_minor = p->price_minor;
        l->ver = p->ver;
        s->n_lines++;
    }
    for (size_t i = 0; i < s->n_lines; i++)
        s->total_minor += s->lines[i].qty * s->lines[i].price_minor;
    snprintf(s->tenders[0].type, sizeof(s->tenders[0].type), "%s",
             tenders[rng_next(&r->rng) % 4]);
    s->tenders[0].amount_minor = s->total_minor;
    s->n_tenders = 1;
}

/* One register's seller: paces its share of the rate on absolute deadlines (no drift). */
static void *reg_main(void *arg)
{
    struct sim_reg *r = arg;
    struct sim *sim = r->sim;
    struct p4term_price_item *prices = calloc(SIM_PRICES_MAX, sizeof(*prices));
    struct p4t_sale *s = malloc(sizeof(*s));
    size_t n_prices = 0;
    int64_t start = p4_mono_ms(), end = start + sim->duration_s * 1000;
    /* Registers share the rate; offset each one so they do not all sell in the same ms. */
    double interval_ms = 1000.0 * (double)sim->n_regs / (double)sim->rate_per_s;
    double next = (double)start + interval_ms * (double)r->index / (double)sim->n_regs;
    int64_t last_refresh = 0;

    if (!prices || !s)
        goto out;
    while (!cli_stop) {
        int64_t now = p4_mono_ms();
        char reason[P4T_REASON_MAX];

        if ((int64_t)next >= end || (r->quota >= 0 && r->made + r->refused >= r->quota))
            break;
        if (now < (int64_t)next) {
            cli_sleep_ms((int64_t)next - now);
            continue;
        }
        next += interval_ms;
        if (now - last_refresh > 1000) {
            /* Prices follow the cache as it syncs and changes. */
            if (p4term_price_list(r->t, prices, SIM_PRICES_MAX, &n_prices) != 0)
                n_prices = 0;
            last_refresh = now;
        }
        if (n_prices == 0)
            make_basket(r, s, (struct p4term_price_item *)builtin_prices,
                        sizeof(builtin_prices) / sizeof(builtin_prices[0]));
        else
            make_basket(r, s, prices, n_prices);
        if (p4term_sale(r->t, s, NULL, NULL, reason, sizeof(reason)) == 0) {
            r->made++;
        } else {
            r->refused++;
            fprintf(stderr, "p4term simulate: %s: sale refused: %s\n", r->id, reason);
        }
    }
out:
    free(prices);
    free(s);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int64_t pending_total(struct sim *sim)
{
    int64_t sum = 0;

    for (int64_t i = 0; i < sim->n_regs; i++) {
        struct p4term_sale_info one;
        size_t n = 0;
        int64_t total = 0;

        if (sim->regs[i].t && p4term_pending(sim->regs[i].t, &one, 1, &n, &total) == 0)
            sum += total;
    }
    return sum;
}

/* Acked sales HQ has not committed yet, over every register (contract 1.2). */
static int64_t held_total(struct sim *sim)
{
    int64_t sum = 0;

    for (int64_t i = 0; i < sim->n_regs; i++) {
        int64_t n = 0;

        if (sim->regs[i].t && p4term_held(sim->regs[i].t, &n) == 0)
            sum += n;
    }
    return sum;
}

static int parse_args(struct sim *sim, int argc, char **argv, bool *help)
{
    enum p4_log_level level = P4_LOG_WARN;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = true;
            return 0;
        }
        if (strcmp(a, "--wait-hq") == 0) {
            sim->wait_hq = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "p4term simulate: %s needs a value (or unknown option)\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--broker") == 0)
            sim->broker = v;
        else if (strcmp(a, "--store") == 0)
            sim->store = v;
        else if (strcmp(a, "--dir") == 0)
            sim->dir = v;
        else if (strcmp(a, "--prefix") == 0)
            sim->prefix = v;
        else if (strcmp(a, "--registers") == 0)
            bad = cli_parse_int(v, 1, SIM_REGISTERS_MAX, &sim->n_regs);
        else if (strcmp(a, "--rate") == 0)
            bad = cli_parse_int(v, 1, 100000, &sim->rate_per_s);
        else if (strcmp(a, "--duration") == 0)
            bad = cli_parse_int(v, 0, 86400, &sim->duration_s);
        else if (strcmp(a, "--count") == 0)
            bad = cli_parse_int(v, 0, 100000000, &sim->count);
        else if (strcmp(a, "--grace") == 0)
            bad = cli_parse_int(v, 0, 3600, &sim->grace_s);
        else if (strcmp(a, "--ack-timeout-ms") == 0)
            bad = cli_parse_int(v, 1, 3600000, &sim->ack_timeout_ms);
        else if (strcmp(a, "--resend-max-ms") == 0)
            bad = cli_parse_int(v, 1, 3600000, &sim->resend_max_ms);
        else if (strcmp(a, "--keep-acked-ms") == 0)
            bad = cli_parse_int(v, 0, INT64_C(31536000000), &sim->keep_acked_ms);
        else if (strcmp(a, "--log-level") == 0)
            bad = p4_log_parse_level(v, &level);
        else {
            fprintf(stderr, "p4term simulate: unknown option %s (see --help)\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "p4term simulate: %s %s: bad value (see --help)\n", a, v);
            return -1;
        }
    }
    p4_log_set_level(level);
    if (!sim->broker || !sim->store || !sim->dir || sim->n_regs == 0 || sim->rate_per_s == 0) {
        fprintf(stderr, "p4term simulate: --broker, --store, --registers, --rate, --duration "
                        "and --dir are required (see --help)\n");
        return -1;
    }
    if (sim->resend_max_ms < sim->ack_timeout_ms)
        sim->resend_max_ms = sim->ack_timeout_ms;
    return 0;
}

int simulate_main(int argc, char **argv)
{
    struct sim sim;
    bool help = false;
    int64_t made = 0, refused = 0, pending = 0, held = 0, deadline, t0, elapsed_ms;
    int rc = 1;

    memset(&sim, 0, sizeof(sim));
    pthread_mutex_init(&sim.mu, NULL);
    sim.prefix = "r";
    sim.grace_s = 20;
    sim.ack_timeout_ms = 2000;
    sim.resend_max_ms = 30000;
    if (parse_args(&sim, argc, argv, &help) != 0)
        return 2;
    if (help) {
        fputs(sim_help, stdout);
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    cli_install_signals();
    if (mkdir(sim.dir, 0755) != 0 && errno != EEXIST) {
        perror(sim.dir);
        return 1;
    }
    sim.lat_cap = (size_t)(sim.rate_per_s * (sim.duration_s + sim.grace_s) * 2 + 10000);
    if (sim.lat_cap > SIM_LATENCIES_MAX)
        sim.lat_cap = SIM_LATENCIES_MAX;
    sim.lat = malloc(sim.lat_cap * sizeof(*sim.lat));
    sim.regs = calloc((size_t)sim.n_regs, sizeof(*sim.regs));
    if (!sim.lat || !sim.regs)
        goto out;
    for (int64_t i = 0; i < sim.n_regs; i++) {
        struct sim_reg *r = &sim.regs[i];
        struct p4term_options o;

        r->sim = &sim;
        r->index = (int)i;
        r->quota = sim.count > 0 ? sim.count / sim.n_regs + (i < sim.count % sim.n_regs) : -1;
        snprintf(r->id, sizeof(r->id), "%s%02d", sim.prefix, (int)(i + 1));
        snprintf(r->journal, sizeof(r->journal), "%s/%s.db", sim.dir, r->id);
        if (getrandom(&r->rng, sizeof(r->rng), 0) != sizeof(r->rng) || r->rng == 0)
            r->rng = 0x9e3779b97f4a7c15ULL + (uint64_t)i;
        p4term_options_init(&o);
        o.store = sim.store;
        o.reg = r->id;
        o.journal_path = r->journal;
        o.broker_uri = sim.broker;
        o.ack_timeout_ms = sim.ack_timeout_ms;
        o.resend_max_ms = sim.resend_max_ms;
        o.keep_acked_ms = sim.keep_acked_ms;
        if (p4term_open(&o, on_event, &sim, &r->t) != 0) {
            fprintf(stderr, "p4term simulate: cannot open register %s\n", r->id);
            goto out;
        }
    }
    /* Give the caches a moment to sync so baskets use the store's prices; go on without them
     * when the gateway is away (the built-in SKU list is used then). */
    deadline = p4_mono_ms() + 3000;
    while (p4_mono_ms() < deadline && !cli_stop) {
        int64_t synced;

        pthread_mutex_lock(&sim.mu);
        synced = sim.synced;
        pthread_mutex_unlock(&sim.mu);
        if (synced >= sim.n_regs)
            break;
        cli_sleep_ms(20);
    }
    t0 = p4_mono_ms();
    for (int64_t i = 0; i < sim.n_regs; i++) {
        if (pthread_create(&sim.regs[i].thread, NULL, reg_main, &sim.regs[i]) == 0)
            sim.regs[i].started = true;
    }
    for (int64_t i = 0; i < sim.n_regs; i++) {
        if (sim.regs[i].started)
            pthread_join(sim.regs[i].thread, NULL);
        made += sim.regs[i].made;
        refused += sim.regs[i].refused;
    }
    elapsed_ms = p4_mono_ms() - t0;
    /* Grace: wait for the acks of everything journaled (including earlier runs' leftovers). */
    deadline = p4_mono_ms() + sim.grace_s * 1000;
    for (;;) {
        int64_t rejected;

        pending = pending_total(&sim);
        held = sim.wait_hq ? held_total(&sim) : 0;
        pthread_mutex_lock(&sim.mu);
        rejected = sim.rejected;
        pthread_mutex_unlock(&sim.mu);
        (void)rejected;
        if ((pending == 0 && held == 0) || p4_mono_ms() >= deadline || cli_stop)
            break;
        cli_sleep_ms(50);
    }
    rc = 0;
out:
    for (int64_t i = 0; sim.regs && i < sim.n_regs; i++)
        p4term_close(sim.regs[i].t);
    if (rc == 0) {
        int64_t p50 = 0, p99 = 0, max = 0;

        qsort(sim.lat, sim.n_lat, sizeof(*sim.lat), cmp_i64);
        if (sim.n_lat) {
            p50 = sim.lat[(sim.n_lat - 1) / 2];
            p99 = sim.lat[(sim.n_lat - 1) * 99 / 100];
            max = sim.lat[sim.n_lat - 1];
        }
        printf("simulate: registers=%lld duration_ms=%lld sales_made=%lld refused=%lld\n",
               (long long)sim.n_regs, (long long)elapsed_ms, (long long)made,
               (long long)refused);
        printf("simulate: acked_ok=%lld duplicates=%lld rejected=%lld still_pending=%lld\n",
               (long long)sim.acked_ok, (long long)sim.duplicates, (long long)sim.rejected,
               (long long)pending);
        printf("simulate: ack_latency_ms p50=%lld p99=%lld max=%lld samples=%zu\n",
               (long long)p50, (long long)p99, (long long)max, sim.n_lat);
        if (sim.wait_hq)
            printf("simulate: still_held=%lld (acked, not yet committed at HQ)\n",
                   (long long)held);
        rc = pending == 0 && held == 0 && sim.rejected == 0 && refused == 0 ? 0 : 1;
        if (rc)
            printf("simulate: NOT every sale was acknowledged\n");
    }
    free(sim.regs);
    free(sim.lat);
    pthread_mutex_destroy(&sim.mu);
    return rc;
}
