//! Bounded views: a member keeps a few connections instead of one with
//! every other member (set by [`ViewLimits`]; without them the registry is
//! the full mesh the parent module describes).
//!
//! - **Connections.** An up peer is *outbound* when this host opened the
//!   connection (its hello was answered, or crossed the peer's own) and
//!   *inbound* when the peer opened it. A host keeps trying to have
//!   `outbound` outbound connections and accepts at most `inbound` inbound
//!   ones, so its degree is at most `outbound + inbound`.
//! - **Selection.** At start, at every heartbeat, and whenever it learns
//!   peers or loses a connection, a host with free outbound slots greets
//!   that many peers drawn uniformly (host RNG) from the known peers that
//!   are neither up, nor being greeted, nor banned, nor waiting out a
//!   retry; each greeting is *pending* until answered. A pending greeting
//!   unanswered for `stale_after` fails: that peer waits `retry_after`.
//!   Nobody else is greeted: no peer is re-greeted just for being known.
//! - **Refusal and eviction.** A hello that would open an inbound
//!   connection beyond the limit evicts the inbound peer with the lowest
//!   score if that score is below the newcomer's (the evicted peer is sent
//!   `Refused` and goes down); otherwise the hello is refused: no answer
//!   but `Refused` with the host's connected peers, which the refused host
//!   learns and tries instead, waiting `retry_after` before trying the
//!   refuser again.
//! - **Replacement.** The known-peer table holds at most `known` peers;
//!   peer exchange runs while the table has room or outbound slots are
//!   free, and a new peer takes the place of a random peer that is neither
//!   up, nor being greeted, nor banned (none such: it is not remembered,
//!   and a datagram from it is dropped).
//! - **Liveness** is as in a full mesh: pings to up peers, silent ones
//!   dropped after `stale_after` (which frees their slot for another).
//!
//! Counting connections scans the known-peer table (at most `known`
//! entries) and happens on greetings, refusals and heartbeats, never on a
//! ping or pong.

use rand::RngExt;
use rand_core::Rng;

use super::{PeerRegistry, PeerStatus, Pending, ViewLimits};
use crate::HostId;
use crate::outbox::Outbox;
use crate::protocols::Observation;
use crate::protocols::peers::message::PeerMessage;
use crate::protocols::peers::observe::PeerRegistryEvent;
use crate::time::SimTime;

/// A host's connections, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connections {
    /// Up peers whose connection this host opened (bounded views only).
    pub outbound: usize,
    /// Up peers that opened their connection to this host (every up peer
    /// of a full mesh).
    pub inbound: usize,
    /// Greetings sent to connect, not answered yet (bounded views only).
    pub pending: usize,
}

impl Connections {
    /// Outbound connections and greetings under way.
    pub fn outbound_or_pending(self) -> usize {
        self.outbound + self.pending
    }
}

impl PeerRegistry {
    /// This host's connections, by direction, and its pending greetings.
    pub fn connections(&self) -> Connections {
        let mut c = Connections::default();
        for state in self.peers.values() {
            match (state.status, state.outbound) {
                (PeerStatus::Up, true) => c.outbound += 1,
                (PeerStatus::Up, false) => c.inbound += 1,
                (PeerStatus::Unknown | PeerStatus::Down | PeerStatus::Banned, _) => {
                    c.pending += usize::from(state.pending.is_some());
                }
            }
        }
        c
    }

    /// Bounded views: greets random candidates for the free outbound slots.
    pub(super) fn fill_slots(&mut self, now: SimTime, rng: &mut dyn Rng, out: &mut Outbox) {
        let Some(limits) = self.config.limits else {
            return;
        };
        let free = limits
            .outbound
            .saturating_sub(self.connections().outbound_or_pending());
        if free == 0 {
            return;
        }
        let mut candidates: Vec<HostId> = self
            .peers
            .iter()
            .filter(|(_, s)| {
                matches!(s.status, PeerStatus::Unknown | PeerStatus::Down)
                    && s.pending.is_none()
                    && s.rare().retry_at <= now
            })
            .map(|(&p, _)| p)
            .collect();
        let picked = pick(&mut candidates, free, rng);
        for &peer in picked {
            if let Some(state) = self.peers.get_mut(&peer) {
                state.pending = Pending::since(now);
            }
            self.send_hello(peer, false, rng, out);
        }
    }

    /// Bounded views: frees a place in a full known-peer table by forgetting
    /// a random peer that is neither up, nor greeted, nor banned; returns
    /// whether there is room.
    pub(super) fn make_room(&mut self, rng: &mut dyn Rng) -> bool {
        let Some(limits) = self.config.limits else {
            return true;
        };
        if self.peers.len() < limits.known {
            return true;
        }
        let mut forgettable: Vec<HostId> = self
            .peers
            .iter()
            .filter(|(_, s)| {
                matches!(s.status, PeerStatus::Unknown | PeerStatus::Down) && s.pending.is_none()
            })
            .map(|(&p, _)| p)
            .collect();
        match pick(&mut forgettable, 1, rng).first() {
            Some(peer) => {
                self.peers.remove(peer);
                true
            }
            None => false,
        }
    }

    /// Whether `from`, not up, may open an inbound connection: always in a
    /// full mesh; under bounded views when a slot is free or a worse-scored
    /// inbound peer is evicted for it. Refuses it otherwise.
    pub(super) fn admit_inbound(
        &mut self,
        now: SimTime,
        from: HostId,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) -> bool {
        let Some(limits) = self.config.limits else {
            return true;
        };
        if self.connections().inbound < limits.inbound {
            return true;
        }
        let newcomer = self.peers.get(&from).map_or(i32::MIN, |s| s.score);
        // The lowest score, the lowest id among equals (iteration order).
        let victim = self
            .peers
            .iter()
            .filter(|(_, s)| s.status == PeerStatus::Up && !s.outbound && s.score < newcomer)
            .min_by_key(|(_, s)| s.score)
            .map(|(&p, _)| p);
        match victim {
            Some(victim) => {
                self.evict(now, victim, limits, rng, out);
                true
            }
            None => {
                self.stats.refused += 1;
                out.record(Observation::Peers(PeerRegistryEvent::Refused {
                    peer: from,
                }));
                let peers = self.exchange_list(from, rng);
                out.send(from, PeerMessage::Refused { peers }.encode());
                false
            }
        }
    }

    /// Closes the inbound connection of `victim` to make room.
    fn evict(
        &mut self,
        now: SimTime,
        victim: HostId,
        limits: ViewLimits,
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        self.stats.evicted += 1;
        out.record(Observation::Peers(PeerRegistryEvent::Evicted {
            peer: victim,
        }));
        let peers = self.exchange_list(victim, rng);
        out.send(victim, PeerMessage::Refused { peers }.encode());
        let Some(state) = self.peers.get_mut(&victim) else {
            return;
        };
        state.status = PeerStatus::Down;
        state.rare_mut().retry_at = now + limits.retry_after;
        let lifetime = now - state.rare().up_since;
        self.record_leave(now, victim, lifetime, out);
    }

    /// `from`, up or greeted, refused us or closed our connection: it goes
    /// down, waits `retry_after`, and the peers it named are tried instead.
    pub(super) fn refused_by(
        &mut self,
        now: SimTime,
        from: HostId,
        peers: &[HostId],
        rng: &mut dyn Rng,
        out: &mut Outbox,
    ) {
        let retry_after = self.config.limits.map(|l| l.retry_after);
        let Some(state) = self.peers.get_mut(&from) else {
            return;
        };
        state.pending = Pending::NONE;
        if let Some(retry_after) = retry_after {
            state.rare_mut().retry_at = now + retry_after;
        }
        if state.status == PeerStatus::Up {
            state.status = PeerStatus::Down;
            let lifetime = now - state.rare().up_since;
            self.record_leave(now, from, lifetime, out);
        }
        self.learn(now, peers, rng, out);
    }
}

/// Moves `k` entries drawn uniformly (partial Fisher-Yates) to the front of
/// `items` and returns them.
fn pick<'a>(items: &'a mut [HostId], k: usize, rng: &mut dyn Rng) -> &'a [HostId] {
    let k = k.min(items.len());
    for i in 0..k {
        let j = rng.random_range(i..items.len());
        items.swap(i, j);
    }
    &items[..k]
}
