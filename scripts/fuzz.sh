#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (they need the nightly toolchain and
# cargo-fuzz: `rustup toolchain install nightly && cargo install cargo-fuzz`).
#
#   scripts/fuzz.sh short [TARGET...]   each target for FUZZ_SECONDS (default 5) — what CI runs
#   scripts/fuzz.sh long  [TARGET...]   each target for FUZZ_RUNS executions (default 10,000,000)
#   scripts/fuzz.sh list                the targets
#
# Without TARGETs, every target, one after another (one core each; run it
# under `nice -n 19` on a shared machine). Inputs come from fuzz/seeds/<t>
# (committed; regenerate with `cargo run --example fuzz_seeds`)
# and the working corpus fuzz/corpus/<t> (not committed). A finding stops
# the script with exit 1; libFuzzer leaves the input in
# fuzz/artifacts/<t>/. Fix it, then keep the input as fuzz/regressions/<t>/<name>:
# tests/fuzz_corpus.rs replays every seed and regression on stable in
# `cargo test`. `long` appends one line per target to fuzz/long-runs.log:
# date, target, executions, seconds, executions/s, result.
#
# The targets are built without a sanitizer (`-s none`): the code under test
# is safe Rust, so AddressSanitizer would only halve the speed; debug
# assertions and overflow checks are on (cargo fuzz's defaults).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(scenario gml registration_file legacy_registry consensus_message peer_message registration_message gossip_message frame fragment)
mode=${1:-short}
shift || true
if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
fi

case "$mode" in
  list)
    printf '%s\n' "${TARGETS[@]}"
    exit 0
    ;;
  short | long) ;;
  *)
    echo "usage: scripts/fuzz.sh short|long|list [TARGET...]" >&2
    exit 2
    ;;
esac

build_log=$(mktemp)
if ! cargo +nightly fuzz build -s none >"$build_log" 2>&1; then
  cat "$build_log" >&2
  exit 1
fi
rm -f "$build_log"

for target in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  if [ "$mode" = short ]; then
    limit=(-max_total_time="${FUZZ_SECONDS:-5}")
  else
    limit=(-runs="${FUZZ_RUNS:-10000000}")
  fi
  log=$(mktemp)
  start=$(date +%s)
  if cargo +nightly fuzz run -s none "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
      -- "${limit[@]}" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=FINDING
  fi
  seconds=$(( $(date +%s) - start ))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(( runs / (seconds > 0 ? seconds : 1) ))
  echo "fuzz $target: $runs executions in ${seconds} s ($rate/s): $result"
  if [ "$mode" = long ]; then
    echo "$(date -u +%Y-%m-%dT%H:%MZ) $target runs=$runs seconds=$seconds rate=$rate/s $result" >>fuzz/long-runs.log
  fi
  if [ "$result" != ok ]; then
    tail -40 "$log" >&2
    rm -f "$log"
    echo "fuzz $target found an input that fails: see fuzz/artifacts/$target/" >&2
    exit 1
  fi
  rm -f "$log"
done
