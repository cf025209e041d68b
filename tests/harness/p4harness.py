# SPDX-License-Identifier: Apache-2.0
"""Integration-test harness: real mosquitto brokers, a cuttable TCP relay, the p4gw gateway,
simulated registers and a cloud consumer, with cleanup that survives failures and signals.

Run with Debian's /usr/bin/python3 (it carries python3-paho-mqtt 1.6.1). CTest sets
P4_BUILD_DIR, P4_SOURCE_DIR and P4_MOSQUITTO (see tests/CMakeLists.txt, p4_py_test).

Rules the helpers follow so tests stay trustworthy on a loaded 2-core machine:
- nothing waits with a bare sleep: wait_until() polls a condition against a deadline and
  fails with a message that says what was awaited (times scale with P4_TIMEOUT_SCALE);
- every process is registered at start and stopped by the cleanup that run_test(), atexit
  and the signal handlers all reach; children also get a parent-death signal so a SIGKILLed
  test (a CTest timeout) does not leave brokers behind;
- each test works in one temporary directory, removed on success and kept (path printed,
  logs dumped) on failure.
"""

import atexit
import datetime
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import paho.mqtt.client as mqtt

BUILD_DIR = os.environ.get("P4_BUILD_DIR", "")
SOURCE_DIR = os.environ.get("P4_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__)))))
MOSQUITTO = os.environ.get("P4_MOSQUITTO", "/usr/sbin/mosquitto")
TIMEOUT_SCALE = float(os.environ.get("P4_TIMEOUT_SCALE", "1"))

# CTest's convention for "skipped" (SKIP_RETURN_CODE in tests/integration/CMakeLists.txt).
EXIT_SKIP = 77


class SkipTest(Exception):
    """Raised when the host cannot run a scenario (e.g. it may not mount a file system).

    KIND names the reason for run_test's may_skip. A skip the test did not declare there fails
    the test: a test that passes by skipping is a test that cannot fail. scripts/test.sh fails
    the run on any skip at all, declared or not.
    """

    def __init__(self, reason, kind=None):
        super().__init__(reason)
        self.kind = kind


class NotBuilt(Exception):
    """A binary or tool the suite itself provides (scripts/deps.sh, the build) is missing.

    Never a skip: the test fails, because in CI it means the build or the install is broken.
    """


def require_built(*parts):
    """The path of BUILD_DIR/PARTS..., an executable or a built library; raises NotBuilt when
    P4_BUILD_DIR is unset or the file is missing."""
    if not BUILD_DIR:
        raise NotBuilt("P4_BUILD_DIR is not set (run the test through ctest)")
    path = os.path.join(BUILD_DIR, *parts)
    if not os.path.exists(path):
        raise NotBuilt("%s is not built" % path)
    return path


def require_tool(name):
    """The path of NAME on PATH (a tool scripts/deps.sh installs); raises NotBuilt."""
    path = shutil.which(name)
    if not path:
        raise NotBuilt("%s is not installed (scripts/deps.sh installs it)" % name)
    return path


def log(msg):
    """One timestamped line on stdout (CTest keeps it with the test output)."""
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# ports and waiting

def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def scaled(timeout_s):
    return timeout_s * TIMEOUT_SCALE


def wait_until(cond, timeout_s, what, interval_s=0.02, detail=None):
    """Polls COND() until it returns a truthy value, which is returned.

    Fails with TimeoutError naming WHAT (and DETAIL(), when given, to show the state that was
    seen) once TIMEOUT_S (times P4_TIMEOUT_SCALE) has passed. Exceptions from COND propagate.
    """
    deadline = time.monotonic() + scaled(timeout_s)
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            msg = "timed out after %.1fs waiting for %s" % (scaled(timeout_s), what)
            if detail is not None:
                try:
                    msg += " (last seen: %s)" % (detail(),)
                except Exception as e:  # the detail is diagnosis only
                    msg += " (detail failed: %r)" % (e,)
            raise TimeoutError(msg)
        time.sleep(interval_s)


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# process registry and cleanup

_lock = threading.RLock()
_procs = []        # objects with ._cleanup() (Mosquitto, Gateway, Relay, MQTT clients)
_logs = []         # (label, path) dumped when a test fails
_tmp_root = None   # this test's temporary directory
_failed = False
_post_checks = []  # callables run after a passing test body; they raise to fail the test


def _register(obj):
    with _lock:
        _procs.append(obj)


def _unregister(obj):
    with _lock:
        if obj in _procs:
            _procs.remove(obj)


def register_log(label, path):
    with _lock:
        _logs.append((label, path))


def cleanup_all():
    """Stops everything still registered, newest first. Safe to call more than once."""
    with _lock:
        items = list(reversed(_procs))
        _procs.clear()
    for obj in items:
        try:
            obj._cleanup()
        except Exception as e:  # cleanup must reach every process
            sys.stderr.write("cleanup of %r failed: %r\n" % (obj, e))


def _finish_tmp():
    global _tmp_root
    if _tmp_root is None:
        return
    if _failed:
        sys.stdout.write("test files kept in %s\n" % _tmp_root)
    else:
        shutil.rmtree(_tmp_root, ignore_errors=True)
    _tmp_root = None


def _atexit():
    cleanup_all()
    _finish_tmp()


def _on_signal(signum, _frame):
    # Turn the signal into an exception so finally blocks and run_test's cleanup run.
    global _failed
    _failed = True
    raise SystemExit(128 + signum)


atexit.register(_atexit)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def tmp_root():
    """This test's temporary directory (created on first use)."""
    global _tmp_root
    with _lock:
        if _tmp_root is None:
            name = os.path.splitext(os.path.basename(sys.argv[0] or "p4"))[0]
            _tmp_root = tempfile.mkdtemp(prefix="p4it-%s-" % name)
        return _tmp_root


def subdir(name):
    path = os.path.join(tmp_root(), name)
    os.makedirs(path, exist_ok=True)
    return path


def _child_argv(argv):
    # A parent-death signal makes the child die with us even if we are SIGKILLed (a CTest
    # timeout), when atexit and signal handlers cannot run. setpriv keeps the pid (it execs).
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--"] + list(argv)
    return list(argv)


def spawn(argv, log_path, env=None):
    """Starts ARGV with stdout+stderr appended to LOG_PATH. Returns the Popen."""
    logf = open(log_path, "ab")
    try:
        logf.write(("--- start %s: %s\n" % (time.strftime("%H:%M:%S"), " ".join(argv))).encode())
        logf.flush()
        return subprocess.Popen(_child_argv(argv), stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    finally:
        logf.close()


def stop_process(proc, timeout_s=10.0):
    """SIGTERM, then SIGKILL after TIMEOUT_S. Returns the exit code (negative = signal)."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            return proc.wait(timeout=scaled(timeout_s))
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def kill_process(proc):
    if proc.poll() is None:
        proc.kill()
    return proc.wait()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); look at its state.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def dump_logs(max_lines=80):
    with _lock:
        logs = list(_logs)
    for label, path in logs:
        sys.stdout.write("----- %s: %s (last %d lines)\n" % (label, path, max_lines))
        try:
            with open(path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            for line in lines[-max_lines:]:
                sys.stdout.write("  %s\n" % line)
        except OSError as e:
            sys.stdout.write("  (unreadable: %s)\n" % e)
    sys.stdout.flush()


def run_test(main, may_skip=()):
    """Runs MAIN() as a whole test: exit 0 on success, 1 on failure, 77 (skipped) only on a
    SkipTest whose kind is in MAY_SKIP. NotBuilt and an undeclared SkipTest are failures.

    On failure prints the traceback and the tail of every registered log, and keeps the
    temporary directory. Every registered process is stopped in all cases.
    """
    global _failed
    rc = 1
    try:
        main()
        for post_check in list(_post_checks):
            post_check()
        rc = 0
    except SkipTest as e:
        if e.kind is not None and e.kind in may_skip:
            log("SKIP (%s): %s" % (e.kind, e))
            rc = EXIT_SKIP
        else:
            _failed = True
            log("FAIL: skipped for a reason the test did not declare (kind %r, declared %r): %s"
                % (e.kind, tuple(may_skip), e))
            dump_logs()
            rc = 1
    except NotBuilt as e:
        _failed = True
        log("FAIL: %s; a missing binary fails the test, it does not skip it" % e)
        rc = 1
    except BaseException:
        _failed = True
        traceback.print_exc(file=sys.stdout)
        dump_logs()
        rc = 1
    finally:
        try:
            cleanup_all()
        finally:
            if rc != 0:
                _failed = True
            _finish_tmp()
    if rc == 0:
        log("PASS")
    sys.stdout.flush()
    os._exit(rc)  # paho loop threads must not keep the interpreter alive


def check(cond, msg):
    """assert that survives python -O, with a message."""
    if not cond:
        raise AssertionError(msg)


# ---------------------------------------------------------------------------------------------
# mosquitto

class Mosquitto:
    """A mosquitto broker on 127.0.0.1:<free port> with a generated config in its own dir."""

    def __init__(self, name, persistence=False, extra_conf="", port=None, start=True,
                 autosave_s=1):
        self.name = name
        self.dir = subdir("mosquitto-" + name)
        self.port = port or free_port()
        self.uri = "tcp://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.conf_path = os.path.join(self.dir, "mosquitto.conf")
        self.proc = None
        lines = [
            "# generated by p4harness for %s" % name,
            "listener %d 127.0.0.1" % self.port,
            "allow_anonymous true",
            # As a store broker is configured (conf/mosquitto-store.conf): no Nagle delay.
            "set_tcp_nodelay true",
            # As root mosquitto would switch to user "mosquitto", who cannot write our 0700
            # temp dir; the setting is ignored when not started as root.
            "user %s" % ("root" if os.geteuid() == 0 else "mosquitto"),
            "log_dest file %s" % self.log_path,
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
            # The defaults (1000 queued) would silently drop QoS 1 messages for a slow
            # subscriber under the bursts the tests make; a store broker is sized the same way.
            "max_queued_messages 1000000",
            "persistence %s" % ("true" if persistence else "false"),
        ]
        if persistence:
            lines += ["persistence_location %s/" % self.dir,
                      "persistence_file mosquitto.db",
                      # Saved every AUTOSAVE_S (and at a clean stop): a SIGKILL loses
                      # what changed since the last save.
                      "autosave_interval %d" % autosave_s]
        self.conf = "\n".join(lines) + "\n" + extra_conf + "\n"
        with open(self.conf_path, "w") as f:
            f.write(self.conf)
        register_log("mosquitto " + name, self.log_path)
        if start:
            self.start()

    def __repr__(self):
        return "Mosquitto(%s:%d)" % (self.name, self.port)

    def start(self, timeout_s=10):
        check(self.proc is None or self.proc.poll() is not None, "%r already running" % self)
        self.proc = spawn([MOSQUITTO, "-c", self.conf_path], self.log_path + ".out")
        _register(self)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("%r exited with %s; see %s" % (self, self.proc.returncode,
                                                                   self.log_path))
            return port_accepts(self.port)
        wait_until(up, timeout_s, "%r to accept connections" % self)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        rc = stop_process(self.proc) if self.proc else None
        _unregister(self)
        return rc

    def kill(self):
        rc = kill_process(self.proc) if self.proc else None
        _unregister(self)
        return rc

    def restart(self):
        """Stops (SIGTERM) and starts again on the same port (mosquitto uses SO_REUSEADDR)."""
        self.stop()
        return self.start()

    def pause(self):
        """SIGSTOP: connections stay open, nothing is read or answered until resume()."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        if self.running():
            os.kill(self.proc.pid, signal.SIGCONT)

    def _cleanup(self):
        if self.proc:
            self.resume()
            stop_process(self.proc, timeout_s=5)


# ---------------------------------------------------------------------------------------------
# TCP relay

class Wan:
    """A WAN profile for Relay: per-direction bandwidth, one-way latency, jitter and loss.

    up_bps / down_bps: token bucket per direction in bits/s (None: unlimited); "up" is client ->
    target (a gateway or HQ towards the cloud broker), "down" the reverse. The bucket holds
    burst_bytes (default one 1448-byte segment, so the rate is the link's serialisation rate).
    latency_ms: one-way delay added to every chunk (RTT = 2 x latency_ms); jitter_ms: a uniform
    0..jitter_ms more per chunk, never reordering (TCP delivers in order).
    loss: the fraction of chunks (segments of at most 1448 bytes) that are "lost". On TCP a lost
    segment is not missing data but a retransmission: the receiver gets it about one RTT
    later (fast retransmit after duplicate ACKs), and everything behind it waits for it
    (head-of-line blocking). So a lost chunk gets 2 x latency_ms added; no byte is dropped, and
    no congestion-window halving is modelled (the figures are a floor for a real lossy link).
    What a direction holds in flight is bounded (rate x RTT + 64 KiB): a sender faster than the
    link blocks, as on a real one, instead of filling the relay's memory."""

    SEGMENT = 1448

    def __init__(self, up_bps=None, down_bps=None, latency_ms=0.0, jitter_ms=0.0, loss=0.0,
                 burst_bytes=SEGMENT, name="custom", seed=None):
        check(loss >= 0 and loss < 1, "loss must be within [0, 1)")
        self.up_bps, self.down_bps = up_bps, down_bps
        self.latency_ms, self.jitter_ms, self.loss = latency_ms, jitter_ms, loss
        self.burst_bytes = burst_bytes
        self.name = name
        self.rng = random.Random(seed)

    PRESETS = {
        # a small store on DSL or a good 4G link
        "1mbit_80ms": dict(up_bps=1_000_000, down_bps=1_000_000, latency_ms=40.0,
                           jitter_ms=2.0),
        # a store on a poor cellular or satellite link
        "256kbit_600ms_1pct": dict(up_bps=256_000, down_bps=256_000, latency_ms=300.0,
                                   jitter_ms=20.0, loss=0.01),
    }

    @classmethod
    def preset(cls, name, seed=None):
        check(name in cls.PRESETS, "unknown WAN preset %r (have %s)" % (name, sorted(cls.PRESETS)))
        return cls(name=name, seed=seed, **cls.PRESETS[name])

    def rtt_ms(self):
        return 2 * self.latency_ms

    def __repr__(self):
        return "Wan(%s: up=%s down=%s bit/s, one-way %.0f ms +%.0f jitter, loss %.1f%%)" % (
            self.name, self.up_bps, self.down_bps, self.latency_ms, self.jitter_ms,
            self.loss * 100)


class _Shaper:
    """One direction of one relayed connection under a Wan: the reader queues chunks with the
    time each may reach the other side, a sender thread delivers them then, in order."""

    def __init__(self, relay, dst, up):
        self.relay, self.dst, self.up = relay, dst, up
        self.cv = threading.Condition()
        self.q = []             # (deliver_at, bytes), in order
        self.queued = 0         # bytes in q
        self.free_at = 0.0      # when the link has sent everything queued so far
        self.tokens = float(relay.wan.burst_bytes if relay.wan else Wan.SEGMENT)
        self.t_last = time.monotonic()
        self.last_at = 0.0      # deliver_at of the newest chunk (in-order delivery)
        self.closed = False
        self.thread = threading.Thread(target=self._send_loop, name="relay-wan", daemon=True)
        self.thread.start()

    def _limit(self, wan, bps):
        return (bps / 8.0 if bps else 1e9) * (2 * wan.latency_ms / 1000.0 + 0.05) + 65536

    def put(self, data):
        wan = self.relay.wan or Wan()
        bps = wan.up_bps if self.up else wan.down_bps
        for i in range(0, len(data), Wan.SEGMENT):
            chunk = data[i:i + Wan.SEGMENT]
            with self.cv:
                while self.queued > self._limit(wan, bps) and not self.closed:
                    self.cv.wait(0.5)
                if self.closed:
                    return
                now = time.monotonic()
                if bps:
                    # token bucket in virtual time: the chunk leaves when the bucket holds it
                    rate = bps / 8.0
                    t = max(now, self.free_at)
                    self.tokens = min(wan.burst_bytes, self.tokens + (t - self.t_last) * rate)
                    if self.tokens >= len(chunk):
                        sent = t
                        self.tokens -= len(chunk)
                    else:
                        sent = t + (len(chunk) - self.tokens) / rate
                        self.tokens = 0.0
                    self.t_last = sent
                    self.free_at = sent
                else:
                    sent = now
                at = sent + wan.latency_ms / 1000.0
                if wan.jitter_ms:
                    at += wan.rng.uniform(0, wan.jitter_ms) / 1000.0
                if wan.loss and wan.rng.random() < wan.loss:
                    at += wan.rtt_ms() / 1000.0  # retransmitted about one RTT later
                    self.relay.wan_lost += 1
                at = max(at, self.last_at)
                self.last_at = at
                self.q.append((at, chunk))
                self.queued += len(chunk)
                self.cv.notify_all()

    def close(self):
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def _send_loop(self):
        while True:
            with self.cv:
                while not self.q and not self.closed:
                    self.cv.wait()
                if not self.q:
                    return
                at, chunk = self.q[0]
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self.cv:
                self.q.pop(0)
                self.queued -= len(chunk)
                self.cv.notify_all()
            try:
                self.dst.sendall(chunk)
            except OSError:
                with self.cv:
                    self.closed = True
                    self.q.clear()
                return


class Relay:
    """A TCP relay 127.0.0.1:<port> -> 127.0.0.1:TARGET_PORT that can cut the link.

    cut(mode): until restore(), new connections are closed at once (mode "close") or accepted
    and never answered (modes "blackhole" and "freeze", like a dead WAN where packets vanish).
    Live connections are closed ("close", "blackhole") or kept open with everything sent on
    them silently dropped ("freeze": the peer only notices through its keepalive, and what
    it sent meanwhile, e.g. a PUBACK, is lost). restore() closes held and frozen connections
    (a stream with dropped bytes cannot be resumed) and forwards new ones again.

    wan: a Wan (or a preset name, see Wan.PRESETS) that shapes every connection's traffic from
    then on; None forwards at once. set_wan() changes it for chunks read after the call.
    """

    def __init__(self, target_port, port=None, wan=None):
        self.target_port = target_port
        self.wan = Wan.preset(wan) if isinstance(wan, str) else wan
        self.wan_lost = 0
        self.bytes = {"up": 0, "down": 0}  # relayed, client -> target and back
        self.port = port or free_port()
        self.uri = "tcp://127.0.0.1:%d" % self.port
        self._lock = threading.Lock()
        self._cut = None          # None, "close", "blackhole" or "freeze"
        self._conns = set()       # live sockets (both sides)
        self._held = set()        # blackholed new sockets and frozen live ones
        self._stopping = False
        self.accepted = 0
        self.refused = 0
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", self.port))
        self._lsock.listen(64)
        self._thread = threading.Thread(target=self._accept_loop, name="relay-accept",
                                        daemon=True)
        self._thread.start()
        _register(self)

    def __repr__(self):
        return "Relay(%d->%d)" % (self.port, self.target_port)

    @staticmethod
    def _close(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def _accept_loop(self):
        while True:
            try:
                client, _ = self._lsock.accept()
            except OSError:
                return  # listening socket closed by stop()
            with self._lock:
                if self._stopping:
                    self._close(client)
                    return
                mode = self._cut
                if mode == "close":
                    self.refused += 1
                    self._close(client)
                    continue
                if mode in ("blackhole", "freeze"):
                    self.refused += 1
                    self._held.add(client)
                    continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._close(client)
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._cut or self._stopping:
                    self._close(client)
                    self._close(upstream)
                    continue
                self._conns.update((client, upstream))
                self.accepted += 1
            for a, b, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(a, b, up), name="relay-pump",
                                 daemon=True).start()

    def set_wan(self, wan):
        self.wan = Wan.preset(wan) if isinstance(wan, str) else wan

    def _pump(self, src, dst, up):
        shaper = None
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    frozen = src in self._held
                if frozen:
                    continue  # the WAN ate it
                self.bytes["up" if up else "down"] += len(data)
                if self.wan is None and shaper is None:
                    dst.sendall(data)
                    continue
                if shaper is None:
                    shaper = _Shaper(self, dst, up)
                shaper.put(data)
        except OSError:
            pass
        finally:
            if shaper is not None:
                # what is in flight still arrives (a FIN follows the data), unless cut
                with shaper.cv:
                    shaper.closed = True
                    shaper.cv.notify_all()
                shaper.thread.join(timeout=10)
            with self._lock:
                for sock in (src, dst):
                    self._conns.discard(sock)
                    self._held.discard(sock)
            self._close(src)
            self._close(dst)

    def live_connections(self):
        with self._lock:
            return len(self._conns) // 2

    def cut(self, mode="close"):
        check(mode in ("close", "blackhole", "freeze"), "bad relay cut mode %r" % mode)
        with self._lock:
            self._cut = mode
            conns = list(self._conns)
            if mode == "freeze":
                self._held.update(conns)
                return
            self._conns.clear()
        for s in conns:
            self._close(s)

    def restore(self):
        with self._lock:
            self._cut = None
            held = list(self._held)
            self._held.clear()
        for s in held:
            self._close(s)

    def stop(self):
        with self._lock:
            self._stopping = True
            conns = list(self._conns) + list(self._held)
            self._conns.clear()
            self._held.clear()
        self._close(self._lsock)
        for s in conns:
            self._close(s)
        self._thread.join(timeout=5)
        _unregister(self)

    def _cleanup(self):
        self.stop()


# ---------------------------------------------------------------------------------------------
# MQTT clients

def _utc_ts(ms=None):
    """RFC 3339 UTC with milliseconds, e.g. 2026-11-27T12:00:00.123Z."""
    if ms is None:
        ms = int(time.time() * 1000)
    dt = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def uuid7(ms=None):
    """A UUIDv7 (RFC 9562) in lowercase canonical form."""
    if ms is None:
        ms = int(time.time() * 1000)
    rnd = int.from_bytes(os.urandom(10), "big")
    rand_a = rnd & 0xFFF
    rand_b = (rnd >> 12) & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    h = "%032x" % value
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


class MqttClient:
    """A paho 1.6.1 client (MQTT 3.1.1) on its own loop thread; connect() waits for CONNACK."""

    def __init__(self, port, client_id, clean_session=True, host="127.0.0.1"):
        self.port = port
        self.host = host
        self.client_id = client_id
        self.client = mqtt.Client(client_id=client_id, clean_session=clean_session,
                                  protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.connected = False
        self.connects = 0
        self.disconnects = 0
        self._subs = []          # (topic, qos), resubscribed on every connect
        self._suback_mids = set()
        self._lock = threading.Lock()
        self._started = False

    def __repr__(self):
        return "MqttClient(%s@%d)" % (self.client_id, self.port)

    def _on_connect(self, client, _userdata, _flags, rc):
        if rc != 0:
            return
        with self._lock:
            self.connected = True
            self.connects += 1
            subs = list(self._subs)
        for topic, qos in subs:
            _r, mid = client.subscribe(topic, qos)

    def _on_disconnect(self, _client, _userdata, _rc):
        with self._lock:
            self.connected = False
            self.disconnects += 1

    def _on_subscribe(self, _client, _userdata, mid, _granted):
        with self._lock:
            self._suback_mids.add(mid)

    def _on_message(self, _client, _userdata, msg):
        self.on_message(msg)

    def on_message(self, msg):  # overridden
        pass

    def connect(self, timeout_s=10):
        self.client.connect_async(self.host, self.port, keepalive=10)
        if not self._started:
            self.client.loop_start()
            self._started = True
            _register(self)
        wait_until(lambda: self.connected, timeout_s, "%r to connect" % self)
        return self

    def subscribe(self, topic, qos=1, timeout_s=10):
        """Subscribes (and again on every reconnect); waits for the SUBACK."""
        with self._lock:
            self._subs.append((topic, qos))
        _r, mid = self.client.subscribe(topic, qos)
        wait_until(lambda: mid in self._suback_mids, timeout_s,
                   "SUBACK for %s on %r" % (topic, self))

    def publish(self, topic, payload, qos=1, retain=False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        check(info.rc == mqtt.MQTT_ERR_SUCCESS or info.rc == mqtt.MQTT_ERR_NO_CONN,
              "publish to %s failed rc=%s" % (topic, info.rc))
        return info

    def close(self):
        try:
            self.client.disconnect()
        except Exception:
            pass
        if self._started:
            self.client.loop_stop()
            self._started = False
        _unregister(self)

    def _cleanup(self):
        self.close()


class StatusWatcher(MqttClient):
    """Follows the retained gateway status on the store broker (pos/v1/S/gateway/status)."""

    def __init__(self, port, topic):
        super().__init__(port, "watch-%s" % uuid7()[-12:])
        self.topic = topic
        self.history = []  # (monotonic, retained flag, dict or raw bytes)
        self.connect()
        self.subscribe(self.topic)

    @classmethod
    def for_store(cls, broker, store):
        return cls(broker.port, "pos/v1/%s/gateway/status" % store)

    def on_message(self, msg):
        try:
            body = json.loads(msg.payload.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            body = {"_raw": msg.payload}
        with self._lock:
            self.history.append((time.monotonic(), bool(msg.retain), body))

    def latest(self):
        with self._lock:
            return self.history[-1][2] if self.history else None

    def live_since(self, index):
        """Messages received live (not the retained copy at subscribe) after position INDEX."""
        with self._lock:
            return [b for (_t, r, b) in self.history[index:] if not r]

    def mark(self):
        with self._lock:
            return len(self.history)

    def wait_state(self, states, timeout_s, since=0, live=True, pred=None):
        """Waits for a status (live only, unless LIVE is False) after SINCE whose state is in
        STATES and which satisfies PRED; returns it."""
        if isinstance(states, str):
            states = (states,)

        def found():
            with self._lock:
                for (_t, r, b) in self.history[since:]:
                    if live and r:
                        continue
                    if isinstance(b, dict) and b.get("state") in states and \
                            (pred is None or pred(b)):
                        return b
            return None
        return wait_until(found, timeout_s, "gateway status in %s" % (states,),
                          detail=lambda: self.latest())


def fetch_retained(broker, topic, timeout_s=5):
    """Subscribes with a fresh client and returns the retained payload (dict) of TOPIC."""
    c = StatusWatcher(broker.port, topic)
    try:
        wait_until(lambda: c.history, timeout_s, "a retained message on %s" % topic)
        _t, retained, body = c.history[0]
        check(retained, "first message on %s was not the retained one" % topic)
        return body
    finally:
        c.close()


class Register(MqttClient):
    """A register per the v1 contract on store broker BROKER.

    Makes valid sales (UUIDv7 id, per-register seq, RFC 3339 ms ts, lines from SKUS with
    total and one tender computed in integer minor units), publishes them QoS 1 on
    pos/v1/S/reg/R/sale, keeps each pending until an ok/duplicate ack, records every ack
    (status, gw_seq, arrival time) and resends on demand with the same id.
    SKUS: list of (sku, price_minor, price_ver).
    """

    def __init__(self, broker, store, reg, skus=None, follow_changes=False):
        super().__init__(broker.port, "reg-%s-%s-%s" % (store, reg, uuid7()[-8:]))
        self.store = store
        self.reg = reg
        self.skus = list(skus or [("sku-1", 100, 1)])
        self.seq = 0
        self.topic_sale = "pos/v1/%s/reg/%s/sale" % (store, reg)
        self.topic_ack = "pos/v1/%s/reg/%s/ack" % (store, reg)
        self.sales = {}       # id -> sale dict (everything this register made)
        self.payloads = {}    # id -> bytes as published
        self.sent_at = {}     # id -> monotonic time of the first publish
        self.order = []       # ids in the order made
        self.acks = {}        # id -> [ack dict + "_t"]
        self.ack_log = []     # every ack in arrival order, including undecodable ones
        self.changes = []     # decoded pos/v1/S/changes messages when follow_changes
        self.rng = random.Random(hash((store, reg)) & 0xFFFFFFFF)
        self.connect()
        self.subscribe(self.topic_ack)
        if follow_changes:
            self.subscribe("pos/v1/%s/changes" % store)

    def on_message(self, msg):
        now = time.monotonic()
        if msg.topic == self.topic_ack:
            try:
                ack = json.loads(msg.payload.decode("utf-8"))
                if not isinstance(ack, dict):
                    raise ValueError("not an object")
            except (ValueError, UnicodeDecodeError):
                ack = {"_raw": msg.payload}
            ack["_t"] = now
            with self._lock:
                self.ack_log.append(ack)
                if isinstance(ack.get("id"), str):
                    self.acks.setdefault(ack["id"], []).append(ack)
        else:
            try:
                body = json.loads(msg.payload.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                body = {"_raw": msg.payload}
            with self._lock:
                self.changes.append(body)

    def make_sale(self, lines=None, kind="sale", n_lines=None, ref=None):
        """Builds (does not send) a valid sale dict. LINES: [(sku, qty, price, ver)]."""
        if lines is None:
            n = n_lines or self.rng.randint(1, 3)
            picked = self.rng.sample(self.skus, min(n, len(self.skus)))
            sign = -1 if kind == "return" else 1
            lines = [(sku, sign * self.rng.randint(1, 4), price, ver)
                     for (sku, price, ver) in picked]
        self.seq += 1
        total = sum(q * p for (_s, q, p, _v) in lines)
        sale = {
            "id": uuid7(),
            "seq": self.seq,
            "store": self.store,
            "reg": self.reg,
            "ts": _utc_ts(),
            "kind": kind,
            "lines": [{"sku": s, "qty": q, "price": p, "ver": v} for (s, q, p, v) in lines],
            "tenders": [{"type": "card", "amount": total}],
            "total": total,
        }
        if ref:
            sale["ref"] = ref
        return sale

    def send(self, sale):
        """Publishes SALE (QoS 1) and tracks it as pending. Returns its id."""
        payload = json.dumps(sale, separators=(",", ":")).encode()
        with self._lock:
            self.sales[sale["id"]] = sale
            self.payloads[sale["id"]] = payload
            self.sent_at.setdefault(sale["id"], time.monotonic())
            self.order.append(sale["id"])
        self.publish(self.topic_sale, payload)
        return sale["id"]

    def sell(self, n=1, **kw):
        return [self.send(self.make_sale(**kw)) for _ in range(n)]

    def resend(self, ids=None):
        """Publishes again, with the same id, IDS or every sale still pending."""
        ids = self.pending() if ids is None else ids
        for sid in ids:
            self.publish(self.topic_sale, self.payloads[sid])
        return list(ids)

    def publish_raw(self, payload, topic=None):
        """Publishes bytes/str as-is on TOPIC (default: this register's sale topic)."""
        if isinstance(payload, str):
            payload = payload.encode()
        return self.publish(topic or self.topic_sale, payload)

    def ack_count(self):
        with self._lock:
            return len(self.ack_log)

    def final_ack(self, sid):
        """The first ok/duplicate ack of SID, else its last ack, else None."""
        with self._lock:
            acks = list(self.acks.get(sid, ()))
        for a in acks:
            if a.get("status") in ("ok", "duplicate"):
                return a
        return acks[-1] if acks else None

    def is_acked(self, sid):
        with self._lock:
            return any(a.get("status") in ("ok", "duplicate") for a in self.acks.get(sid, ()))

    def pending(self):
        with self._lock:
            order = list(self.order)
        return [sid for sid in order if not self.is_acked(sid)]

    def acked(self):
        with self._lock:
            order = list(self.order)
        return [sid for sid in order if self.is_acked(sid)]

    def wait_acked(self, ids=None, timeout_s=30):
        ids = list(self.order if ids is None else ids)
        wait_until(lambda: all(self.is_acked(s) for s in ids), timeout_s,
                   "acks for %d sales of %s" % (len(ids), self.reg),
                   detail=lambda: "%d of %d acked" % (sum(self.is_acked(s) for s in ids),
                                                      len(ids)))


class CloudConsumer(MqttClient):
    """HQ side: subscribes p4/v1/T/S/up/# on the cloud broker and records what arrives.

    Every sale record of every batch is kept in arrival order as a dict with "_t" (monotonic
    arrival time) and "_batch" (batch number); status and alert messages likewise.
    """

    def __init__(self, broker, tenant, store, client_id=None, clean_session=True):
        # CLEAN_SESSION False (with a fixed CLIENT_ID) is how a real HQ subscribes: the broker
        # keeps queueing for it while it is away, also across a restart of a persistent broker.
        super().__init__(broker.port, client_id or "hq-%s-%s-%s" % (tenant, store,
                                                                     uuid7()[-8:]),
                         clean_session=clean_session)
        self.tenant = tenant
        self.store = store
        self.prefix = "p4/v1/%s/%s/up/" % (tenant, store)
        self.records = []
        self.batches = []     # (t, n_items, store field)
        self.statuses = []    # (t, retained, body)
        self.alerts = []
        self.resyncs = []     # (t, body) of up/resync requests (contract 1.1)
        self.errors = []      # (topic, reason, payload) for anything undecodable
        self.connect()
        self.subscribe(self.prefix + "#")

    def on_message(self, msg):
        now = time.monotonic()
        kind = msg.topic[len(self.prefix):] if msg.topic.startswith(self.prefix) else None
        try:
            body = json.loads(msg.payload.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            with self._lock:
                self.errors.append((msg.topic, "undecodable: %s" % e, msg.payload))
            return
        with self._lock:
            if kind == "sale":
                items = body.get("items") if isinstance(body, dict) else None
                if not isinstance(items, list):
                    self.errors.append((msg.topic, "batch without items", msg.payload))
                    return
                if body.get("store") != self.store:
                    self.errors.append((msg.topic, "batch store %r" % body.get("store"),
                                        msg.payload))
                n = len(self.batches)
                self.batches.append((now, len(items), body.get("store")))
                for rec in items:
                    if not isinstance(rec, dict) or not isinstance(rec.get("gw_seq"), int):
                        self.errors.append((msg.topic, "record without gw_seq", rec))
                        continue
                    rec = dict(rec)
                    rec["_t"] = now
                    rec["_batch"] = n
                    self.records.append(rec)
            elif kind == "status":
                self.statuses.append((now, bool(msg.retain), body))
            elif kind == "alert":
                self.alerts.append(body)
            elif kind == "resync":
                self.resyncs.append((now, body))
            else:
                self.errors.append((msg.topic, "unexpected topic", msg.payload))

    def snapshot(self):
        with self._lock:
            return list(self.records)

    def sales_by_gw_seq(self):
        """gw_seq -> the first record seen with it."""
        out = {}
        for r in self.snapshot():
            out.setdefault(r["gw_seq"], r)
        return out

    def ids(self):
        return {r.get("id") for r in self.snapshot()}

    def gw_seqs(self):
        return {r["gw_seq"] for r in self.snapshot()}

    def has_gw_seqs(self, want):
        have = self.gw_seqs()
        return all(s in have for s in want)

    def conflicts(self, resent_from=None):
        """Pairs that break "same gw_seq => same id" or "same id => same gw_seq". With
        RESENT_FROM, a replaced or restored gateway numbering from there may carry again, with
        the same content, a sale an earlier one numbered (contract 6.5: HQ holds it as resent)."""
        by_seq, by_id, content, bad = {}, {}, {}, []
        for r in self.snapshot():
            s, i = r["gw_seq"], r.get("id")
            sale = {k: v for k, v in r.items()
                    if k not in ("gw_seq", "flags") and not k.startswith("_")}
            if by_seq.setdefault(s, i) != i:
                bad.append("gw_seq %d carried ids %s and %s" % (s, by_seq[s], i))
            if by_id.setdefault(i, s) != s:
                resent = (resent_from is not None and max(s, by_id[i]) >= resent_from and
                          content.get(i) == sale)
                if not resent:
                    diff = sorted(k for k in set(sale) | set(content.get(i, {}))
                                  if sale.get(k) != content.get(i, {}).get(k))
                    bad.append("id %s carried gw_seq %d and %d (differing: %s)"
                               % (i, by_id[i], s, ", ".join(diff) or "none"))
            content.setdefault(i, sale)
        return bad

    def first_arrival_order(self):
        """Distinct gw_seqs in the order their first copy arrived."""
        seen, order = set(), []
        for r in self.snapshot():
            if r["gw_seq"] not in seen:
                seen.add(r["gw_seq"])
                order.append(r["gw_seq"])
        return order

    def duplicates(self):
        return len(self.snapshot()) - len(self.gw_seqs())

    def check_consistent(self, resent_from=None):
        check(not self.errors, "cloud consumer got bad messages: %r" % (self.errors[:3],))
        bad = self.conflicts(resent_from)
        check(not bad, "cloud records inconsistent: %s" % "; ".join(bad[:5]))
        # The gateway sends in gw_seq order, except that after a reconnect the sales made
        # since go out in a live lane beside the backlog (gateway/lanes.c): the first copies
        # arrive as at most two interleaved ascending runs, never more.
        order = self.first_arrival_order()
        runs = ascending_runs_needed(order)
        check(runs <= 2, "records not in gw_seq order: %d interleaved ascending runs needed "
              "(the backlog and the live lane make at most 2), e.g. %r"
              % (runs, [(a, b) for a, b in zip(order, order[1:]) if b < a][:5]))


def ascending_runs_needed(seq):
    """The fewest ascending subsequences SEQ splits into (the length of its longest strictly
    descending subsequence, by patience sorting)."""
    import bisect
    tails = []  # tails[k]: the largest last element of a descending subsequence of length k+1
    for x in seq:
        k = bisect.bisect_left(tails, -x)
        if k == len(tails):
            tails.append(-x)
        else:
            tails[k] = -x
    return len(tails)


def scrape_metrics(port, timeout_s=3):
    """GET http://127.0.0.1:PORT/metrics ([metrics] listen of p4gw): {"name{labels}": float}."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout_s) as r:
        text = r.read().decode("utf-8")
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class HQAcker(CloudConsumer):
    """A stand-in for HQ's end-to-end acknowledgement (contract 6.7, revision 1.2): records
    like CloudConsumer and, after each up/sale batch, publishes to p4/v1/T/S/down/ack
    (retained, QoS 1) its committed watermark: the highest N such that it has received every
    gw_seq 1..N of the store. It holds nothing durable: "committed" here means received by
    this process, which stays up for the test (the real HQ is p4hq).

    go_offline() disconnects (a persistent session keeps queueing for it when CLEAN_SESSION is
    False); come_back() reconnects with the same client id and watermark state."""

    def __init__(self, broker, tenant, store, client_id=None, clean_session=True,
                 through=0):
        # THROUGH: a watermark HQ committed before (a real HQ keeps it in its database).
        self.through = through
        self._held = set()         # gw_seqs above the watermark
        self.acks_sent = []        # (monotonic, through)
        self.ack_topic = "p4/v1/%s/%s/down/ack" % (tenant, store)
        super().__init__(broker, tenant, store, client_id=client_id,
                         clean_session=clean_session)

    def on_message(self, msg):
        super().on_message(msg)
        if not msg.topic.endswith("/up/sale"):
            return
        try:
            items = json.loads(msg.payload.decode("utf-8")).get("items") or []
        except (ValueError, UnicodeDecodeError, AttributeError):
            return
        with self._lock:
            before = self.through
            for rec in items:
                if isinstance(rec, dict) and isinstance(rec.get("gw_seq"), int) and \
                        rec["gw_seq"] > self.through:
                    self._held.add(rec["gw_seq"])
            while self.through + 1 in self._held:
                self.through += 1
                self._held.discard(self.through)
            through = self.through
            if through > before:
                self.acks_sent.append((time.monotonic(), through))
        if through > before:
            body = {"store": self.store, "through": through, "ts": _utc_ts()}
            self.publish(self.ack_topic, json.dumps(body, separators=(",", ":")), qos=1,
                         retain=True)

    def watermark(self):
        with self._lock:
            return self.through

    def go_offline(self):
        self.close()
        with self._lock:
            self.connected = False

    def come_back(self, timeout_s=10):
        return self.connect(timeout_s)


# ---------------------------------------------------------------------------------------------
# the gateway

def p4gw_path():
    return require_built("gateway", "p4gw")


def write_ini(path, sections):
    """Writes SECTIONS ({section: {key: value}}, insertion order kept) as an INI file."""
    with open(path, "w") as f:
        for section, keys in sections.items():
            f.write("[%s]\n" % section)
            for k, v in keys.items():
                f.write("%s = %s\n" % (k, v))
            f.write("\n")


class Gateway:
    """p4gw with a generated INI, its replica and log in DIR.

    EXTRA ({section: {key: value}}) overrides or adds config keys; a value of None removes
    the key. The log file collects stderr over every start (appended).
    """

    def __init__(self, store_uri, cloud_uri, tenant, store, dir=None, extra=None, name="gw"):
        self.bin = p4gw_path()
        self.tenant = tenant
        self.store = store
        self.dir = dir or subdir(name)
        os.makedirs(self.dir, exist_ok=True)
        self.ini = os.path.join(self.dir, "p4gw.ini")
        self.replica = os.path.join(self.dir, "replica.db")
        self.log_path = os.path.join(self.dir, "p4gw.log")
        self.store_uri = store_uri
        self.proc = None
        self.config = {
            "store": {"tenant": tenant, "id": store},
            "local": {"uri": store_uri},
            "cloud": {"uri": cloud_uri, "mqtt_version": "3.1.1", "keepalive_s": "5",
                      "reconnect_max_s": "1"},
            "replica": {"path": self.replica, "durability": "full"},
            "log": {"level": "info"},
        }
        for section, keys in (extra or {}).items():
            sec = self.config.setdefault(section, {})
            for k, v in keys.items():
                if v is None:
                    sec.pop(k, None)
                else:
                    sec[k] = v
        write_ini(self.ini, self.config)
        register_log("p4gw " + name, self.log_path)
        _post_checks.append(self.check_log_clean)
        self.status_topic = "pos/v1/%s/gateway/status" % store

    def __repr__(self):
        return "Gateway(%s/%s pid=%s)" % (self.tenant, self.store,
                                          self.proc.pid if self.proc else None)

    def run(self, *args, timeout_s=30):
        """Runs p4gw --config INI ARGS to completion; returns CompletedProcess (text)."""
        return subprocess.run(_child_argv([self.bin, "--config", self.ini] + list(args)),
                              capture_output=True, text=True, timeout=scaled(timeout_s))

    def import_stock(self, rows):
        """Imports ROWS [(sku, on_hand, price_minor, price_ver)] with --import-stock."""
        csv = os.path.join(self.dir, "stock-%d.csv" % int(time.time() * 1000))
        with open(csv, "w") as f:
            f.write("sku,on_hand,price_minor,price_ver\n")
            for r in rows:
                f.write(",".join(str(x) for x in r) + "\n")
        res = self.run("--import-stock", csv)
        with open(self.log_path, "a") as f:
            f.write("--- import-stock rc=%d\n%s%s" % (res.returncode, res.stdout, res.stderr))
        check(res.returncode == 0, "import-stock exited %d: %s" % (res.returncode,
                                                                   res.stderr.strip()))
        return res

    def start(self, states=("online",), timeout_s=20, watcher=None):
        """Starts p4gw and waits until it publishes (live, not the old retained copy) a status
        whose state is in STATES on the store broker. Returns the status dict."""
        check(self.proc is None or self.proc.poll() is not None, "%r already running" % self)
        port = int(self.store_uri.rsplit(":", 1)[1])
        own = watcher is None
        w = StatusWatcher(port, self.status_topic) if own else watcher
        since = w.mark()
        self.proc = spawn([self.bin, "--config", self.ini], self.log_path)
        _register(self)
        try:
            def up():
                if self.proc.poll() is not None:
                    raise RuntimeError("p4gw exited with %s during start; see %s"
                                       % (self.proc.returncode, self.log_path))
                return [b for b in w.live_since(since)
                        if isinstance(b, dict) and b.get("state") in states]
            got = wait_until(up, timeout_s, "p4gw to publish status %s" % (states,),
                             detail=lambda: w.latest())
            return got[0]
        finally:
            if own:
                w.close()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s=20):
        """SIGTERM and wait; returns the exit code (SIGKILL after TIMEOUT_S gives -9)."""
        rc = stop_process(self.proc, timeout_s) if self.proc else None
        _unregister(self)
        return rc

    def kill(self):
        rc = kill_process(self.proc) if self.proc else None
        _unregister(self)
        return rc

    def db(self):
        """A connection to the replica for reading (query_only; WAL lets it run beside p4gw)."""
        conn = sqlite3.connect(self.replica, timeout=10)
        conn.execute("PRAGMA query_only = 1")
        return conn

    def query(self, sql, *params):
        conn = self.db()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # What ASan, UBSan and LSan print (a sanitizer build, -DP4_SANITIZE=ON).
    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "SUMMARY: UndefinedBehaviorSanitizer")

    def check_log_clean(self):
        """Fails if the gateway's log holds a sanitizer report (run after every test)."""
        text = self.log_text()
        for mark in self.SANITIZER_MARKS:
            at = text.find(mark)
            check(at < 0, "sanitizer report in %s: %s" % (self.log_path, text[at:at + 300]))

    def _cleanup(self):
        if self.proc:
            stop_process(self.proc, timeout_s=5)


# ---------------------------------------------------------------------------------------------
# libp4term registers (`p4term simulate`) and their journals

def p4term_path():
    return require_built("terminal-shim", "p4term")


class Simulator:
    """`p4term simulate`: REGISTERS real libp4term registers (journal DIR/<PREFIX>NN.db each)
    in one process on store broker URI, making RATE sales/s for DURATION_S seconds, then
    waiting up to GRACE_S for every ack. Journals in DIR are reused by a later run, which
    resends what an earlier one left pending.

    ENV adds variables to the process environment (e.g. an LD_PRELOAD). start() returns at
    once; kill() is the crash of the register process; wait() gives the exit code (0 only when
    every sale it knew of was acked) and summary() the figures it printed.
    """

    def __init__(self, broker_uri, store, dir, registers=2, rate=50, duration_s=3600,
                 grace_s=20, prefix="r", ack_timeout_ms=1000, resend_max_ms=4000, env=None,
                 name="sim", keep_acked_ms=3600000):
        self.bin = p4term_path()
        self.name = name
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.registers = registers
        self.prefix = prefix
        self.argv = [self.bin, "simulate", "--broker", broker_uri, "--store", store,
                     "--registers", str(registers), "--rate", str(rate),
                     "--duration", str(int(duration_s)), "--grace", str(int(grace_s)),
                     "--dir", dir, "--prefix", prefix,
                     "--ack-timeout-ms", str(ack_timeout_ms),
                     "--resend-max-ms", str(resend_max_ms),
                     # Tests read the journals as the registers' truth: keep acked sales an
                     # hour after HQ holds them unless a test checks the pruning (0).
                     "--keep-acked-ms", str(keep_acked_ms), "--log-level", "info"]
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.log_path = os.path.join(dir, "%s.log" % name)
        self.proc = None
        self.runs = 0
        register_log("p4term simulate " + name, self.log_path)
        _post_checks.append(self.check_log_clean)

    def __repr__(self):
        return "Simulator(%s pid=%s)" % (self.name, self.proc.pid if self.proc else None)

    def journals(self):
        return [os.path.join(self.dir, "%s%02d.db" % (self.prefix, i + 1))
                for i in range(self.registers)]

    def start(self, argv_override=None):
        check(self.proc is None or self.proc.poll() is not None, "%r already running" % self)
        self._mark = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.proc = spawn(argv_override or self.argv, self.log_path, env=self.env)
        self.runs += 1
        _register(self)
        return self

    def drain(self, grace_s=60):
        """Runs once more with no new sales: it resends what the journals hold pending and
        exits 0 when all of it is acked within GRACE_S. Returns the exit code."""
        argv = list(self.argv)
        argv[argv.index("--duration") + 1] = "0"
        argv[argv.index("--grace") + 1] = str(int(grace_s))
        self.start(argv)
        return self.wait(grace_s + 30)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout_s):
        try:
            rc = self.proc.wait(timeout=scaled(timeout_s))
        except subprocess.TimeoutExpired:
            raise TimeoutError("%r still running after %.0fs" % (self, scaled(timeout_s)))
        _unregister(self)
        return rc

    def stop(self):
        """SIGTERM: the registers stop selling and close (pending sales stay journaled)."""
        rc = stop_process(self.proc) if self.proc else None
        _unregister(self)
        return rc

    def kill(self):
        rc = kill_process(self.proc) if self.proc else None
        _unregister(self)
        return rc

    def output(self):
        """What the current (or last) run wrote to its log."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(getattr(self, "_mark", 0))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def summary(self):
        """The key=value figures of the last run's 'simulate:' lines, as ints where numeric."""
        out = {}
        for line in self.output().splitlines():
            if not line.startswith("simulate:"):
                continue
            for word in line.split()[1:]:
                if "=" in word:
                    k, v = word.split("=", 1)
                    try:
                        out[k] = int(v)
                    except ValueError:
                        out[k] = v
        return out

    def check_log_clean(self):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return
        for mark in Gateway.SANITIZER_MARKS:
            at = text.find(mark)
            check(at < 0, "sanitizer report in %s: %s" % (self.log_path, text[at:at + 300]))

    def _cleanup(self):
        if self.proc:
            stop_process(self.proc, timeout_s=5)


JOURNAL_PENDING, JOURNAL_ACKED, JOURNAL_REJECTED = 0, 1, 2


def read_journal(path):
    """Every sale of a libp4term journal: [{lid, id, seq, state, gw_seq, duplicate,
    created_ms, sale}] in local order; SALE is the payload as published (a dict). Reads beside
    a running register (WAL) through a read-only connection."""
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT lid, id, seq, state, gw_seq, duplicate, created_ms, "
                            "payload FROM sales ORDER BY lid").fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise
        rows = []  # a journal being created: its register has not migrated it yet
    finally:
        conn.close()
    out = []
    for lid, sid, seq, state, gw_seq, dup, created_ms, payload in rows:
        out.append({"lid": lid, "id": sid, "seq": seq, "state": state, "gw_seq": gw_seq,
                    "duplicate": bool(dup), "created_ms": created_ms,
                    "sale": json.loads(payload)})
    return out


class JournalTruth:
    """Ground truth of what the registers sold: the union of every journal read so far.

    Reading before each restart of a register keeps sales a journal may later prune (acked
    sales older than 30 days by the register's clock are pruned at open)."""

    def __init__(self):
        self.sales = {}      # id -> latest journal row (see read_journal)
        self.files = set()

    def absorb(self, paths):
        for path in paths:
            if not os.path.exists(path):
                continue
            self.files.add(path)
            for row in read_journal(path):
                row["journal"] = path
                self.sales[row["id"]] = row
        return self

    def refresh(self):
        """Re-reads every journal absorbed so far (rows missing now are kept as last seen)."""
        return self.absorb(sorted(self.files))

    def pending(self):
        return [r for r in self.sales.values() if r["state"] == JOURNAL_PENDING]

    def rejected(self):
        return [r for r in self.sales.values() if r["state"] == JOURNAL_REJECTED]

    def by_id(self):
        """{id: sale dict as published} of every sale."""
        return {sid: r["sale"] for sid, r in self.sales.items()}


# ---------------------------------------------------------------------------------------------
# a small file system to fill up

class Tmpfs:
    """A tmpfs of SIZE_MB mounted on a fresh directory (needs root, or CAP_SYS_ADMIN).

    Raises SkipTest when mounting is not allowed here. resize() changes its size live (space
    returns without touching the files on it); unmounted (lazily) by the cleanup."""

    def __init__(self, name, size_mb):
        self.path = subdir(name)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % size_mb,
                              "tmpfs", self.path], capture_output=True, text=True)
        if res.returncode != 0:
            raise SkipTest("cannot mount a tmpfs on %s: %s" % (self.path, res.stderr.strip()),
                           kind="mount")
        self.size_mb = size_mb
        _register(self)

    def __repr__(self):
        return "Tmpfs(%s)" % self.path

    def free_bytes(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def resize(self, size_mb):
        res = subprocess.run(["mount", "-o", "remount,size=%dm" % size_mb, self.path],
                             capture_output=True, text=True)
        check(res.returncode == 0, "remount %s: %s" % (self.path, res.stderr.strip()))
        self.size_mb = size_mb

    def remount(self, opts):
        """mount -o remount,OPTS; returns (ok, message)."""
        res = subprocess.run(["mount", "-o", "remount," + opts, self.path],
                             capture_output=True, text=True)
        return res.returncode == 0, res.stderr.strip()

    def fill(self, leave_bytes=0, name="filler"):
        """Writes a file that leaves about LEAVE_BYTES free; returns its path."""
        path = os.path.join(self.path, name)
        chunk = b"\0" * 65536
        with open(path, "ab") as f:
            while self.free_bytes() > leave_bytes + len(chunk):
                try:
                    f.write(chunk)
                    f.flush()
                except OSError:
                    break
        return path

    def _cleanup(self):
        subprocess.run(["umount", "-l", self.path], capture_output=True)
