//! Reports: turns what a run recorded into files researchers read — tidy
//! CSV (one row per observation, units in column names), `summary.json`
//! (a flat object of the metrics `sim check` and targets share) and the
//! event trace.
//!
//! Every run's files are written into a staging folder and moved into
//! place whole when complete ([`ResultDir`]), so a killed run never leaves
//! a result folder that looks finished.

#![warn(missing_docs)]

pub mod aggregate;
pub mod index;
pub mod plots;
pub mod result_dir;
pub mod summary;
pub mod tables;
pub mod targets;
pub mod tidy;
pub mod trace_csv;

pub use result_dir::ResultDir;
pub use summary::{Metric, Summary};

use std::path::PathBuf;

/// Why reports could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or folder could not be created, written or moved.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The target folder exists and is not a result of ours: refusing to
    /// replace it keeps the user's files safe.
    #[error(
        "refusing to replace {path}: it exists and does not look like a sim result (no summary.json); choose another --out or move it away"
    )]
    NotOurs {
        /// The folder.
        path: PathBuf,
    },
    /// A CSV record could not be written.
    #[error("cannot write CSV {path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: csv::Error,
    },
}

/// Seconds of a simulated time, as written in every CSV `*_s` column: the
/// shortest decimal that reads back as the same number (times are whole
/// nanoseconds, so `12.5`, `0.000001`, `300`).
pub fn seconds(time: sim_core::units::SimTime) -> String {
    number(time.as_nanos() as f64 / 1e9)
}

/// A number as written in every table: the shortest decimal that reads back
/// as the same `f64` (Rust's `Display`, never an exponent), `-0` as `0`,
/// and an empty cell for NaN or infinity (a missing value to pandas and R).
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    format!("{x}")
}

/// `n` and the noun in the form that goes with it: `1 view change`,
/// `2 view changes`, `0 view changes`.
pub fn plural(n: f64, one: &str, many: &str) -> String {
    if n == 1.0 {
        format!("1 {one}")
    } else {
        format!("{} {many}", number(n))
    }
}

/// Significant digits kept in statistics over runs (`stats.csv`): far
/// below any sampling error, and enough to drop the last-bit noise of
/// floating-point sums (`1.4845976250000001` becomes `1.484597625`).
pub const STAT_DIGITS: usize = 12;

/// `x` rounded to [`STAT_DIGITS`] significant digits (non-finite values
/// unchanged).
pub fn statistic(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{:.*e}", STAT_DIGITS - 1, x).parse().unwrap_or(x)
}

/// The nearest-rank percentile of sorted `values` (`p` in `0..=1`).
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = (p * values.len() as f64).ceil().max(1.0) as usize;
    values.get(rank.min(values.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn numbers_are_shortest_round_trip_without_noise() {
        use super::{number, seconds, statistic};
        use sim_core::units::SimTime;
        assert_eq!(seconds(SimTime::from_nanos(12_500_000_000)), "12.5");
        assert_eq!(seconds(SimTime::from_nanos(68_776_000_000)), "68.776");
        assert_eq!(seconds(SimTime::from_nanos(1_000)), "0.000001");
        assert_eq!(seconds(SimTime::from_nanos(300_000_000_000)), "300");
        assert_eq!(seconds(SimTime::from_nanos(1)), "0.000000001");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(f64::NAN), "");
        assert_eq!(number(1e-7), "0.0000001");
        // Last-bit noise of sums is rounded away; real digits are kept.
        let noisy = 68.77599999999998;
        assert_eq!(number(statistic(noisy)), "68.776");
        assert_eq!(number(statistic(1.4845976250000001)), "1.484597625");
        assert_eq!(number(statistic(2518.0 / 3.0)), "839.333333333");
        for x in [0.1, 12.5, 1e-9, 123_456.789_012] {
            assert_eq!(number(statistic(x)).parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.95), Some(95.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
