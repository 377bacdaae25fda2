//! What each fault kind needs to be drawn at random (`sim explore`),
//! written back as an ordinary `[[faults]]` entry, and made simpler
//! (`sim shrink`): the [`DrawSpace`] a kind draws in, the [`Taken`]
//! budget earlier faults of the schedule hold, the [`EntryWriter`] a kind
//! writes its keys with, and small helpers the kinds share (random host
//! sets, times rounded to the millisecond, halving toward zero).
//!
//! Every draw rounds times to whole milliseconds and rates to three
//! decimals, so a written schedule reads well and parses back exactly.

use std::collections::BTreeSet;

use node_logic::HostId;
use rand::RngExt;
use rand::seq::SliceRandom;
use sim_core::rng::StreamRng;
use sim_core::units::{SimDuration, SimTime};

use crate::explore::Bounds;
use crate::model::Scenario;

/// Where and when a drawn fault may act.
pub struct DrawSpace<'a> {
    /// The scenario the schedule is for.
    pub scenario: &'a Scenario,
    /// What `[explore]` allows.
    pub bounds: &'a Bounds,
    /// When the fault starts (drawn by the schedule).
    pub at: SimTime,
    /// When it ends, for kinds that end (after `at`, within the run).
    pub end: SimTime,
    /// What the schedule's earlier faults already hold.
    pub taken: &'a Taken,
}

/// What the faults drawn so far hold, so the next one respects the
/// bounds across the schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Taken {
    /// Each crashed host's window, `[start, restart)`: one host is not
    /// crashed twice at once.
    pub crashes: Vec<(HostId, SimTime, SimTime)>,
    /// Every validator made Byzantine or crashed (faulty for the whole
    /// run: a restarted validator has lost its chain).
    pub faulty: BTreeSet<HostId>,
}

impl Taken {
    /// Whether `host` may crash over `[at, end)`.
    pub fn may_crash(&self, host: HostId, at: SimTime, end: SimTime) -> bool {
        !self
            .crashes
            .iter()
            .any(|(h, start, stop)| *h == host && at < *stop && *start < end)
    }
}

impl DrawSpace<'_> {
    /// The scenario's consensus validators (candidates with
    /// `validators = "registered"`); empty without consensus.
    pub fn validators(&self) -> Vec<HostId> {
        validators(self.scenario)
    }

    /// How many more validators may become faulty.
    pub fn faulty_room(&self) -> usize {
        (self.bounds.faulty_validators as usize).saturating_sub(self.taken.faulty.len())
    }

    /// The hosts of the pool `[explore] hosts` allows that satisfy `keep`.
    pub fn pool(&self, keep: impl Fn(HostId) -> bool) -> Vec<HostId> {
        self.bounds
            .hosts
            .iter()
            .copied()
            .filter(|h| keep(*h))
            .collect()
    }
}

/// The scenario's consensus validators (candidates with `validators =
/// "registered"`); empty without consensus.
pub fn validators(scenario: &Scenario) -> Vec<HostId> {
    scenario
        .protocols
        .consensus
        .as_ref()
        .map(|c| {
            crate::protocols::consensus::byzantine::candidates(&c.validators, &scenario.protocols)
        })
        .unwrap_or_default()
}

/// One to `max` hosts of `pool` (at most as many as it has), drawn at
/// random, in id order; `None` when `pool` is empty.
pub fn pick(rng: &mut StreamRng, pool: &[HostId], max: u32) -> Option<Vec<HostId>> {
    if pool.is_empty() {
        return None;
    }
    let most = (max as usize).clamp(1, pool.len());
    let count = rng.random_range(1..=most);
    let mut hosts = pool.to_vec();
    hosts.shuffle(rng);
    hosts.truncate(count);
    hosts.sort_unstable();
    Some(hosts)
}

/// Two disjoint ends from `pool`: one of at most `max` hosts drawn at
/// random, and every other host; `None` with fewer than two hosts.
pub fn split(rng: &mut StreamRng, pool: &[HostId], max: u32) -> Option<(Vec<HostId>, Vec<HostId>)> {
    if pool.len() < 2 {
        return None;
    }
    let most = u32::try_from(pool.len() - 1).unwrap_or(u32::MAX).min(max);
    let a = pick(rng, pool, most)?;
    let b = pool.iter().copied().filter(|h| !a.contains(h)).collect();
    Some((a, b))
}

/// A duration drawn uniformly from `lo..=hi`, in whole milliseconds.
pub fn duration_in(rng: &mut StreamRng, lo: SimDuration, hi: SimDuration) -> SimDuration {
    let (lo, hi) = (lo.as_nanos() / 1_000_000, hi.as_nanos() / 1_000_000);
    SimDuration::from_millis(rng.random_range(lo..=hi.max(lo)))
}

/// A number drawn uniformly from `lo..=hi`, rounded to three decimals.
pub fn number_in(rng: &mut StreamRng, lo: f64, hi: f64) -> f64 {
    let x = if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    };
    (x * 1000.0).round() / 1000.0
}

/// Each of `hosts` with one host left out (nothing when only one is left).
pub fn fewer(hosts: &[HostId]) -> Vec<Vec<HostId>> {
    if hosts.len() < 2 {
        return Vec::new();
    }
    (0..hosts.len())
        .rev()
        .map(|skip| {
            let mut left = hosts.to_vec();
            left.remove(skip);
            left
        })
        .collect()
}

/// An end halfway between `at` and `end`, in whole milliseconds, if that
/// is strictly between them.
pub fn earlier_end(at: SimTime, end: Option<SimTime>) -> Option<SimTime> {
    let end = end?;
    let half = at.as_nanos() + (end.as_nanos().saturating_sub(at.as_nanos())) / 2;
    let rounded = SimTime::from_nanos(half.div_ceil(1_000_000) * 1_000_000);
    (rounded > at && rounded < end).then_some(rounded)
}

/// Half of `x` (three decimals), or 0 when that is small or no smaller;
/// `None` at 0.
pub fn halved(x: f64) -> Option<f64> {
    if x == 0.0 {
        return None;
    }
    let half = ((x / 2.0) * 1000.0).round() / 1000.0;
    Some(if half.abs() < 0.001 || half.abs() >= x.abs() {
        0.0
    } else {
        half
    })
}

/// Half of `d` (whole milliseconds, at least `min`), if that is shorter.
pub fn halved_duration(d: SimDuration, min: SimDuration) -> Option<SimDuration> {
    let half = SimDuration::from_millis(d.as_nanos() / 2_000_000).max(min);
    (half < d).then_some(half)
}

/// Writes one `[[faults]]` entry: a kind writes its kind key and options
/// with host references by name (a whole group by the group's name).
pub struct EntryWriter<'a> {
    scenario: &'a Scenario,
    table: toml::Table,
}

impl<'a> EntryWriter<'a> {
    /// An entry starting at `at`.
    pub fn new(scenario: &'a Scenario, at: SimTime) -> Self {
        let mut table = toml::Table::new();
        table.insert("at".into(), time_value(at));
        EntryWriter { scenario, table }
    }

    /// `key = <value>`.
    pub fn value(&mut self, key: &str, value: impl Into<toml::Value>) {
        self.table.insert(key.to_string(), value.into());
    }

    /// `key = <host reference>` for `hosts`.
    pub fn hosts(&mut self, key: &str, hosts: &[HostId]) {
        let value = self.host_value(hosts);
        self.value(key, value);
    }

    /// `key = "<time>"`, when there is one.
    pub fn time(&mut self, key: &str, time: Option<SimTime>) {
        if let Some(t) = time {
            self.value(key, time_value(t));
        }
    }

    /// `key = "<duration>"`.
    pub fn duration(&mut self, key: &str, d: SimDuration) {
        self.value(key, d.to_string());
    }

    /// `hosts` as a host reference: a group's name when they are the whole
    /// group, a host's name when one, else a list of names.
    pub fn host_value(&self, hosts: &[HostId]) -> toml::Value {
        let s = self.scenario;
        for (g, group) in s.groups.iter().enumerate() {
            let members: Vec<HostId> = s.group_hosts(g).map(|h| h.id).collect();
            if members.len() > 1 && members == hosts {
                return group.name.clone().into();
            }
        }
        let names: Vec<toml::Value> = hosts
            .iter()
            .map(|h| s.hosts[h.index()].name.clone().into())
            .collect();
        match names.as_slice() {
            [one] => one.clone(),
            _ => toml::Value::Array(names),
        }
    }

    /// The entry.
    pub fn finish(self) -> toml::Table {
        self.table
    }
}

/// A time as the scenario format writes it (`"12500 ms"`).
pub fn time_value(t: SimTime) -> toml::Value {
    t.since_start().to_string().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_ends_and_rates_moves_toward_the_start_and_zero() {
        let s = |x: u64| SimTime::from_nanos(x * 1_000_000_000);
        assert_eq!(earlier_end(s(10), Some(s(20))), Some(s(15)));
        assert_eq!(earlier_end(s(10), None), None);
        let tiny = SimTime::from_nanos(10_000_000_000 + 1_000_000);
        assert_eq!(
            earlier_end(s(10), Some(tiny)),
            None,
            "nothing strictly between"
        );
        assert_eq!(halved(0.3), Some(0.15));
        assert_eq!(halved(0.0015), Some(0.001));
        assert_eq!(halved(0.001), Some(0.0), "never the same value again");
        assert_eq!(halved(0.0), None);
        let ms = SimDuration::from_millis;
        assert_eq!(halved_duration(ms(50), ms(1)), Some(ms(25)));
        assert_eq!(halved_duration(ms(1), ms(1)), None);
    }

    #[test]
    fn fewer_leaves_out_one_host_at_a_time() {
        let h = HostId;
        assert_eq!(fewer(&[h(1)]), Vec::<Vec<HostId>>::new());
        assert_eq!(fewer(&[h(1), h(2)]), vec![vec![h(1)], vec![h(2)]]);
    }
}
