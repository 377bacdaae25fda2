#!/usr/bin/env bash
# Submit a sweep to Slurm: one array task per shard (scripts/slurm-array.sh),
# then a merge job that starts when every task succeeded (afterok).
#
#   cargo build --release                      # once, on the login node
#   scripts/slurm-submit.sh --shards 16 -- scenarios/registration-baseline.toml \
#       --seeds 1..100 --sweep registration.strategy=poll,backoff,watch \
#       --sweep registration.recover=false,true
#
# Options (before `--`; the rest is the sweep, as `sim run` takes it):
#   --shards N        shards to cut the sweep into (required; or SHARDS=N)
#   --array SPEC      the task ids to submit (default 0-(N-1); 1-N works too;
#                     one id re-runs one shard: task T makes shard T mod N)
#   --shard-dir DIR   shard I goes to DIR/I (default sweep-shards)
#   --merged DIR      the merged result (default sweep; must not exist yet)
#   --log-dir DIR     task and merge logs (default sweep-logs; created here,
#                     since Slurm needs the folder before a task starts)
#   --after TYPE      the merge's dependency: afterok (default) or afterany
#                     (merge anyway: sim merge then names what is missing)
#   --no-merge        submit the shards only
# Environment: SIM (the sim binary; default target/release/sim of this
# checkout, else `sim` on PATH), SBATCH_ARGS (more sbatch options, e.g.
# "--partition=short --time=02:00:00"), and instead of the sweep arguments
# SCENARIO, SEEDS, SWEEPS, SETS, SIM_ARGS as slurm-array.sh reads them.
# Paths are relative to the current folder, which is where the jobs run.
set -euo pipefail

die() {
  echo "slurm-submit.sh: $*" >&2
  exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
shards=${SHARDS:-}
array=
shard_dir=${SHARD_DIR:-sweep-shards}
merged=${MERGED:-sweep}
log_dir=${LOG_DIR:-sweep-logs}
after=afterok
merge=1
while [ $# -gt 0 ]; do
  case $1 in
    --shards) shards=${2:-}; shift 2 || die "--shards needs a number" ;;
    --array) array=${2:-}; shift 2 || die "--array needs task ids" ;;
    --shard-dir) shard_dir=${2:-}; shift 2 || die "--shard-dir needs a folder" ;;
    --merged) merged=${2:-}; shift 2 || die "--merged needs a folder" ;;
    --log-dir) log_dir=${2:-}; shift 2 || die "--log-dir needs a folder" ;;
    --after) after=${2:-}; shift 2 || die "--after needs afterok or afterany" ;;
    --no-merge) merge=0; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "set the number of shards: --shards N or SHARDS=N"
[[ $after == afterok || $after == afterany ]] || die "--after takes afterok or afterany, not '$after'"
array=${array:-0-$((shards - 1))}

# shellcheck source=scripts/sweep-args.sh
. "$here/sweep-args.sh"
find_sim "$here" || exit 2
sweep_args "$@" || exit 2
check_sweep_args || exit 2

# Check the sweep here, before anything is queued: bad files or flags fail now.
runs=$("$SIM" run "${run_args[@]}" --count) || die "the sweep arguments are not valid (see above)"
if [ "$merge" = 1 ] && [ -e "$merged" ] && [ -n "$(ls -A "$merged")" ]; then
  die "$merged exists: move it away or choose --merged DIR"
fi
mkdir -p "$log_dir"
read -r -a extra <<<"${SBATCH_ARGS:-}"
job=$(sbatch --parsable --array="$array" --output="$log_dir/%A_%a.out" ${extra[@]+"${extra[@]}"} \
  "$here/slurm-array.sh" --shards "$shards" --shard-dir "$shard_dir" -- "${run_args[@]}")
job=${job%%;*}
echo "submitted array job $job: $runs runs in $shards shards (tasks $array) -> $shard_dir/<shard>, logs in $log_dir/"
[ "$merge" = 1 ] || exit 0

dirs=()
for ((i = 0; i < shards; i++)); do dirs+=("$shard_dir/$i"); done
merge_command=$(printf '%q ' "$SIM" merge "${dirs[@]}" --out "$merged")
merge_command=${merge_command% }
merge_job=$(sbatch --parsable --job-name=sim-merge --dependency="$after:$job" \
  --output="$log_dir/%j-merge.out" ${extra[@]+"${extra[@]}"} --wrap="$merge_command")
merge_job=${merge_job%%;*}
echo "submitted merge job $merge_job ($after:$job) -> $merged/"
echo "  it runs: $merge_command"
