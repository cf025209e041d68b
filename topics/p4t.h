/* SPDX-License-Identifier: Apache-2.0 */
/* The v1 contract: topic names and message codecs shared by the gateway, the shim and tests.
 * topics/README.md is the normative description; this header is its C form. */
#ifndef P4T_H
#define P4T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P4T_CONTRACT_VERSION 1

/* ---- limits (every one is enforced by the decoders) ---- */
#define P4T_ID_MAX 32             /* tenant, store, register ids: [a-z0-9][a-z0-9_-]{0,31} */
#define P4T_UUID_MAX 36           /* sale id: canonical lowercase UUID (v7 by the register) */
#define P4T_SKU_MAX 64            /* printable ASCII 0x21..0x7e */
#define P4T_TENDER_TYPE_MAX 16    /* [a-z0-9_]{1,16}: cash, card, loyalty, gift, ... */
#define P4T_CUSTOMER_MAX 64       /* printable ASCII 0x21..0x7e */
#define P4T_REASON_MAX 200        /* ack/reject reasons, bytes incl. NUL */
#define P4T_KIND_MAX 16           /* uplink/downlink kind segment: [a-z_]{1,16} */
#define P4T_TOPIC_MAX 160         /* any topic we build */
#define P4T_MAX_PAYLOAD 65536     /* register -> gateway messages, bytes */
#define P4T_MAX_LINES 200         /* lines per sale */
#define P4T_MAX_TENDERS 8         /* tenders per sale */
#define P4T_MAX_QTY 100000        /* |qty| per line */
#define P4T_MAX_PRICE 100000000   /* minor units per unit (1,000,000.00) */
#define P4T_MAX_AMOUNT 10000000000LL /* |total|, |tender amount|, minor units */
#define P4T_MAX_POINTS 100000000  /* loyalty earn/redeem */
#define P4T_TS_LEN 25             /* "YYYY-MM-DDTHH:MM:SS.mmmZ" + NUL */
#define P4T_MAX_FLAGS 8           /* flags on one uplink sale record, each [a-z_]{1,16} */
#define P4T_CHANGES_MAX_ITEMS 500 /* items in one changes message or sync reply chunk */
#define P4T_MAX_CHANGES_PAYLOAD 1048576 /* gateway -> register changes/sync reply, bytes */
#define P4T_MAX_RECORD_PAYLOAD (P4T_MAX_PAYLOAD + 1024) /* one uplink sale record, bytes */
#define P4T_ALERT_DETAILS_MAX 512 /* alert "details" object, compact JSON bytes incl. NUL */
/* Revision 1.1 limits. */
#define P4T_OBJ_ID_MAX 64         /* promo, hold, stock movement, loyalty entry ids: 0x21..0x7e */
#define P4T_DOWN_MAX_ITEMS 500    /* items in one downlink message */
#define P4T_MAX_DOWN_PAYLOAD 1048576 /* HQ -> gateway downlink message, bytes */
#define P4T_NAME_MAX 100          /* customer name, UTF-8 bytes */
#define P4T_TIER_MAX 16           /* customer tier: [a-z0-9_]{1,16} */
#define P4T_MAX_STOCK 1000000000LL /* |delta| of a stock movement, on_hand of a count */
#define P4T_PRICE_MAX_WINDOWS 16  /* live price windows per sku */
#define P4T_HOLD_TTL_MIN_MS 1000  /* hold ttl_ms range */
#define P4T_HOLD_TTL_MAX_MS 600000

/* ---- status codes (0 = success, negative = error kind) ----
 * Every decoder returns P4T_ETOOBIG (with a reason) for input over its size limit:
 * P4T_MAX_PAYLOAD for register -> gateway messages, acks, status and alerts,
 * P4T_MAX_CHANGES_PAYLOAD for changes and sync replies, P4T_MAX_RECORD_PAYLOAD for records.
 * Every encoder validates its output with the matching decoder and returns P4T_EINVAL rather
 * than emit a message the contract rejects. Reasons are printable ASCII, "field.path: why". */
enum p4t_rc {
    P4T_OK = 0,
    P4T_EINVAL = -1,  /* input does not follow the contract; reason says why */
    P4T_ENOMEM = -2,  /* allocation failed */
    P4T_ETOOBIG = -3, /* output buffer too small / payload over its limit */
    P4T_ENOENT = -4,  /* (1.1) nothing to return: no price in effect at that time */
};

/* ---- ids ---- */
/* 1 if S is a valid tenant/register id, else 0. */
int p4t_id_valid(const char *s);
/* 1 if S is a valid store id (an id that is not "_all"; ids never start with '_'), else 0. */
int p4t_store_id_valid(const char *s);
/* 1 if S is a canonical lowercase UUID (8-4-4-4-12, [0-9a-f]), else 0. Any version passes;
 * registers generate v7. */
int p4t_uuid_valid(const char *s);
/* Parses exactly "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, a real calendar date, years 1970..9999,
 * seconds 00..59) into Unix milliseconds. Returns 0 or P4T_EINVAL. */
int p4t_ts_parse(const char *s, int64_t *out_ms);

/* ---- topics on the store broker: pos/v1/{store}/... ---- */
enum p4t_local {
    P4T_L_SALE,       /* pos/v1/{store}/reg/{reg}/sale        register -> gateway, QoS 1 */
    P4T_L_ACK,        /* pos/v1/{store}/reg/{reg}/ack         gateway -> register, QoS 1 */
    P4T_L_SYNC,       /* pos/v1/{store}/reg/{reg}/sync        register -> gateway, QoS 1 */
    P4T_L_SYNC_REPLY, /* pos/v1/{store}/reg/{reg}/sync/reply  gateway -> register, QoS 1 */
    P4T_L_CHANGES,    /* pos/v1/{store}/changes               gateway -> registers, QoS 1 */
    P4T_L_ALERT,      /* pos/v1/{store}/alert                 gateway -> staff, QoS 1 */
    P4T_L_STATUS,     /* pos/v1/{store}/gateway/status        retained, last will */
    P4T_L_HOLD,       /* pos/v1/{store}/reg/{reg}/hold        register -> gateway, QoS 1 (1.1) */
    P4T_L_HOLD_REPLY, /* pos/v1/{store}/reg/{reg}/hold/reply  gateway -> register, QoS 1 (1.1) */
    P4T_L_LOOKUP,     /* pos/v1/{store}/reg/{reg}/lookup      register -> gateway, QoS 1 (1.2) */
    P4T_L_CUSTOMER,   /* pos/v1/{store}/reg/{reg}/customer    register -> gateway, QoS 1 (1.2) */
    P4T_L_CUSTOMER_ACK, /* pos/v1/{store}/reg/{reg}/customer/ack gateway -> register (1.2) */
};

/* Builds a store-broker topic into BUF. REG is used only by the per-register kinds (pass NULL
 * otherwise). Returns 0, P4T_EINVAL for an invalid id, P4T_ETOOBIG if LEN is too small. */
int p4t_topic_local(char *buf, size_t len, enum p4t_local kind, const char *store,
                    const char *reg);
/* Builds the subscription filter "pos/v1/{store}/reg/+/<sale|sync|hold|lookup|customer>" for
 * KIND (SALE, SYNC; from revision 1.1 HOLD; from 1.2 LOOKUP and CUSTOMER). */
int p4t_topic_local_filter(char *buf, size_t len, enum p4t_local kind, const char *store);
/* Parses a store-broker topic. On success fills KIND, STORE and REG (REG is "" for store-wide
 * kinds). Returns 0 or P4T_EINVAL (not one of ours, or an invalid id). */
int p4t_topic_parse_local(const char *topic, enum p4t_local *kind, char store[P4T_ID_MAX + 1],
                          char reg[P4T_ID_MAX + 1]);

/* ---- topics on the cloud broker: p4/v1/{tenant}/{store|_all}/{up|down}/{kind} ---- */
/* Builds p4/v1/{tenant}/{store}/up/{kind}. KIND: sale, status, alert, resync, ... */
int p4t_topic_up(char *buf, size_t len, const char *tenant, const char *store, const char *kind);
/* Builds p4/v1/{tenant}/{store}/down/{kind}; STORE may be "_all" (every store of the tenant)
 * and KIND may be "+" to build a subscription filter. */
int p4t_topic_down(char *buf, size_t len, const char *tenant, const char *store,
                   const char *kind);
/* Parses a cloud topic. DIR_UP is set to true for up, false for down. STORE may come back as
 * "_all" for down topics. Returns 0 or P4T_EINVAL. */
int p4t_topic_parse_cloud(const char *topic, char tenant[P4T_ID_MAX + 1],
                          char store[P4T_ID_MAX + 1], bool *dir_up, char kind[P4T_KIND_MAX + 1]);

/* ---- sale: register -> gateway ---- */
enum p4t_sale_kind { P4T_SALE = 0, P4T_RETURN, P4T_VOID };

struct p4t_line {
    char sku[P4T_SKU_MAX + 1];
    int64_t qty;         /* non-zero; a return's lines are negative, a sale's positive */
    int64_t price_minor; /* charged price per unit, minor units, >= 0 */
    int64_t ver;         /* the price version the register used, >= 0 */
};

struct p4t_tender {
    char type[P4T_TENDER_TYPE_MAX + 1];
    int64_t amount_minor; /* signed: a return pays out */
};

struct p4t_sale {
    char id[P4T_UUID_MAX + 1];
    int64_t seq;                      /* per-register counter, >= 1 */
    char store[P4T_ID_MAX + 1];
    char reg[P4T_ID_MAX + 1];
    char ts[P4T_TS_LEN];              /* as sent, RFC 3339 UTC with ms */
    int64_t ts_ms;                    /* parsed ts, Unix ms */
    enum p4t_sale_kind kind;
    char ref[P4T_UUID_MAX + 1];       /* "" or the sale id a return/void refers to */
    size_t n_lines;
    struct p4t_line lines[P4T_MAX_LINES];
    size_t n_tenders;
    struct p4t_tender tenders[P4T_MAX_TENDERS];
    int64_t total_minor;              /* == sum(qty * price); == sum(tender amounts) */
    char customer[P4T_CUSTOMER_MAX + 1]; /* "" when absent */
    bool has_loyalty;
    int64_t loyalty_earn;             /* >= 0 */
    int64_t loyalty_redeem;           /* >= 0 */
    char hold[P4T_OBJ_ID_MAX + 1];    /* (1.1) "" or the hold this sale consumes */
};

const char *p4t_sale_kind_name(enum p4t_sale_kind kind);

/* Decodes and strictly validates a sale from BUF (LEN bytes, need not be NUL-terminated).
 * Unknown fields are rejected. On P4T_EINVAL writes a human-readable reason into REASON (which
 * names the field, e.g. "lines[2].qty: must be a non-zero integer"); REASON may be NULL.
 * OUT is fully overwritten; nothing to free. */
int p4t_sale_decode(const char *buf, size_t len, struct p4t_sale *out, char *reason,
                    size_t reason_len);
/* Encodes SALE as compact JSON. *OUT is malloc'd, the caller frees it. Validates first;
 * P4T_EINVAL (with REASON) if SALE breaks the contract. */
int p4t_sale_encode(const struct p4t_sale *sale, char **out, char *reason, size_t reason_len);
/* Best-effort look at a payload that may be invalid, for the ack of a rejected sale: copies a
 * top-level string "id" (printable ASCII, at most P4T_UUID_MAX bytes) into ID, else "", and a
 * top-level integer "seq" into *SEQ (0 when absent or unusable). SEQ may be NULL. Never fails
 * on bad input (returns 0); P4T_ENOMEM only if allocation fails. */
int p4t_sale_peek(const char *buf, size_t len, char id[P4T_UUID_MAX + 1], int64_t *seq);

/* ---- ack: gateway -> register ---- */
enum p4t_ack_status { P4T_ACK_OK = 0, P4T_ACK_DUPLICATE, P4T_ACK_REJECTED };

struct p4t_ack {
    char id[P4T_UUID_MAX + 1];   /* "" when the rejected payload had no readable id */
    enum p4t_ack_status status;
    char reason[P4T_REASON_MAX]; /* "" unless rejected */
    int64_t gw_seq;              /* > 0 for ok/duplicate; 0 for rejected */
    int64_t seq;                 /* the register's seq echoed back (0 when unknown) */
};

int p4t_ack_encode(const struct p4t_ack *ack, char **out);
int p4t_ack_decode(const char *buf, size_t len, struct p4t_ack *out, char *reason,
                   size_t reason_len);

/* ---- uplink batch: gateway -> cloud, {"store":..,"items":[record,...]} ----
 * A sale record is the sale object plus "gw_seq" and "flags" (array of strings, may be empty).
 * The gateway builds batches by splicing stored record strings; see p4t_batch_*. */

/* Encodes one uplink sale record: SALE's fields + gw_seq + flags (FLAGS is NULL-terminated
 * array of flag names, or NULL). *OUT malloc'd, caller frees. */
int p4t_sale_record_encode(const struct p4t_sale *sale, int64_t gw_seq,
                           const char *const *flags, char **out);
/* Decodes one uplink sale record (as found in a batch's items, or alone), validating the sale
 * part exactly like p4t_sale_decode; gw_seq >= 1, flags at most P4T_MAX_FLAGS names. FLAGS and
 * N_FLAGS may be NULL when the caller does not want them. */
int p4t_sale_record_decode(const char *buf, size_t len, struct p4t_sale *out, int64_t *gw_seq,
                           char flags[][P4T_KIND_MAX + 1], size_t *n_flags, char *reason,
                           size_t reason_len);

struct p4t_batch_builder {
    char *buf;       /* owned; p4t_batch_take hands it over */
    size_t len, cap;
    size_t max_len;  /* the batch is closed before it would exceed this */
    size_t n_items;
};

/* Starts a batch for STORE with a byte cap MAX_LEN (>= 256). */
int p4t_batch_init(struct p4t_batch_builder *b, const char *store, size_t max_len);
/* Appends one record (a JSON object text, trusted: made by an encoder here). Returns
 * P4T_ETOOBIG when it would exceed max_len and the batch already has an item (the caller
 * publishes and starts a new batch); a single record larger than max_len is still accepted. */
int p4t_batch_add(struct p4t_batch_builder *b, const char *record, size_t record_len);
/* Closes the batch and hands its text (NUL-terminated, malloc'd) to the caller. */
int p4t_batch_take(struct p4t_batch_builder *b, char **out, size_t *out_len);
void p4t_batch_cleanup(struct p4t_batch_builder *b);

/* Reading a batch (HQ, revision 1.2 wording): the envelope is checked once, then each item is
 * decoded on its own so that one bad record does not hide the others. */
#define P4T_MAX_BATCH_PAYLOAD 4194304 /* one up/sale message, bytes */
struct p4t_batch_reader {
    void *root;       /* the parsed envelope (private) */
    void *next;       /* the next item (private) */
    size_t index;     /* index of the item the last p4t_batch_next returned */
    size_t n_read;    /* items returned so far (private) */
    size_t n_items;
    char store[P4T_ID_MAX + 1];
};
/* Parses BUF as {"store":S,"items":[...]} (at most P4T_MAX_BATCH_PAYLOAD bytes, every number
 * an integer, 1.. items). Returns 0 (then call p4t_batch_close), P4T_EINVAL or P4T_ETOOBIG
 * with REASON; on failure R owns nothing. */
int p4t_batch_open(struct p4t_batch_reader *r, const char *buf, size_t len, char *reason,
                   size_t reason_len);
/* Decodes the next item as a sale record (p4t_sale_record_decode's rules, plus: its store is
 * the batch's). Returns 0; P4T_ENOENT after the last item; P4T_EINVAL for an item that breaks
 * the contract, with REASON prefixed "items[I]." and *GW_SEQ set when the item carried a
 * usable gw_seq (else 0). ITEM_TEXT, if not NULL, gets a malloc'd compact copy of the item
 * (caller frees) on success and failure alike. The reader moves past the item in every case. */
int p4t_batch_next(struct p4t_batch_reader *r, struct p4t_sale *out, int64_t *gw_seq,
                   char flags[][P4T_KIND_MAX + 1], size_t *n_flags, char **item_text,
                   char *reason, size_t reason_len);
void p4t_batch_close(struct p4t_batch_reader *r);

/* ---- changes: gateway -> registers; also the items of a sync reply ----
 * {"from":F,"to":T,"items":[{"seq":N,"entity":"stock","key":"SKU","value":{...}}]}
 * seq is the store's change-log sequence: gap-free, from..to inclusive, items in seq order.
 * value by entity: stock {"on_hand":int}; price {"price":int,"ver":int}; other entities are
 * added by later contract revisions and carried as raw JSON text. */
enum p4t_entity {
    P4T_E_STOCK = 0,
    P4T_E_PRICE,
    P4T_E_PROMO,
    P4T_E_CUSTOMER,
    P4T_E_LOYALTY,
};
const char *p4t_entity_name(enum p4t_entity e);
/* Returns 0 and sets *OUT, or P4T_EINVAL for an unknown name. */
int p4t_entity_parse(const char *name, enum p4t_entity *out);

struct p4t_change {
    int64_t seq;
    enum p4t_entity entity;
    char key[P4T_SKU_MAX + 1];
    char *value_json; /* compact JSON object text; owned by the p4t_changes it sits in */
};

struct p4t_changes {
    int64_t from, to;
    size_t n_items;
    struct p4t_change *items; /* malloc'd */
    /* sync replies only (zero in plain change messages): */
    char req_id[P4T_ID_MAX + 1]; /* echoed from the request */
    bool is_reply;
    bool snapshot;               /* items are the full current state, not a log slice */
    bool more;                   /* another reply follows for the same request */
    int64_t head;                /* the gateway's newest change seq */
    int64_t last_sale_seq;       /* highest sale seq the gateway holds for this register */
};

/* Encodes a change message (or a sync reply when C->is_reply). *OUT malloc'd. */
int p4t_changes_encode(const struct p4t_changes *c, char **out);
/* Decodes and validates; items must be in seq order and, for non-snapshots, gap-free from
 * `from` to `to`. Caller calls p4t_changes_cleanup(OUT) after success. */
int p4t_changes_decode(const char *buf, size_t len, struct p4t_changes *out, char *reason,
                       size_t reason_len);
void p4t_changes_cleanup(struct p4t_changes *c);

/* ---- sync request: register -> gateway ----
 * {"req_id":"r1-17","cursor":N}: "send me every change after seq N" (0 = from the start). */
struct p4t_sync_req {
    char req_id[P4T_ID_MAX + 1];
    int64_t cursor; /* >= 0 */
};
int p4t_sync_req_encode(const struct p4t_sync_req *r, char **out);
int p4t_sync_req_decode(const char *buf, size_t len, struct p4t_sync_req *out, char *reason,
                        size_t reason_len);

/* ---- gateway status (retained) ----
 * {"state":"online"|"wan_down"|"offline","outbox":N,"delivered":N,"hq_through"?:N,
 *  "epoch"?:N,"backlog"?:N,"backlog_age_s"?:N,"live"?:N,"ts":"..."} */
struct p4t_status {
    char state[16];
    int64_t outbox;    /* undelivered uplink records */
    int64_t delivered; /* newest gw_seq counted delivered (1.2: committed at HQ) */
    bool has_hq_through; /* (1.2) optional field present */
    int64_t hq_through;  /* (1.2) HQ's committed watermark as last received (down/ack) */
    int64_t epoch;       /* (1.2) optional, 0 = absent: identifies the gateway's replica */
    bool has_lanes;        /* (1.4) the three lane fields are present (all or none) */
    int64_t backlog;       /* (1.4) undelivered records made before the cloud link came back */
    int64_t backlog_age_s; /* (1.4) age of the oldest sale among them, seconds */
    int64_t live;          /* (1.4) undelivered records made since */
    char ts[P4T_TS_LEN];
};
int p4t_status_encode(const struct p4t_status *s, char **out);
int p4t_status_decode(const char *buf, size_t len, struct p4t_status *out, char *reason,
                      size_t reason_len);

/* ---- HQ's committed watermark: HQ -> gateway, p4/v1/{tenant}/{store}/down/ack (1.2) ----
 * {"store":S,"through":N,"ts":"..."}: HQ holds every record 1..N of the store, committed.
 * Published retained after each commit that moves it; a gateway keeps the highest it saw. */
struct p4t_hq_ack {
    char store[P4T_ID_MAX + 1];
    int64_t through; /* >= 0 */
    bool has_max_gw_seq; /* (1.2) optional: the highest gw_seq HQ holds for the store */
    int64_t max_gw_seq;  /* >= through when present */
    char req_id[P4T_ID_MAX + 1]; /* (1.2) optional: the resync this ack answers ("" = none) */
    char ts[P4T_TS_LEN];
};
int p4t_hq_ack_encode(const struct p4t_hq_ack *a, char **out);
int p4t_hq_ack_decode(const char *buf, size_t len, struct p4t_hq_ack *out, char *reason,
                      size_t reason_len);

/* ---- customer lookup (1.2): register -> gateway on pos/v1/{store}/reg/{reg}/lookup, and
 * gateway -> HQ on p4/v1/{tenant}/{store}/up/lookup ----
 * {"req_id":ID,"customers":["C-1",...]}: "send me these customers' current state". HQ answers
 * with down/customer and down/loyalty items on the asking store's topics; the gateway answers a
 * register from its replica (and applies HQ's answer when it comes). */
#define P4T_LOOKUP_MAX 100 /* customers in one lookup */
struct p4t_lookup {
    char req_id[P4T_ID_MAX + 1]; /* 1..32 printable ASCII */
    size_t n_customers;          /* 1..P4T_LOOKUP_MAX, each once */
    char customers[P4T_LOOKUP_MAX][P4T_CUSTOMER_MAX + 1];
};
int p4t_lookup_encode(const struct p4t_lookup *l, char **out);
int p4t_lookup_decode(const char *buf, size_t len, struct p4t_lookup *out, char *reason,
                      size_t reason_len);

/* ---- staff alert ----
 * {"id":"<uuid>","kind":"oversell","severity":"warning","ts":"...","store":"s1",
 *  "message":"...", "sku":"...", "sales":["id",...], "details":{...}} */
#define P4T_ALERT_MAX_SALES 16
struct p4t_alert {
    char id[P4T_UUID_MAX + 1];
    char kind[P4T_KIND_MAX + 1]; /* oversell, price_mismatch, loyalty_overdraw, outbox_cap, ...*/
    char severity[16];           /* info | warning | critical */
    char ts[P4T_TS_LEN];
    char store[P4T_ID_MAX + 1];
    char message[P4T_REASON_MAX];
    char sku[P4T_SKU_MAX + 1];   /* "" when not about one SKU */
    size_t n_sales;
    char sales[P4T_ALERT_MAX_SALES][P4T_UUID_MAX + 1];
    char details[P4T_ALERT_DETAILS_MAX]; /* compact JSON object text; "" when absent */
};
int p4t_alert_encode(const struct p4t_alert *a, char **out);
int p4t_alert_decode(const char *buf, size_t len, struct p4t_alert *out, char *reason,
                     size_t reason_len);

/* ======== contract revision 1.1 (README sections 5.6, 5.7, 6.4, 6.6, 6.7) ======== */
#define P4T_CONTRACT_REVISION 1 /* v1.1: the minor part; still P4T_CONTRACT_VERSION 1 */

/* Formats MS (Unix ms, 1970..9999) as "YYYY-MM-DDTHH:MM:SS.mmmZ" into OUT. Returns 0 or
 * P4T_EINVAL when MS is outside the range a ts can spell. */
int p4t_ts_format(int64_t ms, char out[P4T_TS_LEN]);

/* Record flags (section 6.1) and alert kinds (section 5.5), spelled once. */
#define P4T_FLAG_OVERSELL "oversell"
#define P4T_FLAG_PRICE_MISMATCH "price_mismatch"
#define P4T_FLAG_LOYALTY_OVERDRAW "loyalty_overdraw"
#define P4T_ALERT_OVERSELL "oversell"
#define P4T_ALERT_PRICE_MISMATCH "price_mismatch"
#define P4T_ALERT_LOYALTY_OVERDRAW "loyalty_overdraw"
#define P4T_ALERT_OUTBOX_CAP "outbox_cap"
#define P4T_ALERT_HOLD_EXPIRED "hold_expired"
#define P4T_ALERT_BAD_DOWNLINK "bad_downlink"
#define P4T_ALERT_HQ_LOST_SALES "hq_lost_sales" /* HQ's watermark went back (1.2) */

/* Derives the alert id for one condition: a UUID (version 8, RFC 9562) computed from KIND,
 * STORE and KEY (what the condition is about, e.g. "<sku>/<sale id>"; any string), so that
 * raising the same condition again, even after a restart, gives the same id and receivers can
 * drop the repeat. Returns 0, or P4T_EINVAL for a NULL argument. */
int p4t_alert_id(const char *kind, const char *store, const char *key,
                 char out[P4T_UUID_MAX + 1]);

/* ---- downlink: HQ -> gateway, p4/v1/{tenant}/{store|_all}/down/{kind}, {"items":[...]} ---- */
enum p4t_down_kind {
    P4T_D_PRICE = 0,
    P4T_D_PROMO,
    P4T_D_CUSTOMER,
    P4T_D_LOYALTY,
    P4T_D_STOCK,
};
/* "price", "promo", "customer", "loyalty", "stock"; NULL for an unknown value. */
const char *p4t_down_kind_name(enum p4t_down_kind kind);
/* Returns 0 and sets *OUT, or P4T_EINVAL for a kind this revision does not define (a gateway
 * ignores such topics: later revisions may add kinds). */
int p4t_down_kind_parse(const char *name, enum p4t_down_kind *out);

/* price item. No window (neither from nor until) = the sku's base price. */
struct p4t_price_item {
    char sku[P4T_SKU_MAX + 1];
    int64_t price_minor; /* 0..P4T_MAX_PRICE */
    int64_t ver;         /* >= 1 */
    bool has_from;
    int64_t from_ms;     /* effective_from, Unix ms: the window starts here (inclusive) */
    bool has_until;
    int64_t until_ms;    /* effective_until: the window ends here (exclusive); > from_ms */
};

enum p4t_promo_type { P4T_PROMO_PERCENT_OFF = 0, P4T_PROMO_FIXED_PRICE, P4T_PROMO_BUY_N_PAY_M };
/* "percent_off", "fixed_price", "buy_n_pay_m"; NULL for an unknown value. */
const char *p4t_promo_type_name(enum p4t_promo_type type);

/* promo item; also the change-log value of entity promo (key = id). */
struct p4t_promo {
    char id[P4T_OBJ_ID_MAX + 1];
    int64_t ver;         /* >= 1 */
    bool active;         /* false retires the promo */
    enum p4t_promo_type type;
    char sku[P4T_SKU_MAX + 1];
    int64_t percent;     /* percent_off only: 1..100, else 0 */
    int64_t price_minor; /* fixed_price only: 0..P4T_MAX_PRICE, else 0 */
    int64_t n, m;        /* buy_n_pay_m only: P4T_MAX_QTY >= n > m >= 1, else 0 */
    bool has_from;
    int64_t from_ms;     /* inclusive */
    bool has_until;
    int64_t until_ms;    /* exclusive, > from_ms */
};

/* customer item; also the change-log value of entity customer (key = id). */
struct p4t_customer {
    char id[P4T_CUSTOMER_MAX + 1];
    int64_t ver;                  /* >= 1 */
    char name[P4T_NAME_MAX + 1];  /* UTF-8, 1..100 bytes, no control characters */
    char tier[P4T_TIER_MAX + 1];  /* [a-z0-9_]{1,16} */
};

/* loyalty item: a ledger entry (is_balance false) or an authoritative balance. */
struct p4t_loyalty_item {
    char customer[P4T_CUSTOMER_MAX + 1];
    bool is_balance;
    /* ledger entry: */
    char entry[P4T_OBJ_ID_MAX + 1]; /* idempotency key */
    int64_t points;                 /* non-zero, |points| <= P4T_MAX_POINTS */
    char reason[P4T_REASON_MAX];    /* "" when absent */
    bool has_at;
    int64_t at_ms;                  /* when HQ recorded it; absent = when the gateway applied it */
    /* balance: */
    int64_t balance;                /* 0..2^53-1 */
    int64_t ver;                    /* >= 1 */
    int64_t as_of_ms;
};

enum p4t_stock_type {
    P4T_STOCK_RECEIVE = 0,
    P4T_STOCK_TRANSFER,
    P4T_STOCK_ADJUST,
    P4T_STOCK_COUNT,
};
/* "receive", "transfer", "adjust", "count"; NULL for an unknown value. */
const char *p4t_stock_type_name(enum p4t_stock_type type);

/* stock item: a movement (receive/transfer/adjust: delta) or a count (on_hand). */
struct p4t_stock_item {
    char id[P4T_OBJ_ID_MAX + 1]; /* idempotency key */
    char sku[P4T_SKU_MAX + 1];
    enum p4t_stock_type type;
    int64_t delta;               /* receive > 0; transfer, adjust != 0; count: 0 (absent) */
    int64_t on_hand;             /* count only: 0..P4T_MAX_STOCK; else 0 (absent) */
    int64_t occurred_at_ms;
};

/* One decoded downlink message. ITEMS is one malloc'd array of n_items elements of the type
 * that KIND selects (read it through the matching union member); p4t_down_cleanup frees it. */
struct p4t_down {
    enum p4t_down_kind kind;
    size_t n_items; /* 1..P4T_DOWN_MAX_ITEMS */
    union {
        void *items;
        struct p4t_price_item *price;
        struct p4t_promo *promo;
        struct p4t_customer *customer;
        struct p4t_loyalty_item *loyalty;
        struct p4t_stock_item *stock;
    };
};

/* Decodes and strictly validates a downlink message of KIND (taken from the topic). Any invalid
 * item rejects the whole message (REASON names it, e.g. "items[3].ver: missing"). On success
 * the caller calls p4t_down_cleanup(OUT); on failure OUT is zeroed and owns nothing.
 * P4T_ETOOBIG over P4T_MAX_DOWN_PAYLOAD bytes. */
int p4t_down_decode(enum p4t_down_kind kind, const char *buf, size_t len, struct p4t_down *out,
                    char *reason, size_t reason_len);
/* Encodes D canonically (as HQ should send it). *OUT malloc'd, the caller frees it. P4T_EINVAL
 * when D breaks the contract (validated with p4t_down_decode). */
int p4t_down_encode(const struct p4t_down *d, char **out);
/* Frees D's items; D may be zeroed or already cleaned up. */
void p4t_down_cleanup(struct p4t_down *d);

/* ---- price state: the change-log value of entity price ----
 * {"price":P,"ver":V,"windows":[{"price":..,"ver":..,"from"?:ts,"until"?:ts},...]}
 * price/ver are the base price (both absent when the sku has only windows); windows is omitted
 * when empty, which is exactly the v1 value {"price":P,"ver":V}. Windows are kept in strictly
 * increasing ver order, each with from and/or until. One piece of code resolves prices for
 * the gateway and the registers: p4t_price_effective. */
struct p4t_price_window {
    int64_t price_minor;
    int64_t ver; /* >= 1 */
    bool has_from;
    int64_t from_ms;  /* inclusive */
    bool has_until;
    int64_t until_ms; /* exclusive */
};

struct p4t_price_state {
    bool has_base;
    int64_t price_minor; /* base; meaningful when has_base */
    int64_t ver;         /* base ver, >= 0 (0: a price loaded without a version, e.g. import) */
    size_t n_windows;
    struct p4t_price_window windows[P4T_PRICE_MAX_WINDOWS];
};

/* The price in effect at AT_MS: among the base and the windows containing AT_MS
 * (from <= AT_MS < until, a missing bound being open), the entry with the highest ver.
 * Returns 0 with *PRICE and *VER set, or P4T_ENOENT when there is no base and no window
 * covers AT_MS (the sku cannot be sold at a known price). Pure; S is not changed. */
int p4t_price_effective(const struct p4t_price_state *s, int64_t at_ms, int64_t *price,
                        int64_t *ver);
/* Applies one price item to the sku's state S (zeroed for a new sku), as the gateway does:
 * an item whose ver the state already holds (base or window) is a no-op; a base item older than
 * the base is a no-op; a window with a ver below the base's, or that ended by NOW_MS, is a no-op
 * (it could never be in effect). Then windows that ended by NOW_MS or whose ver is below the
 * base's are dropped. *CHANGED tells whether S changed (publish a change-log row then).
 * Returns 0; P4T_EINVAL for an invalid item; P4T_ETOOBIG (S unchanged) when more than
 * P4T_PRICE_MAX_WINDOWS windows would be live. */
int p4t_price_state_apply(struct p4t_price_state *s, const struct p4t_price_item *item,
                          int64_t now_ms, bool *changed);
/* Drops windows that ended by NOW_MS or can never win against the base; *CHANGED as above.
 * The gateway calls it when a window ends, before republishing the state. */
int p4t_price_state_prune(struct p4t_price_state *s, int64_t now_ms, bool *changed);
/* Encodes S as the change-log value (compact JSON). *OUT malloc'd. P4T_EINVAL if S is not
 * canonical (windows out of ver order, no base and no window, a bad range). */
int p4t_price_state_encode(const struct p4t_price_state *s, char **out);
/* Decodes a change-log price value, old form included. OUT fully overwritten, nothing to free. */
int p4t_price_state_decode(const char *buf, size_t len, struct p4t_price_state *out,
                           char *reason, size_t reason_len);

/* ---- change-log values of entities promo, customer, loyalty ---- */
/* The promo object, exactly as in a promo downlink item. */
int p4t_promo_value_encode(const struct p4t_promo *p, char **out);
int p4t_promo_value_decode(const char *buf, size_t len, struct p4t_promo *out, char *reason,
                           size_t reason_len);
/* The customer object, exactly as in a customer downlink item. */
int p4t_customer_value_encode(const struct p4t_customer *c, char **out);
int p4t_customer_value_decode(const char *buf, size_t len, struct p4t_customer *out,
                              char *reason, size_t reason_len);
/* {"balance":N}: the customer's points as the gateway computes them; may be negative after
 * an overdraw (|N| <= 2^53-1). */
int p4t_loyalty_value_encode(int64_t balance, char **out);
int p4t_loyalty_value_decode(const char *buf, size_t len, int64_t *balance, char *reason,
                             size_t reason_len);

/* ---- applying promos to a basket ---- */
struct p4t_charged_line {
    struct p4t_line line;          /* sku, qty, charged unit price, the price ver used */
    char promo[P4T_OBJ_ID_MAX + 1]; /* the promo that priced this line, "" for none */
};

/* Prices the basket LINES (regular unit prices, qty > 0; lines with qty < 0 pass through
 * unchanged) with the promos of PROMOS that are active and in effect at AT_MS (from <= AT_MS <
 * until). Each line is priced on its own: for its sku, the single promo that lowers the line's
 * total the most wins (ties: the smaller promo id by byte order); a promo that does not lower
 * the total is not used. percent_off: each unit is charged price - round_half_up(price *
 * percent / 100). fixed_price: each unit is charged the promo price. buy_n_pay_m: of every
 * full group of n units, n - m are free: the line becomes (qty - free) @ price followed by
 * free @ 0 (e.g. buy 3 pay 2, qty 3 @ 100 -> 2 @ 100 + 1 @ 0). Output order follows the input.
 * OUT has room for OUT_CAP lines (2 * N_LINES always suffices); *N_OUT is set.
 * Returns 0, P4T_EINVAL for a line or promo outside the contract's ranges (nothing is
 * computed with numbers the contract does not allow, so no arithmetic can overflow), or
 * P4T_ETOOBIG when OUT is too small. Pure. */
int p4t_promo_apply(const struct p4t_promo *promos, size_t n_promos, int64_t at_ms,
                    const struct p4t_line *lines, size_t n_lines, struct p4t_charged_line *out,
                    size_t out_cap, size_t *n_out);

/* ---- resync: gateway -> HQ, p4/v1/{tenant}/{store}/up/resync ----
 * {"store":S,"req_id":ID,"since":{"price":V,"promo":V,"customer":V,"loyalty":V}} */
struct p4t_resync {
    char store[P4T_ID_MAX + 1];
    char req_id[P4T_ID_MAX + 1]; /* 1..32 printable ASCII */
    int64_t since_price, since_promo, since_customer, since_loyalty; /* >= 0 */
    bool rebuild; /* (1.2) optional: an empty replica asks for HQ's stock on hand per sku */
    bool has_head; /* (1.2) optional: sent by a gateway that does not know where gw_seq goes
                    * on; HEAD is its newest gw_seq, and HQ holds the numbers above it that it
                    * lacks as skipped (they will never come) */
    int64_t head;
};
int p4t_resync_encode(const struct p4t_resync *r, char **out);
int p4t_resync_decode(const char *buf, size_t len, struct p4t_resync *out, char *reason,
                      size_t reason_len);

/* ---- holds: register <-> gateway on pos/v1/{store}/reg/{reg}/hold[/reply] ---- */
struct p4t_hold_line {
    char sku[P4T_SKU_MAX + 1];
    int64_t qty; /* request: 1..P4T_MAX_QTY; reply (granted): 0..P4T_MAX_QTY */
};

/* {"req_id":ID,"hold":ID,"lines":[{"sku":S,"qty":N}],"ttl_ms":T} or
 * {"req_id":ID,"hold":ID,"release":true} */
struct p4t_hold_req {
    char req_id[P4T_ID_MAX + 1];   /* 1..32 printable ASCII */
    char hold[P4T_OBJ_ID_MAX + 1]; /* 1..64 printable ASCII */
    bool release;                  /* true: lines and ttl_ms are absent */
    int64_t ttl_ms;                /* P4T_HOLD_TTL_MIN_MS..P4T_HOLD_TTL_MAX_MS */
    size_t n_lines;                /* 1..P4T_MAX_LINES, each sku once */
    struct p4t_hold_line lines[P4T_MAX_LINES];
};
int p4t_hold_req_encode(const struct p4t_hold_req *r, char **out);
int p4t_hold_req_decode(const char *buf, size_t len, struct p4t_hold_req *out, char *reason,
                        size_t reason_len);

/* {"req_id":ID,"hold":ID,"granted":[{"sku":S,"qty":N}],"expires":ts,"reason"?:text} */
struct p4t_hold_reply {
    char req_id[P4T_ID_MAX + 1];
    char hold[P4T_OBJ_ID_MAX + 1];
    size_t n_granted;              /* 0..P4T_MAX_LINES, each sku once */
    struct p4t_hold_line granted[P4T_MAX_LINES];
    int64_t expires_ms;
    char reason[P4T_REASON_MAX];   /* "" or why less than asked / nothing was granted */
};
int p4t_hold_reply_encode(const struct p4t_hold_reply *r, char **out);
int p4t_hold_reply_decode(const char *buf, size_t len, struct p4t_hold_reply *out,
                          char *reason, size_t reason_len);

/* ======== contract revision 1.3 (README section 6.10) ======== */
/* HQ's capabilities, p4/v1/{tenant}/_all/down/caps (retained): {"zstd":[ID,...],"ts":ts}, the
 * zstd dictionaries HQ can read. Decoded leniently: unknown fields are skipped (6.10). The
 * codecs of compressed payloads themselves are in p4t_zstd.h (libp4topics_zstd). */
#define P4T_CAPS_KIND "caps"
#define P4T_CAPS_MAX_DICTS 16
struct p4t_caps {
    size_t n_zstd;
    uint32_t zstd[P4T_CAPS_MAX_DICTS];
    char ts[P4T_TS_LEN];
};
int p4t_caps_encode(const struct p4t_caps *c, char **out);
int p4t_caps_decode(const char *buf, size_t len, struct p4t_caps *out, char *reason,
                    size_t reason_len);
/* True when C lists DICT_ID. */
bool p4t_caps_has_zstd(const struct p4t_caps *c, uint32_t dict_id);

#endif
