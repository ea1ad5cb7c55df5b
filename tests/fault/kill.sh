#!/usr/bin/env bash
# Fault injection: "SIGKILL at random moments of a four-thread log flood, 100 times: zero torn
# lines." build/fault/kill_flood makes four threads write violation, capture_begin and
# capture_end lines as fast as they can; once all four are flooding it says so through a FIFO,
# and is killed with SIGKILL after a random 5-200 ms. Every line of every log must parse as
# JSON, and most logs must hold lines. CG_KILL_RUNS overrides the count (default 100).
# Prints one "PASS name" / "FAIL name: why" line per check (tests/run.sh counts them).
. "$(dirname "$0")/lib.sh"
RUNS=${CG_KILL_RUNS:-100}
P=$F/kill_flood
for f in "$LIB" "$P"; do
  [ -e "$f" ] || { bad "setup" "$f is missing (make fault / make)"; exit 0; }
done
verdict() { if [ "$1" = 0 ]; then ok "$2"; else bad "$2" "$3"; fi; }

mkfifo "$T/ready"
exec 7<>"$T/ready" # held open read-write: neither side's open blocks, a read is bounded by -t
torn=0 torn_runs="" empty=0 not_ready=0 odd_status="" lines=0
for i in $(seq "$RUNS"); do
  D=$T/k.$i
  # the program itself is the background job ($! is its pid: the subshell and env exec)
  (cd "$T" && exec env -u CAPGUARD LD_LIBRARY_PATH="$FAKES" LD_PRELOAD="$PRE$LIB" CAPGUARD=1 \
    CAPGUARD_LOG_DIR="$D" "$P" "$T/ready" >"$T/k.out" 2>"$T/k.err") &
  pid=$!
  if read -r -t 10 -u 7 word && [ "$word" = flooding ]; then
    # the random moment (this delay is the point of the test, not a synchronisation)
    sleep "$(printf '0.%03d' $((5 + RANDOM % 196)))"
  else
    not_ready=$((not_ready + 1))
  fi
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  st=$?
  rm -f /dev/shm/fakecuda."$pid".* # the test doubles' device memory of the killed process
  while read -r -t 0 -u 7 && read -r -t 1 -u 7 _; do :; done # a late "flooding" is not the next run's
  [ "$st" = 137 ] || odd_status+=" run $i: status $st $(head -c 100 "$T/k.err" | tr '\n' ' ');"
  n=$(bad_json_lines "$D")
  if [ "$n" != 0 ]; then
    torn=$((torn + n))
    [ ${#torn_runs} -lt 400 ] && torn_runs+=" run $i: $n torn, e.g. [$(find "$D" -name '*.jsonl' -exec tail -c 80 {} + | tr '\n' ' ')];"
  fi
  l=$(find "$D" -name '*.jsonl' -type f -exec cat {} + 2>/dev/null | wc -l)
  lines=$((lines + l))
  [ "$l" -gt 1 ] || empty=$((empty + 1))
  rm -rf "$D"
done
exec 7<&-

[ "$torn" = 0 ]
verdict $? "SIGKILL at a random moment (5-200 ms) of a four-thread log flood, $RUNS runs, zero torn lines" "$torn torn lines:${torn_runs}"
[ "$empty" -le $((RUNS / 10)) ]
verdict $? "SIGKILL flood, the logs hold lines in most runs (at most 10% empty)" "$empty of $RUNS logs empty, $not_ready runs never said flooding"
[ -z "$odd_status" ]
verdict $? "SIGKILL flood, every run flooded until the SIGKILL (status 137, no crash or early exit)" "${odd_status# }"
echo "kill: $RUNS runs, $lines log lines in all, $empty empty, $not_ready not ready" >&2
exit 0
