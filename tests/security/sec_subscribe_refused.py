# SPDX-License-Identifier: Apache-2.0
"""A broker ACL that refuses the gateway's subscriptions is reported, retried and recovered.

Mosquitto's acl_file grants every SUBSCRIBE and filters at delivery; its dynamic security
plugin refuses one in the SUBACK, as a hosted cloud broker (or a store broker set up with the
plugin) does. Here the store broker denies the gateway's account (p4gw) the registers' sales
filter, and the cloud broker (MQTT 5 on that link) denies anonymous clients the store's
downlink (p4/v1/T/S/down/+): 0x80 and reason code 0x87 in the SUBACKs. Without a check the
gateway stays "online" but deaf. The test checks that:

- the log says so once per subscription (the topic and the account), however often the
  gateway asks again;
- the gateway asks again (the refusals counter grows) with the connection kept;
- /metrics flags each refused subscription (and no other) and `p4gw status` names it;
- once the ACLs are fixed on the running brokers (mosquitto_ctrl), the gateway is granted both
  subscriptions without a restart: a register's sale is acknowledged, and HQ's watermark
  (down/ack, on the formerly refused topic) empties the outbox.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import p4harness as h  # noqa: E402

TENANT, STORE = "acme", "s001"
SALE_FILTER = "pos/v1/%s/reg/+/sale" % STORE
DOWN_FILTER = "p4/v1/%s/%s/down/+" % (TENANT, STORE)
DYNSEC = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
ADMIN, ADMIN_PW = "admin", "admin-secret-1"
GW_PW = "gw-secret-1"


def dynsec_config(path, deny_role, deny_filter):
    """Writes a dynamic security config: an admin, everything allowed by default, and a role
    DENY_ROLE that refuses the subscription DENY_FILTER."""
    res = subprocess.run(["mosquitto_ctrl", "dynsec", "init", path, ADMIN, ADMIN_PW],
                         capture_output=True, text=True, timeout=30)
    h.check(res.returncode == 0, "mosquitto_ctrl dynsec init: %s" % res.stderr)
    with open(path) as f:
        conf = json.load(f)
    conf["defaultACLAccess"] = {"publishClientSend": True, "publishClientReceive": True,
                                "subscribe": True, "unsubscribe": True}
    conf["roles"].append({"rolename": deny_role, "acls": [
        {"acltype": "subscribeLiteral", "topic": deny_filter, "allow": False,
         "priority": 10}]})
    return conf


def ctrl(broker, *args):
    res = subprocess.run(["mosquitto_ctrl", "-h", "127.0.0.1", "-p", str(broker.port),
                          "-u", ADMIN, "-P", ADMIN_PW, "dynsec"] + list(args),
                         capture_output=True, text=True, timeout=30)
    h.check(res.returncode == 0 and "Error" not in res.stdout,
            "mosquitto_ctrl %s: %s %s" % (args, res.stdout, res.stderr))


def refused(metrics, link, topic):
    return metrics.get('p4gw_subscription_refused{link="%s",topic="%s"}' % (link, topic))


def main():
    h.check(os.path.exists(DYNSEC), "mosquitto's dynamic security plugin is not installed")
    d = h.subdir("etc")
    secret = os.path.join(d, "p4gw.password")
    with open(secret, "w") as f:
        f.write(GW_PW + "\n")
    os.chmod(secret, 0o600)

    store_conf = os.path.join(d, "store-dynsec.json")
    conf = dynsec_config(store_conf, "gw", SALE_FILTER)
    with open(store_conf, "w") as f:
        json.dump(conf, f)
    cloud_conf = os.path.join(d, "cloud-dynsec.json")
    conf = dynsec_config(cloud_conf, "no-down", DOWN_FILTER)
    conf["groups"] = conf.get("groups", []) + [
        {"groupname": "anon", "roles": [{"rolename": "no-down"}]}]
    conf["anonymousGroup"] = "anon"
    with open(cloud_conf, "w") as f:
        json.dump(conf, f)
    plugin = "plugin %s\nplugin_opt_config_file %s\n"
    store = h.Mosquitto("store", extra_conf=plugin % (DYNSEC, store_conf))
    cloud = h.Mosquitto("cloud", extra_conf=plugin % (DYNSEC, cloud_conf))
    ctrl(store, "createClient", "p4gw", "-p", GW_PW)
    ctrl(store, "addClientRole", "p4gw", "gw")
    hq = h.HQAcker(cloud, TENANT, STORE)
    port = h.free_port()
    gw = h.Gateway(store.uri, cloud.uri, TENANT, STORE, extra={
        "local": {"username": "p4gw", "password_file": secret},
        "cloud": {"mqtt_version": "5"},
        "metrics": {"listen": "127.0.0.1:%d" % port}})
    gw.start()

    # Refused on both links, and asked again: the refusals grow while the links stay up.
    def both_refused_twice():
        m = h.scrape_metrics(port)
        return (refused(m, "local", SALE_FILTER) == 1 and refused(m, "cloud", DOWN_FILTER) == 1
                and m.get('p4gw_subscription_refusals_total{link="local"}', 0) >= 2
                and m.get('p4gw_subscription_refusals_total{link="cloud"}', 0) >= 2)
    h.wait_until(both_refused_twice, 20, "both refusals reported and retried",
                 detail=lambda: {k: v for k, v in h.scrape_metrics(port).items()
                                 if "subscription" in k})
    m = h.scrape_metrics(port)
    h.check(m.get("p4gw_cloud_link_up") == 1 and m.get("p4gw_local_link_up") == 1,
            "a refused subscription dropped a link: %r" % m)
    for link, topic in (("local", "pos/v1/%s/reg/+/sync" % STORE),
                        ("local", "pos/v1/%s/reg/+/hold" % STORE),
                        ("cloud", "p4/v1/%s/_all/down/+" % TENANT)):
        h.check(refused(m, link, topic) == 0, "%s %s flagged refused" % (link, topic))

    text = gw.log_text()
    local_line = ("store broker refused the subscription topic=%s account=username=p4gw"
                  % SALE_FILTER)
    cloud_line = "cloud broker refused the subscription topic=%s account=client_id=" % DOWN_FILTER
    h.check(text.count(local_line) == 1,
            "expected one error naming the sale topic and the account, got %d:\n%s"
            % (text.count(local_line), text[-2000:]))
    h.check(text.count(cloud_line) == 1,
            "expected one error naming the downlink topic, got %d" % text.count(cloud_line))
    h.check("code=0x80" in text and "code=0x87" in text,
            "the refusal codes (3.1.1 0x80, 5 not authorized 0x87) are not logged")

    res = gw.run("status")
    h.check(res.returncode == 0, "p4gw status failed: %s" % res.stderr)
    for side, topic in (("store", SALE_FILTER), ("cloud", DOWN_FILTER)):
        want = "subscription: REFUSED by the %s broker topic=%s" % (side, topic)
        h.check(want in res.stdout, "p4gw status lacks %r:\n%s" % (want, res.stdout))
    h.log("refused: logged once each, retried, in /metrics and p4gw status")

    # Fix both ACLs on the running brokers. The gateway asks again by itself.
    ctrl(store, "removeRoleACL", "gw", "subscribeLiteral", SALE_FILTER)
    ctrl(cloud, "removeRoleACL", "no-down", "subscribeLiteral", DOWN_FILTER)

    def granted():
        m = h.scrape_metrics(port)
        return refused(m, "local", SALE_FILTER) == 0 and refused(m, "cloud", DOWN_FILTER) == 0
    h.wait_until(granted, 45, "both subscriptions granted after the ACL fix")
    text = gw.log_text()
    h.check("granted the subscription topic=%s" % SALE_FILTER in text and
            "granted the subscription topic=%s" % DOWN_FILTER in text,
            "the recovery is not logged")
    res = gw.run("status")
    h.check("REFUSED" not in res.stdout, "p4gw status still says REFUSED:\n%s" % res.stdout)

    reg = h.Register(store, STORE, "r1")
    ids = reg.sell(5)
    reg.wait_acked(ids)
    h.wait_until(lambda: set(ids) <= hq.ids(), 20, "the sales at HQ")
    # HQ's watermark arrives on the formerly refused down/+ and empties the outbox.
    h.wait_until(lambda: h.scrape_metrics(port).get("p4gw_outbox_depth") == 0 and
                 h.scrape_metrics(port).get("p4gw_hq_through_gw_seq", 0) >= 5, 20,
                 "HQ's watermark to reach the gateway",
                 detail=lambda: h.scrape_metrics(port).get("p4gw_outbox_depth"))
    h.log("after the ACL fix: subscriptions granted without a restart, sales acked, "
          "HQ's watermark received")
    reg.close()
    hq.close()
    gw.stop()


if __name__ == "__main__":
    h.run_test(main)
