//! The network graph a scenario names (`[network] graph`), read (bounded,
//! never blocking: [`crate::input`]) and checked by [`load`]
//! (`super::load`), with errors located where the fix goes: a file that
//! cannot be read at the key that names it; bad content at its own
//! file:line:column; a `graph_node` id the graph lacks at that key; a host
//! left without bandwidth at its GML node. Files protocol tables name are
//! checked by the model ([`super::Model::check_files`]) with
//! [`unreadable`].
//!
//! [`load`]: super::load

use std::path::Path;

use super::Model;
use super::error::{ErrorKind, ScenarioError};
use super::model::{Scenario, TopologySpec};
use super::reader::{Field, Result, Table};
use super::schema;
use crate::input::{MAX_GRAPH_BYTES, ReadError, read_bounded};
use crate::network::gml::{GmlError, GmlGraph, parse_gml_bytes};
use crate::network::topology::Topology;
use crate::network::{NetworkError, attach};

/// Reads and checks every file `scenario` names; `root` locates the keys.
pub(crate) fn check<M: Model>(root: &Table<'_>, scenario: &Scenario<M>) -> Result<()> {
    if let TopologySpec::Gml { path } = &scenario.network.topology
        && let Some(field) = root
            .subtable("network", "[network]", schema::NETWORK)?
            .get("graph")
    {
        check_graph(root, &field, path, scenario)?;
    }
    Ok(())
}

/// The GML graph at `path` (named by `field`): readable, valid, and able
/// to carry the scenario's hosts.
fn check_graph<M: Model>(
    root: &Table<'_>,
    field: &Field<'_>,
    path: &Path,
    scenario: &Scenario<M>,
) -> Result<()> {
    let bytes = read_bounded(path, MAX_GRAPH_BYTES, "a network graph")
        .map_err(|e| unreadable(field, "network graph", path, &e))?;
    let in_graph = |e: GmlError| {
        ScenarioError::in_file(
            ErrorKind::ReferencedFile,
            format!("invalid network graph: {}", e.kind),
            path,
            &bytes,
            (e.line, e.column),
        )
        .with_note(format!("the graph named by `{}`", field.path()))
    };
    let gml = parse_gml_bytes(&bytes).map_err(in_graph)?;
    let topology = Topology::from_gml(&gml).map_err(in_graph)?;
    match attach(scenario, topology, Some(path)) {
        Ok(_) => Ok(()),
        Err(e) => Err(network_error(root, field, path, &bytes, &gml, e)),
    }
}

/// A [`NetworkError`] of hosts on a valid graph, at the key or node to fix.
fn network_error(
    root: &Table<'_>,
    field: &Field<'_>,
    path: &Path,
    bytes: &[u8],
    gml: &GmlGraph,
    error: NetworkError,
) -> ScenarioError {
    match error {
        NetworkError::UnknownGraphNode {
            group, id, valid, ..
        } => match graph_node_field(root, &group) {
            Some(at) => at
                .invalid(format!(
                    "host group `{group}` sets graph_node = {id}, but {} has no node with id {id}",
                    path.display()
                ))
                .with_help(format!("use one of {valid}, or \"round-robin\"")),
            None => field.error(ErrorKind::ReferencedFile, error_text(&group, id, &valid)),
        },
        NetworkError::MissingBandwidth {
            host,
            group,
            direction,
            node,
        } => {
            let line = gml
                .nodes
                .iter()
                .find(|n| n.id == node)
                .map_or(1, |n| n.line);
            let message = format!(
                "GML node {node} has no host_bandwidth_{direction}, and host {host} (group `{group}`) sits on it with no bandwidth_{direction} of its own"
            );
            ScenarioError::in_file(
                ErrorKind::ReferencedFile,
                message,
                path,
                bytes,
                (line, first_column(bytes, line)),
            )
            .with_help(format!(
                "add host_bandwidth_{direction} \"100 Mbit\" to the node, or bandwidth_{direction} = \"100 Mbit\" to [network] or to host group `{group}`"
            ))
        }
        NetworkError::ReadGraph { .. }
        | NetworkError::Gml { .. }
        | NetworkError::Topology(_)
        | NetworkError::Regions(_)
        | NetworkError::GraphNodeWithoutGml { .. }
        | NetworkError::UnknownGroup { .. } => {
            field.error(ErrorKind::ReferencedFile, error.to_string())
        }
    }
}

fn error_text(group: &str, id: u32, valid: &str) -> String {
    format!(
        "host group `{group}` sets graph_node = {id}, which the graph lacks: use one of {valid}"
    )
}

/// The `graph_node` key of host group `group`, when written.
fn graph_node_field<'a>(root: &Table<'a>, group: &str) -> Option<Field<'a>> {
    let entries = root.get("hosts")?.array().ok()?;
    entries.iter().find_map(|entry| {
        let table = entry.table("[[hosts]]", schema::HOSTS).ok()?;
        let name = table.get("name")?;
        if name.str().ok()? == group {
            table.get("graph_node")
        } else {
            None
        }
    })
}

/// The column of the first non-blank character of 1-based `line`.
fn first_column(bytes: &[u8], line: u32) -> u32 {
    let text = crate::input::line_text(bytes, line);
    let blanks = text.chars().take_while(|c| c.is_whitespace()).count();
    u32::try_from(blanks + 1).unwrap_or(1)
}

/// A file named by `field` that cannot be read, at the key.
pub fn unreadable(field: &Field<'_>, what: &str, path: &Path, error: &ReadError) -> ScenarioError {
    let help = match error {
        ReadError::Io(_) if error.is_not_found() => {
            "relative paths are read from the scenario file's folder; check the name"
        }
        ReadError::Io(_) => "check the file's permissions",
        ReadError::NotAFile(_) => "name a regular file (FIFOs and devices are never read)",
        ReadError::TooLarge { .. } => "the limits are in docs/scenario-reference.md",
    };
    field
        .error(
            ErrorKind::ReferencedFile,
            format!("cannot read the {what} {}: {error}", path.display()),
        )
        .with_help(help)
}
