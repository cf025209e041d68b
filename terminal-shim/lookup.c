/* SPDX-License-Identifier: Apache-2.0 */
/* Lookups answered from the register's cache and journal, never the network. */
#include "term.h"

#include <pthread.h>

#include "p4common.h"

/* What one lookup reads. Every public lookup fills one of these and calls lookup(), so the
 * locking that makes them safe from any thread is written once. */
enum lookup_kind {
    LOOKUP_PRICE,       /* KEY at AT_MS -> *I64 price_minor, *I64B ver */
    LOOKUP_PRICE_STATE, /* KEY -> OUT (struct p4t_price_state) */
    LOOKUP_PRICE_LIST,  /* at AT_MS -> OUT (struct p4term_price_item[MAX]), *N_OUT */
    LOOKUP_STOCK,       /* KEY -> *I64 on_hand */
    LOOKUP_CUSTOMER,    /* KEY -> OUT (struct p4t_customer) */
    LOOKUP_LOYALTY,     /* KEY -> *I64 balance */
    LOOKUP_PROMO,       /* KEY -> OUT (struct p4t_promo) */
    LOOKUP_CURSOR,      /* -> *I64 cursor */
    LOOKUP_PENDING,     /* -> OUT (struct p4term_sale_info[MAX]), *N_OUT, *I64 total (or NULL) */
    LOOKUP_SALE,        /* KEY -> OUT (struct p4term_sale_info) */
    LOOKUP_HELD,        /* -> *I64 acked by the gateway, not yet committed at HQ */
};

struct lookup {
    enum lookup_kind kind;
    const char *key;
    int64_t at_ms;
    size_t max;
    void *out;
    int64_t *i64;
    int64_t *i64b;
    size_t *n_out;
};

/* Runs Q against the cache or the journal under db_mu: the worker writes the same connection
 * (acks, changes) while the caller's thread reads. Returns what the cache or journal call
 * returns (P4TERM_ENOTFOUND for an unknown key). Results go where Q points. */
static int lookup(struct p4term *t, const struct lookup *q)
{
    int rc = P4TERM_EINVAL;

    pthread_mutex_lock(&t->db_mu);
    switch (q->kind) {
    case LOOKUP_PRICE:
        rc = cache_price(t->c, q->key, q->at_ms, q->i64, q->i64b);
        break;
    case LOOKUP_PRICE_STATE:
        rc = cache_price_state(t->c, q->key, q->out);
        break;
    case LOOKUP_PRICE_LIST:
        rc = cache_price_list(t->c, q->at_ms, q->out, q->max, q->n_out);
        break;
    case LOOKUP_STOCK:
        rc = cache_stock(t->c, q->key, q->i64);
        break;
    case LOOKUP_CUSTOMER:
        rc = cache_customer(t->c, q->key, q->out);
        break;
    case LOOKUP_LOYALTY:
        rc = cache_loyalty(t->c, q->key, q->i64);
        break;
    case LOOKUP_PROMO:
        rc = cache_promo(t->c, q->key, q->out);
        break;
    case LOOKUP_CURSOR:
        rc = cache_cursor(t->c, q->i64);
        break;
    case LOOKUP_PENDING:
        rc = journal_list_pending(t->j, q->out, q->max, q->n_out);
        if (rc == 0 && q->i64)
            rc = journal_count_pending(t->j, q->i64);
        break;
    case LOOKUP_SALE:
        rc = journal_info(t->j, q->key, q->out);
        break;
    case LOOKUP_HELD:
        rc = journal_count_held(t->j, q->i64);
        break;
    }
    pthread_mutex_unlock(&t->db_mu);
    return rc;
}

int p4term_price(struct p4term *t, const char *sku, int64_t *price_minor, int64_t *ver)
{
    return p4term_price_at(t, sku, p4_now_ms(), price_minor, ver);
}

int p4term_price_at(struct p4term *t, const char *sku, int64_t at_ms, int64_t *price_minor,
                    int64_t *ver)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_PRICE, .key = sku, .at_ms = at_ms,
                                      .i64 = price_minor, .i64b = ver});
}

int p4term_price_state(struct p4term *t, const char *sku, struct p4t_price_state *out)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_PRICE_STATE, .key = sku, .out = out});
}

int p4term_price_list(struct p4term *t, struct p4term_price_item *items, size_t max,
                      size_t *n_out)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_PRICE_LIST, .at_ms = p4_now_ms(),
                                      .out = items, .max = max, .n_out = n_out});
}

int p4term_stock(struct p4term *t, const char *sku, int64_t *on_hand)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_STOCK, .key = sku, .i64 = on_hand});
}

int p4term_customer(struct p4term *t, const char *id, struct p4t_customer *out)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_CUSTOMER, .key = id, .out = out});
}

int p4term_loyalty_balance(struct p4term *t, const char *customer, int64_t *balance)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_LOYALTY, .key = customer, .i64 = balance});
}

int p4term_promo(struct p4term *t, const char *id, struct p4t_promo *out)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_PROMO, .key = id, .out = out});
}

int p4term_cursor(struct p4term *t, int64_t *cursor, bool *synced)
{
    int rc = lookup(t, &(struct lookup){.kind = LOOKUP_CURSOR, .i64 = cursor});

    if (synced) {
        pthread_mutex_lock(&t->mu);
        *synced = t->synced;
        pthread_mutex_unlock(&t->mu);
    }
    return rc;
}

int p4term_pending(struct p4term *t, struct p4term_sale_info *items, size_t max, size_t *n_out,
                   int64_t *total)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_PENDING, .out = items, .max = max,
                                      .n_out = n_out, .i64 = total});
}

int p4term_held(struct p4term *t, int64_t *n)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_HELD, .i64 = n});
}

int p4term_sale_info(struct p4term *t, const char *id, struct p4term_sale_info *out)
{
    return lookup(t, &(struct lookup){.kind = LOOKUP_SALE, .key = id, .out = out});
}
