//! Shadow's network-graph dialect of GML: a reader that checks everything
//! Shadow checks (and says how to fix what it rejects), and a writer whose
//! output Shadow and [`parse_gml`] both read back.
//!
//! ```text
//! graph [
//!   directed 0
//!   node [ id 0 host_bandwidth_up "100 Mbit" host_bandwidth_down "100 Mbit" ]
//!   edge [ source 0 target 0 latency "1 ms" packet_loss 0.0 ]
//! ]
//! ```
//!
//! Reading happens in four small steps, one module each: `lexer` turns
//! text into tokens, `tree` into nested `key value` lists, `read` picks
//! out the nodes and edges with typed attributes, and `validate` checks
//! the graph as a whole (ids, self-loops, connectivity).

mod lexer;
mod read;
mod tree;
mod validate;
mod write;

use crate::units::{Bandwidth, Probability, SimDuration, UnitError};

pub use write::write_gml;

/// A network graph as written in a GML file: vertices ("nodes") that hosts
/// attach to and the links ("edges") between them, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct GmlGraph {
    /// `directed 1`: every edge is one-way, from `source` to `target`.
    pub directed: bool,
    /// The nodes, in file order.
    pub nodes: Vec<GmlNode>,
    /// The edges, in file order.
    pub edges: Vec<GmlEdge>,
}

/// One `node [ ... ]` of a GML graph.
#[derive(Clone, Debug, PartialEq)]
pub struct GmlNode {
    /// The node's `id`, which edges and scenarios (`graph_node`) refer to.
    pub id: u32,
    /// `host_bandwidth_up`: the upstream rate of each host on this node.
    pub bandwidth_up: Option<Bandwidth>,
    /// `host_bandwidth_down`: the downstream rate of each host on this node.
    pub bandwidth_down: Option<Bandwidth>,
    /// The 1-based line of the `node` keyword, for messages (0 when the node
    /// was not read from a file).
    pub line: u32,
}

/// One `edge [ ... ]` of a GML graph.
#[derive(Clone, Debug, PartialEq)]
pub struct GmlEdge {
    /// The `id` of the node the edge starts at.
    pub source: u32,
    /// The `id` of the node the edge ends at (equal to `source` for a self-loop).
    pub target: u32,
    /// `latency`: the one-way delay of the link; never zero.
    pub latency: SimDuration,
    /// `jitter`: the most extra delay a message may get on this link (zero
    /// when absent).
    pub jitter: SimDuration,
    /// `packet_loss`: the chance a message is lost on this link (zero when
    /// absent).
    pub packet_loss: Probability,
    /// The 1-based line of the `edge` keyword, for messages (0 when the edge
    /// was not read from a file).
    pub line: u32,
}

/// Why a GML graph was rejected: where (1-based line and column) and what
/// is wrong, worded so the message also says how to fix it.
///
/// Displays as `line 12, column 5: edge latency "1.5" has no unit: write it
/// with one, e.g. "1.5 ms"`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct GmlError {
    /// 1-based line of the offending text (of the node or edge for
    /// whole-graph problems).
    pub line: u32,
    /// 1-based column of the offending text.
    pub column: u32,
    /// What is wrong.
    pub kind: GmlErrorKind,
}

/// What is wrong with a GML graph; the `Display` text says how to fix it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GmlErrorKind {
    /// A character that starts no GML token.
    #[error(
        "unexpected character '{0}': GML holds `key value` pairs whose values are numbers, \"quoted strings\" or [ lists ]"
    )]
    UnexpectedChar(char),
    /// A number run together with letters, such as `50ms`.
    #[error("`{0}` is not a number: write text in quotes, e.g. \"{0}\"")]
    BadNumber(String),
    /// A `"` with no closing `"`.
    #[error("this string is never closed: add the closing \"")]
    UnclosedString,
    /// The text ends inside a `[ ... ]` list.
    #[error(
        "the file ends inside the `{key} [` opened on line {open_line}: add the missing `]` (or the file was cut short)"
    )]
    UnclosedList {
        /// The key whose list is open (`graph`, `node`, `edge`, ...).
        key: String,
        /// The line of its `[`.
        open_line: u32,
    },
    /// The text ends after a key, before its value.
    #[error("the file ends after `{0}`: give it a value, e.g. `{0} 1`")]
    MissingValue(String),
    /// A token where a different one was expected.
    #[error("expected {expected}, found {found}")]
    UnexpectedToken {
        /// What the grammar allows here.
        expected: &'static str,
        /// What is there instead.
        found: String,
    },
    /// Lists nested deeper than any network graph needs.
    #[error(
        "lists are nested more than {0} deep: a network graph needs only `graph [ node [ ] edge [ ] ]`"
    )]
    TooDeep(u32),
    /// No top-level `graph [ ... ]`.
    #[error(
        "no `graph [ ... ]` found: a network graph file holds one `graph [ node [ ... ] edge [ ... ] ]`"
    )]
    MissingGraph,
    /// A second top-level `graph`.
    #[error("a second `graph` (the first is on line {0}): put every node and edge in one graph")]
    DuplicateGraph(u32),
    /// `graph`, `node` or `edge` whose value is not a list.
    #[error("`{0}` must be a list, e.g. `{0} [ ... ]`")]
    NotAList(&'static str),
    /// `directed` other than 0 or 1.
    #[error(
        "`directed {0}` is not allowed: write `directed 0` (links work both ways) or `directed 1` (one-way)"
    )]
    BadDirected(String),
    /// A known key given twice in one list.
    #[error("`{key}` is given twice (first on line {first_line}): keep one")]
    DuplicateKey {
        /// The key.
        key: &'static str,
        /// Where it was given first.
        first_line: u32,
    },
    /// A required key is absent from a node or edge.
    #[error("{item} has no `{key}`: add one, e.g. `{example}`")]
    MissingKey {
        /// `node` or `edge`.
        item: &'static str,
        /// The missing key.
        key: &'static str,
        /// A sample line to add.
        example: &'static str,
    },
    /// A node id, edge source or edge target that is not a `u32`.
    #[error("{what} {value} is not valid: {reason}")]
    BadId {
        /// `node id`, `edge source` or `edge target`.
        what: &'static str,
        /// The value as written.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A value of the wrong kind (a string where a number belongs, ...).
    #[error("{what} must be {expected}, found {found}")]
    WrongType {
        /// The attribute, e.g. `edge packet_loss`.
        what: &'static str,
        /// What it should be.
        expected: &'static str,
        /// What it is.
        found: String,
    },
    /// A quoted time or bandwidth without a unit, e.g. `"1.5"`.
    #[error("{what} \"{value}\" has no unit: write it with one, e.g. \"{value} {unit}\"")]
    NoUnit {
        /// The attribute, e.g. `edge latency`.
        what: &'static str,
        /// The number as written.
        value: String,
        /// A sample unit.
        unit: &'static str,
    },
    /// A bare number where a quoted time or bandwidth belongs.
    #[error(
        "{what} {value} has no unit: write it as a quoted string with one, e.g. \"{value} {unit}\""
    )]
    BareNumber {
        /// The attribute, e.g. `edge latency`.
        what: &'static str,
        /// The number as written.
        value: String,
        /// A sample unit.
        unit: &'static str,
    },
    /// A time or bandwidth that does not parse.
    #[error("{what}: {source}")]
    BadQuantity {
        /// The attribute, e.g. `edge jitter`.
        what: &'static str,
        /// Why the spelling was rejected.
        source: UnitError,
    },
    /// An edge with zero latency, which Shadow rejects.
    #[error(
        "edge latency is 0: Shadow requires a positive latency on every edge; write e.g. \"1 ms\""
    )]
    ZeroLatency,
    /// `packet_loss` outside `0..=1`.
    #[error(
        "edge packet_loss {0} is not a probability: write a number from 0 to 1 (e.g. 0.01 for 1 %)"
    )]
    BadLoss(String),
    /// A graph with no nodes.
    #[error(
        "the graph has no nodes: add at least one `node [ id 0 ]` with a self-loop `edge [ source 0 target 0 latency \"1 ms\" ]`"
    )]
    NoNodes,
    /// Two nodes with one id.
    #[error("node id {id} is used twice (first on line {first_line}): give every node its own id")]
    DuplicateNode {
        /// The id.
        id: u32,
        /// Where it was used first.
        first_line: u32,
    },
    /// An edge naming a node that does not exist.
    #[error(
        "edge {from} -> {to} names node {missing}, but there is no node with id {missing}: add `node [ id {missing} ]` or fix the edge"
    )]
    UnknownNode {
        /// The edge's source.
        from: u32,
        /// The edge's target.
        to: u32,
        /// The id that has no node.
        missing: u32,
    },
    /// A node without a self-loop.
    #[error(
        "node {id} has no self-loop: add `edge [ source {id} target {id} latency \"1 ms\" ]` (Shadow routes traffic between hosts on the same node over it)"
    )]
    MissingSelfLoop {
        /// The node's id.
        id: u32,
    },
    /// A node with two self-loops.
    #[error(
        "node {id} (line {node_line}) has a second self-loop (the first is on line {first_line}): keep exactly one"
    )]
    ExtraSelfLoop {
        /// The node's id.
        id: u32,
        /// The line of the node.
        node_line: u32,
        /// The line of its first self-loop.
        first_line: u32,
    },
    /// Two edges between the same nodes (the same direction, when directed).
    #[error(
        "edge {from} -> {to} repeats the edge on line {first_line}: keep one edge per pair of nodes"
    )]
    DuplicateEdge {
        /// The edge's source.
        from: u32,
        /// The edge's target.
        to: u32,
        /// The line of the first such edge.
        first_line: u32,
    },
    /// A node that cannot be reached: the graph is not (strongly) connected.
    #[error("node {to} cannot be reached from node {from}: {}", unreachable_fix(*.from, *.to, *.directed))]
    Unreachable {
        /// The node paths start from.
        from: u32,
        /// The node they cannot reach.
        to: u32,
        /// Whether edges are one-way (`directed 1`).
        directed: bool,
    },
    /// A byte that is not UTF-8 (at the error's line and column).
    #[error("byte 0x{0:02X} is not UTF-8: GML files are text; save the file as UTF-8")]
    NotUtf8(u8),
}

/// How to connect `to` to `from`, for [`GmlErrorKind::Unreachable`].
fn unreachable_fix(from: u32, to: u32, directed: bool) -> String {
    if directed {
        format!(
            "with `directed 1` every node must reach every other; add edges so that a path leads from node {from} to node {to}"
        )
    } else {
        format!("the graph must be connected; add an edge that links node {to} to the others")
    }
}

impl GmlError {
    /// An error of `kind` at `line`, `column`.
    pub fn new(line: u32, column: u32, kind: GmlErrorKind) -> Self {
        GmlError { line, column, kind }
    }
}

/// Reads a network graph in Shadow's GML dialect and checks it the way
/// Shadow does: every node has exactly one self-loop, every edge a positive
/// latency with a unit, loss in `0..=1`, ids unique, the graph connected
/// (strongly, when `directed 1`). Unknown attributes (`label`,
/// `country_code`, ...) are ignored. Never panics, whatever the input.
pub fn parse_gml(text: &str) -> Result<GmlGraph, GmlError> {
    let entries = tree::parse(text)?;
    let (graph, positions) = read::read_graph(&entries)?;
    validate::validate(&graph, &positions)?;
    Ok(graph)
}

/// [`parse_gml`] of a file's bytes: a byte that is not UTF-8 is an error
/// at its line and column ([`GmlErrorKind::NotUtf8`]).
pub fn parse_gml_bytes(bytes: &[u8]) -> Result<GmlGraph, GmlError> {
    let text = crate::input::utf8(bytes)
        .map_err(|e| GmlError::new(e.line, e.column, GmlErrorKind::NotUtf8(e.byte)))?;
    parse_gml(text)
}

impl GmlGraph {
    /// Checks the whole-graph rules [`parse_gml`] checks (unique ids, edges
    /// between existing nodes, one self-loop per node, no repeated edge,
    /// connectivity) on a graph built in code. Errors point at each node's
    /// or edge's `line`, column 1.
    pub fn validate(&self) -> Result<(), GmlError> {
        validate::validate(self, &validate::Positions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHADOW_EXAMPLE: &str = r#"graph [
  directed 0
  node [
    id 0
    host_bandwidth_up "100 Mbit"
    host_bandwidth_down "100 Mbit"
  ]
  node [ id 1 host_bandwidth_up "1 Gbit" host_bandwidth_down "1 Gbit" ]
  edge [ source 0 target 0 latency "1 ms" packet_loss 0.0 ]
  edge [ source 1 target 1 latency "1 ms" packet_loss 0.0 ]
  edge [ source 0 target 1 latency "50 ms" jitter "5 ms" packet_loss 0.01 ]
]
"#;

    fn bw(text: &str) -> Bandwidth {
        text.parse().expect("test bandwidth")
    }

    fn p(value: f64) -> Probability {
        Probability::new(value).expect("test probability")
    }

    /// Parses `text` expecting an error; returns it.
    fn err(text: &str) -> GmlError {
        match parse_gml(text) {
            Ok(graph) => panic!("expected an error, got {graph:?}"),
            Err(e) => e,
        }
    }

    /// A valid two-node undirected graph with `extra` spliced in before the final `]`.
    fn two_nodes(extra: &str) -> String {
        format!(
            "graph [\n  node [ id 0 ]\n  node [ id 1 ]\n  edge [ source 0 target 0 latency \"1 ms\" ]\n  edge [ source 1 target 1 latency \"1 ms\" ]\n{extra}]\n"
        )
    }

    #[test]
    fn parses_the_shadow_example_field_by_field() {
        let g = parse_gml(SHADOW_EXAMPLE).expect("valid");
        assert!(!g.directed);
        assert_eq!(
            g.nodes,
            vec![
                GmlNode {
                    id: 0,
                    bandwidth_up: Some(bw("100 Mbit")),
                    bandwidth_down: Some(bw("100 Mbit")),
                    line: 3,
                },
                GmlNode {
                    id: 1,
                    bandwidth_up: Some(bw("1 Gbit")),
                    bandwidth_down: Some(bw("1 Gbit")),
                    line: 8,
                },
            ]
        );
        assert_eq!(
            g.edges,
            vec![
                GmlEdge {
                    source: 0,
                    target: 0,
                    latency: SimDuration::from_millis(1),
                    jitter: SimDuration::ZERO,
                    packet_loss: Probability::ZERO,
                    line: 9,
                },
                GmlEdge {
                    source: 1,
                    target: 1,
                    latency: SimDuration::from_millis(1),
                    jitter: SimDuration::ZERO,
                    packet_loss: Probability::ZERO,
                    line: 10,
                },
                GmlEdge {
                    source: 0,
                    target: 1,
                    latency: SimDuration::from_millis(50),
                    jitter: SimDuration::from_millis(5),
                    packet_loss: p(0.01),
                    line: 11,
                },
            ]
        );
    }

    #[test]
    fn ignores_unknown_attributes_and_comments() {
        let text = r#"# written by a tool
Creator "somebody"
graph [
  label "test"   # a comment
  node [ id 0 label "node at 1.2.3.4" country_code "US" ip_address "1.2.3.4" weight 1.5 extra [ a 1 ] ]
  edge [ source 0 target 0 latency "2 ms" label "loop" ]
]"#;
        let g = parse_gml(text).expect("valid");
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].bandwidth_up, None);
        assert_eq!(g.edges[0].latency, SimDuration::from_millis(2));
        assert_eq!(g.edges[0].line, 6);
    }

    #[test]
    fn accepts_directed_graphs_and_integer_loss() {
        let text = "graph [ directed 1 node [ id 5 ] node [ id 9 ]
            edge [ source 5 target 5 latency \"1 us\" packet_loss 0 ]
            edge [ source 9 target 9 latency \"1 us\" packet_loss 1 ]
            edge [ source 5 target 9 latency \"3 ms\" ]
            edge [ source 9 target 5 latency \"4 ms\" ] ]";
        let g = parse_gml(text).expect("valid");
        assert!(g.directed);
        assert_eq!(g.edges[1].packet_loss, Probability::ONE);
        assert_eq!(g.edges[3].latency, SimDuration::from_millis(4));
    }

    #[test]
    fn missing_self_loop_names_the_node_and_its_line() {
        let text = "graph [\n  node [ id 0 ]\n  node [ id 7 ]\n  edge [ source 0 target 0 latency \"1 ms\" ]\n  edge [ source 0 target 7 latency \"1 ms\" ]\n]";
        let e = err(text);
        assert_eq!(e.kind, GmlErrorKind::MissingSelfLoop { id: 7 });
        assert_eq!((e.line, e.column), (3, 3));
        let msg = e.to_string();
        assert!(
            msg.starts_with("line 3, column 3: node 7 has no self-loop"),
            "{msg}"
        );
        assert!(msg.contains("source 7 target 7"), "{msg}");
    }

    #[test]
    fn two_self_loops_are_rejected() {
        let e = err(&two_nodes(
            "  edge [ source 0 target 1 latency \"1 ms\" ]\n  edge [ source 1 target 1 latency \"2 ms\" ]\n",
        ));
        assert_eq!(
            e.kind,
            GmlErrorKind::ExtraSelfLoop {
                id: 1,
                node_line: 3,
                first_line: 5
            }
        );
        assert_eq!(e.line, 7);
        assert!(e.to_string().contains("node 1 (line 3)"), "{e}");
    }

    #[test]
    fn repeated_edges_are_rejected_in_either_spelling_when_undirected() {
        let e = err(&two_nodes(
            "  edge [ source 0 target 1 latency \"1 ms\" ]\n  edge [ source 1 target 0 latency \"1 ms\" ]\n",
        ));
        assert_eq!(
            e.kind,
            GmlErrorKind::DuplicateEdge {
                from: 1,
                to: 0,
                first_line: 6
            }
        );
        assert_eq!(e.line, 7);
    }

    #[test]
    fn disconnected_graph_names_an_unreachable_node() {
        let e = err(&two_nodes(""));
        assert_eq!(
            e.kind,
            GmlErrorKind::Unreachable {
                from: 0,
                to: 1,
                directed: false
            }
        );
        assert_eq!(e.line, 3);
        assert!(
            e.to_string()
                .contains("node 1 cannot be reached from node 0"),
            "{e}"
        );
    }

    #[test]
    fn directed_graph_must_be_strongly_connected() {
        let one_way = "graph [\n directed 1\n node [ id 0 ]\n node [ id 1 ]\n edge [ source 0 target 0 latency \"1 ms\" ]\n edge [ source 1 target 1 latency \"1 ms\" ]\n edge [ source 0 target 1 latency \"1 ms\" ]\n]";
        let e = err(one_way);
        assert!(
            matches!(e.kind, GmlErrorKind::Unreachable { from: 1, to: 0, .. }),
            "{e}"
        );
        assert_eq!(e.line, 4, "points at node 1, which cannot reach node 0");
        let other_way = one_way.replace("source 0 target 1", "source 1 target 0");
        let e = err(&other_way);
        assert!(
            matches!(e.kind, GmlErrorKind::Unreachable { from: 0, to: 1, .. }),
            "{e}"
        );
        assert_eq!(e.line, 4);
    }

    #[test]
    fn bad_unit_reuses_the_unit_error() {
        let e = err(&two_nodes(
            "  edge [ source 0 target 1\n    latency \"5 parsecs\" ]\n",
        ));
        assert!(matches!(
            e.kind,
            GmlErrorKind::BadQuantity {
                what: "edge latency",
                source: UnitError::UnknownUnit { .. }
            }
        ));
        assert_eq!((e.line, e.column), (7, 13));
        assert!(e.to_string().contains("parsecs"), "{e}");

        let e = err("graph [ node [ id 0\n host_bandwidth_up \"9 furlongs\" ] ]");
        assert!(matches!(
            e.kind,
            GmlErrorKind::BadQuantity {
                what: "node host_bandwidth_up",
                ..
            }
        ));
        assert_eq!(e.line, 2);
    }

    #[test]
    fn latency_without_unit_says_how_to_fix_it() {
        let e = err(&two_nodes("  edge [ source 0 target 1 latency \"1.5\" ]\n"));
        assert_eq!(e.line, 6);
        assert_eq!(
            e.to_string(),
            "line 6, column 36: edge latency \"1.5\" has no unit: write it with one, e.g. \"1.5 ms\""
        );
        let e = err(&two_nodes("  edge [ source 0 target 1 latency 1.5 ]\n"));
        assert_eq!(e.line, 6);
        assert!(
            matches!(&e.kind, GmlErrorKind::BareNumber { what: "edge latency", value, .. } if value == "1.5")
        );
        assert!(e.to_string().contains("\"1.5 ms\""), "{e}");
        let e = err("graph [\n node [ id 0 host_bandwidth_down 100 ] ]");
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("\"100 Mbit\""), "{e}");
        let e = err(&two_nodes(
            "  edge [ source 0 target 1 latency \"1 ms\" jitter 2 ]\n",
        ));
        assert!(matches!(
            e.kind,
            GmlErrorKind::BareNumber {
                what: "edge jitter",
                ..
            }
        ));
    }

    #[test]
    fn zero_latency_is_rejected_but_zero_jitter_is_not() {
        let e = err(&two_nodes(
            "  edge [ source 0 target 1 latency \"0 ms\" ]\n",
        ));
        assert_eq!(e.kind, GmlErrorKind::ZeroLatency);
        assert_eq!(e.line, 6);
        parse_gml(&two_nodes(
            "  edge [ source 0 target 1 latency \"1 ms\" jitter \"0 ms\" ]\n",
        ))
        .expect("zero jitter is fine");
    }

    #[test]
    fn missing_latency_is_rejected() {
        let e = err(&two_nodes("\n  edge [ source 0 target 1 ]\n"));
        assert!(matches!(
            e.kind,
            GmlErrorKind::MissingKey {
                item: "edge",
                key: "latency",
                ..
            }
        ));
        assert_eq!((e.line, e.column), (7, 3));
    }

    #[test]
    fn loss_outside_zero_to_one_is_rejected() {
        for (loss, line) in [("1.5", 6), ("-0.1", 6), ("2", 6), ("1e9", 6)] {
            let e = err(&two_nodes(&format!(
                "  edge [ source 0 target 1 latency \"1 ms\" packet_loss {loss} ]\n"
            )));
            assert_eq!(e.kind, GmlErrorKind::BadLoss(loss.to_string()));
            assert_eq!(e.line, line);
        }
        let e = err(&two_nodes(
            "  edge [ source 0 target 1 latency \"1 ms\" packet_loss \"0.1\" ]\n",
        ));
        assert!(matches!(
            e.kind,
            GmlErrorKind::WrongType {
                what: "edge packet_loss",
                ..
            }
        ));
    }

    #[test]
    fn unknown_node_in_edge_is_rejected() {
        let e = err(&two_nodes(
            "  edge [ source 0 target 1 latency \"1 ms\" ]\n  edge [ source 1 target 4 latency \"1 ms\" ]\n",
        ));
        assert_eq!(
            e.kind,
            GmlErrorKind::UnknownNode {
                from: 1,
                to: 4,
                missing: 4
            }
        );
        assert_eq!(e.line, 7);
    }

    #[test]
    fn duplicate_node_id_is_rejected() {
        let e = err("graph [\n node [ id 0 ]\n node [ id 1 ]\n node [ id 0 ]\n]");
        assert_eq!(
            e.kind,
            GmlErrorKind::DuplicateNode {
                id: 0,
                first_line: 2
            }
        );
        assert_eq!((e.line, e.column), (4, 2));
    }

    #[test]
    fn bad_ids_are_rejected() {
        for (id, line) in [("-1", 2), ("1.0", 2), ("\"a\"", 2), ("4294967296", 2)] {
            let e = err(&format!("graph [\n node [ id {id} ] ]"));
            assert_eq!(e.line, line, "{e}");
            assert!(
                matches!(
                    e.kind,
                    GmlErrorKind::BadId {
                        what: "node id",
                        ..
                    }
                ),
                "{id}: {e}"
            );
        }
        let e = err("graph [ node [ id 0 ]\n edge [ source -3 target 0 latency \"1 ms\" ] ]");
        assert!(matches!(
            e.kind,
            GmlErrorKind::BadId {
                what: "edge source",
                ..
            }
        ));
        assert_eq!(e.line, 2);
        let e = err("graph [ node [ label \"x\" ] ]");
        assert!(matches!(
            e.kind,
            GmlErrorKind::MissingKey {
                item: "node",
                key: "id",
                ..
            }
        ));
        assert_eq!(e.line, 1);
    }

    #[test]
    fn syntax_errors_point_at_the_problem() {
        let cases: &[(&str, u32, u32)] = &[
            ("", 1, 1),                                      // missing graph
            ("# only a comment\n", 1, 1),                    // missing graph
            ("graph 3", 1, 7),                               // not a list
            ("graph [\n node [ id 0 ]\n", 3, 1),             // unclosed
            ("graph [\n node [ id 0\n", 3, 1),               // unclosed node
            ("graph [\n node [ id ]\n]", 2, 12),             // key without value
            ("graph [\n node [ id 0 ]\n]\n]", 4, 1),         // stray ]
            ("graph [\n node [ 0 ]\n]", 2, 9),               // value where a key belongs
            ("graph [\n edge [ latency \"1 ms ]\n]", 2, 17), // unclosed string
            ("graph [\n node [ id 0 @ ]\n]", 2, 14),         // bad character
            ("graph [\n edge [ latency 50ms ]\n]", 2, 17),   // number run into unit
            ("graph [\n node [ id 0 ] ]\ngraph [ ]", 3, 1),  // second graph
            ("graph [\n directed 2\n]", 2, 11),              // bad directed
            ("graph [\n node [ id 0 id 1 ]\n]", 2, 14),      // duplicate key
            ("graph [\n node 4\n]", 2, 7),                   // node not a list
            ("graph [\n]", 1, 1),                            // no nodes
            ("graph [\n node [ id", 2, 11),                  // ends after key
        ];
        for &(text, line, column) in cases {
            let e = err(text);
            assert_eq!((e.line, e.column), (line, column), "{text:?}: {e}");
        }
    }

    #[test]
    fn every_prefix_of_a_valid_file_is_handled_without_panic() {
        let mut errors = 0;
        for (end, _) in SHADOW_EXAMPLE.char_indices() {
            let prefix = &SHADOW_EXAMPLE[..end];
            if let Err(e) = parse_gml(prefix) {
                errors += 1;
                assert!(e.line >= 1 && e.column >= 1, "{prefix:?}: {e}");
                assert!(e.line as usize <= prefix.lines().count().max(1) + 1, "{e}");
            }
        }
        assert!(errors > 100);
        // Truncated right after a node list: the graph list is unclosed.
        let cut = SHADOW_EXAMPLE.find("  node [ id 1").expect("in example");
        let e = err(&SHADOW_EXAMPLE[..cut]);
        assert!(
            matches!(&e.kind, GmlErrorKind::UnclosedList { key, open_line: 1 } if key == "graph")
        );
        assert_eq!(e.line, 8);
        // Truncated inside the string of an edge.
        let cut = SHADOW_EXAMPLE.find("50 ms").expect("in example");
        let e = err(&SHADOW_EXAMPLE[..cut]);
        assert_eq!(e.kind, GmlErrorKind::UnclosedString);
        assert_eq!(e.line, 11);
        // Truncated inside an edge list.
        let cut = SHADOW_EXAMPLE.find("jitter").expect("in example");
        let e = err(&SHADOW_EXAMPLE[..cut]);
        assert!(
            matches!(&e.kind, GmlErrorKind::UnclosedList { key, open_line: 11 } if key == "edge")
        );
        assert_eq!(e.line, 11);
    }

    #[test]
    fn arbitrary_bytes_and_deep_nesting_never_panic() {
        let deep = format!("graph [ {}", "a [ ".repeat(10_000));
        assert!(matches!(err(&deep).kind, GmlErrorKind::TooDeep(_)));
        for text in [
            "\"",
            "[",
            "]",
            "-",
            "+.",
            "1e",
            "graph [ node [ id 1e99 ] ]",
            "\u{0}",
            "é",
            "graph [ directed -0 ]",
        ] {
            let _ = parse_gml(text);
        }
    }

    #[test]
    fn written_graph_parses_back_equal() {
        let original = parse_gml(SHADOW_EXAMPLE).expect("valid");
        let text = write_gml(&original);
        let again = parse_gml(&text).expect("writer output parses");
        assert_eq!(strip_lines(&again), strip_lines(&original));
        assert_eq!(write_gml(&again), text, "the writer is canonical");

        let mut odd = original.clone();
        odd.directed = true;
        odd.edges.push(GmlEdge {
            source: 1,
            target: 0,
            latency: SimDuration::from_micros(1500),
            jitter: SimDuration::from_nanos(7),
            packet_loss: p(1e-7),
            line: 0,
        });
        odd.nodes[1].bandwidth_up = Some(bw("1500 Kbit"));
        odd.nodes[1].bandwidth_down = None;
        let text = write_gml(&odd);
        assert!(
            text.contains("\"1500 us\"") && text.contains("directed 1"),
            "{text}"
        );
        let again = parse_gml(&text).expect("writer output parses");
        assert_eq!(strip_lines(&again), strip_lines(&odd));
    }

    fn strip_lines(graph: &GmlGraph) -> GmlGraph {
        let mut graph = graph.clone();
        graph.nodes.iter_mut().for_each(|n| n.line = 0);
        graph.edges.iter_mut().for_each(|e| e.line = 0);
        graph
    }

    #[test]
    fn validate_checks_graphs_built_in_code() {
        let mut g = parse_gml(SHADOW_EXAMPLE).expect("valid");
        assert_eq!(g.validate(), Ok(()));
        g.edges.remove(1);
        let e = g.validate().expect_err("node 1 lost its self-loop");
        assert_eq!(e.kind, GmlErrorKind::MissingSelfLoop { id: 1 });
        assert_eq!((e.line, e.column), (8, 1));
    }
}
