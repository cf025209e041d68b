# SPDX-License-Identifier: Apache-2.0
"""The cloud broker (persistence on) SIGKILLed and restarted, (A) while p4hq is offline with a
persistent session and the registers' sales are all acked and PUBACKed by the broker (issue
13's reproduction: 200+ sales that a PUBACK-trusting gateway would consider delivered), and
(B) while p4hq ingests under load. Every sale acked to a register reaches HQ exactly once."""

import p4harness as h
from p4harness import check, log, wait_until
import hqchain


def wait_outbox_acked(stores, timeout_s=30):
    """Until every gateway's status says the broker acknowledged all its records (outbox 0)."""
    for s in stores:
        last = s.last_gw_seq()
        s.status.wait_state(("online",), timeout_s,
                            pred=lambda st: st.get("outbox") == 0)
        log("%s: %d records PUBACKed by the cloud broker" % (s.id, last))


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
    load = hqchain.Load(stores, 50, 3).start()
    load.wait(60)
    made = {s.id: s.last_gw_seq() for s in stores}
    check(sum(made.values()) >= 200, "only %r sales made" % made)
    wait_outbox_acked(stores)
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
