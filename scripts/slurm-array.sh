#!/usr/bin/env bash
# A sweep on a Slurm cluster: one array task per shard, then one merge.
#
#   sbatch --array=0-15 scripts/slurm-array.sh      # 16 shards
#   # when all tasks are done:
#   target/release/sim merge sweep-shards/* --out sweep
#
# Each task runs the deterministic subset `--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`
# of the sweep below on the cores Slurm gave it; merging all shards gives the
# same folder, byte for byte, as running the whole sweep on one machine.
# Build once before submitting (cargo build --release) on a shared filesystem.
#SBATCH --job-name=sim-sweep
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
#SBATCH --output=sweep-logs/%A_%a.out
set -euo pipefail

task=${SLURM_ARRAY_TASK_ID:?run this with sbatch --array}
count=${SLURM_ARRAY_TASK_COUNT:?run this with sbatch --array}
mkdir -p sweep-shards sweep-logs

target/release/sim run scenarios/registration-baseline.toml \
  --seeds 1..100 \
  --sweep registration.strategy=poll,backoff,watch \
  --sweep registration.recover=false,true \
  --jobs "${SLURM_CPUS_PER_TASK:-1}" \
  --shard "$task/$count" \
  --no-trace --quiet \
  --out "sweep-shards/$task"
