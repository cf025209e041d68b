/* SPDX-License-Identifier: Apache-2.0 */
/* The write API (admin token): the operator's changes to master data over HTTP, each one
 * transaction through authority.c, answered after COMMIT with the version or id it created. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "audit.h"
#include "authority.h"
#include "dash.h"
#include "p4common.h"

/* What went wrong with the request body, "field: what" (400). */
struct bad {
    char why[P4T_REASON_MAX];
};

/* FIELD may be a client's key: at most 64 bytes of it, printable ASCII (others '?'), so the
 * answer always reads "field: what" whatever the key. */
static int fail(struct bad *b, const char *field, const char *what)
{
    char name[65];
    size_t i = 0;

    for (; field[i] && i + 1 < sizeof name; i++)
        name[i] = (unsigned char)field[i] < 0x20 || (unsigned char)field[i] > 0x7e ? '?'
                                                                                   : field[i];
    name[i] = '\0';
    snprintf(b->why, sizeof b->why, "%s%s: %s", name, field[i] ? "..." : "", what);
    return P4HQ_EINVAL;
}

/* Rejects a field of OBJ that is not in ALLOWED (NULL-terminated), or one given twice. */
static int keys_only(const cJSON *obj, const char *const *allowed, struct bad *b)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool known = false;
        for (size_t k = 0; allowed[k] && !known; k++)
            known = strcmp(it->string, allowed[k]) == 0;
        if (!known)
            return fail(b, it->string, "unknown field");
        for (const cJSON *p = obj->child; p != it; p = p->next) {
            if (strcmp(p->string, it->string) == 0)
                return fail(b, it->string, "given twice");
        }
    }
    return P4HQ_OK;
}

/* String KEY (1..MAX printable characters without spaces, or any UTF-8 when TEXT): NULL when
 * absent and not REQUIRED. */
static int get_str(const cJSON *obj, const char *key, bool required, size_t max, bool text,
                   const char **out, struct bad *b)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    *out = NULL;
    if (!it)
        return required ? fail(b, key, "missing") : P4HQ_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return fail(b, key, "must be a string");
    if (text ? (!it->valuestring[0] || strlen(it->valuestring) > max)
             : !authority_printable(it->valuestring, max))
        return fail(b, key, text ? "must be 1..100 bytes"
                                 : "must be 1..64 printable characters without spaces");
    *out = it->valuestring;
    return P4HQ_OK;
}

/* Integer KEY within MIN..MAX (JSON numbers are doubles: exact up to 2^53). */
static int get_int(const cJSON *obj, const char *key, bool required, int64_t min, int64_t max,
                   bool *present, int64_t *out, struct bad *b)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    char why[96];

    if (present)
        *present = it != NULL;
    if (!it)
        return required ? fail(b, key, "missing") : P4HQ_OK;
    /* The range first: converting a double outside int64_t (1e300, NaN) is undefined. */
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= (double)min) ||
        !(it->valuedouble <= (double)max) ||
        it->valuedouble != (double)(int64_t)it->valuedouble) {
        snprintf(why, sizeof why, "must be an integer %" PRId64 "..%" PRId64, min, max);
        return fail(b, key, why);
    }
    *out = (int64_t)it->valuedouble;
    return P4HQ_OK;
}

static int get_ts(const cJSON *obj, const char *key, bool *has, int64_t *ms, struct bad *b)
{
    const char *t;
    int rc = get_str(obj, key, false, P4T_TS_LEN - 1, false, &t, b);

    *has = false;
    *ms = 0;
    if (rc || !t)
        return rc;
    if (p4t_ts_parse(t, ms) != 0)
        return fail(b, key, "must be YYYY-MM-DDTHH:MM:SS.mmmZ (UTC)");
    *has = true;
    return P4HQ_OK;
}

static const char *const price_keys[] = {"sku", "price", "store", "from", "until", NULL};
static const char *const promo_keys[] = {"id",    "type", "sku",  "percent", "price",
                                         "n",     "m",    "from", "until",   NULL};
static const char *const customer_keys[] = {"id", "name", "tier", NULL};
static const char *const stock_keys[] = {"store", "sku", "type", "qty", "at", "id", NULL};
static const char *const loyalty_keys[] = {"customer", "points", "reason", "id", NULL};

/* Each handler validates BODY, then runs its change inside the open transaction and writes
 * the answer into RESULT (a JSON object text). P4HQ_EINVAL/P4HQ_EEXIST with B set are 4xx. */
typedef int (*change_fn)(struct db *db, const struct p4hq_config *cfg, const cJSON *body,
                         const char *arg, char *result, size_t result_len, struct bad *b);

static int do_price(struct db *db, const struct p4hq_config *cfg, const cJSON *body,
                    const char *arg, char *result, size_t result_len, struct bad *b)
{
    struct p4t_price_item item = {0};
    const char *sku, *store;
    int64_t ver;
    int rc;

    (void)arg;
    rc = keys_only(body, price_keys, b);
    if (!rc)
        rc = get_str(body, "sku", true, P4T_SKU_MAX, false, &sku, b);
    if (!rc)
        rc = get_int(body, "price", true, 0, P4T_MAX_PRICE, NULL, &item.price_minor, b);
    if (!rc)
        rc = get_str(body, "store", false, P4T_ID_MAX, false, &store, b);
    if (!rc && store && !p4t_store_id_valid(store))
        rc = fail(b, "store", "must be 1..32 characters [a-z0-9_-] starting with [a-z0-9]");
    if (!rc)
        rc = get_ts(body, "from", &item.has_from, &item.from_ms, b);
    if (!rc)
        rc = get_ts(body, "until", &item.has_until, &item.until_ms, b);
    if (!rc && item.has_from && item.has_until && item.until_ms <= item.from_ms)
        rc = fail(b, "until", "must be after from");
    if (rc)
        return rc;
    snprintf(item.sku, sizeof item.sku, "%s", sku);
    rc = authority_price(db, cfg->tenant, &item, store, &ver, b->why, sizeof b->why);
    snprintf(result, result_len, "{\"ver\":%" PRId64 "}", ver);
    return rc;
}

static int do_promo(struct db *db, const struct p4hq_config *cfg, const cJSON *body,
                    const char *arg, char *result, size_t result_len, struct bad *b)
{
    static const char *const types[] = {"percent_off", "fixed_price", "buy_n_pay_m"};
    struct p4t_promo p = {0};
    const char *id, *type, *sku;
    int64_t ver;
    int rc;

    if (arg) { /* POST /api/promos/{id}/retire: no body fields */
        rc = keys_only(body, (const char *const[]){NULL}, b);
        if (!rc && !authority_printable(arg, P4T_OBJ_ID_MAX))
            rc = fail(b, "id", "must be 1..64 printable characters without spaces");
        if (!rc && authority_promo_get(db, cfg->tenant, arg, &p) != 0)
            rc = fail(b, "id", "no such promo");
        p.active = false;
    } else {
        rc = keys_only(body, promo_keys, b);
        if (!rc)
            rc = get_str(body, "id", true, P4T_OBJ_ID_MAX, false, &id, b);
        if (!rc)
            rc = get_str(body, "type", true, 16, false, &type, b);
        if (!rc)
            rc = get_str(body, "sku", true, P4T_SKU_MAX, false, &sku, b);
        if (rc)
            return rc;
        rc = fail(b, "type", "must be percent_off, fixed_price or buy_n_pay_m");
        for (int t = 0; t < 3; t++) {
            if (strcmp(type, types[t]) == 0) {
                p.type = (enum p4t_promo_type)t;
                rc = P4HQ_OK;
            }
        }
        snprintf(p.id, sizeof p.id, "%s", id);
        snprintf(p.sku, sizeof p.sku, "%s", sku);
        p.active = true;
        if (!rc)
            rc = get_int(body, "percent", p.type == P4T_PROMO_PERCENT_OFF, 1, 100, NULL,
                         &p.percent, b);
        if (!rc)
            rc = get_int(body, "price", p.type == P4T_PROMO_FIXED_PRICE, 0, P4T_MAX_PRICE,
                         NULL, &p.price_minor, b);
        if (!rc)
            rc = get_int(body, "n", p.type == P4T_PROMO_BUY_N_PAY_M, 2, P4T_MAX_QTY, NULL,
                         &p.n, b);
        if (!rc)
            rc = get_int(body, "m", p.type == P4T_PROMO_BUY_N_PAY_M, 1, P4T_MAX_QTY - 1, NULL,
                         &p.m, b);
        if (!rc && p.type == P4T_PROMO_BUY_N_PAY_M && p.m >= p.n)
            rc = fail(b, "m", "must be less than n");
        if (!rc && ((p.type != P4T_PROMO_PERCENT_OFF && p.percent) ||
                    (p.type != P4T_PROMO_FIXED_PRICE && p.price_minor) ||
                    (p.type != P4T_PROMO_BUY_N_PAY_M && (p.n || p.m))))
            rc = fail(b, "type", "has a field of another type");
        if (!rc)
            rc = get_ts(body, "from", &p.has_from, &p.from_ms, b);
        if (!rc)
            rc = get_ts(body, "until", &p.has_until, &p.until_ms, b);
        if (!rc && p.has_from && p.has_until && p.until_ms <= p.from_ms)
            rc = fail(b, "until", "must be after from");
    }
    if (rc)
        return rc;
    rc = authority_promo(db, cfg->tenant, &p, &ver, b->why, sizeof b->why);
    snprintf(result, result_len, "{\"ver\":%" PRId64 "}", ver);
    return rc;
}

static int do_customer(struct db *db, const struct p4hq_config *cfg, const cJSON *body,
                       const char *arg, char *result, size_t result_len, struct bad *b)
{
    struct p4t_customer c = {0};
    const char *id, *name, *tier;
    int64_t ver;
    bool kept;
    int rc;

    (void)arg;
    rc = keys_only(body, customer_keys, b);
    if (!rc)
        rc = get_str(body, "id", true, P4T_CUSTOMER_MAX, false, &id, b);
    if (!rc)
        rc = get_str(body, "name", true, P4T_NAME_MAX, true, &name, b);
    if (!rc)
        rc = get_str(body, "tier", false, P4T_TIER_MAX, false, &tier, b);
    if (!rc && tier && strspn(tier, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(tier))
        rc = fail(b, "tier", "must be 1..16 characters [a-z0-9_]");
    if (rc)
        return rc;
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.tier, sizeof c.tier, "%s", tier ? tier : "standard");
    rc = authority_customer(db, cfg->tenant, &c, NULL, false, &ver, &kept, b->why,
                            sizeof b->why);
    snprintf(result, result_len, "{\"ver\":%" PRId64 "}", ver);
    return rc;
}

static int do_stock(struct db *db, const struct p4hq_config *cfg, const cJSON *body,
                    const char *arg, char *result, size_t result_len, struct bad *b)
{
    static const char *const types[] = {"receive", "transfer", "adjust", "count"};
    struct p4t_stock_item it = {0};
    const char *store, *sku, *type, *id;
    char uuid[P4_UUID_LEN];
    int64_t qty = 0, on_hand;
    bool has_at;
    int rc;

    (void)arg;
    rc = keys_only(body, stock_keys, b);
    if (!rc)
        rc = get_str(body, "store", true, P4T_ID_MAX, false, &store, b);
    if (!rc && !p4t_store_id_valid(store))
        rc = fail(b, "store", "must be 1..32 characters [a-z0-9_-] starting with [a-z0-9]");
    if (!rc)
        rc = get_str(body, "sku", true, P4T_SKU_MAX, false, &sku, b);
    if (!rc)
        rc = get_str(body, "type", true, 16, false, &type, b);
    if (rc)
        return rc;
    rc = fail(b, "type", "must be receive, transfer, adjust or count");
    for (int t = 0; t < 4; t++) {
        if (strcmp(type, types[t]) == 0) {
            it.type = (enum p4t_stock_type)t;
            rc = P4HQ_OK;
        }
    }
    if (!rc)
        rc = get_int(body, "qty", true,
                     it.type == P4T_STOCK_RECEIVE ? 1
                     : it.type == P4T_STOCK_COUNT ? 0
                                                  : -P4T_MAX_STOCK,
                     P4T_MAX_STOCK, NULL, &qty, b);
    if (!rc && qty == 0 && it.type != P4T_STOCK_COUNT)
        rc = fail(b, "qty", "must not be 0");
    if (!rc)
        rc = get_ts(body, "at", &has_at, &it.occurred_at_ms, b);
    if (!rc)
        rc = get_str(body, "id", false, P4T_OBJ_ID_MAX, false, &id, b);
    if (rc)
        return rc;
    if (!id) {
        if (p4_uuid7(uuid) != 0)
            return P4HQ_EIO;
        id = uuid;
    }
    snprintf(it.id, sizeof it.id, "%s", id);
    snprintf(it.sku, sizeof it.sku, "%s", sku);
    if (it.type == P4T_STOCK_COUNT)
        it.on_hand = qty;
    else
        it.delta = qty;
    if (!has_at)
        it.occurred_at_ms = p4_now_ms();
    rc = authority_stock(db, cfg->tenant, store, &it, &on_hand, b->why, sizeof b->why);
    snprintf(result, result_len, "{\"id\":\"%s\",\"on_hand\":%" PRId64 "}", it.id, on_hand);
    return rc;
}

static int do_loyalty(struct db *db, const struct p4hq_config *cfg, const cJSON *body,
                      const char *arg, char *result, size_t result_len, struct bad *b)
{
    const char *customer, *reason, *id;
    char entry[P4T_OBJ_ID_MAX + 1], uuid[P4_UUID_LEN];
    int64_t points, overdrawn;
    int rc;

    (void)arg;
    rc = keys_only(body, loyalty_keys, b);
    if (!rc)
        rc = get_str(body, "customer", true, P4T_CUSTOMER_MAX, false, &customer, b);
    if (!rc)
        rc = get_int(body, "points", true, -P4T_MAX_POINTS, P4T_MAX_POINTS, NULL, &points, b);
    if (!rc && points == 0)
        rc = fail(b, "points", "must not be 0");
    if (!rc)
        rc = get_str(body, "reason", false, P4T_REASON_MAX - 1, true, &reason, b);
    if (!rc)
        rc = get_str(body, "id", false, P4T_OBJ_ID_MAX, false, &id, b);
    if (rc)
        return rc;
    if (!id) {
        if (p4_uuid7(uuid) != 0)
            return P4HQ_EIO;
        snprintf(entry, sizeof entry, "hq-%s", uuid);
    } else {
        snprintf(entry, sizeof entry, "%s", id);
    }
    rc = authority_loyalty_entry(db, cfg->tenant, customer, entry, points,
                                 reason ? reason : "", b->why, sizeof b->why);
    if (!rc) {
        char *one[1] = {(char *)customer};
        rc = authority_loyalty_push(db, cfg->tenant, one, 1, &overdrawn);
    }
    snprintf(result, result_len, "{\"entry\":\"%s\"}", entry);
    return rc;
}

/* The audit row of a change that succeeded, in its transaction: ACTION (for stock, its type),
 * detail {"request": BODY, "result": RESULT}. */
static int audit_write(struct db *db, const struct p4hq_config *cfg,
                       const struct audit_actor *who, const char *action, const cJSON *body,
                       const char *arg, const char *result)
{
    cJSON *d = cJSON_CreateObject(), *req = cJSON_Duplicate(body, true);
    cJSON *res = cJSON_Parse(result);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
    char act[48], *text = NULL;
    int rc = P4HQ_ENOMEM;

    if (!d || !req || !res) {
        cJSON_Delete(req);
        cJSON_Delete(res);
        goto out;
    }
    if (arg)
        cJSON_AddStringToObject(d, "id", arg);
    cJSON_AddItemToObject(d, "request", req);
    cJSON_AddItemToObject(d, "result", res);
    text = cJSON_PrintUnformatted(d);
    if (!text)
        goto out;
    if (strcmp(action, "stock") == 0 && cJSON_IsString(type))
        snprintf(act, sizeof act, "stock.%s", type->valuestring);
    else if (strcmp(action, "price.set") == 0 &&
             (cJSON_HasObjectItem(body, "from") || cJSON_HasObjectItem(body, "until")))
        snprintf(act, sizeof act, "price.window");
    else
        snprintf(act, sizeof act, "%s", action);
    rc = audit_record(db, cfg->tenant, who, act, text);
out:
    cJSON_Delete(d);
    free(text);
    return rc;
}

bool api_write_handle(const struct p4hq_config *cfg, struct db *db, const char *path,
                      const char *body, size_t body_len, const struct audit_actor *who,
                      struct reply *out)
{
    static const struct {
        const char *path, *action;
        change_fn fn;
    } routes[] = {
        {"prices", "price.set", do_price},          {"promos", "promo.put", do_promo},
        {"customers", "customer.put", do_customer}, {"stock", "stock", do_stock},
        {"loyalty", "loyalty.adjust", do_loyalty},
    };
    char result[P4T_OBJ_ID_MAX + 96] = "", arg[P4T_OBJ_ID_MAX + 1];
    const char *action = NULL;
    change_fn fn = NULL;
    const char *argp = NULL;
    struct bad b = {""};
    cJSON *json;
    int rc;

    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(path, routes[i].path) == 0) {
            fn = routes[i].fn;
            action = routes[i].action;
        }
    }
    /* promos/{id}/retire */
    if (!fn && strncmp(path, "promos/", 7) == 0) {
        size_t n = strlen(path);
        if (n > 14 && strcmp(path + n - 7, "/retire") == 0 && n - 14 <= P4T_OBJ_ID_MAX) {
            snprintf(arg, sizeof arg, "%.*s", (int)(n - 14), path + 7);
            argp = arg;
            fn = do_promo;
            action = "promo.retire";
        }
    }
    if (!fn)
        return false;
    if (!db) {
        api_error(out, MHD_HTTP_SERVICE_UNAVAILABLE, "database: unavailable, try again");
        return true;
    }
    json = cJSON_ParseWithLength(body, body_len);
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        api_error(out, MHD_HTTP_BAD_REQUEST, "body: must be one JSON object");
        return true;
    }
    rc = db_exec(db, "BEGIN", "begin");
    if (!rc)
        rc = fn(db, cfg, json, argp, result, sizeof result, &b);
    if (!rc)
        rc = audit_write(db, cfg, who, action, json, argp, result);
    if (!rc)
        rc = db_exec(db, "COMMIT", "commit");
    cJSON_Delete(json);
    if (rc && db_ok(db))
        db_exec(db, "ROLLBACK", "rollback");
    if (rc == P4HQ_EINVAL || rc == P4HQ_EEXIST) {
        api_error(out, rc == P4HQ_EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_CONFLICT, b.why);
        return true;
    }
    if (rc) {
        api_error(out, MHD_HTTP_SERVICE_UNAVAILABLE, "database: the change was not made");
        return true;
    }
    out->status = MHD_HTTP_CREATED;
    out->body = strdup(result);
    out->len = out->body ? strlen(out->body) : 0;
    if (!out->body)
        api_error(out, MHD_HTTP_INTERNAL_SERVER_ERROR, "server: out of memory");
    return true;
}
