# SPDX-License-Identifier: Apache-2.0
"""p4hq's read API, access rules and event stream over HTTPS, against a real store, the cloud
broker and PostgreSQL:
- without a token every data endpoint answers 401 (JSON error), only /healthz answers; a wrong
  token, a forged cookie or plain HTTP on the HTTPS port get nothing;
- security headers on every answer (CSP without inline script, no framing, HSTS);
- login by form sets an HttpOnly, Secure, SameSite=Strict cookie that reads the API; a wrong
  token gets the login page again with 401;
- a viewer reads but cannot write (403); an admin acknowledges an alert, which leaves the open
  alerts and is streamed; bad arguments answer 400 {"error": "field: ..."};
- the summary matches the sales HQ committed;
- feed ids follow commit order: a transaction that started first but commits last gets the
  higher id, so a client resuming with Last-Event-ID after the other one still receives it
  (no gap), and nothing it already had (no double);
- --check-config refuses a non-loopback listen address without TLS."""

import json
import os
import socket
import subprocess

import p4harness as h
import dashenv
from dashenv import ADMIN_TOKEN, VIEWER_TOKEN, check, log, wait_until

DATA_GETS = ["/api/summary", "/api/stores", "/api/stores/s001", "/api/series", "/api/top",
             "/api/alerts", "/api/sales", "/api/snapshot", "/api/me", "/api/stream"]


def insert_sale(cur, store, gw_seq, total):
    cur.execute("INSERT INTO sales (tenant, store, gw_seq, sale_id, reg, seq, ts, kind, "
                "total_minor, units) VALUES ('acme', %s, %s, gen_random_uuid(), 'r9', %s, "
                "now(), 'sale', %s, 1) RETURNING sale_id::text", (store, gw_seq, gw_seq, total))
    return cur.fetchone()[0]


def main():
    d = dashenv.Dash(stores=("s001",))
    d.wait_store_rows()

    # 1. nothing but the health check without a token
    st, _hd, body = d.request("GET", "/healthz")
    check(st == 200 and json.loads(body)["status"] == "ok", "healthz: %d %r" % (st, body))
    for path in DATA_GETS:
        for tok in (None, "not-a-token-0123456789"):
            st, hd, body = d.request("GET", path, token=tok)
            check(st == 401, "GET %s with token %r: %d, want 401" % (path, tok, st))
            check(json.loads(body)["error"].startswith("authorization:"), "401 body %r" % body)
            check(hd.get("www-authenticate", "").startswith("Bearer"), "no WWW-Authenticate")
    forged = "p4hq_session=v1.admin.9999999999." + "0" * 64
    st, _hd, _b = d.request("GET", "/api/summary", cookie=forged)
    check(st == 401, "a forged admin cookie got %d" % st)
    st, _hd, _b = d.request("POST", "/api/alerts/0190a3c2-1234-7000-8000-000000000000/ack",
                            body="{}", headers={"Content-Type": "application/json"})
    check(st == 401, "POST ack without a token: %d" % st)
    st, hd, _b = d.request("GET", "/")
    check(st == 303 and hd.get("location") == "/login", "GET / without login: %d %r" % (st, hd))
    log("without a valid token: %d data endpoints answer 401, / sends to /login, /healthz ok"
        % len(DATA_GETS))

    # 2. headers
    st, hd, _b = d.request("GET", "/api/summary", token=VIEWER_TOKEN)
    csp = hd.get("content-security-policy", "")
    check("unsafe-inline" not in csp and "script-src 'self'" in csp and
          "frame-ancestors 'none'" in csp, "CSP %r" % csp)
    check(hd.get("x-frame-options") == "DENY" and hd.get("x-content-type-options") == "nosniff"
          and "max-age" in hd.get("strict-transport-security", ""), "headers %r" % hd)
    for path in ("/login", "/app.js", "/app.css"):
        st, hd, body = d.request("GET", path)
        check(st == 200 and "content-security-policy" in hd, "GET %s: %d" % (path, st))
    st, _hd, body = d.request("GET", "/login")
    check(b"<script" not in body, "the login page has a script")
    # plain HTTP on the HTTPS port gets no HTTP answer
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    s.sendall(b"GET /api/summary HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        got = s.recv(100)
    except (ConnectionResetError, socket.timeout):
        got = b""
    s.close()
    check(not got.startswith(b"HTTP/1.1 200"), "plain HTTP answered: %r" % got)

    # 3. login by form
    st, hd, body = d.request("POST", "/login", body="token=wrong-token-0123456789",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 401 and b"not valid" in body and "set-cookie" not in hd,
          "bad login: %d %r" % (st, hd))
    st, hd, body = d.request("POST", "/login", body="token=" + VIEWER_TOKEN,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    ck = hd.get("set-cookie", "")
    check(st == 303 and hd.get("location") == "/", "login: %d %r" % (st, hd))
    for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        check(flag in ck, "cookie lacks %s: %r" % (flag, ck))
    check(VIEWER_TOKEN not in ck, "the cookie carries the token")
    cookie = ck.split(";", 1)[0]
    st, _hd, body = d.request("GET", "/api/me", cookie=cookie)
    check(st == 200 and json.loads(body)["role"] == "viewer", "me by cookie: %d %r" % (st, body))
    st, _hd, _b = d.request("GET", "/", cookie=cookie)
    check(st == 200, "the page with the cookie: %d" % st)
    log("form login: 303 with an HttpOnly, Secure, SameSite=Strict cookie; wrong token 401")

    # 4. data: the summary counts what HQ committed
    reg = d.stores[0].register("r1")
    ids = [reg.send(reg.make_sale()) for _ in range(5)]
    reg.wait_acked(ids, 20)
    wait_until(lambda: d.pg.value("SELECT count(*) FROM sales") == 5, 20, "HQ to hold 5 sales")
    total = d.pg.value("SELECT sum(total_minor) FROM sales")
    summ = d.get_json("/api/summary")
    check(summ["count"] == 5 and summ["amount"] == total, "summary %r, HQ 5 sales %d"
          % (summ, total))
    stores = d.get_json("/api/stores")
    row = stores["stores"][0]
    check(stores["total"] == 1 and row["store"] == "s001" and row["count"] == 5 and
          row["hq_through"] == 5 and row["state"] == "online", "stores %r" % stores)
    sales = d.get_json("/api/sales?limit=3")
    check([x["id"] for x in sales] == ids[::-1][:3], "latest sales %r" % sales)
    top = d.get_json("/api/top")
    check(sum(x["units"] for x in top["by_units"]) >= 5, "top %r" % top)
    series = d.get_json("/api/series?minutes=5")
    check(len(series) == 5 and sum(x["count"] for x in series) == 5, "series %r" % series)
    one = d.get_json("/api/stores/s001")
    check(one["summary"]["count"] == 5, "one store: %r" % one["summary"])
    for path, field in (("/api/stores?limit=0", "limit"), ("/api/series?minutes=x", "minutes"),
                        ("/api/summary?store=BAD!", "store")):
        st, _hd, body = d.request("GET", path, token=VIEWER_TOKEN)
        err = json.loads(body).get("error", "")
        check(st == 400 and err.startswith(field + ":"), "GET %s: %d %r" % (path, st, err))
    st, _hd, body = d.request("GET", "/api/nothing", token=VIEWER_TOKEN)
    check(st == 404 and json.loads(body)["error"].startswith("path:"), "404 %r" % body)
    log("summary, stores, sales, top, series match HQ's 5 sales; bad arguments answer 400")

    # 5. writes: a viewer cannot, an admin can
    alert_id = d.pg.value("INSERT INTO alerts (tenant, alert_id, store, source, kind, severity, "
                          "ts, message, sku) VALUES ('acme', gen_random_uuid(), 's001', 'hq', "
                          "'price_mismatch', 'warning', now(), 'price differs', 'milk-1l') "
                          "RETURNING alert_id::text")
    path = "/api/alerts/%s/ack" % alert_id
    js = {"Content-Type": "application/json"}
    st, _hd, body = d.request("POST", path, token=VIEWER_TOKEN, body="{}", headers=js)
    check(st == 403 and json.loads(body)["error"].startswith("role:"), "viewer ack: %d" % st)
    st, _hd, _b = d.request("POST", path, cookie=cookie, body="{}", headers=js)
    check(st == 403, "viewer cookie ack: %d" % st)
    st, _hd, _b = d.request("POST", path, token=ADMIN_TOKEN, body="{}",
                            headers={"Content-Type": "text/plain"})
    check(st == 415, "a non-JSON write: %d" % st)
    check(d.get_json("/api/alerts")["open"] == 1, "the alert is not open")
    sse = dashenv.SseReader(d, after=d.get_json("/api/snapshot")["feed_id"])
    st, _hd, body = d.request("POST", path, token=ADMIN_TOKEN, body="{}", headers=js)
    check(st == 200 and json.loads(body)["acked"], "admin ack: %d %r" % (st, body))
    check(d.get_json("/api/alerts")["open"] == 0, "the acked alert is still open")
    got = sse.until(lambda e: e[1] == "alert_ack", 10, "alert_ack event")
    check(got[-1][2]["id"] == alert_id, "ack event %r" % (got[-1],))
    st, _hd, _b = d.request("POST", "/api/alerts/not-a-uuid/ack", token=ADMIN_TOKEN,
                            body="{}", headers=js)
    check(st in (400, 404), "a bad alert id: %d" % st)
    log("viewer writes refused (403); admin acknowledged the alert, streamed as alert_ack")

    # 6. feed ids in commit order; resuming after the first-committed misses nothing
    head = d.get_json("/api/snapshot")["feed_id"]
    t1, t2 = d.pg.connect(autocommit=False), d.pg.connect(autocommit=False)
    c1, c2 = t1.cursor(), t2.cursor()
    early = insert_sale(c1, "x9", 1, 100)   # T1 starts first ...
    late = insert_sale(c2, "x9", 2, 200)    # ... T2 commits first
    t2.commit()
    first = sse.until(lambda e: e[1] == "sale", 10, "the first committed sale")[-1]
    check(first[2]["id"] == late, "first streamed sale %r, want T2's" % (first,))
    t1.commit()
    second = sse.until(lambda e: e[1] == "sale", 10, "the second committed sale")[-1]
    check(second[2]["id"] == early and second[0] > first[0],
          "T1's sale %r after T2's %r: ids must follow commit order" % (second, first))
    sse.close()
    t1.close()
    t2.close()
    again = dashenv.SseReader(d, last_event_id=first[0])
    got = again.until(lambda e: e[1] == "sale", 10, "the resumed sale")
    sales_got = [e for e in got if e[1] == "sale"]
    check([e[2]["id"] for e in sales_got] == [early], "resume after %d gave %r" % (
        first[0], sales_got))
    again.close()
    full = dashenv.SseReader(d, after=head)
    got = full.until(lambda e: e[1] == "sale" and e[2]["id"] == early, 10, "both sales")
    seen = [e[2]["id"] for e in got if e[1] == "sale"]
    check(seen == [late, early], "replay after %d: %r" % (head, seen))
    ids_seen = [e[0] for e in got if e[0] is not None]
    check(ids_seen == sorted(set(ids_seen)), "event ids repeat or go back: %r" % ids_seen)
    full.close()
    log("feed: T1 began first, T2 committed first -> ids %d (T2) < %d (T1); resuming with "
        "Last-Event-ID %d delivers T1's sale once" % (first[0], second[0], first[0]))

    # 7. configuration: no clear-text listener beyond loopback
    ini = os.path.join(h.subdir("badcfg"), "p4hq.ini")
    cfg = {k: dict(v) for k, v in d.hq.config.items()}
    cfg["http"] = {"listen": "0.0.0.0:8470"}
    h.write_ini(ini, cfg)
    res = subprocess.run([d.hq.bin, "--config", ini, "--check-config"], capture_output=True,
                         text=True, timeout=30)
    check(res.returncode == 2 and "[http] listen" in res.stderr, "check-config: %d %r"
          % (res.returncode, res.stderr))
    d.hq.check_alive()
    keep = dashenv.SseReader(d)
    check(d.hq.stop() == 0, "p4hq did not stop cleanly with a stream open")
    keep.close()


if __name__ == "__main__":
    h.run_test(main)
