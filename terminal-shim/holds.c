/* SPDX-License-Identifier: Apache-2.0 */
/* The hold rendezvous: a caller's p4term_hold() waits for the reply the worker receives. */
#include "term.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p4common.h"

/* A reply to one of our hold requests: hand it to the caller waiting for its req_id. A reply
 * nobody waits for any more (it came after the caller's timeout) is only logged: the hold
 * expires at the gateway by itself. */
void holds_handle_reply(struct p4term *t, const struct link_msg *m)
{
    struct p4t_hold_reply *r = malloc(sizeof(*r));
    char reason[P4T_REASON_MAX];
    bool matched = false, first = false;

    if (!r)
        return;
    if (p4t_hold_reply_decode(m->payload, m->len, r, reason, sizeof(reason)) != 0) {
        handlers_keep_reject(t, m, reason);
        free(r);
        return;
    }
    pthread_mutex_lock(&t->mu);
    first = !t->gw_holds;
    t->gw_holds = true;
    for (size_t i = 0; i < HOLD_WAIT_MAX; i++) {
        struct hold_wait *w = &t->holds[i];

        if (!w->used || w->done || strcmp(w->req_id, r->req_id) != 0)
            continue;
        memcpy(w->reply, r, sizeof(*r));
        w->done = true;
        matched = true;
        pthread_cond_broadcast(&t->hold_cv);
        break;
    }
    pthread_mutex_unlock(&t->mu);
    if (first) {
        /* From now on sales may carry their hold (section 8: only to a 1.1 gateway). */
        pthread_mutex_lock(&t->db_mu);
        journal_meta_set(t->j, "gw_holds", 1);
        pthread_mutex_unlock(&t->db_mu);
    }
    if (!matched)
        p4_info("hold reply nobody waits for req_id=%s hold=%s", r->req_id, r->hold);
    free(r);
}

/* Publishes the hold requests callers queued. The payloads are taken out under mu and sent
 * outside it: Paho's calls must never run under a lock its callbacks also take. */
void holds_send(struct p4term *t)
{
    char *payloads[HOLD_WAIT_MAX];
    char req_ids[HOLD_WAIT_MAX][P4T_ID_MAX + 1];
    size_t n = 0;

    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < HOLD_WAIT_MAX; i++) {
        if (!t->holds[i].used || !t->holds[i].payload)
            continue;
        payloads[n] = t->holds[i].payload;
        memcpy(req_ids[n], t->holds[i].req_id, sizeof(req_ids[n]));
        t->holds[i].payload = NULL;
        n++;
    }
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < n; i++) {
        if (link_publish(t->link, t->t_hold, payloads[i], strlen(payloads[i])) == 0) {
            p4_debug("hold request sent req_id=%s", req_ids[i]);
            free(payloads[i]);
            continue;
        }
        /* Refused (the link is going): put it back for the next turn if still wanted. */
        pthread_mutex_lock(&t->mu);
        for (size_t k = 0; k < HOLD_WAIT_MAX; k++) {
            if (t->holds[k].used && !t->holds[k].payload &&
                strcmp(t->holds[k].req_id, req_ids[i]) == 0) {
                t->holds[k].payload = payloads[i];
                payloads[i] = NULL;
                break;
            }
        }
        pthread_mutex_unlock(&t->mu);
        free(payloads[i]);
    }
}

/* Sends hold request REQ (its req_id is set here) through the worker and waits up to
 * TIMEOUT_MS for the reply, copied into *REPLY. Returns 0, P4TERM_ETIMEDOUT,
 * P4TERM_EUNAVAIL (offline handle, every wait slot taken), P4TERM_EINVAL (REQ breaks the
 * contract) or P4TERM_ENOMEM. */
static int hold_exchange(struct p4term *t, struct p4t_hold_req *req, int64_t timeout_ms,
                         struct p4t_hold_reply *reply)
{
    struct hold_wait *w = NULL;
    struct timespec until;
    char *payload = NULL;
    int rc;

    if (!t->thread_started)
        return P4TERM_EUNAVAIL;
    pthread_mutex_lock(&t->mu);
    t->hold_counter++;
    snprintf(req->req_id, sizeof(req->req_id), "h%llx-%x",
             (unsigned long long)(p4_now_ms() & 0xffffffffffLL), (unsigned)t->hold_counter);
    pthread_mutex_unlock(&t->mu);
    if (p4t_hold_req_encode(req, &payload) != 0) {
        p4_warn("hold request refused hold=%s: breaks the contract", req->hold);
        return P4TERM_EINVAL;
    }
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < HOLD_WAIT_MAX && !w; i++) {
        if (!t->holds[i].used)
            w = &t->holds[i];
    }
    if (!w) {
        pthread_mutex_unlock(&t->mu);
        p4_warn("hold request refused hold=%s: %d requests already wait", req->hold,
                HOLD_WAIT_MAX);
        free(payload);
        return P4TERM_EUNAVAIL;
    }
    memset(w, 0, sizeof(*w));
    w->used = true;
    memcpy(w->req_id, req->req_id, sizeof(w->req_id));
    w->payload = payload;
    w->reply = reply;
    t->wake = true;
    pthread_cond_signal(&t->cv);
    term_deadline(&until, timeout_ms);
    while (!w->done) {
        if (pthread_cond_timedwait(&t->hold_cv, &t->mu, &until) == ETIMEDOUT)
            break;
    }
    rc = w->done ? 0 : P4TERM_ETIMEDOUT;
    free(w->payload); /* still here when it was never sent */
    memset(w, 0, sizeof(*w));
    pthread_mutex_unlock(&t->mu);
    if (rc)
        p4_warn("hold request unanswered req_id=%s hold=%s timeout_ms=%lld", req->req_id,
                req->hold, (long long)timeout_ms);
    return rc;
}

/* A zeroed request and reply (large: not for the caller's stack). The caller frees
 * both, also on P4TERM_ENOMEM. */
static int hold_bufs_new(struct p4t_hold_req **req, struct p4t_hold_reply **reply)
{
    *req = calloc(1, sizeof(**req));
    *reply = calloc(1, sizeof(**reply));
    return *req && *reply ? 0 : P4TERM_ENOMEM;
}

int p4term_hold(struct p4term *t, const char *const *skus, const int64_t *qtys, size_t n,
                int64_t ttl_ms, int64_t timeout_ms, char hold_id[P4T_OBJ_ID_MAX + 1],
                int64_t *granted, int64_t *expires_ms, char *reason, size_t reason_len)
{
    struct p4t_hold_req *req = NULL;
    struct p4t_hold_reply *reply = NULL;
    int rc;

    if (reason && reason_len)
        reason[0] = '\0';
    if (!t || !skus || !qtys || !hold_id || !granted || n == 0 || n > P4T_MAX_LINES ||
        timeout_ms < 0)
        return P4TERM_EINVAL;
    rc = hold_bufs_new(&req, &reply);
    if (rc)
        goto out;
    if (p4_uuid7(req->hold) != 0) {
        rc = P4TERM_EIO;
        goto out;
    }
    req->ttl_ms = ttl_ms;
    req->n_lines = n;
    for (size_t i = 0; i < n; i++) {
        if (!skus[i] || strlen(skus[i]) > P4T_SKU_MAX) {
            rc = P4TERM_EINVAL;
            goto out;
        }
        snprintf(req->lines[i].sku, sizeof(req->lines[i].sku), "%s", skus[i]);
        req->lines[i].qty = qtys[i];
    }
    rc = hold_exchange(t, req, timeout_ms, reply);
    if (rc)
        goto out;
    /* The reply lists one grant per requested sku in request order; match by sku anyway. */
    for (size_t i = 0; i < n; i++) {
        granted[i] = 0;
        for (size_t k = 0; k < reply->n_granted; k++) {
            if (strcmp(reply->granted[k].sku, req->lines[i].sku) == 0) {
                granted[i] = reply->granted[k].qty < req->lines[i].qty
                                 ? reply->granted[k].qty
                                 : req->lines[i].qty;
                break;
            }
        }
    }
    memcpy(hold_id, req->hold, P4T_OBJ_ID_MAX + 1);
    if (expires_ms)
        *expires_ms = reply->expires_ms;
    if (reason && reason_len)
        snprintf(reason, reason_len, "%s", reply->reason);
out:
    free(reply);
    free(req);
    return rc;
}

int p4term_hold_release(struct p4term *t, const char *hold_id, int64_t timeout_ms)
{
    struct p4t_hold_req *req = NULL;
    struct p4t_hold_reply *reply = NULL;
    int rc;

    if (!t || !hold_id || !hold_id[0] || strlen(hold_id) > P4T_OBJ_ID_MAX || timeout_ms < 0)
        return P4TERM_EINVAL;
    rc = hold_bufs_new(&req, &reply);
    if (rc)
        goto out;
    snprintf(req->hold, sizeof(req->hold), "%s", hold_id);
    req->release = true;
    rc = hold_exchange(t, req, timeout_ms, reply);
out:
    free(reply);
    free(req);
    return rc;
}
