#!/usr/bin/env bash
# Every test that needs no GPU: the scenarios on the CUDA test doubles, with and without
# capguard, under each policy; the launcher; bad configuration. One line per check
# ("PASS name" / "FAIL name: why"); the last line is "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
LIB=${CG_LIB:-$ROOT/build/libcapguard.so}
# A sanitizer build preloads its runtime first (make sanitize sets CG_PRELOAD_PREFIX="libasan.so.8:").
PRE=${CG_PRELOAD_PREFIX:-}
# ... and its library also needs the sanitizer runtimes (make sanitize: 'libasan\.so|libubsan\.so').
NEEDED_OK=${CG_NEEDED_OK:-libc\.so}
# What runs without capguard preloads (make sanitize: the runtime, for the uninstrumented python
# that loads the instrumented libcudart; libtsan cannot be loaded later).
BARE_PRE=${CG_BARE_PRELOAD:-}
# The GPU suite (tests/gpu/run.sh) runs the same checks on real CUDA: it points these at the
# scenarios built against real CUDA, keeps the outputs, and skips the CPU-only parts.
FAKES=${CG_CUDA_LIBDIR:-$ROOT/build/fakes}
S=${CG_SCEN_DIR:-$ROOT/build/scenarios}
CPU_ONLY=${CG_CPU_ONLY:-1}
STATIC=${CG_STATIC:-0}
if [ -n "${CG_OUTDIR:-}" ]; then
  T=$CG_OUTDIR
  mkdir -p "$T"
else
  T=$(mktemp -d /tmp/capguard-test.XXXXXX)
  trap 'rm -rf "$T"' EXIT
fi
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
expect_eq() { # name actual expected
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got [$2], expected [$3]"; fi
}

# run MODE TAG CMD...: output in $T/TAG.out, stderr in $T/TAG.err, logs in $T/TAG.logs.
# MODE: bare (no capguard) | inert (preloaded, CAPGUARD unset) | a CAPGUARD value.
run() {
  local mode=$1 tag=$2
  shift 2
  local env=(LD_LIBRARY_PATH="$FAKES")
  case $mode in
    bare) [ -z "$BARE_PRE" ] || env+=(LD_PRELOAD="$BARE_PRE") ;;
    inert) env+=(LD_PRELOAD="$PRE$LIB") ;;
    *) env+=(LD_PRELOAD="$PRE$LIB" CAPGUARD="$mode" CAPGUARD_LOG_DIR="$T/$tag.logs") ;;
  esac
  (cd "$T" && timeout 120 env -u CAPGUARD "${env[@]}" ${EXTRA_ENV:-} "$@" >"$T/$tag.out" 2>"$T/$tag.err")
  echo $? >"$T/$tag.status"
}
out() { cat "$T/$1.out"; }
rcs() { awk '$1 == "rc" { printf "%s=%s ", $2, $3 }' "$T/$1.out" | sed 's/ $//'; }
log() { cat "$T/$1.logs"/*.jsonl 2>/dev/null; }
nviol() { log "$1" | grep -c '"ev":"violation"'; }

# ---- the test doubles follow DEVICE-FACTS.md ----
if [ "$CPU_ONLY" = 0 ]; then :
elif LD_LIBRARY_PATH="$FAKES" "$FAKES/selftest" >"$T/selftest.out" 2>&1; then
  ok "fakes: every cell of the DEVICE-FACTS legality matrix ($(tail -1 "$T/selftest.out"))"
else
  bad "fakes: selftest" "$(grep -v '^ok' "$T/selftest.out" | tail -5 | tr '\n' ' ')"
fi

if [ "$CPU_ONLY" = 1 ]; then
  if LD_LIBRARY_PATH="$FAKES" timeout 300 "$FAKES/nccl_selftest" >"$T/nccl_selftest.out" 2>&1; then
    ok "fakes: NCCL double (ranks really wait in init, collectives move data, capture rules) ($(tail -1 "$T/nccl_selftest.out"))"
  else
    bad "fakes: nccl_selftest" "$(grep -v '^ok' "$T/nccl_selftest.out" | tail -5 | tr '\n' ' ')"
  fi
fi

# ---- the legality matrix under capguard ----
run bare m.bare "$S/matrix"
run inert m.inert "$S/matrix"
run observe m.observe "$S/matrix"
run reject m.reject "$S/matrix"
run 1 m.auto "$S/matrix"
run defer m.defer "$S/matrix"
ncells=$(grep -c '^cell' "$T/m.bare.out")
[ "$ncells" -ge 700 ] && ok "matrix: $ncells cells played" || bad "matrix: cells" "only $ncells"
expect_eq "matrix: preloaded but CAPGUARD unset is inert (same results)" "$(out m.inert | md5sum)" "$(out m.bare | md5sum)"
[ -s "$T/m.inert.err" ] && bad "matrix: inert writes nothing on stderr" "$(head -2 "$T/m.inert.err")" || ok "matrix: inert writes nothing on stderr"
[ -e "$T/m.inert.logs" ] && bad "matrix: inert creates no log" "log dir exists" || ok "matrix: inert creates no log"
expect_eq "matrix: observe returns exactly what CUDA returns, every cell" "$(out m.observe | md5sum)" "$(out m.bare | md5sum)"
# observe predicts: one violation per refused cell, with the code CUDA returned
nrefused=$(awk '$1 == "cell" && $7 != 0' "$T/m.bare.out" | wc -l)
npredicted=$(log m.observe | grep '"ev":"violation"' | grep -c -E '"predicted":(9[0-9][0-9]),.*"real_returned":\1,')
nwrong=$(log m.observe | grep '"ev":"violation"' | grep -v -c -E '"predicted":(9[0-9][0-9]),.*"real_returned":\1,')
expect_eq "matrix: observe names every refused cell with CUDA's own code ($nrefused cells)" "$npredicted" "$nrefused"
expect_eq "matrix: observe never mispredicts or reports a legal call" "$nwrong" "0"
# reject: the same error, but the capture stays valid
expect_eq "matrix: reject returns CUDA's error and keeps every capture valid" "$(out m.reject | md5sum)" \
  "$(awk '$1 == "cell" { if ($7 != 0) $8 = 0; print; next } { print }' "$T/m.bare.out" | md5sum)"
# auto (CAPGUARD=1): every capture completes; only legacy-stream work on a blocking capture is refused
auto_expect=$(awk '$1 == "cell" { if ($7 != 0) { $7 = ($7 == 906) ? 906 : 0; $8 = 0 } print; next } { print }' "$T/m.bare.out")
expect_eq "matrix: CAPGUARD=1 completes every capture (906 legacy work refused)" "$(out m.auto | md5sum)" "$(echo "$auto_expect" | md5sum)"
expect_eq "matrix: CAPGUARD=defer completes every capture" "$(out m.defer | md5sum)" "$(echo "$auto_expect" | md5sum)"
if command -v python3 >/dev/null; then
  bad_lines=$(log m.observe | python3 -c 'import sys, json
n = 0
for line in sys.stdin:
    try: json.loads(line)
    except Exception: n += 1
print(n)')
  expect_eq "log: every line of the observe log is valid JSON" "$bad_lines" "0"
fi

# ---- host synchronization inside a capture ----
scen_sync() { # variant bare-rcs auto-rcs reject-rcs
  local v=$1
  run bare "s.$v.bare" "$S/sync_inside" "$v"
  run 1 "s.$v.auto" "$S/sync_inside" "$v"
  run reject "s.$v.reject" "$S/sync_inside" "$v"
  run observe "s.$v.observe" "$S/sync_inside" "$v"
  expect_eq "sync/$v: without capguard CUDA refuses and the capture fails" "$(rcs "s.$v.bare")" "$2"
  expect_eq "sync/$v: CAPGUARD=1" "$(rcs "s.$v.auto")" "$3"
  expect_eq "sync/$v: CAPGUARD=reject keeps the capture valid" "$(rcs "s.$v.reject")" "$4"
  expect_eq "sync/$v: observe returns what CUDA returns" "$(out "s.$v.observe")" "$(out "s.$v.bare")"
}
scen_sync other "sync=900 end=901" "sync=0 end=0" "sync=900 end=0"
scen_sync device "sync=900 end=901" "sync=0 end=0" "sync=900 end=0"
scen_sync capturing "sync=900 end=901" "sync=0 end=0" "sync=900 end=0"
scen_sync query "sync=900 end=901" "sync=0 end=0" "sync=900 end=0"
scen_sync d2h "sync=900 end=901" "sync=900 end=0" "sync=900 end=0"
grep -q -E '(cudaStreamSynchronize|cuStreamSynchronize).*device-to-host copy at' "$T/s.d2h.auto.err" &&
  ok "sync/d2h: the rejection names the captured device-to-host copy" ||
  bad "sync/d2h: names the copy" "$(head -3 "$T/s.d2h.auto.err")"
grep -q -E 'capture 1 was invalidated \(901\), caused by (cudaDeviceSynchronize|cuCtxSynchronize)' "$T/s.device.observe.err" &&
  ok "sync/device: observe names the first violation as the cause of the 901" ||
  bad "sync/device: cause of 901" "$(cat "$T/s.device.observe.err" | head -5)"
grep -q -E '(cudaStreamSynchronize|cuStreamSynchronize)\(stream=.*during capture 1 \(global.*deferred until' "$T/s.capturing.auto.err" &&
  ok "sync/capturing: stderr names call, stream, capture, mode and action" ||
  bad "sync/capturing: stderr line" "$(head -3 "$T/s.capturing.auto.err")"
run 1 s.order.auto "$S/sync_inside" order
expect_eq "sync/order: a deferred device sync returns at once and runs when the capture ends" \
  "$(grep done_ "$T/s.order.auto.out" | tr '\n' ' ')" "done_before_end 0 done_after_end 1 "
log s.order.auto | grep -q -E '"ev":"deferred_run","call":"(cudaDeviceSynchronize|cuCtxSynchronize|cuCtxSynchronize_v2)".*"rc":0' &&
  ok "sync/order: the log records the deferred sync's run" || bad "sync/order: deferred_run" "$(log s.order.auto | tail -3)"

# ---- allocation and free inside a capture ----
scen_alloc() { # variant bare-rcs auto-rcs
  run bare "a.$1.bare" "$S/alloc_inside" "$1"
  run 1 "a.$1.auto" "$S/alloc_inside" "$1"
  expect_eq "alloc/$1: without capguard" "$(rcs "a.$1.bare")" "$2"
  expect_eq "alloc/$1: CAPGUARD=1" "$(rcs "a.$1.auto")" "$3"
}
scen_alloc malloc "alloc=900 end=901" "alloc=0 end=0"
scen_alloc relaxed "alloc=0 end=0" "alloc=0 end=0"
scen_alloc free "free=900 end=901" "free=0 end=0"
scen_alloc worker "alloc=900 end=901" "alloc=0 end=0"
expect_eq "alloc/relaxed: PyTorch's relaxed allocation is never reported" "$(nviol a.relaxed.auto)" "0"
log a.free.auto | tr -d ' ' | awk '/"ev":"capture_end"/ { e = NR } /"ev":"deferred_run","call":"(cudaFree|cuMemFree_v2)"/ { d = NR } END { exit !(e && d > e) }' &&
  ok "alloc/free: the deferred cudaFree runs after the capture ends" || bad "alloc/free: deferred order" "$(log a.free.auto | cut -c1-150)"
grep -q -E '(cudaMallocHost|cuMemHostAlloc|cuMemAllocHost_v2).*relaxed' "$T/a.worker.auto.err" && ok "alloc/worker: the worker thread's pinned allocation is named and relaxed" ||
  bad "alloc/worker: named" "$(head -3 "$T/a.worker.auto.err")"

# ---- two threads ----
run bare t.g.bare "$S/threads" global
run 1 t.g.auto "$S/threads" global
run bare t.t.bare "$S/threads" threadlocal
run 1 t.t.auto "$S/threads" threadlocal
expect_eq "threads/global: another thread's allocation breaks a Global capture" "$(rcs t.g.bare)" "alloc=900 end=901"
expect_eq "threads/global: CAPGUARD=1 relaxes it" "$(rcs t.g.auto)" "alloc=0 end=0"
expect_eq "threads/threadlocal: legal under a ThreadLocal capture" "$(rcs t.t.bare)" "alloc=0 end=0"
expect_eq "threads/threadlocal: nothing reported" "$(rcs t.t.auto) $(nviol t.t.auto)" "alloc=0 end=0 0"

# ---- Python through ctypes: the Python line is named, with the GIL held or released ----
pythons=$(ls /root/.pyenv/versions/3.1[123]*/bin/python3 2>/dev/null)
[ -n "${PYTHON:-}" ] && pythons=$PYTHON
command -v python3 >/dev/null && pythons="python3 $pythons"
# one interpreter per Python version, as "VERSION:PATH" words
pyvers=""
for py in $pythons; do
  pv=$($py -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  case " $pyvers " in *" $pv:"*) continue ;; esac
  pyvers="$pyvers $pv:$py"
done
if [ "$STATIC" = 0 ]; then
  pyline=$(grep -n 'return rt.cudaDeviceSynchronize()' tests/scenarios/py_capture.py | cut -d: -f1)
  for pvp in $pyvers; do
    pv=${pvp%%:*} py=${pvp#*:}
    for gil in gil nogil; do
      tag=py.$pv.$gil
      run bare "$tag.bare" "$py" "$ROOT/tests/scenarios/py_capture.py" $gil
      run 1 "$tag.auto" "$py" "$ROOT/tests/scenarios/py_capture.py" $gil
      expect_eq "python $pv $gil: without capguard / with CAPGUARD=1" "$(rcs "$tag.bare") | $(rcs "$tag.auto")" \
        "sync=900 end=901 | sync=0 end=0"
      grep -q "at py_capture.py:$pyline in step" "$T/$tag.auto.err" && ok "python $pv $gil: stderr names the Python line" ||
        bad "python $pv $gil: line" "$(head -2 "$T/$tag.auto.err")"
      log "$tag.auto" | grep -q "\"python\":\[{\"file\":\"[^\"]*py_capture.py\",\"line\":$pyline,\"func\":\"step\"},{\"file\":\"[^\"]*py_capture.py\",\"line\":[0-9]*,\"func\":\"<module>\"}" &&
        ok "python $pv $gil: the log has the frames, innermost first" || bad "python $pv $gil: log frames" "$(log "$tag.auto" | grep violation | cut -c1-300)"
    done
  done
fi

if command -v python3 >/dev/null && [ "$STATIC" = 0 ]; then
  wline=$(grep -n 'rc = torch.synchronize(rt)' tests/scenarios/py_wrapped.py | cut -d: -f1)
  run 1 py.wrapped python3 "$ROOT/tests/scenarios/py_wrapped.py"
  grep -q "at py_wrapped.py:$wline in <module>" "$T/py.wrapped.err" &&
    log py.wrapped | grep -q '"python":\[{"file":"[^"]*/site-packages/torch/__init__.py","line":2,"func":"synchronize"}' &&
    ok "python: the site names the caller's line, not the framework wrapper's; the log keeps both" ||
    bad "python: framework frames" "$(head -1 "$T/py.wrapped.err")"
fi

# deep library stacks (print(tensor) inside a capture): the user's line below every library frame
if command -v python3 >/dev/null && [ "$STATIC" = 0 ]; then
  dline=$(grep -n '# the user.s line' tests/scenarios/py_deep.py | cut -d: -f1)
  mkdir -p "$T/deep"
  run 1 py.deep python3 "$ROOT/tests/scenarios/py_deep.py" site "$T/deep"
  EXTRA_ENV="CAPGUARD_LIB_PATHS=$T/deep/mylib" run 1 py.deeplib python3 "$ROOT/tests/scenarios/py_deep.py" libpath "$T/deep"
  EXTRA_ENV="CAPGUARD_PY_DEPTH=4" run 1 py.deep4 python3 "$ROOT/tests/scenarios/py_deep.py" site "$T/deep"
  expect_eq "python: 8 library frames deep (site-packages), the site is the user's line; the log keeps all 10 frames" \
    "$(grep -o "at py_deep.py:$dline in format_tensor" "$T/py.deep.err" | head -1) $(log py.deep | grep '"ev":"violation"' | grep -o '"func":"[a-z_<>]*"' | wc -l)" \
    "at py_deep.py:$dline in format_tensor 10"
  expect_eq "python: a library directory named by CAPGUARD_LIB_PATHS is skipped the same way" \
    "$(grep -o "at py_deep.py:$dline in format_tensor" "$T/py.deeplib.err" | head -1)" "at py_deep.py:$dline in format_tensor"
  expect_eq "python: CAPGUARD_PY_DEPTH=4 keeps 4 frames, all the library's: the site is then its innermost (the old behaviour)" \
    "$(grep -o "at deeplib.py:3 in level" "$T/py.deep4.err" | head -1) $(log py.deep4 | grep '"ev":"violation"' | grep -o '"func":"[a-z_<>]*"' | wc -l)" \
    "at deeplib.py:3 in level 4"
fi

# ---- the process around the calls: errno, constructors, destructors, fork ----
# the log is /dev/full: every write capguard makes fails (ENOSPC), and the program must not see it
EXTRA_ENV="CAPGUARD_LOG_DIR=/dev CAPGUARD_LOG_FILE=full" run 1 l.errno "$S/lifecycle" errno
expect_eq "lifecycle: a deferred and an answered call leave errno as the program set it, though capguard's writes fail" \
  "$(grep errno_ "$T/l.errno.out" | tr '\n' ' ')" "errno_after_sync 4242 errno_after_query 4243 "
run bare l.early.bare env LD_PRELOAD="$S/early.so" "$S/lifecycle"
EXTRA_ENV="LD_PRELOAD=$PRE$LIB:$S/early.so" run 1 l.early "$S/lifecycle"
expect_eq "lifecycle: without capguard a constructor's and a destructor's capture fail" "$(rcs l.early.bare)" \
  "ctor_sync=900 ctor_end=901 dtor_sync=900 dtor_end=901"
expect_eq "lifecycle: hooks work in a constructor that runs before capguard's, and pass through after its destructor" \
  "$(rcs l.early)" "ctor_sync=0 ctor_end=0 dtor_sync=900 dtor_end=901"
if [ "$CPU_ONLY" = 1 ]; then # CUDA itself cannot be used in a child forked after initialisation
  run 1 l.fork "$S/lifecycle" fork
  expect_eq "lifecycle: a forked child's capture is guarded, and so is the parent's after it" "$(rcs l.fork) $(grep child_exit "$T/l.fork.out")" \
    "child_sync=0 child_end=0 parent_sync=0 parent_end=0 child_exit 0"
  expect_eq "lifecycle: the child writes a log of its own" "$(ls "$T/l.fork.logs" | wc -l) $(cat "$T"/l.fork.logs/*.jsonl | grep -c '"ev":"violation"')" "2 2"
fi

# ---- a program that reaches the driver only through cuGetProcAddress ----
run bare d.bare "$S/driver_only"
run 1 d.auto "$S/driver_only"
run observe d.observe "$S/driver_only"
expect_eq "driver_only: without capguard" "$(rcs d.bare)" "ctxsync=900 alloc=900 end=901"
expect_eq "driver_only: CAPGUARD=1 (hooks handed out by cuGetProcAddress)" "$(rcs d.auto)" "ctxsync=0 alloc=0 end=0"
run bare d.pt.bare "$S/driver_only" ptsz
run 1 d.pt.auto "$S/driver_only" ptsz
expect_eq "driver_only ptsz: the one-argument per-thread-stream begin captures Relaxed (measured), and is tracked" \
  "$(rcs d.pt.bare) | $(rcs d.pt.auto) | $(log d.pt.auto | grep -c '"ev":"violation","call":"cuMemAlloc')" \
  "ctxsync=900 alloc=0 end=901 | ctxsync=0 alloc=0 end=0 | 0"
expect_eq "driver_only: every hooked entry point handed out is identified" \
  "$(log d.pt.auto | grep -c '"ev":"proc_unmatched"') $(log d.auto | grep -c '"ev":"proc_unmatched"')" "0 0"
expect_eq "driver_only: observe names both driver calls" \
  "$(log d.observe | grep -o '"call":"cu[A-Za-z_0-9]*","class"' | tr '\n' ' ')" \
  '"call":"cuCtxSynchronize","class" "call":"cuMemAlloc_v2","class" '

# ---- dlsym (a statically linked cudart has no library handle to look up) ----
[ "$STATIC" = 1 ] || {
run bare dl.bare "$S/dlsym_cases"
run 1 dl.auto "$S/dlsym_cases"
expect_eq "dlsym: a hooked name asked of libcudart's handle is redirected" "$(grep handle_lookup_is_preload "$T/dl.auto.out")" "fact handle_lookup_is_preload 1"
expect_eq "dlsym: the same name asked of another library is left alone" "$(grep other_lib "$T/dl.auto.out")" "fact other_lib_lookup_null 1"
expect_eq "dlsym: unhooked names still resolve" "$(grep -c ' 1$' "$T/dl.auto.out")" "5"
EXTRA_ENV="LD_PRELOAD=$PRE$LIB:$S/nextlib.so" run 1 dl.next "$S/dlsym_cases"
if grep -q 'device_count_ok 1' "$T/dl.next.out" && grep -q 'nextlib: forwarded' "$T/dl.next.err"; then
  ok "dlsym: another preload's dlsym(RTLD_NEXT) still finds the next library"
else
  bad "dlsym: RTLD_NEXT" "$(cat "$T/dl.next.out" "$T/dl.next.err" | head -5)"
fi
}

# ---- configuration ----
# ---- the flight recorder: dumps on signals (with and without the program's own handlers), the ring's bound ----
if [ -x "$S/recorder" ]; then
  for m in usr1 own term ignore; do run 1 "rec.$m" "$S/recorder" $m; done
  EXTRA_ENV="CAPGUARD_RECORDER=16" run 1 rec.many "$S/recorder" many
  dumps() { log "$1" | grep '"ev":"recorder"' | grep -o '"reason":"[A-Z0-9a-z]*","dump":[0-9]*,"recorded":[0-9]*,"kept":[0-9]*' | tr '\n' ' '; }
  # the call names as the runtime has them (static cudart reaches the driver: cuStreamBeginCapture_v2, ...)
  ring() { log "$1" | grep '"ev":"rec",' | grep "\"dump\":$2," | grep -o '"call":"[A-Za-z0-9_]*","capture":[0-9]*,"captures_active":[0-9]*,"outcome":"[a-z]*","ret":[0-9]*' | sed 's/"captures_active":[0-9]*,//; s/"call":"cu\([A-Z]\)/"call":"cuda\1/; s/_v2"/"/' | tr '\n' ' '; }
  # device-to-device async copies are counted where capguard sees them (the runtime's cudaMemcpyAsync);
  # static cudart makes them with a driver entry point capguard does not hook (only D2H matters to the model)
  copies=$([ "$STATIC" = 1 ] && echo 0 || echo 2)
  expect_eq "recorder: SIGUSR1 with no handler dumps the ring (begin, the illegal sync, end; 20 copies counted) and the program goes on" \
    "$(cat "$T/rec.usr1.status") $(grep -c after_signal "$T/rec.usr1.out") $(dumps rec.usr1)| $(ring rec.usr1 1)| $(log rec.usr1 | grep -c '"ev":"recorder".*"counted":{[^}]*"ASYNC":20')" \
    "0 1 \"reason\":\"SIGUSR1\",\"dump\":1,\"recorded\":3,\"kept\":3 \"reason\":\"exit\",\"dump\":2,\"recorded\":3,\"kept\":3 | \"call\":\"cudaStreamBeginCapture\",\"capture\":1,\"outcome\":\"forwarded\",\"ret\":0 \"call\":\"cudaStreamSynchronize\",\"capture\":1,\"outcome\":\"deferred\",\"ret\":0 \"call\":\"cudaStreamEndCapture\",\"capture\":1,\"outcome\":\"forwarded\",\"ret\":0 | $copies"
  expect_eq "recorder: the program's own SIGUSR1 handler is chained (it runs, after the dump) and handed back when asked; SIGTERM reads SIG_DFL" \
    "$(cat "$T/rec.own.status") $(grep -E '^(own_back|term_dfl|handler_ran)' "$T/rec.own.out" | tr '\n' ' ')$(dumps rec.own)" \
    '0 own_back 1 term_dfl 1 handler_ran 1 "reason":"SIGUSR1","dump":1,"recorded":3,"kept":3 "reason":"exit","dump":2,"recorded":3,"kept":3 '
  expect_eq "recorder: SIGTERM with no handler dumps, then takes its default action (the process dies of SIGTERM)" \
    "$(cat "$T/rec.term.status") $(grep -c after_signal "$T/rec.term.out") $(dumps rec.term)| $(ring rec.term 1 | wc -w)" \
    '143 0 "reason":"SIGTERM","dump":1,"recorded":3,"kept":3 | 3'
  expect_eq "recorder: a SIGTERM the program ignores stays ignored (no dump for it; the exit dump only)" \
    "$(cat "$T/rec.ignore.status") $(grep -c after_signal "$T/rec.ignore.out") $(dumps rec.ignore)" \
    '0 1 "reason":"exit","dump":1,"recorded":3,"kept":3 '
  expect_eq "recorder: CAPGUARD_RECORDER=16 keeps the newest 16 of 600 calls, in order (indices 584..599)" \
    "$(dumps rec.many)| $(log rec.many | grep '"ev":"rec",' | grep -o '"i":[0-9]*' | cut -d: -f2 | tr '\n' ' ')" \
    "\"reason\":\"exit\",\"dump\":1,\"recorded\":600,\"kept\":16 | $(seq -s ' ' 584 599) "
  EXTRA_ENV="CAPGUARD_RECORDER=0" run 1 rec.off "$S/recorder" usr1
  expect_eq "recorder: CAPGUARD_RECORDER=0: no dump, and SIGUSR1 keeps its default action (the process dies of it)" \
    "$(cat "$T/rec.off.status") $(log rec.off | grep -c '"ev":"rec')" "138 0"
else
  bad "recorder" "$S/recorder is missing (make scenarios)"
fi

MPIRUN="timeout 90 mpirun --oversubscribe --allow-run-as-root -np 2"
mrun() { # mrun MODE TAG CMD...: like run, under mpirun; the output sorted by rank
  run "$@"
  sort -s -k2,2n "$T/$2.out" -o "$T/$2.out"
}

# ---- the driver's error log as the test doubles give it and as the H200 gave it ----
# (the callback's messages and thread, per failing call; the buffer's lines carry times and tids)
if [ "$STATIC" = 1 ]; then :  # the probe is built against the dynamic runtime only
elif [ -x "$S/logs_probe" ]; then
  (cd "$T" && LD_LIBRARY_PATH="$FAKES" timeout 60 env -u CAPGUARD "$S/logs_probe" >"$T/logs_probe.out" 2>&1)
  probe_lines() { grep -E '^(cb|rc) ' "$1"; }
  expect_eq "driver error log: each failing call's messages, levels and calling thread are the H200's (tests/fakes/logs_probe.h200.txt)" \
    "$(probe_lines "$T/logs_probe.out" | md5sum)" "$(probe_lines "$ROOT/tests/fakes/logs_probe.h200.txt" | md5sum)"
  expect_eq "driver error log: the buffer holds the same messages, prefixed [time][tid][CUDA][E]" \
    "$(grep -c '^\[[0-9:.]*\]\[[0-9]*\]\[CUDA\]\[E\] ' "$T/logs_probe.out")" "$(grep -c '^\[[0-9:.]*\]\[[0-9]*\]\[CUDA\]\[E\] ' "$ROOT/tests/fakes/logs_probe.h200.txt")"
else
  bad "driver error log" "$S/logs_probe is missing (make scenarios)"
fi

# ---- the witness: a call capguard does not hook, named from the driver's error log (issue 14, part 1) ----
# cudaDeviceSetLimit inside a Global capture: 900, and the capture ends 901 (DEVICE-FACTS). The driver
# logs the failure to capguard's callback in the failing thread: capguard names the entry point,
# its site (and Python line) and keeps it as the capture's cause. Results are never changed.
run bare uh.bare "$S/unhooked" setlimit
run 1 uh.auto "$S/unhooked" setlimit
run observe uh.obs "$S/unhooked" setlimit
EXTRA_ENV="CAPGUARD_WITNESS=0" run 1 uh.off "$S/unhooked" setlimit
run 1 uh.thread "$S/unhooked" thread
run 1 uh.clean "$S/unhooked" clean
run 1 uh.benign "$S/unhooked" benign
expect_eq "witness: capguard changes nothing of an unhooked call's result (bare | CAPGUARD=1 | observe)" \
  "$(rcs uh.bare) | $(rcs uh.auto) | $(rcs uh.obs)" "call=900 end=901 | call=900 end=901 | call=900 end=901"
expect_eq "witness: the unhooked cudaDeviceSetLimit is named as it fails: its driver entry point, code, capture, the driver's reason and its site" \
  "$(grep -c 'capguard: \[rank 0 pid [0-9]* tid [0-9]*\] cuCtxSetLimit returned 900 (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED) during capture 1, a call capguard does not hook; the driver.s error log: "API call conflicts with a stream capture sequence initiated from the calling thread"\. at unhooked+0x' "$T/uh.auto.err")" "1"
expect_eq "witness: ... and kept as the capture's cause (without the witness: 'a call capguard did not see')" \
  "$(grep -c 'capture 1 was invalidated (901), caused by cuCtxSetLimit (900, not hooked; the driver.s error log) at unhooked+0x' "$T/uh.auto.err") $(grep -c 'capture 1 was invalidated (901) by a call capguard did not see' "$T/uh.off.err")" "1 1"
log uh.auto | grep -q '"ev":"witness","entry":"cuCtxSetLimit","code":900,"code_name":"CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED","message":"API call conflicts with a stream capture sequence initiated from the calling thread","concerns_capture":true,"capture":1,"inside":null,"site":"unhooked+0x[0-9a-f]*","native":\[{"module":"unhooked"' &&
  log uh.auto | grep -q '"ev":"capture_end",.*"rc":901,"cause":"cuCtxSetLimit (900, not hooked' &&
  ok "witness: the log's witness event has the entry point, code, capture, message and native frames; the capture's end has the cause" ||
  bad "witness: log" "$(log uh.auto | grep -E 'witness|capture_end' | cut -c1-400)"
grep -q "tid [0-9]*\] cuCtxSetLimit returned 900 .*during capture 1, a call capguard does not hook; the driver.s error log: \"API call conflicts with a stream capture sequence initiated from another thread\"" "$T/uh.thread.err" &&
  [ "$(log uh.thread | grep '"ev":"witness"' | grep -o '"tid":[0-9]*')" != "$(log uh.thread | grep '"ev":"capture_begin"' | grep -o '"tid":[0-9]*')" ] &&
  ok "witness: another thread's unhooked call during a Global capture is named on that thread, with the capture it ruined" ||
  bad "witness: other thread" "$(grep capguard "$T/uh.thread.err" | head -3)"
expect_eq "witness: a failure that concerns no capture (code 1) is only logged; the capture error after it is named and is the cause" \
  "$(rcs uh.benign) $(grep -c 'returned 1 ' "$T/uh.benign.err") $(grep -c 'caused by cuCtxSetLimit (900, ' "$T/uh.benign.err") $(log uh.benign | grep -c '"ev":"witness","entry":"cuDeviceGetAttribute","code":1,.*"concerns_capture":false')" \
  "benign=1 call=900 end=901 0 1 1"
expect_eq "witness: a capture with nothing wrong in it: no witness line, no witness event" \
  "$(grep -c 'error log' "$T/uh.clean.err") $(log uh.clean | grep -c '"ev":"witness"')" "0 0"
if [ "$CPU_ONLY" = 1 ]; then
  EXTRA_ENV="FAKECUDA_NO_LOGS=1" run 1 uh.nolog "$S/unhooked" setlimit
  expect_eq "witness: a driver without the error log is said once; the cause is then 'a call capguard did not see'" \
    "$(grep -c 'the driver refused an error-log callback (cuLogsRegisterCallback returned 801)' "$T/uh.nolog.err") $(grep -c 'by a call capguard did not see' "$T/uh.nolog.err") $(rcs uh.nolog)" \
    "1 1 call=900 end=901"
fi
if [ "$STATIC" = 0 ] && command -v python3 >/dev/null; then
  wline=$(grep -n 'return rt.cudaDeviceSetLimit' tests/scenarios/py_capture.py | cut -d: -f1)
  for gil in gil nogil; do
    run 1 uh.py.$gil python3 "$ROOT/tests/scenarios/py_capture.py" $gil setlimit
    grep -q "cuCtxSetLimit returned 900 .* at py_capture.py:$wline in step\$" "$T/uh.py.$gil.err" &&
      grep -q "caused by cuCtxSetLimit (900, not hooked; the driver.s error log) at py_capture.py:$wline in step" "$T/uh.py.$gil.err" &&
      ok "witness: python ($gil): the unhooked call is named at its Python line, the callback running in the failing thread" ||
      bad "witness: python $gil" "$(grep capguard "$T/uh.py.$gil.err" | head -3)"
  done
fi

# ---- a capture on a device its warm-up did not use (issue 14, part 7: features/devices.c) ----
# The model's memory on device 1, the capture's stream on device 0: the graph gets none of the
# work. Two devices of the test doubles (FAKECUDA_DEVICES=2); a GPU machine with one device says
# "skip devices 1", and then capguard must say nothing (the allocations' gate is off there).
dvw='capture [0-9]* begins on device 0 (stream 0x[0-9a-f]*) at devices+0x[0-9a-f]*, but this thread.s warm-up allocated on device 1 only (first at devices+0x[0-9a-f]*): work launched for that device goes to its streams, not into this capture'
dvrun() { EXTRA_ENV="FAKECUDA_DEVICES=2 ${EXTRA_ENV:-}" run "$@"; }
dvrun bare dv.bare "$S/devices" wrong
dvrun bare dv.twice.bare "$S/devices" twice
dvrun 1 dv.twice "$S/devices" twice
expect_eq "devices: a second begin on a capturing stream (refused): capguard asks nothing of that stream (a query of a capturing stream invalidates its capture), results as bare" \
  "$(rcs dv.twice) | $(rcs dv.twice.bare | sed 's/again=[0-9]*/again=N/')" "$(rcs dv.twice.bare) | begin=0 again=N launch=0 end=0"
if grep -q '^skip devices' "$T/dv.bare.out"; then
  dvrun 1 dv.one "$S/devices" wrong
  expect_eq "devices: one visible device: the program skips, capguard says nothing of devices" \
    "$(grep -c 'begins on device' "$T/dv.one.err") $(log dv.one | grep -c '"ev":"capture_device"')" "0 0"
else
  for v in wrong right robin later vmm thread; do
    dvrun bare dv.$v.bare "$S/devices" $v
    dvrun 1 dv.$v "$S/devices" $v
  done
  dvrun observe dv.wrong.obs "$S/devices" wrong
  EXTRA_ENV="CAPGUARD_DEVICE_CHECK=0" dvrun 1 dv.wrong.off "$S/devices" wrong
  expect_eq "devices: capguard changes no result (bare | CAPGUARD=1 | observe)" \
    "$(rcs dv.wrong.bare) | $(rcs dv.wrong) | $(rcs dv.wrong.obs)" \
    "begin=0 end=0 begin=0 end=0 | begin=0 end=0 begin=0 end=0 | begin=0 end=0 begin=0 end=0"
  expect_eq "devices: a capture begun on device 0 after a warm-up on device 1 is named once per begin site, with both devices and both sites" \
    "$(grep -c "$dvw" "$T/dv.wrong.err") $(grep -c "$dvw" "$T/dv.wrong.obs.err") $(grep -c '1 capture site began on a device the thread.s warm-up did not allocate on' "$T/dv.wrong.err")" "1 1 1"
  log dv.wrong | grep -q '"ev":"capture_device","capture":1,"device":0,"stream":"0x[0-9a-f]*","warmup_devices":\[1\],"warmup_site":"devices+0x[0-9a-f]*","warmup_of":"thread","site":"devices+0x[0-9a-f]*","native":\[{"module":"devices"' &&
    ok "devices: the log's capture_device event has the capture, both devices, both sites and the begin's frames" ||
    bad "devices: log" "$(log dv.wrong | grep capture_device | cut -c1-300)"
  RB=${CG_REPORT_BIN:-$(dirname "$LIB")/capguard-report}
  if [ -x "$RB" ]; then
    "$RB" "$T/dv.wrong.logs" "$T/uh.auto.logs" >"$T/dv.report" 2>&1
    expect_eq "report: WARNINGS lists the capture on another device (both devices, both sites) and the unhooked call the driver's error log named" \
      "$(sed -n '/^WARNINGS/,/^$/p' "$T/dv.report" | grep -c -E '^  1 x a capture begun at devices\+0x[0-9a-f]* \(rank 0\) on device 0, but its warm-up allocated on device 1 \(first at devices\+0x[0-9a-f]*\)$|^  1 x cuCtxSetLimit at unhooked\+0x[0-9a-f]* \(rank 0\), not hooked: returned 900; the driver.s error log: "API call conflicts')" "2"
  fi
  expect_eq "devices: no warning when the capture is on the warm-up's device, or on one of the devices one thread drives, or with CAPGUARD_DEVICE_CHECK=0" \
    "$(grep -c 'begins on device' "$T/dv.right.err" "$T/dv.robin.err" "$T/dv.wrong.off.err" | cut -d: -f2 | tr '\n' ' ')" "0 0 0 "
  expect_eq "devices: a capture after one on the right device, with no allocation between, is compared with the warm-up before (capture 2 named)" \
    "$(grep -c "capture 2 begins on device 0 .*warm-up allocated on device 1 only" "$T/dv.later.err") $(rcs dv.later)" "1 begin=0 end=0 begin=0 end=0"
  expect_eq "devices: warm-up memory from cuMemCreate (its properties' device) counts as the warm-up's" \
    "$(grep -c "capture 1 begins on device 0 .*warm-up allocated on device 1 only" "$T/dv.vmm.err") $(rcs dv.vmm)" "1 begin=0 end=0"
  expect_eq "devices: a thread that allocated nothing is compared with the process's warm-up (all on device 1)" \
    "$(grep -c "capture 1 begins on device 0 .*but the process.s warm-up allocated on device 1 only" "$T/dv.thread.err") $(rcs dv.thread)" "1 begin=0 end=0"
  if [ "$STATIC" = 0 ] && command -v python3 >/dev/null; then
    wl=$(grep -n 'the warm-up.s memory' tests/scenarios/py_device.py | cut -d: -f1)
    bl=$(grep -n 'the capture begins here' tests/scenarios/py_device.py | cut -d: -f1)
    dvrun 1 dv.py python3 "$ROOT/tests/scenarios/py_device.py" wrong
    dvrun 1 dv.py.right python3 "$ROOT/tests/scenarios/py_device.py" right
    expect_eq "devices: python: the capture's line and the warm-up's first allocation's line are named; none when both are on device 1" \
      "$(grep -c "capture 1 begins on device 0 (stream 0x[0-9a-f]*) at py_device.py:$bl in capture, but this thread.s warm-up allocated on device 1 only (first at py_device.py:$wl in warm_up)" "$T/dv.py.err") $(grep -c 'begins on device' "$T/dv.py.right.err")" "1 0"
  fi
fi

# ---- issue 15's two-GPU script, dry run on the test doubles (two devices, one rank each) ----
# tests/gpu/two_gpu.sh is what a two-GPU machine runs; here every case of its table must come out
# as expected on the doubles (the bandwidth figures mean nothing on them).
if [ "$CPU_ONLY" = 1 ] && [ "$STATIC" = 0 ] && [ -z "$PRE" ] && [ -x "$S/allreduce_graph" ]; then # (not under a sanitizer)
  mp=$(for py in python3 /usr/bin/python3; do "$py" -c 'import mpi4py' 2>/dev/null && { echo "$py"; break; }; done)
  CG_TWO_GPU_DRY=1 CG_BIN="$(dirname "$LIB")" CG_SCEN_DIR="$S" CG_CUDA_LIBDIR="$FAKES" PYTHON=${mp:-python3} OUT="$T" ROUNDS=1 SWEEP_MAX=4096 HANG_S=8 "$ROOT/tests/gpu/two_gpu.sh" >"$T/two_gpu.txt" 2>&1
  tgrows=$(sed -n '/^== table/,/^== bench/p' "$T/two_gpu.txt" | grep '^[1-7] ')
  [ "$(echo "$tgrows" | awk -F'|' '{ gsub(/ /, "", $4); printf "%s ", $4 }')" = "yes yes yes yes yes yes " ] &&
    ok "two_gpu.sh dry run: every case of the table as expected (seed NCCL, python seed, asymmetric miss, different collectives, observe unchanged, capture on another device)" ||
    bad "two_gpu.sh dry run" "$(sed -n '/^== table/,/^== bench/p' "$T/two_gpu.txt" | cut -c1-300 | tr '\n' ' ')"
  grep -q '^communicator construction, 20 at one site .*served: 1 of 1' "$T/two_gpu.txt" &&
    grep -q '^ *4096 | [0-9]' "$T/two_gpu.txt" &&
    ok "two_gpu.sh dry run: the benchmark tables are printed (memo hits served; the sweep up to SWEEP_MAX)" ||
    bad "two_gpu.sh dry run: benchmarks" "$(sed -n '/^== bench/,$p' "$T/two_gpu.txt" | head -12 | tr '\n' ' ')"
fi

# ---- a lazy NCCL init inside a capture: every rank's first collective there (issue 14, part 3) ----
# Under the default the init the memo cannot serve runs with the thread relaxed: NCCL's own
# allocations are then legal, the capture completes and the replayed all-reduce is right; reject
# refuses it (the capture stays valid, the all-reduce is not captured). One rank alone in its lazy
# init: tests/fault/hang.sh. On one GPU: one rank (NCCL refuses two ranks on one GPU).
LZN=2
[ "$CPU_ONLY" = 1 ] || LZN=${CG_GPU_NRANKS:-1}
if [ ! -x "$S/lazy_init" ]; then
  [ "$STATIC" = 1 ] || bad "lazy init" "$S/lazy_init is missing (make scenarios)"
else
lz() { # lz MODE TAG: the symmetric lazy init on LZN ranks
  rm -rf "$T/$2.store" && mkdir -p "$T/$2.store"
  mrun "$1" "$2" timeout 90 mpirun --oversubscribe --allow-run-as-root -np $LZN "$S/lazy_init" "$T/$2.store" symmetric
}
lzlines() { grep "^rank $2 " "$T/$1.out" | sed "s/^rank $2 //" | tr '\n' ';'; }
lz bare lz.bare
lz 1 lz.auto
lz reject lz.reject
for r in $(seq 0 $((LZN - 1))); do
  lzlines lz.bare $r | grep -Eq '^(init [1-9][0-9]*;end [0-9]+|init 0;end [1-9][0-9]*);.*done;$' &&
    ok "lazy init: without capguard, rank $r's lazy init inside the Global capture fails or ruins it ($(lzlines lz.bare $r))" ||
    bad "lazy init bare rank $r" "$(lzlines lz.bare $r)"
  expect_eq "lazy init: CAPGUARD=1, rank $r's init runs relaxed, the capture completes, the replayed all-reduce is right" \
    "$(lzlines lz.auto $r)" "init 0;end 0;result $((LZN * (LZN + 1) / 2));done;"
  expect_eq "lazy init: CAPGUARD=reject refuses rank $r's init (ncclInvalidUsage), the capture stays valid, nothing reduced" \
    "$(lzlines lz.reject $r)" "init 5;end 0;result $((r + 1));done;"
done
expect_eq "lazy init: CAPGUARD=1 names each rank's init at its site, before it runs relaxed; every capture ends 0" \
  "$(grep -c 'ncclCommInitRank(.*during capture 1 (global.*not served from the memo.*policy auto: run with the thread relaxed (said before the call, which may not return)\. at lazy_init+0x' "$T/lz.auto.err") $(log lz.auto | grep -c '"ev":"capture_end",.*"rc":0')" "$LZN $LZN"
fi

[ "$CPU_ONLY" = 1 ] || { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit; }
EXTRA_ENV="CAPGUARD_STACK_DEPTH=abc" run 1 c.depth "$S/sync_inside" device
grep -q 'CAPGUARD_STACK_DEPTH="abc" is not valid (accepted: 0..64); using the default "12"' "$T/c.depth.err" &&
  [ "$(rcs c.depth)" = "sync=0 end=0" ] && ok "config: a bad number is named with what is accepted, and the run goes on" ||
  bad "config: bad number" "$(head -2 "$T/c.depth.err")"
run bogus c.mode "$S/sync_inside" device
grep -q 'CAPGUARD="bogus" is not valid (accepted: 0|1|auto|observe|reject|defer|relax); using the default "0"' "$T/c.mode.err" &&
  [ "$(rcs c.mode)" = "sync=900 end=901" ] && ok "config: a bad CAPGUARD is named and capguard stays off" ||
  bad "config: bad CAPGUARD" "$(head -2 "$T/c.mode.err")"
EXTRA_ENV="CAPGUARD_POLICY=SYNC:maybe,cudaDeviceSynchronize:reject" run 1 c.pol "$S/sync_inside" device
grep -q 'CAPGUARD_POLICY item "SYNC:maybe" is not valid' "$T/c.pol.err" && [ "$(rcs c.pol)" = "sync=900 end=0" ] &&
  ok "config: a bad policy item is named; the good one (entry point reject) applies" || bad "config: policy list" "$(rcs c.pol) $(head -2 "$T/c.pol.err")"
EXTRA_ENV="CAPGUARD_POLICY=SYNC:reject,cudaDeviceSynchronize:observe" run 1 c.over "$S/sync_inside" device
expect_eq "config: an entry-point policy overrides its class" "$(rcs c.over)" "sync=900 end=901"
EXTRA_ENV="CAPGUARD_POLCY=SYNC:reject" run 1 c.typo "$S/sync_inside" device
grep -q 'unknown variable CAPGUARD_POLCY' "$T/c.typo.err" && ok "config: a misspelt variable is named" || bad "config: typo" "$(head -2 "$T/c.typo.err")"
EXTRA_ENV="CAPGUARD_LOG_FILE=run-%r-%p.jsonl" run 1 c.file "$S/sync_inside" device
ls "$T/c.file.logs" | grep -q '^run-0-[0-9]*\.jsonl$' && ok "config: CAPGUARD_LOG_FILE expands %r and %p" || bad "config: log file" "$(ls "$T/c.file.logs")"
EXTRA_ENV="RANK=3 WORLD_SIZE=4" run 1 c.rank "$S/sync_inside" device
log c.rank | grep -q '"ev":"violation".*"world_size":4' && log c.rank | grep -q '"rank":3' &&
  grep -q '\[rank 3 ' "$T/c.rank.err" && ok "config: rank and world size come from torchrun's variables" || bad "config: rank" "$(head -2 "$T/c.rank.err")"

# ---- communicators and workspaces: the seed, under real Open MPI, two ranks ----
seedlines() { grep -E "^rank $2 (construct|endcapture|replay|done)" "$T/$1.out" | sed "s/^rank $2 //" | tr '\n' ';'; }
if [ "$CPU_ONLY" = 1 ] || [ "${CG_GPU_NRANKS:-1}" -ge 2 ]; then
for p in ipc nccl; do
  mrun bare "seed.$p.bare" $MPIRUN "$S/seed" $p symmetric
  mrun 1 "seed.$p.auto" $MPIRUN "$S/seed" $p symmetric
  fail_call=$([ $p = ipc ] && echo "cudaMalloc 900" || echo "ncclCommInitRank")
  for r in 0 1; do
    seedlines "seed.$p.bare" $r | grep -q "^construct capture rc FAIL $fail_call.*endcapture rc 901;.*done;" &&
      ok "seed/$p: without capguard, rank $r's wrapper rebuilt inside the capture fails and ruins it" ||
      bad "seed/$p bare rank $r" "$(seedlines "seed.$p.bare" $r)"
    expect_eq "seed/$p: CAPGUARD=1, rank $r's rebuilt wrapper is served, the capture completes and replays" \
      "$(seedlines "seed.$p.auto" $r)" "construct capture rc OK;endcapture rc 0;replay 1 result 3;replay 2 result 3;done;"
  done
  key=$([ $p = ipc ] && echo "MPI_Comm_split" || echo "ncclCommInitRank")
  expect_eq "seed/$p: every rank's summary shows the repeated init, 4 times, once served" \
    "$(grep -c "4 x init of $key rank=[01] world=2 .*(1 served from the memo" "$T/seed.$p.auto.err")" "2"
  # (only rank 0 asks for the NCCL unique id: that call is rank 0's alone)
  decisions() { cat "$T/seed.$p.auto.logs"/*r$1.jsonl | grep '"ev":"memo"' | grep -v ncclGetUniqueId |
    grep -o '"call":"[A-Za-z_]*","decision":"[a-z_]*","key":"' | md5sum; }
  n=$(cat "$T/seed.$p.auto.logs"/*r0.jsonl | grep '"ev":"memo"' | grep -c '"key":"[^"]')
  expect_eq "seed/$p: every memo decision is logged with its key ($n on rank 0), the same sequence on both ranks" "$(decisions 0)" "$(decisions 1)"
done
log seed.ipc.auto | grep -q '"ev":"memo","call":"MPI_Allgather","decision":"serve"' &&
  log seed.ipc.auto | grep -q '"ev":"memo","call":"cudaIpcOpenMemHandle","decision":"serve"' &&
  log seed.ipc.auto | grep -q '"ev":"memo","call":"cudaMalloc","decision":"serve"' &&
  log seed.ipc.auto | grep -q '"ev":"memo","call":"MPI_Barrier","decision":"serve"' &&
  ok "seed/ipc: the split, the workspace, the handle allgather, the IPC mapping and the barrier are served" ||
  bad "seed/ipc served" "$(log seed.ipc.auto | grep '"decision":"serve"' | cut -c1-200 | head -5)"
log seed.nccl.auto | grep -q '"call":"ncclGetUniqueId","decision":"serve"' &&
  log seed.nccl.auto | grep -q '"call":"MPI_Bcast","decision":"serve"' &&
  ok "seed/nccl: the unique id and its broadcast are answered from the record" || bad "seed/nccl served" "$(log seed.nccl.auto | grep serve | head -3)"
# one rank's memo misses (its capture-time wrapper is for another dtype, on a new thread)
mrun 1 seed.asym $MPIRUN "$S/seed" ipc asymmetric
expect_eq "seed/asymmetric: the rank whose memo misses gets a named error, not a hang" \
  "$(seedlines seed.asym 1 | cut -d';' -f1,2,5)" "construct capture rc FAIL MPI_Allgather 16;endcapture rc 0;done"
expect_eq "seed/asymmetric: the other rank completes" "$(seedlines seed.asym 0)" \
  "construct capture rc OK;endcapture rc 0;replay 1 result 3;replay 2 result 3;done;"
grep -q '\[rank 1 .*MPI_Allgather(MPI_Allgather comm=#[0-9]* .*not answerable from the memo.*rejected (returned 16' "$T/seed.asym.err" &&
  ok "seed/asymmetric: stderr names the rank, the collective, its communicator and key" || bad "seed/asymmetric stderr" "$(grep MPI_Allgather "$T/seed.asym.err" | head -2)"
mrun observe seed.observe $MPIRUN "$S/seed" ipc symmetric
expect_eq "seed: CAPGUARD=observe changes nothing (memo off unless asked), yet reports the repeats" \
  "$(grep -v warmup "$T/seed.observe.out") $(grep -c 'repeated (4 times).*run for real' "$T/seed.observe.err")" \
  "$(grep -v warmup "$T/seed.ipc.bare.out") 2"
expect_eq "seed/asymmetric: the logs show the divergence: rank 0's allgather served, rank 1's a miss" \
  "$(cat "$T/seed.asym.logs"/*r0.jsonl | grep -o '"call":"MPI_Allgather","decision":"[a-z]*"' | tail -1) $(cat "$T/seed.asym.logs"/*r1.jsonl | grep -o '"call":"MPI_Allgather","decision":"[a-z]*"' | tail -1)" \
  '"call":"MPI_Allgather","decision":"serve" "call":"MPI_Allgather","decision":"miss"'
# scopes
EXTRA_ENV="CAPGUARD_MEMO=off" mrun 1 seed.off $MPIRUN "$S/seed" ipc symmetric
expect_eq "memo off: nothing is served, the capture-time split is refused by name on every rank" \
  "$(seedlines seed.off 0 | cut -d';' -f1,2) $(seedlines seed.off 1 | cut -d';' -f1,2)" \
  "construct capture rc FAIL MPI_Comm_split 16;endcapture rc 0 construct capture rc FAIL MPI_Comm_split 16;endcapture rc 0"
EXTRA_ENV="CAPGUARD_MEMO=off" mrun 1 mc.repeat $MPIRUN "$S/memo_cases" repeat
expect_eq "memo off: every repeated initialisation is still reported, with both sites and the count" \
  "$(log mc.repeat | grep -c '"ev":"repeat","call":"MPI_Comm_split".*"count":[23],"served":0,"first_site":".*","site":')" "4"
EXTRA_ENV="CAPGUARD_MEMO=always" mrun 1 mc.splits $MPIRUN "$S/memo_cases" splits
expect_eq "memo always: two splits of equal size, different colors, stay distinct" \
  "$(grep -E 'fact (same_handle|a2_b2_same_handle|a2_b2_ident|sum_color0|sum_color1)' "$T/mc.splits.out" | sed 's/^rank [0-9]* //' | sort | uniq -c | awk '{ print $1, $3, $4 }' | tr '\n' ' ')" \
  "2 a2_b2_ident 0 2 a2_b2_same_handle 0 2 same_handle 0 2 sum_color0 1 2 sum_color1 21 "
if [ -x "$S/allreduce_graph" ]; then
  # a two-rank NCCL communicator built and destroyed at one site, again and again (issue 15's bench)
  EXTRA_ENV="CAPGUARD_MEMO=always CAPGUARD_WATCHDOG_MS=3000" mrun 1 ar.again $MPIRUN "$S/allreduce_graph" init 3
  expect_eq "memo always: a communicator destroyed and built again gets a fresh unique id (the recorded one is stale once its communicator is gone): every init succeeds" \
    "$(grep -c '^rank [01] init [0-9.]*$' "$T/ar.again.out") $(grep -c '^rank [01] done' "$T/ar.again.out") $(grep -c 'init rc' "$T/ar.again.out")" "2 2 0"
  EXTRA_ENV="CAPGUARD_MEMO=always" mrun 1 ar.keep $MPIRUN "$S/allreduce_graph" init 5 keep
  expect_eq "memo always: a communicator built again while the old one lives is served (4 of 5 on each rank)" \
    "$(grep -c '5 x init of ncclCommInitRank rank=[01] world=2 .*(4 served from the memo' "$T/ar.keep.err") $(grep -c '^rank [01] done' "$T/ar.keep.out")" "2 2"
fi
EXTRA_ENV="CAPGUARD_MEMO=always" mrun 1 mc.ref $MPIRUN "$S/memo_cases" refcount
expect_eq "memo always: a repeat is served the same communicator, reference-counted; the real free runs once" \
  "$(grep -c -E 'fact (c2_equals_c1|c2_usable_after_one_free|freed_ok) 1' "$T/mc.ref.out") $(log mc.ref | grep -c '"call":"MPI_Comm_free","decision":"release"')" "6 2"
EXTRA_ENV="CAPGUARD_MEMO=off CAPGUARD_POLICY=COMM_INIT:observe" mrun 1 seed.obs $MPIRUN "$S/seed" ipc symmetric
expect_eq "policy override: COMM_INIT:observe lets the capture-time split run for real; the allgather is still refused" \
  "$(seedlines seed.obs 0 | cut -d';' -f1) $(seedlines seed.obs 1 | cut -d';' -f1)" \
  "construct capture rc FAIL MPI_Allgather 16 construct capture rc FAIL MPI_Allgather 16"
# 3 warm-up wrappers, each with its own communicator, one allreduce each; the last one is served
# to the capture-time wrapper and gets the captured allreduce too (int32 = ncclInt32 = 2)
expect_eq "nccl: collectives are counted per communicator, call and dtype" \
  "$(cat "$T/seed.nccl.auto.logs"/*r0.jsonl | grep '"ev":"summary_nccl"' | grep -o '"what":"ncclAllReduce comm=#[0-9]* dtype=2","count":[0-9]*' | sed 's/comm=#[0-9]*/comm/' | tr '\n' ' ')" \
  '"what":"ncclAllReduce comm dtype=2","count":1 "what":"ncclAllReduce comm dtype=2","count":1 "what":"ncclAllReduce comm dtype=2","count":2 '
# point to point (TensorRT-LLM's group barrier and broadcast), per call, in warm-up and in the capture
p2plines() { grep "^rank $2 construct capture\|^rank $2 endcapture" "$T/$1.out" | sed "s/^rank $2 //" | tr '\n' ';'; }
mrun 1 p2p.sym $MPIRUN "$S/p2p" symmetric
mrun 1 p2p.asym $MPIRUN "$S/p2p" asymmetric
expect_eq "p2p: CAPGUARD=1, the repeated MPI_Send/Recv broadcast and Isend/Irecv+Wait barrier inside the capture are answered on both ranks" \
  "$(p2plines p2p.sym 0)$(p2plines p2p.sym 1) $(log p2p.sym | grep -c '"ev":"memo","call":"MPI_\(Send\|Recv\|Isend\|Irecv\)","decision":"serve"')" \
  "construct capture rc 0 handle A token 11;endcapture rc 0;construct capture rc 0 handle A token 10;endcapture rc 0; 6"
expect_eq "p2p: a send whose bytes are new inside the capture is refused by name on its rank (the receiver is answered the recorded bytes)" \
  "$(p2plines p2p.asym 0) $(grep -c '\[rank 0 .*MPI_Send(MPI_Send comm=WORLD n=64 peer=1 site=.*not answerable from the memo.*rejected (returned 16' "$T/p2p.asym.err")" \
  "construct capture rc 16 handle B token -1;endcapture rc 0; 1"
# the MNNVL workspace (VMM + multicast), per call, in warm-up and inside the capture (test doubles only:
# its ranks read each other's memory through host pointers)
if [ "$CPU_ONLY" = 1 ]; then
  mnlines() { grep "^rank $2 construct capture\|^rank $2 endcapture" "$T/$1.out" | sed "s/^rank $2 //" | tr '\n' ';'; }
  served() { cat "$T/$1.logs"/*r$2.jsonl 2>/dev/null | grep '"ev":"memo"' | grep -o '"call":"[A-Za-z_]*","decision":"serve"' | cut -d'"' -f4 | LC_ALL=C sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }'; }
  mrun bare mn.bare $MPIRUN "$S/mnnvl" fabric symmetric
  mrun 1 mn.fab $MPIRUN "$S/mnnvl" fabric symmetric
  mrun 1 mn.fab.asym $MPIRUN "$S/mnnvl" fabric asymmetric
  mrun 1 mn.posix $MPIRUN "$S/mnnvl" posix symmetric
  expect_eq "mnnvl: without capguard the rebuilt VMM workspace's device sync ruins the capture (VMM calls themselves are legal)" \
    "$(mnlines mn.bare 0)" "construct capture rc FAIL cudaDeviceSynchronize 900;endcapture rc 901;"
  expect_eq "mnnvl/fabric: CAPGUARD=1, both ranks' rebuilt workspaces are served, the capture completes, each rank reads every rank's memory" \
    "$(mnlines mn.fab 0)$(mnlines mn.fab 1)" "construct capture rc OK sum 3;endcapture rc 0;construct capture rc OK sum 3;endcapture rc 0;"
  expect_eq "mnnvl/fabric: served: the handle, the range, both mappings, the peer's import (by its FABRIC bytes), the multicast object, the exchange and the barriers" \
    "$(served mn.fab 1)" "MPI_Allgather:1 MPI_Barrier:3 MPI_Comm_split:1 cuMemAddressReserve:1 cuMemCreate:1 cuMemImportFromShareableHandle:1 cuMemMap:2 cuMulticastCreate:1 "
  expect_eq "mnnvl/fabric asymmetric: a workspace that grows is never served the smaller one: its new handle's exchange is refused by name; the other rank completes" \
    "$(mnlines mn.fab.asym 1) $(served mn.fab.asym 1 | grep -c cuMemCreate) $(mnlines mn.fab.asym 0)" \
    "construct capture rc FAIL MPI_Allgather 16;endcapture rc 0; 0 construct capture rc OK sum 3;endcapture rc 0;"
  expect_eq "mnnvl/posix: an exported fd keeps one number, kept open, for its allocation's life: the (pid, fd) exchange inside the capture is answered and each peer's pidfd_getfd finds it" \
    "$(mnlines mn.posix 0)$(mnlines mn.posix 1) $(served mn.posix 0 | grep -o 'MPI_Allgather:1') $(served mn.posix 1 | grep -o 'MPI_Allgather:1')" \
    "construct capture rc OK sum 3;endcapture rc 0;construct capture rc OK sum 3;endcapture rc 0; MPI_Allgather:1 MPI_Allgather:1"
fi
# the Python seed with the same workspace (mpi4py, ctypes to the driver, POSIX fds through pidfd_getfd)
mpipy=""
for py in python3 /usr/bin/python3; do
  "$py" -c 'import mpi4py' 2>/dev/null && { mpipy=$py; break; }
done
if [ -z "$mpipy" ]; then
  [ "$CPU_ONLY" = 1 ] && bad "python vmm seed" "no python3 with mpi4py (scripts/deps.sh test installs python3-mpi4py)"
else
  pvlines() { grep "^rank $2 construct capture\|^rank $2 endcapture" "$T/$1.out" | sed "s/^rank $2 //" | tr '\n' ';'; }
  for api in ctypes $([ "$CPU_ONLY" = 1 ] || echo bindings); do
    mrun bare pv.$api.bare $MPIRUN "$mpipy" "$ROOT/tests/scenarios/py_vmm_seed.py" $api symmetric
    mrun 1 pv.$api $MPIRUN "$mpipy" "$ROOT/tests/scenarios/py_vmm_seed.py" $api symmetric
    mrun 1 pv.$api.asym $MPIRUN "$mpipy" "$ROOT/tests/scenarios/py_vmm_seed.py" $api asymmetric
    expect_eq "python vmm seed ($api): without capguard the rebuilt workspace's sync ruins the capture on every rank" \
      "$(pvlines pv.$api.bare 0)$(pvlines pv.$api.bare 1)" \
      "construct capture rc FAIL cudaDeviceSynchronize 900;endcapture rc 901;construct capture rc FAIL cudaDeviceSynchronize 900;endcapture rc 901;"
    expect_eq "python vmm seed ($api): CAPGUARD=1, both ranks' rebuilt workspaces are served and the capture completes" \
      "$(pvlines pv.$api 0)$(pvlines pv.$api 1)" "construct capture rc OK;endcapture rc 0;construct capture rc OK;endcapture rc 0;"
    # the other rank is answered the recorded exchange, which names the grown rank's previous
    # allocation: it completes, or its pidfd_getfd finds that fd already closed (the grown rank
    # released it when its capture ended); either way its capture stays valid
    expect_eq "python vmm seed ($api): the rank whose workspace grows inside the capture gets a named error; the other's capture stays valid" \
      "$(pvlines pv.$api.asym 1) $(grep -c '\[rank 1 .*MPI_Allgatherv(.*not answerable from the memo.*rejected' "$T/pv.$api.asym.err") $(pvlines pv.$api.asym 0 | sed 's/rc FAIL pidfd_getfd 9/rc OK/')" \
      "construct capture rc FAIL MPI 16;endcapture rc 0; 1 construct capture rc OK;endcapture rc 0;"
  done
fi
mrun 1 mc.ref1 $MPIRUN "$S/memo_cases" refcount
expect_eq "memo capture (default): outside a capture a repeat runs for real" "$(grep -c 'fact c2_equals_c1 0' "$T/mc.ref1.out")" "2"
fi

# ---- an MPI of unknown ABI: forwarded untouched ----
if [ "$CPU_ONLY" = 1 ]; then
  run bare um.bare "$S/unknown_mpi"
  run 1 um.auto "$S/unknown_mpi"
  expect_eq "unknown MPI: every call forwarded untouched, nothing written beside the int handle" "$(out um.auto)" "$(out um.bare)"
  grep -q 'neither Open MPI nor MPICH' "$T/um.auto.err" && grep -q 'MPI_Comm_split(.*during capture 1.*forwarded unchanged' "$T/um.auto.err" &&
    ok "unknown MPI: said once, and the collective inside the capture is still named" || bad "unknown MPI" "$(head -3 "$T/um.auto.err")"
fi

# ---- NCCL windows registered again and again (one rank) ----
if [ "$CPU_ONLY" = 1 ]; then
  run bare nw.bare "$S/nccl_window"
  run 1 nw.auto "$S/nccl_window"
  EXTRA_ENV="CAPGUARD_MEMO=always" run 1 nw.always "$S/nccl_window"
  expect_eq "nccl window: registered inside a capture, NCCL fails and ruins it" \
    "$(rcs nw.bare) $(grep -c 'fact same_window 0' "$T/nw.bare.out")" "register=0 register_in_capture=1 end=901 1"
  expect_eq "nccl window: CAPGUARD=1 serves the window registered before the capture" \
    "$(rcs nw.auto) $(grep -c 'fact same_window 1' "$T/nw.auto.out")" "register=0 register_in_capture=0 end=0 1"
  expect_eq "nccl window: CAPGUARD_MEMO=always makes repeated registrations one (NCCL #2331)" \
    "$(grep -c 'fact repeats_same_window 1' "$T/nw.always.out") $(log nw.always | grep -c '"call":"ncclCommWindowRegister","decision":"record"')" "1 1"
fi

# ---- the library itself ----
want=$( (printf '#define HOOK(lib, name, ...) name\n#define HOOK_CUSTOM(lib, name, kind) name\n#include "hooks.def"\n' |
  cc -E -P -x c -iquote shim - | tr ' ' '\n' | grep -E '^[A-Za-z_][A-Za-z0-9_]*$'; echo dlsym) | sort)
have=$(nm -D --defined-only "$LIB" | awk '{ print $3 }' | sed 's/@.*//' | sort)
expect_eq "library: exports exactly the hooked entry points and dlsym ($(echo "$want" | wc -l))" "$have" "$want"
expect_eq "library: needs only libc" "$(readelf -d "$LIB" | grep NEEDED | grep -v -E "libc\.so|libdl\.so|libpthread\.so|$NEEDED_OK" | wc -l)" "0"
# stderr: the first CAPGUARD_STDERR_LIMIT (3) lines per site, then one line, then only counts
counts=$(log m.observe | grep '"ev":"summary_site","call":"cudaMalloc"' | grep -o '"count":[0-9]*' | cut -d: -f2)
refused=$(awk '$1 == "cell" && $5 == "malloc" && $7 != 0' "$T/m.bare.out" | wc -l)
expect_eq "report: the summary counts every violation ($refused refused cudaMalloc cells, over its sites)" \
  "$(echo "$counts" | awk '{ s += $1 } END { print s }')" "$refused"
expect_eq "report: at most 3 stderr lines per site, then one notice" \
  "$(grep -c '^capguard: \[.*cudaMalloc(' "$T/m.observe.err") $(grep -c 'cudaMalloc at .*further violations at this site are counted' "$T/m.observe.err")" \
  "$(echo "$counts" | awk '{ l += ($1 < 3 ? $1 : 3); n += ($1 > 3) } END { print l, n }')"
rm -rf "$T/inst" && make -s install PREFIX="$T/inst" >/dev/null &&
  "$T/inst/bin/capguard" version | grep -q "$T/inst/lib/libcapguard.so" &&
  ok "install: make install PREFIX puts the tool and the library where the tool finds it" || bad "install" "$("$T/inst/bin/capguard" version 2>&1)"

# ---- a poll loop inside a capture: counted, not written one line each ----
run 1 s.poll "$S/sync_inside" poll
expect_eq "poll: 1000 cudaStreamQuery polls of the capturing stream under CAPGUARD=1 are answered (sync=0 poll_last=0 end=0)" \
  "$(rcs s.poll)" "sync=0 poll_last=0 end=0"
expect_eq "poll: the first poll and the loop's 999 (two sites) are two violation lines in the log, the sites' counts 1 and 999, 998 counted as repeated polls" \
  "$(nviol s.poll) $(log s.poll | grep '"ev":"summary_site","call":"cudaStreamQuery"' | grep -o '"count":[0-9]*' | sort -t: -k2n | tr '\n' ' ')$(log s.poll | grep -o '"polls_counted":[0-9]*')" \
  '2 "count":1 "count":999 "polls_counted":998'

# ---- the observer point: another thread reads which watched call each thread is inside ----
UNIT=${CG_UNIT_DIR:-$ROOT/build/unit}
# the process's end right after a failure: named before it ends (exit, _exit, abort), not when clean
if [ -x "$S/exit_after" ]; then
  for m in exit _exit abort clean; do run observe "ex.$m" "$S/exit_after" $m; done
  exits() { log "$1" | grep -o '"ev":"exit_after_failure","how":"[_a-z]*","status":[0-9a-z]*,"captures_ruined":[0-9]*,"call":"[A-Za-z]*","rc":[0-9]*,"capture":[0-9]*' | tr '\n' ' '; }
  expect_eq "exit: a process that calls exit(3) right after a failed cudaMalloc (900, capture ruined) names the call first; its output and status unchanged" \
    "$(cat "$T/ex.exit.status") $(grep -c '^rc malloc 900' "$T/ex.exit.out") $(exits ex.exit)$(grep -c 'the process ends (exit 3) [0-9]* ms after cudaMalloc returned 900 in capture 1 at exit_after+0x' "$T/ex.exit.err")" \
    '3 1 "ev":"exit_after_failure","how":"exit","status":3,"captures_ruined":1,"call":"cudaMalloc","rc":900,"capture":1 1'
  expect_eq "exit: _exit(4) and abort() the same (abort still dies of SIGABRT)" \
    "$(cat "$T/ex._exit.status") $(exits ex._exit)| $(cat "$T/ex.abort.status") $(exits ex.abort)" \
    '4 "ev":"exit_after_failure","how":"_exit","status":4,"captures_ruined":1,"call":"cudaMalloc","rc":900,"capture":1 | 134 "ev":"exit_after_failure","how":"abort","status":null,"captures_ruined":1,"call":"cudaMalloc","rc":900,"capture":1 '
  expect_eq "exit: a clean exit(0) with no failure names nothing" "$(cat "$T/ex.clean.status") $(log ex.clean | grep -c exit_after_failure)" "0 0"
else
  bad "exit" "$S/exit_after is missing (make scenarios)"
fi

# the cause kept across the depth guard: a one-rank NCCL init inside the capture under observe; its
# own device allocation (an inner call, below the depth guard) ruins the capture: the init is the cause
if [ -x "$UNIT/init_in_capture" ]; then
  run observe cause.init "$UNIT/init_in_capture"
  expect_eq "cause: a capture ruined inside a judged call (ncclCommInitRank's own allocation) names that call as the cause" \
    "$(tr '\n' ' ' <"$T/cause.init.out")$(grep -c 'capture 1 was invalidated (901), caused by ncclCommInitRank at init_in_capture+0x' "$T/cause.init.err") $(log cause.init | grep -o '"ev":"capture_end",.*"rc":901,"cause":"ncclCommInitRank at init_in_capture+0x' | wc -l)" \
    "init 1 end 901 1 1"
  expect_eq "cause: the driver's error log names the inner failure (cuMemAlloc_v2, 900) inside ncclCommInitRank, which stays the cause" \
    "$(log cause.init | grep -c '"ev":"witness","entry":"cuMemAlloc_v2","code":900,.*"capture":1,"inside":"ncclCommInitRank"')" "1"
else
  bad "cause" "$UNIT/init_in_capture is missing (make unit)"
fi
if [ -x "$UNIT/observer" ]; then
  # its blocking double before anything LD_LIBRARY_PATH holds (a GPU machine's real libcuda.so.1)
  (cd "$T" && LD_LIBRARY_PATH="$UNIT/block${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" CAPGUARD=1 CAPGUARD_LOG_DIR="$T/obs.logs" \
    timeout 60 "$UNIT/observer" >"$T/obs.out" 2>"$T/obs.err")
  fact() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$T/obs.out"; }
  expect_eq "observer: a thread blocked in cuStreamSynchronize outside any capture is seen inside it, at its first sequence number" \
    "$(fact a_inside)" "cuStreamSynchronize seq 1 seen 1"
  expect_eq "observer: a thread blocked in cuCtxSynchronize is seen inside it" "$(fact b_inside)" "cuCtxSynchronize seq 1 seen 1"
  expect_eq "observer: a thread whose watched call returned is seen inside none, its sequence kept" "$(fact c_after)" "none seq 1 seen 1"
  expect_eq "observer: while another stream captures, the next blocked sync is seen at the next sequence number" \
    "$(fact a_inside_during_capture)" "cuStreamSynchronize seq 2 seen 1 begin 0"
  expect_eq "observer: a thread that exited has left the registry" "$(fact a_gone)" "1"
else
  bad "observer" "$UNIT/observer is missing (make unit)"
fi

# ---- the watchdog: a call blocked past CAPGUARD_WATCHDOG_MS is named while blocked ----
if [ -x "$UNIT/watchdog" ]; then
  wd() { # wd TAG MS [MODE]
    (cd "$T" && LD_LIBRARY_PATH="$UNIT/block${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" LD_PRELOAD="$PRE$LIB" CAPGUARD=1 \
      CAPGUARD_WATCHDOG_MS=$2 CAPGUARD_LOG_DIR="$T/$1.logs" timeout 30 "$UNIT/watchdog" ${3:-} >"$T/$1.out" 2>"$T/$1.err")
    echo $? >"$T/$1.status"
  }
  wd wd.on 200
  expect_eq "watchdog: a program with one call blocked 1.3 s and one blocked for good at exit returns, exits 0 (not kept alive)" \
    "$(cat "$T/wd.on.status") $(grep -E '^(returned|second_named|exiting)' "$T/wd.on.out" | tr '\n' ' ')" "0 returned 0 second_named 1 exiting "
  expect_eq "watchdog: CAPGUARD_WATCHDOG_MS=200, the blocked cuStreamSynchronize is named at 1, 2 and 4 bounds while blocked (doubling, no flood)" \
    "$(log wd.on | grep '"ev":"watchdog","blocked_tid":[0-9]*,"call":"cuStreamSynchronize"' | grep -o '"report":[0-9]*' | tr '\n' ' ')" \
    '"report":0 "report":1 "report":2 '
  ms=$(log wd.on | grep '"ev":"watchdog","blocked_tid":[0-9]*,"call":"cuStreamSynchronize"' | grep -o '"ms":[0-9]*' | cut -d: -f2 | tr '\n' ' ')
  check_ms() { set -- $ms; [ "${1:-0}" -ge 200 ] && [ "$1" -lt 400 ] && [ "${2:-0}" -ge 400 ] && [ "${3:-0}" -ge 800 ] && [ "$3" -lt 1300 ]; }
  check_ms && ok "watchdog: each naming comes at its bound (ms: $ms)" || bad "watchdog: bounds" "ms: $ms"
  done_ms=$(log wd.on | grep '"ev":"watchdog_done","blocked_tid":[0-9]*,"call":"cuStreamSynchronize"' | grep -o '"ms":[0-9]*' | cut -d: -f2)
  [ "${done_ms:-0}" -ge 1200 ] && grep -q 'watchdog: thread [0-9]* has been inside cuStreamSynchronize for 0.2 s' "$T/wd.on.err" &&
    grep -q 'returned from cuStreamSynchronize after at least 1.[2-9] s' "$T/wd.on.err" &&
    ok "watchdog: its return is named too (after ${done_ms} ms), on stderr and in the log" || bad "watchdog: return" "done ms ${done_ms:-none}; $(head -c 300 "$T/wd.on.err")"
  blk=$(awk '$1 == "watchdog_sigblk" { print $2 }' "$T/wd.on.out")
  [ -n "$blk" ] && [ $(( 16#$blk & 16#fffffffe7ffbfeff )) = $(( 16#fffffffe7ffbfeff )) ] &&
    ok "watchdog: its thread blocks every signal that can be blocked (SigBlk $blk)" || bad "watchdog: signal mask" "SigBlk ${blk:-not found}"
  wd wd.off 0 nowait
  expect_eq "watchdog: CAPGUARD_WATCHDOG_MS=0, no watchdog line or event, the same result" \
    "$(cat "$T/wd.off.status") $(grep -c 'watchdog' "$T/wd.off.err") $(log wd.off | grep -c '"ev":"watchdog')" "0 0 0"
  wd wd.fork 200 fork
  expect_eq "watchdog: in a forked child its own watchdog names the child's blocked call" \
    "$(cat "$T/wd.fork.status") $(cat "$T/wd.fork.out")" "0 child_named 1"
  # a Python thread blocked outside any capture: its Python line, read from its own thread state
  pyl=$(grep -n '# the blocked line' tests/unit/py_blocked.py | cut -d: -f1)
  for pvp in $pyvers; do
    [ "$STATIC" = 0 ] || break
    pv=${pvp%%:*} py=${pvp#*:}
    (cd "$T" && LD_PRELOAD="$PRE$LIB" CAPGUARD=1 CAPGUARD_WATCHDOG_MS=200 CAPGUARD_LOG_DIR="$T/wd.py$pv.logs" timeout 30 \
      "$py" "$ROOT/tests/unit/py_blocked.py" "$UNIT/block/libcuda.so.1" "$T/wd.py$pv.logs" >"$T/wd.py$pv.out" 2>"$T/wd.py$pv.err")
    expect_eq "watchdog: Python $pv, a background thread blocked in cuStreamSynchronize outside any capture: named with its Python line" \
      "$(tr '\n' ' ' <"$T/wd.py$pv.out")$(cat "$T/wd.py$pv.logs"/*.jsonl 2>/dev/null | grep '"ev":"watchdog",' | head -1 | grep -o '"call":"[A-Za-z]*"\|"py":"[^"]*"' | tr '\n' ' ')$(grep -c "from py_blocked.py:$pyl in worker_sync" "$T/wd.py$pv.err")" \
      "named 1 returned 0 \"call\":\"cuStreamSynchronize\" \"py\":\"py_blocked.py:$pyl in worker_sync\" 1"
  done
else
  bad "watchdog" "$UNIT/watchdog is missing (make unit)"
fi

# ---- captured-collective fingerprints: two ranks, the same collectives or a different one ----
if [ -x "$UNIT/fingerprint_mpi" ] && { [ "$CPU_ONLY" = 1 ] || [ "${CG_GPU_NRANKS:-1}" -ge 2 ]; }; then
  fp() { log "$1" | grep '"ev":"fingerprint"' | sed 's/.*"rank":\([0-9]*\),.*"hash":"\([0-9a-f]*\)".*"list":\(.*\)}$/\1 \2 \3/' | sort; }
  for m in same diverge; do mrun 1 "fp.$m" $MPIRUN "$UNIT/fingerprint_mpi" $m; done
  mrun 1 fp.params $MPIRUN "$UNIT/fingerprint_mpi" diverge params
  expect_eq "fingerprint: two ranks capturing the same NCCL collectives log one fingerprint each, equal (2 collectives, in order)" \
    "$(fp fp.same | awk '{ print $2 }' | uniq | wc -l) $(fp fp.same | wc -l) $(fp fp.same | head -1 | grep -o '"op":"[a-zA-Z]*"' | tr '\n' ' ')" \
    '1 2 "op":"ncclAllReduce" "op":"ncclAllReduce" '
  expect_eq "fingerprint: rank 1 capturing a Broadcast where rank 0 has an AllReduce: the hashes differ and rank 1's list shows its Broadcast (root 0)" \
    "$(fp fp.diverge | awk '{ print $2 }' | uniq | wc -l) $(fp fp.diverge | awk '$1 == 1' | grep -o '"op":"ncclBroadcast","count":32,"dtype":7,"comm":"#1","root":0')" \
    '2 "op":"ncclBroadcast","count":32,"dtype":7,"comm":"#1","root":0'
  expect_eq "fingerprint: the captures still end 0 on both ranks, and the graphs launch" \
    "$(grep -c 'end 0' "$T/fp.diverge.out") $(grep -c 'launch 0' "$T/fp.diverge.out")" "2 2"
  expect_eq "fingerprint: at the first launch of the same graphs each rank checks the other's fingerprint: equal" \
    "$(log fp.same | grep -o '"ev":"fingerprint_checked","capture":1,"hash":"[0-9a-f]*","peers":1,"differ":0' | wc -l) $(log fp.same | grep -c fingerprint_mismatch)" "2 0"
  expect_eq "fingerprint: at the first launch of diverging graphs both ranks name the mismatch, collective #1, with both entries" \
    "$(log fp.diverge | grep '"ev":"fingerprint_mismatch"' | grep -o '"first_difference":1,"mine":"{[^}]*}","theirs":"{[^}]*}"' | wc -l)" "2"
  expect_eq "fingerprint: a graph instantiated with cudaGraphInstantiateWithParams is checked at its first launch too" \
    "$(log fp.params | grep -c '"ev":"fingerprint_mismatch"') $(grep -c 'launch 0' "$T/fp.params.out")" "2 2"
  expect_eq "fingerprint: the stderr line names the ranks, the capture and the two collectives, before the launch" \
    "$(grep -c 'the graph of capture 1 is about to be launched, but its NCCL collectives differ from rank [01].s .*collective #1 is {"op":"nccl[A-Za-z]*"' "$T/fp.diverge.err")" "2"
fi

# ---- suites of their own: the layering, the launcher, the fault-injection suite (tests/fault) ----
suite() { # suite PREFIX SCRIPT: its "PASS name" / "FAIL name: why" lines are counted here
  [ -x "$2" ] || { bad "$1" "$2 is missing"; return; }
  while read -r word rest; do
    case $word in PASS) ok "$1: $rest" ;; FAIL) bad "$1: ${rest%%:*}" "${rest#*:}" ;; esac
  done < <("$2")
}
suite docs tests/docs/current.sh
suite layering tests/layering/check.sh
suite launcher tests/test_launcher.sh
suite report tests/report/report.sh
for f in tests/fault/*.sh; do [ -x "$f" ] && suite "fault/$(basename "$f" .sh)" "$f"; done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
