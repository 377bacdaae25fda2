//! The validator state machine: PBFT-style pre-prepare / prepare / commit
//! over a chain of blocks, view change on timeout, catch-up by sync, and
//! equivocation evidence.
//!
//! # Normal case
//!
//! A validator works on one height at a time: `finalized_height() + 1`.
//! The leader of the current view (`validators[view mod n]`) proposes it
//! once it has finalized the previous height and `block_interval` has
//! passed since that finalization (or since the start): it signs a
//! pre-prepare and sends it to every other validator. A validator that
//! accepts the pre-prepare (from the view's leader, for its next height,
//! on its tip, in its active view) broadcasts a prepare; with a quorum of
//! matching prepares (its own included) it holds a prepared certificate
//! and broadcasts a commit; with a quorum of matching commits it
//! **finalizes** the block, frees that height's votes and moves on. The
//! leader prepares its own proposal like everyone else.
//!
//! # View change
//!
//! The view timer (`TimerId::Consensus(ConsensusTimer::View)`) is re-armed at every
//! finalization to `block_interval + view_timeout`. If it expires, the
//! validator moves to view `v + 1` (inactive: no voting until a new-view
//! message) and broadcasts a signed view change stating its finalized
//! height and a summary of its highest prepared certificate, with the
//! certificate beside it. If no new-view message comes in time, it moves
//! on to the next view only if a quorum (itself included) is changing view
//! with it (the new leader failed); otherwise it is cut off from a quorum
//! and repeats its view change instead, so a lone validator never runs
//! ahead into views nobody else reaches. Each failed view doubles the
//! timeout (up to 2^6 times `view_timeout`); a finalization resets it.
//! A validator that sees view changes from `f + 1`
//! validators for views above its own joins the highest view that `f + 1`
//! of them have reached. The leader of view `w`, once it holds a quorum of
//! view changes to `w` (its own and those with the lowest finalized
//! heights), computes `H = max(finalized height) + 1` among them and sends
//! a new-view message: the view changes, the certificate behind the
//! highest prepared summary at height `H` (if any), and a pre-prepare that
//! re-proposes that certificate's block — or a new block when no summary
//! is at `H`. Followers check all of it before entering the view and
//! preparing. Quorum intersection makes this safe: a block finalized at
//! `H` was prepared by `f + 1` honest validators, one of which is in any
//! quorum of view changes and reports it (or a later re-proposal of it).
//!
//! A validator still in an old view (its view change names a view it has
//! already passed, e.g. after a crash) is sent the new-view message of the
//! current view and the blocks it lacks, at most once per `sync_retry`
//! (`view_timeout / 2`) per validator.
//!
//! # Catch-up
//!
//! A validly signed message for a height beyond the next one, a view
//! change reporting a higher finalized height, or a commit quorum for a
//! block this validator never received makes it send a sync request to
//! that validator (at most one per `sync_retry`). The answer carries up to
//! [`MAX_SYNC_BLOCKS`] finalized blocks with their commit certificates
//! (from the last [`SYNC_HISTORY`] blocks the responder keeps); each
//! certificate is checked before the block is finalized, in order. After
//! a useful answer the validator asks again at once.
//!
//! # Limits (bounded memory)
//!
//! Votes are kept for the current height only, for views within
//! [`VIEW_WINDOW`] of the current one (one per voter, kind and view), and
//! freed at finalization. Messages for later heights or views wait in a
//! buffer of at most `8 n` entries (the highest are dropped first, and
//! counted). One view change is kept per validator. [`Validator::chain`]
//! keeps the last [`CHAIN_RETAIN`] to `2 * CHAIN_RETAIN` hashes.
//!
//! # Known limitations
//!
//! Equivocating proposals are seen (and reported) only by a validator
//! that receives both; a leader that sends each half of the validators
//! its own block is exposed by its double votes when it also votes, and
//! otherwise only costs a view change. A validator more than
//! [`SYNC_HISTORY`] blocks behind cannot catch up (no state transfer).
//! Responders answer every authentic sync request (a faulty validator
//! can make them send blocks it does not need).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use rand_core::Rng;

use crate::HostId;
use crate::codec::{MAX_DATAGRAM, Reader};
use crate::identity::Identity;
use crate::io::RejectReason;
use crate::outbox::Outbox;
use crate::protocols::consensus::ConsensusTimer;
use crate::protocols::consensus::block::{BLOCK_LEN, Block, Hash32};
use crate::protocols::consensus::certificate::{CommitCertificate, PreparedCertificate};
use crate::protocols::consensus::config::{
    ConsensusConfig, MAX_TIMEOUT_DOUBLINGS, MAX_VALIDATORS, ValidatorSet,
};
use crate::protocols::consensus::message::{
    ConsensusMessage, MAX_SYNC_BLOCKS, NewView, PrePrepare, PreparedSummary, Signed, SyncRequest,
    SyncResponse, ViewChange, Vote, VoteKind,
};
use crate::protocols::consensus::observe::{ConsensusEvent, EquivocationKind};
use crate::protocols::consensus::verify::{Counting, SignatureVerifier};
use crate::protocols::{Observation, TimerId};
use crate::time::{SimDuration, SimTime};

/// Votes are kept for views `view - VIEW_WINDOW ..= view` of the current
/// height; older ones are dropped.
pub const VIEW_WINDOW: u64 = 4;
/// Finalized blocks (with certificates) kept to answer sync requests.
pub const SYNC_HISTORY: usize = 256;
/// [`Validator::chain`] keeps between this many and twice this many hashes.
pub const CHAIN_RETAIN: usize = 4096;
/// Bytes of blocks and certificates per sync response (below
/// [`MAX_DATAGRAM`], leaving room for the envelope).
const SYNC_BYTES: usize = MAX_DATAGRAM - 4096;

/// Counters a validator keeps, for tests and statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsensusStats {
    /// Datagrams dropped as malformed, forged, misdirected or from
    /// non-validators (each also recorded as `MessageRejected`).
    pub rejected: u64,
    /// Authentic messages ignored: stale, duplicate, or not acceptable
    /// (wrong leader, wrong parent).
    pub ignored: u64,
    /// Buffered messages dropped because the buffer was full.
    pub buffer_dropped: u64,
    /// Equivocations detected (reported once each).
    pub equivocations: u64,
    /// Sync requests sent.
    pub sync_requests: u64,
    /// Sync responses sent.
    pub sync_responses: u64,
}

/// An authentic message waiting for its height or view.
#[derive(Clone, Debug)]
enum Buffered {
    PrePrepare {
        pp: Signed<PrePrepare>,
        via_new_view: bool,
    },
    Vote(Signed<Vote>),
}

/// Votes and proposals for the current height (all views in the window).
#[derive(Debug, Default)]
struct Round {
    /// The first valid proposal of each view's leader.
    proposals: BTreeMap<u64, Signed<PrePrepare>>,
    /// Votes by `(kind, view, hash)`, then voter.
    votes: BTreeMap<(VoteKind, u64, Hash32), BTreeMap<HostId, Signed<Vote>>>,
    /// The hash each voter first voted for, by `(kind, view, voter)`.
    first_vote: BTreeMap<(VoteKind, u64, HostId), Hash32>,
    /// Equivocations already reported: `(offender, view, kind)`.
    reported: BTreeSet<(HostId, u64, EquivocationKind)>,
    /// Views this validator prepared / committed in.
    prepared_in: BTreeSet<u64>,
    committed_in: BTreeSet<u64>,
    /// `(view, hash)` a misbehaving validator has double-voted for.
    byzantine_votes: BTreeSet<(u64, Hash32)>,
}

impl Round {
    fn vote_count(&self) -> usize {
        self.votes.values().map(BTreeMap::len).sum()
    }
    fn prune_below(&mut self, view: u64) {
        self.proposals.retain(|&v, _| v >= view);
        self.votes.retain(|&(_, v, _), _| v >= view);
        self.first_vote.retain(|&(_, v, _), _| v >= view);
    }
}

/// One validator's consensus state. Drive it through
/// [`crate::host_node::HostNode`] or directly with its `handle_*` methods
/// (each takes `now`, the host's RNG and the [`Outbox`] to fill). The
/// module docs describe the protocol.
#[derive(Debug)]
pub struct Validator {
    me: HostId,
    set: ValidatorSet,
    identity: Identity,
    verifier: Rc<dyn SignatureVerifier>,
    verifications: Cell<u64>,
    block_interval: SimDuration,
    view_timeout: SimDuration,
    /// Member of a large enough set: takes part at all.
    enabled: bool,
    misbehaving: bool,

    finalized_height: u64,
    tip: Hash32,
    chain: Vec<Hash32>,
    chain_offset: u64,
    history: VecDeque<(Block, CommitCertificate)>,
    last_finalized_at: SimTime,

    view: u64,
    /// A new-view message (or the start, for view 0) opened the view.
    view_active: bool,
    /// The height proposed by the current view's new-view message.
    new_view_height: u64,
    new_view: Option<Signed<NewView>>,
    failed_views: u32,
    view_changes: BTreeMap<HostId, (Signed<ViewChange>, Option<PreparedCertificate>)>,

    round: Round,
    prepared: Option<PreparedCertificate>,
    future: BTreeMap<(u64, u64, u64), (HostId, Buffered)>,
    future_seq: u64,
    /// Finalized since the last settle: redo proposal, view-change work.
    progressed: bool,

    propose_at: Option<SimTime>,
    view_deadline: Option<SimTime>,
    sync_allowed_at: SimTime,
    helped_at: BTreeMap<HostId, SimTime>,

    stats: ConsensusStats,
}

impl Validator {
    /// A validator for `config.me`, signing with `identity` and checking
    /// every signature through `verifier`. It stays idle (takes no part)
    /// if `me` is not in the set or the set has fewer than
    /// `max(3, min_validators)` or more than [`MAX_VALIDATORS`] members.
    pub fn new(
        config: ConsensusConfig,
        identity: Identity,
        verifier: Rc<dyn SignatureVerifier>,
    ) -> Self {
        let set = ValidatorSet::new(&config.validators, config.quorum_override);
        let min = config.min_validators.max(3) as usize;
        let enabled = set.contains(config.me) && set.len() >= min && set.len() <= MAX_VALIDATORS;
        Validator {
            me: config.me,
            set,
            identity,
            verifier,
            verifications: Cell::new(0),
            block_interval: config.block_interval,
            view_timeout: config.view_timeout,
            enabled,
            misbehaving: false,
            finalized_height: 0,
            tip: Hash32::ZERO,
            chain: Vec::new(),
            chain_offset: 0,
            history: VecDeque::new(),
            last_finalized_at: SimTime::ZERO,
            view: 0,
            view_active: true,
            new_view_height: 0,
            new_view: None,
            failed_views: 0,
            view_changes: BTreeMap::new(),
            round: Round::default(),
            prepared: None,
            future: BTreeMap::new(),
            future_seq: 0,
            progressed: false,
            propose_at: None,
            view_deadline: None,
            sync_allowed_at: SimTime::ZERO,
            helped_at: BTreeMap::new(),
            stats: ConsensusStats::default(),
        }
    }

    // ------------------------------------------------------------------
    // Inputs

    /// The host boots (state is always new: a restarted validator catches
    /// up by sync). Arms the view timer and, for the leader of view 0, the
    /// first proposal.
    pub fn handle_start(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        if !self.enabled {
            return;
        }
        self.last_finalized_at = now;
        self.arm_view_timer(now + self.block_interval + self.view_timeout, out);
        self.schedule_proposal(now, out);
        self.settle(now, rng, out);
    }

    /// A consensus timer fired; spurious or moved timers are no-ops.
    pub fn handle_timer(
        &mut self,
        now: SimTime,
        timer: ConsensusTimer,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        if !self.enabled {
            return;
        }
        match timer {
            ConsensusTimer::Propose => {
                if let Some(at) = self.propose_at {
                    if now < at {
                        out.set_timer(TimerId::Consensus(ConsensusTimer::Propose), at);
                    } else {
                        self.propose_at = None;
                        self.propose(now, rng, out);
                    }
                }
            }
            ConsensusTimer::View => {
                if let Some(at) = self.view_deadline {
                    if now < at {
                        out.set_timer(TimerId::Consensus(ConsensusTimer::View), at);
                    } else {
                        self.view_timer_expired(now, out);
                    }
                }
            }
        }
        self.settle(now, rng, out);
    }

    /// Turns Byzantine behaviour on or off (fault injection; see
    /// [`crate::io::Input::Misbehave`]). While on, as leader it sends two
    /// different proposals for one `(view, height)` to the two halves of
    /// the other validators, and as a voter it prepares and commits every
    /// block it sees.
    pub fn set_misbehaving(&mut self, on: bool) {
        self.misbehaving = on;
    }

    /// A consensus datagram arrived from `from` (header already checked);
    /// `body` is its undecoded body. Anything malformed, forged, misdirected
    /// or from a non-validator is dropped and recorded.
    pub fn handle_message(
        &mut self,
        now: SimTime,
        from: HostId,
        body: Reader<'_>,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        if !self.enabled || !self.set.contains(from) || from == self.me {
            return self.reject(from, RejectReason::NotAMember, out);
        }
        let message = match ConsensusMessage::decode(body) {
            Ok(m) => m,
            Err(_) => return self.reject(from, RejectReason::Malformed, out),
        };
        // A new-view message is self-certifying (signed by the view's
        // leader, carrying a quorum of signed view changes), so validators
        // relay it to those left behind; everything else must come from
        // whoever signed it.
        let relayable = matches!(message, ConsensusMessage::NewView(_));
        if message.sender() != from && !relayable {
            return self.reject(from, RejectReason::Misdirected, out);
        }
        let checked = match &message {
            ConsensusMessage::PrePrepare(m) => self.check(m),
            ConsensusMessage::Prepare(m) | ConsensusMessage::Commit(m) => self.check(m),
            ConsensusMessage::ViewChange { view_change, .. } => self.check(view_change),
            ConsensusMessage::NewView(m) => self.check(m),
            ConsensusMessage::SyncRequest(m) => self.check(m),
            ConsensusMessage::SyncResponse(m) => self.check(m),
        };
        if let Err(reason) = checked {
            return self.reject(from, reason, out);
        }
        match message {
            ConsensusMessage::PrePrepare(pp) => self.on_pre_prepare(now, from, pp, false, out),
            ConsensusMessage::Prepare(vote) | ConsensusMessage::Commit(vote) => {
                self.on_vote(now, from, vote, out)
            }
            ConsensusMessage::ViewChange {
                view_change,
                certificate,
            } => self.on_view_change(now, from, view_change, certificate, rng, out),
            ConsensusMessage::NewView(nv) => self.on_new_view(now, from, nv, out),
            ConsensusMessage::SyncRequest(req) => self.on_sync_request(from, req.value(), out),
            ConsensusMessage::SyncResponse(resp) => self.on_sync_response(now, from, resp, out),
        }
        self.settle(now, rng, out);
    }

    // ------------------------------------------------------------------
    // Queries

    /// The highest finalized height (0 before the first block).
    pub fn finalized_height(&self) -> u64 {
        self.finalized_height
    }
    /// The hash of the last finalized block ([`Hash32::ZERO`] at first).
    pub fn tip(&self) -> Hash32 {
        self.tip
    }
    /// The current view.
    pub fn view(&self) -> u64 {
        self.view
    }
    /// Whether the current view has started (view 0, or a new-view message
    /// was accepted); false while changing view.
    pub fn view_active(&self) -> bool {
        self.view_active
    }
    /// Hashes of the last finalized blocks, oldest first: between
    /// [`CHAIN_RETAIN`] and `2 * CHAIN_RETAIN` of them once the chain is
    /// that long. `chain()[i]` is the block at height
    /// `chain_offset() + i + 1`.
    pub fn chain(&self) -> &[Hash32] {
        &self.chain
    }
    /// Finalized blocks dropped from the front of [`Validator::chain`].
    pub fn chain_offset(&self) -> u64 {
        self.chain_offset
    }
    /// Signed votes held: tallies of the current height plus buffered
    /// messages. Bounded; does not grow with the chain.
    pub fn retained_votes(&self) -> usize {
        self.round.vote_count() + self.future.len()
    }
    /// When the validator next wants a timer input, if ever.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        match (self.propose_at, self.view_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    /// Signature checks asked of the verifier so far (cache hits of an
    /// injected caching verifier included).
    pub fn verifications(&self) -> u64 {
        self.verifications.get()
    }
    /// Counters.
    pub fn stats(&self) -> ConsensusStats {
        self.stats
    }
    /// The validator set with its quorum.
    pub fn validators(&self) -> &ValidatorSet {
        &self.set
    }
    /// Whether this validator takes part (see [`Validator::new`]).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    // ------------------------------------------------------------------
    // Normal case

    fn next_height(&self) -> u64 {
        self.finalized_height + 1
    }

    fn is_leader(&self) -> bool {
        self.set.leader(self.view) == Some(self.me)
    }

    /// Arms the proposal timer if this validator leads the active view and
    /// has not proposed the next height in it.
    fn schedule_proposal(&mut self, now: SimTime, out: &mut Outbox) {
        if !(self.is_leader() && self.view_active)
            || self.round.proposals.contains_key(&self.view)
            || self.propose_at.is_some()
        {
            return;
        }
        let at = (self.last_finalized_at + self.block_interval).max(now);
        self.propose_at = Some(at);
        out.set_timer(TimerId::Consensus(ConsensusTimer::Propose), at);
    }

    fn propose(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        if !(self.is_leader() && self.view_active)
            || self.round.proposals.contains_key(&self.view)
            || self.new_view_height >= self.next_height()
        {
            return;
        }
        let block = self.new_block(now, rng);
        let pp = self.seal_pre_prepare(block);
        if self.misbehaving {
            // Equivocate: another block for the same (view, height) to the
            // second half of the others.
            let other = self.seal_pre_prepare(self.new_block(now, rng));
            let others: Vec<HostId> = self.others().collect();
            let (first, second) = others.split_at(others.len() / 2);
            let first_bytes = ConsensusMessage::PrePrepare(other.clone()).encode();
            for &to in first {
                out.send(to, first_bytes.clone());
            }
            let second_bytes = ConsensusMessage::PrePrepare(pp.clone()).encode();
            for &to in second {
                out.send(to, second_bytes.clone());
            }
            self.record_proposed(&other, out);
            self.record_proposed(&pp, out);
            let (v, h) = (self.view, self.next_height());
            self.byzantine_vote(v, h, pp.value().block.hash(), out);
            self.byzantine_vote(v, h, other.value().block.hash(), out);
        } else {
            self.broadcast(&ConsensusMessage::PrePrepare(pp.clone()), out);
            self.record_proposed(&pp, out);
        }
        self.accept_pre_prepare(now, pp, false, out);
    }

    fn new_block(&self, now: SimTime, rng: &mut dyn Rng) -> Block {
        let height = self.next_height();
        Block {
            height,
            parent: self.tip,
            proposer: self.me,
            payload: Block::payload_digest(height, self.view, self.me, rng.next_u64()),
            proposed_at: now,
        }
    }

    fn seal_pre_prepare(&self, block: Block) -> Signed<PrePrepare> {
        Signed::seal(
            &self.identity,
            PrePrepare {
                leader: self.me,
                view: self.view,
                block,
            },
        )
    }

    fn record_proposed(&self, pp: &Signed<PrePrepare>, out: &mut Outbox) {
        let p = pp.value();
        out.record(Observation::Consensus(ConsensusEvent::Proposed {
            height: p.block.height,
            view: p.view,
            hash: p.block.hash(),
        }));
    }

    /// An authentic pre-prepare (from `from`, possibly this validator).
    fn on_pre_prepare(
        &mut self,
        now: SimTime,
        from: HostId,
        pp: Signed<PrePrepare>,
        via_new_view: bool,
        out: &mut Outbox,
    ) {
        let (view, height) = (pp.value().view, pp.value().block.height);
        if self.set.leader(view) != Some(pp.value().leader) || height < self.next_height() {
            self.stats.ignored += 1;
            return;
        }
        let waits_for_view =
            view > self.view || (view == self.view && !self.view_active && !via_new_view);
        if height > self.next_height() || waits_for_view {
            if height > self.next_height() {
                self.request_sync(now, from, out);
            }
            return self.buffer(
                height,
                view,
                from,
                Buffered::PrePrepare { pp, via_new_view },
            );
        }
        self.accept_pre_prepare(now, pp, via_new_view, out);
    }

    /// A pre-prepare for the next height in the current or an older view.
    fn accept_pre_prepare(
        &mut self,
        now: SimTime,
        pp: Signed<PrePrepare>,
        via_new_view: bool,
        out: &mut Outbox,
    ) {
        let p = pp.value();
        let (view, height, hash) = (p.view, p.block.height, p.block.hash());
        if view.saturating_add(VIEW_WINDOW) < self.view {
            self.stats.ignored += 1;
            return;
        }
        match self.round.proposals.get(&view) {
            Some(first) if first.value().block.hash() != hash => {
                let leader = p.leader;
                return self.equivocation(leader, view, height, EquivocationKind::PrePrepare, out);
            }
            Some(_) if !via_new_view => {
                self.stats.ignored += 1;
                return;
            }
            Some(_) => {}
            None => {
                self.round.proposals.insert(view, pp.clone());
            }
        }
        self.byzantine_vote(view, height, hash, out);
        let acceptable = view == self.view
            && self.view_active
            && (via_new_view || height > self.new_view_height)
            && p.block.parent == self.tip
            && (via_new_view || p.block.proposer == p.leader)
            && !self.round.prepared_in.contains(&view);
        if acceptable {
            self.round.prepared_in.insert(view);
            self.cast(now, VoteKind::Prepare, view, height, hash, out);
        } else {
            self.stats.ignored += 1;
        }
        // Votes may have arrived before the block.
        self.check_prepared(now, view, hash, out);
        self.check_committed(now, view, hash, out);
    }

    /// An authentic vote from `from`.
    fn on_vote(&mut self, now: SimTime, from: HostId, signed: Signed<Vote>, out: &mut Outbox) {
        let v = signed.value();
        let (kind, view, height, hash) = (v.kind, v.view, v.height, v.block_hash);
        if height < self.next_height() {
            self.stats.ignored += 1;
            return;
        }
        if height > self.next_height() || view > self.view {
            if height > self.next_height() {
                self.request_sync(now, from, out);
            }
            return self.buffer(height, view, from, Buffered::Vote(signed));
        }
        if kind == VoteKind::Prepare {
            self.byzantine_vote(view, height, hash, out);
        }
        self.tally(now, signed, out);
    }

    /// Counts a vote for the next height at a view up to the current one.
    fn tally(&mut self, now: SimTime, signed: Signed<Vote>, out: &mut Outbox) {
        let v = signed.value();
        let (kind, voter, view, height, hash) = (v.kind, v.voter, v.view, v.height, v.block_hash);
        // Prepares only matter in the current view; commits of recent views
        // still form certificates.
        if view.saturating_add(VIEW_WINDOW) < self.view
            || (kind == VoteKind::Prepare && view < self.view)
        {
            self.stats.ignored += 1;
            return;
        }
        match self.round.first_vote.get(&(kind, view, voter)) {
            Some(&first) if first != hash => {
                let kind = match kind {
                    VoteKind::Prepare => EquivocationKind::Prepare,
                    VoteKind::Commit => EquivocationKind::Commit,
                };
                return self.equivocation(voter, view, height, kind, out);
            }
            Some(_) => {
                self.stats.ignored += 1;
                return;
            }
            None => {}
        }
        self.round.first_vote.insert((kind, view, voter), hash);
        self.round
            .votes
            .entry((kind, view, hash))
            .or_default()
            .insert(voter, signed);
        match kind {
            VoteKind::Prepare => self.check_prepared(now, view, hash, out),
            VoteKind::Commit => self.check_committed(now, view, hash, out),
        }
    }

    /// With a quorum of prepares for the proposal this validator accepted
    /// in its current view: keep the prepared certificate and commit.
    fn check_prepared(&mut self, now: SimTime, view: u64, hash: Hash32, out: &mut Outbox) {
        if view != self.view
            || !self.view_active
            || !self.round.prepared_in.contains(&view)
            || self.round.committed_in.contains(&view)
        {
            return;
        }
        let Some(pp) = self.round.proposals.get(&view) else {
            return;
        };
        if pp.value().block.hash() != hash {
            return;
        }
        let quorum = self.set.quorum();
        let Some(votes) = self.round.votes.get(&(VoteKind::Prepare, view, hash)) else {
            return;
        };
        if votes.len() < quorum {
            return;
        }
        self.prepared = Some(PreparedCertificate {
            pre_prepare: pp.clone(),
            prepares: votes.values().take(quorum).cloned().collect(),
        });
        self.round.committed_in.insert(view);
        let height = self.next_height();
        self.cast(now, VoteKind::Commit, view, height, hash, out);
    }

    /// With a quorum of commits: finalize if the block is known, else ask a
    /// committer for it.
    fn check_committed(&mut self, now: SimTime, view: u64, hash: Hash32, out: &mut Outbox) {
        let quorum = self.set.quorum();
        let Some(votes) = self.round.votes.get(&(VoteKind::Commit, view, hash)) else {
            return;
        };
        if votes.len() < quorum {
            return;
        }
        let cert = CommitCertificate {
            votes: votes.values().take(quorum).cloned().collect(),
        };
        let block = self
            .round
            .proposals
            .values()
            .map(|pp| &pp.value().block)
            .find(|b| b.hash() == hash)
            .cloned();
        match block {
            Some(block) => self.finalize(now, block, cert, false, out),
            None => {
                let helper = votes.keys().copied().find(|&v| v != self.me);
                if let Some(helper) = helper {
                    self.request_sync(now, helper, out);
                }
            }
        }
    }

    /// Appends `block` (the next height, on the tip) to the chain.
    fn finalize(
        &mut self,
        now: SimTime,
        block: Block,
        cert: CommitCertificate,
        via_sync: bool,
        out: &mut Outbox,
    ) {
        if block.height != self.next_height() || block.parent != self.tip {
            return;
        }
        let hash = block.hash();
        let view = cert.target().map_or(self.view, |(v, _, _)| v);
        out.record(Observation::Consensus(ConsensusEvent::Finalized {
            height: block.height,
            hash,
            view,
            proposer: block.proposer,
            proposed_at: block.proposed_at,
            via_sync,
        }));
        self.finalized_height = block.height;
        self.tip = hash;
        self.chain.push(hash);
        if self.chain.len() >= 2 * CHAIN_RETAIN {
            self.chain.drain(..CHAIN_RETAIN);
            self.chain_offset += CHAIN_RETAIN as u64;
        }
        self.history.push_back((block, cert));
        if self.history.len() > SYNC_HISTORY {
            self.history.pop_front();
        }
        self.last_finalized_at = now;
        self.round = Round::default();
        self.prepared = None;
        self.failed_views = 0;
        self.propose_at = None;
        self.progressed = true;
        self.arm_view_timer(now + self.block_interval + self.view_timeout, out);
    }

    /// Signs a vote, sends it to every other validator and counts it.
    fn cast(
        &mut self,
        now: SimTime,
        kind: VoteKind,
        view: u64,
        height: u64,
        hash: Hash32,
        out: &mut Outbox,
    ) {
        let vote = self.seal_vote(kind, view, height, hash);
        let message = match kind {
            VoteKind::Prepare => ConsensusMessage::Prepare(vote.clone()),
            VoteKind::Commit => ConsensusMessage::Commit(vote.clone()),
        };
        self.broadcast(&message, out);
        self.tally(now, vote, out);
    }

    fn seal_vote(&self, kind: VoteKind, view: u64, height: u64, hash: Hash32) -> Signed<Vote> {
        Signed::seal(
            &self.identity,
            Vote {
                kind,
                voter: self.me,
                view,
                height,
                block_hash: hash,
            },
        )
    }

    /// A misbehaving validator prepares and commits every block it sees,
    /// once per `(view, hash)`; the votes are sent, not counted.
    fn byzantine_vote(&mut self, view: u64, height: u64, hash: Hash32, out: &mut Outbox) {
        if !self.misbehaving || !self.round.byzantine_votes.insert((view, hash)) {
            return;
        }
        for kind in [VoteKind::Prepare, VoteKind::Commit] {
            let vote = self.seal_vote(kind, view, height, hash);
            let message = match kind {
                VoteKind::Prepare => ConsensusMessage::Prepare(vote),
                VoteKind::Commit => ConsensusMessage::Commit(vote),
            };
            self.broadcast(&message, out);
        }
    }

    fn equivocation(
        &mut self,
        offender: HostId,
        view: u64,
        height: u64,
        kind: EquivocationKind,
        out: &mut Outbox,
    ) {
        if offender != self.me && self.round.reported.insert((offender, view, kind)) {
            self.stats.equivocations += 1;
            out.record(Observation::Consensus(ConsensusEvent::Equivocation {
                offender,
                view,
                height,
                kind,
            }));
        }
    }

    // ------------------------------------------------------------------
    // View change

    fn view_timeout_for(&self, failed_views: u32) -> SimDuration {
        let doublings = failed_views.saturating_sub(1).min(MAX_TIMEOUT_DOUBLINGS);
        self.view_timeout.saturating_mul(1 << doublings)
    }

    fn arm_view_timer(&mut self, at: SimTime, out: &mut Outbox) {
        self.view_deadline = Some(at);
        out.set_timer(TimerId::Consensus(ConsensusTimer::View), at);
    }

    fn enter_view(&mut self, new_view: u64, out: &mut Outbox) {
        if new_view != self.view {
            out.record(Observation::Consensus(ConsensusEvent::ViewChange {
                from_view: self.view,
                to_view: new_view,
            }));
        }
        self.view = new_view;
        self.propose_at = None;
        self.round.prune_below(new_view.saturating_sub(VIEW_WINDOW));
    }

    /// The view timer expired without a finalization. An active view is
    /// left for the next one. A view change that got no new-view message
    /// moves on only if a quorum (this validator included) is changing
    /// view with it — then the new leader has failed; otherwise the
    /// validator is cut off from a quorum and only repeats its view change,
    /// so a lone validator does not run ahead into views nobody else
    /// reaches (it rejoins the others' view when connectivity returns).
    fn view_timer_expired(&mut self, now: SimTime, out: &mut Outbox) {
        if self.view_active {
            return self.start_view_change(now, self.view.saturating_add(1), out);
        }
        let view = self.view;
        let with_us = self
            .view_changes
            .iter()
            .filter(|&(&who, (vc, _))| who != self.me && vc.value().new_view >= view)
            .count()
            + 1;
        if with_us >= self.set.quorum() {
            self.start_view_change(now, view.saturating_add(1), out);
        } else {
            self.send_own_view_change(out);
            self.arm_view_timer(now + self.view_timeout_for(self.failed_views), out);
        }
    }

    /// Leaves the current view for `new_view` (> current): broadcast a view
    /// change and wait for the new leader's new-view message.
    fn start_view_change(&mut self, now: SimTime, new_view: u64, out: &mut Outbox) {
        self.enter_view(new_view, out);
        self.view_active = false;
        self.new_view = None;
        self.failed_views = self.failed_views.saturating_add(1);
        self.send_own_view_change(out);
        self.arm_view_timer(now + self.view_timeout_for(self.failed_views), out);
    }

    /// Signs and broadcasts this validator's view change to the current
    /// view, with its prepared certificate.
    fn send_own_view_change(&mut self, out: &mut Outbox) {
        let summary = self.prepared.as_ref().map(|c| PreparedSummary {
            view: c.view(),
            height: c.height(),
            block_hash: c.block_hash(),
        });
        let vc = Signed::seal(
            &self.identity,
            ViewChange {
                sender: self.me,
                new_view: self.view,
                finalized_height: self.finalized_height,
                prepared: summary,
            },
        );
        let certificate = self.prepared.clone();
        self.broadcast(
            &ConsensusMessage::ViewChange {
                view_change: vc.clone(),
                certificate: certificate.clone(),
            },
            out,
        );
        self.view_changes.insert(self.me, (vc, certificate));
    }

    fn on_view_change(
        &mut self,
        now: SimTime,
        from: HostId,
        vc: Signed<ViewChange>,
        certificate: Option<PreparedCertificate>,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        if let Some(cert) = &certificate {
            if let Err(e) = cert.validate(&self.set, &self.counting()) {
                return self.reject(from, e.reject_reason(), out);
            }
            let claimed = vc.value().prepared;
            let actual = PreparedSummary {
                view: cert.view(),
                height: cert.height(),
                block_hash: cert.block_hash(),
            };
            if claimed != Some(actual) {
                return self.reject(from, RejectReason::Malformed, out);
            }
        }
        let (new_view, their_height) = (vc.value().new_view, vc.value().finalized_height);
        if their_height > self.finalized_height {
            self.request_sync(now, from, out);
        }
        let stale = new_view < self.view || (new_view == self.view && self.view_active);
        if stale || their_height < self.finalized_height {
            self.help(now, from, their_height, stale, out);
        }
        if stale {
            return;
        }
        let newer = self
            .view_changes
            .get(&from)
            .is_none_or(|(old, _)| old.value().new_view < new_view);
        if newer {
            self.view_changes.insert(from, (vc, certificate));
        }
        // f + 1 validators are past our view: join the highest view that
        // f + 1 of them have reached.
        let mut ahead: Vec<u64> = self
            .view_changes
            .iter()
            .filter(|&(&who, _)| who != self.me)
            .map(|(_, (vc, _))| vc.value().new_view)
            .filter(|&v| v > self.view)
            .collect();
        let f1 = self.set.f() + 1;
        if ahead.len() >= f1 {
            ahead.sort_unstable_by(|a, b| b.cmp(a));
            let target = ahead[f1 - 1];
            self.start_view_change(now, target, out);
        }
        self.try_new_view(now, rng, out);
    }

    /// The leader of a view being changed to, with a quorum of view
    /// changes, opens it.
    fn try_new_view(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        if self.view_active || !self.is_leader() {
            return;
        }
        let view = self.view;
        let mut chosen: Vec<&(Signed<ViewChange>, Option<PreparedCertificate>)> = self
            .view_changes
            .values()
            .filter(|(vc, _)| vc.value().new_view == view)
            .collect();
        if chosen.len() < self.set.quorum() {
            return;
        }
        // Our own first, then the lowest finalized heights: a quorum is
        // enough, and an inflated height claim is left out when possible.
        chosen.sort_by_key(|(vc, _)| (vc.value().sender != self.me, vc.value().finalized_height));
        chosen.truncate(self.set.quorum());
        let top = chosen
            .iter()
            .map(|(vc, _)| vc.value().finalized_height)
            .max()
            .unwrap_or(0);
        if top > self.finalized_height {
            let helper = chosen
                .iter()
                .find(|(vc, _)| vc.value().finalized_height == top)
                .map(|(vc, _)| vc.value().sender);
            if let Some(helper) = helper {
                self.request_sync(now, helper, out);
            }
            return;
        }
        if top != self.finalized_height {
            return;
        }
        let height = top + 1;
        let highest = chosen
            .iter()
            .filter_map(|(_, cert)| cert.as_ref())
            .filter(|c| c.height() == height)
            .max_by_key(|c| c.view())
            .cloned();
        let view_changes: Vec<Signed<ViewChange>> =
            chosen.iter().map(|(vc, _)| vc.clone()).collect();
        let block = match &highest {
            Some(cert) => cert.pre_prepare.value().block.clone(),
            None => self.new_block(now, rng),
        };
        let proposal = self.seal_pre_prepare(block);
        let nv = Signed::seal(
            &self.identity,
            NewView {
                leader: self.me,
                view,
                view_changes,
                prepared: highest,
                proposal: proposal.clone(),
            },
        );
        self.broadcast(&ConsensusMessage::NewView(nv.clone()), out);
        self.record_proposed(&proposal, out);
        self.open_view(now, nv, height, out);
        self.accept_pre_prepare(now, proposal, true, out);
    }

    /// Enters the view of an accepted new-view message.
    fn open_view(&mut self, now: SimTime, nv: Signed<NewView>, height: u64, out: &mut Outbox) {
        let view = nv.value().view;
        self.enter_view(view, out);
        self.view_active = true;
        self.new_view_height = height;
        self.new_view = Some(nv);
        self.view_changes
            .retain(|_, (vc, _)| vc.value().new_view > view);
        let timeout = self.view_timeout_for(self.failed_views.max(1));
        self.arm_view_timer(now + self.block_interval + timeout, out);
    }

    fn on_new_view(&mut self, now: SimTime, from: HostId, nv: Signed<NewView>, out: &mut Outbox) {
        let (view, leader) = (nv.value().view, nv.value().leader);
        if self.set.leader(view) != Some(leader)
            || view < self.view
            || (view == self.view && self.view_active)
        {
            self.stats.ignored += 1;
            return;
        }
        let height = match self.validate_new_view(nv.value()) {
            Ok(height) => height,
            Err(reason) => return self.reject(from, reason, out),
        };
        let proposal = nv.value().proposal.clone();
        self.open_view(now, nv, height, out);
        self.on_pre_prepare(now, from, proposal, true, out);
    }

    /// Checks a new-view message; returns the height it proposes.
    fn validate_new_view(&self, nv: &NewView) -> Result<u64, RejectReason> {
        let verifier = self.counting();
        let p = nv.proposal.value();
        if p.leader != nv.leader || p.view != nv.view {
            return Err(RejectReason::Malformed);
        }
        let mut senders = BTreeSet::new();
        for vc in &nv.view_changes {
            if vc.value().new_view != nv.view || !senders.insert(vc.value().sender) {
                return Err(RejectReason::Malformed);
            }
        }
        if senders.len() < self.set.quorum() {
            return Err(RejectReason::Malformed);
        }
        nv.proposal.check(&self.set, &verifier)?;
        for vc in &nv.view_changes {
            vc.check(&self.set, &verifier)?;
        }
        let top = nv
            .view_changes
            .iter()
            .map(|vc| vc.value().finalized_height)
            .max()
            .unwrap_or(0);
        let height = top.checked_add(1).ok_or(RejectReason::Malformed)?;
        if p.block.height != height {
            return Err(RejectReason::Malformed);
        }
        let highest = nv
            .view_changes
            .iter()
            .filter_map(|vc| vc.value().prepared)
            .filter(|s| s.height == height)
            .max_by_key(|s| s.view);
        match (highest, &nv.prepared) {
            (Some(summary), Some(cert)) => {
                cert.validate(&self.set, &verifier)
                    .map_err(|e| e.reject_reason())?;
                let matches = cert.view() == summary.view
                    && cert.height() == summary.height
                    && cert.block_hash() == summary.block_hash
                    && p.block.hash() == summary.block_hash;
                if !matches {
                    return Err(RejectReason::Malformed);
                }
            }
            (None, None) if p.block.proposer == nv.leader => {}
            _ => return Err(RejectReason::Malformed),
        }
        Ok(height)
    }

    /// Helps a validator that is behind: the current view's new-view
    /// message if it is in an older view, blocks it lacks. Once per
    /// `sync_retry` per validator.
    fn help(
        &mut self,
        now: SimTime,
        to: HostId,
        their_height: u64,
        stale_view: bool,
        out: &mut Outbox,
    ) {
        if self
            .helped_at
            .get(&to)
            .is_some_and(|&at| now < at + self.sync_retry())
        {
            return;
        }
        self.helped_at.insert(to, now);
        if stale_view && let Some(nv) = &self.new_view {
            out.send(to, ConsensusMessage::NewView(nv.clone()).encode());
        }
        if their_height < self.finalized_height {
            self.send_blocks(to, their_height + 1, out);
        }
    }

    // ------------------------------------------------------------------
    // Catch-up

    fn sync_retry(&self) -> SimDuration {
        SimDuration::from_nanos(self.view_timeout.as_nanos() / 2).max(SimDuration::from_millis(1))
    }

    fn request_sync(&mut self, now: SimTime, to: HostId, out: &mut Outbox) {
        if now < self.sync_allowed_at || to == self.me {
            return;
        }
        self.sync_allowed_at = now + self.sync_retry();
        self.stats.sync_requests += 1;
        let request = Signed::seal(
            &self.identity,
            SyncRequest {
                sender: self.me,
                from_height: self.next_height(),
            },
        );
        out.send(to, ConsensusMessage::SyncRequest(request).encode());
    }

    fn on_sync_request(&mut self, from: HostId, request: &SyncRequest, out: &mut Outbox) {
        self.send_blocks(from, request.from_height, out);
    }

    /// Sends finalized blocks from `from_height` on, if this validator
    /// still has them.
    fn send_blocks(&mut self, to: HostId, from_height: u64, out: &mut Outbox) {
        let Some(first) = self.history.front().map(|(b, _)| b.height) else {
            return;
        };
        if from_height < first || from_height > self.finalized_height {
            return;
        }
        let start = (from_height - first) as usize;
        let mut size = 0;
        let mut blocks = Vec::new();
        for (block, cert) in self.history.iter().skip(start).take(MAX_SYNC_BLOCKS) {
            let cert_size: usize = cert
                .votes
                .iter()
                .map(|v| v.envelope().body.len() + 104)
                .sum();
            size += BLOCK_LEN + 4 + cert_size;
            if size > SYNC_BYTES && !blocks.is_empty() {
                break;
            }
            blocks.push((block.clone(), cert.clone()));
        }
        self.stats.sync_responses += 1;
        let response = Signed::seal(
            &self.identity,
            SyncResponse {
                sender: self.me,
                blocks,
            },
        );
        out.send(to, ConsensusMessage::SyncResponse(response).encode());
    }

    fn on_sync_response(
        &mut self,
        now: SimTime,
        from: HostId,
        response: Signed<SyncResponse>,
        out: &mut Outbox,
    ) {
        let before = self.finalized_height;
        for (block, cert) in &response.value().blocks {
            if block.height <= self.finalized_height {
                continue;
            }
            if block.height != self.next_height() || block.parent != self.tip {
                self.stats.ignored += 1;
                break;
            }
            if let Err(e) = cert.validate(&self.set, &self.counting()) {
                self.reject(from, e.reject_reason(), out);
                break;
            }
            if cert.target().map(|(_, h, hash)| (h, hash)) != Some((block.height, block.hash())) {
                self.reject(from, RejectReason::Malformed, out);
                break;
            }
            self.finalize(now, block.clone(), cert.clone(), true, out);
        }
        if self.finalized_height > before {
            out.record(Observation::Consensus(ConsensusEvent::CaughtUp {
                to_height: self.finalized_height,
            }));
            // Progress: ask for more at once.
            self.sync_allowed_at = now;
            self.request_sync(now, from, out);
        }
    }

    // ------------------------------------------------------------------
    // Plumbing

    /// After an input: redo what progress makes possible (proposals, a
    /// fresh view change, a new view) and replay buffered messages that
    /// are now due, until nothing changes.
    fn settle(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        loop {
            if std::mem::take(&mut self.progressed) {
                if self.view_active {
                    self.schedule_proposal(now, out);
                } else {
                    // Our view change states a finalized height: restate it.
                    self.send_own_view_change(out);
                    self.try_new_view(now, rng, out);
                }
            }
            let next = self.next_height();
            let view = self.view;
            let active = self.view_active;
            // Drop what is below the next height, then find the first
            // message of the next height that can be handled now.
            self.future = self.future.split_off(&(next, 0, 0));
            let ready = self
                .future
                .range((next, 0, 0)..=(next, u64::MAX, u64::MAX))
                .find_map(|(&key, (_, m))| {
                    let (_, v, _) = key;
                    let due = v < view
                        || (v == view
                            && (active
                                || matches!(
                                    m,
                                    Buffered::Vote(_)
                                        | Buffered::PrePrepare {
                                            via_new_view: true,
                                            ..
                                        }
                                )));
                    due.then_some(key)
                });
            let Some(key) = ready else {
                if self.progressed {
                    continue;
                }
                break;
            };
            let Some((from, message)) = self.future.remove(&key) else {
                break;
            };
            match message {
                Buffered::PrePrepare { pp, via_new_view } => {
                    self.on_pre_prepare(now, from, pp, via_new_view, out)
                }
                Buffered::Vote(vote) => self.on_vote(now, from, vote, out),
            }
        }
    }

    fn buffer(&mut self, height: u64, view: u64, from: HostId, m: Buffered) {
        self.future_seq += 1;
        self.future
            .insert((height, view, self.future_seq), (from, m));
        if self.future.len() > 8 * self.set.len() {
            // Keep the messages closest to the current height and view.
            self.future.pop_last();
            self.stats.buffer_dropped += 1;
        }
    }

    fn others(&self) -> impl Iterator<Item = HostId> + '_ {
        self.set.ids().filter(move |&id| id != self.me)
    }

    fn broadcast(&self, message: &ConsensusMessage, out: &mut Outbox) {
        let bytes = message.encode();
        for to in self.others() {
            out.send(to, bytes.clone());
        }
    }

    fn counting(&self) -> Counting<'_> {
        Counting {
            inner: &*self.verifier,
            count: &self.verifications,
        }
    }

    fn check<T: crate::protocols::consensus::message::Body>(
        &self,
        signed: &Signed<T>,
    ) -> Result<(), RejectReason> {
        signed.check(&self.set, &self.counting())
    }

    fn reject(&mut self, from: HostId, reason: RejectReason, out: &mut Outbox) {
        self.stats.rejected += 1;
        out.record(Observation::MessageRejected { from, reason });
    }
}
