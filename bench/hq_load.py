#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Simulated store gateways against a running p4hq: each store publishes contract up/sale
batches (ascending gw_seq, 2-line sales, a customer earning points on each) to the cloud
broker, and the script times HQ's down/ack watermark covering each record.

  burst:  bench/hq_load.py --port P --stores 50 --sales 100 --batch 10
          every store sends its sales as fast as it can; prints sales/s until HQ acked all
  steady: bench/hq_load.py --port P --stores 20 --rate 500 --seconds 10
          one record per batch at RATE sales/s spread over the stores; prints the watermark
          latency p50/p99/max (publish -> HQ's down/ack covering it)

Start p4hq (tenant acme) on a throwaway database first; the store ids get a random prefix so
runs do not collide. Not part of the test suite: it prints figures, it decides nothing."""

import argparse
import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt

TENANT = "acme"


def record(store, gw_seq):
    return {"id": str(uuid.uuid4()), "seq": gw_seq, "store": store, "reg": "r01",
            "ts": "2026-11-27T12:00:00.123Z", "kind": "sale",
            "lines": [{"sku": "sku-%d" % (gw_seq % 50), "qty": 1, "price": 250, "ver": 1},
                      {"sku": "milk", "qty": 2, "price": 100, "ver": 1}],
            "tenders": [{"type": "card", "amount": 450}], "total": 450,
            "customer": "C-%d" % (gw_seq % 7), "loyalty": {"earn": 4, "redeem": 0},
            "gw_seq": gw_seq, "flags": []}


class Acks:
    """HQ's watermark per store, and the latency of every record it covers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.through = {}
        self.sent_at = {}
        self.latencies = []

    def sent(self, store, gw_seq, at):
        with self.lock:
            self.sent_at[(store, gw_seq)] = at

    def on_message(self, _client, _userdata, msg):
        ack = json.loads(msg.payload)
        now = time.monotonic()
        with self.lock:
            old = self.through.get(ack["store"], 0)
            if ack["through"] <= old:
                return
            self.through[ack["store"]] = ack["through"]
            for g in range(old + 1, ack["through"] + 1):
                at = self.sent_at.pop((ack["store"], g), None)
                if at is not None:
                    self.latencies.append(now - at)

    def covered(self, stores, n):
        with self.lock:
            return all(self.through.get(s, 0) >= n for s in stores)


def pct(values, p):
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="the cloud broker's port")
    ap.add_argument("--stores", type=int, default=20)
    ap.add_argument("--sales", type=int, default=100, help="burst: sales per store")
    ap.add_argument("--batch", type=int, default=10, help="burst: records per batch")
    ap.add_argument("--rate", type=float, default=0, help="steady: sales/s over all stores")
    ap.add_argument("--seconds", type=float, default=10, help="steady: how long")
    a = ap.parse_args()

    prefix = "b" + uuid.uuid4().hex[:6]
    stores = ["%s%03d" % (prefix, i) for i in range(a.stores)]
    acks = Acks()
    client = mqtt.Client(client_id="hq-load-" + prefix)
    client.on_message = acks.on_message
    client.connect("127.0.0.1", a.port)
    client.subscribe("p4/v1/%s/+/down/ack" % TENANT, 1)
    client.loop_start()
    time.sleep(0.5)
    start = time.monotonic()
    if a.rate > 0:
        seqs = dict.fromkeys(stores, 0)
        n = 0
        while time.monotonic() - start < a.seconds:
            delay = start + n / a.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            store = stores[n % len(stores)]
            seqs[store] += 1
            body = json.dumps({"store": store, "items": [record(store, seqs[store])]},
                              separators=(",", ":"))
            acks.sent(store, seqs[store], time.monotonic())
            client.publish("p4/v1/%s/%s/up/sale" % (TENANT, store), body, qos=1)
            n += 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                acks.through.get(s, 0) >= seqs[s] for s in stores):
            time.sleep(0.05)
        lat = sorted(acks.latencies)
        print("steady: %d sales at %.0f/s over %d stores; %d acked; watermark latency "
              "p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (n, a.rate, len(stores), len(lat),
                                                        pct(lat, 0.5), pct(lat, 0.99),
                                                        pct(lat, 1.0)))
    else:
        for first in range(1, a.sales + 1, a.batch):
            for store in stores:
                items = [record(store, g) for g in range(first, min(first + a.batch,
                                                                     a.sales + 1))]
                now = time.monotonic()
                for r in items:
                    acks.sent(store, r["gw_seq"], now)
                client.publish("p4/v1/%s/%s/up/sale" % (TENANT, store),
                               json.dumps({"store": store, "items": items},
                                          separators=(",", ":")), qos=1)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not acks.covered(stores, a.sales):
            time.sleep(0.05)
        took = time.monotonic() - start
        total = a.sales * len(stores)
        lat = sorted(acks.latencies)
        print("burst: %d sales from %d stores committed and acknowledged in %.2f s: "
              "%.0f sales/s (ack latency p50 %.0f ms, p99 %.0f ms)"
              % (total, len(stores), took, total / took, pct(lat, 0.5), pct(lat, 0.99)))
    client.loop_stop()
    client.disconnect()


if __name__ == "__main__":
    main()
