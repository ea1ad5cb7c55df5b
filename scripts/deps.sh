#!/bin/sh
# Install the Debian packages capguard's build and tests need, or, when not root, print the
# exact command and stop. Usage: scripts/deps.sh build|test
# Each need is "package:check", check being a header that must exist or a command on PATH.
set -u
needs="uthash-dev:/usr/include/uthash.h libopenmpi-dev:mpicc openmpi-bin:mpirun libjansson-dev:/usr/include/jansson.h"
# clang + libclang-rt-dev: the fuzz target (tests/fuzz, libFuzzer); the check is a file of the
# libclang-rt-dev package itself, whatever clang version it brings (libclang_rt.fuzzer).
[ "${1:-build}" = bench ] && needs="$needs valgrind:valgrind"
# chromium: tests/report/report.sh opens capguard report's --html page headless.
[ "${1:-build}" = test ] && needs="$needs python3:python3 python3-mpi4py:/usr/lib/python3/dist-packages/mpi4py/__init__.py clang:clang libclang-rt-dev:/usr/share/doc/libclang-rt-dev/copyright chromium:chromium"
missing=""
for n in $needs; do
  pkg=${n%%:*} check=${n#*:}
  case $check in
    /*) [ -e "$check" ] && continue ;;
    *) command -v "$check" >/dev/null 2>&1 && continue ;;
  esac
  missing="$missing $pkg"
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
