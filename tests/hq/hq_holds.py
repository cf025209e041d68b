# SPDX-License-Identifier: Apache-2.0
"""Holds with [policy] negative_stock = hold: two registers ask to hold the last unit at the
same moment and only one is granted; a repeated request gets the same reply; the holder's sale
consumes the hold; an expired hold returns its units; a bad request is answered and kept."""

import json
import threading

import p4harness as h
import hqenv
from hqenv import check, log, wait_until

STOCK = [("last-one", 1, 999, 1), ("plenty", 100, 100, 1)]


class HoldClient(hqenv.Collector):
    def __init__(self, st, reg):
        self.topic = "pos/v1/%s/reg/%s/hold" % (st.id, reg)
        super().__init__(st.broker, [self.topic + "/reply"])

    def ask(self, req_id, hold, lines, ttl_ms=60000):
        body = {"req_id": req_id, "hold": hold, "ttl_ms": ttl_ms,
                "lines": [{"sku": s, "qty": q} for s, q in lines]}
        self.publish(self.topic, json.dumps(body))

    def reply(self, req_id, n=1):
        got = [b for b in self.on(self.topic + "/reply") if b.get("req_id") == req_id]
        return got if len(got) >= n else None


def main():
    cloud = h.Mosquitto("cloud")
    st = hqenv.Store(cloud, "s001", STOCK, extra={"policy": {"negative_stock": "hold"}}).start()
    c1, c2 = HoldClient(st, "r1"), HoldClient(st, "r2")
    go = threading.Event()
    ts = [threading.Thread(target=lambda c=c, i=i: (go.wait(), c.ask("q%d" % i, "h%d" % i,
                                                                     [("last-one", 1)])))
          for i, c in ((1, c1), (2, c2))]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join()
    r1 = wait_until(lambda: c1.reply("q1"), 10, "r1's hold reply")[0]
    r2 = wait_until(lambda: c2.reply("q2"), 10, "r2's hold reply")[0]
    granted = [r["granted"][0]["qty"] for r in (r1, r2)]
    check(sorted(granted) == [0, 1], "want exactly one grant of the last unit, got %r"
          % granted)
    loser = r1 if granted[0] == 0 else r2
    check("last-one: 0 of 1 available" in loser.get("reason", ""), "refusal reason: %r" % loser)
    winner, wreg, wc = (("h1", "r1", c1) if granted[0] == 1 else ("h2", "r2", c2))
    log("two registers asked for the last unit: granted %r" % granted)

    # The same request again (a QoS 1 redelivery) gets the same reply, not a second grant.
    req_id = "q1" if wreg == "r1" else "q2"
    wc.ask(req_id, winner, [("last-one", 1)])
    again = wait_until(lambda: wc.reply(req_id, 2), 10, "the repeated reply")[1]
    check(again["granted"] == [{"sku": "last-one", "qty": 1}] and
          again["expires"] == (r1 if wreg == "r1" else r2)["expires"],
          "repeated request answered differently: %r" % again)

    # The winner's sale consumes the hold; the stock goes to 0 and the hold is gone.
    reg = st.register(wreg)
    sale = hqenv.sale_with(reg, [("last-one", 1, 999, 1)], hold=winner)
    reg.send(sale)
    reg.wait_acked([sale["id"]], 20)
    check(st.on_hand("last-one") == 0, "on_hand %r after the held sale" % st.on_hand("last-one"))
    check(st.gw.query("SELECT count(*) FROM holds WHERE hold = ?", winner)[0][0] == 0,
          "the hold was not consumed")

    # A short hold expires and its units return to the pool.
    c1.ask("q3", "h3", [("plenty", 60)], ttl_ms=1000)
    r3 = wait_until(lambda: c1.reply("q3"), 10, "a 60-unit hold")[0]
    check(r3["granted"] == [{"sku": "plenty", "qty": 60}], "hold of 60: %r" % r3)
    c2.ask("q4", "h4", [("plenty", 60)])
    r4 = wait_until(lambda: c2.reply("q4"), 10, "the second 60-unit hold")[0]
    check(r4["granted"] == [{"sku": "plenty", "qty": 40}], "other live holds not netted: %r"
          % r4)
    wait_until(lambda: st.gw.query("SELECT count(*) FROM holds WHERE hold = 'h3'")[0][0] == 0,
               10, "the 1 s hold to expire")
    c2.ask("q5", "h4", [("plenty", 60)])
    r5 = wait_until(lambda: c2.reply("q5"), 10, "the renewed hold")[0]
    check(r5["granted"] == [{"sku": "plenty", "qty": 60}], "expired hold kept units: %r" % r5)

    # A release frees the units at once; a bad request is answered with a reason and kept.
    c2.publish(c2.topic, json.dumps({"req_id": "q6", "hold": "h4", "release": True}))
    wait_until(lambda: c2.reply("q6"), 10, "the release reply")
    check(st.gw.query("SELECT count(*) FROM holds WHERE hold = 'h4'")[0][0] == 0,
          "release left the hold")
    c2.publish(c2.topic, json.dumps({"req_id": "q7", "hold": "h7", "ttl_ms": 5,
                                     "lines": [{"sku": "plenty", "qty": 1}]}))
    bad = wait_until(lambda: c2.reply("q7"), 10, "the answer to a bad request")[0]
    check(bad["granted"] == [] and "ttl_ms" in bad.get("reason", ""), "bad request: %r" % bad)
    check(st.gw.query("SELECT count(*) FROM rejects WHERE topic LIKE '%/hold'")[0][0] == 1,
          "the bad request is not kept")
    check(st.gw.stop() == 0, "clean stop")
    log("holds: one grant of the last unit, consumed by the sale, expiry and release work")


if __name__ == "__main__":
    h.run_test(main)
