# SPDX-License-Identifier: Apache-2.0
"""The fault suite's proof can fail: after a clean run, three forged defects are planted and
faultenv.FaultStore.finish must report each of them: a journaled sale the gateway never got
(lost), an extra sale line in the replica (a sale applied twice), and a cloud record that
carries another sale's id under an existing gw_seq."""

import json
import os
import sqlite3

import p4harness as h
from p4harness import check, log
import faultenv


def main():
    env = faultenv.FaultStore()
    env.start_gateway()
    env.wait_online()
    env.simulator("r", registers=2, rate=40)
    env.wait_sales(40, what="sales before the forgeries")
    env.absorb()
    # 1. Lost: a sale only the ground truth knows of.
    some = next(iter(env.truth.sales.values()))
    forged_id = h.uuid7()
    env.truth.sales[forged_id] = dict(some, id=forged_id, sale=dict(some["sale"], id=forged_id),
                                      journal="forged")
    # 2. Applied twice: one more line for an existing sale.
    conn = sqlite3.connect(env.gw.replica, timeout=10)
    try:
        conn.execute("INSERT INTO sale_lines(gw_seq, line_no, sku, qty, price, ver) "
                     "VALUES(1, 99, 'milk-1l', 1, 119, 1)")
        conn.commit()
    finally:
        conn.close()
    # 3. A cloud record whose gw_seq already carried another id.
    with env.hq._lock:
        rec = dict(env.hq.records[0]) if env.hq.records else {"gw_seq": 1}
        rec["id"] = h.uuid7()
        env.hq.records.append(rec)
    try:
        env.finish("proof_selfcheck", 1)
    except AssertionError as e:
        log("the proof failed as it must: %s" % e)
    else:
        raise AssertionError("finish() passed a run with three forged defects")
    with open(os.path.join(faultenv.figures_dir(), "proof_selfcheck.json")) as f:
        fig = json.load(f)
    os.remove(os.path.join(faultenv.figures_dir(), "proof_selfcheck.json"))
    problems = "\n".join(fig["problem_list"])
    check(fig["lost"] >= 1, "the forged lost sale was not counted: %r" % fig)
    check(fig["duplicates_applied"] >= 1, "the forged extra line was not counted: %r" % fig)
    check("cloud records inconsistent" in problems, "the forged cloud record was not reported:"
          "\n%s" % problems)
    log("all three forgeries reported (%d problems)" % fig["problems"])
    env.gw.stop()


if __name__ == "__main__":
    h.run_test(main)
