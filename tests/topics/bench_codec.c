/* SPDX-License-Identifier: Apache-2.0 */
/* Prints codec throughput figures (sale decode, record encode, batch building); no pass/fail. */
#include <time.h>

#include "check.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
    return 0;
}
