#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for SECONDS each (default 60), or for RUNS
# executions each with FUZZ_RUNS=N; names after SECONDS pick targets. Each run starts from the
# seeds (fuzz/seeds/TARGET, inputs taken from the test suites) and every crash input ever found
# (fuzz/regressions/TARGET), so a fixed crash that comes back fails at once. Installs the nightly
# toolchain's cargo-fuzz if missing.
#
#   bash scripts/fuzz.sh            # every target, 60 s each
#   bash scripts/fuzz.sh 5          # what the test command runs
#   FUZZ_RUNS=10000000 bash scripts/fuzz.sh 0 sigv4   # a long run of one target
#
# The corpus grows in $HOME/.cache/switchboard-fuzz/corpus/TARGET and is reused; a crash leaves
# its input in $HOME/.cache/switchboard-fuzz/artifacts/TARGET and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi

CARGO_FUZZ_VERSION=0.13.2
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

cache="$HOME/.cache/switchboard-fuzz"
# No sanitizer: the crate forbids unsafe code, so what the fuzzer hunts is panics, overflows
# (debug assertions are on), runaway time and memory; without ASan it runs several times faster.
build=(--sanitizer none --debug-assertions --target-dir "$cache/target")
(cd fuzz && cargo +nightly fuzz build "${build[@]}") || {
  echo "building the fuzz targets failed" >&2
  exit 1
}

passed=0
failed=0
for target in "${targets[@]}"; do
  corpus="$cache/corpus/$target"
  artifacts="$cache/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  kept=()
  for dir in "fuzz/seeds/$target" "fuzz/regressions/$target"; do
    [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] && kept+=("$PWD/$dir")
  done
  options=(-rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1
           "-artifact_prefix=$artifacts/")
  if [ -n "${FUZZ_RUNS:-}" ]; then
    options+=("-runs=$FUZZ_RUNS")
  else
    options+=("-max_total_time=$seconds")
  fi
  if [ -n "${FUZZ_RUNS:-}" ]; then
    echo "== fuzz $target ($FUZZ_RUNS runs)"
  else
    echo "== fuzz $target ($seconds s)"
  fi
  log="$cache/$target.log"
  if (cd fuzz && cargo +nightly fuzz run "${build[@]}" "$target" "$corpus" "${kept[@]}" -- "${options[@]}") >"$log" 2>&1; then
    passed=$((passed + 1))
    grep -E '^Done [0-9]+ runs|stat::number_of_executed_units' "$log" | tail -n 2 || true
  else
    failed=$((failed + 1))
    echo "fuzz target $target failed; its log: $log" >&2
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|deadly signal' "$log" | head -n 20 >&2 || true
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
