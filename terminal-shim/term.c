/* SPDX-License-Identifier: Apache-2.0 */
/* The libp4term handle: open and close, the worker's wake-up, events to the application. */
#include "term.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p4common.h"

#define JOURNAL_KEEP_ACKED_MS (30LL * 24 * 3600 * 1000)

void p4term_options_init(struct p4term_options *o)
{
    memset(o, 0, sizeof(*o));
    o->ack_timeout_ms = 2000;
    o->resend_max_ms = 30000;
}

void term_deadline(struct timespec *until, int64_t in_ms)
{
    clock_gettime(CLOCK_MONOTONIC, until);
    until->tv_sec += in_ms / 1000;
    until->tv_nsec += (in_ms % 1000) * 1000000;
    if (until->tv_nsec >= 1000000000) {
        until->tv_sec++;
        until->tv_nsec -= 1000000000;
    }
}

void term_wake(void *ctx)
{
    struct p4term *t = ctx;

    pthread_mutex_lock(&t->mu);
    t->wake = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void term_emit(struct p4term *t, const struct p4term_event *ev)
{
    if (t->cb)
        t->cb(ev, t->user);
}

void term_emit_changes(struct p4term *t, const struct p4t_changes *ch, int64_t lo, int64_t hi)
{
    if (lo == 0)
        return;
    for (size_t i = 0; i < ch->n_items; i++) {
        const struct p4t_change *it = &ch->items[i];
        struct p4term_event ev = {0};

        if (it->seq < lo || it->seq > hi)
            continue;
        ev.kind = P4TERM_EV_CHANGE;
        ev.change_seq = it->seq;
        ev.entity = cache_entity_name(it->entity);
        ev.key = it->key;
        ev.value_json = it->value_json;
        term_emit(t, &ev);
    }
    customers_note_changes(t, ch, lo, hi);
}

/* Called with mu held, on the worker thread (gw_state is the worker's). */
void term_reachable_update_locked(struct p4term *t)
{
    t->gw_reachable = t->up && (strcmp(t->gw_state, "online") == 0 ||
                                strcmp(t->gw_state, "wan_down") == 0);
    pthread_cond_broadcast(&t->lookup_cv); /* p4term_lookup waits for a known state */
}

static int build_topics(struct p4term *t)
{
    int rc = 0;

    rc |= p4t_topic_local(t->t_sale, sizeof(t->t_sale), P4T_L_SALE, t->store, t->reg);
    rc |= p4t_topic_local(t->t_sync, sizeof(t->t_sync), P4T_L_SYNC, t->store, t->reg);
    rc |= p4t_topic_local(t->t_ack, sizeof(t->t_ack), P4T_L_ACK, t->store, t->reg);
    rc |= p4t_topic_local(t->t_reply, sizeof(t->t_reply), P4T_L_SYNC_REPLY, t->store, t->reg);
    rc |= p4t_topic_local(t->t_changes, sizeof(t->t_changes), P4T_L_CHANGES, t->store, NULL);
    rc |= p4t_topic_local(t->t_alert, sizeof(t->t_alert), P4T_L_ALERT, t->store, NULL);
    rc |= p4t_topic_local(t->t_status, sizeof(t->t_status), P4T_L_STATUS, t->store, NULL);
    rc |= p4t_topic_local(t->t_hold, sizeof(t->t_hold), P4T_L_HOLD, t->store, t->reg);
    rc |= p4t_topic_local(t->t_hold_reply, sizeof(t->t_hold_reply), P4T_L_HOLD_REPLY, t->store,
                          t->reg);
    rc |= p4t_topic_local(t->t_lookup, sizeof(t->t_lookup), P4T_L_LOOKUP, t->store, t->reg);
    rc |= p4t_topic_local(t->t_customer, sizeof(t->t_customer), P4T_L_CUSTOMER, t->store,
                          t->reg);
    rc |= p4t_topic_local(t->t_customer_ack, sizeof(t->t_customer_ack), P4T_L_CUSTOMER_ACK,
                          t->store, t->reg);
    return rc ? P4TERM_EINVAL : 0;
}

int p4term_open(const struct p4term_options *opt, p4term_event_cb cb, void *user,
                struct p4term **out)
{
    struct p4term *t = NULL;
    char client_id[128];
    bool fresh = false;
    int rc;

    if (!opt || !out || !opt->store || !opt->reg || !opt->journal_path ||
        !p4t_store_id_valid(opt->store) || !p4t_id_valid(opt->reg) ||
        (!opt->offline && (!opt->broker_uri || !opt->broker_uri[0])) ||
        opt->ack_timeout_ms <= 0 || opt->resend_max_ms < opt->ack_timeout_ms) {
        p4_error("p4term_open: invalid options (store, register id, journal, broker uri, "
                 "timeouts)");
        return P4TERM_EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return P4TERM_ENOMEM;
    pthread_mutex_init(&t->db_mu, NULL);
    pthread_mutex_init(&t->mu, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&t->cv, &ca);
        pthread_cond_init(&t->hold_cv, &ca);
        pthread_cond_init(&t->lookup_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    snprintf(t->store, sizeof(t->store), "%s", opt->store);
    snprintf(t->reg, sizeof(t->reg), "%s", opt->reg);
    t->ack_timeout_ms = opt->ack_timeout_ms;
    t->resend_max_ms = opt->resend_max_ms;
    t->offline_redeem_allow = opt->offline_redeem_allow;
    t->cb = cb;
    t->user = user;
    t->offline = opt->offline;
    t->reconnect_backoff_ms = RECONNECT_MIN_MS;
    t->opened_ms = p4_mono_ms();
    t->sync_timeout_ms = SYNC_TIMEOUT_MS;
    rc = build_topics(t);
    if (rc)
        goto out;
    rc = journal_open(opt->journal_path, &t->j, &fresh);
    if (rc)
        goto out;
    rc = cache_open(journal_db(t->j), &t->c);
    if (rc)
        goto out;
    rc = journal_seq_state(t->j, &t->next_seq, &t->seq_known);
    if (rc)
        goto out;
    {
        int64_t holds = 0;

        rc = journal_meta_get(t->j, "gw_holds", &holds);
        if (rc)
            goto out;
        t->gw_holds = holds != 0;
    }
    {
        /* Acked sales are the gateway's from then on; keep a month for the till's own
         * look-ups, so the journal does not grow without bound. */
        int64_t pruned = 0;

        if (journal_prune(t->j, p4_now_ms() - JOURNAL_KEEP_ACKED_MS, &pruned) == 0 && pruned)
            p4_info("journal pruned acked_sales=%lld", (long long)pruned);
    }
    if (fresh)
        p4_info("new journal path=%s store=%s reg=%s: seq continues after the gateway's "
                "last_sale_seq", opt->journal_path, t->store, t->reg);
    if (!opt->offline) {
        const char *subs[] = {t->t_ack,    t->t_reply,      t->t_changes,      t->t_alert,
                              t->t_status, t->t_hold_reply, t->t_customer_ack, NULL};
        struct link_opts lo = {0};

        if (opt->client_id && opt->client_id[0])
            snprintf(client_id, sizeof(client_id), "%s", opt->client_id);
        else
            snprintf(client_id, sizeof(client_id), "p4term-%s-%s", t->store, t->reg);
        lo.uri = opt->broker_uri;
        snprintf(t->broker_uri, sizeof(t->broker_uri), "%s", opt->broker_uri);
        lo.client_id = client_id;
        lo.username = opt->username;
        lo.password = opt->password;
        lo.subs = subs;
        rc = link_new(&lo, term_wake, t, &t->link);
        if (rc)
            goto out;
        if (pthread_create(&t->thread, NULL, worker_main, t) != 0) {
            p4_error("worker thread start failed err=\"%s\"", strerror(errno));
            rc = P4TERM_ENOMEM;
            goto out;
        }
        t->thread_started = true;
    }
    *out = t;
    t = NULL;
    rc = 0;
out:
    p4term_close(t);
    return rc;
}

void p4term_close(struct p4term *t)
{
    if (!t)
        return;
    if (t->thread_started) {
        pthread_mutex_lock(&t->mu);
        t->stop = true;
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
    }
    link_free(t->link);
    window_clear(t);
    for (size_t i = 0; i < HOLD_WAIT_MAX; i++)
        free(t->holds[i].payload);
    customers_cleanup(t);
    cache_close(t->c);
    journal_close(t->j);
    pthread_cond_destroy(&t->hold_cv);
    pthread_cond_destroy(&t->lookup_cv);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->db_mu);
    free(t);
}

int p4term_kick(struct p4term *t)
{
    if (!t->thread_started)
        return 0;
    pthread_mutex_lock(&t->mu);
    t->kick = true;
    t->wake = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* Reads one of the flags the worker keeps under mu. */
static bool flag_get(struct p4term *t, const bool *flag)
{
    bool v;

    pthread_mutex_lock(&t->mu);
    v = *flag;
    pthread_mutex_unlock(&t->mu);
    return v;
}

bool p4term_link_up(struct p4term *t)
{
    return flag_get(t, &t->up);
}

bool p4term_gateway_reachable(struct p4term *t)
{
    return flag_get(t, &t->gw_reachable);
}
