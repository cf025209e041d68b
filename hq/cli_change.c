/* SPDX-License-Identifier: Apache-2.0 */
/* Operator commands that change master data: price, promo, customer, stock and loyalty, each
 * one transaction that also queues the downlink it causes. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authority.h"
#include "p4common.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* Prints "p4hq: FIELD: WHY" and returns the usage exit code. */
static int usage_error(const char *field, const char *why)
{
    fprintf(stderr, "p4hq: %s: %s\n", field, why);
    return EXIT_USAGE;
}

/* Reads integer TEXT within MIN..MAX into *OUT; FIELD names it in the error. */
static int parse_int(const char *field, const char *text, int64_t min, int64_t max,
                     int64_t *out)
{
    char *end;
    long long v;

    if (!text)
        return usage_error(field, "missing");
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || !*text || *end || v < min || v > max) {
        fprintf(stderr, "p4hq: %s: must be an integer %" PRId64 "..%" PRId64 "\n", field, min,
                max);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/* Reads an optional ts option (YYYY-MM-DDTHH:MM:SS.mmmZ) into *MS; *HAS tells if given. */
static int parse_ts(const struct cli_opts *o, const char *key, bool *has, int64_t *ms)
{
    const char *t = cli_opt(o, key);

    *has = false;
    *ms = 0;
    if (!t)
        return 0;
    if (p4t_ts_parse(t, ms) != 0) {
        fprintf(stderr, "p4hq: --%s: must be YYYY-MM-DDTHH:MM:SS.mmmZ (UTC)\n", key);
        return EXIT_USAGE;
    }
    *has = true;
    return 0;
}

static int check_sku(const char *sku)
{
    if (!authority_printable(sku, P4T_SKU_MAX))
        return usage_error("sku", "must be 1..64 printable characters without spaces");
    return 0;
}

/* Runs CHANGE's database part between BEGIN and COMMIT; prints ERR on a refusal. */
static int finish(struct db *db, int rc, const char *err)
{
    if (rc == 0 && db_exec(db, "COMMIT", "commit") == 0)
        return 0;
    if (db_ok(db))
        db_exec(db, "ROLLBACK", "rollback");
    if (rc == P4HQ_EINVAL || rc == P4HQ_EEXIST) {
        fprintf(stderr, "p4hq: %s\n", err);
        return rc == P4HQ_EINVAL ? EXIT_USAGE : EXIT_FAIL;
    }
    return EXIT_FAIL;
}

static int cmd_price(struct db *db, const struct p4hq_config *cfg, char **w, int n, bool window,
                     const struct cli_opts *o)
{
    struct p4t_price_item item = {0};
    const char *store = cli_opt(o, "store");
    char err[P4T_REASON_MAX] = "";
    int64_t ver;
    int rc;

    if (n != 4)
        return usage_error(window ? "price window" : "price set",
                           "usage: SKU PRICE [--store S] [--from TS] [--until TS]");
    if ((rc = check_sku(w[2])) != 0)
        return rc;
    snprintf(item.sku, sizeof item.sku, "%s", w[2]);
    if ((rc = parse_int("price", w[3], 0, P4T_MAX_PRICE, &item.price_minor)) != 0)
        return rc;
    if ((rc = parse_ts(o, "from", &item.has_from, &item.from_ms)) != 0 ||
        (rc = parse_ts(o, "until", &item.has_until, &item.until_ms)) != 0)
        return rc;
    if (window && !item.has_from && !item.has_until)
        return usage_error("price window", "a window needs --from and/or --until");
    if (item.has_from && item.has_until && item.until_ms <= item.from_ms)
        return usage_error("--until", "must be after --from");
    if (store && !p4t_store_id_valid(store))
        return usage_error("--store", "must be a store id");
    if (db_exec(db, "BEGIN", "begin") != 0)
        return EXIT_FAIL;
    rc = authority_price(db, cfg->tenant, &item, store, &ver, err, sizeof err);
    rc = finish(db, rc, err);
    if (rc == 0)
        printf("%" PRId64 "\n", ver);
    return rc;
}

static int cmd_promo(struct db *db, const struct p4hq_config *cfg, char **w, int n,
                     const struct cli_opts *o)
{
    static const char *const types[] = {"percent_off", "fixed_price", "buy_n_pay_m"};
    struct p4t_promo p = {0};
    char err[P4T_REASON_MAX] = "";
    const char *type, *sku;
    int64_t ver;
    int rc;

    if (n != 3 || (strcmp(w[1], "put") != 0 && strcmp(w[1], "retire") != 0))
        return usage_error("usage", "promo put ID --type T --sku SKU ... | promo retire ID");
    if (!authority_printable(w[2], P4T_OBJ_ID_MAX))
        return usage_error("id", "must be 1..64 printable characters without spaces");
    if (db_exec(db, "BEGIN", "begin") != 0)
        return EXIT_FAIL;
    if (strcmp(w[1], "retire") == 0) {
        rc = authority_promo_get(db, cfg->tenant, w[2], &p);
        if (rc == P4HQ_EINVAL)
            snprintf(err, sizeof err, "id: no promo \"%s\"", w[2]);
        p.active = false;
    } else {
        snprintf(p.id, sizeof p.id, "%s", w[2]);
        p.active = true;
        type = cli_opt(o, "type");
        sku = cli_opt(o, "sku");
        rc = P4HQ_EINVAL;
        for (int t = 0; type && t < 3; t++) {
            if (strcmp(type, types[t]) == 0) {
                p.type = (enum p4t_promo_type)t;
                rc = 0;
            }
        }
        if (rc)
            snprintf(err, sizeof err, "--type: must be percent_off, fixed_price or buy_n_pay_m");
        else if (!sku || !authority_printable(sku, P4T_SKU_MAX)) {
            snprintf(err, sizeof err, "--sku: must be 1..64 printable characters");
            rc = P4HQ_EINVAL;
        } else {
            snprintf(p.sku, sizeof p.sku, "%s", sku);
        }
        if (!rc && p.type == P4T_PROMO_PERCENT_OFF &&
            parse_int("--percent", cli_opt(o, "percent"), 1, 100, &p.percent) != 0)
            rc = P4HQ_EINVAL;
        if (!rc && p.type == P4T_PROMO_FIXED_PRICE &&
            parse_int("--price", cli_opt(o, "price"), 0, P4T_MAX_PRICE, &p.price_minor) != 0)
            rc = P4HQ_EINVAL;
        if (!rc && p.type == P4T_PROMO_BUY_N_PAY_M &&
            (parse_int("--n", cli_opt(o, "n"), 2, P4T_MAX_QTY, &p.n) != 0 ||
             parse_int("--m", cli_opt(o, "m"), 1, p.n - 1, &p.m) != 0))
            rc = P4HQ_EINVAL;
        if (!rc && (parse_ts(o, "from", &p.has_from, &p.from_ms) != 0 ||
                    parse_ts(o, "until", &p.has_until, &p.until_ms) != 0))
            rc = P4HQ_EINVAL;
        if (!rc && p.has_from && p.has_until && p.until_ms <= p.from_ms) {
            snprintf(err, sizeof err, "--until: must be after --from");
            rc = P4HQ_EINVAL;
        }
        if (rc && !err[0])
            snprintf(err, sizeof err, "promo: not changed");
    }
    if (!rc)
        rc = authority_promo(db, cfg->tenant, &p, &ver, err, sizeof err);
    rc = finish(db, rc, err);
    if (rc == 0)
        printf("%" PRId64 "\n", ver);
    return rc;
}

static int cmd_customer(struct db *db, const struct p4hq_config *cfg, char **w, int n,
                        const struct cli_opts *o)
{
    struct p4t_customer c = {0};
    const char *name = cli_opt(o, "name"), *tier = cli_opt(o, "tier");
    char err[P4T_REASON_MAX] = "";
    int64_t ver;
    bool kept;
    int rc;

    if (n != 3 || strcmp(w[1], "put") != 0)
        return usage_error("usage", "customer put ID --name NAME [--tier T]");
    if (!authority_printable(w[2], P4T_CUSTOMER_MAX))
        return usage_error("id", "must be 1..64 printable characters without spaces");
    if (!name || !name[0] || strlen(name) > P4T_NAME_MAX)
        return usage_error("--name", "must be 1..100 bytes");
    if (!tier)
        tier = "standard";
    if (!tier[0] || strlen(tier) > P4T_TIER_MAX || strspn(tier, "abcdefghijklmnopqrstuvwxyz"
                                                              "0123456789_") != strlen(tier))
        return usage_error("--tier", "must be 1..16 characters [a-z0-9_]");
    snprintf(c.id, sizeof c.id, "%s", w[2]);
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.tier, sizeof c.tier, "%s", tier);
    if (db_exec(db, "BEGIN", "begin") != 0)
        return EXIT_FAIL;
    rc = authority_customer(db, cfg->tenant, &c, NULL, false, &ver, &kept, err, sizeof err);
    rc = finish(db, rc, err);
    if (rc == 0)
        printf("%" PRId64 "\n", ver);
    return rc;
}

static int cmd_stock(struct db *db, const struct p4hq_config *cfg, char **w, int n,
                     const struct cli_opts *o)
{
    static const char *const types[] = {"receive", "transfer", "adjust", "count"};
    struct p4t_stock_item it = {0};
    const char *store = cli_opt(o, "store"), *id = cli_opt(o, "id");
    char err[P4T_REASON_MAX] = "", uuid[P4_UUID_LEN];
    int64_t qty, on_hand;
    bool has_at, known = false;
    int rc;

    if (n != 4)
        return usage_error("usage", "stock receive|transfer|adjust|count SKU QTY --store S "
                                    "[--at TS] [--id ID]");
    for (int t = 0; t < 4; t++) {
        if (strcmp(w[1], types[t]) == 0) {
            it.type = (enum p4t_stock_type)t;
            known = true;
        }
    }
    if (!known)
        return usage_error("stock", "must be receive, transfer, adjust or count");
    if (!store || !p4t_store_id_valid(store))
        return usage_error("--store", "a store id is required");
    if ((rc = check_sku(w[2])) != 0)
        return rc;
    snprintf(it.sku, sizeof it.sku, "%s", w[2]);
    if (it.type == P4T_STOCK_COUNT) {
        if ((rc = parse_int("on_hand", w[3], 0, P4T_MAX_STOCK, &qty)) != 0)
            return rc;
        it.on_hand = qty;
    } else {
        if ((rc = parse_int("qty", w[3], it.type == P4T_STOCK_RECEIVE ? 1 : -P4T_MAX_STOCK,
                            P4T_MAX_STOCK, &qty)) != 0)
            return rc;
        if (qty == 0)
            return usage_error("qty", "must not be 0");
        it.delta = qty;
    }
    if ((rc = parse_ts(o, "at", &has_at, &it.occurred_at_ms)) != 0)
        return rc;
    if (!has_at)
        it.occurred_at_ms = p4_now_ms();
    if (!id) {
        if (p4_uuid7(uuid) != 0)
            return EXIT_FAIL;
        id = uuid;
    }
    if (!authority_printable(id, P4T_OBJ_ID_MAX))
        return usage_error("--id", "must be 1..64 printable characters without spaces");
    snprintf(it.id, sizeof it.id, "%s", id);
    if (db_exec(db, "BEGIN", "begin") != 0)
        return EXIT_FAIL;
    rc = authority_stock(db, cfg->tenant, store, &it, &on_hand, err, sizeof err);
    rc = finish(db, rc, err);
    if (rc == 0)
        printf("%s\n", it.id);
    return rc;
}

static int cmd_loyalty(struct db *db, const struct p4hq_config *cfg, char **w, int n,
                       const struct cli_opts *o)
{
    const char *reason = cli_opt(o, "reason"), *id = cli_opt(o, "id");
    char err[P4T_REASON_MAX] = "", entry[P4T_OBJ_ID_MAX + 1], uuid[P4_UUID_LEN];
    char *customers[1] = {NULL};
    int64_t points, overdrawn;
    int rc;

    if (n != 4 || strcmp(w[1], "adjust") != 0)
        return usage_error("usage", "loyalty adjust CUSTOMER POINTS [--reason TEXT] [--id ID]");
    if ((rc = parse_int("points", w[3], -P4T_MAX_POINTS, P4T_MAX_POINTS, &points)) != 0)
        return rc;
    if (!id) {
        if (p4_uuid7(uuid) != 0)
            return EXIT_FAIL;
        snprintf(entry, sizeof entry, "hq-%s", uuid);
    } else if (!authority_printable(id, P4T_OBJ_ID_MAX)) {
        return usage_error("--id", "must be 1..64 printable characters without spaces");
    } else {
        snprintf(entry, sizeof entry, "%s", id);
    }
    if (db_exec(db, "BEGIN", "begin") != 0)
        return EXIT_FAIL;
    rc = authority_loyalty_entry(db, cfg->tenant, w[2], entry, points, reason ? reason : "",
                                 err, sizeof err);
    customers[0] = w[2];
    if (!rc)
        rc = authority_loyalty_push(db, cfg->tenant, customers, 1, &overdrawn);
    rc = finish(db, rc, err);
    if (rc == 0)
        printf("%s\n", entry);
    return rc;
}

int cli_change(struct db *db, const struct p4hq_config *cfg, char **words, int n_words,
               const struct cli_opts *opts)
{
    const char *cmd = words[0], *sub = n_words > 1 ? words[1] : "";

    if (strcmp(cmd, "price") == 0 && (strcmp(sub, "set") == 0 || strcmp(sub, "window") == 0))
        return cmd_price(db, cfg, words, n_words, strcmp(sub, "window") == 0, opts);
    if (strcmp(cmd, "promo") == 0)
        return cmd_promo(db, cfg, words, n_words, opts);
    if (strcmp(cmd, "customer") == 0)
        return cmd_customer(db, cfg, words, n_words, opts);
    if (strcmp(cmd, "stock") == 0)
        return cmd_stock(db, cfg, words, n_words, opts);
    if (strcmp(cmd, "loyalty") == 0)
        return cmd_loyalty(db, cfg, words, n_words, opts);
    return CLI_NOT_A_CHANGE;
}
