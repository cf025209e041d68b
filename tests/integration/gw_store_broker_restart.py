# SPDX-License-Identifier: Apache-2.0
"""The store's own broker restarts (a clean stop, then a crash) under a running gateway: the
gateway reconnects on its own, subscribes again, publishes its status again, and sales made
afterwards are acked, stored and sent to the cloud like any other."""

import time

import p4harness as h
from p4harness import check, log, wait_until
import gwenv

N_SALES = 20


def sell_and_settle(reg, n):
    """Sells N sales and waits for their acks, resending what stays pending as a register
    does after its ack timeout. Returns how many resend rounds were needed."""
    ids = reg.sell(n)
    rounds = 0
    deadline = time.monotonic() + h.scaled(30)
    while True:
        try:
            reg.wait_acked(ids, timeout_s=5)
            return rounds
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
            rounds += 1
            reg.resend([s for s in ids if not reg.is_acked(s)])


def main():
    env = gwenv.StoreEnv()
    env.start()
    reg = env.register("r1")
    check(sell_and_settle(reg, N_SALES) == 0, "acks needed resends before any restart")

    for how in ("restart", "crash"):
        mark = env.status.mark()
        t0 = time.monotonic()
        since_ts = h._utc_ts()  # statuses stamped before the restart are old news
        if how == "restart":
            env.store_broker.restart()
        else:
            env.store_broker.kill()
            env.store_broker.start()
        # Registers and the status watcher reconnect by themselves (paho), as the gateway must.
        wait_until(lambda: reg.connected and env.status.connected, 20,
                   "the test clients to reconnect")
        st = env.status.wait_state("online", 30, since=mark,
                                   pred=lambda b: b.get("ts", "") >= since_ts)
        log("store broker %s: gateway online again after %.1fs (%r)"
            % (how, time.monotonic() - t0, st))
        rounds = sell_and_settle(reg, N_SALES)
        log("%d sales after the %s acked (%d resend rounds)" % (N_SALES, how, rounds))
        check(rounds <= 1, "sales after the %s needed %d resend rounds" % (how, rounds))
        retained = h.fetch_retained(env.store_broker, env.gw.status_topic)
        check(retained.get("state") == "online", "retained status on the %s broker: %r"
              % (how, retained))
        check(env.gw.running(), "p4gw exited when its store broker went away")

    sales = dict(reg.sales)
    acked = gwenv.ack_gw_seqs([reg])
    by_id = env.check_replica_sales(sales, acked)
    check(sorted(by_id.values()) == list(range(1, 3 * N_SALES + 1)),
          "gw_seq not 1..%d" % (3 * N_SALES))
    env.check_cloud(sales, by_id, timeout_s=30)
    env.check_stock(sales.values())
    check(env.gw.stop() == 0, "p4gw did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
