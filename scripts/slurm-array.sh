#!/usr/bin/env bash
# One shard of a sweep per Slurm array task. scripts/slurm-submit.sh submits
# it with its log folder and the merge job; to submit it yourself:
#
#   cargo build --release
#   SIM=$PWD/target/release/sim sbatch --array=0-15 scripts/slurm-array.sh \
#       --shards 16 -- scenarios/registration-baseline.toml --seeds 1..100 \
#       --sweep registration.strategy=poll,backoff,watch
#   # when every task is done:
#   target/release/sim merge sweep-shards/{0..15} --out sweep
#
# Arguments: [--shards N] [--shard-dir DIR] [--] SIM_RUN_ARGUMENTS...
#   --shards N       how many shards the sweep is cut into (required; the
#                    array's size is not used: re-running one task must not
#                    change it)
#   --shard-dir DIR  shard I writes DIR/I (default sweep-shards)
#   the rest         the sweep, as `sim run` takes it (files, --seeds,
#                    --sweep, --set, --trace, ...)
# or the same in the environment: SHARDS, SHARD_DIR, and SCENARIO (files,
# space-separated), SEEDS, SWEEPS and SETS (each `;`-separated), SIM_ARGS
# (more flags, space-separated).
#
# SIM is the sim binary (default: `sim` on PATH); nothing is built here.
# Relative paths are relative to the folder sbatch was run from
# (SLURM_SUBMIT_DIR). Task T runs shard T mod N, so --array=0-15 and
# --array=1-16 both run each of 16 shards once; --array=2 re-runs shard 2.
# Runs already complete in the shard's folder are kept (--skip-existing):
# a requeued or re-submitted task makes only what its shard lacks.
# A checker violation (sim exit 4/5) still wrote its results: the task
# exits 0 so that an afterok merge runs, and `sim merge` reports it.
#SBATCH --job-name=sim-sweep
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
#SBATCH --output=sim-sweep-%A_%a.out
set -euo pipefail

die() {
  echo "slurm-array.sh: $*" >&2
  exit 2
}

shards=${SHARDS:-}
shard_dir=${SHARD_DIR:-sweep-shards}
while [ $# -gt 0 ]; do
  case $1 in
    --shards) shards=${2:-}; shift 2 || die "--shards needs a number" ;;
    --shards=*) shards=${1#*=}; shift ;;
    --shard-dir) shard_dir=${2:-}; shift 2 || die "--shard-dir needs a folder" ;;
    --shard-dir=*) shard_dir=${1#*=}; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
# The sweep from the environment: a copy of sweep_args in sweep-args.sh
# (sbatch runs a copy of this script, away from its folder).
run_args=("$@")
if [ ${#run_args[@]} -eq 0 ]; then
  [ -n "${SCENARIO:-}" ] || die "give the sweep: sim run arguments after --, or SCENARIO (with SEEDS, SWEEPS, SETS, SIM_ARGS)"
  read -r -a run_args <<<"$SCENARIO"
  [ -z "${SEEDS:-}" ] || run_args+=(--seeds "$SEEDS")
  IFS=';' read -r -a items <<<"${SWEEPS:-}"
  for item in ${items[@]+"${items[@]}"}; do [ -z "$item" ] || run_args+=(--sweep "$item"); done
  IFS=';' read -r -a items <<<"${SETS:-}"
  for item in ${items[@]+"${items[@]}"}; do [ -z "$item" ] || run_args+=(--set "$item"); done
  read -r -a items <<<"${SIM_ARGS:-}"
  run_args+=(${items[@]+"${items[@]}"})
fi

for arg in "${run_args[@]}"; do
  case $arg in
    --out | --out=* | --shard | --shard=* | --run | --run=* | --list | --count)
      die "leave $arg out of the sweep's arguments: this script sets where and which runs (see --shard-dir)"
      ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "set the number of shards: --shards N or SHARDS=N (got '${shards}')"
task=${SLURM_ARRAY_TASK_ID:-}
[[ $task =~ ^[0-9]+$ ]] || die "no SLURM_ARRAY_TASK_ID: submit this with sbatch --array=0-$((shards - 1))"
if [ -n "${SLURM_ARRAY_TASK_MIN:-}" ] && [ -n "${SLURM_ARRAY_TASK_MAX:-}" ]; then
  span=$((SLURM_ARRAY_TASK_MAX - SLURM_ARRAY_TASK_MIN + 1))
  if [ "$span" -gt "$shards" ]; then
    die "the array spans $span task ids (${SLURM_ARRAY_TASK_MIN}-${SLURM_ARRAY_TASK_MAX}) but the sweep has $shards shards: two tasks would make the same shard; submit --array=0-$((shards - 1)) (or 1-$shards)"
  fi
fi

cd "${SLURM_SUBMIT_DIR:-.}"
sim=${SIM:-sim}
command -v "$sim" >/dev/null ||
  die "no sim binary '$sim' (from $PWD): build it once (cargo build --release) and set SIM to its absolute path, e.g. SIM=\$PWD/target/release/sim"

jobs=()
[[ " ${run_args[*]} " == *" --jobs"* ]] || jobs=(--jobs "${SLURM_CPUS_PER_TASK:-1}")
shard=$((task % shards))
mkdir -p "$shard_dir"
echo "slurm-array.sh: task $task makes shard $shard/$shards in $shard_dir/$shard" >&2
code=0
"$sim" run "${run_args[@]}" ${jobs[@]+"${jobs[@]}"} --shard "$shard/$shards" --skip-existing \
  --out "$shard_dir/$shard" || code=$?
case $code in
  0) ;;
  4 | 5)
    echo "slurm-array.sh: a checker tripped in shard $shard (exit $code); its results are written and sim merge reports it" >&2
    ;;
  *)
    echo "slurm-array.sh: shard $shard failed (exit $code); after fixing the cause, re-submit this task alone (sbatch --array=$task with the same arguments): finished runs are kept" >&2
    exit "$code"
    ;;
esac
