/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to p4hq: configuration, the database connection, ingest, ledger rules, the cloud
 * link and the operator commands. One thread owns each database connection. */
#ifndef P4HQ_H
#define P4HQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "p4t.h"

enum p4hq_rc {
    P4HQ_OK = 0,
    P4HQ_EINVAL = -1, /* bad input or configuration */
    P4HQ_ENOMEM = -2,
    P4HQ_EDB = -3,    /* a database error; the connection may be gone (db_ok tells) */
    P4HQ_EMQTT = -4,
    P4HQ_EIO = -5,
    P4HQ_EEXIST = -6, /* the object id was already recorded: nothing changed */
};

#define P4HQ_PATH_MAX 512
#define P4HQ_TEXT_MAX 256

/* [accounts]: the account code each posting goes to. */
struct p4hq_accounts {
    char cash[P4T_ID_MAX + 1];
    char card[P4T_ID_MAX + 1];
    char loyalty[P4T_ID_MAX + 1];
    char other[P4T_ID_MAX + 1];     /* any other tender type, and a sale without tenders */
    char revenue[P4T_ID_MAX + 1];   /* sales net of tax */
    char tax[P4T_ID_MAX + 1];       /* tax payable */
    char cogs[P4T_ID_MAX + 1];      /* cost of goods sold */
    char inventory[P4T_ID_MAX + 1];
};

struct p4hq_config {
    char file[P4HQ_PATH_MAX];
    char tenant[P4T_ID_MAX + 1];
    char cloud_uri[P4HQ_TEXT_MAX];  /* as written: one URI, or several separated by commas */
#define P4HQ_MAX_URIS 8
    char cloud_uris[P4HQ_MAX_URIS][P4HQ_TEXT_MAX]; /* each node, in order of preference */
    int n_cloud_uris;
    char client_id[P4HQ_TEXT_MAX];
    int mqtt_version;               /* MQTTVERSION_3_1_1 or MQTTVERSION_5 */
    char share_group[P4T_ID_MAX + 1];
    char ca_file[P4HQ_PATH_MAX];
    char cert_file[P4HQ_PATH_MAX];
    char key_file[P4HQ_PATH_MAX];
    char username[P4HQ_TEXT_MAX];
    char cloud_password_file[P4HQ_PATH_MAX];
    int keepalive_s;
    int reconnect_max_s;
    char conninfo[1024];
    char db_password_file[P4HQ_PATH_MAX];
    char http_listen[P4HQ_TEXT_MAX];  /* empty: no HTTP */
    char http_cert_file[P4HQ_PATH_MAX]; /* HTTPS when both are set */
    char http_key_file[P4HQ_PATH_MAX];
    char viewer_token_hash[P4HQ_TEXT_MAX]; /* pbkdf2-sha256$ITER$SALT$HASH (auth.c) */
    char admin_token_hash[P4HQ_TEXT_MAX];
    char session_key_file[P4HQ_PATH_MAX];  /* signs login cookies; empty: a random key */
    int session_hours;
    char http_timezone[64];         /* where "today" starts */
    int http_threads;
    int http_max_connections;
    int feed_retention_h;           /* dash_feed rows kept */
    int http_requests_per_s;        /* per client address; 0: no limit */
    int http_request_burst;
    int http_login_failures;        /* bad tokens per address before the delay starts */
    int log_level;
    char log_file[P4HQ_PATH_MAX];
    struct p4hq_accounts accounts;
    int default_tax_bp;             /* basis points */
    int batch_max_messages;         /* MQTT messages per transaction */
    int queue_max;                  /* messages waiting for the ingest thread */
    int queue_max_mb;               /* and their bytes, MiB */
    bool require_registered_stores; /* uplink of stores missing from store_registry refused */
};

/* Sets every default (no tenant, no URI). */
void config_defaults(struct p4hq_config *cfg);
/* Loads PATH over the defaults and validates. On error returns P4HQ_EINVAL with one line in ERR
 * ("FILE:LINE: [section] key: what is wrong"). */
int config_load(struct p4hq_config *cfg, const char *path, char *err, size_t err_len);
/* Parses a percent with up to two decimals ("20", "7.5", "7.25") into basis points 0..10000.
 * Returns 0 or P4HQ_EINVAL. No floating point. */
int config_parse_percent(const char *s, int *bp);

/* ---- db.c: one libpq connection, owned by one thread ---- */
struct db {
    PGconn *conn;
    const struct p4hq_config *cfg;
    bool prepared;
};
/* Connects (the password from [db] password_file, wiped after use) and sets the session up
 * (synchronous_commit on, the application name). Returns 0 or P4HQ_EDB (logged, without the
 * password). */
int db_open(struct db *db, const struct p4hq_config *cfg, const char *app_name);
void db_close(struct db *db);
/* True while the connection is usable. */
bool db_ok(const struct db *db);
/* Runs SQL (no parameters) expecting COMMAND_OK or TUPLES_OK. Returns 0 or P4HQ_EDB (logged
 * with WHAT). */
int db_exec(struct db *db, const char *sql, const char *what);
/* Runs prepared statement NAME with N text parameters; *RES (if not NULL) gets the result,
 * which the caller PQclear()s. Returns 0 or P4HQ_EDB (logged). */
int db_run(struct db *db, const char *name, int n, const char *const *values, PGresult **res);
/* Runs SQL with N text parameters, unprepared (operator commands). As db_run. */
int db_query(struct db *db, const char *sql, int n, const char *const *values, PGresult **res);
/* As db_run with per-parameter LENGTHS and FORMATS (1 = binary, for bytea). */
int db_run_fmt(struct db *db, const char *name, int n, const char *const *values,
               const int *lengths, const int *formats, PGresult **res);
/* Prepares NAME once per connection. */
int db_prepare(struct db *db, const char *name, const char *sql);

/* Text-array helpers for binding arrays as one parameter: an array literal {"a","b"} with
 * every element quoted. A is a growable buffer; arr_free releases it. */
struct arr {
    char *buf;
    size_t len, cap;
    size_t n;
};
int arr_add_str(struct arr *a, const char *s);
int arr_add_int(struct arr *a, int64_t v);
/* The literal so far, closed ("{}" when empty). Valid until the next add or arr_reset. */
const char *arr_text(struct arr *a);
void arr_reset(struct arr *a);
void arr_free(struct arr *a);

/* ---- migrate.c ---- */
/* Applies every compiled-in migration the database lacks, each in its own transaction, under
 * a session advisory lock so that several p4hq processes may start at once. Returns 0 or
 * P4HQ_EDB. *APPLIED (may be NULL) gets how many ran. */
int migrate_apply(struct db *db, int *applied);
/* Writes the chart of accounts of CFG (idempotent). */
int migrate_accounts(struct db *db, const struct p4hq_config *cfg);

/* ---- ledger.c: posting rules ---- */
#define LEDGER_MAX_POSTINGS 16
struct posting {
    const char *account; /* borrowed from the config */
    int64_t amount;      /* signed: > 0 debit, < 0 credit */
};
/* What the ledger needs to know of a product. */
struct product_terms {
    int tax_bp;               /* basis points */
    bool has_cost;
    int64_t unit_cost_minor;
};
/* Tax included in a tax-inclusive GROSS amount at TAX_BP basis points:
 * gross * bp / (10000 + bp), rounded half away from zero. */
int64_t ledger_tax_included(int64_t gross, int tax_bp);
/* Computes the balanced journal lines of SALE (one amount per account, zero amounts left out).
 * TERMS[i] is line i's product terms. Returns 0 with *N set, or P4HQ_EINVAL if the sale cannot
 * balance (never for a decoded sale). */
int ledger_post(const struct p4t_sale *sale, const struct product_terms *terms,
                const struct p4hq_accounts *acc, struct posting *out, size_t *n);

/* ---- link.c: the cloud broker connection; Paho callbacks only queue ---- */
struct hq_msg {
    struct hq_msg *next;
    int64_t received_ms; /* monotonic, when Paho handed it over */
    char *topic;
    char *payload;
    size_t len;
    size_t orig_len; /* bytes the broker delivered (len < orig_len: cut, over the cap) */
    /* Revision 1.3 (wire.c): a zstd payload is inflated before ingest (payload, len and
     * orig_len are then the JSON's; wire_len what the broker delivered), or, when refused,
     * kept as it came with the reason it is dead-lettered for. */
    size_t wire_len;   /* 0: the message came as JSON */
    uint32_t wire_dict; /* the dictionary of the frame it came in (0: JSON) */
    char *refused;     /* NULL, or why the compressed payload was refused */
    bool refused_owned; /* refused is malloc'd */
};
void hq_msg_free(struct hq_msg *m);

/* wire.c: inflates M in place when its payload is a zstd frame (README 6.10), bounded by the
 * JSON limit of its topic's kind; a frame it refuses sets M->refused. Never fails otherwise. */
void wire_unpack(struct hq_msg *m);

struct link;
/* Creates the client and starts connecting (automatic reconnect). Messages of the tenant's
 * up/ topics land in a queue of at most cfg->queue_max; link_pop takes them. */
int link_start(struct link **out, const struct p4hq_config *cfg);
/* Connects again when the link is down and its backoff has passed; called by the ingest
 * thread's loop (at least every 200 ms). Never blocks. */
void link_tick(struct link *l);
/* Takes up to MAX queued messages (a list, oldest first), waiting at most WAIT_MS for the
 * first. NULL when none. */
struct hq_msg *link_pop(struct link *l, int max, int wait_ms);
/* Publishes at QOS (0 or 1) and does not wait. Returns 0 or P4HQ_EMQTT (not connected). */
int link_publish(struct link *l, const char *topic, const char *payload, size_t len, int qos,
                 bool retained);
/* Publishes (QoS 1, not retained) and hands back the token that link_wait waits on. Not for
 * Paho's callback thread: link_wait blocks. */
int link_send(struct link *l, const char *topic, const char *payload, size_t len, int *token);
/* Waits up to TIMEOUT_MS for the broker's PUBACK of TOKEN. 0, or P4HQ_EMQTT (not acked). */
int link_wait(struct link *l, int token, int timeout_ms);
bool link_connected(struct link *l);
/* Monotonic receive time of the oldest queued message, 0 when the queue is empty. */
int64_t link_oldest_ms(struct link *l);
uint64_t link_dropped(struct link *l);
/* Wakes a link_pop waiter (shutdown). */
void link_wake(struct link *l);
void link_stop(struct link *l);
/* wire.c: publishes HQ's capabilities (retained p4/v1/TENANT/_all/down/caps: the zstd
 * dictionaries it reads) on L. 0, or P4HQ_EMQTT / P4HQ_EINVAL (logged). Any thread. */
int wire_caps_publish(struct link *l, const char *tenant);

/* ---- ingest.c: a group of uplink messages -> one transaction ---- */
struct ingest;
int ingest_new(struct ingest **out, const struct p4hq_config *cfg, struct link *link);
void ingest_free(struct ingest *in);
/* The ingest thread's loop: runs until *STOP is set. */
void ingest_run(struct ingest *in, volatile int *stop);

/* ---- downlink.c: the outbox publisher and resync answers ---- */
struct downlink;
int downlink_new(struct downlink **out, const struct p4hq_config *cfg, struct link *link);
void downlink_free(struct downlink *d);
/* The publisher thread's loop: runs until *STOP is set. */
void downlink_run(struct downlink *d, volatile int *stop);

/* ---- http.c, api.c, stream.c, auth.c: the dashboard and read API ---- */
struct http;
/* Starts the HTTP(S) daemon on cfg->http_listen with its own threads and database
 * connections, and the feed thread (LISTEN/NOTIFY -> Server-Sent Events). Returns 0 (also
 * when [http] listen is empty: *OUT is then NULL) or P4HQ_EINVAL / P4HQ_EIO (logged). */
int http_start(struct http **out, const struct p4hq_config *cfg, struct link *link);
/* Validates the [http] keys that need more than their syntax (listen address, loopback
 * without TLS, token hash format, timezone name). Returns 0 or P4HQ_EINVAL with WHY set
 * ("[http] key: what is wrong"). */
int http_check_config(const struct p4hq_config *cfg, char *why, size_t why_len);
/* Ends every stream, stops the daemon and the feed thread; NULL is fine. */
void http_stop(struct http *h);
/* Prints the hash line of the token read from stdin (p4hq --hash-token). Returns an exit
 * code. */
int auth_hash_token_main(void);

/* ---- cli.c: operator commands ---- */
/* Runs ARGV (after the options) against the database. Returns the process exit code. */
int cli_run(const struct p4hq_config *cfg, int argc, char **argv);

#endif
