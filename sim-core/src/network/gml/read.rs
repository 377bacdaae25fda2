//! Entry tree to [`GmlGraph`]: finds the graph, reads each node's and
//! edge's attributes with their types and units, ignores unknown keys.
//! Whole-graph rules (ids, self-loops, connectivity) are left to `validate`.

use super::tree::{Entry, Value};
use super::validate::Positions;
use super::{GmlEdge, GmlError, GmlErrorKind, GmlGraph, GmlNode};
use crate::units::{Bandwidth, Probability, SimDuration, UnitError};

/// The graph in `entries` (the top level of a file), and where each of its
/// nodes and edges is written.
pub(super) fn read_graph(entries: &[Entry<'_>]) -> Result<(GmlGraph, Positions), GmlError> {
    let mut found: Option<&Entry<'_>> = None;
    for entry in entries.iter().filter(|e| e.key == "graph") {
        if let Some(first) = found {
            return Err(entry
                .key_pos
                .error(GmlErrorKind::DuplicateGraph(first.key_pos.line)));
        }
        found = Some(entry);
    }
    let Some(graph_entry) = found else {
        return Err(GmlError::new(1, 1, GmlErrorKind::MissingGraph));
    };
    let Value::List(items) = &graph_entry.value else {
        return Err(graph_entry.value_pos.error(GmlErrorKind::NotAList("graph")));
    };

    let mut graph = GmlGraph {
        directed: false,
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let mut positions = Positions {
        graph: graph_entry.key_pos,
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let mut directed_line = None;
    for entry in items {
        match entry.key {
            "directed" => {
                once(&mut directed_line, "directed", entry)?;
                graph.directed = match &entry.value {
                    Value::Int("0") => false,
                    Value::Int("1") => true,
                    Value::Int(n) | Value::Float(n) => {
                        return Err(entry
                            .value_pos
                            .error(GmlErrorKind::BadDirected(n.to_string())));
                    }
                    other => {
                        return Err(entry
                            .value_pos
                            .error(GmlErrorKind::BadDirected(other.describe())));
                    }
                };
            }
            "node" => {
                graph.nodes.push(read_node(entry)?);
                positions.nodes.push(entry.key_pos);
            }
            "edge" => {
                graph.edges.push(read_edge(entry)?);
                positions.edges.push(entry.key_pos);
            }
            _ => {}
        }
    }
    Ok((graph, positions))
}

/// A `node [ ... ]` entry.
fn read_node(entry: &Entry<'_>) -> Result<GmlNode, GmlError> {
    let items = list(entry, "node")?;
    let (mut id, mut up, mut down) = (None, None, None);
    let (mut id_line, mut up_line, mut down_line) = (None, None, None);
    for item in items {
        match item.key {
            "id" => {
                once(&mut id_line, "id", item)?;
                id = Some(read_id("node id", item)?);
            }
            "host_bandwidth_up" => {
                once(&mut up_line, "host_bandwidth_up", item)?;
                up = Some(read_bandwidth("node host_bandwidth_up", item)?);
            }
            "host_bandwidth_down" => {
                once(&mut down_line, "host_bandwidth_down", item)?;
                down = Some(read_bandwidth("node host_bandwidth_down", item)?);
            }
            _ => {}
        }
    }
    let id = id.ok_or_else(|| missing(entry, "node", "id", "id 0"))?;
    Ok(GmlNode {
        id,
        bandwidth_up: up,
        bandwidth_down: down,
        line: entry.key_pos.line,
    })
}

/// An `edge [ ... ]` entry.
fn read_edge(entry: &Entry<'_>) -> Result<GmlEdge, GmlError> {
    let items = list(entry, "edge")?;
    let (mut source, mut target, mut latency, mut jitter, mut loss) =
        (None, None, None, None, None);
    let mut lines: [Option<u32>; 5] = [None; 5];
    for item in items {
        match item.key {
            "source" => {
                once(&mut lines[0], "source", item)?;
                source = Some(read_id("edge source", item)?);
            }
            "target" => {
                once(&mut lines[1], "target", item)?;
                target = Some(read_id("edge target", item)?);
            }
            "latency" => {
                once(&mut lines[2], "latency", item)?;
                let value = read_duration("edge latency", item)?;
                if value.is_zero() {
                    return Err(item.value_pos.error(GmlErrorKind::ZeroLatency));
                }
                latency = Some(value);
            }
            "jitter" => {
                once(&mut lines[3], "jitter", item)?;
                jitter = Some(read_duration("edge jitter", item)?);
            }
            "packet_loss" => {
                once(&mut lines[4], "packet_loss", item)?;
                loss = Some(read_loss(item)?);
            }
            _ => {}
        }
    }
    Ok(GmlEdge {
        source: source.ok_or_else(|| missing(entry, "edge", "source", "source 0"))?,
        target: target.ok_or_else(|| missing(entry, "edge", "target", "target 1"))?,
        latency: latency.ok_or_else(|| missing(entry, "edge", "latency", "latency \"10 ms\""))?,
        jitter: jitter.unwrap_or(SimDuration::ZERO),
        packet_loss: loss.unwrap_or(Probability::ZERO),
        line: entry.key_pos.line,
    })
}

/// The entries of a `node` or `edge` list.
fn list<'e, 'a>(entry: &'e Entry<'a>, what: &'static str) -> Result<&'e [Entry<'a>], GmlError> {
    match &entry.value {
        Value::List(items) => Ok(items),
        _ => Err(entry.value_pos.error(GmlErrorKind::NotAList(what))),
    }
}

/// Records that `key` was seen at `entry`; an error if it was seen before.
fn once(seen: &mut Option<u32>, key: &'static str, entry: &Entry<'_>) -> Result<(), GmlError> {
    if let Some(first_line) = *seen {
        return Err(entry
            .key_pos
            .error(GmlErrorKind::DuplicateKey { key, first_line }));
    }
    *seen = Some(entry.key_pos.line);
    Ok(())
}

/// The error for a required `key` missing from `entry`.
fn missing(
    entry: &Entry<'_>,
    item: &'static str,
    key: &'static str,
    example: &'static str,
) -> GmlError {
    entry
        .key_pos
        .error(GmlErrorKind::MissingKey { item, key, example })
}

/// A node id (or an edge end): a whole number that fits in `u32`.
fn read_id(what: &'static str, entry: &Entry<'_>) -> Result<u32, GmlError> {
    let bad = |value: String, reason| {
        entry.value_pos.error(GmlErrorKind::BadId {
            what,
            value,
            reason,
        })
    };
    match &entry.value {
        Value::Int(n) if n.starts_with('-') => Err(bad(
            n.to_string(),
            "ids are whole numbers 0, 1, 2, ... (no minus sign)",
        )),
        Value::Int(n) => n
            .parse::<u32>()
            .map_err(|_| bad(n.to_string(), "it is too large (ids go up to 4294967295)")),
        Value::Float(n) => Err(bad(
            n.to_string(),
            "ids are whole numbers, without a fraction or exponent",
        )),
        Value::Str(s) => Err(bad(
            format!("\"{s}\""),
            "write the id as a number without quotes, e.g. `id 3`",
        )),
        Value::List(_) => Err(bad("[ ... ]".to_string(), "an id is a number, not a list")),
    }
}

/// A quoted time with a unit.
fn read_duration(what: &'static str, entry: &Entry<'_>) -> Result<SimDuration, GmlError> {
    let text = quoted(what, entry, "ms", "a quoted time such as \"10 ms\"")?;
    text.parse::<SimDuration>()
        .map_err(|e| unit_error(what, entry, text, "ms", e))
}

/// A quoted bandwidth with a unit.
fn read_bandwidth(what: &'static str, entry: &Entry<'_>) -> Result<Bandwidth, GmlError> {
    let text = quoted(what, entry, "Mbit", "a quoted rate such as \"100 Mbit\"")?;
    text.parse::<Bandwidth>()
        .map_err(|e| unit_error(what, entry, text, "Mbit", e))
}

/// The text of a quoted quantity; a bare number or a list is an error.
fn quoted<'a>(
    what: &'static str,
    entry: &Entry<'a>,
    unit: &'static str,
    expected: &'static str,
) -> Result<&'a str, GmlError> {
    match &entry.value {
        Value::Str(text) => Ok(text),
        Value::Int(n) | Value::Float(n) => Err(entry.value_pos.error(GmlErrorKind::BareNumber {
            what,
            value: n.to_string(),
            unit,
        })),
        other @ Value::List(_) => Err(entry.value_pos.error(GmlErrorKind::WrongType {
            what,
            expected,
            found: other.describe(),
        })),
    }
}

/// The error for a quantity whose spelling the unit parser rejected.
fn unit_error(
    what: &'static str,
    entry: &Entry<'_>,
    text: &str,
    unit: &'static str,
    error: UnitError,
) -> GmlError {
    let kind = match error {
        UnitError::MissingUnit(_) => GmlErrorKind::NoUnit {
            what,
            value: text.trim().to_string(),
            unit,
        },
        source => GmlErrorKind::BadQuantity { what, source },
    };
    entry.value_pos.error(kind)
}

/// `packet_loss`: a bare number in `0..=1`.
fn read_loss(entry: &Entry<'_>) -> Result<Probability, GmlError> {
    match &entry.value {
        Value::Int(n) | Value::Float(n) => n
            .parse::<f64>()
            .ok()
            // `+ 0.0` turns -0 into 0 so it prints as 0.
            .and_then(|p| Probability::new(p + 0.0).ok())
            .ok_or_else(|| entry.value_pos.error(GmlErrorKind::BadLoss(n.to_string()))),
        other => Err(entry.value_pos.error(GmlErrorKind::WrongType {
            what: "edge packet_loss",
            expected: "a number from 0 to 1 without quotes, e.g. `packet_loss 0.01`",
            found: other.describe(),
        })),
    }
}
