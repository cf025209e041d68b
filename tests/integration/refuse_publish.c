/* SPDX-License-Identifier: Apache-2.0 */
/* LD_PRELOAD shim that makes Paho refuse the first publishes on one topic, as it does when its
 * command queue is full (MQTTASYNC_MAX_BUFFERED_MESSAGES). P4_REFUSE_TOPIC names the topic,
 * P4_REFUSE_COUNT how many publishes on it are refused; every other call goes to Paho. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <MQTTAsync.h>

typedef int (*send_fn)(MQTTAsync, const char *, const MQTTAsync_message *,
                       MQTTAsync_responseOptions *);

static atomic_int refused;

int MQTTAsync_sendMessage(MQTTAsync handle, const char *topic, const MQTTAsync_message *msg,
                          MQTTAsync_responseOptions *response)
{
    static send_fn real;
    const char *want = getenv("P4_REFUSE_TOPIC");
    const char *count = getenv("P4_REFUSE_COUNT");

    if (!real)
        real = (send_fn)dlsym(RTLD_NEXT, "MQTTAsync_sendMessage");
    if (want && count && topic && strcmp(topic, want) == 0 &&
        atomic_fetch_add(&refused, 1) < atoi(count))
        return MQTTASYNC_MAX_BUFFERED_MESSAGES;
    return real(handle, topic, msg, response);
}
