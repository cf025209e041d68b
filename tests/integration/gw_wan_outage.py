# SPDX-License-Identifier: Apache-2.0
"""The WAN to the cloud goes down: the store keeps selling (1,000 sales acked locally, status
wan_down with a growing outbox); when it comes back the backlog drains in gw_seq order with no
loss while new sales are still acked promptly and reach the cloud too."""

import threading
import time

import p4harness as h
from p4harness import check, log, wait_until
import gwenv

N_OUTAGE = 1000
N_DRAIN = 100
DRAIN_PACE_S = 0.02      # one sale every 20 ms from the register selling during the drain
PROMPT_ACK_S = 3.0       # "promptly" on a loaded 2-core machine with fsync per commit


def main():
    env = gwenv.StoreEnv(relay=True)
    env.start()
    r1, r2, r3 = env.register("r1"), env.register("r2"), env.register("r3")

    # Baseline: the link works.
    r1.sell(10)
    r1.wait_acked(timeout_s=20)
    wait_until(lambda: env.hq.has_gw_seqs(range(1, 11)), 20, "the first 10 sales at the cloud")
    # and delivered: the cloud's ack (down/ack) may still be on its way when they arrive
    wait_until(lambda: env.gw.query("SELECT COUNT(*) FROM outbox WHERE delivered = 0")[0][0] == 0,
               20, "the first 10 sales delivered (covered by the cloud's ack)")

    mark = env.status.mark()
    env.relay.cut()
    env.status.wait_state("wan_down", 20, since=mark)
    log("link cut; status wan_down")

    t0 = time.monotonic()
    threads = [threading.Thread(target=r.sell, args=(N_OUTAGE // 2,)) for r in (r1, r2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(lambda: all(r.is_acked(s) for r in (r1, r2) for s in r.order), 60,
               "%d sales acked during the outage" % N_OUTAGE,
               detail=lambda: len(r1.acked()) + len(r2.acked()))
    dt = time.monotonic() - t0
    log("%d sales acked locally during the outage in %.2fs (%.0f/s); latency %s" % (
        N_OUTAGE, dt, N_OUTAGE / dt,
        gwenv.latency_summary(gwenv.ack_latencies(r1, r1.order[10:]) +
                              gwenv.ack_latencies(r2))))
    for r in (r1, r2):
        bad = [(s, r.final_ack(s)) for s in r.order if r.final_ack(s).get("status") != "ok"]
        check(not bad, "%s: acks not ok: %r" % (r.reg, bad[:3]))

    # Nothing crossed the cut link, and the outbox holds all of it.
    check(max(env.hq.gw_seqs()) == 10, "records reached the cloud through a cut link: %r"
          % sorted(env.hq.gw_seqs())[-3:])
    undelivered = env.gw.query("SELECT COUNT(*) FROM outbox WHERE delivered = 0")[0][0]
    check(undelivered == N_OUTAGE, "outbox holds %d undelivered rows, want %d"
          % (undelivered, N_OUTAGE))
    st = env.status.wait_state("wan_down", 15, since=mark,
                               pred=lambda b: b.get("outbox", 0) >= N_OUTAGE)
    depths = [b.get("outbox") for b in env.status.live_since(mark)
              if isinstance(b, dict) and b.get("state") == "wan_down"]
    check(depths == sorted(depths) and depths[0] < depths[-1],
          "outbox depth in wan_down statuses does not grow: %r" % depths)
    log("status during the outage: outbox depths %s ... %s (%d updates), latest %r"
        % (depths[:3], depths[-1:], len(depths), st))

    # Restore; sell steadily through the drain.
    mark = env.status.mark()
    env.relay.restore()
    t_restore = time.monotonic()
    drain_done = {}

    def watch_drain():
        try:
            wait_until(lambda: env.hq.has_gw_seqs(range(11, 11 + N_OUTAGE)), 120,
                       "the backlog at the cloud", interval_s=0.01)
            drain_done["t"] = time.monotonic()
        except Exception as e:
            drain_done["error"] = e

    watcher = threading.Thread(target=watch_drain)
    watcher.start()
    for _ in range(N_DRAIN):
        r3.sell(1)
        time.sleep(DRAIN_PACE_S)  # pacing the load, not waiting for anything
    watcher.join()
    check("error" not in drain_done, "backlog drain: %s" % drain_done.get("error"))
    t_drain = drain_done["t"] - t_restore
    backlog = [r["_t"] for r in env.hq.snapshot() if 11 <= r["gw_seq"] < 11 + N_OUTAGE]
    t_flow = max(backlog) - min(backlog)
    log("DRAIN: %d backlog records at the cloud %.2fs after restore (%.0f records/s incl. "
        "reconnect); first to last record %.3fs (%.0f records/s)"
        % (N_OUTAGE, t_drain, N_OUTAGE / t_drain, t_flow, N_OUTAGE / max(t_flow, 1e-3)))

    r3.wait_acked(timeout_s=30)
    lat = gwenv.ack_latencies(r3)
    log("acks of %d sales made during the drain: %s" % (N_DRAIN, gwenv.latency_summary(lat)))
    check(max(lat) < PROMPT_ACK_S, "a sale made during the drain waited %.2fs for its ack"
          % max(lat))

    regs = (r1, r2, r3)
    sales = gwenv.all_sales(regs)
    acked = gwenv.ack_gw_seqs(regs)
    by_id = env.check_replica_sales(sales, acked)
    env.check_cloud(sales, by_id, timeout_s=60)
    t_all = max(r["_t"] for r in env.hq.snapshot()) - t_restore
    log("cloud: %d distinct records, %d duplicates, last drain-time sale arrived %.2fs after "
        "restore" % (len(env.hq.gw_seqs()), env.hq.duplicates(), t_all))
    check(set(env.hq.ids()) == set(sales), "cloud ids differ from the sales made")
    env.check_stock(sales.values())
    env.wait_outbox_drained()
    env.status.wait_state("online", 20, since=mark, pred=lambda b: b.get("outbox") == 0)
    check(env.gw.stop() == 0, "p4gw did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
