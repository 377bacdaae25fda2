//! What the consensus protocol reports (wrapped in
//! [`crate::io::Observation::Consensus`]).

use crate::HostId;
use crate::consensus::block::Hash32;
use crate::time::SimTime;

/// One consensus observation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
