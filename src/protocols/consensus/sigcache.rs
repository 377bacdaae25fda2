//! A per-run signature cache: each distinct signed message is verified
//! once, however many validators receive it.
//!
//! With n validators every vote reaches n − 1 hosts, so without a cache the
//! same signature is checked n − 1 times. Verification is a pure function of
//! (key, domain, message, signature), so answering repeats from a cache
//! changes no result and keeps runs deterministic. An entry holds the
//! four inputs themselves and a hit needs all four byte-equal, so the cache
//! is exact; entries are found through a hash table keyed by a fast
//! non-cryptographic hash of the inputs (`foldhash` with a fixed seed: only
//! lookups, never iteration, so no order reaches a run's outputs). Keeping
//! the inputs costs memory (a transaction's signed bytes per distinct
//! transaction), but a lookup per delivery is one cheap hash and one
//! comparison instead of a SHA-256 of the signed bytes (issue 11: every
//! transaction reaches every validator, so that hash dominated).
//!
//! Signatures the run made itself are known valid without verifying: the
//! peer registry tells its cache of every hello it signs, load clients
//! tell the consensus cache of every transaction they sign
//! ([`SignatureVerifier::signed`]). An ed25519 signature made with the
//! secret key always verifies, so the entry is stored as valid at signing
//! time and no curve arithmetic is done for it. Only those exact bytes are
//! vouched for: anything else (a forged or damaged copy) is verified as
//! before. The first check asked of a vouched entry still counts as a
//! check (`checks`): the count is of distinct signatures the hosts needed
//! checked, whoever answered it, so `consensus.signature_checks` means the
//! same with and without vouching (`vouched` says how many needed no
//! arithmetic).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use node_logic::identity::{PreparedKey, PublicKey, SIGNATURE_LEN};
use node_logic::io::SharedBytes;
use node_logic::protocols::consensus::SignatureVerifier;

/// The inputs of one check (owned), and its answer.
#[derive(Debug)]
struct Entry {
    key: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
    /// Bytes of `domain_and_message` that are the domain.
    domain_len: usize,
    domain_and_message: Box<[u8]>,
    valid: bool,
    /// Made by the run and not yet asked for: the first check of it counts
    /// as a check, later ones as hits.
    unasked: bool,
}

/// The inputs of one check (borrowed).
#[derive(Clone, Copy)]
struct Check<'a> {
    key: &'a PublicKey,
    domain: &'a [u8],
    message: &'a [u8],
    signature: &'a [u8; SIGNATURE_LEN],
}

impl Check<'_> {
    /// The table hash (fixed seed: the same in every run), over the key,
    /// the signature and the lengths: an ed25519 signature is 64 bytes the
    /// signer derives from the message, so two messages of one key almost
    /// never share it, and hashing the message too (a transaction's 200 or
    /// more bytes, once per validator it reaches) bought nothing. `is`
    /// still compares everything.
    fn hash(&self) -> u64 {
        let mut h = FixedState::with_seed(0).build_hasher();
        h.write(&self.key.0);
        h.write(self.signature);
        h.write_usize(self.domain.len());
        h.write_usize(self.message.len());
        h.finish()
    }
    /// Whether `entry` holds exactly these inputs.
    fn is(&self, entry: &Entry) -> bool {
        let (domain, message) = entry.domain_and_message.split_at(entry.domain_len);
        entry.key == self.key.0
            && entry.signature == *self.signature
            && domain == self.domain
            && message == self.message
    }
    fn entry(&self, valid: bool, unasked: bool) -> Entry {
        Entry {
            key: self.key.0,
            signature: *self.signature,
            domain_len: self.domain.len(),
            domain_and_message: [self.domain, self.message].concat().into(),
            valid,
            unasked,
        }
    }
}

/// Slots of [`SignatureCache::recent`]: a broadcast's copies reach their
/// hosts within microseconds of each other, so a few recent windows
/// answer nearly every copy after the first.
const RECENT: usize = 1024;
/// The longest domain a recent answer keeps (the protocols' are shorter;
/// a longer one is answered through the table).
const RECENT_DOMAIN: usize = 32;

/// A check of a datagram window answered lately ([`SignatureCache::recent`]):
/// everything but the message itself, which is the window (its buffer kept
/// alive, hence unchanged).
#[derive(Debug)]
struct Recent {
    hash: u64,
    window: SharedBytes,
    key: [u8; 32],
    signature: [u8; SIGNATURE_LEN],
    domain: [u8; RECENT_DOMAIN],
    domain_len: u8,
    valid: bool,
}

impl Recent {
    /// Remembers `check`, whose message is `window`, answered `valid`;
    /// `None` if its domain is too long to keep.
    fn of(hash: u64, check: &Check<'_>, window: &SharedBytes, valid: bool) -> Option<Recent> {
        let mut domain = [0; RECENT_DOMAIN];
        domain
            .get_mut(..check.domain.len())?
            .copy_from_slice(check.domain);
        Some(Recent {
            hash,
            window: window.clone(),
            key: check.key.0,
            signature: *check.signature,
            domain,
            domain_len: check.domain.len() as u8,
            valid,
        })
    }
    /// The answer if `check` (of `window`) is exactly the remembered one:
    /// the same window of the same buffer, key, signature and domain.
    fn answer(&self, hash: u64, check: &Check<'_>, window: &SharedBytes) -> Option<bool> {
        let same = self.hash == hash
            && self.window.same_window(window)
            && self.key == check.key.0
            && self.signature == *check.signature
            && self.domain[..usize::from(self.domain_len)] == *check.domain;
        same.then_some(self.valid)
    }
}

/// Rehashes an entry when the table grows.
fn entry_hash(entry: &Entry) -> u64 {
    let (domain, message) = entry.domain_and_message.split_at(entry.domain_len);
    Check {
        key: &PublicKey(entry.key),
        domain,
        message,
        signature: &entry.signature,
    }
    .hash()
}

/// Caches verification results for one run (single-threaded, shared by the
/// run's hosts through an `Rc`).
#[derive(Debug)]
pub struct SignatureCache {
    results: RefCell<HashTable<Entry>>,
    /// Keys decoded once (`None`: not a valid key), so a miss does not
    /// decompress its key's curve point again.
    keys: RefCell<BTreeMap<PublicKey, Option<PreparedKey>>>,
    /// Checks of datagram windows answered lately, by hash
    /// ([`SignatureVerifier::verify_window`]): another copy of the same
    /// datagram is answered here without touching the table or comparing
    /// the message's bytes (issue 11: every transaction reaches every
    /// validator). Exact, since a kept window's bytes cannot change; and
    /// the same answer and count as the table's, since a table entry is
    /// never changed once asked.
    recent: RefCell<Box<[Option<Recent>]>>,
    checks: Cell<u64>,
    hits: Cell<u64>,
    vouched: Cell<u64>,
}

impl Default for SignatureCache {
    fn default() -> Self {
        SignatureCache {
            results: RefCell::default(),
            keys: RefCell::default(),
            recent: RefCell::new((0..RECENT).map(|_| None).collect()),
            checks: Cell::default(),
            hits: Cell::default(),
            vouched: Cell::default(),
        }
    }
}

impl SignatureCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
    /// Distinct signatures checked (cache misses, and the first check of
    /// each signature the run made itself).
    pub fn checks(&self) -> u64 {
        self.checks.get()
    }
    /// Of [`Self::checks`], those answered without verifying: signatures
    /// the run made itself ([`SignatureVerifier::signed`]).
    pub fn vouched(&self) -> u64 {
        self.vouched.get()
    }
    /// Verifications answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    /// The answer to `check` (whose [`Check::hash`] is `hash`): from the
    /// table, or verified and remembered.
    fn answer(&self, check: &Check<'_>, hash: u64) -> bool {
        let (key, domain, message, signature) =
            (check.key, check.domain, check.message, check.signature);
        if let Some(known) = self.results.borrow_mut().find_mut(hash, |e| check.is(e)) {
            if known.unasked {
                known.unasked = false;
                self.checks.set(self.checks.get() + 1);
                self.vouched.set(self.vouched.get() + 1);
            } else {
                self.hits.set(self.hits.get() + 1);
            }
            return known.valid;
        }
        self.checks.set(self.checks.get() + 1);
        let prepared = *self
            .keys
            .borrow_mut()
            .entry(*key)
            .or_insert_with(|| key.prepare().ok());
        let valid = prepared.is_some_and(|k| k.verify(domain, message, signature).is_ok());
        self.results
            .borrow_mut()
            .insert_unique(hash, check.entry(valid, false), entry_hash);
        valid
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
        let check = Check {
            key,
            domain,
            message,
            signature,
        };
        self.answer(&check, check.hash())
    }

    fn verify_window(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &SharedBytes,
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool {
        let check = Check {
            key,
            domain,
            message: message.as_slice(),
            signature,
        };
        let hash = check.hash();
        let at = hash as usize % RECENT;
        if let Some(valid) = self.recent.borrow()[at]
            .as_ref()
            .and_then(|r| r.answer(hash, &check, message))
        {
            self.hits.set(self.hits.get() + 1);
            return valid;
        }
        let valid = self.answer(&check, hash);
        self.recent.borrow_mut()[at] = Recent::of(hash, &check, message, valid);
        valid
    }

    fn signed(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) {
        let check = Check {
            key,
            domain,
            message,
            signature,
        };
        let hash = check.hash();
        let mut results = self.results.borrow_mut();
        if results.find(hash, |e| check.is(e)).is_none() {
            results.insert_unique(hash, check.entry(true, true), entry_hash);
        }
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

    #[test]
    fn a_hit_needs_all_four_inputs_byte_equal() {
        let id = Identity::from_secret([2; 32]);
        let other = Identity::from_secret([3; 32]);
        let sig = id.sign(b"ab", b"c");
        let cache = SignatureCache::new();
        assert!(cache.verify(&id.public_key(), b"ab", b"c", &sig));
        // The same bytes split differently between domain and message.
        assert!(!cache.verify(&id.public_key(), b"a", b"bc", &sig));
        assert!(!cache.verify(&other.public_key(), b"ab", b"c", &sig));
        assert_eq!((cache.checks(), cache.hits()), (3, 0));
        assert!(cache.verify(&id.public_key(), b"ab", b"c", &sig));
        assert_eq!((cache.checks(), cache.hits()), (3, 1));
        // A key that is no curve point fails, as a direct check does.
        let bad = (0..=255u8)
            .map(|b| PublicKey([b; 32]))
            .find(|k| k.prepare().is_err())
            .expect("some repeated byte is no curve point");
        assert!(bad.verify(b"ab", b"c", &sig).is_err());
        assert!(!cache.verify(&bad, b"ab", b"c", &sig));
        assert!(!cache.verify(&bad, b"ab", b"d", &sig));
        assert_eq!(cache.checks(), 5);
    }

    #[test]
    fn a_signature_the_run_made_is_known_valid_and_counted_once() {
        let id = Identity::from_secret([1; 32]);
        let sig = id.sign(b"d", b"m");
        let cache = SignatureCache::new();
        cache.signed(&id.public_key(), b"d", b"m", &sig);
        cache.signed(&id.public_key(), b"d", b"m", &sig);
        assert_eq!((cache.checks(), cache.hits(), cache.vouched()), (0, 0, 0));
        assert!(cache.verify(&id.public_key(), b"d", b"m", &sig));
        assert_eq!((cache.checks(), cache.hits(), cache.vouched()), (1, 0, 1));
        // Every further copy (another validator, a duplicate) is a hit.
        assert!(cache.verify(&id.public_key(), b"d", b"m", &sig));
        assert_eq!((cache.checks(), cache.hits(), cache.vouched()), (1, 1, 1));
        // Vouching covers those exact bytes only: others are verified.
        let mut forged = sig;
        forged[5] ^= 1;
        assert!(!cache.verify(&id.public_key(), b"d", b"m", &forged));
        assert!(!cache.verify(&id.public_key(), b"d", b"n", &sig));
        assert_eq!((cache.checks(), cache.vouched()), (3, 1));
    }

    /// Copies of one datagram checked through `verify_window` get the
    /// answers and the counts plain checks get, whatever is vouched,
    /// forged, or equal in bytes but in another buffer; a domain too long
    /// to keep is answered through the table.
    #[test]
    fn windows_are_answered_as_plain_checks_are() {
        let id = Identity::from_secret([6; 32]);
        let key = id.public_key();
        let sig = id.sign(b"tx", b"pay 5");
        let mut forged = sig;
        forged[1] ^= 2;
        let long_domain = [b'd'; RECENT_DOMAIN + 1];
        let long_sig = id.sign(&long_domain, b"pay 5");
        let buffer = |bytes: &[u8]| {
            let payload = node_logic::io::Payload::from(bytes);
            SharedBytes::window(&payload, 2, 5).unwrap()
        };
        let first = buffer(b"..pay 5");
        let elsewhere = buffer(b"xxpay 5");
        let changed = buffer(b"..pay 6");
        let checks: Vec<(&[u8], &SharedBytes, [u8; 64])> = vec![
            (b"tx", &first, sig),
            (b"tx", &first, sig),
            (b"tx", &elsewhere, sig),
            (b"tx", &first, sig),
            (b"tx", &changed, sig),
            (b"tx", &changed, sig),
            (b"tx", &first, forged),
            (b"tx", &first, forged),
            (b"ty", &first, sig),
            (&long_domain, &first, long_sig),
            (&long_domain, &first, long_sig),
        ];
        let plain = SignatureCache::new();
        let windows = SignatureCache::new();
        for cache in [&plain, &windows] {
            cache.signed(&key, b"tx", b"pay 5", &sig);
        }
        for (domain, window, sig) in &checks {
            let a = plain.verify(&key, domain, window.as_slice(), sig);
            let b = windows.verify_window(&key, domain, window, sig);
            assert_eq!(a, b);
        }
        let counts = |c: &SignatureCache| (c.checks(), c.hits(), c.vouched());
        assert_eq!(counts(&windows), counts(&plain));
        assert_eq!(counts(&plain), (5, 6, 1));
    }

    #[test]
    fn vouching_changes_no_answer_and_no_count() {
        let ids: Vec<Identity> = (0..4)
            .map(|i| Identity::from_secret([i + 10; 32]))
            .collect();
        let checks: Vec<_> = ids
            .iter()
            .flat_map(|id| {
                let sig = id.sign(b"tx", id.public_key().0.as_slice());
                let mut forged = sig;
                forged[0] ^= 0x40;
                [(id.public_key(), sig), (id.public_key(), forged)]
            })
            .collect();
        let plain = SignatureCache::new();
        let vouching = SignatureCache::new();
        for (id, (key, sig)) in ids.iter().zip(checks.iter().step_by(2)) {
            vouching.signed(key, b"tx", id.public_key().0.as_slice(), sig);
        }
        for _ in 0..3 {
            for (key, sig) in &checks {
                let a = plain.verify(key, b"tx", key.0.as_slice(), sig);
                let b = vouching.verify(key, b"tx", key.0.as_slice(), sig);
                assert_eq!(a, b);
            }
        }
        assert_eq!((plain.checks(), plain.hits()), (8, 16));
        assert_eq!((vouching.checks(), vouching.hits()), (8, 16));
        assert_eq!((plain.vouched(), vouching.vouched()), (0, 4));
    }
}
