//! The registration file format, its validation pipeline, and the legacy
//! formats it replaces.
//!
//! # The miner file
//!
//! Each miner writes `<agent_id>_miner_info.json` (and a backup copy,
//! `<agent_id>_miner_info.json.bak`) into the shared directory:
//!
//! ```json
//! {
//!   "agent_id": "miner-3",
//!   "wallet_address": "0x<40 lowercase hex digits>",
//!   "public_key": "<64 lowercase hex digits: the 32-byte ed25519 key>",
//!   "registered_at": 1250000000,
//!   "version": 1,
//!   "signature": "<128 lowercase hex digits: the 64-byte ed25519 signature>"
//! }
//! ```
//!
//! - `wallet_address` is `"0x"` followed by the lowercase hex of the first
//!   20 bytes of SHA-256(public key bytes): the key determines the wallet.
//! - `registered_at` is the simulated time of the write, in integer
//!   nanoseconds since the run started.
//! - `signature` is the miner's ed25519 signature under the domain
//!   [`REGISTRATION_DOMAIN`] over the canonical byte encoding of
//!   `(agent_id, wallet_address, public_key, registered_at, version)`
//!   ([`Registration::signing_bytes`]) — never over JSON text, so
//!   whitespace, key order and escapes do not matter to the signature.
//!
//! [`validate`] checks a file in a fixed order and reports the first
//! failure: [`Empty`](ValidationErrorKind::Empty) (no bytes or only
//! whitespace) → [`InvalidJson`](ValidationErrorKind::InvalidJson) (not
//! JSON, or larger than [`MAX_FILE_BYTES`]) →
//! [`LegacyFormat`](ValidationErrorKind::LegacyFormat) (an object with a
//! legacy `wallet` key and no `wallet_address`) →
//! [`MissingField`](ValidationErrorKind::MissingField) →
//! [`MistypedField`](ValidationErrorKind::MistypedField) (wrong JSON type,
//! hex that is not lowercase or has the wrong length, `version` other than
//! 1; also a document that is JSON but not an object) →
//! [`AgentIdMismatch`](ValidationErrorKind::AgentIdMismatch) (the agent id
//! inside differs from the file name's) →
//! [`WalletMismatch`](ValidationErrorKind::WalletMismatch) (not the wallet
//! of the key) → [`BadSignature`](ValidationErrorKind::BadSignature).
//! Unknown extra fields are ignored (the signature covers every field that
//! is used). [`DuplicateWallet`](ValidationErrorKind::DuplicateWallet) is
//! a property of the set of miners; the registrar checks it.
//!
//! # Legacy formats
//!
//! The centralized registry the decentralized files replace,
//! `agent_registry.json` ([`LEGACY_REGISTRY_FILE`]), is one JSON object
//! listing every agent and its wallet, unsigned:
//!
//! ```json
//! {"agents": [{"agent_id": "miner-0", "wallet_address": "0x..."}, ...]}
//! ```
//!
//! [`parse_legacy_registry`] reads it. The old per-miner file (what a stale
//! miner writes; the `legacy` corruption) is `{"agent_id": str, "wallet":
//! str}`: the old field name, no key, no signature
//! ([`encode_legacy_file`]); [`validate`] reports it as `LegacyFormat`.
//!
//! Everything here is pure: parsing JSON is computation, not IO. No input
//! makes these functions panic.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::codec::Writer;
use crate::identity::{Identity, Keypair, PUBLIC_KEY_LEN, PublicKey, SIGNATURE_LEN, hex};
use crate::protocols::consensus::{DirectVerifier, SignatureVerifier};
use crate::protocols::registration::observe::ValidationErrorKind;
use crate::time::SimTime;

/// Domain string of registration signatures.
pub const REGISTRATION_DOMAIN: &[u8] = b"sim/registration/v1";
/// The only file format version this build writes and accepts.
pub const FORMAT_VERSION: u32 = 1;
/// What a miner file's name ends with, after the agent id.
pub const FILE_SUFFIX: &str = "_miner_info.json";
/// What a backup file's name adds to the miner file's.
pub const BACKUP_SUFFIX: &str = ".bak";
/// What a quarantined file's name adds to the miner file's, before the
/// time it was quarantined at.
pub const QUARANTINE_INFIX: &str = ".corrupted.";
/// The legacy centralized registry's usual file name.
pub const LEGACY_REGISTRY_FILE: &str = "agent_registry.json";
/// The longest agent id (in UTF-8 bytes) a file name or a message may carry.
pub const MAX_AGENT_ID_LEN: usize = 64;
/// The largest miner file [`validate`] parses (real ones are ~350 bytes);
/// anything larger is [`ValidationErrorKind::InvalidJson`].
pub const MAX_FILE_BYTES: usize = 64 * 1024;
/// The largest legacy registry [`parse_legacy_registry`] parses.
pub const MAX_LEGACY_REGISTRY_BYTES: usize = 16 * 1024 * 1024;
/// Bytes of a wallet address (after `0x`).
pub const WALLET_LEN: usize = 20;

/// The JSON keys every miner file has, in the order they are written.
pub const REQUIRED_FIELDS: [&str; 6] = [
    "agent_id",
    "wallet_address",
    "public_key",
    "registered_at",
    "version",
    "signature",
];

/// The name of `agent_id`'s registration file.
pub fn file_name(agent_id: &str) -> String {
    format!("{agent_id}{FILE_SUFFIX}")
}

/// The name of `agent_id`'s backup file.
pub fn backup_name(agent_id: &str) -> String {
    format!("{agent_id}{FILE_SUFFIX}{BACKUP_SUFFIX}")
}

/// The agent whose registration file `name` is: `Some("miner-3")` for
/// `miner-3_miner_info.json`; `None` for anything else (backups, temporary
/// files, quarantined files, paths in subdirectories, agent ids that are
/// empty or longer than [`MAX_AGENT_ID_LEN`]).
pub fn agent_of_file(name: &str) -> Option<&str> {
    let agent = name.strip_suffix(FILE_SUFFIX)?;
    (!agent.is_empty() && agent.len() <= MAX_AGENT_ID_LEN && !agent.contains('/')).then_some(agent)
}

/// The name `agent_id`'s damaged file is quarantined under at `at_ns`
/// (nanoseconds): `<file>.corrupted.<at_ns>`.
pub fn quarantine_name(agent_id: &str, at_ns: u64) -> String {
    format!("{agent_id}{FILE_SUFFIX}{QUARANTINE_INFIX}{at_ns}")
}

/// The agent whose quarantined file `name` is: `Some("miner-3")` for
/// `miner-3_miner_info.json.corrupted.<digits>`; `None` for anything else.
pub fn agent_of_quarantined(name: &str) -> Option<&str> {
    // The trailing digits first: most names (every miner file and backup)
    // end in a letter and are refused without a substring search, which
    // matters when a listing has hundreds of thousands of names. The
    // character before the digits is the infix's final '.', so the digits
    // are exactly those after the last infix.
    let file_end = name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if file_end == name.len() {
        return None;
    }
    agent_of_file(name[..file_end].strip_suffix(QUARANTINE_INFIX)?)
}

/// The wallet address of `key`: `"0x"` + lowercase hex of the first
/// [`WALLET_LEN`] bytes of SHA-256(key).
pub fn wallet_address(key: &PublicKey) -> String {
    let digest = Sha256::digest(key.0);
    format!("0x{}", hex(&digest[..WALLET_LEN]))
}

/// A registration record: what a miner file says, not yet known to be
/// authentic (see [`validate`] and [`ValidRegistration`]). Fields are public
/// so tests and fault injection can edit them; the version is always
/// [`FORMAT_VERSION`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The miner's agent id (its host name).
    pub agent_id: String,
    /// The wallet registered.
    pub wallet_address: String,
    /// The miner's ed25519 key.
    pub public_key: PublicKey,
    /// When it was written (simulated time).
    pub registered_at: SimTime,
    /// The miner's signature over [`Registration::signing_bytes`].
    pub signature: [u8; SIGNATURE_LEN],
}

impl Registration {
    /// The record `identity` writes for `agent_id` at `registered_at`:
    /// its own wallet, signed.
    pub fn signed(identity: &Identity, agent_id: &str, registered_at: SimTime) -> Self {
        let mut record = Registration::unsigned(identity.public_key(), agent_id, registered_at);
        record.signature = identity.sign(REGISTRATION_DOMAIN, &record.signing_bytes());
        record
    }

    /// Signs ahead ([`Keypair::presign`]) the record the identity of `keys`
    /// writes for `agent_id` at `registered_at`: a driver that knows when a
    /// miner first starts (it writes its file then) signs for all miners at
    /// once. Any other record is signed when written, as before.
    pub fn presign(keys: &mut Keypair, agent_id: &str, registered_at: SimTime) {
        let record = Registration::unsigned(keys.public_key(), agent_id, registered_at);
        keys.presign(REGISTRATION_DOMAIN, &record.signing_bytes());
    }

    fn unsigned(public_key: PublicKey, agent_id: &str, registered_at: SimTime) -> Self {
        Registration {
            agent_id: agent_id.to_string(),
            wallet_address: wallet_address(&public_key),
            public_key,
            registered_at,
            signature: [0; SIGNATURE_LEN],
        }
    }

    /// The canonical bytes the signature covers: agent id and wallet as
    /// `u32`-length-prefixed UTF-8, the 32 key bytes, `registered_at` as a
    /// little-endian `u64`, the version as a little-endian `u32`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(
            self.agent_id.len() + self.wallet_address.len() + PUBLIC_KEY_LEN + 20,
        );
        w.bytes(self.agent_id.as_bytes())
            .bytes(self.wallet_address.as_bytes())
            .array(&self.public_key.0)
            .u64(self.registered_at.as_nanos())
            .u32(FORMAT_VERSION);
        w.finish()
    }

    /// Whether the signature is `public_key`'s over this record, asked of
    /// `verifier` (which may answer from a cache).
    pub fn verify_with(&self, verifier: &dyn SignatureVerifier) -> bool {
        verifier.verify(
            &self.public_key,
            REGISTRATION_DOMAIN,
            &self.signing_bytes(),
            &self.signature,
        )
    }

    /// Tells `verifier` that this record was signed here, with its key's
    /// secret (see [`SignatureVerifier::signed`]).
    pub fn vouch(&self, verifier: &dyn SignatureVerifier) {
        verifier.signed(
            &self.public_key,
            REGISTRATION_DOMAIN,
            &self.signing_bytes(),
            &self.signature,
        );
    }
}

/// The file bytes of `record`: pretty-printed JSON in the field order of
/// the module docs, with a final newline.
pub fn encode(record: &Registration) -> Vec<u8> {
    let json = FileJson {
        agent_id: &record.agent_id,
        wallet_address: &record.wallet_address,
        public_key: record.public_key.to_hex(),
        registered_at: record.registered_at.as_nanos(),
        version: FORMAT_VERSION,
        signature: hex(&record.signature),
    };
    to_json_line(&json)
}

/// A registration that passed every check of [`validate`]: the only way to
/// hold one is to validate bytes ("parse, don't validate").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidRegistration(Registration);

impl ValidRegistration {
    /// The authentic record.
    pub fn record(&self) -> &Registration {
        &self.0
    }
    /// The record, consumed.
    pub fn into_record(self) -> Registration {
        self.0
    }
    /// The miner's agent id.
    pub fn agent_id(&self) -> &str {
        &self.0.agent_id
    }
    /// The wallet registered.
    pub fn wallet_address(&self) -> &str {
        &self.0.wallet_address
    }
    /// The key that signed it.
    pub fn public_key(&self) -> PublicKey {
        self.0.public_key
    }
    /// When it was written.
    pub fn registered_at(&self) -> SimTime {
        self.0.registered_at
    }
}

/// Checks the bytes of the file named for `file_name_agent`, in the order
/// of the module docs, and returns the authentic record or the first
/// failure. Never panics.
pub fn validate(
    file_name_agent: &str,
    bytes: &[u8],
) -> Result<ValidRegistration, ValidationErrorKind> {
    validate_with(file_name_agent, bytes, &DirectVerifier)
}

/// [`validate`], with the signature checked by `verifier` (the run's
/// signature cache in the simulator: the answer is the same, the work
/// may not be).
pub fn validate_with(
    file_name_agent: &str,
    bytes: &[u8],
    verifier: &dyn SignatureVerifier,
) -> Result<ValidRegistration, ValidationErrorKind> {
    let map = parse_object(bytes, MAX_FILE_BYTES)?;
    if map.contains_key("wallet") && !map.contains_key("wallet_address") {
        return Err(ValidationErrorKind::LegacyFormat);
    }
    if REQUIRED_FIELDS.iter().any(|key| !map.contains_key(*key)) {
        return Err(ValidationErrorKind::MissingField);
    }
    let agent_id = string_field(&map, "agent_id")?;
    let wallet = string_field(&map, "wallet_address")?;
    if !is_wallet_shaped(wallet) {
        return Err(ValidationErrorKind::MistypedField);
    }
    let public_key = PublicKey(hex_field::<PUBLIC_KEY_LEN>(&map, "public_key")?);
    let registered_at = map
        .get("registered_at")
        .and_then(Value::as_u64)
        .ok_or(ValidationErrorKind::MistypedField)?;
    if map.get("version").and_then(Value::as_u64) != Some(u64::from(FORMAT_VERSION)) {
        return Err(ValidationErrorKind::MistypedField);
    }
    let signature = hex_field::<SIGNATURE_LEN>(&map, "signature")?;
    if agent_id != file_name_agent {
        return Err(ValidationErrorKind::AgentIdMismatch);
    }
    if wallet != wallet_address(&public_key) {
        return Err(ValidationErrorKind::WalletMismatch);
    }
    let record = Registration {
        agent_id: agent_id.to_string(),
        wallet_address: wallet.to_string(),
        public_key,
        registered_at: SimTime::from_nanos(registered_at),
        signature,
    };
    if !record.verify_with(verifier) {
        return Err(ValidationErrorKind::BadSignature);
    }
    Ok(ValidRegistration(record))
}

/// Reads a legacy `agent_registry.json` (format in the module docs) into
/// `(agent_id, wallet_address)` pairs in file order. Errors: `Empty`,
/// `InvalidJson` (also when larger than [`MAX_LEGACY_REGISTRY_BYTES`]),
/// `MissingField` (no `agents`, or an entry without one of its keys),
/// `MistypedField` (not an object, `agents` not an array, an entry not an
/// object, a value not a string, an agent id empty or longer than
/// [`MAX_AGENT_ID_LEN`], a wallet empty or longer than 128 bytes).
pub fn parse_legacy_registry(bytes: &[u8]) -> Result<Vec<(String, String)>, ValidationErrorKind> {
    let map = parse_object(bytes, MAX_LEGACY_REGISTRY_BYTES)?;
    let agents = map
        .get("agents")
        .ok_or(ValidationErrorKind::MissingField)?
        .as_array()
        .ok_or(ValidationErrorKind::MistypedField)?;
    let mut entries = Vec::with_capacity(agents.len());
    for entry in agents {
        let entry = entry
            .as_object()
            .ok_or(ValidationErrorKind::MistypedField)?;
        if !entry.contains_key("agent_id") || !entry.contains_key("wallet_address") {
            return Err(ValidationErrorKind::MissingField);
        }
        let agent = string_field(entry, "agent_id")?;
        let wallet = string_field(entry, "wallet_address")?;
        if agent.is_empty()
            || agent.len() > MAX_AGENT_ID_LEN
            || wallet.is_empty()
            || wallet.len() > 128
        {
            return Err(ValidationErrorKind::MistypedField);
        }
        entries.push((agent.to_string(), wallet.to_string()));
    }
    Ok(entries)
}

/// The bytes of a legacy registry listing `entries` (`(agent_id, wallet)`).
pub fn encode_legacy_registry(entries: &[(String, String)]) -> Vec<u8> {
    let json = LegacyRegistryJson {
        agents: entries
            .iter()
            .map(|(agent_id, wallet_address)| LegacyEntryJson {
                agent_id,
                wallet_address,
            })
            .collect(),
    };
    to_json_line(&json)
}

/// The bytes of a legacy per-miner file: `{"agent_id": .., "wallet": ..}`.
pub fn encode_legacy_file(agent_id: &str, wallet: &str) -> Vec<u8> {
    to_json_line(&LegacyFileJson { agent_id, wallet })
}

#[derive(Serialize)]
struct FileJson<'a> {
    agent_id: &'a str,
    wallet_address: &'a str,
    public_key: String,
    registered_at: u64,
    version: u32,
    signature: String,
}

#[derive(Serialize)]
struct LegacyFileJson<'a> {
    agent_id: &'a str,
    wallet: &'a str,
}

#[derive(Serialize)]
struct LegacyRegistryJson<'a> {
    agents: Vec<LegacyEntryJson<'a>>,
}

#[derive(Serialize)]
struct LegacyEntryJson<'a> {
    agent_id: &'a str,
    wallet_address: &'a str,
}

/// Pretty JSON of `value` plus a newline.
pub(crate) fn to_json_line<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serializing structs of strings, integers and vectors (and
    // `serde_json::Value`) into memory cannot fail: serde_json only errors
    // on non-string map keys or failing custom `Serialize` impls.
    let mut bytes = serde_json::to_vec_pretty(value).expect("plain JSON data always serializes");
    bytes.push(b'\n');
    bytes
}

/// The first three steps of every pipeline: empty, size, JSON, object.
fn parse_object(bytes: &[u8], max: usize) -> Result<Map<String, Value>, ValidationErrorKind> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ValidationErrorKind::Empty);
    }
    if bytes.len() > max {
        return Err(ValidationErrorKind::InvalidJson);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ValidationErrorKind::MistypedField),
        Err(_) => Err(ValidationErrorKind::InvalidJson),
    }
}

fn string_field<'a>(
    map: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a str, ValidationErrorKind> {
    map.get(key)
        .and_then(Value::as_str)
        .ok_or(ValidationErrorKind::MistypedField)
}

fn hex_field<const N: usize>(
    map: &Map<String, Value>,
    key: &str,
) -> Result<[u8; N], ValidationErrorKind> {
    let text = string_field(map, key)?;
    decode_hex::<N>(text).ok_or(ValidationErrorKind::MistypedField)
}

fn is_wallet_shaped(wallet: &str) -> bool {
    wallet
        .strip_prefix("0x")
        .is_some_and(|digits| decode_hex::<WALLET_LEN>(digits).is_some())
}

/// Exactly `2 * N` lowercase hex digits.
pub(crate) fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};

    use super::*;

    fn identity(n: u8) -> Identity {
        Identity::from_secret([n; 32])
    }

    fn record() -> Registration {
        Registration::signed(&identity(1), "miner-1", SimTime::from_nanos(1_250_000_000))
    }

    /// The record's JSON with `edit` applied to the object.
    fn edited(edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
        let mut value: Value = serde_json::from_slice(&encode(&record())).unwrap();
        edit(value.as_object_mut().unwrap());
        to_json_line(&value)
    }

    #[test]
    fn a_signed_record_round_trips() {
        let original = record();
        let bytes = encode(&original);
        let valid = validate("miner-1", &bytes).unwrap();
        assert_eq!(valid.record(), &original);
        assert_eq!(valid.agent_id(), "miner-1");
        assert_eq!(valid.public_key(), identity(1).public_key());
        assert_eq!(
            valid.wallet_address(),
            wallet_address(&identity(1).public_key())
        );
        assert_eq!(valid.registered_at(), SimTime::from_nanos(1_250_000_000));
        assert_eq!(valid.into_record(), original);
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("{\n  \"agent_id\": \"miner-1\",\n  \"wallet_address\": \"0x"),
            "{text}"
        );
        assert!(
            text.contains("\"registered_at\": 1250000000") && text.contains("\"version\": 1"),
            "{text}"
        );
    }

    #[test]
    fn wallet_is_the_hashed_key() {
        let wallet = wallet_address(&PublicKey([0; 32]));
        // SHA-256 of 32 zero bytes begins 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925.
        assert_eq!(wallet, "0x66687aadf862bd776c8fc18b8e9f8e2008971485");
        assert_eq!(wallet_address(&identity(1).public_key()).len(), 42);
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name("m-1"), "m-1_miner_info.json");
        assert_eq!(backup_name("m-1"), "m-1_miner_info.json.bak");
        assert_eq!(agent_of_file("m-1_miner_info.json"), Some("m-1"));
        for other in [
            "m-1_miner_info.json.bak",
            "m-1_miner_info.json.tmp.3",
            "m-1_miner_info.json.corrupted.17",
            "_miner_info.json",
            "dir/m-1_miner_info.json",
            "agent_registry.json",
        ] {
            assert_eq!(agent_of_file(other), None, "{other}");
        }
        let long = file_name(&"x".repeat(MAX_AGENT_ID_LEN + 1));
        assert_eq!(agent_of_file(&long), None);
        assert_eq!(
            quarantine_name("m-1", 17),
            "m-1_miner_info.json.corrupted.17"
        );
        assert_eq!(
            agent_of_quarantined(&quarantine_name("m-1", 17)),
            Some("m-1")
        );
        for other in [
            "m-1_miner_info.json",
            "m-1_miner_info.json.corrupted.",
            "m-1_miner_info.json.corrupted.1x",
            "m-1_miner_info.json.bak.corrupted.17",
            "dir/m-1_miner_info.json.corrupted.17",
            "m-1_miner_info.json.tmp.3",
            "m-1_miner_info.json.corrupted.17.corrupted.18",
            "17",
        ] {
            assert_eq!(agent_of_quarantined(other), None, "{other}");
        }
    }

    /// The fast parse of quarantined names agrees with the plain one
    /// (the last infix, then digits only) on names built to trip it.
    #[test]
    fn quarantined_names_parse_as_by_the_last_infix() {
        fn plain(name: &str) -> Option<&str> {
            let (file, at) = name.rsplit_once(QUARANTINE_INFIX)?;
            let digits = !at.is_empty() && at.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| agent_of_file(file)).flatten()
        }
        let parts = [
            "m-1",
            "_miner_info.json",
            ".corrupted.",
            "17",
            ".",
            "x",
            ".bak",
        ];
        let mut names = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = names
                .iter()
                .flat_map(|n| parts.iter().map(move |p| format!("{n}{p}")))
                .collect();
            names.extend(longer);
        }
        let mut found = 0;
        for name in &names {
            assert_eq!(agent_of_quarantined(name), plain(name), "{name:?}");
            found += usize::from(plain(name).is_some());
        }
        assert!(found > 0, "some names are quarantined files");
    }

    #[test]
    fn signature_is_over_canonical_bytes_not_json_text() {
        let original = record();
        // Compact JSON with another key order validates to the same record.
        let value: Value = serde_json::from_slice(&encode(&original)).unwrap();
        let compact = serde_json::to_vec(&value).unwrap();
        assert_eq!(validate("miner-1", &compact).unwrap().record(), &original);
        // The signature is over the canonical encoding under the domain.
        assert!(
            original
                .public_key
                .verify(
                    REGISTRATION_DOMAIN,
                    &original.signing_bytes(),
                    &original.signature
                )
                .is_ok()
        );
    }

    #[test]
    fn empty() {
        for bytes in [&b""[..], b"   ", b"\n\t\r\n "] {
            assert_eq!(validate("miner-1", bytes), Err(ValidationErrorKind::Empty));
        }
    }

    #[test]
    fn invalid_json() {
        let bytes = encode(&record());
        for bad in [
            &bytes[..bytes.len() / 2],
            b"{\"agent_id\": ",
            b"\xff\xfe garbage",
            b"{} trailing",
            b"not json at all",
        ] {
            assert_eq!(
                validate("miner-1", bad),
                Err(ValidationErrorKind::InvalidJson)
            );
        }
        let mut huge = b"{\"pad\": \"".to_vec();
        huge.resize(MAX_FILE_BYTES, b'a');
        huge.extend_from_slice(b"\"}");
        assert_eq!(
            validate("miner-1", &huge),
            Err(ValidationErrorKind::InvalidJson)
        );
    }

    #[test]
    fn legacy_format() {
        let wallet = record().wallet_address;
        assert_eq!(
            validate("miner-1", &encode_legacy_file("miner-1", &wallet)),
            Err(ValidationErrorKind::LegacyFormat)
        );
        // The legacy key next to the new one is not the legacy shape.
        let both = edited(|m| {
            m.insert("wallet".into(), Value::from("x"));
        });
        assert!(validate("miner-1", &both).is_ok());
    }

    #[test]
    fn missing_field() {
        for key in REQUIRED_FIELDS {
            let bytes = edited(|m| {
                m.remove(key);
            });
            assert_eq!(
                validate("miner-1", &bytes),
                Err(ValidationErrorKind::MissingField),
                "{key}"
            );
        }
        assert_eq!(
            validate("miner-1", b"{}"),
            Err(ValidationErrorKind::MissingField)
        );
    }

    #[test]
    fn mistyped_field() {
        let key_hex = record().public_key.to_hex();
        let cases: Vec<(&str, Value)> = vec![
            ("agent_id", Value::from(7)),
            ("agent_id", Value::Null),
            ("wallet_address", Value::from(1)),
            (
                "wallet_address",
                Value::from("66687aadf862bd776c8fc18b8e9f8e2008971485"),
            ),
            (
                "wallet_address",
                Value::from("0x66687aadf862bd776c8fc18b8e9f8e200897148"),
            ),
            (
                "wallet_address",
                Value::from("0x66687AADF862BD776C8FC18B8E9F8E2008971485"),
            ),
            ("public_key", Value::from(key_hex.to_uppercase())),
            ("public_key", Value::from(&key_hex[2..])),
            ("public_key", Value::from(format!("{key_hex}00"))),
            ("public_key", Value::from(format!("zz{}", &key_hex[2..]))),
            ("public_key", Value::from(vec![1, 2, 3])),
            ("registered_at", Value::from(-1)),
            ("registered_at", Value::from(1.5)),
            ("registered_at", Value::from("1250000000")),
            ("version", Value::from(2)),
            ("version", Value::from("1")),
            ("version", Value::from(1.0)),
            ("signature", Value::from("00")),
            ("signature", Value::from(false)),
        ];
        for (key, value) in cases {
            let shown = value.to_string();
            let bytes = edited(|m| {
                m.insert(key.into(), value);
            });
            assert_eq!(
                validate("miner-1", &bytes),
                Err(ValidationErrorKind::MistypedField),
                "{key} = {shown}"
            );
        }
        for not_object in [&b"[]"[..], b"42", b"\"text\"", b"null"] {
            assert_eq!(
                validate("miner-1", not_object),
                Err(ValidationErrorKind::MistypedField)
            );
        }
    }

    #[test]
    fn agent_id_mismatch() {
        assert_eq!(
            validate("miner-2", &encode(&record())),
            Err(ValidationErrorKind::AgentIdMismatch)
        );
        // A record validly signed for another agent, copied under this name.
        let other = Registration::signed(&identity(1), "miner-9", SimTime::ZERO);
        assert_eq!(
            validate("miner-1", &encode(&other)),
            Err(ValidationErrorKind::AgentIdMismatch)
        );
    }

    #[test]
    fn wallet_mismatch() {
        let mut forged = record();
        forged.wallet_address = wallet_address(&identity(2).public_key());
        assert_eq!(
            validate("miner-1", &encode(&forged)),
            Err(ValidationErrorKind::WalletMismatch)
        );
        let mut swapped_key = record();
        swapped_key.public_key = identity(2).public_key();
        assert_eq!(
            validate("miner-1", &encode(&swapped_key)),
            Err(ValidationErrorKind::WalletMismatch)
        );
    }

    #[test]
    fn bad_signature() {
        // Another key signed the same fields.
        let mut foreign = record();
        foreign.signature = identity(2).sign(REGISTRATION_DOMAIN, &foreign.signing_bytes());
        assert_eq!(
            validate("miner-1", &encode(&foreign)),
            Err(ValidationErrorKind::BadSignature)
        );
        // A field changed after signing.
        let mut later = record();
        later.registered_at = SimTime::from_nanos(1);
        assert_eq!(
            validate("miner-1", &encode(&later)),
            Err(ValidationErrorKind::BadSignature)
        );
        // Key and wallet replaced consistently: still not that key's signature.
        let mut rekeyed = record();
        rekeyed.public_key = identity(3).public_key();
        rekeyed.wallet_address = wallet_address(&rekeyed.public_key);
        assert_eq!(
            validate("miner-1", &encode(&rekeyed)),
            Err(ValidationErrorKind::BadSignature)
        );
        // Signed under another domain.
        let mut domain = record();
        domain.signature = identity(1).sign(b"other", &domain.signing_bytes());
        assert_eq!(
            validate("miner-1", &encode(&domain)),
            Err(ValidationErrorKind::BadSignature)
        );
        // A key that is not a curve point.
        let mut bogus = record();
        bogus.public_key = PublicKey([0xff; 32]);
        bogus.wallet_address = wallet_address(&bogus.public_key);
        assert_eq!(
            validate("miner-1", &encode(&bogus)),
            Err(ValidationErrorKind::BadSignature)
        );
    }

    #[test]
    fn pipeline_order_reports_the_first_failure() {
        // Missing field and mistyped field: missing wins.
        let bytes = edited(|m| {
            m.remove("signature");
            m.insert("version".into(), Value::from(9));
        });
        assert_eq!(
            validate("miner-1", &bytes),
            Err(ValidationErrorKind::MissingField)
        );
        // Mistyped and agent mismatch: mistyped wins.
        let bytes = edited(|m| {
            m.insert("version".into(), Value::from(9));
        });
        assert_eq!(
            validate("other", &bytes),
            Err(ValidationErrorKind::MistypedField)
        );
        // Agent mismatch and wallet mismatch: agent wins.
        let mut both = record();
        both.wallet_address = wallet_address(&identity(2).public_key());
        assert_eq!(
            validate("other", &encode(&both)),
            Err(ValidationErrorKind::AgentIdMismatch)
        );
    }

    #[test]
    fn legacy_registry_parses_and_rejects() {
        let entries = vec![
            ("miner-0".to_string(), "0xaa".to_string()),
            ("miner-1".to_string(), "0xbb".to_string()),
        ];
        let bytes = encode_legacy_registry(&entries);
        assert_eq!(parse_legacy_registry(&bytes), Ok(entries));
        assert_eq!(parse_legacy_registry(b"{\"agents\": []}"), Ok(vec![]));
        let cases: [(&[u8], ValidationErrorKind); 10] = [
            (b"", ValidationErrorKind::Empty),
            (b"{\"agents\": [", ValidationErrorKind::InvalidJson),
            (b"{}", ValidationErrorKind::MissingField),
            (
                b"{\"agents\": [{\"agent_id\": \"a\"}]}",
                ValidationErrorKind::MissingField,
            ),
            (b"[]", ValidationErrorKind::MistypedField),
            (b"{\"agents\": {}}", ValidationErrorKind::MistypedField),
            (b"{\"agents\": [7]}", ValidationErrorKind::MistypedField),
            (
                b"{\"agents\": [{\"agent_id\": 1, \"wallet_address\": \"w\"}]}",
                ValidationErrorKind::MistypedField,
            ),
            (
                b"{\"agents\": [{\"agent_id\": \"\", \"wallet_address\": \"w\"}]}",
                ValidationErrorKind::MistypedField,
            ),
            (
                b"{\"agents\": [{\"agent_id\": \"a\", \"wallet_address\": \"\"}]}",
                ValidationErrorKind::MistypedField,
            ),
        ];
        for (bytes, kind) in cases {
            assert_eq!(
                parse_legacy_registry(bytes),
                Err(kind),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..2000 {
            let len = (rng.next_u32() % 400) as usize;
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            assert!(validate("miner-1", &bytes).is_err());
            let _ = parse_legacy_registry(&bytes);
        }
        // Deep nesting hits serde_json's recursion limit, not the stack.
        let deep = "[".repeat(60_000);
        assert_eq!(
            validate("miner-1", deep.as_bytes()),
            Err(ValidationErrorKind::InvalidJson)
        );
    }
}
