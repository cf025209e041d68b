# SPDX-License-Identifier: Apache-2.0
"""HQ price changes and a WAN outage: a price published while the gateway's cloud link is cut
(relay) is applied once the link returns (the persistent session kept it), reaches a register,
and an older version published later never overwrites it. A bad downlink message is rejected
as a whole with a bad_downlink alert, and the gateway carries on."""

import p4harness as h
import hqenv
from hqenv import check, log, wait_until

STOCK = [("coffee-250g", 50, 899, 1), ("milk-1l", 80, 129, 1)]


def main():
    cloud = h.Mosquitto("cloud")
    st = hqenv.Store(cloud, "s001", STOCK, relay=True,
                     extra={"cloud": {"resync_after_s": "1"}}).start()
    # A first start (no session at the broker) asks HQ for everything.
    first = wait_until(lambda: st.hq.resyncs, 10, "a resync request at the first start")[0][1]
    check(first["store"] == "s001" and first["since"] == {"price": 0, "promo": 0,
                                                          "customer": 0, "loyalty": 0},
          "first resync: %r" % first)
    hq = hqenv.Hq(cloud)
    reg = st.register("r01", follow_changes=True)

    # A first price proves the gateway's downlink subscription is in place; then cut the WAN.
    hq.down("price", [{"sku": "milk-1l", "price": 135, "ver": 2}])
    wait_until(lambda: st.gw.query("SELECT ver FROM prices WHERE sku = 'milk-1l'") == [(2,)],
               10, "the first HQ price")
    st.relay.cut()
    st.status.wait_state("wan_down", 20)
    hq.down("price", [{"sku": "coffee-250g", "price": 999, "ver": 20}])
    log("price ver 20 published while the WAN is cut")
    check(st.gw.query("SELECT ver FROM prices WHERE sku = 'coffee-250g'") == [(1,)],
          "price applied without a link?")
    st.relay.restore()
    st.status.wait_state("online", 30)
    wait_until(lambda: st.gw.query("SELECT price, ver FROM prices WHERE sku = 'coffee-250g'")
               == [(999, 20)], 20, "the price sent during the outage to be applied",
               detail=lambda: st.gw.query("SELECT price, ver FROM prices"))

    def reg_saw(price, ver):
        with reg._lock:
            msgs = list(reg.changes)
        return any(it.get("entity") == "price" and it.get("key") == "coffee-250g" and
                   it["value"].get("price") == price and it["value"].get("ver") == ver
                   for m in msgs for it in m.get("items", []))
    wait_until(lambda: reg_saw(999, 20), 10, "the register to receive the new price")
    # The outage outlasted resync_after_s: HQ is asked for what the gateway may lack.
    again = wait_until(lambda: st.hq.resyncs[1:], 10, "a resync after the outage")[0][1]
    check(again["since"]["price"] >= 2, "resync after the outage: %r" % again)
    log("resync requests: at start %r, after the outage %r" % (first["since"], again["since"]))

    # An older version arriving later is a no-op: no change row, the replica keeps ver 20.
    n = st.gw.query("SELECT count(*) FROM changes")[0][0]
    hq.down("price", [{"sku": "coffee-250g", "price": 777, "ver": 15}])
    hq.down("price", [{"sku": "milk-1l", "price": 149, "ver": 21}])  # a marker after it
    wait_until(lambda: st.gw.query("SELECT ver FROM prices WHERE sku = 'milk-1l'") == [(21,)],
               10, "the marker price")
    check(st.gw.query("SELECT price, ver FROM prices WHERE sku = 'coffee-250g'") == [(999, 20)],
          "an older price version overwrote a newer one")
    check(st.gw.query("SELECT count(*) FROM changes")[0][0] == n + 1,
          "the older version made a change row")
    check(not reg_saw(777, 15), "the register was sent the older price")

    # A message with one invalid item is rejected whole: nothing of it applied.
    hq.down("price", [{"sku": "milk-1l", "price": 1, "ver": 30},
                      {"sku": "coffee-250g", "price": 5}])
    wait_until(lambda: st.local_alerts("bad_downlink"), 10, "a bad_downlink alert")
    a = st.local_alerts("bad_downlink")[0]
    check("items[1].ver" in a["details"]["reason"], "bad_downlink reason: %r" % a)
    check(st.gw.query("SELECT ver FROM prices WHERE sku = 'milk-1l'") == [(21,)],
          "part of a rejected message was applied")
    check(st.gw.query("SELECT count(*) FROM rejects WHERE topic LIKE '%/down/price'")[0][0]
          == 1, "the rejected downlink is not kept for inspection")
    wait_until(lambda: st.cloud_alerts("bad_downlink"), 10, "the bad_downlink alert at HQ")
    check(st.gw.stop() == 0, "clean stop")
    log("outage price applied after reconnect; older ver ignored; bad message rejected whole")


if __name__ == "__main__":
    h.run_test(main)
