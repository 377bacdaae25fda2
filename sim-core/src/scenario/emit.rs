//! A parsed (and `--set`-edited) scenario document written back as TOML
//! text: the resolved scenario a result folder keeps.
//!
//! What is written is what was read, value for value: strings re-escaped,
//! integers and floats as their source text (decimal for integers written
//! in another base), keys in the order they appear in the file (keys added
//! by `--set` after them). Top-level tables become `[table]` sections and
//! arrays of tables `[[table]]` sections; everything below is written
//! inline. Comments and layout are not kept.

use std::fmt::Write as _;

use toml::de::{DeTable, DeValue};

/// The document as TOML text.
pub(crate) fn document(root: &DeTable<'_>) -> String {
    let mut out = String::new();
    let entries = ordered(root);
    for (key, value) in &entries {
        if section_kind(value).is_none() {
            let _ = writeln!(out, "{} = {}", key_text(key), inline(value));
        }
    }
    for (key, value) in &entries {
        match (section_kind(value), value) {
            (Some(Section::Table), DeValue::Table(table)) => {
                let _ = writeln!(out, "\n[{}]", key_text(key));
                write_entries(&mut out, table);
            }
            (Some(Section::Array), DeValue::Array(items)) => {
                for item in items.iter() {
                    let _ = writeln!(out, "\n[[{}]]", key_text(key));
                    if let DeValue::Table(table) = item.get_ref() {
                        write_entries(&mut out, table);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// How a top-level value is written.
enum Section {
    /// `[key]`.
    Table,
    /// `[[key]]` per item.
    Array,
}

fn section_kind(value: &DeValue<'_>) -> Option<Section> {
    match value {
        DeValue::Table(_) => Some(Section::Table),
        DeValue::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| matches!(i.get_ref(), DeValue::Table(_))) =>
        {
            Some(Section::Array)
        }
        _ => None,
    }
}

/// A table's entries in file order (by the position of their keys).
fn ordered<'t>(table: &'t DeTable<'_>) -> Vec<(&'t str, &'t DeValue<'t>)> {
    let mut entries: Vec<(usize, &str, &DeValue<'_>)> = table
        .iter()
        .map(|(k, v)| (k.span().start, k.get_ref().as_ref(), v.get_ref()))
        .collect();
    entries.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    entries.into_iter().map(|(_, k, v)| (k, v)).collect()
}

fn write_entries(out: &mut String, table: &DeTable<'_>) {
    for (key, value) in ordered(table) {
        let _ = writeln!(out, "{} = {}", key_text(key), inline(value));
    }
}

/// A value written inline.
fn inline(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => string(s),
        DeValue::Integer(i) => match i.radix() {
            10 => i.as_str().to_string(),
            radix => i128::from_str_radix(i.as_str(), radix)
                .map(|n| n.to_string())
                .unwrap_or_else(|_| format!("{i}")),
        },
        DeValue::Float(f) => f.as_str().to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(items) => {
            let items: Vec<String> = items.iter().map(|i| inline(i.get_ref())).collect();
            format!("[{}]", items.join(", "))
        }
        DeValue::Table(table) => {
            let entries: Vec<String> = ordered(table)
                .into_iter()
                .map(|(k, v)| format!("{} = {}", key_text(k), inline(v)))
                .collect();
            match entries.is_empty() {
                true => "{}".to_string(),
                false => format!("{{ {} }}", entries.join(", ")),
            }
        }
    }
}

/// A key, bare when TOML allows it, else quoted.
fn key_text(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match bare {
        true => key.to_string(),
        false => string(key),
    }
}

/// A TOML basic string.
pub(crate) fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let doc = DeTable::parse(text).unwrap().into_inner();
        let written = document(&doc);
        // What is written reads back as the same document.
        let again = DeTable::parse(&written)
            .unwrap_or_else(|e| panic!("{e}\n{written}"))
            .into_inner();
        assert_eq!(document(&again), written);
        written
    }

    #[test]
    fn documents_are_written_back_value_for_value() {
        let written = round_trip(
            "name = \"demo\" # comment\nseed = 18446744073709551615\nduration = \"5 min\"\n\
             [network]\nlatency = \"40 ms\"\nloss = 0.001\n\
             [[hosts]]\nname = \"peer\"\ncount = 0x10\nstart = { uniform = [\"0 s\", \"10 s\"] }\n\
             [[hosts]]\nname = \"v\"\nrole = \"validator\"\n\
             [consensus]\n\
             [targets]\n\"registration.p95_s\" = { p95 = \"< 60\" }\n\
             [[faults]]\nat = \"1 s\"\npartition = [[\"peer-0\"], [\"v\"]]\nnote = \"a \\\"b\\\"\\n\"\n",
        );
        assert!(
            written.starts_with(
                "name = \"demo\"\nseed = 18446744073709551615\nduration = \"5 min\"\n"
            )
        );
        assert!(written.contains("\n[network]\nlatency = \"40 ms\"\nloss = 0.001\n"));
        assert!(written.contains("count = 16\nstart = { uniform = [\"0 s\", \"10 s\"] }\n"));
        assert!(written.contains("\n[consensus]\n\n"));
        assert!(written.contains("\"registration.p95_s\" = { p95 = \"< 60\" }"));
        assert!(written.contains("partition = [[\"peer-0\"], [\"v\"]]"));
        assert!(written.contains("note = \"a \\\"b\\\"\\n\""));
        assert_eq!(written.matches("[[hosts]]").count(), 2);
        assert!(!written.contains("comment"));
    }
}
