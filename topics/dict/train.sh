#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Rebuilds a zstd dictionary of the contract (topics/README.md 6.10) from generated sales:
#   topics/dict/train.sh ID [SEED]    writes topics/dict/p4-ID.zdict
# A dictionary is part of the contract once released: never retrain an ID that shipped; train
# a new ID, add it to topics/dict.c's table, and keep the old one for the gateways that use it.
set -euo pipefail
id=${1:?dictionary id (32768..65535)}
seed=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/gen_sales.py" samples "$work/samples" --seed "$seed" --live 4000 --backlog 40 \
  --backlog-items 100
zstd -q --train "$work"/samples/* --maxdict=65536 --dictID="$id" -o "$here/p4-$id.zdict"
ls -l "$here/p4-$id.zdict"
