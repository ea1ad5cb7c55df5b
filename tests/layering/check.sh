#!/bin/bash
# The shim's layering, proved from its object files (nm), not from its headers:
#   1. every cg_ symbol an object uses is defined in its own layer or below
#      (base < model < features < pipeline < report; a file's directory under shim/ is its layer);
#   2. no two files use each other's symbols (no cycle of two);
#   3. every module of shim/modules.def is registered exactly once (the cg_modules section);
#   4. every file is in one of the layers (nothing left in shim/ itself but headers and tables).
# Prints one PASS/FAIL line per rule with what breaks it. Usage: check.sh [BUILD_DIR]
# (default: $CG_BUILD, else build/ of this tree)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-${CG_BUILD:-$ROOT/build}}
LAYERS=(base model features pipeline report)
fails=0
pass() { echo "PASS layering: $1"; }
fail() { echo "FAIL layering: $1: $2"; fails=$((fails + 1)); }

declare -A layer_of_obj rank_of_layer def_in
for i in "${!LAYERS[@]}"; do rank_of_layer[${LAYERS[$i]}]=$i; done
objs=()
for l in "${LAYERS[@]}"; do
  for o in "$B"/shim/"$l"/*.o; do
    [ -e "$o" ] || continue
    src=$ROOT/shim/$l/$(basename "$o" .o).c
    [ -e "$src" ] || [ -e "${src%.c}.S" ] || continue # a stale object of a source that moved
    objs+=("$o")
    layer_of_obj[$o]=$l
    while read -r sym; do def_in[$sym]=$o; done < <(nm --defined-only -g "$o" | awk '$3 ~ /^cg_/ { print $3 }')
  done
done
[ ${#objs[@]} -ge 10 ] || { fail "objects" "only ${#objs[@]} objects under $B/shim/<layer>/ (make first)"; exit 1; }

# 1 and 2
up="" mutual=""
declare -A uses
for o in "${objs[@]}"; do
  mine=${rank_of_layer[${layer_of_obj[$o]}]}
  while read -r sym; do
    d=${def_in[$sym]:-}
    [ -n "$d" ] || continue
    uses[$o,$d]=1
    theirs=${rank_of_layer[${layer_of_obj[$d]}]}
    [ "$theirs" -le "$mine" ] || up+=" ${o#$B/shim/} uses $sym of ${d#$B/shim/};"
  done < <(nm -u "$o" | awk '$2 ~ /^cg_/ { print $2 }')
done
for k in "${!uses[@]}"; do
  a=${k%,*} b=${k#*,}
  [ "$a" \< "$b" ] && [ -n "${uses[$b,$a]:-}" ] && mutual+=" ${a#$B/shim/} <-> ${b#$B/shim/};"
done
[ -z "$up" ] && pass "every cg_ symbol an object uses is defined in its layer or below (${#objs[@]} objects)" ||
  fail "calls up a layer" "$up"
[ -z "$mutual" ] && pass "no two files use each other's symbols" || fail "files that use each other" "$mutual"

# 3: the registrations, read from the library's cg_modules section
want=$(sed -n 's/^MODULE(\([a-z_]*\),.*/\1/p' "$ROOT/shim/modules.def" | sort)
have=$(for o in "${objs[@]}"; do nm "$o" | awk '$3 ~ /^cg_module_/ { sub("cg_module_", "", $3); print $3 }'; done | sort)
secs=$(for o in "${objs[@]}"; do objdump -h "$o" | awk '$2 == "cg_modules" { print FILENAME }' FILENAME="$o"; done | wc -l)
[ "$want" = "$have" ] && [ "$secs" = "$(echo "$want" | wc -l)" ] &&
  pass "every module of modules.def is registered once, in the cg_modules section ($(echo $want | tr ' ' ','))" ||
  fail "module registrations" "modules.def [$(echo $want)] registered [$(echo $have)] in $secs sections"

# 4
stray=$(cd "$ROOT/shim" && ls ./*.c 2>/dev/null | tr '\n' ' ')
[ -z "$stray" ] && pass "every source file is in a layer (shim/<layer>/*.c)" || fail "files outside the layers" "$stray"
exit $((fails > 0))
