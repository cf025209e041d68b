# SPDX-License-Identifier: Apache-2.0
"""Self-test of the throwaway PostgreSQL cluster (tests/harness/pgcluster.py): it starts as
root or not, answers on its Unix socket only, keeps committed rows across a clean restart and
across a crash (kill), refuses nothing it should accept, is stopped by every way out (stop(),
the harness cleanup, and a SIGKILLed owner through the guard), and leaves no server behind."""

import os
import signal
import subprocess
import sys
import textwrap

import p4harness as h
from p4harness import check, log, wait_until
import pgcluster


def server_alive(pid):
    return pid is not None and h.pid_alive(pid)


def basics():
    pg = pgcluster.PgCluster("pg-basic")
    check(pg.value("SHOW fsync") == "on", "fsync is off")
    check(pg.value("SHOW synchronous_commit") == "on", "synchronous_commit is off")
    check(pg.value("SHOW listen_addresses") == "", "the server listens on TCP")
    check(pg.value("SELECT current_database()") == "p4hq", "wrong database")
    if os.geteuid() == 0:
        owner = pg.value("SELECT current_setting('data_directory')")
        st = os.stat(owner)
        check(st.st_uid != 0, "the data directory belongs to root")
    pg.sql("CREATE TABLE t (k int PRIMARY KEY, v text)")
    pg.sql("INSERT INTO t VALUES (%s, %s), (%s, %s)", 1, "one", 2, "two")
    check(pg.sql("SELECT k, v FROM t ORDER BY k") == [(1, "one"), (2, "two")], "rows")

    pm = pg._postmaster_pid()
    pg.restart()
    check(pg._postmaster_pid() != pm, "restart kept the old postmaster")
    check(pg.value("SELECT count(*) FROM t") == 2, "rows lost by a clean restart")

    pg.sql("INSERT INTO t VALUES (3, 'three')")
    pm = pg.kill()
    check(not server_alive(pm), "postmaster %d survived kill()" % pm)
    check(not pg._server_pids(pm), "server processes survived kill()")
    pg.start()
    check(pg.value("SELECT count(*) FROM t") == 3, "a committed row was lost by a crash")

    # psql with ON_ERROR_STOP reports failures through its exit code.
    res = pg.psql("-c", "SELECT 1/0")
    check(res.returncode != 0 and "division by zero" in res.stderr, "psql: %r" % (res,))
    check(pg.psql("-c", "SELECT 41+1").stdout.strip() == "42", "psql output")

    pm = pg._postmaster_pid()
    pg.stop()
    check(not server_alive(pm), "postmaster %d survived stop()" % pm)
    pg.stop()  # twice is fine
    log("cluster: trust on a Unix socket only, rows survive a restart and a crash")


def harness_cleanup_stops_it():
    pg = pgcluster.PgCluster("pg-cleanup")
    pm = pg._postmaster_pid()
    h.cleanup_all()
    check(not server_alive(pm), "the harness cleanup left postmaster %d running" % pm)
    log("harness cleanup stops the cluster")


def guard_stops_it_when_owner_dies():
    # An owner process starts a cluster, prints the postmaster pid, and is SIGKILLed (as CTest
    # does on a timeout): no atexit runs, the guard must stop the server.
    code = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, %r)
        import pgcluster
        pg = pgcluster.PgCluster("pg-orphan", keep=True)
        print("PG", pg._postmaster_pid(), pg.dir, flush=True)
        time.sleep(600)
    """ % os.path.dirname(os.path.abspath(pgcluster.__file__)))
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = []
        while line[:1] != ["PG"]:
            text = owner.stdout.readline()
            check(text, "the owner did not start a cluster")
            line = text.split()
        pm, pg_dir = int(line[1]), line[2]
        check(server_alive(pm), "no postmaster")
        owner.kill()
        owner.wait()
        wait_until(lambda: not server_alive(pm), 30, "the guard to stop postmaster %d" % pm)
        subprocess.run(["rm", "-rf", pg_dir])
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    log("a SIGKILLed owner's cluster is stopped by its guard")


def command_line():
    d = os.path.join(h.tmp_root(), "pg-cli")
    tool = os.path.abspath(pgcluster.__file__)
    res = subprocess.run([sys.executable, tool, "up", d, "demo"], capture_output=True,
                         text=True, timeout=120)
    try:
        check(res.returncode == 0, "pgcluster.py up: %s" % res.stderr)
        conninfo = res.stdout.strip().splitlines()[-1]
        check("dbname=demo" in conninfo, "conninfo %r" % conninfo)
        out = subprocess.run([os.path.join(pgcluster.PG_BIN, "psql"), "-X", "-At", conninfo,
                              "-c", "SELECT 7*6"], capture_output=True, text=True, timeout=30)
        check(out.stdout.strip() == "42", "psql through the printed conninfo: %r" % (out,))
    finally:
        down = subprocess.run([sys.executable, tool, "down", d], capture_output=True,
                              text=True, timeout=120)
    check(down.returncode == 0, "pgcluster.py down: %s" % down.stderr)
    check(not os.path.exists(os.path.join(d, "data", "postmaster.pid")), "still running")
    log("command line: up prints a working conninfo, down stops the cluster")


def main():
    why = pgcluster.available()
    if why:
        raise pgcluster.Unavailable(why)
    basics()
    harness_cleanup_stops_it()
    guard_stops_it_when_owner_dies()
    command_line()


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    h.run_test(main)
