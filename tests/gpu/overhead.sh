#!/bin/bash
# The GPU overhead table (issue 13): tests/gpu/overhead.py's cases in three columns, bare (nothing
# preloaded), pass (bench/libpassthrough.so: a cached-dlsym forward of every hooked entry point)
# and on (libcapguard.so, CAPGUARD=1: watchdog and flight recorder on), interleaved in a rotating
# order, ROUNDS rounds; prints the median and spread of each and the ratios bare/on and pass/on
# (throughput of capguard relative to each; 1.00 = no cost). Never decides pass or fail.
set -u
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
ROUNDS=${ROUNDS:-7}
PIN=${PIN:-taskset -c 3} # one core for every column: the eager loop is CPU-bound
LIB=$PWD/build/libcapguard.so PASS=$PWD/build/bench/libpassthrough.so
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cases="graph_replay 3000
eager_launch 6000
nccl_graph_20 300"
cols="bare pass on"
for r in $(seq "$ROUNDS"); do
  while read -r c n; do
    for col in $cols; do
      case $col in
        bare) env -u LD_PRELOAD $PIN $PY tests/gpu/overhead.py "$c" "$n" ;;
        pass) LD_PRELOAD=$PASS $PIN $PY tests/gpu/overhead.py "$c" "$n" ;;
        on) LD_PRELOAD=$LIB CAPGUARD=1 CAPGUARD_LOG_DIR=$TMP/logs $PIN $PY tests/gpu/overhead.py "$c" "$n" ;;
      esac 2>>"$TMP/err" | awk -v col=$col '{ print col, $1, $2 }' >>"$TMP/all"
    done
  done <<<"$cases"
  cols=$(echo $cols | awk '{ print $2, $3, $1 }') # rotate the order
done
python3 - "$TMP/all" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    col, case, us = line.split()
    d[(case, col)].append(float(us))
def cell(v):
    if not v:
        return None, "n/a"
    m = statistics.median(v)
    return m, "%.2f ±%.0f%%" % (m, 100 * (max(v) - min(v)) / m if m else 0)
print("us per iteration: median of %d rounds, ± spread (max-min)/median" % len(next(iter(d.values()))))
print("| case | bare | pass | on | bare/on | pass/on |")
print("|---|---|---|---|---|---|")
for case in dict.fromkeys(k[0] for k in d):
    (b, bs), (p, ps), (o, os_) = (cell(d[(case, c)]) for c in ("bare", "pass", "on"))
    ratio = lambda a: "%.3f" % (a / o) if a else "n/a"
    print("| %s | %s | %s | %s | %s | %s |" % (case, bs, ps, os_, ratio(b), ratio(p)))
PY
[ -s "$TMP/err" ] && { echo "stderr (last lines):"; tail -5 "$TMP/err"; }
exit 0
