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
pub mod gossip;
pub mod peers;
pub mod registration;

use std::collections::BTreeMap;
use std::fmt;

use node_logic::{HostConfig, HostNode};
use reports::plots::svg;
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
    /// The files outside the scenario it reads (e.g. a legacy registry):
    /// the key of its table that names each, and the resolved path.
    /// Provenance hashes them; exports copy them and rewrite the key.
    fn input_files(spec: &Self::Spec) -> Vec<(&'static str, std::path::PathBuf)>;
    /// Reads and checks those files when a scenario file is loaded, with
    /// errors at the key of `table` that names each or inside the file.
    fn check_files(spec: &Self::Spec, table: &Table<'_>) -> scenario::Result<()>;
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
    fn write_plots(&self, dir: &ResultDir, plot: &PlotContext<'_>) -> Result<(), ReportError>;
}

/// What a protocol's plots need besides its report: the run, the line
/// under every title and the faults to shade.
pub struct PlotContext<'a> {
    /// The scenario that ran.
    pub scenario: &'a Scenario,
    /// What happened.
    pub log: &'a RunLog,
    /// The line under every title: scenario, seed, parameters.
    pub caption: String,
    /// The faults, as shaded windows on time axes.
    pub faults: Vec<svg::Shade>,
    /// CDFs on a logarithmic time axis.
    pub log_cdf: bool,
}

impl<'a> PlotContext<'a> {
    /// The context of a run without sweep parameters: captioned with its
    /// name and seed, its faults shaded, CDFs on a linear axis.
    pub fn new(scenario: &'a Scenario, log: &'a RunLog) -> Self {
        let seed = format!("seed {}", scenario.seed);
        PlotContext {
            scenario,
            log,
            caption: reports::plots::caption(&scenario.name, &seed, &[]),
            faults: crate::results::fault_shades(scenario),
            log_cdf: false,
        }
    }

    /// A chart over simulated time (the whole run, faults shaded) with the
    /// run's caption.
    pub fn time_chart(&self, title: &str, y_label: &str) -> svg::Chart {
        svg::Chart {
            subtitle: self.caption.clone(),
            shades: self.faults.clone(),
            x_span: Some((0.0, self.scenario.duration.as_secs_f64())),
            ..svg::Chart::new(title, "simulated time (s)", y_label)
        }
    }
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
    /// Rumor spreading.
    pub gossip: Option<<gossip::Gossip as Protocol>::Spec>,
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
    /// Rumor spreading.
    pub gossip: Option<<gossip::Gossip as Protocol>::Plan>,
}

/// Something done once per protocol type (its table, metrics, digest).
pub trait VisitProtocol {
    /// Called with each protocol, in registry order.
    fn visit<P: Protocol>(&mut self);
}

/// Something done once per protocol with its settings and plan (`None`
/// when the scenario does not run it).
pub trait VisitRun<'a> {
    /// Called with each protocol, in registry order.
    fn visit<P: Protocol + 'a>(&mut self, spec: Option<&'a P::Spec>, plan: Option<&'a P::Plan>);
}

/// Calls `v` with every protocol, in registry order: the one list of
/// protocol types. (The test `every_protocol_is_visited` checks it against
/// the fields of [`Protocols`].)
pub fn visit_protocols(v: &mut impl VisitProtocol) {
    v.visit::<peers::Peers>();
    v.visit::<registration::Registration>();
    v.visit::<consensus::Consensus>();
    v.visit::<gossip::Gossip>();
}

impl Protocols {
    /// Calls `v` with every protocol's settings and plan, in registry
    /// order. (Destructured: a protocol added to the structs but not here
    /// does not compile.)
    pub fn visit<'a>(&'a self, plans: &'a Plans, v: &mut impl VisitRun<'a>) {
        let Protocols {
            peers,
            registration,
            consensus,
            gossip,
        } = self;
        let Plans {
            peers: peers_plan,
            registration: registration_plan,
            consensus: consensus_plan,
            gossip: gossip_plan,
        } = plans;
        v.visit::<peers::Peers>(peers.as_ref(), peers_plan.as_ref());
        v.visit::<registration::Registration>(registration.as_ref(), registration_plan.as_ref());
        v.visit::<consensus::Consensus>(consensus.as_ref(), consensus_plan.as_ref());
        v.visit::<gossip::Gossip>(gossip.as_ref(), gossip_plan.as_ref());
    }

    /// Reads every protocol's table, in registry order.
    pub fn parse(root: &Table<'_>, hosts: &Hosts<'_>) -> scenario::Result<Self> {
        let mut p = Protocols::default();
        p.peers = parse::<peers::Peers>(root, hosts, &p)?;
        p.registration = parse::<registration::Registration>(root, hosts, &p)?;
        p.consensus = parse::<consensus::Consensus>(root, hosts, &p)?;
        p.gossip = parse::<gossip::Gossip>(root, hosts, &p)?;
        Ok(p)
    }

    /// Sets up a run of every protocol the scenario runs, in registry order.
    pub fn plans(&self, scenario: &Scenario, options: &RunOptions) -> Result<Plans, RunError> {
        let mut plans = Plans::default();
        plans.peers = plan::<peers::Peers>(self.peers.as_ref(), scenario, options, &plans)?;
        let registration = self.registration.as_ref();
        plans.registration =
            plan::<registration::Registration>(registration, scenario, options, &plans)?;
        let consensus = self.consensus.as_ref();
        plans.consensus = plan::<consensus::Consensus>(consensus, scenario, options, &plans)?;
        plans.gossip = plan::<gossip::Gossip>(self.gossip.as_ref(), scenario, options, &plans)?;
        Ok(plans)
    }

    /// Each running protocol's memory estimate ([`Protocol::memory`]), by
    /// table name, in registry order.
    pub fn memory(&self, scenario: &Scenario) -> Vec<(&'static str, u64)> {
        struct Memory<'s>(&'s Scenario, Vec<(&'static str, u64)>);
        impl<'a> VisitRun<'a> for Memory<'_> {
            fn visit<P: Protocol + 'a>(
                &mut self,
                spec: Option<&'a P::Spec>,
                _: Option<&'a P::Plan>,
            ) {
                if let Some(spec) = spec {
                    self.1.push((P::SECTION.name, P::memory(spec, self.0)));
                }
            }
        }
        let empty = Plans::default();
        let mut memory = Memory(scenario, Vec::new());
        self.visit(&empty, &mut memory);
        memory.1
    }

    /// Every file outside the scenario the protocols read: the dotted
    /// key that names it (`registration.legacy_registry`) and its
    /// resolved path.
    pub fn input_files(&self) -> Vec<(String, std::path::PathBuf)> {
        #[derive(Default)]
        struct Files(Vec<(String, std::path::PathBuf)>);
        impl<'a> VisitRun<'a> for Files {
            fn visit<P: Protocol + 'a>(
                &mut self,
                spec: Option<&'a P::Spec>,
                _: Option<&'a P::Plan>,
            ) {
                let files = spec.into_iter().flat_map(P::input_files);
                let table = P::SECTION.name;
                self.0
                    .extend(files.map(|(key, path)| (format!("{table}.{key}"), path)));
            }
        }
        let empty = Plans::default();
        let mut files = Files::default();
        self.visit(&empty, &mut files);
        files.0
    }

    /// Reads and checks every file outside the scenario the protocols name
    /// (see [`Protocol::check_files`]); `root` is the scenario's table.
    pub fn check_files(&self, root: &Table<'_>) -> scenario::Result<()> {
        struct Check<'r, 'a>(&'r Table<'a>, scenario::Result<()>);
        impl<'p> VisitRun<'p> for Check<'_, '_> {
            fn visit<P: Protocol + 'p>(
                &mut self,
                spec: Option<&'p P::Spec>,
                _: Option<&'p P::Plan>,
            ) {
                if let (Some(spec), Ok(())) = (spec, &self.1) {
                    let section = P::SECTION;
                    let name = format!("[{}]", section.name);
                    self.1 = self
                        .0
                        .subtable(section.name, &name, section.keys)
                        .and_then(|table| P::check_files(spec, &table));
                }
            }
        }
        let empty = Plans::default();
        let mut check = Check(root, Ok(()));
        self.visit(&empty, &mut check);
        check.1
    }

    /// Whether the protocol that writes `metric` runs; if not, why, and
    /// how to fix it.
    pub fn unproduced(&self, metric: &str) -> Option<(String, String)> {
        struct Off<'m>(&'m str, Option<&'static str>);
        impl<'a> VisitRun<'a> for Off<'_> {
            fn visit<P: Protocol + 'a>(
                &mut self,
                spec: Option<&'a P::Spec>,
                _: Option<&'a P::Plan>,
            ) {
                let name = P::SECTION.name;
                if spec.is_none() && self.0.split_once('.').is_some_and(|(p, _)| p == name) {
                    self.1 = Some(name);
                }
            }
        }
        let empty = Plans::default();
        let mut off = Off(metric, None);
        self.visit(&empty, &mut off);
        let name = off.1?;
        Some((
            format!("the scenario does not run the {name} protocol"),
            format!(
                "give hosts a part in it (see [{name}] in docs/scenario-reference.md), or remove the target"
            ),
        ))
    }

    /// Host `host`'s configuration: its part in every protocol.
    pub fn configure(
        &self,
        plans: &Plans,
        host: &HostSpec,
        config: HostConfig,
        streams: &RngStreams,
    ) -> HostConfig {
        struct Configure<'s> {
            plans: &'s Plans,
            host: &'s HostSpec,
            config: Option<HostConfig>,
            streams: &'s RngStreams,
        }
        impl<'a> VisitRun<'a> for Configure<'_> {
            fn visit<P: Protocol + 'a>(
                &mut self,
                spec: Option<&'a P::Spec>,
                plan: Option<&'a P::Plan>,
            ) {
                if let (Some(spec), Some(plan)) = (spec, plan) {
                    let (plans, host, streams) = (self.plans, self.host, self.streams);
                    let config = self.config.take().expect("handed on by every protocol");
                    self.config = Some(P::configure(spec, plan, plans, host, config, streams));
                }
            }
        }
        let mut v = Configure {
            plans,
            host,
            config: Some(config),
            streams,
        };
        self.visit(plans, &mut v);
        v.config.expect("each protocol hands the configuration on")
    }

    /// Every protocol's files for the shared directory.
    pub fn shared_files(&self, plans: &Plans) -> Vec<(String, Vec<u8>)> {
        #[derive(Default)]
        struct Files(Vec<(String, Vec<u8>)>);
        impl<'a> VisitRun<'a> for Files {
            fn visit<P: Protocol + 'a>(
                &mut self,
                spec: Option<&'a P::Spec>,
                plan: Option<&'a P::Plan>,
            ) {
                if let (Some(spec), Some(plan)) = (spec, plan) {
                    self.0.extend(P::shared_files(spec, plan));
                }
            }
        }
        let mut files = Files::default();
        self.visit(plans, &mut files);
        files.0
    }

    /// Every protocol's invariant checkers.
    pub fn checkers(&self, plans: &Plans, scenario: &Scenario) -> Vec<Box<dyn Checker>> {
        struct Checkers<'s>(&'s Scenario, Vec<Box<dyn Checker>>);
        impl<'a> VisitRun<'a> for Checkers<'_> {
            fn visit<P: Protocol + 'a>(
                &mut self,
                spec: Option<&'a P::Spec>,
                plan: Option<&'a P::Plan>,
            ) {
                if let (Some(spec), Some(plan)) = (spec, plan) {
                    self.1.extend(P::checkers(spec, plan, self.0));
                }
            }
        }
        let mut v = Checkers(scenario, Vec::new());
        self.visit(plans, &mut v);
        v.1
    }

    /// Adds every protocol's files, costs and deadlines to the simulation.
    pub fn prepare(&self, plans: &Plans, scenario: &Scenario, sim: &mut Simulation<HostNode>) {
        struct Prepare<'s>(&'s Scenario, &'s mut Simulation<HostNode>);
        impl<'a> VisitRun<'a> for Prepare<'_> {
            fn visit<P: Protocol + 'a>(
                &mut self,
                spec: Option<&'a P::Spec>,
                plan: Option<&'a P::Plan>,
            ) {
                if let (Some(spec), Some(plan)) = (spec, plan) {
                    P::prepare(spec, plan, self.0, self.1);
                }
            }
        }
        self.visit(plans, &mut Prepare(scenario, sim));
    }

    /// The reports of a finished run, in registry order.
    pub fn reports<'a>(
        &'a self,
        plans: &'a Plans,
        run: &Finished<'a>,
    ) -> Vec<Box<dyn ProtocolReport + 'a>> {
        struct Reports<'r, 'a>(&'r Finished<'a>, Vec<Box<dyn ProtocolReport + 'a>>);
        impl<'a> VisitRun<'a> for Reports<'_, 'a> {
            fn visit<P: Protocol + 'a>(
                &mut self,
                spec: Option<&'a P::Spec>,
                plan: Option<&'a P::Plan>,
            ) {
                if let (Some(spec), Some(plan)) = (spec, plan) {
                    self.1.push(P::report(spec, plan, self.0));
                }
            }
        }
        let mut v = Reports(run, Vec::new());
        self.visit(plans, &mut v);
        v.1
    }
}

/// Every protocol's table, in registry order.
pub fn sections() -> Vec<Section> {
    #[derive(Default)]
    struct Sections(Vec<Section>);
    impl VisitProtocol for Sections {
        fn visit<P: Protocol>(&mut self) {
            self.0.push(P::SECTION);
        }
    }
    let mut v = Sections::default();
    visit_protocols(&mut v);
    v.0
}

/// Every protocol's metrics, in registry order.
pub fn metrics() -> Vec<&'static str> {
    #[derive(Default)]
    struct Metrics(Vec<&'static str>);
    impl VisitProtocol for Metrics {
        fn visit<P: Protocol>(&mut self) {
            self.0.extend(P::METRICS);
        }
    }
    let mut v = Metrics::default();
    visit_protocols(&mut v);
    v.0
}

/// Every protocol's counters read off a live node.
pub fn node_counters(node: &HostNode, counters: &mut ProtocolCounters) {
    struct Count<'n>(&'n HostNode, &'n mut ProtocolCounters);
    impl VisitProtocol for Count<'_> {
        fn visit<P: Protocol>(&mut self) {
            P::node_counters(self.0, self.1);
        }
    }
    visit_protocols(&mut Count(node, counters));
}

/// Every protocol's digest line that has one, in registry order.
pub fn digests(summary: &Summary) -> Vec<String> {
    struct Digests<'s>(&'s Summary, Vec<String>);
    impl VisitProtocol for Digests<'_> {
        fn visit<P: Protocol>(&mut self) {
            self.1.extend(P::digest(self.0));
        }
    }
    let mut v = Digests(summary, Vec::new());
    visit_protocols(&mut v);
    v.1
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn each_protocol_names_its_metrics_after_its_table_and_no_two_collide() {
        struct Check(BTreeSet<&'static str>, usize);
        impl VisitProtocol for Check {
            fn visit<P: Protocol>(&mut self) {
                self.1 += 1;
                for metric in P::METRICS {
                    let prefix = format!("{}.", P::SECTION.name);
                    assert!(metric.starts_with(&prefix), "{metric} outside {prefix}*");
                    assert!(self.0.insert(metric), "{metric} twice");
                }
            }
        }
        let mut check = Check(BTreeSet::new(), 0);
        visit_protocols(&mut check);
        assert_eq!(check.0.len(), super::metrics().len());
        let names: BTreeSet<&str> = sections().iter().map(|s| s.name).collect();
        assert_eq!(names.len(), check.1);
    }

    #[test]
    fn every_protocol_is_visited_by_type_and_by_run() {
        struct Count(usize);
        impl<'a> VisitRun<'a> for Count {
            fn visit<P: Protocol + 'a>(&mut self, _: Option<&'a P::Spec>, _: Option<&'a P::Plan>) {
                self.0 += 1;
            }
        }
        let mut count = Count(0);
        Protocols::default().visit(&Plans::default(), &mut count);
        assert_eq!(
            count.0,
            sections().len(),
            "visit_protocols lists every protocol"
        );
    }
}
