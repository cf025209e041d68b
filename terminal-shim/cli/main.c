/* SPDX-License-Identifier: Apache-2.0 */
/* p4term: record sales, look up cached prices and stock, watch the store, simulate registers. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
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
#define LOOKUP_WAIT_MS 1000 /* p4term loyalty: the answer from HQ, at most this long */

static const char usage_text[] =
    "usage: p4term --config FILE [--log-level LEVEL] COMMAND [ARGS]\n"
    "       p4term simulate --broker URI --store S --registers N --rate R --duration S --dir DIR\n"
    "\n"
    "commands:\n"
    "  sale      record a sale (journaled at once), wait a little for the gateway's ack\n"
    "  pending   list sales not yet acknowledged by the gateway\n"
    "  price SKU print the cached price in effect now (minor units) and its version\n"
    "  stock SKU print the cached stock on hand\n"
    "  customer ID        print a cached customer (name, tier)\n"
    "  customer add ID --name NAME [--tier TIER]   sign a customer up at this register\n"
    "  loyalty CUSTOMER   ask HQ for a customer's balance (up to --wait-ms, default 1000),\n"
    "                     print it from the cache (--cached: the cache alone, offline)\n"
    "  hold      reserve stock at the gateway before a sale (or --release a hold)\n"
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
    "                                 [--customer ID [--earn N] [--redeem N]] [--hold ID]\n"
    "                                 [--wait-ms MS]\n"
    "       p4term --config FILE sale --file FILE|-   (a JSON sale body: kind, lines,\n"
    "                                 tenders, ...; id, seq, store, reg and ts are filled in)\n"
    "\n"
    "Money is in minor units (299 = 2.99). A line without PRICE is rung from the register's\n"
    "cache: the price in effect now and its version, then the active promos (a promo may split\n"
    "a line into charged and free units); a line with PRICE is recorded as given. One tender\n"
    "without AMOUNT pays the total; no tender means cash. --earn/--redeem are loyalty points;\n"
    "a redemption is refused beyond the customer's cached balance, and while the gateway is\n"
    "unreachable unless [policy] offline_loyalty_redeem = allow. --hold names a hold from\n"
    "`p4term hold`. The sale is journaled before anything is sent; each charged line is printed\n"
    "(line sku=.. qty=.. price=.. ver=..), then p4term waits up to --wait-ms (default 5000) for\n"
    "the gateway's ack and prints: id=.. seq=.. status=acked|duplicate|pending|rejected\n"
    "gw_seq=... Exit 0 once journaled (even if still pending), 1 if refused or rejected.\n";

static const char hold_help[] =
    "usage: p4term --config FILE hold --line SKU:QTY [--line SKU:QTY]... --ttl-ms MS\n"
    "                                 [--wait-ms MS]\n"
    "       p4term --config FILE hold --release HOLD_ID [--wait-ms MS]\n"
    "\n"
    "Asks the gateway to reserve stock for TTL (1000..600000 ms) and prints\n"
    "hold=ID expires=TS granted=SKU:QTY,... [reason=\"...\"]. Give the hold id to\n"
    "`p4term sale --hold ID`. Exit 0 when everything asked was granted (or released), 1 when\n"
    "less was granted or the gateway did not answer within --wait-ms (default 5000).\n";

struct cli_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool synced;
};

static struct cli_wait waiter = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
static bool watch_mode;

/* "2026-11-27T00:00:00.000Z", or "-" for an open bound. */
static const char *bound(bool has, int64_t ms, char buf[P4T_TS_LEN])
{
    if (!has || p4t_ts_format(ms, buf) != 0)
        return "-";
    return buf;
}

/* One change item as a readable line: the entity's fields by name, not its JSON. A value this
 * tool cannot read (a later revision's) is shown as its JSON text. */
static void print_change(const struct p4term_event *ev)
{
    const char *v = ev->value_json ? ev->value_json : "";
    size_t len = strlen(v);
    char reason[P4T_REASON_MAX], a[P4T_TS_LEN], b[P4T_TS_LEN];

    printf("change seq=%lld entity=%s key=%s", (long long)ev->change_seq, ev->entity, ev->key);
    if (strcmp(ev->entity, "price") == 0) {
        struct p4t_price_state ps;
        int64_t price, ver;

        if (p4t_price_state_decode(v, len, &ps, reason, sizeof(reason)) != 0)
            goto raw;
        if (p4t_price_effective(&ps, p4_now_ms(), &price, &ver) == 0)
            printf(" now=%lld ver=%lld", (long long)price, (long long)ver);
        else
            printf(" now=none");
        if (ps.has_base)
            printf(" base=%lld/%lld", (long long)ps.price_minor, (long long)ps.ver);
        for (size_t i = 0; i < ps.n_windows; i++) {
            const struct p4t_price_window *w = &ps.windows[i];

            printf(" window=%lld/%lld[%s,%s)", (long long)w->price_minor, (long long)w->ver,
                   bound(w->has_from, w->from_ms, a), bound(w->has_until, w->until_ms, b));
        }
    } else if (strcmp(ev->entity, "promo") == 0) {
        struct p4t_promo p;

        if (p4t_promo_value_decode(v, len, &p, reason, sizeof(reason)) != 0)
            goto raw;
        printf(" ver=%lld %s type=%s sku=%s", (long long)p.ver, p.active ? "active" : "retired",
               p4t_promo_type_name(p.type), p.sku);
        if (p.type == P4T_PROMO_PERCENT_OFF)
            printf(" percent=%lld", (long long)p.percent);
        else if (p.type == P4T_PROMO_FIXED_PRICE)
            printf(" price=%lld", (long long)p.price_minor);
        else
            printf(" buy=%lld pay=%lld", (long long)p.n, (long long)p.m);
        printf(" from=%s until=%s", bound(p.has_from, p.from_ms, a),
               bound(p.has_until, p.until_ms, b));
    } else if (strcmp(ev->entity, "customer") == 0) {
        struct p4t_customer c;

        if (p4t_customer_value_decode(v, len, &c, reason, sizeof(reason)) != 0)
            goto raw;
        printf(" ver=%lld name=\"%s\" tier=%s", (long long)c.ver, c.name, c.tier);
    } else if (strcmp(ev->entity, "loyalty") == 0) {
        int64_t balance;

        if (p4t_loyalty_value_decode(v, len, &balance, reason, sizeof(reason)) != 0)
            goto raw;
        printf(" balance=%lld", (long long)balance);
    } else if (strncmp(v, "{\"on_hand\":", 11) == 0 && strcmp(ev->entity, "stock") == 0) {
        printf(" on_hand=%.*s", (int)(len - 12), v + 11);
    } else {
        goto raw;
    }
    printf("\n");
    return;
raw:
    printf(" value=%s\n", v[0] ? v : "null");
}

static void print_alert(const struct p4t_alert *al)
{
    printf("alert kind=%s severity=%s sku=%s sales=", al->kind, al->severity,
           al->sku[0] ? al->sku : "-");
    for (size_t i = 0; i < al->n_sales; i++)
        printf("%s%s", i ? "," : "", al->sales[i]);
    printf("%s message=\"%s\"", al->n_sales ? "" : "-", al->message);
    if (al->details[0])
        printf(" details=%s", al->details);
    printf(" id=%s\n", al->id);
}

static void print_event(const struct p4term_event *ev)
{
    switch (ev->kind) {
    case P4TERM_EV_CHANGE:
        print_change(ev);
        break;
    case P4TERM_EV_ALERT:
        print_alert(ev->alert);
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

    memset(line, 0, sizeof(*line));

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
    memcpy(line->sku, buf, strlen(buf) + 1); /* length checked just above */
    if (cli_parse_int(qty_s, -P4T_MAX_QTY, P4T_MAX_QTY, &line->qty) != 0 || line->qty == 0) {
        fprintf(stderr, "p4term: --line %s: QTY must be a non-zero integer\n", arg);
        return -1;
    }
    if (!price_s) {
        /* Rung by the library from the cache (price in effect, ver, promos). */
        line->price_minor = P4TERM_PRICE_CACHED;
        line->ver = 0;
        return 0;
    }
    if (cli_parse_int(price_s, 0, P4T_MAX_PRICE, &line->price_minor) != 0) {
        fprintf(stderr, "p4term: --line %s: PRICE must be an integer 0..%d (minor units)\n",
                arg, P4T_MAX_PRICE);
        return -1;
    }
    /* A given price is recorded as given, with the version of the cached price if any. */
    if (p4term_price(t, line->sku, &price, &ver) != 0)
        ver = 0;
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
    struct p4t_sale *s = calloc(1, sizeof(*s)), *charged = NULL;
    const char *file = NULL;
    char id[P4T_UUID_MAX + 1], reason[P4T_REASON_MAX];
    struct p4term_sale_info info;
    int64_t wait_ms = DEFAULT_WAIT_MS, deadline;
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
        } else if (strcmp(a, "--earn") == 0 || strcmp(a, "--redeem") == 0) {
            int64_t *dst = strcmp(a, "--earn") == 0 ? &s->loyalty_earn : &s->loyalty_redeem;

            if (cli_parse_int(v, 0, P4T_MAX_POINTS, dst) != 0) {
                fprintf(stderr, "p4term sale: %s must be 0..%d points\n", a, P4T_MAX_POINTS);
                goto out;
            }
            s->has_loyalty = true;
        } else if (strcmp(a, "--hold") == 0) {
            if (strlen(v) == 0 || strlen(v) > P4T_OBJ_ID_MAX) {
                fprintf(stderr, "p4term sale: --hold must be 1..%d characters\n",
                        P4T_OBJ_ID_MAX);
                goto out;
            }
            snprintf(s->hold, sizeof(s->hold), "%s", v);
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
        bool rung = false;

        if (s->n_lines == 0) {
            fprintf(stderr, "p4term sale: no --line given (see --help)\n");
            goto out;
        }
        for (size_t i = 0; i < s->n_lines; i++) {
            rung = rung || s->lines[i].price_minor == P4TERM_PRICE_CACHED;
            s->total_minor += s->lines[i].qty * s->lines[i].price_minor;
        }
        if (rung)
            s->total_minor = 0; /* the library prices the sale and pays a single tender */
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
    if (s->has_loyalty && s->loyalty_redeem > 0) {
        /* The redemption policy needs the gateway's status and a current balance: give a
         * fresh process the time to connect and sync (an unreachable gateway costs the wait). */
        int64_t until = p4_mono_ms() + wait_ms;

        while (!(p4term_gateway_reachable(t) && synced_now()) && p4_mono_ms() < until &&
               !cli_stop)
            wait_event(until);
    }
    charged = malloc(sizeof(*charged));
    if (!charged) {
        rc = 1;
        goto out;
    }
    if (p4term_ring(t, s, charged, reason, sizeof(reason)) != 0) {
        fprintf(stderr, "p4term sale: refused: %s\n", reason);
        rc = 1;
        goto out;
    }
    memcpy(id, charged->id, sizeof(id));
    for (size_t i = 0; i < charged->n_lines; i++)
        printf("line sku=%s qty=%lld price=%lld ver=%lld\n", charged->lines[i].sku,
               (long long)charged->lines[i].qty, (long long)charged->lines[i].price_minor,
               (long long)charged->lines[i].ver);
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
    free(charged);
    free(s);
    return rc;
}

/* ---- hold ---- */

static int cmd_hold(struct p4term *t, int argc, char **argv)
{
    static char skus_buf[P4T_MAX_LINES][P4T_SKU_MAX + 1];
    const char *skus[P4T_MAX_LINES];
    int64_t qtys[P4T_MAX_LINES], granted[P4T_MAX_LINES];
    int64_t ttl_ms = 0, wait_ms = DEFAULT_WAIT_MS, expires_ms = 0;
    const char *release = NULL;
    char hold_id[P4T_OBJ_ID_MAX + 1], reason[P4T_REASON_MAX], ts[P4T_TS_LEN];
    size_t n = 0;
    bool full = true;
    int rc;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(hold_help, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "p4term hold: %s needs a value (or unknown option)\n", a);
            return EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--line") == 0) {
            struct p4t_line line;

            if (n == P4T_MAX_LINES) {
                fprintf(stderr, "p4term hold: more than %d lines\n", P4T_MAX_LINES);
                return EXIT_USAGE;
            }
            if (parse_line(t, v, &line) != 0)
                return EXIT_USAGE;
            if (line.qty <= 0 || line.price_minor != P4TERM_PRICE_CACHED) {
                fprintf(stderr, "p4term hold: --line %s: expected SKU:QTY with QTY > 0\n", v);
                return EXIT_USAGE;
            }
            memcpy(skus_buf[n], line.sku, sizeof(skus_buf[n]));
            skus[n] = skus_buf[n];
            qtys[n] = line.qty;
            n++;
        } else if (strcmp(a, "--ttl-ms") == 0) {
            if (cli_parse_int(v, P4T_HOLD_TTL_MIN_MS, P4T_HOLD_TTL_MAX_MS, &ttl_ms) != 0) {
                fprintf(stderr, "p4term hold: --ttl-ms must be %d..%d\n", P4T_HOLD_TTL_MIN_MS,
                        P4T_HOLD_TTL_MAX_MS);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--release") == 0) {
            release = v;
        } else if (strcmp(a, "--wait-ms") == 0) {
            if (cli_parse_int(v, 0, 600000, &wait_ms) != 0) {
                fprintf(stderr, "p4term hold: --wait-ms must be 0..600000\n");
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "p4term hold: unknown option %s (see --help)\n", a);
            return EXIT_USAGE;
        }
    }
    if (release) {
        if (n || ttl_ms) {
            fprintf(stderr, "p4term hold: --release takes no --line or --ttl-ms\n");
            return EXIT_USAGE;
        }
        rc = p4term_hold_release(t, release, wait_ms);
        if (rc == 0)
            printf("hold=%s released\n", release);
        else
            fprintf(stderr, "p4term hold: no answer from the gateway within %lld ms\n",
                    (long long)wait_ms);
        return rc == 0 ? 0 : 1;
    }
    if (n == 0 || ttl_ms == 0) {
        fprintf(stderr, "p4term hold: needs --line SKU:QTY and --ttl-ms (see --help)\n");
        return EXIT_USAGE;
    }
    rc = p4term_hold(t, skus, qtys, n, ttl_ms, wait_ms, hold_id, granted, &expires_ms, reason,
                     sizeof(reason));
    if (rc == P4TERM_EINVAL) {
        fprintf(stderr, "p4term hold: refused by the contract (a sku given twice?)\n");
        return EXIT_USAGE;
    }
    if (rc) {
        fprintf(stderr, "p4term hold: no answer from the gateway within %lld ms\n",
                (long long)wait_ms);
        return 1;
    }
    printf("hold=%s expires=%s granted=", hold_id, bound(true, expires_ms, ts));
    for (size_t i = 0; i < n; i++) {
        printf("%s%s:%lld", i ? "," : "", skus[i], (long long)granted[i]);
        full = full && granted[i] == qtys[i];
    }
    if (reason[0])
        printf(" reason=\"%s\"", reason);
    printf("\n");
    return full ? 0 : 1;
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

static int cmd_customer(struct p4term *t, const char *id)
{
    struct p4t_customer c;
    int rc = p4term_customer(t, id, &c);

    if (rc == P4TERM_ENOTFOUND)
        fprintf(stderr, "p4term: customer %s is not in the cache\n", id);
    if (rc)
        return 1;
    printf("%s name=\"%s\" tier=%s ver=%lld\n", c.id, c.name, c.tier, (long long)c.ver);
    return 0;
}

/* The card is scanned: with an online handle the register asks HQ through the gateway
 * (p4term_lookup) within WAIT_MS, counted from DEADLINE_MS's start; offline, or with no answer
 * in time, the cache answers. */
static int cmd_loyalty(struct p4term *t, const char *customer, bool online, int64_t deadline_ms)
{
    int64_t balance = 0, left;
    bool answered = false;
    int rc;

    if (online) {
        wait_synced(deadline_ms - p4_mono_ms());
        left = deadline_ms - p4_mono_ms();
        rc = p4term_lookup(t, customer, left > 0 ? left : 0, &balance, &answered);
        if (!answered && rc != P4TERM_EINVAL)
            fprintf(stderr, "p4term: no answer from HQ in time: the cached balance\n");
    } else {
        rc = p4term_loyalty_balance(t, customer, &balance);
    }

    if (rc == P4TERM_ENOTFOUND)
        fprintf(stderr, "p4term: no loyalty balance for %s in the cache\n", customer);
    if (rc)
        return 1;
    printf("balance=%lld\n", (long long)balance);
    return 0;
}

/* p4term customer add ID --name NAME [--tier TIER]: journaled, then up to WAIT_MS for the
 * gateway's ack. Exit 0 once journaled (also when still pending), 1 if refused. */
static int cmd_customer_add(struct p4term *t, int argc, char **argv, int64_t wait_ms)
{
    const char *name = NULL, *tier = NULL;
    char reason[P4T_REASON_MAX];
    int64_t deadline = p4_mono_ms() + wait_ms, pending = 1;
    int rc;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (strcmp(argv[i], "--tier") == 0 && i + 1 < argc) {
            tier = argv[++i];
        } else {
            fprintf(stderr, "p4term customer add: unknown argument %s\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!name) {
        fprintf(stderr, "p4term customer add: --name is required\n");
        return EXIT_USAGE;
    }
    rc = p4term_customer_add(t, argv[1], name, tier, reason, sizeof(reason));
    if (rc) {
        fprintf(stderr, "p4term customer add: refused: %s\n", reason[0] ? reason : "error");
        return 1;
    }
    for (;;) {
        if (p4term_signups_pending(t, &pending) != 0)
            return 1;
        if (pending == 0 || p4_mono_ms() >= deadline || cli_stop)
            break;
        wait_event(p4_mono_ms() + 20 < deadline ? p4_mono_ms() + 20 : deadline);
    }
    printf("customer=%s status=%s\n", argv[1], pending == 0 ? "acked" : "pending");
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

static const char *const cmd_names[] = {"sale",  "pending",  "price",   "stock", "sync",
                                        "flush", "watch",    "hold",    "customer",
                                        "loyalty", NULL};

/* Commands answered from the cache: one argument, offline unless --sync. */
static bool is_lookup(const char *cmd)
{
    return strcmp(cmd, "price") == 0 || strcmp(cmd, "stock") == 0 ||
           strcmp(cmd, "customer") == 0 || strcmp(cmd, "loyalty") == 0;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *cmd = NULL;
    struct p4term_config cfg;
    struct p4term_options opt;
    struct p4term *t = NULL;
    char reason[512], password[256] = "";
    enum p4_log_level level = P4_LOG_WARN;
    int64_t wait_ms = DEFAULT_WAIT_MS;
    bool do_sync = false, online, cached_only = false, wait_given = false, signup = false;
    int i, rc = EXIT_USAGE, cmd_at = 0;

    umask(077); /* journals, caches and register password files are the register's alone */
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
    if (strcmp(cmd, "sale") != 0 && strcmp(cmd, "hold") != 0) {
        /* Options shared by the small commands. */
        int keep = 0;

        for (i = 0; i < argc; i++) {
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                printf("usage: p4term --config FILE %s%s [--wait-ms MS]%s\n", cmd,
                       strcmp(cmd, "customer") == 0  ? " ID"
                       : strcmp(cmd, "loyalty") == 0 ? " CUSTOMER"
                       : is_lookup(cmd)              ? " SKU"
                                                     : "",
                       is_lookup(cmd)
                           ? " [--sync]\n  answers from the register's cache (works offline); "
                             "--sync first\n  refreshes it from the gateway (up to --wait-ms)"
                           : "");
                return 0;
            } else if (strcmp(argv[i], "--sync") == 0) {
                do_sync = true;
            } else if (strcmp(argv[i], "--cached") == 0 && strcmp(cmd, "loyalty") == 0) {
                cached_only = true;
            } else if (strcmp(argv[i], "--wait-ms") == 0 && i + 1 < argc) {
                wait_given = true;
                if (cli_parse_int(argv[++i], 0, 3600000, &wait_ms) != 0) {
                    fprintf(stderr, "p4term: --wait-ms must be 0..3600000\n");
                    return EXIT_USAGE;
                }
            } else {
                argv[keep++] = argv[i];
            }
        }
        argc = keep;
        signup = strcmp(cmd, "customer") == 0 && argc >= 2 && strcmp(argv[0], "add") == 0;
        if (!signup && is_lookup(cmd) != (argc == 1)) {
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
    online = !(strcmp(cmd, "pending") == 0 || (is_lookup(cmd) && !do_sync));
    /* A scanned card asks HQ (contract 6.9) unless --cached; a sign-up is sent at once. */
    if ((strcmp(cmd, "loyalty") == 0 && !cached_only) || signup)
        online = true;
    if (strcmp(cmd, "loyalty") == 0 && !wait_given)
        wait_ms = LOOKUP_WAIT_MS;
    if (strcmp(cmd, "loyalty") == 0 && online && !cfg.client_id[0]) {
        /* A clean session of its own: the till's own process may be connected at the same
         * time under the register's usual client id, and must not be taken over. */
        snprintf(cfg.client_id, sizeof(cfg.client_id), "p4term-%s-%s-lookup", cfg.store,
                 cfg.reg);
    }
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
    else if (signup)
        rc = cmd_customer_add(t, argc, argv, wait_ms);
    else if (strcmp(cmd, "loyalty") == 0)
        rc = cmd_loyalty(t, argv[0], online, p4_mono_ms() + wait_ms);
    else if (is_lookup(cmd)) {
        if (do_sync)
            wait_synced(wait_ms);
        if (strcmp(cmd, "customer") == 0)
            rc = cmd_customer(t, argv[0]);
        else
            rc = cmd_lookup(t, strcmp(cmd, "price") == 0, argv[0]);
    } else if (strcmp(cmd, "hold") == 0)
        rc = cmd_hold(t, argc, argv);
    else if (strcmp(cmd, "sync") == 0)
        rc = cmd_sync(t, wait_ms);
    else if (strcmp(cmd, "flush") == 0)
        rc = cmd_flush(t, wait_ms);
    else
        rc = cmd_watch();
    p4term_close(t);
    return rc;
}
