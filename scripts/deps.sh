#!/bin/sh
# Install the Debian packages capguard's build and tests need, or, when not root, print the
# exact command and stop. Usage: scripts/deps.sh build|test
set -u
need="uthash-dev"
[ "${1:-build}" = test ] && need="$need"
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "capguard: installing Debian packages:$missing"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null || {
    echo "capguard: apt-get install$missing failed" >&2; exit 1; }
else
  echo "capguard: missing Debian packages:$missing. Run:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
