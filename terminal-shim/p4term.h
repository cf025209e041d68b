/* SPDX-License-Identifier: Apache-2.0 */
/* libp4term: a register's durable link to its store gateway (journal, cache, MQTT sync). */
#ifndef P4TERM_H
#define P4TERM_H

/*
 * What the library does
 *   A register hands each sale to p4term_sale(). The sale gets a UUIDv7 id and the register's
 *   next seq, is committed and fsync'd to the register's SQLite journal, and the call returns.
 *   It never waits on the network. A worker thread owned by the handle publishes pending sales
 *   (QoS 1, in seq order) to the store broker and keeps each one pending until the gateway's
 *   ack names it; it resends after a reconnect and after ack_timeout_ms (exponential backoff up
 *   to resend_max_ms). The same thread keeps a cache of the store's change-log entities
 *   (contract 1.1: stock, price states with time windows, promos, customers, loyalty balances)
 *   current from the gateway's change feed, re-syncing when it sees a gap, so the lookups
 *   answer even with the broker or gateway down, and prices are resolved by time there (a
 *   scheduled price switches on at its time with no network). Sales can be rung from the
 *   cache (P4TERM_PRICE_CACHED: price in effect, then promos), and stock can be held at the
 *   gateway before a sale (p4term_hold).
 *
 * Threads
 *   Every handle owns one worker thread. Public functions may be called from any thread, also
 *   concurrently on one handle, except p4term_close(), which must be the last call and must not
 *   be made from the event callback. The journal is shared between the caller's thread (which
 *   appends sales) and the worker (which records acks), serialised by a per-handle mutex.
 *   The event callback runs on the worker thread, one event at a time: it must return quickly
 *   and may call p4term_sale(), p4term_price(), p4term_stock() and p4term_pending().
 *
 * Errors and logging
 *   Functions return 0 or a negative enum p4term_rc value and give results through
 *   out-pointers. Every failure is also logged once with its cause: as lines on stderr unless
 *   the host application hands the log to its own callback (p4term_set_log).
 *
 * Ownership
 *   Strings passed in are copied; pointers inside an event are valid only during the callback.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p4t.h"

enum p4term_rc {
    P4TERM_OK = 0,
    P4TERM_EINVAL = -1,   /* bad argument or a sale that breaks the contract (reason given) */
    P4TERM_ENOMEM = -2,
    P4TERM_EIO = -3,      /* the journal could not be read or written (disk, corruption), or
                           * not with fsync (synchronous=FULL could not be set) */
    P4TERM_ENOTFOUND = -4, /* no such SKU in the cache / no such sale in the journal */
    P4TERM_ECONFIG = -5,  /* configuration file unreadable or invalid (reason given) */
    P4TERM_EMQTT = -6,    /* the MQTT client could not be created */
    P4TERM_EREFUSED = -7, /* refused by the store's policy (loyalty redemption; reason given) */
    P4TERM_ETIMEDOUT = -8, /* no answer from the gateway in time (holds) */
    P4TERM_EUNAVAIL = -9, /* needs the gateway link, and this handle has none (offline) */
};

/* Levels of the library's log events, lowest first. */
enum p4term_log_level {
    P4TERM_LOG_DEBUG = 0,
    P4TERM_LOG_INFO,
    P4TERM_LOG_WARN,
    P4TERM_LOG_ERROR,
};

/* Receives one log event: its LEVEL and MSG, the message and its key=value fields on one line
 * without timestamp or newline, e.g. "sale refused reason=\"...\"". MSG lives only during the
 * call. It runs on the thread that logs (the caller's, a handle's worker, or the MQTT client's),
 * possibly on several at once: it must be thread-safe, return quickly and not call libp4term. */
typedef void (*p4term_log_cb)(enum p4term_log_level level, const char *msg, void *user);

/* Sends the library's log to CB(level, msg, USER) instead of stderr; events below MIN_LEVEL are
 * dropped before they are formatted. CB NULL goes back to lines on stderr. The setting is
 * process-wide, like SQLite's SQLITE_CONFIG_LOG: call it before p4term_open() or
 * p4term_config_load(), while no handle is open (it is not synchronised with the threads
 * that log). Default: stderr, P4TERM_LOG_INFO. */
void p4term_set_log(p4term_log_cb cb, void *user, enum p4term_log_level min_level);

/* A sale line whose price_minor is P4TERM_PRICE_CACHED is priced by the library from the
 * register's cache: the price in effect at the sale's ts and its ver, then the active promos
 * (p4t_promo_apply). Its ver is ignored. */
#define P4TERM_PRICE_CACHED (-1)

/* Options for p4term_open(). Initialise with p4term_options_init(), then set fields. All
 * strings are borrowed only for the duration of p4term_open(). */
struct p4term_options {
    const char *store;        /* required, store id syntax */
    const char *reg;          /* required, register id syntax */
    const char *journal_path; /* required: the SQLite file for the journal and the cache */
    const char *broker_uri;   /* store broker, e.g. tcp://127.0.0.1:1883; NULL with offline */
    const char *client_id;    /* NULL or "": p4term-{store}-{reg} */
    const char *username;     /* NULL: none */
    const char *password;     /* NULL: none; copied and wiped at close */
    int64_t ack_timeout_ms;   /* resend a pending sale after this long without an ack */
    int64_t resend_max_ms;    /* cap of the resend backoff */
    bool offline;             /* journal and cache only: no thread, no MQTT (CLI lookups) */
    /* Loyalty redemptions while the gateway is unreachable (link down or its status not
     * online/wan_down): refused (false, the default) or allowed (true). */
    bool offline_redeem_allow;
};

/* Sets defaults: ack_timeout_ms 2000, resend_max_ms 30000, everything else empty. */
void p4term_options_init(struct p4term_options *o);

/* A loaded INI file ([register], [broker], [sync]); see conf/p4term.ini. */
struct p4term_config {
    char store[P4T_ID_MAX + 1];
    char reg[P4T_ID_MAX + 1];
    char journal_path[1024];
    char broker_uri[512];
    char client_id[128];
    char username[128];
    char password_file[1024];
    int64_t ack_timeout_ms;
    int64_t resend_max_ms;
    bool offline_redeem_allow; /* [policy] offline_loyalty_redeem = deny (default) | allow */
};

/* Loads and validates PATH into CFG. On P4TERM_ECONFIG writes one line "FILE:LINE: [section]
 * key: what is wrong" (LINE 0 for a missing key) into REASON. */
int p4term_config_load(const char *path, struct p4term_config *cfg, char *reason,
                       size_t reason_len);

/* Fills OPT from CFG (borrowing CFG's strings, which must outlive p4term_open()); reads the
 * password file into PASSWORD (PASSWORD_LEN bytes), which the caller wipes after opening. */
int p4term_options_from_config(const struct p4term_config *cfg, struct p4term_options *opt,
                               char *password, size_t password_len);

enum p4term_event_kind {
    P4TERM_EV_ACK,    /* a sale was acknowledged: sale_id, seq, gw_seq, duplicate, latency_ms */
    P4TERM_EV_REJECT, /* the gateway rejected a sale (never resent): sale_id, seq, reason */
    P4TERM_EV_CHANGE, /* a change was applied to the cache: change_seq, entity, key, value
                       * (live changes and catch-up syncs; a cold start or a snapshot gives
                       * only P4TERM_EV_SYNCED) */
    P4TERM_EV_ALERT,  /* a staff alert from the gateway: alert */
    P4TERM_EV_LINK,   /* the store link went up (subscribed) or down: link_up */
    P4TERM_EV_SYNCED, /* the cache caught up with the gateway: change_seq = cursor */
    P4TERM_EV_NUMBERED, /* sales made before the seq base was known got seqs: seq = last */
};

struct p4term_event {
    enum p4term_event_kind kind;
    const char *sale_id;     /* ACK, REJECT */
    int64_t seq;             /* ACK, REJECT: the sale's seq */
    int64_t gw_seq;          /* ACK */
    bool duplicate;          /* ACK: the gateway already had it (from an earlier send) */
    int64_t latency_ms;      /* ACK: wall-clock ms from journaling to this ack */
    const char *reason;      /* REJECT */
    int64_t change_seq;      /* CHANGE, SYNCED */
    const char *entity;      /* CHANGE: "stock", "price", ... */
    const char *key;         /* CHANGE: usually a SKU */
    const char *value_json;  /* CHANGE: the new value as JSON text */
    const struct p4t_alert *alert; /* ALERT */
    bool link_up;            /* LINK */
};

typedef void (*p4term_event_cb)(const struct p4term_event *ev, void *user);

struct p4term;

/* Opens (creating when new) the journal, and unless OPT->offline starts the worker, which
 * connects to the broker in the background (retrying with backoff while it is unreachable).
 * CB may be NULL. On success *OUT is the handle; free it with p4term_close(). */
int p4term_open(const struct p4term_options *opt, p4term_event_cb cb, void *user,
                struct p4term **out);

/* Stops the worker, disconnects and closes the journal. Pending sales stay journaled and are
 * sent by the next open. T may be NULL. */
void p4term_close(struct p4term *t);

/* Records one sale. SALE's id, seq, store, reg and ts are filled in here (whatever the caller
 * put there is ignored); everything else must follow the contract (P4TERM_EINVAL with REASON
 * otherwise, nothing journaled). On return the sale is durable: when the journal cannot commit
 * it with an fsync, nothing is journaled and P4TERM_EIO is returned. ID_OUT receives its id and
 * *SEQ_OUT its seq, or 0 when this is a new journal whose seq base is not yet known from the
 * gateway: the sale is then numbered, and sent, as soon as the gateway answers (a
 * P4TERM_EV_NUMBERED event says when). ID_OUT and SEQ_OUT may be NULL.
 *
 * Ringing from the cache: lines with price_minor == P4TERM_PRICE_CACHED are priced here (see
 * P4TERM_PRICE_CACHED); such lines of one sku are merged first, and a promo may split a line
 * in two (the charged units and the free ones), so the journaled sale can have more lines than
 * SALE (at most P4T_MAX_LINES, else P4TERM_EINVAL). When any line was priced here the total is
 * computed here, and a single tender with amount 0 is set to pay it. A sku with no price in
 * effect gives P4TERM_ENOTFOUND with a reason. Lines with explicit prices are journaled as
 * given.
 *
 * Loyalty: a sale with loyalty.redeem > 0 is refused with P4TERM_EREFUSED (nothing journaled)
 * when the gateway is unreachable and offline_redeem_allow is false, and, while the gateway is
 * reachable, when the redemption exceeds the customer's cached balance (no cached balance
 * counts as 0). The gateway still flags overdraws that slip through (loyalty_overdraw).
 *
 * Holds: SALE's hold (the id from p4term_hold) is sent only once this register has had a hold
 * reply from its gateway (a 1.0 gateway would reject the field); otherwise it is dropped with a
 * warning and the sale goes through without it. */
int p4term_sale(struct p4term *t, const struct p4t_sale *sale, char id_out[P4T_UUID_MAX + 1],
                int64_t *seq_out, char *reason, size_t reason_len);
/* As p4term_sale, and when OUT is not NULL copies the sale exactly as journaled (id, seq, ts,
 * the charged lines, total, tenders) into *OUT (about 15 KB: better not on a small stack). */
int p4term_ring(struct p4term *t, const struct p4t_sale *sale, struct p4t_sale *out,
                char *reason, size_t reason_len);

/* Cache lookups: answered from the local cache, never the network. P4TERM_ENOTFOUND when the
 * SKU is not cached. p4term_price gives the price in effect now (the cached price state with
 * its time windows, resolved with p4t_price_effective: a scheduled price switches on at its
 * time with no network); P4TERM_ENOTFOUND also when no price of the sku is in effect now.
 * p4term_price_at answers for AT_MS (Unix ms) instead of now. */
int p4term_price(struct p4term *t, const char *sku, int64_t *price_minor, int64_t *ver);
int p4term_price_at(struct p4term *t, const char *sku, int64_t at_ms, int64_t *price_minor,
                    int64_t *ver);
/* The sku's whole cached price state (base and windows). */
int p4term_price_state(struct p4term *t, const char *sku, struct p4t_price_state *out);
int p4term_stock(struct p4term *t, const char *sku, int64_t *on_hand);
/* The cached customer (name, tier, ver). */
int p4term_customer(struct p4term *t, const char *id, struct p4t_customer *out);
/* The customer's loyalty points as the gateway last published them (may be negative after an
 * overdraw). */
int p4term_loyalty_balance(struct p4term *t, const char *customer, int64_t *balance);
/* One cached promo by id (active or retired). */
int p4term_promo(struct p4term *t, const char *id, struct p4t_promo *out);

/* Customer lookup when a card is scanned (contract 1.2, section 6.9): asks HQ, through the
 * gateway, for CUSTOMER's current record and loyalty balance, waits up to TIMEOUT_MS for a
 * change of that customer (entity customer or loyalty) to reach the cache, then gives the
 * cached balance in *BALANCE. It never waits longer than TIMEOUT_MS (1000 is a good value at a
 * till): first, within 3 s of p4term_open(), for the link and the gateway's status, then
 * for the answer. *ANSWERED (may be NULL) says whether an answer arrived; without one
 * the cache answers as p4term_loyalty_balance does: an offline handle, a link that is down, a
 * gateway whose WAN is down (it does not forward lookups), or HQ not answering in time. HQ
 * answers on the store's topics and keeps pushing this customer's new balances to the store
 * afterwards. The answer arrives as a live change, so call it once the cache is synced (a
 * handle still loading its first snapshot answers from that). Returns 0, P4TERM_ENOTFOUND
 * (no cached balance), P4TERM_EINVAL (CUSTOMER breaks the contract) or P4TERM_ENOMEM. Must
 * not be called from the event callback (it waits for the worker). */
int p4term_lookup(struct p4term *t, const char *customer, int64_t timeout_ms, int64_t *balance,
                  bool *answered);

/* The tier p4term_customer_add() gives when none is passed. */
#define P4TERM_TIER_DEFAULT "standard"
/* Signs a customer up at this register (contract 1.2, section 6.8): card number ID, NAME and
 * TIER (NULL or "": P4TERM_TIER_DEFAULT). The sign-up is journaled and fsync'd before the
 * call returns, then sent to the gateway (pos/v1/S/reg/R/customer) and resent (after
 * ack_timeout_ms, doubling up to resend_max_ms, and after every reconnect) until the
 * gateway's ack names it. The gateway stores it at once in its replica as the store's own
 * version, so every register of the store sees it, and uplinks it; HQ keeps the first sign-up
 * of a card number chain-wide and pushes it to every store (a different one of the same number
 * is replaced by HQ's, with a customer_conflict alert). Returns 0, P4TERM_EINVAL with REASON
 * (a field breaks the contract), P4TERM_EREFUSED with REASON (the cache already holds the
 * card), P4TERM_EIO (not journaled). Works on an offline handle too: sent at the next open. */
int p4term_customer_add(struct p4term *t, const char *id, const char *name, const char *tier,
                        char *reason, size_t reason_len);
/* *N: sign-ups not yet acknowledged by the gateway (at most 64 are counted). */
int p4term_signups_pending(struct p4term *t, int64_t *n);

/* Holds (contract 1.1, section 5.6): reserve stock at the gateway before completing a sale.
 * Asks for N lines (SKUS[i] x QTYS[i], each sku once, qty 1..100000) for TTL_MS (1000..600000)
 * and waits up to TIMEOUT_MS for the gateway's reply. On 0: HOLD_ID is the new hold's id (give
 * it to the sale's hold field), GRANTED[i] what was reserved of line i (0..QTYS[i]),
 * *EXPIRES_MS when the hold ends without a sale, REASON why less than asked was granted ("" when
 * all was). P4TERM_ETIMEDOUT when no reply came (the gateway is unreachable or of revision
 * 1.0); P4TERM_EUNAVAIL for an offline handle or too many holds waiting at once;
 * P4TERM_EINVAL for bad arguments. EXPIRES_MS may be NULL. Must not be called from the event
 * callback (it waits for the worker). */
int p4term_hold(struct p4term *t, const char *const *skus, const int64_t *qtys, size_t n,
                int64_t ttl_ms, int64_t timeout_ms, char hold_id[P4T_OBJ_ID_MAX + 1],
                int64_t *granted, int64_t *expires_ms, char *reason, size_t reason_len);
/* Releases HOLD_ID at once and waits up to TIMEOUT_MS for the gateway's answer; return codes
 * as p4term_hold. An unknown or expired hold is answered the same way (nothing to free). */
int p4term_hold_release(struct p4term *t, const char *hold_id, int64_t timeout_ms);

/* Whether the gateway is reachable as this register sees it: link up and the gateway's
 * status online or wan_down. */
bool p4term_gateway_reachable(struct p4term *t);

/* The cache's change cursor (last applied change seq), and whether a full sync has completed
 * since this handle was opened. */
int p4term_cursor(struct p4term *t, int64_t *cursor, bool *synced);

/* One cached SKU with a price, for p4term_price_list(). */
struct p4term_price_item {
    char sku[P4T_SKU_MAX + 1];
    int64_t price_minor;
    int64_t ver;
};
/* Copies up to MAX cached prices in effect now (ordered by SKU) into ITEMS; *N_OUT is how
 * many. SKUs with no price in effect now are left out. */
int p4term_price_list(struct p4term *t, struct p4term_price_item *items, size_t max,
                      size_t *n_out);

enum p4term_sale_state { P4TERM_PENDING = 0, P4TERM_ACKED = 1, P4TERM_REJECTED = 2 };

/* One journaled sale as p4term_pending()/p4term_sale_info() report it. */
struct p4term_sale_info {
    char id[P4T_UUID_MAX + 1];
    int64_t seq;        /* 0 while not yet numbered */
    enum p4term_sale_state state;
    int64_t gw_seq;     /* 0 unless acked */
    bool duplicate;
    int64_t created_ms; /* Unix ms when journaled */
    int64_t total_minor;
    int sends;          /* how many times it was published */
    char reason[P4T_REASON_MAX]; /* rejected only */
};

/* Copies up to MAX pending sales (oldest first) into ITEMS; *N_OUT is how many were copied and
 * *TOTAL (may be NULL) how many are pending in all. */
int p4term_pending(struct p4term *t, struct p4term_sale_info *items, size_t max, size_t *n_out,
                   int64_t *total);

/* Looks one sale up by id. P4TERM_ENOTFOUND if the journal does not hold it. */
int p4term_sale_info(struct p4term *t, const char *id, struct p4term_sale_info *out);

/* Asks the worker to re-sync the cache and resend every pending sale now. */
int p4term_kick(struct p4term *t);

/* Whether the link is up (connected and subscribed). */
bool p4term_link_up(struct p4term *t);

#endif
