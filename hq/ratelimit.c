/* SPDX-License-Identifier: Apache-2.0 */
/* Per-address limits of the HTTP surface: a fixed table of addresses (bounded memory whatever
 * the number of clients), each with a request token bucket and a count of bad tokens. A
 * throttled client is answered 429 at once: no thread ever sleeps on its behalf. */
#include "ratelimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "p4hq.h"

#define PROBE 8    /* slots looked at per address (open addressing) */
#define KEY_MAX 16

struct slot {
    unsigned char key[KEY_MAX];
    bool used;
    int64_t seen_ms;
    int64_t tokens_milli;   /* request tokens, thousandths */
    int fails;              /* bad tokens since last_fail_ms - RATELIMIT_FORGET_S */
    int64_t last_fail_ms;
    int64_t blocked_until_ms;
    unsigned char last_tag[8]; /* the last bad token's tag */
};

struct ratelimit {
    pthread_mutex_t mu;
    int per_s, burst, login_failures;
    struct slot slots[RATELIMIT_SLOTS];
};

int ratelimit_new(struct ratelimit **out, int requests_per_s, int burst, int login_failures)
{
    struct ratelimit *rl = calloc(1, sizeof *rl);

    *out = NULL;
    if (!rl)
        return P4HQ_ENOMEM;
    pthread_mutex_init(&rl->mu, NULL);
    rl->per_s = requests_per_s;
    rl->burst = burst < 1 ? 1 : burst;
    rl->login_failures = login_failures;
    *out = rl;
    return P4HQ_OK;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

/* The key of ADDR: an IPv4 address, or an IPv6 /64 (one host usually owns a whole /64). */
static void addr_key(const struct sockaddr *addr, unsigned char key[KEY_MAX])
{
    memset(key, 0, KEY_MAX);
    if (addr && addr->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)addr)->sin_addr, 4);
    } else if (addr && addr->sa_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)addr)->sin6_addr, 8);
    }
}

/* ADDR's slot (made on first sight, replacing the least recently seen of its probe run, a
 * blocked one last). Called with the lock held. */
static struct slot *find(struct ratelimit *rl, const struct sockaddr *addr, int64_t now_ms)
{
    unsigned char key[KEY_MAX];
    uint32_t hash = 2166136261u; /* FNV-1a */
    struct slot *victim = NULL;

    addr_key(addr, key);
    for (size_t i = 0; i < KEY_MAX; i++)
        hash = (hash ^ key[i]) * 16777619u;
    for (size_t p = 0; p < PROBE; p++) {
        struct slot *s = &rl->slots[(hash + p) % RATELIMIT_SLOTS];

        if (s->used && memcmp(s->key, key, KEY_MAX) == 0)
            return s;
        if (!s->used) {
            if (!victim || victim->used)
                victim = s;
            continue;
        }
        if (!victim || (victim->used &&
                        ((victim->blocked_until_ms > now_ms) > (s->blocked_until_ms > now_ms) ||
                         ((victim->blocked_until_ms > now_ms) ==
                              (s->blocked_until_ms > now_ms) &&
                          s->seen_ms < victim->seen_ms))))
            victim = s;
    }
    memset(victim, 0, sizeof *victim);
    memcpy(victim->key, key, KEY_MAX);
    victim->used = true;
    victim->seen_ms = now_ms;
    victim->tokens_milli = (int64_t)rl->burst * 1000;
    return victim;
}

int ratelimit_request(struct ratelimit *rl, const struct sockaddr *addr, int64_t now_ms)
{
    struct slot *s;
    int wait_s = 0;

    if (rl->per_s <= 0)
        return 0;
    pthread_mutex_lock(&rl->mu);
    s = find(rl, addr, now_ms);
    if (now_ms > s->seen_ms)
        s->tokens_milli += (now_ms - s->seen_ms) * rl->per_s; /* per_s tokens per 1000 ms */
    if (s->tokens_milli > (int64_t)rl->burst * 1000)
        s->tokens_milli = (int64_t)rl->burst * 1000;
    s->seen_ms = now_ms;
    if (s->tokens_milli >= 1000)
        s->tokens_milli -= 1000;
    else
        wait_s = (int)(((1000 - s->tokens_milli + rl->per_s - 1) / rl->per_s + 999) / 1000);
    if (wait_s == 0 && s->tokens_milli < 0)
        wait_s = 1;
    pthread_mutex_unlock(&rl->mu);
    return wait_s;
}

int ratelimit_login_wait(struct ratelimit *rl, const struct sockaddr *addr, int64_t now_ms)
{
    struct slot *s;
    int wait_s = 0;

    pthread_mutex_lock(&rl->mu);
    s = find(rl, addr, now_ms);
    if (s->blocked_until_ms > now_ms)
        wait_s = (int)((s->blocked_until_ms - now_ms + 999) / 1000);
    pthread_mutex_unlock(&rl->mu);
    return wait_s;
}

void ratelimit_login_failed(struct ratelimit *rl, const struct sockaddr *addr, int64_t now_ms,
                            const unsigned char tag[8])
{
    struct slot *s;

    pthread_mutex_lock(&rl->mu);
    s = find(rl, addr, now_ms);
    if (now_ms - s->last_fail_ms > (int64_t)RATELIMIT_FORGET_S * 1000)
        s->fails = 0;
    if (s->fails > 0 && memcmp(s->last_tag, tag, sizeof s->last_tag) == 0) {
        s->last_fail_ms = now_ms;
        pthread_mutex_unlock(&rl->mu);
        return;
    }
    memcpy(s->last_tag, tag, sizeof s->last_tag);
    s->fails++;
    s->last_fail_ms = now_ms;
    if (s->fails >= rl->login_failures) {
        int over = s->fails - rl->login_failures;
        int64_t delay_s = over >= 9 ? RATELIMIT_DELAY_MAX_S : (int64_t)1 << over;

        if (delay_s > RATELIMIT_DELAY_MAX_S)
            delay_s = RATELIMIT_DELAY_MAX_S;
        s->blocked_until_ms = now_ms + delay_s * 1000;
    }
    pthread_mutex_unlock(&rl->mu);
}
