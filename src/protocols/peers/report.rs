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
//!
//! **Bounded views** (`max_outbound` set): a member keeps a few
//! connections (`node_logic::protocols::peers::registry` module `view`),
//! so nobody knows everyone. There **converged** means every live member
//! has at least `min(max_outbound, members - 1)` peers up and the overlay
//! of live members (an edge when either end has the other up, see
//! [`super::overlay`]) is one component. The end-of-run shape of the
//! overlay gives `peers.degree_min/mean/max`, `peers.components` and
//! `peers.diameter_hops` (null when disconnected). `peers.refused`,
//! `peers.evicted` and `peers.rate_limited` count the registry's refusals,
//! evictions and datagrams dropped over a rate limit. These metrics are
//! written only when bounded views or rate limits are set, so full-mesh
//! runs keep their summaries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use node_logic::protocols::peers::PeerRegistryEvent;
use node_logic::{HostId, Observation};
use reports::summary::{Metric, Summary};
use reports::tables::{host_name, rows};
use reports::{ReportError, seconds};
use sim_core::record::RunLog;
use sim_core::units::SimTime;

use super::overlay::{Overlay, Shape};
use super::replay::{MemberStats, Replay};
use crate::model::Scenario;

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
    reconverged_at: Option<SimTime>,
    recovery_from: Option<SimTime>,
    stats: BTreeMap<HostId, MemberStats>,
    up_at_end: BTreeMap<HostId, usize>,
    /// Each member's count of live peers over time (0 while it is down).
    live: BTreeMap<HostId, Vec<(SimTime, usize)>>,
    /// When a member dropped a peer (the flaps).
    downs: Vec<SimTime>,
    /// The overlay of the members live at the end (bounded views).
    shape: Option<Shape>,
    /// Refusals, evictions and rate-limit drops recorded.
    refused: u64,
    evicted: u64,
    rate_limited: u64,
}

/// Refusals, evictions and rate-limit drops the members recorded.
fn limit_counts(members: &BTreeSet<HostId>, log: &RunLog) -> (u64, u64, u64) {
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
    (refused, evicted, rate_limited)
}

impl PeersReport {
    /// Replays the run's lifecycle and peer observations; `None` when the
    /// peer registry has fewer than two members. `recovery_from` is when
    /// the last fault was over (`None`: a fault never ends).
    pub fn new(
        members: &[HostId],
        log: &RunLog,
        recovery_from: Option<SimTime>,
        mode: Mode,
    ) -> Option<Self> {
        let members: BTreeSet<HostId> = members.iter().copied().collect();
        if members.len() < 2 {
            return None;
        }
        let target = match mode {
            Mode::Bounded { target } => Some(target),
            Mode::Mesh | Mode::MeshLimited => None,
        };
        let (refused, evicted, rate_limited) = limit_counts(&members, log);
        let replay = Replay::run(members.clone(), log, target, recovery_from);
        let shape = target.and_then(|_| Overlay::new(&replay.live, &replay.knows).shape());
        Some(PeersReport {
            members: members.into_iter().collect(),
            mode,
            converged_at: replay.converged_at,
            reconverged_at: replay.reconverged_at,
            recovery_from,
            up_at_end: replay.knows.iter().map(|(h, k)| (*h, k.len())).collect(),
            stats: replay.stats,
            live: replay.series,
            downs: replay.downs,
            shape,
            refused,
            evicted,
            rate_limited,
        })
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
        if self.mode == Mode::Mesh {
            return;
        }
        summary.set("peers.refused", Metric::Count(self.refused));
        summary.set("peers.evicted", Metric::Count(self.evicted));
        summary.set("peers.rate_limited", Metric::Count(self.rate_limited));
        if self.mode == Mode::MeshLimited {
            return;
        }
        let shape = self.shape;
        let count = |f: fn(&Shape) -> Option<u64>| shape.as_ref().and_then(f);
        let set_count = |summary: &mut Summary, name: &str, v: Option<u64>| {
            summary.set(name, v.map_or(Metric::Null, Metric::Count));
        };
        set_count(
            summary,
            "peers.degree_min",
            count(|s| Some(s.degree_min as u64)),
        );
        let mean = shape.map_or(Metric::Null, |s| Metric::Real(s.degree_mean));
        summary.set("peers.degree_mean", mean);
        set_count(
            summary,
            "peers.degree_max",
            count(|s| Some(s.degree_max as u64)),
        );
        set_count(
            summary,
            "peers.components",
            count(|s| Some(s.components as u64)),
        );
        let diameter = count(|s| s.diameter.map(u64::from));
        set_count(summary, "peers.diameter_hops", diameter);
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
    use sim_core::record::Lifecycle;

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
        let report = PeersReport::new(&scenario, &log, Some(SimTime::ZERO), Mode::Mesh).unwrap();
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
        let report = PeersReport::new(&scenario, &log, Some(s(1)), Mode::Mesh).unwrap();
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
        let report = PeersReport::new(&scenario, &log, Some(SimTime::ZERO), Mode::Mesh).unwrap();
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
        let report = PeersReport::new(&members, &log, Some(s(60)), Mode::Mesh).unwrap();
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
        let calm = PeersReport::new(&members, &log, Some(s(70)), Mode::Mesh).unwrap();
        assert_eq!(
            metrics(&calm).get("peers.reconverged_s"),
            Some(&Metric::Real(0.0))
        );
        let never = PeersReport::new(&members, &log, None, Mode::Mesh).unwrap();
        assert_eq!(
            metrics(&never).get("peers.reconverged_reached"),
            Some(&Metric::Flag(false))
        );
    }
}
