/* SPDX-License-Identifier: Apache-2.0 */
/* The cloud link: persistent session (the broker keeps our in-flight state across drops),
 * explicit MQTT version, mutual TLS with hostname verification and TLS 1.2 as the minimum,
 * capped reconnect backoff, retained offline will; a failed connect kicks the TLS diagnosis
 * (tls_diag.c). */
#include "link.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

static int cloud_connect(struct link *l);

/* CONNACK: whether the broker still had our session (and the downlink queued for us). Paho
 * 1.3.12 calls the connect options' onSuccess for the first connect only, not for its
 * automatic reconnects: with one broker a reconnect reaches on_cloud_up through
 * link_on_connected without a session flag. With several nodes every connect is ours
 * (cloud_link_tick), so each one reports it. */
static void push_session(struct link *l, int present)
{
    struct event *ev = event_new(EV_CLOUD_SESSION);

    if (!ev)
        return;
    ev->batch_id = present ? 1 : 0;
    queue_push(l->q, ev);
}

/* Paho's thread: a connect of ours (cloud_link_tick) is over, either way. */
static void connect_done(struct link *l)
{
    atomic_store(&l->connecting, false);
}

static void on_connect_ok(void *context, MQTTAsync_successData *resp)
{
    connect_done(context);
    push_session(context, resp ? resp->alt.connect.sessionPresent : 0);
}

static void on_connect_ok5(void *context, MQTTAsync_successData5 *resp)
{
    connect_done(context);
    push_session(context, resp ? resp->alt.connect.sessionPresent : 0);
}

static void on_connect_fail(void *context, MQTTAsync_failureData *resp)
{
    connect_done(context);
    p4_warn("cloud connect failed rc=%d msg=\"%s\" (retrying)", resp ? resp->code : 0,
            resp && resp->message ? resp->message : "");
    tls_diag_kick();
}

static void on_connect_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    connect_done(context);
    p4_warn("cloud connect failed rc=%d reason=%d msg=\"%s\" (retrying)", resp ? resp->code : 0,
            resp ? (int)resp->reasonCode : 0, resp && resp->message ? resp->message : "");
    tls_diag_kick();
}

/* Paho's thread: OpenSSL's own words for a failed handshake step. Kept at debug level: the
 * diagnosis says the same in terms a technician can act on. */
static int on_ssl_error(const char *str, size_t len, void *u)
{
    (void)u;
    while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r'))
        len--;
    p4_debug("cloud TLS library error: %.*s", (int)(len > 400 ? 400 : len), str);
    return 0;
}

/* Builds the connect options from the config and starts a connect (Paho copies what it keeps).
 * Returns 0 or P4GW_EMQTT (logged). */
static int cloud_connect(struct link *l)
{
    const struct p4gw_config *cfg = l->cfg;
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions opts5 = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty expiry;
    int rc;

    if (l->mqtt_version == MQTTVERSION_5) {
        opts = opts5;
        opts.cleanstart = 0;
        expiry.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
        expiry.value.integer4 = (unsigned int)cfg->session_expiry_s;
        MQTTProperties_add(&props, &expiry);
        opts.connectProperties = &props;
        opts.onFailure5 = on_connect_fail5;
        opts.onSuccess5 = on_connect_ok5;
    } else {
        /* A persistent session: nothing the broker holds for us is dropped on a reconnect. */
        opts.cleansession = 0;
        opts.onFailure = on_connect_fail;
        opts.onSuccess = on_connect_ok;
    }
    opts.MQTTVersion = l->mqtt_version;
    opts.keepAliveInterval = cfg->keepalive_s;
    opts.maxInflight = cfg->max_inflight;
    /* One broker: Paho reconnects by itself. Several nodes: cloud_link_tick does, because
     * Paho's automatic reconnect (1.3.12, 1.3.13) starts over from the node of its last
     * attempt, not from the first, so after a failover to the last node it would never try
     * the others again (MQTTAsync_checkTimeouts copies m->connect with its currentURI). A new
     * MQTTAsync_connect tries every node from the first. */
    opts.automaticReconnect = cfg->n_cloud_uris > 1 ? 0 : 1;
    opts.minRetryInterval = 1;
    opts.maxRetryInterval = cfg->reconnect_max_s;
    opts.connectTimeout = 10;
    opts.context = l;
    if (cfg->n_cloud_uris > 1) {
        /* Paho does not write to the array. */
        for (int i = 0; i < cfg->n_cloud_uris; i++)
            l->uris[i] = (char *)cfg->cloud_uris[i];
        opts.serverURIs = l->uris;
        opts.serverURIcount = cfg->n_cloud_uris;
    }
    will.topicName = l->will_topic;
    will.message = l->will_payload;
    will.qos = 1;
    will.retained = 1;
    opts.will = &will;
    if (cfg->cloud_tls) {
        /* Server certificate and host name are always verified (Paho's verify defaults to
         * off). Paho re-reads the files on every connect, so a renewed certificate is picked
         * up without a restart. */
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1;
        ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2; /* documents intent; see CLOUD_TLS_CIPHERS */
        ssl.enabledCipherSuites = CLOUD_TLS_CIPHERS;
        ssl.trustStore = cfg->ca_file[0] ? cfg->ca_file : NULL;
        ssl.keyStore = cfg->cert_file[0] ? cfg->cert_file : NULL;
        ssl.privateKey = cfg->key_file[0] ? cfg->key_file : NULL;
        ssl.ssl_error_cb = on_ssl_error;
        ssl.ssl_error_context = l;
        opts.ssl = &ssl;
    }
    atomic_store(&l->connecting, true);
    rc = MQTTAsync_connect(l->client, &opts);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS) {
        char uri[P4GW_URI_MAX];

        atomic_store(&l->connecting, false);
        p4_uri_redact(cfg->cloud_uri, uri, sizeof(uri));
        p4_error("cloud connect refused uri=%s rc=%d", uri, rc);
        return P4GW_EMQTT;
    }
    return P4GW_OK;
}

void cloud_link_tick(struct link *l, int64_t now_ms)
{
    if (!l->client || l->cfg->n_cloud_uris < 2 || atomic_load(&l->connecting))
        return;
    if (MQTTAsync_isConnected(l->client)) {
        l->retry_s = 0;
        return;
    }
    if (now_ms < l->retry_at_ms)
        return;
    /* The same backoff as Paho's with one broker: 1 s, doubling, at most reconnect_max_s. */
    l->retry_s = l->retry_s ? l->retry_s * 2 : 1;
    if (l->retry_s > l->cfg->reconnect_max_s)
        l->retry_s = l->cfg->reconnect_max_s;
    l->retry_at_ms = now_ms + (int64_t)l->retry_s * 1000;
    cloud_connect(l);
}

int cloud_link_start(struct link *l, const struct p4gw_config *cfg, struct queue *q,
                     const char *will_topic, const char *will_payload)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    char uri[P4GW_URI_MAX];
    int rc;

    memset(l, 0, sizeof(*l));
    p4_uri_redact(cfg->cloud_uri, uri, sizeof(uri));
    l->q = q;
    l->cfg = cfg;
    l->cloud = true;
    l->mqtt_version = cfg->mqtt_version;
    atomic_init(&l->connecting, false);
    /* The cloud broker knows the gateway by its client certificate (mutual TLS) or, without
     * one, by its client id: name both in a refusal. */
    snprintf(l->account, sizeof(l->account), "client_id=%s%s%.120s", cfg->cloud_client_id,
             cfg->cert_file[0] ? " cert_file=" : " (no client certificate)", cfg->cert_file);
    snprintf(l->will_topic, sizeof(l->will_topic), "%s", will_topic);
    l->will_payload = strdup(will_payload);
    if (!l->will_payload)
        return P4GW_ENOMEM;
    /* MQTT 5 must be chosen when the client is created, not only at connect. */
    co.MQTTVersion = l->mqtt_version;
    /* Paho's command queue limit also applies while connected: room for a full window of
     * batches plus status and alert messages. */
    co.maxBufferedMessages = cfg->max_inflight + 1000;
    rc = MQTTAsync_createWithOptions(&l->client, cfg->cloud_uri, cfg->cloud_client_id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        p4_error("cloud client create failed uri=%s rc=%d", uri, rc);
        l->client = NULL;
        return P4GW_EMQTT;
    }
    if (MQTTAsync_setCallbacks(l->client, l, link_on_lost, link_on_message, NULL) !=
            MQTTASYNC_SUCCESS ||
        MQTTAsync_setConnected(l->client, l, link_on_connected) != MQTTASYNC_SUCCESS) {
        p4_error("cloud client callbacks refused");
        return P4GW_EMQTT;
    }
    if (cfg->cloud_tls) {
        char err[P4GW_ERR_MAX], warn[P4GW_ERR_MAX];

        /* The files were checked when the config was loaded; they may have changed since,
         * and an expiry is only known now. Either way the store keeps working offline. */
        if (config_check_tls(cfg, err, sizeof(err), warn, sizeof(warn)) != 0)
            p4_error("cloud TLS: %s", err);
        else if (warn[0])
            p4_error("%s", warn);
        tls_diag_start(cfg, l->client);
    }
    l->retry_s = 0;
    l->retry_at_ms = p4_mono_ms() + 1000;
    rc = cloud_connect(l);
    if (rc != P4GW_OK)
        return rc;
    p4_info("cloud connecting uri=%s nodes=%d client_id=%s mqtt_version=%s tls=%s", uri,
            cfg->n_cloud_uris, cfg->cloud_client_id,
            l->mqtt_version == MQTTVERSION_5 ? "5" : "3.1.1",
            !cfg->cloud_tls ? "off" : cfg->cert_file[0] ? "mutual" : "server-only");
    return P4GW_OK;
}
