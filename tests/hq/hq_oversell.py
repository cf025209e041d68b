# SPDX-License-Identifier: Apache-2.0
"""Inventory conflicts and the stock rule (Square's model):
- two registers sell the last unit at the same moment: both sales are kept, on_hand is -1, one
  conflict row and exactly one oversell alert (store and HQ) naming both sales; a later HQ
  receive of 5 makes it 4; a new crossing raises a new alert, a sale while below zero only a
  flag;
- HQ counts gadget at T; a sale rung before T but uploaded after does not change on_hand (the
  count already saw it), a sale after T does; movements are idempotent by id."""

import threading
import time

import p4harness as h
import hqenv
from hqenv import check, log, wait_until

STOCK = [("widget", 1, 500, 1), ("gadget", 10, 300, 1)]


def crossing(st):
    r1, r2 = st.register("r1"), st.register("r2")
    a = hqenv.sale_with(r1, [("widget", 1, 500, 1)])
    b = hqenv.sale_with(r2, [("widget", 1, 500, 1)])
    go = threading.Event()
    threads = [threading.Thread(target=lambda r=r, s=s: (go.wait(), r.send(s)))
               for r, s in ((r1, a), (r2, b))]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    r1.wait_acked([a["id"]], 20)
    r2.wait_acked([b["id"]], 20)
    check(all(r.final_ack(s["id"])["status"] == "ok" for r, s in ((r1, a), (r2, b))),
          "both sales must be accepted")
    check(st.on_hand("widget") == -1, "on_hand %r, want -1" % st.on_hand("widget"))
    wait_until(lambda: st.local_alerts("oversell"), 10, "the oversell alert")
    wait_until(lambda: st.cloud_alerts("oversell"), 20, "the oversell alert at HQ")
    local = st.local_alerts("oversell")
    check(len(local) == 1, "want exactly one oversell alert, got %d" % len(local))
    al = local[0]
    check(al["sku"] == "widget" and al["details"] == {"on_hand": -1}, "alert: %r" % al)
    check(set(al["sales"]) == {a["id"], b["id"]}, "alert sales %r, want both" % al["sales"])
    check(st.cloud_alerts("oversell")[0]["id"] == al["id"], "HQ got another alert id")
    rows = st.gw.query("SELECT sku, sale_id, sales, on_hand, alert_id FROM conflicts")
    check(len(rows) == 1 and rows[0][0] == "widget" and rows[0][3] == -1 and
          rows[0][4] == al["id"], "conflict rows: %r" % rows)
    crosser = rows[0][1]
    check(crosser in (a["id"], b["id"]), "conflict names sale %s" % crosser)
    flagged = [s["id"] for s in (a, b) if "oversell" in st.flags(s["id"])]
    check(flagged == [crosser], "oversell flag on %r, want only %s" % (flagged, crosser))
    wait_until(lambda: st.record(crosser), 20, "the crossing sale's record at HQ")
    check("oversell" in st.record(crosser)["flags"], "HQ record lacks the oversell flag")
    log("two registers sold the last widget: on_hand -1, one alert naming %s" % al["sales"])
    return r1


def receive_and_recross(st, hq, r1):
    hq.down("stock", [{"id": "rcv-1", "sku": "widget", "type": "receive", "delta": 5,
                       "occurred_at": h._utc_ts()}])
    wait_until(lambda: st.on_hand("widget") == 4, 10, "on_hand 4 after receiving 5",
               detail=lambda: st.on_hand("widget"))
    # The same movement again (a resend) changes nothing.
    hq.down("stock", [{"id": "rcv-1", "sku": "widget", "type": "receive", "delta": 5,
                       "occurred_at": h._utc_ts()}])
    c = hqenv.sale_with(r1, [("widget", 5, 500, 1)])
    d = hqenv.sale_with(r1, [("widget", 1, 500, 1)])
    r1.send(c)
    r1.wait_acked([c["id"]], 20)
    r1.send(d)
    r1.wait_acked([d["id"]], 20)
    check(st.on_hand("widget") == -2, "on_hand %r, want -2 (receive applied once)"
          % st.on_hand("widget"))
    wait_until(lambda: len(st.local_alerts("oversell")) >= 2, 10, "the second crossing alert")
    check(len(st.local_alerts("oversell")) == 2, "a sale below zero raised another alert")
    check("oversell" in st.flags(d["id"]), "a sale below zero is not flagged")
    log("receive 5 -> 4; a new crossing alerted once more; a sale below zero only flagged")


def count_baseline(st, hq, r1):
    t_count = int(time.time() * 1000)
    early = hqenv.sale_with(r1, [("gadget", 2, 300, 1)], ts_ms=t_count - 60000)
    hq.down("stock", [{"id": "cnt-1", "sku": "gadget", "type": "count", "on_hand": 7,
                       "occurred_at": h._utc_ts(t_count)}])
    wait_until(lambda: st.on_hand("gadget") == 7, 10, "on_hand 7 after the count")
    r1.send(early)  # rung a minute before the count, uploaded after it
    r1.wait_acked([early["id"]], 20)
    check(st.on_hand("gadget") == 7, "a sale before the count moved on_hand to %r"
          % st.on_hand("gadget"))
    later = hqenv.sale_with(r1, [("gadget", 1, 300, 1)], ts_ms=t_count + 1000)
    r1.send(later)
    r1.wait_acked([later["id"]], 20)
    check(st.on_hand("gadget") == 6, "a sale after the count: on_hand %r, want 6"
          % st.on_hand("gadget"))
    # The ledger still explains the number.
    total = st.gw.query("SELECT sum(delta) FROM stock_moves WHERE sku = 'gadget'")[0][0]
    check(total == 6, "stock_moves sum %r != on_hand 6" % total)
    # A count older than the baseline is recorded only.
    hq.down("stock", [{"id": "cnt-0", "sku": "gadget", "type": "count", "on_hand": 100,
                       "occurred_at": h._utc_ts(t_count - 3600000)}])
    wait_until(lambda: st.gw.query("SELECT count(*) FROM stock_moves WHERE move_id = 'cnt-0'")
               [0][0] == 1, 10, "the old count recorded")
    check(st.on_hand("gadget") == 6, "an older count re-based on_hand")
    log("count at T is the baseline: the early sale did not subtract twice")


def main():
    cloud = h.Mosquitto("cloud")
    st = hqenv.Store(cloud, "s001", STOCK).start()
    hq = hqenv.Hq(cloud)
    r1 = crossing(st)
    receive_and_recross(st, hq, r1)
    count_baseline(st, hq, r1)
    check(st.gw.stop() == 0, "clean stop")


if __name__ == "__main__":
    h.run_test(main)
