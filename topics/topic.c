/* SPDX-License-Identifier: Apache-2.0 */
/* Topic names of the v1 contract: id validation, builders and parsers. */
#include <stdio.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

#define SEG_MAX 8 /* more segments than any v1 topic has */

int p4t_id_valid(const char *s)
{
    if (!s)
        return 0;
    return jx_charset_check(s, jx_strnlen(s, P4T_ID_MAX + 1), JX_ID) == NULL;
}

int p4t_store_id_valid(const char *s)
{
    /* "_all" already fails the id syntax (ids start with [a-z0-9]); the explicit test keeps
     * the rule visible should the syntax ever be widened. */
    return p4t_id_valid(s) && strcmp(s, "_all") != 0;
}

int p4t_uuid_valid(const char *s)
{
    if (!s)
        return 0;
    return jx_charset_check(s, jx_strnlen(s, P4T_UUID_MAX + 1), JX_UUID) == NULL;
}

static int kind_valid(const char *s)
{
    size_t len;

    if (!s)
        return 0;
    len = jx_strnlen(s, P4T_KIND_MAX + 1);
    return len >= 1 && len <= P4T_KIND_MAX && jx_charset_check(s, len, JX_KIND) == NULL;
}

/* What each store-broker kind looks like after "pos/v1/{store}/". */
static const struct {
    enum p4t_local kind;
    bool per_reg;
    const char *suffix;
} local_kinds[] = {
    {P4T_L_SALE, true, "sale"},
    {P4T_L_ACK, true, "ack"},
    {P4T_L_SYNC, true, "sync"},
    {P4T_L_SYNC_REPLY, true, "sync/reply"},
    {P4T_L_CHANGES, false, "changes"},
    {P4T_L_ALERT, false, "alert"},
    {P4T_L_STATUS, false, "gateway/status"},
    {P4T_L_HOLD, true, "hold"},
    {P4T_L_HOLD_REPLY, true, "hold/reply"},
    {P4T_L_LOOKUP, true, "lookup"},
    {P4T_L_CUSTOMER, true, "customer"},
    {P4T_L_CUSTOMER_ACK, true, "customer/ack"},
};
#define N_LOCAL_KINDS (sizeof local_kinds / sizeof local_kinds[0])

static int put(char *buf, size_t len, int n)
{
    if (n < 0)
        return P4T_EINVAL;
    if ((size_t)n >= len) {
        if (len)
            buf[0] = '\0';
        return P4T_ETOOBIG;
    }
    return P4T_OK;
}

int p4t_topic_local(char *buf, size_t len, enum p4t_local kind, const char *store,
                    const char *reg)
{
    size_t i;

    if (!p4t_store_id_valid(store))
        return P4T_EINVAL;
    for (i = 0; i < N_LOCAL_KINDS; i++) {
        if (local_kinds[i].kind != kind)
            continue;
        if (!local_kinds[i].per_reg)
            return put(buf, len, snprintf(buf, len, "pos/v1/%s/%s", store,
                                          local_kinds[i].suffix));
        if (!p4t_id_valid(reg))
            return P4T_EINVAL;
        return put(buf, len, snprintf(buf, len, "pos/v1/%s/reg/%s/%s", store, reg,
                                      local_kinds[i].suffix));
    }
    return P4T_EINVAL;
}

int p4t_topic_local_filter(char *buf, size_t len, enum p4t_local kind, const char *store)
{
    const char *suffix;

    if (kind == P4T_L_SALE)
        suffix = "sale";
    else if (kind == P4T_L_SYNC)
        suffix = "sync";
    else if (kind == P4T_L_HOLD)
        suffix = "hold";
    else if (kind == P4T_L_LOOKUP)
        suffix = "lookup";
    else if (kind == P4T_L_CUSTOMER)
        suffix = "customer";
    else
        return P4T_EINVAL;
    if (!p4t_store_id_valid(store))
        return P4T_EINVAL;
    return put(buf, len, snprintf(buf, len, "pos/v1/%s/reg/+/%s", store, suffix));
}

/* Splits TOPIC at '/' into at most SEG_MAX segments pointing into COPY. Returns the segment
 * count, or -1 when the topic is too long or has too many segments. Empty segments (a leading,
 * trailing or doubled '/') come back as "" and fail the id checks later. */
static int split(const char *topic, char copy[P4T_TOPIC_MAX + 1], char *seg[SEG_MAX])
{
    size_t len;
    int n = 0;
    char *p;

    if (!topic)
        return -1;
    len = jx_strnlen(topic, P4T_TOPIC_MAX + 1);
    if (len > P4T_TOPIC_MAX)
        return -1;
    memcpy(copy, topic, len + 1);
    p = copy;
    seg[n++] = p;
    for (; *p; p++) {
        if (*p != '/')
            continue;
        if (n == SEG_MAX)
            return -1;
        *p = '\0';
        seg[n++] = p + 1;
    }
    return n;
}

int p4t_topic_parse_local(const char *topic, enum p4t_local *kind, char store[P4T_ID_MAX + 1],
                          char reg[P4T_ID_MAX + 1])
{
    char copy[P4T_TOPIC_MAX + 1];
    char *seg[SEG_MAX];
    const char *suffix_first, *suffix_second;
    int n = split(topic, copy, seg);
    size_t i;
    bool per_reg;

    if (n < 4 || strcmp(seg[0], "pos") != 0 || strcmp(seg[1], "v1") != 0)
        return P4T_EINVAL;
    if (!p4t_store_id_valid(seg[2]))
        return P4T_EINVAL;
    per_reg = strcmp(seg[3], "reg") == 0;
    if (per_reg) {
        if (n < 6 || n > 7 || !p4t_id_valid(seg[4]))
            return P4T_EINVAL;
        suffix_first = seg[5];
        suffix_second = n == 7 ? seg[6] : NULL;
    } else {
        if (n > 5)
            return P4T_EINVAL;
        suffix_first = seg[3];
        suffix_second = n == 5 ? seg[4] : NULL;
    }
    for (i = 0; i < N_LOCAL_KINDS; i++) {
        char want[32];
        if (local_kinds[i].per_reg != per_reg)
            continue;
        if (suffix_second)
            snprintf(want, sizeof want, "%s/%s", suffix_first, suffix_second);
        else
            snprintf(want, sizeof want, "%s", suffix_first);
        if (strcmp(want, local_kinds[i].suffix) != 0)
            continue;
        *kind = local_kinds[i].kind;
        snprintf(store, P4T_ID_MAX + 1, "%s", seg[2]);
        snprintf(reg, P4T_ID_MAX + 1, "%s", per_reg ? seg[4] : "");
        return P4T_OK;
    }
    return P4T_EINVAL;
}

int p4t_topic_up(char *buf, size_t len, const char *tenant, const char *store, const char *kind)
{
    if (!p4t_id_valid(tenant) || !p4t_store_id_valid(store) || !kind_valid(kind))
        return P4T_EINVAL;
    return put(buf, len, snprintf(buf, len, "p4/v1/%s/%s/up/%s", tenant, store, kind));
}

int p4t_topic_down(char *buf, size_t len, const char *tenant, const char *store,
                   const char *kind)
{
    if (!p4t_id_valid(tenant))
        return P4T_EINVAL;
    if (!store || (strcmp(store, "_all") != 0 && !p4t_store_id_valid(store)))
        return P4T_EINVAL;
    if (!kind || (strcmp(kind, "+") != 0 && !kind_valid(kind)))
        return P4T_EINVAL;
    return put(buf, len, snprintf(buf, len, "p4/v1/%s/%s/down/%s", tenant, store, kind));
}

int p4t_topic_parse_cloud(const char *topic, char tenant[P4T_ID_MAX + 1],
                          char store[P4T_ID_MAX + 1], bool *dir_up, char kind[P4T_KIND_MAX + 1])
{
    char copy[P4T_TOPIC_MAX + 1];
    char *seg[SEG_MAX];
    int n = split(topic, copy, seg);
    bool up;

    if (n != 6 || strcmp(seg[0], "p4") != 0 || strcmp(seg[1], "v1") != 0)
        return P4T_EINVAL;
    if (!p4t_id_valid(seg[2]) || !kind_valid(seg[5]))
        return P4T_EINVAL;
    if (strcmp(seg[4], "up") == 0)
        up = true;
    else if (strcmp(seg[4], "down") == 0)
        up = false;
    else
        return P4T_EINVAL;
    if (!p4t_store_id_valid(seg[3]) && (up || strcmp(seg[3], "_all") != 0))
        return P4T_EINVAL;
    snprintf(tenant, P4T_ID_MAX + 1, "%s", seg[2]);
    snprintf(store, P4T_ID_MAX + 1, "%s", seg[3]);
    snprintf(kind, P4T_KIND_MAX + 1, "%s", seg[5]);
    *dir_up = up;
    return P4T_OK;
}
