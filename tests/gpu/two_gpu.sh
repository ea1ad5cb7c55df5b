#!/usr/bin/env bash
# Issue 15: the seed's own shape on two GPUs, one rank per GPU, a real NCCL communicator between
# them. Every case runs bare and with capguard; prints one table (case | bare | capguard | as
# expected) and the bandwidth table. Never fails by exit code: the table is the result.
#   tests/gpu/two_gpu.sh                   on a machine with two GPUs: builds the scenarios against
#                                          real CUDA, NCCL and Open MPI (build/ made on the CPU
#                                          machine and carried: libcapguard.so, capguard)
#   CG_TWO_GPU_DRY=1 tests/gpu/two_gpu.sh  the same cases on the test doubles (FAKECUDA_DEVICES=2,
#                                          build/scenarios): the CPU dry run (tests/run.sh runs it;
#                                          CG_BIN, CG_SCEN_DIR, CG_CUDA_LIBDIR name other build folders)
# Environment: OUT (output folder, default /tmp), SWEEP_MAX (largest all-reduce in bytes; 256 MiB,
# dry 64 KiB), ROUNDS (bandwidth rounds per column, interleaved; 3), HANG_S (the bound on a case
# that hangs; 40, dry 8), PYTHON. NVLink multicast stays off (NCCL_NVLS_ENABLE=0; DEVICE-FACTS).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
W=${OUT:-/tmp}/two-gpu
rm -rf "$W" && mkdir -p "$W"
PY=${PYTHON:-python3}
DRY=${CG_TWO_GPU_DRY:-0}
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun --allow-run-as-root --oversubscribe -np 2 -x NCCL_NVLS_ENABLE)
BIN=${CG_BIN:-$ROOT/build} # libcapguard.so and capguard
if [ "$DRY" = 1 ]; then
  B=${CG_SCEN_DIR:-$ROOT/build/scenarios}
  export LD_LIBRARY_PATH=${CG_CUDA_LIBDIR:-$ROOT/build/fakes} FAKECUDA_DEVICES=2
  MPI+=(-x LD_LIBRARY_PATH -x FAKECUDA_DEVICES)
  SWEEP_MAX=${SWEEP_MAX:-65536} HANG_S=${HANG_S:-8}
  echo "== dry run on the test doubles (FAKECUDA_DEVICES=2)"
else
  B=$W/bin
  mkdir -p "$B"
  SWEEP_MAX=${SWEEP_MAX:-268435456} HANG_S=${HANG_S:-40}
  echo "== machine"
  date -u
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader
  nvidia-smi topo -m 2>/dev/null | head -4
  nvcc --version | tail -2 | head -1
  mpirun --version 2>&1 | head -1
  $PY -c 'import torch; print("torch", torch.__version__, "nccl", torch.cuda.nccl.version())' 2>&1 | tail -1
  MPIC="$(mpicc --showme:compile) -I$CUDA_HOME/include"
  MPIL="$(mpicc --showme:link)"
  for p in seed allreduce_graph; do
    gcc -O2 -rdynamic $MPIC -o "$B/$p" "tests/scenarios/$p.c" -L"$CUDA_HOME/lib64" -lnccl -lcudart -lpthread $MPIL \
      -Wl,-rpath,"$CUDA_HOME/lib64" || echo "BUILD FAIL $p"
  done
  gcc -O2 -rdynamic -I"$CUDA_HOME/include" -o "$B/devices" tests/scenarios/devices.c -L"$CUDA_HOME/lib64" -lcudart -ldl \
    -lpthread -Wl,-rpath,"$CUDA_HOME/lib64" || echo "BUILD FAIL devices"
fi
ROUNDS=${ROUNDS:-3}
CG=("$BIN/capguard" run)

# go TAG SECONDS MODE CMD...: two ranks; MODE bare | a CAPGUARD value (through `capguard run`, one
# log folder for both ranks). Output in $W/TAG.out (sorted by rank), stderr in $W/TAG.err.
go() {
  local tag=$1 secs=$2 mode=$3
  shift 3
  if [ "$mode" = bare ]; then
    timeout -s TERM "$secs" "${MPI[@]}" "$@" >"$W/$tag.out" 2>"$W/$tag.err"
  else
    timeout -s TERM "$secs" "${MPI[@]}" -x CAPGUARD_WATCHDOG_MS=${WATCHDOG_MS:-3000} ${GO_ENV:-} \
      "${CG[@]}" --policy "$mode" --log-dir "$W/$tag.logs" -- "$@" >"$W/$tag.out" 2>"$W/$tag.err"
  fi
  echo $? >"$W/$tag.status"
  sort -s -k2,2n "$W/$tag.out" -o "$W/$tag.out"
}
lines() { grep -E "^rank $2 " "$W/$1.out" | grep -v warmup | sed "s/^rank $2 //" | tr '\n' ';'; }
hung() { [ "$(cat "$W/$1.status")" = 124 ] && echo "hung (ended at ${HANG_S} s)" || echo "exit $(cat "$W/$1.status")"; }
rows=()
row() { rows+=("$(printf '%-44s | %-58s | %-58s | %s' "$1" "$2" "$3" "$4")"); }
yes_if() { if eval "$1"; then echo yes; else echo NO; fi; }

# ---- 1. the C seed, NCCL path: a wrapper built per call (unique id, broadcast, init, sync) ----
go s1.bare "$HANG_S" bare "$B/seed" nccl symmetric
go s1.cg 120 1 "$B/seed" nccl symmetric
"$BIN/capguard" report "$W/s1.cg.logs" >"$W/s1.report" 2>&1
ok1=$(yes_if '[ "$(lines s1.cg 0)" = "construct capture rc OK;endcapture rc 0;replay 1 result 3;replay 2 result 3;done;" ] &&
  [ "$(lines s1.cg 1)" = "$(lines s1.cg 0)" ] && ! grep -q "replay 2 result 3;done" <<<"$(lines s1.bare 0)" &&
  [ "$(grep -c "4 x init of ncclCommInitRank rank=[01] world=2 .*(1 served" "$W/s1.cg.err")" = 2 ]')
row "1 seed, NCCL path, 2 ranks x 1 GPU" "r0: $(lines s1.bare 0 | cut -c1-40) $(hung s1.bare)" \
  "r0 $(lines s1.cg 0 | grep -o 'replay 2 result [0-9]*'), r1 $(lines s1.cg 1 | grep -o 'replay 2 result [0-9]*'); repeats served on $(grep -c "4 x init of ncclCommInitRank rank=[01] world=2 .*(1 served" "$W/s1.cg.err") ranks" "$ok1"

# ---- 2. the Python shape of the seed: mpi4py, a VMM workspace exchanged (POSIX fds, pidfd_getfd) ----
for api in ctypes bindings; do
  # (cuda-bindings looks up entry points the test doubles' cuGetProcAddress does not list)
  [ "$api" = bindings ] && { [ "$DRY" = 1 ] || ! $PY -c 'import cuda.bindings.driver' 2>/dev/null; } && continue
  go s2.$api.bare "$HANG_S" bare $PY tests/scenarios/py_vmm_seed.py $api symmetric
  go s2.$api.cg 120 1 $PY tests/scenarios/py_vmm_seed.py $api symmetric
  ok2=$(yes_if '[ "$(lines s2.$api.cg 0)" = "construct capture rc OK;endcapture rc 0;done;" ] && [ "$(lines s2.$api.cg 1)" = "$(lines s2.$api.cg 0)" ] &&
    [ "$(lines s2.$api.bare 0)" != "$(lines s2.$api.cg 0)" ]')
  row "2 python seed, VMM workspace ($api)" "r0: $(lines s2.$api.bare 0 | cut -c1-50) $(hung s2.$api.bare)" "r0: $(lines s2.$api.cg 0 | cut -c1-50) r1 the same: $([ "$(lines s2.$api.cg 1)" = "$(lines s2.$api.cg 0)" ] && echo yes || echo no)" "$ok2"
done
if [ "$DRY" = 0 ]; then
  go s2.torch.bare "$HANG_S" bare $PY tests/gpu/torch_seed.py
  go s2.torch.cg 180 1 $PY tests/gpu/torch_seed.py
  ok2=$(yes_if 'grep -q "^rank 0 replay ok" "$W/s2.torch.cg.out" && grep -q "^rank 1 replay ok" "$W/s2.torch.cg.out" && ! grep -q "^rank 0 replay ok" "$W/s2.torch.bare.out"')
  row "2 torch seed: nn.Module AllReduce per call" "r0: $(lines s2.torch.bare 0 | cut -c1-50) $(hung s2.torch.bare)" "r0: $(lines s2.torch.cg 0 | cut -c1-50) r1: $(lines s2.torch.cg 1 | cut -c1-30)" "$ok2"
fi

# ---- 3. the asymmetric miss: one rank's own cache misses inside the capture ----
go s3.bare "$HANG_S" bare "$B/seed" ipc cached
go s3.obs "$HANG_S" observe "$B/seed" ipc cached
go s3.cg 120 1 "$B/seed" ipc cached
"$BIN/capguard" report "$W/s3.obs.logs" >"$W/s3.report" 2>&1
stuck=$(sed -n '/^HANG/,/^$/p' "$W/s3.report" | grep 'capture [0-9]' | grep -m1 -o 'rank [0-9]* blocked [0-9.]* s in [A-Za-z_]*')
ok3=$(yes_if '[ "$(cat "$W/s3.bare.status")" = 124 ] && grep -q "done" <<<"$(lines s3.cg 0)" && grep -q "done" <<<"$(lines s3.cg 1)" && [ -n "$stuck" ]')
row "3 asymmetric miss (one rank's cache)" "$(hung s3.bare); report of observe: ${stuck:-none}" "r1: $(lines s3.cg 1 | grep -o 'construct capture rc [A-Z]* [A-Za-z_]* *[0-9]*' | head -1); both done: $(grep -c 'done' "$W/s3.cg.out")" "$ok3"

# ---- 4. ranks that captured different collectives (SGLang PR #37933) ----
go s4.bare "$HANG_S" bare "$B/allreduce_graph" diverge
go s4.cg "$HANG_S" 1 "$B/allreduce_graph" diverge
ok4=$(yes_if 'grep -q "its NCCL collectives differ from rank" "$W/s4.cg.err"')
row "4 ranks captured different collectives" "$(hung s4.bare), nothing said: $(grep -c capguard "$W/s4.bare.err")" \
  "named at the first launch on $(grep -c 'its NCCL collectives differ from rank' "$W/s4.cg.err") ranks; $(hung s4.cg)" "$ok4"

# ---- 6. observe changes nothing: the all-reduces' result bytes, bare and under observe ----
go s6.bare 300 bare "$B/allreduce_graph" sweep "$SWEEP_MAX" 4 2
go s6.obs 300 observe "$B/allreduce_graph" sweep "$SWEEP_MAX" 4 2
ok6=$(yes_if '[ -n "$(grep " sum " "$W/s6.bare.out")" ] && [ "$(grep " sum " "$W/s6.bare.out")" = "$(grep " sum " "$W/s6.obs.out")" ] && ! grep -q "check [0-9]* bad" "$W/s6.bare.out" "$W/s6.obs.out"')
row "6 observe changes nothing" "$(grep -c ' sum ' "$W/s6.bare.out") result hashes; checks bad: $(grep -c 'check [0-9]* bad' "$W/s6.bare.out")" \
  "the same hashes: $(cmp -s <(grep ' sum ' "$W/s6.bare.out") <(grep ' sum ' "$W/s6.obs.out") && echo yes || echo no)" "$ok6"

# ---- 7. a capture begun on a device its warm-up did not use (issue 14, part 7): one process ----
for v in wrong right; do
  timeout 60 "$B/devices" $v >"$W/s7.$v.bare.out" 2>"$W/s7.$v.bare.err"
  echo $? >"$W/s7.$v.bare.status"
  CAPGUARD=1 CAPGUARD_LOG_DIR="$W/s7.$v.cg.logs" LD_PRELOAD="$BIN/libcapguard.so" timeout 60 "$B/devices" $v \
    >"$W/s7.$v.cg.out" 2>"$W/s7.$v.cg.err"
  echo $? >"$W/s7.$v.cg.status"
done
rc7() { grep '^rc ' "$W/$1.out" | awk '{ printf "%s=%s ", $2, $3 }'; }
ok7=$(yes_if '[ "$(rc7 s7.wrong.bare)" = "$(rc7 s7.wrong.cg)" ] && [ -n "$(rc7 s7.wrong.cg)" ] &&
  [ "$(grep -c "capture 1 begins on device 0 .*warm-up allocated on device 1 only" "$W/s7.wrong.cg.err")" = 1 ] &&
  [ "$(grep -c "begins on device" "$W/s7.right.cg.err")" = 0 ]')
row "7 capture on another device than warm-up" "$(rc7 s7.wrong.bare)" \
  "$(rc7 s7.wrong.cg)named: $(grep -c 'begins on device 0' "$W/s7.wrong.cg.err"); right device: $(grep -c 'begins on device' "$W/s7.right.cg.err")" "$ok7"

echo "== table"
printf '%-44s | %-58s | %-58s | %s\n' case bare capguard "as expected"
printf '%s\n' "${rows[@]}"
for r in "${rows[@]}"; do # what a case not as expected printed
  case $r in *"| NO") ;; *) continue ;; esac
  n=${r%% *}
  echo "-- case $n, not as expected:"
  for f in "$W"/s$n.*.status; do
    t=$(basename "$f" .status)
    echo "  $t: exit $(cat "$f"); $(grep -v warmup "$W/$t.out" | head -8 | tr '\n' ';' | cut -c1-400)"
    grep -m3 -E 'capguard: \[|rror' "$W/$t.err" | cut -c1-300 | sed 's/^/    /'
  done
done

# ---- 5. benchmarks: a memo hit against a real init; a captured graph of all-reduces, swept ----
echo "== benchmarks (median of $ROUNDS rounds, interleaved; spread = (max - min) / median)"
med() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
  printf "%.4g ±%.0f%%\n", m, m ? (v[NR] - v[1]) / m * 100 : 0 }'; }
for r in $(seq 1 "$ROUNDS"); do
  go b.init.bare.$r 300 bare "$B/allreduce_graph" init 20 keep
  GO_ENV="-x CAPGUARD_MEMO=always" go b.init.cg.$r 300 1 "$B/allreduce_graph" init 20 keep
  go b.sweep.bare.$r 600 bare "$B/allreduce_graph" sweep "$SWEEP_MAX" 20 10
  go b.sweep.cg.$r 600 1 "$B/allreduce_graph" sweep "$SWEEP_MAX" 20 10
done
ib=$(cat "$W"/b.init.bare.*.out | awk '$1 == "rank" && $2 == 0 && $3 == "init" { print $4 }' | med)
ic=$(cat "$W"/b.init.cg.*.out | awk '$1 == "rank" && $2 == 0 && $3 == "init" { print $4 }' | med)
echo "communicator construction, 20 at one site (rank 0, us each): real ncclCommInitRank $ib | capguard, memo hits (CAPGUARD_MEMO=always) $ic; served: $(grep -h -o '20 x init of ncclCommInitRank rank=0 .*(19 served' "$W"/b.init.cg.1.err | wc -l) of 1 runs checked"
echo "captured graph of 20 two-rank all-reduces, replayed 10 times (rank 0; bus bandwidth GB/s):"
printf '%12s | %-16s | %-16s | %s\n' bytes bare capguard "capguard / bare"
for b in $(awk '$1 == "rank" && $2 == 0 && $3 == "bw" { print $4 }' "$W/b.sweep.bare.1.out"); do
  x=$(cat "$W"/b.sweep.bare.*.out | awk -v b="$b" '$2 == 0 && $3 == "bw" && $4 == b { print $6 }' | med)
  y=$(cat "$W"/b.sweep.cg.*.out | awk -v b="$b" '$2 == 0 && $3 == "bw" && $4 == b { print $6 }' | med)
  printf '%12s | %-16s | %-16s | %s\n' "$b" "$x" "$y" "$(awk -v x="${x%% *}" -v y="${y%% *}" 'BEGIN { if (x > 0) printf "%.3f", y / x; else print "-" }')"
done
if command -v all_reduce_perf >/dev/null; then
  for z in 0 1; do
    "${MPI[@]}" all_reduce_perf -b 8 -e 256M -f 8 -g 1 -G 20 -z $z >"$W/nt.bare.$z.out" 2>&1
    "${MPI[@]}" "${CG[@]}" --log-dir "$W/nt.cg.$z.logs" -- all_reduce_perf -b 8 -e 256M -f 8 -g 1 -G 20 -z $z >"$W/nt.cg.$z.out" 2>&1
    echo "nccl-tests -G 20 -z $z: bare avg busbw $(grep -o 'Avg bus bandwidth.*' "$W/nt.bare.$z.out"), capguard $(grep -o 'Avg bus bandwidth.*' "$W/nt.cg.$z.out")"
  done
else
  echo "nccl-tests (all_reduce_perf) is not on this machine: not run"
fi
