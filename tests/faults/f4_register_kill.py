# SPDX-License-Identifier: Apache-2.0
"""Fault 4: a register process is SIGKILLed while it sells, and restarted on the same journals.

Odd rounds kill it at a random moment of normal selling (some sales are journaled and in
flight). Even rounds first take the store broker away, so the registers keep journaling sales
they cannot publish, and kill the process then: those sales exist only in the journals. After
each restart every sale that was pending at the kill must be acked by the gateway (once).
6 rounds (20 with P4_FAULTS_LONG=1)."""

import time

import p4harness as h
from p4harness import check, log, wait_until
import faultenv


def main():
    rng = faultenv.make_rng()
    rounds = faultenv.pick(6, 20)
    env = faultenv.FaultStore()
    env.start_gateway()
    env.wait_online()
    env.probe_receipts()
    sim = env.simulator("r", registers=3, rate=60)
    env.wait_sales(30, what="sales before the first kill")
    pending_at_kills = 0
    unpublished = 0
    for i in range(rounds):
        offline = i % 2 == 1
        mark = env.status.mark()
        if offline:
            env.store_broker.stop()
            env.wait_sales(20, what="sales journaled while the store broker is down")
        else:
            time.sleep(rng.uniform(0.2, 1.2))  # a random moment of normal selling
        rc = sim.kill()
        check(rc == -9, "register process was not killed: rc %r" % rc)
        env.absorb()
        pending = [r["id"] for r in env.truth.pending()]
        pending_at_kills += len(pending)
        if offline:
            unpublished += len(pending)
            env.store_broker.start()
            env.wait_back_online(mark)
        if i % 2 == 0:
            env.receive(rng)
        sim.start()

        def all_acked():
            env.absorb()
            return all(env.truth.sales[sid]["state"] == h.JOURNAL_ACKED for sid in pending)
        wait_until(all_acked, 30, "the %d sales pending at the kill to be acked" % len(pending),
                   interval_s=0.1,
                   detail=lambda: sum(1 for sid in pending
                                      if env.truth.sales[sid]["state"] != h.JOURNAL_ACKED))
        log("round %d/%d (%s): %d sales pending at the kill, all acked after the restart"
            % (i + 1, rounds, "store broker down" if offline else "selling", len(pending)))
    env.answer_resyncs()
    check(pending_at_kills > 0, "no kill caught a pending sale: the scenario proved nothing")
    env.finish("f4_register_kill", rounds, extra_figures={
        "pending_at_kills": pending_at_kills, "journaled_unpublished": unpublished})


if __name__ == "__main__":
    h.run_test(main)
