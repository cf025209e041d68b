/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway's retained status payload. */
#include "p4gw.h"

#include <stdio.h>
#include <string.h>

#include "p4common.h"

int status_encode(const char *state, int64_t outbox, int64_t delivered, int64_t hq_through,
                  int64_t epoch, const struct lanes_view *lanes, char **out)
{
    struct p4t_status s = {.outbox = outbox, .delivered = delivered, .epoch = epoch};

    if (lanes) {
        s.has_lanes = true;
        s.backlog = lanes->backlog;
        s.backlog_age_s = lanes->backlog_age_s;
        s.live = lanes->live;
    }

    if (hq_through >= 0) {
        s.has_hq_through = true;
        s.hq_through = hq_through;
    }

    snprintf(s.state, sizeof(s.state), "%s", state);
    p4_format_ts(p4_now_ms(), s.ts);
    return p4t_status_encode(&s, out) == 0 ? P4GW_OK : P4GW_EINVAL;
}
