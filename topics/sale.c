/* SPDX-License-Identifier: Apache-2.0 */
/* The sale message (register -> gateway) and the uplink sale record (gateway -> cloud). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const kind_names[] = {"sale", "return", "void"};
#define N_KINDS (sizeof kind_names / sizeof kind_names[0])

const char *p4t_sale_kind_name(enum p4t_sale_kind kind)
{
    if ((unsigned)kind >= N_KINDS)
        return NULL;
    return kind_names[kind];
}

static const char *const sale_keys[] = {"id",      "seq",   "store",    "reg",     "ts",
                                        "kind",    "ref",   "lines",    "tenders", "total",
                                        "customer", "loyalty", "hold",    NULL};
static const char *const record_keys[] = {"id",      "seq",   "store",    "reg",     "ts",
                                          "kind",    "ref",   "lines",    "tenders", "total",
                                          "customer", "loyalty", "hold",   "gw_seq", "flags",
                                          NULL};
static const char *const line_keys[] = {"sku", "qty", "price", "ver", NULL};
static const char *const tender_keys[] = {"type", "amount", NULL};
static const char *const loyalty_keys[] = {"earn", "redeem", NULL};

static int decode_line(struct jx *j, const cJSON *it, size_t i, enum p4t_sale_kind kind,
                       struct p4t_line *line)
{
    int rc;

    jx_path(j, "lines", NULL, (long)i);
    if (!cJSON_IsObject(it))
        return jx_fail(j, NULL, "must be an object");
    rc = jx_keys(j, it, line_keys);
    if (rc)
        return rc;
    rc = jx_str(j, it, "sku", true, 1, JX_PRINTABLE, line->sku, sizeof line->sku);
    if (rc)
        return rc;
    rc = jx_int(j, it, "qty", true, -P4T_MAX_QTY, P4T_MAX_QTY, 0, &line->qty, NULL);
    if (rc)
        return rc;
    if (kind == P4T_SALE && line->qty <= 0)
        return jx_fail(j, "qty", "must be > 0 in a sale");
    if (kind == P4T_RETURN && line->qty >= 0)
        return jx_fail(j, "qty", "must be < 0 in a return");
    if (line->qty == 0)
        return jx_fail(j, "qty", "must be a non-zero integer");
    rc = jx_int(j, it, "price", true, 0, P4T_MAX_PRICE, 0, &line->price_minor, NULL);
    if (rc)
        return rc;
    return jx_int(j, it, "ver", true, 0, JX_INT_MAX, 0, &line->ver, NULL);
}

static int decode_tender(struct jx *j, const cJSON *it, size_t i, struct p4t_tender *t)
{
    int rc;

    jx_path(j, "tenders", NULL, (long)i);
    if (!cJSON_IsObject(it))
        return jx_fail(j, NULL, "must be an object");
    rc = jx_keys(j, it, tender_keys);
    if (rc)
        return rc;
    rc = jx_str(j, it, "type", true, 1, JX_TENDER, t->type, sizeof t->type);
    if (rc)
        return rc;
    return jx_int(j, it, "amount", true, -P4T_MAX_AMOUNT, P4T_MAX_AMOUNT, 0, &t->amount_minor,
                  NULL);
}

/* Sums qty * price over the lines. Each product fits easily within the limits, but the sum is
 * computed with overflow checks all the same: the limits may grow, int64 wrap must not. */
static int line_sum(struct jx *j, const struct p4t_sale *s, int64_t *sum)
{
    size_t i;

    *sum = 0;
    for (i = 0; i < s->n_lines; i++) {
        int64_t amount;
        if (__builtin_mul_overflow(s->lines[i].qty, s->lines[i].price_minor, &amount) ||
            __builtin_add_overflow(*sum, amount, sum)) {
            j->path[0] = '\0';
            return jx_fail(j, "lines", "qty * price sum overflows");
        }
    }
    return P4T_OK;
}

/* Validates the sale fields of ROOT into OUT. With RECORD, also reads gw_seq and flags (the
 * uplink record form). On failure J holds the reason. */
static int decode_obj(struct jx *j, const cJSON *root, bool record, struct p4t_sale *out,
                      int64_t *gw_seq, char (*flags)[P4T_KIND_MAX + 1], size_t *n_flags)
{
    const cJSON *lines, *tenders, *loyalty, *flag_arr, *it;
    int64_t sum, tender_sum = 0;
    int kind = 0, rc;
    size_t i;

    rc = jx_keys(j, root, record ? record_keys : sale_keys);
    if (!rc)
        rc = jx_str(j, root, "id", true, 1, JX_UUID, out->id, sizeof out->id);
    if (!rc)
        rc = jx_int(j, root, "seq", true, 1, JX_INT_MAX, 0, &out->seq, NULL);
    if (!rc)
        rc = jx_str(j, root, "store", true, 1, JX_STORE, out->store, sizeof out->store);
    if (!rc)
        rc = jx_str(j, root, "reg", true, 1, JX_ID, out->reg, sizeof out->reg);
    if (!rc)
        rc = jx_str(j, root, "ts", true, 1, JX_TS, out->ts, sizeof out->ts);
    if (rc)
        return rc;
    rc = p4t_ts_parse(out->ts, &out->ts_ms);
    if (rc)
        return jx_fail(j, "ts", "not a real date");
    rc = jx_enum(j, root, "kind", kind_names, N_KINDS, "must be sale, return or void", &kind);
    if (rc)
        return rc;
    out->kind = (enum p4t_sale_kind)kind;
    rc = jx_str(j, root, "ref", false, 1, JX_UUID, out->ref, sizeof out->ref);
    if (rc)
        return rc;

    rc = jx_member(j, root, "lines", true, cJSON_Array, &lines);
    if (rc)
        return rc;
    i = 0;
    cJSON_ArrayForEach(it, lines) {
        j->path[0] = '\0';
        if (i == P4T_MAX_LINES)
            return jx_fail(j, "lines", "more than %d lines", P4T_MAX_LINES);
        rc = decode_line(j, it, i, out->kind, &out->lines[i]);
        if (rc)
            return rc;
        i++;
    }
    j->path[0] = '\0';
    if (i == 0)
        return jx_fail(j, "lines", "must have at least one line");
    out->n_lines = i;

    rc = jx_member(j, root, "tenders", false, cJSON_Array, &tenders);
    if (rc)
        return rc;
    i = 0;
    cJSON_ArrayForEach(it, tenders) {
        j->path[0] = '\0';
        if (i == P4T_MAX_TENDERS)
            return jx_fail(j, "tenders", "more than %d tenders", P4T_MAX_TENDERS);
        rc = decode_tender(j, it, i, &out->tenders[i]);
        if (rc)
            return rc;
        /* |amount| <= P4T_MAX_AMOUNT and at most 8 tenders: this cannot overflow. */
        tender_sum += out->tenders[i].amount_minor;
        i++;
    }
    j->path[0] = '\0';
    out->n_tenders = i;

    rc = jx_int(j, root, "total", true, -P4T_MAX_AMOUNT, P4T_MAX_AMOUNT, 0, &out->total_minor,
                NULL);
    if (rc)
        return rc;
    rc = line_sum(j, out, &sum);
    if (rc)
        return rc;
    if (sum != out->total_minor)
        return jx_fail(j, "total", "is %" PRId64 " but the lines sum to %" PRId64,
                       out->total_minor, sum);
    if (out->n_tenders > 0 && tender_sum != out->total_minor)
        return jx_fail(j, "tenders", "amounts sum to %" PRId64 " but total is %" PRId64,
                       tender_sum, out->total_minor);

    rc = jx_str(j, root, "customer", false, 1, JX_PRINTABLE, out->customer,
                sizeof out->customer);
    if (rc)
        return rc;
    rc = jx_member(j, root, "loyalty", false, cJSON_Object, &loyalty);
    if (rc)
        return rc;
    if (loyalty) {
        jx_path(j, "", "loyalty", 0);
        rc = jx_keys(j, loyalty, loyalty_keys);
        if (rc)
            return rc;
        rc = jx_int(j, loyalty, "earn", true, 0, P4T_MAX_POINTS, 0, &out->loyalty_earn, NULL);
        if (rc)
            return rc;
        rc = jx_int(j, loyalty, "redeem", true, 0, P4T_MAX_POINTS, 0, &out->loyalty_redeem,
                    NULL);
        if (rc)
            return rc;
        j->path[0] = '\0';
        out->has_loyalty = true;
    }
    /* Revision 1.1: the hold a sale consumes. Only a sale takes stock a hold can cover. */
    rc = jx_str(j, root, "hold", false, 1, JX_PRINTABLE, out->hold, sizeof out->hold);
    if (rc)
        return rc;
    if (out->hold[0] && out->kind != P4T_SALE)
        return jx_fail(j, "hold", "only allowed in a sale");
    if (!record)
        return P4T_OK;

    rc = jx_int(j, root, "gw_seq", true, 1, JX_INT_MAX, 0, gw_seq, NULL);
    if (rc)
        return rc;
    rc = jx_member(j, root, "flags", true, cJSON_Array, &flag_arr);
    if (rc)
        return rc;
    i = 0;
    cJSON_ArrayForEach(it, flag_arr) {
        size_t len;
        const char *why;
        jx_path(j, "flags", NULL, (long)i);
        if (i == P4T_MAX_FLAGS)
            return jx_fail(j, NULL, "more than %d flags", P4T_MAX_FLAGS);
        if (!cJSON_IsString(it) || !it->valuestring)
            return jx_fail(j, NULL, "must be a string");
        len = strlen(it->valuestring);
        why = jx_charset_check(it->valuestring, len, JX_KIND);
        if (len == 0 || len > P4T_KIND_MAX)
            why = "must be 1..16 characters [a-z_]";
        if (why)
            return jx_fail(j, NULL, "%s", why);
        if (flags)
            memcpy(flags[i], it->valuestring, len + 1);
        i++;
    }
    j->path[0] = '\0';
    if (n_flags)
        *n_flags = i;
    return P4T_OK;
}

/* OUT is "fully overwritten": never hand back half a sale. */
static void clear_outputs(struct p4t_sale *out, int64_t *gw_seq, size_t *n_flags)
{
    memset(out, 0, sizeof *out);
    *gw_seq = 0;
    if (n_flags)
        *n_flags = 0;
}

static int decode_common(const char *buf, size_t len, size_t max_len, bool record,
                         struct p4t_sale *out, int64_t *gw_seq,
                         char (*flags)[P4T_KIND_MAX + 1], size_t *n_flags, char *reason,
                         size_t reason_len)
{
    struct jx j = {.reason = reason, .reason_len = reason_len};
    cJSON *root = NULL;
    int64_t seq_unused = 0;
    int rc;

    if (reason && reason_len)
        reason[0] = '\0';
    if (!gw_seq)
        gw_seq = &seq_unused;
    clear_outputs(out, gw_seq, n_flags);
    rc = jx_parse(&j, buf, len, max_len, &root);
    if (rc)
        goto out;
    rc = decode_obj(&j, root, record, out, gw_seq, flags, n_flags);
out:
    rc = jx_finish(&j, rc);
    if (rc)
        clear_outputs(out, gw_seq, n_flags);
    cJSON_Delete(root);
    return rc;
}

int sale_record_read(struct jx *j, const cJSON *obj, struct p4t_sale *out, int64_t *gw_seq,
                     char (*flags)[P4T_KIND_MAX + 1], size_t *n_flags)
{
    clear_outputs(out, gw_seq, n_flags);
    if (!cJSON_IsObject(obj))
        return jx_fail(j, NULL, "must be an object");
    return decode_obj(j, obj, true, out, gw_seq, flags, n_flags);
}

int p4t_sale_decode(const char *buf, size_t len, struct p4t_sale *out, char *reason,
                    size_t reason_len)
{
    return decode_common(buf, len, P4T_MAX_PAYLOAD, false, out, NULL, NULL, NULL, reason,
                         reason_len);
}

int p4t_sale_record_decode(const char *buf, size_t len, struct p4t_sale *out, int64_t *gw_seq,
                           char flags[][P4T_KIND_MAX + 1], size_t *n_flags, char *reason,
                           size_t reason_len)
{
    return decode_common(buf, len, P4T_MAX_RECORD_PAYLOAD, true, out, gw_seq, flags, n_flags,
                         reason, reason_len);
}

/* Builds the sale object in the contract's field order. Strings are bounded by their struct
 * arrays; an unterminated one or an unknown kind is P4T_EINVAL. The values themselves are
 * validated afterwards by decoding the printed text, so encoder and decoder cannot disagree.
 * *OUT is the caller's (cJSON_Delete). */
static int build_obj(const struct p4t_sale *s, cJSON **out)
{
    cJSON *root = NULL, *arr, *obj;
    const char *kind = p4t_sale_kind_name(s->kind);
    size_t i;
    int rc = P4T_ENOMEM;

    *out = NULL;
    if (!kind || s->n_lines > P4T_MAX_LINES || s->n_tenders > P4T_MAX_TENDERS) {
        rc = P4T_EINVAL;
        goto out;
    }
    root = cJSON_CreateObject();
    if (!root)
        goto out;
    rc = jx_add_str(root, "id", s->id, sizeof s->id);
    if (!rc)
        rc = jx_add_int(root, "seq", s->seq);
    if (!rc)
        rc = jx_add_str(root, "store", s->store, sizeof s->store);
    if (!rc)
        rc = jx_add_str(root, "reg", s->reg, sizeof s->reg);
    if (!rc)
        rc = jx_add_str(root, "ts", s->ts, sizeof s->ts);
    if (!rc)
        rc = jx_add_str(root, "kind", kind, 8);
    if (!rc && s->ref[0])
        rc = jx_add_str(root, "ref", s->ref, sizeof s->ref);
    if (!rc) {
        arr = cJSON_AddArrayToObject(root, "lines");
        rc = arr ? P4T_OK : P4T_ENOMEM;
    }
    for (i = 0; !rc && i < s->n_lines; i++) {
        const struct p4t_line *l = &s->lines[i];
        obj = jx_append_object(arr);
        rc = obj ? jx_add_str(obj, "sku", l->sku, sizeof l->sku) : P4T_ENOMEM;
        if (!rc)
            rc = jx_add_int(obj, "qty", l->qty);
        if (!rc)
            rc = jx_add_int(obj, "price", l->price_minor);
        if (!rc)
            rc = jx_add_int(obj, "ver", l->ver);
    }
    if (!rc) {
        arr = cJSON_AddArrayToObject(root, "tenders");
        rc = arr ? P4T_OK : P4T_ENOMEM;
    }
    for (i = 0; !rc && i < s->n_tenders; i++) {
        obj = jx_append_object(arr);
        rc = obj ? jx_add_str(obj, "type", s->tenders[i].type, sizeof s->tenders[i].type)
                 : P4T_ENOMEM;
        if (!rc)
            rc = jx_add_int(obj, "amount", s->tenders[i].amount_minor);
    }
    if (!rc)
        rc = jx_add_int(root, "total", s->total_minor);
    if (!rc && s->customer[0])
        rc = jx_add_str(root, "customer", s->customer, sizeof s->customer);
    if (!rc && s->has_loyalty) {
        obj = cJSON_AddObjectToObject(root, "loyalty");
        rc = obj ? jx_add_int(obj, "earn", s->loyalty_earn) : P4T_ENOMEM;
        if (!rc)
            rc = jx_add_int(obj, "redeem", s->loyalty_redeem);
    }
    if (!rc && s->hold[0])
        rc = jx_add_str(root, "hold", s->hold, sizeof s->hold);
    if (rc)
        goto out;
    *out = root;
    root = NULL;
out:
    cJSON_Delete(root);
    return rc;
}

/* Where p4t_sale_encode's check writes its reason. */
struct reason_buf {
    char *buf;
    size_t len;
};

static int check_sale(const char *text, size_t len, void *scratch, const void *arg)
{
    const struct reason_buf *why = arg;

    return p4t_sale_decode(text, len, scratch, why->buf, why->len);
}

int p4t_sale_encode(const struct p4t_sale *sale, char **out, char *reason, size_t reason_len)
{
    struct reason_buf why = {reason, reason_len};
    cJSON *root = NULL;
    int rc;

    if (reason && reason_len)
        reason[0] = '\0';
    rc = build_obj(sale, &root);
    if (rc == P4T_EINVAL && reason && reason_len)
        snprintf(reason, reason_len, "sale: unknown kind, too many lines or tenders, "
                                     "or an unterminated string field");
    return jx_encode(root, rc, check_sale, sizeof(struct p4t_sale), &why, out);
}

static int check_record(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_sale_record_decode(text, len, scratch, NULL, NULL, NULL, NULL, 0);
}

int p4t_sale_record_encode(const struct p4t_sale *sale, int64_t gw_seq,
                           const char *const *flags, char **out)
{
    cJSON *root = NULL, *arr = NULL;
    size_t i;
    int rc;

    rc = build_obj(sale, &root);
    if (!rc)
        rc = jx_add_int(root, "gw_seq", gw_seq);
    if (!rc) {
        arr = cJSON_AddArrayToObject(root, "flags");
        rc = arr ? P4T_OK : P4T_ENOMEM;
    }
    for (i = 0; !rc && flags && flags[i]; i++) {
        if (i == P4T_MAX_FLAGS || jx_strnlen(flags[i], P4T_KIND_MAX + 1) > P4T_KIND_MAX)
            rc = P4T_EINVAL;
        else if (!cJSON_AddItemToArray(arr, cJSON_CreateString(flags[i])))
            rc = P4T_ENOMEM;
    }
    return jx_encode(root, rc, check_record, sizeof(struct p4t_sale), NULL, out);
}

int p4t_sale_peek(const char *buf, size_t len, char id[P4T_UUID_MAX + 1], int64_t *seq)
{
    cJSON *root;
    const cJSON *it;

    id[0] = '\0';
    if (seq)
        *seq = 0;
    /* Oversized payloads are not worth parsing: their ack carries an empty id. */
    if (!buf || len == 0 || len > P4T_MAX_PAYLOAD)
        return P4T_OK;
    root = cJSON_ParseWithLength(buf, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return P4T_OK;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (cJSON_IsString(it) && it->valuestring) {
        size_t n = strlen(it->valuestring);
        if (n <= P4T_UUID_MAX && !jx_charset_check(it->valuestring, n, JX_PRINTABLE))
            memcpy(id, it->valuestring, n + 1);
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "seq");
    if (seq && cJSON_IsNumber(it) && it->valuedouble >= 1 && it->valuedouble <= JX_INT_MAX &&
        (double)(int64_t)it->valuedouble == it->valuedouble)
        *seq = (int64_t)it->valuedouble;
    cJSON_Delete(root);
    return P4T_OK;
}
