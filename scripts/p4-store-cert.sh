#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issues a store's (or p4hq's) client certificate for the cloud broker from the chain's CA with
# the openssl CLI, and prints the broker rules that bind it to its own topics.
#
#   p4-store-cert.sh store STORE --tenant T --ca CA.pem --ca-key CA.key [--out DIR] [--days N]
#   p4-store-cert.sh hq --tenant T --ca CA.pem --ca-key CA.key [--out DIR] [--days N]
#   p4-store-cert.sh acl TENANT          # conf/mosquitto-cloud.acl for TENANT
#
# store/hq write DIR/ID.key (0600) and DIR/ID.pem (EC P-256, clientAuth, CN = the store id or
# p4hq.hq) and print the Mosquitto rules that apply to it and the rabbitmqctl commands that
# give it the same rights on RabbitMQ (MQTT plugin with ssl_cert_login from the common name).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
HQ_ID=p4hq.hq
tmp=""

usage() { sed -n '4,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "p4-store-cert: $*" >&2; exit 2; }
valid_id() { [[ $1 =~ ^[a-z0-9][a-z0-9_-]{0,31}$ ]]; }

acl() {
  local acl_file=${P4_CLOUD_ACL:-$root/conf/mosquitto-cloud.acl}
  [ -r "$acl_file" ] || acl_file=/usr/share/doc/p4sync-hq/mosquitto-cloud.acl
  sed "s/{tenant}/$1/g" "$acl_file"
}

# rabbitmqctl commands: RabbitMQ maps MQTT topics to routing keys on amq.topic with "/" -> "."
# and checks topic permissions (regular expressions) on them: write when publishing, read when
# binding a subscription.
rabbit_lines() {
  local id=$1 tenant=$2 write read
  if [ "$id" = "$HQ_ID" ]; then
    write="^p4\\.v1\\.$tenant\\.[^.]+\\.down\\."
    read="^p4\\.v1\\.$tenant\\.[^.]+\\.up\\."
  else
    write="^p4\\.v1\\.$tenant\\.$id\\.up\\."
    read="^p4\\.v1\\.$tenant\\.($id|_all)\\.down\\."
  fi
  cat <<RABBIT
# RabbitMQ (rabbitmq_mqtt with mqtt.ssl_cert_login = true, ssl_cert_login_from = common_name):
rabbitmqctl add_user '$id' "\$(openssl rand -hex 32)"
rabbitmqctl clear_password '$id'
rabbitmqctl set_permissions -p / '$id' '^(amq\\.topic|mqtt-subscription-.*)\$' \\
  '^(amq\\.topic|mqtt-subscription-.*)\$' '^(amq\\.topic|mqtt-subscription-.*)\$'
rabbitmqctl set_topic_permissions -p / '$id' amq.topic '$write' '$read'
RABBIT
}

issue() {
  local id=$1 tenant="" ca="" ca_key="" out=. days=825
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --tenant) tenant=$2; shift 2 ;;
      --ca) ca=$2; shift 2 ;;
      --ca-key) ca_key=$2; shift 2 ;;
      --out) out=$2; shift 2 ;;
      --days) days=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  valid_id "$tenant" || die "--tenant: must be 1..32 characters [a-z0-9_-]"
  [ -r "$ca" ] && [ -r "$ca_key" ] || die "--ca and --ca-key: the chain CA's certificate and key"
  [[ $days =~ ^[0-9]+$ ]] || die "--days: a number"
  mkdir -p "$out"
  local key=$out/$id.key crt=$out/$id.pem
  [ -e "$crt" ] && die "$crt exists: revoke it first, or choose another --out"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" \
    2>/dev/null)
  openssl req -new -key "$key" -subj "/CN=$id" -out "$tmp/req.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" > "$tmp/ext"
  openssl x509 -req -in "$tmp/req.csr" -CA "$ca" -CAkey "$ca_key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 -extfile "$tmp/ext" \
    -out "$crt" 2>/dev/null
  openssl verify -CAfile "$ca" "$crt" >/dev/null
  echo "# issued $crt and $key (CN=$id, $days days)"
  echo "# Mosquitto: conf/mosquitto-cloud.acl for tenant $tenant (p4-store-cert.sh acl $tenant)"
  echo "# grants $id exactly these rules; no per-store line needs adding:"
  acl "$tenant" | awk -v id="$id" -v hq="$HQ_ID" '
    /^user / { inhq = ($2 == hq) } /^pattern / { inhq = 0 }
    id == hq && inhq && /^topic / { print }
    id != hq && /^pattern / { gsub(/%u/, id); sub(/^pattern/, "topic"); print }'
  rabbit_lines "$id" "$tenant"
}

case "${1:-}" in
  store)
    [ $# -ge 2 ] || usage
    valid_id "$2" || die "store: must be 1..32 characters [a-z0-9_-] starting with [a-z0-9]"
    id=$2; shift 2; issue "$id" "$@" ;;
  hq) shift; issue "$HQ_ID" "$@" ;;
  acl) [ $# -eq 2 ] && valid_id "$2" || usage; acl "$2" ;;
  *) usage ;;
esac
