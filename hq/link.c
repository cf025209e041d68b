/* SPDX-License-Identifier: Apache-2.0 */
/* p4hq's cloud broker connection: a persistent session subscribed to the tenant's uplink,
 * Paho callbacks that only copy into a bounded queue, and QoS 1 publishing. */
#include "p4hq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>

#include "p4common.h"

/* A message bigger than any the contract allows is cut before it is queued: it is refused for
 * its size anyway, and the cut copy is what the dead letter keeps. */
#define COPY_MAX (P4T_MAX_BATCH_PAYLOAD + 4096)
/* Persistent session: what the broker keeps for p4hq while it is away (MQTT 5). */
#define SESSION_EXPIRY_S (7 * 24 * 3600)
#define LINK_MAX_BUFFERED 65536 /* Paho commands queued at once (see link_new) */
/* The TLS suites of the cloud link, the same as the gateway's (TLS 1.2 AEAD with forward
 * secrecy; TLS 1.3 stays enabled): Paho 1.3.12 offers no other way to refuse old protocols. */
#define HQ_TLS_CIPHERS \
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!DSS:@SECLEVEL=2"

enum { SUB_SALE, SUB_ALERT, SUB_RESYNC, SUB_CUSTOMER, SUB_LOOKUP, SUB_STATUS, N_SUBS };

struct link {
    MQTTAsync client;
    const struct p4hq_config *cfg;
    char filters[N_SUBS][P4T_TOPIC_MAX + 64];
    char password[256];
    char *uris[P4HQ_MAX_URIS]; /* the connect options' serverURIs (borrowed from cfg) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hq_msg *head, *tail; /* the queue, oldest first */
    int n_queued;
    size_t queued_bytes;
    bool connected;
    bool connecting;    /* a connect of ours is under way (link_tick) */
    int64_t retry_at_ms; /* monotonic: when link_tick may connect again */
    int backoff_ms;
    bool woken;
    uint64_t refused; /* offers refused because the queue was full (Paho offers them again) */
};

void hq_msg_free(struct hq_msg *m)
{
    if (!m)
        return;
    free(m->topic);
    free(m->payload);
    if (m->refused_owned)
        free(m->refused);
    free(m);
}

static void on_sub_ok(void *context, MQTTAsync_successData *response)
{
    struct link *l = context;

    (void)l;
    if (response && response->alt.qos == 0x80)
        p4_error("cloud subscription refused by the broker (granted 0x80)");
}

static void on_sub_ok5(void *context, MQTTAsync_successData5 *response)
{
    (void)context;
    for (int i = 0; response && i < response->alt.sub.reasonCodeCount; i++) {
        if (response->alt.sub.reasonCodes[i] >= 0x80)
            p4_error("cloud subscription refused by the broker reason=%d",
                     response->alt.sub.reasonCodes[i]);
    }
    if (response && response->alt.sub.reasonCodeCount == 0 && response->reasonCode >= 0x80)
        p4_error("cloud subscription refused by the broker reason=%d", response->reasonCode);
}

static void on_sub_fail(void *context, MQTTAsync_failureData *response)
{
    (void)context;
    p4_error("cloud subscribe failed code=%d", response ? response->code : 0);
}

static void on_sub_fail5(void *context, MQTTAsync_failureData5 *response)
{
    (void)context;
    p4_error("cloud subscribe failed code=%d reason=%d", response ? response->code : 0,
             response ? (int)response->reasonCode : 0);
}

/* Paho's thread: subscribes (again: harmless with a resumed session) and returns. */
static void on_connected(void *context, char *cause)
{
    struct link *l = context;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    char *topics[N_SUBS];
    int qos[N_SUBS];
    int rc;

    (void)cause;
    pthread_mutex_lock(&l->mu);
    l->connected = true;
    l->connecting = false;
    l->backoff_ms = 1000;
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->cfg->n_cloud_uris; i++)
        p4_tcp_nodelay_uri(l->cfg->cloud_uris[i]);
    for (int i = 0; i < N_SUBS; i++) {
        topics[i] = l->filters[i];
        qos[i] = 1;
    }
    ro.context = l;
    if (l->cfg->mqtt_version == MQTTVERSION_5) {
        ro.onSuccess5 = on_sub_ok5;
        ro.onFailure5 = on_sub_fail5;
    } else {
        ro.onSuccess = on_sub_ok;
        ro.onFailure = on_sub_fail;
    }
    rc = MQTTAsync_subscribeMany(l->client, N_SUBS, topics, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        p4_error("cloud subscribe not sent code=%d", rc);
    p4_info("cloud link up filter=%s", l->filters[SUB_SALE]);
    wire_caps_publish(l, l->cfg->tenant);
}

static void on_lost(void *context, char *cause)
{
    struct link *l = context;

    pthread_mutex_lock(&l->mu);
    l->connected = false;
    l->retry_at_ms = p4_mono_ms(); /* at once: another node may be up */
    pthread_mutex_unlock(&l->mu);
    p4_warn("cloud connection lost (reconnecting) cause=%s", cause ? cause : "-");
}

/* Paho's thread: copy and return at once. With the queue full ([ingest] queue_max messages or
 * queue_max_mb bytes; one message always fits), returning 0 makes Paho keep the message and
 * offer it again later, so uplink data waits in the broker instead of being dropped. */
static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct link *l = context;
    size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t copy = len > COPY_MAX ? COPY_MAX : len;
    struct hq_msg *msg;

    pthread_mutex_lock(&l->mu);
    if (l->n_queued >= l->cfg->queue_max ||
        (l->n_queued > 0 && l->queued_bytes + copy > (size_t)l->cfg->queue_max_mb << 20)) {
        l->refused++;
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    pthread_mutex_unlock(&l->mu);
    msg = calloc(1, sizeof *msg);
    if (!msg)
        return 0;
    msg->topic = malloc(tlen + 1);
    msg->payload = malloc(copy + 1);
    if (!msg->topic || !msg->payload) {
        hq_msg_free(msg);
        return 0;
    }
    memcpy(msg->topic, topic, tlen);
    msg->topic[tlen] = '\0';
    memcpy(msg->payload, m->payload, copy);
    msg->payload[copy] = '\0';
    msg->len = copy;
    msg->orig_len = len;
    msg->received_ms = p4_mono_ms();
    pthread_mutex_lock(&l->mu);
    if (l->tail)
        l->tail->next = msg;
    else
        l->head = msg;
    l->tail = msg;
    l->n_queued++;
    l->queued_bytes += copy;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Paho's thread: our connect failed; link_tick tries again after the backoff. */
static void connect_failed(struct link *l)
{
    pthread_mutex_lock(&l->mu);
    l->connecting = false;
    l->retry_at_ms = p4_mono_ms() + l->backoff_ms;
    l->backoff_ms = l->backoff_ms * 2 > l->cfg->reconnect_max_s * 1000
                        ? l->cfg->reconnect_max_s * 1000
                        : l->backoff_ms * 2;
    pthread_mutex_unlock(&l->mu);
}

static void on_connect_fail(void *context, MQTTAsync_failureData *response)
{
    connect_failed(context);
    p4_warn("cloud connect failed code=%d msg=%s (retrying)", response ? response->code : 0,
            response && response->message ? response->message : "-");
}

static void on_connect_fail5(void *context, MQTTAsync_failureData5 *response)
{
    connect_failed(context);
    p4_warn("cloud connect failed code=%d reason=%d (retrying)", response ? response->code : 0,
            response ? (int)response->reasonCode : 0);
}

static int build_filters(struct link *l)
{
    static const char *const kinds[N_SUBS] = {"sale", "alert", "resync", "customer", "lookup",
                                              "status"};
    const struct p4hq_config *cfg = l->cfg;

    if (!p4t_id_valid(cfg->tenant))
        return P4HQ_EINVAL;
    for (int i = 0; i < N_SUBS; i++) {
        int n = snprintf(l->filters[i], sizeof l->filters[i], "p4/v1/%s/+/up/%s", cfg->tenant,
                     kinds[i]);
        if (n < 0 || (size_t)n >= sizeof l->filters[i])
            return P4HQ_EINVAL;
        /* Statuses are retained, and shared subscriptions get no retained messages: every
         * process reads every status (an idempotent upsert) with a plain subscription. */
        if (cfg->share_group[0] && i != SUB_STATUS) {
            char plain[sizeof l->filters[i]];
            memcpy(plain, l->filters[i], sizeof plain);
            n = snprintf(l->filters[i], sizeof l->filters[i], "$share/%s/%s", cfg->share_group,
                         plain);
            if (n < 0 || (size_t)n >= sizeof l->filters[i])
                return P4HQ_EINVAL;
        }
    }
    return P4HQ_OK;
}

/* Builds the connect options and starts one connect (Paho copies what it keeps). Every
 * connect, the first included, is ours rather than Paho's automatic reconnect: that one never
 * retries a first connect that failed, and with several nodes (Paho 1.3.12) it starts over
 * from the node of its last attempt instead of the first, so after a failover to the last node
 * it would never try the others again. A new MQTTAsync_connect tries every node in order. */
static int start_connect(struct link *l)
{
    const struct p4hq_config *cfg = l->cfg;
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions opts5 = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
    MQTTAsync_connectOptions *o;
    int rc;

    if (cfg->mqtt_version == MQTTVERSION_5) {
        o = &opts5;
        o->cleanstart = 0;
        expiry.value.integer4 = SESSION_EXPIRY_S;
        MQTTProperties_add(&props, &expiry);
        o->connectProperties = &props;
        o->onFailure5 = on_connect_fail5;
    } else {
        o = &opts;
        o->cleansession = 0;
        o->onFailure = on_connect_fail;
    }
    o->MQTTVersion = cfg->mqtt_version;
    o->keepAliveInterval = cfg->keepalive_s;
    o->automaticReconnect = 0;
    o->connectTimeout = 10;
    o->context = l;
    /* QoS 1 publishes awaiting PUBACK: a group's watermarks to a thousand stores go out in
     * one window rather than in rounds of a few dozen. */
    o->maxInflight = 1024;
    if (cfg->username[0])
        o->username = cfg->username;
    if (l->password[0])
        o->password = l->password;
    if (cfg->n_cloud_uris > 1) {
        for (int i = 0; i < cfg->n_cloud_uris; i++)
            l->uris[i] = (char *)cfg->cloud_uris[i];
        o->serverURIs = l->uris;
        o->serverURIcount = cfg->n_cloud_uris;
    }
    if (strncmp(cfg->cloud_uris[0], "ssl://", 6) == 0 ||
        strncmp(cfg->cloud_uris[0], "mqtts://", 8) == 0 ||
        strncmp(cfg->cloud_uris[0], "wss://", 6) == 0) {
        ssl.trustStore = cfg->ca_file[0] ? cfg->ca_file : NULL;
        ssl.keyStore = cfg->cert_file[0] ? cfg->cert_file : NULL;
        ssl.privateKey = cfg->key_file[0] ? cfg->key_file : NULL;
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1; /* Paho leaves hostname checks off by default */
        ssl.enabledCipherSuites = HQ_TLS_CIPHERS;
        o->ssl = &ssl;
    }
    rc = MQTTAsync_connect(l->client, o);
    MQTTProperties_free(&props);
    return rc == MQTTASYNC_SUCCESS ? P4HQ_OK : P4HQ_EMQTT;
}

void link_tick(struct link *l)
{
    int64_t now = p4_mono_ms();
    bool go;

    pthread_mutex_lock(&l->mu);
    go = !l->connected && !l->connecting && now >= l->retry_at_ms;
    if (go)
        l->connecting = true;
    pthread_mutex_unlock(&l->mu);
    if (go && start_connect(l) != 0) {
        p4_warn("cloud connect not started (retrying)");
        connect_failed(l);
    }
}

int link_start(struct link **out, const struct p4hq_config *cfg)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    pthread_condattr_t ca;
    struct link *l;
    char redacted[P4HQ_TEXT_MAX];
    int rc;

    *out = NULL;
    l = calloc(1, sizeof *l);
    if (!l)
        return P4HQ_ENOMEM;
    l->cfg = cfg;
    l->backoff_ms = 1000;
    pthread_mutex_init(&l->mu, NULL);
    /* link_pop waits on CLOCK_MONOTONIC: a wall-clock step must not stall or spin it. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = build_filters(l);
    if (rc)
        goto fail;
    if (cfg->cloud_password_file[0] &&
        p4_read_secret(cfg->cloud_password_file, l->password, sizeof l->password) != 0) {
        p4_error("cannot read [cloud] password_file %s", cfg->cloud_password_file);
        rc = P4HQ_EINVAL;
        goto fail;
    }
    co.MQTTVersion = cfg->mqtt_version;
    co.sendWhileDisconnected = 0;
    /* Paho's command queue limit (default 100) applies while connected too: a group touching a
     * thousand stores publishes a thousand watermarks at once, and a refused one would leave
     * its store waiting for a resend. */
    co.maxBufferedMessages = LINK_MAX_BUFFERED;
    rc = MQTTAsync_createWithOptions(&l->client, cfg->cloud_uris[0], cfg->client_id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        p4_error("cloud client create failed code=%d", rc);
        rc = P4HQ_EMQTT;
        goto fail;
    }
    MQTTAsync_setCallbacks(l->client, l, on_lost, on_message, NULL);
    MQTTAsync_setConnected(l->client, l, on_connected);
    p4_uri_redact(cfg->cloud_uris[0], redacted, sizeof redacted);
    p4_info("cloud connecting uri=%s nodes=%d client_id=%s mqtt=%s", redacted,
            cfg->n_cloud_uris, cfg->client_id,
            cfg->mqtt_version == MQTTVERSION_5 ? "5" : "3.1.1");
    link_tick(l); /* the first connect; the owner's loop calls link_tick for the next ones */
    *out = l;
    return P4HQ_OK;
fail:
    link_stop(l);
    return rc;
}

struct hq_msg *link_pop(struct link *l, int max, int wait_ms)
{
    struct hq_msg *first, *last;
    struct timespec until;
    int n = 1;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->mu);
    while (!l->head && !l->woken) {
        if (pthread_cond_timedwait(&l->cv, &l->mu, &until) == ETIMEDOUT)
            break;
    }
    l->woken = false;
    first = l->head;
    if (!first) {
        pthread_mutex_unlock(&l->mu);
        return NULL;
    }
    last = first;
    l->queued_bytes -= first->len;
    while (n < max && last->next) {
        last = last->next;
        l->queued_bytes -= last->len;
        n++;
    }
    l->head = last->next;
    if (!l->head)
        l->tail = NULL;
    last->next = NULL;
    l->n_queued -= n;
    pthread_mutex_unlock(&l->mu);
    for (struct hq_msg *m = first; m; m = m->next)
        wire_unpack(m);
    return first;
}

int link_publish(struct link *l, const char *topic, const char *payload, size_t len, int qos,
                 bool retained)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_send(l->client, topic, (int)len, payload, qos, retained ? 1 : 0, &ro);

    if (rc != MQTTASYNC_SUCCESS) {
        p4_warn("publish not sent topic=%s code=%d", topic, rc);
        return P4HQ_EMQTT;
    }
    return P4HQ_OK;
}

int link_send(struct link *l, const char *topic, const char *payload, size_t len, int *token)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_send(l->client, topic, (int)len, payload, 1, 0, &ro);

    *token = ro.token;
    return rc == MQTTASYNC_SUCCESS ? P4HQ_OK : P4HQ_EMQTT;
}

int link_wait(struct link *l, int token, int timeout_ms)
{
    return MQTTAsync_waitForCompletion(l->client, token, (unsigned long)timeout_ms) ==
                   MQTTASYNC_SUCCESS
               ? P4HQ_OK
               : P4HQ_EMQTT;
}

bool link_connected(struct link *l)
{
    bool up;

    pthread_mutex_lock(&l->mu);
    up = l->connected;
    pthread_mutex_unlock(&l->mu);
    return up;
}

int64_t link_oldest_ms(struct link *l)
{
    int64_t t;

    pthread_mutex_lock(&l->mu);
    t = l->head ? l->head->received_ms : 0;
    pthread_mutex_unlock(&l->mu);
    return t;
}

uint64_t link_dropped(struct link *l)
{
    uint64_t n;

    pthread_mutex_lock(&l->mu);
    n = l->refused;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void link_wake(struct link *l)
{
    pthread_mutex_lock(&l->mu);
    l->woken = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void link_stop(struct link *l)
{
    struct hq_msg *m;

    if (!l)
        return;
    if (l->client) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 1000;
        if (MQTTAsync_isConnected(l->client))
            MQTTAsync_disconnect(l->client, &d);
        MQTTAsync_destroy(&l->client);
    }
    while ((m = l->head)) {
        l->head = m->next;
        hq_msg_free(m);
    }
    p4_memzero(l->password, sizeof l->password);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
