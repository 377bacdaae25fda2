//! What each validator of the set sent in a round, by its place in the
//! set (the set is sorted by host id, so place order is id order).
//!
//! A round keeps the hash each voter first voted for in every `(kind,
//! view)` ([`VoterSlots`]: one small slot per member) and each voter's vote
//! for every `(kind, view, hash)` ([`VoteList`]: in arrival order, with the
//! voter's place). Keyed by voter in B-trees, every vote's arrival walked a
//! tree whose values (signed votes of 176 bytes) shifted on each insert;
//! with 1,000 validators that was the largest cost of a block (issue 11).
//! Now an arrival is a slot write and a push; the votes are sorted by place
//! once, when a certificate takes the first `quorum` voters by id, so
//! certificates are exactly what they were. Both keep their allocations
//! from height to height (fresh ones per height fragmented the heap).

/// One value per voter place, at most `len` places.
#[derive(Debug)]
pub(super) struct VoterSlots<T> {
    slots: Vec<Option<T>>,
}

impl<T> VoterSlots<T> {
    /// Empty slots for a set of `places` voters.
    pub(super) fn new(places: usize) -> Self {
        VoterSlots {
            slots: std::iter::repeat_with(|| None).take(places).collect(),
        }
    }

    /// Empty slots for `places` voters, from `spare` if one fits.
    pub(super) fn reuse(spare: &mut Vec<Self>, places: usize) -> Self {
        match spare.pop() {
            Some(slots) if slots.slots.len() == places => slots,
            Some(_) | None => Self::new(places),
        }
    }

    /// Forgets every value, keeping the allocation.
    pub(super) fn clear(&mut self) {
        self.slots.iter_mut().for_each(|slot| *slot = None);
    }

    /// The value of the voter at `place`, if it has one.
    pub(super) fn get(&self, place: usize) -> Option<&T> {
        self.slots.get(place)?.as_ref()
    }

    /// Sets the value of the voter at `place` (within the set).
    pub(super) fn insert(&mut self, place: usize, value: T) {
        if let Some(slot) = self.slots.get_mut(place) {
            *slot = Some(value);
        }
    }
}

/// Votes for one `(kind, view, hash)`: `(place, vote)` in arrival order,
/// at most one per place (the round's first-vote slots see to that).
#[derive(Debug)]
pub(super) struct VoteList<T> {
    votes: Vec<(usize, T)>,
}

impl<T: Clone> VoteList<T> {
    /// An empty list, from `spare` if there is one.
    pub(super) fn reuse(spare: &mut Vec<Self>) -> Self {
        spare.pop().unwrap_or(VoteList { votes: Vec::new() })
    }

    /// Forgets every vote, keeping the allocation.
    pub(super) fn clear(&mut self) {
        self.votes.clear();
    }

    /// Adds the vote of the voter at `place`.
    pub(super) fn push(&mut self, place: usize, vote: T) {
        debug_assert!(self.get(place).is_none(), "one vote per place");
        self.votes.push((place, vote));
    }

    /// Voters counted.
    pub(super) fn len(&self) -> usize {
        self.votes.len()
    }

    /// The vote of the voter at `place`, if counted.
    pub(super) fn get(&self, place: usize) -> Option<&T> {
        self.votes.iter().find(|(p, _)| *p == place).map(|(_, v)| v)
    }

    /// The votes of the first `n` voters in place (host id) order.
    pub(super) fn first(&self, n: usize) -> Vec<T> {
        let mut by_place: Vec<&(usize, T)> = self.votes.iter().collect();
        by_place.sort_unstable_by_key(|(place, _)| *place);
        by_place
            .into_iter()
            .take(n)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The votes with their voters' places, in arrival order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &(usize, T)> {
        self.votes.iter()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_hold_one_value_per_place_and_are_reused_empty() {
        let mut slots = VoterSlots::new(4);
        slots.insert(3, "d");
        slots.insert(1, "b");
        slots.insert(1, "b2");
        slots.insert(9, "out of the set");
        assert_eq!(slots.get(1), Some(&"b2"));
        assert_eq!(
            (slots.get(0), slots.get(3), slots.get(9)),
            (None, Some(&"d"), None)
        );
        slots.clear();
        assert_eq!((slots.get(1), slots.get(3)), (None, None));
        let mut spare = vec![slots];
        let reused = VoterSlots::<&str>::reuse(&mut spare, 4);
        assert!(spare.is_empty() && reused.slots.len() == 4);
        let mut spare = vec![reused];
        assert_eq!(VoterSlots::<&str>::reuse(&mut spare, 5).slots.len(), 5);
    }

    #[test]
    fn vote_lists_give_the_first_voters_by_place_whatever_the_arrival() {
        let mut list = VoteList::reuse(&mut Vec::new());
        for place in [7, 2, 9, 0, 5] {
            list.push(place, place * 10);
        }
        assert_eq!(list.len(), 5);
        assert_eq!(list.first(3), [0, 20, 50]);
        assert_eq!((list.get(9), list.get(1)), (Some(&90), None));
        list.clear();
        let mut spare = vec![list];
        let reused = VoteList::<usize>::reuse(&mut spare);
        assert_eq!((reused.len(), spare.len()), (0, 0));
    }
}
