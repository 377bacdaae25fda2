//! Peer-registry messages and their wire encoding.
//!
//! Hellos are signed with the sender's ed25519 identity (they bind a host id
//! to a key); pings and pongs are small unsigned heartbeats accepted only
//! from peers already authenticated by a hello. `GetPeers` / `Peers` are the
//! peer exchange: a request for the live peers a host knows and the answer,
//! a strictly increasing list of at most [`MAX_EXCHANGE_PEERS`] host ids.
//! `Refused` closes a connection (or refuses one) under bounded views and
//! carries a list of the same form: other peers to try.

use crate::HostId;
use crate::codec::{DecodeError, Reader, Writer};
use crate::envelope::SignedEnvelope;
use crate::identity::{Identity, PublicKey, SignatureError};
use crate::io::Payload;
use crate::protocols::ProtocolTag;
use crate::protocols::consensus::SignatureVerifier;
use crate::wire::{WIRE_VERSION, frame};

/// Domain string for hello signatures.
const HELLO_DOMAIN: &[u8] = b"sim/peers/hello/v1";

const KIND_HELLO: u8 = 1;
const KIND_HELLO_ACK: u8 = 2;
const KIND_PING: u8 = 3;
const KIND_PONG: u8 = 4;
const KIND_GET_PEERS: u8 = 5;
const KIND_PEERS: u8 = 6;
const KIND_REFUSED: u8 = 7;

/// The most host ids one [`PeerMessage::Peers`] carries (4 KiB of ids, well
/// inside a datagram); a longer list is refused when decoding and cut to this
/// length when encoding.
pub const MAX_EXCHANGE_PEERS: usize = 1024;

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
    /// Peer exchange: "which peers do you know to be live?".
    GetPeers,
    /// Peer exchange: the answer to [`PeerMessage::GetPeers`]. On the wire
    /// the list is strictly increasing and at most [`MAX_EXCHANGE_PEERS`]
    /// long; [`PeerMessage::encode`] sorts, deduplicates and cuts it, and
    /// decoding refuses anything else.
    Peers {
        /// The peers the sender has authenticated and heard from recently.
        peers: Vec<HostId>,
    },
    /// Bounded views: "I will not keep a connection with you" — a hello
    /// refused because the sender's inbound slots are full, or an open
    /// connection closed to make room for another. The list (same form as
    /// [`PeerMessage::Peers`]) names other peers to try.
    Refused {
        /// Peers the sender is connected to.
        peers: Vec<HostId>,
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
    /// Whether the signature is the introduced key's over this hello, asked
    /// of `verifier` (which may answer from a cache).
    pub fn verify_with(&self, verifier: &dyn SignatureVerifier) -> bool {
        let e = &self.envelope;
        verifier.verify(&e.signer, HELLO_DOMAIN, &e.body, &e.signature)
    }
    /// Tells `verifier` that this host signed this hello itself (see
    /// [`SignatureVerifier::signed`]).
    pub fn vouch(&self, verifier: &dyn SignatureVerifier) {
        let e = &self.envelope;
        verifier.signed(&e.signer, HELLO_DOMAIN, &e.body, &e.signature);
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
            PeerMessage::GetPeers => {
                w.u8(KIND_GET_PEERS);
            }
            PeerMessage::Peers { peers } | PeerMessage::Refused { peers } => {
                let mut canonical = peers.clone();
                canonical.sort_unstable();
                canonical.dedup();
                canonical.truncate(MAX_EXCHANGE_PEERS);
                let kind = if matches!(self, PeerMessage::Peers { .. }) {
                    KIND_PEERS
                } else {
                    KIND_REFUSED
                };
                w.u8(kind);
                // At most MAX_EXCHANGE_PEERS (1024) entries: fits a u16.
                w.u16(canonical.len() as u16);
                for peer in canonical {
                    w.u32(peer.0);
                }
            }
        }
        w.finish()
    }

    /// The datagram for this message, as shared bytes ready to send. The
    /// heartbeats (pings and pongs: nearly every datagram of a full mesh)
    /// are written on the stack and copied once into the shared buffer,
    /// not built in a `Vec` first; the bytes are those of [`Self::encode`].
    pub fn payload(&self) -> Payload {
        let (kind, nonce) = match self {
            PeerMessage::Ping { nonce } => (KIND_PING, *nonce),
            PeerMessage::Pong { nonce } => (KIND_PONG, *nonce),
            PeerMessage::Hello(_)
            | PeerMessage::HelloAck(_)
            | PeerMessage::GetPeers
            | PeerMessage::Peers { .. }
            | PeerMessage::Refused { .. } => return Payload::from(self.encode()),
        };
        let mut bytes = [0u8; 11];
        bytes[..3].copy_from_slice(&[WIRE_VERSION, ProtocolTag::Peers as u8, kind]);
        bytes[3..].copy_from_slice(&nonce.to_le_bytes());
        Payload::from(&bytes[..])
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
            KIND_GET_PEERS => PeerMessage::GetPeers,
            KIND_PEERS => PeerMessage::Peers {
                peers: decode_peer_list(&mut r)?,
            },
            KIND_REFUSED => PeerMessage::Refused {
                peers: decode_peer_list(&mut r)?,
            },
            other => return Err(DecodeError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(message)
    }
}

/// Reads a peer list: a `u16` count (at most [`MAX_EXCHANGE_PEERS`]) then
/// that many strictly increasing `u32` host ids.
fn decode_peer_list(r: &mut Reader<'_>) -> Result<Vec<HostId>, DecodeError> {
    let count = usize::from(r.u16()?);
    if count > MAX_EXCHANGE_PEERS {
        return Err(DecodeError::InvalidField);
    }
    if r.remaining() < count * 4 {
        return Err(DecodeError::Truncated);
    }
    let mut peers = Vec::with_capacity(count);
    for _ in 0..count {
        let peer = HostId(r.u32()?);
        if peers.last().is_some_and(|&last| last >= peer) {
            return Err(DecodeError::InvalidField);
        }
        peers.push(peer);
    }
    Ok(peers)
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
            PeerMessage::GetPeers,
            PeerMessage::Peers { peers: vec![] },
            PeerMessage::Peers {
                peers: vec![HostId(0), HostId(7), HostId(u32::MAX)],
            },
            PeerMessage::Peers {
                peers: (0..MAX_EXCHANGE_PEERS as u32).map(HostId).collect(),
            },
            PeerMessage::Refused { peers: vec![] },
            PeerMessage::Refused {
                peers: vec![HostId(2), HostId(9)],
            },
        ] {
            assert_eq!(round_trip(&m).unwrap(), m);
            assert_eq!(m.payload().as_slice(), m.encode(), "{m:?}");
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

    /// A peer-list datagram written by hand: `count` then `ids`, unchecked.
    fn raw_peers(count: u16, ids: &[u32]) -> Vec<u8> {
        let mut w = frame(ProtocolTag::Peers, 3 + 4 * ids.len());
        w.u8(KIND_PEERS).u16(count);
        for &id in ids {
            w.u32(id);
        }
        w.finish()
    }

    fn decode(bytes: &[u8]) -> Result<PeerMessage, DecodeError> {
        match open(bytes)? {
            (ProtocolTag::Peers, r) => PeerMessage::decode(r),
            (_, _) => Err(DecodeError::UnknownKind(0)),
        }
    }

    #[test]
    fn peer_lists_are_encoded_canonically_and_bounded() {
        // Unsorted, duplicated input is sorted and deduplicated on the wire.
        let messy = PeerMessage::Peers {
            peers: vec![HostId(9), HostId(2), HostId(9), HostId(5)],
        };
        assert_eq!(
            round_trip(&messy).unwrap(),
            PeerMessage::Peers {
                peers: vec![HostId(2), HostId(5), HostId(9)]
            }
        );
        // A list longer than the bound is cut to the bound (lowest ids kept).
        let long = PeerMessage::Peers {
            peers: (0..MAX_EXCHANGE_PEERS as u32 + 10).map(HostId).collect(),
        };
        let bytes = long.encode();
        assert_eq!(bytes.len(), 2 + 1 + 2 + 4 * MAX_EXCHANGE_PEERS);
        let PeerMessage::Peers { peers } = decode(&bytes).unwrap() else {
            panic!("not a peer list");
        };
        assert_eq!(peers.len(), MAX_EXCHANGE_PEERS);
        assert_eq!(peers.last(), Some(&HostId(MAX_EXCHANGE_PEERS as u32 - 1)));
    }

    #[test]
    fn peer_lists_beyond_the_bound_or_out_of_order_are_refused() {
        let ids: Vec<u32> = (0..=MAX_EXCHANGE_PEERS as u32).collect();
        let over = MAX_EXCHANGE_PEERS as u16 + 1;
        assert_eq!(
            decode(&raw_peers(over, &ids)).err(),
            Some(DecodeError::InvalidField)
        );
        // A huge count with no ids behind it is refused before allocating.
        assert_eq!(
            decode(&raw_peers(u16::MAX, &[])).err(),
            Some(DecodeError::InvalidField)
        );
        assert_eq!(
            decode(&raw_peers(3, &[1])).err(),
            Some(DecodeError::Truncated)
        );
        assert_eq!(
            decode(&raw_peers(2, &[4, 4])).err(),
            Some(DecodeError::InvalidField),
            "duplicate"
        );
        assert_eq!(
            decode(&raw_peers(2, &[5, 4])).err(),
            Some(DecodeError::InvalidField),
            "unsorted"
        );
        assert_eq!(
            decode(&raw_peers(1, &[4, 5])).err(),
            Some(DecodeError::TrailingBytes)
        );
        let mut get = PeerMessage::GetPeers.encode();
        get.push(0);
        assert_eq!(decode(&get).err(), Some(DecodeError::TrailingBytes));
    }

    #[test]
    fn exchange_truncations_and_random_bytes_never_panic() {
        use rand_chacha::ChaCha8Rng;
        use rand_core::{Rng, SeedableRng};

        let list = PeerMessage::Peers {
            peers: vec![HostId(1), HostId(3), HostId(8)],
        }
        .encode();
        for cut in 0..list.len() {
            assert!(decode(&list[..cut]).is_err(), "prefix of {cut} bytes");
        }
        let get = PeerMessage::GetPeers.encode();
        for cut in 0..get.len() {
            assert!(decode(&get[..cut]).is_err(), "prefix of {cut} bytes");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for case in 0..5_000u32 {
            let mut bytes = if case % 2 == 0 {
                list.clone()
            } else {
                let mut random = vec![0; (rng.next_u32() % 64) as usize];
                rng.fill_bytes(&mut random);
                // Mostly well-framed peer datagrams, so the body parser is hit.
                if random.len() >= 3 && case % 4 == 1 {
                    random[0] = crate::wire::WIRE_VERSION;
                    random[1] = ProtocolTag::Peers as u8;
                    random[2] = KIND_PEERS;
                }
                random
            };
            if case % 2 == 0 {
                let i = (rng.next_u32() as usize) % bytes.len();
                bytes[i] = rng.next_u32() as u8;
            }
            // Whatever decodes must re-encode to the same bytes (strictness).
            if let Ok(message) = decode(&bytes) {
                assert_eq!(message.encode(), bytes, "case {case}");
            }
        }
    }
}
