//! A per-run signature cache: each distinct signed message is verified
//! once, however many validators receive it.
//!
//! With n validators every vote reaches n − 1 hosts, so without a cache the
//! same signature is checked n − 1 times. Verification is a pure function of
//! (key, domain, message, signature), so answering repeats from a cache
//! changes no result and keeps runs deterministic. Entries are keyed by the
//! SHA-256 of those four inputs (length-prefixed) and held in a `BTreeMap`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use node_logic::identity::{PublicKey, SIGNATURE_LEN};
use node_logic::protocols::consensus::SignatureVerifier;
use sha2::{Digest, Sha256};

/// Caches verification results for one run (single-threaded, shared by the
/// run's hosts through an `Rc`).
#[derive(Debug, Default)]
pub struct SignatureCache {
    results: RefCell<BTreeMap<[u8; 32], bool>>,
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
        let mut hasher = Sha256::new();
        for part in [&key.0[..], domain, message, &signature[..]] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let id: [u8; 32] = hasher.finalize().into();
        if let Some(&known) = self.results.borrow().get(&id) {
            self.hits.set(self.hits.get() + 1);
            return known;
        }
        self.checks.set(self.checks.get() + 1);
        let valid = key.verify(domain, message, signature).is_ok();
        self.results.borrow_mut().insert(id, valid);
        valid
    }
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
}
