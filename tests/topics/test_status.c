/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the gateway status codec. */
#include "check.h"

static int status_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    struct p4t_status s;
    int rc = p4t_status_decode(buf, len, &s, reason, reason_len);

    *text = NULL;
    if (rc)
        return rc;
    return p4t_status_encode(&s, text);
}

int main(void)
{
    struct p4t_status s;
    char reason[P4T_REASON_MAX], *buf, *text = NULL;
    size_t len;

    ASSERT_TRUE(run_cases("status", status_rt) >= 7);

    buf = fixture_read("status_wan_down.json", &len);
    ASSERT_INT_EQ(p4t_status_decode(buf, len, &s, reason, sizeof reason), 0);
    ASSERT_STR_EQ(s.state, "wan_down");
    ASSERT_INT_EQ(s.outbox, 318);
    ASSERT_INT_EQ(s.delivered, 1042);
    ASSERT_STR_EQ(s.ts, "2026-11-27T12:05:00.250Z");
    free(buf);

    memset(&s, 0, sizeof s);
    snprintf(s.state, sizeof s.state, "online");
    s.outbox = 2;
    s.delivered = 5;
    ASSERT_INT_EQ(p4t_status_encode(&s, &text), P4T_EINVAL); /* no ts */
    snprintf(s.ts, sizeof s.ts, "2026-11-27T12:00:00.000Z");
    ASSERT_INT_EQ(p4t_status_encode(&s, &text), 0);
    ASSERT_STR_EQ(text, "{\"state\":\"online\",\"outbox\":2,\"delivered\":5,"
                        "\"ts\":\"2026-11-27T12:00:00.000Z\"}");
    free(text);
    snprintf(s.state, sizeof s.state, "sleeping");
    ASSERT_INT_EQ(p4t_status_encode(&s, &text), P4T_EINVAL);
    memset(s.state, 'a', sizeof s.state); /* unterminated */
    ASSERT_INT_EQ(p4t_status_encode(&s, &text), P4T_EINVAL);
    return check_done("test_status");
}
