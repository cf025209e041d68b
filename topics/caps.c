/* SPDX-License-Identifier: Apache-2.0 */
/* HQ's capabilities (down/caps, revision 1.3): what a gateway may send HQ beyond plain JSON. */
#include "p4t.h"
#include "p4t_json.h"

/* Unlike every other v1 message, down/caps is read leniently: a field this revision does not
 * define is skipped (README 6.10), so a later revision can announce more to 1.3 gateways. */
static int read_caps(struct jx *j, const cJSON *root, void *arg)
{
    struct p4t_caps *out = arg;
    const cJSON *arr, *it;
    size_t i = 0;
    int rc;

    rc = jx_member(j, root, "zstd", true, cJSON_Array, &arr);
    if (rc)
        return rc;
    cJSON_ArrayForEach(it, arr) {
        jx_path(j, "zstd", NULL, (long)i);
        if (i == P4T_CAPS_MAX_DICTS)
            return jx_fail(j, NULL, "more than %d dictionaries", P4T_CAPS_MAX_DICTS);
        if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 4294967295.0 ||
            it->valuedouble != (double)(uint32_t)it->valuedouble)
            return jx_fail(j, NULL, "must be a dictionary id 1..4294967295");
        out->zstd[i++] = (uint32_t)it->valuedouble;
    }
    j->path[0] = '\0';
    out->n_zstd = i;
    return jx_str(j, root, "ts", true, 1, JX_TS, out->ts, sizeof out->ts);
}

int p4t_caps_decode(const char *buf, size_t len, struct p4t_caps *out, char *reason,
                    size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_caps, out, sizeof *out, reason,
                     reason_len);
}

static int check_caps(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_caps_decode(text, len, scratch, NULL, 0);
}

/* Field order: zstd, ts. */
int p4t_caps_encode(const struct p4t_caps *c, char **out)
{
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    int rc = root ? P4T_OK : P4T_ENOMEM;

    if (!rc && c->n_zstd > P4T_CAPS_MAX_DICTS)
        rc = P4T_EINVAL;
    if (!rc) {
        arr = cJSON_AddArrayToObject(root, "zstd");
        rc = arr ? P4T_OK : P4T_ENOMEM;
    }
    for (size_t i = 0; !rc && i < c->n_zstd; i++) {
        cJSON *n = cJSON_CreateNumber((double)c->zstd[i]);

        if (!n || !cJSON_AddItemToArray(arr, n)) {
            cJSON_Delete(n);
            rc = P4T_ENOMEM;
        }
    }
    if (!rc)
        rc = jx_add_str(root, "ts", c->ts, sizeof c->ts);
    return jx_encode(root, rc, check_caps, sizeof(struct p4t_caps), NULL, out);
}

bool p4t_caps_has_zstd(const struct p4t_caps *c, uint32_t dict_id)
{
    for (size_t i = 0; i < c->n_zstd; i++) {
        if (c->zstd[i] == dict_id)
            return true;
    }
    return false;
}
