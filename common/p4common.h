/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the gateway and the terminal shim: logging, clock, ids, small file helpers. */
#ifndef P4COMMON_H
#define P4COMMON_H

#include <stddef.h>
#include <stdint.h>

/* ---- logging: one event a line, "level=info msg=... key=value", to stderr ---- */
enum p4_log_level { P4_LOG_DEBUG = 0, P4_LOG_INFO, P4_LOG_WARN, P4_LOG_ERROR };

/* Sets the lowest level written; messages below it are dropped. */
void p4_log_set_level(enum p4_log_level level);
/* Parses "debug" | "info" | "warn" | "error"; returns 0, or -1 for anything else. */
int p4_log_parse_level(const char *name, enum p4_log_level *out);
/* Sets the component name written as comp=NAME on every line (borrowed, must outlive logging). */
void p4_log_set_component(const char *name);
/* Redirects the log to PATH (appending), or back to stderr when PATH is NULL. Returns 0 or -1
 * (the log stays where it was). Used for SIGHUP log reopening: safe while other threads log
 * (the descriptor keeps its number, dup3 swaps the file behind it); one caller at a time. */
int p4_log_reopen(const char *path);
/* Hands each event to SINK instead of writing it: LEVEL and the message text (what follows
 * "msg=" in a line: no timestamp, no component, no newline), valid only during the call, and
 * CTX. SINK NULL writes lines again. Not synchronised with logging threads: set it before they
 * start (libp4term's p4term_set_log() documents this for host applications). */
typedef void (*p4_log_sink_fn)(enum p4_log_level level, const char *msg, void *ctx);
void p4_log_set_sink(p4_log_sink_fn sink, void *ctx);
/* The descriptor the log writes to (stderr until the first reopen to a file). */
int p4_log_fd(void);
/* Writes one line. FMT is the message followed by optional " key=value" fields, e.g.
 * p4_log(P4_LOG_INFO, "sale accepted id=%s gw_seq=%lld", id, (long long)seq).
 * Thread-safe (one write(2) per line). */
void p4_log(enum p4_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define p4_debug(...) p4_log(P4_LOG_DEBUG, __VA_ARGS__)
#define p4_info(...) p4_log(P4_LOG_INFO, __VA_ARGS__)
#define p4_warn(...) p4_log(P4_LOG_WARN, __VA_ARGS__)
#define p4_error(...) p4_log(P4_LOG_ERROR, __VA_ARGS__)

/* ---- clock ---- */
/* Wall clock in milliseconds since the Unix epoch. */
int64_t p4_now_ms(void);
/* Monotonic clock in milliseconds (for timeouts and latency). */
int64_t p4_mono_ms(void);
/* Formats MS (Unix epoch ms) as RFC 3339 UTC with milliseconds, "2026-11-27T12:00:00.123Z".
 * BUF needs P4_TS_LEN bytes. */
#define P4_TS_LEN 25
void p4_format_ts(int64_t ms, char buf[P4_TS_LEN]);

/* ---- ids ---- */
/* Writes a fresh UUIDv7 (RFC 9562: 48-bit ms timestamp, version 7, variant 10, random rest)
 * in lowercase canonical form into OUT (P4_UUID_LEN bytes with the NUL). Returns 0, or -1 if
 * the kernel's random source failed (logged). */
#define P4_UUID_LEN 37
int p4_uuid7(char out[P4_UUID_LEN]);

/* ---- sockets ---- */
/* Sets TCP_NODELAY on every TCP socket of the process and returns how many. Paho 1.3.12 leaves
 * Nagle on, so a small publish (an ack, a change) waits behind an unacknowledged PUBACK for
 * the peer's delayed ACK, about 40 ms on Linux. Call it after each MQTT connect; it is cheap
 * and safe to repeat. Returns -1 if /proc/self/fd cannot be read (logged). */
int p4_tcp_nodelay_all(void);
/* The same for the sockets connected to URI's port only (a library must leave its host
 * program's other sockets alone). */
int p4_tcp_nodelay_uri(const char *uri);
/* Copies URI into OUT with any user:password@ part replaced by "***@", for logs. */
void p4_uri_redact(const char *uri, char *out, size_t out_len);

/* ---- files ---- */
/* Reads a whole small file (at most MAX bytes) into a NUL-terminated buffer the caller frees.
 * Returns 0, -1 on I/O error (errno set), -2 when the file is larger than MAX. */
int p4_read_file(const char *path, size_t max, char **out, size_t *out_len);
/* Reads the first line of a secret file (password), without its newline, into OUT.
 * Returns 0, or -1 (errno set) / -2 (too long). The caller wipes OUT with p4_memzero. */
int p4_read_secret(const char *path, char *out, size_t out_len);
/* Zeroes memory in a way the compiler does not elide (for secrets). */
void p4_memzero(void *p, size_t n);

#endif
