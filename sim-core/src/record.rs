//! What a run records for the reports: per-host traffic, host lifecycle,
//! the faults applied and the protocols' observations. Everything here is
//! filled from events that actually happened in the run.

use node_logic::HostId;
use node_logic::Observation;

use crate::trace::{DropReason, FaultPhase};
use crate::units::SimTime;

/// One host's traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetCounters {
    /// Datagrams the host sent.
    pub messages_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Datagrams delivered to the host.
    pub messages_received: u64,
    /// Their bytes.
    pub bytes_received: u64,
    /// Datagrams the host sent that never arrived.
    pub messages_dropped: u64,
}

/// A host booting or crashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// First boot.
    Started,
    /// Boot after a crash.
    Restarted,
    /// Crash: memory state lost.
    Crashed,
}

impl Lifecycle {
    /// A stable name for CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Started => "start",
            Lifecycle::Restarted => "restart",
            Lifecycle::Crashed => "crash",
        }
    }
}

/// A fault of the scenario taking effect or ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRecord {
    /// When.
    pub time: SimTime,
    /// Its index in the scenario's fault list.
    pub index: usize,
    /// `partition`, `crash`, `link`, ...
    pub kind: &'static str,
    /// Start or end.
    pub phase: FaultPhase,
    /// The hosts it touched.
    pub hosts: Vec<HostId>,
}

/// Everything the reports need from a run.
#[derive(Clone, Debug, Default)]
pub struct RunLog {
    /// Per host, indexed by host id.
    pub net: Vec<NetCounters>,
    /// Drops by reason, in [`DropReason`] order.
    pub drops: std::collections::BTreeMap<DropReason, u64>,
    /// Boots and crashes, in time order.
    pub lifecycle: Vec<(SimTime, HostId, Lifecycle)>,
    /// Faults applied and healed, in time order.
    pub faults: Vec<FaultRecord>,
    /// Protocol observations, in time order.
    pub observations: Vec<(SimTime, HostId, Observation)>,
    /// Events processed.
    pub events: u64,
    /// File operations completed per host (filled when the run ends).
    pub fs: std::collections::BTreeMap<HostId, crate::fs::FsCounters>,
    /// Registration files damaged by `corrupt` faults, in time order.
    pub damaged: Vec<DamageRecord>,
    /// Per host, what its CPU did (filled when the run ends; empty when
    /// no host has a CPU model, a default record for a host without one).
    pub cpu: Vec<crate::cpu::CpuRecord>,
}

/// A registration file damaged by a `corrupt` fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamageRecord {
    /// When the damage landed (the fault's time, or the write it waited for).
    pub time: SimTime,
    /// The fault's index in the scenario.
    pub fault: usize,
    /// The miner whose file it is.
    pub host: HostId,
    /// The file.
    pub path: String,
    /// How it was damaged (`empty`, `truncate`, ...).
    pub mode: &'static str,
}

impl RunLog {
    /// An empty log for `hosts` hosts.
    pub fn new(hosts: usize) -> Self {
        RunLog {
            net: vec![NetCounters::default(); hosts],
            ..RunLog::default()
        }
    }
    /// Network totals over all hosts.
    pub fn net_total(&self) -> NetCounters {
        self.net.iter().fold(NetCounters::default(), |mut t, c| {
            t.messages_sent += c.messages_sent;
            t.bytes_sent += c.bytes_sent;
            t.messages_received += c.messages_received;
            t.bytes_received += c.bytes_received;
            t.messages_dropped += c.messages_dropped;
            t
        })
    }
}
