#!/usr/bin/env bash
# make demo: a capture-violation demo. On a machine with a GPU the scenario programs are built
# against the real CUDA runtime; elsewhere they run on the test doubles in build/fakes.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && [ -e "$CUDA_HOME/lib64/libcudart.so" ]; then
  where="the GPU ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
  make -s SCEN_CUDA_LIB="$CUDA_HOME/lib64" SCEN_DIR=build/gpu-scenarios scenarios >/dev/null || exit 1
  S=$ROOT/build/gpu-scenarios
  export LD_LIBRARY_PATH=$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
else
  where="the CUDA test doubles (no GPU here)"
  S=$ROOT/build/scenarios
  export LD_LIBRARY_PATH=$ROOT/build/fakes${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
LOGS=$(mktemp -d /tmp/capguard-demo.XXXXXX)
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "capguard demo on $where"
echo "An engine captures its decode step into a CUDA graph; code written for eager mode calls"
echo "cudaDeviceSynchronize() \"to be safe\" and frees a cached block inside the capture."
say "1. Without capguard (CUDA's own answer: a bare error code, then a ruined capture):"
"$S/sync_inside" device
"$S/alloc_inside" free
say "2. With capguard in observe mode (CAPGUARD=observe): the same results, but named:"
CAPGUARD=observe CAPGUARD_LOG_DIR=$LOGS LD_PRELOAD=$ROOT/build/libcapguard.so "$S/sync_inside" device
say "3. With CAPGUARD=1 (the default table): the sync and the free are deferred to the capture's end; it completes:"
CAPGUARD=1 CAPGUARD_LOG_DIR=$LOGS LD_PRELOAD=$ROOT/build/libcapguard.so "$S/sync_inside" device
CAPGUARD=1 CAPGUARD_LOG_DIR=$LOGS LD_PRELOAD=$ROOT/build/libcapguard.so "$S/alloc_inside" free
say "4. A sync after a captured device-to-host copy (PyTorch .item() in a graph) is rejected, not deferred:"
CAPGUARD=1 CAPGUARD_LOG_DIR=$LOGS LD_PRELOAD=$ROOT/build/libcapguard.so "$S/sync_inside" d2h
say "The per-rank JSONL logs are in $LOGS:"
ls -1 "$LOGS"
