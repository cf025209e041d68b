# SPDX-License-Identifier: Apache-2.0
"""The operator CLI against a live chain: `import products` (a good file; bad lines named as
FILE:LINE: field, exit 1 or 2, nothing wrong stored), `stores`, `report sales --by
store|day|hour|sku [--from --to]` (the per-store figures equal the registers' own totals),
`report trial-balance` (sums to zero, equals the database view), `alerts` (the store's
oversell alert), each as a table, CSV and JSON that agree; usage and config errors exit 2."""

import csv
import io
import os
import re

import p4harness as h
from p4harness import check, log, wait_until
import hqchain
from hqchain import FIXTURES, TENANT


def as_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def agree(hq, *args, volatile=()):
    """Runs ARGS as json, csv and table; checks they carry the same rows (except the fields
    in VOLATILE, which may change between two runs, like a store's last_seen). Returns the
    JSON rows."""
    rows = hq.cli_json(*args)
    crow = as_csv(hq.cli_ok(*(list(args) + ["--format", "csv"])))
    check(len(crow) == len(rows), "%s: %d CSV rows, %d JSON rows" % (args, len(crow),
                                                                   len(rows)))
    for j, c in zip(rows, crow):
        check(set(c) == set(j), "%s: CSV columns %r, JSON fields %r" % (args, sorted(c),
                                                                        sorted(j)))
        for k, v in j.items():
            if k in volatile:
                continue
            check(c[k] == ("" if v is None else str(v)), "%s: %s is %r in CSV, %r in JSON"
                  % (args, k, c[k], v))
    table = hq.cli_ok(*args)
    lines = [l for l in table.splitlines() if l.strip()]
    check(lines, "%s: empty table" % (args,))
    for col in (rows[0].keys() if rows else []):
        check(col in lines[0], "%s: table header %r lacks %s" % (args, lines[0], col))
    for j in rows:
        key = str(next(iter(j.values())))
        check(any(key in l for l in lines[1:]), "%s: no table line shows %r" % (args, key))
    return rows


def imports(hq, pg):
    pg_products = lambda: dict((sku, (bp, cost)) for sku, bp, cost in pg.sql(  # noqa: E731
        "SELECT sku, tax_rate_bp, unit_cost_minor FROM products WHERE tenant = %s", TENANT))
    hq.import_products()
    want = hqchain.load_products()
    check(pg_products() == want, "products after import: %r, want %r" % (pg_products(), want))
    for name, line, field in (("products_bad.csv", 3, "tax_rate"),
                              ("products_bad_cost.csv", 4, "unit_cost")):
        path = os.path.join(FIXTURES, name)
        res = hq.cli("import", "products", path)
        check(res.returncode in (1, 2), "import of %s exited %d" % (name, res.returncode))
        check(re.search(r"%s:%d:.*%s" % (re.escape(name), line, field), res.stderr),
              "import of %s: the error does not name %s:%d: %s: %r"
              % (name, name, line, field, res.stderr.strip()))
        log("import products %s -> exit %d: %s" % (name, res.returncode,
                                                   res.stderr.strip().splitlines()[-1]))
        check(pg_products() == want, "a bad file changed the product master: %r"
              % pg_products())
    res = hq.cli("import", "products", os.path.join(FIXTURES, "no-such-file.csv"))
    check(res.returncode in (1, 2) and "no-such-file.csv" in res.stderr,
          "import of a missing file: %r" % (res,))


def usage(hq):
    for args in (["frobnicate"], ["report", "sales", "--by", "week"], ["stores", "--format",
                                                                        "xml"],
                 ["import", "products"], ["report"]):
        res = hq.cli(*args)
        check(res.returncode == 2, "p4hq %s exited %d, want 2 (usage)" % (" ".join(args),
                                                                         res.returncode))
        check(res.stderr.strip(), "p4hq %s: no message on stderr" % " ".join(args))
    check(hq.cli("--check-config").returncode == 0, "--check-config of a good file")
    bad = os.path.join(hq.dir, "bad.ini")
    with open(hq.ini) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(text.replace("mqtt_version = 5", "mqtt_version = 4"))
    res = hq.cli("--check-config", ini=bad)
    check(res.returncode == 2 and re.search(r"bad\.ini:\d+:.*mqtt_version", res.stderr),
          "--check-config of a bad mqtt_version: rc %d %r" % (res.returncode, res.stderr))
    res = hq.cli("stores", ini=bad)
    check(res.returncode == 2, "a command with a bad config exited %d" % res.returncode)
    log("usage errors and a bad config exit 2 with a message")


def main():
    chain = hqchain.Chain()
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    pg = chain.pg
    imports(hq, pg)
    usage(hq)

    st = chain.store("s001")
    st.start()
    load = hqchain.Load([st], 15, 5).start()
    reg = st.register("r90")
    ids = hqchain.special_sales(reg)
    # the last unit sold twice: an oversell alert from the store
    over = [reg.send(reg.make_sale(lines=[("last-one", 1, 1999, 1)])) for _ in range(2)]
    reg.wait_acked(ids + over, 30)
    load.wait(60)
    chain.wait_caught_up(60)
    chain.verify()

    # the registers' own totals
    sales, acked = st.register_truth()
    check(set(acked) == set(sales), "not every sale was acked")
    reg_count, reg_amount = len(sales), sum(s["total"] for s in sales.values())

    # the store's own figures settle once its status after HQ's last ack has arrived
    wait_until(lambda: chain.pg.sql("SELECT outbox, delivered FROM stores WHERE store = 's001'")
               == [(0, st.last_gw_seq())], 30,
               "s001's status with an empty outbox and every sale delivered, at HQ")
    rows = agree(hq, "stores", volatile=("last_seen",))
    check(len(rows) == 1, "stores: %r" % rows)
    r = rows[0]
    last = st.last_gw_seq()
    check(r["store"] == "s001" and r["hq_through"] == last and r["max_gw_seq"] == last,
          "stores row %r, want hq_through = max_gw_seq = %d" % (r, last))
    check(r["missing"] in ("", None), "stores shows missing ranges %r" % r["missing"])
    wait_until(lambda: hq.cli_json("stores")[0]["delivered"] == last, 20,
               "stores to show the gateway's delivered = %d" % last,
               detail=lambda: hq.cli_json("stores"))
    r = hq.cli_json("stores")[0]
    check(r["state"] == "online" and r["outbox"] == 0, "stores row %r" % r)

    rows = agree(hq, "report", "sales", "--by", "store")
    check([(x["store"], x["count"], x["amount"]) for x in rows] ==
          [("s001", reg_count, reg_amount)], "report sales --by store %r, registers: %d sales "
          "for %d" % (rows, reg_count, reg_amount))
    log("report sales --by store: %r = the registers' own %d sales, %d" % (rows, reg_count,
                                                                          reg_amount))
    for by in ("day", "hour"):
        rows = agree(hq, "report", "sales", "--by", by)
        check(sum(x["count"] for x in rows) == reg_count and
              sum(x["amount"] for x in rows) == reg_amount, "by %s: %r" % (by, rows))
    rows = agree(hq, "report", "sales", "--by", "sku")
    want = {}
    for s in sales.values():
        for l in s["lines"]:
            want[l["sku"]] = want.get(l["sku"], 0) + l["qty"] * l["price"]
    got = {x["sku"]: x["amount"] for x in rows}
    check(got == want, "report sales --by sku amounts %r, want %r" % (got, want))
    future, past = "2999-01-01T00:00:00.000Z", "2000-01-01T00:00:00.000Z"
    rows = hq.cli_json("report", "sales", "--by", "store", "--from", future)
    check(sum(x["count"] for x in rows) == 0, "--from the future: %r" % rows)
    rows = hq.cli_json("report", "sales", "--by", "store", "--to", past)
    check(sum(x["count"] for x in rows) == 0, "--to the past: %r" % rows)
    rows = hq.cli_json("report", "sales", "--by", "store", "--from", past, "--to", future)
    check([(x["count"], x["amount"]) for x in rows] == [(reg_count, reg_amount)],
          "--from past --to future: %r" % rows)

    rows = agree(hq, "report", "trial-balance")
    check(sum(x["balance"] for x in rows) == 0, "trial balance sums to %d"
          % sum(x["balance"] for x in rows))
    for x in rows:
        check(x["balance"] == x["debit"] - x["credit"], "trial balance row %r" % x)
    view = {a: (d, c) for a, d, c in pg.sql(
        "SELECT account, debit, credit FROM trial_balance WHERE tenant = %s", TENANT)}
    check({x["account"]: (x["debit"], x["credit"]) for x in rows} == view,
          "report trial-balance differs from the view: %r vs %r" % (rows, view))

    wait_until(lambda: [a for a in hq.cli_json("alerts") if a["kind"] == "oversell"], 20,
               "the oversell alert in p4hq alerts")
    rows = agree(hq, "alerts")
    ov = [a for a in rows if a["kind"] == "oversell"]
    check(len(ov) == 1 and ov[0]["store"] == "s001" and ov[0]["sku"] == "last-one" and
          ov[0]["source"] == "store", "alerts: %r" % rows)
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")
    # the commands read the database without the daemon
    check(hq.cli_json("stores")[0]["hq_through"] == last, "stores without the daemon")


if __name__ == "__main__":
    h.run_test(main)
