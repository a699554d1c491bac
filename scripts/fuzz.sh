#!/usr/bin/env bash
# Fuzzes the input paths with cargo-fuzz (libFuzzer; needs the nightly toolchain, which
# `npm test` does not): the dataset parser, the head (safetensors) loader and the model
# loader (tokenizer.json, config.json, weights of a tiny BERT). Each target runs for
# FUZZ_SECONDS (default 60) from its committed seeds (fuzz/seeds/<target>/) plus whatever
# earlier runs found (fuzz/corpus/<target>/, not committed). Prints per target the time run,
# the executions and whether it crashed; exits non-zero when any target crashed (the input
# is left in fuzz/artifacts/<target>/, the log in fuzz/logs/<target>.log).
#
#   npm run fuzz                       # 60 s per target
#   FUZZ_SECONDS=600 npm run fuzz      # longer
#   FUZZ_TARGETS="head" npm run fuzz   # some targets only
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
export PATH="$HOME/.cargo/bin:$PATH"

seconds="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-dataset head tokenizer}"
# a single input slower than this counts as a finding (a hang)
unit_timeout="${FUZZ_TIMEOUT:-20}"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

echo "fuzz: building the targets (nightly, release, AddressSanitizer)"
cargo +nightly fuzz build

mkdir -p logs
summary=()
failed=0
for t in $targets; do
  mkdir -p "corpus/$t" "artifacts/$t"
  cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  log="logs/$t.log"
  before="$(ls "artifacts/$t" | wc -l)"
  echo "fuzz: $t for ${seconds}s (log: fuzz/$log)"
  start=$(date +%s)
  dict=()
  [ -f "dicts/$t.dict" ] && dict=("-dict=dicts/$t.dict")
  set +e
  cargo +nightly fuzz run "$t" "corpus/$t" -- "${dict[@]}" \
    -max_total_time="$seconds" -timeout="$unit_timeout" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  took=$(( $(date +%s) - start ))
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)"
  after="$(ls "artifacts/$t" | wc -l)"
  artifact="$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/Test unit written to //' || true)"
  if [ -n "$artifact" ] || [ "$after" -gt "$before" ]; then
    failed=1
    found="CRASH: $artifact"
    grep -m1 -E 'panicked at|ERROR: (libFuzzer|AddressSanitizer)' "$log" | sed 's/^/  /' || true
  elif [ "$rc" -ne 0 ]; then
    failed=1
    found="FAILED (exit $rc, no crash input written): see fuzz/$log"
  else
    found="no crash"
  fi
  summary+=("$(printf '%-10s %5ss %12s execs  %s' "$t" "$took" "${execs:-?}" "$found")")
done

echo
echo "fuzz summary (FUZZ_SECONDS=$seconds):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
