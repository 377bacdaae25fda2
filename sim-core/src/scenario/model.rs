//! The validated, typed form of a scenario file: what the engine runs.
//!
//! Everything here has already passed parsing and validation ("parse, don't
//! validate"): host references are resolved to [`HostId`]s, times are checked
//! against the timeline, probabilities are in range. The engine never has to
//! re-check a scenario.

use std::path::PathBuf;

use node_logic::HostId;

use super::Model;
use crate::units::{Bandwidth, Probability, SimDuration, SimTime};

/// A whole study: network, hosts, protocol settings, faults and targets.
/// `M` says which protocols and fault kinds the format has (see
/// [`super::Model`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario<M: Model> {
    /// Short name used for the output folder (`out/<name>/seed-<n>/`);
    /// defaults to the file's stem.
    pub name: String,
    /// One line for humans; printed by `sim run`.
    pub description: String,
    /// Master seed every RNG stream derives from (`--seed` overrides).
    pub seed: u64,
    /// Simulated stop time.
    pub duration: SimDuration,
    /// Topology, link and host-bandwidth parameters.
    pub network: NetworkSpec,
    /// Host groups in file order; hosts are numbered across groups in this order.
    pub groups: Vec<HostGroup>,
    /// Every host, expanded from the groups (index = [`HostId`]).
    pub hosts: Vec<HostSpec>,
    /// The CPU cost model (`[cpu]`), off when `None`.
    pub cpu: Option<super::CpuSpec>,
    /// Every protocol's settings, from their tables.
    pub protocols: M::Protocols,
    /// The fault timeline, in file order.
    pub faults: Vec<Fault<M::Fault>>,
    /// Targets checked against the run's metrics, in file order.
    pub targets: Vec<Target>,
    /// Per-metric baseline tolerances (`[tolerances]`, relative, e.g. 0.2
    /// for "20%"), overriding `sim check --tolerance` for those metrics.
    pub tolerances: Vec<(String, f64)>,
    /// The file this came from, for messages and for resolving relative paths.
    pub source: Option<PathBuf>,
}

/// How hosts are connected.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    /// Which graph the hosts attach to.
    pub topology: TopologySpec,
    /// Per-link latency for built-in topologies.
    pub latency: SimDuration,
    /// Per-link jitter for built-in topologies: each message gets an extra
    /// delay drawn uniformly from `0..=jitter`.
    pub jitter: SimDuration,
    /// Per-link loss for built-in topologies.
    pub loss: Probability,
    /// Per-host upstream rate; `None` with a GML graph means "take the node's
    /// `host_bandwidth_up`".
    pub bandwidth_up: Option<Bandwidth>,
    /// Per-host downstream rate; as for `bandwidth_up`.
    pub bandwidth_down: Option<Bandwidth>,
}

/// The graph hosts attach to.
#[derive(Clone, Debug, PartialEq)]
pub enum TopologySpec {
    /// Every pair of hosts one link apart (one vertex with a self-loop, as
    /// Shadow's single-switch graph).
    Mesh,
    /// Every host on its own leaf, linked to one hub: host to host is two links.
    Star,
    /// Hosts on a cycle; messages take the shorter way round.
    Ring,
    /// A random connected graph where every host has `degree` links, drawn
    /// from the `topology` RNG stream.
    RandomRegular {
        /// Links per host (>= 2, < host count, and host count x degree even).
        degree: u32,
    },
    /// A Shadow-dialect GML file (path resolved against the scenario's folder).
    Gml {
        /// Absolute or scenario-relative path, already resolved.
        path: PathBuf,
    },
    /// Named regions with a latency (and loss) matrix between them: one
    /// vertex per region, hosts spread over the regions by share or count.
    Regions(Vec<RegionSpec>),
}

/// One region of a `regions` topology.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionSpec {
    /// Its name (unique).
    pub name: String,
    /// How many of the hosts it holds.
    pub size: RegionSize,
    /// Host bandwidth in the region (up and down), unless a host group or
    /// `[network]` sets one.
    pub bandwidth: Option<Bandwidth>,
    /// One-way latency to each region, by region index (its own index:
    /// between two hosts of this region). The matrix is symmetric.
    pub latency: Vec<SimDuration>,
    /// Loss to each region, by region index (symmetric; 0 when not given).
    pub loss: Vec<Probability>,
}

/// How many hosts a region holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RegionSize {
    /// This share of all hosts (the shares add up to 1).
    Share(f64),
    /// Exactly this many hosts (the counts add up to the host count).
    Count(u32),
}

/// What a host does: a shorthand for the protocols it runs by default.
/// Each protocol's table may select hosts explicitly instead (e.g.
/// `[consensus] validators`, `[peers] members`); a `host` runs only what
/// the tables select for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Registers a wallet in the shared directory.
    Miner,
    /// Takes part in consensus (and is a registrar by default).
    Validator,
    /// Waits for the miners' wallets.
    Registrar,
    /// Plain peer-registry member.
    Peer,
    /// Nothing by default: only the protocols whose tables name it.
    Host,
}

impl Role {
    /// The spelling used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Miner => "miner",
            Role::Validator => "validator",
            Role::Registrar => "registrar",
            Role::Peer => "peer",
            Role::Host => "host",
        }
    }
}

/// A `[[hosts]]` table: `count` hosts named `<name>-0 .. <name>-(count-1)`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostGroup {
    /// Group name; also a host reference meaning "all of the group".
    pub name: String,
    /// Number of hosts (>= 1).
    pub count: u32,
    /// What every host of the group does.
    pub role: Role,
    /// When the hosts start.
    pub start: StartSpec,
    /// Where the hosts attach in a GML graph.
    pub graph_node: GraphNodeSpec,
    /// Per-group bandwidth override (up), if given.
    pub bandwidth_up: Option<Bandwidth>,
    /// Per-group bandwidth override (down), if given.
    pub bandwidth_down: Option<Bandwidth>,
}

impl HostGroup {
    /// `count` hosts named `<name>-<i>` with `role`, starting at once,
    /// spread round-robin over the graph, with the network's bandwidths.
    pub fn new(name: &str, count: u32, role: Role) -> Self {
        HostGroup {
            name: name.to_string(),
            count,
            role,
            start: StartSpec::At(SimDuration::ZERO),
            graph_node: GraphNodeSpec::RoundRobin,
            bandwidth_up: None,
            bandwidth_down: None,
        }
    }
}

impl NetworkSpec {
    /// A `topology` with the per-link `latency` and no jitter, loss or
    /// bandwidth setting.
    pub fn new(topology: TopologySpec, latency: SimDuration) -> Self {
        NetworkSpec {
            topology,
            latency,
            jitter: SimDuration::ZERO,
            loss: Probability::ZERO,
            bandwidth_up: None,
            bandwidth_down: None,
        }
    }
}

/// When the hosts of a group start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartSpec {
    /// All at this offset from the start of the run.
    At(SimDuration),
    /// Each at an offset drawn uniformly from `[from, to]` (inclusive), from
    /// the host's own `host-start` RNG stream.
    Uniform(SimDuration, SimDuration),
}

/// Which GML vertex a group's hosts attach to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphNodeSpec {
    /// Spread hosts over the graph's vertices in id order, continuing across
    /// groups (host i goes to vertex i mod vertex count).
    RoundRobin,
    /// All hosts of the group on the vertex with this GML `id`.
    Node(u32),
}

/// One host after expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// Its id (its index in [`Scenario::hosts`]).
    pub id: HostId,
    /// `<group>-<i>`.
    pub name: String,
    /// Index of its group in [`Scenario::groups`].
    pub group: usize,
    /// Copied from the group.
    pub role: Role,
}

/// Where in the scenario file something was written, for later messages
/// (a fault that cannot be applied, a target that cannot be checked).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// One `[[faults]]` entry; `K` is the model's fault kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault<K> {
    /// When it starts.
    pub at: SimTime,
    /// What it does.
    pub kind: K,
    /// Where the entry starts in the file.
    pub location: Location,
}

/// A comparison in `[targets]`, e.g. `"registration.p95_s" = "< 60"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The metric name as in `summary.json`.
    pub metric: String,
    /// The comparison.
    pub op: Comparison,
    /// The right-hand side.
    pub value: f64,
    /// `None`: the target must hold on every run. `Some`: it applies to
    /// this statistic of the metric over the seeds of a sweep (written
    /// `"metric" = { p95 = "< 60" }`), checked by `sim check`.
    pub over_seeds: Option<SeedStatistic>,
    /// Where the target is written.
    pub location: Location,
}

/// A statistic of a metric over the seeds of a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedStatistic {
    /// The mean.
    Mean,
    /// The median (nearest rank).
    P50,
    /// The 95th percentile (nearest rank).
    P95,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
}

impl SeedStatistic {
    /// The spelling in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            SeedStatistic::Mean => "mean",
            SeedStatistic::P50 => "p50",
            SeedStatistic::P95 => "p95",
            SeedStatistic::Min => "min",
            SeedStatistic::Max => "max",
        }
    }
    /// This statistic of `values` (nearest-rank percentiles); `None` when empty.
    pub fn of(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank =
            |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Some(match self {
            SeedStatistic::Mean => sorted.iter().sum::<f64>() / sorted.len() as f64,
            SeedStatistic::P50 => rank(0.5),
            SeedStatistic::P95 => rank(0.95),
            SeedStatistic::Min => sorted[0],
            SeedStatistic::Max => sorted[sorted.len() - 1],
        })
    }
}

/// A target's operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
}

impl Comparison {
    /// Whether `measured <op> bound` holds.
    pub fn holds(self, measured: f64, bound: f64) -> bool {
        match self {
            Comparison::Less => measured < bound,
            Comparison::LessOrEqual => measured <= bound,
            Comparison::Greater => measured > bound,
            Comparison::GreaterOrEqual => measured >= bound,
            Comparison::Equal => measured == bound,
            Comparison::NotEqual => measured != bound,
        }
    }
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
        }
    }
}

impl<M: Model> Scenario<M> {
    /// A scenario named `name` of `groups` on `network` for `duration`,
    /// running `protocols`: seed 1, no faults, no targets, no file. For
    /// tests and tools; fields can be set afterwards (`scenario.seed = 7`).
    pub fn new(
        name: &str,
        duration: SimDuration,
        network: NetworkSpec,
        groups: Vec<HostGroup>,
        protocols: M::Protocols,
    ) -> Self {
        Scenario {
            name: name.to_string(),
            description: String::new(),
            seed: 1,
            duration,
            network,
            hosts: super::hosts::expand(&groups),
            groups,
            cpu: None,
            protocols,
            faults: Vec::new(),
            targets: Vec::new(),
            tolerances: Vec::new(),
            source: None,
        }
    }

    /// The host with this name, if any.
    pub fn host_by_name(&self, name: &str) -> Option<&HostSpec> {
        self.hosts.iter().find(|h| h.name == name)
    }
    /// The hosts of the group with this name, in order.
    pub fn group_hosts(&self, group: usize) -> impl Iterator<Item = &HostSpec> {
        self.hosts.iter().filter(move |h| h.group == group)
    }
}
