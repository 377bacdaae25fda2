//! Registration datagrams (protocol tag [`ProtocolTag::Registration`]).
//!
//! Body: `[kind: u8]` then the kind's fields. The one kind so far is
//! `ReRegister` (kind 1): `[agent: u32 length + UTF-8 bytes]`, the agent id
//! non-empty and at most [`MAX_AGENT_ID_LEN`] bytes. Decoding is strict:
//! truncation, trailing bytes, an unknown kind, an over-long or non-UTF-8
//! agent id are errors. Requests are unsigned: a miner trusts the
//! transport's sender id and obeys only the registrars it is configured
//! with (a forged request can at worst make a miner rewrite its own file,
//! which its backoff bounds).

use crate::codec::{DecodeError, Reader};
use crate::registration::file::MAX_AGENT_ID_LEN;
use crate::wire::{ProtocolTag, frame};

const KIND_REREGISTER: u8 = 1;

/// A message of the registration protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationMessage {
    /// From a registrar to a miner: "your file is damaged and there is no
    /// valid backup; write it again".
    ReRegister {
        /// The miner's agent id (a miner ignores requests for another).
        agent: String,
    },
}

impl RegistrationMessage {
    /// The datagram for this message.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            RegistrationMessage::ReRegister { agent } => {
                let mut w = frame(ProtocolTag::Registration, 5 + agent.len());
                w.u8(KIND_REREGISTER).bytes(agent.as_bytes());
                w.finish()
            }
        }
    }

    /// Decodes a body whose header [`crate::wire::open`] has checked.
    pub fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let message = match r.u8()? {
            KIND_REREGISTER => {
                let bytes = r.bytes()?;
                if bytes.is_empty() || bytes.len() > MAX_AGENT_ID_LEN {
                    return Err(DecodeError::InvalidField);
                }
                let agent = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidField)?;
                RegistrationMessage::ReRegister {
                    agent: agent.to_string(),
                }
            }
            other => return Err(DecodeError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};

    use super::*;
    use crate::wire::{WIRE_VERSION, open};

    fn decode(bytes: &[u8]) -> Result<RegistrationMessage, DecodeError> {
        let (tag, r) = open(bytes)?;
        assert_eq!(tag, ProtocolTag::Registration);
        RegistrationMessage::decode(r)
    }

    fn raw(kind: u8, agent: &[u8]) -> Vec<u8> {
        let mut w = frame(ProtocolTag::Registration, 0);
        w.u8(kind).bytes(agent);
        w.finish()
    }

    #[test]
    fn round_trips() {
        for agent in ["m", "miner-7", &"x".repeat(MAX_AGENT_ID_LEN), "mineur-é"] {
            let m = RegistrationMessage::ReRegister {
                agent: agent.to_string(),
            };
            assert_eq!(decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn strict_decoding() {
        let good = RegistrationMessage::ReRegister {
            agent: "miner-1".into(),
        }
        .encode();
        for cut in 2..good.len() {
            assert_eq!(
                decode(&good[..cut]),
                Err(DecodeError::Truncated),
                "cut {cut}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(DecodeError::TrailingBytes));
        assert_eq!(decode(&raw(9, b"a")), Err(DecodeError::UnknownKind(9)));
        assert_eq!(decode(&raw(1, b"")), Err(DecodeError::InvalidField));
        assert_eq!(
            decode(&raw(1, "x".repeat(MAX_AGENT_ID_LEN + 1).as_bytes())),
            Err(DecodeError::InvalidField)
        );
        assert_eq!(decode(&raw(1, b"\xff\xfe")), Err(DecodeError::InvalidField));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..5000 {
            let len = (rng.next_u32() % 80) as usize;
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            if bytes.len() >= 2 && rng.next_u32() % 2 == 0 {
                bytes[0] = WIRE_VERSION;
                bytes[1] = ProtocolTag::Registration as u8;
            }
            if let Ok((_, r)) = open(&bytes) {
                let _ = RegistrationMessage::decode(r);
            }
        }
        // A huge length prefix is truncation, not an allocation.
        let mut w = frame(ProtocolTag::Registration, 0);
        w.u8(1).u32(u32::MAX);
        assert_eq!(decode(&w.finish()), Err(DecodeError::Truncated));
    }
}
