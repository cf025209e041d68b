/* SPDX-License-Identifier: Apache-2.0 */
/* The register's MQTT client to the store broker: Paho callbacks feed a bounded queue. */
#include "shim.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>

#include "p4common.h"

/* Queue bounds. At the maximum the newest message is dropped (and counted) instead of
 * blocking Paho's thread, which every client in the process shares. Every kind is
 * recoverable: a lost ack makes the sale be resent and answered "duplicate", a lost change
 * shows as a gap and triggers a sync, a lost sync reply times out and the sync is repeated,
 * a lost alert or status is only informational (status is retained and re-read on reconnect). */
#define LINK_QUEUE_MAX 4096
#define LINK_QUEUE_BYTES_MAX (16u * 1024u * 1024u)
#define LINK_SUBS_MAX 8

struct link {
    MQTTAsync client;
    char *uri;
    char uri_shown[512]; /* uri for logs, without user:password@ */
    char *client_id;
    char *username;
    char *password; /* wiped at free */
    char *subs[LINK_SUBS_MAX];
    int n_subs;
    void (*wake)(void *);
    void *wake_ctx;

    /* mu guards everything below. Paho's callbacks take it, so it is never held across a
     * MQTTAsync_* call: Paho may be inside a callback, holding its own mutex, at that moment. */
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* disconnect completion at free */
    enum link_state state;
    uint64_t up_gen;
    struct link_msg q[LINK_QUEUE_MAX];
    size_t q_head, q_len, q_bytes;
    uint64_t dropped;
    bool disconnected;
};

void link_msg_cleanup(struct link_msg *m)
{
    free(m->topic);
    free(m->payload);
    m->topic = NULL;
    m->payload = NULL;
}

static void set_state(struct link *l, enum link_state s)
{
    pthread_mutex_lock(&l->mu);
    l->state = s;
    if (s == LINK_UP)
        l->up_gen++;
    pthread_mutex_unlock(&l->mu);
    l->wake(l->wake_ctx);
}

/* Paho thread: copy and queue; never block beyond the queue's own mutex. */
static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct link *l = ctx;
    struct link_msg msg = {0};
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t plen = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    bool queued = false;

    msg.topic = malloc(tlen + 1);
    msg.payload = malloc(plen + 1);
    if (msg.topic && msg.payload) {
        memcpy(msg.topic, topic, tlen);
        msg.topic[tlen] = '\0';
        if (plen)
            memcpy(msg.payload, m->payload, plen);
        msg.payload[plen] = '\0';
        msg.len = plen;
        msg.retained = m->retained != 0;
        pthread_mutex_lock(&l->mu);
        if (l->q_len < LINK_QUEUE_MAX && l->q_bytes + plen <= LINK_QUEUE_BYTES_MAX) {
            l->q[(l->q_head + l->q_len) % LINK_QUEUE_MAX] = msg;
            l->q_len++;
            l->q_bytes += plen;
            queued = true;
        } else {
            l->dropped++;
        }
        pthread_mutex_unlock(&l->mu);
    }
    if (!queued)
        link_msg_cleanup(&msg);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    if (queued)
        l->wake(l->wake_ctx);
    return 1;
}

static void on_connection_lost(void *ctx, char *cause)
{
    struct link *l = ctx;

    p4_warn("store broker connection lost uri=%s cause=\"%s\"", l->uri_shown, cause ? cause : "");
    set_state(l, LINK_DOWN);
}

static void on_subscribed(void *ctx, MQTTAsync_successData *resp)
{
    struct link *l = ctx;

    (void)resp;
    p4_info("store broker link up uri=%s client_id=%s", l->uri_shown, l->client_id);
    set_state(l, LINK_UP);
}

static void on_subscribe_failed(void *ctx, MQTTAsync_failureData *resp)
{
    struct link *l = ctx;

    p4_error("subscribe failed uri=%s code=%d", l->uri_shown, resp ? resp->code : 0);
    /* Without our subscriptions acks would go unseen: drop the connection and retry. */
    MQTTAsync_disconnect(l->client, NULL);
    set_state(l, LINK_DOWN);
}

static void on_connected(void *ctx, MQTTAsync_successData *resp)
{
    struct link *l = ctx;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int qos[LINK_SUBS_MAX];
    int rc;

    (void)resp;
    for (int i = 0; i < l->n_subs; i++)
        qos[i] = 1;
    ro.onSuccess = on_subscribed;
    ro.onFailure = on_subscribe_failed;
    ro.context = l;
    rc = MQTTAsync_subscribeMany(l->client, l->n_subs, l->subs, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        p4_error("subscribe request failed uri=%s code=%d", l->uri_shown, rc);
        MQTTAsync_disconnect(l->client, NULL);
        set_state(l, LINK_DOWN);
    }
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    struct link *l = ctx;

    p4_debug("store broker connect failed uri=%s code=%d msg=\"%s\"", l->uri_shown,
             resp ? resp->code : 0, resp && resp->message ? resp->message : "");
    set_state(l, LINK_DOWN);
}

static void on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
    struct link *l = ctx;

    (void)resp;
    pthread_mutex_lock(&l->mu);
    l->disconnected = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    (void)resp;
    on_disconnected(ctx, NULL);
}

static char *dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

int link_new(const struct link_opts *o, void (*wake)(void *), void *wake_ctx,
             struct link **out)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    struct link *l;
    int rc;

    l = calloc(1, sizeof(*l));
    if (!l)
        return P4TERM_ENOMEM;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->wake = wake;
    l->wake_ctx = wake_ctx;
    l->uri = strdup(o->uri);
    p4_uri_redact(o->uri, l->uri_shown, sizeof(l->uri_shown));
    l->client_id = strdup(o->client_id);
    l->username = dup_or_null(o->username);
    l->password = dup_or_null(o->password);
    if (!l->uri || !l->client_id || (o->username && o->username[0] && !l->username) ||
        (o->password && o->password[0] && !l->password)) {
        rc = P4TERM_ENOMEM;
        goto out;
    }
    for (const char *const *s = o->subs; s && *s; s++) {
        if (l->n_subs == LINK_SUBS_MAX) {
            rc = P4TERM_EINVAL;
            goto out;
        }
        l->subs[l->n_subs] = strdup(*s);
        if (!l->subs[l->n_subs]) {
            rc = P4TERM_ENOMEM;
            goto out;
        }
        l->n_subs++;
    }
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.sendWhileDisconnected = 0; /* the journal is the buffer; nothing waits in Paho */
    rc = MQTTAsync_createWithOptions(&l->client, l->uri, l->client_id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        p4_error("mqtt client create failed uri=%s code=%d", l->uri_shown, rc);
        l->client = NULL;
        rc = P4TERM_EMQTT;
        goto out;
    }
    rc = MQTTAsync_setCallbacks(l->client, l, on_connection_lost, on_message, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        p4_error("mqtt set callbacks failed code=%d", rc);
        rc = P4TERM_EMQTT;
        goto out;
    }
    *out = l;
    l = NULL;
    rc = 0;
out:
    link_free(l);
    return rc;
}

void link_free(struct link *l)
{
    if (!l)
        return;
    if (l->client) {
        if (MQTTAsync_isConnected(l->client)) {
            MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
            struct timespec until;

            /* Nothing waits on this flush: unacknowledged sales stay pending in the journal and
             * are sent again, sync and hold requests are asked again. A longer wait only held
             * up the exit while the broker kept delivering change messages. */
            d.timeout = 100;
            d.onSuccess = on_disconnected;
            d.onFailure = on_disconnect_failed;
            d.context = l;
            /* Paho may confirm the DISCONNECT only on a later turn of its threads (about a
             * second under load): a process exiting after `p4term sync` waited for that. A
             * register has no will, so closing without the confirmation loses nothing. */
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 300L * 1000 * 1000;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            /* Called without l->mu: Paho may run on_message or on_disconnected (which take
             * it) on its own thread while this call waits for Paho's mutex. The flag is read
             * under l->mu below, so a completion that comes before the wait is not missed. */
            if (MQTTAsync_disconnect(l->client, &d) == MQTTASYNC_SUCCESS) {
                pthread_mutex_lock(&l->mu);
                while (!l->disconnected) {
                    if (pthread_cond_timedwait(&l->cv, &l->mu, &until) != 0)
                        break;
                }
                pthread_mutex_unlock(&l->mu);
            }
        }
        MQTTAsync_destroy(&l->client);
    }
    while (l->q_len) {
        link_msg_cleanup(&l->q[l->q_head]);
        l->q_head = (l->q_head + 1) % LINK_QUEUE_MAX;
        l->q_len--;
    }
    for (int i = 0; i < l->n_subs; i++)
        free(l->subs[i]);
    if (l->password) {
        p4_memzero(l->password, strlen(l->password));
        free(l->password);
    }
    free(l->username);
    free(l->client_id);
    free(l->uri);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int link_connect(struct link *l)
{
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    int rc;

    pthread_mutex_lock(&l->mu);
    if (l->state != LINK_DOWN) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    l->state = LINK_CONNECTING;
    pthread_mutex_unlock(&l->mu);
    o.MQTTVersion = MQTTVERSION_3_1_1;
    /* A clean session is enough: pending sales live in the journal and are resent, missed
     * changes are caught up by sync. */
    o.cleansession = 1;
    o.keepAliveInterval = 10;
    o.connectTimeout = 5;
    o.automaticReconnect = 0; /* the worker reconnects with its own backoff */
    o.username = l->username;
    o.password = l->password;
    o.onSuccess = on_connected;
    o.onFailure = on_connect_failed;
    o.context = l;
    rc = MQTTAsync_connect(l->client, &o);
    if (rc != MQTTASYNC_SUCCESS) {
        p4_warn("mqtt connect request failed uri=%s code=%d", l->uri_shown, rc);
        pthread_mutex_lock(&l->mu);
        l->state = LINK_DOWN;
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    return 0;
}

enum link_state link_state(struct link *l, uint64_t *up_gen)
{
    enum link_state s;

    pthread_mutex_lock(&l->mu);
    s = l->state;
    if (up_gen)
        *up_gen = l->up_gen;
    pthread_mutex_unlock(&l->mu);
    return s;
}

int link_pop(struct link *l, struct link_msg *m)
{
    int got = 0;

    pthread_mutex_lock(&l->mu);
    if (l->q_len) {
        *m = l->q[l->q_head];
        l->q_head = (l->q_head + 1) % LINK_QUEUE_MAX;
        l->q_len--;
        l->q_bytes -= m->len;
        got = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return got;
}

int link_publish(struct link *l, const char *topic, const char *payload, size_t len)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;
    int rc;

    m.payload = (void *)payload;
    m.payloadlen = (int)len;
    m.qos = 1;
    m.retained = 0;
    rc = MQTTAsync_sendMessage(l->client, topic, &m, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        p4_debug("publish refused topic=%s code=%d", topic, rc);
        return -1;
    }
    return 0;
}

uint64_t link_dropped(struct link *l)
{
    uint64_t n;

    pthread_mutex_lock(&l->mu);
    n = l->dropped;
    pthread_mutex_unlock(&l->mu);
    return n;
}
