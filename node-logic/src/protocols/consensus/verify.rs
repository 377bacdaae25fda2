//! Injected signature verification.
//!
//! Every consensus signature check goes through a [`SignatureVerifier`].
//! Checking an ed25519 signature is a pure function of `(key, domain,
//! message, signature)`, so a driver may inject a verifier that caches
//! results (the simulator shares one per run: a vote is verified by every
//! validator that receives it, and again inside every certificate that
//! carries it). [`DirectVerifier`] checks every time.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use crate::identity::{PublicKey, SIGNATURE_LEN};
use crate::io::SharedBytes;

/// Checks one domain-separated signature. Implementations must be pure:
/// the same arguments always give the same answer. The trait is object
/// safe; a validator holds an `Rc<dyn SignatureVerifier>`.
pub trait SignatureVerifier: fmt::Debug {
    /// Whether `signature` is `key`'s signature over `message` in `domain`
    /// (as made by [`crate::identity::Identity::sign`]).
    fn verify(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool;

    /// [`Self::verify`] of a message that lies in a received datagram
    /// (`message` is a window of it): the same answer. A cache may keep
    /// the window (and with it the immutable buffer) and answer a later
    /// check of the very same window, the same datagram delivered to
    /// another host, without comparing its bytes. Default: [`Self::verify`].
    fn verify_window(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &SharedBytes,
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool {
        self.verify(key, domain, message.as_slice(), signature)
    }

    /// Told of a signature this run made itself with `key`'s secret (as
    /// [`crate::identity::Identity::sign`] does). An ed25519 signature made
    /// with the secret always verifies, so a cache may answer the check of
    /// exactly these bytes without verifying; any other bytes (forged,
    /// damaged) are not vouched for and are verified. Default: ignored.
    fn signed(
        &self,
        _key: &PublicKey,
        _domain: &[u8],
        _message: &[u8],
        _signature: &[u8; SIGNATURE_LEN],
    ) {
    }
}

/// Verifies every signature with [`PublicKey::verify`] (strict ed25519).
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectVerifier;

impl SignatureVerifier for DirectVerifier {
    fn verify(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool {
        key.verify(domain, message, signature).is_ok()
    }
}

/// The verifier a host was configured with, or [`DirectVerifier`] when it
/// was given none (real processes, `--no-signature-cache`).
pub fn configured(verifier: &Option<Rc<dyn SignatureVerifier>>) -> &dyn SignatureVerifier {
    match verifier {
        Some(verifier) => &**verifier,
        None => &DirectVerifier,
    }
}

/// Wraps a verifier and counts the checks it is asked for (cache hits
/// included), for the `verifications()` statistic.
pub(crate) struct Counting<'a> {
    pub(crate) inner: &'a dyn SignatureVerifier,
    pub(crate) count: &'a Cell<u64>,
}

impl fmt::Debug for Counting<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting")
            .field("count", &self.count.get())
            .finish()
    }
}

impl SignatureVerifier for Counting<'_> {
    fn verify(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool {
        self.count.set(self.count.get() + 1);
        self.inner.verify(key, domain, message, signature)
    }

    fn verify_window(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &SharedBytes,
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool {
        self.count.set(self.count.get() + 1);
        self.inner.verify_window(key, domain, message, signature)
    }

    fn signed(
        &self,
        key: &PublicKey,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) {
        self.inner.signed(key, domain, message, signature);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn direct_verifier_agrees_with_public_key_verify_and_counting_counts() {
        let id = Identity::from_secret([4; 32]);
        let sig = id.sign(b"d", b"m");
        let count = Cell::new(0);
        let v = Counting {
            inner: &DirectVerifier,
            count: &count,
        };
        assert!(v.verify(&id.public_key(), b"d", b"m", &sig));
        assert!(!v.verify(&id.public_key(), b"d", b"x", &sig));
        assert!(!v.verify(&id.public_key(), b"e", b"m", &sig));
        assert_eq!(count.get(), 3);
        // Object safety: usable behind Rc<dyn _>.
        let rc: std::rc::Rc<dyn SignatureVerifier> = std::rc::Rc::new(DirectVerifier);
        assert!(rc.verify(&id.public_key(), b"d", b"m", &sig));
    }
}
