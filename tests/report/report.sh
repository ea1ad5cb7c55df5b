#!/bin/bash
# capguard report (build/capguard-report, or $CG_REPORT_BIN) on the fixtures under
# tests/report/fixtures: hand-written logs (a 4-rank hang over two hosts with rank 3's log
# missing, garbled and truncated lines, a forked child claiming its parent's rank, diverging
# fingerprints and memo sequences, recorder dumps, one cut short) and real logs (real/). Each
# check asserts specific content; one line per check, "PASS name" / "FAIL name: why".
# Needs python3 (the JSON and trace checks) and chromium (the page, as scripts/deps.sh test
# installs it). Every command that could hang runs under timeout.
# ROOT, $T (removed at exit), ok, bad and check come from the fault suites' helpers.
source "$(dirname "${BASH_SOURCE[0]}")/../fault/lib.sh"
R=${CG_REPORT_BIN:-$ROOT/build/capguard-report}
FX=$ROOT/tests/report/fixtures
CHECK_TRACE=$ROOT/tests/report/check_trace.py
TO=30
# rep TAG ARGS...: runs the report; stdout in $T/TAG.out, stderr in $T/TAG.err, status in $T/TAG.rc
rep() {
  local tag=$1
  shift
  timeout "$TO" "$R" "$@" >"$T/$tag.out" 2>"$T/$tag.err"
  echo $? >"$T/$tag.rc"
}
rc() { cat "$T/$1.rc"; }
has() { grep -qF -- "$2" "$T/$1.out"; } # has TAG TEXT: the output holds TEXT, as is
line() { grep -F -- "$2" "$T/$1.out" | head -1; }
# json TAG PYTHON-EXPR: evaluates the expression on the parsed JSON output (as `d`), prints it
json() { python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$T/$1.out" "$2" 2>&1; }

if [ ! -x "$R" ]; then
  bad "report: the binary" "$R is missing (make build/capguard-report)"
  exit 0
fi

# ---- the 4-rank hang: rank 1 blocked, ranks 0 and 2 in flight, rank 3 without a log ----
rep hang4 "$FX/hang4"
SENT='rank 1 blocked 41 s in MPI_Comm_split (comm WORLD; capture 3; model.py:88 in forward) while ranks 0,2 are in ncclAllReduce (in flight) and rank 3 has no log'
check "hang: the sentence names the blocked rank, its call, communicator, capture and Python site, where ranks 0 and 2 are, and the rank without a log" \
  "got: $(line hang4 'blocked')" has hang4 "  $SENT"
check "hang: HANG is the first section when a rank is blocked" \
  "sections: $(grep -E '^[A-Z ]+$' "$T/hang4.out" | tr '\n' ' ')" \
  eval '[ "$(grep -E "^[A-Z][A-Z ]+$" "$T/hang4.out" | head -1)" = HANG ]'
check "hang: the blocked call's thread, entry time (watchdog ts minus its ms), report count and native site" \
  "got: $(line hang4 'tid 2001:')" \
  has hang4 'rank 1 (node-a:2001) tid 2001: MPI_Comm_split since 10:00:04.500 (call #7 of its thread; named 6 times, 32000 ms at the last); native site libmpi.so.40+0x8a1f0'
check "hang: read exit status is 0 whatever the logs say" "status $(rc hang4)" eval '[ "$(rc hang4)" = 0 ]'
check "header: files, lines and skipped lines counted exactly (garbled 1, truncated 1 on rank 2)" \
  "got: $(head -2 "$T/hang4.out" | tr '\n' '|')" \
  eval 'has hang4 "capguard report: 3 files, 75 lines read, 2 skipped (garbled 1, truncated 1)" && has hang4 "node-b/capguard-node-b-3000-r2.jsonl: garbled 1, truncated 1"'
check "header: two hosts, ranks 0-2 of world size 4, rank 3 named as having no log" \
  "got: $(line hang4 'hosts:')" has hang4 'hosts: node-a, node-b; 3 processes; ranks 0-2 present / world size 4; no log: rank 3'
check "header: recorder dumps counted, rank 2's dump cut short by the kill (4 of 6 entries)" \
  "got: $(line hang4 'flight recorder')" \
  has hang4 'flight recorder: 4 dumps from ranks 0-2 (SIGTERM, watchdog); cut short: rank 2 dump 1 (4 of 6 entries)'
check "violations: grouped by call and site across ranks, with reason, policy/action and predicted code" \
  "got: $(line hang4 'x cudaMalloc')" \
  has hang4 '3 x cudaMalloc at model.py:64 in forward (ranks 0-2): potentially unsafe call during a capture, prohibited by the thread'"'"'s capture mode; observe/observed 3; predicted 900'
check "repeats: grouped by call and site, each key's count and served from its last repeat" \
  "got: $(line hang4 'ncclCommInitRank at')" \
  has hang4 'ncclCommInitRank at train.py:40 in setup: 3 repeats on ranks 0-2, up to 2 inits of one key, 3 served'
check "memo: rank 1's sequence diverges from rank 0's where its MPI_Comm_split missed (keys not compared)" \
  "got: $(line hang4 'diverge')" \
  has hang4 'memo: rank 1 diverges from rank 0 at decision #3: rank 0 has MPI_Comm_split serve, rank 1 has MPI_Comm_split miss'
check "captures: per rank, rank 1's capture 3 never ended" "got: $(grep 'begun' "$T/hang4.out" | tr '\n' '|')" \
  eval 'has hang4 "ranks 0,2: 3 begun, 3 ended, 0 failed" && has hang4 "rank 1: 3 begun, 2 ended, 0 failed, 1 never ended"'
check "fingerprints: captures 1-2 agree on all ranks, capture 3 has none on the blocked rank" \
  "got: $(grep '^  capture' "$T/hang4.out" | tr '\n' '|')" \
  eval 'has hang4 "capture 1: ranks 0-2 agree (hash a1b2c3d4e5f60718)" && has hang4 "capture 3: ranks 0,2 agree (hash 77aa66bb55cc44dd); none on rank 1"'
check "watchdog: calls named and returned, grouped" "got: $(sed -n '/^WATCHDOG/,$p' "$T/hang4.out" | tr '\n' '|')" \
  eval 'has hang4 "cudaStreamSynchronize: named 1, returned 1; longest 1250 ms (rank 0)" && has hang4 "MPI_Comm_split: named 1, returned 0, still blocked 1; longest 32000 ms (rank 1)"'

# ---- --json: the same content ----
rep hang4j --json "$FX/hang4"
check "json: --json prints one object that python parses" "$(head -c 300 "$T/hang4j.err")" \
  eval 'python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/hang4j.out"'
check "json: the same numbers as the text (lines 75, garbled 1, truncated 1, no log [3], world 4)" \
  "got: $(json hang4j '[d["header"]["lines"], d["header"]["skipped"], d["header"]["ranks_no_log"], d["header"]["world_size"]]')" \
  eval '[ "$(json hang4j "[d[\"header\"][\"lines\"], d[\"header\"][\"skipped\"][\"garbled\"], d[\"header\"][\"skipped\"][\"truncated\"], d[\"header\"][\"ranks_no_log\"], d[\"header\"][\"world_size\"]]")" = "[75, 1, 1, [3], 4]" ]'
check "json: the hang sentence and the blocked call's fields (rank, tid, capture, py, blocked_s)" \
  "got: $(json hang4j '[d["hang"]["sentences"], [(b["rank"], b["tid"], b["capture"], b["py"], b["blocked_s"]) for b in d["hang"]["blocked"]]]')" \
  eval '[ "$(json hang4j "d[\"hang\"][\"sentences\"][0]")" = "$SENT" ] && [ "$(json hang4j "[(b[\"rank\"], b[\"tid\"], b[\"capture\"], b[\"py\"], b[\"blocked_s\"]) for b in d[\"hang\"][\"blocked\"]]")" = "[(1, 2001, 3, '"'"'model.py:88 in forward'"'"', 41.0)]" ]'
check "json: each rank's position (blocked / in flight / no log)" \
  "got: $(json hang4j '[(p["state"], p.get("call"), p["ranks"]) for p in d["hang"]["positions"]]')" \
  eval '[ "$(json hang4j "[(p[\"state\"], p.get(\"call\"), p[\"ranks\"]) for p in d[\"hang\"][\"positions\"]]")" = "[('"'"'blocked'"'"', '"'"'MPI_Comm_split'"'"', [1]), ('"'"'in_flight'"'"', '"'"'ncclAllReduce'"'"', [0, 2]), ('"'"'no_log'"'"', None, [3])]" ]'

# ---- garbled, truncated, pad lines and missing ranks, counted exactly ----
rep garb "$FX/garbled"
check "garbled: 3 files (notes.txt is not a log), 12 lines, garbled 4, truncated 1; rank 2 has no log" \
  "got: $(head -4 "$T/garb.out" | tr '\n' '|')" \
  eval 'has garb "capguard report: 3 files, 12 lines read, 5 skipped (garbled 4, truncated 1)" && has garb "ranks 0-1 present / world size 3; no log: rank 2"'
check "garbled: per file: not JSON, an array and an object without pid are garbled, the cut last line truncated, a line with NUL bytes garbled" \
  "got: $(grep 'garbled [0-9]*, truncated' "$T/garb.out" | tr '\n' '|')" \
  eval 'has garb "capguard-h-100-r0.jsonl: garbled 3, truncated 1" && has garb "capguard-h-101-r1.jsonl: garbled 1, truncated 0"'
rep garbj --json "$FX/garbled"
check "garbled: --json per file: lines, events, garbled, truncated, and objects without ev as pads (not skipped)" \
  "got: $(json garbj '[(f["path"].split("/")[-1], f["lines"], f["events"], f["garbled"], f["truncated"], f["pads"]) for f in d["header"]["per_file"]]')" \
  eval '[ "$(json garbj "[(f[\"lines\"], f[\"events\"], f[\"garbled\"], f[\"truncated\"], f[\"pads\"]) for f in d[\"header\"][\"per_file\"]]")" = "[(9, 3, 3, 1, 2), (3, 2, 1, 0, 0), (0, 0, 0, 0, 0)]" ]'
cp "$FX/garbled/capguard-h-100-r0.jsonl" "$T/rank0.log"
rep asis "$T/rank0.log"
check "input: a FILE argument is read as is, whatever its name" "got: $(head -1 "$T/asis.out")" \
  has asis 'capguard report: 1 file, 9 lines read, 4 skipped (garbled 3, truncated 1)'
rep twice "$FX/garbled" "$FX/garbled/capguard-h-100-r0.jsonl" "$FX/garbled/"
check "input: a file reached twice is read once" "got: $(head -1 "$T/twice.out")" \
  has twice 'capguard report: 3 files, 12 lines read'

# ---- several processes claiming one rank (a forked child) ----
rep fork "$FX/fork"
check "fork: parent and child claiming rank 0 are kept apart by (host, pid)" "got: $(sed -n 2,3p "$T/fork.out" | tr '\n' '|')" \
  eval 'has fork "host: vm; 3 processes; ranks 0-1 present / world size 2" && has fork "rank 0 is claimed by 2 processes: vm:500, vm:501"'
check "fork: the child's blocked sync is named by host:pid, its parent and rank 1 finished" "got: $(line fork 'blocked')" \
  has fork 'rank 0 (vm:501) blocked 2.0 s in cudaDeviceSynchronize (1 capture active; worker+0x1c4) while ranks 0 (vm:500),1 have finished'

# ---- recorder_thread positions, a stale in-flight entry, gone ranks ----
rep gone "$FX/gone"
check "hang: rank 0's dump shows a thread inside an unjudged watched call; rank 2's thread went on after its dump's in-flight MPI_Barrier, so it is gone, not in flight" \
  "got: $(line gone 'blocked')" \
  has gone 'rank 1 blocked 3.0 s in MPI_Barrier (comm WORLD; no capture active; app+0x1296) while rank 0 is in cudaStreamSynchronize (in flight) and rank 2 is gone (log ends at 10:08:21.250)'

# ---- fingerprints ----
rep fp3 "$FX/fp3"
check "fingerprints: the first differing collective and both sides' entries, from the lists" \
  "got: $(line fp3 'collective #2')" \
  has fp3 'first difference at collective #2: ranks 0-1 ncclReduceScatter count=256 dtype=7 comm=#1; rank 2 ncclAllReduce count=2048 dtype=7 comm=#1'
check "fingerprints: beyond the collectives a line shows, the mismatch report names the difference" \
  "got: $(line fp3 'collective #40')" \
  has fp3 'first difference at collective #40: rank 0 ncclBroadcast count=8 dtype=7 comm=#1 root=0; rank 1 ncclBroadcast count=8 dtype=7 comm=#1 root=1'
check "fingerprints: the hashes per capture, and a capture missing on a rank" "got: $(grep '^  capture' "$T/fp3.out" | tr '\n' '|')" \
  eval 'has fp3 "capture 2: ranks differ: hash aaaaaaaaaaaaaaaa on ranks 0-1 (3 collectives), hash bbbbbbbbbbbbbbbb on rank 2 (3 collectives)" && has fp3 "capture 3: ranks 0-1 agree (hash 3333333333333333); none on rank 2"'
check "captures: a failed capture's cause, rc and capture id" "got: $(line fp3 'failed 1 x')" \
  has fp3 'failed 1 x: cudaMalloc at model.py:64 in forward (rank 2; rc 901; capture 3)'
rep fpd "$FX/real/fp-diverge"
check "fingerprints (real logs): ranks 0 and 1 differ at collective #1, both entries named" "got: $(line fpd 'collective #')" \
  has fpd 'first difference at collective #1: rank 0 ncclAllReduce count=32 dtype=7 comm=#1; rank 1 ncclBroadcast count=32 dtype=7 comm=#1 root=0'
rep fps "$FX/real/fp-same"
check "fingerprints (real logs): agreeing ranks in one line" "got: $(sed -n '/^FINGERPRINTS/,/^$/p' "$T/fps.out" | tr '\n' '|')" \
  eval '[ "$(sed -n "/^FINGERPRINTS/,/^\$/p" "$T/fps.out" | grep -c "^  ")" = 1 ] && has fps "all agree: capture 1 on ranks 0-1 (hash dbdf1cc8a9c39d2f, 2 collectives)"'
rep fp3j --json "$FX/fp3"
check "json: the fingerprint difference as data (index 2, entries of both sides)" \
  "got: $(json fp3j '[(x["index"], x["reference_entry"], x["entry"]) for c in d["fingerprints"]["captures"] for x in c["differences"]]')" \
  eval '[ "$(json fp3j "[(x[\"index\"], x[\"ranks\"]) for c in d[\"fingerprints\"][\"captures\"] for x in c[\"differences\"]]")" = "[(2, [2]), (40, [1])]" ]'

# ---- memo ----
rep memo "$FX/memo3"
check "memo: a rank that diverges, named with both entries" "got: $(line memo 'rank 2 diverges')" \
  has memo 'memo: rank 2 diverges from rank 0 at decision #2: rank 0 has ncclCommInitRank serve, rank 2 has ncclCommInitRank record'
check "memo: a rank whose sequence stops early" "got: $(line memo 'rank 3')" \
  has memo 'memo: rank 3 stops after 2 decisions, where rank 0 goes on with #2 ncclCommInitRank serve'
check "memo: ranks with the same sequence are not flagged" "$(grep -c 'rank 1 diverge' "$T/memo.out") lines flag rank 1" \
  eval '! grep -q "rank 1 diverge" "$T/memo.out" && has memo "memo: ranks 0-1: 4 decisions (record 2, serve 1, hold 1)"'
rep seed "$FX/real/seed-ipc"
check "memo (real logs): rank 1's decisions diverge from rank 0's at #19" "got: $(line seed 'diverges')" \
  has seed 'memo: rank 1 diverges from rank 0 at decision #19: rank 0 has cudaMalloc serve, rank 1 has cudaIpcGetMemHandle record'
check "repeats (real logs): MPI_Comm_split repeated on both ranks, the memo served one on each" "got: $(line seed 'MPI_Comm_split at')" \
  has seed 'MPI_Comm_split at seed+0x2b99: 6 repeats on ranks 0-1, up to 4 inits of one key, 2 served'
rep rhang "$FX/real/hang"
check "watchdog (real logs): the barrier that returned is no hang; rank 1 has no log" "got: $(tr '\n' '|' <"$T/rhang.out" | head -c 400)" \
  eval '! grep -q "^HANG" "$T/rhang.out" && has rhang "MPI_Barrier: named 1, returned 1; longest 344 ms (rank 0)" && has rhang "no log: rank 1"'

# ---- exit statuses ----
mkdir -p "$T/empty" "$T/junk"
printf 'garbage\n{"not":"a log"}\n' >"$T/junk/x.jsonl"
rep noargs
rep nopath "$T/does-not-exist"
rep emptydir "$T/empty"
rep junk "$T/junk"
rep badopt --frobnicate "$FX/hang4"
check "exit: 2 with no path, naming the usage" "status $(rc noargs): $(head -1 "$T/noargs.err")" \
  eval '[ "$(rc noargs)" = 2 ] && grep -q "no log directory or file given" "$T/noargs.err"'
check "exit: 2 for a path that does not exist, naming it" "status $(rc nopath): $(head -1 "$T/nopath.err")" \
  eval '[ "$(rc nopath)" = 2 ] && grep -qF "$T/does-not-exist" "$T/nopath.err"'
check "exit: 2 for a directory without logs, naming it" "status $(rc emptydir): $(head -1 "$T/emptydir.err")" \
  eval '[ "$(rc emptydir)" = 2 ] && grep -qF "$T/empty" "$T/emptydir.err"'
check "exit: 2 when no log line could be read, naming the file and why" "status $(rc junk): $(head -1 "$T/junk.err")" \
  eval '[ "$(rc junk)" = 2 ] && grep -qF "no log line could be read from $T/junk/x.jsonl (2 lines: 1 garbled, 0 truncated, 1 pad)" "$T/junk.err"'
check "exit: 2 for an unknown option" "status $(rc badopt): $(head -1 "$T/badopt.err")" \
  eval '[ "$(rc badopt)" = 2 ] && grep -q "unknown option --frobnicate" "$T/badopt.err"'

# ---- --perfetto: Chrome trace-event JSON ----
rep trace --perfetto "$T/hang4.trace.json" "$FX/hang4"
check "perfetto: the trace passes the trace-event format checker, every rank present has a process_name" \
  "$(python3 "$CHECK_TRACE" "$T/hang4.trace.json" 0,1,2 2>&1 | head -3 | tr '\n' '|')" \
  eval 'python3 "$CHECK_TRACE" "$T/hang4.trace.json" 0,1,2 >/dev/null'
check "perfetto: the checker holds the trace to every rank it is told of (rank 3 has no log, so no process)" \
  "$(python3 "$CHECK_TRACE" "$T/hang4.trace.json" 0,1,2,3 2>&1 | tr '\n' '|')" \
  eval '[ "$(python3 "$CHECK_TRACE" "$T/hang4.trace.json" 0,1,2,3)" = "rank 3 has no process_name" ]'
rep traceall --perfetto "$T/all.trace.json" "$FX"
check "perfetto: so does the trace of every fixture at once (real and hand-written, forked child included)" \
  "$(python3 "$CHECK_TRACE" "$T/all.trace.json" 0,1,2,3 2>&1 | head -3 | tr '\n' '|')" \
  eval 'python3 "$CHECK_TRACE" "$T/all.trace.json" 0,1,2,3 >/dev/null'
# The span ends at the last ts of rank 1's log (its dump's last line, 10:00:45.500200).
check "perfetto: the blocked call is an open span from its entry to its log's end on the blocked thread, named and sorted by rank" \
  "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([e for e in d["traceEvents"] if e.get("cat")=="blocked"][:2])' "$T/hang4.trace.json" 2>&1 | head -c 400)" \
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"]
names = {e["pid"]: e["args"]["name"] for e in ev if e["name"] == "process_name"}
sort = {e["pid"]: e["args"]["sort_index"] for e in ev if e["name"] == "process_sort_index"}
b = [e for e in ev if e["cat"] == "blocked" and e["name"] == "MPI_Comm_split"]
assert len(b) == 1 and b[0]["ph"] == "X" and b[0]["tid"] == 2001 and b[0]["dur"] == 41000200, b
assert b[0]["args"]["open"] is True and b[0]["ts"] == 4500000, b
assert names[b[0]["pid"]] == "rank 1 node-a:2001" and sort[b[0]["pid"]] == 1, names
assert d["displayTimeUnit"] == "ms"
assert any(e["name"] == "thread_name" and e["args"]["name"] == "tid 2001" for e in ev)
assert sum(1 for e in ev if e["ph"] == "i" and e["cat"] == "violation") == 4' "$T/hang4.trace.json" 2>/dev/null
python3 -c 'import json, sys
json.dump({"traceEvents": [{"name": "x", "ph": "X", "ts": 5, "pid": 1, "tid": 1, "cat": "c", "args": {}, "dur": -1},
  {"name": "y", "ph": "Q", "ts": 5, "pid": 1, "tid": 1, "cat": "c", "args": {}},
  {"name": "z", "ph": "i", "ts": 1, "pid": 2, "cat": "c", "args": {}},
  {"name": "B", "ph": "B", "ts": 1, "pid": 1, "tid": 3, "cat": "c", "args": {}}]}, open(sys.argv[1], "w"))' "$T/broken.json"
check "perfetto: the checker itself fails a broken trace (negative dur, unknown ph, no tid, unbalanced B, no process_name)" \
  "$(python3 "$CHECK_TRACE" "$T/broken.json" 0 2>&1 | tr '\n' '|')" \
  eval '[ "$(python3 "$CHECK_TRACE" "$T/broken.json" 0 | grep -c -e "dur >= 0" -e "not a trace-event phase" -e "no tid" -e "never ended" -e "has events but no process_name")" = 5 ]'

# ---- --html: a self-contained page, opened in headless Chromium ----
rep html --html "$T/hang4.html" "$FX/hang4"
check "html: the page is self-contained (no URL, script, link or external source)" \
  "$(grep -oE 'https?://[^" ]*|<script|<link|src=' "$T/hang4.html" | head -3 | tr '\n' ' ')" \
  eval '[ -s "$T/hang4.html" ] && ! grep -qE "https?://|<script|<link|src=" "$T/hang4.html"'
CHROME=$(command -v chromium || command -v chromium-browser || echo chromium)
timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --dump-dom "file://$T/hang4.html" >"$T/dom.html" 2>"$T/dom.err"
check "html: Chromium's DOM has every rank's row, the missing rank's no-log row and the blocked call's name" \
  "$(wc -c <"$T/dom.html") bytes of DOM; $(tail -c 200 "$T/dom.err")" \
  eval 'for t in "rank 0 tid 2000" "rank 1 tid 2001" "rank 2 tid 3000" "rank 3: no log" "MPI_Comm_split (blocked 41 s)" "$SENT"; do grep -qF -- "$t" "$T/dom.html" || exit 1; done'
timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --screenshot="$T/shot.png" --window-size=1400,900 "file://$T/hang4.html" >/dev/null 2>&1
check "html: Chromium renders a screenshot of it" "$(ls -l "$T/shot.png" 2>&1)" \
  eval '[ "$(head -c 8 "$T/shot.png" | od -An -c | tr -d " ")" = "211PNG\r\n032\n" ]'

# ---- all outputs at once ----
rep all --json --perfetto "$T/a.json" --html "$T/a.html" "$FX/hang4"
check "options combine: JSON on stdout, the trace and the page written" "status $(rc all); $(head -c 200 "$T/all.err")" \
  eval '[ "$(rc all)" = 0 ] && python3 -c "import json,sys; json.load(open(sys.argv[1])); json.load(open(sys.argv[2]))" "$T/all.out" "$T/a.json" && grep -q "rank 3: no log" "$T/a.html"'

# ---- the launcher's subcommand ----
CG=$ROOT/build/capguard
if [ -x "$CG" ] && "$CG" --help 2>/dev/null | grep -q 'capguard report'; then
  timeout "$TO" "$CG" report "$FX/hang4" >"$T/via.out" 2>&1
  check "launcher: capguard report runs the capguard-report next to it with the same arguments" \
    "$(diff "$T/via.out" "$T/hang4.out" | head -3 | tr '\n' '|')" cmp -s "$T/via.out" "$T/hang4.out"
else
  bad "launcher: capguard report" "$CG is missing or predates the report subcommand (make build/capguard)"
fi

# ---- real logs from the H200 (docs/gpu-runs/2026-12-02-h200-issue13.md): the IPC seed, one rank's cache missing ----
rep h200 "$FX/real/h200-seedhang"
check "H200 seed hang: rank 1 blocked in MPI_Comm_split inside capture 1 at its site, while rank 0 is blocked in MPI_Barrier" \
  "status $(rc h200); $(line h200 'rank 1 blocked')" \
  eval '[ "$(rc h200)" = 0 ] && grep -Eq "rank 1 blocked [0-9.]+ s in MPI_Comm_split \(comm WORLD; capture 1; seed\+0x305c\) while rank 0 is blocked in MPI_Barrier" "$T/h200.out"'
check "H200 seed hang: four flight-recorder dumps read (the watchdog's and SIGTERM's, both ranks)" "$(line h200 'flight recorder')" \
  has h200 "flight recorder: 4 dumps from ranks 0-1 (watchdog, SIGTERM)"
