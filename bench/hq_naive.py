#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The naive HQ consumer bench/hq compares p4hq with: one MQTT subscription to
p4/v1/{tenant}/+/up/sale, and for each message one INSERT per row (the sale, each line, each
tender, each stock movement, the journal entry and each of its lines, the loyalty entry), one
COMMIT per message, then a down/ack with the message's last gw_seq (QoS 0: paho-mqtt 1.6's loop
reads as many packets as it has QoS 1 messages pending before it writes any, so its QoS 1 acks
left in a burst when the selling stopped, 1,975 of 3,328 in the last 0.2 s of an 8 s run, and
the consumer looked stalled while it was committing). It is what a first
consumer written from the contract looks like; it checks nothing and keeps no watermark (it
trusts the generator's order, one record per message). Runs until SIGTERM.

  bench/hq_naive.py --port P --tenant T --conninfo 'host=... dbname=...' [--tax-rate 10]
"""

import argparse
import json
import signal
import sys
import time

import paho.mqtt.client as mqtt
import psycopg2

ACCOUNTS = {"card": "1010", "revenue": "4000", "tax": "2200"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--conninfo", required=True)
    ap.add_argument("--tax-rate", type=int, default=10, help="percent, prices include it")
    a = ap.parse_args()
    db = psycopg2.connect(a.conninfo)
    client = mqtt.Client(client_id="naive-" + a.tenant, clean_session=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def on_message(_c, _u, msg):
        body = json.loads(msg.payload)
        store = msg.topic.split("/")[3]
        cur = db.cursor()
        last = 0
        try:
            for r in body["items"]:
                g = r["gw_seq"]
                last = g
                units = sum(l["qty"] for l in r["lines"])
                cust = r.get("customer")
                loy = r.get("loyalty") or {"earn": 0, "redeem": 0}
                cur.execute(
                    "INSERT INTO sales (tenant, store, gw_seq, sale_id, reg, seq, ts, kind,"
                    " total_minor, customer, loyalty_earn, loyalty_redeem, flags, units)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (a.tenant, store, g, r["id"], r["reg"], r["seq"], r["ts"], r["kind"],
                     r["total"], cust, loy["earn"], loy["redeem"], r["flags"], units))
                for i, l in enumerate(r["lines"], 1):
                    cur.execute("INSERT INTO sale_lines (tenant, store, gw_seq, line_no, sku, qty,"
                                " price_minor, ver) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                                (a.tenant, store, g, i, l["sku"], l["qty"], l["price"], l["ver"]))
                for i, t in enumerate(r.get("tenders", []), 1):
                    cur.execute("INSERT INTO sale_tenders (tenant, store, gw_seq, tender_no, type,"
                                " amount_minor) VALUES (%s, %s, %s, %s, %s, %s)",
                                (a.tenant, store, g, i, t["type"], t["amount"]))
                for l in r["lines"]:
                    cur.execute("INSERT INTO stock_movements (tenant, store, sku, type, delta,"
                                " occurred_at, gw_seq) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                                (a.tenant, store, l["sku"], r["kind"], -l["qty"], r["ts"], g))
                cur.execute("INSERT INTO journal_entries (tenant, store, gw_seq, sale_id, kind,"
                            " occurred_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                            (a.tenant, store, g, r["id"], r["kind"], r["ts"]))
                entry = cur.fetchone()[0]
                tax = 0
                for l in r["lines"]:
                    gross = l["qty"] * l["price"]
                    tax += (2 * gross * a.tax_rate + (100 + a.tax_rate)) // (2 * (100 + a.tax_rate))
                postings = [(ACCOUNTS["card"], r["total"], 0),
                            (ACCOUNTS["revenue"], 0, r["total"] - tax), (ACCOUNTS["tax"], 0, tax)]
                for i, (acc, d, c) in enumerate([p for p in postings if p[1] or p[2]], 1):
                    cur.execute("INSERT INTO journal_lines (entry_id, line_no, tenant, account,"
                                " debit_minor, credit_minor) VALUES (%s, %s, %s, %s, %s, %s)",
                                (entry, i, a.tenant, acc, d, c))
                if cust and loy["earn"]:
                    cur.execute("INSERT INTO loyalty_ledger (tenant, customer, entry, points,"
                                " reason, at, store, gw_seq) VALUES (%s, %s, %s, %s, 'sale', %s,"
                                " %s, %s)", (a.tenant, cust, "sale:%s:earn" % r["id"],
                                            loy["earn"], r["ts"], store, g))
            db.commit()
        except psycopg2.IntegrityError:
            db.rollback()   # a resend of what it holds: acknowledge it again
        ack = {"store": store, "through": last,
               "ts": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
        client.publish("p4/v1/%s/%s/down/ack" % (a.tenant, store), json.dumps(ack), qos=0)

    client.on_message = on_message
    client.connect("127.0.0.1", a.port)
    client.subscribe("p4/v1/%s/+/up/sale" % a.tenant, 1)
    client.loop_start()
    print("naive consumer subscribed", flush=True)
    while not stop:
        time.sleep(0.1)
    client.loop_stop()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
