# SPDX-License-Identifier: Apache-2.0
"""A flapping WAN while registers keep selling: the link to the cloud is cut cleanly, frozen
(bytes vanish, PUBACKs for batches in flight are lost, only the keepalive notices) and
blackholed, each time while sales flow. Every sale is acked locally throughout and reaches
the cloud; copies re-sent after a lost PUBACK carry the same gw_seq and id."""

import threading
import time

import p4harness as h
from p4harness import check, log, wait_until
import gwenv

PACE_S = 0.01            # each register makes a sale every 10 ms
CUT_SALES = 60           # sales acked locally during each outage
MODES = ("freeze", "close", "blackhole", "freeze")


def main():
    # A short keepalive so a frozen link is noticed in seconds, as a store would configure
    # for a flaky WAN.
    env = gwenv.StoreEnv(relay=True, extra={"cloud": {"keepalive_s": "2"}})
    env.start()
    regs = [env.register("r1"), env.register("r2")]
    stop = threading.Event()
    errors = []

    def stream(reg):
        try:
            while not stop.is_set():
                reg.sell(1)
                time.sleep(PACE_S)  # pacing the load, not waiting for anything
        except Exception as e:
            errors.append(e)

    def n_acked():
        return sum(len(r.acked()) for r in regs)

    threads = [threading.Thread(target=stream, args=(r,)) for r in regs]
    for t in threads:
        t.start()
    try:
        for mode in MODES:
            # The link carries sales before each cut.
            seen = len(env.hq.gw_seqs())
            wait_until(lambda: len(env.hq.gw_seqs()) >= seen + 20, 20,
                       "sales flowing to the cloud before the %s cut" % mode)
            mark = env.status.mark()
            acked = n_acked()
            t0 = time.monotonic()
            env.relay.cut(mode)
            st = env.status.wait_state("wan_down", 20, since=mark)
            t_noticed = time.monotonic() - t0
            wait_until(lambda: n_acked() >= acked + CUT_SALES, 20,
                       "%d sales acked during the %s outage" % (CUT_SALES, mode))
            mark = env.status.mark()
            env.relay.restore()
            env.status.wait_state("online", 20, since=mark)
            log("%-9s outage noticed after %.1fs (%r); back online %.1fs after restore"
                % (mode, t_noticed, st.get("outbox"), time.monotonic() - t0 - t_noticed))
    finally:
        stop.set()
        for t in threads:
            t.join()
    check(not errors, "selling failed: %r" % errors)

    # Acks are QoS 1, so a register may see one twice (Paho C re-sends the in-flight
    # messages of every client of the process when any of them reconnects); every copy must
    # say ok with the same gw_seq.
    extra_acks = 0
    for r in regs:
        r.wait_acked(timeout_s=30)
        bad = [(s, r.acks[s]) for s in r.order
               if {(a.get("status"), a.get("gw_seq")) for a in r.acks[s]} !=
               {("ok", r.acks[s][0].get("gw_seq"))}]
        check(not bad, "%s: a sale got acks other than ok: %r" % (r.reg, bad[:3]))
        extra_acks += sum(len(r.acks[s]) - 1 for s in r.order)
    sales = gwenv.all_sales(regs)
    by_id = env.check_replica_sales(sales, gwenv.ack_gw_seqs(regs))
    env.check_cloud(sales, by_id, timeout_s=60)
    env.check_stock(sales.values())
    env.wait_outbox_drained()
    log("%d sales over %d outages: all at the cloud, %d re-sent copies, %d batches, "
        "%d repeated acks" % (len(sales), len(MODES), env.hq.duplicates(),
                              len(env.hq.batches), extra_acks))
    check(env.gw.stop() == 0, "p4gw did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
