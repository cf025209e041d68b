# SPDX-License-Identifier: Apache-2.0
"""Running HQ: `p4hq db init` on an empty cluster, twice (idempotent), makes a database p4hq
runs in with a role that can read and write rows but not change the schema; `db status` lists
the migrations; /healthz and /readyz answer load balancers (readyz turns unready while
PostgreSQL is down and ready again when it returns); /metrics needs a token and its figures
match a known load."""

import os
import re
import subprocess
import urllib.error
import urllib.request

import p4harness as h
from p4harness import check, log, wait_until
import hqchain

TOKEN = "ops-viewer-token-0123456789"


def http_get(port, path, token=None):
    """(status, body) of GET http://127.0.0.1:PORT/PATH."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=h.scaled(10)) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def metric(text, name):
    """The value of metric NAME (with its labels, e.g. 'x{store="s001"}') in TEXT, or None."""
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def main():
    chain = hqchain.Chain()
    pg = chain.pg
    hq_bin = hqchain.p4hq_path()
    pw_file = os.path.join(h.subdir("secrets"), "db.password")
    with open(pw_file, "w") as f:
        f.write("ops-db-pass\n")
    token_hash = subprocess.run([hq_bin, "--hash-token"], input=TOKEN + "\n",
                                capture_output=True, text=True, check=True).stdout.strip()
    port = h.free_port()
    # The cluster's database (made by its superuser, empty) with p4hq's own least-privileged
    # role: db init creates the roles and hands the schema to the owner role.
    conninfo = pg.conninfo().replace("user=%s" % pg.user, "user=p4ops")
    check("user=p4ops" in conninfo, "unexpected conninfo %r" % conninfo)
    hq = chain.hq(extra={"db": {"conninfo": conninfo, "password_file": pw_file},
                         "http": {"listen": "127.0.0.1:%d" % port,
                                  "viewer_token_hash": token_hash}})
    admin = pg.conninfo(dbname="postgres")

    # ---- database set-up ----
    for attempt in (1, 2):
        res = hq.cli("db", "init", "--admin", admin)
        check(res.returncode == 0, "db init #%d exited %d: %s" % (attempt, res.returncode,
                                                                 res.stderr))
        log("db init #%d: %s" % (attempt, res.stdout.strip()))
    check("0 migration(s) applied" in res.stdout, "the second db init applied migrations again")
    check(pg.value("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'p4ops_owner'") is False,
          "the schema owner can log in")
    check(pg.value("SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles"
                   " WHERE rolname = 'p4ops'") is False, "p4hq's role has admin rights")
    status = hq.cli_json("db", "status")
    check(status and all(r["state"] == "applied" for r in status),
          "db status: not every migration applied: %r" % status)
    for ddl in ("CREATE TABLE intruder (a int)", "ALTER TABLE sales ADD COLUMN z int",
                "DROP TABLE dead_letters"):
        res = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", conninfo, "-c", ddl],
                             capture_output=True, text=True,
                             env=dict(os.environ, PGPASSWORD="ops-db-pass"))
        check(res.returncode != 0 and ("permission denied" in res.stderr or
                                       "must be owner" in res.stderr),
              "p4hq's role could run %r: %s" % (ddl, res.stderr))

    # ---- the daemon as that role, health, metrics under a known load ----
    hq.start()
    check(http_get(port, "/healthz")[0] == 200, "/healthz is not 200")
    wait_until(lambda: http_get(port, "/readyz")[0] == 200, 20, "/readyz to be ready")
    code, _ = http_get(port, "/metrics")
    check(code == 401, "/metrics without a token answered %s" % code)
    hq.import_products()
    stores = [chain.store("s001"), chain.store("s002")]
    for s in stores:
        s.start()
    load = hqchain.Load(stores, 20, 6).start()
    load.wait(60)
    chain.wait_caught_up(60)
    total = chain.hq_count()

    def figures_match():
        code, text = http_get(port, "/metrics", TOKEN)
        return (code == 200 and metric(text, "p4hq_sales_total") == total and
                all(metric(text, 'p4hq_store_watermark_lag{store="%s"}' % s.id) == 0
                    for s in stores))
    wait_until(figures_match, 20, "p4hq_sales_total to equal the %d sales at HQ" % total)
    _, text = http_get(port, "/metrics", TOKEN)
    check(metric(text, "p4hq_batches_total") >= 1, "no batches counted")
    check(metric(text, "p4hq_db_up") == 1 and metric(text, "p4hq_broker_up") == 1,
          "db or broker not up in the metrics")
    check(metric(text, "p4hq_dead_letters_total") == 0, "dead letters under a clean load")
    check(metric(text, "p4hq_commit_ms_count") >= 1, "no commit latency observed")
    for s in stores:
        check(metric(text, 'p4hq_store_gaps{store="%s"}' % s.id) == 0, "gaps for %s" % s.id)
    log("metrics: sales_total=%d batches=%d commits=%d" % (
        metric(text, "p4hq_sales_total"), metric(text, "p4hq_batches_total"),
        metric(text, "p4hq_commit_ms_count")))

    # ---- readiness follows the database ----
    pg.stop()
    wait_until(lambda: http_get(port, "/readyz")[0] == 503, 30,
               "/readyz to turn unready with PostgreSQL down")
    check(http_get(port, "/healthz")[0] == 200, "/healthz failed with only the database down")
    pg.start()
    wait_until(lambda: http_get(port, "/readyz")[0] == 200, 40,
               "/readyz to be ready again once PostgreSQL is back")
    chain.verify()
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
