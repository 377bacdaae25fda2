//! A validation cache registrars share: the outcome of validating one
//! file content (its JSON checks and its signature) is worked out by the
//! first registrar that reads those bytes, and every other registrar that
//! reads the same bytes for the same agent takes the answer from the
//! cache instead of verifying the signature again.
//!
//! It models a deployment whose registrars share a verification service
//! or cache (issue 12, item 5). Validation is a pure function of the agent
//! named by the file and the bytes, so a shared answer is never a wrong
//! answer; what changes is the work done. Entries are keyed by the
//! SHA-256 of the agent id and the bytes, and kept for the whole run (a
//! registrar that restarts still finds them: the cache is not the
//! registrar's memory). Registrars without one validate every read
//! themselves, as before.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use foldhash::fast::FixedState;
use sha2::{Digest, Sha256};

use crate::protocols::consensus::SignatureVerifier;
use crate::protocols::registration::file::{ValidRegistration, validate_with};
use crate::protocols::registration::observe::ValidationErrorKind;

/// What validating one content gave.
type Verdict = Result<ValidRegistration, ValidationErrorKind>;

/// A handle on one validation cache; clones share it.
#[derive(Clone, Default)]
pub struct SharedValidation {
    /// By content key; only looked up, never iterated (hashed with a fixed
    /// seed: 400,000 lookups at 100,000 miners and 4 registrars).
    entries: Rc<RefCell<HashMap<[u8; 32], Verdict, FixedState>>>,
    stats: Rc<RefCell<CacheStats>>,
}

/// How a shared cache was used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Validations worked out (signature verified) and stored.
    pub misses: u64,
    /// Validations answered from the cache.
    pub hits: u64,
}

impl SharedValidation {
    /// An empty cache.
    pub fn new() -> Self {
        SharedValidation::default()
    }

    /// The outcome of validating `bytes` as `agent`'s file: from the cache
    /// when some registrar already validated these bytes for this agent,
    /// otherwise validated now (the signature checked by `verifier`) and
    /// stored.
    pub fn validate(&self, agent: &str, bytes: &[u8], verifier: &dyn SignatureVerifier) -> Verdict {
        let key = content_key(agent, bytes);
        if let Some(verdict) = self.entries.borrow().get(&key) {
            self.stats.borrow_mut().hits += 1;
            return verdict.clone();
        }
        let verdict = validate_with(agent, bytes, verifier);
        self.stats.borrow_mut().misses += 1;
        self.entries.borrow_mut().insert(key, verdict.clone());
        verdict
    }

    /// How it has been used so far.
    pub fn stats(&self) -> CacheStats {
        *self.stats.borrow()
    }
}

/// SHA-256 of the agent id (length-prefixed) and the bytes.
fn content_key(agent: &str, bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(u64::try_from(agent.len()).unwrap_or(u64::MAX).to_le_bytes());
    hasher.update(agent.as_bytes());
    hasher.update(bytes);
    hasher.finalize().into()
}

impl fmt::Debug for SharedValidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedValidation")
            .field("entries", &self.entries.borrow().len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Two handles are equal when they share one cache.
impl PartialEq for SharedValidation {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.entries, &other.entries)
    }
}

impl Eq for SharedValidation {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::protocols::consensus::DirectVerifier;
    use crate::protocols::registration::file::{Registration, encode, validate};
    use crate::time::SimTime;

    fn file(agent: &str, seed: u8) -> Vec<u8> {
        let id = Identity::from_secret([seed; 32]);
        encode(&Registration::signed(
            &id,
            agent,
            SimTime::from_nanos(1_000_000_000),
        ))
    }

    #[test]
    fn one_content_is_validated_once_and_shared_by_every_handle() {
        let cache = SharedValidation::new();
        let other = cache.clone();
        let bytes = file("miner-1", 7);
        let first = cache
            .validate("miner-1", &bytes, &DirectVerifier)
            .expect("valid");
        let second = other
            .validate("miner-1", &bytes, &DirectVerifier)
            .expect("valid");
        assert_eq!(first.wallet_address(), second.wallet_address());
        assert_eq!(cache.stats(), CacheStats { misses: 1, hits: 1 });
        assert_eq!(cache, other);
        assert_ne!(cache, SharedValidation::new());
    }

    #[test]
    fn the_answer_is_the_same_as_validating_directly() {
        let cache = SharedValidation::new();
        let bytes = file("miner-1", 7);
        let mut torn = bytes.clone();
        torn.truncate(bytes.len() / 2);
        for (agent, content) in [("miner-1", &bytes), ("miner-2", &bytes), ("miner-1", &torn)] {
            for _ in 0..2 {
                assert_eq!(
                    cache
                        .validate(agent, content, &DirectVerifier)
                        .map(|v| v.wallet_address().to_string()),
                    validate(agent, content).map(|v| v.wallet_address().to_string()),
                );
            }
        }
        // Another agent's name over the same bytes is another entry.
        assert_eq!(cache.stats(), CacheStats { misses: 3, hits: 3 });
    }
}
