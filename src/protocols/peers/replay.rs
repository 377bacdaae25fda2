//! The replay behind the peer registry's report: the run's lifecycle and
//! peer observations in time order, giving each member's view over time,
//! its statistics, and the moment the registry converged (see the parent
//! module for what converged means with and without bounded views).

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
    /// whether the overlay changed (other than by a loss) since it was last
    /// found disconnected.
    Bounded {
        want: usize,
        short: u64,
        changed: bool,
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
    convergence: Convergence,
    pub(super) converged_at: Option<SimTime>,
}

enum Step<'a> {
    Life(Lifecycle),
    Seen(&'a PeerRegistryEvent),
}

impl Replay {
    /// Replays `log` for `members`; `target` is the outbound target of
    /// bounded views (`None`: full mesh).
    pub(super) fn run(members: BTreeSet<HostId>, log: &RunLog, target: Option<usize>) -> Self {
        // Merge the two time-ordered streams; at equal times a boot or
        // crash comes first (it happens before what the node does next).
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
        let convergence = match target {
            None => Convergence::Mesh { missing: 0 },
            Some(t) => Convergence::Bounded {
                want: t.min(members.len() - 1),
                short: 0,
                changed: false,
            },
        };
        let mut replay = Replay {
            stats: members
                .iter()
                .map(|m| (*m, MemberStats::default()))
                .collect(),
            members,
            live: BTreeSet::new(),
            booted: BTreeSet::new(),
            knows: BTreeMap::new(),
            convergence,
            converged_at: None,
        };
        for (time, _, _, host, step) in steps {
            replay.step(time, host, step);
        }
        replay
    }

    fn step(&mut self, time: SimTime, host: HostId, step: Step<'_>) {
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
        if let Some(view) = self.knows.get(&host)
            && self.live.contains(&host)
            && view.len() + 1 >= self.members.len()
        {
            let stat = self.stats.entry(host).or_default();
            stat.full_view_at.get_or_insert(time);
        }
        if self.converged_at.is_none()
            && self.booted.len() == self.members.len()
            && self.live.len() >= 2
            && self.converged_now()
        {
            self.converged_at = Some(time);
        }
    }

    fn converged_now(&mut self) -> bool {
        match &mut self.convergence {
            Convergence::Mesh { missing } => *missing == 0,
            Convergence::Bounded { short, changed, .. } => {
                if *short > 0 || !*changed {
                    return false;
                }
                *changed = false;
                overlay::connected(&self.live, &self.knows)
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
                changed,
            } => {
                *short += u64::from(*want > 0);
                *changed = true;
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
                changed,
            } => {
                let own = self.knows.get(&host).map_or(0, BTreeSet::len);
                if own < *want {
                    *short = short.saturating_sub(1);
                }
                *changed = true;
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
                changed,
            } => {
                if host_live && len == *want {
                    *short = short.saturating_sub(1);
                }
                *changed = true;
            }
        }
    }

    fn down(&mut self, time: SimTime, host: HostId, peer: HostId) {
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
            Convergence::Bounded { want, short, .. } => {
                if host_live && len + 1 == *want {
                    *short += 1;
                }
            }
        }
    }
}
