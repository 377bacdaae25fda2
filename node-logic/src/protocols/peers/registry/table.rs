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
//! A table whose ids form a run (consecutive ids, at most one missing: a
//! full mesh of hosts numbered in a row, every member known but this
//! host) is noted as such whenever its ids change ([`Run`]), and its
//! lookups compute the position without reading the ids at all: the
//! probe of the ids was a cache miss per datagram once a full mesh's
//! tables outgrew the cache. Other tables first try where the id would
//! sit in such a run (one probe instead of a binary search's eight for
//! two hundred members), then search. The position found is the same
//! every way (ids are unique).

use super::PeerState;
use crate::HostId;

/// Known peers by id, iterated in id order.
#[derive(Clone, Debug, Default)]
pub(super) struct PeerTable {
    ids: Vec<HostId>,
    states: Vec<PeerState>,
    /// Whether `ids` form a run, kept up to date by every change to them.
    run: Option<Run>,
}

/// Ids `first`, `first + 1`, ... in a row, with at most one missing
/// (`hole`, strictly between the first and the last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    first: u32,
    hole: Option<u32>,
}

impl Run {
    /// The run `ids` (sorted, unique) form, if they form one.
    fn of(ids: &[HostId]) -> Option<Run> {
        let (first, last) = (ids.first()?.0, ids.last()?.0);
        let span = u64::from(last - first) + 1;
        let len = ids.len() as u64;
        if span == len {
            return Some(Run { first, hole: None });
        }
        if span != len + 1 {
            return None;
        }
        // The first place whose id is not its offset from `first`.
        let (mut low, mut high) = (0, ids.len());
        while low < high {
            let mid = (low + high) / 2;
            if u64::from(ids[mid].0 - first) == mid as u64 {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        Some(Run {
            first,
            hole: Some(first + low as u32),
        })
    }

    /// Where `id` is (`Ok`) or would be inserted (`Err`) among the `len`
    /// ids of this run, as `binary_search` answers.
    #[inline]
    fn position(self, id: u32, len: usize) -> Result<usize, usize> {
        let Some(offset) = id.checked_sub(self.first) else {
            return Err(0);
        };
        let offset = offset as usize;
        let at = match self.hole {
            Some(hole) if id == hole => return Err((hole - self.first) as usize),
            Some(hole) if id > hole => offset - 1,
            Some(_) | None => offset,
        };
        if at < len { Ok(at) } else { Err(len) }
    }
}

impl PeerTable {
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Where `id` is (`Ok`) or would be inserted (`Err`), as
    /// `binary_search` answers; see the module docs for the first probes.
    #[inline]
    fn find(&self, id: &HostId) -> Result<usize, usize> {
        if let Some(run) = self.run {
            return run.position(id.0, self.ids.len());
        }
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

    /// Asks for the line of `id`'s state (see [`crate::prefetch`]): in a
    /// large mesh each message reads a state no other recent one read.
    pub(super) fn prefetch(&self, id: &HostId) {
        if let Some(state) = self.get(id) {
            crate::prefetch::prefetch(state);
        }
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
                self.run = Run::of(&self.ids);
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
                self.run = Run::of(&self.ids);
            }
        }
    }

    pub(super) fn remove(&mut self, id: &HostId) -> Option<PeerState> {
        let i = self.find(id).ok()?;
        self.ids.remove(i);
        self.run = Run::of(&self.ids);
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

    /// Random inserts and removals over a few ids, so tables pass through
    /// runs with and without a hole and through gaps: every lookup answers
    /// as a binary search, and the run is exactly the ids' shape.
    #[test]
    fn the_run_follows_every_change() {
        use rand::RngExt;
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(24);
        let mut t = PeerTable::default();
        let (mut holed, mut whole, mut none) = (0, 0, 0);
        for _ in 0..5_000 {
            let id = HostId(rng.random_range(3..15u32));
            if rng.random_range(0..3u32) == 0 {
                t.remove(&id);
            } else {
                t.get_or_insert_with(id, || PeerState::new(0));
            }
            let expected = brute_force_run(&t.ids);
            assert_eq!(t.run, expected, "{:?}", t.ids);
            match expected {
                Some(Run { hole: Some(_), .. }) => holed += 1,
                Some(Run { hole: None, .. }) => whole += 1,
                None => none += 1,
            }
            for probe in 0..20 {
                let probe = HostId(probe);
                assert_eq!(
                    t.find(&probe),
                    t.ids.binary_search(&probe),
                    "{probe:?} in {:?}",
                    t.ids
                );
            }
        }
        assert!(
            holed > 100 && whole > 100 && none > 100,
            "{holed} {whole} {none}"
        );
    }

    fn brute_force_run(ids: &[HostId]) -> Option<Run> {
        let (first, last) = (ids.first()?.0, ids.last()?.0);
        let missing: Vec<u32> = (first..=last)
            .filter(|i| !ids.contains(&HostId(*i)))
            .collect();
        match missing[..] {
            [] => Some(Run { first, hole: None }),
            [hole] => Some(Run {
                first,
                hole: Some(hole),
            }),
            _ => None,
        }
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
