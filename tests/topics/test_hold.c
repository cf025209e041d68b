/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of holds (request, release, reply, topics, the sale's hold field) and alert ids. */
#include "check.h"

static struct p4t_hold_req req;
static struct p4t_hold_reply reply;
static struct p4t_sale sale;

static int req_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    int rc = p4t_hold_req_decode(buf, len, &req, reason, reason_len);

    *text = NULL;
    return rc ? rc : p4t_hold_req_encode(&req, text);
}

static int reply_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    int rc = p4t_hold_reply_decode(buf, len, &reply, reason, reason_len);

    *text = NULL;
    return rc ? rc : p4t_hold_reply_encode(&reply, text);
}

static void test_codec(void)
{
    char reason[P4T_REASON_MAX], *buf, *text = NULL;
    size_t len;

    ASSERT_TRUE(run_cases("hold_req", req_rt) >= 20);
    ASSERT_TRUE(run_cases("hold_reply", reply_rt) >= 9);

    buf = fixture_read("hold_req.json", &len);
    ASSERT_INT_EQ(p4t_hold_req_decode(buf, len, &req, reason, sizeof reason), 0);
    ASSERT_STR_EQ(req.req_id, "r01-h1");
    ASSERT_STR_EQ(req.hold, "0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d");
    ASSERT_TRUE(!req.release);
    ASSERT_INT_EQ(req.ttl_ms, 120000);
    ASSERT_INT_EQ(req.n_lines, 2);
    ASSERT_STR_EQ(req.lines[1].sku, "milk-1l");
    ASSERT_INT_EQ(req.lines[1].qty, 1);
    free(buf);

    buf = fixture_read("hold_release.json", &len);
    ASSERT_INT_EQ(p4t_hold_req_decode(buf, len, &req, reason, sizeof reason), 0);
    ASSERT_TRUE(req.release);
    ASSERT_INT_EQ(req.n_lines, 0);
    free(buf);

    buf = fixture_read("hold_reply.json", &len);
    ASSERT_INT_EQ(p4t_hold_reply_decode(buf, len, &reply, reason, sizeof reason), 0);
    ASSERT_INT_EQ(reply.n_granted, 2);
    ASSERT_INT_EQ(reply.granted[1].qty, 0);
    ASSERT_INT_EQ(reply.expires_ms, 1795780920000LL);
    ASSERT_STR_EQ(reply.reason, "milk-1l: 0 of 1 available");
    free(buf);

    /* The gateway's reply, built from a struct. */
    memset(&reply, 0, sizeof reply);
    snprintf(reply.req_id, sizeof reply.req_id, "r01-h9");
    snprintf(reply.hold, sizeof reply.hold, "h-9");
    reply.n_granted = 1;
    snprintf(reply.granted[0].sku, sizeof reply.granted[0].sku, "eggs");
    reply.granted[0].qty = 6;
    reply.expires_ms = 1795780800000LL;
    ASSERT_INT_EQ(p4t_hold_reply_encode(&reply, &text), 0);
    ASSERT_STR_EQ(text, "{\"req_id\":\"r01-h9\",\"hold\":\"h-9\",\"granted\":[{\"sku\":\"eggs\","
                        "\"qty\":6}],\"expires\":\"2026-11-27T12:00:00.000Z\"}");
    free(text);
    reply.n_granted = P4T_MAX_LINES + 1;
    ASSERT_INT_EQ(p4t_hold_reply_encode(&reply, &text), P4T_EINVAL);
    reply.n_granted = 1;
    reply.expires_ms = -1;
    ASSERT_INT_EQ(p4t_hold_reply_encode(&reply, &text), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);

    /* A register's request and release. */
    memset(&req, 0, sizeof req);
    snprintf(req.req_id, sizeof req.req_id, "r01-1");
    snprintf(req.hold, sizeof req.hold, "h-1");
    req.ttl_ms = 30000;
    req.n_lines = 1;
    snprintf(req.lines[0].sku, sizeof req.lines[0].sku, "eggs");
    req.lines[0].qty = 2;
    ASSERT_INT_EQ(p4t_hold_req_encode(&req, &text), 0);
    ASSERT_STR_EQ(text, "{\"req_id\":\"r01-1\",\"hold\":\"h-1\",\"lines\":[{\"sku\":\"eggs\","
                        "\"qty\":2}],\"ttl_ms\":30000}");
    free(text);
    req.release = true;
    ASSERT_INT_EQ(p4t_hold_req_encode(&req, &text), 0);
    ASSERT_STR_EQ(text, "{\"req_id\":\"r01-1\",\"hold\":\"h-1\",\"release\":true}");
    free(text);
    req.release = false;
    req.ttl_ms = 999;
    ASSERT_INT_EQ(p4t_hold_req_encode(&req, &text), P4T_EINVAL);
    req.ttl_ms = 1000;
    req.n_lines = 0;
    ASSERT_INT_EQ(p4t_hold_req_encode(&req, &text), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);
}

static void test_topics(void)
{
    char t[P4T_TOPIC_MAX + 1], store[P4T_ID_MAX + 1], reg[P4T_ID_MAX + 1];
    enum p4t_local kind;

    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_HOLD, "s001", "r01"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/reg/r01/hold");
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_HOLD_REPLY, "s001", "r01"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/reg/r01/hold/reply");
    ASSERT_INT_EQ(p4t_topic_local(t, sizeof t, P4T_L_HOLD, "s001", NULL), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_local_filter(t, sizeof t, P4T_L_HOLD, "s001"), 0);
    ASSERT_STR_EQ(t, "pos/v1/s001/reg/+/hold");
    ASSERT_INT_EQ(p4t_topic_local_filter(t, sizeof t, P4T_L_HOLD_REPLY, "s001"), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_parse_local("pos/v1/s001/reg/r07/hold", &kind, store, reg), 0);
    ASSERT_INT_EQ(kind, P4T_L_HOLD);
    ASSERT_STR_EQ(reg, "r07");
    ASSERT_INT_EQ(p4t_topic_parse_local("pos/v1/s001/reg/r07/hold/reply", &kind, store, reg), 0);
    ASSERT_INT_EQ(kind, P4T_L_HOLD_REPLY);
    ASSERT_INT_EQ(p4t_topic_parse_local("pos/v1/s001/hold", &kind, store, reg), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_topic_parse_local("pos/v1/s001/reg/r07/hold/x", &kind, store, reg),
                  P4T_EINVAL);
    /* The resync uplink and the downlink kinds. */
    ASSERT_INT_EQ(p4t_topic_up(t, sizeof t, "acme", "s001", "resync"), 0);
    ASSERT_STR_EQ(t, "p4/v1/acme/s001/up/resync");
    ASSERT_INT_EQ(p4t_topic_down(t, sizeof t, "acme", "_all", "price"), 0);
    ASSERT_STR_EQ(t, "p4/v1/acme/_all/down/price");
}

static void test_sale_hold(void)
{
    char reason[P4T_REASON_MAX], *buf, *text = NULL;
    size_t len;

    buf = fixture_read("sale_hold.json", &len);
    ASSERT_INT_EQ(p4t_sale_decode(buf, len, &sale, reason, sizeof reason), 0);
    ASSERT_STR_EQ(sale.hold, "0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d");
    /* The uplink record keeps it, so HQ sees which hold a sale consumed. */
    ASSERT_INT_EQ(p4t_sale_record_encode(&sale, 5, NULL, &text), 0);
    ASSERT_CONTAINS(text, "\"hold\":\"0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d\",\"gw_seq\":5");
    free(text);
    free(buf);
    /* A sale without a hold is encoded exactly as in v1. */
    buf = fixture_read("sale_basic.json", &len);
    ASSERT_INT_EQ(p4t_sale_decode(buf, len, &sale, reason, sizeof reason), 0);
    ASSERT_STR_EQ(sale.hold, "");
    ASSERT_INT_EQ(p4t_sale_encode(&sale, &text, reason, sizeof reason), 0);
    ASSERT_STR_EQ(text, buf);
    free(text);
    free(buf);
}

static void test_alert_id(void)
{
    char a[P4T_UUID_MAX + 1], b[P4T_UUID_MAX + 1], c[P4T_UUID_MAX + 1];
    const char *key = "coffee-250g/0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d";

    ASSERT_INT_EQ(p4t_alert_id("oversell", "s001", key, a), 0);
    ASSERT_TRUE(p4t_uuid_valid(a));
    ASSERT_TRUE(a[14] == '8');                  /* version 8 */
    ASSERT_TRUE(strchr("89ab", a[19]) != NULL); /* RFC 9562 variant */
    /* The same condition gives the same id; another one does not. */
    ASSERT_INT_EQ(p4t_alert_id("oversell", "s001", key, b), 0);
    ASSERT_STR_EQ(a, b);
    ASSERT_INT_EQ(p4t_alert_id("oversell", "s002", key, c), 0);
    ASSERT_TRUE(strcmp(a, c) != 0);
    ASSERT_INT_EQ(p4t_alert_id("oversel", "ls001", key, c), 0);
    ASSERT_TRUE(strcmp(a, c) != 0);
    ASSERT_INT_EQ(p4t_alert_id("outbox_cap", "s001", "", c), 0);
    ASSERT_TRUE(p4t_uuid_valid(c));
    ASSERT_INT_EQ(p4t_alert_id(NULL, "s001", "", c), P4T_EINVAL);
    ASSERT_STR_EQ(c, "");
}

int main(void)
{
    test_codec();
    test_topics();
    test_sale_hold();
    test_alert_id();
    return check_done("test_hold");
}
