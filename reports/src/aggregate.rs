//! Sweep aggregates: `runs.csv` (one row per run: grid point, seed, the
//! swept parameters as typed columns, every metric), `stats.csv` (per grid
//! point — its folder name and its typed parameters — and metric: n, mean,
//! p50, p95, min, max, a 95 % confidence interval of the mean, and how many
//! runs of that combination are present out of how many the sweep asked
//! for), every per-run table combined ([`crate::tidy`]), the sweep's
//! figures ([`crate::plots::sweep`]) and `index.html`.
//!
//! All are computed from nothing but the files of the runs the caller
//! names (the runs a sweep record lists as present, never whatever else
//! lies in the folder), in (grid point, seed) order: a sweep, its shards
//! merged by `sim merge`, or a re-run give the same bytes for the same set
//! of runs. Files are replaced atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::plots::svg::Shade;
use crate::result_dir::{replace_file, write_atomic};
use crate::{ReportError, tidy};
use crate::{number, percentile, statistic};

/// Two-sided 95 % Student-t quantiles for 1..=30 degrees of freedom (1.96
/// beyond).
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// Metrics that identify a run rather than measure it (no statistics).
const NOT_MEASURES: &[&str] = &["run.seed", "run.trace_hash", "run.scenario"];

/// One run to aggregate: its grid point and result folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    /// The grid-point folder (`""` without sweeps).
    pub group: String,
    /// The run's result folder (holding `summary.json`).
    pub dir: PathBuf,
}

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

/// Reads the summaries of `runs`, ordered by (grid point, seed).
pub fn read_runs(runs: &[RunRef]) -> Result<Vec<RunRow>, ReportError> {
    let mut rows = Vec::new();
    for run in runs {
        let path = run.dir.join("summary.json");
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
        rows.push(RunRow {
            group: run.group.clone(),
            dir: run.dir.clone(),
            values,
        });
    }
    rows.sort_by(|a, b| (&a.group, seed(a)).cmp(&(&b.group, seed(b))));
    Ok(rows)
}

/// What the aggregates say about the sweep they summarize.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepInfo {
    /// The scenario's name.
    pub scenario: String,
    /// The seeds, as plot captions name them (`seeds 1..20`).
    pub seeds: String,
    /// The swept keys, in the grid's order (their columns come first).
    pub params: Vec<String>,
    /// The `--set` values every run shares, as (key, value).
    pub set: Vec<(String, String)>,
    /// Whether plots are written.
    pub plots: bool,
    /// Whether CDF plots use a logarithmic time axis.
    pub log_cdf: bool,
    /// Each grid point's faults, as shaded windows on time axes.
    pub shades: BTreeMap<String, Vec<Shade>>,
}

impl SweepInfo {
    /// The line under every figure's title: scenario, seeds, `--set` values.
    pub fn caption(&self) -> String {
        crate::plots::caption(&self.scenario, &self.seeds, &self.set)
    }
}

/// Writes the aggregates of exactly `runs` into `scenario_dir`:
/// `runs.csv`, `stats.csv`, every per-run table combined (two runs or
/// more; see [`crate::tidy`]), the sweep's figures (with plots; see
/// [`crate::plots::sweep`]) and `index.html`. `expected` is how many runs
/// each grid point should have (the `runs_expected` column). Tables and
/// plots of an earlier sweep that these runs do not make are removed.
/// Returns how many runs were aggregated.
pub fn write_aggregates(
    scenario_dir: &Path,
    runs: &[RunRef],
    expected: &BTreeMap<String, usize>,
    info: &SweepInfo,
) -> Result<usize, ReportError> {
    let rows = read_runs(runs)?;
    let params = tidy::param_columns(&rows, &info.params);
    replace_file(&scenario_dir.join("runs.csv"), |temp| {
        write_runs(temp, &rows, &params)
    })?;
    replace_file(&scenario_dir.join("stats.csv"), |temp| {
        write_stats(temp, &rows, &params, expected)
    })?;
    let mut written = vec!["runs.csv".to_string(), "stats.csv".to_string()];
    written.extend(tidy::write_combined(scenario_dir, &rows, &params)?);
    if info.plots {
        written.extend(write_plots(scenario_dir, &rows, &params, info)?);
    }
    remove_stale(scenario_dir, &written)?;
    write_index(scenario_dir, &rows, info)?;
    Ok(rows.len())
}

/// The sweep's figures; returns the names written.
fn write_plots(
    scenario_dir: &Path,
    rows: &[RunRow],
    params: &[tidy::ParamColumn],
    info: &SweepInfo,
) -> Result<Vec<String>, ReportError> {
    let mut plots = crate::plots::sweep::all(rows, params, info);
    if let Some(cdf) = registration_cdf(rows, info) {
        plots.push(("registration_cdf.svg".to_string(), cdf));
    }
    let mut names = Vec::new();
    for (name, svg) in plots {
        write_atomic(&scenario_dir.join(&name), svg.as_bytes())?;
        names.push(name);
    }
    Ok(names)
}

/// Removes the tables and plots at the top of `scenario_dir` that this
/// sweep did not write (an earlier sweep's).
fn remove_stale(scenario_dir: &Path, written: &[String]) -> Result<(), ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    for entry in fs::read_dir(scenario_dir).map_err(io(scenario_dir))? {
        let path = entry.map_err(io(scenario_dir))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(name) = name else { continue };
        let ours = path.is_file() && (name.ends_with(".csv") || name.ends_with(".svg"));
        if ours && !written.contains(&name) {
            fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// The sweep folder's `index.html`: its plots, the mean (95 % interval)
/// of every headline metric per grid point, and a link to every run.
fn write_index(scenario_dir: &Path, rows: &[RunRow], info: &SweepInfo) -> Result<(), ReportError> {
    let mut groups: Vec<&str> = Vec::new();
    for row in rows {
        if !groups.contains(&row.group.as_str()) {
            groups.push(&row.group);
        }
    }
    let mut header = vec!["metric".to_string()];
    header.extend(groups.iter().map(|g| crate::plots::sweep::label(g)));
    let mut means = Vec::new();
    for metric in crate::plots::sweep::HEADLINE {
        let mut row = vec![metric.to_string()];
        for group in &groups {
            let mut values: Vec<f64> = rows
                .iter()
                .filter(|r| r.group == *group)
                .filter_map(|r| r.values.get(*metric).and_then(measure))
                .collect();
            let s = Stats::of(&mut values);
            row.push(match s.n {
                0 => String::new(),
                n => format!(
                    "{} [{}, {}] (n={n})",
                    number(statistic(s.mean)),
                    number(statistic(s.ci_low)),
                    number(statistic(s.ci_high))
                ),
            });
        }
        if row[1..].iter().any(|c| !c.is_empty()) {
            means.push(row);
        }
    }
    let runs = rows
        .iter()
        .map(|r| {
            let rel = r.dir.strip_prefix(scenario_dir).unwrap_or(&r.dir);
            vec![
                crate::plots::sweep::label(&r.group),
                seed(r).to_string(),
                format!("{}/index.html", rel.display()),
            ]
        })
        .collect();
    let tables = [
        crate::index::Table {
            heading: "Mean [95 % confidence interval] over seeds".into(),
            header,
            rows: means,
        },
        crate::index::Table {
            heading: "Runs".into(),
            header: vec!["grid point".into(), "seed".into(), "run".into()],
            rows: runs,
        },
    ];
    let title = format!("{} \u{2014} sweep", info.scenario);
    let caption = info.caption();
    crate::index::write_sweep_index(scenario_dir, &title, &caption, &tables)
}

/// `registration_cdf.svg` of a sweep: per-miner registration times of all
/// seeds of each grid point, one line per point (e.g. per strategy); the y
/// axis is the fraction of all miners, registered or not.
fn registration_cdf(runs: &[RunRow], info: &SweepInfo) -> Option<String> {
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for run in runs {
        if let Some(times) = registration_times(&run.dir) {
            let name = crate::plots::sweep::label(&run.group);
            series.entry(name).or_default().extend(times);
        }
    }
    let series: Vec<(String, Vec<f64>)> = series.into_iter().collect();
    let caption = info.caption();
    crate::plots::registration_cdf(&series, &caption, info.log_cdf)
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

/// `runs.csv`: grid point, seed, the typed parameter columns, every metric.
fn write_runs(
    path: &Path,
    runs: &[RunRow],
    params: &[tidy::ParamColumn],
) -> Result<(), ReportError> {
    let metrics: BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.values.keys())
        .filter(|k| !k.starts_with("param.") && k.as_str() != "run.seed")
        .collect();
    let mut header = vec!["group".to_string(), "seed".to_string()];
    header.extend(params.iter().map(|p| p.name.clone()));
    header.extend(metrics.iter().map(|m| m.to_string()));
    let records = runs.iter().map(|r| {
        let mut row = vec![r.group.clone()];
        row.extend(tidy::key_cells(r, params));
        for key in &metrics {
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

fn write_stats(
    path: &Path,
    runs: &[RunRow],
    params: &[tidy::ParamColumn],
    expected: &BTreeMap<String, usize>,
) -> Result<(), ReportError> {
    let mut header = vec!["group".to_string()];
    header.extend(params.iter().map(|p| p.name.clone()));
    header.extend(
        [
            "metric",
            "n",
            "mean",
            "p50",
            "p95",
            "min",
            "max",
            "ci95_low",
            "ci95_high",
            "runs",
            "runs_expected",
        ]
        .map(String::from),
    );
    // Each grid point's parameter cells (its first run's).
    let mut cells: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for run in runs {
        cells
            .entry(run.group.as_str())
            .or_insert_with(|| tidy::key_cells(run, params)[1..].to_vec());
    }
    let mut present: BTreeMap<&str, usize> = BTreeMap::new();
    for run in runs {
        *present.entry(run.group.as_str()).or_default() += 1;
    }
    // Every measure any run of the group has, numeric or not: a metric that
    // is null in every run (never happened) still gets its row, with n = 0.
    let mut by_group: BTreeMap<&str, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    for run in runs {
        for (name, value) in &run.values {
            if NOT_MEASURES.contains(&name.as_str()) || name.starts_with("param.") {
                continue;
            }
            let values = by_group
                .entry(run.group.as_str())
                .or_default()
                .entry(name.as_str())
                .or_default();
            values.extend(measure(value));
        }
    }
    let mut records = Vec::new();
    for (group, metrics) in by_group {
        for (metric, mut values) in metrics {
            if values.is_empty() && !runs.iter().any(|r| is_null(r, group, metric)) {
                continue; // text, not a measure
            }
            let s = Stats::of(&mut values);
            let stats = [s.mean, s.p50, s.p95, s.min, s.max, s.ci_low, s.ci_high];
            let mut row = vec![group.to_string()];
            row.extend(cells.get(group).cloned().unwrap_or_default());
            row.push(metric.to_string());
            row.push(s.n.to_string());
            row.extend(stats.iter().map(|x| number(statistic(*x))));
            row.push(present.get(group).copied().unwrap_or(0).to_string());
            row.push(expected.get(group).copied().unwrap_or(0).to_string());
            records.push(row);
        }
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
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
        // No value (the metric was null in every run): every statistic is
        // empty, never a made-up 0.
        let mean = if n == 0 {
            f64::NAN
        } else {
            values.iter().sum::<f64>() / n as f64
        };
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

/// A summary value as CSV text: strings as they are, numbers in their
/// shortest round-trip form, booleans `true`/`false`, null as an empty cell.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) if n.is_f64() => n.as_f64().map(number).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// A summary value as a measure: numbers, and booleans as 1 / 0 (their mean
/// is the share of runs in which the event happened).
fn measure(value: &Value) -> Option<f64> {
    match value {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        other => other.as_f64(),
    }
}

/// Whether run `run` of `group` has `metric` as null (never happened).
fn is_null(run: &RunRow, group: &str, metric: &str) -> bool {
    run.group == group && run.values.get(metric).is_some_and(Value::is_null)
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
        let none = Stats::of(&mut []);
        assert_eq!(none.n, 0);
        assert!(none.mean.is_nan() && none.ci_low.is_nan() && none.max.is_nan());
    }
}
