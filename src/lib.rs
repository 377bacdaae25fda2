//! The simulator's model of a study: the protocols it runs
//! ([`protocols`]: each one's scenario table, host setup, checkers and
//! report), the fault kinds ([`faults`]), random schedules and their
//! shrinking ([`explore`]), the scenario format they make
//! ([`model`]), how a scenario becomes a simulation ([`runner`]) and how a
//! finished run becomes its result folder ([`results`]). The `sim` binary
//! (the CLI and the real-process runtime) is built on it.

pub mod explore;
pub mod faults;
pub mod model;
pub mod protocols;
pub mod results;
pub mod runner;

pub use model::{Scenario, Sim};
