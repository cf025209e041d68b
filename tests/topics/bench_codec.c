/* SPDX-License-Identifier: Apache-2.0 */
/* Prints codec throughput figures (sale, record, batch; 1.1 downlink, prices, promos); no
 * pass/fail. */
#include <time.h>

#include "check.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Revision 1.1: a full 500-item price downlink, price resolution and basket pricing. */
static int bench_rev11(long n)
{
    static struct p4t_line lines[P4T_MAX_LINES];
    static struct p4t_charged_line out[2 * P4T_MAX_LINES];
    struct p4t_price_item *items = calloc(P4T_DOWN_MAX_ITEMS, sizeof *items);
    struct p4t_promo promos[64];
    struct p4t_price_state st;
    struct p4t_down d = {.kind = P4T_D_PRICE, .n_items = P4T_DOWN_MAX_ITEMS};
    char *text = NULL;
    size_t len, n_out, k;
    int64_t price, ver, sum = 0;
    long i;
    double t0, t;

    for (k = 0; k < P4T_DOWN_MAX_ITEMS; k++) {
        snprintf(items[k].sku, sizeof items[k].sku, "SKU-%05zu", k);
        items[k].price_minor = 100 + (int64_t)k;
        items[k].ver = 1 + (int64_t)k;
        items[k].has_from = k % 2 == 1;
        items[k].from_ms = 1795737600000LL;
    }
    d.price = items;
    if (p4t_down_encode(&d, &text) != 0)
        return 1;
    len = strlen(text);
    t0 = now_s();
    for (i = 0; i < n; i++) {
        struct p4t_down back;
        if (p4t_down_decode(P4T_D_PRICE, text, len, &back, NULL, 0) != 0)
            return 1;
        p4t_down_cleanup(&back);
    }
    t = now_s() - t0;
    printf("price downlink decode (500 items, %zu bytes): %.0f msgs/s, %.0f items/s\n", len,
           n / t, n * 500.0 / t);
    free(text);

    memset(&st, 0, sizeof st);
    for (k = 0; k < P4T_PRICE_MAX_WINDOWS; k++) {
        bool changed;
        struct p4t_price_item it = items[k];
        it.has_from = k > 0;
        it.from_ms = 1795737600000LL + (int64_t)k * 3600000;
        if (p4t_price_state_apply(&st, &it, 0, &changed) != 0)
            return 1;
    }
    t0 = now_s();
    for (i = 0; i < n * 1000; i++) {
        if (p4t_price_effective(&st, 1795737600000LL + i, &price, &ver) == 0)
            sum += price;
    }
    t = now_s() - t0;
    printf("price effective (base + 15 windows): %.0f/s (checksum %lld)\n", n * 1000 / t,
           (long long)sum);

    for (k = 0; k < 64; k++) {
        memset(&promos[k], 0, sizeof promos[k]);
        snprintf(promos[k].id, sizeof promos[k].id, "p%zu", k);
        snprintf(promos[k].sku, sizeof promos[k].sku, "SKU-%05zu", k % 32);
        promos[k].ver = 1;
        promos[k].active = true;
        promos[k].type = (enum p4t_promo_type)(k % 3);
        promos[k].percent = 15;
        promos[k].price_minor = 90;
        promos[k].n = 3;
        promos[k].m = 2;
    }
    for (k = 0; k < P4T_MAX_LINES; k++) {
        snprintf(lines[k].sku, sizeof lines[k].sku, "SKU-%05zu", k % 40);
        lines[k].qty = 1 + (int64_t)(k % 5);
        lines[k].price_minor = 120;
    }
    t0 = now_s();
    for (i = 0; i < n * 10; i++) {
        if (p4t_promo_apply(promos, 64, 0, lines, P4T_MAX_LINES, out, 2 * P4T_MAX_LINES,
                            &n_out) != 0)
            return 1;
    }
    t = now_s() - t0;
    printf("promo apply (200 lines, 64 promos): %.0f baskets/s\n", n * 10 / t);
    free(items);
    return 0;
}

int main(int argc, char **argv)
{
    static struct p4t_sale sale;
    struct p4t_batch_builder b;
    char reason[P4T_REASON_MAX], *buf, *rec, *text;
    size_t len, rec_len, out_len;
    long n = argc > 1 ? atol(argv[1]) : 200000, i, batches = 0;
    double t0, t;

    buf = fixture_read("sale_full.json", &len);
    t0 = now_s();
    for (i = 0; i < n; i++) {
        if (p4t_sale_decode(buf, len, &sale, reason, sizeof reason) != 0)
            return 1;
    }
    t = now_s() - t0;
    printf("sale decode (%zu bytes, 2 lines): %.0f/s, %.2f us each\n", len, n / t, t / n * 1e6);

    t0 = now_s();
    for (i = 0; i < n; i++) {
        if (p4t_sale_record_encode(&sale, i + 1, NULL, &rec) != 0)
            return 1;
        free(rec);
    }
    t = now_s() - t0;
    printf("record encode (validated): %.0f/s, %.2f us each\n", n / t, t / n * 1e6);

    if (p4t_sale_record_encode(&sale, 1, NULL, &rec) != 0)
        return 1;
    rec_len = strlen(rec);
    t0 = now_s();
    if (p4t_batch_init(&b, "s001", 262144) != 0)
        return 1;
    for (i = 0; i < n; i++) {
        if (p4t_batch_add(&b, rec, rec_len) == P4T_ETOOBIG) {
            p4t_batch_take(&b, &text, &out_len);
            free(text);
            batches++;
            p4t_batch_init(&b, "s001", 262144);
            p4t_batch_add(&b, rec, rec_len);
        }
    }
    p4t_batch_cleanup(&b);
    t = now_s() - t0;
    printf("batch add (%zu-byte records, 256 KiB batches): %.0f records/s, %ld batches\n",
           rec_len, n / t, batches);
    free(rec);
    free(buf);
    return bench_rev11(n / 100 > 0 ? n / 100 : 1);
}
