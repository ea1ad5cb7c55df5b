#!/usr/bin/env bash
# Fault injection: the process around capguard ("Safe to leave on"). No crash, no hang (every
# run bounded), the program's own result unchanged:
#  1. fork() from a multithreaded parent while a capture is in progress and another thread is
#     inside hooks (200 forks in one run, twice);
#  2. vfork()+exec and posix_spawn() of child programs while a capture is in progress;
#  3. threads started by a preloaded library's constructor making CUDA calls at once, before or
#     after capguard's constructor (its lazy initialisation);
#  4. 512 captures in progress at the same time, one per thread;
#  5. exit() while other threads are inside hooks (20 runs);
#  6. capguard preloaded twice (two copies, the same path twice) and beside another preload that
#     uses dlsym(RTLD_NEXT);
#  7. processes with no CUDA, NCCL or MPI at all.
# Prints one "PASS name" / "FAIL name: why" line per check (tests/run.sh counts them).
. "$(dirname "$0")/lib.sh"
for f in "$LIB" "$F/proc_fork" "$F/proc_spawn" "$F/proc_early_lib.so" "$F/proc_many" "$F/proc_exit" "$F/env_capture"; do
  [ -e "$f" ] || { bad "setup" "$f is missing (make fault / make)"; exit 0; }
done
# verdict STATUS NAME WHY: PASS when STATUS is 0 (call as: COND; verdict $? NAME WHY: $? is
# expanded before WHY's command substitutions run)
verdict() { if [ "$1" = 0 ]; then ok "$2"; else bad "$2" "$3"; fi; }
count() { grep -c -x -F "$1" "$T/$2.out"; } # count LINE TAG: lines of TAG's stdout equal to LINE
brief() { head -c "${2:-300}" "$T/$1.err" | tr '\n' ' '; }
# JSON lines of every log below DIR with "ev" = EV, one per line (python: robust field access)
events() { # DIR EV FIELD...: prints the fields of each such event, tab-separated, one per line
  local dir=$1 ev=$2
  shift 2
  find "$dir" -name '*.jsonl' -type f -print0 2>/dev/null | xargs -0 -r cat | python3 -c '
import sys, json
ev, fields = sys.argv[1], sys.argv[2:]
for line in sys.stdin:
    try: o = json.loads(line)
    except Exception: continue
    if o.get("ev") == ev:
        print("\t".join(str(o.get(f)) for f in fields))' "$ev" "$@"
}

# ---- 1. fork() from a multithreaded parent during a capture ----
# Two runs of N forks, three B threads each: the default stack depth, and no stack at all (the
# B threads then spend most of their time in capguard's locked sections, not in backtrace()).
N=200
# gcc 12's LSan does not lock its allocator around fork: a child's leak check at exit can hang
# there (seen 2-7 of 400 under make sanitize), so forked children skip it under ASan
nolsan=(CG_UNUSED=)
[ "${CG_SANITIZER:-}" = asan ] && nolsan=(ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0")
# A child that hangs is asked where it waits (hung_where.sh). gcc 12's TSan runtime can deadlock in
# a forked child on one of its own locks that another parent thread held at the fork (in 2 of 40
# runs of the previous session's code too, and in this one's: the child's only thread waits in
# __sanitizer::FutexWait on a libtsan mutex): under a sanitizer such a child is counted apart, not
# as capguard's; a child hung anywhere else fails the test, under a sanitizer or not.
hungcmd=(CG_FORK_HUNG_CMD="$ROOT/tests/fault/hung_where.sh %d")
frun fork 90 "${nolsan[@]}" "${hungcmd[@]}" CAPGUARD=1 CAPGUARD_LOG_DIR="$T/fork.logs" CAPGUARD_LOG_FILE=fork-%p.jsonl -- "$F/proc_fork" $N 3
PARENT_LOG=$T/fork.logs/fork-$(awk '$1 == "parent_pid" { print $2 }' "$T/fork.out").jsonl
frun fork0 90 "${nolsan[@]}" "${hungcmd[@]}" CAPGUARD=1 CAPGUARD_STACK_DEPTH=0 CAPGUARD_LOG_DIR="$T/fork0.logs" -- "$F/proc_fork" $N 3
rm -rf "$T/fork0.logs" # (large; its children are checked by their output)
# excused RUN: children hung inside the sanitizer's runtime (0 without a sanitizer)
excused() { if [ -n "${CG_SANITIZER:-}" ]; then grep -c '^hung_where in-sanitizer$' "$T/$1.out"; else echo 0; fi; }
fork_why() { echo "$1: status $(status "$1"), $(count "child_exit 0" "$1") children exited 0, $(grep -c child_hung "$T/$1.out") hung (killed after 3 s; $(excused "$1") inside the sanitizer's runtime: $(grep '^hung_where' "$T/$1.out" | sort | uniq -c | tr '\n' ' ')), other: $(grep child_exit "$T/$1.out" | grep -v 'exit 0$' | sort | uniq -c | tr '\n' ' ')"; }
fork_bad=0
for t in fork fork0; do
  [ "$(status $t)" = 0 ] && [ "$(count "child_exit 0" $t)" = $((N - $(excused $t))) ] && [ "$(grep -c child_hung "$T/$t.out")" = "$(excused $t)" ] || fork_bad=1
done
[ $fork_bad = 0 ]
verdict $? "fork x$N twice from a multithreaded parent during a capture (3 threads inside hooks) no child hangs (but inside a sanitizer's runtime) or crashes, all exit 0" \
  "$(fork_why fork); $(fork_why fork0)"
[ "$(count "b_calls 1" fork)" = 1 ] && [ "$(grep -c '"ev":"violation".*"action":"answered"' "$PARENT_LOG")" -gt 0 ]
verdict $? "fork the B threads were making hooked calls (answered queries) while the parent forked" "b_calls: $(grep b_calls "$T/fork.out")"
nf=$((N - $(excused fork))) nf0=$((N - $(excused fork0)))
[ "$(count "rc child_sync 0" fork) $(count "rc child_end 0" fork) $(count "rc child_sync 0" fork0) $(count "rc child_end 0" fork0)" = "$nf $nf $nf0 $nf0" ]
verdict $? "fork every child's own capture is guarded under CAPGUARD=1 (sync 0, end 0)" \
  "$(grep '^rc child' "$T/fork.out" "$T/fork0.out" | sort | uniq -c | tr '\n' ' ')"
# the children's logs: each has its own capture begun and ended, and, as the parent's capture
# does not count in a child, the deferred sync runs when the child's capture ends
python3 - "$T/fork.logs" "$PARENT_LOG" >"$T/fork.children" <<'EOF'
import sys, os, json, glob
logs = {}
parent = [p for p in glob.glob(os.path.join(sys.argv[1], "*.jsonl")) if p == sys.argv[2]]
for path in glob.glob(os.path.join(sys.argv[1], "*.jsonl")):
    if path in parent:
        continue # large (the B threads' violations) and not needed here
    evs = []
    for line in open(path, errors="replace"):
        try: evs.append(json.loads(line))
        except Exception: pass
    logs[path] = evs
children = list(logs)
not_inherited = own_summary = 0
bad = []
for p in children:
    evs = logs[p]
    name = os.path.basename(p)
    begins = [e.get("capture") for e in evs if e.get("ev") == "capture_begin"]
    ends = [i for i, e in enumerate(evs) if e.get("ev") == "capture_end" and e.get("capture") in begins and e.get("rc") == 0]
    runs = [i for i, e in enumerate(evs) if e.get("ev") == "deferred_run" and "ynchronize" in str(e.get("call"))]
    viol = [e.get("capture") for e in evs if e.get("ev") == "violation" and "ynchronize" in str(e.get("call"))]
    if len(begins) == 1 and ends and runs and runs[0] > ends[0] and viol == begins:
        not_inherited += 1
    elif len(bad) < 3:
        bad.append("%s: captures begun %s, ended rc 0 at lines %s, deferred syncs run at lines %s, sync violations in captures %s" % (name, begins, ends, runs, viol))
    s = [e for e in evs if e.get("ev") == "summary"]
    if s and s[-1].get("captures") == 1:
        own_summary += 1
    elif len(bad) < 6:
        bad.append("%s: summary captures %s" % (name, s[-1].get("captures") if s else None))
print(len(parent), len(children), not_inherited, own_summary)
print("; ".join(bad))
EOF
read -r np nc ninh nsum <"$T/fork.children"
why=$(sed -n 2p "$T/fork.children")
[ "$np" = 1 ] && [ "$nc" = $N ] && [ "$ninh" = $nf ]
verdict $? "fork a child does not inherit the parent's capture (its log has its own capture only, its deferred sync runs when that one ends)" \
  "$np parent log(s), $nc child logs, $ninh as wanted; $why"
[ "$nc" = $N ] && [ "$nsum" = $nf ]
verdict $? "fork a child's summary counts its own capture only (captures 1, not the parent's)" "$nsum of $nc child summaries say captures 1; $why"
[ "$(count "rc parent_end 0" fork)$(count "rc parent_end 0" fork0)" = 11 ]
verdict $? "fork the parent's capture ends 0 after the $N forks" "$(grep parent_end "$T/fork.out" "$T/fork0.out")"
[ "$(bad_json_lines "$T/fork.logs")" = 0 ]
verdict $? "fork every line of the parent's and the children's logs is valid JSON" "$(bad_json_lines "$T/fork.logs") bad lines"

# ---- 2. vfork()+exec and posix_spawn() during a capture ----
frun spawn.auto 30 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/spawn.auto.logs" -- "$F/proc_spawn" "$F/env_capture"
frun spawn.obs 30 CAPGUARD=observe CAPGUARD_LOG_DIR="$T/spawn.obs.logs" -- "$F/proc_spawn" "$F/env_capture"
brun spawn.bare 30 -- "$F/proc_spawn" "$F/env_capture"
[ "$(status spawn.auto)" = 0 ] && [ "$(grep -E '_(exit|hung|failed)' "$T/spawn.auto.out" | tr '\n' ' ')" = "vfork_exit 7 spawn_sh_exit 5 spawn_cuda_exit 0 " ]
verdict $? "spawn vfork+exec and posix_spawn (sh, a CUDA program) during a capture each child runs and returns its status (7, 5, 0)" \
  "status $(status spawn.auto): $(grep -E '_(exit|hung|failed)' "$T/spawn.auto.out" | tr '\n' ' ') $(brief spawn.auto 200)"
[ "$(grep -E '^rc (sync|end) ' "$T/spawn.auto.out" | tr '\n' ' ')" = "rc sync 0 rc end 0 " ]
verdict $? "spawn the spawned CUDA program is guarded too (its sync 0, end 0)" "$(grep -E '^rc (sync|end) ' "$T/spawn.auto.out" | tr '\n' ' ')"
[ "$(grep -E '^(rc capturing|capture_status|rc parent_)' "$T/spawn.auto.out" | tr '\n' ' ')" = "rc capturing 0 capture_status 1 rc parent_sync 0 rc parent_end 0 " ]
verdict $? "spawn the parent's capture is unaffected (still active after the children, its sync deferred, end 0)" \
  "$(grep -E '^(rc capturing|capture_status|rc parent_)' "$T/spawn.auto.out" | tr '\n' ' ')"
[ "$(status spawn.obs)" = "$(status spawn.bare)" ] && cmp -s "$T/spawn.obs.out" "$T/spawn.bare.out"
verdict $? "spawn under CAPGUARD=observe the whole output and status equal the run without capguard" \
  "status $(status spawn.obs) vs $(status spawn.bare); $(diff "$T/spawn.obs.out" "$T/spawn.bare.out" | head -4 | tr '\n' ' ')"

# ---- 3. threads started by a preloaded library's constructor ----
EARLY=$F/proc_early_lib.so
frun ref.env 10 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/ref.env.logs" -- "$F/env_capture"
want_early=$( (for i in 1 2 3 4; do printf 'rc early_sync 0\nrc early_malloc 0\nrc early_end 0\n'; done; cat "$T/ref.env.out") | sort)
# which constructor runs first, for each order in LD_PRELOAD (ld.so says, with LD_DEBUG=files)
init_order() { # LD_PRELOAD value: "early" when the library's constructor runs before capguard's
  frun order 10 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/order.logs" LD_DEBUG=files LD_PRELOAD="$1" -- "$F/env_capture"
  grep 'calling init:' "$T/order.err" | grep -E "$(basename "$LIB")|proc_early_lib" | head -1 | grep -q proc_early_lib && echo early || echo late
}
for order in before after; do
  if [ $order = before ]; then pre="$PRE$EARLY:$LIB"; else pre="$PRE$LIB:$EARLY"; fi
  when=$(init_order "$pre")
  fails=""
  for i in $(seq 10); do
    frun "early.$order.$i" 20 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/early.logs" LD_PRELOAD="$pre" -- "$F/env_capture"
    if [ "$(status "early.$order.$i")" != 0 ]; then
      fails+=" run $i: status $(status "early.$order.$i") $(brief "early.$order.$i" 120);"
    elif [ "$(sort "$T/early.$order.$i.out")" != "$want_early" ]; then
      fails+=" run $i: $(sort "$T/early.$order.$i.out" | grep -v ' 0$' | tr '\n' ' ');"
    fi
  done
  [ $order = before ] && desc="preloaded before capguard (constructor runs $([ "$when" = early ] && echo before || echo after) capguard's)" ||
    desc="preloaded after capguard (constructor runs $([ "$when" = early ] && echo before || echo after) capguard's, racing its lazy initialisation)"
  [ -z "$fails" ]
  verdict $? "early threads of a library $desc x10, four threads capturing at once, no crash or hang, every call guarded (all 0)" "${fails# }"
done
[ "$(init_order "$PRE$LIB:$EARLY")" = early ]
verdict $? "early threads the after-capguard order does run the library's constructor first (so lazy initialisation is raced)" \
  "$(grep 'calling init:' "$T/order.err" | sed 's/.*calling init: //' | tr '\n' ' ')"

# ---- 4. 512 captures in progress at once ----
frun many 60 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/many.logs" -- "$F/proc_many" 512
[ "$(status many)" = 0 ] && [ "$(tr '\n' ' ' <"$T/many.out")" = "rc_sync 0 x 256 rc_malloc 0 x 256 rc_end 0 x 512 setup_failed 0 " ]
verdict $? "512 concurrent Global captures, each with a sync or malloc inside, all end 0 under CAPGUARD=1" \
  "status $(status many): $(tr '\n' ' ' <"$T/many.out")"
summary=$(events "$T/many.logs" summary captures failed_captures captures_untracked | tail -1)
IFS=$'\t' read -r s_caps s_failed s_untracked <<<"$summary"
[ "$s_caps" = 512 ] && [ "$s_failed" = 0 ]
verdict $? "512 concurrent captures, the summary says captures 512 and failed_captures 0" "summary: captures $s_caps, failed_captures $s_failed"
n901=$(awk '$1 == "rc_end" && $2 == 901 { print $4 }' "$T/many.out")
[ "$s_failed" = "${n901:-0}" ]
verdict $? "512 concurrent captures, the summary's failed_captures agrees with the captures that ended 901" \
  "summary says $s_failed failed, the program saw ${n901:-0} end with 901"
nend=$(events "$T/many.logs" capture_end rc | grep -c -x 0)
nviol=$(events "$T/many.logs" violation action | grep -c -E 'deferred|relaxed')
[ "$nend" = 512 ] && [ "$nviol" = 512 ] && { [ "$s_untracked" = None ] || [ "$s_untracked" = 0 ]; }
verdict $? "512 concurrent captures, none unguarded (512 capture_end events rc 0, 512 violations deferred or relaxed, none untracked)" \
  "$nend capture_end rc 0, $nviol violations deferred/relaxed, captures_untracked $s_untracked"

# ---- 5. exit() while other threads are inside hooks ----
fails=""
for i in $(seq 20); do
  frun "exit.$i" 10 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/exit.logs" -- "$F/proc_exit" 200
  [ "$(status "exit.$i")" = 3 ] && [ "$(cat "$T/exit.$i.out")" = exiting ] ||
    fails+=" run $i: status $(status "exit.$i")$([ "$(status "exit.$i")" = 124 ] && echo ' (hung)'), stdout [$(cat "$T/exit.$i.out")] $(brief "exit.$i" 100);"
done
[ -z "$fails" ]
verdict $? "exit() while one thread loops in hooks during its capture and another is blocked inside one, x20, status 3 each time, no hang or crash" "${fails# }"
brun exit.bare 10 -- "$F/proc_exit" 200
frun exit.obs 10 CAPGUARD=observe CAPGUARD_LOG_DIR="$T/exit.obs.logs" -- "$F/proc_exit" 200
[ "$(status exit.obs)|$(cat "$T/exit.obs.out")" = "$(status exit.bare)|$(cat "$T/exit.bare.out")" ] && [ "$(status exit.bare)" = 3 ]
verdict $? "exit() with threads inside hooks, CAPGUARD=observe gives the output and status of the run without capguard" \
  "observe status $(status exit.obs) [$(cat "$T/exit.obs.out")], bare status $(status exit.bare) [$(cat "$T/exit.bare.out")]"

# ---- 6. capguard preloaded twice, and beside another RTLD_NEXT preload ----
mkdir -p "$T/a" "$T/b"
cp "$LIB" "$T/a/libcapguard.so"
cp "$LIB" "$T/b/libcapguard.so"
for mode in 1 observe; do
  frun "one.$mode" 20 CAPGUARD=$mode CAPGUARD_LOG_DIR="$T/one.$mode.logs" -- "$F/env_capture"
  for how in copies same next_after next_before; do
    case $how in
      copies) pre="$PRE$T/a/libcapguard.so:$T/b/libcapguard.so" desc="two copies at different paths" ;;
      same) pre="$PRE$LIB:$LIB" desc="the same path twice" ;;
      next_after) pre="$PRE$LIB:$S/nextlib.so" desc="with nextlib.so (dlsym RTLD_NEXT) after it" ;;
      next_before) pre="$PRE$S/nextlib.so:$LIB" desc="with nextlib.so (dlsym RTLD_NEXT) before it" ;;
    esac
    tag=twice.$mode.$how
    frun "$tag" 20 CAPGUARD=$mode CAPGUARD_LOG_DIR="$T/$tag.logs" LD_PRELOAD="$pre" -- "$F/env_capture"
    [ "$(status "$tag")" = "$(status "one.$mode")" ] && cmp -s "$T/$tag.out" "$T/one.$mode.out"
    verdict $? "preloaded $desc, CAPGUARD=$mode, the program's output and status equal a single-preload run" \
      "status $(status "$tag") vs $(status "one.$mode"); $(diff "$T/$tag.out" "$T/one.$mode.out" | grep '^[<>]' | head -4 | tr '\n' ' ') $(brief "$tag" 150)"
  done
done
# two copies: the second says once that it stays inert; one log, one summary
for mode in 1 observe; do
  tag=twice.$mode.copies
  [ "$(grep -c 'another copy of capguard .* is loaded first; this one .* stays inert' "$T/$tag.err") $(ls "$T/$tag.logs" | wc -l) $(grep -c 'capguard: summary' "$T/$tag.err")" = "1 1 1" ]
  verdict $? "preloaded as two copies, CAPGUARD=$mode, the second stays inert and says so once: one log, one summary" "$(brief "$tag" 300)"
done
if [ -e "$S/dlsym_cases" ] && [ -e "$S/nextlib.so" ]; then
  frun dl.one 20 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/dl.one.logs" -- "$S/dlsym_cases"
  for how in after before; do
    [ $how = after ] && pre="$PRE$LIB:$S/nextlib.so" || pre="$PRE$S/nextlib.so:$LIB"
    frun "dl.$how" 20 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/dl.$how.logs" LD_PRELOAD="$pre" -- "$S/dlsym_cases"
    [ "$(status "dl.$how")" = "$(status dl.one)" ] && cmp -s "$T/dl.$how.out" "$T/dl.one.out" && grep -q 'nextlib: forwarded' "$T/dl.$how.err"
    verdict $? "preloaded with nextlib.so $how it, dlsym_cases' facts equal a single-preload run and nextlib's RTLD_NEXT lookup still forwards" \
      "status $(status "dl.$how"); $(diff "$T/dl.$how.out" "$T/dl.one.out" | grep '^[<>]' | tr '\n' ' ') $(brief "dl.$how" 150)"
  done
else
  bad "preloaded with nextlib.so" "$S/dlsym_cases or $S/nextlib.so is missing (make scenarios)"
fi

# ---- 7. processes with no CUDA, NCCL or MPI ----
i=0
while IFS= read -r cmd; do
  i=$((i + 1))
  brun "plain.$i.bare" 30 -- sh -c "$cmd"
  frun "plain.$i" 30 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/plain.$i.logs" -- sh -c "$cmd"
  [ "$(status "plain.$i")" = "$(status "plain.$i.bare")" ] && cmp -s "$T/plain.$i.out" "$T/plain.$i.bare.out"
  verdict $? "no CUDA ($cmd) under CAPGUARD=1, same output and status as without capguard" \
    "status $(status "plain.$i") vs $(status "plain.$i.bare"), stdout [$(head -c 80 "$T/plain.$i.out")] vs [$(head -c 80 "$T/plain.$i.bare.out")]"
  [ ! -s "$T/plain.$i.err" ] || cmp -s "$T/plain.$i.err" "$T/plain.$i.bare.err"
  verdict $? "no CUDA ($cmd) under CAPGUARD=1, nothing on stderr (beyond what the program writes without capguard)" "$(brief "plain.$i" 200)"
  [ ! -e "$T/plain.$i.logs" ] && [ ! -e "$T/capguard-logs" ]
  verdict $? "no CUDA ($cmd) under CAPGUARD=1, no log file or directory created" "$(ls -R "$T/plain.$i.logs" "$T/capguard-logs" 2>/dev/null | tr '\n' ' ')"
done <<'EOF'
/bin/true
echo hi
exit 3
python3 -c 'print(1)'
EOF
exit 0
