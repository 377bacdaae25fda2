//! The deterministic engine: virtual clock, event queue, seeded RNG streams,
//! simulated network and filesystem, faults, and the driver that runs
//! `node-logic` state machines.
//!
//! **Architecture invariant:** nothing here prints, reads the wall clock or
//! iterates a hash map in a way that reaches event order or an output.

#![warn(missing_docs)]

pub mod checkers;
pub mod engine;
pub mod faults;
pub mod fs;
pub mod input;
pub mod memory;
pub mod network;
pub mod queue;
pub mod record;
pub mod rng;
pub mod scenario;
pub mod timers;
pub mod trace;
pub mod transport;
pub mod units;
