# SPDX-License-Identifier: Apache-2.0
"""Two p4hq instances on one MQTT 5 shared subscription ($share/hq-sales/...): the cloud broker
splits the batches between them (each ingests some, counted from the broker's own log), they
commit batches of one store concurrently and out of order, and the result is exact: every sale
once, the watermark right, the stores' delivered = hq_through."""

import re

import p4harness as h
from p4harness import check, log, wait_until
import hqchain


def batches_sent_to(cloud, client_id):
    """up/sale messages the broker sent to CLIENT_ID (its debug log)."""
    pat = re.compile(r"Sending PUBLISH to %s \(.*'p4/v1/[^']*/up/sale'" % re.escape(client_id))
    with open(cloud.log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    return sum(1 for line in text.splitlines() if pat.search(line))


def main():
    chain = hqchain.Chain(cloud_extra="log_type debug\n")
    hqs = [chain.hq("hq-a", client_id="p4hq-a", share_group="hq-sales"),
           chain.hq("hq-b", client_id="p4hq-b", share_group="hq-sales")]
    for q in hqs:
        q.start()
    chain.wait_tables()
    hqs[0].import_products()
    stores = [chain.store("s001"), chain.store("s002")]
    for s in stores:
        s.start()
    load = hqchain.Load(stores, 30, 10).start()
    load.wait(90)
    chain.wait_caught_up(90)
    chain.verify(exact_retained=False)
    split = {q.client_id: batches_sent_to(chain.cloud, q.client_id) for q in hqs}
    log("batches the broker gave each instance: %r" % split)
    check(all(n > 0 for n in split.values()), "the load was not split: %r" % split)
    for q in hqs:
        q.check_alive()
        check(q.stop() == 0, "%r did not stop cleanly" % q)


if __name__ == "__main__":
    h.run_test(main)
