# SPDX-License-Identifier: Apache-2.0
"""Price mismatch and loyalty across stores:
- a sale rung at a stale price (an older ver at a different price than the one in effect at its
  ts) is kept as sold, flagged price_mismatch in the replica and HQ's record, and alerted;
- "points earned at store A are redeemable at store B": two gateways on one cloud broker; A's
  sale earns points, HQ's balance message reaches B, B's redemption is within the balance;
- redeeming more than the balance is kept, flagged loyalty_overdraw and alerted."""

import p4harness as h
import hqenv
from hqenv import check, log, wait_until

STOCK = [("coffee-250g", 50, 899, 1), ("milk-1l", 80, 129, 1)]


def loyalty_value(reg, customer):
    """The last loyalty balance REG received on the changes topic, or None."""
    with reg._lock:
        msgs = list(reg.changes)
    out = None
    for m in msgs:
        for it in m.get("items", []):
            if it.get("entity") == "loyalty" and it.get("key") == customer:
                out = it["value"]["balance"]
    return out


def main():
    cloud = h.Mosquitto("cloud")
    a = hqenv.Store(cloud, "s001", STOCK).start()
    b = hqenv.Store(cloud, "s002", STOCK).start()
    hq = hqenv.Hq(cloud)
    ra = a.register("r1", follow_changes=True)
    rb = b.register("r1", follow_changes=True)

    # Stale price: HQ moved coffee to 949 (ver 5); the register still charges 899 (ver 1).
    hq.down("price", [{"sku": "coffee-250g", "price": 949, "ver": 5}])
    for st in (a, b):
        wait_until(lambda st=st: st.gw.query("SELECT ver FROM prices WHERE sku = 'coffee-250g'")
                   == [(5,)], 10, "the new price at %s" % st.id)
    stale = hqenv.sale_with(ra, [("coffee-250g", 1, 899, 1)])
    fresh = hqenv.sale_with(ra, [("coffee-250g", 1, 949, 5)])
    ra.send(stale)
    ra.send(fresh)
    ra.wait_acked([stale["id"], fresh["id"]], 20)
    check(a.flags(stale["id"]) == ["price_mismatch"], "stale sale flags %r"
          % a.flags(stale["id"]))
    check(a.flags(fresh["id"]) == [], "a sale at the current price was flagged")
    check(a.gw.query("SELECT total FROM sales WHERE id = ?", stale["id"]) == [(899,)],
          "the stale sale must stay as sold")
    wait_until(lambda: a.local_alerts("price_mismatch"), 10, "the price_mismatch alert")
    al = a.local_alerts("price_mismatch")[0]
    check(al["sales"] == [stale["id"]] and al["sku"] == "coffee-250g" and
          al["details"] == {"expected_ver": 5, "used_ver": 1, "expected_price": 949,
                            "used_price": 899}, "price_mismatch alert: %r" % al)
    wait_until(lambda: a.record(stale["id"]), 20, "the stale sale at HQ")
    check("price_mismatch" in a.record(stale["id"])["flags"], "HQ record lacks the flag")
    wait_until(lambda: a.cloud_alerts("price_mismatch"), 20, "the alert at HQ")
    log("stale price: kept as sold, flagged and alerted")

    # Loyalty: HQ's balance 100 everywhere; A's sale earns 50.
    hq.down("loyalty", [{"customer": "C-1", "balance": 100, "ver": 1,
                         "as_of": h._utc_ts()}])
    wait_until(lambda: loyalty_value(rb, "C-1") == 100, 10, "balance 100 at B")
    earn = hqenv.sale_with(ra, [("milk-1l", 2, 129, 1)], customer="C-1", earn=50)
    ra.send(earn)
    ra.wait_acked([earn["id"]], 20)
    wait_until(lambda: loyalty_value(ra, "C-1") == 150, 10, "balance 150 at A")
    check(loyalty_value(rb, "C-1") == 100, "B knew A's points before HQ told it")
    # HQ received A's sale and publishes the new authoritative balance.
    wait_until(lambda: a.record(earn["id"]), 20, "A's loyalty sale at HQ")
    hq.down("loyalty", [{"customer": "C-1", "balance": 150, "ver": 2, "as_of": h._utc_ts()}])
    wait_until(lambda: loyalty_value(rb, "C-1") == 150, 10, "balance 150 at B")
    redeem = hqenv.sale_with(rb, [("milk-1l", 1, 129, 1)], customer="C-1", redeem=120)
    rb.send(redeem)
    rb.wait_acked([redeem["id"]], 20)
    check(b.flags(redeem["id"]) == [], "a redemption within the balance was flagged")
    wait_until(lambda: loyalty_value(rb, "C-1") == 30, 10, "balance 30 at B")
    log("points earned at A redeemed at B after HQ's balance")

    # Redeeming more than the balance: kept, flagged, alerted.
    over = hqenv.sale_with(rb, [("milk-1l", 1, 129, 1)], customer="C-1", redeem=50)
    rb.send(over)
    rb.wait_acked([over["id"]], 20)
    check(rb.final_ack(over["id"])["status"] == "ok", "an overdraw must not be refused")
    check(b.flags(over["id"]) == ["loyalty_overdraw"], "overdraw flags %r" % b.flags(over["id"]))
    wait_until(lambda: b.local_alerts("loyalty_overdraw"), 10, "the loyalty_overdraw alert")
    al = b.local_alerts("loyalty_overdraw")[0]
    check(al["sales"] == [over["id"]] and al["details"] == {"customer": "C-1", "balance": -20},
          "loyalty_overdraw alert: %r" % al)
    wait_until(lambda: loyalty_value(rb, "C-1") == -20, 10, "balance -20 at B")
    wait_until(lambda: b.cloud_alerts("loyalty_overdraw"), 20, "the alert at HQ")
    log("overdraw kept, flagged and alerted")
    for st in (a, b):
        check(st.gw.stop() == 0, "clean stop of %s" % st.id)


if __name__ == "__main__":
    h.run_test(main)
