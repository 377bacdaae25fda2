#!/usr/bin/env bash
# Fidelity study: the simulator (`sim run`) against real processes
# (`sim launch`) on the same scenarios, seeds and overrides.
#
#   scripts/fidelity.sh [OUT]
#
#   SIM      the sim binary (default: target/release/sim; build it first with
#            `cargo build --release`)
#   OUT      (argument) results folder (default: out/fidelity); `sim run` results go to
#            OUT/sim, `sim launch` results to OUT/launch (a second launch of
#            the same seed to OUT/launch-2, ...) with its output in
#            OUT/<scenario>-seed-<n>-launch-<k>.log, and `sim run` without
#            the faults `sim launch` skips to OUT/sim-ref
#   METRICS  space-separated metric names to compare (default: the list below)
#   TABLES_ONLY=1  make no runs; print the tables from the results in OUT
#
# Needs python3 (to read summary.json; jq is not needed).
#
# For every case below it runs `sim run ... --no-plots` and then
# `sim launch ... --no-plots` (one launch at a time: the processes of one
# launch already share the machine's cores), and prints one Markdown table
# per case to stdout: per seed, the simulator's value, the real run's value
# (several launches separated by " / ") and the difference launch - sim (with
# the relative difference for counts). Progress goes to stderr. A metric is
# shown if either summary has it. Exits non-zero if a run fails.
#
# A case is "FILE|SETS|SCALE|SEEDS|LAUNCHES|REF_SETS":
#   SETS      `--set` arguments for both runs, separated by ';' (may be empty)
#   SCALE     `sim launch --time-scale` (real seconds per scenario second)
#   SEEDS     space-separated seeds
#   LAUNCHES  how many times each seed is launched (the real run is not
#             deterministic; the repetitions show by how much it varies)
#   REF_SETS  extra `--set` arguments (';'-separated) for an additional
#             `sim run` without the faults `sim launch` cannot apply
#             (partitions, link faults); empty for none
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sim=${SIM:-$root/target/release/sim}
out=${1:-$root/out/fidelity}
metrics=${METRICS:-"registration.success_rate registration.ready_s registration.p95_s
consensus.blocks_finalized consensus.first_block_s consensus.finality_p95_s
consensus.view_changes consensus.safety_violations consensus.signature_checks
consensus.signature_requests network.messages_sent network.messages_dropped
peers.converged_s run.events real.faults_skipped"}

cases=(
  # Registration from the registry, then consensus; one truncated file.
  "scenarios/network-bring-up.toml|duration=2 min|0.1|1 2 3|2|"
  # Four validators, no faults.
  "scenarios/consensus-basic.toml|duration=2 min|0.1|1|1|"
  # 100 miners + 4 registrars, 10 min scenario: 30 s real at 0.05.
  "scenarios/registration-backoff.toml||0.05|1|1|"
  # Partition (60-120 s) and link fault (220-260 s) are skipped by launch;
  # the reference run keeps only the crash/restart of peer-3.
  "scenarios/heartbeat-partition.toml||0.05|7|1|faults=[{at=\"150 s\", crash=\"peer-3\", restart=\"200 s\"}]"
)

if [[ ! -x $sim ]]; then
  echo "error: $sim is not an executable (cargo build --release, or set SIM)" >&2
  exit 2
fi
if ! command -v python3 > /dev/null; then
  echo "error: python3 is needed to read summary.json" >&2
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

# scenario_name FILE -> the results folder name: a top-level `name = "..."`
# (before the first [table]), else the file stem
scenario_name() {
  python3 -c '
import re, sys
name = sys.argv[1].rsplit("/", 1)[-1].removesuffix(".toml")
for line in open(sys.argv[1]):
    if line.lstrip().startswith("["):
        break
    m = re.match(r"\s*name\s*=\s*\"([^\"]*)\"", line)
    if m:
        name = m.group(1)
print(name)' "$1"
}

for case in "${cases[@]}"; do
  IFS='|' read -r file sets scale seeds launches ref_sets <<< "$case"
  mapfile -d '' -t args < <(set_args "$sets")
  mapfile -d '' -t ref_args < <(set_args "$ref_sets")
  name=$(scenario_name "$file")
  for seed in $seeds; do
    if [[ ${TABLES_ONLY:-0} == 1 ]]; then break; fi
    echo "== $name seed $seed: sim run" >&2
    "$sim" run "$file" "${args[@]}" --seed "$seed" --quiet --no-plots \
      --out "$out/sim"
    if [[ -n $ref_sets ]]; then
      echo "== $name seed $seed: sim run without the skipped faults" >&2
      "$sim" run "$file" "${args[@]}" "${ref_args[@]}" --seed "$seed" --quiet \
        --no-plots --out "$out/sim-ref"
    fi
    for ((n = 1; n <= launches; n++)); do
      dir=$out/launch
      if ((n > 1)); then dir=$out/launch-$n; fi
      echo "== $name seed $seed: sim launch at time scale $scale (launch $n of $launches)" >&2
      "$sim" launch "$file" "${args[@]}" --seed "$seed" --time-scale "$scale" \
        --no-plots --out "$dir" > "$out/$name-seed-$seed-launch-$n.log" 2>&1 || {
        echo "error: sim launch failed; see $out/$name-seed-$seed-launch-$n.log" >&2
        exit 1
      }
    done
  done

  python3 - "$out" "$name" "$file" "$sets" "$scale" "$seeds" "$launches" \
    "$ref_sets" "$metrics" << 'PY'
import json, os, sys

out, name, file, sets, scale, seeds, launches, ref_sets, metrics = sys.argv[1:]
seeds = seeds.split()
launches = int(launches)
metrics = metrics.split()

def summary(kind, seed):
    path = os.path.join(out, kind, name, f"seed-{seed}", "summary.json")
    with open(path) as f:
        return json.load(f)

def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.3f}"

def diff(a, b, metric):
    """b - a, with the relative difference for counts."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "-"
    d = b - a
    if d == 0:
        return "0"
    if isinstance(a, int) and isinstance(b, int) and not metric.endswith("_s"):
        text = f"{d:+d}"
        if a != 0:
            pct = 100 * d / a
            text += f" ({pct:+.1f} %)" if abs(pct) < 1 else f" ({pct:+.0f} %)"
        return text
    return f"{d:+.3f}"

sims = {s: summary("sim", s) for s in seeds}
refs = {s: summary("sim-ref", s) for s in seeds} if ref_sets else {}
reals = {
    s: [summary("launch" if n == 1 else f"launch-{n}", s) for n in range(1, launches + 1)]
    for s in seeds
}

sets_text = " ".join(f"--set '{x}'" for x in sets.split(";") if x) or "no --set"
print(f"### {name}: `{file}`, {sets_text}, time scale {scale}")
print()
if launches > 1:
    print(f"Each seed launched {launches} times; launch values and differences are listed in launch order.")
    print()
head = ["metric"]
for s in seeds:
    sfx = f" (seed {s})"
    head += [f"sim run{sfx}"]
    if ref_sets:
        head += [f"sim run, no skipped faults{sfx}"]
    head += [f"sim launch{sfx}", f"difference{sfx}"]
    if ref_sets:
        head += [f"difference to no skipped faults{sfx}"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for m in metrics:
    if not any(m in sims[s] or any(m in r for r in reals[s]) for s in seeds):
        continue
    row = [m]
    for s in seeds:
        a = sims[s].get(m)
        row.append(fmt(a))
        if ref_sets:
            row.append(fmt(refs[s].get(m)))
        row.append(" / ".join(fmt(r.get(m)) for r in reals[s]))
        row.append(" / ".join(diff(a, r.get(m), m) for r in reals[s]))
        if ref_sets:
            row.append(" / ".join(diff(refs[s].get(m), r.get(m), m) for r in reals[s]))
    print("| " + " | ".join(row) + " |")
print()
PY
done
