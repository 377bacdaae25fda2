//! The Sans-IO vocabulary: what a driver feeds a node ([`Input`]) and what a
//! node asks its driver to do ([`Output`]).
//!
//! # The calling contract
//!
//! A driver owns the clock, the network, the files and the entropy. It:
//!
//! 1. calls [`Node::handle_input`] with the current time, one [`Input`] and
//!    the host's RNG;
//! 2. then drains [`Node::poll_output`] until it returns `None`, carrying out
//!    each [`Output`] in order;
//! 3. repeats with the next input. A node never blocks and never calls back.
//!
//! Timers are named by [`TimerId`]: setting a timer that is already set moves
//! it, so a host has at most one pending timer per id. When it fires the
//! driver feeds [`Input::Timer`]; a node must treat a timer it no longer
//! expects as a no-op. File operations complete later with an
//! [`Input::File`] result. Messages are byte strings: a node encodes what it
//! sends and must survive anything it receives (bad input is dropped and
//! recorded, never a panic).
//!
//! The simulator (`sim-core`) and the real-process runtime (`sim node`) are
//! the two drivers; both honour this contract, so the same node runs in both.

use rand_core::Rng;

use crate::HostId;
use crate::time::SimTime;

/// A protocol state machine that a driver runs. See the module docs for the
/// calling contract.
pub trait Node {
    /// Feed one input observed at `now`. `rng` is the host's own stream; a
    /// node draws all its randomness from it.
    fn handle_input(&mut self, now: SimTime, input: Input, rng: &mut dyn Rng);

    /// The next thing the node wants done, or `None` when it has nothing more
    /// until the next input.
    fn poll_output(&mut self) -> Option<Output>;
}

/// Something that happened to a host, fed to [`Node::handle_input`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// The host boots. `restarted` is true after a crash: memory state is
    /// new, files written before the crash are still there.
    Start {
        /// Whether this is a restart after a crash.
        restarted: bool,
    },
    /// A datagram arrived.
    Message {
        /// The host that sent it, as the transport saw it.
        from: HostId,
        /// The bytes as sent; may be anything.
        payload: Vec<u8>,
    },
    /// A timer the node set has expired.
    Timer(TimerId),
    /// A file operation the node asked for has completed (boxed: file
    /// results are rare and large; messages and timers stay small).
    File(Box<FileResult>),
    /// A watched directory changed (see [`FileOp::Watch`]).
    FileChanged {
        /// The path that was created, modified, renamed to or deleted.
        path: String,
    },
    /// Fault injection: the driver turns Byzantine behaviour of this host on
    /// or off (for consensus: an equivocating validator, see
    /// [`crate::consensus::Validator::set_misbehaving`]). It models a
    /// compromised host; it never comes from the network, and honest runs
    /// never feed it.
    Misbehave {
        /// Whether the host misbehaves from now on.
        on: bool,
    },
}

/// Something a node wants done, drained with [`Node::poll_output`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Send a datagram (best effort: it may be delayed, dropped or cut off by
    /// a partition).
    Send {
        /// The destination host.
        to: HostId,
        /// The encoded message.
        payload: Vec<u8>,
    },
    /// Set (or move) the timer `timer` to expire at `at`.
    SetTimer {
        /// Which timer.
        timer: TimerId,
        /// When it expires; a time in the past fires as soon as possible.
        at: SimTime,
    },
    /// Cancel the timer if it is set.
    CancelTimer(TimerId),
    /// Operate on the shared directory (boxed: file operations are rare
    /// and large; sends and timers stay small).
    File(Box<FileOp>),
    /// Record an observation for the reports (no effect on the run).
    Record(Observation),
}

/// The timers a host can have; each protocol owns its variants. A host has at
/// most one pending timer per id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TimerId {
    /// Peer registry: send heartbeats, retry hellos, drop stale peers.
    PeerHeartbeat,
    /// Registrar: look at the shared directory again (poll, backoff or the
    /// watch strategy's safety poll).
    RegistrationCheck,
    /// Registrar: stop waiting and carry on with the miners it has.
    RegistrationTimeout,
    /// Registrar: report progress.
    RegistrationProgress,
    /// Miner: write the registration file again (re-registration, with backoff).
    MinerRewrite,
    /// Consensus: the leader's next proposal is due.
    ConsensusPropose,
    /// Consensus: the view has made no progress for too long; change view.
    ConsensusViewTimer,
    /// A workload timer with an index, for tests and benchmarks of drivers.
    Workload(u32),
}

impl TimerId {
    /// A stable small number for the trace hash and CSV output.
    pub fn code(self) -> u64 {
        match self {
            TimerId::PeerHeartbeat => 1,
            TimerId::RegistrationCheck => 2,
            TimerId::RegistrationTimeout => 3,
            TimerId::RegistrationProgress => 4,
            TimerId::MinerRewrite => 5,
            TimerId::ConsensusPropose => 6,
            TimerId::ConsensusViewTimer => 7,
            TimerId::Workload(i) => (1 << 32) | u64::from(i),
        }
    }
    /// A stable name for CSV output.
    pub fn name(self) -> &'static str {
        match self {
            TimerId::PeerHeartbeat => "peer-heartbeat",
            TimerId::RegistrationCheck => "registration-check",
            TimerId::RegistrationTimeout => "registration-timeout",
            TimerId::RegistrationProgress => "registration-progress",
            TimerId::MinerRewrite => "miner-rewrite",
            TimerId::ConsensusPropose => "consensus-propose",
            TimerId::ConsensusViewTimer => "consensus-view-timer",
            TimerId::Workload(_) => "workload",
        }
    }
}

/// How a file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Write a temporary file, then rename it over the target: readers see
    /// the old content or the new, never a mix.
    Atomic,
    /// Truncate and write in place: a reader that overlaps the write sees a
    /// prefix of the new content (a torn write).
    InPlace,
}

/// An operation on the shared directory. Paths are relative to it, `/`
/// separated; `..` and absolute paths are refused by every driver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOp {
    /// Create or replace a file.
    Write {
        /// Target path.
        path: String,
        /// The whole new content.
        bytes: Vec<u8>,
        /// Atomic or torn.
        mode: WriteMode,
    },
    /// Read a whole file.
    Read {
        /// The path.
        path: String,
    },
    /// List the names in a directory (`""` is the shared directory itself).
    List {
        /// The directory.
        dir: String,
    },
    /// Rename a file, replacing the target.
    Rename {
        /// Old path.
        from: String,
        /// New path.
        to: String,
    },
    /// Delete a file.
    Delete {
        /// The path.
        path: String,
    },
    /// Be told ([`Input::FileChanged`]) of every later change in `dir`.
    Watch {
        /// The directory (`""` is the shared directory itself).
        dir: String,
    },
}

/// The completion of a [`FileOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileResult {
    /// A write finished (for [`WriteMode::Atomic`], after the rename).
    Written {
        /// Target path.
        path: String,
        /// Outcome.
        result: Result<(), FsError>,
    },
    /// A read finished.
    Read {
        /// The path.
        path: String,
        /// The bytes as they were when the read completed.
        result: Result<Vec<u8>, FsError>,
    },
    /// A listing finished: names, sorted.
    Listed {
        /// The directory.
        dir: String,
        /// The names in it.
        result: Result<Vec<String>, FsError>,
    },
    /// A rename finished.
    Renamed {
        /// Old path.
        from: String,
        /// New path.
        to: String,
        /// Outcome.
        result: Result<(), FsError>,
    },
    /// A delete finished.
    Deleted {
        /// The path.
        path: String,
        /// Outcome.
        result: Result<(), FsError>,
    },
    /// The watch is in place.
    Watching {
        /// The directory.
        dir: String,
    },
}

/// Why a file operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// No such file or directory.
    #[error("not found")]
    NotFound,
    /// The path is absolute, empty or leaves the shared directory.
    #[error("invalid path")]
    InvalidPath,
    /// Anything else the real filesystem said.
    #[error("io error: {0}")]
    Io(String),
}

/// What a protocol observed, for the reports. Observations never change the
/// run; they are how metrics are computed from what actually happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observation {
    /// A peer answered a signed hello: it is now known and live.
    PeerUp {
        /// The peer.
        peer: HostId,
    },
    /// A peer is no longer live: silent for `stale_after`, or banned while
    /// it was up (then recorded right after [`Observation::PeerBanned`]).
    PeerDown {
        /// The peer.
        peer: HostId,
    },
    /// A peer's score fell to the ban threshold: everything from it is
    /// dropped, unrecorded, until the ban ends. Recorded once per ban.
    PeerBanned {
        /// The peer.
        peer: HostId,
    },
    /// A peer's ban period ended: it is greeted again and may rejoin.
    PeerUnbanned {
        /// The peer.
        peer: HostId,
    },
    /// Observers of the peer registry inactive for longer than
    /// `observer_stale_after` were removed (recorded only when `removed > 0`).
    ObserversCleaned {
        /// How many.
        removed: u32,
    },
    /// Something the wallet-registration protocol did or saw.
    Registration(crate::registration::RegistrationEvent),
    /// Something the consensus protocol did or saw.
    Consensus(crate::consensus::ConsensusEvent),
    /// A datagram was dropped because it was malformed, forged or misdirected.
    MessageRejected {
        /// The transport-level sender.
        from: HostId,
        /// Why.
        reason: RejectReason,
    },
}

/// Why a received datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Could not be decoded (truncated, bad version, unknown kind, trailing bytes, oversize).
    Malformed,
    /// The signature does not verify.
    BadSignature,
    /// Signed by a key other than the one this host has for the sender.
    WrongKey,
    /// Claims to come from another host than the transport says.
    Misdirected,
    /// From a host that is not a member of this protocol.
    NotAMember,
}

impl RejectReason {
    /// A stable name for CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::BadSignature => "bad-signature",
            RejectReason::WrongKey => "wrong-key",
            RejectReason::Misdirected => "misdirected",
            RejectReason::NotAMember => "not-a-member",
        }
    }
}
