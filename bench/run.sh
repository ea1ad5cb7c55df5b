#!/usr/bin/env bash
# Hot-path overhead: the same program bare, with libcapguard.so preloaded but off (CAPGUARD
# unset), and enabled (CAPGUARD=1), in one run; prints ns per call and the ratio to bare.
# Usage: bench/run.sh [SCENARIO_LIB_DIR] [N]  (default: the CUDA test doubles in build/fakes)
set -u
cd "$(dirname "$0")/.."
LIBDIR=${1:-$PWD/build/fakes}
N=${2:-200000}
BIN=build/bench-hotpath-$(basename "$LIBDIR")
cc -O2 -I"${CUDA_HOME:-/usr/local/cuda}/include" -o "$BIN" bench/hotpath.c -L"$LIBDIR" -lcudart -lpthread \
  -Wl,-rpath,"$LIBDIR" || exit 1
export LD_LIBRARY_PATH=$LIBDIR
LOGS=$(mktemp -d)
"$BIN" "$N" >"$LOGS/bare"
LD_PRELOAD=$PWD/build/libcapguard.so "$BIN" "$N" >"$LOGS/inert"
CAPGUARD=1 CAPGUARD_LOG_DIR=$LOGS/logs LD_PRELOAD=$PWD/build/libcapguard.so "$BIN" "$N" >"$LOGS/on"
echo "runtime: $LIBDIR, $N calls per round, best of 5 rounds"
printf '%-28s %10s %10s %10s %8s %8s\n' call "bare ns" "off ns" "on ns" "off/bare" "on/bare"
paste "$LOGS/bare" "$LOGS/inert" "$LOGS/on" | awk -F'\t' '{ printf "%-28s %10.1f %10.1f %10.1f %8.2f %8.2f\n", $1, $2, $4, $6, $4 / $2, $6 / $2 }'
rm -rf "$LOGS"
