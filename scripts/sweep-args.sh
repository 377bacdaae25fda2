# shellcheck shell=bash
# Sourced by slurm-submit.sh and gnu-parallel.sh (slurm-array.sh keeps a
# copy: sbatch runs a copy of the script away from this folder).
#
# sweep_args ARGS...: sets the array `run_args` to the sweep as `sim run`
# takes it: ARGS when given, else built from the environment: SCENARIO
# (files, space-separated), SEEDS, SWEEPS and SETS (each `;`-separated),
# SIM_ARGS (more flags, space-separated).
sweep_args() {
  run_args=("$@")
  [ ${#run_args[@]} -eq 0 ] || return 0
  if [ -z "${SCENARIO:-}" ]; then
    echo "give the sweep: sim run arguments after --, or SCENARIO (with SEEDS, SWEEPS, SETS, SIM_ARGS)" >&2
    return 2
  fi
  local items item
  read -r -a run_args <<<"$SCENARIO"
  [ -z "${SEEDS:-}" ] || run_args+=(--seeds "$SEEDS")
  IFS=';' read -r -a items <<<"${SWEEPS:-}"
  for item in ${items[@]+"${items[@]}"}; do [ -z "$item" ] || run_args+=(--sweep "$item"); done
  IFS=';' read -r -a items <<<"${SETS:-}"
  for item in ${items[@]+"${items[@]}"}; do [ -z "$item" ] || run_args+=(--set "$item"); done
  read -r -a items <<<"${SIM_ARGS:-}"
  run_args+=(${items[@]+"${items[@]}"})
}

# check_sweep_args: the sweep must not choose what the script chooses.
check_sweep_args() {
  local arg
  for arg in "${run_args[@]}"; do
    case $arg in
      --out | --out=* | --shard | --shard=* | --run | --run=* | --list | --count)
        echo "leave $arg out of the sweep's arguments: the script sets where and which runs (see --shard-dir)" >&2
        return 2
        ;;
    esac
  done
}

# find_sim SCRIPT_DIR: sets and exports SIM as an absolute path: SIM as
# given, else target/release/sim of this checkout, else `sim` on PATH.
find_sim() {
  if [ -z "${SIM:-}" ]; then
    if [ -x "$1/../target/release/sim" ]; then
      SIM=$(cd "$1/.." && pwd)/target/release/sim
    elif ! SIM=$(command -v sim); then
      echo "no sim binary: run cargo build --release in the checkout, or set SIM" >&2
      return 2
    fi
  fi
  [[ $SIM == /* ]] || SIM=$PWD/$SIM
  if [ ! -x "$SIM" ]; then
    echo "SIM=$SIM is not an executable" >&2
    return 2
  fi
  export SIM
}
