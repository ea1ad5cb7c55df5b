#!/usr/bin/env bash
# Tests of the launcher build/capguard (tools/capguard.c): environment set by `run`, option
# parsing, exit statuses, --help generated from shim/config.def, `env`, `version`, mpirun.
# Run from the repo root after `make`. Stdout holds only `PASS name`, `FAIL name: why` and
# `SKIP name: why` lines (diagnostics go to stderr); the exit status is always 0.
# It never runs a command that could hang without `timeout`.

# shellcheck disable=SC2016,SC2020  # single-quoted $VARS are expanded by the child sh, on purpose
cd "$(dirname "$0")/.." || { echo "FAIL setup: cannot cd to the repo root"; exit 0; }
ROOT=$(pwd -P)
CG=$ROOT/build/capguard
LIB=$ROOT/build/libcapguard.so
CONFIG=$ROOT/shim/config.def
TO=20
T=$(mktemp -d "${TMPDIR:-/tmp}/cg-launcher.XXXXXX") || { echo "FAIL setup: mktemp"; exit 0; }
trap 'rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1: $2"
    { echo "--- $1: exit $rc, stdout:"; cat "$T/out"; echo "--- stderr:"; cat "$T/err"; } >&2
}

# cg [VAR=value...] -- capguard-args...: runs capguard in $T with a clean capguard environment;
# sets rc, leaves stdout in $T/out and stderr in $T/err.
cg() {
    local vars=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do vars+=("$1"); shift; done
    shift
    (cd "$T" && timeout "$TO" env -u CAPGUARD -u CAPGUARD_LIB -u LD_PRELOAD -u CAPGUARD_LOG_DIR \
        -u CAPGUARD_QUIET "${vars[@]}" "$CG" "$@") >"$T/out" 2>"$T/err"
    rc=$?
}
out() { cat "$T/out"; }
rc=0; : >"$T/out"; : >"$T/err"

for f in "$CG" "$LIB"; do
    [ -e "$f" ] || { echo "FAIL setup: $f is missing (run make first)"; exit 0; }
done
LIB=$(realpath "$LIB")
SHOW='echo "$LD_PRELOAD"'

# --- LD_PRELOAD ---
cg -- run -- sh -c "$SHOW"
if [ $rc -eq 0 ] && [ "$(out)" = "$LIB" ]; then pass preload_absolute_path
else fail preload_absolute_path "LD_PRELOAD is \"$(out)\", expected \"$LIB\""; fi

cg LD_PRELOAD=libcg-test-other.so -- run -- sh -c "$SHOW"
if [ "$(out)" = "$LIB:libcg-test-other.so" ]; then pass preload_keeps_existing
else fail preload_keeps_existing "LD_PRELOAD is \"$(out)\", expected \"$LIB:libcg-test-other.so\""; fi

cg LD_PRELOAD="libcg-test-other.so $LIB" -- run -- "$CG" run -- sh -c "$SHOW"
n=$(out | tr ': ' '\n\n' | grep -cxF "$LIB")
if [ "$n" = 1 ]; then pass preload_not_twice
else fail preload_not_twice "library appears $n times in \"$(out)\""; fi

mkdir -p "$T/alt" && : >"$T/alt/libcapguard.so"
cg CAPGUARD_LIB=alt/libcapguard.so -- run -- sh -c "$SHOW"
if [ "$(out)" = "$(realpath "$T/alt/libcapguard.so")" ]; then pass capguard_lib_override
else fail capguard_lib_override "LD_PRELOAD is \"$(out)\", expected $T/alt/libcapguard.so"; fi

mkdir -p "$T/prefix/bin" "$T/prefix/lib" "$T/bare/bin"
cp "$CG" "$T/prefix/bin/capguard" && cp "$CG" "$T/bare/bin/capguard" && : >"$T/prefix/lib/libcapguard.so"
(cd "$T" && timeout "$TO" env -u CAPGUARD_LIB -u LD_PRELOAD prefix/bin/capguard run -- sh -c "$SHOW") \
    >"$T/out" 2>"$T/err"; rc=$?
if [ "$(out)" = "$(realpath "$T/prefix/lib/libcapguard.so")" ]; then pass installed_layout_lib
else fail installed_layout_lib "LD_PRELOAD is \"$(out)\", expected $T/prefix/lib/libcapguard.so"; fi

(cd "$T" && timeout "$TO" env -u CAPGUARD_LIB bare/bin/capguard run -- touch ran) >"$T/out" 2>"$T/err"; rc=$?
if [ $rc -eq 127 ] && grep -qF "$T/bare/bin/libcapguard.so" "$T/err" && grep -qF "../lib/libcapguard.so" "$T/err" \
    && [ ! -e "$T/ran" ]; then pass lib_not_found_says_where
else fail lib_not_found_says_where "want exit 127, both paths named, command not run"; fi

cg CAPGUARD_LIB="$T/no-such-lib.so" -- run -- touch ran
if [ $rc -eq 127 ] && grep -q "CAPGUARD_LIB=$T/no-such-lib.so" "$T/err" && [ ! -e "$T/ran" ]; then
    pass capguard_lib_missing
else fail capguard_lib_missing "want exit 127 and a message naming CAPGUARD_LIB=$T/no-such-lib.so"; fi

# --- CAPGUARD, CAPGUARD_LOG_DIR, CAPGUARD_QUIET ---
cg -- run -- sh -c 'echo "$CAPGUARD"'
if [ "$(out)" = 1 ]; then pass policy_default_1; else fail policy_default_1 "CAPGUARD=\"$(out)\""; fi

cg CAPGUARD=defer -- run -- sh -c 'echo "$CAPGUARD"'
a=$(out)
cg CAPGUARD=0 -- run -- sh -c 'echo "$CAPGUARD"'
if [ "$a" = defer ] && [ "$(out)" = 1 ]; then pass policy_keeps_existing
else fail policy_keeps_existing "CAPGUARD=defer gave \"$a\", CAPGUARD=0 gave \"$(out)\""; fi

cg -- run --policy reject -- sh -c 'echo "$CAPGUARD"'
a=$(out)
cg CAPGUARD=defer -- run --policy=observe -- sh -c 'echo "$CAPGUARD"'
if [ "$a" = reject ] && [ "$(out)" = observe ]; then pass policy_option
else fail policy_option "--policy reject gave \"$a\", --policy=observe gave \"$(out)\""; fi

cg -- run --policy bogus -- sh -c 'echo "$CAPGUARD"'
if [ $rc -eq 0 ] && [ "$(out)" = 1 ] && grep -qF -- '--policy "bogus" is not valid' "$T/err" \
    && grep -qF '0|1|auto|observe|reject|defer|relax' "$T/err" && grep -qF 'using the default "1"' "$T/err"; then
    pass bad_policy_message_and_default
else fail bad_policy_message_and_default "want the message naming \"bogus\" and the accepted list, and CAPGUARD=1"; fi

cg -- run --log-dir "$T/logs" -- sh -c 'echo "$CAPGUARD_LOG_DIR"'
a=$(out)
cg -- run --log-dir=rel/logs -- sh -c 'echo "$CAPGUARD_LOG_DIR"'
if [ "$a" = "$T/logs" ] && [ "$(out)" = "$(cd "$T" && pwd)/rel/logs" ]; then pass log_dir
else fail log_dir "--log-dir $T/logs gave \"$a\", --log-dir=rel/logs gave \"$(out)\""; fi

cg -- run --quiet -- sh -c 'echo "${CAPGUARD_QUIET-unset}"'
a=$(out)
cg -- run -- sh -c 'echo "${CAPGUARD_QUIET-unset}"'
if [ "$a" = 1 ] && [ "$(out)" = unset ]; then pass quiet
else fail quiet "--quiet gave \"$a\", without it \"$(out)\""; fi

# --- the command itself ---
cg -- run -- printf '%s|' 'a b' '' c
if [ "$(out)" = 'a b||c|' ]; then pass arguments_passed_verbatim
else fail arguments_passed_verbatim "got \"$(out)\""; fi

cg -- run -- sh -c 'exit 7'
if [ $rc -eq 7 ]; then pass exit_status_of_command; else fail exit_status_of_command "exit $rc, want 7"; fi

cg -- run -- cg-no-such-command-xyz arg
if [ $rc -eq 127 ] && grep -qF cg-no-such-command-xyz "$T/err"; then pass command_not_found_127
else fail command_not_found_127 "want exit 127 and the name in the message"; fi

bad=""
for args in "run" "run --" "run --quiet --" "run --policy reject"; do
    # shellcheck disable=SC2086
    cg -- $args
    [ $rc -eq 2 ] && grep -q "see capguard --help" "$T/err" || bad="$bad [$args: exit $rc]"
done
if [ -z "$bad" ]; then pass missing_command_exit_2; else fail missing_command_exit_2 "$bad"; fi

bad=""
for args in "" "frobnicate" "run --frob -- true"; do
    # shellcheck disable=SC2086
    cg -- $args
    [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "see capguard --help" "$T/err" \
        || bad="$bad [capguard $args: exit $rc]"
done
if [ -z "$bad" ]; then pass usage_error_one_line_exit_2; else fail usage_error_one_line_exit_2 "$bad"; fi

# --- help, env, version ---
names=$(sed -n 's/^[[:space:]]*CG_VAR([[:space:]]*\([A-Za-z0-9_]*\).*/\1/p' "$CONFIG")
cg -- --help
missing=""
for w in $names; do   # a row of the variable table starts with the name
    grep -qE -- "^[[:space:]]+$w([[:space:]]|\$)" "$T/out" || missing="$missing $w"
done
for w in observe reject defer relax auto SYNC ALLOC FREE MEMCPY; do
    grep -qw -- "$w" "$T/out" || missing="$missing $w"
done
if [ $rc -ne 0 ]; then fail help_lists_everything "exit $rc"
elif [ -z "$names" ]; then fail help_lists_everything "no CG_VAR names found in $CONFIG"
elif [ -n "$missing" ]; then fail help_lists_everything "missing:$missing"
else pass help_lists_everything; fi

cp "$T/out" "$T/help"
cg -- help; a=$(cmp -s "$T/out" "$T/help" && echo same)
cg -- -h; b=$(cmp -s "$T/out" "$T/help" && echo same)
if [ "$a$b" = samesame ] && [ $rc -eq 0 ]; then pass help_aliases
else fail help_aliases "capguard help / -h differ from --help"; fi

cg LD_PRELOAD=libcg-test-other.so -- env --policy reject --log-dir /tmp/cg-logs
cp "$T/out" "$T/env"
got=$(cd "$T" && env -i sh -c '. ./env && echo "$CAPGUARD|$CAPGUARD_LOG_DIR|$LD_PRELOAD"')
if [ $rc -eq 0 ] && ! grep -qv '^export ' "$T/env" && [ "$got" = "reject|/tmp/cg-logs|$LIB:libcg-test-other.so" ]; then
    pass env_prints_exports
else fail env_prints_exports "want only export lines giving reject|/tmp/cg-logs|$LIB:libcg-test-other.so, got \"$got\""; fi

version=$(sed -n 's/^VERSION[[:space:]]*:*=[[:space:]]*//p' Makefile)
cg -- version
if [ $rc -eq 0 ] && [ -n "$version" ] && grep -qx "capguard $version" "$T/out" && grep -qF "$LIB" "$T/out"; then
    pass version
else fail version "want \"capguard $version\" and $LIB"; fi

# --- doctor: one line per check, FIX with what to do; exit 1 when any needs a fix ---
# (the plain test doubles: the launcher is never built with a sanitizer, so it cannot load the
# sanitizer builds' doubles that CG_CUDA_LIBDIR names under make sanitize)
FAKES=$ROOT/build/fakes
cg LD_LIBRARY_PATH="$FAKES" CAPGUARD_LOG_DIR="$T/logs" -- doctor
if [ $rc -eq 0 ] && grep -qx "ok   library        $LIB" "$T/out" && grep -q '^ok   libcuda        .*libcuda.so.1$' "$T/out" &&
    grep -q '^ok   libnccl        .*exports ncclCommInitRank (interposable)' "$T/out" &&
    grep -q '^ok   log directory  .*(can be created, mode 0700)' "$T/out" && ! [ -e "$T/logs" ] &&
    grep -qx '0 checks need a fix' "$T/out"; then pass doctor_clean_setup
else fail doctor_clean_setup "want exit 0, the library, libcuda and an interposable libnccl found, the log directory creatable (and not left behind), 0 fixes"; fi
cg CAPGUARD_WATCHDOG_MS=abc CAPGUARD_LOG_DIR=/proc/capguard-nope LD_PRELOAD="/lib/x86_64-linux-gnu/libm.so.6:$LIB" -- doctor
if [ $rc -eq 1 ] && grep -q '^FIX  variables      CAPGUARD_WATCHDOG_MS="abc" is not valid .*fix: set one of: 0..86400000' "$T/out" &&
    grep -q '^FIX  log directory  /proc/capguard-nope cannot be created' "$T/out" &&
    grep -q '^FIX  LD_PRELOAD     another library is preloaded before libcapguard.so' "$T/out" &&
    grep -qx '3 checks need a fix' "$T/out"; then pass doctor_names_each_problem_with_a_fix
else fail doctor_names_each_problem_with_a_fix "want exit 1 and FIX lines for CAPGUARD_WATCHDOG_MS, the log directory and LD_PRELOAD's order"; fi
printf 'int ncclCommInitRank(void);\nint ncclCommInitRank(void) { return 0; }\nint main(void) { return ncclCommInitRank(); }\n' |
    cc -x c - -o "$T/static_nccl" 2>/dev/null
cg -- doctor -- "$T/static_nccl"
rc_static=$rc
grep -q '^FIX  target         .*static_nccl defines ncclCommInitRank itself (NCCL linked statically)' "$T/out"; found_static=$?
cg -- doctor -- true
if [ $rc_static = 1 ] && [ $found_static = 0 ] && grep -q '^ok   target         /.*true$' "$T/out"; then pass doctor_target_with_static_nccl
else fail doctor_target_with_static_nccl "want a FIX for a target that defines ncclCommInitRank itself, ok for true"; fi

# a Python target: the libraries its framework loads (a stand-in torch package that loads an NCCL)
mkdir -p "$T/fw/torch" "$T/badnccl"
printf 'import ctypes, os\n__version__ = "0.test"\nctypes.CDLL(os.environ["TEST_NCCL"])\n' >"$T/fw/torch/__init__.py"
printf '#!/usr/bin/env python3\nprint(1)\n' >"$T/fw/serve.py"
echo 'int nccl_private(void) { return 0; }' | cc -x c - -shared -fPIC -o "$T/badnccl/libnccl.so.2" 2>/dev/null
cg PYTHONPATH="$T/fw" TEST_NCCL="$FAKES/libnccl.so.2" -- doctor -- python3 "$T/fw/serve.py"
rc_good=$rc
grep -q "^ok   python libs    torch 0.test loads $FAKES/libnccl.so.2, which exports ncclCommInitRank (interposable)" "$T/out"; good=$?
cg PYTHONPATH="$T/fw" TEST_NCCL="$T/badnccl/libnccl.so.2" -- doctor -- python3 "$T/fw/serve.py"
if [ $rc_good = 0 ] && [ $good = 0 ] && [ $rc = 1 ] &&
    grep -q "^FIX  python libs    torch 0.test loads $T/badnccl/libnccl.so.2, which does not export ncclCommInitRank; fix: use an NCCL build that exports its API" "$T/out"; then
    pass doctor_python_target_framework_libraries
else fail doctor_python_target_framework_libraries "want ok for the framework's interposable NCCL and a FIX for one that exports nothing (exit $rc_good, then $rc)"; fi

# --- mpirun: every rank execs capguard and gets the library once ---
if command -v mpirun >/dev/null 2>&1; then
    (cd "$T" && timeout 60 env -u LD_PRELOAD -u CAPGUARD_LIB mpirun --oversubscribe --allow-run-as-root -np 2 \
        "$CG" run -- sh -c 'echo "$LD_PRELOAD"') >"$T/out" 2>"$T/err"; rc=$?
    n=$(out | cut -d: -f1 | grep -cxF "$LIB")
    if [ $rc -eq 0 ] && [ "$n" = 2 ]; then pass mpirun
    else fail mpirun "exit $rc, library first in LD_PRELOAD on $n ranks, want 2"; fi
else
    echo "SKIP mpirun: not installed"
fi
exit 0
