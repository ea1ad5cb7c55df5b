#!/usr/bin/env bash
# make demo: the seed's bug (TensorRT-LLM #8781 / PR #8803) reproduced and diagnosed. Two MPI ranks
# build an "allreduce wrapper" per call (MPI_Comm_split, cudaMalloc workspace, IPC handles,
# MPI_Allgather, cudaIpcOpenMemHandle, cudaDeviceSynchronize "to be safe", MPI_Barrier), in graph
# warm-up and again inside the capture. On a GPU machine the program is built against the real
# CUDA runtime (two processes share GPU 0; the NCCL path when two GPUs are present); elsewhere it
# runs on the CUDA and NCCL test doubles in build/fakes.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
path=ipc
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && [ -e "$CUDA_HOME/lib64/libcudart.so" ]; then
  gpus=$(nvidia-smi -L | wc -l)
  where="real CUDA ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $gpus GPU(s))"
  make -s SCEN_CUDA_LIB="$CUDA_HOME/lib64" SCEN_DIR=build/gpu-scenarios scenarios >/dev/null || exit 1
  S=$ROOT/build/gpu-scenarios
  export LD_LIBRARY_PATH=$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  [ "$gpus" -ge 2 ] && path=nccl
else
  where="the CUDA and NCCL test doubles (no GPU here)"
  S=$ROOT/build/scenarios
  export LD_LIBRARY_PATH=$ROOT/build/fakes${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
LOGS=$(mktemp -d /tmp/capguard-demo.XXXXXX)
MPIRUN="timeout 120 mpirun --oversubscribe --allow-run-as-root -np 2"
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
ranks() { grep '^rank' | sort -s -k2,2n; }

say "capguard demo: the seed, on $where ($path path)"
echo "Two ranks rebuild their allreduce wrapper per call: 3 times in warm-up, then once inside the"
echo "CUDA-graph capture, destroying the previous one first, as an object going out of scope would."

say "1. Without capguard:"
$MPIRUN "$S/seed" $path symmetric 2>/dev/null | ranks | grep -v warmup
echo "-> inside the capture the rebuild calls cudaMalloc (refused: 900) or a communicator init; the"
echo "   capture is ruined (901) and nothing says which call or where. Had one rank rebuilt alone,"
echo "   it would block in MPI_Comm_split for ever while the other waits in the next barrier."

say "2. With capguard (CAPGUARD=1, the default memo scope 'capture'):"
$MPIRUN "$ROOT/build/capguard" run --log-dir "$LOGS/auto" -- "$S/seed" $path symmetric 2>"$LOGS/auto.err" | ranks | grep -v warmup
grep -E 'repeated \(4 times\)|cudaDeviceSynchronize\(\)' "$LOGS/auto.err" | sort -u | head -4
echo "-> the communicator, the workspace, the handle exchange, the IPC mappings and the barrier are"
echo "   served from what warm-up built (memo keyed by rank, world size, dtype and what tells groups"
echo "   and buffers apart); the 'to be safe' sync is deferred to the capture's end; the graph replays"
echo "   with the right sum on every rank. Every decision is in the per-rank logs."

say "3. One rank's memo misses (its capture-time wrapper is for another dtype):"
$MPIRUN "$ROOT/build/capguard" run --log-dir "$LOGS/asym" -- "$S/seed" ipc asymmetric 2>"$LOGS/asym.err" | ranks | grep -E 'construct|done'
grep -m1 'MPI_Allgather(' "$LOGS/asym.err"
echo "-> instead of a hang, that rank gets MPI_ERR_OTHER at once, named: rank, call, communicator,"
echo "   key, site; the other rank completes; both reach the end."

say "Per-rank JSONL logs:"
find "$LOGS" -name '*.jsonl' | sort
