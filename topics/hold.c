/* SPDX-License-Identifier: Apache-2.0 */
/* Stock holds (register <-> gateway): the hold request, its release and the reply. */
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const req_keys[] = {"req_id", "hold", "lines", "ttl_ms", NULL};
static const char *const release_keys[] = {"req_id", "hold", "release", NULL};
static const char *const reply_keys[] = {"req_id", "hold", "granted", "expires", "reason",
                                         NULL};
static const char *const line_keys[] = {"sku", "qty", NULL};

/* Reads array KEY of hold lines into LINES (room for P4T_MAX_LINES), qty MIN_QTY..MAX_QTY,
 * each sku once (a sku twice would leave the gateway guessing which qty was meant). */
static int read_lines(struct jx *j, const cJSON *root, const char *key, int64_t min_qty,
                      size_t min_n, struct p4t_hold_line *lines, size_t *n_out)
{
    const cJSON *arr, *it;
    size_t i = 0, k;
    int rc;

    *n_out = 0;
    rc = jx_member(j, root, key, true, cJSON_Array, &arr);
    if (rc)
        return rc;
    cJSON_ArrayForEach(it, arr) {
        struct p4t_hold_line *l = &lines[i];
        jx_path(j, key, NULL, (long)i);
        if (i == P4T_MAX_LINES)
            return jx_fail(j, NULL, "more than %d lines", P4T_MAX_LINES);
        if (!cJSON_IsObject(it))
            return jx_fail(j, NULL, "must be an object");
        rc = jx_keys(j, it, line_keys);
        if (!rc)
            rc = jx_str(j, it, "sku", true, 1, JX_PRINTABLE, l->sku, sizeof l->sku);
        if (!rc)
            rc = jx_int(j, it, "qty", true, min_qty, P4T_MAX_QTY, 0, &l->qty, NULL);
        if (rc)
            return rc;
        for (k = 0; k < i; k++) {
            if (strcmp(lines[k].sku, l->sku) == 0)
                return jx_fail(j, "sku", "\"%s\" is listed twice", l->sku);
        }
        i++;
    }
    j->path[0] = '\0';
    if (i < min_n)
        return jx_fail(j, key, "must have at least one line");
    *n_out = i;
    return P4T_OK;
}

static int read_req(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_hold_req *out = arg;
    bool release = cJSON_GetObjectItemCaseSensitive(root, "release") != NULL;
    int rc;

    if (release && cJSON_GetObjectItemCaseSensitive(root, "lines"))
        return jx_fail(j, "lines", "not allowed with release");
    if (release && cJSON_GetObjectItemCaseSensitive(root, "ttl_ms"))
        return jx_fail(j, "ttl_ms", "not allowed with release");
    rc = jx_keys(j, root, release ? release_keys : req_keys);
    if (!rc)
        rc = jx_str(j, root, "req_id", true, 1, JX_PRINTABLE, out->req_id, sizeof out->req_id);
    if (!rc)
        rc = jx_str(j, root, "hold", true, 1, JX_PRINTABLE, out->hold, sizeof out->hold);
    if (rc)
        return rc;
    if (release) {
        rc = jx_bool(j, root, "release", &out->release);
        if (!rc && !out->release)
            rc = jx_fail(j, "release", "must be true (omit it to place a hold)");
        return rc;
    }
    rc = read_lines(j, root, "lines", 1, 1, out->lines, &out->n_lines);
    if (!rc)
        rc = jx_int(j, root, "ttl_ms", true, P4T_HOLD_TTL_MIN_MS, P4T_HOLD_TTL_MAX_MS, 0,
                    &out->ttl_ms, NULL);
    return rc;
}

int p4t_hold_req_decode(const char *buf, size_t len, struct p4t_hold_req *out, char *reason,
                        size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_req, out, sizeof *out, reason, reason_len);
}

static int add_lines(cJSON *root, const char *key, const struct p4t_hold_line *lines, size_t n)
{
    cJSON *arr, *obj;
    size_t i;
    int rc = P4T_OK;

    if (n > P4T_MAX_LINES)
        return P4T_EINVAL;
    arr = cJSON_AddArrayToObject(root, key);
    if (!arr)
        return P4T_ENOMEM;
    for (i = 0; !rc && i < n; i++) {
        obj = jx_append_object(arr);
        if (!obj)
            return P4T_ENOMEM;
        rc = jx_add_str(obj, "sku", lines[i].sku, sizeof lines[i].sku);
        if (!rc)
            rc = jx_add_int(obj, "qty", lines[i].qty);
    }
    return rc;
}

static int check_req(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_hold_req_decode(text, len, scratch, NULL, 0);
}

/* Field order: req_id, hold, then lines, ttl_ms (or release). */
int p4t_hold_req_encode(const struct p4t_hold_req *r, char **out)
{
    cJSON *root = cJSON_CreateObject();
    int rc = root ? P4T_OK : P4T_ENOMEM;

    if (!rc)
        rc = jx_add_str(root, "req_id", r->req_id, sizeof r->req_id);
    if (!rc)
        rc = jx_add_str(root, "hold", r->hold, sizeof r->hold);
    if (!rc && r->release && !cJSON_AddBoolToObject(root, "release", true))
        rc = P4T_ENOMEM;
    if (!rc && !r->release) {
        rc = add_lines(root, "lines", r->lines, r->n_lines);
        if (!rc)
            rc = jx_add_int(root, "ttl_ms", r->ttl_ms);
    }
    return jx_encode(root, rc, check_req, sizeof(struct p4t_hold_req), NULL, out);
}

static int read_reply(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_hold_reply *out = arg;
    int rc;

    rc = jx_keys(j, root, reply_keys);
    if (!rc)
        rc = jx_str(j, root, "req_id", true, 1, JX_PRINTABLE, out->req_id, sizeof out->req_id);
    if (!rc)
        rc = jx_str(j, root, "hold", true, 1, JX_PRINTABLE, out->hold, sizeof out->hold);
    if (!rc)
        rc = read_lines(j, root, "granted", 0, 0, out->granted, &out->n_granted);
    if (!rc)
        rc = jx_ts(j, root, "expires", true, &out->expires_ms, NULL);
    if (!rc)
        rc = jx_str(j, root, "reason", false, 1, JX_TEXT, out->reason, sizeof out->reason);
    return rc;
}

int p4t_hold_reply_decode(const char *buf, size_t len, struct p4t_hold_reply *out,
                          char *reason, size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_reply, out, sizeof *out, reason,
                     reason_len);
}

static int check_reply(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_hold_reply_decode(text, len, scratch, NULL, 0);
}

/* Field order: req_id, hold, granted, expires, reason (when set). */
int p4t_hold_reply_encode(const struct p4t_hold_reply *r, char **out)
{
    cJSON *root = cJSON_CreateObject();
    int rc = root ? P4T_OK : P4T_ENOMEM;

    if (!rc)
        rc = jx_add_str(root, "req_id", r->req_id, sizeof r->req_id);
    if (!rc)
        rc = jx_add_str(root, "hold", r->hold, sizeof r->hold);
    if (!rc)
        rc = add_lines(root, "granted", r->granted, r->n_granted);
    if (!rc)
        rc = jx_add_ts(root, "expires", r->expires_ms);
    if (!rc && r->reason[0])
        rc = jx_add_str(root, "reason", r->reason, sizeof r->reason);
    return jx_encode(root, rc, check_reply, sizeof(struct p4t_hold_reply), NULL, out);
}
