#!/usr/bin/env bash
# make sanitize: builds everything (the library, build/capguard, the CUDA/NCCL test doubles, the
# scenario and fault programs) with ASan+UBSan into build/asan and with TSan into build/tsan
# (make BUILD=build/VARIANT SAN=...), runs the CPU suite (tests/run.sh) on each build, runs the
# sanitized launcher, and counts the sanitizer reports. The last line says CLEAN or NOT CLEAN.
#
# Usage: tests/sanitize/run.sh [asan] [tsan]      (default: both)
# Environment: CG_SAN_OUT (default build/sanitize): per variant, logs/ (the reports),
#   suite.out, outputs/ (tests/run.sh's files), reports.txt (the counted reports);
#   CG_SAN_PARALLEL=1/0: the two suites at once or one after the other (default: at once with
#   4 cores or more); CC, MAKE as usual.
#
# How the suite runs on a sanitized build: tests/run.sh is pointed at it with CG_LIB,
# CG_CUDA_LIBDIR, CG_SCEN_DIR, CG_FAULT_DIR; CG_PRELOAD_PREFIX puts the sanitizer runtime first
# in every preload (it must come first in the initial library list), CG_BARE_PRELOAD does the
# same for the runs without capguard, CG_NEEDED_OK lets the library need the runtime.
# CG_SANITIZER=asan|tsan is exported for suites with bounds that cannot hold under a sanitizer
# (memory growth, time); CG_FUZZ_SKIP=1: the fuzz suite builds its own ASan target, whatever
# the build, and make test runs it already. Every report goes to a log file (log_path), never
# to the programs' stderr, which the suite compares; gcc's separate libubsan needs
# ubsan_log.so for that (see there).
#
# Counted: every report (ASan error, leak, UBSan runtime error, TSan warning). A report is
# "from shim/" when its first frame outside the sanitizer runtime (for TSan, of any of its
# stacks), or outside the runtime and glibc, is in shim/: capguard's bugs, never suppressed.
# Any other report that no suppression covers counts too (each third-party entry of the
# suppression files tests/sanitize/*.supp says which library and why). Exit status 0 only when
# every suite ends with 0 failed and no report is left.
#
# Python: the suite's python3 (and the pyenv 3.11-3.13 interpreters where there are some) are
# not instrumented; they load the instrumented fake libcudart through ctypes, so every run of
# them, with capguard or without, preloads the runtime first (libtsan cannot be loaded later at
# all, libasan only crippled). python3 is resolved to the interpreter itself, not a launcher
# script (a pyenv shim would run bash, preloaded, on the way). CPython's own leaks at exit are
# suppressed by its module name (lsan.supp says what that covers).
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
CC=${CC:-cc}
MAKE=${MAKE:-make}
OUT=${CG_SAN_OUT:-$ROOT/build/sanitize}
SUPP=$ROOT/tests/sanitize
variants=${*:-asan tsan}
jobs=()
case " ${MAKEFLAGS:-} " in *jobserver*|*" -j"*) ;; *) jobs=(-j"$(nproc 2>/dev/null || echo 2)") ;; esac
t_start=$(date +%s)

scripts/deps.sh test || exit 1

san_flags() {
  case $1 in
    asan) echo "-fsanitize=address,undefined -fno-omit-frame-pointer" ;;
    tsan) echo "-fsanitize=thread" ;;
    *) echo "tests/sanitize/run.sh: unknown variant $1 (asan, tsan)" >&2; return 1 ;;
  esac
}
runtime() { # the runtime the sanitized objects are linked against, by its real path
  local lib
  case $1 in asan) lib=libasan.so ;; tsan) lib=libtsan.so ;; esac
  lib=$($CC -print-file-name=$lib)
  [ -e "$lib" ] || { echo "tests/sanitize/run.sh: $CC has no $lib" >&2; return 1; }
  realpath "$lib"
}

build() { # VARIANT: build/VARIANT, everything the suite runs; the log in $OUT/VARIANT/build.log
  local v=$1 O=$OUT/$1 flags
  flags=$(san_flags "$v") || return 1
  echo "== sanitize/$v: building into build/$v with $flags"
  # objects do not depend on the flags: a change of them or of the make files rebuilds all
  local stamp
  stamp="$flags $(cat Makefile tests/fakes/fakes.mk tests/scenarios/scenarios.mk tests/fault/fault.mk | md5sum)"
  [ "$(cat "build/$v/.san-stamp" 2>/dev/null)" = "$stamp" ] || rm -rf "build/$v"
  mkdir -p "build/$v" && echo "$stamp" >"build/$v/.san-stamp"
  # the fakes first: the scenarios link against them but do not depend on them
  if ! { $MAKE -s "${jobs[@]}" BUILD="build/$v" SAN="$flags" fakes &&
         $MAKE -s "${jobs[@]}" BUILD="build/$v" SAN="$flags" all scenarios fault \
           "build/$v/fakes/selftest" "build/$v/fakes/nccl_selftest"; } >"$O/build.log" 2>&1; then
    tail -20 "$O/build.log"
    echo "sanitize/$v: BUILD FAILED (see ${O#"$ROOT"/}/build.log)"
    return 1
  fi
  if [ "$v" = asan ]; then # not instrumented: it only points libubsan's reports at a file
    $CC -shared -fPIC -O2 -Wall -Wextra -o "build/$v/ubsan_log.so" tests/sanitize/ubsan_log.c -ldl >>"$O/build.log" 2>&1 ||
      { tail -5 "$O/build.log"; return 1; }
  fi
}

suite() { # VARIANT: the CPU suite and the launcher on build/VARIANT, then the reports counted;
  # writes $OUT/VARIANT/{suite.out,reports.txt,summary}; returns non-zero unless clean
  local v=$1 O=$OUT/$1 B=$ROOT/build/$1 L=$OUT/$1/logs rt t1 t2 suite_rc rep_rc line senv common
  rt=$(runtime "$v") || return 1
  t1=$(date +%s)
  common="log_path=$L/$v:log_exe_name=1:print_suppressions=1"
  case $v in
    asan)
      # UBSAN_OPTIONS' log_path is ASan's on purpose: libubsan applies it to libasan's report
      # file (see ubsan_log.c); libubsan's own goes to CG_UBSAN_LOG_PATH, set by ubsan_log.so
      rt="$rt:$B/ubsan_log.so"
      senv=(ASAN_OPTIONS="$common:verify_asan_link_order=0:detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=40:suppressions=$SUPP/asan.supp"
            LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=1"
            UBSAN_OPTIONS="$common:print_stacktrace=1:suppressions=$SUPP/ubsan.supp"
            CG_UBSAN_LOG_PATH="$L/ubsan"
            CG_NEEDED_OK='libasan\.so|libubsan\.so') ;;
    tsan)
      senv=(TSAN_OPTIONS="$common:suppressions=$SUPP/tsan.supp:second_deadlock_stack=1:history_size=4:atexit_sleep_ms=0"
            CG_NEEDED_OK='libtsan\.so') ;;
  esac
  # which sanitizer is on, for suites with bounds that do not hold under one (memory, time)
  senv+=(CG_SANITIZER="$v")
  # the fuzz suite builds its own ASan+UBSan target with clang, whatever the build: make test
  # runs it, here it would only run twice more
  senv+=(CG_FUZZ_SKIP=1)
  # python3 is the interpreter itself, not a launcher script (a pyenv shim would run bash,
  # preloaded, on the way)
  mkdir -p "$O/bin"
  py=$(python3 -c 'import sys; print(sys.executable)') && [ -x "$py" ] && ln -sf "$py" "$O/bin/python3"
  echo "== sanitize/$v: running the CPU suite (${O#"$ROOT"/}/suite.out)"
  env "${senv[@]}" PATH="$O/bin:$PATH" CG_LIB="$B/libcapguard.so" CG_PRELOAD_PREFIX="$rt:" CG_BARE_PRELOAD="$rt" \
    CG_CUDA_LIBDIR="$B/fakes" CG_SCEN_DIR="$B/scenarios" CG_FAULT_DIR="$B/fault" CG_OUTDIR="$O/outputs" \
    tests/run.sh >"$O/suite.out" 2>&1
  suite_rc=$?
  # the launcher build/VARIANT/capguard itself (tests/test_launcher.sh tests build/capguard)
  for args in "--help" "version" "env" "run -- true"; do
    # shellcheck disable=SC2086
    env "${senv[@]}" CAPGUARD_LIB="$B/libcapguard.so" LD_PRELOAD="$rt" "$B/capguard" $args >/dev/null 2>>"$O/tool.err" ||
      { echo "FAIL sanitize/$v: build/$v/capguard $args exited $?" >>"$O/suite.out"; suite_rc=1; }
  done
  t2=$(date +%s)
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$O/suite.out" | tail -1)
  [ -n "$line" ] || { line="no result line"; suite_rc=1; }
  python3 tests/sanitize/reports.py "$v" "$L" "$O/reports.txt" >"$O/counts"
  rep_rc=$?
  echo "$v: suite $line; $(cat "$O/counts") (run $((t2 - t1)) s)" >"$O/summary"
  [ $suite_rc = 0 ] && [ $rep_rc = 0 ]
}

# both suites at once where there are cores for it (4 or more; CG_SAN_PARALLEL=0/1 decides):
# the fault suites have time bounds (a child that takes 3 s is "hung")
par=${CG_SAN_PARALLEL:-$([ "$(nproc 2>/dev/null || echo 1)" -ge 4 ] && echo 1 || echo 0)}
status=0 pids=() ran=()
for v in $variants; do
  san_flags "$v" >/dev/null && runtime "$v" >/dev/null || exit 2
  rm -rf "${OUT:?}/$v" && mkdir -p "$OUT/$v/logs"
  chmod 1777 "$OUT/$v/logs" # the fault suite runs some programs as nobody: they must be able to log
done
# the plain build too: the suite's install check copies it (make install), and two suites at
# once must not both build it
$MAKE -s "${jobs[@]}" all >"$OUT/plain-build.log" 2>&1 || { tail -20 "$OUT/plain-build.log"; echo "sanitize: the plain build failed"; exit 1; }
for v in $variants; do
  t0=$(date +%s)
  if build "$v"; then
    echo "$(($(date +%s) - t0))" >"$OUT/$v/build.time"
    ran+=("$v")
  else
    echo "$v: build failed" >"$OUT/$v/summary"
    status=1
  fi
done
for v in "${ran[@]}"; do
  if [ "$par" = 1 ]; then
    suite "$v" & pids+=($!)
  else
    suite "$v" || status=1
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
t_end=$(date +%s)
for v in $variants; do
  O=$OUT/$v
  [ -e "$O/suite.out" ] || continue
  grep '^FAIL' "$O/suite.out" | sed "s/^/$v: /" | cut -c1-400
  head -80 "$O/reports.txt"
  [ "$(wc -l <"$O/reports.txt")" -le 80 ] || echo "... (the rest in ${O#"$ROOT"/}/reports.txt)"
done
for v in $variants; do
  echo "sanitize: $(cat "$OUT/$v/summary")$([ -e "$OUT/$v/build.time" ] && echo " (build $(cat "$OUT/$v/build.time") s)")"
done
echo "sanitize: $([ $status = 0 ] && echo CLEAN || echo 'NOT CLEAN'): $variants in $((t_end - t_start)) s ($([ "$par" = 1 ] && echo "suites in parallel" || echo "one after the other")); reports in ${OUT#"$ROOT"/}/*/reports.txt"
exit $status
