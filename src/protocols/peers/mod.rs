//! The peer registry's driver side: the `[peers]` table, each member's
//! configuration (full mesh, or bounded views with `max_outbound`; rate
//! limits), and its report (`report`: `peers.csv` and the `peers.*`
//! metrics; `replay`: the views over time; `overlay`: the overlay's
//! degrees, components and diameter; `plots`: live peers and flaps over
//! time).

pub mod overlay;
pub mod plots;
mod replay;
pub mod report;

use std::collections::BTreeSet;
use std::rc::Rc;

use node_logic::protocols::consensus::SignatureVerifier;
use node_logic::protocols::peers::{Membership, PeerConfig, RateLimit, ViewLimits};
use node_logic::{HostConfig, HostId, HostNode};
use rand::RngExt;
use reports::summary::Summary;
use reports::{ReportError, ResultDir};
use sim_core::checkers::Checker;
use sim_core::engine::Simulation;
use sim_core::rng::{RngStreams, names};
use sim_core::scenario::{self, DeValue, ErrorKind, HostSpec, Hosts, Role, Section, Table};
use sim_core::units::SimDuration;

use super::consensus::sigcache::SignatureCache;
use super::{Plans, PlotContext, Protocol, ProtocolCounters, ProtocolReport, Protocols};
use crate::model::Scenario;
use crate::results::Finished;
use crate::runner::{RunError, RunOptions};
use report::{Mode, PeersReport};

/// The peer registry (see the module docs).
pub struct Peers;

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
    /// Bounded views; `None`: full mesh.
    pub view: Option<ViewSpec>,
    /// Per-peer rate limits; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
}

/// Bounded views, as the `[peers]` table sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewSpec {
    /// The limits every member applies.
    pub limits: ViewLimits,
    /// Members each member starts from, drawn at random (default
    /// `max_outbound`).
    pub bootstrap: u32,
}

/// The peer registry's part of a run.
#[derive(Debug)]
pub struct PeersPlan {
    /// The members (shared by every member's registry).
    pub members: Membership,
    /// The run's cache of hello signature checks (`None` with the cache
    /// off: every hello verified).
    pub cache: Option<Rc<SignatureCache>>,
}

impl Protocol for Peers {
    type Spec = PeersSpec;
    type Plan = PeersPlan;
    const SECTION: Section = Section {
        name: "peers",
        keys: &[
            "members",
            "heartbeat",
            "stale_after",
            "max_observers",
            "max_outbound",
            "max_inbound",
            "max_known",
            "bootstrap",
            "retry_after",
            "rate_limit_messages",
            "rate_limit_bytes",
        ],
    };
    const METRICS: &'static [&'static str] = &[
        "peers.converged_s",
        "peers.converged_reached",
        "peers.members",
        "peers.reconverged_s",
        "peers.reconverged_reached",
        "peers.flaps",
        "peers.degree_min",
        "peers.degree_mean",
        "peers.degree_max",
        "peers.components",
        "peers.diameter_hops",
        "peers.refused",
        "peers.evicted",
        "peers.rate_limited",
    ];

    fn parse(
        t: &Table<'_>,
        hosts: &Hosts<'_>,
        _: &Protocols,
    ) -> scenario::Result<Option<PeersSpec>> {
        let members = match t.get("members") {
            // An explicit empty list turns the peer registry off.
            Some(f) if matches!(f.value(), DeValue::Array(a) if a.is_empty()) => Vec::new(),
            Some(f) => hosts.index.resolve(&f)?,
            None => hosts.with_roles(&[Role::Peer, Role::Validator]),
        };
        if members.is_empty() && t.is_present() && t.get("members").is_none() {
            return Err(t
                .error(
                    ErrorKind::Conflict,
                    "[peers] is set, but no host is a member: no host has role \"peer\" or \"validator\", so the peer registry would not run",
                )
                .with_help(
                    "name the members (`members = [\"miner\"]`), add hosts with role \"peer\", \
                     or remove [peers] (`members = []` turns the registry off explicitly)",
                ));
        }
        let heartbeat = t.positive_duration_or("heartbeat", SimDuration::from_secs(5))?;
        let stale_after = t.positive_duration_or("stale_after", SimDuration::from_secs(30))?;
        if stale_after <= heartbeat {
            let message = format!(
                "`stale_after` ({stale_after}) must be longer than `heartbeat` ({heartbeat})"
            );
            let err = match t.get("stale_after").or_else(|| t.get("heartbeat")) {
                Some(f) => f.invalid(message),
                None => t.error(ErrorKind::InvalidValue, message),
            };
            return Err(err.with_help(
                "a peer is dropped after `stale_after` without a heartbeat: make it several heartbeats",
            ));
        }
        let max_observers = t.u32_or("max_observers", 50, 0, u32::MAX)?;
        let view = parse_view(t, stale_after)?;
        let rate_limit = parse_rate_limit(t)?;
        Ok((!members.is_empty()).then_some(PeersSpec {
            members,
            heartbeat,
            stale_after,
            max_observers,
            view,
            rate_limit,
        }))
    }

    fn input_files(_: &PeersSpec) -> Vec<(&'static str, std::path::PathBuf)> {
        Vec::new()
    }
    fn check_files(_: &PeersSpec, _: &Table<'_>) -> scenario::Result<()> {
        Ok(())
    }

    fn plan(
        spec: &PeersSpec,
        _: &Scenario,
        options: &RunOptions,
        _: &Plans,
    ) -> Result<PeersPlan, RunError> {
        Ok(PeersPlan {
            members: Membership::new(spec.members.clone()),
            cache: options
                .signature_cache
                .then(|| Rc::new(SignatureCache::new())),
        })
    }

    /// Every member greets every other member at start (its bootstrap list
    /// is the whole membership).
    fn configure(
        spec: &PeersSpec,
        plan: &PeersPlan,
        _: &Plans,
        host: &HostSpec,
        config: HostConfig,
        streams: &RngStreams,
    ) -> HostConfig {
        if !plan.members.contains(host.id) {
            return config;
        }
        let bootstrap = match spec.view {
            None => plan.members.as_slice().to_vec(),
            Some(view) => bootstrap_sample(&plan.members, host.id, view.bootstrap, streams),
        };
        config.with_peers(PeerConfig {
            max_observers: spec.max_observers as usize,
            verifier: plan.cache.clone().map(|c| c as Rc<dyn SignatureVerifier>),
            limits: spec.view.map(|v| v.limits),
            rate_limit: spec.rate_limit,
            ..PeerConfig::new(
                host.id,
                plan.members.clone(),
                bootstrap,
                spec.heartbeat,
                spec.stale_after,
            )
        })
    }

    fn shared_files(_: &PeersSpec, _: &PeersPlan) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }

    fn checkers(_: &PeersSpec, _: &PeersPlan, _: &Scenario) -> Vec<Box<dyn Checker>> {
        Vec::new()
    }

    fn prepare(_: &PeersSpec, _: &PeersPlan, _: &Scenario, _: &mut Simulation<HostNode>) {}

    fn node_counters(_: &HostNode, _: &mut ProtocolCounters) {}

    fn report<'a>(
        spec: &'a PeersSpec,
        plan: &'a PeersPlan,
        run: &Finished<'a>,
    ) -> Box<dyn ProtocolReport + 'a> {
        let mode = match (spec.view, spec.rate_limit) {
            (Some(view), _) => Mode::Bounded {
                target: view.limits.outbound,
            },
            (None, Some(_)) => Mode::MeshLimited,
            (None, None) => Mode::Mesh,
        };
        let from = crate::faults::liveness_start(run.scenario);
        Box::new(PeersOutcome(PeersReport::new(
            plan.members.as_slice(),
            run.log,
            from,
            mode,
        )))
    }

    fn digest(summary: &Summary) -> Option<String> {
        report::digest(summary)
    }

    /// Full mesh: every member keeps an entry for every other member and
    /// records their joins and leaves: 600 bytes per pair of members and
    /// 4 KiB per member (measured: 200 and 400 peers take 26 and 86 MiB).
    /// Bounded views: 400 bytes per peer a member may remember
    /// (`max_known`) instead (measured: 10,000 peers remembering 144 take
    /// 448 MiB; BENCHMARKS.md, "Memory estimates").
    fn memory(spec: &PeersSpec, _: &Scenario) -> u64 {
        let n = spec.members.iter().collect::<BTreeSet<_>>().len() as u64;
        let (per_member, bytes) = match spec.view {
            None => (n, 600),
            Some(view) => ((view.limits.known as u64).min(n), 400),
        };
        n.saturating_mul(per_member)
            .saturating_mul(bytes)
            .saturating_add(n.saturating_mul(4 << 10))
    }
}

/// `[peers]` keys that apply only with bounded views.
const VIEW_KEYS: [&str; 4] = ["max_inbound", "max_known", "bootstrap", "retry_after"];

/// Bounded views: `max_outbound` and the keys that refine it.
fn parse_view(t: &Table<'_>, stale_after: SimDuration) -> scenario::Result<Option<ViewSpec>> {
    let Some(outbound_field) = t.get("max_outbound") else {
        if let Some(f) = VIEW_KEYS.iter().find_map(|k| t.get(k)) {
            return Err(f
                .key_error(
                    ErrorKind::Conflict,
                    format!("`{}` applies only with bounded views", f.name()),
                )
                .with_help(
                    "set `max_outbound` (the outbound connections each member keeps), or remove it",
                ));
        }
        return Ok(None);
    };
    let outbound = outbound_field.u32_in(1, 4096)?;
    let inbound = t.u32_or(
        "max_inbound",
        outbound.saturating_mul(8).min(65_536),
        1,
        65_536,
    )?;
    let slots = outbound + inbound;
    let known = t.u32_or("max_known", slots.saturating_mul(2), 1, 1 << 20)?;
    if known < slots {
        let f = t.get("max_known").unwrap_or(outbound_field);
        return Err(f
            .invalid(format!(
                "`max_known` ({known}) must be at least `max_outbound` + `max_inbound` ({slots}): a host must remember its connections"
            ))
            .with_help("raise `max_known` or remove it (default: twice the connections)"));
    }
    Ok(Some(ViewSpec {
        limits: ViewLimits {
            outbound: outbound as usize,
            inbound: inbound as usize,
            known: known as usize,
            retry_after: t.positive_duration_or("retry_after", stale_after)?,
        },
        bootstrap: t.u32_or("bootstrap", outbound, 1, 1 << 20)?,
    }))
}

/// `rate_limit_messages` (datagrams per second) and `rate_limit_bytes`
/// (body bytes per second), each optional.
fn parse_rate_limit(t: &Table<'_>) -> scenario::Result<Option<RateLimit>> {
    let messages = t
        .get("rate_limit_messages")
        .map(|f| f.u32_in(1, u32::MAX))
        .transpose()?;
    let bytes = t
        .get("rate_limit_bytes")
        .map(|f| f.int_in(1, 1 << 40).map(|n| n as u64))
        .transpose()?;
    Ok(
        (messages.is_some() || bytes.is_some()).then_some(RateLimit {
            messages_per_s: messages,
            bytes_per_s: bytes,
        }),
    )
}

/// `count` members other than `host`, drawn uniformly from its own stream
/// (all of them when there are fewer), in id order.
fn bootstrap_sample(
    members: &Membership,
    host: HostId,
    count: u32,
    streams: &RngStreams,
) -> Vec<HostId> {
    let others: Vec<HostId> = members
        .as_slice()
        .iter()
        .copied()
        .filter(|&m| m != host)
        .collect();
    let count = (count as usize).min(others.len());
    let mut rng = streams.stream(names::PEERS_BOOTSTRAP, u64::from(host.0));
    let mut picked = BTreeSet::new();
    while picked.len() < count {
        picked.insert(others[rng.random_range(0..others.len())]);
    }
    picked.into_iter().collect()
}

/// The peer registry's report, when it has two members or more.
struct PeersOutcome(Option<PeersReport>);

impl ProtocolReport for PeersOutcome {
    fn add_metrics(&self, summary: &mut Summary) {
        if let Some(report) = &self.0 {
            report.add_metrics(summary);
        }
    }
    fn write_tables(&self, dir: &ResultDir, scenario: &Scenario) -> Result<(), ReportError> {
        match &self.0 {
            Some(report) => report.write(&dir.file("peers.csv"), scenario),
            None => Ok(()),
        }
    }
    fn write_plots(&self, dir: &ResultDir, plot: &PlotContext<'_>) -> Result<(), ReportError> {
        let Some(report) = &self.0 else {
            return Ok(());
        };
        let live = plots::live_peers(report, plot);
        reports::plots::write_svg(dir, "peers_live.svg", live)?;
        reports::plots::write_svg(dir, "peers_flaps.svg", plots::flaps(report, plot))
    }
}
