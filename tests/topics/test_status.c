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

    /* Revision 1.2: hq_through is optional, written only when set, and round-trips. */
    snprintf(s.state, sizeof s.state, "online");
    s.has_hq_through = true;
    s.hq_through = 4;
    ASSERT_INT_EQ(p4t_status_encode(&s, &text), 0);
    ASSERT_STR_EQ(text, "{\"state\":\"online\",\"outbox\":2,\"delivered\":5,"
                        "\"hq_through\":4,\"ts\":\"2026-11-27T12:00:00.000Z\"}");
    memset(&s, 0, sizeof s);
    ASSERT_INT_EQ(p4t_status_decode(text, strlen(text), &s, reason, sizeof reason), 0);
    ASSERT_TRUE(s.has_hq_through);
    ASSERT_INT_EQ(s.hq_through, 4);
    free(text);
    /* ... and so is the replica's epoch, a register's sign of a replaced gateway. */
    s.epoch = 1764000000123;
    ASSERT_INT_EQ(p4t_status_encode(&s, &text), 0);
    ASSERT_CONTAINS(text, "\"hq_through\":4,\"epoch\":1764000000123,\"ts\"");
    memset(&s, 0, sizeof s);
    ASSERT_INT_EQ(p4t_status_decode(text, strlen(text), &s, reason, sizeof reason), 0);
    ASSERT_INT_EQ(s.epoch, 1764000000123);
    free(text);
    {
        static const char neg[] = "{\"state\":\"online\",\"outbox\":0,\"delivered\":0,"
                                  "\"hq_through\":-1,\"ts\":\"2026-11-27T12:00:00.000Z\"}";
        ASSERT_INT_EQ(p4t_status_decode(neg, strlen(neg), &s, reason, sizeof reason),
                      P4T_EINVAL);
    }
    ASSERT_CONTAINS(reason, "hq_through");

    /* down/ack: HQ's committed watermark. */
    {
        struct p4t_hq_ack a = {.store = "s001", .through = 1234, .ts = "2026-11-27T12:00:00.000Z"};
        struct p4t_hq_ack back;
        static const char *const bad[] = {
            "{\"store\":\"s001\",\"through\":-1,\"ts\":\"2026-11-27T12:00:00.000Z\"}",
            "{\"store\":\"_all\",\"through\":1,\"ts\":\"2026-11-27T12:00:00.000Z\"}",
            "{\"store\":\"s001\",\"through\":1}",
            "{\"store\":\"s001\",\"through\":1.5,\"ts\":\"2026-11-27T12:00:00.000Z\"}",
            "{\"store\":\"s001\",\"through\":1,\"ts\":\"2026-11-27T12:00:00.000Z\",\"x\":1}",
        };
        ASSERT_INT_EQ(p4t_hq_ack_encode(&a, &text), 0);
        ASSERT_STR_EQ(text, "{\"store\":\"s001\",\"through\":1234,"
                            "\"ts\":\"2026-11-27T12:00:00.000Z\"}");
        ASSERT_INT_EQ(p4t_hq_ack_decode(text, strlen(text), &back, reason, sizeof reason), 0);
        ASSERT_INT_EQ(back.through, 1234);
        ASSERT_STR_EQ(back.store, "s001");
        free(text);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            ASSERT_INT_EQ(p4t_hq_ack_decode(bad[i], strlen(bad[i]), &back, reason, sizeof reason),
                          P4T_EINVAL);
        /* The optional fields a replaced gateway continues numbering from (1.2). */
        a.has_max_gw_seq = true;
        a.max_gw_seq = 1300;
        snprintf(a.req_id, sizeof a.req_id, "gw-s001-7");
        ASSERT_INT_EQ(p4t_hq_ack_encode(&a, &text), 0);
        ASSERT_STR_EQ(text, "{\"store\":\"s001\",\"through\":1234,\"max_gw_seq\":1300,"
                            "\"req_id\":\"gw-s001-7\",\"ts\":\"2026-11-27T12:00:00.000Z\"}");
        ASSERT_INT_EQ(p4t_hq_ack_decode(text, strlen(text), &back, reason, sizeof reason), 0);
        ASSERT_TRUE(back.has_max_gw_seq);
        ASSERT_INT_EQ(back.max_gw_seq, 1300);
        ASSERT_STR_EQ(back.req_id, "gw-s001-7");
        free(text);
        a.max_gw_seq = 1000; /* below through */
        ASSERT_INT_EQ(p4t_hq_ack_encode(&a, &text), P4T_EINVAL);
        {
            static const char low[] = "{\"store\":\"s001\",\"through\":5,\"max_gw_seq\":4,"
                                      "\"ts\":\"2026-11-27T12:00:00.000Z\"}";
            ASSERT_INT_EQ(p4t_hq_ack_decode(low, strlen(low), &back, reason, sizeof reason),
                          P4T_EINVAL);
            ASSERT_CONTAINS(reason, "max_gw_seq");
        }
        a.has_max_gw_seq = false;
        a.through = -3;
        ASSERT_INT_EQ(p4t_hq_ack_encode(&a, &text), P4T_EINVAL);
    }
    return check_done("test_status");
}
