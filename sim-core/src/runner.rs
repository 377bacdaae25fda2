//! Turns a validated [`Scenario`] into a ready-to-run [`Simulation`] of
//! [`HostNode`]s: builds the network, derives identities and start times
//! from the seed, gives hosts their protocol roles, places the legacy
//! registry, and schedules the fault timeline.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use node_logic::HostId;
use node_logic::consensus::{ConsensusConfig, SignatureVerifier, quorum};
use node_logic::host_node::{HostConfig, HostNode, RegistryConsensus};
use node_logic::identity::Identity;
use node_logic::identity::PublicKey;
use node_logic::io::WriteMode;
use node_logic::peers::PeerConfig;
use node_logic::registration::damage::DamageMode;
use node_logic::registration::{MinerConfig, RegistrarConfig, RegistrationRole, Strategy};
use rand::RngExt;
use rand::seq::SliceRandom;

use crate::consensus_checks::{ConsensusChecks, LivenessRule};
use crate::engine::{CorruptTarget as EngineTarget, EngineConfig, FaultAction, Simulation};
use crate::fs::FsConfig;
use crate::network::{NetworkError, build_network};
use crate::plan::{LEGACY_REGISTRY_FILE, PlanError, RegistrationPlan, file_name};
use crate::rng::{RngStreams, names};
use crate::scenario::{
    CorruptMode, CorruptTarget, FaultKind, Location, RegistrationSpec, RegistrationStrategy, Role,
    Scenario, StartSpec, ValidatorSource,
};
use crate::sigcache::SignatureCache;
use crate::units::{SimDuration, SimTime};

/// Why a valid scenario cannot be run by this build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The network could not be built (GML file, bandwidth, topology).
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The registration plan could not be made (legacy registry file).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The scenario's parts do not fit together.
    #[error("{what}: {help}")]
    Inconsistent {
        /// What does not fit.
        what: String,
        /// How to fix it.
        help: &'static str,
    },
    /// The scenario uses a feature that later work adds.
    #[error("{what}{} is not supported by this version of sim yet: {help}", at_line(.location))]
    Unsupported {
        /// The feature.
        what: String,
        /// Where the scenario uses it, when known.
        location: Option<Location>,
        /// What to do instead.
        help: &'static str,
    },
}

/// A scenario made ready to run.
pub struct Prepared {
    /// The simulation, ready for `run`.
    pub sim: Simulation<HostNode>,
    /// Who registers and the ground truth of every wallet, when the
    /// scenario has registration (the reports need it).
    pub plan: Option<RegistrationPlan>,
    /// Who validates, when the scenario has consensus.
    pub consensus: Option<ConsensusPlan>,
}

/// The consensus side of a run, for the reports.
#[derive(Debug)]
pub struct ConsensusPlan {
    /// The validators, in id order.
    pub validators: Vec<HostId>,
    /// Validators a `byzantine` fault touches (not held to agreement).
    pub dishonest: BTreeSet<HostId>,
    /// The run's signature cache, for its counters (`None` with the cache off).
    pub cache: Option<Rc<SignatureCache>>,
}

/// Options of a run that are not part of the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Verify each distinct signed consensus message once per run (default
    /// true); false verifies every copy, for measuring the cache.
    pub signature_cache: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            signature_cache: true,
        }
    }
}

/// Checks everything that can keep a valid scenario file from running —
/// supported features, the network (graph file, bandwidths), the legacy
/// registry — without building the hosts.
pub fn validate(scenario: &Scenario) -> Result<(), RunError> {
    check_supported(scenario)?;
    let streams = RngStreams::new(scenario.seed);
    build_network(scenario, &mut streams.stream(names::TOPOLOGY, 0))?;
    crate::plan::read_legacy(scenario)?;
    Ok(())
}

/// Builds the simulation `scenario` describes.
pub fn prepare(scenario: &Scenario) -> Result<Prepared, RunError> {
    prepare_with(scenario, RunOptions::default())
}

/// [`prepare`] with explicit run options.
pub fn prepare_with(scenario: &Scenario, options: RunOptions) -> Result<Prepared, RunError> {
    check_supported(scenario)?;
    let streams = RngStreams::new(scenario.seed);
    let network = build_network(scenario, &mut streams.stream(names::TOPOLOGY, 0))?;
    let plan = RegistrationPlan::of(scenario)?;
    let registration = &scenario.registration;
    let config = EngineConfig {
        seed: scenario.seed,
        stop_at: SimTime::from_duration(scenario.duration),
        fs: FsConfig {
            write_time: registration.write_time,
            read_time: registration.read_time,
            list_time: registration.list_time,
            metadata_time: registration.metadata_time,
            notify_delay: registration.notify_delay,
        },
    };
    let consensus = consensus_plan(scenario, options);
    let verifier: Option<Rc<dyn SignatureVerifier>> = consensus
        .as_ref()
        .and_then(|c| c.cache.clone())
        .map(|c| c as Rc<dyn SignatureVerifier>);
    let setup = HostSetup::new(scenario, plan.as_ref(), verifier);
    let factory = Box::new(move |id| HostNode::new(setup.config(id)));
    let mut sim = Simulation::new(config, network, factory);
    if let Some(bytes) = plan.as_ref().and_then(|p| p.legacy_bytes.clone()) {
        sim.fs_mut().put(LEGACY_REGISTRY_FILE, bytes);
    }
    for host in &scenario.hosts {
        let start = start_time(scenario.groups[host.group].start, host.id, &streams);
        sim.schedule_start(host.id, start);
    }
    for (index, fault) in scenario.faults.iter().enumerate() {
        if let Some((action, heal)) = fault_action(scenario, index, &fault.kind, &streams) {
            sim.schedule_fault(index, fault.at, heal, action);
        }
    }
    if let (Some(spec), Some(c)) = (&scenario.consensus, &consensus) {
        let names = scenario.hosts.iter().map(|h| h.name.clone()).collect();
        let liveness = liveness_start(scenario).map(|healed_at| LivenessRule {
            healed_at,
            bound: spec.liveness_bound,
            quorum: quorum(c.validators.len()),
        });
        if let Some(rule) = liveness {
            sim.schedule_deadline(rule.healed_at);
            sim.schedule_deadline(rule.healed_at + rule.bound);
        }
        sim.add_checker(Box::new(ConsensusChecks::new(
            c.validators.iter().copied(),
            c.dishonest.iter().copied(),
            names,
            liveness,
        )));
    }
    Ok(Prepared {
        sim,
        plan,
        consensus,
    })
}

/// Who validates and who misbehaves, when the scenario has consensus.
pub fn consensus_plan(scenario: &Scenario, options: RunOptions) -> Option<ConsensusPlan> {
    let spec = scenario.consensus.as_ref()?;
    let mut validators = match &spec.validators {
        ValidatorSource::Hosts(hosts) => hosts.clone(),
        // The candidates: every miner (the registry decides who validates).
        ValidatorSource::Registered => scenario
            .hosts
            .iter()
            .filter(|h| h.role == Role::Miner)
            .map(|h| h.id)
            .collect(),
    };
    validators.sort_unstable();
    validators.dedup();
    let dishonest = scenario
        .faults
        .iter()
        .filter_map(|f| match &f.kind {
            FaultKind::Byzantine { hosts, .. } => Some(hosts.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let cache = options
        .signature_cache
        .then(|| Rc::new(SignatureCache::new()));
    Some(ConsensusPlan {
        validators,
        dishonest,
        cache,
    })
}

/// Each validator's consensus configuration, by host.
fn consensus_configs(
    scenario: &Scenario,
    streams: &RngStreams,
) -> BTreeMap<HostId, ConsensusConfig> {
    let Some(spec) = &scenario.consensus else {
        return BTreeMap::new();
    };
    let ValidatorSource::Hosts(hosts) = &spec.validators else {
        return BTreeMap::new();
    };
    let mut hosts = hosts.clone();
    hosts.sort_unstable();
    hosts.dedup();
    let validators: Vec<(HostId, PublicKey)> = hosts
        .iter()
        .map(|h| (*h, identity(streams, *h).public_key()))
        .collect();
    hosts
        .iter()
        .map(|&me| {
            let config = ConsensusConfig {
                me,
                validators: validators.clone(),
                block_interval: spec.block_interval,
                view_timeout: spec.view_timeout,
                min_validators: spec.min_validators,
                quorum_override: spec.unsafe_quorum,
            };
            (me, config)
        })
        .collect()
}

/// When liveness starts to be owed: when the last fault has healed (a
/// fault without an end counts at its start, except a partition, a
/// degraded link or a Byzantine validator that never ends: then liveness
/// is never owed). Without faults, from the start of the run.
fn liveness_start(scenario: &Scenario) -> Option<SimTime> {
    let mut last = SimTime::ZERO;
    for fault in &scenario.faults {
        let end = match &fault.kind {
            FaultKind::Partition { until, .. }
            | FaultKind::Link { until, .. }
            | FaultKind::Byzantine { until, .. } => (*until)?,
            FaultKind::Crash { restart, .. } => restart.unwrap_or(fault.at),
            _ => fault.at,
        };
        last = last.max(end);
    }
    Some(last)
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

/// Every host's protocol configuration, built the same way for the
/// simulator and for the real-process runtime (`sim node`), so both run
/// the same roles, keys and settings.
pub struct HostSetup {
    members: Vec<HostId>,
    heartbeat: SimDuration,
    stale_after: SimDuration,
    max_observers: usize,
    roles: Vec<Option<RegistrationRole>>,
    validators: BTreeMap<HostId, ConsensusConfig>,
    from_registry: BTreeMap<HostId, RegistryConsensus>,
    verifier: Option<Rc<dyn SignatureVerifier>>,
    streams: RngStreams,
}

impl HostSetup {
    /// The setup of `scenario`'s hosts given its registration `plan`;
    /// validators check signatures through `verifier` when one is given.
    pub fn new(
        scenario: &Scenario,
        plan: Option<&RegistrationPlan>,
        verifier: Option<Rc<dyn SignatureVerifier>>,
    ) -> Self {
        let streams = RngStreams::new(scenario.seed);
        let mut members = scenario.peers.members.clone();
        members.sort_unstable();
        members.dedup();
        let announce = scenario
            .consensus
            .as_ref()
            .is_some_and(|c| c.validators == ValidatorSource::Registered);
        let roles = scenario
            .hosts
            .iter()
            .map(|h| {
                plan.and_then(|p| {
                    registration_role(&scenario.registration, p, h.role, &h.name, announce)
                })
            })
            .collect();
        HostSetup {
            members,
            heartbeat: scenario.peers.heartbeat,
            stale_after: scenario.peers.stale_after,
            max_observers: scenario.peers.max_observers as usize,
            roles,
            validators: consensus_configs(scenario, &streams),
            from_registry: registry_consensus(scenario, plan),
            verifier,
            streams,
        }
    }

    /// The configuration host `id` boots with (the same after a restart).
    pub fn config(&self, id: HostId) -> HostConfig {
        let peers = self.members.binary_search(&id).is_ok().then(|| PeerConfig {
            max_observers: self.max_observers,
            ..PeerConfig::new(
                id,
                self.members.clone(),
                self.members.clone(),
                self.heartbeat,
                self.stale_after,
            )
        });
        HostConfig {
            id,
            identity: identity(&self.streams, id),
            peers,
            registration: self.roles.get(id.index()).cloned().flatten(),
            consensus: self.validators.get(&id).cloned(),
            verifier: self.verifier.clone(),
            consensus_from_registry: self.from_registry.get(&id).cloned(),
        }
    }
}

/// With `validators = "registered"`: each miner's validator template, to
/// start when a registrar announces the registry; every miner (with its
/// pinned key) is a candidate.
fn registry_consensus(
    scenario: &Scenario,
    plan: Option<&RegistrationPlan>,
) -> BTreeMap<HostId, RegistryConsensus> {
    let (Some(spec), Some(plan)) = (&scenario.consensus, plan) else {
        return BTreeMap::new();
    };
    if spec.validators != ValidatorSource::Registered {
        return BTreeMap::new();
    }
    // The plan already derived every miner's key (its ground truth).
    let candidates: Vec<(String, HostId, PublicKey)> = plan
        .miners
        .iter()
        .filter_map(|(agent, host)| Some((agent.clone(), *host, plan.truth.get(agent)?.key?)))
        .collect();
    plan.miners
        .iter()
        .map(|(_, me)| {
            let template = ConsensusConfig {
                me: *me,
                validators: Vec::new(),
                block_interval: spec.block_interval,
                view_timeout: spec.view_timeout,
                min_validators: spec.min_validators,
                quorum_override: spec.unsafe_quorum,
            };
            (
                *me,
                RegistryConsensus {
                    template,
                    candidates: candidates.clone(),
                },
            )
        })
        .collect()
}

/// The registration part of a host with `role` named `name`; registrars
/// `announce` the registry when the validators come from it.
fn registration_role(
    spec: &RegistrationSpec,
    plan: &RegistrationPlan,
    role: Role,
    name: &str,
    announce: bool,
) -> Option<RegistrationRole> {
    let write_mode = if spec.atomic_writes {
        WriteMode::Atomic
    } else {
        WriteMode::InPlace
    };
    match role {
        Role::Miner => Some(RegistrationRole::Miner(MinerConfig {
            agent_id: name.to_string(),
            write_mode,
            registrars: plan.registrars.clone(),
            retry_initial: spec.initial_interval,
            retry_max: spec.max_interval,
        })),
        Role::Registrar | Role::Validator => Some(RegistrationRole::Registrar(RegistrarConfig {
            strategy: strategy(spec),
            timeout: spec.timeout,
            expected: plan.expected,
            miners: plan.miners.clone(),
            miner_keys: plan
                .truth
                .iter()
                .filter_map(|(agent, t)| Some((agent.clone(), t.key?)))
                .collect(),
            recover: spec.recover,
            progress_interval: spec.progress_interval,
            legacy_registry: plan
                .legacy_bytes
                .as_ref()
                .map(|_| LEGACY_REGISTRY_FILE.to_string()),
            write_mode,
            announce,
        })),
        _ => None,
    }
}

fn strategy(spec: &RegistrationSpec) -> Strategy {
    match spec.strategy {
        RegistrationStrategy::Poll => Strategy::Poll {
            interval: spec.poll_interval,
        },
        RegistrationStrategy::Watch => Strategy::Watch {
            safety_poll: spec.safety_poll,
        },
        _ => Strategy::Backoff {
            initial: spec.initial_interval,
            multiplier: spec.multiplier,
            max: spec.max_interval,
            jitter: spec.jitter,
        },
    }
}

/// The name reports give the scenario's fault `index` (`faults.csv`): the
/// engine's own name for the action it schedules, so real runs say the same.
pub fn fault_kind_name(scenario: &Scenario, index: usize) -> &'static str {
    let streams = RngStreams::new(scenario.seed);
    scenario
        .faults
        .get(index)
        .and_then(|f| fault_action(scenario, index, &f.kind, &streams))
        .map_or("unknown", |(action, _)| action.kind())
}

fn fault_action(
    scenario: &Scenario,
    index: usize,
    kind: &FaultKind,
    streams: &RngStreams,
) -> Option<(FaultAction, Option<SimTime>)> {
    match kind {
        FaultKind::Partition {
            sides,
            one_way,
            until,
        } => Some((
            FaultAction::Partition {
                sides: sides.clone(),
                one_way: *one_way,
            },
            *until,
        )),
        FaultKind::Crash { hosts, restart } => Some((
            FaultAction::Crash {
                hosts: hosts.clone(),
            },
            *restart,
        )),
        FaultKind::Link {
            a,
            b,
            latency,
            loss,
            until,
        } => Some((
            FaultAction::Link {
                a: a.clone(),
                b: b.clone(),
                latency: *latency,
                loss: *loss,
            },
            *until,
        )),
        FaultKind::Corrupt { target, mode } => Some((
            FaultAction::Corrupt {
                targets: corrupt_targets(scenario, index, target, *mode, streams),
            },
            None,
        )),
        FaultKind::Byzantine { hosts, until } => Some((
            FaultAction::Byzantine {
                hosts: hosts.clone(),
            },
            *until,
        )),
        FaultKind::ClockSkew {
            hosts,
            offset_ns,
            drift,
        } => Some((
            FaultAction::ClockSkew {
                hosts: hosts.clone(),
                offset_ns: *offset_ns,
                drift: *drift,
            },
            None,
        )),
    }
}

/// The files a `corrupt` fault damages and how: a random `fraction` of a
/// group is drawn from the fault's own stream (`faults`, index), then for
/// `mixed` each file's mode, in host order. The real-process launcher
/// draws the same files.
pub fn corrupt_targets(
    scenario: &Scenario,
    index: usize,
    target: &CorruptTarget,
    mode: CorruptMode,
    streams: &RngStreams,
) -> Vec<EngineTarget> {
    let mut rng = streams.stream(names::FAULTS, index as u64);
    let mut hosts = match target {
        CorruptTarget::Hosts(hosts) => hosts.clone(),
        CorruptTarget::Fraction { fraction, of } => {
            let count = (fraction.value() * of.len() as f64).round() as usize;
            let mut pool = of.clone();
            pool.shuffle(&mut rng);
            pool.truncate(count.min(pool.len()));
            pool
        }
    };
    hosts.sort_unstable();
    hosts.dedup();
    hosts
        .into_iter()
        .map(|host| {
            let agent = scenario.hosts[host.index()].name.clone();
            let mode = match mode {
                CorruptMode::Empty => DamageMode::Empty,
                CorruptMode::Truncate => DamageMode::Truncate,
                CorruptMode::Garbage => DamageMode::Garbage,
                CorruptMode::InvalidJson => DamageMode::InvalidJson,
                CorruptMode::MissingField => DamageMode::MissingField,
                CorruptMode::BadSignature => DamageMode::BadSignature,
                CorruptMode::Legacy => DamageMode::Legacy,
                _ => DamageMode::ALL[rng.random_range(0..DamageMode::ALL.len())],
            };
            EngineTarget {
                host,
                path: file_name(&agent),
                agent,
                mode,
            }
        })
        .collect()
}

/// The hooks later protocols fill: until then, say so instead of ignoring
/// part of the scenario.
fn check_supported(scenario: &Scenario) -> Result<(), RunError> {
    if let Some(spec) = &scenario.consensus
        && spec.validators == ValidatorSource::Registered
        && !scenario.hosts.iter().any(|h| h.role == Role::Miner)
    {
        return Err(RunError::Inconsistent {
            what: "[consensus] has `validators = \"registered\"` but the scenario has no miners"
                .into(),
            help: "the validators come from the miners the registrars accept: add a group with `role = \"miner\"` and one with `role = \"registrar\"` or `\"validator\"`",
        });
    }
    Ok(())
}

fn at_line(location: &Option<Location>) -> String {
    location.map_or_else(String::new, |l| {
        format!(" (line {}, column {})", l.line, l.column)
    })
}
