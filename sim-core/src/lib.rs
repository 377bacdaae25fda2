//! The deterministic engine: virtual clock, event queue, seeded RNG streams,
//! simulated network and filesystem, faults, and the driver that runs
//! `node-logic` state machines.
//!
//! **Architecture invariant:** nothing here prints, reads the wall clock or
//! iterates a hash map in a way that reaches event order or an output.

pub mod fs;
pub mod queue;
pub mod rng;
pub mod scenario;
pub mod trace;
pub mod units;
