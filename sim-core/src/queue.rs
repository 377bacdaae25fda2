//! The event queue: events ordered by `(time, insertion sequence)`.
//!
//! Heap entries are 16 bytes: the time, and one word holding the insertion
//! sequence (high 40 bits) and the payload's slot (low 24 bits), so one
//! 128-bit comparison orders them and sifting the heap moves small values.
//! Payloads live apart in a slab whose slots are reused: events never
//! allocate once the slab has grown to the peak queue depth. Ties in time
//! are broken by insertion order, which makes the order of events a pure
//! function of what was scheduled and when.
//!
//! Events due before everything in the heap wait apart in `soon`, a short
//! sorted run popped from its front: an event scheduled a moment ahead (a
//! datagram leaving the receiver's down-queue microseconds after it
//! arrived) usually lands there, and is pushed and popped without sifting
//! the heap. A pop takes the earlier of `soon`'s first and the heap's top,
//! so the order is exactly `(time, sequence)`, nothing else.
//!
//! Events scheduled together may share one heap entry as a *train*
//! ([`EventQueue::push_train`]): the engine schedules a broadcast's copies
//! so, and each still pops at its own `(time, sequence)`.
//!
//! Limits (checked, never silently wrapped): at most [`MAX_PENDING`] events
//! pending at once and [`MAX_SCHEDULED`] scheduled over a run.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use crate::units::SimTime;

const SLOT_BITS: u32 = 24;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;

/// The most events that may be pending at once (about 16.7 million).
pub const MAX_PENDING: usize = 1 << SLOT_BITS;
/// The most events one run may schedule (about 1.1 trillion).
pub const MAX_SCHEDULED: u64 = 1 << (64 - SLOT_BITS);
/// The most events `soon` holds; beyond it, its latest moves to the heap
/// (so an insertion in the middle moves at most a few kilobytes).
const SOON_MAX: usize = 256;

/// Why an event could not be scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueFull {
    /// Too many events pending at once.
    #[error(
        "more than {MAX_PENDING} events pending at once: a workload this large needs fewer hosts or less traffic per host"
    )]
    Pending,
    /// Too many events over the run.
    #[error("more than {MAX_SCHEDULED} events scheduled in one run: shorten the duration")]
    Scheduled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(8))]
struct Entry {
    time: u64,
    /// `seq << SLOT_BITS | slot`: unique, so the slot never decides order.
    seq_slot: u64,
}

impl Entry {
    #[inline]
    fn key(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq_slot)
    }
    #[inline]
    fn slot(&self) -> usize {
        (self.seq_slot & SLOT_MASK) as usize
    }
}

impl Ord for Entry {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (time, seq) is on top.
        other.key().cmp(&self.key())
    }
}

impl PartialOrd for Entry {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A deterministic priority queue of events of type `E`.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry>,
    /// Entries that were due before the heap's earliest when placed (a
    /// train pushed later may precede them), in ascending key order.
    soon: VecDeque<Entry>,
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
    next_seq: u64,
    /// Events pending, a train's each counted.
    pending: usize,
}

/// What a slab slot holds.
#[derive(Debug)]
enum Slot<E> {
    /// Nothing (its number is in `free`).
    Free,
    /// One event.
    One(E),
    /// A train's events not yet popped ([`EventQueue::push_train`]).
    Train(Box<Train<E>>),
}

/// Events scheduled together that leave one at a time, in key order, from
/// one heap entry: the entry's key is that of the train's earliest event,
/// and popping one moves the entry to the next event's key in place
/// (usually still the earliest of the heap: a sift of a level or two,
/// instead of a push and a pop through the whole heap per event).
#[derive(Debug)]
struct Train<E> {
    /// Latest first: the next to leave is the last.
    stops: Vec<Stop<E>>,
}

#[derive(Debug)]
struct Stop<E> {
    time: u64,
    seq: u64,
    event: E,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            soon: VecDeque::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            pending: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`; returns its sequence number.
    #[inline]
    pub fn push(&mut self, time: SimTime, event: E) -> Result<u64, QueueFull> {
        let seq = self.reserve()?;
        self.push_reserved(time, seq, event)?;
        Ok(seq)
    }

    /// Takes the next sequence number for an event scheduled later with
    /// [`Self::push_reserved`] or [`Self::push_train`]: it is ordered as if
    /// pushed now.
    #[inline]
    pub fn reserve(&mut self) -> Result<u64, QueueFull> {
        let seq = self.next_seq;
        if seq >= MAX_SCHEDULED {
            return Err(QueueFull::Scheduled);
        }
        self.next_seq += 1;
        Ok(seq)
    }

    /// Schedules `event` at `time` with `seq`, a number [`Self::reserve`]
    /// gave and no other event has.
    #[inline]
    pub fn push_reserved(&mut self, time: SimTime, seq: u64, event: E) -> Result<(), QueueFull> {
        let slot = self.store(Slot::One(event))?;
        self.pending += 1;
        self.place(Entry {
            time: time.as_nanos(),
            seq_slot: (seq << SLOT_BITS) | u64::from(slot),
        });
        Ok(())
    }

    /// Schedules `events`, each `(time, seq, event)` with a number
    /// [`Self::reserve`] gave, as one train: they pop exactly as if each
    /// were pushed alone, for the cost of one heap entry (see [`Train`]).
    /// A broadcast's copies, due one after another, are the case it is for.
    pub fn push_train(
        &mut self,
        events: impl ExactSizeIterator<Item = (SimTime, u64, E)>,
    ) -> Result<(), QueueFull> {
        let mut stops: Vec<Stop<E>> = events
            .map(|(time, seq, event)| Stop {
                time: time.as_nanos(),
                seq,
                event,
            })
            .collect();
        // Latest first; most come in order, so this mostly reverses.
        stops.sort_unstable_by_key(|s| std::cmp::Reverse((s.time, s.seq)));
        let Some(first) = stops.last() else {
            return Ok(());
        };
        let (time, seq) = (first.time, first.seq);
        let count = stops.len();
        let slot = self.store(Slot::Train(Box::new(Train { stops })))?;
        self.pending += count;
        // Into the heap: a train leaves from there (`pop`).
        self.heap.push(Entry {
            time,
            seq_slot: (seq << SLOT_BITS) | u64::from(slot),
        });
        Ok(())
    }

    /// Puts `slot` in a free slab slot; returns its number.
    #[inline]
    fn store(&mut self, slot: Slot<E>) -> Result<u32, QueueFull> {
        match self.free.pop() {
            Some(at) => {
                self.slots[at as usize] = slot;
                Ok(at)
            }
            None => {
                if self.slots.len() >= MAX_PENDING {
                    return Err(QueueFull::Pending);
                }
                self.slots.push(slot);
                // Below MAX_PENDING (2^24), so it fits in u32.
                Ok((self.slots.len() - 1) as u32)
            }
        }
    }

    /// Puts a new entry in `soon` if it is due before the heap's earliest,
    /// else in the heap.
    #[inline]
    fn place(&mut self, entry: Entry) {
        let key = entry.key();
        if self.heap.peek().is_some_and(|first| first.key() < key) {
            self.heap.push(entry);
            return;
        }
        if self.soon.len() >= SOON_MAX {
            // Full: the latest of `soon` and the new entry both precede
            // the heap; the later of the two goes to the heap.
            let Some(last) = self.soon.back().copied() else {
                return self.heap.push(entry);
            };
            if last.key() < key {
                return self.heap.push(entry);
            }
            self.soon.pop_back();
            self.heap.push(last);
        }
        // Mostly the latest so far: an append.
        if self.soon.back().is_none_or(|last| last.key() < key) {
            self.soon.push_back(entry);
        } else {
            let at = self.soon.partition_point(|e| e.key() < key);
            self.soon.insert(at, entry);
        }
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let entry = if self.heap_is_first() {
            let top = *self.heap.peek()?;
            if let Slot::Train(_) = self.slots[top.slot()] {
                return self.pop_from_train(top);
            }
            self.heap.pop()?
        } else {
            self.soon.pop_front()?
        };
        let slot = entry.slot();
        let Slot::One(event) = std::mem::replace(&mut self.slots[slot], Slot::Free) else {
            return None;
        };
        // Slots are below MAX_PENDING (2^24), so they fit in u32.
        self.free.push(slot as u32);
        self.pending -= 1;
        // The next event's payload was written thousands of events ago:
        // ask for it now, while this one is handled.
        if let Some(next) = self.first()
            && let Some(payload) = self.slots.get(next.slot())
        {
            node_logic::prefetch::prefetch(payload);
        }
        Some((SimTime::from_nanos(entry.time), event))
    }

    /// Pops the next event of the train at the top of the heap (`top`),
    /// moving the train's entry to its next event's key, or out of the
    /// heap if that was its last.
    fn pop_from_train(&mut self, top: Entry) -> Option<(SimTime, E)> {
        let slot = top.slot();
        let Slot::Train(train) = &mut self.slots[slot] else {
            return None;
        };
        let stop = train.stops.pop()?;
        self.pending -= 1;
        match train.stops.last() {
            Some(next) => {
                let mut entry = self.heap.peek_mut()?;
                entry.time = next.time;
                entry.seq_slot = (next.seq << SLOT_BITS) | slot as u64;
                // Dropping `entry` sifts it down to its place.
            }
            None => {
                self.heap.pop();
                self.slots[slot] = Slot::Free;
                self.free.push(slot as u32);
            }
        }
        debug_assert!(stop.time == top.time && stop.seq == top.seq_slot >> SLOT_BITS);
        Some((SimTime::from_nanos(stop.time), stop.event))
    }

    /// Whether the earliest event is the heap's (a train in the heap may be
    /// due before `soon`'s first); false if nothing is pending.
    #[inline]
    fn heap_is_first(&self) -> bool {
        match (self.soon.front(), self.heap.peek()) {
            (Some(soon), Some(heap)) => heap.key() < soon.key(),
            (soon, heap) => soon.is_none() && heap.is_some(),
        }
    }

    /// The entry of the earliest event.
    #[inline]
    fn first(&self) -> Option<&Entry> {
        if self.heap_is_first() {
            self.heap.peek()
        } else {
            self.soon.front()
        }
    }

    /// When the earliest event is due.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.first().map(|e| SimTime::from_nanos(e.time))
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.pending
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Events ever scheduled.
    pub fn scheduled(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ns: u64) -> SimTime {
        SimTime::from_nanos(ns)
    }

    #[test]
    fn pops_in_time_order_then_insertion_order() {
        let mut q = EventQueue::new();
        for (at, e) in [(5, "c"), (1, "a"), (5, "d"), (1, "b"), (0, "first")] {
            q.push(t(at), e).unwrap();
        }
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, vec!["first", "a", "b", "c", "d"]);
    }

    #[test]
    fn slots_are_reused() {
        let mut q = EventQueue::new();
        for round in 0..10u64 {
            q.push(t(round), round).unwrap();
            q.push(t(round), round + 100).unwrap();
            q.pop();
            q.pop();
        }
        assert_eq!(q.slots.len(), 2, "peak depth was two");
        assert_eq!(q.scheduled(), 20);
        assert!(q.is_empty() && q.peek_time().is_none());
    }

    #[test]
    fn pops_in_key_order_for_any_insertion_order() {
        use rand::RngExt;
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut q = EventQueue::new();
        let mut expected = Vec::new();
        for i in 0..2_000u64 {
            // Many equal times, so insertion order decides often.
            let at = rng.random_range(0..200u64);
            q.push(t(at), i).unwrap();
            expected.push((at, i));
            if i % 7 == 0 {
                let (time, e) = q.pop().unwrap();
                expected.sort_unstable();
                assert_eq!((time.as_nanos(), e), expected.remove(0));
            }
        }
        expected.sort_unstable();
        let rest: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|(time, e)| (time.as_nanos(), e))
            .collect();
        assert_eq!(rest, expected);
    }

    /// Against a sorted reference, with the shapes `soon` has to get
    /// right: events a moment ahead (appends and insertions in the
    /// middle), many at the same time, far ones, and more than `SOON_MAX`
    /// due before the heap's earliest.
    #[test]
    fn soon_and_heap_pop_in_key_order() {
        use rand::RngExt;
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let mut q = EventQueue::new();
        let mut expected = std::collections::BTreeSet::new();
        let mut now = 0u64;
        let mut spilled = false;
        for i in 0..20_000u64 {
            let at = match rng.random_range(0..10u32) {
                0..=3 => now + rng.random_range(0..20u64),
                4 => now,
                5..=7 => now + rng.random_range(1_000..50_000u64),
                8 => now + 5_000_000,
                _ => now + rng.random_range(0..3u64) * 1_000,
            };
            q.push(t(at), i).unwrap();
            expected.insert((at, i));
            spilled |= q.soon.len() == SOON_MAX;
            // Bursts: several pushes between pops, sometimes many.
            let pops = if i % 1_000 < 400 {
                0
            } else {
                rng.random_range(0..3u32)
            };
            for _ in 0..pops {
                let (time, e) = q.pop().unwrap();
                assert_eq!((time.as_nanos(), e), expected.pop_first().unwrap());
                assert_eq!(
                    q.peek_time().map(SimTime::as_nanos),
                    expected.first().map(|f| f.0)
                );
                now = time.as_nanos();
            }
        }
        assert!(spilled, "the test must fill `soon`");
        let rest: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|(time, e)| (time.as_nanos(), e))
            .collect();
        assert_eq!(rest, expected.into_iter().collect::<Vec<_>>());
        assert!(q.is_empty() && q.soon.is_empty() && q.heap.is_empty());
    }

    /// Trains (their events in any order, times interleaved with other
    /// trains' and single events', some due before `soon`'s) pop every
    /// event at exactly its `(time, sequence)`, as a sorted reference does.
    #[test]
    fn trains_pop_each_event_in_key_order() {
        use rand::RngExt;
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
        let mut q = EventQueue::new();
        let mut expected = std::collections::BTreeSet::new();
        let mut now = 0u64;
        let (mut trains, mut id) = (0, 0u64);
        for _ in 0..3_000 {
            let mut train = Vec::new();
            for _ in 0..rng.random_range(0..6u32) {
                let at = now + rng.random_range(0..4u64) * 1_000 + rng.random_range(0..3u64);
                id += 1;
                if rng.random_range(0..3u32) == 0 {
                    let seq = q.push(t(at), id).unwrap();
                    expected.insert((at, seq, id));
                } else {
                    let seq = q.reserve().unwrap();
                    train.push((t(at), seq, id));
                    expected.insert((at, seq, id));
                }
            }
            trains += usize::from(train.len() > 1);
            q.push_train(train.into_iter()).unwrap();
            assert_eq!(q.len(), expected.len());
            for _ in 0..rng.random_range(0..5u32) {
                let Some((time, e)) = q.pop() else { break };
                let (at, _, want) = expected.pop_first().unwrap();
                assert_eq!((time.as_nanos(), e), (at, want));
                assert_eq!(
                    q.peek_time().map(SimTime::as_nanos),
                    expected.first().map(|f| f.0)
                );
                now = time.as_nanos();
            }
        }
        assert!(trains > 1_000, "the test must make trains");
        let rest: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|(time, e)| (time.as_nanos(), e))
            .collect();
        let want: Vec<_> = expected.into_iter().map(|(at, _, r)| (at, r)).collect();
        assert_eq!(rest, want);
        assert!(
            q.is_empty() && q.free.len() == q.slots.len(),
            "every slot freed"
        );
    }

    #[test]
    fn entries_are_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }

    #[test]
    fn order_ignores_slots_and_survives_large_sequence_numbers() {
        let mut q = EventQueue::new();
        q.next_seq = MAX_SCHEDULED - 3;
        q.push(t(1), "b").unwrap();
        q.push(t(0), "a").unwrap();
        q.push(t(1), "c").unwrap();
        assert_eq!(q.push(t(0), "over"), Err(QueueFull::Scheduled));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, vec!["a", "b", "c"]);
    }
}
