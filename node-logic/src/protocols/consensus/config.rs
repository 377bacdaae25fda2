//! What a validator is told, and the arithmetic of its validator set.

use crate::HostId;
use crate::identity::PublicKey;
use crate::time::SimDuration;

/// The largest validator set a validator takes part in. Certificates and
/// new-view messages carry up to one signed item per validator; past 256
/// validators they outgrow a datagram and travel as fragments
/// ([`crate::fragment`]), and they must fit a message
/// ([`crate::codec::MAX_MESSAGE`]): at 2048 validators the largest
/// new-view message (a quorum of view changes with prepared summaries and
/// a prepared certificate) is about 440 KB.
pub const MAX_VALIDATORS: usize = 2048;

/// How a validator behaves; built by the driver from the scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusConfig {
    /// This host.
    pub me: HostId,
    /// Every validator and its key, sorted by host id (the validator keeps
    /// them sorted and drops duplicate ids, keeping the first). The leader
    /// of view `v` is `validators[v mod n]`.
    pub validators: Vec<(HostId, PublicKey)>,
    /// Minimum time from one finalization (or the start) to the next
    /// proposal.
    pub block_interval: SimDuration,
    /// How long a view may go without a finalization (after the block
    /// interval) before validators change view. Doubles with every view
    /// that fails in a row, up to `max_view_timeout`, back to this value
    /// after the next finalization (see [`view_timeout_after`]).
    pub view_timeout: SimDuration,
    /// The longest a view timeout grows to. Long enough for a view to
    /// complete over the network (a few one-way delays), short enough that
    /// a healed network does not wait out timeouts that grew during a
    /// fault. Raised to `view_timeout` if below it.
    pub max_view_timeout: SimDuration,
    /// Fewer validators than this (and never fewer than 3) and nobody
    /// proposes: the validator stays idle.
    pub min_validators: u32,
    /// **TEST ONLY — UNSAFE.** Replaces the quorum size. Any value below
    /// the safe quorum ([`quorum`]) lets two disjoint groups each finalize
    /// a different block at one height. It exists only so tests can prove
    /// that the simulator's agreement checker catches a real divergence.
    /// Never set it in a study meant to model a correct protocol.
    pub quorum_override: Option<u32>,
}

/// The view timeout after `failed` views failed in a row (the first
/// failed view waits `base`): `base × 2^(failed − 1)`, at most `max` (and
/// never below `base`).
pub fn view_timeout_after(base: SimDuration, max: SimDuration, failed: u32) -> SimDuration {
    let doublings = failed.saturating_sub(1).min(63);
    base.saturating_mul(1u64 << doublings).min(max.max(base))
}

/// Byzantine faults `n` validators tolerate: `f = (n - 1) / 3`.
pub const fn fault_tolerance(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// The safe quorum for `n` validators: `ceil((n + f + 1) / 2)`, the
/// smallest size at which any two quorums share at least `f + 1`
/// validators (so at least one honest one). It equals `2f + 1` when
/// `n = 3f + 1`; for other `n` it is larger than `2f + 1`, which would not
/// be safe there (with `n = 5`, two quorums of 3 may share only one,
/// possibly faulty, validator).
pub const fn quorum(n: usize) -> usize {
    (n + fault_tolerance(n) + 2) / 2
}

/// The validator set with its quorum sizes, looked up by host id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    members: Vec<(HostId, PublicKey)>,
    quorum: usize,
}

impl ValidatorSet {
    /// The set of `validators` (sorted, duplicate ids dropped) with the safe
    /// quorum, or `quorum_override` (clamped to `1..=n`; see
    /// [`ConsensusConfig::quorum_override`]).
    pub fn new(validators: &[(HostId, PublicKey)], quorum_override: Option<u32>) -> Self {
        let mut members = validators.to_vec();
        members.sort_by_key(|&(id, _)| id);
        members.dedup_by_key(|&mut (id, _)| id);
        let n = members.len();
        let quorum = match quorum_override {
            Some(q) => (q as usize).clamp(1, n.max(1)),
            None => quorum(n),
        };
        ValidatorSet { members, quorum }
    }
    /// Number of validators.
    pub fn len(&self) -> usize {
        self.members.len()
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    /// Faults tolerated, `f`.
    pub fn f(&self) -> usize {
        fault_tolerance(self.len())
    }
    /// Votes needed for a certificate.
    pub fn quorum(&self) -> usize {
        self.quorum
    }
    /// The key of `host`, if it is a validator.
    pub fn key(&self, host: HostId) -> Option<&PublicKey> {
        self.members
            .binary_search_by_key(&host, |&(id, _)| id)
            .ok()
            .map(|i| &self.members[i].1)
    }
    /// `host`'s place in the set (its index in host id order), if a member.
    pub fn place(&self, host: HostId) -> Option<usize> {
        self.members.binary_search_by_key(&host, |&(id, _)| id).ok()
    }
    /// Whether `host` is a validator.
    pub fn contains(&self, host: HostId) -> bool {
        self.key(host).is_some()
    }
    /// The leader of `view`.
    pub fn leader(&self, view: u64) -> Option<HostId> {
        let n = self.len() as u64;
        // `view % n < n`, so the index is in range and fits usize.
        (n > 0).then(|| self.members[(view % n) as usize].0)
    }
    /// The validators' ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = HostId> + '_ {
        self.members.iter().map(|&(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_timeouts_double_up_to_the_ceiling() {
        let s = SimDuration::from_secs;
        let after = |failed| view_timeout_after(s(10), s(40), failed);
        assert_eq!(
            (0..6).map(after).collect::<Vec<_>>(),
            [s(10), s(10), s(20), s(40), s(40), s(40)]
        );
        assert_eq!(
            view_timeout_after(s(10), s(1), 3),
            s(10),
            "never below the base"
        );
        assert_eq!(
            view_timeout_after(s(10), SimDuration::MAX, u32::MAX),
            SimDuration::MAX
        );
    }

    #[test]
    fn quorum_arithmetic() {
        // (n, f, q)
        let table = [
            (3, 0, 2),
            (4, 1, 3),
            (5, 1, 4),
            (6, 1, 4),
            (7, 2, 5),
            (8, 2, 6),
            (9, 2, 6),
            (10, 3, 7),
            (100, 33, 67),
        ];
        for (n, f, q) in table {
            assert_eq!((fault_tolerance(n), quorum(n)), (f, q), "n = {n}");
        }
        for n in 3..=300usize {
            let (f, q) = (fault_tolerance(n), quorum(n));
            assert!(n > 3 * f, "n = {n}");
            // Two quorums share at least f + 1 validators...
            assert!(2 * q > n + f, "n = {n}");
            // ...and the honest validators alone form one (liveness).
            assert!(q <= n - f, "n = {n}");
            if n % 3 == 1 {
                assert_eq!(q, 2 * f + 1, "n = {n}");
            }
        }
    }

    #[test]
    fn set_sorts_dedups_and_rotates_leaders() {
        let k = |b| PublicKey([b; 32]);
        let set = ValidatorSet::new(
            &[
                (HostId(5), k(5)),
                (HostId(1), k(1)),
                (HostId(3), k(3)),
                (HostId(1), k(9)),
            ],
            None,
        );
        assert_eq!(set.len(), 3);
        assert_eq!(
            set.ids().collect::<Vec<_>>(),
            [HostId(1), HostId(3), HostId(5)]
        );
        assert_eq!(set.key(HostId(1)), Some(&k(1)));
        assert_eq!(set.key(HostId(2)), None);
        assert_eq!(
            (0..4).map(|v| set.leader(v).unwrap()).collect::<Vec<_>>(),
            [HostId(1), HostId(3), HostId(5), HostId(1)]
        );
        assert_eq!(set.quorum(), 2);
        assert_eq!(ValidatorSet::new(&[(HostId(1), k(1))], Some(0)).quorum(), 1);
        assert_eq!(ValidatorSet::new(&[], None).leader(3), None);
    }
}
