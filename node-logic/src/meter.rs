//! Counting the work a host does, for drivers that model CPU time.
//!
//! The node never measures time (Sans-IO): a host that is metered counts
//! the operations its inputs cost — signatures made and verified, bytes
//! hashed — in a [`Meter`] its parts share, and the driver reads the count
//! after each input ([`crate::io::Node::take_work`]) and prices it.
//!
//! A verification this host already did (the same key and signature, which
//! verified) is a *cache hit*: [`MeteredVerifier`] keeps a bounded memory
//! of the signatures its host verified, oldest forgotten first, as a real
//! validator's signature cache would. It models the host's own cache and
//! is independent of the simulator's run-wide result cache (which only
//! saves the simulator work and never changes an answer).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::rc::Rc;

use crate::identity::{PUBLIC_KEY_LEN, PublicKey, SIGNATURE_LEN};
use crate::io::{SharedBytes, Work};
use crate::protocols::consensus::SignatureVerifier;

/// Signatures a metered host remembers as verified, unless its driver says
/// otherwise.
pub const DEFAULT_SIGNATURE_CACHE: usize = 8192;

/// The operations a host's inputs cost, counted as they happen; shared by
/// the host's parts (`Rc`) and drained by the host after each input.
#[derive(Debug, Default)]
pub struct Meter {
    verifies: Cell<u64>,
    cached_verifies: Cell<u64>,
    signs: Cell<u64>,
    hashed_bytes: Cell<u64>,
}

impl Meter {
    /// One signature made.
    pub fn sign(&self) {
        self.signs.set(self.signs.get() + 1);
    }
    /// One signature verified in full, or (`cached`) answered by the
    /// host's signature cache.
    pub fn verify(&self, cached: bool) {
        let cell = if cached {
            &self.cached_verifies
        } else {
            &self.verifies
        };
        cell.set(cell.get() + 1);
    }
    /// `bytes` hashed.
    pub fn hashed(&self, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.hashed_bytes
            .set(self.hashed_bytes.get().saturating_add(bytes));
    }
    /// The work counted since the last call, and a fresh count.
    pub fn take(&self) -> Work {
        Work {
            verifies: self.verifies.take(),
            cached_verifies: self.cached_verifies.take(),
            signs: self.signs.take(),
            hashed_bytes: self.hashed_bytes.take(),
        }
    }
}

/// Key and signature of a verified signature.
type Seen = [u8; PUBLIC_KEY_LEN + SIGNATURE_LEN];

/// A [`SignatureVerifier`] that counts each check in a [`Meter`], as a
/// full verification or as a hit of the host's bounded signature cache.
/// Answers come from the wrapped verifier, always.
pub struct MeteredVerifier {
    inner: Rc<dyn SignatureVerifier>,
    meter: Rc<Meter>,
    capacity: usize,
    seen: RefCell<(VecDeque<Seen>, BTreeSet<Seen>)>,
}

impl MeteredVerifier {
    /// Wraps `inner`, counting into `meter`, remembering at most
    /// `capacity` verified signatures (0: no cache, every check is full).
    pub fn new(inner: Rc<dyn SignatureVerifier>, meter: Rc<Meter>, capacity: usize) -> Self {
        MeteredVerifier {
            inner,
            meter,
            capacity,
            seen: RefCell::default(),
        }
    }
}

impl fmt::Debug for MeteredVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteredVerifier")
            .field("capacity", &self.capacity)
            .field("remembered", &self.seen.borrow().0.len())
            .finish()
    }
}

impl SignatureVerifier for MeteredVerifier {
    fn verify(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool {
        let ok = self.inner.verify(key, domain, message, signature);
        self.charge(key, signature, ok)
    }

    fn verify_window(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &SharedBytes,
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool {
        let ok = self.inner.verify_window(key, domain, message, signature);
        self.charge(key, signature, ok)
    }

    fn signed(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) {
        // Vouching saves the simulator work, not the modelled host's: the
        // host is still charged for the check when it is asked for.
        self.inner.signed(key, domain, message, signature);
    }
}

impl MeteredVerifier {
    /// Charges the host's meter for a check whose answer was `ok`: a hit
    /// if this signature verified before (and is remembered); returns `ok`.
    fn charge(&self, key: &PublicKey, signature: &[u8; SIGNATURE_LEN], ok: bool) -> bool {
        let mut id = [0u8; PUBLIC_KEY_LEN + SIGNATURE_LEN];
        id[..PUBLIC_KEY_LEN].copy_from_slice(&key.0);
        id[PUBLIC_KEY_LEN..].copy_from_slice(signature);
        let mut seen = self.seen.borrow_mut();
        // A hit needs a signature that verified before and verifies now (a
        // cache keyed on the message too would miss a reused signature).
        let hit = ok && seen.1.contains(&id);
        self.meter.verify(hit);
        if ok && !hit && self.capacity > 0 {
            if seen.0.len() == self.capacity
                && let Some(oldest) = seen.0.pop_front()
            {
                seen.1.remove(&oldest);
            }
            seen.0.push_back(id);
            seen.1.insert(id);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::protocols::consensus::DirectVerifier;

    #[test]
    fn repeats_are_cache_hits_until_forgotten_and_failures_never_are() {
        let meter = Rc::new(Meter::default());
        let v = MeteredVerifier::new(Rc::new(DirectVerifier), meter.clone(), 2);
        let id = Identity::from_secret([1; 32]);
        let key = id.public_key();
        let sigs: Vec<_> = (0..3u8).map(|i| id.sign(b"d", &[i])).collect();
        assert!(v.verify(&key, b"d", &[0], &sigs[0]));
        assert!(v.verify(&key, b"d", &[0], &sigs[0]));
        assert_eq!(
            meter.take(),
            Work {
                verifies: 1,
                cached_verifies: 1,
                ..Work::default()
            }
        );
        // A reused signature over another message fails and is a full check.
        assert!(!v.verify(&key, b"d", &[9], &sigs[0]));
        assert!(!v.verify(&key, b"d", &[9], &sigs[0]));
        assert_eq!(meter.take().verifies, 2);
        // Capacity 2: the third signature pushes the first out.
        assert!(v.verify(&key, b"d", &[1], &sigs[1]));
        assert!(v.verify(&key, b"d", &[2], &sigs[2]));
        assert!(v.verify(&key, b"d", &[0], &sigs[0]));
        assert!(v.verify(&key, b"d", &[2], &sigs[2]));
        let work = meter.take();
        assert_eq!((work.verifies, work.cached_verifies), (3, 1));
        assert_eq!(meter.take(), Work::default());
    }

    #[test]
    fn signs_and_hashes_add_up() {
        let meter = Meter::default();
        meter.sign();
        meter.sign();
        meter.hashed(1000);
        meter.hashed(24);
        let work = meter.take();
        assert_eq!((work.signs, work.hashed_bytes), (2, 1024));
    }
}
