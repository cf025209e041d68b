# SPDX-License-Identifier: Apache-2.0
"""A busy gateway answers a register's snapshot request late, after the register asked again
(its reply timeout is 5 s): the register takes the answer to its earlier request instead of
ignoring it and waiting for the newer one (which a gateway would serve only after the first,
costing another whole snapshot), and it never mixes the two answers.

Through `p4term sync` on a new journal against a real store broker; the gateway's side is
spoken by the test: it holds the first request, and once the second arrives interleaves the
chunks of two different states (state A for the first request, state B for the second)."""

import json
import os
import sqlite3
import threading
import time

import p4harness as h
from p4harness import check, log, wait_until
import shimenv

STORE = shimenv.STORE
REG = "r1"
N_SKUS = 40  # two chunks of 20 items each


def state(base):
    """The two snapshot chunks of a store of N_SKUS skus with stock BASE + i, and its head."""
    items = [{"seq": i + 1, "entity": "stock", "key": "sku-%02d" % i,
              "value": {"on_hand": base + i}} for i in range(N_SKUS)]
    half = N_SKUS // 2
    return (items[:half], items[half:]), N_SKUS


class LateGateway(h.MqttClient):
    """Records sync requests; answers nothing until told to."""

    def __init__(self, broker):
        super().__init__(broker.port, "late-gw-" + STORE)
        self.lock = threading.Lock()
        self.requests = []  # sync request bodies, in arrival order

    def _on_connect(self, client, userdata, flags, rc):
        super()._on_connect(client, userdata, flags, rc)
        if rc == 0:
            client.publish("pos/v1/%s/gateway/status" % STORE, json.dumps(
                {"state": "online", "outbox": 0, "delivered": 0, "ts": h._utc_ts()}),
                qos=1, retain=True)

    def start(self):
        self.connect()
        self.subscribe("pos/v1/%s/reg/+/sync" % STORE)
        return self

    def on_message(self, msg):
        with self.lock:
            self.requests.append(json.loads(msg.payload))

    def reply(self, req_id, items, head, more):
        self.publish("pos/v1/%s/reg/%s/sync/reply" % (STORE, REG), json.dumps(
            {"req_id": req_id, "from": 0, "to": head, "snapshot": True, "more": more,
             "head": head, "last_sale_seq": 0, "items": items}))


def cache(path):
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        stock = dict(conn.execute("SELECT sku, on_hand FROM stock").fetchall())
        cursor = conn.execute("SELECT v FROM meta WHERE k = 'cursor'").fetchone()[0]
        return stock, cursor
    finally:
        conn.close()


def main():
    p4term = shimenv.p4term_path()
    broker = h.Mosquitto("store")
    gw = LateGateway(broker).start()
    d = h.subdir("registers")
    ini = os.path.join(d, REG + ".ini")
    journal = os.path.join(d, REG + ".db")
    h.write_ini(ini, {"register": {"store": STORE, "id": REG, "journal": journal},
                      "broker": {"uri": broker.uri}})
    logf = os.path.join(d, "sync.log")
    proc = shimenv.TermProc([p4term, "--log-level", "info", "--config", ini, "sync",
                             "--wait-ms", "30000"], logf)

    wait_until(lambda: len(gw.requests) >= 1, 15, "the register's first sync request")
    first = gw.requests[0]
    check(first["cursor"] == 0, "a new register asks from cursor 0: %r" % first)
    log("first request %s held; waiting for the register to ask again" % first["req_id"])
    wait_until(lambda: len(gw.requests) >= 2, 15, "the register to ask again after its timeout")
    second = gw.requests[1]
    check(second["req_id"] != first["req_id"], "a repeat has a new req_id: %r" % second)

    (a1, a2), head_a = state(0)
    (b1, _b2), head_b = state(1000)
    t0 = time.monotonic()
    gw.reply(first["req_id"], a1, head_a, True)
    gw.reply(second["req_id"], b1, head_b, True)
    gw.reply(first["req_id"], a2, head_a, False)
    rc = proc.wait(15)
    dt = time.monotonic() - t0
    out = proc.output()
    check(rc == 0, "p4term sync exited %s after the earlier request's answer:\n%s" % (rc, out))
    check("synced=yes" in out, "p4term sync did not report synced:\n%s" % out)
    log("synced %.2f s after the first chunk of the earlier request" % dt)
    check(dt < 4, "synced only %.1f s after the answer came (it waited for another)" % dt)

    stock, cursor = cache(journal)
    want = {"sku-%02d" % i: i for i in range(N_SKUS)}
    check(stock == want, "the cache holds the earlier request's state, nothing of the other: "
          "%d skus, first differences %r" % (len(stock), sorted(
              (k, stock.get(k), v) for k, v in want.items() if stock.get(k) != v)[:5]))
    check(cursor == head_a, "cursor %s, want the snapshot's head %d" % (cursor, head_a))


if __name__ == "__main__":
    h.run_test(main)
