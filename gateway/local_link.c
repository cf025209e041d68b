/* SPDX-License-Identifier: Apache-2.0 */
/* The store-broker link: a clean session (registers resend), a retained offline last will. */
#include "link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

/* Paho's command queue limit (maxBufferedMessages, default 100) applies while connected too:
 * a group commit publishes up to commit_max_items acks at once. Beyond this an ack is refused
 * (logged); the register then resends and gets a duplicate ack. */
#define LOCAL_MAX_BUFFERED 200000

static void on_connect_fail(void *context, MQTTAsync_failureData *resp)
{
    struct link *l = context;
    int code = resp ? resp->code : 0;

    /* CONNACK 4/5: the store broker runs with allow_anonymous false and an ACL; say which
     * setting to look at rather than a bare number. */
    if (code == 4 || code == 5)
        p4_error("store broker refused the gateway's login rc=%d username=%s: check [local] "
                 "username and password_file against the broker's password file (retrying)",
                 code, l->cfg->local_username[0] ? l->cfg->local_username : "(none)");
    else
        p4_warn("store broker connect failed rc=%d msg=\"%s\" (retrying)", code,
                resp && resp->message ? resp->message : "");
}

int local_link_start(struct link *l, const struct p4gw_config *cfg, struct queue *q,
                     const char *will_topic, const char *will_payload)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    char uri[P4GW_URI_MAX];
    int rc;

    memset(l, 0, sizeof(*l));
    p4_uri_redact(cfg->local_uri, uri, sizeof(uri));
    l->q = q;
    l->cfg = cfg;
    l->cloud = false;
    l->mqtt_version = MQTTVERSION_3_1_1;
    snprintf(l->account, sizeof(l->account), "username=%s client_id=%s",
             cfg->local_username[0] ? cfg->local_username : "(anonymous)", cfg->local_client_id);
    snprintf(l->will_topic, sizeof(l->will_topic), "%s", will_topic);
    l->will_payload = strdup(will_payload);
    if (!l->will_payload)
        return P4GW_ENOMEM;
    co.MQTTVersion = l->mqtt_version;
    co.maxBufferedMessages = LOCAL_MAX_BUFFERED;
    /* No library persistence: the replica is the durable store; acks are re-earned. */
    rc = MQTTAsync_createWithOptions(&l->client, cfg->local_uri, cfg->local_client_id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        p4_error("store broker client create failed uri=%s rc=%d", uri, rc);
        l->client = NULL;
        return P4GW_EMQTT;
    }
    if (MQTTAsync_setCallbacks(l->client, l, link_on_lost, link_on_message, NULL) !=
            MQTTASYNC_SUCCESS ||
        MQTTAsync_setConnected(l->client, l, link_on_connected) != MQTTASYNC_SUCCESS) {
        p4_error("store broker client callbacks refused");
        return P4GW_EMQTT;
    }
    if (cfg->local_password_file[0] &&
        p4_read_secret(cfg->local_password_file, l->password, sizeof(l->password)) != 0) {
        p4_error("cannot read password_file=%s", cfg->local_password_file);
        return P4GW_EIO;
    }
    opts.MQTTVersion = l->mqtt_version;
    opts.cleansession = 1;
    opts.keepAliveInterval = 10;
    opts.automaticReconnect = 1;
    opts.minRetryInterval = 1;
    opts.maxRetryInterval = cfg->reconnect_max_s;
    opts.connectTimeout = 10;
    opts.context = l;
    opts.onFailure = on_connect_fail;
    if (cfg->local_username[0])
        opts.username = cfg->local_username;
    if (l->password[0])
        opts.password = l->password;
    will.topicName = l->will_topic;
    will.message = l->will_payload;
    will.qos = 1;
    will.retained = 1;
    opts.will = &will;
    if (strncmp(cfg->local_uri, "ssl://", 6) == 0 || strncmp(cfg->local_uri, "mqtts://", 8) == 0 ||
        strncmp(cfg->local_uri, "wss://", 6) == 0)
        opts.ssl = &ssl;
    rc = MQTTAsync_connect(l->client, &opts);
    /* Paho keeps its own copy for reconnects; ours is not needed any more. */
    p4_memzero(l->password, sizeof(l->password));
    if (rc != MQTTASYNC_SUCCESS) {
        p4_error("store broker connect refused uri=%s rc=%d", uri, rc);
        return P4GW_EMQTT;
    }
    p4_info("store broker connecting uri=%s client_id=%s username=%s", uri,
            cfg->local_client_id, cfg->local_username[0] ? cfg->local_username : "(none)");
    return P4GW_OK;
}
