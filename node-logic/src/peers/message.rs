//! Peer-registry messages and their wire encoding.
//!
//! Hellos are signed with the sender's ed25519 identity (they bind a host id
//! to a key); pings and pongs are small unsigned heartbeats accepted only
//! from peers already authenticated by a hello.

use crate::HostId;
use crate::codec::{DecodeError, Reader, Writer};
use crate::envelope::SignedEnvelope;
use crate::identity::{Identity, PublicKey, SignatureError};
use crate::wire::{ProtocolTag, frame};

/// Domain string for hello signatures.
const HELLO_DOMAIN: &[u8] = b"sim/peers/hello/v1";

const KIND_HELLO: u8 = 1;
const KIND_HELLO_ACK: u8 = 2;
const KIND_PING: u8 = 3;
const KIND_PONG: u8 = 4;

/// A message of the peer registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMessage {
    /// "I am `host`, this is my key": sent at start and to peers not yet up.
    Hello(SignedHello),
    /// The answer to a hello, so both sides learn each other in one exchange.
    HelloAck(SignedHello),
    /// Heartbeat request.
    Ping {
        /// Echoed in the pong.
        nonce: u64,
    },
    /// Heartbeat answer.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
}

/// A hello: a [`SignedEnvelope`] whose body is `(host, nonce)`, signed by
/// the key it introduces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHello {
    envelope: SignedEnvelope,
    host: HostId,
    nonce: u64,
}

impl SignedHello {
    /// A hello from `host`, signed with `identity`; `nonce` makes each
    /// hello's signature different.
    pub fn new(host: HostId, identity: &Identity, nonce: u64) -> Self {
        let mut body = Writer::with_capacity(12);
        body.u32(host.0).u64(nonce);
        let envelope = SignedEnvelope::seal(identity, HELLO_DOMAIN, body.finish());
        SignedHello {
            envelope,
            host,
            nonce,
        }
    }
    /// Reads a hello out of an envelope (whose signature is not checked
    /// here; see [`SignedHello::verify`]).
    pub fn from_envelope(envelope: SignedEnvelope) -> Result<Self, DecodeError> {
        let mut r = Reader::new(&envelope.body)?;
        let host = HostId(r.u32()?);
        let nonce = r.u64()?;
        r.finish()?;
        Ok(SignedHello {
            envelope,
            host,
            nonce,
        })
    }
    /// The host the sender claims to be.
    pub fn host(&self) -> HostId {
        self.host
    }
    /// The key the hello introduces (its signer).
    pub fn key(&self) -> PublicKey {
        self.envelope.signer
    }
    /// The hello's nonce.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }
    /// The signed envelope, as sent.
    pub fn envelope(&self) -> &SignedEnvelope {
        &self.envelope
    }
    /// Whether the signature is the introduced key's over this hello.
    pub fn verify(&self) -> Result<(), SignatureError> {
        self.envelope.open(HELLO_DOMAIN).map(|_| ())
    }
}

impl PeerMessage {
    /// The datagram for this message.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = frame(ProtocolTag::Peers, 112);
        match self {
            PeerMessage::Hello(h) | PeerMessage::HelloAck(h) => {
                let kind = if matches!(self, PeerMessage::Hello(_)) {
                    KIND_HELLO
                } else {
                    KIND_HELLO_ACK
                };
                w.u8(kind);
                h.envelope.encode_into(&mut w);
            }
            PeerMessage::Ping { nonce } => {
                w.u8(KIND_PING).u64(*nonce);
            }
            PeerMessage::Pong { nonce } => {
                w.u8(KIND_PONG).u64(*nonce);
            }
        }
        w.finish()
    }

    /// Decodes a body whose header [`crate::wire::open`] has checked.
    /// Signatures are not checked here (see [`SignedHello::verify`]).
    pub fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let message = match r.u8()? {
            kind @ (KIND_HELLO | KIND_HELLO_ACK) => {
                let hello = SignedHello::from_envelope(SignedEnvelope::decode(&mut r)?)?;
                if kind == KIND_HELLO {
                    PeerMessage::Hello(hello)
                } else {
                    PeerMessage::HelloAck(hello)
                }
            }
            KIND_PING => PeerMessage::Ping { nonce: r.u64()? },
            KIND_PONG => PeerMessage::Pong { nonce: r.u64()? },
            other => return Err(DecodeError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::open;

    fn round_trip(m: &PeerMessage) -> Result<PeerMessage, DecodeError> {
        let bytes = m.encode();
        let (tag, r) = open(&bytes)?;
        assert_eq!(tag, ProtocolTag::Peers);
        PeerMessage::decode(r)
    }

    #[test]
    fn every_message_round_trips() {
        let id = Identity::from_secret([3; 32]);
        for m in [
            PeerMessage::Hello(SignedHello::new(HostId(4), &id, 77)),
            PeerMessage::HelloAck(SignedHello::new(HostId(5), &id, 78)),
            PeerMessage::Ping { nonce: 1 },
            PeerMessage::Pong { nonce: u64::MAX },
        ] {
            assert_eq!(round_trip(&m).unwrap(), m);
        }
    }

    #[test]
    fn hello_signature_binds_host_and_nonce() {
        let id = Identity::from_secret([3; 32]);
        let hello = SignedHello::new(HostId(4), &id, 77);
        assert!(hello.verify().is_ok());
        assert_eq!(
            (hello.host(), hello.nonce(), hello.key()),
            (HostId(4), 77, id.public_key())
        );
        // The same signature on another (host, nonce) body does not verify.
        for (host, nonce) in [(5, 77), (4, 78)] {
            let mut body = Writer::default();
            body.u32(host).u64(nonce);
            let tampered = SignedEnvelope {
                body: body.finish(),
                ..hello.envelope().clone()
            };
            let forged = SignedHello::from_envelope(tampered).unwrap();
            assert_eq!(forged.host(), HostId(host));
            assert!(forged.verify().is_err());
        }
        // A body of the wrong length is not a hello.
        let short = SignedEnvelope {
            body: vec![1, 2, 3],
            ..hello.envelope().clone()
        };
        assert!(SignedHello::from_envelope(short).is_err());
    }

    #[test]
    fn every_prefix_and_extension_is_rejected_without_panic() {
        let id = Identity::from_secret([3; 32]);
        let bytes = PeerMessage::Hello(SignedHello::new(HostId(1), &id, 2)).encode();
        for cut in 0..bytes.len() {
            let decoded = open(&bytes[..cut]).and_then(|(_, r)| PeerMessage::decode(r));
            assert!(decoded.is_err(), "prefix of {cut} bytes decoded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let decoded = open(&longer).and_then(|(_, r)| PeerMessage::decode(r));
        assert_eq!(decoded.err(), Some(DecodeError::TrailingBytes));
    }
}
