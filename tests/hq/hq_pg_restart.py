# SPDX-License-Identifier: Apache-2.0
"""PostgreSQL restarted mid-stream, once cleanly (pg_ctl -m fast: every session is
terminated) and once crashed (SIGKILL of every server process, then crash recovery): p4hq
stays up, reconnects and carries on; nothing is lost or posted twice."""

import time

import p4harness as h
from p4harness import check, log, wait_until
import hqchain


def main():
    chain = hqchain.Chain()
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    hq.import_products()
    stores = [chain.store("s001"), chain.store("s002")]
    for s in stores:
        s.start()
    load = hqchain.Load(stores, 25, 16).start()

    hqchain.wait_sales_at_hq(chain, 60, 30)
    n = chain.hq_count()
    chain.pg.restart(mode="fast")
    log("PostgreSQL restarted (fast) with %d sales at HQ" % n)
    hqchain.wait_sales_at_hq(chain, n + 60, 30)
    hq.check_alive()

    n = chain.hq_count()
    pm = chain.pg.kill()
    log("PostgreSQL postmaster %d and its backends SIGKILLed with %d sales at HQ" % (pm, n))
    time.sleep(1.0)  # a real outage: HQ keeps receiving batches it cannot commit
    chain.pg.start()
    hqchain.wait_sales_at_hq(chain, n + 60, 40)
    hq.check_alive()

    load.wait(90)
    chain.wait_caught_up(90)
    chain.verify()
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
