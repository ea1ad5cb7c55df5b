#!/bin/bash
# The benchmark table (make bench). Every case runs in four columns:
#   bare  the program on the null driver/NCCL, nothing preloaded
#   pass  the pass-through bound preloaded (bench/passthrough.c: a cached-dlsym one-liner)
#   off   libcapguard.so preloaded, CAPGUARD=0
#   lean  as on, without the watchdog and the flight recorder (CAPGUARD_WATCHDOG_MS=0 CAPGUARD_RECORDER=0):
#         on - lean is what those two cost
#   on    libcapguard.so preloaded, CAPGUARD=1 (SYNC:reject, so a violation leaves the capture valid)
# ns: BENCH_ROUNDS rounds (default 5), the columns interleaved in a rotating order within each
# round; the table shows the median and the spread (max-min over the median). Instructions:
# callgrind, collecting only the measured loop (bench_loop), divided by its count. Prints; never
# decides pass or fail. BENCH_CASES="a b" runs only those cases; BENCH_IR=0 skips callgrind.
set -u
B=${BUILD:-build}
BIN=$B/bench/bench
PASS=$B/bench/libpassthrough.so
LIB=$B/libcapguard.so
ROUNDS=${BENCH_ROUNDS:-5}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# the null doubles before anything LD_LIBRARY_PATH holds (a GPU machine's real libcuda.so.1)
export LD_LIBRARY_PATH="$(cd "$B" && pwd)/bench/null${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMPI_MCA_plm=isolated OMPI_MCA_btl=self OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# case  iterations-for-ns  iterations-for-instructions (0: not counted)
CASES="hot 2000000 20000
hot_watched 2000000 20000
legal_in_capture 1000000 20000
graph_launch 2000000 20000
violation_seen_site 20000 1000
mpi_allreduce_8B 200000 2000
mpi_allreduce_1MiB 300 10
nccl_allreduce 1000000 20000
alloc_1dev 2000000 20000
alloc_2dev 200000 2000
memo_hit 100000 2000
memo_miss_10 20000 1000
memo_miss_1000 20000 1000
memo_miss_100000 20000 1000
threads_1 2000000 0
threads_8 500000 0
threads_64 50000 0"
[ -n "${BENCH_CASES:-}" ] && CASES=$(echo "$CASES" | grep -E "^($(echo "$BENCH_CASES" | tr ' ' '|')) ")
COLS="bare pass off lean on"

# run COLUMN CMD...: the command with that column's preload and environment.
run() {
  local col=$1; shift
  case $col in
    bare) env -u LD_PRELOAD "$@" ;;
    pass) env LD_PRELOAD="$PASS" "$@" ;;
    off) env LD_PRELOAD="$LIB" CAPGUARD=0 "$@" ;;
    on) env LD_PRELOAD="$LIB" CAPGUARD=1 CAPGUARD_POLICY=SYNC:reject CAPGUARD_LOG_DIR="$TMP/logs" \
          CAPGUARD_MEMO_OBJECTS=1000000 CAPGUARD_MEMO_KEYS=1000000 "$@" ;;
    lean) CAPGUARD_WATCHDOG_MS=0 CAPGUARD_RECORDER=0 run on "$@" ;;
  esac
}

BENCH_TIMEOUT=${BENCH_TIMEOUT:-120}
echo "$CASES" | while read -r name n ir; do
  cols=($COLS)
  for r in $(seq 1 "$ROUNDS"); do
    for k in "${!cols[@]}"; do
      col=${cols[$(( (k + r) % ${#cols[@]} ))]}
      out=$(run "$col" timeout "$BENCH_TIMEOUT" "$BIN" "$name" "$n" 2>>"$TMP/stderr")
      echo "$name $col ${out#* }" >>"$TMP/ns"
    done
  done
  if [ "${BENCH_IR:-1}" != 0 ] && [ "$ir" != 0 ]; then
    for col in $COLS; do
      f=$TMP/cg.$name.$col
      run "$col" timeout $((BENCH_TIMEOUT * 5)) valgrind --tool=callgrind --collect-atstart=no --toggle-collect=bench_loop \
        --callgrind-out-file="$f" "$BIN" "$name" "$ir" >/dev/null 2>>"$TMP/stderr"
      tot=$(grep -E '^(summary|totals):' "$f" 2>/dev/null | head -1 | awk '{print $2}')
      echo "$name $col ${tot:-} $ir" >>"$TMP/ir"
    done
  fi
done
python3 - "$TMP/ns" "$TMP/ir" <<'PY'
import sys, statistics, os
ns, ir = {}, {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 3:
        try: ns.setdefault((p[0], p[1]), []).append(float(p[2]))
        except ValueError: pass
if os.path.exists(sys.argv[2]):
    for line in open(sys.argv[2]):
        p = line.split()
        if len(p) == 4: ir[(p[0], p[1])] = float(p[2]) / float(p[3])
cols = ["bare", "pass", "off", "lean", "on"]
names = []
for (n, c) in ns:
    if n not in names: names.append(n)
def cell(v):
    if not v: return "-"
    m = statistics.median(v)
    spread = (max(v) - min(v)) / m * 100 if m else 0
    return f"{m:.1f} ±{spread:.0f}%"
print("ns per call: median of %s rounds, ± spread (max-min)/median" % max(len(v) for v in ns.values()))
print("| case | " + " | ".join(cols) + " | on - bare | on / pass | on - lean |")
print("|---|" + "---|" * (len(cols) + 3))
for n in names:
    med = {c: statistics.median(ns[(n, c)]) for c in cols if ns.get((n, c))}
    added = f"{med['on'] - med['bare']:+.1f}" if 'on' in med and 'bare' in med else "-"
    ratio = f"{med['on'] / med['pass']:.2f}" if 'on' in med and med.get('pass') else "-"
    lean = f"{med['on'] - med['lean']:+.1f}" if 'on' in med and 'lean' in med else "-"
    print(f"| {n} | " + " | ".join(cell(ns.get((n, c))) for c in cols) + f" | {added} | {ratio} | {lean} |")
if ir:
    print()
    print("instructions per call (callgrind, the measured loop only; bare includes the loop and the null function)")
    print("| case | " + " | ".join(cols) + " | pass - bare | off - bare | on - bare | on - lean |")
    print("|---|" + "---|" * (len(cols) + 4))
    for n in names:
        v = {c: ir.get((n, c)) for c in cols}
        if all(x is None for x in v.values()): continue
        f = lambda x: "-" if x is None else f"{x:.0f}"
        d = lambda c: "-" if v[c] is None or v['bare'] is None else f"{v[c] - v['bare']:+.0f}"
        dl = "-" if v['on'] is None or v['lean'] is None else f"{v['on'] - v['lean']:+.0f}"
        print(f"| {n} | " + " | ".join(f(v[c]) for c in cols) + f" | {d('pass')} | {d('off')} | {d('on')} | {dl} |")
PY
if [ -s "$TMP/stderr" ] && grep -v -e "^capguard" -e "^==[0-9]*==" "$TMP/stderr" | grep -q .; then
  echo; echo "bench: stderr of the runs (other than capguard's own lines):"; grep -v -e '^capguard' -e '^==[0-9]*==' "$TMP/stderr" | sort | uniq -c | head -20
fi
