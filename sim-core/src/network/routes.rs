//! Shortest-latency routes between vertices, computed one source at a time
//! on first use and cached.
//!
//! **Tie-breaking** (deterministic, no hash maps involved): among paths of
//! equal latency the one with lower loss wins (as in Shadow), then the one
//! with fewer hops, then lower jitter; a tie on all four goes to the path
//! found first, which Dijkstra's settle order (by cost, then lowest vertex
//! index) fixes.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::topology::{Link, Topology, VertexId};
use crate::units::{Probability, SimDuration};

/// What a message meets on the way from one vertex to another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathProps {
    /// Sum of the links' latencies.
    pub latency: SimDuration,
    /// Sum of the links' jitters: the most extra delay on the whole path.
    pub jitter: SimDuration,
    /// The links' losses compounded: the chance the message is lost somewhere.
    pub loss: Probability,
    /// How many links the path crosses (1 for a self-loop).
    pub hops: u32,
}

impl PathProps {
    /// The path of no links, where every route starts.
    const EMPTY: PathProps = PathProps {
        latency: SimDuration::ZERO,
        jitter: SimDuration::ZERO,
        loss: Probability::ZERO,
        hops: 0,
    };

    /// This path followed by `link`.
    fn then(self, link: Link) -> PathProps {
        PathProps {
            latency: self.latency.saturating_add(link.latency),
            jitter: self.jitter.saturating_add(link.jitter),
            // Compounding with zero would round (1 - (1 - p) != p), so a
            // one-link path takes the link's loss as is.
            loss: if self.hops == 0 {
                link.loss
            } else {
                self.loss.compound(link.loss)
            },
            hops: self.hops.saturating_add(1),
        }
    }

    /// The order routes are chosen in: latency, then loss, hops, jitter.
    fn cost_cmp(&self, other: &PathProps) -> Ordering {
        self.latency
            .cmp(&other.latency)
            .then_with(|| self.loss.value().total_cmp(&other.loss.value()))
            .then_with(|| self.hops.cmp(&other.hops))
            .then_with(|| self.jitter.cmp(&other.jitter))
    }
}

/// Route lookups for one [`Topology`], cached per source vertex.
///
/// The first lookup from a vertex runs Dijkstra from it and keeps the whole
/// row (one entry per vertex); later lookups from it are a table read. So
/// memory is `O(sources used x vertices)`, never `vertices²` up front.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    rows: Vec<Option<Box<[Option<PathProps>]>>>,
}

impl Routes {
    /// No routes computed yet, for `topology`.
    pub fn new(topology: &Topology) -> Self {
        Routes {
            rows: vec![None; topology.vertex_count()],
        }
    }

    /// The shortest-latency path from `from` to `to` in `topology` (the one
    /// these routes were made for), following link direction when it is
    /// directed; `from == to` is that vertex's self-loop. `None` when `to`
    /// cannot be reached (or, for `from == to`, there is no self-loop) or a
    /// vertex does not exist.
    pub fn path(&mut self, topology: &Topology, from: VertexId, to: VertexId) -> Option<PathProps> {
        let n = topology.vertex_count();
        if from.index() >= n || to.index() >= n {
            return None;
        }
        if self.rows.len() < n {
            self.rows.resize(n, None);
        }
        let row = self.rows[from.index()].get_or_insert_with(|| shortest_paths(topology, from));
        row.get(to.index()).copied().flatten()
    }

    /// How many source vertices have their row computed.
    pub fn cached_sources(&self) -> usize {
        self.rows.iter().filter(|row| row.is_some()).count()
    }
}

/// A vertex waiting in Dijkstra's queue with the path that reached it.
struct Queued {
    path: PathProps,
    vertex: VertexId,
}

impl Ord for Queued {
    /// Reversed, so the max-heap pops the cheapest path (lowest vertex on ties).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .path
            .cost_cmp(&self.path)
            .then_with(|| other.vertex.cmp(&self.vertex))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Queued {}

/// Dijkstra from `source`: the best path to every vertex (its self-loop for
/// `source` itself), `None` for vertices it cannot reach.
fn shortest_paths(topology: &Topology, source: VertexId) -> Box<[Option<PathProps>]> {
    let n = topology.vertex_count();
    let mut best: Vec<Option<PathProps>> = vec![None; n];
    let mut settled = vec![false; n];
    let mut queue = BinaryHeap::new();
    best[source.index()] = Some(PathProps::EMPTY);
    queue.push(Queued {
        path: PathProps::EMPTY,
        vertex: source,
    });
    while let Some(Queued { path, vertex }) = queue.pop() {
        if std::mem::replace(&mut settled[vertex.index()], true) {
            continue; // a stale entry; the vertex was settled with a better path
        }
        for (next, link) in topology.links_from(vertex) {
            if settled[next.index()] {
                continue;
            }
            let candidate = path.then(link);
            let slot = &mut best[next.index()];
            if slot.is_none_or(|known| candidate.cost_cmp(&known) == Ordering::Less) {
                *slot = Some(candidate);
                queue.push(Queued {
                    path: candidate,
                    vertex: next,
                });
            }
        }
    }
    best[source.index()] = topology
        .self_loop(source)
        .map(|link| PathProps::EMPTY.then(link));
    best.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::network::gml::parse_gml;

    fn ms(n: u64) -> SimDuration {
        SimDuration::from_millis(n)
    }

    fn link(latency_ms: u64) -> Link {
        Link {
            latency: ms(latency_ms),
            jitter: SimDuration::ZERO,
            loss: Probability::ZERO,
        }
    }

    fn gml(text: &str) -> Topology {
        Topology::from_gml(&parse_gml(text).expect("valid GML")).expect("valid topology")
    }

    /// Nodes 0..=3 with self-loops, plus `edges`.
    fn four_nodes(directed: bool, edges: &str) -> Topology {
        let mut text = format!("graph [ directed {}\n", u8::from(directed));
        for id in 0..4 {
            text +=
                &format!(" node [ id {id} ] edge [ source {id} target {id} latency \"1 us\" ]\n");
        }
        gml(&(text + edges + "]"))
    }

    fn path(topology: &Topology, from: u32, to: u32) -> Option<PathProps> {
        Routes::new(topology).path(topology, VertexId(from), VertexId(to))
    }

    #[test]
    fn picks_lowest_latency_not_fewest_hops() {
        // 0-3 directly: 100 ms. 0-1-2-3: 10 + 20 + 30 = 60 ms.
        let t = four_nodes(
            false,
            r#"edge [ source 0 target 3 latency "100 ms" ]
               edge [ source 0 target 1 latency "10 ms" ]
               edge [ source 1 target 2 latency "20 ms" ]
               edge [ source 2 target 3 latency "30 ms" ]"#,
        );
        let p = path(&t, 0, 3).expect("reachable");
        assert_eq!((p.latency, p.hops), (ms(60), 3));
        let back = path(&t, 3, 0).expect("undirected");
        assert_eq!((back.latency, back.hops), (ms(60), 3));
    }

    #[test]
    fn loss_compounds_and_jitter_sums() {
        let t = four_nodes(
            false,
            r#"edge [ source 0 target 1 latency "1 ms" jitter "2 ms" packet_loss 0.1 ]
               edge [ source 1 target 2 latency "1 ms" jitter "3 ms" packet_loss 0.2 ]
               edge [ source 2 target 3 latency "1 ms" ]"#,
        );
        let p = path(&t, 0, 2).expect("reachable");
        assert!((p.loss.value() - 0.28).abs() < 1e-12, "{p:?}");
        assert_eq!((p.latency, p.jitter, p.hops), (ms(2), ms(5), 2));
        let one = path(&t, 0, 1).expect("reachable");
        assert_eq!(one.loss.value(), 0.1, "a single link's loss is exact");
    }

    #[test]
    fn equal_latency_prefers_lower_loss_then_fewer_hops() {
        // 0-3 at 30 ms three ways: direct with loss, 0-1-3 clean, 0-2-... clean but longer.
        let t = four_nodes(
            false,
            r#"edge [ source 0 target 3 latency "30 ms" packet_loss 0.5 ]
               edge [ source 0 target 1 latency "10 ms" ]
               edge [ source 1 target 3 latency "20 ms" ]
               edge [ source 0 target 2 latency "5 ms" ]
               edge [ source 2 target 1 latency "5 ms" ]"#,
        );
        let p = path(&t, 0, 3).expect("reachable");
        assert_eq!((p.latency, p.loss, p.hops), (ms(30), Probability::ZERO, 2));
    }

    #[test]
    fn directed_links_are_one_way() {
        let t = four_nodes(
            true,
            r#"edge [ source 0 target 1 latency "1 ms" ]
               edge [ source 1 target 2 latency "1 ms" ]
               edge [ source 2 target 3 latency "1 ms" ]
               edge [ source 3 target 0 latency "50 ms" ]"#,
        );
        assert_eq!(path(&t, 0, 1).map(|p| p.latency), Some(ms(1)));
        // Back from 1 to 0 goes all the way round: 1 + 1 + 50.
        let p = path(&t, 1, 0).expect("strongly connected");
        assert_eq!((p.latency, p.hops), (ms(52), 3));
    }

    #[test]
    fn same_vertex_uses_its_self_loop() {
        let t = gml(
            r#"graph [ node [ id 0 ] edge [ source 0 target 0 latency "7 ms" jitter "1 ms" packet_loss 0.25 ] ]"#,
        );
        let p = path(&t, 0, 0).expect("self-loop");
        assert_eq!(p.latency, ms(7));
        assert_eq!(p.jitter, ms(1));
        assert_eq!(p.loss.value(), 0.25);
        assert_eq!(p.hops, 1);
    }

    #[test]
    fn mesh_is_one_hop_and_star_two() {
        let mesh = Topology::mesh(link(4));
        assert_eq!(
            path(&mesh, 0, 0).map(|p| (p.latency, p.hops)),
            Some((ms(4), 1))
        );
        let star = Topology::star(5, link(4));
        let mut routes = Routes::new(&star);
        for a in 0..5 {
            for b in 0..5 {
                let p = routes
                    .path(&star, VertexId(a), VertexId(b))
                    .expect("connected");
                let hops = if a == b { 1 } else { 2 };
                assert_eq!((p.hops, p.latency), (hops, ms(4 * u64::from(hops))));
            }
        }
    }

    #[test]
    fn ring_takes_the_shorter_way() {
        let ring = Topology::ring(10, link(1));
        let mut routes = Routes::new(&ring);
        let hops = |routes: &mut Routes, a, b| {
            routes.path(&ring, VertexId(a), VertexId(b)).map(|p| p.hops)
        };
        assert_eq!(hops(&mut routes, 0, 3), Some(3));
        assert_eq!(hops(&mut routes, 0, 7), Some(3));
        assert_eq!(hops(&mut routes, 2, 9), Some(3));
        assert_eq!(hops(&mut routes, 0, 5), Some(5));
    }

    #[test]
    fn rows_are_computed_lazily_and_cached() {
        let ring = Topology::ring(6, link(1));
        let mut routes = Routes::new(&ring);
        assert_eq!(routes.cached_sources(), 0);
        routes.path(&ring, VertexId(2), VertexId(4));
        routes.path(&ring, VertexId(2), VertexId(5));
        assert_eq!(routes.cached_sources(), 1);
        routes.path(&ring, VertexId(3), VertexId(4));
        assert_eq!(routes.cached_sources(), 2);
        assert_eq!(
            routes.path(&ring, VertexId(3), VertexId(6)),
            None,
            "no such vertex"
        );
        assert_eq!(
            routes.path(&ring, VertexId(60), VertexId(0)),
            None,
            "no such vertex"
        );
    }

    #[test]
    fn random_regular_routes_reach_everything() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let t = Topology::random_regular(30, 3, link(2), &mut rng).expect("exists");
        let mut routes = Routes::new(&t);
        for a in t.vertices() {
            for b in t.vertices() {
                let p = routes.path(&t, a, b).expect("connected");
                assert_eq!(p.latency, ms(2 * u64::from(p.hops)));
            }
        }
    }
}
