//! A sweep's figures, drawn from the runs the aggregates count: each
//! statistic is the mean over seeds with its 95 % confidence interval
//! (Student t, as in `stats.csv`), drawn as a band.
//!
//! - Over time, one line per grid point, the run's faults shaded (those
//!   of the grid point's first run): `registration_progress.svg` (share of
//!   expected miners registered, averaged over registrars),
//!   `consensus_finality.svg` (finalized height), `peers_flaps.svg`
//!   (peer-down events so far). Each run's step function is read at 201
//!   evenly spaced instants from 0 to the longest run's end.
//! - Against a swept parameter: `sweep_<metric>.svg` for each headline
//!   metric the runs have ([`HEADLINE`]): with a numeric parameter on the x
//!   axis (the first one with two values or more), one line per value of
//!   the other parameters; otherwise one bar per grid point with its
//!   interval as a whisker.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::svg::{self, Series};
use crate::aggregate::{RunRow, Stats, SweepInfo};
use crate::tidy::{ParamColumn, param};

/// The metrics drawn against the swept parameters, when the runs have them.
pub const HEADLINE: &[&str] = &[
    "registration.ready_s",
    "registration.p95_s",
    "registration.success_rate",
    "registration.recovery_s",
    "peers.converged_s",
    "peers.reconverged_s",
    "peers.flaps",
    "consensus.blocks_finalized",
    "consensus.finality_p95_s",
    "consensus.max_gap_s",
    "consensus.recovery_s",
];

/// What a headline metric is, in words, for a figure's title.
fn described(metric: &str) -> &'static str {
    match metric {
        "registration.ready_s" => "Registrars ready",
        "registration.p95_s" => "Registration time, 95th percentile",
        "registration.success_rate" => "Share of miners registered",
        "registration.recovery_s" => "Time to recover damaged files",
        "peers.converged_s" => "Peer registry converged",
        "peers.reconverged_s" => "Peer registry converged again after the last fault",
        "peers.flaps" => "Peer-down events",
        "consensus.blocks_finalized" => "Blocks finalized",
        "consensus.finality_p95_s" => "Finality, 95th percentile",
        "consensus.max_gap_s" => "Longest time without a new block",
        "consensus.recovery_s" => "From the last fault to the next block",
        _ => "",
    }
}

/// Instants each run's time series is read at.
const SAMPLES: usize = 201;

/// Every sweep figure of `runs`: (file name, SVG text).
pub fn all(runs: &[RunRow], params: &[ParamColumn], info: &SweepInfo) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let groups = by_group(runs, params);
    let end = runs
        .iter()
        .filter_map(|r| r.values.get("run.sim_time_s").and_then(Value::as_f64))
        .fold(0.0, f64::max);
    for (name, series) in [
        ("registration_progress.svg", registration_progress as Reader),
        ("consensus_finality.svg", finalized_height),
        ("peers_flaps.svg", peer_downs),
    ] {
        if let Some(svg) = over_time(&groups, info, end, name, series) {
            out.push((name.to_string(), svg));
        }
    }
    for metric in HEADLINE {
        if let Some(svg) = against_params(runs, params, info, metric) {
            out.push((format!("sweep_{metric}.svg"), svg));
        }
    }
    out
}

/// Reads one run's step function: `(time, value)` changes, ascending.
type Reader = fn(&Path) -> Option<Vec<(f64, f64)>>;

/// The runs of each grid point, the points ordered by their parameters'
/// values (numbers as numbers: `2s` before `10s`).
fn by_group<'a>(runs: &'a [RunRow], params: &[ParamColumn]) -> Vec<(String, Vec<&'a RunRow>)> {
    let mut groups: Vec<(String, Vec<&RunRow>)> = Vec::new();
    for run in runs {
        match groups.iter_mut().find(|(g, _)| *g == run.group) {
            Some((_, members)) => members.push(run),
            None => groups.push((run.group.clone(), vec![run])),
        }
    }
    let key = |run: &RunRow| -> Vec<(f64, String)> {
        params
            .iter()
            .map(|p| {
                let v = param(run, &p.key).unwrap_or("");
                (p.numeric(v).unwrap_or(f64::NAN), v.to_string())
            })
            .collect()
    };
    groups.sort_by(|(_, a), (_, b)| {
        let (a, b) = (key(a[0]), key(b[0]));
        a.iter()
            .zip(&b)
            .map(|(x, y)| x.0.total_cmp(&y.0).then_with(|| x.1.cmp(&y.1)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    groups
}

/// A grid point's legend name: its values (`poll, recover=false`), or
/// `all runs` without a grid.
pub fn label(group: &str) -> String {
    if group.is_empty() {
        return "all runs".to_string();
    }
    group
        .split('+')
        .map(|part| match part.split_once('=') {
            Some((key, value)) => format!("{}={value}", key.rsplit('.').next().unwrap_or(key)),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Mean and 95 % interval over runs of one figure of each grid point.
fn over_time(
    groups: &[(String, Vec<&RunRow>)],
    info: &SweepInfo,
    end: f64,
    file: &str,
    read: Reader,
) -> Option<String> {
    let (title, y_label) = match file {
        "registration_progress.svg" => (
            "Registration progress",
            "miners registered (fraction of expected)",
        ),
        "consensus_finality.svg" => ("Finalized height", "finalized height"),
        _ => ("Peer flaps", "peer-down events so far"),
    };
    let instants: Vec<f64> = (0..SAMPLES)
        .map(|i| end * i as f64 / (SAMPLES - 1) as f64)
        .collect();
    let mut series = Vec::new();
    for (group, runs) in groups {
        let steps: Vec<Vec<(f64, f64)>> = runs.iter().filter_map(|r| read(&r.dir)).collect();
        if steps.is_empty() {
            continue;
        }
        // Counts and shares are never below 0, shares never above 1.
        let top = match file {
            "registration_progress.svg" => 1.0,
            _ => f64::INFINITY,
        };
        series.push(band_series(&label(group), &steps, &instants, (0.0, top)));
    }
    if series.is_empty() || end <= 0.0 {
        return None;
    }
    let first = groups.first().map_or("", |(g, _)| g.as_str());
    let chart = svg::Chart {
        subtitle: info.caption(),
        note: format!(
            "mean over seeds with its 95 % confidence interval; faults of {}",
            label(first)
        ),
        shades: info.shades.get(first).cloned().unwrap_or_default(),
        x_span: Some((0.0, end)),
        ..svg::Chart::new(title, "simulated time (s)", y_label)
    };
    Some(svg::line(&chart, &series))
}

/// The mean and interval over `steps` (step functions) at `instants`,
/// the interval kept within `range` (what the quantity can be).
fn band_series(
    name: &str,
    steps: &[Vec<(f64, f64)>],
    instants: &[f64],
    range: (f64, f64),
) -> Series {
    let mut points = Vec::with_capacity(instants.len());
    let mut band = Vec::with_capacity(instants.len());
    for &t in instants {
        let mut values: Vec<f64> = steps
            .iter()
            .map(|s| {
                let at = s.partition_point(|(x, _)| *x <= t);
                at.checked_sub(1).map_or(0.0, |i| s[i].1)
            })
            .collect();
        let stats = Stats::of(&mut values);
        points.push((t, stats.mean));
        let clamp = |v: f64| v.clamp(range.0, range.1);
        band.push((t, clamp(stats.ci_low), clamp(stats.ci_high)));
    }
    Series {
        name: name.to_string(),
        points,
        band,
    }
}

/// The rows of `file` in `dir` (header dropped), if it exists.
fn rows(dir: &Path, file: &str) -> Option<Vec<Vec<String>>> {
    let text = fs::read_to_string(dir.join(file)).ok()?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    Some(
        reader
            .records()
            .filter_map(Result::ok)
            .map(|r| r.iter().map(str::to_string).collect())
            .collect(),
    )
}

/// Share of expected miners registered, averaged over registrars, from
/// `registration_progress.csv` (time_s, registrar, ..., fraction).
fn registration_progress(dir: &Path) -> Option<Vec<(f64, f64)>> {
    let rows = rows(dir, "registration_progress.csv")?;
    let mut latest: BTreeMap<String, f64> = BTreeMap::new();
    let mut registrars: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    registrars.sort_unstable();
    registrars.dedup();
    let mut steps = Vec::new();
    for row in &rows {
        let (Ok(t), Ok(fraction)) = (row[0].parse::<f64>(), row[4].parse::<f64>()) else {
            continue;
        };
        latest.insert(row[1].clone(), fraction);
        steps.push((
            t,
            latest.values().sum::<f64>() / registrars.len().max(1) as f64,
        ));
    }
    Some(steps)
}

/// Finalized height over time, from `consensus.csv` (height, ...,
/// first_final_s at column 5).
fn finalized_height(dir: &Path) -> Option<Vec<(f64, f64)>> {
    let rows = rows(dir, "consensus.csv")?;
    let mut steps: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r[5].parse().ok()?, r[0].parse().ok()?)))
        .collect();
    steps.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = 0.0f64;
    for step in &mut steps {
        best = best.max(step.1);
        step.1 = best;
    }
    Some(steps)
}

/// Peer-down events so far, from `observations.csv` (time_s, host,
/// observation, ...); `None` without a peer registry (`peers.csv`).
fn peer_downs(dir: &Path) -> Option<Vec<(f64, f64)>> {
    dir.join("peers.csv").is_file().then_some(())?;
    let rows = rows(dir, "observations.csv")?;
    let downs = rows
        .iter()
        .filter(|r| r.get(2).is_some_and(|o| o == "peer-down"))
        .filter_map(|r| r[0].parse::<f64>().ok());
    Some(
        downs
            .enumerate()
            .map(|(i, t)| (t, (i + 1) as f64))
            .collect(),
    )
}

/// `metric` (mean and interval over seeds) against the swept parameters.
fn against_params(
    runs: &[RunRow],
    params: &[ParamColumn],
    info: &SweepInfo,
    metric: &str,
) -> Option<String> {
    let value = |r: &RunRow| r.values.get(metric).and_then(Value::as_f64);
    if params.is_empty() || !runs.iter().any(|r| value(r).is_some()) {
        return None;
    }
    let distinct = |p: &ParamColumn| {
        let mut v: Vec<&str> = runs.iter().filter_map(|r| param(r, &p.key)).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    // The x axis: the numeric parameter with the most values (the first of
    // those on a tie), when one has two or more.
    let numeric = |p: &&ParamColumn| {
        distinct(p) >= 2
            && runs
                .iter()
                .all(|r| param(r, &p.key).and_then(|v| p.numeric(v)).is_some())
    };
    let x = params
        .iter()
        .filter(numeric)
        .fold(None::<&ParamColumn>, |best, p| match best {
            Some(b) if distinct(b) >= distinct(p) => Some(b),
            _ => Some(p),
        });
    let chart = svg::Chart {
        subtitle: info.caption(),
        note: "mean over seeds with its 95 % confidence interval (runs where it never happened left out)"
            .into(),
        ..svg::Chart::new(metric, "", &metric_label(metric))
    };
    match x {
        Some(x) => Some(lines_against(runs, params, x, metric, chart)),
        None => Some(bars_per_point(runs, params, metric, chart)),
    }
}

/// A metric's axis label: its name, with the unit its suffix says.
fn metric_label(metric: &str) -> String {
    match metric.strip_suffix("_s") {
        Some(_) => format!("{metric} (s)"),
        None => metric.to_string(),
    }
}

/// One line per value of the parameters other than `x`, over `x`.
fn lines_against(
    runs: &[RunRow],
    params: &[ParamColumn],
    x: &ParamColumn,
    metric: &str,
    mut chart: svg::Chart,
) -> String {
    let others: Vec<&ParamColumn> = params.iter().filter(|p| p.key != x.key).collect();
    let mut lines: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    // Lines in the order of the other parameters' values (2s before 10s).
    let runs = sorted_by(runs, &others);
    for run in runs {
        let name: Vec<String> = others
            .iter()
            .filter_map(|p| Some(format!("{}={}", short_key(&p.key), param(run, &p.key)?)))
            .collect();
        let name = if name.is_empty() {
            "mean".to_string()
        } else {
            name.join(", ")
        };
        if !order.contains(&name) {
            order.push(name.clone());
        }
        let at = param(run, &x.key)
            .and_then(|v| x.numeric(v))
            .unwrap_or(f64::NAN);
        let values = lines
            .entry(name)
            .or_default()
            .entry(crate::number(at))
            .or_default();
        values.extend(run.values.get(metric).and_then(Value::as_f64));
    }
    let series: Vec<Series> = order
        .iter()
        .map(|name| {
            let mut points = Vec::new();
            let mut band = Vec::new();
            for (at, values) in &lines[name] {
                let (Ok(at), false) = (at.parse::<f64>(), values.is_empty()) else {
                    continue;
                };
                let stats = Stats::of(&mut values.clone());
                points.push((at, stats.mean));
                band.push((at, stats.ci_low, stats.ci_high));
            }
            Series {
                name: name.clone(),
                points,
                band,
            }
        })
        .collect();
    chart.title = title(metric, &format!("by {}", short_key(&x.key)));
    chart.x_label = x_label(x);
    svg::line(&chart, &series)
}

/// `runs` ordered by the values of `params` (numbers as numbers).
fn sorted_by<'a>(runs: &'a [RunRow], params: &[&ParamColumn]) -> Vec<&'a RunRow> {
    let mut runs: Vec<&RunRow> = runs.iter().collect();
    let key = |run: &RunRow| -> Vec<(f64, String)> {
        params
            .iter()
            .map(|p| {
                let v = param(run, &p.key).unwrap_or("");
                (p.numeric(v).unwrap_or(f64::NAN), v.to_string())
            })
            .collect()
    };
    runs.sort_by(|a, b| {
        key(a)
            .iter()
            .zip(&key(b))
            .map(|(x, y)| x.0.total_cmp(&y.0).then_with(|| x.1.cmp(&y.1)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    runs
}

/// One bar per grid point: the mean, its interval as a whisker.
fn bars_per_point(
    runs: &[RunRow],
    params: &[ParamColumn],
    metric: &str,
    mut chart: svg::Chart,
) -> String {
    let mut bars = Vec::new();
    for (group, members) in by_group(runs, params) {
        let mut values: Vec<f64> = members
            .iter()
            .filter_map(|r| r.values.get(metric).and_then(Value::as_f64))
            .collect();
        if values.is_empty() {
            continue;
        }
        let stats = Stats::of(&mut values);
        bars.push((label(&group), stats.mean, stats.ci_low, stats.ci_high));
    }
    chart.title = title(metric, "per grid point");
    chart.x_label = "grid point".into();
    svg::bars_with_intervals(&chart, &bars)
}

/// A figure's title: what the metric is and how it is split, e.g.
/// `Longest time without a new block by view_timeout`.
fn title(metric: &str, split: &str) -> String {
    match described(metric) {
        "" => format!("{metric} {split}"),
        words => format!("{words} {split}"),
    }
}

/// The last part of a key (`peers.heartbeat` → `heartbeat`).
fn short_key(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// A parameter's axis label, with its unit.
fn x_label(x: &ParamColumn) -> String {
    match x.kind {
        crate::tidy::Kind::Seconds => format!("{} (s)", x.key),
        crate::tidy::Kind::BitsPerSecond => format!("{} (bit/s)", x.key),
        crate::tidy::Kind::Number | crate::tidy::Kind::Boolean | crate::tidy::Kind::Text => {
            x.key.clone()
        }
    }
}
