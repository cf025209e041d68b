/* SPDX-License-Identifier: Apache-2.0 */
/* Operator commands that change master data: price, promo, customer, stock and loyalty, each
 * one transaction that also queues the downlink it causes. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "audit.h"
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

/* The command being run, for its audit row. */
struct change {
    const struct p4hq_config *cfg;
    char **words;
    int n_words;
    const struct cli_opts *opts;
};

/* The audit row of CH in the open transaction: action "WORD0.WORD1", detail {"args": the
 * words after them, "options": {--key: value}, "result": RESULT (a JSON object text)}. */
static int audit_change(struct db *db, const struct change *ch, const char *result)
{
    cJSON *d = cJSON_CreateObject(), *args = cJSON_AddArrayToObject(d, "args");
    cJSON *opts = cJSON_AddObjectToObject(d, "options");
    cJSON *res = cJSON_Parse(result);
    struct audit_actor who;
    char action[64], *text = NULL;
    int rc = P4HQ_ENOMEM;

    if (!d || !args || !opts || !res)
        goto out;
    for (int i = 2; i < ch->n_words; i++)
        cJSON_AddItemToArray(args, cJSON_CreateString(ch->words[i]));
    for (int i = 0; i < ch->opts->n; i++) {
        if (strcmp(ch->opts->keys[i], "format") != 0)
            cJSON_AddStringToObject(opts, ch->opts->keys[i], ch->opts->vals[i]);
    }
    cJSON_AddItemToObject(d, "result", res);
    res = NULL;
    text = cJSON_PrintUnformatted(d);
    if (!text)
        goto out;
    snprintf(action, sizeof action, "%s.%s", ch->words[0], ch->n_words > 1 ? ch->words[1] : "");
    audit_actor_cli(&who);
    rc = audit_record(db, ch->cfg->tenant, &who, action, text);
out:
    cJSON_Delete(res);
    cJSON_Delete(d);
    free(text);
    return rc;
}

/* Ends the change's transaction: with RC 0 writes its audit row (RESULT: what it created, a
 * JSON object text) and COMMITs, else rolls back; prints ERR on a refusal. */
static int finish(struct db *db, const struct change *ch, int rc, const char *err,
                  const char *result)
{
    if (rc == 0)
        rc = audit_change(db, ch, result);
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

static int cmd_price(struct db *db, const struct change *ch, bool window)
{
    const struct p4hq_config *cfg = ch->cfg;
    const struct cli_opts *o = ch->opts;
    char **w = ch->words;
    int n = ch->n_words;
    struct p4t_price_item item = {0};
    const char *store = cli_opt(o, "store");
    char err[P4T_REASON_MAX] = "", result[64];
    int64_t ver = 0;
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
    snprintf(result, sizeof result, "{\"ver\":%" PRId64 "}", ver);
    rc = finish(db, ch, rc, err, result);
    if (rc == 0)
        printf("%" PRId64 "\n", ver);
    return rc;
}

static int cmd_promo(struct db *db, const struct change *ch)
{
    const struct p4hq_config *cfg = ch->cfg;
    const struct cli_opts *o = ch->opts;
    char **w = ch->words;
    int n = ch->n_words;
    static const char *const types[] = {"percent_off", "fixed_price", "buy_n_pay_m"};
    struct p4t_promo p = {0};
    char err[P4T_REASON_MAX] = "", result[64];
    const char *type, *sku;
    int64_t ver = 0;
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
    snprintf(result, sizeof result, "{\"ver\":%" PRId64 "}", ver);
    rc = finish(db, ch, rc, err, result);
    if (rc == 0)
        printf("%" PRId64 "\n", ver);
    return rc;
}

static int cmd_customer(struct db *db, const struct change *ch)
{
    const struct p4hq_config *cfg = ch->cfg;
    const struct cli_opts *o = ch->opts;
    char **w = ch->words;
    int n = ch->n_words;
    struct p4t_customer c = {0};
    const char *name = cli_opt(o, "name"), *tier = cli_opt(o, "tier");
    char err[P4T_REASON_MAX] = "", result[64];
    int64_t ver = 0;
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
    snprintf(result, sizeof result, "{\"ver\":%" PRId64 "}", ver);
    rc = finish(db, ch, rc, err, result);
    if (rc == 0)
        printf("%" PRId64 "\n", ver);
    return rc;
}

static int cmd_stock(struct db *db, const struct change *ch)
{
    const struct p4hq_config *cfg = ch->cfg;
    const struct cli_opts *o = ch->opts;
    char **w = ch->words;
    int n = ch->n_words;
    static const char *const types[] = {"receive", "transfer", "adjust", "count"};
    struct p4t_stock_item it = {0};
    const char *store = cli_opt(o, "store"), *id = cli_opt(o, "id");
    char err[P4T_REASON_MAX] = "", uuid[P4_UUID_LEN], result[P4T_OBJ_ID_MAX + 64];
    int64_t qty, on_hand = 0;
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
    snprintf(result, sizeof result, "{\"id\":\"%s\",\"on_hand\":%" PRId64 "}", it.id,
             on_hand);
    rc = finish(db, ch, rc, err, result);
    if (rc == 0)
        printf("%s\n", it.id);
    return rc;
}

static int cmd_loyalty(struct db *db, const struct change *ch)
{
    const struct p4hq_config *cfg = ch->cfg;
    const struct cli_opts *o = ch->opts;
    char **w = ch->words;
    int n = ch->n_words;
    const char *reason = cli_opt(o, "reason"), *id = cli_opt(o, "id");
    char err[P4T_REASON_MAX] = "", entry[P4T_OBJ_ID_MAX + 1], uuid[P4_UUID_LEN];
    char result[P4T_OBJ_ID_MAX + 32];
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
    snprintf(result, sizeof result, "{\"entry\":\"%s\"}", entry);
    rc = finish(db, ch, rc, err, result);
    if (rc == 0)
        printf("%s\n", entry);
    return rc;
}

/* store add S [--note TEXT] / store remove S: the stores HQ accepts uplink from when [ingest]
 * require_registered_stores is on. Adding a known store changes nothing (exit 0). */
static int cmd_store(struct db *db, const struct change *ch)
{
    const char *note = cli_opt(ch->opts, "note"), *store = ch->n_words == 3 ? ch->words[2] : "";
    bool add = strcmp(ch->words[1], "add") == 0;
    struct audit_actor who;
    char result[96] = "";
    PGresult *res;
    int rc;

    if (ch->n_words != 3 || (!add && strcmp(ch->words[1], "remove") != 0))
        return usage_error("usage", "store add STORE [--note TEXT] | store remove STORE");
    if (!p4t_store_id_valid(store))
        return usage_error("store", "must be 1..32 characters [a-z0-9_-] starting with [a-z0-9]");
    if (note && strlen(note) > P4HQ_TEXT_MAX)
        return usage_error("--note", "longer than 256 bytes");
    audit_actor_cli(&who);
    if (db_exec(db, "BEGIN", "begin") != 0)
        return EXIT_FAIL;
    if (add) {
        const char *v[4] = {ch->cfg->tenant, store, who.actor, note ? note : ""};
        rc = db_query(db,
                      "INSERT INTO store_registry (tenant, store, added_by, note)"
                      " VALUES ($1, $2, $3, NULLIF($4, '')) ON CONFLICT DO NOTHING RETURNING 1",
                      4, v, &res);
    } else {
        const char *v[2] = {ch->cfg->tenant, store};
        rc = db_query(db, "DELETE FROM store_registry WHERE tenant = $1 AND store = $2"
                          " RETURNING 1", 2, v, &res);
    }
    if (rc) {
        finish(db, ch, rc, "", "{}");
        return EXIT_FAIL;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        db_exec(db, "ROLLBACK", "rollback");
        if (add) {
            printf("%s was already registered\n", store);
            return 0;
        }
        fprintf(stderr, "p4hq: store: %s is not registered\n", store);
        return EXIT_FAIL;
    }
    PQclear(res);
    snprintf(result, sizeof result, "{\"store\":\"%s\",\"registered\":%s}", store,
             add ? "true" : "false");
    rc = finish(db, ch, 0, "", result);
    if (rc == 0)
        printf("%s %s\n", store, add ? "registered" : "removed");
    return rc;
}

int cli_change(struct db *db, const struct p4hq_config *cfg, char **words, int n_words,
               const struct cli_opts *opts)
{
    const char *cmd = words[0], *sub = n_words > 1 ? words[1] : "";
    const struct change ch = {cfg, words, n_words, opts};

    if (strcmp(cmd, "price") == 0 && (strcmp(sub, "set") == 0 || strcmp(sub, "window") == 0))
        return cmd_price(db, &ch, strcmp(sub, "window") == 0);
    if (strcmp(cmd, "promo") == 0)
        return cmd_promo(db, &ch);
    if (strcmp(cmd, "customer") == 0)
        return cmd_customer(db, &ch);
    if (strcmp(cmd, "stock") == 0)
        return cmd_stock(db, &ch);
    if (strcmp(cmd, "loyalty") == 0)
        return cmd_loyalty(db, &ch);
    if (strcmp(cmd, "store") == 0 && (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0))
        return cmd_store(db, &ch);
    return CLI_NOT_A_CHANGE;
}
