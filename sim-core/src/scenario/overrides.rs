//! `--set key=value`: edits to the parsed document before it is read.
//!
//! The key is a dotted path (`registration.strategy`, `hosts.0.count`,
//! `hosts.miner.count`, `targets."registration.p95_s"`); the value is parsed
//! as a TOML value, or taken as a string when it is not one (so
//! `--set registration.strategy=poll` needs no quotes). The value's spans are
//! moved into the override's own region of [`Sources`], so any later error
//! about it points at the `--set` instead of a file position.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::error::{ErrorKind, Origin, ScenarioError};
use super::source::{Sources, Span};
use super::suggest::did_you_mean;

/// One `--set key=value` argument (or an edit another flag makes the same
/// way, such as one value of a `--sweep`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Dotted key path, e.g. `registration.strategy` or `hosts.miner.count`.
    pub key: String,
    /// The value as written: a TOML value, or else a plain string.
    pub value: String,
    /// The flag it came with, named in errors: `--set`, `--sweep`, ...
    pub flag: &'static str,
}

impl Override {
    /// A `--set key=value` edit.
    pub fn set(key: impl Into<String>, value: impl Into<String>) -> Self {
        Override {
            key: key.into(),
            value: value.into(),
            flag: "--set",
        }
    }
}

impl FromStr for Override {
    type Err = ScenarioError;

    /// Parses `key=value` (split at the first `=`).
    fn from_str(text: &str) -> Result<Self, ScenarioError> {
        let bad = |message: &str| {
            ScenarioError::new(
                ErrorKind::Override,
                message,
                Origin::Override {
                    flag: "--set".to_string(),
                    argument: text.to_string(),
                },
            )
            .with_help("write --set key=value, e.g. --set registration.strategy=poll")
        };
        let Some((key, value)) = text.split_once('=') else {
            return Err(bad(
                "a --set argument needs `=` between the key and the value",
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(bad("a --set argument needs a key before `=`"));
        }
        Ok(Override::set(key, value.trim()))
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// Applies `overrides` to `root` in order; each gets a region of `src`.
pub(crate) fn apply_all<'a>(
    root: &mut DeTable<'a>,
    overrides: &'a [Override],
    src: &mut Sources<'_>,
) -> Result<(), ScenarioError> {
    for ov in overrides {
        let argument = ov.to_string();
        let segments = split_key(&ov.key).map_err(|message| {
            src.override_error(ov.flag, &argument, ErrorKind::Override, message)
        })?;
        let base = src.add_override(ov.flag, argument.clone(), ov.value.len());
        let region = base..base.saturating_add(ov.value.len());
        let value = parse_value(&ov.value, base);
        let mut document = DeValue::Table(std::mem::take(root));
        let result = set(&mut document, "", &segments, value, &region);
        if let DeValue::Table(table) = document {
            *root = table;
        }
        result.map_err(|(message, help)| {
            src.override_error(ov.flag, &argument, ErrorKind::Override, message)
                .with_key(ov.key.clone())
                .with_help_opt(help)
        })?;
    }
    Ok(())
}

/// Splits `a.b."c.d".0` into its segments.
fn split_key(key: &str) -> Result<Vec<String>, String> {
    let mut segments = Vec::new();
    let mut chars = key.chars().peekable();
    loop {
        let mut segment = String::new();
        match chars.peek() {
            Some(&quote @ ('"' | '\'')) => {
                chars.next();
                loop {
                    match chars.next() {
                        Some(c) if c == quote => break,
                        Some('\\') if quote == '"' => match chars.next() {
                            Some(c) => segment.push(c),
                            None => return Err(format!("unclosed quote in key `{key}`")),
                        },
                        Some(c) => segment.push(c),
                        None => return Err(format!("unclosed quote in key `{key}`")),
                    }
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    segment.push(c);
                    chars.next();
                }
                segment = segment.trim().to_string();
                if segment.is_empty() {
                    return Err(format!("empty segment in key `{key}`"));
                }
            }
        }
        segments.push(segment);
        match chars.next() {
            None => return Ok(segments),
            Some('.') => {}
            Some(c) => {
                return Err(format!(
                    "unexpected `{c}` after a quoted segment in key `{key}`"
                ));
            }
        }
    }
}

/// The value as TOML if it parses, else as a string; spans moved to `base`.
fn parse_value(text: &str, base: usize) -> Spanned<DeValue<'_>> {
    match DeValue::parse(text) {
        Ok(value) => shift(value, base),
        Err(_) => Spanned::new(
            base..base.saturating_add(text.len()),
            DeValue::String(Cow::Borrowed(text)),
        ),
    }
}

/// `value` with every span moved by `by`.
fn shift(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = value.span();
    let moved = span.start.saturating_add(by)..span.end.saturating_add(by);
    let inner = match value.into_inner() {
        DeValue::Table(table) => {
            let mut shifted = DeTable::new();
            for (key, item) in table {
                let key_span = key.span();
                let key = Spanned::new(
                    key_span.start.saturating_add(by)..key_span.end.saturating_add(by),
                    key.into_inner(),
                );
                shifted.insert(key, shift(item, by));
            }
            DeValue::Table(shifted)
        }
        DeValue::Array(items) => {
            let mut shifted = DeArray::new();
            for item in items {
                shifted.push(shift(item, by));
            }
            DeValue::Array(shifted)
        }
        other => other,
    };
    Spanned::new(moved, inner)
}

/// A failed edit: the message and an optional help line.
type EditError = (String, Option<String>);

/// Sets `segments` under `node` (reached by `walked`) to `value`, creating
/// missing tables; array entries are chosen by index or by their `name`.
fn set<'a>(
    node: &mut DeValue<'a>,
    walked: &str,
    segments: &[String],
    value: Spanned<DeValue<'a>>,
    region: &Span,
) -> Result<(), EditError> {
    let Some((segment, rest)) = segments.split_first() else {
        return Ok(());
    };
    let here = if walked.is_empty() {
        segment.clone()
    } else {
        format!("{walked}.{segment}")
    };
    match node {
        DeValue::Table(table) => {
            if rest.is_empty() {
                match table.get_mut(segment.as_str()) {
                    Some(existing) => *existing = value,
                    None => {
                        let key = Spanned::new(region.clone(), Cow::Owned(segment.clone()));
                        table.insert(key, value);
                    }
                }
                return Ok(());
            }
            if table.get(segment.as_str()).is_none() {
                let key = Spanned::new(region.clone(), Cow::Owned(segment.clone()));
                let empty = Spanned::new(region.clone(), DeValue::Table(DeTable::new()));
                table.insert(key, empty);
            }
            match table.get_mut(segment.as_str()) {
                Some(child) => set(child.get_mut(), &here, rest, value, region),
                None => Err((format!("cannot create `{here}`"), None)),
            }
        }
        DeValue::Array(items) => {
            let index = array_index(items, segment).map_err(|names| {
                let message = format!("`{walked}` has no entry `{segment}`");
                let help = if names.is_empty() {
                    format!("use an index from 0 to {}", items.len().saturating_sub(1))
                } else {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    did_you_mean(segment, names.iter().copied()).unwrap_or_else(|| {
                        format!(
                            "use an index from 0 to {} or a name: {}",
                            items.len().saturating_sub(1),
                            names.join(", ")
                        )
                    })
                };
                let help = if items.is_empty() {
                    format!("`{walked}` is empty")
                } else {
                    help
                };
                (message, Some(help))
            })?;
            let Some(item) = items.get_mut(index) else {
                return Err((format!("`{walked}` has no entry `{segment}`"), None));
            };
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set(item.get_mut(), &here, rest, value, region)
            }
        }
        other => Err((
            format!(
                "`{walked}` is {} {}, so `{here}` cannot be set inside it",
                article(other.type_str()),
                other.type_str()
            ),
            Some(format!("set `{walked}` itself")),
        )),
    }
}

/// The entry `segment` names: an index, or the entry whose `name` it is.
/// On failure, the entries' names (for the message).
fn array_index(items: &DeArray<'_>, segment: &str) -> Result<usize, Vec<String>> {
    if let Ok(index) = segment.parse::<usize>()
        && index < items.len()
    {
        return Ok(index);
    }
    let name_of = |item: &Spanned<DeValue<'_>>| {
        item.get_ref()
            .as_table()
            .and_then(|t| t.get("name"))
            .and_then(|n| n.get_ref().as_str())
            .map(str::to_string)
    };
    if let Some(index) = items
        .iter()
        .position(|item| name_of(item).as_deref() == Some(segment))
    {
        return Ok(index);
    }
    Err(items.iter().filter_map(name_of).collect())
}

/// "a" or "an" before a TOML type name.
fn article(type_name: &str) -> &'static str {
    if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_value() {
        let ov: Override = "registration.strategy=poll".parse().unwrap();
        assert_eq!(ov.key, "registration.strategy");
        assert_eq!(ov.value, "poll");
        let ov: Override = "description=a=b".parse().unwrap();
        assert_eq!(ov.value, "a=b");
        assert!("no-equals".parse::<Override>().is_err());
        assert!("=5".parse::<Override>().is_err());
    }

    #[test]
    fn splits_quoted_keys() {
        assert_eq!(
            split_key("targets.\"registration.p95_s\"").unwrap(),
            ["targets", "registration.p95_s"]
        );
        assert_eq!(split_key("hosts.0.count").unwrap(), ["hosts", "0", "count"]);
        assert!(split_key("a..b").is_err());
        assert!(split_key("a.\"b").is_err());
        assert!(split_key("\"a\"b").is_err());
    }
}
