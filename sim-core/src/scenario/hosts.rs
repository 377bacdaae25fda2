//! `[[hosts]]` groups and their expansion into one [`HostSpec`] per host.

use std::collections::BTreeMap;

use node_logic::HostId;
use toml::de::DeValue;

use super::error::ErrorKind;
use super::model::{GraphNodeSpec, HostGroup, HostSpec, Role, StartSpec};
use super::network::bandwidths;
use super::reader::{Field, Result, Table};
use super::resolve::HostIndex;
use super::schema;
use super::source::Span;
use crate::units::SimDuration;

/// Most hosts one scenario may have.
pub(crate) const MAX_HOSTS: u32 = 1_000_000;
/// Longest group name.
const MAX_NAME_LEN: usize = 40;
/// A group name that would be ambiguous in `validators = "registered"`.
const RESERVED: &[&str] = &["registered"];

/// The roles, as written.
const ROLES: &[(&str, Role)] = &[
    ("miner", Role::Miner),
    ("validator", Role::Validator),
    ("registrar", Role::Registrar),
    ("peer", Role::Peer),
    ("host", Role::Host),
];

/// The groups in file order and every host, numbered across groups.
pub(crate) fn parse(
    root: &Table<'_>,
    has_graph: bool,
    duration: SimDuration,
) -> Result<(Vec<HostGroup>, Vec<HostSpec>)> {
    let Some(field) = root.get("hosts") else {
        return Err(root
            .error(
                ErrorKind::MissingKey,
                "no host groups: a scenario needs at least one [[hosts]] table",
            )
            .with_key("hosts")
            .with_help("add e.g. [[hosts]] with name = \"miner\", count = 10, role = \"miner\""));
    };
    if let DeValue::Table(_) = field.value() {
        return Err(field
            .invalid("`hosts` must be an array of tables, one per group")
            .with_help("write the header as [[hosts]] (double brackets), once per group"));
    }
    let entries = field.array()?;
    if entries.is_empty() {
        return Err(field
            .invalid("`hosts` is empty: a scenario needs at least one host group")
            .with_help("add e.g. [[hosts]] with name = \"miner\", count = 10, role = \"miner\""));
    }

    let mut groups = Vec::with_capacity(entries.len());
    let mut seen: BTreeMap<String, Span> = BTreeMap::new();
    let mut total: u64 = 0;
    for entry in &entries {
        let table = entry.table("[[hosts]]", schema::HOSTS)?;
        let name_field = table.required("name", "\"miner\"")?;
        let name = name_field.str()?;
        check_label(&name_field, name)?;
        if let Some(first) = seen.get(name) {
            return Err(name_field
                .error(
                    ErrorKind::Conflict,
                    format!("group name `{name}` is used twice"),
                )
                .with_note(format!(
                    "first used at {}",
                    name_field.sources().describe(first)
                ))
                .with_help("give every [[hosts]] group its own name"));
        }
        seen.insert(name.to_string(), name_field.span());

        let count = table.u32_or("count", 1, 1, MAX_HOSTS)?;
        total += u64::from(count);
        if total > u64::from(MAX_HOSTS) {
            let at = table.get("count").unwrap_or(name_field.clone());
            return Err(at.invalid(format!(
                "too many hosts: {total} so far, a scenario may have at most {MAX_HOSTS}"
            )));
        }
        let role = table.required("role", "\"miner\"")?.choice("role", ROLES)?;
        let start = match table.get("start") {
            Some(f) => start(&f, duration)?,
            None => StartSpec::At(SimDuration::ZERO),
        };
        let graph_node = match table.get("graph_node") {
            Some(f) => graph_node(&f, has_graph)?,
            None => GraphNodeSpec::RoundRobin,
        };
        let (bandwidth_up, bandwidth_down) = bandwidths(&table)?;
        groups.push(HostGroup {
            name: name.to_string(),
            count,
            role,
            start,
            graph_node,
            bandwidth_up,
            bandwidth_down,
        });
    }

    check_collisions(root, &groups, &seen)?;
    let hosts = expand(&groups);
    Ok((groups, hosts))
}

/// A group name must be a hostname label.
fn check_label(field: &Field<'_>, name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name.chars().count() > MAX_NAME_LEN {
        Some(format!(
            "is {} characters long, at most {MAX_NAME_LEN} are allowed",
            name.chars().count()
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("must start with a lowercase letter".to_string())
    } else {
        name.chars()
            .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
            .map(|c| format!("contains `{c}`"))
    };
    if let Some(problem) = problem {
        let fixed: String = name
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() || c.is_ascii_digit() {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let fixed = fixed.trim_start_matches(|c: char| !c.is_ascii_lowercase());
        let fixed: String = fixed.chars().take(MAX_NAME_LEN).collect();
        let err = field
            .invalid(format!("invalid group name `{name}`: it {problem}"))
            .with_note(
                "group names become host names (`<name>-0`, `<name>-1`, ...): lowercase \
                 letters, digits and `-`, starting with a letter, at most 40 characters",
            );
        return Err(if fixed.is_empty() {
            err
        } else {
            err.with_help(format!("write e.g. `name = \"{fixed}\"`"))
        });
    }
    if RESERVED.contains(&name) {
        return Err(field
            .error(
                ErrorKind::Conflict,
                format!("`{name}` is a reserved word, not a group name"),
            )
            .with_note("`validators = \"registered\"` means the miners in the wallet registry")
            .with_help("choose another name"));
    }
    Ok(())
}

/// A group named like another group's host (`miner-1` next to `miner` with
/// two or more hosts) would make host references ambiguous.
/// `name_spans` says where each group's name is written.
fn check_collisions(
    root: &Table<'_>,
    groups: &[HostGroup],
    name_spans: &BTreeMap<String, Span>,
) -> Result<()> {
    let index = HostIndex::new(groups);
    for (i, group) in groups.iter().enumerate() {
        if index.host(&group.name).is_none() {
            continue;
        }
        let span = name_spans.get(&group.name);
        let owner = group.name.rsplit_once('-').map_or("", |(owner, _)| owner);
        return Err(root
            .sources()
            .error(
                ErrorKind::Conflict,
                span,
                format!(
                    "group name `{}` is also the name of a host in group `{owner}`",
                    group.name
                ),
            )
            .with_key(format!("hosts.{i}.name"))
            .with_help("rename one of the groups: a name must mean one thing in host references"));
    }
    Ok(())
}

/// `start = "5 s"` or `start = { uniform = ["0 s", "30 s"] }`.
fn start(field: &Field<'_>, duration: SimDuration) -> Result<StartSpec> {
    let spec = match field.value() {
        DeValue::Table(_) => {
            let table = field.table("`start`", schema::START)?;
            let uniform = table.required("uniform", "[\"0 s\", \"30 s\"]")?;
            let items = uniform.array()?;
            let [from, to] = items.as_slice() else {
                return Err(uniform
                    .invalid(format!(
                        "`uniform` needs exactly two times, [from, to]; found {}",
                        items.len()
                    ))
                    .with_help("write `start = { uniform = [\"0 s\", \"30 s\"] }`"));
            };
            let (from, to) = (from.duration()?, to.duration()?);
            if from > to {
                return Err(uniform
                    .invalid(format!("`uniform` range is backwards: from {from} to {to}"))
                    .with_help(format!("write `uniform = [\"{to}\", \"{from}\"]`")));
            }
            StartSpec::Uniform(from, to)
        }
        DeValue::String(_) | DeValue::Integer(_) | DeValue::Float(_) => {
            StartSpec::At(field.duration()?)
        }
        _ => {
            return Err(field
                .wrong_type("a time or `{ uniform = [from, to] }`")
                .with_help(
                    "write `start = \"5 s\"` or `start = { uniform = [\"0 s\", \"30 s\"] }`",
                ));
        }
    };
    let latest = match spec {
        StartSpec::At(at) => at,
        StartSpec::Uniform(_, to) => to,
    };
    if latest >= duration {
        return Err(field
            .error(
                ErrorKind::Timeline,
                format!("hosts would start at {latest}, but the run ends at {duration}"),
            )
            .with_help("start hosts before `duration`, or make the run longer"));
    }
    Ok(spec)
}

/// `graph_node = 3` (a GML vertex id) or `"round-robin"`.
fn graph_node(field: &Field<'_>, has_graph: bool) -> Result<GraphNodeSpec> {
    match field.value() {
        DeValue::Integer(_) => {
            let id = field.u32_in(0, u32::MAX)?;
            if !has_graph {
                return Err(field
                    .key_error(
                        ErrorKind::Conflict,
                        "`graph_node` picks a vertex of a GML graph, but [network] has no `graph`",
                    )
                    .with_help(
                        "add `graph = \"<file>.gml\"` to [network], or remove `graph_node`",
                    ));
            }
            Ok(GraphNodeSpec::Node(id))
        }
        _ => field.choice("graph node", &[("round-robin", GraphNodeSpec::RoundRobin)]),
    }
}

/// `<group>-0 .. <group>-(count-1)` for every group, ids in order.
pub(crate) fn expand(groups: &[HostGroup]) -> Vec<HostSpec> {
    let total: usize = groups.iter().map(|g| g.count as usize).sum();
    let mut hosts = Vec::with_capacity(total);
    for (group_index, group) in groups.iter().enumerate() {
        for i in 0..group.count {
            let id = HostId(u32::try_from(hosts.len()).unwrap_or(u32::MAX));
            hosts.push(HostSpec {
                id,
                name: format!("{}-{i}", group.name),
                group: group_index,
                role: group.role,
            });
        }
    }
    hosts
}
