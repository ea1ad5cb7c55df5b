#!/usr/bin/env bash
# Run the configuration parser's fuzz target: tests/fuzz/run.sh BIN SECONDS [OUTDIR [libFuzzer flags...]]
# Seeds: tests/fuzz/corpus (read only). New inputs go to OUTDIR/corpus, crashes to OUTDIR/crash-*,
# the fuzzer's output to OUTDIR/fuzz.log; OUTDIR defaults to a fresh /tmp/capguard-fuzz.* (kept).
# Prints one "fuzz: ..." summary line; exits 1 on a crash, a failed invariant or a fuzzer error.
set -u
cd "$(dirname "$0")/../.."
bin=$1 secs=$2 out=${3:-}
shift 2
[ $# -gt 0 ] && shift
[ -n "$out" ] || out=$(mktemp -d /tmp/capguard-fuzz.XXXXXX)
mkdir -p "$out/corpus"
log=$out/fuzz.log
# The harness drops CAPGUARD* from the environment it gives the parser; CAPGUARD is unset here
# too so that the shim's own constructor in the fuzzer process stays inert.
env -u CAPGUARD "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$out/" "$@" "$out/corpus" tests/fuzz/corpus >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
took=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -1)
last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|REDUCE|NEW|pulse|INITED)' "$log" | tail -1)
eps=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -1)
if [ -z "$runs" ] && grep -q '^INFO: exiting: 0 ' "$log"; then # -fork=N: the parent's own lines
  last=$(grep -E '^#[0-9]+: cov: ' "$log" | tail -1)
  runs=$(echo "$last" | sed -n 's/^#\([0-9]*\):.*/\1/p')
  took=$(sed -n 's/^INFO: exiting: 0 time: \([0-9]*\)s.*/\1/p' "$log" | tail -1)
  eps=$(echo "$last" | sed -n 's/.* exec\/s \([0-9]*\).*/\1/p')
fi
field() { echo "$last" | sed -n "s/.* $1: \([^ ]*\).*/\1/p"; }
rss=$(sed -n 's/^stat::peak_rss_mb:[[:space:]]*//p' "$log" | tail -1)
seeds=$(find tests/fuzz/corpus -type f | wc -l)
new=$(find "$out/corpus" -type f | wc -l)
crashes=$(find "$out" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
if [ "$rc" = 0 ] && [ -n "$runs" ] && [ -z "$crashes" ]; then
  echo "fuzz: ${runs} runs in ${took} s (${eps:-?} exec/s), cov: $(field cov) ft: $(field ft), corpus $(field corp) from ${seeds} seeds (+${new} new inputs in $out/corpus), peak rss ${rss:-?} MB; log $log"
  exit 0
fi
echo "fuzz: FAILED (fuzzer exit $rc${crashes:+, reproducer(s): $(echo $crashes)}); log $log"
grep -E 'invariant failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY:' "$log" | head -5
exit 1
