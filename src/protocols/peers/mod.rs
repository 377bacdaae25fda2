//! The peer registry's driver side: the `[peers]` table, each member's
//! configuration, `peers.csv` and the `peers.*` metrics.
//!
//! **Converged** means every live member of the peer registry knows every
//! other live member as up. It is tracked as events happen, by counting
//! the missing (observer, peer) pairs among live members: a host's boot
//! adds its own missing view and its absence from the others' views; a
//! crash removes both (and its memory: it knows nobody when it comes back).
//! `peers.converged_s` is the first time the count reaches zero after
//! every member has booted at least once (bring-up, not just the first few
//! hosts finding each other); it is absent when that never happens.
//!
//! **Bounded views** (`max_outbound` set): a member keeps a few
//! connections (`node_logic::protocols::peers::registry` module `view`),
//! so nobody knows everyone. There **converged** means every live member
//! has at least `min(max_outbound, members - 1)` peers up and the overlay
//! of live members (an edge when either end has the other up, see
//! [`overlay`]) is one component; it is checked whenever the first holds.
//! The end-of-run shape of the overlay gives `peers.degree_min/mean/max`,
//! `peers.components` and `peers.diameter_hops` (absent when disconnected).
//! `peers.refused`, `peers.evicted` and `peers.rate_limited` count the
//! registry's refusals, evictions and datagrams dropped over a rate limit.
//! These metrics are written only when bounded views or rate limits are
//! set, so full-mesh runs keep their summaries.

pub mod overlay;
mod replay;

use overlay::{Overlay, Shape};
use replay::{MemberStats, Replay};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::rc::Rc;

use node_logic::protocols::consensus::SignatureVerifier;
use node_logic::protocols::peers::{
    Membership, PeerConfig, PeerRegistryEvent, RateLimit, ViewLimits,
};
use node_logic::{HostConfig, HostId, HostNode, Observation};
use rand::RngExt;
use reports::summary::{Metric, Summary};
use reports::tables::{host_name, rows};
use reports::{ReportError, ResultDir, seconds};
use sim_core::checkers::Checker;
use sim_core::engine::Simulation;
use sim_core::record::RunLog;
use sim_core::rng::{RngStreams, names};
use sim_core::scenario::{self, DeValue, ErrorKind, HostSpec, Hosts, Role, Section, Table};
use sim_core::units::{SimDuration, SimTime};

use super::consensus::sigcache::SignatureCache;
use super::{Plans, Protocol, ProtocolCounters, ProtocolReport, Protocols};
use crate::model::Scenario;
use crate::results::Finished;
use crate::runner::{RunError, RunOptions};

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
        "peers.members",
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

    fn input_files(_: &PeersSpec) -> Vec<std::path::PathBuf> {
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
        Box::new(PeersOutcome(PeersReport::new(
            plan.members.as_slice(),
            run.log,
            mode,
        )))
    }

    fn digest(_: &Summary) -> Option<String> {
        None
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
    fn write_plots(&self, _: &ResultDir, _: &Scenario, _: &RunLog) -> Result<(), ReportError> {
        Ok(())
    }
}

/// What the report measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Full mesh: converged when every live member knows every other.
    Mesh,
    /// Full mesh with rate limits: as [`Mode::Mesh`], plus their counts.
    MeshLimited,
    /// Bounded views with this outbound target.
    Bounded {
        /// Outbound connections each member aims for.
        target: usize,
    },
}

/// Peer-registry outcome of a run.
#[derive(Debug)]
pub struct PeersReport {
    members: Vec<HostId>,
    mode: Mode,
    converged_at: Option<SimTime>,
    stats: BTreeMap<HostId, MemberStats>,
    up_at_end: BTreeMap<HostId, usize>,
    /// The overlay of the members live at the end (bounded views).
    shape: Option<Shape>,
    /// Refusals, evictions and rate-limit drops recorded.
    refused: u64,
    evicted: u64,
    rate_limited: u64,
}

impl PeersReport {
    /// Replays the run's lifecycle and peer observations; `None` when the
    /// peer registry has fewer than two members.
    pub fn new(members: &[HostId], log: &RunLog, mode: Mode) -> Option<Self> {
        let members: BTreeSet<HostId> = members.iter().copied().collect();
        if members.len() < 2 {
            return None;
        }
        let target = match mode {
            Mode::Bounded { target } => Some(target),
            Mode::Mesh | Mode::MeshLimited => None,
        };
        let replay = Replay::run(members.clone(), log, target);
        let shape = target.and_then(|_| Overlay::new(&replay.live, &replay.knows).shape());
        let (mut refused, mut evicted, mut rate_limited) = (0, 0, 0);
        for (_, h, o) in &log.observations {
            let Observation::Peers(event) = o else {
                continue;
            };
            if !members.contains(h) {
                continue;
            }
            match event {
                PeerRegistryEvent::Refused { .. } => refused += 1,
                PeerRegistryEvent::Evicted { .. } => evicted += 1,
                PeerRegistryEvent::RateLimited { .. } => rate_limited += 1,
                PeerRegistryEvent::Up { .. }
                | PeerRegistryEvent::Down { .. }
                | PeerRegistryEvent::Banned { .. }
                | PeerRegistryEvent::Unbanned { .. }
                | PeerRegistryEvent::ObserversCleaned { .. } => {}
            }
        }
        let up_at_end = replay.knows.iter().map(|(h, k)| (*h, k.len())).collect();
        Some(PeersReport {
            members: members.into_iter().collect(),
            mode,
            converged_at: replay.converged_at,
            stats: replay.stats,
            up_at_end,
            shape,
            refused,
            evicted,
            rate_limited,
        })
    }

    /// Adds `peers.converged_s` (when it happened) and `peers.members`.
    pub fn add_metrics(&self, summary: &mut Summary) {
        summary.set("peers.members", Metric::Count(self.members.len() as u64));
        if let Some(t) = self.converged_at {
            summary.set("peers.converged_s", Metric::Real(t.as_secs_f64()));
        }
        if self.mode == Mode::Mesh {
            return;
        }
        summary.set("peers.refused", Metric::Count(self.refused));
        summary.set("peers.evicted", Metric::Count(self.evicted));
        summary.set("peers.rate_limited", Metric::Count(self.rate_limited));
        if let Some(shape) = self.shape {
            summary.set("peers.degree_min", Metric::Count(shape.degree_min as u64));
            summary.set("peers.degree_mean", Metric::Real(shape.degree_mean));
            summary.set("peers.degree_max", Metric::Count(shape.degree_max as u64));
            summary.set("peers.components", Metric::Count(shape.components as u64));
            if let Some(d) = shape.diameter {
                summary.set("peers.diameter_hops", Metric::Count(u64::from(d)));
            }
        }
    }

    /// Writes `peers.csv`: one row per member.
    pub fn write(&self, path: &Path, scenario: &Scenario) -> Result<(), ReportError> {
        let header = [
            "host",
            "joins",
            "leaves",
            "bans",
            "avg_peer_lifetime_s",
            "peers_up_at_end",
            "full_view_s",
        ];
        let records = self.members.iter().map(|m| {
            let s = self.stats.get(m).cloned().unwrap_or_default();
            vec![
                host_name(scenario, *m).to_string(),
                s.joins.to_string(),
                s.leaves.to_string(),
                s.bans.to_string(),
                match s.lifetimes {
                    (0, _) => String::new(),
                    (n, total) => format!("{:.9}", total as f64 / n as f64 / 1e9),
                },
                self.up_at_end.get(m).copied().unwrap_or(0).to_string(),
                s.full_view_at.map(seconds).unwrap_or_default(),
            ]
        });
        rows(path, &header, records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::record::Lifecycle;

    fn s(secs: u64) -> SimTime {
        SimTime::from_nanos(secs * 1_000_000_000)
    }

    fn three_peers() -> Vec<HostId> {
        vec![HostId(0), HostId(1), HostId(2)]
    }

    fn up(log: &mut RunLog, t: u64, host: u32, peer: u32) {
        log.observations.push((
            s(t),
            HostId(host),
            Observation::Peers(PeerRegistryEvent::Up { peer: HostId(peer) }),
        ));
    }

    #[test]
    fn converges_when_every_booted_member_knows_every_live_member() {
        let scenario = three_peers();
        let mut log = RunLog::new(3);
        for h in 0..3 {
            log.lifecycle
                .push((s(h), HostId(h as u32), Lifecycle::Started));
        }
        // 0 and 1 know each other at 1 s: not converged, host 2 has booted
        // (at 2 s) only later.
        up(&mut log, 1, 0, 1);
        up(&mut log, 1, 1, 0);
        for (t, a, b) in [(3, 2, 0), (3, 2, 1), (4, 0, 2)] {
            up(&mut log, t, a, b);
        }
        up(&mut log, 5, 1, 2);
        let report = PeersReport::new(&scenario, &log, Mode::Mesh).unwrap();
        assert_eq!(report.converged_at, Some(s(5)));
        assert_eq!(report.stats[&HostId(2)].full_view_at, Some(s(3)));
    }

    #[test]
    fn a_crashed_member_does_not_block_convergence_of_the_live_ones() {
        let scenario = three_peers();
        let mut log = RunLog::new(3);
        for h in 0..3 {
            log.lifecycle.push((s(0), HostId(h), Lifecycle::Started));
        }
        log.lifecycle.push((s(1), HostId(2), Lifecycle::Crashed));
        // Only 0 and 1 are live; they find each other at 2 s.
        up(&mut log, 2, 0, 1);
        up(&mut log, 2, 1, 0);
        let report = PeersReport::new(&scenario, &log, Mode::Mesh).unwrap();
        assert_eq!(report.converged_at, Some(s(2)));
        let mut summary = Summary::default();
        report.add_metrics(&mut summary);
        assert_eq!(summary.get("peers.converged_s"), Some(&Metric::Real(2.0)));
    }

    #[test]
    fn never_converged_means_absent() {
        let scenario = three_peers();
        let mut log = RunLog::new(3);
        for h in 0..3 {
            log.lifecycle.push((s(0), HostId(h), Lifecycle::Started));
        }
        up(&mut log, 1, 0, 1);
        let report = PeersReport::new(&scenario, &log, Mode::Mesh).unwrap();
        let mut summary = Summary::default();
        report.add_metrics(&mut summary);
        assert!(summary.get("peers.converged_s").is_none());
    }
}
