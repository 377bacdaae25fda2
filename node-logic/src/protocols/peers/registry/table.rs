//! The table of known peers: ids in a sorted vector and their states in a
//! parallel one.
//!
//! It replaced a `BTreeMap<HostId, PeerState>`: every datagram looks its
//! sender up, and with thousands of hosts each map's nodes (eleven large
//! states, the length field past them) were cache misses. Here the search
//! runs over a contiguous array of 4-byte ids and touches one state.
//! Insertions and removals shift the vectors, which is fine: they happen
//! when a peer is first heard of or forgotten, and the table is bounded
//! (by the membership, or by `known` with bounded views). Iteration is in
//! id order, as the map's was, so runs are unchanged.
//!
//! Lookups first try where the id would sit if the table held a run of
//! consecutive ids (a full mesh of hosts numbered in a row, every member
//! known but this host): one probe instead of a binary search's eight
//! (two hundred members), each of which was a cache miss once the tables
//! no longer fit the cache. Any other table falls back to the search; the
//! position found is the same either way (ids are unique).

use super::PeerState;
use crate::HostId;

/// Known peers by id, iterated in id order.
#[derive(Clone, Debug, Default)]
pub(super) struct PeerTable {
    ids: Vec<HostId>,
    states: Vec<PeerState>,
}

impl PeerTable {
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Where `id` is (`Ok`) or would be inserted (`Err`), as
    /// `binary_search` answers; see the module docs for the first probes.
    #[inline]
    fn find(&self, id: &HostId) -> Result<usize, usize> {
        if let Some(first) = self.ids.first() {
            // Past the ids below it, or one further for a hole (this host).
            let guess = id.0.wrapping_sub(first.0) as usize;
            for i in [guess, guess.wrapping_sub(1)] {
                if self.ids.get(i) == Some(id) {
                    return Ok(i);
                }
            }
        }
        self.ids.binary_search(id)
    }

    pub(super) fn contains_key(&self, id: &HostId) -> bool {
        self.find(id).is_ok()
    }

    pub(super) fn get(&self, id: &HostId) -> Option<&PeerState> {
        let i = self.find(id).ok()?;
        self.states.get(i)
    }

    pub(super) fn get_mut(&mut self, id: &HostId) -> Option<&mut PeerState> {
        let i = self.find(id).ok()?;
        self.states.get_mut(i)
    }

    /// The state of `id`, inserted with `make` if it is not known.
    pub(super) fn get_or_insert_with(
        &mut self,
        id: HostId,
        make: impl FnOnce() -> PeerState,
    ) -> &mut PeerState {
        let i = match self.find(&id) {
            Ok(i) => i,
            Err(i) => {
                self.ids.insert(i, id);
                self.states.insert(i, make());
                i
            }
        };
        &mut self.states[i]
    }

    /// Inserts or replaces the state of `id`.
    pub(super) fn insert(&mut self, id: HostId, state: PeerState) {
        match self.find(&id) {
            Ok(i) => self.states[i] = state,
            Err(i) => {
                self.ids.insert(i, id);
                self.states.insert(i, state);
            }
        }
    }

    pub(super) fn remove(&mut self, id: &HostId) -> Option<PeerState> {
        let i = self.find(id).ok()?;
        self.ids.remove(i);
        Some(self.states.remove(i))
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &HostId> + '_ {
        self.ids.iter()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &PeerState> + '_ {
        self.states.iter()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&HostId, &PeerState)> + '_ {
        self.ids.iter().zip(self.states.iter())
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&HostId, &mut PeerState)> + '_ {
        self.ids.iter().zip(self.states.iter_mut())
    }
}

impl FromIterator<(HostId, PeerState)> for PeerTable {
    /// As a map would: sorted by id, the last state of a repeated id kept.
    fn from_iter<I: IntoIterator<Item = (HostId, PeerState)>>(iter: I) -> Self {
        let mut table = PeerTable::default();
        for (id, state) in iter {
            table.insert(id, state);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut t: PeerTable = [5, 1, 9, 1]
            .into_iter()
            .map(|i| (HostId(i), PeerState::new(i as i32)))
            .collect();
        assert_eq!(
            t.keys().copied().collect::<Vec<_>>(),
            [HostId(1), HostId(5), HostId(9)]
        );
        assert_eq!(t.get(&HostId(5)).map(|s| s.score), Some(5));
        t.get_or_insert_with(HostId(3), || PeerState::new(3)).score += 10;
        t.get_or_insert_with(HostId(3), || PeerState::new(99)).score += 1;
        assert_eq!(t.get(&HostId(3)).map(|s| s.score), Some(14));
        assert_eq!(t.remove(&HostId(1)).map(|s| s.score), Some(1));
        assert!(!t.contains_key(&HostId(1)) && t.contains_key(&HostId(9)));
        let scores: Vec<i32> = t.iter().map(|(_, s)| s.score).collect();
        assert_eq!(scores, [14, 5, 9]);
        for (_, s) in t.iter_mut() {
            s.score = 0;
        }
        assert!(t.values().all(|s| s.score == 0) && t.len() == 3);
    }

    #[test]
    fn finds_as_a_binary_search_would_in_runs_holes_and_gaps() {
        // A run with this host's hole (0..40 without 17), then sparse ids,
        // and ids far off either end (the guess wraps or overshoots).
        let ids: Vec<u32> = (0..40)
            .filter(|&i| i != 17)
            .chain([41, 45, 46, 1000, u32::MAX - 1])
            .collect();
        let t: PeerTable = ids
            .iter()
            .map(|&i| (HostId(i), PeerState::new(0)))
            .collect();
        for probe in (0..1100).chain([u32::MAX - 2, u32::MAX - 1, u32::MAX]) {
            let id = HostId(probe);
            assert_eq!(t.find(&id), t.ids.binary_search(&id), "{probe}");
        }
        let offset: PeerTable = (5..9).map(|i| (HostId(i), PeerState::new(0))).collect();
        for probe in 0..12 {
            let id = HostId(probe);
            assert_eq!(offset.find(&id), offset.ids.binary_search(&id), "{probe}");
        }
        assert_eq!(PeerTable::default().find(&HostId(3)), Err(0));
    }
}
