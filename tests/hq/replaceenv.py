# SPDX-License-Identifier: Apache-2.0
"""Issue 16's chain: a store whose gateway is replaced (new mini PC, empty replica, plain p4gw)
while its registers hold every sale HQ has not committed. HQ is the authority for the store's
master data (prices with a window, a promo, customers, a loyalty balance, a stock count per
sku), so a rebuilt replica can be compared value by value with the one that was lost.

Used by hq_gw_replace_wan.py and hq_gw_replace_live.py."""

import json
import os
import re
import sqlite3
import time

import p4harness as h
import hqchain
from authenv import Store, price_set, reg_ini, start_chain, term
from p4harness import check, log, wait_until

TENANT = hqchain.TENANT
CUSTOMER = "C-1001"
LOYALTY_START = 500
COUNT = 100000  # HQ's stock count of every sku, before any sale


def setup(relay=True, persistence=True):
    """PostgreSQL, the cloud broker (persistent sessions survive p4hq stops), p4hq with the
    product master, store s001 (its gateway behind a WAN relay) online, and HQ's master data
    at the store's replica. Returns (chain, hq, store)."""
    chain, hq = start_chain(persistence=persistence)
    hq.import_products()
    store = Store(chain, "s001", relay=relay, hq_resend_s=2)
    store.start()
    skus = [sku for (sku, _n, _p, _v) in store.stock]
    t0 = time.time()
    for sku in skus:
        hq.cli_ok("stock", "count", sku, str(COUNT), "--store", store.id)
    price_set(hq, "hq-first", 1)   # HQ's versions start above the local import's (ver 1)
    ver = 0
    for (sku, _n, price, _v) in store.stock:
        ver = price_set(hq, sku, price + 1)
    # a price window that has not started yet, and one that has
    future = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t0 + 86400))
    later = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t0 + 2 * 86400))
    hq.cli_ok("price", "window", skus[1], "1", "--from", future, "--until", later)
    ver += 1
    hq.cli_ok("promo", "put", "P-10", "--type", "percent_off", "--sku", skus[1],
              "--percent", "10")
    hq.cli_ok("customer", "put", CUSTOMER, "--name", "Ada Lovelace", "--tier", "gold")
    hq.cli_ok("customer", "put", "C-1002", "--name", "Alan Turing")
    hq.cli_ok("loyalty", "adjust", CUSTOMER, str(LOYALTY_START), "--reason", "welcome")

    def arrived():
        snap = replica_snapshot(store.gw)
        return (len(snap["customers"]) == 2 and len(snap["promos"]) == 1 and
                all(snap["stock"].get(s) == COUNT for s in skus) and
                store.gw.query("SELECT coalesce(max(value), 0) FROM meta WHERE"
                               " key = 'hw_price'")[0][0] >= ver)
    wait_until(arrived, 30, "HQ's master data at the store's replica",
               detail=lambda: replica_snapshot(store.gw))
    # The customer shops here once: HQ sends the store the balance from then on.
    loyalty_sales(store, 1)
    wait_until(lambda: replica_snapshot(store.gw)["loyalty"].get(CUSTOMER) ==
               LOYALTY_START + 10, 30, "HQ's loyalty balance at the store's replica",
               detail=lambda: replica_snapshot(store.gw)["loyalty"])
    return chain, hq, store


def replica_sales(gw):
    """{sale id: sale dict as its register published it} of a replica (no gap rows)."""
    return {sid: json.loads(p) for (sid, p) in
            gw.query("SELECT id, payload FROM sales WHERE kind <> 'gap'")}


def replica_snapshot(gw, path=None):
    """What a store's replica holds of HQ's data and of stock, comparable value by value:
    {prices: {sku: (price, ver, windows...)}, promos, customers, loyalty {customer: balance},
    stock {sku: on_hand}}."""
    conn = sqlite3.connect("file:%s?mode=ro" % (path or gw.replica), uri=True, timeout=10)
    try:
        def rows(sql):
            try:
                return conn.execute(sql).fetchall()
            except sqlite3.OperationalError:
                return []
        cols = [r[1] for r in rows("PRAGMA table_info(prices)")]
        value = "value" if "value" in cols else "NULL"
        return {
            "prices": {r[0]: tuple(r[1:]) for r in
                       rows("SELECT sku, price, ver, %s FROM prices" % value)},
            "promos": {r[0]: (r[1], r[2]) for r in rows("SELECT id, ver, value FROM promos")},
            "customers": {r[0]: (r[1], r[2]) for r in
                          rows("SELECT id, ver, value FROM customers")},
            "loyalty": {r[0]: r[1] for r in rows("SELECT customer, balance FROM loyalty")},
            "stock": {r[0]: r[1] for r in rows("SELECT sku, on_hand FROM stock")},
        }
    finally:
        conn.close()


def compare_replicas(old, new):
    """Fails on the first difference between two replica snapshots, naming it."""
    for part in ("prices", "promos", "customers", "loyalty", "stock"):
        a, b = old[part], new[part]
        for key in sorted(set(a) | set(b)):
            check(a.get(key) == b.get(key), "rebuilt replica differs in %s %s: lost %r, "
                  "rebuilt %r" % (part, key, a.get(key), b.get(key)))
    log("rebuilt replica matches the lost one: %d prices, %d promos, %d customers, %d loyalty "
        "balances, %d skus' on_hand" % tuple(len(new[p]) for p in
                                             ("prices", "promos", "customers", "loyalty",
                                              "stock")))


def lose_gateway(store):
    """The mini PC dies: p4gw SIGKILLed, its replica (and WAL) gone."""
    check(store.gw.kill() is not None, "p4gw was not running")
    for suffix in ("", "-wal", "-shm", ".lock"):
        try:
            os.unlink(store.gw.replica + suffix)
        except FileNotFoundError:
            pass
    log("gateway killed and its replica deleted")


def simulator(store, name, count, rate=250):
    """Two libp4term registers that prune a sale as soon as HQ holds it (keep_acked_ms 0)."""
    sim = h.Simulator(store.broker.uri, store.id, h.subdir("%s-%s" % (store.id, name)),
                      registers=2, rate=rate, duration_s=3600, grace_s=60,
                      prefix="%s%s-r" % (store.id, name), name=name, keep_acked_ms=0)
    if count:
        sim.argv += ["--count", str(count)]
    store.sims.append(sim)
    return sim


def until_hq_argv(sim, grace_s=90):
    """SIM's command line for a run that makes no sale and exits 0 once its registers hold no
    sale HQ has not committed (pending or held)."""
    argv = list(sim.argv)
    argv[argv.index("--duration") + 1] = "0"
    argv[argv.index("--grace") + 1] = str(grace_s)
    if "--count" in argv:
        i = argv.index("--count")
        del argv[i:i + 2]
    return argv + ["--wait-hq"]


def journal_rows(paths):
    """{id: row} over the journals PATHS (see p4harness.read_journal)."""
    out = {}
    for p in paths:
        if os.path.exists(p):
            for row in h.read_journal(p):
                out[row["id"]] = row
    return out


def loyalty_sales(store, n, reg="r90"):
    """N sales with CUSTOMER earning points, from a p4term register (keep_acked_ms 0);
    returns (ini, [sale ids])."""
    ini = reg_ini(h.subdir("regs-%s-loyalty" % store.id), store.id, reg, store.broker.uri)
    if "keep_acked_ms" not in open(ini).read():
        with open(ini, "a") as f:
            f.write("keep_acked_ms = 0\n")  # the INI's last section is [sync]
    ids = []
    for i in range(n):
        _rc, out, _err = term(ini, "sale", "--line", "%s:1:%d" % (store.stock[2][0],
                                                                  store.stock[2][2] + 1),
                              "--customer", CUSTOMER, "--earn", str(10 + i))
        fields = dict(re.findall(r"(\w+)=(\S+)", out.strip().splitlines()[-1]))
        check(fields.get("status") == "acked", "loyalty sale not acked: %r" % out)
        ids.append(fields["id"])
    return ini, ids


def hq_sales(chain, store):
    """{sale id: (gw_seq, reg, seq, total)} of the sales HQ posted for STORE."""
    return {r[0]: tuple(r[1:]) for r in chain.pg.sql(
        "SELECT sale_id::text, gw_seq, reg, seq, total_minor FROM sales WHERE tenant = %s AND"
        " store = %s", TENANT, store)}


def check_hq(chain, store, truth):
    """HQ holds every sale of TRUTH ({id: sale dict as the register published it}) exactly
    once with its content, nothing else for the store, no conflict; stock per sku = the count
    less what the sales moved; GL balanced with one entry per sale; CUSTOMER's loyalty =
    LOYALTY_START plus earned less redeemed. Returns HQ's {id: row}."""
    got = hq_sales(chain, store.id)
    missing = [i for i in truth if i not in got]
    extra = [i for i in got if i not in truth]
    check(not missing, "%d sales missing at HQ, e.g. %s" % (len(missing), missing[:3]))
    check(not extra, "%d sales at HQ no register made, e.g. %s" % (len(extra), extra[:3]))
    for sid, sale in truth.items():
        _g, reg, seq, total = got[sid]
        check((reg, seq, total) == (sale["reg"], sale["seq"], sale["total"]),
              "sale %s at HQ is %r, the register sold %r" % (sid, got[sid][1:],
                                                              (sale["reg"], sale["seq"],
                                                               sale["total"])))
    n_entries = chain.pg.value("SELECT count(*) FROM journal_entries WHERE tenant = %s AND"
                               " store = %s AND gw_seq IS NOT NULL", TENANT, store.id)
    check(n_entries == len(truth), "%d GL entries for %d sales" % (n_entries, len(truth)))
    tb = chain.pg.value("SELECT coalesce(sum(balance), 0) FROM trial_balance WHERE"
                        " tenant = %s", TENANT)
    check(tb == 0, "trial balance sums to %s" % tb)
    unbalanced = chain.pg.value(
        "SELECT count(*) FROM (SELECT entry_id FROM journal_lines GROUP BY entry_id"
        " HAVING sum(debit_minor) <> sum(credit_minor)) x")
    check(unbalanced == 0, "%d unbalanced GL entries" % unbalanced)
    bad = ("kind NOT IN ('resent', 'skipped') AND reason NOT LIKE 'test:%%'")
    conflicts = chain.pg.value("SELECT count(*) FROM record_exceptions WHERE tenant = %s AND "
                               + bad, TENANT)
    check(conflicts == 0, "HQ holds %d conflicting or invalid records: %r" % (
        conflicts, chain.pg.sql("SELECT gw_seq, kind, reason FROM record_exceptions WHERE "
                                + bad + " LIMIT 5")))
    alerts = chain.pg.value("SELECT count(*) FROM alerts WHERE tenant = %s AND kind ="
                            " 'sale_conflict'", TENANT)
    check(alerts == 0, "HQ raised %d sale_conflict alerts" % alerts)
    moved = {}
    earned = 0
    for sale in truth.values():
        if sale["kind"] in ("sale", "return"):
            for ln in sale["lines"]:
                moved[ln["sku"]] = moved.get(ln["sku"], 0) + ln["qty"]
        if sale.get("customer") == CUSTOMER and sale.get("loyalty"):
            earned += sale["loyalty"]["earn"] - sale["loyalty"]["redeem"]
    stock = dict(chain.pg.sql("SELECT sku, on_hand FROM stock WHERE tenant = %s AND"
                              " store = %s", TENANT, store.id))
    for (sku, _n, _p, _v) in store.stock:
        check(stock.get(sku) == COUNT - moved.get(sku, 0),
              "HQ stock of %s is %s, want %d - %d" % (sku, stock.get(sku), COUNT,
                                                      moved.get(sku, 0)))
    bal = chain.pg.value("SELECT coalesce(sum(points), 0) FROM loyalty_ledger WHERE"
                         " tenant = %s AND customer = %s", TENANT, CUSTOMER)
    check(bal == LOYALTY_START + earned, "HQ loyalty of %s is %s, want %d + %d"
          % (CUSTOMER, bal, LOYALTY_START, earned))
    log("HQ holds the %d sales once; stock, GL (%d entries, trial balance 0) and loyalty "
        "(%d) right" % (len(truth), n_entries, bal))
    return got


def status_json(store):
    st = store.status.latest()
    return st if isinstance(st, dict) else json.loads(st or "{}")


__all__ = ["setup", "replica_sales", "replica_snapshot", "compare_replicas", "lose_gateway",
           "simulator",
           "until_hq_argv", "journal_rows", "loyalty_sales", "hq_sales", "check_hq",
           "status_json", "term", "check", "log", "wait_until", "TENANT", "CUSTOMER"]
