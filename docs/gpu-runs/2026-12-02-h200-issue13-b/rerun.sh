#!/bin/bash
# second GPU pass of this session: the dyn suite (now with the recorder scenario), issue 13's
# hang runs with their logs kept (tarred), the overhead table
set -u
export PATH=/opt/torch/.venv/bin:$PATH
rm -rf build && cp -a .gpu/build build && rm -f /dev/shm/fakecuda.*
CUDA_HOME=/usr/local/cuda
W=$OUT/w; mkdir -p $W/dyn-bin $W/seed-bin
for s in matrix sync_inside alloc_inside threads dlsym_cases lifecycle recorder; do
  gcc -O2 -rdynamic -I$CUDA_HOME/include -o $W/dyn-bin/$s tests/scenarios/$s.c -L$CUDA_HOME/lib64 -lcudart -ldl -lpthread -Wl,-rpath,$CUDA_HOME/lib64
done
gcc -O2 -I$CUDA_HOME/include -o $W/dyn-bin/driver_only tests/scenarios/driver_only.c -ldl
gcc -O2 -shared -fPIC -o $W/dyn-bin/nextlib.so tests/scenarios/nextlib.c -ldl
gcc -O2 -shared -fPIC -I$CUDA_HOME/include -o $W/dyn-bin/early.so tests/scenarios/early.c -L$CUDA_HOME/lib64 -lcudart -Wl,-rpath,$CUDA_HOME/lib64
CG_CPU_ONLY=0 CG_OUTDIR=$W/dyn CG_SCEN_DIR=$W/dyn-bin CG_CUDA_LIBDIR=$CUDA_HOME/lib64 tests/run.sh > $OUT/dyn2.txt 2>&1
echo "dyn: $(tail -1 $OUT/dyn2.txt)"; grep -E '^FAIL|recorder' $OUT/dyn2.txt | cut -c1-200
gcc -O2 -rdynamic $(mpicc --showme:compile) -I$CUDA_HOME/include -o $W/seed-bin/seed tests/scenarios/seed.c -L$CUDA_HOME/lib64 -lnccl -lcudart -lpthread $(mpicc --showme:link) -Wl,-rpath,$CUDA_HOME/lib64
H=$OUT/issue13; mkdir -p $H
timeout -s TERM 30 mpirun --allow-run-as-root --oversubscribe -np 2 -x CAPGUARD_WATCHDOG_MS=3000 build/capguard run --policy observe --log-dir $H/seedhang.logs -- $W/seed-bin/seed ipc cached > $H/seedhang.out 2> $H/seedhang.err
echo "seedhang exit $?"
CAPGUARD_WATCHDOG_MS=1000 timeout 120 build/capguard run --log-dir $H/torchblocked.logs -- python3 tests/gpu/torch_blocked.py 4 > $H/torchblocked.out 2> $H/torchblocked.err
echo "torchblocked exit $?: $(tr '\n' ' ' < $H/torchblocked.out)"
build/capguard report $H/seedhang.logs > $H/report.txt 2>&1; echo "report exit $?"; head -30 $H/report.txt
(cd $OUT && tar czf issue13.tgz issue13 && rm -rf issue13)
PY=python3 ROUNDS=5 tests/gpu/overhead.sh 2>&1
rm -rf $W
