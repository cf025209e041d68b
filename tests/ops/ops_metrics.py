# SPDX-License-Identifier: Apache-2.0
"""The metrics endpoint ([metrics] listen) and `p4gw status` show live figures.

curl on /metrics while a register sells: sales ingested grow, commits are counted in the
latency histogram, both links are up. With the WAN cut (a relay in front of the cloud broker)
the cloud link shows down, the outbox depth and the oldest undelivered age grow and an
oversell alert is counted by kind; after the WAN returns the depth drains to 0 and the cloud
link counts a reconnect. `p4gw status` prints the same figures; with the gateway stopped it
reports "not running" and the replica's figures. A non-loopback listen address is refused."""

import subprocess

import p4harness as h
from p4harness import check, log, wait_until

TENANT = "acme"
STORE = "s001"


def scrape(port):
    """GET /metrics with curl: {"name{labels}": float}."""
    res = subprocess.run(["curl", "-sf", "--max-time", "3", "http://127.0.0.1:%d/metrics" % port],
                         capture_output=True, text=True)
    check(res.returncode == 0, "curl exited %d: %s" % (res.returncode, res.stderr.strip()))
    out = {}
    for line in res.stdout.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def main():
    h.p4gw_path()
    h.require_tool("curl")
    store = h.Mosquitto("store")
    cloud = h.Mosquitto("cloud")
    relay = h.Relay(cloud.port)
    hq = h.CloudConsumer(cloud, TENANT, STORE)
    port = h.free_port()
    gw = h.Gateway(store.uri, relay.uri, TENANT, STORE,
                   extra={"metrics": {"listen": "127.0.0.1:%d" % port},
                          "cloud": {"keepalive_s": "2", "reconnect_max_s": "1"}})
    gw.import_stock([("coffee", 5, 899, 1), ("milk", 1000, 129, 1)])
    gw.start()
    m0 = scrape(port)
    check(m0["p4gw_cloud_link_up"] == 1 and m0["p4gw_local_link_up"] == 1,
          "links at start: %r" % {k: v for k, v in m0.items() if "link" in k})
    check(m0["p4gw_sales_ingested_total"] == 0, "sales before any sale: %r" % m0)

    reg = h.Register(store, STORE, "r1", skus=[("milk", 129, 1)])
    reg.sell(30)
    reg.wait_acked(timeout_s=20)
    m1 = wait_until(lambda: (lambda m: m if m["p4gw_sales_ingested_total"] >= 30 else None)(
        scrape(port)), 10, "30 sales in the metrics")
    check(m1["p4gw_commit_seconds_count"] >= 1 and
          m1['p4gw_commit_seconds_bucket{le="+Inf"}'] == m1["p4gw_commit_seconds_count"],
          "commit histogram: %r" % {k: v for k, v in m1.items() if "commit" in k})
    check(m1["p4gw_gw_seq_head"] == 30, "gw_seq head %r" % m1["p4gw_gw_seq_head"])
    wait_until(lambda: scrape(port)["p4gw_delivered_gw_seq"] == 30, 10, "delivered 30")

    # ---- WAN cut: the backlog and its age grow; an oversell is counted ----
    relay.cut("close")
    wait_until(lambda: scrape(port)["p4gw_cloud_link_up"] == 0, 20, "cloud link down")
    for _ in range(10):  # 5 in stock: the sixth crosses below zero
        reg.send(reg.make_sale(lines=[("coffee", 1, 899, 1)]))
    reg.wait_acked(timeout_s=20)
    m2 = wait_until(lambda: (lambda m: m if m["p4gw_outbox_oldest_age_seconds"] >= 2 else None)(
        scrape(port)), 15, "the oldest undelivered sale to age 2 s")
    check(m2["p4gw_outbox_depth"] >= 10, "outbox depth %r" % m2["p4gw_outbox_depth"])
    check(m2['p4gw_alerts_total{kind="oversell"}'] >= 1, "oversell alert not counted: %r"
          % {k: v for k, v in m2.items() if "alert" in k})
    res = gw.run("status")
    check(res.returncode == 0 and "cloud=DOWN" in res.stdout and "ingested=40" in res.stdout,
          "status while the WAN is down: %s" % res.stdout)
    log("status during the outage:\n" + res.stdout.rstrip())

    # ---- WAN back: the depth drains and the reconnect is counted ----
    relay.restore()
    m3 = wait_until(lambda: (lambda m: m if m["p4gw_outbox_depth"] == 0 and
                             m["p4gw_cloud_link_up"] == 1 else None)(scrape(port)), 30,
                    "the outbox to drain")
    check(m3['p4gw_link_reconnects_total{link="cloud"}'] >= 1, "cloud reconnect not counted")
    check(m3["p4gw_outbox_oldest_age_seconds"] == 0, "age with an empty outbox")
    check(m3["p4gw_delivered_gw_seq"] == 40, "delivered %r" % m3["p4gw_delivered_gw_seq"])
    wait_until(lambda: len(hq.gw_seqs()) == 40, 10, "40 sales at HQ")
    log("figures: ingested=%d commits=%d depth_peak=%d age_peak=%ds oversell=%d"
        % (m3["p4gw_sales_ingested_total"], m3["p4gw_commit_seconds_count"],
           m2["p4gw_outbox_depth"], m2["p4gw_outbox_oldest_age_seconds"],
           m3['p4gw_alerts_total{kind="oversell"}']))

    # ---- stopped: status reads the replica ----
    check(gw.stop() == 0, "p4gw did not stop cleanly")
    res = gw.run("status")
    check(res.returncode == 0 and "not running" in res.stdout and "stored=40" in res.stdout
          and "depth=0" in res.stdout, "status of a stopped gateway: %s" % res.stdout)

    # ---- a listen address off the machine is refused at start ----
    bad = h.Gateway(store.uri, relay.uri, TENANT, STORE, name="gw-bad",
                    extra={"metrics": {"listen": "0.0.0.0:%d" % port}})
    proc = subprocess.run([bad.bin, "--config", bad.ini], capture_output=True, text=True,
                          timeout=30)
    check(proc.returncode == 1 and "loopback" in proc.stderr,
          "non-loopback listen: rc %d %s" % (proc.returncode, proc.stderr[-300:]))


if __name__ == "__main__":
    h.run_test(main)
