# SPDX-License-Identifier: Apache-2.0
"""Fault 3: brokers restart while registers sell. The store broker (no persistence, as in a
store) is stopped with SIGTERM and with SIGKILL, alternately, and started again on its port:
QoS 1 messages it held are gone, so registers must resend and the gateway must dedupe. The
cloud broker runs with persistence and is restarted (SIGTERM, which saves its state): the
gateway's persistent session and the batches awaiting PUBACK must survive it. Twice as many
restarts with P4_FAULTS_LONG=1."""

import time

import p4harness as h
from p4harness import check, log, wait_until
import faultenv


def main():
    rng = faultenv.make_rng()
    rounds = faultenv.pick(4, 10)
    env = faultenv.FaultStore(cloud_persistence=True)
    env.start_gateway()
    env.wait_online()
    env.probe_receipts()
    env.simulator("r", registers=3, rate=60)
    env.wait_sales(30, what="sales before the first restart")
    store_restarts = {"term": 0, "kill": 0}
    cloud_restarts = 0
    for i in range(rounds):
        # The store broker: SIGTERM on even rounds, SIGKILL on odd ones.
        how = "kill" if i % 2 else "term"
        env.wait_sales(20, what="sales before restarting the store broker")
        mark = env.status.mark()
        rc = env.store_broker.kill() if how == "kill" else env.store_broker.stop()
        log("store broker %s (rc %s); registers keep journaling" % (how, rc))
        time.sleep(rng.uniform(0.2, 1.5))  # the outage length is the scenario
        env.store_broker.start()
        store_restarts[how] += 1
        # Everyone reconnects by themselves: the gateway reports online again.
        env.wait_back_online(mark)
        env.wait_sales(20, what="sales after the store broker came back")
        # The cloud broker, with persistence: a graceful restart while batches flow.
        seen = len(env.hq.gw_seqs())
        wait_until(lambda: len(env.hq.gw_seqs()) > seen, 20, "records flowing to the cloud",
                   interval_s=0.005)
        if i % 2 == 0:
            env.receive(rng)
        env.cloud.restart()
        cloud_restarts += 1
        wait_until(lambda: env.hq.connected, 20, "HQ to reconnect to the cloud broker")
        seen = len(env.hq.gw_seqs())
        wait_until(lambda: len(env.hq.gw_seqs()) > seen, 30,
                   "records reaching HQ after the cloud broker restart", interval_s=0.05)
        env.answer_resyncs()
        log("round %d/%d: store broker %s + cloud broker restart; replica %d, HQ %d"
            % (i + 1, rounds, how, env.replica_count(), len(env.hq.gw_seqs())))
    check(env.gw.running(), "p4gw died while the brokers restarted")
    env.finish("f3_broker_restart", rounds, extra_figures={
        "store_sigterm": store_restarts["term"], "store_sigkill": store_restarts["kill"],
        "cloud_restarts": cloud_restarts})


if __name__ == "__main__":
    h.run_test(main)
