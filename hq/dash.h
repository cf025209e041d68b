/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to the dashboard and read API (http.c, api.c, stream.c, auth.c): roles, tokens and
 * login cookies, the JSON routes and the event stream. */
#ifndef P4HQ_DASH_H
#define P4HQ_DASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "audit.h"
#include "p4hq.h"

/* ---- auth.c ---- */
enum role { ROLE_NONE = 0, ROLE_VIEWER = 1, ROLE_ADMIN = 2 };

#define AUTH_COOKIE "p4hq_session"
#define AUTH_COOKIE_MAX 160
#define AUTH_TOKEN_MAX 256
#define AUTH_FP_LEN AUDIT_FP_LEN

struct auth;
/* Parses the configured token hashes and loads (or makes) the cookie key. Returns 0 or
 * P4HQ_EINVAL (logged without any secret). */
int auth_new(struct auth **out, const struct p4hq_config *cfg);
void auth_free(struct auth *a);
/* Checks "pbkdf2-sha256$ITER$SALT_HEX$HASH_HEX". Returns 0 or P4HQ_EINVAL with WHY. */
int auth_hash_valid(const char *hash, char *why, size_t why_len);
/* The role TOKEN (LEN bytes) grants, ROLE_NONE if none. The first check of a token runs the
 * slow KDF against each configured hash (serialized, so guesses cannot use every thread);
 * a token that passed is remembered by its SHA-256 for a while. Compares in constant time. */
enum role auth_token(struct auth *a, const char *token, size_t len);
/* A cookie value for ROLE that expires after [http] session_hours: "v1.ROLE.EXP.MAC" with an
 * HMAC-SHA256 under the session key. OUT has AUTH_COOKIE_MAX bytes. */
void auth_cookie_make(struct auth *a, enum role role, char *out);
/* The role a cookie value carries if its MAC is right and it has not expired. */
enum role auth_cookie_check(struct auth *a, const char *value);
const char *role_name(enum role r);
/* The fingerprint of ROLE's configured token hash ("sha256:" + 16 hex digits; "" if none):
 * names the token in the audit log, and cannot be used to check a guess of the token. */
const char *auth_fingerprint(const struct auth *a, enum role role);
/* The form field NAME of the x-www-form-urlencoded BODY (NUL-terminated), decoded into OUT
 * (OUT_LEN bytes with the NUL). Returns its length, or -1 if absent, malformed or too long. */
int auth_form_field(const char *body, const char *name, char *out, size_t out_len);
int auth_session_s(const struct auth *a);

/* ---- api.c: JSON routes, one database connection per MHD thread ---- */
struct reply {
    unsigned int status;
    char *body;       /* malloc'd, NUL-terminated JSON; the caller frees */
    size_t len;
};
/* Answers GET /api/... (and POST /api/alerts/{id}/ack for admins) into OUT. Every failure is
 * a JSON {"error": "field: what is wrong"} with its status; never fails otherwise. */
void api_handle(const struct p4hq_config *cfg, struct MHD_Connection *conn, const char *method,
                const char *url, const char *body, size_t body_len, enum role role,
                const struct audit_actor *who, struct reply *out);
/* OUT = {"error": "WHAT"} with STATUS. */
void api_error(struct reply *out, unsigned int status, const char *what);
/* api_write.c: POST /api/{prices,promos,customers,stock,loyalty} and
 * /api/promos/{id}/retire (admin only; the caller checked the role). Returns false when PATH
 * is not one of them; else fills OUT: 201 with {"ver":N} / {"id":..} / {"entry":..} after
 * COMMIT (with WHO's audit row in the same transaction), 400/409 {"error":"field: what"}
 * with nothing written. DB is the thread's connection (NULL: 503). */
bool api_write_handle(const struct p4hq_config *cfg, struct db *db, const char *path,
                      const char *body, size_t body_len, const struct audit_actor *who,
                      struct reply *out);
/* True when the database answers (GET /readyz). */
bool api_db_up(const struct p4hq_config *cfg);
/* True when every migration compiled into p4hq is applied (GET /readyz). */
bool api_schema_current(const struct p4hq_config *cfg);
/* GET /metrics: Prometheus text into OUT (text/plain). */
void api_metrics(const struct p4hq_config *cfg, struct link *link, int sse_clients,
                 struct reply *out);

/* ---- stream.c: Server-Sent Events from dash_feed, LISTEN/NOTIFY ---- */
struct stream;
/* Starts the feed thread (its own database connection, LISTEN p4hq_dash). */
int stream_start(struct stream **out, const struct p4hq_config *cfg);
/* Answers GET /api/stream: registers a client resuming after event AFTER (-1: from now) and
 * queues the streaming response, which suspends while it has nothing to send. */
enum MHD_Result stream_serve(struct stream *s, struct MHD_Connection *conn, int64_t after);
/* Ends every client's stream (their pages reconnect elsewhere or later) and waits up to
 * WAIT_MS for them to close. Call before MHD_stop_daemon. */
void stream_close_clients(struct stream *s, int wait_ms);
void stream_stop(struct stream *s);
/* Pages streaming now (metrics). */
int stream_clients(struct stream *s);

/* ---- web assets (embedded by hq/CMakeLists.txt) ---- */
#include "embed.h"
extern const struct p4_blob hq_web[];
extern const size_t hq_web_n;

#endif
