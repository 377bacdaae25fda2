//! `[[faults]]`: each entry has `at`, exactly one kind key, and only the
//! options of that kind. Which kinds exist, and what each reads, is the
//! model's ([`super::Model::fault_kinds`], [`super::Model::parse_fault`]);
//! this module checks the shape every entry shares.

use toml::de::DeValue;

use super::error::ErrorKind;
use super::reader::{Field, Result, Table};
use super::suggest::one_of;
use super::timeline;
use super::{FaultKeys, Hosts, Location, Model};
use crate::units::SimTime;

/// One `[[faults]]` entry being read: its table, its kind and its start.
pub struct FaultEntry<'a> {
    /// The entry's table (`at`, the kind key, the options).
    pub table: Table<'a>,
    /// The kind key (`partition`, `crash`, ...).
    pub kind: &'static str,
    /// The kind key's value (its targets).
    pub field: Field<'a>,
    /// When the fault starts.
    pub at: SimTime,
    /// Where the entry starts in the file.
    pub location: Location,
}

impl FaultEntry<'_> {
    /// The end time under `key` (`until`, `restart`), if written: after
    /// `at` and no later than the end of the run.
    pub fn end(&self, key: &str, hosts: &Hosts<'_>) -> Result<Option<SimTime>> {
        let Some(f) = self.table.get(key) else {
            return Ok(None);
        };
        let end = f.time()?;
        timeline::check_end(&f, self.at, end, hosts.duration)?;
        Ok(Some(end))
    }
}

/// Every `[[faults]]` entry in file order, checked against the timeline.
pub(crate) fn parse<M: Model>(
    root: &Table<'_>,
    hosts: &Hosts<'_>,
    protocols: &M::Protocols,
) -> Result<Vec<super::Fault<M::Fault>>> {
    let Some(field) = root.get("faults") else {
        return Ok(Vec::new());
    };
    if let DeValue::Table(_) = field.value() {
        return Err(field
            .invalid("`faults` must be an array of tables, one per fault")
            .with_help("write the header as [[faults]] (double brackets), once per fault"));
    }
    let kinds = M::fault_kinds();
    let mut keys = vec!["at"];
    for kind in &kinds {
        keys.push(kind.key);
        keys.extend(kind.options.iter().copied());
    }
    let mut parsed = Vec::new();
    for entry in field.array()? {
        let table = entry.table("[[faults]]", &keys)?;
        let (kind, kind_field) = kind(&table, &kinds)?;
        check_options(&table, kind, &kinds)?;
        let at_field = table.required("at", "\"10 s\"")?;
        let at = at_field.time()?;
        timeline::check_start(&at_field, at, hosts.duration)?;
        let location = table
            .span()
            .map(|span| table.sources().location(span))
            .unwrap_or_default();
        let entry = FaultEntry {
            table,
            kind: kind.key,
            field: kind_field,
            at,
            location,
        };
        let fault = M::parse_fault(&entry, hosts, protocols)?;
        parsed.push((fault, entry));
    }
    M::check_faults(&parsed, hosts)?;
    Ok(parsed
        .into_iter()
        .map(|(kind, entry)| super::Fault {
            at: entry.at,
            kind,
            location: entry.location,
        })
        .collect())
}

/// The one kind key of a fault.
fn kind<'a>(table: &Table<'a>, kinds: &[FaultKeys]) -> Result<(FaultKeys, Field<'a>)> {
    let mut present: Vec<(FaultKeys, Field<'a>)> = kinds
        .iter()
        .filter_map(|kind| table.get(kind.key).map(|f| (*kind, f)))
        .collect();
    present.sort_by_key(|(_, f)| f.key_span().start);
    let names: Vec<&str> = kinds.iter().map(|k| k.key).collect();
    let mut present = present.into_iter();
    let Some(first) = present.next() else {
        return Err(table
            .error(ErrorKind::MissingKey, "this fault has no kind")
            .with_help(format!("add one of {}", one_of(&names))));
    };
    if let Some((_, second)) = present.next() {
        return Err(second
            .key_error(
                ErrorKind::Conflict,
                format!(
                    "a fault has exactly one kind, but this one has both `{}` and `{}`",
                    first.1.name(),
                    second.name()
                ),
            )
            .with_help("split it into two [[faults]] entries, each with its own `at`"));
    }
    Ok(first)
}

/// Keys that belong to another kind are an error naming that kind.
fn check_options(table: &Table<'_>, kind: FaultKeys, kinds: &[FaultKeys]) -> Result<()> {
    for field in table.fields() {
        let key = field.name();
        if key == "at" || kind.options.contains(&key) || kinds.iter().any(|k| k.key == key) {
            continue;
        }
        let owners: Vec<&str> = kinds
            .iter()
            .filter(|k| k.options.contains(&key))
            .map(|k| k.key)
            .collect();
        let own: Vec<&str> = std::iter::once("at")
            .chain(kind.options.iter().copied())
            .collect();
        let ends_elsewhere = kinds
            .iter()
            .any(|k| k.ends_with == Some(key) && k.key != kind.key);
        let help = match kind.ends_with {
            Some(end) if ends_elsewhere => format!("a {} fault ends with `{end}`", kind.key),
            _ => format!("a {} fault takes {}", kind.key, one_of(&own)),
        };
        return Err(field
            .key_error(
                ErrorKind::Conflict,
                format!("`{key}` does not apply to a {} fault", kind.key),
            )
            .with_note(format!("`{key}` belongs to {} faults", one_of(&owners)))
            .with_help(help));
    }
    Ok(())
}
