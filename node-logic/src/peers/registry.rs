//! The peer registry state machine: who is out there, who is alive.
//!
//! At start a member sends a signed hello to every bootstrap peer. A peer
//! becomes *up* when its hello (or hello-ack) verifies; from then on it is
//! pinged every `heartbeat`, and any message from it counts as a sign of
//! life. A peer silent for longer than `stale_after` is dropped (*down*)
//! and greeted again with hellos every heartbeat until it answers, which
//! is also how a restarted host rejoins.

use std::collections::BTreeMap;

use rand::RngExt;
use rand_core::Rng;

use crate::HostId;
use crate::codec::Reader;
use crate::identity::{Identity, PublicKey};
use crate::io::{Observation, RejectReason, TimerId};
use crate::outbox::Outbox;
use crate::peers::message::{PeerMessage, SignedHello};
use crate::time::{SimDuration, SimTime};

/// How a member of the peer registry behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// This host.
    pub me: HostId,
    /// The other members it greets at start (the full membership in the
    /// foundation; peer exchange narrows this later).
    pub bootstrap: Vec<HostId>,
    /// Ping interval.
    pub heartbeat: SimDuration,
    /// Silence after which a peer is dropped; must exceed `heartbeat`.
    pub stale_after: SimDuration,
}

/// What this host knows of one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerStatus {
    /// Never authenticated.
    Unknown,
    /// Authenticated and heard from within `stale_after`.
    Up,
    /// Was up, then silent for `stale_after`.
    Down,
}

#[derive(Clone, Debug)]
struct PeerState {
    key: Option<PublicKey>,
    status: PeerStatus,
    last_heard: SimTime,
}

/// Counters a host keeps about its registry, for tests and statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Hellos and hello-acks sent.
    pub hellos_sent: u64,
    /// Pings sent.
    pub pings_sent: u64,
    /// Datagrams dropped as malformed, forged or misdirected.
    pub rejected: u64,
}

/// One host's view of the peer registry. Drive it through
/// [`crate::host_node::HostNode`] or directly with its `handle_*` methods.
#[derive(Debug)]
pub struct PeerRegistry {
    config: PeerConfig,
    identity: Identity,
    peers: BTreeMap<HostId, PeerState>,
    stats: PeerStats,
}

impl PeerRegistry {
    /// A registry for `config.me`, signing with `identity`.
    pub fn new(config: PeerConfig, identity: Identity) -> Self {
        let peers = config
            .bootstrap
            .iter()
            .filter(|&&p| p != config.me)
            .map(|&p| {
                (
                    p,
                    PeerState {
                        key: None,
                        status: PeerStatus::Unknown,
                        last_heard: SimTime::ZERO,
                    },
                )
            })
            .collect();
        PeerRegistry {
            config,
            identity,
            peers,
            stats: PeerStats::default(),
        }
    }

    /// The host boots: greet everyone and schedule the first heartbeat at a
    /// random point of the first interval, so hosts do not tick in lockstep.
    pub fn handle_start(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        let targets: Vec<HostId> = self.peers.keys().copied().collect();
        for peer in targets {
            self.send_hello(peer, false, rng, out);
        }
        let first = rng.random_range(0..=self.config.heartbeat.as_nanos());
        out.set_timer(TimerId::PeerHeartbeat, now + SimDuration::from_nanos(first));
    }

    /// The heartbeat timer fired: drop stale peers, ping live ones, greet
    /// the rest, and schedule the next heartbeat.
    pub fn handle_heartbeat(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        let stale_after = self.config.stale_after;
        let mut greet = Vec::new();
        let mut ping = Vec::new();
        for (&peer, state) in &mut self.peers {
            if state.status == PeerStatus::Up && now - state.last_heard > stale_after {
                state.status = PeerStatus::Down;
                out.record(Observation::PeerDown { peer });
            }
            if state.status == PeerStatus::Up {
                ping.push(peer)
            } else {
                greet.push(peer)
            }
        }
        for peer in ping {
            self.stats.pings_sent += 1;
            out.send(
                peer,
                PeerMessage::Ping {
                    nonce: rng.next_u64(),
                }
                .encode(),
            );
        }
        for peer in greet {
            self.send_hello(peer, false, rng, out);
        }
        out.set_timer(TimerId::PeerHeartbeat, now + self.config.heartbeat);
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
        if !self.peers.contains_key(&from) {
            return self.reject(from, RejectReason::NotAMember, out);
        }
        let message = match PeerMessage::decode(body) {
            Ok(m) => m,
            Err(_) => return self.reject(from, RejectReason::Malformed, out),
        };
        match message {
            PeerMessage::Hello(hello) => {
                if self.accept_hello(now, from, &hello, out) {
                    self.send_hello(from, true, rng, out);
                }
            }
            PeerMessage::HelloAck(hello) => {
                self.accept_hello(now, from, &hello, out);
            }
            PeerMessage::Ping { nonce } => {
                if self.is_up(from) {
                    self.touch(now, from);
                    out.send(from, PeerMessage::Pong { nonce }.encode());
                } else {
                    // A peer that still thinks we know it (we restarted, or it
                    // was dropped): authenticate again instead of answering.
                    self.send_hello(from, false, rng, out);
                }
            }
            PeerMessage::Pong { .. } => {
                if self.is_up(from) {
                    self.touch(now, from);
                }
            }
        }
    }

    /// This host's view of `peer`, if it is a member.
    pub fn status(&self, peer: HostId) -> Option<PeerStatus> {
        self.peers.get(&peer).map(|s| s.status)
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

    fn accept_hello(
        &mut self,
        now: SimTime,
        from: HostId,
        hello: &SignedHello,
        out: &mut Outbox,
    ) -> bool {
        if hello.host() != from {
            self.reject(from, RejectReason::Misdirected, out);
            return false;
        }
        if hello.verify().is_err() {
            self.reject(from, RejectReason::BadSignature, out);
            return false;
        }
        let Some(state) = self.peers.get_mut(&from) else {
            // Membership was checked by the caller; nothing to update otherwise.
            return false;
        };
        match state.key {
            Some(known) if known != hello.key() => {
                self.reject(from, RejectReason::WrongKey, out);
                return false;
            }
            _ => state.key = Some(hello.key()),
        }
        state.last_heard = now;
        if state.status != PeerStatus::Up {
            state.status = PeerStatus::Up;
            out.record(Observation::PeerUp { peer: from });
        }
        true
    }

    fn send_hello(&mut self, to: HostId, ack: bool, rng: &mut dyn Rng, out: &mut Outbox) {
        let hello = SignedHello::new(self.config.me, &self.identity, rng.next_u64());
        let message = if ack {
            PeerMessage::HelloAck(hello)
        } else {
            PeerMessage::Hello(hello)
        };
        self.stats.hellos_sent += 1;
        out.send(to, message.encode());
    }

    fn is_up(&self, peer: HostId) -> bool {
        self.status(peer) == Some(PeerStatus::Up)
    }

    fn touch(&mut self, now: SimTime, peer: HostId) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.last_heard = now;
        }
    }

    fn reject(&mut self, from: HostId, reason: RejectReason, out: &mut Outbox) {
        self.stats.rejected += 1;
        out.record(Observation::MessageRejected { from, reason });
    }
}
