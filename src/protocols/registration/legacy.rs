//! The legacy registry a scenario names (`[registration]
//! legacy_registry`): read bounded, checked with the registrars' own
//! parser, and located — what is wrong is reported at its line and column.

use std::collections::BTreeMap;
use std::path::Path;

use node_logic::protocols::registration::ValidationErrorKind;
use node_logic::protocols::registration::file::{MAX_AGENT_ID_LEN, parse_legacy_registry};
use serde_json::Value;
use serde_json::value::RawValue;
use sim_core::input::{self, read_bounded};
use sim_core::scenario::{self, ErrorKind, Field, ScenarioError, unreadable};

use super::RegistrationSpec;
use super::plan::PlanError;

/// The largest legacy registry read: the format's own limit (16 MiB), past
/// which the registrars refuse it too.
pub const MAX_LEGACY_REGISTRY_BYTES: u64 =
    node_logic::protocols::registration::file::MAX_LEGACY_REGISTRY_BYTES as u64;

/// A scenario's legacy registry, read and parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyRegistry {
    /// The file's bytes, to place in the shared directory.
    pub bytes: Vec<u8>,
    /// Its `(agent, wallet)` entries.
    pub entries: Vec<(String, String)>,
}

/// The legacy registry `spec` names, read and parsed; `None` when it names none.
pub fn read_legacy(spec: &RegistrationSpec) -> Result<Option<LegacyRegistry>, PlanError> {
    let Some(path) = &spec.legacy_registry else {
        return Ok(None);
    };
    let bytes =
        read_bounded(path, MAX_LEGACY_REGISTRY_BYTES, "a legacy registry").map_err(|source| {
            PlanError::ReadLegacy {
                path: path.clone(),
                source,
            }
        })?;
    let entries = parse_legacy_located(&bytes).map_err(|error| PlanError::BadLegacy {
        path: path.clone(),
        error,
    })?;
    Ok(Some(LegacyRegistry { bytes, entries }))
}

/// Reads and checks the legacy registry at `path`, which `field` names:
/// an unreadable file is an error at the key, bad content at its line and
/// column in the file.
pub fn check_legacy(field: &Field<'_>, path: &Path) -> scenario::Result<()> {
    let bytes = read_bounded(path, MAX_LEGACY_REGISTRY_BYTES, "a legacy registry")
        .map_err(|e| unreadable(field, "legacy registry", path, &e))?;
    parse_legacy_located(&bytes).map_err(|e| {
        ScenarioError::in_file(
            ErrorKind::ReferencedFile,
            format!("the legacy registry is not valid: {}", e.what),
            path,
            &bytes,
            (e.line, e.column),
        )
        .with_note(format!("the registry named by `{}`", field.path()))
        .with_help(LEGACY_FORMAT)
    })?;
    Ok(())
}

/// What a legacy registry must look like, for messages.
pub const LEGACY_FORMAT: &str =
    "it must be {\"agents\": [{\"agent_id\": \"...\", \"wallet_address\": \"...\"}, ...]}";

/// Why a legacy registry was refused, and where in the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {what}")]
pub struct LegacyError {
    /// The registrars' verdict (as `parse_legacy_registry` gives it).
    pub kind: ValidationErrorKind,
    /// 1-based line of the offending value (or entry).
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong there.
    pub what: String,
}

/// [`parse_legacy_registry`] (the registrars' own check, so the verdict is
/// theirs) with the position of what is wrong: the JSON error's position,
/// the first byte of the value or entry that breaks the format, or line 1,
/// column 1 for an empty file.
pub fn parse_legacy_located(bytes: &[u8]) -> Result<Vec<(String, String)>, LegacyError> {
    let kind = match parse_legacy_registry(bytes) {
        Ok(entries) => return Ok(entries),
        Err(kind) => kind,
    };
    let (offset, what) = legacy_problem(bytes).unwrap_or_else(|| (0, kind.as_str().to_string()));
    let (line, column) = input::line_column(bytes, offset);
    Err(LegacyError {
        kind,
        line,
        column,
        what,
    })
}

/// The offset and description of the first problem in a legacy registry,
/// checked in the order `parse_legacy_registry` checks.
fn legacy_problem(bytes: &[u8]) -> Option<(usize, String)> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some((0, "the file is empty".into()));
    }
    if bytes.len() as u64 > MAX_LEGACY_REGISTRY_BYTES {
        let what = format!("larger than {MAX_LEGACY_REGISTRY_BYTES} bytes");
        return Some((0, what));
    }
    if let Err(e) = serde_json::from_slice::<Value>(bytes) {
        let what = format!("not JSON: {}", json_message(&e));
        return Some((json_offset(bytes, &e), what));
    }
    // Valid JSON is valid UTF-8 (serde_json checks the strings).
    let text = std::str::from_utf8(bytes).ok()?;
    let at = |raw: &RawValue| raw.get().as_ptr() as usize - text.as_ptr() as usize;
    let top: &RawValue = serde_json::from_str(text).ok()?;
    let Some(fields) = object(top) else {
        return Some((
            at(top),
            format!("the file holds {}, not an object", kind_of(top)),
        ));
    };
    let Some(agents) = fields.get("agents") else {
        return Some((at(top), "the object has no `agents` list".into()));
    };
    let Ok(entries) = serde_json::from_str::<Vec<&RawValue>>(agents.get()) else {
        let what = format!("`agents` is {}, not a list", kind_of(agents));
        return Some((at(agents), what));
    };
    entries
        .iter()
        .enumerate()
        .find_map(|(i, entry)| entry_problem(entry, i + 1).map(|(raw, what)| (at(raw), what)))
}

/// The first problem of entry `n` (1-based) of `agents`: the raw value it
/// is in, and what.
fn entry_problem(entry: &RawValue, n: usize) -> Option<(&RawValue, String)> {
    let Some(fields) = object(entry) else {
        return Some((
            entry,
            format!("entry {n} of `agents` is {}, not an object", kind_of(entry)),
        ));
    };
    for key in ["agent_id", "wallet_address"] {
        if !fields.contains_key(key) {
            return Some((entry, format!("entry {n} of `agents` has no `{key}`")));
        }
    }
    let mut texts = Vec::new();
    for key in ["agent_id", "wallet_address"] {
        let raw = fields[key];
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::String(text)) => texts.push((key, raw, text)),
            _ => {
                return Some((
                    raw,
                    format!("`{key}` of entry {n} is {}, not a string", kind_of(raw)),
                ));
            }
        }
    }
    for (key, raw, text) in texts {
        let max = if key == "agent_id" {
            MAX_AGENT_ID_LEN
        } else {
            128
        };
        if text.is_empty() || text.len() > max {
            let what = format!(
                "`{key}` of entry {n} must be 1 to {max} bytes long, not {}",
                text.len()
            );
            return Some((raw, what));
        }
    }
    None
}

/// The fields of a JSON object (the last of repeated keys wins, as in
/// `parse_legacy_registry`), or `None` for another kind of value.
fn object(raw: &RawValue) -> Option<BTreeMap<String, &RawValue>> {
    if !raw.get().starts_with('{') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// "a number", "a list", ... for a raw JSON value.
fn kind_of(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "a list",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// serde_json's message without its " at line L column C" suffix.
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// The byte offset of a serde_json error (its line, and column in bytes).
fn json_offset(bytes: &[u8], e: &serde_json::Error) -> usize {
    let line_start = bytes
        .split_inclusive(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum::<usize>();
    (line_start + e.column().saturating_sub(1)).min(bytes.len())
}
