//! Network fault rules in force: partitions and degraded links.
//!
//! Each rule looks at a message's `(from, to)` and returns a verdict; the
//! transport asks all rules in force and the first `Drop` wins, otherwise the
//! degradations add up (extra latency sums, loss compounds). Crashes are not
//! rules: the engine stops and restarts hosts itself.

use std::collections::BTreeMap;

use node_logic::HostId;

use crate::units::{Probability, SimDuration};

/// What the rules say about one message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Cut off by a partition.
    Drop,
    /// Let through with this much extra latency and extra loss (both zero
    /// when no rule applies).
    Pass {
        /// Added to the path's latency.
        extra_latency: SimDuration,
        /// Compounded with the path's loss.
        extra_loss: Probability,
    },
}

/// A set of hosts as a bitmap over host ids (fast membership in the hot path).
#[derive(Clone, Debug, PartialEq, Eq)]
struct HostSet {
    bits: Vec<u64>,
}

impl HostSet {
    fn new(hosts: &[HostId]) -> Self {
        let words = hosts.iter().map(|h| h.index() / 64 + 1).max().unwrap_or(0);
        let mut bits = vec![0u64; words];
        for h in hosts {
            bits[h.index() / 64] |= 1 << (h.index() % 64);
        }
        HostSet { bits }
    }
    fn contains(&self, host: HostId) -> bool {
        self.bits
            .get(host.index() / 64)
            .is_some_and(|w| w & (1 << (host.index() % 64)) != 0)
    }
}

#[derive(Clone, Debug)]
struct Partition {
    sides: Vec<HostSet>,
    one_way: bool,
}

impl Partition {
    fn side_of(&self, host: HostId) -> Option<usize> {
        self.sides.iter().position(|s| s.contains(host))
    }
    fn blocks(&self, from: HostId, to: HostId) -> bool {
        match (self.side_of(from), self.side_of(to)) {
            (Some(a), Some(b)) if a != b => !self.one_way || a == 0,
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
struct Degradation {
    a: HostSet,
    b: HostSet,
    latency: SimDuration,
    loss: Probability,
}

impl Degradation {
    fn applies(&self, from: HostId, to: HostId) -> bool {
        (self.a.contains(from) && self.b.contains(to))
            || (self.b.contains(from) && self.a.contains(to))
    }
}

/// The network faults in force, keyed by the index of the scenario fault
/// that put them there (so healing removes exactly that one).
#[derive(Clone, Debug, Default)]
pub struct FaultRules {
    partitions: BTreeMap<usize, Partition>,
    degradations: BTreeMap<usize, Degradation>,
}

impl FaultRules {
    /// Cuts traffic between `sides` (only from the first side to the others
    /// when `one_way`). Hosts on no side are unaffected.
    pub fn partition(&mut self, fault: usize, sides: &[Vec<HostId>], one_way: bool) {
        let sides = sides.iter().map(|s| HostSet::new(s)).collect();
        self.partitions.insert(fault, Partition { sides, one_way });
    }
    /// Degrades every path between a host of `a` and a host of `b`, both ways.
    pub fn degrade(
        &mut self,
        fault: usize,
        a: &[HostId],
        b: &[HostId],
        latency: SimDuration,
        loss: Probability,
    ) {
        self.degradations.insert(
            fault,
            Degradation {
                a: HostSet::new(a),
                b: HostSet::new(b),
                latency,
                loss,
            },
        );
    }
    /// Removes whatever fault `fault` put in force.
    pub fn heal(&mut self, fault: usize) {
        self.partitions.remove(&fault);
        self.degradations.remove(&fault);
    }
    /// Whether no rule is in force (the common, fast case).
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty() && self.degradations.is_empty()
    }
    /// Whether a partition cuts `from` off from `to` right now.
    pub fn partitioned(&self, from: HostId, to: HostId) -> bool {
        self.partitions.values().any(|p| p.blocks(from, to))
    }
    /// The verdict for a message from `from` to `to`.
    pub fn verdict(&self, from: HostId, to: HostId) -> Verdict {
        if self.partitioned(from, to) {
            return Verdict::Drop;
        }
        let mut extra_latency = SimDuration::ZERO;
        let mut extra_loss = Probability::ZERO;
        for d in self.degradations.values().filter(|d| d.applies(from, to)) {
            extra_latency = extra_latency + d.latency;
            extra_loss = extra_loss.compound(d.loss);
        }
        Verdict::Pass {
            extra_latency,
            extra_loss,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ids: &[u32]) -> Vec<HostId> {
        ids.iter().map(|&i| HostId(i)).collect()
    }

    const CLEAR: Verdict = Verdict::Pass {
        extra_latency: SimDuration::ZERO,
        extra_loss: Probability::ZERO,
    };

    #[test]
    fn partition_cuts_across_sides_only_and_heals() {
        let mut rules = FaultRules::default();
        rules.partition(0, &[h(&[0, 1]), h(&[2, 3]), h(&[100])], false);
        assert_eq!(rules.verdict(HostId(0), HostId(2)), Verdict::Drop);
        assert_eq!(rules.verdict(HostId(3), HostId(1)), Verdict::Drop);
        assert_eq!(
            rules.verdict(HostId(100), HostId(1)),
            Verdict::Drop,
            "three sides"
        );
        assert_eq!(rules.verdict(HostId(0), HostId(1)), CLEAR, "same side");
        assert_eq!(
            rules.verdict(HostId(0), HostId(7)),
            CLEAR,
            "host on no side"
        );
        rules.heal(0);
        assert!(rules.is_empty());
        assert_eq!(rules.verdict(HostId(0), HostId(2)), CLEAR);
    }

    #[test]
    fn one_way_partition_cuts_only_from_the_first_side() {
        let mut rules = FaultRules::default();
        rules.partition(3, &[h(&[0]), h(&[1])], true);
        assert_eq!(rules.verdict(HostId(0), HostId(1)), Verdict::Drop);
        assert_eq!(rules.verdict(HostId(1), HostId(0)), CLEAR);
    }

    #[test]
    fn degradations_apply_both_ways_and_add_up() {
        let mut rules = FaultRules::default();
        let p = |v| Probability::new(v).unwrap();
        rules.degrade(0, &h(&[1]), &h(&[2]), SimDuration::from_millis(500), p(0.1));
        rules.degrade(
            1,
            &h(&[2]),
            &h(&[1, 3]),
            SimDuration::from_millis(100),
            p(0.2),
        );
        match rules.verdict(HostId(2), HostId(1)) {
            Verdict::Pass {
                extra_latency,
                extra_loss,
            } => {
                assert_eq!(extra_latency, SimDuration::from_millis(600));
                assert!((extra_loss.value() - 0.28).abs() < 1e-12);
            }
            Verdict::Drop => panic!("not partitioned"),
        }
        assert_eq!(rules.verdict(HostId(1), HostId(3)), CLEAR);
        rules.heal(0);
        rules.heal(1);
        assert_eq!(rules.verdict(HostId(2), HostId(1)), CLEAR);
    }
}
