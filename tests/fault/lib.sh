# Shared by the fault-injection suites (tests/fault/*.sh), sourced, not run. Each suite prints
# one "PASS name" / "FAIL name: why" line per check; tests/run.sh counts them.
# Environment: CG_LIB (the library under test), CG_PRELOAD_PREFIX (a sanitizer runtime first).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIB=${CG_LIB:-$ROOT/build/libcapguard.so}
PRE=${CG_PRELOAD_PREFIX:-}
FAKES=${CG_CUDA_LIBDIR:-$ROOT/build/fakes}
S=${CG_SCEN_DIR:-$ROOT/build/scenarios}
F=${CG_FAULT_DIR:-$ROOT/build/fault}
T=$(mktemp -d /tmp/capguard-fault.XXXXXX)
trap 'rm -rf "$T"' EXIT
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; }
check() { # check NAME WHY-IF-NOT CMD...: PASS when CMD succeeds
  local name=$1 why=$2
  shift 2
  if "$@"; then ok "$name"; else bad "$name" "$why"; fi
}
# frun TAG SECONDS [VAR=value ...] -- CMD...: run CMD with capguard preloaded (the fakes on
# LD_LIBRARY_PATH, CAPGUARD unset unless given), cwd $T, bounded by SECONDS. Output in
# $T/TAG.out and $T/TAG.err, exit status in $T/TAG.status (124 = it hung and was killed).
# brun: the same without capguard (the program's own result, to compare against).
frun() { run_as "LD_PRELOAD=$PRE$LIB" "$@"; }
brun() { run_as "CG_UNUSED=" "$@"; }
run_as() {
  local preload=$1 tag=$2 secs=$3
  shift 3
  local env=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do env+=("$1"); shift; done
  shift
  (cd "$T" && timeout -k 5 "$secs" env -u CAPGUARD -u LD_PRELOAD LD_LIBRARY_PATH="$FAKES" "$preload" "${env[@]}" "$@" \
    >"$T/$tag.out" 2>"$T/$tag.err")
  echo $? >"$T/$tag.status"
}
status() { cat "$T/$1.status"; }
# every line of every JSONL file below DIR parses; prints the number of lines that do not
bad_json_lines() {
  find "$1" -name '*.jsonl' -type f -exec cat {} + 2>/dev/null | python3 -c 'import sys, json
n = 0
for line in sys.stdin:
    try: json.loads(line)
    except Exception: n += 1
print(n)'
}
