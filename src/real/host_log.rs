//! The per-host record of a real run: `<host>.events.jsonl`, one JSON
//! value per line, appended as things happen (so a process killed by a
//! crash fault leaves everything up to its last flush). `sim node` writes
//! boots, observations, counters and its exit; `sim corrupt` (or the
//! launcher) appends the damage it did; `sim collect` reads them all back
//! into the simulator's run log.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use node_logic::Observation;
use serde::{Deserialize, Serialize};
use sim_core::units::SimTime;

/// The version of this record format; `sim collect` refuses others.
pub const LOG_FORMAT: u32 = 2;

/// The suffix of a host's record file.
pub const LOG_SUFFIX: &str = ".events.jsonl";

/// The record file of `host` in `dir`.
pub fn log_path(dir: &Path, host: &str) -> PathBuf {
    dir.join(format!("{host}{LOG_SUFFIX}"))
}

/// One line of a host's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostRecord {
    /// A process of the host started (a new incarnation).
    Boot {
        /// [`LOG_FORMAT`].
        format: u32,
        /// The host's name.
        host: String,
        /// The scenario's name.
        scenario: String,
        /// The seed the scenario ran with.
        seed: u64,
        /// Whether this is a restart after a crash.
        restarted: bool,
        /// Scenario time of the boot, ns.
        at_ns: u64,
        /// Real seconds per scenario second.
        time_scale: f64,
    },
    /// Something the protocols observed.
    Observation {
        /// Scenario time, ns.
        at_ns: u64,
        /// What.
        observation: Observation,
    },
    /// A fault the process applied to itself (`byzantine`, `clock_skew`).
    Fault {
        /// Scenario time, ns.
        at_ns: u64,
        /// The fault's index in the scenario.
        index: usize,
        /// Whether it starts (true) or ends (false).
        apply: bool,
    },
    /// A registration file damaged by a `corrupt` fault.
    Damage {
        /// Scenario time, ns.
        at_ns: u64,
        /// The fault's index in the scenario.
        fault: usize,
        /// The file, relative to the shared directory.
        path: String,
        /// The damage mode.
        mode: String,
    },
    /// This incarnation's running totals (the last one counts).
    Counters {
        /// Scenario time, ns.
        at_ns: u64,
        /// The totals.
        counters: NodeCounters,
    },
    /// The process ended cleanly.
    Exit {
        /// Scenario time, ns.
        at_ns: u64,
        /// `duration` (the scenario ended) or `signal` (SIGTERM/SIGINT).
        reason: String,
    },
}

/// What one incarnation of a host did, cumulatively.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCounters {
    /// Datagrams sent.
    pub messages_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    /// Datagrams received and accepted by the transport frame check.
    pub messages_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
    /// Sends that failed locally (no address for the host, socket error).
    pub send_errors: u64,
    /// Datagrams sent, by destination host id.
    pub sent_to: BTreeMap<u32, u64>,
    /// Datagrams accepted, by sending host id.
    pub received_from: BTreeMap<u32, u64>,
    /// Valid datagrams that arrived after the scenario's end (in flight at
    /// the end: neither delivered nor lost, as in the simulator), by
    /// sending host id.
    #[serde(default)]
    pub in_flight_from: BTreeMap<u32, u64>,
    /// Datagrams dropped by the frame check, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Inputs fed to the node (the real run's "events").
    pub inputs: u64,
    /// File writes completed.
    pub writes: u64,
    /// File reads completed.
    pub reads: u64,
    /// Directory listings completed.
    pub lists: u64,
    /// Renames and deletes completed.
    pub metadata: u64,
    /// Each protocol's counters read off the node (`sim::protocols::node_counters`).
    #[serde(default)]
    pub protocols: BTreeMap<String, u64>,
    /// Files in the shared directory refused (a symbolic link, not a
    /// regular file, too large, a planted temporary), by reason.
    #[serde(default)]
    pub fs_refused: BTreeMap<String, u64>,
}

/// Appends records to a host's file.
pub struct HostLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl HostLog {
    /// Opens (appending; creating) the record file of `host` in `dir`.
    pub fn open(dir: &Path, host: &str) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = log_path(dir, host);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(HostLog {
            path,
            out: BufWriter::new(file),
        })
    }

    /// Where the records go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record (buffered until [`HostLog::flush`]).
    pub fn append(&mut self, record: &HostRecord) -> io::Result<()> {
        let line = serde_json::to_string(record).map_err(io::Error::other)?;
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// Writes buffered records to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Appends one record to `host`'s file in `dir` right away (for helpers
/// that write a single line beside a running node: `O_APPEND` keeps lines
/// whole).
pub fn append_one(dir: &Path, host: &str, record: &HostRecord) -> io::Result<()> {
    let mut log = HostLog::open(dir, host)?;
    log.append(record)?;
    log.flush()
}

/// `<host>.observations.csv`: the host's rows of the simulator's
/// `observations.csv`, same columns, appended as they happen.
pub struct ObservationRows {
    out: csv::Writer<File>,
    host: String,
    names: Vec<String>,
}

impl ObservationRows {
    /// Opens (appending; writing the header into a new file) the rows of
    /// `host` in `dir`; `names` are every host's name by id.
    pub fn open(dir: &Path, host: &str, names: Vec<String>) -> io::Result<Self> {
        let path = dir.join(format!("{host}.observations.csv"));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let fresh = file.metadata()?.len() == 0;
        let mut out = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        if fresh {
            out.write_record(["time_s", "host", "observation", "peer", "detail"])
                .map_err(io::Error::other)?;
        }
        Ok(ObservationRows {
            out,
            host: host.to_string(),
            names,
        })
    }

    /// Appends the row of `observation` made at `at`.
    pub fn append(&mut self, at: SimTime, observation: &Observation) -> io::Result<()> {
        let names = &self.names;
        let name = |h: node_logic::HostId| {
            names
                .get(h.index())
                .cloned()
                .unwrap_or_else(|| format!("host-{}", h.0))
        };
        let (kind, peer, detail) = reports::tables::describe(observation, name);
        self.out
            .write_record([&reports::seconds(at), &self.host, kind, &peer, &detail])
            .map_err(io::Error::other)
    }

    /// Writes buffered rows to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Why a record file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A line is not a record of this format.
    #[error(
        "{path}:{line}: not a sim node record ({why}); was it written by another version of sim?"
    )]
    Bad {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What the parser said.
        why: String,
    },
}

/// Reads every record of a file. A last line cut short (the process was
/// killed mid-write) is skipped; any other bad line is an error.
pub fn read(path: &Path) -> Result<Vec<HostRecord>, ReadError> {
    let io_err = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    let mut records = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<HostRecord>(line) {
            Ok(HostRecord::Boot { format, .. }) if format != LOG_FORMAT => {
                return Err(ReadError::Bad {
                    path: path.to_path_buf(),
                    line: index + 1,
                    why: format!("record format {format}, this sim reads {LOG_FORMAT}"),
                });
            }
            Ok(record) => records.push(record),
            Err(_) if index + 1 == lines.len() => {} // cut short by a kill
            Err(e) => {
                return Err(ReadError::Bad {
                    path: path.to_path_buf(),
                    line: index + 1,
                    why: e.to_string(),
                });
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use node_logic::HostId;

    #[test]
    fn records_round_trip_and_a_torn_last_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("sim-host-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let records = vec![
            HostRecord::Boot {
                format: LOG_FORMAT,
                host: "m-1".into(),
                scenario: "s".into(),
                seed: 7,
                restarted: false,
                at_ns: 5,
                time_scale: 0.1,
            },
            HostRecord::Observation {
                at_ns: 9,
                observation: Observation::Peers(
                    node_logic::protocols::peers::PeerRegistryEvent::Up { peer: HostId(2) },
                ),
            },
            HostRecord::Counters {
                at_ns: 10,
                counters: NodeCounters {
                    messages_sent: 3,
                    rejected: [("bad-signature".to_string(), 1)].into(),
                    ..NodeCounters::default()
                },
            },
        ];
        let mut log = HostLog::open(&dir, "m-1").unwrap();
        for r in &records {
            log.append(r).unwrap();
        }
        log.flush().unwrap();
        drop(log);
        let mut file = OpenOptions::new()
            .append(true)
            .open(log_path(&dir, "m-1"))
            .unwrap();
        file.write_all(b"{\"exit\":{\"at_").unwrap();
        assert_eq!(read(&log_path(&dir, "m-1")).unwrap(), records);
        // A bad line in the middle is an error naming the line.
        file.write_all(b"\n{}\n").unwrap();
        let e = read(&log_path(&dir, "m-1")).unwrap_err().to_string();
        assert!(e.contains("m-1.events.jsonl:4"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
