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
//! timeout, up to `max_view_timeout`; a finalization resets it. The
//! ceiling keeps a healed network from waiting out timeouts that grew
//! while a fault lasted; the driver sets it from the network's delays so
//! a view can still complete on a slow one.
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
//! # Retransmission
//!
//! Datagrams get lost, so nothing a view needs is sent only once. While a
//! validator waits on the others — changing view, or holding a proposal
//! or a vote of the current height — a resend timer fires every quarter
//! of the current view timeout (`ConsensusTimer::Resend`) and sends its
//! part of the view again to every validator that has not shown it holds
//! it: in an active view, its proposal (the leader: the new-view message
//! if that proposed this height, else the pre-prepare) and its own
//! prepare and commit, to each validator whose commit of this view it
//! lacks; while changing view, its view change, to each validator whose
//! view change to this view it lacks and always to the view's leader.
//! A validator that receives again something it already holds (the
//! sender lacks something of its own) answers with its part of the view,
//! at most once per resend interval per validator, and one that has
//! moved past the height or view answers as in catch-up (the blocks, or
//! the new-view message). Only messages already signed are sent again: at
//! most three per validator and interval, and nothing once the height is
//! finalized or the view left.
//!
//! # Catch-up
//!
//! A validly signed message for a height beyond the next one, a view
//! change reporting a higher finalized height, or a commit quorum for a
//! block this validator never received makes it send a sync request to
//! that validator (at most one per `sync_retry`). A vote or proposal for
//! a height this validator has finalized makes it send the sender the
//! blocks it lacks (at most once per `sync_retry` per validator). The answer carries up to
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
    ConsensusConfig, MAX_VALIDATORS, ValidatorSet, view_timeout_after,
};
use crate::protocols::consensus::message::{
    ConsensusMessage, MAX_SYNC_BLOCKS, NewView, PrePrepare, PreparedSummary, Signed, SyncRequest,
    SyncResponse, ViewChange, Vote, VoteKind,
};
use crate::protocols::consensus::observe::{ConsensusEvent, EquivocationKind};
use crate::protocols::consensus::verify::{Counting, SignatureVerifier};
use crate::protocols::{Observation, TimerId};
use crate::time::{SimDuration, SimTime};
use voters::{VoteList, VoterSlots};

mod catch_up;
mod normal;
mod payload;
mod resend;
mod route;
mod view_change;
mod voters;

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
    /// Votes by `(kind, view, hash)`, then voter place in the set.
    votes: BTreeMap<(VoteKind, u64, Hash32), VoteList<Signed<Vote>>>,
    /// The hash each voter first voted for, by `(kind, view)`, then voter
    /// place in the set.
    first_vote: BTreeMap<(VoteKind, u64), VoterSlots<Hash32>>,
    /// Equivocations already reported: `(offender, view, kind)`.
    reported: BTreeSet<(HostId, u64, EquivocationKind)>,
    /// Views this validator prepared / committed in.
    prepared_in: BTreeSet<u64>,
    committed_in: BTreeSet<u64>,
    /// `(view, hash)` a misbehaving validator has double-voted for.
    byzantine_votes: BTreeSet<(u64, Hash32)>,
    /// Emptied lists and slots of earlier heights, reused by the next
    /// ones (see `voters`).
    spare_votes: Vec<VoteList<Signed<Vote>>>,
    spare_first: Vec<VoterSlots<Hash32>>,
}

/// Emptied slots kept per kind of value (a height needs two of each).
const SPARE_SLOTS: usize = 4;

impl Round {
    /// A round for the next height: everything forgotten, the slots kept
    /// empty for reuse.
    fn next_height(&mut self) {
        let mut spare_votes = std::mem::take(&mut self.spare_votes);
        let mut spare_first = std::mem::take(&mut self.spare_first);
        for mut list in std::mem::take(&mut self.votes).into_values() {
            if spare_votes.len() < SPARE_SLOTS {
                list.clear();
                spare_votes.push(list);
            }
        }
        for mut slots in std::mem::take(&mut self.first_vote).into_values() {
            if spare_first.len() < SPARE_SLOTS {
                slots.clear();
                spare_first.push(slots);
            }
        }
        *self = Round {
            spare_votes,
            spare_first,
            ..Round::default()
        };
    }

    fn vote_count(&self) -> usize {
        self.votes.values().map(VoteList::len).sum()
    }
    fn prune_below(&mut self, view: u64) {
        self.proposals.retain(|&v, _| v >= view);
        self.votes.retain(|&(_, v, _), _| v >= view);
        self.first_vote.retain(|&(_, v), _| v >= view);
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
    max_view_timeout: SimDuration,
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
    resend_at: Option<SimTime>,
    /// When this validator last sent each validator its part of the view.
    resent_to: BTreeMap<HostId, SimTime>,
    sync_allowed_at: SimTime,
    helped_at: BTreeMap<HostId, SimTime>,

    stats: ConsensusStats,
    /// The transaction pool, with client load (`payload.rs`).
    mempool: Option<Box<crate::protocols::consensus::mempool::Mempool>>,
    /// Where broadcasts go (`route.rs`).
    route: route::Route,
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
            max_view_timeout: config.max_view_timeout.max(config.view_timeout),
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
            resend_at: None,
            resent_to: BTreeMap::new(),
            sync_allowed_at: SimTime::ZERO,
            helped_at: BTreeMap::new(),
            stats: ConsensusStats::default(),
            mempool: None,
            route: route::Route::default(),
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
            ConsensusTimer::Resend => {
                if let Some(at) = self.resend_at {
                    if now < at {
                        out.set_timer(TimerId::Consensus(ConsensusTimer::Resend), at);
                    } else {
                        self.resend(now, out);
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
        [self.propose_at, self.view_deadline, self.resend_at]
            .into_iter()
            .flatten()
            .min()
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
    // Plumbing

    /// After an input: redo what progress makes possible, then keep what
    /// this validator waits on retransmitted.
    fn settle(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        self.replay(now, rng, out);
        self.arm_resend(now, out);
    }

    /// Redoes what progress makes possible (proposals, a fresh view
    /// change, a new view) and replays buffered messages that are now due,
    /// until nothing changes.
    fn replay(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
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

    fn counting(&self) -> Counting<'_> {
        Counting {
            inner: &*self.verifier,
            count: &self.verifications,
        }
    }

    /// Signs `value` and tells the verifier so (a caching one then knows
    /// it valid without verifying; see [`SignatureVerifier::signed`]).
    fn seal<T: crate::protocols::consensus::message::Body>(&self, value: T) -> Signed<T> {
        let signed = Signed::seal(&self.identity, value);
        signed.vouch(&*self.verifier);
        signed
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
