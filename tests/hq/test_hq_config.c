/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of p4hq.ini loading: the shipped file is valid, and mistakes name file, line and
 * key. */
#include "p4check.h"
#include "p4hq.h"

#include <MQTTAsync.h>

static int load_text(const char *text, struct p4hq_config *cfg, char *err, size_t err_len)
{
    char path[] = "/tmp/p4hq-test-XXXXXX";
    int fd = mkstemp(path), rc;

    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return -99;
    close(fd);
    config_defaults(cfg);
    rc = config_load(cfg, path, err, err_len);
    unlink(path);
    return rc;
}

#define BASE "[tenant]\nid = acme\n[cloud]\nuri = tcp://127.0.0.1:1883\n[db]\nconninfo = x\n"

int main(void)
{
    static struct p4hq_config cfg;
    char err[512], path[600];
    int bp = -1;

    snprintf(path, sizeof path, "%s/../../conf/p4hq.ini", fixture_dir());
    config_defaults(&cfg);
    CHECK_INT(config_load(&cfg, path, err, sizeof err), 0);
    CHECK_STR(cfg.tenant, "acme");
    CHECK_INT(cfg.mqtt_version, MQTTVERSION_5);
    CHECK_STR(cfg.accounts.revenue, "4000");

    CHECK_INT(load_text(BASE, &cfg, err, sizeof err), 0);
    CHECK(strncmp(cfg.client_id, "p4hq-acme-", 10) == 0); /* stable: the session survives */
    CHECK_INT(cfg.default_tax_bp, 0);
    CHECK_INT(load_text(BASE "[cloud]\nshare_group = hq-sales\nmqtt_version = 3.1.1\n", &cfg, err,
                        sizeof err),
              0);
    CHECK_STR(cfg.share_group, "hq-sales");
    CHECK_INT(cfg.mqtt_version, MQTTVERSION_3_1_1);

    CHECK_INT(load_text(BASE "[ledger]\ndefault_tax_rate = 7.5\n", &cfg, err, sizeof err), 0);
    CHECK_INT(cfg.default_tax_bp, 750);
    CHECK_INT(load_text(BASE "[ledger]\ndefault_tax_rate = 7.555\n", &cfg, err, sizeof err),
              P4HQ_EINVAL);
    CHECK_CONTAINS(err, ":8: [ledger] default_tax_rate:");
    CHECK_INT(load_text("[tenant]\nid = Acme\n", &cfg, err, sizeof err), P4HQ_EINVAL);
    CHECK_CONTAINS(err, ":2: [tenant] id:");
    CHECK_INT(load_text(BASE "[cloud]\nurl = tcp://x:1\n", &cfg, err, sizeof err), P4HQ_EINVAL);
    CHECK_CONTAINS(err, ":8: [cloud] url: unknown key");
    CHECK_INT(load_text(BASE "[cloud]\nuri = http://x\n", &cfg, err, sizeof err), P4HQ_EINVAL);
    CHECK_CONTAINS(err, "[cloud] uri: given twice");
    CHECK_INT(load_text("[tenant]\nid = acme\n[db]\nconninfo = x\n", &cfg, err, sizeof err),
              P4HQ_EINVAL);
    CHECK_CONTAINS(err, "[cloud] uri: missing");
    CHECK_INT(load_text(BASE "[db]\npassword_file = /nonexistent/pw\n", &cfg, err, sizeof err),
              P4HQ_EINVAL);
    CHECK_CONTAINS(err, "[db] password_file: cannot read");
    CHECK_INT(load_text(BASE "[accounts]\ncash = 10 00\n", &cfg, err, sizeof err), P4HQ_EINVAL);
    CHECK_CONTAINS(err, "[accounts] cash:");
    CHECK_INT(load_text(BASE "[nosuch]\nx = 1\n", &cfg, err, sizeof err), P4HQ_EINVAL);
    CHECK_CONTAINS(err, "[nosuch]: unknown section");

    /* A cluster: several nodes, failed over in order; TLS for all or none. */
    CHECK_INT(load_text("[tenant]\nid = acme\n[cloud]\nuri = tcp://a:1883, tcp://b:1884\n"
                        "[db]\nconninfo = x\n",
                        &cfg, err, sizeof err),
              0);
    CHECK_INT(cfg.n_cloud_uris, 2);
    CHECK_STR(cfg.cloud_uris[1], "tcp://b:1884");
    CHECK_INT(load_text("[tenant]\nid = acme\n[cloud]\nuri = tcp://a:1883, ssl://b:8883\n",
                        &cfg, err, sizeof err),
              P4HQ_EINVAL);
    CHECK_CONTAINS(err, "every URI uses TLS or none");
    CHECK_INT(load_text("[tenant]\nid = acme\n[cloud]\nuri = tcp://a:1883, http://b\n", &cfg,
                        err, sizeof err),
              P4HQ_EINVAL);
    CHECK_CONTAINS(err, "\"http://b\" must start with");

    CHECK_INT(config_parse_percent("20", &bp), 0);
    CHECK_INT(bp, 2000);
    CHECK_INT(config_parse_percent("0.05", &bp), 0);
    CHECK_INT(bp, 5);
    CHECK_INT(config_parse_percent("100", &bp), 0);
    CHECK_INT(config_parse_percent("100.01", &bp), P4HQ_EINVAL);
    CHECK_INT(config_parse_percent("7.", &bp), P4HQ_EINVAL);
    CHECK_INT(config_parse_percent("-1", &bp), P4HQ_EINVAL);
    CHECK_INT(config_parse_percent("", &bp), P4HQ_EINVAL);
    CHECK_INT(config_parse_percent("1e2", &bp), P4HQ_EINVAL);
    CHECK_DONE();
}
