# SPDX-License-Identifier: Apache-2.0
"""Throwaway RabbitMQ nodes with the MQTT plugin, alone or clustered on loopback, for tests.

Debian's rabbitmq-server (3.10.x) is used as installed; the system service is never started
(scripts/deps.sh stops and disables it). Each node gets its own folder in the test folder:
rabbitmq.conf (AMQP and MQTT listeners on free 127.0.0.1 ports, anonymous MQTT as guest,
which RabbitMQ allows from loopback only), the enabled-plugins file ([rabbitmq_mqtt]), its
Mnesia and message store, and its log. Nodes are named p4rN-<random>@localhost and find each
other through an epmd of our own on a free port (ERL_EPMD_PORT), started here and stopped
with the cluster, so nothing outside the test is touched or left behind. The Erlang cookie
is shared through HOME.

RabbitMQ runs as the unprivileged `rabbitmq` system user (created by the package) when we are
root, else as ourselves. Every process is started through setpriv with a parent-death
SIGKILL, and stopped by stop() / the context manager / atexit / the integration harness'
cleanup, so a failed or killed test leaves no node running.

RabbitCluster(n) starts N nodes at once (each takes a few seconds to boot; they boot in
parallel) and joins nodes 2..N to node 1 with `rabbitmqctl join_cluster`. Start it once per
test file: a cluster takes ~15-25 s to come up on a loaded 2-core machine.
"""

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

try:
    import p4harness as _h
except ImportError:
    _h = None

RABBIT_BIN = os.environ.get("P4_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin")
EPMD = os.environ.get("P4_EPMD", "/usr/bin/epmd")
RUN_AS = "rabbitmq"  # the system user the nodes run as when we are root

if _h is not None and hasattr(_h, "NotBuilt"):
    # scripts/deps.sh installs rabbitmq-server: missing, the test fails (not a skip).
    Unavailable = _h.NotBuilt
else:
    class Unavailable(Exception):
        """rabbitmq-server is not installed here (scripts/deps.sh installs it)."""

_live = []
_live_lock = threading.Lock()


def _log(msg):
    if _h is not None:
        _h.log(msg)
    else:
        sys.stderr.write("rabbit: %s\n" % msg)


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free_port():
    """A free 127.0.0.1 port below the kernel's ephemeral range. A node binds its listeners
    seconds after the port is picked (and again after join_cluster), and a port the kernel
    handed out (bind to 0) can meanwhile become the local end of some outgoing connection,
    e.g. the Erlang distribution's between the nodes: the node then fails with eaddrinuse."""
    import random
    top = min(_ephemeral_low(), 32768)
    for _ in range(200):
        port = random.randrange(20000, top)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port in 20000..%d" % top)


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def available():
    """'' when RabbitMQ's scripts, the MQTT plugin and epmd are here, else why not."""
    for prog in ("rabbitmq-server", "rabbitmqctl"):
        if not os.access(os.path.join(RABBIT_BIN, prog), os.X_OK):
            return "%s/%s not found (Debian package rabbitmq-server)" % (RABBIT_BIN, prog)
    if not os.access(EPMD, os.X_OK):
        return "%s not found (Debian package erlang-base)" % EPMD
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return "running as root and there is no %r user to run RabbitMQ" % RUN_AS
    return ""


def version():
    """The installed RabbitMQ version ("3.10.8"), read from the server's folder name."""
    lib = os.path.join(os.path.dirname(RABBIT_BIN), "lib")
    for d in sorted(os.listdir(lib)) if os.path.isdir(lib) else []:
        if d.startswith("rabbitmq_server-"):
            return d.split("-", 1)[1]
    return "unknown"


class RabbitCluster:
    """N RabbitMQ nodes (MQTT plugin) on loopback, clustered with node 1. nodes[i] has .name,
    .port (MQTT), .uri, .log_path, .pid, running(), kill(), start(). SETTINGS: extra
    rabbitmq.conf lines {key: value} for every node."""

    def __init__(self, n=2, name="rabbit", settings=None, start=True):
        why = available()
        if why:
            raise Unavailable(why)
        self.name = name
        self.as_root = os.geteuid() == 0
        self._owned_dir = _h is None
        self.dir = self._make_dir()
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        cookie = os.path.join(self.home, ".erlang.cookie")
        with open(cookie, "w") as f:
            f.write(os.urandom(16).hex().upper())
        os.chmod(cookie, 0o400)
        self._chown(self.home)
        self._chown(cookie)
        self.epmd_port = _free_port()
        self.epmd = None
        self.settings = dict(settings or {})
        tag = os.urandom(3).hex()
        self.nodes = [RabbitNode(self, i + 1, "p4r%d-%s@localhost" % (i + 1, tag))
                      for i in range(n)]
        if start:
            self.start()

    def __repr__(self):
        return "RabbitCluster(%s)" % ", ".join(n.name for n in self.nodes)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.stop()
        return False

    # ---- plumbing ----

    def _make_dir(self):
        if _h is not None:
            root = _h.tmp_root()
            # The rabbitmq user must traverse the test folder (0700 from mkdtemp).
            os.chmod(root, 0o711)
            path = tempfile.mkdtemp(prefix="%s-" % self.name, dir=root)
        else:
            path = tempfile.mkdtemp(prefix="p4rabbit-")
        os.chmod(path, 0o755)
        self._chown(path)
        return path

    def _chown(self, path):
        if self.as_root:
            pw = pwd.getpwnam(RUN_AS)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def env(self):
        """The environment every RabbitMQ program of this cluster runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": self.home,              # the shared .erlang.cookie
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": os.path.join(self.dir, "rabbitmq-env.conf"),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        })
        return env

    def argv(self, *argv):
        """ARGV as the nodes' user, with a parent-death SIGKILL."""
        pre = ["setpriv", "--pdeathsig", "KILL"]
        if self.as_root:
            pre += ["--reuid", RUN_AS, "--regid", RUN_AS, "--init-groups"]
        return pre + ["--"] + list(argv)

    def ctl(self, node, *args, timeout_s=60, check=True):
        """rabbitmqctl -n NODE ARGS; returns CompletedProcess (text). Each call boots an Erlang
        VM (~1 s)."""
        res = subprocess.run(self.argv(os.path.join(RABBIT_BIN, "rabbitmqctl"), "-n",
                                       node.name, *args),
                             env=self.env(), cwd=self.dir, capture_output=True, text=True,
                             timeout=timeout_s, stdin=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "rabbitmqctl.log"), "a") as f:
            f.write("$ rabbitmqctl -n %s %s\nrc=%d\n%s%s\n" % (
                node.name, " ".join(args), res.returncode, res.stdout, res.stderr))
        if check and res.returncode != 0:
            raise RuntimeError("rabbitmqctl -n %s %s exited %d: %s %s" % (
                node.name, " ".join(args), res.returncode, res.stdout.strip()[-400:],
                res.stderr.strip()[-800:]))
        return res

    def _track(self, on):
        with _live_lock:
            if on and self not in _live:
                _live.append(self)
            elif not on and self in _live:
                _live.remove(self)
        if _h is not None:
            (_h._register if on else _h._unregister)(self)

    # ---- life cycle ----

    def start(self, timeout_s=90):
        """Starts epmd and every node, waits for them, joins nodes 2..N to node 1."""
        t0 = time.monotonic()
        with open(os.path.join(self.dir, "rabbitmq-env.conf"), "w"):
            pass
        self._track(True)
        self.epmd = subprocess.Popen(
            self.argv(EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"),
            env=self.env(), cwd=self.dir, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _accepts(self.epmd_port):
            if self.epmd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("epmd on port %d did not start" % self.epmd_port)
            time.sleep(0.02)
        for n in self.nodes:
            n.start(wait=False)
        for n in self.nodes:
            n.wait_up(timeout_s)
        first = self.nodes[0]
        for n in self.nodes[1:]:
            self.ctl(n, "stop_app")
            self.ctl(n, "join_cluster", first.name)
            self.ctl(n, "start_app")
            n.wait_up(timeout_s)
        if len(self.nodes) > 1:
            out = self.ctl(first, "cluster_status", "--formatter", "json").stdout
            for n in self.nodes:
                if n.name not in out:
                    raise RuntimeError("%s is not in the cluster: %s" % (n.name, out[:500]))
        _log("%r up in %.1fs (RabbitMQ %s, MQTT ports %s)" % (
            self, time.monotonic() - t0, version(), [n.port for n in self.nodes]))
        return self

    def stop(self):
        """Stops every node (SIGTERM: a clean shutdown, then SIGKILL) and epmd; removes the
        folder when not in a harness test folder. Safe to call twice."""
        for n in self.nodes:
            n.stop()
        e, self.epmd = self.epmd, None
        if e is not None and e.poll() is None:
            e.kill()
            e.wait()
        self._track(False)
        if self._owned_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _cleanup(self):  # p4harness.cleanup_all
        for n in self.nodes:
            n.stop(timeout_s=5)
        self.stop()

    @property
    def uris(self):
        """'tcp://127.0.0.1:a, tcp://127.0.0.1:b': [cloud] uri for the whole cluster."""
        return ", ".join(n.uri for n in self.nodes)

    def running_nodes(self, via):
        """Names of the running nodes as VIA sees them."""
        import json
        out = self.ctl(via, "cluster_status", "--formatter", "json").stdout
        return json.loads(out[out.index("{"):]).get("running_nodes", [])

    def queues(self, via, vhost="/"):
        """[(name, node, messages, consumers, durable)] as node VIA lists them."""
        res = self.ctl(via, "list_queues", "-p", vhost, "--no-table-headers", "--quiet",
                       "name", "pid", "messages", "consumers", "durable", "state",
                       check=False)
        out = []
        for line in res.stdout.splitlines():
            f = line.split("\t")
            if len(f) >= 6:
                node = f[1].strip("<>").split(".")[0]
                out.append((f[0], node, f[2], f[3], f[4], f[5]))
        return out


class RabbitNode:
    """One node of a RabbitCluster."""

    def __init__(self, cluster, index, name):
        self.cluster = cluster
        self.index = index
        self.name = name
        self.dir = os.path.join(cluster.dir, "node%d" % index)
        os.makedirs(self.dir)
        cluster._chown(self.dir)
        self.port = _free_port()        # MQTT
        self.amqp_port = _free_port()
        self.dist_port = _free_port()
        self.uri = "tcp://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.dir, "rabbit.log")
        self.proc = None
        conf = {
            "listeners.tcp.default": "127.0.0.1:%d" % self.amqp_port,
            "mqtt.listeners.tcp.default": "127.0.0.1:%d" % self.port,
            "mqtt.allow_anonymous": "true",
            "mqtt.default_user": "guest",
            "mqtt.default_pass": "guest",
            "mqtt.vhost": "/",
            "mqtt.exchange": "amq.topic",
            "mqtt.tcp_listen_options.nodelay": "true",
            "log.file.level": "info",
            "log.console": "false",
            # A test folder on a nearly full disk must not block every publisher.
            "disk_free_limit.absolute": "20MB",
            # The nodes are killed on purpose: the survivor keeps serving.
            "cluster_partition_handling": "ignore",
        }
        conf.update(cluster.settings)
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("# generated by tests/harness/rabbit.py\n")
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        if _h is not None:
            _h.register_log("rabbitmq " + name, self.log_path)

    def __repr__(self):
        return "RabbitNode(%s mqtt=%d)" % (self.name, self.port)

    def env(self):
        env = self.cluster.env()
        env.update({
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.dir, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(self.dir, "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.dir, "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": self.dir,
            "RABBITMQ_LOGS": self.log_path,
            "RABBITMQ_PID_FILE": os.path.join(self.dir, "rabbit.pid"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": os.path.join(self.dir, "plugins-expand"),
            # exec erl directly (no signal-forwarding shell): the pid we hold is the node's.
            "RUNNING_UNDER_SYSTEMD": "true",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
        })
        return env

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=True, timeout_s=90):
        """Starts the node (again, after kill(): with its Mnesia, it rejoins the cluster)."""
        if self.running():
            raise RuntimeError("%r already running" % self)
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                self.cluster.argv(os.path.join(RABBIT_BIN, "rabbitmq-server")),
                env=self.env(), cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
        finally:
            out.close()
        if wait:
            self.wait_up(timeout_s)
        return self

    def wait_up(self, timeout_s=90):
        """Until the node's MQTT listener accepts connections (the plugin starts last)."""
        deadline = time.monotonic() + timeout_s
        while not _accepts(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError("%r exited %s during start; log %s:\n%s" % (
                    self, self.proc.returncode, self.log_path, self.log_tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("%r did not open its MQTT port within %ds:\n%s" % (
                    self, timeout_s, self.log_tail()))
            time.sleep(0.1)

    def kill(self):
        """SIGKILL: the node dies as in a power cut; its queues and sessions with it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout_s=30):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError as e:
            return "(no log: %s)" % e

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _stop_all():
    with _live_lock:
        items = list(reversed(_live))
    for c in items:
        try:
            c.stop()
        except Exception as e:
            sys.stderr.write("rabbit: stopping %r failed: %r\n" % (c, e))


atexit.register(_stop_all)


if __name__ == "__main__":
    # Manual check: start a two-node cluster, print its URIs, stop it on Enter/EOF.
    with RabbitCluster(int(sys.argv[1]) if len(sys.argv) > 1 else 2) as c:
        print(c.uris)
        sys.stdin.readline()
