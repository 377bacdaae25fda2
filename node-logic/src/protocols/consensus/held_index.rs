//! A validator's pool index of held transactions: `(account, nonce)` to
//! the slot holding it.
//!
//! Every delivery asks it (the duplicate check) and most change it (a
//! newcomer in, the oldest out), so it is the pool's hottest structure
//! (issue 11: 100 pools of 10,000 under 1,000 tx/s). A client's nonces
//! arrive nearly in order, so one account's held nonces form a dense run:
//! each account keeps them in a ring indexed by `nonce - base`, where the
//! newcomer joins the back and eviction empties the front, both O(1) on
//! memory already in cache. An account whose held nonces spread too thin
//! for that (a validator sent every tenth of a client's transactions, or an
//! old high-fee one kept under lowest-fee eviction while the nonces move
//! on) keeps them in a B-tree instead, until it holds none.

use std::collections::{BTreeMap, VecDeque};

/// The slot of no transaction in a dense ring.
const EMPTY: u32 = u32::MAX;

/// A dense ring may span at most this many nonces per held one (plus
/// [`SPAN_SLACK`]); wider, the account goes sparse.
const SPAN_PER_HELD: u64 = 4;
/// Span always allowed, however few are held.
const SPAN_SLACK: u64 = 256;

/// One account's held nonces.
#[derive(Debug)]
enum AccountHeld {
    /// Nonces `base .. base + slots.len()`, [`EMPTY`] where none is held;
    /// the first and last are held. `count` are held.
    Dense {
        base: u64,
        slots: VecDeque<u32>,
        count: u64,
    },
    /// Too spread for a ring.
    Sparse(BTreeMap<u64, u32>),
}

impl Default for AccountHeld {
    fn default() -> Self {
        AccountHeld::Dense {
            base: 0,
            slots: VecDeque::new(),
            count: 0,
        }
    }
}

/// The pool's `(account, nonce)` → slot index (see the module docs).
/// Accounts are the pool's account numbers (small, dense).
#[derive(Debug, Default)]
pub(crate) struct HeldIndex {
    accounts: Vec<AccountHeld>,
    len: usize,
}

impl HeldIndex {
    /// Transactions held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The slot holding `account`'s transaction `nonce`, if any.
    pub(crate) fn get(&self, account: u32, nonce: u64) -> Option<u32> {
        match self.accounts.get(account as usize)? {
            AccountHeld::Dense { base, slots, .. } => {
                let at = usize::try_from(nonce.checked_sub(*base)?).ok()?;
                slots.get(at).copied().filter(|&s| s != EMPTY)
            }
            AccountHeld::Sparse(tree) => tree.get(&nonce).copied(),
        }
    }

    /// Whether `account`'s transaction `nonce` is held.
    pub(crate) fn contains(&self, account: u32, nonce: u64) -> bool {
        self.get(account, nonce).is_some()
    }

    /// Records `account`'s transaction `nonce` in `slot`; it must not be
    /// held already.
    pub(crate) fn insert(&mut self, account: u32, nonce: u64, slot: u32) {
        let index = account as usize;
        if self.accounts.len() <= index {
            self.accounts.resize_with(index + 1, AccountHeld::default);
        }
        let held = &mut self.accounts[index];
        if let AccountHeld::Dense { base, slots, count } = held {
            if dense_insert(base, slots, nonce, slot, *count + 1) {
                *count += 1;
                self.len += 1;
                return;
            }
            *held = AccountHeld::Sparse(to_tree(*base, slots));
        }
        if let AccountHeld::Sparse(tree) = held {
            debug_assert!(!tree.contains_key(&nonce));
            tree.insert(nonce, slot);
        }
        self.len += 1;
    }

    /// Forgets `account`'s transaction `nonce`; returns its slot.
    pub(crate) fn remove(&mut self, account: u32, nonce: u64) -> Option<u32> {
        let held = self.accounts.get_mut(account as usize)?;
        let slot = match held {
            AccountHeld::Dense { base, slots, count } => {
                let slot = dense_remove(base, slots, nonce)?;
                *count -= 1;
                slot
            }
            AccountHeld::Sparse(tree) => {
                let slot = tree.remove(&nonce)?;
                if tree.is_empty() {
                    *held = AccountHeld::default();
                }
                slot
            }
        };
        self.len -= 1;
        Some(slot)
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.accounts.clear();
        self.len = 0;
    }
}

/// Puts `slot` at `nonce` in a ring that will hold `count` once it is in;
/// false (ring unchanged) when the span would grow too wide for `count`.
fn dense_insert(
    base: &mut u64,
    slots: &mut VecDeque<u32>,
    nonce: u64,
    slot: u32,
    count: u64,
) -> bool {
    if slots.is_empty() {
        *base = nonce;
        slots.push_back(slot);
        return true;
    }
    let end = *base + slots.len() as u64;
    let span = nonce.max(end - 1) - nonce.min(*base) + 1;
    if span > count.saturating_mul(SPAN_PER_HELD) + SPAN_SLACK {
        return false;
    }
    if nonce >= end {
        slots.extend(std::iter::repeat_n(EMPTY, (nonce - end) as usize));
        slots.push_back(slot);
    } else if nonce < *base {
        for _ in nonce + 1..*base {
            slots.push_front(EMPTY);
        }
        slots.push_front(slot);
        *base = nonce;
    } else {
        let at = (nonce - *base) as usize;
        debug_assert_eq!(slots[at], EMPTY, "inserted twice");
        slots[at] = slot;
    }
    true
}

/// Empties `nonce` in a ring and trims empty ends; returns its slot.
fn dense_remove(base: &mut u64, slots: &mut VecDeque<u32>, nonce: u64) -> Option<u32> {
    let at = usize::try_from(nonce.checked_sub(*base)?).ok()?;
    let held = slots.get_mut(at)?;
    if *held == EMPTY {
        return None;
    }
    let slot = std::mem::replace(held, EMPTY);
    while slots.front() == Some(&EMPTY) {
        slots.pop_front();
        *base += 1;
    }
    while slots.back() == Some(&EMPTY) {
        slots.pop_back();
    }
    Some(slot)
}

/// The held nonces of a ring, as a tree.
fn to_tree(base: u64, slots: &VecDeque<u32>) -> BTreeMap<u64, u32> {
    (base..)
        .zip(slots.iter().copied())
        .filter(|&(_, slot)| slot != EMPTY)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random inserts and removals (in order, out of order, sparse) against
    /// a B-tree of `(account, nonce)`.
    fn agrees_with_a_btree(seed: u64, stride: u64) {
        let mut index = HeldIndex::default();
        let mut reference: BTreeMap<(u32, u64), u32> = BTreeMap::new();
        let mut rng = crate::testkit::rng(seed);
        let mut next = move || rand_core::Rng::next_u64(&mut rng);
        let mut next_nonce = [0u64; 3];
        for step in 0..20_000u32 {
            let account = (next() % 3) as u32;
            match next() % 8 {
                0..=3 => {
                    // Mostly the next nonce; sometimes far ahead or behind.
                    let jump = match next() % 20 {
                        0 => next() % 5_000,
                        1 => 0,
                        _ => next() % stride,
                    };
                    let n = &mut next_nonce[account as usize];
                    *n += jump + 1;
                    let nonce = if next() % 10 == 0 {
                        n.saturating_sub(next() % 300)
                    } else {
                        *n
                    };
                    if let std::collections::btree_map::Entry::Vacant(e) =
                        reference.entry((account, nonce))
                    {
                        e.insert(step);
                        index.insert(account, nonce, step);
                    }
                }
                4..=6 => {
                    // The account's oldest (eviction) or any held one.
                    let mine: Vec<u64> = reference
                        .range((account, 0)..=(account, u64::MAX))
                        .map(|(&(_, n), _)| n)
                        .collect();
                    if let Some(&first) = mine.first() {
                        let nonce = if next() % 2 == 0 {
                            first
                        } else {
                            mine[(next() % mine.len() as u64) as usize]
                        };
                        let expected = reference.remove(&(account, nonce));
                        assert_eq!(index.remove(account, nonce), expected);
                    }
                    assert_eq!(index.remove(account, u64::MAX), None);
                }
                _ => {
                    let probe = next_nonce[account as usize].saturating_sub(next() % 400);
                    assert_eq!(
                        index.get(account, probe),
                        reference.get(&(account, probe)).copied()
                    );
                }
            }
            assert_eq!(index.len(), reference.len());
        }
        for (&(account, nonce), &slot) in &reference {
            assert_eq!(index.get(account, nonce), Some(slot));
            assert!(index.contains(account, nonce));
        }
        index.clear();
        assert_eq!((index.len(), index.get(0, 1)), (0, None));
    }

    #[test]
    fn rings_and_trees_index_like_one_ordered_map() {
        for (seed, stride) in [(1, 1), (5, 3), (9, 40), (77, 400)] {
            agrees_with_a_btree(seed, stride);
        }
    }

    #[test]
    fn a_thin_spread_goes_sparse_and_an_emptied_account_dense_again() {
        let mut index = HeldIndex::default();
        index.insert(0, 10, 1);
        index.insert(0, 10 + SPAN_SLACK + 100, 2);
        assert!(matches!(index.accounts[0], AccountHeld::Sparse(_)));
        assert_eq!(index.get(0, 10 + SPAN_SLACK + 100), Some(2));
        assert_eq!(index.remove(0, 10), Some(1));
        assert_eq!(index.remove(0, 10 + SPAN_SLACK + 100), Some(2));
        assert!(matches!(index.accounts[0], AccountHeld::Dense { .. }));
        for nonce in 0..1_000 {
            index.insert(0, nonce, nonce as u32);
        }
        assert!(
            matches!(&index.accounts[0], AccountHeld::Dense { slots, .. } if slots.len() == 1_000)
        );
        for nonce in 0..999 {
            assert_eq!(index.remove(0, nonce), Some(nonce as u32));
        }
        assert!(
            matches!(&index.accounts[0], AccountHeld::Dense { base: 999, slots, .. } if slots.len() == 1)
        );
    }
}
