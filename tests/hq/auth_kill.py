# SPDX-License-Identifier: Apache-2.0
"""Issue 14, p4hq SIGKILLed between commit and publish: with the cloud broker stopped,
`p4hq price set` commits the price and its downlink row; p4hq is killed before it could
publish it; once the broker and p4hq are back, the row goes out and every register of both
stores shows the price (once: the row is marked published)."""

import time

import p4harness as h
import hqchain
from authenv import Store, check, log, price_set, start_chain, wait_until


def pending_rows(chain):
    return chain.pg.value("SELECT count(*) FROM downlink WHERE tenant = %s AND"
                          " published_at IS NULL", hqchain.TENANT)


def main():
    chain, hq = start_chain(persistence=True)   # the stores' cloud sessions survive the restart
    stores = [Store(chain, "s001"), Store(chain, "s002")]
    for s in stores:
        s.start()
    regs = [s.watch(r) for s in stores for r in ("r01", "r02")]
    for w in regs:
        wait_until(lambda w=w: any(ln.startswith("synced") for (_t, ln) in w.lines), 30,
                   "p4term watch %s to sync" % w.ini)
    ver0 = price_set(hq, "kill-sku", 100)
    wait_until(lambda: all(w.price_seen("kill-sku", ver0) for w in regs), 15,
               "the first price at every register")

    chain.cloud.stop()
    ver = price_set(hq, "kill-sku", 777)         # committed: master row and downlink row
    check(pending_rows(chain) >= 1, "no unpublished downlink row after the commit")
    time.sleep(0.3)  # noqa: give the publisher a chance to (wrongly) mark it without a broker
    check(pending_rows(chain) >= 1, "the downlink row was marked published with no broker")
    check(hq.kill() is not None, "p4hq was not running")
    log("p4hq killed with %d downlink row(s) committed and unpublished" % pending_rows(chain))
    check(not any(w.price_seen("kill-sku", ver) for w in regs), "published before the kill")

    chain.cloud.start()
    t0 = time.monotonic()
    hq.start()
    wait_until(lambda: all(w.price_seen("kill-sku", ver) for w in regs), 30,
               "the price committed before the kill at every register")
    log("after the restart the price reached every register in %.0f ms"
        % ((time.monotonic() - t0) * 1000))
    wait_until(lambda: pending_rows(chain) == 0, 15, "the downlink row marked published")
    for s in stores:
        rows = s.gw.query("SELECT ver FROM prices WHERE sku = 'kill-sku'")
        check(rows and rows[0][0] == ver, "%s replica holds %r, want ver %d" % (s.id, rows, ver))
    hq.check_alive()


if __name__ == "__main__":
    h.run_test(main)
