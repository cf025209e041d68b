/* SPDX-License-Identifier: Apache-2.0 */
/* The ack message (gateway -> register): ok, duplicate or rejected, with the gateway's gw_seq. */
#include <stdlib.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const status_names[] = {"ok", "duplicate", "rejected"};
static const char *const ack_keys[] = {"id", "status", "gw_seq", "seq", "reason", NULL};

static int decode_obj(struct jx *j, const cJSON *root, struct p4t_ack *out)
{
    char status[16];
    size_t i;
    int rc;

    rc = jx_keys(j, root, ack_keys);
    if (rc)
        return rc;
    rc = jx_str(j, root, "status", true, 1, JX_KIND, status, sizeof status);
    if (rc == P4T_EINVAL && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "status")))
        return jx_fail(j, "status", "must be ok, duplicate or rejected");
    if (rc)
        return rc;
    for (i = 0; i < sizeof status_names / sizeof status_names[0]; i++) {
        if (strcmp(status, status_names[i]) == 0)
            break;
    }
    if (i == sizeof status_names / sizeof status_names[0])
        return jx_fail(j, "status", "must be ok, duplicate or rejected");
    out->status = (enum p4t_ack_status)i;
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
    if (rc)
        return rc;
    rc = jx_int(j, root, "seq", false, 0, JX_INT_MAX, 0, &out->seq, NULL);
    if (rc)
        return rc;
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
    struct jx j = {.reason = reason, .reason_len = reason_len};
    cJSON *root = NULL;
    int rc;

    if (reason && reason_len)
        reason[0] = '\0';
    memset(out, 0, sizeof *out);
    rc = jx_parse(&j, buf, len, P4T_MAX_PAYLOAD, &root);
    if (rc)
        goto out;
    rc = decode_obj(&j, root, out);
out:
    rc = jx_finish(&j, rc);
    if (rc)
        memset(out, 0, sizeof *out);
    cJSON_Delete(root);
    return rc;
}

/* Field order: id, status, gw_seq, seq, then reason for a rejection. The printed text is
 * decoded again so that an ack this library sends is always one it accepts. */
int p4t_ack_encode(const struct p4t_ack *ack, char **out)
{
    cJSON *root = NULL;
    char *text = NULL;
    struct p4t_ack check;
    int rc = P4T_ENOMEM;

    *out = NULL;
    if ((unsigned)ack->status > P4T_ACK_REJECTED) {
        rc = P4T_EINVAL;
        goto out;
    }
    root = cJSON_CreateObject();
    if (!root)
        goto out;
    rc = jx_add_str(root, "id", ack->id, sizeof ack->id);
    if (!rc)
        rc = jx_add_str(root, "status", status_names[ack->status], 16);
    if (!rc)
        rc = jx_add_int(root, "gw_seq", ack->gw_seq);
    if (!rc)
        rc = jx_add_int(root, "seq", ack->seq);
    if (!rc && ack->status == P4T_ACK_REJECTED)
        rc = jx_add_str(root, "reason", ack->reason, sizeof ack->reason);
    if (!rc)
        rc = jx_print(root, &text);
    if (!rc)
        rc = p4t_ack_decode(text, strlen(text), &check, NULL, 0);
    if (rc)
        goto out;
    *out = text;
    text = NULL;
out:
    free(text);
    cJSON_Delete(root);
    return rc;
}
