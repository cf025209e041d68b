# SPDX-License-Identifier: Apache-2.0
"""Benchmark of p4gw under many real registers (prints figures; not a CTest test): runs
`p4term simulate` against a fresh store and reports the simulator's summary (acks, duplicate
acks, ack latency) and the gateway's refused publishes and stats line.

  P4_BUILD_DIR=build-gw P4_SOURCE_DIR=. P4_MOSQUITTO=/usr/sbin/mosquitto \
  PYTHONPATH=tests/harness:tests/integration /usr/bin/python3 tests/gateway/bench_simulate.py
Options via env: SIM_REGISTERS (20), SIM_RATE (1000), SIM_DURATION (5).
"""

import os
import subprocess

import p4harness as h
from p4harness import log
import gwenv

N_REGS = os.environ.get("SIM_REGISTERS", "20")
RATE = os.environ.get("SIM_RATE", "1000")
DURATION = os.environ.get("SIM_DURATION", "5")


def main():
    env = gwenv.StoreEnv()
    env.start()
    p4term = os.path.join(h.BUILD_DIR, "terminal-shim", "p4term")
    argv = [p4term, "simulate", "--broker", env.store_broker.uri, "--store", gwenv.STORE,
            "--registers", N_REGS, "--rate", RATE, "--duration", DURATION,
            "--dir", h.subdir("sim"), "--grace", "60"]
    log("running: %s" % " ".join(argv))
    res = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    for line in res.stdout.splitlines():
        log(line)
    log("simulate exit code %d" % res.returncode)
    env.wait_outbox_drained(60)
    env.gw.stop()
    text = env.gw.log_text()
    refused = text.count("publish refused")
    stats = [l for l in text.splitlines() if "msg=stats" in l]
    log("gateway: publish refusals logged=%d" % refused)
    log("gateway: %s" % (stats[-1].split("msg=", 1)[1] if stats else "no stats line"))


if __name__ == "__main__":
    h.run_test(main)
