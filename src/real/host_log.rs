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
/// Format 3: counters records hold the change since the process's
/// previous one (written only when something changed), not running totals.
pub const LOG_FORMAT: u32 = 3;

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
        /// Scenario time of the boot, ns: the host's start time, when its
        /// node is started (however late the process got there).
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
    /// What this incarnation counted since its previous counters record
    /// (the records of one process add up to its totals; written only
    /// when something changed, so their volume grows with the run's
    /// events, not with its length).
    Counters {
        /// Scenario time, ns.
        at_ns: u64,
        /// The change (fields that did not change are left out).
        counters: Box<NodeCounters>,
    },
    /// The process ended cleanly.
    Exit {
        /// Scenario time, ns.
        at_ns: u64,
        /// `duration` (the scenario ended) or `signal` (SIGTERM/SIGINT).
        reason: String,
    },
}

/// What one incarnation of a host did, cumulatively (or, in a counters
/// record, the change since the previous record). Zero fields are left
/// out of records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeCounters {
    /// Datagrams sent.
    #[serde(skip_serializing_if = "is_zero")]
    pub messages_sent: u64,
    /// Their payload bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub bytes_sent: u64,
    /// Datagrams received and delivered to the node.
    #[serde(skip_serializing_if = "is_zero")]
    pub messages_received: u64,
    /// Their payload bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub bytes_received: u64,
    /// Sends that failed locally (no address for the host, socket error).
    #[serde(skip_serializing_if = "is_zero")]
    pub send_errors: u64,
    /// Datagrams sent, by destination host id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sent_to: BTreeMap<u32, u64>,
    /// Extra copies a duplication fault made of them, by destination.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub copies_to: BTreeMap<u32, u64>,
    /// Datagrams (and copies) still held in the process's path when it
    /// ended (in flight at the end: not lost), by destination.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub held_to: BTreeMap<u32, u64>,
    /// Datagrams delivered to the node, by sending host id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub received_from: BTreeMap<u32, u64>,
    /// Valid datagrams that arrived after the scenario's end or were still
    /// crossing the down-link then (in flight at the end: neither
    /// delivered nor lost, as in the simulator), by sending host id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub in_flight_from: BTreeMap<u32, u64>,
    /// Datagrams the process's path dropped (network faults, emulated
    /// loss), by reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dropped: BTreeMap<String, u64>,
    /// Datagrams dropped by the frame check, by reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rejected: BTreeMap<String, u64>,
    /// Inputs fed to the node (the real run's "events").
    #[serde(skip_serializing_if = "is_zero")]
    pub inputs: u64,
    /// Inputs handled later than they were due: datagrams read after the
    /// process had handled inputs due later (their senders sent them late,
    /// busy or not scheduled), so the node saw them out of time order.
    #[serde(skip_serializing_if = "is_zero")]
    pub late_inputs: u64,
    /// How much later than due, in all (ns).
    #[serde(skip_serializing_if = "is_zero")]
    pub late_ns: u64,
    /// File writes completed.
    #[serde(skip_serializing_if = "is_zero")]
    pub writes: u64,
    /// File reads completed.
    #[serde(skip_serializing_if = "is_zero")]
    pub reads: u64,
    /// Directory listings completed.
    #[serde(skip_serializing_if = "is_zero")]
    pub lists: u64,
    /// Renames and deletes completed.
    #[serde(skip_serializing_if = "is_zero")]
    pub metadata: u64,
    /// Stats completed.
    #[serde(skip_serializing_if = "is_zero")]
    pub stats: u64,
    /// Each protocol's counters read off the node (`sim::protocols::node_counters`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub protocols: BTreeMap<String, u64>,
    /// Files in the shared directory refused (a symbolic link, not a
    /// regular file, too large, a planted temporary), by reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fs_refused: BTreeMap<String, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Calls `$f!(field)` for every number field and `$g!(field)` for every
/// map field of [`NodeCounters`], so a new field cannot be left out of
/// the arithmetic.
macro_rules! each_counter {
    ($nums:ident, $maps:ident) => {
        $nums!(
            messages_sent,
            bytes_sent,
            messages_received,
            bytes_received,
            send_errors
        );
        $nums!(
            inputs,
            late_inputs,
            late_ns,
            writes,
            reads,
            lists,
            metadata,
            stats
        );
        $maps!(sent_to, copies_to, held_to, received_from, in_flight_from);
        $maps!(dropped, rejected, protocols, fs_refused);
    };
}

impl NodeCounters {
    /// What changed from `before` to `self` (totals that only grow).
    pub fn since(&self, before: &NodeCounters) -> NodeCounters {
        let mut delta = NodeCounters::default();
        macro_rules! nums {
            ($($f:ident),*) => {$( delta.$f = self.$f.saturating_sub(before.$f); )*};
        }
        macro_rules! maps {
            ($($f:ident),*) => {$(
                for (key, n) in &self.$f {
                    let old = before.$f.get(key).copied().unwrap_or(0);
                    if *n > old {
                        delta.$f.insert(key.clone(), n - old);
                    }
                }
            )*};
        }
        each_counter!(nums, maps);
        delta
    }

    /// Adds a change (a counters record) to these totals.
    pub fn add(&mut self, delta: &NodeCounters) {
        // Every field, by name: a new one must be added to `each_counter!`
        // too (this list does not compile without it).
        let NodeCounters {
            messages_sent: _,
            bytes_sent: _,
            messages_received: _,
            bytes_received: _,
            send_errors: _,
            sent_to: _,
            copies_to: _,
            held_to: _,
            received_from: _,
            in_flight_from: _,
            dropped: _,
            rejected: _,
            inputs: _,
            late_inputs: _,
            late_ns: _,
            writes: _,
            reads: _,
            lists: _,
            metadata: _,
            stats: _,
            protocols: _,
            fs_refused: _,
        } = delta;
        macro_rules! nums {
            ($($f:ident),*) => {$( self.$f += delta.$f; )*};
        }
        macro_rules! maps {
            ($($f:ident),*) => {$(
                for (key, n) in &delta.$f {
                    *self.$f.entry(key.clone()).or_default() += n;
                }
            )*};
        }
        each_counter!(nums, maps);
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == NodeCounters::default()
    }
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

/// Reads the records of a file one line at a time, calling `each` with
/// every record (only boots when `boots_only`: cheaper, for a first
/// look), so memory does not grow with the file. A last line cut short
/// (the process was killed mid-write) is skipped; any other bad line is
/// an error.
pub fn for_each(
    path: &Path,
    boots_only: bool,
    mut each: impl FnMut(HostRecord),
) -> Result<(), ReadError> {
    let io_err = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |line: usize, why: String| ReadError::Bad {
        path: path.to_path_buf(),
        line,
        why,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut lines = BufReader::new(file).lines().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let line = line.map_err(io_err)?;
        if line.trim().is_empty() || (boots_only && !line.starts_with("{\"boot\"")) {
            continue;
        }
        match serde_json::from_str::<HostRecord>(&line) {
            Ok(HostRecord::Boot { format, .. }) if format != LOG_FORMAT => {
                let why = format!("record format {format}, this sim reads {LOG_FORMAT}");
                return Err(bad(index + 1, why));
            }
            Ok(record) => each(record),
            Err(_) if lines.peek().is_none() => {} // cut short by a kill
            Err(e) => return Err(bad(index + 1, e.to_string())),
        }
    }
    Ok(())
}

/// Every record of a file, in order (see [`for_each`]).
#[cfg(test)]
pub fn read(path: &Path) -> Result<Vec<HostRecord>, ReadError> {
    let mut records = Vec::new();
    for_each(path, false, |r| records.push(r))?;
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
                counters: Box::new(NodeCounters {
                    messages_sent: 3,
                    rejected: [("bad-signature".to_string(), 1)].into(),
                    ..NodeCounters::default()
                }),
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
