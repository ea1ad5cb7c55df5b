#!/bin/bash
# Write the generated docs from the shim's tables (make docs): docs/hooks.md whole, and the
# README's blocks between "<!-- generated: NAME -->" and "<!-- end: NAME -->" (NAME: a gen_docs
# subcommand). With --check DIR: write into DIR instead (a copy of README.md and docs/hooks.md),
# for tests/docs/current.sh. Usage: scripts/docs.sh GEN_DOCS [--check DIR]
set -eu
GEN=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT
if [ "${2:-}" = --check ]; then
  OUT=$3
  mkdir -p "$OUT/docs"
  cp "$ROOT/README.md" "$OUT/README.md"
fi
"$GEN" hooks >"$OUT/docs/hooks.md"
python3 - "$GEN" "$OUT/README.md" <<'PY'
import re, subprocess, sys
gen, path = sys.argv[1], sys.argv[2]
text = open(path).read()
def block(m):
    name = m.group(1)
    body = subprocess.run([gen, name], check=True, capture_output=True, text=True).stdout
    return "<!-- generated: %s -->\n%s<!-- end: %s -->" % (name, body, name)
new = re.sub(r"<!-- generated: ([a-z-]+) -->\n.*?<!-- end: \1 -->", block, text, flags=re.S)
open(path, "w").write(new)
PY
