#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Representative uplink sale batches (contract 6.1), for training the zstd dictionary and
measuring bytes per sale on the wire.

The records follow the canonical encoding of libp4topics (fields in the table order of
topics/README.md 5.1 and 6.1, compact JSON): UUIDv7 sale ids, per-register seq, store-wide
gw_seq, a catalogue of named and EAN-13 skus with per-sku prices and price versions, returns
(referring to an earlier sale, negative qty and tenders), voids, cash/card/gift/split tenders,
loyalty customers with earn/redeem, and the occasional oversell flag. Deterministic for a seed.

  gen_sales.py samples DIR [--seed N]        one file per sample: live (1 record) and backlog
                                             batches, the input of `zstd --train`
  gen_sales.py batches FILE [--seed N] ...   one batch per line (JSON Lines)
"""
import argparse
import json
import os
import random

WORDS = ["coffee", "milk", "bread", "rye", "butter", "cheese", "gouda", "apple", "banana",
         "tomato", "pasta", "rice", "flour", "sugar", "salt", "tea", "juice", "orange", "water",
         "beer", "wine", "yogurt", "cream", "eggs", "ham", "salami", "chicken", "beef", "soap",
         "shampoo", "tissue", "battery", "candle", "chips", "chocolate", "cookies", "muesli",
         "oats", "honey", "jam", "olive", "oil", "vinegar", "ketchup", "mustard", "pepper"]
SIZES = ["250g", "500g", "1kg", "1l", "0.5l", "6pk", "12pk", "100g", "200g", "750ml", "xl", "2kg"]
TIERS_OF_TENDER = [("card", 0.62), ("cash", 0.28), ("gift", 0.03), ("split", 0.07)]


class Catalogue:
    def __init__(self, rng, n=2500):
        self.items = []
        for i in range(n):
            if rng.random() < 0.45:
                # EAN-13 like numeric skus (a chain's own numbering looks the same to zstd)
                sku = "%013d" % rng.randrange(4000000000000, 4099999999999)
            else:
                sku = "%s-%s" % ("-".join(rng.sample(WORDS, rng.choice([1, 1, 2]))),
                                 rng.choice(SIZES))
                if rng.random() < 0.2:
                    sku += "-%d" % rng.randrange(1, 99)
            price = int(rng.lognormvariate(5.8, 0.9))  # cents: most 1..20 EUR
            price = max(5, min(price, 99999)) // 10 * 10 + rng.choice([9, 9, 9, 5, 0])
            self.items.append((sku, price, rng.randrange(1, 40)))
        # a few skus sell far more often than the rest (Zipf-like popularity)
        self.weights = [1.0 / (k + 1) ** 0.9 for k in range(n)]

    def pick(self, rng, k):
        return rng.choices(self.items, weights=self.weights, k=k)


def uuid7(rng, ms):
    b = bytearray(ms.to_bytes(6, "big") + rng.getrandbits(80).to_bytes(10, "big"))
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def ts(ms):
    import datetime
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class Store:
    """One store's stream of records, in gw_seq order."""

    def __init__(self, rng, cat, store, n_regs, t0_ms, gw_seq0):
        self.rng, self.cat, self.store = rng, cat, store
        self.regs = {"r%02d" % (i + 1): rng.randrange(1, 50000) for i in range(n_regs)}
        self.t_ms = t0_ms
        self.gw_seq = gw_seq0
        self.recent = []  # (id, lines) of recent sales, for returns
        self.customers = ["C-%06d" % rng.randrange(1, 999999) for _ in range(400)]

    def record(self):
        rng = self.rng
        self.t_ms += int(rng.expovariate(1 / 9000.0)) + 1  # a sale every ~9 s per store
        reg = rng.choice(list(self.regs))
        self.regs[reg] += 1
        self.gw_seq += 1
        r = rng.random()
        kind = "sale" if r < 0.90 or not self.recent else ("return" if r < 0.97 else "void")
        sid = uuid7(rng, self.t_ms)
        rec = {"id": sid, "seq": self.regs[reg], "store": self.store, "reg": reg,
               "ts": ts(self.t_ms), "kind": kind}
        if kind == "sale":
            n = min(int(rng.expovariate(1 / 3.2)) + 1, 40)
            lines = []
            seen = set()
            for sku, price, ver in self.cat.pick(rng, n):
                if sku in seen:
                    continue
                seen.add(sku)
                qty = 1 if rng.random() < 0.75 else rng.choice([2, 2, 3, 4, 6, 12])
                lines.append({"sku": sku, "qty": qty, "price": price, "ver": ver})
            self.recent.append((sid, lines))
            self.recent = self.recent[-200:]
        else:
            ref, orig = rng.choice(self.recent)
            rec["ref"] = ref
            take = orig[:max(1, int(len(orig) * rng.random()))] if kind == "return" else orig
            lines = [{"sku": l["sku"], "qty": -(rng.randrange(1, l["qty"] + 1)),
                      "price": l["price"], "ver": l["ver"]} for l in take]
        rec["lines"] = lines
        total = sum(l["qty"] * l["price"] for l in lines)
        tender = rng.choices([t for t, _ in TIERS_OF_TENDER],
                             weights=[w for _, w in TIERS_OF_TENDER])[0]
        if kind == "void" and rng.random() < 0.5:
            tenders = []
        elif tender == "split" and total > 100:
            part = total * rng.randrange(10, 90) // 100
            tenders = [{"type": "gift", "amount": part}, {"type": "card", "amount": total - part}]
        else:
            tenders = [{"type": tender if tender != "split" else "card", "amount": total}]
        rec["tenders"] = tenders
        rec["total"] = total
        if rng.random() < 0.35:
            rec["customer"] = rng.choice(self.customers)
            if kind == "sale":
                redeem = rng.choice([0] * 9 + [rng.randrange(100, 2000)])
                rec["loyalty"] = {"earn": max(0, total // 100), "redeem": redeem}
        rec["gw_seq"] = self.gw_seq
        rec["flags"] = ["oversell"] if rng.random() < 0.01 else []
        return rec


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def batch(store, records):
    return compact({"store": store.store, "items": records})


def stores(rng, cat, n):
    out = []
    for i in range(n):
        sid = rng.choice(["s%03d" % rng.randrange(1, 400), "store-%d" % rng.randrange(1, 999),
                          "s%03d" % (i + 1)])
        out.append(Store(rng, cat, sid, rng.randrange(2, 13),
                         1764230400000 + rng.randrange(0, 400) * 86400000 + 8 * 3600000,
                         rng.randrange(0, 2000000)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["samples", "batches"])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--live", type=int, default=3000, help="single-record batches")
    ap.add_argument("--backlog", type=int, default=60, help="multi-record batches")
    ap.add_argument("--backlog-items", type=int, default=500, help="records per backlog batch")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    cat = Catalogue(random.Random(a.seed * 7919 + 1))
    sts = stores(rng, cat, 24)
    texts = []
    for _ in range(a.live):
        s = rng.choice(sts)
        texts.append(("live", batch(s, [s.record()])))
    for _ in range(a.backlog):
        s = rng.choice(sts)
        texts.append(("backlog", batch(s, [s.record() for _ in range(a.backlog_items)])))
    if a.mode == "samples":
        os.makedirs(a.out, exist_ok=True)
        for i, (_, t) in enumerate(texts):
            with open(os.path.join(a.out, "%05d.json" % i), "w", encoding="utf-8") as f:
                f.write(t)
    else:
        with open(a.out, "w", encoding="utf-8") as f:
            for k, t in texts:
                f.write("%s %s\n" % (k, t))


if __name__ == "__main__":
    main()
