/* SPDX-License-Identifier: Apache-2.0 */
/* Uplink batches {"store":..,"items":[record,...]}: built by the gateway by splicing stored
 * record texts, read by HQ one item at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

#define BATCH_MIN_LEN 256
#define BATCH_TAIL "]}"
#define BATCH_TAIL_LEN 2

/* Makes room for NEED more bytes plus the closing "]}" and a NUL. Grows geometrically but
 * never asks for much more than max_len, except for a single oversized record (which the
 * contract lets through alone). */
static int reserve(struct p4t_batch_builder *b, size_t need)
{
    size_t want = b->len + need + BATCH_TAIL_LEN + 1, cap;
    char *p;

    if (want <= b->cap)
        return P4T_OK;
    cap = b->cap ? b->cap : 1024;
    while (cap < want)
        cap *= 2;
    if (cap > b->max_len + BATCH_TAIL_LEN + 1 && want <= b->max_len + BATCH_TAIL_LEN + 1)
        cap = b->max_len + BATCH_TAIL_LEN + 1;
    p = realloc(b->buf, cap);
    if (!p)
        return P4T_ENOMEM;
    b->buf = p;
    b->cap = cap;
    return P4T_OK;
}

int p4t_batch_init(struct p4t_batch_builder *b, const char *store, size_t max_len)
{
    int n, rc;

    memset(b, 0, sizeof *b);
    if (!p4t_store_id_valid(store) || max_len < BATCH_MIN_LEN)
        return P4T_EINVAL;
    b->max_len = max_len;
    rc = reserve(b, 64);
    if (rc)
        return rc;
    n = snprintf(b->buf, b->cap, "{\"store\":\"%s\",\"items\":[", store);
    b->len = (size_t)n;
    return P4T_OK;
}

int p4t_batch_add(struct p4t_batch_builder *b, const char *record, size_t record_len)
{
    size_t sep = b->n_items ? 1 : 0;
    int rc;

    if (!b->buf || !record || record_len == 0)
        return P4T_EINVAL;
    /* The closing "]}" counts against max_len: the published batch must fit. */
    if (b->n_items && b->len + sep + record_len + BATCH_TAIL_LEN > b->max_len)
        return P4T_ETOOBIG;
    rc = reserve(b, sep + record_len);
    if (rc)
        return rc;
    if (sep)
        b->buf[b->len++] = ',';
    memcpy(b->buf + b->len, record, record_len);
    b->len += record_len;
    b->buf[b->len] = '\0';
    b->n_items++;
    return P4T_OK;
}

int p4t_batch_take(struct p4t_batch_builder *b, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!b->buf)
        return P4T_EINVAL;
    /* reserve() always keeps room for the tail and the NUL. */
    memcpy(b->buf + b->len, BATCH_TAIL, BATCH_TAIL_LEN + 1);
    b->len += BATCH_TAIL_LEN;
    *out = b->buf;
    if (out_len)
        *out_len = b->len;
    b->buf = NULL;
    b->len = b->cap = 0;
    b->n_items = 0;
    return P4T_OK;
}

void p4t_batch_cleanup(struct p4t_batch_builder *b)
{
    if (!b)
        return;
    free(b->buf);
    memset(b, 0, sizeof *b);
}

static const char *const batch_keys[] = {"store", "items", NULL};

static int read_envelope(struct jx *j, const cJSON *root, struct p4t_batch_reader *r)
{
    const cJSON *items;
    int n;
    int rc;

    rc = jx_keys(j, root, batch_keys);
    if (!rc)
        rc = jx_str(j, root, "store", true, 1, JX_STORE, r->store, sizeof r->store);
    if (!rc)
        rc = jx_member(j, root, "items", true, cJSON_Array, &items);
    if (rc)
        return rc;
    n = cJSON_GetArraySize(items);
    if (n < 1)
        return jx_fail(j, "items", "must have at least one item");
    r->n_items = (size_t)n;
    r->next = items->child;
    return P4T_OK;
}

int p4t_batch_open(struct p4t_batch_reader *r, const char *buf, size_t len, char *reason,
                   size_t reason_len)
{
    struct jx j = {.reason = reason, .reason_len = reason_len};
    cJSON *root = NULL;
    int rc;

    memset(r, 0, sizeof *r);
    if (reason && reason_len)
        reason[0] = '\0';
    rc = jx_parse(&j, buf, len, P4T_MAX_BATCH_PAYLOAD, &root);
    if (!rc)
        rc = read_envelope(&j, root, r);
    /* The integer-text check covers every item at once: a batch with a "2.0" anywhere was not
     * made by a gateway following the contract, so all of it is refused. */
    rc = jx_finish(&j, rc);
    if (rc) {
        cJSON_Delete(root);
        memset(r, 0, sizeof *r);
        return rc;
    }
    r->root = root;
    return P4T_OK;
}

/* A usable gw_seq of an item that failed, so HQ can still account for its number. */
static int64_t peek_gw_seq(const cJSON *item)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(item, "gw_seq");

    if (!cJSON_IsNumber(g) || g->valuedouble < 1 || g->valuedouble > (double)JX_INT_MAX ||
        (double)(int64_t)g->valuedouble != g->valuedouble)
        return 0;
    return (int64_t)g->valuedouble;
}

int p4t_batch_next(struct p4t_batch_reader *r, struct p4t_sale *out, int64_t *gw_seq,
                   char flags[][P4T_KIND_MAX + 1], size_t *n_flags, char **item_text,
                   char *reason, size_t reason_len)
{
    char why[P4T_REASON_MAX] = "";
    struct jx j = {.reason = why, .reason_len = sizeof why};
    cJSON *item = r->next;
    size_t index;
    int rc;

    *gw_seq = 0;
    if (item_text)
        *item_text = NULL;
    if (reason && reason_len)
        reason[0] = '\0';
    if (!item)
        return P4T_ENOENT;
    index = r->n_read++;
    r->index = index;
    r->next = item->next;
    rc = sale_record_read(&j, item, out, gw_seq, flags, n_flags);
    if (!rc && strcmp(out->store, r->store) != 0)
        rc = jx_fail(&j, "store", "\"%s\" does not match the batch's store \"%s\"", out->store,
                     r->store);
    if (rc) {
        *gw_seq = cJSON_IsObject(item) ? peek_gw_seq(item) : 0;
        if (reason && reason_len)
            snprintf(reason, reason_len, "items[%zu].%s", index, why);
    }
    if (item_text && jx_print_value(item, item_text) != P4T_OK)
        *item_text = NULL;
    return rc ? P4T_EINVAL : P4T_OK;
}

void p4t_batch_close(struct p4t_batch_reader *r)
{
    if (!r)
        return;
    cJSON_Delete(r->root);
    memset(r, 0, sizeof *r);
}
