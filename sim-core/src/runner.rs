//! Turns a validated [`Scenario`] into a ready-to-run [`Simulation`] of
//! [`HostNode`]s: builds the network, derives identities and start times
//! from the seed, and schedules the fault timeline.

use node_logic::HostId;
use node_logic::host_node::{HostConfig, HostNode};
use node_logic::identity::Identity;
use node_logic::peers::PeerConfig;
use rand::RngExt;

use crate::engine::{EngineConfig, FaultAction, Simulation};
use crate::fs::FsConfig;
use crate::network::{NetworkError, build_network};
use crate::rng::{RngStreams, names};
use crate::scenario::{FaultKind, Location, Scenario, StartSpec};
use crate::units::{SimDuration, SimTime};

/// Why a valid scenario cannot be run by this build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The network could not be built (GML file, bandwidth, topology).
    #[error(transparent)]
    Network(#[from] NetworkError),
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

/// Builds the simulation `scenario` describes, ready for `run`.
pub fn prepare(scenario: &Scenario) -> Result<Simulation<HostNode>, RunError> {
    check_supported(scenario)?;
    let streams = RngStreams::new(scenario.seed);
    let network = build_network(scenario, &mut streams.stream(names::TOPOLOGY, 0))?;
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
    let factory = host_factory(scenario, streams);
    let mut sim = Simulation::new(config, network, factory);
    for host in &scenario.hosts {
        let start = start_time(scenario.groups[host.group].start, host.id, &streams);
        sim.schedule_start(host.id, start);
    }
    for (index, fault) in scenario.faults.iter().enumerate() {
        if let Some((action, heal)) = fault_action(&fault.kind) {
            sim.schedule_fault(index, fault.at, heal, action);
        }
    }
    Ok(sim)
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

fn host_factory(scenario: &Scenario, streams: RngStreams) -> Box<dyn FnMut(HostId) -> HostNode> {
    let mut members = scenario.peers.members.clone();
    members.sort_unstable();
    members.dedup();
    let heartbeat = scenario.peers.heartbeat;
    let stale_after = scenario.peers.stale_after;
    Box::new(move |id| {
        let peers = members.binary_search(&id).is_ok().then(|| PeerConfig {
            me: id,
            bootstrap: members.clone(),
            heartbeat,
            stale_after,
        });
        HostNode::new(HostConfig {
            id,
            identity: identity(&streams, id),
            peers,
            registration: None,
        })
    })
}

fn fault_action(kind: &FaultKind) -> Option<(FaultAction, Option<SimTime>)> {
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
        // Rejected by `check_supported` before we get here.
        _ => None,
    }
}

/// The hooks later protocols fill: until then, say so instead of ignoring
/// part of the scenario.
fn check_supported(scenario: &Scenario) -> Result<(), RunError> {
    for fault in &scenario.faults {
        let (what, help) = match fault.kind {
            FaultKind::Corrupt { .. } => (
                "fault `corrupt` (registration-file damage)",
                "it arrives with the wallet-registration protocol; remove the fault for now",
            ),
            FaultKind::Byzantine { .. } => (
                "fault `byzantine` (equivocating validator)",
                "it arrives with the consensus protocol; remove the fault for now",
            ),
            FaultKind::ClockSkew { .. } => (
                "fault `clock_skew`",
                "it arrives with the consensus protocol; remove the fault for now",
            ),
            _ => continue,
        };
        return Err(RunError::Unsupported {
            what: what.into(),
            location: Some(fault.location),
            help,
        });
    }
    if scenario.consensus.is_some() {
        return Err(RunError::Unsupported {
            what: "the [consensus] table".into(),
            location: None,
            help: "consensus arrives with its own protocol; remove the table for now",
        });
    }
    Ok(())
}

fn at_line(location: &Option<Location>) -> String {
    location.map_or_else(String::new, |l| {
        format!(" (line {}, column {})", l.line, l.column)
    })
}
