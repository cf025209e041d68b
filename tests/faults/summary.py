# SPDX-License-Identifier: Apache-2.0
"""Prints one line per fault scenario of this run (trials, sales, lost, duplicates applied,
...) from the figures each scenario left (faultenv.write_figures). It reports; the scenarios
themselves pass or fail."""

import glob
import json
import os
import sys

COLUMNS = ("trials", "sales", "lost", "duplicates_applied", "pending_left", "cloud_resent",
           "gateway_restarts", "problems", "gaps", "seconds")


class Tee:
    """Writes to stdout and to the run's summary.txt (CTest hides a passing test's output)."""

    def __init__(self, path):
        self.f = open(path, "w")

    def __call__(self, line):
        print(line)
        self.f.write(line + "\n")


def main():
    d = os.environ.get("P4_FAULTS_FIGURES") or os.path.join(
        os.environ.get("P4_BUILD_DIR") or "/tmp", "faults-figures")
    os.makedirs(d, exist_ok=True)
    print = Tee(os.path.join(d, "summary.txt"))  # noqa: A001 (shadowing on purpose)
    rows = []
    for path in sorted(glob.glob(os.path.join(d, "*.json"))):
        with open(path) as f:
            rows.append(json.load(f))
    if not rows:
        print("fault figures: none in %s (no scenario ran)" % d)
        return 0
    mode = "long" if any(r.get("long") for r in rows) else "CI"
    print("fault-injection figures (%s mode, %s):" % (mode, d))
    print("%-18s %s" % ("scenario", " ".join("%12s" % c[:12] for c in COLUMNS)))
    for r in rows:
        print("%-18s %s" % (r["scenario"], " ".join("%12s" % r.get(c, "-") for c in COLUMNS)))
    for r in rows:
        rest = {k: v for k, v in r.items() if k not in COLUMNS and k not in (
            "scenario", "problem_list", "gap_list", "long", "at")}
        print("  %s: %s" % (r["scenario"], " ".join("%s=%s" % kv for kv in rest.items())))
        for p in r.get("problem_list", []):
            print("    PROBLEM %s" % p)
        for g in r.get("gap_list", []):
            print("    KNOWN GAP %s" % g)
    total = {c: sum(r.get(c, 0) for r in rows) for c in ("trials", "sales", "lost",
                                                          "duplicates_applied")}
    print("total: %d scenarios, %d trials, %d sales, %d lost, %d duplicates applied"
          % (len(rows), total["trials"], total["sales"], total["lost"],
             total["duplicates_applied"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
