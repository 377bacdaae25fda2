//! The scenario format of this simulator: sim-core's generic format (name,
//! seed, network, hosts, targets) plus every protocol's table
//! ([`crate::protocols`]) and every fault kind ([`crate::faults`]).

use std::path::Path;

use sim_core::scenario::{
    self, FaultEntry, FaultKeys, Hosts, Model, Override, ScenarioError, Section, Table,
};

use crate::faults::Fault;
use crate::protocols::{self, Protocols};

/// The simulator's scenario model (see [`Model`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sim;

/// A scenario of this simulator.
pub type Scenario = scenario::Scenario<Sim>;

impl Model for Sim {
    type Protocols = Protocols;
    type Fault = Fault;

    /// The protocols' tables, and `[explore]` (read by `sim explore`
    /// only: [`crate::explore::Bounds`]).
    fn sections() -> Vec<Section> {
        let mut sections = protocols::sections();
        sections.push(crate::explore::bounds::SECTION);
        sections
    }
    fn fault_kinds() -> Vec<FaultKeys> {
        crate::faults::kinds()
    }
    fn metrics() -> Vec<&'static str> {
        let mut metrics = reports::summary::RUN_METRICS.to_vec();
        metrics.extend(reports::cpu::CPU_METRICS);
        metrics.extend(protocols::metrics());
        metrics
    }
    fn unproduced(protocols: &Protocols, metric: &str) -> Option<(String, String)> {
        protocols.unproduced(metric)
    }
    fn parse_protocols(root: &Table<'_>, hosts: &Hosts<'_>) -> scenario::Result<Protocols> {
        Protocols::parse(root, hosts)
    }
    fn parse_fault(
        entry: &FaultEntry<'_>,
        hosts: &Hosts<'_>,
        protocols: &Protocols,
    ) -> scenario::Result<Fault> {
        Fault::parse(entry, hosts, protocols)
    }
    fn check_faults(faults: &[(Fault, FaultEntry<'_>)], hosts: &Hosts<'_>) -> scenario::Result<()> {
        crate::faults::check_timeline(faults, hosts)
    }
    fn check_files(root: &Table<'_>, protocols: &Protocols) -> scenario::Result<()> {
        protocols.check_files(root)
    }
}

/// Reads and validates the scenario file at `path` after `overrides`.
pub fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
    scenario::load::<Sim>(path, overrides)
}

/// Validates scenario text (`path` names it in messages and anchors
/// relative paths).
pub fn parse_str(
    text: &str,
    path: Option<&Path>,
    overrides: &[Override],
) -> Result<Scenario, ScenarioError> {
    scenario::parse_str::<Sim>(text, path, overrides)
}

/// Validates scenario bytes: a byte that is not UTF-8 is an error at its
/// line and column; then as [`parse_str`].
pub fn parse_bytes(
    bytes: &[u8],
    path: Option<&Path>,
    overrides: &[Override],
) -> Result<Scenario, ScenarioError> {
    scenario::parse_bytes::<Sim>(bytes, path, overrides)
}
