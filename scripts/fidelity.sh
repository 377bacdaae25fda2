#!/usr/bin/env bash
# Fidelity study: the simulator (`sim run`) against real processes, with a
# real Shadow as the reference (`sim export shadow` + `shadow` + `sim
# collect`) and on loopback (`sim launch`), on the same scenarios, seeds and
# overrides.
#
#   scripts/fidelity.sh [OUT] [CASE-FILTER]
#
#   SIM      the sim binary (default: target/release/sim; build it first with
#            `cargo build --release`)
#   SHADOW   the shadow binary (default: `shadow` on PATH, else
#            ../shared/tools/shadow/install.sh beside the repository)
#   OUT      (argument) results folder (default: out/fidelity): OUT/sim,
#            OUT/shadow (collected), OUT/launch, the exports in
#            OUT/export/<case>, logs in OUT/<case>.*.log, costs in OUT/costs.tsv
#   CASE-FILTER  (argument) run only the cases whose file name contains it
#   METRICS  space-separated metric names to compare (default: the list below)
#   TABLES_ONLY=1  make no runs; print the tables from the results in OUT
#
# Needs python3 (to read summary.json) and GNU time (/usr/bin/time).
#
# For every case it runs `sim run`, the Shadow export under Shadow (then
# `sim collect`) and `sim launch`, one at a time, measuring each one's wall
# time and peak memory (GNU time's maximum resident set size: for Shadow and
# launch the largest single process, not the sum over hosts), and prints
# one Markdown table per case (sim run, Shadow and launch values, and each
# real run's difference to sim run, relative for counts) and a cost table.
# Progress goes to stderr. Exits non-zero if a run fails.
#
# A case is "FILE|SETS|SCALE|SEED": SETS are `--set` arguments for all
# three, separated by ';' (may be empty); SCALE is `sim launch --time-scale`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sim=${SIM:-$root/target/release/sim}
out=${1:-$root/out/fidelity}
filter=${2:-}
metrics=${METRICS:-"registration.success_rate registration.ready_s registration.p95_s
registration.corrupt_detected registration.recovered consensus.blocks_finalized
consensus.first_block_s consensus.finality_p95_s consensus.view_changes
consensus.safety_violations network.messages_sent network.messages_delivered
network.messages_dropped peers.converged_s gossip.coverage gossip.time_to_all_s
consensus.tx_submitted consensus.tx_finalized consensus.tx_latency_p50_s
consensus.tx_rejected mempool.evicted real.path_dropped real.faults_skipped
real.late_inputs real.late_input_mean_s"}

cases=(
  # Consensus at time scale 1 (real time): a real process's CPU time counts
  # 1 / time-scale in scenario time, and consensus is CPU-bound per block.
  # The busiest (132 blocks; 5,000 transactions verified by 25 validators;
  # 13 hosts) at half speed, 2 (docs/fidelity.md, third round).
  "scenarios/consensus-basic.toml||1|1"
  "scenarios/consensus-byzantine.toml||1|1"
  "scenarios/consensus-duplicates.toml||1|1"
  "scenarios/consensus-leader-crash.toml||1|1"
  "scenarios/consensus-lossy-partition.toml||1|209"
  "scenarios/consensus-partition.toml||1|1"
  "scenarios/consensus-reorder.toml||2|1"
  "scenarios/consensus-load.toml||5|1"
  "scenarios/gossip-rumor.toml||0.5|1"
  "scenarios/heartbeat-partition.toml||0.1|7"
  "scenarios/heartbeat-regions.toml||0.1|1"
  "scenarios/network-bring-up.toml||2|1"
  "scenarios/registration-legacy.toml||0.1|1"
  "scenarios/registration-corruption.toml||0.1|1"
  "scenarios/registration-recovery-crash.toml||0.5|1"
  "scenarios/registration-watch-inplace.toml||0.5|1"
  "scenarios/registration-backoff.toml||0.05|1"
  "scenarios/registration-watch.toml||0.05|1"
  "scenarios/registration-baseline.toml||0.5|1"
  # Added since the second round: registration strategies at scale, and
  # dissemination by gossip.
  "scenarios/registration-parallel.toml||0.05|1"
  "scenarios/registration-shared-cache.toml||0.05|1"
  "scenarios/registration-auto.toml||0.05|1"
  "scenarios/registration-sharded.toml||0.05|1"
  "scenarios/registration-skip-unchanged.toml||0.05|1"
  # Many processes on two cores: since inputs are handled at their due
  # time (docs/fidelity.md, sixth round) 63 and 60 processes agree at half
  # speed; 120 with every transaction gossiped need time scale 5.
  "scenarios/registry-gossip.toml||2|5"
  "scenarios/load-gossip.toml||5|12"
  "scenarios/consensus-gossip.toml||2|3"
  # The slow-network case: finality at 200 ms per link.
  "scenarios/consensus-basic.toml|network.latency=200 ms|1|1"
)

if [[ ! -x $sim ]]; then
  echo "error: $sim is not an executable (cargo build --release, or set SIM)" >&2
  exit 2
fi
shadow=${SHADOW:-$(command -v shadow || true)}
if [[ -z $shadow && -f $root/../shared/tools/shadow/install.sh ]]; then
  shadow=$(bash "$root/../shared/tools/shadow/install.sh")
fi
if [[ -z $shadow && ${TABLES_ONLY:-0} != 1 ]]; then
  echo "error: no Shadow: set SHADOW, put shadow on PATH, or install it (see README)" >&2
  exit 2
fi
mkdir -p "$out"
sim=$(cd "$(dirname "$sim")" && pwd)/$(basename "$sim")
out=$(cd "$out" && pwd)
cd "$root"

# set_args 'a=1;b=2' -> prints --set\0a=1\0--set\0b=2\0 (for mapfile -d '')
set_args() {
  local list=$1 item
  local -a items=()
  [[ -z $list ]] && return 0
  IFS=';' read -r -a items <<< "$list"
  for item in "${items[@]}"; do
    printf -- '--set\0%s\0' "$item"
  done
}

# timed LABEL LOG CMD... : runs CMD with its output in LOG and appends
# "LABEL<TAB>wall seconds<TAB>max RSS KiB" to OUT/costs.tsv
timed() {
  local label=$1 log=$2
  shift 2
  /usr/bin/time -o "$out/.time" -f '%e\t%M' "$@" > "$log" 2>&1 || {
    echo "error: failed: $*; see $log" >&2
    exit 1
  }
  printf '%s\t%s\n' "$label" "$(cat "$out/.time")" >> "$out/costs.tsv"
}

for case in "${cases[@]}"; do
  IFS='|' read -r file sets scale seed <<< "$case"
  [[ -n $filter && $file != *$filter* ]] && continue
  mapfile -d '' -t args < <(set_args "$sets")
  key=$(basename "$file" .toml)${sets:+-$(echo "$sets" | tr -c 'a-zA-Z0-9=\n' '_')}
  if [[ ${TABLES_ONLY:-0} != 1 ]]; then
    echo "== $key: sim run" >&2
    timed "$key sim-run" "$out/$key.sim.log" \
      "$sim" run "$file" "${args[@]}" --seed "$seed" --no-plots --out "$out/sim/$key"
    echo "== $key: Shadow" >&2
    rm -rf "$out/export/$key"
    "$sim" export shadow "$file" "${args[@]}" --seed "$seed" --sim-path "$sim" \
      --out "$out/export/$key" > "$out/$key.export.log" 2>&1
    (cd "$out/export/$key" && timed "$key shadow" "$out/$key.shadow.log" "$shadow" shadow.yaml)
    "$sim" collect "$out/export/$key/shadow.data/hosts" --no-plots \
      --out "$out/shadow/$key" > "$out/$key.collect.log" 2>&1
    echo "== $key: sim launch at time scale $scale" >&2
    timed "$key launch" "$out/$key.launch.log" \
      "$sim" launch "$file" "${args[@]}" --seed "$seed" --time-scale "$scale" --no-plots \
      --out "$out/launch/$key"
  fi
  python3 - "$out" "$key" "$file" "$sets" "$scale" "$seed" "$metrics" << 'PY'
import glob, json, os, sys

out, key, file, sets, scale, seed, metrics = sys.argv[1:]

def summary(kind):
    (path,) = glob.glob(os.path.join(out, kind, key, "*", f"seed-{seed}", "summary.json"))
    with open(path) as f:
        return json.load(f)

def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, (bool, str, int)):
        return str(v)
    return f"{v:.3f}"

def diff(a, b, metric):
    """b - a, with the relative difference for counts and times."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "-"
    d = b - a
    if d == 0:
        return "0"
    text = f"{d:+d}" if isinstance(d, int) else f"{d:+.3f}"
    if a != 0:
        pct = 100 * d / a
        text += f" ({pct:+.1f} %)" if abs(pct) < 10 else f" ({pct:+.0f} %)"
    return text

s, sh, la = summary("sim"), summary("shadow"), summary("launch")
sets_text = " ".join(f"--set '{x}'" for x in sets.split(";") if x) or "no --set"
print(f"### {key}: `{file}`, seed {seed}, {sets_text}; launch at time scale {scale}")
print()
print("| metric | sim run | Shadow | Shadow - sim | sim launch | launch - sim |")
print("|---|---|---|---|---|---|")
for m in metrics.split():
    if not any(m in x for x in (s, sh, la)):
        continue
    a = s.get(m)
    print(f"| {m} | {fmt(a)} | {fmt(sh.get(m))} | {diff(a, sh.get(m), m)} | {fmt(la.get(m))} | {diff(a, la.get(m), m)} |")
print()
PY
done

echo "### Cost (wall time, peak RSS of the largest process)"
echo
echo "| run | wall s | max RSS MiB |"
echo "|---|---|---|"
awk -F'\t' '{printf "| %s | %s | %.0f |\n", $1, $2, $3 / 1024}' "$out/costs.tsv"
