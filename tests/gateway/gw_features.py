# SPDX-License-Identifier: Apache-2.0
"""p4gw features beyond the main sales flow, against real brokers: an MQTT 5 cloud link,
sync requests answered over MQTT (log slice, empty slice, snapshot, last_sale_seq), the
outbox_cap alert raised once while sales keep being accepted, and SIGHUP log reopening."""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.environ.get("P4_SOURCE_DIR", "."), "tests", "integration"))

import p4harness as h  # noqa: E402
from p4harness import check, log, wait_until  # noqa: E402
import gwenv  # noqa: E402


class Collector(h.MqttClient):
    """Records every message on the topics it subscribes to: (topic, decoded JSON)."""

    def __init__(self, broker, topics):
        super().__init__(broker.port, "collect-%s" % h.uuid7()[-10:])
        self.msgs = []
        self.connect()
        for t in topics:
            self.subscribe(t)

    def on_message(self, msg):
        try:
            body = json.loads(msg.payload.decode())
        except ValueError:
            body = {"_raw": msg.payload}
        with self._lock:
            self.msgs.append((msg.topic, body))

    def on(self, topic):
        with self._lock:
            return [b for (t, b) in self.msgs if t == topic]


def sync_until_last(reg_client, topic_req, topic_reply, collector, req_id, cursor):
    """Sends a sync request and returns its replies once the one with more=false arrived."""
    reg_client.publish(topic_req, json.dumps({"req_id": req_id, "cursor": cursor}))

    def done():
        replies = [b for b in collector.on(topic_reply) if b.get("req_id") == req_id]
        return replies if replies and not replies[-1].get("more") else None
    return wait_until(done, 20, "sync replies for %s" % req_id)


def test_mqtt5_and_sync():
    env = gwenv.StoreEnv(extra={"cloud": {"mqtt_version": "5", "session_expiry_s": "600"}})
    env.start()
    r1 = env.register("r1")
    r1.sell(20)
    r1.wait_acked(timeout_s=30)
    wait_until(lambda: env.hq.has_gw_seqs(range(1, 21)), 30, "20 records over MQTT 5")
    env.hq.check_consistent()
    log("MQTT 5 cloud link: 20 records delivered in order")

    head = env.gw.query("SELECT max(seq) FROM changes")[0][0]
    n_changes = env.gw.query("SELECT count(*) FROM changes")[0][0]
    req = "pos/v1/%s/reg/r1/sync" % gwenv.STORE
    reply = req + "/reply"
    col = Collector(env.store_broker, [reply])

    # From cursor 1: a log slice covering every later change, chunked by 500.
    replies = sync_until_last(r1, req, reply, col, "all", 1)
    items = [it for b in replies for it in b["items"]]
    check(not any(b["snapshot"] for b in replies), "cursor 1 with the whole log kept: snapshot")
    check([it["seq"] for it in items] == list(range(2, head + 1)),
          "log slice is not 2..%d gap-free" % head)
    check(all(len(b["items"]) <= 500 for b in replies), "a chunk has more than 500 items")
    check(all(b["more"] for b in replies[:-1]), "more must be true on all but the last chunk")
    check(all(b["head"] == head and b["last_sale_seq"] == 20 for b in replies),
          "head/last_sale_seq wrong: %r" % ([(b["head"], b["last_sale_seq"]) for b in replies],))
    log("sync from 1: %d changes in %d replies" % (n_changes - 1, len(replies)))

    # From nothing: the current state, not the history.
    replies = sync_until_last(r1, req, reply, col, "cold", 0)
    check(all(b["snapshot"] and b["to"] == head for b in replies), "cursor 0: snapshot")

    # Up to date: one empty reply.
    replies = sync_until_last(r1, req, reply, col, "uptodate", head)
    check(len(replies) == 1 and replies[0]["items"] == [], "up-to-date sync: %r" % replies)

    # A cursor past head: a snapshot of the current stock and prices, to = head.
    replies = sync_until_last(r1, req, reply, col, "future", head + 1000)
    check(all(b["snapshot"] and b["to"] == head for b in replies), "cursor > head: snapshot")
    snap = {(it["entity"], it["key"]): it["value"] for b in replies for it in b["items"]}
    stock = dict(env.gw.query("SELECT sku, on_hand FROM stock"))
    check(all(snap[("stock", k)]["on_hand"] == v for k, v in stock.items()),
          "snapshot stock differs from the replica")
    n_prices = env.gw.query("SELECT count(*) FROM prices")[0][0]
    check(len(snap) == len(stock) + n_prices, "snapshot rows %d, want %d"
          % (len(snap), len(stock) + n_prices))
    log("snapshot: %d rows in %d replies" % (len(snap), len(replies)))

    # A bad request is kept in rejects; the gateway carries on.
    r1.publish(req, b"{\"cursor\":-1}")
    wait_until(lambda: env.gw.query("SELECT count(*) FROM rejects WHERE topic = ?", req)[0][0]
               == 1, 10, "the bad sync request in rejects")
    col.close()
    check(env.gw.stop() == 0, "clean stop")
    env.store_broker.stop()
    env.cloud.stop()


def signal_masks(pid):
    """{tid: blocked signal mask} of every thread of PID (from /proc)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    out[int(tid)] = int(line.split()[1], 16)
    return out


def check_signals_on_core_thread(pid):
    """SIGTERM, SIGINT and SIGHUP reach the core (main) thread only: every helper thread
    (Paho's, checkpoint, metrics, TLS diagnosis) blocks them, so no handler interrupts a helper
    and the log reopen happens on the thread that owns it."""
    bits = 0
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        bits |= 1 << (sig - 1)
    masks = signal_masks(pid)
    check(len(masks) >= 3, "p4gw runs %d threads, expected helpers too" % len(masks))
    check(masks.get(pid, bits) & bits == 0, "the core thread blocks %#x" % masks.get(pid, -1))
    unblocked = [tid for tid, m in masks.items() if tid != pid and m & bits != bits]
    check(not unblocked, "helper threads %r of %d take SIGTERM/SIGINT/SIGHUP (masks %r)"
          % (unblocked, len(masks), {t: "%#x" % m for t, m in masks.items()}))
    log("signals: %d helper threads block them, the core thread takes them" % (len(masks) - 1))


def test_outbox_cap_and_sighup():
    env = gwenv.StoreEnv(relay=True, extra={"replica": {"outbox_cap": "5"}})
    logfile = os.path.join(env.gw.dir, "own.log")
    env.gw.config["log"]["file"] = logfile
    h.write_ini(env.gw.ini, env.gw.config)
    env.start()
    alerts = Collector(env.store_broker, ["pos/v1/%s/alert" % gwenv.STORE])
    env.relay.cut()
    env.status.wait_state("wan_down", 20)
    r1 = env.register("r1")
    r1.sell(12)
    r1.wait_acked(timeout_s=30)
    check(all(r1.acks[i][0]["status"] == "ok" for i in r1.order), "sales over the cap refused")
    wait_until(lambda: alerts.on("pos/v1/%s/alert" % gwenv.STORE), 10, "outbox_cap alert")
    r1.sell(3)
    r1.wait_acked(timeout_s=30)
    got = alerts.on("pos/v1/%s/alert" % gwenv.STORE)
    check(len(got) == 1 and got[0]["kind"] == "outbox_cap", "want one outbox_cap alert: %r"
          % got)
    log("outbox_cap alert: %s" % got[0]["message"])
    env.relay.restore()
    want = [r1.acks[i][0]["gw_seq"] for i in r1.order]
    wait_until(lambda: env.hq.has_gw_seqs(want), 30, "backlog after restore")

    # SIGHUP: the log file is reopened (logrotate moved it away), on the core thread.
    check_signals_on_core_thread(env.gw.proc.pid)
    check(os.path.exists(logfile), "[log] file not written")
    os.rename(logfile, logfile + ".1")
    env.gw.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: os.path.exists(logfile) and "log reopened" in open(logfile).read(), 10,
               "a new log file after SIGHUP")
    alerts.close()
    check(env.gw.stop() == 0, "clean stop")


def main():
    test_mqtt5_and_sync()
    test_outbox_cap_and_sighup()


if __name__ == "__main__":
    h.run_test(main)
