#!/usr/bin/env bash
# The GPU suite: the CPU suite's scenarios on real CUDA, built twice (dynamic libcudart, and
# static cudart as a plain nvcc build makes), plus PyTorch inside torch.cuda.graph. Prints one
# table: scenario, outcome with the fakes, outcome on the GPU, agree; and the legality matrix
# cell by cell (fakes vs GPU, and capguard's observe-mode prediction vs what CUDA did).
# Run from the repo root on a GPU machine, with build/ already built (make all fakes scenarios).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
W=${OUT:-/tmp}/gpu-work
rm -rf "$W" && mkdir -p "$W"
PY=${PYTHON:-python3}

echo "== machine"
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nvcc --version | tail -2 | head -1
gcc --version | head -1
ldd --version | head -1
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "nccl", torch.cuda.nccl.version())' 2>&1 | tail -1

echo "== build (real CUDA)"
DYN=$W/bin-dyn STA=$W/bin-static
mkdir -p "$DYN" "$STA"
for s in matrix sync_inside alloc_inside threads dlsym_cases lifecycle recorder unhooked devices; do
  gcc -O2 -rdynamic -I"$CUDA_HOME/include" -o "$DYN/$s" "tests/scenarios/$s.c" -L"$CUDA_HOME/lib64" -lcudart -ldl -lpthread \
    -Wl,-rpath,"$CUDA_HOME/lib64" || echo "BUILD FAIL dyn $s"
  [ "$s" = dlsym_cases ] || nvcc -O2 -o "$STA/$s" "tests/scenarios/$s.c" -lpthread -ldl 2>&1 | grep -v warning || true
done
for d in "$DYN" "$STA"; do
  gcc -O2 -I"$CUDA_HOME/include" -o "$d/driver_only" tests/scenarios/driver_only.c -ldl
  gcc -O2 -shared -fPIC -o "$d/nextlib.so" tests/scenarios/nextlib.c -ldl
done
gcc -O2 -shared -fPIC -I"$CUDA_HOME/include" -o "$DYN/early.so" tests/scenarios/early.c -L"$CUDA_HOME/lib64" -lcudart \
  -Wl,-rpath,"$CUDA_HOME/lib64"
nvcc -O2 -shared -Xcompiler -fPIC -o "$STA/early.so" tests/scenarios/early.c
gcc -O2 -I"$CUDA_HOME/include" -o "$DYN/logs_probe" tests/scenarios/logs_probe.c -L"$CUDA_HOME/lib64" -lcudart -lcuda \
  -lpthread -Wl,-rpath,"$CUDA_HOME/lib64" || echo "BUILD FAIL logs_probe"
gcc -O2 -rdynamic $(mpicc --showme:compile) -I"$CUDA_HOME/include" -o "$DYN/lazy_init" tests/scenarios/lazy_init.c \
  -L"$CUDA_HOME/lib64" -lnccl -lcudart -lpthread $(mpicc --showme:link) -Wl,-rpath,"$CUDA_HOME/lib64" || echo "BUILD FAIL lazy_init"
nm "$STA/matrix" | grep -q cudaStreamBeginCapture && echo "static build: cudart linked statically (no libcudart.so needed)"
ldd "$STA/matrix" | grep -q libcudart && echo "WARNING: static build links libcudart.so"

echo "== suites"
CG_FUZZ_SKIP=1 CG_CPU_ONLY=1 CG_OUTDIR=$W/fake tests/run.sh >"$W/fake.txt" 2>&1
CG_CPU_ONLY=0 CG_OUTDIR=$W/dyn CG_SCEN_DIR=$DYN CG_CUDA_LIBDIR=$CUDA_HOME/lib64 tests/run.sh >"$W/dyn.txt" 2>&1
CG_CPU_ONLY=0 CG_STATIC=1 CG_OUTDIR=$W/static CG_SCEN_DIR=$STA CG_CUDA_LIBDIR=$CUDA_HOME/lib64 tests/run.sh >"$W/static.txt" 2>&1
for k in fake dyn static; do printf '%-7s %s\n' "$k" "$(tail -1 "$W/$k.txt")"; grep '^FAIL' "$W/$k.txt" | head -20; done

outcome() { # the normalised outcome of one run: rc / fact / done lines
  [ -f "$1.out" ] && grep -E '^(rc|fact|done_)' "$1.out" | awk '{ printf "%s ", $0 }' | sed 's/rc //g; s/ $//'
}
echo "== table: scenario | fakes | GPU dynamic | GPU static | agree"
agree=0 disagree=0
for f in "$W"/fake/*.out; do
  tag=$(basename "$f" .out)
  case $tag in m.*) continue ;; esac
  a=$(outcome "$W/fake/$tag") b=$(outcome "$W/dyn/$tag") c=$(outcome "$W/static/$tag")
  [ -n "$b" ] || continue
  ok=yes
  [ "$a" = "$b" ] || ok=NO
  [ -z "$c" ] || [ "$a" = "$c" ] || ok=NO
  [ $ok = yes ] && agree=$((agree + 1)) || disagree=$((disagree + 1))
  printf '%-16s | %-34s | %-34s | %-34s | %s\n' "$tag" "$a" "$b" "${c:--}" "$ok"
done
echo "scenario runs: $agree agree, $disagree disagree"

echo "== legality matrix, cell by cell"
for mode in bare observe reject auto defer; do
  for k in dyn static; do
    n=$(grep -c '^cell' "$W/$k/m.$mode.out" 2>/dev/null)
    d=$(diff <(grep '^cell' "$W/fake/m.$mode.out") <(grep '^cell' "$W/$k/m.$mode.out") | grep -c '^>')
    printf 'matrix %-8s %-7s: %s cells, %s differ from the fakes\n' "$mode" "$k" "$n" "$d"
  done
done
diff <(grep '^cell' "$W/fake/m.bare.out") <(grep '^cell' "$W/dyn/m.bare.out") | grep '^[<>]' | head -40
for k in dyn static; do
  v=$(cat "$W/$k/m.observe.logs"/*.jsonl 2>/dev/null | grep '"ev":"violation"')
  printf 'observe prediction on GPU (%s): %s violations, %s predicted == returned, %s not\n' "$k" \
    "$(echo "$v" | grep -c .)" "$(echo "$v" | grep -c -E '"predicted":(9[0-9][0-9]),.*"real_returned":\1,')" \
    "$(echo "$v" | grep -v -c -E '"predicted":(9[0-9][0-9]),.*"real_returned":\1,')"
  echo "$v" | grep -v -E '"predicted":(9[0-9][0-9]),.*"real_returned":\1,' | cut -c1-400 | head -5
done

echo "== PyTorch inside torch.cuda.graph"
for v in clean sync item print lazy setlimit; do
  for mode in bare 1 reject observe; do
    if [ $mode = bare ]; then
      o=$(timeout 300 $PY tests/gpu/torch_capture.py $v 2>"$W/torch.$v.$mode.err")
    else
      o=$(CAPGUARD=$mode CAPGUARD_LOG_DIR=$W/torch.$v.$mode.logs LD_PRELOAD=$ROOT/build/libcapguard.so \
        timeout 300 $PY tests/gpu/torch_capture.py $v 2>"$W/torch.$v.$mode.err")
    fi
    printf 'torch %-5s %-8s | %s\n' "$v" "$mode" "$(echo "$o" | grep outcome | tr '\n' ' ')"
    grep '^capguard: \[' "$W/torch.$v.$mode.err" | head -3 | cut -c1-700
    cat "$W/torch.$v.$mode.logs"/*.jsonl 2>/dev/null | grep '"ev":"violation"' | grep -o '"python":\[[^]]*\]' | head -2
    cat "$W/torch.$v.$mode.logs"/*.jsonl 2>/dev/null | grep '"ev":"witness"' | grep -o '"entry":"[A-Za-z_0-9]*","code":[0-9]*\|"python":\[[^]]*\]' | head -2
  done
done

echo "== driver entry points handed out by cuGetProcAddress that capguard left unwrapped (static runs)"
cat "$W"/static/*.logs/*.jsonl 2>/dev/null | grep '"ev":"summary"' | grep -o '"proc_unmatched":[0-9]*' | sort | uniq -c
cat "$W"/static/*.logs/*.jsonl 2>/dev/null | grep '"ev":"proc_unmatched"' | sed 's/.*"ev"/"ev"/' | sort | uniq -c

echo "== the launcher under torchrun and mpirun (two ranks on the one GPU)"
rm -rf "$W/trun" "$W/mrun"
timeout 300 "$ROOT/build/capguard" run --log-dir "$W/trun" -- \
  torchrun --standalone --nproc-per-node 2 tests/gpu/torch_capture.py sync >"$W/trun.out" 2>&1
echo "torchrun: $(grep -c 'outcome capture completed' "$W/trun.out") of 2 ranks completed their capture; logs:"
cat "$W"/trun/*.jsonl 2>/dev/null | grep '"ev":"start"' | grep -o '"rank":[0-9]*,"world_size":[0-9]*,"rank_source":"[a-z]*"' | sort
cat "$W"/trun/*.jsonl 2>/dev/null | grep '"ev":"violation"' | grep -o '"rank":[0-9]*,.*"call":"[A-Za-z]*"' | sed 's/"tid":[0-9]*,//; s/"ts":[0-9.]*,//; s/"pid":[0-9]*,//' | sort | uniq -c
timeout 300 mpirun --allow-run-as-root --oversubscribe -np 2 "$ROOT/build/capguard" run --log-dir "$W/mrun" -- \
  "$DYN/sync_inside" device >"$W/mrun.out" 2>&1
echo "mpirun: $(grep -c 'rc end 0' "$W/mrun.out") of 2 ranks ended their capture with 0; logs:"
cat "$W"/mrun/*.jsonl 2>/dev/null | grep '"ev":"start"' | grep -o '"rank":[0-9]*,"world_size":[0-9]*,"rank_source":"[a-z]*"' | sort

echo "== the seed on the GPU: two processes share GPU 0 (IPC workspace path); one-rank NCCL re-initialised per call"
SEEDB=$W/bin-seed
mkdir -p "$SEEDB"
MPIC="$(mpicc --showme:compile) -I$CUDA_HOME/include"
MPIL="$(mpicc --showme:link)"
gcc -O2 -rdynamic $MPIC -o "$SEEDB/seed" tests/scenarios/seed.c -L"$CUDA_HOME/lib64" -lnccl -lcudart -lpthread $MPIL \
  -Wl,-rpath,"$CUDA_HOME/lib64" || echo "BUILD FAIL seed"
ldd "$SEEDB/seed" | grep -E 'libnccl|libcudart|libmpi' | sed 's/^/  /'
seedrun() { # seedrun TAG NP PATH MODE [capguard]
  local tag=$1 np=$2
  shift 2
  if [ "${3:-}" = capguard ]; then
    timeout 180 mpirun --allow-run-as-root --oversubscribe -np "$np" "$ROOT/build/capguard" run --log-dir "$W/$tag.logs" -- \
      "$SEEDB/seed" "$1" "$2" >"$W/$tag.out" 2>"$W/$tag.err"
  else
    timeout 180 mpirun --allow-run-as-root --oversubscribe -np "$np" "$SEEDB/seed" "$1" "$2" >"$W/$tag.out" 2>"$W/$tag.err"
  fi
  echo "$tag (exit $?):"
  grep '^rank' "$W/$tag.out" | grep -v warmup | sort -s -k2,2n | sed 's/^/  /'
}
seedrun seed.ipc.bare 2 ipc symmetric
seedrun seed.ipc.auto 2 ipc symmetric capguard
grep -E 'repeated \(4 times\)' "$W/seed.ipc.auto.err" | sed 's/^/  /'
seedrun seed.ipc.asym 2 ipc asymmetric capguard
grep -m2 'MPI_Allgather(' "$W/seed.ipc.asym.err" | cut -c1-400 | sed 's/^/  /'
seedrun seed.nccl1.bare 1 nccl symmetric
grep -m3 -i 'nccl\|error' "$W/seed.nccl1.bare.err" | cut -c1-300 | sed 's/^/  /'
seedrun seed.nccl1.auto 1 nccl symmetric capguard
grep -E 'repeated \(4 times\)|ncclCommInitRank' "$W/seed.nccl1.auto.err" | head -3 | cut -c1-400 | sed 's/^/  /'
for t in seed.ipc.auto seed.nccl1.auto; do
  echo "$t memo decisions (rank 0): $(cat "$W/$t.logs"/*r0.jsonl 2>/dev/null | grep '"ev":"memo"' | grep -o '"call":"[A-Za-z_]*","decision":"[a-z_]*"' | sed 's/"call":"//; s/","decision":"/ /; s/"$//' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
done

echo "== issue 11's fault checks on real CUDA (tests/fault/defects.sh, programs built against the GPU's libcudart)"
FB=$W/bin-fault
mkdir -p "$FB"
for src in tests/fault/*.c; do
  n=$(basename "$src" .c)
  case $n in
    *_lib) gcc -O2 -shared -fPIC -I"$CUDA_HOME/include" -Itests/scenarios -o "$FB/$n.so" "$src" -L"$CUDA_HOME/lib64" -lcudart \
      -ldl -Wl,-rpath,"$CUDA_HOME/lib64" ;;
    *_mpi) gcc -O2 $(mpicc --showme:compile) -I"$CUDA_HOME/include" -Itests/scenarios -o "$FB/$n" "$src" \
      -L"$CUDA_HOME/lib64" -lcudart -Wl,-rpath,"$CUDA_HOME/lib64" $(mpicc --showme:link) ;;
    *) gcc -O2 -I"$CUDA_HOME/include" -Itests/scenarios -o "$FB/$n" "$src" -L"$CUDA_HOME/lib64" -lcudart -ldl -lpthread \
      -Wl,-rpath,"$CUDA_HOME/lib64" ;;
  esac || echo "BUILD FAIL fault $n"
done
CG_REAL_CUDA=1 CG_CUDA_LIBDIR=$CUDA_HOME/lib64 CG_FAULT_DIR=$FB tests/fault/defects.sh >"$W/defects-gpu.txt" 2>&1
grep -E '^(PASS|FAIL)' "$W/defects-gpu.txt" | cut -c1-300
echo "defects on real CUDA: $(grep -c '^PASS' "$W/defects-gpu.txt") passed, $(grep -c '^FAIL' "$W/defects-gpu.txt") failed"

echo "== issue 14: the witness, lazy inits, VMM workspaces"
I14=$W/issue14
mkdir -p "$I14"
"$DYN/logs_probe" >"$I14/logs_probe.out" 2>&1
echo "driver error log (logs_probe) against tests/fakes/logs_probe.h200.txt: $(diff <(grep -E '^(cb|rc) ' "$I14/logs_probe.out") \
  <(grep -E '^(cb|rc) ' tests/fakes/logs_probe.h200.txt) >/dev/null && echo same || echo DIFFERENT)"
timeout 120 $PY tests/gpu/vmm_probe.py >"$I14/vmm_probe.out" 2>&1
echo "vmm probe (exit $?): $(grep '^fact' "$I14/vmm_probe.out" | cut -d' ' -f2- | tr '\n' ';')"
tail -3 "$I14/vmm_probe.out" | grep -v '^fact' | cut -c1-300 | sed 's/^/  /'
for api in ctypes bindings; do
  for m in bare 1 asym; do
    case $m in
      bare) timeout 180 mpirun --allow-run-as-root --oversubscribe -np 2 $PY tests/scenarios/py_vmm_seed.py $api symmetric \
        >"$I14/pv.$api.$m.out" 2>"$I14/pv.$api.$m.err" ;;
      1) timeout 180 mpirun --allow-run-as-root --oversubscribe -np 2 "$ROOT/build/capguard" run --log-dir "$I14/pv.$api.$m.logs" -- \
        $PY tests/scenarios/py_vmm_seed.py $api symmetric >"$I14/pv.$api.$m.out" 2>"$I14/pv.$api.$m.err" ;;
      asym) timeout 180 mpirun --allow-run-as-root --oversubscribe -np 2 "$ROOT/build/capguard" run --log-dir "$I14/pv.$api.$m.logs" -- \
        $PY tests/scenarios/py_vmm_seed.py $api asymmetric >"$I14/pv.$api.$m.out" 2>"$I14/pv.$api.$m.err" ;;
    esac
    echo "python vmm seed $api $m (exit $?): $(grep '^rank' "$I14/pv.$api.$m.out" | grep -v warmup | sort -s -k2,2n | tr '\n' ';')"
    grep -m2 -i 'error\|Traceback' "$I14/pv.$api.$m.err" | cut -c1-300 | sed 's/^/  /'
    [ $m = bare ] || echo "  served (rank 0): $(cat "$I14/pv.$api.$m.logs"/*r0.jsonl 2>/dev/null | grep '"ev":"memo"' | grep -o '"call":"[A-Za-z_]*","decision":"serve"' | cut -d'"' -f4 | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
  done
done

echo "== issue 14 part 7: a capture's device against its warm-up's (one GPU: the check must stay silent)"
timeout 120 $PY tests/gpu/device_probe.py >"$I14/device_probe.out" 2>&1
echo "device probe (exit $?): $(grep '^fact' "$I14/device_probe.out" | cut -d' ' -f2- | tr '\n' ';')"
grep -v '^fact' "$I14/device_probe.out" | tail -3 | cut -c1-300 | sed 's/^/  /'
echo "devices scenario (dyn): $(tr '\n' ' ' <"$W/dyn/dv.bare.out" 2>/dev/null); capguard's device warnings in every run of the suites and of PyTorch: $(cat "$W"/dyn/*.err "$W"/static/*.err "$W"/torch.*.err 2>/dev/null | grep -c 'begins on device')"

echo "== issue 13: hang diagnosis on the GPU"
H=$W/issue13
mkdir -p "$H"
# (1) the IPC seed with one rank's own cache missing inside the capture, under CAPGUARD=observe:
# it hangs as it does without capguard; the watchdog names the stuck rank; the job is ended by
# timeout's SIGTERM to mpirun (forwarded to the ranks: each dumps its flight recorder)
timeout -s TERM ${CG_HANG_SECONDS:-40} mpirun --allow-run-as-root --oversubscribe -np 2 -x CAPGUARD_WATCHDOG_MS=3000 \
  "$ROOT/build/capguard" run --policy observe --log-dir "$H/seedhang.logs" -- "$SEEDB/seed" ipc cached \
  >"$H/seedhang.out" 2>"$H/seedhang.err"
echo "seed ipc cached, observe (exit $? after timeout's SIGTERM at ${CG_HANG_SECONDS:-40} s):"
grep '^rank' "$H/seedhang.out" | grep -v warmup | sort -s -k2,2n | sed 's/^/  /'
grep -m4 'watchdog:' "$H/seedhang.err" | cut -c1-300 | sed 's/^/  /'
echo "  recorder dumps: $(cat "$H/seedhang.logs"/*.jsonl 2>/dev/null | grep -o '"ev":"recorder","reason":"[A-Z0-9a-z]*"' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
# (2) PyTorch: a background thread blocked in cudaStreamSynchronize outside any capture
CAPGUARD_WATCHDOG_MS=1000 timeout 120 "$ROOT/build/capguard" run --log-dir "$H/torchblocked.logs" -- \
  $PY tests/gpu/torch_blocked.py 4 >"$H/torchblocked.out" 2>"$H/torchblocked.err"
echo "torch_blocked (exit $?): $(tr '\n' ' ' <"$H/torchblocked.out")"
grep -m3 'watchdog:' "$H/torchblocked.err" | cut -c1-300 | sed 's/^/  /'
"$ROOT/build/capguard" report "$H/seedhang.logs" >"$H/seedhang.report" 2>&1
echo "capguard report on the seed's logs (exit $?):"
sed -n '/^HANG/,/^$/p' "$H/seedhang.report" | sed 's/^/  /'
# (3) the overhead of the watchdog and the recorder on real work
if [ "${CG_OVERHEAD_ROUNDS:-7}" != 0 ]; then
  echo "overhead (tests/gpu/overhead.sh):"
  PY=$PY ROUNDS=${CG_OVERHEAD_ROUNDS:-7} tests/gpu/overhead.sh 2>&1 | sed 's/^/  /'
fi
