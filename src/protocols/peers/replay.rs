//! The replay behind the peer registry's report: the run's lifecycle and
//! peer observations in time order, giving each member's view over time,
//! its statistics, and the moments the registry converged and converged
//! again after the last fault (see the `report` module for what converged
//! means with and without bounded views).

use std::collections::{BTreeMap, BTreeSet};

use node_logic::protocols::peers::PeerRegistryEvent;
use node_logic::{HostId, Observation};
use sim_core::record::{Lifecycle, RunLog};
use sim_core::units::SimTime;

use super::overlay;

/// What one member saw.
#[derive(Clone, Debug, Default)]
pub(super) struct MemberStats {
    pub(super) joins: u64,
    pub(super) leaves: u64,
    pub(super) bans: u64,
    pub(super) full_view_at: Option<SimTime>,
    /// Completed up periods of its peers: (count, total nanoseconds).
    pub(super) lifetimes: (u64, u128),
    pub(super) up_since: BTreeMap<HostId, SimTime>,
}

/// How convergence is tracked.
#[derive(Debug)]
enum Convergence {
    /// Full mesh: the (observer, peer) pairs among live members missing.
    Mesh { missing: u64 },
    /// Bounded views: live members with fewer than `want` peers up, and
    /// whether the overlay of live members is connected, when known since
    /// its last change (a connectivity check costs the whole overlay, so it
    /// is made only when every member has its peers and nothing is known).
    Bounded {
        want: usize,
        short: u64,
        connected: Option<bool>,
    },
}

/// The replayed run.
#[derive(Debug)]
pub(super) struct Replay {
    members: BTreeSet<HostId>,
    pub(super) live: BTreeSet<HostId>,
    booted: BTreeSet<HostId>,
    /// Each member's peers up, as it sees them.
    pub(super) knows: BTreeMap<HostId, BTreeSet<HostId>>,
    pub(super) stats: BTreeMap<HostId, MemberStats>,
    /// Each member's count of live peers over time (0 while it is down).
    pub(super) series: BTreeMap<HostId, Vec<(SimTime, usize)>>,
    /// When a member dropped a peer (the flaps).
    pub(super) downs: Vec<SimTime>,
    convergence: Convergence,
    pub(super) converged_at: Option<SimTime>,
    /// The first time at or after `recovery_from` the registry is converged.
    pub(super) reconverged_at: Option<SimTime>,
}

/// One step of the replay: a boot or crash, or a peer observation.
enum Step<'a> {
    Life(Lifecycle),
    Seen(&'a PeerRegistryEvent),
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

impl Replay {
    /// Replays `log` for `members`; `target` is the outbound target of
    /// bounded views (`None`: full mesh); `recovery_from` is when the last
    /// fault was over (`None`: a fault never ends).
    pub(super) fn run(
        members: BTreeSet<HostId>,
        log: &RunLog,
        target: Option<usize>,
        recovery_from: Option<SimTime>,
    ) -> Self {
        let convergence = match target {
            None => Convergence::Mesh { missing: 0 },
            Some(t) => Convergence::Bounded {
                want: t.min(members.len() - 1),
                short: 0,
                connected: None,
            },
        };
        let mut replay = Replay {
            stats: members
                .iter()
                .map(|m| (*m, MemberStats::default()))
                .collect(),
            series: members.iter().map(|m| (*m, Vec::new())).collect(),
            members,
            live: BTreeSet::new(),
            booted: BTreeSet::new(),
            knows: BTreeMap::new(),
            downs: Vec::new(),
            convergence,
            converged_at: None,
            reconverged_at: None,
        };
        let mut past_recovery = false;
        for (time, host, step) in steps(&replay.members, log) {
            if let Some(from) = recovery_from
                && time > from
                && !past_recovery
            {
                past_recovery = true;
                // Converged at the end of the last fault, before this step.
                if replay.reconverged_at.is_none() && replay.converged() {
                    replay.reconverged_at = Some(from);
                }
            }
            replay.step(time, host, &step);
            let at_or_after = recovery_from.is_some_and(|from| time >= from);
            let wanted =
                replay.converged_at.is_none() || (at_or_after && replay.reconverged_at.is_none());
            if wanted && replay.converged() {
                replay.converged_at.get_or_insert(time);
                if at_or_after {
                    replay.reconverged_at.get_or_insert(time);
                }
            }
        }
        if recovery_from.is_some() && replay.reconverged_at.is_none() && replay.converged() {
            replay.reconverged_at = recovery_from;
        }
        replay
    }

    fn step(&mut self, time: SimTime, host: HostId, step: &Step<'_>) {
        match step {
            Step::Life(Lifecycle::Started | Lifecycle::Restarted) => self.boot(host),
            Step::Life(Lifecycle::Crashed) => self.crash(host),
            Step::Seen(PeerRegistryEvent::Up { peer }) => self.up(time, host, *peer),
            Step::Seen(PeerRegistryEvent::Down { peer }) => self.down(time, host, *peer),
            Step::Seen(PeerRegistryEvent::Banned { .. }) => {
                self.stats.entry(host).or_default().bans += 1;
            }
            Step::Seen(_) => {}
        }
        let size = self.view_size(host);
        if self.live.contains(&host) && size + 1 >= self.members.len() {
            let stat = self.stats.entry(host).or_default();
            stat.full_view_at.get_or_insert(time);
        }
        let series = self.series.entry(host).or_default();
        if series.last().is_none_or(|(_, last)| *last != size) {
            series.push((time, size));
        }
    }

    /// How many peers `host` has up (0 while it is down).
    fn view_size(&self, host: HostId) -> usize {
        match self.live.contains(&host) {
            true => self.knows.get(&host).map_or(0, BTreeSet::len),
            false => 0,
        }
    }

    /// Whether the registry is converged now (every member has booted, two
    /// or more are live, and the views are complete or, bounded, full and
    /// connected).
    fn converged(&mut self) -> bool {
        if self.booted.len() != self.members.len() || self.live.len() < 2 {
            return false;
        }
        match &mut self.convergence {
            Convergence::Mesh { missing } => *missing == 0,
            Convergence::Bounded {
                short, connected, ..
            } => {
                if *short > 0 {
                    return false;
                }
                *connected.get_or_insert_with(|| overlay::connected(&self.live, &self.knows))
            }
        }
    }

    fn boot(&mut self, host: HostId) {
        self.booted.insert(host);
        if !self.live.insert(host) {
            return;
        }
        self.knows.insert(host, BTreeSet::new());
        match &mut self.convergence {
            Convergence::Mesh { missing } => {
                // Its own view is empty; it is absent from the others'.
                let others = self.live.len() as u64 - 1;
                let unseen = self
                    .live
                    .iter()
                    .filter(|a| **a != host && !self.knows[*a].contains(&host))
                    .count() as u64;
                *missing += others + unseen;
            }
            Convergence::Bounded {
                want,
                short,
                connected,
            } => {
                *short += u64::from(*want > 0);
                *connected = None;
            }
        }
    }

    fn crash(&mut self, host: HostId) {
        if !self.live.remove(&host) {
            return;
        }
        match &mut self.convergence {
            Convergence::Mesh { missing } => {
                let own = self
                    .knows
                    .get(&host)
                    .map_or(0, |k| k.iter().filter(|p| self.live.contains(p)).count())
                    as u64;
                *missing = missing.saturating_sub(self.live.len() as u64 - own);
                let unseen = self
                    .live
                    .iter()
                    .filter(|a| !self.knows[*a].contains(&host))
                    .count() as u64;
                *missing = missing.saturating_sub(unseen);
            }
            Convergence::Bounded {
                want,
                short,
                connected,
            } => {
                let own = self.knows.get(&host).map_or(0, BTreeSet::len);
                if own < *want {
                    *short = short.saturating_sub(1);
                }
                // Removing a vertex can connect or disconnect the rest.
                *connected = None;
            }
        }
        self.knows.insert(host, BTreeSet::new());
    }

    fn up(&mut self, time: SimTime, host: HostId, peer: HostId) {
        let stat = self.stats.entry(host).or_default();
        stat.joins += 1;
        stat.up_since.insert(peer, time);
        let view = self.knows.entry(host).or_default();
        if !view.insert(peer) {
            return;
        }
        let len = view.len();
        let host_live = self.live.contains(&host);
        match &mut self.convergence {
            Convergence::Mesh { missing } => {
                if host_live && self.live.contains(&peer) {
                    *missing = missing.saturating_sub(1);
                }
            }
            Convergence::Bounded {
                want,
                short,
                connected,
            } => {
                if host_live && len == *want {
                    *short = short.saturating_sub(1);
                }
                // An edge keeps a connected overlay connected.
                if *connected == Some(false) {
                    *connected = None;
                }
            }
        }
    }

    fn down(&mut self, time: SimTime, host: HostId, peer: HostId) {
        self.downs.push(time);
        let stat = self.stats.entry(host).or_default();
        stat.leaves += 1;
        if let Some(since) = stat.up_since.remove(&peer) {
            stat.lifetimes.0 += 1;
            stat.lifetimes.1 += u128::from((time - since).as_nanos());
        }
        let view = self.knows.entry(host).or_default();
        if !view.remove(&peer) {
            return;
        }
        let len = view.len();
        let host_live = self.live.contains(&host);
        match &mut self.convergence {
            Convergence::Mesh { missing } => {
                if host_live && self.live.contains(&peer) {
                    *missing += 1;
                }
            }
            Convergence::Bounded {
                want,
                short,
                connected,
            } => {
                if host_live && len + 1 == *want {
                    *short += 1;
                }
                // Losing an edge keeps a disconnected overlay disconnected.
                if *connected == Some(true) {
                    *connected = None;
                }
            }
        }
    }
}
