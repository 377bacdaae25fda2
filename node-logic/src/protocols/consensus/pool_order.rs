//! The order in which a validator's pool evicts (and fills blocks from) the
//! transactions it holds.
//!
//! Each held transaction has an order key `(fee or 0, arrival)`. Under
//! lowest-fee eviction the keys arrive in any order, so they live in a
//! B-tree. Under oldest-first the key is the arrival number alone, which
//! only grows: new transactions join the back of a queue and eviction takes
//! the front, each O(1), where a B-tree insert walks its whole height on
//! every delivery (issue 11: 9 % of the 100-validator load benchmark was
//! that walk). A transaction taken out of the middle (finalized) is not
//! searched for: its queue item goes stale — the slot it names no longer
//! holds that arrival — and is skipped when met, or dropped when stale items
//! outnumber live ones.

use std::collections::{BTreeMap, VecDeque};

use crate::protocols::consensus::mempool::Eviction;

/// A transaction's order key: `(fee or 0, arrival number)`; the first
/// key is the first to go.
pub(crate) type OrderKey = (u64, u64);

/// The pool's eviction order over its slots (see the module docs).
///
/// Methods that may meet stale items take `live(slot, key)`: whether
/// `slot` still holds the transaction with order key `key`.
#[derive(Debug)]
pub(crate) enum PoolOrder {
    /// Oldest first: `(arrival, slot)` in arrival order, `stale` of them
    /// taken out already.
    Arrival {
        /// Items in arrival order.
        queue: VecDeque<(u64, u32)>,
        /// Items whose slot no longer holds their transaction.
        stale: usize,
    },
    /// Lowest fee first (ties: the oldest).
    Fee(BTreeMap<OrderKey, u32>),
}

/// Stale items tolerated before a compaction, beyond the live ones.
const STALE_SLACK: usize = 64;

impl PoolOrder {
    /// An empty order for this policy.
    pub(crate) fn new(eviction: Eviction) -> Self {
        match eviction {
            Eviction::Oldest => PoolOrder::Arrival {
                queue: VecDeque::new(),
                stale: 0,
            },
            Eviction::LowestFee => PoolOrder::Fee(BTreeMap::new()),
        }
    }

    /// Adds the transaction in `slot` with order key `key` (under
    /// oldest-first, keys must grow from call to call).
    pub(crate) fn insert(&mut self, key: OrderKey, slot: u32) {
        match self {
            PoolOrder::Arrival { queue, .. } => {
                debug_assert!(queue.back().is_none_or(|&(a, _)| a < key.1));
                queue.push_back((key.1, slot));
            }
            PoolOrder::Fee(tree) => {
                tree.insert(key, slot);
            }
        }
    }

    /// The transaction with order key `key` left the pool other than by
    /// [`Self::pop_first`] (its slot no longer holds it).
    pub(crate) fn removed(&mut self, key: OrderKey, live: impl Fn(u32, OrderKey) -> bool) {
        match self {
            PoolOrder::Arrival { queue, stale } => {
                *stale += 1;
                if *stale > queue.len() - *stale + STALE_SLACK {
                    queue.retain(|&(arrival, slot)| live(slot, (0, arrival)));
                    *stale = 0;
                }
            }
            PoolOrder::Fee(tree) => {
                tree.remove(&key);
            }
        }
    }

    /// The first key in eviction order, if any is held.
    pub(crate) fn first(&mut self, live: impl Fn(u32, OrderKey) -> bool) -> Option<OrderKey> {
        match self {
            PoolOrder::Arrival { queue, stale } => {
                drop_stale_front(queue, stale, &live);
                queue.front().map(|&(arrival, _)| (0, arrival))
            }
            PoolOrder::Fee(tree) => tree.first_key_value().map(|(&key, _)| key),
        }
    }

    /// Takes the first in eviction order out of the order; returns its slot.
    pub(crate) fn pop_first(&mut self, live: impl Fn(u32, OrderKey) -> bool) -> Option<u32> {
        match self {
            PoolOrder::Arrival { queue, stale } => {
                drop_stale_front(queue, stale, &live);
                queue.pop_front().map(|(_, slot)| slot)
            }
            PoolOrder::Fee(tree) => tree.pop_first().map(|(_, slot)| slot),
        }
    }

    /// Under oldest-first, the item `n` places from the front (it may be
    /// stale): what eviction will read soon, for [`crate::prefetch`].
    pub(crate) fn ahead(&self, n: usize) -> Option<&(u64, u32)> {
        match self {
            PoolOrder::Arrival { queue, .. } => queue.get(n),
            PoolOrder::Fee(_) => None,
        }
    }

    /// The held slots in block-filling order: oldest first, or highest fee
    /// first (ties: newest first).
    pub(crate) fn filling<'a>(
        &'a self,
        live: impl Fn(u32, OrderKey) -> bool + 'a,
    ) -> Box<dyn Iterator<Item = u32> + 'a> {
        match self {
            PoolOrder::Arrival { queue, .. } => Box::new(
                queue
                    .iter()
                    .filter(move |&&(arrival, slot)| live(slot, (0, arrival)))
                    .map(|&(_, slot)| slot),
            ),
            PoolOrder::Fee(tree) => Box::new(tree.values().rev().copied()),
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        match self {
            PoolOrder::Arrival { queue, stale } => {
                queue.clear();
                *stale = 0;
            }
            PoolOrder::Fee(tree) => tree.clear(),
        }
    }
}

/// Pops stale items off the front of an arrival queue.
fn drop_stale_front(
    queue: &mut VecDeque<(u64, u32)>,
    stale: &mut usize,
    live: impl Fn(u32, OrderKey) -> bool,
) {
    while let Some(&(arrival, slot)) = queue.front() {
        if live(slot, (0, arrival)) {
            return;
        }
        queue.pop_front();
        *stale -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random inserts, removals from anywhere and pops against a B-tree
    /// reference, with slots reused as the pool reuses them.
    fn agrees_with_a_btree(eviction: Eviction, seed: u64) {
        let mut order = PoolOrder::new(eviction);
        let mut reference: BTreeMap<OrderKey, u32> = BTreeMap::new();
        let mut slots: Vec<Option<OrderKey>> = Vec::new();
        let mut rng = crate::testkit::rng(seed);
        let mut next = move || rand_core::Rng::next_u64(&mut rng);
        for arrival in 1..3_000u64 {
            let live = |slot: u32, key| slots[slot as usize] == Some(key);
            match next() % 4 {
                0 | 1 => {
                    let fee = match eviction {
                        Eviction::Oldest => 0,
                        Eviction::LowestFee => next() % 5,
                    };
                    let key = (fee, arrival);
                    let slot = match slots.iter().position(Option::is_none) {
                        Some(free) => free,
                        None => {
                            slots.push(None);
                            slots.len() - 1
                        }
                    } as u32;
                    slots[slot as usize] = Some(key);
                    order.insert(key, slot);
                    reference.insert(key, slot);
                }
                2 => {
                    assert_eq!(order.first(live), reference.keys().next().copied());
                    let popped = order.pop_first(live);
                    assert_eq!(popped, reference.pop_first().map(|(_, s)| s));
                    if let Some(slot) = popped {
                        slots[slot as usize] = None;
                    }
                }
                _ => {
                    let held: Vec<_> = reference.keys().copied().collect();
                    if held.is_empty() {
                        continue;
                    }
                    let key = held[(next() % held.len() as u64) as usize];
                    let slot = reference.remove(&key).unwrap();
                    slots[slot as usize] = None;
                    order.removed(key, |slot, key| slots[slot as usize] == Some(key));
                }
            }
            let live = |slot: u32, key| slots[slot as usize] == Some(key);
            let filled: Vec<u32> = order.filling(live).collect();
            let expected: Vec<u32> = match eviction {
                Eviction::Oldest => reference.values().copied().collect(),
                Eviction::LowestFee => reference.values().rev().copied().collect(),
            };
            assert_eq!(filled, expected, "after arrival {arrival}");
        }
        if let PoolOrder::Arrival { queue, stale } = &order {
            assert!(queue.len() - stale == reference.len());
            assert!(*stale <= reference.len() + STALE_SLACK, "compacted");
        }
        order.clear();
        assert_eq!(order.first(|_, _| true), None);
    }

    #[test]
    fn arrival_queue_evicts_and_fills_like_the_ordered_tree() {
        for seed in [1, 7, 99] {
            agrees_with_a_btree(Eviction::Oldest, seed);
        }
    }

    #[test]
    fn fee_order_evicts_the_cheapest_and_fills_the_dearest_first() {
        agrees_with_a_btree(Eviction::LowestFee, 3);
    }
}
