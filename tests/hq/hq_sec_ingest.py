# SPDX-License-Identifier: Apache-2.0
"""HQ refuses what a store could not have sent (issue 21), published straight to the cloud
broker as a store holding a broker identity would:

- a forged batch: store s2's topic carrying store s1's records (s1's payload) is dead-lettered
  with a reason naming the store, raised as a critical `store_mismatch` alert, and never
  reaches the ledger (no sale, no journal entry, no stock movement for either store);
- with [ingest] require_registered_stores = true, a store missing from the registry is
  dead-lettered and raised as `unregistered_store`, gets no `stores` row and no ledger entry;
  once `p4hq store add` registers it, its (resent) batch is posted and acknowledged;
- the registered store's own batches are posted all along."""

import json

import p4harness as h
from p4harness import check, log, wait_until
import hqchain
from hqchain import TENANT

S1, S2, UNKNOWN = "s001", "s002", "s077"


def topic(store):
    return "p4/v1/%s/%s/up/sale" % (TENANT, store)


def record(store, gw_seq, sku="coffee-250g", price=899):
    return {"id": h.uuid7(), "seq": gw_seq, "store": store, "reg": "r01", "ts": h._utc_ts(),
            "kind": "sale", "lines": [{"sku": sku, "qty": 1, "price": price, "ver": 1}],
            "tenders": [{"type": "card", "amount": price}], "total": price,
            "gw_seq": gw_seq, "flags": []}


def batch(store, items):
    return json.dumps({"store": store, "items": items}, separators=(",", ":"))


def main():
    chain = hqchain.Chain()
    hq = chain.hq(extra={"ingest": {"require_registered_stores": "true"}})
    hq.start()
    chain.wait_tables()
    pg, cloud = chain.pg, chain.cloud
    for s in (S1, S2):
        out = hq.cli_ok("store", "add", s, "--note", "test store")
        check("registered" in out, "store add %s printed %r" % (s, out))
    listed = [r["store"] for r in hq.cli_json("store", "list")]
    check(listed == [S1, S2], "store list: %r" % listed)

    def ledger(store):
        return pg.sql("SELECT (SELECT count(*) FROM sales WHERE tenant = %s AND store = %s),"
                      " (SELECT count(*) FROM journal_entries WHERE tenant = %s AND store = %s),"
                      " (SELECT count(*) FROM stock_movements WHERE tenant = %s AND store = %s)",
                      TENANT, store, TENANT, store, TENANT, store)[0]

    def dead(n0):
        return pg.sql("SELECT topic, reason FROM dead_letters WHERE tenant = %s ORDER BY id",
                      TENANT)[n0:]

    def alerts(kind):
        return pg.sql("SELECT store, severity, message FROM alerts WHERE tenant = %s AND"
                      " source = 'hq' AND kind = %s", TENANT, kind)

    # s1's own batch is posted: the registry lets a registered store through.
    hqchain.publish_raw(cloud, topic(S1), batch(S1, [record(S1, 1)]))
    wait_until(lambda: chain.hq_through(S1) == 1, 20, "s1's watermark 1")
    check(ledger(S1) == (1, 1, 1), "s1's first sale: sales/journal/stock %r" % (ledger(S1),))

    # ---- a forged batch: s1's records on s2's topic ----
    n0 = len(dead(0))
    forged = record(S1, 2, sku="milk-1l", price=129)
    hqchain.publish_raw(cloud, topic(S2), batch(S1, [forged]))
    got = wait_until(lambda: dead(n0), 20, "a dead letter for the forged batch")
    check(len(got) == 1 and got[0][0] == topic(S2), "forged batch dead letters: %r" % got)
    check("store" in got[0][1] and S1 in got[0][1] and S2 in got[0][1],
          "the reason does not name both stores: %r" % got[0][1])
    al = wait_until(lambda: alerts("store_mismatch"), 10, "a store_mismatch alert")
    check(al[0][0] == S2 and al[0][1] == "critical", "store_mismatch alert %r" % (al,))
    check(pg.value("SELECT count(*) FROM sales WHERE sale_id = %s", forged["id"]) == 0,
          "the forged record reached the sales table")
    check(ledger(S2) == (0, 0, 0), "s2's ledger after the forgery: %r" % (ledger(S2),))
    check(ledger(S1) == (1, 1, 1), "s1's ledger after the forgery: %r" % (ledger(S1),))
    log("forged batch -> dead letter (%s) and alert %r" % (got[0][1], al[0][2]))

    # ---- an unknown store with the registry on ----
    n0 = len(dead(0))
    unknown = record(UNKNOWN, 1, sku="bread-500g", price=349)
    hqchain.publish_raw(cloud, topic(UNKNOWN), batch(UNKNOWN, [unknown]))
    got = wait_until(lambda: dead(n0), 20, "a dead letter for the unknown store")
    check(len(got) == 1 and "not registered" in got[0][1], "unknown store: %r" % got)
    al = wait_until(lambda: alerts("unregistered_store"), 10, "an unregistered_store alert")
    check(al[0][0] == UNKNOWN and al[0][1] == "critical", "unregistered alert %r" % (al,))
    check(ledger(UNKNOWN) == (0, 0, 0), "the unknown store reached the ledger")
    check(pg.value("SELECT count(*) FROM stores WHERE store = %s", UNKNOWN) == 0,
          "the unknown store got a stores row")
    # A second message of it is refused again, with one alert a day, not one per message.
    n0 = len(dead(0))
    hqchain.publish_raw(cloud, topic(UNKNOWN), batch(UNKNOWN, [unknown]))
    wait_until(lambda: dead(n0), 20, "a second dead letter for the unknown store")
    check(len(alerts("unregistered_store")) == 1, "one alert per unknown store and day")
    log("unknown store -> dead letter (%s), one alert" % got[0][1])

    # ---- registered, the same batch (as its gateway resends it) is posted ----
    hq.cli_ok("store", "add", UNKNOWN)
    hqchain.publish_raw(cloud, topic(UNKNOWN), batch(UNKNOWN, [unknown]))
    wait_until(lambda: chain.hq_through(UNKNOWN) == 1, 20, "the now registered store posted")
    check(ledger(UNKNOWN) == (1, 1, 1), "registered store's ledger %r" % (ledger(UNKNOWN),))
    wait_until(lambda: chain.acks.through(UNKNOWN) == 1, 20, "its down/ack")
    # Registering and removing are audited changes.
    acts = [(r["action"], r["detail"]["args"]) for r in hq.cli_json("audit")]
    check(("store.add", [UNKNOWN]) in acts, "store add is not in the audit log: %r" % acts)
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
