/* SPDX-License-Identifier: Apache-2.0 */
/* Uplink batches {"store":..,"items":[record,...]} built by splicing stored record texts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4t.h"

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
