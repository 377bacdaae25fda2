//! The peer registry state machine: who is out there, who is alive, who
//! misbehaves, and who wants to know.
//!
//! # Behaviour
//!
//! - **Membership.** `members` says who may join; a datagram from any other
//!   host is rejected (`NotAMember`). A member becomes *known* when it is in
//!   `bootstrap`, when it sends this host anything, or when a live peer lists
//!   it in a peer exchange. Known peers are kept for the whole run (at most
//!   the membership).
//! - **Handshake.** At start a host sends a signed hello to every bootstrap
//!   peer. A peer becomes *up* when its hello (or hello-ack) verifies; a
//!   hello is answered with a hello-ack. A host signs one hello per
//!   incarnation (its body: host id and a random nonce drawn at the first
//!   greeting) and sends that same hello, and the hello-ack carrying the
//!   same signature, to every peer until it restarts: one signature per
//!   boot, as real handshakes bound signing (see `OwnHellos`). A
//!   captured hello replayed from the same source within that incarnation
//!   is therefore indistinguishable from a re-greeting (it proves only the
//!   binding of host id to key, which is still true).
//! - **Heartbeats.** Every `heartbeat` a host drops (*down*) the up peers
//!   silent for longer than `stale_after`, pings the up ones and greets every
//!   other known, unbanned peer with a hello (how restarted hosts rejoin).
//!   Any message from an up peer counts as a sign of life.
//! - **Peer exchange.** Every `exchange_every`-th heartbeat (default every
//!   one; 0 turns exchange off), a host that does not yet know every member
//!   asks one up peer, drawn uniformly from the host's RNG, for its peers
//!   (`GetPeers`). The answer (`Peers`) lists the responder's up, unbanned
//!   peers (at most [`MAX_EXCHANGE_PEERS`], a random subset if it has
//!   more); the asker greets at once every member in it that it did not know.
//!   `GetPeers` and `Peers` are only taken from up peers (a `GetPeers` from
//!   a member that is not up is answered with a hello, like a ping). A host
//!   that knows every member never asks, so a network configured with
//!   `bootstrap = members` behaves exactly as without exchange.
//! - **Scores and bans**: see [`crate::protocols::peers::score`].
//! - **Observers**: see [`crate::protocols::peers::observers`]. Every peer-up and
//!   peer-down is queued to every observer as a [`PeerEvent`]; stale
//!   observers are cleaned up at every heartbeat.
//!
//! # Statistics
//!
//! [`PeerRegistry::registry_stats`] counts joins (every peer-up), leaves
//! (every peer-down, whether by silence or ban) and bans. The average peer
//! lifetime is the mean length of the *completed* up periods: from a
//! peer-up to the following peer-down of the same peer, each period counted
//! once (a peer that goes up and down twice contributes two periods).
//! Periods still open are not counted; `None` until some peer has left.

use std::rc::Rc;

use rand::RngExt;
use rand_core::Rng;

use crate::HostId;
use crate::codec::Reader;
use crate::identity::{Identity, PublicKey};
use crate::io::{Payload, RejectReason};
use crate::outbox::Outbox;
use crate::protocols::consensus::{DirectVerifier, SignatureVerifier};
use crate::protocols::peers::PeerTimer;
use crate::protocols::peers::membership::Membership;
use crate::protocols::peers::message::{MAX_EXCHANGE_PEERS, PeerMessage, SignedHello};
use crate::protocols::peers::observe::PeerRegistryEvent;
use crate::protocols::peers::observers::{
    ObserverError, ObserverId, ObserverRegistry, PeerEvent, PeerEventKind,
};
use crate::protocols::peers::rate::{Buckets, RateLimit};
use crate::protocols::peers::score::ScoreConfig;
use crate::protocols::{Observation, TimerId};
use crate::time::{SimDuration, SimTime};
use table::PeerTable;

/// How a member of the peer registry behaves.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// This host.
    pub me: HostId,
    /// Who may join: datagrams from other hosts are rejected. `me` is
    /// ignored. Shared by every member (see [`Membership`]).
    pub members: Membership,
    /// The peers greeted at start. Entries that are not members (and `me`)
    /// are ignored; the rest are found by peer exchange.
    pub bootstrap: Vec<HostId>,
    /// Ping interval.
    pub heartbeat: SimDuration,
    /// Silence after which a peer is dropped; must exceed `heartbeat`.
    pub stale_after: SimDuration,
    /// Heartbeats between peer exchanges: 1 = every heartbeat, 0 = never.
    pub exchange_every: u32,
    /// The most observers that may be registered at once.
    pub max_observers: usize,
    /// Inactivity after which an observer is removed.
    pub observer_stale_after: SimDuration,
    /// The most undrained events an observer's queue keeps.
    pub observer_queue_len: usize,
    /// Peer scores and bans.
    pub scores: ScoreConfig,
    /// How hello signatures are checked; `None` verifies each one directly
    /// ([`DirectVerifier`]). A driver may share a caching verifier, which
    /// the registry tells of every hello it signs
    /// ([`SignatureVerifier::signed`]).
    pub verifier: Option<Rc<dyn SignatureVerifier>>,
    /// Bounded views (see [`view`]); `None`: every member is greeted and
    /// kept (full mesh).
    pub limits: Option<ViewLimits>,
    /// Per-peer rate limits on received datagrams; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
}

/// Bounded views: how many connections a member keeps and how many peers
/// it remembers (see [`view`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewLimits {
    /// Outbound connections a host keeps trying to have (its target).
    pub outbound: usize,
    /// The most inbound connections it accepts.
    pub inbound: usize,
    /// The most peers it remembers, connected or not (at least
    /// `outbound + inbound`).
    pub known: usize,
    /// How long a peer that refused us, or did not answer a hello within
    /// `stale_after`, is not tried again.
    pub retry_after: SimDuration,
}

impl PeerConfig {
    /// Default for [`PeerConfig::exchange_every`]: every heartbeat.
    pub const DEFAULT_EXCHANGE_EVERY: u32 = 1;
    /// Default for [`PeerConfig::max_observers`].
    pub const DEFAULT_MAX_OBSERVERS: usize = 50;
    /// Default for [`PeerConfig::observer_stale_after`]: one hour.
    pub const DEFAULT_OBSERVER_STALE_AFTER: SimDuration = SimDuration::from_secs(3600);
    /// Default for [`PeerConfig::observer_queue_len`].
    pub const DEFAULT_OBSERVER_QUEUE_LEN: usize = 1024;

    /// A configuration with the defaults for everything else.
    pub fn new(
        me: HostId,
        members: impl Into<Membership>,
        bootstrap: Vec<HostId>,
        heartbeat: SimDuration,
        stale_after: SimDuration,
    ) -> Self {
        PeerConfig {
            me,
            members: members.into(),
            bootstrap,
            heartbeat,
            stale_after,
            exchange_every: Self::DEFAULT_EXCHANGE_EVERY,
            max_observers: Self::DEFAULT_MAX_OBSERVERS,
            observer_stale_after: Self::DEFAULT_OBSERVER_STALE_AFTER,
            observer_queue_len: Self::DEFAULT_OBSERVER_QUEUE_LEN,
            scores: ScoreConfig::DEFAULT,
            verifier: None,
            limits: None,
            rate_limit: None,
        }
    }
}

/// What this host knows of one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerStatus {
    /// Known but never authenticated.
    Unknown,
    /// Authenticated and heard from within `stale_after`.
    Up,
    /// Was up, then silent for `stale_after` (or its ban ended).
    Down,
    /// Banned: everything from it is dropped until the ban ends.
    Banned,
}

/// What every datagram and heartbeat reads or writes, in 32 bytes (laid
/// out in declaration order, `repr(C)`); the rest is boxed in
/// [`RareState`], and only once one of its fields leaves its default (a
/// peer that authenticated, was banned or was retried): with bounded
/// views most known peers never do. A full mesh of n hosts keeps n²
/// states and every datagram's lookup of its sender lands on one of them:
/// at 32 bytes (not the 72 of one flat state, nor the 160 before that)
/// twice as many stay in cache, and a heartbeat's pass over a host's
/// peers reads half the lines.
#[derive(Clone, Debug)]
#[repr(C)]
struct PeerState {
    status: PeerStatus,
    /// Bounded views, while up: we opened the connection (else the peer did).
    outbound: bool,
    score: i32,
    last_heard: SimTime,
    /// Bounded views, while not up: when we sent it a hello to connect.
    pending: Pending,
    /// `None` while every field is at its default ([`NO_RARE`]).
    rare: Option<Box<RareState>>,
}

/// The part of a peer's state read only on rare paths: bans, joins and
/// leaves, hellos, bounded views' retries, rate-limited runs.
#[derive(Clone, Debug)]
struct RareState {
    banned_until: SimTime,
    up_since: SimTime,
    key: Option<PublicKey>,
    /// Bounded views: not tried again before this.
    retry_at: SimTime,
    /// Its rate-limit buckets (with rate limits, once it sent something;
    /// boxed: 48 bytes a full mesh without rate limits would carry per
    /// pair).
    buckets: Option<Box<Buckets>>,
}

/// A peer's rare state before anything set it.
static NO_RARE: RareState = RareState {
    banned_until: SimTime::ZERO,
    up_since: SimTime::ZERO,
    key: None,
    retry_at: SimTime::ZERO,
    buckets: None,
};

impl PeerState {
    fn new(score: i32) -> Self {
        PeerState {
            status: PeerStatus::Unknown,
            outbound: false,
            score,
            last_heard: SimTime::ZERO,
            pending: Pending::NONE,
            rare: None,
        }
    }

    /// Its rare state (the defaults while nothing set one).
    fn rare(&self) -> &RareState {
        self.rare.as_deref().unwrap_or(&NO_RARE)
    }

    /// Its rare state, boxed on first use.
    fn rare_mut(&mut self) -> &mut RareState {
        self.rare.get_or_insert_with(|| Box::new(NO_RARE.clone()))
    }
}

/// When a hello to connect was sent, if one is pending: an
/// `Option<SimTime>` in 8 bytes ([`SimTime::NEVER`] for none: nothing is
/// sent at the end of time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending(SimTime);

impl Pending {
    const NONE: Pending = Pending(SimTime::NEVER);

    fn since(at: SimTime) -> Self {
        debug_assert!(at != SimTime::NEVER);
        Pending(at)
    }

    fn get(self) -> Option<SimTime> {
        (self != Pending::NONE).then_some(self.0)
    }

    fn is_some(self) -> bool {
        self != Pending::NONE
    }

    fn is_none(self) -> bool {
        self == Pending::NONE
    }
}

/// Message counters a host keeps about its registry, for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Hellos and hello-acks sent.
    pub hellos_sent: u64,
    /// Pings sent.
    pub pings_sent: u64,
    /// `GetPeers` requests sent.
    pub exchanges_sent: u64,
    /// Datagrams dropped as malformed, forged or misdirected.
    pub rejected: u64,
    /// Datagrams from banned peers dropped unread.
    pub dropped_banned: u64,
    /// Bounded views: hellos refused, the inbound slots being full.
    pub refused: u64,
    /// Bounded views: connections closed to make room for a newcomer.
    pub evicted: u64,
    /// Datagrams dropped over their sender's rate limit.
    pub rate_limited: u64,
    /// Bounded views: datagrams from unknown members dropped because every
    /// slot of the known-peer table was taken by connected, connecting or
    /// banned peers.
    pub dropped_no_room: u64,
}

/// The registry's state in numbers; see the module docs for definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerRegistryStats {
    /// Members this host knows of (excluding itself), in any status.
    pub peers_known: usize,
    /// Peers up now.
    pub peers_up: usize,
    /// Observers registered now.
    pub observers: usize,
    /// The bound on observers.
    pub max_observers: usize,
    /// Mean length of the completed up periods; `None` before the first leave.
    pub average_peer_lifetime: Option<SimDuration>,
    /// Peer-ups so far.
    pub joins: u64,
    /// Peer-downs so far (silence or ban).
    pub leaves: u64,
    /// Peers banned now.
    pub banned: usize,
    /// Bans so far.
    pub bans: u64,
}

mod table;
mod view;

pub use view::Connections;

/// One host's view of the peer registry. Drive it through
/// [`crate::host_node::HostNode`] or directly with its `handle_*` methods.
#[derive(Debug)]
pub struct PeerRegistry {
    config: PeerConfig,
    identity: Identity,
    /// Members other than `config.me`.
    others: usize,
    verifier: Rc<dyn SignatureVerifier>,
    peers: PeerTable,
    observers: ObserverRegistry,
    stats: PeerStats,
    heartbeats: u64,
    joins: u64,
    leaves: u64,
    bans: u64,
    /// Sum of the completed up periods (saturating).
    lifetime_total: SimDuration,
    /// This incarnation's hello and hello-ack, signed at the first hello.
    hellos: Option<OwnHellos>,
}

/// A host's hello and hello-ack for one incarnation: signed once (one
/// ed25519 signature per boot, not one per peer and greeting) and sent
/// unchanged to every peer, as libp2p's Noise handshake reuses one identity
/// signature over the static key for every connection and devp2p's node
/// record is re-signed only when it changes. A restart signs a new one
/// (with a fresh nonce).
#[derive(Debug)]
struct OwnHellos {
    hello: Payload,
    ack: Payload,
}

impl PeerRegistry {
    /// A registry for `config.me`, signing with `identity`.
    pub fn new(config: PeerConfig, identity: Identity) -> Self {
        let me = config.me;
        let others = config.members.len() - usize::from(config.members.contains(me));
        let initial = config.scores.initial;
        let known = config.limits.map_or(usize::MAX, |l| l.known);
        let peers = config
            .bootstrap
            .iter()
            .filter(|&&p| p != me && config.members.contains(p))
            .take(known)
            .map(|&p| (p, PeerState::new(initial)))
            .collect();
        let observers = ObserverRegistry::new(config.max_observers, config.observer_queue_len);
        let verifier = config
            .verifier
            .clone()
            .unwrap_or_else(|| Rc::new(DirectVerifier));
        PeerRegistry {
            config,
            identity,
            others,
            verifier,
            peers,
            observers,
            stats: PeerStats::default(),
            heartbeats: 0,
            joins: 0,
            leaves: 0,
            bans: 0,
            lifetime_total: SimDuration::ZERO,
            hellos: None,
        }
    }

    /// The host boots: greet the bootstrap peers and schedule the first
    /// heartbeat at a random point of the first interval, so hosts do not
    /// tick in lockstep.
    pub fn handle_start(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        if self.config.limits.is_some() {
            self.fill_slots(now, rng, out);
        } else {
            let targets: Vec<HostId> = self.peers.keys().copied().collect();
            for peer in targets {
                self.send_hello(peer, false, rng, out);
            }
        }
        let first = rng.random_range(0..=self.config.heartbeat.as_nanos());
        out.set_timer(
            TimerId::Peers(PeerTimer::Heartbeat),
            now + SimDuration::from_nanos(first),
        );
    }

    /// The heartbeat timer fired: end due bans, drop stale peers, restore
    /// scores, ping live peers, greet the rest, maybe run a peer exchange,
    /// clean up stale observers, and schedule the next heartbeat.
    pub fn handle_heartbeat(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        self.heartbeats += 1;
        let stale_after = self.config.stale_after;
        let heartbeat = self.config.heartbeat;
        let scores = self.config.scores;
        let limits = self.config.limits;
        let mut greet = Vec::new();
        let mut ping = Vec::new();
        let mut went_down = Vec::new();
        for (&peer, state) in self.peers.iter_mut() {
            if state.status == PeerStatus::Banned && now >= state.rare().banned_until {
                unban(peer, state, scores, out);
            }
            match state.status {
                PeerStatus::Up if now - state.last_heard > stale_after => {
                    state.status = PeerStatus::Down;
                    went_down.push((peer, now - state.rare().up_since));
                    if limits.is_none() {
                        greet.push(peer);
                    }
                }
                PeerStatus::Up => {
                    if now - state.last_heard <= heartbeat {
                        state.score = state
                            .score
                            .saturating_add(scores.recovery_per_heartbeat)
                            .min(scores.max);
                    }
                    ping.push(peer);
                }
                PeerStatus::Banned => {}
                PeerStatus::Unknown | PeerStatus::Down => match limits {
                    None => greet.push(peer),
                    // Bounded views greet only to fill slots (below); an
                    // attempt unanswered for `stale_after` failed.
                    Some(l) => {
                        if state
                            .pending
                            .get()
                            .is_some_and(|since| now - since > stale_after)
                        {
                            state.pending = Pending::NONE;
                            state.rare_mut().retry_at = now + l.retry_after;
                        }
                    }
                },
            }
        }
        for (peer, lifetime) in went_down {
            self.record_leave(now, peer, lifetime, out);
        }
        for peer in ping {
            self.stats.pings_sent += 1;
            let nonce = rng.next_u64();
            out.send_shared(peer, PeerMessage::Ping { nonce }.payload());
        }
        for peer in greet {
            self.send_hello(peer, false, rng, out);
        }
        self.fill_slots(now, rng, out);
        self.maybe_exchange(rng, out);
        let removed = self.cleanup_stale_observers(now, self.config.observer_stale_after);
        if removed > 0 {
            out.record(Observation::Peers(PeerRegistryEvent::ObserversCleaned {
                removed: u32::try_from(removed).unwrap_or(u32::MAX),
            }));
        }
        out.set_timer(
            TimerId::Peers(PeerTimer::Heartbeat),
            now + self.config.heartbeat,
        );
    }

    /// Asks for the state of peer `from`, whose message is due soon.
    pub fn prefetch_peer(&self, from: HostId) {
        self.peers.prefetch(&from);
    }

    /// A datagram of the peer protocol arrived from `from` (header already
    /// checked); `body` is its undecoded body.
    pub fn handle_message(
        &mut self,
        now: SimTime,
        from: HostId,
        body: Reader<'_>,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        if from == self.config.me || !self.config.members.contains(from) {
            return self.reject(now, from, RejectReason::NotAMember, out);
        }
        if self.config.limits.is_some() && !self.peers.contains_key(&from) && !self.make_room(rng) {
            self.stats.dropped_no_room += 1;
            return;
        }
        let scores = self.config.scores;
        // The one lookup of the sender: every branch below that needs its
        // state uses `state` (per-message work independent of the number
        // of peers but for this search).
        let state = self
            .peers
            .get_or_insert_with(from, || PeerState::new(scores.initial));
        if state.status == PeerStatus::Banned {
            if now < state.rare().banned_until {
                self.stats.dropped_banned += 1;
                return;
            }
            unban(from, state, scores, out);
        }
        if let Some(limit) = self.config.rate_limit {
            let buckets = state
                .rare_mut()
                .buckets
                .get_or_insert_with(|| Box::new(Buckets::full(limit, now)));
            if !buckets.take(limit, now, body.remaining()) {
                return self.rate_limited(now, from, out);
            }
        }
        let Ok(message) = PeerMessage::decode(body) else {
            return self.reject(now, from, RejectReason::Malformed, out);
        };
        let up = state.status == PeerStatus::Up;
        // Any message from an up peer is a sign of life.
        match message {
            PeerMessage::Ping { nonce } if up => {
                state.last_heard = now;
                out.send_shared(from, PeerMessage::Pong { nonce }.payload());
            }
            PeerMessage::Pong { .. } => {
                if up {
                    state.last_heard = now;
                }
            }
            PeerMessage::GetPeers if up => {
                state.last_heard = now;
                let peers = self.exchange_list(from, rng);
                out.send(from, PeerMessage::Peers { peers }.encode());
            }
            PeerMessage::Peers { peers } => {
                if up {
                    state.last_heard = now;
                    self.learn(now, &peers, rng, out);
                }
            }
            PeerMessage::Refused { peers } => {
                if up || state.pending.is_some() {
                    self.refused_by(now, from, &peers, rng, out);
                }
            }
            // A peer that still thinks we know it (we restarted, or it was
            // dropped): authenticate again instead of answering.
            PeerMessage::Ping { .. } | PeerMessage::GetPeers => {
                self.send_hello(from, false, rng, out);
            }
            PeerMessage::Hello(hello) => {
                if self.accept_hello(now, from, &hello, rng, out) {
                    self.send_hello(from, true, rng, out);
                }
            }
            PeerMessage::HelloAck(hello) => {
                self.accept_hello(now, from, &hello, rng, out);
            }
        }
    }

    /// Registers an observer of joins and leaves named `name` at `now`; see
    /// [`crate::protocols::peers::observers`] for the bounds and errors.
    pub fn register_observer(
        &mut self,
        name: &str,
        now: SimTime,
    ) -> Result<ObserverId, ObserverError> {
        self.observers.register(name, now)
    }

    /// Removes an observer, freeing its slot.
    pub fn unregister_observer(&mut self, id: ObserverId) -> Result<(), ObserverError> {
        self.observers.unregister(id)
    }

    /// Drains an observer's events (oldest first) and marks it active at `now`.
    pub fn take_events(
        &mut self,
        id: ObserverId,
        now: SimTime,
    ) -> Result<Vec<PeerEvent>, ObserverError> {
        self.observers.take_events(id, now)
    }

    /// Removes the observers inactive for longer than `stale_after` at `now`
    /// and returns how many. The heartbeat runs this with
    /// `observer_stale_after`.
    pub fn cleanup_stale_observers(&mut self, now: SimTime, stale_after: SimDuration) -> usize {
        self.observers.cleanup_stale(now, stale_after)
    }

    /// The observers (read-only).
    pub fn observers(&self) -> &ObserverRegistry {
        &self.observers
    }

    /// This host's view of `peer`, if it is known.
    pub fn status(&self, peer: HostId) -> Option<PeerStatus> {
        self.peers.get(&peer).map(|s| s.status)
    }

    /// `peer`'s score, if it is known.
    pub fn score(&self, peer: HostId) -> Option<i32> {
        self.peers.get(&peer).map(|s| s.score)
    }

    /// The known peers, in id order.
    pub fn known_peers(&self) -> impl Iterator<Item = HostId> + '_ {
        self.peers.keys().copied()
    }

    /// The peers currently up, in id order.
    pub fn up_peers(&self) -> impl Iterator<Item = HostId> + '_ {
        self.peers
            .iter()
            .filter(|(_, s)| s.status == PeerStatus::Up)
            .map(|(&p, _)| p)
    }

    /// Message counters.
    pub fn stats(&self) -> PeerStats {
        self.stats
    }

    /// Registry statistics; see the module docs for the definitions.
    pub fn registry_stats(&self) -> PeerRegistryStats {
        let count = |status| self.peers.values().filter(|s| s.status == status).count();
        PeerRegistryStats {
            peers_known: self.peers.len(),
            peers_up: count(PeerStatus::Up),
            observers: self.observers.len(),
            max_observers: self.observers.max_observers(),
            average_peer_lifetime: (self.leaves > 0)
                .then(|| SimDuration::from_nanos(self.lifetime_total.as_nanos() / self.leaves)),
            joins: self.joins,
            leaves: self.leaves,
            banned: count(PeerStatus::Banned),
            bans: self.bans,
        }
    }

    fn accept_hello(
        &mut self,
        now: SimTime,
        from: HostId,
        hello: &SignedHello,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) -> bool {
        if hello.host() != from {
            self.reject(now, from, RejectReason::Misdirected, out);
            return false;
        }
        if !hello.verify_with(&*self.verifier) {
            self.reject(now, from, RejectReason::BadSignature, out);
            return false;
        }
        let Some(state) = self.peers.get_mut(&from) else {
            // The caller inserted every member that sends anything.
            return false;
        };
        match &state.rare().key {
            Some(known) if *known != hello.key() => {
                self.reject(now, from, RejectReason::WrongKey, out);
                return false;
            }
            Some(_) => {}
            None => state.rare_mut().key = Some(hello.key()),
        }
        let outbound = state.pending.is_some();
        if state.status != PeerStatus::Up && !outbound && !self.admit_inbound(now, from, rng, out) {
            return false;
        }
        let Some(state) = self.peers.get_mut(&from) else {
            return false;
        };
        state.last_heard = now;
        if state.status != PeerStatus::Up {
            state.status = PeerStatus::Up;
            state.rare_mut().up_since = now;
            state.outbound = outbound;
            state.pending = Pending::NONE;
            self.joins += 1;
            out.record(Observation::Peers(PeerRegistryEvent::Up { peer: from }));
            self.observers.notify(PeerEvent {
                at: now,
                peer: from,
                kind: PeerEventKind::Joined,
            });
        }
        true
    }

    /// Records a peer-down of a peer that was up for `lifetime`.
    fn record_leave(
        &mut self,
        now: SimTime,
        peer: HostId,
        lifetime: SimDuration,
        out: &mut Outbox,
    ) {
        self.leaves += 1;
        self.lifetime_total = self.lifetime_total.saturating_add(lifetime);
        out.record(Observation::Peers(PeerRegistryEvent::Down { peer }));
        self.observers.notify(PeerEvent {
            at: now,
            peer,
            kind: PeerEventKind::Left,
        });
    }

    /// On the exchange schedule, asks one random up peer for its peers,
    /// unless every member is already known.
    fn maybe_exchange(&mut self, rng: &mut dyn Rng, out: &mut Outbox) {
        let every = u64::from(self.config.exchange_every);
        if every == 0 || !self.heartbeats.is_multiple_of(every) {
            return;
        }
        let knows_enough = match self.config.limits {
            None => self.peers.len() >= self.others,
            Some(l) => {
                self.peers.len() >= l.known.min(self.others)
                    && self.connections().outbound_or_pending() >= l.outbound
            }
        };
        if knows_enough {
            return;
        }
        let up: Vec<HostId> = self.up_peers().collect();
        if up.is_empty() {
            return;
        }
        let target = up[rng.random_range(0..up.len())];
        self.stats.exchanges_sent += 1;
        out.send(target, PeerMessage::GetPeers.encode());
    }

    /// The answer to a `GetPeers` from `asker`: our up peers but the asker,
    /// a random subset of [`MAX_EXCHANGE_PEERS`] if there are more.
    fn exchange_list(&self, asker: HostId, rng: &mut dyn Rng) -> Vec<HostId> {
        let mut peers: Vec<HostId> = self.up_peers().filter(|&p| p != asker).collect();
        if peers.len() > MAX_EXCHANGE_PEERS {
            // Partial Fisher-Yates: the first MAX entries become a uniform sample.
            for i in 0..MAX_EXCHANGE_PEERS {
                let j = rng.random_range(i..peers.len());
                peers.swap(i, j);
            }
            peers.truncate(MAX_EXCHANGE_PEERS);
            peers.sort_unstable();
        }
        peers
    }

    /// Remembers every member in `peers` that this host did not know yet
    /// and greets it at once (full mesh) or fills free outbound slots
    /// (bounded views, which remember as many as the known-peer table holds).
    fn learn(&mut self, now: SimTime, peers: &[HostId], rng: &mut dyn Rng, out: &mut Outbox) {
        let bounded = self.config.limits.is_some();
        for &peer in peers {
            if peer == self.config.me
                || !self.config.members.contains(peer)
                || self.peers.contains_key(&peer)
                || (bounded && !self.make_room(rng))
            {
                continue;
            }
            self.peers
                .insert(peer, PeerState::new(self.config.scores.initial));
            if !bounded {
                self.send_hello(peer, false, rng, out);
            }
        }
        self.fill_slots(now, rng, out);
    }

    fn send_hello(&mut self, to: HostId, ack: bool, rng: &mut dyn Rng, out: &mut Outbox) {
        let hellos = self.hellos.get_or_insert_with(|| {
            let hello = SignedHello::new(self.config.me, &self.identity, rng.next_u64());
            hello.vouch(&*self.verifier);
            OwnHellos {
                ack: PeerMessage::HelloAck(hello.clone()).encode().into(),
                hello: PeerMessage::Hello(hello).encode().into(),
            }
        });
        let message = if ack { &hellos.ack } else { &hellos.hello };
        self.stats.hellos_sent += 1;
        out.send_shared(to, message.clone());
    }

    /// Records a rejected datagram and charges its sender's score, banning
    /// it at the threshold.
    fn reject(&mut self, now: SimTime, from: HostId, reason: RejectReason, out: &mut Outbox) {
        self.stats.rejected += 1;
        out.record(Observation::MessageRejected { from, reason });
        self.charge(now, from, self.config.scores.penalty(reason), out);
    }

    /// Records a datagram dropped over its sender's rate limit and charges
    /// the sender.
    fn rate_limited(&mut self, now: SimTime, from: HostId, out: &mut Outbox) {
        self.stats.rate_limited += 1;
        out.record(Observation::Peers(PeerRegistryEvent::RateLimited {
            peer: from,
        }));
        self.charge(now, from, self.config.scores.rate_limited, out);
    }

    /// Lowers `from`'s score by `penalty`, banning it at the threshold.
    fn charge(&mut self, now: SimTime, from: HostId, penalty: i32, out: &mut Outbox) {
        let scores = self.config.scores;
        let Some(state) = self.peers.get_mut(&from) else {
            return;
        };
        state.score = state.score.saturating_sub(penalty);
        if state.score > scores.ban_threshold || state.status == PeerStatus::Banned {
            return;
        }
        let was_up = state.status == PeerStatus::Up;
        let lifetime = now - state.rare().up_since;
        state.status = PeerStatus::Banned;
        state.pending = Pending::NONE;
        state.rare_mut().banned_until = now + scores.ban_for;
        self.bans += 1;
        out.record(Observation::Peers(PeerRegistryEvent::Banned { peer: from }));
        if was_up {
            self.record_leave(now, from, lifetime, out);
        }
    }
}

/// Ends `peer`'s ban: it restarts with the after-unban score, as down if it
/// was ever authenticated (else unknown), and is greeted again.
fn unban(peer: HostId, state: &mut PeerState, scores: ScoreConfig, out: &mut Outbox) {
    state.status = if state.rare().key.is_some() {
        PeerStatus::Down
    } else {
        PeerStatus::Unknown
    };
    state.score = scores.after_unban;
    out.record(Observation::Peers(PeerRegistryEvent::Unbanned { peer }));
}

#[cfg(test)]
mod layout_tests {
    use super::PeerState;

    #[test]
    fn a_peer_state_is_small() {
        // n² of them in a full mesh: see the layout note on `PeerState`.
        assert_eq!(std::mem::size_of::<PeerState>(), 32);
        // Boxed for every peer that authenticated (all of a full mesh).
        assert!(std::mem::size_of::<super::RareState>() <= 72);
    }
}
