/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway's retained status payload and staff alerts. */
#include "p4gw.h"

#include <stdio.h>
#include <string.h>

#include "p4common.h"

int status_encode(const char *state, int64_t outbox, int64_t delivered, char **out)
{
    struct p4t_status s = {.outbox = outbox, .delivered = delivered};

    snprintf(s.state, sizeof(s.state), "%s", state);
    p4_format_ts(p4_now_ms(), s.ts);
    return p4t_status_encode(&s, out) == 0 ? P4GW_OK : P4GW_EINVAL;
}

int status_alert_encode(const char *store, const char *kind, const char *severity,
                        const char *message, const char *sku, const char *sale_id, char **out)
{
    struct p4t_alert a;

    memset(&a, 0, sizeof(a));
    if (p4_uuid7(a.id) != 0)
        return P4GW_EIO;
    snprintf(a.kind, sizeof(a.kind), "%s", kind);
    snprintf(a.severity, sizeof(a.severity), "%s", severity);
    p4_format_ts(p4_now_ms(), a.ts);
    snprintf(a.store, sizeof(a.store), "%s", store);
    snprintf(a.message, sizeof(a.message), "%s", message);
    if (sku)
        snprintf(a.sku, sizeof(a.sku), "%s", sku);
    if (sale_id && sale_id[0]) {
        snprintf(a.sales[0], sizeof(a.sales[0]), "%s", sale_id);
        a.n_sales = 1;
    }
    return p4t_alert_encode(&a, out) == 0 ? P4GW_OK : P4GW_EINVAL;
}
