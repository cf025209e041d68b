/* SPDX-License-Identifier: Apache-2.0 */
/* Keeps the contract document honest: every JSON example in topics/README.md decodes. */
#include <cjson/cJSON.h>

#include "check.h"

/* 1 if TEXT (a README example) is a valid message of some kind of the contract. */
static int accepted(const char *text, size_t len, char *why, size_t why_len)
{
    static struct p4t_sale sale;
    struct p4t_ack ack;
    struct p4t_changes changes;
    struct p4t_sync_req req;
    struct p4t_status status;
    static struct p4t_alert alert;
    static struct p4t_hold_req hold_req;
    static struct p4t_hold_reply hold_reply;
    struct p4t_resync resync;
    struct p4t_hq_ack hq_ack;
    struct p4t_down down;
    cJSON *root, *items, *it;
    int ok = 0, k;

    if (p4t_sale_decode(text, len, &sale, why, why_len) == 0 ||
        p4t_ack_decode(text, len, &ack, NULL, 0) == 0 ||
        p4t_sync_req_decode(text, len, &req, NULL, 0) == 0 ||
        p4t_status_decode(text, len, &status, NULL, 0) == 0 ||
        p4t_alert_decode(text, len, &alert, NULL, 0) == 0 ||
        p4t_resync_decode(text, len, &resync, NULL, 0) == 0 ||
        p4t_hold_req_decode(text, len, &hold_req, NULL, 0) == 0 ||
        p4t_hold_reply_decode(text, len, &hold_reply, NULL, 0) == 0 ||
        p4t_hq_ack_decode(text, len, &hq_ack, NULL, 0) == 0)
        return 1;
    /* A downlink message of some kind (revision 1.1). */
    for (k = P4T_D_PRICE; k <= P4T_D_STOCK; k++) {
        if (p4t_down_decode((enum p4t_down_kind)k, text, len, &down, NULL, 0) == 0) {
            p4t_down_cleanup(&down);
            return 1;
        }
    }
    if (p4t_changes_decode(text, len, &changes, NULL, 0) == 0) {
        p4t_changes_cleanup(&changes);
        return 1;
    }
    /* An uplink batch: {"store":..,"items":[record,...]}. */
    root = cJSON_ParseWithLength(text, len);
    items = cJSON_GetObjectItem(root, "items");
    if (cJSON_IsString(cJSON_GetObjectItem(root, "store")) && cJSON_GetArraySize(items) > 0 &&
        cJSON_GetArraySize(root) == 2) {
        ok = 1;
        cJSON_ArrayForEach(it, items) {
            char *rec = cJSON_PrintUnformatted(it);
            if (p4t_sale_record_decode(rec, strlen(rec), &sale, NULL, NULL, NULL, why,
                                       why_len) != 0)
                ok = 0;
            free(rec);
        }
    }
    cJSON_Delete(root);
    return ok;
}

int main(void)
{
    size_t len, n = 0;
    char *doc = fixture_read("../../../topics/README.md", &len);
    char *p = doc, *end, why[P4T_REASON_MAX];

    while ((p = strstr(p, "```json\n")) != NULL) {
        p += 8;
        end = strstr(p, "\n```");
        if (!end)
            break;
        n++;
        why[0] = '\0';
        check_count++;
        if (!accepted(p, (size_t)(end - p), why, sizeof why))
            CHECK_FAIL("README example %zu rejected (as a sale: %s): %.*s", n, why,
                       (int)(end - p), p);
        p = end;
    }
    ASSERT_TRUE(n >= 22);
    free(doc);
    return check_done("test_readme");
}
