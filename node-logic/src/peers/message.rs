//! Peer-registry messages and their wire encoding.
//!
//! Hellos are signed with the sender's ed25519 identity (they bind a host id
//! to a key); pings and pongs are small unsigned heartbeats accepted only
//! from peers already authenticated by a hello.

use crate::HostId;
use crate::codec::{DecodeError, Reader};
use crate::identity::{Identity, PublicKey, SIGNATURE_LEN, SignatureError};
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

/// A hello and its signature over `(host, key, nonce)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHello {
    /// The host the sender claims to be.
    pub host: HostId,
    /// The sender's public key.
    pub key: PublicKey,
    /// Fresh per hello, so signatures differ between hellos.
    pub nonce: u64,
    /// Signature by `key`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl SignedHello {
    /// A hello from `host`, signed with `identity`.
    pub fn new(host: HostId, identity: &Identity, nonce: u64) -> Self {
        let key = identity.public_key();
        let signature = identity.sign(HELLO_DOMAIN, &Self::signed_bytes(host, &key, nonce));
        SignedHello {
            host,
            key,
            nonce,
            signature,
        }
    }
    /// Whether the signature is `key`'s over this hello.
    pub fn verify(&self) -> Result<(), SignatureError> {
        self.key.verify(
            HELLO_DOMAIN,
            &Self::signed_bytes(self.host, &self.key, self.nonce),
            &self.signature,
        )
    }
    fn signed_bytes(host: HostId, key: &PublicKey, nonce: u64) -> [u8; 44] {
        let mut out = [0u8; 44];
        out[..4].copy_from_slice(&host.0.to_le_bytes());
        out[4..36].copy_from_slice(&key.0);
        out[36..].copy_from_slice(&nonce.to_le_bytes());
        out
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
                w.u8(kind)
                    .u32(h.host.0)
                    .array(&h.key.0)
                    .u64(h.nonce)
                    .array(&h.signature);
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
                let hello = SignedHello {
                    host: HostId(r.u32()?),
                    key: PublicKey(r.array()?),
                    nonce: r.u64()?,
                    signature: r.array()?,
                };
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
        let mut forged = hello.clone();
        forged.host = HostId(5);
        assert!(forged.verify().is_err());
        let mut replayed = hello;
        replayed.nonce = 78;
        assert!(replayed.verify().is_err());
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
