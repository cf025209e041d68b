# SPDX-License-Identifier: Apache-2.0
"""Compressed payloads (contract 1.3) over an emulated WAN: three stores reach the cloud broker
through relays shaped as 1 Mbit/s with an 80 ms RTT (p4harness.Wan "1mbit_80ms"); s001 and
s003 run `[cloud] compress = zstd`, s002 `compress = none`. They sell live, then through a WAN
outage (a backlog of multi-sale batches), and HQ must hold every sale exactly once
(hqchain.Chain.verify). On the cloud broker, s001's and s003's batches are zstd frames once
HQ's down/caps arrived and s002's are all JSON. Then corrupt, oversized and unknown-dictionary
frames published straight to up/sale are dead-lettered with their reason while HQ keeps
running, and a compressed down/price reaches a gateway's replica while a corrupt one is kept
in its rejects. HQ's own downlink to a store (`p4hq price set --store`) goes as a zstd frame to
the stores whose sales came compressed and as JSON to the other, and each replica applies it. Prints the bytes per sale the relays carried up."""

import os
import subprocess
import threading

import p4harness as h
from p4harness import check, log, wait_until
import hqchain

TENANT = hqchain.TENANT
DICT = os.path.join(os.environ.get("P4_SOURCE_DIR", os.path.join(hqchain.HERE, "..", "..")),
                    "topics", "dict", "p4-32769.zdict")
MAGIC = b"\x28\xb5\x2f\xfd"
RATE = 6        # sales/s per store
LIVE_S = 6
OUTAGE_S = 6


class Via:
    """What hqchain.Store needs of a cloud broker: its URI, here the relay's."""

    def __init__(self, relay):
        self.uri = relay.uri


class Wire(h.MqttClient):
    """Records whether each payload on TOPIC (default every up/sale) is a zstd frame, per
    store, as the broker sees them."""

    def __init__(self, cloud, topic="p4/v1/%s/+/up/sale" % TENANT):
        super().__init__(cloud.port, "wire-%s" % h.uuid7()[-10:])
        self.seen = {}
        self.connect()
        self.subscribe(topic)

    def on_message(self, msg):
        store = msg.topic.split("/")[3]
        with self._lock:
            self.seen.setdefault(store, []).append(msg.payload[:4] == MAGIC)

    def kinds(self, store):
        with self._lock:
            got = list(self.seen.get(store, []))
        return sum(got), len(got) - sum(got)


def zstd(data, tmp):
    """One zstd frame of DATA with the contract's dictionary (content size and checksum in
    the frame: the CLI writes both for a file)."""
    path = os.path.join(h.subdir("zstd"), tmp)
    with open(path, "wb") as f:
        f.write(data)
    return subprocess.run(["zstd", "-q", "-c", "-19", "-D", DICT, path], check=True,
                          capture_output=True).stdout


def main():
    chain = hqchain.Chain()
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    hq.import_products()
    wire = Wire(chain.cloud)
    relays, stores = {}, []
    for sid, mode in (("s001", "zstd"), ("s002", "none"), ("s003", "zstd")):
        relays[sid] = h.Relay(chain.cloud.port, wan="1mbit_80ms")
        s = hqchain.Store(Via(relays[sid]), sid, extra={"cloud": {"compress": mode}})
        chain.stores.append(s)
        stores.append(s)
    for s in stores:
        s.start()
    log("WAN: %r" % relays["s001"].wan)

    # 1. live sales, one per batch mostly
    load = hqchain.Load(stores, RATE, LIVE_S).start()
    load.wait(LIVE_S + 60)
    chain.wait_caught_up(60)

    # 2. a WAN outage: the stores queue, then send their backlog in multi-sale batches
    for r in relays.values():
        r.cut("close")
    load = hqchain.Load(stores, RATE * 3, OUTAGE_S, name="outage").start()
    load.wait(OUTAGE_S + 60)
    for r in relays.values():
        r.restore()
    chain.wait_caught_up(60)
    summary = chain.verify()
    total = {s.id: s.last_gw_seq() for s in stores}
    for s in stores:
        z, j = wire.kinds(s.id)
        up = relays[s.id].bytes["up"]
        log("%s (%s): %d sales, up/sale messages zstd %d json %d; WAN up %d bytes = %.0f "
            "bytes/sale (everything the gateway sent, MQTT and status included)"
            % (s.id, "zstd" if s.id != "s002" else "none", total[s.id], z, j, up,
               up / max(1, total[s.id])))
        if s.id == "s002":
            check(z == 0 and j > 0, "s002 (compress = none) sent %d zstd batches" % z)
        else:
            # batches sent before HQ's down/caps reached the gateway may be JSON
            check(z > 0 and z >= j, "%s (compress = zstd) sent %d zstd, %d JSON" % (s.id, z, j))
    check(relays["s001"].bytes["up"] * 2 < relays["s002"].bytes["up"] * 1.6,
          "s001 (zstd) sent %d bytes up, s002 (json) %d" % (relays["s001"].bytes["up"],
                                                            relays["s002"].bytes["up"]))

    # 2b. HQ's downlink to a store: a zstd frame for the stores whose sales came compressed,
    # JSON for the plain one; each applied in the replica
    dicts = dict(chain.pg.sql("SELECT store, zstd_dict FROM stores WHERE tenant = %s", TENANT))
    check(dicts.get("s001") == 32769 and dicts.get("s003") == 32769 and dicts.get("s002") is None,
          "stores.zstd_dict %r" % dicts)
    down = Wire(chain.cloud, "p4/v1/%s/+/down/price" % TENANT)
    sku = hqchain.load_stock()[-1][0]
    hq.cli_ok("price", "set", sku, "4000")   # version 1, as the stores' own: applies nowhere
    for s, price in ((stores[0], 4321), (stores[1], 4322)):
        out = hq.cli_ok("price", "set", sku, str(price), "--store", s.id)
        wait_until(lambda: s.gw.query("SELECT price FROM prices WHERE sku = ?", sku)
                   == [(price,)], 20, "HQ's price %d for %s in %s's replica" % (price, sku, s.id))
        log("p4hq price set --store %s: %s" % (s.id, out.strip()))
    check(down.kinds("s001") == (1, 0) and down.kinds("s002") == (0, 1),
          "down/price on the wire (zstd, json): s001 %r, s002 %r"
          % (down.kinds("s001"), down.kinds("s002")))

    # 3. bad frames straight to the cloud broker: dead-lettered with a reason, HQ carries on
    def dead_letters():
        return chain.pg.sql("SELECT id, topic, reason, length(payload) FROM dead_letters "
                            "WHERE tenant = %s ORDER BY id", TENANT)

    topic = "p4/v1/%s/s001/up/sale" % TENANT
    good = zstd(b'{"store":"s001","items":[]}', "small.json")
    corrupt = bytearray(good)
    corrupt[-6] ^= 0x55
    unknown = bytearray(good)
    unknown[5 if good[4] & 0x20 else 6] ^= 0x01   # the dictionary id's low byte
    big = zstd(b'{"store":"s001","items":[' + b" " * (5 << 20) + b"]}", "big.json")
    cases = [("corrupt", bytes(corrupt), "zstd frame corrupt"),
             ("unknown dictionary", bytes(unknown), "is not known"),
             ("oversized", big, "over the limit of 4194304"),
             ("truncated", good[:-3], "zstd frame truncated or corrupt")]
    for what, payload, want in cases:
        n = len(dead_letters())
        hqchain.publish_raw(chain.cloud, topic, payload)
        got = wait_until(lambda: dead_letters()[n:], 20, "a dead letter for %s" % what)
        check(len(got) == 1 and want in got[0][2],
              "%s: dead letters %r, want a reason with %r" % (what, got, want))
        log("%s frame (%d bytes) -> dead letter: %s" % (what, len(payload), got[0][2]))
    hq.check_alive()
    # HQ still ingests: a few more sales after the bad frames
    load = hqchain.Load(stores[:1], RATE, 2, name="after").start()
    load.wait(60)
    chain.wait_caught_up(60)

    # 4. compressed downlink: applied; a corrupt frame is kept in the gateway's rejects
    gw = stores[0].gw
    price = b'{"items":[{"sku":"coffee-250g","price":1111,"ver":900001}]}'
    hqchain.publish_raw(chain.cloud, "p4/v1/%s/s001/down/price" % TENANT, zstd(price, "p.json"))
    wait_until(lambda: gw.query("SELECT price, ver FROM prices WHERE sku = 'coffee-250g'")
               == [(1111, 900001)], 20, "the compressed down/price in s001's replica")
    bad = bytearray(zstd(price.replace(b"1111", b"2222"), "q.json"))
    bad[-6] ^= 0x55
    hqchain.publish_raw(chain.cloud, "p4/v1/%s/s001/down/price" % TENANT, bytes(bad))
    rej = wait_until(lambda: gw.query("SELECT reason, length(payload) FROM rejects "
                                      "WHERE topic LIKE '%down/price'"), 20,
                     "the corrupt down/price in s001's rejects")
    check("zstd frame corrupt" in rej[-1][0], "gateway reject reason %r" % (rej,))
    log("corrupt compressed down/price -> gateway reject: %s" % rej[-1][0])
    check(gw.query("SELECT price FROM prices WHERE sku = 'coffee-250g'") == [(1111,)],
          "the corrupt down/price changed the price")

    chain.verify()
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly on SIGTERM")
    hq.check_log_clean()
    log("hq_wan: %d sales at HQ over the WAN, 4 bad frames dead-lettered" % summary["sales"])


if __name__ == "__main__":
    h.run_test(main)
