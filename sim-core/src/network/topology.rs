//! The graph hosts attach to: vertices (with optional GML id and host
//! bandwidth) joined by links (latency, jitter, loss), built from a GML
//! graph or from one of the built-in shapes.
//!
//! Every vertex a host can sit on has exactly one self-loop: the link
//! between two hosts on the same vertex (Shadow's rule). Between different
//! vertices there is at most one link per pair (per direction, when the
//! topology is directed).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use rand::RngExt;
use rand_core::Rng;

use super::gml::{GmlEdge, GmlError, GmlGraph, GmlNode};
use crate::units::{Bandwidth, Probability, SimDuration};

/// How many fresh pairings [`Topology::random_regular`] tries before giving up.
const RANDOM_REGULAR_ATTEMPTS: u32 = 100;

/// Random stub picks that may fail in a row before [`Topology::random_regular`]
/// lists the pairs still possible and picks among them.
const RANDOM_PICKS_BEFORE_SCAN: u32 = 32;

/// A vertex of a [`Topology`]: its index, `0..vertex_count()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VertexId(pub u32);

impl VertexId {
    /// The index as a `usize`, for indexing per-vertex tables.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    fn node(self) -> NodeIndex {
        NodeIndex::new(self.index())
    }

    fn of(node: NodeIndex) -> VertexId {
        // Node indices are `u32` (petgraph's default index type), so this
        // never truncates.
        VertexId(node.index() as u32)
    }
}

impl fmt::Display for VertexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vertex#{}", self.0)
    }
}

/// What one link does to every message that crosses it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// One-way delay.
    pub latency: SimDuration,
    /// The most extra delay a message may get (drawn uniformly from `0..=jitter`).
    pub jitter: SimDuration,
    /// The chance a message is lost.
    pub loss: Probability,
}

/// What a vertex carries besides its links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vertex {
    /// The GML `id`, for vertices read from a GML graph.
    pub gml_id: Option<u32>,
    /// The GML `host_bandwidth_up` of hosts on this vertex, if given.
    pub bandwidth_up: Option<Bandwidth>,
    /// The GML `host_bandwidth_down` of hosts on this vertex, if given.
    pub bandwidth_down: Option<Bandwidth>,
}

impl Vertex {
    /// A vertex of a built-in topology: no GML id, no bandwidth.
    const PLAIN: Vertex = Vertex {
        gml_id: None,
        bandwidth_up: None,
        bandwidth_down: None,
    };
}

/// Why a built-in topology cannot be built; the message says what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// A random regular graph of no vertices.
    #[error("a random-regular topology needs at least one host")]
    NoVertices,
    /// `vertices x degree` is odd, so no such graph exists.
    #[error(
        "no graph has {vertices} hosts with exactly {degree} links each ({vertices} x {degree} is odd): make the host count or the degree even"
    )]
    OddDegreeSum {
        /// Vertex (host) count.
        vertices: u32,
        /// Links per vertex.
        degree: u32,
    },
    /// A degree that needs more vertices than there are.
    #[error(
        "degree {degree} needs at least {} hosts, but there are {vertices}: lower the degree below the host count",
        u64::from(*.degree) + 1
    )]
    DegreeTooLarge {
        /// Vertex (host) count.
        vertices: u32,
        /// Links per vertex.
        degree: u32,
    },
    /// A degree too small to connect the vertices.
    #[error(
        "degree {degree} cannot connect {vertices} hosts: use degree 2 or more (degree 1 connects exactly two hosts)"
    )]
    DegreeTooSmall {
        /// Vertex (host) count.
        vertices: u32,
        /// Links per vertex.
        degree: u32,
    },
    /// Every attempt gave a disconnected graph or got stuck.
    #[error(
        "found no connected graph of {vertices} hosts with {degree} links each in {attempts} attempts: try another degree or seed"
    )]
    NotFound {
        /// Vertex (host) count.
        vertices: u32,
        /// Links per vertex.
        degree: u32,
        /// How many pairings were tried.
        attempts: u32,
    },
}

/// A network graph: vertices that hosts attach to, links between them.
///
/// Vertices are numbered `0..vertex_count()` in the order they were added
/// (file order for GML). Links are stored once; in an undirected topology a
/// link works both ways.
#[derive(Clone, Debug)]
pub struct Topology {
    graph: DiGraph<Vertex, Link>,
    directed: bool,
    by_gml_id: BTreeMap<u32, VertexId>,
}

impl Topology {
    /// An empty topology.
    fn empty(directed: bool) -> Self {
        Topology {
            graph: DiGraph::new(),
            directed,
            by_gml_id: BTreeMap::new(),
        }
    }

    /// `n` plain vertices, each with a self-loop of `link`.
    fn plain(n: u32, link: Link) -> Self {
        let mut topology = Topology::empty(false);
        for _ in 0..n {
            let v = topology.graph.add_node(Vertex::PLAIN);
            topology.graph.add_edge(v, v, link);
        }
        topology
    }

    fn add_link(&mut self, a: u32, b: u32, link: Link) {
        self.graph
            .add_edge(VertexId(a).node(), VertexId(b).node(), link);
    }

    /// The topology of a GML graph: one vertex per node (in file order,
    /// carrying its id and host bandwidths), one link per edge. Checks the
    /// graph first ([`GmlGraph::validate`]), so a graph built in code gets
    /// the same guarantees as one read by [`super::parse_gml`].
    pub fn from_gml(gml: &GmlGraph) -> Result<Self, GmlError> {
        gml.validate()?;
        let mut topology = Topology::empty(gml.directed);
        for node in &gml.nodes {
            let v = topology.graph.add_node(Vertex {
                gml_id: Some(node.id),
                bandwidth_up: node.bandwidth_up,
                bandwidth_down: node.bandwidth_down,
            });
            topology.by_gml_id.insert(node.id, VertexId::of(v));
        }
        for edge in &gml.edges {
            // `validate` has checked that both ends name a node.
            if let (Some(&s), Some(&t)) = (
                topology.by_gml_id.get(&edge.source),
                topology.by_gml_id.get(&edge.target),
            ) {
                let link = Link {
                    latency: edge.latency,
                    jitter: edge.jitter,
                    loss: edge.packet_loss,
                };
                topology.graph.add_edge(s.node(), t.node(), link);
            }
        }
        Ok(topology)
    }

    /// Shadow's single switch: ONE vertex whose self-loop is `link`. Every
    /// host attaches to it, so every pair of hosts is one link apart.
    pub fn mesh(link: Link) -> Self {
        Topology::plain(1, link)
    }

    /// A hub and `leaves` leaves, each leaf linked to the hub by `link`:
    /// leaves are vertices `0..leaves` (one host each, so host to host is
    /// two links) and the hub is vertex `leaves`. Every vertex, the hub
    /// included, has a self-loop of `link`.
    pub fn star(leaves: u32, link: Link) -> Self {
        let mut topology = Topology::plain(leaves.saturating_add(1), link);
        for leaf in 0..leaves {
            topology.add_link(leaf, leaves, link);
        }
        topology
    }

    /// Vertices `0..n` on a cycle (`i` linked to `i + 1`, the last to the
    /// first), each link `link`, each vertex with a self-loop of `link`.
    /// Two vertices get one link between them, one vertex only its self-loop.
    pub fn ring(n: u32, link: Link) -> Self {
        let mut topology = Topology::plain(n, link);
        match n {
            0 | 1 => {}
            2 => topology.add_link(0, 1, link),
            _ => {
                for i in 0..n {
                    topology.add_link(i, (i + 1) % n, link);
                }
            }
        }
        topology
    }

    /// A connected random `degree`-regular simple graph on vertices `0..n`:
    /// every vertex linked by `link` to exactly `degree` distinct others,
    /// plus its self-loop. The same RNG state gives the same graph.
    ///
    /// Degree 2 is a random cycle (a shuffled ring, the only connected
    /// 2-regular graph). Higher degrees pair "stubs" at random, never making
    /// a self-loop or a repeated link, and start afresh when the pairing
    /// gets stuck or comes out disconnected (Steger and Wormald's method),
    /// at most 100 times. Degrees above `(n - 1) / 2` take the complement of
    /// such a pairing for degree `n - 1 - degree` instead.
    pub fn random_regular<R: Rng + ?Sized>(
        n: u32,
        degree: u32,
        link: Link,
        rng: &mut R,
    ) -> Result<Self, TopologyError> {
        if n == 0 {
            return Err(TopologyError::NoVertices);
        }
        if degree >= n {
            return Err(TopologyError::DegreeTooLarge {
                vertices: n,
                degree,
            });
        }
        if (u64::from(n) * u64::from(degree)) % 2 == 1 {
            return Err(TopologyError::OddDegreeSum {
                vertices: n,
                degree,
            });
        }
        if (n >= 2 && degree == 0) || (n > 2 && degree < 2) {
            return Err(TopologyError::DegreeTooSmall {
                vertices: n,
                degree,
            });
        }
        let not_found = TopologyError::NotFound {
            vertices: n,
            degree,
            attempts: RANDOM_REGULAR_ATTEMPTS,
        };
        let edges = if degree == 2 {
            random_cycle(n, rng)
        } else if 2 * u64::from(degree) > u64::from(n) - 1 {
            // Dense: the complement of a random sparse (n-1-degree)-regular
            // graph. Pairing gets stuck when nearly every pair is taken, and
            // a graph whose degree is at least (n-1)/2 is always connected
            // (two non-adjacent vertices share a neighbour).
            let sparse = (0..RANDOM_REGULAR_ATTEMPTS)
                .find_map(|_| random_pairing(n, n - 1 - degree, rng))
                .ok_or(not_found)?;
            complement(n, &sparse)
        } else {
            (0..RANDOM_REGULAR_ATTEMPTS)
                .find_map(|_| random_pairing(n, degree, rng).filter(|e| connected(n, e)))
                .ok_or(not_found)?
        };
        let mut topology = Topology::plain(n, link);
        for (a, b) in edges {
            topology.add_link(a, b, link);
        }
        Ok(topology)
    }

    /// Whether links are one-way (a GML graph with `directed 1`).
    pub fn is_directed(&self) -> bool {
        self.directed
    }

    /// How many vertices there are.
    pub fn vertex_count(&self) -> usize {
        self.graph.node_count()
    }

    /// How many links there are, self-loops included.
    pub fn link_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Every vertex, in index order.
    pub fn vertices(&self) -> impl Iterator<Item = VertexId> + '_ {
        self.graph.node_indices().map(VertexId::of)
    }

    /// What vertex `v` carries, if it exists.
    pub fn vertex(&self, v: VertexId) -> Option<&Vertex> {
        self.graph.node_weight(v.node())
    }

    /// The vertex read from the GML node with this `id`.
    pub fn vertex_by_gml_id(&self, id: u32) -> Option<VertexId> {
        self.by_gml_id.get(&id).copied()
    }

    /// `(GML id, vertex)` for every vertex read from GML, in ascending id order.
    pub fn gml_ids(&self) -> impl Iterator<Item = (u32, VertexId)> + '_ {
        self.by_gml_id.iter().map(|(&id, &v)| (id, v))
    }

    /// The self-loop of `v`: the link between two hosts on `v`.
    pub fn self_loop(&self, v: VertexId) -> Option<Link> {
        self.graph
            .find_edge(v.node(), v.node())
            .and_then(|e| self.graph.edge_weight(e))
            .copied()
    }

    /// The links a message can take out of `v` to another vertex, with that
    /// vertex (both directions of each link when undirected; self-loops left
    /// out). The order is fixed by the order links were added.
    pub fn links_from(&self, v: VertexId) -> impl Iterator<Item = (VertexId, Link)> + '_ {
        let node = v.node();
        let outgoing = self
            .graph
            .edges_directed(node, Direction::Outgoing)
            .map(|e| (e.target(), *e.weight()));
        let incoming = (!self.directed).then(|| {
            self.graph
                .edges_directed(node, Direction::Incoming)
                .map(|e| (e.source(), *e.weight()))
        });
        outgoing
            .chain(incoming.into_iter().flatten())
            .filter(move |(other, _)| *other != node)
            .map(|(other, link)| (VertexId::of(other), link))
    }

    /// The distinct vertices one link away from `v` (self excluded), ascending.
    pub fn neighbours(&self, v: VertexId) -> Vec<VertexId> {
        let set: BTreeSet<VertexId> = self.links_from(v).map(|(w, _)| w).collect();
        set.into_iter().collect()
    }

    /// The topology as a GML graph (for `sim export shadow`): vertices
    /// become nodes with their GML id (or their index, for built-in
    /// topologies) and bandwidths; links become edges. `line`s are 0.
    pub fn to_gml(&self) -> GmlGraph {
        let id = |node: NodeIndex| {
            self.graph
                .node_weight(node)
                .and_then(|v| v.gml_id)
                .unwrap_or(VertexId::of(node).0)
        };
        let nodes = self
            .graph
            .node_indices()
            .filter_map(|node| {
                let vertex = self.graph.node_weight(node)?;
                Some(GmlNode {
                    id: id(node),
                    bandwidth_up: vertex.bandwidth_up,
                    bandwidth_down: vertex.bandwidth_down,
                    line: 0,
                })
            })
            .collect();
        let edges = self
            .graph
            .edge_references()
            .map(|e| GmlEdge {
                source: id(e.source()),
                target: id(e.target()),
                latency: e.weight().latency,
                jitter: e.weight().jitter,
                packet_loss: e.weight().loss,
                line: 0,
            })
            .collect();
        GmlGraph {
            directed: self.directed,
            nodes,
            edges,
        }
    }
}

/// The links of a random cycle through vertices `0..n` (`n >= 3`), each as
/// `(smaller, larger)`, sorted.
fn random_cycle<R: Rng + ?Sized>(n: u32, rng: &mut R) -> Vec<(u32, u32)> {
    let mut order: Vec<u32> = (0..n).collect();
    // Fisher-Yates shuffle.
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    let mut edges: Vec<(u32, u32)> = (0..order.len())
        .map(|i| {
            let (a, b) = (order[i], order[(i + 1) % order.len()]);
            (a.min(b), a.max(b))
        })
        .collect();
    edges.sort_unstable();
    edges
}

/// One attempt at a random `degree`-regular simple graph on `0..n`: pair
/// up `degree` stubs per vertex at random, skipping pairs that would make
/// a self-loop or repeat a link. `None` when it gets stuck (stubs left but
/// no allowed pair). Links as `(smaller, larger)`, sorted.
fn random_pairing<R: Rng + ?Sized>(n: u32, degree: u32, rng: &mut R) -> Option<Vec<(u32, u32)>> {
    let mut adjacent: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); n as usize];
    let mut stubs: Vec<u32> = (0..n)
        .flat_map(|v| std::iter::repeat_n(v, degree as usize))
        .collect();
    let allowed =
        |adjacent: &[BTreeSet<u32>], a: u32, b: u32| a != b && !adjacent[a as usize].contains(&b);
    while !stubs.is_empty() {
        let mut pick = None;
        for _ in 0..RANDOM_PICKS_BEFORE_SCAN {
            let i = rng.random_range(0..stubs.len());
            let j = rng.random_range(0..stubs.len());
            if allowed(&adjacent, stubs[i], stubs[j]) {
                pick = Some((i, j));
                break;
            }
        }
        let (i, j) = match pick {
            Some(pair) => pair,
            None => {
                // Few pairs remain allowed: list them and pick one.
                let free: BTreeSet<u32> = stubs.iter().copied().collect();
                let candidates: Vec<(u32, u32)> = free
                    .iter()
                    .flat_map(|&a| free.range(a + 1..).map(move |&b| (a, b)))
                    .filter(|&(a, b)| allowed(&adjacent, a, b))
                    .collect();
                if candidates.is_empty() {
                    return None;
                }
                let (a, b) = candidates[rng.random_range(0..candidates.len())];
                let i = stubs.iter().position(|&s| s == a)?;
                let j = stubs.iter().position(|&s| s == b)?;
                (i, j)
            }
        };
        let (a, b) = (stubs[i], stubs[j]);
        adjacent[a as usize].insert(b);
        adjacent[b as usize].insert(a);
        // Remove the higher index first so the lower one stays valid.
        stubs.swap_remove(i.max(j));
        stubs.swap_remove(i.min(j));
    }
    let mut edges: Vec<(u32, u32)> = adjacent
        .iter()
        .enumerate()
        .flat_map(|(a, set)| {
            // `a` indexes a table of `n: u32` entries, so it fits in u32.
            let a = a as u32;
            set.range(a + 1..).map(move |&b| (a, b))
        })
        .collect();
    edges.sort_unstable();
    Some(edges)
}

/// Every pair `(a, b)`, `a < b < n`, that is not in the sorted `edges`, sorted.
fn complement(n: u32, edges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .filter(|pair| edges.binary_search(pair).is_err())
        .collect()
}

/// Whether the undirected links `edges` connect all of `0..n`.
fn connected(n: u32, edges: &[(u32, u32)]) -> bool {
    let mut adjacency = vec![Vec::new(); n as usize];
    for &(a, b) in edges {
        adjacency[a as usize].push(b as usize);
        adjacency[b as usize].push(a as usize);
    }
    let mut reached = vec![false; n as usize];
    // Callers pass n >= 1 (`random_regular` rejects n = 0), so vertex 0 exists.
    let Some(first) = reached.first_mut() else {
        return true;
    };
    *first = true;
    let mut queue = VecDeque::from([0usize]);
    let mut count = 1;
    while let Some(v) = queue.pop_front() {
        for &w in &adjacency[v] {
            if !reached[w] {
                reached[w] = true;
                count += 1;
                queue.push_back(w);
            }
        }
    }
    count == n as usize
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::network::gml::parse_gml;

    fn link(ms: u64) -> Link {
        Link {
            latency: SimDuration::from_millis(ms),
            jitter: SimDuration::ZERO,
            loss: Probability::ZERO,
        }
    }

    fn ids(vs: &[u32]) -> Vec<VertexId> {
        vs.iter().map(|&v| VertexId(v)).collect()
    }

    #[test]
    fn mesh_is_one_vertex_with_a_self_loop() {
        let t = Topology::mesh(link(3));
        assert_eq!((t.vertex_count(), t.link_count()), (1, 1));
        assert_eq!(t.self_loop(VertexId(0)), Some(link(3)));
        assert!(t.neighbours(VertexId(0)).is_empty());
    }

    #[test]
    fn star_links_every_leaf_to_the_hub() {
        let t = Topology::star(4, link(1));
        assert_eq!(t.vertex_count(), 5);
        assert_eq!(t.neighbours(VertexId(4)), ids(&[0, 1, 2, 3]));
        for leaf in 0..4 {
            assert_eq!(t.neighbours(VertexId(leaf)), ids(&[4]));
            assert!(t.self_loop(VertexId(leaf)).is_some());
        }
        assert!(t.self_loop(VertexId(4)).is_some());
    }

    #[test]
    fn ring_links_neighbours_both_ways() {
        let t = Topology::ring(5, link(1));
        assert_eq!(t.neighbours(VertexId(0)), ids(&[1, 4]));
        assert_eq!(t.neighbours(VertexId(2)), ids(&[1, 3]));
        assert_eq!(t.link_count(), 10);
        assert_eq!(Topology::ring(2, link(1)).link_count(), 3);
        assert_eq!(Topology::ring(1, link(1)).link_count(), 1);
        assert_eq!(Topology::ring(0, link(1)).vertex_count(), 0);
    }

    #[test]
    fn random_regular_rejects_impossible_parameters() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut build = |n, d| Topology::random_regular(n, d, link(1), &mut rng).map(|_| ());
        assert_eq!(build(0, 0), Err(TopologyError::NoVertices));
        assert!(matches!(
            build(5, 3),
            Err(TopologyError::OddDegreeSum { .. })
        ));
        assert!(matches!(
            build(4, 4),
            Err(TopologyError::DegreeTooLarge { .. })
        ));
        assert!(matches!(
            build(6, 1),
            Err(TopologyError::DegreeTooSmall { .. })
        ));
        assert!(matches!(
            build(2, 0),
            Err(TopologyError::DegreeTooSmall { .. })
        ));
        assert_eq!(build(1, 0), Ok(()));
        assert_eq!(build(2, 1), Ok(()));
        let msg = TopologyError::OddDegreeSum {
            vertices: 5,
            degree: 3,
        }
        .to_string();
        assert!(msg.contains("even"), "{msg}");
    }

    #[test]
    fn random_regular_dense_and_complete_graphs_work() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let t = Topology::random_regular(8, 7, link(1), &mut rng).expect("complete graph");
        for v in t.vertices() {
            assert_eq!(t.neighbours(v).len(), 7);
        }
        for (n, degree) in [(10, 6), (50, 47), (60, 48), (41, 20), (40, 19)] {
            let t = Topology::random_regular(n, degree, link(1), &mut rng).expect("dense graph");
            for v in t.vertices() {
                assert_eq!(t.neighbours(v).len(), degree as usize, "n={n} d={degree}");
                assert_eq!(t.links_from(v).count(), degree as usize, "n={n} d={degree}");
            }
        }
    }

    #[test]
    fn gml_round_trips_through_topology() {
        let text = "graph [ directed 1
            node [ id 10 host_bandwidth_up \"1 Mbit\" ] node [ id 3 ]
            edge [ source 10 target 10 latency \"1 ms\" ]
            edge [ source 3 target 3 latency \"1 ms\" ]
            edge [ source 10 target 3 latency \"2 ms\" packet_loss 0.5 ]
            edge [ source 3 target 10 latency \"7 ms\" ] ]";
        let gml = parse_gml(text).expect("valid");
        let t = Topology::from_gml(&gml).expect("valid");
        assert!(t.is_directed());
        assert_eq!(t.vertex_by_gml_id(3), Some(VertexId(1)));
        assert_eq!(
            t.gml_ids().collect::<Vec<_>>(),
            vec![(3, VertexId(1)), (10, VertexId(0))]
        );
        assert_eq!(
            t.vertex(VertexId(0)).and_then(|v| v.bandwidth_up),
            "1 Mbit".parse().ok()
        );
        let out: Vec<_> = t.links_from(VertexId(0)).collect();
        assert_eq!(out.len(), 1, "one-way links only leave in their direction");
        assert_eq!(out[0].0, VertexId(1));
        let mut back = t.to_gml();
        for (a, b) in back.edges.iter_mut().zip(&gml.edges) {
            a.line = b.line;
        }
        for (a, b) in back.nodes.iter_mut().zip(&gml.nodes) {
            a.line = b.line;
        }
        assert_eq!(back, gml);
    }

    #[test]
    fn from_gml_validates_graphs_built_in_code() {
        let mut gml = Topology::ring(3, link(1)).to_gml();
        assert!(Topology::from_gml(&gml).is_ok());
        gml.edges.retain(|e| e.source != e.target || e.source != 2);
        assert!(Topology::from_gml(&gml).is_err());
    }
}
