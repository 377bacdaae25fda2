#!/usr/bin/env bash
# The scale study of issue 12: overlay convergence and gossip delay against
# network size (1,000 and 10,000 peers) and the outbound target
# (max_outbound 4, 8, 16; max_inbound 4 x max_outbound), on
# scenarios/gossip-overlay.toml. Writes docs/scale-study/scale-study.md
# (the table) and docs/scale-study/scale-study-{convergence,gossip}.svg.
#
#   scripts/scale-study.sh [OUT_DIR]      (default /tmp/scale-study)
#
# Six runs; the three 10,000-peer ones take most of the time (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/scale-study}
cargo build --release --quiet
for n in 1000 10000; do
  for k in 4 8 16; do
    nice -n 10 ./target/release/sim run scenarios/gossip-overlay.toml \
      --set hosts.peer.count=$n --set peers.max_outbound=$k \
      --set peers.max_inbound=$((4 * k)) \
      --out "$OUT/n$n-k$k" --quiet --no-trace --no-plots
    echo "n=$n max_outbound=$k done"
  done
done
mkdir -p docs/scale-study
cargo run --release --quiet --example scale_study -- "$OUT" docs/scale-study
