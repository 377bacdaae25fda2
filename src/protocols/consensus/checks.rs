//! The consensus invariants, checked as blocks are finalized:
//!
//! - **agreement**: no two honest validators finalize different blocks at
//!   one height;
//! - **validity**: a finalized block is one some validator proposed;
//! - **monotonic heights**: an honest validator finalizes heights one after
//!   the other (a restarted validator starts again from its first block);
//! - **liveness**: once the last fault has healed, an honest validator
//!   finalizes a new block within a bound — checked only when enough honest
//!   validators are up to form a quorum.
//!
//! "Honest" excludes every host a `byzantine` fault ever touched: what a
//! misbehaving validator claims to have finalized proves nothing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use node_logic::protocols::consensus::{ConsensusEvent, Hash32};
use node_logic::{HostId, Observation};
use sim_core::checkers::{Checker, Violation, ViolationKind};
use sim_core::record::Lifecycle;
use sim_core::units::{SimDuration, SimTime};

/// How many recent consensus events a violation report quotes.
const RECENT: usize = 12;

/// When liveness is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivenessRule {
    /// When the last fault healed (or the run's start, without faults).
    pub healed_at: SimTime,
    /// How long after that a new block must be finalized.
    pub bound: SimDuration,
    /// Honest validators that must be up for the check to apply (a quorum).
    pub quorum: usize,
}

/// The consensus checkers of one run.
#[derive(Debug)]
pub struct ConsensusChecks {
    validators: BTreeSet<HostId>,
    dishonest: BTreeSet<HostId>,
    names: Vec<String>,
    proposed: BTreeSet<Hash32>,
    finalized: BTreeMap<u64, (Hash32, HostId, SimTime)>,
    last_height: BTreeMap<HostId, u64>,
    up: BTreeSet<HostId>,
    best: u64,
    liveness: Option<LivenessRule>,
    height_at_heal: Option<u64>,
    recent: VecDeque<String>,
}

impl ConsensusChecks {
    /// Checks for `validators`; `dishonest` hosts (Byzantine) are not held
    /// to agreement; `names` are host names by id, for messages.
    pub fn new(
        validators: impl IntoIterator<Item = HostId>,
        dishonest: impl IntoIterator<Item = HostId>,
        names: Vec<String>,
        liveness: Option<LivenessRule>,
    ) -> Self {
        ConsensusChecks {
            validators: validators.into_iter().collect(),
            dishonest: dishonest.into_iter().collect(),
            names,
            proposed: BTreeSet::new(),
            finalized: BTreeMap::new(),
            last_height: BTreeMap::new(),
            up: BTreeSet::new(),
            best: 0,
            liveness,
            height_at_heal: None,
            recent: VecDeque::new(),
        }
    }

    fn name(&self, host: HostId) -> &str {
        self.names.get(host.index()).map_or("?", String::as_str)
    }

    fn honest(&self, host: HostId) -> bool {
        self.validators.contains(&host) && !self.dishonest.contains(&host)
    }

    fn remember(&mut self, line: String) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    fn violation(
        &self,
        kind: ViolationKind,
        checker: &'static str,
        time: SimTime,
        message: String,
    ) -> Violation {
        Violation {
            kind,
            checker,
            time,
            message,
            events: self.recent.iter().cloned().collect(),
        }
    }
}

impl Checker for ConsensusChecks {
    fn observe(
        &mut self,
        time: SimTime,
        host: HostId,
        observation: &Observation,
    ) -> Result<(), Violation> {
        let Observation::Consensus(event) = observation else {
            return Ok(());
        };
        match event {
            ConsensusEvent::Proposed { height, view, hash } => {
                self.proposed.insert(*hash);
                let line = format!(
                    "{time}: {} proposed {hash:?} at height {height}, view {view}",
                    self.name(host)
                );
                self.remember(line);
            }
            ConsensusEvent::Finalized {
                height, hash, view, ..
            } => {
                let line = format!(
                    "{time}: {} finalized {hash:?} at height {height}, view {view}",
                    self.name(host)
                );
                self.remember(line);
                if !self.honest(host) {
                    return Ok(());
                }
                if !self.proposed.contains(hash) {
                    let message = format!(
                        "{} finalized block {hash:?} at height {height}, which no validator proposed",
                        self.name(host)
                    );
                    return Err(self.violation(ViolationKind::Safety, "validity", time, message));
                }
                if let Some((other, by, at)) = self.finalized.get(height)
                    && other != hash
                {
                    let message = format!(
                        "{} finalized {hash:?} at height {height}, but {} finalized {other:?} there at {at}",
                        self.name(host),
                        self.name(*by)
                    );
                    return Err(self.violation(ViolationKind::Safety, "agreement", time, message));
                }
                self.finalized.entry(*height).or_insert((*hash, host, time));
                let last = self.last_height.get(&host).copied().unwrap_or(0);
                if *height != last + 1 {
                    let message = format!(
                        "{} finalized height {height} right after height {last}",
                        self.name(host)
                    );
                    return Err(self.violation(
                        ViolationKind::Safety,
                        "monotonic-height",
                        time,
                        message,
                    ));
                }
                self.last_height.insert(host, *height);
                self.best = self.best.max(*height);
            }
            ConsensusEvent::ViewChange { .. }
            | ConsensusEvent::Equivocation { .. }
            | ConsensusEvent::CaughtUp { .. }
            | ConsensusEvent::BlockTxs { .. }
            | ConsensusEvent::BodyReceived { .. }
            | ConsensusEvent::Mempool { .. } => {}
        }
        Ok(())
    }

    fn lifecycle(&mut self, _time: SimTime, host: HostId, what: Lifecycle) {
        match what {
            Lifecycle::Started | Lifecycle::Restarted => {
                self.up.insert(host);
                // A restarted validator lost its chain: it starts again at 1.
                self.last_height.remove(&host);
            }
            Lifecycle::Crashed => {
                self.up.remove(&host);
            }
        }
    }

    fn deadline(&mut self, time: SimTime) -> Result<(), Violation> {
        let Some(rule) = self.liveness else {
            return Ok(());
        };
        if time == rule.healed_at {
            self.height_at_heal = Some(self.best);
            return Ok(());
        }
        if time != rule.healed_at + rule.bound {
            return Ok(());
        }
        let before = self.height_at_heal.unwrap_or(0);
        let honest_up = self.up.iter().filter(|h| self.honest(**h)).count();
        if self.best > before || honest_up < rule.quorum {
            return Ok(());
        }
        let message = format!(
            "no block finalized within {} after the last fault healed at {} (finalized height stayed at {before}; {honest_up} honest validators up)",
            rule.bound, rule.healed_at
        );
        Err(self.violation(ViolationKind::Liveness, "liveness", time, message))
    }
}
