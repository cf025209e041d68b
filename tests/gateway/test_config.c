/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of the gateway config loader: defaults, good files and every error kind. */
#include "p4gw.h"

#include <MQTTAsync.h>

#include "p4check.h"
#include "p4common.h"

static void fixture(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/fixtures/%s", fixture_dir(), name);
}

static void test_good(void)
{
    struct p4gw_config cfg;
    char path[PATH_MAX], err[P4GW_ERR_MAX];

    fixture(path, sizeof(path), "good.ini");
    CHECK_INT(p4gw_config_load(path, &cfg, err, sizeof(err)), 0);
    CHECK_STR(err, "");
    CHECK_STR(cfg.tenant, "acme");
    CHECK_STR(cfg.store, "s001");
    CHECK_STR(cfg.local_uri, "tcp://127.0.0.1:1883");
    CHECK_STR(cfg.local_client_id, "p4gw-s001");
    CHECK_STR(cfg.local_username, "");
    CHECK_STR(cfg.cloud_client_id, "p4gw-acme-s001");
    CHECK(cfg.cloud_tls);
    CHECK_INT(cfg.mqtt_version, MQTTVERSION_5);
    CHECK_INT(cfg.max_inflight, 64);
    CHECK_INT(cfg.batch_max_items, 250);
    CHECK_INT(cfg.batch_max_bytes, 262144);
    CHECK(!cfg.durability_full);
    CHECK_INT(cfg.log_level, P4_LOG_DEBUG);
}

static void test_defaults(void)
{
    struct p4gw_config cfg;
    char path[PATH_MAX], err[P4GW_ERR_MAX];

    fixture(path, sizeof(path), "minimal.ini");
    CHECK_INT(p4gw_config_load(path, &cfg, err, sizeof(err)), 0);
    CHECK(!cfg.cloud_tls);
    CHECK_INT(cfg.mqtt_version, MQTTVERSION_3_1_1);
    CHECK_INT(cfg.max_inflight, 32);
    CHECK_INT(cfg.keepalive_s, 10);
    CHECK_INT(cfg.session_expiry_s, 604800);
    CHECK_INT(cfg.reconnect_max_s, 5);
    CHECK(cfg.durability_full);
    CHECK_INT(cfg.outbox_cap, 1000000);
    CHECK_INT(cfg.changes_keep, 100000);
    CHECK_INT(cfg.commit_max_items, 1000);
    CHECK_INT(cfg.log_level, P4_LOG_INFO);
    CHECK_INT(cfg.resync_after_s, 3600);
    CHECK(!cfg.delivered_on_puback);
    CHECK_INT(cfg.hq_resend_s, 60);
    CHECK(!cfg.negative_stock_hold);
    CHECK(!cfg.offline_loyalty_allow);
    CHECK(!cfg.registers_v11);
    CHECK_STR(cfg.local_client_id, "p4gw-s002");
    CHECK_STR(cfg.cloud_client_id, "p4gw-acme-s002");
}

static void test_policy(void)
{
    struct p4gw_config cfg;
    char path[PATH_MAX], err[P4GW_ERR_MAX];

    fixture(path, sizeof(path), "policy.ini");
    CHECK_INT(p4gw_config_load(path, &cfg, err, sizeof(err)), 0);
    CHECK_STR(err, "");
    CHECK_INT(cfg.resync_after_s, 120);
    CHECK(cfg.delivered_on_puback);
    CHECK_INT(cfg.hq_resend_s, 5);
    CHECK(cfg.negative_stock_hold);
    CHECK(cfg.offline_loyalty_allow);
    CHECK(cfg.registers_v11);
}

/* [cloud] uri listing a cluster's nodes: commas and/or blanks between them, kept in order; the
 * first is also cloud_uri. A single URI is a list of one. */
static void test_cluster_uris(void)
{
    struct p4gw_config cfg;
    char path[PATH_MAX], err[P4GW_ERR_MAX];

    fixture(path, sizeof(path), "cluster.ini");
    CHECK_INT(p4gw_config_load(path, &cfg, err, sizeof(err)), 0);
    CHECK_STR(err, "");
    CHECK_INT(cfg.n_cloud_uris, 4);
    CHECK_STR(cfg.cloud_uris[0], "tcp://10.0.0.1:1883");
    CHECK_STR(cfg.cloud_uris[1], "tcp://10.0.0.2:1884");
    CHECK_STR(cfg.cloud_uris[2], "tcp://[::1]:1885");
    CHECK_STR(cfg.cloud_uris[3], "mqtt://node4:1883");
    CHECK_STR(cfg.cloud_uri, "tcp://10.0.0.1:1883");
    CHECK(!cfg.cloud_tls);

    fixture(path, sizeof(path), "minimal.ini");
    CHECK_INT(p4gw_config_load(path, &cfg, err, sizeof(err)), 0);
    CHECK_INT(cfg.n_cloud_uris, 1);
    CHECK_STR(cfg.cloud_uris[0], "tcp://127.0.0.1:1884");
    CHECK_STR(cfg.cloud_uri, "tcp://127.0.0.1:1884");

    fixture(path, sizeof(path), "good.ini");
    CHECK_INT(p4gw_config_load(path, &cfg, err, sizeof(err)), 0);
    CHECK_INT(cfg.n_cloud_uris, 1);
    CHECK(cfg.cloud_tls);
}

/* Every line of fixtures/expected.txt: "file | expected error text after <dir>/". */
static void test_errors(void)
{
    char table[PATH_MAX], line[512];
    FILE *f;
    int n = 0;

    fixture(table, sizeof(table), "expected.txt");
    f = fopen(table, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        struct p4gw_config cfg;
        char path[PATH_MAX], err[P4GW_ERR_MAX];
        char *sep, *want;
        size_t len = strlen(line);

        if (line[0] == '#' || len < 3)
            continue;
        if (line[len - 1] == '\n')
            line[len - 1] = '\0';
        sep = strstr(line, " | ");
        CHECK(sep != NULL);
        if (!sep)
            continue;
        *sep = '\0';
        want = sep + 3;
        fixture(path, sizeof(path), line);
        CHECK_INT(p4gw_config_load(path, &cfg, err, sizeof(err)), P4GW_EINVAL);
        CHECK(strchr(err, '\n') == NULL);
        /* The message starts with the path as given, then file:line. */
        CHECK(strncmp(err, path, strlen(path) - strlen(line)) == 0);
        CHECK_CONTAINS(err, want);
        n++;
    }
    fclose(f);
    CHECK(n >= 8);
}

static void test_missing_file(void)
{
    struct p4gw_config cfg;
    char err[P4GW_ERR_MAX];

    CHECK_INT(p4gw_config_load("/nonexistent/p4gw.ini", &cfg, err, sizeof(err)), P4GW_EIO);
    CHECK_CONTAINS(err, "/nonexistent/p4gw.ini:0: cannot open");
}

int main(void)
{
    test_good();
    test_defaults();
    test_policy();
    test_cluster_uris();
    test_errors();
    test_missing_file();
    CHECK_DONE();
}
