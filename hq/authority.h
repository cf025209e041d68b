/* SPDX-License-Identifier: Apache-2.0 */
/* HQ's changes to master data (prices, promos, customers, stock, loyalty) and the downlink
 * messages they cause, written in the caller's transaction. Every function validates its input
 * first and names the bad field in ERR (P4HQ_EINVAL), and changes nothing then. */
#ifndef P4HQ_AUTHORITY_H
#define P4HQ_AUTHORITY_H

#include "p4hq.h"

/* 1 if S is 1..MAX printable ASCII characters without spaces (skus, ids, customers). */
bool authority_printable(const char *s, size_t max);
/* The next version of KIND (price, promo, customer, loyalty) for TENANT, under the counter
 * row's lock until the transaction ends: versions are handed out in commit order. */
int authority_next_ver(struct db *db, const char *tenant, const char *kind, int64_t *ver);
/* Adds a downlink message to the outbox (STORE: a store id or "_all") and wakes the
 * publishers at COMMIT. */
int authority_enqueue(struct db *db, const char *tenant, const char *store, const char *kind,
                      const char *payload);
/* Wraps N item texts into messages of at most P4T_DOWN_MAX_ITEMS and enqueues them. */
int authority_enqueue_items(struct db *db, const char *tenant, const char *store,
                            const char *kind, char *const *items, size_t n);

/* A base price (no window) or a price window for every store or for STORE; *VER is its new
 * version. */
int authority_price(struct db *db, const char *tenant, const struct p4t_price_item *item,
                    const char *store, int64_t *ver, char *err, size_t err_len);
/* A promo's new full state (active false retires it); *VER is its new version. */
int authority_promo(struct db *db, const char *tenant, const struct p4t_promo *promo,
                    int64_t *ver, char *err, size_t err_len);
/* The latest state of promo ID. P4HQ_EINVAL when HQ has none. */
int authority_promo_get(struct db *db, const char *tenant, const char *id,
                        struct p4t_promo *out);
/* Creates or updates a customer. With KEEP_EXISTING (a customer signed up at a register) an
 * existing customer is left as it is: *VER is its version and *KEPT tells whether the given
 * details differed from it. */
int authority_customer(struct db *db, const char *tenant, const struct p4t_customer *c,
                       const char *origin_store, bool keep_existing, int64_t *ver, bool *kept,
                       char *err, size_t err_len);
/* Queues HQ's current item of customer ID to STORE alone. */
int authority_customer_resend(struct db *db, const char *tenant, const char *id,
                              const char *store);
/* A stock receipt, transfer, adjustment or count for STORE; *ON_HAND is HQ's figure after it.
 * P4HQ_EEXIST when the movement id was already recorded. */
int authority_stock(struct db *db, const char *tenant, const char *store,
                    const struct p4t_stock_item *item, int64_t *on_hand, char *err,
                    size_t err_len);
/* A loyalty ledger entry recorded by HQ (ENTRY is its id). P4HQ_EEXIST for a known entry. */
int authority_loyalty_entry(struct db *db, const char *tenant, const char *customer,
                            const char *entry, int64_t points, const char *reason, char *err,
                            size_t err_len);
/* Issues the new authoritative balance of each of CUSTOMERS and pushes it to the stores where
 * the customer shops, one message per store for all of them. *OVERDRAWN counts customers
 * whose ledger sums below zero (sent as 0). */
int authority_loyalty_push(struct db *db, const char *tenant, char *const *customers, size_t n,
                           int64_t *overdrawn);

#endif
