/* SPDX-License-Identifier: Apache-2.0 */
/* The staff alert message (gateway -> store staff and HQ): oversell, outbox_cap, ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const severity_names[] = {"info", "warning", "critical"};
#define N_SEVERITIES (sizeof severity_names / sizeof severity_names[0])

static const char *const alert_keys[] = {"id",      "kind", "severity", "ts",      "store",
                                         "message", "sku",  "sales",    "details", NULL};

static int read_alert(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_alert *out = arg;
    const cJSON *sales, *details, *it;
    char *text = NULL;
    int severity = 0, rc;
    size_t i;

    rc = jx_keys(j, root, alert_keys);
    if (!rc)
        rc = jx_str(j, root, "id", true, 1, JX_UUID, out->id, sizeof out->id);
    if (!rc)
        rc = jx_str(j, root, "kind", true, 1, JX_KIND, out->kind, sizeof out->kind);
    if (!rc)
        rc = jx_enum(j, root, "severity", severity_names, N_SEVERITIES,
                     "must be info, warning or critical", &severity);
    if (rc)
        return rc;
    memcpy(out->severity, severity_names[severity], strlen(severity_names[severity]) + 1);
    rc = jx_str(j, root, "ts", true, 1, JX_TS, out->ts, sizeof out->ts);
    if (!rc)
        rc = jx_str(j, root, "store", true, 1, JX_STORE, out->store, sizeof out->store);
    if (!rc)
        rc = jx_str(j, root, "message", true, 1, JX_TEXT, out->message, sizeof out->message);
    if (!rc)
        rc = jx_str(j, root, "sku", false, 1, JX_PRINTABLE, out->sku, sizeof out->sku);
    if (!rc)
        rc = jx_member(j, root, "sales", false, cJSON_Array, &sales);
    if (rc)
        return rc;
    i = 0;
    cJSON_ArrayForEach(it, sales) {
        jx_path(j, "sales", NULL, (long)i);
        if (i == P4T_ALERT_MAX_SALES)
            return jx_fail(j, NULL, "more than %d sale ids", P4T_ALERT_MAX_SALES);
        if (!cJSON_IsString(it) || !p4t_uuid_valid(it->valuestring))
            return jx_fail(j, NULL, "must be a canonical lowercase UUID (36 characters)");
        memcpy(out->sales[i], it->valuestring, P4T_UUID_MAX + 1);
        i++;
    }
    j->path[0] = '\0';
    out->n_sales = i;
    rc = jx_member(j, root, "details", false, cJSON_Object, &details);
    if (rc || !details)
        return rc;
    text = cJSON_PrintUnformatted(details);
    if (!text)
        return P4T_ENOMEM;
    if (strlen(text) >= sizeof out->details)
        rc = jx_fail(j, "details", "longer than %zu bytes", sizeof out->details - 1);
    else
        memcpy(out->details, text, strlen(text) + 1);
    free(text);
    return rc;
}

int p4t_alert_decode(const char *buf, size_t len, struct p4t_alert *out, char *reason,
                     size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_alert, out, sizeof *out, reason,
                     reason_len);
}

static int check_alert(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_alert_decode(text, len, scratch, NULL, 0);
}

/* Field order: id, kind, severity, ts, store, message, then sku, sales and details when set.
 * Validated by decoding the printed text. */
int p4t_alert_encode(const struct p4t_alert *a, char **out)
{
    cJSON *root, *arr, *details;
    size_t i;
    int rc;

    *out = NULL;
    if (a->n_sales > P4T_ALERT_MAX_SALES)
        return P4T_EINVAL;
    root = cJSON_CreateObject();
    rc = root ? jx_add_str(root, "id", a->id, sizeof a->id) : P4T_ENOMEM;
    if (!rc)
        rc = jx_add_str(root, "kind", a->kind, sizeof a->kind);
    if (!rc)
        rc = jx_add_str(root, "severity", a->severity, sizeof a->severity);
    if (!rc)
        rc = jx_add_str(root, "ts", a->ts, sizeof a->ts);
    if (!rc)
        rc = jx_add_str(root, "store", a->store, sizeof a->store);
    if (!rc)
        rc = jx_add_str(root, "message", a->message, sizeof a->message);
    if (!rc && a->sku[0])
        rc = jx_add_str(root, "sku", a->sku, sizeof a->sku);
    if (!rc && a->n_sales) {
        arr = cJSON_AddArrayToObject(root, "sales");
        if (!arr)
            rc = P4T_ENOMEM;
        for (i = 0; !rc && i < a->n_sales; i++) {
            if (jx_strnlen(a->sales[i], P4T_UUID_MAX + 1) > P4T_UUID_MAX)
                rc = P4T_EINVAL;
            else if (!cJSON_AddItemToArray(arr, cJSON_CreateString(a->sales[i])))
                rc = P4T_ENOMEM;
        }
    }
    if (!rc && a->details[0]) {
        /* The details are JSON text already; an unterminated or unparsable one is refused. */
        details = NULL;
        if (jx_strnlen(a->details, sizeof a->details) < sizeof a->details)
            details = cJSON_Parse(a->details);
        if (!details) {
            rc = P4T_EINVAL;
        } else if (!cJSON_AddItemToObject(root, "details", details)) {
            cJSON_Delete(details);
            rc = P4T_ENOMEM;
        }
    }
    return jx_encode(root, rc, check_alert, sizeof(struct p4t_alert), NULL, out);
}

/* FNV-1a over S (and its NUL, so "ab"+"c" and "a"+"bc" differ), continuing from H. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    size_t i, n = strlen(s) + 1;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* splitmix64's finaliser: spreads every input bit over the output. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int p4t_alert_id(const char *kind, const char *store, const char *key,
                 char out[P4T_UUID_MAX + 1])
{
    uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
    unsigned char bytes[16];
    int i;

    out[0] = '\0';
    if (!kind || !store || !key)
        return P4T_EINVAL;
    /* Not a cryptographic id: it only has to be stable and spread out. Two independently
     * seeded hashes give 128 bits, of which a UUID keeps 122. */
    a = mix64(fnv1a(fnv1a(fnv1a(a, kind), store), key));
    b = mix64(fnv1a(fnv1a(fnv1a(b, key), store), kind) ^ a);
    for (i = 0; i < 8; i++) {
        bytes[i] = (unsigned char)(a >> (56 - 8 * i));
        bytes[8 + i] = (unsigned char)(b >> (56 - 8 * i));
    }
    bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x80); /* version 8: custom */
    bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    snprintf(out, P4T_UUID_MAX + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
             bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
             bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
    return P4T_OK;
}
