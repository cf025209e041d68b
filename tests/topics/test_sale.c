/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the sale codec and the uplink sale record: fixtures, limits, round trips. */
#include "check.h"

static struct p4t_sale sale, sale2;

static int sale_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    int rc = p4t_sale_decode(buf, len, &sale, reason, reason_len);

    *text = NULL;
    if (rc)
        return rc;
    return p4t_sale_encode(&sale, text, reason, reason_len);
}

static int record_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    char flags[P4T_MAX_FLAGS][P4T_KIND_MAX + 1];
    const char *fl[P4T_MAX_FLAGS + 1];
    size_t n_flags, i;
    int64_t gw_seq;
    int rc = p4t_sale_record_decode(buf, len, &sale, &gw_seq, flags, &n_flags, reason,
                                    reason_len);

    *text = NULL;
    if (rc)
        return rc;
    for (i = 0; i < n_flags; i++)
        fl[i] = flags[i];
    fl[n_flags] = NULL;
    return p4t_sale_record_encode(&sale, gw_seq, fl, text);
}

static void test_fixtures(void)
{
    ASSERT_TRUE(run_cases("sale", sale_rt) > 90);
    ASSERT_TRUE(run_cases("record", record_rt) >= 9);
}

static void test_fields(void)
{
    size_t len;
    char *buf = fixture_read("sale_full.json", &len);
    char reason[P4T_REASON_MAX];

    ASSERT_INT_EQ(p4t_sale_decode(buf, len, &sale, reason, sizeof reason), 0);
    ASSERT_STR_EQ(sale.id, "0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d");
    ASSERT_INT_EQ(sale.seq, 42);
    ASSERT_STR_EQ(sale.store, "s001");
    ASSERT_STR_EQ(sale.reg, "r01");
    ASSERT_STR_EQ(sale.ts, "2026-11-27T12:00:00.123Z");
    ASSERT_INT_EQ(sale.ts_ms, 1795780800123LL);
    ASSERT_INT_EQ(sale.kind, P4T_SALE);
    ASSERT_STR_EQ(sale.ref, "0190a5c4-6e20-7c11-8a00-0123456789ab");
    ASSERT_INT_EQ(sale.n_lines, 2);
    ASSERT_STR_EQ(sale.lines[0].sku, "coffee-250g");
    ASSERT_INT_EQ(sale.lines[0].qty, 2);
    ASSERT_INT_EQ(sale.lines[0].price_minor, 899);
    ASSERT_INT_EQ(sale.lines[0].ver, 3);
    ASSERT_INT_EQ(sale.n_tenders, 2);
    ASSERT_STR_EQ(sale.tenders[1].type, "cash");
    ASSERT_INT_EQ(sale.tenders[1].amount_minor, 1427);
    ASSERT_INT_EQ(sale.total_minor, 1927);
    ASSERT_STR_EQ(sale.customer, "C-1234");
    ASSERT_TRUE(sale.has_loyalty);
    ASSERT_INT_EQ(sale.loyalty_earn, 19);
    ASSERT_INT_EQ(sale.loyalty_redeem, 500);
    free(buf);

    buf = fixture_read("sale_leap_day.json", &len);
    ASSERT_INT_EQ(p4t_sale_decode(buf, len, &sale, reason, sizeof reason), 0);
    ASSERT_INT_EQ(sale.ts_ms, 1835481599999LL);
    free(buf);

    buf = fixture_read("void_basic.json", &len);
    ASSERT_INT_EQ(p4t_sale_decode(buf, len, &sale, reason, sizeof reason), 0);
    ASSERT_INT_EQ(sale.kind, P4T_VOID);
    ASSERT_INT_EQ(sale.n_tenders, 0);
    ASSERT_INT_EQ(sale.total_minor, -1798);
    ASSERT_STR_EQ(p4t_sale_kind_name(sale.kind), "void");
    ASSERT_TRUE(p4t_sale_kind_name((enum p4t_sale_kind)7) == NULL);
    free(buf);

    /* A rejected decode leaves nothing behind from the earlier success. */
    ASSERT_INT_EQ(p4t_sale_decode("{}", 2, &sale, reason, sizeof reason), P4T_EINVAL);
    ASSERT_STR_EQ(sale.id, "");
    ASSERT_INT_EQ(sale.n_lines, 0);
    ASSERT_STR_EQ(reason, "id: missing");
    /* REASON may be NULL. */
    ASSERT_INT_EQ(p4t_sale_decode("{}", 2, &sale, NULL, 0), P4T_EINVAL);
}

/* Builds a sale of N_LINES lines of 1 x 100 with one cash tender, as JSON text. */
static char *many_lines(size_t n_lines, size_t pad)
{
    size_t cap = 512 + n_lines * 64 + pad, i, off;
    char *buf = malloc(cap);

    off = (size_t)snprintf(buf, cap,
                           "{\"id\":\"0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d\",\"seq\":1,"
                           "\"store\":\"s001\",\"reg\":\"r01\",\"ts\":\"2026-11-27T12:00:00.123Z\","
                           "\"kind\":\"sale\",\"lines\":[");
    for (i = 0; i < n_lines; i++)
        off += (size_t)snprintf(buf + off, cap - off,
                                "%s{\"sku\":\"sku-%zu\",\"qty\":1,\"price\":100,\"ver\":1}",
                                i ? "," : "", i);
    off += (size_t)snprintf(buf + off, cap - off, "],\"tenders\":[{\"type\":\"cash\",\"amount\":%zu}],"
                                                  "\"total\":%zu",
                            n_lines * 100, n_lines * 100);
    memset(buf + off, ' ', pad);
    off += pad;
    snprintf(buf + off, cap - off, "}");
    return buf;
}

static void test_limits(void)
{
    char reason[P4T_REASON_MAX], *buf, *text = NULL;
    size_t len;

    buf = many_lines(P4T_MAX_LINES, 0);
    ASSERT_INT_EQ(p4t_sale_decode(buf, strlen(buf), &sale, reason, sizeof reason), 0);
    ASSERT_INT_EQ(sale.n_lines, P4T_MAX_LINES);
    ASSERT_INT_EQ(sale.total_minor, 20000);
    ASSERT_INT_EQ(p4t_sale_encode(&sale, &text, reason, sizeof reason), 0);
    ASSERT_STR_EQ(text, buf);
    free(text);
    free(buf);

    buf = many_lines(P4T_MAX_LINES + 1, 0);
    ASSERT_INT_EQ(p4t_sale_decode(buf, strlen(buf), &sale, reason, sizeof reason), P4T_EINVAL);
    ASSERT_STR_EQ(reason, "lines: more than 200 lines");
    free(buf);

    /* Exactly P4T_MAX_PAYLOAD bytes is allowed, one more is not. */
    buf = many_lines(10, 0);
    len = strlen(buf);
    free(buf);
    buf = many_lines(10, P4T_MAX_PAYLOAD - len);
    ASSERT_INT_EQ(strlen(buf), P4T_MAX_PAYLOAD);
    ASSERT_INT_EQ(p4t_sale_decode(buf, strlen(buf), &sale, reason, sizeof reason), 0);
    free(buf);
    buf = many_lines(10, P4T_MAX_PAYLOAD - len + 1);
    ASSERT_INT_EQ(p4t_sale_decode(buf, strlen(buf), &sale, reason, sizeof reason), P4T_ETOOBIG);
    ASSERT_STR_EQ(reason, "payload: 65537 bytes, over the limit of 65536");
    free(buf);
    buf = calloc(1, 1 << 20);
    memset(buf, '[', (1 << 20) - 1);
    ASSERT_INT_EQ(p4t_sale_decode(buf, (1 << 20) - 1, &sale, reason, sizeof reason),
                  P4T_ETOOBIG);
    free(buf);

    /* Deep nesting inside the limit: rejected, without exhausting the stack. */
    buf = calloc(1, P4T_MAX_PAYLOAD);
    memset(buf, '[', P4T_MAX_PAYLOAD - 1);
    ASSERT_INT_EQ(p4t_sale_decode(buf, P4T_MAX_PAYLOAD - 1, &sale, reason, sizeof reason),
                  P4T_EINVAL);
    ASSERT_CONTAINS(reason, "payload: not valid JSON");
    free(buf);
}

static void test_buffers(void)
{
    char reason[P4T_REASON_MAX], *buf, *copy;
    size_t len, cut;
    int rc;

    buf = fixture_read("sale_full.json", &len);
    /* The input need not be NUL-terminated: bytes after LEN are not read. */
    copy = malloc(len + 8);
    memcpy(copy, buf, len);
    memcpy(copy + len, "garbage!", 8);
    ASSERT_INT_EQ(p4t_sale_decode(copy, len, &sale, reason, sizeof reason), 0);
    free(copy);
    /* An embedded NUL is refused rather than silently ending the text early. */
    copy = malloc(len + 2);
    memcpy(copy, buf, len);
    copy[len] = '\0';
    copy[len + 1] = ' ';
    ASSERT_INT_EQ(p4t_sale_decode(copy, len + 2, &sale, reason, sizeof reason), P4T_EINVAL);
    ASSERT_STR_EQ(reason, "payload: contains a NUL byte");
    /* Every truncation of a valid sale is rejected (never a crash, never a partial sale). */
    for (cut = 0; cut < len; cut++) {
        memcpy(copy, buf, cut);
        rc = p4t_sale_decode(copy, cut, &sale, reason, sizeof reason);
        if (rc != P4T_EINVAL)
            CHECK_FAIL("truncated at %zu: rc %d", cut, rc);
    }
    ASSERT_INT_EQ(p4t_sale_decode(buf, 40, &sale, reason, sizeof reason), P4T_EINVAL);
    ASSERT_STR_EQ(reason, "payload: not valid JSON (truncated)");
    /* A tiny reason buffer is still NUL-terminated. */
    memset(reason, 'x', sizeof reason);
    ASSERT_INT_EQ(p4t_sale_decode("{}", 2, &sale, reason, 4), P4T_EINVAL);
    ASSERT_STR_EQ(reason, "id:");
    free(copy);
    free(buf);
}

static void test_encode(void)
{
    char reason[P4T_REASON_MAX], *buf, *text = NULL;
    const char *flags[] = {"oversell", NULL};
    const char *bad_flags[] = {"Oversell", NULL};
    size_t len;
    int64_t gw_seq;

    buf = fixture_read("sale_basic.json", &len);
    ASSERT_INT_EQ(p4t_sale_decode(buf, len, &sale, reason, sizeof reason), 0);
    free(buf);

    sale2 = sale;
    sale2.total_minor = 1;
    ASSERT_INT_EQ(p4t_sale_encode(&sale2, &text, reason, sizeof reason), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);
    ASSERT_CONTAINS(reason, "total: is 1 but the lines sum to 1927");

    sale2 = sale;
    sale2.kind = (enum p4t_sale_kind)9;
    ASSERT_INT_EQ(p4t_sale_encode(&sale2, &text, reason, sizeof reason), P4T_EINVAL);
    ASSERT_CONTAINS(reason, "unknown kind");

    sale2 = sale;
    memset(sale2.id, 'a', sizeof sale2.id); /* not NUL-terminated */
    ASSERT_INT_EQ(p4t_sale_encode(&sale2, &text, reason, sizeof reason), P4T_EINVAL);

    sale2 = sale;
    sale2.n_lines = P4T_MAX_LINES + 1;
    ASSERT_INT_EQ(p4t_sale_encode(&sale2, &text, reason, sizeof reason), P4T_EINVAL);

    sale2 = sale;
    strcpy(sale2.store, "_all");
    ASSERT_INT_EQ(p4t_sale_encode(&sale2, &text, reason, sizeof reason), P4T_EINVAL);
    ASSERT_CONTAINS(reason, "store: ");

    /* Records: gw_seq >= 1 and valid flag names. */
    ASSERT_INT_EQ(p4t_sale_record_encode(&sale, 0, NULL, &text), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_sale_record_encode(&sale, 5, bad_flags, &text), P4T_EINVAL);
    ASSERT_INT_EQ(p4t_sale_record_encode(&sale, 9007199254740991LL, flags, &text), 0);
    ASSERT_CONTAINS(text, ",\"gw_seq\":9007199254740991,\"flags\":[\"oversell\"]}");
    ASSERT_INT_EQ(p4t_sale_record_decode(text, strlen(text), &sale2, &gw_seq, NULL, NULL, NULL,
                                         0), 0);
    ASSERT_INT_EQ(gw_seq, 9007199254740991LL);
    ASSERT_STR_EQ(sale2.id, sale.id);
    free(text);
    ASSERT_INT_EQ(p4t_sale_record_encode(&sale, 1, NULL, &text), 0);
    ASSERT_CONTAINS(text, "\"gw_seq\":1,\"flags\":[]}");
    /* A record is not a sale: the register-facing decoder refuses the extra fields. */
    ASSERT_INT_EQ(p4t_sale_decode(text, strlen(text), &sale2, reason, sizeof reason),
                  P4T_EINVAL);
    ASSERT_STR_EQ(reason, "gw_seq: unknown field");
    free(text);
}

static void test_peek(void)
{
    char id[P4T_UUID_MAX + 1];
    int64_t seq;
    const char *bad_total = "{\"id\":\"abc\",\"seq\":7,\"total\":1.5}";
    const char *long_id = "{\"id\":\"0123456789012345678901234567890123456789\",\"seq\":-1}";

    ASSERT_INT_EQ(p4t_sale_peek(bad_total, strlen(bad_total), id, &seq), 0);
    ASSERT_STR_EQ(id, "abc");
    ASSERT_INT_EQ(seq, 7);
    ASSERT_INT_EQ(p4t_sale_peek(long_id, strlen(long_id), id, &seq), 0);
    ASSERT_STR_EQ(id, "");
    ASSERT_INT_EQ(seq, 0);
    ASSERT_INT_EQ(p4t_sale_peek("{\"id\":\"a b\"}", 12, id, NULL), 0);
    ASSERT_STR_EQ(id, "");
    ASSERT_INT_EQ(p4t_sale_peek("not json", 8, id, &seq), 0);
    ASSERT_STR_EQ(id, "");
    ASSERT_INT_EQ(p4t_sale_peek("[\"id\"]", 6, id, &seq), 0);
    ASSERT_STR_EQ(id, "");
}

int main(void)
{
    test_fixtures();
    test_fields();
    test_limits();
    test_buffers();
    test_encode();
    test_peek();
    return check_done("test_sale");
}
