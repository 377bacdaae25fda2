//! The peer registry: signed hellos bind host ids to ed25519 keys; ping/pong
//! heartbeats keep the set of live peers; silent peers are dropped; peer
//! exchange discovers members beyond the bootstrap list; misbehaving peers
//! lose score and are banned for a while; in-host observers hear of joins
//! and leaves. [`registry`] states the behaviour in full.

pub mod message;
pub mod observers;
pub mod registry;
pub mod score;

pub use message::{MAX_EXCHANGE_PEERS, PeerMessage, SignedHello};
pub use observers::{
    ObserverError, ObserverId, ObserverInfo, ObserverRegistry, PeerEvent, PeerEventKind,
};
pub use registry::{PeerConfig, PeerRegistry, PeerRegistryStats, PeerStats, PeerStatus};
pub use score::ScoreConfig;
