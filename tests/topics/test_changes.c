/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of change messages, sync replies and sync requests. */
#include "check.h"

static int changes_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    struct p4t_changes c;
    int rc = p4t_changes_decode(buf, len, &c, reason, reason_len);

    *text = NULL;
    if (rc)
        return rc;
    rc = p4t_changes_encode(&c, text);
    p4t_changes_cleanup(&c);
    return rc;
}

static int sync_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    struct p4t_sync_req r;
    int rc = p4t_sync_req_decode(buf, len, &r, reason, reason_len);

    *text = NULL;
    if (rc)
        return rc;
    return p4t_sync_req_encode(&r, text);
}

static void test_values(void)
{
    struct p4t_changes c;
    struct p4t_sync_req r;
    char reason[P4T_REASON_MAX], *buf;
    size_t len;

    buf = fixture_read("sync_reply_log.json", &len);
    ASSERT_INT_EQ(p4t_changes_decode(buf, len, &c, reason, sizeof reason), 0);
    ASSERT_TRUE(c.is_reply);
    ASSERT_TRUE(!c.snapshot);
    ASSERT_TRUE(c.more);
    ASSERT_STR_EQ(c.req_id, "r01-7");
    ASSERT_INT_EQ(c.from, 11);
    ASSERT_INT_EQ(c.to, 12);
    ASSERT_INT_EQ(c.head, 940);
    ASSERT_INT_EQ(c.last_sale_seq, 41);
    ASSERT_INT_EQ(c.n_items, 2);
    ASSERT_INT_EQ(c.items[0].entity, P4T_E_STOCK);
    ASSERT_STR_EQ(c.items[0].key, "bread-rye");
    ASSERT_STR_EQ(c.items[0].value_json, "{\"on_hand\":24}");
    ASSERT_INT_EQ(c.items[1].seq, 12);
    ASSERT_INT_EQ(c.items[1].entity, P4T_E_PRICE);
    ASSERT_STR_EQ(c.items[1].value_json, "{\"price\":349,\"ver\":2}");
    p4t_changes_cleanup(&c);
    p4t_changes_cleanup(&c); /* idempotent */
    free(buf);

    buf = fixture_read("changes_stock.json", &len);
    ASSERT_INT_EQ(p4t_changes_decode(buf, len, &c, reason, sizeof reason), 0);
    ASSERT_TRUE(!c.is_reply);
    ASSERT_STR_EQ(c.items[1].value_json, "{\"on_hand\":-2}");
    p4t_changes_cleanup(&c);
    free(buf);

    buf = fixture_read("sync_reply_empty.json", &len);
    ASSERT_INT_EQ(p4t_changes_decode(buf, len, &c, reason, sizeof reason), 0);
    ASSERT_INT_EQ(c.n_items, 0);
    ASSERT_TRUE(c.items == NULL);
    p4t_changes_cleanup(&c);
    free(buf);

    buf = fixture_read("sync_req.json", &len);
    ASSERT_INT_EQ(p4t_sync_req_decode(buf, len, &r, reason, sizeof reason), 0);
    ASSERT_STR_EQ(r.req_id, "r01-17");
    ASSERT_INT_EQ(r.cursor, 940);
    free(buf);

    ASSERT_STR_EQ(p4t_entity_name(P4T_E_LOYALTY), "loyalty");
    ASSERT_TRUE(p4t_entity_name((enum p4t_entity)12) == NULL);
    {
        enum p4t_entity e;
        ASSERT_INT_EQ(p4t_entity_parse("customer", &e), 0);
        ASSERT_INT_EQ(e, P4T_E_CUSTOMER);
        ASSERT_INT_EQ(p4t_entity_parse("Stock", &e), P4T_EINVAL);
        ASSERT_INT_EQ(p4t_entity_parse(NULL, &e), P4T_EINVAL);
    }
}

/* Builds a change message of N stock items from seq FROM, as the gateway would. */
static int build(size_t n, int64_t from, char **text)
{
    struct p4t_changes c;
    char value[48];
    size_t i;
    int rc;

    memset(&c, 0, sizeof c);
    c.from = from;
    c.to = from + (int64_t)n - 1;
    c.n_items = n;
    c.items = calloc(n ? n : 1, sizeof *c.items);
    for (i = 0; i < n; i++) {
        c.items[i].seq = from + (int64_t)i;
        c.items[i].entity = P4T_E_STOCK;
        snprintf(c.items[i].key, sizeof c.items[i].key, "sku-%zu", i);
        snprintf(value, sizeof value, "{\"on_hand\":%zu}", i);
        c.items[i].value_json = strdup(value);
    }
    rc = p4t_changes_encode(&c, text);
    p4t_changes_cleanup(&c);
    return rc;
}

static void test_encode(void)
{
    struct p4t_changes c, d;
    char reason[P4T_REASON_MAX], *text = NULL;

    ASSERT_INT_EQ(build(P4T_CHANGES_MAX_ITEMS, 1001, &text), 0);
    ASSERT_INT_EQ(p4t_changes_decode(text, strlen(text), &d, reason, sizeof reason), 0);
    ASSERT_INT_EQ(d.n_items, P4T_CHANGES_MAX_ITEMS);
    ASSERT_INT_EQ(d.to, 1500);
    p4t_changes_cleanup(&d);
    free(text);
    ASSERT_INT_EQ(build(P4T_CHANGES_MAX_ITEMS + 1, 1, &text), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);

    /* A sync reply chunk that is a snapshot. */
    memset(&c, 0, sizeof c);
    c.is_reply = true;
    c.snapshot = true;
    c.more = true;
    snprintf(c.req_id, sizeof c.req_id, "r01-9");
    c.from = c.to = c.head = 940;
    c.last_sale_seq = 7;
    c.n_items = 1;
    c.items = calloc(1, sizeof *c.items);
    c.items[0].seq = 940;
    c.items[0].entity = P4T_E_PRICE;
    snprintf(c.items[0].key, sizeof c.items[0].key, "milk-1l");
    c.items[0].value_json = strdup("{\"price\":129,\"ver\":1}");
    ASSERT_INT_EQ(p4t_changes_encode(&c, &text), 0);
    ASSERT_STR_EQ(text, "{\"req_id\":\"r01-9\",\"from\":940,\"to\":940,\"snapshot\":true,"
                        "\"more\":true,\"head\":940,\"last_sale_seq\":7,\"items\":[{\"seq\":940,"
                        "\"entity\":\"price\",\"key\":\"milk-1l\",\"value\":{\"price\":129,"
                        "\"ver\":1}}]}");
    free(text);
    /* Invalid input is refused by the encoder. */
    c.head = 939;
    ASSERT_INT_EQ(p4t_changes_encode(&c, &text), P4T_EINVAL);
    c.head = 940;
    free(c.items[0].value_json);
    c.items[0].value_json = strdup("{\"price\":-1,\"ver\":1}");
    ASSERT_INT_EQ(p4t_changes_encode(&c, &text), P4T_EINVAL);
    free(c.items[0].value_json);
    c.items[0].value_json = strdup("not json");
    ASSERT_INT_EQ(p4t_changes_encode(&c, &text), P4T_EINVAL);
    free(c.items[0].value_json);
    c.items[0].value_json = NULL;
    ASSERT_INT_EQ(p4t_changes_encode(&c, &text), P4T_EINVAL);
    c.items[0].value_json = strdup("{\"price\":1,\"ver\":1}");
    c.items[0].entity = (enum p4t_entity)40;
    ASSERT_INT_EQ(p4t_changes_encode(&c, &text), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);
    p4t_changes_cleanup(&c);

    /* Sync requests. */
    {
        struct p4t_sync_req r = {.req_id = "r01-3", .cursor = 0};
        ASSERT_INT_EQ(p4t_sync_req_encode(&r, &text), 0);
        ASSERT_STR_EQ(text, "{\"req_id\":\"r01-3\",\"cursor\":0}");
        free(text);
        r.cursor = -1;
        ASSERT_INT_EQ(p4t_sync_req_encode(&r, &text), P4T_EINVAL);
        r.cursor = 1;
        r.req_id[0] = '\0';
        ASSERT_INT_EQ(p4t_sync_req_encode(&r, &text), P4T_EINVAL);
    }
}

/* Over P4T_MAX_CHANGES_PAYLOAD bytes is refused before parsing. */
static void test_too_big(void)
{
    struct p4t_changes c;
    char reason[P4T_REASON_MAX];
    size_t len = P4T_MAX_CHANGES_PAYLOAD + 1;
    char *buf = malloc(len);

    memset(buf, ' ', len);
    buf[0] = '{';
    buf[len - 1] = '}';
    ASSERT_INT_EQ(p4t_changes_decode(buf, len, &c, reason, sizeof reason), P4T_ETOOBIG);
    ASSERT_CONTAINS(reason, "over the limit of 1048576");
    buf[len - 2] = '}';
    ASSERT_INT_EQ(p4t_changes_decode(buf, len - 1, &c, reason, sizeof reason), P4T_EINVAL);
    ASSERT_STR_EQ(reason, "from: missing");
    free(buf);
}

/* Large integers keep their digits: cJSON alone would print 1e15 as "1e+15". */
static void test_large_integer_value(void)
{
    static const char msg[] = "{\"from\":5,\"to\":5,\"items\":[{\"seq\":5,\"entity\":"
                              "\"loyalty\",\"key\":\"c1\",\"value\":{\"balance\":"
                              "1000000000000000}}]}";
    struct p4t_changes c;
    char reason[P4T_REASON_MAX];

    ASSERT_INT_EQ(p4t_changes_decode(msg, sizeof msg - 1, &c, reason, sizeof reason), 0);
    ASSERT_STR_EQ(c.items[0].value_json, "{\"balance\":1000000000000000}");
    p4t_changes_cleanup(&c);
}

int main(void)
{
    ASSERT_TRUE(run_cases("changes", changes_rt) >= 23);
    ASSERT_TRUE(run_cases("sync", sync_rt) >= 7);
    test_values();
    test_encode();
    test_too_big();
    test_large_integer_value();
    return check_done("test_changes");
}
