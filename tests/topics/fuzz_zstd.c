/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz entry for compressed payloads (revision 1.3): p4t_zstd_unpack and, on what it lets
 * through, the decoders HQ and the gateway run next (the up/sale batch reader, every downlink
 * kind). The first input byte picks the mode: even, the rest is a frame off the wire; odd, the
 * rest is JSON that is packed and must unpack to itself. libFuzzer with -DP4_TOPICS_FUZZ=ON
 * (scripts/fuzz.sh, seeds in tests/topics/fixtures/zstd); otherwise a smoke run that packs
 * fixtures and feeds cut, flipped and patched frames through the same path. */
#include "check.h"
#include "p4t_zstd.h"

#define LIMIT (1u << 20) /* a small limit keeps the fuzzer's inputs and memory small */

static void decode_all(const char *text, size_t len)
{
    static struct p4t_sale sale;
    struct p4t_batch_reader r;
    struct p4t_down d;
    char reason[P4T_REASON_MAX];
    int64_t gw_seq;

    if (p4t_batch_open(&r, text, len, reason, sizeof reason) == 0) {
        while (p4t_batch_next(&r, &sale, &gw_seq, NULL, NULL, NULL, reason, sizeof reason) !=
               P4T_ENOENT)
            ;
        p4t_batch_close(&r);
    }
    for (int k = P4T_D_PRICE; k <= P4T_D_STOCK; k++) {
        if (p4t_down_decode((enum p4t_down_kind)k, text, len, &d, reason, sizeof reason) == 0)
            p4t_down_cleanup(&d);
    }
}

static void one(int mode, const uint8_t *data, size_t size)
{
    char reason[P4T_REASON_MAX] = "", *out = NULL, *z = NULL;
    size_t out_len = 0, zlen = 0;
    int rc;

    if (mode & 1) {
        if (size > LIMIT || p4t_zstd_pack((const char *)data, size, &z, &zlen) != 0)
            return;
        rc = p4t_zstd_unpack(z, zlen, LIMIT, &out, &out_len, reason, sizeof reason);
        if (rc != 0 || out_len != size || memcmp(out, data, size) != 0) {
            fprintf(stderr, "pack/unpack round trip broken (rc %d: %s)\n", rc, reason);
            abort();
        }
        free(z);
    } else {
        rc = p4t_zstd_unpack(data, size, LIMIT, &out, &out_len, reason, sizeof reason);
        if (rc == 0 && (out_len > LIMIT || out[out_len] != '\0'))
            abort();
        if (rc != 0 && (out || !reason[0] || strncmp(reason, "payload: ", 9) != 0)) {
            fprintf(stderr, "refusal without a reason or with output: rc %d \"%s\"\n", rc, reason);
            abort();
        }
    }
    if (out)
        decode_all(out, out_len);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    one(data[0], data + 1, size - 1);
    return 0;
}

#ifndef P4_LIBFUZZER
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int main(void)
{
    static const char *const files[] = {"batch_hq.json", "down_customer.json", "sale_full.json",
                                        NULL};
    size_t runs = 0;

    for (size_t f = 0; files[f]; f++) {
        size_t len, zlen;
        char *text = fixture_read(files[f], &len), *z = NULL;
        uint8_t *buf;

        one(1, (const uint8_t *)text, len);
        ASSERT_INT_EQ(p4t_zstd_pack(text, len, &z, &zlen), 0);
        buf = malloc(zlen + 16);
        for (int i = 0; i < 3000; i++) {
            size_t m = zlen;

            memcpy(buf, z, zlen);
            switch (rnd() % 4) {
            case 0: /* flip bits anywhere, the header included */
                for (int k = 0, n = 1 + (int)(rnd() % 4); k < n; k++)
                    buf[rnd() % zlen] ^= (uint8_t)(1u << (rnd() % 8));
                break;
            case 1: /* cut */
                m = rnd() % zlen;
                break;
            case 2: /* trailing bytes */
                for (size_t k = 0, n = 1 + rnd() % 16; k < n; k++)
                    buf[m++] = (uint8_t)rnd();
                break;
            default: /* a random byte in the first 16 (descriptor, window, dict id, size) */
                buf[4 + rnd() % (zlen > 20 ? 16 : zlen - 4)] = (uint8_t)rnd();
                break;
            }
            one(0, buf, m);
            runs++;
        }
        one(0, (const uint8_t *)z, zlen);
        free(buf);
        free(z);
        free(text);
    }
    fprintf(stderr, "fuzz zstd smoke: %zu frames\n", runs);
    ASSERT_TRUE(runs == 9000);
    return check_done("fuzz_zstd");
}
#endif
