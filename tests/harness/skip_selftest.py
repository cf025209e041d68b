# SPDX-License-Identifier: Apache-2.0
"""Self-test that the suite cannot pass by skipping: a missing binary fails a harness test, a
skip the test did not declare fails it, only a declared skip exits 77, and ctest_strict.sh
(what scripts/test.sh runs) fails a CTest run in which any test skipped or did not run."""

import os
import subprocess
import sys
import textwrap

import p4harness as h
from p4harness import check, log

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = textwrap.dedent("""
    import sys
    import p4harness as h
    def main():
        mode = sys.argv[1]
        if mode == "gateway":
            h.p4gw_path()
        elif mode == "register":
            h.p4term_path()
        elif mode == "tool":
            h.require_tool("p4-no-such-tool")
        elif mode in ("undeclared", "declared"):
            raise h.SkipTest("the host cannot do this", kind="mount")
    h.run_test(main, may_skip=("mount",) if sys.argv[1] == "declared" else ())
""")


def run_child(mode, build_dir):
    """Runs CHILD in MODE with P4_BUILD_DIR=BUILD_DIR; returns (exit code, output)."""
    path = os.path.join(h.tmp_root(), "child.py")
    with open(path, "w") as f:
        f.write(CHILD)
    env = dict(os.environ, PYTHONPATH=HERE, P4_BUILD_DIR=build_dir)
    res = subprocess.run([sys.executable, "-u", path, mode], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=env, timeout=h.scaled(30))
    return res.returncode, res.stdout.decode("utf-8", "replace")


def test_harness():
    empty = h.subdir("empty-build")
    for mode, what in (("gateway", "p4gw is not built"), ("register", "p4term is not built"),
                       ("tool", "p4-no-such-tool is not installed")):
        rc, out = run_child(mode, empty)
        check(rc == 1, "a test whose %s exited %d, not 1 (failed): %s" % (what, rc, out))
        check(what.split()[0] in out and "FAIL" in out, "no reason printed: %s" % out)
    rc, out = run_child("gateway", "")
    check(rc == 1, "a test without P4_BUILD_DIR exited %d, not 1: %s" % (rc, out))
    rc, out = run_child("undeclared", empty)
    check(rc == 1, "an undeclared skip exited %d, not 1: %s" % (rc, out))
    rc, out = run_child("declared", empty)
    check(rc == h.EXIT_SKIP, "a declared skip exited %d, not %d: %s" % (rc, h.EXIT_SKIP, out))
    log("harness: missing binary, missing tool and undeclared skip fail; declared skip is 77")


def ctest_strict(project, *args):
    res = subprocess.run([os.path.join(HERE, "ctest_strict.sh")] + list(args), cwd=project,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=h.scaled(60))
    return res.returncode, res.stdout.decode("utf-8", "replace")


def test_ctest_strict():
    project = h.subdir("ctest-project")
    with open(os.path.join(project, "CTestTestfile.cmake"), "w") as f:
        f.write(textwrap.dedent("""
            add_test(passes "%s" "-c" "pass")
            add_test(skips "%s" "-c" "raise SystemExit(77)")
            set_tests_properties(skips PROPERTIES SKIP_RETURN_CODE 77)
            add_test(missing "%s")
        """ % (sys.executable, sys.executable, os.path.join(project, "not-built"))))
    rc, out = ctest_strict(project, "-R", "^passes$")
    check(rc == 0, "a passing test failed ctest_strict (%d): %s" % (rc, out))
    rc, out = ctest_strict(project, "-R", "^skips$")
    check(rc != 0, "a skipped test passed ctest_strict: %s" % out)
    check("skips (Skipped)" in out, "the skipped test is not named: %s" % out)
    rc, out = ctest_strict(project, "-R", "^missing$")
    check(rc != 0, "a test whose binary is missing passed ctest_strict: %s" % out)
    rc, out = ctest_strict(project, "-R", "^nothing-matches$")
    check(rc != 0, "a run that selected no test passed ctest_strict: %s" % out)
    log("ctest_strict: pass passes; skipped, not run and no tests fail the run")


def main():
    test_harness()
    test_ctest_strict()


if __name__ == "__main__":
    h.run_test(main)
