# SPDX-License-Identifier: Apache-2.0
"""Contract 1.1 on the register, through the p4term CLI against a real store broker, with the
gateway's side of the store topics spoken by the test (shimenv.ScriptedGateway):
- a price change reaches `p4term price`; an effective-dated price switches on at its time on
  the register while the store broker is stopped;
- a sale rung from the cache charges the price in effect and applies the active promos, and
  the gateway receives exactly what was charged;
- customers and loyalty balances are cached (`p4term customer`, `p4term loyalty`);
  redemptions beyond the cached balance are refused, and with the gateway unreachable they are
  refused under policy deny and journaled under allow;
- a hold is asked and answered (`p4term hold`), and a sale carries it; a register that never
  had a hold reply does not send the field;
- `p4term watch` prints change items of every entity and alerts as readable lines."""

import os
import subprocess
import time

import p4harness as h
from p4harness import check, log, wait_until
import shimenv

STORE = shimenv.STORE


class Env:
    def __init__(self):
        self.p4term = shimenv.p4term_path()
        self.broker = h.Mosquitto("store")
        self.gw = shimenv.ScriptedGateway(self.broker).start()
        self.dir = h.subdir("registers")

    def ini(self, reg, policy=None, name=None):
        path = os.path.join(self.dir, (name or reg) + ".ini")
        sections = {
            "register": {"store": STORE, "id": reg,
                         "journal": os.path.join(self.dir, reg + ".db")},
            "broker": {"uri": self.broker.uri},
            "sync": {"ack_timeout_ms": 500, "resend_max_ms": 2000},
        }
        if policy:
            sections["policy"] = {"offline_loyalty_redeem": policy}
        h.write_ini(path, sections)
        return path

    def term(self, ini, *args, expect_rc=0, timeout_s=30):
        res = subprocess.run([self.p4term, "--config", ini] + list(args), capture_output=True,
                             text=True, timeout=h.scaled(timeout_s))
        log("p4term %s -> rc %d: %s%s" % (" ".join(args), res.returncode, res.stdout.strip(),
                                          (" | " + res.stderr.strip()) if res.stderr else ""))
        if expect_rc is not None:
            check(res.returncode == expect_rc, "p4term %s exited %d (want %d): %s %s"
                  % (" ".join(args), res.returncode, expect_rc, res.stdout, res.stderr))
        return res


def sale_fields(out):
    """key=value pairs of the status line of `p4term sale`."""
    for line in out.splitlines():
        if line.startswith("id="):
            return dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
    return {}


def charged_lines(out):
    """[(sku, qty, price, ver)] from the `line ...` output of `p4term sale`."""
    rows = []
    for line in out.splitlines():
        if line.startswith("line "):
            f = dict(tok.split("=", 1) for tok in line.split()[1:])
            rows.append((f["sku"], int(f["qty"]), int(f["price"]), int(f["ver"])))
    return rows


def main():
    env = Env()
    gw = env.gw
    now = int(time.time() * 1000)
    gw.change("price", "coffee", {"price": 949, "ver": 4})
    gw.change("price", "bread", {"price": 100, "ver": 2})
    gw.change("price", "milk", {"price": 119, "ver": 1})
    gw.change("stock", "coffee", {"on_hand": 40})

    watch_ini = env.ini("r01")
    watch = shimenv.TermProc([env.p4term, "--config", watch_ini, "--log-level", "info",
                              "watch"], os.path.join(h.tmp_root(), "watch-r01.log"))
    wait_until(lambda: "synced cursor=4" in watch.output(), 20, "r01 watch to sync",
               detail=watch.output)

    # 1. A price change (as the gateway relays HQ's) reaches `p4term price`.
    check(env.term(watch_ini, "price", "coffee").stdout.split() == ["949", "ver=4"],
          "r01 does not have the synced price")
    gw.change("price", "coffee", {"price": 989, "ver": 7})
    wait_until(lambda: env.term(watch_ini, "price", "coffee").stdout.split()
               == ["989", "ver=7"], 15, "the new coffee price on r01", interval_s=0.1)
    wait_until(lambda: "entity=price key=coffee now=989 ver=7 base=989/7" in watch.output(),
               10, "watch to print the price change", detail=watch.output)

    # 2. Promos, customers, loyalty: cached as typed rows and shown readably by watch.
    gw.change("promo", "p-3for2", {"id": "p-3for2", "ver": 5, "active": True,
                                   "type": "buy_n_pay_m", "sku": "bread", "n": 3, "m": 2})
    gw.change("promo", "p-10off", {"id": "p-10off", "ver": 6, "active": True,
                                   "type": "percent_off", "sku": "coffee", "percent": 10})
    gw.change("promo", "p-later", {"id": "p-later", "ver": 8, "active": True,
                                   "type": "fixed_price", "sku": "milk", "price": 1,
                                   "from": h._utc_ts(now + 3600 * 1000)})
    gw.change("customer", "C-1", {"id": "C-1", "ver": 7, "name": "Zoë Ångström",
                                  "tier": "gold"})
    gw.change("loyalty", "C-1", {"balance": 300})
    want = ["entity=promo key=p-3for2 ver=5 active type=buy_n_pay_m sku=bread buy=3 pay=2",
            "entity=promo key=p-10off ver=6 active type=percent_off sku=coffee percent=10",
            'entity=customer key=C-1 ver=7 name="Zoë Ångström" tier=gold',
            "entity=loyalty key=C-1 balance=300"]
    for w in want:
        wait_until(lambda: w in watch.output(), 15, "watch to print %r" % w,
                   detail=lambda: watch.output()[-600:])
    out = env.term(watch_ini, "customer", "C-1").stdout.strip()
    check(out == 'C-1 name="Zoë Ångström" tier=gold ver=7', "p4term customer: %r" % out)
    check(env.term(watch_ini, "loyalty", "C-1").stdout.strip() == "balance=300",
          "p4term loyalty C-1")
    env.term(watch_ini, "customer", "C-404", expect_rc=1)

    # 3. Ringing from the cache: price in effect + promos; the gateway receives what was charged.
    seller = env.ini("r02")
    res = env.term(seller, "sale", "--line", "bread:2", "--line", "coffee:1", "--line",
                   "bread:1", "--line", "milk:1", "--line", "jam:1:450", "--tender", "card")
    f = sale_fields(res.stdout)
    check(f.get("status") == "acked", "rung sale not acked: %s" % res.stdout)
    lines = charged_lines(res.stdout)
    # bread 2 + 1 merged to 3 -> 2 @ 100 + 1 @ 0; coffee 989 - 99 (10 % rounded half up);
    # milk's promo has not started; jam keeps its given price.
    want_lines = [("bread", 2, 100, 2), ("bread", 1, 0, 2), ("coffee", 1, 890, 7),
                  ("milk", 1, 119, 1), ("jam", 1, 450, 0)]
    check(lines == want_lines, "charged lines %r, want %r" % (lines, want_lines))
    sent = gw.sale(f["id"])
    check(sent is not None, "the gateway did not receive the sale")
    check([(l["sku"], l["qty"], l["price"], l["ver"]) for l in sent["lines"]] == want_lines,
          "the gateway received other lines than the register charged: %r" % sent["lines"])
    total = 200 + 890 + 119 + 450
    check(sent["total"] == total and sent["tenders"] == [{"type": "card", "amount": total}],
          "sale total/tenders %r %r, want %d" % (sent["total"], sent["tenders"], total))
    check("hold" not in sent, "a sale without a hold carries one")
    log("rung sale charged %d as the promos say" % total)

    # 4. Loyalty redemption online: within the cached balance it goes, beyond it is refused.
    res = env.term(seller, "sale", "--line", "milk:1", "--customer", "C-1", "--earn", "5",
                   "--redeem", "100")
    f = sale_fields(res.stdout)
    check(f.get("status") == "acked", "redemption within the balance: %s" % res.stdout)
    sent = gw.sale(f["id"])
    check(sent and sent.get("customer") == "C-1" and
          sent.get("loyalty") == {"earn": 5, "redeem": 100}, "loyalty fields sent: %r" % sent)
    n_before = len(gw.sales)
    res = env.term(seller, "sale", "--line", "milk:1", "--customer", "C-1", "--redeem", "301",
                   expect_rc=1)
    check("points asked but C-1 has 300" in res.stderr, "refusal reason: %r" % res.stderr)
    check("pending=0" in env.term(seller, "pending").stdout, "the refused sale was journaled")
    check(len(gw.sales) == n_before, "a refused sale reached the gateway")
    # Points spent in a sale the gateway has not acknowledged yet cannot be spent again.
    gw.acking = False
    res = env.term(seller, "sale", "--line", "milk:1", "--customer", "C-1", "--redeem", "200",
                   "--wait-ms", "300")
    check(sale_fields(res.stdout).get("status") == "pending", "unacked sale: %s" % res.stdout)
    res = env.term(seller, "sale", "--line", "milk:1", "--customer", "C-1", "--redeem", "200",
                   expect_rc=1)
    check("200 points asked but C-1 has 100 (200 of 300 in pending sales)" in res.stderr,
          "second redemption of the same points: %r" % res.stderr)
    gw.acking = True
    check("pending=0" in env.term(seller, "flush", "--wait-ms", "20000").stdout,
          "the redemption was not acked once the gateway acked again")

    # 5. Holds: asked and answered; the sale carries the hold id. A register that never had a
    # hold reply leaves the field out (a 1.0 gateway would reject it).
    fresh = env.ini("r03")
    res = env.term(fresh, "sale", "--line", "milk:1", "--hold", "h-unknown")
    sent = gw.sale(sale_fields(res.stdout)["id"])
    check(sent and "hold" not in sent, "hold field sent to a gateway never heard on holds")
    gw.available["milk"] = 0
    res = env.term(seller, "hold", "--line", "coffee:2", "--line", "milk:1", "--ttl-ms",
                   "60000", expect_rc=1)
    f = dict(tok.split("=", 1) for tok in res.stdout.split() if "=" in tok)
    check(f.get("granted") == "coffee:2,milk:0", "hold granted: %r" % res.stdout)
    check("milk: 0 of 1 available" in res.stdout, "hold reason missing: %r" % res.stdout)
    req = gw.hold_reqs[-1]
    check(req["hold"] == f["hold"] and req["ttl_ms"] == 60000 and
          req["lines"] == [{"sku": "coffee", "qty": 2}, {"sku": "milk", "qty": 1}],
          "hold request on the wire: %r" % req)
    res = env.term(seller, "sale", "--line", "coffee:2", "--hold", f["hold"])
    hold_sale = sale_fields(res.stdout)["id"]
    sent = gw.sale(hold_sale)
    check(sent and sent.get("hold") == f["hold"], "the sale does not carry its hold: %r" % sent)
    env.term(seller, "hold", "--release", f["hold"])
    check(gw.hold_reqs[-1] == {"req_id": gw.hold_reqs[-1]["req_id"], "hold": f["hold"],
                               "release": True}, "release on the wire: %r" % gw.hold_reqs[-1])

    # 6. Alerts in watch: kind, sku, sales, message.
    sid = hold_sale
    gw.alert("oversell", "coffee stock went to -1", sku="coffee", sales=[sid],
             details={"on_hand": -1})
    wait_until(lambda: 'alert kind=oversell severity=warning sku=coffee sales=%s message='
               '"coffee stock went to -1" details={"on_hand":-1}' % sid in watch.output(), 10,
               "watch to print the alert", detail=lambda: watch.output()[-400:])

    # 7. An effective-dated price switches on at its time with the store broker stopped.
    start_ms = int(time.time() * 1000) + 6000
    gw.change("price", "coffee", {"price": 989, "ver": 7, "windows": [
        {"price": 799, "ver": 9, "from": h._utc_ts(start_ms)}]})
    wait_until(lambda: "window=799/9[%s,-)" % h._utc_ts(start_ms) in watch.output(), 10,
               "r01 to receive the scheduled price", detail=lambda: watch.output()[-400:])
    check("synced=yes" in env.term(seller, "sync").stdout, "r02 did not sync")
    env.broker.stop()
    wait_until(lambda: "link down" in watch.output(), 20, "r01 to see the broker gone")
    before = env.term(watch_ini, "price", "coffee").stdout.split()
    check(int(time.time() * 1000) < start_ms, "too slow to observe the price before its start")
    check(before == ["989", "ver=7"], "price before the window: %r" % before)
    switched = wait_until(lambda: (env.term(watch_ini, "price", "coffee").stdout.split()
                                   == ["799", "ver=9"]) and int(time.time() * 1000), 20,
                          "the scheduled price to switch on with no broker", interval_s=0.1)
    check(switched >= start_ms, "the price switched %d ms before its time" % (start_ms - switched))
    log("scheduled price on r01 at +%d ms after its start, broker stopped" % (switched - start_ms))
    # A rung sale uses it too, and redemptions follow the offline policy.
    res = env.term(seller, "sale", "--line", "coffee:1", "--wait-ms", "0")
    check(charged_lines(res.stdout) == [("coffee", 1, 719, 9)],
          "offline rung sale: %s" % res.stdout)  # 799 - 80 (10 % off)
    res = env.term(seller, "sale", "--line", "milk:1", "--customer", "C-1", "--redeem", "10",
                   "--wait-ms", "1500", expect_rc=1)
    check("refused while the gateway is unreachable" in res.stderr, "deny: %r" % res.stderr)
    allow = env.ini("r02", policy="allow", name="r02-allow")
    res = env.term(allow, "sale", "--line", "milk:1", "--customer", "C-1", "--redeem", "10",
                   "--wait-ms", "1500")
    check(sale_fields(res.stdout).get("status") == "pending", "allow: %s" % res.stdout)
    check("pending=2" in env.term(seller, "pending").stdout, "offline sales not journaled")

    # Back online: both offline sales reach the gateway as journaled.
    env.broker.start()
    res = env.term(seller, "flush", "--wait-ms", "20000")
    check("pending=0" in res.stdout, "offline sales not acked after the broker came back")
    watch.kill()


if __name__ == "__main__":
    h.run_test(main)
