#!/bin/bash
# The generated docs are current: docs/hooks.md and the README's generated blocks equal what
# make docs writes from the shim's tables now (hooks.def, kinds.def, classes.def, policies.def,
# scopes.def, modules.def, config.def). Prints PASS/FAIL lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GEN=${CG_GEN_DOCS:-$ROOT/build/gen_docs}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
[ -x "$GEN" ] || { echo "FAIL docs: generator: $GEN is missing (make)"; exit 1; }
"$ROOT/scripts/docs.sh" "$GEN" --check "$T" || { echo "FAIL docs: generator: scripts/docs.sh failed"; exit 1; }
for f in docs/hooks.md README.md; do
  if diff -q "$ROOT/$f" "$T/$f" >/dev/null; then
    echo "PASS docs: $f is what make docs writes from the tables"
  else
    echo "FAIL docs: $f is stale: $(diff "$ROOT/$f" "$T/$f" | grep -c '^[<>]') lines differ; run make docs"
  fi
done
grep -q '<!-- generated: readme-config -->' "$ROOT/README.md" && grep -q '<!-- generated: readme-policies -->' "$ROOT/README.md" &&
  echo "PASS docs: README has its generated blocks (configuration, policies)" ||
  echo "FAIL docs: README: a generated block's markers are missing"
