/* SPDX-License-Identifier: Apache-2.0 */
/* Internal interfaces of libp4term: the journal, the cache and the store-broker link. */
#ifndef P4TERM_SHIM_H
#define P4TERM_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "p4t.h"
#include "p4term.h"

/* ---- journal.c: the register's SQLite file (sales journal, seq counter, rejects) ----
 * Not thread-safe: the caller serialises all use of one journal (and of the cache that shares
 * its connection). */
struct journal;

/* One pending sale as the sender needs it. payload is malloc'd; journal_row_cleanup frees it. */
struct journal_row {
    int64_t lid; /* local insertion order */
    char id[P4T_UUID_MAX + 1];
    int64_t seq; /* 0 = not yet numbered */
    char *payload;
    size_t payload_len;
};
void journal_row_cleanup(struct journal_row *r);

/* Opens or creates PATH (WAL, synchronous FULL, migrations). *FRESH is set when the file held
 * no journal before (FRESH may be NULL). Returns 0 or P4TERM_EIO (logged), also when FULL does
 * not take. */
int journal_open(const char *path, struct journal **out, bool *fresh);
void journal_close(struct journal *j);
/* The connection, for the cache (it lives as long as the journal). */
sqlite3 *journal_db(struct journal *j);

/* Starts a write transaction. The connection is put back to synchronous=FULL first if it is
 * not (the cache relaxes it during a snapshot); when that fails nothing is begun and
 * P4TERM_EIO is returned (logged): a sale is never committed without its fsync. */
int journal_begin(struct journal *j);
int journal_commit(struct journal *j);
void journal_rollback(struct journal *j);

/* *NEXT_SEQ: the seq the next sale gets; *KNOWN: whether the seq base is known (a journal that
 * was created fresh learns it from the gateway's last_sale_seq). */
int journal_seq_state(struct journal *j, int64_t *next_seq, bool *known);
/* Sets the next seq and marks the base known (inside the caller's transaction, or alone). */
int journal_set_next_seq(struct journal *j, int64_t next_seq);

/* Appends one sale in its own committed, fsync'd transaction. SEQ 0 = unnumbered; otherwise
 * the next seq becomes SEQ + 1 in the same transaction. */
int journal_append(struct journal *j, const char *id, int64_t seq, const char *payload,
                   int64_t total_minor, int64_t created_ms);
/* journal_append, also noting the sale's CUSTOMER (NULL: none) and the points it REDEEMs. */
int journal_append_sale(struct journal *j, const char *id, int64_t seq, const char *payload,
                        int64_t total_minor, int64_t created_ms, const char *customer,
                        int64_t redeem);
/* The points redeemed by CUSTOMER's pending sales: spent at this register but not yet in the
 * balance the gateway publishes. */
int journal_pending_redeem(struct journal *j, const char *customer, int64_t *points);
/* Up to MAX pending sales with lid > AFTER_LID, in lid order; NUMBERED_ONLY skips unnumbered
 * ones. The caller cleans up each row. */
int journal_pending_after(struct journal *j, int64_t after_lid, bool numbered_only,
                          struct journal_row *rows, size_t max, size_t *n_out);
/* Unnumbered sales, oldest first (for numbering once the base is known). */
int journal_unnumbered(struct journal *j, struct journal_row *rows, size_t max, size_t *n_out);
/* Gives sale LID its SEQ and its re-encoded PAYLOAD (inside the caller's transaction). */
int journal_number(struct journal *j, int64_t lid, int64_t seq, const char *payload);

/* Moves sale ID from pending to STATE (acked or rejected). *CHANGED is false when the sale is
 * unknown or no longer pending (a repeated ack); INFO (may be NULL) receives the row after the
 * change. Runs inside the caller's transaction when one is open. */
int journal_mark(struct journal *j, const char *id, enum p4term_sale_state state,
                 int64_t gw_seq, bool duplicate, const char *reason, int64_t now_ms,
                 bool *changed, struct p4term_sale_info *info);

int journal_count_pending(struct journal *j, int64_t *n);
int journal_list_pending(struct journal *j, struct p4term_sale_info *items, size_t max,
                         size_t *n_out);
int journal_info(struct journal *j, const char *id, struct p4term_sale_info *out);

/* Deletes acked sales acknowledged before BEFORE_MS (pending and rejected ones are kept; the
 * seq counter lives in meta, so pruning never reuses a seq). *N_OUT (may be NULL): rows. */
int journal_prune(struct journal *j, int64_t before_ms, int64_t *n_out);

/* Customers signed up at this register (contract 1.2): appended inside the caller's
 * transaction, read back oldest first while unacknowledged (ROWS' seq is the item's ver, id is
 * unused), and marked when the gateway's ack names (ID, VER); *CHANGED says whether a pending
 * row was marked. Return 0 or P4TERM_EIO/ENOMEM. */
int journal_signup_add(struct journal *j, const char *id, int64_t ver, const char *payload,
                       int64_t created_ms);
int journal_signup_pending(struct journal *j, struct journal_row *rows, size_t max,
                           size_t *n_out);
int journal_signup_ack(struct journal *j, const char *id, int64_t ver, int64_t now_ms,
                       bool *changed);

/* Small integer settings kept in the journal's meta table (cursor, seq counter, flags such as
 * "gw_holds"); a missing key reads as 0. */
int journal_meta_get(struct journal *j, const char *k, int64_t *v);
int journal_meta_set(struct journal *j, const char *k, int64_t v);

/* Keeps a message that could not be used (undecodable, wrong store, ...) for inspection. */
int journal_keep_reject(struct journal *j, const char *topic, const char *payload, size_t len,
                        const char *reason, int64_t now_ms);

/* ---- cache.c: the register's copy of the store's change log entities, and its cursor ----
 * Typed rows per entity (journal's connection): stock counts, price states (base + windows,
 * resolved at lookup time with p4t_price_effective), promos, customers, loyalty balances. */
struct cache;

enum cache_result {
    CACHE_APPLIED = 0, /* items were applied (possibly none new) and the cursor moved */
    CACHE_STALE,       /* everything in the message was already applied */
    CACHE_GAP,         /* the message starts after cursor + 1: a sync is needed */
};

/* Most active promos read for one sku when pricing a line. At the maximum the ones with the
 * smallest ids are used and a warning is logged (a store never runs that many on one sku). */
#define CACHE_PROMOS_PER_SKU_MAX 64

int cache_open(sqlite3 *db, struct cache **out);
void cache_close(struct cache *c);
int cache_cursor(struct cache *c, int64_t *cursor);
/* Applies a change message or one sync-reply chunk in one transaction (the cursor is stored
 * in the same transaction). For a snapshot chunk, FIRST_CHUNK says it is the first reply to its
 * request: the cached state is cleared first and the cursor reset, so a snapshot cut short by
 * a crash is redone by the next sync; the last chunk (more == false) sets the cursor to `to`.
 * *APPLIED_FROM..*APPLIED_TO is the range of log items newly applied (0..0 when none).
 * Items whose value is not what their entity needs are skipped with a warning. */
int cache_apply(struct cache *c, const struct p4t_changes *ch, bool first_chunk,
                enum cache_result *result, int64_t *applied_from, int64_t *applied_to);
/* The price of SKU in effect at AT_MS (Unix ms) and its ver. P4TERM_ENOTFOUND when the sku
 * has no cached price state or none of its entries covers AT_MS. */
int cache_price(struct cache *c, const char *sku, int64_t at_ms, int64_t *price_minor,
                int64_t *ver);
/* The whole cached price state of SKU. P4TERM_ENOTFOUND when none. */
int cache_price_state(struct cache *c, const char *sku, struct p4t_price_state *out);
int cache_stock(struct cache *c, const char *sku, int64_t *on_hand);
/* Up to MAX skus (ordered by sku) with the price in effect at AT_MS; skus with no price in
 * effect then are left out. */
int cache_price_list(struct cache *c, int64_t at_ms, struct p4term_price_item *items,
                     size_t max, size_t *n_out);
/* The active promos for SKU (all times; p4t_promo_apply checks from/until), ordered by id, at
 * most MAX. */
int cache_promos_for(struct cache *c, const char *sku, struct p4t_promo *out, size_t max,
                     size_t *n_out);
/* One promo by id, active or retired. P4TERM_ENOTFOUND when unknown. */
int cache_promo(struct cache *c, const char *id, struct p4t_promo *out);
int cache_customer(struct cache *c, const char *id, struct p4t_customer *out);
int cache_loyalty(struct cache *c, const char *customer, int64_t *balance);
/* The JSON value of an entity without a typed table (none in revision 1.1; kept for later
 * revisions' entities); *OUT malloc'd, caller frees. */
int cache_entity(struct cache *c, const char *entity, const char *key, char **out);

/* Entity name for logs and events ("unknown" for a value this revision does not define). */
const char *cache_entity_name(enum p4t_entity e);

/* ---- link.c: the Paho MQTTAsync client to the store broker ----
 * Paho runs callbacks on its own thread; they only copy messages into a bounded queue and call
 * WAKE. Everything else is called from the owner's (worker) thread. No Paho call is made while
 * holding a lock that a callback takes (the link's queue lock, or whatever WAKE takes), so
 * callers must not hold such a lock either when they call link_*. */
struct link;

struct link_opts {
    const char *uri;
    const char *client_id;
    const char *username; /* NULL: none */
    const char *password; /* NULL: none */
    const char *const *subs; /* NULL-terminated topic filters, subscribed QoS 1 on connect */
};

enum link_state { LINK_DOWN = 0, LINK_CONNECTING, LINK_UP };

/* One received message; topic and payload are malloc'd and NUL-terminated. */
struct link_msg {
    char *topic;
    char *payload;
    size_t len;
    bool retained; /* delivered from the broker's retained store (subscribe time) */
};
void link_msg_cleanup(struct link_msg *m);

/* Creates the client (no connection yet). WAKE(WAKE_CTX) is called from Paho's thread
 * whenever a message is queued or the state changes; it must not block. */
int link_new(const struct link_opts *o, void (*wake)(void *), void *wake_ctx,
             struct link **out);
/* Disconnects (briefly waiting for it) and frees. L may be NULL. */
void link_free(struct link *l);
/* Starts a connection attempt when DOWN; the outcome shows in link_state(). */
int link_connect(struct link *l);
/* Current state and a generation counter that changes on every transition to UP. */
enum link_state link_state(struct link *l, uint64_t *up_gen);
/* Pops the oldest queued message into *M; returns 1 when one was popped, 0 when empty. */
int link_pop(struct link *l, struct link_msg *m);
/* Publishes QoS 1 (not retained). Returns 0, or -1 when the client refused it (down). */
int link_publish(struct link *l, const char *topic, const char *payload, size_t len);
/* Messages dropped because the queue was full (every kind is recoverable: see link.c). */
uint64_t link_dropped(struct link *l);

#endif
