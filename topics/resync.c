/* SPDX-License-Identifier: Apache-2.0 */
/* The resync request (gateway -> HQ): "republish everything newer than these versions". */
#include "p4t.h"
#include "p4t_json.h"

static const char *const resync_keys[] = {"store", "req_id", "since", "rebuild", "head", NULL};
static const char *const since_keys[] = {"price", "promo", "customer", "loyalty", NULL};

static int read_resync(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_resync *out = arg;
    const cJSON *since;
    int rc;

    rc = jx_keys(j, root, resync_keys);
    if (!rc)
        rc = jx_str(j, root, "store", true, 1, JX_STORE, out->store, sizeof out->store);
    if (!rc)
        rc = jx_str(j, root, "req_id", true, 1, JX_PRINTABLE, out->req_id, sizeof out->req_id);
    /* Revision 1.2: a new replica asks for HQ's stock figures rather than its movements. */
    if (!rc && cJSON_GetObjectItemCaseSensitive(root, "rebuild"))
        rc = jx_bool(j, root, "rebuild", &out->rebuild);
    /* Revision 1.2: a gateway that does not know where gw_seq goes on names its own head. */
    if (!rc)
        rc = jx_int(j, root, "head", false, 0, JX_INT_MAX, 0, &out->head, &out->has_head);
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
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_resync, out, sizeof *out, reason,
                     reason_len);
}

static int check_resync(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_resync_decode(text, len, scratch, NULL, 0);
}

/* Field order: store, req_id, rebuild (when true), head (when set), since {price, promo,
 * customer, loyalty}. */
int p4t_resync_encode(const struct p4t_resync *r, char **out)
{
    cJSON *root = cJSON_CreateObject(), *since = NULL;
    int rc = root ? P4T_OK : P4T_ENOMEM;

    if (!rc)
        rc = jx_add_str(root, "store", r->store, sizeof r->store);
    if (!rc)
        rc = jx_add_str(root, "req_id", r->req_id, sizeof r->req_id);
    if (!rc && r->rebuild)
        rc = cJSON_AddTrueToObject(root, "rebuild") ? P4T_OK : P4T_ENOMEM;
    if (!rc && r->has_head)
        rc = jx_add_int(root, "head", r->head);
    if (!rc) {
        since = cJSON_AddObjectToObject(root, "since");
        rc = since ? jx_add_int(since, "price", r->since_price) : P4T_ENOMEM;
    }
    if (!rc)
        rc = jx_add_int(since, "promo", r->since_promo);
    if (!rc)
        rc = jx_add_int(since, "customer", r->since_customer);
    if (!rc)
        rc = jx_add_int(since, "loyalty", r->since_loyalty);
    return jx_encode(root, rc, check_resync, sizeof(struct p4t_resync), NULL, out);
}
