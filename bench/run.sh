#!/usr/bin/env bash
# Hot-path overhead: the same program bare, with libcapguard.so preloaded but off (CAPGUARD
# unset), and enabled (CAPGUARD=1, no capture active), in one run. The three are interleaved,
# ROUNDS times, and each call's best time per mode is kept (noise only ever adds time).
# Prints ns per call and the ratio to bare.
# Usage: bench/run.sh [RUNTIME_LIB_DIR] [N] [ROUNDS]  (default: the CUDA test doubles in build/fakes)
set -u
cd "$(dirname "$0")/.."
LIBDIR=${1:-$PWD/build/fakes}
N=${2:-200000}
ROUNDS=${3:-5}
BIN=build/bench-hotpath-$(basename "$LIBDIR")
cc -O2 -I"${CUDA_HOME:-/usr/local/cuda}/include" -o "$BIN" bench/hotpath.c -L"$LIBDIR" -lcudart -lpthread \
  -Wl,-rpath,"$LIBDIR" || exit 1
export LD_LIBRARY_PATH=$LIBDIR
LOGS=$(mktemp -d)
for r in $(seq "$ROUNDS"); do
  "$BIN" "$N" >>"$LOGS/bare"
  LD_PRELOAD=$PWD/build/libcapguard.so "$BIN" "$N" >>"$LOGS/off"
  CAPGUARD=1 CAPGUARD_LOG_DIR=$LOGS/logs LD_PRELOAD=$PWD/build/libcapguard.so "$BIN" "$N" >>"$LOGS/on"
done
best() { awk -F'\t' '{ if (!($1 in b) || $2 < b[$1]) b[$1] = $2; if (!($1 in o)) o[$1] = n++ } END { for (k in b) print o[k] "\t" k "\t" b[k] }' "$1" | sort -n | cut -f2-; }
echo "runtime: $LIBDIR; $N calls per timing, best of 5 timings x $ROUNDS interleaved process runs per mode"
printf '%-28s %10s %10s %10s %8s %8s\n' call "bare ns" "off ns" "on ns" "off/bare" "on/bare"
paste <(best "$LOGS/bare") <(best "$LOGS/off") <(best "$LOGS/on") |
  awk -F'\t' '{ printf "%-28s %10.1f %10.1f %10.1f %8.2f %8.2f\n", $1, $2, $4, $6, $4 / $2, $6 / $2 }'
rm -rf "$LOGS"
