/* SPDX-License-Identifier: Apache-2.0 */
/* The ack message (gateway -> register): ok, duplicate or rejected, with the gateway's gw_seq. */
#include "p4t.h"
#include "p4t_json.h"

static const char *const status_names[] = {"ok", "duplicate", "rejected"};
#define N_STATUS (sizeof status_names / sizeof status_names[0])
static const char *const ack_keys[] = {"id", "status", "gw_seq", "seq", "reason", NULL};

static int read_ack(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_ack *out = arg;
    int status = 0, rc;

    rc = jx_keys(j, root, ack_keys);
    if (!rc)
        rc = jx_enum(j, root, "status", status_names, N_STATUS, "must be ok, duplicate or rejected",
                     &status);
    if (rc)
        return rc;
    out->status = (enum p4t_ack_status)status;
    /* A rejected payload may have had no usable id; the gateway echoes what it could read. */
    rc = jx_str(j, root, "id", true, 0, JX_PRINTABLE, out->id, sizeof out->id);
    if (rc)
        return rc;
    if (out->status != P4T_ACK_REJECTED && !p4t_uuid_valid(out->id))
        return jx_fail(j, "id", "must be a canonical lowercase UUID (36 characters)");
    if (out->status == P4T_ACK_REJECTED)
        rc = jx_int(j, root, "gw_seq", true, 0, 0, 0, &out->gw_seq, NULL);
    else
        rc = jx_int(j, root, "gw_seq", true, 1, JX_INT_MAX, 0, &out->gw_seq, NULL);
    if (!rc)
        rc = jx_int(j, root, "seq", false, 0, JX_INT_MAX, 0, &out->seq, NULL);
    if (!rc)
        rc = jx_str(j, root, "reason", false, 0, JX_TEXT, out->reason, sizeof out->reason);
    if (rc)
        return rc;
    if (out->status == P4T_ACK_REJECTED && !out->reason[0])
        return jx_fail(j, "reason", "required when status is rejected");
    if (out->status != P4T_ACK_REJECTED && out->reason[0])
        return jx_fail(j, "reason", "only allowed when status is rejected");
    return P4T_OK;
}

int p4t_ack_decode(const char *buf, size_t len, struct p4t_ack *out, char *reason,
                   size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_ack, out, sizeof *out, reason, reason_len);
}

static int check_ack(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_ack_decode(text, len, scratch, NULL, 0);
}

/* Field order: id, status, gw_seq, seq, then reason for a rejection. The printed text is
 * decoded again so that an ack this library sends is always one it accepts. */
int p4t_ack_encode(const struct p4t_ack *ack, char **out)
{
    cJSON *root;
    int rc;

    *out = NULL;
    if ((unsigned)ack->status >= N_STATUS)
        return P4T_EINVAL;
    root = cJSON_CreateObject();
    rc = root ? jx_add_str(root, "id", ack->id, sizeof ack->id) : P4T_ENOMEM;
    if (!rc)
        rc = jx_add_str(root, "status", status_names[ack->status], 16);
    if (!rc)
        rc = jx_add_int(root, "gw_seq", ack->gw_seq);
    if (!rc)
        rc = jx_add_int(root, "seq", ack->seq);
    if (!rc && ack->status == P4T_ACK_REJECTED)
        rc = jx_add_str(root, "reason", ack->reason, sizeof ack->reason);
    return jx_encode(root, rc, check_ack, sizeof(struct p4t_ack), NULL, out);
}
