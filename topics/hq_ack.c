/* SPDX-License-Identifier: Apache-2.0 */
/* HQ's committed watermark (down/ack, revision 1.2): every record 1..through is stored at HQ. */
#include <stdlib.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const hq_ack_keys[] = {"store", "through", "ts", NULL};

static int read_hq_ack(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_hq_ack *out = arg;
    int rc;

    memset(out, 0, sizeof *out);
    rc = jx_keys(j, root, hq_ack_keys);
    if (!rc)
        rc = jx_str(j, root, "store", true, 1, JX_STORE, out->store, sizeof out->store);
    if (!rc)
        rc = jx_int(j, root, "through", true, 0, JX_INT_MAX, 0, &out->through, NULL);
    if (!rc)
        rc = jx_str(j, root, "ts", true, 1, JX_TS, out->ts, sizeof out->ts);
    return rc;
}

int p4t_hq_ack_decode(const char *buf, size_t len, struct p4t_hq_ack *out, char *reason,
                      size_t reason_len)
{
    int rc = jx_decode_with(buf, len, P4T_MAX_PAYLOAD, read_hq_ack, out, reason, reason_len);

    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

/* Field order: store, through, ts. Validated by decoding the printed text. */
int p4t_hq_ack_encode(const struct p4t_hq_ack *a, char **out)
{
    struct p4t_hq_ack check;
    cJSON *root = NULL;
    char *text = NULL;
    int rc = P4T_ENOMEM;

    *out = NULL;
    root = cJSON_CreateObject();
    if (!root)
        goto out;
    rc = jx_add_str(root, "store", a->store, sizeof a->store);
    if (!rc)
        rc = jx_add_int(root, "through", a->through);
    if (!rc)
        rc = jx_add_str(root, "ts", a->ts, sizeof a->ts);
    if (!rc)
        rc = jx_print(root, &text);
    if (!rc)
        rc = p4t_hq_ack_decode(text, strlen(text), &check, NULL, 0);
    if (rc)
        goto out;
    *out = text;
    text = NULL;
out:
    free(text);
    cJSON_Delete(root);
    return rc;
}
