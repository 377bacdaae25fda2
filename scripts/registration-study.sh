#!/usr/bin/env bash
# The registration study: waiting strategy x recovery, over 20 seeds each.
#
#   scripts/registration-study.sh [SEEDS] [OUTPUT.md]
#
# Runs scenarios/registration-baseline.toml (100 miners over 30 s, 4
# registrars, 5 % of files damaged on write) with every combination of
#   registration.strategy = poll (10 s) | backoff (1 s x1.5 to 10 s, 500 ms jitter) | watch (30 s safety poll)
#   registration.recover  = false | true
# and, with recovery, the scale strategies of issue 12 on the same scenario:
#   parallel8 = backoff + registration.parallel_reads=8
#   shared    = backoff + registration.shared_cache=true
#   auto      = registration.strategy=auto
#   sharded   = backoff + registration.shard=true
#   hierarchical = scenarios/registration-hierarchical.toml (the baseline's
#               miners, registrars, faults and 20 ms latency over four
#               regions, backoff, one registrar per region feeding
#               registration.top_registrar)
# and, with and without recovery:
#   unchanged = backoff + registration.skip_unchanged=true
# for seeds 1..SEEDS (default 20), and writes a Markdown table (default
# docs/registration-study.md) of, per combination:
#   ready time p50 / p95 over seeds, the median of each run's registration
#   p95, success rate (mean, min), registrar file reads + listings per miner,
#   damaged reads per run, damaged files wrongly accepted (total).
# It then checks the study's claims (exit 1 if one fails): the baseline
# (poll, no recovery) waits >= 200 s on every seed with success < 1; backoff
# and watch with recovery are ready in < 60 s with success >= 0.999 on every
# seed; nothing damaged is ever accepted.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=${1:-20}
output=${2:-docs/registration-study.md}
scenario=scenarios/registration-baseline.toml

cargo build --release --quiet
sim=target/release/sim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

metric() { # metric NAME FILE -> value (empty if absent)
  grep -o "\"$1\": [-0-9.e+]*" "$2" | head -1 | awk '{print $2}'
}

results="$work/results.tsv"
for strategy in poll backoff watch; do
  for recover in false true; do
    for seed in $(seq 1 "$seeds"); do
      out="$work/$strategy-$recover"
      "$sim" run "$scenario" --quiet --seed "$seed" --out "$out" \
        --set registration.strategy="$strategy" --set registration.recover="$recover"
      summary="$out/registration-baseline/seed-$seed/summary.json"
      printf '%s\t%s\t%s' "$strategy" "$recover" "$seed" >> "$results"
      for m in ready_s p95_s success_rate file_reads dir_lists expected corrupt_detected corrupt_accepted file_stats; do
        printf '\t%s' "$(metric "registration.$m" "$summary")" >> "$results"
      done
      printf '\n' >> "$results"
    done
  done
done

# The scale strategies (issue 12, item 4), with recovery, same seeds. The
# first column names the row; its settings are the `--set`s after it.
for row in "parallel8:registration.strategy=backoff registration.parallel_reads=8" \
           "shared:registration.strategy=backoff registration.shared_cache=true" \
           "auto:registration.strategy=auto" \
           "sharded:registration.strategy=backoff registration.shard=true"; do
  name=${row%%:*}
  sets=()
  for s in ${row#*:}; do sets+=(--set "$s"); done
  for seed in $(seq 1 "$seeds"); do
    out="$work/$name"
    "$sim" run "$scenario" --quiet --seed "$seed" --out "$out" \
      "${sets[@]}" --set registration.recover=true
    summary="$out/registration-baseline/seed-$seed/summary.json"
    printf '%s\t%s\t%s' "$name" true "$seed" >> "$results"
    for m in ready_s p95_s success_rate file_reads dir_lists expected corrupt_detected corrupt_accepted file_stats; do
      printf '\t%s' "$(metric "registration.$m" "$summary")" >> "$results"
    done
    printf '\n' >> "$results"
  done
done

# Hierarchical registration: its own scenario (a `regions` topology), with
# the baseline's hosts, faults and latency.
for seed in $(seq 1 "$seeds"); do
  out="$work/hierarchical"
  "$sim" run scenarios/registration-hierarchical.toml --quiet --seed "$seed" --out "$out"
  summary="$out/registration-hierarchical/seed-$seed/summary.json"
  printf '%s\t%s\t%s' hierarchical true "$seed" >> "$results"
  for m in ready_s p95_s success_rate file_reads dir_lists expected corrupt_detected corrupt_accepted file_stats; do
    printf '\t%s' "$(metric "registration.$m" "$summary")" >> "$results"
  done
  printf '\n' >> "$results"
done

# The registrar-side cache of unchanged files, with and without recovery.
for recover in false true; do
  for seed in $(seq 1 "$seeds"); do
    out="$work/unchanged-$recover"
    "$sim" run "$scenario" --quiet --seed "$seed" --out "$out" \
      --set registration.strategy=backoff --set registration.skip_unchanged=true \
      --set registration.recover="$recover"
    summary="$out/registration-baseline/seed-$seed/summary.json"
    printf '%s\t%s\t%s' unchanged "$recover" "$seed" >> "$results"
    for m in ready_s p95_s success_rate file_reads dir_lists expected corrupt_detected corrupt_accepted file_stats; do
      printf '\t%s' "$(metric "registration.$m" "$summary")" >> "$results"
    done
    printf '\n' >> "$results"
  done
done

mkdir -p "$(dirname "$output")"
{
  echo "# Registration study: strategy x recovery"
  echo
  echo "Generated by \`scripts/registration-study.sh $seeds\` from $((13 * seeds)) runs of"
  echo "\`$scenario\` (100 miners booting over 30 s, 4 registrars, 5 % of"
  echo "files damaged on write with a random mode, 300 s timeout), seeds 1..$seeds,"
  echo "with \`--set registration.strategy=...\` and \`--set registration.recover=...\`."
  echo "Times are simulated seconds. Ready = when the last registrar stopped"
  echo "waiting; registration p95 = each run's 95th percentile of per-miner"
  echo "registration time (boot to accepted by every registrar), median over seeds;"
  echo "I/O per miner = registrar file reads + directory listings + stats / miners expected."
  echo "The last rows are issue 12's scale strategies, with recovery:"
  echo "\`parallel8\` = backoff with \`parallel_reads = 8\`, \`shared\` = backoff with"
  echo "\`shared_cache = true\`, \`auto\` = \`strategy = \"auto\"\`, \`sharded\` = backoff with"
  echo "\`shard = true\` (each registrar reads its quarter of the files and passes"
  echo "on what it accepted), \`hierarchical\` = \`scenarios/registration-hierarchical.toml\`"
  echo "(the same hosts, faults and 20 ms latency over four regions, backoff, each"
  echo "region's registrar reads its region's files and passes on what it accepted to"
  echo "\`top_registrar\`; registered = accepted by the top); and, with and without"
  echo "recovery, \`unchanged\` = backoff with \`skip_unchanged = true\` (a file read and"
  echo "not accepted is stat'ed, 1 ms, and read again only when its size or"
  echo "modification time changed)."
  echo
  echo "| strategy | recover | ready p50 (s) | ready p95 (s) | registration p95 (s) | success mean | success min | I/O per miner | damaged reads per run | damaged accepted |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for strategy in poll backoff watch parallel8 shared auto sharded hierarchical unchanged; do
    for recover in false true; do
      grep -q "^$strategy	$recover	" "$results" || continue
      awk -F'\t' -v s="$strategy" -v r="$recover" '
        function pct(arr, n, p,   i, j, t, k) {
          for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
          k = int(p * n); if (k < p * n) k++; if (k < 1) k = 1; return arr[k]
        }
        $1 == s && $2 == r {
          n++; ready[n] = $4; p95[n] = ($5 == "" ? "nan" : $5)
          succ += $6; if (n == 1 || $6 < smin) smin = $6
          io += ($7 + $8 + $12) / $9; det += $10; acc += $11
        }
        END {
          printf "| %s | %s | %.1f | %.1f | %s | %.4f | %.4f | %.1f | %.1f | %d |\n",
            s, r, pct(ready, n, 0.5), pct(ready, n, 0.95),
            (p95[1] == "nan" ? "n/a" : sprintf("%.2f", pct(p95, n, 0.5))),
            succ / n, smin, io / n, det / n, acc
        }' "$results"
    done
  done
  echo
  echo "Raw per-run values: rerun the script; each row above aggregates $seeds runs."
} > "$output"
cat "$output"

status=0
check() { # check DESCRIPTION AWK-CONDITION-ON-ROWS
  if ! awk -F'\t' "$2" "$results"; then echo "claim FAILED: $1" >&2; status=1; else echo "claim holds: $1"; fi
}
check "baseline (poll, no recovery) waits >= 200 s with success < 1 on every seed" \
  '$1=="poll" && $2=="false" && !($4 >= 200 && $6 < 1) {bad=1} END {exit bad}'
check "backoff + recovery: ready < 60 s, success >= 0.999 on every seed" \
  '$1=="backoff" && $2=="true" && !($4 < 60 && $6 >= 0.999) {bad=1} END {exit bad}'
check "watch + recovery: ready < 60 s, success >= 0.999 on every seed" \
  '$1=="watch" && $2=="true" && !($4 < 60 && $6 >= 0.999) {bad=1} END {exit bad}'
check "parallel8, shared, auto, sharded, hierarchical (with recovery): ready < 60 s, success >= 0.999 on every seed" \
  '($1=="parallel8" || $1=="shared" || $1=="auto" || $1=="sharded" || $1=="hierarchical") && !($4 < 60 && $6 >= 0.999) {bad=1} END {exit bad}'
check "unchanged + recovery: ready < 60 s, success >= 0.999 on every seed" \
  '$1=="unchanged" && $2=="true" && !($4 < 60 && $6 >= 0.999) {bad=1} END {exit bad}'
check "no damaged or forged file is ever accepted" \
  '$11 != 0 {bad=1} END {exit bad}'
exit "$status"
