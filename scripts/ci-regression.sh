#!/usr/bin/env bash
# What a downstream project's CI calls to hold its scenarios to their targets
# and to a committed baseline.
#
#   scripts/ci-regression.sh [SCENARIOS_GLOB] [BASELINE_DIR] [SEEDS]
#     default: "scenarios/*.toml" baselines/ 1..5
#
# Exit codes are sim check's: 0 every target and baseline comparison holds,
# 1 a target or a baseline comparison was missed (each miss is printed with
# the metric, the target, the measured value, the seed and the command that
# reproduces it), 2 invalid input, 4/5 a safety/liveness checker tripped.
#
# To (re)write the baseline after an intended change:
#   UPDATE_BASELINE=1 scripts/ci-regression.sh
# and commit the baseline folder.
set -euo pipefail
cd "$(dirname "$0")/.."

glob=${1:-scenarios/*.toml}
baseline=${2:-baselines}
seeds=${3:-1..5}
tolerance=${TOLERANCE:-10%}

cargo build --release --quiet
# shellcheck disable=SC2086 # the glob is meant to expand
files=( $glob )
if [ "${UPDATE_BASELINE:-0}" = "1" ]; then
  exec target/release/sim check "${files[@]}" --seeds "$seeds" --out target/ci-regression --update-baseline "$baseline"
fi
if [ ! -d "$baseline" ]; then
  echo "no baseline at $baseline: checking targets only (write one with UPDATE_BASELINE=1 $0)" >&2
  exec target/release/sim check "${files[@]}" --seeds "$seeds" --out target/ci-regression
fi
exec target/release/sim check "${files[@]}" --seeds "$seeds" --out target/ci-regression \
  --baseline "$baseline" --tolerance "$tolerance"
