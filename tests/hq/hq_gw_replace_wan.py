# SPDX-License-Identifier: Apache-2.0
"""Issue 16, the disk of the store's mini PC dies during a WAN outage. The WAN is cut, two
libp4term registers sell 500 sales (and a third register 3 loyalty sales) that the gateway
acks; the gateway is SIGKILLed and its replica deleted; a new gateway starts on an empty
replica with the same config and takes no sale before it knows from HQ where gw_seq goes on;
the WAN comes back. Then: the registers resend what HQ had not committed, every one of the 503
sales reaches HQ exactly once with stock, GL and loyalty right, the new gateway numbers above
everything HQ holds, the rebuilt replica equals the lost one value by value (prices with their
window, promo, customers, loyalty balance, every sku's on_hand), and the registers' journals
hold no sale any more."""

import time

import p4harness as h
from replaceenv import (CUSTOMER, check, check_hq, compare_replicas, journal_rows, log,
                        lose_gateway, loyalty_sales, replica_sales, replica_snapshot, setup,
                        simulator, term, until_hq_argv, wait_until)

N_SALES = 500


def main():
    chain, _hq, store = setup()
    chain.wait_caught_up(30)
    n_before = chain.hq_count(store.id)
    store.relay.cut("close")
    store.status.wait_state(("wan_down",), 30)
    log("WAN cut")

    sim = simulator(store, "sim1", N_SALES)
    sim.start()
    check(sim.wait(90) == 0, "the registers' 500 sales were not all acked: %s" % sim.output())
    loy_ini, loy_ids = loyalty_sales(store, 3)
    journals = sim.journals() + [loy_ini.replace(".ini", ".db")]
    rows = journal_rows(journals)
    held = [r for r in rows.values() if r["state"] == h.JOURNAL_ACKED]
    check(len(rows) == N_SALES + 3 and len(held) == N_SALES + 3,
          "journals hold %d sales, %d acked and kept (want %d both)"
          % (len(rows), len(held), N_SALES + 3))
    _rc, out, _err = term(loy_ini, "pending")
    check("pending=0" in out and "held=3" in out, "p4term pending: %r" % out)
    truth = replica_sales(store.gw)     # what the lost gateway accepted, HQ's and not
    check(all(truth.get(sid) == r["sale"] for sid, r in rows.items()),
          "a journal's sale differs from the lost replica's")
    old_head = store.last_gw_seq()
    lost = replica_snapshot(store.gw)
    check(chain.hq_count(store.id) == n_before, "a sale reached HQ through a cut WAN")

    lose_gateway(store)
    t_start = time.monotonic()
    store.gw.start(("wan_down",), watcher=store.status)
    log("new gateway up on an empty replica in %.0f ms" % ((time.monotonic() - t_start) * 1000))
    sim.start(until_hq_argv(sim))       # the registers come back: they resend what HQ lacks
    time.sleep(2)
    check(store.gw.query("SELECT count(*) FROM sales")[0][0] == 0,
          "the new gateway numbered sales before HQ told it where gw_seq goes on")

    store.relay.restore()
    log("WAN restored")
    rc = sim.wait(120)
    check(rc == 0, "registers still hold sales HQ has not committed: %s" % sim.output())
    _rc, out, _err = term(loy_ini, "flush", "--hq", "--wait-ms", 60000)
    check("pending=0" in out and "held=0" in out, "loyalty register: %r" % out)
    chain.wait_caught_up(60)

    got = check_hq(chain, store, truth)
    new_seqs = sorted(g for (g, _r, _s, _t) in got.values())
    check(new_seqs[0] > 0 and len(set(new_seqs)) == len(new_seqs), "gw_seqs %r" % new_seqs[:5])
    check(store.last_gw_seq() == old_head,
          "the new gateway's head is %d, the lost one's %d: HQ held sales up to %d, so the "
          "new gateway numbers the %d resent ones above it" % (store.last_gw_seq(), old_head,
                                                                n_before, N_SALES + 3))
    check(min(g for (g, _r, _s, _t) in got.values() if g > n_before) == n_before + 1,
          "gw_seq does not continue right above HQ's highest (%d)" % n_before)
    rows = journal_rows(journals)
    check(not rows, "the registers' journals still hold %d sales after HQ committed them all"
          % len(rows))
    log("registers' journals pruned: 0 sales left of %d" % (N_SALES + 3))
    wait_until(lambda: replica_snapshot(store.gw)["loyalty"].get(CUSTOMER) ==
               lost["loyalty"].get(CUSTOMER), 20, "the loyalty balance at the new replica",
               detail=lambda: replica_snapshot(store.gw)["loyalty"])
    compare_replicas(lost, replica_snapshot(store.gw))
    check(sorted(loy_ids) == sorted(i for i in truth if i in loy_ids), "loyalty ids")


if __name__ == "__main__":
    h.run_test(main)
