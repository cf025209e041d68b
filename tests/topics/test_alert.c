/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the staff alert codec. */
#include "check.h"

static struct p4t_alert alert;

static int alert_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    int rc = p4t_alert_decode(buf, len, &alert, reason, reason_len);

    *text = NULL;
    if (rc)
        return rc;
    return p4t_alert_encode(&alert, text);
}

int main(void)
{
    char reason[P4T_REASON_MAX], *buf, *text = NULL;
    size_t len;

    ASSERT_TRUE(run_cases("alert", alert_rt) >= 14);

    buf = fixture_read("alert_oversell.json", &len);
    ASSERT_INT_EQ(p4t_alert_decode(buf, len, &alert, reason, sizeof reason), 0);
    ASSERT_STR_EQ(alert.kind, "oversell");
    ASSERT_STR_EQ(alert.severity, "warning");
    ASSERT_STR_EQ(alert.store, "s001");
    ASSERT_STR_EQ(alert.sku, "coffee-250g");
    ASSERT_INT_EQ(alert.n_sales, 1);
    ASSERT_STR_EQ(alert.sales[0], "0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d");
    ASSERT_STR_EQ(alert.details, "{\"on_hand\":-1}");
    free(buf);

    /* An outbox_cap alert as the gateway builds it. */
    memset(&alert, 0, sizeof alert);
    snprintf(alert.id, sizeof alert.id, "0190a5c4-6e20-7c11-8a00-0123456789ab");
    snprintf(alert.kind, sizeof alert.kind, "outbox_cap");
    snprintf(alert.severity, sizeof alert.severity, "critical");
    snprintf(alert.ts, sizeof alert.ts, "2026-11-27T12:00:02.500Z");
    snprintf(alert.store, sizeof alert.store, "s001");
    snprintf(alert.message, sizeof alert.message, "1000000 sales wait for the cloud");
    snprintf(alert.details, sizeof alert.details, "{\"outbox\":1000000,\"cap\":1000000}");
    ASSERT_INT_EQ(p4t_alert_encode(&alert, &text), 0);
    buf = fixture_read("alert_outbox_cap.json", &len);
    ASSERT_STR_EQ(text, buf);
    free(buf);
    free(text);

    /* The encoder refuses what the decoder would refuse. */
    snprintf(alert.details, sizeof alert.details, "[1,2]");
    ASSERT_INT_EQ(p4t_alert_encode(&alert, &text), P4T_EINVAL);
    snprintf(alert.details, sizeof alert.details, "{not json");
    ASSERT_INT_EQ(p4t_alert_encode(&alert, &text), P4T_EINVAL);
    snprintf(alert.details, sizeof alert.details, "{\"pct\":1.5}");
    ASSERT_INT_EQ(p4t_alert_encode(&alert, &text), P4T_EINVAL);
    alert.details[0] = '\0';
    alert.n_sales = P4T_ALERT_MAX_SALES + 1;
    ASSERT_INT_EQ(p4t_alert_encode(&alert, &text), P4T_EINVAL);
    alert.n_sales = 1;
    snprintf(alert.sales[0], sizeof alert.sales[0], "not-a-uuid");
    ASSERT_INT_EQ(p4t_alert_encode(&alert, &text), P4T_EINVAL);
    alert.n_sales = 0;
    snprintf(alert.severity, sizeof alert.severity, "fatal");
    ASSERT_INT_EQ(p4t_alert_encode(&alert, &text), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);
    return check_done("test_alert");
}
