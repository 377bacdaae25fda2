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
///
/// With serde they are externally tagged, snake_case JSON, e.g.
/// `{"registration":{"accepted":{"agent":"miner-0",...}}}`: the form the
/// real-process runtime (`sim node`) logs one per line and `sim collect`
/// reads back into the same values. Host ids are plain numbers, times
/// integer nanoseconds, keys and hashes 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::{ConsensusEvent, EquivocationKind, Hash32};
    use crate::identity::PublicKey;
    use crate::registration::{RegistrationEvent, ValidationErrorKind, WalletSource};

    /// The variant's name; an exhaustive match, so a new variant does not
    /// compile until the samples below cover it.
    fn observation_name(o: &Observation) -> &'static str {
        match o {
            Observation::PeerUp { .. } => "peer_up",
            Observation::PeerDown { .. } => "peer_down",
            Observation::PeerBanned { .. } => "peer_banned",
            Observation::PeerUnbanned { .. } => "peer_unbanned",
            Observation::ObserversCleaned { .. } => "observers_cleaned",
            Observation::Registration(_) => "registration",
            Observation::Consensus(_) => "consensus",
            Observation::MessageRejected { .. } => "message_rejected",
        }
    }

    fn registration_name(e: &RegistrationEvent) -> &'static str {
        match e {
            RegistrationEvent::FileWritten { .. } => "file_written",
            RegistrationEvent::Accepted { .. } => "accepted",
            RegistrationEvent::Invalid { .. } => "invalid",
            RegistrationEvent::Quarantined { .. } => "quarantined",
            RegistrationEvent::RestoredFromBackup { .. } => "restored_from_backup",
            RegistrationEvent::ReRegistrationRequested { .. } => "re_registration_requested",
            RegistrationEvent::Progress { .. } => "progress",
            RegistrationEvent::Ready { .. } => "ready",
        }
    }

    fn consensus_name(e: &ConsensusEvent) -> &'static str {
        match e {
            ConsensusEvent::Proposed { .. } => "proposed",
            ConsensusEvent::Finalized { .. } => "finalized",
            ConsensusEvent::ViewChange { .. } => "view_change",
            ConsensusEvent::Equivocation { .. } => "equivocation",
            ConsensusEvent::CaughtUp { .. } => "caught_up",
        }
    }

    fn registration_samples() -> Vec<RegistrationEvent> {
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(0xa5);
        }
        let mut out = vec![
            RegistrationEvent::FileWritten {
                agent: "miner-0".into(),
                attempt: 3,
            },
            RegistrationEvent::Accepted {
                agent: "miner-1".into(),
                wallet: "0x00112233445566778899aabbccddeeff00112233".into(),
                public_key: Some(PublicKey(key)),
                source: WalletSource::File,
            },
            RegistrationEvent::Accepted {
                agent: "miner-2".into(),
                wallet: "0xffeeddccbbaa99887766554433221100ffeeddcc".into(),
                public_key: None,
                source: WalletSource::Legacy,
            },
            RegistrationEvent::Quarantined {
                agent: "miner-3".into(),
                to: "miner-3.json.corrupted.12000000000".into(),
            },
            RegistrationEvent::RestoredFromBackup {
                agent: "miner-4 \"quoted\" \u{e9}".into(),
            },
            RegistrationEvent::ReRegistrationRequested {
                agent: "miner-5".into(),
            },
            RegistrationEvent::Progress {
                registered: 7,
                expected: 10,
            },
            RegistrationEvent::Ready {
                registered: 8,
                expected: 10,
                timed_out: true,
                missing: vec!["miner-6".into(), "miner-9".into()],
            },
        ];
        out.push(RegistrationEvent::Accepted {
            agent: "miner-7".into(),
            wallet: "0x0000000000000000000000000000000000000000".into(),
            public_key: Some(PublicKey([0xff; 32])),
            source: WalletSource::Backup,
        });
        use ValidationErrorKind as K;
        for error in [
            K::Missing,
            K::Empty,
            K::Unreadable,
            K::InvalidJson,
            K::MissingField,
            K::MistypedField,
            K::BadSignature,
            K::AgentIdMismatch,
            K::WalletMismatch,
            K::DuplicateWallet,
            K::LegacyFormat,
            K::UnknownAgent,
        ] {
            out.push(RegistrationEvent::Invalid {
                agent: format!("miner-{}", error.as_str()),
                error,
            });
        }
        out
    }

    fn consensus_samples() -> Vec<ConsensusEvent> {
        let mut out = vec![
            ConsensusEvent::Proposed {
                height: 12,
                view: 3,
                hash: Hash32([0xab; 32]),
            },
            ConsensusEvent::Finalized {
                height: u64::MAX,
                hash: Hash32([0x01; 32]),
                view: 4,
                proposer: HostId(u32::MAX),
                proposed_at: SimTime::NEVER,
                via_sync: true,
            },
            ConsensusEvent::Finalized {
                height: 1,
                hash: Hash32::ZERO,
                view: 0,
                proposer: HostId(2),
                proposed_at: SimTime::from_nanos(1_250_000_001),
                via_sync: false,
            },
            ConsensusEvent::ViewChange {
                from_view: 5,
                to_view: 6,
            },
            ConsensusEvent::CaughtUp { to_height: 99 },
        ];
        for kind in [
            EquivocationKind::PrePrepare,
            EquivocationKind::Prepare,
            EquivocationKind::Commit,
        ] {
            out.push(ConsensusEvent::Equivocation {
                offender: HostId(3),
                view: 7,
                height: 8,
                kind,
            });
        }
        out
    }

    fn observation_samples() -> Vec<Observation> {
        let mut out = vec![
            Observation::PeerUp { peer: HostId(1) },
            Observation::PeerDown { peer: HostId(2) },
            Observation::PeerBanned { peer: HostId(3) },
            Observation::PeerUnbanned { peer: HostId(4) },
            Observation::ObserversCleaned { removed: 5 },
        ];
        for reason in [
            RejectReason::Malformed,
            RejectReason::BadSignature,
            RejectReason::WrongKey,
            RejectReason::Misdirected,
            RejectReason::NotAMember,
        ] {
            out.push(Observation::MessageRejected {
                from: HostId(6),
                reason,
            });
        }
        out.extend(
            registration_samples()
                .into_iter()
                .map(Observation::Registration),
        );
        out.extend(consensus_samples().into_iter().map(Observation::Consensus));
        out
    }

    fn round_trip(o: &Observation) {
        let text = serde_json::to_string(o).unwrap();
        assert!(!text.contains('\n'), "one observation per line: {text}");
        let back: Observation = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, o, "{text}");
    }

    #[test]
    fn every_observation_variant_round_trips_through_json() {
        let samples = observation_samples();
        let mut seen = std::collections::BTreeSet::new();
        for o in &samples {
            round_trip(o);
            seen.insert(observation_name(o));
            match o {
                Observation::Registration(e) => {
                    seen.insert(registration_name(e));
                }
                Observation::Consensus(e) => {
                    seen.insert(consensus_name(e));
                }
                _ => {}
            }
        }
        // 8 observation, 8 registration and 5 consensus variant names.
        assert_eq!(seen.len(), 8 + 8 + 5, "{seen:?}");
    }

    #[test]
    fn json_is_externally_tagged_snake_case() {
        let key = PublicKey([0x0f; 32]);
        let accepted = Observation::Registration(RegistrationEvent::Accepted {
            agent: "miner-1".into(),
            wallet: "0xab".into(),
            public_key: Some(key),
            source: WalletSource::Backup,
        });
        assert_eq!(
            serde_json::to_string(&accepted).unwrap(),
            format!(
                r#"{{"registration":{{"accepted":{{"agent":"miner-1","wallet":"0xab","public_key":"{}","source":"backup"}}}}}}"#,
                "0f".repeat(32)
            )
        );
        let finalized = Observation::Consensus(ConsensusEvent::Finalized {
            height: 2,
            hash: Hash32([0xa0; 32]),
            view: 1,
            proposer: HostId(3),
            proposed_at: SimTime::from_nanos(1_500),
            via_sync: false,
        });
        assert_eq!(
            serde_json::to_string(&finalized).unwrap(),
            format!(
                r#"{{"consensus":{{"finalized":{{"height":2,"hash":"{}","view":1,"proposer":3,"proposed_at":1500,"via_sync":false}}}}}}"#,
                "a0".repeat(32)
            )
        );
        let rejected = Observation::MessageRejected {
            from: HostId(4),
            reason: RejectReason::NotAMember,
        };
        assert_eq!(
            serde_json::to_string(&rejected).unwrap(),
            r#"{"message_rejected":{"from":4,"reason":"not_a_member"}}"#
        );
    }

    #[test]
    fn unknown_variants_and_fields_of_the_wrong_type_are_errors() {
        for text in [
            r#"{"peer_sideways":{"peer":1}}"#,
            r#"{"peer_up":{"peer":-1}}"#,
            r#"{"peer_up":{"peer":"1"}}"#,
            r#"{"peer_up":{}}"#,
            r#"{"message_rejected":{"from":1,"reason":"rude"}}"#,
            r#"{"consensus":{"caught_up":{"to_height":1.5}}}"#,
            "",
            "[",
        ] {
            assert!(serde_json::from_str::<Observation>(text).is_err(), "{text}");
        }
    }
}
