#!/usr/bin/env bash
# A sweep cut into shards that GNU parallel runs (on this machine, or on
# others with PARALLEL_ARGS="--sshlogin ... --workdir $PWD" over a shared
# filesystem), then merged.
#
#   cargo build --release                      # once
#   scripts/gnu-parallel.sh --shards 8 -- scenarios/registration-baseline.toml \
#       --seeds 1..20 --sweep registration.strategy=poll,backoff,watch
#
# Options (before `--`; the rest is the sweep, as `sim run` takes it):
#   --shards N        shards to cut the sweep into (required; or SHARDS=N)
#   --shard-dir DIR   shard I goes to DIR/I (default parallel-shards)
#   --merged DIR      the merged result (default parallel-sweep; must not
#                     exist yet)
# Environment: SIM (the sim binary; default target/release/sim of this
# checkout, else `sim` on PATH; nothing is built here), PARALLEL_ARGS (more
# options for parallel, space-separated), and instead of the sweep arguments
# SCENARIO, SEEDS, SWEEPS, SETS, SIM_ARGS (see sweep-args.sh).
#
# Paths are relative to the current folder. A shard that fails does not stop
# the others; the merge then names what is missing. Running the script again
# with the same arguments resumes: runs already complete are kept
# (--skip-existing). The exit code is sim merge's (0, 4/5 if a checker
# tripped in some run, 7 if runs are missing).
set -euo pipefail

die() {
  echo "gnu-parallel.sh: $*" >&2
  exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
shards=${SHARDS:-}
shard_dir=${SHARD_DIR:-parallel-shards}
merged=${MERGED:-parallel-sweep}
while [ $# -gt 0 ]; do
  case $1 in
    --shards) shards=${2:-}; shift 2 || die "--shards needs a number" ;;
    --shard-dir) shard_dir=${2:-}; shift 2 || die "--shard-dir needs a folder" ;;
    --merged) merged=${2:-}; shift 2 || die "--merged needs a folder" ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "set the number of shards: --shards N or SHARDS=N"
command -v parallel >/dev/null || die "GNU parallel is not installed (apt-get install parallel)"
# shellcheck source=scripts/sweep-args.sh
. "$here/sweep-args.sh"
find_sim "$here" || exit 2
sweep_args "$@" || exit 2
check_sweep_args || exit 2

runs=$("$SIM" run "${run_args[@]}" --count) || die "the sweep arguments are not valid (see above)"
if [ -e "$merged" ] && [ -n "$(ls -A "$merged")" ]; then
  die "$merged exists: move it away or choose --merged DIR"
fi
echo "gnu-parallel.sh: $runs runs in $shards shards -> $shard_dir/<shard>, merged into $merged/" >&2
mkdir -p "$shard_dir"
read -r -a extra <<<"${PARALLEL_ARGS:-}"
failed=0
seq 0 $((shards - 1)) | parallel -q ${extra[@]+"${extra[@]}"} "$SIM" run "${run_args[@]}" \
  --shard "{}/$shards" --skip-existing --jobs 1 --quiet --out "$shard_dir/{}" || failed=$?
if [ "$failed" -ne 0 ]; then
  echo "gnu-parallel.sh: $failed shards ended with an error or a checker violation (above); merging what is there" >&2
fi

dirs=()
for ((i = 0; i < shards; i++)); do dirs+=("$shard_dir/$i"); done
code=0
"$SIM" merge "${dirs[@]}" --out "$merged" || code=$?
if [ "$code" -eq 7 ]; then
  echo "gnu-parallel.sh: fix the cause, then run this script again with the same arguments: complete runs are kept" >&2
fi
exit "$code"
