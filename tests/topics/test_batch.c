/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the uplink batch builder: byte cap, oversized records, decodable output. */
#include <cjson/cJSON.h>

#include "check.h"

/* Parses a finished batch and checks its shape: store, item count and each item a record. */
static void check_batch(const char *text, size_t len, const char *store, int n_items)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *items, *it;
    struct p4t_sale sale;
    int64_t gw_seq;
    char reason[P4T_REASON_MAX];

    ASSERT_TRUE(root != NULL);
    if (!root)
        return;
    ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(root, "store")), store);
    items = cJSON_GetObjectItem(root, "items");
    ASSERT_INT_EQ(cJSON_GetArraySize(items), n_items);
    cJSON_ArrayForEach(it, items) {
        char *rec = cJSON_PrintUnformatted(it);
        ASSERT_INT_EQ(p4t_sale_record_decode(rec, strlen(rec), &sale, &gw_seq, NULL, NULL,
                                             reason, sizeof reason), 0);
        free(rec);
    }
    cJSON_Delete(root);
}

int main(void)
{
    struct p4t_batch_builder b;
    struct p4t_sale sale;
    char reason[P4T_REASON_MAX], *buf, *rec, *text;
    size_t len, rec_len, out_len, i;
    int rc;

    buf = fixture_read("sale_basic.json", &len);
    ASSERT_INT_EQ(p4t_sale_decode(buf, len, &sale, reason, sizeof reason), 0);
    free(buf);
    ASSERT_INT_EQ(p4t_sale_record_encode(&sale, 1, NULL, &rec), 0);
    rec_len = strlen(rec);

    ASSERT_INT_EQ(p4t_batch_init(&b, "_all", 4096), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_batch_init(&b, "s001", 255), P4T_EINVAL);

    /* An empty batch is valid JSON with no items. */
    ASSERT_INT_EQ(p4t_batch_init(&b, "s001", 4096), 0);
    ASSERT_INT_EQ(p4t_batch_take(&b, &text, &out_len), 0);
    ASSERT_STR_EQ(text, "{\"store\":\"s001\",\"items\":[]}");
    ASSERT_INT_EQ(out_len, strlen(text));
    free(text);
    p4t_batch_cleanup(&b);

    /* Fill to the byte cap: the batch closes before it would exceed it. */
    ASSERT_INT_EQ(p4t_batch_init(&b, "s001", 4096), 0);
    for (i = 0; i < 1000; i++) {
        rc = p4t_batch_add(&b, rec, rec_len);
        if (rc)
            break;
    }
    ASSERT_INT_EQ(rc, P4T_ETOOBIG);
    ASSERT_INT_EQ(b.n_items, i);
    ASSERT_TRUE(i >= 4096 / (rec_len + 1) - 1);
    ASSERT_INT_EQ(p4t_batch_take(&b, &text, &out_len), 0);
    ASSERT_TRUE(out_len <= 4096);
    ASSERT_TRUE(out_len + rec_len + 1 > 4096);
    check_batch(text, out_len, "s001", (int)i);
    free(text);
    /* take hands the buffer over; adding needs a fresh init. */
    ASSERT_INT_EQ(p4t_batch_add(&b, rec, rec_len), P4T_EINVAL);
    p4t_batch_cleanup(&b);

    /* A single record larger than the cap still goes out, alone. */
    ASSERT_INT_EQ(p4t_batch_init(&b, "s001", 256), 0);
    ASSERT_INT_EQ(p4t_batch_add(&b, rec, rec_len), 0);
    ASSERT_INT_EQ(p4t_batch_add(&b, rec, rec_len), P4T_ETOOBIG);
    ASSERT_INT_EQ(p4t_batch_take(&b, &text, &out_len), 0);
    check_batch(text, out_len, "s001", 1);
    free(text);
    p4t_batch_cleanup(&b);

    /* Cleanup without take frees the buffer (checked under ASan). */
    ASSERT_INT_EQ(p4t_batch_init(&b, "s001", 1 << 20), 0);
    for (i = 0; i < 3000 && p4t_batch_add(&b, rec, rec_len) == 0; i++)
        ;
    ASSERT_INT_EQ(b.n_items, 3000);
    ASSERT_TRUE(b.len <= (size_t)1 << 20);
    p4t_batch_cleanup(&b);
    p4t_batch_cleanup(&b);
    free(rec);
    return check_done("test_batch");
}
