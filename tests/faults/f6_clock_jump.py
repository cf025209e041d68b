# SPDX-License-Identifier: Apache-2.0
"""Fault 6: registers' wall clocks jump (years into the past and the future) while they sell.

Two registers run under an LD_PRELOAD shim (libp4clockskew.so) whose offset the test rewrites,
so their sale ts and UUIDv7 ids jump with it; a third register keeps the true time. The
register process is SIGKILLed and restarted under another offset mid-run, so sales are resent
across a jump. Ordering must not follow the clock: each register's seq keeps counting 1..K,
the gateway applies its sales in seq order, gw_seq stays gap-free and HQ gets records in
gw_seq order; dedupe is by id, so a resend is never applied twice whatever its ts.
6 jumps (20 with P4_FAULTS_LONG=1)."""

import os

import p4harness as h
from p4harness import check, log
import faultenv

DAY_MS = 86400 * 1000
YEAR_MS = 365 * DAY_MS
# Offsets in CI mode, in order; long mode draws more from [-8 years, +5 years].
JUMPS_MS = (3 * YEAR_MS, -8 * YEAR_MS, DAY_MS, -3600 * 1000, 5 * YEAR_MS, 0)


def skew_lib():
    return h.require_built("tests", "faults", "libp4clockskew.so")


def main():
    rng = faultenv.make_rng()
    lib = skew_lib()
    jumps = list(JUMPS_MS) if not faultenv.LONG else \
        [rng.randint(-8 * YEAR_MS, 5 * YEAR_MS) for _ in range(19)] + [0]
    env = faultenv.FaultStore()
    env.start_gateway()
    env.wait_online()
    env.probe_receipts()
    skew_file = os.path.join(h.subdir("clock"), "skew_ms")
    with open(skew_file, "w") as f:
        f.write("0\n")
    asan = os.environ.get("ASAN_OPTIONS", "")
    skewed = env.simulator("k", registers=2, rate=40, env={
        "LD_PRELOAD": lib, "P4_CLOCK_SKEW_FILE": skew_file,
        # A sanitized p4term wants its runtime first in the library list; the shim only
        # forwards clock reads, so that check may be relaxed for this process.
        "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"})
    env.simulator("r", registers=1, rate=20)
    env.wait_sales(20, what="sales before the first jump")
    for i, skew in enumerate(jumps):
        with open(skew_file + ".tmp", "w") as f:
            f.write("%d\n" % skew)
        os.replace(skew_file + ".tmp", skew_file)
        if i == len(jumps) // 2:
            # A crash across the jump: the restarted registers resend their pending sales
            # (made under the old offset) while making new ones under the new one.
            rc = skewed.kill()
            check(rc == -9, "register process was not killed: rc %r" % rc)
            env.absorb()
            skewed.start()
        env.wait_sales(30, what="sales at clock offset %+.1f days" % (skew / DAY_MS),
                       sim=skewed)
        if i % 2 == 0:
            env.receive(rng)
        log("jump %d/%d: register clock offset %+.1f days" % (i + 1, len(jumps),
                                                              skew / DAY_MS))
    env.absorb()

    # The clocks really jumped: the sales' ts span years.
    years = sorted({r["sale"]["ts"][:4] for r in env.truth.sales.values()})
    check(len(years) >= 3, "sale ts years %r: the clock shim had no effect" % years)
    # A register's seq follows its journal order, not its clock.
    for path in env.journals():
        rows = h.read_journal(path)
        seqs = [r["seq"] for r in rows if r["seq"] is not None]
        check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs),
              "%s: seqs not increasing in journal order across clock jumps" % path)
    figures = env.finish("f6_clock_jump", len(jumps), extra_figures={
        "ts_years": "%s..%s" % (years[0], years[-1])})
    check(figures["first_arrival_out_of_order"] == 0, "HQ got records out of gw_seq order")
    # Sales applied in seq order per register: gw_seq order is seq order.
    rows = env.gw.query("SELECT reg, seq FROM sales ORDER BY gw_seq")
    last = {}
    for reg, seq in rows:
        check(seq > last.get(reg, 0), "register %s: seq %d applied after seq %d"
              % (reg, seq, last.get(reg, 0)))
        last[reg] = seq


if __name__ == "__main__":
    h.run_test(main)
