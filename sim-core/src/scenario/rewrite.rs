//! A scenario document written back as TOML after `--set` edits: the
//! `scenario.toml` a Shadow export or a launch folder keeps, so its
//! processes and `sim collect` read the run's scenario with no `--set`
//! to repeat (the same layout a result folder keeps: `scenario.toml`
//! beside `inputs/`).
//!
//! Values are written as read (strings re-escaped; integers and floats as
//! their source text, integers of another base in decimal), keys in file
//! order, keys a `--set` added after them. Top-level tables become
//! `[table]` sections, arrays of tables `[[table]]` sections, anything
//! deeper is inline. Comments and layout are not kept.

use std::fmt::Write as _;

use toml::de::{DeTable, DeValue};

/// `root` as TOML text.
pub(crate) fn document(root: &DeTable<'_>) -> String {
    let entries = ordered(root);
    let mut out = String::new();
    for (key, value) in &entries {
        if !is_table(value) && !is_table_array(value) {
            let _ = writeln!(out, "{} = {}", key_text(key), inline(value));
        }
    }
    for (key, value) in &entries {
        match value {
            DeValue::Table(table) => {
                let _ = writeln!(out, "\n[{}]", key_text(key));
                write_entries(&mut out, table);
            }
            DeValue::Array(items) if is_table_array(value) => {
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

fn is_table(value: &DeValue<'_>) -> bool {
    matches!(value, DeValue::Table(_))
}

fn is_table_array(value: &DeValue<'_>) -> bool {
    match value {
        DeValue::Array(items) => !items.is_empty() && items.iter().all(|i| is_table(i.get_ref())),
        _ => false,
    }
}

/// A table's entries in file order (keys by where they were written).
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

/// A value on one line.
fn inline(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => string(s),
        DeValue::Integer(i) => match i.radix() {
            10 => i.as_str().to_string(),
            radix => i128::from_str_radix(&i.as_str().replace('_', ""), radix)
                .map_or_else(|_| i.as_str().to_string(), |n| n.to_string()),
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
            if entries.is_empty() {
                "{}".to_string()
            } else {
                format!("{{ {} }}", entries.join(", "))
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
    if bare { key.to_string() } else { string(key) }
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
            c if c.is_control() => {
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
    use crate::scenario::{Bare, Override, parse_str, rewritten};

    const TEXT: &str = r#"
# a comment that is not kept
name = "rewrite-test"
description = "quoted \"words\"\tand a tab"
seed = 0x2a
duration = "1 min"
[network]
topology = "mesh"
latency = "10 ms"
loss = 1e-3
[[hosts]]
name = "p"
count = 3
role = "peer"
start = { uniform = ["0 s", "5 s"] }
[[hosts]]
name = "q"
count = 2
role = "peer"
"#;

    #[test]
    fn the_rewritten_text_reads_as_the_same_scenario_with_the_overrides() {
        let dir = std::env::temp_dir().join(format!("sim-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.toml");
        std::fs::write(&path, TEXT).unwrap();
        let set: Vec<Override> = ["hosts.q.count=4", "network.jitter=\"2 ms\""]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let text = rewritten::<Bare>(&path, &set, &[]).unwrap();
        assert!(!text.contains("comment"), "{text}");
        let again = parse_str::<Bare>(&text, None, &[]).unwrap();
        let direct = parse_str::<Bare>(TEXT, Some(&path), &set).unwrap();
        assert_eq!(again.description, "quoted \"words\"\tand a tab");
        assert_eq!(again.seed, 42);
        assert_eq!(again.hosts, direct.hosts);
        assert_eq!(again.network, direct.network);
        assert_eq!(again.groups, direct.groups);
        // A bad override is the scenario's own located error.
        let bad: Override = "hosts.x.count=1".parse().unwrap();
        assert!(rewritten::<Bare>(&path, &[bad], &[]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
