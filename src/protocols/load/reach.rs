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

/// Each gossiped transaction's submission and the validators it reached.
#[derive(Debug, Default)]
pub struct Reach {
    validators: usize,
    txs: BTreeMap<RumorId, (SimTime, BTreeMap<HostId, SimTime>)>,
}

impl Reach {
    /// Reads the gossip observations of `clients`' transactions and of the
    /// `validators` learning them.
    pub fn new(clients: &[HostId], validators: &[HostId], run: &Finished<'_>) -> Self {
        let configured = |client: HostId| -> u32 {
            let gossip = run.scenario.protocols.gossip.as_ref();
            gossip.map_or(0, |g| {
                if g.origins.contains(&client) {
                    g.count
                } else {
                    0
                }
            })
        };
        let is_tx = |r: &RumorId| clients.contains(&r.origin) && r.seq >= configured(r.origin);
        let validator_set: BTreeSet<HostId> = validators.iter().copied().collect();
        let mut txs: BTreeMap<RumorId, (SimTime, BTreeMap<HostId, SimTime>)> = BTreeMap::new();
        for (time, host, observation) in &run.log.observations {
            let Observation::Gossip(event) = observation else {
                continue;
            };
            match event {
                GossipEvent::Originated { rumor, .. } if is_tx(rumor) => {
                    txs.entry(*rumor).or_insert((*time, BTreeMap::new()));
                }
                GossipEvent::Learned { rumor, .. } if validator_set.contains(host) => {
                    if let Some((_, reached)) = txs.get_mut(rumor) {
                        reached.entry(*host).or_insert(*time);
                    }
                }
                GossipEvent::Originated { .. } | GossipEvent::Learned { .. } => {}
            }
        }
        Reach {
            validators: validator_set.len(),
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
        for (share, name) in REACH {
            summary.set(name, self.mean(share).map_or(Metric::Null, Metric::Real));
        }
    }
}
