//! Signed envelopes: a body of bytes, the public key of whoever signed it,
//! and an ed25519 signature over the body under a protocol's domain string.
//! Every authenticated thing a protocol sends or stores is one (hellos now;
//! registration files and consensus votes build on the same type).

use crate::codec::{DecodeError, Reader, Writer};
use crate::identity::{Identity, PublicKey, SIGNATURE_LEN, SignatureError};

/// A body signed by `signer` under some domain. Fields are public so a
/// protocol (or a test forging one) can look inside; [`SignedEnvelope::open`]
/// is the only way to get a body that is known to be authentic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedEnvelope {
    /// Who signed.
    pub signer: PublicKey,
    /// What was signed.
    pub body: Vec<u8>,
    /// The signature over `(domain, body)`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl SignedEnvelope {
    /// Signs `body` with `identity` under `domain`.
    pub fn seal(identity: &Identity, domain: &[u8], body: Vec<u8>) -> Self {
        let signature = identity.sign(domain, &body);
        SignedEnvelope {
            signer: identity.public_key(),
            body,
            signature,
        }
    }

    /// The body, if the signature is `signer`'s over it under `domain`.
    pub fn open(&self, domain: &[u8]) -> Result<&[u8], SignatureError> {
        self.signer.verify(domain, &self.body, &self.signature)?;
        Ok(&self.body)
    }

    /// Appends the wire form: signer, length-prefixed body, signature.
    pub fn encode_into(&self, w: &mut Writer) {
        w.array(&self.signer.0)
            .bytes(&self.body)
            .array(&self.signature);
    }

    /// Reads the wire form written by [`SignedEnvelope::encode_into`]; the
    /// signature is not checked here.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedEnvelope {
            signer: PublicKey(r.array()?),
            body: r.bytes()?.to_vec(),
            signature: r.array()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_untampered_envelopes_in_their_domain() {
        let id = Identity::from_secret([5; 32]);
        let sealed = SignedEnvelope::seal(&id, b"d", b"payload".to_vec());
        assert_eq!(sealed.open(b"d"), Ok(&b"payload"[..]));
        assert!(sealed.open(b"other-domain").is_err());
        let mut body = sealed.clone();
        body.body[0] ^= 1;
        assert!(body.open(b"d").is_err());
        let mut signer = sealed.clone();
        signer.signer = Identity::from_secret([6; 32]).public_key();
        assert!(signer.open(b"d").is_err());
    }

    #[test]
    fn wire_form_round_trips_and_truncation_fails() {
        let sealed = SignedEnvelope::seal(&Identity::from_secret([5; 32]), b"d", vec![1, 2, 3]);
        let mut w = Writer::default();
        sealed.encode_into(&mut w);
        let bytes = w.finish();
        let mut r = Reader::new(&bytes).unwrap();
        assert_eq!(SignedEnvelope::decode(&mut r).unwrap(), sealed);
        r.finish().unwrap();
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]).unwrap();
            assert_eq!(SignedEnvelope::decode(&mut r), Err(DecodeError::Truncated));
        }
    }
}
