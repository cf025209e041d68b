# SPDX-License-Identifier: Apache-2.0
"""p4gw's command line: --check-config accepts a good INI and names file, line, section and
key of each bad one (fixtures/config/cases.txt) in exactly one line with exit code 2, also when
run for real; --help/--version/bad options; --import-stock is all-or-nothing."""

import os
import re
import subprocess

import p4harness as h
from p4harness import check, log
import gwenv

CONFIG_FIXTURES = os.path.join(gwenv.FIXTURES, "config")


def run(args, timeout_s=20):
    return subprocess.run([h.p4gw_path()] + list(args), capture_output=True, text=True,
                          timeout=h.scaled(timeout_s), stdin=subprocess.DEVNULL)


def materialize(name, workdir):
    """Copies fixture NAME into WORKDIR with @DIR@ replaced; returns the new path."""
    with open(os.path.join(CONFIG_FIXTURES, name)) as f:
        text = f.read().replace("@DIR@", workdir)
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def load_cases():
    cases = []
    with open(os.path.join(CONFIG_FIXTURES, "cases.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, lineno, section, key = [p.strip() for p in line.split("|")]
                cases.append((name, int(lineno), section, key))
    return cases


def one_error_line(res, what):
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    check(res.returncode == 2, "%s: exit code %d, want 2 (stderr %r)"
          % (what, res.returncode, res.stderr))
    check(len(lines) == 1, "%s: want exactly one line on stderr, got %d: %r"
          % (what, len(lines), lines))
    return lines[0]


def test_configs(workdir):
    good = materialize("good.ini", workdir)
    res = run(["--config", good, "--check-config"])
    check(res.returncode == 0, "good config: exit %d: %s" % (res.returncode, res.stderr))
    check("config ok: %s" % good in res.stdout + res.stderr,
          "good config: no 'config ok: FILE' line: %r" % (res.stdout + res.stderr))

    for name, lineno, section, key in load_cases():
        path = materialize(name, workdir)
        line = one_error_line(run(["--config", path, "--check-config"]), name)
        lines_ok = [lineno]
        if name.startswith("unknown_section"):
            lines_ok.append(lineno - 1)  # the [section] header line
        pattern = r"^%s:(%s): \[%s\] %s: \S.*$" % (
            re.escape(path), "|".join(str(n) for n in lines_ok), re.escape(section),
            re.escape(key))
        check(re.match(pattern, line), "%s: error line %r does not match %s"
              % (name, line, pattern))
        log("%-20s -> %s" % (name, line.replace(workdir + "/", "")))

    # Running for real with a bad config fails the same way, before touching anything.
    path = materialize("bad_inflight.ini", workdir)
    line = one_error_line(run(["--config", path], timeout_s=15), "run with bad config")
    check(line.startswith(path + ":"), "run with bad config: %r" % line)
    check(not os.path.exists(os.path.join(workdir, "replica.db")),
          "a bad config still created the replica")

    missing = os.path.join(workdir, "no-such.ini")
    res = run(["--config", missing, "--check-config"])
    check(res.returncode == 2 and missing in res.stderr,
          "missing config file: exit %d, stderr %r" % (res.returncode, res.stderr))


def test_cli():
    res = run(["--version"])
    check(res.returncode == 0 and res.stdout.strip(), "--version: %d %r"
          % (res.returncode, res.stdout))
    res = run(["--help"])
    out = res.stdout + res.stderr
    check(res.returncode == 0 and "--check-config" in out and "--import-stock" in out,
          "--help: exit %d, %r" % (res.returncode, out[:200]))
    res = run(["--frobnicate"])
    check(res.returncode == 2, "unknown option: exit %d" % res.returncode)
    res = run([])
    check(res.returncode == 2, "no --config: exit %d" % res.returncode)


def write_csv(workdir, name, text):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_import(workdir):
    ini = materialize("good.ini", workdir)
    db = os.path.join(workdir, "replica.db")
    csv = write_csv(workdir, "stock1.csv",
                    "sku,on_hand,price_minor,price_ver\nA-1,10,250,1\n\nB-2,5,1999,3\n")
    res = run(["--config", ini, "--import-stock", csv])
    check(res.returncode == 0, "import: exit %d: %s" % (res.returncode, res.stderr))

    def q(sql):
        conn = h.sqlite3.connect(db, timeout=10)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    check(dict(q("SELECT sku, on_hand FROM stock")) == {"A-1": 10, "B-2": 5},
          "stock after import: %r" % q("SELECT * FROM stock"))
    check(dict((s, (p, v)) for s, p, v in q("SELECT sku, price, ver FROM prices")) ==
          {"A-1": (250, 1), "B-2": (1999, 3)}, "prices after import: %r"
          % q("SELECT * FROM prices"))
    n_changes = q("SELECT COUNT(*) FROM changes")[0][0]
    check(n_changes >= 2, "import made %d change-log rows" % n_changes)

    # on_hand is absolute (a count movement of the delta); an older price version is ignored.
    csv = write_csv(workdir, "stock2.csv", "A-1,7,300,2\nB-2,5,1,2\n")
    res = run(["--config", ini, "--import-stock", csv])
    check(res.returncode == 0, "second import: exit %d: %s" % (res.returncode, res.stderr))
    check(dict(q("SELECT sku, on_hand FROM stock")) == {"A-1": 7, "B-2": 5},
          "stock after the second import: %r" % q("SELECT * FROM stock"))
    check(q("SELECT price, ver FROM prices WHERE sku = 'A-1'") == [(300, 2)],
          "newer price not applied")
    check(q("SELECT price, ver FROM prices WHERE sku = 'B-2'") == [(1999, 3)],
          "older price version overwrote a newer one")
    moves = q("SELECT sku, delta, reason FROM stock_moves ORDER BY id")
    check(("A-1", -3, "count") in moves, "no count movement of -3 for A-1: %r" % moves)
    seqs = [r[0] for r in q("SELECT seq FROM changes ORDER BY seq")]
    check(seqs == list(range(seqs[0], seqs[0] + len(seqs))), "change seq has gaps: %r" % seqs)

    # A bad row aborts the whole import with one line naming CSV and line.
    before = (q("SELECT * FROM stock ORDER BY sku"), q("SELECT * FROM prices ORDER BY sku"),
              q("SELECT COUNT(*) FROM changes"))
    for text, bad_line in [("sku,on_hand,price_minor,price_ver\nA-1,1,1,9\nC-3,lots,5,1\n", 3),
                           ("A-1,1,1,9\nD-4,1,2.50,1\n", 2),
                           ("A-1,1,1,9\nE-5,1,2\n", 2)]:
        csv = write_csv(workdir, "bad.csv", text)
        line = one_error_line(run(["--config", ini, "--import-stock", csv]),
                              "bad csv line %d" % bad_line)
        check(re.match(r"^%s:%d: \S" % (re.escape(csv), bad_line), line),
              "bad csv: %r does not name %s:%d" % (line, csv, bad_line))
        after = (q("SELECT * FROM stock ORDER BY sku"), q("SELECT * FROM prices ORDER BY sku"),
                 q("SELECT COUNT(*) FROM changes"))
        check(after == before, "a failed import changed the replica")
        log("bad csv -> %s" % line.replace(workdir + "/", ""))


def main():
    test_cli()
    test_configs(h.subdir("configs"))
    test_import(h.subdir("import"))


if __name__ == "__main__":
    h.run_test(main)
