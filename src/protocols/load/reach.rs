//! With `[load] over = "gossip"`: how long each transaction took to reach
//! the validators through gossip.
//!
//! A transaction is the carried rumor its client originated (gossip's
//! `originated` observation, at its submission); a validator *has* it when
//! it learns that rumor (gossip's `learned` observation on the validator).
//! `load.gossip_reach50_s` / `_reach90_s` / `_reach100_s`: for each
//! transaction, the time from its submission until half (90 %, all) of the
//! validators had it, averaged over the transactions that got that far
//! (null when none did). A client's own configured rumors (it may also be
//! a `[gossip]` origin) are not transactions and are left out.

use std::collections::{BTreeMap, BTreeSet};

use node_logic::protocols::gossip::{GossipEvent, RumorId};
use node_logic::{HostId, Observation};
use reports::summary::{Metric, Summary};
use sim_core::units::SimTime;

use crate::results::Finished;

/// The metrics, with the share of validators each waits for.
pub const REACH: [(f64, &str); 3] = [
    (0.5, "load.gossip_reach50_s"),
    (0.9, "load.gossip_reach90_s"),
    (1.0, "load.gossip_reach100_s"),
];

/// Each carried rumor's origination and the target hosts it reached. Also
/// used for registry announcements carried by gossip (their reach of the
/// miners: `gossip.announce_reach*_s`).
#[derive(Debug, Default)]
pub struct Reach {
    validators: usize,
    txs: BTreeMap<RumorId, (SimTime, BTreeMap<HostId, SimTime>)>,
}

impl Reach {
    /// Reads the gossip observations of `clients`' transactions and of the
    /// `validators` learning them.
    pub fn new(clients: &[HostId], validators: &[HostId], run: &Finished<'_>) -> Self {
        let configured = |client: HostId| configured_rumors(client, run);
        let is_tx = |r: &RumorId| clients.contains(&r.origin) && r.seq >= configured(r.origin);
        Self::of(is_tx, validators, run)
    }

    /// Reads the gossip observations of the rumors `counts` names and of
    /// the `targets` learning them.
    pub fn of(counts: impl Fn(&RumorId) -> bool, targets: &[HostId], run: &Finished<'_>) -> Self {
        let target_set: BTreeSet<HostId> = targets.iter().copied().collect();
        let mut txs: BTreeMap<RumorId, (SimTime, BTreeMap<HostId, SimTime>)> = BTreeMap::new();
        for (time, host, observation) in &run.log.observations {
            let Observation::Gossip(event) = observation else {
                continue;
            };
            match event {
                GossipEvent::Originated { rumor, .. } if counts(rumor) => {
                    let (_, reached) = txs.entry(*rumor).or_insert((*time, BTreeMap::new()));
                    // An origin among the targets has it from the start.
                    if target_set.contains(host) {
                        reached.entry(*host).or_insert(*time);
                    }
                }
                GossipEvent::Learned { rumor, .. } if target_set.contains(host) => {
                    if let Some((_, reached)) = txs.get_mut(rumor) {
                        reached.entry(*host).or_insert(*time);
                    }
                }
                GossipEvent::Originated { .. } | GossipEvent::Learned { .. } => {}
            }
        }
        Reach {
            validators: target_set.len(),
            txs,
        }
    }

    /// The mean, over the transactions that reached `share` of the
    /// validators, of the time from submission until they had (`None`: no
    /// transaction did, or there are no validators).
    pub fn mean(&self, share: f64) -> Option<f64> {
        if self.validators == 0 {
            return None;
        }
        let need = ((share * self.validators as f64).ceil() as usize).max(1);
        let delays: Vec<f64> = self
            .txs
            .values()
            .filter(|(_, reached)| reached.len() >= need)
            .map(|(at, reached)| {
                let mut times: Vec<SimTime> = reached.values().copied().collect();
                times.sort_unstable();
                (times[need - 1] - *at).as_secs_f64()
            })
            .collect();
        (!delays.is_empty()).then(|| delays.iter().sum::<f64>() / delays.len() as f64)
    }

    /// Sets the three reach metrics.
    pub fn add_metrics(&self, summary: &mut Summary) {
        self.add_metrics_named(summary, REACH);
    }

    /// Sets three reach metrics under `names` (share, name).
    pub fn add_metrics_named(&self, summary: &mut Summary, names: [(f64, &str); 3]) {
        for (share, name) in names {
            summary.set(name, self.mean(share).map_or(Metric::Null, Metric::Real));
        }
    }
}

/// How many rumors `origin` starts by configuration (the `[gossip]`
/// origins' `count`): carried rumors are numbered from there.
pub fn configured_rumors(origin: HostId, run: &Finished<'_>) -> u32 {
    let gossip = run.scenario.protocols.gossip.as_ref();
    gossip.map_or(0, |g| {
        if g.origins.contains(&origin) {
            g.count
        } else {
            0
        }
    })
}
