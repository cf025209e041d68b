# SPDX-License-Identifier: Apache-2.0
"""Self-test of the relay's WAN emulation (p4harness.Wan): through each preset, the round trip
of a small message and the throughput of a bulk transfer in each direction are what the
preset says, within tolerances; with loss, some chunks come an RTT late and nothing is lost."""

import socket
import statistics
import threading
import time

import p4harness as h
from p4harness import check, log


class Server:
    """A TCP server: 'e' + line -> echoes the line; 's' N -> reads N bytes then answers 'k';
    'g' N -> sends N bytes."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _serve(c):
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                cmd, arg = line[:1], line[1:].strip()
                if cmd == b"e":
                    c.sendall(arg + b"\n")
                elif cmd == b"s":
                    n = int(arg)
                    while n > 0:
                        n -= len(f.read(min(n, 65536)))
                    c.sendall(b"k\n")
                elif cmd == b"g":
                    c.sendall(b"x" * int(arg))
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.lsock.close()


def measure(port, wan, nbytes):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    rtts = []
    for i in range(7):
        t0 = time.monotonic()
        s.sendall(b"e%d\n" % i)
        check(f.readline() == b"%d\n" % i, "echo")
        rtts.append((time.monotonic() - t0) * 1000)
    t0 = time.monotonic()
    s.sendall(b"s%d\n" % nbytes)
    s.sendall(b"y" * nbytes)
    check(f.readline() == b"k\n", "sink answer")
    up_s = time.monotonic() - t0
    t0 = time.monotonic()
    s.sendall(b"g%d\n" % nbytes)
    got = 0
    while got < nbytes:
        got += len(f.read1(65536))
    down_s = time.monotonic() - t0
    s.close()
    # the transfer's time includes one RTT for the request and the answer
    rtt = statistics.median(rtts)
    up_bps = nbytes * 8 / max(up_s - rtt / 1000, 1e-3)
    down_bps = nbytes * 8 / max(down_s - rtt / 1000, 1e-3)
    log("%r: rtt median %.0f ms (min %.0f max %.0f), up %.0f bit/s, down %.0f bit/s"
        % (wan, rtt, min(rtts), max(rtts), up_bps, down_bps))
    return rtt, up_bps, down_bps


def main():
    srv = Server()
    try:
        # 1 Mbit/s, 80 ms RTT, 2 ms jitter: RTT 80..90 ms, rate within 10 %
        relay = h.Relay(srv.port, wan="1mbit_80ms")
        rtt, up, down = measure(relay.port, relay.wan, 200_000)
        check(78 <= rtt <= 95, "RTT %.0f ms, want 80 (+jitter)" % rtt)
        for bps, d in ((up, "up"), (down, "down")):
            check(0.9e6 <= bps <= 1.1e6, "%s %.0f bit/s, want 1 Mbit/s +-10 %%" % (d, bps))
        relay.stop()
        # 256 kbit/s, 600 ms RTT, 1 % loss (an RTT more on 1 % of segments), 20 ms jitter
        relay = h.Relay(srv.port, wan=h.Wan.preset("256kbit_600ms_1pct", seed=4))
        rtt, up, down = measure(relay.port, relay.wan, 96_000)
        check(598 <= rtt <= 640 or relay.wan_lost > 0, "RTT %.0f ms, want 600 (+jitter)" % rtt)
        for bps, d in ((up, "up"), (down, "down")):
            # a late segment holds up the ones behind it: at most a few RTTs in a 3 s transfer
            check(0.6 * 256e3 <= bps <= 1.1 * 256e3,
                  "%s %.0f bit/s, want 256 kbit/s (-40 %% +10 %%)" % (d, bps))
        log("segments delayed as lost: %d" % relay.wan_lost)
        relay.stop()
        # no WAN: a relay forwards at loopback speed as before
        relay = h.Relay(srv.port)
        rtt, up, down = measure(relay.port, "none", 2_000_000)
        check(rtt < 20 and up > 50e6, "plain relay slowed down: rtt %.1f ms up %.0f" % (rtt, up))
        relay.stop()
    finally:
        srv.stop()
    log("wan selftest: ok")


if __name__ == "__main__":
    h.run_test(main)
