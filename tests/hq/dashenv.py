# SPDX-License-Identifier: Apache-2.0
"""The dashboard's test bench: the HQ chain of hqchain.py (PostgreSQL, cloud broker, p4hq, real
stores) with p4hq's HTTPS dashboard configured (a throwaway certificate, viewer and admin
tokens stored as PBKDF2 hashes), an HTTPS client that does not verify the throwaway
certificate, an SSE reader, and a headless Chromium driven by Selenium."""

import hashlib
import http.client
import json
import os
import secrets
import shutil
import ssl
import subprocess
import time

import p4harness as h
import hqchain
from p4harness import check, log, wait_until

VIEWER_TOKEN = "viewer-" + secrets.token_hex(12)
ADMIN_TOKEN = "admin-" + secrets.token_hex(12)
KDF_ITER = 2000  # p4hq --hash-token writes 600000; the format carries the count


def token_hash(token, iterations=KDF_ITER):
    """The [http] *_token_hash line of TOKEN, made the way p4hq --hash-token makes it."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", token.encode(), salt, iterations)
    return "pbkdf2-sha256$%d$%s$%s" % (iterations, salt.hex(), digest.hex())


def make_cert(dir):
    """A self-signed certificate for 127.0.0.1 (cert, key paths)."""
    cert, key = os.path.join(dir, "http.crt"), os.path.join(dir, "http.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def http_config(dir, tls=True):
    cfg = {"viewer_token_hash": token_hash(VIEWER_TOKEN),
           "admin_token_hash": token_hash(ADMIN_TOKEN)}
    if tls:
        cfg["cert_file"], cfg["key_file"] = make_cert(dir)
    key = os.path.join(dir, "session.key")
    with open(key, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(key, 0o600)
    cfg["session_key_file"] = key
    return cfg


class Dash:
    """The chain with p4hq's dashboard on HTTPS; PORT is p4hq's, RELAY (optional) a cuttable
    relay in front of it."""

    def __init__(self, stores=("s001", "s002"), relay=False, tls=True):
        self.chain = hqchain.Chain()
        d = h.subdir("dash")
        self.tls = tls
        self.hq = self.chain.hq(extra={"http": http_config(d, tls)})
        self.port = int(self.hq.config["http"]["listen"].rsplit(":", 1)[1])
        self.hq.start()
        self.chain.wait_tables()
        self.stores = [self.chain.store(s) for s in stores]
        for s in self.stores:
            s.start()
        self.relay = h.Relay(self.port) if relay else None

    @property
    def pg(self):
        return self.chain.pg

    def url(self, path="/", via_relay=False):
        port = self.relay.port if via_relay and self.relay else self.port
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", port, path)

    def conn(self, timeout=10):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, token=None, body=None, headers=None, cookie=None):
        """(status, headers dict lower-case, body bytes)."""
        hd = dict(headers or {})
        if token:
            hd["Authorization"] = "Bearer " + token
        if cookie:
            hd["Cookie"] = cookie
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=hd)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def get_json(self, path, token=VIEWER_TOKEN):
        st, _hd, body = self.request("GET", path, token=token)
        check(st == 200, "GET %s: %d %r" % (path, st, body[:300]))
        return json.loads(body)

    def wait_store_rows(self, timeout_s=30):
        want = {s.id for s in self.stores}
        wait_until(lambda: want <= {r[0] for r in self.pg.sql(
            "SELECT store FROM stores WHERE state = 'online'")}, timeout_s,
            "HQ to see every store online")


class SseReader:
    """Reads /api/stream over one HTTPS connection: events as (id, kind, data dict)."""

    def __init__(self, dash, token=VIEWER_TOKEN, after=None, last_event_id=None):
        self.c = dash.conn(timeout=20)
        path = "/api/stream" + ("?after=%d" % after if after is not None else "")
        hd = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
        if last_event_id is not None:
            hd["Last-Event-ID"] = str(last_event_id)
        self.c.request("GET", path, headers=hd)
        self.r = self.c.getresponse()
        check(self.r.status == 200, "stream: HTTP %d" % self.r.status)
        check(self.r.getheader("Content-Type", "").startswith("text/event-stream"),
              "stream content type %r" % self.r.getheader("Content-Type"))

    def next(self):
        """The next event (id or None, kind, data); pings included."""
        ev = {"id": None, "event": "message", "data": ""}
        while True:
            line = self.r.fp.readline()
            if not line:
                raise EOFError("stream closed")
            line = line.decode().rstrip("\n")
            if line == "":
                if ev["data"]:
                    return (int(ev["id"]) if ev["id"] else None, ev["event"],
                            json.loads(ev["data"]))
                ev = {"id": None, "event": "message", "data": ""}
                continue
            if line.startswith(":"):
                continue
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k in ("id", "event"):
                ev[k] = v
            elif k == "data":
                ev["data"] += v

    def until(self, pred, timeout_s=10, what="an event"):
        """Events read until PRED(event) is true (the socket timeout bounds each read)."""
        got = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            e = self.next()
            got.append(e)
            if pred(e):
                return got
        raise AssertionError("stream: no %s within %ss (got %r)" % (what, timeout_s, got[-5:]))

    def close(self):
        self.c.close()


# ---------------------------------------------------------------------------------------------
# the browser

def browser_available():
    for exe in ("chromium", "chromedriver"):
        if not shutil.which(exe):
            return "%s is not installed (scripts/deps.sh: chromium chromium-driver)" % exe
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed (scripts/deps.sh)"
    return ""


class Browser:
    """Headless Chromium with a fresh profile, through chromedriver, closed by the harness
    cleanup even when the test fails."""

    def __init__(self, width=390, height=844):
        why = browser_available()
        if why:
            raise h.SkipTest(why)
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        self.profile = h.subdir("chromium-profile")
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium")
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--ignore-certificate-errors", "--user-data-dir=" + self.profile,
                  "--window-size=%d,%d" % (width, height)):
            opts.add_argument(a)
        log_path = os.path.join(h.tmp_root(), "chromedriver.log")
        h.register_log("chromedriver", log_path)
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver"),
                                                       log_output=log_path), options=opts)
        self.driver.set_page_load_timeout(30)
        h._register(self)

    def _cleanup(self):
        self.close()

    def close(self):
        d, self.driver = getattr(self, "driver", None), None
        if d is not None:
            try:
                d.quit()
            except Exception:
                pass

    def size(self, width, height):
        self.driver.set_window_size(width, height)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def css(self, selector):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, selector):
        els = self.css(selector)
        return els[0].text if els else None

    def wait(self, what, cond, timeout_s=10, interval_s=0.02):
        return wait_until(cond, timeout_s, what, interval_s=interval_s)

    def login(self, url, token):
        from selenium.webdriver.common.by import By
        self.driver.get(url)
        self.wait("the login page", lambda: self.css("#token"))
        self.driver.find_element(By.ID, "token").send_keys(token)
        self.driver.find_element(By.ID, "login").click()
        self.wait("the dashboard after login", lambda: self.css("#live"), 15)

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.driver.save_screenshot(path)
        log("screenshot %s" % path)


__all__ = ["Dash", "SseReader", "Browser", "VIEWER_TOKEN", "ADMIN_TOKEN", "check", "log",
           "wait_until"]
