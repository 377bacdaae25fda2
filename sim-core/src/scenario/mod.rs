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

mod error;
mod faults;
mod hosts;
pub mod model;
mod network;
mod overrides;
mod reader;
mod resolve;
mod schema;
mod source;
mod suggest;
mod targets;
pub mod timeline;

use std::path::Path;

use toml::de::DeTable;

pub use error::{ErrorKind, Origin, ScenarioError};
pub use faults::FaultEntry;
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
/// `overrides` (`--set key=value`) in order.
pub fn load<M: Model>(
    path: &Path,
    overrides: &[Override],
) -> std::result::Result<Scenario<M>, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::io(path.display().to_string(), e))?;
    parse_str(&text, Some(path), overrides)
}

/// Validates scenario text. `path` names the file in messages, gives the
/// default `name` (its stem) and anchors relative paths (`graph`,
/// `legacy_registry`).
pub fn parse_str<M: Model>(
    source: &str,
    path: Option<&Path>,
    overrides: &[Override],
) -> std::result::Result<Scenario<M>, ScenarioError> {
    let mut src = Sources::new(source, path);
    src.set_schema(schema::tables::<M>());
    let mut document: DeTable<'_> = DeTable::parse(source)
        .map_err(|e| syntax_error(&src, &e))?
        .into_inner();
    overrides::apply_all(&mut document, overrides, &mut src)?;
    let root = Table::root(&src, &document);
    scenario(&root, path)
}

/// The whole scenario, table by table.
fn scenario<M: Model>(root: &Table<'_>, path: Option<&Path>) -> Result<Scenario<M>> {
    let sections = M::sections();
    let mut top: Vec<&str> = schema::TOP.to_vec();
    top.extend(sections.iter().map(|s| s.name));
    root.check_keys(&top)?;
    let duration = run_duration(root)?;
    let network = network::parse(root)?;
    let has_graph = matches!(network.topology, TopologySpec::Gml { .. });
    let (groups, hosts) = hosts::parse(root, has_graph, duration)?;
    // hosts::parse caps the total at MAX_HOSTS, far below u32::MAX.
    let host_count = u32::try_from(hosts.len()).unwrap_or(u32::MAX);
    network::check_degree(root, &network, host_count)?;
    let index = HostIndex::new(&groups);
    let view = Hosts {
        index: &index,
        groups: &groups,
        hosts: &hosts,
        duration,
    };
    let protocols = M::parse_protocols(root, &view)?;
    let faults = faults::parse::<M>(root, &view, &protocols)?;
    let metrics = M::metrics();
    let targets = targets::parse(root, &metrics, |m| M::unproduced(&protocols, m))?;
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
}
