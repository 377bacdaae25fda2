//! What the consensus protocol reports (wrapped in
//! [`crate::protocols::Observation::Consensus`]).

use crate::HostId;
use crate::observe::{Described, Description, TraceWriter, Traced};
use crate::protocols::consensus::block::Hash32;
use crate::time::SimTime;

/// One consensus observation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsensusEvent {
    /// This validator, as leader, proposed a block (a new one, or the
    /// re-proposal a new view requires).
    Proposed {
        /// The block's height.
        height: u64,
        /// The view.
        view: u64,
        /// The block's hash.
        hash: Hash32,
    },
    /// This validator finalized a block: a commit certificate for it is
    /// known and every lower height is finalized.
    Finalized {
        /// The block's height.
        height: u64,
        /// The block's hash.
        hash: Hash32,
        /// The view of the commit certificate.
        view: u64,
        /// Who proposed the block.
        proposer: HostId,
        /// When it was proposed (finalization latency = now - this).
        proposed_at: SimTime,
        /// Learned through catch-up rather than by taking part.
        via_sync: bool,
    },
    /// This validator entered a new view (view numbers only grow).
    ViewChange {
        /// The view it left.
        from_view: u64,
        /// The view it entered.
        to_view: u64,
    },
    /// Evidence: `offender` validly signed two different blocks for one
    /// `(kind, view, height)`. Reported once per such tuple.
    Equivocation {
        /// The equivocating validator.
        offender: HostId,
        /// The view.
        view: u64,
        /// The height.
        height: u64,
        /// What it signed twice.
        kind: EquivocationKind,
    },
    /// Catch-up finalized blocks up to `to_height` from one response.
    CaughtUp {
        /// The finalized height afterwards.
        to_height: u64,
    },
    /// This validator, as leader, filled a block from its mempool
    /// (with client load only): which transactions the block carries.
    BlockTxs {
        /// The block's hash.
        hash: Hash32,
        /// Its payload digest (names its body).
        payload: Hash32,
        /// Each transaction's submitting host and nonce, in block order.
        txs: Vec<(HostId, u64)>,
    },
    /// This validator received and checked the body (transactions) of a
    /// proposed block (with client load only).
    BodyReceived {
        /// The block's height.
        height: u64,
        /// The body's payload digest.
        payload: Hash32,
    },
    /// This validator's mempool after a finalization (with client load
    /// only); the counters run from the validator's start.
    Mempool {
        /// Transactions held.
        txs: u64,
        /// Their bytes.
        bytes: u64,
        /// The most transactions held since the previous sample.
        peak: u64,
        /// Transactions dropped for space so far.
        evicted: u64,
        /// Transactions and bodies refused so far (bad signature, replay,
        /// duplicate, malformed, over the limits).
        rejected: u64,
    },
}

/// The kind of message a validator signed twice.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EquivocationKind {
    /// Two proposals from one leader.
    PrePrepare,
    /// Two prepares.
    Prepare,
    /// Two commits.
    Commit,
}

impl EquivocationKind {
    /// A stable name for CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            EquivocationKind::PrePrepare => "pre-prepare",
            EquivocationKind::Prepare => "prepare",
            EquivocationKind::Commit => "commit",
        }
    }
}

impl Traced for ConsensusEvent {
    fn trace(&self, out: &mut impl TraceWriter) {
        match self {
            ConsensusEvent::Proposed { height, view, hash } => {
                out.word(1);
                out.word(*height);
                out.word(*view);
                out.bytes(&hash.0);
            }
            ConsensusEvent::Finalized {
                height,
                hash,
                view,
                proposer,
                proposed_at,
                via_sync,
            } => {
                out.word(2);
                out.word(*height);
                out.bytes(&hash.0);
                out.word(*view);
                out.word(u64::from(proposer.0));
                out.word(proposed_at.as_nanos());
                out.word(u64::from(*via_sync));
            }
            ConsensusEvent::ViewChange { from_view, to_view } => {
                out.word(3);
                out.word(*from_view);
                out.word(*to_view);
            }
            ConsensusEvent::Equivocation {
                offender,
                view,
                height,
                kind,
            } => {
                out.word(4);
                out.word(u64::from(offender.0));
                out.word(*view);
                out.word(*height);
                out.bytes(kind.as_str().as_bytes());
            }
            ConsensusEvent::CaughtUp { to_height } => {
                out.word(5);
                out.word(*to_height);
            }
            ConsensusEvent::BlockTxs { hash, payload, txs } => {
                out.word(6);
                out.bytes(&hash.0);
                out.bytes(&payload.0);
                out.word(txs.len() as u64);
                for (client, nonce) in txs {
                    out.word(u64::from(client.0));
                    out.word(*nonce);
                }
            }
            ConsensusEvent::BodyReceived { height, payload } => {
                out.word(7);
                out.word(*height);
                out.bytes(&payload.0);
            }
            ConsensusEvent::Mempool {
                txs,
                bytes,
                peak,
                evicted,
                rejected,
            } => {
                out.word(8);
                for w in [txs, bytes, peak, evicted, rejected] {
                    out.word(*w);
                }
            }
        }
    }
}

impl Described for ConsensusEvent {
    fn describe(&self) -> Description {
        match self {
            ConsensusEvent::Proposed { height, view, hash } => {
                Description::new("consensus-proposed")
                    .detail(format!("height {height} view {view} {hash:?}"))
            }
            ConsensusEvent::Finalized {
                height,
                hash,
                view,
                proposer,
                via_sync,
                ..
            } => Description::new("consensus-finalized")
                .host(*proposer)
                .detail(format!(
                    "height {height} view {view} {hash:?}{}",
                    if *via_sync { " via sync" } else { "" }
                )),
            ConsensusEvent::ViewChange { from_view, to_view } => {
                Description::new("consensus-view-change")
                    .detail(format!("{from_view} -> {to_view}"))
            }
            ConsensusEvent::Equivocation {
                offender,
                view,
                height,
                kind,
            } => Description::new("consensus-equivocation")
                .host(*offender)
                .detail(format!("{} at height {height} view {view}", kind.as_str())),
            ConsensusEvent::CaughtUp { to_height } => {
                Description::new("consensus-caught-up").detail(format!("height {to_height}"))
            }
            ConsensusEvent::BlockTxs { hash, txs, .. } => Description::new("consensus-block-txs")
                .detail(format!("{hash:?} {} transactions", txs.len())),
            ConsensusEvent::BodyReceived { height, payload } => {
                Description::new("consensus-body-received")
                    .detail(format!("height {height} {payload:?}"))
            }
            ConsensusEvent::Mempool {
                txs,
                bytes,
                evicted,
                rejected,
                ..
            } => Description::new("consensus-mempool").detail(format!(
                "{txs} transactions {bytes} bytes, evicted {evicted}, rejected {rejected}"
            )),
        }
    }
}

/// One of each event, for the tests of every layer that encodes
/// observations.
#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    pub(crate) fn name(e: &ConsensusEvent) -> &'static str {
        match e {
            ConsensusEvent::Proposed { .. } => "proposed",
            ConsensusEvent::Finalized { .. } => "finalized",
            ConsensusEvent::ViewChange { .. } => "view_change",
            ConsensusEvent::Equivocation { .. } => "equivocation",
            ConsensusEvent::CaughtUp { .. } => "caught_up",
            ConsensusEvent::BlockTxs { .. } => "block_txs",
            ConsensusEvent::BodyReceived { .. } => "body_received",
            ConsensusEvent::Mempool { .. } => "mempool",
        }
    }

    pub(crate) fn all() -> Vec<ConsensusEvent> {
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
            ConsensusEvent::BlockTxs {
                hash: Hash32([0x0c; 32]),
                payload: Hash32([0x0d; 32]),
                txs: vec![(HostId(9), 0), (HostId(9), 1), (HostId(10), 0)],
            },
            ConsensusEvent::BodyReceived {
                height: 3,
                payload: Hash32([0x0d; 32]),
            },
            ConsensusEvent::Mempool {
                txs: 10,
                bytes: 2500,
                peak: 12,
                evicted: 1,
                rejected: 2,
            },
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

    #[test]
    fn the_samples_cover_every_variant() {
        let names: std::collections::BTreeSet<&str> = all().iter().map(name).collect();
        assert_eq!(names.len(), 8, "{names:?}");
    }
}
