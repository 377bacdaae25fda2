#!/usr/bin/env bash
# A sweep split into shards run by GNU parallel (on one machine, or across
# machines with parallel's --sshlogin), then merged.
#
#   scripts/gnu-parallel.sh [SHARDS]        # default 8
#
# Needs GNU parallel (apt-get install parallel). Each shard is a
# deterministic subset of the runs; `sim merge` joins them into the same
# folder the unsharded sweep would have written.
set -euo pipefail
cd "$(dirname "$0")/.."

shards=${1:-8}
cargo build --release --quiet
rm -rf sweep-shards sweep
mkdir -p sweep-shards

seq 0 $((shards - 1)) | parallel --halt now,fail=1 \
  target/release/sim run scenarios/registration-baseline.toml \
    --seeds 1..20 \
    --sweep registration.strategy=poll,backoff,watch \
    --jobs 1 --shard {}/"$shards" --no-trace --quiet --out sweep-shards/{}

target/release/sim merge sweep-shards/* --out sweep
echo "merged: sweep/registration-baseline/stats.csv"
