/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the uplink batch builder: byte cap, oversized records, decodable output. */
#include <cjson/cJSON.h>

#include "check.h"

/* Reads a finished batch back with the reader HQ uses: store, item count, each item a record
 * of that store in ascending gw_seq. */
static void check_batch(const char *text, size_t len, const char *store, int n_items)
{
    struct p4t_batch_reader r;
    struct p4t_sale *sale = malloc(sizeof *sale);
    int64_t gw_seq, prev = 0;
    char reason[P4T_REASON_MAX];
    int n = 0, rc;

    ASSERT_INT_EQ(p4t_batch_open(&r, text, len, reason, sizeof reason), 0);
    ASSERT_STR_EQ(r.store, store);
    ASSERT_INT_EQ(r.n_items, n_items);
    while ((rc = p4t_batch_next(&r, sale, &gw_seq, NULL, NULL, NULL, reason, sizeof reason)) ==
           0) {
        ASSERT_STR_EQ(sale->store, store);
        ASSERT_TRUE(gw_seq >= prev);
        prev = gw_seq;
        n++;
    }
    ASSERT_INT_EQ(rc, P4T_ENOENT);
    ASSERT_INT_EQ(n, n_items);
    p4t_batch_close(&r);
    free(sale);
}

/* One bad item is reported with its index and gw_seq; the items around it still decode. */
static void check_bad_item(const char *rec, size_t rec_len)
{
    struct p4t_batch_reader r;
    struct p4t_sale *sale = malloc(sizeof *sale);
    char reason[P4T_REASON_MAX], *text, *item = NULL;
    int64_t gw_seq;
    size_t len;
    static const char *const bad_envelopes[] = {
        "{\"store\":\"s001\",\"items\":[]}",
        "{\"store\":\"s001\"}",
        "{\"store\":\"s001\",\"items\":[],\"x\":1}",
        "[]",
        "{\"store\":\"s001\",\"items\":[{\"gw_seq\":2.0}]}",
    };

    len = (size_t)asprintf(&text, "{\"store\":\"s001\",\"items\":[%.*s,{\"gw_seq\":7,"
                                  "\"id\":\"nope\"},%.*s]}",
                           (int)rec_len, rec, (int)rec_len, rec);
    ASSERT_INT_EQ(p4t_batch_open(&r, text, len, reason, sizeof reason), 0);
    ASSERT_INT_EQ(p4t_batch_next(&r, sale, &gw_seq, NULL, NULL, NULL, reason, sizeof reason),
                  0);
    ASSERT_INT_EQ(p4t_batch_next(&r, sale, &gw_seq, NULL, NULL, &item, reason, sizeof reason),
                  P4T_EINVAL);
    ASSERT_INT_EQ(gw_seq, 7);
    ASSERT_INT_EQ(r.index, 1);
    ASSERT_CONTAINS(reason, "items[1].");
    ASSERT_TRUE(item != NULL && strstr(item, "\"nope\"") != NULL);
    free(item);
    ASSERT_INT_EQ(p4t_batch_next(&r, sale, &gw_seq, NULL, NULL, NULL, reason, sizeof reason),
                  0);
    ASSERT_INT_EQ(p4t_batch_next(&r, sale, &gw_seq, NULL, NULL, NULL, reason, sizeof reason),
                  P4T_ENOENT);
    p4t_batch_close(&r);
    free(text);

    /* A record of another store inside s002's batch. */
    len = (size_t)asprintf(&text, "{\"store\":\"s002\",\"items\":[%.*s]}", (int)rec_len, rec);
    ASSERT_INT_EQ(p4t_batch_open(&r, text, len, reason, sizeof reason), 0);
    ASSERT_INT_EQ(p4t_batch_next(&r, sale, &gw_seq, NULL, NULL, NULL, reason, sizeof reason),
                  P4T_EINVAL);
    ASSERT_CONTAINS(reason, "items[0].store: \"s001\" does not match");
    p4t_batch_close(&r);
    free(text);

    for (size_t i = 0; i < sizeof bad_envelopes / sizeof bad_envelopes[0]; i++)
        ASSERT_INT_EQ(p4t_batch_open(&r, bad_envelopes[i], strlen(bad_envelopes[i]), reason,
                                     sizeof reason),
                      P4T_EINVAL);
    free(sale);
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
    check_bad_item(rec, rec_len);
    free(rec);
    return check_done("test_batch");
}
