#!/bin/bash
# hung_where.sh PID: where a hung process waits. Prints "hung_where in-sanitizer" when every one of
# its threads is blocked in a system call made from a sanitizer runtime's own code (its PC in
# libtsan/libasan/liblsan: a runtime lock that another thread of a forked parent held at the
# fork), else "hung_where elsewhere" with the threads' PCs. Used by proc_fork (CG_FORK_HUNG_CMD).
pid=$1
where=in-sanitizer
pcs=""
lib_of() { # lib_of PC: the file mapped at PC in $pid
  local pc=$(($1)) range perms off dev inode path
  while read -r range perms off dev inode path; do
    if (( 16#${range%-*} <= pc && pc < 16#${range#*-} )); then echo "$path"; return; fi
  done <"/proc/$pid/maps"
}
for t in /proc/"$pid"/task/*; do
  pc=$(awk '{ print $NF }' "$t/syscall" 2>/dev/null)
  case $pc in 0x*) ;; *) where=elsewhere; pcs="$pcs ${t##*/}:${pc:-none}"; continue ;; esac
  lib=$(lib_of "$pc")
  pcs="$pcs $pc:${lib##*/}"
  case $lib in *libtsan*|*libasan*|*liblsan*) ;; *) where=elsewhere ;; esac
done
echo "hung_where $where$([ $where = elsewhere ] && echo "$pcs")"
