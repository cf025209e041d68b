# SPDX-License-Identifier: Apache-2.0
"""End-to-end acknowledgement (contract 1.2, issue 13): a sale counts delivered only when HQ's
watermark on down/ack covers it, so a cloud broker crash cannot lose what the store forgot.

1. The cloud broker runs with persistence (saved at a clean stop only, as between two
   autosaves) and HQ (h.HQAcker) holds a persistent session. HQ goes offline; 200 sales are
   acked to a register and acknowledged by the broker (PUBACK), which queues them for HQ in
   memory; the broker is SIGKILLed and started again, and those queued copies are gone. When
   HQ returns, every sale acked to the register reaches it, and the gateway's status counts
   them delivered only then. With delivered_on = puback (1.1) they are lost.
2. HQ goes offline again and comes back on a fresh session (the broker dropped what it queued
   for it): the gateway sees the broker acknowledged records HQ does not cover and, after
   hq_resend_s (1 s here), publishes them again. The metrics show both positions.
3. A lower watermark is ignored; a malformed one is rejected with a log line naming the field,
   kept in rejects, and the gateway carries on."""

import json

import p4harness as h
from p4harness import check, log, wait_until
import gwenv

N_LOST = 200
N_FRESH = 50


def main():
    port = h.free_port()
    env = gwenv.StoreEnv(cloud_persistence=True, cloud_autosave_s=3600,
                         hq_client_id="hq-acker-%s" % h.uuid7()[-8:],
                         extra={"cloud": {"hq_resend_s": "1"},
                                "metrics": {"listen": "127.0.0.1:%d" % port}})
    env.start()
    # A clean restart saves HQ's session and subscription in the broker's persistence file.
    mark = env.status.mark()
    env.cloud.restart()
    env.status.wait_state("online", 20, since=mark)
    wait_until(lambda: env.hq.connected, 20, "HQ to reconnect")
    reg = env.register("r1")

    reg.sell(20)
    reg.wait_acked(timeout_s=20)
    wait_until(lambda: (env.status.latest() or {}).get("delivered") == 20, 15,
               "delivered 20 (HQ's watermark)", detail=env.status.latest)

    # ---- 1: the broker loses what it queued for an offline HQ ----
    env.hq.go_offline()
    reg.sell(N_LOST)
    reg.wait_acked(timeout_s=30)
    total = 20 + N_LOST
    m = wait_until(lambda: (lambda m: m if m["p4gw_broker_acked_gw_seq"] == total else None)(
        h.scrape_metrics(port)), 20, "the broker to acknowledge %d records" % total)
    check(m["p4gw_delivered_gw_seq"] == 20 and m["p4gw_hq_through_gw_seq"] == 20,
          "delivered before HQ committed them: %r" % {k: v for k, v in m.items()
                                                     if "gw_seq" in k})
    check(m["p4gw_outbox_depth"] == N_LOST, "outbox depth %r, want %d (kept, not pruned)"
          % (m["p4gw_outbox_depth"], N_LOST))
    env.cloud.kill()
    log("cloud broker SIGKILLed with %d records acknowledged but not at HQ" % N_LOST)
    mark = env.status.mark()
    env.cloud.start()
    env.status.wait_state("online", 20, since=mark)
    env.hq.come_back()
    gw_seq_of = gwenv.ack_gw_seqs([reg])
    check(len(gw_seq_of) == total, "%d sales acked to the register, want %d"
          % (len(gw_seq_of), total))
    env.check_cloud(reg.sales, gw_seq_of, timeout_s=30)
    st = env.status.wait_state("online", 15, since=mark,
                               pred=lambda b: b.get("delivered") == total)
    check(st.get("hq_through") == total and st.get("outbox") == 0,
          "status after HQ's return: %r" % (st,))
    env.wait_outbox_drained()
    log("all %d sales reached HQ after the broker crash; status %r" % (total, st))

    # ---- 2: HQ returns on a fresh session: the resend timer sends again ----
    held = env.hq.watermark()
    env.hq.go_offline()
    reg.sell(N_FRESH)
    reg.wait_acked(timeout_s=30)
    total += N_FRESH
    wait_until(lambda: h.scrape_metrics(port)["p4gw_broker_acked_gw_seq"] == total, 20,
               "the broker to acknowledge %d records" % total)
    resends0 = h.scrape_metrics(port)["p4gw_hq_resends_total"]
    hq2 = h.HQAcker(env.cloud, gwenv.TENANT, gwenv.STORE, through=held)
    wait_until(lambda: hq2.has_gw_seqs(range(held + 1, total + 1)), 30,
               "the gateway to resend what HQ did not commit",
               detail=lambda: (len(hq2.gw_seqs()), h.scrape_metrics(port)))
    m = wait_until(lambda: (lambda m: m if m["p4gw_delivered_gw_seq"] == total else None)(
        h.scrape_metrics(port)), 15, "delivered %d" % total)
    check(m["p4gw_hq_resends_total"] > resends0, "no HQ resend counted: %r" % m)
    check(m["p4gw_outbox_depth"] == 0, "outbox depth %r" % m["p4gw_outbox_depth"])
    res = env.gw.run("status")
    check("delivered=%d broker_acked=%d hq_through=%d" % (total, total, total) in res.stdout,
          "p4gw status: %s" % res.stdout)
    log("fresh-session HQ got gw_seq %d..%d by the resend timer (resends %d)"
        % (held + 1, total, m["p4gw_hq_resends_total"]))

    # ---- 3: lower and malformed watermarks ----
    topic = "p4/v1/%s/%s/down/ack" % (gwenv.TENANT, gwenv.STORE)
    hq2.publish(topic, json.dumps({"store": gwenv.STORE, "through": 5, "ts": h._utc_ts()}),
                retain=True)
    hq2.publish(topic, json.dumps({"store": gwenv.STORE, "through": "lots",
                                   "ts": h._utc_ts()}), retain=True)
    wait_until(lambda: env.gw.query("SELECT COUNT(*) FROM rejects WHERE topic = ?", topic)
               [0][0] == 1, 10, "the malformed watermark in rejects")
    check("through" in env.gw.query("SELECT reason FROM rejects WHERE topic = ?", topic)[0][0],
          "reject reason does not name the field")
    check("downlink rejected topic=%s reason=\"through" % topic in env.gw.log_text(),
          "no log line naming the field")
    m = h.scrape_metrics(port)
    check(m["p4gw_hq_through_gw_seq"] == total and m["p4gw_delivered_gw_seq"] == total,
          "a lower or bad watermark moved the gateway's: %r" % m)
    reg.sell(1)
    reg.wait_acked(timeout_s=20)
    wait_until(lambda: h.scrape_metrics(port)["p4gw_delivered_gw_seq"] == total + 1, 15,
               "the next sale delivered after the bad watermark")
    check(env.gw.stop() == 0, "p4gw did not stop cleanly")
    res = env.gw.run("status")
    check("hq_through=%d" % (total + 1) in res.stdout, "status of the stopped gateway: %s"
          % res.stdout)


if __name__ == "__main__":
    h.run_test(main)
