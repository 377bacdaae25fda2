//! Whole-graph rules for a [`GmlGraph`], as Shadow enforces them: at least
//! one node, unique ids, edges between existing nodes, exactly one
//! self-loop per node, no repeated edge, and every node reachable from
//! every other (following edge direction when the graph is directed).

use std::collections::{BTreeMap, VecDeque};

use super::lexer::Pos;
use super::{GmlError, GmlErrorKind, GmlGraph};

/// Where the graph, its nodes and its edges are written, for messages.
/// Nodes and edges without an entry fall back to their `line`, column 1.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Positions {
    /// The `graph` keyword.
    pub graph: Pos,
    /// Each node's `node` keyword, in `GmlGraph::nodes` order.
    pub nodes: Vec<Pos>,
    /// Each edge's `edge` keyword, in `GmlGraph::edges` order.
    pub edges: Vec<Pos>,
}

impl Default for Positions {
    fn default() -> Self {
        Positions {
            graph: Pos { line: 1, column: 1 },
            nodes: Vec::new(),
            edges: Vec::new(),
        }
    }
}

/// Checks every whole-graph rule; the first broken one (in file order) is
/// the error.
pub(super) fn validate(graph: &GmlGraph, positions: &Positions) -> Result<(), GmlError> {
    let node_pos = |i: usize| {
        positions.nodes.get(i).copied().unwrap_or(Pos {
            line: graph.nodes.get(i).map_or(0, |n| n.line),
            column: 1,
        })
    };
    let edge_pos = |j: usize| {
        positions.edges.get(j).copied().unwrap_or(Pos {
            line: graph.edges.get(j).map_or(0, |e| e.line),
            column: 1,
        })
    };

    let Some(first) = graph.nodes.first() else {
        return Err(positions.graph.error(GmlErrorKind::NoNodes));
    };

    // Unique ids; `index` maps an id to its node's position in the file.
    let mut index: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if let Some(&earlier) = index.get(&node.id) {
            return Err(node_pos(i).error(GmlErrorKind::DuplicateNode {
                id: node.id,
                first_line: graph.nodes[earlier].line,
            }));
        }
        index.insert(node.id, i);
    }

    // Edges between existing nodes, as node positions.
    let mut ends = Vec::with_capacity(graph.edges.len());
    for (j, edge) in graph.edges.iter().enumerate() {
        let resolve = |id: u32| {
            index.get(&id).copied().ok_or_else(|| {
                edge_pos(j).error(GmlErrorKind::UnknownNode {
                    from: edge.source,
                    to: edge.target,
                    missing: id,
                })
            })
        };
        ends.push((resolve(edge.source)?, resolve(edge.target)?));
    }

    // One edge per (ordered, when directed) pair, self-loops included.
    let mut seen: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (j, &(s, t)) in ends.iter().enumerate() {
        let key = if graph.directed || s <= t {
            (s, t)
        } else {
            (t, s)
        };
        if let Some(&earlier) = seen.get(&key) {
            let first_line = graph.edges[earlier].line;
            let kind = if s == t {
                GmlErrorKind::ExtraSelfLoop {
                    id: graph.nodes[s].id,
                    node_line: graph.nodes[s].line,
                    first_line,
                }
            } else {
                GmlErrorKind::DuplicateEdge {
                    from: graph.edges[j].source,
                    to: graph.edges[j].target,
                    first_line,
                }
            };
            return Err(edge_pos(j).error(kind));
        }
        seen.insert(key, j);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if !seen.contains_key(&(i, i)) {
            return Err(node_pos(i).error(GmlErrorKind::MissingSelfLoop { id: node.id }));
        }
    }

    // Connectivity: everything reachable from the first node and, when
    // directed, the first node reachable from everything (together: every
    // node reaches every other).
    let n = graph.nodes.len();
    let mut forward = vec![Vec::new(); n];
    let mut backward = vec![Vec::new(); n];
    for &(s, t) in ends.iter().filter(|(s, t)| s != t) {
        forward[s].push(t);
        backward[t].push(s);
        if !graph.directed {
            forward[t].push(s);
        }
    }
    let unreachable = |from: usize, to: usize| {
        node_pos(to).error(GmlErrorKind::Unreachable {
            from: graph.nodes[from].id,
            to: graph.nodes[to].id,
            directed: graph.directed,
        })
    };
    if let Some(i) = first_unreached(&forward) {
        return Err(unreachable(0, i));
    }
    if graph.directed
        && let Some(i) = first_unreached(&backward)
    {
        // Node `i` cannot reach the first node; point at node `i`.
        return Err(node_pos(i).error(GmlErrorKind::Unreachable {
            from: graph.nodes[i].id,
            to: first.id,
            directed: true,
        }));
    }
    Ok(())
}

/// The lowest-numbered vertex that a breadth-first search from vertex 0
/// over `adjacency` does not reach.
fn first_unreached(adjacency: &[Vec<usize>]) -> Option<usize> {
    let mut reached = vec![false; adjacency.len()];
    let mut queue = VecDeque::new();
    if let Some(start) = reached.first_mut() {
        *start = true;
        queue.push_back(0);
    }
    while let Some(v) = queue.pop_front() {
        for &w in &adjacency[v] {
            if !reached[w] {
                reached[w] = true;
                queue.push_back(w);
            }
        }
    }
    reached.iter().position(|&r| !r)
}
