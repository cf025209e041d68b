/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz entry for the v1 decoders (libFuzzer), plus a mutation smoke run over the fixtures. */
#include "check.h"

#define N_DECODERS 22

/* Decodes DATA with the decoder picked by SEL; when it is accepted, re-encodes it and checks
 * that the canonical text decodes again and re-encodes to itself. Any break of that promise,
 * or any crash, is a bug: abort so the fuzzer keeps the input. */
static void one(unsigned sel, const char *data, size_t len)
{
    static struct p4t_sale sale;
    static struct p4t_alert alert;
    struct p4t_ack ack;
    struct p4t_changes changes;
    struct p4t_sync_req req;
    struct p4t_status status;
    static struct p4t_hold_req hold_req;
    static struct p4t_hold_reply hold_reply;
    struct p4t_down down;
    struct p4t_price_state price;
    struct p4t_promo promo;
    struct p4t_customer customer;
    struct p4t_resync resync;
    struct p4t_hq_ack hq_ack;
    static struct p4t_lookup lookup;
    struct p4t_batch_reader batch;
    int64_t balance;
    char reason[P4T_REASON_MAX], *text = NULL, *again = NULL;
    char flags[P4T_MAX_FLAGS][P4T_KIND_MAX + 1];
    const char *fl[P4T_MAX_FLAGS + 1];
    size_t n_flags = 0, i;
    int64_t gw_seq = 0;
    int rc = -1, rc2 = -1;

    switch (sel % N_DECODERS) {
    case 0:
        if (p4t_sale_decode(data, len, &sale, reason, sizeof reason) == 0) {
            rc = p4t_sale_encode(&sale, &text, reason, sizeof reason);
            if (rc == 0 && p4t_sale_decode(text, strlen(text), &sale, NULL, 0) == 0)
                rc2 = p4t_sale_encode(&sale, &again, NULL, 0);
        }
        break;
    case 1:
        if (p4t_sale_record_decode(data, len, &sale, &gw_seq, flags, &n_flags, reason,
                                   sizeof reason) == 0) {
            for (i = 0; i < n_flags; i++)
                fl[i] = flags[i];
            fl[n_flags] = NULL;
            rc = p4t_sale_record_encode(&sale, gw_seq, fl, &text);
            if (rc == 0)
                rc2 = p4t_sale_record_encode(&sale, gw_seq, fl, &again);
        }
        break;
    case 2:
        if (p4t_ack_decode(data, len, &ack, reason, sizeof reason) == 0) {
            rc = p4t_ack_encode(&ack, &text);
            if (rc == 0 && p4t_ack_decode(text, strlen(text), &ack, NULL, 0) == 0)
                rc2 = p4t_ack_encode(&ack, &again);
        }
        break;
    case 3:
        if (p4t_changes_decode(data, len, &changes, reason, sizeof reason) == 0) {
            rc = p4t_changes_encode(&changes, &text);
            p4t_changes_cleanup(&changes);
            if (rc == 0 && p4t_changes_decode(text, strlen(text), &changes, NULL, 0) == 0) {
                rc2 = p4t_changes_encode(&changes, &again);
                p4t_changes_cleanup(&changes);
            }
        }
        break;
    case 4:
        if (p4t_sync_req_decode(data, len, &req, reason, sizeof reason) == 0) {
            rc = p4t_sync_req_encode(&req, &text);
            if (rc == 0 && p4t_sync_req_decode(text, strlen(text), &req, NULL, 0) == 0)
                rc2 = p4t_sync_req_encode(&req, &again);
        }
        break;
    case 5:
        if (p4t_status_decode(data, len, &status, reason, sizeof reason) == 0) {
            rc = p4t_status_encode(&status, &text);
            if (rc == 0 && p4t_status_decode(text, strlen(text), &status, NULL, 0) == 0)
                rc2 = p4t_status_encode(&status, &again);
        }
        break;
    case 6:
        if (p4t_alert_decode(data, len, &alert, reason, sizeof reason) == 0) {
            rc = p4t_alert_encode(&alert, &text);
            if (rc == 0 && p4t_alert_decode(text, strlen(text), &alert, NULL, 0) == 0)
                rc2 = p4t_alert_encode(&alert, &again);
        }
        break;
    case 7: case 8: case 9: case 10: case 11: {
        enum p4t_down_kind kind = (enum p4t_down_kind)(sel % N_DECODERS - 7);
        if (p4t_down_decode(kind, data, len, &down, reason, sizeof reason) == 0) {
            rc = p4t_down_encode(&down, &text);
            p4t_down_cleanup(&down);
            if (rc == 0 && p4t_down_decode(kind, text, strlen(text), &down, NULL, 0) == 0) {
                rc2 = p4t_down_encode(&down, &again);
                p4t_down_cleanup(&down);
            }
        }
        break;
    }
    case 12:
        if (p4t_price_state_decode(data, len, &price, reason, sizeof reason) == 0) {
            int64_t p, v;
            /* Resolution must cope with any state the decoder lets through. */
            (void)p4t_price_effective(&price, 1795780800000LL, &p, &v);
            rc = p4t_price_state_encode(&price, &text);
            if (rc == 0 && p4t_price_state_decode(text, strlen(text), &price, NULL, 0) == 0)
                rc2 = p4t_price_state_encode(&price, &again);
        }
        break;
    case 13:
        if (p4t_promo_value_decode(data, len, &promo, reason, sizeof reason) == 0) {
            struct p4t_line l = {.sku = "", .qty = 7, .price_minor = 999, .ver = 1};
            struct p4t_charged_line c[2];
            size_t n;
            memcpy(l.sku, promo.sku, sizeof l.sku);
            /* A decoded promo is always within range, so pricing never refuses it. */
            if (p4t_promo_apply(&promo, 1, promo.from_ms, &l, 1, c, 2, &n) != 0)
                abort();
            rc = p4t_promo_value_encode(&promo, &text);
            if (rc == 0 && p4t_promo_value_decode(text, strlen(text), &promo, NULL, 0) == 0)
                rc2 = p4t_promo_value_encode(&promo, &again);
        }
        break;
    case 14:
        if (p4t_customer_value_decode(data, len, &customer, reason, sizeof reason) == 0) {
            rc = p4t_customer_value_encode(&customer, &text);
            if (rc == 0 &&
                p4t_customer_value_decode(text, strlen(text), &customer, NULL, 0) == 0)
                rc2 = p4t_customer_value_encode(&customer, &again);
        }
        break;
    case 15:
        if (p4t_loyalty_value_decode(data, len, &balance, reason, sizeof reason) == 0) {
            rc = p4t_loyalty_value_encode(balance, &text);
            if (rc == 0 && p4t_loyalty_value_decode(text, strlen(text), &balance, NULL, 0) == 0)
                rc2 = p4t_loyalty_value_encode(balance, &again);
        }
        break;
    case 16:
        if (p4t_resync_decode(data, len, &resync, reason, sizeof reason) == 0) {
            rc = p4t_resync_encode(&resync, &text);
            if (rc == 0 && p4t_resync_decode(text, strlen(text), &resync, NULL, 0) == 0)
                rc2 = p4t_resync_encode(&resync, &again);
        }
        break;
    case 17:
        if (p4t_hold_req_decode(data, len, &hold_req, reason, sizeof reason) == 0) {
            rc = p4t_hold_req_encode(&hold_req, &text);
            if (rc == 0 && p4t_hold_req_decode(text, strlen(text), &hold_req, NULL, 0) == 0)
                rc2 = p4t_hold_req_encode(&hold_req, &again);
        }
        break;
    case 18:
        if (p4t_hq_ack_decode(data, len, &hq_ack, reason, sizeof reason) == 0) {
            rc = p4t_hq_ack_encode(&hq_ack, &text);
            if (rc == 0 && p4t_hq_ack_decode(text, strlen(text), &hq_ack, NULL, 0) == 0)
                rc2 = p4t_hq_ack_encode(&hq_ack, &again);
        }
        break;
    case 19:
        /* HQ's path: every item of an accepted envelope is a record that re-encodes to a
         * text the record decoder reads back, or a reject with an item index. */
        if (p4t_batch_open(&batch, data, len, reason, sizeof reason) == 0) {
            char *item = NULL;
            int r;
            while ((r = p4t_batch_next(&batch, &sale, &gw_seq, flags, &n_flags, &item, reason,
                                       sizeof reason)) != P4T_ENOENT) {
                if (r == 0) {
                    for (i = 0; i < n_flags; i++)
                        fl[i] = flags[i];
                    fl[n_flags] = NULL;
                    if (p4t_sale_record_encode(&sale, gw_seq, fl, &text) != 0 ||
                        p4t_sale_record_decode(text, strlen(text), &sale, &gw_seq, NULL, NULL,
                                               NULL, 0) != 0)
                        abort();
                    free(text);
                    text = NULL;
                } else if (strncmp(reason, "items[", 6) != 0) {
                    abort();
                }
                free(item);
                item = NULL;
            }
            p4t_batch_close(&batch);
        }
        break;
    case 20:
        if (p4t_lookup_decode(data, len, &lookup, reason, sizeof reason) == 0) {
            rc = p4t_lookup_encode(&lookup, &text);
            if (rc == 0 && p4t_lookup_decode(text, strlen(text), &lookup, NULL, 0) == 0)
                rc2 = p4t_lookup_encode(&lookup, &again);
        }
        break;
    default:
        if (p4t_hold_reply_decode(data, len, &hold_reply, reason, sizeof reason) == 0) {
            rc = p4t_hold_reply_encode(&hold_reply, &text);
            if (rc == 0 &&
                p4t_hold_reply_decode(text, strlen(text), &hold_reply, NULL, 0) == 0)
                rc2 = p4t_hold_reply_encode(&hold_reply, &again);
        }
        break;
    }
    if (rc != -1 && (rc != 0 || rc2 != 0 || strcmp(text, again) != 0)) {
        fprintf(stderr, "decoder %u accepted input its encoder does not reproduce: %.*s\n",
                sel % N_DECODERS, (int)len, data);
        abort();
    }
    free(text);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    one(data[0], (const char *)data + 1, size - 1);
    return 0;
}

#ifndef P4_LIBFUZZER
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Mutates BUF (LEN bytes, room for CAP) in place the way broken senders do. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
    static const char interesting[] = "{}[]\",:0-9.eE\\ \x00\xff" "a_";
    size_t pos = len ? rnd() % len : 0, n;

    switch (rnd() % 5) {
    case 0: /* overwrite a byte */
        if (len)
            buf[pos] = interesting[rnd() % (sizeof interesting - 1)];
        return len;
    case 1: /* insert a byte */
        if (len + 1 > cap)
            return len;
        memmove(buf + pos + 1, buf + pos, len - pos);
        buf[pos] = interesting[rnd() % (sizeof interesting - 1)];
        return len + 1;
    case 2: /* delete a run */
        n = len - pos < 8 ? len - pos : rnd() % 8;
        memmove(buf + pos, buf + pos + n, len - pos - n);
        return len - n;
    case 3: /* duplicate a run (repeated keys, items) */
        n = rnd() % 24;
        if (pos + n > len || len + n > cap)
            return len;
        memmove(buf + pos + n, buf + pos, len - pos);
        return len + n;
    default: /* bump a digit */
        for (; pos < len; pos++) {
            if (buf[pos] >= '0' && buf[pos] <= '9') {
                buf[pos] = (char)('0' + rnd() % 10);
                break;
            }
        }
        return len;
    }
}

int main(void)
{
    size_t table_len, len, cap, i, k, m, files = 0, runs = 0;
    char *table = fixture_read("cases.txt", &table_len);
    char *save = NULL, *line, *orig, *buf;

    for (line = strtok_r(table, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *file = strchr(line, '|'), *bar;
        if (line[0] == '#' || !file)
            continue;
        file = trim(file + 1);
        bar = strchr(file, '|');
        if (!bar)
            continue;
        *bar = '\0';
        file = trim(file);
        orig = fixture_read(file, &len);
        files++;
        cap = len + 256;
        buf = malloc(cap);
        for (k = 0; k < N_DECODERS; k++) {
            one((unsigned)k, orig, len);
            runs++;
            for (i = 0; i < 40; i++) {
                memcpy(buf, orig, len);
                m = len;
                for (size_t j = 0, n = 1 + rnd() % 3; j < n; j++)
                    m = mutate(buf, m, cap);
                one((unsigned)k, buf, m);
                runs++;
            }
        }
        free(buf);
        free(orig);
    }
    free(table);
    ASSERT_TRUE(files > 300);
    fprintf(stderr, "fuzz smoke: %zu fixtures, %zu decodes\n", files, runs);
    return check_done("fuzz_decode");
}
#endif
