/* SPDX-License-Identifier: Apache-2.0 */
/* The resync request (gateway -> HQ): "republish everything newer than these versions". */
#include <stdlib.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const resync_keys[] = {"store", "req_id", "since", NULL};
static const char *const since_keys[] = {"price", "promo", "customer", "loyalty", NULL};

static int read_resync(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_resync *out = arg;
    const cJSON *since;
    int rc;

    memset(out, 0, sizeof *out);
    rc = jx_keys(j, root, resync_keys);
    if (!rc)
        rc = jx_str(j, root, "store", true, 1, JX_STORE, out->store, sizeof out->store);
    if (!rc)
        rc = jx_str(j, root, "req_id", true, 1, JX_PRINTABLE, out->req_id, sizeof out->req_id);
    if (!rc)
        rc = jx_member(j, root, "since", true, cJSON_Object, &since);
    if (rc)
        return rc;
    jx_path(j, "", "since", 0);
    /* Every kind is named, 0 meaning "everything": a missing one would be ambiguous. */
    rc = jx_keys(j, since, since_keys);
    if (!rc)
        rc = jx_int(j, since, "price", true, 0, JX_INT_MAX, 0, &out->since_price, NULL);
    if (!rc)
        rc = jx_int(j, since, "promo", true, 0, JX_INT_MAX, 0, &out->since_promo, NULL);
    if (!rc)
        rc = jx_int(j, since, "customer", true, 0, JX_INT_MAX, 0, &out->since_customer, NULL);
    if (!rc)
        rc = jx_int(j, since, "loyalty", true, 0, JX_INT_MAX, 0, &out->since_loyalty, NULL);
    if (!rc)
        j->path[0] = '\0';
    return rc;
}

int p4t_resync_decode(const char *buf, size_t len, struct p4t_resync *out, char *reason,
                      size_t reason_len)
{
    int rc = jx_decode_with(buf, len, P4T_MAX_PAYLOAD, read_resync, out, reason, reason_len);

    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

/* Field order: store, req_id, since {price, promo, customer, loyalty}. */
int p4t_resync_encode(const struct p4t_resync *r, char **out)
{
    struct p4t_resync check;
    cJSON *root = NULL, *since;
    char *text = NULL;
    int rc = P4T_ENOMEM;

    *out = NULL;
    root = cJSON_CreateObject();
    if (!root)
        goto out;
    rc = jx_add_str(root, "store", r->store, sizeof r->store);
    if (!rc)
        rc = jx_add_str(root, "req_id", r->req_id, sizeof r->req_id);
    if (rc)
        goto out;
    since = cJSON_AddObjectToObject(root, "since");
    rc = since ? jx_add_int(since, "price", r->since_price) : P4T_ENOMEM;
    if (!rc)
        rc = jx_add_int(since, "promo", r->since_promo);
    if (!rc)
        rc = jx_add_int(since, "customer", r->since_customer);
    if (!rc)
        rc = jx_add_int(since, "loyalty", r->since_loyalty);
    if (!rc)
        rc = jx_print(root, &text);
    if (!rc)
        rc = p4t_resync_decode(text, strlen(text), &check, NULL, 0);
    if (rc)
        goto out;
    *out = text;
    text = NULL;
out:
    free(text);
    cJSON_Delete(root);
    return rc;
}
