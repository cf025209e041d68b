#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package P4 Sync needs to build, run its demo and run its tests.
# Run as root (or through sudo). Skips apt-get entirely when everything is already there,
# unless P4_DEPS_FORCE=1.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang
  # zstd payloads of contract revision 1.3 (libzstd; the CLI rebuilds the dictionary)
  libzstd-dev zstd
  libpaho-mqtt-dev libsqlite3-dev libssl-dev libcjson-dev libinih-dev libmicrohttpd-dev
  mosquitto mosquitto-clients sqlite3 openssl curl
  python3 python3-paho-mqtt
  # HQ (p4hq): PostgreSQL 15 server and libpq; the tests' and demo's throwaway cluster
  # (tests/harness/pgcluster.py) reads the database through psycopg2.
  postgresql libpq-dev python3-psycopg2
  # The dashboard's browser tests and screenshots: headless Chromium driven by Selenium.
  chromium chromium-driver python3-selenium
  # RabbitMQ (3.10 in Debian 12) with its MQTT plugin: the clustered cloud broker of the
  # rabbitmq tests (tests/harness/rabbit.py starts its own nodes, never the system service).
  rabbitmq-server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ] && [ "${P4_DEPS_FORCE:-0}" != 1 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
echo "deps: installing ${missing[*]:-${packages[*]}}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# The mosquitto package may start a system-wide broker on 1883; P4 Sync's demo and tests use
# their own brokers on free ports, so it is left as it is.
# rabbitmq-server's postinst starts and enables the system node (and systemd's epmd.socket
# listens on 4369) where a service manager runs. The tests start their own nodes with their
# own epmd on free ports; a system node would only take memory and CPU from them and, on a
# 2-core runner, time from the suite. Stop it and keep it from starting at boot.
rabbit_off() {
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    $sudo systemctl disable --now rabbitmq-server.service >/dev/null 2>&1 || true
    $sudo systemctl disable --now epmd.socket epmd.service >/dev/null 2>&1 || true
  else
    $sudo service rabbitmq-server stop >/dev/null 2>&1 || true
    if command -v update-rc.d >/dev/null; then
      $sudo update-rc.d rabbitmq-server disable >/dev/null 2>&1 || true
    fi
  fi
}
rabbit_off
echo "deps: done"
