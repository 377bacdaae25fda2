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

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use node_logic::protocols::peers::{PeerConfig, PeerRegistryEvent};
use node_logic::{HostConfig, HostId, HostNode, Observation};
use reports::summary::{Metric, Summary};
use reports::tables::{host_name, rows};
use reports::{ReportError, ResultDir, seconds};
use sim_core::checkers::Checker;
use sim_core::engine::Simulation;
use sim_core::record::{Lifecycle, RunLog};
use sim_core::rng::RngStreams;
use sim_core::scenario::{self, DeValue, ErrorKind, HostSpec, Hosts, Role, Section, Table};
use sim_core::units::{SimDuration, SimTime};

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
}

impl Protocol for Peers {
    type Spec = PeersSpec;
    /// The members, sorted.
    type Plan = Vec<HostId>;
    const SECTION: Section = Section {
        name: "peers",
        keys: &["members", "heartbeat", "stale_after", "max_observers"],
    };
    const METRICS: &'static [&'static str] = &["peers.converged_s", "peers.members"];

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
        Ok((!members.is_empty()).then_some(PeersSpec {
            members,
            heartbeat,
            stale_after,
            max_observers,
        }))
    }

    fn input_files(_: &PeersSpec) -> Vec<std::path::PathBuf> {
        Vec::new()
    }

    fn plan(
        spec: &PeersSpec,
        _: &Scenario,
        _: &RunOptions,
        _: &Plans,
    ) -> Result<Vec<HostId>, RunError> {
        let mut members = spec.members.clone();
        members.sort_unstable();
        members.dedup();
        Ok(members)
    }

    /// Every member greets every other member at start (its bootstrap list
    /// is the whole membership).
    fn configure(
        spec: &PeersSpec,
        members: &Vec<HostId>,
        _: &Plans,
        host: &HostSpec,
        config: HostConfig,
        _: &RngStreams,
    ) -> HostConfig {
        if members.binary_search(&host.id).is_err() {
            return config;
        }
        config.with_peers(PeerConfig {
            max_observers: spec.max_observers as usize,
            ..PeerConfig::new(
                host.id,
                members.clone(),
                members.clone(),
                spec.heartbeat,
                spec.stale_after,
            )
        })
    }

    fn shared_files(_: &PeersSpec, _: &Vec<HostId>) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }

    fn checkers(_: &PeersSpec, _: &Vec<HostId>, _: &Scenario) -> Vec<Box<dyn Checker>> {
        Vec::new()
    }

    fn prepare(_: &PeersSpec, _: &Vec<HostId>, _: &Scenario, _: &mut Simulation<HostNode>) {}

    fn node_counters(_: &HostNode, _: &mut ProtocolCounters) {}

    fn report<'a>(
        _: &'a PeersSpec,
        members: &'a Vec<HostId>,
        run: &Finished<'a>,
    ) -> Box<dyn ProtocolReport + 'a> {
        Box::new(PeersOutcome(PeersReport::new(members, run.log)))
    }

    fn digest(_: &Summary) -> Option<String> {
        None
    }

    /// Every member keeps an entry for every other member and records
    /// their joins and leaves: 600 bytes per pair of members and 4 KiB
    /// per member (measured: 200 and 400 peers take 26 and 86 MiB).
    fn memory(spec: &PeersSpec, _: &Scenario) -> u64 {
        let n = spec.members.iter().collect::<BTreeSet<_>>().len() as u64;
        n.saturating_mul(n)
            .saturating_mul(600)
            .saturating_add(n.saturating_mul(4 << 10))
    }
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

/// What one member saw.
#[derive(Clone, Debug, Default)]
struct MemberStats {
    joins: u64,
    leaves: u64,
    bans: u64,
    full_view_at: Option<SimTime>,
    /// Completed up periods of its peers: (count, total nanoseconds).
    lifetimes: (u64, u128),
    up_since: BTreeMap<HostId, SimTime>,
}

/// Peer-registry outcome of a run.
#[derive(Debug)]
pub struct PeersReport {
    members: Vec<HostId>,
    converged_at: Option<SimTime>,
    stats: BTreeMap<HostId, MemberStats>,
    up_at_end: BTreeMap<HostId, usize>,
}

impl PeersReport {
    /// Replays the run's lifecycle and peer observations; `None` when the
    /// peer registry has fewer than two members.
    pub fn new(members: &[HostId], log: &RunLog) -> Option<Self> {
        let members: BTreeSet<HostId> = members.iter().copied().collect();
        if members.len() < 2 {
            return None;
        }
        // Merge the two time-ordered streams; at equal times a boot or
        // crash comes first (it happens before what the node does next).
        enum Step<'a> {
            Life(Lifecycle),
            Seen(&'a PeerRegistryEvent),
        }
        let mut steps: Vec<(SimTime, u8, usize, HostId, Step<'_>)> = Vec::new();
        for (i, (t, h, what)) in log.lifecycle.iter().enumerate() {
            if members.contains(h) {
                steps.push((*t, 0, i, *h, Step::Life(*what)));
            }
        }
        for (i, (t, h, o)) in log.observations.iter().enumerate() {
            if let Observation::Peers(
                e @ (PeerRegistryEvent::Up { .. }
                | PeerRegistryEvent::Down { .. }
                | PeerRegistryEvent::Banned { .. }),
            ) = o
                && members.contains(h)
            {
                steps.push((*t, 1, i, *h, Step::Seen(e)));
            }
        }
        steps.sort_by_key(|(t, order, i, _, _)| (*t, *order, *i));

        let mut live: BTreeSet<HostId> = BTreeSet::new();
        let mut booted: BTreeSet<HostId> = BTreeSet::new();
        let mut knows: BTreeMap<HostId, BTreeSet<HostId>> = BTreeMap::new();
        let mut stats: BTreeMap<HostId, MemberStats> = members
            .iter()
            .map(|m| (*m, MemberStats::default()))
            .collect();
        let mut missing: u64 = 0;
        let mut converged_at = None;
        for (time, _, _, host, step) in steps {
            match step {
                Step::Life(Lifecycle::Started | Lifecycle::Restarted) => {
                    booted.insert(host);
                    if live.insert(host) {
                        knows.insert(host, BTreeSet::new());
                        // Its own view is empty; it is absent from the others'.
                        let others = live.len() as u64 - 1;
                        let unseen = live
                            .iter()
                            .filter(|a| **a != host && !knows[*a].contains(&host))
                            .count() as u64;
                        missing += others + unseen;
                    }
                }
                Step::Life(Lifecycle::Crashed) => {
                    if live.remove(&host) {
                        let own = knows
                            .get(&host)
                            .map_or(0, |k| k.iter().filter(|p| live.contains(p)).count())
                            as u64;
                        missing = missing.saturating_sub(live.len() as u64 - own);
                        let unseen =
                            live.iter().filter(|a| !knows[*a].contains(&host)).count() as u64;
                        missing = missing.saturating_sub(unseen);
                        knows.insert(host, BTreeSet::new());
                    }
                }
                Step::Seen(PeerRegistryEvent::Up { peer }) => {
                    let stat = stats.entry(host).or_default();
                    stat.joins += 1;
                    stat.up_since.insert(*peer, time);
                    let view = knows.entry(host).or_default();
                    if view.insert(*peer) && live.contains(&host) && live.contains(peer) {
                        missing = missing.saturating_sub(1);
                    }
                }
                Step::Seen(PeerRegistryEvent::Down { peer }) => {
                    let stat = stats.entry(host).or_default();
                    stat.leaves += 1;
                    if let Some(since) = stat.up_since.remove(peer) {
                        stat.lifetimes.0 += 1;
                        stat.lifetimes.1 += u128::from((time - since).as_nanos());
                    }
                    let view = knows.entry(host).or_default();
                    if view.remove(peer) && live.contains(&host) && live.contains(peer) {
                        missing += 1;
                    }
                }
                Step::Seen(PeerRegistryEvent::Banned { .. }) => {
                    stats.entry(host).or_default().bans += 1;
                }
                Step::Seen(_) => {}
            }
            if let Some(view) = knows.get(&host)
                && live.contains(&host)
                && view.len() + 1 >= members.len()
            {
                stats
                    .entry(host)
                    .or_default()
                    .full_view_at
                    .get_or_insert(time);
            }
            if converged_at.is_none()
                && missing == 0
                && booted.len() == members.len()
                && live.len() >= 2
            {
                converged_at = Some(time);
            }
        }
        let up_at_end = knows.iter().map(|(h, k)| (*h, k.len())).collect();
        Some(PeersReport {
            members: members.into_iter().collect(),
            converged_at,
            stats,
            up_at_end,
        })
    }

    /// Adds `peers.converged_s` (when it happened) and `peers.members`.
    pub fn add_metrics(&self, summary: &mut Summary) {
        summary.set("peers.members", Metric::Count(self.members.len() as u64));
        if let Some(t) = self.converged_at {
            summary.set("peers.converged_s", Metric::Real(t.as_secs_f64()));
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
        let report = PeersReport::new(&scenario, &log).unwrap();
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
        let report = PeersReport::new(&scenario, &log).unwrap();
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
        let report = PeersReport::new(&scenario, &log).unwrap();
        let mut summary = Summary::default();
        report.add_metrics(&mut summary);
        assert!(summary.get("peers.converged_s").is_none());
    }
}
