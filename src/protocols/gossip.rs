//! Rumor spreading's driver side: the `[gossip]` table, each member's
//! configuration, `gossip.csv` (one row per rumor and member), the
//! coverage plot and the `gossip.*` metrics. The state machine is
//! `node_logic::protocols::gossip`.
//!
//! Definitions: a rumor **reaches** a member when the member learns it
//! (its origin at origination). `gossip.coverage` is the share of (rumor,
//! member) pairs reached by the end; `gossip.coverage_s` the longest time
//! from a rumor's origination to reaching its last member, over the rumors
//! that reached every member (absent when none did); the delivery delay of
//! a pair is reaching minus origination (`delivery_p50_s`, `_p95_s`,
//! nearest rank over the reached pairs); hops count pushes from the origin.
//! `gossip.reach50_s` / `reach90_s` / `reach100_s`: for each rumor, the
//! time from its origination until half (90 %, all) of the members had
//! learned it, averaged over the rumors that got that far (absent when
//! none did). `over = "peers"` pushes along the peer registry's overlay
//! (bounded views) instead of to any member.
//!
//! `carry_registry = true`: registrars' registry announcements travel as
//! carried rumors (see `node_logic::protocols::gossip`) instead of one
//! datagram from each registrar to each miner. `gossip.announce_reach50_s`
//! / `_reach90_s` / `_reach100_s`: for each announcement, the time from
//! its origination (the registrar ready) until half (90 %, all) of the
//! miners had learned it, averaged over the announcements that got that
//! far; written only with `carry_registry`.
//!
//! `carry_consensus = "blocks"` (or `"all"`): validators' proposals and
//! block bodies (and with `"all"` also votes, view changes and new views)
//! travel as carried rumors instead of one datagram from the sender to
//! each other validator; catch-up, resends and datagrams too large for a
//! rumor stay direct. `gossip.block_reach50_s` / `_reach90_s` /
//! `_reach100_s`: for each proposal or block body, the time from its
//! origination (the leader sending it) until half (90 %, all) of the
//! validators had it, the leader counted from the start, averaged over
//! those that got that far; written only with `carry_consensus`.

use std::collections::BTreeMap;

use node_logic::protocols::gossip::{
    CarryConsensus, GossipConfig, GossipEvent, MAX_RUMOR_BYTES, RumorId, RumorSpec, is_block_key,
    registry_key,
};
use node_logic::protocols::peers::Membership;
use node_logic::{HostConfig, HostId, HostNode, Observation};
use reports::plots::{MAX_SERIES, svg, write_svg};
use reports::summary::{Metric, Summary};
use reports::tables::{host_name, rows};
use reports::{ReportError, ResultDir, percentile, seconds};
use sim_core::checkers::Checker;
use sim_core::engine::Simulation;
use sim_core::rng::RngStreams;
use sim_core::scenario::{self, ErrorKind, HostSpec, Hosts, Role, Section, Table};
use sim_core::units::{SimDuration, SimTime};

use super::consensus::ValidatorSource;
use super::load::reach::{Reach, configured_rumors};
use super::{Plans, PlotContext, Protocol, ProtocolCounters, ProtocolReport, Protocols};
use crate::model::Scenario;
use crate::results::Finished;
use crate::runner::{RunError, RunOptions};

/// Rumor spreading (see the module docs).
pub struct Gossip;

/// The `[gossip]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct GossipSpec {
    /// Who takes part (default: every `peer` host).
    pub members: Vec<HostId>,
    /// Members pushed to per round (default 3).
    pub fanout: u32,
    /// Rounds a member pushes a rumor after learning it (default 4).
    pub rounds: u32,
    /// Between rounds (default 1 s).
    pub interval: SimDuration,
    /// Members that start rumors (default: the first member).
    pub origins: Vec<HostId>,
    /// When each origin starts its first rumor (default 5 s).
    pub first_at: SimDuration,
    /// Rumors each origin starts (default 1).
    pub count: u32,
    /// Between one origin's rumors (default 10 s).
    pub every: SimDuration,
    /// Each rumor's payload in bytes (default 256).
    pub size: u32,
    /// Push over the peer overlay (`over = "peers"`) instead of to any
    /// member (`"members"`, the default).
    pub over_peers: bool,
    /// Carry the registrars' registry announcements (`carry_registry`,
    /// default false).
    pub carry_registry: bool,
    /// Carry the validators' broadcasts (`carry_consensus`, default
    /// `"off"`).
    pub carry_consensus: CarryConsensus,
}

impl Protocol for Gossip {
    type Spec = GossipSpec;
    /// The members (shared by every member's configuration).
    type Plan = Membership;
    const SECTION: Section = Section {
        name: "gossip",
        keys: &[
            "members",
            "fanout",
            "rounds",
            "interval",
            "origins",
            "first_at",
            "count",
            "every",
            "size",
            "over",
            "carry_registry",
            "carry_consensus",
        ],
    };
    const METRICS: &'static [&'static str] = &[
        "gossip.rumors",
        "gossip.coverage",
        "gossip.coverage_s",
        "gossip.coverage_reached",
        "gossip.delivery_p50_s",
        "gossip.delivery_p95_s",
        "gossip.reach50_s",
        "gossip.reach90_s",
        "gossip.reach100_s",
        "gossip.hops_max",
        "gossip.hops_mean",
        "gossip.pushed",
        "gossip.duplicates",
        "gossip.announce_reach50_s",
        "gossip.announce_reach90_s",
        "gossip.announce_reach100_s",
        "gossip.block_reach50_s",
        "gossip.block_reach90_s",
        "gossip.block_reach100_s",
    ];

    fn parse(
        t: &Table<'_>,
        hosts: &Hosts<'_>,
        earlier: &Protocols,
    ) -> scenario::Result<Option<GossipSpec>> {
        if !t.is_present() {
            return Ok(None);
        }
        let members = match t.get("members") {
            Some(f) => hosts.index.resolve(&f)?,
            None => hosts.with_roles(&[Role::Peer]),
        };
        if members.len() < 2 {
            let message = format!(
                "[gossip] needs at least two members, found {}",
                members.len()
            );
            let err = match t.get("members") {
                Some(f) => f.invalid(message),
                None => t.error(ErrorKind::MissingKey, message),
            };
            return Err(err.with_help("set `members` to a group, or give two hosts role \"peer\""));
        }
        let max_fanout = u32::try_from(members.len() - 1).unwrap_or(u32::MAX);
        let origins = match t.get("origins") {
            Some(f) => {
                let origins = hosts.index.resolve(&f)?;
                if let Some(o) = origins.iter().find(|o| !members.contains(o)) {
                    return Err(f
                        .invalid(format!(
                            "origin `{}` is not a gossip member",
                            hosts.index.name(*o)
                        ))
                        .with_help("origins start rumors among the members: name members"));
                }
                origins
            }
            None => vec![members[0]],
        };
        let over_peers = parse_over(t, hosts, earlier, &members)?;
        let carry_registry = parse_carry_registry(t, hosts, earlier, &members)?;
        let carry_consensus = parse_carry_consensus(t, hosts, earlier, &members)?;
        // Carrying other protocols' messages, a table needs no rumors of its own.
        let least_count = u32::from(!carry_registry && carry_consensus == CarryConsensus::Off);
        Ok(Some(GossipSpec {
            over_peers,
            carry_registry,
            carry_consensus,
            fanout: t.u32_or("fanout", 3.min(max_fanout), 1, max_fanout)?,
            rounds: t.u32_or("rounds", 4, 1, 1_000)?,
            interval: t.positive_duration_or("interval", SimDuration::from_secs(1))?,
            first_at: t.duration_or("first_at", SimDuration::from_secs(5))?,
            count: t.u32_or("count", least_count, least_count, 10_000)?,
            every: t.positive_duration_or("every", SimDuration::from_secs(10))?,
            size: t.u32_or("size", 256, 0, MAX_RUMOR_BYTES as u32)?,
            members,
            origins,
        }))
    }

    fn input_files(_: &GossipSpec) -> Vec<(&'static str, std::path::PathBuf)> {
        Vec::new()
    }
    fn check_files(_: &GossipSpec, _: &Table<'_>) -> scenario::Result<()> {
        Ok(())
    }

    fn plan(
        spec: &GossipSpec,
        _: &Scenario,
        _: &RunOptions,
        _: &Plans,
    ) -> Result<Membership, RunError> {
        Ok(Membership::new(spec.members.clone()))
    }

    fn configure(
        spec: &GossipSpec,
        members: &Membership,
        _: &Plans,
        host: &HostSpec,
        config: HostConfig,
        _: &RngStreams,
    ) -> HostConfig {
        if !members.contains(host.id) {
            return config;
        }
        let rumors = match spec.origins.contains(&host.id) {
            true => (0..spec.count)
                .map(|i| RumorSpec {
                    at: SimTime::from_duration(
                        spec.first_at + spec.every.saturating_mul(u64::from(i)),
                    ),
                    size: spec.size,
                })
                .collect(),
            false => Vec::new(),
        };
        config.with_gossip(GossipConfig {
            me: host.id,
            members: members.clone(),
            fanout: spec.fanout,
            rounds: spec.rounds,
            interval: spec.interval,
            rumors,
            over_peers: spec.over_peers,
            carry_registry: spec.carry_registry,
            carry_consensus: spec.carry_consensus,
        })
    }

    fn shared_files(_: &GossipSpec, _: &Membership) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }

    fn checkers(_: &GossipSpec, _: &Membership, _: &Scenario) -> Vec<Box<dyn Checker>> {
        Vec::new()
    }

    fn prepare(_: &GossipSpec, _: &Membership, _: &Scenario, _: &mut Simulation<HostNode>) {}

    fn node_counters(node: &HostNode, counters: &mut ProtocolCounters) {
        if let Some(g) = node.gossip() {
            let stats = g.stats();
            *counters.entry("gossip.pushed".into()).or_default() += stats.pushed;
            *counters.entry("gossip.duplicates".into()).or_default() += stats.duplicates;
        }
    }

    fn report<'a>(
        spec: &'a GossipSpec,
        members: &'a Membership,
        run: &Finished<'a>,
    ) -> Box<dyn ProtocolReport + 'a> {
        let mut report = GossipReport::new(members.as_slice(), run);
        report.announcements = spec
            .carry_registry
            .then(|| announcement_reach(run))
            .flatten();
        report.blocks = (spec.carry_consensus != CarryConsensus::Off)
            .then(|| block_reach(run))
            .flatten();
        Box::new(report)
    }

    /// Every member remembers every rumor it has seen (id, payload and
    /// rounds left) and records one observation per rumor it learns: about
    /// 2 KiB per member plus 96 bytes and the payload per member and rumor.
    fn memory(spec: &GossipSpec, _: &Scenario) -> u64 {
        let members = spec.members.len() as u64;
        let rumors = (spec.origins.len() as u64).saturating_mul(u64::from(spec.count));
        let per_rumor = 96 + u64::from(spec.size);
        members
            .saturating_mul(rumors)
            .saturating_mul(per_rumor)
            .saturating_add(members.saturating_mul(2 << 10))
    }

    fn digest(summary: &Summary) -> Option<String> {
        let get = |name: &str| summary.get(name).and_then(Metric::as_f64);
        let rumors = get("gossip.rumors")?;
        let mut line = format!(
            "gossip: {rumors} rumors, coverage {:.1} %",
            100.0 * get("gossip.coverage")?
        );
        if let Some(full) = get("gossip.coverage_s") {
            line.push_str(&format!(", everyone reached within {full:.3} s"));
        }
        if let Some(hops) = get("gossip.hops_max") {
            line.push_str(&format!(", at most {hops} hops"));
        }
        Some(line)
    }
}

/// `over`: `"members"` (default) or `"peers"`, which needs every gossip
/// member to be a member of the peer registry.
fn parse_over(
    t: &Table<'_>,
    hosts: &Hosts<'_>,
    earlier: &Protocols,
    members: &[HostId],
) -> scenario::Result<bool> {
    let Some(f) = t.get("over") else {
        return Ok(false);
    };
    let over_peers = f.choice("dissemination path", &[("members", false), ("peers", true)])?;
    if !over_peers {
        return Ok(false);
    }
    let Some(peers) = &earlier.peers else {
        return Err(f
            .invalid("`over = \"peers\"` needs the peer registry, which does not run here")
            .with_help("add a [peers] table (with `max_outbound` for bounded views)"));
    };
    if let Some(m) = members.iter().find(|m| !peers.members.contains(m)) {
        return Err(f
            .invalid(format!(
                "gossip member `{}` is not a member of the peer registry, so it has no peers to push to",
                hosts.index.name(*m)
            ))
            .with_help("make [peers] members include every gossip member"));
    }
    Ok(true)
}

/// `carry_registry`: `true` needs registrars that announce the registry
/// (`[consensus] validators = "registered"`) and every registrar and miner
/// a gossip member; `false` is the default.
fn parse_carry_registry(
    t: &Table<'_>,
    hosts: &Hosts<'_>,
    earlier: &Protocols,
    members: &[HostId],
) -> scenario::Result<bool> {
    let Some(f) = t.get("carry_registry") else {
        return Ok(false);
    };
    if !f.bool()? {
        return Ok(false);
    }
    let announced = earlier
        .consensus
        .as_ref()
        .is_some_and(|c| c.validators == ValidatorSource::Registered);
    let (Some(registration), true) = (&earlier.registration, announced) else {
        return Err(f
            .invalid("`carry_registry = true`, but no registrar announces a registry here")
            .with_help(
                "registrars announce the registry when [consensus] has `validators = \"registered\"` \
                 (and [registration] runs); otherwise remove `carry_registry`",
            ));
    };
    let hosts_outside = registration
        .registrars
        .iter()
        .chain(&registration.miners)
        .find(|h| !members.contains(h));
    if let Some(h) = hosts_outside {
        return Err(f
            .invalid(format!(
                "`{}` is not a gossip member, so announcements would not travel through it",
                hosts.index.name(*h)
            ))
            .with_help("make [gossip] `members` include every registrar and miner"));
    }
    Ok(true)
}

/// `carry_consensus`: `"off"` (default), `"blocks"` or `"all"`; carrying
/// needs `[consensus]` and every host that may validate a gossip member.
fn parse_carry_consensus(
    t: &Table<'_>,
    hosts: &Hosts<'_>,
    earlier: &Protocols,
    members: &[HostId],
) -> scenario::Result<CarryConsensus> {
    let Some(f) = t.get("carry_consensus") else {
        return Ok(CarryConsensus::Off);
    };
    let carry = f.choice(
        "consensus route",
        &[
            ("off", CarryConsensus::Off),
            ("blocks", CarryConsensus::Blocks),
            ("all", CarryConsensus::All),
        ],
    )?;
    if carry == CarryConsensus::Off {
        return Ok(carry);
    }
    let Some(validators) = validator_hosts(earlier) else {
        return Err(f
            .invalid(
                "`carry_consensus` routes consensus messages, but [consensus] does not run here",
            )
            .with_help("add a [consensus] table, or remove `carry_consensus`"));
    };
    if let Some(h) = validators.iter().find(|h| !members.contains(h)) {
        return Err(f
            .invalid(format!(
                "validator `{}` is not a gossip member, so consensus messages would not reach it",
                hosts.index.name(*h)
            ))
            .with_help("make [gossip] `members` include every validator (with `validators = \"registered\"`: every miner)"));
    }
    Ok(carry)
}

/// The hosts that may validate: the `[consensus]` validators, or every
/// miner with `validators = "registered"` (`None`: no consensus).
fn validator_hosts(earlier: &Protocols) -> Option<Vec<HostId>> {
    let consensus = earlier.consensus.as_ref()?;
    match &consensus.validators {
        ValidatorSource::Hosts(hosts) => Some(hosts.clone()),
        ValidatorSource::Registered => Some(
            earlier
                .registration
                .as_ref()
                .map_or_else(Vec::new, |r| r.miners.clone()),
        ),
    }
}

/// The block metrics, with the share of validators each waits for.
const BLOCK_REACH: [(f64, &str); 3] = [
    (0.5, "gossip.block_reach50_s"),
    (0.9, "gossip.block_reach90_s"),
    (1.0, "gossip.block_reach100_s"),
];

/// The proposals' and block bodies' reach of the validators (carried
/// rumors from a validator whose key [`is_block_key`]).
fn block_reach(run: &Finished<'_>) -> Option<Reach> {
    let validators = validator_hosts(&run.scenario.protocols)?;
    let is_block = |r: &RumorId| {
        let key = r.seq.wrapping_sub(configured_rumors(r.origin, run));
        validators.contains(&r.origin) && is_block_key(key)
    };
    Some(Reach::of(is_block, &validators, run))
}

/// The announcement metrics, with the share of miners each waits for.
const ANNOUNCE_REACH: [(f64, &str); 3] = [
    (0.5, "gossip.announce_reach50_s"),
    (0.9, "gossip.announce_reach90_s"),
    (1.0, "gossip.announce_reach100_s"),
];

/// The registry announcements' reach of the miners (carried rumors from a
/// registrar, numbered from its [`registry_key`] range).
fn announcement_reach(run: &Finished<'_>) -> Option<Reach> {
    let registration = run.scenario.protocols.registration.as_ref()?;
    let registrars = &registration.registrars;
    let is_announcement = |r: &RumorId| {
        let first =
            configured_rumors(r.origin, run).wrapping_add(registry_key(SimTime::ZERO) as u32);
        registrars.contains(&r.origin) && r.seq >= first
    };
    Some(Reach::of(is_announcement, &registration.miners, run))
}

/// The dissemination delays reported: to half, 90 % and all of the members.
const REACH: [(f64, &str); 3] = [
    (0.5, "gossip.reach50_s"),
    (0.9, "gossip.reach90_s"),
    (1.0, "gossip.reach100_s"),
];

/// Who learned a rumor when: (time, hops, from).
type Reached = BTreeMap<HostId, (SimTime, u32, Option<HostId>)>;

/// Gossip's outcome of a run.
struct GossipReport<'a> {
    members: &'a [HostId],
    /// Each rumor's origination time and who it reached.
    rumors: BTreeMap<RumorId, (SimTime, Reached)>,
    counters: (u64, u64),
    /// With `carry_registry`: the announcements' reach of the miners.
    announcements: Option<Reach>,
    /// With `carry_consensus`: the blocks' reach of the validators.
    blocks: Option<Reach>,
}

impl<'a> GossipReport<'a> {
    fn new(members: &'a [HostId], run: &Finished<'_>) -> Self {
        let mut rumors: BTreeMap<RumorId, (SimTime, Reached)> = BTreeMap::new();
        for (time, host, observation) in &run.log.observations {
            let Observation::Gossip(event) = observation else {
                continue;
            };
            match event {
                GossipEvent::Originated { rumor, .. } => {
                    let entry = rumors.entry(*rumor).or_insert((*time, Reached::new()));
                    entry.0 = *time;
                    entry.1.entry(*host).or_insert((*time, 0, None));
                }
                GossipEvent::Learned { rumor, from, hops } => {
                    let entry = rumors
                        .entry(*rumor)
                        .or_insert((SimTime::NEVER, Reached::new()));
                    entry.1.entry(*host).or_insert((*time, *hops, Some(*from)));
                }
            }
        }
        let count = |name: &str| run.counters.get(name).copied().unwrap_or(0);
        GossipReport {
            members,
            rumors,
            counters: (count("gossip.pushed"), count("gossip.duplicates")),
            announcements: None,
            blocks: None,
        }
    }

    /// The mean, over the rumors that reached `share` of the members, of
    /// the time from origination until they had (`None`: no rumor did).
    fn mean_reach(&self, share: f64) -> Option<f64> {
        let need = ((share * self.members.len() as f64).ceil() as usize).max(1);
        let delays: Vec<f64> = self
            .rumors
            .values()
            .filter(|(at, r)| *at != SimTime::NEVER && r.len() >= need)
            .map(|(at, r)| {
                let mut times: Vec<SimTime> = r.values().map(|(t, _, _)| *t).collect();
                times.sort_unstable();
                (times[need - 1] - *at).as_secs_f64()
            })
            .collect();
        (!delays.is_empty()).then(|| delays.iter().sum::<f64>() / delays.len() as f64)
    }

    /// Every reached pair's delay and hops.
    fn pairs(&self) -> impl Iterator<Item = (f64, u32)> + '_ {
        self.rumors.values().flat_map(|(at, reached)| {
            reached
                .values()
                .filter(move |_| *at != SimTime::NEVER)
                .map(move |(t, hops, _)| ((*t - *at).as_secs_f64(), *hops))
        })
    }
}

impl ProtocolReport for GossipReport<'_> {
    fn add_metrics(&self, summary: &mut Summary) {
        let rumors = self.rumors.len() as u64;
        summary.set("gossip.rumors", Metric::Count(rumors));
        let reached: usize = self.rumors.values().map(|(_, r)| r.len()).sum();
        let pairs = rumors as usize * self.members.len();
        let coverage = if pairs == 0 {
            0.0
        } else {
            reached as f64 / pairs as f64
        };
        summary.set("gossip.coverage", Metric::Real(coverage));
        let full = self
            .rumors
            .values()
            .filter(|(at, r)| *at != SimTime::NEVER && r.len() == self.members.len());
        let longest = full.filter_map(|(at, r)| {
            r.values()
                .map(|(t, _, _)| *t)
                .max()
                .map(|t| (t - *at).as_secs_f64())
        });
        summary.set_event("gossip.coverage", longest.reduce(f64::max));
        let mut delays: Vec<f64> = self.pairs().map(|(d, _)| d).collect();
        delays.sort_by(f64::total_cmp);
        let real_or_null = |v: Option<f64>| v.map_or(Metric::Null, Metric::Real);
        summary.set(
            "gossip.delivery_p50_s",
            real_or_null(percentile(&delays, 0.5)),
        );
        summary.set(
            "gossip.delivery_p95_s",
            real_or_null(percentile(&delays, 0.95)),
        );
        let hops: Vec<u32> = self.pairs().map(|(_, h)| h).collect();
        let max = hops.iter().max().map(|m| Metric::Count(u64::from(*m)));
        summary.set("gossip.hops_max", max.unwrap_or(Metric::Null));
        let mean = (!hops.is_empty())
            .then(|| hops.iter().map(|h| f64::from(*h)).sum::<f64>() / hops.len() as f64);
        summary.set("gossip.hops_mean", real_or_null(mean));
        for (share, name) in REACH {
            summary.set(name, real_or_null(self.mean_reach(share)));
        }
        summary.set("gossip.pushed", Metric::Count(self.counters.0));
        summary.set("gossip.duplicates", Metric::Count(self.counters.1));
        if let Some(reach) = &self.announcements {
            reach.add_metrics_named(summary, ANNOUNCE_REACH);
        }
        if let Some(reach) = &self.blocks {
            reach.add_metrics_named(summary, BLOCK_REACH);
        }
    }

    /// `gossip.csv`: one row per rumor and member, reached or not.
    fn write_tables(&self, dir: &ResultDir, scenario: &Scenario) -> Result<(), ReportError> {
        let header = [
            "rumor",
            "origin",
            "host",
            "originated_s",
            "learned_s",
            "delay_s",
            "hops",
            "from",
        ];
        let mut records = Vec::new();
        for (id, (at, reached)) in &self.rumors {
            for member in self.members {
                let got = reached.get(member);
                let known = *at != SimTime::NEVER;
                records.push(vec![
                    format!("{}.{}", id.origin.0, id.seq),
                    host_name(scenario, id.origin).to_string(),
                    host_name(scenario, *member).to_string(),
                    if known { seconds(*at) } else { String::new() },
                    got.map(|(t, _, _)| seconds(*t)).unwrap_or_default(),
                    got.filter(|_| known)
                        .map(|(t, _, _)| seconds(SimTime::from_duration(*t - *at)))
                        .unwrap_or_default(),
                    got.map(|(_, h, _)| h.to_string()).unwrap_or_default(),
                    got.and_then(|(_, _, f)| *f)
                        .map(|f| host_name(scenario, f).to_string())
                        .unwrap_or_default(),
                ]);
            }
        }
        rows(&dir.file("gossip.csv"), &header, records)
    }

    /// `gossip_coverage.svg`: the share of members each rumor has reached,
    /// over the time since it started (the first rumors, up to the chart's
    /// series limit).
    fn write_plots(&self, dir: &ResultDir, plot: &PlotContext<'_>) -> Result<(), ReportError> {
        let members = self.members.len() as f64;
        let series: Vec<svg::Series> = self
            .rumors
            .iter()
            .filter(|(_, (at, _))| *at != SimTime::NEVER)
            .take(MAX_SERIES)
            .map(|(id, (at, reached))| {
                let mut times: Vec<f64> = reached
                    .values()
                    .map(|(t, _, _)| (*t - *at).as_secs_f64())
                    .collect();
                times.sort_by(f64::total_cmp);
                let points = times
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (*t, (i + 1) as f64 / members))
                    .collect();
                svg::Series::new(format!("rumor {}.{}", id.origin.0, id.seq), points)
            })
            .collect();
        let chart = (!series.is_empty()).then(|| {
            let chart = svg::Chart {
                subtitle: plot.caption.clone(),
                step: true,
                ..svg::Chart::new(
                    "Rumor coverage",
                    "time since the rumor started (s)",
                    "members reached (fraction)",
                )
            };
            svg::line(&chart, &series)
        });
        write_svg(dir, "gossip_coverage.svg", chart)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_str;
    use crate::results::Reports;
    use sim_core::trace::NoTrace;

    const BASE: &str = r#"
duration = "30 s"
[network]
latency = "20 ms"
[[hosts]]
name = "p"
count = 12
role = "peer"
[[hosts]]
name = "quiet"
count = 2
role = "host"
"#;

    fn run(gossip: &str) -> Summary {
        let scenario = parse_str(&format!("{BASE}{gossip}"), None, &[]).unwrap();
        let prepared = crate::runner::prepare(&scenario).unwrap();
        let mut sim = prepared.sim;
        sim.run(&mut NoTrace).unwrap();
        let mut counters = ProtocolCounters::new();
        for host in &scenario.hosts {
            if let Some(node) = sim.node(host.id) {
                super::super::node_counters(node, &mut counters);
            }
        }
        let (hash, end) = (sim.trace_hash(), sim.now());
        let log = sim.into_log();
        let finished = Finished {
            scenario: &scenario,
            log: &log,
            plans: &prepared.plans,
            trace_hash: &hash,
            end,
            safety_violated: false,
            counters,
        };
        Reports::of(&finished, &[]).summary
    }

    fn metric(summary: &Summary, name: &str) -> f64 {
        summary
            .get(name)
            .and_then(Metric::as_f64)
            .unwrap_or_else(|| panic!("{name} missing"))
    }

    #[test]
    fn rumors_reach_every_member_and_the_metrics_say_how() {
        let s = run("[gossip]\norigins = [\"p-0\", \"p-5\"]\ncount = 2\ninterval = \"200 ms\"\n");
        assert_eq!(metric(&s, "gossip.rumors"), 4.0);
        assert_eq!(metric(&s, "gossip.coverage"), 1.0);
        let full = metric(&s, "gossip.coverage_s");
        assert!(full > 0.02 && full < 3.0, "{full}");
        assert!(metric(&s, "gossip.delivery_p50_s") <= metric(&s, "gossip.delivery_p95_s"));
        assert!(metric(&s, "gossip.hops_max") >= 2.0);
        // 12 members x 4 rounds x fanout 3, per rumor.
        assert_eq!(metric(&s, "gossip.pushed"), 4.0 * 12.0 * 4.0 * 3.0);
        assert!(metric(&s, "gossip.duplicates") > 0.0);
        assert!(s.get("peers.members").is_some(), "peers run beside gossip");
    }

    #[test]
    fn a_single_round_of_fanout_one_leaves_members_out() {
        let s = run("[gossip]\nfanout = 1\nrounds = 1\n");
        let coverage = metric(&s, "gossip.coverage");
        assert!(coverage < 1.0, "{coverage}");
        assert_eq!(
            s.get("gossip.coverage_s"),
            Some(&Metric::Null),
            "never everyone"
        );
        assert_eq!(s.get("gossip.coverage_reached"), Some(&Metric::Flag(false)));
    }

    #[test]
    fn bad_tables_are_located_errors() {
        for (table, says) in [
            ("[gossip]\nmembers = \"quiet-0\"\n", "at least two members"),
            ("[gossip]\nfanout = 12\n", "fanout"),
            ("[gossip]\norigins = \"quiet-0\"\n", "not a gossip member"),
            ("[gossip]\nsize = 70000\n", "size"),
            ("[gossip]\nfanut = 2\n", "fanout"),
        ] {
            let err = parse_str(&format!("{BASE}{table}"), None, &[]).unwrap_err();
            assert!(err.line().is_some(), "{err}");
            assert!(err.to_string().contains(says), "{table}: {err}");
        }
    }
}
