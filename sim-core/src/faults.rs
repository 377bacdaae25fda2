//! Network fault rules: what the faults in force do to a message.
//!
//! A rule looks at a message's `(from, to)` when it is sent and returns a
//! [`Verdict`]: let it pass, drop it, deliver it late (delay, degradation,
//! reordering) or deliver extra copies (duplication). The transport asks
//! every rule in force, in the order the scenario lists their faults:
//! the first drop wins; otherwise extra latencies add up, losses compound
//! and copies accumulate. A rule may also cut a message still in flight
//! when it arrives ([`NetworkRule::cuts`]: partitions do). Crashes, clock
//! skew, misbehaviour and file damage are not rules: the engine applies
//! them to hosts and files itself.
//!
//! Partitions and degraded links are built here ([`PartitionRule`],
//! [`LinkRule`]); a fault kind with its own behaviour implements
//! [`NetworkRule`] in its own module and draws any randomness from a
//! stream of its own.

use std::collections::BTreeMap;
use std::fmt;

use node_logic::HostId;

use crate::trace::DropReason;
use crate::units::{Probability, SimDuration};

/// What one rule says about one message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The rule does not apply.
    Pass,
    /// Lost, for this reason.
    Drop(DropReason),
    /// Delivered with this much extra latency and this extra loss
    /// (compounded with the path's).
    Deliver {
        /// Added to the path latency.
        extra_latency: SimDuration,
        /// Compounded with the path loss.
        extra_loss: Probability,
    },
    /// Delivered, plus `copies` duplicates arriving `spacing` apart after
    /// the original.
    Duplicate {
        /// Extra copies (at least 1).
        copies: u32,
        /// Between one copy's arrival and the next.
        spacing: SimDuration,
    },
}

/// A fault's effect on messages, while the fault is in force.
pub trait NetworkRule: fmt::Debug {
    /// The verdict for a message from `from` to `to`, sent now. A rule
    /// with randomness draws it here, from its own stream.
    fn verdict(&mut self, from: HostId, to: HostId) -> Verdict;
    /// Whether the rule drops a message from `from` still in flight when
    /// it arrives at `to` (a partition that started meanwhile).
    fn cuts(&self, _from: HostId, _to: HostId) -> bool {
        false
    }
}

/// What all the rules in force say about one message, combined.
#[derive(Clone, Debug, PartialEq)]
pub struct Fate {
    /// Added to the path latency.
    pub extra_latency: SimDuration,
    /// Compounded with the path loss.
    pub extra_loss: Probability,
    /// Arrival offsets of duplicates after the original (empty: none).
    pub duplicates: Vec<SimDuration>,
}

impl Fate {
    /// No rule applies.
    pub const CLEAR: Fate = Fate {
        extra_latency: SimDuration::ZERO,
        extra_loss: Probability::ZERO,
        duplicates: Vec::new(),
    };
}

/// A set of hosts as a bitmap over host ids (fast membership in the hot path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSet {
    bits: Vec<u64>,
}

impl HostSet {
    /// The set of `hosts`.
    pub fn new(hosts: &[HostId]) -> Self {
        let words = hosts.iter().map(|h| h.index() / 64 + 1).max().unwrap_or(0);
        let mut bits = vec![0u64; words];
        for h in hosts {
            bits[h.index() / 64] |= 1 << (h.index() % 64);
        }
        HostSet { bits }
    }
    /// Whether `host` is in the set.
    pub fn contains(&self, host: HostId) -> bool {
        self.bits
            .get(host.index() / 64)
            .is_some_and(|w| w & (1 << (host.index() % 64)) != 0)
    }
}

/// Hosts on different sides cannot talk (only first side → others when
/// one-way); hosts on no side are unaffected.
#[derive(Clone, Debug)]
pub struct PartitionRule {
    sides: Vec<HostSet>,
    one_way: bool,
}

impl PartitionRule {
    /// A partition between `sides`.
    pub fn new(sides: &[Vec<HostId>], one_way: bool) -> Self {
        PartitionRule {
            sides: sides.iter().map(|s| HostSet::new(s)).collect(),
            one_way,
        }
    }
    fn side_of(&self, host: HostId) -> Option<usize> {
        self.sides.iter().position(|s| s.contains(host))
    }
}

impl NetworkRule for PartitionRule {
    fn verdict(&mut self, from: HostId, to: HostId) -> Verdict {
        if self.cuts(from, to) {
            Verdict::Drop(DropReason::Partition)
        } else {
            Verdict::Pass
        }
    }
    fn cuts(&self, from: HostId, to: HostId) -> bool {
        match (self.side_of(from), self.side_of(to)) {
            (Some(a), Some(b)) if a != b => !self.one_way || a == 0,
            _ => false,
        }
    }
}

/// The paths between a host of `a` and a host of `b`, both ways: where a
/// path fault (link, duplicate, reorder) applies.
#[derive(Clone, Debug)]
pub struct PathEnds {
    a: HostSet,
    b: HostSet,
}

impl PathEnds {
    /// The paths between `a` and `b`.
    pub fn new(a: &[HostId], b: &[HostId]) -> Self {
        PathEnds {
            a: HostSet::new(a),
            b: HostSet::new(b),
        }
    }
    /// Whether a message from `from` to `to` runs between the two ends.
    pub fn carries(&self, from: HostId, to: HostId) -> bool {
        (self.a.contains(from) && self.b.contains(to))
            || (self.b.contains(from) && self.a.contains(to))
    }
}

/// Every path between a host of `a` and a host of `b` (both ways) gets
/// extra latency and loss.
#[derive(Clone, Debug)]
pub struct LinkRule {
    ends: PathEnds,
    latency: SimDuration,
    loss: Probability,
}

impl LinkRule {
    /// Paths between `a` and `b` degraded by `latency` and `loss`.
    pub fn new(a: &[HostId], b: &[HostId], latency: SimDuration, loss: Probability) -> Self {
        LinkRule {
            ends: PathEnds::new(a, b),
            latency,
            loss,
        }
    }
}

impl NetworkRule for LinkRule {
    fn verdict(&mut self, from: HostId, to: HostId) -> Verdict {
        if self.ends.carries(from, to) {
            Verdict::Deliver {
                extra_latency: self.latency,
                extra_loss: self.loss,
            }
        } else {
            Verdict::Pass
        }
    }
}

/// The network rules in force, keyed by the index of the scenario fault
/// that put them there (so healing removes exactly that one).
#[derive(Debug, Default)]
pub struct FaultRules {
    rules: BTreeMap<usize, Box<dyn NetworkRule>>,
}

impl FaultRules {
    /// Puts `rule` in force for fault `fault`.
    pub fn insert(&mut self, fault: usize, rule: Box<dyn NetworkRule>) {
        self.rules.insert(fault, rule);
    }
    /// Removes whatever fault `fault` put in force.
    pub fn heal(&mut self, fault: usize) {
        self.rules.remove(&fault);
    }
    /// Whether no rule is in force (the common, fast case).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
    /// Whether a rule cuts a message from `from` arriving at `to` now.
    pub fn cuts(&self, from: HostId, to: HostId) -> bool {
        self.rules.values().any(|r| r.cuts(from, to))
    }
    /// What the rules in force do to a message from `from` to `to`: its
    /// combined fate, or why it is lost.
    pub fn fate(&mut self, from: HostId, to: HostId) -> Result<Fate, DropReason> {
        let mut fate = Fate::CLEAR;
        for rule in self.rules.values_mut() {
            match rule.verdict(from, to) {
                Verdict::Pass => {}
                Verdict::Drop(reason) => return Err(reason),
                Verdict::Deliver {
                    extra_latency,
                    extra_loss,
                } => {
                    fate.extra_latency = fate.extra_latency + extra_latency;
                    fate.extra_loss = fate.extra_loss.compound(extra_loss);
                }
                Verdict::Duplicate { copies, spacing } => {
                    let after = fate.duplicates.last().copied().unwrap_or(SimDuration::ZERO);
                    fate.duplicates
                        .extend((1..=u64::from(copies)).map(|k| after + spacing.saturating_mul(k)));
                }
            }
        }
        Ok(fate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ids: &[u32]) -> Vec<HostId> {
        ids.iter().map(|&i| HostId(i)).collect()
    }

    fn fate(rules: &mut FaultRules, from: u32, to: u32) -> Result<Fate, DropReason> {
        rules.fate(HostId(from), HostId(to))
    }

    const CUT: Result<Fate, DropReason> = Err(DropReason::Partition);

    #[test]
    fn partition_cuts_across_sides_only_and_heals() {
        let mut rules = FaultRules::default();
        let sides = [h(&[0, 1]), h(&[2, 3]), h(&[100])];
        rules.insert(0, Box::new(PartitionRule::new(&sides, false)));
        assert_eq!(fate(&mut rules, 0, 2), CUT);
        assert_eq!(fate(&mut rules, 3, 1), CUT);
        assert_eq!(fate(&mut rules, 100, 1), CUT, "three sides");
        assert!(rules.cuts(HostId(0), HostId(2)));
        assert_eq!(fate(&mut rules, 0, 1), Ok(Fate::CLEAR), "same side");
        assert_eq!(fate(&mut rules, 0, 7), Ok(Fate::CLEAR), "host on no side");
        rules.heal(0);
        assert!(rules.is_empty());
        assert_eq!(fate(&mut rules, 0, 2), Ok(Fate::CLEAR));
    }

    #[test]
    fn one_way_partition_cuts_only_from_the_first_side() {
        let mut rules = FaultRules::default();
        rules.insert(3, Box::new(PartitionRule::new(&[h(&[0]), h(&[1])], true)));
        assert_eq!(fate(&mut rules, 0, 1), CUT);
        assert_eq!(fate(&mut rules, 1, 0), Ok(Fate::CLEAR));
    }

    #[test]
    fn degradations_apply_both_ways_and_add_up() {
        let mut rules = FaultRules::default();
        let p = |v| Probability::new(v).unwrap();
        let ms = SimDuration::from_millis;
        rules.insert(
            0,
            Box::new(LinkRule::new(&h(&[1]), &h(&[2]), ms(500), p(0.1))),
        );
        rules.insert(
            1,
            Box::new(LinkRule::new(&h(&[2]), &h(&[1, 3]), ms(100), p(0.2))),
        );
        let both = fate(&mut rules, 2, 1).unwrap();
        assert_eq!(both.extra_latency, ms(600));
        assert!((both.extra_loss.value() - 0.28).abs() < 1e-12);
        assert_eq!(fate(&mut rules, 1, 3), Ok(Fate::CLEAR));
        rules.heal(0);
        rules.heal(1);
        assert_eq!(fate(&mut rules, 2, 1), Ok(Fate::CLEAR));
    }

    /// A rule that duplicates everything, to check how copies combine.
    #[derive(Debug)]
    struct Twice(u32, SimDuration);

    impl NetworkRule for Twice {
        fn verdict(&mut self, _: HostId, _: HostId) -> Verdict {
            Verdict::Duplicate {
                copies: self.0,
                spacing: self.1,
            }
        }
    }

    #[test]
    fn duplicates_accumulate_and_a_drop_still_wins() {
        let mut rules = FaultRules::default();
        let ms = SimDuration::from_millis;
        rules.insert(0, Box::new(Twice(2, ms(1))));
        rules.insert(1, Box::new(Twice(1, ms(5))));
        assert_eq!(
            fate(&mut rules, 0, 1).unwrap().duplicates,
            vec![ms(1), ms(2), ms(7)]
        );
        rules.insert(2, Box::new(PartitionRule::new(&[h(&[0]), h(&[1])], false)));
        assert_eq!(fate(&mut rules, 0, 1), CUT);
    }
}
