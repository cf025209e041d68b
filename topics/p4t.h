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
};

/* Builds a store-broker topic into BUF. REG is used only by the per-register kinds (pass NULL
 * otherwise). Returns 0, P4T_EINVAL for an invalid id, P4T_ETOOBIG if LEN is too small. */
int p4t_topic_local(char *buf, size_t len, enum p4t_local kind, const char *store,
                    const char *reg);
/* Builds the subscription filter "pos/v1/{store}/reg/+/<sale|sync>" for KIND (SALE or SYNC). */
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
 * {"state":"online"|"wan_down"|"offline","outbox":N,"delivered":N,"ts":"..."} */
struct p4t_status {
    char state[16];
    int64_t outbox;    /* undelivered uplink records */
    int64_t delivered; /* newest gw_seq the cloud acknowledged */
    char ts[P4T_TS_LEN];
};
int p4t_status_encode(const struct p4t_status *s, char **out);
int p4t_status_decode(const char *buf, size_t len, struct p4t_status *out, char *reason,
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

#endif
