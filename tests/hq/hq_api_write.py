# SPDX-License-Identifier: Apache-2.0
"""HQ's write API: an admin token changes prices, promos, customers, stock and loyalty over
HTTP, each change answered after COMMIT and sent to the stores; no token, a viewer token,
malformed JSON, unknown fields and out-of-range values are refused with a reason naming the
field, and nothing is written."""

import json
import subprocess
import urllib.error
import urllib.request

import p4harness as h
from p4harness import check, log, wait_until
import hqchain

ADMIN = "admin-token-for-the-write-api"
VIEWER = "viewer-token-for-the-write-api"


def post(port, path, body, token=None, raw=None):
    """(status, decoded JSON or text) of POST http://127.0.0.1:PORT/api/PATH."""
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (port, path), data=data,
                                 method="POST",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=h.scaled(10)) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def token_hash(hq_bin, token):
    return subprocess.run([hq_bin, "--hash-token"], input=token + "\n", capture_output=True,
                          text=True, check=True).stdout.strip()


def main():
    chain = hqchain.Chain()
    hq_bin = hqchain.p4hq_path()
    port = h.free_port()
    hq = chain.hq(extra={"http": {"listen": "127.0.0.1:%d" % port,
                                  "admin_token_hash": token_hash(hq_bin, ADMIN),
                                  "viewer_token_hash": token_hash(hq_bin, VIEWER)}})
    hq.start()
    chain.wait_tables()
    seen = []
    sub = h.MqttClient(chain.cloud.port, "down-%s" % h.uuid7()[-10:])
    sub.on_message = lambda msg: seen.append((msg.topic, json.loads(msg.payload)))
    sub.connect()
    sub.subscribe("p4/v1/%s/+/down/+" % hqchain.TENANT)

    def count(table):
        return chain.pg.value("SELECT count(*) FROM %s" % table)

    # ---- refused, nothing written ----
    before = {t: count(t) for t in ("prices", "promos", "customers", "loyalty_ledger",
                                    "downlink")}
    cases = [
        ("prices", {"sku": "coffee", "price": 100}, None, 401, "authorization"),
        ("prices", {"sku": "coffee", "price": 100}, VIEWER, 403, "role"),
        ("prices", None, ADMIN, 400, "body"),
        ("prices", {"sku": "coffee", "price": 100, "discount": 5}, ADMIN, 400,
         "discount: unknown field"),
        ("prices", {"sku": "coffee", "price": -1}, ADMIN, 400, "price: must be an integer"),
        ("prices", {"sku": "coffee", "price": 100000001}, ADMIN, 400, "price:"),
        ("prices", {"sku": "a b", "price": 1}, ADMIN, 400, "sku:"),
        ("prices", {"sku": "coffee", "price": 1, "from": "2026-12-01T00:00:00.000Z",
                    "until": "2026-11-01T00:00:00.000Z"}, ADMIN, 400, "until:"),
        ("promos", {"id": "p1", "type": "percent_off", "sku": "coffee"}, ADMIN, 400,
         "percent: missing"),
        ("promos/nope/retire", {}, ADMIN, 400, "id: no such promo"),
        ("customers", {"id": "C-1", "name": ""}, ADMIN, 400, "name:"),
        ("stock", {"store": "s001", "sku": "coffee", "type": "receive", "qty": 0}, ADMIN, 400,
         "qty:"),
        ("loyalty", {"customer": "C-1", "points": 0}, ADMIN, 400, "points:"),
    ]
    for path, body, token, want, field in cases:
        raw = b"{not json" if body is None else None
        status, answer = post(port, path, body, token, raw=raw)
        check(status == want, "POST %s %r: %s %r, expected %d" % (path, body, status, answer,
                                                                  want))
        check(isinstance(answer, dict) and field in answer.get("error", ""),
              "POST %s: error %r does not name %r" % (path, answer, field))
    after = {t: count(t) for t in before}
    check(after == before, "refused requests wrote something: %r -> %r" % (before, after))

    # ---- accepted, committed, versioned by the database, published ----
    status, a = post(port, "prices", {"sku": "coffee", "price": 799}, ADMIN)
    check(status == 201 and a["ver"] >= 1, "price set: %s %r" % (status, a))
    status, b = post(port, "prices", {"sku": "milk", "price": 129, "store": "s001"}, ADMIN)
    check(status == 201 and b["ver"] == a["ver"] + 1, "price versions not in order: %r %r"
          % (a, b))
    status, p = post(port, "promos", {"id": "p-10", "type": "percent_off", "sku": "coffee",
                                      "percent": 10}, ADMIN)
    check(status == 201, "promo put: %s %r" % (status, p))
    status, r = post(port, "promos/p-10/retire", {}, ADMIN)
    check(status == 201 and r["ver"] > p["ver"], "promo retire: %s %r" % (status, r))
    status, c = post(port, "customers", {"id": "C-7", "name": "Zoë Ångström", "tier": "gold"},
                     ADMIN)
    check(status == 201, "customer put: %s %r" % (status, c))
    status, s = post(port, "stock", {"store": "s001", "sku": "coffee", "type": "receive",
                                     "qty": 48, "id": "rcv-7"}, ADMIN)
    check(status == 201 and s == {"id": "rcv-7", "on_hand": 48}, "stock: %s %r" % (status, s))
    status, s2 = post(port, "stock", {"store": "s001", "sku": "coffee", "type": "receive",
                                      "qty": 48, "id": "rcv-7"}, ADMIN)
    check(status == 409 and "rcv-7" in s2.get("error", ""), "repeated movement: %s %r"
          % (status, s2))
    status, l = post(port, "loyalty", {"customer": "C-7", "points": 250, "reason": "welcome"},
                     ADMIN)
    check(status == 201 and l["entry"].startswith("hq-"), "loyalty: %s %r" % (status, l))
    check(chain.pg.value("SELECT sum(points) FROM loyalty_ledger WHERE customer = 'C-7'") == 250,
          "loyalty entry not in the ledger")

    def published():
        kinds = {(t.split("/")[3], t.split("/")[-1]) for t, _ in seen}
        return {("_all", "price"), ("s001", "price"), ("_all", "promo"), ("_all", "customer"),
                ("s001", "stock")} <= kinds
    wait_until(published, 20, "every change to be published to the cloud broker")
    prices = [(t, b) for t, b in seen if t.endswith("/_all/down/price")]
    check(prices[0][1]["items"][0] == {"sku": "coffee", "price": 799, "ver": a["ver"]},
          "published price item %r" % (prices[0][1],))
    # The publisher marks its rows after the broker's PUBACK, in its own transaction.
    wait_until(lambda: chain.pg.value("SELECT count(*) FROM downlink"
                                      " WHERE published_at IS NULL") == 0,
               10, "every downlink row to be marked published")
    log("write API: %d changes accepted and published, %d refused" % (7, len(cases)))
    sub.close()
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
