# SPDX-License-Identifier: Apache-2.0
"""Bad input published straight to the cloud broker, in the middle of a real store's stream:
an undecodable batch, a batch whose store differs from its topic's, a record that breaks the
contract (next to valid ones in the same batch), a sale id HQ already holds under another
(store, gw_seq), an oversized message, an undecodable alert. Each is kept with a reason
(dead_letters for messages, record_exceptions for records), the valid records around them are
posted, the synthetic store's watermark counts the held records, the real store's sales are
exact, and p4hq keeps running."""

import json

import p4harness as h
from p4harness import check, log, wait_until
import hqchain
from hqchain import TENANT

SYN = "s009"
TOPIC = "p4/v1/%s/%s/up/sale" % (TENANT, SYN)


def record(gw_seq, seq, lines, tenders=None, sid=None):
    """A contract-valid uplink record of store SYN, register r01."""
    total = sum(q * p for (_s, q, p) in lines)
    rec = {"id": sid or h.uuid7(), "seq": seq, "store": SYN, "reg": "r01", "ts": h._utc_ts(),
           "kind": "sale",
           "lines": [{"sku": s, "qty": q, "price": p, "ver": 1} for (s, q, p) in lines],
           "tenders": tenders if tenders is not None else [{"type": "card", "amount": total}],
           "total": total, "gw_seq": gw_seq, "flags": []}
    return rec


def batch(items, store=SYN):
    return json.dumps({"store": store, "items": items}, separators=(",", ":"))


def main():
    chain = hqchain.Chain()
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    hq.import_products()
    real = chain.store("s001")
    real.start()
    load = hqchain.Load([real], 15, 10).start()
    cloud = chain.cloud
    pg = chain.pg

    def dead_letters():
        return pg.sql("SELECT id, topic, reason, length(payload) FROM dead_letters "
                      "WHERE tenant = %s ORDER BY id", TENANT)

    def expect_dead_letter(what, topic, payload):
        n = len(dead_letters())
        hqchain.publish_raw(cloud, topic, payload)
        got = wait_until(lambda: dead_letters()[n:], 20, "a dead letter for %s" % what)
        check(len(got) == 1, "%s made %d dead letters: %r" % (what, len(got), got))
        _id, t, reason, size = got[0]
        check(t == topic, "%s: dead letter topic %r" % (what, t))
        check(reason and reason.strip(), "%s: dead letter without a reason" % what)
        log("%s -> dead letter (%d bytes kept): %s" % (what, size, reason))
        return reason

    def through():
        return chain.hq_through(SYN) or 0

    r1 = record(1, 1, [("coffee-250g", 1, 899)])
    r2 = record(2, 2, [("milk-1l", 2, 129)], tenders=[{"type": "cash", "amount": 258}])
    hqchain.publish_raw(cloud, TOPIC, batch([r1, r2]))
    wait_until(lambda: through() == 2, 20, "%s watermark 2" % SYN, detail=through)

    expect_dead_letter("an undecodable batch", TOPIC, b'{"store":"s009","items":[{"id":')
    expect_dead_letter("a batch that is not JSON", TOPIC, b"\xff\xfe garbage")
    r3 = record(3, 3, [("bread-500g", 1, 349)])
    reason = expect_dead_letter("a batch of store s008 on s009's topic", TOPIC,
                                batch([r3], store="s008"))
    check("store" in reason, "the reason does not name the store field: %r" % reason)
    check(pg.value("SELECT count(*) FROM sales WHERE tenant = %s AND sale_id = %s",
                   TENANT, r3["id"]) == 0, "the wrong-store batch was posted")
    check(through() == 2, "the watermark moved past a record HQ does not hold")

    # the same record on the right topic is fine
    hqchain.publish_raw(cloud, TOPIC, batch([r3]))
    wait_until(lambda: through() == 3, 20, "%s watermark 3" % SYN, detail=through)

    # a record breaking the contract (total != sum of lines) between two valid ones
    r4 = record(4, 4, [("eggs-10", 1, 319)])
    r4["total"] = 1
    r4["tenders"] = [{"type": "card", "amount": 1}]
    r5 = record(5, 5, [("apples-1kg", 1, 299)])
    r6 = record(6, 6, [("pasta-500g", 2, 179)], sid=r1["id"])   # r1's id again: a conflict
    r7 = record(7, 7, [("butter-250g", 1, 259)])
    hqchain.publish_raw(cloud, TOPIC, batch([r4, r5, r6, r7]))
    wait_until(lambda: through() == 7, 20, "%s watermark 7 (held records count)" % SYN,
               detail=through)
    exc = {g: (kind, reason) for g, kind, reason in pg.sql(
        "SELECT gw_seq, kind, reason FROM record_exceptions WHERE tenant = %s AND store = %s",
        TENANT, SYN)}
    check(set(exc) == {4, 6}, "record_exceptions of %s: %r, want gw_seq 4 and 6" % (SYN, exc))
    check(exc[4][0] == "invalid" and "total" in exc[4][1], "gw_seq 4: %r" % (exc[4],))
    check(exc[6][0] == "conflict", "gw_seq 6: %r" % (exc[6],))
    log("invalid record -> %r; repeated sale id -> %r" % (exc[4], exc[6]))
    n_hq_alerts = pg.value("SELECT count(*) FROM alerts WHERE tenant = %s AND source = 'hq'",
                           TENANT)
    check(n_hq_alerts >= 1, "HQ raised no alert for the conflicting sale id")

    # an oversized message: valid records, but more bytes than any batch may have
    big, seq, size = [], 8, 0
    lines = [("sku-%03d" % i, 1, 100) for i in range(200)]
    while size <= 4 * 1024 * 1024 + 65536:   # the contract's 4 MiB receive limit, and more
        rec = record(seq, seq, lines)
        big.append(rec)
        size += len(json.dumps(rec, separators=(",", ":"))) + 1
        seq += 1
    payload = batch(big)
    check(len(payload) > 4 * 1024 * 1024 + 65536, "the oversized batch is %d bytes"
          % len(payload))
    reason = expect_dead_letter("a %d-byte batch" % len(payload), TOPIC, payload)
    check(pg.value("SELECT count(*) FROM sales WHERE tenant = %s AND store = %s AND "
                   "gw_seq >= 8", TENANT, SYN) == 0, "records of the oversized batch posted")
    r8 = record(8, 8, [("cheese-200g", 1, 449)])
    hqchain.publish_raw(cloud, TOPIC, batch([r8]))
    wait_until(lambda: through() == 8, 20, "%s watermark 8 after the oversized batch" % SYN,
               detail=through)

    expect_dead_letter("an undecodable alert", "p4/v1/%s/%s/up/alert" % (TENANT, SYN),
                       b"not an alert")

    hq.check_alive()
    load.wait(60)
    chain.wait_caught_up(60)
    extra = {(SYN, r["gw_seq"]): r for r in (r1, r2, r3, r5, r7, r8)}
    chain.verify(extra_sales=extra)
    check(chain.hq_count(SYN) == len(extra), "%s: %d sales at HQ, want %d"
          % (SYN, chain.hq_count(SYN), len(extra)))
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
