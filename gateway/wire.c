/* SPDX-License-Identifier: Apache-2.0 */
/* Compressed payloads on the cloud link (contract revision 1.3, topics/README.md 6.10): what
 * HQ announced it reads (down/caps), uplink messages packed when the config asks for it and HQ
 * reads it, and compressed downlink inflated within the downlink limit. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"
#include "p4t_zstd.h"

/* HQ's announcement as last received. Process-wide rather than per link: a gateway has one
 * cloud link, and only the core thread (downlink_apply, outbox_fill) reads or writes it. It is
 * not persisted: the announcement is retained, and the gateway subscribes to _all/down/+ on
 * every cloud connect, so it comes again each time; until it does, uplink goes plain. */
static bool hq_reads_zstd;
static uint64_t n_packed, n_plain, bytes_json, bytes_wire;

int wire_on_caps(const char *topic, const char *payload, size_t len)
{
    struct p4t_caps caps;
    char reason[P4T_REASON_MAX] = "";
    bool was = hq_reads_zstd;

    /* A compressed or broken announcement is no announcement: plain JSON is always read. */
    if (p4t_caps_decode(payload, len, &caps, reason, sizeof reason) != 0) {
        p4_warn("HQ capabilities unreadable topic=%s reason=\"%s\": sending plain JSON", topic,
                reason);
        hq_reads_zstd = false;
        return P4GW_OK;
    }
    hq_reads_zstd = p4t_caps_has_zstd(&caps, P4T_ZSTD_DICT_ID);
    if (hq_reads_zstd != was)
        p4_info("HQ %s zstd dictionary %u", hq_reads_zstd ? "reads" : "does not read",
                P4T_ZSTD_DICT_ID);
    return P4GW_OK;
}

bool wire_hq_reads_zstd(void)
{
    return hq_reads_zstd;
}

void wire_pack(const struct p4gw_config *cfg, char **text, size_t *len)
{
    char *z = NULL;
    size_t zlen = 0;
    int rc;

    bytes_json += *len;
    if (!cfg->compress_zstd || !hq_reads_zstd) {
        n_plain++;
        bytes_wire += *len;
        return;
    }
    rc = p4t_zstd_pack(*text, *len, &z, &zlen);
    if (rc) {
        /* Plain JSON is always valid: send that rather than nothing. */
        p4_warn("zstd compression failed rc=%d bytes=%zu: sending plain JSON", rc, *len);
        n_plain++;
        bytes_wire += *len;
        return;
    }
    free(*text);
    *text = z;
    *len = zlen;
    n_packed++;
    bytes_wire += zlen;
}

void wire_stats(uint64_t *packed, uint64_t *plain, uint64_t *json_bytes, uint64_t *wire_bytes)
{
    *packed = n_packed;
    *plain = n_plain;
    *json_bytes = bytes_json;
    *wire_bytes = bytes_wire;
}

int wire_unpack_down(const char **payload, size_t *len, char **owned, char *reason,
                     size_t reason_len)
{
    size_t out_len = 0;
    int rc;

    *owned = NULL;
    if (p4t_wire_format(*payload, *len) != P4T_WIRE_ZSTD)
        return P4GW_OK;
    rc = p4t_zstd_unpack(*payload, *len, P4T_MAX_DOWN_PAYLOAD, owned, &out_len, reason,
                         reason_len);
    if (rc == P4T_ENOMEM)
        return P4GW_ENOMEM;
    if (rc)
        return P4GW_EINVAL;
    *payload = *owned;
    *len = out_len;
    return P4GW_OK;
}
