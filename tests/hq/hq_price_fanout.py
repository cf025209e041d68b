# SPDX-License-Identifier: Apache-2.0
""""Change a price at HQ and it's active on all terminals within seconds": HQ publishes a price
on p4/v1/T/_all/down/price; five real registers (p4term watch, then p4term price) show it. The
latency from HQ's publish to the last register's cache is printed."""

import os
import time

import p4harness as h
import hqenv
from hqenv import check, log, wait_until

STOCK = [("coffee-250g", 50, 899, 1), ("milk-1l", 80, 129, 1)]
N_REGS = 5


def main():
    cloud = h.Mosquitto("cloud")
    st = hqenv.Store(cloud, "s001", STOCK,
                     extra={"policy": {"register_revision": "1.1"}}).start()
    hq = hqenv.Hq(cloud)
    regdir = h.subdir("registers")
    inis, watches = [], []
    for i in range(N_REGS):
        reg = "r%02d" % (i + 1)
        ini = hqenv.term_ini(regdir, "s001", reg, st.broker.uri)
        inis.append(ini)
        watches.append(hqenv.TermProc([hqenv.p4term_path(), "--config", ini, "watch"],
                                      os.path.join(regdir, "watch-%s.log" % reg)))
    for w in watches:
        wait_until(lambda w=w: "synced" in w.output(), 30, "a register watch to sync",
                   detail=lambda w=w: w.output()[-300:])
    for ini in inis:
        rc, out = hqenv.term(ini, "price", "coffee-250g")
        check(rc == 0 and out.split() == ["899", "ver=1"], "imported price on %s: %r"
              % (ini, out))

    want = "entity=price key=coffee-250g now=949 ver=7"
    t0 = hq.down("price", [{"sku": "coffee-250g", "price": 949, "ver": 7}])
    seen = {}

    def all_seen():
        for i, w in enumerate(watches):
            if i not in seen and want in w.output():
                seen[i] = time.monotonic()
        return len(seen) == N_REGS
    wait_until(all_seen, 20, "the HQ price on all %d registers" % N_REGS, interval_s=0.01,
               detail=lambda: "%d of %d" % (len(seen), N_REGS))
    lat = sorted((t - t0) * 1000 for t in seen.values())
    log("PRICE FAN-OUT: HQ publish -> last of %d register caches in %.0f ms (first %.0f ms)"
        % (N_REGS, lat[-1], lat[0]))
    for ini in inis:
        rc, out = hqenv.term(ini, "price", "coffee-250g")
        check(rc == 0 and out.split() == ["949", "ver=7"], "p4term price on %s: %r" % (ini, out))
    # The replica holds it once, with one change row, and the watermark for resync.
    check(st.gw.query("SELECT price, ver FROM prices WHERE sku = 'coffee-250g'") == [(949, 7)],
          "replica price")
    check(st.gw.query("SELECT value FROM meta WHERE key = 'hw_price'") == [(7,)],
          "price watermark")
    # The same message again changes nothing (no new change row).
    n = st.gw.query("SELECT count(*) FROM changes")[0][0]
    hq.down("price", [{"sku": "coffee-250g", "price": 949, "ver": 7}])
    hq.down("price", [{"sku": "milk-1l", "price": 139, "ver": 8}], store="s001")
    wait_until(lambda: st.gw.query("SELECT ver FROM prices WHERE sku = 'milk-1l'") == [(8,)],
               10, "the store-only price")
    check(st.gw.query("SELECT count(*) FROM changes")[0][0] == n + 1,
          "a repeated price message made a change row")
    check(st.gw.stop() == 0, "clean stop")


if __name__ == "__main__":
    h.run_test(main)
