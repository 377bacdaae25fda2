//! Blocks and their hashes.
//!
//! A block's content is abstract: the simulator studies agreement, not
//! transactions, so the payload is only a 32-byte digest (drawn by the
//! proposer). The hash is SHA-256 over a domain string and a canonical
//! binary encoding, so every host computes the same hash for the same block.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::HostId;
use crate::codec::{DecodeError, Reader, Writer};
use crate::time::SimTime;

/// Domain prefix of block hashes.
const BLOCK_DOMAIN: &[u8] = b"sim/consensus/block/v1\0";
/// Domain prefix of payload digests.
const PAYLOAD_DOMAIN: &[u8] = b"sim/consensus/payload/v1\0";

/// Bytes in an encoded [`Block`].
pub const BLOCK_LEN: usize = 8 + 32 + 4 + 32 + 8;

/// A SHA-256 digest: block hashes, parent links and payload digests.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// The all-zero hash: the parent of the first block.
    pub const ZERO: Hash32 = Hash32([0; 32]);

    /// Lowercase hex of the whole digest.
    pub fn to_hex(&self) -> String {
        crate::identity::hex(&self.0)
    }
}

impl fmt::Debug for Hash32 {
    /// The first 8 hex digits, enough to tell hashes apart in test output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", &self.to_hex()[..8])
    }
}

impl serde::Serialize for Hash32 {
    /// 64 lowercase hex digits.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::serde_hex::serialize(&self.0, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Hash32 {
    /// Exactly 64 lowercase hex digits; anything else is an error.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::serde_hex::deserialize(deserializer, "hash").map(Hash32)
    }
}

/// One block of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Position in the chain; the first block has height 1.
    pub height: u64,
    /// Hash of the block at `height - 1` ([`Hash32::ZERO`] for height 1).
    pub parent: Hash32,
    /// The validator that proposed it.
    pub proposer: HostId,
    /// Digest of the (abstract) content; see [`Block::payload_digest`].
    pub payload: Hash32,
    /// When the proposer made it.
    pub proposed_at: SimTime,
}

impl Block {
    /// The payload digest a proposer uses: SHA-256 of `(height, view,
    /// proposer, salt)`. Honest proposers draw `salt` from their RNG; an
    /// equivocating one varies it to make two blocks for one height.
    pub fn payload_digest(height: u64, view: u64, proposer: HostId, salt: u64) -> Hash32 {
        let mut h = Sha256::new();
        h.update(PAYLOAD_DOMAIN);
        h.update(height.to_le_bytes());
        h.update(view.to_le_bytes());
        h.update(proposer.0.to_le_bytes());
        h.update(salt.to_le_bytes());
        Hash32(h.finalize().into())
    }

    /// The block's hash: SHA-256 over a domain string and
    /// [`Block::encode_into`]'s bytes.
    pub fn hash(&self) -> Hash32 {
        let mut w = Writer::with_capacity(BLOCK_LEN);
        self.encode_into(&mut w);
        let mut h = Sha256::new();
        h.update(BLOCK_DOMAIN);
        h.update(w.as_slice());
        Hash32(h.finalize().into())
    }

    /// Appends the canonical encoding (fixed width, [`BLOCK_LEN`] bytes).
    pub fn encode_into(&self, w: &mut Writer) {
        w.u64(self.height)
            .array(&self.parent.0)
            .u32(self.proposer.0)
            .array(&self.payload.0)
            .u64(self.proposed_at.as_nanos());
    }

    /// Reads a block written by [`Block::encode_into`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Block {
            height: r.u64()?,
            parent: Hash32(r.array()?),
            proposer: HostId(r.u32()?),
            payload: Hash32(r.array()?),
            proposed_at: SimTime::from_nanos(r.u64()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> Block {
        Block {
            height: 3,
            parent: Hash32([7; 32]),
            proposer: HostId(2),
            payload: Block::payload_digest(3, 0, HostId(2), 99),
            proposed_at: SimTime::from_nanos(1_000),
        }
    }

    #[test]
    fn encoding_round_trips_and_has_fixed_length() {
        let b = block();
        let mut w = Writer::default();
        b.encode_into(&mut w);
        let bytes = w.finish();
        assert_eq!(bytes.len(), BLOCK_LEN);
        let mut r = Reader::new(&bytes).unwrap();
        assert_eq!(Block::decode(&mut r).unwrap(), b);
        r.finish().unwrap();
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]).unwrap();
            assert_eq!(Block::decode(&mut r), Err(DecodeError::Truncated));
        }
    }

    #[test]
    fn every_field_changes_the_hash() {
        let b = block();
        let h = b.hash();
        assert_eq!(h, block().hash(), "hash is deterministic");
        let variants = [
            Block {
                height: 4,
                ..b.clone()
            },
            Block {
                parent: Hash32::ZERO,
                ..b.clone()
            },
            Block {
                proposer: HostId(3),
                ..b.clone()
            },
            Block {
                payload: Hash32([1; 32]),
                ..b.clone()
            },
            Block {
                proposed_at: SimTime::from_nanos(1_001),
                ..b.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.hash(), h, "{v:?}");
        }
        assert_ne!(
            Block::payload_digest(3, 0, HostId(2), 1),
            Block::payload_digest(3, 0, HostId(2), 2)
        );
    }
}
