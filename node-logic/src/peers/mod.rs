//! The peer registry: signed hellos bind host ids to ed25519 keys; ping/pong
//! heartbeats keep the set of live peers; silent peers are dropped.

pub mod message;
pub mod registry;

pub use message::{PeerMessage, SignedHello};
pub use registry::{PeerConfig, PeerRegistry, PeerStats, PeerStatus};
