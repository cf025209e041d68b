/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of ids, timestamps and the topic builders/parsers of the v1 contract. */
#include "check.h"

static void test_ids(void)
{
    char id32[40], id33[40];

    memset(id32, 'a', 32);
    id32[32] = '\0';
    memset(id33, 'a', 33);
    id33[33] = '\0';
    ASSERT_TRUE(p4t_id_valid("acme"));
    ASSERT_TRUE(p4t_id_valid("s001"));
    ASSERT_TRUE(p4t_id_valid("0"));
    ASSERT_TRUE(p4t_id_valid("reg_1-b"));
    ASSERT_TRUE(p4t_id_valid(id32));
    ASSERT_TRUE(!p4t_id_valid(id33));
    ASSERT_TRUE(!p4t_id_valid(""));
    ASSERT_TRUE(!p4t_id_valid(NULL));
    ASSERT_TRUE(!p4t_id_valid("_all"));
    ASSERT_TRUE(!p4t_id_valid("-a"));
    ASSERT_TRUE(!p4t_id_valid("S001"));
    ASSERT_TRUE(!p4t_id_valid("s 1"));
    ASSERT_TRUE(!p4t_id_valid("s/1"));
    ASSERT_TRUE(!p4t_id_valid("+"));
    ASSERT_TRUE(!p4t_id_valid("#"));
    ASSERT_TRUE(!p4t_id_valid("s+"));
    ASSERT_TRUE(!p4t_id_valid("caf\xc3\xa9"));
    ASSERT_TRUE(p4t_store_id_valid("s001"));
    ASSERT_TRUE(!p4t_store_id_valid("_all"));
    ASSERT_TRUE(!p4t_store_id_valid(""));

    ASSERT_TRUE(p4t_uuid_valid("0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d"));
    ASSERT_TRUE(p4t_uuid_valid("00000000-0000-0000-0000-000000000000"));
    ASSERT_TRUE(!p4t_uuid_valid("0190A5C4-6E1F-7B2A-9C3D-4E5F6A7B8C9D"));
    ASSERT_TRUE(!p4t_uuid_valid("0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9"));
    ASSERT_TRUE(!p4t_uuid_valid("0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9dd"));
    ASSERT_TRUE(!p4t_uuid_valid("0190a5c46e1f-7b2a-9c3d-4e5f6a7b8c9d0"));
    ASSERT_TRUE(!p4t_uuid_valid("{190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d"));
    ASSERT_TRUE(!p4t_uuid_valid("0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9g"));
    ASSERT_TRUE(!p4t_uuid_valid(NULL));
}

static void test_ts(void)
{
    int64_t ms;

    ASSERT_INT_EQ(p4t_ts_parse("1970-01-01T00:00:00.000Z", &ms), 0);
    ASSERT_INT_EQ(ms, 0);
    ASSERT_INT_EQ(p4t_ts_parse("2026-11-27T12:00:00.123Z", &ms), 0);
    ASSERT_INT_EQ(ms, 1795780800123LL);
    ASSERT_INT_EQ(p4t_ts_parse("2000-02-29T00:00:00.000Z", &ms), 0);
    ASSERT_INT_EQ(p4t_ts_parse("9999-12-31T23:59:59.999Z", &ms), 0);
    ASSERT_INT_EQ(ms, 253402300799999LL);
    ASSERT_INT_EQ(p4t_ts_parse("1900-02-29T00:00:00.000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2100-02-29T00:00:00.000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("1969-12-31T23:59:59.999Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2026-04-31T00:00:00.000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2026-13-01T00:00:00.000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2026-00-01T00:00:00.000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2026-01-00T00:00:00.000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2026-01-01T00:60:00.000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2026-01-01T00:00:00.000", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2026-01-01T00:00:00.0000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2026-01-01T00:00:00,000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("2026-01-01T0a:00:00.000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("+026-01-01T00:00:00.000Z", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse("", &ms), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_ts_parse(NULL, &ms), P4T_EINVAL);
}

static void test_local_build(void)
{
    char t[P4T_TOPIC_MAX + 1], small[16];

    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_SALE, "s001", "r01"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/reg/r01/sale");
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_ACK, "s001", "r01"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/reg/r01/ack");
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_SYNC, "s001", "r01"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/reg/r01/sync");
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_SYNC_REPLY, "s001", "r01"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/reg/r01/sync/reply");
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_CHANGES, "s001", NULL), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/changes");
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_ALERT, "s001", "ignored"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/alert");
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_STATUS, "s001", NULL), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/gateway/status");

    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_SALE, "s001", NULL), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_SALE, "s001", "+"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_SALE, "s001", "#"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_SALE, "s001", "r/1"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_SALE, "_all", "r01"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_SALE, "", "r01"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, (enum p4t_local)99, "s001", "r01"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local(small, sizeof small, P4T_L_SALE, "s001", "r01"), P4T_ETOOBIG);
    ASSERT_STR_EQ(small, "");
    /* Exactly fitting: 24 characters and the NUL. */
    ASSERT_INT_EQ(p4t_topic_local(t, 25, P4T_L_SALE, "s001", "r01"), 0);
    ASSERT_INT_EQ(p4t_topic_local(t, 24, P4T_L_SALE, "s001", "r01"), P4T_ETOOBIG);

    ASSERT_INT_EQ(p4t_topic_local_filter(t, sizeof t, P4T_L_SALE, "s001"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/reg/+/sale");
    ASSERT_INT_EQ(p4t_topic_local_filter(t, sizeof t, P4T_L_SYNC, "s001"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/reg/+/sync");
    ASSERT_INT_EQ(p4t_topic_local_filter(t, sizeof t, P4T_L_ACK, "s001"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local_filter(t, sizeof t, P4T_L_SALE, "S1"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local_filter(small, sizeof small, P4T_L_SALE, "s001"), P4T_ETOOBIG);
}

static void expect_local(const char *topic, enum p4t_local want_kind, const char *want_store,
                         const char *want_reg)
{
    enum p4t_local kind = (enum p4t_local)-1;
    char store[P4T_ID_MAX + 1] = "x", reg[P4T_ID_MAX + 1] = "x";
    char t[P4T_TOPIC_MAX + 1];

    ASSERT_INT_EQ(p4t_topic_parse_local(topic, &kind, store, reg), 0);
    ASSERT_INT_EQ(kind, want_kind);
    ASSERT_STR_EQ(store, want_store);
    ASSERT_STR_EQ(reg, want_reg);
    /* Parse and build are inverses. */
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, kind, store, reg), 0);
    ASSERT_STR_EQ(t, topic);
}

static void test_local_parse(void)
{
    static const char *const bad[] = {
        "",
        "pos",
        "pos/v1",
        "pos/v1/s001",
        "pos/v2/s001/changes",
        "POS/v1/s001/changes",
        "p4/v1/s001/changes",
        "pos/v1/s001/changes/",
        "/pos/v1/s001/changes",
        "pos/v1//changes",
        "pos/v1/s001//changes",
        "pos/v1/s001/reg/r01/sale/",
        "pos/v1/s001/reg/r01/sale/x",
        "pos/v1/s001/reg/r01",
        "pos/v1/s001/reg//sale",
        "pos/v1/s001/reg/+/sale",
        "pos/v1/s001/reg/#",
        "pos/v1/+/reg/r01/sale",
        "pos/v1/_all/changes",
        "pos/v1/S001/changes",
        "pos/v1/s001/reg/R01/sale",
        "pos/v1/s001/reg/r01/refund",
        "pos/v1/s001/reg/r01/sync/replies",
        "pos/v1/s001/reg/r01/changes",
        "pos/v1/s001/gateway",
        "pos/v1/s001/gateway/state",
        "pos/v1/s001/sale",
        "pos/v1/s001/status",
        "pos/v1/s001/reg/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/sale",
        "pos/v1/s001/a/b/c/d/e/f/g/h/i",
    };
    enum p4t_local kind;
    char store[P4T_ID_MAX + 1], reg[P4T_ID_MAX + 1], longt[400];
    size_t i;

    expect_local("pos/v1/s001/reg/r01/sale", P4T_L_SALE, "s001", "r01");
    expect_local("pos/v1/s001/reg/r01/ack", P4T_L_ACK, "s001", "r01");
    expect_local("pos/v1/s001/reg/r01/sync", P4T_L_SYNC, "s001", "r01");
    expect_local("pos/v1/s001/reg/r01/sync/reply", P4T_L_SYNC_REPLY, "s001", "r01");
    expect_local("pos/v1/s001/changes", P4T_L_CHANGES, "s001", "");
    expect_local("pos/v1/s001/alert", P4T_L_ALERT, "s001", "");
    expect_local("pos/v1/s001/gateway/status", P4T_L_STATUS, "s001", "");
    expect_local("pos/v1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/reg/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/"
                 "sync/reply",
                 P4T_L_SYNC_REPLY, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (p4t_topic_parse_local(bad[i], &kind, store, reg) != P4T_EINVAL)
            CHECK_FAIL("accepted local topic \"%s\"", bad[i]);
        check_count++;
    }
    memset(longt, 'a', sizeof longt - 1);
    longt[sizeof longt - 1] = '\0';
    memcpy(longt, "pos/v1/", 7);
    ASSERT_INT_EQ(p4t_topic_parse_local(longt, &kind, store, reg), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_parse_local(NULL, &kind, store, reg), P4T_EINVAL);
}

static void test_cloud(void)
{
    static const char *const bad[] = {
        "p4/v1/acme/s001/up",
        "p4/v1/acme/s001/up/sale/",
        "p4/v1/acme/s001/up/sale/x",
        "p4/v1/acme/s001/sideways/sale",
        "p4/v2/acme/s001/up/sale",
        "pos/v1/acme/s001/up/sale",
        "p4/v1/acme/_all/up/sale",
        "p4/v1/_all/s001/down/price",
        "p4/v1/acme/+/up/sale",
        "p4/v1/acme/s001/up/+",
        "p4/v1/acme/s001/up/#",
        "p4/v1/acme/s001/down/Price",
        "p4/v1/acme/s001/down/price-list",
        "p4/v1/acme/s001/down/aaaaaaaaaaaaaaaaa",
        "p4/v1/acme//up/sale",
        "p4/v1/Acme/s001/up/sale",
        "$share/hq-sales/p4/v1/acme/+/up/sale",
        "",
    };
    char t[P4T_TOPIC_MAX + 1], tenant[P4T_ID_MAX + 1], store[P4T_ID_MAX + 1];
    char kind[P4T_KIND_MAX + 1];
    bool up = false;
    size_t i;

    ASSERT_INT_EQ(p4t_topic_up(t, sizeof t, "acme", "s001", "sale"), 0);
    ASSERT_STR_EQ(t, "p4/v1/acme/s001/up/sale");
    ASSERT_INT_EQ(p4t_topic_up(t, sizeof t, "acme", "s001", "resync"), 0);
    ASSERT_STR_EQ(t, "p4/v1/acme/s001/up/resync");
    ASSERT_INT_EQ(p4t_topic_up(t, sizeof t, "acme", "_all", "sale"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_up(t, sizeof t, "acme", "s001", "+"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_up(t, sizeof t, "acme", "s001", ""), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_up(t, sizeof t, "acme", "s001", "Sale"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_up(t, sizeof t, "", "s001", "sale"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_up(t, 10, "acme", "s001", "sale"), P4T_ETOOBIG);
    ASSERT_INT_EQ(p4t_topic_down(t, sizeof t, "acme", "s001", "price"), 0);
    ASSERT_STR_EQ(t, "p4/v1/acme/s001/down/price");
    ASSERT_INT_EQ(p4t_topic_down(t, sizeof t, "acme", "_all", "stock"), 0);
    ASSERT_STR_EQ(t, "p4/v1/acme/_all/down/stock");
    ASSERT_INT_EQ(p4t_topic_down(t, sizeof t, "acme", "_all", "+"), 0);
    ASSERT_STR_EQ(t, "p4/v1/acme/_all/down/+");
    ASSERT_INT_EQ(p4t_topic_down(t, sizeof t, "acme", "s001", "#"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_down(t, sizeof t, "acme", "+", "price"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_down(t, sizeof t, "acme", NULL, "price"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_down(t, sizeof t, "acme", "s001", NULL), P4T_EINVAL);

    ASSERT_INT_EQ(p4t_topic_parse_cloud("p4/v1/acme/s001/up/sale", tenant, store, &up, kind), 0);
    ASSERT_STR_EQ(tenant, "acme");
    ASSERT_STR_EQ(store, "s001");
    ASSERT_TRUE(up);
    ASSERT_STR_EQ(kind, "sale");
    ASSERT_INT_EQ(p4t_topic_parse_cloud("p4/v1/acme/_all/down/price", tenant, store, &up, kind),
                  0);
    ASSERT_STR_EQ(store, "_all");
    ASSERT_TRUE(!up);
    ASSERT_STR_EQ(kind, "price");
    ASSERT_INT_EQ(p4t_topic_parse_cloud("p4/v1/acme/s001/down/loyalty", tenant, store, &up,
                                        kind), 0);
    ASSERT_STR_EQ(store, "s001");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (p4t_topic_parse_cloud(bad[i], tenant, store, &up, kind) != P4T_EINVAL)
            CHECK_FAIL("accepted cloud topic \"%s\"", bad[i]);
        check_count++;
    }
}

int main(void)
{
    test_ids();
    test_ts();
    test_local_build();
    test_local_parse();
    test_cloud();
    return check_done("test_topic");
}
