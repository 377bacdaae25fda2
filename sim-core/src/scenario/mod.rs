//! Scenario files: the TOML format of `SCENARIO-FORMAT.md`, parsed into the
//! typed [`Scenario`] the engine runs, with errors that name the file, line,
//! column and key path and say how to fix the mistake.

pub mod model;

pub use model::*;
