#!/bin/sh
# Regenerate shim/pyframes.def from the CPython headers installed here (pyenv versions with
# internal headers). Usage: scripts/py-offsets.sh /root/.pyenv/versions/3.1[123]* > rows
set -eu
for d in "$@"; do
  inc=$(ls -d "$d"/include/python3* | head -1)
  gcc -I"$inc" -o /tmp/py-offsets.$$ "$(dirname "$0")/py-offsets.c"
  /tmp/py-offsets.$$
  rm -f /tmp/py-offsets.$$
done
