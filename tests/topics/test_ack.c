/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the ack codec: ok, duplicate and rejected acks, fixtures and encoder checks. */
#include "check.h"

static int ack_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    struct p4t_ack ack;
    int rc = p4t_ack_decode(buf, len, &ack, reason, reason_len);

    *text = NULL;
    if (rc)
        return rc;
    return p4t_ack_encode(&ack, text);
}

static void test_values(void)
{
    struct p4t_ack ack;
    char reason[P4T_REASON_MAX], *buf, *text = NULL;
    size_t len;

    buf = fixture_read("ack_rejected.json", &len);
    ASSERT_INT_EQ(p4t_ack_decode(buf, len, &ack, reason, sizeof reason), 0);
    ASSERT_INT_EQ(ack.status, P4T_ACK_REJECTED);
    ASSERT_INT_EQ(ack.gw_seq, 0);
    ASSERT_INT_EQ(ack.seq, 42);
    ASSERT_STR_EQ(ack.reason, "total: is 2000 but the lines sum to 1927");
    free(buf);

    buf = fixture_read("ack_minimal.json", &len);
    ASSERT_INT_EQ(p4t_ack_decode(buf, len, &ack, reason, sizeof reason), 0);
    ASSERT_INT_EQ(ack.status, P4T_ACK_OK);
    ASSERT_INT_EQ(ack.gw_seq, 5);
    ASSERT_INT_EQ(ack.seq, 0);
    free(buf);

    /* What the gateway sends for a payload it could not read at all. */
    memset(&ack, 0, sizeof ack);
    ack.status = P4T_ACK_REJECTED;
    snprintf(ack.reason, sizeof ack.reason, "payload: not valid JSON (near byte 3)");
    ASSERT_INT_EQ(p4t_ack_encode(&ack, &text), 0);
    ASSERT_STR_EQ(text, "{\"id\":\"\",\"status\":\"rejected\",\"gw_seq\":0,\"seq\":0,"
                        "\"reason\":\"payload: not valid JSON (near byte 3)\"}");
    free(text);
    /* A reason from a bad key name is still printable ASCII, so it can always be acked. */
    {
        static struct p4t_sale sale;
        const char *bad_key = "{\"\\u0007\xff\":1}";
        ASSERT_INT_EQ(p4t_sale_decode(bad_key, strlen(bad_key), &sale, ack.reason,
                                      sizeof ack.reason), P4T_EINVAL);
    }
    ASSERT_STR_EQ(ack.reason, "??: unknown field");
    ASSERT_INT_EQ(p4t_ack_encode(&ack, &text), 0);
    free(text);

    /* The encoder refuses what the decoder would refuse. */
    ack.reason[0] = '\0';
    ASSERT_INT_EQ(p4t_ack_encode(&ack, &text), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);
    memset(&ack, 0, sizeof ack);
    ack.status = P4T_ACK_OK;
    snprintf(ack.id, sizeof ack.id, "0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d");
    ASSERT_INT_EQ(p4t_ack_encode(&ack, &text), P4T_EINVAL); /* gw_seq 0 */
    ack.gw_seq = 3;
    ack.seq = 9;
    ASSERT_INT_EQ(p4t_ack_encode(&ack, &text), 0);
    ASSERT_STR_EQ(text, "{\"id\":\"0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d\",\"status\":\"ok\","
                        "\"gw_seq\":3,\"seq\":9}");
    free(text);
    ack.status = (enum p4t_ack_status)5;
    ASSERT_INT_EQ(p4t_ack_encode(&ack, &text), P4T_EINVAL);
}

int main(void)
{
    ASSERT_TRUE(run_cases("ack", ack_rt) >= 15);
    test_values();
    return check_done("test_ack");
}
