//! The protocols the simulator runs, and the one place that lists them.
//!
//! Each protocol is one module here (the driver side) beside its state
//! machine in `node_logic::protocols`: its scenario table (parse and
//! validate, with located errors), its run plan (who does what, ground
//! truth), each host's part in it, what it adds to the simulation
//! (checkers, files), its metric names and its report (metrics, CSV
//! tables, plots, the digest line). It implements [`Protocol`].
//!
//! This file is the registry: [`Protocols`] holds every protocol's
//! settings and [`Plans`] every protocol's plan, one field each, and the
//! functions below call each protocol once. Adding a protocol adds a field
//! to both structs and a line to each function; the struct literals and
//! destructurings make the compiler point at every one.

pub mod consensus;
pub mod peers;
pub mod registration;

use std::collections::BTreeMap;
use std::fmt;

use node_logic::{HostConfig, HostNode};
use reports::{ReportError, ResultDir, Summary};
use sim_core::checkers::Checker;
use sim_core::engine::Simulation;
use sim_core::record::RunLog;
use sim_core::rng::RngStreams;
use sim_core::scenario::{self, HostSpec, Hosts, Section, Table};

use crate::model::Scenario;
use crate::results::Finished;
use crate::runner::{RunError, RunOptions};

/// Counters read off live nodes at the end of a run (summed over hosts),
/// by metric name.
pub type ProtocolCounters = BTreeMap<String, u64>;

/// A protocol as the simulator knows it. See the module docs.
pub trait Protocol {
    /// Its settings, from its table.
    type Spec: Clone + fmt::Debug + PartialEq;
    /// What a run of it is set up with (who does what; ground truth).
    type Plan: fmt::Debug;
    /// Its table (`[name]`) and the keys it takes. The name also prefixes
    /// its metrics (`name.*`).
    const SECTION: Section;
    /// Every metric it may write to `summary.json`.
    const METRICS: &'static [&'static str];

    /// Reads its table; `None` when the scenario does not run it (a table
    /// that would do nothing is an error). `earlier` holds the protocols
    /// listed before it in the registry.
    fn parse(
        table: &Table<'_>,
        hosts: &Hosts<'_>,
        earlier: &Protocols,
    ) -> scenario::Result<Option<Self::Spec>>;
    /// The files outside the scenario it reads (e.g. a legacy registry),
    /// as resolved paths: provenance hashes them, exports copy them.
    fn input_files(spec: &Self::Spec) -> Vec<std::path::PathBuf>;
    /// Sets up a run of it (`earlier`: the plans of the protocols listed
    /// before it).
    fn plan(
        spec: &Self::Spec,
        scenario: &Scenario,
        options: &RunOptions,
        earlier: &Plans,
    ) -> Result<Self::Plan, RunError>;
    /// Adds `host`'s part to its configuration.
    fn configure(
        spec: &Self::Spec,
        plan: &Self::Plan,
        plans: &Plans,
        host: &HostSpec,
        config: HostConfig,
        streams: &RngStreams,
    ) -> HostConfig;
    /// Files it places in the shared directory before the run (path,
    /// bytes): the simulator and real runs (`sim launch`, the Shadow
    /// export) start from the same directory.
    fn shared_files(spec: &Self::Spec, plan: &Self::Plan) -> Vec<(String, Vec<u8>)>;
    /// The invariants it checks as a run goes (a simulated one stops at
    /// the first violation; a real one is checked afterwards).
    fn checkers(spec: &Self::Spec, plan: &Self::Plan, scenario: &Scenario)
    -> Vec<Box<dyn Checker>>;
    /// Adds what it needs to the simulation before it starts (files in
    /// the shared directory, costs, checker deadlines).
    fn prepare(
        spec: &Self::Spec,
        plan: &Self::Plan,
        scenario: &Scenario,
        sim: &mut Simulation<HostNode>,
    );
    /// Adds counters read off a live node at the end of a run.
    fn node_counters(node: &HostNode, counters: &mut ProtocolCounters);
    /// Computes its report of a finished run.
    fn report<'a>(
        spec: &'a Self::Spec,
        plan: &'a Self::Plan,
        run: &Finished<'a>,
    ) -> Box<dyn ProtocolReport + 'a>;
    /// Its line in `sim run`'s digest, from the run's metrics.
    fn digest(summary: &Summary) -> Option<String>;
    /// The memory its part of a run of `scenario` takes at its peak, in
    /// bytes: every host's state machine, the observations it records,
    /// shared state (caches, files). From measured sizes, erring high
    /// (BENCHMARKS.md, "Memory estimates"): a run whose estimate does not
    /// fit is refused before it starts instead of aborting mid-run.
    fn memory(spec: &Self::Spec, scenario: &Scenario) -> u64;
}

/// What a protocol computed from a finished run.
pub trait ProtocolReport {
    /// Adds its metrics to `summary.json`.
    fn add_metrics(&self, summary: &mut Summary);
    /// Writes its CSV tables into the result folder.
    fn write_tables(&self, dir: &ResultDir, scenario: &Scenario) -> Result<(), ReportError>;
    /// Writes its SVG plots into the result folder.
    fn write_plots(
        &self,
        dir: &ResultDir,
        scenario: &Scenario,
        log: &RunLog,
    ) -> Result<(), ReportError>;
}

/// Every protocol's settings: `None` for a protocol the scenario does not run.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Protocols {
    /// The peer registry.
    pub peers: Option<<peers::Peers as Protocol>::Spec>,
    /// Wallet registration.
    pub registration: Option<<registration::Registration as Protocol>::Spec>,
    /// BFT consensus.
    pub consensus: Option<<consensus::Consensus as Protocol>::Spec>,
}

/// Every protocol's plan for one run.
#[derive(Debug, Default)]
pub struct Plans {
    /// The peer registry.
    pub peers: Option<<peers::Peers as Protocol>::Plan>,
    /// Wallet registration.
    pub registration: Option<<registration::Registration as Protocol>::Plan>,
    /// BFT consensus.
    pub consensus: Option<<consensus::Consensus as Protocol>::Plan>,
}

/// Every protocol's table, in registry order.
pub fn sections() -> Vec<Section> {
    vec![
        peers::Peers::SECTION,
        registration::Registration::SECTION,
        consensus::Consensus::SECTION,
    ]
}

/// Every protocol's metrics, in registry order.
pub fn metrics() -> Vec<&'static str> {
    [
        peers::Peers::METRICS,
        registration::Registration::METRICS,
        consensus::Consensus::METRICS,
    ]
    .concat()
}

impl Protocols {
    /// Reads every protocol's table, in registry order.
    pub fn parse(root: &Table<'_>, hosts: &Hosts<'_>) -> scenario::Result<Self> {
        let mut p = Protocols::default();
        p.peers = parse::<peers::Peers>(root, hosts, &p)?;
        p.registration = parse::<registration::Registration>(root, hosts, &p)?;
        p.consensus = parse::<consensus::Consensus>(root, hosts, &p)?;
        Ok(p)
    }

    /// Each running protocol's memory estimate ([`Protocol::memory`]), by
    /// table name, in registry order.
    pub fn memory(&self, scenario: &Scenario) -> Vec<(&'static str, u64)> {
        let Protocols {
            peers,
            registration,
            consensus,
        } = self;
        [
            memory::<peers::Peers>(peers.as_ref(), scenario),
            memory::<registration::Registration>(registration.as_ref(), scenario),
            memory::<consensus::Consensus>(consensus.as_ref(), scenario),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Every file outside the scenario the protocols read, in registry order.
    pub fn input_files(&self) -> Vec<std::path::PathBuf> {
        let Protocols {
            peers,
            registration,
            consensus,
        } = self;
        [
            peers
                .iter()
                .flat_map(peers::Peers::input_files)
                .collect::<Vec<_>>(),
            registration
                .iter()
                .flat_map(registration::Registration::input_files)
                .collect(),
            consensus
                .iter()
                .flat_map(consensus::Consensus::input_files)
                .collect(),
        ]
        .concat()
    }

    /// Whether the protocol that writes `metric` runs; if not, why, and
    /// how to fix it.
    pub fn unproduced(&self, metric: &str) -> Option<(String, String)> {
        let Protocols {
            peers,
            registration,
            consensus,
        } = self;
        let off = [
            (peers::Peers::SECTION.name, peers.is_none()),
            (
                registration::Registration::SECTION.name,
                registration.is_none(),
            ),
            (consensus::Consensus::SECTION.name, consensus.is_none()),
        ];
        let (name, _) = off
            .into_iter()
            .find(|(name, off)| *off && metric.split_once('.').is_some_and(|(p, _)| p == *name))?;
        Some((
            format!("the scenario does not run the {name} protocol"),
            format!(
                "give hosts a part in it (see [{name}] in docs/scenario-reference.md), or remove the target"
            ),
        ))
    }

    /// Sets up a run of every protocol the scenario runs.
    pub fn plans(&self, scenario: &Scenario, options: &RunOptions) -> Result<Plans, RunError> {
        let mut plans = Plans::default();
        plans.peers = plan::<peers::Peers>(self.peers.as_ref(), scenario, options, &plans)?;
        plans.registration = plan::<registration::Registration>(
            self.registration.as_ref(),
            scenario,
            options,
            &plans,
        )?;
        plans.consensus =
            plan::<consensus::Consensus>(self.consensus.as_ref(), scenario, options, &plans)?;
        Ok(plans)
    }

    /// Host `host`'s configuration: its part in every protocol.
    pub fn configure(
        &self,
        plans: &Plans,
        host: &HostSpec,
        config: HostConfig,
        streams: &RngStreams,
    ) -> HostConfig {
        let config =
            configure::<peers::Peers>(&self.peers, &plans.peers, plans, host, config, streams);
        let config = configure::<registration::Registration>(
            &self.registration,
            &plans.registration,
            plans,
            host,
            config,
            streams,
        );
        configure::<consensus::Consensus>(
            &self.consensus,
            &plans.consensus,
            plans,
            host,
            config,
            streams,
        )
    }

    /// Every protocol's files for the shared directory, in registry order.
    pub fn shared_files(&self, plans: &Plans) -> Vec<(String, Vec<u8>)> {
        [
            shared_files::<peers::Peers>(&self.peers, &plans.peers),
            shared_files::<registration::Registration>(&self.registration, &plans.registration),
            shared_files::<consensus::Consensus>(&self.consensus, &plans.consensus),
        ]
        .concat()
    }

    /// Every protocol's invariant checkers, in registry order.
    pub fn checkers(&self, plans: &Plans, scenario: &Scenario) -> Vec<Box<dyn Checker>> {
        [
            checkers::<peers::Peers>(&self.peers, &plans.peers, scenario),
            checkers::<registration::Registration>(
                &self.registration,
                &plans.registration,
                scenario,
            ),
            checkers::<consensus::Consensus>(&self.consensus, &plans.consensus, scenario),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Adds every protocol's files, costs and deadlines to the simulation.
    pub fn prepare(&self, plans: &Plans, scenario: &Scenario, sim: &mut Simulation<HostNode>) {
        prepare::<peers::Peers>(&self.peers, &plans.peers, scenario, sim);
        prepare::<registration::Registration>(
            &self.registration,
            &plans.registration,
            scenario,
            sim,
        );
        prepare::<consensus::Consensus>(&self.consensus, &plans.consensus, scenario, sim);
    }

    /// The reports of a finished run, in registry order.
    pub fn reports<'a>(
        &'a self,
        plans: &'a Plans,
        run: &Finished<'a>,
    ) -> Vec<Box<dyn ProtocolReport + 'a>> {
        [
            report::<peers::Peers>(&self.peers, &plans.peers, run),
            report::<registration::Registration>(&self.registration, &plans.registration, run),
            report::<consensus::Consensus>(&self.consensus, &plans.consensus, run),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Every protocol's counters read off a live node.
pub fn node_counters(node: &HostNode, counters: &mut ProtocolCounters) {
    peers::Peers::node_counters(node, counters);
    registration::Registration::node_counters(node, counters);
    consensus::Consensus::node_counters(node, counters);
}

/// Every protocol's digest line that has one, in registry order.
pub fn digests(summary: &Summary) -> Vec<String> {
    [
        peers::Peers::digest(summary),
        registration::Registration::digest(summary),
        consensus::Consensus::digest(summary),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn memory<P: Protocol>(spec: Option<&P::Spec>, scenario: &Scenario) -> Option<(&'static str, u64)> {
    spec.map(|spec| (P::SECTION.name, P::memory(spec, scenario)))
}

fn parse<P: Protocol>(
    root: &Table<'_>,
    hosts: &Hosts<'_>,
    earlier: &Protocols,
) -> scenario::Result<Option<P::Spec>> {
    let section = P::SECTION;
    let table = root.subtable(section.name, &format!("[{}]", section.name), section.keys)?;
    P::parse(&table, hosts, earlier)
}

fn plan<P: Protocol>(
    spec: Option<&P::Spec>,
    scenario: &Scenario,
    options: &RunOptions,
    earlier: &Plans,
) -> Result<Option<P::Plan>, RunError> {
    spec.map(|s| P::plan(s, scenario, options, earlier))
        .transpose()
}

fn configure<P: Protocol>(
    spec: &Option<P::Spec>,
    plan: &Option<P::Plan>,
    plans: &Plans,
    host: &HostSpec,
    config: HostConfig,
    streams: &RngStreams,
) -> HostConfig {
    match (spec, plan) {
        (Some(spec), Some(plan)) => P::configure(spec, plan, plans, host, config, streams),
        _ => config,
    }
}

fn prepare<P: Protocol>(
    spec: &Option<P::Spec>,
    plan: &Option<P::Plan>,
    scenario: &Scenario,
    sim: &mut Simulation<HostNode>,
) {
    if let (Some(spec), Some(plan)) = (spec, plan) {
        P::prepare(spec, plan, scenario, sim);
    }
}

fn shared_files<P: Protocol>(
    spec: &Option<P::Spec>,
    plan: &Option<P::Plan>,
) -> Vec<(String, Vec<u8>)> {
    match (spec, plan) {
        (Some(spec), Some(plan)) => P::shared_files(spec, plan),
        _ => Vec::new(),
    }
}

fn checkers<P: Protocol>(
    spec: &Option<P::Spec>,
    plan: &Option<P::Plan>,
    scenario: &Scenario,
) -> Vec<Box<dyn Checker>> {
    match (spec, plan) {
        (Some(spec), Some(plan)) => P::checkers(spec, plan, scenario),
        _ => Vec::new(),
    }
}

fn report<'a, P: Protocol + 'a>(
    spec: &'a Option<P::Spec>,
    plan: &'a Option<P::Plan>,
    run: &Finished<'a>,
) -> Option<Box<dyn ProtocolReport + 'a>> {
    match (spec, plan) {
        (Some(spec), Some(plan)) => Some(P::report(spec, plan, run)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn each_protocol_names_its_metrics_after_its_table_and_no_two_collide() {
        let mut all = BTreeSet::new();
        for (section, metrics) in [
            (peers::Peers::SECTION, peers::Peers::METRICS),
            (
                registration::Registration::SECTION,
                registration::Registration::METRICS,
            ),
            (consensus::Consensus::SECTION, consensus::Consensus::METRICS),
        ] {
            for metric in metrics {
                let prefix = format!("{}.", section.name);
                assert!(metric.starts_with(&prefix), "{metric} outside {prefix}*");
                assert!(all.insert(*metric), "{metric} twice");
            }
        }
        assert_eq!(all.len(), super::metrics().len());
        let names: BTreeSet<&str> = sections().iter().map(|s| s.name).collect();
        assert_eq!(names.len(), sections().len());
    }
}
