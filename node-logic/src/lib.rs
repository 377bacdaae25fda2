//! Sans-IO protocol state machines: the node logic that the simulator
//! (`sim-core`) and the real-process runtime (`sim node`) both drive.
//!
//! **Architecture invariant:** nothing in this crate does IO, reads a clock,
//! starts a thread or owns entropy. Time comes in as a [`time::SimTime`],
//! randomness as an injected RNG, and every effect goes out as an
//! [`io::Output`] value. See [`io`] for the calling contract.

#![warn(missing_docs)]

pub mod codec;
pub mod envelope;
pub mod fragment;
pub mod frame;
pub mod host;
pub mod host_node;
pub mod identity;
pub mod io;
pub mod listing;
pub mod meter;
pub mod observe;
pub mod outbox;
pub mod prefetch;
pub mod protocols;
mod serde_hex;
pub mod testkit;
pub mod time;
pub mod wire;

pub use host::HostId;
pub use io::{Input, Node, Output, Payload, Work};
pub use protocols::{HostConfig, HostNode, Observation, ProtocolTag, TimerId};
