//! Sweep aggregates: `runs.csv` (one row per run: parameters, seed, every
//! metric) and `stats.csv` (per parameter combination and metric: n, mean,
//! p50, p95, min, max and a 95 % confidence interval of the mean).
//!
//! Both are computed from nothing but the `summary.json` files found in a
//! scenario's result folder, in path order: a sweep, its shards merged by
//! `sim merge`, or a re-run give the same bytes for the same set of runs.
//! They are written when the folder holds at least two runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ReportError;
use crate::percentile;

/// Two-sided 95 % Student-t quantiles for 1..=30 degrees of freedom (1.96
/// beyond).
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// Metrics that identify a run rather than measure it (no statistics).
const NOT_MEASURES: &[&str] = &["run.seed", "run.trace_hash", "run.scenario"];

/// One run found in a result folder.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// The grid-point folder (`""` without sweeps).
    pub group: String,
    /// The run's result folder.
    pub dir: PathBuf,
    /// The run's metrics and parameters, by name.
    pub values: BTreeMap<String, Value>,
}

/// Every run under `scenario_dir` (`seed-*/summary.json` and
/// `<group>/seed-*/summary.json`), in path order.
pub fn find_runs(scenario_dir: &Path) -> Result<Vec<RunRow>, ReportError> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for entry in read_dir_sorted(scenario_dir)? {
        if is_run(&entry) {
            found.push((String::new(), entry.join("summary.json")));
        } else if entry.is_dir() && !hidden(&entry) {
            for inner in read_dir_sorted(&entry)? {
                if is_run(&inner) {
                    let group = entry
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    found.push((group, inner.join("summary.json")));
                }
            }
        }
    }
    let mut runs = Vec::new();
    for (group, path) in found {
        let text = fs::read_to_string(&path).map_err(|source| ReportError::Io {
            path: path.clone(),
            source,
        })?;
        let values = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map.into_iter().collect(),
            _ => {
                let source = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a summary.json object",
                );
                return Err(ReportError::Io { path, source });
            }
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        runs.push(RunRow { group, dir, values });
    }
    runs.sort_by(|a, b| (&a.group, seed(a)).cmp(&(&b.group, seed(b))));
    Ok(runs)
}

/// Writes `runs.csv` and `stats.csv` into `scenario_dir` when it holds at
/// least two runs; returns how many runs it found.
pub fn write_aggregates(scenario_dir: &Path) -> Result<usize, ReportError> {
    let runs = find_runs(scenario_dir)?;
    if runs.len() < 2 {
        return Ok(runs.len());
    }
    write_runs(&scenario_dir.join("runs.csv"), &runs)?;
    write_stats(&scenario_dir.join("stats.csv"), &runs)?;
    write_registration_cdf(scenario_dir, &runs)?;
    Ok(runs.len())
}

/// `registration_cdf.svg` of a sweep: per-miner registration times of all
/// seeds of each grid point, one line per point (e.g. per strategy); the y
/// axis is the fraction of all miners, registered or not.
fn write_registration_cdf(scenario_dir: &Path, runs: &[RunRow]) -> Result<(), ReportError> {
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for run in runs {
        if let Some(times) = registration_times(&run.dir) {
            let name = if run.group.is_empty() {
                "all runs".to_string()
            } else {
                short_group(&run.group)
            };
            series.entry(name).or_default().extend(times);
        }
    }
    if series.is_empty() {
        return Ok(());
    }
    let series: Vec<(String, Vec<f64>)> = series.into_iter().collect();
    if let Some(svg) = crate::plots::registration_cdf(&series) {
        let path = scenario_dir.join("registration_cdf.svg");
        fs::write(&path, svg).map_err(|source| ReportError::Io { path, source })?;
    }
    Ok(())
}

/// A grid point for a legend, short enough to read: each value (a
/// boolean as `key` / `no key`), e.g. `poll, no recover`.
fn short_group(group: &str) -> String {
    group
        .split('+')
        .map(|part| match part.split_once('=') {
            Some((key, value)) => {
                let key = key.rsplit('.').next().unwrap_or(key);
                match value {
                    "true" => key.to_string(),
                    "false" => format!("no {key}"),
                    other => other.to_string(),
                }
            }
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per-miner registration times of one run (from its `registration.csv`):
/// the last registrar's acceptance, for miners every registrar accepted.
fn registration_times(run_dir: &Path) -> Option<Vec<f64>> {
    let text = fs::read_to_string(run_dir.join("registration.csv")).ok()?;
    let mut per_miner: BTreeMap<&str, Option<f64>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(miner), Some(took)) = (fields.first(), fields.get(5)) else {
            continue;
        };
        let entry = per_miner.entry(miner).or_insert(Some(0.0));
        *entry = match (*entry, took.parse::<f64>().ok()) {
            (Some(best), Some(t)) => Some(best.max(t)),
            _ => None,
        };
    }
    // A miner some registrar never accepted never registered: +inf.
    Some(
        per_miner
            .into_values()
            .map(|t| t.unwrap_or(f64::INFINITY))
            .collect(),
    )
}

fn write_runs(path: &Path, runs: &[RunRow]) -> Result<(), ReportError> {
    let params: BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.values.keys())
        .filter(|k| k.starts_with("param."))
        .collect();
    let metrics: BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.values.keys())
        .filter(|k| !k.starts_with("param.") && k.as_str() != "run.seed")
        .collect();
    let mut header = vec!["group".to_string(), "seed".to_string()];
    header.extend(params.iter().map(|p| p.to_string()));
    header.extend(metrics.iter().map(|m| m.to_string()));
    let records = runs.iter().map(|r| {
        let mut row = vec![r.group.clone(), seed(r).to_string()];
        for key in params.iter().chain(metrics.iter()) {
            row.push(r.values.get(*key).map(text).unwrap_or_default());
        }
        row
    });
    crate::tables::rows(
        path,
        &header.iter().map(String::as_str).collect::<Vec<_>>(),
        records,
    )
}

fn write_stats(path: &Path, runs: &[RunRow]) -> Result<(), ReportError> {
    let header = [
        "group",
        "metric",
        "n",
        "mean",
        "p50",
        "p95",
        "min",
        "max",
        "ci95_low",
        "ci95_high",
    ];
    let mut by_group: BTreeMap<&str, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    for run in runs {
        for (name, value) in &run.values {
            if NOT_MEASURES.contains(&name.as_str()) || name.starts_with("param.") {
                continue;
            }
            if let Some(x) = value.as_f64() {
                by_group
                    .entry(run.group.as_str())
                    .or_default()
                    .entry(name.as_str())
                    .or_default()
                    .push(x);
            }
        }
    }
    let mut records = Vec::new();
    for (group, metrics) in by_group {
        for (metric, mut values) in metrics {
            let s = Stats::of(&mut values);
            records.push(vec![
                group.to_string(),
                metric.to_string(),
                s.n.to_string(),
                num(s.mean),
                num(s.p50),
                num(s.p95),
                num(s.min),
                num(s.max),
                num(s.ci_low),
                num(s.ci_high),
            ]);
        }
    }
    crate::tables::rows(path, &header, records)
}

/// Summary statistics of one metric over runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Runs.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Median (nearest rank).
    pub p50: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Lower end of the 95 % confidence interval of the mean (Student t).
    pub ci_low: f64,
    /// Upper end.
    pub ci_high: f64,
}

impl Stats {
    /// The statistics of `values` (sorted in place).
    pub fn of(values: &mut [f64]) -> Stats {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let half = if n < 2 {
            0.0
        } else {
            let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
            let t = T95.get(n - 2).copied().unwrap_or(1.96);
            t * var.sqrt() / (n as f64).sqrt()
        };
        Stats {
            n,
            mean,
            p50: percentile(values, 0.5).unwrap_or(f64::NAN),
            p95: percentile(values, 0.95).unwrap_or(f64::NAN),
            min: values.first().copied().unwrap_or(f64::NAN),
            max: values.last().copied().unwrap_or(f64::NAN),
            ci_low: mean - half,
            ci_high: mean + half,
        }
    }
}

fn seed(run: &RunRow) -> u64 {
    run.values
        .get("run.seed")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number as CSV text: shortest round-trip form, deterministic.
fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn is_run(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        && path.join("summary.json").is_file()
}

fn hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let entries = fs::read_dir(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_a_hand_computation() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample sd sqrt(32/7) = 2.138...,
        // t(7) = 2.365, half-width 2.365 * 2.138 / sqrt(8) = 1.7877...
        let mut v = vec![9.0, 2.0, 4.0, 5.0, 4.0, 7.0, 4.0, 5.0];
        let s = Stats::of(&mut v);
        assert_eq!(
            (s.n, s.mean, s.p50, s.p95, s.min, s.max),
            (8, 5.0, 4.0, 9.0, 2.0, 9.0)
        );
        let half = 2.365 * (32.0f64 / 7.0).sqrt() / 8.0f64.sqrt();
        assert!(
            (s.ci_low - (5.0 - half)).abs() < 1e-12 && (s.ci_high - (5.0 + half)).abs() < 1e-12
        );
        let one = Stats::of(&mut [3.0]);
        assert_eq!((one.ci_low, one.ci_high), (3.0, 3.0));
    }
}
