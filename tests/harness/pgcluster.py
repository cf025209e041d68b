# SPDX-License-Identifier: Apache-2.0
"""A throwaway PostgreSQL 15 cluster for tests, the demo and benchmarks.

PgCluster runs initdb in a temporary folder (trust authentication, the Unix socket in that
folder, no TCP: listen_addresses = ''), starts it with `pg_ctl -w`, creates one database and
reads it through psycopg2 (Debian python3-psycopg2). PostgreSQL refuses to run as root, so
when we are root every server program runs as the unprivileged `postgres` system user
(`runuser -u postgres --`); otherwise as ourselves.

Durability is the production one: fsync on, synchronous_commit on, full_page_writes on, so a
kill() is a real crash and restart() a real recovery.

The cluster is always stopped: stop() from the context manager, from atexit, and from the
integration harness' cleanup (p4harness.cleanup_all) when that module is loaded. pg_ctl
daemonizes the server, so a parent-death signal cannot reach it; a small guard process (with a
parent-death SIGTERM) stops the server with `pg_ctl stop -m immediate` if the test process is
SIGKILLed (a CTest timeout). Start the cluster from the main thread: the parent-death signal
follows the thread that spawned the guard.

Command line, for shell scripts (the demo): `pgcluster.py up DIR [DBNAME]` creates and starts
a cluster in DIR (which must not exist or be empty) and prints its conninfo; `pgcluster.py down
DIR` stops it (fast, then immediate).
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
except ImportError:  # used outside the harness (scripts/demo.sh)
    _h = None

PG_BIN = os.environ.get("P4_PG_BIN", "/usr/lib/postgresql/15/bin")
RUN_AS = "postgres"   # the system user the server runs as when we are root
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; ".s.PGSQL.NNNNN" must fit after the folder

if _h is not None and hasattr(_h, "NotBuilt"):
    # scripts/deps.sh installs PostgreSQL and psycopg2: missing, the test fails (not a skip).
    Unavailable = _h.NotBuilt
else:
    class Unavailable(Exception):
        """PostgreSQL 15 or psycopg2 is not installed here (scripts/deps.sh installs both)."""

_live = []            # clusters started and not stopped, for atexit
_live_lock = threading.Lock()


def _log(msg):
    if _h is not None:
        _h.log(msg)
    else:
        sys.stderr.write("pgcluster: %s\n" % msg)


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def available():
    """'' when initdb and psycopg2 are here, else why not."""
    if not os.access(os.path.join(PG_BIN, "initdb"), os.X_OK):
        return "%s/initdb not found (Debian package postgresql-15)" % PG_BIN
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "python3-psycopg2 is not installed (scripts/deps.sh)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return "running as root and there is no %r user to run PostgreSQL" % RUN_AS
    return ""


class PgCluster:
    """One PostgreSQL cluster in DIR (default: a new folder in the harness' test folder, or a
    new temporary folder) on a free port, with database DBNAME. START: initdb, start and
    createdb now. KEEP: leave DIR on disk after stop() (the harness keeps it anyway when a
    test fails, since it lives in the test folder). SETTINGS: extra postgresql.conf lines
    {name: value}."""

    def __init__(self, name="pg", dbname="p4hq", dir=None, start=True, keep=False,
                 settings=None, guard=True):
        why = available()
        if why:
            raise Unavailable(why)
        self.name = name
        self.dbname = dbname
        self.keep = keep
        self.guard_wanted = guard
        self.as_root = os.geteuid() == 0
        self._owned_dir = dir is None
        self.dir = os.path.abspath(dir) if dir else self._make_dir()
        self.data = os.path.join(self.dir, "data")
        self.sock_dir = self.dir
        if len(self.sock_dir) > SOCKET_PATH_MAX - 16:
            self.sock_dir = tempfile.mkdtemp(prefix="p4pg-")
            self._chown(self.sock_dir)
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.port = _free_port()
        self.settings = {
            "listen_addresses": "''",
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.sock_dir,
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "max_connections": "40",
            "shared_buffers": "32MB",
            "max_wal_size": "256MB",
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] '",
            "log_timezone": "'UTC'",
            "timezone": "'UTC'",
        }
        self.settings.update(settings or {})
        self._conn = None
        self._guard = None
        self.running = False
        self.initialized = False
        if _h is not None:
            _h.register_log("postgres " + name, self.log_path)
        if start:
            self.start()

    def __repr__(self):
        return "PgCluster(%s port=%d)" % (self.dir, self.port)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.stop()
        return False

    # ---- plumbing ----

    def _make_dir(self):
        if _h is not None:
            root = _h.tmp_root()
            # The postgres user must traverse the test folder (0700 from mkdtemp) to reach
            # its own; it still cannot list it.
            os.chmod(root, 0o711)
            path = tempfile.mkdtemp(prefix="%s-" % self.name, dir=root)
        else:
            path = tempfile.mkdtemp(prefix="p4pg-")
        os.chmod(path, 0o755)
        self._chown(path)
        return path

    def _chown(self, path):
        if self.as_root:
            pw = pwd.getpwnam(RUN_AS)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _argv(self, prog, *args):
        argv = [os.path.join(PG_BIN, prog)] + list(args)
        if self.as_root:
            argv = ["runuser", "-u", RUN_AS, "--"] + argv
        return argv

    def _run(self, prog, *args, timeout_s=120, check=True):
        """Runs a PostgreSQL program as the server's user; returns CompletedProcess (text)."""
        res = subprocess.run(self._argv(prog, *args), cwd=self.dir, capture_output=True,
                             text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise RuntimeError("%s %s exited %d: %s%s (log: %s)" % (
                prog, " ".join(args), res.returncode, res.stdout.strip()[-500:],
                res.stderr.strip()[-1000:], self.log_path))
        return res

    def _start_guard(self):
        if not self.guard_wanted or self._guard is not None:
            return
        # Sleeps until SIGTERM (our death, through the parent-death signal, or stop()), then
        # stops the server at once unless told the cluster is already stopped (SIGUSR1).
        code = ("import signal,subprocess,sys\n"
                "sigs = {signal.SIGTERM, signal.SIGUSR1}\n"
                "signal.pthread_sigmask(signal.SIG_BLOCK, sigs)\n"
                "if signal.sigwait(sigs) == signal.SIGTERM:\n"
                "    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
                "stderr=subprocess.DEVNULL)\n")
        stop = self._argv("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        argv = [sys.executable, "-c", code] + stop
        setpriv = shutil.which("setpriv")
        if setpriv:
            argv = [setpriv, "--pdeathsig", "TERM", "--"] + argv
        self._guard = subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _stop_guard(self):
        g, self._guard = self._guard, None
        if g is not None and g.poll() is None:
            g.send_signal(signal.SIGUSR1)
            try:
                g.wait(timeout=5)
            except subprocess.TimeoutExpired:
                g.kill()
                g.wait()

    def _track(self, on):
        with _live_lock:
            if on and self not in _live:
                _live.append(self)
            elif not on and self in _live:
                _live.remove(self)
        if _h is not None:
            (_h._register if on else _h._unregister)(self)

    # ---- life cycle ----

    def init(self):
        """initdb (trust, UTF8, C locale) and the settings above in postgresql.conf."""
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", RUN_AS if self.as_root
                  else pwd.getpwuid(os.geteuid()).pw_name, "-E", "UTF8", "--locale=C",
                  "--no-instructions")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# pgcluster.py\n")
            for k, v in self.settings.items():
                f.write("%s = %s\n" % (k, v))
        self.initialized = True

    @property
    def user(self):
        return RUN_AS if self.as_root else pwd.getpwuid(os.geteuid()).pw_name

    def start(self, timeout_s=60):
        """Starts the server (initdb and createdb the first time); returns when it accepts
        connections. Raises RuntimeError with the log's tail when it does not start."""
        if not self.initialized:
            self.init()
        self._track(True)
        self._start_guard()
        t0 = time.monotonic()
        res = self._run("pg_ctl", "-D", self.data, "-l", self.log_path, "-w", "-t",
                        str(int(timeout_s)), "start", check=False)
        if res.returncode != 0:
            raise RuntimeError("pg_ctl start exited %d: %s\n%s" % (
                res.returncode, res.stderr.strip(), self.log_tail()))
        self.running = True
        if not getattr(self, "_db_created", False):
            self._run("createdb", "-h", self.sock_dir, "-p", str(self.port), "-U", self.user,
                      self.dbname)
            self._db_created = True
        _log("%s started in %.1fs" % (self, time.monotonic() - t0))
        return self

    def stop(self, mode="fast"):
        """Stops the server (pg_ctl stop -m MODE, then immediate, then SIGKILL); removes its
        folder unless KEEP or the harness keeps the test folder. Safe to call twice."""
        self.close_conn()
        if self.running or self._postmaster_pid():
            res = self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop",
                            check=False)
            if res.returncode != 0 and self._postmaster_pid():
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "10",
                          "stop", check=False)
            if self._postmaster_pid():
                self._kill_tree(signal.SIGKILL)
        self.running = False
        self._stop_guard()
        self._track(False)
        if self.sock_dir != self.dir:
            shutil.rmtree(self.sock_dir, ignore_errors=True)
        if self._owned_dir and not self.keep and _h is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _cleanup(self):  # p4harness.cleanup_all
        self.stop(mode="immediate")

    def restart(self, mode="fast", timeout_s=60):
        """Stops (pg_ctl -m MODE: fast = clean, immediate = crash without recovery point) and
        starts again on the same socket and port."""
        self.close_conn()
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop")
        self.running = False
        return self.start(timeout_s)

    def kill(self):
        """SIGKILL the postmaster and every server process (a machine crash, as far as the
        database can tell); start() recovers. Returns the postmaster's pid."""
        self.close_conn()
        pid = self._postmaster_pid()
        pids = self._server_pids(pid)
        self._kill_tree(signal.SIGKILL)
        self.running = False
        # The next start needs every old process gone, reaped zombies included: they hold the
        # shared memory, and a postmaster.pid naming a zombie still looks alive to kill(0).
        deadline = time.monotonic() + 30
        while any(os.path.exists("/proc/%d" % p) for p in pids) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        return pid

    def _postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    @staticmethod
    def _server_pids(postmaster):
        """POSTMASTER and its children (the backends and auxiliary processes)."""
        if not postmaster:
            return []
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z":
                continue
            if int(d) == postmaster or int(fields[1]) == postmaster:
                out.append(int(d))
        return out

    def _kill_tree(self, sig):
        pm = self._postmaster_pid()
        for pid in self._server_pids(pm):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError as e:
            return "(no log: %s)" % e

    # ---- clients ----

    def conninfo(self, dbname=None):
        """libpq conninfo of the database (Unix socket, trust)."""
        return "host=%s port=%d dbname=%s user=%s" % (self.sock_dir, self.port,
                                                     dbname or self.dbname, self.user)

    def connect(self, autocommit=True):
        """A new psycopg2 connection; the caller closes it."""
        import psycopg2
        conn = psycopg2.connect(self.conninfo(), connect_timeout=10)
        conn.autocommit = autocommit
        return conn

    def close_conn(self):
        c, self._conn = self._conn, None
        if c is not None:
            try:
                c.close()
            except Exception:
                pass

    def sql(self, query, *params, retry=True):
        """Runs QUERY (autocommit) and returns every row as a list of tuples (an empty list for
        a statement without rows). One cached connection, opened again once if the server
        dropped it (after a restart); other errors (psycopg2.Error) propagate."""
        import psycopg2
        for attempt in (0, 1):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self.connect()
                with self._conn.cursor() as cur:
                    cur.execute(query, params or None)
                    return cur.fetchall() if cur.description is not None else []
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self.close_conn()
                if attempt or not retry:
                    raise
        return []

    def value(self, query, *params):
        """The first column of the first row of QUERY, or None."""
        rows = self.sql(query, *params)
        return rows[0][0] if rows else None

    def psql(self, *args, input=None):
        """Runs psql -X -At against the database with ARGS; returns CompletedProcess."""
        return subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-At", "-v",
                               "ON_ERROR_STOP=1", self.conninfo()] + list(args),
                              capture_output=True, text=True, input=input, timeout=60)


def _stop_all():
    with _live_lock:
        items = list(reversed(_live))
    for c in items:
        try:
            c.stop(mode="immediate")
        except Exception as e:
            sys.stderr.write("pgcluster: stopping %r failed: %r\n" % (c, e))


atexit.register(_stop_all)


# ---- command line (scripts/demo.sh) ----

def _main(argv):
    if len(argv) >= 2 and argv[0] == "up":
        dbname = argv[2] if len(argv) > 2 else "p4hq"
        os.makedirs(argv[1], exist_ok=True)
        c = PgCluster(name="demo", dbname=dbname, dir=argv[1], start=False, keep=True,
                      guard=False)
        c._chown(c.dir)
        os.chmod(c.dir, 0o755)
        try:
            c.start()
        except Exception:
            c.stop(mode="immediate")
            raise
        c._track(False)  # outlives this command; `down` stops it
        with open(os.path.join(c.dir, "conninfo"), "w") as f:
            f.write(c.conninfo() + "\n")
        print(c.conninfo())
        return 0
    if len(argv) == 2 and argv[0] == "down":
        data = os.path.join(os.path.abspath(argv[1]), "data")
        if not os.path.exists(os.path.join(data, "postmaster.pid")):
            return 0
        pre = ["runuser", "-u", RUN_AS, "--"] if os.geteuid() == 0 else []
        pg_ctl = os.path.join(PG_BIN, "pg_ctl")
        for mode in ("fast", "immediate"):
            res = subprocess.run(pre + [pg_ctl, "-D", data, "-m", mode, "-w", "-t", "20",
                                        "stop"], cwd=argv[1], capture_output=True)
            if res.returncode == 0:
                return 0
        return 1
    sys.stderr.write("usage: pgcluster.py up DIR [DBNAME] | down DIR\n")
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
