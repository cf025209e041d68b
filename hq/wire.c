/* SPDX-License-Identifier: Apache-2.0 */
/* Compressed payloads at HQ (contract revision 1.3, topics/README.md 6.10): uplink messages
 * inflated before ingest within the contract's limits, and HQ's capabilities (down/caps)
 * announced to the gateways. */
#include "p4hq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"
#include "p4t_zstd.h"

/* The inflated size an uplink message may have: its JSON limit (README 3). */
static size_t limit_for(const char *topic)
{
    const char *kind = strrchr(topic, '/');

    if (kind && strcmp(kind, "/sale") == 0)
        return P4T_MAX_BATCH_PAYLOAD;
    if (kind && strcmp(kind, "/customer") == 0)
        return P4T_MAX_DOWN_PAYLOAD;
    return P4T_MAX_PAYLOAD;
}

void wire_unpack(struct hq_msg *m)
{
    char reason[P4T_REASON_MAX] = "", *text = NULL;
    size_t text_len = 0;

    if (p4t_wire_format(m->payload, m->len) != P4T_WIRE_ZSTD)
        return;
    m->wire_len = m->orig_len;
    if (m->len < m->orig_len) {
        /* Cut at the queue (over COPY_MAX): refused for its size, like a JSON one. */
        snprintf(reason, sizeof reason, "payload: %zu bytes, over the limit of %zu",
                 m->orig_len, limit_for(m->topic));
    } else if (p4t_zstd_unpack(m->payload, m->len, limit_for(m->topic), &text, &text_len,
                               reason, sizeof reason) == P4T_OK) {
        /* The message is now the JSON it carried; the dead-letter path and every decoder see
         * nothing else. */
        m->wire_dict = p4t_zstd_frame_dict(m->payload, m->len);
        free(m->payload);
        m->payload = text;
        m->len = m->orig_len = text_len;
        return;
    }
    /* Kept compressed: the dead letter holds the bytes as they came. */
    m->refused = strdup(reason[0] ? reason : "payload: zstd frame refused");
    if (!m->refused)
        m->refused = (char *)"payload: zstd frame refused (out of memory)";
    else
        m->refused_owned = true;
}

int wire_caps_publish(struct link *l, const char *tenant)
{
    struct p4t_caps caps = {0};
    char topic[P4T_TOPIC_MAX], *text = NULL;
    int rc;

    /* Every dictionary this build reads: a gateway compresses only with one listed here. */
    caps.n_zstd = p4t_zstd_dicts(caps.zstd, P4T_CAPS_MAX_DICTS);
    p4_format_ts(p4_now_ms(), caps.ts);
    if (p4t_topic_down(topic, sizeof topic, tenant, "_all", P4T_CAPS_KIND) != 0 ||
        p4t_caps_encode(&caps, &text) != 0) {
        free(text);
        p4_error("cannot build down/caps for tenant %s", tenant);
        return P4HQ_EINVAL;
    }
    rc = link_publish(l, topic, text, strlen(text), 1, true);
    if (rc == 0)
        p4_info("capabilities announced topic=%s payload=%s", topic, text);
    free(text);
    return rc;
}
