# SPDX-License-Identifier: Apache-2.0
"""p4hq SIGKILLed at random points while two stores sell (at least 10 trials): it may die
after its MQTT client PUBACKed a batch and before COMMIT, mid-transaction, or between the
COMMIT and its down/ack. Afterwards HQ holds every sale the stores accepted exactly once (one
journal entry each, stock and trial balance exact): the gateways resend what HQ's watermark
does not cover, and the (store, gw_seq) key makes the copies harmless."""

import random
import time

import p4harness as h
from p4harness import check, log, wait_until
import hqchain

TRIALS = 12
RATE = 25            # sales/s per store


def main():
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    log("seed %d" % seed)
    chain = hqchain.Chain()
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    hq.import_products()
    stores = [chain.store("s001"), chain.store("s002")]
    for s in stores:
        s.start()
    load = hqchain.Load(stores, RATE, 3600).start()
    hqchain.wait_sales_at_hq(chain, 20, 30)
    at_kill = []
    for trial in range(TRIALS):
        if not hq.running():
            hq.start()
        # Kill somewhere in 0..1.2 s of ingesting: sometimes before the first batch is
        # committed, sometimes mid-stream.
        time.sleep(rng.uniform(0.0, 1.2))
        n = chain.safe(chain.hq_count, 0)
        hq.kill()
        at_kill.append(n)
    log("%d kills; HQ held %s sales at each" % (TRIALS, at_kill))
    check(at_kill[-1] > at_kill[0], "HQ made no progress across the kills")
    hq.start()
    # The registers stop after the trials; HQ must then catch up without help.
    for sim in load.sims:
        sim.stop()
    for s in stores:
        for sim in s.sims:
            check(sim.drain(60) == 0, "%r left sales unacked" % sim)
    chain.wait_caught_up(90)
    chain.verify()
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
