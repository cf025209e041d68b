/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway status message (retained): online, wan_down or offline, with outbox counters. */
#include <stdlib.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const status_keys[] = {"state", "outbox", "delivered", "hq_through", "ts",
                                           NULL};

static int decode_obj(struct jx *j, const cJSON *root, struct p4t_status *out)
{
    int rc;

    rc = jx_keys(j, root, status_keys);
    if (rc)
        return rc;
    rc = jx_str(j, root, "state", true, 1, JX_KIND, out->state, sizeof out->state);
    if (rc == P4T_EINVAL && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "state")))
        return jx_fail(j, "state", "must be online, wan_down or offline");
    if (rc)
        return rc;
    if (strcmp(out->state, "online") != 0 && strcmp(out->state, "wan_down") != 0 &&
        strcmp(out->state, "offline") != 0)
        return jx_fail(j, "state", "must be online, wan_down or offline");
    rc = jx_int(j, root, "outbox", true, 0, JX_INT_MAX, 0, &out->outbox, NULL);
    if (rc)
        return rc;
    rc = jx_int(j, root, "delivered", true, 0, JX_INT_MAX, 0, &out->delivered, NULL);
    if (rc)
        return rc;
    /* Revision 1.2: HQ's committed watermark as the gateway last heard it. */
    rc = jx_int(j, root, "hq_through", false, 0, JX_INT_MAX, 0, &out->hq_through,
                &out->has_hq_through);
    if (rc)
        return rc;
    return jx_str(j, root, "ts", true, 1, JX_TS, out->ts, sizeof out->ts);
}

int p4t_status_decode(const char *buf, size_t len, struct p4t_status *out, char *reason,
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

/* Field order: state, outbox, delivered, hq_through (when set), ts. Validated by decoding the printed text. */
int p4t_status_encode(const struct p4t_status *s, char **out)
{
    cJSON *root = NULL;
    char *text = NULL;
    struct p4t_status check;
    int rc = P4T_ENOMEM;

    *out = NULL;
    root = cJSON_CreateObject();
    if (!root)
        goto out;
    rc = jx_add_str(root, "state", s->state, sizeof s->state);
    if (!rc)
        rc = jx_add_int(root, "outbox", s->outbox);
    if (!rc)
        rc = jx_add_int(root, "delivered", s->delivered);
    if (!rc && s->has_hq_through)
        rc = jx_add_int(root, "hq_through", s->hq_through);
    if (!rc)
        rc = jx_add_str(root, "ts", s->ts, sizeof s->ts);
    if (!rc)
        rc = jx_print(root, &text);
    if (!rc)
        rc = p4t_status_decode(text, strlen(text), &check, NULL, 0);
    if (rc)
        goto out;
    *out = text;
    text = NULL;
out:
    free(text);
    cJSON_Delete(root);
    return rc;
}
