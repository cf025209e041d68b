/* SPDX-License-Identifier: Apache-2.0 */
/* Internal interfaces of the store gateway p4gw: one section per module (config.c, replica.c,
 * stock.c, queue.c, pending.c, group.c, ingest.c, loyalty.c, downlink.c, holds.c, outbox.c,
 * sync.c, status.c, the two links and the core loop). */
#ifndef P4GW_H
#define P4GW_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "p4t.h"

/* ---- status codes shared by the gateway modules (0 = success) ---- */
enum p4gw_rc {
    P4GW_OK = 0,
    P4GW_EIO = -1,     /* file or database failure (logged where found) */
    P4GW_EINVAL = -2,  /* bad input: config, CSV, message */
    P4GW_ENOMEM = -3,
    P4GW_EFULL = -4,   /* a bounded queue or window is full */
    P4GW_EMQTT = -5,   /* the MQTT library refused a call */
};

/* ======================================================================================== */
/* config.c: the INI file                                                                   */
/* ======================================================================================== */
#define P4GW_URI_MAX 256
#define P4GW_CLIENT_ID_MAX 128
#define P4GW_ERR_MAX 512

struct p4gw_config {
    char file[PATH_MAX]; /* the file it was loaded from, for messages */
    /* [store] */
    char tenant[P4T_ID_MAX + 1];
    char store[P4T_ID_MAX + 1];
    /* [local] */
    char local_uri[P4GW_URI_MAX];
    char local_client_id[P4GW_CLIENT_ID_MAX];
    char local_username[P4GW_CLIENT_ID_MAX];
    char local_password_file[PATH_MAX];
    /* [cloud] */
    char cloud_uri[P4GW_URI_MAX]; /* the first (preferred) node of cloud_uris */
#define P4GW_MAX_URIS 8
    char cloud_uris[P4GW_MAX_URIS][P4GW_URI_MAX]; /* the broker's nodes, in order of preference */
    int n_cloud_uris;
    char cloud_client_id[P4GW_CLIENT_ID_MAX];
    int mqtt_version; /* 4 (3.1.1) or 5, as MQTTVERSION_* */
    char ca_file[PATH_MAX];
    char cert_file[PATH_MAX];
    char key_file[PATH_MAX];
    bool cloud_tls;
    int max_inflight;
    int keepalive_s;
    int64_t session_expiry_s;
    int batch_max_items;
    int64_t batch_max_bytes;
    int reconnect_max_s;
    /* [replica] */
    char replica_path[PATH_MAX];
    bool durability_full;
    int64_t outbox_cap;
    int64_t changes_keep;
    int commit_max_items;
    /* [cloud] resync_after_s: an outage longer than this asks HQ to resend downlink data */
    int64_t resync_after_s;
    /* [cloud] delivered_on = puback: a sale record is delivered when the cloud broker
     * acknowledges it (contract 1.1); false (hq, the default): when HQ's down/ack covers it */
    bool delivered_on_puback;
    /* [cloud] hq_resend_s: records the broker acknowledged that HQ has not covered after this
     * long (while the link is up) are published again */
    int64_t hq_resend_s;
    /* [cloud] keep_delivered_h: delivered outbox rows are kept this many hours before they are
     * pruned, so sales a restored HQ lacks can be sent again; 0 prunes them at once */
    int64_t keep_delivered_h;
    /* [cloud] compress = zstd: outbox messages go zstd-compressed (contract 1.3) once HQ has
     * announced that it reads them (down/caps); none (the default): always plain JSON */
    bool compress_zstd;
    /* [cloud] live_lane = on (the default): after a reconnect, records made since go out in a
     * lane of their own beside the backlog, which drains behind them in order (lanes.c) */
    bool live_lane;
    /* [cloud] backlog_window_bytes: while a backlog drains beside the live lane, the bytes of
     * its batches awaiting PUBACK (as sent, compressed or not): what a live batch may queue
     * behind on the WAN */
    int64_t backlog_window_bytes;
    /* [cloud] backlog_ahead_max: with delivered_on = hq, while a backlog drains beside the live
     * lane, the backlog records sent beyond HQ's watermark: what a live record may queue
     * behind at HQ when HQ, not the WAN, is the slower (0: no limit) */
    int64_t backlog_ahead_max;
    /* [policy] */
    bool negative_stock_hold;   /* negative_stock = hold: holds reserve stock */
    bool offline_loyalty_allow; /* offline_loyalty_redeem = allow: no alert while WAN down */
    bool registers_v11;         /* register_revision = 1.1: price values carry windows */
    bool status_lanes;          /* status_revision = 1.4: the status carries the lane fields */
    /* [log] */
    int log_level; /* enum p4_log_level */
    char log_file[PATH_MAX];
    /* [metrics] listen: "127.0.0.1:9464" serves Prometheus text (ops.h); empty = off */
    char metrics_listen[64];
};

/* Fills CFG with the defaults, then loads FILE over them and validates. On failure writes ONE
 * line "FILE:LINE: [section] key: what is wrong" (LINE 0 for a missing required key) into ERR
 * and returns P4GW_EINVAL (or P4GW_EIO when the file cannot be read, also described in ERR). */
int p4gw_config_load(const char *file, struct p4gw_config *cfg, char *err, size_t err_len);

/* ======================================================================================== */
/* replica.c: the SQLite replica (one connection, owned by the core thread)                */
/* ======================================================================================== */
enum replica_stmt {
    RS_BEGIN,
    RS_COMMIT,
    RS_ROLLBACK,
    RS_SALES_HEAD,      /* () -> max gw_seq */
    RS_SALE_BY_ID,      /* (id) -> gw_seq */
    RS_SALE_INS,        /* (gw_seq, id, reg, seq, kind, ts, total, flags, payload) */
    RS_LINE_INS,        /* (gw_seq, line_no, sku, qty, price, ver) */
    RS_STOCK_ADD,       /* (sku, delta) -> on_hand after */
    RS_STOCK_GET,       /* (sku) -> on_hand, count_at_ms, rowid */
    RS_STOCK_PUT,       /* (rowid, on_hand, chg_seq): a row read by RS_STOCK_GET */
    RS_STOCK_COUNT_AT,  /* (sku, count_at_ms) */
    RS_MOVE_BY_ID,      /* (move_id) -> 1 */
    RS_MOVES_AFTER,     /* (sku, after_ms) -> sum of non-count movements after */
    RS_LAST_SALES,      /* (sku, not_ref, limit) -> ref, qty: newest sale movements first */
    RS_CONFLICT_INS,    /* (kind, sku, sale_id, sales, on_hand, alert_id, ts_ms) */
    RS_PROMO_VER,       /* (id) -> ver */
    RS_PROMO_SET,       /* (id, ver, value, chg_seq) */
    RS_CUST_VER,        /* (id) -> ver */
    RS_CUST_SET,        /* (id, ver, value, chg_seq) */
    RS_LOY_GET,         /* (customer) -> base_balance, base_ver, as_of_ms, balance, chg_seq */
    RS_LOY_BASE,        /* (customer, base_balance, base_ver, as_of_ms) */
    RS_LOY_SET,         /* (customer, balance, chg_seq) */
    RS_LOY_SUM,         /* (customer, after_ms) -> sum of ledger points after */
    RS_LEDGER_HAS,      /* (entry) -> 1 */
    RS_LEDGER_INS,      /* (customer, entry, points, at_ms, source, ref, reason) */
    RS_META_GET,        /* (key) -> value */
    RS_META_SET,        /* (key, value) */
    RS_META_MAX,        /* (key, value): keeps the larger */
    RS_HOLD_GET,        /* (reg, hold) -> req_id, expires_ms, reply */
    RS_HOLD_HELD,       /* (sku, now_ms, reg, hold) -> qty in other live holds */
    RS_HOLD_SET,        /* (reg, hold, req_id, expires_ms, reply) */
    RS_HOLD_LINE_INS,   /* (reg, hold, sku, qty) */
    RS_HOLD_DEL,        /* (reg, hold) */
    RS_HOLD_LINES_DEL,  /* (reg, hold) */
    RS_HOLD_EXPIRED,    /* (now_ms, limit) -> reg, hold */
    RS_PRICE_EDGES,     /* (now_ms, limit) -> sku whose effective price changes by now */
    RS_SAVEPOINT,       /* one downlink message: all of it or nothing */
    RS_RELEASE,
    RS_ROLLBACK_TO,
    RS_COUNT_CHANGES,   /* () -> rows in changes */
    RS_STOCK_SET,       /* (sku, on_hand, chg_seq) */
    RS_STOCK_CHG,       /* (chg_seq, sku) */
    RS_MOVE_INS,        /* (sku, delta, reason, ref, move_id, amount, occurred_ms) */
    RS_PRICE_GET,       /* (sku) -> price, ver, state, value, n_windows */
    RS_PRICE_SET,       /* (sku, price, ver, chg_seq, state, value, next_edge_ms, n_windows) */
    RS_PRICE_STATE,     /* (sku, price, ver, state, value, next_edge_ms, n_windows): no new
                         * change row */
    RS_CHANGE_HEAD,     /* () -> max seq */
    RS_CHANGE_MIN,      /* () -> min seq (NULL when empty) */
    RS_CHANGE_INS,      /* (seq, entity, key, value) */
    RS_CHANGES_AFTER,   /* (after, limit) -> seq, entity, key, value */
    RS_CHANGES_PRUNE,   /* (upto) */
    RS_OUTBOX_INS,      /* (kind, gw_seq, payload): oid is assigned */
    RS_OUTBOX_PENDING,  /* (after, limit, upto) -> oid, payload, kind, gw_seq */
    RS_OUTBOX_MIN_SALE, /* () -> min undelivered sale gw_seq (NULL when none) */
    RS_OUTBOX_MARK,     /* (first, last, now_ms) */
    RS_OUTBOX_MARK_HQ,  /* (through, now_ms): sale records with gw_seq <= through */
    RS_OUTBOX_REOPEN,   /* (through): delivered sale records with gw_seq > through, again not */
    RS_OUTBOX_KEPT_MIN, /* (through) -> min sale gw_seq held above through (NULL when none) */
    RS_OUTBOX_COUNT,    /* () -> undelivered */
    RS_OUTBOX_MIN,      /* () -> min undelivered oid (NULL when none) */
    RS_OUTBOX_HEAD,     /* () -> max oid (NULL when empty) */
    RS_OUTBOX_COUNT_BEFORE, /* (oid) -> undelivered rows below it */
    RS_OUTBOX_OLDEST_TS,    /* (oid) -> ts of the oldest undelivered sale below it */
    RS_OUTBOX_PRUNE,    /* (limit, delivered_before_ms) */
    RS_REJECT_INS,      /* (topic, payload, reason, ts_ms) */
    RS_REG_UPSERT,      /* (reg, seq, seen_ms) */
    RS_REG_LAST,        /* (reg) -> last_seq */
    RS_COUNT
};

struct checkpointer;

struct replica {
    sqlite3 *db;
    sqlite3_stmt *st[RS_COUNT];
    bool in_txn;
    struct checkpointer *ckpt; /* NULL unless replica_checkpointer_start ran */
    bool full_sync;            /* durability = full */
    bool sync_now_full;        /* synchronous is FULL for the next commits */
};

/* Opens (creating and migrating) the replica at PATH: WAL, synchronous FULL when FULL_SYNC
 * else NORMAL, busy_timeout, every statement prepared. Returns 0 or P4GW_EIO (logged). */
int replica_open(struct replica *r, const char *path, bool full_sync);
/* Finalizes every statement and closes. Safe on a zeroed or half-opened struct. */
void replica_close(struct replica *r);
/* Moves WAL checkpoints of R (opened from PATH) to a thread with its own connection, so no
 * commit of the core thread waits for one (checkpoint.c). Stop it before replica_close; stop
 * is safe when start failed or never ran. Return 0, P4GW_ENOMEM or P4GW_EIO (logged). */
int replica_checkpointer_start(struct replica *r, const char *path, bool full_sync);
void replica_checkpointer_stop(struct replica *r);
/* For the core thread with nothing to do: when the checkpointer has copied the WAL but
 * commits added frames during its pass, copies those few frames inline (a small fraction of
 * a pass), so the next transaction starts the WAL again from its beginning instead of
 * appending to it. Cheap when there is nothing to do. */
void replica_checkpoint_idle(struct replica *r);
/* Passes the checkpointer thread has finished, the WAL's size in pages after the latest
 * commit, and whether a pass is running or due (0 / false without a checkpointer). */
void replica_checkpoint_stats(struct replica *r, int64_t *passes, int *wal_pages, bool *busy);
/* With durability = full, DURABLE false makes the next commits skip their fsync
 * (synchronous NORMAL) until it is called again with true; outside a transaction only. For
 * writes a power cut may undo without harm: delivered marks (the records are sent again and
 * HQ drops the copies by gw_seq) and pruning. The next durable commit's fsync covers them
 * anyway. No-op when durability = normal. Returns 0 or P4GW_EIO (logged). */
int replica_durable(struct replica *r, bool durable);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Return 0 or P4GW_EIO (logged). */
int replica_begin(struct replica *r);
int replica_commit(struct replica *r);
void replica_rollback(struct replica *r);
/* Steps statement ID (already bound) expecting SQLITE_DONE, then resets it. */
int replica_exec(struct replica *r, enum replica_stmt id);
/* Steps statement ID expecting an optional row: 1 = row (caller reads columns, then calls
 * replica_reset), 0 = no row (already reset), P4GW_EIO on error (reset, logged). */
int replica_row(struct replica *r, enum replica_stmt id);
void replica_reset(struct replica *r, enum replica_stmt id);
/* Runs a statement returning one integer (NULL -> DFLT). */
int replica_int(struct replica *r, enum replica_stmt id, int64_t dflt, int64_t *out);
/* Inserts a "gap" sale row at GW_SEQ (numbers no sale was given: a restore, a replaced
 * gateway continuing above HQ's), so the sales head moves past them. */
int replica_gap(struct replica *r, int64_t gw_seq, const char *id, const char *ts,
                const char *payload);
/* Binds helpers (text is copied by SQLite; NULL binds SQL NULL). */
void replica_bind_text(struct replica *r, enum replica_stmt id, int col, const char *s);
void replica_bind_blob(struct replica *r, enum replica_stmt id, int col, const void *p, size_t n);
void replica_bind_int(struct replica *r, enum replica_stmt id, int col, int64_t v);

/* ======================================================================================== */
/* stock.c: stock and price writes shared by ingest and the CSV import                     */
/* ======================================================================================== */
/* A change-log row made inside the current transaction, kept to publish after COMMIT. */
struct change_rec {
    int64_t seq;
    enum p4t_entity entity;
    char key[P4T_SKU_MAX + 1];
    char *value; /* compact JSON object text, malloc'd, owned by the list it sits in */
};

/* A growable list of change records, bounded by the group size (see ingest). */
struct change_list {
    struct change_rec *items;
    size_t n, cap;
};
/* Takes ownership of C->value (freed on failure too). */
int change_list_push(struct change_list *l, const struct change_rec *c);
/* Drops items from index N on (freeing their values); N = 0 empties the list. */
void change_list_truncate(struct change_list *l, size_t n);
void change_list_free(struct change_list *l);

/* Writes a change row with the next seq (*HEAD + 1) and VALUE (copied), and appends it to OUT
 * (may be NULL). *SEQ gets the new seq. Inside a transaction. Returns 0 or P4GW_EIO/ENOMEM. */
int stock_record_change(struct replica *r, int64_t *head, enum p4t_entity entity,
                        const char *key, const char *value, struct change_list *out,
                        int64_t *seq);
/* Writes a change row with the next seq (*HEAD + 1), stores the seq on the stock/price row and
 * appends it to OUT (may be NULL). Inside a transaction. Returns 0 or P4GW_EIO/ENOMEM. */
int stock_record_stock(struct replica *r, int64_t *head, const char *sku, int64_t on_hand,
                       struct change_list *out);

/* Reads SKU's on_hand and latest count time; 0 and 0 (the epoch) when the sku is unknown.
 * *EXISTS (may be NULL) tells whether it had a row. */
int stock_get(struct replica *r, const char *sku, int64_t *on_hand, int64_t *count_at_ms,
              bool *exists);
/* stock_get with the row's ROWID (0 when the sku has no row), for stock_put_row. */
int stock_get_row(struct replica *r, const char *sku, int64_t *on_hand, int64_t *count_at_ms,
                  int64_t *rowid);
/* stock_record_stock for a row known to exist (ROWID from stock_get_row): the update goes by
 * rowid, without the upsert's index probe on sku. */
int stock_put_row(struct replica *r, int64_t *head, int64_t rowid, const char *sku,
                  int64_t on_hand, struct change_list *out);
/* Records a stock movement of AMOUNT units of SKU that happened at OCCURRED_MS (a sale's ts,
 * HQ's occurred_at) with REASON ("sale", "return", "receive", ...), REF and HQ's MOVE_ID (NULL
 * for sales). Following the stock rule (on_hand = latest count + movements after it), a
 * movement at or before the latest count is recorded with delta 0 and leaves on_hand alone.
 * *BEFORE and *AFTER get on_hand around it. No change-log row (the caller writes one per sku).
 * Returns 0 or P4GW_EIO. */
int stock_apply_move(struct replica *r, const char *sku, int64_t amount, int64_t occurred_ms,
                     const char *reason, const char *ref, const char *move_id, int64_t *before,
                     int64_t *after);
/* Only the ledger row of a movement (DELTA already decided by the stock rule, AMOUNT as sent):
 * for a caller that keeps on_hand itself and stores it once per sku (a sale's lines). */
int stock_move_row(struct replica *r, const char *sku, int64_t delta, int64_t amount,
                   int64_t occurred_ms, const char *reason, const char *ref);
/* Records a count of ON_HAND units at OCCURRED_MS. A count newer than the latest becomes the
 * baseline: on_hand = ON_HAND + every non-count movement after OCCURRED_MS; an older one is
 * only recorded. *BEFORE and *AFTER as above. Returns 0 or P4GW_EIO. */
int stock_apply_count(struct replica *r, const char *sku, int64_t on_hand, int64_t occurred_ms,
                      const char *move_id, int64_t *before, int64_t *after);

/* Loads SKU's price state (zeroed when unknown; the v1 columns when only those exist). */
int stock_price_load(struct replica *r, const char *sku, struct p4t_price_state *st,
                     bool *exists, char **value);
/* Stores ST for SKU and, when the change-log value changes, writes a change row (to OUT).
 * The value is the whole state when V11 (registers of revision 1.1 only), else the v1 form
 * {"price":P,"ver":V} of the price in effect at NOW_MS (none when no price is in effect).
 * *CHANGED tells whether a change row was written. Returns 0 or P4GW_EIO/ENOMEM. */
int stock_price_store(struct replica *r, int64_t *head, const char *sku,
                      const struct p4t_price_state *st, bool v11, int64_t now_ms,
                      struct change_list *out, bool *changed);
int stock_record_price(struct replica *r, int64_t *head, const char *sku, int64_t price,
                       int64_t ver, struct change_list *out);
struct csv_row {
    char sku[P4T_SKU_MAX + 1];
    int64_t on_hand, price, ver;
};
/* Reads and validates a whole CSV "sku,on_hand,price_minor,price_ver" (optional header line,
 * blank lines skipped). On a bad row writes "CSV:LINE: reason" into ERR and returns
 * P4GW_EINVAL; P4GW_EIO if unreadable. *ROWS is malloc'd, the caller frees it. */
int stock_csv_load(const char *csv_path, struct csv_row **rows, size_t *n_rows, char *err,
                   size_t err_len);
/* Applies ROWS in one transaction: on_hand is absolute (a "count" movement of the delta), the
 * price is set when its version is newer; each change gets a change-log row. */
int stock_import_rows(struct replica *r, const struct csv_row *rows, size_t n_rows, char *err,
                      size_t err_len);
/* Both of the above. */
int stock_import_csv(struct replica *r, const char *csv_path, char *err, size_t err_len);

/* ======================================================================================== */
/* queue.c: bounded multi-producer queue from the Paho callbacks to the core thread        */
/* ======================================================================================== */
enum ev_type {
    EV_LOCAL_MSG,   /* topic + payload from the store broker */
    EV_LOCAL_UP,
    EV_LOCAL_DOWN,
    EV_CLOUD_UP,
    EV_CLOUD_DOWN,
    EV_CLOUD_ACK,   /* batch_id got its PUBACK */
    EV_CLOUD_NACK,  /* batch_id failed */
    EV_CLOUD_MSG,   /* topic + payload from the cloud broker (downlink) */
    EV_CLOUD_SESSION, /* CONNACK: batch_id = 1 when the broker had our session */
    EV_LOCAL_SUBACK,  /* batch_id = the subscription's token, code = its result */
    EV_CLOUD_SUBACK,
};

struct event {
    enum ev_type type;
    char *topic;      /* EV_LOCAL_MSG: owned */
    char *payload;    /* EV_LOCAL_MSG: owned, NUL-terminated copy (maybe truncated) */
    size_t len;       /* bytes in payload */
    size_t orig_len;  /* bytes the broker delivered (len < orig_len when truncated) */
    uint64_t batch_id; /* EV_CLOUD_ACK/NACK: the message token */
    int code;          /* EV_*_SUBACK: granted QoS or reason code (>= 0x80: refused), or a
                        * negative MQTTASYNC_* code when no SUBACK came (connection lost) */
    struct event *next;
};

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct event *head, *tail;
    size_t n_msgs, max_msgs;    /* EV_LOCAL_MSG count and its cap */
    size_t n_bytes, max_bytes;  /* payload bytes and their cap */
    uint64_t dropped;           /* store messages refused because the queue was full */
    uint64_t deferred;          /* cloud messages refused (Paho offers them again later) */
};

/* Initialises CV for timed waits on CLOCK_MONOTONIC (deadlines from clock_gettime of that
 * clock): a wall clock set back or forward must neither spin nor stall a waiting thread.
 * Returns 0 or P4GW_ENOMEM (errno set). */
int p4gw_cond_init_mono(pthread_cond_t *cv);
/* MAX_MSGS and MAX_BYTES bound the store-broker messages held. Control events (connection
 * state, PUBACKs) are never refused: their number is bounded by the links themselves. */
int queue_init(struct queue *q, size_t max_msgs, size_t max_bytes);
void queue_cleanup(struct queue *q);
/* Takes ownership of EV on success. For EV_LOCAL_MSG over the caps returns P4GW_EFULL and the
 * caller frees EV: the sale is dropped, which is safe because its register resends it after
 * its ack timeout; the drop is counted in q->dropped. */
int queue_push(struct queue *q, struct event *ev);
/* Waits up to TIMEOUT_MS for events, then detaches up to MAX_MSGS store-broker messages (and
 * every control event before them) into *OUT (a list the caller frees with event_free). */
void queue_pop(struct queue *q, size_t max_msgs, int timeout_ms, struct event **out);
/* True when nothing waits (a snapshot: a push may follow at once). */
bool queue_empty(struct queue *q);
uint64_t queue_dropped(struct queue *q);
/* Cloud messages refused at the caps: not lost, Paho offers each again (so one message can
 * be counted more than once). */
uint64_t queue_deferred(struct queue *q);
void event_free(struct event *ev);
struct event *event_new(enum ev_type type);

/* ======================================================================================== */
/* local_link.c / cloud_link.c: Paho MQTTAsync clients                                      */
/* ======================================================================================== */
#define LINK_SUBS_MAX 8             /* filters one link subscribes */
#define LINK_SUB_RETRY_MIN_MS 1000  /* a refused subscription is asked again after this, */
#define LINK_SUB_RETRY_MAX_MS 60000 /* doubling up to this while the broker refuses it */
#define LINK_ACCOUNT_MAX 320

enum link_sub_state {
    SUB_WAITING, /* asked on this connection (or not yet): no SUBACK yet */
    SUB_GRANTED,
    SUB_REFUSED, /* the broker answered 0x80 (3.1.1) or a reason code >= 0x80 (5) */
};

/* One subscription of a link, kept by the core thread. */
struct link_sub {
    char filter[P4T_TOPIC_MAX];
    enum link_sub_state state;
    int code;            /* the broker's last answer (granted QoS or refusal code) */
    uint64_t token;      /* of the SUBSCRIBE in flight; a SUBACK of another is stale */
    int64_t retry_ms;    /* monotonic time to ask again (0: nothing due) */
    int refusals;        /* refusals in a row (the backoff doubles with each) */
};

struct link {
    void *client; /* MQTTAsync */
    struct queue *q;
    const struct p4gw_config *cfg;
    bool cloud;
    int mqtt_version;
    char will_topic[P4T_TOPIC_MAX];
    char *uris[P4GW_MAX_URIS]; /* cloud: the connect options' serverURIs (borrowed from cfg) */
    atomic_bool connecting;    /* cloud, several nodes: a connect of ours is under way */
    int retry_s;               /* cloud, several nodes: the current backoff (core thread) */
    int64_t retry_at_ms;       /*   and when the next connect may start */
    char *will_payload;
    char password[256];
    uint64_t refused; /* publishes MQTTAsync_sendMessage refused (core thread only) */
    char account[LINK_ACCOUNT_MAX]; /* who the broker sees us as, for log lines */
    struct link_sub subs[LINK_SUBS_MAX];
    int n_subs;
    uint64_t sub_refusals; /* SUBACKs that refused a subscription, since start */
};

/* Creates the client and starts connecting (automatic reconnect); events go to Q. WILL_* is
 * the retained last will. Returns 0 or P4GW_EMQTT (logged). */
int local_link_start(struct link *l, const struct p4gw_config *cfg, struct queue *q,
                     const char *will_topic, const char *will_payload);
/* Core thread, every loop: with several nodes, while the cloud link is down, starts the next
 * connect (every node from the first) when the backoff allows; once up, resets the backoff.
 * Nothing with one broker (Paho's own automatic reconnect). */
void cloud_link_tick(struct link *l, int64_t now_ms);
int cloud_link_start(struct link *l, const struct p4gw_config *cfg, struct queue *q,
                     const char *will_topic, const char *will_payload);
/* Adds FILTER to the subscriptions L makes on every connect (at start, after *_link_start;
 * at most LINK_SUBS_MAX). Returns 0 or P4GW_EFULL. */
int link_sub_add(struct link *l, const char *filter);
/* The link (re)connected: asks for every subscription at QoS 1 (non-blocking). Each answer
 * comes back as an EV_*_SUBACK event for link_on_suback. */
void link_subscribe_all(struct link *l);
/* Core thread: the SUBACK (or failure) of the SUBSCRIBE with TOKEN, CODE as in struct
 * event. A refusal is logged once per episode (the topic, the account, what to check) and
 * asked again after LINK_SUB_RETRY_MIN_MS, doubling up to LINK_SUB_RETRY_MAX_MS. A stale
 * token (an earlier connection's) is ignored. */
void link_on_suback(struct link *l, uint64_t token, int code, int64_t now_ms);
/* Core thread: asks again for the refused subscriptions whose retry time has come. */
void link_sub_tick(struct link *l, int64_t now_ms);
/* Subscriptions the broker refuses now. */
int link_subs_refused(const struct link *l);
/* Publishes without blocking (Paho copies the payload). With TOKEN non-NULL the message's
 * token is stored there and its completion arrives as EV_CLOUD_ACK/NACK carrying that token.
 * Returns 0 or P4GW_EMQTT (not connected, window full; nothing queued). */
int link_publish(struct link *l, const char *topic, const void *payload, size_t len, int qos,
                 bool retained, uint64_t *token);
bool link_connected(struct link *l);
/* Publishes Paho refused since start (counted by link_publish; logged at debug level). */
uint64_t link_refused(const struct link *l);
/* Disconnects (allowing up to TIMEOUT_MS to flush) and destroys the client. */
void link_stop(struct link *l, int timeout_ms);

/* ======================================================================================== */
/* pending.c: local publishes Paho refused, retried in order by the core thread            */
/* ======================================================================================== */
struct out_msg;

struct pending {
    struct out_msg *items; /* items[first .. first+n) are waiting, oldest first */
    size_t first, n, cap;
    size_t bytes;          /* payload bytes held */
    size_t max_msgs, max_bytes;
    uint64_t dropped;      /* refused at the cap (logged on powers of two) */
    uint64_t retried;      /* sent by pending_flush */
};

int pending_init(struct pending *p, size_t max_msgs, size_t max_bytes);
/* Takes ownership of PAYLOAD (malloc'd, LEN bytes) in every case. Over the caps the message is
 * freed, counted and P4GW_EFULL returned. */
int pending_push(struct pending *p, const char *topic, char *payload, size_t len,
                 bool retained);
/* Publishes waiting messages in order (QoS 1) until Paho refuses one; returns how many left. */
int pending_flush(struct pending *p, struct link *l);
/* Forgets everything waiting (the connection they were meant for is gone). */
void pending_clear(struct pending *p);
void pending_cleanup(struct pending *p);

/* ======================================================================================== */
/* outbox.c: the cloud sender                                                               */
/* ======================================================================================== */
struct inflight {
    uint64_t batch_id; /* the MQTT token of its publish */
    int64_t first_oid, last_oid;
    int64_t last_gw_seq; /* highest sale gw_seq in it (0 for an alert) */
    uint32_t n;
    uint32_t wire_bytes; /* the payload as published (compressed or not) */
    bool current; /* sent on the current connection; false once the connection was lost */
    bool live;    /* sent in the live lane (lanes.c) */
};

/* ======================================================================================== */
/* lanes.c: the live lane beside a draining backlog                                         */
/* ======================================================================================== */
/* After a reconnect the undelivered records up to the outbox head are the backlog; records
 * made since are live. While both have rows to send ("split") the live lane goes first with
 * up to half the window's slots, and the backlog goes behind in oid order with the other
 * slots and at most [cloud] backlog_window_bytes awaiting PUBACK, so a live batch never
 * queues behind more than that on the WAN. Once the whole backlog was sent and acknowledged
 * by the broker the lanes merge into the one in-order sender of before. */
enum lane { LANE_BACKLOG = 0, LANE_LIVE = 1 };

struct lanes {
    bool split;          /* a backlog drains beside the live lane */
    bool backlog_sent;   /* every backlog row was handed to the link on this connection */
    int64_t live_from;   /* oids >= this are live (the outbox head at the reconnect + 1) */
    int64_t live_upto;   /* the live lane's highest oid handed to the link */
    int64_t live_acked_gw_seq; /* highest sale gw_seq of a live batch the broker acknowledged */
    int64_t backlog_gw_seq;    /* highest sale gw_seq of the backlog handed to the link */
};

/* What to read next: rows AFTER < oid <= UPTO into a batch of at most MAX_BYTES of JSON. */
struct lane_next {
    enum lane lane;
    int64_t after, upto;
    int64_t max_bytes;
};

/* The sender (re)starts from FIRST_PENDING_OID (0: nothing undelivered) with HEAD_OID the
 * newest row: splits when [cloud] live_lane is on and there is a backlog. */
void lanes_start(struct lanes *ln, const struct p4gw_config *cfg, int64_t first_pending_oid,
                 int64_t head_oid);
/* The lane of the next batch, given the window WIN (WIN_N entries), the backlog's cursor
 * SENT_UPTO and HQ's watermark HQ_THROUGH (< 0: delivered_on = puback); SKIP has bit
 * (1 << lane) set for lanes found empty during this fill. False when no lane may send now
 * (the window, the byte budget or backlog_ahead_max is full, or both lanes are empty). */
bool lanes_next(const struct lanes *ln, const struct p4gw_config *cfg,
                const struct inflight *win, size_t win_n, int64_t sent_upto, int64_t hq_through,
                unsigned skip, struct lane_next *out);
/* Batch B of LANE was handed to the link: moves that lane's cursor (the
 * backlog's, and the single lane's when not split, is *SENT_UPTO). */
void lanes_sent(struct lanes *ln, enum lane lane, const struct inflight *b, int64_t *sent_upto);
/* The backlog has no row left to send: *SENT_UPTO moves to its end. */
void lanes_backlog_empty(struct lanes *ln, int64_t *sent_upto);
/* When the backlog was all sent and none of its batches awaits a PUBACK, ends the split
 * (*SENT_UPTO goes on after the live lane's cursor) and returns true. */
bool lanes_try_merge(struct lanes *ln, const struct inflight *win, size_t win_n,
                     int64_t *sent_upto);

/* The lanes as the status shows them (outbox_lanes_view). */
struct lanes_view {
    int64_t backlog;       /* undelivered records made before the link came back */
    int64_t backlog_age_s; /* age of the oldest sale among them, by its ts (0: none) */
    int64_t live;          /* undelivered records made since */
};

/* What HQ lost, found by outbox_hq_rewind. */
struct outbox_loss {
    int64_t through;     /* HQ's watermark now (-1: no rewind in the open transaction) */
    int64_t held;        /* the watermark the gateway held before */
    int64_t reopened;    /* sale rows marked undelivered again, to be sent once more */
    int64_t pruned_from; /* gw_seq pruned_from..pruned_to HQ lacks and the replica no longer */
    int64_t pruned_to;   /* holds (0..0 when none): only registers' journals or backups have them */
};

struct outbox {
    struct replica *r;
    const struct p4gw_config *cfg;
    char topic[P4T_TOPIC_MAX];       /* up/sale: batches of sale records */
    char alert_topic[P4T_TOPIC_MAX]; /* up/alert: one alert per message */
    char customer_topic[P4T_TOPIC_MAX]; /* up/customer (1.2): one sign-up message each */
    bool connected;
    bool wait_hq;             /* delivered_on = hq: a sale record waits for HQ's watermark */
    int64_t sent_upto;        /* highest oid handed to the link on this connection */
    struct inflight *win;     /* outstanding batches, oldest first, cap = max_inflight * 4 */
    size_t win_cap, win_n;
    size_t n_current;         /* outstanding batches of the current connection */
    int64_t undelivered;      /* outbox rows not yet delivered (as committed) */
    int64_t unmarking;        /* rows the open transaction marks delivered: taken from
                               * undelivered by outbox_txn_done only once it committed */
    int64_t delivered;        /* every sale gw_seq <= this was delivered */
    int64_t acked_gw_seq;     /* highest sale gw_seq the cloud broker acknowledged (PUBACK) */
    int64_t hq_through;       /* highest HQ watermark received (down/ack) */
    int64_t hq_marked;        /* the watermark the replica holds (rows marked, meta) */
    int64_t hq_marking;       /* the watermark the open transaction marks */
    int64_t hq_wait_ms;       /* since when (monotonic) acknowledged records wait for HQ; 0:
                               * none wait, or the clock restarts at the next PUBACK */
    int hq_backoff;           /* resends in a row without HQ moving its watermark */
    int64_t hq_resends;       /* resends because HQ did not cover acknowledged records */
    int64_t hq_low;           /* lowest watermark below hq_through received since the last one
                               * at or above it (-1: none): HQ may have lost records */
    int64_t hq_low_ms;        /* when (monotonic) the first of those came */
    struct outbox_loss lost;  /* the rewind of the open transaction (lost.through = -1: none) */
    int64_t hq_rewinds;       /* times HQ's watermark went back and records were sent again */
    int64_t hq_reopened;      /* sale records marked undelivered again by those */
    struct lanes lanes;       /* the live lane beside a draining backlog (lanes.c) */
    int64_t last_ack_ms;      /* NOW_MS of the latest PUBACK (starts the HQ timer at a merge) */
    int64_t records_sent;     /* counters for logs */
    int64_t records_acked;
    bool over_cap;            /* the outbox_cap alert was raised for this crossing */
    /* Delivered marks (oid ranges) of PUBACKs not yet committed: marked by the next
     * transaction that commits (outbox_mark_delivered). When a commit fails (disk full,
     * read-only replica) they stay here, instead of rewinding the sender, which would resend
     * records the cloud already acknowledged. At OUTBOX_UNMARKED_MAX the oldest ranges are
     * let go and the sender rewinds (resending is safe, only slower). */
    struct mark_range *unmarked;
    size_t n_unmarked;
    bool unmarked_lost;
};

#define OUTBOX_UNMARKED_MAX 4096
/* While HQ does not move its watermark, each resend waits twice as long as the one before,
 * up to hq_resend_s << OUTBOX_RESEND_SHIFT_MAX: an HQ that is down for hours does not get the
 * whole backlog once a minute. HQ's next move starts again from hq_resend_s. */
#define OUTBOX_RESEND_SHIFT_MAX 3
struct mark_range {
    int64_t first_oid, last_oid;
};

/* Reads the undelivered count and the delivered positions (HQ's watermark from meta
 * `hq_through`). Returns 0, P4GW_EINVAL, P4GW_ENOMEM or P4GW_EIO. */
int outbox_init(struct outbox *o, struct replica *r, const struct p4gw_config *cfg);
void outbox_cleanup(struct outbox *o);
/* The cloud link came up / went down: every undelivered record is sent again after a
 * reconnect, from the oldest. */
void outbox_link_up(struct outbox *o);
void outbox_link_down(struct outbox *o);
/* PUBACK of BATCH_ID at NOW_MS (monotonic): frees its window slot. Alerts, and with
 * delivered_on = puback sale records, are marked delivered by the next transaction that
 * commits; with delivered_on = hq a sale record waits for HQ's watermark. Touches no SQLite,
 * so the core thread calls it for every PUBACK, whatever happens to the group's transaction.
 * Unknown ids are ignored. */
void outbox_on_ack(struct outbox *o, uint64_t batch_id, int64_t now_ms);
void outbox_on_nack(struct outbox *o, uint64_t batch_id);
/* HQ's committed watermark THROUGH (down/ack) arrived at NOW_MS (monotonic). A higher one is
 * kept at once; the records it covers are marked by the next transaction that commits. A lower
 * one does not move it (false) but starts the wait of outbox_hq_lost, which one at or above
 * the held watermark ends. No SQLite. Returns whether it moved. */
bool outbox_on_hq_ack(struct outbox *o, int64_t through, int64_t now_ms);
/* With delivered_on = hq and the link up: true when HQ's watermark has stayed below the one
 * held for hq_resend_s (HQ lost records: its database was restored from an older backup);
 * *THROUGH gets the lowest watermark HQ sent meanwhile. */
bool outbox_hq_lost(const struct outbox *o, int64_t now_ms, int64_t *through);
/* Inside the caller's transaction (after outbox_mark_delivered): marks every retained sale
 * record above THROUGH undelivered again and stores THROUGH as meta hq_through. *LOSS (may be
 * NULL) gets what was reopened and the gw_seq range HQ lacks that was already pruned. Once the
 * transaction commits, outbox_txn_done lowers the watermark, the depth and the delivered
 * position and rewinds the sender; a rollback forgets it (outbox_hq_lost says so again).
 * Returns 0 or P4GW_EIO. */
int outbox_hq_rewind(struct outbox *o, int64_t through, struct outbox_loss *loss);
/* Inside the caller's transaction, just before COMMIT: marks delivered what PUBACKs and HQ's
 * watermark settled since the last commit, and stores the watermark (meta hq_through).
 * Returns 0 or P4GW_EIO (roll back; the marks are kept for the next transaction). */
int outbox_mark_delivered(struct outbox *o);
/* After a transaction: COMMITTED forgets the marks it carried; otherwise they are kept for
 * the next one (or, if some were let go, the sender rewinds to the oldest undelivered). */
void outbox_txn_done(struct outbox *o, bool committed);
/* The HQ resend timer, at NOW_MS (monotonic): with delivered_on = hq, when records the broker
 * acknowledged have waited hq_resend_s (doubling while HQ does not move, see
 * OUTBOX_RESEND_SHIFT_MAX) with the link up, sending restarts from the oldest undelivered
 * record. Returns true when it did. */
bool outbox_tick(struct outbox *o, int64_t now_ms);
/* Sends batches (sale records) and alerts in oid order until the window is full or nothing
 * is pending. Returns rows sent. */
int outbox_fill(struct outbox *o, struct link *cloud);
/* Updates *V to the lanes now: with the link down every undelivered record is backlog, with
 * the link up and no split every one is live. With QUERY the replica is read (the backlog
 * while split, counted by the outbox_pending index, and the ts of its oldest sale for the age
 * at NOW_MS, Unix ms); without, while split, *V keeps what was counted last time (backlog and
 * live of one moment). Returns 0 or P4GW_EIO. */
int outbox_lanes_view(struct outbox *o, int64_t now_ms, bool query, struct lanes_view *v);
/* Deletes up to LIMIT delivered rows, oldest first, that were delivered more than
 * keep_delivered_h hours before NOW_MS (Unix ms; any with keep_delivered_h = 0), stopping at
 * the first one that was not (its own statement). Returns the rows deleted or P4GW_EIO. */
int outbox_prune(struct outbox *o, int limit, int64_t now_ms);

/* ======================================================================================== */
/* group.c: the open group transaction's context, shared by ingest, holds, loyalty, downlink */
/* ======================================================================================== */
/* A message to publish after the commit. */
struct out_msg {
    char topic[P4T_TOPIC_MAX];
    char *payload; /* malloc'd */
    size_t len;
    bool retained;
};

struct out_list {
    struct out_msg *items;
    size_t n, cap;
};
int out_list_push(struct out_list *l, const char *topic, char *payload);
void out_list_clear(struct out_list *l);

#define P4GW_GROUP_ALERTS_MAX 64 /* alerts kept for local publishing per group; more are
                                   * still stored in the outbox (HQ gets them), only logged */

/* The open group transaction: one per core thread, begun and ended with it. */
struct group {
    struct replica *r;
    const struct p4gw_config *cfg;
    int64_t gw_head;      /* newest gw_seq committed or in the open transaction */
    int64_t change_head;  /* newest change seq */
    struct change_list changes; /* changes of the open transaction */
    struct out_list acks;       /* acks of the open transaction */
    struct out_list alerts;     /* alert texts of the open transaction (topic unused) */
    struct out_list deferred;   /* alerts of the sale being applied, stored after its row */
    bool defer_alerts;
    int64_t n_new;              /* outbox rows added in the open transaction */
    int64_t n_alerts;           /* alerts committed since start */
    bool wan_up;                /* the cloud link is up (set by the core loop) */
    /* A new replica (a replaced gateway) that has not yet learnt from HQ where to continue
     * gw_seq: it takes no sale until it knows (contract 6.7 max_gw_seq). */
    bool gw_seq_unknown;
    /* Sales committed since start: accepted, answered as duplicates, rejected. What the open
     * transaction did is counted in txn_* and added by group_done, after its COMMIT: a group
     * that fails (disk full) and is resent again and again counts once, when it commits. */
    int64_t n_ok, n_dup, n_rej;
    int64_t txn_ok, txn_dup, txn_rej, txn_alerts;
    int64_t gw_head_begin, change_head_begin; /* the heads at BEGIN, restored by abort */
    struct p4t_sale sale;       /* scratch: large, kept off the stack */
    struct p4t_alert alert;     /* scratch */
    struct p4t_hold_req hold_req;     /* scratch */
    struct p4t_hold_reply hold_reply; /* scratch */
};

/* Stores alert A (kind, severity, message, sku, sales, details filled by the caller) with the
 * id derived from KEY: an outbox row (kind alert, for HQ) and a copy to publish locally after
 * the commit. Inside the open transaction. Returns 0 or P4GW_EIO/ENOMEM. */
int group_alert(struct group *grp, struct p4t_alert *a, const char *key);

int group_init(struct group *grp, struct replica *r, const struct p4gw_config *cfg);
void group_cleanup(struct group *grp);
/* Re-reads the heads (called at every BEGIN so an import running beside us stays safe). */
int group_begin(struct group *grp);
/* Stores a rejected message for inspection (inside the open transaction). */
int group_reject(struct group *grp, const char *topic, const char *payload, size_t len,
                  const char *reason, int64_t now_ms);
/* After ROLLBACK: forgets acks, changes and counts of the failed transaction and puts the
 * heads back to their committed values. */
void group_abort(struct group *grp);
/* After COMMIT: counts the group's sales and forgets its lists once they were published. */
void group_done(struct group *grp);
/* Stores an encoded alert TEXT (owned from here on) in the outbox and keeps it for local
 * publishing after the commit. Returns 0 or P4GW_EIO/ENOMEM. */
int group_store_alert(struct group *grp, char *text);

/* ======================================================================================== */
/* ingest.c: sales from the store broker into the replica                                   */
/* ======================================================================================== */
/* Applies one message from the sale topic inside the open transaction, queuing its ack.
 * Returns 0 (accepted, duplicate or rejected: all answered) or P4GW_EIO (the transaction
 * must be rolled back; nothing is acknowledged). */
int ingest_sale(struct group *grp, const char *topic, const char *payload, size_t len,
                size_t orig_len, int64_t now_ms);

/* ======================================================================================== */
/* loyalty.c: the points ledger and balance of each customer                                */
/* ======================================================================================== */
/* Recomputes CUSTOMER's balance (baseline + ledger entries after its as_of) and, when it
 * changed or is new, stores it with a `loyalty` change row. *BALANCE gets it. */
int loyalty_refresh(struct group *grp, const char *customer, int64_t *balance);
/* Adds a ledger entry (ENTRY NULL for a sale's own points, else HQ's idempotency key: an entry
 * already held is a no-op and *ADDED is false) and refreshes the balance. */
int loyalty_add(struct group *grp, const char *customer, const char *entry, int64_t points,
                int64_t at_ms, const char *source, const char *ref, const char *reason,
                bool *added, int64_t *balance);

/* ======================================================================================== */
/* downlink.c: HQ's down/{kind} messages into the replica                                  */
/* ======================================================================================== */
/* Applies one cloud message (topic + payload of ORIG_LEN bytes, LEN kept) inside the open
 * transaction: all items or none (a savepoint), idempotent and version-ordered. An invalid
 * message is stored in rejects and raises a bad_downlink alert; a topic that is not ours or of
 * an unknown kind is ignored. Returns 0 or P4GW_EIO (roll the group back). */
int downlink_apply(struct group *grp, const char *topic, const char *payload, size_t len,
                   size_t orig_len, int64_t now_ms);
/* Highest versions held per kind, for a resync request. */
int downlink_since(struct replica *r, struct p4t_resync *out);
#define P4GW_PRICE_EDGES_BATCH 64 /* prices republished per pass; the rest the next second */
/* Republishes (v1 registers) the prices whose price in effect changed by NOW_MS because a
 * window started or ended, at most P4GW_PRICE_EDGES_BATCH. Inside the open transaction. */
int downlink_price_edges(struct group *grp, int64_t now_ms);
/* Decodes HQ's watermark (p4/v1/T/S/down/ack, contract 6.7) from one cloud message: *THROUGH
 * gets it, or -1 when the message is refused. A refused message is logged with the field at
 * fault and, when STORE_REJECT (a transaction is open), kept in rejects with a bad_downlink
 * alert like other bad downlink. Returns 0 or P4GW_EIO (roll the group back). */
int downlink_hq_ack(struct group *grp, const char *topic, const char *payload, size_t len,
                    size_t orig_len, int64_t now_ms, bool store_reject, int64_t *through,
                    struct p4t_hq_ack *ack);

/* wire.c: compressed payloads on the cloud link (contract 1.3, README 6.10). Core thread only. */
/* HQ's capabilities (p4/v1/T/_all/down/caps) arrived: remembers whether HQ reads our
 * dictionary. A message it cannot read counts as "plain JSON only". Returns 0. */
int wire_on_caps(const char *topic, const char *payload, size_t len);
bool wire_hq_reads_zstd(void);
/* Replaces *TEXT (malloc'd, *LEN bytes) with its zstd frame when [cloud] compress = zstd and HQ
 * reads it; otherwise, or when compression fails, leaves it as it is. Never fails. */
void wire_pack(const struct p4gw_config *cfg, char **text, size_t *len);
/* Counters since start: messages packed and sent plain, their JSON and their wire bytes. */
void wire_stats(uint64_t *packed, uint64_t *plain, uint64_t *json_bytes, uint64_t *wire_bytes);
/* A downlink payload that is a zstd frame is inflated (at most P4T_MAX_DOWN_PAYLOAD bytes):
 * *PAYLOAD and *LEN then point at *OWNED (caller frees). JSON is left as it is (*OWNED NULL).
 * Returns 0, P4GW_EINVAL with REASON (the frame is refused) or P4GW_ENOMEM. */
int wire_unpack_down(const char **payload, size_t *len, char **owned, char *reason,
                     size_t reason_len);

/* ======================================================================================== */
/* customers.c: customer lookups and sign-ups from registers (contract 1.2)                 */
/* ======================================================================================== */
/* A register's lookup (pos/v1/S/reg/R/lookup): validated and published to HQ on up/lookup
 * through CLOUD, or dropped when CLOUD is NULL (the WAN is down: the register keeps its cached
 * view). Not through the outbox: a late answer is worth nothing at the till. A bad one goes to
 * rejects. Inside the open transaction; returns 0 or P4GW_EIO/ENOMEM. */
int customers_lookup(struct group *grp, struct link *cloud, const char *topic,
                     const char *payload, size_t len, size_t orig_len, int64_t now_ms);
/* A register's sign-up (pos/v1/S/reg/R/customer, a down/customer message): each card the
 * replica does not hold is stored as the store's own version (ver 0: any HQ item replaces it)
 * with a change row; the message goes to the outbox for up/customer and back to the register
 * as its ack (reg/R/customer/ack) after the commit. A bad one goes to rejects, unacknowledged.
 * Inside the open transaction; returns 0 or P4GW_EIO/ENOMEM. */
int customers_signup(struct group *grp, const char *topic, const char *payload, size_t len,
                     size_t orig_len, int64_t now_ms);

/* ======================================================================================== */
/* holds.c: stock holds (policy negative_stock = hold)                                     */
/* ======================================================================================== */
/* Answers one hold request or release from pos/v1/S/reg/R/hold: the reply goes to grp->acks
 * (published after the commit, like acks). Returns 0 or P4GW_EIO. */
int holds_request(struct group *grp, const char *topic, const char *payload, size_t len,
                  size_t orig_len, int64_t now_ms);
/* A sale carrying HOLD consumed it: the hold ends. */
int holds_consume(struct group *grp, const char *reg, const char *hold);
#define P4GW_HOLDS_EXPIRE_BATCH 100 /* holds ended per pass; the rest the next second */
/* Ends holds whose time is up, at most P4GW_HOLDS_EXPIRE_BATCH; returns how many. */
int holds_expire(struct group *grp, int64_t now_ms);

/* ======================================================================================== */
/* sync.c: sync requests and change messages                                                */
/* ======================================================================================== */
#define P4GW_SYNC_CHUNK 500
#define P4GW_SYNC_LOG_MAX_BEHIND 2000 /* a cursor further behind head gets a snapshot */
/* Snapshots are streamed by sync_pump a little at a time so sales keep being acknowledged:
 * one pass reads one consistent state on its own read connection and serves every register
 * that asked before its first chunk went out. */
#define P4GW_SNAP_TARGETS_MAX 32     /* registers served by one pass */
#define P4GW_SNAP_WAIT_MAX 256       /* requests waiting for the next pass: at the maximum a new
                                      * one is dropped (logged); its register asks again */
#define P4GW_SNAP_ROWS_MAX 8000000   /* state rows one pass sorts (16 bytes each); a replica
                                      * beyond this gets no snapshot (logged) */
#define P4GW_SNAP_PUMP_ROWS 16000    /* rows read per sync_pump call while collecting */
#define P4GW_SNAP_PUMP_MS 4          /* chunks are emitted for this long per sync_pump call */

struct snap_req {
    char reg[P4T_ID_MAX + 1];
    char req_id[P4T_ID_MAX + 1];
};

struct snap_row; /* sync.c */

enum snap_stmt { SN_BEGIN, SN_END, SN_HEAD, SN_COLLECT, SN_STOCK, SN_PRICE, SN_PROMO, SN_CUST,
                 SN_LOY, SN_COUNT };

struct syncer {
    struct replica *r;
    char store[P4T_ID_MAX + 1];
    sqlite3 *db;                       /* read connection (opened at the first snapshot) */
    sqlite3_stmt *st[SN_COUNT];
    struct snap_req waiting[P4GW_SNAP_WAIT_MAX];
    size_t n_waiting;
    /* the pass in progress */
    bool active;                       /* a read transaction is open */
    bool emitting;                     /* rows collected and sorted: chunks are going out */
    struct snap_req targets[P4GW_SNAP_TARGETS_MAX];
    int64_t target_last_seq[P4GW_SNAP_TARGETS_MAX];
    size_t n_targets;
    struct snap_row *rows;             /* (seq, entity, rowid) of every state row */
    size_t n_rows, cap_rows, next_row;
    int64_t head;
    int64_t started_ms;
    uint64_t passes, dropped;
};

void sync_init(struct syncer *s, struct replica *r, const char *store);
void sync_cleanup(struct syncer *s);
/* Decides how to answer cursor CURSOR: 0 = log slice, 1 = snapshot. */
int sync_decide(struct replica *r, int64_t cursor, int64_t *head, bool *snapshot);
/* Answers register REG's request: a log slice at once into OUT (topics and payloads); a
 * snapshot is queued for sync_pump. Returns 0 or P4GW_EIO/ENOMEM. */
int sync_request(struct syncer *s, const char *reg, const struct p4t_sync_req *req,
                 struct out_list *out);
/* Does a bounded step of snapshot work (P4GW_SNAP_PUMP_ROWS rows read, or chunks into OUT for
 * about P4GW_SNAP_PUMP_MS, at least one). *BUSY tells whether more is to do.
 * On a database failure the pass is dropped (logged) and its registers ask again. */
int sync_pump(struct syncer *s, struct out_list *out, bool *busy);
/* Forgets the pass in progress and every waiting request (the store link went down: the
 * registers sync again after they reconnect). */
void sync_reset(struct syncer *s);
/* sync_request then sync_pump until done, for one request (tools and tests). */
int sync_answer(struct replica *r, const char *store, const char *reg,
                const struct p4t_sync_req *req, struct out_list *out);
/* Encodes CHANGES (in seq order) as change messages of at most P4GW_SYNC_CHUNK items. */
int sync_changes_msgs(const struct change_list *changes, const char *topic,
                      struct out_list *out);

/* ======================================================================================== */
/* status.c: retained status and alerts                                                     */
/* ======================================================================================== */
/* Encodes a status payload for STATE ("online", "wan_down", "offline"). HQ_THROUGH < 0 leaves
 * the optional hq_through out (delivered_on = puback); LANES NULL leaves the lane fields out
 * (status_revision 1.3). *OUT malloc'd. */
int status_encode(const char *state, int64_t outbox, int64_t delivered, int64_t hq_through,
                  int64_t epoch, const struct lanes_view *lanes, char **out);
/* Alerts are built where their condition is found and stored by group_alert (group.c). */

/* ======================================================================================== */
/* gateway.c: the core loop                                                                 */
/* ======================================================================================== */
extern volatile sig_atomic_t p4gw_stop_flag;
extern volatile sig_atomic_t p4gw_reopen_flag;
/* pthread_sigmask(HOW) of the signals that set those flags (SIGTERM, SIGINT, SIGHUP): main
 * blocks them before any thread exists, so every helper thread inherits the block, and
 * p4gw_run unblocks them on its own thread once every helper runs. Returns 0 or an errno. */
int p4gw_signals_mask(int how);

/* Runs the gateway until p4gw_stop_flag is set. Returns 0 on a clean stop, 1 on failure. */
int p4gw_run(const struct p4gw_config *cfg);

#endif
