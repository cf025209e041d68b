/* SPDX-License-Identifier: Apache-2.0 */
/* The dashboard's live stream: one thread LISTENs for p4hq_dash, reads new dash_feed rows in id
 * order (ids follow commit order: migrations/002_dashboard.sql) into a ring of formatted
 * events, and feeds every Server-Sent Events client from it. A client with nothing to send is
 * a suspended MHD connection, not a thread; the feed thread resumes it when events come. */
#include "dash.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p4common.h"

#define RING_MAX 16384             /* events kept in memory for resuming clients */
#define RING_BYTES_MAX (16u << 20) /* and their bytes; the oldest go first */
#define FETCH_ROWS 1000            /* dash_feed rows per query */
#define CLIENT_BUF_MAX (512u << 10) /* bytes queued per client; it waits beyond this */
#define PING_MS 15000              /* keeps proxies open, lets pages see a dead stream */
#define PRUNE_MS 600000            /* how often old feed rows are deleted */
#define RETRY_DB_MS 1000
#define STR_(x) #x
#define STR(x) STR_(x)

struct event {
    int64_t id;
    char *text; /* "id: N\nevent: K\ndata: {...}\n\n" */
    size_t len;
};

struct client {
    struct client *prev, *next;
    struct stream *s;
    struct MHD_Connection *conn;
    char *buf; /* bytes waiting for MHD, buf[off..len) */
    size_t off, len, cap;
    int64_t cursor; /* id of the last event queued; -1 until the feed thread places it */
    bool suspended;
    bool closing;   /* send what is queued, then end the response */
};

struct stream {
    const struct p4hq_config *cfg;
    pthread_t th;
    bool started;
    volatile int stop;
    int wake[2];
    pthread_mutex_t mu; /* the client list and every client's buffer and flags */
    struct client *clients;
    int n_clients;
    /* owned by the feed thread */
    struct db db;
    bool listening;
    int64_t head;      /* highest feed id read (this tenant's rows; others skipped) */
    int64_t ring_base; /* every event of the tenant with id > ring_base is in the ring */
    struct event *ring;
    size_t ring_first, ring_n, ring_bytes;
    int64_t next_ping_ms, next_prune_ms;
};

static void wake(struct stream *s)
{
    char c = 1;
    ssize_t n = write(s->wake[1], &c, 1);

    (void)n; /* a full pipe already wakes the thread */
}

/* ---- the ring ---- */

static struct event *ring_at(struct stream *s, size_t i)
{
    return &s->ring[(s->ring_first + i) % RING_MAX];
}

static void ring_drop_oldest(struct stream *s)
{
    struct event *e = ring_at(s, 0);

    s->ring_base = e->id;
    s->ring_bytes -= e->len;
    free(e->text);
    e->text = NULL;
    s->ring_first = (s->ring_first + 1) % RING_MAX;
    s->ring_n--;
}

static int ring_push(struct stream *s, int64_t id, const char *kind, const char *body)
{
    struct event *e;
    int n = snprintf(NULL, 0, "id: %" PRId64 "\nevent: %s\ndata: %s\n\n", id, kind, body);
    char *text = n > 0 ? malloc((size_t)n + 1) : NULL;

    if (!text)
        return P4HQ_ENOMEM;
    snprintf(text, (size_t)n + 1, "id: %" PRId64 "\nevent: %s\ndata: %s\n\n", id, kind, body);
    while (s->ring_n == RING_MAX || (s->ring_n && s->ring_bytes + (size_t)n > RING_BYTES_MAX))
        ring_drop_oldest(s);
    e = ring_at(s, s->ring_n);
    e->id = id;
    e->text = text;
    e->len = (size_t)n;
    s->ring_n++;
    s->ring_bytes += (size_t)n;
    return P4HQ_OK;
}

/* The ring index of the first event with id > ID (ring_n when none). */
static size_t ring_after(struct stream *s, int64_t id)
{
    size_t lo = 0, hi = s->ring_n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (ring_at(s, mid)->id <= id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- clients (called with s->mu held) ---- */

static bool client_put(struct client *c, const char *text, size_t n)
{
    if (c->len + n > CLIENT_BUF_MAX)
        return false;
    if (c->off && c->len + n > c->cap) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        char *b;

        while (cap < c->len + n)
            cap *= 2;
        b = realloc(c->buf, cap);
        if (!b)
            return false;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, text, n);
    c->len += n;
    return true;
}

/* Connections to resume once s->mu is released: MHD_resume_connection takes MHD's own lock,
 * which MHD may hold while it calls client_free (which takes s->mu). A connection marked here
 * stays suspended, so alive, until it is resumed. */
struct resumes {
    struct MHD_Connection **conn;
    size_t n, cap;
};

static void client_resume(struct client *c, struct resumes *r)
{
    if (c->suspended && r->n < r->cap) {
        c->suspended = false;
        r->conn[r->n++] = c->conn;
    }
}

/* Called with s->mu held: room for every client. */
static void resumes_init(struct stream *s, struct resumes *r)
{
    r->n = 0;
    r->cap = (size_t)s->n_clients;
    r->conn = r->cap ? malloc(r->cap * sizeof *r->conn) : NULL;
    if (!r->conn)
        r->cap = 0; /* they are resumed on the next pass */
}

static void resumes_run(struct resumes *r)
{
    for (size_t i = 0; i < r->n; i++)
        MHD_resume_connection(r->conn[i]);
    free(r->conn);
}

/* Queues what CLIENT has not had yet, as far as its buffer allows. A client that fell behind
 * the ring is told to reload ("reset") and its stream ends: the page takes a fresh snapshot
 * and resumes from there, so it never shows a gap. */
static void client_feed(struct stream *s, struct client *c, bool ping, struct resumes *r)
{
    static const char reset[] = "event: reset\ndata: {}\n\n";
    bool queued = false;

    if (c->closing)
        return;
    if (c->cursor < 0)
        c->cursor = s->head;
    if (c->cursor < s->head) {
        if (c->cursor < s->ring_base) {
            client_put(c, reset, sizeof reset - 1);
            c->closing = true;
            client_resume(c, r);
            return;
        }
        for (size_t i = ring_after(s, c->cursor); i < s->ring_n; i++) {
            struct event *e = ring_at(s, i);

            if (!client_put(c, e->text, e->len))
                break;
            c->cursor = e->id;
            queued = true;
        }
        if (ring_after(s, c->cursor) == s->ring_n)
            c->cursor = s->head; /* other tenants' ids in between */
    }
    if (ping && !queued) {
        char text[64];
        int n = snprintf(text, sizeof text, "event: ping\ndata: {\"head\":%" PRId64 "}\n\n",
                         s->head);

        queued = client_put(c, text, (size_t)n);
    }
    if (queued)
        client_resume(c, r);
}

static void feed_all(struct stream *s, bool ping)
{
    struct resumes r;

    pthread_mutex_lock(&s->mu);
    resumes_init(s, &r);
    for (struct client *c = s->clients; c; c = c->next)
        client_feed(s, c, ping, &r);
    pthread_mutex_unlock(&s->mu);
    resumes_run(&r);
}

/* ---- the feed thread's database work ---- */

static int db_setup(struct stream *s)
{
    PGresult *res = NULL;
    const char *params[1] = {s->cfg->tenant};
    bool first = !s->listening && s->head == 0 && s->ring_n == 0;
    int rc;

    rc = db_open(&s->db, s->cfg, "p4hq stream");
    if (!rc)
        rc = db_exec(&s->db, "LISTEN p4hq_dash", "listen");
    if (!rc)
        rc = db_prepare(&s->db, "feed_after",
                        "SELECT id, kind, body::text FROM dash_feed WHERE tenant = $1 AND id > $2"
                        " ORDER BY id LIMIT " STR(FETCH_ROWS));
    if (rc)
        goto out;
    s->listening = true;
    if (first) {
        /* Preload the newest events so pages that reconnect after a restart of this process
         * resume from memory. LISTEN came first: nothing committed after it is missed. */
        rc = db_query(&s->db,
                      "SELECT (SELECT pruned_through FROM dash_feed_horizon),"
                      " (SELECT CASE WHEN count(*) = " STR(RING_MAX) " THEN min(id) - 1"
                      "  ELSE 0 END FROM (SELECT id FROM dash_feed WHERE tenant = $1"
                      "  ORDER BY id DESC LIMIT " STR(RING_MAX) ") t)",
                      1, params, &res);
        if (rc)
            goto out;
        s->ring_base = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (strtoll(PQgetvalue(res, 0, 1), NULL, 10) > s->ring_base)
            s->ring_base = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        s->head = s->ring_base;
        PQclear(res);
        res = NULL;
    }
out:
    PQclear(res);
    if (rc)
        db_close(&s->db);
    return rc;
}

/* Reads every feed row after head into the ring. Returns rows read or a negative code. */
static int fetch_new(struct stream *s)
{
    int total = 0;

    for (;;) {
        char after[24];
        const char *params[2] = {s->cfg->tenant, after};
        PGresult *res;
        int n;

        snprintf(after, sizeof after, "%" PRId64, s->head);
        if (db_run(&s->db, "feed_after", 2, params, &res))
            return P4HQ_EDB;
        n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            int64_t id = strtoll(PQgetvalue(res, i, 0), NULL, 10);

            if (ring_push(s, id, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2)) == 0)
                s->head = id;
        }
        PQclear(res);
        total += n;
        if (n < FETCH_ROWS)
            return total;
    }
}

static void prune(struct stream *s)
{
    char hours[16];
    const char *params[1] = {hours};
    PGresult *res = NULL;

    snprintf(hours, sizeof hours, "%d", s->cfg->feed_retention_h);
    /* Any p4hq process may prune; the horizon only moves forward. */
    if (db_query(&s->db,
                 "WITH d AS (DELETE FROM dash_feed WHERE at < now() - $1::int * interval '1 hour'"
                 " RETURNING id) UPDATE dash_feed_horizon SET pruned_through ="
                 " greatest(pruned_through, (SELECT max(id) FROM d))"
                 " WHERE EXISTS (SELECT 1 FROM d)",
                 1, params, &res) == 0)
        PQclear(res);
}

static void *feed_main(void *arg)
{
    struct stream *s = arg;
    int64_t retry_at = 0;

    while (!s->stop) {
        struct pollfd pfd[2] = {{.fd = s->wake[0], .events = POLLIN}, {.fd = -1}};
        int64_t now = p4_mono_ms();
        bool got = false;
        char drain[64];

        if (!db_ok(&s->db) && now >= retry_at) {
            s->listening = false;
            db_close(&s->db);
            if (db_setup(s) != 0) {
                retry_at = now + RETRY_DB_MS;
            } else {
                p4_info("stream listening head=%" PRId64, s->head);
                got = true; /* what was committed while we were away */
            }
        }
        if (got || db_ok(&s->db)) {
            PGnotify *nt;

            if (!got) {
                pfd[1].fd = PQsocket(s->db.conn);
                pfd[1].events = POLLIN;
                poll(pfd, 2, 1000);
                while (read(s->wake[0], drain, sizeof drain) > 0)
                    ;
                if (PQconsumeInput(s->db.conn) != 1) {
                    p4_warn("stream database connection lost: %s", PQerrorMessage(s->db.conn));
                    db_close(&s->db);
                    continue;
                }
            }
            while ((nt = PQnotifies(s->db.conn)) != NULL) {
                got = true;
                PQfreemem(nt);
            }
            if (got && fetch_new(s) < 0) {
                db_close(&s->db);
                continue;
            }
        } else {
            poll(pfd, 1, RETRY_DB_MS);
            while (read(s->wake[0], drain, sizeof drain) > 0)
                ;
        }
        now = p4_mono_ms();
        if (now >= s->next_ping_ms) {
            s->next_ping_ms = now + PING_MS;
            feed_all(s, true);
        } else {
            feed_all(s, false);
        }
        if (db_ok(&s->db) && now >= s->next_prune_ms) {
            s->next_prune_ms = now + PRUNE_MS;
            prune(s);
        }
    }
    db_close(&s->db);
    return NULL;
}

/* ---- MHD side ---- */

static ssize_t client_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct client *c = cls;
    struct stream *s = c->s;
    ssize_t n;

    (void)pos;
    pthread_mutex_lock(&s->mu);
    if (c->off < c->len) {
        bool was_full = c->len - c->off > CLIENT_BUF_MAX / 2;
        size_t k = c->len - c->off < max ? c->len - c->off : max;

        memcpy(buf, c->buf + c->off, k);
        c->off += k;
        if (c->off == c->len)
            c->off = c->len = 0;
        if (was_full && c->len - c->off <= CLIENT_BUF_MAX / 2)
            wake(s); /* room for what it skipped */
        n = (ssize_t)k;
    } else if (c->closing) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        c->suspended = true;
        MHD_suspend_connection(c->conn);
        n = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void client_free(void *cls)
{
    struct client *c = cls;
    struct stream *s = c->s;

    pthread_mutex_lock(&s->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_clients--;
    pthread_mutex_unlock(&s->mu);
    free(c->buf);
    free(c);
}

enum MHD_Result stream_serve(struct stream *s, struct MHD_Connection *conn, int64_t after)
{
    static const char hello[] = "retry: 1000\n\n";
    struct MHD_Response *resp;
    struct client *c = calloc(1, sizeof *c);
    enum MHD_Result ret;

    if (!c)
        return MHD_NO;
    c->s = s;
    c->conn = conn;
    c->cursor = after;
    if (!client_put(c, hello, sizeof hello - 1)) {
        free(c);
        return MHD_NO;
    }
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, client_read, c,
                                             client_free);
    if (!resp) {
        free(c->buf);
        free(c);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    pthread_mutex_lock(&s->mu);
    c->next = s->clients;
    if (s->clients)
        s->clients->prev = c;
    s->clients = c;
    s->n_clients++;
    pthread_mutex_unlock(&s->mu);
    wake(s);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

void stream_close_clients(struct stream *s, int wait_ms)
{
    int64_t until = p4_mono_ms() + wait_ms;
    int n;

    if (!s)
        return;
    do {
        struct resumes r;

        pthread_mutex_lock(&s->mu);
        resumes_init(s, &r);
        for (struct client *c = s->clients; c; c = c->next) {
            c->closing = true;
            client_resume(c, &r);
        }
        n = s->n_clients;
        pthread_mutex_unlock(&s->mu);
        resumes_run(&r);
        if (n > 0)
            usleep(20000);
    } while (n > 0 && p4_mono_ms() < until);
}

int stream_start(struct stream **out, const struct p4hq_config *cfg)
{
    struct stream *s = calloc(1, sizeof *s);

    *out = NULL;
    if (!s)
        return P4HQ_ENOMEM;
    s->ring = calloc(RING_MAX, sizeof *s->ring);
    if (!s->ring || pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(s->ring);
        free(s);
        return P4HQ_ENOMEM;
    }
    s->cfg = cfg;
    pthread_mutex_init(&s->mu, NULL);
    s->next_ping_ms = p4_mono_ms() + PING_MS;
    s->next_prune_ms = p4_mono_ms() + 5000;
    if (pthread_create(&s->th, NULL, feed_main, s) != 0) {
        stream_stop(s);
        return P4HQ_ENOMEM;
    }
    s->started = true;
    *out = s;
    return P4HQ_OK;
}

int stream_clients(struct stream *s)
{
    int n;

    if (!s)
        return 0;
    pthread_mutex_lock(&s->mu);
    n = s->n_clients;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void stream_stop(struct stream *s)
{
    if (!s)
        return;
    if (s->started) {
        s->stop = 1;
        wake(s);
        pthread_join(s->th, NULL);
    }
    while (s->ring_n)
        ring_drop_oldest(s);
    free(s->ring);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
