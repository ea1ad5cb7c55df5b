#!/usr/bin/env bash
# The configuration parser under libFuzzer (tests/fuzz): builds build/fuzz/config_fuzz with clang
# and runs it for CG_FUZZ_SECONDS (default 15) seeded by tests/fuzz/corpus. One line:
# "PASS fuzz: N runs ..." or "FAIL fuzz: why" (a crash or failed invariant names its reproducer,
# kept under /tmp, and shows it in base64 when it is short).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
# the GPU suite (tests/gpu/run.sh) runs the CPU suite where no clang is installed: no fuzz there
[ "${CG_FUZZ_SKIP:-0}" = 1 ] && exit 0
secs=${CG_FUZZ_SECONDS:-15}
cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
  bad fuzz "$cc not found (scripts/deps.sh test installs the Debian packages clang and libclang-rt-dev)"
  exit 0
fi
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$T/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$T/probe" "$T/probe.c" 2>"$T/probe.err"; then
  bad fuzz "libFuzzer is missing: $cc -fsanitize=fuzzer does not link (Debian package libclang-rt-dev): $(grep -m1 -i error "$T/probe.err")"
  exit 0
fi
if ! make -s fuzz-build >"$T/build.log" 2>&1; then
  bad fuzz "make fuzz-build failed: $(grep -m1 -iE 'error|undefined' "$T/build.log")"
  exit 0
fi
out=$(mktemp -d /tmp/capguard-fuzz.XXXXXX)
if line=$(tests/fuzz/run.sh build/fuzz/config_fuzz "$secs" "$out" 2>&1); then
  rm -rf "$out"
  line=${line#fuzz: }
  line=${line%%; log *}
  ok "fuzz: config parser, $(echo "$line" | sed 's/ (+[0-9]* new inputs in [^)]*)//')"
else
  why=$(echo "$line" | sed -n 2p)
  repro=$(find "$out" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | head -1)
  b64=""
  [ -n "$repro" ] && [ "$(wc -c <"$repro")" -le 512 ] && b64=" (base64 $(base64 -w0 "$repro"))"
  bad fuzz "${why:-the fuzzer failed}; reproducer ${repro:-none}$b64; log $out/fuzz.log (kept)"
fi
# the harness itself: an invariant broken on purpose is caught, with its reproducer
out=$(mktemp -d /tmp/capguard-fuzz.XXXXXX)
CG_FUZZ_PLANT=1 tests/fuzz/run.sh build/fuzz/config_fuzz 10 "$out" >"$T/plant.out" 2>&1
check "fuzz harness: a planted out-of-range value aborts, names the variable and leaves a reproducer" \
  "$(head -3 "$T/plant.out")" \
  sh -c 'grep -q "invariant failed for CAPGUARD_.*outside its accepted" "$1" && ls "$2"/crash-* >/dev/null 2>&1' _ "$T/plant.out" "$out"
rm -rf "$out"
