/* SPDX-License-Identifier: Apache-2.0 */
/* rawmqtt: the MQTT 3.1.1 client of the benchmark tools (QoS 1, one epoll thread, no library). */

#include "rawmqtt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RM_RBUF_MAX (8u * 1024 * 1024)  /* one incoming packet may be up to a 1 MiB message */
#define RM_WBUF_MAX (64u * 1024 * 1024) /* beyond this a connection is declared stuck */

static const char *prog = "rawmqtt";
static struct rm_conn *conns;
static int n_conns, max_conns;
static int ep = -1;
static rm_publish_fn *publish_cb;

int64_t rm_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void rm_die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
    exit(2);
}

void rm_fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", prog, what);
    exit(2);
}

void *rm_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        rm_fail("out of memory");
    return p;
}

void rm_init(const char *name, int conns_max, rm_publish_fn *on_publish)
{
    prog = name;
    max_conns = conns_max;
    conns = calloc((size_t)conns_max, sizeof(*conns));
    if (!conns)
        rm_fail("out of memory");
    publish_cb = on_publish;
    ep = epoll_create1(0);
    if (ep < 0)
        rm_die("epoll_create1");
}

struct rm_conn *rm_conn(int i)
{
    return &conns[i];
}

int rm_count(void)
{
    return n_conns;
}

int rm_epoll(void)
{
    return ep;
}

void rm_watch_fd(int fd, uint32_t key)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = key};

    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        rm_die("epoll_ctl");
}

/* ---- output buffering ---- */

static void wreserve(struct rm_conn *c, size_t more)
{
    if (c->wlen + more <= c->wcap)
        return;
    size_t cap = c->wcap ? c->wcap : 4096;

    while (cap < c->wlen + more)
        cap *= 2;
    if (cap > RM_WBUF_MAX)
        rm_fail("a broker stopped reading (write buffer over 64 MiB)");
    c->wbuf = realloc(c->wbuf, cap);
    if (!c->wbuf)
        rm_fail("out of memory");
    c->wcap = cap;
}

static void wbytes(struct rm_conn *c, const void *p, size_t n)
{
    wreserve(c, n);
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
    c->dirty = true;
}

static void wbyte(struct rm_conn *c, uint8_t b)
{
    wbytes(c, &b, 1);
}

static void wlen_field(struct rm_conn *c, size_t n)
{
    do {
        uint8_t b = n % 128;

        n /= 128;
        if (n)
            b |= 0x80;
        wbyte(c, b);
    } while (n);
}

static void wstr(struct rm_conn *c, const char *s, size_t n)
{
    uint8_t h[2] = {(uint8_t)(n >> 8), (uint8_t)n};

    wbytes(c, h, 2);
    wbytes(c, s, n);
}

static uint16_t pid_next(struct rm_conn *c)
{
    if (++c->next_pid == 0)
        c->next_pid = 1;
    return c->next_pid;
}

static void mqtt_connect(struct rm_conn *c, const char *client_id, bool clean)
{
    size_t id_len = strlen(client_id);
    /* protocol name, level 4, flags (clean session or not), keepalive 0 */
    uint8_t vh[] = {0, 4, 'M', 'Q', 'T', 'T', 4, clean ? 0x02 : 0x00, 0, 0};

    wbyte(c, 0x10);
    wlen_field(c, sizeof(vh) + 2 + id_len);
    wbytes(c, vh, sizeof(vh));
    wstr(c, client_id, id_len);
}

void rm_subscribe(struct rm_conn *c, const char *filter)
{
    size_t n = strlen(filter);
    uint16_t pid = pid_next(c);
    uint8_t p[2] = {(uint8_t)(pid >> 8), (uint8_t)pid};

    wbyte(c, 0x82);
    wlen_field(c, 2 + 2 + n + 1);
    wbytes(c, p, 2);
    wstr(c, filter, n);
    wbyte(c, 1);
    c->subs_pending++;
}

uint16_t rm_publish(struct rm_conn *c, const char *topic, const void *payload, size_t len,
                    bool retain)
{
    size_t tn = strlen(topic);
    uint16_t pid = pid_next(c);
    uint8_t p[2] = {(uint8_t)(pid >> 8), (uint8_t)pid};

    wbyte(c, retain ? 0x33 : 0x32); /* QoS 1 */
    wlen_field(c, 2 + tn + 2 + len);
    wstr(c, topic, tn);
    wbytes(c, p, 2);
    wbytes(c, payload, len);
    return pid;
}

static void mqtt_puback(struct rm_conn *c, uint16_t pid)
{
    uint8_t p[4] = {0x40, 2, (uint8_t)(pid >> 8), (uint8_t)pid};

    wbytes(c, p, 4);
}

static void set_out(struct rm_conn *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = 0};

    if (c->want_out == on)
        return;
    ev.data.u32 = (uint32_t)(c - conns);
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        rm_die("epoll_ctl");
    c->want_out = on;
}

void rm_flush(struct rm_conn *c)
{
    size_t off = 0;

    while (off < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + off, c->wlen - off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            rm_die("write to broker");
        }
        off += (size_t)n;
    }
    memmove(c->wbuf, c->wbuf + off, c->wlen - off);
    c->wlen -= off;
    c->dirty = false;
    set_out(c, c->wlen > 0);
}

void rm_flush_all(void)
{
    for (int i = 0; i < n_conns; i++) {
        if (conns[i].dirty)
            rm_flush(&conns[i]);
    }
}

int rm_open(int kind, int idx, const char *host, int port, const char *client_id, bool clean)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct rm_conn *c;
    struct epoll_event ev = {.events = EPOLLIN};
    int one = 1;

    if (n_conns >= max_conns)
        rm_fail("too many connections");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        rm_fail("host must be an IPv4 address");
    c = &conns[n_conns];
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        rm_die("socket");
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        rm_die("connect to broker");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->kind = kind;
    c->idx = idx;
    ev.data.u32 = (uint32_t)n_conns;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        rm_die("epoll_ctl");
    mqtt_connect(c, client_id, clean);
    return n_conns++;
}

/* ---- input ---- */

static void on_publish(struct rm_conn *c, const uint8_t *p, size_t n, uint8_t flags, int64_t t)
{
    size_t tn, off;
    int qos = (flags >> 1) & 3;
    char topic[256];

    if (n < 2)
        return;
    tn = (size_t)p[0] << 8 | p[1];
    if (2 + tn > n)
        return;
    snprintf(topic, sizeof(topic), "%.*s", (int)tn, (const char *)p + 2);
    off = 2 + tn;
    if (qos > 0) {
        if (off + 2 > n)
            return;
        mqtt_puback(c, (uint16_t)(p[off] << 8 | p[off + 1]));
        off += 2;
    }
    publish_cb(c, topic, (const char *)p + off, n - off, t);
}

void rm_on_readable(struct rm_conn *c)
{
    int64_t t;

    for (;;) {
        if (c->rcap - c->rlen < 16384) {
            size_t cap = c->rcap ? c->rcap * 2 : 32768;

            if (cap > RM_RBUF_MAX)
                rm_fail("incoming packet too large");
            c->rbuf = realloc(c->rbuf, cap);
            if (!c->rbuf)
                rm_fail("out of memory");
            c->rcap = cap;
        }
        size_t space = c->rcap - c->rlen;
        ssize_t n = read(c->fd, c->rbuf + c->rlen, space);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            rm_die("read from broker");
        }
        if (n == 0)
            rm_fail("a broker closed the connection");
        c->rlen += (size_t)n;
        if ((size_t)n < space)
            break; /* short read: the socket is drained */
    }
    t = rm_now_ns();
    size_t off = 0;

    for (;;) {
        size_t avail = c->rlen - off, rl = 0, hdr = 1;
        int shift = 0;
        bool complete = false;

        if (avail < 2)
            break;
        while (hdr < avail && hdr < 5) {
            uint8_t b = c->rbuf[off + hdr];

            rl |= (size_t)(b & 0x7f) << shift;
            shift += 7;
            hdr++;
            if (!(b & 0x80)) {
                complete = true;
                break;
            }
        }
        if (!complete || avail < hdr + rl)
            break;
        uint8_t type = c->rbuf[off] >> 4, flags = c->rbuf[off] & 0x0f;
        const uint8_t *body = c->rbuf + off + hdr;

        switch (type) {
        case 2: /* CONNACK */
            if (rl < 2 || body[1] != 0)
                rm_fail("broker refused the connection");
            c->connacked = true;
            break;
        case 3:
            on_publish(c, body, rl, flags, t);
            break;
        case 4: /* PUBACK */
            c->pubacks++;
            break;
        case 9: /* SUBACK */
            if (rl >= 3 && body[2] == 0x80)
                rm_fail("broker refused a subscription");
            c->subs_pending--;
            break;
        default:
            break;
        }
        off += hdr + rl;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
}

void rm_poll(int timeout_ms, void (*on_other)(uint32_t key))
{
    struct epoll_event evs[256];
    int n;

    rm_flush_all();
    n = epoll_wait(ep, evs, 256, timeout_ms);
    if (n < 0 && errno != EINTR)
        rm_die("epoll_wait");
    for (int i = 0; i < n; i++) {
        uint32_t k = evs[i].data.u32;

        if (k >= RM_KEY_OTHER_MIN) {
            if (on_other)
                on_other(k);
            continue;
        }
        struct rm_conn *c = &conns[k];

        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            rm_on_readable(c);
        if (evs[i].events & EPOLLOUT)
            rm_flush(c);
    }
}

bool rm_all_ready(void)
{
    for (int i = 0; i < n_conns; i++) {
        if (!conns[i].connacked || conns[i].subs_pending != 0)
            return false;
    }
    return true;
}
