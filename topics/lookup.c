/* SPDX-License-Identifier: Apache-2.0 */
/* A customer lookup (revision 1.2): a register asks its gateway, and the gateway asks HQ, for
 * the current state of the customers whose cards were just scanned. */
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const lookup_keys[] = {"req_id", "customers", NULL};

static int read_lookup(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_lookup *out = arg;
    const cJSON *arr, *it;
    size_t i = 0;
    int rc;

    rc = jx_keys(j, root, lookup_keys);
    if (!rc)
        rc = jx_str(j, root, "req_id", true, 1, JX_PRINTABLE, out->req_id, sizeof out->req_id);
    if (!rc)
        rc = jx_member(j, root, "customers", true, cJSON_Array, &arr);
    if (rc)
        return rc;
    cJSON_ArrayForEach(it, arr) {
        const char *why;
        size_t len;

        jx_path(j, "customers", NULL, (long)i);
        if (i == P4T_LOOKUP_MAX)
            return jx_fail(j, NULL, "more than %d customers", P4T_LOOKUP_MAX);
        if (!cJSON_IsString(it) || !it->valuestring)
            return jx_fail(j, NULL, "must be a string");
        len = strlen(it->valuestring);
        why = jx_charset_check(it->valuestring, len, JX_PRINTABLE);
        if (len == 0 || len > P4T_CUSTOMER_MAX)
            why = "must be 1..64 printable characters without spaces";
        if (why)
            return jx_fail(j, NULL, "%s", why);
        for (size_t k = 0; k < i; k++) {
            if (strcmp(out->customers[k], it->valuestring) == 0)
                return jx_fail(j, NULL, "\"%s\" is listed twice", it->valuestring);
        }
        memcpy(out->customers[i], it->valuestring, len + 1);
        i++;
    }
    j->path[0] = '\0';
    if (i == 0)
        return jx_fail(j, "customers", "must have at least one customer");
    out->n_customers = i;
    return P4T_OK;
}

int p4t_lookup_decode(const char *buf, size_t len, struct p4t_lookup *out, char *reason,
                      size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_lookup, out, sizeof *out, reason,
                     reason_len);
}

static int check_lookup(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_lookup_decode(text, len, scratch, NULL, 0);
}

/* Field order: req_id, customers. */
int p4t_lookup_encode(const struct p4t_lookup *l, char **out)
{
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    int rc = root ? P4T_OK : P4T_ENOMEM;

    if (!rc)
        rc = jx_add_str(root, "req_id", l->req_id, sizeof l->req_id);
    if (!rc && l->n_customers > P4T_LOOKUP_MAX)
        rc = P4T_EINVAL;
    if (!rc) {
        arr = cJSON_AddArrayToObject(root, "customers");
        rc = arr ? P4T_OK : P4T_ENOMEM;
    }
    for (size_t i = 0; !rc && i < l->n_customers; i++) {
        cJSON *s;
        if (jx_strnlen(l->customers[i], sizeof l->customers[i]) == sizeof l->customers[i]) {
            rc = P4T_EINVAL;
            break;
        }
        s = cJSON_CreateString(l->customers[i]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            rc = P4T_ENOMEM;
        }
    }
    return jx_encode(root, rc, check_lookup, sizeof(struct p4t_lookup), NULL, out);
}
