/* SPDX-License-Identifier: Apache-2.0 */
/* p4hq's HTTP(S) daemon (libmicrohttpd, a small pool of its own threads): the dashboard page
 * and its assets, login and logout, the token check in front of every data route, security
 * headers, and the hand-off to the read API (api.c) and the event stream (stream.c). */
#include "dash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "p4common.h"
#include "ratelimit.h"

#define BODY_MAX 4096             /* login forms and API writes; more is refused (413) */
#define CONN_TIMEOUT_S 30         /* an idle connection is closed; streams ping every 15 s */
#define CONN_MEMORY (64u << 10)   /* per connection: headers, upload, write buffer */
#define PER_IP_MAX 64
#define PEM_MAX (64u << 10)

/* Scripts and styles only from our own files, no inline code of either kind, no framing. */
static const char csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

struct http {
    struct MHD_Daemon *daemon;
    const struct p4hq_config *cfg;
    struct link *link; /* the cloud link, for /readyz and /metrics (may be NULL) */
    struct auth *auth;
    struct stream *stream;
    struct ratelimit *limits; /* per client address: requests and bad tokens */
    bool tls;
    char *cert, *key; /* PEM, kept for the daemon's life */
};

/* Per request: the body read so far. */
struct req {
    char body[BODY_MAX + 1];
    size_t len;
    bool answered; /* refused before its body was read (too big, too many requests) */
};

/* ---- configuration ---- */

static int parse_listen(const char *listen, struct sockaddr_in *sa, char *why, size_t why_len)
{
    const char *colon = strrchr(listen, ':');
    char host[64];
    char *end;
    long port;

    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        snprintf(why, why_len, "[http] listen: %s is not ADDRESS:PORT", listen);
        return P4HQ_EINVAL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 1 || port > 65535) {
        snprintf(why, why_len, "[http] listen: port %s is not 1..65535", colon + 1);
        return P4HQ_EINVAL;
    }
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        snprintf(why, why_len, "[http] listen: %s is not an IPv4 address", host);
        return P4HQ_EINVAL;
    }
    return P4HQ_OK;
}

int http_check_config(const struct p4hq_config *cfg, char *why, size_t why_len)
{
    struct sockaddr_in sa;
    char reason[128];

    if (parse_listen(cfg->http_listen, &sa, why, why_len))
        return P4HQ_EINVAL;
    /* Tokens and cookies must not cross a network in clear text. */
    if (!cfg->http_cert_file[0] && (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        snprintf(why, why_len, "[http] listen: %s is not loopback: set cert_file and key_file "
                               "(HTTPS) to listen beyond this machine", cfg->http_listen);
        return P4HQ_EINVAL;
    }
    if (cfg->viewer_token_hash[0] && auth_hash_valid(cfg->viewer_token_hash, reason,
                                                     sizeof reason)) {
        snprintf(why, why_len, "[http] viewer_token_hash: %s", reason);
        return P4HQ_EINVAL;
    }
    if (cfg->admin_token_hash[0] && auth_hash_valid(cfg->admin_token_hash, reason,
                                                    sizeof reason)) {
        snprintf(why, why_len, "[http] admin_token_hash: %s", reason);
        return P4HQ_EINVAL;
    }
    for (const char *p = cfg->http_timezone; *p; p++) {
        if (!(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') &&
            !strchr("/_+-", *p)) {
            snprintf(why, why_len, "[http] timezone: must be a zone name such as UTC or "
                                   "Europe/Paris");
            return P4HQ_EINVAL;
        }
    }
    if (!cfg->http_timezone[0]) {
        snprintf(why, why_len, "[http] timezone: must not be empty");
        return P4HQ_EINVAL;
    }
    return P4HQ_OK;
}

/* ---- responses ---- */

static void add_headers(struct http *h, struct MHD_Response *resp, const char *type)
{
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (h->tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

/* Queues BODY (LEN bytes; MUST_FREE: a malloc'd buffer MHD frees) with STATUS. */
static enum MHD_Result send_body(struct http *h, struct MHD_Connection *conn, unsigned status,
                                 const char *type, const char *body, size_t len, bool must_free,
                                 const char *h1, const char *v1)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, (void *)body, must_free ? MHD_RESPMEM_MUST_FREE
                                                                       : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (must_free)
            free((void *)body);
        return MHD_NO;
    }
    add_headers(h, resp, type);
    if (h1)
        MHD_add_response_header(resp, h1, v1);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_reply(struct http *h, struct MHD_Connection *conn,
                                  struct reply *r, const char *h1, const char *v1)
{
    if (!r->body)
        return MHD_NO;
    return send_body(h, conn, r->status, "application/json", r->body, r->len, true, h1, v1);
}

static enum MHD_Result send_error(struct http *h, struct MHD_Connection *conn, unsigned status,
                                  const char *what)
{
    struct reply r;

    api_error(&r, status, what);
    return send_reply(h, conn, &r, status == MHD_HTTP_UNAUTHORIZED ? "WWW-Authenticate" : NULL,
                      "Bearer realm=\"p4hq\"");
}

static enum MHD_Result redirect(struct http *h, struct MHD_Connection *conn, const char *to,
                                const char *cookie)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
                                                                MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    add_headers(h, resp, "text/plain");
    MHD_add_response_header(resp, "Location", to);
    if (cookie)
        MHD_add_response_header(resp, "Set-Cookie", cookie);
    ret = MHD_queue_response(conn, MHD_HTTP_SEE_OTHER, resp);
    MHD_destroy_response(resp);
    return ret;
}

static const struct p4_blob *asset(const char *name)
{
    for (size_t i = 0; i < hq_web_n; i++) {
        if (strcmp(hq_web[i].name, name) == 0)
            return &hq_web[i];
    }
    return NULL;
}

static enum MHD_Result send_asset(struct http *h, struct MHD_Connection *conn, const char *name,
                                  unsigned status)
{
    const struct p4_blob *b = asset(name);
    const char *dot = strrchr(name, '.');
    const char *type = "application/octet-stream";

    if (!b)
        return send_error(h, conn, MHD_HTTP_NOT_FOUND, "path: no such file");
    if (dot && strcmp(dot, ".html") == 0)
        type = "text/html; charset=utf-8";
    else if (dot && strcmp(dot, ".js") == 0)
        type = "text/javascript; charset=utf-8";
    else if (dot && strcmp(dot, ".css") == 0)
        type = "text/css; charset=utf-8";
    else if (dot && strcmp(dot, ".svg") == 0)
        type = "image/svg+xml";
    return send_body(h, conn, status, type, b->data, b->len, false, NULL, NULL);
}

/* The login page again, saying why (the page has no script: the server writes the note). */
static enum MHD_Result login_failed(struct http *h, struct MHD_Connection *conn)
{
    const struct p4_blob *b = asset("login.html");
    static const char mark[] = "<!--note-->";
    static const char note[] = "<p class=\"note\" role=\"alert\">That token is not valid.</p>";
    const char *at = b ? strstr(b->data, mark) : NULL;
    char *page;
    size_t n;

    if (!at)
        return send_error(h, conn, MHD_HTTP_UNAUTHORIZED, "token: not valid");
    n = b->len - strlen(mark) + strlen(note);
    page = malloc(n + 1);
    if (!page)
        return MHD_NO;
    snprintf(page, n + 1, "%.*s%s%s", (int)(at - b->data), b->data, note, at + strlen(mark));
    return send_body(h, conn, MHD_HTTP_UNAUTHORIZED, "text/html; charset=utf-8", page, n, true,
                     NULL, NULL);
}

/* 429 with Retry-After: the client waits, no thread here does. */
static enum MHD_Result send_throttled(struct http *h, struct MHD_Connection *conn, int wait_s,
                                      const char *what)
{
    struct reply r;
    char after[16];

    snprintf(after, sizeof after, "%d", wait_s);
    api_error(&r, MHD_HTTP_TOO_MANY_REQUESTS, what);
    return send_reply(h, conn, &r, "Retry-After", after);
}

/* ---- the client ---- */

static const struct sockaddr *peer(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    return ci ? ci->client_addr : NULL;
}

static void peer_text(struct MHD_Connection *conn, char *out, size_t out_len)
{
    const struct sockaddr *sa = peer(conn);
    char ip[INET6_ADDRSTRLEN] = "";

    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    snprintf(out, out_len, "%s", ip[0] ? ip : "unknown");
}

/* ---- authentication ---- */

/* The login throttle's tag of a bad token: 8 bytes of its SHA-256 (tells a repeat only). */
static void token_tag(const char *token, size_t len, unsigned char tag[8])
{
    unsigned char d[32];

    EVP_Digest(token, len, d, NULL, EVP_sha256(), NULL);
    memcpy(tag, d, 8);
    p4_memzero(d, sizeof d);
}

/* The role of the request's bearer token or login cookie; WHO gets the audit actor (role, how
 * it was presented, the token's fingerprint, the peer). *BAD_TOKEN tells that a bearer token
 * was presented and is not valid (counted by the login throttle). */
static enum role request_role(struct http *h, struct MHD_Connection *conn,
                              struct audit_actor *who, bool *bad_token,
                              unsigned char tag[8])
{
    const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *cookie, *how = "cookie";
    enum role role;

    *bad_token = false;
    memset(who, 0, sizeof *who);
    who->via = "api";
    peer_text(conn, who->origin, sizeof who->origin);
    if (authz) {
        how = "bearer";
        if (strncasecmp(authz, "Bearer ", 7) != 0) {
            role = ROLE_NONE;
        } else {
            authz += 7;
            while (*authz == ' ')
                authz++;
            role = auth_token(h->auth, authz, strlen(authz));
        }
        *bad_token = role == ROLE_NONE;
        if (*bad_token)
            token_tag(authz, strlen(authz), tag);
    } else {
        cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, AUTH_COOKIE);
        role = cookie ? auth_cookie_check(h->auth, cookie) : ROLE_NONE;
    }
    snprintf(who->actor, sizeof who->actor, "%s (%s)", role_name(role), how);
    snprintf(who->token_fp, sizeof who->token_fp, "%s", auth_fingerprint(h->auth, role));
    return role;
}

static enum MHD_Result do_login(struct http *h, struct MHD_Connection *conn, struct req *rq)
{
    char token[AUTH_TOKEN_MAX + 1];
    char value[AUTH_COOKIE_MAX], cookie[AUTH_COOKIE_MAX + 128], addr[INET6_ADDRSTRLEN];
    unsigned char tag[8];
    enum role role = ROLE_NONE;
    int n, wait_s;

    peer_text(conn, addr, sizeof addr);
    /* A burst of bad tokens from one address: answered at once, without running the KDF. */
    wait_s = ratelimit_login_wait(h->limits, peer(conn), p4_mono_ms());
    if (wait_s > 0) {
        p4_memzero(rq->body, sizeof rq->body);
        p4_info("http login throttled peer=%s wait_s=%d", addr, wait_s);
        return send_throttled(h, conn, wait_s, "token: too many bad tokens, try again later");
    }
    rq->body[rq->len] = '\0';
    n = auth_form_field(rq->body, "token", token, sizeof token);
    if (n > 0)
        role = auth_token(h->auth, token, (size_t)n);
    token_tag(token, n > 0 ? (size_t)n : 0, tag);
    p4_memzero(token, sizeof token);
    p4_memzero(rq->body, sizeof rq->body);
    if (role == ROLE_NONE) {
        ratelimit_login_failed(h->limits, peer(conn), p4_mono_ms(), tag);
        p4_info("http login refused peer=%s", addr);
        return login_failed(h, conn);
    }
    auth_cookie_make(h->auth, role, value);
    snprintf(cookie, sizeof cookie,
             AUTH_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Strict", value,
             auth_session_s(h->auth));
    p4_info("http login role=%s peer=%s", role_name(role), addr);
    return redirect(h, conn, "/", cookie);
}

/* ---- routing ---- */

static bool is_json(struct MHD_Connection *conn)
{
    const char *t = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");

    return t && strncasecmp(t, "application/json", 16) == 0;
}

static int parse_event_id(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || !*s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

static enum MHD_Result serve_stream(struct http *h, struct MHD_Connection *conn)
{
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    const char *after = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
    int64_t from = -1;

    /* The browser's own reconnection sends Last-Event-ID; a page starting a new stream says
     * where its snapshot ends with ?after=. */
    if (last && last[0]) {
        if (parse_event_id(last, &from))
            return send_error(h, conn, MHD_HTTP_BAD_REQUEST, "Last-Event-ID: not an event id");
    } else if (after) {
        if (parse_event_id(after, &from))
            return send_error(h, conn, MHD_HTTP_BAD_REQUEST, "after: not an event id");
    }
    return stream_serve(h->stream, conn, from);
}

static enum MHD_Result route(struct http *h, struct MHD_Connection *conn, const char *url,
                             const char *method, struct req *rq)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    struct audit_actor who;
    unsigned char tag[8];
    bool bad_token;
    enum role role;
    int wait_s;

    /* For load balancers and orchestrators: the process answers (healthz), and it can do its
     * work: database reachable with every migration applied, cloud broker connected. */
    if (strcmp(url, "/healthz") == 0 && get) {
        static const char up[] = "{\"status\":\"ok\"}";

        return send_body(h, conn, MHD_HTTP_OK, "application/json", up, strlen(up), false,
                         NULL, NULL);
    }
    if (strcmp(url, "/readyz") == 0 && get) {
        bool db = api_db_up(h->cfg), schema = db && api_schema_current(h->cfg);
        bool broker = !h->link || link_connected(h->link);
        bool ok = db && schema && broker;
        char body[128];
        int n = snprintf(body, sizeof body,
                         "{\"status\":\"%s\",\"db\":%s,\"schema\":%s,\"broker\":%s}",
                         ok ? "ready" : "unready", db ? "true" : "false",
                         schema ? "true" : "false", broker ? "true" : "false");

        char *copy = strndup(body, (size_t)n); /* the answer may be sent after we return */

        if (!copy)
            return MHD_NO;
        return send_body(h, conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                         "application/json", copy, (size_t)n, true, NULL, NULL);
    }
    if (get && (strcmp(url, "/app.css") == 0 || strcmp(url, "/app.js") == 0 ||
                strcmp(url, "/icon.svg") == 0))
        return send_asset(h, conn, url + 1, MHD_HTTP_OK);
    if (strcmp(url, "/login") == 0) {
        if (get)
            return send_asset(h, conn, "login.html", MHD_HTTP_OK);
        if (post)
            return do_login(h, conn, rq);
        return send_error(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method: GET or POST");
    }
    if (strcmp(url, "/logout") == 0 && post)
        return redirect(h, conn, "/login",
                        AUTH_COOKIE "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization")) {
        wait_s = ratelimit_login_wait(h->limits, peer(conn), p4_mono_ms());
        if (wait_s > 0)
            return send_throttled(h, conn, wait_s,
                                  "authorization: too many bad tokens, try again later");
    }
    role = request_role(h, conn, &who, &bad_token, tag);
    if (bad_token) {
        ratelimit_login_failed(h->limits, peer(conn), p4_mono_ms(), tag);
        p4_info("http bad token peer=%s", who.origin);
    }
    if (strcmp(url, "/") == 0 && get) {
        if (role == ROLE_NONE)
            return redirect(h, conn, "/login", NULL);
        return send_asset(h, conn, "index.html", MHD_HTTP_OK);
    }
    if (strcmp(url, "/metrics") == 0 && get) {
        struct reply r;

        if (role == ROLE_NONE)
            return send_error(h, conn, MHD_HTTP_UNAUTHORIZED,
                              "authorization: a viewer or admin token is required");
        api_metrics(h->cfg, h->link, stream_clients(h->stream), &r);
        return send_body(h, conn, r.status, "text/plain; version=0.0.4", r.body, r.len, true,
                         NULL, NULL);
    }
    if (strncmp(url, "/api/", 5) != 0)
        return send_error(h, conn, MHD_HTTP_NOT_FOUND, "path: no such resource");
    if (role == ROLE_NONE)
        return send_error(h, conn, MHD_HTTP_UNAUTHORIZED,
                          "authorization: a viewer or admin token is required (Authorization: "
                          "Bearer TOKEN, or log in at /login)");
    if (strcmp(url, "/api/stream") == 0 && get)
        return serve_stream(h, conn);
    /* A browser sends a JSON content type cross-site only after a preflight we never allow,
     * so a forged form cannot write with someone's cookie. */
    if (post && !is_json(conn))
        return send_error(h, conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "Content-Type: must be application/json");
    {
        struct reply r;

        api_handle(h->cfg, conn, method, url, rq->body, rq->len, role, &who, &r);
        return send_reply(h, conn, &r, NULL, NULL);
    }
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **con_cls)
{
    struct http *h = cls;
    struct req *rq = *con_cls;

    (void)version;
    if (!rq) {
        const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         "Content-Length");
        int wait_s = ratelimit_request(h->limits, peer(conn), p4_mono_ms());

        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        /* Answered from the headers alone: the body, if any, is never read (MHD closes the
         * connection after the answer). */
        if (wait_s > 0) {
            rq->answered = true;
            return send_throttled(h, conn, wait_s, "requests: too many, slow down");
        }
        if (length && strtoull(length, NULL, 10) > BODY_MAX) {
            rq->answered = true;
            return send_error(h, conn, MHD_HTTP_CONTENT_TOO_LARGE,
                              "body: larger than 4096 bytes");
        }
        /* A body of unknown size (chunked) could only be refused by closing the connection
         * once it grew too big (MHD takes no answer while it hands over upload data): ask for
         * its length instead, as every browser form and HTTP client sends it. */
        if (!length && MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding")) {
            rq->answered = true;
            return send_error(h, conn, MHD_HTTP_LENGTH_REQUIRED,
                              "Content-Length: required (at most 4096 bytes)");
        }
        return MHD_YES; /* headers only so far */
    }
    if (rq->answered) {
        *upload_len = 0;
        return MHD_YES;
    }
    if (*upload_len) {
        /* Cannot happen with the checks above (MHD holds a body to its Content-Length);
         * should it, the connection is closed rather than the rest read. */
        if (rq->len + *upload_len > BODY_MAX)
            return MHD_NO;
        memcpy(rq->body + rq->len, upload, *upload_len);
        rq->len += *upload_len;
        *upload_len = 0;
        return MHD_YES;
    }
    rq->body[rq->len] = '\0';
    return route(h, conn, url, method, rq);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode code)
{
    struct req *rq = *con_cls;

    (void)cls;
    (void)conn;
    (void)code;
    if (rq) {
        p4_memzero(rq, sizeof *rq); /* it may have carried a token */
        free(rq);
    }
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* libmicrohttpd's own messages, at debug level. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[256];

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    p4_debug("http: %s", line);
}

static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (!f)
        return NULL;
    buf = malloc(PEM_MAX + 1);
    n = buf ? fread(buf, 1, PEM_MAX, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n == PEM_MAX) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int http_start(struct http **out, const struct p4hq_config *cfg, struct link *link)
{
    struct sockaddr_in sa;
    struct http *h;
    char why[P4HQ_TEXT_MAX + 64];
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG;
    int rc;

    *out = NULL;
    if (!cfg->http_listen[0])
        return P4HQ_OK;
    if (http_check_config(cfg, why, sizeof why) || parse_listen(cfg->http_listen, &sa, why,
                                                                sizeof why)) {
        p4_error("http not started reason=\"%s\"", why);
        return P4HQ_EINVAL;
    }
    h = calloc(1, sizeof *h);
    if (!h)
        return P4HQ_ENOMEM;
    h->cfg = cfg;
    h->link = link;
    rc = auth_new(&h->auth, cfg);
    if (!rc)
        rc = ratelimit_new(&h->limits, cfg->http_requests_per_s, cfg->http_request_burst,
                           cfg->http_login_failures);
    if (rc)
        goto fail;
    if (cfg->http_cert_file[0]) {
        h->cert = read_pem(cfg->http_cert_file);
        h->key = read_pem(cfg->http_key_file);
        if (!h->cert || !h->key) {
            p4_error("http not started reason=\"cannot read [http] cert_file or key_file\"");
            rc = P4HQ_EINVAL;
            goto fail;
        }
        h->tls = true;
        flags |= MHD_USE_TLS;
    }
    rc = stream_start(&h->stream, cfg);
    if (rc)
        goto fail;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->http_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->http_max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)PER_IP_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        h->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, h->cert,
        MHD_OPTION_HTTPS_MEM_KEY, h->key,
        MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
        MHD_OPTION_END);
    if (!h->daemon) {
        p4_error("http not started listen=%s error=\"%s\"", cfg->http_listen,
                 errno ? strerror(errno) : "libmicrohttpd refused");
        rc = P4HQ_EIO;
        goto fail;
    }
    p4_info("http listening listen=%s tls=%s", cfg->http_listen, h->tls ? "on" : "off");
    *out = h;
    return P4HQ_OK;
fail:
    http_stop(h);
    return rc;
}

void http_stop(struct http *h)
{
    if (!h)
        return;
    /* No suspended connection may be left when the daemon stops. */
    stream_close_clients(h->stream, 2000);
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    stream_stop(h->stream);
    auth_free(h->auth);
    ratelimit_free(h->limits);
    if (h->key)
        p4_memzero(h->key, strlen(h->key));
    free(h->key);
    free(h->cert);
    free(h);
}
