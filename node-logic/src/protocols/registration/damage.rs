//! Pure corruption functions for fault injection: how a registration file
//! is damaged when a scenario says `corrupt = "miner-3"`, `mode = ...`.
//!
//! The simulator reads the file as it stands, calls [`damage`] with the
//! host's fault RNG and puts the result back. Each mode applied to a valid
//! file yields bytes that [`validate`](crate::protocols::registration::file::validate)
//! reports as [`DamageMode::detected_as`]; no mode ever yields a file that
//! validates. Applied to bytes that are not a valid file (a file damaged
//! twice), each mode still returns damaged bytes of its kind where it can
//! (a fresh forged record for `bad-signature`, a lone `agent_id` for
//! `missing-field`, ...).

use rand::RngExt;
use rand_core::Rng;
use serde_json::Value;

use crate::identity::{Identity, SIGNATURE_LEN};
use crate::protocols::registration::file::{
    REGISTRATION_DOMAIN, REQUIRED_FIELDS, Registration, encode, encode_legacy_file, to_json_line,
    validate, wallet_address,
};
use crate::protocols::registration::observe::ValidationErrorKind;
use crate::time::SimTime;

/// How a registration file is damaged (the scenario's `mode` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DamageMode {
    /// Zero bytes.
    Empty,
    /// A random strict prefix that cuts at least the closing brace.
    Truncate,
    /// Random bytes of about the original length (never JSON).
    Garbage,
    /// Text that looks like the file but is not JSON (a stray token, a
    /// wrong closing bracket).
    InvalidJson,
    /// The JSON with one required field, chosen at random, removed.
    MissingField,
    /// The same record whose signature does not verify for its key: signed
    /// by a foreign identity drawn from the RNG, or with a bit flipped.
    BadSignature,
    /// The legacy per-file shape `{"agent_id", "wallet"}` with the same
    /// agent id and wallet.
    Legacy,
}

impl DamageMode {
    /// Every mode, in declaration order (what `mode = "mixed"` draws from).
    pub const ALL: [DamageMode; 7] = [
        DamageMode::Empty,
        DamageMode::Truncate,
        DamageMode::Garbage,
        DamageMode::InvalidJson,
        DamageMode::MissingField,
        DamageMode::BadSignature,
        DamageMode::Legacy,
    ];

    /// The scenario spelling (`"invalid-json"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DamageMode::Empty => "empty",
            DamageMode::Truncate => "truncate",
            DamageMode::Garbage => "garbage",
            DamageMode::InvalidJson => "invalid-json",
            DamageMode::MissingField => "missing-field",
            DamageMode::BadSignature => "bad-signature",
            DamageMode::Legacy => "legacy",
        }
    }

    /// The mode spelled `name` in a scenario, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        DamageMode::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The validation error this mode produces from a valid file.
    pub fn detected_as(self) -> ValidationErrorKind {
        match self {
            DamageMode::Empty => ValidationErrorKind::Empty,
            DamageMode::Truncate | DamageMode::Garbage | DamageMode::InvalidJson => {
                ValidationErrorKind::InvalidJson
            }
            DamageMode::MissingField => ValidationErrorKind::MissingField,
            DamageMode::BadSignature => ValidationErrorKind::BadSignature,
            DamageMode::Legacy => ValidationErrorKind::LegacyFormat,
        }
    }
}

/// The damaged version of `original`, the file of `agent_id`, drawing any
/// randomness from `rng`. Pure; never panics.
pub fn damage(mode: DamageMode, original: &[u8], agent_id: &str, rng: &mut dyn Rng) -> Vec<u8> {
    match mode {
        DamageMode::Empty => Vec::new(),
        DamageMode::Truncate => truncate(original, rng),
        DamageMode::Garbage => garbage(original.len(), rng),
        DamageMode::InvalidJson => invalid_json(original, agent_id, rng),
        DamageMode::MissingField => missing_field(original, agent_id, rng),
        DamageMode::BadSignature => bad_signature(original, agent_id, rng),
        DamageMode::Legacy => legacy(original, agent_id, rng),
    }
}

/// A strict prefix; when the content is longer than one non-whitespace
/// byte, the cut falls before its last non-whitespace byte (a trailing
/// newline cut alone would leave valid JSON).
fn truncate(original: &[u8], rng: &mut dyn Rng) -> Vec<u8> {
    let content_end = original.trim_ascii_end().len();
    let cut = if content_end >= 2 {
        rng.random_range(1..content_end)
    } else {
        original.len().saturating_sub(1)
    };
    original[..cut].to_vec()
}

/// Random bytes, length within an eighth of `len` (at least 16), with one
/// `0xff` byte, which no JSON text (UTF-8) and no whitespace contains.
fn garbage(len: usize, rng: &mut dyn Rng) -> Vec<u8> {
    let base = len.max(16);
    let spread = base / 8;
    let len = rng.random_range(base - spread..=base + spread);
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    // In bounds: `len >= base - spread >= 14`.
    let at = rng.random_range(0..len);
    bytes[at] = 0xff;
    bytes
}

fn invalid_json(original: &[u8], agent_id: &str, rng: &mut dyn Rng) -> Vec<u8> {
    if !matches!(
        serde_json::from_slice::<Value>(original),
        Ok(Value::Object(_))
    ) {
        // Not an object to begin with: an unterminated one.
        return format!("{{\"agent_id\": {}, ", Value::from(agent_id)).into_bytes();
    }
    // A JSON object's first non-whitespace byte is `{`, its last `}`: both
    // exist, so `first < last < len` and the indexing below is in bounds.
    let first = original.len() - original.trim_ascii_start().len();
    let last = original.trim_ascii_end().len() - 1;
    let mut bytes = original.to_vec();
    match rng.random_range(0..3u8) {
        0 => bytes[last] = b']',
        1 => bytes.insert(first + 1, b','),
        _ => {
            bytes.splice(last..last, *b" stray");
        }
    }
    bytes
}

fn missing_field(original: &[u8], agent_id: &str, rng: &mut dyn Rng) -> Vec<u8> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(original) else {
        return to_json_line(&serde_json::json!({ "agent_id": agent_id }));
    };
    let present: Vec<&str> = REQUIRED_FIELDS
        .into_iter()
        .filter(|k| map.contains_key(*k))
        .collect();
    if !present.is_empty() {
        let key = present[rng.random_range(0..present.len())];
        map.remove(key);
    }
    to_json_line(&Value::Object(map))
}

fn bad_signature(original: &[u8], agent_id: &str, rng: &mut dyn Rng) -> Vec<u8> {
    let foreign = random_identity(rng);
    let mut record = match validate(agent_id, original) {
        Ok(valid) => valid.into_record(),
        Err(_) => {
            // No valid record to re-sign: a well-formed record for this
            // agent whose key is one identity's and signature another's.
            let claimed = random_identity(rng);
            let mut record = Registration::signed(&foreign, agent_id, SimTime::ZERO);
            record.public_key = claimed.public_key();
            record.wallet_address = wallet_address(&record.public_key);
            record
        }
    };
    let resigned = foreign.sign(REGISTRATION_DOMAIN, &record.signing_bytes());
    let flip = rng.random_range(0..2u8) == 0;
    if flip || foreign.public_key() == record.public_key || resigned == record.signature {
        let bit = rng.random_range(0..SIGNATURE_LEN * 8);
        record.signature[bit / 8] ^= 1 << (bit % 8);
    } else {
        record.signature = resigned;
    }
    encode(&record)
}

fn legacy(original: &[u8], agent_id: &str, rng: &mut dyn Rng) -> Vec<u8> {
    let parsed = serde_json::from_slice::<Value>(original).ok();
    let field = |key: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let wallet = field("wallet_address")
        .or_else(|| field("wallet"))
        .unwrap_or_else(|| wallet_address(&random_identity(rng).public_key()));
    encode_legacy_file(agent_id, &wallet)
}

fn random_identity(rng: &mut dyn Rng) -> Identity {
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    Identity::from_secret(secret)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    use super::*;

    fn valid_file(seed: u8) -> Vec<u8> {
        encode(&Registration::signed(
            &Identity::from_secret([seed; 32]),
            "miner-4",
            SimTime::from_nanos(u64::from(seed) * 1_000_003),
        ))
    }

    #[test]
    fn names_round_trip() {
        for mode in DamageMode::ALL {
            assert_eq!(DamageMode::from_name(mode.as_str()), Some(mode));
        }
        assert_eq!(DamageMode::from_name("mixed"), None);
    }

    #[test]
    fn every_mode_is_detected_as_its_kind() {
        for seed in 0..200u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let original = valid_file(seed as u8);
            for mode in DamageMode::ALL {
                let damaged = damage(mode, &original, "miner-4", &mut rng);
                assert_ne!(damaged, original, "{mode:?} seed {seed}");
                assert_eq!(
                    validate("miner-4", &damaged).err(),
                    Some(mode.detected_as()),
                    "{mode:?} seed {seed}: {}",
                    String::from_utf8_lossy(&damaged)
                );
            }
        }
    }

    #[test]
    fn mode_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let original = valid_file(3);
        assert!(damage(DamageMode::Empty, &original, "miner-4", &mut rng).is_empty());
        for _ in 0..100 {
            let cut = damage(DamageMode::Truncate, &original, "miner-4", &mut rng);
            assert!(!cut.is_empty() && cut.len() < original.len());
            assert!(original.starts_with(&cut));
            let noise = damage(DamageMode::Garbage, &original, "miner-4", &mut rng);
            let spread = original.len() / 8;
            assert!(noise.len().abs_diff(original.len()) <= spread);
        }
        assert_eq!(damage(DamageMode::Truncate, b"x", "a", &mut rng), b"");
        assert_eq!(damage(DamageMode::Truncate, b"", "a", &mut rng), b"");
        let legacy = damage(DamageMode::Legacy, &original, "miner-4", &mut rng);
        let value: Value = serde_json::from_slice(&legacy).unwrap();
        let valid = validate("miner-4", &original).unwrap();
        assert_eq!(value["agent_id"], "miner-4");
        assert_eq!(value["wallet"], valid.wallet_address());
        // Bad signature keeps every field but the signature.
        let forged = damage(DamageMode::BadSignature, &original, "miner-4", &mut rng);
        let forged: Value = serde_json::from_slice(&forged).unwrap();
        let original_json: Value = serde_json::from_slice(&original).unwrap();
        for key in [
            "agent_id",
            "wallet_address",
            "public_key",
            "registered_at",
            "version",
        ] {
            assert_eq!(forged[key], original_json[key], "{key}");
        }
        assert_ne!(forged["signature"], original_json["signature"]);
    }

    #[test]
    fn damage_never_validates_whatever_the_input() {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let inputs: Vec<Vec<u8>> = vec![
            valid_file(1),
            Vec::new(),
            b"x".to_vec(),
            b"{}".to_vec(),
            b"[1, 2]".to_vec(),
            b"   \n".to_vec(),
            vec![0xff; 40],
            encode_legacy_file("miner-4", "0x12"),
        ];
        for round in 0..50 {
            for input in &inputs {
                for mode in DamageMode::ALL {
                    let damaged = damage(mode, input, "miner-4", &mut rng);
                    assert!(
                        validate("miner-4", &damaged).is_err(),
                        "{mode:?} round {round} of {input:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn damaging_twice_still_gives_the_kind() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let original = valid_file(5);
        for first in DamageMode::ALL {
            let once = damage(first, &original, "miner-4", &mut rng);
            for second in [
                DamageMode::Empty,
                DamageMode::Garbage,
                DamageMode::BadSignature,
            ] {
                let twice = damage(second, &once, "miner-4", &mut rng);
                assert_eq!(
                    validate("miner-4", &twice).err(),
                    Some(second.detected_as())
                );
            }
        }
    }
}
