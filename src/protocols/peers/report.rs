//! The peer registry's outputs: `peers.csv` (one row per member), the
//! `peers.*` metrics and the data of its plots.
//!
//! **Converged** means every live member of the peer registry knows every
//! other live member as up. It is tracked as events happen, by counting
//! the missing (observer, peer) pairs among live members: a host's boot
//! adds its own missing view and its absence from the others' views; a
//! crash removes both (and its memory: it knows nobody when it comes back).
//!
//! Metrics (every one written in every run with a peer registry):
//! - `converged_s`: the first time the count reaches zero after every
//!   member has booted at least once (bring-up, not just the first few
//!   hosts finding each other), with `converged_reached`; null and `false`
//!   when that never happens;
//! - `reconverged_s`: from when the last fault was over (its heal or
//!   restart; the start of the run without faults, as the liveness checker
//!   counts) to the first time at or after it that the registry is
//!   converged again (0 when it already is), with `reconverged_reached`;
//!   null and `false` when it never is, or a fault never ends;
//! - `flaps`: peer-down events, every time a member drops a peer it had
//!   up (silence, ban, or the peer's crash);
//! - `members`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use node_logic::protocols::peers::PeerRegistryEvent;
use node_logic::{HostId, Observation};
use reports::summary::{Metric, Summary};
use reports::tables::{host_name, rows};
use reports::{ReportError, seconds};
use sim_core::record::{Lifecycle, RunLog};
use sim_core::units::SimTime;

use crate::model::Scenario;

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

/// One step of the replay: a boot or crash, or a peer observation.
enum Step<'a> {
    Life(Lifecycle),
    Seen(&'a PeerRegistryEvent),
}

/// Peer-registry outcome of a run.
#[derive(Debug)]
pub struct PeersReport {
    members: Vec<HostId>,
    converged_at: Option<SimTime>,
    reconverged_at: Option<SimTime>,
    recovery_from: Option<SimTime>,
    stats: BTreeMap<HostId, MemberStats>,
    up_at_end: BTreeMap<HostId, usize>,
    /// Each member's count of live peers over time (0 while it is down).
    live: BTreeMap<HostId, Vec<(SimTime, usize)>>,
    /// When a member dropped a peer (the flaps).
    downs: Vec<SimTime>,
}

/// The registry's state while the run is replayed.
#[derive(Default)]
struct Replay {
    members: BTreeSet<HostId>,
    live: BTreeSet<HostId>,
    booted: BTreeSet<HostId>,
    knows: BTreeMap<HostId, BTreeSet<HostId>>,
    /// Missing (observer, peer) pairs among live members.
    missing: u64,
}

impl Replay {
    fn converged(&self) -> bool {
        self.missing == 0 && self.booted.len() == self.members.len() && self.live.len() >= 2
    }

    fn boot(&mut self, host: HostId) {
        self.booted.insert(host);
        if self.live.insert(host) {
            self.knows.insert(host, BTreeSet::new());
            // Its own view is empty; it is absent from the others'.
            let others = self.live.len() as u64 - 1;
            let unseen = self
                .live
                .iter()
                .filter(|a| **a != host && !self.knows[*a].contains(&host))
                .count() as u64;
            self.missing += others + unseen;
        }
    }

    fn crash(&mut self, host: HostId) {
        if self.live.remove(&host) {
            let own = self
                .knows
                .get(&host)
                .map_or(0, |k| k.iter().filter(|p| self.live.contains(p)).count())
                as u64;
            self.missing = self.missing.saturating_sub(self.live.len() as u64 - own);
            let unseen = self
                .live
                .iter()
                .filter(|a| !self.knows[*a].contains(&host))
                .count() as u64;
            self.missing = self.missing.saturating_sub(unseen);
            self.knows.insert(host, BTreeSet::new());
        }
    }

    /// `host` now sees `peer` up (`up`) or down.
    fn see(&mut self, host: HostId, peer: HostId, up: bool) {
        let view = self.knows.entry(host).or_default();
        let changed = if up {
            view.insert(peer)
        } else {
            view.remove(&peer)
        };
        if changed && self.live.contains(&host) && self.live.contains(&peer) {
            if up {
                self.missing = self.missing.saturating_sub(1);
            } else {
                self.missing += 1;
            }
        }
    }

    /// How many peers `host` has up (0 while it is down).
    fn view_size(&self, host: HostId) -> usize {
        match self.live.contains(&host) {
            true => self.knows.get(&host).map_or(0, BTreeSet::len),
            false => 0,
        }
    }
}

/// The members' boots, crashes and peer observations in time order (at
/// equal times a boot or crash first: it happens before what the node
/// does next).
fn steps<'a>(members: &BTreeSet<HostId>, log: &'a RunLog) -> Vec<(SimTime, HostId, Step<'a>)> {
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
    steps.into_iter().map(|(t, _, _, h, s)| (t, h, s)).collect()
}

impl PeersReport {
    /// Replays the run's lifecycle and peer observations; `None` when the
    /// peer registry has fewer than two members. `recovery_from` is when
    /// the last fault was over (`None`: a fault never ends).
    pub fn new(members: &[HostId], log: &RunLog, recovery_from: Option<SimTime>) -> Option<Self> {
        let members: BTreeSet<HostId> = members.iter().copied().collect();
        if members.len() < 2 {
            return None;
        }
        let mut report = PeersReport {
            members: members.iter().copied().collect(),
            converged_at: None,
            reconverged_at: None,
            recovery_from,
            stats: members
                .iter()
                .map(|m| (*m, MemberStats::default()))
                .collect(),
            up_at_end: BTreeMap::new(),
            live: members.iter().map(|m| (*m, Vec::new())).collect(),
            downs: Vec::new(),
        };
        let mut replay = Replay {
            members,
            ..Replay::default()
        };
        let mut was_converged = false;
        for (time, host, step) in steps(&replay.members, log) {
            if let Some(from) = recovery_from
                && time > from
                && was_converged
            {
                // Converged at the end of the last fault, before this step.
                report.reconverged_at.get_or_insert(from);
            }
            report.apply(&mut replay, time, host, &step);
            was_converged = replay.converged();
            if was_converged {
                report.converged_at.get_or_insert(time);
                if recovery_from.is_some_and(|from| time >= from) {
                    report.reconverged_at.get_or_insert(time);
                }
            }
        }
        if let Some(from) = recovery_from
            && was_converged
        {
            report.reconverged_at.get_or_insert(from);
        }
        report.up_at_end = replay.knows.iter().map(|(h, k)| (*h, k.len())).collect();
        Some(report)
    }

    /// One step of the replay: the registry's state, the member's
    /// statistics and its live-peer series.
    fn apply(&mut self, replay: &mut Replay, time: SimTime, host: HostId, step: &Step<'_>) {
        let stat = self.stats.entry(host).or_default();
        match step {
            Step::Life(Lifecycle::Started | Lifecycle::Restarted) => replay.boot(host),
            Step::Life(Lifecycle::Crashed) => replay.crash(host),
            Step::Seen(PeerRegistryEvent::Up { peer }) => {
                stat.joins += 1;
                stat.up_since.insert(*peer, time);
                replay.see(host, *peer, true);
            }
            Step::Seen(PeerRegistryEvent::Down { peer }) => {
                stat.leaves += 1;
                if let Some(since) = stat.up_since.remove(peer) {
                    stat.lifetimes.0 += 1;
                    stat.lifetimes.1 += u128::from((time - since).as_nanos());
                }
                self.downs.push(time);
                replay.see(host, *peer, false);
            }
            Step::Seen(PeerRegistryEvent::Banned { .. }) => stat.bans += 1,
            Step::Seen(_) => {}
        }
        if replay.live.contains(&host) && replay.view_size(host) + 1 >= replay.members.len() {
            stat.full_view_at.get_or_insert(time);
        }
        let size = replay.view_size(host);
        let series = self.live.entry(host).or_default();
        if series.last().is_none_or(|(_, last)| *last != size) {
            series.push((time, size));
        }
    }

    /// Adds the `peers.*` metrics (see the module docs).
    pub fn add_metrics(&self, summary: &mut Summary) {
        summary.set("peers.members", Metric::Count(self.members.len() as u64));
        let converged = self.converged_at.map(SimTime::as_secs_f64);
        summary.set_event("peers.converged", converged);
        let reconverged = match (self.reconverged_at, self.recovery_from) {
            (Some(at), Some(from)) => Some((at - from).as_secs_f64()),
            _ => None,
        };
        summary.set_event("peers.reconverged", reconverged);
        summary.set("peers.flaps", Metric::Count(self.downs.len() as u64));
    }

    /// Each member's count of live peers over time, in host order: the
    /// count changes at each point (0 while the member is down).
    pub fn live_peers(&self) -> &BTreeMap<HostId, Vec<(SimTime, usize)>> {
        &self.live
    }

    /// When members dropped a peer (one entry per peer-down event).
    pub fn flap_times(&self) -> &[SimTime] {
        &self.downs
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
                    // The mean, rounded to whole nanoseconds like every time.
                    (n, total) => {
                        let ns = (total + u128::from(n) / 2) / u128::from(n);
                        seconds(SimTime::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
                    }
                },
                self.up_at_end.get(m).copied().unwrap_or(0).to_string(),
                s.full_view_at.map(seconds).unwrap_or_default(),
            ]
        });
        rows(path, &header, records)
    }
}

/// The peer registry's digest line, from the run's metrics.
pub fn digest(summary: &Summary) -> Option<String> {
    let get = |name: &str| summary.get(name).and_then(Metric::as_f64);
    let members = get("peers.members")?;
    let mut line = format!("peers: {}", reports::plural(members, "member", "members"));
    match get("peers.converged_s") {
        Some(t) => line.push_str(&format!(", converged at {t:.3} s")),
        None => line.push_str(", never converged"),
    }
    if let Some(flaps) = get("peers.flaps") {
        let flaps = reports::plural(flaps, "peer-down event", "peer-down events");
        line.push_str(&format!(", {flaps}"));
    }
    match get("peers.reconverged_s") {
        Some(0.0) => line.push_str(", still converged when the last fault ended"),
        Some(t) => line.push_str(&format!(", converged again {t:.3} s after the last fault")),
        None => line.push_str(", not converged again after the last fault"),
    }
    Some(line)
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

    fn see(log: &mut RunLog, t: u64, host: u32, peer: u32, up: bool) {
        let peer = HostId(peer);
        let event = match up {
            true => PeerRegistryEvent::Up { peer },
            false => PeerRegistryEvent::Down { peer },
        };
        log.observations
            .push((s(t), HostId(host), Observation::Peers(event)));
    }

    fn up(log: &mut RunLog, t: u64, host: u32, peer: u32) {
        see(log, t, host, peer, true);
    }

    fn booted(n: u32) -> RunLog {
        let mut log = RunLog::new(n as usize);
        for h in 0..n {
            log.lifecycle.push((s(0), HostId(h), Lifecycle::Started));
        }
        log
    }

    fn metrics(report: &PeersReport) -> Summary {
        let mut summary = Summary::default();
        report.add_metrics(&mut summary);
        summary
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
        let report = PeersReport::new(&scenario, &log, Some(SimTime::ZERO)).unwrap();
        assert_eq!(report.converged_at, Some(s(5)));
        assert_eq!(report.stats[&HostId(2)].full_view_at, Some(s(3)));
        // Without faults, reconvergence is measured from the start.
        let summary = metrics(&report);
        assert_eq!(summary.get("peers.reconverged_s"), Some(&Metric::Real(5.0)));
        assert_eq!(summary.get("peers.flaps"), Some(&Metric::Count(0)));
    }

    #[test]
    fn a_crashed_member_does_not_block_convergence_of_the_live_ones() {
        let scenario = three_peers();
        let mut log = booted(3);
        log.lifecycle.push((s(1), HostId(2), Lifecycle::Crashed));
        // Only 0 and 1 are live; they find each other at 2 s.
        up(&mut log, 2, 0, 1);
        up(&mut log, 2, 1, 0);
        let report = PeersReport::new(&scenario, &log, Some(s(1))).unwrap();
        assert_eq!(report.converged_at, Some(s(2)));
        let summary = metrics(&report);
        assert_eq!(summary.get("peers.converged_s"), Some(&Metric::Real(2.0)));
        assert_eq!(
            summary.get("peers.converged_reached"),
            Some(&Metric::Flag(true))
        );
    }

    #[test]
    fn never_converged_is_written_as_null_with_reached_false() {
        let scenario = three_peers();
        let mut log = booted(3);
        up(&mut log, 1, 0, 1);
        let report = PeersReport::new(&scenario, &log, Some(SimTime::ZERO)).unwrap();
        let summary = metrics(&report);
        assert_eq!(summary.get("peers.converged_s"), Some(&Metric::Null));
        assert_eq!(
            summary.get("peers.converged_reached"),
            Some(&Metric::Flag(false))
        );
        assert_eq!(summary.get("peers.reconverged_s"), Some(&Metric::Null));
        assert!(summary.to_json().contains("\"peers.converged_s\": null"));
    }

    /// Two peers converge at 1 s; a partition (30..60 s) makes each drop
    /// the other at 40 s (two flaps); they find each other again at 63 s
    /// and 65 s: reconverged 5 s after the heal.
    #[test]
    fn flaps_and_reconvergence_after_the_last_fault() {
        let members = vec![HostId(0), HostId(1)];
        let mut log = booted(2);
        for (t, a, b, is_up) in [
            (1, 0, 1, true),
            (1, 1, 0, true),
            (40, 0, 1, false),
            (40, 1, 0, false),
            (63, 0, 1, true),
            (65, 1, 0, true),
        ] {
            see(&mut log, t, a, b, is_up);
        }
        let report = PeersReport::new(&members, &log, Some(s(60))).unwrap();
        let summary = metrics(&report);
        assert_eq!(summary.get("peers.converged_s"), Some(&Metric::Real(1.0)));
        assert_eq!(summary.get("peers.reconverged_s"), Some(&Metric::Real(5.0)));
        assert_eq!(
            summary.get("peers.reconverged_reached"),
            Some(&Metric::Flag(true))
        );
        assert_eq!(summary.get("peers.flaps"), Some(&Metric::Count(2)));
        assert_eq!(report.flap_times(), &[s(40), s(40)]);
        assert_eq!(
            report.live_peers()[&HostId(0)],
            vec![(s(0), 0), (s(1), 1), (s(40), 0), (s(63), 1)]
        );
        // Still converged when the fault ends: 0. A fault that never ends: null.
        let calm = PeersReport::new(&members, &log, Some(s(70))).unwrap();
        assert_eq!(
            metrics(&calm).get("peers.reconverged_s"),
            Some(&Metric::Real(0.0))
        );
        let never = PeersReport::new(&members, &log, None).unwrap();
        assert_eq!(
            metrics(&never).get("peers.reconverged_reached"),
            Some(&Metric::Flag(false))
        );
    }
}
