/* SPDX-License-Identifier: Apache-2.0 */
/* Per-address limits of the HTTP surface: a token bucket of requests and a login throttle
 * whose delay doubles with each failed token past a few. */
#ifndef P4HQ_RATELIMIT_H
#define P4HQ_RATELIMIT_H

#include <stdint.h>
#include <sys/socket.h>

#define RATELIMIT_SLOTS 4096      /* addresses tracked; the least recently seen is forgotten */
#define RATELIMIT_DELAY_MAX_S 300 /* the login delay stops doubling here */
#define RATELIMIT_FORGET_S 900    /* failures older than this are forgotten */

struct ratelimit;
/* REQUESTS_PER_S (0: no request limit) with bursts of BURST; LOGIN_FAILURES bad tokens from
 * one address are answered normally, then each further attempt waits 1, 2, 4 ... s. Returns
 * 0 or P4HQ_ENOMEM. */
int ratelimit_new(struct ratelimit **out, int requests_per_s, int burst, int login_failures);
void ratelimit_free(struct ratelimit *rl);
/* Takes one request from ADDR's bucket: 0 when allowed, else the seconds to wait (>= 1). */
int ratelimit_request(struct ratelimit *rl, const struct sockaddr *addr, int64_t now_ms);
/* 0 when ADDR may present a token now, else the seconds until it may. */
int ratelimit_login_wait(struct ratelimit *rl, const struct sockaddr *addr, int64_t now_ms);
/* Counts a bad token from ADDR (and starts or doubles its delay). TAG (8 bytes, a digest of
 * the token) tells a repeat: the same wrong token again (a client with a stale token) teaches
 * nothing new and is not counted again; a guess is a new token. */
void ratelimit_login_failed(struct ratelimit *rl, const struct sockaddr *addr, int64_t now_ms,
                            const unsigned char tag[8]);

#endif
