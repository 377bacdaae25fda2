//! The peer registry: signed hellos bind host ids to ed25519 keys; ping/pong
//! heartbeats keep the set of live peers; silent peers are dropped; peer
//! exchange discovers members beyond the bootstrap list; misbehaving peers
//! lose score and are banned for a while; in-host observers hear of joins
//! and leaves. [`registry`] states the behaviour in full.

pub mod membership;
pub mod message;
pub mod observe;
pub mod observers;
pub mod rate;
pub mod registry;
pub mod score;

use crate::HostId;
use crate::codec::Reader;
use crate::protocols::{Cx, HostProtocol};

pub use membership::Membership;
pub use message::{MAX_EXCHANGE_PEERS, PeerMessage, SignedHello};
pub use observe::PeerRegistryEvent;
pub use observers::{
    ObserverError, ObserverId, ObserverInfo, ObserverRegistry, PeerEvent, PeerEventKind,
};
pub use rate::RateLimit;
pub use registry::{
    Connections, PeerConfig, PeerRegistry, PeerRegistryStats, PeerStats, PeerStatus, ViewLimits,
};
pub use score::ScoreConfig;

/// The peer registry's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerTimer {
    /// Send heartbeats, retry hellos, drop stale peers.
    Heartbeat,
}

impl PeerRegistry {
    /// A peer-registry timer fired.
    pub(crate) fn timer(&mut self, cx: &mut Cx<'_>, timer: PeerTimer) {
        match timer {
            PeerTimer::Heartbeat => self.handle_heartbeat(cx.now, cx.rng, cx.out),
        }
    }
}

impl HostProtocol for PeerRegistry {
    fn start(&mut self, cx: &mut Cx<'_>, _restarted: bool) {
        self.handle_start(cx.now, cx.rng, cx.out);
    }
    fn message(&mut self, cx: &mut Cx<'_>, from: HostId, body: Reader<'_>) {
        self.handle_message(cx.now, from, body, cx.rng, cx.out);
    }
    fn expect_message(&self, from: HostId) {
        self.prefetch_peer(from);
    }
}
