# SPDX-License-Identifier: Apache-2.0
"""A cloud status publish the MQTT client refuses is published again, not forgotten.

p4gw runs under an LD_PRELOAD shim (librefusepub.so) that makes Paho refuse its first five
publishes on p4/v1/T/S/up/status, as Paho does when its command queue is full. The status
goes out on a change of state and otherwise only when its counters change, so an idle store
whose "online" was refused stayed unknown to HQ. The retained up/status must say "online"
within a few seconds, and the refusal is logged once."""

import os

import p4harness as h
from p4harness import check, log
import gwenv


def main():
    lib = h.require_built("tests", "integration", "librefusepub.so")
    env = gwenv.StoreEnv()
    topic = "p4/v1/%s/%s/up/status" % (gwenv.TENANT, gwenv.STORE)
    watcher = h.StatusWatcher(env.cloud.port, topic)
    saved = dict(os.environ)
    # A sanitizer build wants its runtime first; the shim carries none (see f6_clock_jump).
    asan = os.environ.get("ASAN_OPTIONS", "")
    os.environ.update(LD_PRELOAD=lib, P4_REFUSE_TOPIC=topic, P4_REFUSE_COUNT="5",
                      ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
    try:
        env.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    h.wait_until(lambda: [b for b in watcher.live_since(0)
                          if isinstance(b, dict) and b.get("state") == "online"], 10,
                 "an online status at the cloud", detail=watcher.latest)
    body = h.fetch_retained(env.cloud, topic)
    check(body.get("state") == "online", "the retained cloud status is %r" % (body,))
    text = env.gw.log_text()
    check(text.count("cloud status publish refused") == 1,
          "the refusal is not logged once: %d" % text.count("cloud status publish refused"))
    check("cloud status published after refusals=5" in text, "the recovery is not logged")
    log("cloud status after five refusals: %r" % (body,))
    watcher.close()
    env.gw.stop()


if __name__ == "__main__":
    h.run_test(main)
