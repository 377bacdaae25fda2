//! Host identities: ed25519 keys (real signatures, `ed25519-dalek`), drawn
//! deterministically from bytes the driver supplies, so a run's keys are a
//! function of its seed and survive a host's crash and restart.

use std::rc::Rc;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::meter::Meter;

/// Bytes in a public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes in a signature.
pub const SIGNATURE_LEN: usize = 64;

/// A host's signing key. Cloning is cheap enough for per-host ownership;
/// clones share the host's [`Meter`], if it has one.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
    public: PublicKey,
    /// A signature made ahead of time ([`Keypair::presign`]).
    presigned: Option<Rc<Presigned>>,
    meter: Option<Rc<Meter>>,
}

/// A key pair on its own: what deriving an [`Identity`] costs (a scalar
/// multiplication), in a form that may cross threads, so a driver can
/// derive many hosts' keys at once and make identities of them after.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
    public: PublicKey,
    presigned: Option<Box<Presigned>>,
}

/// A signature made ahead of time ([`Keypair::sign_ahead`]): the
/// domain-separated bytes signed and their signature. `Send`, so a driver
/// can make them on another core and hand them to the host that will sign
/// those bytes ([`SignaturesAhead`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedAhead {
    signer: PublicKey,
    signed: Box<[u8]>,
    signature: [u8; SIGNATURE_LEN],
}

impl SignedAhead {
    /// The signature, if it was made by `signer` over exactly `message` in
    /// `domain`.
    fn answer(
        &self,
        signer: &PublicKey,
        domain: &[u8],
        message: &[u8],
    ) -> Option<[u8; SIGNATURE_LEN]> {
        let signed = &*self.signed;
        let exact = self.signer == *signer
            && signed.len() == domain.len() + 1 + message.len()
            && signed[..domain.len()] == *domain
            && signed[domain.len()] == 0
            && signed[domain.len() + 1..] == *message;
        exact.then_some(self.signature)
    }
}

/// Signatures a driver made ahead of time, on another core, for messages
/// it knows a host will sign one after another (a load client's
/// transactions, by nonce). Ed25519 signatures are deterministic (RFC
/// 8032): one made ahead is the very bytes signing would give, so taking
/// it changes nothing but the time ([`Identity::sign_in_sequence`] checks
/// that it was made for exactly the bytes asked).
pub trait SignaturesAhead: std::fmt::Debug {
    /// The signature made ahead for message `seq` of the sequence, if
    /// there is one; asking for `seq` gives up those before it.
    fn take(&self, seq: u64) -> Option<SignedAhead>;
}

/// A signature made ahead of time ([`Keypair::presign`]).
#[derive(Clone, Debug)]
struct Presigned {
    /// The domain-separated bytes signed.
    signed: Box<[u8]>,
    signature: [u8; SIGNATURE_LEN],
    /// Whether an identity answered from it.
    used: std::cell::Cell<bool>,
}

impl Keypair {
    /// The key pair whose secret key is `secret`.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&secret);
        let public = PublicKey(signing.verifying_key().to_bytes());
        Keypair {
            signing,
            public,
            presigned: None,
        }
    }
    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }
    /// Signs `message` in `domain` now (replacing an earlier one): the
    /// identity made of this pair answers [`Identity::sign`] of exactly
    /// that from it. Ed25519 signatures are deterministic (RFC 8032), so
    /// the answer is the very bytes signing would give; a driver that
    /// knows what a host will sign first can sign for many hosts at once.
    pub fn presign(&mut self, domain: &[u8], message: &[u8]) {
        let SignedAhead {
            signed, signature, ..
        } = self.sign_ahead(domain, message);
        self.presigned = Some(Box::new(Presigned {
            signed,
            signature,
            used: std::cell::Cell::new(false),
        }));
    }
    /// Signs `message` in `domain` now, as [`Identity::sign`] would, for a
    /// host that will ask for it later ([`SignaturesAhead`]).
    pub fn sign_ahead(&self, domain: &[u8], message: &[u8]) -> SignedAhead {
        let signed = domain_separated(domain, message);
        let signature = self.signing.sign(&signed).to_bytes();
        SignedAhead {
            signer: self.public,
            signed: signed.into_boxed_slice(),
            signature,
        }
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        f.debug_struct("Keypair")
            .field("public", &self.public)
            .finish()
    }
}

impl From<Keypair> for Identity {
    fn from(keys: Keypair) -> Self {
        Identity {
            signing: keys.signing,
            public: keys.public,
            presigned: keys.presigned.map(Rc::from),
            meter: None,
        }
    }
}

impl Identity {
    /// The identity whose secret key is `secret`; drivers draw `secret` from
    /// the host's `identity` RNG stream.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Keypair::from_secret(secret).into()
    }
    /// The same identity, counting every signature it makes in `meter`
    /// (a host whose CPU time the driver models).
    pub fn with_meter(mut self, meter: Rc<Meter>) -> Self {
        self.meter = Some(meter);
        self
    }
    /// The public half, to send to others.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }
    /// Whether this identity (or a clone) answered a signing from the
    /// signature made ahead ([`Keypair::presign`]); `None` if none was.
    /// For drivers' tests: a signature made ahead that is never asked for
    /// costs its time for nothing.
    pub fn presigned_used(&self) -> Option<bool> {
        self.presigned.as_ref().map(|p| p.used.get())
    }
    /// Signs `message` under a protocol `domain` string, so a signature made
    /// for one purpose can never be replayed as another.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> [u8; SIGNATURE_LEN] {
        if let Some(meter) = &self.meter {
            meter.sign();
        }
        let signed = domain_separated(domain, message);
        if let Some(presigned) = &self.presigned
            && *presigned.signed == *signed
        {
            presigned.used.set(true);
            return presigned.signature;
        }
        self.signing.sign(&signed).to_bytes()
    }
    /// [`Self::sign`] for message `seq` of a sequence whose signatures a
    /// driver may have made ahead (`ahead`): the one made ahead if it was
    /// made for exactly these bytes, else signed now. The meter counts a
    /// signature either way (the host's CPU model charges the work).
    pub fn sign_in_sequence(
        &self,
        domain: &[u8],
        message: &[u8],
        seq: u64,
        ahead: Option<&dyn SignaturesAhead>,
    ) -> [u8; SIGNATURE_LEN] {
        let made = ahead.and_then(|a| a.take(seq));
        match made.and_then(|m| m.answer(&self.public, domain, message)) {
            Some(signature) => {
                if let Some(meter) = &self.meter {
                    meter.sign();
                }
                signature
            }
            None => self.sign(domain, message),
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        f.debug_struct("Identity")
            .field("public", &self.public)
            .finish()
    }
}

/// An ed25519 public key as sent on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

/// A [`PublicKey`] decoded for verification ([`PublicKey::prepare`]):
/// checks exactly as [`PublicKey::verify`] does, without decoding the key
/// again each time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreparedKey(VerifyingKey);

impl PreparedKey {
    /// Checks `signature` over `message` in `domain` (strict verification,
    /// as [`PublicKey::verify`]).
    pub fn verify(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) -> Result<(), SignatureError> {
        let signature = Signature::from_bytes(signature);
        self.0
            .verify_strict(&domain_separated(domain, message), &signature)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key bytes are not a valid curve point.
    #[error("invalid public key")]
    InvalidKey,
    /// The signature does not verify for this key and message.
    #[error("signature does not verify")]
    Mismatch,
}

impl PublicKey {
    /// Checks `signature` over `message` in `domain` (strict verification:
    /// no malleable or small-order signatures).
    pub fn verify(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) -> Result<(), SignatureError> {
        self.prepare()?.verify(domain, message, signature)
    }
    /// The key decoded once (its curve point decompressed), for a verifier
    /// that checks many signatures of the same key.
    pub fn prepare(&self) -> Result<PreparedKey, SignatureError> {
        VerifyingKey::from_bytes(&self.0)
            .map(PreparedKey)
            .map_err(|_| SignatureError::InvalidKey)
    }
    /// Lowercase hex, for files and reports.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl serde::Serialize for PublicKey {
    /// 64 lowercase hex digits.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::serde_hex::serialize(&self.0, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    /// Exactly 64 lowercase hex digits; anything else is an error.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::serde_hex::deserialize(deserializer, "public key").map(PublicKey)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn domain_separated(domain: &[u8], message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + 1 + message.len());
    out.extend_from_slice(domain);
    out.push(0);
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_key_domain_and_message() {
        let a = Identity::from_secret([1; 32]);
        let b = Identity::from_secret([2; 32]);
        let sig = a.sign(b"hello", b"msg");
        assert_eq!(a.public_key().verify(b"hello", b"msg", &sig), Ok(()));
        assert_eq!(
            b.public_key().verify(b"hello", b"msg", &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            a.public_key().verify(b"other", b"msg", &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            a.public_key().verify(b"hello", b"msh", &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn same_secret_same_key() {
        assert_eq!(
            Identity::from_secret([9; 32]).public_key(),
            Identity::from_secret([9; 32]).public_key()
        );
        assert_eq!(hex(&[0x0f, 0xa0]), "0fa0");
    }

    #[test]
    fn a_keypair_makes_the_identity_of_its_secret() {
        let direct = Identity::from_secret([5; 32]);
        let mut keys = Keypair::from_secret([5; 32]);
        assert_eq!(keys.public_key(), direct.public_key());
        keys.presign(b"d", b"m");
        let via: Identity = keys.into();
        assert_eq!(via.public_key(), direct.public_key());
        assert_eq!(via.presigned_used(), Some(false));
        // Other messages and domains are signed as they come.
        assert_eq!(via.sign(b"d", b"n"), direct.sign(b"d", b"n"));
        assert_eq!(via.sign(b"e", b"m"), direct.sign(b"e", b"m"));
        assert_eq!(via.presigned_used(), Some(false));
        // The signature made ahead is the one signing makes.
        let ahead = via.sign(b"d", b"m");
        assert_eq!(via.presigned_used(), Some(true));
        assert_eq!(ahead, direct.sign(b"d", b"m"));
        assert_eq!(direct.public_key().verify(b"d", b"m", &ahead), Ok(()));
        assert_eq!(direct.presigned_used(), None);
        let text = format!("{:?}", Keypair::from_secret([7; 32]));
        assert!(
            text.contains("public") && !text.contains("signing"),
            "{text}"
        );
    }

    /// A sequence of signatures made ahead, handed out by `seq`.
    #[derive(Debug, Default)]
    struct Ahead(
        std::cell::RefCell<Vec<(u64, SignedAhead)>>,
        std::cell::Cell<u64>,
    );

    impl SignaturesAhead for Ahead {
        fn take(&self, seq: u64) -> Option<SignedAhead> {
            self.1.set(self.1.get() + 1);
            let mut made = self.0.borrow_mut();
            let at = made.iter().position(|(s, _)| *s == seq)?;
            Some(made.remove(at).1)
        }
    }

    #[test]
    fn a_signature_made_ahead_answers_only_its_own_key_and_bytes() {
        let keys = Keypair::from_secret([4; 32]);
        let other = Keypair::from_secret([5; 32]);
        let identity: Identity = keys.clone().into();
        let marked = |made: SignedAhead| SignedAhead {
            signature: [9; SIGNATURE_LEN],
            ..made
        };
        let ahead = Ahead::default();
        ahead.0.borrow_mut().extend([
            (0, marked(keys.sign_ahead(b"d", b"m0"))),
            (1, marked(keys.sign_ahead(b"d", b"other bytes"))),
            (2, marked(other.sign_ahead(b"d", b"m2"))),
            (3, marked(keys.sign_ahead(b"e", b"m3"))),
        ]);
        let sign =
            |seq: u64, message: &[u8]| identity.sign_in_sequence(b"d", message, seq, Some(&ahead));
        // The one made for exactly these bytes by this key is taken as is
        // (marked here, to tell it from signing now).
        assert_eq!(sign(0, b"m0"), [9; SIGNATURE_LEN]);
        // Other bytes, another key, another domain: signed now.
        assert_eq!(sign(1, b"m1"), identity.sign(b"d", b"m1"));
        assert_eq!(sign(2, b"m2"), identity.sign(b"d", b"m2"));
        assert_eq!(sign(3, b"m3"), identity.sign(b"d", b"m3"));
        assert_eq!(ahead.1.get(), 4, "the source is asked each time");
        // Made ahead unmarked, it is the signature signing makes.
        assert_eq!(
            keys.sign_ahead(b"d", b"m").signature,
            identity.sign(b"d", b"m")
        );
        assert_eq!(
            identity.sign_in_sequence(b"d", b"m", 0, None),
            identity.sign(b"d", b"m")
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let text = format!("{:?}", Identity::from_secret([7; 32]));
        assert!(
            text.contains("public") && !text.contains("signing"),
            "{text}"
        );
    }
}
