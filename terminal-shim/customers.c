/* SPDX-License-Identifier: Apache-2.0 */
/* Customers at the register (contract 1.2): a card scanned asks HQ for the customer's current
 * state through the gateway, and customers signed up here are journaled until acknowledged. */
#include "term.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p4common.h"

void customers_note_changes(struct p4term *t, const struct p4t_changes *ch, int64_t lo,
                            int64_t hi)
{
    if (lo == 0)
        return;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < ch->n_items; i++) {
        const struct p4t_change *it = &ch->items[i];

        if (it->seq < lo || it->seq > hi ||
            (it->entity != P4T_E_CUSTOMER && it->entity != P4T_E_LOYALTY))
            continue;
        for (size_t k = 0; k < LOOKUP_WAIT_MAX; k++) {
            struct lookup_wait *w = &t->lookups[k];

            if (w->used && !w->done && strcmp(w->customer, it->key) == 0) {
                w->done = true;
                pthread_cond_broadcast(&t->lookup_cv);
            }
        }
    }
    pthread_mutex_unlock(&t->mu);
}

void customers_cleanup(struct p4term *t)
{
    for (size_t i = 0; i < LOOKUP_WAIT_MAX; i++) {
        free(t->lookups[i].payload);
        t->lookups[i].payload = NULL;
    }
}

/* Publishes the lookups callers queued; as holds_send, the payloads are taken out under mu
 * and published outside it. One the link refuses is dropped: its caller answers from the cache
 * when its wait ends. */
static void lookups_send(struct p4term *t)
{
    char *payloads[LOOKUP_WAIT_MAX];
    size_t n = 0;

    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < LOOKUP_WAIT_MAX; i++) {
        if (t->lookups[i].used && t->lookups[i].payload) {
            payloads[n++] = t->lookups[i].payload;
            t->lookups[i].payload = NULL;
        }
    }
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < n; i++) {
        if (link_publish(t->link, t->t_lookup, payloads[i], strlen(payloads[i])) != 0)
            p4_info("lookup not sent: the link refused it");
        free(payloads[i]);
    }
}

/* Publishes up to SIGNUP_SEND_MAX unacknowledged sign-ups, oldest first. */
static void signups_send(struct p4term *t, int64_t now)
{
    struct journal_row rows[SIGNUP_SEND_MAX];
    size_t n = 0;
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = journal_signup_pending(t->j, rows, SIGNUP_SEND_MAX, &n);
    pthread_mutex_unlock(&t->db_mu);
    if (rc) {
        t->signup_due_ms = now + t->ack_timeout_ms;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (link_publish(t->link, t->t_customer, rows[i].payload, rows[i].payload_len) == 0)
            p4_debug("sign-up sent lid=%lld", (long long)rows[i].lid);
        journal_row_cleanup(&rows[i]);
    }
    if (n == 0) {
        t->signup_due_ms = INT64_MAX; /* nothing pending until the next p4term_customer_add */
        t->signup_backoff_ms = 0;
        return;
    }
    /* Resent after ack_timeout_ms, doubling up to resend_max_ms, like sales. */
    t->signup_backoff_ms = t->signup_backoff_ms ? t->signup_backoff_ms * 2 : t->ack_timeout_ms;
    if (t->signup_backoff_ms > t->resend_max_ms)
        t->signup_backoff_ms = t->resend_max_ms;
    t->signup_due_ms = now + t->signup_backoff_ms;
}

void customers_send(struct p4term *t, int64_t now, int64_t *next_wake_ms)
{
    bool signup_now;

    lookups_send(t);
    pthread_mutex_lock(&t->mu);
    signup_now = t->signup_now;
    t->signup_now = false;
    pthread_mutex_unlock(&t->mu);
    if (signup_now) {
        t->signup_due_ms = 0;
        t->signup_backoff_ms = 0;
    }
    if (now >= t->signup_due_ms)
        signups_send(t, now);
    if (t->signup_due_ms < *next_wake_ms)
        *next_wake_ms = t->signup_due_ms;
}

void customers_handle_ack(struct p4term *t, const struct link_msg *m)
{
    struct p4t_down d = {0};
    char reason[P4T_REASON_MAX];
    int64_t now_ms = p4_now_ms();
    size_t n_marked = 0;
    int rc;

    if (p4t_down_decode(P4T_D_CUSTOMER, m->payload, m->len, &d, reason, sizeof(reason)) != 0) {
        handlers_keep_reject(t, m, reason);
        return;
    }
    pthread_mutex_lock(&t->db_mu);
    rc = journal_begin(t->j);
    for (size_t i = 0; i < d.n_items && rc == 0; i++) {
        bool changed = false;

        rc = journal_signup_ack(t->j, d.customer[i].id, d.customer[i].ver, now_ms, &changed);
        n_marked += changed;
    }
    if (rc == 0)
        rc = journal_commit(t->j);
    if (rc)
        journal_rollback(t->j); /* still pending: sent again, acked again */
    pthread_mutex_unlock(&t->db_mu);
    if (rc == 0 && n_marked)
        p4_info("sign-up acknowledged by the gateway customers=%zu", n_marked);
    p4t_down_cleanup(&d);
}

int p4term_customer_add(struct p4term *t, const char *id, const char *name, const char *tier,
                        char *reason, size_t reason_len)
{
    struct p4t_customer c = {0}, known;
    struct p4t_down d = {0};
    char why[P4T_REASON_MAX] = "", *text = NULL;
    int64_t now_ms = p4_now_ms();
    int rc;

    if (reason && reason_len)
        reason[0] = '\0';
    if (!t || !id || !name)
        return P4TERM_EINVAL;
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.name, sizeof(c.name), "%s", name);
    snprintf(c.tier, sizeof(c.tier), "%s", tier && tier[0] ? tier : P4TERM_TIER_DEFAULT);
    c.ver = now_ms; /* the register's own version; HQ does not keep it (contract 6.8) */
    d.kind = P4T_D_CUSTOMER;
    d.n_items = 1;
    d.customer = &c;
    /* Encoding checks every field against the contract (and lengths cut short above). */
    if (strlen(id) >= sizeof(c.id) || strlen(name) >= sizeof(c.name) ||
        (tier && strlen(tier) >= sizeof(c.tier)) || p4t_down_encode(&d, &text) != 0) {
        snprintf(why, sizeof(why), "customer: id (1..%d printable ASCII, no space), name "
                 "(1..%d bytes of UTF-8 without control characters) or tier ([a-z0-9_]{1,16}) "
                 "breaks the contract", P4T_CUSTOMER_MAX, P4T_NAME_MAX);
        if (reason && reason_len)
            snprintf(reason, reason_len, "%s", why);
        return P4TERM_EINVAL;
    }
    pthread_mutex_lock(&t->db_mu);
    rc = cache_customer(t->c, id, &known);
    if (rc == 0) {
        pthread_mutex_unlock(&t->db_mu);
        if (reason && reason_len)
            snprintf(reason, reason_len, "customer %s already exists (%s)", id, known.name);
        free(text);
        return P4TERM_EREFUSED;
    }
    rc = journal_begin(t->j);
    if (rc == 0)
        rc = journal_signup_add(t->j, id, c.ver, text, now_ms);
    if (rc == 0)
        rc = journal_commit(t->j);
    if (rc)
        journal_rollback(t->j);
    pthread_mutex_unlock(&t->db_mu);
    free(text);
    if (rc)
        return rc;
    p4_info("customer signed up id=%s ver=%lld", id, (long long)c.ver);
    if (t->thread_started) {
        pthread_mutex_lock(&t->mu);
        t->signup_now = true;
        t->wake = true;
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
    }
    return P4TERM_OK;
}

int p4term_signups_pending(struct p4term *t, int64_t *n)
{
    struct journal_row rows[SIGNUP_SEND_MAX];
    size_t got = 0;
    int rc;

    pthread_mutex_lock(&t->db_mu);
    rc = journal_signup_pending(t->j, rows, SIGNUP_SEND_MAX, &got);
    pthread_mutex_unlock(&t->db_mu);
    for (size_t i = 0; i < got; i++)
        journal_row_cleanup(&rows[i]);
    if (rc == 0)
        *n = (int64_t)got;
    return rc;
}

/* Whether the gateway can forward a lookup now: link up and its status online (a gateway with
 * the WAN down drops lookups). Called with mu held. */
static bool can_ask_locked(const struct p4term *t)
{
    return t->up && strcmp(t->gw_state, "online") == 0;
}

int p4term_lookup(struct p4term *t, const char *customer, int64_t timeout_ms, int64_t *balance,
                  bool *answered)
{
    struct p4t_lookup *l = NULL;
    struct lookup_wait *w = NULL;
    struct timespec until;
    char *payload = NULL;
    bool done = false;
    int64_t started_ms;
    int rc;

    if (answered)
        *answered = false;
    if (!t || !customer || !balance || timeout_ms < 0)
        return P4TERM_EINVAL;
    l = calloc(1, sizeof(*l));
    if (!l)
        return P4TERM_ENOMEM;
    snprintf(l->customers[0], sizeof(l->customers[0]), "%s", customer);
    l->n_customers = 1;
    pthread_mutex_lock(&t->mu);
    t->lookup_counter++;
    snprintf(l->req_id, sizeof(l->req_id), "l%llx-%x",
             (unsigned long long)(p4_now_ms() & 0xffffffffffLL), (unsigned)t->lookup_counter);
    pthread_mutex_unlock(&t->mu);
    rc = strlen(customer) < sizeof(l->customers[0]) ? p4t_lookup_encode(l, &payload)
                                                      : P4T_EINVAL;
    free(l);
    if (rc) {
        p4_warn("lookup refused: not a customer id of the contract");
        return P4TERM_EINVAL;
    }
    if (!t->thread_started)
        goto cached;
    started_ms = p4_mono_ms();
    term_deadline(&until, timeout_ms);
    pthread_mutex_lock(&t->mu);
    /* A handle opened a moment ago learns the gateway's state from its retained status; a
     * till whose link has been down for a while answers from its cache without waiting. */
    while ((!t->up || !t->gw_state[0]) &&
           p4_mono_ms() - t->opened_ms < LOOKUP_START_GRACE_MS &&
           pthread_cond_timedwait(&t->lookup_cv, &t->mu, &until) != ETIMEDOUT)
        ;
    if (can_ask_locked(t)) {
        for (size_t i = 0; i < LOOKUP_WAIT_MAX && !w; i++) {
            if (!t->lookups[i].used)
                w = &t->lookups[i];
        }
    }
    if (w) {
        memset(w, 0, sizeof(*w));
        w->used = true;
        snprintf(w->customer, sizeof(w->customer), "%s", customer);
        w->payload = payload;
        payload = NULL;
        t->wake = true;
        pthread_cond_signal(&t->cv);
        while (!w->done && pthread_cond_timedwait(&t->lookup_cv, &t->mu, &until) != ETIMEDOUT)
            ;
        done = w->done;
        free(w->payload); /* not sent yet (the link was going): nobody waits any more */
        memset(w, 0, sizeof(*w));
    }
    pthread_mutex_unlock(&t->mu);
    if (w)
        p4_info("lookup %s customer=%s wait_ms=%lld", done ? "answered" : "not answered in time",
                customer, (long long)(p4_mono_ms() - started_ms));
    if (answered)
        *answered = done;
    if (!w)
        p4_debug("lookup answered from the cache: the gateway cannot ask HQ now customer=%s",
                 customer);
cached:
    free(payload);
    return p4term_loyalty_balance(t, customer, balance);
}
