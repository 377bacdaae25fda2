//! Standalone scenario files made from another: the base file's document
//! (after `--set`), without `[explore]` and its `[[faults]]`, with a
//! concrete schedule written as ordinary `[[faults]]` entries, its own
//! name, seed and duration, and the paths it names (`graph`,
//! `legacy_registry`) rewritten to hold from the new file's folder. `sim
//! run` of the written file makes exactly the run `sim explore` or `sim
//! shrink` made: they run the written text itself.

use std::path::{Component, Path, PathBuf};

use sim_core::units::SimDuration;

use super::schedule::Timed;
use crate::faults::Fault;
use crate::faults::draw::EntryWriter;
use crate::model::Scenario;

/// Keys whose values are paths relative to the scenario's folder:
/// `(table, key)`. A new key naming a file must be listed here.
const PATH_KEYS: &[(&str, &str)] = &[("network", "graph"), ("registration", "legacy_registry")];

/// The base scenario of a family of variants.
#[derive(Clone, Debug)]
pub struct Base {
    document: toml::Table,
    /// Absolute paths of the files the base names, by `PATH_KEYS` entry.
    paths: Vec<(&'static str, &'static str, PathBuf)>,
}

/// What a variant changes.
pub struct Variant<'a> {
    /// Its `name` (its results go to `out/<name>/`).
    pub name: &'a str,
    /// Its `description`.
    pub description: &'a str,
    /// Its seed.
    pub seed: u64,
    /// How long it runs.
    pub duration: SimDuration,
    /// Its faults.
    pub faults: &'a [Timed],
    /// Comment lines at the top (without `# `).
    pub header: &'a [String],
}

impl Base {
    /// The base made of `document` (the file at `file` after `--set`).
    pub fn new(mut document: toml::Table, file: &Path) -> Base {
        document.remove("explore");
        document.remove("faults");
        let folder = file.parent().unwrap_or(Path::new(""));
        let mut paths = Vec::new();
        for (table, key) in PATH_KEYS {
            let value = document
                .get(*table)
                .and_then(|t| t.get(*key))
                .and_then(|v| v.as_str());
            if let Some(relative) = value {
                let path = std::path::absolute(folder.join(relative))
                    .unwrap_or_else(|_| folder.join(relative));
                paths.push((*table, *key, path));
            }
        }
        Base { document, paths }
    }

    /// The text of `variant` as the file `file` (relative paths are
    /// written from its folder).
    pub fn render(&self, scenario: &Scenario, variant: &Variant<'_>, file: &Path) -> String {
        let mut doc = self.document.clone();
        doc.insert("name".into(), variant.name.into());
        doc.insert("description".into(), variant.description.into());
        doc.insert(
            "seed".into(),
            i64::try_from(variant.seed).unwrap_or(i64::MAX).into(),
        );
        doc.insert("duration".into(), variant.duration.to_string().into());
        let folder =
            std::path::absolute(file.parent().unwrap_or(Path::new(""))).unwrap_or_default();
        for (table, key, path) in &self.paths {
            if let Some(toml::Value::Table(t)) = doc.get_mut(*table) {
                t.insert(
                    key.to_string(),
                    relative(&folder, path).display().to_string().into(),
                );
            }
        }
        let faults: Vec<toml::Value> = variant
            .faults
            .iter()
            .map(|(at, fault)| toml::Value::Table(entry(scenario, *at, fault)))
            .collect();
        if !faults.is_empty() {
            doc.insert("faults".into(), toml::Value::Array(faults));
        }
        let mut text: String = variant
            .header
            .iter()
            .map(|line| format!("# {line}\n"))
            .collect();
        text.push('\n');
        // A table of strings, numbers, booleans, arrays and tables always
        // serializes (no datetimes or NaN are put in it but the file's own).
        text.push_str(&toml::to_string(&doc).unwrap_or_else(|e| format!("# cannot write: {e}\n")));
        text
    }
}

/// One `[[faults]]` entry of `fault` starting at `at`.
pub fn entry(scenario: &Scenario, at: sim_core::units::SimTime, fault: &Fault) -> toml::Table {
    let mut writer = EntryWriter::new(scenario, at);
    fault.write(&mut writer);
    writer.finish()
}

/// `path` as seen from `folder` (both absolute): `../x/y` when they share
/// a root, else `path` itself.
fn relative(folder: &Path, path: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = folder.components().collect();
    let to: Vec<Component<'_>> = path.components().collect();
    if from.first() != to.first() {
        return path.to_path_buf();
    }
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part.as_os_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b)).display().to_string();
        assert_eq!(
            r("/w/out/explore/x", "/w/scenarios/topologies/g.gml"),
            "../../../scenarios/topologies/g.gml"
        );
        assert_eq!(r("/w/scenarios", "/w/scenarios/g.gml"), "g.gml");
    }
}
