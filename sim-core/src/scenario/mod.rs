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
mod files;
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

use crate::input::{MAX_SCENARIO_BYTES, read_bounded};
use reader::{Result, Table};
use resolve::HostIndex;
use source::Sources;

/// Reads and validates the scenario file at `path`, after applying
/// `overrides` (`--set key=value`) in order, then reads and checks the
/// files it names (`graph`, `legacy_registry`). Every file is read bounded
/// and never blocks (see [`crate::input`]: the scenario file is at most
/// [`MAX_SCENARIO_BYTES`]).
pub fn load(path: &Path, overrides: &[Override]) -> std::result::Result<Scenario, ScenarioError> {
    let bytes = read_bounded(path, MAX_SCENARIO_BYTES, "a scenario file")
        .map_err(|e| ScenarioError::read(path.display().to_string(), e))?;
    let text = utf8_text(&bytes, Some(path))?;
    parse_checked(text, Some(path), overrides, true)
}

/// Validates scenario bytes: a byte that is not UTF-8 is an error at its
/// line and column; then as [`parse_str`].
pub fn parse_bytes(
    bytes: &[u8],
    path: Option<&Path>,
    overrides: &[Override],
) -> std::result::Result<Scenario, ScenarioError> {
    let text = utf8_text(bytes, path)?;
    parse_checked(text, path, overrides, false)
}

/// Validates scenario text. `path` names the file in messages, gives the
/// default `name` (its stem) and anchors relative paths (`graph`,
/// `legacy_registry`); the files those name are read by [`load`] only.
pub fn parse_str(
    source: &str,
    path: Option<&Path>,
    overrides: &[Override],
) -> std::result::Result<Scenario, ScenarioError> {
    parse_checked(source, path, overrides, false)
}

/// Parses `source`, applies `overrides`, reads the tables, and with
/// `read_files` checks the files the scenario names.
fn parse_checked(
    source: &str,
    path: Option<&Path>,
    overrides: &[Override],
    read_files: bool,
) -> std::result::Result<Scenario, ScenarioError> {
    let mut src = Sources::new(source, path);
    let mut document: DeTable<'_> = DeTable::parse(source)
        .map_err(|e| syntax_error(&src, source, &e))?
        .into_inner();
    overrides::apply_all(&mut document, overrides, &mut src)?;
    let root = Table::root(&src, &document);
    let scenario = scenario(&root, path)?;
    if read_files {
        files::check(&root, &scenario)?;
    }
    Ok(scenario)
}

/// `bytes` as text, or an error at the first byte that is not UTF-8.
fn utf8_text<'a>(
    bytes: &'a [u8],
    path: Option<&Path>,
) -> std::result::Result<&'a str, ScenarioError> {
    crate::input::utf8(bytes).map_err(|e| {
        let file = path.unwrap_or(Path::new("<input>"));
        ScenarioError::in_file(
            ErrorKind::Io,
            format!(
                "the scenario file is not UTF-8: byte 0x{:02X} starts no character",
                e.byte
            ),
            file,
            bytes,
            (e.line, e.column),
        )
        .with_help("scenario files are TOML, which is UTF-8 text: save the file as UTF-8")
    })
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
/// An error the parser gives without a position (keys nested too deep)
/// is placed on the first line at which the text fails that way.
fn syntax_error(src: &Sources<'_>, source: &str, err: &toml::de::Error) -> ScenarioError {
    let message = err.message();
    let help = if message.contains("must be quoted") {
        Some("text values go in quotes: write e.g. `role = \"miner\"` or `duration = \"10 min\"`")
    } else if message.contains("duplicate key") {
        Some("each key and each [table] may appear only once ([[table]] repeats)")
    } else if message.contains("recursion") {
        Some("tables, arrays and dotted keys nest at most 80 deep: flatten the value")
    } else {
        None
    };
    let span = err.span().or_else(|| first_failing_line(source, message));
    src.error(
        ErrorKind::Syntax,
        span.as_ref(),
        format!("invalid TOML: {message}"),
    )
    .with_help_opt(help.map(str::to_string))
}

/// The span of the first line such that the text up to and including it
/// fails to parse with `message` and no position (found by bisection:
/// `log2(lines)` parses).
fn first_failing_line(source: &str, message: &str) -> Option<std::ops::Range<usize>> {
    let ends: Vec<usize> = source
        .match_indices('\n')
        .map(|(i, _)| i)
        .chain(std::iter::once(source.len()))
        .collect();
    let fails = |k: usize| {
        DeTable::parse(&source[..ends[k]])
            .err()
            .is_some_and(|e| e.span().is_none() && e.message() == message)
    };
    let last = ends.len() - 1;
    if !fails(last) {
        return None;
    }
    let (mut good, mut bad) = (None::<usize>, last);
    while good.map_or(0, |g| g + 1) < bad {
        let mid = good.map_or(0, |g| g + 1) + (bad - good.map_or(0, |g| g + 1)) / 2;
        if fails(mid) {
            bad = mid;
        } else {
            good = Some(mid);
        }
    }
    let start = if bad == 0 { 0 } else { ends[bad - 1] + 1 };
    Some(start..ends[bad])
}
