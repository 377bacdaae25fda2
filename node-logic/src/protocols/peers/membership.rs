//! Who may join the peer registry: one set shared by every member's
//! registry.
//!
//! A network of n members used to give each registry its own sorted copy
//! of the membership (n² ids in all: 400 MB at 10,000 members) and to test
//! every datagram's sender with a binary search over it. A [`Membership`]
//! is built once, shared through an `Rc` (cloning it is a reference-count
//! increment), and answers [`Membership::contains`] with one bit lookup,
//! whatever n.

use std::rc::Rc;

use crate::HostId;

/// A set of hosts, sorted and deduplicated, cheap to clone and to query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership(Rc<Inner>);

#[derive(Debug, PartialEq, Eq)]
struct Inner {
    /// The members, sorted, without duplicates.
    sorted: Vec<HostId>,
    /// Bit `i` is set when `HostId(i)` is a member.
    bits: Vec<u64>,
}

impl Membership {
    /// The set of `members` (in any order, duplicates ignored).
    pub fn new(mut members: Vec<HostId>) -> Self {
        members.sort_unstable();
        members.dedup();
        let words = members.last().map_or(0, |last| last.index() / 64 + 1);
        let mut bits = vec![0u64; words];
        for m in &members {
            bits[m.index() / 64] |= 1 << (m.index() % 64);
        }
        Membership(Rc::new(Inner {
            sorted: members,
            bits,
        }))
    }

    /// Whether `host` is a member.
    #[inline]
    pub fn contains(&self, host: HostId) -> bool {
        let i = host.index();
        self.0
            .bits
            .get(i / 64)
            .is_some_and(|word| word & (1 << (i % 64)) != 0)
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.0.sorted.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.sorted.is_empty()
    }

    /// The members, in id order.
    pub fn as_slice(&self) -> &[HostId] {
        &self.0.sorted
    }
}

impl From<Vec<HostId>> for Membership {
    fn from(members: Vec<HostId>) -> Self {
        Membership::new(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_exactly_the_members_and_shares_one_copy() {
        let m = Membership::new(vec![HostId(130), HostId(3), HostId(64), HostId(3)]);
        assert_eq!(m.as_slice(), &[HostId(3), HostId(64), HostId(130)]);
        assert_eq!(m.len(), 3);
        for id in 0..200 {
            assert_eq!(m.contains(HostId(id)), [3, 64, 130].contains(&id), "{id}");
        }
        assert!(!m.contains(HostId(u32::MAX)));
        let copy = m.clone();
        assert!(Rc::ptr_eq(&m.0, &copy.0));
        assert!(Membership::new(Vec::new()).is_empty());
        assert!(!Membership::new(Vec::new()).contains(HostId(0)));
    }
}
