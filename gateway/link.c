/* SPDX-License-Identifier: Apache-2.0 */
/* What both MQTT links share: Paho callbacks that only copy into the queue, publishing,
 * subscribing and stopping. The connect options live in local_link.c and cloud_link.c. */
#include "link.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

/* A store-broker message bigger than this is cut before it is queued: it is rejected for its
 * size anyway, and the cut copy is what the rejects table keeps for inspection. */
#define COPY_MAX (P4T_MAX_PAYLOAD + 4096)
#define COPY_MAX_DOWN (P4T_MAX_DOWN_PAYLOAD + 4096) /* the same for downlink messages */

static void push_control(struct link *l, enum ev_type type, uint64_t batch_id)
{
    struct event *ev = event_new(type);

    if (!ev) {
        /* Nothing sane is left to do without memory; the core notices via its timers. */
        return;
    }
    ev->batch_id = batch_id;
    queue_push(l->q, ev);
}

void link_on_connected(void *context, char *cause)
{
    struct link *l = context;

    (void)cause;
    push_control(l, l->cloud ? EV_CLOUD_UP : EV_LOCAL_UP, 0);
}

void link_on_lost(void *context, char *cause)
{
    struct link *l = context;

    (void)cause;
    push_control(l, l->cloud ? EV_CLOUD_DOWN : EV_LOCAL_DOWN, 0);
}

/* Paho's thread: copy and return at once. A full queue drops a store message (counted); the
 * register resends the sale when its ack does not come. A cloud message is not dropped:
 * returning 0 makes Paho keep it and offer it again later, so HQ's data waits instead. */
int link_on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct link *l = context;
    struct event *ev = event_new(l->cloud ? EV_CLOUD_MSG : EV_LOCAL_MSG);
    size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t cap = l->cloud ? COPY_MAX_DOWN : COPY_MAX;
    size_t copy = len > cap ? cap : len;

    if (!ev)
        goto drop;
    ev->topic = malloc(tlen + 1);
    ev->payload = malloc(copy + 1);
    if (!ev->topic || !ev->payload)
        goto drop;
    memcpy(ev->topic, topic, tlen);
    ev->topic[tlen] = '\0';
    if (copy)
        memcpy(ev->payload, m->payload, copy);
    ev->payload[copy] = '\0';
    ev->len = copy;
    ev->orig_len = len;
    if (queue_push(l->q, ev) != 0)
        goto drop;
    ev = NULL;
    goto out;
drop:
    if (l->cloud) {
        event_free(ev);
        return 0; /* redelivered by Paho later */
    }
    {
        uint64_t n = queue_dropped(l->q);

        /* Log the first drop and then every power of two, not every message. */
        if ((n & (n - 1)) == 0)
            p4_warn("store message dropped: queue full topic=%s dropped_total=%" PRIu64, topic,
                    n);
    }
    event_free(ev);
out:
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_send_ok(void *context, MQTTAsync_successData *resp)
{
    push_control(context, EV_CLOUD_ACK, (uint64_t)(uint32_t)resp->token);
}

static void on_send_fail(void *context, MQTTAsync_failureData *resp)
{
    push_control(context, EV_CLOUD_NACK, (uint64_t)(uint32_t)resp->token);
}

static void on_send_ok5(void *context, MQTTAsync_successData5 *resp)
{
    push_control(context, EV_CLOUD_ACK, (uint64_t)(uint32_t)resp->token);
}

static void on_send_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    push_control(context, EV_CLOUD_NACK, (uint64_t)(uint32_t)resp->token);
}

int link_publish(struct link *l, const char *topic, const void *payload, size_t len, int qos,
                 bool retained, uint64_t *token)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    int rc;

    if (!l->client || len > INT32_MAX)
        return P4GW_EMQTT;
    m.payload = (void *)payload;
    m.payloadlen = (int)len;
    m.qos = qos;
    m.retained = retained;
    ro.context = l;
    if (token) {
        if (l->mqtt_version == MQTTVERSION_5) {
            ro.onSuccess5 = on_send_ok5;
            ro.onFailure5 = on_send_fail5;
        } else {
            ro.onSuccess = on_send_ok;
            ro.onFailure = on_send_fail;
        }
    }
    /* Non-blocking: Paho copies the payload and sends it from its own thread. */
    rc = MQTTAsync_sendMessage(l->client, topic, &m, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        /* The caller keeps the message and retries (pending.c, outbox.c): not an error. */
        l->refused++;
        p4_debug("publish refused topic=%s rc=%d", topic, rc);
        return P4GW_EMQTT;
    }
    if (token)
        *token = (uint64_t)(uint32_t)ro.token;
    return P4GW_OK;
}

/* Paho's thread: the SUBACK of one SUBSCRIBE (one filter each, so alt.qos, not qosList) goes
 * to the core thread like any other event. */
static void push_suback(struct link *l, int token, int code)
{
    struct event *ev = event_new(l->cloud ? EV_CLOUD_SUBACK : EV_LOCAL_SUBACK);

    if (!ev)
        return; /* the subscription stays "waiting" and is asked again at the next connect */
    ev->batch_id = (uint64_t)(uint32_t)token;
    ev->code = code;
    queue_push(l->q, ev);
}

/* MQTT 3.1.1: a SUBACK of 0x80 reaches onFailure with code 0x80 (Paho 1.3.12 calls onSuccess
 * only for a granted QoS when one filter was asked); a lost connection gives a negative code. */
static void on_sub_ok(void *context, MQTTAsync_successData *resp)
{
    push_suback(context, resp->token, resp->alt.qos);
}

static void on_sub_fail(void *context, MQTTAsync_failureData *resp)
{
    push_suback(context, resp ? resp->token : 0, resp ? resp->code : MQTTASYNC_FAILURE);
}

/* MQTT 5: the SUBACK carries a reason code per filter; >= 0x80 refuses it. With one filter
 * Paho 1.3.12 gives it in reasonCode and leaves alt.sub uninitialised (not to be read). */
static void on_sub_ok5(void *context, MQTTAsync_successData5 *resp)
{
    push_suback(context, resp->token, resp->reasonCode);
}

static void on_sub_fail5(void *context, MQTTAsync_failureData5 *resp)
{
    int code = MQTTASYNC_FAILURE;

    if (resp && resp->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR)
        code = resp->reasonCode;
    else if (resp && resp->code < 0)
        code = resp->code;
    push_suback(context, resp ? resp->token : 0, code);
}

int link_sub_add(struct link *l, const char *filter)
{
    struct link_sub *s;

    if (l->n_subs == LINK_SUBS_MAX)
        return P4GW_EFULL;
    s = &l->subs[l->n_subs++];
    memset(s, 0, sizeof(*s));
    snprintf(s->filter, sizeof(s->filter), "%s", filter);
    return P4GW_OK;
}

/* Sends the SUBSCRIBE of S (QoS 1). A request Paho refuses (not connected) is left waiting:
 * the next connect asks again. */
static void sub_send(struct link *l, struct link_sub *s)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc;

    ro.context = l;
    if (l->mqtt_version == MQTTVERSION_5) {
        ro.onSuccess5 = on_sub_ok5;
        ro.onFailure5 = on_sub_fail5;
    } else {
        ro.onSuccess = on_sub_ok;
        ro.onFailure = on_sub_fail;
    }
    if (s->state == SUB_GRANTED)
        s->state = SUB_WAITING; /* a refused one stays refused until the broker grants it */
    s->retry_ms = 0;
    rc = MQTTAsync_subscribe(l->client, s->filter, 1, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        p4_warn("%s broker: subscribe not sent topic=%s rc=%d (asked again at the next "
                "connect)", l->cloud ? "cloud" : "store", s->filter, rc);
        s->token = 0;
        return;
    }
    s->token = (uint64_t)(uint32_t)ro.token;
}

void link_subscribe_all(struct link *l)
{
    for (int i = 0; i < l->n_subs; i++)
        sub_send(l, &l->subs[i]);
}

void link_on_suback(struct link *l, uint64_t token, int code, int64_t now_ms)
{
    const char *side = l->cloud ? "cloud" : "store";
    struct link_sub *s = NULL;
    int64_t wait_ms = LINK_SUB_RETRY_MIN_MS;

    for (int i = 0; i < l->n_subs && !s; i++) {
        if (l->subs[i].token == token)
            s = &l->subs[i];
    }
    if (!s || token == 0)
        return; /* an answer for an earlier connection's request */
    s->token = 0;
    if (code >= 0 && code < 0x80) {
        if (s->refusals)
            p4_info("%s broker granted the subscription topic=%s account=%s after "
                    "refusals=%d", side, s->filter, l->account, s->refusals);
        s->state = SUB_GRANTED;
        s->code = code;
        s->refusals = 0;
        return;
    }
    if (code < 0) {
        /* No SUBACK: the connection went (the next connect asks again) or Paho gave up. */
        p4_debug("%s broker: subscribe got no answer topic=%s rc=%d", side, s->filter, code);
        s->retry_ms = now_ms + LINK_SUB_RETRY_MIN_MS;
        return;
    }
    l->sub_refusals++;
    s->code = code;
    s->state = SUB_REFUSED;
    for (int i = 0; i < s->refusals && wait_ms < LINK_SUB_RETRY_MAX_MS; i++)
        wait_ms *= 2;
    if (wait_ms > LINK_SUB_RETRY_MAX_MS)
        wait_ms = LINK_SUB_RETRY_MAX_MS;
    s->retry_ms = now_ms + wait_ms;
    if (s->refusals++ == 0)
        p4_error("%s broker refused the subscription topic=%s account=%s code=0x%02x: its "
                 "ACL does not let this account subscribe, so nothing on that topic reaches "
                 "the gateway; asking again every %d-%d s", side, s->filter, l->account, code,
                 LINK_SUB_RETRY_MIN_MS / 1000, LINK_SUB_RETRY_MAX_MS / 1000);
    else
        p4_debug("%s broker refused the subscription again topic=%s code=0x%02x "
                 "refusals=%d retry_in_ms=%" PRId64, side, s->filter, code, s->refusals,
                 wait_ms);
}

void link_sub_tick(struct link *l, int64_t now_ms)
{
    if (!link_connected(l))
        return;
    for (int i = 0; i < l->n_subs; i++) {
        struct link_sub *s = &l->subs[i];

        if (s->token == 0 && s->retry_ms && now_ms >= s->retry_ms)
            sub_send(l, s);
    }
}

int link_subs_refused(const struct link *l)
{
    int n = 0;

    for (int i = 0; i < l->n_subs; i++)
        n += l->subs[i].state == SUB_REFUSED;
    return n;
}

uint64_t link_refused(const struct link *l)
{
    return l->refused;
}

bool link_connected(struct link *l)
{
    return l->client && MQTTAsync_isConnected(l->client);
}

void link_stop(struct link *l, int timeout_ms)
{
    if (l->cloud)
        tls_diag_stop();
    if (l->client) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        int64_t deadline = p4_mono_ms() + timeout_ms + 1000;

        d.timeout = timeout_ms;
        if (MQTTAsync_isConnected(l->client) &&
            MQTTAsync_disconnect(l->client, &d) == MQTTASYNC_SUCCESS) {
            /* Wait for the flush and the DISCONNECT packet, bounded. */
            while (MQTTAsync_isConnected(l->client) && p4_mono_ms() < deadline) {
                struct timespec ts = {0, 10 * 1000 * 1000};

                nanosleep(&ts, NULL);
            }
        }
        MQTTAsync_destroy(&l->client);
        l->client = NULL;
    }
    free(l->will_payload);
    l->will_payload = NULL;
    p4_memzero(l->password, sizeof(l->password));
}
