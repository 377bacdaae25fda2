//! The event queue: events ordered by `(time, insertion sequence)`.
//!
//! Heap entries are 24 bytes (time, sequence, slot); payloads live apart in
//! a slab whose slots are reused, so sifting the heap moves small values and
//! events never allocate once the slab has grown to the peak queue depth.
//! Ties in time are broken by insertion order, which makes the order of
//! events a pure function of what was scheduled and when.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::units::SimTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    time: u64,
    seq: u64,
    slot: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (time, seq) is on top.
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A deterministic priority queue of events of type `E`.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`; returns its sequence number.
    pub fn push(&mut self, time: SimTime, event: E) -> u64 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                // More than u32::MAX pending events would need > 100 GiB of
                // memory; treat it as the invariant it is.
                u32::try_from(self.slots.len() - 1)
                    .expect("event queue exceeds u32::MAX pending events")
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry {
            time: time.as_nanos(),
            seq,
            slot,
        });
        seq
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let entry = self.heap.pop()?;
        let event = self.slots[entry.slot as usize].take()?;
        self.free.push(entry.slot);
        Some((SimTime::from_nanos(entry.time), event))
    }

    /// When the earliest event is due.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| SimTime::from_nanos(e.time))
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
        q.push(t(5), "c");
        q.push(t(1), "a");
        q.push(t(5), "d");
        q.push(t(1), "b");
        q.push(t(0), "first");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, vec!["first", "a", "b", "c", "d"]);
    }

    #[test]
    fn slots_are_reused() {
        let mut q = EventQueue::new();
        for round in 0..10u64 {
            q.push(t(round), round);
            q.push(t(round), round + 100);
            q.pop();
            q.pop();
        }
        assert_eq!(q.slots.len(), 2, "peak depth was two");
        assert_eq!(q.scheduled(), 20);
        assert!(q.is_empty() && q.peek_time().is_none());
    }

    #[test]
    fn entries_are_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }
}
