# SPDX-License-Identifier: Apache-2.0
"""The gateway is SIGKILLed while registers are selling. After a restart with no operator
action every sale ever acked is still there and reaches the cloud, the registers' resends of
unacked sales are applied exactly once, and a resend of an acked sale gets `duplicate` with
the original gw_seq."""

import threading
import time

import p4harness as h
from p4harness import check, log, wait_until
import gwenv

KILL_AFTER_ACKS = 150    # acks seen before the kill
AFTER_KILL_SALES = 20    # sales each register makes while the gateway is dead
PACE_S = 0.003           # a register makes a sale every 3 ms


def main():
    env = gwenv.StoreEnv()
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

    threads = [threading.Thread(target=stream, args=(r,)) for r in regs]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: sum(len(r.acked()) for r in regs) >= KILL_AFTER_ACKS, 30,
                   "%d acks before the kill" % KILL_AFTER_ACKS)
        made_at_kill = {r.reg: len(r.order) for r in regs}
        rc = env.gw.kill()
        check(rc == -9, "p4gw was not killed: rc %r" % rc)
        acked_at_kill = {sid: a for r in regs for sid in r.acked()
                         for a in [r.final_ack(sid)]}
        log("killed p4gw after %d acks; %d sales made so far"
            % (len(acked_at_kill), sum(made_at_kill.values())))
        wait_until(lambda: all(len(r.order) >= made_at_kill[r.reg] + AFTER_KILL_SALES
                               for r in regs), 20, "sales made while the gateway is down")
    finally:
        stop.set()
        for t in threads:
            t.join()
    check(not errors, "selling failed: %r" % errors)

    # Acks the dead gateway had already handed to the broker may still arrive; a register
    # counts a sale as done only once it holds the ack, so take the final picture now.
    acked_before = {sid: r.final_ack(sid) for r in regs for sid in r.acked()}
    check(len(acked_before) >= len(acked_at_kill), "acks disappeared")
    total = sum(len(r.order) for r in regs)
    pending = {r.reg: r.pending() for r in regs}
    log("%d sales made, %d acked before restart, %d pending"
        % (total, len(acked_before), sum(len(p) for p in pending.values())))
    check(sum(len(p) for p in pending.values()) > 0, "nothing was pending: the kill came late")

    st = env.start()
    check(st.get("state") == "online", "status after restart %r" % st)
    for r in regs:
        r.resend()
    for r in regs:
        r.wait_acked(timeout_s=30)
    log("every pending sale acked after one resend")

    # A resend of a sale acked before the crash: duplicate, with the original gw_seq.
    sample = list(acked_before.items())[:5]
    for r in regs:
        ids = [sid for sid, _a in sample if sid in r.sales]
        n = {sid: len(r.acks[sid]) for sid in ids}
        r.resend(ids)
        wait_until(lambda: all(len(r.acks[sid]) > n[sid] for sid in ids), 15,
                   "acks of resent acked sales")
        for sid in ids:
            new = r.acks[sid][n[sid]]
            check(new.get("status") == "duplicate", "resend of acked %s got %r" % (sid, new))
            check(new.get("gw_seq") == acked_before[sid]["gw_seq"],
                  "duplicate ack of %s says gw_seq %r, original %r"
                  % (sid, new.get("gw_seq"), acked_before[sid]["gw_seq"]))

    sales = gwenv.all_sales(regs)
    acked = gwenv.ack_gw_seqs(regs)   # also fails if an id was acked with two gw_seqs
    for sid, a in acked_before.items():
        check(acked[sid] == a["gw_seq"], "gw_seq of %s changed across the crash" % sid)
    by_id = env.check_replica_sales(sales, acked)
    check(len(by_id) == total, "replica holds %d sales, %d were made" % (len(by_id), total))
    env.check_stock(sales.values())
    for r in regs:
        last = env.gw.query("SELECT last_seq FROM registers WHERE reg = ?", r.reg)
        check(last == [(r.seq,)], "registers.last_seq of %s is %r, want %d"
              % (r.reg, last, r.seq))
    env.check_cloud(sales, by_id, timeout_s=60)
    log("cloud: %d distinct records (%d re-sent copies), all consistent"
        % (len(env.hq.gw_seqs()), env.hq.duplicates()))
    env.wait_outbox_drained()
    check(env.gw.stop() == 0, "p4gw did not stop cleanly after the restart")


if __name__ == "__main__":
    h.run_test(main)
