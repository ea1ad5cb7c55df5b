#!/usr/bin/env bash
# Fault injection: a hostile environment ("Safe to leave on").
#  1. Every CAPGUARD_* variable of shim/config.def (names and types parsed from the file) given
#     each of seven hostile values, with CAPGUARD=1 (CAPGUARD itself alone): no crash, no hang,
#     the program's result unchanged (the CAPGUARD=1 outcome; the bare outcome when CAPGUARD
#     itself is not valid: capguard stays off), and exactly one complete "is not valid" line
#     when, and only when, the value is not valid for that variable's type.
#  2. The log's location: a missing directory, one the user cannot write, a regular file in its
#     place, the log file pre-created as a symbolic link, a FIFO, a character device: the
#     result unchanged, no hang, one "cannot open the log ... (REASON); events go to stderr
#     only" line; new directories 0700, new log files 0600.
# Prints one "PASS name" / "FAIL name: why" line per check (tests/run.sh counts them).
# CG_CONFIG_DEF: the config table to parse (default shim/config.def; give the one that matches
# CG_LIB when testing another build).
. "$(dirname "$0")/lib.sh"
umask 022 # so that a log file or directory created with a loose mode shows as such
CONFIG_DEF=${CG_CONFIG_DEF:-$ROOT/shim/config.def}
P=$F/env_capture
for f in "$P" "$LIB" "$CONFIG_DEF"; do
  [ -e "$f" ] || { bad "setup" "$f is missing (make fault / make)"; exit 0; }
done

# ---- the program's own results: without capguard, and under CAPGUARD=1 ----
brun bare 10 -- "$P"
frun guarded 10 CAPGUARD=1 CAPGUARD_LOG_DIR="$T/guarded.logs" -- "$P"
BARE=$(cat "$T/bare.out")
GUARDED=$(cat "$T/guarded.out")
rcs() { awk '$1 == "rc" && ($2 == "sync" || $2 == "end") { printf "%s=%s ", $2, $3 }' <<<"$1"; }
# verdict STATUS NAME WHY: PASS when STATUS is 0 (call as: COND; verdict $? NAME WHY: $? is
# expanded before WHY's command substitutions run)
verdict() { if [ "$1" = 0 ]; then ok "$2"; else bad "$2" "$3"; fi; }
[ "$(rcs "$BARE")|$(rcs "$GUARDED")|$(status bare)$(status guarded)" = "sync=900 end=901 |sync=0 end=0 |00" ]
verdict $? "program without capguard fails its capture (sync 900, end 901), under CAPGUARD=1 it is guarded (0, 0)" \
  "bare [$(rcs "$BARE")] status $(status bare), CAPGUARD=1 [$(rcs "$GUARDED")] status $(status guarded)"

# ---- 1. every variable x every hostile value ----
printf -v BIG '%*s' 71680 ''
BIG=${BIG// /x}
VNAMES=(empty huge negative overflow format traversal 70KB)
VALUES=("" "99999999999999999999999" "-1" "18446744073709551616" "%n%n%s%x" "../../../tmp/x" "$BIG")

# Is VALUE valid for a variable of TYPE whose `accepted` column is ACCEPTED? The table, by the
# type column of config.def: 0 valid, 1 not valid, 2 unknown type (any message allowed, but no
# crash, hang or result change).
in_list() { # "a|b|c" value
  local IFS='|' item
  for item in $1; do [ "$item" = "$2" ] && return 0; done
  return 1
}
num_le() { # decimal strings, any length: a <= b
  local a=${1#"${1%%[!0]*}"} b=${2#"${2%%[!0]*}"}
  a=${a:-0} b=${b:-0}
  [ ${#a} -ne ${#b} ] && { [ ${#a} -lt ${#b} ]; return; }
  [[ ! $a > $b ]]
}
valid() { # TYPE ACCEPTED VALUE
  local type=$1 acc=$2 v=$3
  case $type in
    MODE) [ -z "$v" ] || in_list "$acc" "$v" ;;        # "" is off, as unset (config.c)
    BOOL | MEMO) in_list "$acc" "$v" ;;                 # one of the listed words
    UINT) [[ $v =~ ^[0-9]+$ ]] && num_le "${acc%%..*}" "$v" && num_le "$v" "${acc##*..}" ;; # lo..hi
    PATH) [ -n "$v" ] && [ ${#v} -lt 4096 ] ;;          # any non-empty path shorter than PATH_MAX
    PATTERN) [ ${#v} -lt 256 ] && [[ $v =~ ^([^%/]|%[hpr%])+$ ]] ;; # a file name, %h %p %r %%
    PATHS) [ ${#v} -lt 1024 ] && [[ $v =~ ^(/[^:]*(:/[^:]*)*)?$ ]] ;; # absolute directories, ':' between
    POLICY_LIST)
      [ -z "$v" ] && return 0
      local item items
      IFS=, read -ra items <<<"$v"
      for item in "${items[@]}"; do
        [[ $item =~ ^([A-Za-z_][A-Za-z0-9_]*):(observe|reject|defer|relax|auto)$ ]] || return 1
        in_list "SYNC|ALLOC|FREE|MEMCPY|HOST_COLL|COMM_INIT" "${BASH_REMATCH[1]}" || return 2
      done ;;
    *) return 2 ;;
  esac
}

# Where the runs happen: deep enough that "../../../tmp/x" stays inside $T.
W=$T/w/a/b/c
mkdir -p "$W"
nvars=0
# CG_VAR(name, field, type, "default", "accepted", ...
re='^CG_VAR\(([A-Z_]+), *[a-z_]+, *([A-Z_]+), *"([^"]*)", *"([^"]*)"'
while IFS= read -r line; do
  [[ $line =~ $re ]] || continue
  var=${BASH_REMATCH[1]} type=${BASH_REMATCH[2]} acc=${BASH_REMATCH[4]}
  nvars=$((nvars + 1))
  res_fail="" msg_fail="" use_fail="" nvalid=0 ninvalid=0
  for i in "${!VALUES[@]}"; do
    v=${VALUES[$i]} vn=${VNAMES[$i]} tag=cfg.$var.$i
    if [ "$type" = MODE ]; then
      T=$W frun "$tag" 10 CAPGUARD="$v" -- "$P"
    else
      T=$W frun "$tag" 10 CAPGUARD=1 "$var=$v" -- "$P"
    fi
    valid "$type" "$acc" "$v"
    validity=$?
    # the program's result: exit status 0, stdout as expected
    expect=$GUARDED
    [ "$type" = MODE ] && expect=$BARE
    st=$(cat "$W/$tag.status")
    if [ "$st" != 0 ]; then
      res_fail+=" $vn: exit status $st$([ "$st" -ge 124 ] && echo ' (killed or hung)');"
    elif [ "$(cat "$W/$tag.out")" != "$expect" ]; then
      res_fail+=" $vn: stdout [$(rcs "$(cat "$W/$tag.out")")] expected [$(rcs "$expect")];"
    fi
    # the message: one complete line when not valid, none when valid
    n_all=$(grep -c -F 'is not valid' "$W/$tag.err")
    mine=$(grep -F 'is not valid' "$W/$tag.err" | grep -E "(^|[^A-Z_])$var([^A-Z_]|\$)")
    case $validity in
      0)
        nvalid=$((nvalid + 1))
        [ "$n_all" = 0 ] || msg_fail+=" $vn (valid): $n_all 'is not valid' line(s): $(grep -F 'is not valid' "$W/$tag.err" | head -1 | cut -c1-120);"
        ;;
      1)
        ninvalid=$((ninvalid + 1))
        if [ "$n_all" != 1 ] || [ -z "$mine" ]; then
          msg_fail+=" $vn: $n_all 'is not valid' line(s)$([ -n "$mine" ] || echo ', none naming it'): [$(head -c 160 "$W/$tag.err" | tr '\n' ' ')];"
        elif [[ $mine != *"accepted:"* || $mine != *default* ]]; then
          msg_fail+=" $vn: the line is incomplete (${#mine} chars, no 'accepted:'/'default'): $(cut -c1-60 <<<"$mine")...$(tail -c 60 <<<"$mine");"
        elif [ ${#v} -gt 4096 ] && [ ${#mine} -ge ${#v} ]; then
          msg_fail+=" $vn: the value is shown whole, a ${#mine}-character line;"
        fi
        ;;
    esac
    # a valid location value is used as given
    if [ "$validity" = 0 ] && [ "$type" = PATH ]; then
      ls "$W/$v"/*.jsonl >/dev/null 2>&1 || use_fail+=" $vn: no log in $W/$v;"
    elif [ "$validity" = 0 ] && [ "$type" = PATTERN ]; then
      [ -s "$W/capguard-logs/$v" ] || use_fail+=" $vn: no log file $W/capguard-logs/$v;"
    fi
  done
  if [ "$type" = MODE ]; then
    what="exits 0 and capguard stays off (stdout = the run without capguard)"
  else
    what="exits 0, not killed or hung, stdout = the CAPGUARD=1 outcome"
  fi
  [ -z "$res_fail" ]
  verdict $? "config $var ($type) given 7 hostile values (${VNAMES[*]}) $what" "${res_fail# }"
  if [ $((nvalid + ninvalid)) = 0 ]; then
    ok "config $var (type $type, unknown to this test) any message allowed"
  else
    [ -z "$msg_fail" ]
    verdict $? "config $var ($type) prints one complete line per invalid value (names it, is not valid, accepted, default; a 70 KB value shown truncated), none for a valid one ($ninvalid invalid, $nvalid valid)" "${msg_fail# }"
  fi
  if [ "$type" = PATH ] || [ "$type" = PATTERN ]; then
    [ -z "$use_fail" ]
    verdict $? "config $var ($type) uses a valid hostile value as given (the log is there)" "${use_fail# }"
  fi
done <"$CONFIG_DEF"
[ "$nvars" -ge 9 ]
verdict $? "config variables parsed from $(basename "$CONFIG_DEF") ($nvars)" "only $nvars in $CONFIG_DEF"

# ---- 2. the log's location ----
# loc TAG SECONDS [VAR=value ...] [-- wrapper...]: the program under CAPGUARD=1 with the log
# file name log.jsonl; its result must be the one with a normal log directory.
loc() {
  local tag=$1 secs=$2
  shift 2
  frun "$tag" "$secs" CAPGUARD=1 CAPGUARD_LOG_FILE=log.jsonl "$@" "$P"
}
same_result() { [ "$(status "$1")" = 0 ] && [ "$(cat "$T/$1.out")" = "$(cat "$T/loc.ok.out")" ]; }
result_why() { echo "exit status $(status "$1"), stdout [$(rcs "$(cat "$T/$1.out")")] expected [$(rcs "$(cat "$T/loc.ok.out")")]"; }
# has_msg TAG PATH REASON: the line "cannot open the log PATH (REASON)" or, for a directory,
# "cannot create the log directory PATH (REASON)", each ending "; events go to stderr only"
has_msg() {
  grep -q -x -F -e "capguard: cannot open the log $2 ($3); events go to stderr only" \
    -e "capguard: cannot create the log directory $2 ($3); events go to stderr only" "$T/$1.err"
}
msg_why() { echo "wanted 'capguard: cannot open the log $1 ($2); events go to stderr only' (or 'cannot create the log directory ...'), stderr: [$(grep -v '^capguard: \[\|^capguard:  \|summary' "$T/$3.err" | head -3 | tr '\n' ' ')]"; }
on_stderr() { grep -q 'cudaDeviceSynchronize() during capture' "$T/$1.err"; }
mode_of() { stat -c %a "$1" 2>/dev/null || echo none; }

# a normal log directory: the reference result; a new log file is 0600
mkdir -p "$T/loc.ok"
loc loc.ok 10 CAPGUARD_LOG_DIR="$T/loc.ok" --
[ "$(cat "$T/loc.ok.out")" = "$GUARDED" ] && [ -s "$T/loc.ok/log.jsonl" ]
verdict $? "log in a normal directory is written and the result is guarded" \
  "stdout [$(rcs "$(cat "$T/loc.ok.out")")], log $(ls -l "$T/loc.ok" | tail -n +2 | tr '\n' ' ')"
expect_mode() { [ "$(mode_of "$1")" = "$2" ]; verdict $? "$3" "$1 has mode $(mode_of "$1")"; }
expect_mode "$T/loc.ok/log.jsonl" 600 "log file is created with mode 0600"

# missing (two levels): created, 0700
D=$T/loc.missing/logs
loc loc.miss 10 CAPGUARD_LOG_DIR="$D" --
same_result loc.miss && [ -s "$D/log.jsonl" ]
verdict $? "log directory missing is created and gets the log, result unchanged" "$(result_why loc.miss); log: $(ls -l "$D" 2>&1 | tr '\n' ' ')"
expect_mode "$D" 700 "log directory capguard creates has mode 0700"
expect_mode "$D/log.jsonl" 600 "log file in a directory capguard created has mode 0600"

# an existing directory the user cannot write: as root (CI), the program runs as user nobody
# (setpriv) beside a root-owned 0755 directory; as another user, beside a 0555 directory of its own
D=$T/loc.ro
mkdir -m 0755 "$D"
chmod 0755 "$T"
N1="log directory not writable by the user leaves the result unchanged, no hang"
N2="log directory not writable by the user is named (cannot open the log PATH (Permission denied), events go to stderr only)"
N3="log directory not writable by the user gets nothing created in it"
as_user=()
if [ "$(id -u)" != 0 ]; then
  chmod 0555 "$D"
  why=""
elif ! command -v setpriv >/dev/null; then
  why="setpriv is missing (util-linux): cannot run the program as user nobody"
elif ! setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "test -x '$P' && test -r '$LIB' && test -r '$FAKES/libcudart.so.13' && cd '$T'" 2>/dev/null; then
  why="user nobody cannot reach $P, $LIB, $FAKES or $T (make them traversable)"
else
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  why=""
fi
if [ -n "$why" ]; then
  for n in "$N1" "$N2" "$N3"; do bad "$n" "$why"; done
else
  loc loc.ro 10 CAPGUARD_LOG_DIR="$D" -- "${as_user[@]}"
  same_result loc.ro
  verdict $? "$N1" "$(result_why loc.ro)"
  has_msg loc.ro "$D/log.jsonl" "Permission denied" && on_stderr loc.ro
  verdict $? "$N2" "$(msg_why "$D/log.jsonl" "Permission denied" loc.ro)"
  [ -z "$(ls -A "$D")" ]
  verdict $? "$N3" "$(ls -A "$D")"
  chmod 0755 "$D"
fi

# a regular file where the directory should be
D=$T/loc.file
echo "not a directory" >"$D"
loc loc.file 10 CAPGUARD_LOG_DIR="$D" --
same_result loc.file && [ "$(cat "$D")" = "not a directory" ]
verdict $? "log directory a regular file leaves the result unchanged and the file untouched" "$(result_why loc.file), file: $(head -c 80 "$D")"
{ has_msg loc.file "$D/log.jsonl" "Not a directory" || has_msg loc.file "$D" "Not a directory"; } && on_stderr loc.file
verdict $? "log directory a regular file is named (Not a directory), events still on stderr" "$(msg_why "$D/log.jsonl" "Not a directory" loc.file)"

# the log file pre-created as a symbolic link: never followed (to create or to write)
mkdir -p "$T/loc.sl1" "$T/loc.sl2" "$T/loc.elsewhere"
ln -s "$T/loc.elsewhere/created" "$T/loc.sl1/log.jsonl"
echo keep >"$T/loc.elsewhere/existing"
ln -s "$T/loc.elsewhere/existing" "$T/loc.sl2/log.jsonl"
loc loc.sl1 10 CAPGUARD_LOG_DIR="$T/loc.sl1" --
loc loc.sl2 10 CAPGUARD_LOG_DIR="$T/loc.sl2" --
same_result loc.sl1 && same_result loc.sl2
verdict $? "log file a symbolic link leaves the result unchanged" "$(result_why loc.sl1); $(result_why loc.sl2)"
[ ! -e "$T/loc.elsewhere/created" ]
verdict $? "log file a symbolic link to a missing file does not create the target" \
  "$T/loc.elsewhere/created exists ($(wc -c 2>/dev/null <"$T/loc.elsewhere/created") bytes)"
[ "$(cat "$T/loc.elsewhere/existing")" = keep ]
verdict $? "log file a symbolic link to an existing file does not write the target" "it now holds $(wc -c <"$T/loc.elsewhere/existing") bytes"
has_msg loc.sl1 "$T/loc.sl1/log.jsonl" "a symbolic link: not followed" &&
  has_msg loc.sl2 "$T/loc.sl2/log.jsonl" "a symbolic link: not followed" && on_stderr loc.sl1
verdict $? "log file a symbolic link is named (a symbolic link, not followed), events still on stderr" \
  "$(msg_why "$T/loc.sl1/log.jsonl" "a symbolic link: not followed" loc.sl1)"

# the log file a FIFO: opening it for writing would block for ever without a reader
mkdir -p "$T/loc.fifo"
mkfifo "$T/loc.fifo/log.jsonl"
loc loc.fifo 5 CAPGUARD_LOG_DIR="$T/loc.fifo" --
same_result loc.fifo
verdict $? "log file a FIFO does not hang the program (5 s bound), result unchanged" \
  "$(result_why loc.fifo)$([ "$(status loc.fifo)" = 124 ] && echo ', it hung on the FIFO')"
has_msg loc.fifo "$T/loc.fifo/log.jsonl" "not a regular file" && on_stderr loc.fifo
verdict $? "log file a FIFO is named (not a regular file), events still on stderr" "$(msg_why "$T/loc.fifo/log.jsonl" "not a regular file" loc.fifo)"

# the log file a character device
loc loc.dev 10 CAPGUARD_LOG_DIR=/dev CAPGUARD_LOG_FILE=full --
same_result loc.dev
verdict $? "log file a character device (/dev/full) leaves the result unchanged" "$(result_why loc.dev)"
has_msg loc.dev /dev/full "not a regular file" && on_stderr loc.dev
verdict $? "log file a character device (/dev/full) is named (not a regular file), events still on stderr" "$(msg_why /dev/full "not a regular file" loc.dev)"
exit 0
