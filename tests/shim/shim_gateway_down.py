# SPDX-License-Identifier: Apache-2.0
"""With the gateway stopped, two registers (p4term simulate, fresh journals) record 200 sales:
every one is journaled at once and none is acked. Then the gateway starts and, with no operator
action and the same register processes still running, all 200 are acked, each is in the
replica exactly once with seqs 1..N per register, and each reaches the cloud exactly once."""

import time

import p4harness as h
from p4harness import check, log, wait_until
import shimenv

SALES = 200
REGS = ("r01", "r02")


def main():
    env = shimenv.ShimEnv()
    # Gateway stopped: the store broker is up, nobody answers sales.
    t0 = time.monotonic()
    sim = env.simulate("simulate", "--registers", len(REGS), "--rate", 200, "--duration", 30,
                       "--count", SALES, "--grace", 60, "--ack-timeout-ms", 500,
                       "--resend-max-ms", 2000)
    wait_until(lambda: sum(env.journal_count(r) for r in REGS) >= SALES, 30,
               "%d sales journaled while the gateway is down" % SALES,
               detail=lambda: [env.journal_count(r) for r in REGS])
    log("%d sales journaled in %.1fs with the gateway down"
        % (SALES, time.monotonic() - t0))
    rows = [row for r in REGS for row in env.journal(r)]
    check(len(rows) == SALES, "journals hold %d sales, want %d" % (len(rows), SALES))
    check(all(row[2] == 0 for row in rows), "a sale was acked with no gateway running")
    check(env.gw.query("SELECT COUNT(*) FROM sales")[0][0] == 0, "replica has sales already")
    check(sim.proc.poll() is None, "simulate exited before the gateway came: %s"
          % sim.output())

    t_start = time.monotonic()
    env.start_gateway()
    rc = sim.wait(90)
    out = sim.output()
    log("simulate exited %d %.1fs after the gateway started:\n%s"
        % (rc, time.monotonic() - t_start, "\n".join(l for l in out.splitlines()
                                                     if l.startswith("simulate:"))))
    check(rc == 0, "simulate exited %d: not every sale was acked" % rc)
    summary = shimenv.parse_summary(out)
    check(int(summary["sales_made"]) == SALES, "summary: %r" % summary)
    check(int(summary["still_pending"]) == 0, "summary: %r" % summary)
    check(int(summary["acked_ok"]) + int(summary["duplicates"]) == SALES,
          "summary counts %r acks for %d sales" % (summary, SALES))

    n = sum(env.check_register_done(r) for r in REGS)
    check(n == SALES, "registers hold %d sales, want %d" % (n, SALES))
    check(len(env.replica_sales()) == SALES, "replica holds %d sales"
          % len(env.replica_sales()))
    got = env.check_cloud(timeout_s=60)
    check(got == SALES, "cloud got %d distinct sales, want %d" % (got, SALES))
    log("all %d sales acked, in the replica once and at the cloud once" % SALES)


if __name__ == "__main__":
    h.run_test(main)
