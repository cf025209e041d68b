# SPDX-License-Identifier: Apache-2.0
"""Fault 2: the WAN flaps while registers sell. For 20 s (60 s with P4_FAULTS_LONG=1) the cloud
link is cut and restored every 1-3 s, rotating the relay's modes: close (clean TCP reset),
blackhole (nothing answers) and freeze (the link stays up but every byte vanishes, so batches
awaiting PUBACK lose it and only the keepalive notices). Cuts are made while batches are in
flight. Nothing may be lost; copies re-sent after a lost PUBACK carry the same gw_seq."""

import time

import p4harness as h
from p4harness import check, log, wait_until
import faultenv

MODES = ("freeze", "close", "blackhole")


def main():
    rng = faultenv.make_rng()
    flap_s = faultenv.pick(20, 60)
    env = faultenv.FaultStore()
    env.start_gateway()
    env.wait_online()
    env.probe_receipts()
    env.simulator("r", registers=3, rate=80)
    env.wait_sales(30, what="sales before the first cut")
    cuts = {m: 0 for m in MODES}
    cut_with_backlog = 0
    t_end = time.monotonic() + flap_s
    i = 0
    while time.monotonic() < t_end:
        mode = MODES[i % len(MODES)]
        i += 1
        # Cut while the link is carrying batches: right after a new record reached HQ.
        seen = len(env.hq.gw_seqs())
        wait_until(lambda: len(env.hq.gw_seqs()) > seen, 20, "records flowing before the cut",
                   interval_s=0.005)
        backlog = env.outbox_pending()
        env.relay.cut(mode)
        cuts[mode] += 1
        cut_with_backlog += 1 if backlog > 0 else 0
        if i % 2 == 0:
            env.receive(rng)   # HQ keeps sending while the store cannot hear it
        # Outage and uptime lengths are the scenario (1-3 s each), not a wait for an event.
        time.sleep(rng.uniform(1.0, 3.0))
        env.relay.restore()
        env.answer_resyncs()
        time.sleep(rng.uniform(1.0, 3.0))
        log("flap %d (%s): backlog at cut %d, outbox now %d, %d records at HQ"
            % (i, mode, backlog, env.outbox_pending(), len(env.hq.gw_seqs())))
    check(env.gw.running(), "p4gw died during the flapping")
    env.finish("f2_wan_flap", i, extra_figures={
        "flap_s": flap_s, "cuts_freeze": cuts["freeze"], "cuts_close": cuts["close"],
        "cuts_blackhole": cuts["blackhole"], "cuts_with_backlog": cut_with_backlog})


if __name__ == "__main__":
    h.run_test(main)
