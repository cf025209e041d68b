/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway status message (retained): online, wan_down or offline, with outbox counters. */
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const state_names[] = {"online", "wan_down", "offline"};
#define N_STATES (sizeof state_names / sizeof state_names[0])

static const char *const status_keys[] = {"state", "outbox", "delivered", "hq_through", "epoch",
                                           "backlog", "backlog_age_s", "live", "ts", NULL};

static int read_status(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_status *out = arg;
    bool has_age = false, has_live = false;
    int state = 0, rc;

    rc = jx_keys(j, root, status_keys);
    if (!rc)
        rc = jx_enum(j, root, "state", state_names, N_STATES,
                     "must be online, wan_down or offline", &state);
    if (rc)
        return rc;
    memcpy(out->state, state_names[state], strlen(state_names[state]) + 1);
    rc = jx_int(j, root, "outbox", true, 0, JX_INT_MAX, 0, &out->outbox, NULL);
    if (!rc)
        rc = jx_int(j, root, "delivered", true, 0, JX_INT_MAX, 0, &out->delivered, NULL);
    /* Revision 1.2: HQ's committed watermark as the gateway last heard it. */
    if (!rc)
        rc = jx_int(j, root, "hq_through", false, 0, JX_INT_MAX, 0, &out->hq_through,
                    &out->has_hq_through);
    /* Revision 1.2: the replica's epoch; a new one means a replaced or restored gateway. */
    if (!rc)
        rc = jx_int(j, root, "epoch", false, 1, JX_INT_MAX, 0, &out->epoch, NULL);
    /* Revision 1.4: the outbox's two lanes, all three or none. */
    if (!rc)
        rc = jx_int(j, root, "backlog", false, 0, JX_INT_MAX, 0, &out->backlog,
                    &out->has_lanes);
    if (!rc)
        rc = jx_int(j, root, "backlog_age_s", false, 0, JX_INT_MAX, 0, &out->backlog_age_s,
                    &has_age);
    if (!rc)
        rc = jx_int(j, root, "live", false, 0, JX_INT_MAX, 0, &out->live, &has_live);
    if (!rc && (has_age != out->has_lanes || has_live != out->has_lanes))
        rc = jx_fail(j, out->has_lanes ? (has_age ? "live" : "backlog_age_s") : "backlog",
                     "is required with the other lane fields (backlog, backlog_age_s, live)");
    if (!rc)
        rc = jx_str(j, root, "ts", true, 1, JX_TS, out->ts, sizeof out->ts);
    return rc;
}

int p4t_status_decode(const char *buf, size_t len, struct p4t_status *out, char *reason,
                      size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_status, out, sizeof *out, reason,
                     reason_len);
}

static int check_status(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_status_decode(text, len, scratch, NULL, 0);
}

/* Field order: state, outbox, delivered, hq_through, epoch and the lanes (when set), ts.
 * Validated by decoding the
 * printed text. */
int p4t_status_encode(const struct p4t_status *s, char **out)
{
    cJSON *root = cJSON_CreateObject();
    int rc = root ? P4T_OK : P4T_ENOMEM;

    if (!rc)
        rc = jx_add_str(root, "state", s->state, sizeof s->state);
    if (!rc)
        rc = jx_add_int(root, "outbox", s->outbox);
    if (!rc)
        rc = jx_add_int(root, "delivered", s->delivered);
    if (!rc && s->has_hq_through)
        rc = jx_add_int(root, "hq_through", s->hq_through);
    if (!rc && s->epoch > 0)
        rc = jx_add_int(root, "epoch", s->epoch);
    if (!rc && s->has_lanes)
        rc = jx_add_int(root, "backlog", s->backlog);
    if (!rc && s->has_lanes)
        rc = jx_add_int(root, "backlog_age_s", s->backlog_age_s);
    if (!rc && s->has_lanes)
        rc = jx_add_int(root, "live", s->live);
    if (!rc)
        rc = jx_add_str(root, "ts", s->ts, sizeof s->ts);
    return jx_encode(root, rc, check_status, sizeof(struct p4t_status), NULL, out);
}
