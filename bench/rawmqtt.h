/* SPDX-License-Identifier: Apache-2.0 */
/* rawmqtt: the MQTT 3.1.1 client of the benchmark tools (QoS 1, one epoll thread, no library). */

/*
 * Why no client library: a generator must not add delays of its own. A library with a receive
 * thread that naps after idle polls (Paho C 1.3.12 does) would put those naps into every
 * latency the benchmarks report. Here one thread owns every connection: packets are written
 * into a per-connection buffer and flushed before each epoll_wait, and each incoming PUBLISH is
 * handed to the tool with the CLOCK_MONOTONIC time its bytes were read.
 *
 * One set of connections per process (the tools are single-threaded): rm_init sizes it, and a
 * connection's index is also its epoll key, so a tool can keep per-connection state in arrays
 * of the same size. Any socket or protocol error ends the process (exit 2) with a message: a
 * benchmark that lost a connection has nothing left to report.
 */

#ifndef P4_BENCH_RAWMQTT_H
#define P4_BENCH_RAWMQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An epoll key that is not a connection (rm_watch_fd); rm_poll hands it to ON_OTHER. */
#define RM_KEY_OTHER_MIN 0x80000000u

struct rm_conn {
    int fd;
    int kind;          /* the tool's tag */
    int idx;           /* the tool's index (a register, a store) */
    uint8_t *rbuf;     /* at most RM_RBUF_MAX: one packet may be a 1 MiB changes message */
    size_t rlen, rcap;
    uint8_t *wbuf;     /* at most RM_WBUF_MAX, beyond which the broker counts as stuck */
    size_t wlen, wcap;
    bool dirty, want_out, connacked;
    int subs_pending;
    uint16_t next_pid;
    int64_t pubacks;
};

/* One PUBLISH read on C (its PUBACK is already queued): TOPIC is NUL-terminated and lives,
 * like BODY, only during the call. T_NS is when its bytes were read (CLOCK_MONOTONIC). */
typedef void rm_publish_fn(struct rm_conn *c, const char *topic, const char *body, size_t len,
                           int64_t t_ns);

/* PROG prefixes error messages; CONNS_MAX bounds rm_open. */
void rm_init(const char *prog, int conns_max, rm_publish_fn *on_publish);
int64_t rm_now_ns(void);
void rm_die(const char *what);   /* what: strerror(errno); exit 2 */
void rm_fail(const char *what);  /* exit 2 */
void *rm_xmalloc(size_t n);

/* Connects (blocking, TCP_NODELAY), registers with epoll and queues CONNECT (keepalive 0;
 * CLEAN or a persistent session). Returns the connection's index. */
int rm_open(int kind, int idx, const char *host, int port, const char *client_id, bool clean);
struct rm_conn *rm_conn(int i);
int rm_count(void);
int rm_epoll(void);
/* Adds FD to the epoll set under KEY (>= RM_KEY_OTHER_MIN). */
void rm_watch_fd(int fd, uint32_t key);

void rm_subscribe(struct rm_conn *c, const char *filter);
/* Queues a QoS 1 PUBLISH; returns its packet id. */
uint16_t rm_publish(struct rm_conn *c, const char *topic, const void *payload, size_t len,
                    bool retain);
void rm_flush(struct rm_conn *c);
void rm_flush_all(void);
/* Reads what C has, handles every complete packet (CONNACK, PUBLISH, PUBACK, SUBACK). */
void rm_on_readable(struct rm_conn *c);
/* Flushes every dirty connection, waits up to TIMEOUT_MS and handles what arrived; keys of
 * rm_watch_fd go to ON_OTHER (may be NULL). */
void rm_poll(int timeout_ms, void (*on_other)(uint32_t key));
/* True when every connection has its CONNACK and SUBACKs. */
bool rm_all_ready(void);

#endif
