//! The network module through its public API: building a scenario's
//! network (placement, bandwidth precedence, errors) and the properties of
//! random regular topologies.

use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sim_core::network::{
    GmlErrorKind, HostAttachment, Link, NetworkError, Topology, TopologyError, VertexId,
    build_network,
};
use sim_core::scenario::{
    Bare, GraphNodeSpec, HostGroup, NetworkSpec, Role, Scenario, TopologySpec,
};
use sim_core::units::{Bandwidth, Probability, SimDuration};

const GRAPH: &str = r#"graph [
  directed 0
  node [ id 20 host_bandwidth_up "20 Mbit" host_bandwidth_down "21 Mbit" ]
  node [ id 5 host_bandwidth_up "5 Mbit" host_bandwidth_down "6 Mbit" ]
  node [ id 10 host_bandwidth_up "10 Mbit" ]
  edge [ source 20 target 20 latency "1 ms" ]
  edge [ source 5 target 5 latency "1 ms" ]
  edge [ source 10 target 10 latency "1 ms" ]
  edge [ source 5 target 10 latency "10 ms" ]
  edge [ source 10 target 20 latency "20 ms" ]
]
"#;

fn bw(text: &str) -> Bandwidth {
    text.parse().expect("test bandwidth")
}

fn group(name: &str, count: u32, graph_node: GraphNodeSpec) -> HostGroup {
    HostGroup {
        graph_node,
        ..HostGroup::new(name, count, Role::Peer)
    }
}

/// A scenario with `groups` on `topology`; everything else is a plain default.
fn scenario(topology: TopologySpec, groups: Vec<HostGroup>) -> Scenario<Bare> {
    let network = NetworkSpec {
        jitter: SimDuration::from_millis(1),
        loss: Probability::new(0.01).expect("valid"),
        ..NetworkSpec::new(topology, SimDuration::from_millis(5))
    };
    Scenario::new("test", SimDuration::from_secs(60), network, groups, ())
}

/// A temporary directory unique to this test process and `name`, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sim-net-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gml_spec(path: &Path) -> TopologySpec {
    TopologySpec::Gml {
        path: path.to_path_buf(),
    }
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

#[test]
fn round_robin_follows_ascending_gml_ids_across_groups() {
    let dir = TempDir::new("round-robin");
    let path = dir.file("g.gml", GRAPH);
    let s = scenario(
        gml_spec(&path),
        vec![
            group("a", 2, GraphNodeSpec::RoundRobin),
            group("pinned", 1, GraphNodeSpec::Node(20)),
            group("b", 3, GraphNodeSpec::RoundRobin),
        ],
    );
    let mut s = s;
    s.network.bandwidth_down = Some(bw("1 Gbit"));
    let net = build_network(&s, &mut rng()).expect("builds");
    // Vertices are in file order: id 20 -> 0, id 5 -> 1, id 10 -> 2.
    // Round-robin order by id: 5, 10, 20, 5, 10 (the pinned host does not count).
    let vertices: Vec<u32> = net.hosts.iter().map(|h| h.vertex.0).collect();
    assert_eq!(vertices, vec![1, 2, 0, 0, 1, 2]);
    assert_eq!(net.topology.vertex_count(), 3);
    // Routes work from the attached vertices: id 5 to id 20 is 10 + 20 ms.
    let mut routes = net.routes;
    let p = routes
        .path(&net.topology, net.hosts[0].vertex, net.hosts[2].vertex)
        .expect("connected");
    assert_eq!((p.latency, p.hops), (SimDuration::from_millis(30), 2));
}

#[test]
fn explicit_graph_node_places_the_whole_group() {
    let dir = TempDir::new("graph-node");
    let path = dir.file("g.gml", GRAPH);
    let s = scenario(
        gml_spec(&path),
        vec![group("g", 3, GraphNodeSpec::Node(10))],
    );
    let mut s = s;
    s.network.bandwidth_down = Some(bw("1 Gbit"));
    let net = build_network(&s, &mut rng()).expect("builds");
    assert!(net.hosts.iter().all(|h| h.vertex == VertexId(2)));

    let s = scenario(
        gml_spec(&path),
        vec![group("lost", 1, GraphNodeSpec::Node(99))],
    );
    let err = build_network(&s, &mut rng())
        .expect_err("no node 99")
        .to_string();
    assert!(err.contains("`lost`") && err.contains("99"), "{err}");
    assert!(
        err.contains("5, 10, 20"),
        "lists valid ids ascending: {err}"
    );
}

#[test]
fn bandwidth_precedence_is_group_then_network_then_node() {
    let dir = TempDir::new("bandwidth");
    let path = dir.file("g.gml", GRAPH);
    let mut overridden = group("o", 1, GraphNodeSpec::Node(5));
    overridden.bandwidth_up = Some(bw("1 Mbit"));
    overridden.bandwidth_down = Some(bw("2 Mbit"));
    let mut s = scenario(
        gml_spec(&path),
        vec![
            overridden,
            group("n", 1, GraphNodeSpec::Node(5)),
            group("plain", 1, GraphNodeSpec::Node(20)),
        ],
    );
    s.network.bandwidth_up = Some(bw("300 Mbit"));
    let net = build_network(&s, &mut rng()).expect("builds");
    let rates: Vec<(Bandwidth, Bandwidth)> = net.hosts.iter().map(|h| (h.up, h.down)).collect();
    assert_eq!(
        rates,
        vec![
            (bw("1 Mbit"), bw("2 Mbit")),    // group override wins
            (bw("300 Mbit"), bw("6 Mbit")),  // [network] up, node down
            (bw("300 Mbit"), bw("21 Mbit")), // [network] up, node down
        ]
    );
}

#[test]
fn missing_bandwidth_names_the_host_and_the_fix() {
    let dir = TempDir::new("missing-bandwidth");
    let path = dir.file("g.gml", GRAPH);
    // Node 10 has host_bandwidth_up but no host_bandwidth_down.
    let s = scenario(
        gml_spec(&path),
        vec![group("m", 2, GraphNodeSpec::Node(10))],
    );
    let err = build_network(&s, &mut rng()).expect_err("no down rate");
    assert!(
        matches!(&err, NetworkError::MissingBandwidth { host, direction: "down", node: 10, .. } if host == "m-0"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("host_bandwidth_down") && msg.contains("bandwidth_down ="),
        "{msg}"
    );
}

#[test]
fn missing_file_names_the_path() {
    let path = std::env::temp_dir().join("sim-net-test-this-file-does-not-exist.gml");
    let s = scenario(
        gml_spec(&path),
        vec![group("g", 1, GraphNodeSpec::RoundRobin)],
    );
    let err = build_network(&s, &mut rng()).expect_err("no file");
    assert!(matches!(err, NetworkError::ReadGraph { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("sim-net-test-this-file-does-not-exist.gml"),
        "{msg}"
    );
}

#[test]
fn gml_errors_carry_path_line_and_column() {
    let dir = TempDir::new("bad-gml");
    let path = dir.file("bad.gml", "graph [\n  node [ id 0 ]\n]\n");
    let s = scenario(
        gml_spec(&path),
        vec![group("g", 1, GraphNodeSpec::RoundRobin)],
    );
    let err = build_network(&s, &mut rng()).expect_err("no self-loop");
    match &err {
        NetworkError::Gml { source, .. } => {
            assert_eq!(source.kind, GmlErrorKind::MissingSelfLoop { id: 0 });
        }
        other => panic!("expected a GML error, got {other:?}"),
    }
    let msg = err.to_string();
    let expected_prefix = format!("{}:2:3: node 0 has no self-loop", path.display());
    assert!(msg.starts_with(&expected_prefix), "{msg}");
}

#[test]
fn built_in_topologies_place_hosts_and_default_bandwidth() {
    let groups = || vec![group("h", 4, GraphNodeSpec::RoundRobin)];
    let gbit = bw("1 Gbit");
    let cases = [
        (TopologySpec::Mesh, vec![0, 0, 0, 0], 1),
        (TopologySpec::Star, vec![0, 1, 2, 3], 5),
        (TopologySpec::Ring, vec![0, 1, 2, 3], 4),
        (
            TopologySpec::RandomRegular { degree: 2 },
            vec![0, 1, 2, 3],
            4,
        ),
    ];
    for (spec, vertices, count) in cases {
        let net = build_network(&scenario(spec.clone(), groups()), &mut rng()).expect("builds");
        let got: Vec<u32> = net.hosts.iter().map(|h| h.vertex.0).collect();
        assert_eq!(got, vertices, "{spec:?}");
        assert_eq!(net.topology.vertex_count(), count, "{spec:?}");
        assert!(net.hosts.iter().all(|h| h.up == gbit && h.down == gbit));
        // Every link carries the scenario's latency, jitter and loss.
        let mut routes = net.routes;
        let p = routes
            .path(&net.topology, net.hosts[0].vertex, net.hosts[1].vertex)
            .expect("connected");
        assert_eq!(
            p.latency,
            SimDuration::from_millis(5 * u64::from(p.hops)),
            "{spec:?}"
        );
        assert_eq!(
            p.jitter,
            SimDuration::from_millis(u64::from(p.hops)),
            "{spec:?}"
        );
    }

    let mut s = scenario(TopologySpec::Ring, groups());
    s.network.bandwidth_up = Some(bw("7 Mbit"));
    s.groups[0].bandwidth_down = Some(bw("8 Mbit"));
    let net = build_network(&s, &mut rng()).expect("builds");
    assert_eq!(
        net.hosts[3],
        HostAttachment {
            vertex: VertexId(3),
            up: bw("7 Mbit"),
            down: bw("8 Mbit")
        }
    );
}

#[test]
fn built_in_errors_are_reported() {
    let s = scenario(
        TopologySpec::RandomRegular { degree: 3 },
        vec![group("h", 5, GraphNodeSpec::RoundRobin)],
    );
    let err = build_network(&s, &mut rng()).expect_err("5 x 3 is odd");
    assert!(matches!(
        err,
        NetworkError::Topology(TopologyError::OddDegreeSum { .. })
    ));

    let s = scenario(
        TopologySpec::Mesh,
        vec![group("h", 2, GraphNodeSpec::Node(1))],
    );
    let err = build_network(&s, &mut rng()).expect_err("graph_node needs GML");
    assert!(
        matches!(err, NetworkError::GraphNodeWithoutGml { id: 1, .. }),
        "{err:?}"
    );
}

fn unit_link() -> Link {
    Link {
        latency: SimDuration::from_millis(1),
        jitter: SimDuration::ZERO,
        loss: Probability::ZERO,
    }
}

/// Every link of `t` as sorted vertex pairs, for comparing graphs.
fn link_set(t: &Topology) -> Vec<(u32, u32)> {
    let mut links: Vec<(u32, u32)> = t
        .vertices()
        .flat_map(|v| t.neighbours(v).into_iter().map(move |w| (v.0, w.0)))
        .filter(|(a, b)| a < b)
        .collect();
    links.sort_unstable();
    links
}

#[test]
fn random_regular_is_regular_simple_and_connected() {
    for (n, degree) in [(10, 3), (50, 4), (51, 4), (200, 3), (12, 2), (30, 7)] {
        let mut rng = ChaCha8Rng::seed_from_u64(u64::from(n * 31 + degree));
        let t = Topology::random_regular(n, degree, unit_link(), &mut rng).expect("exists");
        assert_eq!(t.vertex_count(), n as usize);
        for v in t.vertices() {
            let neighbours = t.neighbours(v);
            assert_eq!(neighbours.len(), degree as usize, "n={n} d={degree} {v}");
            assert_eq!(
                t.links_from(v).count(),
                degree as usize,
                "no repeated links"
            );
            assert!(!neighbours.contains(&v));
            assert!(t.self_loop(v).is_some());
        }
        let mut routes = sim_core::network::Routes::new(&t);
        for v in t.vertices() {
            assert!(
                routes.path(&t, VertexId(0), v).is_some(),
                "connected: n={n} d={degree}"
            );
        }
    }
}

#[test]
fn random_regular_is_a_function_of_the_seed() {
    let draw = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        link_set(&Topology::random_regular(40, 4, unit_link(), &mut rng).expect("exists"))
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    let cycle = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        link_set(&Topology::random_regular(40, 2, unit_link(), &mut rng).expect("exists"))
    };
    assert_eq!(cycle(5), cycle(5));
    assert_ne!(cycle(5), cycle(6));
}

#[test]
fn exported_topologies_are_valid_shadow_graphs() {
    use sim_core::network::{parse_gml, write_gml};
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let topologies = [
        Topology::mesh(unit_link()),
        Topology::star(6, unit_link()),
        Topology::ring(7, unit_link()),
        Topology::random_regular(16, 3, unit_link(), &mut rng).expect("exists"),
    ];
    for t in topologies {
        let text = write_gml(&t.to_gml());
        let back = parse_gml(&text).expect("exported graph is valid");
        assert_eq!(back.nodes.len(), t.vertex_count());
        assert_eq!(back.edges.len(), t.link_count());
    }
}
