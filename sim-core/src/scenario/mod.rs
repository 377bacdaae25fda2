//! Scenario files: the TOML format (docs/scenario-reference.md), parsed into the
//! typed [`Scenario`] the engine runs, with errors that name the file, line,
//! column and key path and say how to fix the mistake.
//!
//! The file is parsed into a spanned TOML document, `--set` overrides edit
//! that document (their values get spans of their own, see `source`), and
//! the reader walks it table by table: unknown keys, wrong types and units,
//! host references and the fault timeline are all checked here, so the
//! engine never sees an invalid scenario. The reference for users is
//! `docs/scenario-reference.md`.

mod cpu;
mod emit;
mod error;
mod faults;
mod files;
mod hosts;
pub mod model;
mod network;
mod overrides;
mod reader;
mod regions;
mod resolve;
mod schema;
mod source;
mod suggest;
mod targets;
pub mod timeline;

use std::path::{Path, PathBuf};

use toml::de::DeTable;

use crate::input::{MAX_SCENARIO_BYTES, read_bounded};

pub use cpu::CpuSpec;
pub use error::{ErrorKind, Origin, ScenarioError};
pub use faults::FaultEntry;
pub use files::unreadable;
pub use model::*;
pub use overrides::Override;
pub use reader::{Field, Result, Table};
pub use resolve::HostIndex;
pub use source::{Sources, Span};
pub use suggest::{did_you_mean, one_of};
pub use toml::de::DeValue;

/// What a family of protocols and faults adds to the scenario format: the
/// simulator's registry of protocols and table of fault kinds implement it
/// (`sim::protocols`, `sim::faults`), so this module knows no protocol and
/// no fault kind, only how to read a file with located errors.
pub trait Model: Sized {
    /// Every protocol's settings, parsed from its tables.
    type Protocols: Clone + std::fmt::Debug + PartialEq;
    /// One fault, parsed from a `[[faults]]` entry.
    type Fault: Clone + std::fmt::Debug + PartialEq;

    /// The top-level tables the protocols read, with their keys.
    fn sections() -> Vec<Section>;
    /// The fault kinds: each kind's key and the option keys it takes.
    fn fault_kinds() -> Vec<FaultKeys>;
    /// Every metric a run can write to `summary.json` (targets and
    /// tolerances on any other name are errors).
    fn metrics() -> Vec<&'static str>;
    /// Why the run would not produce `metric` (a target on it cannot be
    /// checked) and how to fix it, if so.
    fn unproduced(protocols: &Self::Protocols, metric: &str) -> Option<(String, String)>;
    /// Reads every protocol's table.
    fn parse_protocols(root: &Table<'_>, hosts: &Hosts<'_>) -> Result<Self::Protocols>;
    /// Reads one `[[faults]]` entry of the kind `entry.kind` names.
    fn parse_fault(
        entry: &FaultEntry<'_>,
        hosts: &Hosts<'_>,
        protocols: &Self::Protocols,
    ) -> Result<Self::Fault>;
    /// Checks the whole fault timeline (e.g. one host is not crashed twice
    /// at once); `faults` are in file order, each with its entry.
    fn check_faults(faults: &[(Self::Fault, FaultEntry<'_>)], hosts: &Hosts<'_>) -> Result<()>;
    /// Reads and checks the files the protocols' tables name (a legacy
    /// registry), with errors at the key or in the file; [`load`] calls
    /// it, [`parse_str`] does not.
    fn check_files(root: &Table<'_>, protocols: &Self::Protocols) -> Result<()>;
}

/// A protocol's top-level table: `[name]` and the keys it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    /// The table's name (`consensus` for `[consensus]`).
    pub name: &'static str,
    /// Its keys.
    pub keys: &'static [&'static str],
}

/// A fault kind's keys: `key = <targets>` plus its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultKeys {
    /// The kind key (`partition`, `clock_skew`).
    pub key: &'static str,
    /// The kind's name in reports (`partition`, `clock-skew`).
    pub name: &'static str,
    /// The option keys it takes besides `at` (`until`, `one_way`).
    pub options: &'static [&'static str],
    /// How the kind's faults end, for hints (`until`, `restart`), if they do.
    pub ends_with: Option<&'static str>,
}

/// The scenario's hosts, for protocol tables and faults that name them.
pub struct Hosts<'a> {
    /// Resolves host references (names, groups, lists).
    pub index: &'a HostIndex<'a>,
    /// The host groups, in file order.
    pub groups: &'a [HostGroup],
    /// Every host.
    pub hosts: &'a [HostSpec],
    /// How long the run lasts.
    pub duration: crate::units::SimDuration,
    /// With `topology = "regions"`: the regions' names, in scenario order
    /// (empty with any other topology).
    pub regions: Vec<String>,
    /// With `topology = "regions"`: the region (index into `regions`) of
    /// every host, in host-id order, as the network places them; empty
    /// otherwise.
    pub region_of: Vec<u32>,
}

impl Hosts<'_> {
    /// The hosts whose role is one of `roles`, in id order.
    pub fn with_roles(&self, roles: &[Role]) -> Vec<node_logic::HostId> {
        self.hosts
            .iter()
            .filter(|h| roles.contains(&h.role))
            .map(|h| h.id)
            .collect()
    }
}

/// Reads and validates the scenario file at `path`, after applying
/// `overrides` (`--set key=value`) in order, then reads and checks the
/// files it names (`graph`, `legacy_registry`). Every file is read bounded
/// and never blocks (see [`crate::input`]: the scenario file is at most
/// [`MAX_SCENARIO_BYTES`]).
pub fn load<M: Model>(
    path: &Path,
    overrides: &[Override],
) -> std::result::Result<Scenario<M>, ScenarioError> {
    let bytes = read_bounded(path, MAX_SCENARIO_BYTES, "a scenario file")
        .map_err(|e| ScenarioError::read(path.display().to_string(), e))?;
    let text = utf8_text(&bytes, Some(path))?;
    parse_checked(text, Some(path), overrides, true, |_, _, _| Ok(())).map(|(s, ())| s)
}

/// A scenario file read with more than the format: see [`load_with`].
#[derive(Debug)]
pub struct Loaded<M: Model, T> {
    /// The scenario, as [`load`] reads it.
    pub scenario: Scenario<M>,
    /// What the caller's reader took from the same document.
    pub extra: T,
    /// The document after the overrides, as plain TOML: the starting point
    /// of a tool that writes a variant of the file (`sim explore`).
    pub document: toml::Table,
}

/// [`load`], and `extra` reads a table the format leaves to a tool (the
/// model lists it in [`Model::sections`], so the file may have it) from
/// the same document, with the same located errors (`--set` values
/// included); the document after the overrides is returned too.
pub fn load_with<M: Model, T>(
    path: &Path,
    overrides: &[Override],
    extra: impl FnOnce(&Table<'_>, &Scenario<M>) -> Result<T>,
) -> std::result::Result<Loaded<M, T>, ScenarioError> {
    let bytes = read_bounded(path, MAX_SCENARIO_BYTES, "a scenario file")
        .map_err(|e| ScenarioError::read(path.display().to_string(), e))?;
    let text = utf8_text(&bytes, Some(path))?;
    let after = |root: &Table<'_>, scenario: &Scenario<M>, document: &DeTable<'_>| {
        let extra = extra(root, scenario)?;
        Ok((extra, plain(root, document)?))
    };
    let (scenario, (extra, document)) = parse_checked(text, Some(path), overrides, true, after)?;
    Ok(Loaded {
        scenario,
        extra,
        document,
    })
}

/// [`load_with`] on text: as [`parse_str`], reads no file the scenario
/// names.
pub fn parse_str_with<M: Model, T>(
    source: &str,
    path: Option<&Path>,
    overrides: &[Override],
    extra: impl FnOnce(&Table<'_>, &Scenario<M>) -> Result<T>,
) -> std::result::Result<Loaded<M, T>, ScenarioError> {
    let after = |root: &Table<'_>, scenario: &Scenario<M>, document: &DeTable<'_>| {
        let extra = extra(root, scenario)?;
        Ok((extra, plain(root, document)?))
    };
    let (scenario, (extra, document)) = parse_checked(source, path, overrides, false, after)?;
    Ok(Loaded {
        scenario,
        extra,
        document,
    })
}

/// The spanned document as a plain TOML table.
fn plain(root: &Table<'_>, document: &DeTable<'_>) -> Result<toml::Table> {
    use serde::Deserialize;
    let spanned = toml::Spanned::new(0..0, document.clone());
    toml::Table::deserialize(toml::de::Deserializer::from(spanned)).map_err(|e| {
        root.error(
            ErrorKind::InvalidValue,
            format!(
                "the document cannot be written back as TOML: {}",
                e.message()
            ),
        )
    })
}

/// `text` as a TOML string value (for an [`Override`] of a path or name).
pub fn toml_string(text: &str) -> String {
    emit::string(text)
}

/// Validates scenario bytes: a byte that is not UTF-8 is an error at its
/// line and column; then as [`parse_str`].
pub fn parse_bytes<M: Model>(
    bytes: &[u8],
    path: Option<&Path>,
    overrides: &[Override],
) -> std::result::Result<Scenario<M>, ScenarioError> {
    let text = utf8_text(bytes, path)?;
    parse_checked(text, path, overrides, false, |_, _, _| Ok(())).map(|(s, ())| s)
}

/// Validates scenario text. `path` names the file in messages, gives the
/// default `name` (its stem) and anchors relative paths (`graph`,
/// `legacy_registry`); the files those name are read by [`load`] only.
pub fn parse_str<M: Model>(
    source: &str,
    path: Option<&Path>,
    overrides: &[Override],
) -> std::result::Result<Scenario<M>, ScenarioError> {
    parse_checked(source, path, overrides, false, |_, _, _| Ok(())).map(|(s, ())| s)
}

/// Parses `source`, applies `overrides`, reads the tables, with
/// `read_files` checks the files the scenario names, and lets `after` read
/// more of the document.
fn parse_checked<M: Model, T>(
    source: &str,
    path: Option<&Path>,
    overrides: &[Override],
    read_files: bool,
    after: impl FnOnce(&Table<'_>, &Scenario<M>, &DeTable<'_>) -> Result<T>,
) -> std::result::Result<(Scenario<M>, T), ScenarioError> {
    let mut src = Sources::new(source, path);
    src.set_schema(schema::tables::<M>());
    let mut document: DeTable<'_> = DeTable::parse(source)
        .map_err(|e| syntax_error(&src, source, &e))?
        .into_inner();
    overrides::apply_all(&mut document, overrides, &mut src)?;
    let root = Table::root(&src, &document);
    let scenario = scenario(&root, path)?;
    if read_files {
        files::check(&root, &scenario)?;
        M::check_files(&root, &scenario.protocols)?;
    }
    let extra = after(&root, &scenario, &document)?;
    Ok((scenario, extra))
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

/// The scenario at `path` after `overrides` and then `extra` (`--set`
/// edits, e.g. the seed a run used), validated like [`load`] and written
/// back as TOML text (see `emit`: what was read, without comments). Each
/// file the scenario names (a GML graph, a legacy registry) is written as
/// `rename` returns for its resolved path (e.g. a copy beside the text),
/// so the text reads the same files wherever it is put. Returns the text
/// and every (resolved path, written path) pair.
pub fn resolved<M: Model>(
    path: &Path,
    overrides: &[Override],
    extra: &[Override],
    rename: &mut dyn FnMut(&Path) -> String,
) -> std::result::Result<(String, Vec<(PathBuf, String)>), ScenarioError> {
    let bytes = read_bounded(path, MAX_SCENARIO_BYTES, "a scenario file")
        .map_err(|e| ScenarioError::read(path.display().to_string(), e))?;
    let text = utf8_text(&bytes, Some(path))?;
    // First pass: validate, and learn which keys name files.
    let named = {
        let mut src = Sources::new(text, Some(path));
        src.set_schema(schema::tables::<M>());
        let mut document: DeTable<'_> = DeTable::parse(text)
            .map_err(|e| syntax_error(&src, text, &e))?
            .into_inner();
        overrides::apply_all(&mut document, overrides, &mut src)?;
        overrides::apply_all(&mut document, extra, &mut src)?;
        scenario::<M>(&Table::root(&src, &document), Some(path))?;
        src.paths()
    };
    let mut files = Vec::new();
    let mut renames = Vec::new();
    for (key, resolved) in named {
        let written = rename(&resolved);
        renames.push(Override::set(key, emit::string(&written)));
        files.push((resolved, written));
    }
    let mut src = Sources::new(text, Some(path));
    let mut document: DeTable<'_> = DeTable::parse(text)
        .map_err(|e| syntax_error(&src, text, &e))?
        .into_inner();
    overrides::apply_all(&mut document, overrides, &mut src)?;
    overrides::apply_all(&mut document, extra, &mut src)?;
    overrides::apply_all(&mut document, &renames, &mut src)?;
    Ok((emit::document(&document), files))
}

/// The whole scenario, table by table.
fn scenario<M: Model>(root: &Table<'_>, path: Option<&Path>) -> Result<Scenario<M>> {
    let sections = M::sections();
    let mut top: Vec<&str> = schema::TOP.to_vec();
    top.extend(sections.iter().map(|s| s.name));
    root.check_keys(&top)?;
    if root.get("duration").is_none()
        && let Some(misplaced) = root.misplaced("duration")
    {
        return Err(misplaced);
    }
    let duration = run_duration(root)?;
    let network = network::parse(root)?;
    let has_graph = matches!(network.topology, TopologySpec::Gml { .. });
    let (groups, hosts) = hosts::parse(root, has_graph, duration)?;
    // hosts::parse caps the total at MAX_HOSTS, far below u32::MAX.
    let host_count = u32::try_from(hosts.len()).unwrap_or(u32::MAX);
    network::check_degree(root, &network, host_count)?;
    network::check_regions(root, &network, host_count)?;
    let cpu = cpu::parse(root, &groups)?;
    let index = HostIndex::new(&groups);
    let (regions, region_of) = match &network.topology {
        TopologySpec::Regions(list) => (
            list.iter().map(|r| r.name.clone()).collect(),
            crate::network::regions::assign(list, hosts.len())
                .into_iter()
                .map(|v| v.0)
                .collect(),
        ),
        TopologySpec::Mesh
        | TopologySpec::Star
        | TopologySpec::Ring
        | TopologySpec::RandomRegular { .. }
        | TopologySpec::Gml { .. } => (Vec::new(), Vec::new()),
    };
    let view = Hosts {
        index: &index,
        groups: &groups,
        hosts: &hosts,
        duration,
        regions,
        region_of,
    };
    let protocols = M::parse_protocols(root, &view)?;
    let faults = faults::parse::<M>(root, &view, &protocols)?;
    let metrics = M::metrics();
    let targets = targets::parse(root, &metrics, |m| {
        if m.starts_with("cpu.") && cpu.is_none() {
            return Some((
                "the scenario has no [cpu] table, so the CPU model is off".to_string(),
                "add [cpu] with the operations' costs (docs/scenario-reference.md), or remove the target"
                    .to_string(),
            ));
        }
        M::unproduced(&protocols, m)
    })?;
    let tolerances = targets::tolerances(root, &metrics)?;
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
        cpu,
        protocols,
        faults,
        targets,
        tolerances,
        source: path.map(Path::to_path_buf),
    })
}

/// The longest run a scenario may ask for: 365 days of simulated time.
/// Studies last minutes to days; a run of years would not finish (every
/// heartbeat, poll and block is an event), and a slip such as a few extra
/// zeros should fail here, not hours into a run.
pub const MAX_DURATION: crate::units::SimDuration =
    crate::units::SimDuration::from_secs(365 * 24 * 3600);

/// `duration`: required, positive, at most [`MAX_DURATION`].
fn run_duration(root: &Table<'_>) -> Result<crate::units::SimDuration> {
    let field = root.required("duration", "\"10 min\"")?;
    let duration = field.positive_duration()?;
    if duration > MAX_DURATION {
        let days = duration.as_nanos() / 1_000_000_000 / 86_400;
        return Err(field
            .invalid(format!(
                "`duration` is {days} days; a run may last at most 365 days of simulated time"
            ))
            .with_help("a study runs for minutes to days: write e.g. `duration = \"10 min\"` or `\"24 h\"`"));
    }
    Ok(duration)
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

/// The bare format: no protocol tables and no fault kinds. For tests and
/// tools that need only the network, hosts and targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bare;

/// [`Bare`] has no fault kinds, so no fault is ever this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoFault {}

impl Model for Bare {
    type Protocols = ();
    type Fault = NoFault;

    fn sections() -> Vec<Section> {
        Vec::new()
    }
    fn fault_kinds() -> Vec<FaultKeys> {
        Vec::new()
    }
    fn metrics() -> Vec<&'static str> {
        Vec::new()
    }
    fn unproduced(_: &(), _: &str) -> Option<(String, String)> {
        None
    }
    fn parse_protocols(_: &Table<'_>, _: &Hosts<'_>) -> Result<()> {
        Ok(())
    }
    fn parse_fault(entry: &FaultEntry<'_>, _: &Hosts<'_>, _: &()) -> Result<NoFault> {
        Err(entry.table.error(
            ErrorKind::UnknownKey,
            format!("unknown fault kind `{}`", entry.kind),
        ))
    }
    fn check_faults(_: &[(NoFault, FaultEntry<'_>)], _: &Hosts<'_>) -> Result<()> {
        Ok(())
    }
    fn check_files(_: &Table<'_>, _: &()) -> Result<()> {
        Ok(())
    }
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
