# SPDX-License-Identifier: Apache-2.0
"""Bad sales from the store network never hurt the gateway: each one (fixtures/rejects.txt plus
an oversized, a binary and an empty payload) gets a `rejected` ack with a readable reason and
is kept in `rejects` as sent; valid sales before and after are accepted with gap-free gw_seq."""

import json
import os
import re

import p4harness as h
from p4harness import check, log, wait_until
import gwenv

MAX_PAYLOAD = 65536  # P4T_MAX_PAYLOAD


def load_cases():
    cases = []
    with open(os.path.join(gwenv.FIXTURES, "rejects.txt")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            # Columns are separated by " | " (the patterns use "|" without spaces).
            name, pattern, id_rule = [p.strip() for p in re.split(r"\s+\|\s+", line)]
            with open(os.path.join(gwenv.FIXTURES, "rejects", name)) as t:
                cases.append((name, t.read().strip(), pattern, id_rule))
    return cases


def fill(template, reg, sid):
    reg.seq += 1
    return (template.replace("@ID@", sid).replace("@SEQ@", str(reg.seq))
            .replace("@STORE@", reg.store).replace("@REG@", reg.reg)
            .replace("@TS@", h._utc_ts())).encode()


def main():
    env = gwenv.StoreEnv()
    env.start()
    reg = env.register("r1")

    before = reg.sell(2)
    reg.wait_acked(before, timeout_s=20)

    cases = []
    for name, template, pattern, id_rule in load_cases():
        sid = h.uuid7()
        cases.append((name, fill(template, reg, sid), pattern, id_rule, sid))
    # Over the limit even though it is a valid sale: whitespace padding after the object.
    sid = h.uuid7()
    huge = reg.make_sale()
    huge["id"] = sid
    body = json.dumps(huge).encode()
    huge_payload = body + b" " * (MAX_PAYLOAD + 4096 - len(body))
    cases.append(("huge (%d bytes)" % len(huge_payload), huge_payload,
                  r"size|big|large|long|limit|65536|bytes|payload", "any", sid))
    cases.append(("binary", bytes(range(256)) * 4, r"json|pars|utf|payload|invalid", '""', ""))
    cases.append(("empty", b"", r"empty|json|pars|payload", '""', ""))

    for name, payload, pattern, id_rule, sid in cases:
        n_acks = reg.ack_count()
        n_rejects = env.gw.query("SELECT COUNT(*) FROM rejects")[0][0]
        reg.publish_raw(payload)
        wait_until(lambda: reg.ack_count() > n_acks, 15, "an ack for %s" % name)
        ack = reg.ack_log[n_acks]
        reason = ack.get("reason", "")
        check(ack.get("status") == "rejected", "%s: ack %r" % (name, ack))
        check(ack.get("gw_seq") == 0, "%s: rejected ack with gw_seq %r" % (name, ack.get("gw_seq")))
        check(isinstance(reason, str) and 0 < len(reason) < 200 and reason.isprintable(),
              "%s: reason not readable: %r" % (name, reason))
        check(re.search(pattern, reason, re.I), "%s: reason %r does not match /%s/"
              % (name, reason, pattern))
        if id_rule == "id":
            check(ack.get("id") == sid, "%s: ack id %r, payload id %s" % (name, ack.get("id"), sid))
        elif id_rule == '""':
            check(ack.get("id") == "", "%s: ack id %r, want \"\"" % (name, ack.get("id")))
        else:  # whatever readable id the payload had, or ""
            aid = ack.get("id")
            check(isinstance(aid, str) and aid.isprintable() and aid.encode() in payload,
                  "%s: ack id %r is not from the payload" % (name, aid))
        wait_until(lambda: env.gw.query("SELECT COUNT(*) FROM rejects")[0][0] > n_rejects, 10,
                   "a rejects row for %s" % name)
        row = env.gw.query("SELECT topic, payload, reason FROM rejects ORDER BY id DESC LIMIT 1")
        topic, kept, why = row[0]
        kept = kept.encode() if isinstance(kept, str) else bytes(kept or b"")
        check(topic == reg.topic_sale, "%s: rejects.topic %r" % (name, topic))
        if len(payload) > MAX_PAYLOAD:
            # Keeping a readable head of an oversized payload is enough for inspection.
            ok = len(kept) >= 1024 and payload.startswith(kept)
        else:
            ok = kept == payload
        check(ok, "%s: rejects.payload is not the payload sent (%d vs %d bytes)"
              % (name, len(kept), len(payload)))
        check(why, "%s: rejects.reason empty" % name)
        log("%-24s rejected: %s" % (name, reason))

    check(env.gw.running(), "p4gw died on bad input")
    after = reg.sell(2)
    reg.wait_acked(after, timeout_s=20)
    seqs = [reg.final_ack(s) for s in before + after]
    check([a.get("status") for a in seqs] == ["ok"] * 4, "valid sales: %r" % seqs)
    check([a.get("gw_seq") for a in seqs] == [1, 2, 3, 4],
          "rejects consumed gw_seqs: %r" % [a.get("gw_seq") for a in seqs])
    n_rejects = env.gw.query("SELECT COUNT(*) FROM rejects")[0][0]
    check(n_rejects == len(cases), "rejects holds %d rows for %d bad payloads"
          % (n_rejects, len(cases)))

    sales = {sid: reg.sales[sid] for sid in before + after}
    by_id = env.check_replica_sales(sales, gwenv.ack_gw_seqs([reg]))
    env.check_stock(sales.values())
    env.check_cloud(sales, by_id, timeout_s=20)
    check(env.gw.stop() == 0, "p4gw did not stop cleanly")
    log("%d bad payloads rejected; 4 valid sales accepted as gw_seq 1..4" % len(cases))


if __name__ == "__main__":
    h.run_test(main)
