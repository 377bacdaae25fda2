//! The event trace: every event the engine processes, hashed as it happens
//! (so every run can print a trace hash) and optionally streamed to a
//! [`TraceSink`] (the reports crate writes it as CSV).
//!
//! The hash is a pure function of the trace's content, computed over a fixed
//! binary encoding of each record (never `Debug` output), so equal runs on
//! any platform give equal hashes.

use node_logic::observe::{TraceWriter, Traced};
use node_logic::{HostId, Observation, TimerId};

use crate::units::SimTime;

/// Why the network dropped a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Random loss on the path (link `packet_loss`, or a link fault).
    Loss,
    /// The two hosts are on different sides of a partition.
    Partition,
    /// The receiver was down when the message arrived.
    HostDown,
    /// The graph has no path between the two hosts.
    NoRoute,
    /// The message is larger than the largest datagram.
    TooLarge,
}

impl DropReason {
    /// A stable name for CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Partition => "partition",
            DropReason::HostDown => "host-down",
            DropReason::NoRoute => "no-route",
            DropReason::TooLarge => "too-large",
        }
    }
}

/// Whether a fault starts or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultPhase {
    /// The fault takes effect (`at`).
    Apply,
    /// The fault ends (`until` / `restart`).
    Heal,
}

impl FaultPhase {
    /// A stable name for CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultPhase::Apply => "apply",
            FaultPhase::Heal => "heal",
        }
    }
}

/// What happened, in a trace record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceKind<'a> {
    /// The host booted (`restarted` after a crash).
    Start {
        /// Whether it is a restart.
        restarted: bool,
    },
    /// The host crashed: memory state gone.
    Crash,
    /// A timer fired and was delivered.
    Timer(TimerId),
    /// The host sent a datagram.
    Send {
        /// Destination.
        to: HostId,
        /// Its size.
        bytes: usize,
    },
    /// A datagram was delivered to the host.
    Deliver {
        /// Sender.
        from: HostId,
        /// Its bytes (hashed, not written to CSV).
        payload: &'a [u8],
    },
    /// A datagram was dropped on its way to the host.
    Drop {
        /// Sender.
        from: HostId,
        /// Why.
        reason: DropReason,
    },
    /// A file operation completed for the host.
    File {
        /// `write`, `read`, `list`, `rename`, `delete`, `watch`.
        op: &'static str,
        /// The path (or directory).
        path: &'a str,
        /// Bytes moved, or entries listed.
        size: usize,
        /// Whether it succeeded.
        ok: bool,
    },
    /// The host was told a watched path changed.
    FileChanged {
        /// The path.
        path: &'a str,
    },
    /// A fault of the scenario started or ended.
    Fault {
        /// Its index in the scenario's fault list.
        index: usize,
        /// Start or end.
        phase: FaultPhase,
    },
    /// A protocol recorded an observation.
    Observation(&'a Observation),
    /// The host's CPU started serving an input (only with a CPU model):
    /// its outputs leave `cost` later.
    Serve {
        /// What the input costs.
        cost: crate::units::SimDuration,
    },
    /// A `corrupt` fault damaged a file.
    Damage {
        /// The file.
        path: &'a str,
        /// The damage mode.
        mode: &'static str,
    },
}

/// One record of the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceEvent<'a> {
    /// When.
    pub time: SimTime,
    /// The host it happened at (`None` for run-wide events such as faults).
    pub host: Option<HostId>,
    /// What.
    pub kind: TraceKind<'a>,
}

/// Receives every trace record as the run produces it.
pub trait TraceSink {
    /// Called once per record, in trace order.
    fn record(&mut self, event: &TraceEvent<'_>);
}

/// A sink that keeps nothing (the hash is computed regardless).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTrace;

impl TraceSink for NoTrace {
    fn record(&mut self, _event: &TraceEvent<'_>) {}
}

/// A 128-bit hash of the trace: two independent 64-bit multiply-rotate lanes
/// over 64-bit words, finished with an avalanche. Fast enough for the event
/// loop; not cryptographic (it detects divergence, it does not resist forgery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHasher {
    a: u64,
    b: u64,
    words: u64,
}

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher {
            a: 0x243f_6a88_85a3_08d3,
            b: 0x1319_8a2e_0370_7344,
            words: 0,
        }
    }
}

impl TraceHasher {
    /// Mixes one word in.
    #[inline]
    pub fn word(&mut self, w: u64) {
        self.a = (self.a ^ w)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
        self.b = (self.b.rotate_left(17) ^ w).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.words += 1;
    }
    /// Mixes a byte string in (its length first, so boundaries count).
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(word));
        }
    }
    /// Mixes one record in.
    pub fn event(&mut self, event: &TraceEvent<'_>) {
        self.word(event.time.as_nanos());
        self.word(event.host.map_or(u64::MAX, |h| u64::from(h.0)));
        match event.kind {
            TraceKind::Start { restarted } => self.word(1 | (u64::from(restarted) << 8)),
            TraceKind::Crash => self.word(2),
            TraceKind::Timer(timer) => {
                self.word(3);
                self.word(timer.code());
            }
            TraceKind::Send { to, bytes } => {
                self.word(4);
                self.word(u64::from(to.0));
                self.word(bytes as u64);
            }
            TraceKind::Deliver { from, payload } => {
                self.word(5);
                self.word(u64::from(from.0));
                self.bytes(payload);
            }
            TraceKind::Drop { from, reason } => {
                self.word(6);
                self.word(u64::from(from.0));
                self.word(reason as u64);
            }
            TraceKind::File { op, path, size, ok } => {
                self.word(7);
                self.bytes(op.as_bytes());
                self.bytes(path.as_bytes());
                self.word(size as u64);
                self.word(u64::from(ok));
            }
            TraceKind::FileChanged { path } => {
                self.word(8);
                self.bytes(path.as_bytes());
            }
            TraceKind::Fault { index, phase } => {
                self.word(9);
                self.word(index as u64);
                self.word(phase as u64);
            }
            TraceKind::Observation(observation) => {
                self.word(10);
                observation.trace(self);
            }
            TraceKind::Damage { path, mode } => {
                self.word(11);
                self.bytes(path.as_bytes());
                self.bytes(mode.as_bytes());
            }
            TraceKind::Serve { cost } => {
                self.word(12);
                self.word(cost.as_nanos());
            }
        }
    }
    /// The hash so far, as 32 hex digits.
    pub fn hex(&self) -> String {
        format!(
            "{:016x}{:016x}",
            avalanche(self.a ^ self.words),
            avalanche(self.b ^ self.a)
        )
    }
}

impl TraceWriter for TraceHasher {
    #[inline]
    fn word(&mut self, word: u64) {
        TraceHasher::word(self, word);
    }
    fn bytes(&mut self, bytes: &[u8]) {
        TraceHasher::bytes(self, bytes);
    }
}

fn avalanche(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(events: &[TraceEvent<'_>]) -> String {
        let mut h = TraceHasher::default();
        for e in events {
            h.event(e);
        }
        h.hex()
    }

    #[test]
    fn equal_traces_hash_equal_and_any_change_differs() {
        let base = [
            TraceEvent {
                time: SimTime::from_nanos(1),
                host: Some(HostId(0)),
                kind: TraceKind::Start { restarted: false },
            },
            TraceEvent {
                time: SimTime::from_nanos(2),
                host: Some(HostId(1)),
                kind: TraceKind::Deliver {
                    from: HostId(0),
                    payload: b"hello world",
                },
            },
        ];
        assert_eq!(hash(&base), hash(&base));
        assert_eq!(hash(&base).len(), 32);
        let mut other = base;
        other[1].kind = TraceKind::Deliver {
            from: HostId(0),
            payload: b"hello worle",
        };
        assert_ne!(hash(&base), hash(&other));
        let mut other = base;
        other[0].time = SimTime::from_nanos(0);
        assert_ne!(hash(&base), hash(&other));
        assert_ne!(hash(&base), hash(&base[..1]));
        assert_ne!(hash(&base), hash(&[base[1], base[0]]), "order matters");
    }

    #[test]
    fn byte_boundaries_matter() {
        let mut a = TraceHasher::default();
        a.bytes(b"ab");
        a.bytes(b"c");
        let mut b = TraceHasher::default();
        b.bytes(b"a");
        b.bytes(b"bc");
        assert_ne!(a.hex(), b.hex());
    }
}
