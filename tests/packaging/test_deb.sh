#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian packages with CPack (p4sync for the store, p4sync-hq for HQ), checks their
# files, conffiles, dependencies (a store PC does not pull PostgreSQL, an HQ host does not pull
# Mosquitto) and maintainer scripts, verifies the systemd units, and (as root, in CI or with
# P4_DEB_INSTALL=1) installs both on this machine, checks the users and folders they create,
# and removes and purges them cleanly.
set -euo pipefail
build=${P4_BUILD_DIR:?}
work=$(mktemp -d /tmp/p4deb.XXXXXX)
installed=0
cleanup() {
  rc=$?
  if [ "$installed" = 1 ]; then dpkg --purge p4sync p4sync-hq >/dev/null 2>&1 || true; fi
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/out/p4sync_*.deb)
hqdeb=$(ls "$work"/out/p4sync-hq_*.deb)
echo "package: $(basename "$deb") $(stat -c %s "$deb") bytes"
echo "package: $(basename "$hqdeb") $(stat -c %s "$hqdeb") bytes"

# --- HQ's package ---
dpkg-deb -c "$hqdeb" | awk '{print $6}' | sed 's#^\./#/#' > "$work/hqfiles"
for f in /usr/sbin/p4hq /etc/p4hq/p4hq.ini /lib/systemd/system/p4hq.service \
         /lib/systemd/system/p4hq@.service /usr/lib/sysusers.d/p4hq.conf \
         /usr/share/doc/p4sync-hq/README.md /usr/share/doc/p4sync-hq/contract.md; do
  grep -qx "$f" "$work/hqfiles" || fail "missing $f in the HQ package"
done
if grep -E '/p4gw|/p4term|mosquitto' "$work/hqfiles"; then fail "store files in the HQ package"; fi
dpkg-deb -e "$hqdeb" "$work/hqcontrol"
grep -qx /etc/p4hq/p4hq.ini "$work/hqcontrol/conffiles" || fail "p4hq.ini is not a conffile"
grep -q '^Depends:.*libpq5' "$work/hqcontrol/control" || fail "HQ package: no Depends on libpq5"
if grep -E '^(Depends|Pre-Depends):.*mosquitto' "$work/hqcontrol/control"; then
  fail "the HQ package pulls Mosquitto"
fi
dpkg-deb -x "$hqdeb" "$work/hqroot"
"$work/hqroot/usr/sbin/p4hq" --version >/dev/null || fail "p4hq --version"
"$work/hqroot/usr/sbin/p4hq" --config "$work/hqroot/etc/p4hq/p4hq.ini" --check-config \
  >/dev/null || fail "the packaged p4hq.ini is invalid"
mkdir -p "$work/hqroot/bin" && cp /bin/kill "$work/hqroot/bin/kill"
for unit in p4hq.service p4hq@.service; do
  u=$unit
  # A template is verified through an instance of it.
  [ "$unit" = p4hq@.service ] && cp "$work/hqroot/lib/systemd/system/p4hq@.service" \
    "$work/hqroot/lib/systemd/system/p4hq@a.service" && u=p4hq@a.service
  SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --root="$work/hqroot" \
    "$work/hqroot/lib/systemd/system/$u" >"$work/verify-$unit.log" 2>&1 || true
  if grep -v -E "Failed to (connect|open).*bus|No such file or directory.*bus|postgresql.service|network-online.target|sysinit.target" \
      "$work/verify-$unit.log" | grep -E -i "error|invalid|unknown|not executable|failed"; then
    fail "systemd-analyze verify found problems in $unit"
  fi
done
echo "HQ package and units verified"

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#' > "$work/files"
for f in /usr/sbin/p4gw /usr/bin/p4term /usr/include/p4sync/p4term.h /usr/include/p4sync/p4t.h \
         /etc/p4gw/p4gw.ini /etc/p4gw/p4term.ini /etc/mosquitto/conf.d/p4sync.conf \
         /etc/mosquitto/p4sync.acl /lib/systemd/system/p4gw.service \
         /usr/lib/sysusers.d/p4gw.conf; do
  grep -qx "$f" "$work/files" || fail "missing $f in the package"
done
grep -q '/libp4term\.so\.0' "$work/files" || fail "missing libp4term.so.0"
grep -q '/pkgconfig/p4term\.pc$' "$work/files" || fail "missing p4term.pc"

dpkg-deb -e "$deb" "$work/control"
for f in /etc/p4gw/p4gw.ini /etc/mosquitto/conf.d/p4sync.conf; do
  grep -qx "$f" "$work/control/conffiles" || fail "$f is not a conffile"
done
grep -q '^Depends:.*mosquitto' "$work/control/control" || fail "no Depends on mosquitto"
grep -q '^Depends:.*libpaho-mqtt1.3' "$work/control/control" || fail "no shlibs Depends on paho"
if grep -E '^(Depends|Pre-Depends|Recommends):.*(postgresql|libpq)' "$work/control/control"; then
  fail "the store package pulls PostgreSQL"
fi
if grep -E '/p4hq' "$work/files"; then fail "HQ files in the store package"; fi

dpkg-deb -x "$deb" "$work/root"
"$work/root/usr/sbin/p4gw" --version >/dev/null || fail "p4gw --version"
# The unit is checked against the unpacked tree; "not executable" would mean a wrong path.
# The tree lacks the base system, so the base command the unit calls is copied in.
mkdir -p "$work/root/bin" && cp /bin/kill "$work/root/bin/kill"
SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --root="$work/root" \
  "$work/root/lib/systemd/system/p4gw.service" >"$work/verify.log" 2>&1 || true
if grep -v -E "Failed to (connect|open).*bus|No such file or directory.*bus|mosquitto.service|network-online.target|sysinit.target" \
    "$work/verify.log" | grep -E -i "error|invalid|unknown|not executable|failed" ; then
  fail "systemd-analyze verify found problems"
fi
echo "unit verified"

if [ "$(id -u)" = 0 ] && { [ "${CI:-}" = true ] || [ "${P4_DEB_INSTALL:-0}" = 1 ]; }; then
  if dpkg -s p4sync >/dev/null 2>&1; then fail "p4sync is already installed here"; fi
  if dpkg -s p4sync-hq >/dev/null 2>&1; then fail "p4sync-hq is already installed here"; fi
  installed=1
  dpkg -i "$deb" "$hqdeb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i"; }
  getent passwd p4hq >/dev/null || fail "user p4hq not created"
  [ "$(stat -c %U:%G:%a /etc/p4hq/p4hq.ini)" = root:p4hq:640 ] ||
    fail "/etc/p4hq/p4hq.ini not root:p4hq 0640"
  /usr/sbin/p4hq --config /etc/p4hq/p4hq.ini --check-config >/dev/null ||
    fail "installed p4hq.ini invalid"
  dpkg -r p4sync-hq >/dev/null
  [ ! -e /usr/sbin/p4hq ] || fail "p4hq left after remove"
  [ -e /etc/p4hq/p4hq.ini ] || fail "HQ conffile removed by remove (should stay until purge)"
  dpkg --purge p4sync-hq >/dev/null
  [ ! -e /etc/p4hq ] || fail "/etc/p4hq left after purge"
  getent passwd p4gw >/dev/null || fail "user p4gw not created"
  [ "$(stat -c %U:%a /var/lib/p4gw)" = p4gw:700 ] || fail "/var/lib/p4gw not p4gw 0700"
  [ "$(stat -c %G:%a /etc/p4gw/local.password)" = p4gw:640 ] ||
    fail "/etc/p4gw/local.password not group p4gw 0640"
  grep -q '^p4gw:' /etc/mosquitto/p4sync.passwd || fail "no p4gw account for the store broker"
  /usr/sbin/p4gw --config /etc/p4gw/p4gw.ini --check-config || fail "packaged config invalid"
  dpkg -r p4sync >/dev/null
  [ ! -e /usr/sbin/p4gw ] || fail "p4gw left after remove"
  [ -e /etc/p4gw/p4gw.ini ] || fail "conffile removed by remove (should stay until purge)"
  dpkg --purge p4sync >/dev/null
  installed=0
  [ ! -e /etc/p4gw/p4gw.ini ] || fail "conffile left after purge"
  [ ! -e /etc/p4gw/local.password ] || fail "gateway broker password left after purge"
  [ ! -e /etc/mosquitto/p4sync.passwd ] || fail "store broker password file left after purge"
  echo "installed, checked, removed and purged"
else
  echo "install step skipped (needs root and CI=true or P4_DEB_INSTALL=1)"
fi
echo "package ok"
