/* SPDX-License-Identifier: Apache-2.0 */
/* The libp4term handle's state, and the functions its files (one concept each) share. */
#ifndef P4TERM_TERM_H
#define P4TERM_TERM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "shim.h"

/* Oldest pending sales held in memory for sending; the rest wait in the journal. At the
 * maximum nothing is lost: more are loaded as acks free room. */
#define WINDOW_MAX 256
/* Messages handled per worker turn before timers are looked at again. */
#define DRAIN_MAX 512
/* A sync whose next reply chunk does not come within this is asked again; the wait doubles
 * on each overdue reply up to the maximum and resets when a sync completes. */
#define SYNC_TIMEOUT_MS 5000
#define SYNC_TIMEOUT_MAX_MS 60000
/* Sync requests of this connection whose replies are still accepted. A busy gateway may answer
 * an earlier request after we asked again: taking that answer ends the sync sooner than
 * waiting for the newest (and a gateway would serve every repeat in turn). At the maximum the
 * oldest is forgotten. */
#define SYNC_ASKED_MAX 4
#define RECONNECT_MIN_MS 250
#define RECONNECT_MAX_MS 4000
/* Hold requests waiting for their reply at once (one per till is the normal case). At the
 * maximum p4term_hold() answers P4TERM_EUNAVAIL at once instead of queueing. */
#define HOLD_WAIT_MAX 16
/* Customer lookups waiting for HQ's answer at once; at the maximum p4term_lookup() answers
 * from the cache at once. */
#define LOOKUP_WAIT_MAX 16
/* Sign-ups published per worker turn (the rest wait for the next resend). */
#define SIGNUP_SEND_MAX 64
/* For this long after p4term_open a lookup waits (within its timeout) for the link and the
 * gateway's status; later a link that is down means "answer from the cache" at once. */
#define LOOKUP_START_GRACE_MS 3000

/* One customer lookup between p4term_lookup() (the caller's thread) and the worker, under mu:
 * done when a change of the customer's customer or loyalty entity was applied. */
struct lookup_wait {
    bool used;
    bool done;
    char customer[P4T_CUSTOMER_MAX + 1];
    char *payload; /* to publish; owned here until the worker sent it */
};

/* One pending sale in the send window (window.c). */
struct pend {
    int64_t lid;
    char id[P4T_UUID_MAX + 1];
    int64_t seq;
    char *payload;
    size_t len;
    int64_t next_due_ms; /* monotonic; 0 = send now */
    int64_t sent_ms;     /* monotonic time of the last send */
    int attempts;        /* sends since the last reconnect or gateway restart */
};

struct ack_item {
    struct p4t_ack ack;
};

/* One hold request between p4term_hold() (the caller's thread) and the worker, under mu. */
struct hold_wait {
    bool used;
    bool done;                     /* the reply is in *reply */
    char req_id[P4T_ID_MAX + 1];
    char *payload;                 /* to publish; owned here until the worker sent it */
    struct p4t_hold_reply *reply;  /* owned by the waiting caller */
};

struct p4term {
    char broker_uri[512]; /* for TCP_NODELAY on this link's socket only */
    char store[P4T_ID_MAX + 1];
    char reg[P4T_ID_MAX + 1];
    char t_sale[P4T_TOPIC_MAX], t_sync[P4T_TOPIC_MAX];
    char t_ack[P4T_TOPIC_MAX], t_reply[P4T_TOPIC_MAX];
    char t_changes[P4T_TOPIC_MAX], t_alert[P4T_TOPIC_MAX], t_status[P4T_TOPIC_MAX];
    char t_hold[P4T_TOPIC_MAX], t_hold_reply[P4T_TOPIC_MAX];
    char t_lookup[P4T_TOPIC_MAX], t_customer[P4T_TOPIC_MAX], t_customer_ack[P4T_TOPIC_MAX];
    int64_t ack_timeout_ms;
    bool offline_redeem_allow;
    int64_t resend_max_ms;
    p4term_event_cb cb;
    void *user;

    /* db_mu: the journal, the cache and the seq counter (the caller's thread appends sales
     * while the worker records acks; sale() must commit before it returns, so it cannot hand
     * the write to the worker without waiting for it). */
    pthread_mutex_t db_mu;
    struct journal *j;
    struct cache *c;
    int64_t next_seq;
    bool seq_known;

    /* mu: wake-up and the few flags the API reads. term_wake() takes it from Paho's thread,
     * so no link_* call is made while holding it (see link.c). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wake;
    bool stop;
    bool kick;
    bool up;     /* link up and subscribed, as the worker last saw it */
    bool synced; /* a sync completed since open */
    bool gw_reachable; /* up, and the gateway's status is online or wan_down */
    bool gw_holds;     /* the gateway has answered a hold request: it reads 1.1 sale fields */
    pthread_cond_t hold_cv; /* a hold reply arrived (CLOCK_MONOTONIC) */
    struct hold_wait holds[HOLD_WAIT_MAX];
    uint32_t hold_counter;
    pthread_cond_t lookup_cv; /* a lookup was answered, or the link or gateway state changed */
    struct lookup_wait lookups[LOOKUP_WAIT_MAX];
    uint32_t lookup_counter;
    bool signup_now;          /* a sign-up was journaled: send it at the worker's next turn */
    int64_t opened_ms;        /* monotonic time of p4term_open (set once, read-only after) */

    bool offline;
    bool thread_started;
    pthread_t thread;
    struct link *link;

    /* worker thread only */
    struct pend win[WINDOW_MAX];
    size_t n_win;
    int64_t last_loaded_lid;
    uint64_t seen_gen;
    int64_t next_connect_ms;
    int64_t reconnect_backoff_ms;
    bool sync_needed;
    bool sync_active;
    char asked[SYNC_ASKED_MAX][P4T_ID_MAX + 1]; /* outstanding requests, oldest first */
    size_t n_asked;
    char req_id[P4T_ID_MAX + 1]; /* the request whose replies are being applied ("": none) */
    uint32_t req_counter;
    int64_t sync_last_ms;
    int sync_chunks;
    int64_t sync_from; /* the cache cursor when the current sync's first reply came */
    int64_t sync_timeout_ms;
    char gw_state[16];
    struct ack_item acks[DRAIN_MAX];
    size_t n_acks;
    int64_t last_ack_ms;   /* monotonic time the last ack arrived (any status) */
    int64_t acked_sent_ms; /* newest send time among sales acked from the window */
    int64_t signup_due_ms;     /* monotonic: unacknowledged sign-ups go (again) at this time */
    int64_t signup_backoff_ms;
};

/* ---- term.c: open/close, wake-up, events ---- */
/* The absolute CLOCK_MONOTONIC time IN_MS from now, for pthread_cond_timedwait() on the
 * handle's condition variables (created on that clock). */
void term_deadline(struct timespec *until, int64_t in_ms);
/* Wakes the worker (CTX is the handle); the link's WAKE, so it runs on Paho's thread too. */
void term_wake(void *ctx);
/* Hands EV to the application's callback, if any (worker thread). */
void term_emit(struct p4term *t, const struct p4term_event *ev);
/* Emits a P4TERM_EV_CHANGE for each item of CH with seq in LO..HI (none when LO is 0). */
void term_emit_changes(struct p4term *t, const struct p4t_changes *ch, int64_t lo, int64_t hi);
/* Called with mu held, on the worker thread (gw_state is the worker's). */
void term_reachable_update_locked(struct p4term *t);

/* ---- window.c: the send window (worker thread) ---- */
void window_reset_dues(struct p4term *t);
void window_remove(struct p4term *t, const char *id);
void window_clear(struct p4term *t);
void window_refill(struct p4term *t);
void window_send(struct p4term *t, int64_t now);

/* ---- numbering.c: seqs for a fresh journal's sales ---- */
int numbering_assign(struct p4term *t, int64_t last_sale_seq, int64_t *last_out);

/* ---- handlers.c: messages from the store broker (worker thread) ---- */
void handlers_dispatch(struct p4term *t, const struct link_msg *m);
void handlers_flush_acks(struct p4term *t);
/* Logs M as rejected for REASON and keeps it in the journal's rejects for inspection. */
void handlers_keep_reject(struct p4term *t, const struct link_msg *m, const char *reason);

/* ---- sync.c: the cache's sync state machine (worker thread) ---- */
void sync_forget(struct p4term *t);
void sync_restart(struct p4term *t);
void sync_handle_reply(struct p4term *t, const struct link_msg *m);
void sync_tick(struct p4term *t, int64_t now, int64_t *next_wake_ms);

/* ---- holds.c: the hold rendezvous between callers and the worker ---- */
void holds_handle_reply(struct p4term *t, const struct link_msg *m);
void holds_send(struct p4term *t);

/* ---- customers.c: lookups at HQ and sign-ups (contract 1.2) ---- */
/* Ends the lookups waiting for a customer that CH's items LO..HI change (worker thread). */
void customers_note_changes(struct p4term *t, const struct p4t_changes *ch, int64_t lo,
                            int64_t hi);
/* The gateway's ack of a sign-up message: marks its items in the journal (worker thread). */
void customers_handle_ack(struct p4term *t, const struct link_msg *m);
/* Publishes queued lookups, and unacknowledged sign-ups when due (worker thread, link up);
 * lowers *NEXT_WAKE_MS to the next resend. */
void customers_send(struct p4term *t, int64_t now, int64_t *next_wake_ms);
/* Frees what the lookup slots still hold (p4term_close). */
void customers_cleanup(struct p4term *t);

/* ---- basket.c: pricing a sale from the cache and the loyalty redeem policy ---- */
int basket_price_lines(struct p4term *t, struct p4t_sale *s, bool *priced, char *reason,
                       size_t reason_len);
int basket_check_redeem(struct p4term *t, const struct p4t_sale *s, bool reachable,
                        char *reason, size_t reason_len);

/* ---- worker.c: the worker thread ---- */
/* The thread's body (ARG is the handle): runs until t->stop. */
void *worker_main(void *arg);

#endif
