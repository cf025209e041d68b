# SPDX-License-Identifier: Apache-2.0
"""Fault 1: p4gw is SIGKILLed at random moments and restarted while libp4term registers sell.

Each trial picks one of four moments: steady ingest; a burst of sales (large group commits in
progress); the outbox draining to the cloud after a WAN cut; right after a restart, while the
registers' caches re-sync (sync replies in flight). 20 trials (100 with P4_FAULTS_LONG=1).
After every trial the replica must still be gap-free with no sale twice; at the end every
journaled sale is in the replica once and at the cloud with one gw_seq (faultenv.finish)."""

import time

import p4harness as h
from p4harness import check, log, wait_until
import faultenv

PHASES = ("ingest", "burst", "drain", "sync")


def replica_sound(env):
    n, top, ids = env.gw.query("SELECT COUNT(*), COALESCE(MAX(gw_seq), 0), "
                               "COUNT(DISTINCT id) FROM sales")[0]
    check(n == top == ids, "replica after restart: %d rows, max gw_seq %d, %d distinct ids"
          % (n, top, ids))
    return n


def main():
    rng = faultenv.make_rng()
    trials = faultenv.pick(20, 100)
    env = faultenv.FaultStore()
    env.start_gateway()
    env.wait_online()
    env.probe_receipts()
    env.simulator("r", registers=3, rate=60)
    burst = env.simulator("b", registers=2, rate=600, duration_s=1, grace_s=0, start=False)
    env.wait_sales(30, what="sales before the first kill")
    hits = {p: 0 for p in PHASES}
    in_flight_at_kill = 0
    for i in range(trials):
        phase = PHASES[i % len(PHASES)]
        if i % 3 == 0:
            env.receive(rng)
        env.answer_resyncs()
        if phase == "ingest":
            # A random moment of steady selling (choosing when to strike, not waiting).
            time.sleep(rng.uniform(0.05, 0.6))
        elif phase == "burst":
            if burst.running():
                burst.wait(30)
            base = env.journal_counts()["made"]
            burst.start()
            wait_until(lambda: env.journal_counts()["made"] >= base + 40, 20,
                       "the burst to be selling", interval_s=0.02)
            time.sleep(rng.uniform(0.0, 0.2))  # somewhere inside the burst
        elif phase == "drain":
            mark = env.status.mark()
            env.relay.cut("close")
            env.status.wait_state("wan_down", 20, since=mark)
            env.wait_sales(40, what="sales while the WAN is cut")
            seen = len(env.hq.gw_seqs())
            mark = env.status.mark()
            env.relay.restore()
            # Strike as soon as the backlog starts reaching the cloud.
            wait_until(lambda: len(env.hq.gw_seqs()) > seen, 20, "the outbox to drain",
                       interval_s=0.005)
        elif phase == "sync":
            env.restart_gateway()
            # Just after a restart the registers reconnect and re-sync their caches.
            time.sleep(rng.uniform(0.0, 0.15))
        if phase == "drain":
            backlog = env.outbox_pending()
        rc = env.gw.kill()
        check(rc == -9, "p4gw was not killed: rc %r" % rc)
        if phase == "drain":
            in_flight_at_kill += 1 if backlog > 0 else 0
        hits[phase] += 1
        # Random downtime: registers keep journaling and resend after the restart.
        time.sleep(rng.uniform(0.0, 0.5))
        env.start_gateway()
        env.restarts += 1
        n = replica_sound(env)
        log("trial %d/%d (%s): killed and restarted, replica %d sales gap-free"
            % (i + 1, trials, phase, n))
    env.answer_resyncs()
    c = env.journal_counts()
    check(c["made"] > 0 and env.replica_count() > 0, "nothing was sold")
    env.finish("f1_gateway_kill", trials, extra_figures={
        "kills_ingest": hits["ingest"], "kills_burst": hits["burst"],
        "kills_drain": hits["drain"], "kills_drain_with_backlog": in_flight_at_kill,
        "kills_sync": hits["sync"]})


if __name__ == "__main__":
    h.run_test(main)
