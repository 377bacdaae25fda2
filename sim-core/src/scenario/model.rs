//! The validated, typed form of a scenario file: what the engine runs.
//!
//! Everything here has already passed parsing and validation ("parse, don't
//! validate"): host references are resolved to [`HostId`]s, times are checked
//! against the timeline, probabilities are in range. The engine never has to
//! re-check a scenario.

use std::path::PathBuf;

use node_logic::HostId;

use crate::units::{Bandwidth, Probability, SimDuration, SimTime};

/// A whole study: network, hosts, protocol settings, faults and targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
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
    /// Wallet-registration settings (used by the registration protocol).
    pub registration: RegistrationSpec,
    /// Peer-registry / heartbeat settings.
    pub peers: PeersSpec,
    /// Consensus settings, when the file has a `[consensus]` table.
    pub consensus: Option<ConsensusSpec>,
    /// The fault timeline, in file order.
    pub faults: Vec<Fault>,
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
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
}

/// What a host does; decides which protocols it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Registers a wallet in the shared directory.
    Miner,
    /// Takes part in consensus (and is a registrar by default).
    Validator,
    /// Waits for the miners' wallets.
    Registrar,
    /// Plain peer-registry member.
    Peer,
}

impl Role {
    /// The spelling used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Miner => "miner",
            Role::Validator => "validator",
            Role::Registrar => "registrar",
            Role::Peer => "peer",
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

/// How registrars wait for miners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationStrategy {
    /// Fixed interval (`poll_interval`).
    Poll,
    /// Exponential backoff with cap and jitter.
    Backoff,
    /// Directory change notifications plus a slow safety poll.
    Watch,
}

/// How many miners registrars wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Every miner in the scenario.
    All,
    /// This many.
    Count(u32),
}

/// The `[registration]` table; defaults are the findings' recommendations.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationSpec {
    /// Waiting strategy (default `backoff`).
    pub strategy: RegistrationStrategy,
    /// `poll`: fixed interval (default 10 s).
    pub poll_interval: SimDuration,
    /// `backoff`: first interval (default 1 s).
    pub initial_interval: SimDuration,
    /// `backoff`: growth factor (default 1.5, must be >= 1).
    pub multiplier: f64,
    /// `backoff`: cap (default 10 s).
    pub max_interval: SimDuration,
    /// `backoff`: jitter added to each interval, uniform in `0..=jitter` (default 500 ms).
    pub jitter: SimDuration,
    /// Give up waiting after this long (default 300 s).
    pub timeout: SimDuration,
    /// How many miners to wait for (default all).
    pub expected: Expected,
    /// Recover damaged files (default true); false is the log-and-skip baseline.
    pub recover: bool,
    /// Temp file + rename (default true); false allows torn writes.
    pub atomic_writes: bool,
    /// Simulated cost of a file write (default 20 ms).
    pub write_time: SimDuration,
    /// Simulated cost of a file read (default 2 ms).
    pub read_time: SimDuration,
    /// Simulated cost of a directory listing (default 5 ms).
    pub list_time: SimDuration,
    /// Simulated cost of a rename or delete (default 1 ms).
    pub metadata_time: SimDuration,
    /// From a change in a watched directory to the watchers being told
    /// (default 1 ms).
    pub notify_delay: SimDuration,
    /// How often registrars report progress (default 10 s).
    pub progress_interval: SimDuration,
    /// `watch`: the slow safety poll (default 30 s).
    pub safety_poll: SimDuration,
    /// A legacy `agent_registry.json` to merge, resolved against the scenario folder.
    pub legacy_registry: Option<PathBuf>,
}

/// The `[peers]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct PeersSpec {
    /// Hosts that run the peer registry (default: every `peer` and `validator` host).
    pub members: Vec<HostId>,
    /// Ping interval (default 5 s).
    pub heartbeat: SimDuration,
    /// A peer not heard from for this long is dropped (default 30 s).
    pub stale_after: SimDuration,
    /// Bound on observers of join/leave events (default 50).
    pub max_observers: u32,
}

/// Which hosts validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidatorSource {
    /// These hosts (a group or host references).
    Hosts(Vec<HostId>),
    /// The miners accepted by the wallet registry.
    Registered,
}

/// The `[consensus]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsensusSpec {
    /// Who validates.
    pub validators: ValidatorSource,
    /// Fewer active validators than this: no blocks (default 3).
    pub min_validators: u32,
    /// Target time between blocks (default 5 s).
    pub block_interval: SimDuration,
    /// Leader timeout before a view change (default 10 s).
    pub view_timeout: SimDuration,
    /// After the last fault heals, a new block must finalize within this
    /// (default: `block_interval` + 15 x `view_timeout`), else the run stops
    /// with a liveness failure.
    pub liveness_bound: SimDuration,
    /// TEST ONLY: a quorum below 2f+1, to prove the agreement checker trips
    /// on an unsafe protocol. Never set it in a study.
    pub unsafe_quorum: Option<u32>,
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

/// One `[[faults]]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// When it starts.
    pub at: SimTime,
    /// What it does.
    pub kind: FaultKind,
    /// Where the entry starts in the file.
    pub location: Location,
}

/// What a fault does. Every variant with an end carries it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Messages between different sides are dropped until `until`.
    Partition {
        /// Two or more disjoint host sets; hosts on no side are unaffected.
        sides: Vec<Vec<HostId>>,
        /// Only traffic from the first side to the others is dropped.
        one_way: bool,
        /// Heal time; `None` = never heals.
        until: Option<SimTime>,
    },
    /// Hosts lose their memory state (files kept) and stop.
    Crash {
        /// The hosts that crash.
        hosts: Vec<HostId>,
        /// When they start again, built anew; `None` = stay down.
        restart: Option<SimTime>,
    },
    /// Paths between `a` and `b` (both directions) get worse.
    Link {
        /// One end.
        a: Vec<HostId>,
        /// The other end.
        b: Vec<HostId>,
        /// Added to the path latency.
        latency: SimDuration,
        /// Compounded with the path loss.
        loss: Probability,
        /// When the link recovers; `None` = never.
        until: Option<SimTime>,
    },
    /// A host's registration file is damaged (issue: wallet registration).
    Corrupt {
        /// Whose file.
        target: CorruptTarget,
        /// How.
        mode: CorruptMode,
    },
    /// Validators equivocate (issue: consensus).
    Byzantine {
        /// The misbehaving hosts.
        hosts: Vec<HostId>,
        /// When they behave again; `None` = never.
        until: Option<SimTime>,
    },
    /// A host's clock runs off (issue: consensus).
    ClockSkew {
        /// The hosts whose clocks are skewed.
        hosts: Vec<HostId>,
        /// Constant offset in nanoseconds (may be negative).
        offset_ns: i64,
        /// Rate error: 0.001 means the clock gains 1 ms per second.
        drift: f64,
    },
}

/// Whose registration file a `corrupt` fault damages.
#[derive(Clone, Debug, PartialEq)]
pub enum CorruptTarget {
    /// These hosts.
    Hosts(Vec<HostId>),
    /// A random `fraction` of a group, drawn from the fault stream.
    Fraction {
        /// Share of the group, 0..=1.
        fraction: Probability,
        /// The group's hosts.
        of: Vec<HostId>,
    },
}

/// How a registration file is damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptMode {
    /// Zero bytes.
    Empty,
    /// Cut short.
    Truncate,
    /// Random bytes.
    Garbage,
    /// Not JSON.
    InvalidJson,
    /// A required field removed.
    MissingField,
    /// Signed by another key.
    BadSignature,
    /// The old centralized format.
    Legacy,
    /// Each damaged file gets one of the above at random.
    Mixed,
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

impl Scenario {
    /// The host with this name, if any.
    pub fn host_by_name(&self, name: &str) -> Option<&HostSpec> {
        self.hosts.iter().find(|h| h.name == name)
    }
    /// The hosts of the group with this name, in order.
    pub fn group_hosts(&self, group: usize) -> impl Iterator<Item = &HostSpec> {
        self.hosts.iter().filter(move |h| h.group == group)
    }
}
