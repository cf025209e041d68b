# SPDX-License-Identifier: Apache-2.0
"""The cloud broker (persistence on) SIGKILLed and restarted, (A) while p4hq is offline with a
persistent session and the registers' sales are all acked and PUBACKed by the broker (issue
13's reproduction: 200+ sales that a PUBACK-trusting gateway would consider delivered), and
(B) while p4hq ingests under load. Every sale acked to a register reaches HQ exactly once."""

import p4harness as h
from p4harness import check, log, wait_until
import hqchain


def watch_uplink(chain, stores):
    """A plain subscriber per store on the cloud broker: once it has seen every gw_seq, the
    broker has taken (PUBACKed) every record and queued it for HQ's session too."""
    return {s.id: h.CloudConsumer(chain.cloud, hqchain.TENANT, s.id) for s in stores}


def wait_broker_has_all(watchers, stores, timeout_s=30):
    for s in stores:
        want = set(range(1, s.last_gw_seq() + 1))
        w = watchers[s.id]
        wait_until(lambda: w.has_gw_seqs(want), timeout_s,
                   "the cloud broker to carry %s's %d records" % (s.id, len(want)),
                   detail=lambda: "%d of %d" % (len(w.gw_seqs() & want), len(want)))
        w.close()
        log("%s: all %d records PUBACKed by the cloud broker" % (s.id, len(want)))


def main():
    chain = hqchain.Chain(persistence=True)
    hq = chain.hq()
    hq.start()            # creates HQ's persistent session on the broker
    chain.wait_tables()
    hq.import_products()
    stores = [chain.store("s001"), chain.store("s002")]
    for s in stores:
        s.start()

    # A. HQ offline; the registers sell; the broker holds everything for HQ's session.
    check(hq.stop() == 0, "p4hq did not stop cleanly")
    watchers = watch_uplink(chain, stores)
    load = hqchain.Load(stores, 50, 3).start()
    load.wait(60)
    made = {s.id: s.last_gw_seq() for s in stores}
    check(sum(made.values()) >= 200, "only %r sales made" % made)
    wait_broker_has_all(watchers, stores)
    check(chain.hq_count() == 0, "HQ ingested while stopped")
    chain.cloud.kill()
    log("cloud broker SIGKILLed with %r sales queued for HQ" % made)
    chain.cloud.start()
    hq.start()
    chain.wait_caught_up(90)
    chain.verify()

    # B. The broker dies while HQ ingests.
    base = chain.hq_count()
    load = hqchain.Load(stores, 25, 12, name="live").start()
    hqchain.wait_sales_at_hq(chain, base + 60, 30)
    chain.cloud.kill()
    log("cloud broker SIGKILLed while HQ ingests (HQ held %d sales)" % chain.hq_count())
    chain.cloud.start()
    load.wait(90)
    chain.wait_caught_up(90)
    chain.verify()
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
