# SPDX-License-Identifier: Apache-2.0
"""HQ's audit log and its HTTP surface under attack (issue 21).

- Every change made at HQ, with the CLI (price set and window, promo put and retire, customer
  put, stock receive, loyalty adjust, store add) and with the write API (the same, and an
  alert acknowledgement), appears in `p4hq audit` with its actor: the CLI's OS user and host,
  or the API's role, how the token came (bearer), the token's fingerprint and the peer
  address; the change as JSON. A refused change leaves no row. The table refuses UPDATE,
  DELETE and TRUNCATE (even from the superuser). No token is in the log or the audit rows.
- An oversized request (Content-Length 10 MB) is answered 413 after a few kilobytes: the rest
  is never read; a body of unknown length (chunked) is answered 411.
- A burst of requests from one address gets 429 with Retry-After, then it is served again.
- A burst of bad logins gets 429 at once (no KDF run), with a delay that grows, and blocks
  even a valid token from that address while it lasts."""

import getpass
import hashlib
import json
import os
import socket
import time
import urllib.error
import urllib.request

import p4harness as h
from p4harness import check, log, wait_until
import hqchain
from hqchain import TENANT

ADMIN = "admin-token-for-the-security-test"
BAD = ["wrong-token-%02d-for-the-security-test" % i for i in range(8)]


def token_hash(token, iterations=1000):
    """pbkdf2-sha256$ITER$SALT$HASH (auth.c's format), with few iterations to keep it fast."""
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", token.encode(), salt, iterations)
    return "pbkdf2-sha256$%d$%s$%s" % (iterations, salt.hex(), dk.hex())


def request(port, method, path, body=None, token=None, form=None):
    """(status, headers, decoded JSON or text)."""
    headers = {}
    data = None
    if form is not None:
        data = form.encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=h.scaled(10)) as resp:
            status, hdrs, text = resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        status, hdrs, text = e.code, dict(e.headers), e.read().decode()
    try:
        return status, hdrs, json.loads(text)
    except ValueError:
        return status, hdrs, text


def raw_status(port, head, body_parts, timeout_s=10):
    """Sends HEAD then BODY_PARTS on a raw socket (stopping when the server answers or closes)
    and returns (status line, bytes of body sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=h.scaled(timeout_s))
    sent = 0
    try:
        s.sendall(head.encode())
        for part in body_parts:
            try:
                s.sendall(part)
                sent += len(part)
            except (BrokenPipeError, ConnectionResetError):
                break
        s.settimeout(h.scaled(timeout_s))
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0].decode(), sent
    finally:
        s.close()


def main():
    chain = hqchain.Chain()
    port = h.free_port()
    admin_hash = token_hash(ADMIN)
    hq = chain.hq(extra={"http": {"listen": "127.0.0.1:%d" % port, "admin_token_hash": admin_hash,
                                  "requests_per_s": "20", "request_burst": "40",
                                  "login_failures": "3"}})
    hq.start()
    chain.wait_tables()
    pg = chain.pg
    fp = "sha256:" + hashlib.sha256(admin_hash.encode()).hexdigest()[:16]
    me, host = getpass.getuser(), socket.gethostname()

    # ---- changes with the CLI ----
    cli_changes = [
        ("price.set", ["price", "set", "coffee-250g", "799"]),
        ("price.window", ["price", "window", "coffee-250g", "699", "--from",
                          "2030-01-01T00:00:00.000Z", "--store", "s001"]),
        ("promo.put", ["promo", "put", "p-1", "--type", "percent_off", "--sku", "milk-1l",
                       "--percent", "10"]),
        ("promo.retire", ["promo", "retire", "p-1"]),
        ("customer.put", ["customer", "put", "C-1", "--name", "Ada"]),
        ("stock.receive", ["stock", "receive", "coffee-250g", "24", "--store", "s001",
                           "--id", "rcv-1"]),
        ("loyalty.adjust", ["loyalty", "adjust", "C-1", "50", "--reason", "welcome"]),
        ("store.add", ["store", "add", "s001"]),
    ]
    for _action, argv in cli_changes:
        hq.cli_ok(*argv)
    n = len(hq.cli_json("audit"))
    res = hq.cli("price", "set", "coffee-250g", "-5")
    check(res.returncode == 2, "a bad price was accepted: %s" % res.stderr)
    check(len(hq.cli_json("audit")) == n, "a refused CLI change left an audit row")

    # ---- changes with the write API ----
    api_changes = [
        ("price.set", "/api/prices", {"sku": "milk-1l", "price": 139}),
        ("promo.put", "/api/promos", {"id": "p-2", "type": "fixed_price", "sku": "milk-1l",
                                      "price": 99}),
        ("promo.retire", "/api/promos/p-2/retire", {}),
        ("customer.put", "/api/customers", {"id": "C-2", "name": "Grace", "tier": "gold"}),
        ("stock.count", "/api/stock", {"store": "s001", "sku": "milk-1l", "type": "count",
                                       "qty": 12}),
        ("loyalty.adjust", "/api/loyalty", {"customer": "C-2", "points": -5}),
    ]
    for _action, path, body in api_changes:
        status, _h, got = request(port, "POST", path, body, ADMIN)
        check(status == 201, "POST %s: %s %r" % (path, status, got))
    n = len(hq.cli_json("audit"))
    status, _h, got = request(port, "POST", "/api/prices", {"sku": "milk-1l", "price": -1},
                              ADMIN)
    check(status == 400, "a bad API price: %s %r" % (status, got))
    check(len(hq.cli_json("audit")) == n, "a refused API change left an audit row")
    alert_id = h.uuid7()
    pg.sql("INSERT INTO alerts (tenant, alert_id, store, source, kind, severity, ts, message)"
           " VALUES (%s, %s, 's001', 'store', 'drawer_open', 'warning', now(), 'test')",
           TENANT, alert_id)
    status, _h, got = request(port, "POST", "/api/alerts/%s/ack" % alert_id, {}, ADMIN)
    check(status == 200, "alert ack: %s %r" % (status, got))

    # ---- the audit log ----
    rows = list(reversed(hq.cli_json("audit")))     # oldest first
    want = [("cli", a) for a, _ in cli_changes] + [("api", a) for a, _, _ in api_changes] + \
        [("api", "alert.ack")]
    check([(r["via"], r["action"]) for r in rows] == want,
          "audit actions %r, want %r" % ([(r["via"], r["action"]) for r in rows], want))
    for r, (_a, argv) in zip(rows, cli_changes):
        check(r["actor"].startswith(me) and r["origin"] == host and r["token_fp"] == "",
              "CLI actor %r" % r)
        check(r["detail"]["args"] == [a for a in argv[2:] if not a.startswith("--")][
            :len(r["detail"]["args"])] and isinstance(r["detail"]["result"], dict),
            "CLI detail %r for %r" % (r["detail"], argv))
    check(rows[0]["detail"]["result"]["ver"] >= 1, "price set: no version in %r" % rows[0])
    check(rows[1]["detail"]["options"] == {"from": "2030-01-01T00:00:00.000Z",
                                           "store": "s001"}, "price window options %r" % rows[1])
    for r, (_a, _p, body) in zip(rows[len(cli_changes):], api_changes):
        check(r["actor"] == "admin (bearer)" and r["token_fp"] == fp and
              r["origin"] == "127.0.0.1", "API actor %r (fingerprint %s)" % (r, fp))
        check(r["detail"]["request"] == body, "API detail %r, sent %r" % (r["detail"], body))
    check(rows[-1]["detail"]["id"] == alert_id, "alert ack detail %r" % rows[-1])
    for r in rows:
        check(r["at"].endswith("Z"), "audit time %r" % r["at"])
    csv_out = hq.cli_ok("audit", "--format", "csv", "--limit", "2")
    check(len(csv_out.strip().splitlines()) == 3, "audit --limit 2 CSV: %r" % csv_out)
    log("audit: %d changes, each with its actor" % len(rows))
    for sql in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log",
                "TRUNCATE audit_log"):
        try:
            pg.sql(sql)
            ok = False
        except Exception as e:      # psycopg2.Error: the trigger refuses it
            ok = "append-only" in str(e)
            log("%s -> %s" % (sql, str(e).splitlines()[0]))
        check(ok, "%r was not refused" % sql)
    check(pg.value("SELECT count(*) FROM audit_log") == len(rows), "audit rows changed")

    # ---- an oversized request is refused before it is read whole ----
    head = ("POST /api/prices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Authorization: Bearer %s\r\nContent-Length: 10000000\r\n\r\n" % ADMIN)
    line, sent = raw_status(port, head, [b"x" * 4096])
    check(" 413 " in line, "a 10 MB Content-Length got %r" % line)
    head = ("POST /api/prices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Authorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n" % ADMIN)
    chunk = b"%x\r\n%s\r\n" % (3000, b"y" * 3000)
    line, sent = raw_status(port, head, [chunk, chunk])
    check(" 411 " in line, "a chunked body (no length up front) got %r" % line)
    log("oversized: 413 from Content-Length alone, 411 for a chunked body")

    # ---- a burst of requests from one address ----
    codes = [request(port, "GET", "/healthz")[0] for _ in range(120)]
    check(codes.count(429) > 0 and codes[0] == 200, "no 429 in a burst of 120: %r"
          % sorted(set(codes)))
    _s, hdrs, _b = next(r for r in (request(port, "GET", "/healthz") for _ in range(50))
                        if r[0] == 429)
    check(int(hdrs.get("Retry-After", "0")) >= 1, "429 without Retry-After: %r" % hdrs)
    wait_until(lambda: request(port, "GET", "/healthz")[0] == 200, 10,
               "the address to be served again")
    log("request burst: %d of 120 answered 429" % codes.count(429))

    # ---- a burst of bad logins ----
    # the request bucket refills (20/s): ten requests in a row pass again
    wait_until(lambda: all(request(port, "GET", "/healthz")[0] == 200 for _ in range(10)), 15,
               "the request bucket to refill", interval_s=1.0)
    results = []
    for tok in BAD[:3]:
        status, hdrs, _b = request(port, "POST", "/login", form="token=" + tok)
        results.append(status)
    check(results == [401, 401, 401], "the first 3 bad logins: %r" % results)
    t0 = time.monotonic()
    status, hdrs, body = request(port, "POST", "/login", form="token=" + BAD[3])
    took = time.monotonic() - t0
    check(status == 429 and hdrs.get("Retry-After") == "1" and
          body.get("error", "").startswith("token:"), "4th bad login: %s %r %r"
          % (status, hdrs.get("Retry-After"), body))
    status, _h, _b = request(port, "GET", "/api/me", token=ADMIN)
    check(status == 429, "a valid token from a blocked address got %s" % status)
    # after the delay one more bad token is tried (401) and the next delay is longer
    wait_until(lambda: request(port, "POST", "/login", form="token=" + BAD[4])[0] == 401, 10,
               "the first delay to end", interval_s=0.25)
    status, hdrs, body = request(port, "POST", "/login", form="token=" + BAD[5])
    check(status == 429 and int(hdrs.get("Retry-After", "0")) == 2 and
          body.get("error", "").startswith("token:"),
          "the delay did not grow: %s %r %r" % (status, hdrs.get("Retry-After"), body))
    check(took < 1.0, "a throttled login took %.2f s" % took)
    wait_until(lambda: request(port, "GET", "/api/me", token=ADMIN)[0] == 200, 10,
               "the valid token to be served once the delay ends", interval_s=0.25)
    log("login burst: 429 with Retry-After 1 then 2; answered in %.3f s" % took)

    # ---- no token anywhere it could leak ----
    text = hq.log_text() + json.dumps(hq.cli_json("audit"))
    for tok in [ADMIN] + BAD:
        check(tok not in text, "a token reached the log or the audit log")
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
