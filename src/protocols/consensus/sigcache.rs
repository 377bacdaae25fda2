//! A per-run signature cache: each distinct signed message is verified
//! once, however many validators receive it.
//!
//! With n validators every vote reaches n − 1 hosts, so without a cache the
//! same signature is checked n − 1 times. Verification is a pure function of
//! (key, domain, message, signature), so answering repeats from a cache
//! changes no result and keeps runs deterministic. Entries are keyed by the
//! SHA-256 of those four inputs (length-prefixed) and held in a `BTreeMap`.
//!
//! The peer registry also tells its cache of every hello it signs
//! ([`SignatureVerifier::signed`]): an ed25519 signature made with the
//! secret key always verifies, so the one check of those exact bytes is
//! answered without verifying (then forgotten, so the cache does not grow
//! with the hellos of a long run). Bytes the run did not sign — a forged or
//! damaged hello — are verified as before.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use node_logic::identity::{PublicKey, SIGNATURE_LEN};
use node_logic::protocols::consensus::SignatureVerifier;
use sha2::{Digest, Sha256};

/// Caches verification results for one run (single-threaded, shared by the
/// run's hosts through an `Rc`).
#[derive(Debug, Default)]
pub struct SignatureCache {
    results: RefCell<BTreeMap<[u8; 32], bool>>,
    /// Signatures the run made itself and nobody has checked yet; each is
    /// answered once without verifying, then forgotten (see
    /// [`SignatureVerifier::signed`]).
    vouched: RefCell<BTreeSet<[u8; 32]>>,
    checks: Cell<u64>,
    hits: Cell<u64>,
}

impl SignatureCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
    /// Signatures actually verified (cache misses).
    pub fn checks(&self) -> u64 {
        self.checks.get()
    }
    /// Verifications answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }
}

impl SignatureVerifier for SignatureCache {
    fn verify(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool {
        let id = entry_id(key, domain, message, signature);
        if self.vouched.borrow_mut().remove(&id) {
            self.hits.set(self.hits.get() + 1);
            return true;
        }
        if let Some(&known) = self.results.borrow().get(&id) {
            self.hits.set(self.hits.get() + 1);
            return known;
        }
        self.checks.set(self.checks.get() + 1);
        let valid = key.verify(domain, message, signature).is_ok();
        self.results.borrow_mut().insert(id, valid);
        valid
    }

    fn signed(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) {
        let id = entry_id(key, domain, message, signature);
        self.vouched.borrow_mut().insert(id);
    }
}

/// The SHA-256 of the four inputs of a check, each length-prefixed.
fn entry_id(
    key: &PublicKey,
    domain: &[u8],
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [&key.0[..], domain, message, &signature[..]] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use node_logic::identity::Identity;

    #[test]
    fn answers_like_a_direct_check_and_verifies_each_message_once() {
        let id = Identity::from_secret([1; 32]);
        let sig = id.sign(b"d", b"m");
        let cache = SignatureCache::new();
        for _ in 0..5 {
            assert!(cache.verify(&id.public_key(), b"d", b"m", &sig));
        }
        assert!(!cache.verify(&id.public_key(), b"d", b"other", &sig));
        assert!(!cache.verify(&id.public_key(), b"d", b"other", &sig));
        assert_eq!((cache.checks(), cache.hits()), (2, 5));
        let mut forged = sig;
        forged[0] ^= 1;
        assert!(
            !cache.verify(&id.public_key(), b"d", b"m", &forged),
            "a different signature is a different entry"
        );
    }

    #[test]
    fn a_signature_the_run_made_is_answered_once_without_verifying() {
        let id = Identity::from_secret([1; 32]);
        let sig = id.sign(b"d", b"m");
        let cache = SignatureCache::new();
        cache.signed(&id.public_key(), b"d", b"m", &sig);
        assert!(cache.verify(&id.public_key(), b"d", b"m", &sig));
        assert_eq!((cache.checks(), cache.hits()), (0, 1));
        // Used up: a second copy (a duplicated datagram) is verified.
        assert!(cache.verify(&id.public_key(), b"d", b"m", &sig));
        assert_eq!((cache.checks(), cache.hits()), (1, 1));
        // Vouching covers those exact bytes only.
        cache.signed(&id.public_key(), b"d", b"m", &sig);
        let mut forged = sig;
        forged[5] ^= 1;
        assert!(!cache.verify(&id.public_key(), b"d", b"m", &forged));
        assert!(!cache.verify(&id.public_key(), b"d", b"n", &sig));
        assert_eq!(cache.checks(), 3);
    }
}
