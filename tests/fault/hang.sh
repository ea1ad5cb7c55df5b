#!/bin/bash
# Hangs capguard must name while they last (issue 13's watchdog), under real Open MPI:
#   a rank alone in MPI_Barrier inside a capture (CAPGUARD=observe, so it truly blocks): the
#   watchdog names the call on that rank within its bound, with the rank, the thread, the
#   communicator, the call site and the active capture, while the other rank has not arrived;
#   the job then completes.
source "$(dirname "$0")/lib.sh"
MPIRUN="timeout 60 mpirun --oversubscribe --allow-run-as-root -np 2"
frun alone 90 -- $MPIRUN -x CAPGUARD=observe -x CAPGUARD_WATCHDOG_MS=300 -x CAPGUARD_LOG_DIR="$T/alone.logs" "$F/hang_mpi"
wd=$(cat "$T/alone.logs"/*r0.jsonl 2>/dev/null | grep '"ev":"watchdog","blocked_tid"' | grep '"call":"MPI_Barrier"' | head -1)
check "hang: rank 0 alone in MPI_Barrier inside a capture, CAPGUARD=observe: the job completes once rank 1 saw the watchdog's line" \
  "status $(status alone); $(grep -E '^rank' "$T/alone.out" | tr '\n' ' '); $(tail -c 300 "$T/alone.err")" \
  eval '[ "$(status alone)" = 0 ] && grep -q "^rank 1 named 1" "$T/alone.out" && grep -q "^rank 0 done" "$T/alone.out" && grep -q "^rank 1 done" "$T/alone.out"'
check "hang: the watchdog named the blocked MPI_Barrier on rank 0 within its bound, with the active capture" \
  "first watchdog event: ${wd:-none}" \
  eval '[ -n "$wd" ] && ms=$(grep -o "\"ms\":[0-9]*" <<<"$wd" | cut -d: -f2) && [ "$ms" -ge 300 ] && [ "$ms" -lt 2000 ] && grep -q "\"captures_active\":1" <<<"$wd"'
check "hang: the blocked rank's stderr names it: rank, thread, call and its communicator, how long, the call site" \
  "$(grep watchdog "$T/alone.err" | head -2)" \
  grep -q 'capguard: \[rank 0\] watchdog: thread [0-9]* has been inside MPI_Barrier(comm WORLD) for 0\.[3-9] s, called at hang_mpi+0x' "$T/alone.err"
check "hang: the log's watchdog event has the call's arguments and site" "first watchdog event: ${wd:-none}" \
  eval 'grep -q "\"args\":\"comm WORLD\",\"site\":\"hang_mpi+0x" <<<"$wd"'
check "hang: the watchdog event names the capture the blocked call is inside and its native frames taken at entry" \
  "first watchdog event: ${wd:-none}" \
  eval 'grep -q "\"captures_active\":1,\"capture\":1," <<<"$wd" && grep -q "\"native\":\[{\"module\":\"hang_mpi\"" <<<"$wd"'
order=$(cat "$T/alone.logs"/*r0.jsonl 2>/dev/null | grep -o '"ev":"violation","call":"MPI_Barrier"\|"ev":"watchdog","blocked_tid"' | head -2 | tr '\n' ' ')
viol=$(cat "$T/alone.logs"/*r0.jsonl 2>/dev/null | grep '"ev":"violation","call":"MPI_Barrier"')
check "hang: the blocked MPI_Barrier's violation is written before the call (it may never return): before the watchdog's line, returned null" \
  "order: $order; violation: ${viol:0:400}" \
  eval '[ "$order" = "\"ev\":\"violation\",\"call\":\"MPI_Barrier\" \"ev\":\"watchdog\",\"blocked_tid\" " ] && grep -q "\"returned\":null,\"real_returned\":null" <<<"$viol"'
rec=$(cat "$T/alone.logs"/*r0.jsonl 2>/dev/null | grep '"ev":"rec",' | grep '"dump":1,' | grep '"call":"MPI_Barrier"')
check "hang: the watchdog's recorder dump holds the blocked MPI_Barrier still in flight (no return code, no duration)" \
  "$(cat "$T/alone.logs"/*r0.jsonl 2>/dev/null | grep -c '"ev":"recorder","reason":"watchdog"') watchdog dumps; rec: ${rec:-none}" \
  eval 'cat "$T/alone.logs"/*r0.jsonl | grep -q "\"ev\":\"recorder\",\"reason\":\"watchdog\",\"dump\":1," && grep -q "\"outcome\":null,\"ret\":null,\"us\":null" <<<"$rec"'
check "hang: rank 1's quick barrier is never named" "$(cat "$T/alone.logs"/*r1.jsonl 2>/dev/null | grep -c '"ev":"watchdog"') events" \
  eval '[ "$(cat "$T/alone.logs"/*r1.jsonl 2>/dev/null | grep -c "\"ev\":\"watchdog\",")" = 0 ]'

# The seed with the program's own per-dtype cache, one rank missing inside the capture (CASES.md),
# under CAPGUARD=observe: it hangs as without capguard. Once both ranks' watchdogs named their
# calls, each rank is sent SIGTERM (its pid from its log's start line), as a user ends a hung job:
# each dumps its flight recorder and dies of it; capguard report then says who was where.
# hang_then_term TAG POLICY CMD...: two ranks under mpirun, CAPGUARD=POLICY; once two watchdog
# lines are in the logs (30 s at most), SIGTERM to each rank (its pid from its log's start line)
hang_then_term() {
  local tag=$1 policy=$2
  shift 2
  (frun "$tag" 60 -- timeout -s KILL 40 mpirun --oversubscribe --allow-run-as-root -np 2 -x CAPGUARD="$policy" \
    -x CAPGUARD_WATCHDOG_MS=500 -x CAPGUARD_LOG_DIR="$T/$tag.logs" "$@") &
  for _ in $(seq 300); do
    [ "$(cat "$T/$tag.logs"/*.jsonl 2>/dev/null | grep -c '"ev":"watchdog",.*"report":0')" -ge 2 ] && break
    sleep 0.1
  done
  for p in $(cat "$T/$tag.logs"/*.jsonl 2>/dev/null | grep '"ev":"start"' | grep -o '"pid":[0-9]*' | cut -d: -f2); do kill -TERM "$p"; done
  wait
}
hang_then_term seedhang observe "$S/seed" ipc cached
"$ROOT/build/capguard" report "$T/seedhang.logs" >"$T/seedhang.report" 2>&1
check "hang: the seed with one rank's cache missing hangs under observe; SIGTERM to each rank: each dumped its recorder on it" \
  "status $(status seedhang); dumps: $(cat "$T/seedhang.logs"/*.jsonl 2>/dev/null | grep -o '"ev":"recorder","reason":"[A-Z]*"' | sort | uniq -c | tr '\n' ' ')" \
  eval '[ "$(cat "$T/seedhang.logs"/*.jsonl | grep -c "\"ev\":\"recorder\",\"reason\":\"SIGTERM\"")" = 2 ]'
check "hang: capguard report names rank 1 blocked in MPI_Comm_split inside capture 1 while rank 0 is blocked in MPI_Barrier" \
  "$(grep -A3 HANG "$T/seedhang.report")" \
  eval 'grep -Eq "rank 1 blocked [0-9.]+ s in MPI_Comm_split \(comm WORLD; capture 1; seed\+0x[0-9a-f]+.*\) while rank 0 is blocked in MPI_Barrier" "$T/seedhang.report"'

# A lazy communicator init inside a capture on one rank alone (issue 14, part 3): under the
# default (CAPGUARD=1 relaxes an NCCL init it cannot serve, so that the symmetric case completes)
# rank 1 waits in ncclCommInitRank for a rank that went on to its final MPI_Barrier. Not silent:
# the watchdog names the init inside its capture within its bound, and the report says who waits.
mkdir -p "$T/lazy.store"
hang_then_term lazyhang 1 "$S/lazy_init" "$T/lazy.store" asymmetric
wd=$(cat "$T/lazyhang.logs"/*r1.jsonl 2>/dev/null | grep '"ev":"watchdog",' | head -1)
check "hang: a lazy NCCL init alone inside a capture (relaxed by default) is named by rank 1's watchdog within its bound, inside its capture" \
  "first watchdog event: ${wd:-none}; $(grep watchdog "$T/lazyhang.err" | head -2)" \
  eval 'grep -Eq "\"call\":\"ncclCommInitRank\",\"seq\":[0-9]+,\"ms\":([5-9][0-9][0-9]|1[0-4][0-9][0-9]),\"report\":0,\"captures_active\":1,\"capture\":1," <<<"$wd" &&
    grep -q "capguard: \[rank 1\] watchdog: thread [0-9]* has been inside ncclCommInitRank for 0\.[5-9] s, called at lazy_init+0x.*inside capture 1)" "$T/lazyhang.err"'
check "hang: its violation says the init was relaxed, written before the call that never returned" \
  "$(cat "$T/lazyhang.logs"/*r1.jsonl 2>/dev/null | grep '"ev":"violation"' | cut -c1-300)" \
  eval 'cat "$T/lazyhang.logs"/*r1.jsonl | grep "\"ev\":\"violation\",\"call\":\"ncclCommInitRank\"" | grep -q "\"action\":\"relaxed\",\"returned\":null,\"real_returned\":null,.*\"detail\":\"run with the thread relaxed (said before the call, which may not return)\""'
"$ROOT/build/capguard" report "$T/lazyhang.logs" >"$T/lazyhang.report" 2>&1
check "hang: capguard report names rank 1 blocked in ncclCommInitRank inside capture 1 while rank 0 is blocked in MPI_Barrier" \
  "$(grep -A3 HANG "$T/lazyhang.report")" \
  eval 'grep -Eq "rank 1 blocked [0-9.]+ s in ncclCommInitRank \(.*capture 1; lazy_init\+0x[0-9a-f]+.*\) while rank 0 is blocked in MPI_Barrier" "$T/lazyhang.report"'
