//! Registration datagrams (protocol tag [`ProtocolTag::Registration`]).
//!
//! Body: `[kind: u8]` then the kind's fields. `ReRegister` (kind 1):
//! `[agent: u32 length + UTF-8 bytes]`, the agent id non-empty and at most
//! [`MAX_AGENT_ID_LEN`] bytes; `Registry` (kind 2): `[count: u16]` then
//! that many agent ids, strictly increasing; `RegistryRequest` (kind 3):
//! nothing more; `Validated` (kind 4): `[agent][file: u32 length +
//! bytes]`, the file at most [`MAX_FILE_BYTES`]. Decoding is strict:
//! truncation, trailing bytes, an unknown kind, an over-long or non-UTF-8
//! agent id are errors. Requests are unsigned: a miner trusts the
//! transport's sender id and obeys only the registrars it is configured
//! with (a forged request can at worst make a miner rewrite its own file,
//! which its backoff bounds). A `Validated` result carries the miner's
//! own signed file, which the receiving registrar verifies again (with
//! the pinned key when it has one): a registrar can pass on a miner's
//! registration but cannot make one up.

use crate::codec::{DecodeError, Reader};
use crate::protocols::ProtocolTag;
use crate::protocols::registration::file::{MAX_AGENT_ID_LEN, MAX_FILE_BYTES};
use crate::wire::frame;

const KIND_REREGISTER: u8 = 1;
const KIND_REGISTRY: u8 = 2;
const KIND_REGISTRY_REQUEST: u8 = 3;
const KIND_VALIDATED: u8 = 4;

/// The most agents one registry announcement carries (the consensus
/// validator limit); a registry beyond it is cut to its first agents.
pub const MAX_ANNOUNCED_AGENTS: usize = crate::protocols::consensus::MAX_VALIDATORS;

/// A message of the registration protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationMessage {
    /// From a registrar to a miner: "your file is damaged and there is no
    /// valid backup; write it again".
    ReRegister {
        /// The miner's agent id (a miner ignores requests for another).
        agent: String,
    },
    /// From a registrar to a miner, when the registrar is ready: the agents
    /// it accepted (sorted, distinct, at most [`MAX_ANNOUNCED_AGENTS`]) — how
    /// a network whose validators come from the registry learns them.
    Registry {
        /// Accepted agent ids.
        agents: Vec<String>,
    },
    /// From a restarted miner to a registrar: "announce the registry to
    /// me again" (its validator lost the set in the crash). No body; a
    /// registrar that has announced answers with [`Self::Registry`].
    RegistryRequest,
    /// From a registrar to the other registrars (sharded registrars): a
    /// miner of its shard it accepted, as the miner's signed file.
    Validated {
        /// The miner's agent id.
        agent: String,
        /// The registration file's bytes, as read and validated.
        file: Vec<u8>,
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
            RegistrationMessage::Registry { agents } => {
                let mut agents: Vec<&String> = agents.iter().collect();
                agents.sort();
                agents.dedup();
                agents.truncate(MAX_ANNOUNCED_AGENTS);
                let size = agents.iter().map(|a| 4 + a.len()).sum::<usize>();
                let mut w = frame(ProtocolTag::Registration, 3 + size);
                w.u8(KIND_REGISTRY).u16(agents.len() as u16);
                for agent in agents {
                    w.bytes(agent.as_bytes());
                }
                w.finish()
            }
            RegistrationMessage::RegistryRequest => {
                let mut w = frame(ProtocolTag::Registration, 1);
                w.u8(KIND_REGISTRY_REQUEST);
                w.finish()
            }
            RegistrationMessage::Validated { agent, file } => {
                let mut w = frame(ProtocolTag::Registration, 9 + agent.len() + file.len());
                w.u8(KIND_VALIDATED).bytes(agent.as_bytes()).bytes(file);
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
            KIND_REGISTRY => {
                let count = usize::from(r.u16()?);
                if count > MAX_ANNOUNCED_AGENTS || count > r.remaining() / 5 {
                    return Err(DecodeError::InvalidField);
                }
                let mut agents: Vec<String> = Vec::with_capacity(count);
                for _ in 0..count {
                    let bytes = r.bytes()?;
                    if bytes.is_empty() || bytes.len() > MAX_AGENT_ID_LEN {
                        return Err(DecodeError::InvalidField);
                    }
                    let agent =
                        std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidField)?;
                    // Strictly increasing: sorted and distinct, one encoding per registry.
                    if agents.last().is_some_and(|last| last.as_str() >= agent) {
                        return Err(DecodeError::InvalidField);
                    }
                    agents.push(agent.to_string());
                }
                RegistrationMessage::Registry { agents }
            }
            KIND_REGISTRY_REQUEST => RegistrationMessage::RegistryRequest,
            KIND_VALIDATED => {
                let bytes = r.bytes()?;
                if bytes.is_empty() || bytes.len() > MAX_AGENT_ID_LEN {
                    return Err(DecodeError::InvalidField);
                }
                let agent = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidField)?;
                let agent = agent.to_string();
                let file = r.bytes()?;
                if file.len() > MAX_FILE_BYTES {
                    return Err(DecodeError::InvalidField);
                }
                RegistrationMessage::Validated {
                    agent,
                    file: file.to_vec(),
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
    fn validated_round_trips_and_refuses_empty_agents_and_oversize_files() {
        let m = RegistrationMessage::Validated {
            agent: "miner-3".into(),
            file: b"{\"agent_id\":\"miner-3\"}".to_vec(),
        };
        assert_eq!(decode(&m.encode()), Ok(m));
        let mut w = frame(ProtocolTag::Registration, 0);
        w.u8(KIND_VALIDATED).bytes(b"").bytes(b"x");
        assert_eq!(decode(&w.finish()), Err(DecodeError::InvalidField));
        let mut w = frame(ProtocolTag::Registration, 0);
        w.u8(KIND_VALIDATED)
            .bytes(b"a")
            .bytes(&vec![b' '; MAX_FILE_BYTES + 1]);
        assert_eq!(decode(&w.finish()), Err(DecodeError::InvalidField));
        let mut w = frame(ProtocolTag::Registration, 0);
        w.u8(KIND_VALIDATED).bytes(b"a");
        assert!(decode(&w.finish()).is_err(), "no file");
    }

    #[test]
    fn registry_round_trips_sorted_and_refuses_disorder_and_excess() {
        let m = RegistrationMessage::Registry {
            agents: vec!["b".into(), "a".into(), "b".into()],
        };
        assert_eq!(
            decode(&m.encode()),
            Ok(RegistrationMessage::Registry {
                agents: vec!["a".into(), "b".into()]
            })
        );
        let mut w = frame(ProtocolTag::Registration, 0);
        w.u8(KIND_REGISTRY).u16(2).bytes(b"b").bytes(b"a");
        assert_eq!(
            decode(&w.finish()),
            Err(DecodeError::InvalidField),
            "unsorted"
        );
        let mut w = frame(ProtocolTag::Registration, 0);
        w.u8(KIND_REGISTRY).u16(u16::MAX);
        assert_eq!(
            decode(&w.finish()),
            Err(DecodeError::InvalidField),
            "count beyond the bytes"
        );
        let many: Vec<String> = (0..MAX_ANNOUNCED_AGENTS + 50)
            .map(|i| format!("m{i:05}"))
            .collect();
        let RegistrationMessage::Registry { agents } =
            decode(&RegistrationMessage::Registry { agents: many }.encode()).unwrap()
        else {
            panic!("not a registry")
        };
        assert_eq!(agents.len(), MAX_ANNOUNCED_AGENTS);
        let bytes = RegistrationMessage::Registry {
            agents: vec!["x".into(), "y".into()],
        }
        .encode();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn a_registry_request_round_trips_and_refuses_trailing_bytes() {
        let bytes = RegistrationMessage::RegistryRequest.encode();
        assert_eq!(decode(&bytes), Ok(RegistrationMessage::RegistryRequest));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(DecodeError::TrailingBytes));
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
