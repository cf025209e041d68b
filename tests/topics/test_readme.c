/* SPDX-License-Identifier: Apache-2.0 */
/* Keeps the contract document honest: each JSON example in topics/README.md decodes as the
 * message type it is tagged with.
 *
 * Tagging: every example's fence names its type after the language, e.g.
 *
 *     ```json sale
 *     {"id":...}
 *     ```
 *
 * The tag is one of the names in `decoders` below (sale, ack, changes, sync_req, sync_reply,
 * status, alert, hold_req, hold_reply, batch, resync, down/price, down/promo, down/customer,
 * down/loyalty, down/stock, down/ack, lookup, down/caps). The example is given to that decoder only; an untagged ```json
 * fence or an unknown tag fails the test, and so does a type with no example. A new message
 * type (a new contract revision) adds a line to `decoders` and tags its examples with it. */
#include <cjson/cJSON.h>

#include "check.h"

typedef int (*decode_fn)(const char *text, size_t len, char *why, size_t why_len);

static int dec_sale(const char *text, size_t len, char *why, size_t why_len)
{
    static struct p4t_sale sale;

    return p4t_sale_decode(text, len, &sale, why, why_len);
}

static int dec_ack(const char *text, size_t len, char *why, size_t why_len)
{
    struct p4t_ack ack;

    return p4t_ack_decode(text, len, &ack, why, why_len);
}

/* A change message (IS_REPLY false) or a sync reply (true): one decoder, told apart by the
 * reply's fields. */
static int dec_changes_as(const char *text, size_t len, char *why, size_t why_len, bool is_reply)
{
    struct p4t_changes changes;
    int rc = p4t_changes_decode(text, len, &changes, why, why_len);

    if (rc != 0)
        return rc;
    if (changes.is_reply != is_reply) {
        snprintf(why, why_len, "decodes as a %s", changes.is_reply ? "sync reply" : "change");
        rc = -1;
    }
    p4t_changes_cleanup(&changes);
    return rc;
}

static int dec_changes(const char *text, size_t len, char *why, size_t why_len)
{
    return dec_changes_as(text, len, why, why_len, false);
}

static int dec_sync_reply(const char *text, size_t len, char *why, size_t why_len)
{
    return dec_changes_as(text, len, why, why_len, true);
}

static int dec_sync_req(const char *text, size_t len, char *why, size_t why_len)
{
    struct p4t_sync_req req;

    return p4t_sync_req_decode(text, len, &req, why, why_len);
}

static int dec_status(const char *text, size_t len, char *why, size_t why_len)
{
    struct p4t_status status;

    return p4t_status_decode(text, len, &status, why, why_len);
}

static int dec_alert(const char *text, size_t len, char *why, size_t why_len)
{
    static struct p4t_alert alert;

    return p4t_alert_decode(text, len, &alert, why, why_len);
}

static int dec_hold_req(const char *text, size_t len, char *why, size_t why_len)
{
    static struct p4t_hold_req req;

    return p4t_hold_req_decode(text, len, &req, why, why_len);
}

static int dec_hold_reply(const char *text, size_t len, char *why, size_t why_len)
{
    static struct p4t_hold_reply reply;

    return p4t_hold_reply_decode(text, len, &reply, why, why_len);
}

static int dec_resync(const char *text, size_t len, char *why, size_t why_len)
{
    struct p4t_resync resync;

    return p4t_resync_decode(text, len, &resync, why, why_len);
}

/* An uplink batch: {"store":..,"items":[record,...]}, each record through the record decoder
 * (the library builds batches but has no batch decoder: HQ reads them record by record). */
static int dec_batch(const char *text, size_t len, char *why, size_t why_len)
{
    static struct p4t_sale sale;
    cJSON *root = cJSON_ParseWithLength(text, len);
    cJSON *items = cJSON_GetObjectItem(root, "items"), *it;
    int rc = 0;

    if (!cJSON_IsString(cJSON_GetObjectItem(root, "store")) || cJSON_GetArraySize(items) < 1 ||
        cJSON_GetArraySize(root) != 2) {
        snprintf(why, why_len, "not {\"store\":..,\"items\":[record,...]}");
        rc = -1;
        goto out;
    }
    cJSON_ArrayForEach(it, items) {
        char *rec = cJSON_PrintUnformatted(it);

        if (!rec || p4t_sale_record_decode(rec, strlen(rec), &sale, NULL, NULL, NULL, why,
                                           why_len) != 0)
            rc = -1;
        free(rec);
        if (rc)
            break;
    }
out:
    cJSON_Delete(root);
    return rc;
}

static int dec_down(enum p4t_down_kind kind, const char *text, size_t len, char *why,
                    size_t why_len)
{
    struct p4t_down down;
    int rc = p4t_down_decode(kind, text, len, &down, why, why_len);

    if (rc == 0)
        p4t_down_cleanup(&down);
    return rc;
}

#define DOWN_DECODER(name, kind)                                                               \
    static int dec_down_##name(const char *text, size_t len, char *why, size_t why_len)        \
    {                                                                                          \
        return dec_down(kind, text, len, why, why_len);                                        \
    }
DOWN_DECODER(price, P4T_D_PRICE)
DOWN_DECODER(promo, P4T_D_PROMO)
DOWN_DECODER(customer, P4T_D_CUSTOMER)
DOWN_DECODER(loyalty, P4T_D_LOYALTY)
DOWN_DECODER(stock, P4T_D_STOCK)

static int dec_lookup(const char *text, size_t len, char *why, size_t why_len)
{
    static struct p4t_lookup lookup;

    return p4t_lookup_decode(text, len, &lookup, why, why_len);
}

static int dec_hq_ack(const char *text, size_t len, char *why, size_t why_len)
{
    struct p4t_hq_ack ack;

    return p4t_hq_ack_decode(text, len, &ack, why, why_len);
}

static int dec_caps(const char *text, size_t len, char *why, size_t why_len)
{
    struct p4t_caps caps;

    return p4t_caps_decode(text, len, &caps, why, why_len);
}

static struct {
    const char *tag;
    decode_fn decode;
    size_t n_examples; /* counted while reading the README */
} decoders[] = {
    {"sale", dec_sale, 0},
    {"ack", dec_ack, 0},
    {"changes", dec_changes, 0},
    {"sync_req", dec_sync_req, 0},
    {"sync_reply", dec_sync_reply, 0},
    {"status", dec_status, 0},
    {"alert", dec_alert, 0},
    {"hold_req", dec_hold_req, 0},
    {"hold_reply", dec_hold_reply, 0},
    {"batch", dec_batch, 0},
    {"resync", dec_resync, 0},
    {"down/price", dec_down_price, 0},
    {"down/promo", dec_down_promo, 0},
    {"down/customer", dec_down_customer, 0},
    {"down/loyalty", dec_down_loyalty, 0},
    {"down/stock", dec_down_stock, 0},
    {"down/ack", dec_hq_ack, 0},
    {"lookup", dec_lookup, 0},
    {"down/caps", dec_caps, 0},
};
#define N_DECODERS (sizeof(decoders) / sizeof(decoders[0]))

/* Checks one example: TAG (LINE_LEN bytes, the fence's info string after "json") picks the
 * decoder, TEXT is the example. N is its place in the README, for messages. */
static void check_example(size_t n, const char *tag, size_t tag_len, const char *text,
                          size_t len)
{
    char why[P4T_REASON_MAX];
    size_t i;

    while (tag_len > 0 && *tag == ' ') {
        tag++;
        tag_len--;
    }
    check_count++;
    for (i = 0; i < N_DECODERS; i++) {
        if (strlen(decoders[i].tag) == tag_len && strncmp(decoders[i].tag, tag, tag_len) == 0)
            break;
    }
    if (i == N_DECODERS) {
        CHECK_FAIL("README example %zu: fence tag \"%.*s\" names no message type (write "
                   "```json TYPE, TYPE from test_readme.c): %.*s", n, (int)tag_len, tag,
                   (int)len, text);
        return;
    }
    decoders[i].n_examples++;
    why[0] = '\0';
    if (decoders[i].decode(text, len, why, sizeof why) != 0)
        CHECK_FAIL("README example %zu rejected as %s (%s): %.*s", n, decoders[i].tag, why,
                   (int)len, text);
}

int main(void)
{
    size_t len, n = 0, i;
    char *doc = fixture_read("../../../topics/README.md", &len);
    const char *p = doc, *tag, *text, *end;

    /* Every fence that opens with ```json, at the start of a line. */
    while ((p = strstr(p, "```json")) != NULL) {
        if (p != doc && p[-1] != '\n') {
            p += 7;
            continue;
        }
        tag = p + 7;
        text = strchr(tag, '\n');
        if (!text)
            break;
        text++;
        end = strstr(text, "\n```");
        if (!end)
            break;
        n++;
        check_example(n, tag, (size_t)(text - 1 - tag), text, (size_t)(end - text));
        p = end + 4;
    }
    ASSERT_TRUE(n >= 23);
    for (i = 0; i < N_DECODERS; i++) {
        check_count++;
        if (decoders[i].n_examples == 0)
            CHECK_FAIL("no README example is tagged %s", decoders[i].tag);
    }
    free(doc);
    return check_done("test_readme");
}
