//! The `regions` topology: hosts spread over named regions, the matrix's
//! latencies and losses on the paths between them, exported as Shadow GML;
//! bad matrices refused with located errors.

use sim_core::network::{Routes, Topology, build_network, parse_gml};
use sim_core::scenario::{ErrorKind, ScenarioError};
use sim_core::units::SimDuration;

const HEAD: &str = r#"duration = "1 min"

[network]
topology = "regions"
jitter = "1 ms"
"#;

const REGIONS: &str = r#"
[[network.regions]]
name = "eu"
share = 0.5
bandwidth = "20 Mbit"
latency = { eu = "2 ms", na = "40 ms", asia = "106 ms" }
loss = { asia = 0.01 }

[[network.regions]]
name = "na"
share = 0.3
latency = { na = "3 ms", asia = "73 ms", eu = "40 ms" }

[[network.regions]]
name = "asia"
share = 0.2
latency = { asia = "4 ms" }
"#;

const HOSTS: &str = r#"
[[hosts]]
name = "peer"
count = 10
role = "peer"
"#;

fn parse(text: &str) -> Result<sim::Scenario, ScenarioError> {
    sim::model::parse_str(text, None, &[])
}

#[test]
fn hosts_are_spread_and_paths_take_the_matrix_latency_and_loss() {
    let scenario = parse(&format!("{HEAD}{REGIONS}{HOSTS}")).unwrap();
    let network = build_network(
        &scenario,
        &mut sim_core::rng::RngStreams::new(1).stream("topology", 0),
    )
    .unwrap();
    let region = |h: usize| network.hosts[h].vertex.0;
    let per_region: Vec<usize> = (0..3)
        .map(|r| (0..10).filter(|&h| region(h) == r).count())
        .collect();
    assert_eq!(per_region, vec![5, 3, 2]);
    // eu hosts get the region's bandwidth (20 Mbit), the others the default.
    let eu = (0..10).find(|&h| region(h) == 0).unwrap();
    let na = (0..10).find(|&h| region(h) == 1).unwrap();
    let asia = (0..10).find(|&h| region(h) == 2).unwrap();
    assert_eq!(network.hosts[eu].up.bits_per_sec(), 20_000_000);
    assert_ne!(network.hosts[na].up.bits_per_sec(), 20_000_000);
    let mut routes = Routes::new(&network.topology);
    let path = |routes: &mut Routes, a: usize, b: usize| {
        routes
            .path(
                &network.topology,
                network.hosts[a].vertex,
                network.hosts[b].vertex,
            )
            .unwrap()
    };
    let ms = SimDuration::from_millis;
    assert_eq!(path(&mut routes, eu, na).latency, ms(40));
    assert_eq!(path(&mut routes, na, eu).latency, ms(40), "symmetric");
    assert_eq!(path(&mut routes, na, asia).latency, ms(73));
    assert_eq!(path(&mut routes, eu, asia).latency, ms(106));
    assert_eq!(path(&mut routes, eu, asia).loss.value(), 0.01);
    assert_eq!(path(&mut routes, eu, na).loss.value(), 0.0);
    assert_eq!(path(&mut routes, eu, na).jitter, ms(1));
    let eu2 = (0..10).filter(|&h| region(h) == 0).nth(1).unwrap();
    assert_eq!(path(&mut routes, eu, eu2).latency, ms(2), "inside a region");
    assert_eq!(path(&mut routes, asia, asia).latency, ms(4));
}

#[test]
fn the_export_writes_the_regions_as_gml_that_reads_back_the_same() {
    let scenario = parse(&format!("{HEAD}{REGIONS}{HOSTS}")).unwrap();
    let network = build_network(
        &scenario,
        &mut sim_core::rng::RngStreams::new(1).stream("topology", 0),
    )
    .unwrap();
    let text = sim_core::network::write_gml(&network.topology.to_gml());
    let again = Topology::from_gml(&parse_gml(&text).unwrap()).unwrap();
    assert_eq!(again.vertex_count(), 3);
    assert_eq!(again.link_count(), 6);
    let mut routes = Routes::new(&again);
    let v = |i| sim_core::network::VertexId(i);
    let latency = |routes: &mut Routes, a, b| routes.path(&again, v(a), v(b)).unwrap().latency;
    assert_eq!(latency(&mut routes, 0, 2), SimDuration::from_millis(106));
    assert_eq!(latency(&mut routes, 1, 1), SimDuration::from_millis(3));
    assert!(text.contains("packet_loss 0.01"), "{text}");
}

/// The error of a scenario with `regions` for [[network.regions]].
fn error_with(regions: &str) -> ScenarioError {
    match parse(&format!("{HEAD}{regions}{HOSTS}")) {
        Ok(_) => panic!("should not parse:\n{regions}"),
        Err(e) => e,
    }
}

#[test]
fn bad_matrices_are_refused_where_they_are() {
    // Line numbers count from the top: HEAD is 5 lines, the regions start
    // at line 6 (`[[network.regions]]`), so a first region's latency is on 9.
    let cases: &[(&str, &str, ErrorKind, u32, &str)] = &[
        (
            "missing pair",
            "[[network.regions]]\nname = \"a\"\nshare = 0.5\nlatency = { a = \"1 ms\" }\n[[network.regions]]\nname = \"b\"\nshare = 0.5\nlatency = { b = \"1 ms\" }\n",
            ErrorKind::InvalidValue,
            9,
            "no latency is given between regions `a` and `b`",
        ),
        (
            "asymmetric",
            "[[network.regions]]\nname = \"a\"\nshare = 0.5\nlatency = { a = \"1 ms\", b = \"5 ms\" }\n[[network.regions]]\nname = \"b\"\nshare = 0.5\nlatency = { b = \"1 ms\", a = \"6 ms\" }\n",
            ErrorKind::InvalidValue,
            9,
            "given twice, differently",
        ),
        (
            "unknown region",
            "[[network.regions]]\nname = \"a\"\nshare = 1.0\nlatency = { a = \"1 ms\", c = \"5 ms\" }\n",
            ErrorKind::UnknownKey,
            9,
            "no region is named `c`",
        ),
        (
            "no diagonal",
            "[[network.regions]]\nname = \"a\"\nshare = 1.0\nlatency = { }\n",
            ErrorKind::InvalidValue,
            9,
            "no latency between two of its own hosts",
        ),
        (
            "shares",
            "[[network.regions]]\nname = \"a\"\nshare = 0.5\nlatency = { a = \"1 ms\", b = \"5 ms\" }\n[[network.regions]]\nname = \"b\"\nshare = 0.4\nlatency = { b = \"1 ms\" }\n",
            ErrorKind::InvalidValue,
            12,
            "add up to 0.9",
        ),
        (
            "counts",
            "[[network.regions]]\nname = \"a\"\ncount = 4\nlatency = { a = \"1 ms\", b = \"5 ms\" }\n[[network.regions]]\nname = \"b\"\ncount = 4\nlatency = { b = \"1 ms\" }\n",
            ErrorKind::InvalidValue,
            6,
            "add up to 8, but the scenario has 10 hosts",
        ),
        (
            "mixed sizes",
            "[[network.regions]]\nname = \"a\"\nshare = 0.5\nlatency = { a = \"1 ms\", b = \"5 ms\" }\n[[network.regions]]\nname = \"b\"\ncount = 5\nlatency = { b = \"1 ms\" }\n",
            ErrorKind::Conflict,
            12,
            "all by `share` or all by `count`",
        ),
        (
            "duplicate name",
            "[[network.regions]]\nname = \"a\"\nshare = 0.5\nlatency = { a = \"1 ms\" }\n[[network.regions]]\nname = \"a\"\nshare = 0.5\nlatency = { a = \"1 ms\" }\n",
            ErrorKind::InvalidValue,
            11,
            "named twice",
        ),
        (
            "bad latency",
            "[[network.regions]]\nname = \"a\"\nshare = 1.0\nlatency = { a = \"fast\" }\n",
            ErrorKind::InvalidValue,
            9,
            "",
        ),
    ];
    for (what, regions, kind, line, message) in cases {
        let err = error_with(regions);
        assert_eq!(err.kind(), *kind, "{what}: {err}");
        assert_eq!(err.line(), Some(*line), "{what}: {err}");
        assert!(
            err.help().is_some() || *what == "bad latency",
            "{what}: {err}"
        );
        assert!(err.message().contains(message), "{what}: {err}");
    }
}

#[test]
fn regions_and_built_in_link_settings_do_not_mix() {
    let with_latency = HEAD.replace("jitter = \"1 ms\"", "latency = \"10 ms\"");
    let err = parse(&format!("{with_latency}{REGIONS}{HOSTS}")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(err.key_path(), Some("network.latency"), "{err}");
    let mesh = HEAD.replace("topology = \"regions\"", "topology = \"mesh\"");
    let err = parse(&format!("{mesh}{REGIONS}{HOSTS}")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(err.key_path(), Some("network.regions"), "{err}");
}
