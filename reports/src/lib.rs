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
pub mod cpu;
pub mod plots;
pub mod result_dir;
pub mod summary;
pub mod tables;
pub mod targets;
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

/// Seconds with nanosecond precision, as written in every CSV `*_s` column.
pub fn seconds(time: sim_core::units::SimTime) -> String {
    let ns = time.as_nanos();
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
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
