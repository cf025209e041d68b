/* SPDX-License-Identifier: Apache-2.0 */
/* p4term: record sales, look up cached prices and stock, watch the store, simulate registers. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "p4common.h"
#include "p4term.h"

#define EXIT_USAGE 2
#define DEFAULT_WAIT_MS 5000

volatile sig_atomic_t cli_stop;

static void on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

void cli_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v;

    if (!s || !s[0])
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void cli_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

static const char usage_text[] =
    "usage: p4term --config FILE [--log-level LEVEL] COMMAND [ARGS]\n"
    "       p4term simulate --broker URI --store S --registers N --rate R --duration S --dir DIR\n"
    "\n"
    "commands:\n"
    "  sale      record a sale (journaled at once), wait a little for the gateway's ack\n"
    "  pending   list sales not yet acknowledged by the gateway\n"
    "  price SKU print the cached price (minor units) and its version\n"
    "  stock SKU print the cached stock on hand\n"
    "  sync      bring the cache up to date with the gateway, print the change cursor\n"
    "  flush     send pending sales and wait until the gateway acknowledged them all\n"
    "  watch     print changes, alerts, acks and link state, one line each, until SIGINT\n"
    "  simulate  run many registers in one process (see simulate --help)\n"
    "\n"
    "Run `p4term --config FILE COMMAND --help` for a command's options.\n"
    "Exit codes: 0 success, 1 failure (not found, not acknowledged in time, rejected),\n"
    "2 usage or configuration error.\n";

static const char sale_help[] =
    "usage: p4term --config FILE sale [--line SKU:QTY[:PRICE]]... [--tender TYPE[:AMOUNT]]...\n"
    "                                 [--kind sale|return|void] [--ref SALE_ID]\n"
    "                                 [--customer ID] [--wait-ms MS]\n"
    "       p4term --config FILE sale --file FILE|-   (a JSON sale body: kind, lines,\n"
    "                                 tenders, ...; id, seq, store, reg and ts are filled in)\n"
    "\n"
    "Money is in minor units (299 = 2.99). PRICE defaults to the cached price (its version is\n"
    "recorded with the line). One tender without AMOUNT pays the total; no tender means cash.\n"
    "The sale is journaled before anything is sent; then p4term waits up to --wait-ms (default\n"
    "5000) for the gateway's ack and prints: id=.. seq=.. status=acked|duplicate|pending|\n"
    "rejected gw_seq=... Exit 0 once journaled (even if still pending), 1 if rejected.\n";

struct cli_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool synced;
};

static struct cli_wait waiter = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
static bool watch_mode;

static void print_event(const struct p4term_event *ev)
{
    switch (ev->kind) {
    case P4TERM_EV_CHANGE:
        printf("change seq=%lld entity=%s key=%s value=%s\n", (long long)ev->change_seq,
               ev->entity, ev->key, ev->value_json ? ev->value_json : "null");
        break;
    case P4TERM_EV_ALERT:
        printf("alert kind=%s severity=%s sku=%s message=\"%s\"\n", ev->alert->kind,
               ev->alert->severity, ev->alert->sku[0] ? ev->alert->sku : "-",
               ev->alert->message);
        break;
    case P4TERM_EV_ACK:
        printf("ack id=%s seq=%lld gw_seq=%lld%s\n", ev->sale_id, (long long)ev->seq,
               (long long)ev->gw_seq, ev->duplicate ? " duplicate" : "");
        break;
    case P4TERM_EV_REJECT:
        printf("reject id=%s seq=%lld reason=\"%s\"\n", ev->sale_id, (long long)ev->seq,
               ev->reason);
        break;
    case P4TERM_EV_LINK:
        printf("link %s\n", ev->link_up ? "up" : "down");
        break;
    case P4TERM_EV_SYNCED:
        printf("synced cursor=%lld\n", (long long)ev->change_seq);
        break;
    case P4TERM_EV_NUMBERED:
        printf("numbered last_seq=%lld\n", (long long)ev->seq);
        break;
    }
    fflush(stdout);
}

/* Worker thread: wake whoever waits in main, and print everything in watch mode. */
static void on_event(const struct p4term_event *ev, void *user)
{
    (void)user;
    if (watch_mode)
        print_event(ev);
    pthread_mutex_lock(&waiter.mu);
    if (ev->kind == P4TERM_EV_SYNCED)
        waiter.synced = true;
    pthread_cond_broadcast(&waiter.cv);
    pthread_mutex_unlock(&waiter.mu);
}

/* Waits for the next event or until DEADLINE_MS (monotonic), whichever is first. */
static void wait_event(int64_t deadline_ms)
{
    struct timespec until;
    int64_t left = deadline_ms - p4_mono_ms();

    if (left <= 0)
        return;
    if (left > 200)
        left = 200; /* re-check the condition (and signals) regularly */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += left / 1000;
    until.tv_nsec += (left % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&waiter.mu);
    pthread_cond_timedwait(&waiter.cv, &waiter.mu, &until);
    pthread_mutex_unlock(&waiter.mu);
}

static bool synced_now(void)
{
    bool s;

    pthread_mutex_lock(&waiter.mu);
    s = waiter.synced;
    pthread_mutex_unlock(&waiter.mu);
    return s;
}

static void wait_synced(int64_t wait_ms);

/* ---- sale ---- */

/* Whether some SKU:QTY line (no price) names a SKU the cache has no price for. */
static bool line_needs_cache(struct p4term *t, const char *const *args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char sku[P4T_SKU_MAX + 1];
        const char *colon = strchr(args[i], ':');
        int64_t price, ver;
        size_t len;

        if (!colon || strchr(colon + 1, ':'))
            continue; /* malformed (reported later) or priced */
        len = (size_t)(colon - args[i]);
        if (len == 0 || len > P4T_SKU_MAX)
            continue;
        memcpy(sku, args[i], len);
        sku[len] = '\0';
        if (p4term_price(t, sku, &price, &ver) == P4TERM_ENOTFOUND)
            return true;
    }
    return false;
}

static int parse_line(struct p4term *t, const char *arg, struct p4t_line *line)
{
    char buf[256];
    char *qty_s, *price_s;
    int64_t price = 0, ver = 0;

    snprintf(buf, sizeof(buf), "%s", arg);
    qty_s = strchr(buf, ':');
    if (!qty_s) {
        fprintf(stderr, "p4term: --line %s: expected SKU:QTY[:PRICE]\n", arg);
        return -1;
    }
    *qty_s++ = '\0';
    price_s = strchr(qty_s, ':');
    if (price_s)
        *price_s++ = '\0';
    if (strlen(buf) == 0 || strlen(buf) > P4T_SKU_MAX) {
        fprintf(stderr, "p4term: --line %s: SKU must be 1..%d characters\n", arg, P4T_SKU_MAX);
        return -1;
    }
    snprintf(line->sku, sizeof(line->sku), "%s", buf);
    if (cli_parse_int(qty_s, -P4T_MAX_QTY, P4T_MAX_QTY, &line->qty) != 0 || line->qty == 0) {
        fprintf(stderr, "p4term: --line %s: QTY must be a non-zero integer\n", arg);
        return -1;
    }
    if (p4term_price(t, line->sku, &price, &ver) != 0) {
        price = -1;
        ver = 0;
    }
    if (price_s) {
        if (cli_parse_int(price_s, 0, P4T_MAX_PRICE, &line->price_minor) != 0) {
            fprintf(stderr, "p4term: --line %s: PRICE must be an integer 0..%d (minor units)\n",
                    arg, P4T_MAX_PRICE);
            return -1;
        }
    } else if (price < 0) {
        fprintf(stderr, "p4term: --line %s: no cached price for %s; give SKU:QTY:PRICE\n", arg,
                line->sku);
        return -1;
    } else {
        line->price_minor = price;
    }
    line->ver = ver;
    return 0;
}

/* Reads a JSON sale body and decodes it with the contract's own decoder, after filling in the
 * fields the library assigns (id, seq, store, reg, ts) and the total when it is absent. */
static int read_body(const char *path, const char *store, const char *reg, struct p4t_sale *s)
{
    char *text = NULL, *full = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    char reason[P4T_REASON_MAX];
    int rc = -1;

    if (strcmp(path, "-") == 0) {
        size_t cap = P4T_MAX_PAYLOAD + 1;

        text = malloc(cap + 1);
        if (!text)
            goto out;
        len = fread(text, 1, cap, stdin);
        text[len] = '\0';
        if (len > P4T_MAX_PAYLOAD) {
            fprintf(stderr, "p4term: sale body over %d bytes\n", P4T_MAX_PAYLOAD);
            goto out;
        }
    } else if (p4_read_file(path, P4T_MAX_PAYLOAD, &text, &len) != 0) {
        fprintf(stderr, "p4term: %s: cannot read (or over %d bytes): %s\n", path,
                P4T_MAX_PAYLOAD, strerror(errno));
        goto out;
    }
    root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        fprintf(stderr, "p4term: sale body is not a JSON object\n");
        goto out;
    }
    {
        const char *fill[][2] = {{"id", "00000000-0000-7000-8000-000000000000"},
                                 {"store", store},
                                 {"reg", reg},
                                 {"ts", "2000-01-01T00:00:00.000Z"}};

        for (size_t i = 0; i < sizeof(fill) / sizeof(fill[0]); i++) {
            cJSON_DeleteItemFromObjectCaseSensitive(root, fill[i][0]);
            cJSON_AddStringToObject(root, fill[i][0], fill[i][1]);
        }
        cJSON_DeleteItemFromObjectCaseSensitive(root, "seq");
        cJSON_AddNumberToObject(root, "seq", 1);
        if (!cJSON_GetObjectItemCaseSensitive(root, "kind"))
            cJSON_AddStringToObject(root, "kind", "sale");
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, "total")) {
        /* Compute it exactly from the lines; a bad line is reported by the decoder. */
        const cJSON *lines = cJSON_GetObjectItemCaseSensitive(root, "lines");
        const cJSON *ln;
        int64_t total = 0;
        char digits[32];

        cJSON_ArrayForEach(ln, lines)
        {
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(ln, "qty");
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(ln, "price");

            if (cJSON_IsNumber(q) && cJSON_IsNumber(p) && q->valuedouble >= -P4T_MAX_QTY &&
                q->valuedouble <= P4T_MAX_QTY && p->valuedouble >= 0 &&
                p->valuedouble <= P4T_MAX_PRICE)
                total += (int64_t)q->valuedouble * (int64_t)p->valuedouble;
        }
        snprintf(digits, sizeof(digits), "%lld", (long long)total);
        cJSON_AddItemToObject(root, "total", cJSON_CreateRaw(digits));
    }
    full = cJSON_PrintUnformatted(root);
    if (!full)
        goto out;
    if (p4t_sale_decode(full, strlen(full), s, reason, sizeof(reason)) != 0) {
        fprintf(stderr, "p4term: sale body: %s\n", reason);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    free(full);
    free(text);
    return rc;
}

static int cmd_sale(struct p4term *t, const struct p4term_config *cfg, int argc, char **argv)
{
    struct p4t_sale *s = calloc(1, sizeof(*s));
    const char *file = NULL;
    char id[P4T_UUID_MAX + 1], reason[P4T_REASON_MAX];
    struct p4term_sale_info info;
    int64_t wait_ms = DEFAULT_WAIT_MS, seq = 0, deadline;
    int64_t tender_amount[P4T_MAX_TENDERS];
    bool tender_has_amount[P4T_MAX_TENDERS];
    const char *line_args[P4T_MAX_LINES];
    size_t n_line_args = 0;
    int rc = EXIT_USAGE;

    if (!s)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(sale_help, stdout);
            rc = 0;
            goto out;
        }
        if (!v) {
            fprintf(stderr, "p4term sale: %s needs a value (or unknown option)\n", a);
            goto out;
        }
        i++;
        if (strcmp(a, "--line") == 0) {
            if (n_line_args == P4T_MAX_LINES) {
                fprintf(stderr, "p4term sale: more than %d lines\n", P4T_MAX_LINES);
                goto out;
            }
            line_args[n_line_args++] = v;
        } else if (strcmp(a, "--tender") == 0) {
            char buf[64];
            char *amt;
            size_t k = s->n_tenders;

            if (k == P4T_MAX_TENDERS) {
                fprintf(stderr, "p4term sale: more than %d tenders\n", P4T_MAX_TENDERS);
                goto out;
            }
            snprintf(buf, sizeof(buf), "%s", v);
            amt = strchr(buf, ':');
            if (amt)
                *amt++ = '\0';
            if (strlen(buf) == 0 || strlen(buf) > P4T_TENDER_TYPE_MAX) {
                fprintf(stderr, "p4term sale: --tender %s: TYPE must be 1..%d characters\n", v,
                        P4T_TENDER_TYPE_MAX);
                goto out;
            }
            memcpy(s->tenders[k].type, buf, strlen(buf) + 1);
            tender_has_amount[k] = amt != NULL;
            tender_amount[k] = 0;
            if (amt && cli_parse_int(amt, -P4T_MAX_AMOUNT, P4T_MAX_AMOUNT, &tender_amount[k])) {
                fprintf(stderr, "p4term sale: --tender %s: AMOUNT must be an integer\n", v);
                goto out;
            }
            s->n_tenders++;
        } else if (strcmp(a, "--kind") == 0) {
            if (strcmp(v, "sale") == 0)
                s->kind = P4T_SALE;
            else if (strcmp(v, "return") == 0)
                s->kind = P4T_RETURN;
            else if (strcmp(v, "void") == 0)
                s->kind = P4T_VOID;
            else {
                fprintf(stderr, "p4term sale: --kind must be sale, return or void\n");
                goto out;
            }
        } else if (strcmp(a, "--ref") == 0) {
            snprintf(s->ref, sizeof(s->ref), "%s", v);
        } else if (strcmp(a, "--customer") == 0) {
            snprintf(s->customer, sizeof(s->customer), "%s", v);
        } else if (strcmp(a, "--file") == 0) {
            file = v;
        } else if (strcmp(a, "--wait-ms") == 0) {
            if (cli_parse_int(v, 0, 600000, &wait_ms) != 0) {
                fprintf(stderr, "p4term sale: --wait-ms must be 0..600000\n");
                goto out;
            }
        } else {
            fprintf(stderr, "p4term sale: unknown option %s (see --help)\n", a);
            goto out;
        }
    }
    if (n_line_args && line_needs_cache(t, line_args, n_line_args)) {
        /* A new register has no prices yet: give its first sync a chance to bring them. */
        wait_synced(wait_ms);
    }
    for (size_t i = 0; i < n_line_args; i++) {
        if (parse_line(t, line_args[i], &s->lines[s->n_lines]) != 0)
            goto out;
        s->n_lines++;
    }
    if (file) {
        if (s->n_lines) {
            fprintf(stderr, "p4term sale: use either --file or --line, not both\n");
            goto out;
        }
        if (read_body(file, cfg->store, cfg->reg, s) != 0) {
            rc = 1;
            goto out;
        }
    } else {
        if (s->n_lines == 0) {
            fprintf(stderr, "p4term sale: no --line given (see --help)\n");
            goto out;
        }
        for (size_t i = 0; i < s->n_lines; i++)
            s->total_minor += s->lines[i].qty * s->lines[i].price_minor;
        if (s->n_tenders == 0) {
            snprintf(s->tenders[0].type, sizeof(s->tenders[0].type), "cash");
            tender_has_amount[0] = false;
            s->n_tenders = 1;
        }
        for (size_t i = 0; i < s->n_tenders; i++)
            s->tenders[i].amount_minor = tender_has_amount[i] ? tender_amount[i]
                                                              : (s->n_tenders == 1
                                                                     ? s->total_minor
                                                                     : 0);
    }
    if (p4term_sale(t, s, id, &seq, reason, sizeof(reason)) != 0) {
        fprintf(stderr, "p4term sale: refused: %s\n", reason);
        rc = 1;
        goto out;
    }
    deadline = p4_mono_ms() + wait_ms;
    for (;;) {
        if (p4term_sale_info(t, id, &info) != 0) {
            rc = 1;
            goto out;
        }
        if (info.state != P4TERM_PENDING || p4_mono_ms() >= deadline || cli_stop)
            break;
        wait_event(deadline);
    }
    if (info.state == P4TERM_ACKED) {
        printf("id=%s seq=%lld status=%s gw_seq=%lld total=%lld\n", id, (long long)info.seq,
               info.duplicate ? "duplicate" : "acked", (long long)info.gw_seq,
               (long long)info.total_minor);
        rc = 0;
    } else if (info.state == P4TERM_REJECTED) {
        printf("id=%s seq=%lld status=rejected gw_seq=0 reason=\"%s\"\n", id,
               (long long)info.seq, info.reason);
        rc = 1;
    } else {
        printf("id=%s seq=%lld status=pending gw_seq=0 total=%lld\n", id, (long long)info.seq,
               (long long)info.total_minor);
        fprintf(stderr, "p4term sale: journaled, not yet acknowledged by the gateway; it will "
                        "be sent by the next p4term run on this register\n");
        rc = 0;
    }
out:
    free(s);
    return rc;
}

/* ---- the other commands ---- */

static int cmd_pending(struct p4term *t)
{
    struct p4term_sale_info *items;
    size_t n = 0;
    int64_t total = 0;
    const size_t max = 10000;

    items = calloc(max, sizeof(*items));
    if (!items || p4term_pending(t, items, max, &n, &total) != 0) {
        free(items);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char ts[P4_TS_LEN];

        p4_format_ts(items[i].created_ms, ts);
        printf("%s seq=%lld total=%lld created=%s\n", items[i].id, (long long)items[i].seq,
               (long long)items[i].total_minor, ts);
    }
    printf("pending=%lld\n", (long long)total);
    free(items);
    return 0;
}

static void wait_synced(int64_t wait_ms)
{
    int64_t deadline = p4_mono_ms() + wait_ms;

    while (!synced_now() && p4_mono_ms() < deadline && !cli_stop)
        wait_event(deadline);
}

static int cmd_lookup(struct p4term *t, bool price, const char *sku)
{
    int64_t v = 0, ver = 0;
    int rc;

    rc = price ? p4term_price(t, sku, &v, &ver) : p4term_stock(t, sku, &v);
    if (rc == P4TERM_ENOTFOUND) {
        fprintf(stderr, "p4term: %s is not in the cache\n", sku);
        return 1;
    }
    if (rc)
        return 1;
    if (price)
        printf("%lld ver=%lld\n", (long long)v, (long long)ver);
    else
        printf("%lld\n", (long long)v);
    return 0;
}

static int cmd_sync(struct p4term *t, int64_t wait_ms)
{
    int64_t cursor = 0;
    bool synced = false;

    wait_synced(wait_ms);
    p4term_cursor(t, &cursor, &synced);
    printf("cursor=%lld synced=%s\n", (long long)cursor, synced ? "yes" : "no");
    return synced ? 0 : 1;
}

static int cmd_flush(struct p4term *t, int64_t wait_ms)
{
    int64_t deadline = p4_mono_ms() + wait_ms, total = 0;
    size_t n = 0;
    struct p4term_sale_info one;

    for (;;) {
        if (p4term_pending(t, &one, 1, &n, &total) != 0)
            return 1;
        if (total == 0 || p4_mono_ms() >= deadline || cli_stop)
            break;
        wait_event(deadline);
    }
    printf("pending=%lld\n", (long long)total);
    return total == 0 ? 0 : 1;
}

static int cmd_watch(void)
{
    while (!cli_stop)
        cli_sleep_ms(100);
    return 0;
}

static const char *const cmd_names[] = {"sale", "pending", "price", "stock", "sync", "flush",
                                        "watch", NULL};

int main(int argc, char **argv)
{
    const char *config = NULL, *cmd = NULL;
    struct p4term_config cfg;
    struct p4term_options opt;
    struct p4term *t = NULL;
    char reason[512], password[256] = "";
    enum p4_log_level level = P4_LOG_WARN;
    int64_t wait_ms = DEFAULT_WAIT_MS;
    bool do_sync = false, online;
    int i, rc = EXIT_USAGE, cmd_at = 0;

    p4_log_set_component("p4term");
    if (argc >= 2 && strcmp(argv[1], "simulate") == 0)
        return simulate_main(argc - 2, argv + 2);
    for (i = 1; i < argc && !cmd; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("p4term %s\n", P4_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            if (p4_log_parse_level(argv[++i], &level) != 0) {
                fprintf(stderr, "p4term: --log-level must be debug, info, warn or error\n");
                return EXIT_USAGE;
            }
        } else if (argv[i][0] != '-') {
            cmd = argv[i];
            cmd_at = i;
        } else {
            fprintf(stderr, "p4term: unknown option %s\n%s", argv[i], usage_text);
            return EXIT_USAGE;
        }
    }
    if (!cmd) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "simulate") == 0)
        return simulate_main(argc - cmd_at - 1, argv + cmd_at + 1);
    for (i = 0; cmd_names[i] && strcmp(cmd_names[i], cmd) != 0; i++)
        ;
    if (!cmd_names[i]) {
        fprintf(stderr, "p4term: unknown command %s\n%s", cmd, usage_text);
        return EXIT_USAGE;
    }
    argc -= cmd_at + 1;
    argv += cmd_at + 1;
    if (strcmp(cmd, "sale") != 0) {
        /* Options shared by the small commands. */
        int keep = 0;

        for (i = 0; i < argc; i++) {
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                printf("usage: p4term --config FILE %s%s [--wait-ms MS]%s\n", cmd,
                       strcmp(cmd, "price") == 0 || strcmp(cmd, "stock") == 0 ? " SKU" : "",
                       strcmp(cmd, "price") == 0 || strcmp(cmd, "stock") == 0
                           ? " [--sync]\n  answers from the register's cache (works offline); "
                             "--sync first\n  refreshes it from the gateway (up to --wait-ms)"
                           : "");
                return 0;
            } else if (strcmp(argv[i], "--sync") == 0) {
                do_sync = true;
            } else if (strcmp(argv[i], "--wait-ms") == 0 && i + 1 < argc) {
                if (cli_parse_int(argv[++i], 0, 3600000, &wait_ms) != 0) {
                    fprintf(stderr, "p4term: --wait-ms must be 0..3600000\n");
                    return EXIT_USAGE;
                }
            } else {
                argv[keep++] = argv[i];
            }
        }
        argc = keep;
        if ((strcmp(cmd, "price") == 0 || strcmp(cmd, "stock") == 0) != (argc == 1)) {
            fprintf(stderr, "p4term %s: wrong arguments (see --help)\n", cmd);
            return EXIT_USAGE;
        }
    }
    if (!config) {
        fprintf(stderr, "p4term: --config FILE is required for %s\n", cmd);
        return EXIT_USAGE;
    }
    p4_log_set_level(level);
    if (p4term_config_load(config, &cfg, reason, sizeof(reason)) != 0) {
        fprintf(stderr, "%s\n", reason);
        return EXIT_USAGE;
    }
    if (p4term_options_from_config(&cfg, &opt, password, sizeof(password)) != 0)
        return EXIT_USAGE;
    /* Lookups and the pending list answer from the file alone unless asked to refresh. */
    online = !(strcmp(cmd, "pending") == 0 ||
               ((strcmp(cmd, "price") == 0 || strcmp(cmd, "stock") == 0) && !do_sync));
    opt.offline = !online;
    watch_mode = strcmp(cmd, "watch") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    cli_install_signals();
    rc = p4term_open(&opt, on_event, NULL, &t);
    p4_memzero(password, sizeof(password));
    if (rc) {
        fprintf(stderr, "p4term: cannot open register %s (journal %s)\n", cfg.reg,
                cfg.journal_path);
        return 1;
    }
    if (strcmp(cmd, "sale") == 0)
        rc = cmd_sale(t, &cfg, argc, argv);
    else if (strcmp(cmd, "pending") == 0)
        rc = cmd_pending(t);
    else if (strcmp(cmd, "price") == 0 || strcmp(cmd, "stock") == 0) {
        if (do_sync)
            wait_synced(wait_ms);
        rc = cmd_lookup(t, strcmp(cmd, "price") == 0, argv[0]);
    } else if (strcmp(cmd, "sync") == 0)
        rc = cmd_sync(t, wait_ms);
    else if (strcmp(cmd, "flush") == 0)
        rc = cmd_flush(t, wait_ms);
    else
        rc = cmd_watch();
    p4term_close(t);
    return rc;
}
