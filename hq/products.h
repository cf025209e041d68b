/* SPDX-License-Identifier: Apache-2.0 */
/* The product master as the ingest thread sees it: an in-memory copy of the tenant's tax
 * rates and unit costs, reloaded when the products table changes. */
#ifndef P4HQ_PRODUCTS_H
#define P4HQ_PRODUCTS_H

#include "p4hq.h"

struct product_slot;

struct products {
    struct product_slot *slots; /* open addressing, cap a power of two */
    size_t cap, n;
    char version[64];           /* count and newest updated_at when loaded */
};

/* Prepares the two statements on DB (once per connection). */
int products_prepare(struct db *db);
/* Reloads P when the table changed since the last load (one small query otherwise). Inside the
 * caller's transaction. Returns 0 or P4HQ_EDB / P4HQ_ENOMEM. */
int products_refresh(struct products *p, struct db *db, const char *tenant);
/* The terms of SKU: its row, or DEFAULT_TAX_BP and no cost when the master lacks it. */
void products_terms(const struct products *p, const char *sku, int default_tax_bp,
                    struct product_terms *out);
void products_cleanup(struct products *p);

/* Imports a CSV product master (header "sku,name,tax_rate,unit_cost") in one transaction.
 * Errors name FILE:LINE: field. Returns 0, P4HQ_EINVAL (bad file, ERR set) or P4HQ_EDB. */
int products_import(struct db *db, const char *tenant, const char *path, size_t *n_rows,
                    char *err, size_t err_len);

#endif
