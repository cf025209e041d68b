/* SPDX-License-Identifier: Apache-2.0 */
/* Sales posted in chunks: decoded sales with their journal postings, gathered into column
 * arrays and written by one statement (sales, lines, tenders, stock, journal, loyalty). */
#ifndef P4HQ_POST_H
#define P4HQ_POST_H

#include <stdbool.h>
#include <stdint.h>

#include "p4hq.h"

#define POST_CHUNK_MAX 256 /* sales per statement */

/* What the caller needs of a sale after the statement: where it goes when it inserted nothing
 * (the content check of a resent sale, the exception it is held as), and whose points moved. */
struct post_item {
    char store[P4T_ID_MAX + 1];
    int64_t gw_seq;
    char sale_id[P4T_UUID_MAX + 1];
    char customer[P4T_CUSTOMER_MAX + 1]; /* "" unless the sale moved the customer's points */
    char *canon;                         /* the sale re-encoded (malloc'd) */
    char *record;                        /* the record as received (malloc'd) */
    bool inserted;                       /* set by post_run */
};

struct post_chunk; /* opaque: the column arrays */

struct post {
    struct post_chunk *c;
    struct post_item items[POST_CHUNK_MAX];
    size_t n;
};

int post_init(struct post *p);
void post_free(struct post *p);
/* Prepares the chunk statement on a new connection. */
int post_prepare(struct db *db);
/* True when the chunk is full, or holds STORE's GW_SEQ or SALE_ID already: run it first (one
 * statement must not insert a key twice). */
bool post_must_run(const struct post *p, const char *store, int64_t gw_seq, const char *sale_id);
/* Adds SALE (STORE, GW_SEQ, its FLAGS and POSTINGS). Takes CANON and RECORD (malloc'd). */
int post_add(struct post *p, const char *store, int64_t gw_seq, const struct p4t_sale *sale,
             char flags[][P4T_KIND_MAX + 1], size_t n_flags, const struct posting *postings,
             size_t n_postings, char *canon, char *record);
/* Runs the chunk's statement: each item's `inserted` tells whether its sale was new. The items
 * stay until post_clear. */
int post_run(struct post *p, struct db *db, const char *tenant);
void post_clear(struct post *p);

#endif
