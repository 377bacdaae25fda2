#!/usr/bin/env bash
# Runs each scenario twice (same seed) and compares every output file byte
# for byte; then once more with another seed, which must differ.
#
#   scripts/check-determinism.sh [scenario.toml ...]   (default: scenarios/*.toml)
#
# Exit 0 when every scenario reproduces exactly; 1 otherwise, naming the
# files that differ. Use it after changing the engine or a protocol, or to
# check that a platform reproduces published runs.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then set -- scenarios/*.toml; fi
cargo build --release --quiet
sim=target/release/sim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

status=0
for scenario in "$@"; do
  "$sim" run "$scenario" --out "$work/a" --quiet --trace
  "$sim" run "$scenario" --out "$work/b" --quiet --trace
  if diff -r "$work/a" "$work/b" > "$work/diff.txt"; then
    echo "same bytes: $scenario"
  else
    echo "DIFFERENT outputs for the same seed: $scenario" >&2
    head -20 "$work/diff.txt" >&2
    status=1
  fi
  seed=$(grep -o '"run.seed": [0-9]*' "$work"/a/*/seed-*/summary.json | head -1 | grep -o '[0-9]*$')
  "$sim" run "$scenario" --out "$work/c" --quiet --seed $((seed + 1))
  hash_a=$(grep -o '"run.trace_hash": "[0-9a-f]*"' "$work"/a/*/seed-*/summary.json)
  hash_c=$(grep -o '"run.trace_hash": "[0-9a-f]*"' "$work"/c/*/seed-*/summary.json)
  if [ "$hash_a" = "$hash_c" ]; then
    echo "seed $((seed + 1)) gave the same trace as seed $seed: $scenario" >&2
    status=1
  fi
  rm -rf "$work/a" "$work/b" "$work/c"
done
exit "$status"
