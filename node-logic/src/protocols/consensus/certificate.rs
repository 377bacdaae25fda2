//! Certificates: sets of signed votes that prove a quorum agreed.
//!
//! A [`PreparedCertificate`] (the leader's pre-prepare and a quorum of
//! prepares for one `(view, height, hash)`) proves a block was prepared;
//! view changes carry it so a new leader re-proposes that block. A
//! [`CommitCertificate`] (a quorum of commits for one `(view, height,
//! hash)`) proves a block was finalized; catch-up carries it.

use std::collections::BTreeSet;

use crate::HostId;
use crate::codec::{DecodeError, Reader, Writer};
use crate::io::RejectReason;
use crate::protocols::consensus::block::Hash32;
use crate::protocols::consensus::config::{MAX_VALIDATORS, ValidatorSet};
use crate::protocols::consensus::message::{PrePrepare, Signed, Vote, VoteKind, bounded_count};
use crate::protocols::consensus::verify::SignatureVerifier;

/// Why a certificate is not valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Fewer distinct votes than the quorum.
    #[error("{have} votes, quorum is {need}")]
    TooFew {
        /// Votes present.
        have: usize,
        /// Votes needed.
        need: usize,
    },
    /// One validator signed twice.
    #[error("duplicate vote from {0}")]
    Duplicate(HostId),
    /// A vote of the wrong kind, or for another view, height or hash.
    #[error("votes disagree")]
    Mismatch,
    /// The pre-prepare does not come from the view's leader.
    #[error("pre-prepare not from the view's leader")]
    NotLeader,
    /// A signature failed: the signer is not a validator, used another
    /// key, or the signature does not verify.
    #[error("bad signature: {}", .0.as_str())]
    Signature(RejectReason),
}

impl CertError {
    /// The rejection recorded for a message carrying this certificate.
    pub fn reject_reason(self) -> RejectReason {
        match self {
            CertError::Signature(reason) => reason,
            _ => RejectReason::Malformed,
        }
    }
}

/// The leader's proposal and a quorum of prepares for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedCertificate {
    /// The proposal.
    pub pre_prepare: Signed<PrePrepare>,
    /// Prepares for `(pre_prepare.view, block.height, block.hash())`.
    pub prepares: Vec<Signed<Vote>>,
}

impl PreparedCertificate {
    /// The view the block was prepared in.
    pub fn view(&self) -> u64 {
        self.pre_prepare.value().view
    }
    /// The block's height.
    pub fn height(&self) -> u64 {
        self.pre_prepare.value().block.height
    }
    /// The block's hash.
    pub fn block_hash(&self) -> Hash32 {
        self.pre_prepare.value().block.hash()
    }

    /// Checks the pre-prepare (signed by the leader of its view) and that
    /// the prepares are a quorum of distinct validators' valid signatures,
    /// all for the pre-prepare's `(view, height, hash)`.
    pub fn validate(
        &self,
        validators: &ValidatorSet,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), CertError> {
        let pp = self.pre_prepare.value();
        if validators.leader(pp.view) != Some(pp.leader) {
            return Err(CertError::NotLeader);
        }
        self.pre_prepare
            .check(validators, verifier)
            .map_err(CertError::Signature)?;
        validate_votes(
            &self.prepares,
            VoteKind::Prepare,
            (pp.view, pp.block.height, pp.block.hash()),
            validators,
            verifier,
        )
    }

    /// Appends the wire form.
    pub fn encode_into(&self, w: &mut Writer) {
        self.pre_prepare.encode_into(w);
        encode_votes(&self.prepares, w);
    }
    /// Reads the wire form (signatures unchecked).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PreparedCertificate {
            pre_prepare: Signed::decode(r)?,
            prepares: decode_votes(r)?,
        })
    }
}

/// A quorum of commits for one `(view, height, hash)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitCertificate {
    /// The commits.
    pub votes: Vec<Signed<Vote>>,
}

impl CommitCertificate {
    /// `(view, height, hash)` of the first vote (all agree once validated).
    pub fn target(&self) -> Option<(u64, u64, Hash32)> {
        self.votes.first().map(|v| {
            let v = v.value();
            (v.view, v.height, v.block_hash)
        })
    }

    /// Checks that the commits are a quorum of distinct validators' valid
    /// signatures, all for one `(view, height, hash)`.
    pub fn validate(
        &self,
        validators: &ValidatorSet,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), CertError> {
        let target = self.target().ok_or(CertError::TooFew {
            have: 0,
            need: validators.quorum(),
        })?;
        validate_votes(&self.votes, VoteKind::Commit, target, validators, verifier)
    }

    /// Appends the wire form.
    pub fn encode_into(&self, w: &mut Writer) {
        encode_votes(&self.votes, w);
    }
    /// Reads the wire form (signatures unchecked).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CommitCertificate {
            votes: decode_votes(r)?,
        })
    }
}

/// The shared check. Cheap checks first: signatures are verified only
/// once the votes are known to agree, be distinct and be enough.
fn validate_votes(
    votes: &[Signed<Vote>],
    kind: VoteKind,
    (view, height, hash): (u64, u64, Hash32),
    validators: &ValidatorSet,
    verifier: &dyn SignatureVerifier,
) -> Result<(), CertError> {
    let mut voters = BTreeSet::new();
    for vote in votes {
        let v = vote.value();
        if v.kind != kind || v.view != view || v.height != height || v.block_hash != hash {
            return Err(CertError::Mismatch);
        }
        if !voters.insert(v.voter) {
            return Err(CertError::Duplicate(v.voter));
        }
    }
    if voters.len() < validators.quorum() {
        return Err(CertError::TooFew {
            have: voters.len(),
            need: validators.quorum(),
        });
    }
    for vote in votes {
        vote.check(validators, verifier)
            .map_err(CertError::Signature)?;
    }
    Ok(())
}

fn encode_votes(votes: &[Signed<Vote>], w: &mut Writer) {
    w.u32(votes.len() as u32);
    for vote in votes {
        vote.encode_into(w);
    }
}

fn decode_votes(r: &mut Reader<'_>) -> Result<Vec<Signed<Vote>>, DecodeError> {
    let count = bounded_count(r, MAX_VALIDATORS)?;
    let mut votes = Vec::with_capacity(count);
    for _ in 0..count {
        votes.push(Signed::decode(r)?);
    }
    Ok(votes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Identity, PublicKey};
    use crate::protocols::consensus::block::Block;
    use crate::protocols::consensus::verify::DirectVerifier;
    use crate::time::SimTime;

    fn id(i: u32) -> Identity {
        Identity::from_secret([i as u8 + 1; 32])
    }

    fn set() -> ValidatorSet {
        let members: Vec<(HostId, PublicKey)> =
            (0..4).map(|i| (HostId(i), id(i).public_key())).collect();
        ValidatorSet::new(&members, None)
    }

    fn block() -> Block {
        Block {
            height: 1,
            parent: Hash32::ZERO,
            proposer: HostId(0),
            payload: Hash32([3; 32]),
            proposed_at: SimTime::ZERO,
        }
    }

    fn vote(kind: VoteKind, voter: u32, view: u64, hash: Hash32) -> Signed<Vote> {
        Signed::seal(
            &id(voter),
            Vote {
                kind,
                voter: HostId(voter),
                view,
                height: 1,
                block_hash: hash,
            },
        )
    }

    fn commits(voters: &[u32]) -> CommitCertificate {
        CommitCertificate {
            votes: voters
                .iter()
                .map(|&v| vote(VoteKind::Commit, v, 0, block().hash()))
                .collect(),
        }
    }

    #[test]
    fn commit_certificate_accepts_a_quorum_of_distinct_valid_votes() {
        let set = set();
        assert_eq!(commits(&[0, 1, 2]).validate(&set, &DirectVerifier), Ok(()));
        assert_eq!(
            commits(&[3, 1, 2, 0]).validate(&set, &DirectVerifier),
            Ok(())
        );
    }

    #[test]
    fn commit_certificate_rejects_every_defect() {
        let set = set();
        let v = DirectVerifier;
        assert_eq!(
            commits(&[0, 1]).validate(&set, &v),
            Err(CertError::TooFew { have: 2, need: 3 })
        );
        assert_eq!(
            commits(&[0, 1, 1]).validate(&set, &v),
            Err(CertError::Duplicate(HostId(1)))
        );
        assert_eq!(
            commits(&[0, 1, 7]).validate(&set, &v),
            Err(CertError::Signature(RejectReason::NotAMember))
        );
        // A forged signature: host 2's vote with a flipped signature bit.
        let mut forged = commits(&[0, 1, 2]);
        let mut env = forged.votes[2].envelope().clone();
        env.signature[0] ^= 1;
        forged.votes[2] = Signed::from_envelope(env).unwrap();
        assert_eq!(
            forged.validate(&set, &v),
            Err(CertError::Signature(RejectReason::BadSignature))
        );
        // Signed by another validator's key.
        let mut wrong_key = commits(&[0, 1]);
        wrong_key.votes.push(Signed::seal(
            &id(3),
            Vote {
                voter: HostId(2),
                ..wrong_key.votes[0].value().clone()
            },
        ));
        assert_eq!(
            wrong_key.validate(&set, &v),
            Err(CertError::Signature(RejectReason::WrongKey))
        );
        // Mixed hashes, mixed views, a prepare among commits.
        let mut mixed = commits(&[0, 1]);
        mixed
            .votes
            .push(vote(VoteKind::Commit, 2, 0, Hash32([9; 32])));
        assert_eq!(mixed.validate(&set, &v), Err(CertError::Mismatch));
        let mut views = commits(&[0, 1]);
        views
            .votes
            .push(vote(VoteKind::Commit, 2, 1, block().hash()));
        assert_eq!(views.validate(&set, &v), Err(CertError::Mismatch));
        let mut kinds = commits(&[0, 1]);
        kinds
            .votes
            .push(vote(VoteKind::Prepare, 2, 0, block().hash()));
        assert_eq!(kinds.validate(&set, &v), Err(CertError::Mismatch));
        assert!(matches!(
            CommitCertificate { votes: vec![] }.validate(&set, &v),
            Err(CertError::TooFew { have: 0, .. })
        ));
    }

    #[test]
    fn prepared_certificate_checks_the_leader_and_the_prepares() {
        let set = set();
        let v = DirectVerifier;
        let pp = |leader: u32, view: u64| {
            Signed::seal(
                &id(leader),
                PrePrepare {
                    leader: HostId(leader),
                    view,
                    block: block(),
                },
            )
        };
        let prepares = |voters: &[u32], view: u64| -> Vec<_> {
            voters
                .iter()
                .map(|&i| vote(VoteKind::Prepare, i, view, block().hash()))
                .collect()
        };
        let good = PreparedCertificate {
            pre_prepare: pp(1, 1),
            prepares: prepares(&[1, 2, 3], 1),
        };
        assert_eq!(good.validate(&set, &v), Ok(()));
        assert_eq!((good.view(), good.height()), (1, 1));
        // Not the leader of view 1.
        let not_leader = PreparedCertificate {
            pre_prepare: pp(2, 1),
            ..good.clone()
        };
        assert_eq!(not_leader.validate(&set, &v), Err(CertError::NotLeader));
        // Prepares from another view.
        let other_view = PreparedCertificate {
            prepares: prepares(&[1, 2, 3], 0),
            ..good.clone()
        };
        assert_eq!(other_view.validate(&set, &v), Err(CertError::Mismatch));
        let too_few = PreparedCertificate {
            prepares: prepares(&[1, 2], 1),
            ..good.clone()
        };
        assert!(matches!(
            too_few.validate(&set, &v),
            Err(CertError::TooFew { .. })
        ));
        // Round trip.
        let mut w = Writer::default();
        good.encode_into(&mut w);
        let bytes = w.finish();
        let mut r = Reader::new(&bytes).unwrap();
        assert_eq!(PreparedCertificate::decode(&mut r).unwrap(), good);
    }
}
