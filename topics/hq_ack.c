/* SPDX-License-Identifier: Apache-2.0 */
/* HQ's committed watermark (down/ack, revision 1.2): every record 1..through is stored at HQ. */
#include "p4t.h"
#include "p4t_json.h"

static const char *const hq_ack_keys[] = {"store", "through", "max_gw_seq", "req_id", "ts", NULL};

static int read_hq_ack(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_hq_ack *out = arg;
    int rc;

    rc = jx_keys(j, root, hq_ack_keys);
    if (!rc)
        rc = jx_str(j, root, "store", true, 1, JX_STORE, out->store, sizeof out->store);
    if (!rc)
        rc = jx_int(j, root, "through", true, 0, JX_INT_MAX, 0, &out->through, NULL);
    /* Where a replaced gateway continues numbering, and which resync this ack follows. */
    if (!rc)
        rc = jx_int(j, root, "max_gw_seq", false, 0, JX_INT_MAX, 0, &out->max_gw_seq,
                    &out->has_max_gw_seq);
    if (!rc)
        rc = jx_str(j, root, "req_id", false, 1, JX_PRINTABLE, out->req_id, sizeof out->req_id);
    if (!rc && out->has_max_gw_seq && out->max_gw_seq < out->through) {
        rc = jx_fail(j, "max_gw_seq", "is %lld, below through", (long long)out->max_gw_seq);
    }
    if (!rc)
        rc = jx_str(j, root, "ts", true, 1, JX_TS, out->ts, sizeof out->ts);
    return rc;
}

int p4t_hq_ack_decode(const char *buf, size_t len, struct p4t_hq_ack *out, char *reason,
                      size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_hq_ack, out, sizeof *out, reason,
                     reason_len);
}

static int check_hq_ack(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_hq_ack_decode(text, len, scratch, NULL, 0);
}

/* Field order: store, through, max_gw_seq and req_id (when set), ts. Validated by decoding
 * the printed text. */
int p4t_hq_ack_encode(const struct p4t_hq_ack *a, char **out)
{
    cJSON *root = cJSON_CreateObject();
    int rc = root ? P4T_OK : P4T_ENOMEM;

    if (!rc)
        rc = jx_add_str(root, "store", a->store, sizeof a->store);
    if (!rc)
        rc = jx_add_int(root, "through", a->through);
    if (!rc && a->has_max_gw_seq)
        rc = jx_add_int(root, "max_gw_seq", a->max_gw_seq);
    if (!rc && a->req_id[0])
        rc = jx_add_str(root, "req_id", a->req_id, sizeof a->req_id);
    if (!rc)
        rc = jx_add_str(root, "ts", a->ts, sizeof a->ts);
    return jx_encode(root, rc, check_hq_ack, sizeof(struct p4t_hq_ack), NULL, out);
}
