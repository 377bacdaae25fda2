//! Tidy sweep data: swept parameters as typed columns, and every per-run
//! table of a sweep as one combined file at the scenario folder's top.
//!
//! A swept value is text as `--set` took it (`"10 s"`, `"poll"`,
//! `"[\"validator-0\"]"`). Its column is typed by what every value of the
//! key parses as: times become seconds in `param.<key>_s` (`10 s` → `10`),
//! bandwidths bits per second in `param.<key>_bit_per_s`, numbers and
//! booleans stay as they are in `param.<key>`, anything else is text in
//! `param.<key>`. So `pandas.read_csv` gives numeric dtypes without path
//! or unit parsing.
//!
//! Combined tables: `<scenario folder>/<table>.csv` holds the rows of
//! `<table>.csv` of every run the aggregates count, each prefixed with
//! `seed` and the typed parameter columns, in (grid point, seed) order —
//! written when the folder counts two runs or more (one run's own tables
//! are its data). `trace.csv` is left out (it can be hundreds of MB per run).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;
use sim_core::units::Bandwidth;
use sim_core::units::SimDuration;

use crate::aggregate::RunRow;
use crate::result_dir::replace_file;
use crate::{ReportError, number};

/// Per-run tables never combined.
const NOT_COMBINED: &[&str] = &["trace.csv"];

/// What a swept key's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Times, written in seconds.
    Seconds,
    /// Bandwidths, written in bits per second.
    BitsPerSecond,
    /// Numbers.
    Number,
    /// `true` / `false`.
    Boolean,
    /// Anything else, as written.
    Text,
}

/// One swept key's column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamColumn {
    /// The key, as swept.
    pub key: String,
    /// The column's name, unit included (`param.peers.heartbeat_s`).
    pub name: String,
    /// What its values are.
    pub kind: Kind,
}

impl ParamColumn {
    /// The column of `key`, typed by what all of `values` parse as.
    pub fn of(key: &str, values: &[&str]) -> Self {
        let all = |ok: &dyn Fn(&str) -> bool| !values.is_empty() && values.iter().all(|v| ok(v));
        let kind = if all(&|v| v == "true" || v == "false") {
            Kind::Boolean
        } else if all(&|v| v.parse::<f64>().is_ok_and(f64::is_finite)) {
            Kind::Number
        } else if all(&|v| SimDuration::from_str(v).is_ok()) {
            Kind::Seconds
        } else if all(&|v| Bandwidth::from_str(v).is_ok()) {
            Kind::BitsPerSecond
        } else {
            Kind::Text
        };
        let suffix = match kind {
            Kind::Seconds => "_s",
            Kind::BitsPerSecond => "_bit_per_s",
            Kind::Number | Kind::Boolean | Kind::Text => "",
        };
        ParamColumn {
            key: key.to_string(),
            name: format!("param.{key}{suffix}"),
            kind,
        }
    }

    /// `value` as this column's cell.
    pub fn cell(&self, value: &str) -> String {
        match self.kind {
            Kind::Seconds => SimDuration::from_str(value)
                .map(|d| number(d.as_nanos() as f64 / 1e9))
                .unwrap_or_default(),
            Kind::BitsPerSecond => Bandwidth::from_str(value)
                .map(|b| b.bits_per_sec().to_string())
                .unwrap_or_default(),
            Kind::Number => value.parse::<f64>().map(number).unwrap_or_default(),
            Kind::Boolean | Kind::Text => value.to_string(),
        }
    }

    /// `value` as a number (for plots), if the column is numeric.
    pub fn numeric(&self, value: &str) -> Option<f64> {
        match self.kind {
            Kind::Seconds | Kind::BitsPerSecond | Kind::Number => self.cell(value).parse().ok(),
            Kind::Boolean | Kind::Text => None,
        }
    }
}

/// A run's value of a swept key (as `--set` took it).
pub fn param<'a>(run: &'a RunRow, key: &str) -> Option<&'a str> {
    run.values
        .get(&format!("param.{key}"))
        .and_then(Value::as_str)
}

/// The typed columns of the swept keys of `runs`: `order` first (the
/// sweep's axes), then any other key, sorted.
pub fn param_columns(runs: &[RunRow], order: &[String]) -> Vec<ParamColumn> {
    let found: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.values.keys())
        .filter_map(|k| k.strip_prefix("param."))
        .collect();
    let mut keys: Vec<&str> = order
        .iter()
        .map(String::as_str)
        .filter(|k| found.contains(k))
        .collect();
    keys.extend(found.iter().filter(|k| !order.iter().any(|o| o == *k)));
    keys.iter()
        .map(|key| {
            let values: Vec<&str> = runs.iter().filter_map(|r| param(r, key)).collect();
            ParamColumn::of(key, &values)
        })
        .collect()
}

/// The `seed` and parameter cells of `run`.
pub fn key_cells(run: &RunRow, params: &[ParamColumn]) -> Vec<String> {
    let seed = run
        .values
        .get("run.seed")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut cells = vec![seed.to_string()];
    cells.extend(
        params
            .iter()
            .map(|p| param(run, &p.key).map(|v| p.cell(v)).unwrap_or_default()),
    );
    cells
}

/// Writes every per-run table of `runs` as one combined file into
/// `scenario_dir` (see the module docs); returns the names written.
pub fn write_combined(
    scenario_dir: &Path,
    runs: &[RunRow],
    params: &[ParamColumn],
) -> Result<Vec<String>, ReportError> {
    if runs.len() < 2 {
        return Ok(Vec::new());
    }
    let mut tables: BTreeSet<String> = BTreeSet::new();
    for run in runs {
        for name in csv_files(&run.dir)? {
            tables.insert(name);
        }
    }
    let mut written = Vec::new();
    for table in tables
        .iter()
        .filter(|t| !NOT_COMBINED.contains(&t.as_str()))
    {
        replace_file(&scenario_dir.join(table), |temp| {
            combine(temp, table, runs, params)
        })?;
        written.push(table.clone());
    }
    Ok(written)
}

/// The `*.csv` files directly in `dir`, sorted.
fn csv_files(dir: &Path) -> Result<Vec<String>, ReportError> {
    let io = |source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    names.sort();
    Ok(names)
}

/// One combined table: the first run's header (each run's columns
/// matched by name), prefixed by `seed` and the parameters.
fn combine(
    path: &Path,
    table: &str,
    runs: &[RunRow],
    params: &[ParamColumn],
) -> Result<(), ReportError> {
    let csv_err = |source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut out = csv::Writer::from_path(path).map_err(csv_err)?;
    let mut header: Option<Vec<String>> = None;
    for run in runs {
        let file = run.dir.join(table);
        if !file.is_file() {
            continue;
        }
        let read_err = |source| ReportError::Csv {
            path: file.clone(),
            source,
        };
        let mut reader = csv::Reader::from_path(&file).map_err(read_err)?;
        let own: Vec<String> = reader
            .headers()
            .map_err(read_err)?
            .iter()
            .map(str::to_string)
            .collect();
        let columns = header.get_or_insert_with(|| {
            let mut names = vec!["seed".to_string()];
            names.extend(params.iter().map(|p| p.name.clone()));
            names.extend(own.iter().cloned());
            let _ = out.write_record(&names);
            own.clone()
        });
        let at: Vec<Option<usize>> = columns
            .iter()
            .map(|c| own.iter().position(|o| o == c))
            .collect();
        let keys = key_cells(run, params);
        for record in reader.records() {
            let record = record.map_err(read_err)?;
            let mut row = keys.clone();
            row.extend(
                at.iter()
                    .map(|i| i.and_then(|i| record.get(i)).unwrap_or("").to_string()),
            );
            out.write_record(&row).map_err(csv_err)?;
        }
    }
    out.flush().map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swept_values_become_typed_columns_with_units_in_their_names() {
        let heartbeat = ParamColumn::of("peers.heartbeat", &["5s", "10 s", "500 ms"]);
        assert_eq!(heartbeat.name, "param.peers.heartbeat_s");
        assert_eq!(
            ["5s", "10 s", "500 ms"].map(|v| heartbeat.cell(v)),
            ["5", "10", "0.5"]
        );
        let rate = ParamColumn::of("network.bandwidth", &["100 Mbit", "1 Gbit"]);
        assert_eq!(
            (rate.name.as_str(), rate.cell("100 Mbit")),
            ("param.network.bandwidth_bit_per_s", "100000000".to_string())
        );
        let loss = ParamColumn::of("network.loss", &["0.01", "0.1"]);
        assert_eq!(
            (loss.kind, loss.cell("0.1")),
            (Kind::Number, "0.1".to_string())
        );
        let flag = ParamColumn::of("registration.recover", &["true", "false"]);
        assert_eq!(
            (flag.kind, flag.name.as_str()),
            (Kind::Boolean, "param.registration.recover")
        );
        let mixed = ParamColumn::of("x", &["5 s", "poll"]);
        assert_eq!(
            (mixed.kind, mixed.cell("5 s")),
            (Kind::Text, "5 s".to_string())
        );
        let list = ParamColumn::of("faults.0.crash", &["[\"validator-0\"]"]);
        assert_eq!(list.kind, Kind::Text);
    }
}
