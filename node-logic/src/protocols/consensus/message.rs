//! Consensus messages and their wire encoding.
//!
//! Every message is a [`Signed`] body: a [`SignedEnvelope`] whose body names
//! its sender (so a message relayed inside a certificate still says who
//! signed it) and whose domain string is the message kind's own, so a
//! signature made for one kind can never pass as another. A datagram is
//! `[version][Consensus][kind][envelope]` (plus, for a view change, the
//! prepared certificate it summarizes).
//!
//! Decoding is strict and bounded: counts are checked against
//! [`MAX_VALIDATORS`] and [`MAX_SYNC_BLOCKS`] before anything is
//! allocated, trailing bytes are refused, and nothing panics. Signatures
//! are not checked by decoding; see [`Signed::check`].

use crate::HostId;
use crate::codec::{DecodeError, Reader, Writer};
use crate::envelope::SignedEnvelope;
use crate::identity::Identity;
use crate::io::RejectReason;
use crate::protocols::ProtocolTag;
use crate::protocols::consensus::block::{Block, Hash32};
use crate::protocols::consensus::certificate::{CommitCertificate, PreparedCertificate};
use crate::protocols::consensus::config::{MAX_VALIDATORS, ValidatorSet};
use crate::protocols::consensus::verify::SignatureVerifier;
use crate::wire::frame;

/// Most blocks in one [`SyncResponse`].
pub const MAX_SYNC_BLOCKS: usize = 32;

const PRE_PREPARE_DOMAIN: &[u8] = b"sim/consensus/pre-prepare/v1";
const PREPARE_DOMAIN: &[u8] = b"sim/consensus/prepare/v1";
const COMMIT_DOMAIN: &[u8] = b"sim/consensus/commit/v1";
const VIEW_CHANGE_DOMAIN: &[u8] = b"sim/consensus/view-change/v1";
const NEW_VIEW_DOMAIN: &[u8] = b"sim/consensus/new-view/v1";
const SYNC_REQUEST_DOMAIN: &[u8] = b"sim/consensus/sync-request/v1";
const SYNC_RESPONSE_DOMAIN: &[u8] = b"sim/consensus/sync-response/v1";

const KIND_PRE_PREPARE: u8 = 1;
const KIND_PREPARE: u8 = 2;
const KIND_COMMIT: u8 = 3;
const KIND_VIEW_CHANGE: u8 = 4;
const KIND_NEW_VIEW: u8 = 5;
const KIND_SYNC_REQUEST: u8 = 6;
const KIND_SYNC_RESPONSE: u8 = 7;

/// A message body that can be signed: it names its sender and its domain.
pub trait Body: Sized {
    /// The domain string its signature is made in.
    fn domain(&self) -> &'static [u8];
    /// The validator that claims to have signed it.
    fn sender(&self) -> HostId;
    /// Appends the body's encoding.
    fn encode_into(&self, w: &mut Writer);
    /// Reads a body written by [`Body::encode_into`].
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// A body `T` in the [`SignedEnvelope`] its sender sealed it in. Only
/// [`Signed::check`] says whether it is authentic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed<T> {
    envelope: SignedEnvelope,
    value: T,
}

impl<T: Body> Signed<T> {
    /// Encodes `value` and signs it with `identity` in the value's domain.
    pub fn seal(identity: &Identity, value: T) -> Self {
        let mut w = Writer::default();
        value.encode_into(&mut w);
        let envelope = SignedEnvelope::seal(identity, value.domain(), w.finish());
        Signed { envelope, value }
    }
    /// Tells `verifier` that this was signed here, with the signer's secret
    /// (see [`SignatureVerifier::signed`]).
    pub fn vouch(&self, verifier: &dyn SignatureVerifier) {
        let e = &self.envelope;
        verifier.signed(&e.signer, self.value.domain(), &e.body, &e.signature);
    }
    /// Reads the body out of `envelope` (all of it: trailing bytes are an
    /// error). The signature is not checked.
    pub fn from_envelope(envelope: SignedEnvelope) -> Result<Self, DecodeError> {
        let mut r = Reader::new(&envelope.body)?;
        let value = T::decode(&mut r)?;
        r.finish()?;
        Ok(Signed { envelope, value })
    }
    /// Reads an envelope and its body.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_envelope(SignedEnvelope::decode(r)?)
    }
    /// Appends the envelope's wire form.
    pub fn encode_into(&self, w: &mut Writer) {
        self.envelope.encode_into(w);
    }
    /// The decoded body.
    pub fn value(&self) -> &T {
        &self.value
    }
    /// The envelope as received.
    pub fn envelope(&self) -> &SignedEnvelope {
        &self.envelope
    }
    /// Whether the claimed sender is a validator (else `NotAMember`), the
    /// envelope's signer is that validator's key (else `WrongKey`) and the
    /// signature verifies (else `BadSignature`). One call to `verifier`.
    pub fn check(
        &self,
        validators: &ValidatorSet,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), RejectReason> {
        let key = validators
            .key(self.value.sender())
            .ok_or(RejectReason::NotAMember)?;
        if *key != self.envelope.signer {
            return Err(RejectReason::WrongKey);
        }
        if verifier.verify(
            key,
            self.value.domain(),
            &self.envelope.body,
            &self.envelope.signature,
        ) {
            Ok(())
        } else {
            Err(RejectReason::BadSignature)
        }
    }
}

/// The two kinds of vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VoteKind {
    /// "I accept the leader's proposal."
    Prepare,
    /// "A quorum accepted it (I hold a prepared certificate)."
    Commit,
}

/// A vote for one block at one `(view, height)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// Prepare or commit.
    pub kind: VoteKind,
    /// Who votes.
    pub voter: HostId,
    /// The view the vote is cast in.
    pub view: u64,
    /// The block's height.
    pub height: u64,
    /// The block's hash.
    pub block_hash: Hash32,
}

impl Body for Vote {
    fn domain(&self) -> &'static [u8] {
        match self.kind {
            VoteKind::Prepare => PREPARE_DOMAIN,
            VoteKind::Commit => COMMIT_DOMAIN,
        }
    }
    fn sender(&self) -> HostId {
        self.voter
    }
    fn encode_into(&self, w: &mut Writer) {
        let kind = match self.kind {
            VoteKind::Prepare => KIND_PREPARE,
            VoteKind::Commit => KIND_COMMIT,
        };
        w.u8(kind)
            .u32(self.voter.0)
            .u64(self.view)
            .u64(self.height)
            .array(&self.block_hash.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let kind = match r.u8()? {
            KIND_PREPARE => VoteKind::Prepare,
            KIND_COMMIT => VoteKind::Commit,
            other => return Err(DecodeError::UnknownKind(other)),
        };
        Ok(Vote {
            kind,
            voter: HostId(r.u32()?),
            view: r.u64()?,
            height: r.u64()?,
            block_hash: Hash32(r.array()?),
        })
    }
}

/// The leader's proposal of `block` in `view`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrePrepare {
    /// The leader of `view` (who signs). A re-proposal after a view change
    /// carries the original proposer inside `block`.
    pub leader: HostId,
    /// The view.
    pub view: u64,
    /// The proposed block.
    pub block: Block,
}

impl Body for PrePrepare {
    fn domain(&self) -> &'static [u8] {
        PRE_PREPARE_DOMAIN
    }
    fn sender(&self) -> HostId {
        self.leader
    }
    fn encode_into(&self, w: &mut Writer) {
        w.u32(self.leader.0).u64(self.view);
        self.block.encode_into(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PrePrepare {
            leader: HostId(r.u32()?),
            view: r.u64()?,
            block: Block::decode(r)?,
        })
    }
}

/// What a prepared certificate is for, as a view change states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PreparedSummary {
    /// The view the block was prepared in.
    pub view: u64,
    /// The block's height.
    pub height: u64,
    /// The block's hash.
    pub block_hash: Hash32,
}

/// "I leave my view for `new_view`": the sender's finalized height and a
/// summary of its highest prepared certificate above it. The certificate
/// itself travels beside the signed body (see
/// [`ConsensusMessage::ViewChange`]) and is checked against the summary, so
/// a new-view message can carry a quorum of signed view changes and only
/// the one certificate it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewChange {
    /// Who leaves.
    pub sender: HostId,
    /// The view it moves to.
    pub new_view: u64,
    /// Its finalized height.
    pub finalized_height: u64,
    /// Its highest prepared certificate, for height `finalized_height + 1`.
    pub prepared: Option<PreparedSummary>,
}

impl Body for ViewChange {
    fn domain(&self) -> &'static [u8] {
        VIEW_CHANGE_DOMAIN
    }
    fn sender(&self) -> HostId {
        self.sender
    }
    fn encode_into(&self, w: &mut Writer) {
        w.u32(self.sender.0)
            .u64(self.new_view)
            .u64(self.finalized_height);
        match &self.prepared {
            None => {
                w.u8(0);
            }
            Some(p) => {
                w.u8(1).u64(p.view).u64(p.height).array(&p.block_hash.0);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sender = HostId(r.u32()?);
        let new_view = r.u64()?;
        let finalized_height = r.u64()?;
        let prepared = match r.u8()? {
            0 => None,
            1 => Some(PreparedSummary {
                view: r.u64()?,
                height: r.u64()?,
                block_hash: Hash32(r.array()?),
            }),
            _ => return Err(DecodeError::InvalidField),
        };
        // A prepared certificate is only ever reported for the next height,
        // and from a view before the one the sender moves to.
        if let Some(p) = &prepared
            && (Some(p.height) != finalized_height.checked_add(1) || p.view >= new_view)
        {
            return Err(DecodeError::InvalidField);
        }
        Ok(ViewChange {
            sender,
            new_view,
            finalized_height,
            prepared,
        })
    }
}

/// The new leader's proof that `view` may start, and its first proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewView {
    /// The leader of `view`.
    pub leader: HostId,
    /// The view that starts.
    pub view: u64,
    /// At least a quorum of view changes to `view` from distinct validators.
    pub view_changes: Vec<Signed<ViewChange>>,
    /// The certificate behind the highest prepared summary among
    /// `view_changes` at the proposal's height, if there is one.
    pub prepared: Option<PreparedCertificate>,
    /// The proposal for height `max(finalized_height) + 1`: the block of
    /// `prepared` if present, else a new block.
    pub proposal: Signed<PrePrepare>,
}

impl Body for NewView {
    fn domain(&self) -> &'static [u8] {
        NEW_VIEW_DOMAIN
    }
    fn sender(&self) -> HostId {
        self.leader
    }
    fn encode_into(&self, w: &mut Writer) {
        w.u32(self.leader.0).u64(self.view);
        w.u32(self.view_changes.len() as u32);
        for vc in &self.view_changes {
            vc.encode_into(w);
        }
        match &self.prepared {
            None => {
                w.u8(0);
            }
            Some(c) => {
                w.u8(1);
                c.encode_into(w);
            }
        }
        self.proposal.encode_into(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let leader = HostId(r.u32()?);
        let view = r.u64()?;
        let count = bounded_count(r, MAX_VALIDATORS)?;
        let mut view_changes = Vec::with_capacity(count);
        for _ in 0..count {
            view_changes.push(Signed::decode(r)?);
        }
        let prepared = decode_option(r, PreparedCertificate::decode)?;
        let proposal = Signed::decode(r)?;
        Ok(NewView {
            leader,
            view,
            view_changes,
            prepared,
            proposal,
        })
    }
}

/// "Send me your finalized blocks from `from_height` on."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRequest {
    /// Who asks.
    pub sender: HostId,
    /// The first height it lacks.
    pub from_height: u64,
}

impl Body for SyncRequest {
    fn domain(&self) -> &'static [u8] {
        SYNC_REQUEST_DOMAIN
    }
    fn sender(&self) -> HostId {
        self.sender
    }
    fn encode_into(&self, w: &mut Writer) {
        w.u32(self.sender.0).u64(self.from_height);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SyncRequest {
            sender: HostId(r.u32()?),
            from_height: r.u64()?,
        })
    }
}

/// Finalized blocks in height order, each with the commit certificate
/// that finalized it (at most [`MAX_SYNC_BLOCKS`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncResponse {
    /// Who answers.
    pub sender: HostId,
    /// The blocks and their certificates.
    pub blocks: Vec<(Block, CommitCertificate)>,
}

impl Body for SyncResponse {
    fn domain(&self) -> &'static [u8] {
        SYNC_RESPONSE_DOMAIN
    }
    fn sender(&self) -> HostId {
        self.sender
    }
    fn encode_into(&self, w: &mut Writer) {
        w.u32(self.sender.0).u32(self.blocks.len() as u32);
        for (block, cert) in &self.blocks {
            block.encode_into(w);
            cert.encode_into(w);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sender = HostId(r.u32()?);
        let count = bounded_count(r, MAX_SYNC_BLOCKS)?;
        let mut blocks = Vec::with_capacity(count);
        for _ in 0..count {
            blocks.push((Block::decode(r)?, CommitCertificate::decode(r)?));
        }
        Ok(SyncResponse { sender, blocks })
    }
}

/// One consensus datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsensusMessage {
    /// A leader's proposal.
    PrePrepare(Signed<PrePrepare>),
    /// A prepare vote.
    Prepare(Signed<Vote>),
    /// A commit vote.
    Commit(Signed<Vote>),
    /// A view change with the certificate its summary names.
    ViewChange {
        /// The signed view change.
        view_change: Signed<ViewChange>,
        /// Present exactly when `view_change` reports a prepared block.
        certificate: Option<PreparedCertificate>,
    },
    /// A new view.
    NewView(Signed<NewView>),
    /// A catch-up request.
    SyncRequest(Signed<SyncRequest>),
    /// A catch-up answer.
    SyncResponse(Signed<SyncResponse>),
}

impl ConsensusMessage {
    /// The validator the message says it comes from.
    pub fn sender(&self) -> HostId {
        match self {
            ConsensusMessage::PrePrepare(m) => m.value().sender(),
            ConsensusMessage::Prepare(m) | ConsensusMessage::Commit(m) => m.value().sender(),
            ConsensusMessage::ViewChange { view_change, .. } => view_change.value().sender(),
            ConsensusMessage::NewView(m) => m.value().sender(),
            ConsensusMessage::SyncRequest(m) => m.value().sender(),
            ConsensusMessage::SyncResponse(m) => m.value().sender(),
        }
    }

    /// The datagram for this message.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = frame(ProtocolTag::Consensus, 256);
        match self {
            ConsensusMessage::PrePrepare(m) => {
                w.u8(KIND_PRE_PREPARE);
                m.encode_into(&mut w);
            }
            ConsensusMessage::Prepare(m) => {
                w.u8(KIND_PREPARE);
                m.encode_into(&mut w);
            }
            ConsensusMessage::Commit(m) => {
                w.u8(KIND_COMMIT);
                m.encode_into(&mut w);
            }
            ConsensusMessage::ViewChange {
                view_change,
                certificate,
            } => {
                w.u8(KIND_VIEW_CHANGE);
                view_change.encode_into(&mut w);
                match certificate {
                    None => {
                        w.u8(0);
                    }
                    Some(c) => {
                        w.u8(1);
                        c.encode_into(&mut w);
                    }
                }
            }
            ConsensusMessage::NewView(m) => {
                w.u8(KIND_NEW_VIEW);
                m.encode_into(&mut w);
            }
            ConsensusMessage::SyncRequest(m) => {
                w.u8(KIND_SYNC_REQUEST);
                m.encode_into(&mut w);
            }
            ConsensusMessage::SyncResponse(m) => {
                w.u8(KIND_SYNC_RESPONSE);
                m.encode_into(&mut w);
            }
        }
        w.finish()
    }

    /// Decodes a body whose header [`crate::wire::open`] has checked.
    /// Signatures are not checked here.
    pub fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let message = match r.u8()? {
            KIND_PRE_PREPARE => ConsensusMessage::PrePrepare(Signed::decode(&mut r)?),
            kind @ (KIND_PREPARE | KIND_COMMIT) => {
                let vote: Signed<Vote> = Signed::decode(&mut r)?;
                match (kind, vote.value().kind) {
                    (KIND_PREPARE, VoteKind::Prepare) => ConsensusMessage::Prepare(vote),
                    (KIND_COMMIT, VoteKind::Commit) => ConsensusMessage::Commit(vote),
                    _ => return Err(DecodeError::InvalidField),
                }
            }
            KIND_VIEW_CHANGE => {
                let view_change: Signed<ViewChange> = Signed::decode(&mut r)?;
                let certificate = decode_option(&mut r, PreparedCertificate::decode)?;
                if view_change.value().prepared.is_some() != certificate.is_some() {
                    return Err(DecodeError::InvalidField);
                }
                ConsensusMessage::ViewChange {
                    view_change,
                    certificate,
                }
            }
            KIND_NEW_VIEW => ConsensusMessage::NewView(Signed::decode(&mut r)?),
            KIND_SYNC_REQUEST => ConsensusMessage::SyncRequest(Signed::decode(&mut r)?),
            KIND_SYNC_RESPONSE => ConsensusMessage::SyncResponse(Signed::decode(&mut r)?),
            other => return Err(DecodeError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(message)
    }
}

/// Reads a `u32` count and refuses one above `max`.
pub(crate) fn bounded_count(r: &mut Reader<'_>, max: usize) -> Result<usize, DecodeError> {
    let count = r.u32()? as usize;
    if count > max {
        return Err(DecodeError::InvalidField);
    }
    Ok(count)
}

fn decode_option<T>(
    r: &mut Reader<'_>,
    decode: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => decode(r).map(Some),
        _ => Err(DecodeError::InvalidField),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::PublicKey;
    use crate::protocols::consensus::verify::DirectVerifier;
    use crate::time::SimTime;
    use crate::wire::open;

    fn id(i: u32) -> Identity {
        Identity::from_secret([i as u8 + 1; 32])
    }

    fn set(n: u32) -> ValidatorSet {
        let members: Vec<(HostId, PublicKey)> =
            (0..n).map(|i| (HostId(i), id(i).public_key())).collect();
        ValidatorSet::new(&members, None)
    }

    fn block(height: u64) -> Block {
        Block {
            height,
            parent: Hash32::ZERO,
            proposer: HostId(0),
            payload: Block::payload_digest(height, 0, HostId(0), 1),
            proposed_at: SimTime::from_nanos(5),
        }
    }

    fn vote(kind: VoteKind, voter: u32, hash: Hash32) -> Signed<Vote> {
        Signed::seal(
            &id(voter),
            Vote {
                kind,
                voter: HostId(voter),
                view: 0,
                height: 1,
                block_hash: hash,
            },
        )
    }

    /// The largest new-view message [`MAX_VALIDATORS`] validators make (a
    /// quorum of view changes with prepared summaries, a certificate of a
    /// quorum of prepares) fits a message and decodes. Signed items are
    /// copies of one (decoding checks no signature or distinctness).
    #[test]
    fn the_largest_new_view_fits_a_message() {
        let q = crate::protocols::consensus::quorum(MAX_VALIDATORS);
        let b = block(1);
        let pp = Signed::seal(
            &id(0),
            PrePrepare {
                leader: HostId(u32::MAX),
                view: u64::MAX,
                block: b.clone(),
            },
        );
        let summary = PreparedSummary {
            view: u64::MAX - 1,
            height: u64::MAX,
            block_hash: b.hash(),
        };
        let vc = Signed::seal(
            &id(1),
            ViewChange {
                sender: HostId(u32::MAX),
                new_view: u64::MAX,
                finalized_height: u64::MAX - 1,
                prepared: Some(summary),
            },
        );
        let prepares = vec![vote(VoteKind::Prepare, 2, b.hash()); q];
        let nv = ConsensusMessage::NewView(Signed::seal(
            &id(1),
            NewView {
                leader: HostId(u32::MAX),
                view: u64::MAX,
                view_changes: vec![vc; q],
                prepared: Some(PreparedCertificate {
                    pre_prepare: pp.clone(),
                    prepares,
                }),
                proposal: pp,
            },
        ));
        let bytes = nv.encode();
        assert!(bytes.len() > crate::codec::MAX_DATAGRAM, "{}", bytes.len());
        assert!(
            bytes.len() <= crate::codec::MAX_MESSAGE / 2,
            "{}",
            bytes.len()
        );
        let (_, r) = open(&bytes).unwrap();
        assert!(ConsensusMessage::decode(r).unwrap() == nv);
    }

    pub(crate) fn samples() -> Vec<ConsensusMessage> {
        let b = block(1);
        let pp = Signed::seal(
            &id(0),
            PrePrepare {
                leader: HostId(0),
                view: 0,
                block: b.clone(),
            },
        );
        let prepares: Vec<_> = (0..3)
            .map(|i| vote(VoteKind::Prepare, i, b.hash()))
            .collect();
        let commits: Vec<_> = (0..3)
            .map(|i| vote(VoteKind::Commit, i, b.hash()))
            .collect();
        let cert = PreparedCertificate {
            pre_prepare: pp.clone(),
            prepares: prepares.clone(),
        };
        let vc = Signed::seal(
            &id(1),
            ViewChange {
                sender: HostId(1),
                new_view: 1,
                finalized_height: 0,
                prepared: Some(PreparedSummary {
                    view: 0,
                    height: 1,
                    block_hash: b.hash(),
                }),
            },
        );
        let nv = Signed::seal(
            &id(1),
            NewView {
                leader: HostId(1),
                view: 1,
                view_changes: vec![vc.clone()],
                prepared: Some(cert.clone()),
                proposal: Signed::seal(
                    &id(1),
                    PrePrepare {
                        leader: HostId(1),
                        view: 1,
                        block: b.clone(),
                    },
                ),
            },
        );
        vec![
            ConsensusMessage::PrePrepare(pp),
            ConsensusMessage::Prepare(prepares[0].clone()),
            ConsensusMessage::Commit(commits[0].clone()),
            ConsensusMessage::ViewChange {
                view_change: vc,
                certificate: Some(cert),
            },
            ConsensusMessage::NewView(nv),
            ConsensusMessage::SyncRequest(Signed::seal(
                &id(2),
                SyncRequest {
                    sender: HostId(2),
                    from_height: 4,
                },
            )),
            ConsensusMessage::SyncResponse(Signed::seal(
                &id(3),
                SyncResponse {
                    sender: HostId(3),
                    blocks: vec![(b, CommitCertificate { votes: commits })],
                },
            )),
        ]
    }

    fn decode(bytes: &[u8]) -> Result<ConsensusMessage, DecodeError> {
        let (tag, r) = open(bytes)?;
        assert_eq!(tag, ProtocolTag::Consensus);
        ConsensusMessage::decode(r)
    }

    #[test]
    fn every_message_round_trips_and_every_truncation_fails() {
        for m in samples() {
            let bytes = m.encode();
            assert_eq!(decode(&bytes).unwrap(), m);
            for cut in 2..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "{m:?} cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(decode(&longer), Err(DecodeError::TrailingBytes));
        }
    }

    #[test]
    fn signatures_check_sender_key_and_domain() {
        let set = set(4);
        let v = vote(VoteKind::Prepare, 1, Hash32([1; 32]));
        assert_eq!(v.check(&set, &DirectVerifier), Ok(()));
        // Signed by host 2's key but claiming to be host 1.
        let wrong_key = Signed::seal(
            &id(2),
            Vote {
                voter: HostId(1),
                ..v.value().clone()
            },
        );
        assert_eq!(
            wrong_key.check(&set, &DirectVerifier),
            Err(RejectReason::WrongKey)
        );
        // A non-validator.
        let outsider = vote(VoteKind::Prepare, 9, Hash32([1; 32]));
        assert_eq!(
            outsider.check(&set, &DirectVerifier),
            Err(RejectReason::NotAMember)
        );
        // A prepare's signature does not make a commit.
        let mut relabelled = v.envelope().clone();
        relabelled.body[0] = KIND_COMMIT;
        let commit: Signed<Vote> = Signed::from_envelope(relabelled).unwrap();
        assert_eq!(commit.value().kind, VoteKind::Commit);
        assert_eq!(
            commit.check(&set, &DirectVerifier),
            Err(RejectReason::BadSignature)
        );
    }

    #[test]
    fn mismatched_kinds_counts_and_summaries_are_refused() {
        // A commit inside a prepare datagram.
        let commit = vote(VoteKind::Commit, 1, Hash32([1; 32]));
        let mut bytes = ConsensusMessage::Commit(commit).encode();
        bytes[2] = KIND_PREPARE;
        assert_eq!(decode(&bytes), Err(DecodeError::InvalidField));
        // A count above the bound is refused before allocating.
        let mut w = frame(ProtocolTag::Consensus, 0);
        let mut body = Writer::default();
        body.u32(3).u32(u32::MAX);
        let env = SignedEnvelope::seal(&id(3), SYNC_RESPONSE_DOMAIN, body.finish());
        w.u8(KIND_SYNC_RESPONSE);
        env.encode_into(&mut w);
        assert_eq!(decode(&w.finish()), Err(DecodeError::InvalidField));
        // A view change whose summary is not for the next height.
        let vc = ViewChange {
            sender: HostId(1),
            new_view: 2,
            finalized_height: 5,
            prepared: Some(PreparedSummary {
                view: 1,
                height: 5,
                block_hash: Hash32::ZERO,
            }),
        };
        let mut body = Writer::default();
        vc.encode_into(&mut body);
        let bytes = body.finish();
        assert_eq!(
            ViewChange::decode(&mut Reader::new(&bytes).unwrap()),
            Err(DecodeError::InvalidField)
        );
    }
}
