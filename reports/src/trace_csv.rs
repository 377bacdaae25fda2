//! `trace.csv`: the event trace as the run produces it, one row per event.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use sim_core::trace::{TraceEvent, TraceKind, TraceSink};

use crate::ReportError;
use crate::tables::describe;

/// Streams trace records to a CSV file. Errors are kept and reported by
/// [`TraceCsv::finish`] (a sink cannot fail mid-run).
pub struct TraceCsv {
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    names: Vec<String>,
    error: Option<csv::Error>,
    rows: u64,
}

impl TraceCsv {
    /// Creates `path`; `names` are the host names by id.
    pub fn create(path: &Path, names: Vec<String>) -> Result<Self, ReportError> {
        let file = File::create(path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut writer = csv::Writer::from_writer(BufWriter::with_capacity(1 << 16, file));
        writer
            .write_record(["time_s", "host", "event", "peer", "size_bytes", "detail"])
            .map_err(|source| ReportError::Csv {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(TraceCsv {
            path: path.to_path_buf(),
            writer,
            names,
            error: None,
            rows: 0,
        })
    }

    /// Flushes the file; reports the first write error of the run, if any.
    pub fn finish(mut self) -> Result<u64, ReportError> {
        if let Some(source) = self.error.take() {
            return Err(ReportError::Csv {
                path: self.path,
                source,
            });
        }
        self.writer.flush().map_err(|source| ReportError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.rows)
    }

    fn name(&self, host: node_logic::HostId) -> &str {
        self.names.get(host.index()).map_or("?", String::as_str)
    }
}

impl TraceSink for TraceCsv {
    fn record(&mut self, event: &TraceEvent<'_>) {
        if self.error.is_some() {
            return;
        }
        let host = event.host.map_or("", |h| self.name(h)).to_string();
        let (what, peer, size, detail): (&str, String, String, String) = match event.kind {
            TraceKind::Start { restarted: false } => {
                ("start", String::new(), String::new(), String::new())
            }
            TraceKind::Start { restarted: true } => {
                ("restart", String::new(), String::new(), String::new())
            }
            TraceKind::Crash => ("crash", String::new(), String::new(), String::new()),
            TraceKind::Timer(t) => ("timer", String::new(), String::new(), t.name().to_string()),
            TraceKind::Send { to, bytes } => (
                "send",
                self.name(to).to_string(),
                bytes.to_string(),
                String::new(),
            ),
            TraceKind::Deliver { from, payload } => (
                "deliver",
                self.name(from).to_string(),
                payload.len().to_string(),
                String::new(),
            ),
            TraceKind::Drop { from, reason } => (
                "drop",
                self.name(from).to_string(),
                String::new(),
                reason.as_str().to_string(),
            ),
            TraceKind::File { op, path, size, ok } => (
                "file",
                String::new(),
                size.to_string(),
                format!("{op} {path}{}", if ok { "" } else { " failed" }),
            ),
            TraceKind::FileChanged { path } => (
                "file-changed",
                String::new(),
                String::new(),
                path.to_string(),
            ),
            TraceKind::Fault { index, phase } => (
                "fault",
                String::new(),
                String::new(),
                format!("{} {index}", phase.as_str()),
            ),
            TraceKind::Observation(o) => {
                let (kind, peer, detail) = describe(o, |p| self.name(p).to_string());
                (kind, peer, String::new(), detail)
            }
            TraceKind::Damage { path, mode } => (
                "damage",
                String::new(),
                String::new(),
                format!("{mode} {path}"),
            ),
            TraceKind::Serve { cost } => (
                "serve",
                String::new(),
                String::new(),
                format!("cost {} ns", cost.as_nanos()),
            ),
        };
        let time = crate::seconds(event.time);
        if let Err(e) = self.writer.write_record([
            time.as_str(),
            host.as_str(),
            what,
            peer.as_str(),
            size.as_str(),
            detail.as_str(),
        ]) {
            self.error = Some(e);
        } else {
            self.rows += 1;
        }
    }
}
