/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the customer lookup codec (revision 1.2). */
#include "check.h"

int main(void)
{
    static struct p4t_lookup l, back;
    char reason[P4T_REASON_MAX], *text = NULL;
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"req_id\":\"r1\",\"customers\":[]}", "customers: must have at least one"},
        {"{\"req_id\":\"r1\",\"customers\":[\"C-1\",\"C-1\"]}", "customers[1]: \"C-1\" is listed"},
        {"{\"req_id\":\"r1\",\"customers\":[\"a b\"]}", "customers[0]:"},
        {"{\"req_id\":\"r1\",\"customers\":[1]}", "customers[0]: must be a string"},
        {"{\"req_id\":\"r1\"}", "customers: missing"},
        {"{\"customers\":[\"C-1\"]}", "req_id: missing"},
        {"{\"req_id\":\"r1\",\"customers\":[\"C-1\"],\"store\":\"s1\"}", "store: unknown field"},
    };

    snprintf(l.req_id, sizeof l.req_id, "gw-s001-7");
    l.n_customers = 2;
    snprintf(l.customers[0], sizeof l.customers[0], "C-1234");
    snprintf(l.customers[1], sizeof l.customers[1], "C-9");
    ASSERT_INT_EQ(p4t_lookup_encode(&l, &text), 0);
    ASSERT_STR_EQ(text, "{\"req_id\":\"gw-s001-7\",\"customers\":[\"C-1234\",\"C-9\"]}");
    ASSERT_INT_EQ(p4t_lookup_decode(text, strlen(text), &back, reason, sizeof reason), 0);
    ASSERT_INT_EQ(back.n_customers, 2);
    ASSERT_STR_EQ(back.customers[1], "C-9");
    free(text);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_INT_EQ(p4t_lookup_decode(bad[i].json, strlen(bad[i].json), &back, reason,
                                        sizeof reason),
                      P4T_EINVAL);
        ASSERT_CONTAINS(reason, bad[i].why);
        ASSERT_INT_EQ(back.n_customers, 0);
    }
    l.n_customers = P4T_LOOKUP_MAX + 1;
    ASSERT_INT_EQ(p4t_lookup_encode(&l, &text), P4T_EINVAL);
    l.n_customers = 1;
    l.customers[0][0] = '\0';
    ASSERT_INT_EQ(p4t_lookup_encode(&l, &text), P4T_EINVAL);
    {
        /* The register's topics of revision 1.2: lookup, sign-up and its ack. */
        char t[P4T_TOPIC_MAX + 1], store[P4T_ID_MAX + 1], reg[P4T_ID_MAX + 1];
        enum p4t_local kind;

        ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_LOOKUP, "s001", "r01"), 0);
        ASSERT_STR_EQ(t, "pos/v1/s001/reg/r01/lookup");
        ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_CUSTOMER_ACK, "s001", "r01"), 0);
        ASSERT_STR_EQ(t, "pos/v1/s001/reg/r01/customer/ack");
        ASSERT_INT_EQ(p4t_topic_local_filter(t, sizeof t, P4T_L_LOOKUP, "s001"), 0);
        ASSERT_STR_EQ(t, "pos/v1/s001/reg/+/lookup");
        ASSERT_INT_EQ(p4t_topic_local_filter(t, sizeof t, P4T_L_CUSTOMER, "s001"), 0);
        ASSERT_STR_EQ(t, "pos/v1/s001/reg/+/customer");
        ASSERT_INT_EQ(p4t_topic_local_filter(t, sizeof t, P4T_L_CUSTOMER_ACK, "s001"),
                      P4T_EINVAL);
        ASSERT_INT_EQ(p4t_topic_parse_local("pos/v1/s001/reg/r07/customer", &kind, store, reg),
                      0);
        ASSERT_INT_EQ(kind, P4T_L_CUSTOMER);
        ASSERT_INT_EQ(p4t_topic_parse_local("pos/v1/s001/reg/r07/customer/ack", &kind, store,
                                            reg),
                      0);
        ASSERT_INT_EQ(kind, P4T_L_CUSTOMER_ACK);
        ASSERT_INT_EQ(p4t_topic_parse_local("pos/v1/s001/reg/r07/lookup", &kind, store, reg), 0);
        ASSERT_INT_EQ(kind, P4T_L_LOOKUP);
        ASSERT_STR_EQ(reg, "r07");
    }
    return check_done("test_lookup");
}
