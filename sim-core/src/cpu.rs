//! The CPU cost model: what a host's inputs cost in simulated time, and
//! what the engine records about its processing queue.
//!
//! Off by default: a host without a [`HostCpu`] handles every input in
//! zero time, as before. A host with one is `cores` servers behind one
//! FIFO input queue (the engine's part, `engine.rs`): an input starts
//! service when a core is free — the node's state changes then — and its
//! outputs leave when its cost has been served. The cost is priced here
//! from the operations the node counted ([`Work`]) and the scenario's
//! per-operation costs ([`CpuCosts`]); the node never measures time.

use std::collections::VecDeque;

use node_logic::io::{Input, Work};

use crate::units::{SimDuration, SimTime};

/// What each counted operation costs a host's CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuCosts {
    /// One signature verification done in full.
    pub verify: SimDuration,
    /// One verification answered by the host's signature cache.
    pub verify_cached: SimDuration,
    /// One signature made.
    pub sign: SimDuration,
    /// Hashing one KiB (1024 bytes; partial KiB pro rata, rounded up to
    /// the nanosecond).
    pub hash_per_kib: SimDuration,
    /// Handling one received message (decoding, bookkeeping), besides its
    /// cryptography.
    pub message: SimDuration,
}

impl CpuCosts {
    /// What an input that did `work` costs; `message` when the input was a
    /// received message. Saturates instead of overflowing.
    pub fn price(&self, work: Work, message: bool) -> SimDuration {
        let ns = |d: SimDuration, n: u64| d.as_nanos().saturating_mul(n);
        let hashing = u128::from(self.hash_per_kib.as_nanos()) * u128::from(work.hashed_bytes);
        let hashing = u64::try_from(hashing.div_ceil(1024)).unwrap_or(u64::MAX);
        let total = ns(self.verify, work.verifies)
            .saturating_add(ns(self.verify_cached, work.cached_verifies))
            .saturating_add(ns(self.sign, work.signs))
            .saturating_add(hashing)
            .saturating_add(ns(self.message, u64::from(message)));
        SimDuration::from_nanos(total)
    }
}

/// One host's CPU: how many inputs it serves at once and what they cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCpu {
    /// Cores: inputs served in parallel (at least 1).
    pub cores: u32,
    /// Per-operation costs.
    pub costs: CpuCosts,
}

/// Queue delays, in a log-linear histogram: exact below 64 ns, then 32
/// buckets per power of two (at most 1/32 = 3.1 % relative error), so a
/// run of any length keeps a few kilobytes per host and percentiles are
/// deterministic. (A dependency such as `hdrhistogram` would do the same
/// with more machinery than a percentile of one distribution needs.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DelayHistogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

/// Sub-buckets per power of two.
const SUB_BITS: u32 = 5;
/// Values below this are their own bucket.
const LINEAR: u64 = 2 << SUB_BITS;

impl DelayHistogram {
    fn bucket(value: u64) -> usize {
        if value < LINEAR {
            return value as usize;
        }
        let exp = 63 - value.leading_zeros();
        let sub = (value >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
        LINEAR as usize + ((exp - SUB_BITS - 1) as usize) * (1 << SUB_BITS) + sub as usize
    }
    /// The largest value of bucket `index`.
    fn upper(index: usize) -> u64 {
        if index < LINEAR as usize {
            return index as u64;
        }
        let rest = index - LINEAR as usize;
        let exp = (rest >> SUB_BITS) as u32 + SUB_BITS + 1;
        let sub = (rest & ((1 << SUB_BITS) - 1)) as u64;
        let low = (1u64 << exp) | (sub << (exp - SUB_BITS));
        low.saturating_add((1u64 << (exp - SUB_BITS)) - 1)
    }
    /// Counts one delay.
    pub fn record(&mut self, delay: SimDuration) {
        let ns = delay.as_nanos();
        let i = Self::bucket(ns);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
    }
    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &DelayHistogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }
    /// Delays counted.
    pub fn count(&self) -> u64 {
        self.total
    }
    /// The longest delay counted.
    pub fn max(&self) -> SimDuration {
        SimDuration::from_nanos(self.max)
    }
    /// The nearest-rank `q`-quantile (`0 < q <= 1`), as the upper bound
    /// of its bucket (never above the maximum); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<SimDuration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(SimDuration::from_nanos(Self::upper(i).min(self.max)));
            }
        }
        Some(self.max())
    }
}

/// What one host's CPU did in a run (empty for hosts without a CPU model).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuRecord {
    /// Cores.
    pub cores: u32,
    /// Inputs served.
    pub served: u64,
    /// Core time spent serving them (summed over cores).
    pub busy: SimDuration,
    /// The longest the input queue was (inputs waiting for a core).
    pub max_queue: u64,
    /// Each input's wait from arrival to service start.
    pub delays: DelayHistogram,
}

/// One host's processing queue as the engine runs it: `cores` servers
/// (each busy until a time) and the FIFO of inputs waiting for one.
#[derive(Debug)]
pub(crate) struct CpuQueue {
    costs: CpuCosts,
    free_at: Vec<SimTime>,
    waiting: VecDeque<(SimTime, Input)>,
    /// The wake-up event queued, if any: when a core frees up for the
    /// head of the queue (one event per wait, not one per waiting input).
    pub(crate) wake_at: Option<SimTime>,
    pub(crate) record: CpuRecord,
}

impl CpuQueue {
    pub(crate) fn new(cpu: HostCpu) -> Self {
        let cores = cpu.cores.max(1);
        CpuQueue {
            costs: cpu.costs,
            free_at: vec![SimTime::ZERO; cores as usize],
            waiting: VecDeque::new(),
            wake_at: None,
            record: CpuRecord {
                cores,
                ..CpuRecord::default()
            },
        }
    }
    /// `input` arrives at `now` and waits its turn.
    pub(crate) fn arrive(&mut self, now: SimTime, input: Input) {
        self.waiting.push_back((now, input));
        let len = self.waiting.len() as u64;
        self.record.max_queue = self.record.max_queue.max(len);
    }
    /// The next input to serve at `now`, if one waits and a core is free:
    /// the core's index and the input; its wait is recorded.
    pub(crate) fn start(&mut self, now: SimTime) -> Option<(usize, Input)> {
        if self.waiting.is_empty() {
            return None;
        }
        let (core, free) = self.earliest_core();
        if free > now {
            return None;
        }
        let (arrived, input) = self.waiting.pop_front()?;
        self.record
            .delays
            .record(now.saturating_duration_since(arrived));
        Some((core, input))
    }
    /// The input just started on `core` at `now` costs `work` (`message`:
    /// it was a received message); returns its cost, the core busy as long.
    pub(crate) fn charge(
        &mut self,
        core: usize,
        now: SimTime,
        work: Work,
        message: bool,
    ) -> SimDuration {
        let cost = self.costs.price(work, message);
        self.free_at[core] = now + cost;
        self.record.served += 1;
        self.record.busy = self.record.busy.saturating_add(cost);
        cost
    }
    /// When a core frees up for the input at the head of the queue, if
    /// one waits and no wake-up at or before that time is queued already.
    pub(crate) fn wake_needed(&mut self, now: SimTime) -> Option<SimTime> {
        if self.waiting.is_empty() {
            return None;
        }
        let at = self.earliest_core().1.max(now);
        if self.wake_at.is_some_and(|w| w <= at && w >= now) {
            return None;
        }
        self.wake_at = Some(at);
        Some(at)
    }
    /// The host crashed at `now`: waiting inputs are lost, cores idle.
    pub(crate) fn crash(&mut self, now: SimTime) {
        self.waiting.clear();
        self.free_at.fill(now);
    }
    fn earliest_core(&self) -> (usize, SimTime) {
        let mut best = (0, self.free_at[0]);
        for (i, &t) in self.free_at.iter().enumerate() {
            if t < best.1 {
                best = (i, t);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_adds_every_operation() {
        let costs = CpuCosts {
            verify: SimDuration::from_micros(50),
            verify_cached: SimDuration::from_micros(1),
            sign: SimDuration::from_micros(20),
            hash_per_kib: SimDuration::from_micros(2),
            message: SimDuration::from_micros(5),
        };
        let work = Work {
            verifies: 2,
            cached_verifies: 3,
            signs: 1,
            hashed_bytes: 1536,
        };
        // 100 + 3 + 20 + 3 + 5 us.
        assert_eq!(costs.price(work, true), SimDuration::from_micros(131));
        assert_eq!(costs.price(work, false), SimDuration::from_micros(126));
        assert_eq!(costs.price(Work::default(), false), SimDuration::ZERO);
        let one_byte = Work {
            hashed_bytes: 1,
            ..Work::default()
        };
        assert_eq!(costs.price(one_byte, false), SimDuration::from_nanos(2));
    }

    #[test]
    fn histogram_buckets_are_contiguous_and_tight() {
        let mut last = None;
        for v in (0..5000u64).chain([1 << 20, 123_456_789, u64::MAX / 3]) {
            let b = DelayHistogram::bucket(v);
            assert!(DelayHistogram::upper(b) >= v, "{v}");
            assert!(DelayHistogram::upper(b) - v <= v / 32 + 1, "{v}");
            if b > 0 {
                assert!(DelayHistogram::upper(b - 1) < v, "{v}");
            }
            if let Some(prev) = last
                && v < 5000
            {
                assert!(b == prev || b == prev + 1, "{v}");
            }
            last = Some(b);
        }
    }

    #[test]
    fn quantiles_follow_nearest_rank() {
        let mut h = DelayHistogram::default();
        assert_eq!(h.quantile(0.95), None);
        for us in 1..=100 {
            h.record(SimDuration::from_micros(us));
        }
        let p95 = h.quantile(0.95).unwrap().as_nanos();
        assert!((95_000..=95_000 + 95_000 / 32).contains(&p95), "{p95}");
        assert_eq!(h.quantile(1.0), Some(SimDuration::from_micros(100)));
        let mut merged = DelayHistogram::default();
        merged.merge(&h);
        merged.merge(&h);
        assert_eq!(merged.count(), 200);
        assert_eq!(merged.quantile(0.95), h.quantile(0.95));
    }
}
