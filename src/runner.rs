//! Turns a validated [`Scenario`] into a ready-to-run [`Simulation`] of
//! [`HostNode`]s: builds the network, derives identities and start times
//! from the seed, sets up every protocol (its plan, each host's part, its
//! files and checkers) and schedules the fault timeline. Protocols and
//! fault kinds are not named here: the registry ([`crate::protocols`]) and
//! the fault table ([`crate::faults`]) are.

use std::collections::BTreeSet;
use std::rc::Rc;

use node_logic::identity::{Identity, Keypair};
use node_logic::{HostConfig, HostId, HostNode};
use rand::RngExt;
use sim_core::engine::{EngineConfig, ScheduledFault, Simulation};
use sim_core::fs::FsConfig;
use sim_core::network::{NetworkError, VertexId, build_network};
use sim_core::rng::{RngStreams, names};
use sim_core::scenario::{HostSpec, Role, StartSpec};
use sim_core::units::{SimDuration, SimTime};

use crate::model::Scenario;
use crate::protocols::registration::plan::PlanError;
use crate::protocols::{Plans, Protocols};

/// Why a valid scenario cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The network could not be built (GML file, bandwidth, topology).
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The registration plan could not be made (legacy registry file).
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Options of a run that are not part of the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Verify each distinct signed consensus message once per run (default
    /// true); false verifies every copy, for measuring the cache.
    pub signature_cache: bool,
    /// Plan only to find the scenario's errors (default false): skip the
    /// work only a run needs, such as deriving every miner's key.
    pub check_only: bool,
    /// Derive the miners' keys on the current thread pool's threads (the
    /// simulator; default false: real processes stay on one thread).
    pub parallel_keys: bool,
    /// The run may use a second core for pure work (`sim run` of one
    /// scenario on a machine with a core to spare; default false): the
    /// load clients' transactions are signed ahead there
    /// ([`crate::protocols::load::ahead`]). Outputs are the same either way.
    pub spare_core: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            signature_cache: true,
            check_only: false,
            parallel_keys: false,
            spare_core: false,
        }
    }
}

/// A scenario made ready to run.
pub struct Prepared {
    /// The simulation, ready for `run`.
    pub sim: Simulation<HostNode>,
    /// Every protocol's plan (the reports need them).
    pub plans: Rc<Plans>,
}

/// Checks everything that can keep a valid scenario file from running —
/// the network (graph file, bandwidths) and every protocol's plan (the
/// legacy registry) — without building the hosts.
pub fn validate(scenario: &Scenario) -> Result<(), RunError> {
    let streams = RngStreams::new(scenario.seed);
    build_network(scenario, &mut streams.stream(names::TOPOLOGY, 0))?;
    let options = RunOptions {
        check_only: true,
        ..RunOptions::default()
    };
    scenario.protocols.plans(scenario, &options)?;
    Ok(())
}

/// Builds the simulation `scenario` describes.
pub fn prepare(scenario: &Scenario) -> Result<Prepared, RunError> {
    prepare_with(scenario, RunOptions::default())
}

/// [`prepare`] with explicit run options.
pub fn prepare_with(scenario: &Scenario, options: RunOptions) -> Result<Prepared, RunError> {
    let streams = RngStreams::new(scenario.seed);
    let network = build_network(scenario, &mut streams.stream(names::TOPOLOGY, 0))?;
    let plans = Rc::new(scenario.protocols.plans(scenario, &options)?);
    let config = EngineConfig {
        seed: scenario.seed,
        stop_at: SimTime::from_duration(scenario.duration),
        fs: FsConfig::default(),
    };
    let setup = HostSetup::new(scenario, plans.clone());
    // With a CPU model every host counts the work of its inputs.
    let meter = scenario.cpu.as_ref().map(|cpu| cpu.signature_cache);
    let factory = Box::new(move |id| {
        let config = setup.config(id);
        HostNode::new(match meter {
            Some(cache) => config.with_meter(cache),
            None => config,
        })
    });
    let mut sim = Simulation::new(config, network, factory);
    if let Some(cpu) = &scenario.cpu {
        for host in &scenario.hosts {
            sim.set_cpu(host.id, cpu.of_group(host.group));
        }
    }
    for (path, bytes) in scenario.protocols.shared_files(&plans) {
        sim.fs_mut().put(&path, bytes);
    }
    for host in &scenario.hosts {
        let start = start_time(scenario.groups[host.group].start, host.id, &streams);
        sim.schedule_start(host.id, start);
    }
    for (fault, cx) in crate::faults::each(scenario, &streams) {
        let effects = fault.effects();
        sim.schedule_fault(ScheduledFault {
            index: cx.index,
            kind: fault.name(),
            hosts: effects.hosts(&cx),
            at: cx.at,
            heal: effects.heal(),
            action: effects.action(&cx),
        });
    }
    for checker in scenario.protocols.checkers(&plans, scenario) {
        sim.add_checker(checker);
    }
    scenario.protocols.prepare(&plans, scenario, &mut sim);
    Ok(Prepared { sim, plans })
}

/// A run's expected peak memory, by part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Bytes of each part: `engine` first, then each running protocol by
    /// its table name.
    pub parts: Vec<(&'static str, u64)>,
}

impl MemoryEstimate {
    /// The whole estimate, in bytes.
    pub fn total(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |sum, (_, bytes)| sum.saturating_add(*bytes))
    }
}

/// The memory a run of `scenario` takes at its peak, estimated before it
/// starts: the engine's part ([`sim_core::memory::engine_bytes`]: hosts,
/// and the routes cached from every vertex with a host that sends — all
/// but miners) plus each protocol's ([`crate::protocols::Protocol::memory`]).
pub fn estimate_memory(scenario: &Scenario) -> Result<MemoryEstimate, RunError> {
    let streams = RngStreams::new(scenario.seed);
    let network = build_network(scenario, &mut streams.stream(names::TOPOLOGY, 0))?;
    let senders: BTreeSet<VertexId> = scenario
        .hosts
        .iter()
        .filter(|h| h.role != Role::Miner)
        .filter_map(|h| network.hosts.get(h.id.index()).map(|a| a.vertex))
        .collect();
    let engine = sim_core::memory::engine_bytes(
        scenario.hosts.len() as u64,
        network.topology.vertex_count() as u64,
        senders.len() as u64,
    );
    let mut parts = vec![("engine", engine)];
    parts.extend(scenario.protocols.memory(scenario));
    Ok(MemoryEstimate { parts })
}

/// When `host` boots: a fixed offset, or one drawn from its own stream.
pub fn start_time(spec: StartSpec, host: HostId, streams: &RngStreams) -> SimTime {
    let offset = match spec {
        StartSpec::At(at) => at,
        StartSpec::Uniform(from, to) => {
            let mut rng = streams.stream(names::HOST_START, u64::from(host.0));
            SimDuration::from_nanos(rng.random_range(from.as_nanos()..=to.as_nanos()))
        }
    };
    SimTime::from_duration(offset)
}

/// A host's identity: the same for a given seed and host, across restarts.
pub fn identity(streams: &RngStreams, host: HostId) -> Identity {
    Identity::from_secret(streams.seed_bytes(names::IDENTITY, u64::from(host.0)))
}

/// The key pairs of `hosts` ([`identity`]'s keys), in the order given,
/// each then handed to `prepare` with its index in `hosts` (to sign ahead
/// what the host will sign first, [`Keypair::presign`]). Deriving a key
/// and signing are scalar multiplications, the part of planning that grows
/// with the hosts and costs (100,000 miners: about 5 s on one core). Each
/// is a pure function of the seed and the host, so with `parallel` they are
/// made on the current thread pool's threads (rayon: a sweep's pool, or
/// the global one `sim run --jobs` sizes) and collected in order: the
/// result cannot depend on the threads (ARCHITECTURE.md, "Invariants").
pub fn keypairs(
    streams: &RngStreams,
    hosts: &[HostId],
    parallel: bool,
    prepare: impl Fn(usize, &mut Keypair) + Sync,
) -> Vec<Keypair> {
    use rayon::prelude::*;
    let derive = |(index, host): (usize, &HostId)| {
        let secret = streams.seed_bytes(names::IDENTITY, u64::from(host.0));
        let mut keys = Keypair::from_secret(secret);
        prepare(index, &mut keys);
        keys
    };
    if parallel {
        let work = hosts.par_iter().enumerate().with_min_len(256);
        work.map(derive).collect()
    } else {
        hosts.iter().enumerate().map(derive).collect()
    }
}

/// Every host's configuration, built the same way for the simulator and
/// for the real-process runtime (`sim node`), so both run the same
/// protocols, keys and settings.
pub struct HostSetup {
    protocols: Protocols,
    plans: Rc<Plans>,
    hosts: Vec<HostSpec>,
    streams: RngStreams,
}

impl HostSetup {
    /// The setup of `scenario`'s hosts under `plans`.
    pub fn new(scenario: &Scenario, plans: Rc<Plans>) -> Self {
        HostSetup {
            protocols: scenario.protocols.clone(),
            plans,
            hosts: scenario.hosts.clone(),
            streams: RngStreams::new(scenario.seed),
        }
    }

    /// The configuration host `id` boots with (the same after a restart).
    pub fn config(&self, id: HostId) -> HostConfig {
        // Miners' identities were derived for the registration plan already.
        let planned = self.plans.registration.as_ref();
        let own = match planned.and_then(|p| p.identities.get(id)) {
            Some(identity) => identity.clone(),
            None => identity(&self.streams, id),
        };
        let base = HostConfig::new(id, own);
        match self.hosts.get(id.index()) {
            Some(host) => self
                .protocols
                .configure(&self.plans, host, base, &self.streams),
            None => base,
        }
    }
}
