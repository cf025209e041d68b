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
    return check_done("test_lookup");
}
