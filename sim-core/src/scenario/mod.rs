//! Scenario files: the TOML format of `SCENARIO-FORMAT.md`, parsed into the
//! typed [`Scenario`] the engine runs, with errors that name the file, line,
//! column and key path and say how to fix the mistake.
//!
//! The file is parsed into a spanned TOML document, `--set` overrides edit
//! that document (their values get spans of their own, see `source`), and
//! the reader walks it table by table: unknown keys, wrong types and units,
//! host references and the fault timeline are all checked here, so the
//! engine never sees an invalid scenario. The reference for users is
//! `docs/scenario-reference.md`.

mod error;
mod faults;
mod hosts;
pub mod model;
mod network;
mod overrides;
mod protocols;
mod reader;
mod resolve;
mod schema;
mod source;
mod suggest;
mod targets;
mod timeline;

use std::path::Path;

use toml::de::DeTable;

pub use error::{ErrorKind, Origin, ScenarioError};
pub use model::*;
pub use overrides::Override;
pub use targets::KNOWN_METRICS;

use reader::{Result, Table};
use resolve::HostIndex;
use source::Sources;

/// Reads and validates the scenario file at `path`, after applying
/// `overrides` (`--set key=value`) in order.
pub fn load(path: &Path, overrides: &[Override]) -> std::result::Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::io(path.display().to_string(), e))?;
    parse_str(&text, Some(path), overrides)
}

/// Validates scenario text. `path` names the file in messages, gives the
/// default `name` (its stem) and anchors relative paths (`graph`,
/// `legacy_registry`).
pub fn parse_str(
    source: &str,
    path: Option<&Path>,
    overrides: &[Override],
) -> std::result::Result<Scenario, ScenarioError> {
    let mut src = Sources::new(source, path);
    let mut document: DeTable<'_> = DeTable::parse(source)
        .map_err(|e| syntax_error(&src, &e))?
        .into_inner();
    overrides::apply_all(&mut document, overrides, &mut src)?;
    let root = Table::root(&src, &document);
    scenario(&root, path)
}

/// The whole scenario, table by table.
fn scenario(root: &Table<'_>, path: Option<&Path>) -> Result<Scenario> {
    root.check_keys(schema::TOP)?;
    let duration = root
        .required("duration", "\"10 min\"")?
        .positive_duration()?;
    let network = network::parse(root)?;
    let has_graph = matches!(network.topology, TopologySpec::Gml { .. });
    let (groups, hosts) = hosts::parse(root, has_graph, duration)?;
    // hosts::parse caps the total at MAX_HOSTS, far below u32::MAX.
    let host_count = u32::try_from(hosts.len()).unwrap_or(u32::MAX);
    network::check_degree(root, &network, host_count)?;
    let index = HostIndex::new(&groups);
    let miners = hosts.iter().filter(|h| h.role == Role::Miner).count();
    let registration = protocols::registration(root, u32::try_from(miners).unwrap_or(u32::MAX))?;
    let peers = protocols::peers(root, &index, &hosts)?;
    let consensus = protocols::consensus(root, &index, &hosts)?;
    let faults = faults::parse(root, &index, duration)?;
    let targets = targets::parse(root, consensus.is_some())?;
    let tolerances = targets::tolerances(root)?;
    Ok(Scenario {
        name: name(root, path)?,
        description: match root.get("description") {
            Some(f) => f.str()?.to_string(),
            None => String::new(),
        },
        seed: match root.get("seed") {
            // Bounded to 0..=u64::MAX by int_in.
            Some(f) => u64::try_from(f.int_in(0, i128::from(u64::MAX))?).unwrap_or(u64::MAX),
            None => 1,
        },
        duration,
        network,
        groups,
        hosts,
        registration,
        peers,
        consensus,
        faults,
        targets,
        tolerances,
        source: path.map(Path::to_path_buf),
    })
}

/// `name`, or the file's stem, or "scenario"; it names the output folder.
fn name(root: &Table<'_>, path: Option<&Path>) -> Result<String> {
    let Some(field) = root.get("name") else {
        let stem = path.and_then(Path::file_stem).and_then(|s| s.to_str());
        return Ok(stem.unwrap_or("scenario").to_string());
    };
    let name = field.str()?;
    let bad = name.trim().is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control);
    if bad {
        return Err(field
            .invalid(format!("`name` = \"{name}\" cannot name an output folder"))
            .with_note("runs write to out/<name>/seed-<n>/")
            .with_help(
                "use letters, digits, `-` and `_`, e.g. `name = \"registration-backoff\"`",
            ));
    }
    Ok(name.to_string())
}

/// A TOML syntax error, at its position, with a hint for common slips.
fn syntax_error(src: &Sources<'_>, err: &toml::de::Error) -> ScenarioError {
    let message = err.message();
    let help = if message.contains("must be quoted") {
        Some("text values go in quotes: write e.g. `role = \"miner\"` or `duration = \"10 min\"`")
    } else if message.contains("duplicate key") {
        Some("each key and each [table] may appear only once ([[table]] repeats)")
    } else {
        None
    };
    src.error(
        ErrorKind::Syntax,
        err.span().as_ref(),
        format!("invalid TOML: {message}"),
    )
    .with_help_opt(help.map(str::to_string))
}
