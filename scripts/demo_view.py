# SPDX-License-Identifier: Apache-2.0
"""Prints, one line per message, what the cloud broker carries for a store or, with store "+",
every store of the tenant: the gateways' uplink and HQ's committed watermark (down/ack)."""
import json
import sys

import paho.mqtt.client as mqtt


def money(minor):
    """Formats integer minor units as a decimal amount without floating point."""
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def main():
    host, port = sys.argv[2].split(":")
    tenant, store = sys.argv[3], sys.argv[4]
    seen_by_store = {}

    def on_connect(client, userdata, flags, rc):
        client.subscribe([(f"p4/v1/{tenant}/{store}/up/#", 1),
                          (f"p4/v1/{tenant}/{store}/down/ack", 1)])

    def on_message(client, userdata, msg):
        kind = msg.topic.rsplit("/", 1)[-1]
        who = msg.topic.split("/")[3]
        seen = seen_by_store.setdefault(who, set())
        try:
            body = json.loads(msg.payload)
        except ValueError:
            print(f"cloud | {msg.topic}: not JSON ({len(msg.payload)} bytes)", flush=True)
            return
        if kind == "ack":
            if not msg.retain:
                print(f"cloud | {who} HQ committed through gw_seq {body.get('through')}",
                      flush=True)
        elif kind == "sale":
            items = body.get("items", [])
            fresh = [r for r in items if r.get("gw_seq") not in seen]
            seen.update(r.get("gw_seq") for r in items)
            if not items:
                return
            lines = sum(len(r.get("lines", [])) for r in items)
            total = sum(r.get("total", 0) for r in items)
            print(f"cloud | {who} {len(items)} sale(s) gw_seq {items[0]['gw_seq']}..{items[-1]['gw_seq']}"
                  f" {lines} lines {money(total)}"
                  f"{'' if len(fresh) == len(items) else ' (resent)'}; {len(seen)} in all",
                  flush=True)
        elif kind == "status":
            print(f"cloud | {who} status {body.get('state')} outbox={body.get('outbox')}"
                  f" delivered={body.get('delivered')}"
                  f"{'' if 'hq_through' not in body else ' hq_through=%s' % body['hq_through']}",
                  flush=True)
        else:
            print(f"cloud | {who} {kind}: {json.dumps(body)[:160]}", flush=True)

    client = mqtt.Client(client_id=f"demo-cloud-view-{store.replace('+', 'all')}", clean_session=True)
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(host, int(port))
    client.loop_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
