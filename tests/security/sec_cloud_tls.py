# SPDX-License-Identifier: Apache-2.0
"""Mutual TLS between the gateway and the cloud broker.

A Mosquitto cloud broker with `require_certificate true` on three TLS listeners (a good
broker certificate, one for another host name, one that speaks only TLS 1.1) and a plain
listener for the HQ consumer; certificates are made here with the openssl CLI.

- the store's good certificate connects (status online) and sales reach the cloud;
- no client certificate, a certificate from another CA, an expired certificate, a broker
  certificate for another host name and a TLS 1.1-only broker are each refused (the status
  stays wan_down, HQ gets nothing) and each is reported in one clear log line;
- files that can never work (missing, not a certificate, key of another certificate) are
  config errors from --check-config; an expired certificate is a warning there.
"""

import os
import socket
import ssl
import sys
import threading
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import p4harness as h  # noqa: E402
from sec_certs import Pki  # noqa: E402

TENANT, STORE = "acme", "s001"


def tls_listener(port, ca, server, extra=""):
    return ("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
            "require_certificate true\n%s\n" % (port, ca["crt"], server["crt"], server["key"],
                                                extra))


def wait_log(gw, text, timeout_s=20):
    """Waits until the gateway's log holds TEXT; returns the line."""
    def found():
        for line in gw.log_text().splitlines():
            if text in line:
                return line
        return None
    return h.wait_until(found, timeout_s, "gateway log line containing %r" % text,
                        detail=lambda: gw.log_text().splitlines()[-3:])


def refused_case(name, store, cloud_uri, tls, expect, hq):
    """Starts a gateway with TLS settings TLS against CLOUD_URI, waits for the log line that
    contains EXPECT, checks it never went online and HQ got nothing from it, stops it."""
    gw = h.Gateway(store.uri, cloud_uri, TENANT, store=STORE, name=name,
                   extra={"cloud": tls})
    # A new store's gateway with its stock count: it numbers sales from 1 with no word from
    # HQ (an empty replica would wait for HQ to say where gw_seq goes on: contract 6.7).
    gw.import_stock([("sku-1", 10, 100, 1)])
    watcher = h.StatusWatcher.for_store(store, STORE)
    mark = watcher.mark()
    gw.start(states=("wan_down",), watcher=watcher)
    reg = h.Register(store, STORE, "r-" + name[-6:])
    sid = reg.sell(1)[0]
    reg.wait_acked([sid], timeout_s=20)   # the store keeps selling with the WAN refused
    line = wait_log(gw, expect)
    h.log("%s: %s" % (name, line.split("msg=", 1)[-1][:200]))
    h.check("level=error" in line, "%s: the finding is not logged as an error: %s"
            % (name, line))
    online = [b for b in watcher.live_since(mark) if isinstance(b, dict) and
              b.get("state") == "online"]
    h.check(not online, "%s: the gateway went online through a refused TLS link" % name)
    h.check(sid not in hq.ids(), "%s: a sale reached the cloud through a refused link" % name)
    reg.close()
    watcher.close()
    gw.stop()
    return line


class Tls11Broker:
    """An old cloud broker: TLS 1.0/1.1 only (Mosquitto's tls_version is a minimum, so it
    cannot play this), terminating TLS and relaying to the real broker's plain listener. If the
    gateway ever completed a handshake here it would go online and the test would see it."""

    def __init__(self, target_port, ca, server):
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 on purpose
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1
        self.ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        self.ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        self.ctx.load_cert_chain(server["crt"], server["key"])
        self.ctx.load_verify_locations(ca["crt"])
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.target_port = target_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handshakes = []   # negotiated versions
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                raw, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        raw.settimeout(5)
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        self.handshakes.append(tls.version())
        up = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        tls.settimeout(None)
        up.settimeout(None)

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass
        threading.Thread(target=pump, args=(tls, up), daemon=True).start()
        pump(up, tls)

    def close(self):
        self.closed = True
        self.sock.close()


def tls11_broker_works(port, ca, client):
    """Positive control: the old broker completes a handshake with a client that offers up to
    TLS 1.3 and accepts 1.1, and it negotiates TLS 1.1."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_verify_locations(ca["crt"])
    ctx.load_cert_chain(client["crt"], client["key"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.version()


def check_config(gw_dir, cloud_uri, store, tls, name):
    gw = h.Gateway(store.uri, cloud_uri, TENANT, store=STORE, name=name,
                   extra={"cloud": tls})
    return gw.run("--check-config")


def main():
    pki = Pki(h.subdir("pki"))
    ca = pki.ca("cloud-ca", "P4 Test Cloud CA")
    other = pki.ca("other-ca", "Someone Else's CA")
    server = pki.leaf(ca, "broker", "cloud broker", san="IP:127.0.0.1,DNS:localhost",
                      server=True)
    server_wrong = pki.leaf(ca, "broker-wrong", "cloud broker",
                            san="DNS:cloud.invalid", server=True)
    good = pki.leaf(ca, "store", "acme-s001")
    foreign = pki.leaf(other, "store-foreign", "acme-s001")
    expired = pki.leaf(ca, "store-expired", "acme-s001", start="20200101000000Z",
                       end="20200201000000Z")

    p_good, p_wrong = h.free_port(), h.free_port()
    extra = tls_listener(p_good, ca, server) + tls_listener(p_wrong, ca, server_wrong)
    cloud = h.Mosquitto("cloud", extra_conf=extra)
    for p in (p_good, p_wrong):
        h.wait_until(lambda: h.port_accepts(p), 10, "cloud TLS listener %d" % p)
    store = h.Mosquitto("store")
    hq = h.CloudConsumer(cloud, TENANT, STORE)
    uri_good = "ssl://127.0.0.1:%d" % p_good
    mutual = {"ca_file": ca["crt"], "cert_file": good["crt"], "key_file": good["key"]}

    # Config-time errors: one line naming the key and the file.
    res = check_config(None, uri_good, store,
                       dict(mutual, cert_file=pki.path("nonexistent.pem")), "cfg-missing")
    h.check(res.returncode == 2 and "[cloud] cert_file: cannot read" in res.stderr and
            "No such file" in res.stderr, "missing cert_file: %r" % res.stderr)
    res = check_config(None, uri_good, store, dict(mutual, key_file=foreign["key"]),
                       "cfg-wrongkey")
    h.check(res.returncode == 2 and "is not the private key of cert_file" in res.stderr,
            "key of another certificate: %r" % res.stderr)
    res = check_config(None, uri_good, store, dict(mutual, ca_file=good["key"]), "cfg-notcert")
    h.check(res.returncode == 2 and "[cloud] ca_file:" in res.stderr and
            "no PEM certificate" in res.stderr, "a key as ca_file: %r" % res.stderr)
    res = check_config(None, uri_good, store,
                       dict(mutual, cert_file=expired["crt"], key_file=expired["key"]),
                       "cfg-expired")
    h.check(res.returncode == 0 and "warning: cloud TLS: cert_file" in res.stderr and
            "expired on 2020-02-01" in res.stderr, "expired cert at check: %r" % res.stderr)
    res = check_config(None, "tcp://127.0.0.1:%d" % cloud.port, store, mutual, "cfg-plain")
    h.check(res.returncode == 2 and "not ssl://" in res.stderr,
            "certificates with a tcp:// uri: %r" % res.stderr)
    h.log("config errors: missing file, wrong key, not a certificate, plain uri; expiry warned")

    # The good certificate: online, and sales reach HQ.
    t0 = time.monotonic()
    gw = h.Gateway(store.uri, uri_good, TENANT, STORE, name="gw-good", extra={"cloud": mutual})
    gw.start(states=("online",))
    reg = h.Register(store, STORE, "r1")
    ids = reg.sell(20)
    reg.wait_acked(ids)
    h.wait_until(lambda: set(ids) <= hq.ids(), 20, "20 sales at HQ over mutual TLS",
                 detail=lambda: "%d of 20" % len(set(ids) & hq.ids()))
    hq.check_consistent()
    h.check("tls=mutual" in gw.log_text(), "the gateway does not log that TLS is mutual")
    h.log("good certificate: online, 20 sales at HQ in %.2fs" % (time.monotonic() - t0))
    reg.close()
    gw.stop()

    # Each failure a technician meets, refused and named.
    refused_case("gw-nocert", store, uri_good, {"ca_file": ca["crt"]},
                 "requires a client certificate", hq)
    refused_case("gw-foreign", store, uri_good,
                 dict(mutual, cert_file=foreign["crt"], key_file=foreign["key"]),
                 "refused this store's client certificate", hq)
    refused_case("gw-expired", store, uri_good,
                        dict(mutual, cert_file=expired["crt"], key_file=expired["key"]),
                        "client certificate: it has expired", hq)
    gw_log = open(os.path.join(h.tmp_root(), "gw-expired", "p4gw.log")).read()
    h.check("cert_file %s expired on 2020-02-01" % expired["crt"] in gw_log,
            "no start-up error naming the expired certificate")
    refused_case("gw-host", store, "ssl://127.0.0.1:%d" % p_wrong, mutual,
                 "hostname mismatch", hq)
    refused_case("gw-unknownca", store, uri_good, dict(mutual, ca_file=other["crt"]),
                 "not signed by a CA in ca_file", hq)

    old = Tls11Broker(cloud.port, ca, server)
    try:
        version = tls11_broker_works(old.port, ca, good)
        h.check(version == "TLSv1.1", "the old broker negotiated %s" % version)
        # Even with a permissive OpenSSL configuration for the process, p4gw keeps TLS 1.2 as
        # the minimum (its cipher list has only TLS 1.2+ suites).
        permissive = os.path.join(h.tmp_root(), "openssl-permissive.cnf")
        with open(permissive, "w") as f:
            f.write("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\n"
                    "system_default = sys\n[sys]\nMinProtocol = TLSv1\n"
                    "CipherString = DEFAULT:@SECLEVEL=0\n")
        os.environ["OPENSSL_CONF"] = permissive
        try:
            refused_case("gw-tls11", store, "ssl://127.0.0.1:%d" % old.port, mutual,
                         "p4gw requires TLS 1.2 or newer", hq)
        finally:
            del os.environ["OPENSSL_CONF"]
        h.check(old.handshakes == ["TLSv1.1"], "handshakes completed with the old broker: %r"
                % (old.handshakes,))
    finally:
        old.close()
    h.log("refused and reported: no cert, foreign CA, expired, hostname, unknown CA, TLS 1.1")
    h.check(not hq.errors, "HQ saw bad messages: %r" % (hq.errors[:3],))


if __name__ == "__main__":
    h.run_test(main)
